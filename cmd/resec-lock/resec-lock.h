/* SPDX-License-Identifier: MIT */
/* resec-lock's parts: options and the child (main.c), the commands it runs (gate.c), the holder's
 * standing while prog runs (hold.c). The lock itself is common/lock.h. */
#ifndef RESEC_LOCK_CMD_H
#define RESEC_LOCK_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lock.h"
#include "proc.h"

/* The gate and the actions: at most this many words; the gate is killed after this long. */
enum { GATE_MAX_ARGS = 16, GATE_TIMEOUT_MS = 10000 };

/* What to do to prog when the lock stops (or starts again) being confirmed: a signal for its
 * process group, or a command resec-lock runs and waits for. */
struct action {
	int sig;                  /* > 0: a signal */
	char buf[512];            /* the command, split in place into argv */
	char *argv[GATE_MAX_ARGS + 1];
};

struct opts {
	struct resec_config *cfg;
	int64_t timeout_ms;       /* 0: forever */
	int kill_signal;
	int64_t kill_timeout_ms;  /* -1: derived from the lock-delay */
	char value[512];
	int value_set;
	int once;
	char gate_buf[512];       /* --gate, split in place into gate_argv */
	char *gate_argv[GATE_MAX_ARGS + 1];
	struct action fence;      /* --fence; none: an unconfirmed lock is a lost lock */
	struct action resume;     /* --resume */
	struct action failsafe;   /* --failsafe (a command) */
	char session_check[400];  /* --session-check */
};

/* The holder's standing, kept by the main thread while prog runs (docs/resec-lock.md, "Resume"). */
struct standing {
	struct proc_child *child;
	int fenced;               /* the fence action ran: only a fresh read of the key lifts it */
	int fence_failed;         /* it failed (or timed out): not tried again on the way out */
	int lift_wanted;          /* prog asked (SIGUSR1) for the resume action while confirmed */
	int held_by_proof;        /* past the S3 deadline, kept unfenced by the failsafe proof */
	int64_t since;            /* when the lock stopped being confirmed */
	int64_t proof_until;      /* prog may stay unfenced until then on the proof's word */
	int64_t proof_next;       /* when the proof may run next */
	int64_t resume_retry;     /* a failed resume action is tried again then */
	char proof_said[300];     /* the proof's last line */
};

/* The program's state while it holds the lock. */
struct holder {
	const struct opts *o;
	struct lock *lk;
	struct standing st;
};

/* gate.c */

/* Consume the signals that arrived while no child runs: the last TERM, INT or QUIT, or 0. */
int signals_idle(void);

/* The lock's stop hook: signals_idle(). */
int stop_hook(void *ctx);

/* The lock's gate hook (ctx: the opts): run --gate once with RESEC_LOCK_FREE_MS; 0 pass,
 * 2 a stop signal came (in *stop: the gate is killed at once), else 1 with why (3 when
 * it says no replica is eligible: an error). */
int gate_hook(void *ctx, int64_t free_ms, char *why, size_t len, int *stop);

/* Run a command while held, with RESEC_LOCK_KEY and RESEC_LOCK_SESSION, for at most
 * timeout_ms: 0 when it exits 0, else 1 with why. */
int held_command(const struct holder *h, char *const argv[], int64_t timeout_ms, const char *what, char *why,
                 size_t len);

/* 1 when an action was given. */
int action_set(const struct action *a);

/* hold.c */

enum held_end { END_CHILD, END_SIGNAL, END_LOST };

/* Run --fence or --resume: signal prog's group, or run the command (killed after --kill-timeout). */
int run_action(struct holder *h, const struct action *a, const char *what);

/* Stand by the lock while prog runs: an enum held_end, the stop signal in *sig_out, the loss in why. */
int hold(struct holder *h, int *sig_out, char *why, size_t whylen);

#endif
