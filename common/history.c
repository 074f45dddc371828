/* SPDX-License-Identifier: MIT */
/* history: may a Redis take a copy of a master's data, or would it lose data it holds? (S5) */
#include <string.h>

#include "history.h"

/* A replication ID that names a history: 40 characters, not the all-zero placeholder. */
static int real_id(const char *id)
{
	return strlen(id) == 40 && strspn(id, "0") != 40;
}

/*
 * Redis's own PSYNC rule, seen from the replica (replication.c,
 * masterTryPartialResynchronization): the master serves offset+1 on our ID
 * when the ID is its current one and it has reached our offset, or when the
 * ID is its previous one (replid2) and ours ends before second_repl_offset.
 */
static int continues_id(const struct rdb_info *master, const char *id, long long offset)
{
	if (!real_id(id) || offset < 0 || master->master_repl_offset < 0)
		return 0;
	if (strcmp(master->replid, id) == 0)
		return master->master_repl_offset >= offset;
	return strcmp(master->replid2, id) == 0 && offset < master->second_repl_offset;
}

/*
 * A master restarted from its RDB takes a new ID and keeps the old one as
 * replid2 (second_repl_offset = its offset + 1): until it takes a write, its
 * data is exactly the old history's, and a master that continues that one
 * holds all of it (Redis will still copy it whole: it asks with the new ID).
 */
int history_continues(const struct rdb_info *master, const struct rdb_info *local)
{
	long long off = local->master_repl_offset;
	if (continues_id(master, local->replid, off))
		return 1;
	return off >= 0 && off + 1 == local->second_repl_offset && continues_id(master, local->replid2, off);
}

enum history_verdict history_judge(const struct rdb_info *master, const struct rdb_info *local)
{
	if (history_continues(master, local))
		return HISTORY_CONTINUES;
	if (local->keys == 0)
		return HISTORY_EMPTY;
	/*
	 * Another history. Its offset compares with ours only roughly (a master
	 * that restarted empty starts again from 0, and so does a replica's
	 * first full copy; a master counts nothing before its first replica):
	 * only a master strictly further on that holds at least as many keys is
	 * taken for one that holds more. Anything else is the operator's call.
	 */
	if (master->keys > 0 && master->keys >= local->keys && master->master_repl_offset > local->master_repl_offset)
		return HISTORY_AHEAD;
	return HISTORY_BEHIND;
}

const char *history_describe(enum history_verdict v)
{
	switch (v) {
	case HISTORY_CONTINUES:
		return "continues this redis's replication history";
	case HISTORY_EMPTY:
		return "this redis holds no key";
	case HISTORY_AHEAD:
		return "another replication history at a higher offset: a full copy replaces this redis's data";
	case HISTORY_BEHIND:
		return "holds less than this redis (an empty or older restart): a full copy would lose data";
	}
	return "unknown";
}
