/* SPDX-License-Identifier: MIT */
/* resec-failsafe: the failsafe channel: peers report to the master's Redis, the master keeps its view and judges. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "config.h"
#include "consul.h"
#include "failsafe.h"
#include "log.h"
#include "peer.h"
#include "proc.h"
#include "redis.h"

static const char usage[] =
	"usage: resec-failsafe [options] report | keep | check\n"
	"Failsafe mode (RESEC_FAILSAFE, docs/election.md): proves, without Consul, that no other node\n"
	"can become master while the master's lock cannot be confirmed.\n"
	"  report   on a replica: ask Consul every second whether it answers, and say so to the master\n"
	"           on a connection to the master's Redis (CLIENT SETNAME resec-fs-peer:PORT:up|down,\n"
	"           refreshed every 250ms); runs until TERM\n"
	"  keep     on the master: keep the view of the peers (every registered replica) in the name of a\n"
	"           connection to this Redis and in <lock dir>/failsafe; runs until TERM\n"
	"  check    on the master: print the proof in one line; exit 0 when every peer of the view is a\n"
	"           connected replica reporting that it cannot reach Consul, 1 when not, 69 Redis unreachable\n";

/* ---- shared ---- */

/* Wait up to ms for a stop signal: 1 when one came. */
static int nap(int64_t ms)
{
	struct pollfd p = { .fd = proc_signal_fd(), .events = POLLIN, .revents = 0 };
	(void)poll(&p, 1, ms < 0 ? 0 : (int)(ms > 60000 ? 60000 : ms));
	int sig, stop = 0;
	while ((sig = proc_signal_next()) != 0)
		stop |= sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
	return stop;
}

static int setup_long_running(void)
{
	char err[256];
	if (proc_signals_init(err, sizeof(err)) < 0) {
		log_die_line("%s", err);
		return -1;
	}
	/* Each runs beside the orchestrator's other children and must not outlive it. */
	proc_die_with_parent(SIGTERM);
	return 0;
}

static struct consul *new_consul(const struct resec_config *cfg, int64_t timeout_ms)
{
	char err[256];
	struct consul *c = consul_new(cfg, err, sizeof(err));
	if (c == NULL)
		log_die_line("cannot set up the Consul client: %s", err);
	else
		consul_set_timeouts(c, timeout_ms, timeout_ms);
	return c;
}

/* Connect c (initialised) if needed and name it; 0 or -1 (c closed). */
static int named(struct rdb_conn *c, const char *name)
{
	if ((!rdb_connected(c) && rdb_connect(c) < 0) || failsafe_set_name(c, name) < 0) {
		rdb_close(c);
		return -1;
	}
	return 0;
}

/* ---- report (a replica) ---- */

struct reporter {
	struct resec_config *cfg;
	struct consul *c;
	struct rdb_conn local;
	struct rdb_conn master;        /* to the master's Redis: the report rides on it */
	struct hostport master_addr;   /* port 0: none (a master, parked, or not known) */
	int consul_up;                 /* the last probe's answer */
	int said;                      /* the state last logged: -1 none */
};

/* Ask Consul what acquiring needs: a consistent read (the leader answers, with its quorum). */
static void probe_consul(struct reporter *r)
{
	struct consul_query q = { .consistent = 1 };
	struct json_kv_entry e;
	memset(&e, 0, sizeof(e));
	consul_set_deadline(r->c, clock_now_ms() + FAILSAFE_PROBE_MS * 7 / 10);
	int rc = consul_kv_get(r->c, r->cfg->lock_key, &q, &e);
	consul_set_deadline(r->c, 0);
	json_kv_entry_clear(&e);
	r->consul_up = rc == CONSUL_OK || rc == CONSUL_ABSENT;
	if (r->consul_up != r->said) {
		if (r->consul_up)
			log_info("failsafe: consul answers; telling the master", "master_port", log_int(r->master_addr.port));
		else
			log_warn("failsafe: consul unreachable; telling the master", "reason", r->c->err);
		r->said = r->consul_up;
	}
}

