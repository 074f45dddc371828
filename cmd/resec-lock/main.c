/* SPDX-License-Identifier: MIT */
/* resec-lock: take a Consul lock, run a program in its own process group while it is held. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "consul.h"
#include "log.h"
#include "proc.h"

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

/* The failsafe proof (--failsafe): run this often, killed after this long; a pass started at t
 * lets prog go on unfenced until t + FS_HOLD_MS (docs/election.md, "Failsafe mode"). */
enum { FS_PERIOD_MS = 500, FS_TIMEOUT_MS = 1000, FS_HOLD_MS = FS_PERIOD_MS + FS_TIMEOUT_MS };

enum opt_id { OPT_KEY, OPT_TTL, OPT_DELAY, OPT_NAME, OPT_TIMEOUT, OPT_KSIG, OPT_KTIME, OPT_VALUE, OPT_ONCE,
              OPT_GATE, OPT_FENCE, OPT_RESUME, OPT_FAILSAFE, OPT_SESSION_CHECK };

/* The gate: at most this many words, re-run at most this often while it says wait, killed after this long. */
enum { GATE_MAX_ARGS = 16, GATE_PERIOD_MS = 1000, GATE_MIN_GAP_MS = 250, GATE_TIMEOUT_MS = 10000 };

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

/* The S3 arithmetic, derived once from TTL and lock-delay (see docs/resec-lock.md). */
struct timing {
	int64_t ttl_ms;           /* session TTL (the server may raise it) */
	int64_t delay_ms;         /* L: the session's LockDelay */
	int64_t eff_ms;           /* L, or TTL/2 when L is 0 */
	int64_t budget_ms;        /* no confirmation for this long → lost: L - min(1s, L/3) */
	int64_t period_ms;        /* confirm (renew) at least this often while held: min(L/3, TTL/2) */
};

/* State shared by the main thread and the two workers (renewer, monitor). */
struct shared {
	pthread_mutex_t mu;
	struct timing t;
	char session[64];
	int holding;              /* the main thread holds the key */
	int64_t last_confirm_ms;  /* send time of the last request proving we hold the lock */
	int64_t last_key_ms;      /* send time of the last consistent read showing the key ours */
	int unconfirmed;          /* the deadline passed: the monitor reads the key every FAST_READ_MS */
	int lost;                 /* a worker found the lock lost */
	char lost_reason[160];
	int session_gone;         /* renew answered 404 */
	int consul_back;          /* a renewal got through after failures: a back-off may end */
	int event_w;              /* workers write a byte here to wake the main thread */
	const char *key;
	const char *value;        /* the value we acquired the key with */
	int handover;             /* the loss is a hand-over request: the key's value was changed */
};

struct worker {
	pthread_t thread;
	int running;
	int pipe[2];              /* main writes 'w' (recompute) or 'q' (quit); also the cancel fd */
	struct consul *c;
	struct shared *sh;
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

struct lock_state {
	struct opts *o;
	struct resec_config *cfg;
	struct shared sh;
	struct consul *mc;        /* main thread's client */
	struct worker renewer;
	struct worker monitor;
	int epfd;                 /* signals + worker events, the main client's cancel fd */
	int event_r;
	int64_t start_ms;
	char value[512];
	int exit_signal;          /* a TERM/INT/QUIT that arrived before the lock was held */
	char previous[512];       /* the key's value when last seen before we acquired it (RESEC_LOCK_PREVIOUS) */
	int bound;                /* the session carries --session-check */
	struct standing st;
	char bind_said[256];      /* why the last session could not be bound, logged when it changes */
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

static int action_set(const struct action *a)
{
	return a->sig > 0 || a->argv[0] != NULL;
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
		if (strlen(value) >= sizeof(o->value)) {
			snprintf(err, errlen, "invalid --value: too long");
			return -1;
		}
		snprintf(o->value, sizeof(o->value), "%s", value);
		o->value_set = 1;
		return 0;
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
		if (value[0] == '\0' || strlen(value) >= sizeof(o->session_check)) {
			snprintf(err, errlen, "invalid --session-check: empty or too long");
			return -1;
		}
		snprintf(o->session_check, sizeof(o->session_check), "%s", value);
		return 0;
	default:
		snprintf(err, errlen, "unknown option");
		return -1;
	}
}

static void timing_derive(struct timing *t, int64_t ttl_ms, int64_t delay_ms)
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

/* ---- worker threads ------------------------------------------------------ */

static void notify_main(struct shared *sh)
{
	char b = 'e';
	ssize_t n = write(sh->event_w, &b, 1);
	(void)n;
}

static void set_lost(struct shared *sh, const char *reason)
{
	pthread_mutex_lock(&sh->mu);
	if (!sh->lost) {
		sh->lost = 1;
		snprintf(sh->lost_reason, sizeof(sh->lost_reason), "%s", reason);
	}
	pthread_mutex_unlock(&sh->mu);
	notify_main(sh);
}

static void confirm(struct shared *sh, int64_t sent_ms)
{
	pthread_mutex_lock(&sh->mu);
	if (sent_ms > sh->last_confirm_ms)
		sh->last_confirm_ms = sent_ms;
	pthread_mutex_unlock(&sh->mu);
}

/* A consistent read sent at sent_ms showed the key held by our session: the session was valid
 * and the key ours then. Only this lifts a fence raised because the lock was not confirmed. */
static void confirm_key(struct shared *sh, int64_t sent_ms)
{
	pthread_mutex_lock(&sh->mu);
	if (sent_ms > sh->last_confirm_ms)
		sh->last_confirm_ms = sent_ms;
	int wake = sh->unconfirmed && sent_ms > sh->last_key_ms;
	if (sent_ms > sh->last_key_ms)
		sh->last_key_ms = sent_ms;
	pthread_mutex_unlock(&sh->mu);
	if (wake)
		notify_main(sh);
}

static int is_unconfirmed(struct shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	int u = sh->unconfirmed;
	pthread_mutex_unlock(&sh->mu);
	return u;
}

/* Wait until at_ms or a message from main (then return early); 1 when told to quit. */
static int worker_wait(struct worker *w, int64_t at_ms)
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

static void *renewer_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	char id[64];
	pthread_mutex_lock(&sh->mu);
	snprintf(id, sizeof(id), "%s", sh->session);
	pthread_mutex_unlock(&sh->mu);
	int64_t last = clock_now_ms(); /* the session was just created */
	int failed = 0;
	for (;;) {
		pthread_mutex_lock(&sh->mu);
		int holding = sh->holding;
		struct timing t = sh->t;
		int64_t loss_at = sh->last_confirm_ms + t.budget_ms;
		pthread_mutex_unlock(&sh->mu);
		/* Renew every TTL/2 while waiting; while holding, confirm every min(L/3, TTL/2). */
		int64_t period = holding ? t.period_ms : t.ttl_ms / 2;
		int64_t next = last + (failed ? period / 4 : period);
		if (clock_now_ms() < next) {
			if (worker_wait(w, next))
				return NULL;
			continue; /* woken early or on time: recompute, the period may have changed */
		}
		int64_t t0 = clock_now_ms();
		/* A hung request must not outlive its use: end it at the next duty or the loss deadline. */
		int64_t until = t0 + period;
		if (holding && loss_at < until)
			until = loss_at;
		if (until < t0 + 200)
			until = t0 + 200;
		/* Past the deadline a renewal no longer races it: give it time to get through. */
		if (holding && loss_at <= t0 && until < t0 + FAST_READ_LIMIT_MS)
			until = t0 + FAST_READ_LIMIT_MS;
		consul_set_deadline(w->c, until);
		int64_t ttl = 0;
		int rc = consul_session_renew(w->c, id, &ttl);
		if (rc == CONSUL_CANCELLED) {
			if (worker_wait(w, 0))
				return NULL;
			continue;
		}
		last = t0;
		if (rc == CONSUL_OK && failed) {
			log_info("session renewed again", "after_failures", log_int(failed));
			if (!holding) {
				pthread_mutex_lock(&sh->mu);
				sh->consul_back = 1;
				pthread_mutex_unlock(&sh->mu);
				notify_main(sh);
			}
		}
		failed = rc != CONSUL_OK ? failed + 1 : 0;
		if (rc == CONSUL_ABSENT) {
			pthread_mutex_lock(&sh->mu);
			sh->session_gone = 1;
			pthread_mutex_unlock(&sh->mu);
			if (holding)
				set_lost(sh, "session renew answered 404: session invalidated");
			else
				notify_main(sh);
			return NULL;
		}
		if (rc != CONSUL_OK) {
			/* Once per outage: a renewal is retried every period/4 and each failure is alike. */
			if (failed == 1)
				log_warn("cannot renew session", "error", w->c->err);
			else
				log_debug("cannot renew session", "error", w->c->err);
			continue;
		}
		/* The renew was sent at t0 and the session was alive when Consul got it. */
		if (holding)
			confirm(sh, t0);
		if (ttl > t.ttl_ms) {
			pthread_mutex_lock(&sh->mu);
			timing_derive(&sh->t, ttl, sh->t.delay_ms);
			pthread_mutex_unlock(&sh->mu);
			char buf[32];
			config_format_duration(ttl, buf, sizeof(buf));
			log_info("adopting the session TTL Consul returned", "ttl", buf);
		}
	}
}

