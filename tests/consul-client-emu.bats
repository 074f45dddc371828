#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The Consul client of common/ against the Consul emulator (or a real agent with
# RESEC_TEST_CONSUL=real): sessions and locks, services and health, blocking
# reads, ACL tokens, index regression.

load test_helper

setup() {
	TEST_CONSUL="$RESEC_BUILD/unit/test_consul"
	[ -x "$CONSUL_EMU" ] || skip "no Consul emulator"
}

# tc CASE ARGS...: run test_consul, print its output, fail when it cannot start.
tc() {
	"$TEST_CONSUL" "$@"
}

# field NAME: the value of NAME= in $output.
field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$output" | head -n 1
}

@test "emu: session, acquire, contention, release, destroy, renew of a gone session" {
	emu_start
	run -0 tc session-create 'resec test' 10000 0 0
	local s1 s2
	s1=$(field id)
	[ -n "$s1" ]
	run -0 tc info "$s1"
	[[ "$output" == *"ttl=10s lock_delay_ns=0 behavior=release"* ]]
	run -0 tc renew "$s1"
	[[ "$output" == *"rc=0"*"ttl_ms=10000"* ]]
	run -0 tc acquire resec/.lock "$s1" 3304740253564472344 10.0.0.1:6379
	[[ "$output" == *"ok=1"* ]]
	run -0 tc kvget /resec/.lock 0 0 consistent
	[[ "$output" == *"flags=3304740253564472344 session=$s1 lock_index=1"*"value=10.0.0.1:6379"* ]]
	run -0 tc session-create other 10000 0 0
	s2=$(field id)
	run -0 tc acquire resec/.lock "$s2" 3304740253564472344 10.0.0.2:6379
	[[ "$output" == *"rc=0"*"ok=0"* ]]
	run -0 tc release resec/.lock "$s1" 3304740253564472344 10.0.0.1:6379
	[[ "$output" == *"ok=1"* ]]
	run -0 tc kvget resec/.lock
	[[ "$output" == *"session= lock_index=1"* ]]
	run -0 tc destroy "$s1"
	[[ "$output" == *"rc=0"* ]]
	run -0 tc renew "$s1"
	[[ "$output" == *"rc=1 status=404"* ]]
	run -0 tc info "$s1"
	[[ "$output" == *"rc=1 status=200"* ]]
}

@test "emu: LockDelay \"0s\" really disables lock-delay; a set one blocks re-acquire" {
	emu_start
	local s1 s2
	run -0 tc session-create a 10000 0 0
	s1=$(field id)
	run -0 tc acquire k "$s1" 0 v
	[[ "$output" == *"ok=1"* ]]
	run -0 tc destroy "$s1"
	run -0 tc session-create b 10000 0 0
	s2=$(field id)
	run -0 tc acquire k "$s2" 0 v
	[[ "$output" == *"ok=1"* ]]
	# Now with a 30s lock-delay: invalidation leaves the key unheld but not acquirable.
	run -0 tc session-create c 10000 30000 0
	s1=$(field id)
	run -0 tc acquire k2 "$s1" 0 v
	[[ "$output" == *"ok=1"* ]]
	run -0 tc destroy "$s1"
	run -0 tc acquire k2 "$s2" 0 v
	[[ "$output" == *"ok=0"* ]]
	run -0 tc kvget k2
	[[ "$output" == *"session= "* ]]
}

@test "emu: CAS put and delete" {
	emu_start
	run -0 tc putcas k 0 5 one
	[[ "$output" == *"ok=1"* ]]
	run -0 tc putcas k 0 5 two
	[[ "$output" == *"ok=0"* ]]
	run -0 tc kvget k
	local mi
	mi=$(field modify_index)
	[[ "$output" == *"flags=5 "*"value=one"* ]]
	run -0 tc delcas k $((mi + 1))
	[[ "$output" == *"ok=0"* ]]
	run -0 tc delcas k "$mi"
	[[ "$output" == *"ok=1"* ]]
	run -0 tc kvget k
	[[ "$output" == *"rc=1 status=404"* ]]
}

@test "emu: renew adopts a larger TTL from the server" {
	emu_requires_control
	emu_start
	run -0 tc session-create r 10000
	local s
	s=$(field id)
	emu_ctl "/_emu/session/renew-ttl?ttl=40s"
	run -0 tc renew "$s"
	[[ "$output" == *"rc=0"*"ttl_ms=40000"* ]]
}

