/* SPDX-License-Identifier: MIT */
/* fuzz_bytes: config_parse_bytes never crashes, and what it accepts is a count ≥ 0 that prints back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[128];
	long long n = -1;
	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (config_parse_bytes(s, &n) != 0)
		return 0;
	if (n < 0)
		abort();
	/* The plain decimal form of an accepted count reads back as the same count. */
	char buf[32];
	long long back = -1;
	snprintf(buf, sizeof(buf), "%lld", n);
	if (config_parse_bytes(buf, &back) != 0 || back != n)
		abort();
	return 0;
}
