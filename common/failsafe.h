/* SPDX-License-Identifier: MIT */
/* failsafe: the channel that proves, without Consul, that no other node can become master. */
#ifndef RESEC_FAILSAFE_H
#define RESEC_FAILSAFE_H

#include <stddef.h>

#include "redis.h"

/*
 * Failsafe mode (RESEC_FAILSAFE, docs/election.md "Failsafe mode"). While the
 * master's lock cannot be confirmed, it keeps taking writes only while its own
 * Redis shows, in one INFO replication and one CLIENT LIST:
 *   - the view: the peers it must hear from, as the master's keeper
 *     (resec-failsafe keep) read them from Consul while it could, carried in
 *     the name of the keeper's connection to the master's Redis;
 *   - for every peer of the view: a connected replica (INFO: state=online),
 *     and a report on that peer's own connection to the master's Redis
 *     (resec-failsafe report) that says it cannot reach Consul either, and was
 *     refreshed within the last FAILSAFE_FRESH_IDLE_S seconds (CLIENT LIST idle).
 * Redis itself is the channel: it needs no Consul, it is what clients write to,
 * and a connection's name and idle time are kept by Redis, so a peer that dies
 * or is cut off ages out without anyone telling.
 */

#define FAILSAFE_VIEW_PREFIX "resec-fs-view:"   /* + HOST:PORT,HOST:PORT... (may be empty) */
#define FAILSAFE_PEER_PREFIX "resec-fs-peer:"   /* + PORT:down or PORT:up */

enum {
	FAILSAFE_REPORT_MS = 250,     /* a peer refreshes its report (and the keeper its view) this often */
	FAILSAFE_PROBE_MS = 1000,     /* a peer asks Consul this often, each probe bounded by the next */
	FAILSAFE_FRESH_IDLE_S = 2,    /* a report idle longer than this (Redis's seconds) is stale */
	/*
	 * A successor that could not fence the old master waits this long after its own
	 * report ended before it takes writes: the old master sees the report gone or
	 * stale within 3 s (idle > 2 in whole seconds), its failsafe hold ends at most
	 * 1.5 s after the last proof that passed (resec-lock --failsafe), and the fence
	 * takes a moment (docs/election.md, "The arithmetic").
	 */
	FAILSAFE_QUIET_MS = 5000,
	FAILSAFE_MAX_PEERS = 32,
};

/* One peer the master must hear from, or one it hears from. */
struct failsafe_peer {
	char host[256];
	int port;
};

/* What one look at the master's Redis proves. */
struct failsafe_proof {
	int have_view;                /* the keeper's connection is there */
	int n;                        /* peers in the view */
	int confirmed;                /* of which connected replicas reporting Consul unreachable */
	int reachable;                /* of which report that they reach Consul */
	char why[300];                /* the summary, or the first reason a peer is not confirmed */
};

/* The peers of a view name's list ("h:p,h:p"); their number, at most max. */
int failsafe_parse_view(const char *list, struct failsafe_peer *out, int max);

/*
 * Judge from the texts of INFO replication and CLIENT LIST (pure, for tests):
 * 1 when every peer of the view is confirmed and there is at least one, else 0,
 * with the details in *p.
 */
int failsafe_judge_text(const char *info, const char *clients, struct failsafe_proof *p);

/* Read INFO replication and CLIENT LIST on c (the master's Redis) and judge; -1 on a Redis error. */
int failsafe_judge(struct rdb_conn *c, struct failsafe_proof *p);

/* Set the name of connection c (CLIENT SETNAME); 0 or -1. */
int failsafe_set_name(struct rdb_conn *c, const char *name);

#endif
