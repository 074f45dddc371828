/* SPDX-License-Identifier: MIT */
/* test_consul: drive the Consul client one call at a time for tests/consul-client.bats. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "consul.h"

/*
 * Usage: test_consul CASE [args]. The client is configured from the CONSUL_*
 * environment as the programs do; TEST_REQUEST_MS / TEST_CONNECT_MS set its
 * timeouts. Prints "rc=N status=S index=I leader=L" and case-specific
 * key=value lines, and "err=..." on failure; exits 0 unless setup failed
 * (2) or a self-check failed (1). "watch-unit" needs no server and prints TAP.
 */

static int failures;
static int ntest;

static void check(int ok, const char *what)
{
	ntest++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ntest, what);
	if (!ok)
		failures++;
}

static void report(const struct consul *c, int rc)
{
	printf("rc=%d status=%ld index=%llu leader=%d\n", rc, c->status, (unsigned long long)c->index,
	       c->known_leader);
	if (rc != CONSUL_OK && c->err[0] != '\0')
		printf("err=%s\n", c->err);
}

static uint64_t arg_u64(int argc, char **argv, int i, uint64_t def)
{
	return i < argc ? strtoull(argv[i], NULL, 10) : def;
}

static const char *arg_s(int argc, char **argv, int i, const char *def)
{
	return i < argc ? argv[i] : def;
}

static int case_kvget(struct consul *c, int argc, char **argv)
{
	struct consul_query q = {0};
	struct json_kv_entry e;
	int64_t t0 = clock_now_ms();
	int rc;

	q.index = arg_u64(argc, argv, 3, 0);
	q.wait_ms = (int64_t)arg_u64(argc, argv, 4, 0);
	q.consistent = argc > 5 && strcmp(argv[5], "consistent") == 0;
	q.stale = argc > 5 && strcmp(argv[5], "stale") == 0;
	rc = consul_kv_get(c, argv[2], &q, &e);
	report(c, rc);
	printf("elapsed_ms=%lld\n", (long long)(clock_now_ms() - t0));
	if (rc == CONSUL_OK)
		printf("key=%s flags=%llu session=%s lock_index=%llu modify_index=%llu value=%s\n", e.key,
		       (unsigned long long)e.flags, e.session, (unsigned long long)e.lock_index,
		       (unsigned long long)e.modify_index, e.value ? (char *)e.value : "(null)");
	json_kv_entry_clear(&e);
	return 0;
}

static int case_write(struct consul *c, int argc, char **argv)
{
	const char *op = argv[1], *key = arg_s(argc, argv, 2, "k");
	const char *arg = arg_s(argc, argv, 3, "");
	uint64_t flags = arg_u64(argc, argv, 4, 0);
	const char *val = arg_s(argc, argv, 5, "");
	int ok = -1, rc;

	if (strcmp(op, "acquire") == 0)
		rc = consul_kv_acquire(c, key, arg, flags, val, strlen(val), &ok);
	else if (strcmp(op, "release") == 0)
		rc = consul_kv_release(c, key, arg, flags, val, strlen(val), &ok);
	else if (strcmp(op, "putcas") == 0)
		rc = consul_kv_put_cas(c, key, strtoull(arg, NULL, 10), flags, val, strlen(val), &ok);
	else if (strcmp(op, "delcas") == 0)
		rc = consul_kv_delete_cas(c, key, strtoull(arg, NULL, 10), &ok);
	else if (strcmp(op, "put") == 0)
		rc = consul_kv_put(c, key, flags, val, strlen(val));
	else
		rc = consul_kv_delete(c, key);
	report(c, rc);
	printf("ok=%d\n", ok);
	return 0;
}

