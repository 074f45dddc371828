/* SPDX-License-Identifier: MIT */
/* test_scrub: the one secret scrubber (common/scrub.c) the Consul and Redis clients share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scrub.h"
#include "tap.h"

/* Scrub text against secrets (NULL-ended) into out. */
static const char *scrubbed(char *out, size_t size, const char *text, const char *const *secrets)
{
	size_t n = 0;

	while (secrets[n] != NULL)
		n++;
	snprintf(out, size, "%s", text);
	scrub_secrets(out, size, secrets, n);
	return out;
}

static void fmt(char *out, size_t size, const char *const *secrets, size_t n, const char *f, ...)
	__attribute__((format(printf, 5, 6)));
static void fmt(char *out, size_t size, const char *const *secrets, size_t n, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	scrub_vformat(out, size, secrets, n, f, ap);
	va_end(ap);
}

static void test_rule(void)
{
	char out[256];
	const char *tok[] = { "s3cret", NULL };
	const char *two[] = { "tok-1234", "pa55", NULL };
	const char *shorts[] = { "ab", NULL };
	const char *stars[] = { "***", NULL };
	const char *all[] = { "*#~", "^x?!", NULL };
	const char *none[] = { NULL, "", NULL };

	check(strcmp(scrubbed(out, sizeof out, "auth s3cret and s3cret again", tok), "auth *** and *** again") == 0,
	      "each occurrence becomes three masks: %s", out);
	check(strcmp(scrubbed(out, sizeof out, "t=tok-1234 p=pa55", two), "t=*** p=***") == 0,
	      "every secret of the list: %s", out);
	check(strcmp(scrubbed(out, sizeof out, "xabx", shorts), "x**x") == 0,
	      "short secrets are scrubbed too (the stricter rule), a short run gets as many masks: %s", out);
	check(strcmp(scrubbed(out, sizeof out, "ababab", shorts), "***") == 0 &&
	      strstr(out, "ab") == NULL, "overlapping occurrences: %s", out);
	check(strstr(scrubbed(out, sizeof out, "bad *** here", stars), "***") == NULL,
	      "a secret of stars is masked with another character: %s", out);
	check(strstr(scrubbed(out, sizeof out, "a *#~ b ^x?! c", all), "*#~") == NULL &&
	      strstr(out, "^x?!") == NULL && strstr(out, "withheld") != NULL,
	      "secrets holding every mask: the text is withheld: %s", out);
	check(strcmp(scrubbed(out, sizeof out, "nothing secret", none), "nothing secret") == 0,
	      "NULL and empty secrets are skipped: %s", out);
	check(strcmp(scrubbed(out, sizeof out, "nothing here", tok), "nothing here") == 0, "no secret: unchanged");
}

static void test_format(void)
{
	char out[32], big[600];
	const char *pw[] = { "hunter2hunter2" };

	memset(big, 'y', sizeof big);
	big[sizeof big - 1] = '\0';
	memcpy(big + 20, "hunter2hunter2", 14);
	fmt(out, sizeof out, pw, 1, "err: %s", big);
	check(strstr(out, "hunter") == NULL && strlen(out) == sizeof out - 1,
	      "a secret across the cut is scrubbed before the cut: %s", out);
	fmt(out, sizeof out, pw, 1, "%s=%d", "n", 42);
	check(strcmp(out, "n=42") == 0, "formats like printf: %s", out);
}

/* A random word of len letters into w, from a small alphabet holding two of the mask characters. */
static void random_word(char *w, int len, unsigned *seed)
{
	static const char abc[] = "a*#b";

	for (int k = 0; k < len; k++)
		w[k] = abc[rand_r(seed) % 4];
	w[len] = '\0';
}

/* Many random secrets and texts over a small alphabet: the secret never shows. */
static void test_random(void)
{
	unsigned seed = 11;
	int leaks = 0;

	for (int i = 0; i < 2000; i++) {
		char s1[6], s2[6], t[48], out[48];
		const char *secrets[] = { s1, s2, NULL };

		random_word(s1, 1 + (int)(rand_r(&seed) % 4), &seed);
		random_word(s2, (int)(rand_r(&seed) % 4), &seed);
		random_word(t, (int)(rand_r(&seed) % 40), &seed);
		scrubbed(out, sizeof out, t, secrets);
		if (strstr(out, s1) != NULL || (s2[0] != '\0' && strstr(out, s2) != NULL)) {
			if (leaks++ == 0)
				fprintf(stderr, "# s1=%s s2=%s text=%s out=%s\n", s1, s2, t, out);
		}
	}
	check(leaks == 0, "2000 random secret pairs and texts: no secret shows (%d leaks)", leaks);
}

int main(void)
{
	test_rule();
	test_format();
	test_random();
	return tap_done();
}
