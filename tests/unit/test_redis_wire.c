/* SPDX-License-Identifier: MIT */
/* test_redis_wire: the Redis layer against a peer played over a socketpair: deadlines, caps, EPIPE, the scrubber. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "redis.h"
#include "tap.h"

/* The peer: bytes it sends, one chunk every gap_ms, from its own thread. */
struct peer {
	int fd;
	const char *chunks[8];
	size_t lens[8];
	int64_t gap_ms;
	pthread_t thread;
	int started;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	for (int i = 0; i < 8 && p->chunks[i] != NULL; i++) {
		if (i > 0)
			clock_sleep_ms(p->gap_ms);
		if (send(p->fd, p->chunks[i], p->lens[i], MSG_NOSIGNAL) < 0)
			break;
	}
	return NULL;
}

/* A connection whose far end is p->fd; opts tuned by the caller. */
static int pair(struct rdb_conn *c, struct peer *p, const struct rdb_opts *o)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	memset(p, 0, sizeof(*p));
	p->fd = sv[1];
	rdb_init(c, o);
	return rdb_attach_fd(c, sv[0]);
}

static void peer_start(struct peer *p)
{
	p->started = pthread_create(&p->thread, NULL, peer_main, p) == 0;
}

static void peer_end(struct peer *p)
{
	if (p->started)
		pthread_join(p->thread, NULL);
	close(p->fd);
}

static void chunk(struct peer *p, int i, const char *s, size_t n)
{
	p->chunks[i] = s;
	p->lens[i] = n;
}

static struct rdb_opts opts(int64_t timeout_ms)
{
	struct rdb_opts o;
	memset(&o, 0, sizeof(o));
	snprintf(o.addr.host, sizeof(o.addr.host), "fake");
	o.addr.port = 6379;
	o.timeout_ms = timeout_ms;
	return o;
}

/* Send PING against a peer that answers with the chunks; the result and the time it took. */
static int ping_against(struct rdb_conn *c, struct peer *p, int64_t *took)
{
	peer_start(p);
	int64_t t0 = clock_now_ms();
	int rc = rdb_ping(c);
	*took = clock_now_ms() - t0;
	rdb_close(c);
	peer_end(p);
	return rc;
}

static void test_answer(void)
{
	struct rdb_conn c;
	struct peer p;
	struct rdb_opts o = opts(1000);
	int64_t took;
	check(pair(&c, &p, &o) == 0, "attach a socketpair");
	chunk(&p, 0, "+PONG\r\n", 7);
	check(ping_against(&c, &p, &took) == 0, "a plain PONG is fine");
	pair(&c, &p, &o);
	chunk(&p, 0, "+PO", 3);
	chunk(&p, 1, "NG\r\n", 4);
	p.gap_ms = 20;
	check(ping_against(&c, &p, &took) == 0, "a PONG in two pieces is fine");
}

static void test_timeouts(void)
{
	struct rdb_conn c;
	struct peer p;
	struct rdb_opts o = opts(300);
	int64_t took;
	pair(&c, &p, &o);
	int rc = ping_against(&c, &p, &took);
	check(rc == -1 && c.err_kind == RDB_E_IO && strstr(c.err, "timed out") != NULL,
	      "a silent peer times out (%s)", c.err);
	check(took >= 290 && took < 2000, "after the timeout: %lld ms", (long long)took);

	/* One byte every 100 ms: each read is quick, the whole answer is not. */
	pair(&c, &p, &o);
	static const char *const bytes[] = { "+", "P", "O", "N", "G", "\r", "\n" };
	for (int i = 0; i < 7; i++)
		chunk(&p, i, bytes[i], 1);
	p.gap_ms = 100;
	rc = ping_against(&c, &p, &took);
	check(rc == -1 && strstr(c.err, "timed out") != NULL, "a dripping answer is cut off (%s)", c.err);
	check(took >= 290 && took < 550, "at the command's deadline: %lld ms", (long long)took);
	check(!rdb_connected(&c), "and the connection is closed");

	/* The caller's deadline bounds a command sooner than its own timeout. */
	o = opts(5000);
	pair(&c, &p, &o);
	rdb_set_deadline(&c, clock_now_ms() + 200);
	rc = ping_against(&c, &p, &took);
	check(rc == -1 && took >= 190 && took < 1000, "rdb_set_deadline bounds it: %lld ms", (long long)took);
}

