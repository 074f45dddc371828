/* SPDX-License-Identifier: MIT */
/* resec-role: show or set the role of the local Redis: master, replica of HOST:PORT, or fenced. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "history.h"
#include "log.h"
#include "proc.h"
#include "redis.h"
#include "role.h"

static const char usage[] =
	"usage: resec-role [options] show | master | promote | unfence | replica [HOST:PORT] | follow [HOST:PORT]\n"
	"                  | fence | fence-previous\n"
	"  show              print the role: master | replica HOST:PORT link=up|down offset=N [parked] [fenced]\n"
	"  master            REPLICAOF NO ONE and lift the fence\n"
	"  promote           REPLICAOF NO ONE with the fence up; it stays up (lift it with unfence)\n"
	"  unfence           lift the fence of a master (a replica is left as it is)\n"
	"  replica HOST:PORT replicate HOST:PORT (default RESEC_MASTER_ADDR), lift the fence; refused\n"
	"                    (exit 1) when HOST:PORT holds less than this redis\n"
	"  follow HOST:PORT  replica, then stay: park the replica (data kept) when the link to the master\n"
	"                    drops, follow again only a master that continues its history; ends on TERM\n"
	"  fence             refuse writes (NOREPLICAS) until master or replica\n"
	"  fence-previous    fence the Redis of the lock's previous holder (RESEC_LOCK_PREVIOUS and the\n"
	"                    instances registered as master in Consul); one that does not answer is left\n";

/* While Redis answers LOADING, commands are retried for HEALTHCHECK_TIMEOUT × this. */
enum { LOADING_RETRY_FACTOR = 10 };

/* Exit code for a Redis failure: configuration problems are 64, the rest 69. */
static int exit_code(int kind)
{
	return kind == RDB_E_AUTH || kind == RDB_E_REFUSED ? EXIT_USAGE : EXIT_UNAVAILABLE;
}

static int die_redis(const struct rdb_conn *c, const char *what)
{
	log_die_line("cannot %s: %s", what, c->err);
	return exit_code(c->err_kind);
}

static int print_show(struct role *r)
{
	int fenced = rdb_fenced(&r->conn);
	if (fenced < 0)
		return -1;
	if (r->info.role == RDB_ROLE_MASTER) {
		printf("master%s\n", fenced ? " fenced" : "");
	} else {
		struct hostport m = { .port = r->info.master_port };
		snprintf(m.host, sizeof(m.host), "%s", r->info.master_host);
		char addr[300];
		config_format_hostport(&m, addr, sizeof(addr));
		struct hostport park = { ROLE_PARK_HOST, ROLE_PARK_PORT };
		printf("replica %s link=%s offset=%lld%s%s\n", addr, r->info.link_up ? "up" : "down",
		       rdb_info_offset(&r->info), role_follows(r, &park) ? " parked" : "", fenced ? " fenced" : "");
	}
	if (fflush(stdout) == 0)
		return 0;
	/* A reader that went away (EPIPE): an error like any other, with its reason. */
	snprintf(r->conn.err, sizeof(r->conn.err), "cannot write the output: %s", strerror(errno));
	r->conn.err_kind = RDB_E_IO;
	return -1;
}

static int do_show(struct role *r)
{
	return rdb_info(&r->conn, &r->info) < 0 ? -1 : print_show(r);
}

/*
 * Before the fence, a write pause on a connection of its own, sent without
 * waiting for an answer: if Redis is stalled (SIGSTOP, a long fork) the fence
 * times out, and when Redis wakes it may still be a writable master while a
 * successor takes writes (the lock-delay is all the time it was given). The
 * pause runs before any write sent after Redis wakes, until a fence lifts it
 * (this one at once when Redis answers; else the orchestrator's next look,
 * resec-health wait --fence-master) or STALL_PAUSE_MS run out.
 */
#define STALL_PAUSE_MS 10000

static void pause_first(struct role *r)
{
	struct rdb_conn p;
	rdb_init(&p, &r->conn.opts);
	if (rdb_pause_writes_blind(&p, STALL_PAUSE_MS) < 0)
		log_debug("no write pause queued", "error", p.err);
}

static int do_fence(struct role *r)
{
	static const char *need[] = { "config" };
	if (rdb_require_commands(&r->conn, 1, need) < 0)
		return -1;
	int was = rdb_fenced(&r->conn);
	if (was < 0 || rdb_fence(&r->conn) < 0)
		return -1;
	if (!was)
		log_info("fenced: writes are refused");
	return 0;
}

