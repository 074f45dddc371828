/* SPDX-License-Identifier: MIT */
/* tap: the few lines of TAP output the unit test programs share. */
#ifndef RESEC_TAP_H
#define RESEC_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int test_count;
static int test_failures;

/* Print one TAP line for a case; the name is kept on one line. */
static void check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int cond, const char *fmt, ...)
{
	char name[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	for (char *p = name; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	test_count++;
	if (!cond)
		test_failures++;
	printf("%sok %d - %s\n", cond ? "" : "not ", test_count, name);
	fflush(stdout);
}

/* Print the plan and return the program's exit status. */
static int tap_done(void)
{
	printf("1..%d\n", test_count);
	if (test_failures > 0)
		fprintf(stderr, "%d of %d failed\n", test_failures, test_count);
	return test_failures > 0 ? 1 : 0;
}

#endif
