/* SPDX-License-Identifier: MIT */
/* consul_decode: Consul's answers (KV, health, sessions, agent) decoded from JSON into C structs. */
#include "consul_decode.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- field readers ---- */

/*
 * Absent and null read as empty/zero (Go emits null for nil slices and maps);
 * a present value of the wrong type is an error.
 */
static int field_str(const struct json_doc *d, int obj, const char *name, char **out)
{
	int v = json_get(d, obj, name);

	*out = NULL;
	if (v < 0 || json_is_null(d, v))
		*out = strdup("");
	else if (json_type(d, v) == JSON_STRING)
		*out = json_string_dup(d, v);
	else
		return -1;
	return *out == NULL ? -1 : 0;
}

static int field_buf(const struct json_doc *d, int obj, const char *name, char *buf, size_t size)
{
	int v = json_get(d, obj, name);

	buf[0] = '\0';
	if (v < 0 || json_is_null(d, v))
		return 0;
	return json_string(d, v, buf, size);
}

static int field_u64(const struct json_doc *d, int obj, const char *name, uint64_t *out)
{
	int v = json_get(d, obj, name);

	*out = 0;
	if (v < 0 || json_is_null(d, v))
		return 0;
	return json_uint64(d, v, out);
}

/* The container at obj.name: -2 when absent or null, -1 when of another type. */
static int field_container(const struct json_doc *d, int obj, const char *name, enum json_type want)
{
	int v = json_get(d, obj, name);

	if (v < 0 || json_is_null(d, v))
		return -2;
	return json_type(d, v) == want ? v : -1;
}

/* A string or number member read into a struct at offset off (a char[size] or a uint64_t). */
struct field {
	const char *name;
	size_t off;
	size_t size;               /* of the char array; 0 for a uint64_t */
};

#define STR_FIELD(type, name, member) { name, offsetof(type, member), sizeof(((type *)0)->member) }
#define U64_FIELD(type, name, member) { name, offsetof(type, member), 0 }

/* Read n fields of obj into the struct at base, in order; -1 with *bad naming the first bad one. */
static int read_fields(const struct json_doc *d, int obj, void *base, const struct field *f, size_t n,
                       const char **bad)
{
	for (size_t i = 0; i < n; i++) {
		char *at = (char *)base + f[i].off;
		int rc = f[i].size > 0 ? field_buf(d, obj, f[i].name, at, f[i].size)
		                       : field_u64(d, obj, f[i].name, (uint64_t *)(void *)at);
		if (rc != 0)
			return *bad = f[i].name, -1;
	}
	return 0;
}

/* obj is an object (else *bad = what) whose member key is a string (else *bad = key). */
static int object_keyed(const struct json_doc *d, int obj, const char *what, const char *key, const char **bad)
{
	if (json_type(d, obj) != JSON_OBJECT)
		return *bad = what, -1;
	if (json_type(d, json_get(d, obj, key)) != JSON_STRING)
		return *bad = key, -1;
	return 0;
}

/* Array slots for the elements of container t, plus one so that it is never 0. */
static size_t slots(const struct json_doc *d, int t)
{
	int n = json_count(d, t);

	return (n > 0 ? (size_t)n : 0) + 1;
}

/* ---- bodies ---- */

/* Parse a whole answer body; err gets "what: why" on failure. */
static int parse_body(struct json_doc *d, const char *body, size_t len, const char *what,
                      char *err, size_t errlen)
{
	if (json_parse(d, body, len) != 0) {
		set_err(err, errlen, "%s: %s", what, d->err);
		return -1;
	}
	return 0;
}

/* What decode_array needs to know of one kind of entry. */
struct entry_kind {
	const char *what;          /* the array in errors: "KV entries" */
	const char *one;           /* one entry in errors: "KV entry" */
	size_t size;               /* of one decoded entry */
	int (*decode)(const struct json_doc *d, int t, void *entry, const char **bad);
	void (*release)(void *arr, size_t n);   /* frees n entries and the array */
};

/*
 * The one loop over an array answer (KV entries, health entries, sessions):
 * each element decoded by k->decode into a calloc'd array of JSON_MAX_ENTRIES
 * at most; on the first bad one, everything decoded so far is released.
 */
