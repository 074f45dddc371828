#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# End to end: three nodes on loopback (emulator --nodes 3, three redis-server,
# three scripts/resec). Every test ends with the S1/S2 check of the event log.

load test_helper
load cluster_helper

setup() {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
}

teardown() {
	cluster_teardown
}

# wait_settled: the cluster has one master and two synced replicas.
wait_settled() {
	wait_for "a settled cluster" "${1:-30}" cluster_settled
}

@test "cold start: one master, two replicas replicating it, services passing" {
	cluster_start
	wait_settled
	m=$(master_node)
	[ "$(consul_master | wc -l)" -eq 1 ]
	run -0 curl -sf "http://$OBS_ADDR/v1/kv/resec/.lock"
	# jq reads numbers as doubles; the lock flag needs all 64 bits.
	[[ "$output" == *'"Flags":3304740253564472344'* ]]
	[ "$(echo "$output" | jq -r '.[0].Value' | base64 -d)" = ":$(redis_port "$m")" ]
	run -0 "$RESEC_ROLE" --redis-addr "127.0.0.1:$(redis_port "$m")" show
	[ "$output" = master ]
}

@test "redis crash on the master: a replica takes over, the third follows, data kept" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	# WAIT counts the acknowledgements of this connection's writes: one connection.
	[ "$(printf 'SET before-crash yes\nWAIT 2 5000\n' | rcli "$mport" | tail -n 1)" = 2 ]
	kill -KILL "$(eval echo "\$REDIS_PID_n$m")"
	wait_for "a new master" 20 has_master_other_than "$mport"
	n=$(master_node)
	[ "$n" != "$m" ]
	[ "$(rcli "$(redis_port "$n")" get before-crash)" = yes ]
	run -0 rcli "$(redis_port "$n")" set after-crash yes
	[ "$output" = OK ]
	for i in 1 2 3; do
		[ "$i" = "$m" ] || [ "$i" = "$n" ] || wait_for "node $i follows" 20 replicates "$i" "$(redis_port "$n")"
	done
}

@test "node loss: failover after lock-delay, not after the session's full expiry" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	kill_node_resec "$m" KILL
	kill -KILL "$(eval echo "\$REDIS_PID_n$m")"
	t0=$SECONDS
	curl -sf -X PUT "http://$OBS_ADDR/_emu/node/node$m/fail" >/dev/null
	wait_for "a new master" 30 has_master_other_than "$mport"
	# serf delay 1s + lock-delay 2s; the session alone would take 2 × 10s.
	[ $((SECONDS - t0)) -lt 15 ]
}

@test "resec killed on the master node while redis lives: old master stops passing, fenced" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	kill -KILL "$(eval echo "\$RESEC_PID_$m")"
	wait_for "a new master" 30 has_master_other_than "$mport"
	# Its children saw their parent die: the lock holder fenced the old master.
	wait_for "old master fenced" 10 sh -c "'$RESEC_ROLE' --redis-addr 127.0.0.1:$mport show | grep -q fenced"
	run rcli "$mport" set late-write x
	[[ "$output" == *NOREPLICAS* || "$output" == *READONLY* ]]
}

@test "partition of the master's agent: old master refuses writes before the new one accepts any" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	python3 "$RESEC_ROOT/tests/writer.py" "$mport" 25 >"$BATS_TEST_TMPDIR/old.writes" &
	track_pid $!
	curl -sf -X PUT "http://$OBS_ADDR/_emu/node/node$m/partition" >/dev/null
	wait_for "a new master" 30 has_master_other_than "$mport"
	n=$(master_node)
	python3 "$RESEC_ROOT/tests/writer.py" "$(redis_port "$n")" 3 >"$BATS_TEST_TMPDIR/new.writes"
	last_old_ok=$(awk '$2 == "ok" { t = $1 } END { print t }' "$BATS_TEST_TMPDIR/old.writes")
	first_new_ok=$(awk '$2 == "ok" { print $1; exit }' "$BATS_TEST_TMPDIR/new.writes")
	echo "last write on the old master $last_old_ok, first on the new $first_new_ok" >&2
	[ -n "$first_new_ok" ]
	awk -v a="$last_old_ok" -v b="$first_new_ok" 'BEGIN { exit !(a < b) }'
	curl -sf -X PUT "http://$OBS_ADDR/_emu/node/node$m/heal" >/dev/null
	curl -sf -X PUT "http://$OBS_ADDR/_emu/node/node$m/recover" >/dev/null || true
	wait_for "old master rejoins as a replica" 40 replicates "$m" "$(redis_port "$n")"
}

@test "the old master restarts with its data: fenced, then a replica, never master" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	rcli "$mport" set old-data 1 >/dev/null
	rcli "$mport" save >/dev/null
	kill -KILL "$(eval echo "\$REDIS_PID_n$m")"
	wait_for "a new master" 20 has_master_other_than "$mport"
	n=$(master_node)
	redis-server --bind 127.0.0.1 --port "$mport" --dir "$BATS_TEST_TMPDIR/redis-n$m" \
		--save '' --appendonly no --repl-diskless-sync-delay 0 --logfile "$BATS_TEST_TMPDIR/redis-n$m/redis2.log" &
	track_pid $!
	wait_for "node $m follows" 30 replicates "$m" "$(redis_port "$n")"
	[ "$(master_node)" = "$n" ]
}

