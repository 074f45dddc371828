/* SPDX-License-Identifier: MIT */
/* resec-health: check Redis, wait until it is healthy, or register it in Consul and keep its TTL check passing. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-health [options] check [--role R] | wait [--timeout D] [--role R] | run --role R\n"
	"  check             print \"healthy role=R offset=N\" (exit 0) or \"unhealthy: reason\" (exit 1)\n"
	"  wait              block until healthy; --timeout D gives up with exit 1\n"
	"  run               register ${PREFIX}-${ROLE} in Consul and pass its TTL check while healthy;\n"
	"                    exit 1 as soon as Redis is unhealthy, deregister and exit 0 on TERM/INT/QUIT\n"
	"  --role R          master or replica (slave is accepted): the role Redis must be in\n"
	"  --timeout D       wait: give up after this Go duration\n";

enum { OPT_ROLE = 1, OPT_TIMEOUT };

static const struct cli_option options[] = {
	{ "role", 0, 1, OPT_ROLE },
	{ "timeout", 0, 1, OPT_TIMEOUT },
	{ NULL, 0, 0, 0 },
};

/* What one look at Redis found, from best to worst. */
enum verdict {
	V_HEALTHY = 0,
	V_DEGRADED,    /* replica syncing or with its link down too long: registered, not passing */
	V_WRONG_ROLE,  /* healthy, but not in the expected role */
	V_UNHEALTHY    /* cannot connect, AUTH, PING, or LOADING */
};

struct health {
	struct resec_config cfg;
	int want_role;              /* enum rdb_role, RDB_ROLE_UNKNOWN for any */
	int64_t timeout_ms;         /* wait --timeout, 0 for none */
	struct rdb_conn conn;
	struct rdb_info info;
	int64_t link_down_at_ms;    /* when the replica link was first seen down, 0 when up */
	char reason[300];
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
	if (config_parse_duration(value, &h->timeout_ms) < 0) {
		snprintf(err, errlen, "bad value for --timeout: \"%s\" (want a duration like 30s)", value);
		return -1;
	}
	return 0;
}

/* A replica's link may be down this long (2 × HEALTHCHECK_INTERVAL) before its check stops passing. */
static int64_t link_grace_ms(const struct health *h)
{
	return 2 * h->cfg.healthcheck_interval_ms;
}

/* Look at Redis once: connect when needed, PING, INFO, compare the role. */
static int evaluate(struct health *h)
{
	h->reason[0] = '\0';
	if ((!rdb_connected(&h->conn) && rdb_connect(&h->conn) < 0) || rdb_ping(&h->conn) < 0 ||
	    rdb_info(&h->conn, &h->info) < 0) {
		if (h->conn.err_kind == RDB_E_LOADING)
			snprintf(h->reason, sizeof(h->reason), "redis is loading its dataset");
		else
			snprintf(h->reason, sizeof(h->reason), "%s", h->conn.err);
		return V_UNHEALTHY;
	}
	if (h->info.loading) {
		snprintf(h->reason, sizeof(h->reason), "redis is loading its dataset");
		return V_UNHEALTHY;
	}
	if (h->want_role != RDB_ROLE_UNKNOWN && h->info.role != h->want_role) {
		snprintf(h->reason, sizeof(h->reason), "redis is %s, expected %s", rdb_role_name(h->info.role),
		         rdb_role_name(h->want_role));
		return V_WRONG_ROLE;
	}
	if (h->info.role != RDB_ROLE_REPLICA || h->info.link_up) {
		h->link_down_at_ms = 0;
		return V_HEALTHY;
	}
	int64_t now = clock_now_ms();
	if (h->link_down_at_ms == 0)
		h->link_down_at_ms = now;
	int64_t down = now - h->link_down_at_ms;
	if (h->info.link_down_since_s >= 0 && h->info.link_down_since_s * 1000 > down)
		down = h->info.link_down_since_s * 1000;
	if (h->info.sync_in_progress) {
		snprintf(h->reason, sizeof(h->reason), "replica is syncing with its master");
		return V_DEGRADED;
	}
	if (down > link_grace_ms(h)) {
		snprintf(h->reason, sizeof(h->reason), "replica link to its master is down for %llds",
		         (long long)(down / 1000));
		return V_DEGRADED;
	}
	return V_HEALTHY;
}

static void print_healthy(const struct health *h)
{
	printf("healthy role=%s offset=%lld\n", rdb_role_name(h->info.role), rdb_info_offset(&h->info));
	fflush(stdout);
}

/* Exit code of an unhealthy verdict: bad credentials or a refused command are configuration (64). */
static int unhealthy_code(const struct health *h)
{
	int k = h->conn.err_kind;
	return k == RDB_E_AUTH || k == RDB_E_REFUSED ? EXIT_USAGE : EXIT_NO;
}

static int cmd_check(struct health *h)
{
	int v = evaluate(h);
	rdb_close(&h->conn);
	/* One-shot: a replica's link state is reported by resec-role show, not judged here. */
	if (v == V_HEALTHY || v == V_DEGRADED) {
		print_healthy(h);
		return 0;
	}
	printf("unhealthy: %s\n", h->reason);
	fflush(stdout);
	return v == V_UNHEALTHY ? unhealthy_code(h) : EXIT_NO;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int cmd_wait(struct health *h)
{
	int64_t start = clock_now_ms();
	int64_t deadline = h->timeout_ms > 0 ? start + h->timeout_ms : 0;
	int64_t backoff = 50;
	int64_t cap = h->cfg.healthcheck_interval_ms < 1000 ? h->cfg.healthcheck_interval_ms : 1000;
	char last[sizeof(h->reason)] = "";
	for (;;) {
		int v = evaluate(h);
		if (v == V_HEALTHY || v == V_DEGRADED) {
			rdb_close(&h->conn);
			print_healthy(h);
			return 0;
		}
		if (v == V_UNHEALTHY && unhealthy_code(h) == EXIT_USAGE) {
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
			fflush(stdout);
			return EXIT_NO;
		}
		/* A closed connection is reopened at the next look. */
		if (v == V_UNHEALTHY)
			rdb_close(&h->conn);
		int64_t d = backoff;
		if (deadline != 0 && now + d > deadline)
			d = deadline - now;
		sleep_ms(d);
		backoff = backoff * 2 > cap ? (cap > 50 ? cap : 50) : backoff * 2;
	}
}

int main(int argc, char **argv)
{
	static struct health h;
	int first = config_main(&h.cfg, "resec-health", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &h);
	const char *cmd = first < argc ? argv[first] : "";
	if (argc - first > 1) {
		log_die_line("too many arguments: \"%s\"", argv[first + 1]);
		return EXIT_USAGE;
	}
	struct rdb_opts o;
	rdb_opts_from_config(&o, &h.cfg);
	rdb_init(&h.conn, &o);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(&h);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(&h);
	if (strcmp(cmd, "run") == 0) {
		log_die_line("run is not available in this build yet");
		return EXIT_USAGE;
	}
	log_die_line(cmd[0] == '\0' ? "missing command: check, wait or run" : "unknown command \"%s\"", cmd);
	return EXIT_USAGE;
}
