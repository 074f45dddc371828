/* SPDX-License-Identifier: MIT */
/* config: the settings every resec program shares, from the environment and long flags. */
#ifndef RESEC_CONFIG_H
#define RESEC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secret.h"

/* A host:port pair; host is "" for ":6379", and has no brackets for IPv6. */
struct hostport {
	char host[256];
	int port;
};

/* Every setting of DESIGN.md. Durations are in milliseconds. */
struct resec_config {
	struct hostport announce_addr;   /* ANNOUNCE_ADDR (derived from REDIS_ADDR when unset) */
	int announce_addr_set;
	char service_prefix[128];        /* CONSUL_SERVICE_PREFIX */
	char lock_key[512];              /* CONSUL_LOCK_KEY, leading slashes stripped */
	int64_t deregister_after_ms;     /* CONSUL_DEREGISTER_SERVICE_AFTER */
	int64_t lock_ttl_ms;             /* CONSUL_LOCK_TTL */
	int64_t lock_delay_ms;           /* CONSUL_LOCK_DELAY */
	char lock_session_name[128];     /* CONSUL_LOCK_SESSION_NAME */
	int64_t healthcheck_interval_ms; /* HEALTHCHECK_INTERVAL */
	int64_t healthcheck_timeout_ms;  /* HEALTHCHECK_TIMEOUT */
	int64_t master_down_after_ms;    /* REDIS_MASTER_DOWN_AFTER: D of peer detection, 0 off */
	struct hostport redis_addr;      /* REDIS_ADDR */
	char redis_username[128];        /* REDIS_USERNAME */
	struct secret redis_password;    /* REDIS_PASSWORD */
	int redis_priority;              /* REDIS_PRIORITY: 0 never promoted, higher preferred */
	long long redis_max_lag;         /* REDIS_MAX_LAG: bytes a replica may be behind; 0 no limit */
	int failsafe;                    /* RESEC_FAILSAFE: failsafe mode (docs/election.md) */
	int log_level;                   /* LOG_LEVEL, an enum log_level */
	int log_format;                  /* LOG_FORMAT, an enum log_format */
	char service_name[128];          /* CONSUL_SERVICE_NAME: tag mode when set */
	char master_tags[512];           /* MASTER_TAGS, comma-separated */
	char slave_tags[512];            /* SLAVE_TAGS, comma-separated */
	char replica_role_name[32];      /* CONSUL_REPLICA_ROLE_NAME: "slave" or "replica" */

	/* Consul client settings, as the consul CLI reads them (CONSUL-API.md §7). */
	char consul_addr[512];           /* CONSUL_HTTP_ADDR */
	struct secret consul_token;      /* CONSUL_HTTP_TOKEN or the file's contents */
	char consul_token_file[512];     /* CONSUL_HTTP_TOKEN_FILE */
	struct secret consul_auth;       /* CONSUL_HTTP_AUTH user[:password] */
	int consul_ssl;                  /* CONSUL_HTTP_SSL */
	int consul_ssl_verify;           /* CONSUL_HTTP_SSL_VERIFY */
	char consul_cacert[512];         /* CONSUL_CACERT */
	char consul_capath[512];         /* CONSUL_CAPATH */
	char consul_client_cert[512];    /* CONSUL_CLIENT_CERT */
	char consul_client_key[512];     /* CONSUL_CLIENT_KEY */
	char consul_tls_server_name[256];/* CONSUL_TLS_SERVER_NAME */
	char consul_namespace[128];      /* CONSUL_NAMESPACE */

	/* Bookkeeping for token precedence and deferred warnings. */
	int token_flag_rank;             /* 1 --consul-http-token-file, 2 --consul-http-token, 0 none */
	char warning[256];               /* logged by config_main once logging is set up */
	unsigned char flag_given_[48];   /* settings given by a flag, by table index */
	int print_config;                /* --print-config: config_main prints and exits */
};

/* Exit codes shared by every program (sysexits). */
enum { EXIT_NO = 1, EXIT_USAGE = 64, EXIT_UNAVAILABLE = 69, EXIT_TEMPFAIL = 75 };

/* A program-specific option, parsed beside the shared ones. */
struct cli_option {
	const char *name;   /* long name without dashes, e.g. "timeout" */
	char short_name;    /* 0 when none */
	int has_arg;        /* 1 when the option takes a value */
	int id;             /* passed back to the handler */
};

/* Called for each program-specific option; returns 0, or -1 with err set. */
typedef int (*cli_handler)(void *ctx, int id, const char *value, char *err, size_t errlen);

/* Fill c with the defaults of DESIGN.md. */
void config_defaults(struct resec_config *c);

/* Fill c with the defaults of DESIGN.md, then apply the environment. */
int config_load_env(struct resec_config *c, char *err, size_t errlen);

