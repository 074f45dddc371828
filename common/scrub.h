/* SPDX-License-Identifier: MIT */
/* scrub: keep secrets (passwords, tokens) out of error text, the one rule for every client. */
#ifndef RESEC_SCRUB_H
#define RESEC_SCRUB_H

#include <stdarg.h>
#include <stddef.h>

/*
 * The rule (the Redis client's, the stricter of the two the clients had):
 * every occurrence of every secret, however short, overlapping ones
 * included, is found in the original text before anything is replaced; each
 * run of hidden bytes becomes three masks of a character no secret holds
 * ('*' first), so that a mask next to the text around it never spells a
 * secret. When every mask character is in some secret, or memory runs out,
 * the whole text is withheld. NULL and empty secrets are skipped.
 */

/* Scrub s (NUL-terminated, in a buffer of size bytes) in place; the text never grows but a withheld note may be cut to size. */
void scrub_secrets(char *s, size_t size, const char *const *secrets, size_t n);

/*
 * Format fmt in full, scrub it, then cut it to out's size (NUL-terminated):
 * a secret is never split by the cut before the scrubber could see it whole.
 */
void scrub_vformat(char *out, size_t size, const char *const *secrets, size_t n, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

#endif