/* Why the key no longer proves our hold, or NULL when it does. */
static const char *key_loss_reason(const struct json_kv_entry *e, const char *session)
{
	if (e->session[0] == '\0')
		return "lock key released";
	if (strcmp(e->session, session) != 0)
		return "lock key held by another session";
	return NULL;
}

/* 1 when someone rewrote the value of the key we hold: a request to hand the lock over
 * (resec-switchover does it once the successor has caught up). */
static int handover_requested(const struct json_kv_entry *e, const char *value)
{
	size_t len = e->value != NULL ? e->value_len : 0;
	return len != strlen(value) || (len > 0 && memcmp(e->value, value, len) != 0);
}

static void *monitor_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct consul_watch cw;
	char id[64];
	consul_watch_init(&cw);
	cw.backoff_base_ms = 250;
	cw.backoff_max_ms = 2000;
	pthread_mutex_lock(&sh->mu);
	snprintf(id, sizeof(id), "%s", sh->session);
	pthread_mutex_unlock(&sh->mu);
	int64_t last_fast = 0;
	for (;;) {
		int fast = is_unconfirmed(sh);
		int64_t at = fast ? last_fast + FAST_READ_MS : clock_now_ms() + consul_watch_delay(&cw, clock_now_ms());
		if (worker_wait(w, at))
			return NULL;
		if (fast != is_unconfirmed(sh))
			continue; /* woken to change pace */
		int64_t t0 = clock_now_ms();
		if (!fast) /* the fast reads keep to their own pace, outside the rate limit */
			consul_watch_begin(&cw, t0);
		/* Unconfirmed: a plain consistent read now and then, each bounded, instead of a long poll. */
		struct consul_query q = { .index = fast ? 0 : cw.index, .wait_ms = BLOCK_WAIT_MS, .consistent = 1 };
		consul_set_deadline(w->c, fast ? t0 + FAST_READ_LIMIT_MS : 0);
		last_fast = t0;
		struct json_kv_entry e;
		memset(&e, 0, sizeof(e));
		int rc = consul_kv_get(w->c, sh->key, &q, &e);
		consul_set_deadline(w->c, 0);
		if (rc == CONSUL_CANCELLED) {
			if (worker_wait(w, 0))
				return NULL;
			continue;
		}
		if (rc == CONSUL_ABSENT) {
			set_lost(sh, "lock key deleted");
			return NULL;
		}
		if (rc != CONSUL_OK) {
			if (cw.failures == 0) /* once per outage */
				log_warn("cannot read the lock key", "error", w->c->err);
			else
				log_debug("cannot read the lock key", "error", w->c->err);
			consul_watch_failed(&cw, clock_now_ms());
			continue;
		}
		const char *why = key_loss_reason(&e, id);
		int handover = why == NULL && handover_requested(&e, sh->value);
		char content[96];
		snprintf(content, sizeof(content), "%s", e.session);
		json_kv_entry_clear(&e);
		if (handover) {
			pthread_mutex_lock(&sh->mu);
			sh->handover = 1;
			pthread_mutex_unlock(&sh->mu);
			why = "hand-over requested: the key's value was rewritten";
		}
		if (why != NULL) {
			set_lost(sh, why);
			return NULL;
		}
		/* A consistent read sent at t0 saw our session: we held the lock at t0. */
		confirm_key(sh, t0);
		consul_watch_update(&cw, w->c->index, content, strlen(content));
	}
}

