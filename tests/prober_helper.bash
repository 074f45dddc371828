# SPDX-License-Identifier: MIT
# The write prober of the fault suites (tests/blip.bats, tests/peerdetect.bats):
# tests/prober.py writes to every Redis every 25 ms; two Redis taking writes in
# the same round fails the test. Needs cluster_helper.bash (CLUSTER_N,
# redis_port, OBS_ADDR).

# mono: the monotonic clock (the prober's and the emulator's).
mono() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }

# ctl PATH: a control request to the emulator (through the observer's agent).
ctl() { curl -sf --max-time 5 -X PUT "http://$OBS_ADDR$1" >/dev/null; }

# le A B: A <= B (decimal numbers).
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# plus A B: A + B (decimal numbers, 3 places).
plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

# probe_start: write to every Redis every 25 ms from now on.
probe_start() {
	local ports=() i
	for i in $(seq "$CLUSTER_N"); do ports+=("$(redis_port "$i")"); done
	python3 "$RESEC_ROOT/tests/prober.py" run "$BATS_TEST_TMPDIR/probe" "${ports[@]}" &
	PROBER=$!
	track_pid "$PROBER"
	wait_for "the prober's first write" 10 test -s "$BATS_TEST_TMPDIR/probe"
}

# probe_report [--from T] [--to T]: the JSON summary; fails on two writable Redis.
probe_report() {
	python3 "$RESEC_ROOT/tests/prober.py" report "$BATS_TEST_TMPDIR/probe" "$@"
}

# max_gap [--from T] [--to T]: the longest time without a write, in seconds.
max_gap() {
	probe_report "$@" | jq -r .max_gap_s
}

# first_write_after T [PORT]: the time of the first accepted write after T (on PORT), or 1e9.
first_write_after() {
	awk -v t="$1" -v p="${2:-}" '$2 ~ /^[0-9]+$/ && $1 > t && (p == "" || $2 == p) { print $1; f = 1; exit }
		END { if (!f) print 1e9 }' "$BATS_TEST_TMPDIR/probe"
}

# wrote_after T [PORT]: the prober has recorded an accepted write after T (on
# PORT); for wait_for, instead of sleeping while the prober writes.
wrote_after() {
	[ "$(first_write_after "$@")" != 1e9 ]
}

# finish NAME [--from T]: stop the prober, print its summary, fail on two writable Redis.
# shellcheck disable=SC2154 # output and status: set by bats' run
finish() {
	local name="$1"
	shift
	kill -TERM "$PROBER"
	wait "$PROBER" 2>/dev/null || true
	PROBER=
	run probe_report "$@"
	echo "$name: $output" >&3
	[ "$status" -eq 0 ]
}
