/* SPDX-License-Identifier: MIT */
/* config: one table maps each setting to its variable, its flag and its check. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

enum kind {
	K_STRING,    /* any text, may be empty */
	K_NAME,      /* non-empty text without spaces */
	K_SECRET,
	K_DURATION,
	K_ADDR,      /* host:port, host required */
	K_ANNOUNCE,  /* host:port, host may be empty */
	K_BOOL,
	K_SSL_VERIFY,/* bool where junk reads as false, as the consul CLI does */
	K_LEVEL,
	K_FORMAT,
	K_ROLE_NAME,
	K_INT,       /* a whole number between min_ms and max_ms */
	K_BYTES,     /* a byte count, with K, M or G suffixes (long long) */
	K_KEY,       /* a KV key: leading slashes stripped, then config_check_kv_key */
	K_SERVICE,   /* a service name or prefix (config_check_service_name); "" allowed when min_ms is 0 */
	K_CONSUL_ADDR, /* config_parse_consul_addr; shown with its credentials redacted */
	K_HOST,      /* a host name, optionally with :port (CONSUL_TLS_SERVER_NAME); may be empty */
};

struct setting {
	const char *env;
	const char *flag;
	enum kind kind;
	size_t offset;
	size_t size;
	int64_t min_ms, max_ms; /* bounds: ms for K_DURATION, the value for K_INT */
};

#define F(field) offsetof(struct resec_config, field), sizeof(((struct resec_config *)0)->field)
#define DAY (24LL * 3600 * 1000)

static const struct setting settings[] = {
	{ "ANNOUNCE_ADDR", "announce-addr", K_ANNOUNCE, F(announce_addr), 0, 0 },
	{ "CONSUL_SERVICE_PREFIX", "consul-service-prefix", K_SERVICE, F(service_prefix), 1, 0 },
	{ "CONSUL_LOCK_KEY", "consul-lock-key", K_KEY, F(lock_key), 0, 0 },
	{ "CONSUL_DEREGISTER_SERVICE_AFTER", "consul-deregister-service-after", K_DURATION,
	  F(deregister_after_ms), 1000, 10000 * DAY },
	{ "CONSUL_LOCK_TTL", "consul-lock-ttl", K_DURATION, F(lock_ttl_ms), 10000, DAY },
	{ "CONSUL_LOCK_DELAY", "consul-lock-delay", K_DURATION, F(lock_delay_ms), 0, 60000 },
	{ "CONSUL_LOCK_SESSION_NAME", "consul-lock-session-name", K_STRING, F(lock_session_name), 0, 0 },
	{ "HEALTHCHECK_INTERVAL", "healthcheck-interval", K_DURATION, F(healthcheck_interval_ms), 10, DAY },
	{ "HEALTHCHECK_TIMEOUT", "healthcheck-timeout", K_DURATION, F(healthcheck_timeout_ms), 10, 3600000 },
	{ "REDIS_ADDR", "redis-addr", K_ADDR, F(redis_addr), 0, 0 },
	{ "REDIS_USERNAME", "redis-username", K_STRING, F(redis_username), 0, 0 },
	{ "REDIS_PASSWORD", "redis-password", K_SECRET, F(redis_password), 0, 0 },
	{ "REDIS_PRIORITY", "redis-priority", K_INT, F(redis_priority), 0, 1000000000 },
	{ "REDIS_MAX_LAG", "redis-max-lag", K_BYTES, F(redis_max_lag), 0, 0 },
	{ "REDIS_MASTER_DOWN_AFTER", "redis-master-down-after", K_DURATION, F(master_down_after_ms), 0, 3600000 },
	{ "RESEC_FAILSAFE", "resec-failsafe", K_BOOL, F(failsafe), 0, 0 },
	{ "LOG_LEVEL", "log-level", K_LEVEL, F(log_level), 0, 0 },
	{ "LOG_FORMAT", "log-format", K_FORMAT, F(log_format), 0, 0 },
	{ "CONSUL_SERVICE_NAME", "consul-service-name", K_SERVICE, F(service_name), 0, 0 },
	{ "MASTER_TAGS", "master-tags", K_STRING, F(master_tags), 0, 0 },
	{ "SLAVE_TAGS", "slave-tags", K_STRING, F(slave_tags), 0, 0 },
	{ "CONSUL_REPLICA_ROLE_NAME", "consul-replica-role-name", K_ROLE_NAME, F(replica_role_name), 0, 0 },
	{ "CONSUL_HTTP_ADDR", "consul-http-addr", K_CONSUL_ADDR, F(consul_addr), 0, 0 },
	{ "CONSUL_HTTP_TOKEN", "consul-http-token", K_SECRET, F(consul_token), 0, 0 },
	{ "CONSUL_HTTP_TOKEN_FILE", "consul-http-token-file", K_STRING, F(consul_token_file), 0, 0 },
	{ "CONSUL_HTTP_AUTH", "consul-http-auth", K_SECRET, F(consul_auth), 0, 0 },
	{ "CONSUL_HTTP_SSL", "consul-http-ssl", K_BOOL, F(consul_ssl), 0, 0 },
	{ "CONSUL_HTTP_SSL_VERIFY", "consul-http-ssl-verify", K_SSL_VERIFY, F(consul_ssl_verify), 0, 0 },
	{ "CONSUL_CACERT", "consul-cacert", K_STRING, F(consul_cacert), 0, 0 },
	{ "CONSUL_CAPATH", "consul-capath", K_STRING, F(consul_capath), 0, 0 },
	{ "CONSUL_CLIENT_CERT", "consul-client-cert", K_STRING, F(consul_client_cert), 0, 0 },
	{ "CONSUL_CLIENT_KEY", "consul-client-key", K_STRING, F(consul_client_key), 0, 0 },
	{ "CONSUL_TLS_SERVER_NAME", "consul-tls-server-name", K_HOST, F(consul_tls_server_name), 0, 0 },
	{ "CONSUL_NAMESPACE", "consul-namespace", K_STRING, F(consul_namespace), 0, 0 },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))
