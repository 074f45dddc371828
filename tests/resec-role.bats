#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-role against real redis-server processes: show, master, replica, fence, errors.

load test_helper

# role PORT args...: resec-role against the redis on PORT.
role() {
	local port="$1"
	shift
	REDIS_ADDR="127.0.0.1:$port" "$RESEC_ROLE" "$@"
}

# link_up PORT: the replica on PORT has its link to the master up.
link_up() {
	rcli "$1" info replication | grep -q '^master_link_status:up'
}

# holder PORT NAME [sub]: an idle client named NAME connected to PORT, in the
# background; with "sub" it is subscribed to a channel (a pubsub client).
holder() {
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"CLIENT SETNAME " + sys.argv[2].encode() + b"\r\n")
s.recv(100)
if len(sys.argv) > 3:
    s.sendall(b"SUBSCRIBE news\r\n")
    s.recv(100)
time.sleep(120)' "$@" &
	track_pid $!
	wait_for "client $2" 5 client_named "$1" "$2"
}

client_named() {
	rcli "$1" client list | grep -q "name=$2 "
}

# A master M and a would-be replica R (diskless sync without delay: fast full syncs).
two_redis() {
	start_redis M --repl-diskless-sync-delay 0
	start_redis R --repl-diskless-sync-delay 0
	M=$REDIS_PORT_M
	R=$REDIS_PORT_R
}

@test "INFO parser unit tests pass" {
	[ -x "$RESEC_BUILD/unit/test_redis_info" ] || skip "unit tests not built (make units)"
	run -0 "$RESEC_BUILD/unit/test_redis_info"
}

@test "replication history unit tests pass (who may be copied from)" {
	[ -x "$RESEC_BUILD/unit/test_history" ] || skip "unit tests not built (make units)"
	run -0 "$RESEC_BUILD/unit/test_history"
}

@test "show prints master on a fresh redis" {
	start_redis A
	run -0 --separate-stderr role "$REDIS_PORT_A" show
	[ "$output" = "master" ]
	[ -z "$stderr" ]
}

@test "replica HOST:PORT replicates, show reports link and offset" {
	two_redis
	rcli "$M" set k v
	run -0 --separate-stderr role "$R" replica "127.0.0.1:$M"
	[ -z "$output" ]
	wait_for "link up" 20 link_up "$R"
	run -0 --separate-stderr role "$R" show
	[[ "$output" =~ ^replica\ 127\.0\.0\.1:$M\ link=up\ offset=[0-9]+$ ]]
	[ "$(rcli "$R" get k)" = v ]
}

@test "replica takes the address from RESEC_MASTER_ADDR" {
	two_redis
	RESEC_MASTER_ADDR="127.0.0.1:$M" run -0 role "$R" replica
	[[ "$(role "$R" show)" == "replica 127.0.0.1:$M "* ]]
}

@test "replica kills normal and pubsub clients on a change, and is a no-op when already replicating" {
	two_redis
	holder "$R" idle1
	holder "$R" sub1 sub
	role "$R" replica "127.0.0.1:$M"
	wait_for "idle1 killed" 5 bash -c "! redis-cli -p $R client list | grep -q name=idle1"
	wait_for "sub1 killed" 5 bash -c "! redis-cli -p $R client list | grep -q name=sub1"
	holder "$R" idle2
	local syncs
	syncs=$(grep -c 'REPLICAOF 127.0.0.1' "$BATS_TEST_TMPDIR/redis-R/redis.log")
	run -0 role "$R" replica "127.0.0.1:$M"
	client_named "$R" idle2
	[ "$(grep -c 'REPLICAOF 127.0.0.1' "$BATS_TEST_TMPDIR/redis-R/redis.log")" = "$syncs" ]
}

@test "replica refuses this redis's own address, by string and by run_id" {
	start_redis A
	run -64 --separate-stderr role "$REDIS_PORT_A" replica "127.0.0.1:$REDIS_PORT_A"
	[[ "$stderr" == *"itself"* ]]
	run -64 --separate-stderr role "$REDIS_PORT_A" replica "localhost:$REDIS_PORT_A"
	[[ "$stderr" == *"itself"* ]]
	[ "$(echo "$stderr" | wc -l)" = 1 ]
	[ "$(role "$REDIS_PORT_A" show)" = master ]
}

