/* SPDX-License-Identifier: MIT */
/* consul_kv: /v1/kv: get, list, put (plain, cas, acquire, release), delete. */
#include "consul_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- KV ---- */

static int kv_path(struct consul *c, struct json_buf *path, const char *key, const char *method)
{
	const char *k = key != NULL ? key : "";

	while (*k == '/')
		k++;
	if (*k == '\0') {
		consul_seterr(c, "consul: %s /v1/kv/: missing key name", method);
		return -1;
	}
	consul_build_path(path, "/v1/kv/", k, 1);
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
	wait = consul_add_query(&q, qo);
	rc = consul_call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';
		return CONSUL_ABSENT;
	}
	if (!consul_is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_kv(c->body, c->body_len, &arr, &n, e, sizeof e) != 0) {
		consul_seterr(c, "consul: GET /v1/kv: %s", e);
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

int consul_kv_list(struct consul *c, const char *prefix, const struct consul_query *qo,
                   struct json_kv_entry **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];
	int64_t wait;
	int rc;

	*out = NULL;
	*n = 0;
	/* An empty prefix is every key: no missing-name check here. */
	consul_build_path(&path, "/v1/kv/", prefix != NULL ? prefix : "", 1);
	consul_add_param(&q, "recurse", NULL);
	wait = consul_add_query(&q, qo);
	rc = consul_call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';    /* no key under the prefix */
		return CONSUL_OK;
	}
	if (!consul_is_2xx(c))
		return CONSUL_ERR;
	return consul_decoded(c, json_decode_kv(c->body, c->body_len, out, n, e, sizeof e), "GET /v1/kv recurse", e);
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
		consul_add_param(&q, op, opval);
	consul_add_uparam(&q, "flags", flags);
	rc = consul_call(c, "PUT", &path, &q, value != NULL ? value : "", value != NULL ? len : 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!consul_is_2xx(c))
		return CONSUL_ERR;
	return consul_bool_body(c, "PUT /v1/kv", ok);
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
		consul_seterr(c, "consul: PUT /v1/kv: %s needs a session", op);
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
	consul_add_uparam(&q, "cas", cas);
	rc = consul_call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!consul_is_2xx(c))
		return CONSUL_ERR;
	return consul_bool_body(c, "DELETE /v1/kv", ok);
}

int consul_kv_delete(struct consul *c, const char *key)
{
	struct json_buf path = {0}, q = {0};
	int rc;

	if (kv_path(c, &path, key, "DELETE") != 0)
		return CONSUL_ERR;
	rc = consul_call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	return consul_is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

