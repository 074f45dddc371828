/* SPDX-License-Identifier: MIT */
/* lock_acquire: wait for the key to be free (lock-delay, contention, the gate), then acquire it. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "lock_impl.h"

struct acq_loop {
	uint64_t index;           /* block on the key from this index; 0 reads at once */
	int failures;
	int64_t free_since;       /* when we saw the key become free (lock-delay starts no later) */
	int64_t retry_at;         /* lock-delay: next acquire attempt */
	int was_held;             /* the last read showed a holder */
	uint64_t key_index;       /* index of the last read that showed the key free */
	int gate_waiting;         /* the gate said wait: block on the key for GATE_PERIOD_MS only */
	int64_t gate_last;        /* when the gate last ran */
	char gate_said[300];      /* the gate's last reason to wait, logged when it changes */
	int not_lock;             /* consecutive reads that found the key with other flags */
	uint64_t not_lock_flags;  /* those flags, logged once per value */
};

static int acq_sleep(struct lock *lk, int64_t at_ms)
{
	return lock_acq_sleep_or(lk, at_ms, NULL);
}

/* A renewal got through after failures since the last call: Consul answers again. */
static int consul_back_taken(struct lock *lk)
{
	pthread_mutex_lock(&lk->mu);
	int back = lk->consul_back;
	lk->consul_back = 0;
	pthread_mutex_unlock(&lk->mu);
	return back;
}

/*
 * Back off after an error; returns an acq result or -1 to go on. The session's renewals go on
 * meanwhile (every TTL/8 while they fail): the first that gets through ends the back-off, so a
 * key freed just after a Consul outage is seen at once, not up to 30 s later (found by the
 * fault campaign). A renewal from an earlier outage may end one back-off early: one more read.
 */
static int acq_failed(struct lock *lk, struct acq_loop *a, const char *what)
{
	a->index = 0;
	int64_t d = lock_backoff_ms(a->failures++);
	lk_log(lk, LOG_WARN, what, "error", lk->mc->err, "retry_in_ms", log_int(d));
	return lock_acq_sleep_or(lk, clock_now_ms() + d, consul_back_taken);
}

/* The value of a key held (or last held) by someone else: prog learns it as RESEC_LOCK_PREVIOUS,
 * e.g. to fence the previous holder's service (scripts/resec does). Printable bytes only. */
static void remember_previous(struct lock *lk, const struct json_kv_entry *e)
{
	size_t n = 0;
	for (size_t i = 0; e->value != NULL && i < e->value_len && n + 1 < sizeof(lk->previous); i++)
		if (e->value[i] > ' ' && e->value[i] < 0x7f)
			lk->previous[n++] = (char)e->value[i];
	lk->previous[n] = '\0';
}

/* Ask the gate before acquiring a free key: -2 when it passed, else an acq result or -1 to block. */
static int acq_gate(struct lock *lk, struct acq_loop *a)
{
	int64_t now = clock_now_ms();
	if (a->gate_last > 0 && now < a->gate_last + GATE_MIN_GAP_MS) {
		int r = acq_sleep(lk, a->gate_last + GATE_MIN_GAP_MS);
		if (r >= 0)
			return r;
		now = clock_now_ms();
	}
	a->gate_last = now;
	char why[300];
	int64_t free_ms = a->free_since > 0 ? now - a->free_since : 0;
	int sig = 0;
	int g = lk->hooks.gate(lk->hooks.ctx, free_ms, why, sizeof(why), &sig);
	/* The gate's SIGCHLD sits in the signal pipe: consume it, or it cancels the acquire. */
	if (g != 2)
		sig = lk->hooks.stop != NULL ? lk->hooks.stop(lk->hooks.ctx) : 0;
	if (sig) {
		lk->exit_signal = sig;
		return LOCK_SIGNAL;
	}
	if (g == 0) {
		lk_log(lk, LOG_INFO, "gate passed; acquiring", "reason", why);
		a->gate_said[0] = '\0';
		a->gate_waiting = 0;
		return -2;
	}
	if (log_changed(a->gate_said, sizeof(a->gate_said), why, NULL)) {
		if (g == 3)
			lk_log(lk, LOG_ERROR, "not contending for the lock", "reason", why);
		else
			lk_log(lk, LOG_INFO, "not contending for the lock", "reason", why);
	}
	a->gate_waiting = 1;
	a->index = a->key_index;
	a->retry_at = 0;
	return -1;
}

