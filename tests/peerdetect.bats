#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Replicas that detect a dead master themselves (issue 17): when a majority of
# the replicas (at least two) cannot reach the master's Redis for
# REDIS_MASTER_DOWN_AFTER, one of them destroys the lock holder's session, and
# the lock-delay runs as for any invalidation (docs/resec-lock.md, "Node
# loss"). The emulator declares a failed node late (--serf-delay) and the
# master's check TTL is long (HEALTHCHECK_INTERVAL 10s), so that only peer
# detection can explain a fast failover. A prober writes to every Redis every
# 25 ms: two Redis taking writes in the same round fails the test; every test
# ends with the S1/S2 check of the emulator's event log.

load test_helper
load cluster_helper
load prober_helper

setup() {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
}

teardown() {
	cluster_teardown
}

# new_writer T PORT: the port of the first Redis other than PORT that took a write after T.
new_writer() {
	awk -v t="$1" -v p="$2" '$2 ~ /^[0-9]+$/ && $1 > t && $2 != p { print $2; exit }' "$BATS_TEST_TMPDIR/probe" | grep .
}

node_of_port() {
	local i
	for i in $(seq "$CLUSTER_N"); do
		[ "$(redis_port "$i")" = "$1" ] && { echo "$i"; return 0; }
	done
	return 1
}

# lose_node M: the master's machine goes: its Redis and every resec process
# SIGKILLed at once, then the emulator told that the node failed (gossip
# declares it after --serf-delay).
lose_node() {
	local v="REDIS_PID_n$1"
	kill_node_resec "$1" KILL
	kill -KILL "${!v}"
	ctl "/_emu/node/node$1/fail"
}

@test "node loss: the replicas end the dead master's session; writable again long before gossip, no acknowledged write lost" {
	E2E_SERF_DELAY=30s E2E_INTERVAL=10s cluster_start
	wait_for "a settled cluster" 90 cluster_settled
	M=$(master_node)
	[ "$(write_acked "$(redis_port "$M")" k 200 2)" = 2 ]
	probe_start
	kill_at=$(mono)
	lose_node "$M"
	wait_for "a writable redis on another node" 25 new_writer "$kill_at" "$(redis_port "$M")"
	port=$(new_writer "$kill_at" "$(redis_port "$M")")
	n=$(node_of_port "$port")
	first=$(first_write_after "$kill_at" "$port")
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$first" 1)" "$port"
	finish "node loss" --from "$kill_at"
	echo "  node$n writable $(awk -v a="$first" -v b="$kill_at" 'BEGIN { print a - b }')s after the node was lost" >&3
	# D (2 s) + lock-delay (2 s) + the election: about 4.3 s. Without peer
	# detection the first way out is the master's check TTL (20 s, at least
	# 10 s after the kill) + lock-delay, then gossip (30 s).
	le "$first" "$(plus "$kill_at" 8)"
	[ "$(keys_on "$port" k 200)" = 200 ]
	grep -q "ended the lock holder's session" "$BATS_TEST_TMPDIR"/resec*.log
}

# The bench's start: node 1's Redis is the master the others replicate, but it
# may not be elected (REDIS_PRIORITY 0), so the replicas' detectors first watch
# a Redis that becomes a replica, and the one re-pointed last is parked as soon
# as its new master's node goes. The master's node is lost as soon as the
# cluster settles, long before the replicas' next look (HEALTHCHECK_INTERVAL).
@test "node loss right after the cluster settled, the replicas started from a Redis that is not elected" {
	E2E_SERF_DELAY=30s E2E_INTERVAL=10s
	CLUSTER_N=3
	emu_start --nodes 4 --serf-delay "$E2E_SERF_DELAY" --dereg-floor 5s --reaper-period 1s
	OBS_ADDR="127.0.0.1:${EMU_PORTS[3]}"
	start_redis n1
	start_redis n2 --replicaof 127.0.0.1 "$(redis_port 1)"
	start_redis n3 --replicaof 127.0.0.1 "$(redis_port 1)"
	resec_start 1 REDIS_PRIORITY=0
	resec_start 2
	resec_start 3
	wait_for "a settled cluster" 90 cluster_settled
	M=$(master_node)
	[ "$M" != 1 ]
	probe_start
	kill_at=$(mono)
	lose_node "$M"
	wait_for "a writable redis on another node" 25 new_writer "$kill_at" "$(redis_port "$M")"
	port=$(new_writer "$kill_at" "$(redis_port "$M")")
	first=$(first_write_after "$kill_at" "$port")
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$first" 1)" "$port"
	finish "node loss right after settling" --from "$kill_at"
	echo "  $(awk -v a="$first" -v b="$kill_at" 'BEGIN { print a - b }')s after the node was lost" >&3
	# As above: well before the master's check TTL (20 s) or gossip (30 s).
	le "$first" "$(plus "$kill_at" 8)"
	grep -q "ended the lock holder's session" "$BATS_TEST_TMPDIR"/resec*.log
}

