/* SPDX-License-Identifier: MIT */
/* http: the Consul address and credentials, and one HTTP/1.1 request at a time on a kept-alive connection. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"
#include "secret.h"

#ifndef RESEC_VERSION
#define RESEC_VERSION "dev"
#endif

struct http {
	struct http_curl *curl;         /* https: libcurl does it all */
	int is_unix;
	char host[256];                 /* without brackets */
	int port;
	char unix_path[512];
	char prefix[512];               /* the address's path prefix, no trailing slash */
	char base[1024];                /* scheme://host:port[/prefix], no trailing slash */
	char host_hdr[300];             /* the Host header's value */
	char auth_hdr[2900];            /* "Authorization: Basic ...\r\n" or "" (secret) */
	char token_hdr[1100];           /* "X-Consul-Token: ...\r\n" or "" (secret) */
	char secret[HTTP_SECRETS][1024];/* token, password, user from the address */
	int fd;                         /* the kept-alive connection, -1 none */
	struct http_parser parser;
	char rbuf[16384];
};

/* ---- address and credentials ---- */

/* The base URL, and for plain HTTP where to connect. */
static int set_base(struct http *h, const struct resec_config *cfg, struct consul_addr *a, int *tls,
                    char *err, size_t errlen)
{
	const char *addr = cfg->consul_addr[0] != '\0' ? cfg->consul_addr : "127.0.0.1:8500";
	char why[160];

	*tls = cfg->consul_ssl;
	if (config_parse_consul_addr(addr, a, why, sizeof why) < 0) {
		snprintf(err, errlen, "consul: bad CONSUL_HTTP_ADDR: %s", why);
		return -1;
	}
	if (a->scheme == CONSUL_SCHEME_UNIX) {
		h->is_unix = 1;
		snprintf(h->unix_path, sizeof h->unix_path, "%s", a->path);
		snprintf(h->base, sizeof h->base, "%s://localhost", *tls ? "https" : "http");
		snprintf(h->host_hdr, sizeof h->host_hdr, "localhost");
		return 0;
	}
	/* CONSUL_HTTP_SSL=true still wins over an explicit http://: no downgrade. */
	if (a->scheme == CONSUL_SCHEME_HTTPS)
		*tls = 1;
	int v6 = strchr(a->host, ':') != NULL;
	snprintf(h->host, sizeof h->host, "%s", a->host);
	h->port = a->port > 0 ? a->port : *tls ? 443 : 80;
	if (a->port > 0)
		snprintf(h->host_hdr, sizeof h->host_hdr, "%s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
	else
		snprintf(h->host_hdr, sizeof h->host_hdr, "%s%s%s", v6 ? "[" : "", a->host, v6 ? "]" : "");
	snprintf(h->prefix, sizeof h->prefix, "%s", a->path);
	size_t len = strlen(h->prefix);
	while (len > 0 && h->prefix[len - 1] == '/')
		h->prefix[--len] = '\0';
	snprintf(h->base, sizeof h->base, "%s://%s%s", *tls ? "https" : "http", h->host_hdr, h->prefix);
	return 0;
}

/*
 * CONSUL_TLS_SERVER_NAME: connect to the address, but name (SNI, verification)
 * the server: a CURLOPT_CONNECT_TO entry into entry, and the base URL renamed.
 */
static int server_name(struct http *h, const struct resec_config *cfg, char *entry, size_t size, char *err,
                       size_t errlen)
{
	char name[256];

	entry[0] = '\0';
	if (cfg->consul_tls_server_name[0] == '\0' || h->is_unix)
		return 0;
	snprintf(name, sizeof name, "%s", cfg->consul_tls_server_name);
	char *colon = strrchr(name, ':');
	if (colon != NULL && strchr(name, ']') == NULL && strchr(name, ':') == colon)
		*colon = '\0';      /* the port is stripped, as the Go client does */
	if (h->port <= 0 || h->port > 65535) {
		snprintf(err, errlen, "consul: bad port in CONSUL_HTTP_ADDR");
		return -1;
	}
	int v6 = strchr(h->host, ':') != NULL;
	snprintf(entry, size, "%s:%d:%s%s%s:%d", name, h->port, v6 ? "[" : "", h->host, v6 ? "]" : "", h->port);
	snprintf(h->base, sizeof h->base, "https://%s:%d%s", name, h->port, h->prefix);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode [s, s+n) into out (a C string); -1 when it does not fit or holds a NUL. */
static int unescape_part(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (c == 0 || o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* user and password for Basic auth: CONSUL_HTTP_AUTH, else the user[:password] written in the address. */
static int credentials(struct http *h, const struct resec_config *cfg, const struct consul_addr *a, char *user,
                       size_t usize, char *err, size_t errlen)
{
	if (secret_is_set(&cfg->consul_auth)) {
		snprintf(user, usize, "%s", secret_value(&cfg->consul_auth));
		char *colon = strchr(user, ':');
		if (colon != NULL) {
			*colon = '\0';
			snprintf(h->secret[1], sizeof h->secret[1], "%s", colon + 1);
		}
		return 1;
	}
	if (a->userinfo[0] == '\0')
		return 0;
	size_t ul = strcspn(a->userinfo, ":");
	const char *pw = a->userinfo[ul] == ':' ? a->userinfo + ul + 1 : "";
	if (unescape_part(a->userinfo, ul, user, usize) < 0 ||
	    unescape_part(pw, strlen(pw), h->secret[1], sizeof h->secret[1]) < 0) {
		snprintf(err, errlen, "consul: bad credentials in CONSUL_HTTP_ADDR");
		return -1;
	}
	/* The user part may be a secret too (some proxies take a token there). */
	snprintf(h->secret[2], sizeof h->secret[2], "%s", user);
	return 1;
}

/* The Authorization header of user:password, base64'd. */
static int basic_header(struct http *h, const char *user)
{
	char plain[2100], enc[2900];
	int n = snprintf(plain, sizeof plain, "%s:%s", user, h->secret[1]);
	int rc = -1;

	if (n > 0 && (size_t)n < sizeof plain && json_base64_encoded_size((size_t)n) <= sizeof enc) {
		json_base64_encode(plain, (size_t)n, enc);
		int m = snprintf(h->auth_hdr, sizeof h->auth_hdr, "Authorization: Basic %s\r\n", enc);
		rc = m > 0 && (size_t)m < sizeof h->auth_hdr ? 0 : -1;
	}
	explicit_bzero(plain, sizeof plain);
	explicit_bzero(enc, sizeof enc);
	return rc;
}

static struct http *setup(const struct resec_config *cfg, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof *h);
	struct consul_addr a;
	char user[1024] = "", entry[1200];
	int tls = 0, basic;

	if (h == NULL) {
		snprintf(err, errlen, "consul: out of memory");
		return NULL;
	}
	h->fd = -1;
	if (secret_is_set(&cfg->consul_token)) {
		snprintf(h->secret[0], sizeof h->secret[0], "%s", secret_value(&cfg->consul_token));
		snprintf(h->token_hdr, sizeof h->token_hdr, "X-Consul-Token: %s\r\n", h->secret[0]);
	}
	basic = set_base(h, cfg, &a, &tls, err, errlen) != 0 ? -1 : credentials(h, cfg, &a, user, sizeof user, err, errlen);
	if (basic >= 0 && tls) {
		if (server_name(h, cfg, entry, sizeof entry, err, errlen) != 0) {
			basic = -1;
		} else {
			struct http_curl_opts o = { .unix_path = h->unix_path, .connect_to = entry, .user = user,
			                            .password = h->secret[1], .basic = basic, .token = h->secret[0] };
			h->curl = http_curl_new(cfg, &o, err, errlen);
			basic = h->curl != NULL ? basic : -1;
		}
	} else if (basic > 0 && basic_header(h, user) != 0) {
		snprintf(err, errlen, "consul: cannot set basic auth");
		basic = -1;
	}
	explicit_bzero(user, sizeof user);
	explicit_bzero(&a, sizeof a);
	if (basic < 0) {
		http_free(h);
		return NULL;
	}
	return h;
}

struct http *http_new(const struct resec_config *cfg, char *err, size_t errlen)
{
	return setup(cfg, err, errlen);
}

static void disconnect(struct http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	disconnect(h);
	http_curl_free(h->curl);
	explicit_bzero(h->secret, sizeof h->secret);
	explicit_bzero(h->auth_hdr, sizeof h->auth_hdr);
	explicit_bzero(h->token_hdr, sizeof h->token_hdr);
	free(h);
}

const char *http_base(const struct http *h)
{
	return h->base;
}

const char *http_secret(const struct http *h, int i)
{
	return h != NULL && i >= 0 && i < HTTP_SECRETS ? h->secret[i] : "";
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* ---- waiting: readiness, the deadline and the cancel fd together ---- */

/* 0 when fd is ready for events, else HTTP_TIMEDOUT (at deadline), HTTP_CANCELLED or HTTP_ERR. */
static int wait_io(int fd, short events, int64_t deadline, int cancel_fd)
{
	for (;;) {
		struct pollfd pf[2] = { { .fd = fd, .events = events, .revents = 0 },
		                        { .fd = cancel_fd, .events = POLLIN, .revents = 0 } };
		int64_t left = deadline - clock_now_ms();
		int n;

		if (left <= 0)
			return HTTP_TIMEDOUT;
		n = poll(pf, cancel_fd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return HTTP_ERR;
		if (cancel_fd >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
			return HTTP_CANCELLED;
		if (pf[0].revents != 0)
			return 0;
	}
}

/* ---- connecting ---- */

/* One connect on a non-blocking socket, bounded by deadline; 0, an HTTP_* code, or HTTP_ERR with errno kept. */
static int connect_one(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline, int cancel_fd)
{
	int e = 0, rc;
	socklen_t el = sizeof e;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return HTTP_ERR;
	rc = wait_io(fd, POLLOUT, deadline, cancel_fd);
	if (rc != 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
		return HTTP_ERR;
	errno = e;
	return e == 0 ? 0 : HTTP_ERR;
}

static int new_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd >= 0 && family != AF_UNIX) {
		/* A request is one write and its answer is awaited: never hold it back (Nagle). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	}
	return fd;
}

static int connect_unix(struct http *h, int64_t deadline, int cancel_fd, char *why, size_t whylen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(h->unix_path) >= sizeof sun.sun_path) {
		snprintf(why, whylen, "unix socket path too long");
		return HTTP_ERR;
	}
	memcpy(sun.sun_path, h->unix_path, strlen(h->unix_path) + 1);
	fd = new_socket(AF_UNIX);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return HTTP_ERR;
	}
	rc = connect_one(fd, (const struct sockaddr *)&sun, sizeof sun, deadline, cancel_fd);
	if (rc != 0) {
		if (rc == HTTP_ERR)
			snprintf(why, whylen, "cannot connect to unix socket %s: %s", h->unix_path, strerror(errno));
		close(fd);
		return rc;
	}
	h->fd = fd;
	return 0;
}

/* Every address of the host in turn, each within the connect timeout, all within the request's. */
static int connect_tcp(struct http *h, int64_t connect_ms, int64_t deadline, int cancel_fd, char *why,
                       size_t whylen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res = NULL;
	char port[8];
	int rc = HTTP_ERR, e = ECONNREFUSED;

	snprintf(port, sizeof port, "%d", h->port);
	int g = getaddrinfo(h->host, port, &hints, &res);
	if (g != 0) {
		snprintf(why, whylen, "cannot resolve host %s: %s", h->host, gai_strerror(g));
		return HTTP_ERR;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int64_t cd = clock_now_ms() + connect_ms;
		int fd = new_socket(ai->ai_family);

		if (fd < 0) {
			e = errno;
			continue;
		}
		rc = connect_one(fd, ai->ai_addr, ai->ai_addrlen, cd < deadline ? cd : deadline, cancel_fd);
		if (rc == 0) {
			h->fd = fd;
			break;
		}
		e = errno;
		close(fd);
		if (rc == HTTP_CANCELLED || (rc == HTTP_TIMEDOUT && clock_now_ms() >= deadline))
			break;
		if (rc == HTTP_TIMEDOUT)
			e = ETIMEDOUT;
		rc = HTTP_ERR;
	}
	freeaddrinfo(res);
	if (rc == HTTP_ERR)
		snprintf(why, whylen, "cannot connect to %s port %d: %s", h->host, h->port,
		         e == ETIMEDOUT ? "connect timed out" : strerror(e));
	return rc;
}

/* A kept connection the server closed (or wrote to unasked) while idle is of no more use. */
static int idle_conn_dead(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN, .revents = 0 };

	return poll(&pf, 1, 0) != 0;
}

/* ---- one exchange ---- */

enum { RETRY = -10 };   /* a reused connection failed before any byte of the answer: send again */

/* vsnprintf into a malloc'd string of the exact size; NULL when out of memory. */
static char *format_alloc(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *format_alloc(size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	(void)vsnprintf(out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len = (size_t)n;
	return out;
}

/* The request head, malloc'd (it holds the secret headers: the caller wipes and frees it). */
static char *build_head(const struct http *h, const struct http_call *r, int has_body, size_t *len)
{
	char cl[48] = "";

	if (has_body)
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", r->body_len);
	return format_alloc(len,
	                    "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: resec/" RESEC_VERSION "\r\nAccept: */*\r\n"
	                    "%s%s%s%s\r\n",
	                    r->method, h->prefix, r->target, h->host_hdr, h->token_hdr, h->auth_hdr,
	                    r->json ? "Content-Type: application/json\r\n" : "", cl);
}

/* Write head then body, waiting for room; RETRY when the peer is gone on a reused connection. */
static int send_all(struct http *h, const char *head, size_t hn, const struct http_call *r, size_t bn,
                    int64_t deadline, int reused, char *why, size_t whylen)
{
	size_t off = 0, total = hn + bn;

	while (off < total) {
		struct iovec iov[2];
		int k = 0;
		if (off < hn)
			iov[k++] = (struct iovec){ .iov_base = (char *)head + off, .iov_len = hn - off };
		if (bn > 0) {
			size_t bo = off > hn ? off - hn : 0;
			iov[k++] = (struct iovec){ .iov_base = (char *)r->body + bo, .iov_len = bn - bo };
		}
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)k };
		ssize_t w = sendmsg(h->fd, &m, MSG_NOSIGNAL);
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_io(h->fd, POLLOUT, deadline, r->cancel_fd);
			if (rc != 0)
				return rc;
			continue;
		}
		if (reused && off == 0 && (errno == EPIPE || errno == ECONNRESET))
			return RETRY;
		snprintf(why, whylen, "send failed: %s", strerror(errno));
		return HTTP_ERR;
	}
	return 0;
}

/* Read until the parser has a whole answer; RETRY when a reused connection ends before its first byte. */
static int read_answer(struct http *h, const struct http_call *r, struct http_answer *a, int64_t deadline,
                       int reused, char *why, size_t whylen)
{
	struct http_parser *p = &h->parser;

	http_parse_init(p, a, r->max_body);
	while (!http_parse_done(p)) {
		ssize_t n = recv(h->fd, h->rbuf, sizeof h->rbuf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_io(h->fd, POLLIN, deadline, r->cancel_fd);
			if (rc != 0)
				return rc;
			continue;
		}
		if (reused && p->received == 0 && (n == 0 || (n < 0 && errno == ECONNRESET)))
			return RETRY;
		if (n < 0) {
			snprintf(why, whylen, "recv failed: %s", strerror(errno));
			return HTTP_ERR;
		}
		if (n == 0) {
			if (http_parse_eof(p) == 0)
				break;
			snprintf(why, whylen, "%s", p->err);
			return HTTP_ERR;
		}
		long used = http_parse_feed(p, h->rbuf, (size_t)n);
		if (used < 0) {
			snprintf(why, whylen, "%s%s", p->kind == HTTP_TOO_BIG ? "" : "bad answer: ", p->err);
			return p->kind;
		}
		if ((size_t)used < (size_t)n)
			p->close = 1;   /* bytes after the answer: nothing to pipeline, so the stream is off */
	}
	if (p->close)
		disconnect(h);
	return 0;
}

/* One attempt on the kept connection or a new one. */
static int exchange(struct http *h, const struct http_call *r, struct http_answer *a, int64_t deadline,
                    int may_reuse, char *why, size_t whylen)
{
	int has_body = r->body != NULL || strcmp(r->method, "PUT") == 0;
	size_t bn = r->body != NULL ? r->body_len : 0, hn = 0;
	char *head = build_head(h, r, has_body, &hn);
	int reused = 0, rc = 0;

	if (head == NULL) {
		snprintf(why, whylen, "out of memory");
		return HTTP_ERR;
	}
	if (h->fd >= 0 && (!may_reuse || idle_conn_dead(h->fd)))
		disconnect(h);
	if (h->fd >= 0) {
		reused = 1;
	} else {
		int64_t cd = clock_now_ms() + r->connect_ms;
		rc = h->is_unix ? connect_unix(h, cd < deadline ? cd : deadline, r->cancel_fd, why, whylen)
		                : connect_tcp(h, r->connect_ms, deadline, r->cancel_fd, why, whylen);
	}
	if (rc == 0)
		rc = send_all(h, head, hn, r, bn, deadline, reused, why, whylen);
	explicit_bzero(head, hn);   /* a wipe the compiler may not drop before free() */
	free(head);
	if (rc == 0)
		rc = read_answer(h, r, a, deadline, reused, why, whylen);
	if (rc != 0)
		disconnect(h);    /* mid-request: the stream's state is unknown */
	return rc;
}

/* A method and target that cannot split the request line or smuggle a header. */
static int safe_line(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int http_do(struct http *h, const struct http_call *r, struct http_answer *a, char *why, size_t whylen)
{
	int64_t deadline = clock_now_ms() + r->timeout_ms;
	int rc;

	why[0] = '\0';
	if (h->curl != NULL) {
		char url[2048];
		int n = snprintf(url, sizeof url, "%s%s", h->base, r->target);
		if (n < 0 || (size_t)n >= sizeof url) {
			snprintf(why, whylen, "URL too long");
			return HTTP_ERR;
		}
		return http_curl_do(h->curl, url, r, a, why, whylen);
	}
	if (!safe_line(r->method) || !safe_line(r->target) || r->target[0] != '/') {
		snprintf(why, whylen, "bad request line");
		return HTTP_ERR;
	}
	rc = exchange(h, r, a, deadline, 1, why, whylen);
	if (rc == RETRY)   /* as curl: a kept connection closed under us, once, transparently */
		rc = exchange(h, r, a, deadline, 0, why, whylen);
	if (rc == RETRY) {
		snprintf(why, whylen, "empty reply from server");
		rc = HTTP_ERR;
	}
	return rc;
}
