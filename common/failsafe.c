/* SPDX-License-Identifier: MIT */
/* failsafe: read the failsafe channel off the master's Redis and judge the proof. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "failsafe.h"
#include "redis.h"

/* One connected client as CLIENT LIST shows it. */
struct client {
	char ip[256];
	char name[300];
	long idle;
};

int failsafe_parse_view(const char *list, struct failsafe_peer *out, int max)
{
	int n = 0;
	const char *p = list;
	while (p != NULL && *p != '\0' && n < max) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char one[300];
		struct hostport hp;
		if (len > 0 && len < sizeof(one)) {
			memcpy(one, p, len);
			one[len] = '\0';
			if (config_parse_hostport(one, &hp) == 0 && hp.host[0] != '\0') {
				snprintf(out[n].host, sizeof(out[n].host), "%s", hp.host);
				out[n].port = hp.port;
				n++;
			}
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return n;
}

/* The value of field key= in a line of space- or comma-separated fields, into buf; 0 when found. */
static int field(const char *line, size_t linelen, const char *key, char sep, char *buf, size_t len)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen <= linelen; i++) {
		if ((i == 0 || line[i - 1] == sep || line[i - 1] == ':') && strncmp(line + i, key, klen) == 0) {
			size_t j = i + klen, k = 0;
			while (j < linelen && line[j] != sep && line[j] != '\r' && k + 1 < len)
				buf[k++] = line[j++];
			buf[k] = '\0';
			return 0;
		}
	}
	return -1;
}

/* Split "IP:PORT" (the IP may hold colons: IPv6) into the IP. */
static void addr_ip(const char *addr, char *ip, size_t len)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
	if (n >= len)
		n = len - 1;
	memcpy(ip, addr, n);
	ip[n] = '\0';
}

