/* SPDX-License-Identifier: MIT */
/* lock: the lock's handle, its timing, and the main thread's waits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "lock_impl.h"

void lock_timing_derive(struct lock_timing *t, int64_t ttl_ms, int64_t delay_ms)
{
	t->ttl_ms = ttl_ms;
	t->delay_ms = delay_ms;
	/* Without lock-delay nothing protects the gap: stay well inside the TTL instead. */
	t->eff_ms = delay_ms > 0 ? delay_ms : ttl_ms / 2;
	int64_t margin = t->eff_ms / 3 < 1000 ? t->eff_ms / 3 : 1000;
	t->budget_ms = t->eff_ms - margin;
	t->period_ms = t->eff_ms / 3;
	if (t->period_ms > ttl_ms / 2)
		t->period_ms = ttl_ms / 2;
	if (t->period_ms < 1)
		t->period_ms = 1;
}

static int nonblocking_pipe(int p[2])
{
	if (pipe(p) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(p[i], F_GETFL);
		if (fl < 0 || fcntl(p[i], F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(p[i], F_SETFD, FD_CLOEXEC) < 0)
			return -1;
	}
	return 0;
}

/* The pipes and the epoll set: signals and worker events wake the main thread. */
static int open_events(struct lock *lk, char *err, size_t errlen)
{
	int ev[2];
	if (nonblocking_pipe(ev) < 0 || nonblocking_pipe(lk->renewer.pipe) < 0 ||
	    nonblocking_pipe(lk->monitor.pipe) < 0) {
		snprintf(err, errlen, "cannot set up: %s", strerror(errno));
		return -1;
	}
	lk->event_r = ev[0];
	lk->event_w = ev[1];
	lk->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e1 = { .events = EPOLLIN, .data = { .fd = lk->hooks.signal_fd } };
	struct epoll_event e2 = { .events = EPOLLIN, .data = { .fd = ev[0] } };
	if (lk->epfd < 0 || epoll_ctl(lk->epfd, EPOLL_CTL_ADD, lk->hooks.signal_fd, &e1) < 0 ||
	    epoll_ctl(lk->epfd, EPOLL_CTL_ADD, ev[0], &e2) < 0) {
		snprintf(err, errlen, "cannot set up epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Every Consul handle is made here, before any thread exists (curl global init). */
static int open_clients(struct lock *lk, char *err, size_t errlen)
{
	char e[256];
	struct consul **cs[] = { &lk->mc, &lk->renewer.c, &lk->monitor.c };
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		*cs[i] = consul_new(lk->cfg, e, sizeof(e));
		if (*cs[i] == NULL) {
			snprintf(err, errlen, "cannot set up the Consul client: %s", e);
			return -1;
		}
	}
	consul_set_cancel_fd(lk->mc, lk->epfd);
	int64_t conn = lk->t.period_ms < 2000 ? lk->t.period_ms : 2000;
	consul_set_timeouts(lk->renewer.c, conn, lk->t.period_ms);
	consul_set_timeouts(lk->monitor.c, conn, lk->t.period_ms);
	return 0;
}

int lock_open(struct lock **out, const struct lock_params *p, const struct lock_hooks *h, char *err,
              size_t errlen)
{
	*out = NULL;
	struct lock *lk = calloc(1, sizeof(*lk));
	if (lk == NULL) {
		snprintf(err, errlen, "cannot set up: out of memory");
		return -1;
	}
	lk->start_ms = clock_now_ms();
	lk->cfg = p->cfg;
	lk->hooks = *h;
	lk->timeout_ms = p->timeout_ms;
	lk->once = p->once;
	snprintf(lk->value, sizeof(lk->value), "%s", p->value);
	snprintf(lk->session_check, sizeof(lk->session_check), "%s", p->session_check);
	lk->epfd = lk->event_r = lk->event_w = -1;
	lk->renewer.pipe[0] = lk->renewer.pipe[1] = lk->monitor.pipe[0] = lk->monitor.pipe[1] = -1;
	pthread_mutex_init(&lk->mu, NULL);
	lock_timing_derive(&lk->t, p->cfg->lock_ttl_ms, p->cfg->lock_delay_ms);
	*out = lk;
	if (open_events(lk, err, errlen) < 0)
		return -1;
	return open_clients(lk, err, errlen) < 0 ? -2 : 0;
}

void lock_close(struct lock *lk)
{
	if (lk == NULL)
		return;
	lock_worker_stop(&lk->monitor);
	lock_worker_stop(&lk->renewer);
	consul_free(lk->mc);
	consul_free(lk->renewer.c);
	consul_free(lk->monitor.c);
	int fds[] = { lk->epfd, lk->event_r, lk->event_w, lk->renewer.pipe[0], lk->renewer.pipe[1],
	              lk->monitor.pipe[0], lk->monitor.pipe[1] };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&lk->mu);
	free(lk);
}

void lock_timing(struct lock *lk, struct lock_timing *t)
{
	pthread_mutex_lock(&lk->mu);
	*t = lk->t;
	pthread_mutex_unlock(&lk->mu);
}

const char *lock_session(const struct lock *lk)
{
	return lk->session;
}

const char *lock_previous(const struct lock *lk)
{
	return lk->previous;
}

/* Wait up to ms on signals and worker events; 1 when something arrived. */
int lock_wait_events(struct lock *lk, int64_t ms)
{
	struct epoll_event ev;
	if (ms < 0)
		ms = 0;
	int r = epoll_wait(lk->epfd, &ev, 1, (int)(ms > 60000 ? 60000 : ms));
	return r > 0;
}

void lock_drain_events(struct lock *lk)
{
	char buf[64];
	while (read(lk->event_r, buf, sizeof(buf)) > 0)
		;
}

int lock_wait(struct lock *lk, int64_t ms)
{
	if (!lock_wait_events(lk, ms))
		return 0;
	lock_drain_events(lk);
	return 1;
}

/* A stop signal arrived while no lock is held: 1, and it is kept for lock_acquire's caller. */
int lock_stop_taken(struct lock *lk)
{
	int sig = lk->hooks.stop != NULL ? lk->hooks.stop(lk->hooks.ctx) : 0;
	if (sig == 0)
		return 0;
	lk->exit_signal = sig;
	return 1;
}

int64_t lock_acq_deadline(const struct lock *lk)
{
	return lk->timeout_ms > 0 ? lk->start_ms + lk->timeout_ms : 0;
}

/* Sleep until at_ms, the acquisition deadline or a signal; returns an acq result or -1 to go on. */
int lock_acq_sleep_or(struct lock *lk, int64_t at_ms, int (*early)(struct lock *))
{
	int64_t dl = lock_acq_deadline(lk);
	for (;;) {
		int64_t now = clock_now_ms();
		if (dl && now >= dl)
			return LOCK_TIMEOUT;
		if (now >= at_ms || (early != NULL && early(lk)))
			return -1;
		int64_t until = dl && dl < at_ms ? dl : at_ms;
		if (lock_wait(lk, until - now) && lock_stop_taken(lk))
			return LOCK_SIGNAL;
	}
}

int64_t lock_backoff_ms(int failures)
{
	int64_t d = 1000LL << (failures < 5 ? failures : 5);
	if (d > 30000)
		d = 30000;
	/* Jitter so that restarted contenders do not come back in step. */
	return backoff_jitter(d);
}

int lock_standing(struct lock *lk, struct lock_standing *st)
{
	pthread_mutex_lock(&lk->mu);
	st->last_confirm_ms = lk->last_confirm_ms;
	st->last_key_ms = lk->last_key_ms;
	st->lost = lk->lost;
	if (st->lost)
		snprintf(st->why, sizeof(st->why), "%s", lk->lost_reason);
	else if (lk->session_gone) /* renew saw 404 just as we acquired */
		st->lost = snprintf(st->why, sizeof(st->why), "session invalidated") > 0;
	pthread_mutex_unlock(&lk->mu);
	return st->lost;
}

int lock_handover(struct lock *lk)
{
	return lock_flag(lk, &lk->handover);
}

void lock_set_unconfirmed(struct lock *lk, int on)
{
	pthread_mutex_lock(&lk->mu);
	int changed = lk->unconfirmed != on;
	lk->unconfirmed = on;
	pthread_mutex_unlock(&lk->mu);
	if (changed)
		lock_worker_poke(&lk->monitor, 'w');
}

void lock_hold_start(struct lock *lk)
{
	pthread_mutex_lock(&lk->mu);
	lk->holding = 1;
	lk->lost = 0;
	lk->handover = 0;
	pthread_mutex_unlock(&lk->mu);
	lock_worker_poke(&lk->renewer, 'w'); /* switch to the confirmation period */
	if (lock_worker_start(&lk->monitor, lk, lock_monitor_main) < 0)
		lk_log(lk, LOG_WARN, "cannot start the key monitor; relying on renewals");
}

void lock_quiet(struct lock *lk)
{
	lock_worker_poke(&lk->renewer, 'q');
	lock_worker_poke(&lk->monitor, 'q');
}
