/* SPDX-License-Identifier: MIT */
/* config_values: parsers and formatters for durations, addresses and booleans. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct unit {
	const char *name;
	int64_t ns;
};

/* Longest names first so that "ms" is not read as "m". */
static const struct unit units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
	{ "ms", 1000000 }, { "s", 1000000000LL }, { "m", 60000000000LL },
	{ "h", 3600000000000LL },
};

static const struct unit *match_unit(const char *s, size_t *len)
{
	const struct unit *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (n > best_len && strncmp(s, units[i].name, n) == 0) {
			best = &units[i];
			best_len = n;
		}
	}
	*len = best_len;
	return best;
}

/* Add whole * unit + frac/fracscale * unit to *total, failing on overflow. */
static int add_component(int64_t *total, uint64_t whole, uint64_t frac, uint64_t scale,
                         int64_t unit)
{
	if (whole > (uint64_t)INT64_MAX / (uint64_t)unit)
		return -1;
	uint64_t v = whole * (uint64_t)unit;
	if (frac > 0)
		v += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
	if (v > (uint64_t)INT64_MAX - (uint64_t)*total)
		return -1;
	*total += (int64_t)v;
	return 0;
}

/* Go's time.ParseDuration without sign, requiring a unit on every number. */
static int parse_duration_ns(const char *s, int64_t *ns)
{
	int64_t total = 0;
	if (*s == '\0')
		return -1;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1;
		int digits = 0;
		while (isdigit((unsigned char)*s)) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*s++ - '0');
			digits++;
		}
		if (*s == '.') {
			s++;
			while (isdigit((unsigned char)*s)) {
				/* Digits past 18 cannot change a nanosecond count. */
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
				s++;
				digits++;
			}
		}
		if (digits == 0)
			return -1;
		size_t ulen;
		const struct unit *u = match_unit(s, &ulen);
		if (u == NULL)
			return -1;
		s += ulen;
		if (add_component(&total, whole, frac, scale, u->ns) < 0)
			return -1;
	}
	*ns = total;
	return 0;
}

int config_parse_duration(const char *s, int64_t *ms)
{
	int64_t ns;
	if (s == NULL || *s == '+' || *s == '-')
		return -1;
	if (parse_duration_ns(s, &ns) < 0)
		return -1;
	/* Millisecond resolution; a positive duration never rounds to zero. */
	*ms = ns / 1000000;
	if (ns > 0 && *ms == 0)
		*ms = 1;
	return 0;
}

void config_format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 0) {
		/* As Go prints negative durations; INT64_MIN cannot be negated. */
		char pos[40];
		config_format_duration(ms == INT64_MIN ? INT64_MAX : -ms, pos, sizeof(pos));
		snprintf(buf, len, "-%s", pos);
		return;
	}
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, len, "%lldms", (long long)ms);
		return;
	}
	long long h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, frac = ms % 1000;
	char sec[32];
	if (frac == 0) {
		snprintf(sec, sizeof(sec), "%llds", s);
	} else {
		char f[8];
		snprintf(f, sizeof(f), "%03lld", frac);
		for (int i = 2; i > 0 && f[i] == '0'; i--)
			f[i] = '\0';
		snprintf(sec, sizeof(sec), "%lld.%ss", s, f);
	}
	if (h > 0)
		snprintf(buf, len, "%lldh%lldm%s", h, m, sec);
	else if (m > 0)
		snprintf(buf, len, "%lldm%s", m, sec);
	else
		snprintf(buf, len, "%s", sec);
}

static int parse_port(const char *s, int *port)
{
	long v = 0;
	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int config_parse_hostport(const char *s, struct hostport *hp)
{
	const char *colon;
	size_t hostlen;
	const char *host = s;
	if (s == NULL)
		return -1;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		host = s + 1;
		hostlen = (size_t)(close - host);
		if (hostlen == 0)
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hostlen = (size_t)(colon - s);
		/* An unbracketed IPv6 address is ambiguous. */
		if (memchr(s, ':', hostlen) != NULL)
			return -1;
	}
	if (hostlen >= sizeof(hp->host))
		return -1;
	for (size_t i = 0; i < hostlen; i++) {
		unsigned char c = (unsigned char)host[i];
		/* Brackets inside a host could not be formatted back unambiguously. */
		if (c <= ' ' || c == '/' || c == '@' || c == '[' || c == ']' || c >= 0x7f)
			return -1;
	}
	struct hostport out;
	if (parse_port(colon + 1, &out.port) < 0)
		return -1;
	memcpy(out.host, host, hostlen);
	out.host[hostlen] = '\0';
	*hp = out;
	return 0;
}