_Static_assert(NSETTINGS <= sizeof(((struct resec_config *)0)->flag_given_), "flag_given_ too small");

const char config_shared_usage[] =
	"Shared options (each also read from the environment variable in capitals):\n"
	"  --redis-addr HOST:PORT        REDIS_ADDR (127.0.0.1:6379)\n"
	"  --redis-username NAME         REDIS_USERNAME (ACL user)\n"
	"  --redis-password PASS         REDIS_PASSWORD (prefer the environment)\n"
	"  --redis-priority N            REDIS_PRIORITY (100; 0 never promoted, higher wins ties)\n"
	"  --redis-max-lag BYTES         REDIS_MAX_LAG (10MiB; 0 no limit): a replica further behind\n"
	"                                does not contend, and resec-status reports it\n"
	"  --redis-master-down-after D   REDIS_MASTER_DOWN_AFTER (2s; 0 off): replicas that cannot reach\n"
	"                                the master's redis for D vote; a majority ends its lock session\n"
	"  --resec-failsafe B            RESEC_FAILSAFE (false): the master keeps writes through a Consul\n"
	"                                outage while it proves no other node can take over (docs/election.md)\n"
	"  --announce-addr [HOST]:PORT   ANNOUNCE_ADDR (REDIS_ADDR's port on loopback)\n"
	"  --consul-service-prefix P     CONSUL_SERVICE_PREFIX (redis)\n"
	"  --consul-service-name N       CONSUL_SERVICE_NAME (tag mode when set)\n"
	"  --master-tags T,T  --slave-tags T,T   MASTER_TAGS, SLAVE_TAGS\n"
	"  --consul-replica-role-name R  CONSUL_REPLICA_ROLE_NAME (slave|replica)\n"
	"  --consul-lock-key K           CONSUL_LOCK_KEY (resec/.lock)\n"
	"  --consul-lock-ttl D           CONSUL_LOCK_TTL (15s; 10s-24h)\n"
	"  --consul-lock-delay D         CONSUL_LOCK_DELAY (5s; 0-60s)\n"
	"  --consul-lock-session-name N  CONSUL_LOCK_SESSION_NAME (resec)\n"
	"  --consul-deregister-service-after D  CONSUL_DEREGISTER_SERVICE_AFTER (72h)\n"
	"  --healthcheck-interval D      HEALTHCHECK_INTERVAL (5s)\n"
	"  --healthcheck-timeout D       HEALTHCHECK_TIMEOUT (2s)\n"
	"  --log-level L                 LOG_LEVEL (INFO; DEBUG|INFO|WARN|ERROR)\n"
	"  --log-format F                LOG_FORMAT (text; text|json)\n"
	"  --consul-http-addr A          CONSUL_HTTP_ADDR (127.0.0.1:8500; http://, https://, unix://)\n"
	"  --consul-http-token T  --consul-http-token-file F  --consul-http-auth U:P\n"
	"  --consul-http-ssl B  --consul-http-ssl-verify B  --consul-cacert F  --consul-capath D\n"
	"  --consul-client-cert F  --consul-client-key F  --consul-tls-server-name N\n"
	"  --consul-namespace NS\n"
	"  --print-config                print the effective settings (secrets hidden) and exit\n"
	"Durations use Go syntax: 500ms, 15s, 1m30s, 72h.\n";

