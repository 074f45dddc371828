/* SPDX-License-Identifier: MIT */
/* resec-health: check Redis, wait until it is healthy, or register it in Consul and keep its TTL check passing. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>

#include "clock.h"
#include "config.h"
#include "consul.h"
#include "failsafe.h"
#include "log.h"
#include "masterdown.h"
#include "peer.h"
#include "probe.h"
#include "proc.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-health [options] check [--role R] | wait [--timeout D] [--role R] [--fence-master]\n"
	"                    | run --role R | eligible | deregister\n"
	"  check             print \"healthy role=R offset=N\" (exit 0) or \"unhealthy: reason\" (exit 1)\n"
	"  wait              block until healthy; --timeout D gives up with exit 1\n"
	"  run               register ${PREFIX}-${ROLE} in Consul and pass its TTL check while healthy;\n"
	"                    exit 1 as soon as Redis is unhealthy, deregister and exit 0 on TERM/INT/QUIT;\n"
	"                    on USR1 set the check to warning and exit 0, the registration kept (a hand-off)\n"
	"  eligible          may this node contend for the lock now? exit 0 yes, 1 wait (the reason on\n"
	"                    stdout), 69 Consul unreachable; see docs/election.md\n"
	"  deregister        remove this node's registration (exit 0, also when there is none)\n"
	"  --role R          master or replica (slave is accepted): the role Redis must be in\n"
	"  --timeout D       wait: give up after this Go duration\n"
	"  --fence-master    wait: fence a Redis found as a master (resec-role fence) before exiting 0,\n"
	"                    when Consul answers\n";

enum { OPT_ROLE = 1, OPT_TIMEOUT, OPT_FENCE_MASTER };

static const struct cli_option options[] = {
	{ "role", 0, 1, OPT_ROLE },
	{ "timeout", 0, 1, OPT_TIMEOUT },
	{ "fence-master", 0, 0, OPT_FENCE_MASTER },
	{ NULL, 0, 0, 0 },
};

/* What one look at Redis found, from best to worst. */
enum verdict {
	V_HEALTHY = 0,
	V_DEGRADED,    /* replica syncing or with its link down too long: registered, not passing */
	V_WRONG_ROLE,  /* healthy, but not in the expected role */
	V_UNHEALTHY    /* cannot connect, AUTH, PING, or LOADING */
};

struct health {
	struct resec_config cfg;
	int want_role;              /* enum rdb_role, RDB_ROLE_UNKNOWN for any */
	int64_t timeout_ms;         /* wait --timeout, 0 for none */
	int fence_master;           /* wait --fence-master */
	struct rdb_conn conn;
	struct rdb_info info;
	int running;                /* run: a replica loading its master's dataset is degraded, not dead */
	int64_t link_down_at_ms;    /* when the replica link was first seen down, 0 when up */
	int master_fenced;          /* run --role master: Redis was fenced at the last look */
	char reason[300];
};

static int on_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct health *h = ctx;
	if (id == OPT_ROLE) {
		if (strcmp(value, "master") == 0)
			h->want_role = RDB_ROLE_MASTER;
		else if (strcmp(value, "replica") == 0 || strcmp(value, "slave") == 0)
			h->want_role = RDB_ROLE_REPLICA;
		else {
			snprintf(err, errlen, "bad value for --role: \"%s\" (want master or replica)", value);
			return -1;
		}
		return 0;
	}
	if (id == OPT_FENCE_MASTER) {
		h->fence_master = 1;
		return 0;
	}
	if (config_parse_duration(value, &h->timeout_ms) < 0) {
		snprintf(err, errlen, "bad value for --timeout: \"%s\" (want a duration like 30s)", value);
		return -1;
	}
	return 0;
}

/*
 * The check's TTL: 2 × HEALTHCHECK_INTERVAL, but no more than one interval
 * plus HEALTHCHECK_TIMEOUT (the longest look) plus 1 s for Consul: the
 * longest a live heartbeat can leave between two passes. Longer only delays
 * the end of a dead holder's session, which dies with this check
 * (docs/resec-lock.md): 8 s instead of 10 s at the defaults.
 */
static int64_t check_ttl_ms(const struct health *h)
{
	int64_t twice = 2 * h->cfg.healthcheck_interval_ms;
	int64_t bound = h->cfg.healthcheck_interval_ms + h->cfg.healthcheck_timeout_ms + 1000;
	return twice < bound ? twice : bound;
}

/* A replica's link may be down this long (2 × HEALTHCHECK_INTERVAL) before its check stops passing. */
static int64_t link_grace_ms(const struct health *h)
{
	return 2 * h->cfg.healthcheck_interval_ms;
}

/* Connect when needed, PING, INFO: 0, or -1 with the reason in conn.err. *pong is -1 while LOADING. */
static int look_once(struct health *h, int *pong)
{
	*pong = -1;
	if ((!rdb_connected(&h->conn) && rdb_connect(&h->conn) < 0) ||
	    ((*pong = rdb_ping(&h->conn)) < 0 && h->conn.err_kind != RDB_E_LOADING) ||
	    rdb_info(&h->conn, &h->info) < 0)
		return -1;
	return 0;
}

