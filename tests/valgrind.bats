#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# valgrind over the one-shot paths of every program and a whole lock cycle,
# on the plain build (ASan and valgrind do not mix): no error, no leak.

load test_helper
load cluster_helper

teardown() {
	cluster_teardown
}

setup() {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	PLAIN="$RESEC_ROOT/build/bin"
	[ -x "$PLAIN/resec-lock" ] || skip "plain build missing (make)"
}

# vg NAME PROG ARGS...: run PROG under valgrind; its status in VG_STATUS.
vg() {
	local name="$1"
	shift
	VG_STATUS=0
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--error-exitcode=42 --log-file="$BATS_TEST_TMPDIR/vg-$name.txt" "$@" \
		>"$BATS_TEST_TMPDIR/vg-$name.out" 2>"$BATS_TEST_TMPDIR/vg-$name.err" || VG_STATUS=$?
	if [ -s "$BATS_TEST_TMPDIR/vg-$name.txt" ]; then
		cat "$BATS_TEST_TMPDIR/vg-$name.txt" >&2
		return 1
	fi
	[ "$VG_STATUS" -ne 42 ]
}

@test "valgrind: resec-role show, fence, master, replica and an error path" {
	start_redis M
	start_redis R
	export REDIS_ADDR="127.0.0.1:$REDIS_PORT_R"
	vg show "$PLAIN/resec-role" show
	vg fence "$PLAIN/resec-role" fence
	vg master "$PLAIN/resec-role" master
	vg replica "$PLAIN/resec-role" replica "127.0.0.1:$REDIS_PORT_M"
	[ "$VG_STATUS" -eq 0 ]
	vg refused "$PLAIN/resec-role" --redis-addr "127.0.0.1:$(free_port)" show
	[ "$VG_STATUS" -eq 69 ]
}

@test "valgrind: resec-health check and wait" {
	start_redis A
	export REDIS_ADDR="127.0.0.1:$REDIS_PORT_A"
	vg check "$PLAIN/resec-health" check
	[ "$VG_STATUS" -eq 0 ]
	vg wait "$PLAIN/resec-health" wait --timeout 2s
	[ "$VG_STATUS" -eq 0 ]
}

@test "valgrind: resec-lock acquires, runs a child, releases; resec-watch --once; resec-status" {
	emu_start
	start_redis A
	export REDIS_ADDR="127.0.0.1:$REDIS_PORT_A"
	vg lock "$PLAIN/resec-lock" --lock-delay 1s -- sh -c 'test -n "$RESEC_LOCK_SESSION"'
	[ "$VG_STATUS" -eq 0 ]
	[ "$(curl -sf "http://$EMU_ADDR/v1/kv/resec/.lock" | jq -r '.[0].Session // "none"')" = none ]
	vg watch "$PLAIN/resec-watch" --once
	[ "$VG_STATUS" -eq 0 ]
	vg status "$PLAIN/resec-status"
	[ "$VG_STATUS" -eq 1 ] # no master: an unhealthy cluster
}

@test "valgrind: resec-switchover hands the master over; a refusal" {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
	cluster_start
	wait_for "a settled cluster" 30 cluster_settled
	m=$(master_node)
	vg refused "$PLAIN/resec-switchover" --consul-http-addr "$OBS_ADDR" --to 127.0.0.1:1
	[ "$VG_STATUS" -eq 1 ]
	vg switchover "$PLAIN/resec-switchover" --consul-http-addr "$OBS_ADDR" --timeout 30s
	[ "$VG_STATUS" -eq 0 ]
	[ "$(master_node)" != "$m" ]
}
