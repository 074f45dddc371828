/* SPDX-License-Identifier: MIT */
/* resec-status: the cluster as Consul and the Redis servers see it, as a table, JSON or Prometheus text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "consul.h"
#include "log.h"
#include "proc.h"
#include "status.h"

enum { OPT_JSON = 1, OPT_PROM, OPT_STATE };

static const struct cli_option options[] = {
	{ "json", 0, 0, OPT_JSON }, { "prom", 0, 0, OPT_PROM }, { "state", 0, 1, OPT_STATE }, { NULL, 0, 0, 0 },
};

static const char usage[] =
	"usage: resec-status [options] [--json | --prom] [--state FILE]\n"
	"  (no flag)         print the cluster as a table: node, address, role in Consul and in Redis,\n"
	"                    lock holder, check status, offset, lag, link, fenced; then the problems\n"
	"  --json            print one JSON object instead (status, problems, lock, instances)\n"
	"  --prom            print Prometheus text format instead (for a node_exporter textfile)\n"
	"  --redis-max-lag BYTES  (REDIS_MAX_LAG, 10MiB) a passing replica further behind its master\n"
	"                    is a problem (suffixes K, M, G, optionally followed by iB or B, are 1024-based)\n"
	"  --state FILE      remember the lock's LockIndex in FILE to date failovers across runs, and\n"
	"                    when Consul was first seen unreachable\n"
	"exit: 0 healthy, 1 unhealthy, 64 bad usage, 69 Consul unreachable\n";

/* The state file is read, then replaced by rename: absent is fine, anything but a regular
 * file is not (a FIFO would block the read, a symlink would be replaced, not followed). */
static int state_file_ok(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "bad value for --state: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "bad value for --state: not a regular file (FIFO, device, directory or symlink)");
		return -1;
	}
	return 0;
}

static int on_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct status *st = ctx;
	switch (id) {
	case OPT_JSON:
	case OPT_PROM: {
		int m = id == OPT_JSON ? OUT_JSON : OUT_PROM;
		if (st->mode != OUT_TABLE && st->mode != m) {
			snprintf(err, errlen, "--json and --prom cannot be used together");
			return -1;
		}
		st->mode = m;
		return 0;
	}
	default:
		if (value[0] == '\0' || snprintf(st->state_file, sizeof(st->state_file), "%s", value) >=
		    (int)sizeof(st->state_file)) {
			snprintf(err, errlen, "bad value for --state: empty or too long");
			return -1;
		}
		return state_file_ok(value, err, errlen);
	}
}

void status_note(struct status *st, int problem, const char *fmt, ...)
{
	char (*list)[400] = problem ? st->problems : st->warnings;
	size_t *n = problem ? &st->nproblems : &st->nwarnings;
	if (*n >= MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(list[(*n)++], sizeof(list[0]), fmt, ap);
	va_end(ap);
}

static int output(const struct status *st)
{
	if (st->mode == OUT_JSON)
		print_json(st);
	else if (st->mode == OUT_PROM)
		print_prom(st);
	else if (st->consul_err[0] == '\0')
		print_table(st);
	else {
		print_modes(st, 1);
		printf("status: unavailable\n");
	}
	if (fflush(stdout) != 0) {
		log_die_line("cannot write the output: %s", strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	if (st->consul_err[0] != '\0') {
		log_die_line("%s", st->consul_err);
		return EXIT_UNAVAILABLE;
	}
	return st->nproblems == 0 ? 0 : EXIT_NO;
}

int main(int argc, char **argv)
{
	static struct status st = { .master_offset = -1 };
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&st.cfg, "resec-status", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &st);
	if (first < argc) {
		log_die_line("unexpected argument: \"%s\"", argv[first]);
		return EXIT_USAGE;
	}
	int rc = read_consul(&st);
	if (rc == EXIT_USAGE)
		return rc;
	if (rc == 0) {
		survey(&st);
		failovers(&st);
		modes_from_consul(&st);
	} else {
		modes_without_consul(&st);
	}
	consul_since(&st, rc != 0 || st.modes.no_leader);
	rc = output(&st);
	consul_free(st.consul);
	free(st.inst);
	return rc;
}
