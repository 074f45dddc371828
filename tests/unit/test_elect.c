/* SPDX-License-Identifier: MIT */
/* test_elect: the election policy (common/elect.c) on tables of snapshots, one row per rule and edge. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "elect.h"
#include "tap.h"

/* Nodes of the tables: a replica of 10.0.0.9:6379 whose link went down 5 s ago (its master died), the
 * same with its link up (the master streams to it), a master. */
#define REPLICA(a, p, off, k) \
	{ .addr = a, .priority = p, .answered = 1, .role = RDB_ROLE_REPLICA, .offset = off, .keys = k, \
	  .master = { "10.0.0.9", 6379 }, .link_down_since_s = 5 }
#define LIVE(a, p, off, k) \
	{ .addr = a, .priority = p, .answered = 1, .role = RDB_ROLE_REPLICA, .offset = off, .keys = k, \
	  .master = { "10.0.0.9", 6379 }, .link_up = 1, .link_down_since_s = -1 }
#define MASTER(a, p, off, k) { .addr = a, .priority = p, .answered = 1, .role = RDB_ROLE_MASTER, .offset = off, .keys = k }

/* A cluster: the published offset, REDIS_MAX_LAG, how long the lock has been free; 11 s of deferral.
 * CLUSTER: nothing published, REDIS_MAX_LAG 1000, the lock free for 1 s. */
#define CL(published, lag, free) .master_offset = published, .max_lag = lag, .free_ms = free, .defer_ms = 11000
#define CLUSTER CL(-1, 1000, 1000)

struct decide_case {
	const char *name;
	struct elect_cluster c;
	struct elect_node self;
	struct elect_node peers[3];
	size_t n;
	int want;
	const char *says;    /* a part of the reason */
};

