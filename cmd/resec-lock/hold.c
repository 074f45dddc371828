/* SPDX-License-Identifier: MIT */
/* resec-lock while prog runs: stand by the lock (fence, failsafe proof, resume), forward signals, reap prog. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "resec-lock.h"

/* The failsafe proof (--failsafe): run this often, killed after this long; a pass started at t
 * lets prog go on unfenced until t + FS_HOLD_MS (docs/election.md, "Failsafe mode"). */
enum { FS_PERIOD_MS = 500, FS_TIMEOUT_MS = 1000, FS_HOLD_MS = FS_PERIOD_MS + FS_TIMEOUT_MS };

static const char no_confirmation[] = "no confirmation from Consul within the lock-delay budget";

int run_action(struct holder *h, const struct action *a, const char *what)
{
	if (a->sig > 0) {
		if (proc_signal_group(h->st.child, a->sig) < 0) {
			log_warn("cannot signal the program", "action", what, "signal", proc_signal_name(a->sig));
			return -1;
		}
		return 0;
	}
	char why[300];
	if (held_command(h, a->argv, h->o->kill_timeout_ms, what, why, sizeof(why)) != 0) {
		log_warn("action failed", "action", what, "reason", why);
		return -1;
	}
	return 0;
}

/* The lock could not be confirmed in time: fence prog, keep it running. -1 when the fence failed. */
static int enter_fenced(struct holder *h, int64_t deadline, const char *why)
{
	struct standing *st = &h->st;
	if (!st->held_by_proof)
		st->since = deadline;
	if (run_action(h, &h->o->fence, "fence") < 0) {
		st->fence_failed = 1;
		return -1;
	}
	st->fenced = 1;
	st->held_by_proof = 0;
	lock_set_unconfirmed(h->lk, 1);
	log_warn("lock not confirmed: fenced; the program keeps running, confirming again", "reason", why,
	         "unconfirmed_ms", log_int(clock_now_ms() - st->since));
	return 0;
}

/* A consistent read showed the key ours again after a fence: lift it (the --resume action). */
static void try_resume(struct holder *h, const struct lock_timing *t, int64_t last_key, int64_t now)
{
	struct standing *st = &h->st;
	/* The resume must leave a margin before that read's own deadline, or a fence would follow it at once. */
	int64_t margin = t->budget_ms / 4 < 1000 ? t->budget_ms / 4 : 1000;
	if (last_key + t->budget_ms <= now + margin || now < st->resume_retry)
		return;
	if (action_set(&h->o->resume) && run_action(h, &h->o->resume, "resume") < 0) {
		st->resume_retry = now + 1000;
		return;
	}
	st->fenced = 0;
	st->lift_wanted = 0;
	lock_set_unconfirmed(h->lk, 0);
	log_info("lock confirmed again: resuming", "unconfirmed_ms", log_int(now - st->since));
}

/* When the failsafe proof first runs: late enough that a renewal is overdue, early enough that a
 * pass started then holds past the S3 deadline. */
static int64_t proof_start(const struct lock_timing *t, int64_t last_confirm)
{
	int64_t a = last_confirm + t->budget_ms - (FS_HOLD_MS - FS_PERIOD_MS);
	int64_t b = last_confirm + t->period_ms + FS_PERIOD_MS / 2;
	return a > b ? a : b;
}

/* Run the failsafe proof once, never past eff (the moment prog must be fenced). */
static void run_proof(struct holder *h, int64_t eff)
{
	struct standing *st = &h->st;
	int64_t start = clock_now_ms();
	int64_t limit = eff - start < FS_TIMEOUT_MS ? eff - start : FS_TIMEOUT_MS;
	char why[300];
	int ok = held_command(h, h->o->failsafe.argv, limit, "failsafe proof", why, sizeof(why)) == 0;
	st->proof_next = start + FS_PERIOD_MS;
	/* A pass proves the state the command read after start: it holds from there, not from its end. */
	if (ok && start + FS_HOLD_MS > st->proof_until)
		st->proof_until = start + FS_HOLD_MS;
	if ((st->held_by_proof || !ok) && strcmp(why, st->proof_said) != 0)
		log_info(ok ? "failsafe proof" : "failsafe proof fails", "proof", why);
	snprintf(st->proof_said, sizeof(st->proof_said), "%s", why);
}

