/* SPDX-License-Identifier: MIT */
/* peer: the cluster's election settings in Consul KV and a look at a peer's Redis. */
#ifndef RESEC_PEER_H
#define RESEC_PEER_H

#include <stddef.h>

#include "config.h"
#include "consul.h"
#include "json.h"
#include "redis.h"

/*
 * The election keys live beside the lock key, under its directory D
 * (CONSUL_LOCK_KEY "resec/.lock" → D "resec"):
 *   D/maintenance          any non-empty value: failover paused cluster-wide
 *   D/priority/HOST:PORT   a whole number overriding REDIS_PRIORITY of the
 *                          node whose announce address is HOST:PORT
 *   D/master-offset        the master's replication offset, written by its resec-health
 *                          run every ten intervals: how far replicas must have come
 *   D/switchover           HOST:PORT: a planned switchover (resec-switchover) hands
 *                          the free lock to that node only; held by the tool's session
 *   D/failsafe             HOST:PORT,HOST:PORT...: failsafe mode's members, written by
 *                          the master's keeper; only they may take a free lock
 */

enum { PEER_MAX_OVERRIDES = 64, PEER_MAX_BAD = 8 };

/*
 * What the election keys say. Keys of the wrong shape (written by hand, or by a
 * tool that died) are ignored, never fatal, and each leaves a note in bad[]
 * (printable, one line) that resec-status reports as a problem and resec-health
 * run logs once.
 */
struct peer_flags {
	int maintenance;                          /* 1 when D/maintenance holds a non-empty value */
	size_t n;                                 /* priority overrides read */
	char addr[PEER_MAX_OVERRIDES][300];       /* HOST:PORT of each override */
	int priority[PEER_MAX_OVERRIDES];
	char switchover[300];                     /* D/switchover: the one node that may take the lock, or "";
	                                           * only a HOST:PORT held by a live session */
	long long master_offset;                  /* D/master-offset, -1 when absent or malformed */
	size_t nbad;                              /* notes in bad[] */
	char bad[PEER_MAX_BAD][300];              /* why a key was ignored */
	int failsafe_set;                         /* D/failsafe is present */
	char failsafe[2048];                      /* its value: the members, HOST:PORT,HOST:PORT... */
};

/* The Consul service of a role: CONSUL_SERVICE_NAME in tag mode, else PREFIX-master or
 * PREFIX-CONSUL_REPLICA_ROLE_NAME. */
void peer_service_name(const struct resec_config *cfg, int master, char *buf, size_t len);

/* The key D/name for the lock key of cfg ("name" alone when the lock key has no directory). */
void peer_key(const struct resec_config *cfg, const char *name, char *buf, size_t len);

/* Read D/ recursively into *f (absent keys are fine); a CONSUL_* code, c->err on failure. */
int peer_flags_read(struct consul *c, const struct resec_config *cfg, struct peer_flags *f);

/* Every key under prefix (GET ?recurse, blocking per q, may be NULL) into a malloc'd array
 * (json_kv_free); none is CONSUL_OK with *n 0; a CONSUL_* code, c->err on failure. */
int peer_kv_list(struct consul *c, const char *prefix, const struct consul_query *q, struct json_kv_entry **e,
                 size_t *n);

/*
 * A switchover must name a node of the cluster: when f->switchover is no
 * instance's address in the replica service (any status), forget it with a note
 * (it would hold every election until deleted). One Consul read, only when a
 * switchover is set; a CONSUL_* code, c->err on failure.
 */
int peer_switchover_check(struct consul *c, const struct resec_config *cfg, struct peer_flags *f);

/* 1 when hp is an address we can use and print: a host (no spaces, controls, '/', '@',
 * brackets or non-ASCII) and a port 1..65535. */
int peer_addr_valid(const struct hostport *hp);

/* The priority of the node at addr: its override when one is set, else dflt. */
int peer_priority(const struct peer_flags *f, const char *addr, int dflt);

/* elect_stale (common/elect.c) on one INFO with the published offset of f and cfg's REDIS_MAX_LAG:
 * why a replica's data may be behind, into why ("" when it is not). */
void peer_stale(const struct resec_config *cfg, const struct peer_flags *f, const struct rdb_info *in,
                char *why, size_t len);

/* Publish the master's replication offset in D/master-offset (one KV write); a CONSUL_* code. */
int peer_publish_offset(struct consul *c, const struct resec_config *cfg, long long offset);

/* The value of a health entry's Service.Meta key, "" when absent. */
const char *peer_meta(const struct json_health_entry *e, const char *key);

/* The priority a health entry publishes in its Meta, dflt when absent or malformed. */
int peer_meta_priority(const struct json_health_entry *e, int dflt);

/* Where a health entry's Redis is: Service.Address (Node.Address when empty) and Service.Port. */
void peer_entry_addr(const struct json_health_entry *e, struct hostport *hp);

/*
 * Connect to the Redis at hp with cfg's credentials and HEALTHCHECK_TIMEOUT and
 * read INFO into *info; when fenced is not NULL also the fence state (1, 0, -1).
 * 0, or -1 with the reason in err.
 */
int peer_probe(const struct resec_config *cfg, const struct hostport *hp, struct rdb_info *info,
               int *fenced, char *err, size_t errlen);

#endif
