/* SPDX-License-Identifier: MIT */
/* secret: storage for passwords and tokens that is never formatted for output. */
#include <string.h>

#include "secret.h"

void secret_set(struct secret *sec, const char *s)
{
	secret_clear(sec);
	if (s == NULL)
		return;
	size_t n = strlen(s);
	if (n >= sizeof(sec->value_))
		n = sizeof(sec->value_) - 1;
	memcpy(sec->value_, s, n);
	sec->value_[n] = '\0';
	sec->len_ = n;
}

const char *secret_value(const struct secret *sec)
{
	return sec->value_;
}

int secret_is_set(const struct secret *sec)
{
	return sec->len_ > 0;
}

void secret_clear(struct secret *sec)
{
	/* volatile keeps the compiler from dropping the wipe of a dead buffer. */
	volatile char *p = sec->value_;
	for (size_t i = 0; i < sizeof(sec->value_); i++)
		p[i] = 0;
	sec->len_ = 0;
}
