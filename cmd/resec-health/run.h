/* SPDX-License-Identifier: MIT */
/* run: resec-health run's state, shared by its loop (run.c) and its Consul registration (register.c). */
#ifndef RESEC_HEALTH_RUN_H
#define RESEC_HEALTH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "health.h"
#include "masterdown.h"

enum { MAX_TAGS = 32 };

/* run's exit when its registered check may still pass: Consul did not take the hand-off's
 * warning, or the failed check at an unhealthy exit (scripts/resec then deregisters the
 * master instance before the lock may go, S2). */
enum { EXIT_PASSING = EXIT_TEMPFAIL };

struct runner {
	struct health *h;
	struct consul *consul;
	int cancel_fd;              /* epoll set of the signal pipe and the Redis socket: Consul's cancel fd */
	int watched_fd;             /* the Redis socket in cancel_fd, -1 when none */
	char service_id[400];
	char check_id[420];
	char name[160];
	const char *role_name;      /* "master", or CONSUL_REPLICA_ROLE_NAME */
	char tag_buf[512];
	const char *tags[MAX_TAGS];
	size_t ntags;
	int registered;             /* 1 once Consul accepted the registration */
	int update_in_doubt;        /* the last check update got no answer: it may still land (register.c) */
	struct backoff fenced_look; /* the next look at a fenced master, doubling while it stays fenced */
	int64_t consul_retry_at;    /* back-off: no Consul request before this monotonic time */
	struct backoff consul_backoff;
	int consul_down;            /* a Consul failure has been logged */
	int last_verdict;
	char last_reason[300];
	int hold_done;              /* S1: no other master instance passes (or the bound ran out) */
	int64_t hold_deadline;      /* when the S1 hold gives up, 0 before it starts */
	uint64_t hold_index;        /* blocking index of the health query */
	char hold_other[300];       /* the other passing master instance, for the notes */
	int maintenance;            /* the maintenance key was set at the last look */
	int64_t maintenance_next;   /* monotonic time of the next look at it */
	int offset_published;       /* the offset was published since this node turned healthy master */
	struct masterdown *down;    /* replicas: peer detection of a dead master, NULL when off */
};

/* Service name, ID, check ID and tags from the configuration (DESIGN.md Behaviour 4). */
void runner_names(struct runner *r);

/* Tell Consul what the last look at Redis found (register, pass the TTL, the S1 hold); until is the next look. */
void heartbeat(struct runner *r, int v, int64_t until);

#endif
