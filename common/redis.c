/* SPDX-License-Identifier: MIT */
/* redis: a Redis connection on hiredis 0.14 with timeouts, AUTH, INFO parsing and fencing. */
#include "redis.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "scrub.h"

#define CTX(c) ((redisContext *)(c)->ctx_)

/* Copy src into dst (len bytes), truncating. */
static void copy_field(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The one place where an error is set: formatted in full, scrubbed, then cut
 * to fit (scrub.c), so that a truncation never leaves a piece of the password. */
static int fail(struct rdb_conn *c, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct rdb_conn *c, int kind, const char *fmt, ...)
{
	const char *pw = c->opts.password != NULL ? secret_value(c->opts.password) : NULL;
	va_list ap;
	va_start(ap, fmt);
	scrub_vformat(c->err, sizeof(c->err), &pw, 1, fmt, ap);
	va_end(ap);
	c->err_kind = kind;
	c->peer_closed = 0;
	return -1;
}

static void addr_text(const struct rdb_conn *c, char *buf, size_t len)
{
	config_format_hostport(&c->opts.addr, buf, len);
}

void rdb_opts_from_config(struct rdb_opts *o, const struct resec_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->addr = cfg->redis_addr;
	o->username = cfg->redis_username;
	o->password = &cfg->redis_password;
	o->timeout_ms = cfg->healthcheck_timeout_ms;
}

void rdb_init(struct rdb_conn *c, const struct rdb_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->opts = *o;
	if (c->opts.timeout_ms <= 0)
		c->opts.timeout_ms = 2000;
	if (c->opts.max_reply_bytes == 0)
		c->opts.max_reply_bytes = RDB_MAX_REPLY_BYTES;
	if (c->opts.max_reply_elements <= 0)
		c->opts.max_reply_elements = RDB_MAX_REPLY_ELEMENTS;
}

void rdb_set_deadline(struct rdb_conn *c, int64_t at_ms)
{
	c->deadline_ms = at_ms > 0 ? at_ms : 0;
}

void rdb_close(struct rdb_conn *c)
{
	if (c->ctx_ != NULL)
		redisFree(CTX(c));
	c->ctx_ = NULL;
}

int rdb_connected(const struct rdb_conn *c)
{
	return c->ctx_ != NULL;
}

int rdb_fd(const struct rdb_conn *c)
{
	return c->ctx_ != NULL ? CTX(c)->fd : -1;
}

/* When an operation that starts now must end: its timeout, or the caller's deadline if sooner. */
static int64_t op_deadline(const struct rdb_conn *c)
{
	int64_t at = clock_now_ms() + c->opts.timeout_ms;
	return c->deadline_ms > 0 && c->deadline_ms < at ? c->deadline_ms : at;
}

/* Why, when Redis closed or reset the connection (see peer_closed). */
#define CLOSED_BY_REDIS "connection closed by redis"

/* Drop the connection (hiredis cannot reuse a context after an I/O error) and
 * say why: every failure on the wire is RDB_E_IO, an unreachable Redis. */
static int wire_fail(struct rdb_conn *c, const char *what, const char *why)
{
	char a[300], msg[200];
	addr_text(c, a, sizeof(a));
	copy_field(msg, sizeof(msg), why);
	rdb_close(c);
	fail(c, RDB_E_IO, "%s %s: %s", what, a, msg);
	c->peer_closed = strcmp(msg, CLOSED_BY_REDIS) == 0;
	return -1;
}

/* A failure of hiredis's connect, from the context's error. */
static int io_fail(struct rdb_conn *c, const char *what)
{
	redisContext *ctx = CTX(c);
	const char *why = ctx != NULL && ctx->errstr[0] != '\0' ? ctx->errstr : "connection lost";
	if (ctx != NULL && ctx->err == REDIS_ERR_IO &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS || errno == ETIMEDOUT))
		why = "timed out";
	if (ctx != NULL && ctx->err == REDIS_ERR_EOF)
		why = CLOSED_BY_REDIS;
	char msg[200];
	copy_field(msg, sizeof(msg), why);
	return wire_fail(c, what, msg);
}

/*
 * Wait until fd is ready for events or deadline_ms passes: 1 ready, 0 timed
 * out, -1 error (errno). A signal does not end the wait early: the deadline
 * is what bounds it, and programs look at their signals between commands.
 */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - clock_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
		int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Send all of buf by deadline_ms; MSG_NOSIGNAL: a closed peer is EPIPE, not a SIGPIPE. */
