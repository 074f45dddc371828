/* SPDX-License-Identifier: MIT */
/* consul_watch: the blocking-query loop rules of CONSUL-API.md §1 (rate limit, back-off, change detection), no I/O. */
#include "consul_watch.h"

#include <stdlib.h>
#include <string.h>

#include "backoff.h"

/* ---- blocking-query loop rules ---- */

void consul_watch_init(struct consul_watch *w)
{
	memset(w, 0, sizeof *w);
	w->burst = 2;
	w->rate_min_ms = 1000;
	w->rate_max_ms = 15000;
	w->backoff_base_ms = 5000;
	w->backoff_max_ms = 180000;
	w->refill_ms = w->rate_min_ms;
	w->tokens_x1000 = (int64_t)w->burst * 1000;
}

/* Bring the bucket up to now; a bucket that stays full speeds the refill back up. */
static void watch_refill(struct consul_watch *w, int64_t now)
{
	int64_t full = (int64_t)w->burst * 1000;

	if (w->refill_ms < w->rate_min_ms)
		w->refill_ms = w->rate_min_ms > 0 ? w->rate_min_ms : 1;
	if (w->last_ms == 0 || now < w->last_ms) {
		w->last_ms = now;
		if (w->tokens_x1000 >= full && w->full_since_ms == 0)
			w->full_since_ms = now;
		return;
	}
	if (w->tokens_x1000 < full) {
		int64_t add = (now - w->last_ms) * 1000 / w->refill_ms;
		if (add == 0)
			return;   /* keep last_ms: the time accumulates */
		if (w->tokens_x1000 + add >= full) {
			int64_t need = full - w->tokens_x1000;
			w->full_since_ms = w->last_ms + (need * w->refill_ms + 999) / 1000;
			w->tokens_x1000 = full;
			w->last_ms = now;
		} else {
			w->tokens_x1000 += add;
			w->last_ms += add * w->refill_ms / 1000;
		}
	} else {
		w->last_ms = now;
		if (w->full_since_ms == 0)
			w->full_since_ms = now;
	}
	if (w->tokens_x1000 >= full) {
		while (w->refill_ms > w->rate_min_ms && now - w->full_since_ms >= w->refill_ms) {
			w->full_since_ms += w->refill_ms;
			w->refill_ms /= 2;
			if (w->refill_ms < w->rate_min_ms)
				w->refill_ms = w->rate_min_ms;
		}
	}
}

int64_t consul_watch_delay(struct consul_watch *w, int64_t now_ms)
{
	int64_t rate = 0, back = 0;

	watch_refill(w, now_ms);
	if (w->tokens_x1000 < 1000) {
		rate = ((1000 - w->tokens_x1000) * w->refill_ms + 999) / 1000;
		w->waited = 1;
	}
	if (w->retry_at_ms > now_ms)
		back = w->retry_at_ms - now_ms;
	return rate > back ? rate : back;
}

void consul_watch_begin(struct consul_watch *w, int64_t now_ms)
{
	watch_refill(w, now_ms);
	if (w->waited || w->tokens_x1000 < 1000) {
		/* Churn: the bucket ran dry, so slow the refill down, towards rate_max_ms. */
		w->refill_ms *= 2;
		if (w->refill_ms > w->rate_max_ms)
			w->refill_ms = w->rate_max_ms;
		w->waited = 0;
	}
	if (w->tokens_x1000 >= (int64_t)w->burst * 1000)
		w->last_ms = now_ms;   /* refilling starts now */
	w->tokens_x1000 -= 1000;
	if (w->tokens_x1000 < -1000)
		w->tokens_x1000 = -1000;
	w->full_since_ms = 0;
}

/*
 * A changed answer is news, not churn: it gives its token back and ends any
 * slowdown, so the next request goes out at once. Only a loop of unchanged
 * answers (an index that moves without the content, [C3]) spends the bucket;
 * so a real change is never held behind earlier wake-ups that said nothing,
 * and changes come no faster than Consul commits them.
 */
static void watch_refund(struct consul_watch *w)
{
	int64_t full = (int64_t)w->burst * 1000;

	w->tokens_x1000 = w->tokens_x1000 < 0 ? 1000 : w->tokens_x1000 + 1000;
	if (w->tokens_x1000 > full)
		w->tokens_x1000 = full;
	w->refill_ms = w->rate_min_ms;
	w->waited = 0;
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int consul_watch_update(struct consul_watch *w, uint64_t index, const void *content, size_t len)
{
	uint64_t h = fnv1a(content != NULL ? content : "", content != NULL ? len : 0);
	int changed;

	w->failures = 0;
	w->retry_at_ms = 0;
	if (index == 0)
		index = 1;                 /* [C2] */
	if (index < w->index)
		w->index = 0;              /* [C1]: one non-blocking read, then resume */
	else
		w->index = index;
	changed = !w->have_hash || h != w->hash;
	w->hash = h;
	w->have_hash = 1;
	if (changed)
		watch_refund(w);
	return changed;
}

void consul_watch_failed(struct consul_watch *w, int64_t now_ms)
{
	int64_t d, f;

	if (w->failures < 1000)
		w->failures++;
	f = w->failures;
	d = w->backoff_base_ms * f * f;
	if (d > w->backoff_max_ms || d < 0 || f > 1000)
		d = w->backoff_max_ms;
	w->retry_at_ms = now_ms + backoff_jitter(d);
	w->index = 0;
}

