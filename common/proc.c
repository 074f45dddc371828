/* SPDX-License-Identifier: MIT */
/* proc: a child in its own process group, a self-pipe for signals, stop with escalation. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "clock.h"
#include "proc.h"

extern char **environ;

static int sig_pipe[2] = { -1, -1 };
/* Signals read from the pipe while proc_stop waited, handed out first later. */
static unsigned long long pending_mask;

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS },   { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU }, { "URG", SIGURG },   { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "SYS", SIGSYS },
};

#define NSIGNAMES (sizeof(signal_names) / sizeof(signal_names[0]))

/* The handled signals; the handler only writes one byte, keeping errno. */
static const int handled[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	/* A full pipe drops the byte; the same signals are already pending then. */
	ssize_t n = write(sig_pipe[1], &b, 1);
	(void)n;
	errno = saved;
}

static int set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int proc_signals_init(char *err, size_t errlen)
{
	if (sig_pipe[0] >= 0)
		return 0;
	if (pipe(sig_pipe) < 0 || set_flags(sig_pipe[0]) < 0 || set_flags(sig_pipe[1]) < 0) {
		snprintf(err, errlen, "cannot create signal pipe: %s", strerror(errno));
		return -1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
		if (sigaction(handled[i], &sa, NULL) < 0) {
			snprintf(err, errlen, "cannot install signal handler: %s", strerror(errno));
			return -1;
		}
	}
	if (proc_ignore_sigpipe() < 0) {
		snprintf(err, errlen, "cannot ignore SIGPIPE: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int proc_ignore_sigpipe(void)
{
	struct sigaction ign;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	return sigaction(SIGPIPE, &ign, NULL);
}

int proc_signal_handle(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sig_pipe[0] < 0 ? -1 : sigaction(sig, &sa, NULL);
}

int proc_signal_fd(void)
{
	return sig_pipe[0];
}

static int take_pending(void)
{
	for (int s = 1; s < 64; s++) {
		if (pending_mask & (1ULL << s)) {
			pending_mask &= ~(1ULL << s);
			return s;
		}
	}
	return 0;
}

int proc_signal_next(void)
{
	int s = take_pending();
	if (s != 0)
		return s;
	unsigned char b;
	if (sig_pipe[0] >= 0 && read(sig_pipe[0], &b, 1) == 1)
		return b;
	return 0;
}

char **proc_env(char *const extra[])
{
	size_t n = 0, m = 0;
	while (environ != NULL && environ[n] != NULL)
		n++;
	while (extra != NULL && extra[m] != NULL)
		m++;
	char **env = calloc(n + m + 1, sizeof(char *));
	if (env == NULL)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* An extra variable replaces one of the same name. */
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = 0;
		for (size_t j = 0; j < m; j++)
			if (strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=')
				replaced = 1;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

/* Attributes: own process group, default dispositions, nothing blocked. */
static int spawn_attrs(posix_spawnattr_t *attr)
{
	sigset_t def, none;
	sigemptyset(&def);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(&def, handled[i]);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	if (posix_spawnattr_init(attr) != 0)
		return -1;
	if (posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
	                                       POSIX_SPAWN_SETSIGMASK) != 0 ||
	    posix_spawnattr_setpgroup(attr, 0) != 0 || posix_spawnattr_setsigdefault(attr, &def) != 0 ||
	    posix_spawnattr_setsigmask(attr, &none) != 0) {
		posix_spawnattr_destroy(attr);
		return -1;
	}
	return 0;
}

int proc_spawn(struct proc_child *c, char *const argv[], char *const env[])
{
	memset(c, 0, sizeof(*c));
	if (argv == NULL || argv[0] == NULL) {
		snprintf(c->err, sizeof(c->err), "no program given");
		return -1;
	}
#ifdef __linux__
	/* Orphaned grandchildren come back to us, so we can reap them and see the group end. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
	char **full = proc_env(env);
	posix_spawnattr_t attr;
	if (full == NULL || spawn_attrs(&attr) < 0) {
		free(full);
		snprintf(c->err, sizeof(c->err), "cannot prepare %.200s: out of memory", argv[0]);
		return -1;
	}
	pid_t pid;
	/* posix_spawn is safe beside threads and reports exec failure as its result. */
	int rc = posix_spawnp(&pid, argv[0], NULL, &attr, argv, full);
	posix_spawnattr_destroy(&attr);
	free(full);
	if (rc != 0) {
		snprintf(c->err, sizeof(c->err), "cannot run %.200s: %s", argv[0], strerror(rc));
		return -1;
	}
	c->pid = pid;
	c->running = 1;
	return 0;
}

int proc_signal_group(const struct proc_child *c, int sig)
{
	if (c->pid <= 0 || c->gone)
		return -1;
	return kill(-c->pid, sig);
}

int proc_reap(struct proc_child *c)
{
	int st;
	pid_t r;
	/* Reap every exited child: as subreaper, orphans of the group are ours too. */
	while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
		if (r == c->pid && c->running) {
			c->running = 0;
			c->status = st;
		}
	}
	return c->pid > 0 && !c->running;
}

int proc_group_alive(struct proc_child *c)
{
	if (c->pid <= 0 || c->gone)
		return 0;
	proc_reap(c);
	if (c->running)
		return 1;
	if (kill(-c->pid, 0) == 0 || errno == EPERM)
		return 1;
	c->gone = 1;
	return 0;
}

/* Wait up to ms for signals or a child's end; keep non-CHLD signals for later. */
static void wait_a_little(int64_t ms)
{
	struct pollfd p = { .fd = sig_pipe[0], .events = POLLIN, .revents = 0 };
	if (ms > 50)
		ms = 50; /* grandchildren that are not ours end without telling us */
	if (sig_pipe[0] < 0) {
		struct timespec ts = { 0, (long)ms * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	if (poll(&p, 1, (int)ms) > 0) {
		unsigned char b;
		while (read(sig_pipe[0], &b, 1) == 1)
			if (b != SIGCHLD && b < 64)
				pending_mask |= 1ULL << b;
	}
}

int proc_stop(struct proc_child *c, int sig, int64_t timeout_ms)
{
	if (!proc_group_alive(c))
		return 0;
	proc_signal_group(c, sig);
	/* A stopped process would never act on sig. */
	if (sig != SIGKILL && sig != SIGCONT)
		proc_signal_group(c, SIGCONT);
	int64_t deadline = clock_now_ms() + timeout_ms;
	for (;;) {
		if (!proc_group_alive(c))
			return 0;
		int64_t left = deadline - clock_now_ms();
		if (left <= 0)
			break;
		wait_a_little(left);
	}
	proc_signal_group(c, SIGKILL);
	if (c->running) {
		int st;
		if (waitpid(c->pid, &st, 0) == c->pid) {
			c->running = 0;
			c->status = st;
		}
	}
	/* SIGKILL cannot be refused; give members not our children a moment to vanish. */
	for (int i = 0; i < 100 && proc_group_alive(c); i++)
		wait_a_little(10);
	return 1;
}

int proc_die_with_parent(int sig)
{
#ifdef __linux__
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0)
		return -1;
	/* The parent may have died before the request took effect. */
	if (getppid() != parent)
		kill(getpid(), sig);
	return 0;
#else
	(void)sig;
	return -1;
#endif
}

int proc_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int proc_parse_signal(const char *s)
{
	if (s == NULL || *s == '\0')
		return -1;
	if (isdigit((unsigned char)*s)) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno != 0 || *end != '\0' || v < 1 || v >= 65)
			return -1;
		return (int)v;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (strcasecmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	return -1;
}

const char *proc_signal_name(int sig)
{
	for (size_t i = 0; i < NSIGNAMES; i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	return "?";
}

int proc_parse_kill_signal(const char *value, int *sig, char *err, size_t errlen)
{
	int s = proc_parse_signal(value);
	if (s < 0) {
		snprintf(err, errlen, "invalid --kill-signal \"%.100s\": want a name (TERM) or number", value);
		return -1;
	}
	*sig = s;
	return 0;
}