static int send_all(struct rdb_conn *c, const char *what, const char *buf, size_t len, int64_t deadline_ms)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(CTX(c)->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return wire_fail(c, what, errno == EPIPE || errno == ECONNRESET ? CLOSED_BY_REDIS
			                                                                 : strerror(errno));
		int w = wait_fd(CTX(c)->fd, POLLOUT, deadline_ms);
		if (w <= 0)
			return wire_fail(c, what, w == 0 ? "timed out" : strerror(errno));
	}
	return 0;
}

/* What the reply being read may still make us hold (the reader's privdata). */
struct reply_cap {
	redisReplyObjectFunctions *base;   /* hiredis's own object functions */
	long long elements;                /* array elements announced so far, all levels */
	int max_elements;
	int over;                          /* 1 too many elements, 2 too deep, 0 within the caps */
};

static int task_depth(const redisReadTask *t)
{
	int d = 0;
	for (; t != NULL; t = t->parent)
		d++;
	return d;
}

/* An array is checked before hiredis allocates its element vector: "*2000000000"
 * alone would otherwise ask for 16 GB. */
static void *cap_array(const redisReadTask *t, int elements)
{
	struct reply_cap *cap = t->privdata;
	if (cap == NULL)
		return NULL;
	if (task_depth(t) > RDB_MAX_REPLY_DEPTH) {
		cap->over = 2;
		return NULL;
	}
	cap->elements += elements > 0 ? elements : 0;
	if (elements < 0 || cap->elements > cap->max_elements) {
		cap->over = 1;
		return NULL;
	}
	return cap->base->createArray(t, elements);
}

static void *cap_string(const redisReadTask *t, char *s, size_t len)
{
	const struct reply_cap *cap = t->privdata;
	return cap != NULL ? cap->base->createString(t, s, len) : NULL;
}

static void *cap_integer(const redisReadTask *t, long long v)
{
	const struct reply_cap *cap = t->privdata;
	return cap != NULL ? cap->base->createInteger(t, v) : NULL;
}

static void *cap_nil(const redisReadTask *t)
{
	const struct reply_cap *cap = t->privdata;
	return cap != NULL ? cap->base->createNil(t) : NULL;
}

static void cap_free(void *obj)
{
	freeReplyObject(obj);
}

/* Installed in the reader only while a reply is read, with a reply_cap as privdata. */
static redisReplyObjectFunctions capped_fns = { cap_string, cap_array, cap_integer, cap_nil, cap_free };

/* Feed the reader until it has one whole reply, by deadline_ms and within the caps. */
static int read_reply(struct rdb_conn *c, const char *what, int64_t deadline_ms, redisReply **out)
{
	redisReader *rd = CTX(c)->reader;
	int fd = CTX(c)->fd;
	size_t got = 0, max = c->opts.max_reply_bytes;
	char why[160] = "";
	/* One count for the whole reply, however many reads it takes. */
	struct reply_cap cap = { .base = rd->fn, .max_elements = c->opts.max_reply_elements };
	for (;;) {
		void *r = NULL;
		rd->fn = &capped_fns;
		rd->privdata = &cap;
		int rc = redisReaderGetReply(rd, &r);
		rd->fn = cap.base;
		rd->privdata = NULL;
		if (rc != REDIS_OK) {
			if (cap.over == 1)
				snprintf(why, sizeof(why), "reply with more than %d elements", c->opts.max_reply_elements);
			else if (cap.over == 2)
				snprintf(why, sizeof(why), "reply nested deeper than %d arrays", RDB_MAX_REPLY_DEPTH);
			else
				snprintf(why, sizeof(why), "protocol error: %s", rd->errstr);
			break;
		}
		if (r != NULL) {
			if (rd->pos < rd->len) {
				freeReplyObject(r);
				snprintf(why, sizeof(why), "unexpected data after the reply");
				break;
			}
			*out = r;
			return 0;
		}
		if (clock_now_ms() >= deadline_ms) {
			/* Bytes that keep coming do not stretch the command past its deadline. */
			snprintf(why, sizeof(why), "timed out");
			break;
		}
		char buf[16384];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			int w = wait_fd(fd, POLLIN, deadline_ms);
			if (w > 0)
				continue;
			snprintf(why, sizeof(why), "%s", w == 0 ? "timed out" : strerror(errno));
			break;
		}
		if (n <= 0) {
			snprintf(why, sizeof(why), "%s",
			         n == 0 || errno == ECONNRESET ? CLOSED_BY_REDIS : strerror(errno));
			break;
		}
		if ((size_t)n > max - got) {
			snprintf(why, sizeof(why), "reply larger than %zu bytes", max);
			break;
		}
		got += (size_t)n;
		if (redisReaderFeed(rd, buf, (size_t)n) != REDIS_OK) {
			snprintf(why, sizeof(why), "cannot buffer the reply");
			break;
		}
	}
	return wire_fail(c, what, why);
}

