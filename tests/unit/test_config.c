/* SPDX-License-Identifier: MIT */
/* test_config: the config module against DESIGN.md and CONSUL-API.md §7, TAP-style. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#include "tap.h"

static char tmpdir[256];

static void skip(const char *name, const char *why)
{
	test_count++;
	printf("ok %d - %s # SKIP %s\n", test_count, name, why);
}

static const char *const all_vars[] = {
	"ANNOUNCE_ADDR", "CONSUL_SERVICE_PREFIX", "CONSUL_LOCK_KEY",
	"CONSUL_DEREGISTER_SERVICE_AFTER", "CONSUL_LOCK_TTL", "CONSUL_LOCK_DELAY",
	"CONSUL_LOCK_SESSION_NAME", "HEALTHCHECK_INTERVAL", "HEALTHCHECK_TIMEOUT",
	"REDIS_ADDR", "REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_PRIORITY", "REDIS_MAX_LAG", "LOG_LEVEL", "LOG_FORMAT",
	"CONSUL_SERVICE_NAME", "MASTER_TAGS", "SLAVE_TAGS", "CONSUL_REPLICA_ROLE_NAME",
	"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH",
	"CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT", "CONSUL_CAPATH",
	"CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY", "CONSUL_TLS_SERVER_NAME", "CONSUL_NAMESPACE",
};

static void env_reset(void)
{
	for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		unsetenv(all_vars[i]);
}

/* Environment, then config_finish, as a program without flags sees it. */
static int load(struct resec_config *c, char *err, size_t errlen)
{
	err[0] = '\0';
	if (config_load_env(c, err, errlen) < 0)
		return -1;
	return config_finish(c, err, errlen);
}

/* Load with exactly one variable set. */
static int load_one(struct resec_config *c, const char *var, const char *val, char *err, size_t errlen)
{
	env_reset();
	setenv(var, val, 1);
	int rc = load(c, err, errlen);
	env_reset();
	return rc;
}

static char written[16][512];
static int nwritten;

/* Write a file in the test directory; it is removed at the end. */
static char *write_file(const char *name, const char *content)
{
	if (nwritten == 16) {
		fprintf(stderr, "too many test files\n");
		exit(2);
	}
	char *p = written[nwritten++];
	snprintf(p, sizeof(written[0]), "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	if (f == NULL) {
		perror(p);
		exit(2);
	}
	if (fputs(content, f) < 0 || fclose(f) != 0) {
		perror(p);
		exit(2);
	}
	return p;
}

/* ---- config_main in a child process: exit status, stderr, result ---- */

struct run {
	int status;                 /* exit status, or -1 when killed */
	int first;
	struct resec_config cfg;
	char operands[512];         /* argv[first..] joined by '|' */
	char out[8192], errout[8192];
};

static void read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static void child_main(int mode, int argc, char **argv, int dfd)
{
	struct resec_config c;
	int first = config_main(&c, "resec-test", "usage: resec-test", argc, argv, mode, NULL, NULL, NULL);
	char ops[512] = "";
	for (int i = first; i < argc; i++) {
		strncat(ops, argv[i], sizeof(ops) - strlen(ops) - 2);
		strncat(ops, "|", sizeof(ops) - strlen(ops) - 1);
	}
	if (write(dfd, &first, sizeof(first)) < 0 || write(dfd, &c, sizeof(c)) < 0 ||
	    write(dfd, ops, sizeof(ops)) < 0)
		_exit(3);
	fflush(stderr);
	_exit(0);
}

