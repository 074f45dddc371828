/* SPDX-License-Identifier: MIT */
/* resec-status: the cluster as Consul and the Redis servers see it, as a table, JSON or Prometheus text. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "consul.h"
#include "failsafe.h"
#include "json.h"
#include "log.h"
#include "peer.h"
#include "proc.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-status [options] [--json | --prom] [--state FILE]\n"
	"  (no flag)         print the cluster as a table: node, address, role in Consul and in Redis,\n"
	"                    lock holder, check status, offset, lag, link, fenced; then the problems\n"
	"  --json            print one JSON object instead (status, problems, lock, instances)\n"
	"  --prom            print Prometheus text format instead (for a node_exporter textfile)\n"
	"  --redis-max-lag BYTES  (REDIS_MAX_LAG, 10MiB) a passing replica further behind its master\n"
	"                    is a problem (suffixes K, M, G, optionally followed by iB or B, are 1024-based)\n"
	"  --state FILE      remember the lock's LockIndex in FILE to date failovers across runs, and\n"
	"                    when Consul was first seen unreachable\n"
	"exit: 0 healthy, 1 unhealthy, 64 bad usage, 69 Consul unreachable\n";

enum { OPT_JSON = 1, OPT_PROM, OPT_STATE };
enum { OUT_TABLE = 0, OUT_JSON, OUT_PROM };

static const struct cli_option options[] = {
	{ "json", 0, 0, OPT_JSON },
	{ "prom", 0, 0, OPT_PROM },
	{ "state", 0, 1, OPT_STATE },
	{ NULL, 0, 0, 0 },
};

enum { MAX_NOTES = 64, MAX_PROBED = 64 };

/* Consul's lock helper marks its keys with this flag; resec-lock takes no other key. */
#define LOCK_FLAGS 3304740253564472344ULL

/* One registered instance of the master or replica service, and what its Redis says. */
struct instance {
	char node[256];
	char service_id[400];
	char service[160];
	char service_address[256];   /* Service.Address as registered, may be "" */
	struct hostport hp;          /* where its Redis is: Service.Address or Node.Address, Port */
	char addr[300];              /* hp formatted */
	int consul_role;             /* enum rdb_role, from the service name, tags or Meta */
	char check[16];              /* worst status of its checks: passing, warning, critical, maintenance */
	int passing;
	char meta_role[32];
	char meta_offset[32];
	char meta_run_id[48];
	int redis_ok;                /* INFO was read */
	char redis_err[256];
	struct rdb_info info;
	int fenced;                  /* 1, 0, -1 unknown */
	int lock_holder;
	long long lag;               /* bytes behind its master, -1 when not a replica or unknown */
};

/* The lock key, its holder's session and node. */
struct lock_state {
	int present;                 /* the key exists */
	int held;                    /* it has a Session */
	char session[64];
	char node[256];              /* the session's node, "" when unknown */
	char value[300];             /* the holder's announce address */
	uint64_t lock_index;
	uint64_t modify_index;
	uint64_t flags;              /* LOCK_FLAGS, or the key is no lock: resec-lock waits for it to go */
};

/*
 * The master's standing when Consul is in trouble (docs/resec-status.md, "Consul trouble"):
 * what its Redis says (fenced: the lock not confirmed; the failsafe proof), found through
 * Consul, or without it from REDIS_ADDR and the master that Redis follows.
 */
struct modes {
	int no_leader;               /* Consul answered only stale reads */
	long long down_since;        /* Unix seconds Consul was first seen in trouble (--state), 0 unknown */
	char addr[300];              /* the master examined, "" when none */
	char via[300];               /* the Redis it was found through, without Consul */
	int redis_ok;
	int fenced;                  /* 1 fenced, 0 not, -1 unknown */
	struct failsafe_proof proof; /* proof.have_view: the master runs in failsafe mode */
	int proof_ok;
};

struct status {
	struct resec_config cfg;
	struct modes modes;
	int stale;                   /* read Consul with ?stale: it has no leader */
	int mode;
	char state_file[512];
	struct consul *consul;
	struct instance *inst;
	size_t n;
	struct lock_state lock;
	int masters_passing;
	int master;                  /* index of the only passing master, -1 when none or several */
	char problems[MAX_NOTES][400];
	size_t nproblems;
	char warnings[MAX_NOTES][400];
	size_t nwarnings;
	int maintenance;             /* the maintenance key is set: failover paused */
	char switchover[300];        /* a planned switchover to this address is in progress, or "" */
	long long master_offset;     /* the offset the master last published, -1 none */
	long long failovers;         /* -1 unknown */
	long long last_failover;     /* Unix seconds, 0 unknown */
	char consul_err[1024];       /* set when Consul could not be read */
};

/* The state file is read, then replaced by rename: absent is fine, anything but a regular
 * file is not (a FIFO would block the read, a symlink would be replaced, not followed). */
static int state_file_ok(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "bad value for --state: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "bad value for --state: not a regular file (FIFO, device, directory or symlink)");
		return -1;
	}
	return 0;
}

static int on_option(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct status *st = ctx;
	switch (id) {
	case OPT_JSON:
	case OPT_PROM: {
		int m = id == OPT_JSON ? OUT_JSON : OUT_PROM;
		if (st->mode != OUT_TABLE && st->mode != m) {
			snprintf(err, errlen, "--json and --prom cannot be used together");
			return -1;
		}
		st->mode = m;
		return 0;
	}
	default:
		if (value[0] == '\0' || snprintf(st->state_file, sizeof(st->state_file), "%s", value) >=
		    (int)sizeof(st->state_file)) {
			snprintf(err, errlen, "bad value for --state: empty or too long");
			return -1;
		}
		return state_file_ok(value, err, errlen);
	}
}

