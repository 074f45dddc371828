/* SPDX-License-Identifier: MIT */
/* register: resec-health run's service in Consul: its names, registration, TTL passes, back-off and the S1 hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "peer.h"
#include "run.h"

/* S1: the hold-back waits for another master's TTL (check_ttl_ms) plus this. */
enum { HOLD_MARGIN_MS = 1000 };

/*
 * The check's TTL: 2 × HEALTHCHECK_INTERVAL, but no more than one interval
 * plus HEALTHCHECK_TIMEOUT (the longest look) plus 1 s for Consul: the
 * longest a live heartbeat can leave between two passes. Longer only delays
 * the end of a dead holder's session, which dies with this check
 * (docs/resec-lock.md): 8 s instead of 10 s at the defaults.
 */
static int64_t check_ttl_ms(const struct health *h)
{
	int64_t twice = 2 * h->cfg.healthcheck_interval_ms;
	int64_t bound = h->cfg.healthcheck_interval_ms + h->cfg.healthcheck_timeout_ms + 1000;
	return twice < bound ? twice : bound;
}

static void split_tags(struct runner *r, const char *list)
{
	if (snprintf(r->tag_buf, sizeof(r->tag_buf), "%s", list) >= (int)sizeof(r->tag_buf))
		log_warn("tag list too long; truncated");
	char *save = NULL;
	for (char *t = strtok_r(r->tag_buf, ",", &save); t != NULL && r->ntags < MAX_TAGS;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n > 0)
			r->tags[r->ntags++] = t;
	}
}

void runner_names(struct runner *r)
{
	const struct resec_config *c = &r->h->cfg;
	int master = r->h->want_role == RDB_ROLE_MASTER;
	r->role_name = master ? "master" : c->replica_role_name;
	char announce[300];
	config_format_hostport(&c->announce_addr, announce, sizeof(announce));
	int n = 0;
	n |= snprintf(r->service_id, sizeof(r->service_id), "%s@%s", c->service_prefix, announce) >=
	     (int)sizeof(r->service_id);
	n |= snprintf(r->check_id, sizeof(r->check_id), "service:%s", r->service_id) >= (int)sizeof(r->check_id);
	peer_service_name(c, master, r->name, sizeof(r->name));
	if (c->service_name[0] != '\0')
		split_tags(r, master ? c->master_tags : c->slave_tags);
	if (n)
		log_warn("service name or ID too long; truncated", "id", r->service_id);
}

static const char *check_status(int v)
{
	return v == V_HEALTHY ? "passing" : v == V_DEGRADED ? "warning" : "critical";
}

static void make_note(const struct runner *r, int v, char *buf, size_t len)
{
	const struct health *h = r->h;
	if (v == V_HEALTHY)
		snprintf(buf, len, "redis healthy: role=%s offset=%lld", rdb_role_name(h->info.role),
		         rdb_info_offset(&h->info));
	else
		snprintf(buf, len, "%s", h->reason);
}

static int do_register(struct runner *r, int v, const char *note)
{
	const struct health *h = r->h;
	char offset[32];
	snprintf(offset, sizeof(offset), "%lld", rdb_info_offset(&h->info));
	char prio[16];
	snprintf(prio, sizeof(prio), "%d", h->cfg.redis_priority);
	const char *mk[] = { "role", "offset", "run_id", "priority" };
	const char *mv[] = { r->role_name, offset, h->info.run_id, prio };
	char check_name[200];
	snprintf(check_name, sizeof(check_name), "redis %s health", r->role_name);
	struct consul_service s = {
		.id = r->service_id,
		.name = r->name,
		.tags = r->ntags > 0 ? r->tags : NULL,
		.ntags = r->ntags,
		.address = h->cfg.announce_addr.host,
		.port = h->cfg.announce_addr.port,
		.meta_keys = mk,
		.meta_values = mv,
		.nmeta = 4,
		.check_ttl_ms = check_ttl_ms(h),
		.check_id = r->check_id,
		.check_name = check_name,
		.check_status = check_status(v),
		.check_notes = "resec-health passes this TTL while redis is healthy and in this role",
		.deregister_after_ms = h->cfg.deregister_after_ms,
		.replace_existing_checks = 1,
	};
	int rc = consul_service_register(r->consul, &s);
	if (rc != CONSUL_OK)
		return rc;
	r->registered = 1;
	log_info("registered", "service", r->name, "id", r->service_id, "status", check_status(v));
	/* A re-registration keeps the check's old status: set it explicitly. */
	return consul_check_ttl(r->consul, r->check_id, health_ttl_word(v), note);
}

static void consul_failed(struct runner *r)
{
	r->consul_retry_at = clock_now_ms() + backoff_next(&r->consul_backoff);
	if (!r->consul_down)
		log_warn("consul unavailable; redis checks go on, consul retried with back-off",
		         "reason", r->consul->err);
	r->consul_down = 1;
}

static void consul_ok(struct runner *r)
{
	if (r->consul_down)
		log_info("consul reachable again");
	r->consul_down = 0;
	backoff_reset(&r->consul_backoff);
	r->consul_retry_at = 0;
}