static const struct decide_case decide_cases[] = {
	{ "maintenance pauses failover", { CLUSTER, .maintenance = 1 }, REPLICA("10.0.0.1:6379", 100, 100, 1), { { .addr = "" } },
	  0, ELECT_WAIT, "maintenance mode on: failover paused" },
	{ "a switchover to us goes through maintenance", { CLUSTER, .maintenance = 1, .switchover = "10.0.0.1:6379" },
	  REPLICA("10.0.0.1:6379", 100, 100, 1), { REPLICA("10.0.0.2:6379", 100, 900, 1) }, 1, ELECT_CONTEND,
	  "eligible: switchover to this node" },
	{ "a switchover to us goes before priority 0 and a better peer", { CLUSTER, .switchover = "10.0.0.1:6379" },
	  REPLICA("10.0.0.1:6379", 0, 1, 1), { REPLICA("10.0.0.2:6379", 100, 900, 1) }, 1, ELECT_CONTEND,
	  "switchover to this node" },
	{ "a switchover to another node", { CLUSTER, .switchover = "10.0.0.2:6379" }, REPLICA("10.0.0.1:6379", 100, 900, 1),
	  { { .addr = "" } }, 0, ELECT_WAIT, "switchover to 10.0.0.2:6379 in progress" },
	{ "failsafe: not a member", { CLUSTER, .failsafe_members = "10.0.0.2:6379,10.0.0.3:6379" },
	  REPLICA("10.0.0.1:6379", 100, 100, 1), { { .addr = "" } }, 0, ELECT_WAIT,
	  "failsafe: 10.0.0.1:6379 is not a member of the failsafe view" },
	{ "failsafe: no member contends, even the switchover's target", { CLUSTER, .failsafe_members = "",
	  .switchover = "10.0.0.1:6379" }, REPLICA("10.0.0.1:6379", 100, 100, 1), { { .addr = "" } }, 0, ELECT_WAIT,
	  "not a member" },
	{ "failsafe: a member goes on", { CLUSTER, .failsafe_members = "10.0.0.2:6379,10.0.0.1:6379" },
	  REPLICA("10.0.0.1:6379", 100, 100, 1), { { .addr = "" } }, 0, ELECT_CONTEND, "eligible offset=100 priority=100" },
	{ "priority 0 is never promoted, even alone", { CLUSTER }, REPLICA("10.0.0.1:6379", 0, 100, 1), { { .addr = "" } },
	  0, ELECT_WAIT, "priority 0: this node is never promoted" },
	{ "stale by lag, a usable peer: defer to it", { CL(5000, 1000, 1000) }, REPLICA("10.0.0.1:6379", 100, 3000, 1),
	  { REPLICA("10.0.0.2:6379", 100, 4500, 1) }, 1, ELECT_WAIT,
	  "local replica 2000 bytes behind the offset the master published (5000; REDIS_MAX_LAG 1000): deferring to "
	  "10.0.0.2:6379" },
	{ "stale by lag, no usable peer: nobody is promoted", { CL(5000, 1000, 1000) },
	  REPLICA("10.0.0.1:6379", 100, 3000, 1), { REPLICA("10.0.0.2:6379", 100, 3500, 1) }, 1, ELECT_WAIT,
	  "no eligible replica: not promoting (local replica 2000 bytes behind" },
	{ "exactly REDIS_MAX_LAG behind is not stale", { CL(5000, 1000, 1000) }, REPLICA("10.0.0.1:6379", 100, 4000, 1),
	  { { .addr = "" } }, 0, ELECT_CONTEND, "eligible offset=4000" },
	{ "REDIS_MAX_LAG 0: no lag rule", { CL(5000, 0, 1000) }, REPLICA("10.0.0.1:6379", 100, 1, 1),
	  { { .addr = "" } }, 0, ELECT_CONTEND, "eligible offset=1" },
	{ "a master (cold start) is never stale", { CL(5000, 1000, 1000) }, MASTER("10.0.0.1:6379", 100, 0, 0),
	  { { .addr = "" } }, 0, ELECT_CONTEND, "eligible offset=0" },
	{ "no usable peer: contend", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1), { { .addr = "" } }, 0, ELECT_CONTEND,
	  "eligible offset=100 priority=100" },
	{ "higher offset than the peers", { CLUSTER }, REPLICA("10.0.0.3:6379", 100, 200, 1),
	  { REPLICA("10.0.0.1:6379", 900, 199, 1), REPLICA("10.0.0.2:6379", 100, 150, 1) }, 2, ELECT_CONTEND,
	  "eligible offset=200" },
	{ "a peer further ahead: defer while the lock is young", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 50, 150, 1) }, 1, ELECT_WAIT,
	  "deferring to 10.0.0.2:6379 (offset 150 priority 50; ours 100 priority 100)" },
	{ "a peer further ahead that did not take the lock in time", { CL(-1, 1000, 11000) },
	  REPLICA("10.0.0.1:6379", 100, 100, 1), { REPLICA("10.0.0.2:6379", 100, 150, 1) }, 1, ELECT_CONTEND,
	  "eligible offset=100 priority=100: 10.0.0.2:6379 did not take the lock within 11000ms" },
	{ "the best of several peers is named", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 100, 150, 1), REPLICA("10.0.0.4:6379", 100, 170, 1),
	    REPLICA("10.0.0.3:6379", 100, 170, 1) }, 3, ELECT_WAIT, "deferring to 10.0.0.3:6379 (offset 170" },
	{ "same offset: higher priority wins", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 101, 100, 1) }, 1, ELECT_WAIT, "deferring to 10.0.0.2:6379" },
	{ "same offset and priority: lower address wins", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 100, 100, 1) }, 1, ELECT_CONTEND, "eligible" },
	{ "same offset and priority, higher address: defer", { CLUSTER }, REPLICA("10.0.0.2:6379", 100, 100, 1),
	  { REPLICA("10.0.0.1:6379", 100, 100, 1) }, 1, ELECT_WAIT, "deferring to 10.0.0.1:6379" },
	{ "S4: empty never goes ahead of a peer with data", { CL(-1, 1000, 1000000) }, MASTER("10.0.0.1:6379", 100, 0, 0),
	  { REPLICA("10.0.0.2:6379", 100, 150, 3) }, 1, ELECT_WAIT,
	  "this redis is empty: deferring to 10.0.0.2:6379, which holds data (offset 150)" },
	{ "S4: a peer without keys is waited for only until the bound", { CL(-1, 1000, 1000000) },
	  MASTER("10.0.0.1:6379", 100, 0, 0), { REPLICA("10.0.0.2:6379", 100, 150, 0) }, 1, ELECT_CONTEND,
	  "did not take the lock" },
	{ "S4: a node with keys is not empty", { CL(-1, 1000, 1000000) }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 100, 150, 3) }, 1, ELECT_CONTEND, "did not take the lock" },
	{ "a priority-0 peer is not usable", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { REPLICA("10.0.0.2:6379", 0, 900, 1) }, 1, ELECT_CONTEND, "eligible offset=100" },
	{ "a peer whose redis did not answer is not usable", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { { .addr = "10.0.0.2:6379", .priority = 100, .offset = 900 } }, 1, ELECT_CONTEND, "eligible offset=100" },
	{ "a stale peer is not usable", { CL(5000, 1000, 1000) }, REPLICA("10.0.0.1:6379", 100, 4500, 1),
	  { REPLICA("10.0.0.2:6379", 100, 3000, 1) }, 1, ELECT_CONTEND, "eligible offset=4500" },
	{ "a master peer is usable and ranks by its offset", { CLUSTER }, REPLICA("10.0.0.1:6379", 100, 100, 1),
	  { MASTER("10.0.0.2:6379", 100, 150, 1) }, 1, ELECT_WAIT, "deferring to 10.0.0.2:6379" },
	{ "both stream from one live master: offsets are not final, priority decides",
	  { CLUSTER }, LIVE("10.0.0.1:6379", 200, 100, 1), { LIVE("10.0.0.2:6379", 100, 150, 1) }, 1,
	  ELECT_CONTEND, "eligible offset=100 priority=200" },
};