/*
 * Write the role just set into redis.conf while the fence is still on
 * (CONFIG REWRITE), so that a Redis restarted from its file refuses writes
 * until resec has decided its role (S4: a returning old master takes no
 * write, not even in the moment before resec sees it). Never fatal: without a
 * config file there is nothing to write; any other failure is a warning.
 */
static void persist_fenced(struct role *r)
{
	if (rdb_config_rewrite(&r->conn) >= 0)
		return;
	log_warn("cannot write the fence into the config file; if this Redis restarts it takes writes "
	         "until resec fences it (docs/resec-role.md)",
	         "reason", r->conn.err);
	/* A rewrite that timed out (a slow disk) dropped the connection: the fence must still be lifted. */
	if (!rdb_connected(&r->conn))
		(void)rdb_connect(&r->conn);
}

/* The role is set: write the config file (fenced), then lift the fence. */
static int lift_fence(struct role *r, int fenced)
{
	persist_fenced(r);
	if (rdb_unfence(&r->conn) < 0)
		return -1;
	if (fenced)
		log_info("fence lifted");
	return 0;
}

/*
 * Run a REPLICAOF/SLAVEOF with the fence up; when Redis refuses it (LOADING),
 * lift the fence if it was raised for the change, so that a failure leaves Redis as it was.
 * The command's error stays in conn.err.
 */
static int change_role(struct role *r, int fenced, const char **argv)
{
	if (rdb_exec(&r->conn, 3, argv) == 0)
		return 0;
	if (!fenced) {
		struct rdb_conn *c = &r->conn;
		char err[sizeof(c->err)];
		int kind = c->err_kind;
		memcpy(err, c->err, sizeof(err));
		(void)rdb_unfence(c); /* best effort: if Redis is gone, fenced is the safe side */
		memcpy(c->err, err, sizeof(err));
		c->err_kind = kind;
	}
	return -1;
}

/*
 * What master and promote look at first: INFO, the commands they need (SLAVEOF
 * before Redis 5: *old), and whether the fence is up. 1 fenced, 0 not, -1 with err.
 */
static int read_for_promotion(struct role *r, int *old)
{
	static const char *need[] = { "replicaof", "config" };
	static const char *need_old[] = { "slaveof", "config" };
	if (rdb_info(&r->conn, &r->info) < 0)
		return -1;
	*old = r->info.version_major > 0 && r->info.version_major < 5;
	if (rdb_require_commands(&r->conn, 2, *old ? need_old : need) < 0)
		return -1;
	return rdb_fenced(&r->conn);
}

/* promote: REPLICAOF NO ONE with the fence up, and it stays up. A master that is not fenced is fenced. */
static int do_promote(struct role *r)
{
	int old;
	int fenced = read_for_promotion(r, &old);
	if (fenced < 0 || (!fenced && rdb_fence(&r->conn) < 0))
		return -1;
	if (r->info.role == RDB_ROLE_MASTER) {
		/* Already master (the first election, or this node won again): its
		 * config file may still say master unfenced, as its operator wrote
		 * it; a restart from it must come back fenced too (S4). */
		persist_fenced(r);
		return 0;
	}
	const char *argv[] = { old ? "SLAVEOF" : "REPLICAOF", "NO", "ONE" };
	if (rdb_exec(&r->conn, 3, argv) < 0)
		return -1;
	log_info("promoted to master, fenced", "was_replica_of", r->info.master_host, "port",
	         log_int(r->info.master_port));
	persist_fenced(r);
	return 0;
}

/* unfence: lift the fence of a master; a replica is not touched (it cannot take writes anyway). */
static int do_unfence(struct role *r)
{
	if (rdb_info(&r->conn, &r->info) < 0)
		return -1;
	if (r->info.role != RDB_ROLE_MASTER)
		return 0;
	int fenced = rdb_fenced(&r->conn);
	if (fenced <= 0)
		return fenced;
	if (rdb_unfence(&r->conn) < 0)
		return -1;
	log_info("fence lifted");
	return 0;
}

static int do_fence_previous(struct role *r)
{
	return role_fence_previous(r);
}

static int do_master(struct role *r)
{
	int old;
	int fenced = read_for_promotion(r, &old);
	if (fenced < 0)
		return -1;
	if (r->info.role == RDB_ROLE_MASTER && !fenced)
		return 0;
	/* The fence goes up first, so that persist_fenced writes a fenced file. */
	if (!fenced && rdb_fence(&r->conn) < 0)
		return -1;
	if (r->info.role != RDB_ROLE_MASTER) {
		const char *argv[] = { old ? "SLAVEOF" : "REPLICAOF", "NO", "ONE" };
		if (change_role(r, fenced, argv) < 0)
			return -1;
		log_info("promoted to master", "was_replica_of", r->info.master_host,
		         "port", log_int(r->info.master_port));
	}
	return lift_fence(r, fenced);
}

