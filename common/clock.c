/* SPDX-License-Identifier: MIT */
/* clock: a monotonic millisecond clock, independent of the wall clock. */
#include "clock.h"

#include <time.h>

int64_t clock_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 1;
	/* +1 so that 0 can mean "never" in callers' structs. */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}