/* Look at Redis once: connect when needed, PING, INFO, compare the role. */
static int look(struct health *h)
{
	h->reason[0] = '\0';
	int pong = -1;
	char run_id[sizeof(h->info.run_id)];
	snprintf(run_id, sizeof(run_id), "%s", h->info.run_id);
	int was_connected = rdb_connected(&h->conn);
	/* A connection some client killed (CLIENT KILL, a timeout) is not a dead
	 * Redis: one fresh connection tells them apart. */
	if (look_once(h, &pong) < 0 && !(was_connected && h->conn.peer_closed && look_once(h, &pong) == 0)) {
		snprintf(h->reason, sizeof(h->reason), "%s", h->conn.err);
		return V_UNHEALTHY;
	}
	/* A Redis that restarted between two looks lost what it held: start over. */
	if (h->running && run_id[0] != '\0' && strcmp(run_id, h->info.run_id) != 0) {
		snprintf(h->reason, sizeof(h->reason), "redis restarted (its run_id changed)");
		return V_UNHEALTHY;
	}
	if (pong < 0 || h->info.loading) {
		/* A replica loads the dataset its master sent at each full sync: for
		 * run --role replica that is syncing, not a reason to exit. */
		if (h->running && h->want_role == RDB_ROLE_REPLICA && h->info.role == RDB_ROLE_REPLICA) {
			snprintf(h->reason, sizeof(h->reason), "replica is loading the dataset from its master");
			return V_DEGRADED;
		}
		snprintf(h->reason, sizeof(h->reason), "redis is loading its dataset");
		return V_UNHEALTHY;
	}
	if (h->want_role != RDB_ROLE_UNKNOWN && h->info.role != h->want_role) {
		/* A fenced master that waits for the election (a cold start, a returning master) takes
		 * no write: not passing, but not critical either, so that the session resec-lock binds
		 * to this check can be made (docs/resec-lock.md, "A session that dies with its holder"). */
		if (h->running && h->want_role == RDB_ROLE_REPLICA && rdb_fenced(&h->conn) == 1) {
			snprintf(h->reason, sizeof(h->reason), "redis is a fenced master, waiting for the election");
			return V_DEGRADED;
		}
		snprintf(h->reason, sizeof(h->reason), "redis is %s, expected %s", rdb_role_name(h->info.role),
		         rdb_role_name(h->want_role));
		return V_WRONG_ROLE;
	}
	/* A fenced master takes no write (its lock is not confirmed, or it is being promoted or
	 * stepping down): clients must not be sent to it, nor its check be passed again by a
	 * heartbeat that outlived the lock (S2). */
	h->master_fenced = h->running && h->want_role == RDB_ROLE_MASTER && rdb_fenced(&h->conn) == 1;
	if (h->master_fenced) {
		snprintf(h->reason, sizeof(h->reason), "redis is fenced: the lock is not confirmed, or the role changes");
		return V_DEGRADED;
	}
	if (h->info.role != RDB_ROLE_REPLICA || h->info.link_up) {
		h->link_down_at_ms = 0;
		return V_HEALTHY;
	}
	int64_t now = clock_now_ms();
	if (h->link_down_at_ms == 0)
		h->link_down_at_ms = now;
	int64_t down = now - h->link_down_at_ms;
	/* INFO's seconds may be anything: saturate rather than overflow. */
	long long since = h->info.link_down_since_s;
	if (since >= 0) {
		int64_t since_ms = since > INT64_MAX / 1000 ? INT64_MAX : since * 1000;
		if (since_ms > down)
			down = since_ms;
	}
	if (h->info.sync_in_progress) {
		snprintf(h->reason, sizeof(h->reason), "replica is syncing with its master");
		return V_DEGRADED;
	}
	if (down > link_grace_ms(h)) {
		snprintf(h->reason, sizeof(h->reason), "replica link to its master is down for %llds",
		         (long long)(down / 1000));
		return V_DEGRADED;
	}
	return V_HEALTHY;
}

/* A look within one HEALTHCHECK_TIMEOUT as a whole (connect, PING and INFO
 * together): a Redis that answers each command just in time is not healthy. */
static int evaluate(struct health *h)
{
	rdb_set_deadline(&h->conn, clock_now_ms() + h->cfg.healthcheck_timeout_ms);
	int v = look(h);
	rdb_set_deadline(&h->conn, 0);
	return v;
}

/* The verdict is the exit status; a reader that went away (EPIPE) is said on stderr. */
static void flush_output(void)
{
	if (fflush(stdout) != 0)
		log_die_line("cannot write the output: %s", strerror(errno));
}

static void print_healthy(const struct health *h)
{
	printf("healthy role=%s offset=%lld\n", rdb_role_name(h->info.role), rdb_info_offset(&h->info));
	flush_output();
}

/* Exit code of an unhealthy verdict: bad credentials or a refused command are configuration (64). */
static int unhealthy_code(const struct health *h)
{
	int k = h->conn.err_kind;
	return k == RDB_E_AUTH || k == RDB_E_REFUSED ? EXIT_USAGE : EXIT_NO;
}

static int cmd_check(struct health *h)
{
	int v = evaluate(h);
	rdb_close(&h->conn);
	/* One-shot: a replica's link state is reported by resec-role show, not judged here. */
	if (v == V_HEALTHY || v == V_DEGRADED) {
		print_healthy(h);
		return 0;
	}
	printf("unhealthy: %s\n", h->reason);
	flush_output();
	return v == V_UNHEALTHY ? unhealthy_code(h) : EXIT_NO;
}

/* A Consul client for one short exchange: every request bounded by HEALTHCHECK_TIMEOUT. */
static struct consul *short_client(const struct health *h, char *err, size_t errlen)
{
	struct consul *c = consul_new(&h->cfg, err, errlen);
	if (c != NULL)
		consul_set_timeouts(c, h->cfg.healthcheck_timeout_ms, h->cfg.healthcheck_timeout_ms);
	return c;
}

