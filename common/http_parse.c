/* SPDX-License-Identifier: MIT */
/* http_parse: a strict, incremental reader of one HTTP/1.x answer (status, the headers Consul's client uses, body). */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Strict on purpose: anything but a well-formed answer is a one-line error,
 * never a guess. A status line other than HTTP/1.0 or 1.1 with a 3-digit code,
 * a header line without a token name and ':', a folded line, a control byte,
 * a line past HTTP_MAX_LINE or headers past HTTP_MAX_HEADERS, a Content-Length
 * that is not a number (or two that differ), a Transfer-Encoding other than
 * chunked, a bad chunk size or a chunk not followed by CRLF: all refused.
 * Lines may end in CRLF or LF (as curl reads them); a CR elsewhere is refused.
 */

enum { ST_STATUS, ST_HEADER, ST_BODY, ST_BODY_EOF, ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_END, ST_TRAILER,
       ST_DONE, ST_ERROR };

static int fail(struct http_parser *p, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct http_parser *p, int kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
	p->kind = kind;
	p->state = ST_ERROR;
	return -1;
}

static int too_big(struct http_parser *p)
{
	snprintf(p->err, sizeof p->err, "response larger than %zu bytes", p->max_body);
	p->kind = HTTP_TOO_BIG;
	p->state = ST_ERROR;
	return -1;
}

void http_parse_init(struct http_parser *p, struct http_answer *a, size_t max_body)
{
	memset(p, 0, offsetof(struct http_parser, line));
	p->err[0] = '\0';
	p->state = ST_STATUS;
	p->a = a;
	p->max_body = max_body;
	http_answer_reset(a);
}

void http_answer_reset(struct http_answer *a)
{
	a->status = 0;
	a->index = 0;
	a->known_leader = -1;
	a->len = 0;
	if (a->body != NULL && a->cap > 0)
		a->body[0] = '\0';
}

int http_parse_done(const struct http_parser *p)
{
	return p->state == ST_DONE;
}

int http_answer_append(struct http_answer *a, const char *b, size_t n, size_t max_body)
{
	if (n >= max_body || a->len + n + 1 > max_body)
		return HTTP_TOO_BIG;
	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap >= 4096 ? a->cap : 4096;
		while (cap < a->len + n + 1)
			cap *= 2;
		char *nb = realloc(a->body, cap);
		if (nb == NULL)
			return HTTP_ERR;
		a->body = nb;
		a->cap = cap;
	}
	memcpy(a->body + a->len, b, n);
	a->len += n;
	a->body[a->len] = '\0';
	return HTTP_OK;
}

/* Append body bytes, within max_body (which counts the NUL). */
static int append(struct http_parser *p, const char *b, size_t n)
{
	int rc = http_answer_append(p->a, b, n, p->max_body);

	if (rc == HTTP_TOO_BIG)
		return too_big(p);
	if (rc != HTTP_OK)
		return fail(p, HTTP_ERR, "%s", "out of memory");
	return 0;
}

int http_parse_dec(const char *s, uint64_t *v)
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

static int status_line(struct http_parser *p, const char *l)
{
	if (strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ' || l[9] < '1' ||
	    l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' || (l[12] != '\0' && l[12] != ' '))
		return fail(p, HTTP_ERR, "malformed status line \"%.40s\"", l);
	p->http10 = l[7] == '0';
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	p->state = ST_HEADER;
	return 0;
}

/* RFC 9110 token characters. */
static int tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A comma-separated list holds token (case-insensitive), e.g. Connection: keep-alive, close. */
static int has_token(const char *v, const char *token)
{
	size_t k = strlen(token);

	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t n = strcspn(v, ", \t");
		if (n == k && strncasecmp(v, token, k) == 0)
			return 1;
		v += n;
	}
	return 0;
}

static int header_known(struct http_parser *p, const char *name, const char *v)
{
	uint64_t x;

	if (strcasecmp(name, "Content-Length") == 0) {
		if (http_parse_dec(v, &x) != 0)
			return fail(p, HTTP_ERR, "bad Content-Length \"%.40s\"", v);
		if (p->have_length && x != p->length)
			return fail(p, HTTP_ERR, "%s", "conflicting Content-Length headers");
		p->have_length = 1;
		p->length = x;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		if (strcasecmp(v, "chunked") != 0)
			return fail(p, HTTP_ERR, "unsupported Transfer-Encoding \"%.40s\"", v);
		p->chunked = 1;
	} else if (strcasecmp(name, "Connection") == 0) {
		if (has_token(v, "close"))
			p->close = 1;
		if (has_token(v, "keep-alive"))
			p->keep_alive = 1;
	} else if (strcasecmp(name, "X-Consul-Index") == 0) {
		if (http_parse_dec(v, &x) == 0)
			p->a->index = x == 0 ? 1 : x;   /* [C2] */
	} else if (strcasecmp(name, "X-Consul-KnownLeader") == 0) {
		p->a->known_leader = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -1;
	}
	return 0;
}

/* "Name: value": a token, ':', optional white space around the value. */
static int header_line(struct http_parser *p, char *l)
{
	char *colon = strchr(l, ':');
	size_t n;

	if (l[0] == ' ' || l[0] == '\t')
		return fail(p, HTTP_ERR, "%s", "folded header line");
	if (colon == NULL || colon == l)
		return fail(p, HTTP_ERR, "malformed header line \"%.40s\"", l);
	for (const char *c = l; c < colon; c++)
		if (!tchar(*c))
			return fail(p, HTTP_ERR, "malformed header line \"%.40s\"", l);
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	return header_known(p, l, v);
}