void config_format_hostport(const struct hostport *hp, char *buf, size_t len)
{
	if (strchr(hp->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", hp->host, hp->port);
	else
		snprintf(buf, len, "%s:%d", hp->host, hp->port);
}

int config_parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

int config_parse_bytes(const char *s, long long *out)
{
	char *end = NULL;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	unsigned long long mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1024ULL;
	else if (*end == 'M')
		mult = 1024ULL * 1024;
	else if (*end == 'G')
		mult = 1024ULL * 1024 * 1024;
	if (mult > 1) {
		end++;
		if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
			end += strlen(end);
	} else if (strcmp(end, "B") == 0) {
		end++;
	}
	if (*end != '\0' || v > (unsigned long long)INT64_MAX / mult)
		return -1;
	*out = (long long)(v * mult);
	return 0;
}

/* ---- names that end up in URLs: KV keys, service names, Consul addresses ---- */

/* The first control character (C0 or DEL) in s, or NULL. */
const char *config_find_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return s;
	return NULL;
}

/* Printable ASCII without space or the URL characters that would change a path: ? # % \ */
static int path_char_ok(char c)
{
	return c > ' ' && c < 0x7f && strchr("?#%\\", c) == NULL;
}

int config_check_kv_key(const char *key, char *why, size_t whylen)
{
	if (*key == '\0')
		return snprintf(why, whylen, "must name a key"), -1;
	for (const char *p = key; *p != '\0'; p++)
		if (!path_char_ok(*p))
			return snprintf(why, whylen, "only printable ASCII without spaces, ?, #, %% or \\"), -1;
	/* Segment by segment: curl resolves . and .. (CONSUL_LOCK_KEY=../agent/self left /v1/kv/). */
	for (const char *s = key;;) {
		size_t n = strcspn(s, "/");
		if (n == 0)
			return snprintf(why, whylen, "an empty segment (// or a trailing /)"), -1;
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return snprintf(why, whylen, "a . or .. segment"), -1;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

int config_check_service_name(const char *name, char *why, size_t whylen)
{
	if (*name == '\0')
		return snprintf(why, whylen, "must not be empty"), -1;
	for (const char *p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return snprintf(why, whylen, "only letters, digits, -, _ and ."), -1;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return snprintf(why, whylen, "not . or .."), -1;
	return 0;
}

/* A host name or address for a URL: letters, digits, - . _ (and : inside brackets). */
static int host_ok(const char *h, size_t n, int bracketed)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_' && !(bracketed && c == ':'))
			return 0;
	}
	return 1;
}

/* HOST, HOST:PORT, [V6] or [V6]:PORT into a; -1 with why. */
static int parse_authority_host(const char *s, size_t n, struct consul_addr *a, char *why, size_t whylen)
{
	const char *host = s, *port = NULL;
	size_t hl = n;
	int bracketed = 0;
	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL)
			return snprintf(why, whylen, "an unclosed [ in the host"), -1;
		host = s + 1;
		hl = (size_t)(close - host);
		bracketed = 1;
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return snprintf(why, whylen, "text after the bracketed host"), -1;
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon != NULL) {
			hl = (size_t)(colon - s);
			port = colon + 1;
			if (memchr(port, ':', n - hl - 1) != NULL)
				return snprintf(why, whylen, "an IPv6 host needs brackets: [::1]:8500"), -1;
		}
	}
	if (hl == 0)
		return snprintf(why, whylen, "no host"), -1;
	if (!host_ok(host, hl, bracketed) || hl >= sizeof(a->host))
		return snprintf(why, whylen, "not a host name or address"), -1;
	memcpy(a->host, host, hl);
	a->host[hl] = '\0';
	a->port = 0;
	if (port != NULL) {
		char digits[8];
		size_t pl = n - (size_t)(port - s);
		if (pl == 0 || pl >= sizeof(digits))
			return snprintf(why, whylen, "the port must be a number from 1 to 65535"), -1;
		memcpy(digits, port, pl);
		digits[pl] = '\0';
		if (parse_port(digits, &a->port) < 0)
			return snprintf(why, whylen, "the port must be a number from 1 to 65535"), -1;
	}
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Every % in s[0..n) starts an escape of a printable byte: decoded credentials hold no NUL or control. */
static int check_escapes(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || hi * 16 + lo < 0x20 || hi * 16 + lo == 0x7f)
			return -1;
		i += 2;
	}
	return 0;
}

