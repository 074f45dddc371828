/* SPDX-License-Identifier: MIT */
/* run: resec-health run's loop: look at Redis every interval, heartbeat, watch the election keys, stop on signals. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>

#include "clock.h"
#include "log.h"
#include "peer.h"
#include "proc.h"
#include "run.h"

/* Exiting on an unhealthy Redis waits at most this long to fail the check. */
enum { FAIL_CHECK_MAX_MS = 500 };

/*
 * A fenced master is looked at again after 10 ms, doubling to every 100 ms (common/backoff.c,
 * jittered): after a promotion resec-lock lifts the fence a few ms after this heartbeat starts,
 * and a first look that came just before it cost a whole 100 ms (half the crash failovers took
 * 0.17 s, not 0.07).
 */
enum { FENCED_LOOK_FIRST_MS = 10, FENCED_LOOK_MS = 100 };

/* A replica whose check does not pass (syncing, its link down, a fenced master
 * waiting for the election, still the wrong role) is looked at this often: its
 * check passes within a moment of the change, not an interval later (a
 * switchover's settle waited up to HEALTHCHECK_INTERVAL for it). */
enum { DEGRADED_LOOK_MS = 250 };

/*
 * TERM, INT and QUIT stop run (it deregisters), USR1 hands off: all through common/proc.c's
 * self-pipe, which also ignores PIPE (a write to a Redis that just died is an error, not a
 * kill). HUP stays ignored, and SIGCHLD keeps its disposition: run has no child to wait for,
 * and neither may wake the loop as a stop.
 */
static int setup_signals(void)
{
	char err[256];
	struct sigaction chld, ign;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGCHLD, NULL, &chld) < 0 || proc_signals_init(err, sizeof(err)) < 0 ||
	    proc_signal_handle(SIGUSR1) < 0 || sigaction(SIGHUP, &ign, NULL) < 0 || sigaction(SIGCHLD, &chld, NULL) < 0)
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

/*
 * At an exit: take the check out of ?passing (warn or fail). 0 when Consul took it and no earlier
 * update may still land after it (register.c, updated()), else EXIT_PASSING: the instance may
 * still pass, and scripts/resec deregisters it before the lock may go (S2).
 */
static int leave_passing(struct runner *r, const char *status, const char *note, int64_t max_ms)
{
	consul_set_cancel_fd(r->consul, -1);
	consul_set_deadline(r->consul, clock_now_ms() + max_ms);
	if (consul_check_ttl(r->consul, r->check_id, status, note) != CONSUL_OK) {
		log_warn("cannot take the check out of passing: it may still pass", "status", status,
		         "reason", r->consul->err);
		return EXIT_PASSING;
	}
	if (r->update_in_doubt) {
		log_warn("an earlier check update got no answer and may land after this one: the check may "
		         "still pass", "status", status);
		return EXIT_PASSING;
	}
	return 0;
}

/* Redis is unhealthy: fail the check (briefly, best effort) and exit 1, or EXIT_PASSING when the
 * check may still pass (Consul known to be down is not asked). */
static int die_unhealthy(struct runner *r)
{
	log_error("redis unhealthy; failing the check and exiting", "reason", r->h->reason);
	if (!r->registered)
		return EXIT_NO;
	/* The orchestrator waits for this exit to hand the lock over: a Consul
	 * known to be down is not asked, and a hung one gets FAIL_CHECK_MAX_MS. */
	if (r->consul_down)
		return EXIT_PASSING;
	int64_t t = r->h->cfg.healthcheck_timeout_ms;
	/* The master's check carries the lock's session: critical would invalidate it and cost
	 * the successor a lock-delay; warning takes the instance out of ?passing all the same,
	 * and the orchestrator releases the lock, then deregisters. */
	const char *st = r->h->want_role == RDB_ROLE_MASTER ? "warn" : "fail";
	if (leave_passing(r, st, r->h->reason, t < FAIL_CHECK_MAX_MS ? t : FAIL_CHECK_MAX_MS) != 0)
		return EXIT_PASSING;
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
	if (leave_passing(r, "warn", "handing off: this node changes its role", r->h->cfg.healthcheck_timeout_ms) != 0)
		return EXIT_PASSING;
	log_info("handing off: check warning, registration kept", "id", r->service_id);
	return 0;
}

static int shutdown_run(struct runner *r)
{
	int sig = 0, b;
	while ((b = proc_signal_next()) != 0)
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
	/* The local agent is cheap to ask: at most 5 s between tries, so that a
	 * restarted agent has our service back within 5 s (30 s before). */
	backoff_init(&r->consul_backoff, 500, 5000);
	backoff_init(&r->fenced_look, FENCED_LOOK_FIRST_MS, FENCED_LOOK_MS);
	runner_names(r);
	if ((r->consul = health_consul(h)) == NULL)
		return EXIT_USAGE;
	if (setup_signals() < 0 || (r->cancel_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_die_line("cannot set up signals: %s", strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = proc_signal_fd() };
	if (epoll_ctl(r->cancel_fd, EPOLL_CTL_ADD, proc_signal_fd(), &ev) < 0) {
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
			int v = health_evaluate(h);
			watch_redis_fd(r);
			log_debug("redis looked at", "verdict", health_ttl_word(v), "reason", h->reason);
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
			if (!h->master_fenced)
				backoff_reset(&r->fenced_look);
			else if (next > now + FENCED_LOOK_MS)
				next = now + backoff_next(&r->fenced_look);
			if ((v == V_DEGRADED || v == V_WRONG_ROLE) && h->want_role == RDB_ROLE_REPLICA &&
			    next > now + DEGRADED_LOOK_MS)
				next = now + DEGRADED_LOOK_MS;
		}
		struct pollfd pfd[2] = { { .fd = proc_signal_fd(), .events = POLLIN },
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

int health_run(struct health *h)
{
	if (h->want_role == RDB_ROLE_UNKNOWN) {
		log_die_line("run needs --role master or --role replica");
		return EXIT_USAGE;
	}
	static struct runner r = { .cancel_fd = -1 };
	h->running = 1;
	int rc = runner_setup(&r, h);
	if (rc == 0 && health_evaluate(h) == V_UNHEALTHY) {
		printf("unhealthy: %s\n", h->reason);
		health_flush();
		rc = health_unhealthy_code(h);
	}
	if (rc == 0 && h->want_role == RDB_ROLE_REPLICA)
		r.down = masterdown_start(&h->cfg, h->info.run_id);
	if (rc == 0)
		rc = run_loop(&r);
	masterdown_stop(r.down);
	runner_free(&r);
	return rc;
}

/* deregister: remove this node's registration (after a hand-off kept it); unknown is fine. */
int health_deregister(struct health *h)
{
	static struct runner r;
	r.h = h;
	h->want_role = RDB_ROLE_REPLICA;
	runner_names(&r);
	struct consul *c = health_consul(h);
	if (c == NULL)
		return EXIT_USAGE;
	int rc = consul_service_deregister(c, r.service_id);
	if (rc != CONSUL_OK)
		log_die_line("cannot deregister %s: %s", r.service_id, c->err);
	else
		log_info("deregistered", "id", r.service_id);
	consul_free(c);
	return rc == CONSUL_OK ? 0 : EXIT_UNAVAILABLE;
}
