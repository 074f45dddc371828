#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-health against real redis-server processes (and the Consul emulator for run).

load test_helper

# health PORT args...: resec-health against the redis on PORT.
health() {
	local port="$1"
	shift
	REDIS_ADDR="127.0.0.1:$port" "$RESEC_HEALTH" "$@"
}

# emu_available: the Consul emulator and its helper are there (branch emu).
emu_available() {
	[ -x "${CONSUL_EMU:-$RESEC_ROOT/tests/consul-emu/consul-emu}" ] && declare -F emu_start >/dev/null
}

need_emu() {
	if ! emu_available; then
		skip "consul emulator not available (branch emu)"
	fi
	emu_start
}

# consul_get PATH: GET from the agent in CONSUL_HTTP_ADDR.
consul_get() {
	local a="${CONSUL_HTTP_ADDR#http://}"
	curl -sf "http://$a$1"
}

# check_status ID: the status of the agent check ID ("" when absent).
check_status() {
	consul_get /v1/agent/checks | jq -r --arg id "$1" '.[$id].Status // ""'
}

status_is() {
	[ "$(check_status "$1")" = "$2" ]
}

service_absent() {
	[ "$(consul_get /v1/agent/services | jq -r --arg id "$1" '.[$id] // "" | tostring')" = "" ]
}

# start_run PORT LOGFILE args...: resec-health run in the background; sets RUN_PID.
start_run() {
	local port="$1" log="$2"
	shift 2
	REDIS_ADDR="127.0.0.1:$port" "$RESEC_HEALTH" run "$@" >"$log.out" 2>"$log" &
	RUN_PID=$!
	track_pid "$RUN_PID"
}

# wait_exit PID SECS: wait for PID to exit within SECS; sets EXIT_STATUS.
wait_exit() {
	local pid="$1" secs="$2"
	wait_for "pid $pid to exit" "$secs" bash -c "! kill -0 $pid"
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
}

link_up() {
	rcli "$1" info replication | grep -q '^master_link_status:up'
}

@test "check: healthy master and replica, exit 0, one line" {
	start_redis M --repl-diskless-sync-delay 0
	start_redis R --repl-diskless-sync-delay 0
	run -0 --separate-stderr health "$REDIS_PORT_M" check
	[ "$output" = "healthy role=master offset=0" ]
	[ -z "$stderr" ]
	rcli "$REDIS_PORT_R" replicaof 127.0.0.1 "$REDIS_PORT_M" >/dev/null
	wait_for "link up" 20 link_up "$REDIS_PORT_R"
	run -0 --separate-stderr health "$REDIS_PORT_R" check
	[[ "$output" =~ ^healthy\ role=replica\ offset=[0-9]+$ ]]
	run -0 health "$REDIS_PORT_R" check --role replica
	run -1 --separate-stderr health "$REDIS_PORT_R" check --role master
	[ "$output" = "unhealthy: redis is replica, expected master" ]
}

@test "empty: the hold-back's question by exit status (0 empty master, 1 not, 64 credentials, 69 unreachable)" {
	start_redis M --repl-diskless-sync-delay 0 --requirepass e-pass-3
	start_redis R --repl-diskless-sync-delay 0 --masterauth e-pass-3
	# A master at replication offset 0 (what check shows as offset=0) restarted empty.
	REDIS_PASSWORD=e-pass-3 run -0 --separate-stderr health "$REDIS_PORT_M" empty
	[ -z "$output" ]
	rcli "$REDIS_PORT_R" replicaof 127.0.0.1 "$REDIS_PORT_M" >/dev/null
	wait_for "link up" 20 link_up "$REDIS_PORT_R"
	rcli "$REDIS_PORT_M" --no-auth-warning -a e-pass-3 set k v >/dev/null
	wait_for "the master's offset to move" 20 bash -c \
		"! REDIS_PASSWORD=e-pass-3 REDIS_ADDR=127.0.0.1:$REDIS_PORT_M '$RESEC_HEALTH' check | grep -q 'offset=0\$'"
	REDIS_PASSWORD=e-pass-3 run -1 --separate-stderr health "$REDIS_PORT_M" empty
	[ -z "$output" ]
	run -1 --separate-stderr health "$REDIS_PORT_R" empty
	run -1 --separate-stderr health "$REDIS_PORT_R" empty --role master
	REDIS_PASSWORD=wrong run -64 --separate-stderr health "$REDIS_PORT_M" empty
	run -69 --separate-stderr health "$(free_port)" empty
	[[ "$stderr" == *"cannot tell whether redis is empty"*refused* ]]
}

