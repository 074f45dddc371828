/* SPDX-License-Identifier: MIT */
/* backoff: retry delays that double up to a cap, with jitter so that a fleet does not retry in step. */
#ifndef RESEC_BACKOFF_H
#define RESEC_BACKOFF_H

#include <stdint.h>

struct backoff {
	int64_t base_ms;   /* the first delay */
	int64_t max_ms;    /* the cap */
	int64_t next_ms;   /* the next delay before jitter; 0: base_ms */
};

/* A back-off from base_ms doubling to max_ms. */
void backoff_init(struct backoff *b, int64_t base_ms, int64_t max_ms);

/* The delay to wait after one more failure: d in [base, max] doubling each
 * time, returned as a uniform draw in [d/2, d]. */
int64_t backoff_next(struct backoff *b);

/* A success: the next failure starts again from base_ms. */
void backoff_reset(struct backoff *b);

/* A uniform draw in [d/2, d] (d itself when d < 2); safe in every thread. */
int64_t backoff_jitter(int64_t d);

#endif
