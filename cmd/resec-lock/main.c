/* SPDX-License-Identifier: MIT */
/* resec-lock: take a Consul lock, run a program in its own process group while it is held. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "proc.h"
#include "resec-lock.h"

static const char usage[] =
	"usage: resec-lock [--key K] [--ttl D] [--lock-delay D] [--name N] [--timeout D]\n"
	"                  [--kill-signal SIG] [--kill-timeout D] [--value V] [--once] [--gate CMD]\n"
	"                  [--fence ACTION] [--resume ACTION] [--failsafe CMD] [--session-check ID]\n"
	"                  -- prog args...\n"
	"Take the Consul lock at K, run prog in its own process group while it is held,\n"
	"signal the group at once when the lock is lost, release the lock when prog exits 0\n"
	"(a prog that failed or was killed leaves it to the lock-delay).\n"
	"  --key K           lock key (CONSUL_LOCK_KEY, resec/.lock)\n"
	"  --ttl D           session TTL (CONSUL_LOCK_TTL, 15s; 10s-24h)\n"
	"  --lock-delay D    session lock-delay (CONSUL_LOCK_DELAY, 5s; 0-60s)\n"
	"  --name N          session name (CONSUL_LOCK_SESSION_NAME, resec)\n"
	"  --timeout D       give up (exit 1) when the lock is not held within D (0: wait forever)\n"
	"  --kill-signal SIG signal for prog's group on loss or stop (TERM)\n"
	"  --kill-timeout D  wait this long before SIGKILL (lock-delay/2; TTL/4 when lock-delay is 0)\n"
	"  --value V         value of the key (ANNOUNCE_ADDR as host:port)\n"
	"  --once            exit 69 when Consul is unreachable at start instead of retrying\n"
	"  --gate CMD        while the key is free, acquire only after CMD (split on blanks, no shell)\n"
	"                    exits 0; re-run on each change of the key or after 1s\n"
	"  --fence ACTION    when the lock cannot be confirmed in time, run ACTION instead of stopping\n"
	"                    prog: a signal for prog's group (USR1, SIGUSR1, 10) or a command (split on\n"
	"                    blanks, no shell); prog keeps running\n"
	"  --resume ACTION   once Consul shows the key still ours after a fence, or when prog asks with\n"
	"                    SIGUSR1 to resec-lock while the lock is confirmed, run ACTION\n"
	"  --failsafe CMD    with --fence: while the lock cannot be confirmed, fence only once CMD stops\n"
	"                    exiting 0 (run every 500ms, killed after 1s; each pass holds 1.5s)\n"
	"  --session-check ID  bind the session to this service check too, when it exists and is\n"
	"                    not critical (the session then dies with what passes the check)\n"
	"prog gets RESEC_LOCK_KEY, RESEC_LOCK_SESSION and RESEC_LOCK_PREVIOUS (the key's value before).\n"
	"A rewrite of the held key's value (same session) asks for a hand-over: prog is stopped,\n"
	"then the key released without lock-delay (exit 75).\n"
	"A key with other flags is not a lock: it is left alone and waited on until deleted.\n"
	"Exit: prog's status (128+signal when killed), 1 not acquired in time, 64 usage or a\n"
	"session Consul refuses (ACL), 69 Consul unreachable (--once), 75 lock lost.";

enum opt_id { OPT_KEY, OPT_TTL, OPT_DELAY, OPT_NAME, OPT_TIMEOUT, OPT_KSIG, OPT_KTIME, OPT_VALUE, OPT_ONCE,
              OPT_GATE, OPT_FENCE, OPT_RESUME, OPT_FAILSAFE, OPT_SESSION_CHECK };

static const struct cli_option options[] = {
	{ "key", 0, 1, OPT_KEY },           { "ttl", 0, 1, OPT_TTL },
	{ "lock-delay", 0, 1, OPT_DELAY },  { "name", 0, 1, OPT_NAME },
	{ "timeout", 0, 1, OPT_TIMEOUT },   { "kill-signal", 0, 1, OPT_KSIG },
	{ "kill-timeout", 0, 1, OPT_KTIME }, { "value", 0, 1, OPT_VALUE },
	{ "once", 0, 0, OPT_ONCE },         { "gate", 0, 1, OPT_GATE },
	{ "fence", 0, 1, OPT_FENCE },       { "resume", 0, 1, OPT_RESUME },
	{ "failsafe", 0, 1, OPT_FAILSAFE }, { "session-check", 0, 1, OPT_SESSION_CHECK },
	{ NULL, 0, 0, 0 },
};

/* Split a command on blanks into a program and its arguments (no quoting: no shell is involved). */
static int split_command(char *buf, size_t size, char **argv, const char *value, const char *flag, char *err,
                         size_t errlen)
{
	if (strlen(value) >= size) {
		snprintf(err, errlen, "invalid --%s: too long", flag);
		return -1;
	}
	snprintf(buf, size, "%s", value);
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(buf, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (n == GATE_MAX_ARGS) {
			snprintf(err, errlen, "invalid --%s: more than %d words", flag, GATE_MAX_ARGS);
			return -1;
		}
		argv[n++] = w;
	}
	argv[n] = NULL;
	if (n == 0) {
		snprintf(err, errlen, "invalid --%s: empty command", flag);
		return -1;
	}
	return 0;
}

