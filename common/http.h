/* SPDX-License-Identifier: MIT */
/* http: the Consul client's transport: HTTP/1.1 of its own over TCP and unix sockets, libcurl (dlopen) for https. */
#ifndef RESEC_HTTP_H
#define RESEC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * Why a transport of our own: each long-running resec process used to link
 * libcurl, whose 33 libraries cost about 1.3 MB of private memory per process
 * just by being mapped (docs/consul-client.md, "Transport"). Every deployment
 * on a local agent speaks plain HTTP or a unix socket, and that takes a few
 * hundred lines: one request at a time on a kept-alive connection. https://
 * (TLS, CA files, client certificates, server name) stays libcurl's job, but
 * libcurl.so.4 is only loaded (dlopen) when such an address is configured.
 *
 * Library code: nothing here prints or exits; failures return a code and a
 * one-line reason (never holding a secret: the caller scrubs it as well).
 */

/* Results of http_do; the reason is in why. */
enum {
	HTTP_OK = 0,          /* an answer came back (any status) */
	HTTP_ERR = -1,        /* transport or protocol error */
	HTTP_CANCELLED = -2,  /* the cancel fd became readable */
	HTTP_TIMEDOUT = -3,   /* the whole-request timeout ran out */
	HTTP_TOO_BIG = -4     /* the body passed max_body */
};

/* Secrets the handle holds (token, basic-auth password, user from the address), to scrub from texts. */
#define HTTP_SECRETS 3

/* Longest header line and all header bytes of one answer; past them the answer is refused. */
#define HTTP_MAX_LINE 8192
#define HTTP_MAX_HEADERS 65536

/* One answer: the caller owns body (malloc'd, grown by the client, NUL-terminated when len > 0 or cap > 0). */
struct http_answer {
	long status;
	uint64_t index;        /* X-Consul-Index, 0 read as 1 ([C2]); 0 when absent or unreadable */
	int known_leader;      /* X-Consul-KnownLeader: 1, 0, -1 when absent or neither true nor false */
	char *body;
	size_t len;
	size_t cap;
};

/* One request. */
struct http_call {
	const char *method;    /* "GET", "PUT", "DELETE" */
	const char *target;    /* path and query, escaped ("/v1/kv/a?index=3"), after the address's prefix */
	const void *body;      /* NULL: no body, except that PUT always sends one (maybe empty) */
	size_t body_len;
	int json;              /* Content-Type: application/json */
	int64_t connect_ms;    /* connect timeout (each attempt) */
	int64_t timeout_ms;    /* the whole request, connect to last byte */
	int cancel_fd;         /* readable: abandon the request (HTTP_CANCELLED); -1 none */
	size_t max_body;       /* largest body + 1 for its NUL */
};

struct http;

/*
 * A transport for cfg's Consul address and credentials (CONSUL_HTTP_ADDR,
 * CONSUL_HTTP_SSL and the TLS settings, CONSUL_HTTP_AUTH or user:pw@ in the
 * address, the token). https loads libcurl here, once per process; without it:
 * "consul: https needs libcurl (libcurl.so.4): <dlerror>". NULL with err.
 */
struct http *http_new(const struct resec_config *cfg, char *err, size_t errlen);

/* Close the connection and free the handle, secrets wiped (NULL is fine). */
void http_free(struct http *h);

/* The base URL, e.g. "http://127.0.0.1:8500" or "http://localhost" for unix sockets (never secret). */
const char *http_base(const struct http *h);

/* Secret i (0 ≤ i < HTTP_SECRETS), "" when unset; h may be NULL. */
const char *http_secret(const struct http *h, int i);

/* Send one request and read its answer into a (status, headers, body); HTTP_OK or an error with why. */
int http_do(struct http *h, const struct http_call *r, struct http_answer *a, char *why, size_t whylen);

/* Percent-escape s (all but A-Z a-z 0-9 - . _ ~, as curl_easy_escape); malloc'd, NULL when out of memory. */
char *http_escape(const char *s);

/* ---- the answer parser (http_parse.c), open for the fuzzer and the unit tests ---- */

struct http_parser {
	int state;
	int kind;               /* HTTP_ERR or HTTP_TOO_BIG once state is the error state */
	long status;
	int chunked;
	int have_length;
	int close;              /* the server closes after this answer (or must be read to its close) */
	int keep_alive;         /* HTTP/1.0 with Connection: keep-alive */
	int http10;
	uint64_t remaining;     /* body or chunk bytes still to come */
	uint64_t length;        /* Content-Length */
	size_t header_bytes;
	size_t received;        /* bytes fed so far */
	size_t max_body;
	struct http_answer *a;
	size_t line_len;
	char line[HTTP_MAX_LINE];
	char err[160];
};

/* Start reading one answer into a (its body emptied, not freed); max_body as in http_call. */
void http_parse_init(struct http_parser *p, struct http_answer *a, size_t max_body);

/* Feed n bytes: the count used (less than n only once done), or -1 with p->err and p->kind. */
long http_parse_feed(struct http_parser *p, const char *buf, size_t n);

/* The server closed its side: 0 when that completes the answer, else -1 with p->err. */
int http_parse_eof(struct http_parser *p);

/* 1 once a whole answer was read. */
int http_parse_done(const struct http_parser *p);

/* Forget an answer (status, index, leader, body) before a new request; the buffer is kept. */
void http_answer_reset(struct http_answer *a);

/* Append n bytes to a's body (kept NUL-terminated) within max_body, which
 * counts the NUL: HTTP_OK, HTTP_TOO_BIG, or HTTP_ERR (out of memory). */
int http_answer_append(struct http_answer *a, const char *b, size_t n, size_t max_body);

/* Decimal digits only (a header's number), no overflow: 0, or -1. */
int http_parse_dec(const char *s, uint64_t *v);

/* ---- https through libcurl (http_curl.c) ---- */

struct http_curl;

/* What the libcurl transport needs besides cfg's TLS settings. */
struct http_curl_opts {
	const char *unix_path;     /* "" or the socket */
	const char *connect_to;    /* "" or a CURLOPT_CONNECT_TO entry (CONSUL_TLS_SERVER_NAME) */
	const char *user;          /* basic auth, when basic */
	const char *password;
	int basic;
	const char *token;         /* "" or the X-Consul-Token */
};

/* Load libcurl (once) and make an easy handle for cfg's TLS settings; NULL with err. */
struct http_curl *http_curl_new(const struct resec_config *cfg, const struct http_curl_opts *o, char *err,
                                size_t errlen);

/* One request to url (base + target), as http_do. */
int http_curl_do(struct http_curl *hc, const char *url, const struct http_call *r, struct http_answer *a,
                 char *why, size_t whylen);

void http_curl_free(struct http_curl *hc);

#endif