@test "check: unreachable redis is unhealthy, exit 1" {
	run -1 --separate-stderr health "$(free_port)" check
	[[ "$output" == "unhealthy: connect to 127.0.0.1:"*"refused" ]]
}

@test "check: requirepass, wrong password and NOAUTH (64), ACL user" {
	start_redis A --requirepass h-pass-77
	local p=$REDIS_PORT_A
	REDIS_PASSWORD=h-pass-77 run -0 health "$p" check
	[ "$output" = "healthy role=master offset=0" ]
	REDIS_PASSWORD=wrong run -64 --separate-stderr health "$p" check
	[[ "$output" == "unhealthy: authentication failed"* ]]
	run -64 --separate-stderr health "$p" check
	[[ "$output" == *NOAUTH* ]]
	rcli "$p" --no-auth-warning -a h-pass-77 acl setuser carol on '>carol-pw-5' '~*' '+@all' >/dev/null
	REDIS_USERNAME=carol REDIS_PASSWORD=carol-pw-5 run -0 health "$p" check
	REDIS_USERNAME=carol REDIS_PASSWORD=nope run -64 health "$p" check
	[[ "$output" == *"user carol"* ]]
}

@test "check and wait during LOADING: unhealthy until loaded, then wait returns" {
	start_redis L --enable-debug-command yes
	local p=$REDIS_PORT_L
	rcli "$p" config set loading-process-events-interval-bytes 1024 >/dev/null
	rcli "$p" debug populate 20000 >/dev/null
	rcli "$p" config set key-load-delay 50 >/dev/null
	rcli "$p" debug reload >/dev/null &
	track_pid $!
	wait_for "loading" 20 bash -c "redis-cli -p $p info persistence | grep -q '^loading:1'"
	run -1 --separate-stderr health "$p" check
	[ "$output" = "unhealthy: redis is loading its dataset" ]
	run -0 --separate-stderr health "$p" wait --timeout 60s
	[ "$output" = "healthy role=master offset=0" ]
	[[ "$stderr" == *"waiting for redis"*loading* ]]
}

@test "check: a hung redis (SIGSTOP) is unhealthy after HEALTHCHECK_TIMEOUT" {
	start_redis A
	kill -STOP "$REDIS_PID_A"
	local t0=$SECONDS
	HEALTHCHECK_TIMEOUT=300ms run -1 --separate-stderr health "$REDIS_PORT_A" check
	kill -CONT "$REDIS_PID_A"
	[[ "$output" == "unhealthy: "*"timed out" ]]
	[ $((SECONDS - t0)) -le 3 ]
}

@test "run: a hung redis (SIGSTOP) ends run with exit 1" {
	start_redis A
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" HEALTHCHECK_INTERVAL=100ms HEALTHCHECK_TIMEOUT=300ms \
		start_run "$REDIS_PORT_A" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "running" 10 grep -q "redis healthy" "$BATS_TEST_TMPDIR/run.log"
	kill -STOP "$REDIS_PID_A"
	wait_exit "$RUN_PID" 5
	kill -CONT "$REDIS_PID_A"
	[ "$EXIT_STATUS" = 1 ]
	grep -q "timed out" "$BATS_TEST_TMPDIR/run.log"
}

