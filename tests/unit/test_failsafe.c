/* SPDX-License-Identifier: MIT */
/* test_failsafe: unit tests for common/failsafe.c, on INFO and CLIENT LIST texts as Redis 7 writes them. */
#include <stdio.h>
#include <string.h>

#include "failsafe.h"
#include "tap.h"

#define INFO2 "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" \
	"slave0:ip=127.0.0.1,port=6380,state=online,offset=100,lag=0\r\n" \
	"slave1:ip=127.0.0.1,port=6381,state=online,offset=100,lag=1\r\n" \
	"master_replid:aaaa\r\nmaster_repl_offset:100\r\n"

/* One CLIENT LIST line. */
static void client(char *buf, size_t len, const char *addr, const char *name, int idle)
{
	size_t used = strlen(buf);
	snprintf(buf + used, len - used,
	         "id=%zu addr=%s laddr=127.0.0.1:6379 fd=9 name=%s age=30 idle=%d flags=N db=0 sub=0 psub=0 "
	         "ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=1800 "
	         "events=r cmd=client|setname user=default redir=-1 resp=2\n",
	         used + 1, addr, name, idle);
}

static int judge(const char *info, const char *clients, struct failsafe_proof *p)
{
	return failsafe_judge_text(info, clients, p);
}

int main(void)
{
	struct failsafe_proof p;
	char list[4096];

	struct failsafe_peer v[4];
	check(failsafe_parse_view("127.0.0.1:6380,127.0.0.1:6381", v, 4) == 2 && v[1].port == 6381 &&
	      strcmp(v[0].host, "127.0.0.1") == 0, "a view of two peers");
	check(failsafe_parse_view("", v, 4) == 0, "an empty view");
	check(failsafe_parse_view("junk,:6380,10.0.0.1:6379", v, 4) == 1 && strcmp(v[0].host, "10.0.0.1") == 0,
	      "entries without a host or a port are dropped");

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", "", 0);
	check(judge(INFO2, list, &p) == 0 && strstr(p.why, "no view") != NULL, "no keeper: no proof (%s)", p.why);

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6381", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	client(list, sizeof(list), "127.0.0.1:40003", FAILSAFE_PEER_PREFIX "6381:down", 2);
	check(judge(INFO2, list, &p) == 1 && p.n == 2 && p.confirmed == 2 &&
	      strcmp(p.why, "failsafe: holding master with 2/2 peers confirmed") == 0,
	      "every peer a connected replica reporting down: holds (%s)", p.why);

	check(judge("# Replication\r\nrole:slave\r\n", list, &p) == 0 && strstr(p.why, "not a master") != NULL,
	      "a replica proves nothing");

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6381", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	client(list, sizeof(list), "127.0.0.1:40003", FAILSAFE_PEER_PREFIX "6381:up", 0);
	check(judge(INFO2, list, &p) == 0 && p.reachable == 1 && strstr(p.why, "6381 reaches consul") != NULL,
	      "a peer that reaches Consul: no proof (%s)", p.why);

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6381", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	check(judge(INFO2, list, &p) == 0 && p.confirmed == 1 && strstr(p.why, "6381 sends no report") != NULL,
	      "a peer missing: no proof (%s)", p.why);

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6381", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	client(list, sizeof(list), "127.0.0.1:40003", FAILSAFE_PEER_PREFIX "6381:down", 3);
	check(judge(INFO2, list, &p) == 0 && strstr(p.why, "6381 has not reported for 3s") != NULL,
	      "a stale report (idle 3s): no proof (%s)", p.why);

	/* The report must come from the peer's own address: another host cannot speak for it. */
	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6381", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	client(list, sizeof(list), "10.0.0.9:40003", FAILSAFE_PEER_PREFIX "6381:down", 0);
	check(judge(INFO2, list, &p) == 0 && strstr(p.why, "6381 sends no report") != NULL,
	      "a report from another address does not count (%s)", p.why);

	/* A report without the replica connected (it follows someone else). */
	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380,127.0.0.1:6382", 12);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	client(list, sizeof(list), "127.0.0.1:40003", FAILSAFE_PEER_PREFIX "6382:down", 0);
	check(judge(INFO2, list, &p) == 0 && strstr(p.why, "6382 is not a connected replica") != NULL,
	      "a peer that is not a connected replica: no proof (%s)", p.why);

	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX, 12);
	check(judge(INFO2, list, &p) == 0 && p.have_view && strstr(p.why, "no peer") != NULL,
	      "an empty view proves nothing (%s)", p.why);

	/* Two keepers (a restart's overlap): the union is waited for. */
	list[0] = '\0';
	client(list, sizeof(list), "127.0.0.1:40001", FAILSAFE_VIEW_PREFIX "127.0.0.1:6380", 12);
	client(list, sizeof(list), "127.0.0.1:40004", FAILSAFE_VIEW_PREFIX "127.0.0.1:6381", 1);
	client(list, sizeof(list), "127.0.0.1:40002", FAILSAFE_PEER_PREFIX "6380:down", 0);
	check(judge(INFO2, list, &p) == 0 && p.n == 2 && p.confirmed == 1, "two views: their union");
	return tap_done();
}
