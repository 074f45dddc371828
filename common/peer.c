/* SPDX-License-Identifier: MIT */
/* peer: the cluster's election settings in Consul KV and a look at a peer's Redis. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "elect.h"
#include "log.h"
#include "peer.h"

void peer_service_name(const struct resec_config *cfg, int master, char *buf, size_t len)
{
	if (cfg->service_name[0] != '\0')
		snprintf(buf, len, "%s", cfg->service_name);
	else
		snprintf(buf, len, "%s-%s", cfg->service_prefix, master ? "master" : cfg->replica_role_name);
}

void peer_key(const struct resec_config *cfg, const char *name, char *buf, size_t len)
{
	const char *slash = strrchr(cfg->lock_key, '/');
	if (slash == NULL)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%.*s/%s", (int)(slash - cfg->lock_key), cfg->lock_key, name);
}

/* A whole number from 0 to max in the first len bytes of v (blanks may follow), or -1. */
static long long parse_count(const unsigned char *v, size_t len, long long max)
{
	char buf[32];
	if (v == NULL || len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	char *end = NULL;
	errno = 0;
	long long n = strtoll(buf, &end, 10);
	while (end != NULL && (*end == '\n' || *end == ' ' || *end == '\r'))
		end++;
	if (buf[0] < '0' || buf[0] > '9' || end == NULL || *end != '\0' || errno != 0 || n > max)
		return -1;
	return n;
}

/* Note why a key was ignored; key and value excerpts made printable. */
static void __attribute__((format(printf, 3, 4))) bad_key(struct peer_flags *f, const char *key, const char *fmt, ...)
{
	if (f->nbad >= PEER_MAX_BAD)
		return;
	char why[200], k[120], line[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_printable(key, k, sizeof(k));
	snprintf(line, sizeof(line), "key %s %s", k, why);
	log_printable(line, f->bad[f->nbad++], sizeof(f->bad[0]));
}

/* A value for a note: at most 40 bytes, quoted later by the caller's format. */
static const char *excerpt(const struct json_kv_entry *e, char *buf, size_t len)
{
	size_t n = e->value != NULL ? e->value_len : 0;
	char raw[48];
	snprintf(raw, sizeof(raw), "%.*s%s", (int)(n < 40 ? n : 40), e->value != NULL ? (const char *)e->value : "",
	         n > 40 ? "..." : "");
	log_printable(raw, buf, len);
	return buf;
}

int peer_addr_valid(const struct hostport *hp)
{
	char text[300];
	struct hostport back;
	if (hp->host[0] == '\0' || hp->port < 1 || hp->port > 65535)
		return 0;
	/* What formats and parses back unchanged holds nothing config_parse_hostport refuses. */
	config_format_hostport(hp, text, sizeof(text));
	return config_parse_hostport(text, &back) == 0 && strcmp(back.host, hp->host) == 0 && back.port == hp->port;
}

/* The switchover key: HOST:PORT (blanks around it allowed), held by a live session. */
static void set_switchover(struct peer_flags *f, const struct json_kv_entry *e)
{
	size_t len = e->value != NULL ? e->value_len : 0;
	const char *v = (const char *)e->value;
	char text[300];
	struct hostport hp;
	while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == ' ' || v[len - 1] == '\r'))
		len--;
	snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) ? len : 0), v != NULL ? v : "");
	if (len >= sizeof(text) || (len > 0 && memchr(v, '\0', len) != NULL) || config_parse_hostport(text, &hp) < 0 ||
	    !peer_addr_valid(&hp)) {
		char shown[64];
		bad_key(f, e->key, "holds \"%s\", not HOST:PORT: ignored; delete it", excerpt(e, shown, sizeof(shown)));
		return;
	}
	/* The tool holds it under a session that deletes it when the tool dies; a key
	 * without one was written by hand and would stop every election for good. */
	if (e->session[0] == '\0') {
		bad_key(f, e->key, "(to %s) has no session: not a switchover in progress, ignored; delete it", text);
		return;
	}
	snprintf(f->switchover, sizeof(f->switchover), "%s", text);
}

