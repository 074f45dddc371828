/* SPDX-License-Identifier: MIT */
/* resec-role follow: replicate a master and guard the link, so that no full copy ever comes from a master that holds less (S5). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "history.h"
#include "log.h"
#include "proc.h"
#include "role.h"

/*
 * Why a guard: a replica whose master dies reconnects to the same address by
 * itself (at once, then every second). If a Redis comes back there empty (a
 * restart without persistence, a host reboot), the replica takes a full copy
 * of nothing and drops its data before any election has run. So the moment
 * the link to the master breaks (our own connection to it ends: the kernel
 * closes both at once), the local Redis is parked: pointed at an address that
 * never answers, which keeps its data and its replication history for a
 * partial resync later. It follows that address again only when the master
 * there continues its history; any other master comes from Consul, through
 * resec-watch, which then stops this program and starts a new one.
 */

/* While parked, or while the master does not answer, look at it this often. */
enum { PROBE_PERIOD_MS = 200 };

/* A phase returns NEXT to go on to the next phase, or the exit code. */
enum { NEXT = -1 };

static const struct hostport park = { ROLE_PARK_HOST, ROLE_PARK_PORT };

struct follow {
	struct role *r;
	struct rdb_conn mon;     /* to the master: its end tells at once that the master went */
	char addr[300];          /* the master, for the logs */
	char run_id[41];         /* the master's run_id when it was followed */
	char said[300];          /* the last state logged while waiting, so that it is logged once */
};