/* The empty line after the headers: what kind of body follows. */
static int end_of_headers(struct http_parser *p)
{
	if (p->status == 101)
		return fail(p, HTTP_ERR, "%s", "unexpected 101 Switching Protocols");
	if (p->status < 200) {
		/* An interim answer (100 Continue): the real one follows; forget its headers. */
		p->have_length = p->chunked = p->close = p->keep_alive = 0;
		p->a->index = 0;
		p->a->known_leader = -1;
		p->state = ST_STATUS;
		return 0;
	}
	p->a->status = p->status;
	if (p->http10 && !p->keep_alive)
		p->close = 1;
	if (p->status == 204 || p->status == 304) {
		p->state = ST_DONE;
	} else if (p->chunked) {
		p->state = ST_CHUNK_SIZE;
	} else if (p->have_length) {
		if (p->length >= p->max_body)
			return too_big(p);
		p->remaining = p->length;
		p->state = p->length > 0 ? ST_BODY : ST_DONE;
	} else {
		p->close = 1;          /* the body runs to the server's close */
		p->state = ST_BODY_EOF;
	}
	return 0;
}

/* "1a3f[;ext]": hex digits, then nothing or an extension. */
static int chunk_size(struct http_parser *p, const char *l)
{
	uint64_t x = 0;
	const char *s = l;

	for (; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F'); s++) {
		if (x > (UINT64_MAX >> 4))
			return fail(p, HTTP_ERR, "bad chunk size \"%.40s\"", l);
		x = x * 16 + (uint64_t)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (s == l || (*s != '\0' && *s != ';'))
		return fail(p, HTTP_ERR, "bad chunk size \"%.40s\"", l);
	if (x == 0) {
		p->state = ST_TRAILER;
		return 0;
	}
	if (x >= p->max_body || p->a->len + x + 1 > p->max_body)
		return too_big(p);
	p->remaining = x;
	p->state = ST_CHUNK_DATA;
	return 0;
}

/* One whole line (the LF and any CR before it removed) in the state that reads lines. */
static int line(struct http_parser *p)
{
	char *l = p->line;

	for (size_t i = 0; i < p->line_len; i++)
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			return fail(p, HTTP_ERR, "%s", "control character in the answer's head");
	if (p->state != ST_CHUNK_SIZE && p->state != ST_CHUNK_END) {   /* interim answers count too */
		p->header_bytes += p->line_len + 2;
		if (p->header_bytes > HTTP_MAX_HEADERS)
			return fail(p, HTTP_ERR, "headers larger than %d bytes", HTTP_MAX_HEADERS);
	}
	switch (p->state) {
	case ST_STATUS:
		return status_line(p, l);
	case ST_HEADER:
		return l[0] == '\0' ? end_of_headers(p) : header_line(p, l);
	case ST_CHUNK_SIZE:
		return chunk_size(p, l);
	case ST_CHUNK_END:
		if (l[0] != '\0')
			return fail(p, HTTP_ERR, "%s", "no CRLF after a chunk");
		p->state = ST_CHUNK_SIZE;
		return 0;
	default:   /* ST_TRAILER: trailer fields are read and dropped */
		if (l[0] == '\0')
			p->state = ST_DONE;
		return 0;
	}
}

/* Take bytes of a line-reading state up to and including LF; the count used, or -1. */
static long feed_line(struct http_parser *p, const char *buf, size_t n)
{
	const char *lf = memchr(buf, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - buf) : n;

	if (p->line_len + take >= sizeof p->line)
		return fail(p, HTTP_ERR, "header line longer than %d bytes", HTTP_MAX_LINE);
	memcpy(p->line + p->line_len, buf, take);
	p->line_len += take;
	if (lf == NULL)
		return (long)n;
	if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
		p->line_len--;
	p->line[p->line_len] = '\0';
	if (memchr(p->line, '\0', p->line_len) != NULL || memchr(p->line, '\r', p->line_len) != NULL)
		return fail(p, HTTP_ERR, "%s", "control character in the answer's head");
	int rc = line(p);
	p->line_len = 0;
	return rc < 0 ? -1 : (long)take + 1;
}

/* Body bytes of a known length (the whole body, or one chunk). */
static long feed_counted(struct http_parser *p, const char *buf, size_t n)
{
	size_t take = (uint64_t)n < p->remaining ? n : (size_t)p->remaining;

	if (append(p, buf, take) != 0)
		return -1;
	p->remaining -= take;
	if (p->remaining == 0)
		p->state = p->state == ST_BODY ? ST_DONE : ST_CHUNK_END;
	return (long)take;
}

long http_parse_feed(struct http_parser *p, const char *buf, size_t n)
{
	size_t used = 0;

	if (p->state == ST_ERROR)
		return -1;
	p->received += n;
	while (used < n && p->state != ST_DONE) {
		long k;

		switch (p->state) {
		case ST_BODY:
		case ST_CHUNK_DATA:
			k = feed_counted(p, buf + used, n - used);
			break;
		case ST_BODY_EOF:
			k = append(p, buf + used, n - used) == 0 ? (long)(n - used) : -1;
			break;
		default:
			k = feed_line(p, buf + used, n - used);
			break;
		}
		if (k < 0)
			return -1;
		used += (size_t)k;
	}
	return (long)used;
}

int http_parse_eof(struct http_parser *p)
{
	if (p->state == ST_DONE)
		return 0;
	if (p->state == ST_BODY_EOF) {
		p->state = ST_DONE;
		return 0;
	}
	if (p->state == ST_ERROR)
		return -1;
	if (p->received == 0)
		return fail(p, HTTP_ERR, "%s", "empty reply from server");
	return fail(p, HTTP_ERR, "%s", "connection closed in the middle of the answer");
}