/* Run config_main over args (NULL-ended, without argv[0]) in a child. */
static void run_main(struct run *r, int mode, const char *const *args)
{
	char *argv[64];
	int argc = 0;
	argv[argc++] = (char *)"resec-test";
	for (; *args != NULL && argc < 63; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	int outp[2], errp[2], datp[2];
	if (pipe(outp) < 0 || pipe(errp) < 0 || pipe(datp) < 0) {
		perror("pipe");
		exit(2);
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		close(outp[0]);
		close(errp[0]);
		close(datp[0]);
		child_main(mode, argc, argv, datp[1]);
	}
	close(outp[1]);
	close(errp[1]);
	close(datp[1]);
	memset(r, 0, sizeof(*r));
	r->first = -1;
	/* Everything a child writes fits in a pipe, so reading after each other is safe. */
	if (read(datp[0], &r->first, sizeof(r->first)) == (ssize_t)sizeof(r->first)) {
		if (read(datp[0], &r->cfg, sizeof(r->cfg)) < 0 || read(datp[0], r->operands, sizeof(r->operands)) < 0)
			r->first = -1;
	}
	close(datp[0]);
	read_all(outp[0], r->out, sizeof(r->out));
	read_all(errp[0], r->errout, sizeof(r->errout));
	int st;
	waitpid(pid, &st, 0);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOARGS ((const char *const[]){ NULL })

/* ---- defaults ---- */

static void test_defaults(void)
{
	struct resec_config c;
	char err[512];
	env_reset();
	check(load(&c, err, sizeof(err)) == 0, "defaults load without error");
	check(c.announce_addr.host[0] == '\0' && c.announce_addr.port == 6379, "default ANNOUNCE_ADDR is :6379");
	check(strcmp(c.service_prefix, "redis") == 0, "default CONSUL_SERVICE_PREFIX redis");
	check(strcmp(c.lock_key, "resec/.lock") == 0, "default CONSUL_LOCK_KEY resec/.lock");
	check(c.deregister_after_ms == 72LL * 3600 * 1000, "default CONSUL_DEREGISTER_SERVICE_AFTER 72h");
	check(c.lock_ttl_ms == 15000, "default CONSUL_LOCK_TTL 15s");
	check(c.lock_delay_ms == 5000, "default CONSUL_LOCK_DELAY 5s");
	check(strcmp(c.lock_session_name, "resec") == 0, "default CONSUL_LOCK_SESSION_NAME resec");
	check(c.healthcheck_interval_ms == 5000, "default HEALTHCHECK_INTERVAL 5s");
	check(c.healthcheck_timeout_ms == 2000, "default HEALTHCHECK_TIMEOUT 2s");
	check(strcmp(c.redis_addr.host, "127.0.0.1") == 0 && c.redis_addr.port == 6379, "default REDIS_ADDR 127.0.0.1:6379");
	check(c.redis_username[0] == '\0', "default REDIS_USERNAME empty");
	check(!secret_is_set(&c.redis_password), "default REDIS_PASSWORD empty");
	check(c.log_level == LOG_INFO, "default LOG_LEVEL INFO");
	check(c.log_format == LOG_FORMAT_TEXT, "default LOG_FORMAT text");
	check(c.service_name[0] == '\0', "default CONSUL_SERVICE_NAME empty");
	check(c.master_tags[0] == '\0', "default MASTER_TAGS empty");
	check(c.slave_tags[0] == '\0', "default SLAVE_TAGS empty");
	check(strcmp(c.replica_role_name, "slave") == 0, "default CONSUL_REPLICA_ROLE_NAME slave");
	check(strcmp(c.consul_addr, "127.0.0.1:8500") == 0, "default CONSUL_HTTP_ADDR 127.0.0.1:8500");
	check(!secret_is_set(&c.consul_token), "default CONSUL_HTTP_TOKEN empty");
	check(c.consul_token_file[0] == '\0', "default CONSUL_HTTP_TOKEN_FILE empty");
	check(!secret_is_set(&c.consul_auth), "default CONSUL_HTTP_AUTH empty");
	check(c.consul_ssl == 0, "default CONSUL_HTTP_SSL false");
	check(c.consul_ssl_verify == 1, "default CONSUL_HTTP_SSL_VERIFY true");
	check(c.consul_cacert[0] == '\0' && c.consul_capath[0] == '\0', "default CONSUL_CACERT/CAPATH empty");
	check(c.consul_client_cert[0] == '\0' && c.consul_client_key[0] == '\0', "default CONSUL_CLIENT_CERT/KEY empty");
	check(c.consul_tls_server_name[0] == '\0', "default CONSUL_TLS_SERVER_NAME empty");
	check(c.consul_namespace[0] == '\0', "default CONSUL_NAMESPACE empty");
	check(c.warning[0] == '\0', "defaults give no warning");
}

/* ---- bad values: through the environment and through the flag ---- */

static const char *flag_of(const char *var)
{
	static char flag[64];
	size_t n = strlen(var);
	if (n >= sizeof(flag))
		n = sizeof(flag) - 1;
	for (size_t i = 0; i < n; i++)
		flag[i] = (char)(var[i] == '_' ? '-' : var[i] - 'A' + 'a');
	flag[n] = '\0';
	return flag;
}

static void bad(const char *var, const char *val)
{
	struct resec_config c;
	char err[512];
	if (val[0] != '\0') {
		int rc = load_one(&c, var, val, err, sizeof(err));
		check(rc < 0 && strstr(err, var) != NULL && strchr(err, '\n') == NULL,
		      "env %s=\"%.40s\" is refused naming the variable (%s)", var, val, err);
	}
	env_reset();
	config_defaults(&c);
	err[0] = '\0';
	char flagname[80];
	snprintf(flagname, sizeof(flagname), "--%s", flag_of(var));
	int rc = config_set(&c, flag_of(var), val, err, sizeof(err));
	if (rc == 0)
		rc = config_finish(&c, err, sizeof(err));
	check(rc == -1 && strstr(err, flagname) != NULL, "flag %s=\"%.40s\" is refused naming the flag (%s)",
	      flagname, val, err);
}

static struct resec_config good_cfg;

static int good(const char *var, const char *val)
{
	char err[512];
	int rc = load_one(&good_cfg, var, val, err, sizeof(err));
	if (rc < 0)
		printf("# %s\n", err);
	return rc == 0;
}

static char *long_text(size_t n)
{
	static char buf[2048];
	memset(buf, 'x', n);
	buf[n] = '\0';
	return buf;
}

static void test_bad_durations(void)
{
	static const char *const vars[] = { "CONSUL_DEREGISTER_SERVICE_AFTER", "CONSUL_LOCK_TTL",
		"CONSUL_LOCK_DELAY", "HEALTHCHECK_INTERVAL", "HEALTHCHECK_TIMEOUT" };
	static const char *const vals[] = { "5", "-5s", "9999999999h", "5y", "", "1m30", "s", "5 s", "0" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		for (size_t j = 0; j < sizeof(vals) / sizeof(vals[0]); j++)
			bad(vars[i], vals[j]);
	bad("CONSUL_LOCK_TTL", "9s");
	bad("CONSUL_LOCK_TTL", "9999ms");
	bad("CONSUL_LOCK_TTL", "24h1s");
	bad("CONSUL_LOCK_TTL", "0s");
	bad("CONSUL_LOCK_DELAY", "61s");
	bad("CONSUL_LOCK_DELAY", "1m0.001s");
	bad("CONSUL_LOCK_DELAY", "2h");
	bad("HEALTHCHECK_INTERVAL", "0s");
	bad("HEALTHCHECK_TIMEOUT", "0s");
	bad("HEALTHCHECK_TIMEOUT", "2h");
	bad("CONSUL_DEREGISTER_SERVICE_AFTER", "0s");
	bad("CONSUL_DEREGISTER_SERVICE_AFTER", "500ms");

	check(good("CONSUL_LOCK_TTL", "10s") && good_cfg.lock_ttl_ms == 10000, "CONSUL_LOCK_TTL 10s (lower bound) accepted");
	check(good("CONSUL_LOCK_TTL", "24h") && good_cfg.lock_ttl_ms == 86400000, "CONSUL_LOCK_TTL 24h (upper bound) accepted");
	check(good("CONSUL_LOCK_TTL", "1m") && good_cfg.lock_ttl_ms == 60000, "CONSUL_LOCK_TTL 1m accepted");
	check(good("CONSUL_LOCK_DELAY", "60s") && good_cfg.lock_delay_ms == 60000, "CONSUL_LOCK_DELAY 60s accepted");
	check(good("CONSUL_LOCK_DELAY", "0s") && good_cfg.lock_delay_ms == 0, "CONSUL_LOCK_DELAY 0s accepted");
	check(good("HEALTHCHECK_INTERVAL", "250ms") && good_cfg.healthcheck_interval_ms == 250, "HEALTHCHECK_INTERVAL 250ms");
	check(good("HEALTHCHECK_TIMEOUT", "1.5s") && good_cfg.healthcheck_timeout_ms == 1500, "HEALTHCHECK_TIMEOUT 1.5s");
	check(good("CONSUL_DEREGISTER_SERVICE_AFTER", "1m") && good_cfg.deregister_after_ms == 60000,
	      "CONSUL_DEREGISTER_SERVICE_AFTER 1m");
	check(good("CONSUL_LOCK_TTL", "") && good_cfg.lock_ttl_ms == 15000, "empty CONSUL_LOCK_TTL reads as unset");
}

static void test_bad_addresses(void)
{
	static const char *const redis_bad[] = { "localhost", "h:0", "h:70000", "::1:6379", ":6379",
		"h:", "h:abc", "[::1]", "[::1]6379", "[]:6379", "h :1", "a[b:1", "h:-1", "h:+1",
		"h:1234567", "a/b:1", "user@h:1", "[::1]:0", "6379", "" };
	for (size_t i = 0; i < sizeof(redis_bad) / sizeof(redis_bad[0]); i++)
		bad("REDIS_ADDR", redis_bad[i]);
	static const char *const announce_bad[] = { "6379", "h:0", ":70000", "::1:6379", "", "[::1]", ":" };
	for (size_t i = 0; i < sizeof(announce_bad) / sizeof(announce_bad[0]); i++)
		bad("ANNOUNCE_ADDR", announce_bad[i]);

	check(good("REDIS_ADDR", "[::1]:6379") && strcmp(good_cfg.redis_addr.host, "::1") == 0 &&
	      good_cfg.redis_addr.port == 6379, "REDIS_ADDR [::1]:6379 accepted, host unbracketed");
	check(good("REDIS_ADDR", "redis.example:6380") && good_cfg.redis_addr.port == 6380, "REDIS_ADDR name:port");
	check(good("REDIS_ADDR", "10.0.0.1:65535") && good_cfg.redis_addr.port == 65535, "REDIS_ADDR port 65535");
	check(good("REDIS_ADDR", "h:1") && good_cfg.redis_addr.port == 1, "REDIS_ADDR port 1");
	check(good("REDIS_ADDR", "[fe80::1%eth0]:7000") && strcmp(good_cfg.redis_addr.host, "fe80::1%eth0") == 0,
	      "REDIS_ADDR with an IPv6 zone");
	check(good("ANNOUNCE_ADDR", ":6379") && good_cfg.announce_addr.host[0] == '\0' &&
	      good_cfg.announce_addr.port == 6379, "ANNOUNCE_ADDR :6379 accepted");
	check(good("ANNOUNCE_ADDR", "[2001:db8::5]:6390") && strcmp(good_cfg.announce_addr.host, "2001:db8::5") == 0,
	      "ANNOUNCE_ADDR [v6]:port accepted");
}

static void test_bad_names(void)
{
	bad("LOG_LEVEL", "trace");
	bad("LOG_LEVEL", "verbose");
	bad("LOG_LEVEL", "1");
	bad("LOG_LEVEL", "inf");
	bad("LOG_LEVEL", "");
	bad("LOG_FORMAT", "xml");
	bad("LOG_FORMAT", "jsonl");
	bad("LOG_FORMAT", "txt");
	bad("LOG_FORMAT", "");
	bad("CONSUL_REPLICA_ROLE_NAME", "master");
	bad("CONSUL_REPLICA_ROLE_NAME", "Replica");
	bad("CONSUL_REPLICA_ROLE_NAME", "secondary");
	bad("CONSUL_REPLICA_ROLE_NAME", "");
	bad("CONSUL_HTTP_SSL", "yes");
	bad("CONSUL_HTTP_SSL", "on");
	bad("CONSUL_HTTP_SSL", "tRUE");
	bad("CONSUL_HTTP_SSL", "2");
	bad("CONSUL_HTTP_SSL", "");
	bad("CONSUL_SERVICE_PREFIX", "my redis");
	bad("CONSUL_SERVICE_PREFIX", long_text(200));
	bad("CONSUL_SERVICE_PREFIX", "");
	bad("CONSUL_LOCK_KEY", "/");
	bad("CONSUL_LOCK_KEY", "a key");
	bad("CONSUL_LOCK_KEY", long_text(600));
	bad("CONSUL_HTTP_ADDR", "a b:1");
	bad("CONSUL_HTTP_ADDR", "ftp://h:1");
	bad("CONSUL_HTTP_ADDR", "HTTP://h:1");
	bad("CONSUL_HTTP_ADDR", "://h:1");
	bad("CONSUL_HTTP_ADDR", long_text(600));
	bad("CONSUL_LOCK_SESSION_NAME", long_text(200));
	bad("CONSUL_SERVICE_NAME", long_text(200));
	bad("MASTER_TAGS", long_text(600));
	bad("SLAVE_TAGS", long_text(600));
	bad("REDIS_USERNAME", long_text(200));
	bad("CONSUL_HTTP_TOKEN_FILE", long_text(600));
	bad("CONSUL_CACERT", long_text(600));
	bad("CONSUL_CAPATH", long_text(600));
	bad("CONSUL_TLS_SERVER_NAME", long_text(300));
	bad("CONSUL_NAMESPACE", long_text(200));
	bad("REDIS_PASSWORD", long_text(1024));
	bad("CONSUL_HTTP_TOKEN", long_text(1500));
	bad("CONSUL_HTTP_AUTH", long_text(2000));
	check(good("REDIS_PASSWORD", long_text(1023)) && strlen(secret_value(&good_cfg.redis_password)) == 1023,
	      "REDIS_PASSWORD of 1023 bytes accepted whole");

	/* Every flag needs its value. */
	for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++) {
		struct resec_config c;
		char err[512], flag[80];
		snprintf(flag, sizeof(flag), "--%s", flag_of(all_vars[i]));
		char *argv[] = { (char *)"p", flag, NULL };
		config_defaults(&c);
		int r = config_parse_args(&c, 2, argv, CONFIG_PERMUTE, NULL, NULL, NULL, err, sizeof(err));
		check(r == -1 && strstr(err, "needs a value") && strstr(err, flag), "%s without a value (%s)", flag, err);
	}
	bad("CONSUL_CLIENT_CERT", long_text(600));
	bad("CONSUL_CLIENT_KEY", long_text(600));

	static const struct { const char *s; int level; } levels[] = { { "debug", LOG_DEBUG },
		{ "Debug", LOG_DEBUG }, { "DEBUG", LOG_DEBUG }, { "info", LOG_INFO }, { "INFO", LOG_INFO },
		{ "Info", LOG_INFO }, { "warn", LOG_WARN }, { "WARN", LOG_WARN }, { "warning", LOG_WARN },
		{ "WARNING", LOG_WARN }, { "error", LOG_ERROR }, { "ERROR", LOG_ERROR }, { "eRRoR", LOG_ERROR } };
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		check(good("LOG_LEVEL", levels[i].s) && good_cfg.log_level == levels[i].level,
		      "LOG_LEVEL=%s is level %d", levels[i].s, levels[i].level);
	check(good("LOG_FORMAT", "json") && good_cfg.log_format == LOG_FORMAT_JSON, "LOG_FORMAT json");
	check(good("LOG_FORMAT", "JSON") && good_cfg.log_format == LOG_FORMAT_JSON, "LOG_FORMAT JSON");
	check(good("LOG_FORMAT", "text") && good_cfg.log_format == LOG_FORMAT_TEXT, "LOG_FORMAT text");
	check(good("LOG_FORMAT", "logfmt") && good_cfg.log_format == LOG_FORMAT_TEXT, "LOG_FORMAT logfmt");
	check(good("CONSUL_REPLICA_ROLE_NAME", "replica") && strcmp(good_cfg.replica_role_name, "replica") == 0,
	      "CONSUL_REPLICA_ROLE_NAME replica");
	check(good("CONSUL_REPLICA_ROLE_NAME", "slave") && strcmp(good_cfg.replica_role_name, "slave") == 0,
	      "CONSUL_REPLICA_ROLE_NAME slave");
	check(good("CONSUL_SERVICE_NAME", "redis") && strcmp(good_cfg.service_name, "redis") == 0,
	      "CONSUL_SERVICE_NAME sets tag mode");
	check(good("MASTER_TAGS", "primary,rw") && strcmp(good_cfg.master_tags, "primary,rw") == 0, "MASTER_TAGS kept");
	check(good("SLAVE_TAGS", "ro") && strcmp(good_cfg.slave_tags, "ro") == 0, "SLAVE_TAGS kept");
	check(good("REDIS_USERNAME", "app") && strcmp(good_cfg.redis_username, "app") == 0, "REDIS_USERNAME kept");
	check(good("REDIS_PASSWORD", "pw") && strcmp(secret_value(&good_cfg.redis_password), "pw") == 0,
	      "REDIS_PASSWORD kept as a secret");
	check(good("CONSUL_LOCK_SESSION_NAME", "my session") && strcmp(good_cfg.lock_session_name, "my session") == 0,
	      "CONSUL_LOCK_SESSION_NAME may contain spaces");
	check(good("CONSUL_SERVICE_PREFIX", "cache") && strcmp(good_cfg.service_prefix, "cache") == 0,
	      "CONSUL_SERVICE_PREFIX kept");
	check(good("CONSUL_SERVICE_PREFIX", "") && strcmp(good_cfg.service_prefix, "redis") == 0,
	      "empty CONSUL_SERVICE_PREFIX reads as unset");
}

static void test_bools(void)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	static const char *const junk[] = { "", "yes", "no", "on", "off", "TrUe", " true", "true ", "2", "y" };
	for (size_t i = 0; i < 6; i++) {
		check(config_parse_bool(yes[i]) == 1, "ParseBool %s is true", yes[i]);
		check(config_parse_bool(no[i]) == 0, "ParseBool %s is false", no[i]);
		check(good("CONSUL_HTTP_SSL", yes[i]) && good_cfg.consul_ssl == 1, "CONSUL_HTTP_SSL=%s", yes[i]);
		check(good("CONSUL_HTTP_SSL", no[i]) && good_cfg.consul_ssl == 0, "CONSUL_HTTP_SSL=%s", no[i]);
		check(good("CONSUL_HTTP_SSL_VERIFY", no[i]) && good_cfg.consul_ssl_verify == 0 &&
		      good_cfg.warning[0] == '\0', "CONSUL_HTTP_SSL_VERIFY=%s turns verification off", no[i]);
		check(good("CONSUL_HTTP_SSL_VERIFY", yes[i]) && good_cfg.consul_ssl_verify == 1,
		      "CONSUL_HTTP_SSL_VERIFY=%s keeps verification", yes[i]);
	}
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		check(config_parse_bool(junk[i]) == -1, "ParseBool \"%s\" is an error", junk[i]);
	static const char *const verify_junk[] = { "yes", "nope", "on", "TrUe" };
	for (size_t i = 0; i < sizeof(verify_junk) / sizeof(verify_junk[0]); i++)
		check(good("CONSUL_HTTP_SSL_VERIFY", verify_junk[i]) && good_cfg.consul_ssl_verify == 0 &&
		      strstr(good_cfg.warning, "CONSUL_HTTP_SSL_VERIFY") != NULL,
		      "CONSUL_HTTP_SSL_VERIFY=%s: verification off with a warning", verify_junk[i]);
	check(good("CONSUL_HTTP_SSL_VERIFY", "") && good_cfg.consul_ssl_verify == 1 && good_cfg.warning[0] == '\0',
	      "empty CONSUL_HTTP_SSL_VERIFY reads as unset");
}

static void test_bytes(void)
{
	static const struct { const char *s; long long n; } ok_cases[] = {
		{ "0", 0 }, { "1048576", 1048576 }, { "1K", 1024 }, { "512k", 524288 }, { "10MiB", 10485760 },
		{ "10MB", 10485760 }, { "1G", 1073741824 }, { "2GiB", 2147483648LL }, { "7B", 7 },
	};
	static const char *const junk[] = { "", "-1", "+5", " 5", "5 ", "1.5M", "10x", "MiB", "1T", "5KiBB",
		                            "99999999999999999999", "9999999999999G" };
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		long long n = -1;
		check(config_parse_bytes(ok_cases[i].s, &n) == 0 && n == ok_cases[i].n, "bytes \"%s\" = %lld",
		      ok_cases[i].s, ok_cases[i].n);
	}
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		long long n = 0;
		check(config_parse_bytes(junk[i], &n) == -1, "bytes \"%s\" is an error", junk[i]);
	}
	check(good("REDIS_MAX_LAG", "1MiB") && good_cfg.redis_max_lag == 1048576, "REDIS_MAX_LAG=1MiB");
	bad("REDIS_MAX_LAG", "lots");
	bad("REDIS_MAX_LAG", "-1");
}