static int case_session(struct consul *c, int argc, char **argv)
{
	const char *op = argv[1];
	int rc;

	if (strcmp(op, "session-create") == 0) {
		char id[64] = "";
		static const char *const checks[] = { "serfHealth", "service:redis@\"x\"" };
		struct consul_session_opts o = {0};
		o.name = arg_s(argc, argv, 2, "resec");
		o.ttl_ms = (int64_t)arg_u64(argc, argv, 3, 15000);
		if (argc > 4) {
			o.lock_delay_ms = (int64_t)arg_u64(argc, argv, 4, 0);
			o.lock_delay_set = 1;
		}
		o.node_checks_set = argc > 5;
		o.node_checks = checks;
		o.n_node_checks = argc > 5 ? (size_t)atoi(argv[5]) : 0;
		rc = consul_session_create(c, &o, id, sizeof id);
		report(c, rc);
		printf("id=%s\n", id);
	} else if (strcmp(op, "renew") == 0) {
		int64_t ttl = 15000;
		rc = consul_session_renew(c, arg_s(argc, argv, 2, ""), &ttl);
		report(c, rc);
		printf("ttl_ms=%lld\n", (long long)ttl);
	} else if (strcmp(op, "destroy") == 0) {
		rc = consul_session_destroy(c, arg_s(argc, argv, 2, ""));
		report(c, rc);
	} else {
		struct consul_query q = {0};
		struct json_session s;
		q.index = arg_u64(argc, argv, 3, 0);
		q.wait_ms = (int64_t)arg_u64(argc, argv, 4, 0);
		rc = consul_session_info(c, arg_s(argc, argv, 2, ""), &q, &s);
		report(c, rc);
		if (rc == CONSUL_OK)
			printf("id=%s ttl=%s lock_delay_ns=%llu behavior=%s\n", s.id, s.ttl,
			       (unsigned long long)s.lock_delay_ns, s.behavior);
	}
	return 0;
}

static int case_agent(struct consul *c, int argc, char **argv)
{
	const char *op = argv[1];
	int rc;

	if (strcmp(op, "register") == 0) {
		static const char *const tags[] = { "master", "we\"ird\\tag" };
		static const char *const mk[] = { "role", "run_id" };
		static const char *const mv[] = { "master", "line\nbreak\x01" };
		struct consul_service s = {0};
		s.id = "redis@:6379";
		s.name = arg_s(argc, argv, 2, "redis-master");
		s.tags = tags;
		s.ntags = 2;
		s.address = arg_s(argc, argv, 3, "");
		s.port = 6379;
		s.meta_keys = mk;
		s.meta_values = mv;
		s.nmeta = 2;
		s.check_ttl_ms = 10000;
		s.check_id = "service:redis@:6379";
		s.check_name = "redis role";
		s.check_status = "passing";
		s.check_notes = "notes";
		s.deregister_after_ms = 72LL * 3600 * 1000;
		rc = consul_service_register(c, &s);
	} else if (strcmp(op, "deregister") == 0) {
		rc = consul_service_deregister(c, arg_s(argc, argv, 2, ""));
	} else if (strcmp(op, "update") == 0) {
		rc = consul_check_update(c, arg_s(argc, argv, 2, ""), arg_s(argc, argv, 3, "passing"),
		                         arg_s(argc, argv, 4, ""));
	} else {
		rc = consul_check_ttl(c, arg_s(argc, argv, 2, ""), arg_s(argc, argv, 3, "pass"),
		                      arg_s(argc, argv, 4, ""));
	}
	report(c, rc);
	return 0;
}

static int case_health(struct consul *c, int argc, char **argv)
{
	struct consul_query q = {0};
	struct json_health_entry *e;
	size_t n;
	int64_t t0 = clock_now_ms();
	int rc;

	q.index = arg_u64(argc, argv, 5, 0);
	q.wait_ms = (int64_t)arg_u64(argc, argv, 6, 0);
	rc = consul_health_service(c, arg_s(argc, argv, 2, "redis-master"), arg_s(argc, argv, 3, ""),
	                           atoi(arg_s(argc, argv, 4, "1")), &q, &e, &n);
	report(c, rc);
	printf("elapsed_ms=%lld\n", (long long)(clock_now_ms() - t0));
	for (size_t i = 0; rc == CONSUL_OK && i < n; i++)
		printf("entry node=%s addr=%s svc=%s port=%d tags=%zu meta=%zu checks=%zu\n", e[i].node,
		       e[i].service_address[0] ? e[i].service_address : e[i].node_address,
		       e[i].service_id, e[i].port, e[i].ntags, e[i].nmeta, e[i].nchecks);
	json_health_free(e, n);
	return 0;
}