static int decode_array(const char *body, size_t len, const struct entry_kind *k, void **out,
                        size_t *n, char *err, size_t errlen)
{
	struct json_doc d;
	unsigned char *arr;
	size_t i = 0;
	const char *bad = "";

	*out = NULL;
	*n = 0;
	if (parse_body(&d, body, len, k->what, err, errlen) != 0)
		return -1;
	if (json_type(&d, 0) != JSON_ARRAY || json_count(&d, 0) > JSON_MAX_ENTRIES) {
		if (json_type(&d, 0) != JSON_ARRAY)
			set_err(err, errlen, "%s: not a JSON array", k->what);
		else
			set_err(err, errlen, "%s: more than %d entries", k->what, JSON_MAX_ENTRIES);
		json_free(&d);
		return -1;
	}
	arr = calloc(slots(&d, 0), k->size);
	if (arr == NULL) {
		json_free(&d);
		set_err(err, errlen, "%s: out of memory", k->what);
		return -1;
	}
	for (int t = json_first(&d, 0); t >= 0 && i < (size_t)json_count(&d, 0); t = json_next(&d, t), i++) {
		if (k->decode(&d, t, arr + i * k->size, &bad) != 0) {
			set_err(err, errlen, "%s %zu: bad %s", k->one, i, bad);
			k->release(arr, i + 1);
			json_free(&d);
			return -1;
		}
	}
	json_free(&d);
	*out = arr;
	*n = i;
	return 0;
}

/* ---- KV ---- */

void json_kv_entry_clear(struct json_kv_entry *e)
{
	if (e == NULL)
		return;
	free(e->key);
	free(e->value);
	memset(e, 0, sizeof *e);
}

void json_kv_free(struct json_kv_entry *e, size_t n)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		json_kv_entry_clear(&e[i]);
	free(e);
}

static void kv_release(void *arr, size_t n)
{
	json_kv_free(arr, n);
}

static int decode_kv_value(const struct json_doc *d, int obj, struct json_kv_entry *e)
{
	int v = json_get(d, obj, "Value");
	char *raw;
	size_t rlen;
	int rc;

	if (v < 0 || json_is_null(d, v))
		return 0;
	raw = json_string_dup(d, v);
	if (raw == NULL)
		return -1;
	rlen = strlen(raw);
	e->value = malloc(rlen / 4 * 3 + 1);
	rc = e->value == NULL ? -1 : json_base64_decode(raw, rlen, e->value, &e->value_len);
	free(raw);
	if (rc == 0)
		e->value[e->value_len] = '\0';
	return rc;
}

static const struct field kv_fields[] = {
	U64_FIELD(struct json_kv_entry, "Flags", flags),
	STR_FIELD(struct json_kv_entry, "Session", session),
	U64_FIELD(struct json_kv_entry, "LockIndex", lock_index),
	U64_FIELD(struct json_kv_entry, "CreateIndex", create_index),
	U64_FIELD(struct json_kv_entry, "ModifyIndex", modify_index),
};

static int decode_kv_entry(const struct json_doc *d, int obj, void *entry, const char **bad)
{
	struct json_kv_entry *e = entry;

	if (object_keyed(d, obj, "entry", "Key", bad) != 0)
		return -1;
	if (field_str(d, obj, "Key", &e->key) != 0)
		return *bad = "Key", -1;
	/* Flags before Value, as the fields come: the first bad one is named. */
	if (read_fields(d, obj, e, kv_fields, 1, bad) != 0)
		return -1;
	if (decode_kv_value(d, obj, e) != 0)
		return *bad = "Value", -1;
	return read_fields(d, obj, e, kv_fields + 1, sizeof kv_fields / sizeof kv_fields[0] - 1, bad);
}

static const struct entry_kind kv_kind = {
	"KV entries", "KV entry", sizeof(struct json_kv_entry), decode_kv_entry, kv_release
};

int json_decode_kv(const char *body, size_t len, struct json_kv_entry **out, size_t *n,
                   char *err, size_t errlen)
{
	void *arr;
	int rc = decode_array(body, len, &kv_kind, &arr, n, err, errlen);

	*out = arr;
	return rc;
}

/* ---- health ---- */

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void json_health_free(struct json_health_entry *e, size_t n)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		struct json_health_entry *h = &e[i];
		free(h->node);
		free(h->node_address);
		free(h->service_id);
		free(h->service_name);
		free(h->service_address);
		free_strv(h->tags, h->ntags);
		free_strv(h->meta_keys, h->nmeta);
		free_strv(h->meta_values, h->nmeta);
		for (size_t k = 0; k < h->nchecks; k++) {
			free(h->checks[k].check_id);
			free(h->checks[k].status);
			free(h->checks[k].service_id);
		}
		free(h->checks);
	}
	free(e);
}

