/* SPDX-License-Identifier: MIT */
/* http_curl: https to Consul through libcurl, loaded with dlopen only when an https address is configured. */
#include "http.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#ifndef RESEC_VERSION
#define RESEC_VERSION "dev"
#endif

#define POLL_SLICE_MS 1000

/*
 * No resec binary links libcurl: a node on plain HTTP never maps it and its 33
 * libraries (about 1.3 MB private per process). curl/curl.h gives the types
 * and constants; the functions come from dlsym. Once loaded it stays loaded.
 */
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} lc;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_err[200];

/* dlsym into a function pointer (through memcpy: ISO C has no void * to function pointer cast). */
static int sym(void *lib, const char *name, void *fp, size_t size)
{
	void *s = dlsym(lib, name);

	if (s == NULL || size != sizeof s)
		return -1;
	memcpy(fp, &s, size);
	return 0;
}

#define SYM(lib, field, name) sym(lib, name, &lc.field, sizeof lc.field)

static void load(void)
{
	void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (lib == NULL) {
		e = dlerror();
		snprintf(load_err, sizeof load_err, "%s", e != NULL ? e : "cannot load");
		return;
	}
	if (SYM(lib, global_init, "curl_global_init") || SYM(lib, easy_init, "curl_easy_init") ||
	    SYM(lib, easy_setopt, "curl_easy_setopt") || SYM(lib, easy_getinfo, "curl_easy_getinfo") ||
	    SYM(lib, easy_cleanup, "curl_easy_cleanup") || SYM(lib, easy_strerror, "curl_easy_strerror") ||
	    SYM(lib, multi_init, "curl_multi_init") || SYM(lib, multi_add_handle, "curl_multi_add_handle") ||
	    SYM(lib, multi_remove_handle, "curl_multi_remove_handle") ||
	    SYM(lib, multi_perform, "curl_multi_perform") || SYM(lib, multi_poll, "curl_multi_poll") ||
	    SYM(lib, multi_info_read, "curl_multi_info_read") || SYM(lib, multi_cleanup, "curl_multi_cleanup") ||
	    SYM(lib, slist_append, "curl_slist_append") || SYM(lib, slist_free_all, "curl_slist_free_all")) {
		e = dlerror();
		snprintf(load_err, sizeof load_err, "%s", e != NULL ? e : "a symbol is missing");
		lc.global_init = NULL;
		return;
	}
	/* libcurl's global init is not thread-safe: once, whichever thread comes first. */
	if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_err, sizeof load_err, "curl_global_init failed");
		lc.global_init = NULL;
	}
}

struct http_curl {
	CURL *easy;
	CURLM *multi;
	struct curl_slist *hdr_plain;   /* token, no Expect, no Content-Type */
	struct curl_slist *hdr_json;    /* the same plus Content-Type: application/json */
	struct curl_slist *connect_to;  /* TLS server name override */
	struct http_answer *a;          /* the answer being read */
	size_t max_body;
	int overflow;
	char errbuf[CURL_ERROR_SIZE];
};

/* Append h to the list *l (which keeps its old value when out of memory). */
static int append_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = lc.slist_append(*l, h);

	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

