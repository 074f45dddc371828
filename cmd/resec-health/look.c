/* SPDX-License-Identifier: MIT */
/* look: one look at the local Redis and its verdict, the lines a verdict prints, a short Consul client. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "health.h"
#include "log.h"

/* A replica's link may be down this long (2 × HEALTHCHECK_INTERVAL) before its check stops passing. */
static int64_t link_grace_ms(const struct health *h)
{
	return 2 * h->cfg.healthcheck_interval_ms;
}

/* Connect when needed, PING, INFO: 0, or -1 with the reason in conn.err. *pong is -1 while LOADING. */
static int look_once(struct health *h, int *pong)
{
	*pong = -1;
	if ((!rdb_connected(&h->conn) && rdb_connect(&h->conn) < 0) ||
	    ((*pong = rdb_ping(&h->conn)) < 0 && h->conn.err_kind != RDB_E_LOADING) ||
	    rdb_info(&h->conn, &h->info) < 0)
		return -1;
	return 0;
}

/* Look at Redis once: connect when needed, PING, INFO, compare the role. */
static int look(struct health *h)
{
	h->reason[0] = '\0';
	int pong = -1;
	char run_id[sizeof(h->info.run_id)];
	snprintf(run_id, sizeof(run_id), "%s", h->info.run_id);
	int was_connected = rdb_connected(&h->conn);
	/* A connection some client killed (CLIENT KILL, a timeout) is not a dead
	 * Redis: one fresh connection tells them apart. */
	if (look_once(h, &pong) < 0 && !(was_connected && h->conn.peer_closed && look_once(h, &pong) == 0)) {
		snprintf(h->reason, sizeof(h->reason), "%s", h->conn.err);
		return V_UNHEALTHY;
	}
	/* A Redis that restarted between two looks lost what it held: start over. */
	if (h->running && run_id[0] != '\0' && strcmp(run_id, h->info.run_id) != 0) {
		snprintf(h->reason, sizeof(h->reason), "redis restarted (its run_id changed)");
		return V_UNHEALTHY;
	}
	if (pong < 0 || h->info.loading) {
		/* A replica loads the dataset its master sent at each full sync: for
		 * run --role replica that is syncing, not a reason to exit. */
		if (h->running && h->want_role == RDB_ROLE_REPLICA && h->info.role == RDB_ROLE_REPLICA) {
			snprintf(h->reason, sizeof(h->reason), "replica is loading the dataset from its master");
			return V_DEGRADED;
		}
		snprintf(h->reason, sizeof(h->reason), "redis is loading its dataset");
		return V_UNHEALTHY;
	}
	if (h->want_role != RDB_ROLE_UNKNOWN && h->info.role != h->want_role) {
		/* A fenced master that waits for the election (a cold start, a returning master) takes
		 * no write: not passing, but not critical either, so that the session resec-lock binds
		 * to this check can be made (docs/resec-lock.md, "A session that dies with its holder"). */
		if (h->running && h->want_role == RDB_ROLE_REPLICA && rdb_fenced(&h->conn) == 1) {
			snprintf(h->reason, sizeof(h->reason), "redis is a fenced master, waiting for the election");
			return V_DEGRADED;
		}
		snprintf(h->reason, sizeof(h->reason), "redis is %s, expected %s", rdb_role_name(h->info.role),
		         rdb_role_name(h->want_role));
		return V_WRONG_ROLE;
	}
	/* A fenced master takes no write (its lock is not confirmed, or it is being promoted or
	 * stepping down): clients must not be sent to it, nor its check be passed again by a
	 * heartbeat that outlived the lock (S2). */
	h->master_fenced = h->running && h->want_role == RDB_ROLE_MASTER && rdb_fenced(&h->conn) == 1;
	if (h->master_fenced) {
		snprintf(h->reason, sizeof(h->reason), "redis is fenced: the lock is not confirmed, or the role changes");
		return V_DEGRADED;
	}
	if (h->info.role != RDB_ROLE_REPLICA || h->info.link_up) {
		h->link_down_at_ms = 0;
		return V_HEALTHY;
	}
	int64_t now = clock_now_ms();
	if (h->link_down_at_ms == 0)
		h->link_down_at_ms = now;
	int64_t down = now - h->link_down_at_ms;
	/* INFO's seconds may be anything: saturate rather than overflow. */
	long long since = h->info.link_down_since_s;
	if (since >= 0) {
		int64_t since_ms = since > INT64_MAX / 1000 ? INT64_MAX : since * 1000;
		if (since_ms > down)
			down = since_ms;
	}
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

/* A look within one HEALTHCHECK_TIMEOUT as a whole (connect, PING and INFO
 * together): a Redis that answers each command just in time is not healthy. */
int health_evaluate(struct health *h)
{
	rdb_set_deadline(&h->conn, clock_now_ms() + h->cfg.healthcheck_timeout_ms);
	int v = look(h);
	rdb_set_deadline(&h->conn, 0);
	return v;
}

void health_flush(void)
{
	if (fflush(stdout) != 0)
		log_die_line("cannot write the output: %s", strerror(errno));
}

void health_print_healthy(const struct health *h)
{
	printf("healthy role=%s offset=%lld\n", rdb_role_name(h->info.role), rdb_info_offset(&h->info));
	health_flush();
}

int health_unhealthy_code(const struct health *h)
{
	int k = h->conn.err_kind;
	return k == RDB_E_AUTH || k == RDB_E_REFUSED ? EXIT_USAGE : EXIT_NO;
}

const char *health_ttl_word(int v)
{
	return v == V_HEALTHY ? "pass" : v == V_DEGRADED ? "warn" : "fail";
}

struct consul *health_short_client(const struct health *h, char *err, size_t errlen)
{
	struct consul *c = consul_new(&h->cfg, err, errlen);
	if (c != NULL)
		consul_set_timeouts(c, h->cfg.healthcheck_timeout_ms, h->cfg.healthcheck_timeout_ms);
	return c;
}

struct consul *health_consul(const struct health *h)
{
	char err[256] = "";
	struct consul *c = health_short_client(h, err, sizeof(err));
	if (c == NULL)
		log_die_line("cannot set up the Consul client: %s", err);
	return c;
}
