/* SPDX-License-Identifier: MIT */
/* survey: look at every instance's Redis, find the lock holder, compute the lags and judge the cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "log.h"
#include "peer.h"
#include "status.h"

/* Mark the lock holder: the instance on the session's node at the address the lock value names. */
static void match_lock_holder(struct status *st)
{
	const struct lock_state *l = &st->lock;
	if (!l->held)
		return;
	struct hostport v;
	int have_addr = config_parse_hostport(l->value, &v) == 0;
	for (size_t i = 0; i < st->n; i++) {
		struct instance *in = &st->inst[i];
		if (l->node[0] != '\0' && strcmp(in->node, l->node) != 0)
			continue;
		if (!have_addr) {
			/* Not an address: the node alone tells, for its master instance. */
			in->lock_holder = l->node[0] != '\0' && in->consul_role == RDB_ROLE_MASTER;
			continue;
		}
		/* An empty announce host means "this node's address" (ANNOUNCE_ADDR default). */
		in->lock_holder = v.port == in->hp.port &&
		                  (v.host[0] == '\0' || strcmp(v.host, in->hp.host) == 0 ||
		                   strcmp(v.host, in->service_address) == 0);
	}
}

/* ---- Redis ---- */

static void probe_redis(const struct status *st, struct instance *in)
{
	if (peer_probe(&st->cfg, &in->hp, &in->info, &in->fenced, in->redis_err, sizeof(in->redis_err)) < 0)
		return;
	in->redis_ok = 1;
	if (in->fenced < 0)
		log_warn("cannot tell whether redis is fenced", "addr", in->addr, "reason", in->redis_err);
	in->redis_err[0] = '\0';
}

static int same_addr(const struct instance *in, const char *host, int port)
{
	return in->hp.port == port && strcmp(in->hp.host, host) == 0;
}

/* The master a replica's offset is compared with: the one it follows, else the passing master. */
static const struct instance *reference_master(const struct status *st, const struct instance *r)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct instance *m = &st->inst[i];
		if (m->redis_ok && m->info.role == RDB_ROLE_MASTER &&
		    same_addr(m, r->info.master_host, r->info.master_port))
			return m;
	}
	if (st->master >= 0) {
		const struct instance *m = &st->inst[st->master];
		if (m->redis_ok && m->info.role == RDB_ROLE_MASTER)
			return m;
	}
	return NULL;
}

static void compute_lags(struct status *st)
{
	for (size_t i = 0; i < st->n; i++) {
		struct instance *r = &st->inst[i];
		if (!r->redis_ok || r->info.role != RDB_ROLE_REPLICA)
			continue;
		const struct instance *m = reference_master(st, r);
		long long ro = rdb_info_offset(&r->info);
		if (m == NULL || ro < 0 || m->info.master_repl_offset < 0)
			continue;
		/* The master was read before the replica: a replica can look ahead by what came in between. */
		long long lag = m->info.master_repl_offset - ro;
		r->lag = lag < 0 ? 0 : lag;
	}
}

/* ---- the verdict ---- */

const char *role_label(int role)
{
	return role == RDB_ROLE_MASTER ? "master" : role == RDB_ROLE_REPLICA ? "replica" : "unknown";
}

const char *redis_role(const struct instance *in)
{
	return in->redis_ok ? role_label(in->info.role) : "down";
}

static void judge_master(struct status *st)
{
	if (st->masters_passing == 0) {
		add_problem(st, "no passing master instance");
	} else if (st->masters_passing > 1) {
		char list[300] = "";
		size_t len = 0;
		for (size_t i = 0; i < st->n && len < sizeof(list); i++) {
			const struct instance *in = &st->inst[i];
			if (in->consul_role == RDB_ROLE_MASTER && in->passing)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s %s", len ? ", " : "", in->node,
				                        in->addr);
		}
		add_problem(st, "%d passing master instances: %s", st->masters_passing, list);
	}
	if (st->lock.present && st->lock.flags != LOCK_FLAGS)
		add_problem(st, "lock key %s has flags %llu, not a lock's: resec-lock will not take it until it is "
		            "deleted", st->cfg.lock_key, (unsigned long long)st->lock.flags);
	else if (!st->lock.held)
		add_problem(st, "lock %s is not held", st->cfg.lock_key);
	if (st->master < 0)
		return;
	const struct instance *m = &st->inst[st->master];
	if (st->lock.held && !m->lock_holder)
		add_problem(st, "passing master %s %s does not hold the lock (held by %s, value %s)", m->node, m->addr,
		            st->lock.node[0] != '\0' ? st->lock.node : "an unknown node", st->lock.value);
	if (!m->redis_ok)
		add_problem(st, "passing master %s %s: redis unreachable: %s", m->node, m->addr, m->redis_err);
	else if (m->info.role != RDB_ROLE_MASTER)
		add_problem(st, "passing master %s %s is a replica in redis", m->node, m->addr);
	else if (m->fenced == 1)
		add_problem(st, "passing master %s %s is fenced (refuses writes)", m->node, m->addr);
}

