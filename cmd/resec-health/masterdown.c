/* SPDX-License-Identifier: MIT */
/* masterdown: replicas that find a dead master themselves and end its lock session (docs/resec-lock.md). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "consul.h"
#include "json.h"
#include "log.h"
#include "masterdown.h"
#include "peer.h"

/*
 * Why: when the master's whole machine goes, nothing releases the lock; its
 * session ends only when gossip declares the node dead (5-8.5 s at Consul's
 * LAN defaults), and then the lock-delay runs. The replicas see the loss
 * sooner: their connections to the master's Redis end or stop answering.
 * Each replica that cannot reach it for D (REDIS_MASTER_DOWN_AFTER) votes: a
 * KV key D/down/RUN_ID held by a session of its own (Behavior delete, so the
 * vote goes with the voter), naming the holder's session. When a majority of
 * the registered replicas (at least two) name the same session, and that
 * session still holds the lock and belongs to the node of the master instance
 * they lost, a voter destroys it: Consul's lock-delay then runs as for any
 * invalidation, so the fencing arithmetic (S3) is unchanged.
 *
 * A thread of resec-health run --role replica: every request it makes (Redis
 * or Consul) may block up to a timeout, and the heartbeat must not wait behind
 * it. It costs one INFO replication to the master every D/2 while the master
 * answers, and Consul requests only while the master does not, or while the
 * local replica has no master to name (see look_local).
 *
 * Which master: the one the local replica's link is up to. The look at the
 * master asks its role, not just a PING: a watched Redis that answers as a
 * replica (the old master after a switchover, or the Redis a replica was
 * started from before the election picked another) is not the master any
 * more, and the thread looks at the local replica at once instead of at the
 * main thread's next look (HEALTHCHECK_INTERVAL later). A replica whose link
 * is down (resec-role follow parked it when the new master's node went, or it
 * is still syncing) names no master; the thread then takes the passing master
 * from Consul, as resec-role follow does. Where the target comes from does not
 * matter for safety: a vote only ever names the session of the lock holder
 * whose node registered the master instance at that address (round_once).
 */

/* While the master does not answer, try it again this often. */
enum { DOWN_PROBE_MS = 200 };
/* A round without a quorum waits at most this long for the next vote (a blocking read). */
enum { VOTE_WAIT_MS = 1000 };
/* After a Consul failure, the next round. */
enum { RETRY_MS = 1000 };
/* With no master to watch, or with it down, look at the local replica's link this often. */
enum { IDLE_MS = 500 };
/* The fewest votes that may end a session: one replica alone cannot tell a dead master from a cut link. */
enum { MIN_VOTES = 2 };

struct masterdown {
	const struct resec_config *cfg;
	pthread_t thread;
	int stop[2];                 /* the main thread writes: stop; also Consul's cancel fd */
	pthread_mutex_t mu;
	struct hostport want;        /* under mu: the master the local replica's link is up to */
	/* The thread's own. */
	struct hostport target;
	char addr[300];
	struct rdb_conn conn;
	struct rdb_conn local;       /* to the local Redis, for the thread's own looks */
	int64_t next_local;
	int64_t next_consul_master;  /* no master to watch: the next look at Consul's passing master */
	struct consul *consul;
	int64_t timeout_ms;          /* of a PING or a connect to the master */
	int64_t next_probe;
	int64_t down_since;          /* 0 while the master answers */
	int64_t next_round;
	char voter[41];
	char vote_key[700];
	char votes_dir[700];
	char vote_session[64];       /* "" when we hold no vote */
	int64_t vote_renew_at;
	char voted_for[64];          /* the holder session our vote names */
	uint64_t votes_index;
	char destroyed[64];          /* the session this replica ended: never twice */
	char first_holder[64];       /* the holder on the master's node when this down period was first judged */
	char said[300];              /* the last waiting state logged, to log it once */
};

/* Log a state once until it changes. */
static void say(struct masterdown *m, const char *msg, const char *reason)
{
	if (log_changed(m->said, sizeof(m->said), msg, reason))
		log_info(msg, "master", m->addr, "reason", reason);
}