static int worker_start(struct worker *w, struct shared *sh, void *(*fn)(void *))
{
	char b;
	while (read(w->pipe[0], &b, 1) == 1)
		;
	w->sh = sh;
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

static void worker_poke(struct worker *w, char what)
{
	if (w->running) {
		ssize_t n = write(w->pipe[1], &what, 1);
		(void)n;
	}
}

static void worker_stop(struct worker *w)
{
	if (!w->running)
		return;
	worker_poke(w, 'q');
	pthread_join(w->thread, NULL);
	w->running = 0;
}

/* ---- setup -------------------------------------------------------------- */

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

static struct consul *new_client(const struct resec_config *cfg)
{
	char err[256];
	struct consul *c = consul_new(cfg, err, sizeof(err));
	if (c == NULL) {
		log_die_line("cannot set up the Consul client: %s", err);
		exit(EXIT_USAGE);
	}
	return c;
}

static void setup(struct lock_state *s)
{
	char err[256] = "";
	int ev[2];
	if (proc_signals_init(err, sizeof(err)) < 0 || proc_signal_handle(SIGUSR1) < 0 || nonblocking_pipe(ev) < 0 ||
	    nonblocking_pipe(s->renewer.pipe) < 0 || nonblocking_pipe(s->monitor.pipe) < 0) {
		log_die_line("cannot set up: %s", err[0] ? err : strerror(errno));
		exit(EXIT_UNAVAILABLE);
	}
	/* Die with the orchestrator: a lock holder must not outlive what decided to hold it.
	 * The TERM goes through the self-pipe: stop prog, release, destroy as usual. */
	proc_die_with_parent(SIGTERM);
	s->event_r = ev[0];
	s->sh.event_w = ev[1];
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e1 = { .events = EPOLLIN, .data = { .fd = proc_signal_fd() } };
	struct epoll_event e2 = { .events = EPOLLIN, .data = { .fd = ev[0] } };
	if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, proc_signal_fd(), &e1) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, ev[0], &e2) < 0) {
		log_die_line("cannot set up epoll: %s", strerror(errno));
		exit(EXIT_UNAVAILABLE);
	}
	pthread_mutex_init(&s->sh.mu, NULL);
	/* Every handle is made here, before any thread exists (curl global init). */
	s->mc = new_client(s->cfg);
	s->renewer.c = new_client(s->cfg);
	s->monitor.c = new_client(s->cfg);
	consul_set_cancel_fd(s->mc, s->epfd);
	s->sh.key = s->cfg->lock_key;
	s->sh.value = s->value;
	timing_derive(&s->sh.t, s->cfg->lock_ttl_ms, s->cfg->lock_delay_ms);
	int64_t conn = s->sh.t.period_ms < 2000 ? s->sh.t.period_ms : 2000;
	consul_set_timeouts(s->renewer.c, conn, s->sh.t.period_ms);
	consul_set_timeouts(s->monitor.c, conn, s->sh.t.period_ms);
	if (s->o->value_set)
		snprintf(s->value, sizeof(s->value), "%s", s->o->value);
	else
		config_format_hostport(&s->cfg->announce_addr, s->value, sizeof(s->value));
	if (s->o->kill_timeout_ms < 0)
		s->o->kill_timeout_ms = s->sh.t.eff_ms / 2;
	else if (s->o->kill_timeout_ms >= s->sh.t.eff_ms)
		log_warn("--kill-timeout is not shorter than the lock-delay: after a loss the program may "
		         "outlive the hand-over", "kill_timeout_ms", log_int(s->o->kill_timeout_ms));
}

/* Wait up to ms on signals and worker events; 1 when something arrived. */
static int wait_events(struct lock_state *s, int64_t ms)
{
	struct epoll_event ev;
	if (ms < 0)
		ms = 0;
	int r = epoll_wait(s->epfd, &ev, 1, (int)(ms > 60000 ? 60000 : ms));
	return r > 0;
}

static void drain_events(struct lock_state *s)
{
	char buf[64];
	while (read(s->event_r, buf, sizeof(buf)) > 0)
		;
}

/* Handle signals while no child runs; returns the terminating signal, or 0. */
static int signals_idle(void)
{
	int sig, stop = 0;
	while ((sig = proc_signal_next()) != 0)
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			stop = sig;
	return stop;
}

/* ---- acquisition -------------------------------------------------------- */

enum acq { ACQ_HELD = 0, ACQ_TIMEOUT, ACQ_SIGNAL, ACQ_CONFLICT, ACQ_UNAVAILABLE };

static int64_t acq_deadline(const struct lock_state *s)
{
	return s->o->timeout_ms > 0 ? s->start_ms + s->o->timeout_ms : 0;
}

/* Sleep until at_ms, the acquisition deadline or a signal; returns an acq result or -1 to go on. */
static int acq_sleep_or(struct lock_state *s, int64_t at_ms, int (*early)(struct lock_state *))
{
	int64_t dl = acq_deadline(s);
	for (;;) {
		int64_t now = clock_now_ms();
		if (dl && now >= dl)
			return ACQ_TIMEOUT;
		if (now >= at_ms || (early != NULL && early(s)))
			return -1;
		int64_t until = dl && dl < at_ms ? dl : at_ms;
		if (wait_events(s, until - now)) {
			drain_events(s);
			int sig = signals_idle();
			if (sig) {
				s->exit_signal = sig;
				return ACQ_SIGNAL;
			}
		}
	}
}

static int acq_sleep(struct lock_state *s, int64_t at_ms)
{
	return acq_sleep_or(s, at_ms, NULL);
}

/* A renewal got through after failures since the last call: Consul answers again. */
static int consul_back_taken(struct lock_state *s)
{
	pthread_mutex_lock(&s->sh.mu);
	int back = s->sh.consul_back;
	s->sh.consul_back = 0;
	pthread_mutex_unlock(&s->sh.mu);
	return back;
}

static int64_t backoff_ms(int failures)
{
	static uint64_t seed;
	if (seed == 0)
		seed = (uint64_t)clock_now_ms() * 6364136223846793005ULL + (uint64_t)getpid();
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	int64_t d = 1000LL << (failures < 5 ? failures : 5);
	if (d > 30000)
		d = 30000;
	/* Jitter in [d/2, d] so that restarted contenders do not come back in step. */
	return d / 2 + (int64_t)((seed >> 33) % (uint64_t)(d / 2 + 1));
}

/* Consul refused to bind the session to a check: it is missing or critical (CONSUL-API.md §2). */
static int check_refused(const struct consul *c)
{
	return c->status == 500 && (strstr(c->err, "Missing check") != NULL || strstr(c->err, "critical state") != NULL);
}

/*
 * One session create, bound to --session-check when asked and Consul accepts it: the session
 * then dies with that check (it goes critical, or its service is deregistered), so a holder
 * whose resec dies loses the lock within the check's TTL instead of 2 x the session TTL
 * (docs/resec-lock.md, "A session that dies with its holder"). A check that is missing or
 * critical cannot be bound: the session is made without it, and binding is tried again
 * before each acquire.
 */
static int session_create_bound(struct lock_state *s, struct consul_session_opts *so, char *id, size_t idlen)
{
	const char *const checks[] = { s->o->session_check };
	so->service_checks = checks;
	so->n_service_checks = s->o->session_check[0] != '\0' ? 1 : 0;
	int rc = consul_session_create(s->mc, so, id, idlen);
	s->bound = rc == CONSUL_OK && so->n_service_checks > 0;
	if (rc != CONSUL_ERR || so->n_service_checks == 0 || !check_refused(s->mc))
		return rc;
	if (log_changed(s->bind_said, sizeof(s->bind_said), s->mc->err, NULL))
		log_warn("session not bound to the service check; binding again before acquiring", "check",
		         s->o->session_check, "reason", s->mc->err);
	so->n_service_checks = 0;
	return consul_session_create(s->mc, so, id, idlen);
}

