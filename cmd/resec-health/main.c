/* SPDX-License-Identifier: MIT */
/* resec-health: check Redis, wait until it is healthy, or register it in Consul and keep its TTL check passing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "consul.h"
#include "elect.h"
#include "health.h"
#include "log.h"
#include "peer.h"
#include "proc.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-health [options] check [--role R] | wait [--timeout D] [--role R] [--fence-master]\n"
	"                    | run --role R | eligible | empty | deregister\n"
	"  check             print \"healthy role=R offset=N\" (exit 0) or \"unhealthy: reason\" (exit 1)\n"
	"  wait              block until healthy; --timeout D gives up with exit 1\n"
	"  run               register ${PREFIX}-${ROLE} in Consul and pass its TTL check while healthy;\n"
	"                    exit 1 as soon as Redis is unhealthy, deregister and exit 0 on TERM/INT/QUIT;\n"
	"                    on USR1 set the check to warning and exit 0, the registration kept (a hand-off);\n"
	"                    exit 75 when Consul did not take that warning or the failed check\n"
	"  eligible          may this node contend for the lock now? exit 0 yes, 1 wait (the reason on\n"
	"                    stdout), 69 Consul unreachable; see docs/election.md\n"
	"  empty             did Redis restart empty (a master at replication offset 0)? exit 0 yes,\n"
	"                    1 no, 64 or 69 when it cannot be told; see docs/election.md\n"
	"  deregister        remove this node's registration (exit 0, also when there is none)\n"
	"  --role R          master or replica (slave is accepted): the role Redis must be in\n"
	"  --timeout D       wait: give up after this Go duration\n"
	"  --fence-master    wait: fence a Redis found as a master (resec-role fence) before exiting 0,\n"
	"                    when Consul answers\n";

enum { OPT_ROLE = 1, OPT_TIMEOUT, OPT_FENCE_MASTER };

static const struct cli_option options[] = {
	{ "role", 0, 1, OPT_ROLE },
	{ "timeout", 0, 1, OPT_TIMEOUT },
	{ "fence-master", 0, 0, OPT_FENCE_MASTER },
	{ NULL, 0, 0, 0 },
};

static int on_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct health *h = ctx;
	if (id == OPT_ROLE) {
		if (strcmp(value, "master") == 0)
			h->want_role = RDB_ROLE_MASTER;
		else if (strcmp(value, "replica") == 0 || strcmp(value, "slave") == 0)
			h->want_role = RDB_ROLE_REPLICA;
		else {
			snprintf(err, errlen, "bad value for --role: \"%s\" (want master or replica)", value);
			return -1;
		}
		return 0;
	}
	if (id == OPT_FENCE_MASTER) {
		h->fence_master = 1;
		return 0;
	}
	if (config_parse_duration(value, &h->timeout_ms) < 0) {
		snprintf(err, errlen, "bad value for --timeout: \"%s\" (want a duration like 30s)", value);
		return -1;
	}
	return 0;
}

static int cmd_check(struct health *h)
{
	int v = health_evaluate(h);
	rdb_close(&h->conn);
	/* One-shot: a replica's link state is reported by resec-role show, not judged here. */
	if (v == V_HEALTHY || v == V_DEGRADED) {
		health_print_healthy(h);
		return 0;
	}
	printf("unhealthy: %s\n", h->reason);
	health_flush();
	return v == V_UNHEALTHY ? health_unhealthy_code(h) : EXIT_NO;
}

