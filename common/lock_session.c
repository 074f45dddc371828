/* SPDX-License-Identifier: MIT */
/* lock_session: the lock's session (create, bind to a check, destroy) and the key's release. */
#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "lock_impl.h"
#include "proc.h"

/* rc, the answer to a session create with the session check, is Consul refusing to bind it: the
 * check is missing or critical (CONSUL-API.md §2). */
static int bind_refused(const struct lock *lk, int rc)
{
	const struct consul *c = lk->mc;
	return rc == CONSUL_ERR && lk->session_check[0] != '\0' && c->status == 500 &&
	       (strstr(c->err, "Missing check") != NULL || strstr(c->err, "critical state") != NULL);
}

/*
 * One session create, bound to the session check when one is asked for: the session then dies
 * with that check (it goes critical, or its service is deregistered), so a holder whose resec
 * dies loses the lock within the check's TTL instead of 2 x the session TTL (docs/resec-lock.md,
 * "A session that dies with its holder"). A check that is missing or critical cannot be bound
 * (bind_refused): the refusal is logged and timed (unbound_since), and binding is tried again
 * before each acquire.
 */
static int session_create_bound(struct lock *lk, const struct consul_session_opts *opts, char *id, size_t idlen)
{
	const char *const checks[] = { lk->session_check };
	struct consul_session_opts so = *opts;
	so.service_checks = checks;
	so.n_service_checks = lk->session_check[0] != '\0' ? 1 : 0;
	int rc = consul_session_create(lk->mc, &so, id, idlen);
	lk->bound = rc == CONSUL_OK && so.n_service_checks > 0;
	if (lk->bound)
		lk->unbound_since = 0;
	if (!bind_refused(lk, rc))
		return rc;
	if (lk->unbound_since == 0)
		lk->unbound_since = clock_now_ms();
	if (log_changed(lk->bind_said, sizeof(lk->bind_said), lk->mc->err, NULL))
		lk_log(lk, LOG_WARN, "session not bound to the service check; binding again before acquiring", "check",
		       lk->session_check, "reason", lk->mc->err);
	return rc;
}

/* The session exists: remember it, start renewing it. -1 to go on, or LOCK_UNAVAILABLE. */
static int session_made(struct lock *lk, const char *id)
{
	if (lk->bound && lk->bind_said[0] != '\0') {
		lk_log(lk, LOG_INFO, "session bound to the service check", "check", lk->session_check);
		lk->bind_said[0] = '\0';
	}
	pthread_mutex_lock(&lk->mu);
	snprintf(lk->session, sizeof(lk->session), "%s", id);
	lk->session_gone = 0;
	lock_timing_derive(&lk->t, lk->cfg->lock_ttl_ms, lk->cfg->lock_delay_ms);
	pthread_mutex_unlock(&lk->mu);
	lk_log(lk, LOG_INFO, "session created", "session", id, "bound", lk->bound ? lk->session_check : "no");
	return lock_worker_start(&lk->renewer, lk, lock_renewer_main) < 0 ? LOCK_UNAVAILABLE : -1;
}

enum { SESSION_RETRY_MAX_MS = 5000 };

/* The lock session's options: TTL, lock-delay, release behaviour, serfHealth (CONSUL-API.md §2). */
static void session_opts(const struct lock *lk, struct consul_session_opts *so)
{
	static const char *const serf[] = { "serfHealth" };
	memset(so, 0, sizeof(*so));
	so->name = lk->cfg->lock_session_name;
	so->ttl_ms = lk->cfg->lock_ttl_ms;
	so->lock_delay_ms = lk->cfg->lock_delay_ms;
	so->lock_delay_set = 1; /* even 0: raw HTTP can disable lock-delay, the Go api cannot */
	so->behavior = "release";
	so->node_checks = serf;
	so->n_node_checks = 1;
	so->node_checks_set = 1;
}

/* Create the session, retrying while Consul is unreachable: 1 s doubling to 5 s (jittered), so
 * that after an outage the session comes at most 5 s after Consul's return (30 s before; the
 * cap of resec-watch and resec-health too). */