/* Create the session, retrying with back-off while Consul is unreachable. */
static int create_session(struct lock_state *s)
{
	static const char *const serf[] = { "serfHealth" };
	struct consul_session_opts so;
	memset(&so, 0, sizeof(so));
	so.name = s->cfg->lock_session_name;
	so.ttl_ms = s->cfg->lock_ttl_ms;
	so.lock_delay_ms = s->cfg->lock_delay_ms;
	so.lock_delay_set = 1; /* even 0: raw HTTP can disable lock-delay, the Go api cannot */
	so.behavior = "release";
	so.node_checks = serf;
	so.n_node_checks = 1;
	so.node_checks_set = 1;
	for (int failures = 0;; failures++) {
		char id[64];
		consul_set_deadline(s->mc, acq_deadline(s));
		int rc = session_create_bound(s, &so, id, sizeof(id));
		consul_set_deadline(s->mc, 0);
		if (rc == CONSUL_OK) {
			if (s->bound && s->bind_said[0] != '\0') {
				log_info("session bound to the service check", "check", s->o->session_check);
				s->bind_said[0] = '\0';
			}
			pthread_mutex_lock(&s->sh.mu);
			snprintf(s->sh.session, sizeof(s->sh.session), "%s", id);
			s->sh.session_gone = 0;
			timing_derive(&s->sh.t, s->cfg->lock_ttl_ms, s->cfg->lock_delay_ms);
			pthread_mutex_unlock(&s->sh.mu);
			log_info("session created", "session", id, "bound", s->bound ? s->o->session_check : "no");
			return worker_start(&s->renewer, &s->sh, renewer_main) < 0 ? ACQ_UNAVAILABLE : -1;
		}
		if (rc == CONSUL_CANCELLED) {
			drain_events(s);
			int sig = signals_idle();
			if (sig) {
				s->exit_signal = sig;
				return ACQ_SIGNAL;
			}
			failures--;
			continue;
		}
		if (s->mc->status >= 400 && s->mc->status < 500) {
			log_error("Consul refused the session", "error", s->mc->err);
			return ACQ_CONFLICT;
		}
		if (s->o->once) {
			log_error("cannot create session", "error", s->mc->err);
			return ACQ_UNAVAILABLE;
		}
		int64_t d = backoff_ms(failures);
		log_warn("cannot create session, retrying", "error", s->mc->err, "retry_in_ms", log_int(d));
		int r = acq_sleep(s, clock_now_ms() + d);
		if (r >= 0)
			return r;
	}
}

/* Renewal found the session gone while waiting: make a new one. */
static int renew_session_if_gone(struct lock_state *s)
{
	pthread_mutex_lock(&s->sh.mu);
	int gone = s->sh.session_gone;
	pthread_mutex_unlock(&s->sh.mu);
	if (!gone)
		return -1;
	worker_stop(&s->renewer);
	log_warn("session invalidated while waiting; creating a new one", "session", s->sh.session);
	return create_session(s);
}

/*
 * A free key and a pass from the gate: if the session should be bound to --session-check
 * but is not (the check was missing or critical when it was made), make a new one now,
 * while nothing is held: the holder's session must die with the holder. -1 to go on, or an
 * acq result.
 */
static int bind_before_acquire(struct lock_state *s)
{
	if (s->o->session_check[0] == '\0' || s->bound)
		return -1;
	worker_stop(&s->renewer);
	consul_set_deadline(s->mc, clock_now_ms() + 2000);
	if (consul_session_destroy(s->mc, s->sh.session) != CONSUL_OK)
		log_warn("cannot destroy the unbound session", "error", s->mc->err);
	consul_set_deadline(s->mc, 0);
	return create_session(s);
}

/* Try once; 1 held, 0 not (and why in *delayed), -1 error. */
static int try_acquire(struct lock_state *s, int *delayed, uint64_t *index)
{
	int ok = 0;
	consul_set_deadline(s->mc, acq_deadline(s));
	int64_t t0 = clock_now_ms();
	int rc = consul_kv_acquire(s->mc, s->cfg->lock_key, s->sh.session, LOCK_FLAG, s->value,
	                           strlen(s->value), &ok);
	if (rc != CONSUL_OK)
		return rc == CONSUL_CANCELLED ? -2 : -1;
	if (ok) {
		pthread_mutex_lock(&s->sh.mu);
		s->sh.last_confirm_ms = t0;
		pthread_mutex_unlock(&s->sh.mu);
		return 1;
	}
	/* Lock-delay and contention both answer false; only the key tells them apart. */
	struct json_kv_entry e;
	memset(&e, 0, sizeof(e));
	struct consul_query q = { 0 };
	rc = consul_kv_get(s->mc, s->cfg->lock_key, &q, &e);
	if (rc == CONSUL_CANCELLED)
		return -2;
	if (rc == CONSUL_ERR)
		return -1;
	*delayed = rc == CONSUL_ABSENT || e.session[0] == '\0';
	*index = s->mc->index;
	json_kv_entry_clear(&e);
	return 0;
}

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

/*
 * Back off after an error; returns an acq result or -1 to go on. The session's renewals go on
 * meanwhile (every TTL/8 while they fail): the first that gets through ends the back-off, so a
 * key freed just after a Consul outage is seen at once, not up to 30 s later (found by the
 * fault campaign). A renewal from an earlier outage may end one back-off early: one more read.
 */
static int acq_failed(struct lock_state *s, struct acq_loop *a, const char *what)
{
	a->index = 0;
	int64_t d = backoff_ms(a->failures++);
	log_warn(what, "error", s->mc->err, "retry_in_ms", log_int(d));
	return acq_sleep_or(s, clock_now_ms() + d, consul_back_taken);
}

/* The value of a key held (or last held) by someone else: prog learns it as RESEC_LOCK_PREVIOUS,
 * e.g. to fence the previous holder's service (scripts/resec does). Printable bytes only. */
static void remember_previous(struct lock_state *s, const struct json_kv_entry *e)
{
	size_t n = 0;
	for (size_t i = 0; e->value != NULL && i < e->value_len && n + 1 < sizeof(s->previous); i++)
		if (e->value[i] > ' ' && e->value[i] < 0x7f)
			s->previous[n++] = (char)e->value[i];
	s->previous[n] = '\0';
}

/* ---- the gate ------------------------------------------------------------ */

extern char **environ;

/* environ plus RESEC_LOCK_FREE_MS=free_ms (malloc'd array; var is the caller's buffer). */
static char **gate_env(char *var, size_t len, int64_t free_ms)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "RESEC_LOCK_FREE_MS=", 19) != 0)
			env[j++] = environ[i];
	snprintf(var, len, "RESEC_LOCK_FREE_MS=%lld", (long long)free_ms);
	env[j] = var;
	return env;
}

/* Start the gate with its stdout on a pipe; the read end in *out_fd. */
static int gate_spawn(char *const argv[], char **env, pid_t *pid, int *out_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	(void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		errno = rc;
		return -1;
	}
	*out_fd = p[0];
	return 0;
}

enum gate_end { GATE_EOF = 0, GATE_TIMED_OUT, GATE_STOPPED };

/*
 * Read a command's first line into why until EOF, timeout_ms, or — when stop
 * is not NULL — a TERM, INT or QUIT (its number in *stop): a stop must not
 * wait for the gate, which may take up to GATE_TIMEOUT_MS. Returns an enum gate_end.
 */
