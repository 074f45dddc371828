/* SPDX-License-Identifier: MIT */
/* masterdown: replicas that find a dead master themselves and end its lock session (docs/resec-lock.md). */
#ifndef RESEC_HEALTH_MASTERDOWN_H
#define RESEC_HEALTH_MASTERDOWN_H

#include "config.h"
#include "redis.h"

struct masterdown;

/*
 * Start the detector's thread (REDIS_MASTER_DOWN_AFTER > 0; NULL when it is 0
 * or cannot start, with a log line). voter is this replica's Redis run_id: the
 * name of its vote, as its registration publishes it in Meta run_id.
 */
struct masterdown *masterdown_start(const struct resec_config *cfg, const char *voter);

/* After each look at the local Redis: a replica whose link is up names the master to watch. */
void masterdown_local(struct masterdown *m, const struct rdb_info *local);

/* Stop the thread and take back any vote (NULL is fine). */
void masterdown_stop(struct masterdown *m);

#endif
