/* SPDX-License-Identifier: MIT */
/* test_json: the JSON reader, base64, escaping and UTF-8, as TAP (the Consul decoders: test_consul_decode.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "tap.h"

static int parses(const char *s)
{
	struct json_doc d;
	int rc = json_parse(&d, s, strlen(s));

	json_free(&d);
	return rc == 0;
}

static void test_grammar(void)
{
	static const char *const good[] = {
		"{}", "[]", " [1, 2.5, -0, 1e10, -1.5E-3, true, false, null] ", "\"x\"", "0", "-1",
		"{\"a\":{\"b\":[{}]},\"c\":\"\\u00e9\\ud83d\\ude00\\/\\\"\\\\\\b\\f\\n\\r\\t\"}",
		"\n\t{ \"k\" : [ ] }\r\n", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "true", "null",
	};
	static const char *const bad[] = {
		"", "   ", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
		"{1:2}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]", "[tru]", "[True]", "[nul]", "[1]]",
		"[[1]", "{\"a\":1}}", "1 2", "[\"\\x\"]", "[\"\\u12\"]", "[\"\\ud800\"]",
		"[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\u0000\"]", "[\"a\tb\"]", "[\"\xff\"]",
		"[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "\"abc", "{\"a\":1:2}",
		"[1,,2]", "{,}", "[-]", "[--1]", "{\"a\":[}]", "[}", "nulls", "[1]x",
	};
	char deep[200];
	int ok = 1;

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (!parses(good[i])) {
			printf("# rejected good: %s\n", good[i]);
			ok = 0;
		}
	check(ok, "valid documents parse");
	ok = 1;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (parses(bad[i])) {
			printf("# accepted bad: %s\n", bad[i]);
			ok = 0;
		}
	check(ok, "invalid documents are rejected");
	{
		struct json_doc d;
		check(json_parse(&d, "[1]\0[2]", 7) != 0 && json_parse(&d, "[\"a\0\"]", 5) != 0,
		      "NUL byte in the text is rejected");
	}
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	{
		struct json_doc d;
		check(json_parse(&d, deep, 200) != 0, "nesting beyond JSON_MAX_DEPTH is rejected");
		json_free(&d);
		check(json_parse(&d, deep + 100 - JSON_MAX_DEPTH, 2 * JSON_MAX_DEPTH) == 0,
		      "nesting of JSON_MAX_DEPTH is accepted");
		json_free(&d);
	}
	{
		/* Growing the token array: many tokens. */
		size_t n = 20000;
		char *big = malloc(n * 2 + 3);
		size_t o = 0;
		big[o++] = '[';
		for (size_t i = 0; i < n; i++) {
			big[o++] = '1';
			big[o++] = i + 1 < n ? ',' : ']';
		}
		struct json_doc d;
		check(json_parse(&d, big, o) == 0 && json_count(&d, 0) == (int)n, "20000 elements parse");
		json_free(&d);
		free(big);
	}
}

static void test_access(void)
{
	const char *s = "{\"a\":1,\"b\":[10,{\"x\":true},\"s\"],\"a\":2,\"n\":null,"
	                "\"e\\u0073c\":\"\\ud83d\\ude00\\u00e9\\n\",\"big\":18446744073709551615,"
	                "\"over\":18446744073709551616,\"min\":-9223372036854775808,"
	                "\"under\":-9223372036854775809,\"f\":1.5,\"x\":1e3,\"neg\":-3}";
	struct json_doc d;
	uint64_t u;
	int64_t i;
	int b, v;
	char buf[32];

	check(json_parse(&d, s, strlen(s)) == 0, "object parses");
	check(json_type(&d, 0) == JSON_OBJECT && json_count(&d, 0) == 12, "object with 12 members");
	check(json_int64(&d, json_get(&d, 0, "a"), &i) == 0 && i == 2, "duplicate key: last wins");
	v = json_get(&d, 0, "b");
	check(json_count(&d, v) == 3, "array count");
	int e1 = json_first(&d, v), e2 = json_next(&d, e1), e3 = json_next(&d, e2);
	check(json_type(&d, e1) == JSON_NUMBER && json_type(&d, e2) == JSON_OBJECT &&
	      json_type(&d, e3) == JSON_STRING && json_next(&d, e3) == -1, "array iteration");
	check(json_bool(&d, json_get(&d, e2, "x"), &b) == 0 && b == 1, "nested bool");
	check(json_is_null(&d, json_get(&d, 0, "n")), "null");
	check(json_get(&d, 0, "missing") == -1 && json_get(&d, v, "a") == -1, "missing member and non-object");
	check(json_string(&d, json_get(&d, 0, "esc"), buf, sizeof buf) == 0 &&
	      strcmp(buf, "\xf0\x9f\x98\x80\xc3\xa9\n") == 0, "escaped key lookup, surrogate pair to UTF-8");
	check(json_string(&d, json_get(&d, 0, "esc"), buf, 4) == -1, "too small a buffer is refused");
	check(json_uint64(&d, json_get(&d, 0, "big"), &u) == 0 && u == UINT64_MAX, "uint64 max");
	check(json_uint64(&d, json_get(&d, 0, "over"), &u) == -1, "uint64 overflow");
	check(json_int64(&d, json_get(&d, 0, "min"), &i) == 0 && i == INT64_MIN, "int64 min");
	check(json_int64(&d, json_get(&d, 0, "under"), &i) == -1, "int64 underflow");
	check(json_int64(&d, json_get(&d, 0, "big"), &i) == -1, "int64 overflow");
	check(json_uint64(&d, json_get(&d, 0, "neg"), &u) == -1 &&
	      json_int64(&d, json_get(&d, 0, "neg"), &i) == 0 && i == -3, "negative: int64 only");
	check(json_int64(&d, json_get(&d, 0, "f"), &i) == -1 && json_uint64(&d, json_get(&d, 0, "x"), &u) == -1,
	      "fractions and exponents are not integers");
	check(json_string(&d, v, buf, sizeof buf) == -1 && json_bool(&d, v, &b) == -1 &&
	      json_uint64(&d, -1, &u) == -1 && json_type(&d, 9999) == JSON_NONE, "type mismatches refused");
	int k = json_first(&d, 0);
	check(json_string_eq(&d, k, "a") && json_member_value(&d, k) == k + 1 &&
	      json_next(&d, k) == json_first(&d, 0) + 2, "object member iteration");
	json_free(&d);
}