/* Try once; 1 held, 0 not (and why in *delayed), -1 error, -2 cancelled. */
static int try_acquire(struct lock *lk, int *delayed, uint64_t *index)
{
	int ok = 0;
	consul_set_deadline(lk->mc, lock_acq_deadline(lk));
	int64_t t0 = clock_now_ms();
	int rc = consul_kv_acquire(lk->mc, lk->cfg->lock_key, lk->session, LOCK_FLAG, lk->value,
	                           strlen(lk->value), &ok);
	if (rc != CONSUL_OK)
		return rc == CONSUL_CANCELLED ? -2 : -1;
	if (ok) {
		pthread_mutex_lock(&lk->mu);
		lk->last_confirm_ms = t0;
		pthread_mutex_unlock(&lk->mu);
		return 1;
	}
	/* Lock-delay and contention both answer false; only the key tells them apart. */
	struct json_kv_entry e;
	memset(&e, 0, sizeof(e));
	struct consul_query q = { 0 };
	rc = consul_kv_get(lk->mc, lk->cfg->lock_key, &q, &e);
	if (rc == CONSUL_CANCELLED)
		return -2;
	if (rc == CONSUL_ERR)
		return -1;
	*delayed = rc == CONSUL_ABSENT || e.session[0] == '\0';
	*index = lk->mc->index;
	json_kv_entry_clear(&e);
	return 0;
}

/* Acquire answered false with the key unheld: lock-delay. Schedule the next try; -1 to go on. */
static int acq_delayed(struct lock *lk, struct acq_loop *a, int64_t now)
{
	/* The previous holder's session was invalidated no later than we saw the key free,
	 * so with the same lock-delay it ends by free_since + L. */
	if (a->free_since == 0)
		a->free_since = now;
	int64_t at = a->free_since + lk->cfg->lock_delay_ms + 100;
	if (at <= now)
		at = now + 1000; /* a longer lock-delay than ours (other settings): try each second */
	lk_log(lk, LOG_INFO, "lock-delay in effect, retrying", "retry_in_ms", log_int(at - now));
	a->retry_at = at;
	a->index = 0;
	return -1;
}

/* A session refused its check is made again this often until the check passes. */
enum { BIND_WAIT_MS = 1000 };

/* The key is free (absent or unheld): acquire, or schedule a retry after lock-delay. */
static int acq_free(struct lock *lk, struct acq_loop *a)
{
	int64_t now = clock_now_ms();
	if (a->retry_at > now)
		return acq_sleep(lk, a->retry_at);
	if (lk->hooks.gate != NULL) {
		int g = acq_gate(lk, a);
		if (g != -2)
			return g;
	}
	int b = lock_bind_before_acquire(lk);
	if (b == LOCK_BIND_WAIT)
		return acq_sleep(lk, now + BIND_WAIT_MS);
	if (b >= 0)
		return b;
	int delayed = 0;
	uint64_t idx = 0;
	int r = try_acquire(lk, &delayed, &idx);
	if (r == 1)
		return LOCK_HELD;
	if (r == -2)
		return -1;
	if (r < 0 && lk->mc->status == 500 && strstr(lk->mc->err, "invalid session") != NULL) {
		/* Our session died since the last renewal (a bound check went critical): make another now. */
		pthread_mutex_lock(&lk->mu);
		lk->session_gone = 1;
		pthread_mutex_unlock(&lk->mu);
		return -1;
	}
	if (r < 0)
		return acq_failed(lk, a, "cannot acquire the lock");
	a->failures = 0;
	if (delayed)
		return acq_delayed(lk, a, now);
	a->index = idx; /* contention: someone else got it; block on the key */
	a->retry_at = 0;
	a->free_since = 0;
	return -1;
}

/*
 * The key exists with other flags: not a lock (another tool's data, or `consul kv
 * put` by hand). Leave it untouched and wait for it to be deleted or rewritten,
 * with a blocking read and a back-off capped at 30 s between reads, logging once
 * per flags value: exiting made the orchestrator start over at once, for ever.
 */
