/* SPDX-License-Identifier: MIT */
/* export: the machine outputs: one JSON object (--json) and Prometheus text (--prom). */
#include <stdio.h>

#include "json.h"
#include "log.h"
#include "status.h"

static void json_kv_str(struct json_buf *b, const char *key, const char *v, int comma)
{
	if (comma)
		json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":");
	json_buf_string(b, v);
}

static void json_kv_int(struct json_buf *b, const char *key, long long v, int null_when_negative)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":");
	if (v < 0 && null_when_negative)
		json_buf_raw(b, "null");
	else
		json_buf_int(b, v);
}

static void json_kv_bool(struct json_buf *b, const char *key, int v)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, v < 0 ? ":null" : v ? ":true" : ":false");
}

static void json_strings(struct json_buf *b, const char *key, const char (*list)[400], size_t n)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(b, ",");
		json_buf_string(b, list[i]);
	}
	json_buf_raw(b, "]");
}

static void json_redis(struct json_buf *b, const struct instance *in)
{
	json_buf_raw(b, ",\"redis\":{");
	json_kv_str(b, "role", redis_role(in), 0);
	if (!in->redis_ok) {
		json_kv_str(b, "error", in->redis_err, 1);
		json_buf_raw(b, "}");
		return;
	}
	if (in->info.role == RDB_ROLE_REPLICA) {
		struct hostport m = { .port = in->info.master_port };
		char addr[300];
		snprintf(m.host, sizeof(m.host), "%s", in->info.master_host);
		config_format_hostport(&m, addr, sizeof(addr));
		json_kv_str(b, "master", addr, 1);
		json_kv_str(b, "link", in->info.link_up ? "up" : "down", 1);
	}
	json_kv_int(b, "offset", rdb_info_offset(&in->info), 1);
	json_kv_bool(b, "fenced", in->fenced);
	json_kv_str(b, "run_id", in->info.run_id, 1);
	json_buf_raw(b, "}");
}

static void json_instance(struct json_buf *b, const struct instance *in)
{
	json_buf_raw(b, "{");
	json_kv_str(b, "node", in->node, 0);
	json_kv_str(b, "addr", in->addr, 1);
	json_kv_str(b, "service", in->service, 1);
	json_kv_str(b, "service_id", in->service_id, 1);
	json_kv_str(b, "role", role_label(in->consul_role), 1);
	json_kv_str(b, "check", in->check, 1);
	json_kv_bool(b, "passing", in->passing);
	json_kv_bool(b, "lock_holder", in->lock_holder);
	json_kv_int(b, "lag_bytes", in->lag, 1);
	json_buf_raw(b, ",\"meta\":{");
	json_kv_str(b, "role", in->meta_role, 0);
	json_kv_str(b, "offset", in->meta_offset, 1);
	json_kv_str(b, "run_id", in->meta_run_id, 1);
	json_buf_raw(b, "}");
	json_redis(b, in);
	json_buf_raw(b, "}");
}

static void json_lock(struct json_buf *b, const struct status *st)
{
	const struct lock_state *l = &st->lock;
	json_buf_raw(b, ",\"lock\":{");
	json_kv_str(b, "key", st->cfg.lock_key, 0);
	json_kv_bool(b, "present", l->present);
	json_kv_bool(b, "held", l->held);
	if (l->held) {
		json_kv_str(b, "session", l->session, 1);
		json_kv_str(b, "node", l->node, 1);
	}
	if (l->present) {
		json_kv_str(b, "value", l->value, 1);
		json_kv_int(b, "lock_index", (long long)l->lock_index, 0);
		json_kv_int(b, "modify_index", (long long)l->modify_index, 0);
	}
	json_buf_raw(b, "}");
}

/* "consul": reachable, leader, trouble_since; "master_standing": the master's fence and failsafe proof. */
static void json_modes(struct json_buf *b, const struct status *st)
{
	const struct modes *m = &st->modes;
	int reachable = st->consul_err[0] == '\0';
	json_buf_raw(b, reachable ? ",\"consul\":{\"reachable\":true" : ",\"consul\":{\"reachable\":false");
	json_kv_bool(b, "leader", reachable && !m->no_leader);
	json_kv_int(b, "trouble_since", m->down_since > 0 ? m->down_since : -1, 1);
	json_buf_raw(b, "}");
	if (m->addr[0] == '\0') {
		json_buf_raw(b, ",\"master_standing\":null");
		return;
	}
	json_buf_raw(b, ",\"master_standing\":{");
	json_kv_str(b, "addr", m->addr, 0);
	json_kv_bool(b, "fenced", m->fenced);
	if (!m->proof.have_view) {
		json_buf_raw(b, ",\"failsafe\":null}");
		return;
	}
	json_buf_raw(b, ",\"failsafe\":{");
	json_kv_str(b, "proof", m->proof.why, 0);
	json_kv_int(b, "peers", m->proof.n, 0);
	json_kv_int(b, "confirmed", m->proof.confirmed, 0);
	json_kv_bool(b, "holding", m->proof_ok && m->fenced == 0);
	json_buf_raw(b, "}}");
}

static const char *status_word(const struct status *st)
{
	return st->consul_err[0] != '\0' ? "unavailable" : st->nproblems == 0 ? "healthy" : "unhealthy";
}

