/* SPDX-License-Identifier: MIT */
/* scrub: keep secrets (passwords, tokens) out of error text, the one rule for every client. */
#include "scrub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WITHHELD "(withheld: it named a secret)"

/* A mask character that none of the secrets holds, or '\0' when there is none. */
static char mask_char(const char *const *secrets, size_t n)
{
	static const char candidates[] = "*#~^x?!";

	for (const char *m = candidates; *m != '\0'; m++) {
		size_t i = 0;

		while (i < n && (secrets[i] == NULL || strchr(secrets[i], *m) == NULL))
			i++;
		if (i == n)
			return *m;
	}
	return '\0';
}

/* Mark in hidden[] every byte of s[0..len) inside an occurrence of a secret; the number of occurrences. */
static size_t mark(const char *s, size_t len, const char *const *secrets, size_t n, unsigned char *hidden)
{
	size_t found = 0;

	for (size_t k = 0; k < n; k++) {
		size_t sl = secrets[k] != NULL ? strlen(secrets[k]) : 0;

		for (size_t i = 0; sl > 0 && i + sl <= len; i++)
			if (memcmp(s + i, secrets[k], sl) == 0) {
				memset(hidden + i, 1, sl);
				found++;
			}
	}
	return found;
}

void scrub_secrets(char *s, size_t size, const char *const *secrets, size_t n)
{
	size_t len = strlen(s), out = 0;
	unsigned char *hidden = calloc(len + 1, 1);
	char m;

	if (hidden == NULL) {
		snprintf(s, size, "%s", WITHHELD);
		return;
	}
	if (mark(s, len, secrets, n, hidden) == 0) {
		free(hidden);
		return;
	}
	m = mask_char(secrets, n);
	if (m == '\0') {
		free(hidden);
		snprintf(s, size, "%s", WITHHELD);
		return;
	}
	for (size_t i = 0; i < len;) {
		size_t run = 0;

		if (!hidden[i]) {
			s[out++] = s[i++];
			continue;
		}
		while (i < len && hidden[i]) {
			i++;
			run++;
		}
		for (size_t k = 0; k < 3 && k < run; k++)
			s[out++] = m;
	}
	s[out] = '\0';
	free(hidden);
}

void scrub_vformat(char *out, size_t size, const char *const *secrets, size_t n, const char *fmt, va_list ap)
{
	va_list again;
	char *full;
	int len;

	if (size == 0)
		return;
	va_copy(again, ap);
	len = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	full = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (full == NULL) {
		snprintf(out, size, "%s", WITHHELD);
		return;
	}
	vsnprintf(full, (size_t)len + 1, fmt, ap);
	scrub_secrets(full, (size_t)len + 1, secrets, n);
	snprintf(out, size, "%s", full);
	free(full);
}