/* Take our vote back: destroying its session deletes the key (Behavior delete). */
static void retract(struct masterdown *m)
{
	if (m->vote_session[0] == '\0')
		return;
	if (consul_session_destroy(m->consul, m->vote_session) != CONSUL_OK)
		log_warn("cannot take the vote back; it goes with its session's TTL", "reason", m->consul->err);
	else if (m->voted_for[0] != '\0')
		log_info("vote taken back", "master", m->addr);
	m->vote_session[0] = '\0';
	m->voted_for[0] = '\0';
}

/* The main thread's latest word on the master; a change starts over. */
static void adopt(struct masterdown *m, int64_t now)
{
	struct hostport want;
	pthread_mutex_lock(&m->mu);
	want = m->want;
	pthread_mutex_unlock(&m->mu);
	if (want.port == m->target.port && strcmp(want.host, m->target.host) == 0)
		return;
	retract(m);
	rdb_close(&m->conn);
	m->target = want;
	config_format_hostport(&m->target, m->addr, sizeof(m->addr));
	m->down_since = 0;
	m->first_holder[0] = '\0';
	m->next_probe = now;
	m->said[0] = '\0';
	if (want.port > 0)
		log_debug("watching the master's redis", "master", m->addr);
}

static void went_down(struct masterdown *m, int64_t since, const char *why)
{
	rdb_close(&m->conn);
	m->next_probe = clock_now_ms() + DOWN_PROBE_MS;
	if (m->down_since != 0)
		return;
	m->down_since = since;
	m->next_round = since + m->cfg->master_down_after_ms;
	char d[32];
	snprintf(d, sizeof(d), "%lldms", (long long)m->cfg->master_down_after_ms);
	log_warn("cannot reach the master's redis; voting if it stays so", "master", m->addr, "reason", why,
	         "after", d);
}

static void came_back(struct masterdown *m, int64_t now)
{
	m->next_probe = now + m->cfg->master_down_after_ms / 2;
	if (m->down_since == 0)
		return;
	m->down_since = 0;
	m->first_holder[0] = '\0';
	m->said[0] = '\0';
	log_info("the master's redis answers again", "master", m->addr);
	retract(m);
}

/*
 * The watched Redis answers, but as a replica: it is not the master any more.
 * Forget it (and the main thread's word for it, or adopt would take it back)
 * and look at the local replica at once for the master it follows now.
 */
static void not_master(struct masterdown *m, int64_t now)
{
	pthread_mutex_lock(&m->mu);
	if (m->want.port == m->target.port && strcmp(m->want.host, m->target.host) == 0)
		m->want.port = 0;
	pthread_mutex_unlock(&m->mu);
	log_debug("the watched redis is no longer a master; looking for the local replica's", "redis", m->addr);
	rdb_close(&m->conn);
	m->target.port = 0;
	m->addr[0] = '\0';
	m->next_local = now;
}

/*
 * One look at the master on the kept connection (or a new one): INFO
 * replication, as cheap as a PING, that also says whether it is still a
 * master. A master that loads its dataset answers too: its node is alive,
 * which is all this thread judges (its own resec-health fails its check).
 */
static void probe(struct masterdown *m)
{
	int64_t sent = clock_now_ms();
	if (!rdb_connected(&m->conn)) {
		struct rdb_opts o;
		rdb_opts_from_config(&o, m->cfg);
		o.addr = m->target;
		o.timeout_ms = m->timeout_ms;
		rdb_init(&m->conn, &o);
		if (rdb_connect(&m->conn) < 0) {
			went_down(m, sent, m->conn.err);
			return;
		}
	}
	struct rdb_info info;
	if (rdb_info_replication(&m->conn, &info) < 0) {
		went_down(m, sent, m->conn.err);
		return;
	}
	came_back(m, clock_now_ms());
	if (info.role != RDB_ROLE_MASTER)
		not_master(m, clock_now_ms());
}

