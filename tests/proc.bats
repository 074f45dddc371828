#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# common/proc: process groups, signal forwarding, kill escalation, exit statuses.

load test_helper

setup() {
	TEST_PROC="$RESEC_BUILD/unit/test_proc"
	[ -x "$TEST_PROC" ] || skip "build the unit tests first (make units)"
}

# start_driver SIG TIMEOUT_MS PROG...: the driver in the background; sets DRIVER_PID, CHILD_PID.
start_driver() {
	"$TEST_PROC" stop "$@" >"$BATS_TEST_TMPDIR/driver.out" 2>"$BATS_TEST_TMPDIR/driver.err" &
	DRIVER_PID=$!
	track_pid "$DRIVER_PID"
	wait_for "driver output" 10 test -s "$BATS_TEST_TMPDIR/driver.out"
	CHILD_PID=$(head -1 "$BATS_TEST_TMPDIR/driver.out")
}

# wait_status PID CODE: wait for the background PID and check its exit status.
wait_status() {
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" -eq "$2" ] || { echo "exit status $rc, expected $2" >&2; return 1; }
}

@test "unit tests of proc pass" {
	run -0 "$TEST_PROC"
	[[ "$output" == *"test_proc: ok"* ]]
}

@test "the child leads its own process group" {
	start_driver TERM 2000 sleep 30
	pgid=$(ps -o pgid= -p "$CHILD_PID" | tr -d ' ')
	[ "$pgid" = "$CHILD_PID" ]
	kill -TERM "$DRIVER_PID"
	wait_status "$DRIVER_PID" 143
}

@test "grandchildren die with the group" {
	start_driver TERM 2000 sh -c "sleep 300 & echo \$! >'$BATS_TEST_TMPDIR/gc.pid'; wait"
	wait_for "grandchild pid" 10 test -s "$BATS_TEST_TMPDIR/gc.pid"
	gc=$(cat "$BATS_TEST_TMPDIR/gc.pid")
	kill -0 "$gc"
	kill -TERM "$DRIVER_PID"
	wait_status "$DRIVER_PID" 143
	run ! kill -0 "$gc"
}

@test "a grandchild left behind by an exiting child is stopped too" {
	start_driver TERM 2000 sh -c "sleep 300 & echo \$! >'$BATS_TEST_TMPDIR/gc.pid'; exit 3"
	wait_status "$DRIVER_PID" 3
	gc=$(cat "$BATS_TEST_TMPDIR/gc.pid")
	run ! kill -0 "$gc"
}

@test "a child killed by a signal reports 128+signal" {
	start_driver TERM 2000 sleep 30
	kill -USR1 "$CHILD_PID"
	wait_status "$DRIVER_PID" 138
}

@test "kill escalation: TERM ignored, SIGKILL after the timeout, whole group" {
	start_driver TERM 300 sh -c "trap '' TERM; sh -c 'trap \"\" TERM; echo \$\$ >\"$BATS_TEST_TMPDIR/gc.pid\"; sleep 300' & wait"
	wait_for "grandchild pid" 10 test -s "$BATS_TEST_TMPDIR/gc.pid"
	gc=$(cat "$BATS_TEST_TMPDIR/gc.pid")
	start=$SECONDS
	kill -TERM "$DRIVER_PID"
	wait_status "$DRIVER_PID" 137
	[ $((SECONDS - start)) -lt 5 ]
	grep -q 'killed=1' "$BATS_TEST_TMPDIR/driver.err"
	run ! kill -0 "$gc"
}

@test "the kill signal is configurable (INT)" {
	start_driver INT 2000 sleep 30
	kill -TERM "$DRIVER_PID"
	wait_status "$DRIVER_PID" 130
}
