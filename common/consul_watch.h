/* SPDX-License-Identifier: MIT */
/* consul_watch: the blocking-query loop rules (rate limit, back-off, change detection), no I/O. */
#ifndef RESEC_CONSUL_WATCH_H
#define RESEC_CONSUL_WATCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * The blocking-query loop of CONSUL-API.md §1, [C1]–[C5], without the I/O:
 *
 *   struct consul_watch w; consul_watch_init(&w);
 *   for (;;) {
 *       sleep_or_poll(consul_watch_delay(&w, clock_now_ms()));
 *       consul_watch_begin(&w, clock_now_ms());
 *       q.index = w.index; q.wait_ms = ...;
 *       if (request fails) { consul_watch_failed(&w, clock_now_ms()); continue; }
 *       if (consul_watch_update(&w, c->index, canonical, len) == 1) act();
 *   }
 *
 * Rate limit [C3]: a token bucket of `burst` (2) tokens refilled one per
 * `refill_ms`. refill_ms starts at rate_min_ms (1s); whenever a request had to
 * wait for an empty bucket it doubles, up to rate_max_ms (15s), so steady
 * churn degrades to one request per 15s; each full refill period the bucket
 * spends full halves it again, back to 1s. Only unchanged answers count as
 * churn: consul_watch_update gives a changed answer's token back and resets
 * the refill to rate_min_ms, so the request after a change is never delayed
 * (a real change of the master must not wait behind the limiter). Back-off [C5]: after f consecutive
 * failures wait min(backoff_base_ms × f², backoff_max_ms) (5s, 180s as consul
 * watch), with jitter: a uniformly random delay in [d/2, d]. The fields can be
 * changed after consul_watch_init (tests use short times).
 */
struct consul_watch {
	uint64_t index;            /* index for the next request: 0 first and after a regression [C1] */
	uint64_t hash;             /* FNV-1a 64 of the last content [C4] */
	int have_hash;             /* 0 until the first successful update */
	int failures;              /* consecutive failures */
	int burst;                 /* bucket size, 2 */
	int64_t rate_min_ms;       /* 1000 */
	int64_t rate_max_ms;       /* 15000 */
	int64_t backoff_base_ms;   /* 5000 */
	int64_t backoff_max_ms;    /* 180000 */
	int64_t refill_ms;         /* current refill period */
	int64_t tokens_x1000;      /* tokens in thousandths */
	int64_t last_ms;           /* when tokens were last computed, 0 before the first call */
	int64_t retry_at_ms;       /* back-off: no request before this monotonic time */
	int waited;                /* the last delay came from an empty bucket */
	int64_t full_since_ms;     /* when the bucket became full, 0 when not full */
};

/* Set the defaults above and index 0. */
void consul_watch_init(struct consul_watch *w);

/* Milliseconds to wait before the next request may be sent (rate limit and back-off); 0: now. */
int64_t consul_watch_delay(struct consul_watch *w, int64_t now_ms);

/* Spend a token: call when sending the request (after waiting consul_watch_delay). */
void consul_watch_begin(struct consul_watch *w, int64_t now_ms);

/* Record a good answer with its X-Consul-Index and the caller's canonical content; 1 when the content changed (or first), else 0. */
int consul_watch_update(struct consul_watch *w, uint64_t index, const void *content, size_t len);

/* Record a failed request: back off before the next one, and read non-blocking (index 0) then [C1]. */
void consul_watch_failed(struct consul_watch *w, int64_t now_ms);

#endif
