/* SPDX-License-Identifier: MIT */
/* consul: a small Consul HTTP API client (transport: http.h; the loop rules: consul_watch.h, the decoders: consul_decode.h). */
#ifndef RESEC_CONSUL_H
#define RESEC_CONSUL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "consul_decode.h"
#include "consul_watch.h"
#include "json.h"

/*
 * Results. Every function returns CONSUL_OK (0) or CONSUL_ERR (-1) with the
 * reason in c->err ("consul: PUT /v1/kv/x: 500 No cluster leader"); some
 * also return CONSUL_ABSENT where the server says the thing is not there
 * (KV key absent, session gone on renew, [] from session info, unknown
 * check on update). CONSUL_CANCELLED: the cancel fd became readable.
 * The token never appears in c->err, in a URL or anywhere but the
 * X-Consul-Token header.
 *
 * Waiting on a blocking query and on signals at once: every wait of a request
 * is one poll() on its connection and this fd (libcurl's multi handle on
 * https). Give the handle a
 * file descriptor with consul_set_cancel_fd() (e.g. the read end of a
 * self-pipe the signal handler writes to, or a signalfd): as soon as it is
 * readable, the request in progress is abandoned and CONSUL_CANCELLED is
 * returned (the fd is not read; the caller drains it). consul_set_deadline()
 * bounds every request by an absolute monotonic time (clock_now_ms()), e.g.
 * "last good renew + lock-delay - 1s" for a lock monitor, and the result is
 * CONSUL_ERR with "timed out". A program that must do periodic work while
 * watching (renew a session) passes a wait no longer than the time to its
 * next duty: blocking queries then return by themselves in time.
 *
 * Timeouts: connect timeout and request timeout (non-blocking calls) are set
 * with consul_set_timeouts() (defaults 5s and 10s). A blocking call with
 * wait W (ms) gets the client timeout W + W/16 + the request timeout, since
 * the server adds up to W/16 jitter; wait 0 on a blocking call means the
 * server default 5m and is timed as such (W = 5m). That timeout bounds the
 * whole request, connect to last byte, not each read: a
 * server trickling a byte at a time is cut off at it. The handle keeps its
 * connection alive between requests.
 *
 * Threads: a handle is used by one thread at a time; different handles may
 * be used by different threads at once (consul_new may be called from any).
 * No proxy on plain HTTP; libcurl (https only) honours https_proxy/no_proxy.
 * Programs should ignore SIGPIPE (a peer closing mid-write must not kill them).
 */
enum { CONSUL_CANCELLED = -2, CONSUL_ERR = -1, CONSUL_OK = 0, CONSUL_ABSENT = 1 };

/*
 * The largest answer body read (bytes): past it the request fails at once with
 * "response larger than ..." (CONSUL_ERR, as for an unreachable server), so a
 * server sending without end cannot make us hold more. Real answers are far
 * smaller: a health entry is about 1.5 KB, a KV value at most 512 KiB.
 */
#define CONSUL_MAX_BODY (4u << 20)

/* A client handle; read the fields, change them only through the functions. */
struct consul {
	char err[256];             /* the last error, one line */
	long status;               /* HTTP status of the last response, 0 when none */
	uint64_t index;            /* X-Consul-Index of the last response (0 → 1 per [C2]), 0 when absent */
	int known_leader;          /* X-Consul-KnownLeader: 1 true, 0 false, -1 absent */
	char *body;                /* last response body, NUL-terminated; valid until the next call */
	size_t body_len;
	void *priv_;               /* private state (the transport, timeouts, namespace) */
};

/* Blocking and consistency options of a read; a zeroed struct is a plain read. */
struct consul_query {
	uint64_t index;            /* ?index= when > 0 (blocking) */
	int64_t wait_ms;           /* ?wait= when index > 0 and wait_ms > 0 (sent in ms, e.g. "15000ms") */
	int consistent;            /* ?consistent */
	int stale;                 /* ?stale (not with consistent) */
};

/* Create a client from the Consul settings of cfg (address forms, TLS, auth, token, namespace); NULL with err. */
struct consul *consul_new(const struct resec_config *cfg, char *err, size_t errlen);

/* Close connections and free the handle (NULL is fine); the body buffer goes with it. */
void consul_free(struct consul *c);

/* Set the connect timeout and the timeout of non-blocking requests, in ms (<= 0 keeps the current one). */
void consul_set_timeouts(struct consul *c, int64_t connect_ms, int64_t request_ms);

/* Abandon requests (CONSUL_CANCELLED) when fd becomes readable; -1 turns it off. */
void consul_set_cancel_fd(struct consul *c, int fd);

/* Fail requests still running at monotonic time deadline_ms (clock_now_ms()); 0 turns it off. */
void consul_set_deadline(struct consul *c, int64_t deadline_ms);

/* The base URL in use, e.g. "http://127.0.0.1:8500" or "http://localhost" for unix sockets (never secret). */
const char *consul_base_url(const struct consul *c);

/*
 * One raw request: method, path ("/v1/kv/a", already escaped), query without
 * "?" (NULL or ""; ns is appended by the client), body (NULL for none), and
 * the wait in ms for the client timeout of a blocking request (0: not blocking).
 * CONSUL_OK on 2xx, CONSUL_ERR otherwise (c->status tells which).
 */
int consul_request(struct consul *c, const char *method, const char *path, const char *query,
                   const void *body, size_t body_len, int64_t wait_ms);

/* consul_request with a JSON body (Content-Type: application/json), never blocking. */
int consul_request_json(struct consul *c, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len);

/* Percent-escape s as one path segment or query value (malloc'd; NULL when out of memory). */
char *consul_escape(const char *s);