/* 1 when Consul answers a read of the master service now (as resec-watch --once asks). */
static int consul_answers(const struct health *h)
{
	char err[256] = "", name[300];
	struct consul *c = short_client(h, err, sizeof(err));
	if (c == NULL)
		return 0;
	peer_service_name(&h->cfg, 1, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	int ok = consul_health_service(c, name, NULL, 1, NULL, &e, &n) == CONSUL_OK;
	if (ok)
		json_health_free(e, n);
	else
		log_info("consul does not answer; not fencing the master found (resec decides once it does)",
		         "error", c->err);
	consul_free(c);
	return ok;
}

/*
 * wait --fence-master: a Redis that came back as a master (a returning old
 * master, S4) is writable from its first connection; fence it over the
 * connection that found it, before any other program starts. Only while
 * Consul answers: with Consul away, nothing in Redis is changed (docs/resec.md).
 * A failure is only logged: the orchestrator fences an unowned master next anyway.
 */
static void fence_found_master(struct health *h)
{
	if (!h->fence_master || h->info.role != RDB_ROLE_MASTER || !consul_answers(h))
		return;
	rdb_set_deadline(&h->conn, clock_now_ms() + h->cfg.healthcheck_timeout_ms);
	int was = rdb_fenced(&h->conn);
	int rc = was == 0 ? rdb_fence(&h->conn) : was;
	if (was == 0 && rc == 0)
		log_info("redis is master without the lock; fenced it until the election decides");
	else if (rc < 0)
		log_warn("cannot fence the master found", "error", h->conn.err);
	rdb_set_deadline(&h->conn, 0);
}

/* How long wait sleeps before its next look: a refused connection (nothing
 * listens yet) is looked at again after WAIT_REFUSED_MS, as it costs nothing
 * and a returning master takes writes until it is fenced; a Redis that
 * answers but is not healthy yet backs off from 50 ms to min(interval, 100 ms). */
#define WAIT_REFUSED_MS 5

#define WAIT_BACKOFF_MIN_MS 50
#define WAIT_BACKOFF_MAX_MS 100

/* The back-off's ceiling: the interval, within [WAIT_BACKOFF_MIN_MS, WAIT_BACKOFF_MAX_MS]
 * (a look faster than the interval asks for is not needed; one under 50 ms is not the
 * first look's pace either). */
static int64_t wait_ceiling(int64_t interval_ms)
{
	if (interval_ms > WAIT_BACKOFF_MAX_MS)
		return WAIT_BACKOFF_MAX_MS;
	if (interval_ms < WAIT_BACKOFF_MIN_MS)
		return WAIT_BACKOFF_MIN_MS;
	return interval_ms;
}

static int64_t wait_next(const struct health *h, int64_t *backoff)
{
	if (h->conn.conn_refused)
		return WAIT_REFUSED_MS;
	int64_t d = *backoff, ceiling = wait_ceiling(h->cfg.healthcheck_interval_ms);
	*backoff = d * 2 < ceiling ? d * 2 : ceiling;
	return d;
}

static int cmd_wait(struct health *h)
{
	/* A waiter started by resec must not outlive it. */
	proc_die_with_parent(SIGTERM);
	int64_t start = clock_now_ms();
	int64_t deadline = h->timeout_ms > 0 ? start + h->timeout_ms : 0;
	int64_t backoff = WAIT_BACKOFF_MIN_MS;
	char last[sizeof(h->reason)] = "";
	for (;;) {
		int v = evaluate(h);
		if (v == V_HEALTHY || v == V_DEGRADED) {
			fence_found_master(h);
			rdb_close(&h->conn);
			print_healthy(h);
			return 0;
		}
		if (v == V_UNHEALTHY && unhealthy_code(h) == EXIT_USAGE) {
			rdb_close(&h->conn);
			log_die_line("cannot wait for redis: %s", h->reason);
			return EXIT_USAGE;
		}
		if (strcmp(last, h->reason) != 0)
			log_info("waiting for redis", "reason", h->reason);
		snprintf(last, sizeof(last), "%s", h->reason);
		int64_t now = clock_now_ms();
		if (deadline != 0 && now >= deadline) {
			rdb_close(&h->conn);
			printf("unhealthy: %s\n", h->reason);
			flush_output();
			return EXIT_NO;
		}
		/* A closed connection is reopened at the next look. */
		if (v == V_UNHEALTHY)
			rdb_close(&h->conn);
		int64_t d = wait_next(h, &backoff);
		if (deadline != 0 && now + d > deadline)
			d = deadline - now;
		clock_sleep_ms(d);
	}
}

/* ---- run: the service registration and its TTL heartbeat ---- */

enum { MAX_TAGS = 32 };

/* S1: the hold-back waits for another master's TTL (check_ttl_ms) plus this. */
enum { HOLD_MARGIN_MS = 1000 };

/* Exiting on an unhealthy Redis waits at most this long to fail the check. */
enum { FAIL_CHECK_MAX_MS = 500 };

/* A fenced master is looked at this often (the fence is lifted within a moment of a promotion). */
enum { FENCED_LOOK_MS = 100 };

struct runner {
	struct health *h;
	struct consul *consul;
	int sigpipe[2];             /* written by the signal handler */
	int cancel_fd;              /* epoll set of sigpipe and the Redis socket: Consul's cancel fd */
	int watched_fd;             /* the Redis socket in cancel_fd, -1 when none */
	char service_id[400];
	char check_id[420];
	char name[160];
	const char *role_name;      /* "master", or CONSUL_REPLICA_ROLE_NAME */
	char tag_buf[512];
	const char *tags[MAX_TAGS];
	size_t ntags;
	int registered;             /* 1 once Consul accepted the registration */
	int64_t consul_retry_at;    /* back-off: no Consul request before this monotonic time */
	int64_t consul_backoff;
	int consul_down;            /* a Consul failure has been logged */
	int last_verdict;
	char last_reason[300];
	int hold_done;              /* S1: no other master instance passes (or the bound ran out) */
	int64_t hold_deadline;      /* when the S1 hold gives up, 0 before it starts */
	uint64_t hold_index;        /* blocking index of the health query */
	char hold_other[300];       /* the other passing master instance, for the notes */
	int maintenance;            /* the maintenance key was set at the last look */
	int64_t maintenance_next;   /* monotonic time of the next look at it */
	int offset_published;       /* the offset was published since this node turned healthy master */
	struct masterdown *down;    /* replicas: peer detection of a dead master, NULL when off */
};

static int signal_write_fd = -1;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(signal_write_fd, &b, 1) < 0) {
		/* The pipe is full: a signal is already pending, nothing is lost. */
	}
	errno = saved;
}