@test "two nodes: the lone replica does not end the session on its own; the failover waits for gossip" {
	E2E_SERF_DELAY=6s E2E_INTERVAL=10s cluster_start 2
	wait_for "a settled cluster" 90 cluster_settled
	M=$(master_node)
	R=$((3 - M))
	[ "$(write_acked "$(redis_port "$M")" k 100 1)" = 1 ]
	probe_start
	kill_at=$(mono)
	lose_node "$M"
	wait_for "node $R writable" 30 new_writer "$kill_at" "$(redis_port "$M")"
	first=$(first_write_after "$kill_at" "$(redis_port "$R")")
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$first" 1)" "$(redis_port "$R")"
	finish "two nodes, node loss" --from "$kill_at"
	echo "  node$R writable $(awk -v a="$first" -v b="$kill_at" 'BEGIN { print a - b }')s after the node was lost" >&3
	# Gossip (6 s) + lock-delay (2 s): not before the serf delay.
	le "$(plus "$kill_at" 6)" "$first"
	[ "$(keys_on "$(redis_port "$R")" k 100)" = 100 ]
	grep -q "1 of 1 replicas voted, 2 needed" "$BATS_TEST_TMPDIR/resec$R.log"
	run ! grep -q "ended the lock holder's session" "$BATS_TEST_TMPDIR/resec$R.log"
}

# ---- a false suspicion: every node is announced through a TCP proxy
# (tests/tcp-proxy.py), so its replicas reach its Redis through it while its
# own resec, and the prober, go direct. Stopping a proxy cuts the replicas off
# from a master that Consul still reaches.

proxy_port() {
	local v="PROXY_PORT_$1"
	echo "${!v}"
}

proxied_cluster_start() {
	local i p
	CLUSTER_N=3
	emu_start --nodes 4 --serf-delay "$E2E_SERF_DELAY" --dereg-floor 5s --reaper-period 1s
	OBS_ADDR="127.0.0.1:${EMU_PORTS[3]}"
	for i in 1 2 3; do
		start_redis "n$i"
		p=$(free_port)
		python3 "$RESEC_ROOT/tests/tcp-proxy.py" "$p" "$(redis_port "$i")" &
		track_pid "$!"
		printf -v "PROXY_PORT_$i" '%s' "$p"
		printf -v "PROXY_PID_$i" '%s' "$!"
		wait_for "proxy $i" 10 redis_ping "$p"
	done
	for i in 1 2 3; do
		resec_start "$i" ANNOUNCE_ADDR="127.0.0.1:$(proxy_port "$i")"
	done
}

# proxied_master: the node whose proxy is the one passing master.
proxied_master() {
	local m i
	m=$(consul_master)
	[ "$(printf '%s\n' "$m" | grep -c .)" -eq 1 ] || return 1
	for i in 1 2 3; do
		[ "${m##*:}" = "$(proxy_port "$i")" ] && { echo "$i"; return 0; }
	done
	return 1
}

proxied_settled() {
	local m i
	m=$(proxied_master) || return 1
	for i in 1 2 3; do
		[ "$i" = "$m" ] && continue
		replicates "$i" "$(proxy_port "$m")" || return 1
	done
	[ "$(passing redis-slave | grep -c .)" -eq 2 ]
}

# ended_sessions: the distinct lock sessions the replicas ended.
ended_sessions() {
	grep -ho "ended the lock holder's session.* session=[0-9a-f-]*" "$BATS_TEST_TMPDIR"/resec*.log |
		sed 's/.* session=//' | sort -u
}

# any_write_after T: some Redis took a write after T.
any_write_after() {
	awk -v t="$1" '$2 ~ /^[0-9]+$/ && $1 > t { f = 1; exit } END { exit !f }' "$BATS_TEST_TMPDIR/probe"
}

@test "false suspicion: the replicas cut off from a live master: it fences on the destroy, no flapping, never two writable" {
	proxied_cluster_start
	wait_for "a settled cluster" 60 proxied_settled
	M=$(proxied_master)
	probe_start
	wait_for "a write on the master" 10 wrote_after 0 "$(redis_port "$M")"
	cut_at=$(mono)
	v="PROXY_PID_$M"
	kill -STOP "${!v}"
	wait_for "the replicas to end the master's session" 20 grep -q "ended the lock holder's session" \
		"$BATS_TEST_TMPDIR"/resec*.log
	ended_at=$(mono)
	# Writable again (the cut-off master re-elected: it holds the most data), and
	# it stays so: the replicas do not vote against its new session.
	wait_for "a writable redis after the destroy" 20 any_write_after "$ended_at"
	sleep 8 # the window: it stays writable, the replicas do not vote against its new session
	kill -CONT "${!v}"
	wait_for "a settled cluster after the cut" 60 proxied_settled
	finish "false suspicion" --from "$cut_at"
	[ "$(ended_sessions | grep -c .)" -eq 1 ]
	# The live holder saw its session end and fenced before any successor.
	grep -q 'msg="lock lost, stopping the program"' "$BATS_TEST_TMPDIR/resec$M.log"
	grep -qE "lock (lost|no longer held); redis was fenced" "$BATS_TEST_TMPDIR/resec$M.log"
	# Its registration left ?passing within a moment (it hands off).
	curl -sf --max-time 10 "http://$OBS_ADDR/_emu/events" |
		python3 "$RESEC_ROOT/tests/invariants.py" --orphan-max 1
}
