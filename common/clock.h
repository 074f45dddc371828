/* SPDX-License-Identifier: MIT */
/* clock: a monotonic millisecond clock, independent of the wall clock. */
#ifndef RESEC_CLOCK_H
#define RESEC_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (arbitrary origin, never goes back, > 0). */
int64_t clock_now_ms(void);

/* Sleep ms milliseconds (≤ 0: not at all), resuming after signals. */
void clock_sleep_ms(int64_t ms);

#endif