/* GET /v1/status/leader into leader ("" when the cluster has none): a ping needing no ACL. */
int consul_status_leader(struct consul *c, char *leader, size_t len);

/* GET /v1/agent/self: the agent's node name and datacenter. */
int consul_agent_self(struct consul *c, char *node, size_t nodelen, char *dc, size_t dclen);

/* What to create a session with. A zeroed struct plus name and ttl_ms is a typical lock session. */
struct consul_session_opts {
	const char *name;              /* Name; NULL or "" omits it */
	const char *node;              /* Node; NULL: the agent's node */
	int64_t ttl_ms;                /* TTL; 0: no TTL */
	int64_t lock_delay_ms;         /* LockDelay as a Go duration string, "0s" included */
	int lock_delay_set;            /* 0: omit LockDelay (server default 15s) */
	const char *behavior;          /* "release" (NULL) or "delete" */
	const char *const *node_checks;    /* NodeChecks, when node_checks_set */
	size_t n_node_checks;
	int node_checks_set;           /* 1: send NodeChecks (n = 0 gives []: TTL-only session) */
	const char *const *service_checks; /* ServiceChecks IDs */
	size_t n_service_checks;
};

/* PUT /v1/session/create; the new session's ID into id. */
int consul_session_create(struct consul *c, const struct consul_session_opts *o, char *id, size_t idlen);

/* PUT /v1/session/renew/:id; CONSUL_ABSENT when the session is gone (404); *ttl_ms (may be NULL) gets the TTL the server returned. */
int consul_session_renew(struct consul *c, const char *id, int64_t *ttl_ms);

/* PUT /v1/session/destroy/:id (idempotent). */
int consul_session_destroy(struct consul *c, const char *id);

/* GET /v1/session/info/:id, blocking per q (may be NULL); CONSUL_ABSENT when gone ([]). */
int consul_session_info(struct consul *c, const char *id, const struct consul_query *q,
                        struct json_session *out);

/* GET /v1/session/node/:node: every session of that node into a malloc'd array (free()). */
int consul_session_node(struct consul *c, const char *node, struct json_session **out, size_t *n);

/* GET /v1/kv/:key (leading slashes stripped), blocking per q; CONSUL_ABSENT when absent; clear out with json_kv_entry_clear. */
int consul_kv_get(struct consul *c, const char *key, const struct consul_query *q,
                  struct json_kv_entry *out);

/*
 * GET /v1/kv/:prefix?recurse, blocking per q (may be NULL): every key under
 * prefix into a malloc'd array (json_kv_free); no key (404) is CONSUL_OK with *n 0.
 */
int consul_kv_list(struct consul *c, const char *prefix, const struct consul_query *q,
                   struct json_kv_entry **out, size_t *n);

/* PUT /v1/kv/:key (plain write, keeps any holder). */
int consul_kv_put(struct consul *c, const char *key, uint64_t flags, const void *value, size_t len);

/* PUT /v1/kv/:key?cas=N&flags=F; *ok gets the server's true/false. */
int consul_kv_put_cas(struct consul *c, const char *key, uint64_t cas, uint64_t flags,
                      const void *value, size_t len, int *ok);

/* PUT /v1/kv/:key?acquire=S&flags=F with the value; *ok gets true/false. */
int consul_kv_acquire(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok);

/* PUT /v1/kv/:key?release=S&flags=F with the value; *ok gets true/false. */
int consul_kv_release(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok);

/* DELETE /v1/kv/:key?cas=N; *ok gets true/false (absent key → true). */
int consul_kv_delete_cas(struct consul *c, const char *key, uint64_t cas, int *ok);

/* DELETE /v1/kv/:key (idempotent). */
int consul_kv_delete(struct consul *c, const char *key);

/* A service registration with one TTL check; NULL/0 fields are omitted. */
struct consul_service {
	const char *id;                /* ID */
	const char *name;              /* Name (required) */
	const char *const *tags;       /* Tags */
	size_t ntags;
	const char *address;           /* Address; omitted when NULL or "" */
	int port;                      /* Port; omitted when 0 */
	const char *const *meta_keys;  /* Meta */
	const char *const *meta_values;
	size_t nmeta;
	int64_t check_ttl_ms;          /* Check.TTL; 0: no Check */
	const char *check_id;          /* Check.CheckID */
	const char *check_name;        /* Check.Name */
	const char *check_status;      /* Check.Status (initial; Consul's default is critical) */
	const char *check_notes;       /* Check.Notes */
	int64_t deregister_after_ms;   /* Check.DeregisterCriticalServiceAfter; 0 omits it */
	int replace_existing_checks;   /* ?replace-existing-checks */
};

/* PUT /v1/agent/service/register with a properly escaped JSON body. */
int consul_service_register(struct consul *c, const struct consul_service *s);

/* PUT /v1/agent/service/deregister/:id; an unknown ID (404) is success. */
int consul_service_deregister(struct consul *c, const char *id);

/* PUT /v1/agent/check/update/:id {Status, Output}; CONSUL_ABSENT for an unknown check (404). */
int consul_check_update(struct consul *c, const char *check_id, const char *status, const char *output);

/* PUT /v1/agent/check/pass|warn|fail/:id?note=; status is "pass", "warn" or "fail"; CONSUL_ABSENT on 404. */
int consul_check_ttl(struct consul *c, const char *check_id, const char *status, const char *note);

/* GET /v1/health/service/:service[?passing][&tag=T], blocking per q; entries malloc'd (json_health_free). */
int consul_health_service(struct consul *c, const char *service, const char *tag, int passing,
                          const struct consul_query *q, struct json_health_entry **out, size_t *n);

#endif