static void __attribute__((format(printf, 2, 3))) add_problem(struct status *st, const char *fmt, ...)
{
	if (st->nproblems >= MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->problems[st->nproblems++], sizeof(st->problems[0]), fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) add_warning(struct status *st, const char *fmt, ...)
{
	if (st->nwarnings >= MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->warnings[st->nwarnings++], sizeof(st->warnings[0]), fmt, ap);
	va_end(ap);
}

/* ---- Consul: the instances and the lock ---- */

static void __attribute__((format(printf, 2, 3))) set_consul_err(struct status *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->consul_err, sizeof(st->consul_err), fmt, ap);
	va_end(ap);
}

/* Consul's aggregate rank of a check status: maintenance and unknown ones count as critical. */
static int check_rank(const char *s)
{
	if (strcmp(s, "passing") == 0)
		return 0;
	if (strcmp(s, "warning") == 0)
		return 1;
	return 2;
}

static void aggregate_checks(struct instance *in, const struct json_health_entry *e)
{
	snprintf(in->check, sizeof(in->check), "passing");
	int worst = 0;
	for (size_t i = 0; i < e->nchecks; i++) {
		int r = check_rank(e->checks[i].status);
		if (r > worst) {
			worst = r;
			snprintf(in->check, sizeof(in->check), "%s", e->checks[i].status);
		}
	}
	in->passing = worst == 0;
}

static int has_tag(const struct json_health_entry *e, const char *tag)
{
	for (size_t i = 0; i < e->ntags; i++)
		if (strcmp(e->tags[i], tag) == 0)
			return 1;
	return 0;
}

/* 1 when list (comma-separated) names at least one tag and e has them all. */
static int has_all_tags(const struct json_health_entry *e, const char *list)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", list);
	int seen = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && t[n - 1] == ' ')
			t[--n] = '\0';
		if (n == 0)
			continue;
		if (!has_tag(e, t))
			return 0;
		seen = 1;
	}
	return seen;
}

static int role_from_name(const char *s)
{
	if (strcmp(s, "master") == 0)
		return RDB_ROLE_MASTER;
	if (strcmp(s, "slave") == 0 || strcmp(s, "replica") == 0)
		return RDB_ROLE_REPLICA;
	return RDB_ROLE_UNKNOWN;
}

/* Tag mode: the role tags when configured, else the role resec-health put in Meta. */
static int role_from_tags(const struct status *st, const struct json_health_entry *e)
{
	if (has_all_tags(e, st->cfg.master_tags))
		return RDB_ROLE_MASTER;
	if (has_all_tags(e, st->cfg.slave_tags))
		return RDB_ROLE_REPLICA;
	return role_from_name(peer_meta(e, "role"));
}

