/* SPDX-License-Identifier: MIT */
/* resec-watch: follow the passing master in Consul; run a program or print a line on each change. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "consul.h"
#include "log.h"
#include "peer.h"
#include "proc.h"

static const char usage[] =
	"usage: resec-watch [--service S] [--self ADDR] [--once] [--kill-signal SIG]\n"
	"                   [--kill-timeout D] [-- prog args...]\n"
	"Watch the passing instances of S; when exactly one other than this node passes,\n"
	"run prog with RESEC_MASTER_ADDR=host:port, or print host:port (an empty line\n"
	"when none passes) on stdout, once at start and once per change.\n"
	"  --service S       service to watch (${CONSUL_SERVICE_PREFIX}-master; in tag mode\n"
	"                    CONSUL_SERVICE_NAME with the first of MASTER_TAGS)\n"
	"  --self ADDR       this node's address, never acted on (ANNOUNCE_ADDR)\n"
	"  --once            print the current master and exit (69 when Consul is unreachable)\n"
	"  --kill-signal SIG signal to stop a still-running prog before the next run (TERM)\n"
	"  --kill-timeout D  wait this long before SIGKILL (5s)\n"
	"prog gets no Consul credentials (CONSUL_HTTP_TOKEN, _TOKEN_FILE, CONSUL_HTTP_AUTH).\n"
	"Exit: 0 on TERM/INT/QUIT or --once, 64 usage, 69 Consul unreachable (--once).";

/* Server-side wait of each blocking query: bounds how long a dead connection goes unnoticed. */
#define WATCH_WAIT_MS 60000

enum opt_id { OPT_SERVICE, OPT_SELF, OPT_ONCE, OPT_KSIG, OPT_KTIME };

static const struct cli_option options[] = {
	{ "service", 0, 1, OPT_SERVICE }, { "self", 0, 1, OPT_SELF },
	{ "once", 0, 0, OPT_ONCE },       { "kill-signal", 0, 1, OPT_KSIG },
	{ "kill-timeout", 0, 1, OPT_KTIME }, { NULL, 0, 0, 0 },
};

struct opts {
	char service[256];
	struct hostport self;
	int self_set;
	int once;
	int kill_signal;
	int64_t kill_timeout_ms;
};

/* What one answer means for us. */
enum verdict { V_ONE, V_NONE, V_SEVERAL, V_SELF, V_BAD_ADDR };

struct watch_state {
	struct opts *o;
	struct resec_config *cfg;
	struct consul *c;
	char **argv;              /* prog, or NULL: print mode */
	char tag[128];            /* tag mode: the master tag */
	char self_node[256];      /* our agent's node name, for a ":port" self */
	char last[300];           /* the value last delivered ("" none; "\x01" self) */
	int have_last;
	struct proc_child child;
	int child_active;         /* a child was started and not yet reaped */
	char child_value[300];
	char pending[300];        /* value to run (after a failure or a stop) */
	int have_pending;
	int64_t retry_at;         /* when to run pending again; 0: at once */
	int failures;             /* consecutive failures of prog for pending */
};

static int handle_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct opts *o = ctx;
	switch (id) {
	case OPT_SERVICE: {
		char why[100];
		if (config_check_service_name(value, why, sizeof(why)) < 0 || strlen(value) >= sizeof(o->service)) {
			snprintf(err, errlen, "invalid --service: want a service name (%s)", strlen(value) >= sizeof(o->service) ? "too long" : why);
			return -1;
		}
		snprintf(o->service, sizeof(o->service), "%s", value);
		return 0;
	}
	case OPT_SELF:
		if (config_parse_hostport(value, &o->self) < 0) {
			snprintf(err, errlen, "invalid --self \"%.100s\": want [HOST]:PORT", value);
			return -1;
		}
		o->self_set = 1;
		return 0;
	case OPT_ONCE:
		o->once = 1;
		return 0;
	case OPT_KSIG:
		if (proc_parse_kill_signal(value, &o->kill_signal, err, errlen) < 0)
			return -1;
		/* STOP would only pause the program (a CONT follows it): it would never end. */
		if (o->kill_signal == SIGSTOP) {
			snprintf(err, errlen, "invalid --kill-signal \"%.20s\": STOP does not end a program", value);
			return -1;
		}
		return 0;
	case OPT_KTIME:
		if (config_parse_duration(value, &o->kill_timeout_ms) < 0) {
			snprintf(err, errlen, "invalid --kill-timeout \"%.100s\": not a duration (use a unit: 500ms, 5s)", value);
			return -1;
		}
		return 0;
	default:
		snprintf(err, errlen, "unknown option");
		return -1;
	}
}