void config_defaults(struct resec_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->service_prefix, sizeof(c->service_prefix), "redis");
	snprintf(c->lock_key, sizeof(c->lock_key), "resec/.lock");
	c->deregister_after_ms = 72LL * 3600 * 1000;
	c->lock_ttl_ms = 15000;
	c->lock_delay_ms = 5000;
	snprintf(c->lock_session_name, sizeof(c->lock_session_name), "resec");
	c->healthcheck_interval_ms = 5000;
	c->healthcheck_timeout_ms = 2000;
	c->redis_priority = 100;
	c->redis_max_lag = 10LL * 1024 * 1024;
	c->master_down_after_ms = 2000;
	snprintf(c->redis_addr.host, sizeof(c->redis_addr.host), "127.0.0.1");
	c->redis_addr.port = 6379;
	c->log_level = LOG_INFO;
	c->log_format = LOG_FORMAT_TEXT;
	snprintf(c->replica_role_name, sizeof(c->replica_role_name), "slave");
	snprintf(c->consul_addr, sizeof(c->consul_addr), "127.0.0.1:8500");
	c->consul_ssl_verify = 1;
}

static const struct setting *find_by_flag(const char *flag)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].flag, flag) == 0)
			return &settings[i];
	return NULL;
}

static int copy_text(const struct setting *s, char *dst, const char *value, int need_name)
{
	size_t n = strlen(value);
	if (n >= s->size)
		return -1;
	if (need_name) {
		if (n == 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (isspace((unsigned char)value[i]))
				return -1;
	}
	memcpy(dst, value, n + 1);
	return 0;
}

/* Copy a text value; on failure say why (the checks of the kinds that need them come first). */
static int set_text(const struct setting *s, char *field, const char *value, int need_name,
                    char *reason, size_t rlen)
{
	if (copy_text(s, field, value, need_name) == 0)
		return 0;
	if (!need_name || strlen(value) >= s->size)
		snprintf(reason, rlen, "too long");
	else
		snprintf(reason, rlen, "%s", *value == '\0' ? "must not be empty" : "must not contain spaces");
	return -1;
}

/* Texts that name something in Consul: a KV key, a service, an address, a host. */
static int apply_consul_text(const struct setting *s, char *field, const char *value, char *reason,
                             size_t rlen)
{
	struct consul_addr a;

	switch (s->kind) {
	case K_KEY:
		/* Consul's Go api strips leading slashes: "/a" and "a" are one key. */
		value += strspn(value, "/");
		if (config_check_kv_key(value, reason, rlen) < 0)
			return -1;
		return set_text(s, field, value, 1, reason, rlen);
	case K_SERVICE:
		if ((*value != '\0' || s->min_ms > 0) && config_check_service_name(value, reason, rlen) < 0)
			return -1;
		return set_text(s, field, value, 0, reason, rlen);
	case K_CONSUL_ADDR:
		if (config_parse_consul_addr(value, &a, reason, rlen) < 0)
			return -1;
		return set_text(s, field, value, 1, reason, rlen);
	default: /* K_HOST */
		/* The server name goes into the URL: only a host, with a port that is ignored. */
		if (*value != '\0' && (config_parse_consul_addr(value, &a, reason, rlen) < 0 ||
		                       a.scheme != CONSUL_SCHEME_NONE || a.userinfo[0] != '\0' || a.path[0] != '\0')) {
			snprintf(reason, rlen, "want a host name, optionally with :PORT");
			return -1;
		}
		return set_text(s, field, value, 0, reason, rlen);
	}
}

static int apply_duration(const struct setting *s, char *field, const char *value, char *reason, size_t rlen)
{
	int64_t ms;

	if (config_parse_duration(value, &ms) < 0) {
		snprintf(reason, rlen, "not a duration (use a unit: 500ms, 15s, 1m30s, 72h)");
		return -1;
	}
	if (ms < s->min_ms || ms > s->max_ms) {
		char lo[32], hi[32];
		config_format_duration(s->min_ms, lo, sizeof(lo));
		config_format_duration(s->max_ms, hi, sizeof(hi));
		snprintf(reason, rlen, "must be between %s and %s", lo, hi);
		return -1;
	}
	*(int64_t *)(void *)field = ms;
	return 0;
}

static int apply_int(const struct setting *s, char *field, const char *value, char *reason, size_t rlen)
{
	char *end = NULL;

	errno = 0;
	long long n = strtoll(value, &end, 10);
	if (*value < '0' || *value > '9' || end == NULL || *end != '\0' || errno != 0 || n < s->min_ms ||
	    n > s->max_ms) {
		snprintf(reason, rlen, "want a whole number from %lld to %lld", (long long)s->min_ms,
		         (long long)s->max_ms);
		return -1;
	}
	*(int *)(void *)field = (int)n;
	return 0;
}

/* Values from a small set of words, stored as an int (or, for the role name, as the word). */
static int apply_word(struct resec_config *c, const struct setting *s, char *field, const char *value,
                      char *reason, size_t rlen)
{
	static const struct { int kind; int (*parse)(const char *); const char *want; } words[] = {
		{ K_BOOL, config_parse_bool, "not a boolean (true or false)" },
		{ K_LEVEL, log_parse_level, "want DEBUG, INFO, WARN or ERROR" },
		{ K_FORMAT, log_parse_format, "want text or json" },
	};
	int v;

	if (s->kind == K_ROLE_NAME) {
		if (strcmp(value, "slave") != 0 && strcmp(value, "replica") != 0) {
			snprintf(reason, rlen, "want slave or replica");
			return -1;
		}
		snprintf(field, s->size, "%s", value);
		return 0;
	}
	if (s->kind == K_SSL_VERIFY) {
		/* The consul CLI reads an unparsable value as false, with a warning only. */
		v = config_parse_bool(value);
		if (v < 0) {
			snprintf(c->warning, sizeof(c->warning),
			         "CONSUL_HTTP_SSL_VERIFY is not a boolean; TLS verification is off, as with the consul CLI");
			v = 0;
		}
		*(int *)(void *)field = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (words[i].kind != (int)s->kind)
			continue;
		v = words[i].parse(value);
		if (v < 0) {
			snprintf(reason, rlen, "%s", words[i].want);
			return -1;
		}
		*(int *)(void *)field = v;
		return 0;
	}
	return -1;
}

static int apply_addr(struct resec_config *c, const struct setting *s, char *field, const char *value,
                      char *reason, size_t rlen)
{
	struct hostport hp;

	if (config_parse_hostport(value, &hp) < 0 || (s->kind == K_ADDR && hp.host[0] == '\0')) {
		snprintf(reason, rlen, "%s", s->kind == K_ADDR ? "want HOST:PORT" : "want [HOST]:PORT");
		return -1;
	}
	*(struct hostport *)(void *)field = hp;
	if (s->kind == K_ANNOUNCE)
		c->announce_addr_set = 1;
	return 0;
}

static int apply_secret(char *field, const char *value, char *reason, size_t rlen)
{
	/* Cut silently, a password would fail AUTH with no hint why. */
	if (strlen(value) >= sizeof(((struct secret *)0)->value_)) {
		snprintf(reason, rlen, "too long (at most %zu bytes)", sizeof(((struct secret *)0)->value_) - 1);
		return -1;
	}
	secret_set((struct secret *)(void *)field, value);
	return 0;
}

/* Apply one value; on failure write a reason (never the value of a secret). */
static int apply(struct resec_config *c, const struct setting *s, const char *value,
                 char *reason, size_t rlen)
{
	char *field = (char *)c + s->offset;

	/* A CR or LF would end an HTTP header early (the token) or forge a log line. */
	if (config_find_control(value) != NULL) {
		snprintf(reason, rlen, "must not contain control characters (CR, LF, ESC...)");
		return -1;
	}
	switch (s->kind) {
	case K_KEY:
	case K_SERVICE:
	case K_CONSUL_ADDR:
	case K_HOST:
		return apply_consul_text(s, field, value, reason, rlen);
	case K_STRING:
	case K_NAME:
		return set_text(s, field, value, s->kind == K_NAME, reason, rlen);
	case K_SECRET:
		return apply_secret(field, value, reason, rlen);
	case K_DURATION:
		return apply_duration(s, field, value, reason, rlen);
	case K_INT:
		return apply_int(s, field, value, reason, rlen);
	case K_ADDR:
	case K_ANNOUNCE:
		return apply_addr(c, s, field, value, reason, rlen);
	case K_BOOL:
	case K_SSL_VERIFY:
	case K_LEVEL:
	case K_FORMAT:
	case K_ROLE_NAME:
		return apply_word(c, s, field, value, reason, rlen);
	case K_BYTES:
		if (config_parse_bytes(value, (long long *)(void *)field) < 0) {
			snprintf(reason, rlen, "want bytes such as 1048576 or 10MiB");
			return -1;
		}
		return 0;
	}
	return -1;
}

/* Copy at most max bytes of src for an error message, which stays one line:
 * control characters show as '?'. */
static void printable(char *dst, size_t len, const char *src, size_t max)
{
	size_t n = 0;
	for (; n < max && n + 1 < len && src[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)src[n];
		dst[n] = src[n];
		if (ch < ' ' || ch == 0x7f)
			dst[n] = '?';
	}
	dst[n] = '\0';
}

static void bad_value(const struct setting *s, const char *value, const char *reason,
                      char *err, size_t errlen)
{
	if (s->kind == K_SECRET) {
		snprintf(err, errlen, "invalid %s (--%s): %s", s->env, s->flag, reason);
		return;
	}
	char shown[201], redacted[600];
	if (s->kind == K_CONSUL_ADDR) {
		config_redact_addr(value, redacted, sizeof(redacted));
		value = redacted;
	}
	printable(shown, sizeof(shown), value, 200);
	snprintf(err, errlen, "invalid %s (--%s) \"%s\": %s", s->env, s->flag, shown, reason);
}

static int apply_checked(struct resec_config *c, const struct setting *s, const char *value,
                         char *err, size_t errlen)
{
	char reason[160];
	if (apply(c, s, value, reason, sizeof(reason)) < 0) {
		bad_value(s, value, reason, err, errlen);
		return -1;
	}
	return 0;
}

int config_set(struct resec_config *c, const char *flag, const char *value,
               char *err, size_t errlen)
{
	const struct setting *s = find_by_flag(flag);
	if (s == NULL)
		return -2;
	c->flag_given_[s - settings] = 1;
	if (strcmp(flag, "consul-http-token-file") == 0)
		c->token_flag_rank = 1;
	else if (strcmp(flag, "consul-http-token") == 0 && c->token_flag_rank != 1)
		c->token_flag_rank = 2;
	return apply_checked(c, s, value, err, errlen);
}

/* Apply the environment to every setting not in skip (flags already given). */
static int apply_env(struct resec_config *c, const unsigned char *skip, char *err, size_t errlen)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (skip != NULL && skip[i])
			continue;
		const char *v = getenv(settings[i].env);
		if (v == NULL)
			continue;
		/* An empty optional variable means "unset", as in the shell. */
		if (*v == '\0' && settings[i].kind != K_STRING && settings[i].kind != K_SECRET)
			continue;
		if (apply_checked(c, &settings[i], v, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int config_load_env(struct resec_config *c, char *err, size_t errlen)
{
	config_defaults(c);
	return apply_env(c, NULL, err, errlen);
}

/* Open a file that must be a regular one: never block on a FIFO, never read a device. */
static int open_regular(const char *path, const char **why)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		close(fd);
		return -1;
	}
	return fd;
}

/* Read a token file once, trimmed; an empty file falls through (returns 0, empty). */
static int read_token_file(const char *path, struct secret *out, char *err, size_t errlen)
{
	const char *why = NULL;
	char buf[4 * sizeof(out->value_) + 1];   /* room for blanks around the longest token */
	ssize_t n = -1;
	int fd = open_regular(path, &why);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		/* A directory opens but does not read (EISDIR): that is unreadable, not empty. */
		if (n < 0)
			why = strerror(errno);
		(void)close(fd); /* opened for reading: nothing is lost if close fails */
	}
	if (n < 0) {
		snprintf(err, errlen, "Error loading token file %.300s: %s", path, why);
		return -1;
	}
	buf[n] = '\0';
	char *start = buf;
	size_t len = (size_t)n;
	while (len > 0 && isspace((unsigned char)*start)) {
		start++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)start[len - 1]))
		start[--len] = '\0';
	/* A NUL, CR or LF inside would cut the token or become a header of its own. */
	if (memchr(start, '\0', len) != NULL || config_find_control(start) != NULL)
		why = "the token holds control characters";
	else if (len >= sizeof(out->value_) || (size_t)n == sizeof(buf) - 1)
		why = "the token is longer than 1023 bytes";
	if (why == NULL)
		secret_set(out, start);
	memset(buf, 0, sizeof(buf));
	if (why != NULL) {
		snprintf(err, errlen, "Error loading token file %.300s: %s", path, why);
		return -1;
	}
	return 0;
}