void print_json(const struct status *st)
{
	struct json_buf b = { 0 };
	json_buf_raw(&b, "{");
	json_kv_str(&b, "status", status_word(st), 0);
	json_kv_bool(&b, "healthy", st->consul_err[0] == '\0' && st->nproblems == 0);
	json_strings(&b, "problems", st->problems, st->nproblems);
	json_strings(&b, "warnings", st->warnings, st->nwarnings);
	if (st->consul_err[0] != '\0')
		json_kv_str(&b, "error", st->consul_err, 1);
	json_modes(&b, st);
	if (st->consul_err[0] == '\0') {
		json_kv_int(&b, "masters_passing", st->masters_passing, 0);
		json_kv_int(&b, "max_lag_bytes", st->cfg.redis_max_lag, 0);
		json_kv_int(&b, "failovers_total", st->failovers, 1);
		json_kv_int(&b, "last_failover_timestamp_seconds", st->last_failover > 0 ? st->last_failover : -1, 1);
		json_lock(&b, st);
		json_kv_bool(&b, "maintenance", st->maintenance);
		if (st->switchover[0] != '\0')
			json_kv_str(&b, "switchover_to", st->switchover, 1);
		else
			json_buf_raw(&b, ",\"switchover_to\":null");
		json_kv_int(&b, "master_offset_published", st->master_offset, 1);
		json_buf_raw(&b, ",\"instances\":[");
		for (size_t i = 0; i < st->n; i++) {
			if (i > 0)
				json_buf_raw(&b, ",");
			json_instance(&b, &st->inst[i]);
		}
		json_buf_raw(&b, "]");
	}
	json_buf_raw(&b, "}\n");
	if (b.failed)
		log_die_line("cannot format the JSON: out of memory");
	else
		fputs(b.data, stdout);
	json_buf_free(&b);
}

/* A Prometheus label value: printable UTF-8 (the format needs it), backslash and quote escaped. */
static void prom_label(const char *raw)
{
	char shown[600];
	log_printable(raw, shown, sizeof(shown));
	for (const char *s = shown; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static void prom_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_instance(const char *metric, const struct instance *in, const char *role, long long v)
{
	printf("%s{node=\"", metric);
	prom_label(in->node);
	fputs("\",addr=\"", stdout);
	prom_label(in->addr);
	if (role != NULL) {
		fputs("\",role=\"", stdout);
		prom_label(role);
	}
	printf("\"} %lld\n", v);
}

static void prom_instances(const struct status *st)
{
	prom_head("resec_role", "gauge", "Role an instance is registered with in Consul (always 1).");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_role", &st->inst[i], role_label(st->inst[i].consul_role), 1);
	prom_head("resec_check_passing", "gauge", "1 when all the instance's Consul checks pass.");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_check_passing", &st->inst[i], NULL, st->inst[i].passing);
	prom_head("resec_redis_up", "gauge", "1 when the instance's Redis answered INFO.");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_redis_up", &st->inst[i], NULL, st->inst[i].redis_ok);
	prom_head("resec_fenced", "gauge", "1 when the instance's Redis is fenced (refuses writes).");
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].fenced >= 0)
			prom_instance("resec_fenced", &st->inst[i], NULL, st->inst[i].fenced);
	prom_head("resec_replication_lag_bytes", "gauge", "Master offset minus replica offset.");
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].lag >= 0)
			prom_instance("resec_replication_lag_bytes", &st->inst[i], NULL, st->inst[i].lag);
}

/* The master's standing, also when Consul does not answer. */
static void prom_modes(const struct status *st)
{
	const struct modes *m = &st->modes;
	prom_head("resec_consul_leader", "gauge", "1 when Consul answered with a leader.");
	printf("resec_consul_leader %d\n", st->consul_err[0] == '\0' && !m->no_leader);
	if (m->fenced >= 0) {
		prom_head("resec_master_fenced", "gauge", "1 when the master's Redis refuses writes (lock not confirmed).");
		printf("resec_master_fenced %d\n", m->fenced);
	}
	if (m->proof.have_view) {
		prom_head("resec_failsafe_peers", "gauge", "Peers the failsafe master must hear from.");
		printf("resec_failsafe_peers %d\n", m->proof.n);
		prom_head("resec_failsafe_peers_confirmed", "gauge", "Of them, connected replicas reporting Consul unreachable.");
		printf("resec_failsafe_peers_confirmed %d\n", m->proof.confirmed);
	}
}

void print_prom(const struct status *st)
{
	int up = st->consul_err[0] == '\0';
	prom_head("resec_up", "gauge", "1 when Consul answered.");
	printf("resec_up %d\n", up);
	prom_modes(st);
	if (!up)
		return;
	prom_head("resec_cluster_healthy", "gauge", "1 when resec-status finds no problem.");
	printf("resec_cluster_healthy %d\n", st->nproblems == 0);
	prom_head("resec_master_passing_count", "gauge", "Passing instances of the master service.");
	printf("resec_master_passing_count %d\n", st->masters_passing);
	prom_head("resec_lock_held", "gauge", "1 when the lock key has a holder session.");
	printf("resec_lock_held %d\n", st->lock.held);
	prom_head("resec_maintenance", "gauge", "1 when maintenance mode pauses automatic failover.");
	printf("resec_maintenance %d\n", st->maintenance);
	prom_instances(st);
	if (st->failovers >= 0) {
		prom_head("resec_failovers_total", "counter", "Lock acquisitions after the first (LockIndex - 1).");
		printf("resec_failovers_total %lld\n", st->failovers);
	}
	if (st->last_failover > 0) {
		prom_head("resec_last_failover_timestamp_seconds", "gauge", "When a new LockIndex was first seen.");
		printf("resec_last_failover_timestamp_seconds %lld\n", st->last_failover);
	}
}
