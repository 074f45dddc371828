/* SPDX-License-Identifier: MIT */
/* consul: a small Consul HTTP API client on libcurl, and the blocking-query loop rules. */
#include "consul.h"

#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "secret.h"

#ifndef RESEC_VERSION
#define RESEC_VERSION "dev"
#endif

#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_REQUEST_MS 10000
#define DEFAULT_WAIT_MS ((int64_t)5 * 60 * 1000)   /* server default when wait is absent */
#define MAX_WAIT_MS ((int64_t)10 * 60 * 1000)      /* server clamp */
#define POLL_SLICE_MS 1000

struct priv {
	CURL *easy;
	CURLM *multi;
	struct curl_slist *hdr_plain;   /* token, no Expect, no Content-Type */
	struct curl_slist *hdr_json;    /* the same plus Content-Type: application/json */
	struct curl_slist *connect_to;  /* TLS server name override */
	char base[1024];                /* scheme://host:port[/prefix], no trailing slash */
	char ns_param[400];             /* "ns=<escaped>" or "" */
	char secret1[1024];             /* token, to scrub from error text */
	char secret2[1024];             /* basic auth password */
	char secret3[1024];             /* basic auth user, when it came from the address */
	char errbuf[CURL_ERROR_SIZE];
	int64_t connect_ms;
	int64_t request_ms;
	int64_t deadline_ms;
	int cancel_fd;
	size_t cap;                     /* of c->body */
	int overflow;                   /* body exceeded CONSUL_MAX_BODY */
};

#define P(c) ((struct priv *)(c)->priv_)

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- errors ---- */

