#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The benchmark harness in its cheapest forms: one Sentinel crash failover
# (bench/run --self-test), one resec crash failover when the programs and the
# emulator are built, and a Ctrl-C in the middle; each must write its result
# and leave no process behind.

load test_helper

setup() {
	if ! command -v redis-sentinel >/dev/null 2>&1; then
		skip "redis-sentinel is not installed"
	fi
	export TMPDIR="$BATS_TEST_TMPDIR"
}

# bench_left: pids of processes a bench run under $BATS_TEST_TMPDIR started.
bench_left() {
	local p
	for p in /proc/[0-9]*; do
		if { tr '\0' '\n' <"$p/environ" | grep -q "^BENCH_MARK=$BATS_TEST_TMPDIR/resec-bench\."; } 2>/dev/null; then
			echo "${p#/proc/}"
		fi
	done
}

# result_field FILE SYSTEM METRIC: the median of METRIC for SYSTEM.
result_field() {
	jq -r --arg s "$2" --arg m "$3" '.systems[$s].stats[$m].median' "$1"
}

@test "bench/run --help and a bad scenario" {
	run -0 "$RESEC_ROOT/bench/run" --help
	[[ "$output" == *"usage: bench/run"* ]]
	run -64 --separate-stderr "$RESEC_ROOT/bench/run" --scenario nosuch
	[[ "$stderr" == *"unknown scenario nosuch"* ]]
}

@test "bench/run --self-test: one Sentinel crash failover, a result file, nothing left" {
	run --separate-stderr "$RESEC_ROOT/bench/run" --self-test --out "$BATS_TEST_TMPDIR/results" 3>&-
	# Its own account of a failure (seen once under three parallel suites, exit 1 in 0.5 s).
	[ "$status" -eq 0 ] || { printf '%s\n' "$stderr" | tail -20; false; }
	local f
	f=$(ls "$BATS_TEST_TMPDIR"/results/*-crash.json)
	# Sentinel at down-after 5 s cannot fail over sooner than that.
	run -0 result_field "$f" sentinel-5000 write_s
	python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 5.0 <= v <= 40 else 1)' "$output"
	jq -e '.machine.nproc >= 1 and (.versions.redis | length > 0)' "$f"
	[ -z "$(bench_left)" ]
	[ -z "$(ls -d "$BATS_TEST_TMPDIR"/resec-bench.* 2>/dev/null)" ]
}

@test "bench/run: one resec crash failover against the emulator" {
	[ -x "$CONSUL_EMU" ] || skip "the Consul emulator is not there"
	[ -x "$RESEC_HEALTH" ] && [ -x "$RESEC_LOCK" ] || skip "the programs are not built"
	run -0 --separate-stderr env RESEC_BUILD="$RESEC_BUILD" CONSUL_EMU="$CONSUL_EMU" \
		"$RESEC_ROOT/bench/run" --quick --resec-only --scenario crash -n 1 \
		--out "$BATS_TEST_TMPDIR/results" 3>&-
	local f
	f=$(ls "$BATS_TEST_TMPDIR"/results/*-crash.json)
	run -0 result_field "$f" resec write_s
	python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 0 < v <= 30 else 1)' "$output"
	[ -z "$(bench_left)" ]
}

@test "bench/run: Ctrl-C kills every process it started" {
	# A terminal's Ctrl-C sends INT to the whole foreground process group, and
	# bash waits for its foreground child to die of it before running its
	# trap: run the harness in a group of its own (setsid) with INT not ignored
	# (a background job starts with INT ignored) and signal the group.
	setsid python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$RESEC_ROOT/bench/run" --self-test \
		--out "$BATS_TEST_TMPDIR/results" >"$BATS_TEST_TMPDIR/run.log" 2>&1 3>&- &
	local pid=$!
	track_pid "$pid"
	wait_for "sentinels running" 30 sh -c "[ -n \"\$(ls -d $BATS_TEST_TMPDIR/resec-bench.*/sentinel.*/s2 2>/dev/null)\" ]"
	kill -INT -- "-$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ -z "$(bench_left)" ]
	[ -z "$(ls -d "$BATS_TEST_TMPDIR"/resec-bench.* 2>/dev/null)" ]
}
