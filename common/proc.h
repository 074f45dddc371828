/* SPDX-License-Identifier: MIT */
/* proc: run one child in its own process group, signals through a self-pipe, stop and reap it. */
#ifndef RESEC_PROC_H
#define RESEC_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A child program and its process group (pgid == pid). */
struct proc_child {
	pid_t pid;      /* 0 when no child was started */
	int running;    /* 1 until the leader has been reaped */
	int status;     /* wait status of the leader once reaped */
	int gone;       /* 1 once no process of the group is left */
	char err[256];  /* reason of the last failure */
};

/*
 * Install handlers for TERM, INT, QUIT, HUP and CHLD that write the signal
 * number into a non-blocking self-pipe, and ignore PIPE. Call once, before any
 * thread is started. Returns 0, or -1 with err set.
 */
int proc_signals_init(char *err, size_t errlen);

/*
 * Ignore SIGPIPE, so that a write to a closed socket or pipe (a Redis or
 * Consul that went away, a reader of stdout that quit) fails with EPIPE
 * where the program can handle it, instead of killing the program on the
 * spot (a switchover with the master fenced, a holder with the lock).
 * Every program calls it first thing. 0, or -1 with errno.
 */
int proc_ignore_sigpipe(void);

/* Also deliver sig through the self-pipe (after proc_signals_init); 0, or -1.
 * A caught signal is back to its default in any program exec'd later. */
int proc_signal_handle(int sig);

/* The read end of the self-pipe, for poll(): readable when a signal arrived. */
int proc_signal_fd(void);

/* The next signal that arrived (consumed from the pipe), or 0 when none is pending. */
int proc_signal_next(void);

/*
 * Start argv[0] (searched in PATH, as execvp) in a new process group, with the
 * extra "NAME=value" strings of env (NULL-terminated, may be NULL) added to the
 * environment and the default signal dispositions restored. Returns 0 once the
 * exec succeeded, or -1 with c->err set (also when exec failed: no child remains).
 */
int proc_spawn(struct proc_child *c, char *const argv[], char *const env[]);

/*
 * The environment with the extra "NAME=value" strings (NULL-terminated, may be
 * NULL) added, each replacing a variable of the same name: a new array to free()
 * (the strings stay the caller's and environ's), or NULL when out of memory.
 * The one place environments are built (proc_spawn, resec-lock's commands).
 */
char **proc_env(char *const extra[]);

/* Send sig to the child's whole process group; 0, or -1 when the group is gone. */
int proc_signal_group(const struct proc_child *c, int sig);

/* Reap without blocking; returns 1 when the leader has exited (now or before), else 0. */
int proc_reap(struct proc_child *c);

/* 1 while any process of the child's group is still alive (zombies excepted where reapable). */
int proc_group_alive(struct proc_child *c);

/*
 * Stop the whole group: send sig (when anything of it is alive), wait up to
 * timeout_ms for the leader and every member to be gone, then SIGKILL the group
 * and reap the leader. Returns 1 when SIGKILL was needed, else 0.
 */
int proc_stop(struct proc_child *c, int sig, int64_t timeout_ms);

/*
 * Ask the kernel to send sig when our parent exits (Linux PR_SET_PDEATHSIG),
 * and send it at once when the parent is already gone. 0, or -1 where the
 * platform cannot.
 */
int proc_die_with_parent(int sig);

/* Parse a --kill-signal value into *sig; -1 with a one-line error naming it. */
int proc_parse_kill_signal(const char *value, int *sig, char *err, size_t errlen);

/* The exit status a parent reports: the exit code, or 128+signal when killed. */
int proc_exit_code(int status);

/* Parse "TERM", "SIGTERM", "sigterm" or "15"; returns the number, or -1. */
int proc_parse_signal(const char *s);

/* The name of a signal without "SIG" ("TERM"), or "?" when unknown. */
const char *proc_signal_name(int sig);

#endif