/* 1 when INFO replication lists ip:port as a replica with state=online. */
static int online_replica(const char *info, const struct failsafe_peer *p)
{
	for (const char *l = info; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t len = nl != NULL ? (size_t)(nl - l) : strlen(l);
		char ip[256], port[16], state[32];
		if (strncmp(l, "slave", 5) == 0 && field(l, len, "ip=", ',', ip, sizeof(ip)) == 0 &&
		    field(l, len, "port=", ',', port, sizeof(port)) == 0 &&
		    field(l, len, "state=", ',', state, sizeof(state)) == 0 && strcmp(ip, p->host) == 0 &&
		    strtol(port, NULL, 10) == p->port && strcmp(state, "online") == 0)
			return 1;
		l = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

/* The clients of CLIENT LIST whose name starts with prefix, into out (at most max). */
static int clients_named(const char *list, const char *prefix, struct client *out, int max)
{
	int n = 0;
	for (const char *l = list; l != NULL && *l != '\0' && n < max;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl != NULL ? (size_t)(nl - l) : strlen(l);
		char addr[300], idle[32];
		struct client *c = &out[n];
		if (field(l, len, "name=", ' ', c->name, sizeof(c->name)) == 0 &&
		    strncmp(c->name, prefix, strlen(prefix)) == 0 && field(l, len, "addr=", ' ', addr, sizeof(addr)) == 0 &&
		    field(l, len, "idle=", ' ', idle, sizeof(idle)) == 0) {
			addr_ip(addr, c->ip, sizeof(c->ip));
			c->idle = strtol(idle, NULL, 10);
			n++;
		}
		l = nl != NULL ? nl + 1 : NULL;
	}
	return n;
}

/* The freshest report of peer p among the reports: 1 down, 2 up; 0 none fresh, -1 none at all. */
static int report_of(const struct client *r, int nr, const struct failsafe_peer *p, long *idle)
{
	int best = -1;
	*idle = -1;
	for (int i = 0; i < nr; i++) {
		const char *rest = r[i].name + strlen(FAILSAFE_PEER_PREFIX);
		char *colon;
		long port = strtol(rest, &colon, 10);
		if (strcmp(r[i].ip, p->host) != 0 || port != p->port || *colon != ':')
			continue;
		if (*idle < 0 || r[i].idle < *idle)
			*idle = r[i].idle;
		if (r[i].idle > FAILSAFE_FRESH_IDLE_S) {
			if (best < 0)
				best = 0;
			continue;
		}
		int st = strcmp(colon + 1, "down") == 0 ? 1 : 2;
		if (best <= 0 || st == 2)
			best = st; /* one fresh "up" outweighs any "down" */
	}
	return best;
}

/* Judge one peer; 1 confirmed, else 0 with the reason in why (when why is still empty). */
static int judge_peer(const char *info, const struct client *r, int nr, const struct failsafe_peer *p,
                      struct failsafe_proof *out)
{
	long idle;
	int rep = report_of(r, nr, p, &idle);
	const char *why = NULL;
	char buf[300];
	if (rep == 2) {
		out->reachable++;
		why = "reaches consul";
	} else if (!online_replica(info, p)) {
		why = "is not a connected replica";
	} else if (rep < 0) {
		why = "sends no report";
	} else if (rep == 0) {
		snprintf(buf, sizeof(buf), "has not reported for %lds", idle);
		why = buf;
	}
	if (why == NULL)
		return 1;
	if (out->why[0] == '\0')
		snprintf(out->why, sizeof(out->why), "failsafe: peer %.100s:%d %.100s", p->host, p->port, why);
	return 0;
}

int failsafe_judge_text(const char *info, const char *clients, struct failsafe_proof *p)
{
	memset(p, 0, sizeof(*p));
	static struct client views[4], reports[4 * FAILSAFE_MAX_PEERS];
	int nv = clients_named(clients, FAILSAFE_VIEW_PREFIX, views, 4);
	int nr = clients_named(clients, FAILSAFE_PEER_PREFIX, reports, 4 * FAILSAFE_MAX_PEERS);
	if (strstr(info, "role:master") == NULL) {
		snprintf(p->why, sizeof(p->why), "failsafe: this redis is not a master");
		return 0;
	}
	if (nv == 0) {
		snprintf(p->why, sizeof(p->why), "failsafe: no view of the peers (the keeper is not running)");
		return 0;
	}
	p->have_view = 1;
	/* Several keepers (a restart's overlap): the union of their views, the safe side. */
	struct failsafe_peer peers[FAILSAFE_MAX_PEERS];
	for (int v = 0; v < nv; v++) {
		struct failsafe_peer some[FAILSAFE_MAX_PEERS];
		int k = failsafe_parse_view(views[v].name + strlen(FAILSAFE_VIEW_PREFIX), some, FAILSAFE_MAX_PEERS);
		for (int i = 0; i < k; i++) {
			int dup = 0;
			for (int j = 0; j < p->n; j++)
				dup |= peers[j].port == some[i].port && strcmp(peers[j].host, some[i].host) == 0;
			if (!dup && p->n < FAILSAFE_MAX_PEERS)
				peers[p->n++] = some[i];
		}
	}
	for (int i = 0; i < p->n; i++)
		p->confirmed += judge_peer(info, reports, nr, &peers[i], p);
	if (p->n == 0) {
		snprintf(p->why, sizeof(p->why), "failsafe: no peer in the view: nothing to prove");
		return 0;
	}
	if (p->confirmed < p->n)
		return 0;
	snprintf(p->why, sizeof(p->why), "failsafe: holding master with %d/%d peers confirmed", p->confirmed, p->n);
	return 1;
}

/* Run a command whose answer is one bulk string, into a malloc'd copy. */
static char *command_text(struct rdb_conn *c, int argc, const char **argv)
{
	void *out = NULL;
	if (rdb_command(c, &out, argc, argv) < 0)
		return NULL;
	redisReply *r = out;
	char *text = NULL;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		text = strndup(r->str, r->len);
	else
		snprintf(c->err, sizeof(c->err), "%s: unexpected reply type %d", argv[0], r->type);
	freeReplyObject(r);
	return text;
}

int failsafe_judge(struct rdb_conn *c, struct failsafe_proof *p)
{
	static const char *info_argv[] = { "INFO", "replication" };
	static const char *list_argv[] = { "CLIENT", "LIST" };
	char *info = command_text(c, 2, info_argv);
	char *list = info != NULL ? command_text(c, 2, list_argv) : NULL;
	if (list == NULL) {
		free(info);
		return -1;
	}
	int r = failsafe_judge_text(info, list, p);
	free(info);
	free(list);
	return r;
}

int failsafe_set_name(struct rdb_conn *c, const char *name)
{
	const char *argv[] = { "CLIENT", "SETNAME", name };
	return rdb_exec(c, 3, argv);
}