@test "wait: times out with exit 1, returns once redis starts" {
	local port
	port=$(free_port)
	run -1 --separate-stderr health "$port" wait --timeout 300ms
	[[ "$output" == "unhealthy: connect to"* ]]
	REDIS_ADDR="127.0.0.1:$port" "$RESEC_HEALTH" wait --timeout 30s >"$BATS_TEST_TMPDIR/wait.out" 2>&1 &
	local wpid=$!
	track_pid "$wpid"
	redis-server --bind 127.0.0.1 --port "$port" --save '' --dir "$BATS_TEST_TMPDIR" --logfile "$BATS_TEST_TMPDIR/late.log" &
	track_pid $!
	wait_exit "$wpid" 30
	[ "$EXIT_STATUS" = 0 ]
	grep -q '^healthy role=master' "$BATS_TEST_TMPDIR/wait.out"
}

@test "wait --fence-master: a master that starts is fenced by the look that finds it; a replica is left alone" {
	need_emu
	local port
	port=$(free_port)
	REDIS_ADDR="127.0.0.1:$port" "$RESEC_HEALTH" wait --fence-master --timeout 30s >"$BATS_TEST_TMPDIR/wait.out" 2>"$BATS_TEST_TMPDIR/wait.err" &
	local wpid=$!
	track_pid "$wpid"
	redis-server --bind 127.0.0.1 --port "$port" --save '' --dir "$BATS_TEST_TMPDIR" --logfile "$BATS_TEST_TMPDIR/late.log" &
	track_pid $!
	wait_exit "$wpid" 30
	[ "$EXIT_STATUS" = 0 ]
	grep -q '^healthy role=master' "$BATS_TEST_TMPDIR/wait.out"
	grep -q 'fenced it until the election decides' "$BATS_TEST_TMPDIR/wait.err"
	run redis-cli -p "$port" set k v
	[[ "$output" == NOREPLICAS* ]]
	# Already fenced: nothing to do, nothing said.
	run -0 --separate-stderr health "$port" wait --fence-master
	[ -z "$stderr" ]
	# A replica is not touched; without the flag nothing is fenced.
	start_redis R --replicaof 127.0.0.1 "$port"
	run -0 health "$REDIS_PORT_R" wait --fence-master
	[ "$(rcli "$REDIS_PORT_R" config get min-replicas-to-write | tail -1)" = 0 ]
	start_redis M
	run -0 health "$REDIS_PORT_M" wait
	[ "$(rcli "$REDIS_PORT_M" set k v)" = OK ]
	# Consul away: nothing in Redis is changed (docs/resec.md).
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" HEALTHCHECK_TIMEOUT=300ms run -0 --separate-stderr \
		health "$REDIS_PORT_M" wait --fence-master
	[[ "$stderr" == *"consul does not answer; not fencing"* ]]
	[ "$(rcli "$REDIS_PORT_M" set k v)" = OK ]
}

@test "wait and run: bad usage is 64" {
	run -64 --separate-stderr "$RESEC_HEALTH" wait --timeout 5
	[[ "$stderr" == *"--timeout"* ]]
	run -64 --separate-stderr "$RESEC_HEALTH" check --role boss
	[[ "$stderr" == *'"boss"'* ]]
	run -64 --separate-stderr "$RESEC_HEALTH" run
	[[ "$stderr" == *"--role"* ]]
	run -64 --separate-stderr "$RESEC_HEALTH" frob
	run -64 --separate-stderr "$RESEC_HEALTH"
}

@test "run: consul unreachable never makes it exit; redis death does, at once" {
	start_redis A
	local log="$BATS_TEST_TMPDIR/run.log"
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" HEALTHCHECK_INTERVAL=50ms start_run "$REDIS_PORT_A" "$log" --role master
	wait_for "consul warning" 10 grep -q "consul unavailable" "$log"
	# Several back-off rounds later it is still there.
	wait_for "a few redis looks" 10 bash -c "[ \$(redis-cli -p $REDIS_PORT_A info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p') -gt 20 ]"
	kill -0 "$RUN_PID"
	[ "$(grep -c 'consul unavailable' "$log")" = 1 ]
	local t0=$SECONDS
	kill -9 "$REDIS_PID_A"
	wait_exit "$RUN_PID" 5
	[ "$EXIT_STATUS" = 1 ]
	[ $((SECONDS - t0)) -le 2 ]
	grep -q "redis unhealthy" "$log"
}