static int add_instance(struct status *st, const struct json_health_entry *e, int role)
{
	struct instance *p = realloc(st->inst, (st->n + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	st->inst = p;
	struct instance *in = &p[st->n++];
	memset(in, 0, sizeof(*in));
	snprintf(in->node, sizeof(in->node), "%s", e->node);
	snprintf(in->service_id, sizeof(in->service_id), "%s", e->service_id);
	snprintf(in->service, sizeof(in->service), "%s", e->service_name);
	snprintf(in->service_address, sizeof(in->service_address), "%s", e->service_address);
	peer_entry_addr(e, &in->hp);
	config_format_hostport(&in->hp, in->addr, sizeof(in->addr));
	in->consul_role = role;
	aggregate_checks(in, e);
	snprintf(in->meta_role, sizeof(in->meta_role), "%s", peer_meta(e, "role"));
	snprintf(in->meta_offset, sizeof(in->meta_offset), "%s", peer_meta(e, "offset"));
	snprintf(in->meta_run_id, sizeof(in->meta_run_id), "%s", peer_meta(e, "run_id"));
	in->fenced = -1;
	in->lag = -1;
	return 0;
}

/* Every instance of one service, passing or not; role < 0 means classify by tags. */
static int read_service(struct status *st, const char *name, int role)
{
	struct json_health_entry *e = NULL;
	size_t n = 0;
	struct consul_query q = { .stale = st->stale };
	if (consul_health_service(st->consul, name, NULL, 0, &q, &e, &n) != CONSUL_OK) {
		set_consul_err(st, "cannot read service %s: %s", name, st->consul->err);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_instance(st, &e[i], role >= 0 ? role : role_from_tags(st, &e[i]));
	json_health_free(e, n);
	if (rc < 0)
		set_consul_err(st, "cannot read service %s: out of memory", name);
	return rc;
}

static int read_services(struct status *st)
{
	char name[300];
	peer_service_name(&st->cfg, 1, name, sizeof(name));
	if (st->cfg.service_name[0] != '\0')
		return read_service(st, name, -1);
	if (read_service(st, name, RDB_ROLE_MASTER) < 0)
		return -1;
	peer_service_name(&st->cfg, 0, name, sizeof(name));
	return read_service(st, name, RDB_ROLE_REPLICA);
}

static int read_lock(struct status *st)
{
	struct lock_state *l = &st->lock;
	struct json_kv_entry kv;
	struct consul_query q = { .stale = st->stale };
	int rc = consul_kv_get(st->consul, st->cfg.lock_key, &q, &kv);
	if (rc == CONSUL_ABSENT)
		return 0;
	if (rc != CONSUL_OK) {
		set_consul_err(st, "cannot read lock %s: %s", st->cfg.lock_key,
		         st->consul->err);
		return -1;
	}
	l->present = 1;
	l->held = kv.session[0] != '\0';
	l->flags = kv.flags;
	snprintf(l->session, sizeof(l->session), "%s", kv.session);
	if (kv.value != NULL)
		snprintf(l->value, sizeof(l->value), "%.*s", (int)(kv.value_len < 299 ? kv.value_len : 299),
		         (const char *)kv.value);
	l->lock_index = kv.lock_index;
	l->modify_index = kv.modify_index;
	json_kv_entry_clear(&kv);
	if (!l->held)
		return 0;
	struct json_session s;
	memset(&s, 0, sizeof(s));
	rc = consul_session_info(st->consul, l->session, &q, &s);
	if (rc == CONSUL_OK)
		snprintf(l->node, sizeof(l->node), "%s", s.node);
	else if (rc != CONSUL_ABSENT) {
		set_consul_err(st, "cannot read session %s: %s", l->session,
		         st->consul->err);
		return -1;
	}
	return 0;
}

/* Mark the lock holder: the instance on the session's node at the address the lock value names. */
static void match_lock_holder(struct status *st)
{
	const struct lock_state *l = &st->lock;
	if (!l->held)
		return;
	struct hostport v;
	int have_addr = config_parse_hostport(l->value, &v) == 0;
	for (size_t i = 0; i < st->n; i++) {
		struct instance *in = &st->inst[i];
		if (l->node[0] != '\0' && strcmp(in->node, l->node) != 0)
			continue;
		if (!have_addr) {
			/* Not an address: the node alone tells, for its master instance. */
			in->lock_holder = l->node[0] != '\0' && in->consul_role == RDB_ROLE_MASTER;
			continue;
		}
		/* An empty announce host means "this node's address" (ANNOUNCE_ADDR default). */
		in->lock_holder = v.port == in->hp.port &&
		                  (v.host[0] == '\0' || strcmp(v.host, in->hp.host) == 0 ||
		                   strcmp(v.host, in->service_address) == 0);
	}
}

/* ---- Redis ---- */

static void probe_redis(const struct status *st, struct instance *in)
{
	if (peer_probe(&st->cfg, &in->hp, &in->info, &in->fenced, in->redis_err, sizeof(in->redis_err)) < 0)
		return;
	in->redis_ok = 1;
	if (in->fenced < 0)
		log_warn("cannot tell whether redis is fenced", "addr", in->addr, "reason", in->redis_err);
	in->redis_err[0] = '\0';
}

static int same_addr(const struct instance *in, const char *host, int port)
{
	return in->hp.port == port && strcmp(in->hp.host, host) == 0;
}

/* The master a replica's offset is compared with: the one it follows, else the passing master. */
static const struct instance *reference_master(const struct status *st, const struct instance *r)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct instance *m = &st->inst[i];
		if (m->redis_ok && m->info.role == RDB_ROLE_MASTER &&
		    same_addr(m, r->info.master_host, r->info.master_port))
			return m;
	}
	if (st->master >= 0) {
		const struct instance *m = &st->inst[st->master];
		if (m->redis_ok && m->info.role == RDB_ROLE_MASTER)
			return m;
	}
	return NULL;
}

static void compute_lags(struct status *st)
{
	for (size_t i = 0; i < st->n; i++) {
		struct instance *r = &st->inst[i];
		if (!r->redis_ok || r->info.role != RDB_ROLE_REPLICA)
			continue;
		const struct instance *m = reference_master(st, r);
		long long ro = rdb_info_offset(&r->info);
		if (m == NULL || ro < 0 || m->info.master_repl_offset < 0)
			continue;
		/* The master was read before the replica: a replica can look ahead by what came in between. */
		long long lag = m->info.master_repl_offset - ro;
		r->lag = lag < 0 ? 0 : lag;
	}
}

/* ---- the verdict ---- */

static const char *role_label(int role)
{
	return role == RDB_ROLE_MASTER ? "master" : role == RDB_ROLE_REPLICA ? "replica" : "unknown";
}

static const char *redis_role(const struct instance *in)
{
	return in->redis_ok ? role_label(in->info.role) : "down";
}

static void judge_master(struct status *st)
{
	if (st->masters_passing == 0) {
		add_problem(st, "no passing master instance");
	} else if (st->masters_passing > 1) {
		char list[300] = "";
		size_t len = 0;
		for (size_t i = 0; i < st->n && len < sizeof(list); i++) {
			const struct instance *in = &st->inst[i];
			if (in->consul_role == RDB_ROLE_MASTER && in->passing)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s %s", len ? ", " : "", in->node,
				                        in->addr);
		}
		add_problem(st, "%d passing master instances: %s", st->masters_passing, list);
	}
	if (st->lock.present && st->lock.flags != LOCK_FLAGS)
		add_problem(st, "lock key %s has flags %llu, not a lock's: resec-lock will not take it until it is "
		            "deleted", st->cfg.lock_key, (unsigned long long)st->lock.flags);
	else if (!st->lock.held)
		add_problem(st, "lock %s is not held", st->cfg.lock_key);
	if (st->master < 0)
		return;
	const struct instance *m = &st->inst[st->master];
	if (st->lock.held && !m->lock_holder)
		add_problem(st, "passing master %s %s does not hold the lock (held by %s, value %s)", m->node, m->addr,
		            st->lock.node[0] != '\0' ? st->lock.node : "an unknown node", st->lock.value);
	if (!m->redis_ok)
		add_problem(st, "passing master %s %s: redis unreachable: %s", m->node, m->addr, m->redis_err);
	else if (m->info.role != RDB_ROLE_MASTER)
		add_problem(st, "passing master %s %s is a replica in redis", m->node, m->addr);
	else if (m->fenced == 1)
		add_problem(st, "passing master %s %s is fenced (refuses writes)", m->node, m->addr);
}

static void judge_replica(struct status *st, const struct instance *in)
{
	if (!in->redis_ok) {
		add_problem(st, "passing replica %s %s: redis unreachable: %s", in->node, in->addr, in->redis_err);
		return;
	}
	if (in->info.role == RDB_ROLE_MASTER) {
		add_problem(st, "passing replica %s %s is a master in redis", in->node, in->addr);
		return;
	}
	if (!in->info.link_up)
		add_problem(st, "passing replica %s %s: link to its master is down", in->node, in->addr);
	if (st->cfg.redis_max_lag > 0 && in->lag > st->cfg.redis_max_lag)
		add_problem(st, "passing replica %s %s lags %lld bytes behind its master (max %lld)", in->node, in->addr,
		            in->lag, st->cfg.redis_max_lag);
	/* Addresses may be spelled differently (names, IPs): a hint, not a verdict. */
	const struct instance *m = st->master >= 0 ? &st->inst[st->master] : NULL;
	if (m != NULL && !same_addr(m, in->info.master_host, in->info.master_port))
		add_warning(st, "replica %s %s follows %s:%d, not the passing master %s", in->node, in->addr,
		            in->info.master_host, in->info.master_port, m->addr);
}