static int pipefd[2] = { -1, -1 };

static void on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	if (write(pipefd[1], "x", 1) < 0)
		(void)0;
	errno = saved;
}

/* A blocking request interrupted by a signal through a self-pipe, or by a deadline. */
static int case_interrupt(struct consul *c, int argc, char **argv)
{
	struct consul_query q = { .index = 5, .wait_ms = 20000 };
	struct json_kv_entry e;
	int64_t t0;
	int rc;

	(void)argc;
	if (strcmp(argv[1], "cancel") == 0) {
		struct sigaction sa;
		if (pipe(pipefd) != 0)
			return 2;
		fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		consul_set_cancel_fd(c, pipefd[0]);
		ualarm(300000, 0);
	} else {
		consul_set_deadline(c, clock_now_ms() + 300);
	}
	t0 = clock_now_ms();
	rc = consul_kv_get(c, "hang", &q, &e);
	report(c, rc);
	printf("elapsed_ms=%lld\n", (long long)(clock_now_ms() - t0));
	json_kv_entry_clear(&e);
	/* The handle stays usable afterwards. */
	consul_set_cancel_fd(c, -1);
	consul_set_deadline(c, 0);
	rc = consul_kv_get(c, "free", NULL, &e);
	printf("after rc=%d\n", rc);
	json_kv_entry_clear(&e);
	return 0;
}

/* The watch loop on a KV key (default regress): which index each request sent. */
static int case_watch_regress(struct consul *c, int argc, char **argv)
{
	struct consul_watch w;
	int n = (int)arg_u64(argc, argv, 2, 5);
	const char *key = arg_s(argc, argv, 3, "regress");

	consul_watch_init(&w);
	w.rate_min_ms = 1;
	w.rate_max_ms = 2;
	w.refill_ms = 1;
	w.backoff_base_ms = 50;
	for (int i = 0; i < n; i++) {
		struct consul_query q = { .index = w.index, .wait_ms = 1000 };
		struct json_kv_entry e;
		int64_t d = consul_watch_delay(&w, clock_now_ms());
		if (d > 0)
			usleep((useconds_t)d * 1000);
		consul_watch_begin(&w, clock_now_ms());
		int rc = consul_kv_get(c, key, &q, &e);
		json_kv_entry_clear(&e);
		if (rc != CONSUL_OK && rc != CONSUL_ABSENT) {
			printf("sent=%llu failed %s\n", (unsigned long long)q.index, c->err);
			consul_watch_failed(&w, clock_now_ms());
			continue;
		}
		int changed = consul_watch_update(&w, c->index, c->body, c->body_len);
		printf("sent=%llu got=%llu next=%llu changed=%d\n", (unsigned long long)q.index,
		       (unsigned long long)c->index, (unsigned long long)w.index, changed);
	}
	return 0;
}