/* Token precedence of CONSUL-API.md §7: file flag, token flag, file env, token env. */
static int resolve_token(struct resec_config *c, char *err, size_t errlen)
{
	if (c->token_flag_rank == 2)
		return 0;
	if (c->consul_token_file[0] == '\0')
		return 0;
	struct secret from_file = { { 0 }, 0 };
	if (read_token_file(c->consul_token_file, &from_file, err, errlen) < 0)
		return -1;
	if (secret_is_set(&from_file))
		c->consul_token = from_file;
	secret_clear(&from_file);
	return 0;
}

int config_finish(struct resec_config *c, char *err, size_t errlen)
{
	if (!c->announce_addr_set) {
		c->announce_addr = c->redis_addr;
		if (config_is_loopback(c->redis_addr.host))
			c->announce_addr.host[0] = '\0';
	}
	if ((c->consul_client_cert[0] == '\0') != (c->consul_client_key[0] == '\0')) {
		snprintf(err, errlen, "invalid CONSUL_CLIENT_CERT/CONSUL_CLIENT_KEY: both client cert and client key must be provided");
		return -1;
	}
	return resolve_token(c, err, errlen);
}

static const struct cli_option *find_prog_option(const struct cli_option *opts, const char *name,
                                                 char short_name)
{
	for (; opts != NULL && opts->name != NULL; opts++) {
		if (name != NULL && strcmp(opts->name, name) == 0)
			return opts;
		if (name == NULL && short_name != 0 && opts->short_name == short_name)
			return opts;
	}
	return NULL;
}

