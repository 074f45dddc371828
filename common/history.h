/* SPDX-License-Identifier: MIT */
/* history: may a Redis take a copy of a master's data, or would it lose data it holds? (S5) */
#ifndef RESEC_HISTORY_H
#define RESEC_HISTORY_H

#include "redis.h"

/*
 * A replica that connects to a master either continues from where it is
 * (PSYNC: the master's replication history contains ours) or throws its data
 * away for a full copy. The verdict says which, and whether the copy would hold
 * less than what is thrown away: an empty or older restart of a master at an
 * address the replica still follows.
 */
enum history_verdict {
	HISTORY_CONTINUES, /* the master's history continues ours, at least as far: nothing is lost */
	HISTORY_EMPTY,     /* this Redis holds no key: nothing to lose */
	HISTORY_AHEAD,     /* another history, further on and with as many keys: a full copy, logged */
	HISTORY_BEHIND     /* the master holds less (an empty or older restart): refuse it */
};

/* Judge master (its INFO) as a source for local (ours); pure. */
enum history_verdict history_judge(const struct rdb_info *master, const struct rdb_info *local);

/* 1 when the master's history continues ours (a partial resync loses nothing). */
int history_continues(const struct rdb_info *master, const struct rdb_info *local);

/* One phrase for logs: "continues this replica's history", "holds less than this replica", … */
const char *history_describe(enum history_verdict v);

#endif