static int classify(const char *s)
{
	if (strncmp(s, "LOADING", 7) == 0)
		return RDB_E_LOADING;
	if (strncmp(s, "NOAUTH", 6) == 0 || strncmp(s, "WRONGPASS", 9) == 0 ||
	    strstr(s, "invalid password") != NULL || strstr(s, "without any password configured") != NULL ||
	    strstr(s, "no password is set") != NULL || strstr(s, "invalid username-password") != NULL)
		return RDB_E_AUTH;
	if (strncmp(s, "NOPERM", 6) == 0 || strncmp(s, "ERR unknown command", 19) == 0)
		return RDB_E_REFUSED;
	return RDB_E_REPLY;
}

/* Make a one-line copy of a reply string for the error text. */
static void one_line(char *dst, size_t len, const char *src, size_t n)
{
	size_t i;
	for (i = 0; i + 1 < len && i < n; i++)
		dst[i] = (char)((src[i] == '\r' || src[i] == '\n') ? ' ' : src[i]);
	dst[i] = '\0';
}

static int reply_error(struct rdb_conn *c, const char *cmd, const redisReply *r)
{
	/* Long enough that the scrubber sees a password whole before fail() cuts the text. */
	char text[700];
	one_line(text, sizeof(text), r->str, r->len);
	int kind = classify(text);
	/* An unknown-command answer echoes the arguments: never show AUTH's. */
	if (strcasecmp(cmd, "AUTH") == 0 && kind == RDB_E_REFUSED)
		snprintf(text, sizeof(text), "AUTH refused (unknown or renamed command)");
	return fail(c, kind, "%s: %s", cmd, text);
}

/* Format a command (at most 16 words) and send it, answer not read. */
static int send_command(struct rdb_conn *c, const char *what, int argc, const char **argv, int64_t deadline)
{
	size_t lens[16];
	if (argc <= 0 || argc > 16)
		return fail(c, RDB_E_PROTO, "bad command length %d", argc);
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
	if (len < 0 || cmd == NULL)
		return fail(c, RDB_E_IO, "%s: cannot format the command", argv[0]);
	int rc = send_all(c, what, cmd, (size_t)len, deadline);
	/* The formatted command holds the arguments (AUTH's password): wipe it. */
	memset(cmd, 0, (size_t)len);
	redisFreeCommand(cmd);
	return rc;
}

int rdb_command(struct rdb_conn *c, void **out, int argc, const char **argv)
{
	if (out != NULL)
		*out = NULL;
	if (c->ctx_ == NULL)
		return fail(c, RDB_E_IO, "%s: not connected", argc > 0 ? argv[0] : "command");
	if (argc <= 0 || argc > 16)
		return fail(c, RDB_E_PROTO, "bad command length %d", argc);
	int64_t deadline = op_deadline(c);
	char what[64];
	snprintf(what, sizeof(what), "%s on", argv[0]);
	redisReply *r = NULL;
	if (send_command(c, what, argc, argv, deadline) < 0 || read_reply(c, what, deadline, &r) < 0)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		reply_error(c, argv[0], r);
		freeReplyObject(r);
		return -1;
	}
	c->err_kind = RDB_OK;
	c->err[0] = '\0';
	if (out != NULL)
		*out = r;
	else
		freeReplyObject(r);
	return 0;
}

int rdb_exec(struct rdb_conn *c, int argc, const char **argv)
{
	return rdb_command(c, NULL, argc, argv);
}

void rdb_reply_free(void *reply)
{
	if (reply != NULL)
		freeReplyObject(reply);
}

