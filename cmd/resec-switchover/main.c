/* SPDX-License-Identifier: MIT */
/* resec-switchover: hand the master role to a caught-up replica without losing an acknowledged write. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "consul.h"
#include "elect.h"
#include "json.h"
#include "log.h"
#include "peer.h"
#include "proc.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-switchover [options] [--to HOST:PORT] [--timeout D]\n"
	"  Moves the master role to a replica: fences the master's writes, waits until the target\n"
	"  replica holds every write, then releases the lock so that only the target takes it.\n"
	"  --to HOST:PORT    the replica to promote, its address as resec-status shows it\n"
	"                    (default: the most up-to-date replica, then priority, then address)\n"
	"  --timeout D       give up when the target has not caught up within D, or has not\n"
	"                    taken over within D after the hand-over (default 10s); giving up\n"
	"                    before the hand-over lifts the fence: nothing changed\n"
	"exit: 0 switched over, 1 refused or given up, 64 bad usage, 69 Consul or Redis unreachable\n";

enum { OPT_TO = 1, OPT_TIMEOUT };

static const struct cli_option options[] = {
	{ "to", 0, 1, OPT_TO },
	{ "timeout", 0, 1, OPT_TIMEOUT },
	{ NULL, 0, 0, 0 },
};

enum { MAX_NODES = 64, POLL_MS = 5, DEFAULT_TIMEOUT_MS = 10000 };

/* One passing instance of the master or replica service, and what its Redis says. */
struct node {
	char consul_node[256];        /* the Consul node it is registered on */
	char addr[300];
	struct hostport hp;
	int redis_ok;
	struct rdb_info info;
	int fenced;
	struct elect_node e;          /* what the election policy looks at (common/elect.c) */
};

struct switchover {
	struct resec_config cfg;
	int64_t timeout_ms;
	char to[300];                 /* --to, formatted; "" to pick the best */
	struct consul *c;
	struct peer_flags flags;
	struct node nodes[MAX_NODES];
	size_t n;
	int master, target;           /* indexes into nodes, -1 none */
	char holder[64];              /* the lock holder's session */
	char lock_value[512];         /* the lock key's value */
	uint64_t lock_flags;
	uint64_t lock_modify_index;   /* check-and-set index of the hand-over request */
	char key[600];                /* D/switchover */
	char session[64];             /* ours, holding the switchover key */
	struct rdb_conn mconn, tconn; /* master, target */
	int64_t fenced_at;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int on_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct switchover *s = ctx;
	if (id == OPT_TIMEOUT) {
		if (config_parse_duration(value, &s->timeout_ms) < 0 || s->timeout_ms <= 0) {
			snprintf(err, errlen, "invalid --timeout \"%s\": want a duration > 0 such as 10s", value);
			return -1;
		}
		return 0;
	}
	struct hostport hp;
	if (config_parse_hostport(value, &hp) < 0 || hp.host[0] == '\0') {
		snprintf(err, errlen, "invalid --to \"%s\": want HOST:PORT", value);
		return -1;
	}
	config_format_hostport(&hp, s->to, sizeof(s->to));
	return 0;
}

/* ---- the cluster as it is now ---- */

static void add_node(struct switchover *s, const struct json_health_entry *e)
{
	struct node nd;
	memset(&nd, 0, sizeof(nd));
	peer_entry_addr(e, &nd.hp);
	config_format_hostport(&nd.hp, nd.addr, sizeof(nd.addr));
	/* An address that is not HOST:PORT can be neither probed nor named in the switchover key. */
	if (!peer_addr_valid(&nd.hp)) {
		log_warn("ignoring an instance whose address is not HOST:PORT", "node", e->node, "address", nd.addr);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->nodes[i].addr, nd.addr) == 0)
			return;
	if (s->n >= MAX_NODES)
		return;
	snprintf(nd.consul_node, sizeof(nd.consul_node), "%s", e->node);
	snprintf(nd.e.addr, sizeof(nd.e.addr), "%s", nd.addr);
	nd.e.priority = peer_priority(&s->flags, nd.addr, peer_meta_priority(e, 100));
	char err[256];
	nd.fenced = -1;
	nd.redis_ok = peer_probe(&s->cfg, &nd.hp, &nd.info, &nd.fenced, err, sizeof(err)) == 0;
	if (nd.redis_ok)
		elect_node_from_info(&nd.e, &nd.info);
	else
		log_warn("cannot read a registered redis", "addr", nd.addr, "reason", err);
	s->nodes[s->n++] = nd;
}