@test "replica of a dead address is accepted and shows link=down" {
	start_redis A
	local dead
	dead=$(free_port)
	run -0 role "$REDIS_PORT_A" replica "127.0.0.1:$dead"
	run -0 role "$REDIS_PORT_A" show
	[[ "$output" == "replica 127.0.0.1:$dead link=down offset="* ]]
}

@test "master promotes a replica and is a no-op on a master" {
	two_redis
	role "$R" replica "127.0.0.1:$M"
	run -0 --separate-stderr role "$R" master
	[[ "$stderr" != *"config file"* ]] # no file to write: nothing said
	[ "$(role "$R" show)" = master ]
	[ "$(rcli "$R" set k2 v2)" = OK ]
	local n
	n=$(grep -Ec '(MASTER|PRIMARY) MODE enabled' "$BATS_TEST_TMPDIR/redis-R/redis.log")
	run -0 role "$R" master
	[ "$(grep -Ec '(MASTER|PRIMARY) MODE enabled' "$BATS_TEST_TMPDIR/redis-R/redis.log")" = "$n" ]
}

@test "fence refuses writes at once, reads work, master lifts it and restores the operator's values" {
	start_redis A --min-replicas-to-write 0 --min-replicas-max-lag 7
	local p=$REDIS_PORT_A
	rcli "$p" set k v
	run -0 role "$p" fence
	run -0 rcli "$p" set k w
	[[ "$output" == *NOREPLICAS* ]]
	[ "$(rcli "$p" get k)" = v ]
	[ "$(role "$p" show)" = "master fenced" ]
	# Idempotent: a second fence changes nothing.
	local before
	before=$(rcli "$p" config get 'min-replicas-*' | tr '\n' ' ')
	run -0 role "$p" fence
	[ "$(rcli "$p" config get 'min-replicas-*' | tr '\n' ' ')" = "$before" ]
	run -0 role "$p" master
	[ "$(role "$p" show)" = master ]
	[ "$(rcli "$p" set k w)" = OK ]
	[ "$(rcli "$p" config get min-replicas-to-write | tail -1)" = 0 ]
	[ "$(rcli "$p" config get min-replicas-max-lag | tail -1)" = 7 ]
}

@test "fence works and is undone exactly when the operator disabled the lag (0) and required replicas" {
	start_redis A --min-replicas-to-write 2 --min-replicas-max-lag 0
	local p=$REDIS_PORT_A
	# With max-lag 0 Redis ignores min-replicas-to-write: writes pass before the fence.
	[ "$(rcli "$p" set k v)" = OK ]
	role "$p" fence
	[[ "$(rcli "$p" set k w)" == *NOREPLICAS* ]]
	role "$p" master
	[ "$(rcli "$p" config get min-replicas-to-write | tail -1)" = 2 ]
	[ "$(rcli "$p" config get min-replicas-max-lag | tail -1)" = 0 ]
	[ "$(rcli "$p" set k w)" = OK ]
}

@test "a fenced replica keeps replicating; replica of the same master lifts the fence" {
	two_redis
	role "$R" replica "127.0.0.1:$M"
	wait_for "link up" 20 link_up "$R"
	role "$R" fence
	[[ "$(role "$R" show)" == "replica 127.0.0.1:$M link=up offset="*" fenced" ]]
	rcli "$M" set during fence
	wait_for "replicated write" 10 bash -c "[ \"\$(redis-cli -p $R get during)\" = fence ]"
	run -0 role "$R" replica "127.0.0.1:$M"
	[[ "$(role "$R" show)" != *fenced ]]
	# Promoted after a fence: writable at once.
	role "$R" fence
	role "$R" master
	[ "$(rcli "$R" set after promote)" = OK ]
}

@test "a fenced old master is re-pointed as a replica, never writable in between" {
	two_redis
	role "$M" fence
	run -0 role "$M" replica "127.0.0.1:$R"
	[[ "$(role "$M" show)" == "replica 127.0.0.1:$R link="* ]]
	[[ "$(role "$M" show)" != *fenced ]]
	[[ "$(rcli "$M" set k v)" == *READONLY* ]]
}