/* The streaming rule needs a peer that follows another master, or whose link is down. */
static void test_streaming(void)
{
	struct elect_cluster c = { CLUSTER };
	struct elect_node self = LIVE("10.0.0.1:6379", 200, 100, 1);
	struct elect_node peer = LIVE("10.0.0.2:6379", 100, 150, 1);
	char why[400];
	peer.master.port = 6380;
	check(elect_decide(&c, &self, &peer, 1, why, sizeof(why)) == ELECT_WAIT,
	      "streaming from different masters: the offset ranks (%s)", why);
	peer.master.port = 6379;
	self.link_up = 0;
	self.link_down_since_s = 3;
	check(elect_decide(&c, &self, &peer, 1, why, sizeof(why)) == ELECT_WAIT,
	      "our link down: the offset ranks (%s)", why);
}

static void test_decide(void)
{
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *t = &decide_cases[i];
		char why[400];
		int got = elect_decide(&t->c, &t->self, t->peers, t->n, why, sizeof(why));
		check(got == t->want && strstr(why, t->says) != NULL, "decide: %s: %s (%d)", t->name, why, got);
	}
}

struct stale_case {
	long long published, max_lag;
	struct elect_node n;
	const char *says;    /* "" for not stale */
};

static const struct stale_case stale_cases[] = {
	{ 110, 10, REPLICA("a:1", 100, 100, 1), "" },
	{ 111, 10, REPLICA("a:1", 100, 100, 1), "11 bytes behind" },
	{ -1, 10, REPLICA("a:1", 100, 100, 1), "" },
	{ 5, 10, REPLICA("a:1", 100, 100, 1), "" },
	{ LLONG_MAX, 10, REPLICA("a:1", 100, -1, 1), "9223372036854775808 bytes behind" },
	{ LLONG_MAX, 10, REPLICA("a:1", 100, LLONG_MIN, 1), "18446744073709551615 bytes behind" },
	{ LLONG_MAX, LLONG_MAX, REPLICA("a:1", 100, LLONG_MIN, 1), "18446744073709551615 bytes behind" },
	{ LLONG_MAX, LLONG_MAX, REPLICA("a:1", 100, 100, 1), "" },
	{ LLONG_MAX, 0, REPLICA("a:1", 100, -1, 1), "" },
	{ LLONG_MAX, 10, MASTER("a:1", 100, 0, 0), "" },
	{ -1, 0, { .role = RDB_ROLE_REPLICA, .link_down_since_s = -1 }, "never synced" },
	{ -1, 0, LIVE("a:1", 100, 100, 1), "" },
	{ -1, 0, { .role = RDB_ROLE_REPLICA, .link_down_since_s = 31, .syncing = 1 }, "syncing with its master" },
	{ -1, 0, { .role = RDB_ROLE_REPLICA, .link_down_since_s = LLONG_MAX }, "" },
	{ -1, 0, { .role = RDB_ROLE_UNKNOWN, .link_down_since_s = -1 }, "" },
};

static void test_stale(void)
{
	for (size_t i = 0; i < sizeof(stale_cases) / sizeof(stale_cases[0]); i++) {
		const struct stale_case *t = &stale_cases[i];
		struct elect_cluster c = { .master_offset = t->published, .max_lag = t->max_lag };
		char why[200];
		elect_stale(&c, &t->n, why, sizeof(why));
		int ok = t->says[0] == '\0' ? why[0] == '\0' : strstr(why, t->says) != NULL;
		check(ok, "stale: published %lld, max lag %lld, offset %lld: \"%s\"", t->published, t->max_lag,
		      t->n.offset, why);
	}
}

static void test_rank(void)
{
	struct elect_node a = { .addr = "b:1", .offset = LLONG_MAX }, b = { .addr = "a:1", .offset = LLONG_MIN };
	check(elect_ranks_before(&a, &b) && !elect_ranks_before(&b, &a), "rank: offsets at both ends rank by offset");
	b.offset = LLONG_MAX;
	a.priority = INT_MAX;
	b.priority = INT_MIN;
	check(elect_ranks_before(&a, &b), "rank: then by priority");
	b.priority = INT_MAX;
	check(elect_ranks_before(&b, &a) && !elect_ranks_before(&a, &b), "rank: then by address");
	check(!elect_ranks_before(&a, &a), "rank: a node does not rank before itself");
}