/* ---- durations ---- */

static void test_durations(void)
{
	static const struct { const char *s; int64_t ms; } ok_cases[] = {
		{ "1h2m3.5s", 3723500 }, { "500ms", 500 }, { "72h", 259200000 }, { "1.5h", 5400000 },
		{ "100us", 1 }, { "2000us", 2 }, { "1000\xc2\xb5s", 1 }, { "3000\xce\xbcs", 3 },
		{ "5000000ns", 5 }, { "1ns", 1 }, { "0s", 0 }, { "0ms", 0 }, { "0h0m0s", 0 },
		{ ".5s", 500 }, { "5.s", 5000 }, { "1h1h", 7200000 }, { "1m30s", 90000 },
		{ "15s", 15000 }, { "2562047h", 2562047LL * 3600000 }, { "1.0000000001s", 1000 },
		{ "0.001s", 1 }, { "1.999ms", 1 }, { "90m", 5400000 }, { "1h0.5m", 3630000 },
		{ "00010s", 10000 },
	};
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		int64_t ms = -1;
		int rc = config_parse_duration(ok_cases[i].s, &ms);
		check(rc == 0 && ms == ok_cases[i].ms, "duration \"%s\" is %lld ms (got %lld)", ok_cases[i].s,
		      (long long)ok_cases[i].ms, (long long)ms);
	}
	static const char *const bad_cases[] = { "", "0", "5", "1.5", "-5s", "+5s", "-0s", "5x", "s", ".",
		".s", "1m30", "5 s", " 5s", "5s ", "1e3s", "0x10s", "99999999999999999999s", "9999999999h",
		"2562048h", "1h-1m", "5S", "5H", "5sec", "1..5s", "5\xc2s", "\xc2\xb5s", "5\xc2\xb5", "5m\n" };
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int64_t ms = 4242;
		check(config_parse_duration(bad_cases[i], &ms) == -1 && ms == 4242,
		      "duration \"%s\" is refused, output untouched", bad_cases[i]);
	}
	check(config_parse_duration(NULL, &(int64_t){ 0 }) == -1, "duration NULL is refused");

	static const struct { int64_t ms; const char *s; } fmt_cases[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 500, "500ms" }, { 999, "999ms" }, { 1000, "1s" },
		{ 1500, "1.5s" }, { 1010, "1.01s" }, { 1001, "1.001s" }, { 60000, "1m0s" },
		{ 90000, "1m30s" }, { 3723500, "1h2m3.5s" }, { 259200000, "72h0m0s" },
		{ -1500, "-1.5s" }, { -500, "-500ms" },
	};
	for (size_t i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		char buf[64];
		config_format_duration(fmt_cases[i].ms, buf, sizeof(buf));
		check(strcmp(buf, fmt_cases[i].s) == 0, "format %lld ms is \"%s\" (got \"%s\")",
		      (long long)fmt_cases[i].ms, fmt_cases[i].s, buf);
	}
	static const int64_t trips[] = { 0, 1, 7, 999, 1000, 1001, 1500, 59999, 60000, 61001, 3599999,
		3600000, 3723500, 86399999, 259200000, 864000000000LL, 9223372036854LL };
	for (size_t i = 0; i < sizeof(trips) / sizeof(trips[0]); i++) {
		char buf[64];
		int64_t back = -1;
		config_format_duration(trips[i], buf, sizeof(buf));
		check(config_parse_duration(buf, &back) == 0 && back == trips[i],
		      "round trip %lld ms via \"%s\"", (long long)trips[i], buf);
	}
	char small[4];
	config_format_duration(3723500, small, sizeof(small));
	check(strlen(small) == 3, "format into a short buffer is cut, not overrun");
	char minbuf[64];
	config_format_duration(INT64_MIN, minbuf, sizeof(minbuf));
	check(minbuf[0] == '-', "format INT64_MIN does not overflow (\"%s\")", minbuf);
}