static void test_base64(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	static const char *const bad[] = { "Zg=", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!A==", "Zm=v", "Zg\n==" };
	char out[32];
	unsigned char dec[32];
	size_t n;
	int ok = 1;

	for (int i = 0; i < 7; i++) {
		json_base64_encode(plain[i], strlen(plain[i]), out);
		if (strcmp(out, enc[i]) != 0 || json_base64_encoded_size(strlen(plain[i])) != strlen(enc[i]) + 1)
			ok = 0;
		if (json_base64_decode(enc[i], strlen(enc[i]), dec, &n) != 0 || n != strlen(plain[i]) ||
		    memcmp(dec, plain[i], n) != 0)
			ok = 0;
	}
	check(ok, "RFC 4648 vectors encode and decode");
	ok = 1;
	for (int i = 0; i < 7; i++)
		if (json_base64_decode(bad[i], strlen(bad[i]), dec, &n) == 0) {
			printf("# accepted bad base64: %s\n", bad[i]);
			ok = 0;
		}
	check(ok, "bad base64 is rejected");
}

static void test_escape(void)
{
	struct json_buf b = {0};
	struct json_doc d;
	char out[64], back[64];

	check(json_escape("a\"b\\c\n\x01/", out, sizeof out) == 0 &&
	      strcmp(out, "\"a\\\"b\\\\c\\n\\u0001/\"") == 0, "quotes, backslash, controls escaped");
	check(json_escape("x\xff" "y", out, sizeof out) == 0 && strcmp(out, "\"x\\ufffdy\"") == 0,
	      "invalid UTF-8 becomes U+FFFD");
	check(json_escape("caf\xc3\xa9", out, sizeof out) == 0 && strcmp(out, "\"caf\xc3\xa9\"") == 0,
	      "valid UTF-8 kept");
	check(json_escape("0123456789", out, 12) == -1, "too small a buffer is refused");
	check(json_escape("\b\f\x7f", out, sizeof out) == 0 && strcmp(out, "\"\\u0008\\u000c\\u007f\"") == 0,
	      "other controls and DEL as \\u00XX, as the log writes them");
	static const struct { const char *s; size_t n, want; } u8[] = {
		{ "\xc3\xa9", 2, 2 }, { "\xf0\x9f\x98\x80", 4, 4 }, { "\xc3", 1, 0 }, { "\xc0\xaf", 2, 0 },
		{ "\xed\xa0\x80", 3, 0 }, { "\xf4\x90\x80\x80", 4, 0 },
	};
	int u8ok = 1;
	for (size_t i = 0; i < sizeof u8 / sizeof u8[0]; i++)
		u8ok &= json_utf8_len((const unsigned char *)u8[i].s, u8[i].n) == u8[i].want;
	check(u8ok, "UTF-8: valid kept; cut, overlong, surrogate and past U+10FFFF refused");
	json_buf_raw(&b, "{\"k\":");
	json_buf_string(&b, "tab\there \"q\" \x7f end");
	json_buf_raw(&b, ",\"n\":");
	json_buf_uint(&b, UINT64_MAX);
	json_buf_raw(&b, ",\"i\":");
	json_buf_int(&b, INT64_MIN);
	json_buf_raw(&b, "}");
	check(!b.failed && json_parse(&d, b.data, b.len) == 0 &&
	      json_string(&d, json_get(&d, 0, "k"), back, sizeof back) == 0 &&
	      strcmp(back, "tab\there \"q\" \x7f end") == 0, "built body parses back");
	json_free(&d);
	json_buf_free(&b);
}


/* A string of n copies of a then n copies of b (malloc'd). */
static char *repeat2(size_t n, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(n * (la + lb) + 1);
	char *o = s;
	for (size_t i = 0; i < n; i++, o += la)
		memcpy(o, a, la);
	for (size_t i = 0; i < n; i++, o += lb)
		memcpy(o, b, lb);
	*o = '\0';
	return s;
}

/* A JSON array of n copies of elem (malloc'd). */
static char *array_of(size_t n, const char *elem)
{
	size_t l = strlen(elem);
	char *s = malloc(n * (l + 1) + 2);
	char *o = s;
	*o++ = '[';
	for (size_t i = 0; i < n; i++, o += l + 1) {
		memcpy(o, elem, l);
		o[l] = i + 1 < n ? ',' : ']';
	}
	*o = '\0';
	return s;
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Hostile sizes: depth and counts are refused up front, in time linear in the text. */
static void test_bounds(void)
{
	struct json_doc d;
	char *s = repeat2(JSON_MAX_DEPTH, "[", "]");
	check(json_parse(&d, s, strlen(s)) == 0, "nesting of JSON_MAX_DEPTH is accepted");
	json_free(&d);
	free(s);
	s = repeat2(JSON_MAX_DEPTH + 1, "[", "]");
	check(json_parse(&d, s, strlen(s)) != 0 && strstr(d.err, "nested too deep") != NULL,
	      "one level deeper is refused: nested too deep");
	free(s);
	s = repeat2(JSON_MAX_DEPTH + 1, "{\"a\":", "}");
	check(json_parse(&d, s, strlen(s)) != 0 && strstr(d.err, "nested too deep") != NULL,
	      "objects count towards the depth too");
	free(s);
	/* 200 KB of [[[[...]]]] took 13 s before the scan (jsmn walks up on every close). */
	double t0 = seconds_now();
	s = repeat2(100000, "[", "]");
	for (int i = 0; i < 10; i++)
		json_parse(&d, s, strlen(s));
	double dt = seconds_now() - t0;
	char what[128];
	snprintf(what, sizeof what, "10 x 200 KB nested 100000 deep refused in %.3f s (< 1 s)", dt);
	check(dt < 1.0, "%s", what);
	free(s);
	/* Brackets inside strings (escaped quotes too) do not nest. */
	s = repeat2(1000, "[", "]");
	char *str = malloc(strlen(s) + 16);
	snprintf(str, strlen(s) + 16, "[\"\\\"%s\"]", s);
	check(json_parse(&d, str, strlen(str)) == 0, "brackets inside a string do not count as nesting");
	json_free(&d);
	free(str);
	free(s);
	/* The most work an accepted document can ask for: many elements each nested to the cap. */
	char *one = repeat2(JSON_MAX_DEPTH - 1, "[", "]");
	s = array_of(6000, one);
	t0 = seconds_now();
	int rc = json_parse(&d, s, strlen(s));
	dt = seconds_now() - t0;
	json_free(&d);
	snprintf(what, sizeof what, "%zu KB of 6000 elements nested to the cap parse in %.3f s (< 1 s)",
	         strlen(s) / 1024, dt);
	check(rc == 0 && dt < 1.0, "%s", what);
	free(one);
	free(s);
	/* JSON_MAX_TOKENS values; one more is refused before jsmn runs. */
	size_t n = (size_t)JSON_MAX_TOKENS - 1;
	s = malloc(2 * n + 3);
	size_t o = 0;
	s[o++] = '[';
	for (size_t i = 0; i < n; i++) {
		s[o++] = '0';
		s[o++] = ',';
	}
	s[o - 1] = ']';
	check(json_parse(&d, s, o) == 0 && json_count(&d, 0) == (int)n, "JSON_MAX_TOKENS values parse");
	json_free(&d);
	s[o - 1] = ',';
	s[o++] = '0';
	s[o++] = ']';
	check(json_parse(&d, s, o) != 0 && strstr(d.err, "too many values") != NULL,
	      "one value more is refused: too many values");
	free(s);
}

int main(void)
{
	test_grammar();
	test_bounds();
	test_access();
	test_base64();
	test_escape();
	return tap_done();
}
