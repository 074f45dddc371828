/* SPDX-License-Identifier: MIT */
/* elect: the election policy (docs/election.md) as pure functions over a snapshot of the nodes. */
#include <stdio.h>
#include <string.h>

#include "elect.h"
#include "failsafe.h"

void elect_node_from_info(struct elect_node *n, const struct rdb_info *in)
{
	n->answered = 1;
	n->role = in->role;
	n->offset = rdb_info_offset(in);
	n->keys = in->keys;
	snprintf(n->master.host, sizeof(n->master.host), "%s", in->master_host);
	n->master.port = in->master_port;
	n->link_up = in->link_up;
	n->syncing = in->sync_in_progress;
	n->link_down_since_s = in->link_down_since_s;
}

int64_t elect_defer_ms(int64_t interval_ms, int64_t lock_delay_ms)
{
	return 2 * interval_ms + lock_delay_ms;
}

int elect_too_far_behind(long long max_lag, long long ahead, long long offset)
{
	/* ahead ≥ 0 and max_lag > 0: ahead - max_lag cannot overflow; offset may be anything. */
	return ahead >= 0 && max_lag > 0 && offset < ahead - max_lag;
}

void elect_stale(const struct elect_cluster *c, const struct elect_node *n, char *why, size_t len)
{
	why[0] = '\0';
	if (n->role != RDB_ROLE_REPLICA)
		return;
	/* Both offsets come from outside (KV, a peer's INFO) and may be anything a
	 * long long holds: the distance is taken unsigned, where it cannot overflow. */
	if (elect_too_far_behind(c->max_lag, c->master_offset, n->offset)) {
		unsigned long long behind = (unsigned long long)c->master_offset - (unsigned long long)n->offset;
		snprintf(why, len, "%llu bytes behind the offset the master published (%lld; REDIS_MAX_LAG %lld)",
		         behind, c->master_offset, c->max_lag);
		return;
	}
	/*
	 * How long the link has been down says nothing by itself: when the master
	 * dies every replica's link goes down at once, and stays down while its
	 * session outlives it (up to 2 × TTL) and the lock-delay runs. A replica
	 * cut off while the master went on is behind the offset the master
	 * published (above), or behind its peers (the ranking).
	 */
	if (n->link_up)
		return;
	if (n->syncing)
		snprintf(why, len, "syncing with its master");
	else if (n->link_down_since_s < 0)
		snprintf(why, len, "never synced with a master");
}

int elect_usable(const struct elect_cluster *c, const struct elect_node *p)
{
	char why[200];
	if (!p->answered || p->priority == 0)
		return 0;
	elect_stale(c, p, why, sizeof(why));
	return why[0] == '\0';
}

int elect_ranks_before(const struct elect_node *a, const struct elect_node *b)
{
	if (a->offset != b->offset)
		return a->offset > b->offset;
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return strcmp(a->addr, b->addr) < 0;
}

const struct elect_node *elect_best(const struct elect_cluster *c, const struct elect_node *peers, size_t n)
{
	const struct elect_node *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (elect_usable(c, &peers[i]) && (best == NULL || elect_ranks_before(&peers[i], best)))
			best = &peers[i];
	return best;
}

int elect_paused(const struct elect_cluster *c, char *why, size_t len)
{
	if (!c->maintenance || (c->switchover != NULL && c->switchover[0] != '\0'))
		return 0;
	snprintf(why, len, "maintenance mode on: failover paused");
	return 1;
}

/* The master a replica's link is up to, as HOST:PORT into buf ("" when none: a master, or the link down). */
static void streaming(const struct elect_node *n, char *buf, size_t len)
{
	buf[0] = '\0';
	if (n->role == RDB_ROLE_REPLICA && n->link_up && n->master.port > 0)
		config_format_hostport(&n->master, buf, len);
}

/*
 * 1 when self ranks before best. A master that still streams to both (its resec died, its
 * Redis did not) makes neither offset final: each gate reads its own offset, then the other's
 * a moment later, sees the other ahead, and both would defer until the bound. Their data are
 * the same stream then: rank on priority and address alone; the winner fences that master
 * and catches up with it before it takes writes (resec-role fence-previous).
 */
static int ranks_first(const struct elect_node *self, const struct elect_node *best)
{
	char s[300], b[300];
	streaming(self, s, sizeof(s));
	streaming(best, b, sizeof(b));
	struct elect_node x = *self, y = *best;
	if (s[0] != '\0' && strcmp(s, b) == 0)
		x.offset = y.offset = 0;
	return elect_ranks_before(&x, &y);
}