/* ---- host:port ---- */

static void test_hostport(void)
{
	static const struct { const char *in, *host; int port; const char *out; } ok_cases[] = {
		{ "[::1]:6379", "::1", 6379, "[::1]:6379" },
		{ ":6379", "", 6379, ":6379" },
		{ "127.0.0.1:6379", "127.0.0.1", 6379, "127.0.0.1:6379" },
		{ "redis-1.example.com:1", "redis-1.example.com", 1, "redis-1.example.com:1" },
		{ "[2001:db8::1]:65535", "2001:db8::1", 65535, "[2001:db8::1]:65535" },
		{ "h:06379", "h", 6379, "h:6379" },
		{ "[h]:80", "h", 80, "h:80" },
	};
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct hostport hp, back;
		char buf[300];
		int rc = config_parse_hostport(ok_cases[i].in, &hp);
		check(rc == 0 && strcmp(hp.host, ok_cases[i].host) == 0 && hp.port == ok_cases[i].port,
		      "hostport \"%s\" parses", ok_cases[i].in);
		config_format_hostport(&hp, buf, sizeof(buf));
		check(strcmp(buf, ok_cases[i].out) == 0 && config_parse_hostport(buf, &back) == 0 &&
		      strcmp(back.host, hp.host) == 0 && back.port == hp.port,
		      "hostport \"%s\" formats as \"%s\" and back (got \"%s\")", ok_cases[i].in, ok_cases[i].out, buf);
	}
	static const char *const bad_cases[] = { "", "h", "h:", ":", "h:0", "h:65536", "h:70000",
		"::1:6379", "::1", "[::1]", "[::1]:", "[::1]x6379", "[]:1", "[::1:6379", "h:12a",
		"h:1 ", " h:1", "a b:1", "[a]b]:1", "a[b:1", "h]:1", "h:99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct hostport hp = { "untouched", 42 };
		check(config_parse_hostport(bad_cases[i], &hp) == -1 && hp.port == 42 &&
		      strcmp(hp.host, "untouched") == 0, "hostport \"%s\" is refused, output untouched", bad_cases[i]);
	}
	struct hostport hp;
	char longhost[400];
	memset(longhost, 'a', 300);
	snprintf(longhost + 300, sizeof(longhost) - 300, ":1");
	check(config_parse_hostport(longhost, &hp) == -1, "hostport with a 300-byte host is refused");
	check(config_parse_hostport(NULL, &hp) == -1, "hostport NULL is refused");
}

/* ---- ANNOUNCE_ADDR derivation, lock key ---- */

static void announce(const char *redis, const char *want_host, int want_port)
{
	struct resec_config c;
	char err[512];
	int rc = load_one(&c, "REDIS_ADDR", redis, err, sizeof(err));
	check(rc == 0 && strcmp(c.announce_addr.host, want_host) == 0 && c.announce_addr.port == want_port,
	      "REDIS_ADDR %s announces \"%s\":%d (got \"%s\":%d)", redis, want_host, want_port,
	      c.announce_addr.host, c.announce_addr.port);
}

