/* SPDX-License-Identifier: MIT */
/* gather: what Consul says: the instances of the role services, the lock and its holder, the election keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "peer.h"
#include "status.h"

static void __attribute__((format(printf, 2, 3))) set_consul_err(struct status *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->consul_err, sizeof(st->consul_err), fmt, ap);
	va_end(ap);
}

/* Consul's aggregate rank of a check status: maintenance and unknown ones count as critical. */
static int check_rank(const char *s)
{
	if (strcmp(s, "passing") == 0)
		return 0;
	if (strcmp(s, "warning") == 0)
		return 1;
	return 2;
}

static void aggregate_checks(struct instance *in, const struct json_health_entry *e)
{
	snprintf(in->check, sizeof(in->check), "passing");
	int worst = 0;
	for (size_t i = 0; i < e->nchecks; i++) {
		int r = check_rank(e->checks[i].status);
		if (r > worst) {
			worst = r;
			snprintf(in->check, sizeof(in->check), "%s", e->checks[i].status);
		}
	}
	in->passing = worst == 0;
}

static int has_tag(const struct json_health_entry *e, const char *tag)
{
	for (size_t i = 0; i < e->ntags; i++)
		if (strcmp(e->tags[i], tag) == 0)
			return 1;
	return 0;
}

/* 1 when list (comma-separated) names at least one tag and e has them all. */
static int has_all_tags(const struct json_health_entry *e, const char *list)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", list);
	int seen = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n == 0)
			continue;
		if (!has_tag(e, t))
			return 0;
		seen = 1;
	}
	return seen;
}

static int role_from_name(const char *s)
{
	if (strcmp(s, "master") == 0)
		return RDB_ROLE_MASTER;
	if (strcmp(s, "slave") == 0 || strcmp(s, "replica") == 0)
		return RDB_ROLE_REPLICA;
	return RDB_ROLE_UNKNOWN;
}

/* Tag mode: the role tags when configured, else the role resec-health put in Meta. */
static int role_from_tags(const struct status *st, const struct json_health_entry *e)
{
	if (has_all_tags(e, st->cfg.master_tags))
		return RDB_ROLE_MASTER;
	if (has_all_tags(e, st->cfg.slave_tags))
		return RDB_ROLE_REPLICA;
	return role_from_name(peer_meta(e, "role"));
}