int role_probe_target(struct role *r, struct rdb_conn *t, struct rdb_info *ti)
{
	struct rdb_opts o = r->conn.opts;
	o.addr = r->target;
	rdb_init(t, &o);
	int rc = rdb_connect(t);
	if (rc < 0 && t->err_kind == RDB_E_AUTH) {
		/* The master may run without a password (replicas need no masterauth then). */
		o.username = NULL;
		o.password = NULL;
		rdb_init(t, &o);
		rc = rdb_connect(t);
	}
	return rc < 0 ? -1 : rdb_info(t, ti);
}

int role_follows(const struct role *r, const struct hostport *to)
{
	return r->info.role == RDB_ROLE_REPLICA && r->info.master_port == to->port &&
	       strcmp(r->info.master_host, to->host) == 0;
}

static int kill_clients(struct role *r)
{
	static const char *types[] = { "normal", "pubsub" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		/* SKIPME yes is the default: our own connection survives. */
		const char *argv[] = { "CLIENT", "KILL", "TYPE", types[i] };
		if (rdb_exec(&r->conn, 4, argv) < 0)
			return -1;
	}
	return 0;
}

int role_point(struct role *r, const struct hostport *to)
{
	static const char *need[] = { "replicaof", "client", "config" };
	static const char *need_old[] = { "slaveof", "client", "config" };
	if (rdb_info(&r->conn, &r->info) < 0)
		return -1;
	int old = r->info.version_major > 0 && r->info.version_major < 5;
	if (rdb_require_commands(&r->conn, 3, old ? need_old : need) < 0)
		return -1;
	int fenced = rdb_fenced(&r->conn);
	if (fenced < 0)
		return -1;
	char port[16];
	snprintf(port, sizeof(port), "%d", to->port);
	int same = role_follows(r, to);
	if (same && !fenced)
		return 0;
	/* The fence goes up first, so that persist_fenced writes a fenced file. */
	if (!fenced && rdb_fence(&r->conn) < 0)
		return -1;
	if (!same) {
		const char *argv[] = { old ? "SLAVEOF" : "REPLICAOF", to->host, port };
		if (change_role(r, fenced, argv) < 0)
			return -1;
		log_info("replicating", "master", to->host, "port", port);
		/* Writers of a former master must reconnect to the new one; a replica's readers may stay. */
		if (r->info.role == RDB_ROLE_MASTER && kill_clients(r) < 0)
			return -1;
	}
	/* Unfence only now: a returning old master is a replica before it can take writes. */
	return lift_fence(r, fenced);
}

static int do_replica(struct role *r)
{
	return role_point(r, &r->target);
}

/*
 * Before replica: refuse our own address (by run_id) and a master that holds
 * less than we do (S5). Returns 0 to go on, or an exit code.
 */
static int check_target(struct role *r, const char *what)
{
	char a[300];
	config_format_hostport(&r->target, a, sizeof(a));
	if (r->target.port == r->cfg.redis_addr.port && strcmp(r->target.host, r->cfg.redis_addr.host) == 0) {
		log_die_line("cannot %s: that address is this redis itself", what);
		return EXIT_USAGE;
	}
	struct rdb_conn t;
	struct rdb_info ti;
	int rc = role_probe_target(r, &t, &ti);
	rdb_close(&t);
	if (rc < 0) {
		log_warn("cannot ask the new master who it is; replicating anyway", "master", a, "reason", t.err);
		return 0;
	}
	if (ti.run_id[0] != '\0' && strcmp(ti.run_id, r->info.run_id) == 0) {
		log_die_line("cannot %s: that address is this redis itself", what);
		return EXIT_USAGE;
	}
	enum history_verdict v = history_judge(&ti, &r->info);
	if (v == HISTORY_BEHIND && !role_follows(r, &r->target)) {
		log_die_line("cannot %s: it %s (its offset %lld, ours %lld, %lld keys here)", what, history_describe(v),
		             ti.master_repl_offset, r->info.master_repl_offset, r->info.keys);
		return EXIT_NO;
	}
	if (v == HISTORY_AHEAD)
		log_warn("the new master is on another replication history: a full copy replaces this redis's data",
		         "master", a);
	return 0;
}