static void test_loopback(void)
{
	static const struct { const char *host; int loop; } cases[] = {
		{ "127.0.0.1", 1 }, { "127.3.2.1", 1 }, { "::1", 1 }, { "::ffff:127.0.0.9", 1 },
		{ "localhost", 1 }, { "127.example", 0 }, { "128.0.0.1", 0 }, { "::2", 0 },
		{ "::ffff:10.0.0.1", 0 }, { "", 0 }, { "localhost.example", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(config_is_loopback(cases[i].host) == cases[i].loop, "loopback(%s) = %d", cases[i].host,
		      cases[i].loop);
}

static void test_announce_and_key(void)
{
	announce("127.0.0.1:7000", "", 7000);
	announce("127.8.9.10:7001", "", 7001);
	announce("[::1]:7002", "", 7002);
	announce("localhost:7003", "", 7003);
	announce("[::ffff:127.0.0.1]:7004", "", 7004);
	announce("10.1.2.3:6380", "10.1.2.3", 6380);
	announce("redis.example:6381", "redis.example", 6381);
	announce("127.example.com:6382", "127.example.com", 6382);
	announce("[2001:db8::1]:6383", "2001:db8::1", 6383);
	announce("128.0.0.1:6384", "128.0.0.1", 6384);

	struct resec_config c;
	char err[512];
	env_reset();
	setenv("REDIS_ADDR", "127.0.0.1:7000", 1);
	setenv("ANNOUNCE_ADDR", "10.0.0.9:7100", 1);
	check(load(&c, err, sizeof(err)) == 0 && strcmp(c.announce_addr.host, "10.0.0.9") == 0 &&
	      c.announce_addr.port == 7100, "an explicit ANNOUNCE_ADDR wins over the derived one");
	setenv("ANNOUNCE_ADDR", ":7200", 1);
	check(load(&c, err, sizeof(err)) == 0 && c.announce_addr.host[0] == '\0' && c.announce_addr.port == 7200,
	      "ANNOUNCE_ADDR :7200 kept as given");
	env_reset();

	static const char *const keys[][2] = { { "/a/b", "a/b" }, { "///x/.lock", "x/.lock" },
		{ "plain", "plain" }, { "a/b.c/.lock", "a/b.c/.lock" } };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check(good("CONSUL_LOCK_KEY", keys[i][0]) && strcmp(good_cfg.lock_key, keys[i][1]) == 0,
		      "CONSUL_LOCK_KEY %s is %s", keys[i][0], keys[i][1]);
	config_defaults(&c);
	check(config_set(&c, "consul-lock-key", "///", err, sizeof(err)) == -1 &&
	      strcmp(c.lock_key, "resec/.lock") == 0, "a refused lock key leaves the setting unchanged");
}

/* ---- argument parsing ---- */

struct seen {
	char log[512];
};

enum { OPT_TIMEOUT = 1, OPT_ONCE, OPT_FAIL };

static const struct cli_option prog_opts[] = {
	{ "timeout", 't', 1, OPT_TIMEOUT },
	{ "once", 'o', 0, OPT_ONCE },
	{ "fail", 0, 1, OPT_FAIL },
	{ NULL, 0, 0, 0 },
};

static int handler(void *ctx, int id, const char *value, char *err, size_t errlen)
{
	struct seen *s = ctx;
	char item[128];
	if (id == OPT_FAIL) {
		snprintf(err, errlen, "bad --fail value");
		return -1;
	}
	snprintf(item, sizeof(item), "%d=%s;", id, value ? value : "(null)");
	strncat(s->log, item, sizeof(s->log) - strlen(s->log) - 1);
	return 0;
}

/* Parse a copy of args (NULL-ended, argv[0] included); return the operands joined by '|'. */
static int parse(struct resec_config *c, int mode, const char *const *args, struct seen *seen,
                 char *ops, size_t opslen, char *err, size_t errlen)
{
	char *argv[64];
	int argc = 0;
	for (; argc < 63 && args[argc] != NULL; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	config_defaults(c);
	memset(seen, 0, sizeof(*seen));
	err[0] = '\0';
	ops[0] = '\0';
	int first = config_parse_args(c, argc, argv, mode, prog_opts, handler, seen, err, errlen);
	for (int i = first; first >= 0 && i < argc; i++) {
		strncat(ops, argv[i], opslen - strlen(ops) - 2);
		strncat(ops, "|", opslen - strlen(ops) - 1);
	}
	return first;
}

static void test_args(void)
{
	struct resec_config c;
	struct seen s;
	char ops[512], err[512];
	int r;

	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-addr=h:1"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 2 && strcmp(c.redis_addr.host, "h") == 0 && c.redis_addr.port == 1, "--flag=value");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-addr", "h:2"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 3 && c.redis_addr.port == 2, "--flag value");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--consul-lock-session-name="), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 2 && c.lock_session_name[0] == '\0', "--flag= gives an empty value");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-addr"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "--redis-addr") && strstr(err, "needs a value"), "missing value (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--timeout"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "--timeout needs a value"), "missing value of a program option (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-t"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "-t needs a value"), "missing value of a short option (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--no-such-flag"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "unknown flag --no-such-flag") == 0, "unknown long flag (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-x"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "unknown flag -x") == 0, "unknown short flag (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-adr=h:1"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "unknown flag --redis-adr") == 0, "unknown flag with a value names only the flag");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-h"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -2, "-h is help");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "x", "--help"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -2, "--help after an operand is help");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--version"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -3, "--version");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--help=yes"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "--help takes no value"), "--help=yes is bad usage (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--", "--help"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 2 && strcmp(ops, "--help|") == 0, "--help after -- is an operand");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-addr", "h:1", "--redis-addr", "h:9"), &s, ops, sizeof(ops),
	          err, sizeof(err));
	check(r == 5 && c.redis_addr.port == 9, "the last of a repeated flag wins");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--redis-addr", "--x"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "REDIS_ADDR") && strstr(err, "\"--x\""),
	      "a flag takes the next argument as its value, even one with dashes (%s)", err);

	/* Program options. */
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-t", "5", "-t6", "--timeout=7", "--timeout", "8", "-o", "--once"),
	          &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 9 && strcmp(s.log, "1=5;1=6;1=7;1=8;2=(null);2=(null);") == 0, "program options, all forms (%s)", s.log);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--once=yes"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "--once takes no value"), "--once=yes refused (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-ox"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strstr(err, "-o takes no value"), "-ox refused (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--fail", "x"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "bad --fail value") == 0, "a handler error is passed back");

	/* Operands: permutation, "--", chain-loading. */
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "a", "--redis-addr", "h:3", "b", "-", "--", "--c", "d"), &s, ops,
	          sizeof(ops), err, sizeof(err));
	check(r == 4 && strcmp(ops, "a|b|-|--c|d|") == 0 && c.redis_addr.port == 3,
	      "PERMUTE: options after operands, operands moved to the end in order (%d %s)", r, ops);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "replica", "h:1", "--log-level", "debug"), &s, ops, sizeof(ops),
	          err, sizeof(err));
	check(r == 3 && strcmp(ops, "replica|h:1|") == 0 && c.log_level == LOG_DEBUG, "PERMUTE: resec-role replica X --flag");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 1 && ops[0] == '\0', "no arguments: first operand index is argc");
	r = parse(&c, CONFIG_STOP_AT_OPERAND, ARGS("p", "--redis-addr", "h:4", "sh", "-c", "--redis-addr", "x"), &s,
	          ops, sizeof(ops), err, sizeof(err));
	check(r == 3 && strcmp(ops, "sh|-c|--redis-addr|x|") == 0 && c.redis_addr.port == 4,
	      "STOP_AT_OPERAND: the first operand starts the child, its flags untouched (%s)", ops);
	r = parse(&c, CONFIG_STOP_AT_OPERAND, ARGS("p", "-t", "1", "--", "prog", "--help"), &s, ops, sizeof(ops),
	          err, sizeof(err));
	check(r == 4 && strcmp(ops, "prog|--help|") == 0, "STOP_AT_OPERAND: -- then the child");
	r = parse(&c, CONFIG_STOP_AT_OPERAND, ARGS("p", "--", "--", "x"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 2 && strcmp(ops, "--|x|") == 0, "only the first -- ends the options");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "a", "--", "b"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == 2 && strcmp(ops, "a|b|") == 0, "PERMUTE: operands before and after --");

	char *av[] = { (char *)"p", (char *)"a", (char *)"--redis-addr", (char *)"h:3", (char *)"b",
	               (char *)"-o", (char *)"--", (char *)"-c", NULL };
	r = config_parse_args(&c, 8, av, CONFIG_PERMUTE, prog_opts, handler, &s, err, sizeof(err));
	check(r == 5 && strcmp(av[1], "--redis-addr") == 0 && strcmp(av[2], "h:3") == 0 && strcmp(av[3], "-o") == 0 &&
	      strcmp(av[4], "--") == 0 && strcmp(av[5], "a") == 0 && strcmp(av[6], "b") == 0 && strcmp(av[7], "-c") == 0,
	      "PERMUTE: argv stays a permutation, options first as getopt leaves it");
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "--bad\nflag=1"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "unknown flag --bad?flag") == 0, "an unknown flag with a newline stays one line (%s)", err);
	r = parse(&c, CONFIG_PERMUTE, ARGS("p", "-\x01"), &s, ops, sizeof(ops), err, sizeof(err));
	check(r == -1 && strcmp(err, "unknown flag -?") == 0, "an unknown control-character short flag prints '?'");
}