@test "run: registers the master service with ID, port, meta and a passing TTL check" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A id="redis@:$REDIS_PORT_A"
	HEALTHCHECK_INTERVAL=200ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:$id" passing
	local svc
	svc=$(consul_get /v1/agent/services | jq -c --arg id "$id" '.[$id]')
	[ "$(jq -r .Service <<<"$svc")" = redis-master ]
	[ "$(jq -r .Port <<<"$svc")" = "$p" ]
	[ "$(jq -r '.Address // ""' <<<"$svc")" = "" ]
	[ "$(jq -r .Meta.role <<<"$svc")" = master ]
	[ "$(jq -r .Meta.run_id <<<"$svc")" = "$(rcli "$p" info server | sed -n 's/^run_id:\([0-9a-f]*\).*/\1/p')" ]
	[[ "$(jq -r .Meta.offset <<<"$svc")" =~ ^[0-9]+$ ]]
	local chk
	chk=$(consul_get /v1/agent/checks | jq -c --arg id "service:$id" '.[$id]')
	[[ "$(jq -r .Output <<<"$chk")" == *"role=master"* ]]
	# TERM: deregistered, exit 0.
	kill -TERM "$RUN_PID"
	wait_exit "$RUN_PID" 10
	[ "$EXIT_STATUS" = 0 ]
	service_absent "$id"
}

@test "run: replica naming (slave, replica) and tag mode, announce address" {
	need_emu
	start_redis M
	start_redis R --replicaof 127.0.0.1 "$REDIS_PORT_M"
	local p=$REDIS_PORT_R
	HEALTHCHECK_INTERVAL=200ms start_run "$p" "$BATS_TEST_TMPDIR/r1.log" --role replica
	wait_for "registered" 10 bash -c "curl -sf http://${CONSUL_HTTP_ADDR#http://}/v1/agent/services | jq -e '.[\"redis@:$p\"].Service == \"redis-slave\"'"
	kill -TERM "$RUN_PID"
	wait_exit "$RUN_PID" 10
	CONSUL_REPLICA_ROLE_NAME=replica HEALTHCHECK_INTERVAL=200ms start_run "$p" "$BATS_TEST_TMPDIR/r2.log" --role replica
	wait_for "registered" 10 bash -c "curl -sf http://${CONSUL_HTTP_ADDR#http://}/v1/agent/services | jq -e '.[\"redis@:$p\"].Service == \"redis-replica\"'"
	kill -TERM "$RUN_PID"
	wait_exit "$RUN_PID" 10
	ANNOUNCE_ADDR="10.1.2.3:7000" CONSUL_SERVICE_NAME=cache SLAVE_TAGS="replica, ro" MASTER_TAGS=primary \
		HEALTHCHECK_INTERVAL=200ms start_run "$p" "$BATS_TEST_TMPDIR/r3.log" --role replica
	wait_for "registered" 10 bash -c "curl -sf http://${CONSUL_HTTP_ADDR#http://}/v1/agent/services | jq -e '.[\"redis@10.1.2.3:7000\"]'"
	local svc
	svc=$(consul_get /v1/agent/services | jq -c '.["redis@10.1.2.3:7000"]')
	[ "$(jq -r .Service <<<"$svc")" = cache ]
	[ "$(jq -r '.Tags | join(",")' <<<"$svc")" = "replica,ro" ]
	[ "$(jq -r .Address <<<"$svc")" = 10.1.2.3 ]
	[ "$(jq -r .Port <<<"$svc")" = 7000 ]
	[ "$(jq -r .Meta.role <<<"$svc")" = slave ]
}

@test "run: role mismatch fails the check with the reason and keeps running" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	HEALTHCHECK_INTERVAL=100ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role replica
	wait_for "check critical" 10 status_is "service:redis@:$p" critical
	[[ "$(consul_get /v1/agent/checks | jq -r --arg id "service:redis@:$p" '.[$id].Output')" == *"expected replica"* ]]
	kill -0 "$RUN_PID"
}