int config_parse_consul_addr(const char *s, struct consul_addr *a, char *why, size_t whylen)
{
	memset(a, 0, sizeof(*a));
	const char *rest = s, *sep = strstr(s, "://");
	/* Checked here too, not only by config: whatever is accepted goes into a URL as is. */
	if (config_find_control(s) != NULL)
		return snprintf(why, whylen, "must not contain control characters"), -1;
	if (sep != NULL) {
		size_t n = (size_t)(sep - s);
		if (n == 4 && strncmp(s, "unix", 4) == 0) {
			a->scheme = CONSUL_SCHEME_UNIX;
			if (sep[3] == '\0' || strlen(sep + 3) >= sizeof(a->path))
				return snprintf(why, whylen, "empty or too long a unix socket path"), -1;
			snprintf(a->path, sizeof(a->path), "%s", sep + 3);
			return 0;
		}
		if (n == 4 && strncmp(s, "http", 4) == 0)
			a->scheme = CONSUL_SCHEME_HTTP;
		else if (n == 5 && strncmp(s, "https", 5) == 0)
			a->scheme = CONSUL_SCHEME_HTTPS;
		else
			return snprintf(why, whylen, "Unknown protocol scheme: %.*s", (int)(n > 32 ? 32 : n), s), -1;
		rest = sep + 3;
	}
	if (strpbrk(rest, "?#") != NULL)
		return snprintf(why, whylen, "a query or fragment (? or #) has no place in the address"), -1;
	if (strchr(rest, ' ') != NULL)
		return snprintf(why, whylen, "must not contain spaces"), -1;
	for (const char *p = rest; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return snprintf(why, whylen, "only ASCII (percent-encode the rest)"), -1;
	size_t auth = strcspn(rest, "/");
	const char *at = NULL;
	for (const char *p = rest; p < rest + auth; p++)
		if (*p == '@')
			at = p;
	const char *hp = rest;
	if (at != NULL) {
		size_t ul = (size_t)(at - rest);
		if (ul == 0 || ul >= sizeof(a->userinfo))
			return snprintf(why, whylen, "empty or too long credentials before @"), -1;
		if (check_escapes(rest, ul) < 0)
			return snprintf(why, whylen, "a %% in the credentials must encode a printable byte (%%40 for @)"), -1;
		memcpy(a->userinfo, rest, ul);
		a->userinfo[ul] = '\0';
		hp = at + 1;
	}
	if (parse_authority_host(hp, (size_t)(rest + auth - hp), a, why, whylen) < 0)
		return -1;
	if (strlen(rest + auth) >= sizeof(a->path))
		return snprintf(why, whylen, "too long a path"), -1;
	snprintf(a->path, sizeof(a->path), "%s", rest + auth);
	return 0;
}

void config_redact_addr(const char *s, char *out, size_t len)
{
	const char *sep = strstr(s, "://");
	const char *start = sep != NULL ? sep + 3 : s;
	/* The last @ anywhere: a password may hold a / or a ?, so a short redaction would leak. */
	const char *at = strrchr(start, '@');
	if (at == NULL || (sep != NULL && strncmp(s, "unix", 4) == 0 && sep - s == 4)) {
		snprintf(out, len, "%s", s);
		return;
	}
	snprintf(out, len, "%.*s***%s", (int)(start - s), s, at);
}

/* 127.0.0.0/8, ::1, ::ffff:127.x.y.z or "localhost"; not a name like "127.example". */
int config_is_loopback(const char *host)
{
	unsigned char a[16];
	static const unsigned char v6_loop[16] = { [15] = 1 };
	static const unsigned char v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, v6_loop, 16) == 0 ||
		       (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
	return 0;
}