/* The passing instances of one service; -1 with the reason logged when Consul fails. */
static int read_service(struct switchover *s, const char *name)
{
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(s->c, name, NULL, 1, NULL, &e, &n) != CONSUL_OK) {
		log_die_line("cannot read service %s: %s", name, s->c->err);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		add_node(s, &e[i]);
	json_health_free(e, n);
	return 0;
}

/* Both role services (one in tag mode). */
static int read_services(struct switchover *s)
{
	char master[300], replica[300];
	peer_service_name(&s->cfg, 1, master, sizeof(master));
	peer_service_name(&s->cfg, 0, replica, sizeof(replica));
	if (read_service(s, master) < 0)
		return -1;
	return strcmp(master, replica) == 0 ? 0 : read_service(s, replica);
}

/* The lock's holder session and value; exit code or 0. */
static int read_lock(struct switchover *s)
{
	struct json_kv_entry kv;
	int rc = consul_kv_get(s->c, s->cfg.lock_key, NULL, &kv);
	if (rc != CONSUL_OK && rc != CONSUL_ABSENT) {
		log_die_line("cannot read the lock %s: %s", s->cfg.lock_key, s->c->err);
		return EXIT_UNAVAILABLE;
	}
	if (rc == CONSUL_ABSENT || kv.session[0] == '\0') {
		if (rc == CONSUL_OK)
			json_kv_entry_clear(&kv);
		log_die_line("the lock %s is not held: there is no master to switch over from", s->cfg.lock_key);
		return EXIT_NO;
	}
	snprintf(s->holder, sizeof(s->holder), "%s", kv.session);
	size_t len = kv.value != NULL ? kv.value_len : 0;
	snprintf(s->lock_value, sizeof(s->lock_value), "%.*s", (int)(len < 511 ? len : 511),
	         kv.value != NULL ? (const char *)kv.value : "");
	s->lock_flags = kv.flags;
	s->lock_modify_index = kv.modify_index;
	json_kv_entry_clear(&kv);
	return 0;
}

/* The one Redis that is master and not fenced; exit code or 0. */
static int find_master(struct switchover *s)
{
	s->master = -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct node *nd = &s->nodes[i];
		if (!nd->redis_ok || nd->info.role != RDB_ROLE_MASTER || nd->fenced != 0)
			continue;
		if (s->master >= 0) {
			log_die_line("two writable masters: %s and %s; not switching over", s->nodes[s->master].addr,
			             nd->addr);
			return EXIT_NO;
		}
		s->master = (int)i;
	}
	if (s->master < 0) {
		log_die_line("no passing, writable master registered; not switching over");
		return EXIT_NO;
	}
	struct hostport v;
	const struct hostport *m = &s->nodes[s->master].hp;
	if (config_parse_hostport(s->lock_value, &v) == 0 &&
	    (v.port != m->port || (v.host[0] != '\0' && strcmp(v.host, m->host) != 0))) {
		log_die_line("the lock holder (%s) is not the master %s; not switching over", s->lock_value,
		             s->nodes[s->master].addr);
		return EXIT_NO;
	}
	return 0;
}

