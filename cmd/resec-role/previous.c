/* SPDX-License-Identifier: MIT */
/* resec-role fence-previous: fence the Redis of the lock's previous holder before this one takes writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consul.h"
#include "failsafe.h"
#include "log.h"
#include "peer.h"
#include "role.h"

/*
 * Why: when every resec process on the master dies (SIGKILL, OOM) while its
 * Redis lives, nothing fences that Redis, and its clients keep writing to it.
 * The lock moves once the dead holder's session dies with its check
 * (docs/resec-lock.md); the successor then fences the old master itself,
 * before it lifts its own fence, so that two masters never take writes.
 * Who held the lock: the key's value before we took it (RESEC_LOCK_PREVIOUS,
 * from resec-lock; one announced as ":port", the node's address, is only found
 * among the next) and every instance registered as master in Consul, passing
 * or not. A Redis that does
 * not answer is left: a partitioned old master fences itself (S3).
 */

enum { MAX_PREVIOUS = 16 };

struct previous {
	struct hostport addr[MAX_PREVIOUS];
	int n;
	int unanswered;           /* a candidate that did not answer (not a refused connection) */
};

static void add(struct previous *p, const struct hostport *hp)
{
	if (hp->host[0] == '\0' || hp->port <= 0 || p->n >= MAX_PREVIOUS)
		return;
	for (int i = 0; i < p->n; i++)
		if (p->addr[i].port == hp->port && strcmp(p->addr[i].host, hp->host) == 0)
			return;
	p->addr[p->n++] = *hp;
}

/* Every instance registered as master (tag mode: carrying the first MASTER_TAG, or Meta role master). */
static void from_consul(const struct role *r, struct previous *p)
{
	char err[256];
	struct consul *c = consul_new(&r->cfg, err, sizeof(err));
	if (c == NULL) {
		log_warn("cannot ask consul for the previous master", "reason", err);
		return;
	}
	int64_t t = r->cfg.healthcheck_timeout_ms;
	consul_set_timeouts(c, t, t);
	char name[300], tags[512];
	peer_service_name(&r->cfg, 1, name, sizeof(name));
	snprintf(tags, sizeof(tags), "%s", r->cfg.master_tags);
	char *save = NULL;
	char *tag = r->cfg.service_name[0] != '\0' && tags[0] != '\0' ? strtok_r(tags, ",", &save) : NULL;
	struct json_health_entry *e = NULL;
	size_t n = 0;
	/* Three tries: a previous holder announced as ":port" (the node's address)
	 * is found only here, and one slow answer must not leave it unfenced. */
	int rc = CONSUL_ERR;
	for (int i = 0; i < 3 && rc != CONSUL_OK; i++)
		rc = consul_health_service(c, name, tag, 0, NULL, &e, &n);
	if (rc != CONSUL_OK) {
		log_warn("cannot ask consul for the previous master", "reason", c->err);
		consul_free(c);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (r->cfg.service_name[0] != '\0' && tag == NULL && strcmp(peer_meta(&e[i], "role"), "master") != 0)
			continue;
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		add(p, &hp);
	}
	json_health_free(e, n);
	consul_free(c);
}

/*
 * The local Redis still replicates the fenced old master (it was following it): wait, at
 * most HEALTHCHECK_TIMEOUT, until it has everything the old master took, so that the
 * promotion loses none of the writes the old master accepted before its fence.
 */
static void catch_up(struct role *r, const struct hostport *from, long long offset)
{
	int64_t end = clock_now_ms() + r->cfg.healthcheck_timeout_ms;
	for (;;) {
		if (rdb_info(&r->conn, &r->info) < 0 || !role_follows(r, from) || !r->info.link_up)
			return;
		if (r->info.slave_repl_offset >= offset)
			return;
		if (clock_now_ms() >= end) {
			log_warn("the previous master's last writes did not arrive in time", "behind",
			         log_int(offset - r->info.slave_repl_offset));
			return;
		}
		clock_sleep_ms(10);
	}
}

/* Fence one candidate if it is another Redis that is an unfenced master. */
static void fence_one(struct role *r, const struct hostport *hp, struct previous *p)
{
	char a[300];
	config_format_hostport(hp, a, sizeof(a));
	struct rdb_conn t;
	struct rdb_info ti;
	struct hostport saved = r->target;
	r->target = *hp;
	int rc = role_probe_target(r, &t, &ti);
	r->target = saved;
	if (rc < 0) {
		int refused = strstr(t.err, "refused") != NULL;
		p->unanswered += !refused;
		log_warn(refused ? "the previous master's redis is down" : "the previous master's redis does not answer; "
		         "going on (a partitioned master fences itself)", "addr", a, "reason", t.err);
		rdb_close(&t);
		return;
	}
	if (strcmp(ti.run_id, r->info.run_id) == 0 || ti.role != RDB_ROLE_MASTER) {
		rdb_close(&t);
		return; /* ourselves, or a replica: it takes no writes */
	}
	int fenced = rdb_fenced(&t);
	if (fenced == 0 && rdb_fence(&t) == 0)
		log_warn("fenced the previous master's redis", "addr", a);
	else if (fenced <= 0) {
		log_warn("cannot fence the previous master's redis", "addr", a, "reason", t.err);
		p->unanswered++; /* failsafe: it may still be holding; wait as for one that does not answer */
	}
	/* Fenced now, it takes no more writes: what it took is on its way here; wait for it. */
	if (rdb_info(&t, &ti) == 0)
		catch_up(r, hp, ti.master_repl_offset);
	rdb_close(&t);
}

int role_fence_previous(struct role *r)
{
	int64_t start = clock_now_ms();
	if (rdb_info(&r->conn, &r->info) < 0)
		return -1;
	struct previous p;
	memset(&p, 0, sizeof(p));
	const char *prev = getenv("RESEC_LOCK_PREVIOUS");
	struct hostport hp = { .port = 0 };
	if (prev != NULL && prev[0] != '\0' && config_parse_hostport(prev, &hp) == 0)
		add(&p, &hp);
	from_consul(r, &p);
	for (int i = 0; i < p.n; i++)
		fence_one(r, &p.addr[i], &p);
	/* Failsafe: the old master may be holding on its peers' word; it lets go within the quiet period. */
	if (r->cfg.failsafe && p.unanswered > 0) {
		int64_t left = start + FAILSAFE_QUIET_MS - clock_now_ms();
		if (left > 0) {
			log_warn("failsafe: waiting until an unreachable previous master has let go", "wait_ms",
			         log_int(left));
			clock_sleep_ms(left);
		}
	}
	return 0;
}
