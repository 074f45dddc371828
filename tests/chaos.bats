#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The random fault campaign (tests/chaos/chaos.py, docs/reliability.md) in its
# short form: its checks on made-up logs, a few rounds on a fixed seed with the
# quick settings, the harness catching violations it was made to see, and a
# Ctrl-C that leaves nothing behind. `make chaos` runs the long campaign.

load test_helper

CHAOS="$RESEC_ROOT/tests/chaos/chaos.py"

setup() {
	# Hermetic: no setting of the caller's (a CHAOS_SEED there would replay).
	for v in $(env | sed -n 's/^\(CHAOS_[A-Z_]*\)=.*/\1/p'); do
		unset "$v"
	done
	export CHAOS_DIR="$BATS_TEST_TMPDIR/chaos" CHAOS_PROFILE=quick
	mkdir -p "$CHAOS_DIR"
}

# chaos_left: processes of a campaign run under $BATS_TEST_TMPDIR still alive
# (found by the run's environment marker; Redis by its working directory).
chaos_left() {
	local p
	for p in /proc/[0-9]*; do
		if { tr '\0' '\n' <"$p/environ" | grep -q "^CHAOS_RUN=$BATS_TEST_TMPDIR/"; } 2>/dev/null; then
			echo "${p#/proc/}"
		elif [[ "$(cat "$p/comm" 2>/dev/null)" == redis* && "$(readlink "$p/cwd" 2>/dev/null)" == "$BATS_TEST_TMPDIR/"* ]]; then
			echo "${p#/proc/}"
		fi
	done
}

# show_evidence: the failure and the end of each node's log of a kept run.
show_evidence() {
	local d f
	for d in "$CHAOS_DIR"/run-*; do
		cat "$d/failure.txt" 2>/dev/null || true
		for f in "$d"/n*/resec.log; do
			echo "--- $f (last 30 lines above debug)"
			grep -v 'level=debug' "$f" | tail -n 30
		done
	done
}

# results FILTER: jq FILTER on the run's one results file.
results() {
	jq -r "$1" "$CHAOS_DIR"/chaos-*.json
}

@test "chaos --self-test: overlaps, gaps and draws judged right on made-up logs" {
	run -0 python3 "$CHAOS" --self-test
	echo "$output"
	[[ "$output" == *"self-test: 0 failed"* ]]
}

@test "chaos: a short campaign (3 rounds, quick settings, a fixed seed): no violation, nothing left behind" {
	# Fault windows capped at 10 s to fit the suite's time. A fixed seed (a
	# Redis kill, a leader loss, a partition): CI must not be a lottery;
	# `make chaos` draws fresh seeds, and RESEC_CHAOS_SEED picks another here.
	# A failure prints the command that replays it.
	run timeout -s INT 400 python3 "$CHAOS" --seed "${RESEC_CHAOS_SEED:-20261130}" --rounds 3 --max-fault 10
	echo "$output"
	[[ "$output" == *"seed="* ]]
	if [ "$status" -ne 0 ]; then
		# The run directory goes with $BATS_TEST_TMPDIR: show what it found;
		# the printed `make chaos` line replays it and keeps it in build/chaos.
		show_evidence
		false
	fi
	[ "$(results .rounds_run)" = 3 ]
	[ "$(results '.violations | length')" = 0 ]
	[ "$(results .writes.acknowledged)" -gt 0 ]
	[ -z "$(chaos_left)" ]
	# A clean run removes its run directory and keeps the results.
	run -0 find "$CHAOS_DIR" -maxdepth 1 -name 'run-*'
	[ -z "$output" ]
}

@test "chaos: an injected lost write, split-brain and stuck replica are caught, named and kept with the logs" {
	run timeout -s INT 200 python3 "$CHAOS" --rounds 2 --faults redis-kill-replica --inject loss,split,stuck \
		--settle 4 --stuck 2
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"VIOLATION seed="*"round=1 fault=redis-kill-replica"*"lost: 1 acknowledged writes missing"* ]]
	[[ "$output" == *"split-brain: n"*"both accepted writes"* ]]
	[[ "$output" == *"unsettled: not settled 4s after the fault healed"* ]]
	[[ "$output" == *"still not settled 6s after the heal"* ]]
	[[ "$output" == *"replay: make chaos CHAOS_SEED="*"CHAOS_ROUNDS=1 CHAOS_PROFILE=quick"* ]]
	[ "$(results .lost_writes)" = 1 ]
	[ "$(results '.violations_by_kind["split-brain"]')" = 1 ]
	[ "$(results '.violations_by_kind["unsettled"]')" = 1 ]
	# The run directory is kept: every node's logs and the emulator's events.
	local d
	d=$(results .rundir)
	[[ "$output" == *"run directory kept: $d"* ]]
	for f in events.json chaos.log writes.log probes.log n1/resec.log n2/resec.log n3/resec.log \
		n1/redis/redis.log n2/redis/redis.log n3/redis/redis.log; do
		[ -s "$d/$f" ]
	done
	[ -z "$(chaos_left)" ]
}

@test "chaos: Ctrl-C in the middle stops every process it started" {
	python3 "$CHAOS" --rounds 5 --faults partition >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	local pid=$!
	track_pid "$pid"
	wait_for "a settled cluster" 60 grep -q "cluster settled" "$BATS_TEST_TMPDIR/out"
	wait_for "the first fault" 30 sh -c "grep -q ' round 1: ' \"\$(sed -n 's/.* run=//p' '$BATS_TEST_TMPDIR/out')/chaos.log\""
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/out"
	[ "$rc" -eq 130 ]
	grep -q "interrupted by SIGINT" "$BATS_TEST_TMPDIR/out"
	[ -z "$(chaos_left)" ]
}
