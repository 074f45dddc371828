/* SPDX-License-Identifier: MIT */
/* resec-lock's commands: the gate, the fence and resume actions, the failsafe proof; each run once,
 * bounded in time, its first line of output kept as its reason. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "resec-lock.h"

int signals_idle(void)
{
	int sig, stop = 0;
	while ((sig = proc_signal_next()) != 0)
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			stop = sig;
	return stop;
}

int stop_hook(void *ctx)
{
	(void)ctx;
	return signals_idle();
}

int action_set(const struct action *a)
{
	return a->sig > 0 || a->argv[0] != NULL;
}

/* Start the command with its stdout on a pipe; the read end in *out_fd. */
static int command_spawn(char *const argv[], char **env, pid_t *pid, int *out_fd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	(void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		errno = rc;
		return -1;
	}
	*out_fd = p[0];
	return 0;
}

enum command_end { CMD_EOF = 0, CMD_TIMED_OUT, CMD_STOPPED };

/*
 * Read a command's first line into why until EOF, timeout_ms, or — when stop
 * is not NULL — a TERM, INT or QUIT (its number in *stop): a stop must not
 * wait for the gate, which may take up to GATE_TIMEOUT_MS. Returns an enum command_end.
 */
static int command_read(int fd, char *why, size_t len, int64_t timeout_ms, int *stop)
{
	size_t used = 0;
	int64_t end = clock_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = end - clock_now_ms();
		if (left <= 0)
			return CMD_TIMED_OUT;
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN, .revents = 0 },
		                       { .fd = proc_signal_fd(), .events = POLLIN, .revents = 0 } };
		int r = poll(p, stop != NULL ? 2 : 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return CMD_EOF;
		if (r == 0)
			return CMD_TIMED_OUT;
		/* The gate's own SIGCHLD lands here too: only a stop ends the wait. */
		if (stop != NULL && p[1].revents != 0 && (*stop = signals_idle()) != 0)
			return CMD_STOPPED;
		if (p[0].revents == 0)
			continue;
		char buf[256];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return CMD_EOF;
		for (ssize_t i = 0; i < n && used + 1 < len; i++)
			why[used++] = buf[i];
		why[used] = '\0';
	}
}

/*
 * Run a command (the gate, an action, the failsafe proof) once with the extra
 * variables env, for at most timeout_ms: 0 when it exits 0; 2 when a stop signal
 * came (only when stop is not NULL: the command is killed at once, the signal in
 * *stop); else 1 with its reason in why (its first line of output, or how it failed).
 */
static int command_run(char *const argv[], char *const env[], int64_t timeout_ms, const char *what, char *why,
                       size_t len, int *stop)
{
	why[0] = '\0';
	pid_t pid;
	int fd;
	char **full = proc_env(env);
	int spawned = full != NULL && command_spawn(argv, full, &pid, &fd) == 0;
	if (!spawned)
		snprintf(why, len, "cannot run the %s %s: %s", what, argv[0], strerror(errno));
	free(full);
	if (!spawned)
		return 1;
	int end = command_read(fd, why, len, timeout_ms, stop);
	close(fd);
	if (end != CMD_EOF)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	why[strcspn(why, "\n")] = '\0';
	if (end == CMD_STOPPED)
		return 2;
	if (end == CMD_TIMED_OUT) {
		snprintf(why, len, "the %s did not answer within %lldms", what, (long long)timeout_ms);
		return 1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (why[0] == '\0')
		snprintf(why, len, "the %s exited with status %d", what, proc_exit_code(st));
	return 1;
}

int gate_hook(void *ctx, int64_t free_ms, char *why, size_t len, int *stop)
{
	const struct opts *o = ctx;
	char var[64];
	snprintf(var, sizeof(var), "RESEC_LOCK_FREE_MS=%lld", (long long)free_ms);
	char *const env[] = { var, NULL };
	int r = command_run(o->gate_argv, env, GATE_TIMEOUT_MS, "gate", why, len, stop);
	/* No replica fit to take over is the operator's to know (docs/election.md): an error. */
	return r == 1 && strncmp(why, "no eligible replica", 19) == 0 ? 3 : r;
}

int held_command(const struct holder *h, char *const argv[], int64_t timeout_ms, const char *what, char *why,
                 size_t len)
{
	char key[600], sess[100];
	snprintf(key, sizeof(key), "RESEC_LOCK_KEY=%s", h->o->cfg->lock_key);
	snprintf(sess, sizeof(sess), "RESEC_LOCK_SESSION=%s", lock_session(h->lk));
	char *const env[] = { key, sess, NULL };
	/* Its SIGCHLD sits in the signal pipe: harmless, the main loop reaps prog by pid. */
	return command_run(argv, env, timeout_ms, what, why, len, NULL);
}
