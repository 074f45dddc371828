#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-watch against the Consul emulator: one line or one run per real change,
# zero/several/self masters, retries, stopping a running program, Consul restart.

load test_helper

setup() {
	T="$BATS_TEST_TMPDIR"
}

# register ID PORT [ADDRESS [NAME [TAGS-JSON [NODE]]]]: a passing instance;
# returns once the catalog has it (anti-entropy).
register() {
	local id="$1" port="$2" addr="${3:-}" name="${4:-redis-master}" tags="${5:-[]}" node="${6:-1}"
	emu_node_curl "$node" /v1/agent/service/register -X PUT -f -d \
		"{\"ID\":\"$id\",\"Name\":\"$name\",\"Port\":$port,\"Address\":\"$addr\",\"Tags\":$tags,\"Check\":{\"TTL\":\"300s\",\"Status\":\"passing\"}}"
	emu_synced
}

deregister() {
	emu_node_curl "${2:-1}" "/v1/agent/service/deregister/$1" -X PUT -f
	emu_synced
}

# start_watch NAME [options] [-- prog...]: resec-watch in the background; stdout
# to $T/NAME.out, stderr to $T/NAME.err; sets WATCH_PID.
start_watch() {
	local name="$1"
	shift
	"$RESEC_WATCH" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	WATCH_PID=$!
	track_pid "$WATCH_PID"
}

lines() { wc -l <"$1" 2>/dev/null || echo 0; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

wait_status() {
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" -eq "$2" ] || { echo "exit status $rc, expected $2" >&2; return 1; }
}

# record: a program that appends its RESEC_MASTER_ADDR to $T/runs.
record() {
	printf '%s\n' "sh" "-c" "echo \"\$RESEC_MASTER_ADDR\" >>'$T/runs'"
}

@test "--help, bad flags, --once with a program are usage errors" {
	run -0 "$RESEC_WATCH" --help
	[[ "$output" == *"usage: resec-watch"* ]]
	run -64 --separate-stderr "$RESEC_WATCH" --bogus
	[[ "$stderr" == *"--bogus"* ]]
	run -64 --separate-stderr "$RESEC_WATCH" --self nope
	[[ "$stderr" == *"--self"* ]]
	run -64 --separate-stderr "$RESEC_WATCH" --once -- true
	[[ "$stderr" == *"--once"* ]]
}

@test "--once: Consul unreachable exits 69" {
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" run -69 "$RESEC_WATCH" --once
}

@test "--once prints the master (Service.Address, else Node.Address), or an empty line" {
	emu_start
	run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "" ]
	register a 7001
	run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "127.0.0.1:7001" ]
	deregister a
	register b 7002 10.1.2.3
	run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "10.1.2.3:7002" ]
	run -0 --separate-stderr "$RESEC_WATCH" --once --service other
	[ "$output" = "" ]
}

@test "print mode: fires at start, one line per change, in order, none for spurious wake-ups" {
	emu_requires_control
	emu_start
	start_watch w --self 10.9.9.9:1
	wait_for "the first line" 5 has_lines "$T/w.out" 1
	register a 7001 10.0.0.1
	wait_for "a" 5 has_lines "$T/w.out" 2
	register b 7002 10.0.0.2
	wait_for "two masters logged" 5 grep -q "several passing masters" "$T/w.err"
	deregister a
	wait_for "b" 5 has_lines "$T/w.out" 3
	# Spurious wake-ups and check output changes: same set, no line.
	for _ in 1 2 3; do emu_ctl /_emu/wake; done
	emu_curl "/v1/agent/check/pass/service:b?note=still-fine" -X PUT -f
	sleep 1.5 # the window: no line for the same set
	printf '\n10.0.0.1:7001\n10.0.0.2:7002\n' | diff - "$T/w.out"
	deregister b
	wait_for "the empty line" 5 has_lines "$T/w.out" 4
	[ "$(tail -1 "$T/w.out")" = "" ]
	kill -TERM "$WATCH_PID"
	wait_status "$WATCH_PID" 0
}