static void judge(struct status *st)
{
	judge_master(st);
	for (size_t i = 0; i < st->n; i++) {
		const struct instance *in = &st->inst[i];
		if (in->passing && in->consul_role == RDB_ROLE_REPLICA)
			judge_replica(st, in);
		else if (!in->passing)
			add_warning(st, "%s %s %s: check %s%s%s", role_label(in->consul_role), in->node, in->addr, in->check,
			            in->redis_ok ? "" : "; redis unreachable: ", in->redis_ok ? "" : in->redis_err);
		else if (in->consul_role == RDB_ROLE_UNKNOWN)
			add_warning(st, "%s %s: no role in its tags or Meta", in->node, in->addr);
	}
	if (st->lock.held && st->master < 0) {
		int found = 0;
		for (size_t i = 0; i < st->n; i++)
			found |= st->inst[i].lock_holder;
		if (!found)
			add_warning(st, "lock holder %s (value %s) has no registered instance",
			            st->lock.node[0] != '\0' ? st->lock.node : "unknown", st->lock.value);
	}
}

static int instance_order(const void *a, const void *b)
{
	const struct instance *x = a, *y = b;
	int rx = x->consul_role == RDB_ROLE_MASTER ? 0 : x->consul_role == RDB_ROLE_REPLICA ? 1 : 2;
	int ry = y->consul_role == RDB_ROLE_MASTER ? 0 : y->consul_role == RDB_ROLE_REPLICA ? 1 : 2;
	if (rx != ry)
		return rx - ry;
	int c = strcmp(x->node, y->node);
	return c != 0 ? c : strcmp(x->addr, y->addr);
}

static void survey(struct status *st)
{
	/* No instance registered: nothing to sort (qsort must not see a NULL array). */
	if (st->n > 0)
		qsort(st->inst, st->n, sizeof(st->inst[0]), instance_order);
	st->master = -1;
	for (size_t i = 0; i < st->n; i++) {
		if (st->inst[i].consul_role == RDB_ROLE_MASTER && st->inst[i].passing) {
			st->masters_passing++;
			st->master = (int)i;
		}
	}
	if (st->masters_passing != 1)
		st->master = -1;
	/* Probes run one after the other, each up to HEALTHCHECK_TIMEOUT: a catalog of
	 * thousands of unreachable instances must not keep a script check for hours. */
	for (size_t i = 0; i < st->n; i++) {
		if (i < MAX_PROBED)
			probe_redis(st, &st->inst[i]);
		else
			snprintf(st->inst[i].redis_err, sizeof(st->inst[i].redis_err),
			         "not probed: more than %d instances registered", MAX_PROBED);
	}
	if (st->n > MAX_PROBED)
		add_problem(st, "%zu instances registered; only the first %d were probed", st->n, MAX_PROBED);
	match_lock_holder(st);
	compute_lags(st);
	judge(st);
}

/* ---- failovers: LockIndex counts acquisitions; the state file dates the changes ---- */

/* One "name number" line of the state file into *v; 0, or -1 when the line is another one or bad. */
static int state_field(const char *line, const char *name, long long *v)
{
	size_t n = strlen(name);
	if (strncmp(line, name, n) != 0 || line[n] != ' ')
		return -1;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(line + n + 1, &end, 10);
	if (errno != 0 || end == line + n + 1 || (*end != '\n' && *end != '\0') || x < 0)
		return -1;
	*v = x;
	return 0;
}

static void read_state(const char *path, unsigned long long *idx, long long *at, int *have)
{
	*have = 0;
	/* Checked at start, but it may have been swapped since: never block, never follow. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return;
	FILE *f = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? fdopen(fd, "r") : NULL;
	if (f == NULL) {
		close(fd);
		return;
	}
	char line[128];
	long long v = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (state_field(line, "lock_index", &v) == 0) {
			*idx = (unsigned long long)v;
			*have = 1;
		} else if (state_field(line, "last_failover", &v) == 0) {
			*at = v;
		}
	}
	if (fclose(f) != 0)
		*have = 0;
}

static int write_state(const char *path, uint64_t idx, long long at)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	/* A new file of our own: never through a link planted at the predictable name. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		int saved = errno;
		if (fd >= 0) {
			close(fd);
			(void)unlink(tmp);
		}
		errno = saved;
		return -1;
	}
	fprintf(f, "lock_index %llu\nlast_failover %lld\n", (unsigned long long)idx, at);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

static void failovers(struct status *st)
{
	st->failovers = -1;
	if (!st->lock.present)
		return;
	/* The first acquisition makes the first master; every later one is a failover. */
	st->failovers = st->lock.lock_index > 0 ? (long long)st->lock.lock_index - 1 : 0;
	if (st->state_file[0] == '\0')
		return;
	unsigned long long idx = 0;
	long long at = 0;
	int have = 0;
	read_state(st->state_file, &idx, &at, &have);
	if (have && idx == st->lock.lock_index) {
		st->last_failover = at;
		return;
	}
	/* A change seen now is dated now: the run's period bounds the error. */
	if (have)
		at = (long long)time(NULL);
	st->last_failover = at;
	if (write_state(st->state_file, st->lock.lock_index, at) < 0)
		log_warn("cannot write the state file", "file", st->state_file, "reason", strerror(errno));
}

/* ---- Consul trouble and the master's standing ---- */

static void format_time(long long t, char *buf, size_t len);

