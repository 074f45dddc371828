/* SPDX-License-Identifier: MIT */
/* consul_session: /v1/session: create, renew, destroy, info, node. */
#include "consul_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sessions ---- */

static void session_body(struct json_buf *b, const struct consul_session_opts *o)
{
	const char *sep = "";

	json_buf_raw(b, "{");
	consul_member_str(b, &sep, "Name", o->name);
	consul_member_str(b, &sep, "Node", o->node);
	if (o->ttl_ms > 0)
		consul_member_duration(b, &sep, "TTL", o->ttl_ms);
	/* A string, so that 0 really disables lock-delay ("0s"), unlike the Go api. */
	if (o->lock_delay_set)
		consul_member_duration(b, &sep, "LockDelay", o->lock_delay_ms > 0 ? o->lock_delay_ms : 0);
	consul_member_str(b, &sep, "Behavior", o->behavior != NULL && o->behavior[0] != '\0' ? o->behavior : "release");
	if (o->node_checks_set) {
		json_buf_raw(b, ",\"NodeChecks\":");
		consul_add_str_array(b, o->node_checks, o->n_node_checks);
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
		consul_seterr(c, "consul: PUT /v1/session/create: out of memory");
		return CONSUL_ERR;
	}
	rc = consul_request_json(c, "PUT", "/v1/session/create", NULL, body.data, body.len);
	json_buf_free(&body);
	if (rc != CONSUL_OK)
		return rc;
	return consul_decoded(c, json_decode_id(c->body, c->body_len, id, idlen, e, sizeof e),
	                      "PUT /v1/session/create", e);
}

/* Decode a sessions array body; first session into *out (may be NULL); CONSUL_ABSENT when empty. */
static int first_session(struct consul *c, const char *what, struct json_session *out)
{
	struct json_session *arr;
	size_t n;
	char e[128];

	if (consul_decoded(c, json_decode_sessions(c->body, c->body_len, &arr, &n, e, sizeof e), what, e) != CONSUL_OK)
		return CONSUL_ERR;
	if (n == 0) {
		free(arr);
		consul_seterr(c, "consul: %s: session gone", what);
		return CONSUL_ABSENT;
	}
	if (out != NULL)
		*out = arr[0];
	free(arr);
	return CONSUL_OK;
}

int consul_session_renew(struct consul *c, const char *id, int64_t *ttl_ms)
{
	struct json_session s;
	int rc = consul_put_id(c, "/v1/session/renew/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		consul_seterr(c, "consul: PUT /v1/session/renew: session gone (404)");
		return CONSUL_ABSENT;
	}
	if (!consul_is_2xx(c))
		return CONSUL_ERR;
	rc = first_session(c, "PUT /v1/session/renew", &s);
	if (rc == CONSUL_OK && ttl_ms != NULL && s.ttl_ms > 0)
		*ttl_ms = s.ttl_ms;
	return rc;
}

int consul_session_destroy(struct consul *c, const char *id)
{
	int rc = consul_put_id(c, "/v1/session/destroy/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	return consul_is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_session_info(struct consul *c, const char *id, const struct consul_query *qo,
                        struct json_session *out)
{
	struct json_buf path = {0}, q = {0};
	int64_t wait;
	int rc;

	if (consul_name_path(c, &path, "GET", "/v1/session/info/", id, "session") != 0)
		return CONSUL_ERR;
	wait = consul_add_query(&q, qo);
	rc = consul_get(c, &path, &q, wait);
	if (rc != CONSUL_OK)
		return rc;
	return first_session(c, "GET /v1/session/info", out);
}

int consul_session_node(struct consul *c, const char *node, struct json_session **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];

	*out = NULL;
	*n = 0;
	if (consul_name_path(c, &path, "GET", "/v1/session/node/", node, "node") != 0)
		return CONSUL_ERR;
	int rc = consul_get(c, &path, &q, 0);
	if (rc != CONSUL_OK)
		return rc;
	return consul_decoded(c, json_decode_sessions(c->body, c->body_len, out, n, e, sizeof e),
	                      "GET /v1/session/node", e);
}