int role_with_retry(struct role *r, int (*op)(struct role *))
{
	int64_t deadline = clock_now_ms() + r->cfg.healthcheck_timeout_ms * LOADING_RETRY_FACTOR;
	int64_t backoff = 50;
	int told = 0;
	for (;;) {
		if (!rdb_connected(&r->conn) && rdb_connect(&r->conn) < 0)
			return -1;
		if (op(r) == 0)
			return 0;
		if (r->conn.err_kind != RDB_E_LOADING || clock_now_ms() + backoff > deadline)
			return -1;
		if (!told)
			log_info("redis is loading its dataset; retrying", "until", log_int(deadline - clock_now_ms()));
		told = 1;
		clock_sleep_ms(backoff);
		backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
	}
}

static int read_info(struct role *r)
{
	return rdb_info(&r->conn, &r->info);
}

/* The words after "cannot" in a fatal line. */
static void verb(const struct role *r, const char *cmd, char *buf, size_t len)
{
	static const struct { const char *cmd, *words; } verbs[] = {
		{ "show", "read the role of redis" }, { "master", "make redis master" },
		{ "fence", "fence redis" },           { "promote", "promote redis" },
		{ "unfence", "lift the fence" },      { "fence-previous", "fence the previous master" },
	};
	char a[300];
	config_format_hostport(&r->target, a, sizeof(a));
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(cmd, verbs[i].cmd) == 0) {
			snprintf(buf, len, "%s", verbs[i].words);
			return;
		}
	}
	snprintf(buf, len, strcmp(cmd, "follow") == 0 ? "follow %s" : "make redis a replica of %s", a);
}

static int parse_target(struct role *r, const char *arg)
{
	if (arg == NULL || arg[0] == '\0') {
		log_die_line("replica needs HOST:PORT (or RESEC_MASTER_ADDR)");
		return -1;
	}
	if (config_parse_hostport(arg, &r->target) < 0 || r->target.host[0] == '\0') {
		log_die_line("bad master address \"%s\": want HOST:PORT", arg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct role r;
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&r.cfg, "resec-role", usage, argc, argv, CONFIG_PERMUTE, NULL, NULL, NULL);
	int nargs = argc - first;
	const char *cmd = nargs > 0 ? argv[first] : "";
	int (*op)(struct role *) = NULL;
	int maxargs = 1;
	if (strcmp(cmd, "show") == 0) {
		op = do_show;
	} else if (strcmp(cmd, "master") == 0) {
		op = do_master;
	} else if (strcmp(cmd, "fence") == 0) {
		op = do_fence;
	} else if (strcmp(cmd, "promote") == 0) {
		op = do_promote;
	} else if (strcmp(cmd, "unfence") == 0) {
		op = do_unfence;
	} else if (strcmp(cmd, "fence-previous") == 0) {
		op = do_fence_previous;
	} else if (strcmp(cmd, "replica") == 0 || strcmp(cmd, "follow") == 0) {
		op = do_replica;
		maxargs = 2;
	}
	if (op == NULL) {
		log_die_line(nargs == 0 ? "missing command: show, master, promote, unfence, replica, follow, fence or "
		             "fence-previous" : "unknown command \"%s\"", cmd);
		return EXIT_USAGE;
	}
	if (nargs > maxargs) {
		log_die_line("too many arguments for %s: \"%s\"", cmd, argv[first + maxargs]);
		return EXIT_USAGE;
	}
	if (op == do_replica && parse_target(&r, nargs > 1 ? argv[first + 1] : getenv("RESEC_MASTER_ADDR")) < 0)
		return EXIT_USAGE;

	struct rdb_opts o;
	rdb_opts_from_config(&o, &r.cfg);
	rdb_init(&r.conn, &o);
	char what[400];
	verb(&r, cmd, what, sizeof(what));
	if (strcmp(cmd, "follow") == 0) {
		int code = role_follow(&r);
		rdb_close(&r.conn);
		return code;
	}
	if (op == do_replica) {
		if (role_with_retry(&r, read_info) < 0)
			return die_redis(&r.conn, what);
		int code = check_target(&r, what);
		if (code != 0) {
			rdb_close(&r.conn);
			return code;
		}
	}
	if (op == do_fence)
		pause_first(&r);
	int rc = role_with_retry(&r, op);
	rdb_close(&r.conn);
	if (rc < 0 && op == do_fence && r.conn.conn_refused) {
		/* Nothing listens: no write can land, the fence holds by itself. A
		 * lock holder whose Redis crashed releases at once (no lock-delay);
		 * one that stalled still times out (exit 69). */
		log_info("redis is not running (connection refused): nothing to fence", "error", r.conn.err);
		return 0;
	}
	return rc < 0 ? die_redis(&r.conn, what) : 0;
}
