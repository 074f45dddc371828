/* SPDX-License-Identifier: MIT */
/* probe: look at several Redis servers at once, so that dead ones cost one timeout in all, not one each. */
#ifndef RESEC_PROBE_H
#define RESEC_PROBE_H

#include <stddef.h>

#include "config.h"
#include "redis.h"

/* One Redis to look at, and what the look found. */
struct probe {
	struct hostport hp;     /* in: where it is */
	int ok;                 /* out: 1 when INFO was read */
	struct rdb_info info;   /* out: its INFO when ok */
	char err[256];          /* out: why not, when not ok */
};

/*
 * peer_probe every element of p (without the fence state) at the same time,
 * each in a thread of its own with cfg's credentials and HEALTHCHECK_TIMEOUT
 * for its whole look: all of them end within about one HEALTHCHECK_TIMEOUT
 * (in waves of PROBE_MAX_THREADS when there are more). Never fails: a look
 * that cannot run (no thread) is done in the calling thread.
 */
void probe_many(const struct resec_config *cfg, struct probe *p, size_t n);

enum { PROBE_MAX_THREADS = 32 };

#endif