/* The master service's instance at our target: its node into node ("" when none). */
static int master_node(struct masterdown *m, char *node, size_t len)
{
	char name[300];
	peer_service_name(m->cfg, 1, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	node[0] = '\0';
	if (consul_health_service(m->consul, name, NULL, 0, NULL, &e, &n) != CONSUL_OK)
		return -1;
	for (size_t i = 0; i < n && node[0] == '\0'; i++) {
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		if (hp.port == m->target.port && strcmp(hp.host, m->target.host) == 0)
			snprintf(node, len, "%s", e[i].node);
	}
	json_health_free(e, n);
	return 0;
}

/* Our vote for ending holder: a session of our own (made once), the key acquired naming holder. */
static int vote(struct masterdown *m, const char *holder)
{
	int64_t now = clock_now_ms();
	if (m->vote_session[0] != '\0' && now >= m->vote_renew_at) {
		int rc = consul_session_renew(m->consul, m->vote_session, NULL);
		if (rc == CONSUL_ABSENT)
			m->vote_session[0] = m->voted_for[0] = '\0';
		else if (rc != CONSUL_OK)
			return -1;
		m->vote_renew_at = now + m->cfg->lock_ttl_ms / 2;
	}
	if (m->vote_session[0] == '\0') {
		char name[160];
		snprintf(name, sizeof(name), "%s-vote", m->cfg->lock_session_name);
		struct consul_session_opts o = { .name = name, .ttl_ms = m->cfg->lock_ttl_ms, .lock_delay_set = 1,
		                                 .behavior = "delete" };
		if (consul_session_create(m->consul, &o, m->vote_session, sizeof(m->vote_session)) != CONSUL_OK)
			return -1;
		m->vote_renew_at = now + m->cfg->lock_ttl_ms / 2;
	}
	if (strcmp(m->voted_for, holder) == 0)
		return 0;
	char value[400];
	int len = snprintf(value, sizeof(value), "%s %s", holder, m->addr);
	int ok = 0;
	if (consul_kv_acquire(m->consul, m->vote_key, m->vote_session, 0, value, (size_t)len, &ok) != CONSUL_OK)
		return -1;
	if (!ok) {
		snprintf(m->consul->err, sizeof(m->consul->err), "the vote key %.200s is held by another session",
		         m->vote_key);
		return -1;
	}
	snprintf(m->voted_for, sizeof(m->voted_for), "%s", holder);
	log_warn("voted to end the lock holder's session: its master's redis is unreachable", "master", m->addr,
	         "session", holder);
	return 0;
}

/* 1 when the entry's checks include a critical one. */
static int critical(const struct json_health_entry *e)
{
	for (size_t i = 0; i < e->nchecks; i++)
		if (strcmp(e->checks[i].status, "critical") == 0)
			return 1;
	return 0;
}

/*
 * The quorum: the replica instances registered and not critical, on another
 * node than the master's, each known by its Meta run_id; the votes that name
 * holder and come from one of them. A blocking read of the votes (at most
 * VOTE_WAIT_MS) when nothing changed since the last round. 0, or -1.
 */
static int count(struct masterdown *m, const char *holder, const char *mnode, int *votes, int *voters)
{
	char name[300];
	peer_service_name(m->cfg, 0, name, sizeof(name));
	struct consul_query q = { .index = m->votes_index, .wait_ms = VOTE_WAIT_MS };
	struct json_kv_entry *kv = NULL;
	size_t nkv = 0;
	if (peer_kv_list(m->consul, m->votes_dir, &q, &kv, &nkv) != CONSUL_OK)
		return -1;
	m->votes_index = m->consul->index;
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(m->consul, name, NULL, 0, NULL, &e, &n) != CONSUL_OK) {
		json_kv_free(kv, nkv);
		return -1;
	}
	size_t dl = strlen(m->votes_dir), hl = strlen(holder);
	*votes = *voters = 0;
	for (size_t i = 0; i < n; i++) {
		const char *run_id = peer_meta(&e[i], "run_id");
		if (strcmp(e[i].node, mnode) == 0 || critical(&e[i]) || run_id[0] == '\0')
			continue;
		if (strcmp(peer_meta(&e[i], "role"), "master") == 0)
			continue;
		(*voters)++;
		for (size_t j = 0; j < nkv; j++) {
			const char *v = (const char *)kv[j].value;
			if (kv[j].session[0] != '\0' && strncmp(kv[j].key, m->votes_dir, dl) == 0 &&
			    strcmp(kv[j].key + dl, run_id) == 0 && v != NULL && strncmp(v, holder, hl) == 0 &&
			    (v[hl] == ' ' || v[hl] == '\0')) {
				(*votes)++;
				break;
			}
		}
	}
	json_health_free(e, n);
	json_kv_free(kv, nkv);
	return 0;
}

