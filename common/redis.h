/* SPDX-License-Identifier: MIT */
/* redis: a Redis connection on hiredis 0.14 with timeouts, AUTH, INFO parsing and fencing. */
#ifndef RESEC_REDIS_H
#define RESEC_REDIS_H

/*
 * Every exported name starts with rdb_ (or RDB_): hiredis owns redis* and the
 * glib adapter redis_source_*, so the module's prefix is kept apart from both.
 * Functions return 0 or -1 and leave a message in conn->err (which never holds
 * the password) and a kind in conn->err_kind; they never print or exit.
 */

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"

/* What went wrong, so that programs can choose an exit code. */
enum rdb_err_kind {
	RDB_OK = 0,
	RDB_E_IO,        /* cannot connect, timeout, connection closed: Redis unavailable */
	RDB_E_AUTH,      /* WRONGPASS, NOAUTH, invalid password: configuration */
	RDB_E_LOADING,   /* LOADING: Redis is reading its dataset, try again later */
	RDB_E_REFUSED,   /* unknown (renamed) command, NOPERM: configuration */
	RDB_E_REPLY,     /* any other error reply */
	RDB_E_PROTO      /* an answer of an unexpected shape */
};

enum rdb_role { RDB_ROLE_UNKNOWN = 0, RDB_ROLE_MASTER, RDB_ROLE_REPLICA };

/* The INFO fields resec uses; numbers are -1 when INFO did not give them. */
struct rdb_info {
	int role;                      /* enum rdb_role */
	char master_host[256];         /* replica: the master it follows */
	int master_port;
	int link_up;                   /* master_link_status:up */
	long long link_down_since_s;   /* master_link_down_since_seconds */
	int sync_in_progress;          /* master_sync_in_progress:1 */
	int loading;                   /* loading:1 */
	long long master_repl_offset;
	long long slave_repl_offset;
	char run_id[41];
	char replid[41];               /* master_replid: the history this Redis is on */
	char replid2[41];              /* master_replid2: the history it continued (after a promotion) */
	long long second_repl_offset;  /* where replid2's history ended, -1 when none */
	long long keys;                /* keys in every database (INFO keyspace) */
	char redis_version[32];
	int version_major;             /* 7 for "7.0.15", 0 when unknown; Valkey 8 says 7 (7.2.4) */
};

/*
 * Caps on what one reply may make us hold: a broken or hostile Redis cannot
 * make a program grow without bound. The largest reply resec reads is INFO
 * (about 5 KB) or COMMAND INFO of three commands (about 400 elements, arrays
 * nested 5 deep); past a cap the command fails with RDB_E_IO.
 */
#define RDB_MAX_REPLY_BYTES ((size_t)1024 * 1024) /* bytes received for one reply */
#define RDB_MAX_REPLY_ELEMENTS 16384       /* array elements announced in one reply, all levels */
#define RDB_MAX_REPLY_DEPTH 7              /* arrays inside arrays (hiredis 0.14 cannot go deeper) */

/* Connection settings; password points at the caller's secret (may be NULL). */
struct rdb_opts {
	struct hostport addr;
	const char *username;          /* ACL user, NULL or "" for the default user */
	const struct secret *password;
	int64_t timeout_ms;            /* bound of a whole command: connect, or send and the full reply */
	size_t max_reply_bytes;        /* 0: RDB_MAX_REPLY_BYTES (smaller values are for tests) */
	int max_reply_elements;        /* 0: RDB_MAX_REPLY_ELEMENTS */
};

/* A connection handle: zero it (or rdb_init) before use. */
struct rdb_conn {
	void *ctx_;                    /* redisContext *, NULL when closed */
	struct rdb_opts opts;
	int64_t deadline_ms;           /* rdb_set_deadline: clock_now_ms() bound of everything, 0 none */
	int err_kind;                  /* enum rdb_err_kind of the last failure */
	int peer_closed;               /* the last RDB_E_IO was Redis closing or resetting the connection */
	int conn_refused;              /* the last rdb_connect was refused: nothing listens on the address */
	char err[256];
};

/* Fill o from the shared configuration (REDIS_ADDR, REDIS_USERNAME, REDIS_PASSWORD, HEALTHCHECK_TIMEOUT). */
void rdb_opts_from_config(struct rdb_opts *o, const struct resec_config *cfg);

/* Zero c and keep a copy of o for (re)connections. */
void rdb_init(struct rdb_conn *c, const struct rdb_opts *o);

/*
 * Connect, and AUTH when a password or user is set, all within one timeout
 * (and the deadline, when one is set).
 */
