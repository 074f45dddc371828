/* SPDX-License-Identifier: MIT */
/* consul: the Consul client's handle: libcurl set-up, base URL, TLS, auth and the token header. */
#include "consul_priv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"

#ifndef RESEC_VERSION
#define RESEC_VERSION "dev"
#endif

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- creation ---- */

/*
 * The base URL from CONSUL_HTTP_ADDR (checked again here: the handle may be made
 * from a config that never went through config_finish). Credentials written in
 * the address (user:pw@host) are kept out of the URL: set_auth sends them, so
 * the base URL can be shown and no error text can carry them.
 */
static int set_base(struct consul *c, const struct resec_config *cfg, struct consul_addr *a,
                    char *err, size_t errlen)
{
	struct consul_priv *p = P(c);
	const char *addr = cfg->consul_addr[0] != '\0' ? cfg->consul_addr : "127.0.0.1:8500";
	int tls = cfg->consul_ssl;
	char why[160];

	if (config_parse_consul_addr(addr, a, why, sizeof why) < 0) {
		snprintf(err, errlen, "consul: bad CONSUL_HTTP_ADDR: %s", why);
		return -1;
	}
	if (a->scheme == CONSUL_SCHEME_UNIX) {
		curl_easy_setopt(p->easy, CURLOPT_UNIX_SOCKET_PATH, a->path);
		snprintf(p->base, sizeof p->base, "%s://localhost", tls ? "https" : "http");
		return 0;
	}
	/* CONSUL_HTTP_SSL=true still wins over an explicit http://: no downgrade. */
	if (a->scheme == CONSUL_SCHEME_HTTPS)
		tls = 1;
	int v6 = strchr(a->host, ':') != NULL;
	int n = snprintf(p->base, sizeof p->base, "%s://%s%s%s", tls ? "https" : "http", v6 ? "[" : "", a->host,
	                 v6 ? "]" : "");
	if (a->port > 0 && n > 0 && (size_t)n < sizeof p->base)
		n += snprintf(p->base + n, sizeof p->base - (size_t)n, ":%d", a->port);
	if (n > 0 && (size_t)n < sizeof p->base)
		snprintf(p->base + n, sizeof p->base - (size_t)n, "%s", a->path);
	size_t len = strlen(p->base);
	while (len > 0 && p->base[len - 1] == '/')
		p->base[--len] = '\0';
	return 0;
}

/* CONSUL_TLS_SERVER_NAME: connect to the address, but name (SNI, verification) the server. */
static int set_server_name(struct consul *c, const struct resec_config *cfg, char *err, size_t errlen)
{
	struct consul_priv *p = P(c);
	char name[256], host[512], entry[900], newbase[1024];
	const char *hp, *end;
	int port;

	if (cfg->consul_tls_server_name[0] == '\0' || strncmp(p->base, "https://", 8) != 0 ||
	    strncmp(cfg->consul_addr, "unix://", 7) == 0)
		return 0;
	snprintf(name, sizeof name, "%s", cfg->consul_tls_server_name);
	char *colon = strrchr(name, ':');
	if (colon != NULL && strchr(name, ']') == NULL && strchr(name, ':') == colon)
		*colon = '\0';      /* the port is stripped, as the Go client does */
	hp = p->base + 8;
	end = hp + strcspn(hp, "/");
	snprintf(host, sizeof host, "%.*s", (int)(end - hp), hp);
	port = 443;
	char *pc = strrchr(host, ':');
	if (pc != NULL && strchr(pc, ']') == NULL) {
		char *endp;
		long pl = strtol(pc + 1, &endp, 10);
		port = *endp == '\0' && pl > 0 && pl <= 65535 ? (int)pl : -1;
		*pc = '\0';
	}
	if (port <= 0 || port > 65535) {
		snprintf(err, errlen, "consul: bad port in CONSUL_HTTP_ADDR");
		return -1;
	}
	snprintf(entry, sizeof entry, "%s:%d:%s:%d", name, port, host, port);
	p->connect_to = curl_slist_append(NULL, entry);
	if (p->connect_to == NULL) {
		snprintf(err, errlen, "consul: out of memory");
		return -1;
	}
	curl_easy_setopt(p->easy, CURLOPT_CONNECT_TO, p->connect_to);
	snprintf(newbase, sizeof newbase, "https://%s:%d%s", name, port, end);
	snprintf(p->base, sizeof p->base, "%s", newbase);
	return 0;
}