@test "requirepass: every command works with REDIS_PASSWORD; wrong or missing password is 64" {
	start_redis M --requirepass m-pass-123 --masterauth m-pass-123
	start_redis R --requirepass m-pass-123 --masterauth m-pass-123
	export REDIS_PASSWORD=m-pass-123
	run -0 role "$REDIS_PORT_R" replica "127.0.0.1:$REDIS_PORT_M"
	run -0 role "$REDIS_PORT_R" fence
	run -0 role "$REDIS_PORT_R" show
	[[ "$output" == *fenced ]]
	run -0 role "$REDIS_PORT_R" master
	[ "$(role "$REDIS_PORT_R" show)" = master ]
	REDIS_PASSWORD=wrong run -64 --separate-stderr role "$REDIS_PORT_R" show
	[[ "$stderr" == *"authentication failed"* ]]
	[ "$(echo "$stderr" | wc -l)" = 1 ]
	unset REDIS_PASSWORD
	run -64 --separate-stderr role "$REDIS_PORT_R" master
	[[ "$stderr" == *NOAUTH* ]]
}

@test "ACL user: REDIS_USERNAME with its password; a user without CONFIG is refused with 64, state unchanged" {
	start_redis A
	local p=$REDIS_PORT_A
	rcli "$p" acl setuser alice on '>alice-pw-9' '~*' '&*' '+@all' >/dev/null
	rcli "$p" acl setuser bob on '>bob-pw-9' '~*' '+@all' '-config' >/dev/null
	REDIS_USERNAME=alice REDIS_PASSWORD=alice-pw-9 run -0 role "$p" fence
	REDIS_USERNAME=alice REDIS_PASSWORD=alice-pw-9 run -0 role "$p" show
	[ "$output" = "master fenced" ]
	REDIS_USERNAME=alice REDIS_PASSWORD=nope run -64 --separate-stderr role "$p" show
	[[ "$stderr" == *"user alice"* ]]
	REDIS_USERNAME=bob REDIS_PASSWORD=bob-pw-9 run -64 --separate-stderr role "$p" master
	[[ "$stderr" == *NOPERM* ]]
	[ "$(role "$p" show)" = "master fenced" ]
}

@test "unreachable redis is one line and exit 69" {
	local dead
	dead=$(free_port)
	for cmd in show master "replica 127.0.0.1:1"; do
		# shellcheck disable=SC2086
		run -69 --separate-stderr role "$dead" $cmd
		[ "$(echo "$stderr" | wc -l)" = 1 ]
		[[ "$stderr" == "resec-role: cannot "*"refused"* ]]
		[ -z "$output" ]
	done
}

@test "fence of a redis that is not running (connection refused) is done: exit 0, one log line" {
	local dead
	dead=$(free_port)
	run -0 --separate-stderr role "$dead" fence
	[[ "$stderr" == *"redis is not running (connection refused): nothing to fence"* ]]
	[ "$(echo "$stderr" | wc -l)" = 1 ]
	[ -z "$output" ]
}

@test "a hung redis (SIGSTOP) times out after HEALTHCHECK_TIMEOUT with exit 69" {
	start_redis A
	kill -STOP "$REDIS_PID_A"
	HEALTHCHECK_TIMEOUT=300ms run -69 --separate-stderr role "$REDIS_PORT_A" fence
	kill -CONT "$REDIS_PID_A"
	[[ "$stderr" == "resec-role: cannot fence redis: "*"timed out" ]]
	[ "$(role "$REDIS_PORT_A" show)" = master ]
}

@test "bad usage: bad address, missing address, unknown command, extra arguments are 64" {
	start_redis A
	run -64 --separate-stderr role "$REDIS_PORT_A" replica 127.0.0.1
	[[ "$stderr" == *'"127.0.0.1"'* ]]
	run -64 --separate-stderr role "$REDIS_PORT_A" replica ":$REDIS_PORT_A"
	run -64 --separate-stderr role "$REDIS_PORT_A" replica host:0
	run -64 --separate-stderr role "$REDIS_PORT_A" replica
	run -64 --separate-stderr role "$REDIS_PORT_A" demote
	[[ "$stderr" == *'"demote"'* ]]
	run -64 --separate-stderr role "$REDIS_PORT_A" show extra
	run -64 --separate-stderr role "$REDIS_PORT_A"
	[ "$(role "$REDIS_PORT_A" show)" = master ]
}

