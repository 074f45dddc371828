/* SPDX-License-Identifier: MIT */
/* test_proc: unit tests of common/proc, and a small driver the bats suite uses. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

static int failures;

#define CHECK(cond)                                                              \
	do {                                                                         \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                          \
		}                                                                        \
	} while (0)

static void test_parse_signal(void)
{
	CHECK(proc_parse_signal("TERM") == SIGTERM);
	CHECK(proc_parse_signal("SIGTERM") == SIGTERM);
	CHECK(proc_parse_signal("sigint") == SIGINT);
	CHECK(proc_parse_signal("15") == 15);
	CHECK(proc_parse_signal("9") == SIGKILL);
	CHECK(proc_parse_signal("KILL") == SIGKILL);
	CHECK(proc_parse_signal("hup") == SIGHUP);
	CHECK(proc_parse_signal("") == -1);
	CHECK(proc_parse_signal(NULL) == -1);
	CHECK(proc_parse_signal("0") == -1);
	CHECK(proc_parse_signal("65") == -1);
	CHECK(proc_parse_signal("15x") == -1);
	CHECK(proc_parse_signal("SIG") == -1);
	CHECK(proc_parse_signal("NOPE") == -1);
	CHECK(strcmp(proc_signal_name(SIGTERM), "TERM") == 0);
	CHECK(strcmp(proc_signal_name(1000), "?") == 0);
}

static void test_exit_code(void)
{
	CHECK(proc_exit_code(0) == 0);
	CHECK(proc_exit_code(3 << 8) == 3);
	CHECK(proc_exit_code(SIGKILL) == 128 + SIGKILL);
	CHECK(proc_exit_code(SIGTERM) == 128 + SIGTERM);
}

static int wait_exit(struct proc_child *c, int64_t ms)
{
	int64_t end = clock_now_ms() + ms;
	while (clock_now_ms() < end) {
		if (proc_reap(c))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void test_spawn_env_status(void)
{
	struct proc_child c;
	char *argv[] = { "sh", "-c", "test \"$RESEC_X\" = hello && test \"$HOME\" = over && exit 7", NULL };
	char *env[] = { "RESEC_X=hello", "HOME=over", NULL };
	CHECK(proc_spawn(&c, argv, env) == 0);
	CHECK(c.pid > 0);
	CHECK(getpgid(c.pid) == c.pid || !c.running);
	CHECK(wait_exit(&c, 5000));
	CHECK(proc_exit_code(c.status) == 7);
	CHECK(!proc_group_alive(&c));
}

static void test_spawn_missing(void)
{
	struct proc_child c;
	char *argv[] = { "/nonexistent/resec-test-prog", NULL };
	CHECK(proc_spawn(&c, argv, NULL) == -1);
	CHECK(strstr(c.err, "cannot run") != NULL);
	char *none[] = { NULL };
	CHECK(proc_spawn(&c, none, NULL) == -1);
}

static void test_stop_term(void)
{
	struct proc_child c;
	char *argv[] = { "sleep", "30", NULL };
	CHECK(proc_spawn(&c, argv, NULL) == 0);
	int64_t t0 = clock_now_ms();
	CHECK(proc_stop(&c, SIGTERM, 5000) == 0);
	CHECK(clock_now_ms() - t0 < 4000);
	CHECK(!c.running);
	CHECK(proc_exit_code(c.status) == 128 + SIGTERM);
	CHECK(proc_signal_group(&c, 0) == -1);
}

static void test_stop_escalates(void)
{
	struct proc_child c;
	/* Ignores TERM, and so does its grandchild: only SIGKILL ends the group. */
	char *argv[] = { "sh", "-c", "trap '' TERM; sh -c 'trap \"\" TERM; sleep 30' & sleep 30", NULL };
	CHECK(proc_spawn(&c, argv, NULL) == 0);
	usleep(200000);
	int64_t t0 = clock_now_ms();
	CHECK(proc_stop(&c, SIGTERM, 300) == 1);
	int64_t dt = clock_now_ms() - t0;
	CHECK(dt >= 280 && dt < 4000);
	CHECK(proc_exit_code(c.status) == 128 + SIGKILL);
	CHECK(!proc_group_alive(&c));
}

static void test_signal_pipe(void)
{
	char err[256];
	CHECK(proc_signals_init(err, sizeof(err)) == 0);
	CHECK(proc_signal_fd() >= 0);
	CHECK(proc_signal_next() == 0);
	/* kill rather than raise: cppcheck takes raise for noreturn. */
	kill(getpid(), SIGHUP);
	kill(getpid(), SIGTERM);
	int a = proc_signal_next(), b = proc_signal_next();
	CHECK(a == SIGHUP && b == SIGTERM);
	CHECK(proc_signal_next() == 0);
}

/* Driver: test_proc stop SIG TIMEOUT_MS PROG ARGS... starts PROG, waits for
 * TERM on itself or the child's end, stops the group and exits with its code. */
static int drive(int argc, char **argv)
{
	char err[256];
	if (argc < 5 || strcmp(argv[1], "stop") != 0)
		return 64;
	int sig = proc_parse_signal(argv[2]);
	int64_t timeout = strtoll(argv[3], NULL, 10);
	if (sig < 0 || proc_signals_init(err, sizeof(err)) < 0)
		return 64;
	struct proc_child c;
	if (proc_spawn(&c, argv + 4, NULL) < 0) {
		fprintf(stderr, "%s\n", c.err);
		return 127;
	}
	printf("%d\n", (int)c.pid);
	fflush(stdout);
	for (;;) {
		int s = proc_signal_next();
		if (s == SIGTERM || s == SIGINT) {
			int killed = proc_stop(&c, sig, timeout);
			fprintf(stderr, "stopped killed=%d\n", killed);
			return proc_exit_code(c.status);
		}
		if (proc_reap(&c)) {
			proc_stop(&c, sig, timeout);
			return proc_exit_code(c.status);
		}
		if (s == 0)
			usleep(10000);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return drive(argc, argv);
	test_parse_signal();
	test_exit_code();
	test_spawn_env_status();
	test_spawn_missing();
	test_stop_term();
	test_stop_escalates();
	test_signal_pipe();
	if (failures) {
		fprintf(stderr, "test_proc: %d failures\n", failures);
		return 1;
	}
	printf("test_proc: ok\n");
	return 0;
}