static int set_headers(struct http_curl *hc, const char *token)
{
	if (token[0] != '\0') {
		char tok[1100];
		int rc;

		snprintf(tok, sizeof tok, "X-Consul-Token: %s", token);
		rc = append_header(&hc->hdr_plain, tok) != 0 || append_header(&hc->hdr_json, tok) != 0;
		memset(tok, 0, sizeof tok);
		if (rc != 0)
			return -1;
	}
	/* No 100-continue round trip; no form Content-Type on raw KV values. */
	return append_header(&hc->hdr_plain, "Expect:") != 0 || append_header(&hc->hdr_plain, "Content-Type:") != 0 ||
	       append_header(&hc->hdr_json, "Expect:") != 0 ||
	       append_header(&hc->hdr_json, "Content-Type: application/json") != 0 ? -1 : 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_curl *hc = ud;
	size_t n = size * nmemb;
	int rc = http_answer_append(hc->a, data, n, hc->max_body);

	if (rc == HTTP_TOO_BIG)
		hc->overflow = 1;
	return rc == HTTP_OK ? n : 0;
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

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_answer *a = ((struct http_curl *)ud)->a;
	size_t n = size * nmemb;
	char v[64];
	uint64_t idx;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue): forget earlier headers. */
		a->index = 0;
		a->known_leader = -1;
	} else if (header_value(data, n, "X-Consul-Index", v, sizeof v)) {
		if (http_parse_dec(v, &idx) == 0)
			a->index = idx == 0 ? 1 : idx;   /* [C2] */
	} else if (header_value(data, n, "X-Consul-KnownLeader", v, sizeof v)) {
		a->known_leader = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -1;
	}
	return n;
}

static int easy_defaults(struct http_curl *hc)
{
	CURL *e = hc->easy;

	return lc.easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_USERAGENT, "resec/" RESEC_VERSION) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_ERRORBUFFER, hc->errbuf) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_WRITEDATA, hc) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	       lc.easy_setopt(e, CURLOPT_HEADERDATA, hc) != CURLE_OK ? -1 : 0;
}

static void set_tls(CURL *e, const struct resec_config *cfg)
{
	long verify = cfg->consul_ssl_verify ? 1L : 0L;

	lc.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify);
	lc.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (cfg->consul_cacert[0] != '\0')
		lc.easy_setopt(e, CURLOPT_CAINFO, cfg->consul_cacert);   /* the file wins over the dir */
	else if (cfg->consul_capath[0] != '\0')
		lc.easy_setopt(e, CURLOPT_CAPATH, cfg->consul_capath);
	if (cfg->consul_client_cert[0] != '\0')
		lc.easy_setopt(e, CURLOPT_SSLCERT, cfg->consul_client_cert);
	if (cfg->consul_client_key[0] != '\0')
		lc.easy_setopt(e, CURLOPT_SSLKEY, cfg->consul_client_key);
}

/* Where to connect (unix socket, server name) and who we are (basic auth). */
static int set_route(struct http_curl *hc, const struct http_curl_opts *o)
{
	CURL *e = hc->easy;

	if (o->unix_path[0] != '\0' && lc.easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_path) != CURLE_OK)
		return -1;
	if (o->connect_to[0] != '\0') {
		if (append_header(&hc->connect_to, o->connect_to) != 0 ||
		    lc.easy_setopt(e, CURLOPT_CONNECT_TO, hc->connect_to) != CURLE_OK)
			return -1;
	}
	if (o->basic) {
		lc.easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		if (lc.easy_setopt(e, CURLOPT_USERNAME, o->user) != CURLE_OK ||
		    lc.easy_setopt(e, CURLOPT_PASSWORD, o->password) != CURLE_OK)
			return -1;
	}
	return 0;
}

struct http_curl *http_curl_new(const struct resec_config *cfg, const struct http_curl_opts *o, char *err,
                                size_t errlen)
{
	struct http_curl *hc;

	if (pthread_once(&load_once, load) != 0 || lc.global_init == NULL) {
		snprintf(err, errlen, "consul: https needs libcurl (libcurl.so.4): %s", load_err);
		return NULL;
	}
	hc = calloc(1, sizeof *hc);
	if (hc == NULL) {
		snprintf(err, errlen, "consul: out of memory");
		return NULL;
	}
	hc->easy = lc.easy_init();
	hc->multi = lc.multi_init();
	if (hc->easy == NULL || hc->multi == NULL || easy_defaults(hc) != 0 || set_headers(hc, o->token) != 0 ||
	    set_route(hc, o) != 0) {
		snprintf(err, errlen, "consul: cannot set up libcurl");
		http_curl_free(hc);
		return NULL;
	}
	set_tls(hc->easy, cfg);
	return hc;
}

