/* SPDX-License-Identifier: MIT */
/* fuzz_redis_reply: RESP from a hostile Redis through the whole Redis layer: reading with caps, INFO, roles, fences. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: byte 0 picks the operation (and small or default caps), byte 1 the
 * length (0-15) of a password that follows, the rest is everything "Redis"
 * sends, after which it closes its sending side (so a short answer ends at
 * EOF, not at the timeout).
 */
static int run_op(struct rdb_conn *c, int op)
{
	struct rdb_info in;
	long long v = 0;
	static const char *names[] = { "config", "replicaof", "client" };
	switch (op) {
	case 0:
		return rdb_ping(c);
	case 1: {
		int rc = rdb_info(c, &in);
		/* A parsed INFO always names a role, and its strings end within their arrays. */
		if (rc == 0 && ((in.role != RDB_ROLE_MASTER && in.role != RDB_ROLE_REPLICA) ||
		                strlen(in.run_id) >= sizeof(in.run_id) || strlen(in.master_host) >= sizeof(in.master_host)))
			abort();
		if (rc == 0) {
			/* The election's staleness rule on whatever INFO said, against a published
			 * offset at both ends of its range (UBSan watches the arithmetic). */
			static struct resec_config cfg;
			struct peer_flags f;
			char why[200];
			memset(&f, 0, sizeof(f));
			cfg.redis_max_lag = 10 * 1024 * 1024;
			cfg.lock_ttl_ms = 15000;
			for (int i = 0; i < 3; i++) {
				f.master_offset = i == 0 ? 0x7fffffffffffffffLL : i == 1 ? 0 : rdb_info_offset(&in);
				peer_stale(&cfg, &f, &in, why, sizeof(why));
			}
		}
		(void)rdb_role_name(in.role);
		return rc;
	}
	case 2:
		return rdb_config_get_int(c, "min-replicas-to-write", &v);
	case 3:
		return rdb_require_commands(c, 3, names);
	case 4:
		return rdb_fenced(c) < 0 ? -1 : 0;
	case 5:
		return rdb_fence(c);
	case 6:
		return rdb_unfence(c);
	default:
		return rdb_config_rewrite(c) < 0 ? -1 : 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int op = data[0] & 7, small = (data[0] >> 3) & 1;
	size_t pwlen = data[1] & 15;
	if (size < 2 + pwlen)
		return 0;
	char pw[16];
	memcpy(pw, data + 2, pwlen);
	pw[pwlen] = '\0';
	const uint8_t *wire = data + 2 + pwlen;
	size_t wlen = size - 2 - pwlen;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (wlen > 0 && write(sv[1], wire, wlen) < 0) {
		/* A socket buffer full: the rest is simply not sent. */
	}
	shutdown(sv[1], SHUT_WR);

	struct secret sec;
	memset(&sec, 0, sizeof(sec));
	secret_set(&sec, pw);
	struct rdb_opts o;
	memset(&o, 0, sizeof(o));
	memcpy(o.addr.host, "fuzz", 5);
	o.addr.port = 6379;
	o.password = &sec;
	o.timeout_ms = 1000;
	if (small) {
		o.max_reply_bytes = 300;
		o.max_reply_elements = 8;
	}
	struct rdb_conn c;
	rdb_init(&c, &o);
	if (rdb_attach_fd(&c, sv[0]) == 0) {
		int rc = run_op(&c, op);
		if (rc < 0) {
			/* One clear error: set, one line, never the password. */
			if (c.err[0] == '\0' || strlen(c.err) >= sizeof(c.err) || strchr(c.err, '\n') != NULL ||
			    c.err_kind <= RDB_OK || c.err_kind > RDB_E_PROTO)
				abort();
			if (pw[0] != '\0' && strstr(c.err, pw) != NULL)
				abort();
			/* A failure on the wire leaves no half-read connection behind. */
			if (c.err_kind == RDB_E_IO && rdb_connected(&c) && strstr(c.err, "not connected") == NULL)
				abort();
		}
	}
	rdb_close(&c);
	close(sv[1]);
	return 0;
}