static int pick_target(struct switchover *s)
{
	char why[400];
	const struct node *m = &s->nodes[s->master];
	s->target = -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct node *nd = &s->nodes[i];
		if ((int)i == s->master)
			continue;
		/* The same fitness rule as any election's, but no lag rule: see elect_switchover_unfit. */
		const char *bad = elect_switchover_unfit(&nd->e, &m->hp, m->addr, why, sizeof(why));
		if (s->to[0] != '\0' && strcmp(nd->addr, s->to) == 0) {
			if (bad != NULL) {
				log_die_line("cannot switch over to %s: %s", s->to, bad);
				return EXIT_NO;
			}
			s->target = (int)i;
			return 0;
		}
		if (s->to[0] == '\0' && bad == NULL &&
		    (s->target < 0 || elect_ranks_before(&nd->e, &s->nodes[s->target].e)))
			s->target = (int)i;
	}
	if (s->target >= 0)
		return 0;
	if (strcmp(s->to, s->nodes[s->master].addr) == 0)
		log_die_line("cannot switch over to %s: it is the master already", s->to);
	else if (s->to[0] != '\0')
		log_die_line("cannot switch over to %s: not a passing instance of the replica service", s->to);
	else
		log_die_line("no replica can take over: none passes, follows the master with its link up and has priority > 0");
	return EXIT_NO;
}

/*
 * The target's resec-lock must be waiting for the lock (a session named
 * CONSUL_LOCK_SESSION_NAME on its node): a resec that just started holds back
 * for two intervals, and the master would stay fenced meanwhile. Exit code or 0.
 */
static int target_contends(struct switchover *s)
{
	const struct node *t = &s->nodes[s->target];
	struct json_session *ss = NULL;
	size_t n = 0;
	if (consul_session_node(s->c, t->consul_node, &ss, &n) != CONSUL_OK) {
		log_die_line("cannot read the sessions of node %s: %s", t->consul_node, s->c->err);
		return EXIT_UNAVAILABLE;
	}
	int waiting = 0;
	for (size_t i = 0; i < n; i++)
		waiting |= strcmp(ss[i].name, s->cfg.lock_session_name) == 0;
	free(ss);
	if (waiting)
		return 0;
	log_die_line("cannot switch over to %s: its resec is not waiting for the lock yet (no \"%s\" session "
	             "on node %s: just started, or not running); try again shortly", t->addr,
	             s->cfg.lock_session_name, t->consul_node);
	return EXIT_NO;
}

/* ---- the steps ---- */

/* Claim D/switchover for the target with a session of ours: one switchover at a time, and the
 * key disappears with the session should this program die. Exit code or 0. */
static int claim(struct switchover *s)
{
	int64_t ttl = 2 * s->timeout_ms + 10000;
	struct consul_session_opts o = { .name = "resec-switchover", .behavior = "delete",
	                                 .ttl_ms = ttl > 86400000 ? 86400000 : ttl,
	                                 .lock_delay_set = 1, .node_checks_set = 1 };
	const char *to = s->nodes[s->target].addr;
	int ok = 0;
	if (consul_session_create(s->c, &o, s->session, sizeof(s->session)) != CONSUL_OK ||
	    consul_kv_acquire(s->c, s->key, s->session, 0, to, strlen(to), &ok) != CONSUL_OK) {
		log_die_line("cannot claim %s: %s", s->key, s->c->err);
		return EXIT_UNAVAILABLE;
	}
	if (!ok) {
		log_die_line("another switchover holds %s; not switching over", s->key);
		return EXIT_NO;
	}
	return 0;
}

static void release_claim(struct switchover *s)
{
	if (s->session[0] != '\0' && consul_session_destroy(s->c, s->session) != CONSUL_OK)
		log_warn("cannot remove the switchover key; it goes when its session expires", "key", s->key,
		         "reason", s->c->err);
	s->session[0] = '\0';
}

static int connect_node(struct switchover *s, struct rdb_conn *conn, const struct node *nd)
{
	struct rdb_opts o;
	rdb_opts_from_config(&o, &s->cfg);
	o.addr = nd->hp;
	rdb_init(conn, &o);
	return rdb_connect(conn);
}

