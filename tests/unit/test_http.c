/* SPDX-License-Identifier: MIT */
/* test_http: the answer parser of common/http_parse.c, escaping, and the kept-alive connection of common/http.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "tap.h"

#define MAX_BODY 1000

static struct http_parser parser;

/* Parse text whole (step 0) or in pieces of step bytes, then EOF when eof; 0 or -1 (parser.err). */
static int parse(const char *text, size_t step, int eof, struct http_answer *a)
{
	size_t n = strlen(text), off = 0;

	http_parse_init(&parser, a, MAX_BODY);
	while (off < n && !http_parse_done(&parser)) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		long used = http_parse_feed(&parser, text + off, k);
		if (used < 0)
			return -1;
		off += (size_t)used;
	}
	if (eof && !http_parse_done(&parser))
		return http_parse_eof(&parser);
	return http_parse_done(&parser) ? 0 : 1;
}

/* text parses (whole and one byte at a time) to status and body. */
static void good(const char *name, const char *text, int eof, long status, const char *body)
{
	for (size_t step = 0; step < 2; step++) {
		struct http_answer a = {0};
		int rc = parse(text, step, eof, &a);
		check(rc == 0 && a.status == status && a.len == strlen(body) && (a.len == 0 || strcmp(a.body, body) == 0),
		      "%s (%s): rc=%d status=%ld err=%s", name, step ? "byte by byte" : "whole", rc, a.status, parser.err);
		free(a.body);
	}
}

/* text is refused (whole and one byte at a time) with an error holding want, of kind. */
static void bad(const char *name, const char *text, int eof, int kind, const char *want)
{
	for (size_t step = 0; step < 2; step++) {
		struct http_answer a = {0};
		int rc = parse(text, step, eof, &a);
		check(rc == -1 && parser.kind == kind && strstr(parser.err, want) != NULL && strchr(parser.err, '\n') == NULL,
		      "%s (%s): refused with \"%s\" (err=%s)", name, step ? "byte by byte" : "whole", want, parser.err);
		free(a.body);
	}
}

static void test_answers(void)
{
	struct http_answer a = {0};

	good("Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 200, "hello");
	good("no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 0, 404, "");
	good("bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0, 200, "ok");
	good("chunked with extension and trailer",
	     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
	     0, 200, "abc0123456789");
	good("100 Continue, then the answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
	     0, 201, "x");
	good("HTTP/1.0 without a length: to the close", "HTTP/1.0 200 OK\r\n\r\n[1,2]", 1, 200, "[1,2]");
	good("204: no body", "HTTP/1.1 204 No Content\r\n\r\n", 0, 204, "");

	check(parse("HTTP/1.1 200 OK\r\nx-consul-index: 0\r\nX-Consul-KnownLeader: true\r\nContent-Length: 0\r\n\r\n", 0, 0,
	            &a) == 0 && a.index == 1 && a.known_leader == 1 && !parser.close,
	      "X-Consul-Index 0 is read as 1, KnownLeader true, kept alive");
	check(parse("HTTP/1.1 200 OK\r\nX-Consul-Index: 12x\r\nX-Consul-KnownLeader: maybe\r\nConnection: keep-alive, Close\r\n"
	            "Content-Length: 0\r\n\r\n", 0, 0, &a) == 0 && a.index == 0 && a.known_leader == -1 && parser.close,
	      "an unreadable index is absent, KnownLeader neither true nor false is -1, Connection: close is seen");
	check(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, &a) == 0 && parser.close,
	      "HTTP/1.0 closes unless keep-alive");
	check(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0, 0, &a) == 0 && !parser.close,
	      "HTTP/1.0 with keep-alive stays open");
	check(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0, 0, &a) == 0 && a.len == 2,
	      "bytes after the answer are not part of it");
	free(a.body);
}

