/* SPDX-License-Identifier: MIT */
/* consul: a small Consul HTTP API client (its transport: http.c), and the blocking-query loop rules. */
#include "consul.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"

#ifndef RESEC_VERSION
#define RESEC_VERSION "dev"
#endif

#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_REQUEST_MS 10000
#define DEFAULT_WAIT_MS ((int64_t)5 * 60 * 1000)   /* server default when wait is absent */
#define MAX_WAIT_MS ((int64_t)10 * 60 * 1000)      /* server clamp */
#define POLL_SLICE_MS 1000

struct priv {
	struct http *http;              /* the transport: address, credentials, connection */
	char ns_param[400];             /* "ns=<escaped>" or "" */
	int64_t connect_ms;
	int64_t request_ms;
	int64_t deadline_ms;
	int cancel_fd;
	size_t cap;                     /* of c->body */
};

#define P(c) ((struct priv *)(c)->priv_)

/* ---- errors ---- */

static void scrub(char *s, const char *secret)
{
	size_t n = strlen(secret);
	char *p;

	/* Very short secrets would mask ordinary words; they cannot appear in our texts anyway. */
	if (n < 4)
		return;
	while ((p = strstr(s, secret)) != NULL) {
		memset(p, '*', 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
}

static void seterr(struct consul *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void seterr(struct consul *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	if (c->priv_ != NULL) {
		for (int i = 0; i < HTTP_SECRETS; i++)
			scrub(c->err, http_secret(P(c)->http, i));
	}
}

/* The body as one short line: controls become spaces, runs collapse, ends trimmed. */
static void body_line(const char *b, size_t n, char *out, size_t size)
{
	size_t o = 0;
	int space = 1;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)b[i];
		if (ch < 0x20 || ch == 0x7f || ch == ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		out[o++] = (char)ch;
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* ---- creation ---- */

struct consul *consul_new(const struct resec_config *cfg, char *err, size_t errlen)
{
	struct consul *c;
	struct priv *p;

	c = calloc(1, sizeof *c);
	p = calloc(1, sizeof *p);
	if (c == NULL || p == NULL) {
		free(c);
		free(p);
		snprintf(err, errlen, "consul: out of memory");
		return NULL;
	}
	c->priv_ = p;
	c->known_leader = -1;
	p->connect_ms = DEFAULT_CONNECT_MS;
	p->request_ms = DEFAULT_REQUEST_MS;
	p->cancel_fd = -1;
	p->http = http_new(cfg, err, errlen);
	if (p->http == NULL) {
		consul_free(c);
		return NULL;
	}
	if (cfg->consul_namespace[0] != '\0') {
		char *ns = consul_escape(cfg->consul_namespace);
		if (ns == NULL) {
			snprintf(err, errlen, "consul: out of memory");
			consul_free(c);
			return NULL;
		}
		snprintf(p->ns_param, sizeof p->ns_param, "ns=%s", ns);
		free(ns);
	}
	return c;
}

void consul_free(struct consul *c)
{
	struct priv *p;

	if (c == NULL)
		return;
	p = P(c);
	if (p != NULL) {
		http_free(p->http);
		free(p);
	}
	free(c->body);
	free(c);
}

void consul_set_timeouts(struct consul *c, int64_t connect_ms, int64_t request_ms)
{
	if (connect_ms > 0)
		P(c)->connect_ms = connect_ms;
	if (request_ms > 0)
		P(c)->request_ms = request_ms;
}

void consul_set_cancel_fd(struct consul *c, int fd)
{
	P(c)->cancel_fd = fd;
}

void consul_set_deadline(struct consul *c, int64_t deadline_ms)
{
	P(c)->deadline_ms = deadline_ms;
}

const char *consul_base_url(const struct consul *c)
{
	return http_base(P(c)->http);
}

char *consul_escape(const char *s)
{
	return http_escape(s);
}

/* ---- one request ---- */

/* The client timeout of a request: blocking ones outlast the server's wait + wait/16 jitter. */
static int64_t request_timeout(const struct priv *p, int64_t wait_ms)
{
	int64_t t = p->request_ms;

	if (wait_ms > 0) {
		if (wait_ms > MAX_WAIT_MS)
			wait_ms = MAX_WAIT_MS;
		t += wait_ms + wait_ms / 16;
	}
	return t;
}

/*
 * Send one request; CONSUL_OK when an HTTP answer came back (any status), else
 * CONSUL_ERR/CONSUL_CANCELLED with c->err set.
 */
static int transport(struct consul *c, const char *method, const char *path, const char *query,
                     const void *body, size_t body_len, int64_t wait_ms, int json_body)
{
	struct priv *p = P(c);
	struct json_buf url = {0};
	int64_t timeout = request_timeout(p, wait_ms);
	int deadline_bound = 0, rc;
	char why[200];

	c->status = 0;
	c->index = 0;
	c->known_leader = -1;
	c->body_len = 0;
	if (c->body != NULL)
		c->body[0] = '\0';
	if (p->deadline_ms > 0) {
		int64_t now = clock_now_ms();

		if (p->deadline_ms - now <= 0) {
			seterr(c, "consul: %s %s: timed out (deadline passed)", method, path);
			return CONSUL_ERR;
		}
		if (p->deadline_ms - now < timeout) {
			timeout = p->deadline_ms - now;
			deadline_bound = 1;
		}
	}
	json_buf_raw(&url, path);
	if (query != NULL && query[0] != '\0') {
		json_buf_raw(&url, "?");
		json_buf_raw(&url, query);
	}
	if (p->ns_param[0] != '\0') {
		json_buf_raw(&url, query != NULL && query[0] != '\0' ? "&" : "?");
		json_buf_raw(&url, p->ns_param);
	}
	if (url.failed) {
		json_buf_free(&url);
		seterr(c, "consul: %s %s: out of memory", method, path);
		return CONSUL_ERR;
	}
	struct http_answer ans = { .body = c->body, .cap = p->cap };
	struct http_call hc = { .method = method, .target = url.data, .body = body, .body_len = body_len,
	                        .json = json_body, .connect_ms = p->connect_ms, .timeout_ms = timeout,
	                        .cancel_fd = p->cancel_fd, .max_body = CONSUL_MAX_BODY };
	rc = http_do(p->http, &hc, &ans, why, sizeof why);
	json_buf_free(&url);
	c->body = ans.body;     /* grown by the transport, even when it failed */
	p->cap = ans.cap;
	c->body_len = ans.len;
	if (rc == HTTP_CANCELLED) {
		seterr(c, "consul: %s %s: cancelled", method, path);
		return CONSUL_CANCELLED;
	}
	if (rc != HTTP_OK) {
		c->body_len = 0;
		if (c->body != NULL)
			c->body[0] = '\0';
		if (rc == HTTP_TIMEDOUT)
			seterr(c, "consul: %s %s: timed out after %lld ms%s", method, path, (long long)timeout,
			       deadline_bound ? " (deadline)" : "");
		else if (rc == HTTP_TOO_BIG)
			seterr(c, "consul: %s %s: response larger than %u bytes", method, path, CONSUL_MAX_BODY);
		else
			seterr(c, "consul: %s %s: %s", method, path, why);
		return CONSUL_ERR;
	}
	c->status = ans.status;
	c->index = ans.index;
	c->known_leader = ans.known_leader;
	if (c->body == NULL) {
		c->body = calloc(1, 1);
		if (c->body == NULL) {
			seterr(c, "consul: out of memory");
			return CONSUL_ERR;
		}
		p->cap = 1;
	}
	return CONSUL_OK;
}

/* Set c->err from a non-2xx answer: "consul: PUT /v1/kv/x: 500 No cluster leader". */
static void http_error(struct consul *c, const char *method, const char *path)
{
	char line[160];

	body_line(c->body, c->body_len, line, sizeof line);
	seterr(c, "consul: %s %s: %ld%s%s", method, path, c->status, line[0] ? " " : "", line);
}

static int is_2xx(const struct consul *c)
{
	return c->status >= 200 && c->status < 300;
}

int consul_request(struct consul *c, const char *method, const char *path, const char *query,
                   const void *body, size_t body_len, int64_t wait_ms)
{
	int rc = transport(c, method, path, query, body, body_len, wait_ms, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, method, path);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- path and query building ---- */

/* "/v1/kv/" + key with each '/'-separated segment escaped; leading slashes stripped. */
static int build_path(struct json_buf *b, const char *prefix, const char *name, int strip)
{
	const char *s = name;

	json_buf_raw(b, prefix);
	if (strip)
		while (*s == '/')
			s++;
	while (*s != '\0') {
		size_t n = strcspn(s, "/");
		char seg[1024];
		if (n >= sizeof seg)
			return -1;
		memcpy(seg, s, n);
		seg[n] = '\0';
		char *e = consul_escape(seg);
		if (e == NULL)
			return -1;
		json_buf_raw(b, e);
		free(e);
		s += n;
		if (*s == '/') {
			json_buf_raw(b, "/");
			s++;
		}
	}
	return b->failed ? -1 : 0;
}

static void add_param(struct json_buf *q, const char *name, const char *value)
{
	if (q->len > 0)
		json_buf_raw(q, "&");
	json_buf_raw(q, name);
	if (value == NULL)
		return;
	json_buf_raw(q, "=");
	char *e = consul_escape(value);
	if (e == NULL) {
		q->failed = 1;
		return;
	}
	json_buf_raw(q, e);
	free(e);
}

static void add_uparam(struct json_buf *q, const char *name, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	add_param(q, name, tmp);
}

/* Blocking and consistency parameters; returns the wait for the client timeout. */
static int64_t add_query(struct json_buf *q, const struct consul_query *o)
{
	int64_t wait = 0;

	if (o == NULL)
		return 0;
	if (o->index > 0) {
		add_uparam(q, "index", o->index);
		wait = DEFAULT_WAIT_MS;
		if (o->wait_ms > 0) {
			char w[32];

			config_format_duration(o->wait_ms, w, sizeof w);
			add_param(q, "wait", w);
			wait = o->wait_ms;
		}
	}
	if (o->consistent)
		add_param(q, "consistent", NULL);
	else if (o->stale)
		add_param(q, "stale", NULL);
	return wait;
}

/*
 * Request with a built path and query; frees both. Returns transport's result;
 * the caller looks at c->status.
 */
static int call(struct consul *c, const char *method, struct json_buf *path, struct json_buf *q,
                const void *body, size_t len, int64_t wait_ms, int json_body)
{
	int rc;

	if (path->failed || q->failed) {
		seterr(c, "consul: %s %s: bad name or out of memory", method, path->data ? path->data : "");
		rc = CONSUL_ERR;
	} else {
		rc = transport(c, method, path->data, q->data, body, len, wait_ms, json_body);
	}
	if (rc == CONSUL_OK && !is_2xx(c))
		http_error(c, method, path->data);
	json_buf_free(path);
	json_buf_free(q);
	return rc;
}

/* Decode c->body as true/false into *ok. */
static int bool_body(struct consul *c, const char *what, int *ok)
{
	char e[128];

	if (json_decode_bool(c->body, c->body_len, ok, e, sizeof e) != 0) {
		seterr(c, "consul: %s: %s", what, e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- status, agent ---- */

int consul_status_leader(struct consul *c, char *leader, size_t len)
{
	char e[128];

	int rc = consul_request(c, "GET", "/v1/status/leader", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (json_decode_string(c->body, c->body_len, leader, len, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/status/leader: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

int consul_agent_self(struct consul *c, char *node, size_t nodelen, char *dc, size_t dclen)
{
	char e[128];
	int rc = consul_request(c, "GET", "/v1/agent/self", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (json_decode_agent_self(c->body, c->body_len, node, nodelen, dc, dclen, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/agent/self: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- sessions ---- */

static void add_str_array(struct json_buf *b, const char *const *v, size_t n)
{
	json_buf_raw(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(b, ",");
		json_buf_string(b, v[i] != NULL ? v[i] : "");
	}
	json_buf_raw(b, "]");
}

static void session_body(struct json_buf *b, const struct consul_session_opts *o)
{
	char d[32];
	const char *sep = "";

	json_buf_raw(b, "{");
	if (o->name != NULL && o->name[0] != '\0') {
		json_buf_raw(b, "\"Name\":");
		json_buf_string(b, o->name);
		sep = ",";
	}
	if (o->node != NULL && o->node[0] != '\0') {
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"Node\":");
		json_buf_string(b, o->node);
		sep = ",";
	}
	if (o->ttl_ms > 0) {
		config_format_duration(o->ttl_ms, d, sizeof d);
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"TTL\":");
		json_buf_string(b, d);
		sep = ",";
	}
	if (o->lock_delay_set) {
		/* A string, so that 0 really disables lock-delay ("0s"), unlike the Go api. */
		config_format_duration(o->lock_delay_ms > 0 ? o->lock_delay_ms : 0, d, sizeof d);
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"LockDelay\":");
		json_buf_string(b, d);
		sep = ",";
	}
	json_buf_raw(b, sep);
	json_buf_raw(b, "\"Behavior\":");
	json_buf_string(b, o->behavior != NULL && o->behavior[0] != '\0' ? o->behavior : "release");
	if (o->node_checks_set) {
		json_buf_raw(b, ",\"NodeChecks\":");
		add_str_array(b, o->node_checks, o->n_node_checks);
	}
	if (o->n_service_checks > 0) {
		json_buf_raw(b, ",\"ServiceChecks\":[");
		for (size_t i = 0; i < o->n_service_checks; i++) {
			json_buf_raw(b, i > 0 ? ",{\"ID\":" : "{\"ID\":");
			json_buf_string(b, o->service_checks[i] != NULL ? o->service_checks[i] : "");
			json_buf_raw(b, "}");
		}
		json_buf_raw(b, "]");
	}
	json_buf_raw(b, "}");
}

int consul_session_create(struct consul *c, const struct consul_session_opts *o, char *id, size_t idlen)
{
	struct json_buf body = {0};
	char e[128];
	int rc;

	session_body(&body, o);
	if (body.failed) {
		json_buf_free(&body);
		seterr(c, "consul: PUT /v1/session/create: out of memory");
		return CONSUL_ERR;
	}
	rc = transport(c, "PUT", "/v1/session/create", NULL, body.data, body.len, 0, 1);
	json_buf_free(&body);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, "PUT", "/v1/session/create");
		return CONSUL_ERR;
	}
	if (json_decode_id(c->body, c->body_len, id, idlen, e, sizeof e) != 0) {
		seterr(c, "consul: PUT /v1/session/create: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* Decode a sessions array body; first session into *out (may be NULL); CONSUL_ABSENT when empty. */
static int first_session(struct consul *c, const char *what, struct json_session *out)
{
	struct json_session *arr;
	size_t n;
	char e[128];

	if (json_decode_sessions(c->body, c->body_len, &arr, &n, e, sizeof e) != 0) {
		seterr(c, "consul: %s: %s", what, e);
		return CONSUL_ERR;
	}
	if (n == 0) {
		free(arr);
		seterr(c, "consul: %s: session gone", what);
		return CONSUL_ABSENT;
	}
	if (out != NULL)
		*out = arr[0];
	free(arr);
	return CONSUL_OK;
}

/* PUT <prefix><id> without a body; an empty id is an error naming what is missing. */
static int put_id(struct consul *c, const char *prefix, const char *id, const char *what)
{
	struct json_buf path = {0}, q = {0};

	if (id == NULL || id[0] == '\0') {
		seterr(c, "consul: PUT %s: missing %s", prefix, what);
		return CONSUL_ERR;
	}
	build_path(&path, prefix, id, 0);
	return call(c, "PUT", &path, &q, NULL, 0, 0, 0);
}

int consul_session_renew(struct consul *c, const char *id, int64_t *ttl_ms)
{
	struct json_session s;
	int rc = put_id(c, "/v1/session/renew/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		seterr(c, "consul: PUT /v1/session/renew: session gone (404)");
		return CONSUL_ABSENT;
	}
	if (!is_2xx(c))
		return CONSUL_ERR;
	rc = first_session(c, "PUT /v1/session/renew", &s);
	if (rc == CONSUL_OK && ttl_ms != NULL && s.ttl_ms > 0)
		*ttl_ms = s.ttl_ms;
	return rc;
}

int consul_session_destroy(struct consul *c, const char *id)
{
	int rc = put_id(c, "/v1/session/destroy/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_session_info(struct consul *c, const char *id, const struct consul_query *qo,
                        struct json_session *out)
{
	struct json_buf path = {0}, q = {0};
	int64_t wait;
	int rc;

	if (id == NULL || id[0] == '\0') {
		seterr(c, "consul: GET /v1/session/info/: missing session");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/session/info/", id, 0);
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return first_session(c, "GET /v1/session/info", out);
}

int consul_session_node(struct consul *c, const char *node, struct json_session **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];

	*out = NULL;
	*n = 0;
	if (node == NULL || node[0] == '\0') {
		seterr(c, "consul: GET /v1/session/node/: missing node");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/session/node/", node, 0);
	int rc = call(c, "GET", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_sessions(c->body, c->body_len, out, n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/session/node: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- KV ---- */

static int kv_path(struct consul *c, struct json_buf *path, const char *key, const char *method)
{
	const char *k = key != NULL ? key : "";

	while (*k == '/')
		k++;
	if (*k == '\0') {
		seterr(c, "consul: %s /v1/kv/: missing key name", method);
		return -1;
	}
	build_path(path, "/v1/kv/", k, 1);
	return 0;
}

int consul_kv_get(struct consul *c, const char *key, const struct consul_query *qo,
                  struct json_kv_entry *out)
{
	struct json_buf path = {0}, q = {0};
	struct json_kv_entry *arr;
	size_t n;
	char e[128];
	int64_t wait;
	int rc;

	memset(out, 0, sizeof *out);
	if (kv_path(c, &path, key, "GET") != 0)
		return CONSUL_ERR;
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';
		return CONSUL_ABSENT;
	}
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_kv(c->body, c->body_len, &arr, &n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/kv: %s", e);
		return CONSUL_ERR;
	}
	if (n == 0) {
		free(arr);
		return CONSUL_ABSENT;
	}
	*out = arr[0];
	for (size_t i = 1; i < n; i++)
		json_kv_entry_clear(&arr[i]);
	free(arr);
	return CONSUL_OK;
}

/* PUT /v1/kv/key with one of cas/acquire/release (name, value) and flags; *ok from the body. */
static int kv_write(struct consul *c, const char *key, const char *op, const char *opval,
                    uint64_t flags, const void *value, size_t len, int *ok)
{
	struct json_buf path = {0}, q = {0};
	int rc, dummy;

	if (ok == NULL)
		ok = &dummy;
	*ok = 0;
	if (kv_path(c, &path, key, "PUT") != 0)
		return CONSUL_ERR;
	if (op != NULL)
		add_param(&q, op, opval);
	add_uparam(&q, "flags", flags);
	rc = call(c, "PUT", &path, &q, value != NULL ? value : "", value != NULL ? len : 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return bool_body(c, "PUT /v1/kv", ok);
}

int consul_kv_put(struct consul *c, const char *key, uint64_t flags, const void *value, size_t len)
{
	int ok;

	return kv_write(c, key, NULL, NULL, flags, value, len, &ok);
}

int consul_kv_put_cas(struct consul *c, const char *key, uint64_t cas, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	char v[24];

	snprintf(v, sizeof v, "%llu", (unsigned long long)cas);
	return kv_write(c, key, "cas", v, flags, value, len, ok);
}

/* ?acquire= or ?release= with a session, which both need. */
static int kv_session_write(struct consul *c, const char *key, const char *op, const char *session,
                            uint64_t flags, const void *value, size_t len, int *ok)
{
	if (session == NULL || session[0] == '\0') {
		seterr(c, "consul: PUT /v1/kv: %s needs a session", op);
		return CONSUL_ERR;
	}
	return kv_write(c, key, op, session, flags, value, len, ok);
}

int consul_kv_acquire(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	return kv_session_write(c, key, "acquire", session, flags, value, len, ok);
}

int consul_kv_release(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	return kv_session_write(c, key, "release", session, flags, value, len, ok);
}

int consul_kv_delete_cas(struct consul *c, const char *key, uint64_t cas, int *ok)
{
	struct json_buf path = {0}, q = {0};
	int rc;

	*ok = 0;
	if (kv_path(c, &path, key, "DELETE") != 0)
		return CONSUL_ERR;
	add_uparam(&q, "cas", cas);
	rc = call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return bool_body(c, "DELETE /v1/kv", ok);
}

int consul_kv_delete(struct consul *c, const char *key)
{
	struct json_buf path = {0}, q = {0};
	int rc;

	if (kv_path(c, &path, key, "DELETE") != 0)
		return CONSUL_ERR;
	rc = call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

/* ---- agent services and checks ---- */

static void member(struct json_buf *b, const char **sep, const char *name)
{
	json_buf_raw(b, *sep);
	json_buf_string(b, name);
	json_buf_raw(b, ":");
	*sep = ",";
}

static void check_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";
	char d[32];

	json_buf_raw(b, "{");
	if (s->check_id != NULL && s->check_id[0] != '\0') {
		member(b, &sep, "CheckID");
		json_buf_string(b, s->check_id);
	}
	if (s->check_name != NULL && s->check_name[0] != '\0') {
		member(b, &sep, "Name");
		json_buf_string(b, s->check_name);
	}
	config_format_duration(s->check_ttl_ms, d, sizeof d);
	member(b, &sep, "TTL");
	json_buf_string(b, d);
	if (s->check_status != NULL && s->check_status[0] != '\0') {
		member(b, &sep, "Status");
		json_buf_string(b, s->check_status);
	}
	if (s->check_notes != NULL && s->check_notes[0] != '\0') {
		member(b, &sep, "Notes");
		json_buf_string(b, s->check_notes);
	}
	if (s->deregister_after_ms > 0) {
		config_format_duration(s->deregister_after_ms, d, sizeof d);
		member(b, &sep, "DeregisterCriticalServiceAfter");
		json_buf_string(b, d);
	}
	json_buf_raw(b, "}");
}

static void service_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";

	json_buf_raw(b, "{");
	if (s->id != NULL && s->id[0] != '\0') {
		member(b, &sep, "ID");
		json_buf_string(b, s->id);
	}
	member(b, &sep, "Name");
	json_buf_string(b, s->name);
	if (s->ntags > 0) {
		member(b, &sep, "Tags");
		add_str_array(b, s->tags, s->ntags);
	}
	if (s->address != NULL && s->address[0] != '\0') {
		member(b, &sep, "Address");
		json_buf_string(b, s->address);
	}
	if (s->port > 0) {
		member(b, &sep, "Port");
		json_buf_int(b, s->port);
	}
	if (s->nmeta > 0) {
		member(b, &sep, "Meta");
		json_buf_raw(b, "{");
		for (size_t i = 0; i < s->nmeta; i++) {
			if (i > 0)
				json_buf_raw(b, ",");
			json_buf_string(b, s->meta_keys[i] != NULL ? s->meta_keys[i] : "");
			json_buf_raw(b, ":");
			json_buf_string(b, s->meta_values[i] != NULL ? s->meta_values[i] : "");
		}
		json_buf_raw(b, "}");
	}
	if (s->check_ttl_ms > 0) {
		member(b, &sep, "Check");
		check_body(b, s);
	}
	json_buf_raw(b, "}");
}

int consul_service_register(struct consul *c, const struct consul_service *s)
{
	struct json_buf body = {0};
	const char *path = "/v1/agent/service/register";
	int rc;

	if (s->name == NULL || s->name[0] == '\0') {
		seterr(c, "consul: PUT %s: missing service name", path);
		return CONSUL_ERR;
	}
	service_body(&body, s);
	if (body.failed) {
		json_buf_free(&body);
		seterr(c, "consul: PUT %s: out of memory", path);
		return CONSUL_ERR;
	}
	rc = consul_request_json(c, "PUT", path, s->replace_existing_checks ? "replace-existing-checks" : NULL,
	                         body.data, body.len);
	json_buf_free(&body);
	return rc;
}

int consul_request_json(struct consul *c, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len)
{
	int rc = transport(c, method, path, query, body, body_len, 0, 1);

	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, method, path);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

int consul_service_deregister(struct consul *c, const char *id)
{
	int rc = put_id(c, "/v1/agent/service/deregister/", id, "service ID");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';    /* unknown service: already gone */
		return CONSUL_OK;
	}
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_check_update(struct consul *c, const char *check_id, const char *status, const char *output)
{
	struct json_buf path = {0}, body = {0};
	int rc;

	if (check_id == NULL || check_id[0] == '\0' || status == NULL) {
		seterr(c, "consul: PUT /v1/agent/check/update/: missing check ID or status");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/agent/check/update/", check_id, 0);
	json_buf_raw(&body, "{\"Status\":");
	json_buf_string(&body, status);
	json_buf_raw(&body, ",\"Output\":");
	json_buf_string(&body, output != NULL ? output : "");
	json_buf_raw(&body, "}");
	if (path.failed || body.failed) {
		seterr(c, "consul: PUT /v1/agent/check/update: out of memory");
		rc = CONSUL_ERR;
	} else {
		rc = transport(c, "PUT", path.data, NULL, body.data, body.len, 0, 1);
		if (rc == CONSUL_OK && !is_2xx(c)) {
			http_error(c, "PUT", path.data);
			rc = c->status == 404 ? CONSUL_ABSENT : CONSUL_ERR;
		}
	}
	json_buf_free(&path);
	json_buf_free(&body);
	return rc;
}

int consul_check_ttl(struct consul *c, const char *check_id, const char *status, const char *note)
{
	struct json_buf path = {0}, q = {0};
	char prefix[40];
	int rc;

	if (check_id == NULL || check_id[0] == '\0' || status == NULL ||
	    (strcmp(status, "pass") != 0 && strcmp(status, "warn") != 0 && strcmp(status, "fail") != 0)) {
		seterr(c, "consul: PUT /v1/agent/check: missing check ID or bad status");
		return CONSUL_ERR;
	}
	snprintf(prefix, sizeof prefix, "/v1/agent/check/%s/", status);
	build_path(&path, prefix, check_id, 0);
	if (note != NULL && note[0] != '\0')
		add_param(&q, "note", note);
	rc = call(c, "PUT", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404)
		return CONSUL_ABSENT;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_health_service(struct consul *c, const char *service, const char *tag, int passing,
                          const struct consul_query *qo, struct json_health_entry **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];
	int64_t wait;
	int rc;

	*out = NULL;
	*n = 0;
	if (service == NULL || service[0] == '\0') {
		seterr(c, "consul: GET /v1/health/service/: missing service name");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/health/service/", service, 0);
	if (passing)
		add_param(&q, "passing", NULL);
	if (tag != NULL && tag[0] != '\0')
		add_param(&q, "tag", tag);
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_health(c->body, c->body_len, out, n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/health/service: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- blocking-query loop rules ---- */

void consul_watch_init(struct consul_watch *w)
{
	memset(w, 0, sizeof *w);
	w->burst = 2;
	w->rate_min_ms = 1000;
	w->rate_max_ms = 15000;
	w->backoff_base_ms = 5000;
	w->backoff_max_ms = 180000;
	w->refill_ms = w->rate_min_ms;
	w->tokens_x1000 = (int64_t)w->burst * 1000;
}

/* Bring the bucket up to now; a bucket that stays full speeds the refill back up. */
static void watch_refill(struct consul_watch *w, int64_t now)
{
	int64_t full = (int64_t)w->burst * 1000;

	if (w->refill_ms < w->rate_min_ms)
		w->refill_ms = w->rate_min_ms > 0 ? w->rate_min_ms : 1;
	if (w->last_ms == 0 || now < w->last_ms) {
		w->last_ms = now;
		if (w->tokens_x1000 >= full && w->full_since_ms == 0)
			w->full_since_ms = now;
		return;
	}
	if (w->tokens_x1000 < full) {
		int64_t add = (now - w->last_ms) * 1000 / w->refill_ms;
		if (add == 0)
			return;   /* keep last_ms: the time accumulates */
		if (w->tokens_x1000 + add >= full) {
			int64_t need = full - w->tokens_x1000;
			w->full_since_ms = w->last_ms + (need * w->refill_ms + 999) / 1000;
			w->tokens_x1000 = full;
			w->last_ms = now;
		} else {
			w->tokens_x1000 += add;
			w->last_ms += add * w->refill_ms / 1000;
		}
	} else {
		w->last_ms = now;
		if (w->full_since_ms == 0)
			w->full_since_ms = now;
	}
	if (w->tokens_x1000 >= full) {
		while (w->refill_ms > w->rate_min_ms && now - w->full_since_ms >= w->refill_ms) {
			w->full_since_ms += w->refill_ms;
			w->refill_ms /= 2;
			if (w->refill_ms < w->rate_min_ms)
				w->refill_ms = w->rate_min_ms;
		}
	}
}

int64_t consul_watch_delay(struct consul_watch *w, int64_t now_ms)
{
	int64_t rate = 0, back = 0;

	watch_refill(w, now_ms);
	if (w->tokens_x1000 < 1000) {
		rate = ((1000 - w->tokens_x1000) * w->refill_ms + 999) / 1000;
		w->waited = 1;
	}
	if (w->retry_at_ms > now_ms)
		back = w->retry_at_ms - now_ms;
	return rate > back ? rate : back;
}

void consul_watch_begin(struct consul_watch *w, int64_t now_ms)
{
	watch_refill(w, now_ms);
	if (w->waited || w->tokens_x1000 < 1000) {
		/* Churn: the bucket ran dry, so slow the refill down, towards rate_max_ms. */
		w->refill_ms *= 2;
		if (w->refill_ms > w->rate_max_ms)
			w->refill_ms = w->rate_max_ms;
		w->waited = 0;
	}
	if (w->tokens_x1000 >= (int64_t)w->burst * 1000)
		w->last_ms = now_ms;   /* refilling starts now */
	w->tokens_x1000 -= 1000;
	if (w->tokens_x1000 < -1000)
		w->tokens_x1000 = -1000;
	w->full_since_ms = 0;
}

/*
 * A changed answer is news, not churn: it gives its token back and ends any
 * slowdown, so the next request goes out at once. Only a loop of unchanged
 * answers (an index that moves without the content, [C3]) spends the bucket;
 * so a real change is never held behind earlier wake-ups that said nothing,
 * and changes come no faster than Consul commits them.
 */
static void watch_refund(struct consul_watch *w)
{
	int64_t full = (int64_t)w->burst * 1000;

	w->tokens_x1000 = w->tokens_x1000 < 0 ? 1000 : w->tokens_x1000 + 1000;
	if (w->tokens_x1000 > full)
		w->tokens_x1000 = full;
	w->refill_ms = w->rate_min_ms;
	w->waited = 0;
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int consul_watch_update(struct consul_watch *w, uint64_t index, const void *content, size_t len)
{
	uint64_t h = fnv1a(content != NULL ? content : "", content != NULL ? len : 0);
	int changed;

	w->failures = 0;
	w->retry_at_ms = 0;
	if (index == 0)
		index = 1;                 /* [C2] */
	if (index < w->index)
		w->index = 0;              /* [C1]: one non-blocking read, then resume */
	else
		w->index = index;
	changed = !w->have_hash || h != w->hash;
	w->hash = h;
	w->have_hash = 1;
	if (changed)
		watch_refund(w);
	return changed;
}

static uint64_t watch_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0)
		state = (uint64_t)clock_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

void consul_watch_failed(struct consul_watch *w, int64_t now_ms)
{
	int64_t d, f;

	if (w->failures < 1000)
		w->failures++;
	f = w->failures;
	d = w->backoff_base_ms * f * f;
	if (d > w->backoff_max_ms || d < 0 || f > 1000)
		d = w->backoff_max_ms;
	if (d > 1)
		d = d / 2 + (int64_t)(watch_random() % (uint64_t)(d / 2 + 1));   /* jitter in [d/2, d] */
	w->retry_at_ms = now_ms + d;
	w->index = 0;
}