@test "a renamed command is refused with 64 before anything changes" {
	start_redis A --rename-command CLIENT "" --rename-command CONFIG cfg-secret-name
	local p=$REDIS_PORT_A
	run -64 --separate-stderr role "$p" replica "127.0.0.1:$(free_port)"
	[[ "$stderr" == *"client"*"not available"* ]]
	[ "$(rcli "$p" info replication | grep ^role:)" = $'role:master\r' ]
	run -64 --separate-stderr role "$p" fence
	[[ "$stderr" == *"config"*"not available"* ]]
	[[ "$(rcli "$p" set k v)" == OK ]]
}

@test "LOADING: replica retries until the dataset is loaded" {
	start_redis M --repl-diskless-sync-delay 0 --enable-debug-command yes
	# M holds more than L (more keys, and a write at a higher offset: a master
	# counts its offset only once a replica has connected): L may follow it.
	start_redis X
	rcli "$REDIS_PORT_X" replicaof 127.0.0.1 "$REDIS_PORT_M" >/dev/null
	wait_for "X follows M" 10 link_up "$REDIS_PORT_X"
	rcli "$REDIS_PORT_M" debug populate 30000 >/dev/null
	rcli "$REDIS_PORT_M" set k v >/dev/null
	start_redis L --enable-debug-command yes
	local p=$REDIS_PORT_L
	rcli "$p" config set loading-process-events-interval-bytes 1024 >/dev/null
	rcli "$p" debug populate 20000 >/dev/null
	rcli "$p" config set key-load-delay 50 >/dev/null
	rcli "$p" debug reload >/dev/null &
	track_pid $!
	wait_for "loading" 20 bash -c "redis-cli -p $p info persistence | grep -q '^loading:1'"
	run -0 --separate-stderr role "$p" replica "127.0.0.1:$REDIS_PORT_M"
	[[ "$stderr" == *"loading"* ]]
	[[ "$(role "$p" show)" == "replica 127.0.0.1:$REDIS_PORT_M "* ]]
}

@test "LOADING beyond HEALTHCHECK_TIMEOUT x 10 gives up with 69, state unchanged" {
	start_redis L --enable-debug-command yes
	local p=$REDIS_PORT_L
	rcli "$p" config set loading-process-events-interval-bytes 1024 >/dev/null
	rcli "$p" debug populate 100000 >/dev/null
	rcli "$p" config set key-load-delay 50 >/dev/null
	rcli "$p" debug reload >/dev/null &
	track_pid $!
	wait_for "loading" 20 bash -c "redis-cli -p $p info persistence | grep -q '^loading:1'"
	# 100 ms x 10 = 1 s of retries, well inside the ~5 s of loading (100000 keys x 50 us).
	HEALTHCHECK_TIMEOUT=100ms run -69 --separate-stderr role "$p" replica "127.0.0.1:$(free_port)"
	[[ "$stderr" == *LOADING* ]]
	wait_for "loaded" 60 bash -c "redis-cli -p $p info persistence | grep -q '^loading:0'"
	[ "$(role "$p" show)" = master ]
}

@test "a redis started fenced from its config is fenced at once and master restores 0/10" {
	start_redis A --min-replicas-to-write 1000000 --min-replicas-max-lag 1000010
	local p=$REDIS_PORT_A
	[[ "$(rcli "$p" set k v)" == *NOREPLICAS* ]]
	[ "$(role "$p" show)" = "master fenced" ]
	role "$p" master
	[ "$(rcli "$p" config get min-replicas-to-write | tail -1)" = 0 ]
	[ "$(rcli "$p" config get min-replicas-max-lag | tail -1)" = 10 ]
	[ "$(rcli "$p" set k v)" = OK ]
}

