/* SPDX-License-Identifier: MIT */
/* fuzz_json: every JSON reader of common/json.c and decoder of common/consul_decode.c on arbitrary input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consul_decode.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk the whole tree through the generic accessors. */
static void walk(const struct json_doc *d, int t, int depth)
{
	char buf[64];
	uint64_t u;
	int64_t i;
	int b;

	if (depth > JSON_MAX_DEPTH + 2)
		abort();
	switch (json_type(d, t)) {
	case JSON_OBJECT:
		for (int k = json_first(d, t); k >= 0; k = json_next(d, k)) {
			free(json_string_dup(d, k));
			walk(d, json_member_value(d, k), depth + 1);
		}
		(void)json_get(d, t, "Key");
		break;
	case JSON_ARRAY:
		for (int e = json_first(d, t); e >= 0; e = json_next(d, e))
			walk(d, e, depth + 1);
		break;
	case JSON_STRING:
		(void)json_string(d, t, buf, sizeof buf);
		(void)json_string_eq(d, t, "passing");
		free(json_string_dup(d, t));
		break;
	case JSON_NUMBER:
		(void)json_uint64(d, t, &u);
		(void)json_int64(d, t, &i);
		break;
	default:
		(void)json_bool(d, t, &b);
		(void)json_is_null(d, t);
		break;
	}
}

static void roundtrip_base64(const uint8_t *data, size_t size)
{
	char *enc = malloc(json_base64_encoded_size(size));
	unsigned char *dec = malloc(size + 3); /* >= both decodes below */
	size_t n;

	if (enc == NULL || dec == NULL)
		abort();
	json_base64_encode(data, size, enc);
	if (json_base64_decode(enc, strlen(enc), dec, &n) != 0 || n != size ||
	    (size > 0 && memcmp(dec, data, size) != 0))
		abort();
	/* The input itself as base64 text: must not overrun. */
	(void)json_base64_decode((const char *)data, size, dec, &n);
	free(enc);
	free(dec);
}

static void decoders(const char *s, size_t n)
{
	char err[128], id[64], node[64], dc[64];
	struct json_kv_entry *kv;
	struct json_health_entry *he;
	struct json_session *ss;
	size_t cnt;
	int b;

	if (json_decode_kv(s, n, &kv, &cnt, err, sizeof err) == 0)
		json_kv_free(kv, cnt);
	if (json_decode_health(s, n, &he, &cnt, err, sizeof err) == 0)
		json_health_free(he, cnt);
	if (json_decode_sessions(s, n, &ss, &cnt, err, sizeof err) == 0)
		free(ss);
	(void)json_decode_id(s, n, id, sizeof id, err, sizeof err);
	(void)json_decode_bool(s, n, &b, err, sizeof err);
	(void)json_decode_string(s, n, id, sizeof id, err, sizeof err);
	(void)json_decode_agent_self(s, n, node, sizeof node, dc, sizeof dc, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc d;
	struct json_buf b = {0};
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (json_parse(&d, s, size) == 0) {
		walk(&d, 0, 0);
		json_free(&d);
	}
	decoders(s, size);
	roundtrip_base64(data, size);
	/* Escaping anything must give a string that parses back to the same (valid UTF-8) text. */
	json_buf_string(&b, s);
	if (b.failed || json_parse(&d, b.data, b.len) != 0)
		abort();
	free(json_string_dup(&d, 0));
	json_free(&d);
	json_buf_free(&b);
	free(s);
	return 0;
}