/* Handle one "--name[=value]" at argv[*i]; advances *i past a separate value. */
static int parse_long(struct resec_config *c, int argc, char **argv, int *i,
                      const struct cli_option *opts, cli_handler handler, void *ctx,
                      char *err, size_t errlen)
{
	char name[128];
	const char *arg = argv[*i] + 2;
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n >= sizeof(name)) {
		/* Only the name: the value after '=' may be a secret. */
		printable(name, sizeof(name), arg, 40);
		snprintf(err, errlen, "unknown flag --%s...", name);
		return -1;
	}
	memcpy(name, arg, n);
	name[n] = '\0';
	if (strcmp(name, "help") == 0 || strcmp(name, "version") == 0) {
		if (eq != NULL) {
			snprintf(err, errlen, "flag --%s takes no value", name);
			return -1;
		}
		return name[0] == 'h' ? -2 : -3;
	}
	if (strcmp(name, "print-config") == 0) {
		if (eq != NULL) {
			snprintf(err, errlen, "flag --%s takes no value", name);
			return -1;
		}
		c->print_config = 1;
		return 0;
	}
	const struct cli_option *po = find_prog_option(opts, name, 0);
	const struct setting *s = po ? NULL : find_by_flag(name);
	if (po == NULL && s == NULL) {
		char shown[sizeof(name)];
		printable(shown, sizeof(shown), name, sizeof(shown) - 1);
		snprintf(err, errlen, "unknown flag --%s", shown);
		return -1;
	}
	const char *value = NULL;
	if (po != NULL && !po->has_arg) {
		if (eq != NULL) {
			snprintf(err, errlen, "flag --%s takes no value", name);
			return -1;
		}
		return handler(ctx, po->id, NULL, err, errlen);
	}
	if (eq != NULL) {
		value = eq + 1;
	} else if (*i + 1 < argc) {
		value = argv[++*i];
	} else {
		snprintf(err, errlen, "flag --%s needs a value", name);
		return -1;
	}
	if (po != NULL)
		return handler(ctx, po->id, value, err, errlen);
	return config_set(c, name, value, err, errlen);
}