static int gate_read(int fd, char *why, size_t len, int64_t timeout_ms, int *stop)
{
	size_t used = 0;
	int64_t end = clock_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = end - clock_now_ms();
		if (left <= 0)
			return GATE_TIMED_OUT;
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN, .revents = 0 },
		                       { .fd = proc_signal_fd(), .events = POLLIN, .revents = 0 } };
		int r = poll(p, stop != NULL ? 2 : 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return GATE_EOF;
		if (r == 0)
			return GATE_TIMED_OUT;
		/* The gate's own SIGCHLD lands here too: only a stop ends the wait. */
		if (stop != NULL && p[1].revents != 0 && (*stop = signals_idle()) != 0)
			return GATE_STOPPED;
		if (p[0].revents == 0)
			continue;
		char buf[256];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return GATE_EOF;
		for (ssize_t i = 0; i < n && used + 1 < len; i++)
			why[used++] = buf[i];
		why[used] = '\0';
	}
}

/*
 * Run a command (the gate, an action, the failsafe proof) once with env, for at
 * most timeout_ms: 0 when it exits 0; 2 when a stop signal came (only when stop
 * is not NULL: the command is killed at once, the signal in *stop); else 1 with
 * its reason in why (its first line of output, or how it failed).
 */
static int command_run(char *const argv[], char **env, int64_t timeout_ms, const char *what, char *why,
                       size_t len, int *stop)
{
	why[0] = '\0';
	pid_t pid;
	int fd;
	if (env == NULL || gate_spawn(argv, env, &pid, &fd) < 0) {
		snprintf(why, len, "cannot run the %s %s: %s", what, argv[0], strerror(errno));
		return 1;
	}
	int end = gate_read(fd, why, len, timeout_ms, stop);
	close(fd);
	if (end != GATE_EOF)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	why[strcspn(why, "\n")] = '\0';
	if (end == GATE_STOPPED)
		return 2;
	if (end == GATE_TIMED_OUT) {
		snprintf(why, len, "the %s did not answer within %lldms", what, (long long)timeout_ms);
		return 1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (why[0] == '\0')
		snprintf(why, len, "the %s exited with status %d", what, proc_exit_code(st));
	return 1;
}

/* Run the gate once: 0 when it exits 0, 2 when a stop signal came (in *stop: the
 * gate is killed at once), else 1 with its reason in why. */
static int gate_run(struct lock_state *s, int64_t free_ms, char *why, size_t len, int *stop)
{
	char var[64];
	char **env = gate_env(var, sizeof(var), free_ms);
	int r = command_run(s->o->gate_argv, env, GATE_TIMEOUT_MS, "gate", why, len, stop);
	free(env);
	return r;
}

/* Ask the gate before acquiring a free key: -2 when it passed, else an acq result or -1 to block. */
static int acq_gate(struct lock_state *s, struct acq_loop *a)
{
	int64_t now = clock_now_ms();
	if (a->gate_last > 0 && now < a->gate_last + GATE_MIN_GAP_MS) {
		int r = acq_sleep(s, a->gate_last + GATE_MIN_GAP_MS);
		if (r >= 0)
			return r;
		now = clock_now_ms();
	}
	a->gate_last = now;
	char why[300];
	int64_t free_ms = a->free_since > 0 ? now - a->free_since : 0;
	int sig = 0;
	int g = gate_run(s, free_ms, why, sizeof(why), &sig);
	/* The gate's SIGCHLD sits in the signal pipe: consume it, or it cancels the acquire. */
	if (g != 2)
		sig = signals_idle();
	if (sig) {
		s->exit_signal = sig;
		return ACQ_SIGNAL;
	}
	if (g == 0) {
		log_info("gate passed; acquiring", "reason", why);
		a->gate_said[0] = '\0';
		a->gate_waiting = 0;
		return -2;
	}
	if (log_changed(a->gate_said, sizeof(a->gate_said), why, NULL)) {
		if (strncmp(why, "no eligible replica", 19) == 0)
			log_error("not contending for the lock", "reason", why);
		else
			log_info("not contending for the lock", "reason", why);
	}
	a->gate_waiting = 1;
	a->index = a->key_index;
	a->retry_at = 0;
	return -1;
}

/* The key is free (absent or unheld): acquire, or schedule a retry after lock-delay. */
static int acq_free(struct lock_state *s, struct acq_loop *a)
{
	int64_t now = clock_now_ms();
	if (a->retry_at > now)
		return acq_sleep(s, a->retry_at);
	if (s->o->gate_argv[0] != NULL) {
		int g = acq_gate(s, a);
		if (g != -2)
			return g;
	}
	int b = bind_before_acquire(s);
	if (b >= 0)
		return b;
	int delayed = 0;
	uint64_t idx = 0;
	int r = try_acquire(s, &delayed, &idx);
	if (r == 1)
		return ACQ_HELD;
	if (r == -2)
		return -1;
	if (r < 0 && s->mc->status == 500 && strstr(s->mc->err, "invalid session") != NULL) {
		/* Our session died since the last renewal (a bound check went critical): make another now. */
		pthread_mutex_lock(&s->sh.mu);
		s->sh.session_gone = 1;
		pthread_mutex_unlock(&s->sh.mu);
		return -1;
	}
	if (r < 0)
		return acq_failed(s, a, "cannot acquire the lock");
	a->failures = 0;
	if (!delayed) {
		a->index = idx;   /* contention: someone else got it; block on the key */
		a->retry_at = 0;
		a->free_since = 0;
		return -1;
	}
	/* Lock-delay: the previous holder's session was invalidated no later than we saw
	 * the key free, so with the same lock-delay it ends by free_since + L. */
	if (a->free_since == 0)
		a->free_since = now;
	int64_t at = a->free_since + s->cfg->lock_delay_ms + 100;
	if (at <= now)
		at = now + 1000; /* a longer lock-delay than ours (other settings): try each second */
	log_info("lock-delay in effect, retrying", "retry_in_ms", log_int(at - now));
	a->retry_at = at;
	a->index = 0;
	return -1;
}

/*
 * The key exists with other flags: not a lock (another tool's data, or `consul kv
 * put` by hand). Leave it untouched and wait for it to be deleted or rewritten,
 * with a blocking read and a back-off capped at 30 s between reads, logging once
 * per flags value: exiting made the orchestrator start over at once, for ever.
 */
static int acq_not_a_lock(struct lock_state *s, struct acq_loop *a, uint64_t idx, uint64_t flags)
{
	if (a->not_lock == 0 || flags != a->not_lock_flags) {
		char f[32];
		snprintf(f, sizeof(f), "%llu", (unsigned long long)flags);
		log_error("existing key does not match lock use; waiting until it is deleted or rewritten",
		          "key", s->cfg->lock_key, "flags", f);
	}
	a->not_lock_flags = flags;
	a->index = idx < a->index ? 0 : idx;
	a->was_held = 0;
	a->free_since = 0;
	a->gate_waiting = 0;
	return acq_sleep(s, clock_now_ms() + backoff_ms(a->not_lock++));
}

static int acq_step(struct lock_state *s, struct acq_loop *a)
{
	int r = renew_session_if_gone(s);
	if (r >= 0)
		return r;
	if (a->retry_at > 0)
		return acq_free(s, a);
	int64_t dl = acq_deadline(s), now = clock_now_ms();
	if (dl && now >= dl)
		return ACQ_TIMEOUT;
	int64_t wait = a->gate_waiting ? GATE_PERIOD_MS : BLOCK_WAIT_MS;
	if (dl && dl - now < wait)
		wait = dl - now;
	struct consul_query q = { .index = a->index, .wait_ms = wait };
	struct json_kv_entry e;
	memset(&e, 0, sizeof(e));
	consul_set_deadline(s->mc, dl);
	int rc = consul_kv_get(s->mc, s->cfg->lock_key, &q, &e);
	if (rc == CONSUL_CANCELLED) {
		drain_events(s);
		int sig = signals_idle();
		if (sig) {
			s->exit_signal = sig;
			return ACQ_SIGNAL;
		}
		return -1;
	}
	if (rc == CONSUL_ERR) {
		if (dl && clock_now_ms() >= dl)
			return ACQ_TIMEOUT;
		return acq_failed(s, a, "cannot read the lock key");
	}
	a->failures = 0;
	uint64_t idx = s->mc->index;
	if (rc == CONSUL_OK && e.flags != LOCK_FLAG) {
		uint64_t flags = e.flags;
		json_kv_entry_clear(&e);
		return acq_not_a_lock(s, a, idx, flags);
	}
	if (a->not_lock > 0) {
		log_info("the lock key is usable again", "key", s->cfg->lock_key);
		a->not_lock = 0;
	}
	if (rc == CONSUL_ABSENT) {
		json_kv_entry_clear(&e);
		a->key_index = idx;
		if (a->was_held || a->free_since == 0)
			a->free_since = clock_now_ms();
		a->was_held = 0;
		return acq_free(s, a);
	}
	int held_by_other = e.session[0] != '\0' && strcmp(e.session, s->sh.session) != 0;
	int ours = strcmp(e.session, s->sh.session) == 0;
	if (!ours)
		remember_previous(s, &e);
	json_kv_entry_clear(&e);
	if (held_by_other && !ours) {
		/* [C1]: an index that went backwards is reset, then read once at once. */
		a->index = idx < a->index ? 0 : idx;
		a->was_held = 1;
		a->free_since = 0;
		a->gate_waiting = 0;
		return -1;
	}
	a->key_index = idx;
	if (a->was_held || a->free_since == 0)
		a->free_since = clock_now_ms();
	a->was_held = 0;
	return acq_free(s, a);
}

static int acquire(struct lock_state *s)
{
	int r = create_session(s);
	if (r >= 0)
		return r;
	struct acq_loop a;
	memset(&a, 0, sizeof(a));
	log_info("waiting for the lock", "key", s->cfg->lock_key);
	for (;;) {
		r = acq_step(s, &a);
		consul_set_deadline(s->mc, 0);
		if (r >= 0)
			return r;
	}
}

/* ---- holding ------------------------------------------------------------ */

enum held_end { END_CHILD, END_SIGNAL, END_LOST };

static void start_holding(struct lock_state *s)
{
	pthread_mutex_lock(&s->sh.mu);
	s->sh.holding = 1;
	s->sh.lost = 0;
	s->sh.handover = 0;
	pthread_mutex_unlock(&s->sh.mu);
	worker_poke(&s->renewer, 'w'); /* switch to the confirmation period */
	if (worker_start(&s->monitor, &s->sh, monitor_main) < 0)
		log_warn("cannot start the key monitor; relying on renewals");
}

/* environ plus RESEC_LOCK_KEY and RESEC_LOCK_SESSION, for the commands run while held (malloc'd). */
static char **held_env(const struct lock_state *s, char *key, size_t klen, char *sess, size_t slen)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 3, sizeof(*env));
	if (env == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "RESEC_LOCK_KEY=", 15) != 0 && strncmp(environ[i], "RESEC_LOCK_SESSION=", 19) != 0)
			env[j++] = environ[i];
	snprintf(key, klen, "RESEC_LOCK_KEY=%s", s->cfg->lock_key);
	snprintf(sess, slen, "RESEC_LOCK_SESSION=%s", s->sh.session);
	env[j++] = key;
	env[j] = sess;
	return env;
}

