/* SPDX-License-Identifier: MIT */
/* standing: the master's standing when Consul is in trouble: fenced, and its failsafe proof. */
#include <stdio.h>
#include <string.h>

#include "peer.h"
#include "status.h"

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
void modes_from_consul(struct status *st)
{
	const struct instance *m = st->master >= 0 ? &st->inst[st->master] : NULL;
	for (size_t i = 0; i < st->n; i++)
		if (st->inst[i].lock_holder && st->inst[i].consul_role == RDB_ROLE_MASTER)
			m = &st->inst[i];
	if (m != NULL)
		examine_master(st, &m->hp);
}

/* Without Consul: REDIS_ADDR, and the master it replicates when it is a replica. */
void modes_without_consul(struct status *st)
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