@test "run: a replica with its link down longer than 2 x interval is warning, not passing" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	rcli "$p" replicaof 127.0.0.1 "$(free_port)" >/dev/null
	HEALTHCHECK_INTERVAL=100ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role replica
	wait_for "check warning" 10 status_is "service:redis@:$p" warning
	[[ "$(consul_get /v1/agent/checks | jq -r --arg id "service:redis@:$p" '.[$id].Output')" == *"link"*down* ]]
}

@test "run: kill -9 of redis exits 1 within a second; the master's check warning (it carries the lock's session)" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	# A long interval: only the persistent connection's EOF can make this quick.
	HEALTHCHECK_INTERVAL=30s start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:redis@:$p" passing
	local t0
	t0=$(date +%s%N)
	kill -9 "$REDIS_PID_A"
	wait_exit "$RUN_PID" 5
	local ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$EXIT_STATUS" = 1 ]
	[ "$ms" -lt 1000 ]
	# Not critical: that would invalidate the lock's session, bound to this check, and cost
	# the successor a lock-delay; the orchestrator releases the lock, then deregisters.
	status_is "service:redis@:$p" warning
}

@test "run: a killed client connection (CLIENT KILL) is reconnected, not a death" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	HEALTHCHECK_INTERVAL=30s start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:redis@:$p" passing
	rcli "$p" client kill type normal >/dev/null
	wait_for "reconnected" 10 grep -q "redis connection closed" "$BATS_TEST_TMPDIR/run.log"
	kill -0 "$RUN_PID"
	status_is "service:redis@:$p" passing
}

@test "run: consul forgetting the service (404 on update) re-registers it" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A id="redis@:$REDIS_PORT_A"
	HEALTHCHECK_INTERVAL=100ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:$id" passing
	curl -sf -X PUT "http://${CONSUL_HTTP_ADDR#http://}/v1/agent/service/deregister/$id" >/dev/null
	wait_for "re-registered" 10 grep -q "registering again" "$BATS_TEST_TMPDIR/run.log"
	wait_for "check passing again" 10 status_is "service:$id" passing
}

@test "run: consul errors (500s) do not stop it; passing resumes" {
	need_emu
	declare -F emu_ctl >/dev/null || skip "emu_ctl not available"
	start_redis A
	local p=$REDIS_PORT_A id="redis@:$REDIS_PORT_A"
	HEALTHCHECK_INTERVAL=100ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:$id" passing
	emu_ctl "/_emu/fault?path=/v1/agent/check&status=500&count=3" >/dev/null
	wait_for "consul warning" 10 grep -q "consul unavailable" "$BATS_TEST_TMPDIR/run.log"
	wait_for "consul back" 20 grep -q "consul reachable again" "$BATS_TEST_TMPDIR/run.log"
	kill -0 "$RUN_PID"
	status_is "service:$id" passing
}

check_output() {
	consul_get /v1/agent/checks | jq -r --arg id "$1" '.[$id].Output // ""'
}

@test "run: S1 the master check is held back while another master instance passes" {
	need_emu
	start_redis A
	start_redis B
	local a="service:redis@127.0.0.1:$REDIS_PORT_A" b="service:redis@127.0.0.1:$REDIS_PORT_B"
	ANNOUNCE_ADDR="127.0.0.1:$REDIS_PORT_A" HEALTHCHECK_INTERVAL=200ms start_run "$REDIS_PORT_A" "$BATS_TEST_TMPDIR/a.log" --role master
	local pid_a=$RUN_PID
	wait_for "A passing" 10 status_is "$a" passing
	ANNOUNCE_ADDR="127.0.0.1:$REDIS_PORT_B" HEALTHCHECK_INTERVAL=200ms start_run "$REDIS_PORT_B" "$BATS_TEST_TMPDIR/b.log" --role master
	local pid_b=$RUN_PID
	wait_for "B holding back" 10 status_is "$b" warning
	[[ "$(check_output "$b")" == *"holding back"* ]]
	status_is "$a" passing
	# A's redis dies: A fails its check at once, and B passes right after.
	kill -9 "$REDIS_PID_A"
	wait_exit "$pid_a" 5
	wait_for "B passing" 5 status_is "$b" passing
	grep -q "stopped passing" "$BATS_TEST_TMPDIR/b.log"
	kill -0 "$pid_b"
}