/* The AUTH command the options call for in argv[3]: its length, 0 for none. */
static int auth_argv(const struct rdb_conn *c, const char *argv[3])
{
	const char *user = c->opts.username;
	int has_user = user != NULL && user[0] != '\0';
	int has_pw = c->opts.password != NULL && secret_is_set(c->opts.password);
	if (!has_user && !has_pw)
		return 0;
	const char *pw = has_pw ? secret_value(c->opts.password) : "";
	argv[0] = "AUTH";
	argv[1] = has_user ? user : pw;
	argv[2] = pw;
	return has_user ? 3 : 2;
}

static int do_auth(struct rdb_conn *c)
{
	const char *argv[3];
	int argc = auth_argv(c, argv);
	if (argc == 0)
		return 0;
	int has_user = argc == 3;
	const char *user = c->opts.username;
	int rc = rdb_exec(c, argc, argv);
	if (rc < 0 && c->err_kind != RDB_E_IO) {
		/* Redis's answer names no password, but say plainly what failed. */
		char why[200];
		copy_field(why, sizeof(why), c->err);
		if (has_user)
			return fail(c, RDB_E_AUTH, "authentication as user %s failed (%s)", user, why);
		return fail(c, c->err_kind == RDB_E_REFUSED ? RDB_E_REFUSED : RDB_E_AUTH,
		            "authentication failed (%s)", why);
	}
	return rc;
}

/* The TCP connection alone, by `at`. */
static int connect_socket(struct rdb_conn *c, int64_t at)
{
	rdb_close(c);
	c->conn_refused = 0;
	int64_t left = at - clock_now_ms();
	if (left <= 0) {
		char a[300];
		addr_text(c, a, sizeof(a));
		return fail(c, RDB_E_IO, "connect to %s: timed out", a);
	}
	struct timeval tv = { .tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000 };
	const char *host = c->opts.addr.host[0] != '\0' ? c->opts.addr.host : "127.0.0.1";
	redisContext *ctx = redisConnectWithTimeout(host, c->opts.addr.port, tv);
	int connect_errno = errno;
	if (ctx == NULL)
		return fail(c, RDB_E_IO, "cannot allocate a redis context");
	c->ctx_ = ctx;
	if (ctx->err != 0) {
		/* Refused, unlike a time-out, means no process listens: a Redis that
		 * stalls (SIGSTOP, a long fork) still has its socket accept. */
		int refused = ctx->err == REDIS_ERR_IO && connect_errno == ECONNREFUSED;
		io_fail(c, "connect to");
		c->conn_refused = refused;
		return -1;
	}
	return 0;
}

int rdb_connect(struct rdb_conn *c)
{
	/* Connect and AUTH share one timeout: a Redis that accepts and then
	 * trickles its AUTH answer is cut off like one that never accepts. */
	int64_t saved = c->deadline_ms, at = op_deadline(c);
	if (connect_socket(c, at) < 0)
		return -1;
	c->deadline_ms = at;
	int rc = do_auth(c);
	c->deadline_ms = saved;
	if (rc < 0) {
		rdb_close(c);
		return -1;
	}
	c->err_kind = RDB_OK;
	c->err[0] = '\0';
	return 0;
}

int rdb_attach_fd(struct rdb_conn *c, int fd)
{
	rdb_close(c);
	redisContext *ctx = redisConnectFd(fd);
	if (ctx == NULL) {
		close(fd);
		return fail(c, RDB_E_IO, "cannot allocate a redis context");
	}
	c->ctx_ = ctx;
	if (ctx->err != 0)
		return io_fail(c, "attach to");
	c->err_kind = RDB_OK;
	c->err[0] = '\0';
	return 0;
}

int rdb_closed_by_peer(struct rdb_conn *c)
{
	int fd = rdb_fd(c);
	if (fd < 0)
		return 1;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	/* EOF, an error, or bytes nobody asked for: the connection is unusable. */
	char a[300];
	addr_text(c, a, sizeof(a));
	rdb_close(c);
	fail(c, RDB_E_IO, "redis %s %s", a, n == 0 ? "closed the connection" : n < 0 ? "connection error" : "sent unexpected data");
	return 1;
}