int rdb_connect(struct rdb_conn *c);

/*
 * Use fd, an already connected stream socket, as the connection (no AUTH):
 * for tests and the fuzzer, which play Redis on the other end. The handle
 * owns fd from now on, also when this fails.
 */
int rdb_attach_fd(struct rdb_conn *c, int fd);

/*
 * Bound everything done on c from now on by at_ms (a clock_now_ms() time),
 * on top of the timeout of each command: a look made of several commands
 * then ends by at_ms whatever each one takes. 0 lifts the bound.
 */
void rdb_set_deadline(struct rdb_conn *c, int64_t at_ms);

/* Close the connection (safe on a closed handle). */
void rdb_close(struct rdb_conn *c);

/* 1 when the handle holds an open connection. */
int rdb_connected(const struct rdb_conn *c);

/* The socket to poll() for EOF while the connection is idle, or -1. */
int rdb_fd(const struct rdb_conn *c);

/* On an idle connection, 1 when Redis closed it (EOF or error), 0 when still open. */
int rdb_closed_by_peer(struct rdb_conn *c);

/*
 * Send one command (argv form, no format strings) and return its reply in
 * *out (a redisReply *, free with rdb_reply_free); an error reply is -1.
 * The whole command (send and the full reply) ends within the timeout, and
 * the reply within the caps; a failure of either closes the connection
 * (RDB_E_IO). A peer that closed its end is an error, never a SIGPIPE.
 */
int rdb_command(struct rdb_conn *c, void **out, int argc, const char **argv);

/* Send one command and discard a successful reply. */
int rdb_exec(struct rdb_conn *c, int argc, const char **argv);

/* Free a reply from rdb_command (NULL is fine). */
void rdb_reply_free(void *reply);

/*
 * Check that each named command exists under its own name (COMMAND INFO), so
 * that a renamed command is found before anything is changed; -1 with
 * RDB_E_REFUSED naming the first missing one. A Redis without COMMAND INFO passes.
 */
int rdb_require_commands(struct rdb_conn *c, int n, const char **names);

/* PING; -1 with RDB_E_LOADING while Redis loads its dataset. */
int rdb_ping(struct rdb_conn *c);

/* INFO, parsed into *info. */
int rdb_info(struct rdb_conn *c, struct rdb_info *info);

/* INFO replication only (about 0.5 KB): the role and the link, no run_id or keys. */
int rdb_info_replication(struct rdb_conn *c, struct rdb_info *info);

/* CONFIG GET one integer parameter. */
int rdb_config_get_int(struct rdb_conn *c, const char *name, long long *value);

/* Parse INFO text (len bytes, need not end in NUL); -1 when it holds no role line. */
int rdb_info_parse(const char *text, size_t len, struct rdb_info *info);

/* The replication offset to report: slave_repl_offset on a replica, else master_repl_offset. */
long long rdb_info_offset(const struct rdb_info *info);

/* "master" or "replica" (or "unknown"). */
const char *rdb_role_name(int role);

/*
 * The fence: min-replicas-to-write (and min-replicas-max-lag) raised by
 * RDB_FENCE_BASE over the operator's values, which no replica set can meet,
 * so a master refuses writes with NOREPLICAS; a replica keeps replicating.
 */
#define RDB_FENCE_BASE 1000000LL

/* Fence state: 1 fenced, 0 not, -1 with err when the settings cannot be read. */
int rdb_fenced(struct rdb_conn *c);

/* Fence (idempotent): writes are refused from the moment this returns 0. */
int rdb_fence(struct rdb_conn *c);

/* Lift the fence (idempotent), restoring the operator's values exactly. */
int rdb_unfence(struct rdb_conn *c);

/*
 * The fence for a Redis that may not answer (stalled: SIGSTOP, a long fork, a
 * swapping host), sent before the real one (resec-role fence): a new
 * connection that sends AUTH and CLIENT PAUSE ms WRITE and closes without
 * reading. The kernel accepted the
 * connection and keeps the bytes; when Redis wakes it runs them before any
 * command sent after it woke, so it takes no new write while it is still an
 * unfenced master, until the next rdb_fence or rdb_unfence lifts the pause
 * (both do: writes held back then meet the fence) or ms run out. 0 once the
 * bytes are sent; nothing is read.
 */
int rdb_pause_writes_blind(struct rdb_conn *c, long long ms);

/* CONFIG REWRITE: 0 written, 1 Redis runs without a config file (nothing to
 * write), -1 with err (e.g. the file or its directory is not writable, NOPERM). */
int rdb_config_rewrite(struct rdb_conn *c);

#endif
