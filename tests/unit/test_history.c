/* SPDX-License-Identifier: MIT */
/* test_history: unit tests for common/history.c, on INFO texts as Redis 7 writes them. */
#include <stdio.h>
#include <string.h>

#include "history.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccc"
#define Z "0000000000000000000000000000000000000000"

/* The INFO of a Redis on history id (and id2 up to second), at offset, holding keys. */
static struct rdb_info info(const char *role, const char *id, const char *id2, long long second, long long offset,
                            long long keys)
{
	char text[1024];
	snprintf(text, sizeof(text),
	         "# Replication\r\nrole:%s\r\nmaster_replid:%s\r\nmaster_replid2:%s\r\nmaster_repl_offset:%lld\r\n"
	         "second_repl_offset:%lld\r\n\r\n# Keyspace\r\n%s",
	         role, id, id2, offset, second, keys > 0 ? "db0:keys=1,expires=0,avg_ttl=0\r\n" : "");
	if (keys > 1) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof(text) - n, "db3:keys=%lld,expires=2,avg_ttl=0\r\n", keys - 1);
	}
	struct rdb_info in;
	CHECK(rdb_info_parse(text, strlen(text), &in) == 0);
	return in;
}

static void test_parse(void)
{
	struct rdb_info in = info("slave", A, B, 77, 1234, 5);
	CHECK(strcmp(in.replid, A) == 0);
	CHECK(strcmp(in.replid2, B) == 0);
	CHECK(in.second_repl_offset == 77);
	CHECK(in.master_repl_offset == 1234);
	CHECK(in.keys == 5);
	struct rdb_info empty;
	CHECK(rdb_info_parse("role:master\n", 12, &empty) == 0);
	CHECK(empty.keys == 0 && empty.second_repl_offset == -1 && empty.replid[0] == '\0');
}

static void test_judge(void)
{
	struct rdb_info local = info("slave", A, Z, -1, 1000, 10);
	/* The master it followed, further on: a partial resync. */
	struct rdb_info same = info("master", A, Z, -1, 1500, 10);
	CHECK(history_judge(&same, &local) == HISTORY_CONTINUES);
	/* A replica promoted at 1000 or later continues ours; one promoted before does not. */
	struct rdb_info promoted = info("master", B, A, 1001, 1200, 10);
	CHECK(history_judge(&promoted, &local) == HISTORY_CONTINUES);
	struct rdb_info promoted_early = info("master", B, A, 900, 5000, 10);
	CHECK(history_continues(&promoted_early, &local) == 0);
	CHECK(history_judge(&promoted_early, &local) == HISTORY_AHEAD);
	/* Another history at our offset, or holding no key, is not taken for one that holds more. */
	struct rdb_info equal = info("master", C, Z, -1, 1000, 10);
	CHECK(history_judge(&equal, &local) == HISTORY_BEHIND);
	struct rdb_info keyless = info("master", C, Z, -1, 9000, 0);
	CHECK(history_judge(&keyless, &local) == HISTORY_BEHIND);
	struct rdb_info fewer = info("master", C, Z, -1, 9000, 9);
	CHECK(history_judge(&fewer, &local) == HISTORY_BEHIND);
	/* A replica's first full copy leaves it at offset 0: an empty restart at 0 is still behind it. */
	struct rdb_info fresh_copy = info("slave", A, Z, -1, 0, 1);
	CHECK(history_judge(&(struct rdb_info){ 0 }, &fresh_copy) == HISTORY_BEHIND);
	struct rdb_info restarted_zero = info("master", C, Z, -1, 0, 0);
	CHECK(history_judge(&restarted_zero, &fresh_copy) == HISTORY_BEHIND);
	/* The same master restarted empty (a new ID, offset 0), or from an older RDB (same ID, behind). */
	struct rdb_info restarted_empty = info("master", C, Z, -1, 0, 0);
	CHECK(history_judge(&restarted_empty, &local) == HISTORY_BEHIND);
	struct rdb_info older = info("master", A, Z, -1, 600, 8);
	CHECK(history_judge(&older, &local) == HISTORY_BEHIND);
	/* An empty local Redis loses nothing, whatever the master holds. */
	struct rdb_info empty_local = info("master", B, Z, -1, 0, 0);
	CHECK(history_judge(&restarted_empty, &empty_local) == HISTORY_EMPTY);
	CHECK(history_judge(&same, &empty_local) == HISTORY_EMPTY);
	/* The old master restarted from its RDB: a new ID, the old one as replid2, no write since. */
	struct rdb_info reloaded = info("master", C, A, 1001, 1000, 10);
	CHECK(history_judge(&promoted, &reloaded) == HISTORY_CONTINUES);
	CHECK(history_judge(&same, &reloaded) == HISTORY_CONTINUES);
	/* …but once it took a write of its own, the new master lacks that. */
	struct rdb_info reloaded_wrote = info("master", C, A, 1001, 1010, 11);
	CHECK(history_continues(&promoted, &reloaded_wrote) == 0);
	/* Missing fields (an old Redis) never read as a continuation. */
	struct rdb_info bare;
	CHECK(rdb_info_parse("role:master\n", 12, &bare) == 0);
	CHECK(history_continues(&bare, &local) == 0);
	CHECK(history_continues(&local, &bare) == 0);
	CHECK(history_judge(&bare, &local) == HISTORY_BEHIND);
	/* The all-zero replid2 of a Redis never promoted matches nothing. */
	struct rdb_info zero_local = info("slave", Z, Z, -1, 0, 3);
	CHECK(history_continues(&same, &zero_local) == 0);
	CHECK(strstr(history_describe(HISTORY_BEHIND), "less") != NULL);
}

int main(void)
{
	test_parse();
	test_judge();
	if (failures != 0) {
		fprintf(stderr, "test_history: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_history: ok\n");
	return 0;
}