@test "prog mode: one run per change with RESEC_MASTER_ADDR; zero and two masters run nothing" {
	emu_requires_control
	emu_start
	register a 7001 10.0.0.1
	mapfile -t prog < <(record)
	start_watch w --self 10.9.9.9:1 -- "${prog[@]}"
	wait_for "the run for a" 5 has_lines "$T/runs" 1
	register b 7002 10.0.0.2
	wait_for "two masters" 10 grep -q "several passing masters" "$T/w.err"
	deregister a
	wait_for "the run for b" 10 has_lines "$T/runs" 2
	deregister b
	# [C3]: churn slows the loop down (token bucket), so allow for its delays.
	wait_for "no master logged" 20 grep -q "no passing master" "$T/w.err"
	register c 7003 10.0.0.3
	wait_for "the run for c" 20 has_lines "$T/runs" 3
	printf '10.0.0.1:7001\n10.0.0.2:7002\n10.0.0.3:7003\n' | diff - "$T/runs"
}

@test "this node's own address is skipped (host:port, and :port on loopback)" {
	emu_start
	register a 7001 10.0.0.1
	mapfile -t prog < <(record)
	start_watch w --self 10.0.0.1:7001 -- "${prog[@]}"
	wait_for "skip logged" 5 grep -q "the master is this node" "$T/w.err"
	register b 7002
	deregister a
	wait_for "the run for b" 5 has_lines "$T/runs" 1
	[ "$(cat "$T/runs")" = "127.0.0.1:7002" ]
	kill -TERM "$WATCH_PID"
	wait_status "$WATCH_PID" 0
	# ":port" (ANNOUNCE_ADDR style): Node.Address 127.0.0.1 with that port is us.
	ANNOUNCE_ADDR=:7002 run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "127.0.0.1:7002" ]
	ANNOUNCE_ADDR=:7002 start_watch v
	wait_for "skip logged" 5 grep -q "the master is this node" "$T/v.err"
	[ "$(lines "$T/v.out")" = 0 ]
}

@test "a failing program is retried with back-off until it succeeds" {
	emu_start
	register a 7001 10.0.0.1
	start_watch w -- sh -c "n=\$(cat '$T/n' 2>/dev/null || echo 0); echo \$((n + 1)) >'$T/n'; [ \$n -ge 2 ]"
	wait_for "third run" 10 sh -c "[ \"\$(cat '$T/n' 2>/dev/null)\" = 3 ]"
	wait_for "success logged" 5 grep -q "program succeeded" "$T/w.err"
	[ "$(grep -c "program failed, retrying" "$T/w.err")" = 2 ]
	sleep 1.5 # the window: no run after the success
	[ "$(cat "$T/n")" = 3 ]
}

@test "after a run of Consul errors the watch asks again within seconds (back-off capped at 5 s)" {
	emu_requires_control
	emu_start
	register a 7001 10.0.0.1
	emu_ctl "/_emu/fault?path=/v1/health/service/redis-master&status=500&count=5"
	local start=$SECONDS
	start_watch w
	# Five errors back off 0.5, 2, 4.5, 5, 5 s (jitter halves at most): 8.5-17 s.
	# Squares up to 30 s (consul watch's rule) would take 27.5 s at least.
	wait_for "the master after five errors" 40 has_lines "$T/w.out" 1
	echo "  first answer $((SECONDS - start))s after the start" >&3
	[ "$(grep -c "cannot query the master service" "$T/w.err")" = 5 ]
	[ $((SECONDS - start)) -le 23 ]
	[ "$(cat "$T/w.out")" = "10.0.0.1:7001" ]
}

