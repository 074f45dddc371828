/* SPDX-License-Identifier: MIT */
/* consul_priv: what the files of the Consul client share; no program includes it. */
#ifndef RESEC_CONSUL_PRIV_H
#define RESEC_CONSUL_PRIV_H

/*
 * The client is one module in several files, one concern each:
 *   consul.c          the handle: its transport (http.c; libcurl via http_curl.c for https), settings
 *   consul_http.c     one request: URL, timeouts, deadline, cancel, error text (scrubbed)
 *   consul_kv.c       /v1/kv
 *   consul_session.c  /v1/session
 *   consul_agent.c    /v1/agent (self, services, checks) and /v1/status
 *   consul_health.c   /v1/health
 *   consul_watch.c    the blocking-query loop rules (no I/O)
 *   consul_decode.c   the answers' JSON into C structs
 */

#include "consul.h"
#include "http.h"

#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_REQUEST_MS 10000
#define DEFAULT_WAIT_MS ((int64_t)5 * 60 * 1000)   /* server default when wait is absent */
#define MAX_WAIT_MS ((int64_t)10 * 60 * 1000)      /* server clamp */

struct consul_priv {
	struct http *http;              /* the transport: address, credentials, connection */
	char ns_param[400];             /* "ns=<escaped>" or "" */
	int64_t connect_ms;
	int64_t request_ms;
	int64_t deadline_ms;
	int cancel_fd;
	size_t cap;                     /* of c->body */
};

#define P(c) ((struct consul_priv *)(c)->priv_)

/* Set c->err (one line, every secret of the handle scrubbed before it is cut to fit). */
void consul_seterr(struct consul *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Send one request; CONSUL_OK when an HTTP answer came back (any status), else
 * CONSUL_ERR/CONSUL_CANCELLED with c->err set.
 */
int consul_transport(struct consul *c, const char *method, const char *path, const char *query,
                     const void *body, size_t body_len, int64_t wait_ms, int json_body);

/* Set c->err from a non-2xx answer: "consul: PUT /v1/kv/x: 500 No cluster leader". */
void consul_http_error(struct consul *c, const char *method, const char *path);

/* 1 when the last answer was 2xx. */
int consul_is_2xx(const struct consul *c);

/* prefix + name with each '/'-separated segment escaped (leading slashes stripped when strip); -1 when too long. */
int consul_build_path(struct json_buf *b, const char *prefix, const char *name, int strip);

/* Append name[=escaped value] to a query. */
void consul_add_param(struct json_buf *q, const char *name, const char *value);

/* Append name=v to a query. */
void consul_add_uparam(struct json_buf *q, const char *name, uint64_t v);

/* Blocking and consistency parameters of o (may be NULL); returns the wait for the client timeout. */
int64_t consul_add_query(struct json_buf *q, const struct consul_query *o);

/*
 * Request with a built path and query; frees both. Returns consul_transport's
 * result, with c->err set on a non-2xx answer; the caller looks at c->status.
 */
int consul_call(struct consul *c, const char *method, struct json_buf *path, struct json_buf *q,
                const void *body, size_t len, int64_t wait_ms, int json_body);

/* consul_call for a read whose only good answer is 2xx: CONSUL_ERR on any other status. */
int consul_get(struct consul *c, struct json_buf *path, struct json_buf *q, int64_t wait_ms);

/* A decoder's result rc (0 or -1 with why): CONSUL_OK, or CONSUL_ERR with "consul: what: why". */
int consul_decoded(struct consul *c, int rc, const char *what, const char *why);

/* Decode c->body as true/false into *ok. */
int consul_bool_body(struct consul *c, const char *what, int *ok);

/* Append a JSON array of strings (NULL read as ""). */
void consul_add_str_array(struct json_buf *b, const char *const *v, size_t n);

/* prefix + escaped name into path; -1 with "consul: METHOD prefix: missing what" when name is NULL or "". */
int consul_name_path(struct consul *c, struct json_buf *path, const char *method, const char *prefix,
                     const char *name, const char *what);

/* Start an object member: the separator (none before the first), then "name":. */
void consul_member(struct json_buf *b, const char **sep, const char *name);

/* A string member, left out when value is NULL or "". */
void consul_member_str(struct json_buf *b, const char **sep, const char *name, const char *value);

/* A duration member as a Go duration string ("15s"). */
void consul_member_duration(struct json_buf *b, const char **sep, const char *name, int64_t ms);

/* PUT <prefix><id> without a body; an empty id is an error naming what is missing. */
int consul_put_id(struct consul *c, const char *prefix, const char *id, const char *what);

#endif