static void test_refusals(void)
{
	char big[HTTP_MAX_LINE + 64], many[HTTP_MAX_HEADERS + 200];

	bad("HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", 0, HTTP_ERR, "malformed status line");
	bad("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 0, HTTP_ERR, "malformed status line");
	bad("status 600", "HTTP/1.1 600 X\r\n\r\n", 0, HTTP_ERR, "malformed status line");
	bad("no space after the code", "HTTP/1.1 200OK\r\n\r\n", 0, HTTP_ERR, "malformed status line");
	bad("not HTTP", "SSH-2.0-OpenSSH\r\n", 0, HTTP_ERR, "malformed status line");
	bad("header without a colon", "HTTP/1.1 200 OK\r\nX-Consul-Index 5\r\n\r\n", 0, HTTP_ERR, "malformed header line");
	bad("space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 0, HTTP_ERR, "malformed header line");
	bad("empty header name", "HTTP/1.1 200 OK\r\n: 5\r\n\r\n", 0, HTTP_ERR, "malformed header line");
	bad("folded header", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", 0, HTTP_ERR, "folded header line");
	bad("CR inside a line", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", 0, HTTP_ERR, "control character");
	bad("escape in a header", "HTTP/1.1 200 OK\r\nA: \x1b[2J\r\n\r\n", 0, HTTP_ERR, "control character");
	{
		static const char nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
		struct http_answer a = {0};
		http_parse_init(&parser, &a, MAX_BODY);
		check(http_parse_feed(&parser, nul, sizeof nul - 1) == -1 && strstr(parser.err, "control character") != NULL,
		      "NUL in a header: refused (%s)", parser.err);
	}
	bad("Content-Length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 0, HTTP_ERR, "bad Content-Length");
	bad("negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, HTTP_ERR, "bad Content-Length");
	bad("Content-Length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, HTTP_ERR,
	    "bad Content-Length");
	bad("conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, HTTP_ERR,
	    "conflicting Content-Length");
	bad("gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, HTTP_ERR, "unsupported Transfer-Encoding");
	bad("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, HTTP_ERR, "bad chunk size");
	bad("empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 0, HTTP_ERR, "bad chunk size");
	bad("chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", 0, HTTP_ERR,
	    "bad chunk size");
	bad("no CRLF after a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 0, HTTP_ERR,
	    "no CRLF after a chunk");
	bad("101", "HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, HTTP_ERR, "101");
	bad("Content-Length past the cap", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0, HTTP_TOO_BIG,
	    "response larger than 1000 bytes");
	bad("a chunk past the cap", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n", 0, HTTP_TOO_BIG,
	    "response larger than");
	bad("closed before any byte", "", 1, HTTP_ERR, "empty reply from server");
	bad("closed in the headers", "HTTP/1.1 200 OK\r\nContent-Le", 1, HTTP_ERR, "closed in the middle");
	bad("closed in the body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 1, HTTP_ERR, "closed in the middle");

	memset(big, 'a', sizeof big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	big[sizeof big - 1] = '\0';
	bad("a header line past 8192 bytes", big, 0, HTTP_ERR, "header line longer than 8192 bytes");

	size_t o = (size_t)snprintf(many, sizeof many, "HTTP/1.1 200 OK\r\n");
	while (o + 40 < sizeof many)
		o += (size_t)snprintf(many + o, sizeof many - o, "X-Filler: 0123456789abcdef0123456\r\n");
	bad("headers past 65536 bytes", many, 0, HTTP_ERR, "headers larger than 65536 bytes");

	/* Endless interim answers: bounded by the header bytes too. */
	char *cont = malloc(HTTP_MAX_HEADERS + 64);
	if (cont != NULL) {
		size_t k = 0;
		while (k + 26 < HTTP_MAX_HEADERS + 64)
			k += (size_t)snprintf(cont + k, HTTP_MAX_HEADERS + 64 - k, "HTTP/1.1 100 Continue\r\n\r\n");
		bad("endless 100 Continue", cont, 0, HTTP_ERR, "headers larger than 65536 bytes");
		free(cont);
	}

	/* An endless body without a length: cut at the cap. */
	char *endless = malloc(3 * MAX_BODY);
	if (endless != NULL) {
		size_t h = (size_t)snprintf(endless, 3 * MAX_BODY, "HTTP/1.0 200 OK\r\n\r\n");
		memset(endless + h, '[', 3 * MAX_BODY - h - 1);
		endless[3 * MAX_BODY - 1] = '\0';
		bad("an endless body", endless, 0, HTTP_TOO_BIG, "response larger than");
		free(endless);
	}
}

static void test_escape(void)
{
	char *e = http_escape("a b/c?d&e=f%g~h-i.j_k\xc3\xa9");

	check(e != NULL && strcmp(e, "a%20b%2Fc%3Fd%26e%3Df%25g~h-i.j_k%C3%A9") == 0, "escape as curl_easy_escape: %s",
	      e ? e : "(null)");
	free(e);
}

/* ---- a loopback server that closes a kept-alive connection under the client ---- */

struct server {
	int lfd;
	int accepts;
	int mode;      /* 0: close after the first answer's next request, unanswered; 1: close every connection unanswered */
};

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Consul-Index: 7\r\n\r\nok";

/* Read one request head (up to the empty line); 0 on EOF. */
static int read_request(int fd)
{
	char buf[4096];
	size_t n = 0;

	while (n < sizeof buf - 1) {
		ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return 0;
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return 1;
	}
	return 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		s->accepts++;
		if (s->mode == 0 && s->accepts == 1) {
			/* Answer one, then take the next request and hang up without a byte. */
			if (read_request(fd) && write(fd, ANSWER, sizeof ANSWER - 1) > 0)
				(void)read_request(fd);
		} else if (s->mode == 0) {
			while (read_request(fd) && write(fd, ANSWER, sizeof ANSWER - 1) > 0)
				;
		} else {
			(void)read_request(fd);
		}
		close(fd);
	}
}

static struct http *client_for(struct server *s, pthread_t *t)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	struct resec_config cfg;
	char err[256];

	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(s->lfd, 4) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sin, &len) != 0 || pthread_create(t, NULL, serve, s) != 0)
		return NULL;
	config_defaults(&cfg);
	snprintf(cfg.consul_addr, sizeof cfg.consul_addr, "127.0.0.1:%d", ntohs(sin.sin_port));
	return http_new(&cfg, err, sizeof err);
}

static void test_reconnect(void)
{
	struct server s = { .mode = 0 };
	struct http_answer a = {0};
	struct http_call r = { .method = "GET", .target = "/v1/kv/a", .connect_ms = 2000, .timeout_ms = 5000,
	                       .cancel_fd = -1, .max_body = MAX_BODY };
	char why[200];
	pthread_t t;
	struct http *h = client_for(&s, &t);

	check(h != NULL, "client for a loopback server");
	if (h == NULL)
		return;
	int rc1 = http_do(h, &r, &a, why, sizeof why);
	int rc2 = http_do(h, &r, &a, why, sizeof why);
	int rc3 = http_do(h, &r, &a, why, sizeof why);
	check(rc1 == HTTP_OK && rc2 == HTTP_OK && rc3 == HTTP_OK && a.status == 200 && a.index == 7 && s.accepts == 2,
	      "a kept connection closed before the answer's first byte: sent again once on a new one (rc %d %d %d, "
	      "%d connections, %s)", rc1, rc2, rc3, s.accepts, why);
	http_free(h);
	shutdown(s.lfd, SHUT_RDWR);
	close(s.lfd);
	pthread_join(t, NULL);

	struct server s2 = { .mode = 1 };
	h = client_for(&s2, &t);
	if (h == NULL)
		return;
	rc1 = http_do(h, &r, &a, why, sizeof why);
	check(rc1 == HTTP_ERR && strcmp(why, "empty reply from server") == 0 && s2.accepts == 1,
	      "a new connection closed without an answer is an error, not a retry (%s, %d connections)", why, s2.accepts);
	http_free(h);
	shutdown(s2.lfd, SHUT_RDWR);
	close(s2.lfd);
	pthread_join(t, NULL);
	free(a.body);
}

int main(void)
{
	test_answers();
	test_refusals();
	test_escape();
	test_reconnect();
	return tap_done();
}