@test "an empty redis restarting never becomes master ahead of peers with data" {
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	[ "$(printf 'SET precious 1\nWAIT 2 5000\n' | rcli "$mport" | tail -n 1)" = 2 ]
	kill -KILL "$(eval echo "\$REDIS_PID_n$m")"
	redis-server --bind 127.0.0.1 --port "$mport" --dir "$BATS_TEST_TMPDIR/redis-n$m" \
		--save '' --appendonly no --dbfilename empty.rdb --logfile "$BATS_TEST_TMPDIR/redis-n$m/redis2.log" &
	track_pid $!
	wait_for "a new master" 30 has_master_other_than "$mport"
	n=$(master_node)
	[ "$n" != "$m" ]
	[ "$(rcli "$(redis_port "$n")" get precious)" = 1 ]
	wait_for "node $m follows" 30 replicates "$m" "$(redis_port "$n")"
}

# node_stopped I: no process of node I's resec is left.
node_stopped() {
	[ -z "$(node_pids "$1")" ]
}

# lock_waiting I: node I's resec-lock holds a session, i.e. it contends.
lock_waiting() {
	[ "$(curl -sf --max-time 5 "http://$OBS_ADDR/v1/session/node/node$1" | jq '[.[] | select(.Name == "resec")] | length')" = 1 ]
}

@test "an empty redis contends as soon as it synced, not after the whole empty hold-back" {
	cluster_start
	wait_settled
	m=$(master_node)
	r=$((m % 3 + 1))
	kill_node_resec "$r" TERM
	wait_for "node $r's resec stopped" 20 node_stopped "$r"
	kill -KILL "$(eval echo "\$REDIS_PID_n$r")"
	redis-server --bind 127.0.0.1 --port "$(redis_port "$r")" --dir "$BATS_TEST_TMPDIR/redis-n$r" \
		--save '' --appendonly no --dbfilename empty.rdb --logfile "$BATS_TEST_TMPDIR/redis-n$r/redis2.log" &
	track_pid $!
	# An empty Redis holds back 2 × HEALTHCHECK_INTERVAL = 60 s here, unless
	# it ends early once its link is up; peers' gates would defer to it meanwhile.
	resec_start "$r" HEALTHCHECK_INTERVAL=30s
	wait_for "node $r follows" 20 replicates "$r" "$(redis_port "$m")"
	wait_for "node $r contends for the lock" 20 lock_waiting "$r"
	grep -q 'redis is empty; letting peers with data contend first' "$BATS_TEST_TMPDIR/resec$r.log"
}

@test "graceful stop of the master's resec: a replica takes over without lock-delay" {
	E2E_LOCK_DELAY=10s
	cluster_start
	wait_settled
	m=$(master_node)
	mport=$(redis_port "$m")
	t0=$(date +%s%N)
	kill -QUIT "$(eval echo "\$RESEC_PID_$m")"
	wait_for "a new master" 20 has_master_other_than "$mport"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "handover took ${ms} ms" >&2
	[ "$ms" -lt 8000 ]
	wait_for "resec $m exits" 20 sh -c "! kill -0 $(eval echo "\$RESEC_PID_$m") 2>/dev/null"
}

@test "start-up: bad configuration is one line naming the variable, exit 64" {
	HEALTHCHECK_INTERVAL=5 run -64 --separate-stderr "$RESEC_ROOT/scripts/resec"
	[[ "$stderr" == "resec: "*"HEALTHCHECK_INTERVAL"*'"5"'* ]]
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
	run -64 --separate-stderr "$RESEC_ROOT/scripts/resec" --bogus
}

@test "start-up: redis down, then consul down: clear waiting lines, nothing changed, clean stop" {
	port=$(free_port)
	consul_port=$(free_port)
	REDIS_ADDR=127.0.0.1:$port CONSUL_HTTP_ADDR=127.0.0.1:$consul_port HEALTHCHECK_TIMEOUT=200ms \
		"$RESEC_ROOT/scripts/resec" 2>"$BATS_TEST_TMPDIR/resec.log" &
	pid=$!
	track_pid "$pid"
	wait_for "the redis waiting line" 10 grep -q 'waiting for redis' "$BATS_TEST_TMPDIR/resec.log"
	mkdir -p "$BATS_TEST_TMPDIR/late"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$BATS_TEST_TMPDIR/late" --save '' &
	track_pid $!
	wait_for "the consul waiting line" 15 grep -q 'consul does not answer' "$BATS_TEST_TMPDIR/resec.log"
	# Nothing is changed in Redis while Consul is away: no fence, still master.
	run -0 "$RESEC_ROLE" --redis-addr "127.0.0.1:$port" show
	[ "$output" = master ]
	kill -TERM "$pid"
	wait_for "resec exits" 10 sh -c "! kill -0 $pid 2>/dev/null"
	wait "$pid"
}