/* Handle "-x", "-xVALUE" or "-x VALUE" at argv[*i]. */
static int parse_short(int argc, char **argv, int *i, const struct cli_option *opts,
                       cli_handler handler, void *ctx, char *err, size_t errlen)
{
	char ch = argv[*i][1];
	if (ch == 'h' && argv[*i][2] == '\0')
		return -2;
	const struct cli_option *po = find_prog_option(opts, NULL, ch);
	if (po == NULL) {
		snprintf(err, errlen, "unknown flag -%c", (unsigned char)ch < ' ' || ch == 0x7f ? '?' : ch);
		return -1;
	}
	if (!po->has_arg) {
		if (argv[*i][2] != '\0') {
			snprintf(err, errlen, "flag -%c takes no value", ch);
			return -1;
		}
		return handler(ctx, po->id, NULL, err, errlen);
	}
	if (argv[*i][2] != '\0')
		return handler(ctx, po->id, argv[*i] + 2, err, errlen);
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "flag -%c needs a value", ch);
		return -1;
	}
	++*i;
	return handler(ctx, po->id, argv[*i], err, errlen);
}

int config_parse_args(struct resec_config *c, int argc, char **argv, int mode,
                      const struct cli_option *opts, cli_handler handler, void *ctx,
                      char *err, size_t errlen)
{
	/* Options (with their values) and operands, each in order, as getopt permutes. */
	char **operands = calloc(2 * ((size_t)argc + 1), sizeof(char *));
	char **options;
	int nops = 0, nopts = 0, i, rc = 0;
	if (operands == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	options = operands + argc + 1;
	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		int start = i;
		if (strcmp(a, "--") == 0) {
			options[nopts++] = a;
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (mode == CONFIG_STOP_AT_OPERAND)
				break;
			operands[nops++] = a;
			continue;
		}
		rc = a[1] == '-' ? parse_long(c, argc, argv, &i, opts, handler, ctx, err, errlen)
		                 : parse_short(argc, argv, &i, opts, handler, ctx, err, errlen);
		if (rc < 0)
			break;
		for (; start <= i; start++)
			options[nopts++] = argv[start];
	}
	if (rc < 0) {
		free(operands);
		return rc;
	}
	/* argv becomes: options, then the operands seen among them, then argv[i..]
	 * (after "--", or from the first operand of a chain-loader) in place. */
	if (argc > 0) {
		memcpy(argv + 1, options, (size_t)nopts * sizeof(char *));
		memcpy(argv + 1 + nopts, operands, (size_t)nops * sizeof(char *));
	}
	free(operands);
	return i - nops;
}