/* Wait up to ms for a signal or for fd (when >= 0) to be readable: 1 when a stop signal came. */
static int nap(int fd, int64_t ms, int *readable)
{
	struct pollfd p[2] = { { .fd = proc_signal_fd(), .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	*readable = 0;
	int n = poll(p, fd >= 0 ? 2 : 1, ms < 0 ? 0 : (int)(ms > 60000 ? 60000 : ms));
	if (n > 0 && fd >= 0 && p[1].revents != 0)
		*readable = 1;
	int sig;
	while ((sig = proc_signal_next()) != 0)
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			return 1;
	return 0;
}

/* Log a waiting state once, not at every look. */
static void say_once(struct follow *f, const char *msg, const char *reason)
{
	if (log_changed(f->said, sizeof(f->said), msg, reason))
		log_warn(msg, "master", f->addr, "reason", reason);
}

/* Park the local Redis if it still replicates from somewhere: NEXT, or 69 when it is gone. */
static int park_local(struct follow *f, const char *why)
{
	struct role *r = f->r;
	if (rdb_info(&r->conn, &r->info) < 0)
		return EXIT_UNAVAILABLE;
	if (r->info.role != RDB_ROLE_REPLICA || role_follows(r, &park))
		return NEXT;
	if (role_point(r, &park) < 0)
		return EXIT_UNAVAILABLE;
	log_warn("replica parked: its data is kept until a master that continues it is known", "master", f->addr,
	         "reason", why);
	return NEXT;
}

/*
 * The master Consul named: follow it unless it holds less than the local
 * Redis (history_judge). While it does not answer, the local Redis stays
 * parked and it is asked again. NEXT once following it, or the exit code
 * (1: it holds less; resec-watch retries, and a master that took more writes
 * since is accepted then).
 */
static int attach(struct follow *f)
{
	struct role *r = f->r;
	for (;;) {
		struct rdb_info mi;
		if (role_probe_target(r, &f->mon, &mi) == 0) {
			if (rdb_info(&r->conn, &r->info) < 0)
				return EXIT_UNAVAILABLE;
			if (mi.run_id[0] != '\0' && strcmp(mi.run_id, r->info.run_id) == 0) {
				log_die_line("cannot follow %s: that address is this redis itself", f->addr);
				return EXIT_USAGE;
			}
			enum history_verdict v = history_judge(&mi, &r->info);
			if (v != HISTORY_BEHIND) {
				if (v == HISTORY_AHEAD)
					log_warn("the master is on another replication history: a full copy replaces this "
					         "redis's data", "master", f->addr);
				snprintf(f->run_id, sizeof(f->run_id), "%s", mi.run_id);
				return role_point(r, &r->target) < 0 ? EXIT_UNAVAILABLE : NEXT;
			}
			int rc = park_local(f, history_describe(v));
			log_error("not following the master: it holds less than this redis; a full copy would lose data",
			          "master", f->addr, "its_offset", log_int(mi.master_repl_offset),
			          "our_offset", log_int(r->info.master_repl_offset), "keys", log_int(r->info.keys));
			rdb_close(&f->mon);
			return rc == NEXT ? EXIT_NO : rc;
		}
		char why[sizeof(f->mon.err)];
		snprintf(why, sizeof(why), "%s", f->mon.err);
		rdb_close(&f->mon);
		int rc = park_local(f, why);
		if (rc != NEXT)
			return rc;
		say_once(f, "the master does not answer; waiting for it, the replica parked", why);
		int readable;
		if (nap(-1, PROBE_PERIOD_MS, &readable))
			return 0;
	}
}

/*
 * Our connection ended but the master may live (a client timeout, CLIENT
 * KILL): one new connection tells. 1 when the same Redis (run_id) answers.
 */
static int still_there(struct follow *f)
{
	struct rdb_info mi;
	char why[sizeof(f->mon.err)];
	snprintf(why, sizeof(why), "%s", f->mon.err);
	rdb_close(&f->mon);
	if (role_probe_target(f->r, &f->mon, &mi) == 0 && strcmp(mi.run_id, f->run_id) == 0) {
		log_info("connection to the master lost, but it still answers: following it", "master", f->addr,
		         "reason", why);
		return 1;
	}
	rdb_close(&f->mon);
	snprintf(f->mon.err, sizeof(f->mon.err), "%s", why);
	return 0;
}

/* Guard the link until it breaks (then park: NEXT) or a stop signal (0). */
static int guard(struct follow *f)
{
	struct role *r = f->r;
	f->said[0] = '\0';
	int64_t period = r->cfg.healthcheck_interval_ms;
	int64_t next_ping = clock_now_ms() + period;
	for (;;) {
		int readable;
		if (nap(rdb_fd(&f->mon), next_ping - clock_now_ms(), &readable))
			return 0;
		int broken = readable && rdb_closed_by_peer(&f->mon);
		/* A silent death (a host gone without a FIN) shows as a PING that times out. */
		if (!broken && clock_now_ms() >= next_ping) {
			broken = rdb_ping(&f->mon) < 0;
			next_ping = clock_now_ms() + period;
		}
		if (broken && !still_there(f))
			break;
	}
	char why[sizeof(f->mon.err)];
	snprintf(why, sizeof(why), "%s", f->mon.err);
	rdb_close(&f->mon);
	return park_local(f, why);
}

/*
 * Parked: follow the same address again only once a master there continues
 * the local history (a restart that kept its data, a connection that broke
 * while both lived). NEXT once following it, or the exit code.
 */
static int await_return(struct follow *f)
{
	struct role *r = f->r;
	for (;;) {
		int readable;
		if (nap(-1, PROBE_PERIOD_MS, &readable))
			return 0;
		struct rdb_info mi;
		int up = role_probe_target(r, &f->mon, &mi) == 0;
		if (rdb_info(&r->conn, &r->info) < 0) {
			rdb_close(&f->mon);
			return EXIT_UNAVAILABLE;
		}
		if (r->info.role == RDB_ROLE_REPLICA && !role_follows(r, &park)) {
			/* Someone pointed it elsewhere meanwhile: theirs to guard. */
			rdb_close(&f->mon);
			log_info("redis was pointed elsewhere while parked; no longer guarding it");
			return 0;
		}
		if (up && mi.role == RDB_ROLE_MASTER && !mi.loading && history_continues(&mi, &r->info)) {
			log_info("the master is back and continues this replica's history; following it again",
			         "master", f->addr);
			snprintf(f->run_id, sizeof(f->run_id), "%s", mi.run_id);
			return role_point(r, &r->target) < 0 ? EXIT_UNAVAILABLE : NEXT;
		}
		say_once(f, "staying parked: the master is not back, or not the one this replica followed",
		         up ? (mi.role != RDB_ROLE_MASTER ? "it is not a master" : history_describe(history_judge(&mi, &r->info)))
		            : f->mon.err);
		rdb_close(&f->mon);
	}
}

int role_follow(struct role *r)
{
	char err[256];
	if (proc_signals_init(err, sizeof(err)) < 0) {
		log_die_line("%s", err);
		return EXIT_UNAVAILABLE;
	}
	/* A guard must not outlive the watch that started it: the next one may follow another master. */
	proc_die_with_parent(SIGTERM);
	struct follow f;
	memset(&f, 0, sizeof(f));
	f.r = r;
	config_format_hostport(&r->target, f.addr, sizeof(f.addr));
	if (r->target.port == r->cfg.redis_addr.port && strcmp(r->target.host, r->cfg.redis_addr.host) == 0) {
		log_die_line("cannot follow %s: that address is this redis itself", f.addr);
		return EXIT_USAGE;
	}
	if (!rdb_connected(&r->conn) && rdb_connect(&r->conn) < 0) {
		log_die_line("cannot follow %s: %s", f.addr, r->conn.err);
		return r->conn.err_kind == RDB_E_AUTH ? EXIT_USAGE : EXIT_UNAVAILABLE;
	}
	int rc = attach(&f);
	while (rc == NEXT) {
		rc = guard(&f);
		if (rc == NEXT)
			rc = await_return(&f);
	}
	rdb_close(&f.mon);
	if (rc == EXIT_UNAVAILABLE)
		log_die_line("cannot follow %s: %s", f.addr, r->conn.err);
	return rc;
}