/* Confirmed again before the deadline: end the failsafe hold, run a resume prog asked for. */
static void stand_confirmed(struct holder *h, int64_t now)
{
	struct standing *st = &h->st;
	if (st->held_by_proof) {
		log_info("lock confirmed again: the failsafe hold ends", "unconfirmed_ms", log_int(now - st->since));
		st->held_by_proof = 0;
		lock_set_unconfirmed(h->lk, 0);
	}
	if (st->lift_wanted && now >= st->resume_retry) {
		if (run_action(h, &h->o->resume, "resume") < 0)
			st->resume_retry = now + 1000;
		else
			st->lift_wanted = 0;
	}
}

/* The moment prog is due for the fence (eff) has come: fence, or the lock is lost. -1 or END_LOST. */
static int stand_due(struct holder *h, int64_t deadline, char *why, size_t whylen)
{
	struct standing *st = &h->st;
	if (!action_set(&h->o->fence)) {
		snprintf(why, whylen, "%s", no_confirmation);
		return END_LOST;
	}
	if (st->held_by_proof)
		log_error("failsafe proof failed: fencing", "proof", st->proof_said);
	if (enter_fenced(h, deadline, st->held_by_proof ? st->proof_said : no_confirmation) < 0) {
		snprintf(why, whylen, "lock not confirmed and the fence action failed");
		return END_LOST;
	}
	return -1;
}

/*
 * The lock as the main thread stands by it while prog is unfenced: confirmed (renewals and key
 * reads come in time), or past the S3 deadline and held by the failsafe proof, or due for the
 * fence. Returns -1 to go on (with *wake set), or END_LOST.
 */
static int stand_unfenced(struct holder *h, const struct lock_timing *t, int64_t last_confirm, int64_t *wake,
                          char *why, size_t whylen)
{
	struct standing *st = &h->st;
	int64_t now = clock_now_ms();
	int64_t deadline = last_confirm + t->budget_ms;
	int proof = h->o->failsafe.argv[0] != NULL;
	if (now < deadline)
		stand_confirmed(h, now);
	int64_t eff = st->proof_until > deadline ? st->proof_until : deadline;
	if (proof && now >= proof_start(t, last_confirm) && now >= st->proof_next && now < eff) {
		run_proof(h, eff);
		now = clock_now_ms();
		eff = st->proof_until > deadline ? st->proof_until : deadline;
	}
	if (now >= eff) {
		*wake = now + 60000;
		return stand_due(h, deadline, why, whylen);
	}
	if (now >= deadline && !st->held_by_proof) {
		st->held_by_proof = 1;
		st->since = deadline;
		lock_set_unconfirmed(h->lk, 1);
		log_warn("lock not confirmed: the failsafe proof holds, the program stays unfenced", "proof",
		         st->proof_said);
	}
	*wake = eff;
	if (proof) {
		int64_t next = proof_start(t, last_confirm);
		if (next < st->proof_next)
			next = st->proof_next;
		if (next < *wake)
			*wake = next;
	}
	if (st->lift_wanted && now < deadline && st->resume_retry > now && st->resume_retry < *wake)
		*wake = st->resume_retry;
	return -1;
}

/* The signals that came while prog runs: 1 on a stop (in *sig_out); HUP goes to prog's group,
 * USR1 asks for the resume action. */
static int held_signals(struct holder *h, int *sig_out)
{
	int sig;
	while ((sig = proc_signal_next()) != 0) {
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
			*sig_out = sig;
			return 1;
		}
		if (sig == SIGHUP)
			proc_signal_group(h->st.child, SIGHUP);
		if (sig == SIGUSR1 && action_set(&h->o->resume))
			h->st.lift_wanted = 1;
	}
	return 0;
}

int hold(struct holder *h, int *sig_out, char *why, size_t whylen)
{
	for (;;) {
		struct lock_standing ls;
		struct lock_timing t;
		lock_timing(h->lk, &t);
		if (lock_standing(h->lk, &ls)) {
			snprintf(why, whylen, "%s", ls.why);
			return END_LOST;
		}
		int64_t wake = clock_now_ms() + 60000;
		if (h->st.fenced) {
			try_resume(h, &t, ls.last_key_ms, clock_now_ms());
			if (h->st.fenced && h->st.resume_retry > clock_now_ms())
				wake = h->st.resume_retry;
		} else if (stand_unfenced(h, &t, ls.last_confirm_ms, &wake, why, whylen) == END_LOST) {
			return END_LOST;
		}
		(void)lock_wait(h->lk, wake - clock_now_ms());
		if (held_signals(h, sig_out))
			return END_SIGNAL;
		if (proc_reap(h->st.child))
			return END_CHILD;
	}
}