/* Look at the master at hp: is it fenced, and does its Redis prove a failsafe hold? */
static void examine_master(struct status *st, const struct hostport *hp)
{
	struct modes *m = &st->modes;
	config_format_hostport(hp, m->addr, sizeof(m->addr));
	struct rdb_opts o;
	rdb_opts_from_config(&o, &st->cfg);
	o.addr = *hp;
	struct rdb_conn c;
	rdb_init(&c, &o);
	struct rdb_info in;
	m->fenced = -1;
	if (rdb_connect(&c) < 0 || rdb_info(&c, &in) < 0 || in.role != RDB_ROLE_MASTER) {
		rdb_close(&c);
		return;
	}
	m->redis_ok = 1;
	m->fenced = rdb_fenced(&c);
	m->proof_ok = failsafe_judge(&c, &m->proof) == 1;
	rdb_close(&c);
}

/* Through Consul: the lock holder's instance, else the passing master. */
static void modes_from_consul(struct status *st)
{
	const struct instance *m = st->master >= 0 ? &st->inst[st->master] : NULL;
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].lock_holder && st->inst[i].consul_role == RDB_ROLE_MASTER)
			m = &st->inst[i];
	if (m != NULL)
		examine_master(st, &m->hp);
}

/* Without Consul: REDIS_ADDR, and the master it replicates when it is a replica. */
static void modes_without_consul(struct status *st)
{
	struct rdb_info in;
	char err[256];
	if (peer_probe(&st->cfg, &st->cfg.redis_addr, &in, NULL, err, sizeof(err)) < 0)
		return;
	struct hostport hp = st->cfg.redis_addr;
	if (in.role == RDB_ROLE_REPLICA) {
		if (in.master_port <= 0) /* parked (127.0.0.1:0) or no master */
			return;
		hp.port = in.master_port;
		snprintf(hp.host, sizeof(hp.host), "%s", in.master_host);
		config_format_hostport(&st->cfg.redis_addr, st->modes.via, sizeof(st->modes.via));
	}
	examine_master(st, &hp);
}

/*
 * When Consul was first seen in trouble, kept in the --state file beside the failover
 * count: one more line, consul_down_since UNIXTIME (0 when Consul is fine).
 */
static void consul_since(struct status *st, int trouble)
{
	if (st->state_file[0] == '\0')
		return;
	FILE *f = fopen(st->state_file, "r");
	char lines[8][128];
	int n = 0;
	long long since = 0;
	char line[128];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (state_field(line, "consul_down_since", &since) == 0)
			continue;
		if (n < 8)
			snprintf(lines[n++], sizeof(lines[0]), "%s", line);
	}
	if (f != NULL)
		(void)fclose(f);
	long long now = (long long)time(NULL);
	long long want = trouble ? (since > 0 ? since : now) : 0;
	st->modes.down_since = want;
	if (want == since)
		return;
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", st->state_file, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	for (int i = 0; i < n; i++)
		fputs(lines[i], f);
	fprintf(f, "consul_down_since %lld\n", want);
	if (fclose(f) != 0 || rename(tmp, st->state_file) != 0) {
		log_warn("cannot write the state file", "file", st->state_file, "reason", strerror(errno));
		(void)unlink(tmp);
	}
}

/*
 * Human output: a line made printable first. Node names, addresses, the lock's
 * value, check statuses and Redis errors come from servers; a newline or an
 * escape sequence in one must not forge a table row or a "status:" line.
 */
static void __attribute__((format(printf, 1, 2))) out_line(const char *fmt, ...)
{
	char raw[2048], shown[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_printable(raw, shown, sizeof(shown));
	puts(shown);
}

/* The operator's lines: Consul's trouble, the master fenced, the failsafe hold. */
static void print_modes(const struct status *st, int unreachable)
{
	const struct modes *m = &st->modes;
	char when[64];
	format_time(m->down_since, when, sizeof(when));
	if (unreachable || m->no_leader)
		out_line("consul %s since %s%s", unreachable ? "unreachable" : "has no leader",
		       m->down_since > 0 ? when : "unknown", m->down_since > 0 ? "" : " (use --state to date it)");
	if (unreachable && st->consul_err[0] != '\0')
		out_line("consul error: %s", st->consul_err);
	if (m->addr[0] == '\0') {
		char a[300];
		config_format_hostport(&st->cfg.redis_addr, a, sizeof(a));
		if (unreachable)
			out_line("master: not found through redis %s", a);
		return;
	}
	if (m->via[0] != '\0')
		out_line("master %s (seen through %s)", m->addr, m->via);
	else if (unreachable)
		out_line("master %s", m->addr);
	if (m->fenced == 1)
		out_line("fenced: lock not confirmed (master %s refuses writes)", m->addr);
	if (m->proof.have_view && m->fenced == 1 && m->proof_ok)
		out_line("failsafe: %d/%d peers confirm; the fence stays until Consul confirms the lock",
		       m->proof.confirmed, m->proof.n);
	else if (m->proof.have_view)
		out_line("%s", m->proof.why);
}

/* ---- output ---- */

static const char *dash_ll(long long v, char *buf, size_t len)
{
	if (v < 0)
		return "-";
	snprintf(buf, len, "%lld", v);
	return buf;
}

static const char *link_text(const struct instance *in)
{
	if (!in->redis_ok || in->info.role != RDB_ROLE_REPLICA)
		return "-";
	return in->info.link_up ? "up" : "down";
}

static const char *fenced_text(const struct instance *in)
{
	if (!in->redis_ok)
		return "-";
	return in->fenced == 1 ? "yes" : in->fenced == 0 ? "no" : "?";
}

enum { NCOLS = 10 };

static void table_row(const struct instance *in, char cells[NCOLS][300])
{
	char num[32];
	snprintf(cells[0], 300, "%s", in->node);
	snprintf(cells[1], 300, "%s", in->addr);
	snprintf(cells[2], 300, "%s", role_label(in->consul_role));
	snprintf(cells[3], 300, "%s", redis_role(in));
	snprintf(cells[4], 300, "%s", in->lock_holder ? "held" : "-");
	snprintf(cells[5], 300, "%s", in->check);
	snprintf(cells[6], 300, "%s", dash_ll(in->redis_ok ? rdb_info_offset(&in->info) : -1, num, sizeof(num)));
	snprintf(cells[7], 300, "%s", dash_ll(in->lag, num, sizeof(num)));
	snprintf(cells[8], 300, "%s", link_text(in));
	snprintf(cells[9], 300, "%s", fenced_text(in));
	for (int c = 0; c < NCOLS; c++) {
		char shown[300];
		log_printable(cells[c], shown, sizeof(shown));
		memcpy(cells[c], shown, sizeof(shown));
	}
}

static void print_cells(char cells[NCOLS][300], const size_t *w)
{
	for (int c = 0; c < NCOLS; c++)
		if (c + 1 < NCOLS)
			printf("%-*s  ", (int)w[c], cells[c]);
		else
			printf("%s\n", cells[c]);
}

static void format_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
}

