/* SPDX-License-Identifier: MIT */
/* fuzz_redis_info: libFuzzer target for the INFO parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rdb_info in;
	if (rdb_info_parse((const char *)data, size, &in) == 0) {
		/* The string fields are always terminated within their arrays. */
		if (strlen(in.run_id) >= sizeof(in.run_id) || strlen(in.master_host) >= sizeof(in.master_host) ||
		    strlen(in.redis_version) >= sizeof(in.redis_version))
			__builtin_trap();
		(void)rdb_info_offset(&in);
	}
	return 0;
}
