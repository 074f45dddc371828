/* SPDX-License-Identifier: MIT */
/* fuzz_hostport: config_parse_hostport never crashes, and what it accepts formats and parses back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[600];
	struct hostport hp, back;
	char buf[300];
	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (config_parse_hostport(s, &hp) != 0)
		return 0;
	if (hp.port < 1 || hp.port > 65535 || strlen(hp.host) >= sizeof(hp.host))
		abort();
	config_format_hostport(&hp, buf, sizeof(buf));
	if (config_parse_hostport(buf, &back) != 0)
		abort();
	if (strcmp(back.host, hp.host) != 0 || back.port != hp.port)
		abort();
	/* Formatting is a fixed point after one round. */
	char again[300];
	config_format_hostport(&back, again, sizeof(again));
	if (strcmp(again, buf) != 0)
		abort();
	return 0;
}