/* Service and tag from the options and the configuration (Behaviour 4, tag mode). */
static void choose_service(struct watch_state *w)
{
	if (w->o->service[0] != '\0')
		return;
	if (w->cfg->service_name[0] != '\0') {
		size_t n = strcspn(w->cfg->master_tags, ",");
		if (n == 0 || n >= sizeof(w->tag)) {
			log_die_line("tag mode (CONSUL_SERVICE_NAME set) needs MASTER_TAGS");
			exit(EXIT_USAGE);
		}
		memcpy(w->tag, w->cfg->master_tags, n);
		w->tag[n] = '\0';
	}
	peer_service_name(w->cfg, 1, w->o->service, sizeof(w->o->service));
}

/* host:port of an instance: Service.Address, or Node.Address when empty. */
static void entry_addr(const struct json_health_entry *e, struct hostport *hp)
{
	const char *host = e->service_address[0] != '\0' ? e->service_address : e->node_address;
	snprintf(hp->host, sizeof(hp->host), "%s", host);
	hp->port = e->port;
}

/* 1 when the instance is this node: same address, or ":port" on our node or loopback. */
static int is_self(const struct watch_state *w, const struct json_health_entry *e)
{
	const struct hostport *self = &w->o->self;
	struct hostport hp = { "", 0 };
	entry_addr(e, &hp);
	if (self->port != hp.port)
		return 0;
	if (self->host[0] != '\0')
		return strcmp(self->host, hp.host) == 0;
	return config_is_loopback(hp.host) || (w->self_node[0] != '\0' && strcmp(w->self_node, e->node) == 0);
}