static void scrub(char *s, const char *secret)
{
	size_t n = strlen(secret);
	char *p;

	/* Very short secrets would mask ordinary words; they cannot appear in our texts anyway. */
	if (n < 4)
		return;
	while ((p = strstr(s, secret)) != NULL) {
		memset(p, '*', 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
}

static void seterr(struct consul *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void seterr(struct consul *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	if (c->priv_ != NULL) {
		scrub(c->err, P(c)->secret1);
		scrub(c->err, P(c)->secret2);
		scrub(c->err, P(c)->secret3);
	}
}

/* The body as one short line: controls become spaces, runs collapse, ends trimmed. */
static void body_line(const char *b, size_t n, char *out, size_t size)
{
	size_t o = 0;
	int space = 1;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)b[i];
		if (ch < 0x20 || ch == 0x7f || ch == ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		out[o++] = (char)ch;
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
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
	struct priv *p = P(c);
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
	struct priv *p = P(c);
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
	struct priv *p = P(c);
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

static int set_headers(struct consul *c, const struct resec_config *cfg)
{
	struct priv *p = P(c);
	struct curl_slist *l;

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
	l = curl_slist_append(p->hdr_plain, "Expect:");
	if (l == NULL)
		return -1;
	p->hdr_plain = l;
	l = curl_slist_append(p->hdr_plain, "Content-Type:");
	if (l == NULL)
		return -1;
	l = curl_slist_append(p->hdr_json, "Expect:");
	if (l == NULL)
		return -1;
	p->hdr_json = l;
	l = curl_slist_append(p->hdr_json, "Content-Type: application/json");
	return l == NULL ? -1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct consul *c = ud;
	struct priv *p = P(c);
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
	struct priv *p = P(c);
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
	struct priv *p;

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
	struct priv *p;

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

/* ---- one request ---- */

/* Run the transfer on the multi handle, watching the cancel fd. */
static int run_transfer(struct consul *c, CURLcode *res)
{
	struct priv *p = P(c);
	int running = 1;

	if (curl_multi_add_handle(p->multi, p->easy) != CURLM_OK)
		return -1;
	for (;;) {
		if (curl_multi_perform(p->multi, &running) != CURLM_OK)
			break;
		if (running == 0)
			break;
		struct curl_waitfd extra = { .fd = p->cancel_fd, .events = CURL_WAIT_POLLIN, .revents = 0 };
		int nfds = 0;
		if (curl_multi_poll(p->multi, p->cancel_fd >= 0 ? &extra : NULL, p->cancel_fd >= 0 ? 1 : 0,
		                    POLL_SLICE_MS, &nfds) != CURLM_OK)
			break;
		if (p->cancel_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN) != 0) {
			curl_multi_remove_handle(p->multi, p->easy);
			return CONSUL_CANCELLED;
		}
	}
	*res = CURLE_FAILED_INIT;
	int left = 0;
	CURLMsg *m;
	while ((m = curl_multi_info_read(p->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == p->easy)
			*res = m->data.result;
	curl_multi_remove_handle(p->multi, p->easy);
	return 0;
}

static void set_method(CURL *e, const char *method, const void *body, size_t len)
{
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);   /* resets any earlier POST state */
	curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
		return;
	}
	if (strcmp(method, "PUT") == 0 || body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : "");
	}
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
}

/* The client timeout of a request: blocking ones outlast the server's wait + wait/16 jitter. */
static int64_t request_timeout(const struct priv *p, int64_t wait_ms)
{
	int64_t t = p->request_ms;

	if (wait_ms > 0) {
		if (wait_ms > MAX_WAIT_MS)
			wait_ms = MAX_WAIT_MS;
		t += wait_ms + wait_ms / 16;
	}
	return t;
}

/*
 * Send one request; CONSUL_OK when an HTTP answer came back (any status), else
 * CONSUL_ERR/CONSUL_CANCELLED with c->err set.
 */
static int transport(struct consul *c, const char *method, const char *path, const char *query,
                     const void *body, size_t body_len, int64_t wait_ms, int json_body)
{
	struct priv *p = P(c);
	struct json_buf url = {0};
	int64_t timeout = request_timeout(p, wait_ms);
	int deadline_bound = 0, rc;
	CURLcode res = CURLE_OK;

	c->status = 0;
	c->index = 0;
	c->known_leader = -1;
	c->body_len = 0;
	if (c->body != NULL)
		c->body[0] = '\0';
	p->overflow = 0;
	p->errbuf[0] = '\0';
	if (p->deadline_ms > 0) {
		int64_t now = clock_now_ms();

		if (p->deadline_ms - now <= 0) {
			seterr(c, "consul: %s %s: timed out (deadline passed)", method, path);
			return CONSUL_ERR;
		}
		if (p->deadline_ms - now < timeout) {
			timeout = p->deadline_ms - now;
			deadline_bound = 1;
		}
	}
	json_buf_raw(&url, p->base);
	json_buf_raw(&url, path);
	if (query != NULL && query[0] != '\0') {
		json_buf_raw(&url, "?");
		json_buf_raw(&url, query);
	}
	if (p->ns_param[0] != '\0') {
		json_buf_raw(&url, query != NULL && query[0] != '\0' ? "&" : "?");
		json_buf_raw(&url, p->ns_param);
	}
	if (url.failed) {
		json_buf_free(&url);
		seterr(c, "consul: %s %s: out of memory", method, path);
		return CONSUL_ERR;
	}
	curl_easy_setopt(p->easy, CURLOPT_URL, url.data);
	json_buf_free(&url);
	set_method(p->easy, method, body, body_len);
	curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, json_body ? p->hdr_json : p->hdr_plain);
	curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->connect_ms < timeout ? p->connect_ms : timeout));
	curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)timeout);
	rc = run_transfer(c, &res);
	if (rc == CONSUL_CANCELLED) {
		seterr(c, "consul: %s %s: cancelled", method, path);
		return CONSUL_CANCELLED;
	}
	if (rc != 0) {
		seterr(c, "consul: %s %s: cannot start the request", method, path);
		return CONSUL_ERR;
	}
	if (res != CURLE_OK) {
		if (res == CURLE_OPERATION_TIMEDOUT)
			seterr(c, "consul: %s %s: timed out after %lld ms%s", method, path, (long long)timeout,
			       deadline_bound ? " (deadline)" : "");
		else if (p->overflow)
			seterr(c, "consul: %s %s: response larger than %u bytes", method, path, CONSUL_MAX_BODY);
		else
			seterr(c, "consul: %s %s: %s", method, path,
			       p->errbuf[0] != '\0' ? p->errbuf : curl_easy_strerror(res));
		return CONSUL_ERR;
	}
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->body == NULL) {
		c->body = calloc(1, 1);
		if (c->body == NULL) {
			seterr(c, "consul: out of memory");
			return CONSUL_ERR;
		}
		p->cap = 1;
	}
	return CONSUL_OK;
}

/* Set c->err from a non-2xx answer: "consul: PUT /v1/kv/x: 500 No cluster leader". */
static void http_error(struct consul *c, const char *method, const char *path)
{
	char line[160];

	body_line(c->body, c->body_len, line, sizeof line);
	seterr(c, "consul: %s %s: %ld%s%s", method, path, c->status, line[0] ? " " : "", line);
}