/* The rate limit and back-off numbers, with a synthetic clock. */
static int case_watch_unit(void)
{
	struct consul_watch w;
	int64_t t = 1000000, d;

	consul_watch_init(&w);
	check(w.burst == 2 && w.rate_min_ms == 1000 && w.rate_max_ms == 15000, "defaults burst 2, 1s..15s");
	check(consul_watch_delay(&w, t) == 0, "first request at once");
	consul_watch_begin(&w, t);
	check(consul_watch_delay(&w, t) == 0, "second request at once (burst 2)");
	consul_watch_begin(&w, t);
	d = consul_watch_delay(&w, t);
	check(d == 1000, "third request waits the 1s refill");
	/* Steady churn: every answer comes back at once; delays double up to 15s. */
	int64_t seen[8];
	for (int i = 0; i < 8; i++) {
		d = consul_watch_delay(&w, t);
		seen[i] = d;
		t += d;
		consul_watch_begin(&w, t);
	}
	printf("# churn delays: %lld %lld %lld %lld %lld %lld %lld %lld\n", (long long)seen[0],
	       (long long)seen[1], (long long)seen[2], (long long)seen[3], (long long)seen[4],
	       (long long)seen[5], (long long)seen[6], (long long)seen[7]);
	check(seen[0] == 1000 && seen[1] == 2000 && seen[2] == 4000 && seen[3] == 8000, "delays double");
	check(seen[5] == 15000 && seen[7] == 15000, "churn settles at one request per 15s");
	/* Quiet: long blocking queries, bucket full for a while → back to fast. */
	t += 120000;
	check(consul_watch_delay(&w, t) == 0, "after quiet: at once");
	consul_watch_begin(&w, t);
	check(consul_watch_delay(&w, t) == 0, "after quiet: burst again");
	consul_watch_begin(&w, t);
	check(consul_watch_delay(&w, t) == 1000, "after quiet: refill back to 1s");

	/* A changed answer is never churn: its token comes back and the
	 * slowdown ends, so the next request (the one that sees the next real
	 * change) goes out at once; unchanged answers still drain the bucket. */
	consul_watch_init(&w);
	t = 3000000;
	consul_watch_update(&w, 1, "a", 1);
	for (int i = 0; i < 6; i++) { /* unchanged answers at once: churn */
		t += consul_watch_delay(&w, t);
		consul_watch_begin(&w, t);
		consul_watch_update(&w, (uint64_t)(2 + i), "a", 1);
	}
	check(consul_watch_delay(&w, t) >= 2000, "unchanged answers still slow the loop down");
	t += consul_watch_delay(&w, t);
	consul_watch_begin(&w, t);
	check(consul_watch_update(&w, 20, "b", 1) == 1, "then a change");
	check(consul_watch_delay(&w, t) == 0, "the request after a change goes out at once");
	consul_watch_begin(&w, t);
	check(consul_watch_update(&w, 21, "c", 1) == 1 && consul_watch_delay(&w, t) == 0,
	      "and after the next change too, however fast changes come");
	consul_watch_begin(&w, t);
	consul_watch_update(&w, 22, "c", 1);
	check(consul_watch_delay(&w, t) == 1000, "unchanged again: it spends the token, the next waits the 1s refill");

	/* [C1] [C2] [C4] */
	consul_watch_init(&w);
	check(consul_watch_update(&w, 10, "a", 1) == 1 && w.index == 10, "first answer is a change");
	check(consul_watch_update(&w, 11, "a", 1) == 0 && w.index == 11, "same content: no change");
	check(consul_watch_update(&w, 12, "b", 1) == 1, "new content: change");
	check(consul_watch_update(&w, 5, "b", 1) == 0 && w.index == 0, "index backwards: reset to 0");
	check(consul_watch_update(&w, 5, "b", 1) == 0 && w.index == 5, "then resume from the new index");
	consul_watch_init(&w);
	check(consul_watch_update(&w, 0, "b", 1) == 1 && w.index == 1, "index 0 read as 1");

	/* [C5] back-off: 5s × f², jitter in [d/2, d], cap 180s. */
	consul_watch_init(&w);
	t = 5000000;
	int jitter_ok = 1;
	int64_t expect[] = { 5000, 20000, 45000, 80000, 125000, 180000, 180000 };
	for (int i = 0; i < 7; i++) {
		consul_watch_failed(&w, t);
		d = consul_watch_delay(&w, t);
		if (d < expect[i] / 2 || d > expect[i])
			jitter_ok = 0;
		printf("# failure %d: back-off %lld ms (max %lld)\n", i + 1, (long long)d, (long long)expect[i]);
		t += d;
	}
	check(jitter_ok, "back-off 5s*f^2 capped at 180s, jittered in [d/2, d]");
	check(w.index == 0, "a failure re-reads without blocking");
	consul_watch_update(&w, 3, "x", 1);
	check(w.failures == 0 && consul_watch_delay(&w, t) == 0, "success clears the back-off");
	printf("1..%d\n", ntest);
	return failures ? 1 : 0;
}