/* The lock's holder now: its session into s ("" when free); 0, or -1. */
static int holder_now(struct masterdown *m, char *s, size_t len)
{
	struct json_kv_entry k;
	memset(&k, 0, sizeof(k));
	struct consul_query q = { .consistent = 1 };
	int rc = consul_kv_get(m->consul, m->cfg->lock_key, &q, &k);
	s[0] = '\0';
	if (rc == CONSUL_OK)
		snprintf(s, len, "%s", k.session);
	json_kv_entry_clear(&k);
	return rc == CONSUL_OK || rc == CONSUL_ABSENT ? 0 : -1;
}

/* The session still holds the lock (a consistent read): end it. */
static void end_session(struct masterdown *m, const char *holder, const char *mnode, int votes, int voters)
{
	char now_holder[64];
	if (holder_now(m, now_holder, sizeof(now_holder)) < 0 || strcmp(now_holder, holder) != 0)
		return;
	if (consul_session_destroy(m->consul, holder) != CONSUL_OK) {
		log_warn("cannot end the lock holder's session", "reason", m->consul->err);
		return;
	}
	snprintf(m->destroyed, sizeof(m->destroyed), "%s", holder);
	char v[48];
	snprintf(v, sizeof(v), "%d of %d", votes, voters);
	log_warn("ended the lock holder's session: a majority of the replicas cannot reach the master's redis",
	         "master", m->addr, "node", mnode, "session", holder, "votes", v);
}

/*
 * One round of suspicion: who holds the lock, is it the node of the master we
 * lost, vote, count, and end the session at a quorum. The master answering
 * again (probe) takes the vote back.
 */
static void round_once(struct masterdown *m)
{
	char holder[64], mnode[256];
	m->next_round = clock_now_ms() + RETRY_MS;
	if (holder_now(m, holder, sizeof(holder)) < 0)
		goto failed;
	if (holder[0] == '\0') {
		say(m, "the master's redis is unreachable, and the lock is free: the election runs", "no holder");
		retract(m);
		return;
	}
	if (strcmp(holder, m->destroyed) == 0)
		return;
	struct json_session s;
	memset(&s, 0, sizeof(s));
	int rc = consul_session_info(m->consul, holder, NULL, &s);
	if (rc == CONSUL_ABSENT)
		return;
	if (rc != CONSUL_OK || master_node(m, mnode, sizeof(mnode)) < 0)
		goto failed;
	if (mnode[0] == '\0' || strcmp(mnode, s.node) != 0) {
		say(m, "the master's redis is unreachable, but the lock is not held from its node: not voting",
		    mnode[0] == '\0' ? "no master instance at that address" : s.node);
		retract(m);
		return;
	}
	/* The master's node took the lock again while we still cannot reach it: its
	 * election saw it alive and the most advanced, so this is a cut link, not a
	 * dead node; voting again would only make it flap. */
	if (m->first_holder[0] == '\0') {
		snprintf(m->first_holder, sizeof(m->first_holder), "%s", holder);
	} else if (strcmp(holder, m->first_holder) != 0) {
		say(m, "the master's node took the lock again while this replica cannot reach it: not voting", holder);
		retract(m);
		return;
	}
	if (vote(m, holder) < 0)
		goto failed;
	int votes = 0, voters = 0;
	if (count(m, holder, mnode, &votes, &voters) < 0)
		goto failed;
	int need = voters / 2 + 1 < MIN_VOTES ? MIN_VOTES : voters / 2 + 1;
	char why[96];
	snprintf(why, sizeof(why), "%d of %d replicas voted, %d needed", votes, voters, need);
	if (votes < need) {
		say(m, "waiting for a majority of the replicas to agree that the master is down", why);
		m->next_round = clock_now_ms();
		return;
	}
	end_session(m, holder, mnode, votes, voters);
	return;
failed:
	say(m, "consul does not answer the vote; trying again", m->consul->err);
}