static int setup_signals(struct runner *r)
{
	if (pipe(r->sigpipe) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(r->sigpipe[i], F_GETFL);
		if (fl < 0 || fcntl(r->sigpipe[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(r->sigpipe[i], F_SETFD, FD_CLOEXEC) < 0)
			return -1;
	}
	signal_write_fd = r->sigpipe[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1 };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -1;
	sa.sa_handler = SIG_IGN;
	/* A write to a Redis that just died must be an error, not a kill; HUP is ignored. */
	if (sigaction(SIGPIPE, &sa, NULL) < 0 || sigaction(SIGHUP, &sa, NULL) < 0)
		return -1;
	return 0;
}

/* Keep the Redis socket in the epoll set Consul requests are cancelled by,
 * so that a Redis death interrupts even a hung Consul request. */
static void watch_redis_fd(struct runner *r)
{
	int fd = rdb_fd(&r->h->conn);
	if (fd == r->watched_fd)
		return;
	if (r->watched_fd >= 0)
		(void)epoll_ctl(r->cancel_fd, EPOLL_CTL_DEL, r->watched_fd, NULL);
	r->watched_fd = -1;
	if (fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	if (epoll_ctl(r->cancel_fd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST)
		r->watched_fd = fd;
}

static void split_tags(struct runner *r, const char *list)
{
	if (snprintf(r->tag_buf, sizeof(r->tag_buf), "%s", list) >= (int)sizeof(r->tag_buf))
		log_warn("tag list too long; truncated");
	char *save = NULL;
	for (char *t = strtok_r(r->tag_buf, ",", &save); t != NULL && r->ntags < MAX_TAGS;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n > 0)
			r->tags[r->ntags++] = t;
	}
}

/* Service name, ID, check ID and tags from the configuration (DESIGN.md Behaviour 4). */
static void runner_names(struct runner *r)
{
	const struct resec_config *c = &r->h->cfg;
	int master = r->h->want_role == RDB_ROLE_MASTER;
	r->role_name = master ? "master" : c->replica_role_name;
	char announce[300];
	config_format_hostport(&c->announce_addr, announce, sizeof(announce));
	int n = 0;
	n |= snprintf(r->service_id, sizeof(r->service_id), "%s@%s", c->service_prefix, announce) >=
	     (int)sizeof(r->service_id);
	n |= snprintf(r->check_id, sizeof(r->check_id), "service:%s", r->service_id) >= (int)sizeof(r->check_id);
	if (c->service_name[0] != '\0') {
		n |= snprintf(r->name, sizeof(r->name), "%s", c->service_name) >= (int)sizeof(r->name);
		split_tags(r, master ? c->master_tags : c->slave_tags);
	} else {
		n |= snprintf(r->name, sizeof(r->name), "%s-%s", c->service_prefix, r->role_name) >= (int)sizeof(r->name);
	}
	if (n)
		log_warn("service name or ID too long; truncated", "id", r->service_id);
}

static const char *consul_status(int v)
{
	return v == V_HEALTHY ? "pass" : v == V_DEGRADED ? "warn" : "fail";
}

static const char *check_status(int v)
{
	return v == V_HEALTHY ? "passing" : v == V_DEGRADED ? "warning" : "critical";
}

static void make_note(const struct runner *r, int v, char *buf, size_t len)
{
	const struct health *h = r->h;
	if (v == V_HEALTHY)
		snprintf(buf, len, "redis healthy: role=%s offset=%lld", rdb_role_name(h->info.role),
		         rdb_info_offset(&h->info));
	else
		snprintf(buf, len, "%s", h->reason);
}

static int do_register(struct runner *r, int v, const char *note)
{
	const struct health *h = r->h;
	char offset[32];
	snprintf(offset, sizeof(offset), "%lld", rdb_info_offset(&h->info));
	char prio[16];
	snprintf(prio, sizeof(prio), "%d", h->cfg.redis_priority);
	const char *mk[] = { "role", "offset", "run_id", "priority" };
	const char *mv[] = { r->role_name, offset, h->info.run_id, prio };
	char check_name[200];
	snprintf(check_name, sizeof(check_name), "redis %s health", r->role_name);
	struct consul_service s = {
		.id = r->service_id,
		.name = r->name,
		.tags = r->ntags > 0 ? r->tags : NULL,
		.ntags = r->ntags,
		.address = h->cfg.announce_addr.host,
		.port = h->cfg.announce_addr.port,
		.meta_keys = mk,
		.meta_values = mv,
		.nmeta = 4,
		.check_ttl_ms = check_ttl_ms(h),
		.check_id = r->check_id,
		.check_name = check_name,
		.check_status = check_status(v),
		.check_notes = "resec-health passes this TTL while redis is healthy and in this role",
		.deregister_after_ms = h->cfg.deregister_after_ms,
		.replace_existing_checks = 1,
	};
	int rc = consul_service_register(r->consul, &s);
	if (rc != CONSUL_OK)
		return rc;
	r->registered = 1;
	log_info("registered", "service", r->name, "id", r->service_id, "status", check_status(v));
	/* A re-registration keeps the check's old status: set it explicitly. */
	return consul_check_ttl(r->consul, r->check_id, consul_status(v), note);
}

static void consul_failed(struct runner *r)
{
	int64_t base = r->consul_backoff == 0 ? 500 : r->consul_backoff * 2;
	r->consul_backoff = base > 30000 ? 30000 : base;
	/* Jitter in [d/2, d] so that a fleet does not come back in step. */
	int64_t d = r->consul_backoff / 2 + (int64_t)(random() % (r->consul_backoff / 2 + 1));
	r->consul_retry_at = clock_now_ms() + d;
	if (!r->consul_down)
		log_warn("consul unavailable; redis checks go on, consul retried with back-off",
		         "reason", r->consul->err);
	r->consul_down = 1;
}

static void consul_ok(struct runner *r)
{
	if (r->consul_down)
		log_info("consul reachable again");
	r->consul_down = 0;
	r->consul_backoff = 0;
	r->consul_retry_at = 0;
}

/* S1: an instance of the master service that is not us (our ID and our run_id) and passes. */
static int other_master(const struct runner *r, const struct json_health_entry *e)
{
	const char *run_id = NULL, *role = NULL;
	for (size_t i = 0; i < e->nmeta; i++) {
		if (strcmp(e->meta_keys[i], "run_id") == 0)
			run_id = e->meta_values[i];
		else if (strcmp(e->meta_keys[i], "role") == 0)
			role = e->meta_values[i];
	}
	if (strcmp(e->service_id, r->service_id) == 0 && run_id != NULL && strcmp(run_id, r->h->info.run_id) == 0)
		return 0;
	/* Tag mode without master tags: one name for both roles, the Meta tells. */
	if (r->h->cfg.service_name[0] != '\0' && r->ntags == 0)
		return role != NULL && strcmp(role, "master") == 0;
	return 1;
}

/*
 * S1: before passing the master check for the first time, wait until no other
 * master instance passes, for at most that instance's TTL (check_ttl_ms, the
 * cluster's setting) plus a margin, with blocking queries until `until`.
 * Returns 1 when we may pass, 0 to keep holding, -1 on a Consul failure, -2
 * when cancelled (a signal, or the Redis socket: the main loop looks).
 */
static int hold_master(struct runner *r, int64_t until)
{
	const struct health *h = r->h;
	if (r->hold_deadline == 0)
		r->hold_deadline = clock_now_ms() + check_ttl_ms(h) + HOLD_MARGIN_MS;
	const char *tag = h->cfg.service_name[0] != '\0' && r->ntags > 0 ? r->tags[0] : NULL;
	for (;;) {
		int64_t now = clock_now_ms();
		int64_t wait = (until < r->hold_deadline ? until : r->hold_deadline) - now;
		struct consul_query q = { .index = r->hold_index, .wait_ms = wait };
		if (r->hold_index == 0 || wait <= 0)
			q.index = 0;
		struct json_health_entry *e = NULL;
		size_t n = 0;
		int rc = consul_health_service(r->consul, r->name, tag, 1, &q, &e, &n);
		if (rc != CONSUL_OK)
			return rc == CONSUL_CANCELLED ? -2 : -1;
		/* [C1]: an index going backwards means start again from a plain read. */
		r->hold_index = r->consul->index < r->hold_index ? 0 : r->consul->index;
		int others = 0;
		for (size_t i = 0; i < n; i++) {
			if (other_master(r, &e[i])) {
				if (others++ == 0)
					snprintf(r->hold_other, sizeof(r->hold_other), "%s on %s", e[i].service_id, e[i].node);
			}
		}
		json_health_free(e, n);
		if (others == 0) {
			if (r->hold_other[0] != '\0')
				log_info("the other master instance stopped passing", "other", r->hold_other);
			return 1;
		}
		now = clock_now_ms();
		if (now >= r->hold_deadline) {
			log_error("another master is still passing; going ahead after the S1 bound",
			          "other", r->hold_other, "waited_ms", log_int(check_ttl_ms(h) + HOLD_MARGIN_MS));
			return 1;
		}
		if (now >= until)
			return 0;
	}
}

/* Tell Consul what the last look at Redis found; until is the next look. */
static void heartbeat(struct runner *r, int v, int64_t until)
{
	if (clock_now_ms() < r->consul_retry_at)
		return;
	char note[400];
	make_note(r, v, note, sizeof(note));
	if (v == V_HEALTHY && r->h->want_role == RDB_ROLE_MASTER && !r->hold_done) {
		/* A quick look first: in the common case nobody else passes. */
		int ok = hold_master(r, clock_now_ms());
		if (ok < 0) {
			if (ok == -1)
				consul_failed(r);
			return;
		}
		if (ok == 0) {
			log_warn("another master instance is still passing; holding the master check back",
			         "other", r->hold_other);
			snprintf(note, sizeof(note), "holding back: another master instance is still passing (%s)",
			         r->hold_other);
			v = V_DEGRADED;
		}
		r->hold_done = ok;
	}
	int rc;
	if (!r->registered) {
		rc = do_register(r, v, note);
	} else {
		rc = consul_check_ttl(r->consul, r->check_id, consul_status(v), note);
		if (rc == CONSUL_ABSENT) {
			log_warn("consul forgot the service; registering again", "id", r->service_id);
			r->registered = 0;
			rc = do_register(r, v, note);
		}
	}
	if (rc != CONSUL_OK) {
		if (rc != CONSUL_CANCELLED)
			consul_failed(r);
		return;
	}
	consul_ok(r);
	if (v == V_DEGRADED && r->h->want_role == RDB_ROLE_MASTER && !r->hold_done && !r->h->master_fenced) {
		/* Registered as warning: now wait for the other instance until the next look. */
		int ok = hold_master(r, until);
		if (ok < 0) {
			if (ok == -1)
				consul_failed(r);
			return;
		}
		if (ok == 1) {
			r->hold_done = 1;
			make_note(r, V_HEALTHY, note, sizeof(note));
			if (consul_check_ttl(r->consul, r->check_id, "pass", note) != CONSUL_OK)
				consul_failed(r);
		}
	}
}

/* Reasons compared without their numbers ("down for 4s" and "down for 5s" are one state). */
static int same_reason(const char *a, const char *b)
{
	for (;;) {
		while (*a >= '0' && *a <= '9')
			a++;
		while (*b >= '0' && *b <= '9')
			b++;
		if (*a != *b)
			return 0;
		if (*a == '\0')
			return 1;
		a++;
		b++;
	}
}

static void log_transition(struct runner *r, int v)
{
	if (v == r->last_verdict && same_reason(r->last_reason, r->h->reason))
		return;
	if (v == V_HEALTHY)
		log_info("redis healthy", "role", rdb_role_name(r->h->info.role));
	else
		log_warn(v == V_DEGRADED ? "redis degraded: check warning" : "redis in the wrong role: check failing",
		         "reason", r->h->reason);
	r->last_verdict = v;
	snprintf(r->last_reason, sizeof(r->last_reason), "%s", r->h->reason);
}

/* Redis is unhealthy: fail the check (briefly, best effort) and exit 1. */
static int die_unhealthy(struct runner *r)
{
	log_error("redis unhealthy; failing the check and exiting", "reason", r->h->reason);
	/* The orchestrator waits for this exit to hand the lock over: a Consul
	 * known to be down is not asked, and a hung one gets FAIL_CHECK_MAX_MS. */
	if (r->registered && !r->consul_down) {
		int64_t t = r->h->cfg.healthcheck_timeout_ms;
		consul_set_cancel_fd(r->consul, -1);
		consul_set_deadline(r->consul, clock_now_ms() + (t < FAIL_CHECK_MAX_MS ? t : FAIL_CHECK_MAX_MS));
		/* The master's check carries the lock's session: critical would invalidate it and cost
		 * the successor a lock-delay; warning takes the instance out of ?passing all the same,
		 * and the orchestrator releases the lock, then deregisters. */
		const char *st = r->h->want_role == RDB_ROLE_MASTER ? "warn" : "fail";
		if (consul_check_ttl(r->consul, r->check_id, st, r->h->reason) != CONSUL_OK)
			log_warn("cannot fail the check", "reason", r->consul->err);
	}
	return EXIT_NO;
}

/*
 * USR1: a hand-off. The check goes to warning (out of ?passing, but not critical, so a session
 * bound to it lives on) and the registration stays: the next run (the other role) replaces it
 * under the same ID, or `resec-health deregister` removes it once the lock is released.
 */
static int hand_off(struct runner *r)
{
	if (!r->registered)
		return 0;
	consul_set_cancel_fd(r->consul, -1);
	consul_set_deadline(r->consul, clock_now_ms() + r->h->cfg.healthcheck_timeout_ms);
	if (consul_check_ttl(r->consul, r->check_id, "warn", "handing off: this node changes its role") != CONSUL_OK)
		log_warn("cannot set the check to warning", "reason", r->consul->err);
	else
		log_info("handing off: check warning, registration kept", "id", r->service_id);
	return 0;
}

static int shutdown_run(struct runner *r)
{
	unsigned char sig = 0, b;
	while (read(r->sigpipe[0], &b, 1) == 1)
		if (b != SIGUSR1)
			sig = b; /* a stop signal wins over a hand-off */
	if (sig == 0)
		return hand_off(r);
	log_info("signal received; deregistering", "signal", log_int(sig));
	consul_set_cancel_fd(r->consul, -1);
	consul_set_deadline(r->consul, clock_now_ms() + r->h->cfg.healthcheck_timeout_ms);
	if (consul_service_deregister(r->consul, r->service_id) != CONSUL_OK) {
		log_warn("cannot deregister", "id", r->service_id, "reason", r->consul->err);
		return 0;
	}
	log_info("deregistered", "id", r->service_id);
	return 0;
}

static int runner_setup(struct runner *r, struct health *h)
{
	/* Die with the orchestrator: a heartbeat must not outlive the process that decides the role.
	 * The master's is a hand-off (USR1): deregistering would invalidate the lock's session, bound
	 * to its check, and cost the successor a lock-delay; resec-lock releases the key instead. */
	proc_die_with_parent(h->want_role == RDB_ROLE_MASTER ? SIGUSR1 : SIGTERM);
	r->h = h;
	r->watched_fd = -1;
	r->last_verdict = -1;
	runner_names(r);
	char err[256] = "";
	r->consul = consul_new(&h->cfg, err, sizeof(err));
	if (r->consul == NULL) {
		log_die_line("cannot set up the consul client: %s", err);
		return EXIT_USAGE;
	}
	int64_t t = h->cfg.healthcheck_timeout_ms;
	consul_set_timeouts(r->consul, t, t);
	if (setup_signals(r) < 0 || (r->cancel_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_die_line("cannot set up signals: %s", strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = r->sigpipe[0] };
	if (epoll_ctl(r->cancel_fd, EPOLL_CTL_ADD, r->sigpipe[0], &ev) < 0) {
		log_die_line("cannot set up signals: %s", strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	consul_set_cancel_fd(r->consul, r->cancel_fd);
	srandom((unsigned)(clock_now_ms() ^ getpid()));
	return 0;
}

static void runner_free(struct runner *r)
{
	rdb_close(&r->h->conn);
	consul_free(r->consul);
	if (r->cancel_fd >= 0)
		close(r->cancel_fd);
	for (int i = 0; i < 2; i++)
		if (r->sigpipe[i] >= 0)
			close(r->sigpipe[i]);
}

/* Keys of the wrong shape are ignored; say so once per change of what is wrong. */
static void log_bad_keys(struct runner *r, struct peer_flags *f)
{
	static uint64_t logged;
	uint64_t h = 1469598103934665603ULL;
	if (peer_switchover_check(r->consul, &r->h->cfg, f) != CONSUL_OK)
		return;
	for (size_t i = 0; i < f->nbad; i++)
		for (const char *p = f->bad[i]; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	if (h == logged)
		return;
	logged = h;
	for (size_t i = 0; i < f->nbad; i++)
		log_warn("election key of the wrong shape", "reason", f->bad[i]);
}

/* The master publishes its replication offset (replicas far behind it do not
 * contend, docs/election.md): at once when it turns healthy, so a new master's
 * offset is there from its first interval, then with the keys below. */
static void publish_offset(struct runner *r, int due)
{
	if (r->h->want_role != RDB_ROLE_MASTER || r->last_verdict != V_HEALTHY) {
		r->offset_published = 0;
		return;
	}
	if (r->offset_published && !due)
		return;
	if (r->consul_down || clock_now_ms() < r->consul_retry_at)
		return;
	if (peer_publish_offset(r->consul, &r->h->cfg, rdb_info_offset(&r->h->info)) != CONSUL_OK) {
		log_warn("cannot publish the master's offset", "reason", r->consul->err);
		return;
	}
	r->offset_published = 1;
}

/*
 * Every ten intervals: the master publishes its offset again, and every node
 * reads the maintenance flag and logs its changes. One KV read every ten
 * intervals: a read per interval would add 0.2 server requests/s per node to an
 * idle cluster, more than everything else resec does (skipped while Consul is
 * down).
 */
static void watch_cluster_keys(struct runner *r)
{
	static struct peer_flags f;
	int64_t now = clock_now_ms();
	int due = now >= r->maintenance_next;
	publish_offset(r, due);
	if (!due)
		return;
	r->maintenance_next = now + 10 * r->h->cfg.healthcheck_interval_ms;
	if (r->consul_down || now < r->consul_retry_at)
		return;
	if (peer_flags_read(r->consul, &r->h->cfg, &f) != CONSUL_OK)
		return;
	log_bad_keys(r, &f);
	if (f.maintenance == r->maintenance)
		return;
	r->maintenance = f.maintenance;
	if (f.maintenance)
		log_warn("maintenance mode on: failover paused");
	else
		log_info("maintenance mode off: failover resumed");
}

/* The loop: look at Redis every interval, or at once when its socket says it closed. */
static int run_loop(struct runner *r)
{
	struct health *h = r->h;
	int64_t next = clock_now_ms();
	for (;;) {
		int64_t now = clock_now_ms();
		if (now >= next) {
			int v = evaluate(h);
			watch_redis_fd(r);
			log_debug("redis looked at", "verdict", consul_status(v), "reason", h->reason);
			masterdown_local(r->down, &h->info);
			if (v == V_UNHEALTHY)
				return die_unhealthy(r);
			log_transition(r, v);
			heartbeat(r, v, next + h->cfg.healthcheck_interval_ms);
			watch_cluster_keys(r);
			next += h->cfg.healthcheck_interval_ms;
			now = clock_now_ms();
			if (next <= now)
				next = now + h->cfg.healthcheck_interval_ms;
			/* Fenced master: look again soon, so that the check passes within a moment of the lift. */
			if (h->master_fenced && next > now + FENCED_LOOK_MS)
				next = now + FENCED_LOOK_MS;
		}
		struct pollfd pfd[2] = { { .fd = r->sigpipe[0], .events = POLLIN },
		                         { .fd = rdb_fd(&h->conn), .events = POLLIN } };
		int64_t wait = next - clock_now_ms();
		int n = poll(pfd, 2, wait < 0 ? 0 : (int)(wait > 60000 ? 60000 : wait));
		if (n < 0 && errno != EINTR) {
			log_error("poll failed", "reason", strerror(errno));
			return EXIT_UNAVAILABLE;
		}
		if (n > 0 && pfd[0].revents != 0)
			return shutdown_run(r);
		if (n > 0 && pfd[1].revents != 0 && rdb_closed_by_peer(&h->conn)) {
			/* Look again now: a reconnect tells a killed client from a dead Redis. */
			log_warn("redis connection closed; checking at once", "reason", h->conn.err);
			watch_redis_fd(r);
			next = clock_now_ms();
		}
	}
}

static int cmd_run(struct health *h)
{
	if (h->want_role == RDB_ROLE_UNKNOWN) {
		log_die_line("run needs --role master or --role replica");
		return EXIT_USAGE;
	}
	static struct runner r = { .sigpipe = { -1, -1 }, .cancel_fd = -1 };
	h->running = 1;
	int rc = runner_setup(&r, h);
	if (rc == 0 && evaluate(h) == V_UNHEALTHY) {
		printf("unhealthy: %s\n", h->reason);
		flush_output();
		rc = unhealthy_code(h);
	}
	if (rc == 0 && h->want_role == RDB_ROLE_REPLICA)
		r.down = masterdown_start(&h->cfg, h->info.run_id);
	if (rc == 0)
		rc = run_loop(&r);
	masterdown_stop(r.down);
	runner_free(&r);
	return rc;
}

/* ---- eligible: may this node contend for a free lock now? (docs/election.md) ---- */

/* Judge one catalog entry as a peer into *p from the look at its Redis; 1 when usable
 * (another node, priority > 0, answering, not stale). */
static int judge_peer(const struct health *h, const struct peer_flags *f, const struct probe *pr,
                      struct peer_candidate *p)
{
	if (p->priority == 0 || !pr->ok || strcmp(pr->info.run_id, h->info.run_id) == 0)
		return 0;
	peer_stale(&h->cfg, f, &pr->info, p->stale, sizeof(p->stale));
	p->offset = rdb_info_offset(&pr->info);
	p->keys = pr->info.keys;
	peer_streaming(&pr->info, p->streaming, sizeof(p->streaming));
	return p->stale[0] == '\0';
}

/*
 * 1 when self ranks before best. A master that still streams to both (its resec died, its
 * Redis did not) makes neither offset final: each gate reads its own offset, then the other's
 * a moment later, sees the other ahead, and both would defer until the bound. Their data are
 * the same stream then: rank on priority and address alone; the winner fences that master
 * and catches up with it before it takes writes (resec-role fence-previous).
 */
static int ranks_first(const struct peer_candidate *self, const struct peer_candidate *best)
{
	struct peer_candidate a = *self, b = *best;
	if (a.streaming[0] != '\0' && strcmp(a.streaming, b.streaming) == 0)
		a.offset = b.offset = 0;
	return peer_ranks_before(&a, &b);
}

/*
 * Read the replica service: our own entry (Meta run_id is ours) names our
 * address as peers see it, which keys our priority override; every other entry
 * is judged, the best usable one in *best. The peers' Redis are looked at all
 * at once (common/probe.c): dead peers cost one HEALTHCHECK_TIMEOUT in all, so
 * the gate stays well within resec-lock's bound. 1 found, 0 none, -1 Consul error.
 */
static int survey_peers(const struct health *h, struct consul *c, const struct peer_flags *f,
                        struct peer_candidate *self, struct peer_candidate *best)
{
	char name[300];
	peer_service_name(&h->cfg, 0, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(c, name, NULL, 0, NULL, &e, &n) != CONSUL_OK)
		return -1;
	struct peer_candidate *cand = calloc(n + 1, sizeof(*cand));
	struct probe *pr = calloc(n + 1, sizeof(*pr));
	size_t *of = calloc(n + 1, sizeof(*of)); /* the candidate each probe is for */
	if (cand == NULL || pr == NULL || of == NULL) {
		free(cand);
		free(pr);
		free(of);
		json_health_free(e, n);
		snprintf(c->err, sizeof(c->err), "out of memory for %zu peers", n);
		return -1;
	}
	size_t nc = 0, np = 0;
	for (size_t i = 0; i < n; i++) {
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		if (strcmp(peer_meta(&e[i], "run_id"), h->info.run_id) == 0) {
			config_format_hostport(&hp, self->addr, sizeof(self->addr));
			self->priority = peer_priority(f, self->addr, self->priority);
			continue;
		}
		struct peer_candidate *p = &cand[nc];
		config_format_hostport(&hp, p->addr, sizeof(p->addr));
		p->priority = peer_priority(f, p->addr, peer_meta_priority(&e[i], 100));
		/* A priority-0 peer is never usable: no need to look at it. */
		if (p->priority != 0) {
			pr[np].hp = hp;
			of[np++] = nc;
		}
		nc++;
	}
	probe_many(&h->cfg, pr, np);
	int found = 0;
	for (size_t k = 0; k < np; k++) {
		struct peer_candidate *p = &cand[of[k]];
		if (!judge_peer(h, f, &pr[k], p))
			continue;
		if (!found || peer_ranks_before(p, best))
			*best = *p;
		found = 1;
	}
	free(cand);
	free(pr);
	free(of);
	json_health_free(e, n);
	return found;
}

/* How long the lock has been free, from resec-lock's gate environment (0 when unknown). */
static int64_t free_for_ms(void)
{
	const char *v = getenv("RESEC_LOCK_FREE_MS");
	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

static int say(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int code, const char *fmt, ...)
{
	char raw[1024], shown[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* One printable line: addresses and errors in it come from Consul and Redis. */
	log_printable(raw, shown, sizeof(shown));
	puts(shown);
	flush_output();
	return code;
}

/* Failsafe mode: 1 when addr is one of the members the master wrote in D/failsafe. */
static int failsafe_member(const struct peer_flags *f, const char *addr)
{
	struct failsafe_peer m[FAILSAFE_MAX_PEERS];
	int n = failsafe_parse_view(f->failsafe, m, FAILSAFE_MAX_PEERS);
	for (int i = 0; i < n; i++) {
		struct hostport hp = { .port = m[i].port };
		memcpy(hp.host, m[i].host, sizeof(hp.host));
		char a[300];
		config_format_hostport(&hp, a, sizeof(a));
		if (strcmp(a, addr) == 0)
			return 1;
	}
	return 0;
}

static int decide(struct health *h, struct consul *c)
{
	static struct peer_flags f;
	/* A switchover key naming no node of the cluster is ignored, not obeyed for ever. */
	if (peer_flags_read(c, &h->cfg, &f) != CONSUL_OK || peer_switchover_check(c, &h->cfg, &f) != CONSUL_OK)
		return say(EXIT_UNAVAILABLE, "consul unreachable: %s", c->err);
	if (f.maintenance && f.switchover[0] == '\0')
		return say(EXIT_NO, "maintenance mode on: failover paused");
	if (evaluate(h) == V_UNHEALTHY)
		return say(EXIT_NO, "local redis unhealthy: %s", h->reason);
	struct peer_candidate self, best;
	memset(&best, 0, sizeof(best));
	memset(&self, 0, sizeof(self));
	config_format_hostport(&h->cfg.announce_addr, self.addr, sizeof(self.addr));
	self.priority = peer_priority(&f, self.addr, h->cfg.redis_priority);
	int found = survey_peers(h, c, &f, &self, &best);
	if (found < 0)
		return say(EXIT_UNAVAILABLE, "consul unreachable: %s", c->err);
	/* A failsafe master may hold writes on the word of the peers it lists: nobody else contends. */
	if (h->cfg.failsafe && f.failsafe_set && !failsafe_member(&f, self.addr))
		return say(EXIT_NO, "failsafe: %s is not a member of the failsafe view (D/failsafe); the master "
		           "adds it once it sees it", self.addr);
	/* A planned switchover (resec-switchover) names the one node that may take the lock. */
	if (f.switchover[0] != '\0' && strcmp(f.switchover, self.addr) == 0)
		return say(0, "eligible: switchover to this node");
	if (f.switchover[0] != '\0')
		return say(EXIT_NO, "switchover to %s in progress", f.switchover);
	if (self.priority == 0)
		return say(EXIT_NO, "priority 0: this node is never promoted");
	self.offset = rdb_info_offset(&h->info);
	peer_stale(&h->cfg, &f, &h->info, self.stale, sizeof(self.stale));
	if (self.stale[0] != '\0') {
		if (found)
			return say(EXIT_NO, "local replica %s: deferring to %s", self.stale, best.addr);
		return say(EXIT_NO, "no eligible replica: not promoting (local replica %s)", self.stale);
	}
	peer_streaming(&h->info, self.streaming, sizeof(self.streaming));
	if (!found || ranks_first(&self, &best))
		return say(0, "eligible offset=%lld priority=%d", self.offset, self.priority);
	/* S4: a Redis that holds no key never goes ahead of a peer that holds data, however long it waits. */
	if (h->info.keys == 0 && best.keys > 0 && best.offset > self.offset)
		return say(EXIT_NO, "this redis is empty: deferring to %s, which holds data (offset %lld)", best.addr,
		           best.offset);
	/* The better peer may have to wait out a lock-delay too: give it that, plus two intervals. */
	int64_t bound = 2 * h->cfg.healthcheck_interval_ms + h->cfg.lock_delay_ms, waited = free_for_ms();
	if (waited < bound)
		return say(EXIT_NO, "deferring to %s (offset %lld priority %d; ours %lld priority %d)", best.addr,
		           best.offset, best.priority, self.offset, self.priority);
	return say(0, "eligible offset=%lld priority=%d: %s did not take the lock within %lldms", self.offset,
	           self.priority, best.addr, (long long)bound);
}

static int cmd_eligible(struct health *h)
{
	char err[256] = "";
	struct consul *c = short_client(h, err, sizeof(err));
	if (c == NULL) {
		log_die_line("cannot set up the Consul client: %s", err);
		return EXIT_USAGE;
	}
	int rc = decide(h, c);
	rdb_close(&h->conn);
	consul_free(c);
	return rc;
}

/* deregister: remove this node's registration (after a hand-off kept it); unknown is fine. */
static int cmd_deregister(struct health *h)
{
	static struct runner r;
	r.h = h;
	h->want_role = RDB_ROLE_REPLICA;
	runner_names(&r);
	char err[256] = "";
	struct consul *c = short_client(h, err, sizeof(err));
	if (c == NULL) {
		log_die_line("cannot set up the Consul client: %s", err);
		return EXIT_USAGE;
	}
	int rc = consul_service_deregister(c, r.service_id);
	if (rc != CONSUL_OK)
		log_die_line("cannot deregister %s: %s", r.service_id, c->err);
	else
		log_info("deregistered", "id", r.service_id);
	consul_free(c);
	return rc == CONSUL_OK ? 0 : EXIT_UNAVAILABLE;
}

int main(int argc, char **argv)
{
	static struct health h;
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&h.cfg, "resec-health", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &h);
	const char *cmd = first < argc ? argv[first] : "";
	if (argc - first > 1) {
		log_die_line("too many arguments: \"%s\"", argv[first + 1]);
		return EXIT_USAGE;
	}
	struct rdb_opts o;
	rdb_opts_from_config(&o, &h.cfg);
	rdb_init(&h.conn, &o);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(&h);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(&h);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&h);
	if (strcmp(cmd, "eligible") == 0)
		return cmd_eligible(&h);
	if (strcmp(cmd, "deregister") == 0)
		return cmd_deregister(&h);
	log_die_line(cmd[0] == '\0' ? "missing command: check, wait, run, eligible or deregister" : "unknown command \"%s\"", cmd);
	return EXIT_USAGE;
}