static int is_2xx(const struct consul *c)
{
	return c->status >= 200 && c->status < 300;
}

int consul_request(struct consul *c, const char *method, const char *path, const char *query,
                   const void *body, size_t body_len, int64_t wait_ms)
{
	int rc = transport(c, method, path, query, body, body_len, wait_ms, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, method, path);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- path and query building ---- */

/* "/v1/kv/" + key with each '/'-separated segment escaped; leading slashes stripped. */
static int build_path(struct json_buf *b, const char *prefix, const char *name, int strip)
{
	const char *s = name;

	json_buf_raw(b, prefix);
	if (strip)
		while (*s == '/')
			s++;
	while (*s != '\0') {
		size_t n = strcspn(s, "/");
		char seg[1024];
		if (n >= sizeof seg)
			return -1;
		memcpy(seg, s, n);
		seg[n] = '\0';
		char *e = consul_escape(seg);
		if (e == NULL)
			return -1;
		json_buf_raw(b, e);
		free(e);
		s += n;
		if (*s == '/') {
			json_buf_raw(b, "/");
			s++;
		}
	}
	return b->failed ? -1 : 0;
}

static void add_param(struct json_buf *q, const char *name, const char *value)
{
	if (q->len > 0)
		json_buf_raw(q, "&");
	json_buf_raw(q, name);
	if (value == NULL)
		return;
	json_buf_raw(q, "=");
	char *e = consul_escape(value);
	if (e == NULL) {
		q->failed = 1;
		return;
	}
	json_buf_raw(q, e);
	free(e);
}

static void add_uparam(struct json_buf *q, const char *name, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
	add_param(q, name, tmp);
}

/* Blocking and consistency parameters; returns the wait for the client timeout. */
static int64_t add_query(struct json_buf *q, const struct consul_query *o)
{
	int64_t wait = 0;

	if (o == NULL)
		return 0;
	if (o->index > 0) {
		add_uparam(q, "index", o->index);
		wait = DEFAULT_WAIT_MS;
		if (o->wait_ms > 0) {
			char w[32];

			config_format_duration(o->wait_ms, w, sizeof w);
			add_param(q, "wait", w);
			wait = o->wait_ms;
		}
	}
	if (o->consistent)
		add_param(q, "consistent", NULL);
	else if (o->stale)
		add_param(q, "stale", NULL);
	return wait;
}

/*
 * Request with a built path and query; frees both. Returns transport's result;
 * the caller looks at c->status.
 */
static int call(struct consul *c, const char *method, struct json_buf *path, struct json_buf *q,
                const void *body, size_t len, int64_t wait_ms, int json_body)
{
	int rc;

	if (path->failed || q->failed) {
		seterr(c, "consul: %s %s: bad name or out of memory", method, path->data ? path->data : "");
		rc = CONSUL_ERR;
	} else {
		rc = transport(c, method, path->data, q->data, body, len, wait_ms, json_body);
	}
	if (rc == CONSUL_OK && !is_2xx(c))
		http_error(c, method, path->data);
	json_buf_free(path);
	json_buf_free(q);
	return rc;
}

/* Decode c->body as true/false into *ok. */
static int bool_body(struct consul *c, const char *what, int *ok)
{
	char e[128];

	if (json_decode_bool(c->body, c->body_len, ok, e, sizeof e) != 0) {
		seterr(c, "consul: %s: %s", what, e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- status, agent ---- */

int consul_status_leader(struct consul *c, char *leader, size_t len)
{
	char e[128];

	int rc = consul_request(c, "GET", "/v1/status/leader", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (json_decode_string(c->body, c->body_len, leader, len, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/status/leader: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

int consul_agent_self(struct consul *c, char *node, size_t nodelen, char *dc, size_t dclen)
{
	char e[128];
	int rc = consul_request(c, "GET", "/v1/agent/self", NULL, NULL, 0, 0);

	if (rc != CONSUL_OK)
		return rc;
	if (json_decode_agent_self(c->body, c->body_len, node, nodelen, dc, dclen, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/agent/self: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- sessions ---- */

static void add_str_array(struct json_buf *b, const char *const *v, size_t n)
{
	json_buf_raw(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			json_buf_raw(b, ",");
		json_buf_string(b, v[i] != NULL ? v[i] : "");
	}
	json_buf_raw(b, "]");
}

static void session_body(struct json_buf *b, const struct consul_session_opts *o)
{
	char d[32];
	const char *sep = "";

	json_buf_raw(b, "{");
	if (o->name != NULL && o->name[0] != '\0') {
		json_buf_raw(b, "\"Name\":");
		json_buf_string(b, o->name);
		sep = ",";
	}
	if (o->node != NULL && o->node[0] != '\0') {
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"Node\":");
		json_buf_string(b, o->node);
		sep = ",";
	}
	if (o->ttl_ms > 0) {
		config_format_duration(o->ttl_ms, d, sizeof d);
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"TTL\":");
		json_buf_string(b, d);
		sep = ",";
	}
	if (o->lock_delay_set) {
		/* A string, so that 0 really disables lock-delay ("0s"), unlike the Go api. */
		config_format_duration(o->lock_delay_ms > 0 ? o->lock_delay_ms : 0, d, sizeof d);
		json_buf_raw(b, sep);
		json_buf_raw(b, "\"LockDelay\":");
		json_buf_string(b, d);
		sep = ",";
	}
	json_buf_raw(b, sep);
	json_buf_raw(b, "\"Behavior\":");
	json_buf_string(b, o->behavior != NULL && o->behavior[0] != '\0' ? o->behavior : "release");
	if (o->node_checks_set) {
		json_buf_raw(b, ",\"NodeChecks\":");
		add_str_array(b, o->node_checks, o->n_node_checks);
	}
	if (o->n_service_checks > 0) {
		json_buf_raw(b, ",\"ServiceChecks\":[");
		for (size_t i = 0; i < o->n_service_checks; i++) {
			json_buf_raw(b, i > 0 ? ",{\"ID\":" : "{\"ID\":");
			json_buf_string(b, o->service_checks[i] != NULL ? o->service_checks[i] : "");
			json_buf_raw(b, "}");
		}
		json_buf_raw(b, "]");
	}
	json_buf_raw(b, "}");
}

int consul_session_create(struct consul *c, const struct consul_session_opts *o, char *id, size_t idlen)
{
	struct json_buf body = {0};
	char e[128];
	int rc;

	session_body(&body, o);
	if (body.failed) {
		json_buf_free(&body);
		seterr(c, "consul: PUT /v1/session/create: out of memory");
		return CONSUL_ERR;
	}
	rc = transport(c, "PUT", "/v1/session/create", NULL, body.data, body.len, 0, 1);
	json_buf_free(&body);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, "PUT", "/v1/session/create");
		return CONSUL_ERR;
	}
	if (json_decode_id(c->body, c->body_len, id, idlen, e, sizeof e) != 0) {
		seterr(c, "consul: PUT /v1/session/create: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* Decode a sessions array body; first session into *out (may be NULL); CONSUL_ABSENT when empty. */
static int first_session(struct consul *c, const char *what, struct json_session *out)
{
	struct json_session *arr;
	size_t n;
	char e[128];

	if (json_decode_sessions(c->body, c->body_len, &arr, &n, e, sizeof e) != 0) {
		seterr(c, "consul: %s: %s", what, e);
		return CONSUL_ERR;
	}
	if (n == 0) {
		free(arr);
		seterr(c, "consul: %s: session gone", what);
		return CONSUL_ABSENT;
	}
	if (out != NULL)
		*out = arr[0];
	free(arr);
	return CONSUL_OK;
}

/* PUT <prefix><id> without a body; an empty id is an error naming what is missing. */
static int put_id(struct consul *c, const char *prefix, const char *id, const char *what)
{
	struct json_buf path = {0}, q = {0};

	if (id == NULL || id[0] == '\0') {
		seterr(c, "consul: PUT %s: missing %s", prefix, what);
		return CONSUL_ERR;
	}
	build_path(&path, prefix, id, 0);
	return call(c, "PUT", &path, &q, NULL, 0, 0, 0);
}

int consul_session_renew(struct consul *c, const char *id, int64_t *ttl_ms)
{
	struct json_session s;
	int rc = put_id(c, "/v1/session/renew/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		seterr(c, "consul: PUT /v1/session/renew: session gone (404)");
		return CONSUL_ABSENT;
	}
	if (!is_2xx(c))
		return CONSUL_ERR;
	rc = first_session(c, "PUT /v1/session/renew", &s);
	if (rc == CONSUL_OK && ttl_ms != NULL && s.ttl_ms > 0)
		*ttl_ms = s.ttl_ms;
	return rc;
}

int consul_session_destroy(struct consul *c, const char *id)
{
	int rc = put_id(c, "/v1/session/destroy/", id, "session");

	if (rc != CONSUL_OK)
		return rc;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_session_info(struct consul *c, const char *id, const struct consul_query *qo,
                        struct json_session *out)
{
	struct json_buf path = {0}, q = {0};
	int64_t wait;
	int rc;

	if (id == NULL || id[0] == '\0') {
		seterr(c, "consul: GET /v1/session/info/: missing session");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/session/info/", id, 0);
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return first_session(c, "GET /v1/session/info", out);
}

int consul_session_node(struct consul *c, const char *node, struct json_session **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];

	*out = NULL;
	*n = 0;
	if (node == NULL || node[0] == '\0') {
		seterr(c, "consul: GET /v1/session/node/: missing node");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/session/node/", node, 0);
	int rc = call(c, "GET", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_sessions(c->body, c->body_len, out, n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/session/node: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- KV ---- */

static int kv_path(struct consul *c, struct json_buf *path, const char *key, const char *method)
{
	const char *k = key != NULL ? key : "";

	while (*k == '/')
		k++;
	if (*k == '\0') {
		seterr(c, "consul: %s /v1/kv/: missing key name", method);
		return -1;
	}
	build_path(path, "/v1/kv/", k, 1);
	return 0;
}

int consul_kv_get(struct consul *c, const char *key, const struct consul_query *qo,
                  struct json_kv_entry *out)
{
	struct json_buf path = {0}, q = {0};
	struct json_kv_entry *arr;
	size_t n;
	char e[128];
	int64_t wait;
	int rc;

	memset(out, 0, sizeof *out);
	if (kv_path(c, &path, key, "GET") != 0)
		return CONSUL_ERR;
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';
		return CONSUL_ABSENT;
	}
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_kv(c->body, c->body_len, &arr, &n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/kv: %s", e);
		return CONSUL_ERR;
	}
	if (n == 0) {
		free(arr);
		return CONSUL_ABSENT;
	}
	*out = arr[0];
	for (size_t i = 1; i < n; i++)
		json_kv_entry_clear(&arr[i]);
	free(arr);
	return CONSUL_OK;
}

/* PUT /v1/kv/key with one of cas/acquire/release (name, value) and flags; *ok from the body. */
static int kv_write(struct consul *c, const char *key, const char *op, const char *opval,
                    uint64_t flags, const void *value, size_t len, int *ok)
{
	struct json_buf path = {0}, q = {0};
	int rc, dummy;

	if (ok == NULL)
		ok = &dummy;
	*ok = 0;
	if (kv_path(c, &path, key, "PUT") != 0)
		return CONSUL_ERR;
	if (op != NULL)
		add_param(&q, op, opval);
	add_uparam(&q, "flags", flags);
	rc = call(c, "PUT", &path, &q, value != NULL ? value : "", value != NULL ? len : 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return bool_body(c, "PUT /v1/kv", ok);
}

int consul_kv_put(struct consul *c, const char *key, uint64_t flags, const void *value, size_t len)
{
	int ok;

	return kv_write(c, key, NULL, NULL, flags, value, len, &ok);
}

int consul_kv_put_cas(struct consul *c, const char *key, uint64_t cas, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	char v[24];

	snprintf(v, sizeof v, "%llu", (unsigned long long)cas);
	return kv_write(c, key, "cas", v, flags, value, len, ok);
}

/* ?acquire= or ?release= with a session, which both need. */
static int kv_session_write(struct consul *c, const char *key, const char *op, const char *session,
                            uint64_t flags, const void *value, size_t len, int *ok)
{
	if (session == NULL || session[0] == '\0') {
		seterr(c, "consul: PUT /v1/kv: %s needs a session", op);
		return CONSUL_ERR;
	}
	return kv_write(c, key, op, session, flags, value, len, ok);
}

int consul_kv_acquire(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	return kv_session_write(c, key, "acquire", session, flags, value, len, ok);
}

int consul_kv_release(struct consul *c, const char *key, const char *session, uint64_t flags,
                      const void *value, size_t len, int *ok)
{
	return kv_session_write(c, key, "release", session, flags, value, len, ok);
}

int consul_kv_delete_cas(struct consul *c, const char *key, uint64_t cas, int *ok)
{
	struct json_buf path = {0}, q = {0};
	int rc;

	*ok = 0;
	if (kv_path(c, &path, key, "DELETE") != 0)
		return CONSUL_ERR;
	add_uparam(&q, "cas", cas);
	rc = call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	return bool_body(c, "DELETE /v1/kv", ok);
}

int consul_kv_delete(struct consul *c, const char *key)
{
	struct json_buf path = {0}, q = {0};
	int rc;

	if (kv_path(c, &path, key, "DELETE") != 0)
		return CONSUL_ERR;
	rc = call(c, "DELETE", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

/* ---- agent services and checks ---- */

static void member(struct json_buf *b, const char **sep, const char *name)
{
	json_buf_raw(b, *sep);
	json_buf_string(b, name);
	json_buf_raw(b, ":");
	*sep = ",";
}

static void check_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";
	char d[32];

	json_buf_raw(b, "{");
	if (s->check_id != NULL && s->check_id[0] != '\0') {
		member(b, &sep, "CheckID");
		json_buf_string(b, s->check_id);
	}
	if (s->check_name != NULL && s->check_name[0] != '\0') {
		member(b, &sep, "Name");
		json_buf_string(b, s->check_name);
	}
	config_format_duration(s->check_ttl_ms, d, sizeof d);
	member(b, &sep, "TTL");
	json_buf_string(b, d);
	if (s->check_status != NULL && s->check_status[0] != '\0') {
		member(b, &sep, "Status");
		json_buf_string(b, s->check_status);
	}
	if (s->check_notes != NULL && s->check_notes[0] != '\0') {
		member(b, &sep, "Notes");
		json_buf_string(b, s->check_notes);
	}
	if (s->deregister_after_ms > 0) {
		config_format_duration(s->deregister_after_ms, d, sizeof d);
		member(b, &sep, "DeregisterCriticalServiceAfter");
		json_buf_string(b, d);
	}
	json_buf_raw(b, "}");
}

static void service_body(struct json_buf *b, const struct consul_service *s)
{
	const char *sep = "";

	json_buf_raw(b, "{");
	if (s->id != NULL && s->id[0] != '\0') {
		member(b, &sep, "ID");
		json_buf_string(b, s->id);
	}
	member(b, &sep, "Name");
	json_buf_string(b, s->name);
	if (s->ntags > 0) {
		member(b, &sep, "Tags");
		add_str_array(b, s->tags, s->ntags);
	}
	if (s->address != NULL && s->address[0] != '\0') {
		member(b, &sep, "Address");
		json_buf_string(b, s->address);
	}
	if (s->port > 0) {
		member(b, &sep, "Port");
		json_buf_int(b, s->port);
	}
	if (s->nmeta > 0) {
		member(b, &sep, "Meta");
		json_buf_raw(b, "{");
		for (size_t i = 0; i < s->nmeta; i++) {
			if (i > 0)
				json_buf_raw(b, ",");
			json_buf_string(b, s->meta_keys[i] != NULL ? s->meta_keys[i] : "");
			json_buf_raw(b, ":");
			json_buf_string(b, s->meta_values[i] != NULL ? s->meta_values[i] : "");
		}
		json_buf_raw(b, "}");
	}
	if (s->check_ttl_ms > 0) {
		member(b, &sep, "Check");
		check_body(b, s);
	}
	json_buf_raw(b, "}");
}

int consul_service_register(struct consul *c, const struct consul_service *s)
{
	struct json_buf body = {0};
	const char *path = "/v1/agent/service/register";
	int rc;

	if (s->name == NULL || s->name[0] == '\0') {
		seterr(c, "consul: PUT %s: missing service name", path);
		return CONSUL_ERR;
	}
	service_body(&body, s);
	if (body.failed) {
		json_buf_free(&body);
		seterr(c, "consul: PUT %s: out of memory", path);
		return CONSUL_ERR;
	}
	rc = consul_request_json(c, "PUT", path, s->replace_existing_checks ? "replace-existing-checks" : NULL,
	                         body.data, body.len);
	json_buf_free(&body);
	return rc;
}

int consul_request_json(struct consul *c, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len)
{
	int rc = transport(c, method, path, query, body, body_len, 0, 1);

	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c)) {
		http_error(c, method, path);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

int consul_service_deregister(struct consul *c, const char *id)
{
	int rc = put_id(c, "/v1/agent/service/deregister/", id, "service ID");

	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404) {
		c->err[0] = '\0';    /* unknown service: already gone */
		return CONSUL_OK;
	}
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_check_update(struct consul *c, const char *check_id, const char *status, const char *output)
{
	struct json_buf path = {0}, body = {0};
	int rc;

	if (check_id == NULL || check_id[0] == '\0' || status == NULL) {
		seterr(c, "consul: PUT /v1/agent/check/update/: missing check ID or status");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/agent/check/update/", check_id, 0);
	json_buf_raw(&body, "{\"Status\":");
	json_buf_string(&body, status);
	json_buf_raw(&body, ",\"Output\":");
	json_buf_string(&body, output != NULL ? output : "");
	json_buf_raw(&body, "}");
	if (path.failed || body.failed) {
		seterr(c, "consul: PUT /v1/agent/check/update: out of memory");
		rc = CONSUL_ERR;
	} else {
		rc = transport(c, "PUT", path.data, NULL, body.data, body.len, 0, 1);
		if (rc == CONSUL_OK && !is_2xx(c)) {
			http_error(c, "PUT", path.data);
			rc = c->status == 404 ? CONSUL_ABSENT : CONSUL_ERR;
		}
	}
	json_buf_free(&path);
	json_buf_free(&body);
	return rc;
}

int consul_check_ttl(struct consul *c, const char *check_id, const char *status, const char *note)
{
	struct json_buf path = {0}, q = {0};
	char prefix[40];
	int rc;

	if (check_id == NULL || check_id[0] == '\0' || status == NULL ||
	    (strcmp(status, "pass") != 0 && strcmp(status, "warn") != 0 && strcmp(status, "fail") != 0)) {
		seterr(c, "consul: PUT /v1/agent/check: missing check ID or bad status");
		return CONSUL_ERR;
	}
	snprintf(prefix, sizeof prefix, "/v1/agent/check/%s/", status);
	build_path(&path, prefix, check_id, 0);
	if (note != NULL && note[0] != '\0')
		add_param(&q, "note", note);
	rc = call(c, "PUT", &path, &q, NULL, 0, 0, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (c->status == 404)
		return CONSUL_ABSENT;
	return is_2xx(c) ? CONSUL_OK : CONSUL_ERR;
}

int consul_health_service(struct consul *c, const char *service, const char *tag, int passing,
                          const struct consul_query *qo, struct json_health_entry **out, size_t *n)
{
	struct json_buf path = {0}, q = {0};
	char e[128];
	int64_t wait;
	int rc;

	*out = NULL;
	*n = 0;
	if (service == NULL || service[0] == '\0') {
		seterr(c, "consul: GET /v1/health/service/: missing service name");
		return CONSUL_ERR;
	}
	build_path(&path, "/v1/health/service/", service, 0);
	if (passing)
		add_param(&q, "passing", NULL);
	if (tag != NULL && tag[0] != '\0')
		add_param(&q, "tag", tag);
	wait = add_query(&q, qo);
	rc = call(c, "GET", &path, &q, NULL, 0, wait, 0);
	if (rc != CONSUL_OK)
		return rc;
	if (!is_2xx(c))
		return CONSUL_ERR;
	if (json_decode_health(c->body, c->body_len, out, n, e, sizeof e) != 0) {
		seterr(c, "consul: GET /v1/health/service: %s", e);
		return CONSUL_ERR;
	}
	return CONSUL_OK;
}

/* ---- blocking-query loop rules ---- */

void consul_watch_init(struct consul_watch *w)
{
	memset(w, 0, sizeof *w);
	w->burst = 2;
	w->rate_min_ms = 1000;
	w->rate_max_ms = 15000;
	w->backoff_base_ms = 5000;
	w->backoff_max_ms = 180000;
	w->refill_ms = w->rate_min_ms;
	w->tokens_x1000 = (int64_t)w->burst * 1000;
}

/* Bring the bucket up to now; a bucket that stays full speeds the refill back up. */
static void watch_refill(struct consul_watch *w, int64_t now)
{
	int64_t full = (int64_t)w->burst * 1000;

	if (w->refill_ms < w->rate_min_ms)
		w->refill_ms = w->rate_min_ms > 0 ? w->rate_min_ms : 1;
	if (w->last_ms == 0 || now < w->last_ms) {
		w->last_ms = now;
		if (w->tokens_x1000 >= full && w->full_since_ms == 0)
			w->full_since_ms = now;
		return;
	}
	if (w->tokens_x1000 < full) {
		int64_t add = (now - w->last_ms) * 1000 / w->refill_ms;
		if (add == 0)
			return;   /* keep last_ms: the time accumulates */
		if (w->tokens_x1000 + add >= full) {
			int64_t need = full - w->tokens_x1000;
			w->full_since_ms = w->last_ms + (need * w->refill_ms + 999) / 1000;
			w->tokens_x1000 = full;
			w->last_ms = now;
		} else {
			w->tokens_x1000 += add;
			w->last_ms += add * w->refill_ms / 1000;
		}
	} else {
		w->last_ms = now;
		if (w->full_since_ms == 0)
			w->full_since_ms = now;
	}
	if (w->tokens_x1000 >= full) {
		while (w->refill_ms > w->rate_min_ms && now - w->full_since_ms >= w->refill_ms) {
			w->full_since_ms += w->refill_ms;
			w->refill_ms /= 2;
			if (w->refill_ms < w->rate_min_ms)
				w->refill_ms = w->rate_min_ms;
		}
	}
}

int64_t consul_watch_delay(struct consul_watch *w, int64_t now_ms)
{
	int64_t rate = 0, back = 0;

	watch_refill(w, now_ms);
	if (w->tokens_x1000 < 1000) {
		rate = ((1000 - w->tokens_x1000) * w->refill_ms + 999) / 1000;
		w->waited = 1;
	}
	if (w->retry_at_ms > now_ms)
		back = w->retry_at_ms - now_ms;
	return rate > back ? rate : back;
}

void consul_watch_begin(struct consul_watch *w, int64_t now_ms)
{
	watch_refill(w, now_ms);
	if (w->waited || w->tokens_x1000 < 1000) {
		/* Churn: the bucket ran dry, so slow the refill down, towards rate_max_ms. */
		w->refill_ms *= 2;
		if (w->refill_ms > w->rate_max_ms)
			w->refill_ms = w->rate_max_ms;
		w->waited = 0;
	}
	if (w->tokens_x1000 >= (int64_t)w->burst * 1000)
		w->last_ms = now_ms;   /* refilling starts now */
	w->tokens_x1000 -= 1000;
	if (w->tokens_x1000 < -1000)
		w->tokens_x1000 = -1000;
	w->full_since_ms = 0;
}

/*
 * A changed answer is news, not churn: it gives its token back and ends any
 * slowdown, so the next request goes out at once. Only a loop of unchanged
 * answers (an index that moves without the content, [C3]) spends the bucket;
 * so a real change is never held behind earlier wake-ups that said nothing,
 * and changes come no faster than Consul commits them.
 */
static void watch_refund(struct consul_watch *w)
{
	int64_t full = (int64_t)w->burst * 1000;

	w->tokens_x1000 = w->tokens_x1000 < 0 ? 1000 : w->tokens_x1000 + 1000;
	if (w->tokens_x1000 > full)
		w->tokens_x1000 = full;
	w->refill_ms = w->rate_min_ms;
	w->waited = 0;
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int consul_watch_update(struct consul_watch *w, uint64_t index, const void *content, size_t len)
{
	uint64_t h = fnv1a(content != NULL ? content : "", content != NULL ? len : 0);
	int changed;

	w->failures = 0;
	w->retry_at_ms = 0;
	if (index == 0)
		index = 1;                 /* [C2] */
	if (index < w->index)
		w->index = 0;              /* [C1]: one non-blocking read, then resume */
	else
		w->index = index;
	changed = !w->have_hash || h != w->hash;
	w->hash = h;
	w->have_hash = 1;
	if (changed)
		watch_refund(w);
	return changed;
}

static uint64_t watch_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0)
		state = (uint64_t)clock_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

void consul_watch_failed(struct consul_watch *w, int64_t now_ms)
{
	int64_t d, f;

	if (w->failures < 1000)
		w->failures++;
	f = w->failures;
	d = w->backoff_base_ms * f * f;
	if (d > w->backoff_max_ms || d < 0 || f > 1000)
		d = w->backoff_max_ms;
	if (d > 1)
		d = d / 2 + (int64_t)(watch_random() % (uint64_t)(d / 2 + 1));   /* jitter in [d/2, d] */
	w->retry_at_ms = now_ms + d;
	w->index = 0;
}
