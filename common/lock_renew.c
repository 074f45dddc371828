/* SPDX-License-Identifier: MIT */
/* lock_renew: the renewer thread; renews the session, and while held each renewal confirms the lock. */
#include <stdio.h>

#include "clock.h"
#include "lock_impl.h"

/* What the renewer owes at this moment, read under the lock's mutex. */
struct duty {
	int holding;
	struct lock_timing t;
	int64_t loss_at;          /* while held: no confirmation by then → lost */
	int64_t period;           /* renew this often */
};

static void duty_read(struct lock *lk, struct duty *d)
{
	pthread_mutex_lock(&lk->mu);
	d->holding = lk->holding;
	d->t = lk->t;
	d->loss_at = lk->last_confirm_ms + d->t.budget_ms;
	pthread_mutex_unlock(&lk->mu);
	/* Renew every TTL/2 while waiting; while holding, confirm every min(L/3, TTL/2). */
	d->period = d->holding ? d->t.period_ms : d->t.ttl_ms / 2;
}

/* A hung request must not outlive its use: end it at the next duty or the loss deadline. */
static int64_t request_deadline(const struct duty *d, int64_t t0)
{
	int64_t until = t0 + d->period;
	if (d->holding && d->loss_at < until)
		until = d->loss_at;
	if (until < t0 + 200)
		until = t0 + 200;
	/* Past the deadline a renewal no longer races it: give it time to get through. */
	if (d->holding && d->loss_at <= t0 && until < t0 + FAST_READ_LIMIT_MS)
		until = t0 + FAST_READ_LIMIT_MS;
	return until;
}

/* A renewal got through after failures: while waiting, that ends the acquisition's back-off. */
static void consul_back(struct lock *lk, int failed, int holding)
{
	lk_log(lk, LOG_INFO, "session renewed again", "after_failures", log_int(failed));
	if (holding)
		return;
	pthread_mutex_lock(&lk->mu);
	lk->consul_back = 1;
	pthread_mutex_unlock(&lk->mu);
	lock_notify_main(lk);
}

/* Renew answered 404: the session is gone (a loss when held; else the main thread makes another). */
static void session_gone(struct lock *lk, int holding)
{
	pthread_mutex_lock(&lk->mu);
	lk->session_gone = 1;
	pthread_mutex_unlock(&lk->mu);
	if (holding)
		lock_set_lost(lk, "session renew answered 404: session invalidated");
	else
		lock_notify_main(lk);
}

/* The renew sent at t0 went through: the session was alive when Consul got it. */
static void renewed(struct lock *lk, const struct duty *d, int64_t t0, int64_t ttl)
{
	if (d->holding)
		lock_confirm(lk, t0);
	if (ttl <= d->t.ttl_ms)
		return;
	pthread_mutex_lock(&lk->mu);
	lock_timing_derive(&lk->t, ttl, lk->t.delay_ms);
	pthread_mutex_unlock(&lk->mu);
	char buf[32];
	config_format_duration(ttl, buf, sizeof(buf));
	lk_log(lk, LOG_INFO, "adopting the session TTL Consul returned", "ttl", buf);
}

void *lock_renewer_main(void *arg)
{
	struct lock_worker *w = arg;
	struct lock *lk = w->lk;
	char id[64];
	pthread_mutex_lock(&lk->mu);
	snprintf(id, sizeof(id), "%s", lk->session);
	pthread_mutex_unlock(&lk->mu);
	int64_t last = clock_now_ms(); /* the session was just created */
	int failed = 0;
	for (;;) {
		struct duty d;
		duty_read(lk, &d);
		int64_t next = last + (failed ? d.period / 4 : d.period);
		if (clock_now_ms() < next) {
			if (lock_worker_wait(w, next))
				return NULL;
			continue; /* woken early or on time: recompute, the period may have changed */
		}
		int64_t t0 = clock_now_ms();
		consul_set_deadline(w->c, request_deadline(&d, t0));
		int64_t ttl = 0;
		int rc = consul_session_renew(w->c, id, &ttl);
		if (rc == CONSUL_CANCELLED) {
			if (lock_worker_wait(w, 0))
				return NULL;
			continue;
		}
		last = t0;
		if (rc == CONSUL_OK && failed)
			consul_back(lk, failed, d.holding);
		failed = rc != CONSUL_OK ? failed + 1 : 0;
		if (rc == CONSUL_ABSENT) {
			session_gone(lk, d.holding);
			return NULL;
		}
		if (rc == CONSUL_OK)
			renewed(lk, &d, t0, ttl);
		else if (failed == 1) /* once per outage: a renewal is retried every period/4, each failure alike */
			lk_log(lk, LOG_WARN, "cannot renew session", "error", w->c->err);
		else
			lk_log(lk, LOG_DEBUG, "cannot renew session", "error", w->c->err);
	}
}