/*
 * Lift the fence: no exit path may leave the master refusing writes while it
 * keeps the lock. The connection may have been lost meanwhile (the command
 * that failed closed it), so reconnect, and try a few times within --timeout.
 */
static void unfence_master(struct switchover *s)
{
	const struct node *m = &s->nodes[s->master];
	int64_t deadline = clock_now_ms() + s->timeout_ms;
	for (int attempt = 0;; attempt++) {
		if ((rdb_connected(&s->mconn) || connect_node(s, &s->mconn, m) == 0) && rdb_unfence(&s->mconn) == 0) {
			log_info("master unfenced: nothing changed", "master", m->addr);
			return;
		}
		if (attempt >= 4 || clock_now_ms() >= deadline)
			break;
		clock_sleep_ms(100LL << attempt);
	}
	log_error("cannot lift the fence of the master; resec-role master on it lifts it", "master", m->addr,
	          "reason", s->mconn.err);
}

static int fence_master(struct switchover *s)
{
	const struct node *m = &s->nodes[s->master];
	if (connect_node(s, &s->mconn, m) < 0) {
		log_die_line("cannot fence the master %s: %s", m->addr, s->mconn.err);
		return EXIT_UNAVAILABLE;
	}
	if (rdb_fence(&s->mconn) < 0) {
		log_die_line("cannot fence the master %s: %s", m->addr, s->mconn.err);
		/* Half a fence (to-write raised, the lag not yet) must not stay either. */
		unfence_master(s);
		return EXIT_UNAVAILABLE;
	}
	s->fenced_at = clock_now_ms();
	log_info("master fenced: writes refused until the target takes over", "master", m->addr);
	return 0;
}

/* Wait until the target's offset reaches the fenced master's. 0, or 1 with why set. */
static int catch_up(struct switchover *s, char *why, size_t len)
{
	struct rdb_info mi, ti;
	const struct node *t = &s->nodes[s->target];
	if (rdb_info(&s->mconn, &mi) < 0) {
		snprintf(why, len, "cannot read the master's offset: %s", s->mconn.err);
		return 1;
	}
	int64_t deadline = clock_now_ms() + s->timeout_ms;
	long long have = -1;
	while (!interrupted && clock_now_ms() < deadline) {
		if ((rdb_connected(&s->tconn) || connect_node(s, &s->tconn, t) == 0) && rdb_info(&s->tconn, &ti) == 0) {
			have = ti.slave_repl_offset;
			if (ti.role == RDB_ROLE_REPLICA && have >= mi.master_repl_offset) {
				log_info("target caught up", "target", t->addr, "offset", log_int(have));
				return 0;
			}
		} else {
			rdb_close(&s->tconn);
		}
		clock_sleep_ms(POLL_MS);
	}
	snprintf(why, len, "%s: the target %s reached offset %lld of the master's %lld",
	         interrupted ? "interrupted" : "timed out", t->addr, have, mi.master_repl_offset);
	return 1;
}

/*
 * 1 when the lock key still names the holder and value read in step 1 (our
 * request did not land, nobody else touched it), 0 when it changed or is
 * gone, -1 when Consul does not say within --timeout (or a signal came).
 */
static int lock_unchanged(struct switchover *s)
{
	int64_t deadline = clock_now_ms() + s->timeout_ms;
	struct json_kv_entry kv;
	int rc;
	while ((rc = consul_kv_get(s->c, s->cfg.lock_key, NULL, &kv)) != CONSUL_OK) {
		if (rc == CONSUL_ABSENT)
			return 0;
		if (interrupted || clock_now_ms() >= deadline)
			return -1;
		clock_sleep_ms(200);
	}
	size_t len = kv.value != NULL ? kv.value_len : 0;
	int unchanged = strcmp(kv.session, s->holder) == 0 && len == strlen(s->lock_value) &&
	                (len == 0 || memcmp(kv.value, s->lock_value, len) == 0);
	json_kv_entry_clear(&kv);
	return unchanged;
}