/* Values that read as "off" to a person; any non-empty value turns maintenance on. */
static int looks_off(const struct json_kv_entry *e)
{
	static const char *const off[] = { "0", "false", "off", "no", "disabled" };
	char v[16];
	size_t n = e->value_len;
	while (n > 0 && (e->value[n - 1] == '\n' || e->value[n - 1] == ' ' || e->value[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= sizeof(v))
		return n == 0;
	memcpy(v, e->value, n);
	v[n] = '\0';
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (strcasecmp(v, off[i]) == 0)
			return 1;
	return 0;
}

/* The names of the election keys under D, built once per read. */
struct flag_keys {
	char maint[600], switchover[600], offset[600], prio[600], failsafe[600];
};

/* D/priority/HOST:PORT holding a whole number 0..1000000000. */
static void add_priority(struct peer_flags *f, const struct json_kv_entry *e, const char *addr)
{
	struct hostport hp;
	if (config_parse_hostport(addr, &hp) < 0 || !peer_addr_valid(&hp) || strlen(addr) >= sizeof(f->addr[0])) {
		bad_key(f, e->key, "does not end in HOST:PORT: ignored");
		return;
	}
	int p = (int)parse_count(e->value, e->value_len, 1000000000);
	if (p < 0) {
		char shown[64];
		bad_key(f, e->key, "holds \"%s\", not a whole number from 0 to 1000000000: ignored",
		        excerpt(e, shown, sizeof(shown)));
		return;
	}
	if (f->n >= PEER_MAX_OVERRIDES) {
		bad_key(f, e->key, "is past the first %d priority overrides: ignored", PEER_MAX_OVERRIDES);
		return;
	}
	snprintf(f->addr[f->n], sizeof(f->addr[0]), "%s", addr);
	f->priority[f->n++] = p;
}

static void flags_add(struct peer_flags *f, const struct json_kv_entry *e, const struct flag_keys *k)
{
	size_t pl = strlen(k->prio);
	char shown[64];
	if (strcmp(e->key, k->maint) == 0) {
		f->maintenance = e->value != NULL && e->value_len > 0;
		if (f->maintenance && looks_off(e))
			bad_key(f, e->key, "holds \"%s\": failover is paused all the same (any value pauses it); "
			        "delete the key to resume", excerpt(e, shown, sizeof(shown)));
		return;
	}
	if (strcmp(e->key, k->switchover) == 0) {
		set_switchover(f, e);
		return;
	}
	if (strcmp(e->key, k->offset) == 0) {
		f->master_offset = parse_count(e->value, e->value_len, 0x7fffffffffffffffLL);
		if (f->master_offset < 0)
			bad_key(f, e->key, "holds \"%s\", not an offset: ignored", excerpt(e, shown, sizeof(shown)));
		return;
	}
	if (strcmp(e->key, k->failsafe) == 0) {
		/* Too long: read as empty, so no node may contend (the safe side) until it is rewritten. */
		size_t len = e->value != NULL ? e->value_len : 0;
		f->failsafe_set = 1;
		snprintf(f->failsafe, sizeof(f->failsafe), "%.*s", (int)(len < sizeof(f->failsafe) ? len : 0),
		         e->value != NULL ? (const char *)e->value : "");
		if (len >= sizeof(f->failsafe))
			bad_key(f, e->key, "is longer than %zu bytes: read as no member", sizeof(f->failsafe) - 1);
		return;
	}
	if (strncmp(e->key, k->prio, pl) == 0 && e->key[pl] != '\0')
		add_priority(f, e, e->key + pl);
}

int peer_flags_read(struct consul *c, const struct resec_config *cfg, struct peer_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->master_offset = -1;
	char dir[600];
	static struct flag_keys k;
	peer_key(cfg, "", dir, sizeof(dir));
	peer_key(cfg, "maintenance", k.maint, sizeof(k.maint));
	peer_key(cfg, "switchover", k.switchover, sizeof(k.switchover));
	peer_key(cfg, "master-offset", k.offset, sizeof(k.offset));
	peer_key(cfg, "priority/", k.prio, sizeof(k.prio));
	peer_key(cfg, "failsafe", k.failsafe, sizeof(k.failsafe));
	struct json_kv_entry *e = NULL;
	size_t n = 0;
	int rc = consul_kv_list(c, dir, NULL, &e, &n);
	if (rc != CONSUL_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		flags_add(f, &e[i], &k);
	json_kv_free(e, n);
	return CONSUL_OK;
}

int peer_kv_list(struct consul *c, const char *prefix, const struct consul_query *q, struct json_kv_entry **e,
                 size_t *n)
{
	return consul_kv_list(c, prefix, q, e, n);
}

int peer_switchover_check(struct consul *c, const struct resec_config *cfg, struct peer_flags *f)
{
	if (f->switchover[0] == '\0')
		return CONSUL_OK;
	char name[300];
	peer_service_name(cfg, 0, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(c, name, NULL, 0, NULL, &e, &n) != CONSUL_OK)
		return CONSUL_ERR;
	int known = 0;
	for (size_t i = 0; i < n && !known; i++) {
		struct hostport hp = { .port = 0 };
		char addr[300];
		peer_entry_addr(&e[i], &hp);
		config_format_hostport(&hp, addr, sizeof(addr));
		known = strcmp(addr, f->switchover) == 0;
	}
	json_health_free(e, n);
	if (!known) {
		char key[600];
		peer_key(cfg, "switchover", key, sizeof(key));
		bad_key(f, key, "names %s, no instance of %s: not a switchover to follow, ignored; delete it",
		        f->switchover, name);
		f->switchover[0] = '\0';
	}
	return CONSUL_OK;
}

int peer_publish_offset(struct consul *c, const struct resec_config *cfg, long long offset)
{
	char key[600], value[32];
	peer_key(cfg, "master-offset", key, sizeof(key));
	int n = snprintf(value, sizeof(value), "%lld", offset);
	return consul_kv_put(c, key, 0, value, (size_t)n);
}

int peer_priority(const struct peer_flags *f, const char *addr, int dflt)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->addr[i], addr) == 0)
			return f->priority[i];
	return dflt;
}