/* Run a command while held, for at most timeout_ms: 0 when it exits 0, else 1 with why. */
static int held_command(const struct lock_state *s, char *const argv[], int64_t timeout_ms, const char *what,
                        char *why, size_t len)
{
	char key[600], sess[100];
	char **env = held_env(s, key, sizeof(key), sess, sizeof(sess));
	int r = command_run(argv, env, timeout_ms, what, why, len, NULL);
	free(env);
	/* Its SIGCHLD sits in the signal pipe: harmless, the main loop reaps prog by pid. */
	return r;
}

/* Run --fence or --resume: signal prog's group, or run the command (killed after --kill-timeout). */
static int run_action(struct lock_state *s, const struct action *a, const char *what)
{
	if (a->sig > 0) {
		if (proc_signal_group(s->st.child, a->sig) < 0) {
			log_warn("cannot signal the program", "action", what, "signal", proc_signal_name(a->sig));
			return -1;
		}
		return 0;
	}
	char why[300];
	if (held_command(s, a->argv, s->o->kill_timeout_ms, what, why, sizeof(why)) != 0) {
		log_warn("action failed", "action", what, "reason", why);
		return -1;
	}
	return 0;
}

/* Tell the monitor whether to read the key at the fast pace (the lock is not confirmed). */
static void set_unconfirmed(struct lock_state *s, int on)
{
	pthread_mutex_lock(&s->sh.mu);
	int changed = s->sh.unconfirmed != on;
	s->sh.unconfirmed = on;
	pthread_mutex_unlock(&s->sh.mu);
	if (changed)
		worker_poke(&s->monitor, 'w');
}

/* The lock could not be confirmed in time: fence prog, keep it running. -1 when the fence failed. */
static int enter_fenced(struct lock_state *s, int64_t deadline, const char *why)
{
	struct standing *st = &s->st;
	if (!st->held_by_proof)
		st->since = deadline;
	if (run_action(s, &s->o->fence, "fence") < 0) {
		st->fence_failed = 1;
		return -1;
	}
	st->fenced = 1;
	st->held_by_proof = 0;
	set_unconfirmed(s, 1);
	log_warn("lock not confirmed: fenced; the program keeps running, confirming again", "reason", why,
	         "unconfirmed_ms", log_int(clock_now_ms() - st->since));
	return 0;
}

/* A consistent read showed the key ours again after a fence: lift it (the --resume action). */
static void try_resume(struct lock_state *s, int64_t last_key, int64_t now)
{
	struct standing *st = &s->st;
	/* The resume must leave a margin before that read's own deadline, or a fence would follow it at once. */
	int64_t margin = s->sh.t.budget_ms / 4 < 1000 ? s->sh.t.budget_ms / 4 : 1000;
	if (last_key + s->sh.t.budget_ms <= now + margin || now < st->resume_retry)
		return;
	if (action_set(&s->o->resume) && run_action(s, &s->o->resume, "resume") < 0) {
		st->resume_retry = now + 1000;
		return;
	}
	st->fenced = 0;
	st->lift_wanted = 0;
	set_unconfirmed(s, 0);
	log_info("lock confirmed again: resuming", "unconfirmed_ms", log_int(now - st->since));
}

/* When the failsafe proof first runs: late enough that a renewal is overdue, early enough that a
 * pass started then holds past the S3 deadline. */
