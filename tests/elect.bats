#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Smarter, safer elections end to end (docs/election.md): maintenance mode,
# REDIS_PRIORITY and its KV override, the most advanced replica wins.
# Three nodes on loopback as in resec.bats; every test ends with the S1/S2 check.

load test_helper
load cluster_helper

setup() {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
}

teardown() {
	cluster_teardown
}

# elect_start ENV1 ENV2 ENV3: cluster_start with extra VAR=value words per node ("-" for none).
elect_start() {
	local i
	# shellcheck disable=SC2034 # read by cluster_helper
	CLUSTER_N=3
	emu_start --nodes 4 --serf-delay "$E2E_SERF_DELAY" --dereg-floor 5s --reaper-period 1s
	OBS_ADDR="127.0.0.1:${EMU_PORTS[3]}"
	for i in 1 2 3; do
		start_redis "n$i"
	done
	for i in 1 2 3; do
		if [ "${!i}" = - ]; then resec_start "$i"; else resec_start "$i" "${!i}"; fi
	done
	wait_for "a settled cluster" 30 cluster_settled
}

# replicas_of M: the two other node numbers, the one with the lower address first.
replicas_by_addr() {
	local i
	for i in 1 2 3; do
		[ "$i" = "$1" ] || echo "127.0.0.1:$(redis_port "$i") $i"
	done | sort | cut -d' ' -f2
}

@test "unit: the election policy on tables of snapshots (tests/unit/test_elect.c)" {
	[ -x "$RESEC_BUILD/unit/test_elect" ] || skip "unit tests not built (make units)"
	run -0 "$RESEC_BUILD/unit/test_elect"
}

@test "maintenance mode: a dead master is not replaced until it is turned off" {
	elect_start - - -
	m=$(master_node)
	kv_put resec/maintenance on
	for i in 1 2 3; do
		wait_for "node $i logs maintenance" 10 grep -q 'maintenance mode on: failover paused' "$BATS_TEST_TMPDIR/resec$i.log"
	done
	run -0 --separate-stderr resec-status --consul-http-addr "$OBS_ADDR" --json
	[ "$(jq -r .maintenance <<<"$output")" = true ]
	run -0 --separate-stderr resec-status --consul-http-addr "$OBS_ADDR" --prom
	[[ "$output" == *$'\nresec_maintenance 1\n'* ]]
	run -0 --separate-stderr resec-status --consul-http-addr "$OBS_ADDR"
	[[ "$output" == *$'\nmaintenance: on (failover paused)\n'* ]]
	kill_redis "$m"
	wait_for "the master service to go" 10 no_master
	no_master_for 5
	grep -q 'not contending for the lock.*maintenance mode on' "$BATS_TEST_TMPDIR"/resec[123].log
	kv_del resec/maintenance
	wait_for "a new master" 15 has_master_other_than "$(redis_port "$m")"
}

@test "priority 0 (REDIS_PRIORITY) is never promoted, even when it is the last node" {
	elect_start - - REDIS_PRIORITY=0
	m=$(master_node)
	[ "$m" != 3 ]
	kill_redis "$m"
	wait_for "a new master" 15 has_master_other_than "$(redis_port "$m")"
	n=$(master_node)
	[ "$n" != 3 ]
	kill_redis "$n"
	wait_for "the master service to go" 10 no_master
	no_master_for 5
	grep -q 'not contending for the lock.*priority 0' "$BATS_TEST_TMPDIR/resec3.log"
	run -0 "$RESEC_ROLE" --redis-addr "127.0.0.1:$(redis_port 3)" show
	[[ "$output" == replica* ]]
}

@test "runtime priority override in KV: takes effect without a restart" {
	elect_start - - -
	m=$(master_node)
	[ "$(printf 'SET k v\nWAIT 2 5000\n' | rcli "$(redis_port "$m")" | tail -n 1)" = 2 ]
	read -r low high <<<"$(replicas_by_addr "$m" | tr "\n" " ")"
	# Equal offsets and priorities: the lower address would win; priority 0 forbids it.
	kv_put "resec/priority/127.0.0.1:$(redis_port "$low")" 0
	kill_redis "$m"
	wait_for "a new master" 15 has_master_other_than "$(redis_port "$m")"
	[ "$(master_node)" = "$high" ]
	grep -q 'not contending for the lock.*priority 0' "$BATS_TEST_TMPDIR/resec$low.log"
}

