/* SPDX-License-Identifier: MIT */
/* state: the --state file: failovers dated across runs (LockIndex), and when Consul was first seen in trouble. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "status.h"

/* ---- failovers: LockIndex counts acquisitions; the state file dates the changes ---- */

/* One "name number" line of the state file into *v; 0, or -1 when the line is another one or bad. */
static int state_field(const char *line, const char *name, long long *v)
{
	size_t n = strlen(name);
	if (strncmp(line, name, n) != 0 || line[n] != ' ')
		return -1;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(line + n + 1, &end, 10);
	if (errno != 0 || end == line + n + 1 || (*end != '\n' && *end != '\0') || x < 0)
		return -1;
	*v = x;
	return 0;
}

static void read_state(const char *path, unsigned long long *idx, long long *at, int *have)
{
	*have = 0;
	/* Checked at start, but it may have been swapped since: never block, never follow. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return;
	FILE *f = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? fdopen(fd, "r") : NULL;
	if (f == NULL) {
		close(fd);
		return;
	}
	char line[128];
	long long v = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (state_field(line, "lock_index", &v) == 0) {
			*idx = (unsigned long long)v;
			*have = 1;
		} else if (state_field(line, "last_failover", &v) == 0) {
			*at = v;
		}
	}
	if (fclose(f) != 0)
		*have = 0;
}

static int write_state(const char *path, uint64_t idx, long long at)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	/* A new file of our own: never through a link planted at the predictable name. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		int saved = errno;
		if (fd >= 0) {
			close(fd);
			(void)unlink(tmp);
		}
		errno = saved;
		return -1;
	}
	fprintf(f, "lock_index %llu\nlast_failover %lld\n", (unsigned long long)idx, at);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

void failovers(struct status *st)
{
	st->failovers = -1;
	if (!st->lock.present)
		return;
	/* The first acquisition makes the first master; every later one is a failover. */
	st->failovers = st->lock.lock_index > 0 ? (long long)st->lock.lock_index - 1 : 0;
	if (st->state_file[0] == '\0')
		return;
	unsigned long long idx = 0;
	long long at = 0;
	int have = 0;
	read_state(st->state_file, &idx, &at, &have);
	if (have && idx == st->lock.lock_index) {
		st->last_failover = at;
		return;
	}
	/* A change seen now is dated now: the run's period bounds the error. */
	if (have)
		at = (long long)time(NULL);
	st->last_failover = at;
	if (write_state(st->state_file, st->lock.lock_index, at) < 0)
		log_warn("cannot write the state file", "file", st->state_file, "reason", strerror(errno));
}

/*
 * When Consul was first seen in trouble, kept in the --state file beside the failover
 * count: one more line, consul_down_since UNIXTIME (0 when Consul is fine).
 */
void consul_since(struct status *st, int trouble)
{
	if (st->state_file[0] == '\0')
		return;
	FILE *f = fopen(st->state_file, "r");
	char lines[8][128];
	int n = 0;
	long long since = 0;
	char line[128];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (state_field(line, "consul_down_since", &since) == 0)
			continue;
		if (n < 8)
			snprintf(lines[n++], sizeof(lines[0]), "%s", line);
	}
	if (f != NULL)
		(void)fclose(f);
	long long now = (long long)time(NULL);
	long long want = trouble ? (since > 0 ? since : now) : 0;
	st->modes.down_since = want;
	if (want == since)
		return;
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", st->state_file, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	for (int i = 0; i < n; i++)
		fputs(lines[i], f);
	fprintf(f, "consul_down_since %lld\n", want);
	if (fclose(f) != 0 || rename(tmp, st->state_file) != 0) {
		log_warn("cannot write the state file", "file", st->state_file, "reason", strerror(errno));
		(void)unlink(tmp);
	}
}
