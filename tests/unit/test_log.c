/* SPDX-License-Identifier: MIT */
/* test_log: logfmt and JSON event lines, TAP-style; "--emit FORMAT" prints samples for tests/log.bats. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include "tap.h"


/* What one call writes on stderr, through a pipe (a few lines: far below its capacity). */
static char captured[16384];
static int cap_pipe[2] = { -1, -1 };
static int saved_fd = -1;

static void capture_start(void)
{
	(void)fflush(stderr);
	if (pipe(cap_pipe) < 0) {
		perror("pipe");
		exit(2);
	}
	saved_fd = dup(2);
	dup2(cap_pipe[1], 2);
	close(cap_pipe[1]);
}

static const char *capture_end(void)
{
	size_t n = 0;
	ssize_t r;
	(void)fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	while (n + 1 < sizeof(captured) && (r = read(cap_pipe[0], captured + n, sizeof(captured) - 1 - n)) > 0)
		n += (size_t)r;
	captured[n] = '\0';
	close(cap_pipe[0]);
	return captured;
}

/* The logfmt value of one pair: the text after " key=" up to the end of the line. */
static const char *after_key(const char *line, const char *key)
{
	static char pat[64];
	snprintf(pat, sizeof(pat), " %s=", key);
	const char *p = strstr(line, pat);
	return p ? p + strlen(pat) : "";
}