int rdb_require_commands(struct rdb_conn *c, int n, const char **names)
{
	const char *argv[16] = { "COMMAND", "INFO" };
	if (n <= 0 || n > 14)
		return fail(c, RDB_E_PROTO, "bad command list length %d", n);
	for (int i = 0; i < n; i++)
		argv[2 + i] = names[i];
	void *r = NULL;
	if (rdb_command(c, &r, n + 2, argv) < 0 || r == NULL)
		return c->err_kind == RDB_E_IO ? -1 : 0; /* no COMMAND INFO: nothing to learn */
	const redisReply *rr = r;
	int rc = 0;
	if (rr->type == REDIS_REPLY_ARRAY && rr->elements == (size_t)n) {
		for (int i = 0; i < n && rc == 0; i++)
			if (rr->element[i]->type == REDIS_REPLY_NIL)
				rc = fail(c, RDB_E_REFUSED, "command %s is not available (renamed or disabled)", names[i]);
	}
	rdb_reply_free(r);
	return rc;
}

int rdb_ping(struct rdb_conn *c)
{
	void *r = NULL;
	if (rdb_command(c, &r, 1, (const char *[]){ "PING" }) < 0 || r == NULL)
		return -1;
	const redisReply *rr = r;
	int ok = rr->type == REDIS_REPLY_STATUS && rr->str != NULL && strcmp(rr->str, "PONG") == 0;
	rdb_reply_free(r);
	return ok ? 0 : fail(c, RDB_E_PROTO, "PING: unexpected answer");
}

/* INFO with argv's sections (argc 1: all), parsed into *info. */
static int info_query(struct rdb_conn *c, int argc, const char **argv, struct rdb_info *info)
{
	void *r = NULL;
	if (rdb_command(c, &r, argc, argv) < 0 || r == NULL)
		return -1;
	const redisReply *rr = r;
	int rc = -1;
	if (rr->type != REDIS_REPLY_STRING && rr->type != REDIS_REPLY_STATUS)
		fail(c, RDB_E_PROTO, "INFO: unexpected answer type %d", rr->type);
	else if (rdb_info_parse(rr->str, rr->len, info) < 0)
		fail(c, RDB_E_PROTO, "INFO: no role in the answer");
	else
		rc = 0;
	rdb_reply_free(r);
	return rc;
}

int rdb_info(struct rdb_conn *c, struct rdb_info *info)
{
	return info_query(c, 1, (const char *[]){ "INFO" }, info);
}

int rdb_info_replication(struct rdb_conn *c, struct rdb_info *info)
{
	return info_query(c, 2, (const char *[]){ "INFO", "replication" }, info);
}

/* Parse a whole decimal integer; -1 when s is not one. */
static int parse_ll(const char *s, long long *v)
{
	if (*s == '\0')
		return -1;
	errno = 0;
	char *end;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*v = x;
	return 0;
}

int rdb_config_get_int(struct rdb_conn *c, const char *name, long long *value)
{
	void *r = NULL;
	if (rdb_command(c, &r, 3, (const char *[]){ "CONFIG", "GET", name }) < 0 || r == NULL)
		return -1;
	const redisReply *rr = r;
	int rc;
	if ((rr->type != REDIS_REPLY_ARRAY) || rr->elements != 2 ||
	    rr->element[1]->type != REDIS_REPLY_STRING)
		rc = fail(c, RDB_E_PROTO, "CONFIG GET %s: no such setting", name);
	else if (parse_ll(rr->element[1]->str, value) < 0)
		rc = fail(c, RDB_E_PROTO, "CONFIG GET %s: not a number", name);
	else
		rc = 0;
	rdb_reply_free(r);
	return rc;
}

/* "dbN:keys=K,expires=…": add K to the total (a count that does not parse is left out). */
static void add_keys(struct rdb_info *in, const char *v)
{
	char *end;
	errno = 0;
	long long k = strtoll(v, &end, 10);
	if (end != v && (*end == ',' || *end == '\0') && errno == 0 && k >= 0 && in->keys <= LLONG_MAX - k)
		in->keys += k;
}

/* INFO fields taken as they are: text (cut to fit), a whole number, or a "1" flag. */
enum info_kind { INFO_TEXT, INFO_NUMBER, INFO_FLAG };
#define INFO_AT(key, kind, field) { key, kind, offsetof(struct rdb_info, field), sizeof(((struct rdb_info *)0)->field) }
static const struct info_plain {
	const char *key;
	enum info_kind kind;
	size_t off, size;
} info_plain[] = {
	INFO_AT("master_host", INFO_TEXT, master_host),
	INFO_AT("master_link_down_since_seconds", INFO_NUMBER, link_down_since_s),
	INFO_AT("master_sync_in_progress", INFO_FLAG, sync_in_progress),
	INFO_AT("loading", INFO_FLAG, loading),
	INFO_AT("master_repl_offset", INFO_NUMBER, master_repl_offset),
	INFO_AT("slave_repl_offset", INFO_NUMBER, slave_repl_offset),
	INFO_AT("run_id", INFO_TEXT, run_id),
	INFO_AT("master_replid", INFO_TEXT, replid),
	INFO_AT("master_replid2", INFO_TEXT, replid2),
	INFO_AT("second_repl_offset", INFO_NUMBER, second_repl_offset),
};