static void print_table(const struct status *st)
{
	static const char *head[NCOLS] = { "NODE", "ADDR", "ROLE(consul)", "ROLE(redis)", "LOCK",
	                                   "CHECK", "OFFSET", "LAG", "LINK", "FENCED" };
	char cells[NCOLS][300];
	size_t w[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		w[c] = strlen(head[c]);
	for (size_t i = 0; i < st->n; i++) {
		table_row(&st->inst[i], cells);
		for (int c = 0; c < NCOLS; c++)
			if (strlen(cells[c]) > w[c])
				w[c] = strlen(cells[c]);
	}
	for (int c = 0; c < NCOLS; c++)
		snprintf(cells[c], 300, "%s", head[c]);
	print_cells(cells, w);
	for (size_t i = 0; i < st->n; i++) {
		table_row(&st->inst[i], cells);
		print_cells(cells, w);
	}
	const struct lock_state *l = &st->lock;
	if (l->held)
		out_line("lock %s: held by %s, value %s, lock_index %llu", st->cfg.lock_key,
		         l->node[0] != '\0' ? l->node : "unknown node", l->value, (unsigned long long)l->lock_index);
	else
		out_line("lock %s: %s", st->cfg.lock_key, l->present ? "not held" : "absent");
	out_line("maintenance: %s", st->maintenance ? "on (failover paused)" : "off");
	print_modes(st, 0);
	if (st->switchover[0] != '\0')
		out_line("switchover: to %s in progress", st->switchover);
	if (st->master_offset >= 0)
		out_line("master offset published: %lld", st->master_offset);
	if (st->failovers >= 0) {
		char when[64];
		format_time(st->last_failover, when, sizeof(when));
		out_line("failovers: %lld, last %s", st->failovers, when);
	}
	for (size_t i = 0; i < st->nproblems; i++)
		out_line("problem: %s", st->problems[i]);
	for (size_t i = 0; i < st->nwarnings; i++)
		out_line("warning: %s", st->warnings[i]);
	out_line("status: %s", st->nproblems == 0 ? "healthy" : "unhealthy");
}

static void json_kv_str(struct json_buf *b, const char *key, const char *v, int comma)
{
	if (comma)
		json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":");
	json_buf_string(b, v);
}

static void json_kv_int(struct json_buf *b, const char *key, long long v, int null_when_negative)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":");
	if (v < 0 && null_when_negative)
		json_buf_raw(b, "null");
	else
		json_buf_int(b, v);
}

static void json_kv_bool(struct json_buf *b, const char *key, int v)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, v < 0 ? ":null" : v ? ":true" : ":false");
}

static void json_strings(struct json_buf *b, const char *key, const char (*list)[400], size_t n)
{
	json_buf_raw(b, ",");
	json_buf_string(b, key);
	json_buf_raw(b, ":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(b, ",");
		json_buf_string(b, list[i]);
	}
	json_buf_raw(b, "]");
}

static void json_redis(struct json_buf *b, const struct instance *in)
{
	json_buf_raw(b, ",\"redis\":{");
	json_kv_str(b, "role", redis_role(in), 0);
	if (!in->redis_ok) {
		json_kv_str(b, "error", in->redis_err, 1);
		json_buf_raw(b, "}");
		return;
	}
	if (in->info.role == RDB_ROLE_REPLICA) {
		struct hostport m = { .port = in->info.master_port };
		char addr[300];
		snprintf(m.host, sizeof(m.host), "%s", in->info.master_host);
		config_format_hostport(&m, addr, sizeof(addr));
		json_kv_str(b, "master", addr, 1);
		json_kv_str(b, "link", in->info.link_up ? "up" : "down", 1);
	}
	json_kv_int(b, "offset", rdb_info_offset(&in->info), 1);
	json_kv_bool(b, "fenced", in->fenced);
	json_kv_str(b, "run_id", in->info.run_id, 1);
	json_buf_raw(b, "}");
}

static void json_instance(struct json_buf *b, const struct instance *in)
{
	json_buf_raw(b, "{");
	json_kv_str(b, "node", in->node, 0);
	json_kv_str(b, "addr", in->addr, 1);
	json_kv_str(b, "service", in->service, 1);
	json_kv_str(b, "service_id", in->service_id, 1);
	json_kv_str(b, "role", role_label(in->consul_role), 1);
	json_kv_str(b, "check", in->check, 1);
	json_kv_bool(b, "passing", in->passing);
	json_kv_bool(b, "lock_holder", in->lock_holder);
	json_kv_int(b, "lag_bytes", in->lag, 1);
	json_buf_raw(b, ",\"meta\":{");
	json_kv_str(b, "role", in->meta_role, 0);
	json_kv_str(b, "offset", in->meta_offset, 1);
	json_kv_str(b, "run_id", in->meta_run_id, 1);
	json_buf_raw(b, "}");
	json_redis(b, in);
	json_buf_raw(b, "}");
}

