/* SPDX-License-Identifier: MIT */
/* lock: hold a Consul lock (session, acquire, confirm by renewals and key reads, release). */
#ifndef RESEC_LOCK_H
#define RESEC_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * The machinery behind resec-lock (docs/resec-lock.md): a session renewed by a
 * worker thread, an acquisition loop that waits for the key to be free (lock-delay,
 * contention, a key that is not a lock, the gate), and once held a second worker
 * that watches the key, so that the holder knows when the lock was last confirmed
 * and whether it was lost or asked to be handed over. What to do to the program
 * that holds it (fence, resume, stop) is the caller's.
 *
 * Never prints: events go to hooks.log with the lines resec-lock writes. The
 * waits are cut short by hooks.signal_fd, and hooks.stop says whether what
 * arrived there is a stop.
 */
struct lock;

struct lock_hooks {
	void *ctx;
	/* One event, as log_event() (level, msg, key/value pairs, NULL); NULL: none.
	 * Called from the worker threads too. */
	void (*log)(int level, const char *msg, ...);
	/* Readable when a signal arrived (proc_signal_fd()); waits end on it. */
	int signal_fd;
	/* Consume the signals that arrived: the stop signal among them, or 0. */
	int (*stop)(void *ctx);
	/* The gate asked before acquiring a free key (NULL: none): 0 pass, 2 a stop
	 * signal came (in *stop), else 1 with the reason to wait in why (3 when that
	 * reason is an error, logged as one). */
	int (*gate)(void *ctx, int64_t free_ms, char *why, size_t len, int *stop);
};

struct lock_params {
	const struct resec_config *cfg;  /* the key, TTL, lock-delay, session name; kept */
	const char *value;               /* the key's value while held */
	int64_t timeout_ms;              /* give up acquiring after this long; 0: never */
	int once;                        /* Consul unreachable at start: give up at once */
	const char *session_check;       /* bind the session to this check when it can; "" none */
};

/* The S3 arithmetic, derived from TTL and lock-delay (docs/resec-lock.md). */
struct lock_timing {
	int64_t ttl_ms;           /* session TTL (the server may raise it) */
	int64_t delay_ms;         /* L: the session's LockDelay */
	int64_t eff_ms;           /* L, or TTL/2 when L is 0 */
	int64_t budget_ms;        /* no confirmation for this long → lost: L - min(1s, L/3) */
	int64_t period_ms;        /* confirm (renew) at least this often while held: min(L/3, TTL/2) */
};

/* How an acquisition ended. */
enum lock_result { LOCK_HELD = 0, LOCK_TIMEOUT, LOCK_SIGNAL, LOCK_CONFLICT, LOCK_UNAVAILABLE };

/* What the holder knows of its lock (lock_standing). */
struct lock_standing {
	int64_t last_confirm_ms;  /* send time of the last request proving we hold the lock */
	int64_t last_key_ms;      /* send time of the last consistent read showing the key ours */
	int lost;                 /* lost (or a hand-over asked): why says why */
	char why[160];
};

/* Set up (pipes, the three Consul clients) before any thread exists. Returns 0; -1 when
 * the system refused (pipes, epoll), -2 when the Consul settings are unusable; err says why. */
int lock_open(struct lock **out, const struct lock_params *p, const struct lock_hooks *h, char *err,
              size_t errlen);

/* Stop the workers and free everything; the session is the caller's to clean up before. */
void lock_close(struct lock *lk);

/* The timing as it stands (the server may have raised the TTL). */
void lock_timing(struct lock *lk, struct lock_timing *t);

/* Create the session and wait for the lock: an enum lock_result; a stop signal in *sig. */
int lock_acquire(struct lock *lk, int *sig);

/* The session's ID ("" before one exists); the key's value before we acquired it. */
const char *lock_session(const struct lock *lk);
const char *lock_previous(const struct lock *lk);

/* The lock is held: confirm at the holding pace and watch the key. */
void lock_hold_start(struct lock *lk);

/* Read the holder's standing; returns st->lost. */
int lock_standing(struct lock *lk, struct lock_standing *st);

/* 1 when the loss is a hand-over request (the key's value was rewritten). */
int lock_handover(struct lock *lk);

/* Not confirmed (fenced or on the failsafe's word): read the key at the fast pace until it is. */
void lock_set_unconfirmed(struct lock *lk, int on);

/* Wait up to ms for a signal or a change of standing; 1 when something arrived. */
int lock_wait(struct lock *lk, int64_t ms);

/* The lock is given up: the workers stop retrying at once (their threads end later). */
void lock_quiet(struct lock *lk);

/* After a loss: stop the workers and destroy the session within 1s; 1 when Consul answered. */
int lock_drop(struct lock *lk);

/* Release the key (when release is set), then destroy the session, each within timeout_ms;
 * 1 when Consul answered both. */
int lock_cleanup(struct lock *lk, int64_t timeout_ms, int release);

/* After a loss that Consul did not hear of: ask again each second until it answers, a stop
 * signal, or 2 x TTL after lost_at (docs/resec-lock.md). */
void lock_cleanup_after_loss(struct lock *lk, int64_t lost_at, int release);

#endif