/* The master the local Redis replicates, or port 0 (a master, parked, or unknown). */
static void find_master(struct reporter *r)
{
	struct rdb_info in;
	struct hostport none = { .port = 0 };
	if ((!rdb_connected(&r->local) && rdb_connect(&r->local) < 0) || rdb_info(&r->local, &in) < 0) {
		rdb_close(&r->local);
		r->master_addr = none;
		return;
	}
	struct hostport m = { .port = in.master_port };
	snprintf(m.host, sizeof(m.host), "%s", in.master_host);
	if (in.role != RDB_ROLE_REPLICA || m.port <= 0)
		m = none;
	if (m.port != r->master_addr.port || strcmp(m.host, r->master_addr.host) != 0) {
		rdb_close(&r->master);
		r->master_addr = m;
		if (m.port > 0) {
			struct rdb_opts o;
			rdb_opts_from_config(&o, r->cfg);
			o.addr = m;
			rdb_init(&r->master, &o);
		}
	}
}

/* The connection to the local Redis, from the shared settings (not yet connected). */
static void local_redis(const struct resec_config *cfg, struct rdb_conn *c)
{
	struct rdb_opts o;
	rdb_opts_from_config(&o, cfg);
	rdb_init(c, &o);
}

static int cmd_report(struct resec_config *cfg)
{
	if (setup_long_running() < 0)
		return EXIT_UNAVAILABLE;
	struct reporter r = { .cfg = cfg, .said = -1 };
	r.c = new_consul(cfg, FAILSAFE_PROBE_MS);
	if (r.c == NULL)
		return EXIT_USAGE;
	local_redis(cfg, &r.local);
	char name[64];
	int64_t next_probe = 0;
	for (;;) {
		int64_t now = clock_now_ms();
		if (now >= next_probe) {
			next_probe = now + FAILSAFE_PROBE_MS;
			find_master(&r);
			probe_consul(&r);
		}
		snprintf(name, sizeof(name), "%s%d:%s", FAILSAFE_PEER_PREFIX, cfg->announce_addr.port,
		         r.consul_up ? "up" : "down");
		if (r.master_addr.port > 0 && named(&r.master, name) < 0)
			log_debug("failsafe: cannot report to the master", "reason", r.master.err);
		if (nap(FAILSAFE_REPORT_MS))
			break;
	}
	rdb_close(&r.master);
	rdb_close(&r.local);
	consul_free(r.c);
	return 0;
}

/* ---- keep (the master) ---- */

enum { VIEW_LEN = 2048, KEEP_WAIT_MS = 30000 };

/* 1 when the comma-separated list holds item exactly. */
static int list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

/* The registered replicas other than this Redis, as "h:p,h:p" in catalog order; -1 on a Consul error. */
static int read_view(struct consul *c, const struct resec_config *cfg, const char *run_id, uint64_t *index,
                     char *view, size_t len)
{
	char name[300];
	peer_service_name(cfg, 0, name, sizeof(name));
	struct consul_query q = { .index = *index, .wait_ms = KEEP_WAIT_MS };
	struct json_health_entry *e = NULL;
	size_t n = 0;
	int rc = consul_health_service(c, name, NULL, 0, &q, &e, &n);
	if (rc != CONSUL_OK)
		return -1;
	*index = c->index < *index ? 0 : c->index;
	size_t used = 0;
	view[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (strcmp(peer_meta(&e[i], "run_id"), run_id) == 0)
			continue;
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		char a[300];
		config_format_hostport(&hp, a, sizeof(a));
		if (hp.host[0] == '\0' || list_has(view, a))
			continue;
		int w = snprintf(view + used, len - used, "%s%s", used > 0 ? "," : "", a);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	json_health_free(e, n);
	return 0;
}

/* a, plus every entry of b that a lacks. */
static void view_union(const char *a, const char *b, char *out, size_t len)
{
	snprintf(out, len, "%s", a);
	char copy[VIEW_LEN];
	snprintf(copy, sizeof(copy), "%s", b);
	char *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (list_has(out, w))
			continue;
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", used > 0 ? "," : "", w);
	}
}

struct keeper {
	struct resec_config *cfg;
	struct consul *c;
	struct rdb_conn local;
	char run_id[41];
	char view[VIEW_LEN];      /* what the connection's name says */
	int have_view;
};

static int publish_name(struct keeper *k, const char *view)
{
	char name[VIEW_LEN + 32];
	snprintf(name, sizeof(name), "%s%s", FAILSAFE_VIEW_PREFIX, view);
	if (named(&k->local, name) < 0) {
		log_warn("failsafe: cannot name the view's connection", "reason", k->local.err);
		return -1;
	}
	snprintf(k->view, sizeof(k->view), "%s", view);
	k->have_view = 1;
	return 0;
}