# conf_redis: a Redis started from a config file it may rewrite (as a packaged
# Redis is): CONF_FILE, CONF_PORT, CONF_PID. Run again to restart it from the file.
conf_redis() {
	local dir="$BATS_TEST_TMPDIR/conf"
	CONF_FILE=$dir/redis.conf
	if [ ! -e "$CONF_FILE" ]; then
		mkdir -p "$dir"
		CONF_PORT=$(free_port)
		printf 'bind 127.0.0.1\nport %s\ndir %s\nsave ""\nappendonly no\nlogfile %s/redis.log\n' \
			"$CONF_PORT" "$dir" "$dir" >"$CONF_FILE"
	fi
	redis-server "$CONF_FILE" &
	CONF_PID=$!
	track_pid "$CONF_PID"
	wait_for "redis from $CONF_FILE" 10 redis_ping "$CONF_PORT"
}

@test "master and replica write the role, fenced, into the config file: a restart takes no write" {
	start_redis M
	conf_redis
	run -0 --separate-stderr role "$CONF_PORT" replica "127.0.0.1:$REDIS_PORT_M"
	[ -z "$stderr" ] || [[ "$stderr" != *"config file"* ]]
	grep -q "^replicaof 127.0.0.1 $REDIS_PORT_M$" "$CONF_FILE"
	grep -q '^min-replicas-to-write 1000000$' "$CONF_FILE"
	[ "$(rcli "$CONF_PORT" config get min-replicas-to-write | tail -1)" = 0 ]
	run -0 --separate-stderr role "$CONF_PORT" master
	[ "$(rcli "$CONF_PORT" set k v)" = OK ]
	run ! grep -q '^replicaof' "$CONF_FILE"
	grep -q '^min-replicas-to-write 1000000$' "$CONF_FILE"
	grep -q '^min-replicas-max-lag 1000010$' "$CONF_FILE"
	# The master dies and comes back from its file: fenced before anyone looks.
	kill -KILL "$CONF_PID"
	wait "$CONF_PID" 2>/dev/null || true
	conf_redis
	[[ "$(rcli "$CONF_PORT" set k2 v)" == *NOREPLICAS* ]]
	[ "$(role "$CONF_PORT" show)" = "master fenced" ]
	role "$CONF_PORT" replica "127.0.0.1:$REDIS_PORT_M"
	[ "$(rcli "$CONF_PORT" config get min-replicas-to-write | tail -1)" = 0 ]
	[ "$(rcli "$CONF_PORT" config get min-replicas-max-lag | tail -1)" = 10 ]
}

@test "promote on a master that never changed role writes the fence into its config file too" {
	# The first election: the node that is master already wins and is only fenced.
	conf_redis
	run -1 grep -q min-replicas-to-write "$CONF_FILE"
	run -0 --separate-stderr role "$CONF_PORT" promote
	grep -q '^min-replicas-to-write 1000000$' "$CONF_FILE"
	run -0 role "$CONF_PORT" unfence
	[ "$(rcli "$CONF_PORT" set k v)" = OK ]
	kill -KILL "$CONF_PID"
	wait "$CONF_PID" 2>/dev/null || true
	conf_redis
	[[ "$(rcli "$CONF_PORT" set k2 v)" == *NOREPLICAS* ]]
}

@test "a config file that cannot be rewritten is a warning; the role still changes" {
	start_redis M
	start_redis A
	rcli "$REDIS_PORT_A" acl setuser carol on '>carol-pw-9' '~*' '&*' '+@all' '-config|rewrite' >/dev/null
	REDIS_USERNAME=carol REDIS_PASSWORD=carol-pw-9 run -0 --separate-stderr role "$REDIS_PORT_A" replica "127.0.0.1:$REDIS_PORT_M"
	[[ "$stderr" == *"cannot write the fence into the config file"*NOPERM* ]]
	[[ "$stderr" != *carol-pw-9* ]]
	[ "$(role "$REDIS_PORT_A" show | cut -d' ' -f1)" = replica ]
	[ "$(rcli "$REDIS_PORT_A" config get min-replicas-to-write | tail -1)" = 0 ]
}