@test "emu: register with a passing TTL check, health ?passing, fail, update, deregister" {
	emu_start
	run -0 tc register redis-master
	[[ "$output" == *"rc=0 status=200"* ]]
	# The catalog has agent changes after anti-entropy (1-5 ms).
	emu_synced
	run -0 tc health redis-master master 1
	[[ "$output" == *"entry node=node1 addr=127.0.0.1 svc=redis@:6379 port=6379 tags=2 meta=2"* ]]
	run -0 tc ttl 'service:redis@:6379' fail 'redis down'
	[[ "$output" == *"rc=0"* ]]
	emu_synced
	run -0 tc health redis-master '' 1
	[[ "$output" == *"rc=0"* ]]
	[[ "$output" != *"entry "* ]]
	run -0 tc update 'service:redis@:6379' passing 'back'
	emu_synced
	run -0 tc health redis-master '' 1
	[[ "$output" == *"entry node=node1"* ]]
	run -0 tc update nosuchcheck passing ''
	[[ "$output" == *"rc=1 status=404"* ]]
	run -0 tc deregister 'redis@:6379'
	[[ "$output" == *"rc=0 status=200"* ]]
	run -0 tc deregister 'redis@:6379'
	[[ "$output" == *"rc=0 status=404"* ]]
	run -0 tc health redis-master '' 0
	[[ "$output" != *"entry "* ]]
}

@test "emu: a blocking read returns at wait with the same index, and early on a change" {
	emu_start --default-wait 5s
	run -0 tc put k - 0 a
	run -0 tc kvget k
	local idx
	idx=$(field index)
	run -0 tc kvget k "$idx" 1000
	[[ "$output" == *"rc=0 status=200 index=$idx "* ]]
	[ "$(field elapsed_ms)" -ge 900 ]
	(emu_wait_blocked 1 && "$TEST_CONSUL" put k - 0 b >/dev/null) &
	track_pid $!
	run -0 tc kvget k "$idx" 20000
	echo "$output"
	[[ "$output" == *"value=b"* ]]
	[ "$(field index)" -gt "$idx" ]
	[ "$(field elapsed_ms)" -lt 10000 ]
}

@test "emu: the watch loop resets on an index regression and sees real changes only" {
	emu_requires_control
	emu_start
	run -0 tc put w - 0 a
	local idx
	run -0 tc kvget w
	idx=$(field index)
	# While the second read blocks, the server answers with a smaller index.
	(emu_wait_blocked 1 && emu_ctl "/_emu/index/regress?count=1&to=1") &
	track_pid $!
	run -0 tc watch-regress 3 w
	[ "${lines[1]}" = "sent=0 got=$idx next=$idx changed=1" ]
	[ "${lines[2]}" = "sent=$idx got=1 next=0 changed=0" ]
	[ "${lines[3]}" = "sent=0 got=$idx next=$idx changed=0" ]
}

@test "emu: ACL token in the header is honoured; denial is a clear 403 without the token" {
	emu_requires_control
	emu_start --acl-default-policy deny --acl-token 'r00t-s3cret-tok=management'
	run -0 tc put k 0 v
	[[ "$output" == *"rc=-1 status=403"* ]]
	[[ "$output" == *"err=consul: PUT /v1/kv/k: 403 Permission denied"* ]]
	CONSUL_HTTP_TOKEN=r00t-s3cret-tok run -0 tc put k 0 v
	[[ "$output" == *"rc=0 status=200"* ]]
	CONSUL_HTTP_TOKEN=wrong-t0ken-value run -0 tc put k 0 v
	[[ "$output" == *"status=403"*"ACL not found"* ]]
	[[ "$output" != *wrong-t0ken* ]]
}

@test "emu: leader loss gives 500 No cluster leader and KnownLeader false" {
	emu_requires_control
	emu_start
	run -0 tc put k 0 v
	emu_ctl /_emu/leader/lose
	run -0 tc kvget k 0 0 consistent
	[[ "$output" == *"rc=-1 status=500"* ]]
	[[ "$output" == *"No cluster leader"* ]]
	run -0 tc leader
	[[ "$output" == *"rc=0"*"leader="* ]]
	[[ "$output" != *"leader=127"* ]]
	emu_ctl /_emu/leader/restore
	run -0 tc kvget k 0 0 consistent
	[[ "$output" == *"rc=0 status=200"*"leader=1"* ]]
}
