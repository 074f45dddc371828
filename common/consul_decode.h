/* SPDX-License-Identifier: MIT */
/* consul_decode: Consul's answers (KV, health, sessions, agent) decoded from JSON into C structs. */
#ifndef RESEC_CONSUL_DECODE_H
#define RESEC_CONSUL_DECODE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every decoder takes the answer body and returns 0, or -1 with a one-line
 * reason in err ("KV entry 2: bad Value"); the client (consul_kv.c, ...)
 * prefixes it with the request. The json_ names are kept from when these
 * lived in json.c: the programs use them. Only json.h's reader is used here.
 */

/* The decoders refuse arrays of more entries (instances, keys, sessions) than this. */
#define JSON_MAX_ENTRIES 4096

/* One entry of GET /v1/kv/:key. */
struct json_kv_entry {
	char *key;                 /* malloc'd */
	uint64_t flags;
	unsigned char *value;      /* malloc'd decoded bytes plus a NUL; NULL when Value was null */
	size_t value_len;
	char session[64];          /* "" when the Session field is absent (key not held) */
	uint64_t lock_index;
	uint64_t create_index;
	uint64_t modify_index;
};

/* Decode a KV entries array into a malloc'd array (free with json_kv_free); 0 or -1 with err. */
int json_decode_kv(const char *body, size_t len, struct json_kv_entry **out, size_t *n,
                   char *err, size_t errlen);

/* Free the members of one entry and zero it (the entry itself is not freed). */
void json_kv_entry_clear(struct json_kv_entry *e);

/* Free n entries and the array. */
void json_kv_free(struct json_kv_entry *e, size_t n);

/* One check of a health entry. */
struct json_health_check {
	char *check_id;            /* malloc'd */
	char *status;              /* malloc'd: passing, warning, critical, maintenance */
	char *service_id;          /* malloc'd, "" for node checks */
};

/* One entry of GET /v1/health/service/:service. All strings are malloc'd, "" when absent. */
struct json_health_entry {
	char *node;                /* Node.Node */
	char *node_address;        /* Node.Address */
	char *service_id;          /* Service.ID */
	char *service_name;        /* Service.Service */
	char *service_address;     /* Service.Address, may be "": use node_address then */
	int port;                  /* Service.Port, 0..65535 */
	char **tags;               /* Service.Tags */
	size_t ntags;
	char **meta_keys;          /* Service.Meta, in document order */
	char **meta_values;
	size_t nmeta;
	struct json_health_check *checks;
	size_t nchecks;
};

/* Decode a health entries array into a malloc'd array (free with json_health_free); 0 or -1 with err. */
int json_decode_health(const char *body, size_t len, struct json_health_entry **out, size_t *n,
                       char *err, size_t errlen);

/* Free n entries and the array. */
void json_health_free(struct json_health_entry *e, size_t n);

/* A session object (info, list, renew). */
struct json_session {
	char id[64];
	char name[256];
	char node[256];
	char ttl[32];              /* as given, e.g. "15s"; "" when none */
	int64_t ttl_ms;            /* ttl parsed; 0 when none */
	uint64_t lock_delay_ns;    /* LockDelay in nanoseconds */
	char behavior[16];         /* release | delete */
	uint64_t create_index;
	uint64_t modify_index;
};

/* Decode a sessions array into a malloc'd array (free()); 0 or -1 with err. */
int json_decode_sessions(const char *body, size_t len, struct json_session **out, size_t *n,
                         char *err, size_t errlen);

/* Decode {"ID":"..."} (session create) into id; 0 or -1 with err. */
int json_decode_id(const char *body, size_t len, char *id, size_t idlen, char *err, size_t errlen);

/* Decode a true/false body into *v; 0 or -1 with err. */
int json_decode_bool(const char *body, size_t len, int *v, char *err, size_t errlen);

/* Decode a JSON string body (e.g. /v1/status/leader) into buf; 0 or -1 with err. */
int json_decode_string(const char *body, size_t len, char *buf, size_t size, char *err, size_t errlen);

/* Decode /v1/agent/self's Config.NodeName and Config.Datacenter; 0 or -1 with err. */
int json_decode_agent_self(const char *body, size_t len, char *node, size_t nodelen,
                           char *dc, size_t dclen, char *err, size_t errlen);

#endif
