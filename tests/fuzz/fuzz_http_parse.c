/* SPDX-License-Identifier: MIT */
/* fuzz_http_parse: the HTTP answer parser of common/http_parse.c, fed whole and in pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int rc;          /* 0 done, 1 needs more, -1 refused */
	int kind;
	long status;
	uint64_t index;
	int known_leader;
	struct http_answer a;
};

/* Feed in pieces of step bytes (0: whole), then EOF when eof. */
static void run(const char *in, size_t n, size_t step, int eof, size_t max_body, struct result *r)
{
	static struct http_parser p;
	size_t off = 0;
	int refused = 0;

	memset(r, 0, sizeof *r);
	http_parse_init(&p, &r->a, max_body);
	r->rc = 1;
	while (off < n && !http_parse_done(&p)) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		long used = http_parse_feed(&p, in + off, k);
		if (used < 0) {
			refused = 1;
			break;
		}
		if ((size_t)used > k)
			abort();
		off += (size_t)used;
		if ((size_t)used < k && !http_parse_done(&p))
			abort();      /* less than offered only once done */
	}
	if (refused) {
		r->rc = -1;
	} else if (http_parse_done(&p)) {
		r->rc = 0;
	} else if (eof) {
		r->rc = http_parse_eof(&p) == 0 ? 0 : -1;
	}
	r->kind = r->rc == -1 ? p.kind : 0;
	if (r->rc == -1 && (p.err[0] == '\0' || strchr(p.err, '\n') != NULL || (p.kind != HTTP_ERR && p.kind != HTTP_TOO_BIG)))
		abort();      /* a refusal is one non-empty line of a known kind */
	r->status = r->a.status;
	r->index = r->a.index;
	r->known_leader = r->a.known_leader;
	if (r->rc == 0) {
		if (r->a.status < 200 || r->a.status > 599 || r->a.len + 1 > max_body)
			abort();
		if (r->a.len > 0 && (r->a.body == NULL || r->a.body[r->a.len] != '\0'))
			abort();
	}
	if (r->a.len > r->a.cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, piece;

	if (size < 2)
		return 0;
	size_t step = (size_t)(data[0] & 15) + 1;
	int eof = (data[0] & 16) != 0;
	size_t max_body = (data[1] & 1) ? 64 : 1u << 16;
	const char *in = (const char *)data + 2;
	size_t n = size - 2;

	run(in, n, 0, eof, max_body, &whole);
	run(in, n, step, eof, max_body, &piece);
	/* The answer does not depend on how the bytes were split. */
	if (whole.rc != piece.rc || whole.kind != piece.kind || whole.status != piece.status ||
	    whole.index != piece.index || whole.known_leader != piece.known_leader ||
	    (whole.rc == 0 && (whole.a.len != piece.a.len ||
	                       (whole.a.len > 0 && memcmp(whole.a.body, piece.a.body, whole.a.len) != 0))))
		abort();
	free(whole.a.body);
	free(piece.a.body);
	return 0;
}
