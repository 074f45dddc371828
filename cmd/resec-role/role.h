/* SPDX-License-Identifier: MIT */
/* resec-role's parts: the role changes (main.c) and the guarded follow loop (follow.c). */
#ifndef RESEC_ROLE_H
#define RESEC_ROLE_H

#include "config.h"
#include "redis.h"

/* The parking address: a replica pointed here keeps its data and its history and copies from no one. */
#define ROLE_PARK_HOST "127.0.0.1"
enum { ROLE_PARK_PORT = 0 };

struct role {
	struct resec_config cfg;
	struct rdb_conn conn;     /* the local Redis */
	struct rdb_info info;     /* its INFO at the last look */
	struct hostport target;   /* replica, follow: the master to follow */
};

/*
 * Make the local Redis a replica of to (fenced while it changes, clients of a
 * former master killed, the role written into redis.conf, then unfenced);
 * a no-op when it already is one. Reads the local INFO first.
 */
int role_point(struct role *r, const struct hostport *to);

/* 1 when the local Redis (r->info, as last read) is a replica of to. */
int role_follows(const struct role *r, const struct hostport *to);

/* Connect to the target (with our credentials, or none if it has no password) and read its INFO. */
int role_probe_target(struct role *r, struct rdb_conn *t, struct rdb_info *ti);

/* Run op, reconnecting and retrying while Redis answers LOADING. */
int role_with_retry(struct role *r, int (*op)(struct role *));

/* fence-previous: fence the Redis of the lock's previous holder(s) (previous.c); 0, or -1 on a local Redis error. */
int role_fence_previous(struct role *r);

/* follow: replicate r->target and guard the link until a signal (docs/resec-role.md). Exit code. */
int role_follow(struct role *r);

#endif
