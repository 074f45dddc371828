/* SPDX-License-Identifier: MIT */
/* test_consul_decode: the decoders of Consul's answers (common/consul_decode.c), as TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul_decode.h"
#include "json.h"
#include "tap.h"

static void test_decoders(void)
{
	const char *kv = "[{\"LockIndex\":3,\"Key\":\"resec/.lock\",\"Flags\":3304740253564472344,"
	                 "\"Value\":\"MTI3LjAuMC4xOjYzNzk=\",\"Session\":\"abc\",\"CreateIndex\":10,"
	                 "\"ModifyIndex\":42},{\"Key\":\"b\",\"Value\":null,\"Flags\":0}]";
	struct json_kv_entry *e;
	struct json_health_entry *h;
	struct json_session *s;
	size_t n;
	char err[128], id[64], node[32], dc[32];
	int v;

	check(json_decode_kv(kv, strlen(kv), &e, &n, err, sizeof err) == 0 && n == 2 &&
	      strcmp(e[0].key, "resec/.lock") == 0 && e[0].flags == 3304740253564472344ULL &&
	      e[0].value_len == 14 && memcmp(e[0].value, "127.0.0.1:6379", 14) == 0 &&
	      strcmp(e[0].session, "abc") == 0 && e[0].lock_index == 3 && e[0].modify_index == 42 &&
	      e[1].value == NULL && e[1].session[0] == '\0', "KV entries: value, flags, session absent/present");
	json_kv_free(e, n);
	check(json_decode_kv("[]", 2, &e, &n, err, sizeof err) == 0 && n == 0, "KV: empty array");
	json_kv_free(e, n);
	static const char *const badkv[] = { "{}", "[1]", "[{\"Flags\":1}]", "[{\"Key\":\"a\",\"Value\":\"***\"}]",
	                                     "[{\"Key\":\"a\",\"Flags\":-1}]", "[{\"Key\":\"a\",\"Session\":1}]",
	                                     "[{\"Key\":\"a\",\"Session\":\"" "0123456789012345678901234567890123456789"
	                                     "0123456789012345678901234567890123456789\"}]" };
	int ok = 1;
	for (size_t i = 0; i < sizeof badkv / sizeof *badkv; i++)
		if (json_decode_kv(badkv[i], strlen(badkv[i]), &e, &n, err, sizeof err) == 0) {
			json_kv_free(e, n);
			ok = 0;
		}
	check(ok, "KV: bad entries refused with an error");
	printf("# last KV error: %s\n", err);

	const char *hs = "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.1\"},\"Service\":{\"ID\":\"r@:6379\","
	                 "\"Service\":\"redis-master\",\"Tags\":[\"master\",\"t\\\"2\"],\"Address\":\"\","
	                 "\"Meta\":{\"role\":\"master\"},\"Port\":6379},\"Checks\":[{\"CheckID\":\"serfHealth\","
	                 "\"Status\":\"passing\",\"ServiceID\":\"\"},{\"CheckID\":\"service:r@:6379\","
	                 "\"Status\":\"warning\",\"ServiceID\":\"r@:6379\"}]},"
	                 "{\"Node\":{\"Node\":\"n2\",\"Address\":\"10.0.0.2\"},\"Service\":{\"ID\":\"x\","
	                 "\"Service\":\"redis-master\",\"Tags\":null,\"Meta\":null,\"Port\":1,\"Address\":\"h\"}}]";
	check(json_decode_health(hs, strlen(hs), &h, &n, err, sizeof err) == 0 && n == 2 &&
	      strcmp(h[0].node, "n1") == 0 && strcmp(h[0].node_address, "10.0.0.1") == 0 &&
	      strcmp(h[0].service_address, "") == 0 && h[0].port == 6379 && h[0].ntags == 2 &&
	      strcmp(h[0].tags[1], "t\"2") == 0 && h[0].nmeta == 1 && strcmp(h[0].meta_values[0], "master") == 0 &&
	      h[0].nchecks == 2 && strcmp(h[0].checks[1].status, "warning") == 0 &&
	      strcmp(h[0].checks[1].service_id, "r@:6379") == 0 && h[1].ntags == 0 && h[1].nmeta == 0 &&
	      h[1].nchecks == 0 && strcmp(h[1].service_address, "h") == 0, "health entries");
	json_health_free(h, n);
	static const char *const badh[] = { "[{}]", "[{\"Node\":{},\"Service\":{\"Port\":70000}}]",
	                                    "[{\"Node\":{},\"Service\":{\"Tags\":[1]}}]",
	                                    "[{\"Node\":{},\"Service\":{\"Meta\":{\"a\":1}}}]",
	                                    "[{\"Node\":{},\"Service\":{},\"Checks\":{}}]" };
	ok = 1;
	for (size_t i = 0; i < sizeof badh / sizeof *badh; i++)
		if (json_decode_health(badh[i], strlen(badh[i]), &h, &n, err, sizeof err) == 0) {
			json_health_free(h, n);
			ok = 0;
		}
	check(ok, "health: bad entries refused");

	const char *ss = "[{\"ID\":\"sid\",\"Name\":\"resec\",\"Node\":\"n1\",\"LockDelay\":15000000000,"
	                 "\"Behavior\":\"release\",\"TTL\":\"30s\",\"NodeChecks\":null,\"CreateIndex\":4,\"ModifyIndex\":5}]";
	check(json_decode_sessions(ss, strlen(ss), &s, &n, err, sizeof err) == 0 && n == 1 &&
	      strcmp(s[0].id, "sid") == 0 && s[0].ttl_ms == 30000 && s[0].lock_delay_ns == 15000000000ULL &&
	      strcmp(s[0].behavior, "release") == 0 && s[0].modify_index == 5, "sessions");
	free(s);
	check(json_decode_sessions("[{\"Name\":\"x\"}]", 14, &s, &n, err, sizeof err) == -1, "session without ID refused");
	check(json_decode_id("{\"ID\":\"u-1\"}", 12, id, sizeof id, err, sizeof err) == 0 && strcmp(id, "u-1") == 0,
	      "create response ID");
	check(json_decode_id("{\"Id\":\"u\"}", 10, id, sizeof id, err, sizeof err) == -1, "no ID refused");
	check(json_decode_bool("true\n", 5, &v, err, sizeof err) == 0 && v == 1 &&
	      json_decode_bool("false", 5, &v, err, sizeof err) == 0 && v == 0 &&
	      json_decode_bool("truex", 5, &v, err, sizeof err) == -1 &&
	      json_decode_bool("", 0, &v, err, sizeof err) == -1, "true/false bodies");
	check(json_decode_string("\"127.0.0.1:8300\"", 16, id, sizeof id, err, sizeof err) == 0 &&
	      strcmp(id, "127.0.0.1:8300") == 0, "leader string");
	check(json_decode_agent_self("{\"Config\":{\"NodeName\":\"n1\",\"Datacenter\":\"dc1\"}}", 47, node,
	                             sizeof node, dc, sizeof dc, err, sizeof err) == 0 &&
	      strcmp(node, "n1") == 0 && strcmp(dc, "dc1") == 0, "agent self");
}

/* An answer of n copies of entry, built with json.h's buffer (free with json_buf_free). */
static struct json_buf answer_of(size_t n, const char *entry)
{
	struct json_buf b = {0};

	json_buf_raw(&b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(&b, ",");
		json_buf_raw(&b, entry);
	}
	json_buf_raw(&b, "]");
	return b;
}

/* The decoders refuse more entries than JSON_MAX_ENTRIES. */
static void test_caps(void)
{
	char err[128] = "";
	struct json_kv_entry *kv;
	struct json_health_entry *he;
	size_t n;
	struct json_buf b = answer_of(JSON_MAX_ENTRIES + 1, "{\"Key\":\"k\"}");

	check(!b.failed && json_decode_kv(b.data, b.len, &kv, &n, err, sizeof err) != 0 && strstr(err, "more than") != NULL,
	      "KV answer with JSON_MAX_ENTRIES + 1 entries is refused");
	json_buf_free(&b);
	b = answer_of(JSON_MAX_ENTRIES, "{\"Node\":{},\"Service\":{}}");
	check(!b.failed && json_decode_health(b.data, b.len, &he, &n, err, sizeof err) == 0 && n == JSON_MAX_ENTRIES,
	      "health answer with JSON_MAX_ENTRIES instances decodes");
	if (n > 0)
		json_health_free(he, n);
	json_buf_free(&b);
}

int main(void)
{
	test_decoders();
	test_caps();
	return tap_done();
}