/* 1 when k is one of info_plain's fields (and v was taken). */
static int info_plain_field(struct rdb_info *in, const char *k, const char *v)
{
	long long n;
	for (size_t i = 0; i < sizeof(info_plain) / sizeof(info_plain[0]); i++) {
		const struct info_plain *f = &info_plain[i];
		if (strcmp(k, f->key) != 0)
			continue;
		char *at = (char *)in + f->off;
		if (f->kind == INFO_TEXT)
			copy_field(at, f->size, v);
		else if (f->kind == INFO_FLAG)
			*(int *)(void *)at = strcmp(v, "1") == 0;
		else if (parse_ll(v, &n) == 0)
			*(long long *)(void *)at = n;
		return 1;
	}
	return 0;
}

static void info_field(struct rdb_info *in, const char *k, const char *v)
{
	long long n;
	if (info_plain_field(in, k, v))
		return;
	if (strcmp(k, "role") == 0) {
		if (strcmp(v, "master") == 0)
			in->role = RDB_ROLE_MASTER;
		else if (strcmp(v, "slave") == 0 || strcmp(v, "replica") == 0)
			in->role = RDB_ROLE_REPLICA;
	} else if (strcmp(k, "master_port") == 0) {
		if (parse_ll(v, &n) == 0 && n >= 0 && n <= 65535)
			in->master_port = (int)n;
	} else if (strcmp(k, "master_link_status") == 0) {
		in->link_up = strcmp(v, "up") == 0;
	} else if (strncmp(k, "db", 2) == 0 && strncmp(v, "keys=", 5) == 0) {
		add_keys(in, v + 5);
	} else if (strcmp(k, "redis_version") == 0) {
		copy_field(in->redis_version, sizeof(in->redis_version), v);
		char *end;
		long major = strtol(v, &end, 10);
		in->version_major = end != v && *end == '.' && major > 0 && major < 1000 ? (int)major : 0;
	}
}

int rdb_info_parse(const char *text, size_t len, struct rdb_info *info)
{
	memset(info, 0, sizeof(*info));
	info->master_port = -1;
	info->link_down_since_s = -1;
	info->master_repl_offset = -1;
	info->slave_repl_offset = -1;
	info->second_repl_offset = -1;
	int seen_role = 0;
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && text[i] != '\n')
			i++;
		size_t end = i;
		i++; /* past the newline */
		if (end > start && text[end - 1] == '\r')
			end--;
		if (end == start || text[start] == '#')
			continue;
		char line[512];
		size_t n = end - start;
		if (n >= sizeof(line))
			continue; /* no field we read is that long */
		memcpy(line, text + start, n);
		line[n] = '\0';
		if (memchr(line, '\0', n) != NULL)
			continue;
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		if (strcmp(line, "role") == 0)
			seen_role = 1;
		info_field(info, line, colon + 1);
	}
	return seen_role && info->role != RDB_ROLE_UNKNOWN ? 0 : -1;
}

long long rdb_info_offset(const struct rdb_info *info)
{
	if (info->role == RDB_ROLE_REPLICA && info->slave_repl_offset >= 0)
		return info->slave_repl_offset;
	return info->master_repl_offset;
}

const char *rdb_role_name(int role)
{
	switch (role) {
	case RDB_ROLE_MASTER: return "master";
	case RDB_ROLE_REPLICA: return "replica";
	default: return "unknown";
	}
}

/* The fence's two settings, under their Redis >= 5 or older names. */
struct fence_names {
	const char *to_write;
	const char *max_lag;
};

static int fence_read(struct rdb_conn *c, struct fence_names *nm, long long *tw, long long *lag)
{
	static const struct fence_names modern = { "min-replicas-to-write", "min-replicas-max-lag" };
	static const struct fence_names old = { "min-slaves-to-write", "min-slaves-max-lag" };
	*nm = modern;
	if (rdb_config_get_int(c, nm->to_write, tw) < 0) {
		if (c->err_kind != RDB_E_PROTO)
			return -1;
		*nm = old; /* Redis < 5 knows only the min-slaves names */
		if (rdb_config_get_int(c, nm->to_write, tw) < 0)
			return -1;
	}
	return rdb_config_get_int(c, nm->max_lag, lag);
}