static void test_caps(void)
{
	struct rdb_conn c;
	struct peer p;
	struct rdb_opts o = opts(2000);
	o.max_reply_bytes = 1000;
	o.max_reply_elements = 10;
	int64_t took;
	static char big[3000];
	memset(big, 'x', sizeof(big));
	memcpy(big, "$2000\r\n", 7);

	pair(&c, &p, &o);
	chunk(&p, 0, big, sizeof(big));
	check(ping_against(&c, &p, &took) == -1 && c.err_kind == RDB_E_IO &&
	      strstr(c.err, "reply larger than 1000 bytes") != NULL, "bulk past the byte cap: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "*11\r\n", 5);
	check(ping_against(&c, &p, &took) == -1 && strstr(c.err, "more than 10 elements") != NULL,
	      "array past the element cap: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "*2147483647\r\n", 13);
	check(ping_against(&c, &p, &took) == -1 && strstr(c.err, "more than 10 elements") != NULL,
	      "an array announced with 2^31-1 elements allocates nothing: %s", c.err);

	/* Elements count over all levels and over several reads. */
	pair(&c, &p, &o);
	chunk(&p, 0, "*2\r\n*5\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n", 28);
	chunk(&p, 1, "*5\r\n:1\r\n", 8);
	p.gap_ms = 30;
	check(ping_against(&c, &p, &took) == -1 && strstr(c.err, "more than 10 elements") != NULL,
	      "elements summed over nested arrays and reads: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 36);
	check(ping_against(&c, &p, &took) == -1 && strstr(c.err, "nested deeper than 7") != NULL,
	      "arrays nested 8 deep: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "*-7\r\n", 5);
	check(ping_against(&c, &p, &took) == -1 && c.err_kind == RDB_E_IO, "a negative array length: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "+PONG\r\n+MORE\r\n", 14);
	check(ping_against(&c, &p, &took) == -1 && strstr(c.err, "unexpected data after the reply") != NULL,
	      "a second reply nobody asked for: %s", c.err);

	pair(&c, &p, &o);
	chunk(&p, 0, "+PO", 3);
	check(ping_against(&c, &p, &took) == -1 && c.err_kind == RDB_E_IO, "half a reply, then nothing: %s", c.err);
}

static void test_closed_peer(void)
{
	struct rdb_conn c;
	struct peer p;
	struct rdb_opts o = opts(1000);
	pair(&c, &p, &o);
	close(p.fd);
	/* SIGPIPE keeps its default here: a write without MSG_NOSIGNAL would kill the test. */
	int rc = rdb_ping(&c);
	check(rc == -1 && c.err_kind == RDB_E_IO && strstr(c.err, "connection closed by redis") != NULL,
	      "a peer gone before the command: EPIPE is an error, no SIGPIPE (%s)", c.err);
	rdb_close(&c);
}

/* An error reply quoting text, for a connection with password pw: err must not hold pw. */
static int scrubbed(const char *pw, const char *text, char *err, size_t len)
{
	struct secret sec;
	memset(&sec, 0, sizeof(sec));
	secret_set(&sec, pw);
	struct rdb_conn c;
	struct peer p;
	struct rdb_opts o = opts(1000);
	o.password = &sec;
	pair(&c, &p, &o);
	char reply[600];
	int n = snprintf(reply, sizeof(reply), "-ERR %s\r\n", text);
	chunk(&p, 0, reply, (size_t)n);
	int64_t took;
	int rc = ping_against(&c, &p, &took);
	snprintf(err, len, "%s", c.err);
	return rc == -1 && c.err_kind == RDB_E_REPLY;
}

static void test_scrubber(void)
{
	char err[300];
	/* These used to loop forever: the stars put in were found again. */
	alarm(10);
	check(scrubbed("***", "bad *** here", err, sizeof(err)) && strstr(err, "***") == NULL,
	      "a password of stars in a text with stars ends, hidden: %s", err);
	check(scrubbed("*", "a*b", err, sizeof(err)) && strchr(err, '*') == NULL, "password \"*\": %s", err);
	check(scrubbed("a*", "xaa*y", err, sizeof(err)) && strstr(err, "a*") == NULL,
	      "a mask never spells the password with the text before it: %s", err);
	check(scrubbed("s3cret", "auth s3cret and s3cret again", err, sizeof(err)) &&
	      strstr(err, "s3cret") == NULL && strstr(err, "auth *** and *** again") != NULL,
	      "each occurrence becomes three stars: %s", err);
	check(scrubbed("aa", "aaaaa", err, sizeof(err)) && strstr(err, "aa") == NULL, "overlapping occurrences: %s", err);
	check(scrubbed("*#~^x?!", "x *#~^x?! y", err, sizeof(err)) && strstr(err, "*#~^x?!") == NULL,
	      "a password holding every mask: the text is withheld: %s", err);
	/* A password near the end of a long answer is hidden before the text is cut. */
	char text[500];
	memset(text, 'y', sizeof(text));
	snprintf(text + 240, sizeof(text) - 240, "%s", "hunter2hunter2 end");
	check(scrubbed("hunter2hunter2", text, err, sizeof(err)) && strstr(err, "hunter") == NULL,
	      "no piece of a password survives the cut: ...%s", err + 230);
	/* Many random passwords and texts over a small alphabet. */
	unsigned seed = 7;
	int leaks = 0;
	for (int i = 0; i < 300; i++) {
		char pw[6], t[40];
		static const char abc[] = "a*#b";
		int pn = 1 + (int)(rand_r(&seed) % 4), tn = (int)(rand_r(&seed) % 30);
		for (int k = 0; k < pn; k++)
			pw[k] = abc[rand_r(&seed) % 4];
		pw[pn] = '\0';
		for (int k = 0; k < tn; k++)
			t[k] = abc[rand_r(&seed) % 4];
		t[tn] = '\0';
		if (!scrubbed(pw, t, err, sizeof(err)) || strstr(err, pw) != NULL) {
			if (leaks++ == 0)
				fprintf(stderr, "# pw=%s text=%s err=%s\n", pw, t, err);
		}
	}
	check(leaks == 0, "300 random passwords and texts: the password never shows (%d leaks)", leaks);
	alarm(0);
}

int main(void)
{
	test_answer();
	test_timeouts();
	test_caps();
	test_closed_peer();
	test_scrubber();
	return tap_done();
}