static void health_release(void *arr, size_t n)
{
	json_health_free(arr, n);
}

static int decode_tags(const struct json_doc *d, int svc, struct json_health_entry *h)
{
	int arr = field_container(d, svc, "Tags", JSON_ARRAY);

	if (arr == -2)
		return 0;
	if (arr < 0)
		return -1;
	h->tags = calloc(slots(d, arr), sizeof(char *));
	if (h->tags == NULL)
		return -1;
	for (int t = json_first(d, arr); t >= 0 && h->ntags < (size_t)json_count(d, arr); t = json_next(d, t)) {
		h->tags[h->ntags] = json_string_dup(d, t);
		if (h->tags[h->ntags] == NULL)
			return -1;
		h->ntags++;
	}
	return 0;
}

static int decode_meta(const struct json_doc *d, int svc, struct json_health_entry *h)
{
	int obj = field_container(d, svc, "Meta", JSON_OBJECT);
	size_t cnt;

	if (obj == -2)
		return 0;
	if (obj < 0)
		return -1;
	cnt = slots(d, obj);
	h->meta_keys = calloc(cnt, sizeof(char *));
	h->meta_values = calloc(cnt, sizeof(char *));
	if (h->meta_keys == NULL || h->meta_values == NULL)
		return -1;
	for (int k = json_first(d, obj); k >= 0 && h->nmeta + 1 < cnt; k = json_next(d, k)) {
		char *key = json_string_dup(d, k);
		char *val = json_string_dup(d, json_member_value(d, k));
		h->meta_keys[h->nmeta] = key;
		h->meta_values[h->nmeta] = val;
		h->nmeta++;
		if (key == NULL || val == NULL)
			return -1;
	}
	return 0;
}

static int decode_checks(const struct json_doc *d, int entry, struct json_health_entry *h)
{
	int arr = field_container(d, entry, "Checks", JSON_ARRAY);

	if (arr == -2)
		return 0;
	if (arr < 0)
		return -1;
	h->checks = calloc(slots(d, arr), sizeof *h->checks);
	if (h->checks == NULL)
		return -1;
	for (int t = json_first(d, arr); t >= 0 && h->nchecks < (size_t)json_count(d, arr); t = json_next(d, t)) {
		struct json_health_check *c = &h->checks[h->nchecks++];
		if (json_type(d, t) != JSON_OBJECT || field_str(d, t, "CheckID", &c->check_id) != 0 ||
		    field_str(d, t, "Status", &c->status) != 0 ||
		    field_str(d, t, "ServiceID", &c->service_id) != 0)
			return -1;
	}
	return 0;
}

static int decode_health_entry(const struct json_doc *d, int e, void *entry, const char **bad)
{
	struct json_health_entry *h = entry;
	int node = json_get(d, e, "Node"), svc = json_get(d, e, "Service");
	int64_t port = 0;
	int pt;

	if (json_type(d, e) != JSON_OBJECT)
		return *bad = "entry", -1;
	if (json_type(d, node) != JSON_OBJECT || field_str(d, node, "Node", &h->node) != 0 ||
	    field_str(d, node, "Address", &h->node_address) != 0)
		return *bad = "Node", -1;
	if (json_type(d, svc) != JSON_OBJECT || field_str(d, svc, "ID", &h->service_id) != 0 ||
	    field_str(d, svc, "Service", &h->service_name) != 0 ||
	    field_str(d, svc, "Address", &h->service_address) != 0)
		return *bad = "Service", -1;
	pt = json_get(d, svc, "Port");
	if (pt >= 0 && (json_int64(d, pt, &port) != 0 || port < 0 || port > 65535))
		return *bad = "Service.Port", -1;
	h->port = (int)port;
	if (decode_tags(d, svc, h) != 0)
		return *bad = "Service.Tags", -1;
	if (decode_meta(d, svc, h) != 0)
		return *bad = "Service.Meta", -1;
	if (decode_checks(d, e, h) != 0)
		return *bad = "Checks", -1;
	return 0;
}

static const struct entry_kind health_kind = {
	"health entries", "health entry", sizeof(struct json_health_entry), decode_health_entry,
	health_release
};