static int config_set_ll(struct rdb_conn *c, const char *name, long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", v);
	return rdb_exec(c, 4, (const char *[]){ "CONFIG", "SET", name, buf });
}

int rdb_fenced(struct rdb_conn *c)
{
	struct fence_names nm;
	long long tw = 0, lag = 0;
	if (fence_read(c, &nm, &tw, &lag) < 0)
		return -1;
	return tw >= RDB_FENCE_BASE;
}

int rdb_pause_writes_blind(struct rdb_conn *c, long long ms)
{
	int64_t at = op_deadline(c);
	if (connect_socket(c, at) < 0)
		return -1;
	char t[32];
	snprintf(t, sizeof(t), "%lld", ms);
	const char *auth[3];
	int argc = auth_argv(c, auth), rc = 0;
	if (argc > 0)
		rc = send_command(c, "AUTH on", argc, auth, at);
	if (rc == 0)
		rc = send_command(c, "CLIENT PAUSE on", 4, (const char *[]){ "CLIENT", "PAUSE", t, "WRITE" }, at);
	/* Closing sends a FIN after the bytes: Redis still reads and runs them. */
	rdb_close(c);
	return rc;
}

/* Lift a pause left by rdb_pause_writes_blind. A Redis before 6.2 has no
 * CLIENT UNPAUSE (nor PAUSE WRITE): its error is no failure. */
static int unpause(struct rdb_conn *c)
{
	if (rdb_exec(c, 2, (const char *[]){ "CLIENT", "UNPAUSE" }) == 0 || c->err_kind != RDB_E_IO) {
		c->err_kind = RDB_OK;
		c->err[0] = '\0';
		return 0;
	}
	return -1;
}

int rdb_fence(struct rdb_conn *c)
{
	struct fence_names nm;
	long long tw = 0, lag = 0;
	if (fence_read(c, &nm, &tw, &lag) < 0)
		return -1;
	if (tw < 0 || lag < 0 || tw > INT_MAX - RDB_FENCE_BASE || lag > INT_MAX - RDB_FENCE_BASE)
		return fail(c, RDB_E_PROTO, "cannot fence: %s %lld / %s %lld out of range",
		            nm.to_write, tw, nm.max_lag, lag);
	/* to-write first: with a lag of 0 Redis ignores to-write, so a fence is
	 * complete only once both are raised; a half-done fence (to-write
	 * raised, lag not) is finished by running fence again. */
	if (tw < RDB_FENCE_BASE && config_set_ll(c, nm.to_write, tw + RDB_FENCE_BASE) < 0)
		return -1;
	if (lag < RDB_FENCE_BASE && config_set_ll(c, nm.max_lag, lag + RDB_FENCE_BASE) < 0)
		return -1;
	/* Writes a blind pause held back now meet the fence: NOREPLICAS. The
	 * fence is up whatever happens here: a lost answer only leaves them held
	 * until the pause runs out, and then they meet it all the same. */
	(void)unpause(c);
	c->err_kind = RDB_OK;
	c->err[0] = '\0';
	return 0;
}

int rdb_unfence(struct rdb_conn *c)
{
	struct fence_names nm;
	long long tw = 0, lag = 0;
	if (fence_read(c, &nm, &tw, &lag) < 0)
		return -1;
	/* A pause first, while the fence still refuses what it held back. */
	if (unpause(c) < 0)
		return -1;
	/* lag first, to-write last: until to-write is restored the fence (and
	 * `show`'s marker) stays, so an interrupted unfence is simply rerun. */
	if (lag >= RDB_FENCE_BASE && config_set_ll(c, nm.max_lag, lag - RDB_FENCE_BASE) < 0)
		return -1;
	if (tw >= RDB_FENCE_BASE && config_set_ll(c, nm.to_write, tw - RDB_FENCE_BASE) < 0)
		return -1;
	return 0;
}

int rdb_config_rewrite(struct rdb_conn *c)
{
	if (rdb_exec(c, 2, (const char *[]){ "CONFIG", "REWRITE" }) == 0)
		return 0;
	return c->err_kind == RDB_E_REPLY && strstr(c->err, "without a config file") != NULL ? 1 : -1;
}
