#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-failsafe: the failsafe channel (docs/election.md, "Failsafe mode"): the
# proof's judge on Redis 7 texts (tests/unit/test_failsafe.c), then report,
# keep and check against real Redis servers and the emulator.

load test_helper

: "${RESEC_FAILSAFE_BIN:=$RESEC_BUILD/bin/resec-failsafe}"

@test "failsafe: every unit case passes" {
	[ -x "$RESEC_BUILD/unit/test_failsafe" ] || skip "unit tests not built (make units)"
	run -0 "$RESEC_BUILD/unit/test_failsafe"
	echo "$output"
	[[ "$output" != *"not ok"* ]]
}

@test "usage: a missing or unknown command is 64" {
	run -64 --separate-stderr "$RESEC_FAILSAFE_BIN"
	[[ "$stderr" == *"missing command"* ]]
	run -64 --separate-stderr "$RESEC_FAILSAFE_BIN" nope
	run -69 --separate-stderr "$RESEC_FAILSAFE_BIN" --redis-addr "127.0.0.1:$(free_port)" check
	[[ "$output" == "failsafe: cannot read this redis"* ]]
}

# bg NAME PORT CMD...: run CMD against the Redis on PORT in the background; pid in PID_NAME.
bg() {
	local name="$1" port="$2"
	shift 2
	REDIS_ADDR="127.0.0.1:$port" HEALTHCHECK_INTERVAL=200ms HEALTHCHECK_TIMEOUT=1s "$@" \
		>"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.log" &
	printf -v "PID_$name" '%s' "$!"
	track_pid "$!"
}

# proof: resec-failsafe check against the master; prints its line, exit status as it.
proof() {
	REDIS_ADDR="127.0.0.1:$REDIS_PORT_m" "$RESEC_FAILSAFE_BIN" check
}

holds() { proof | grep -q "holding master with 2/2 peers confirmed"; }

@test "report, keep, check: the proof holds only while every peer reports that Consul does not answer" {
	emu_requires_control
	emu_start
	start_redis m
	start_redis r1 --replicaof 127.0.0.1 "$REDIS_PORT_m"
	start_redis r2 --replicaof 127.0.0.1 "$REDIS_PORT_m"
	bg h1 "$REDIS_PORT_r1" "$RESEC_HEALTH" run --role replica
	bg h2 "$REDIS_PORT_r2" "$RESEC_HEALTH" run --role replica
	run -1 proof
	[[ "$output" == *"no view of the peers"* ]]
	bg keep "$REDIS_PORT_m" "$RESEC_FAILSAFE_BIN" keep
	wait_for "the view of both replicas" 10 grep -q "peers the master waits for.*127.0.0.1:$REDIS_PORT_r2" \
		"$BATS_TEST_TMPDIR/keep.log"
	[[ "$(emu_curl /v1/kv/resec/failsafe?raw)" == *"127.0.0.1:$REDIS_PORT_r1"* ]]
	run -1 proof
	[[ "$output" == *"sends no report"* ]]
	bg rep1 "$REDIS_PORT_r1" "$RESEC_FAILSAFE_BIN" report
	bg rep2 "$REDIS_PORT_r2" "$RESEC_FAILSAFE_BIN" report
	wait_for "both peers report" 10 sh -c "! REDIS_ADDR=127.0.0.1:$REDIS_PORT_m $RESEC_FAILSAFE_BIN check | grep -q 'sends no report'"
	# Consul answers them: no proof, the master must fence when its own lock is unconfirmed.
	run -1 proof
	[[ "$output" == *"reaches consul"* ]]
	emu_ctl /_emu/leader/lose
	wait_for "the proof" 10 holds
	grep -q "consul unreachable; telling the master" "$BATS_TEST_TMPDIR/rep1.log"
	# A peer that stops reporting: its connection closes, the proof ends at once.
	kill -TERM "$PID_rep2"
	wait_for "no proof" 5 sh -c "! REDIS_ADDR=127.0.0.1:$REDIS_PORT_m $RESEC_FAILSAFE_BIN check | grep -q 'holding'"
	run -1 proof
	[[ "$output" == *"127.0.0.1:$REDIS_PORT_r2 sends no report"* ]]
	bg rep2 "$REDIS_PORT_r2" "$RESEC_FAILSAFE_BIN" report
	wait_for "the proof again" 10 holds
	# A peer stalled (SIGSTOP): its report ages out within 3 s.
	kill -STOP "$PID_rep2"
	wait_for "a stale report" 6 sh -c "REDIS_ADDR=127.0.0.1:$REDIS_PORT_m $RESEC_FAILSAFE_BIN check | grep -q 'has not reported'"
	kill -CONT "$PID_rep2"
	wait_for "the proof again" 10 holds
	emu_ctl /_emu/leader/restore
	wait_for "Consul answers the peers again" 10 sh -c "REDIS_ADDR=127.0.0.1:$REDIS_PORT_m $RESEC_FAILSAFE_BIN check | grep -q 'reaches consul'"
}

@test "keep: a new replica is waited for before the members key lists it" {
	emu_start
	start_redis m
	start_redis r1 --replicaof 127.0.0.1 "$REDIS_PORT_m"
	bg h1 "$REDIS_PORT_r1" "$RESEC_HEALTH" run --role replica
	bg keep "$REDIS_PORT_m" "$RESEC_FAILSAFE_BIN" keep
	wait_for "the view of one replica" 10 grep -q "peers the master waits for.*$REDIS_PORT_r1" "$BATS_TEST_TMPDIR/keep.log"
	[ "$(emu_curl /v1/kv/resec/failsafe?raw)" = "127.0.0.1:$REDIS_PORT_r1" ]
	start_redis r2 --replicaof 127.0.0.1 "$REDIS_PORT_m"
	bg h2 "$REDIS_PORT_r2" "$RESEC_HEALTH" run --role replica
	wait_for "the members key with both" 10 sh -c "curl -sf http://$EMU_ADDR/v1/kv/resec/failsafe?raw | grep -q $REDIS_PORT_r2"
	# The view names both, in whatever order the catalog gave them.
	view=$(rcli "$REDIS_PORT_m" client list | sed -n 's/.*name=resec-fs-view:\([^ ]*\) .*/\1/p' | tr , '\n' | sort | paste -sd,)
	[ "$view" = "$(printf '127.0.0.1:%s\n' "$REDIS_PORT_r1" "$REDIS_PORT_r2" | sort | paste -sd,)" ]
	# Stopped, the view goes with its connection: no proof without it.
	kill -TERM "$PID_keep"
	wait_for "the view gone" 5 sh -c "! redis-cli -p $REDIS_PORT_m client list | grep -q resec-fs-view"
}