static void json_lock(struct json_buf *b, const struct status *st)
{
	const struct lock_state *l = &st->lock;
	json_buf_raw(b, ",\"lock\":{");
	json_kv_str(b, "key", st->cfg.lock_key, 0);
	json_kv_bool(b, "present", l->present);
	json_kv_bool(b, "held", l->held);
	if (l->held) {
		json_kv_str(b, "session", l->session, 1);
		json_kv_str(b, "node", l->node, 1);
	}
	if (l->present) {
		json_kv_str(b, "value", l->value, 1);
		json_kv_int(b, "lock_index", (long long)l->lock_index, 0);
		json_kv_int(b, "modify_index", (long long)l->modify_index, 0);
	}
	json_buf_raw(b, "}");
}

/* "consul": reachable, leader, trouble_since; "master_standing": the master's fence and failsafe proof. */
static void json_modes(struct json_buf *b, const struct status *st)
{
	const struct modes *m = &st->modes;
	int reachable = st->consul_err[0] == '\0';
	json_buf_raw(b, reachable ? ",\"consul\":{\"reachable\":true" : ",\"consul\":{\"reachable\":false");
	json_kv_bool(b, "leader", reachable && !m->no_leader);
	json_kv_int(b, "trouble_since", m->down_since > 0 ? m->down_since : -1, 1);
	json_buf_raw(b, "}");
	if (m->addr[0] == '\0') {
		json_buf_raw(b, ",\"master_standing\":null");
		return;
	}
	json_buf_raw(b, ",\"master_standing\":{");
	json_kv_str(b, "addr", m->addr, 0);
	json_kv_bool(b, "fenced", m->fenced);
	if (!m->proof.have_view) {
		json_buf_raw(b, ",\"failsafe\":null}");
		return;
	}
	json_buf_raw(b, ",\"failsafe\":{");
	json_kv_str(b, "proof", m->proof.why, 0);
	json_kv_int(b, "peers", m->proof.n, 0);
	json_kv_int(b, "confirmed", m->proof.confirmed, 0);
	json_kv_bool(b, "holding", m->proof_ok && m->fenced == 0);
	json_buf_raw(b, "}}");
}

static const char *status_word(const struct status *st)
{
	return st->consul_err[0] != '\0' ? "unavailable" : st->nproblems == 0 ? "healthy" : "unhealthy";
}

static void print_json(const struct status *st)
{
	struct json_buf b = { 0 };
	json_buf_raw(&b, "{");
	json_kv_str(&b, "status", status_word(st), 0);
	json_kv_bool(&b, "healthy", st->consul_err[0] == '\0' && st->nproblems == 0);
	json_strings(&b, "problems", st->problems, st->nproblems);
	json_strings(&b, "warnings", st->warnings, st->nwarnings);
	if (st->consul_err[0] != '\0')
		json_kv_str(&b, "error", st->consul_err, 1);
	json_modes(&b, st);
	if (st->consul_err[0] == '\0') {
		json_kv_int(&b, "masters_passing", st->masters_passing, 0);
		json_kv_int(&b, "max_lag_bytes", st->cfg.redis_max_lag, 0);
		json_kv_int(&b, "failovers_total", st->failovers, 1);
		json_kv_int(&b, "last_failover_timestamp_seconds", st->last_failover > 0 ? st->last_failover : -1, 1);
		json_lock(&b, st);
		json_kv_bool(&b, "maintenance", st->maintenance);
		if (st->switchover[0] != '\0')
			json_kv_str(&b, "switchover_to", st->switchover, 1);
		else
			json_buf_raw(&b, ",\"switchover_to\":null");
		json_kv_int(&b, "master_offset_published", st->master_offset, 1);
		json_buf_raw(&b, ",\"instances\":[");
		for (size_t i = 0; i < st->n; i++) {
			if (i > 0)
				json_buf_raw(&b, ",");
			json_instance(&b, &st->inst[i]);
		}
		json_buf_raw(&b, "]");
	}
	json_buf_raw(&b, "}\n");
	if (b.failed)
		log_die_line("cannot format the JSON: out of memory");
	else
		fputs(b.data, stdout);
	json_buf_free(&b);
}

/* A Prometheus label value: printable UTF-8 (the format needs it), backslash and quote escaped. */
static void prom_label(const char *raw)
{
	char shown[600];
	log_printable(raw, shown, sizeof(shown));
	for (const char *s = shown; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static void prom_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_instance(const char *metric, const struct instance *in, const char *role, long long v)
{
	printf("%s{node=\"", metric);
	prom_label(in->node);
	fputs("\",addr=\"", stdout);
	prom_label(in->addr);
	if (role != NULL) {
		fputs("\",role=\"", stdout);
		prom_label(role);
	}
	printf("\"} %lld\n", v);
}

static void prom_instances(const struct status *st)
{
	prom_head("resec_role", "gauge", "Role an instance is registered with in Consul (always 1).");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_role", &st->inst[i], role_label(st->inst[i].consul_role), 1);
	prom_head("resec_check_passing", "gauge", "1 when all the instance's Consul checks pass.");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_check_passing", &st->inst[i], NULL, st->inst[i].passing);
	prom_head("resec_redis_up", "gauge", "1 when the instance's Redis answered INFO.");
	for (size_t i = 0; i < st->n; i++)
		prom_instance("resec_redis_up", &st->inst[i], NULL, st->inst[i].redis_ok);
	prom_head("resec_fenced", "gauge", "1 when the instance's Redis is fenced (refuses writes).");
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].fenced >= 0)
			prom_instance("resec_fenced", &st->inst[i], NULL, st->inst[i].fenced);
	prom_head("resec_replication_lag_bytes", "gauge", "Master offset minus replica offset.");
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].lag >= 0)
			prom_instance("resec_replication_lag_bytes", &st->inst[i], NULL, st->inst[i].lag);
}

