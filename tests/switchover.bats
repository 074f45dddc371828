#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-switchover end to end (docs/resec-switchover.md): three nodes on
# loopback as in resec.bats, a write load that follows the master, and the
# S1/S2 check over the whole event log at the end of every test.

load test_helper
load cluster_helper

setup() {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
	: "${RESEC_SWITCHOVER:=$RESEC_BUILD/bin/resec-switchover}"
}

teardown() {
	cluster_teardown
}

switchover() {
	"$RESEC_SWITCHOVER" --consul-http-addr "$OBS_ADDR" --healthcheck-timeout 1s "$@"
}

lock_session() {
	curl -sf --max-time 5 "http://$OBS_ADDR/v1/kv/resec/.lock" | jq -r '.[0].Session // ""'
}

min_replicas() {
	rcli "$(redis_port "$1")" config get min-replicas-to-write | tail -n 1
}

# settled_with_target: a settled cluster; its master's node in m, another node in to.
settled_with_target() {
	cluster_start
	wait_for "a settled cluster" 30 cluster_settled
	m=$(master_node)
	for t in 1 2 3; do [ "$t" = "$m" ] || to=$t; done
}

# switchover_key_gone: resec/switchover does not exist.
switchover_key_gone() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$OBS_ADDR/v1/kv/resec/switchover")" = 404 ]
}

start_load() {
	python3 "$RESEC_ROOT/tests/acked.py" write "$OBS_ADDR" redis-master "$BATS_TEST_TMPDIR/acked" &
	LOAD_PID=$!
	track_pid "$LOAD_PID"
	wait_for "acknowledged writes" 10 test -s "$BATS_TEST_TMPDIR/acked"
}

stop_load() {
	kill -TERM "$LOAD_PID"
	wait "$LOAD_PID" || true
}

@test "switchover to the best replica under a write load: no acknowledged write lost" {
	cluster_start
	wait_for "a settled cluster" 30 cluster_settled
	start_load
	for round in 1 2 3; do
		m=$(master_node)
		run -0 --separate-stderr switchover
		echo "round $round: $output" >&3
		[[ "$output" == "switched over from 127.0.0.1:$(redis_port "$m") to 127.0.0.1:"*": writes refused for "*ms ]]
		n=$(master_node)
		[ "$n" != "$m" ]
		[ "$(min_replicas "$n")" = 0 ]
		wait_for "a settled cluster" 30 cluster_settled
	done
	stop_load
	run -0 python3 "$RESEC_ROOT/tests/acked.py" check "$(redis_port "$(master_node)")" "$BATS_TEST_TMPDIR/acked"
	echo "$output" >&3
	# The switchover key is gone once it is done.
	switchover_key_gone
}

@test "switchover --to a named replica; the old master follows it" {
	settled_with_target
	run -0 --separate-stderr switchover --to "127.0.0.1:$(redis_port "$to")"
	[ "$(master_node)" = "$to" ]
	wait_for "the old master to follow" 30 replicates "$m" "$(redis_port "$to")"
	grep -q 'switchover to .* in progress' "$BATS_TEST_TMPDIR"/resec[123].log
}

@test "a target that does not catch up: given up, the master unfenced, nothing changed" {
	settled_with_target
	mport=$(redis_port "$m")
	session=$(lock_session)
	# CLIENT PAUSE WRITE on a replica holds its replication stream back while
	# it still answers INFO: its offset stays behind the master's.
	rcli "$(redis_port "$to")" client pause 20000 write >/dev/null
	rcli "$mport" set behind 1 >/dev/null
	run -1 --separate-stderr switchover --to "127.0.0.1:$(redis_port "$to")" --timeout 1s
	rcli "$(redis_port "$to")" client unpause >/dev/null
	[[ "$stderr" == *"switchover given up: timed out: the target 127.0.0.1:$(redis_port "$to") reached offset"* ]]
	# While fenced for the catch-up the master's check was warning (a fenced master takes no
	# write); unfenced, it passes again at its next look (every 100 ms while fenced).
	wait_for "the master passing again" 5 sh -c "[ \"\$(curl -sf http://$OBS_ADDR/v1/health/service/redis-master?passing | jq -r '.[0].Service.Port')\" = $mport ]"
	[ "$(lock_session)" = "$session" ]
	[ "$(min_replicas "$m")" = 0 ]
	[ "$(rcli "$mport" set after 1)" = OK ]
	switchover_key_gone
}

# fenced_now PORT: the Redis at PORT refuses writes (min-replicas-to-write raised).
fenced_now() {
	[ "$(rcli "$1" config get min-replicas-to-write | tail -n 1)" -ge 1000000 ]
}