void http_curl_free(struct http_curl *hc)
{
	if (hc == NULL)
		return;
	if (hc->multi != NULL)
		lc.multi_cleanup(hc->multi);
	if (hc->easy != NULL)
		lc.easy_cleanup(hc->easy);
	if (hc->hdr_plain != NULL)
		lc.slist_free_all(hc->hdr_plain);
	if (hc->hdr_json != NULL)
		lc.slist_free_all(hc->hdr_json);
	if (hc->connect_to != NULL)
		lc.slist_free_all(hc->connect_to);
	free(hc);
}

/* Run the transfer on the multi handle, watching the cancel fd. */
static int run_transfer(struct http_curl *hc, int cancel_fd, CURLcode *res)
{
	int running = 1;

	if (lc.multi_add_handle(hc->multi, hc->easy) != CURLM_OK)
		return -1;
	for (;;) {
		if (lc.multi_perform(hc->multi, &running) != CURLM_OK)
			break;
		if (running == 0)
			break;
		struct curl_waitfd extra = { .fd = cancel_fd, .events = CURL_WAIT_POLLIN, .revents = 0 };
		int nfds = 0;
		if (lc.multi_poll(hc->multi, cancel_fd >= 0 ? &extra : NULL, cancel_fd >= 0 ? 1 : 0, POLL_SLICE_MS,
		                  &nfds) != CURLM_OK)
			break;
		if (cancel_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN) != 0) {
			lc.multi_remove_handle(hc->multi, hc->easy);
			return HTTP_CANCELLED;
		}
	}
	*res = CURLE_FAILED_INIT;
	int left = 0;
	CURLMsg *m;
	while ((m = lc.multi_info_read(hc->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == hc->easy)
			*res = m->data.result;
	lc.multi_remove_handle(hc->multi, hc->easy);
	return 0;
}

static void set_method(CURL *e, const char *method, const void *body, size_t len)
{
	lc.easy_setopt(e, CURLOPT_HTTPGET, 1L);   /* resets any earlier POST state */
	lc.easy_setopt(e, CURLOPT_NOBODY, 0L);
	if (strcmp(method, "GET") == 0) {
		lc.easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
		return;
	}
	if (strcmp(method, "PUT") == 0 || body != NULL) {
		lc.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		lc.easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : "");
	}
	lc.easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
}

int http_curl_do(struct http_curl *hc, const char *url, const struct http_call *r, struct http_answer *a,
                 char *why, size_t whylen)
{
	CURLcode res = CURLE_OK;
	int rc;

	http_answer_reset(a);
	hc->a = a;
	hc->max_body = r->max_body;
	hc->overflow = 0;
	hc->errbuf[0] = '\0';
	lc.easy_setopt(hc->easy, CURLOPT_URL, url);
	set_method(hc->easy, r->method, r->body, r->body_len);
	lc.easy_setopt(hc->easy, CURLOPT_HTTPHEADER, r->json ? hc->hdr_json : hc->hdr_plain);
	lc.easy_setopt(hc->easy, CURLOPT_CONNECTTIMEOUT_MS,
	               (long)(r->connect_ms < r->timeout_ms ? r->connect_ms : r->timeout_ms));
	lc.easy_setopt(hc->easy, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	rc = run_transfer(hc, r->cancel_fd, &res);
	if (rc == HTTP_CANCELLED)
		return HTTP_CANCELLED;
	if (rc != 0) {
		snprintf(why, whylen, "cannot start the request");
		return HTTP_ERR;
	}
	if (res != CURLE_OK) {
		if (res == CURLE_OPERATION_TIMEDOUT)
			return HTTP_TIMEDOUT;
		if (hc->overflow)
			return HTTP_TOO_BIG;
		snprintf(why, whylen, "%s", hc->errbuf[0] != '\0' ? hc->errbuf : lc.easy_strerror(res));
		return HTTP_ERR;
	}
	lc.easy_getinfo(hc->easy, CURLINFO_RESPONSE_CODE, &a->status);
	return HTTP_OK;
}
