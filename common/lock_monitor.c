/* SPDX-License-Identifier: MIT */
/* lock_monitor: the monitor thread; watches the held key, confirms the lock, sees it lost or handed over. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "lock_impl.h"

/* Why the key no longer proves our hold, or NULL when it does. */
static const char *key_loss_reason(const struct json_kv_entry *e, const char *session)
{
	if (e->session[0] == '\0')
		return "lock key released";
	if (strcmp(e->session, session) != 0)
		return "lock key held by another session";
	return NULL;
}

/* 1 when someone rewrote the value of the key we hold: a request to hand the lock over
 * (resec-switchover does it once the successor has caught up). */
static int handover_requested(const struct json_kv_entry *e, const char *value)
{
	size_t len = e->value != NULL ? e->value_len : 0;
	return len != strlen(value) || (len > 0 && memcmp(e->value, value, len) != 0);
}

/* What a read of the key showed: 0 still ours (confirmed at t0), -1 lost (the monitor ends). */
static int key_seen(struct lock *lk, struct consul_watch *cw, struct json_kv_entry *e, const char *id,
                    int64_t t0)
{
	struct consul *c = lk->monitor.c;
	const char *why = key_loss_reason(e, id);
	int handover = why == NULL && handover_requested(e, lk->value);
	char content[96];
	snprintf(content, sizeof(content), "%s", e->session);
	json_kv_entry_clear(e);
	if (handover) {
		pthread_mutex_lock(&lk->mu);
		lk->handover = 1;
		pthread_mutex_unlock(&lk->mu);
		why = "hand-over requested: the key's value was rewritten";
	}
	if (why != NULL) {
		lock_set_lost(lk, why);
		return -1;
	}
	/* A consistent read sent at t0 saw our session: we held the lock at t0. */
	lock_confirm_key(lk, t0);
	consul_watch_update(cw, c->index, content, strlen(content));
	return 0;
}

/* Read the key once: a blocking read, or while unconfirmed (fast) a plain consistent read,
 * bounded, instead of a long poll. A consul_kv_get result. */
static int read_key(struct lock *lk, struct consul_watch *cw, int fast, int64_t t0, struct json_kv_entry *e)
{
	struct consul *c = lk->monitor.c;
	struct consul_query q = { .index = fast ? 0 : cw->index, .wait_ms = BLOCK_WAIT_MS, .consistent = 1 };
	consul_set_deadline(c, fast ? t0 + FAST_READ_LIMIT_MS : 0);
	memset(e, 0, sizeof(*e));
	int rc = consul_kv_get(c, lk->cfg->lock_key, &q, e);
	consul_set_deadline(c, 0);
	return rc;
}

void *lock_monitor_main(void *arg)
{
	struct lock_worker *w = arg;
	struct lock *lk = w->lk;
	struct consul_watch cw;
	char id[64];
	consul_watch_init(&cw);
	cw.backoff_base_ms = 250;
	cw.backoff_max_ms = 2000;
	pthread_mutex_lock(&lk->mu);
	snprintf(id, sizeof(id), "%s", lk->session);
	pthread_mutex_unlock(&lk->mu);
	int64_t last_fast = 0;
	for (;;) {
		int fast = lock_flag(lk, &lk->unconfirmed);
		int64_t at = fast ? last_fast + FAST_READ_MS : clock_now_ms() + consul_watch_delay(&cw, clock_now_ms());
		if (lock_worker_wait(w, at))
			return NULL;
		if (fast != lock_flag(lk, &lk->unconfirmed))
			continue; /* woken to change pace */
		int64_t t0 = clock_now_ms();
		if (!fast) /* the fast reads keep to their own pace, outside the rate limit */
			consul_watch_begin(&cw, t0);
		last_fast = t0;
		struct json_kv_entry e;
		int rc = read_key(lk, &cw, fast, t0, &e);
		if (rc == CONSUL_CANCELLED) {
			if (lock_worker_wait(w, 0))
				return NULL;
			continue;
		}
		if (rc == CONSUL_ABSENT) {
			lock_set_lost(lk, "lock key deleted");
			return NULL;
		}
		if (rc == CONSUL_OK) {
			if (key_seen(lk, &cw, &e, id, t0) < 0)
				return NULL;
			continue;
		}
		if (cw.failures == 0) /* once per outage */
			lk_log(lk, LOG_WARN, "cannot read the lock key", "error", w->c->err);
		else
			lk_log(lk, LOG_DEBUG, "cannot read the lock key", "error", w->c->err);
		consul_watch_failed(&cw, clock_now_ms());
	}
}