@test "run: S1 a master instance that keeps passing holds us back at most its TTL plus a margin" {
	need_emu
	start_redis A
	start_redis B
	local a="service:redis@127.0.0.1:$REDIS_PORT_A" b="service:redis@127.0.0.1:$REDIS_PORT_B"
	ANNOUNCE_ADDR="127.0.0.1:$REDIS_PORT_A" HEALTHCHECK_INTERVAL=500ms start_run "$REDIS_PORT_A" "$BATS_TEST_TMPDIR/a.log" --role master
	local pid_a=$RUN_PID
	wait_for "A passing" 10 status_is "$a" passing
	# A hangs (stopped): its check stays passing until its TTL (1s) runs out.
	kill -STOP "$pid_a"
	local t0=$SECONDS
	ANNOUNCE_ADDR="127.0.0.1:$REDIS_PORT_B" HEALTHCHECK_INTERVAL=500ms start_run "$REDIS_PORT_B" "$BATS_TEST_TMPDIR/b.log" --role master
	wait_for "B passing" 10 status_is "$b" passing
	# Bound: TTL 1s + margin 1s, with slack for a slow machine.
	[ $((SECONDS - t0)) -le 5 ]
	grep -q -e "stopped passing" -e "another master is still passing" "$BATS_TEST_TMPDIR/b.log"
	kill -CONT "$pid_a"
}

@test "secrets: no password or token in logs, errors, output or ps" {
	local pw="S3cr3t-Pw-$$-x" tok="T0k3n-$$-y" basic="B4sic-$$-z" all="$BATS_TEST_TMPDIR/all.txt"
	start_redis A --requirepass "$pw"
	start_redis B --rename-command AUTH ""
	export REDIS_PASSWORD="$pw" CONSUL_HTTP_TOKEN="$tok" CONSUL_HTTP_AUTH="op:$basic" LOG_LEVEL=DEBUG
	{
		health "$REDIS_PORT_A" check 2>&1 || true
		health "$REDIS_PORT_A" wait --timeout 1s 2>&1 || true
		REDIS_PASSWORD="$pw-wrong" health "$REDIS_PORT_A" check 2>&1 || true
		health "$REDIS_PORT_B" check 2>&1 || true
		"$RESEC_ROLE" --redis-addr "127.0.0.1:$REDIS_PORT_B" show 2>&1 || true
		REDIS_ADDR="127.0.0.1:$REDIS_PORT_A" "$RESEC_ROLE" fence 2>&1 || true
		REDIS_ADDR="127.0.0.1:$REDIS_PORT_A" "$RESEC_ROLE" show 2>&1 || true
		REDIS_ADDR="127.0.0.1:$REDIS_PORT_A" "$RESEC_ROLE" replica "127.0.0.1:$REDIS_PORT_B" 2>&1 || true
		REDIS_ADDR="127.0.0.1:$REDIS_PORT_A" "$RESEC_ROLE" master 2>&1 || true
		REDIS_ADDR="127.0.0.1:$(free_port)" "$RESEC_ROLE" show 2>&1 || true
	} >"$all"
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" HEALTHCHECK_INTERVAL=50ms \
		start_run "$REDIS_PORT_A" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "consul warning" 10 grep -q "consul unavailable" "$BATS_TEST_TMPDIR/run.log"
	ps -o args= -p "$RUN_PID" >>"$all"
	ps -eo args | grep resec- >>"$all" || true
	kill -9 "$REDIS_PID_A"
	wait_exit "$RUN_PID" 5
	cat "$BATS_TEST_TMPDIR/run.log" "$BATS_TEST_TMPDIR/run.log.out" >>"$all"
	# The checks above did run and fail where they should.
	grep -q "authentication failed" "$all"
	grep -q "AUTH refused" "$all"
	grep -q "resec-health run" "$all"
	"$RESEC_HEALTH" --print-config >>"$all"
	run ! grep -F -e "$pw" -e "$tok" -e "$basic" "$all"
}