int lock_create_session(struct lock *lk)
{
	struct consul_session_opts so;
	session_opts(lk, &so);
	struct backoff b;
	backoff_init(&b, 1000, SESSION_RETRY_MAX_MS);
	for (;;) {
		char id[64];
		consul_set_deadline(lk->mc, lock_acq_deadline(lk));
		int rc = session_create_bound(lk, &so, id, sizeof(id));
		if (bind_refused(lk, rc)) /* made without the check: it is bound before each acquire */
			rc = consul_session_create(lk->mc, &so, id, sizeof(id));
		consul_set_deadline(lk->mc, 0);
		if (rc == CONSUL_OK)
			return session_made(lk, id);
		if (rc == CONSUL_CANCELLED) {
			lock_drain_events(lk);
			if (lock_stop_taken(lk))
				return LOCK_SIGNAL;
			continue;
		}
		if (lk->mc->status >= 400 && lk->mc->status < 500) {
			lk_log(lk, LOG_ERROR, "Consul refused the session", "error", lk->mc->err);
			return LOCK_CONFLICT;
		}
		if (lk->once) {
			lk_log(lk, LOG_ERROR, "cannot create session", "error", lk->mc->err);
			return LOCK_UNAVAILABLE;
		}
		int64_t d = backoff_next(&b);
		lk_log(lk, LOG_WARN, "cannot create session, retrying", "error", lk->mc->err, "retry_in_ms", log_int(d));
		int r = lock_acq_sleep_or(lk, clock_now_ms() + d, NULL);
		if (r >= 0)
			return r;
	}
}

/* Renewal found the session gone while waiting: make a new one. */
int lock_renew_session_if_gone(struct lock *lk)
{
	if (!lock_flag(lk, &lk->session_gone))
		return -1;
	lock_worker_stop(&lk->renewer);
	lk_log(lk, LOG_WARN, "session invalidated while waiting; creating a new one", "session", lk->session);
	return lock_create_session(lk);
}

/*
 * A free key and a pass from the gate: if the session should be bound to the session check
 * but is not (the check was missing or critical when it was made), try a bound one now, while
 * nothing is held: the holder's session must die with the holder. Only once Consul takes it
 * does the unbound one go; a refusal costs that one write, and the unbound session (renewed
 * meanwhile) stays. Still refused, wait for the check (LOCK_BIND_WAIT), for at most one
 * session TTL since the first refusal: a lock taken with an unbound session outlives a dead
 * holder by up to 2 x the TTL (22 s without a master in the fault campaign, seed 14204 round
 * 40, after an outage left the check critical until the next heartbeat); a check that never
 * passes (a wrong name) costs that TTL once. -1 to go on, LOCK_BIND_WAIT, or an acq result.
 */
int lock_bind_before_acquire(struct lock *lk)
{
	if (lk->session_check[0] == '\0' || lk->bound)
		return -1;
	struct consul_session_opts so;
	session_opts(lk, &so);
	char id[64];
	consul_set_deadline(lk->mc, clock_now_ms() + 2000);
	int rc = session_create_bound(lk, &so, id, sizeof(id));
	consul_set_deadline(lk->mc, 0);
	if (rc == CONSUL_OK) {
		lock_worker_stop(&lk->renewer);
		consul_set_deadline(lk->mc, clock_now_ms() + 2000);
		if (consul_session_destroy(lk->mc, lk->session) != CONSUL_OK)
			lk_log(lk, LOG_WARN, "cannot destroy the unbound session", "error", lk->mc->err);
		consul_set_deadline(lk->mc, 0);
		return session_made(lk, id);
	}
	if (rc == CONSUL_CANCELLED) {
		lock_drain_events(lk);
		if (lock_stop_taken(lk))
			return LOCK_SIGNAL;
	} else if (!bind_refused(lk, rc)) {
		lk_log(lk, LOG_WARN, "cannot make a bound session; trying again", "error", lk->mc->err);
	}
	if (lk->unbound_since == 0)
		return -1;
	if (clock_now_ms() - lk->unbound_since < lk->cfg->lock_ttl_ms)
		return LOCK_BIND_WAIT;
	lk_log(lk, LOG_WARN, "the service check did not pass within the session TTL; acquiring with an unbound session",
	       "check", lk->session_check);
	return -1;
}

/* Release the key (same flags and value: no lock-delay for the next holder); 1 when Consul answered. */
static int release_key(struct lock *lk, int64_t timeout_ms)
{
	int ok = 0;
	consul_set_deadline(lk->mc, clock_now_ms() + timeout_ms);
	int rc = consul_kv_release(lk->mc, lk->cfg->lock_key, lk->session, LOCK_FLAG, lk->value,
	                           strlen(lk->value), &ok);
	consul_set_deadline(lk->mc, 0);
	if (rc != CONSUL_OK)
		lk_log(lk, LOG_WARN, "cannot release the lock", "error", lk->mc->err);
	else if (!ok)
		lk_log(lk, LOG_WARN, "release answered false: the lock was no longer ours");
	else
		lk_log(lk, LOG_INFO, "lock released", "key", lk->cfg->lock_key);
	return lk->mc->status != 0;
}

