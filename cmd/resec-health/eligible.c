/* SPDX-License-Identifier: MIT */
/* eligible: gather what the election needs (the keys, our Redis, the peers' Redis) and ask common/elect.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "health.h"
#include "log.h"
#include "peer.h"
#include "probe.h"

/*
 * Read the replica service: our own entry (Meta run_id is ours) names our
 * address as peers see it, which keys our priority override; every other entry
 * is a peer, into a malloc'd *out. The peers' Redis are looked at all at once
 * (common/probe.c): dead peers cost one HEALTHCHECK_TIMEOUT in all, so the gate
 * stays well within resec-lock's bound. A peer not looked at, or whose Redis is
 * ours (same run_id), stays unanswered: never usable. 0, or -1 on a Consul error.
 */
static int survey_peers(const struct health *h, struct consul *c, const struct peer_flags *f,
                        struct elect_node *self, struct elect_node **out, size_t *nout)
{
	char name[300];
	peer_service_name(&h->cfg, 0, name, sizeof(name));
	struct json_health_entry *e = NULL;
	size_t n = 0;
	if (consul_health_service(c, name, NULL, 0, NULL, &e, &n) != CONSUL_OK)
		return -1;
	struct elect_node *peers = calloc(n + 1, sizeof(*peers));
	struct probe *pr = calloc(n + 1, sizeof(*pr));
	size_t *of = calloc(n + 1, sizeof(*of)); /* the peer each probe is for */
	size_t np = 0, nprobe = 0;
	for (size_t i = 0; i < n && peers != NULL && pr != NULL && of != NULL; i++) {
		struct hostport hp = { .port = 0 };
		peer_entry_addr(&e[i], &hp);
		if (strcmp(peer_meta(&e[i], "run_id"), h->info.run_id) == 0) {
			config_format_hostport(&hp, self->addr, sizeof(self->addr));
			self->priority = peer_priority(f, self->addr, self->priority);
			continue;
		}
		struct elect_node *p = &peers[np];
		config_format_hostport(&hp, p->addr, sizeof(p->addr));
		p->priority = peer_priority(f, p->addr, peer_meta_priority(&e[i], 100));
		/* A priority-0 peer is never usable: no need to look at it. */
		if (p->priority != 0) {
			pr[nprobe].hp = hp;
			of[nprobe++] = np;
		}
		np++;
	}
	json_health_free(e, n);
	if (peers == NULL || pr == NULL || of == NULL) {
		free(peers);
		free(pr);
		free(of);
		snprintf(c->err, sizeof(c->err), "out of memory for %zu peers", n);
		return -1;
	}
	probe_many(&h->cfg, pr, nprobe);
	for (size_t k = 0; k < nprobe; k++)
		if (pr[k].ok && strcmp(pr[k].info.run_id, h->info.run_id) != 0)
			elect_node_from_info(&peers[of[k]], &pr[k].info);
	free(pr);
	free(of);
	*out = peers;
	*nout = np;
	return 0;
}

/* How long the lock has been free, from resec-lock's gate environment (0 when unknown). */
static int64_t free_for_ms(void)
{
	const char *v = getenv("RESEC_LOCK_FREE_MS");
	return v != NULL ? strtoll(v, NULL, 10) : 0;
}

/* Print why as one printable line (addresses and errors in it come from Consul and Redis); code. */
static int say(int code, const char *why)
{
	char shown[1024];
	log_printable(why, shown, sizeof(shown));
	puts(shown);
	health_flush();
	return code;
}

/* Consul failed: the gate counts 69 as wait. */
static int unreachable(const struct consul *c)
{
	char why[1200];
	snprintf(why, sizeof(why), "consul unreachable: %s", c->err);
	return say(EXIT_UNAVAILABLE, why);
}

/* What the election keys and the settings say, for elect. */
static void cluster_of(const struct health *h, const struct peer_flags *f, struct elect_cluster *ec)
{
	memset(ec, 0, sizeof(*ec));
	ec->maintenance = f->maintenance;
	ec->switchover = f->switchover;
	ec->master_offset = f->master_offset;
	ec->max_lag = h->cfg.redis_max_lag;
	ec->failsafe_members = h->cfg.failsafe && f->failsafe_set ? f->failsafe : NULL;
	ec->free_ms = free_for_ms();
	ec->defer_ms = elect_defer_ms(h->cfg.healthcheck_interval_ms, h->cfg.lock_delay_ms);
}

/* Maintenance is decided before any look at Redis: a paused cluster costs one KV read per gate run. */
static int decide(struct health *h, struct consul *c)
{
	static struct peer_flags f;
	struct elect_cluster ec;
	char why[1024];
	/* A switchover key naming no node of the cluster is ignored, not obeyed for ever. */
	if (peer_flags_read(c, &h->cfg, &f) != CONSUL_OK || peer_switchover_check(c, &h->cfg, &f) != CONSUL_OK)
		return unreachable(c);
	cluster_of(h, &f, &ec);
	if (elect_paused(&ec, why, sizeof(why)))
		return say(EXIT_NO, why);
	if (health_evaluate(h) == V_UNHEALTHY) {
		snprintf(why, sizeof(why), "local redis unhealthy: %s", h->reason);
		return say(EXIT_NO, why);
	}
	struct elect_node self, *peers = NULL;
	size_t n = 0;
	memset(&self, 0, sizeof(self));
	config_format_hostport(&h->cfg.announce_addr, self.addr, sizeof(self.addr));
	self.priority = peer_priority(&f, self.addr, h->cfg.redis_priority);
	elect_node_from_info(&self, &h->info);
	if (survey_peers(h, c, &f, &self, &peers, &n) < 0)
		return unreachable(c);
	int verdict = elect_decide(&ec, &self, peers, n, why, sizeof(why));
	free(peers);
	return say(verdict == ELECT_CONTEND ? 0 : EXIT_NO, why);
}

int health_eligible(struct health *h)
{
	struct consul *c = health_consul(h);
	if (c == NULL)
		return EXIT_USAGE;
	int rc = decide(h, c);
	rdb_close(&h->conn);
	consul_free(c);
	return rc;
}
