/* SPDX-License-Identifier: MIT */
/* backoff: retry delays that double up to a cap, with jitter so that a fleet does not retry in step. */
#include <unistd.h>

#include "backoff.h"
#include "clock.h"

/* xorshift64, one state per thread: jitter needs no quality, only no shared lock. */
static uint64_t jitter_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0)
		state = (uint64_t)clock_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() ^ 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

int64_t backoff_jitter(int64_t d)
{
	if (d < 2)
		return d;
	return d / 2 + (int64_t)(jitter_random() % (uint64_t)(d / 2 + 1));
}

void backoff_init(struct backoff *b, int64_t base_ms, int64_t max_ms)
{
	b->base_ms = base_ms;
	b->max_ms = max_ms;
	b->next_ms = 0;
}

int64_t backoff_next(struct backoff *b)
{
	int64_t d = b->next_ms > 0 ? b->next_ms : b->base_ms;

	if (d > b->max_ms)
		d = b->max_ms;
	b->next_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
	return backoff_jitter(d);
}

void backoff_reset(struct backoff *b)
{
	b->next_ms = 0;
}