/*
 * Ask the holder to hand the lock over: rewrite the lock key's value, keeping its
 * holder (check-and-set on the index we read, so a new holder is never asked). The
 * holder's resec-lock sees it, its resec deregisters the master service, then
 * releases the key (no lock-delay); only the target's gate passes. 0, or exit code.
 */
static int request_hand_over(struct switchover *s)
{
	char value[400];
	snprintf(value, sizeof(value), "hand over to %s", s->nodes[s->target].addr);
	int ok = 0;
	if (consul_kv_put_cas(s->c, s->cfg.lock_key, s->lock_modify_index, s->lock_flags, value, strlen(value),
	                      &ok) != CONSUL_OK) {
		log_error("cannot ask the holder to hand the lock over", "reason", s->c->err);
		return EXIT_UNAVAILABLE;
	}
	if (!ok) {
		if (lock_unchanged(s) == 1) {
			/* Same holder, same value: nothing was asked of it, so back out. */
			log_error("the lock key was rewritten during the switchover; nothing requested");
			unfence_master(s);
			return EXIT_NO;
		}
		log_error("the lock changed during the switchover; the master stays fenced and the "
		          "election decides");
		return EXIT_NO;
	}
	log_info("hand-over requested", "key", s->cfg.lock_key, "target", s->nodes[s->target].addr);
	return 0;
}

/*
 * The hand-over request failed on the way: did it reach Consul? 0 when it did (go on),
 * EXIT_UNAVAILABLE after lifting the fence when it did not; when Consul does not say
 * within --timeout, the master stays fenced (lifting it while the hand-over may be under
 * way could make a second writable master).
 */
static int request_outcome(struct switchover *s)
{
	int unchanged = lock_unchanged(s);
	if (unchanged < 0) {
		log_error("cannot tell whether the hand-over was requested; the master stays fenced "
		          "(resec-role master on it lifts the fence)", "master", s->nodes[s->master].addr);
		return EXIT_UNAVAILABLE;
	}
	if (!unchanged)
		return 0;
	unfence_master(s);
	return EXIT_UNAVAILABLE;
}

/*
 * 1 when the master service's only passing instance is the node (tag mode: Meta role
 * "master"), 0 when not, -1 when Consul did not answer. A blocking query from *index
 * (0: at once) for at most wait_ms; *index gets the answer's index.
 */