static int64_t proof_start(const struct lock_state *s, int64_t last_confirm)
{
	int64_t a = last_confirm + s->sh.t.budget_ms - (FS_HOLD_MS - FS_PERIOD_MS);
	int64_t b = last_confirm + s->sh.t.period_ms + FS_PERIOD_MS / 2;
	return a > b ? a : b;
}

/* Run the failsafe proof once, never past eff (the moment prog must be fenced). */
static void run_proof(struct lock_state *s, int64_t eff)
{
	struct standing *st = &s->st;
	int64_t start = clock_now_ms();
	int64_t limit = eff - start < FS_TIMEOUT_MS ? eff - start : FS_TIMEOUT_MS;
	char why[300];
	int ok = held_command(s, s->o->failsafe.argv, limit, "failsafe proof", why, sizeof(why)) == 0;
	st->proof_next = start + FS_PERIOD_MS;
	/* A pass proves the state the command read after start: it holds from there, not from its end. */
	if (ok && start + FS_HOLD_MS > st->proof_until)
		st->proof_until = start + FS_HOLD_MS;
	if ((st->held_by_proof || !ok) && strcmp(why, st->proof_said) != 0)
		log_info(ok ? "failsafe proof" : "failsafe proof fails", "proof", why);
	snprintf(st->proof_said, sizeof(st->proof_said), "%s", why);
}

/*
 * The lock as the main thread stands by it while prog is unfenced: confirmed (renewals and key
 * reads come in time), or past the S3 deadline and held by the failsafe proof, or due for the
 * fence. Returns -1 to go on (with *wake set), or END_LOST.
 */
static int stand_unfenced(struct lock_state *s, int64_t last_confirm, int64_t *wake, char *why, size_t whylen)
{
	struct standing *st = &s->st;
	int64_t now = clock_now_ms();
	int64_t deadline = last_confirm + s->sh.t.budget_ms;
	int proof = s->o->failsafe.argv[0] != NULL;
	if (now < deadline && st->held_by_proof) {
		log_info("lock confirmed again: the failsafe hold ends", "unconfirmed_ms", log_int(now - st->since));
		st->held_by_proof = 0;
		set_unconfirmed(s, 0);
	}
	if (now < deadline && st->lift_wanted && now >= st->resume_retry) {
		if (run_action(s, &s->o->resume, "resume") < 0)
			st->resume_retry = now + 1000;
		else
			st->lift_wanted = 0;
	}
	int64_t eff = st->proof_until > deadline ? st->proof_until : deadline;
	if (proof && now >= proof_start(s, last_confirm) && now >= st->proof_next && now < eff) {
		run_proof(s, eff);
		now = clock_now_ms();
		eff = st->proof_until > deadline ? st->proof_until : deadline;
	}
	if (now >= eff) {
		if (!action_set(&s->o->fence)) {
			snprintf(why, whylen, "no confirmation from Consul within the lock-delay budget");
			return END_LOST;
		}
		if (st->held_by_proof)
			log_error("failsafe proof failed: fencing", "proof", st->proof_said);
		if (enter_fenced(s, deadline, st->held_by_proof ? st->proof_said : "no confirmation from Consul "
		                 "within the lock-delay budget") < 0) {
			snprintf(why, whylen, "lock not confirmed and the fence action failed");
			return END_LOST;
		}
		*wake = now + 60000;
		return -1;
	}
	if (now >= deadline && !st->held_by_proof) {
		st->held_by_proof = 1;
		st->since = deadline;
		set_unconfirmed(s, 1);
		log_warn("lock not confirmed: the failsafe proof holds, the program stays unfenced", "proof",
		         st->proof_said);
	}
	*wake = eff;
	if (proof) {
		int64_t next = proof_start(s, last_confirm);
		if (next < st->proof_next)
			next = st->proof_next;
		if (next < *wake)
			*wake = next;
	}
	if (st->lift_wanted && now < deadline && st->resume_retry > now && st->resume_retry < *wake)
		*wake = st->resume_retry;
	return -1;
}

/* Run while held; returns why it ended. */
static int hold(struct lock_state *s, int *sig_out, char *why, size_t whylen)
{
	struct proc_child *child = s->st.child;
	for (;;) {
		pthread_mutex_lock(&s->sh.mu);
		int64_t last_confirm = s->sh.last_confirm_ms, last_key = s->sh.last_key_ms;
		int lost = s->sh.lost;
		if (lost)
			snprintf(why, whylen, "%s", s->sh.lost_reason);
		else if (s->sh.session_gone) /* renew saw 404 just as we acquired */
			lost = snprintf(why, whylen, "session invalidated") > 0;
		pthread_mutex_unlock(&s->sh.mu);
		if (lost)
			return END_LOST;
		int64_t wake = clock_now_ms() + 60000;
		if (s->st.fenced) {
			try_resume(s, last_key, clock_now_ms());
			if (s->st.fenced && s->st.resume_retry > clock_now_ms())
				wake = s->st.resume_retry;
		} else if (stand_unfenced(s, last_confirm, &wake, why, whylen) == END_LOST) {
			return END_LOST;
		}
		if (wait_events(s, wake - clock_now_ms()))
			drain_events(s);
		int sig;
		while ((sig = proc_signal_next()) != 0) {
			if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
				*sig_out = sig;
				return END_SIGNAL;
			}
			if (sig == SIGHUP)
				proc_signal_group(child, SIGHUP);
			if (sig == SIGUSR1 && action_set(&s->o->resume))
				s->st.lift_wanted = 1;
		}
		if (proc_reap(child))
			return END_CHILD;
	}
}

/* Release the key (same flags and value: no lock-delay for the next holder); 1 when Consul answered. */
static int release_key(struct lock_state *s, int64_t timeout_ms)
{
	int ok = 0;
	consul_set_deadline(s->mc, clock_now_ms() + timeout_ms);
	int rc = consul_kv_release(s->mc, s->cfg->lock_key, s->sh.session, LOCK_FLAG, s->value,
	                           strlen(s->value), &ok);
	consul_set_deadline(s->mc, 0);
	if (rc != CONSUL_OK)
		log_warn("cannot release the lock", "error", s->mc->err);
	else if (!ok)
		log_warn("release answered false: the lock was no longer ours");
	else
		log_info("lock released", "key", s->cfg->lock_key);
	return s->mc->status != 0;
}

/* Destroy the session; 1 when Consul answered (or there is none). */
static int destroy_session(struct lock_state *s, int64_t timeout_ms)
{
	if (s->sh.session[0] == '\0')
		return 1;
	consul_set_deadline(s->mc, clock_now_ms() + timeout_ms);
	int rc = consul_session_destroy(s->mc, s->sh.session);
	consul_set_deadline(s->mc, 0);
	if (rc != CONSUL_OK)
		log_warn("cannot destroy the session", "error", s->mc->err);
	return s->mc->status != 0;
}