void peer_stale(const struct resec_config *cfg, const struct peer_flags *f, const struct rdb_info *in,
                char *why, size_t len)
{
	struct elect_cluster c = { .master_offset = f->master_offset, .max_lag = cfg->redis_max_lag };
	struct elect_node n;
	memset(&n, 0, sizeof(n));
	elect_node_from_info(&n, in);
	elect_stale(&c, &n, why, len);
}

const char *peer_meta(const struct json_health_entry *e, const char *key)
{
	for (size_t i = 0; i < e->nmeta; i++)
		if (strcmp(e->meta_keys[i], key) == 0)
			return e->meta_values[i];
	return "";
}

int peer_meta_priority(const struct json_health_entry *e, int dflt)
{
	const char *v = peer_meta(e, "priority");
	char *end = NULL;
	long n = strtol(v, &end, 10);
	return end != v && *end == '\0' && n >= 0 && n <= 1000000000 ? (int)n : dflt;
}

void peer_entry_addr(const struct json_health_entry *e, struct hostport *hp)
{
	snprintf(hp->host, sizeof(hp->host), "%s",
	         e->service_address[0] != '\0' ? e->service_address : e->node_address);
	hp->port = e->port;
}

int peer_probe(const struct resec_config *cfg, const struct hostport *hp, struct rdb_info *info,
               int *fenced, char *err, size_t errlen)
{
	if (hp->host[0] == '\0' || hp->port <= 0) {
		snprintf(err, errlen, "no address registered");
		return -1;
	}
	struct rdb_opts o;
	rdb_opts_from_config(&o, cfg);
	o.addr = *hp;
	struct rdb_conn c;
	rdb_init(&c, &o);
	/* The whole probe (connect, INFO, the fence's settings) within one timeout. */
	rdb_set_deadline(&c, clock_now_ms() + o.timeout_ms);
	int rc = 0;
	if (rdb_connect(&c) < 0 || rdb_info(&c, info) < 0) {
		snprintf(err, errlen, "%s", c.err);
		rc = -1;
	} else if (fenced != NULL) {
		*fenced = rdb_fenced(&c);
		if (*fenced < 0)
			snprintf(err, errlen, "%s", c.err);
	}
	rdb_close(&c);
	return rc;
}