/* ---- config_main: flags beat the environment, exit codes ---- */

static void test_main(void)
{
	struct run r;
	env_reset();
	setenv("REDIS_ADDR", "10.0.0.1:7000", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--redis-addr", "10.0.0.2:7001"));
	check(r.status == 0 && r.cfg.redis_addr.port == 7001, "flag beats environment");
	run_main(&r, CONFIG_PERMUTE, ARGS("--redis-addr=127.0.0.1:6379"));
	check(r.status == 0 && strcmp(r.cfg.redis_addr.host, "127.0.0.1") == 0 && r.cfg.redis_addr.port == 6379,
	      "flag beats environment when the flag equals the default");
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == 0 && r.cfg.redis_addr.port == 7000 && strcmp(r.cfg.announce_addr.host, "10.0.0.1") == 0,
	      "environment beats the default");
	env_reset();
	setenv("LOG_LEVEL", "debug", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--log-level", "INFO"));
	check(r.status == 0 && r.cfg.log_level == LOG_INFO, "--log-level INFO (the default) beats LOG_LEVEL=debug");
	setenv("CONSUL_LOCK_TTL", "1m", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--consul-lock-ttl", "15s"));
	check(r.status == 0 && r.cfg.lock_ttl_ms == 15000 && r.cfg.log_level == LOG_DEBUG,
	      "--consul-lock-ttl 15s beats CONSUL_LOCK_TTL=1m, other variables still apply");
	env_reset();
	setenv("REDIS_ADDR", "garbage", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--redis-addr", "h:1"));
	check(r.status == 0 && r.cfg.redis_addr.port == 1, "a bad variable is not read when its flag is given");
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == EXIT_USAGE && strstr(r.errout, "resec-test: invalid REDIS_ADDR (--redis-addr) \"garbage\"") &&
	      strchr(r.errout, '\n') == r.errout + strlen(r.errout) - 1, "a bad variable: one line, exit 64 (%s)", r.errout);
	env_reset();
	setenv("REDIS_ADDR", "a\nb:1", 1);
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == EXIT_USAGE && strstr(r.errout, "\"a?b:1\"") && strchr(r.errout, '\n') == r.errout + strlen(r.errout) - 1,
	      "a newline in a bad value does not split the error line");
	env_reset();
	run_main(&r, CONFIG_PERMUTE, ARGS("--nope"));
	check(r.status == EXIT_USAGE && strcmp(r.errout, "resec-test: unknown flag --nope\n") == 0 && r.out[0] == '\0',
	      "unknown flag: exit 64, one line on stderr");
	run_main(&r, CONFIG_PERMUTE, ARGS("--help"));
	check(r.status == 0 && strstr(r.out, "usage: resec-test") && strstr(r.out, "--redis-addr") && r.errout[0] == '\0',
	      "--help: usage on stdout, exit 0");
	run_main(&r, CONFIG_PERMUTE, ARGS("--version"));
	check(r.status == 0 && strcmp(r.out, "resec-test " RESEC_VERSION "\n") == 0, "--version");
	setenv("LOG_LEVEL", "bogus", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--help"));
	check(r.status == 0, "--help works even with a bad environment");
	env_reset();
	run_main(&r, CONFIG_PERMUTE, ARGS("x", "--log-format", "json", "y"));
	check(r.status == 0 && r.first == 3 && strcmp(r.operands, "x|y|") == 0 && r.cfg.log_format == LOG_FORMAT_JSON,
	      "config_main returns the first operand");
	setenv("CONSUL_HTTP_SSL_VERIFY", "maybe", 1);
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == 0 && r.cfg.consul_ssl_verify == 0 && strstr(r.errout, "level=warn") &&
	      strstr(r.errout, "CONSUL_HTTP_SSL_VERIFY"), "SSL_VERIFY junk: a warning is logged (%s)", r.errout);
	env_reset();
}

/* ---- Consul client variables (CONSUL-API.md §7) ---- */

static void token_case(const char *name, const char *env_token, const char *env_file,
                       const char *const *args, const char *want)
{
	struct run r;
	env_reset();
	if (env_token)
		setenv("CONSUL_HTTP_TOKEN", env_token, 1);
	if (env_file)
		setenv("CONSUL_HTTP_TOKEN_FILE", env_file, 1);
	run_main(&r, CONFIG_PERMUTE, args);
	const char *got = secret_value(&r.cfg.consul_token);
	check(r.status == 0 && strcmp(got, want) == 0, "token: %s (got \"%s\", status %d %s)", name, got,
	      r.status, r.errout);
	env_reset();
}

static void test_consul(void)
{
	char *f_tok = write_file("tok", "  filetok \n\t");
	char *f_tok2 = write_file("tok2", "flagfiletok\n");
	char *f_empty = write_file("empty", "");
	char *f_blank = write_file("blank", " \n\t\n");
	char missing[600];
	snprintf(missing, sizeof(missing), "%s/missing", tmpdir);

	token_case("env token only", "envtok", NULL, NOARGS, "envtok");
	token_case("env file beats env token", "envtok", f_tok, NOARGS, "filetok");
	token_case("file whitespace trimmed", NULL, f_tok, NOARGS, "filetok");
	token_case("flag token beats env file", "envtok", f_tok, ARGS("--consul-http-token", "flagtok"), "flagtok");
	token_case("flag token beats env token", "envtok", NULL, ARGS("--consul-http-token=flagtok"), "flagtok");
	token_case("flag file beats flag token", "envtok", f_tok,
	           ARGS("--consul-http-token-file", f_tok2, "--consul-http-token", "flagtok"), "flagfiletok");
	token_case("flag file beats flag token in either order", NULL, NULL,
	           ARGS("--consul-http-token", "flagtok", "--consul-http-token-file", f_tok2), "flagfiletok");
	token_case("flag file beats env file", NULL, f_tok, ARGS("--consul-http-token-file", f_tok2), "flagfiletok");
	token_case("empty env file falls through to env token", "envtok", f_empty, NOARGS, "envtok");
	token_case("blank env file falls through to env token", "envtok", f_blank, NOARGS, "envtok");
	token_case("empty flag file falls through to flag token", "envtok", NULL,
	           ARGS("--consul-http-token-file", f_empty, "--consul-http-token", "flagtok"), "flagtok");
	token_case("empty flag file falls through to env token", "envtok", NULL,
	           ARGS("--consul-http-token-file", f_empty), "envtok");
	token_case("flag token: unreadable env file not read", NULL, missing,
	           ARGS("--consul-http-token", "flagtok"), "flagtok");
	token_case("no token at all", NULL, NULL, NOARGS, "");

	struct run r;
	env_reset();
	setenv("CONSUL_HTTP_TOKEN_FILE", missing, 1);
	setenv("CONSUL_HTTP_TOKEN", "envtok-secret", 1);
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == EXIT_USAGE && strstr(r.errout, "Error loading token file") && strstr(r.errout, missing) &&
	      !strstr(r.errout, "envtok-secret"), "missing token file: fatal, names the file (%s)", r.errout);
	env_reset();
	run_main(&r, CONFIG_PERMUTE, ARGS("--consul-http-token-file", tmpdir));
	check(r.status == EXIT_USAGE && strstr(r.errout, "Error loading token file") && strstr(r.errout, tmpdir),
	      "a directory as token file: fatal (%s)", r.errout);
	char *f_noread = write_file("noread", "secret-in-file");
	chmod(f_noread, 0);
	if (geteuid() == 0) {
		skip("unreadable token file: fatal", "root reads any file");
	} else {
		run_main(&r, CONFIG_PERMUTE, ARGS("--consul-http-token-file", f_noread));
		check(r.status == EXIT_USAGE && strstr(r.errout, "Error loading token file") && strstr(r.errout, f_noread),
		      "unreadable token file: fatal, names the file (%s)", r.errout);
	}

	static const char *const addrs[] = { "127.0.0.1:8500", "http://127.0.0.1:8500", "https://consul:8501/prefix",
		"unix:///var/run/consul.sock", "consul.service:8500" };
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		check(good("CONSUL_HTTP_ADDR", addrs[i]) && strcmp(good_cfg.consul_addr, addrs[i]) == 0,
		      "CONSUL_HTTP_ADDR %s accepted as is", addrs[i]);
	static const char *const schemes[][2] = { { "ftp://h:1", "ftp" }, { "HTTPS://h:1", "HTTPS" },
		{ "tcp://h:1", "tcp" }, { "://h", "" } };
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		struct resec_config c;
		char err[512], want[64];
		snprintf(want, sizeof(want), "Unknown protocol scheme: %s", schemes[i][1]);
		check(load_one(&c, "CONSUL_HTTP_ADDR", schemes[i][0], err, sizeof(err)) == -1 && strstr(err, want) &&
		      strstr(err, "CONSUL_HTTP_ADDR"), "CONSUL_HTTP_ADDR %s: %s", schemes[i][0], err);
	}

	struct resec_config c;
	char err[512];
	check(load_one(&c, "CONSUL_CLIENT_CERT", "/c.pem", err, sizeof(err)) == -1 &&
	      strstr(err, "both client cert and client key must be provided"), "client cert without key: error");
	check(load_one(&c, "CONSUL_CLIENT_KEY", "/k.pem", err, sizeof(err)) == -1 &&
	      strstr(err, "both client cert and client key must be provided"), "client key without cert: error");
	env_reset();
	setenv("CONSUL_CLIENT_CERT", "/c.pem", 1);
	setenv("CONSUL_CLIENT_KEY", "/k.pem", 1);
	setenv("CONSUL_CACERT", "/ca.pem", 1);
	setenv("CONSUL_CAPATH", "/etc/ca", 1);
	setenv("CONSUL_TLS_SERVER_NAME", "consul.example", 1);
	setenv("CONSUL_NAMESPACE", "team-a", 1);
	setenv("CONSUL_HTTP_AUTH", "user:pw", 1);
	setenv("CONSUL_HTTP_SSL", "true", 1);
	check(load(&c, err, sizeof(err)) == 0 && strcmp(c.consul_client_cert, "/c.pem") == 0 &&
	      strcmp(c.consul_client_key, "/k.pem") == 0 && strcmp(c.consul_cacert, "/ca.pem") == 0 &&
	      strcmp(c.consul_capath, "/etc/ca") == 0 && strcmp(c.consul_tls_server_name, "consul.example") == 0 &&
	      strcmp(c.consul_namespace, "team-a") == 0 && strcmp(secret_value(&c.consul_auth), "user:pw") == 0 &&
	      c.consul_ssl == 1, "TLS, auth and namespace variables are read");
	env_reset();
	config_defaults(&c);
	check(config_set(&c, "consul-client-cert", "/c.pem", err, sizeof(err)) == 0 &&
	      config_finish(&c, err, sizeof(err)) == -1 && strstr(err, "CONSUL_CLIENT_CERT"),
	      "--consul-client-cert alone: error at finish");
	check(config_set(&c, "no-such", "x", err, sizeof(err)) == -2, "config_set on an unknown name returns -2");
}

