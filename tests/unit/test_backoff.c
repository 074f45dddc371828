/* SPDX-License-Identifier: MIT */
/* test_backoff: delays double from the base to the cap, each drawn in [d/2, d]; a reset starts over. */
#include <stdio.h>

#include "backoff.h"

#include "tap.h"

static void test_doubling(void)
{
	static const int64_t want[] = { 500, 1000, 2000, 4000, 5000, 5000 };
	struct backoff b;

	backoff_init(&b, 500, 5000);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			int64_t d = backoff_next(&b);
			check(d >= want[i] / 2 && d <= want[i], "failure %zu: %lld in [%lld, %lld]", i + 1, (long long)d,
			      (long long)want[i] / 2, (long long)want[i]);
		}
		backoff_reset(&b);
	}
}

static void test_jitter(void)
{
	int64_t lo = 1000, hi = 0;

	for (int i = 0; i < 2000; i++) {
		int64_t d = backoff_jitter(1000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	check(lo >= 500 && hi <= 1000, "jitter of 1000 stays in [500, 1000] (%lld..%lld)", (long long)lo, (long long)hi);
	check(hi - lo > 300, "jitter spreads (%lld..%lld)", (long long)lo, (long long)hi);
	check(backoff_jitter(1) == 1 && backoff_jitter(0) == 0, "no jitter below 2 ms");
}

static void test_odd_settings(void)
{
	struct backoff b;

	backoff_init(&b, 3000, 1000);   /* a base over the cap: the cap */
	check(backoff_next(&b) <= 1000, "a base over the cap waits at most the cap");
	backoff_init(&b, 1, (int64_t)1 << 62);
	for (int i = 0; i < 80; i++)
		(void)backoff_next(&b);
	check(b.next_ms == (int64_t)1 << 62, "no overflow past a huge cap");
}

int main(void)
{
	test_doubling();
	test_jitter();
	test_odd_settings();
	return tap_done();
}