# follow_bg PORT MASTER: resec-role follow in the background (FOLLOW_PID, log in follow.log).
follow_bg() {
	REDIS_ADDR="127.0.0.1:$1" HEALTHCHECK_INTERVAL=500ms HEALTHCHECK_TIMEOUT=1s \
		"$RESEC_ROLE" follow "$2" >"$BATS_TEST_TMPDIR/follow.out" 2>"$BATS_TEST_TMPDIR/follow.log" &
	FOLLOW_PID=$!
	track_pid "$FOLLOW_PID"
}

# parked PORT: that Redis is a replica of the parking address.
parked() {
	rcli "$1" info replication | tr -d '\r' | grep -q '^master_port:0$'
}

# restart_m [options]: kill -9 the master M and start it again, empty, on its port.
restart_m() {
	kill -KILL "$REDIS_PID_M"
	# Gone, its port closed, before another binds it.
	wait "$REDIS_PID_M" 2>/dev/null || true
	redis-server --bind 127.0.0.1 --port "$M" --dir "$BATS_TEST_TMPDIR/redis-M" --save '' --appendonly no \
		--repl-diskless-sync-delay 0 --logfile "$BATS_TEST_TMPDIR/redis-M/redis.log" "$@" &
	REDIS_PID_M=$!
	track_pid "$REDIS_PID_M"
	wait_for "M back" 10 redis_ping "$M"
}

@test "follow: the master restarts empty at its address; the replica is parked and keeps its data" {
	two_redis
	rcli "$M" set k1 v >/dev/null
	follow_bg "$R" "127.0.0.1:$M"
	wait_for "the link" 10 link_up "$R"
	[ "$(rcli "$R" get k1)" = v ]
	restart_m
	wait_for "parked" 5 parked "$R"
	run -0 role "$R" show
	[[ "$output" == "replica 127.0.0.1:0 link=down offset="*" parked" ]]
	# The empty master is back: never followed again, the key stays.
	wait_for "the empty master refused" 10 grep -q "staying parked.*holds less" "$BATS_TEST_TMPDIR/follow.log"
	parked "$R"
	[ "$(rcli "$R" get k1)" = v ]
	grep -q 'replica parked' "$BATS_TEST_TMPDIR/follow.log"
	grep -q 'staying parked.*holds less' "$BATS_TEST_TMPDIR/follow.log"
	kill -TERM "$FOLLOW_PID"
	wait "$FOLLOW_PID" && st=0 || st=$?
	[ "$st" -eq 0 ]
}

@test "follow: a killed connection is not a dead master; a master that restarts with its history is followed again" {
	two_redis
	rcli "$M" set k1 v >/dev/null
	follow_bg "$R" "127.0.0.1:$M"
	wait_for "the link" 10 link_up "$R"
	rcli "$M" client kill type normal >/dev/null
	wait_for "the master looked at again" 10 grep -q "still answers: following it" "$BATS_TEST_TMPDIR/follow.log"
	grep -q 'still answers: following it' "$BATS_TEST_TMPDIR/follow.log"
	run ! parked "$R"
	# A stall longer than the PING timeout: parked, then followed again (same history).
	kill -STOP "$REDIS_PID_M"
	wait_for "parked" 10 parked "$R"
	kill -CONT "$REDIS_PID_M"
	wait_for "following again" 10 link_up "$R"
	grep -q 'continues this replica.s history; following it again' "$BATS_TEST_TMPDIR/follow.log"
	rcli "$M" set k2 v >/dev/null
	wait_for "k2 replicated" 5 sh -c "[ \"\$(redis-cli -p $R get k2)\" = v ]"
	grep -q 'Successful partial resynchronization' "$BATS_TEST_TMPDIR/redis-R/redis.log"
}

