/* SPDX-License-Identifier: MIT */
/* test_redis_info: unit tests for the INFO parser of common/redis.c. */
#include <stdio.h>
#include <string.h>

#include "redis.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static int parse(const char *s, struct rdb_info *in)
{
	return rdb_info_parse(s, strlen(s), in);
}

static void test_master(void)
{
	struct rdb_info in;
	const char *s =
		"# Server\r\nredis_version:7.0.15\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n"
		"\r\n# Persistence\r\nloading:0\r\n"
		"# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
		"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n"
		"master_repl_offset:4242\r\n";
	CHECK(parse(s, &in) == 0);
	CHECK(in.role == RDB_ROLE_MASTER);
	CHECK(strcmp(in.redis_version, "7.0.15") == 0);
	CHECK(in.version_major == 7);
	CHECK(strcmp(in.run_id, "0123456789abcdef0123456789abcdef01234567") == 0);
	CHECK(in.loading == 0);
	CHECK(in.master_repl_offset == 4242);
	CHECK(in.slave_repl_offset == -1);
	CHECK(rdb_info_offset(&in) == 4242);
	CHECK(in.master_port == -1);
	CHECK(strcmp(rdb_role_name(in.role), "master") == 0);
}

static void test_replica(void)
{
	struct rdb_info in;
	const char *s =
		"# Replication\nrole:slave\nmaster_host:10.0.0.5\nmaster_port:6380\n"
		"master_link_status:down\nmaster_last_io_seconds_ago:-1\nmaster_sync_in_progress:1\n"
		"slave_repl_offset:17\nmaster_link_down_since_seconds:12\nmaster_repl_offset:99\n"
		"loading:1\n";
	CHECK(parse(s, &in) == 0);
	CHECK(in.role == RDB_ROLE_REPLICA);
	CHECK(strcmp(in.master_host, "10.0.0.5") == 0);
	CHECK(in.master_port == 6380);
	CHECK(in.link_up == 0);
	CHECK(in.sync_in_progress == 1);
	CHECK(in.link_down_since_s == 12);
	CHECK(in.loading == 1);
	CHECK(rdb_info_offset(&in) == 17);
	CHECK(strcmp(rdb_role_name(in.role), "replica") == 0);

	CHECK(parse("role:slave\r\nmaster_link_status:up\r\nmaster_link_down_since_seconds:-1\r\n", &in) == 0);
	CHECK(in.link_up == 1);
	CHECK(in.link_down_since_s == -1);
	CHECK(in.master_port == -1);
	CHECK(rdb_info_offset(&in) == -1);
}

/* Valkey 8 (as bookworm-backports ships it), its INFO verbatim where we read
 * it: the Redis field names, and redis_version is the Redis version it is
 * compatible with (7.2.4), which is what the feature gates need; the
 * valkey_version field beside it is not read. */
static void test_valkey8_replica(void)
{
	struct rdb_info in;
	const char *s =
		"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n"
		"redis_mode:standalone\r\nrun_id:80a628942a5c4188ef538c070db04b79545d087c\r\n"
		"# Persistence\r\nloading:0\r\nasync_loading:0\r\n"
		"# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:34371\r\n"
		"master_link_status:up\r\nmaster_last_io_seconds_ago:2\r\nmaster_sync_in_progress:0\r\n"
		"slave_read_repl_offset:50\r\nslave_repl_offset:50\r\nreplicas_repl_buffer_size:0\r\n"
		"replicas_repl_buffer_peak:0\r\nslave_priority:100\r\nslave_read_only:1\r\n"
		"replica_announced:1\r\nconnected_slaves:0\r\nreplicas_waiting_psync:0\r\n"
		"master_failover_state:no-failover\r\n"
		"master_replid:c389c00b916a58552acce0067e93adf6b38a0234\r\n"
		"master_replid2:0000000000000000000000000000000000000000\r\n"
		"master_repl_offset:50\r\nsecond_repl_offset:-1\r\n"
		"# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n";
	CHECK(parse(s, &in) == 0);
	CHECK(in.role == RDB_ROLE_REPLICA);
	CHECK(strcmp(in.redis_version, "7.2.4") == 0);
	CHECK(in.version_major == 7);
	CHECK(strcmp(in.master_host, "127.0.0.1") == 0);
	CHECK(in.master_port == 34371);
	CHECK(in.link_up == 1);
	CHECK(in.sync_in_progress == 0);
	CHECK(rdb_info_offset(&in) == 50);
	CHECK(in.keys == 1);
	CHECK(strcmp(in.replid, "c389c00b916a58552acce0067e93adf6b38a0234") == 0);
	CHECK(in.second_repl_offset == -1);
}

static void test_bad(void)
{
	struct rdb_info in;
	CHECK(parse("", &in) == -1);
	CHECK(parse("# Replication\r\n", &in) == -1);
	CHECK(parse("role:sentinel\r\n", &in) == -1);
	CHECK(parse("role\r\nmaster_port:6379\r\n", &in) == -1);
	/* Bad numbers are ignored, not half-parsed. */
	CHECK(parse("role:slave\nmaster_port:63x\nslave_repl_offset:99999999999999999999999\n", &in) == 0);
	CHECK(in.master_port == -1);
	CHECK(in.slave_repl_offset == -1);
	CHECK(parse("role:slave\nmaster_port:70000\n", &in) == 0);
	CHECK(in.master_port == -1);
	/* Not NUL-terminated: the parser reads exactly len bytes. */
	char buf[] = { 'r', 'o', 'l', 'e', ':', 'm', 'a', 's', 't', 'e', 'r', 'X' };
	CHECK(rdb_info_parse(buf, 11, &in) == 0 && in.role == RDB_ROLE_MASTER);
	CHECK(rdb_info_parse(buf, 12, &in) == -1);
	/* Embedded NUL and over-long lines are skipped. */
	const char nul[] = "role:mas\0ter\nrole:master\n";
	CHECK(rdb_info_parse(nul, sizeof(nul) - 1, &in) == 0 && in.role == RDB_ROLE_MASTER);
	char longl[2048];
	memset(longl, 'a', sizeof(longl));
	memcpy(longl, "run_id:", 7);
	longl[1000] = '\n';
	memcpy(longl + 1001, "role:master\n", 12);
	CHECK(rdb_info_parse(longl, 1013, &in) == 0 && in.run_id[0] == '\0');
	/* A long run_id is truncated, not overflowed. */
	CHECK(parse("role:master\nrun_id:0123456789012345678901234567890123456789XYZ\nredis_version:4.0.9\n", &in) == 0);
	CHECK(strlen(in.run_id) == 40);
	CHECK(in.version_major == 4);
}

int main(void)
{
	test_master();
	test_replica();
	test_valkey8_replica();
	test_bad();
	if (failures != 0) {
		fprintf(stderr, "test_redis_info: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_redis_info: ok\n");
	return 0;
}
