/* SPDX-License-Identifier: MIT */
/* lock_worker: the worker threads' plumbing and what they tell the main thread. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "lock_impl.h"

void lock_notify_main(struct lock *lk)
{
	char b = 'e';
	ssize_t n = write(lk->event_w, &b, 1);
	(void)n;
}

void lock_set_lost(struct lock *lk, const char *reason)
{
	pthread_mutex_lock(&lk->mu);
	if (!lk->lost) {
		lk->lost = 1;
		snprintf(lk->lost_reason, sizeof(lk->lost_reason), "%s", reason);
	}
	pthread_mutex_unlock(&lk->mu);
	lock_notify_main(lk);
}

void lock_confirm(struct lock *lk, int64_t sent_ms)
{
	pthread_mutex_lock(&lk->mu);
	if (sent_ms > lk->last_confirm_ms)
		lk->last_confirm_ms = sent_ms;
	pthread_mutex_unlock(&lk->mu);
}

/* A consistent read sent at sent_ms showed the key held by our session: the session was valid
 * and the key ours then. Only this lifts a fence raised because the lock was not confirmed. */
void lock_confirm_key(struct lock *lk, int64_t sent_ms)
{
	pthread_mutex_lock(&lk->mu);
	if (sent_ms > lk->last_confirm_ms)
		lk->last_confirm_ms = sent_ms;
	int wake = lk->unconfirmed && sent_ms > lk->last_key_ms;
	if (sent_ms > lk->last_key_ms)
		lk->last_key_ms = sent_ms;
	pthread_mutex_unlock(&lk->mu);
	if (wake)
		lock_notify_main(lk);
}

int lock_flag(struct lock *lk, const int *flag)
{
	pthread_mutex_lock(&lk->mu);
	int v = *flag;
	pthread_mutex_unlock(&lk->mu);
	return v;
}

/* Wait until at_ms or a message from main (then return early); 1 when told to quit. */
int lock_worker_wait(struct lock_worker *w, int64_t at_ms)
{
	for (;;) {
		int64_t left = at_ms - clock_now_ms();
		if (left < 0)
			left = 0;
		struct pollfd p = { .fd = w->pipe[0], .events = POLLIN, .revents = 0 };
		int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0) {
			char b;
			int quit = 0;
			while (read(w->pipe[0], &b, 1) == 1)
				quit |= b == 'q';
			return quit;
		}
		if (r < 0 && errno != EINTR)
			return 0;
		if (clock_now_ms() >= at_ms)
			return 0;
	}
}

int lock_worker_start(struct lock_worker *w, struct lock *lk, void *(*fn)(void *))
{
	char b;
	while (read(w->pipe[0], &b, 1) == 1)
		;
	w->lk = lk;
	consul_set_cancel_fd(w->c, w->pipe[0]);
	consul_set_deadline(w->c, 0);
	/* Signals belong to the main thread's self-pipe. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, fn, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	w->running = 1;
	return 0;
}

void lock_worker_poke(struct lock_worker *w, char what)
{
	if (w->running) {
		ssize_t n = write(w->pipe[1], &what, 1);
		(void)n;
	}
}

void lock_worker_stop(struct lock_worker *w)
{
	if (!w->running)
		return;
	lock_worker_poke(w, 'q');
	pthread_join(w->thread, NULL);
	w->running = 0;
}