/*
 * No master to watch and the local replica's link is down (parked, or still
 * syncing): the master service's one passing instance, at most once per
 * HEALTHCHECK_INTERVAL. A replica re-pointed just before its new master's
 * node went is parked before this thread saw the link up; without this it
 * could not vote, and a majority may need its vote.
 */
static void consul_master(struct masterdown *m, int64_t now)
{
	if (m->target.port > 0 || now < m->next_consul_master)
		return;
	/* A failed read is tried again sooner: the vote may hang on it. */
	m->next_consul_master = now + RETRY_MS;
	char name[300];
	peer_service_name(m->cfg, 1, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(m->consul, name, NULL, 1, NULL, &e, &n) != CONSUL_OK) {
		log_debug("cannot read the passing master", "reason", m->consul->err);
		return;
	}
	m->next_consul_master = now + m->cfg->healthcheck_interval_ms;
	struct hostport hp = { .port = 0 };
	if (n == 1)
		peer_entry_addr(&e[0], &hp);
	json_health_free(e, n);
	if (hp.port <= 0) {
		log_debug("the local replica names no master, and consul no single passing one");
		return;
	}
	pthread_mutex_lock(&m->mu);
	m->want = hp;
	pthread_mutex_unlock(&m->mu);
	char addr[sizeof(m->addr)];
	config_format_hostport(&hp, addr, sizeof(addr));
	log_debug("the local replica names no master; watching consul's passing one", "master", addr);
}

/*
 * The main thread names the master at each look (every HEALTHCHECK_INTERVAL);
 * while there is none, or ours does not answer, the thread looks at the local
 * Redis itself, so that a replica whose link came up just after a look (a
 * cold start, a failover that re-pointed it) is watched within IDLE_MS.
 */
static void look_local(struct masterdown *m, int64_t now)
{
	if (now < m->next_local)
		return;
	m->next_local = now + IDLE_MS;
	int kept = rdb_connected(&m->local);
	if (!kept) {
		struct rdb_opts o;
		rdb_opts_from_config(&o, m->cfg);
		o.timeout_ms = m->timeout_ms;
		rdb_init(&m->local, &o);
		if (rdb_connect(&m->local) < 0)
			return;
	}
	struct rdb_info info;
	if (rdb_info(&m->local, &info) < 0) {
		/* Redis closes every client when its role changes (a master made a
		 * replica): that is when this look matters, so a kept connection
		 * found closed is replaced at once, not IDLE_MS later. */
		rdb_close(&m->local);
		if (kept)
			m->next_local = now;
		return;
	}
	if (info.role == RDB_ROLE_REPLICA && !info.link_up)
		consul_master(m, now);
	else
		masterdown_local(m, &info);
}

/* When the thread must act next (monotonic ms). */
static int64_t next_due(const struct masterdown *m, int64_t now)
{
	if (m->target.port <= 0)
		return m->next_local > now ? m->next_local : now;
	int64_t due = m->next_probe;
	if (m->down_since != 0 && m->next_round < due)
		due = m->next_round;
	if (m->down_since != 0 && m->next_local < due)
		due = m->next_local;
	return due;
}