/* S1: an instance of the master service that is not us (our ID and our run_id) and passes. */
static int other_master(const struct runner *r, const struct json_health_entry *e)
{
	const char *run_id = NULL, *role = NULL;
	for (size_t i = 0; i < e->nmeta; i++) {
		if (strcmp(e->meta_keys[i], "run_id") == 0)
			run_id = e->meta_values[i];
		else if (strcmp(e->meta_keys[i], "role") == 0)
			role = e->meta_values[i];
	}
	if (strcmp(e->service_id, r->service_id) == 0 && run_id != NULL && strcmp(run_id, r->h->info.run_id) == 0)
		return 0;
	/* Tag mode without master tags: one name for both roles, the Meta tells. */
	if (r->h->cfg.service_name[0] != '\0' && r->ntags == 0)
		return role != NULL && strcmp(role, "master") == 0;
	return 1;
}

/*
 * S1: before passing the master check for the first time, wait until no other
 * master instance passes, for at most that instance's TTL (check_ttl_ms, the
 * cluster's setting) plus a margin, with blocking queries until `until`.
 * Returns 1 when we may pass, 0 to keep holding, -1 on a Consul failure, -2
 * when cancelled (a signal, or the Redis socket: the main loop looks).
 */
static int hold_master(struct runner *r, int64_t until)
{
	const struct health *h = r->h;
	if (r->hold_deadline == 0)
		r->hold_deadline = clock_now_ms() + check_ttl_ms(h) + HOLD_MARGIN_MS;
	const char *tag = h->cfg.service_name[0] != '\0' && r->ntags > 0 ? r->tags[0] : NULL;
	for (;;) {
		int64_t now = clock_now_ms();
		int64_t wait = (until < r->hold_deadline ? until : r->hold_deadline) - now;
		struct consul_query q = { .index = r->hold_index, .wait_ms = wait };
		if (r->hold_index == 0 || wait <= 0)
			q.index = 0;
		struct json_health_entry *e = NULL;
		size_t n = 0;
		int rc = consul_health_service(r->consul, r->name, tag, 1, &q, &e, &n);
		if (rc != CONSUL_OK)
			return rc == CONSUL_CANCELLED ? -2 : -1;
		/* [C1]: an index going backwards means start again from a plain read. */
		r->hold_index = r->consul->index < r->hold_index ? 0 : r->consul->index;
		int others = 0;
		for (size_t i = 0; i < n; i++) {
			if (other_master(r, &e[i])) {
				if (others++ == 0)
					snprintf(r->hold_other, sizeof(r->hold_other), "%s on %s", e[i].service_id, e[i].node);
			}
		}
		json_health_free(e, n);
		if (others == 0) {
			if (r->hold_other[0] != '\0')
				log_info("the other master instance stopped passing", "other", r->hold_other);
			return 1;
		}
		now = clock_now_ms();
		if (now >= r->hold_deadline) {
			log_error("another master is still passing; going ahead after the S1 bound",
			          "other", r->hold_other, "waited_ms", log_int(check_ttl_ms(h) + HOLD_MARGIN_MS));
			return 1;
		}
		if (now >= until)
			return 0;
	}
}

/*
 * A check update that got no answer (cancelled by a signal or the Redis socket, or timed out)
 * may still reach Consul after the next one: a "pass" that lands after the hand-off's warning
 * undoes it. Until an update is answered again, the check's state is in doubt (run.c's exits).
 */
static int updated(struct runner *r, int rc)
{
	r->update_in_doubt = rc != CONSUL_OK && r->consul->status == 0;
	return rc;
}

void heartbeat(struct runner *r, int v, int64_t until)
{
	if (clock_now_ms() < r->consul_retry_at)
		return;
	char note[400];
	make_note(r, v, note, sizeof(note));
	if (v == V_HEALTHY && r->h->want_role == RDB_ROLE_MASTER && !r->hold_done) {
		/* A quick look first: in the common case nobody else passes. */
		int ok = hold_master(r, clock_now_ms());
		if (ok < 0) {
			if (ok == -1)
				consul_failed(r);
			return;
		}
		if (ok == 0) {
			log_warn("another master instance is still passing; holding the master check back",
			         "other", r->hold_other);
			snprintf(note, sizeof(note), "holding back: another master instance is still passing (%s)",
			         r->hold_other);
			v = V_DEGRADED;
		}
		r->hold_done = ok;
	}
	int rc;
	if (!r->registered) {
		rc = updated(r, do_register(r, v, note));
	} else {
		rc = updated(r, consul_check_ttl(r->consul, r->check_id, health_ttl_word(v), note));
		if (rc == CONSUL_ABSENT) {
			log_warn("consul forgot the service; registering again", "id", r->service_id);
			r->registered = 0;
			rc = updated(r, do_register(r, v, note));
		}
	}
	if (rc != CONSUL_OK) {
		if (rc != CONSUL_CANCELLED)
			consul_failed(r);
		return;
	}
	consul_ok(r);
	if (v == V_DEGRADED && r->h->want_role == RDB_ROLE_MASTER && !r->hold_done && !r->h->master_fenced) {
		/* Registered as warning: now wait for the other instance until the next look. */
		int ok = hold_master(r, until);
		if (ok < 0) {
			if (ok == -1)
				consul_failed(r);
			return;
		}
		if (ok == 1) {
			r->hold_done = 1;
			make_note(r, V_HEALTHY, note, sizeof(note));
			if (updated(r, consul_check_ttl(r->consul, r->check_id, "pass", note)) != CONSUL_OK)
				consul_failed(r);
		}
	}
}