@test "replica and follow refuse a master that holds less; an empty redis follows anything" {
	two_redis
	rcli "$M" set k1 v >/dev/null
	run -0 role "$R" replica "127.0.0.1:$M"
	wait_for "the link" 10 link_up "$R"
	rcli "$R" replicaof 127.0.0.1 0 >/dev/null
	restart_m
	run -1 --separate-stderr role "$R" replica "127.0.0.1:$M"
	[[ "$stderr" == *"holds less than this redis"* ]]
	parked "$R"
	[ "$(rcli "$R" get k1)" = v ]
	run -1 --separate-stderr env REDIS_ADDR="127.0.0.1:$R" "$RESEC_ROLE" follow "127.0.0.1:$M"
	[[ "$stderr" == *"not following the master: it holds less"* ]]
	[ "$(rcli "$R" get k1)" = v ]
	# M, now empty, follows R (made a master) without a word.
	rcli "$R" replicaof no one >/dev/null
	run -0 --separate-stderr role "$M" replica "127.0.0.1:$R"
	wait_for "M follows R" 10 link_up "$M"
	[ "$(rcli "$M" get k1)" = v ]
}

@test "promote: a replica becomes master with the fence up; unfence lifts it; unfence leaves a replica" {
	two_redis
	role "$R" replica "127.0.0.1:$M"
	wait_for "link up" 10 link_up "$R"
	run -0 role "$R" promote
	[ "$(role "$R" show)" = "master fenced" ]
	[[ "$(rcli "$R" set k v 2>&1)" == *NOREPLICAS* ]]
	run -0 role "$R" promote
	[ "$(role "$R" show)" = "master fenced" ]
	run -0 role "$R" unfence
	[ "$(role "$R" show)" = master ]
	[ "$(rcli "$R" set k v)" = OK ]
	# A replica stays as it is: unfence only ever makes a master writable.
	rcli "$R" flushall >/dev/null
	role "$R" replica "127.0.0.1:$M"
	run -0 role "$R" fence
	run -0 role "$R" unfence
	[[ "$(role "$R" show)" == "replica 127.0.0.1:$M "*" fenced" ]]
}

@test "fence-previous: the previous holder's redis and every registered master are fenced; ours and the dead are not" {
	emu_start
	start_redis A
	start_redis B
	start_redis C
	A=$REDIS_PORT_A
	B=$REDIS_PORT_B
	C=$REDIS_PORT_C
	dead=$(free_port)
	# C is registered as the master (its resec gone); B is the key's previous value; A is us.
	emu_curl /v1/agent/service/register -X PUT -d "{\"Name\":\"redis-master\",\"ID\":\"redis@:$C\",\"Port\":$C}" >/dev/null
	emu_curl /v1/agent/service/register -X PUT -d "{\"Name\":\"redis-master\",\"ID\":\"redis@:$A\",\"Port\":$A}" >/dev/null
	emu_curl /v1/agent/service/register -X PUT -d "{\"Name\":\"redis-master\",\"ID\":\"redis@:$dead\",\"Port\":$dead}" >/dev/null
	RESEC_LOCK_PREVIOUS="127.0.0.1:$B" run -0 --separate-stderr role "$A" fence-previous
	[ "$(role "$B" show)" = "master fenced" ]
	[ "$(role "$C" show)" = "master fenced" ]
	[ "$(role "$A" show)" = master ]
	[[ "$stderr" == *"fenced the previous master's redis"*"$B"* ]]
	[[ "$stderr" == *"the previous master's redis is down"*"$dead"* ]]
	# Nothing left to fence: quiet, exit 0. Consul down: the key's value is still fenced.
	role "$B" master
	kill -TERM "$EMU_PID"
	RESEC_LOCK_PREVIOUS="127.0.0.1:$B" run -0 --separate-stderr role "$A" fence-previous
	[ "$(role "$B" show)" = "master fenced" ]
	[[ "$stderr" == *"cannot ask consul for the previous master"* ]]
}

@test "fence-previous catches up with the old master's last writes before it returns" {
	emu_start
	two_redis
	role "$R" replica "127.0.0.1:$M"
	wait_for "link up" 10 link_up "$R"
	# The old master took writes right up to its fence.
	for i in $(seq 200); do echo "SET k$i v"; done | rcli "$M" >/dev/null
	RESEC_LOCK_PREVIOUS="127.0.0.1:$M" run -0 role "$R" fence-previous
	[ "$(rcli "$R" dbsize)" = 200 ]
	[ "$(role "$M" show)" = "master fenced" ]
}