static void test_empty(void)
{
	struct elect_node m = MASTER("a:1", 100, 0, 0);
	check(elect_restarted_empty(&m), "empty: a master at offset 0");
	m.keys = 5;
	check(elect_restarted_empty(&m), "empty: a master at offset 0 with keys (the rule is the offset)");
	m.offset = 1;
	check(!elect_restarted_empty(&m), "empty: a master at offset 1 is not");
	struct elect_node r = REPLICA("a:1", 100, 0, 0);
	check(!elect_restarted_empty(&r), "empty: a replica at offset 0 is not (it follows a master)");
	struct elect_node silent = { .role = RDB_ROLE_MASTER };
	check(!elect_restarted_empty(&silent), "empty: a Redis that did not answer is not");
}

static void test_switchover(void)
{
	struct hostport m = { "10.0.0.9", 6379 };
	char buf[200];
	struct elect_node n = LIVE("a:1", 100, 100, 1);
	check(elect_switchover_unfit(&n, &m, "10.0.0.9:6379", buf, sizeof(buf)) == NULL, "switchover: a fit replica");
	n.link_up = 0;
	check(strcmp(elect_switchover_unfit(&n, &m, "10.0.0.9:6379", buf, sizeof(buf)),
	             "its link to the master is down") == 0, "switchover: link down");
	n.link_up = 1;
	n.priority = 0;
	check(strstr(elect_switchover_unfit(&n, &m, "10.0.0.9:6379", buf, sizeof(buf)), "priority is 0") != NULL,
	      "switchover: priority 0");
	n.priority = 100;
	n.master.port = 6380;
	const char *why = elect_switchover_unfit(&n, &m, "10.0.0.9:6379", buf, sizeof(buf));
	check(strcmp(why, "it replicates 10.0.0.9:6380, not the master 10.0.0.9:6379") == 0, "switchover: %s", why);
	struct elect_node master = MASTER("a:1", 100, 100, 1);
	check(strcmp(elect_switchover_unfit(&master, &m, "x", buf, sizeof(buf)), "it is not a replica") == 0,
	      "switchover: a master");
	struct elect_node silent = { .priority = 100 };
	check(strcmp(elect_switchover_unfit(&silent, &m, "x", buf, sizeof(buf)), "its redis does not answer") == 0,
	      "switchover: no answer");
	n.master.port = 6379;
	n.offset = 0;
	check(elect_switchover_unfit(&n, &m, "x", buf, sizeof(buf)) == NULL,
	      "switchover: far behind is fit (the target catches up with the fenced master first)");
}

static void test_small_rules(void)
{
	check(elect_too_far_behind(10, 100, 89) && !elect_too_far_behind(10, 100, 90), "behind: the edge");
	check(!elect_too_far_behind(0, LLONG_MAX, LLONG_MIN), "behind: max lag 0 is no limit");
	check(!elect_too_far_behind(10, -1, LLONG_MIN), "behind: nothing ahead (-1) is no rule");
	check(elect_too_far_behind(LLONG_MAX, LLONG_MAX, LLONG_MIN), "behind: both ends, no overflow");
	check(elect_defer_ms(5000, 1000) == 11000, "defer: 2 intervals and a lock-delay");
	struct rdb_info in;
	memset(&in, 0, sizeof(in));
	in.role = RDB_ROLE_REPLICA;
	in.slave_repl_offset = 42;
	in.master_repl_offset = 7;
	in.keys = 3;
	in.link_up = 1;
	in.master_port = 6379;
	snprintf(in.master_host, sizeof(in.master_host), "10.0.0.9");
	struct elect_node n;
	memset(&n, 0, sizeof(n));
	elect_node_from_info(&n, &in);
	check(n.answered && n.offset == 42 && n.keys == 3 && n.link_up && n.master.port == 6379 &&
	      strcmp(n.master.host, "10.0.0.9") == 0, "from_info: a replica's offset is slave_repl_offset");
	char why[100] = "x";
	struct elect_cluster c = { .maintenance = 1, .switchover = "" };
	check(elect_paused(&c, why, sizeof(why)) && strstr(why, "maintenance") != NULL, "paused: maintenance");
	c.switchover = "a:1";
	check(!elect_paused(&c, why, sizeof(why)), "paused: not during a switchover");
}

int main(void)
{
	test_decide();
	test_streaming();
	test_stale();
	test_rank();
	test_empty();
	test_switchover();
	test_small_rules();
	return tap_done();
}