static int acq_not_a_lock(struct lock *lk, struct acq_loop *a, uint64_t idx, uint64_t flags)
{
	if (a->not_lock == 0 || flags != a->not_lock_flags) {
		char f[32];
		snprintf(f, sizeof(f), "%llu", (unsigned long long)flags);
		lk_log(lk, LOG_ERROR, "existing key does not match lock use; waiting until it is deleted or rewritten",
		       "key", lk->cfg->lock_key, "flags", f);
	}
	a->not_lock_flags = flags;
	a->index = idx < a->index ? 0 : idx;
	a->was_held = 0;
	a->free_since = 0;
	a->gate_waiting = 0;
	return acq_sleep(lk, clock_now_ms() + lock_backoff_ms(a->not_lock++));
}

/* The key was read at index idx and found free (absent, or no session on it). */
static int acq_seen_free(struct lock *lk, struct acq_loop *a, uint64_t idx)
{
	a->key_index = idx;
	if (a->was_held || a->free_since == 0)
		a->free_since = clock_now_ms();
	a->was_held = 0;
	return acq_free(lk, a);
}

/* What a read of the lock key (rc, e at index idx) tells: an acq result or -1 to go on. */
static int acq_seen(struct lock *lk, struct acq_loop *a, int rc, struct json_kv_entry *e, uint64_t idx)
{
	if (rc == CONSUL_OK && e->flags != LOCK_FLAG) {
		uint64_t flags = e->flags;
		json_kv_entry_clear(e);
		return acq_not_a_lock(lk, a, idx, flags);
	}
	if (a->not_lock > 0) {
		lk_log(lk, LOG_INFO, "the lock key is usable again", "key", lk->cfg->lock_key);
		a->not_lock = 0;
	}
	if (rc == CONSUL_ABSENT) {
		json_kv_entry_clear(e);
		return acq_seen_free(lk, a, idx);
	}
	int held_by_other = e->session[0] != '\0' && strcmp(e->session, lk->session) != 0;
	int ours = strcmp(e->session, lk->session) == 0;
	if (!ours)
		remember_previous(lk, e);
	json_kv_entry_clear(e);
	if (held_by_other && !ours) {
		/* [C1]: an index that went backwards is reset, then read once at once. */
		a->index = idx < a->index ? 0 : idx;
		a->was_held = 1;
		a->free_since = 0;
		a->gate_waiting = 0;
		return -1;
	}
	return acq_seen_free(lk, a, idx);
}

static int acq_step(struct lock *lk, struct acq_loop *a)
{
	int r = lock_renew_session_if_gone(lk);
	if (r >= 0)
		return r;
	if (a->retry_at > 0)
		return acq_free(lk, a);
	int64_t dl = lock_acq_deadline(lk), now = clock_now_ms();
	if (dl && now >= dl)
		return LOCK_TIMEOUT;
	int64_t wait = a->gate_waiting ? GATE_PERIOD_MS : BLOCK_WAIT_MS;
	if (dl && dl - now < wait)
		wait = dl - now;
	struct consul_query q = { .index = a->index, .wait_ms = wait };
	struct json_kv_entry e;
	memset(&e, 0, sizeof(e));
	consul_set_deadline(lk->mc, dl);
	int rc = consul_kv_get(lk->mc, lk->cfg->lock_key, &q, &e);
	if (rc == CONSUL_CANCELLED) {
		lock_drain_events(lk);
		return lock_stop_taken(lk) ? LOCK_SIGNAL : -1;
	}
	if (rc == CONSUL_ERR) {
		if (dl && clock_now_ms() >= dl)
			return LOCK_TIMEOUT;
		return acq_failed(lk, a, "cannot read the lock key");
	}
	a->failures = 0;
	return acq_seen(lk, a, rc, &e, lk->mc->index);
}

int lock_acquire(struct lock *lk, int *sig)
{
	int r = lock_create_session(lk);
	if (r < 0) {
		struct acq_loop a;
		memset(&a, 0, sizeof(a));
		lk_log(lk, LOG_INFO, "waiting for the lock", "key", lk->cfg->lock_key);
		do {
			r = acq_step(lk, &a);
			consul_set_deadline(lk->mc, 0);
		} while (r < 0);
	}
	*sig = lk->exit_signal;
	return r;
}
