/* SPDX-License-Identifier: MIT */
/* test_peer: the election's staleness rule through peer_stale at the ends of its ranges (run under UBSan);
 * the ranking and the rest of the policy are in test_elect. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "peer.h"
#include "tap.h"

static struct resec_config cfg;

static struct rdb_info replica(long long offset, int link_up, long long down_s)
{
	struct rdb_info in;
	memset(&in, 0, sizeof(in));
	in.role = RDB_ROLE_REPLICA;
	in.slave_repl_offset = offset;
	in.master_repl_offset = offset;
	in.link_up = link_up;
	in.link_down_since_s = down_s;
	return in;
}

static const char *stale(long long published, const struct rdb_info *in)
{
	static char why[200];
	struct peer_flags f;
	memset(&f, 0, sizeof(f));
	f.master_offset = published;
	peer_stale(&cfg, &f, in, why, sizeof(why));
	return why;
}

static void test_lag(void)
{
	cfg.redis_max_lag = 10;
	cfg.lock_ttl_ms = 15000;
	struct rdb_info in = replica(100, 1, 0);
	check(stale(110, &in)[0] == '\0', "10 bytes behind with REDIS_MAX_LAG 10 is fine");
	check(strstr(stale(111, &in), "11 bytes behind") != NULL, "11 bytes behind is stale: %s", stale(111, &in));
	check(stale(-1, &in)[0] == '\0', "nothing published: not stale by lag");
	check(stale(5, &in)[0] == '\0', "ahead of what was published: fine");

	/* The published offset comes from KV, the replica's from its INFO: either may be extreme. */
	struct rdb_info unknown = replica(-1, 1, 0);
	check(strstr(stale(LLONG_MAX, &unknown), "9223372036854775808 bytes behind") != NULL,
	      "published LLONG_MAX, offset unknown (-1): stale, no overflow: %s", stale(LLONG_MAX, &unknown));
	struct rdb_info lowest = replica(LLONG_MIN, 1, 0);
	check(strstr(stale(LLONG_MAX, &lowest), "18446744073709551615 bytes behind") != NULL,
	      "published LLONG_MAX, offset LLONG_MIN: %s", stale(LLONG_MAX, &lowest));
	struct rdb_info top = replica(LLONG_MAX, 1, 0);
	check(stale(LLONG_MAX, &top)[0] == '\0', "both at LLONG_MAX: fine");
	check(stale(0, &top)[0] == '\0', "replica at LLONG_MAX, published 0: fine");
	cfg.redis_max_lag = LLONG_MAX;
	check(strstr(stale(LLONG_MAX, &lowest), "18446744073709551615 bytes behind") != NULL,
	      "REDIS_MAX_LAG at its maximum, 2^64-1 behind: stale, no overflow");
	check(stale(LLONG_MAX, &in)[0] == '\0', "REDIS_MAX_LAG LLONG_MAX: 100 vs LLONG_MAX is within it");
	cfg.redis_max_lag = 0;
	check(stale(LLONG_MAX, &unknown)[0] == '\0', "REDIS_MAX_LAG 0: no lag limit");
}

static void test_link(void)
{
	cfg.redis_max_lag = 0;
	cfg.lock_ttl_ms = 15000;
	/* How long the link is down is no rule (docs/election.md): every replica's is when the master dies. */
	struct rdb_info in = replica(100, 0, LLONG_MAX);
	check(stale(-1, &in)[0] == '\0', "link down LLONG_MAX seconds: not stale by itself: %s", stale(-1, &in));
	in = replica(100, 0, -1);
	check(strstr(stale(-1, &in), "never synced") != NULL, "never synced");
	in = replica(100, 0, 31);
	check(stale(-1, &in)[0] == '\0', "down 31 s with TTL 15 s: not stale by itself");
	in = replica(100, 0, 31);
	in.sync_in_progress = 1;
	check(strstr(stale(-1, &in), "syncing") != NULL, "syncing: stale");
}

int main(void)
{
	test_lag();
	test_link();
	return tap_done();
}
