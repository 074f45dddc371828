/* SPDX-License-Identifier: MIT */
/* status: what resec-status gathers (Consul, the Redis servers, the state file) and its renderers share. */
#ifndef RESEC_STATUS_STATUS_H
#define RESEC_STATUS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "consul.h"
#include "failsafe.h"
#include "redis.h"

enum { OUT_TABLE = 0, OUT_JSON, OUT_PROM };

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

/* A problem (the cluster is unhealthy) or a warning, one line each, past MAX_NOTES dropped (main.c). */
void status_note(struct status *st, int problem, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define add_problem(st, ...) status_note((st), 1, __VA_ARGS__)
#define add_warning(st, ...) status_note((st), 0, __VA_ARGS__)

/* Gathering. Consul (gather.c): the instances, the lock and the election keys; 0, or an exit code
 * with st->consul_err set. */
int read_consul(struct status *st);

/* The Redis servers and the verdict (survey.c): probe every instance, lags, problems and warnings. */
void survey(struct status *st);

/* "master", "replica" or "unknown"; an instance's role in Redis, "down" when it did not answer. */
const char *role_label(int role);
const char *redis_role(const struct instance *in);

/* The state file (state.c): failovers dated across runs; when Consul was first seen in trouble. */
void failovers(struct status *st);
void consul_since(struct status *st, int trouble);

/* The master's standing (standing.c): through Consul, or from REDIS_ADDR without it. */
void modes_from_consul(struct status *st);
void modes_without_consul(struct status *st);

/* Rendering: the table and the operator's lines (table.c), JSON and Prometheus text (export.c). */
void print_table(const struct status *st);
void print_modes(const struct status *st, int unreachable);
void print_json(const struct status *st);
void print_prom(const struct status *st);

#endif