static int only_master_in_consul(struct switchover *s, const struct node *nd, uint64_t *index, int64_t wait_ms)
{
	char name[300];
	int tagged = s->cfg.service_name[0] != '\0';
	peer_service_name(&s->cfg, 1, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	struct consul_query q = { .index = *index, .wait_ms = wait_ms };
	if (consul_health_service(s->c, name, NULL, 1, &q, &e, &n) != CONSUL_OK) {
		*index = 0;
		return -1;
	}
	*index = s->c->index < *index ? 0 : s->c->index;
	int masters = 0, ours = 0;
	for (size_t i = 0; i < n; i++) {
		if (tagged && strcmp(peer_meta(&e[i], "role"), "master") != 0)
			continue;
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		masters++;
		ours += hp.port == nd->hp.port && strcmp(hp.host, nd->hp.host) == 0;
	}
	json_health_free(e, n);
	return masters == 1 && ours == 1;
}

/* 1 when the target's Redis is a writable master. */
static int target_is_master(struct switchover *s)
{
	struct rdb_info ti;
	return rdb_info(&s->tconn, &ti) == 0 && ti.role == RDB_ROLE_MASTER && rdb_fenced(&s->tconn) == 0;
}

/* Wait, on a blocking query of the master service, until Consul names only the target and its Redis agrees. */
static int await_target(struct switchover *s)
{
	int64_t deadline = clock_now_ms() + s->timeout_ms;
	uint64_t index = 0;
	while (!interrupted && clock_now_ms() < deadline) {
		/* At most 1 s per query, so that a signal is noticed. */
		int64_t left = deadline - clock_now_ms();
		int named = only_master_in_consul(s, &s->nodes[s->target], &index, left < 1000 ? left : 1000);
		if (named == 1 && target_is_master(s))
			return 0;
		if (named != 0) {
			/* Consul failed, or named the target before its Redis says so: look again shortly. */
			index = 0;
			clock_sleep_ms(named < 0 ? 100 : POLL_MS);
		}
	}
	log_error(interrupted ? "interrupted before the target took over; the election decides"
	                      : "the target did not take over in time; the election decides",
	          "target", s->nodes[s->target].addr, "timeout", log_int(s->timeout_ms));
	return EXIT_NO;
}

/* Fence, catch up, claim the switchover key for the target, ask for the hand-over, confirm. */
static int switch_over(struct switchover *s)
{
	int rc = fence_master(s);
	if (rc != 0)
		return rc;
	char why[400];
	if (catch_up(s, why, sizeof(why)) != 0) {
		unfence_master(s);
		log_die_line("switchover given up: %s", why);
		return EXIT_NO;
	}
	/* Only now may the target be the one to take the lock: it holds every write. */
	if (interrupted || (rc = claim(s)) != 0) {
		unfence_master(s);
		return rc != 0 ? rc : EXIT_NO;
	}
	if (interrupted) {
		unfence_master(s);
		return EXIT_NO;
	}
	rc = request_hand_over(s);
	if (rc == EXIT_UNAVAILABLE)
		rc = request_outcome(s);
	if (rc != 0)
		return rc;
	if ((rc = await_target(s)) != 0)
		return rc;
	int64_t now = clock_now_ms();
	printf("switched over from %s to %s: writes refused for %lldms\n", s->nodes[s->master].addr,
	       s->nodes[s->target].addr, (long long)(now - s->fenced_at));
	if (fflush(stdout) != 0)
		log_warn("switched over, but cannot write the output", "reason", strerror(errno));
	return 0;
}

static int prepare(struct switchover *s)
{
	int rc;
	if (peer_flags_read(s->c, &s->cfg, &s->flags) != CONSUL_OK) {
		log_die_line("cannot read the election keys: %s", s->c->err);
		return EXIT_UNAVAILABLE;
	}
	if (s->flags.switchover[0] != '\0') {
		log_die_line("a switchover to %s is in progress (%s); not switching over", s->flags.switchover, s->key);
		return EXIT_NO;
	}
	if ((rc = read_lock(s)) != 0)
		return rc;
	if (read_services(s) < 0)
		return EXIT_UNAVAILABLE;
	if ((rc = find_master(s)) != 0 || (rc = pick_target(s)) != 0 || (rc = target_contends(s)) != 0)
		return rc;
	log_info("switching over", "from", s->nodes[s->master].addr, "to", s->nodes[s->target].addr,
	         "target_offset", log_int(rdb_info_offset(&s->nodes[s->target].info)));
	return 0;
}

static void setup_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* HUP too: a closed terminal must not kill the tool with the master fenced. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int main(int argc, char **argv)
{
	static struct switchover s = { .timeout_ms = DEFAULT_TIMEOUT_MS, .master = -1, .target = -1 };
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&s.cfg, "resec-switchover", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &s);
	if (first < argc) {
		log_die_line("unexpected argument \"%s\"", argv[first]);
		return EXIT_USAGE;
	}
	char err[256] = "";
	s.c = consul_new(&s.cfg, err, sizeof(err));
	if (s.c == NULL) {
		log_die_line("cannot set up the Consul client: %s", err);
		return EXIT_USAGE;
	}
	setup_signals();
	peer_key(&s.cfg, "switchover", s.key, sizeof(s.key));
	int rc = prepare(&s);
	if (rc == 0)
		rc = switch_over(&s);
	release_claim(&s);
	rdb_close(&s.mconn);
	rdb_close(&s.tconn);
	consul_free(s.c);
	return rc;
}