/* Destroy the session; 1 when Consul answered (or there is none). */
static int destroy_session(struct lock *lk, int64_t timeout_ms)
{
	if (lk->session[0] == '\0')
		return 1;
	consul_set_deadline(lk->mc, clock_now_ms() + timeout_ms);
	int rc = consul_session_destroy(lk->mc, lk->session);
	consul_set_deadline(lk->mc, 0);
	if (rc != CONSUL_OK)
		lk_log(lk, LOG_WARN, "cannot destroy the session", "error", lk->mc->err);
	return lk->mc->status != 0;
}

int lock_cleanup(struct lock *lk, int64_t timeout_ms, int release)
{
	lock_worker_stop(&lk->monitor);
	consul_set_cancel_fd(lk->mc, -1);
	int answered = 1;
	if (release && lk->session[0] != '\0')
		answered = release_key(lk, timeout_ms);
	lock_worker_stop(&lk->renewer);
	/* A Consul that did not answer the release will not answer this either: ask later. */
	return answered && destroy_session(lk, timeout_ms);
}

/*
 * The kill signal went out (S3); destroy the session at once, so that a successor waits only
 * for the lock-delay and never for a dead session's 2 x TTL.
 */
int lock_drop(struct lock *lk)
{
	lock_worker_stop(&lk->monitor);
	lock_worker_stop(&lk->renewer);
	consul_set_cancel_fd(lk->mc, -1);
	consul_set_deadline(lk->mc, clock_now_ms() + LOST_CLEANUP_MS);
	int answered = consul_session_destroy(lk->mc, lk->session) == CONSUL_OK;
	if (answered)
		lk_log(lk, LOG_INFO, "session destroyed", "session", lk->session);
	consul_set_deadline(lk->mc, 0);
	return answered;
}

/*
 * After a loss, prog is stopped (Redis fenced): what is left is Consul's side.
 * When Consul did not answer the cleanup (the agent hangs or the node is cut
 * off), the session, and with it the key if the servers still see us alive,
 * would outlive us until its TTL runs out, up to 2 × TTL: a successor would
 * wait that long plus the lock-delay once Consul is back. So ask again, once a
 * second with a short timeout, until Consul answers (release without
 * lock-delay, then destroy), a TERM/INT/QUIT, or 2 × TTL after the loss, when
 * the session cannot be alive any more. S3 is not at stake: the kill signal
 * went out before this, and releasing a key the servers still give us is what
 * a clean stop does.
 */
void lock_cleanup_after_loss(struct lock *lk, int64_t lost_at, int release)
{
	if (lock_cleanup(lk, LOST_CLEANUP_MS, release))
		return;
	int64_t until = lost_at + 2 * lk->t.ttl_ms;
	lk_log(lk, LOG_WARN, "consul does not answer; the session is destroyed as soon as it does", "session",
	       lk->session, "give_up_in_ms", log_int(until - clock_now_ms()));
	consul_set_cancel_fd(lk->mc, lk->epfd); /* a stop signal cancels a request in flight */
	int released = 0;
	for (;;) {
		/* Signals that are not a stop (CHLD) must not cancel the next request. */
		lock_drain_events(lk);
		int sig = lk->hooks.stop != NULL ? lk->hooks.stop(lk->hooks.ctx) : 0;
		int64_t t0 = clock_now_ms();
		if (sig != 0) {
			lk_log(lk, LOG_INFO, "stopping without destroying the session", "signal", proc_signal_name(sig));
			return;
		}
		if (t0 >= until) {
			lk_log(lk, LOG_WARN, "gave up destroying the session: its TTL has run out by now", "session",
			       lk->session);
			return;
		}
		if (!released)
			released = !release || release_key(lk, LOST_CLEANUP_MS);
		if (released && destroy_session(lk, LOST_CLEANUP_MS)) {
			lk_log(lk, LOG_INFO, "session destroyed now that consul answers", "session", lk->session);
			return;
		}
		int64_t now;
		while ((now = clock_now_ms()) < t0 + LOST_CLEANUP_MS && !lock_wait_events(lk, t0 + LOST_CLEANUP_MS - now))
			;
	}
}