@test "valgrind: run over 200 intervals of 10ms leaks nothing" {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	local bin="$RESEC_ROOT/build/bin/resec-health"
	[ -x "$bin" ] || skip "non-sanitized build missing (make)"
	start_redis A
	if emu_available; then
		emu_start
	else
		export CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)"
	fi
	local log="$BATS_TEST_TMPDIR/vg.log"
	REDIS_ADDR="127.0.0.1:$REDIS_PORT_A" HEALTHCHECK_INTERVAL=10ms LOG_LEVEL=DEBUG \
		valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=42 \
		--log-file="$BATS_TEST_TMPDIR/valgrind.txt" "$bin" run --role master 2>"$log" &
	local pid=$!
	track_pid "$pid"
	wait_for "200 intervals" 120 bash -c "[ \$(grep -c 'msg=\"redis looked at\"' $log) -ge 200 ]"
	kill -TERM "$pid"
	wait_exit "$pid" 60
	cat "$BATS_TEST_TMPDIR/valgrind.txt" >&2
	[ "$EXIT_STATUS" = 0 ]
	grep -q "ERROR SUMMARY: 0 errors" "$BATS_TEST_TMPDIR/valgrind.txt"
}

@test "run --role replica: a syncing replica's check passes within a moment of the sync's end, not an interval later" {
	need_emu
	start_redis M --repl-diskless-sync-delay 0 --enable-debug-command yes
	start_redis R
	# A transfer of ~3 s (1 ms a key): the first look sees the sync.
	rcli "$REDIS_PORT_M" debug populate 3000 >/dev/null
	rcli "$REDIS_PORT_M" config set rdb-key-save-delay 1000 >/dev/null
	rcli "$REDIS_PORT_R" replicaof 127.0.0.1 "$REDIS_PORT_M" >/dev/null
	wait_for "sync in progress" 10 bash -c "redis-cli -p $REDIS_PORT_R info replication | grep -q '^master_sync_in_progress:1'"
	HEALTHCHECK_INTERVAL=20s start_run "$REDIS_PORT_R" "$BATS_TEST_TMPDIR/run.log" --role replica
	wait_for "check warning while syncing" 10 status_is "service:redis@:$REDIS_PORT_R" warning
	wait_for "synced" 30 link_up "$REDIS_PORT_R"
	local synced=$SECONDS
	wait_for "check passing" 30 status_is "service:redis@:$REDIS_PORT_R" passing
	echo "  passing $((SECONDS - synced))s after the link came up (interval 20s)" >&3
	[ $((SECONDS - synced)) -le 5 ]
}

@test "run --role replica: loading the master's dataset is degraded (warning), not a reason to exit" {
	start_redis M --repl-diskless-sync-delay 0 --enable-debug-command yes
	start_redis R
	rcli "$REDIS_PORT_M" debug populate 20000 >/dev/null
	rcli "$REDIS_PORT_R" replicaof 127.0.0.1 "$(free_port)" >/dev/null
	rcli "$REDIS_PORT_R" config set loading-process-events-interval-bytes 1024 >/dev/null
	rcli "$REDIS_PORT_R" config set key-load-delay 50 >/dev/null
	local log="$BATS_TEST_TMPDIR/run.log"
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" HEALTHCHECK_INTERVAL=50ms start_run "$REDIS_PORT_R" "$log" --role replica
	wait_for "running" 10 grep -q "consul unavailable" "$log"
	rcli "$REDIS_PORT_R" replicaof 127.0.0.1 "$REDIS_PORT_M" >/dev/null
	wait_for "loading seen" 30 grep -q "loading the dataset from its master" "$log"
	kill -0 "$RUN_PID"
	wait_for "synced" 60 bash -c "redis-cli -p $REDIS_PORT_R info replication | grep -q '^master_link_status:up'"
	wait_for "healthy again" 10 bash -c "tail -1 '$log' | grep -q 'redis healthy'"
	kill -0 "$RUN_PID"
}

