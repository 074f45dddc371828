/* SPDX-License-Identifier: MIT */
/* elect: the election policy (docs/election.md) as pure functions over a snapshot of the nodes. */
#ifndef RESEC_ELECT_H
#define RESEC_ELECT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "redis.h"

/*
 * Everything here decides from what the caller gathered (the election keys,
 * the settings, each node's INFO): no I/O, no Consul, no Redis, so that every
 * rule can be tested on tables of snapshots (tests/unit/test_elect.c).
 * Callers: resec-health eligible (the gate resec-lock runs) and empty (the
 * hold-back of scripts/resec), resec-switchover (its target), resec-status
 * (the lag problem), and peer_stale (common/peer.c, the older name).
 */

/* What the cluster says for this decision: the election keys beside the lock key and the settings. */
struct elect_cluster {
	int maintenance;               /* D/maintenance is set: failover paused */
	const char *switchover;        /* D/switchover: the one node that may take the lock; NULL or "" none */
	long long master_offset;       /* D/master-offset, the master's last published offset; -1 none */
	long long max_lag;             /* REDIS_MAX_LAG: bytes a replica may be behind it; 0 no limit */
	const char *failsafe_members;  /* failsafe mode on and D/failsafe set: its value, HOST:PORT,...; else NULL */
	int64_t free_ms;               /* how long the lock has been free (resec-lock's RESEC_LOCK_FREE_MS), 0 unknown */
	int64_t defer_ms;              /* how long a better peer is waited for: elect_defer_ms() */
};

/* One node as its Redis showed it: the candidate we are, or a peer. */
struct elect_node {
	char addr[300];                /* HOST:PORT as the catalog names it */
	int priority;                  /* REDIS_PRIORITY after Meta and the KV override; 0 never promoted */
	int answered;                  /* its Redis answered INFO (elect_node_from_info sets it) */
	int role;                      /* enum rdb_role */
	long long offset;              /* replication offset (rdb_info_offset) */
	long long keys;                /* keys it holds */
	struct hostport master;        /* replica: the master it follows */
	int link_up;                   /* replica: its link to that master is up */
	int syncing;                   /* replica: master_sync_in_progress */
	long long link_down_since_s;   /* replica: master_link_down_since_seconds, -1 never synced */
};

/* What elect_decide says: contend now, or wait (the reason says why). */
enum { ELECT_CONTEND = 0, ELECT_WAIT = 1 };

/* Fill the Redis part of n from one INFO (answered, role, offset, keys, the replica's link); addr and
 * priority are the caller's. */
void elect_node_from_info(struct elect_node *n, const struct rdb_info *in);

/* How long a better peer is waited for before this node goes ahead: 2 × HEALTHCHECK_INTERVAL +
 * CONSUL_LOCK_DELAY (the better peer may have to wait out a lock-delay too). */
int64_t elect_defer_ms(int64_t interval_ms, int64_t lock_delay_ms);

/* 1 when offset is more than max_lag bytes behind ahead (max_lag 0: no limit); any values, no overflow. */
int elect_too_far_behind(long long max_lag, long long ahead, long long offset);

/*
 * Why a replica's data may be behind, into why ("" when it is not): its offset
 * more than max_lag behind the published offset, syncing, or never synced. A
 * master (and a node of unknown role) is never stale. How long a link has been
 * down is no rule: every replica's is when the master dies.
 */
void elect_stale(const struct elect_cluster *c, const struct elect_node *n, char *why, size_t len);

/* 1 when the peer p may be promoted instead of us: its Redis answered, priority > 0, not stale. */
int elect_usable(const struct elect_cluster *c, const struct elect_node *p);

/* 1 when a ranks before b: higher offset, then higher priority, then lower address. */
int elect_ranks_before(const struct elect_node *a, const struct elect_node *b);

/* The best usable peer of peers[0..n), NULL when none is usable. */
const struct elect_node *elect_best(const struct elect_cluster *c, const struct elect_node *peers, size_t n);

/* Maintenance on and no switchover: failover paused (the reason into why); else 0. */
int elect_paused(const struct elect_cluster *c, char *why, size_t len);

/*
 * May self contend for the free lock now? ELECT_CONTEND or ELECT_WAIT, with the
 * one-line reason in why. Rules in order (docs/election.md, "The decision"):
 * maintenance, failsafe membership, a switchover, priority 0, self stale, then
 * self against the best usable peer by rank, the empty rule (S4) and the bound
 * c->defer_ms on c->free_ms.
 */
int elect_decide(const struct elect_cluster *c, const struct elect_node *self, const struct elect_node *peers,
                 size_t n, char *why, size_t len);

/*
 * The hold-back of scripts/resec (S4): 1 when n restarted empty, i.e. it is a
 * master at replication offset 0 (nothing replicated, nothing written since
 * it started), which lets peers that hold data contend first.
 */
int elect_restarted_empty(const struct elect_node *n);

/*
 * Why n cannot be a planned switchover's target (resec-switchover), or NULL
 * when it can: its Redis answers, is a replica of the master at master (named
 * master_addr in the reason), with its link up, and priority > 0. No lag rule:
 * the target catches up with the fenced master before the hand-over, which
 * proves more than any published offset could (docs/resec-switchover.md).
 */
const char *elect_switchover_unfit(const struct elect_node *n, const struct hostport *master,
                                   const char *master_addr, char *buf, size_t len);

#endif
