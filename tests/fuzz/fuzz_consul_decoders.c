/* SPDX-License-Identifier: MIT */
/* fuzz_consul_decoders: the Consul decoders on answers built to be deep and wide, with the caps checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consul_decode.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: byte 0 picks the decoder, byte 1 a nesting depth (0-63) put in every
 * entry, byte 2 the count of entries (0-251 as is; 252-255 the counts around
 * the cap, so that most runs stay small and fast), byte 3 is spare, the rest
 * a fragment of the entry's members. The answer is
 *   [ {<fragment>,"X":[[...]]}, ... count times ]
 * so the grammar around the fragment is valid and the depth and the count are
 * whatever the fuzzer chooses, around the caps of common/json.h.
 */
struct answer {
	char *text;
	size_t len;
	int depth;      /* the deepest nesting in it: array + object + the X arrays */
	size_t count;
};

static void put(struct answer *a, const void *s, size_t n)
{
	memcpy(a->text + a->len, s, n);
	a->len += n;
}

static int build(struct answer *a, const uint8_t *data, size_t size)
{
	int depth = data[1] & 63;
	static const size_t big[4] = { 1000, JSON_MAX_ENTRIES, JSON_MAX_ENTRIES + 1, 2 * JSON_MAX_ENTRIES };
	size_t count = data[2] < 252 ? data[2] : big[data[2] - 252];
	const uint8_t *frag = data + 4;
	size_t flen = size - 4;
	size_t one = flen + 8 + 2 * (size_t)depth;
	a->text = malloc(count * (one + 1) + 3);
	if (a->text == NULL)
		return -1;
	a->len = 0;
	a->depth = 2 + depth;
	a->count = count;
	put(a, "[", 1);
	for (size_t i = 0; i < count; i++) {
		put(a, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		put(a, frag, flen);
		put(a, flen > 0 ? ",\"X\":" : "\"X\":", flen > 0 ? 5 : 4);
		for (int k = 0; k < depth; k++)
			put(a, "[", 1);
		put(a, "0", 1);
		for (int k = 0; k < depth; k++)
			put(a, "]", 1);
		put(a, "}", 1);
	}
	put(a, "]", 1);
	a->text[a->len] = '\0';
	return 0;
}

/* The deepest nesting of arrays and objects in s, strings skipped: an oracle apart from json.c. */
static int max_depth(const char *s, size_t len)
{
	int depth = 0, max = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				max = depth;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return max;
}

/* What a decoder accepted respects every cap: an over-deep or over-wide answer never decodes. (The
 * fragment may close the entry early, so the count of entries is not always a->count.) */
static void check_caps(const struct answer *a, int ok, size_t n)
{
	if (!ok)
		return;
	if (max_depth(a->text, a->len) > JSON_MAX_DEPTH || n > JSON_MAX_ENTRIES)
		abort();
	if (a->depth > JSON_MAX_DEPTH && a->count > 0 && memchr(a->text, '"', a->len) == NULL)
		abort();
}

static void health(const struct answer *a)
{
	struct json_health_entry *e;
	size_t n = 0;
	char err[128];
	int ok = json_decode_health(a->text, a->len, &e, &n, err, sizeof err) == 0;
	check_caps(a, ok, n);
	if (!ok)
		return;
	for (size_t i = 0; i < n; i++) {
		if (e[i].port < 0 || e[i].port > 65535 || e[i].node == NULL || e[i].node_address == NULL ||
		    e[i].service_address == NULL || e[i].service_id == NULL || e[i].service_name == NULL)
			abort();
		for (size_t k = 0; k < e[i].nchecks; k++)
			if (e[i].checks[k].status == NULL)
				abort();
	}
	json_health_free(e, n);
}

static void kv(const struct answer *a)
{
	struct json_kv_entry *e;
	size_t n = 0;
	char err[128];
	int ok = json_decode_kv(a->text, a->len, &e, &n, err, sizeof err) == 0;
	check_caps(a, ok, n);
	if (!ok)
		return;
	for (size_t i = 0; i < n; i++)
		if (e[i].key == NULL || (e[i].value != NULL && e[i].value[e[i].value_len] != '\0'))
			abort();
	json_kv_free(e, n);
}

static void sessions(const struct answer *a)
{
	struct json_session *s;
	size_t n = 0;
	char err[128];
	int ok = json_decode_sessions(a->text, a->len, &s, &n, err, sizeof err) == 0;
	check_caps(a, ok, n);
	if (!ok)
		return;
	for (size_t i = 0; i < n; i++)
		if (s[i].id[0] == '\0' || s[i].ttl_ms < 0)
			abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answer a;
	struct json_doc d;
	if (size < 4 || size > 512 || build(&a, data, size) != 0)
		return 0;
	switch (data[0] % 3) {
	case 0: health(&a); break;
	case 1: kv(&a); break;
	default: sessions(&a); break;
	}
	/* The generic parser: the same caps, and never more tokens than it may hold. */
	if (json_parse(&d, a.text, a.len) == 0) {
		if (max_depth(a.text, a.len) > JSON_MAX_DEPTH || d.ntok > JSON_MAX_TOKENS)
			abort();
		json_free(&d);
	}
	free(a.text);
	return 0;
}