@test "a still-running program is stopped before the next run; TERM stops it and exits 0" {
	emu_start
	register a 7001 10.0.0.1
	start_watch w --kill-timeout 2s -- sh -c "echo \"start \$RESEC_MASTER_ADDR\" >>'$T/log'; trap 'echo term >>\"$T/log\"; exit 0' TERM; sleep 300 & wait"
	wait_for "first run" 5 grep -q "start 10.0.0.1:7001" "$T/log"
	register b 7002 10.0.0.2
	deregister a
	wait_for "second run" 5 grep -q "start 10.0.0.2:7002" "$T/log"
	printf 'start 10.0.0.1:7001\nterm\nstart 10.0.0.2:7002\n' | diff - "$T/log"
	kill -TERM "$WATCH_PID"
	wait_status "$WATCH_PID" 0
	[ "$(tail -1 "$T/log")" = term ]
}

@test "the parent dies (SIGKILL): resec-watch stops its program and exits" {
	emu_start
	register a 7001 10.0.0.1
	sh -c 'echo $$ >"$1"; "$2" -- sh -c "echo \$\$ >$3; trap \"echo term >>$3.log; exit 0\" TERM; sleep 300 & wait" & echo $! >"$1.watch"; wait' sh \
		"$T/parent.pid" "$RESEC_WATCH" "$T/prog.pid" &
	track_pid $!
	wait_for "the program" 10 test -s "$T/prog.pid"
	track_pid "$(cat "$T/parent.pid.watch")"
	kill -KILL "$(cat "$T/parent.pid")"
	wait_for "the program stopped" 10 grep -q term "$T/prog.pid.log"
	wait_for "resec-watch gone" 10 sh -c "! kill -0 $(cat "$T/parent.pid.watch") 2>/dev/null"
}

@test "tag mode: CONSUL_SERVICE_NAME with the first of MASTER_TAGS" {
	emu_start
	register m 7001 10.0.0.1 redis '["master","x"]'
	register s 7002 10.0.0.2 redis '["slave"]'
	CONSUL_SERVICE_NAME=redis MASTER_TAGS=master,primary run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "10.0.0.1:7001" ]
	CONSUL_SERVICE_NAME=redis run -64 "$RESEC_WATCH" --once
}

@test "Consul restart (new emulator on the same port, lower index) is recovered" {
	emu_requires_control
	port=$(free_port)
	emu_start --port "$port"
	register a 7001 10.0.0.1
	start_watch w --self 10.9.9.9:1
	wait_for "a" 5 has_lines "$T/w.out" 1
	kill -KILL "$EMU_PID"
	wait "$EMU_PID" 2>/dev/null || true
	wait_for "errors logged" 10 grep -q "cannot query" "$T/w.err"
	emu_start --port "$port"
	register b 7002 10.0.0.2
	# A retry that lands before b reaches the new catalog sees no master and
	# prints an empty line first: wait for b itself.
	wait_for "b" 15 sh -c "tail -1 '$T/w.out' | grep -qx '10.0.0.2:7002'"
	[ "$(tail -1 "$T/w.out")" = "10.0.0.2:7002" ]
	# The index went backwards: reset, then blocking again (no busy loop).
	emu_ctl /_emu/stats/reset
	sleep 2 # the window: the reads counted
	[ "$(emu_curl /_emu/stats | jq '(.server.total // 0) + (.agent.total // 0)')" -le 3 ]
}

@test "an index regression is followed by one read at once, then blocking again" {
	emu_requires_control
	emu_start
	register a 7001 10.0.0.1
	start_watch w --self 10.9.9.9:1
	wait_for "a" 5 has_lines "$T/w.out" 1
	emu_ctl "/_emu/index/regress?count=2"
	emu_ctl /_emu/wake
	sleep 1 # kept out of the count: the read at once after the regression (nothing logs it)
	emu_ctl /_emu/stats/reset
	sleep 2 # the window: the reads counted
	[ "$(emu_curl /_emu/stats | jq '.server.total // 0')" -le 2 ]
	[ "$(lines "$T/w.out")" = 1 ]
	kill -0 "$WATCH_PID"
}
