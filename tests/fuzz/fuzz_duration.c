/* SPDX-License-Identifier: MIT */
/* fuzz_duration: config_parse_duration never crashes, and what it accepts formats and parses back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The largest millisecond count a Go duration (int64 nanoseconds) holds. */
#define MAX_MS (INT64_MAX / 1000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(int64_t ms)
{
	char buf[64];
	int64_t back = -1;
	config_format_duration(ms, buf, sizeof(buf));
	if (strlen(buf) >= sizeof(buf) - 1)
		abort();
	if (config_parse_duration(buf, &back) != 0 || back != ms)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256];
	int64_t ms = -1;
	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (config_parse_duration(s, &ms) == 0) {
		if (ms < 0 || ms > MAX_MS)
			abort();
		round_trip(ms);
	}
	if (size >= sizeof(int64_t)) {
		int64_t v;
		char buf[64];
		memcpy(&v, data, sizeof(v));
		config_format_duration(v, buf, sizeof(buf));
		if (v >= 0 && v <= MAX_MS)
			round_trip(v);
		/* A short buffer is cut, never overrun. */
		config_format_duration(v, buf, (size_t)(data[0] % 8) + 1);
	}
	return 0;
}
