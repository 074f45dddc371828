/* SPDX-License-Identifier: MIT */
/* consul_agent: /v1/status and /v1/agent: the agent's self, service registration, checks. */
#include "consul_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- status, agent ---- */

int consul_status_leader(struct consul *c, char *leader, size_t len)
{
	char e[128];

	int rc = consul_request(c, "GET", "/v1/status/leader", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	return consul_decoded(c, json_decode_string(c->body, c->body_len, leader, len, e, sizeof e),
	                      "GET /v1/status/leader", e);
}

int consul_agent_self(struct consul *c, char *node, size_t nodelen, char *dc, size_t dclen)
{
	char e[128];
	int rc = consul_request(c, "GET", "/v1/agent/self", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	return consul_decoded(c, json_decode_agent_self(c->body, c->body_len, node, nodelen, dc, dclen, e, sizeof e),
	                      "GET /v1/agent/self", e);
}

/* ---- agent services and checks ---- */

static void check_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";

	json_buf_raw(b, "{");
	consul_member_str(b, &sep, "CheckID", s->check_id);
	consul_member_str(b, &sep, "Name", s->check_name);
	consul_member_duration(b, &sep, "TTL", s->check_ttl_ms);
	consul_member_str(b, &sep, "Status", s->check_status);
	consul_member_str(b, &sep, "Notes", s->check_notes);
	if (s->deregister_after_ms > 0)
		consul_member_duration(b, &sep, "DeregisterCriticalServiceAfter", s->deregister_after_ms);
	json_buf_raw(b, "}");
}

static void meta_body(struct json_buf *b, const struct consul_service *s)
{
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

static void service_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";

	json_buf_raw(b, "{");
	consul_member_str(b, &sep, "ID", s->id);
	consul_member(b, &sep, "Name");
	json_buf_string(b, s->name);
	if (s->ntags > 0) {
		consul_member(b, &sep, "Tags");
		consul_add_str_array(b, s->tags, s->ntags);
	}
	consul_member_str(b, &sep, "Address", s->address);
	if (s->port > 0) {
		consul_member(b, &sep, "Port");
		json_buf_int(b, s->port);
	}
	if (s->nmeta > 0) {
		consul_member(b, &sep, "Meta");
		meta_body(b, s);
	}
	if (s->check_ttl_ms > 0) {
		consul_member(b, &sep, "Check");
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
		consul_seterr(c, "consul: PUT %s: missing service name", path);
		return CONSUL_ERR;
	}
	service_body(&body, s);
	if (body.failed) {
		json_buf_free(&body);
		consul_seterr(c, "consul: PUT %s: out of memory", path);
		return CONSUL_ERR;
	}
	rc = consul_request_json(c, "PUT", path, s->replace_existing_checks ? "replace-existing-checks" : NULL,
	                         body.data, body.len);
	json_buf_free(&body);
	return rc;
}

int consul_service_deregister(struct consul *c, const char *id)
{
	int rc = consul_put_id(c, "/v1/agent/service/deregister/", id, "service ID");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';    /* unknown service: already gone */
		return CONSUL_OK;
	}
	return consul_is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_check_update(struct consul *c, const char *check_id, const char *status, const char *output)
{
	struct json_buf path = {0}, body = {0};
	int rc;

	if (check_id == NULL || check_id[0] == '\0' || status == NULL) {
		consul_seterr(c, "consul: PUT /v1/agent/check/update/: missing check ID or status");
		return CONSUL_ERR;
	}
	consul_build_path(&path, "/v1/agent/check/update/", check_id, 0);
	json_buf_raw(&body, "{\"Status\":");
	json_buf_string(&body, status);
	json_buf_raw(&body, ",\"Output\":");
	json_buf_string(&body, output != NULL ? output : "");
	json_buf_raw(&body, "}");
	if (path.failed || body.failed) {
		consul_seterr(c, "consul: PUT /v1/agent/check/update: out of memory");
		rc = CONSUL_ERR;
	} else {
		rc = consul_transport(c, "PUT", path.data, NULL, body.data, body.len, 0, 1);
		if (rc == CONSUL_OK && !consul_is_2xx(c)) {
			consul_http_error(c, "PUT", path.data);
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
		consul_seterr(c, "consul: PUT /v1/agent/check: missing check ID or bad status");
		return CONSUL_ERR;
	}
	snprintf(prefix, sizeof prefix, "/v1/agent/check/%s/", status);
	consul_build_path(&path, prefix, check_id, 0);
	if (note != NULL && note[0] != '\0')
		consul_add_param(&q, "note", note);
	rc = consul_call(c, "PUT", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404)
		return CONSUL_ABSENT;
	return consul_is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