int json_decode_health(const char *body, size_t len, struct json_health_entry **out, size_t *n,
                       char *err, size_t errlen)
{
	void *arr;
	int rc = decode_array(body, len, &health_kind, &arr, n, err, errlen);

	*out = arr;
	return rc;
}

/* ---- sessions ---- */

static void sessions_release(void *arr, size_t n)
{
	(void)n;    /* a session holds no pointers */
	free(arr);
}

static const struct field session_fields[] = {
	STR_FIELD(struct json_session, "Name", name),
	STR_FIELD(struct json_session, "Node", node),
	STR_FIELD(struct json_session, "TTL", ttl),
	U64_FIELD(struct json_session, "LockDelay", lock_delay_ns),
	STR_FIELD(struct json_session, "Behavior", behavior),
	U64_FIELD(struct json_session, "CreateIndex", create_index),
	U64_FIELD(struct json_session, "ModifyIndex", modify_index),
};

static int decode_session(const struct json_doc *d, int obj, void *entry, const char **bad)
{
	struct json_session *s = entry;

	if (object_keyed(d, obj, "session", "ID", bad) != 0)
		return -1;
	if (field_buf(d, obj, "ID", s->id, sizeof s->id) != 0 || s->id[0] == '\0')
		return *bad = "ID", -1;
	if (read_fields(d, obj, s, session_fields, sizeof session_fields / sizeof session_fields[0], bad) != 0)
		return -1;
	/* An unparsable TTL reads as none: the caller keeps its own. */
	if (s->ttl[0] == '\0' || config_parse_duration(s->ttl, &s->ttl_ms) != 0)
		s->ttl_ms = 0;
	return 0;
}

static const struct entry_kind session_kind = {
	"sessions", "session", sizeof(struct json_session), decode_session, sessions_release
};

int json_decode_sessions(const char *body, size_t len, struct json_session **out, size_t *n,
                         char *err, size_t errlen)
{
	void *arr;
	int rc = decode_array(body, len, &session_kind, &arr, n, err, errlen);

	*out = arr;
	return rc;
}

/* ---- single values ---- */

int json_decode_id(const char *body, size_t len, char *id, size_t idlen, char *err, size_t errlen)
{
	struct json_doc d;
	int v, rc = -1;

	if (parse_body(&d, body, len, "ID response", err, errlen) != 0)
		return -1;
	v = json_get(&d, 0, "ID");
	if (json_type(&d, v) != JSON_STRING || json_string(&d, v, id, idlen) != 0 || id[0] == '\0')
		set_err(err, errlen, "ID response: no ID string");
	else
		rc = 0;
	json_free(&d);
	return rc;
}

int json_decode_bool(const char *body, size_t len, int *v, char *err, size_t errlen)
{
	struct json_doc d;
	int rc;

	if (parse_body(&d, body, len, "boolean response", err, errlen) != 0)
		return -1;
	rc = json_bool(&d, 0, v);
	if (rc != 0)
		set_err(err, errlen, "boolean response: not true or false");
	json_free(&d);
	return rc;
}

int json_decode_string(const char *body, size_t len, char *buf, size_t size, char *err, size_t errlen)
{
	struct json_doc d;
	int rc;

	if (parse_body(&d, body, len, "string response", err, errlen) != 0)
		return -1;
	rc = json_string(&d, 0, buf, size);
	if (rc != 0)
		set_err(err, errlen, "string response: not a string or too long");
	json_free(&d);
	return rc;
}

int json_decode_agent_self(const char *body, size_t len, char *node, size_t nodelen,
                           char *dc, size_t dclen, char *err, size_t errlen)
{
	struct json_doc d;
	int cfg, rc = -1;

	if (parse_body(&d, body, len, "agent self", err, errlen) != 0)
		return -1;
	cfg = json_get(&d, 0, "Config");
	if (json_type(&d, cfg) != JSON_OBJECT)
		set_err(err, errlen, "agent self: no Config object");
	else if (json_string(&d, json_get(&d, cfg, "NodeName"), node, nodelen) != 0)
		set_err(err, errlen, "agent self: bad Config.NodeName");
	else if (field_buf(&d, cfg, "Datacenter", dc, dclen) != 0)
		set_err(err, errlen, "agent self: bad Config.Datacenter");
	else
		rc = 0;
	json_free(&d);
	return rc;
}
