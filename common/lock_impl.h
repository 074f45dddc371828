/* SPDX-License-Identifier: MIT */
/* lock_impl: the lock's handle and the calls between its files (lock*.c only). */
#ifndef RESEC_LOCK_IMPL_H
#define RESEC_LOCK_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "consul.h"
#include "lock.h"
#include "log.h"

/* Consul's lock helper marks its keys with this flag (api/lock.go LockFlagValue). */
#define LOCK_FLAG 3304740253564472344ULL

/* How long a blocking GET waits on the server; bounds a hung connection, not safety. */
#define BLOCK_WAIT_MS 60000

/* Cleanup after a loss: Consul may be unreachable, so give up quickly. */
#define LOST_CLEANUP_MS 1000

/* Unconfirmed (fenced, or held by the failsafe proof): the monitor reads the key this often, each
 * read bounded by FAST_READ_LIMIT_MS, so that the lock is confirmed again within a fraction of a
 * second of Consul answering (docs/resec-lock.md, "Resume"). */
enum { FAST_READ_MS = 250, FAST_READ_LIMIT_MS = 1000 };

/* The gate is re-run at most this often while it says wait, and no sooner than this after its last run. */
enum { GATE_PERIOD_MS = 1000, GATE_MIN_GAP_MS = 250 };

/* A worker thread (renewer, monitor) and its own Consul client. */
struct lock_worker {
	pthread_t thread;
	int running;
	int pipe[2];              /* main writes 'w' (recompute) or 'q' (quit); also the cancel fd */
	struct consul *c;
	struct lock *lk;
};

struct lock {
	/* Set by lock_open, then read only. */
	const struct resec_config *cfg;
	struct lock_hooks hooks;
	char value[512];          /* the value we acquire the key with */
	int64_t timeout_ms;
	int once;
	char session_check[400];
	int64_t start_ms;
	int epfd;                 /* signals + worker events, the main client's cancel fd */
	int event_r;
	int event_w;              /* workers write a byte here to wake the main thread */

	/* Shared by the main thread and the workers, under mu. */
	pthread_mutex_t mu;
	struct lock_timing t;
	char session[64];         /* written by the main thread only */
	int holding;              /* the main thread holds the key */
	int64_t last_confirm_ms;  /* send time of the last request proving we hold the lock */
	int64_t last_key_ms;      /* send time of the last consistent read showing the key ours */
	int unconfirmed;          /* the monitor reads the key every FAST_READ_MS */
	int lost;                 /* a worker found the lock lost */
	char lost_reason[160];
	int session_gone;         /* renew answered 404 */
	int consul_back;          /* a renewal got through after failures: a back-off may end */
	int handover;             /* the loss is a hand-over request: the key's value was changed */

	/* The main thread's. */
	struct consul *mc;
	struct lock_worker renewer;
	struct lock_worker monitor;
	int bound;                /* the session carries the session check */
	char bind_said[256];      /* why the last session could not be bound, logged when it changes */
	int64_t unbound_since;    /* when a session was first refused its check; 0 once one is bound */
	char previous[512];       /* the key's value when last seen before we acquired it */
	int exit_signal;          /* a stop signal that arrived before the lock was held */
};

/* Log through the hook: lk_log(lk, LOG_INFO, "msg", "key", value, ...). */
#define lk_log(lk, level, ...)                                                         \
	do {                                                                           \
		if ((lk)->hooks.log != NULL)                                           \
			(lk)->hooks.log((level), __VA_ARGS__, (const char *)0);        \
	} while (0)

/* lock.c; the int results of the acquisition's steps are an enum lock_result, or -1 to go on. */
void lock_timing_derive(struct lock_timing *t, int64_t ttl_ms, int64_t delay_ms);
int lock_wait_events(struct lock *lk, int64_t ms);
void lock_drain_events(struct lock *lk);
int lock_stop_taken(struct lock *lk);
int64_t lock_backoff_ms(int failures);
int64_t lock_acq_deadline(const struct lock *lk);
int lock_acq_sleep_or(struct lock *lk, int64_t at_ms, int (*early)(struct lock *));

/* lock_worker.c */
void lock_notify_main(struct lock *lk);
void lock_set_lost(struct lock *lk, const char *reason);
void lock_confirm(struct lock *lk, int64_t sent_ms);
void lock_confirm_key(struct lock *lk, int64_t sent_ms);
/* One of the shared flags (&lk->unconfirmed, ...), read under the mutex. */
int lock_flag(struct lock *lk, const int *flag);
int lock_worker_wait(struct lock_worker *w, int64_t at_ms);
int lock_worker_start(struct lock_worker *w, struct lock *lk, void *(*fn)(void *));
void lock_worker_poke(struct lock_worker *w, char what);
void lock_worker_stop(struct lock_worker *w);

/* lock_renew.c, lock_monitor.c: the workers' threads. */
void *lock_renewer_main(void *arg);
void *lock_monitor_main(void *arg);

/* lock_session.c */
int lock_create_session(struct lock *lk);
int lock_renew_session_if_gone(struct lock *lk);
/* lock_bind_before_acquire's answer: the check has not passed yet, ask again shortly. */
enum { LOCK_BIND_WAIT = -3 };
int lock_bind_before_acquire(struct lock *lk);

#endif
