/* SPDX-License-Identifier: MIT */
/* consul_http: one request to Consul (transport, timeouts, cancel), its error text, paths and queries. */
#include "consul_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "scrub.h"

/* ---- errors ---- */

void consul_seterr(struct consul *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (c->priv_ != NULL) {
		const char *secrets[HTTP_SECRETS];

		for (int i = 0; i < HTTP_SECRETS; i++)
			secrets[i] = http_secret(P(c)->http, i);
		scrub_vformat(c->err, sizeof c->err, secrets, HTTP_SECRETS, fmt, ap);
	} else {
		vsnprintf(c->err, sizeof c->err, fmt, ap);
	}
	va_end(ap);
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

/* ---- one request ---- */

/* The client timeout of a request: blocking ones outlast the server's wait + wait/16 jitter. */
static int64_t request_timeout(const struct consul_priv *p, int64_t wait_ms)
{
	int64_t t = p->request_ms;

	if (wait_ms > 0) {
		if (wait_ms > MAX_WAIT_MS)
			wait_ms = MAX_WAIT_MS;
		t += wait_ms + wait_ms / 16;
	}
	return t;
}

/* Forget the last answer before a new request. */
static void reset_answer(struct consul *c)
{
	c->status = 0;
	c->index = 0;
	c->known_leader = -1;
	c->body_len = 0;
	if (c->body != NULL)
		c->body[0] = '\0';
}

/* path + ?query + ns into url (the transport adds the base); -1 when out of memory. */
static int build_target(const struct consul_priv *p, const char *path, const char *query, struct json_buf *url)
{
	int has_query = query != NULL && query[0] != '\0';

	json_buf_raw(url, path);
	if (has_query) {
		json_buf_raw(url, "?");
		json_buf_raw(url, query);
	}
	if (p->ns_param[0] != '\0') {
		json_buf_raw(url, has_query ? "&" : "?");
		json_buf_raw(url, p->ns_param);
	}
	return url->failed ? -1 : 0;
}

/* Why a request gave no answer, into c->err. */
static void transfer_error(struct consul *c, const char *method, const char *path, int rc, const char *why,
                           int64_t timeout, int deadline_bound)
{
	if (rc == HTTP_TIMEDOUT)
		consul_seterr(c, "consul: %s %s: timed out after %lld ms%s", method, path, (long long)timeout,
		              deadline_bound ? " (deadline)" : "");
	else if (rc == HTTP_TOO_BIG)
		consul_seterr(c, "consul: %s %s: response larger than %u bytes", method, path, CONSUL_MAX_BODY);
	else
		consul_seterr(c, "consul: %s %s: %s", method, path, why);
}

/*
 * Send one request; CONSUL_OK when an HTTP answer came back (any status), else
 * CONSUL_ERR/CONSUL_CANCELLED with c->err set.
 */
int consul_transport(struct consul *c, const char *method, const char *path, const char *query,
                     const void *body, size_t body_len, int64_t wait_ms, int json_body)
{
	struct consul_priv *p = P(c);
	int64_t timeout = request_timeout(p, wait_ms);
	int deadline_bound = 0, rc;
	char why[200];
	struct json_buf url = {0};

	reset_answer(c);
	if (p->deadline_ms > 0) {
		int64_t now = clock_now_ms();

		if (p->deadline_ms - now <= 0) {
			consul_seterr(c, "consul: %s %s: timed out (deadline passed)", method, path);
			return CONSUL_ERR;
		}
		if (p->deadline_ms - now < timeout) {
			timeout = p->deadline_ms - now;
			deadline_bound = 1;
		}
	}
	if (build_target(p, path, query, &url) != 0) {
		json_buf_free(&url);
		consul_seterr(c, "consul: %s %s: out of memory", method, path);
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
		consul_seterr(c, "consul: %s %s: cancelled", method, path);
		return CONSUL_CANCELLED;
	}
	if (rc != HTTP_OK) {
		c->body_len = 0;
		if (c->body != NULL)
			c->body[0] = '\0';
		transfer_error(c, method, path, rc, why, timeout, deadline_bound);
		return CONSUL_ERR;
	}
	c->status = ans.status;
	c->index = ans.index;
	c->known_leader = ans.known_leader;
	if (c->body == NULL) {
		c->body = calloc(1, 1);
		if (c->body == NULL) {
			consul_seterr(c, "consul: out of memory");
			return CONSUL_ERR;
		}
		p->cap = 1;
	}
	return CONSUL_OK;
}

/* Set c->err from a non-2xx answer: "consul: PUT /v1/kv/x: 500 No cluster leader". */
void consul_http_error(struct consul *c, const char *method, const char *path)
{
	char line[160];

	body_line(c->body, c->body_len, line, sizeof line);
	consul_seterr(c, "consul: %s %s: %ld%s%s", method, path, c->status, line[0] ? " " : "", line);
}

int consul_is_2xx(const struct consul *c)
{
	return c->status >= 200 && c->status < 300;
}

/* consul_transport, then any answer but 2xx is an error. */
static int request(struct consul *c, const char *method, const char *path, const char *query,
                   const void *body, size_t body_len, int64_t wait_ms, int json_body)
{
	int rc = consul_transport(c, method, path, query, body, body_len, wait_ms, json_body);

	if (rc != CONSUL_OK)
		return rc;
	if (!consul_is_2xx(c)) {
		consul_http_error(c, method, path);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

int consul_request(struct consul *c, const char *method, const char *path, const char *query,
                   const void *body, size_t body_len, int64_t wait_ms)
{
	return request(c, method, path, query, body, body_len, wait_ms, 0);
}

int consul_request_json(struct consul *c, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len)
{
	return request(c, method, path, query, body, body_len, 0, 1);
}


/* ---- path and query building ---- */

/* "/v1/kv/" + key with each '/'-separated segment escaped; leading slashes stripped. */
int consul_build_path(struct json_buf *b, const char *prefix, const char *name, int strip)
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

void consul_add_param(struct json_buf *q, const char *name, const char *value)
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

void consul_add_uparam(struct json_buf *q, const char *name, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	consul_add_param(q, name, tmp);
}

/* Blocking and consistency parameters; returns the wait for the client timeout. */
int64_t consul_add_query(struct json_buf *q, const struct consul_query *o)
{
	int64_t wait = 0;

	if (o == NULL)
		return 0;
	if (o->index > 0) {
		consul_add_uparam(q, "index", o->index);
		wait = DEFAULT_WAIT_MS;
		if (o->wait_ms > 0) {
			char w[32];

			config_format_duration(o->wait_ms, w, sizeof w);
			consul_add_param(q, "wait", w);
			wait = o->wait_ms;
		}
	}
	if (o->consistent)
		consul_add_param(q, "consistent", NULL);
	else if (o->stale)
		consul_add_param(q, "stale", NULL);
	return wait;
}

/*
 * Request with a built path and query; frees both. Returns transport's result;
 * the caller looks at c->status.
 */
int consul_call(struct consul *c, const char *method, struct json_buf *path, struct json_buf *q,
                const void *body, size_t len, int64_t wait_ms, int json_body)
{
	int rc;

	if (path->failed || q->failed) {
		consul_seterr(c, "consul: %s %s: bad name or out of memory", method, path->data ? path->data : "");
		rc = CONSUL_ERR;
	} else {
		rc = consul_transport(c, method, path->data, q->data, body, len, wait_ms, json_body);
	}
	if (rc == CONSUL_OK && !consul_is_2xx(c))
		consul_http_error(c, method, path->data);
	json_buf_free(path);
	json_buf_free(q);
	return rc;
}

/* Decode c->body as true/false into *ok. */
int consul_bool_body(struct consul *c, const char *what, int *ok)
{
	char e[128];

	if (json_decode_bool(c->body, c->body_len, ok, e, sizeof e) != 0) {
		consul_seterr(c, "consul: %s: %s", what, e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}


int consul_name_path(struct consul *c, struct json_buf *path, const char *method, const char *prefix,
                     const char *name, const char *what)
{
	if (name == NULL || name[0] == '\0') {
		consul_seterr(c, "consul: %s %s: missing %s", method, prefix, what);
		return -1;
	}
	consul_build_path(path, prefix, name, 0);
	return 0;
}

int consul_get(struct consul *c, struct json_buf *path, struct json_buf *q, int64_t wait_ms)
{
	int rc = consul_call(c, "GET", path, q, NULL, 0, wait_ms, 0);

	if (rc == CONSUL_OK && !consul_is_2xx(c))
		return CONSUL_ERR;
	return rc;
}

int consul_decoded(struct consul *c, int rc, const char *what, const char *why)
{
	if (rc == 0)
		return CONSUL_OK;
	consul_seterr(c, "consul: %s: %s", what, why);
	return CONSUL_ERR;
}

void consul_add_str_array(struct json_buf *b, const char *const *v, size_t n)
{
	json_buf_raw(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(b, ",");
		json_buf_string(b, v[i] != NULL ? v[i] : "");
	}
	json_buf_raw(b, "]");
}


/* PUT <prefix><id> without a body; an empty id is an error naming what is missing. */
int consul_put_id(struct consul *c, const char *prefix, const char *id, const char *what)
{
	struct json_buf path = {0}, q = {0};

	if (consul_name_path(c, &path, "PUT", prefix, id, what) != 0)
		return CONSUL_ERR;
	return consul_call(c, "PUT", &path, &q, NULL, 0, 0, 0);
}


/* ---- request bodies ---- */

void consul_member(struct json_buf *b, const char **sep, const char *name)
{
	json_buf_raw(b, *sep);
	json_buf_string(b, name);
	json_buf_raw(b, ":");
	*sep = ",";
}

void consul_member_str(struct json_buf *b, const char **sep, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	consul_member(b, sep, name);
	json_buf_string(b, value);
}

void consul_member_duration(struct json_buf *b, const char **sep, const char *name, int64_t ms)
{
	char d[32];

	config_format_duration(ms, d, sizeof d);
	consul_member(b, sep, name);
	json_buf_string(b, d);
}