/* ---- secrets never reach error text ---- */

static void no_leak(const char *name, const char *const *args, const char *secret)
{
	struct run r;
	run_main(&r, CONFIG_PERMUTE, args);
	check(r.status == EXIT_USAGE && r.errout[0] != '\0' && strstr(r.errout, secret) == NULL &&
	      strstr(r.out, secret) == NULL, "secret not in error: %s (%s)", name, r.errout);
}

static void test_secrets(void)
{
	static const char *const vars[] = { "REDIS_PASSWORD", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_AUTH" };
	char longflag[300] = "--";
	memset(longflag + 2, 'z', 200);
	memcpy(longflag + 202, "=S3cr3tValue", sizeof("=S3cr3tValue"));
	for (size_t i = 0; i < 3; i++) {
		char flag[80], bad_flag[80], eqflag[120];
		env_reset();
		setenv(vars[i], "S3cr3tValue", 1);
		snprintf(flag, sizeof(flag), "--%s", flag_of(vars[i]));
		snprintf(bad_flag, sizeof(bad_flag), "--%sx=S3cr3tValue", flag_of(vars[i]));
		snprintf(eqflag, sizeof(eqflag), "%s=S3cr3tValue", flag);
		no_leak("env + bad REDIS_ADDR", ARGS("--redis-addr", "nope"), "S3cr3tValue");
		no_leak("env + unknown flag", ARGS("--nope"), "S3cr3tValue");
		env_reset();
		no_leak("misspelt secret flag with a value", ARGS(bad_flag), "S3cr3tValue");
		no_leak("secret flag then a bad flag", ARGS(eqflag, "--log-level", "loud"), "S3cr3tValue");
		no_leak("secret flag then an unknown flag", ARGS(flag, "S3cr3tValue", "-q"), "S3cr3tValue");
		no_leak("over-long flag name with a secret value", ARGS(longflag), "S3cr3tValue");
		setenv(vars[i], "S3cr3tValue", 1);
		setenv("CONSUL_HTTP_TOKEN_FILE", "/nonexistent/token", 1);
		no_leak("env + unreadable token file", NOARGS, "S3cr3tValue");
		setenv("CONSUL_HTTP_TOKEN_FILE", "", 1);
		setenv("CONSUL_CLIENT_CERT", "/c.pem", 1);
		no_leak("env + cert without key", NOARGS, "S3cr3tValue");
		env_reset();
		char toolong[1100];
		memset(toolong, 'Q', sizeof(toolong) - 1);
		toolong[sizeof(toolong) - 1] = '\0';
		memcpy(toolong, "S3cr3tValue", 11);
		setenv(vars[i], toolong, 1);
		no_leak("a secret too long", NOARGS, "S3cr3tValue");
		env_reset();
	}
	char *f = write_file("sectok", "FileS3cr3t\n");
	env_reset();
	setenv("CONSUL_HTTP_TOKEN_FILE", f, 1);
	setenv("CONSUL_HTTP_ADDR", "gopher://x", 1);
	no_leak("token file contents + bad address", NOARGS, "FileS3cr3t");
	env_reset();
}

/* ---- hostile settings: refused at start, naming the setting, nothing secret shown ---- */

/* Refused with reason in the error, both by variable and by flag. */
static void bad_why(const char *var, const char *val, const char *reason)
{
	struct resec_config c;
	char err[512];
	int rc = load_one(&c, var, val, err, sizeof(err));
	check(rc < 0 && strstr(err, var) != NULL && strstr(err, reason) != NULL && config_find_control(err) == NULL,
	      "%s=\"%.40s\" refused: %s (%s)", var, val, reason, err);
	bad(var, val);
}

static void test_hostile_values(void)
{
	static const char *const controls[] = { "a\rb", "a\nb", "a\x1b[2Jb", "a\tb", "a\x7f", "\x01" };
	for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		for (size_t k = 0; k < sizeof(controls) / sizeof(controls[0]); k++) {
			struct resec_config c;
			char err[512];
			int rc = load_one(&c, all_vars[i], controls[k], err, sizeof(err));
			check(rc < 0 && strstr(err, all_vars[i]) != NULL && config_find_control(err) == NULL,
			      "%s with control character %zu refused, one clean line (%s)", all_vars[i], k, err);
		}
	/* The token's CR LF would have become a header of its own. */
	struct resec_config c;
	char err[512];
	check(load_one(&c, "CONSUL_HTTP_TOKEN", "tok\r\nX-Injected: 1", err, sizeof(err)) < 0 &&
	      strstr(err, "control characters") && !strstr(err, "Injected"),
	      "CONSUL_HTTP_TOKEN with CR LF refused, its value not shown (%s)", err);

	static const char *const keys[] = { "../agent/self", "a/../b", "a/..", "./x", "a/./b", "a//b", "a/",
		"a?b", "a#b", "a%2fb", "a b", "a\\b", "\xc3\xa9", "." };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		bad("CONSUL_LOCK_KEY", keys[i]);
	bad_why("CONSUL_LOCK_KEY", "../agent/self", "a . or .. segment");
	bad_why("CONSUL_LOCK_KEY", "resec//.lock", "an empty segment");
	bad_why("CONSUL_LOCK_KEY", "resec/.lock?recurse", "printable ASCII");
	static const char *const good_keys[] = { "a.b/..c/.lock", "x/y-z_1/.lock", "...", "a~b" };
	for (size_t i = 0; i < sizeof(good_keys) / sizeof(good_keys[0]); i++)
		check(good("CONSUL_LOCK_KEY", good_keys[i]) && strcmp(good_cfg.lock_key, good_keys[i]) == 0,
		      "CONSUL_LOCK_KEY %s accepted", good_keys[i]);

	static const char *const names[] = { "a/b", "..", ".", "a?b", "a#b", "a%b", "a b", "a:b", "a@b", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bad("CONSUL_SERVICE_PREFIX", names[i]);
		bad("CONSUL_SERVICE_NAME", names[i]);
	}
	bad_why("CONSUL_SERVICE_PREFIX", "../../agent", "only letters, digits");
	check(good("CONSUL_SERVICE_NAME", "my_svc.v2-1") && strcmp(good_cfg.service_name, "my_svc.v2-1") == 0,
	      "CONSUL_SERVICE_NAME with _ . - accepted");
	config_defaults(&c);
	check(config_set(&c, "consul-service-name", "", err, sizeof(err)) == 0 &&
	      config_set(&c, "consul-service-prefix", "", err, sizeof(err)) == -1,
	      "--consul-service-name \"\" turns tag mode off; an empty prefix is refused");

	static const struct { const char *addr, *why; } addrs[] = {
		{ "127.0.0.1:99999", "port" }, { "127.0.0.1:0", "port" }, { "h:", "port" }, { "h:8x", "port" },
		{ "http://", "no host" }, { "http://:8500", "no host" }, { "https:///x", "no host" },
		{ ":8500", "no host" }, { "h:8500?x=1", "query" }, { "http://h:8500/#f", "query" },
		{ "http://h/p?q", "query" }, { "::1:8500", "brackets" }, { "[::1", "unclosed" },
		{ "[::1]x", "after the bracketed" }, { "h:80:90", "brackets" }, { "@h:1", "credentials" },
		{ "http://u:p@", "no host" }, { "unix://", "unix socket" },
		{ "ex ample:1", "spaces" }, { "h%41:1", "host" }, { "gopher://h", "Unknown protocol scheme" },
		{ "http://u:%00x@h:1", "must encode a printable byte" }, { "http://u:%zz@h:1", "must encode" },
		{ "http://u%0a@h:1", "must encode" }, { "http://u:p%4@h:1", "must encode" },
	};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		bad_why("CONSUL_HTTP_ADDR", addrs[i].addr, addrs[i].why);
	static const char *const good_addrs[] = { "http://user:pw@h:8500", "http://u:p%40ss%3a@h:8500", "[::1]:8500", "http://[::1]:8500/consul",
		"h", "https://h", "unix:///run/consul@1.sock", "h_1.example:8500/x/y" };
	for (size_t i = 0; i < sizeof(good_addrs) / sizeof(good_addrs[0]); i++)
		check(good("CONSUL_HTTP_ADDR", good_addrs[i]) && strcmp(good_cfg.consul_addr, good_addrs[i]) == 0,
		      "CONSUL_HTTP_ADDR %s accepted", good_addrs[i]);
	struct consul_addr a;
	check(config_parse_consul_addr("https://u%40x:p%3Aw@[fe80::1]:8501/consul", &a, err, sizeof(err)) == 0 &&
	      a.scheme == CONSUL_SCHEME_HTTPS && strcmp(a.userinfo, "u%40x:p%3Aw") == 0 &&
	      strcmp(a.host, "fe80::1") == 0 && a.port == 8501 && strcmp(a.path, "/consul") == 0,
	      "an address taken apart: scheme, credentials, bracketed host, port, prefix");
	static const char *const redact[][2] = { { "http://u:S3cr3t@h:1", "http://***@h:1" },
		{ "u:S3cr3t@h:1", "***@h:1" }, { "http://u:S3/cr?3t@h:1", "http://***@h:1" },
		{ "http://h:1", "http://h:1" }, { "unix:///a@b", "unix:///a@b" } };
	for (size_t i = 0; i < sizeof(redact) / sizeof(redact[0]); i++) {
		char out[128];
		config_redact_addr(redact[i][0], out, sizeof(out));
		check(strcmp(out, redact[i][1]) == 0, "redacted %s is %s (%s)", redact[i][0], redact[i][1], out);
	}
	struct run r;
	env_reset();
	setenv("CONSUL_HTTP_ADDR", "http://admin:S3cr3tPw@consul:99999", 1);
	run_main(&r, CONFIG_PERMUTE, NOARGS);
	check(r.status == EXIT_USAGE && strstr(r.errout, "CONSUL_HTTP_ADDR") && strstr(r.errout, "***@consul") &&
	      !strstr(r.errout, "S3cr3tPw") && !strstr(r.errout, "admin"),
	      "a bad address with credentials: refused, credentials redacted (%s)", r.errout);
	setenv("CONSUL_HTTP_ADDR", "http://admin:S3cr3tPw@consul:8500", 1);
	run_main(&r, CONFIG_PERMUTE, ARGS("--print-config"));
	check(r.status == 0 && strstr(r.out, "CONSUL_HTTP_ADDR=http://***@consul:8500\n") && !strstr(r.out, "S3cr3tPw"),
	      "--print-config redacts the address's credentials");
	env_reset();

	bad("CONSUL_TLS_SERVER_NAME", "a/b");
	bad("CONSUL_TLS_SERVER_NAME", "https://consul");
	bad("CONSUL_TLS_SERVER_NAME", "u@consul");
	bad("CONSUL_TLS_SERVER_NAME", "consul?x");
	check(good("CONSUL_TLS_SERVER_NAME", "consul.test:8501"), "CONSUL_TLS_SERVER_NAME with a port accepted");
}

/* Load with CONSUL_HTTP_TOKEN_FILE=path; 1 when refused naming the file with reason, token unseen. */
static int token_file_refused(const char *path, const char *reason, const char *secret)
{
	struct resec_config c;
	char err[512];
	int rc = load_one(&c, "CONSUL_HTTP_TOKEN_FILE", path, err, sizeof(err));
	if (rc == 0 || strstr(err, reason) == NULL || strstr(err, path) == NULL ||
	    (secret != NULL && strstr(err, secret) != NULL)) {
		printf("# %s: %s\n", path, err);
		return 0;
	}
	return 1;
}

static void test_hostile_token_files(void)
{
	char fifo[600];
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	if (mkfifo(fifo, 0600) < 0) {
		perror(fifo);
		exit(2);
	}
	/* Opening a FIFO for reading used to block until a writer came: forever. */
	check(token_file_refused(fifo, "not a regular file", NULL), "a FIFO as token file: refused at once");
	unlink(fifo);
	check(token_file_refused("/dev/null", "not a regular file", NULL), "/dev/null as token file: refused");
	check(token_file_refused("/dev/zero", "not a regular file", NULL), "/dev/zero as token file: refused");
	char *crlf = write_file("crlf", "Tok3nA\r\nX-Injected: 1\n");
	check(token_file_refused(crlf, "control characters", "Tok3nA"), "CR LF inside a token file: refused");
	char *nul = write_file("nul", "");
	FILE *f = fopen(nul, "w");
	fwrite("Tok3nB\0rest", 1, 11, f);
	fclose(f);
	check(token_file_refused(nul, "control characters", "Tok3nB"), "a NUL inside a token file: refused");
	char big[5000];
	memset(big, 'T', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *toolong = write_file("toolong", big);
	check(token_file_refused(toolong, "longer than 1023 bytes", "TTTT"), "a 5000-byte token file: refused");
	memset(big, ' ', 3000);
	memset(big + 3000, 'T', 1023);
	big[4023] = '\n';
	big[4024] = '\0';
	char *padded = write_file("padded", big);
	check(good("CONSUL_HTTP_TOKEN_FILE", padded) && strlen(secret_value(&good_cfg.consul_token)) == 1023,
	      "a 1023-byte token among blanks is read whole");
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	/* A regression that blocks (a FIFO opened for reading) fails instead of hanging the suite. */
	alarm(120);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_defaults();
	test_bad_durations();
	test_bad_addresses();
	test_bad_names();
	test_bools();
	test_bytes();
	test_durations();
	test_hostport();
	test_loopback();
	test_announce_and_key();
	test_args();
	test_main();
	test_consul();
	test_secrets();
	test_hostile_values();
	test_hostile_token_files();
	for (int i = 0; i < nwritten; i++)
		unlink(written[i]);
	if (rmdir(tmpdir) < 0)
		perror(tmpdir);
	return tap_done();
}