@test "the most advanced replica wins over a lagging one with a lower address" {
	elect_start - - -
	won=0
	for round in 1 2 3; do
		m=$(master_node)
		mport=$(redis_port "$m")
		read -r low high <<<"$(replicas_by_addr "$m" | tr "\n" " ")"
		# Both replicas stream from the master (acknowledged), then the lower
		# address, which would win a tie, is made to lag: it replicates a dead address.
		# (WAIT counts acknowledgements of this connection's writes: one redis-cli for both.)
		[ "$(printf 'SET probe%s x\nWAIT 2 5000\n' "$round" | rcli "$mport" | tail -n 1)" = 2 ]
		rcli "$(redis_port "$low")" replicaof 127.0.0.1 1 >/dev/null
		out=$(for k in 1 2 3 4 5; do echo "SET r$round-$k x"; done | rcli "$mport")
		[ "$out" = "$(printf 'OK\nOK\nOK\nOK\nOK')" ] || { echo "writes on the master: $out" >&2; return 1; }
		[ "$(printf 'SET r%s-6 x\nWAIT 1 5000\n' "$round" | rcli "$mport" | tail -n 1)" = 1 ]
		kill_redis "$m"
		wait_for "a new master" 15 has_master_other_than "$mport"
		n=$(master_node)
		echo "round $round: lagging $low, up to date $high, promoted $n" >&3
		[ "$n" = "$high" ] && won=$((won + 1))
		[ "$(rcli "$(redis_port "$n")" get "r$round-5")" = x ]
		# Bring the old master back on its port: its resec fences it and it follows.
		redis-server --bind 127.0.0.1 --port "$mport" --dir "$BATS_TEST_TMPDIR/redis-n$m" --save '' \
			--appendonly no --daemonize no --repl-diskless-sync-delay 0 \
			--logfile "$BATS_TEST_TMPDIR/redis-n$m/redis.log" &
		printf -v "REDIS_PID_n$m" '%s' "$!"
		track_pid "$!"
		wait_for "a settled cluster" 30 cluster_settled
	done
	[ "$won" -eq 3 ]
}

# offset_published_at_least N: the master published an offset of N or more.
offset_published_at_least() {
	local v
	v=$(kv_get resec/master-offset) && [ "$v" -ge "$1" ]
}

# offset_index: the ModifyIndex of resec/master-offset (0 when there is none).
offset_index() {
	curl -sf --max-time 5 "http://$OBS_ADDR/v1/kv/resec/master-offset" | jq -r '.[0].ModifyIndex' || echo 0
}

# offset_index_above I: the master offset key was written after index I.
offset_index_above() { [ "$(offset_index)" -gt "$1" ]; }

@test "a master publishes its offset as it turns healthy, not ten intervals later" {
	# Ten intervals of 2 s: the periodic publication alone would come 20 s late.
	E2E_INTERVAL=2s elect_start - - -
	wait_for "the master's offset published" 5 offset_published_at_least 0
	m=$(master_node)
	before=$(offset_index)
	# A write both replicas have, so that the new master's offset differs from the
	# one published (Consul does not bump the index of a write that changes nothing).
	[ "$(rcli "$(redis_port "$m")" set k v)" = OK ]
	[ "$(rcli "$(redis_port "$m")" wait 2 5000)" = 2 ]
	kill_redis "$m"
	wait_for "a new master" 30 has_master_other_than "$(redis_port "$m")"
	wait_for "the new master's offset published" 5 offset_index_above "$before"
}

@test "replicas further than REDIS_MAX_LAG behind the published offset never contend; none left is reported" {
	elect_start REDIS_MAX_LAG=1KiB REDIS_MAX_LAG=1KiB REDIS_MAX_LAG=1KiB
	m=$(master_node)
	mport=$(redis_port "$m")
	wait_for "the master's offset published" 15 offset_published_at_least 1
	# Both replicas stop following (a dead address) while the master takes 20 KiB.
	for i in $(replicas_by_addr "$m"); do
		rcli "$(redis_port "$i")" replicaof 127.0.0.1 1 >/dev/null
	done
	rcli "$mport" set big "$(head -c 20480 /dev/zero | tr '\0' x)" >/dev/null
	want=$(rcli "$mport" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
	wait_for "the master to publish $want" 20 offset_published_at_least "$want"
	kill_redis "$m"
	wait_for "the master service to go" 10 no_master
	no_master_for 5
	grep -q 'no eligible replica: not promoting (local replica .* bytes behind the offset the master published' \
		"$BATS_TEST_TMPDIR"/resec[123].log
	# The operator accepts the loss: without the published offset the election goes on.
	kv_del resec/master-offset
	wait_for "a new master" 20 has_master_other_than "$mport"
}
