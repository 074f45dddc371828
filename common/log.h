/* SPDX-License-Identifier: MIT */
/* log: one line per event on stderr, logfmt (default) or JSON. */
#ifndef RESEC_LOG_H
#define RESEC_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Set the program name, the lowest level written and the format. */
void log_init(const char *prog, int level, int format);

/* Parse DEBUG|INFO|WARN|WARNING|ERROR, case-insensitive; -1 when unknown. */
int log_parse_level(const char *s);

/* Parse text|logfmt|json, case-insensitive; -1 when unknown. */
int log_parse_format(const char *s);

/* 1 when events at level are written. */
int log_enabled(int level);

/*
 * Write one event: msg then key/value string pairs, ended by NULL. Values are
 * quoted and escaped as needed; use the macros below, which add the NULL.
 */
void log_event(int level, const char *msg, ...);

#define log_debug(...) log_event(LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define log_info(...)  log_event(LOG_INFO, __VA_ARGS__, (const char *)0)
#define log_warn(...)  log_event(LOG_WARN, __VA_ARGS__, (const char *)0)
#define log_error(...) log_event(LOG_ERROR, __VA_ARGS__, (const char *)0)

/* Copy s into out (len bytes, NUL-ended) for a terminal: control characters (C0, DEL,
 * C1), and bytes that are not UTF-8, become '?'; cut on a character boundary. */
void log_printable(const char *s, char *out, size_t len);

/* Print "prog: msg" on stderr, for fatal one-line diagnostics (made printable, one line). */
/* Format, then make printable (log_printable) into out. */
void log_vprintable(char *out, size_t len, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

void log_die_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A waiting state is logged once, not at every look: 1 when "a|b" differs from
 * what last (len bytes) holds, which then becomes it; 0 when it is the same. */
int log_changed(char *last, size_t len, const char *a, const char *b);

/* Format an integer for a key/value pair into a static rotating buffer. */
const char *log_int(long long v);

#endif