static enum verdict judge(const struct watch_state *w, const struct json_health_entry *e, size_t n,
                          char *value, size_t len)
{
	value[0] = '\0';
	if (n == 0)
		return V_NONE;
	if (n > 1)
		return V_SEVERAL;
	struct hostport hp = { "", 0 };
	entry_addr(&e[0], &hp);
	/* Only a well-formed address reaches a program's environment or a line of output. */
	if (!peer_addr_valid(&hp)) {
		char shown[300];
		log_printable(hp.host, shown, sizeof(shown));
		snprintf(value, len, "host \"%.200s\" port %d", shown, hp.port);
		return V_BAD_ADDR;
	}
	config_format_hostport(&hp, value, len);
	return is_self(w, &e[0]) ? V_SELF : V_ONE;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* [C4]: what a change means is the set of instances (address@node), not the index or check output. */
static void canonical(const struct json_health_entry *e, size_t n, char *buf, size_t len)
{
	char **items = calloc(n + 1, sizeof(char *));
	size_t off = 0;
	buf[0] = '\0';
	if (items == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		struct hostport hp = { "", 0 };
		char addr[300];
		entry_addr(&e[i], &hp);
		config_format_hostport(&hp, addr, sizeof(addr));
		size_t need = strlen(addr) + strlen(e[i].node) + 2;
		items[i] = malloc(need);
		if (items[i] != NULL)
			snprintf(items[i], need, "%s@%s", addr, e[i].node);
	}
	for (size_t i = 0; i < n; i++)
		if (items[i] == NULL)
			items[i] = strdup("");
	/* Sorted, so that a reordered answer is no change. */
	qsort(items, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (items[i] != NULL && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s\n", items[i]);
		free(items[i]);
	}
	free(items);
}

/* ---- the child ---------------------------------------------------------- */

static void stop_child(struct watch_state *w, int sig)
{
	if (!w->child_active)
		return;
	log_info("stopping the running program", "pid", log_int(w->child.pid), "signal", proc_signal_name(sig));
	if (proc_stop(&w->child, sig, w->o->kill_timeout_ms))
		log_warn("program killed after the kill timeout", "pid", log_int(w->child.pid));
	w->child_active = 0;
}

static void start_child(struct watch_state *w)
{
	char env_addr[320];
	snprintf(env_addr, sizeof(env_addr), "RESEC_MASTER_ADDR=%s", w->pending);
	char *env[] = { env_addr, NULL };
	if (proc_spawn(&w->child, w->argv, env) < 0) {
		log_error("cannot start the program", "error", w->child.err);
		w->failures++;
		int64_t d = 1000LL << (w->failures < 6 ? w->failures - 1 : 5);
		w->retry_at = clock_now_ms() + d;
		return;
	}
	w->child_active = 1;
	snprintf(w->child_value, sizeof(w->child_value), "%s", w->pending);
	log_info("program started", "master", w->pending, "pid", log_int(w->child.pid));
}

/* The child ended: success clears the pending run, failure schedules a retry. */
static void child_ended(struct watch_state *w)
{
	int code = proc_exit_code(w->child.status);
	w->child_active = 0;
	/* Its group may still hold processes; they must not act on an old master. */
	proc_stop(&w->child, w->o->kill_signal, w->o->kill_timeout_ms);
	if (!w->have_pending || strcmp(w->child_value, w->pending) != 0)
		return; /* superseded */
	if (code == 0) {
		log_info("program succeeded", "master", w->child_value);
		w->have_pending = 0;
		w->failures = 0;
		return;
	}
	w->failures++;
	int64_t d = 1000LL << (w->failures < 6 ? w->failures - 1 : 5);
	w->retry_at = clock_now_ms() + d;
	log_warn("program failed, retrying", "master", w->child_value, "status", log_int(code),
	         "retry_in_ms", log_int(d));
}

/* Start the pending run when due and nothing runs. */
static void run_pending(struct watch_state *w)
{
	if (w->argv == NULL || !w->have_pending || w->child_active)
		return;
	if (clock_now_ms() < w->retry_at)
		return;
	start_child(w);
}

/* ---- delivering a value ------------------------------------------------- */

static void print_line(const char *value)
{
	if (printf("%s\n", value) < 0 || fflush(stdout) != 0) {
		log_info("stdout closed, exiting");
		exit(0);
	}
}

static void deliver(struct watch_state *w, const char *value)
{
	if (w->have_last && strcmp(w->last, value) == 0) {
		log_debug("no change to deliver", "master", value);
		return;
	}
	snprintf(w->last, sizeof(w->last), "%s", value);
	w->have_last = 1;
	if (w->argv == NULL) {
		print_line(value);
		return;
	}
	/* A newer master supersedes a run still going or waiting for a retry. */
	stop_child(w, w->o->kill_signal);
	snprintf(w->pending, sizeof(w->pending), "%s", value);
	w->have_pending = 1;
	w->failures = 0;
	w->retry_at = 0;
	run_pending(w);
}

static void act(struct watch_state *w, const struct json_health_entry *e, size_t n)
{
	char value[300];
	switch (judge(w, e, n, value, sizeof(value))) {
	case V_ONE:
		log_info("master changed", "service", w->o->service, "master", value);
		deliver(w, value);
		break;
	case V_NONE:
		log_info("no passing master; keeping the current state", "service", w->o->service);
		if (w->argv == NULL)
			deliver(w, "");
		break;
	case V_SEVERAL:
		log_warn("several passing masters; acting on none", "service", w->o->service,
		         "count", log_int((long long)n));
		break;
	case V_BAD_ADDR:
		/* Data of the wrong shape: ignored as if no master passed, and said once per change. */
		log_warn("the passing master's address is not HOST:PORT; ignoring it", "service", w->o->service,
		         "address", value);
		if (w->argv == NULL)
			deliver(w, "");
		break;
	case V_SELF:
		log_info("the master is this node; skipping", "master", value);
		/* Forget the last value: when another node takes over, follow it again. */
		snprintf(w->last, sizeof(w->last), "\001self");
		w->have_last = 1;
		if (w->have_pending) {
			stop_child(w, w->o->kill_signal);
			w->have_pending = 0;
		}
		break;
	}
}

/* ---- the loop ----------------------------------------------------------- */

static void handle_signals(struct watch_state *w)
{
	int sig;
	while ((sig = proc_signal_next()) != 0) {
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
			log_info("stopping", "signal", proc_signal_name(sig));
			stop_child(w, sig);
			consul_free(w->c);
			exit(0);
		}
		if (sig == SIGHUP && w->child_active)
			proc_signal_group(&w->child, SIGHUP);
	}
	if (w->child_active && proc_reap(&w->child))
		child_ended(w);
}

static void sleep_until(struct watch_state *w, int64_t at_ms)
{
	int64_t left = at_ms - clock_now_ms();
	if (left <= 0)
		return;
	struct pollfd p = { .fd = proc_signal_fd(), .events = POLLIN, .revents = 0 };
	poll(&p, 1, (int)(left > 60000 ? 60000 : left));
	handle_signals(w);
}

static int query(struct watch_state *w, struct consul_watch *cw, struct json_health_entry **e, size_t *n)
{
	int64_t wait = WATCH_WAIT_MS;
	/* A retry due sooner shortens the wait, so the query comes back in time by itself. */
	if (w->argv != NULL && w->have_pending && !w->child_active) {
		int64_t left = w->retry_at - clock_now_ms();
		if (left < wait)
			wait = left < 100 ? 100 : left;
	}
	struct consul_query q = { .index = cw->index, .wait_ms = wait };
	return consul_health_service(w->c, w->o->service, w->tag[0] ? w->tag : NULL, 1, &q, e, n);
}

static void watch_loop(struct watch_state *w)
{
	struct consul_watch cw;
	consul_watch_init(&cw);
	/* Errors back off from 0.5 s to at most 5 s, not to consul watch's 180 s
	 * [C5]: after a long outage (a 60 s leader loss fails every read at once)
	 * a 30 s cap left replicas parked behind a dead master long after Consul
	 * was back. A read every 5 s per node is nothing to a Consul server. */
	cw.backoff_base_ms = 500;
	cw.backoff_max_ms = 5000;
	/* One failover wakes the query about four times (the old master critical or
	 * gone, the new one registered at warning, then passing): a burst of four
	 * delivers the new master without waiting for a refill; only unchanged
	 * answers spend it (a change gives its token back), so a loop of them
	 * still degrades towards one request per 15 s while a real change of the
	 * master is followed at once. */
	cw.burst = 4;
	cw.tokens_x1000 = 4000;
	for (;;) {
		handle_signals(w);
		run_pending(w);
		int64_t now = clock_now_ms();
		int64_t delay = consul_watch_delay(&cw, now);
		if (delay > 0) {
			int64_t at = now + delay;
			if (w->have_pending && !w->child_active && w->retry_at < at && w->argv != NULL)
				at = w->retry_at;
			sleep_until(w, at);
			continue;
		}
		consul_watch_begin(&cw, now);
		struct json_health_entry *e = NULL;
		size_t n = 0;
		int rc = query(w, &cw, &e, &n);
		if (rc == CONSUL_CANCELLED)
			continue; /* a signal or a child's end: handled at the top */
		if (rc != CONSUL_OK) {
			log_warn("cannot query the master service", "service", w->o->service, "error", w->c->err);
			consul_watch_failed(&cw, clock_now_ms());
			continue;
		}
		char content[4096];
		canonical(e, n, content, sizeof(content));
		if (consul_watch_update(&cw, w->c->index, content, strlen(content)) == 1)
			act(w, e, n);
		json_health_free(e, n);
	}
}

static int once(struct watch_state *w)
{
	struct json_health_entry *e = NULL;
	size_t n = 0;
	struct consul_query q = { 0 };
	int rc = consul_health_service(w->c, w->o->service, w->tag[0] ? w->tag : NULL, 1, &q, &e, &n);
	if (rc != CONSUL_OK) {
		log_die_line("cannot query %s: %s", w->o->service, w->c->err);
		return EXIT_UNAVAILABLE;
	}
	char value[300];
	enum verdict v = judge(w, e, n, value, sizeof(value));
	if (v == V_SEVERAL) {
		log_warn("several passing masters", "service", w->o->service, "count", log_int((long long)n));
		value[0] = '\0';
	} else if (v == V_BAD_ADDR) {
		log_warn("the passing master's address is not HOST:PORT; ignoring it", "service", w->o->service,
		         "address", value);
		value[0] = '\0';
	}
	json_health_free(e, n);
	print_line(value);
	return 0;
}

/*
 * The program run on each change (resec-role, in resec) talks to Redis only: it
 * gets no Consul credentials. Our client has read them already (a token file
 * included), so they leave our environment before any child can inherit it.
 */
static void drop_consul_credentials(void)
{
	struct consul_addr a;
	char why[160];
	const char *addr = getenv("CONSUL_HTTP_ADDR");
	unsetenv("CONSUL_HTTP_TOKEN");
	unsetenv("CONSUL_HTTP_TOKEN_FILE");
	unsetenv("CONSUL_HTTP_AUTH");
	/* An address may carry user:password@ too. */
	if (addr != NULL && (config_parse_consul_addr(addr, &a, why, sizeof(why)) < 0 || a.userinfo[0] != '\0'))
		unsetenv("CONSUL_HTTP_ADDR");
	memset(&a, 0, sizeof(a));
}

/* Our agent's node name, to recognise ourselves behind a ":port" address. */
static void learn_self_node(struct watch_state *w)
{
	char dc[128];
	if (w->o->self.host[0] != '\0')
		return;
	consul_set_deadline(w->c, clock_now_ms() + 5000);
	if (consul_agent_self(w->c, w->self_node, sizeof(w->self_node), dc, sizeof(dc)) != CONSUL_OK) {
		w->self_node[0] = '\0';
		log_debug("cannot read the agent's node name; matching self on loopback only", "error", w->c->err);
	}
	consul_set_deadline(w->c, 0);
}

int main(int argc, char **argv)
{
	struct resec_config cfg;
	struct opts o = { .kill_signal = SIGTERM, .kill_timeout_ms = 5000 };
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&cfg, "resec-watch", usage, argc, argv, CONFIG_STOP_AT_OPERAND,
	                        options, handle_option, &o);
	struct watch_state w;
	memset(&w, 0, sizeof(w));
	w.o = &o;
	w.cfg = &cfg;
	w.argv = first < argc ? argv + first : NULL;
	if (o.once && w.argv != NULL) {
		log_die_line("--once prints the master and takes no program");
		return EXIT_USAGE;
	}
	if (!o.self_set)
		o.self = cfg.announce_addr;
	choose_service(&w);
	char err[256] = "";
	if (proc_signals_init(err, sizeof(err)) < 0) {
		log_die_line("%s", err);
		return EXIT_UNAVAILABLE;
	}
	w.c = consul_new(&cfg, err, sizeof(err));
	if (w.c == NULL) {
		log_die_line("cannot set up the Consul client: %s", err);
		return EXIT_USAGE;
	}
	drop_consul_credentials();
	if (o.once) {
		int code = once(&w);
		consul_free(w.c);
		return code;
	}
	consul_set_cancel_fd(w.c, proc_signal_fd());
	/* Die with the orchestrator, stopping prog like on TERM. */
	proc_die_with_parent(SIGTERM);
	learn_self_node(&w);
	log_info("watching", "service", w.o->service, "tag", w.tag);
	watch_loop(&w);
	return 0;
}