int config_main(struct resec_config *c, const char *prog, const char *usage,
                int argc, char **argv, int mode, const struct cli_option *opts,
                cli_handler handler, void *ctx)
{
	char err[512] = "";
	log_init(prog, LOG_INFO, LOG_FORMAT_TEXT);
	config_defaults(c);
	int first = config_parse_args(c, argc, argv, mode, opts, handler, ctx, err, sizeof(err));
	if (first == -2) {
		printf("%s\n%s", usage, config_shared_usage);
		exit(0);
	}
	if (first == -3) {
		printf("%s %s\n", prog, RESEC_VERSION);
		exit(0);
	}
	if (first < 0) {
		log_die_line("%s", err);
		exit(EXIT_USAGE);
	}
	/* Flags win: the environment only fills the settings no flag gave. */
	if (apply_env(c, c->flag_given_, err, sizeof(err)) < 0 || config_finish(c, err, sizeof(err)) < 0) {
		log_die_line("%s", err);
		exit(EXIT_USAGE);
	}
	if (c->print_config) {
		config_print(c, stdout);
		exit(0);
	}
	log_init(prog, c->log_level, c->log_format);
	if (c->warning[0] != '\0')
		log_warn(c->warning);
	return first;
}

/* One setting's effective value as text; secrets only say whether they are set. */
static void format_setting(const struct resec_config *c, const struct setting *s, char *buf, size_t len)
{
	const char *field = (const char *)c + s->offset;
	static const char *const levels[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	switch (s->kind) {
	case K_STRING:
	case K_NAME:
	case K_ROLE_NAME:
	case K_KEY:
	case K_SERVICE:
	case K_HOST:
		snprintf(buf, len, "%s", field);
		return;
	case K_CONSUL_ADDR:
		config_redact_addr(field, buf, len);
		return;
	case K_SECRET:
		snprintf(buf, len, "%s", secret_is_set((const struct secret *)(const void *)field) ? "(set)" : "");
		return;
	case K_DURATION:
		/* Whole milliseconds: valid Go syntax, and trivial for scripts to read. */
		snprintf(buf, len, "%lldms", (long long)*(const int64_t *)(const void *)field);
		return;
	case K_ADDR:
	case K_ANNOUNCE:
		config_format_hostport((const struct hostport *)(const void *)field, buf, len);
		return;
	case K_BOOL:
	case K_SSL_VERIFY:
		snprintf(buf, len, "%s", *(const int *)(const void *)field ? "true" : "false");
		return;
	case K_LEVEL:
		snprintf(buf, len, "%s", levels[*(const int *)(const void *)field & 3]);
		return;
	case K_FORMAT:
		snprintf(buf, len, "%s", *(const int *)(const void *)field == LOG_FORMAT_JSON ? "json" : "text");
		return;
	case K_INT:
		snprintf(buf, len, "%d", *(const int *)(const void *)field);
		return;
	case K_BYTES:
		snprintf(buf, len, "%lld", *(const long long *)(const void *)field);
		return;
	}
	buf[0] = '\0';
}

void config_print(const struct resec_config *c, FILE *out)
{
	char buf[600];
	for (size_t i = 0; i < NSETTINGS; i++) {
		format_setting(c, &settings[i], buf, sizeof(buf));
		fprintf(out, "%s=%s\n", settings[i].env, buf);
	}
}