/* Failsafe mode: 1 when addr is one of the members the master wrote in D/failsafe. */
static int failsafe_member(const char *members, const char *addr)
{
	struct failsafe_peer m[FAILSAFE_MAX_PEERS];
	int n = failsafe_parse_view(members, m, FAILSAFE_MAX_PEERS);
	for (int i = 0; i < n; i++) {
		struct hostport hp = { .port = m[i].port };
		memcpy(hp.host, m[i].host, sizeof(hp.host));
		char a[300];
		config_format_hostport(&hp, a, sizeof(a));
		if (strcmp(a, addr) == 0)
			return 1;
	}
	return 0;
}

/* The rules that need no peer: maintenance, failsafe membership, a switchover, priority 0.
 * ELECT_CONTEND or ELECT_WAIT when one of them decides, -1 when none does. */
static int decide_alone(const struct elect_cluster *c, const struct elect_node *self, char *why, size_t len)
{
	const char *to = c->switchover != NULL ? c->switchover : "";
	if (elect_paused(c, why, len))
		return ELECT_WAIT;
	/* A failsafe master may hold writes on the word of the peers it lists: nobody else contends. */
	if (c->failsafe_members != NULL && !failsafe_member(c->failsafe_members, self->addr)) {
		snprintf(why, len, "failsafe: %s is not a member of the failsafe view (D/failsafe); the master "
		         "adds it once it sees it", self->addr);
		return ELECT_WAIT;
	}
	/* A planned switchover (resec-switchover) names the one node that may take the lock. */
	if (to[0] != '\0' && strcmp(to, self->addr) == 0) {
		snprintf(why, len, "eligible: switchover to this node");
		return ELECT_CONTEND;
	}
	if (to[0] != '\0') {
		snprintf(why, len, "switchover to %s in progress", to);
		return ELECT_WAIT;
	}
	if (self->priority == 0) {
		snprintf(why, len, "priority 0: this node is never promoted");
		return ELECT_WAIT;
	}
	return -1;
}

int elect_decide(const struct elect_cluster *c, const struct elect_node *self, const struct elect_node *peers,
                 size_t n, char *why, size_t len)
{
	int alone = decide_alone(c, self, why, len);
	if (alone >= 0)
		return alone;
	const struct elect_node *best = elect_best(c, peers, n);
	char stale[200];
	elect_stale(c, self, stale, sizeof(stale));
	if (stale[0] != '\0') {
		if (best != NULL)
			snprintf(why, len, "local replica %s: deferring to %s", stale, best->addr);
		else
			snprintf(why, len, "no eligible replica: not promoting (local replica %s)", stale);
		return ELECT_WAIT;
	}
	if (best == NULL || ranks_first(self, best)) {
		snprintf(why, len, "eligible offset=%lld priority=%d", self->offset, self->priority);
		return ELECT_CONTEND;
	}
	/* S4: a Redis that holds no key never goes ahead of a peer that holds data, however long it waits. */
	if (self->keys == 0 && best->keys > 0 && best->offset > self->offset) {
		snprintf(why, len, "this redis is empty: deferring to %s, which holds data (offset %lld)", best->addr,
		         best->offset);
		return ELECT_WAIT;
	}
	/* A better peer whose resec is dead or stopped must not block failover for ever. */
	if (c->free_ms < c->defer_ms) {
		snprintf(why, len, "deferring to %s (offset %lld priority %d; ours %lld priority %d)", best->addr,
		         best->offset, best->priority, self->offset, self->priority);
		return ELECT_WAIT;
	}
	snprintf(why, len, "eligible offset=%lld priority=%d: %s did not take the lock within %lldms", self->offset,
	         self->priority, best->addr, (long long)c->defer_ms);
	return ELECT_CONTEND;
}

int elect_restarted_empty(const struct elect_node *n)
{
	return n->answered && n->role == RDB_ROLE_MASTER && n->offset == 0;
}

const char *elect_switchover_unfit(const struct elect_node *n, const struct hostport *master,
                                   const char *master_addr, char *buf, size_t len)
{
	if (!n->answered)
		return "its redis does not answer";
	if (n->role != RDB_ROLE_REPLICA)
		return "it is not a replica";
	if (n->master.port != master->port || strcmp(n->master.host, master->host) != 0) {
		snprintf(buf, len, "it replicates %s:%d, not the master %s", n->master.host, n->master.port,
		         master_addr);
		return buf;
	}
	if (!n->link_up)
		return "its link to the master is down";
	if (n->priority == 0)
		return "its priority is 0 (never promoted)";
	return NULL;
}