static void judge_replica(struct status *st, const struct instance *in)
{
	if (!in->redis_ok) {
		add_problem(st, "passing replica %s %s: redis unreachable: %s", in->node, in->addr, in->redis_err);
		return;
	}
	if (in->info.role == RDB_ROLE_MASTER) {
		add_problem(st, "passing replica %s %s is a master in redis", in->node, in->addr);
		return;
	}
	if (!in->info.link_up)
		add_problem(st, "passing replica %s %s: link to its master is down", in->node, in->addr);
	/* The election's lag rule (common/elect.c), on the live lag: the master in->lag bytes ahead of 0. */
	if (elect_too_far_behind(st->cfg.redis_max_lag, in->lag, 0))
		add_problem(st, "passing replica %s %s lags %lld bytes behind its master (max %lld)", in->node, in->addr,
		            in->lag, st->cfg.redis_max_lag);
	/* Addresses may be spelled differently (names, IPs): a hint, not a verdict. */
	const struct instance *m = st->master >= 0 ? &st->inst[st->master] : NULL;
	if (m != NULL && !same_addr(m, in->info.master_host, in->info.master_port))
		add_warning(st, "replica %s %s follows %s:%d, not the passing master %s", in->node, in->addr,
		            in->info.master_host, in->info.master_port, m->addr);
}

static void judge(struct status *st)
{
	judge_master(st);
	for (size_t i = 0; i < st->n; i++) {
		const struct instance *in = &st->inst[i];
		if (in->passing && in->consul_role == RDB_ROLE_REPLICA)
			judge_replica(st, in);
		else if (!in->passing)
			add_warning(st, "%s %s %s: check %s%s%s", role_label(in->consul_role), in->node, in->addr, in->check,
			            in->redis_ok ? "" : "; redis unreachable: ", in->redis_ok ? "" : in->redis_err);
		else if (in->consul_role == RDB_ROLE_UNKNOWN)
			add_warning(st, "%s %s: no role in its tags or Meta", in->node, in->addr);
	}
	if (st->lock.held && st->master < 0) {
		int found = 0;
		for (size_t i = 0; i < st->n; i++)
			found |= st->inst[i].lock_holder;
		if (!found)
			add_warning(st, "lock holder %s (value %s) has no registered instance",
			            st->lock.node[0] != '\0' ? st->lock.node : "unknown", st->lock.value);
	}
}

static int instance_order(const void *a, const void *b)
{
	const struct instance *x = a, *y = b;
	int rx = x->consul_role == RDB_ROLE_MASTER ? 0 : x->consul_role == RDB_ROLE_REPLICA ? 1 : 2;
	int ry = y->consul_role == RDB_ROLE_MASTER ? 0 : y->consul_role == RDB_ROLE_REPLICA ? 1 : 2;
	if (rx != ry)
		return rx - ry;
	int c = strcmp(x->node, y->node);
	return c != 0 ? c : strcmp(x->addr, y->addr);
}

void survey(struct status *st)
{
	/* No instance registered: nothing to sort (qsort must not see a NULL array). */
	if (st->n > 0)
		qsort(st->inst, st->n, sizeof(st->inst[0]), instance_order);
	st->master = -1;
	for (size_t i = 0; i < st->n; i++) {
		if (st->inst[i].consul_role == RDB_ROLE_MASTER && st->inst[i].passing) {
			st->masters_passing++;
			st->master = (int)i;
		}
	}
	if (st->masters_passing != 1)
		st->master = -1;
	/* Probes run one after the other, each up to HEALTHCHECK_TIMEOUT: a catalog of
	 * thousands of unreachable instances must not keep a script check for hours. */
	for (size_t i = 0; i < st->n; i++) {
		if (i < MAX_PROBED)
			probe_redis(st, &st->inst[i]);
		else
			snprintf(st->inst[i].redis_err, sizeof(st->inst[i].redis_err),
			         "not probed: more than %d instances registered", MAX_PROBED);
	}
	if (st->n > MAX_PROBED)
		add_problem(st, "%zu instances registered; only the first %d were probed", st->n, MAX_PROBED);
	match_lock_holder(st);
	compute_lags(st);
	judge(st);
}