static int add_instance(struct status *st, const struct json_health_entry *e, int role)
{
	struct instance *p = realloc(st->inst, (st->n + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	st->inst = p;
	struct instance *in = &p[st->n++];
	memset(in, 0, sizeof(*in));
	snprintf(in->node, sizeof(in->node), "%s", e->node);
	snprintf(in->service_id, sizeof(in->service_id), "%s", e->service_id);
	snprintf(in->service, sizeof(in->service), "%s", e->service_name);
	snprintf(in->service_address, sizeof(in->service_address), "%s", e->service_address);
	peer_entry_addr(e, &in->hp);
	config_format_hostport(&in->hp, in->addr, sizeof(in->addr));
	in->consul_role = role;
	aggregate_checks(in, e);
	snprintf(in->meta_role, sizeof(in->meta_role), "%s", peer_meta(e, "role"));
	snprintf(in->meta_offset, sizeof(in->meta_offset), "%s", peer_meta(e, "offset"));
	snprintf(in->meta_run_id, sizeof(in->meta_run_id), "%s", peer_meta(e, "run_id"));
	in->fenced = -1;
	in->lag = -1;
	return 0;
}

/* Every instance of one service, passing or not; role < 0 means classify by tags. */
static int read_service(struct status *st, const char *name, int role)
{
	struct json_health_entry *e = NULL;
	size_t n = 0;
	struct consul_query q = { .stale = st->stale };
	if (consul_health_service(st->consul, name, NULL, 0, &q, &e, &n) != CONSUL_OK) {
		set_consul_err(st, "cannot read service %s: %s", name, st->consul->err);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_instance(st, &e[i], role >= 0 ? role : role_from_tags(st, &e[i]));
	json_health_free(e, n);
	if (rc < 0)
		set_consul_err(st, "cannot read service %s: out of memory", name);
	return rc;
}

static int read_services(struct status *st)
{
	char name[300];
	peer_service_name(&st->cfg, 1, name, sizeof(name));
	if (st->cfg.service_name[0] != '\0')
		return read_service(st, name, -1);
	if (read_service(st, name, RDB_ROLE_MASTER) < 0)
		return -1;
	peer_service_name(&st->cfg, 0, name, sizeof(name));
	return read_service(st, name, RDB_ROLE_REPLICA);
}

static int read_lock(struct status *st)
{
	struct lock_state *l = &st->lock;
	struct json_kv_entry kv;
	struct consul_query q = { .stale = st->stale };
	int rc = consul_kv_get(st->consul, st->cfg.lock_key, &q, &kv);
	if (rc == CONSUL_ABSENT)
		return 0;
	if (rc != CONSUL_OK) {
		set_consul_err(st, "cannot read lock %s: %s", st->cfg.lock_key,
		         st->consul->err);
		return -1;
	}
	l->present = 1;
	l->held = kv.session[0] != '\0';
	l->flags = kv.flags;
	snprintf(l->session, sizeof(l->session), "%s", kv.session);
	if (kv.value != NULL)
		snprintf(l->value, sizeof(l->value), "%.*s", (int)(kv.value_len < 299 ? kv.value_len : 299),
		         (const char *)kv.value);
	l->lock_index = kv.lock_index;
	l->modify_index = kv.modify_index;
	json_kv_entry_clear(&kv);
	if (!l->held)
		return 0;
	struct json_session s;
	memset(&s, 0, sizeof(s));
	rc = consul_session_info(st->consul, l->session, &q, &s);
	if (rc == CONSUL_OK)
		snprintf(l->node, sizeof(l->node), "%s", s.node);
	else if (rc != CONSUL_ABSENT) {
		set_consul_err(st, "cannot read session %s: %s", l->session,
		         st->consul->err);
		return -1;
	}
	return 0;
}

/* The election keys beside the lock key: maintenance, a switchover, the master's published offset. */
static int read_flags(struct status *st)
{
	static struct peer_flags f;
	if (peer_flags_read(st->consul, &st->cfg, &f) != CONSUL_OK ||
	    peer_switchover_check(st->consul, &st->cfg, &f) != CONSUL_OK) {
		set_consul_err(st, "cannot read the election keys: %s", st->consul->err);
		return -1;
	}
	/* Ignored by the election, but someone meant something by them. */
	for (size_t i = 0; i < f.nbad; i++)
		add_problem(st, "%s", f.bad[i]);
	st->maintenance = f.maintenance;
	snprintf(st->switchover, sizeof(st->switchover), "%s", f.switchover);
	st->master_offset = f.master_offset;
	if (f.maintenance)
		add_warning(st, "maintenance mode on: automatic failover paused");
	if (f.switchover[0] != '\0')
		add_warning(st, "a planned switchover to %s is in progress", f.switchover);
	return 0;
}

int read_consul(struct status *st)
{
	char err[256] = "";
	st->consul = consul_new(&st->cfg, err, sizeof(err));
	if (st->consul == NULL) {
		log_die_line("cannot set up the consul client: %s", err);
		return EXIT_USAGE;
	}
	int64_t t = st->cfg.healthcheck_timeout_ms;
	consul_set_timeouts(st->consul, t, t);
	if (read_services(st) == 0 && read_lock(st) == 0 && read_flags(st) == 0)
		return 0;
	/* No leader: the servers still answer stale reads, and the cluster can be shown from them. */
	if (strstr(st->consul_err, "No cluster leader") == NULL)
		return EXIT_UNAVAILABLE;
	free(st->inst);
	st->inst = NULL;
	st->n = 0;
	memset(&st->lock, 0, sizeof(st->lock));
	st->consul_err[0] = '\0';
	st->stale = 1;
	st->modes.no_leader = 1;
	if (read_services(st) < 0 || read_lock(st) < 0)
		return EXIT_UNAVAILABLE;
	add_problem(st, "consul has no leader: no failover can happen; the instances and the lock are read stale");
	return 0;
}