static int gate_parse(struct opts *o, const char *value, char *err, size_t errlen)
{
	return split_command(o->gate_buf, sizeof(o->gate_buf), o->gate_argv, value, "gate", err, errlen);
}

/* An ACTION: a signal name or number (USR1, SIGUSR1, 10) when it is one word that names one, else a command. */
static int action_parse(struct action *a, const char *value, const char *flag, int signal_ok, char *err,
                        size_t errlen)
{
	memset(a, 0, sizeof(*a));
	int sig = strpbrk(value, " \t") == NULL ? proc_parse_signal(value) : -1;
	if (sig > 0 && signal_ok) {
		if (sig == SIGKILL || sig == SIGSTOP) {
			snprintf(err, errlen, "invalid --%s %s: prog must be able to act on it", flag, value);
			return -1;
		}
		a->sig = sig;
		return 0;
	}
	return split_command(a->buf, sizeof(a->buf), a->argv, value, flag, err, errlen);
}

/* Copy an option's value into dst, or fail with msg when it does not fit (or is empty, unless empty_ok). */
static int keep_string(char *dst, size_t size, const char *value, int empty_ok, const char *msg, char *err,
                       size_t errlen)
{
	if ((!empty_ok && value[0] == '\0') || strlen(value) >= size) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

static int handle_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct opts *o = ctx;
	static const char *const shared_flag[] = {
		[OPT_KEY] = "consul-lock-key", [OPT_TTL] = "consul-lock-ttl",
		[OPT_DELAY] = "consul-lock-delay", [OPT_NAME] = "consul-lock-session-name",
	};
	static const char *const own_name[] = {
		[OPT_KEY] = "key", [OPT_TTL] = "ttl", [OPT_DELAY] = "lock-delay", [OPT_NAME] = "name",
	};
	char e2[400];
	switch (id) {
	case OPT_KEY:
	case OPT_TTL:
	case OPT_DELAY:
	case OPT_NAME:
		if (config_set(o->cfg, shared_flag[id], value, e2, sizeof(e2)) < 0) {
			snprintf(err, errlen, "--%s: %s", own_name[id], e2);
			return -1;
		}
		return 0;
	case OPT_TIMEOUT:
	case OPT_KTIME: {
		int64_t ms;
		if (config_parse_duration(value, &ms) < 0) {
			snprintf(err, errlen, "invalid --%s \"%.100s\": not a duration (use a unit: 500ms, 15s)",
			         id == OPT_TIMEOUT ? "timeout" : "kill-timeout", value);
			return -1;
		}
		if (id == OPT_TIMEOUT)
			o->timeout_ms = ms;
		else
			o->kill_timeout_ms = ms;
		return 0;
	}
	case OPT_KSIG:
		if (proc_parse_kill_signal(value, &o->kill_signal, err, errlen) < 0)
			return -1;
		/* The program's handler must run on a loss: it fences Redis (S3) before the key goes. */
		if (o->kill_signal == SIGKILL || o->kill_signal == SIGSTOP) {
			snprintf(err, errlen, "invalid --kill-signal \"%.20s\": KILL and STOP cannot be caught, and the "
			         "program must get to act (fence) before the lock goes", value);
			return -1;
		}
		return 0;
	case OPT_VALUE:
		o->value_set = 1;
		return keep_string(o->value, sizeof(o->value), value, 1, "invalid --value: too long", err, errlen);
	case OPT_ONCE:
		o->once = 1;
		return 0;
	case OPT_GATE:
		return gate_parse(o, value, err, errlen);
	case OPT_FENCE:
		return action_parse(&o->fence, value, "fence", 1, err, errlen);
	case OPT_RESUME:
		return action_parse(&o->resume, value, "resume", 1, err, errlen);
	case OPT_FAILSAFE:
		return action_parse(&o->failsafe, value, "failsafe", 0, err, errlen);
	case OPT_SESSION_CHECK:
		return keep_string(o->session_check, sizeof(o->session_check), value, 0,
		                   "invalid --session-check: empty or too long", err, errlen);
	default:
		snprintf(err, errlen, "unknown option");
		return -1;
	}
}

