/* SPDX-License-Identifier: MIT */
/* health: what resec-health's commands share: one look at Redis, its verdict, a short Consul client. */
#ifndef RESEC_HEALTH_HEALTH_H
#define RESEC_HEALTH_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "consul.h"
#include "redis.h"

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

/* Look at Redis within one HEALTHCHECK_TIMEOUT as a whole; an enum verdict, the reason in h->reason (look.c). */
int health_evaluate(struct health *h);

/* Flush stdout: the verdict is the exit status, a reader that went away is said on stderr. */
void health_flush(void);

/* Print "healthy role=R offset=N" from the last look. */
void health_print_healthy(const struct health *h);

/* Exit code of an unhealthy verdict: 64 for bad credentials or a refused command, else 1. */
int health_unhealthy_code(const struct health *h);

/* The word consul_check_ttl takes for a verdict: pass, warn or fail. */
const char *health_ttl_word(int v);

/* A Consul client for a short exchange: every request bounded by HEALTHCHECK_TIMEOUT; NULL with err set. */
struct consul *health_short_client(const struct health *h, char *err, size_t errlen);

/* The same; NULL with the fatal line printed when it cannot be set up. */
struct consul *health_consul(const struct health *h);

/* The commands, each returning the exit status: run and deregister (run.c), eligible (eligible.c). */
int health_run(struct health *h);
int health_deregister(struct health *h);
int health_eligible(struct health *h);

#endif
