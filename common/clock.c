/* SPDX-License-Identifier: MIT */
/* clock: a monotonic millisecond clock, independent of the wall clock. */
#include "clock.h"

#include <errno.h>
#include <time.h>

int64_t clock_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 1;
	/* +1 so that 0 can mean "never" in callers' structs. */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

void clock_sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