/*
 * Signals through the self-pipe (USR1 too: prog asks for the resume action), then the lock's
 * handle; exits 69 when the system refuses, 64 when the Consul settings are unusable.
 */
static struct lock *setup(struct opts *o, char *value, size_t vlen)
{
	char err[256] = "";
	if (proc_signals_init(err, sizeof(err)) < 0 || proc_signal_handle(SIGUSR1) < 0) {
		log_die_line("cannot set up: %s", err[0] ? err : strerror(errno));
		exit(EXIT_UNAVAILABLE);
	}
	/* Die with the orchestrator: a lock holder must not outlive what decided to hold it.
	 * The TERM goes through the self-pipe: stop prog, release, destroy as usual. */
	proc_die_with_parent(SIGTERM);
	if (o->value_set)
		snprintf(value, vlen, "%s", o->value);
	else
		config_format_hostport(&o->cfg->announce_addr, value, vlen);
	struct lock_params p = { .cfg = o->cfg, .value = value, .timeout_ms = o->timeout_ms, .once = o->once,
	                         .session_check = o->session_check };
	struct lock_hooks hooks = { .ctx = o, .log = log_event, .signal_fd = proc_signal_fd(), .stop = stop_hook,
	                            .gate = o->gate_argv[0] != NULL ? gate_hook : NULL };
	struct lock *lk;
	int rc = lock_open(&lk, &p, &hooks, err, sizeof(err));
	if (rc < 0) {
		log_die_line("%s", err);
		exit(rc == -2 ? EXIT_USAGE : EXIT_UNAVAILABLE);
	}
	struct lock_timing t;
	lock_timing(lk, &t);
	if (o->kill_timeout_ms < 0)
		o->kill_timeout_ms = t.eff_ms / 2;
	else if (o->kill_timeout_ms >= t.eff_ms)
		log_warn("--kill-timeout is not shorter than the lock-delay: after a loss the program may "
		         "outlive the hand-over", "kill_timeout_ms", log_int(o->kill_timeout_ms));
	return lk;
}

/*
 * 1 when prog exited 0: it did what it does before the lock goes (scripts/resec's
 * child fences Redis), so the key is released and a successor may start at
 * once. A program that failed or was killed may not have: the session is then
 * destroyed without a release, and Consul's lock-delay holds the next holder
 * back (a Redis that stalled while its fence was due has that long to wake up
 * and be fenced).
 */
static int child_done(const struct proc_child *child)
{
	return proc_exit_code(child->status) == 0;
}

/*
 * The lock is lost (renew 404, the key gone or another's, or the deadline without a fence
 * action): fence prog first (the fence action, then the kill signal), then destroy the session
 * at once, so that a successor waits only for the lock-delay and never for a dead session's
 * 2 x TTL; then wait for prog and clean up.
 */
static void stop_after_loss(struct holder *h, const char *why)
{
	struct proc_child *child = h->st.child;
	log_error("lock lost, stopping the program", "reason", why, "signal", proc_signal_name(h->o->kill_signal));
	/* The workers have nothing left to prove; stop their retries now. */
	lock_quiet(h->lk);
	if (action_set(&h->o->fence) && !h->st.fenced && !h->st.fence_failed)
		(void)run_action(h, &h->o->fence, "fence");
	/* S3: the kill signal before anything that waits on Consul. */
	proc_signal_group(child, h->o->kill_signal);
	if (h->o->kill_signal != SIGCONT)
		proc_signal_group(child, SIGCONT);
	int64_t lost_at = clock_now_ms();
	int answered = lock_drop(h->lk);
	if (proc_stop(child, 0, h->o->kill_timeout_ms))
		log_warn("program killed after the kill timeout");
	/* A Consul that did not answer (a hung agent) is asked again until it does:
	 * a release first when prog fenced (exited 0), so the successor waits no lock-delay. */
	if (!answered)
		lock_cleanup_after_loss(h->lk, lost_at, child_done(child));
}