static void *run(void *arg)
{
	struct masterdown *m = arg;
	for (;;) {
		int64_t now = clock_now_ms();
		int64_t wait = next_due(m, now) - now;
		struct pollfd p[2] = { { .fd = m->stop[0], .events = POLLIN }, { .fd = rdb_fd(&m->conn), .events = POLLIN } };
		int n = poll(p, rdb_connected(&m->conn) ? 2 : 1, wait < 0 ? 0 : (int)(wait > 60000 ? 60000 : wait));
		if (n > 0 && p[0].revents != 0)
			break;
		now = clock_now_ms();
		if (m->target.port <= 0 || m->down_since != 0)
			look_local(m, now);
		adopt(m, now);
		if (m->target.port <= 0)
			continue;
		if (n > 0 && rdb_connected(&m->conn) && p[1].revents != 0 && rdb_closed_by_peer(&m->conn)) {
			went_down(m, now, "the connection was closed");
			m->next_probe = now;
		}
		if (clock_now_ms() >= m->next_probe)
			probe(m);
		now = clock_now_ms();
		if (m->down_since != 0 && now >= m->down_since + m->cfg->master_down_after_ms && now >= m->next_round)
			round_once(m);
	}
	/* The stop request would cancel the request that takes the vote back. */
	consul_set_cancel_fd(m->consul, -1);
	retract(m);
	rdb_close(&m->conn);
	rdb_close(&m->local);
	return NULL;
}

struct masterdown *masterdown_start(const struct resec_config *cfg, const char *voter)
{
	if (cfg->master_down_after_ms <= 0)
		return NULL;
	struct masterdown *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->cfg = cfg;
	m->stop[0] = m->stop[1] = -1;
	snprintf(m->voter, sizeof(m->voter), "%s", voter);
	char err[256] = "";
	m->consul = consul_new(cfg, err, sizeof(err));
	if (m->consul == NULL || pipe(m->stop) < 0 || fcntl(m->stop[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(m->stop[1], F_SETFD, FD_CLOEXEC) < 0) {
		log_warn("peer detection of a dead master is off: cannot set it up", "reason", err[0] ? err : "pipe");
		goto fail;
	}
	m->timeout_ms = cfg->master_down_after_ms / 2;
	if (m->timeout_ms > cfg->healthcheck_timeout_ms)
		m->timeout_ms = cfg->healthcheck_timeout_ms;
	if (m->timeout_ms < 100)
		m->timeout_ms = 100;
	consul_set_timeouts(m->consul, cfg->healthcheck_timeout_ms, cfg->healthcheck_timeout_ms);
	consul_set_cancel_fd(m->consul, m->stop[0]);
	char dir[600];
	peer_key(cfg, "down/", dir, sizeof(dir));
	snprintf(m->votes_dir, sizeof(m->votes_dir), "%s", dir);
	snprintf(m->vote_key, sizeof(m->vote_key), "%s%s", dir, m->voter);
	pthread_mutex_init(&m->mu, NULL);
	if (pthread_create(&m->thread, NULL, run, m) != 0) {
		log_warn("peer detection of a dead master is off: cannot start its thread");
		pthread_mutex_destroy(&m->mu);
		goto fail;
	}
	return m;
fail:
	for (int i = 0; i < 2; i++)
		if (m->stop[i] >= 0)
			close(m->stop[i]);
	consul_free(m->consul);
	free(m);
	return NULL;
}

void masterdown_local(struct masterdown *m, const struct rdb_info *local)
{
	if (m == NULL || local->role != RDB_ROLE_REPLICA || !local->link_up || local->master_port <= 0)
		return;
	pthread_mutex_lock(&m->mu);
	snprintf(m->want.host, sizeof(m->want.host), "%s", local->master_host);
	m->want.port = local->master_port;
	pthread_mutex_unlock(&m->mu);
}

void masterdown_stop(struct masterdown *m)
{
	if (m == NULL)
		return;
	if (write(m->stop[1], "x", 1) < 0) {
		/* Cannot happen with an empty pipe; the join below would then hang, so say it. */
		log_warn("cannot stop the peer detection thread");
	}
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->mu);
	close(m->stop[0]);
	close(m->stop[1]);
	consul_free(m->consul);
	free(m);
}
