/* SPDX-License-Identifier: MIT */
/* table: the human output: the instances as a table, the lock, the modes, the problems and the status line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "status.h"

static void format_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
}

/*
 * Human output: a line made printable first. Node names, addresses, the lock's
 * value, check statuses and Redis errors come from servers; a newline or an
 * escape sequence in one must not forge a table row or a "status:" line.
 */
static void __attribute__((format(printf, 1, 2))) out_line(const char *fmt, ...)
{
	char shown[2048];
	va_list ap;
	va_start(ap, fmt);
	log_vprintable(shown, sizeof(shown), fmt, ap);
	va_end(ap);
	puts(shown);
}

/* The operator's lines: Consul's trouble, the master fenced, the failsafe hold. */
void print_modes(const struct status *st, int unreachable)
{
	const struct modes *m = &st->modes;
	char when[64];
	format_time(m->down_since, when, sizeof(when));
	if (unreachable || m->no_leader)
		out_line("consul %s since %s%s", unreachable ? "unreachable" : "has no leader",
		       m->down_since > 0 ? when : "unknown", m->down_since > 0 ? "" : " (use --state to date it)");
	if (unreachable && st->consul_err[0] != '\0')
		out_line("consul error: %s", st->consul_err);
	if (m->addr[0] == '\0') {
		char a[300];
		config_format_hostport(&st->cfg.redis_addr, a, sizeof(a));
		if (unreachable)
			out_line("master: not found through redis %s", a);
		return;
	}
	if (m->via[0] != '\0')
		out_line("master %s (seen through %s)", m->addr, m->via);
	else if (unreachable)
		out_line("master %s", m->addr);
	if (m->fenced == 1)
		out_line("fenced: lock not confirmed (master %s refuses writes)", m->addr);
	if (m->proof.have_view && m->fenced == 1 && m->proof_ok)
		out_line("failsafe: %d/%d peers confirm; the fence stays until Consul confirms the lock",
		       m->proof.confirmed, m->proof.n);
	else if (m->proof.have_view)
		out_line("%s", m->proof.why);
}

static const char *dash_ll(long long v, char *buf, size_t len)
{
	if (v < 0)
		return "-";
	snprintf(buf, len, "%lld", v);
	return buf;
}

static const char *link_text(const struct instance *in)
{
	if (!in->redis_ok || in->info.role != RDB_ROLE_REPLICA)
		return "-";
	return in->info.link_up ? "up" : "down";
}

static const char *fenced_text(const struct instance *in)
{
	if (!in->redis_ok)
		return "-";
	return in->fenced == 1 ? "yes" : in->fenced == 0 ? "no" : "?";
}

enum { NCOLS = 10 };

static void table_row(const struct instance *in, char cells[NCOLS][300])
{
	char num[32];
	snprintf(cells[0], 300, "%s", in->node);
	snprintf(cells[1], 300, "%s", in->addr);
	snprintf(cells[2], 300, "%s", role_label(in->consul_role));
	snprintf(cells[3], 300, "%s", redis_role(in));
	snprintf(cells[4], 300, "%s", in->lock_holder ? "held" : "-");
	snprintf(cells[5], 300, "%s", in->check);
	snprintf(cells[6], 300, "%s", dash_ll(in->redis_ok ? rdb_info_offset(&in->info) : -1, num, sizeof(num)));
	snprintf(cells[7], 300, "%s", dash_ll(in->lag, num, sizeof(num)));
	snprintf(cells[8], 300, "%s", link_text(in));
	snprintf(cells[9], 300, "%s", fenced_text(in));
	for (int c = 0; c < NCOLS; c++) {
		char shown[300];
		log_printable(cells[c], shown, sizeof(shown));
		memcpy(cells[c], shown, sizeof(shown));
	}
}

static void print_cells(char cells[NCOLS][300], const size_t *w)
{
	for (int c = 0; c < NCOLS; c++)
		if (c + 1 < NCOLS)
			printf("%-*s  ", (int)w[c], cells[c]);
		else
			printf("%s\n", cells[c]);
}

void print_table(const struct status *st)
{
	static const char *head[NCOLS] = { "NODE", "ADDR", "ROLE(consul)", "ROLE(redis)", "LOCK",
	                                   "CHECK", "OFFSET", "LAG", "LINK", "FENCED" };
	char cells[NCOLS][300];
	size_t w[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		w[c] = strlen(head[c]);
	for (size_t i = 0; i < st->n; i++) {
		table_row(&st->inst[i], cells);
		for (int c = 0; c < NCOLS; c++)
			if (strlen(cells[c]) > w[c])
				w[c] = strlen(cells[c]);
	}
	for (int c = 0; c < NCOLS; c++)
		snprintf(cells[c], 300, "%s", head[c]);
	print_cells(cells, w);
	for (size_t i = 0; i < st->n; i++) {
		table_row(&st->inst[i], cells);
		print_cells(cells, w);
	}
	const struct lock_state *l = &st->lock;
	if (l->held)
		out_line("lock %s: held by %s, value %s, lock_index %llu", st->cfg.lock_key,
		         l->node[0] != '\0' ? l->node : "unknown node", l->value, (unsigned long long)l->lock_index);
	else
		out_line("lock %s: %s", st->cfg.lock_key, l->present ? "not held" : "absent");
	out_line("maintenance: %s", st->maintenance ? "on (failover paused)" : "off");
	print_modes(st, 0);
	if (st->switchover[0] != '\0')
		out_line("switchover: to %s in progress", st->switchover);
	if (st->master_offset >= 0)
		out_line("master offset published: %lld", st->master_offset);
	if (st->failovers >= 0) {
		char when[64];
		format_time(st->last_failover, when, sizeof(when));
		out_line("failovers: %lld, last %s", st->failovers, when);
	}
	for (size_t i = 0; i < st->nproblems; i++)
		out_line("problem: %s", st->problems[i]);
	for (size_t i = 0; i < st->nwarnings; i++)
		out_line("warning: %s", st->warnings[i]);
	out_line("status: %s", st->nproblems == 0 ? "healthy" : "unhealthy");
}