static void set_tls(struct consul *c, const struct resec_config *cfg)
{
	CURL *e = P(c)->easy;
	long verify = cfg->consul_ssl_verify ? 1L : 0L;

	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (cfg->consul_cacert[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->consul_cacert);   /* the file wins over the dir */
	else if (cfg->consul_capath[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAPATH, cfg->consul_capath);
	if (cfg->consul_client_cert[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->consul_client_cert);
	if (cfg->consul_client_key[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->consul_client_key);
}

/* Percent-decode [s, s+n) into out (a C string); -1 when it does not fit or holds a NUL. */
static int unescape_part(const char *s, size_t n, char *out, size_t size)
{
	int len = 0;
	char *d = curl_easy_unescape(NULL, s, (int)n, &len);
	int rc = d != NULL && (size_t)len < size && memchr(d, '\0', (size_t)len) == NULL ? 0 : -1;

	if (rc == 0)
		memcpy(out, d, (size_t)len + 1);
	if (d != NULL) {
		memset(d, 0, (size_t)len);
		curl_free(d);
	}
	return rc;
}

/* Basic auth: CONSUL_HTTP_AUTH, else the user[:password] written in the address. */
static int set_auth(struct consul *c, const struct resec_config *cfg, const struct consul_addr *a,
                    char *err, size_t errlen)
{
	struct consul_priv *p = P(c);
	char user[1024];
	int rc = 0;

	if (secret_is_set(&cfg->consul_auth)) {
		snprintf(user, sizeof user, "%s", secret_value(&cfg->consul_auth));
		char *colon = strchr(user, ':');
		if (colon != NULL) {
			*colon = '\0';
			snprintf(p->secret2, sizeof p->secret2, "%s", colon + 1);
		}
	} else if (a->userinfo[0] != '\0') {
		size_t ul = strcspn(a->userinfo, ":");
		const char *pw = a->userinfo[ul] == ':' ? a->userinfo + ul + 1 : "";
		if (unescape_part(a->userinfo, ul, user, sizeof user) < 0 ||
		    unescape_part(pw, strlen(pw), p->secret2, sizeof p->secret2) < 0) {
			snprintf(err, errlen, "consul: bad credentials in CONSUL_HTTP_ADDR");
			rc = -1;
		}
		/* The user part may be a secret too (some proxies take a token there). */
		snprintf(p->secret3, sizeof p->secret3, "%s", user);
	} else {
		return 0;
	}
	if (rc == 0) {
		curl_easy_setopt(p->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		if (curl_easy_setopt(p->easy, CURLOPT_USERNAME, user) != CURLE_OK ||
		    curl_easy_setopt(p->easy, CURLOPT_PASSWORD, p->secret2) != CURLE_OK) {
			snprintf(err, errlen, "consul: cannot set basic auth");
			rc = -1;
		}
	}
	memset(user, 0, sizeof user);
	return rc;
}

/* Append h to the list *l (which keeps its old value when out of memory). */
static int append_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);

	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

static int set_headers(struct consul *c, const struct resec_config *cfg)
{
	struct consul_priv *p = P(c);

	if (secret_is_set(&cfg->consul_token)) {
		char tok[1100];

		snprintf(p->secret1, sizeof p->secret1, "%s", secret_value(&cfg->consul_token));
		snprintf(tok, sizeof tok, "X-Consul-Token: %s", p->secret1);
		p->hdr_plain = curl_slist_append(NULL, tok);
		p->hdr_json = curl_slist_append(NULL, tok);
		memset(tok, 0, sizeof tok);
		if (p->hdr_plain == NULL || p->hdr_json == NULL)
			return -1;
	}
	/* No 100-continue round trip; no form Content-Type on raw KV values. */
	return append_header(&p->hdr_plain, "Expect:") != 0 || append_header(&p->hdr_plain, "Content-Type:") != 0 ||
	       append_header(&p->hdr_json, "Expect:") != 0 ||
	       append_header(&p->hdr_json, "Content-Type: application/json") != 0 ? -1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct consul *c = ud;
	struct consul_priv *p = P(c);
	size_t n = size * nmemb;

	if (c->body_len + n + 1 > CONSUL_MAX_BODY) {
		p->overflow = 1;
		return 0;
	}
	if (c->body_len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < c->body_len + n + 1)
			cap *= 2;
		char *nb = realloc(c->body, cap);
		if (nb == NULL)
			return 0;
		c->body = nb;
		p->cap = cap;
	}
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
	return n;
}

/* "Name: value" when the header line is name (case-insensitive); the value trimmed into out. */
static int header_value(const char *line, size_t n, const char *name, char *out, size_t size)
{
	size_t k = strlen(name), o = 0;

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	size_t i = k + 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (i < n && line[i] != '\r' && line[i] != '\n' && o + 1 < size)
		out[o++] = line[i++];
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct consul *c = ud;
	size_t n = size * nmemb;
	char v[64];
	uint64_t idx;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue): forget earlier headers. */
		c->index = 0;
		c->known_leader = -1;
	} else if (header_value(data, n, "X-Consul-Index", v, sizeof v)) {
		if (parse_u64(v, &idx) == 0)
			c->index = idx == 0 ? 1 : idx;   /* [C2] */
	} else if (header_value(data, n, "X-Consul-KnownLeader", v, sizeof v)) {
		c->known_leader = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -1;
	}
	return n;
}

static int easy_defaults(struct consul *c)
{
	struct consul_priv *p = P(c);
	CURL *e = p->easy;

	return curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_USERAGENT, "resec/" RESEC_VERSION) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	       curl_easy_setopt(e, CURLOPT_HEADERDATA, c) != CURLE_OK ? -1 : 0;
}

