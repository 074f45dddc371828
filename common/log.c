/* SPDX-License-Identifier: MIT */
/* log: logfmt or JSON event lines on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* A growable-free line buffer: events longer than this are cut, never split. */
struct line {
	char buf[4096];
	size_t len;
};

static void line_putc(struct line *l, char c)
{
	if (l->len + 1 < sizeof(l->buf))
		l->buf[l->len++] = c;
}

static void line_puts(struct line *l, const char *s)
{
	while (*s)
		line_putc(l, *s++);
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

/* Quote and escape a value the way logfmt and JSON both accept. */
static void line_put_quoted(struct line *l, const char *s)
{
	line_putc(l, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': line_puts(l, "\\\""); break;
		case '\\': line_puts(l, "\\\\"); break;
		case '\n': line_puts(l, "\\n"); break;
		case '\r': line_puts(l, "\\r"); break;
		case '\t': line_puts(l, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char hex[8];
				snprintf(hex, sizeof(hex), "\\u%04x", c);
				line_puts(l, hex);
			} else {
				line_putc(l, (char)c);
			}
		}
	}
	line_putc(l, '"');
}

static void line_put_pair(struct line *l, const char *key, const char *val, int first)
{
	if (log_fmt == LOG_FORMAT_JSON) {
		if (!first)
			line_putc(l, ',');
		line_put_quoted(l, key);
		line_putc(l, ':');
		line_put_quoted(l, val);
		return;
	}
	if (!first)
		line_putc(l, ' ');
	line_puts(l, key);
	line_putc(l, '=');
	if (needs_quotes(val))
		line_put_quoted(l, val);
	else
		line_puts(l, val);
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
	struct line l = { .len = 0 };
	char ts[40];
	format_timestamp(ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_JSON)
		line_putc(&l, '{');
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
		line_putc(&l, '}');
	l.buf[l.len] = '\0';
	/* One write per line, so lines from several processes do not interleave. */
	fprintf(stderr, "%s\n", l.buf);
	fflush(stderr);
}

void log_die_line(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", log_prog, buf);
	fflush(stderr);
}

const char *log_int(long long v)
{
	static char bufs[8][24];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%lld", v);
	return b;
}