static int has_suffix_line(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int ts_shape(const char *s)
{
	/* 2026-01-02T03:04:05.678Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	}
	return 1;
}

static void value_case(const char *name, const char *val, const char *want)
{
	capture_start();
	log_info("m", "k", val);
	const char *out = capture_end();
	char expect[256];
	snprintf(expect, sizeof(expect), " k=%s\n", want);
	check(has_suffix_line(out, expect), "logfmt %s: k=%s (line: %s)", name, want, out);
}

static void test_logfmt(void)
{
	log_init("testprog", LOG_DEBUG, LOG_FORMAT_TEXT);
	capture_start();
	log_info("hello world", "key", "value", "n", log_int(42));
	const char *out = capture_end();
	check(strncmp(out, "ts=", 3) == 0 && ts_shape(out + 3), "logfmt starts with ts=<RFC 3339 UTC, ms> (%s)", out);
	check(strstr(out, "Z level=info prog=testprog msg=\"hello world\" key=value n=42\n") != NULL &&
	      strchr(out, '\n') == out + strlen(out) - 1, "logfmt line shape (%s)", out);
	capture_start();
	log_warn("plain");
	out = capture_end();
	check(strstr(out, " level=warn prog=testprog msg=plain\n") != NULL, "one-word msg (%s)", out);

	value_case("space", "a b", "\"a b\"");
	value_case("quote", "say \"hi\"", "\"say \\\"hi\\\"\"");
	value_case("newline", "a\nb", "\"a\\nb\"");
	value_case("carriage return and tab", "a\r\tb", "\"a\\r\\tb\"");
	value_case("control char", "a\x01" "b", "\"a\\u0001b\"");
	value_case("DEL", "a\x7f", "\"a\\u007f\"");
	value_case("equals", "a=b", "\"a=b\"");
	value_case("backslash", "a\\b", "\"a\\\\b\"");
	value_case("empty", "", "\"\"");
	value_case("plain", "abc-1.2:3/x", "abc-1.2:3/x");
	value_case("UTF-8", "caf\xc3\xa9", "\"caf\xc3\xa9\"");
	value_case("invalid UTF-8", "a\xff" "b", "\"a\\ufffdb\"");
	value_case("truncated UTF-8", "a\xc3", "\"a\\ufffd\"");
	value_case("overlong UTF-8", "\xc0\xaf", "\"\\ufffd\\ufffd\"");
	value_case("surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");

	capture_start();
	log_info("m", "k", (const char *)NULL);
	out = capture_end();
	check(has_suffix_line(out, " k=\"\"\n"), "a NULL value is written as empty");

	capture_start();
	log_info("m", "k", "v");
	out = capture_end();
	check(strcmp(after_key(out, "k"), "v\n") == 0, "pairs follow msg");
}

static void test_levels(void)
{
	check(log_parse_level("debug") == LOG_DEBUG && log_parse_level("DEBUG") == LOG_DEBUG &&
	      log_parse_level("Debug") == LOG_DEBUG, "level debug, any case");
	check(log_parse_level("info") == LOG_INFO && log_parse_level("INFO") == LOG_INFO, "level info, any case");
	check(log_parse_level("warn") == LOG_WARN && log_parse_level("WARNING") == LOG_WARN &&
	      log_parse_level("Warn") == LOG_WARN, "level warn/warning, any case");
	check(log_parse_level("error") == LOG_ERROR && log_parse_level("ERROR") == LOG_ERROR, "level error, any case");
	check(log_parse_level("trace") == -1 && log_parse_level("") == -1 && log_parse_level("err") == -1 &&
	      log_parse_level("info ") == -1, "unknown levels refused");
	check(log_parse_format("text") == LOG_FORMAT_TEXT && log_parse_format("LOGFMT") == LOG_FORMAT_TEXT &&
	      log_parse_format("Json") == LOG_FORMAT_JSON, "formats, any case");
	check(log_parse_format("yaml") == -1 && log_parse_format("") == -1, "unknown formats refused");

	static const int levels[] = { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
	static const char *const names[] = { "debug", "info", "warn", "error" };
	for (int min = 0; min < 4; min++) {
		log_init("lv", levels[min], LOG_FORMAT_TEXT);
		capture_start();
		log_debug("d");
		log_info("i");
		log_warn("w");
		log_error("e");
		const char *out = capture_end();
		int lines = 0, right = 1;
		for (const char *p = out; *p; p++)
			lines += *p == '\n';
		for (int l = 0; l < 4; l++) {
			char pat[32];
			snprintf(pat, sizeof(pat), "level=%s ", names[l]);
			if ((strstr(out, pat) != NULL) != (l >= min))
				right = 0;
			if (log_enabled(levels[l]) != (l >= min))
				right = 0;
		}
		check(right && lines == 4 - min, "minimum level %s writes %d lines", names[min], 4 - min);
	}
}

static void test_json(void)
{
	log_init("jp", LOG_INFO, LOG_FORMAT_JSON);
	capture_start();
	log_info("hi \"there\"", "k", "v", "e", "");
	const char *out = capture_end();
	check(strncmp(out, "{\"ts\":\"", 7) == 0 && ts_shape(out + 7), "JSON starts with ts (%s)", out);
	check(strstr(out, "\",\"level\":\"info\",\"prog\":\"jp\",\"msg\":\"hi \\\"there\\\"\",\"k\":\"v\",\"e\":\"\"}\n") != NULL,
	      "JSON line shape (%s)", out);
}

static void test_long_lines(void)
{
	static char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	for (int f = 0; f < 2; f++) {
		log_init("long", LOG_INFO, f);
		capture_start();
		log_info("m", "a", big, "b", "after");
		const char *out = capture_end();
		size_t n = strlen(out);
		check(n <= 4096 && n > 4000 && out[n - 1] == '\n' && strchr(out, '\n') == out + n - 1,
		      "%s: a long event is cut to one line of at most 4096 bytes (%zu)", f ? "json" : "logfmt", n);
		check(f ? has_suffix_line(out, "x\"}\n") : has_suffix_line(out, "x\n"),
		      "%s: a cut line still ends properly", f ? "json" : "logfmt");
	}
	memset(big, '"', sizeof(big) - 1);
	log_init("long", LOG_INFO, LOG_FORMAT_TEXT);
	capture_start();
	log_info("m", "a", big);
	const char *out = capture_end();
	check(has_suffix_line(out, "\\\"\"\n"), "a cut quoted value ends with a whole escape and a closing quote");
}

static void test_misc(void)
{
	const char *v[9];
	for (int i = 0; i < 8; i++)
		v[i] = log_int(i * 1000LL);
	int distinct = 1;
	for (int i = 0; i < 8; i++)
		if (strtoll(v[i], NULL, 10) != i * 1000LL)
			distinct = 0;
	check(distinct, "log_int keeps eight values alive at once");
	check(strcmp(log_int(-9223372036854775807LL - 1), "-9223372036854775808") == 0, "log_int LLONG_MIN");
	log_init("dieprog", LOG_INFO, LOG_FORMAT_JSON);
	capture_start();
	log_die_line("cannot %s: %s", "connect", "refused");
	const char *out = capture_end();
	check(strcmp(out, "dieprog: cannot connect: refused\n") == 0, "log_die_line is plain text (%s)", out);
}

/* Sample events with every awkward character, for the JSON/logfmt checks in tests/log.bats. */
static int emit(const char *format)
{
	static char big[6000];
	memset(big, 'y', sizeof(big) - 1);
	big[100] = '"';
	big[200] = '\n';
	log_init("emit", LOG_DEBUG, log_parse_format(format));
	log_debug("debug line");
	log_info("spaces and \"quotes\"", "path", "/a b/c", "eq", "a=b", "empty", "");
	log_warn("control", "nl", "a\nb", "cr", "\r", "tab", "\t", "bell", "\a", "esc", "\x1b[0m", "del", "\x7f");
	log_error("unicode", "ok", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "bad", "\xff\xfe", "cut", "\xe2\x82");
	log_info("backslash", "bs", "C:\\dir\\", "json", "{\"a\":[1,2]}");
	log_info("long", "big", big, "next", "v");
	log_info("n", "count", log_int(-5));
	return 0;
}

/* Text from servers on a terminal: controls and broken UTF-8 become '?', the rest is kept. */
static void test_printable(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain node-1:6379", "plain node-1:6379" },
		{ "n1\nstatus: healthy", "n1?status: healthy" },
		{ "a\r\t\x1b[2Jb\x7f", "a???[2Jb?" },
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },   /* UTF-8 kept */
		{ "x\xc2\x9b" "31my", "x?31my" },                                 /* C1 CSI in UTF-8 */
		{ "bad\xff\xc3x", "bad??x" },                                    /* not UTF-8 */
		{ "\xe2\x82", "??" },                                            /* cut sequence */
	};
	char out[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_printable(cases[i].in, out, sizeof(out));
		check(strcmp(out, cases[i].out) == 0, "log_printable case %zu: \"%s\"", i, out);
	}
	log_printable("\xc3\xa9\xc3\xa9", out, 4);
	check(strcmp(out, "\xc3\xa9") == 0, "cut on a character boundary");
	capture_start();
	log_die_line("cannot read %s", "n1\nforged\x1b[2J");
	const char *got = capture_end();
	check(strstr(got, "cannot read n1?forged?[2J\n") != NULL && strchr(got, '\n') == got + strlen(got) - 1,
	      "log_die_line stays one printable line");
}

static void test_changed(void)
{
	char last[16] = "";
	check(log_changed(last, sizeof(last), "waiting", "a") == 1, "a first state is new");
	check(log_changed(last, sizeof(last), "waiting", "a") == 0, "the same state again is not");
	check(log_changed(last, sizeof(last), "waiting", "b") == 1, "another reason is new");
	check(log_changed(last, sizeof(last), "waiting", "a") == 1, "and back again");
	last[0] = '\0';
	check(log_changed(last, sizeof(last), "waiting", "a") == 1, "a cleared memory forgets");
	check(log_changed(last, sizeof(last), "a long state past the memory", NULL) == 1 &&
	      log_changed(last, sizeof(last), "a long state past the memory", NULL) == 0,
	      "a state longer than the memory is remembered by its start");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--emit") == 0)
		return emit(argv[2]);
	test_logfmt();
	test_levels();
	test_json();
	test_long_lines();
	test_misc();
	test_printable();
	test_changed();
	return tap_done();
}
