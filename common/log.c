/* SPDX-License-Identifier: MIT */
/* log: logfmt or JSON event lines on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"
#include "log.h"

static char log_prog[64] = "resec";
static int log_min_level = LOG_INFO;
static int log_fmt = LOG_FORMAT_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *prog, int level, int format)
{
	snprintf(log_prog, sizeof(log_prog), "%s", prog);
	log_min_level = level;
	log_fmt = format;
}

int log_parse_level(const char *s)
{
	if (strcasecmp(s, "debug") == 0)
		return LOG_DEBUG;
	if (strcasecmp(s, "info") == 0)
		return LOG_INFO;
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return LOG_WARN;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERROR;
	return -1;
}

int log_parse_format(const char *s)
{
	if (strcasecmp(s, "text") == 0 || strcasecmp(s, "logfmt") == 0)
		return LOG_FORMAT_TEXT;
	if (strcasecmp(s, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

int log_enabled(int level)
{
	return level >= log_min_level;
}

/*
 * A fixed line buffer: an event longer than it is cut, never split. The last
 * bytes are kept for the closing quote, '}' and newline, so a cut JSON line
 * is still one valid JSON object.
 */
enum { LINE_RESERVE = 4 };
struct line {
	char buf[4096];
	size_t len;
	int full;
};

/* Append n bytes whole, or nothing (and stop appending) when they do not fit. */
static int line_write(struct line *l, const char *s, size_t n)
{
	if (l->full || l->len + n + LINE_RESERVE > sizeof(l->buf)) {
		l->full = 1;
		return -1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return 0;
}

static int line_puts(struct line *l, const char *s)
{
	return line_write(l, s, strlen(s));
}

/* Append a closing character from the reserve. */
static void line_close(struct line *l, char c)
{
	if (l->len + 1 < sizeof(l->buf))
		l->buf[l->len++] = c;
}

static int needs_quotes(const char *s)
{
	if (*s == '\0')
		return 1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return 1;
	}
	return 0;
}

/* The bytes of the string at s that json_utf8_len may look at: at most 4, never past its NUL. */
static size_t ahead(const unsigned char *s)
{
	return strnlen((const char *)s, 4);
}

/* Quote and escape a value the way logfmt and JSON both accept. */
static void line_put_quoted(struct line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (line_write(l, "\"", 1) < 0)
		return;
	while (*p) {
		char esc[8];
		size_t used = json_escape_char(p, ahead(p), esc);
		if (line_puts(l, esc) < 0)
			break;
		p += used;
	}
	line_close(l, '"');
}

static void line_put_pair(struct line *l, const char *key, const char *val, int first)
{
	/* A pair starts only when its key fits whole: no dangling separator or key. */
	if (l->full || l->len + strlen(key) * 6 + 8 + LINE_RESERVE > sizeof(l->buf)) {
		l->full = 1;
		return;
	}
	if (log_fmt == LOG_FORMAT_JSON) {
		if (!first)
			line_puts(l, ",");
		line_put_quoted(l, key);
		line_puts(l, ":");
		line_put_quoted(l, val);
		return;
	}
	if (!first)
		line_puts(l, " ");
	line_puts(l, key);
	line_puts(l, "=");
	if (needs_quotes(val)) {
		line_put_quoted(l, val);
		return;
	}
	while (*val && line_write(l, val, 1) == 0)
		val++;
}

static void format_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_event(int level, const char *msg, ...)
{
	if (!log_enabled(level))
		return;
	if (level < LOG_DEBUG || level > LOG_ERROR)
		level = LOG_ERROR;
	struct line l = { .len = 0, .full = 0 };
	char ts[40];
	format_timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON)
		line_puts(&l, "{");
	line_put_pair(&l, "ts", ts, 1);
	line_put_pair(&l, "level", level_names[level], 0);
	line_put_pair(&l, "prog", log_prog, 0);
	line_put_pair(&l, "msg", msg, 0);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (key == NULL)
			break;
		const char *val = va_arg(ap, const char *);
		line_put_pair(&l, key, val ? val : "", 0);
	}
	va_end(ap);
	if (log_fmt == LOG_FORMAT_JSON)
		line_close(&l, '}');
	line_close(&l, '\n');
	/* One write per line, so lines from several processes do not interleave. */
	fwrite(l.buf, 1, l.len, stderr);
	fflush(stderr);
}

void log_printable(const char *s, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	if (len == 0)
		return;
	while (*p != '\0' && o + 1 < len) {
		size_t n = json_utf8_len(p, ahead(p));
		/* C0 controls, DEL, C1 controls (U+0080-U+009F, e.g. CSI) and broken UTF-8 become '?'. */
		if (n == 0 || *p < 0x20 || *p == 0x7f || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			out[o++] = '?';
			p += n == 0 ? 1 : n;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
}

void log_vprintable(char *out, size_t len, const char *fmt, va_list ap)
{
	char raw[2048];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_printable(raw, out, len);
}

void log_die_line(const char *fmt, ...)
{
	char shown[1024];
	va_list ap;
	va_start(ap, fmt);
	/* One line whatever a server put in the text (a name, an error body). */
	log_vprintable(shown, sizeof(shown), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", log_prog, shown);
	fflush(stderr);
}

int log_changed(char *last, size_t len, const char *a, const char *b)
{
	char key[512];
	snprintf(key, sizeof(key), "%s|%s", a, b != NULL ? b : "");
	if (len == 0 || strncmp(key, last, len - 1) == 0)
		return 0;
	snprintf(last, len, "%s", key);
	return 1;
}

const char *log_int(long long v)
{
	static char bufs[8][24];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%lld", v);
	return b;
}