/* A hand-over: prog stops as on a loss, then the key is released without lock-delay. */
static void hand_over(struct holder *h)
{
	log_info("lock hand-over requested, stopping the program; then releasing", "signal",
	         proc_signal_name(h->o->kill_signal));
	lock_quiet(h->lk);
	int64_t lost_at = clock_now_ms();
	proc_stop(h->st.child, h->o->kill_signal, h->o->kill_timeout_ms);
	lock_cleanup_after_loss(h->lk, lost_at, child_done(h->st.child));
}

/* prog ended (or a stop signal came): stop what is left of its group, release or leave it to
 * the lock-delay. prog's exit code. */
static int end_held(struct holder *h, int end, int sig)
{
	struct proc_child *child = h->st.child;
	if (end == END_SIGNAL) {
		log_info("stopping the program", "signal", proc_signal_name(sig));
		if (proc_stop(child, sig, h->o->kill_timeout_ms))
			log_warn("program killed after the kill timeout");
	} else {
		/* What the program left in its group must not outlive the lock. */
		if (proc_stop(child, h->o->kill_signal, h->o->kill_timeout_ms))
			log_warn("processes left by the program killed after the kill timeout");
	}
	int code = proc_exit_code(child->status);
	if (child_done(child)) {
		log_info("program exited, releasing the lock", "status", log_int(code));
	} else {
		log_warn("program failed or was killed: destroying the session without a release, so that the "
		         "lock-delay holds the next holder back", "status", log_int(code));
	}
	lock_cleanup(h->lk, 5000, child_done(child));
	return code;
}

static int run_held(const struct opts *o, struct lock *lk, char **argv)
{
	char env_key[600], env_sess[100], env_prev[600];
	snprintf(env_key, sizeof(env_key), "RESEC_LOCK_KEY=%s", o->cfg->lock_key);
	snprintf(env_sess, sizeof(env_sess), "RESEC_LOCK_SESSION=%s", lock_session(lk));
	snprintf(env_prev, sizeof(env_prev), "RESEC_LOCK_PREVIOUS=%s", lock_previous(lk));
	char *env[] = { env_key, env_sess, env_prev, NULL };
	log_info("lock acquired", "key", o->cfg->lock_key, "session", lock_session(lk), "previous", lock_previous(lk));
	lock_hold_start(lk);
	struct proc_child child;
	if (proc_spawn(&child, argv, env) < 0) {
		log_error("cannot start the program", "error", child.err);
		lock_cleanup(lk, 5000, 1);
		return 127;
	}
	struct holder h = { .o = o, .lk = lk, .st = { .child = &child } };
	log_info("program started", "pid", log_int(child.pid));
	int sig = 0;
	char why[200] = "";
	int end = hold(&h, &sig, why, sizeof(why));
	if (end == END_LOST && !lock_handover(lk))
		stop_after_loss(&h, why);
	else if (end == END_LOST)
		hand_over(&h);
	else
		return end_held(&h, end, sig);
	return EXIT_TEMPFAIL;
}

int main(int argc, char **argv)
{
	struct resec_config cfg;
	struct opts o = { .cfg = &cfg, .kill_signal = SIGTERM, .kill_timeout_ms = -1 };
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&cfg, "resec-lock", usage, argc, argv, CONFIG_STOP_AT_OPERAND,
	                        options, handle_option, &o);
	if (first >= argc) {
		log_die_line("no program given (resec-lock [options] -- prog args...)");
		return EXIT_USAGE;
	}
	if (o.failsafe.argv[0] != NULL && !action_set(&o.fence)) {
		log_die_line("--failsafe needs --fence: the proof only decides when to fence");
		return EXIT_USAGE;
	}
	char value[512];
	struct lock *lk = setup(&o, value, sizeof(value));
	int sig = 0;
	int code;
	switch (lock_acquire(lk, &sig)) {
	case LOCK_HELD:
		code = run_held(&o, lk, argv + first);
		break;
	case LOCK_TIMEOUT:
		log_error("lock not acquired within the timeout", "key", cfg.lock_key);
		lock_cleanup(lk, 2000, 0);
		code = EXIT_NO;
		break;
	case LOCK_SIGNAL:
		log_info("stopped before the lock was held", "signal", proc_signal_name(sig));
		lock_cleanup(lk, 2000, 0);
		code = 128 + sig;
		break;
	case LOCK_CONFLICT:
		lock_cleanup(lk, 2000, 0);
		code = EXIT_USAGE;
		break;
	default:
		/* A session made before Consul went away (or a worker could not start) is not left behind. */
		lock_cleanup(lk, 2000, 0);
		code = EXIT_UNAVAILABLE;
		break;
	}
	lock_close(lk);
	return code;
}
