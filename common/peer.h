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
 */

enum { PEER_MAX_OVERRIDES = 64 };

/* What the election keys say. */
struct peer_flags {
	int maintenance;                          /* 1 when D/maintenance holds a non-empty value */
	size_t n;                                 /* priority overrides read */
	char addr[PEER_MAX_OVERRIDES][300];       /* HOST:PORT of each override */
	int priority[PEER_MAX_OVERRIDES];
};

/* The key D/name for the lock key of cfg ("name" alone when the lock key has no directory). */
void peer_key(const struct resec_config *cfg, const char *name, char *buf, size_t len);

/* Read D/ recursively into *f (absent keys are fine); a CONSUL_* code, c->err on failure. */
int peer_flags_read(struct consul *c, const struct resec_config *cfg, struct peer_flags *f);

/* The priority of the node at addr: its override when one is set, else dflt. */
int peer_priority(const struct peer_flags *f, const char *addr, int dflt);

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