@test "HUP, TERM or INT during the catch-up: the fence is lifted, nothing changed" {
	settled_with_target
	mport=$(redis_port "$m")
	session=$(lock_session)
	rcli "$(redis_port "$to")" client pause 60000 write >/dev/null
	for sig in HUP TERM INT; do
		rcli "$mport" set "behind-$sig" 1 >/dev/null
		"$RESEC_SWITCHOVER" --consul-http-addr "$OBS_ADDR" --healthcheck-timeout 1s \
			--to "127.0.0.1:$(redis_port "$to")" --timeout 30s 2>"$BATS_TEST_TMPDIR/so.err" &
		pid=$!
		track_pid "$pid"
		wait_for "the master fenced" 10 fenced_now "$mport"
		kill "-$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		echo "$sig: exit $rc" >&3
		cat "$BATS_TEST_TMPDIR/so.err" >&3
		[ "$rc" -eq 1 ]
		[ "$(min_replicas "$m")" = 0 ]
		[ "$(rcli "$mport" set "after-$sig" 1)" = OK ]
		# A fenced master's check is at warning; unfenced, it passes again (the next
		# switchover needs a passing master).
		wait_for "the master passing again" 10 master_is "$m"
	done
	rcli "$(redis_port "$to")" client unpause >/dev/null
	[ "$(master_node)" = "$m" ]
	[ "$(lock_session)" = "$session" ]
	switchover_key_gone
}

@test "the master's connection lost during the catch-up: the fence is still lifted" {
	settled_with_target
	mport=$(redis_port "$m")
	rcli "$(redis_port "$to")" client pause 20000 write >/dev/null
	rcli "$mport" set behind 1 >/dev/null
	"$RESEC_SWITCHOVER" --consul-http-addr "$OBS_ADDR" --healthcheck-timeout 1s \
		--to "127.0.0.1:$(redis_port "$to")" --timeout 3s 2>"$BATS_TEST_TMPDIR/so.err" &
	pid=$!
	track_pid "$pid"
	wait_for "the master fenced" 10 fenced_now "$mport"
	# Every normal client of the master goes: the tool's connection with them.
	rcli "$mport" client kill type normal >/dev/null
	rc=0
	wait "$pid" || rc=$?
	rcli "$(redis_port "$to")" client unpause >/dev/null
	cat "$BATS_TEST_TMPDIR/so.err" >&3
	[ "$rc" -eq 1 ]
	grep -q "master unfenced: nothing changed" "$BATS_TEST_TMPDIR/so.err"
	[ "$(min_replicas "$m")" = 0 ]
	# Its check was at warning while fenced; unfenced, it passes again.
	wait_for "the master passing again" 10 master_is "$m"
}

@test "refusals: bad flags, unknown target, priority 0, maintenance, a switchover in progress" {
	settled_with_target
	run -64 switchover --timeout 0s
	[[ "$output" == *'invalid --timeout "0s"'* ]]
	run -64 switchover --to nonsense
	[[ "$output" == *'invalid --to "nonsense"'* ]]
	run -64 switchover extra
	run -1 switchover --to 127.0.0.1:1
	[[ "$output" == *"cannot switch over to 127.0.0.1:1: not a passing instance of the replica service"* ]]
	run -1 switchover --to "127.0.0.1:$(redis_port "$m")"
	[[ "$output" == *"it is the master already"* ]]
	# The target's resec must be waiting for the lock: a session of that name on its node.
	run -1 switchover --to "127.0.0.1:$(redis_port "$to")" --consul-lock-session-name nobody
	[[ "$output" == *"its resec is not waiting for the lock yet (no \"nobody\" session"* ]]
	curl -sf -X PUT --data 0 "http://$OBS_ADDR/v1/kv/resec/priority/127.0.0.1:$(redis_port "$to")" >/dev/null
	run -1 switchover --to "127.0.0.1:$(redis_port "$to")"
	[[ "$output" == *"its priority is 0 (never promoted)"* ]]
	# A switchover in progress: the key held by a session, as resec-switchover holds it, naming
	# a replica (a key without a session, or naming no node, is ignored: tests/hostile-consul.bats).
	local sid tgt="127.0.0.1:$(redis_port "$to")"
	sid=$(curl -sf -X PUT -d '{"Name":"resec-switchover","TTL":"60s","Behavior":"delete"}' \
		"http://$OBS_ADDR/v1/session/create" | jq -r .ID)
	curl -sf -X PUT --data "$tgt" "http://$OBS_ADDR/v1/kv/resec/switchover?acquire=$sid" >/dev/null
	run -1 switchover
	[[ "$output" == *"a switchover to $tgt is in progress"* ]]
	# resec-status shows it (a warning, not a problem) and the master's published offset.
	run -0 --separate-stderr "$RESEC_BUILD/bin/resec-status" --consul-http-addr "$OBS_ADDR" --json
	[ "$(jq -r .switchover_to <<<"$output")" = "$tgt" ]
	jq -e '.master_offset_published >= 0' <<<"$output" >/dev/null
	curl -sf -X DELETE "http://$OBS_ADDR/v1/kv/resec/switchover" >/dev/null
	run -69 "$RESEC_SWITCHOVER" --consul-http-addr "127.0.0.1:$(free_port)"
	[ "$(master_node)" = "$m" ]
	[ "$(min_replicas "$m")" = 0 ]
}

@test "maintenance mode: a planned switchover still goes through, the pause stays" {
	cluster_start
	wait_for "a settled cluster" 30 cluster_settled
	m=$(master_node)
	curl -sf -X PUT --data on "http://$OBS_ADDR/v1/kv/resec/maintenance" >/dev/null
	run -0 --separate-stderr switchover
	n=$(master_node)
	[ "$n" != "$m" ]
	# Automatic failover is still paused: the new master's death is not repaired.
	v="REDIS_PID_n$n"
	kill -KILL "${!v}"
	wait_for "the master service to go" 10 no_master
	no_master_for 3
}