struct consul *consul_new(const struct resec_config *cfg, char *err, size_t errlen)
{
	struct consul *c;
	struct consul_priv *p;

	/* libcurl's global init is not thread-safe: once, whichever thread comes first. */
	if (pthread_once(&global_once, global_init) != 0 || global_rc != CURLE_OK) {
		snprintf(err, errlen, "consul: cannot initialise libcurl");
		return NULL;
	}
	c = calloc(1, sizeof *c);
	p = calloc(1, sizeof *p);
	if (c == NULL || p == NULL) {
		free(c);
		free(p);
		snprintf(err, errlen, "consul: out of memory");
		return NULL;
	}
	c->priv_ = p;
	c->known_leader = -1;
	p->connect_ms = DEFAULT_CONNECT_MS;
	p->request_ms = DEFAULT_REQUEST_MS;
	p->cancel_fd = -1;
	p->easy = curl_easy_init();
	p->multi = curl_multi_init();
	if (p->easy == NULL || p->multi == NULL || easy_defaults(c) != 0 || set_headers(c, cfg) != 0) {
		snprintf(err, errlen, "consul: cannot set up libcurl");
		consul_free(c);
		return NULL;
	}
	struct consul_addr a;
	int bad = set_base(c, cfg, &a, err, errlen) != 0 || set_server_name(c, cfg, err, errlen) != 0 ||
	          set_auth(c, cfg, &a, err, errlen) != 0;
	memset(&a, 0, sizeof a);
	if (bad) {
		consul_free(c);
		return NULL;
	}
	set_tls(c, cfg);
	if (cfg->consul_namespace[0] != '\0') {
		char *ns = consul_escape(cfg->consul_namespace);
		if (ns == NULL) {
			snprintf(err, errlen, "consul: out of memory");
			consul_free(c);
			return NULL;
		}
		snprintf(p->ns_param, sizeof p->ns_param, "ns=%s", ns);
		free(ns);
	}
	return c;
}

void consul_free(struct consul *c)
{
	struct consul_priv *p;

	if (c == NULL)
		return;
	p = P(c);
	if (p != NULL) {
		if (p->multi != NULL)
			curl_multi_cleanup(p->multi);
		if (p->easy != NULL)
			curl_easy_cleanup(p->easy);
		curl_slist_free_all(p->hdr_plain);
		curl_slist_free_all(p->hdr_json);
		curl_slist_free_all(p->connect_to);
		memset(p->secret1, 0, sizeof p->secret1);
		memset(p->secret2, 0, sizeof p->secret2);
		memset(p->secret3, 0, sizeof p->secret3);
		free(p);
	}
	free(c->body);
	free(c);
}

void consul_set_timeouts(struct consul *c, int64_t connect_ms, int64_t request_ms)
{
	if (connect_ms > 0)
		P(c)->connect_ms = connect_ms;
	if (request_ms > 0)
		P(c)->request_ms = request_ms;
}

void consul_set_cancel_fd(struct consul *c, int fd)
{
	P(c)->cancel_fd = fd;
}

void consul_set_deadline(struct consul *c, int64_t deadline_ms)
{
	P(c)->deadline_ms = deadline_ms;
}

const char *consul_base_url(const struct consul *c)
{
	return P(c)->base;
}

char *consul_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, (int)strlen(s));
	char *out;

	if (e == NULL)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}