/* The master's standing, also when Consul does not answer. */
static void prom_modes(const struct status *st)
{
	const struct modes *m = &st->modes;
	prom_head("resec_consul_leader", "gauge", "1 when Consul answered with a leader.");
	printf("resec_consul_leader %d\n", st->consul_err[0] == '\0' && !m->no_leader);
	if (m->fenced >= 0) {
		prom_head("resec_master_fenced", "gauge", "1 when the master's Redis refuses writes (lock not confirmed).");
		printf("resec_master_fenced %d\n", m->fenced);
	}
	if (m->proof.have_view) {
		prom_head("resec_failsafe_peers", "gauge", "Peers the failsafe master must hear from.");
		printf("resec_failsafe_peers %d\n", m->proof.n);
		prom_head("resec_failsafe_peers_confirmed", "gauge", "Of them, connected replicas reporting Consul unreachable.");
		printf("resec_failsafe_peers_confirmed %d\n", m->proof.confirmed);
	}
}

static void print_prom(const struct status *st)
{
	int up = st->consul_err[0] == '\0';
	prom_head("resec_up", "gauge", "1 when Consul answered.");
	printf("resec_up %d\n", up);
	prom_modes(st);
	if (!up)
		return;
	prom_head("resec_cluster_healthy", "gauge", "1 when resec-status finds no problem.");
	printf("resec_cluster_healthy %d\n", st->nproblems == 0);
	prom_head("resec_master_passing_count", "gauge", "Passing instances of the master service.");
	printf("resec_master_passing_count %d\n", st->masters_passing);
	prom_head("resec_lock_held", "gauge", "1 when the lock key has a holder session.");
	printf("resec_lock_held %d\n", st->lock.held);
	prom_head("resec_maintenance", "gauge", "1 when maintenance mode pauses automatic failover.");
	printf("resec_maintenance %d\n", st->maintenance);
	prom_instances(st);
	if (st->failovers >= 0) {
		prom_head("resec_failovers_total", "counter", "Lock acquisitions after the first (LockIndex - 1).");
		printf("resec_failovers_total %lld\n", st->failovers);
	}
	if (st->last_failover > 0) {
		prom_head("resec_last_failover_timestamp_seconds", "gauge", "When a new LockIndex was first seen.");
		printf("resec_last_failover_timestamp_seconds %lld\n", st->last_failover);
	}
}

static int output(const struct status *st)
{
	if (st->mode == OUT_JSON)
		print_json(st);
	else if (st->mode == OUT_PROM)
		print_prom(st);
	else if (st->consul_err[0] == '\0')
		print_table(st);
	else {
		print_modes(st, 1);
		printf("status: unavailable\n");
	}
	if (fflush(stdout) != 0) {
		log_die_line("cannot write the output: %s", strerror(errno));
		return EXIT_UNAVAILABLE;
	}
	if (st->consul_err[0] != '\0') {
		log_die_line("%s", st->consul_err);
		return EXIT_UNAVAILABLE;
	}
	return st->nproblems == 0 ? 0 : EXIT_NO;
}

/* The election keys beside the lock key: maintenance, a switchover, the master's published offset. */
static int read_flags(struct status *st)
{
	static struct peer_flags f;
	if (peer_flags_read(st->consul, &st->cfg, &f) != CONSUL_OK ||
	    peer_switchover_check(st->consul, &st->cfg, &f) != CONSUL_OK) {
		set_consul_err(st, "cannot read the election keys: %s", st->consul->err);
		return -1;
	}
	/* Ignored by the election, but someone meant something by them. */
	for (size_t i = 0; i < f.nbad; i++)
		add_problem(st, "%s", f.bad[i]);
	st->maintenance = f.maintenance;
	snprintf(st->switchover, sizeof(st->switchover), "%s", f.switchover);
	st->master_offset = f.master_offset;
	if (f.maintenance)
		add_warning(st, "maintenance mode on: automatic failover paused");
	if (f.switchover[0] != '\0')
		add_warning(st, "a planned switchover to %s is in progress", f.switchover);
	return 0;
}

static int read_consul(struct status *st)
{
	char err[256] = "";
	st->consul = consul_new(&st->cfg, err, sizeof(err));
	if (st->consul == NULL) {
		log_die_line("cannot set up the consul client: %s", err);
		return EXIT_USAGE;
	}
	int64_t t = st->cfg.healthcheck_timeout_ms;
	consul_set_timeouts(st->consul, t, t);
	if (read_services(st) == 0 && read_lock(st) == 0 && read_flags(st) == 0)
		return 0;
	/* No leader: the servers still answer stale reads, and the cluster can be shown from them. */
	if (strstr(st->consul_err, "No cluster leader") == NULL)
		return EXIT_UNAVAILABLE;
	free(st->inst);
	st->inst = NULL;
	st->n = 0;
	memset(&st->lock, 0, sizeof(st->lock));
	st->consul_err[0] = '\0';
	st->stale = 1;
	st->modes.no_leader = 1;
	if (read_services(st) < 0 || read_lock(st) < 0)
		return EXIT_UNAVAILABLE;
	add_problem(st, "consul has no leader: no failover can happen; the instances and the lock are read stale");
	return 0;
}

int main(int argc, char **argv)
{
	static struct status st = { .master_offset = -1 };
	(void)proc_ignore_sigpipe(); /* a closed peer or reader is EPIPE, never a kill */
	int first = config_main(&st.cfg, "resec-status", usage, argc, argv, CONFIG_PERMUTE, options, on_option, &st);
	if (first < argc) {
		log_die_line("unexpected argument: \"%s\"", argv[first]);
		return EXIT_USAGE;
	}
	int rc = read_consul(&st);
	if (rc == EXIT_USAGE)
		return rc;
	if (rc == 0) {
		survey(&st);
		failovers(&st);
		modes_from_consul(&st);
	} else {
		modes_without_consul(&st);
	}
	consul_since(&st, rc != 0 || st.modes.no_leader);
	rc = output(&st);
	consul_free(st.consul);
	free(st.inst);
	return rc;
}