static struct consul *client(void)
{
	struct resec_config cfg;
	char err[256];
	struct consul *c;

	if (config_load_env(&cfg, err, sizeof err) != 0 || config_finish(&cfg, err, sizeof err) != 0) {
		printf("config-err=%s\n", err);
		return NULL;
	}
	c = consul_new(&cfg, err, sizeof err);
	if (c == NULL) {
		printf("new-err=%s\n", err);
		return NULL;
	}
	consul_set_timeouts(c, getenv("TEST_CONNECT_MS") ? atoll(getenv("TEST_CONNECT_MS")) : 0,
	                    getenv("TEST_REQUEST_MS") ? atoll(getenv("TEST_REQUEST_MS")) : 0);
	printf("base=%s\n", consul_base_url(c));
	return c;
}

static int dispatch(struct consul *c, int argc, char **argv)
{
	const char *op = argv[1];
	char a[256];
	int rc;

	if (strcmp(op, "leader") == 0) {
		rc = consul_status_leader(c, a, sizeof a);
		report(c, rc);
		if (rc == CONSUL_OK)
			printf("leader=%s\n", a);
		return 0;
	}
	if (strcmp(op, "self") == 0) {
		char b[256];

		rc = consul_agent_self(c, a, sizeof a, b, sizeof b);
		report(c, rc);
		if (rc == CONSUL_OK)
			printf("node=%s dc=%s\n", a, b);
		return 0;
	}
	if (strcmp(op, "raw") == 0 && argc > 3) {
		rc = consul_request(c, argv[2], argv[3], arg_s(argc, argv, 4, NULL), NULL, 0, 0);
		report(c, rc);
		return 0;
	}
	if (strcmp(op, "kvget") == 0 && argc > 2)
		return case_kvget(c, argc, argv);
	if (strcmp(op, "acquire") == 0 || strcmp(op, "release") == 0 || strcmp(op, "putcas") == 0 ||
	    strcmp(op, "delcas") == 0 || strcmp(op, "put") == 0 || strcmp(op, "delete") == 0)
		return case_write(c, argc, argv);
	if (strncmp(op, "session-", 8) == 0 || strcmp(op, "renew") == 0 || strcmp(op, "destroy") == 0 ||
	    strcmp(op, "info") == 0)
		return case_session(c, argc, argv);
	if (strcmp(op, "register") == 0 || strcmp(op, "deregister") == 0 || strcmp(op, "update") == 0 ||
	    strcmp(op, "ttl") == 0)
		return case_agent(c, argc, argv);
	if (strcmp(op, "health") == 0)
		return case_health(c, argc, argv);
	if (strcmp(op, "cancel") == 0 || strcmp(op, "deadline") == 0)
		return case_interrupt(c, argc, argv);
	if (strcmp(op, "watch-regress") == 0)
		return case_watch_regress(c, argc, argv);
	fprintf(stderr, "test_consul: unknown case %s\n", op);
	return 2;
}

int main(int argc, char **argv)
{
	struct consul *c;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: test_consul CASE [args]\n");
		return 2;
	}
	if (strcmp(argv[1], "watch-unit") == 0)
		return case_watch_unit();
	c = client();
	if (c == NULL)
		return 2;
	rc = dispatch(c, argc, argv);
	consul_free(c);
	return rc;
}