/* Set one shared setting by its long flag name ("redis-addr"); -1 with err on a
 * bad value, -2 when the name is not a shared setting. */
int config_set(struct resec_config *c, const char *flag, const char *value,
               char *err, size_t errlen);

/* Check cross-field rules and derive defaults (ANNOUNCE_ADDR, token file). */
int config_finish(struct resec_config *c, char *err, size_t errlen);

/* How operands end option parsing. */
enum { CONFIG_PERMUTE = 0,     /* options may follow operands (resec-role replica X --flag) */
       CONFIG_STOP_AT_OPERAND = 1 /* chain-loaders: the first operand starts the child */ };

/*
 * Parse argv: shared long flags (applied to c, winning over the environment),
 * the program's own options (passed to handler), -h/--help and --version.
 * "--" always ends the options. argv is permuted as getopt does: options (with
 * their values) first, then the operands in their order.
 * Returns the index of the first operand, or -1 with err set (bad usage),
 * -2 for help, -3 for version.
 */
int config_parse_args(struct resec_config *c, int argc, char **argv, int mode,
                      const struct cli_option *opts, cli_handler handler, void *ctx,
                      char *err, size_t errlen);

/*
 * The common start of every program: environment, flags, finish, logging.
 * Prints usage for --help (exit 0), the version (exit 0), or one line naming the
 * bad flag or value (exit 64); otherwise returns the index of the first operand.
 */
int config_main(struct resec_config *c, const char *prog, const char *usage,
                int argc, char **argv, int mode, const struct cli_option *opts,
                cli_handler handler, void *ctx);

/* Go duration ("1h2m3.5s", "500ms"); bare numbers (even "0"), signs, overflow → -1.
 * Millisecond resolution, truncated; a positive duration never reads as 0. */
int config_parse_duration(const char *s, int64_t *ms);

/* Format ms as a Go duration string ("1m30s", "500ms", "0s", "-1.5s"). */
void config_format_duration(int64_t ms, char *buf, size_t len);

/* host:port, [v6]:port or :port; port 1..65535; hosts with spaces, '/', '@',
 * brackets or non-ASCII bytes are refused. */
int config_parse_hostport(const char *s, struct hostport *hp);

/* A CONSUL_HTTP_ADDR taken apart by config_parse_consul_addr. */
enum { CONSUL_SCHEME_NONE = 0, CONSUL_SCHEME_HTTP, CONSUL_SCHEME_HTTPS, CONSUL_SCHEME_UNIX };
struct consul_addr {
	int scheme;                      /* CONSUL_SCHEME_* */
	char userinfo[256];              /* user[:password] before '@', as written (percent-encoded); "" none */
	char host[256];                  /* without brackets */
	int port;                        /* 0 when not given */
	char path[512];                  /* a path prefix ("/consul", may be ""), or the unix socket */
};

/* [http:// | https://][user[:pw]@]HOST[:PORT][/prefix], or unix:///path: port 1..65535, a
 * host (IPv6 in brackets), no query, fragment or space; 0, or -1 with why (no secret in it). */
int config_parse_consul_addr(const char *s, struct consul_addr *a, char *why, size_t whylen);

/* s with any credentials before an '@' replaced by "***", for output and errors. */
void config_redact_addr(const char *s, char *out, size_t len);

/* A KV key safe in /v1/kv/<key>: printable ASCII, no space ? # % \, no empty, . or .. segment. */
int config_check_kv_key(const char *key, char *why, size_t whylen);

/* A service name safe in a URL path: letters, digits, - _ . (not . or ..), not empty. */
int config_check_service_name(const char *name, char *why, size_t whylen);

/* The first control character (below 0x20, or DEL) in s, or NULL. */
const char *config_find_control(const char *s);

/* Format as host:port, bracketing IPv6 hosts. */
void config_format_hostport(const struct hostport *hp, char *buf, size_t len);
/* 1 for 127.0.0.0/8, ::1, ::ffff:127.x.y.z and "localhost"; not for a name like "127.example". */
int config_is_loopback(const char *host);

/* Bytes: digits with an optional K, M or G (1024-based), optionally followed by iB or B
 * ("1048576", "10MiB", "512K"); 0, or -1 when malformed or too large. */
int config_parse_bytes(const char *s, long long *out);

/* Go strconv.ParseBool; returns 0/1, or -1 when unparsable. */
int config_parse_bool(const char *s);

/* Print every setting as VAR=value lines (durations as "<n>ms", secrets as
 * "(set)" or empty), as config_main does for --print-config. */
void config_print(const struct resec_config *c, FILE *out);

/* The usage text of the shared flags, for --help. */
extern const char config_shared_usage[];

#endif