/* 1 when Consul answers a read of the master service now (as resec-watch --once asks). */
static int consul_answers(const struct health *h)
{
	char err[256] = "", name[300];
	struct consul *c = health_short_client(h, err, sizeof(err));
	if (c == NULL)
		return 0;
	peer_service_name(&h->cfg, 1, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	int ok = consul_health_service(c, name, NULL, 1, NULL, &e, &n) == CONSUL_OK;
	if (ok)
		json_health_free(e, n);
	else
		log_info("consul does not answer; not fencing the master found (resec decides once it does)",
		         "error", c->err);
	consul_free(c);
	return ok;
}

/*
 * wait --fence-master: a Redis that came back as a master (a returning old
 * master, S4) is writable from its first connection; fence it over the
 * connection that found it, before any other program starts. Only while
 * Consul answers: with Consul away, nothing in Redis is changed (docs/resec.md).
 * A failure is only logged: the orchestrator fences an unowned master next anyway.
 */
static void fence_found_master(struct health *h)
{
	if (!h->fence_master || h->info.role != RDB_ROLE_MASTER || !consul_answers(h))
		return;
	rdb_set_deadline(&h->conn, clock_now_ms() + h->cfg.healthcheck_timeout_ms);
	int was = rdb_fenced(&h->conn);
	int rc = was == 0 ? rdb_fence(&h->conn) : was;
	if (was == 0 && rc == 0)
		log_info("redis is master without the lock; fenced it until the election decides");
	else if (rc < 0)
		log_warn("cannot fence the master found", "error", h->conn.err);
	rdb_set_deadline(&h->conn, 0);
}

/* How long wait sleeps before its next look: a refused connection (nothing
 * listens yet) is looked at again after WAIT_REFUSED_MS, as it costs nothing
 * and a returning master takes writes until it is fenced; a Redis that
 * answers but is not healthy yet backs off from 50 ms to min(interval, 100 ms). */
#define WAIT_REFUSED_MS 5

#define WAIT_BACKOFF_MIN_MS 50
#define WAIT_BACKOFF_MAX_MS 100

/* The back-off's ceiling: the interval, within [WAIT_BACKOFF_MIN_MS, WAIT_BACKOFF_MAX_MS]
 * (a look faster than the interval asks for is not needed; one under 50 ms is not the
 * first look's pace either). */
static int64_t wait_ceiling(int64_t interval_ms)
{
	if (interval_ms > WAIT_BACKOFF_MAX_MS)
		return WAIT_BACKOFF_MAX_MS;
	if (interval_ms < WAIT_BACKOFF_MIN_MS)
		return WAIT_BACKOFF_MIN_MS;
	return interval_ms;
}

static int64_t wait_next(const struct health *h, int64_t *backoff)
{
	if (h->conn.conn_refused)
		return WAIT_REFUSED_MS;
	int64_t d = *backoff, ceiling = wait_ceiling(h->cfg.healthcheck_interval_ms);
	*backoff = d * 2 < ceiling ? d * 2 : ceiling;
	return d;
}

static int cmd_wait(struct health *h)
{
	/* A waiter started by resec must not outlive it. */
	proc_die_with_parent(SIGTERM);
	int64_t start = clock_now_ms();
	int64_t deadline = h->timeout_ms > 0 ? start + h->timeout_ms : 0;
	int64_t backoff = WAIT_BACKOFF_MIN_MS;
	char last[sizeof(h->reason)] = "";
	for (;;) {
		int v = health_evaluate(h);
		if (v == V_HEALTHY || v == V_DEGRADED) {
			fence_found_master(h);
			rdb_close(&h->conn);
			health_print_healthy(h);
			return 0;
		}
		if (v == V_UNHEALTHY && health_unhealthy_code(h) == EXIT_USAGE) {
			rdb_close(&h->conn);
			log_die_line("cannot wait for redis: %s", h->reason);
			return EXIT_USAGE;
		}
		if (strcmp(last, h->reason) != 0)
			log_info("waiting for redis", "reason", h->reason);
		snprintf(last, sizeof(last), "%s", h->reason);
		int64_t now = clock_now_ms();
		if (deadline != 0 && now >= deadline) {
			rdb_close(&h->conn);
			printf("unhealthy: %s\n", h->reason);
			health_flush();
			return EXIT_NO;
		}
		/* A closed connection is reopened at the next look. */
		if (v == V_UNHEALTHY)
			rdb_close(&h->conn);
		int64_t d = wait_next(h, &backoff);
		if (deadline != 0 && now + d > deadline)
			d = deadline - now;
		clock_sleep_ms(d);
	}
}

/*
 * empty: the question of scripts/resec's hold-back (S4), answered by the exit
 * status: 0 when Redis restarted empty (common/elect.c, elect_restarted_empty),
 * 1 when not (also when it is not in --role), 64 or 69 when it cannot be told.
 */
static int cmd_empty(struct health *h)
{
	int v = health_evaluate(h);
	rdb_close(&h->conn);
	if (v == V_UNHEALTHY) {
		log_die_line("cannot tell whether redis is empty: %s", h->reason);
		return health_unhealthy_code(h) == EXIT_USAGE ? EXIT_USAGE : EXIT_UNAVAILABLE;
	}
	struct elect_node n;
	memset(&n, 0, sizeof(n));
	elect_node_from_info(&n, &h->info);
	return v != V_WRONG_ROLE && elect_restarted_empty(&n) ? 0 : EXIT_NO;
}

static const struct {
	const char *name;
	int (*run)(struct health *h);
} commands[] = {
	{ "check", cmd_check },       { "wait", cmd_wait },   { "run", health_run },
	{ "eligible", health_eligible }, { "empty", cmd_empty }, { "deregister", health_deregister },
};

int main(int argc, char **argv)
{
	static struct health h;
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&h.cfg, "resec-health", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &h);
	const char *cmd = first < argc ? argv[first] : "";
	if (argc - first > 1) {
		log_die_line("too many arguments: \"%s\"", argv[first + 1]);
		return EXIT_USAGE;
	}
	struct rdb_opts o;
	rdb_opts_from_config(&o, &h.cfg);
	rdb_init(&h.conn, &o);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(&h);
	log_die_line(cmd[0] == '\0' ? "missing command: check, wait, run, eligible, empty or deregister"
	                            : "unknown command \"%s\"", cmd);
	return EXIT_USAGE;
}