@test "run: a partitioned consul agent (hung requests) neither stops run nor delays noticing a redis death" {
	need_emu
	emu_requires_control
	emu_start --nodes 2
	start_redis A
	local log="$BATS_TEST_TMPDIR/run.log" ctl="http://127.0.0.1:${EMU_PORTS[1]}"
	HEALTHCHECK_INTERVAL=200ms start_run "$REDIS_PORT_A" "$log" --role master
	wait_for "check passing" 10 status_is "service:redis@:$REDIS_PORT_A" passing
	curl -fsS -X PUT "$ctl/_emu/node/node1/partition?serf=keep" >/dev/null
	wait_for "consul warning" 15 grep -q "consul unavailable" "$log"
	kill -0 "$RUN_PID"
	# The retry (after 0.25-0.5 s of back-off) hangs for HEALTHCHECK_TIMEOUT (2 s):
	# kill Redis while it hangs; only the cancel fd can make the exit quick.
	sleep 0.8 # the fault's timing: into the retry that hangs (no event marks it)
	local t0
	t0=$(date +%s%N)
	kill -9 "$REDIS_PID_A"
	wait_exit "$RUN_PID" 5
	local ms=$((($(date +%s%N) - t0) / 1000000))
	curl -fsS -X PUT "$ctl/_emu/node/node1/heal" >/dev/null
	# 75: its check was not failed (Consul does not answer), it may still pass.
	[ "$EXIT_STATUS" = 75 ]
	[ "$ms" -lt 1000 ]
}

@test "run: USR1 hands off: check warning, registration kept, exit 0; deregister removes it" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	# A 2 s TTL: the next run must take over before it runs out, also on a loaded machine.
	HEALTHCHECK_INTERVAL=1s start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role master
	wait_for "check passing" 10 status_is "service:redis@:$p" passing
	kill -USR1 "$RUN_PID"
	wait_exit "$RUN_PID" 5
	[ "$EXIT_STATUS" = 0 ]
	status_is "service:redis@:$p" warning
	[[ "$(consul_get /v1/agent/checks | jq -r --arg id "service:redis@:$p" '.[$id].Output')" == *"handing off"* ]]
	# The next run (the other role) takes the same registration over, never through critical.
	HEALTHCHECK_INTERVAL=1s start_run "$p" "$BATS_TEST_TMPDIR/run2.log" --role master
	wait_for "check passing again" 10 status_is "service:redis@:$p" passing
	[ "$(emu_curl "/_emu/events?type=check_status" | jq '[.[] | select(.new == "critical")] | length')" = 0 ]
	kill -USR1 "$RUN_PID"
	wait_exit "$RUN_PID" 5
	REDIS_ADDR="127.0.0.1:$p" run -0 --separate-stderr "$RESEC_HEALTH" deregister
	service_absent "redis@:$p"
	REDIS_ADDR="127.0.0.1:$p" run -0 --separate-stderr "$RESEC_HEALTH" deregister
}

@test "run: a fenced master is warning in both roles (no writes: no clients, and no critical for the lock's session)" {
	need_emu
	start_redis A
	local p=$REDIS_PORT_A
	REDIS_ADDR="127.0.0.1:$p" "$RESEC_ROLE" fence
	HEALTHCHECK_INTERVAL=100ms start_run "$p" "$BATS_TEST_TMPDIR/run.log" --role replica
	wait_for "check warning" 10 status_is "service:redis@:$p" warning
	[[ "$(consul_get /v1/agent/checks | jq -r --arg id "service:redis@:$p" '.[$id].Output')" == *"fenced master, waiting for the election"* ]]
	kill -TERM "$RUN_PID"
	wait_exit "$RUN_PID" 5
	HEALTHCHECK_INTERVAL=5s start_run "$p" "$BATS_TEST_TMPDIR/run2.log" --role master
	wait_for "check warning" 10 status_is "service:redis@:$p" warning
	# Lifted, it passes within a moment, not at the next 5 s interval.
	REDIS_ADDR="127.0.0.1:$p" "$RESEC_ROLE" unfence
	wait_for "check passing" 2 status_is "service:redis@:$p" passing
}