/* Release the key (when asked), then destroy the session. 1 when Consul answered both. */
static int cleanup(struct lock_state *s, int64_t timeout_ms, int release)
{
	worker_stop(&s->monitor);
	consul_set_cancel_fd(s->mc, -1);
	int answered = 1;
	if (release && s->sh.session[0] != '\0')
		answered = release_key(s, timeout_ms);
	worker_stop(&s->renewer);
	/* A Consul that did not answer the release will not answer this either: ask later. */
	return answered && destroy_session(s, timeout_ms);
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
static void cleanup_after_loss(struct lock_state *s, int64_t lost_at, int release)
{
	if (cleanup(s, LOST_CLEANUP_MS, release))
		return;
	int64_t until = lost_at + 2 * s->sh.t.ttl_ms;
	log_warn("consul does not answer; the session is destroyed as soon as it does", "session", s->sh.session,
	         "give_up_in_ms", log_int(until - clock_now_ms()));
	consul_set_cancel_fd(s->mc, s->epfd); /* a stop signal cancels a request in flight */
	int released = 0;
	for (;;) {
		/* Signals that are not a stop (CHLD) must not cancel the next request. */
		drain_events(s);
		int sig = signals_idle();
		int64_t t0 = clock_now_ms();
		if (sig != 0) {
			log_info("stopping without destroying the session", "signal", proc_signal_name(sig));
			return;
		}
		if (t0 >= until) {
			log_warn("gave up destroying the session: its TTL has run out by now", "session", s->sh.session);
			return;
		}
		if (!released)
			released = !release || release_key(s, LOST_CLEANUP_MS);
		if (released && destroy_session(s, LOST_CLEANUP_MS)) {
			log_info("session destroyed now that consul answers", "session", s->sh.session);
			return;
		}
		int64_t now;
		while ((now = clock_now_ms()) < t0 + LOST_CLEANUP_MS && !wait_events(s, t0 + LOST_CLEANUP_MS - now))
			;
	}
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
static void stop_after_loss(struct lock_state *s, const char *why)
{
	struct proc_child *child = s->st.child;
	log_error("lock lost, stopping the program", "reason", why, "signal", proc_signal_name(s->o->kill_signal));
	/* The workers have nothing left to prove; stop their retries now. */
	worker_poke(&s->renewer, 'q');
	worker_poke(&s->monitor, 'q');
	if (action_set(&s->o->fence) && !s->st.fenced && !s->st.fence_failed)
		(void)run_action(s, &s->o->fence, "fence");
	/* S3: the kill signal before anything that waits on Consul. */
	proc_signal_group(child, s->o->kill_signal);
	if (s->o->kill_signal != SIGCONT)
		proc_signal_group(child, SIGCONT);
	int64_t lost_at = clock_now_ms();
	worker_stop(&s->monitor);
	worker_stop(&s->renewer);
	consul_set_cancel_fd(s->mc, -1);
	consul_set_deadline(s->mc, clock_now_ms() + LOST_CLEANUP_MS);
	int answered = consul_session_destroy(s->mc, s->sh.session) == CONSUL_OK;
	if (answered)
		log_info("session destroyed", "session", s->sh.session);
	consul_set_deadline(s->mc, 0);
	if (proc_stop(child, 0, s->o->kill_timeout_ms))
		log_warn("program killed after the kill timeout");
	/* A Consul that did not answer (a hung agent) is asked again until it does:
	 * a release first when prog fenced (exited 0), so the successor waits no lock-delay. */
	if (!answered)
		cleanup_after_loss(s, lost_at, child_done(child));
}

static int run_held(struct lock_state *s, char **argv)
{
	char env_key[600], env_sess[100], env_prev[600];
	snprintf(env_key, sizeof(env_key), "RESEC_LOCK_KEY=%s", s->cfg->lock_key);
	snprintf(env_sess, sizeof(env_sess), "RESEC_LOCK_SESSION=%s", s->sh.session);
	snprintf(env_prev, sizeof(env_prev), "RESEC_LOCK_PREVIOUS=%s", s->previous);
	char *env[] = { env_key, env_sess, env_prev, NULL };
	log_info("lock acquired", "key", s->cfg->lock_key, "session", s->sh.session, "previous", s->previous);
	start_holding(s);
	struct proc_child child;
	if (proc_spawn(&child, argv, env) < 0) {
		log_error("cannot start the program", "error", child.err);
		cleanup(s, 5000, 1);
		return 127;
	}
	s->st.child = &child;
	log_info("program started", "pid", log_int(child.pid));
	int sig = 0;
	char why[200] = "";
	int end = hold(s, &sig, why, sizeof(why));
	if (end == END_LOST && !s->sh.handover) {
		stop_after_loss(s, why);
		return EXIT_TEMPFAIL;
	}
	if (end == END_LOST) {
		/* A hand-over: prog stops as on a loss, then the key is released without lock-delay. */
		log_info("lock hand-over requested, stopping the program; then releasing", "signal",
		         proc_signal_name(s->o->kill_signal));
		worker_poke(&s->renewer, 'q');
		worker_poke(&s->monitor, 'q');
		int64_t lost_at = clock_now_ms();
		proc_stop(&child, s->o->kill_signal, s->o->kill_timeout_ms);
		cleanup_after_loss(s, lost_at, child_done(&child));
		return EXIT_TEMPFAIL;
	}
	if (end == END_SIGNAL) {
		log_info("stopping the program", "signal", proc_signal_name(sig));
		if (proc_stop(&child, sig, s->o->kill_timeout_ms))
			log_warn("program killed after the kill timeout");
	} else {
		/* What the program left in its group must not outlive the lock. */
		if (proc_stop(&child, s->o->kill_signal, s->o->kill_timeout_ms))
			log_warn("processes left by the program killed after the kill timeout");
	}
	int code = proc_exit_code(child.status);
	if (child_done(&child)) {
		log_info("program exited, releasing the lock", "status", log_int(code));
	} else {
		log_warn("program failed or was killed: destroying the session without a release, so that the "
		         "lock-delay holds the next holder back", "status", log_int(code));
	}
	cleanup(s, 5000, child_done(&child));
	return code;
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
	struct lock_state s;
	memset(&s, 0, sizeof(s));
	s.o = &o;
	s.cfg = &cfg;
	s.start_ms = clock_now_ms();
	setup(&s);
	int r = acquire(&s);
	int code;
	switch (r) {
	case ACQ_HELD:
		code = run_held(&s, argv + first);
		break;
	case ACQ_TIMEOUT:
		log_error("lock not acquired within the timeout", "key", cfg.lock_key);
		cleanup(&s, 2000, 0);
		code = EXIT_NO;
		break;
	case ACQ_SIGNAL:
		log_info("stopped before the lock was held", "signal", proc_signal_name(s.exit_signal));
		cleanup(&s, 2000, 0);
		code = 128 + s.exit_signal;
		break;
	case ACQ_CONFLICT:
		cleanup(&s, 2000, 0);
		code = EXIT_USAGE;
		break;
	default:
		/* A session made before Consul went away (or a worker could not start) is not left behind. */
		cleanup(&s, 2000, 0);
		code = EXIT_UNAVAILABLE;
		break;
	}
	consul_free(s.mc);
	consul_free(s.renewer.c);
	consul_free(s.monitor.c);
	return code;
}