/*
 * A new view from Consul: the union goes on the connection first (the master then waits for
 * the new peers too), then D/failsafe (the gates let exactly these contend), then the new view
 * alone: at no moment may a node contend that the master does not wait for.
 */
static void update_view(struct keeper *k, const char *fresh)
{
	if (k->have_view && strcmp(fresh, k->view) == 0)
		return;
	char both[VIEW_LEN];
	view_union(k->have_view ? k->view : "", fresh, both, sizeof(both));
	if (publish_name(k, both) < 0)
		return;
	char key[600];
	peer_key(k->cfg, "failsafe", key, sizeof(key));
	if (consul_kv_put(k->c, key, 0, fresh, strlen(fresh)) != CONSUL_OK) {
		log_warn("failsafe: cannot write the members", "key", key, "reason", k->c->err);
		return;
	}
	if (publish_name(k, fresh) == 0)
		log_info("failsafe: peers the master waits for", "view", fresh[0] != '\0' ? fresh : "(none)");
}

static int cmd_keep(struct resec_config *cfg)
{
	if (setup_long_running() < 0)
		return EXIT_UNAVAILABLE;
	struct keeper k = { .cfg = cfg };
	k.c = new_consul(cfg, cfg->healthcheck_timeout_ms);
	if (k.c == NULL)
		return EXIT_USAGE;
	consul_set_cancel_fd(k.c, proc_signal_fd());
	local_redis(cfg, &k.local);
	uint64_t index = 0;
	struct backoff retry;
	backoff_init(&retry, 500, 10000);
	for (;;) {
		struct rdb_info in;
		if (!k.have_view || !rdb_connected(&k.local)) {
			if ((!rdb_connected(&k.local) && rdb_connect(&k.local) < 0) || rdb_info(&k.local, &in) < 0) {
				rdb_close(&k.local);
				if (nap(retry.base_ms))
					break;
				continue;
			}
			snprintf(k.run_id, sizeof(k.run_id), "%s", in.run_id);
			if (k.have_view && publish_name(&k, k.view) < 0)
				k.have_view = 0;
		}
		char fresh[VIEW_LEN];
		if (read_view(k.c, cfg, k.run_id, &index, fresh, sizeof(fresh)) < 0) {
			if (nap(0))
				break;
			log_debug("failsafe: cannot read the replicas", "reason", k.c->err);
			index = 0;
			if (nap(backoff_next(&retry)))
				break;
			continue;
		}
		backoff_reset(&retry);
		update_view(&k, fresh);
		/* The connection must stay: its name is the view. Redis closes idle clients only when told to. */
		if (rdb_connected(&k.local) && rdb_closed_by_peer(&k.local))
			rdb_close(&k.local);
		if (nap(0))
			break;
	}
	rdb_close(&k.local);
	consul_free(k.c);
	return 0;
}

/* ---- check (the master, one-shot) ---- */

static int cmd_check(struct resec_config *cfg)
{
	struct rdb_conn c;
	local_redis(cfg, &c);
	struct failsafe_proof p;
	int r = rdb_connect(&c) < 0 ? -1 : failsafe_judge(&c, &p);
	if (r < 0) {
		printf("failsafe: cannot read this redis: %s\n", c.err);
		rdb_close(&c);
		return EXIT_UNAVAILABLE;
	}
	rdb_close(&c);
	printf("%s\n", p.why);
	return r == 1 ? 0 : EXIT_NO;
}

int main(int argc, char **argv)
{
	static struct resec_config cfg;
	int first = config_main(&cfg, "resec-failsafe", usage, argc, argv, CONFIG_PERMUTE, NULL, NULL, NULL);
	const char *cmd = first < argc ? argv[first] : "";
	if (argc - first > 1) {
		log_die_line("too many arguments: \"%s\"", argv[first + 1]);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "report") == 0)
		return cmd_report(&cfg);
	if (strcmp(cmd, "keep") == 0)
		return cmd_keep(&cfg);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(&cfg);
	log_die_line(cmd[0] == '\0' ? "missing command: report, keep or check" : "unknown command \"%s\"", cmd);
	return EXIT_USAGE;
}
