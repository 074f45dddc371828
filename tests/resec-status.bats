#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# resec-status against the Consul emulator and real redis-server processes:
# services registered with curl the way resec-health does, the lock taken with
# a session as resec-lock does.

load test_helper

: "${RESEC_STATUS:=$RESEC_BUILD/bin/resec-status}"
LOCK_FLAGS=3304740253564472344

# cluster [redis-server options...]: the emulator with three agents and three
# Redis: a (master), b and c replicating a. REDISCLI_AUTH is honoured.
cluster() {
	if emu_real; then
		skip "needs three Consul agents (the emulator)"
	fi
	emu_start --nodes 3
	# No 5 s wait for more replicas before a full sync; no PING in the
	# stream to move offsets between two reads (lag 0 is asserted).
	start_redis a --repl-diskless-sync-delay 0 --repl-ping-replica-period 60 "$@"
	start_redis b "$@"
	start_redis c "$@"
	rcli "$REDIS_PORT_b" replicaof 127.0.0.1 "$REDIS_PORT_a" >/dev/null
	rcli "$REDIS_PORT_c" replicaof 127.0.0.1 "$REDIS_PORT_a" >/dev/null
	wait_for "replica b in sync" 20 link_up "$REDIS_PORT_b"
	wait_for "replica c in sync" 20 link_up "$REDIS_PORT_c"
}

link_up() {
	rcli "$1" info replication | grep -q '^master_link_status:up'
}

# caught_up MASTER_PORT REPLICA_PORT: the replica has applied all the master wrote.
caught_up() {
	local m r
	m=$(rcli "$1" info replication | sed -n 's/^master_repl_offset:\([0-9]*\).*/\1/p')
	r=$(rcli "$2" info replication | sed -n 's/^slave_repl_offset:\([0-9]*\).*/\1/p')
	[ -n "$m" ] && [ "$m" = "$r" ]
}

# register NODE ROLE PORT [STATUS]: what resec-health run registers on agent
# NODE (ID ${PREFIX}@:PORT, empty address: Consul gives the node's).
register() {
	local node="$1" role="$2" port="$3" status="${4:-passing}" name="redis-$2"
	[ "$role" = replica ] && name=redis-slave
	emu_node_curl "$node" "/v1/agent/service/register?replace-existing-checks" -f -X PUT -d @- <<-EOF >/dev/null
	{"ID":"redis@:$port","Name":"$name","Port":$port,
	 "Meta":{"role":"$role","offset":"0","run_id":"r$port"},
	 "Check":{"CheckID":"service:redis@:$port","Name":"redis health","TTL":"10m","Status":"$status"}}
	EOF
	# The catalog has it after anti-entropy (1-5 ms).
	emu_synced
}

# take_lock NODE PORT: a session on agent NODE acquires the lock, value :PORT.
take_lock() {
	local sid
	sid=$(emu_node_curl "$1" /v1/session/create -f -X PUT -d '{"Name":"resec","TTL":"60s"}' | jq -r .ID)
	run -0 emu_node_curl "$1" "/v1/kv/resec/.lock?acquire=$sid&flags=$LOCK_FLAGS" -f -X PUT -d ":$2"
	[ "$output" = true ]
	LOCK_SESSION=$sid
}

release_lock() {
	run -0 emu_node_curl "$1" "/v1/kv/resec/.lock?release=$LOCK_SESSION&flags=$LOCK_FLAGS" -f -X PUT -d ":$2"
	[ "$output" = true ]
}

# healthy: the usual cluster, registered and locked.
healthy() {
	cluster "$@"
	register 1 master "$REDIS_PORT_a"
	register 2 replica "$REDIS_PORT_b"
	register 3 replica "$REDIS_PORT_c"
	take_lock 1 "$REDIS_PORT_a"
}

@test "healthy cluster: table, exit 0" {
	healthy
	run -0 --separate-stderr "$RESEC_STATUS"
	echo "$output"
	[ "${lines[0]%% *}" = NODE ]
	[[ "${lines[0]}" == *"ROLE(consul)  ROLE(redis)  LOCK  CHECK"*"LAG  LINK  FENCED" ]]
	[[ "${lines[1]}" =~ ^node1\ +127\.0\.0\.1:$REDIS_PORT_a\ +master\ +master\ +held\ +passing\ +[0-9]+\ +-\ +-\ +no$ ]]
	[[ "${lines[2]}" =~ ^node2\ +127\.0\.0\.1:$REDIS_PORT_b\ +replica\ +replica\ +-\ +passing\ +[0-9]+\ +[0-9]+\ +up\ +no$ ]]
	[[ "${lines[3]}" =~ ^node3\ .*\ up\ +no$ ]]
	[[ "$output" == *"lock resec/.lock: held by node1, value :$REDIS_PORT_a, lock_index 1"* ]]
	[[ "$output" == *"failovers: 0"* ]]
	[ "${lines[-1]}" = "status: healthy" ]
	[[ "$output" != *problem:* ]]
	[ -z "$stderr" ]
}

@test "no passing master: exit 1" {
	cluster
	register 1 master "$REDIS_PORT_a" critical
	register 2 replica "$REDIS_PORT_b"
	take_lock 1 "$REDIS_PORT_a"
	run -1 "$RESEC_STATUS"
	echo "$output"
	[[ "$output" == *"problem: no passing master instance"* ]]
	[[ "$output" == *"warning: master node1 127.0.0.1:$REDIS_PORT_a: check critical"* ]]
	[ "${lines[-1]}" = "status: unhealthy" ]
}

@test "no lock holder: exit 1" {
	cluster
	register 1 master "$REDIS_PORT_a"
	run -1 "$RESEC_STATUS"
	[[ "$output" == *"problem: lock resec/.lock is not held"* ]]
	[[ "$output" == *"lock resec/.lock: absent"* ]]
}

@test "two passing masters: exit 1" {
	healthy
	register 2 master "$REDIS_PORT_b"
	run -1 "$RESEC_STATUS"
	echo "$output"
	[[ "$output" == *"problem: 2 passing master instances: node1 127.0.0.1:$REDIS_PORT_a, node2 127.0.0.1:$REDIS_PORT_b"* ]]
	[[ "$output" =~ node2\ +127\.0\.0\.1:$REDIS_PORT_b\ +master\ +replica ]]
}

@test "lock held by another node than the passing master: exit 1; failover dated with --state" {
	healthy
	local state="$BATS_TEST_TMPDIR/state"
	run -0 "$RESEC_STATUS" --state "$state"
	[[ "$output" == *"failovers: 0, last unknown"* ]]
	release_lock 1 "$REDIS_PORT_a"
	take_lock 2 "$REDIS_PORT_b"
	local before
	before=$(date +%s)
	run -1 "$RESEC_STATUS" --state "$state" --json
	jq -e '.failovers_total == 1 and .lock.node == "node2" and .lock.lock_index == 2' <<<"$output"
	jq -e --argjson t "$before" '.last_failover_timestamp_seconds >= $t' <<<"$output"
	jq -e '.problems[0] | test("does not hold the lock \\(held by node2")' <<<"$output"
	jq -e '[.instances[] | select(.lock_holder)] | length == 1 and .[0].node == "node2"' <<<"$output"
	# The same LockIndex keeps the date.
	local t
	t=$(jq .last_failover_timestamp_seconds <<<"$output")
	run -1 "$RESEC_STATUS" --state "$state" --prom
	grep -qx "resec_last_failover_timestamp_seconds $t" <<<"$output"
	grep -qx "resec_failovers_total 1" <<<"$output"
}

@test "replica lag over --redis-max-lag: exit 1; under the default: exit 0" {
	healthy
	# A paused replica stops applying its master's stream but answers INFO.
	rcli "$REDIS_PORT_b" client pause 60000 WRITE >/dev/null
	head -c 300000 /dev/zero | tr '\0' x | rcli "$REDIS_PORT_a" -x set big >/dev/null
	wait_for "replica c to apply the write" 10 caught_up "$REDIS_PORT_a" "$REDIS_PORT_c"
	run -0 "$RESEC_STATUS"
	run -1 "$RESEC_STATUS" --redis-max-lag 100KiB
	echo "$output"
	[[ "$output" =~ problem:\ passing\ replica\ node2\ 127\.0\.0\.1:$REDIS_PORT_b\ lags\ [0-9]+\ bytes\ behind\ its\ master\ \(max\ 102400\) ]]
	[[ "$output" != *"replica node3"*lags* ]]
	run -1 "$RESEC_STATUS" --redis-max-lag 100KiB --json
	jq -e '.instances[] | select(.node == "node2") | .lag_bytes > 300000' <<<"$output"
	jq -e '.instances[] | select(.node == "node3") | .lag_bytes == 0' <<<"$output"
	rcli "$REDIS_PORT_b" client unpause >/dev/null
}

@test "replica link down: exit 1" {
	healthy
	rcli "$REDIS_PORT_c" replicaof 127.0.0.1 "$(free_port)" >/dev/null
	run -1 "$RESEC_STATUS"
	echo "$output"
	[[ "$output" == *"problem: passing replica node3 127.0.0.1:$REDIS_PORT_c: link to its master is down"* ]]
	[[ "$output" =~ node3\ .*\ down\ +no ]]
}

@test "fenced master and unreachable replica: exit 1" {
	healthy
	rcli "$REDIS_PORT_a" config set min-replicas-to-write 1000000 >/dev/null
	rcli "$REDIS_PORT_a" config set min-replicas-max-lag 1000010 >/dev/null
	kill -TERM "$REDIS_PID_c"
	wait_for "redis c gone" 10 sh -c "! redis-cli -h 127.0.0.1 -p $REDIS_PORT_c ping"
	run -1 "$RESEC_STATUS"
	echo "$output"
	[[ "$output" == *"is fenced (refuses writes)"* ]]
	[[ "$output" == *"problem: passing replica node3 127.0.0.1:$REDIS_PORT_c: redis unreachable"* ]]
	[[ "${lines[1]}" =~ ^node1\ .*\ yes$ ]]
	[[ "$output" =~ node3\ +127\.0\.0\.1:$REDIS_PORT_c\ +replica\ +down ]]
}

@test "consul unreachable: exit 69, also with --json and --prom" {
	local port
	port=$(free_port)
	REDIS_ADDR="127.0.0.1:$(free_port)"
	export REDIS_ADDR
	CONSUL_HTTP_ADDR="127.0.0.1:$port" run -69 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == "consul unreachable since unknown (use --state to date it)"$'\n'*$'\nstatus: unavailable' ]]
	[[ "$stderr" == "resec-status: cannot read service redis-master: "* ]]
	CONSUL_HTTP_ADDR="127.0.0.1:$port" run -69 --separate-stderr "$RESEC_STATUS" --json
	jq -e '.status == "unavailable" and .healthy == false and (.error | test("cannot read"))' <<<"$output"
	CONSUL_HTTP_ADDR="127.0.0.1:$port" run -69 --separate-stderr "$RESEC_STATUS" --prom
	[[ "$output" == *$'\nresec_up 0\n'* && "$output" == *$'\nresec_consul_leader 0'* ]]
}

@test "--json: one object that jq reads" {
	healthy
	run -0 --separate-stderr "$RESEC_STATUS" --json
	[ "${#lines[@]}" -eq 1 ]
	jq -e '.status == "healthy" and .healthy and .problems == [] and .masters_passing == 1' <<<"$output"
	jq -e '.lock | .held and .node == "node1" and .key == "resec/.lock" and .lock_index == 1' <<<"$output"
	jq -e '.instances | length == 3' <<<"$output"
	jq -e --arg a "127.0.0.1:$REDIS_PORT_a" '.instances[0] | .node == "node1" and .addr == $a and .role == "master"
		and .lock_holder and .check == "passing" and .redis.role == "master" and .redis.fenced == false
		and .meta.role == "master" and .lag_bytes == null' <<<"$output"
	jq -e --arg a "127.0.0.1:$REDIS_PORT_a" '.instances[1] | .role == "replica" and .redis.link == "up"
		and .redis.master == $a and .lag_bytes == 0 and (.redis.offset | type) == "number"' <<<"$output"
}

@test "--prom: well-formed Prometheus text" {
	healthy
	run -0 "$RESEC_STATUS" --prom
	local l
	for l in "${lines[@]}"; do
		[[ "$l" =~ ^#\ (HELP|TYPE)\ resec_[a-z_]+\ .+$ ]] ||
			[[ "$l" =~ ^resec_[a-z_]+(\{[a-z_]+=\"([^\"\\]|\\.)*\"(,[a-z_]+=\"([^\"\\]|\\.)*\")*\})?\ -?[0-9]+$ ]] ||
			{ echo "bad line: $l"; false; }
	done
	grep -qx "resec_up 1" <<<"$output"
	grep -qx "resec_cluster_healthy 1" <<<"$output"
	grep -qx "resec_master_passing_count 1" <<<"$output"
	grep -qx "resec_lock_held 1" <<<"$output"
	grep -qx "resec_failovers_total 0" <<<"$output"
	[[ "$output" == *"resec_role{node=\"node1\",addr=\"127.0.0.1:$REDIS_PORT_a\",role=\"master\"} 1"* ]]
	[[ "$output" == *"resec_role{node=\"node2\",addr=\"127.0.0.1:$REDIS_PORT_b\",role=\"replica\"} 1"* ]]
	[[ "$output" == *"resec_replication_lag_bytes{node=\"node3\",addr=\"127.0.0.1:$REDIS_PORT_c\"} 0"* ]]
	# Each metric has one TYPE line, before its samples.
	[ "$(grep -c '^# TYPE resec_role ' <<<"$output")" -eq 1 ]
}

@test "password-protected redis: read with REDIS_PASSWORD, never printed" {
	local pw=s3cret-Pw-123
	export REDISCLI_AUTH=$pw
	healthy --requirepass "$pw" --masterauth "$pw"
	export REDIS_PASSWORD=$pw
	run -0 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *"status: healthy"* ]]
	[[ "$output$stderr" != *"$pw"* ]]
	run -0 --separate-stderr "$RESEC_STATUS" --json
	[[ "$output$stderr" != *"$pw"* ]]
	run -0 --separate-stderr "$RESEC_STATUS" --prom
	[[ "$output$stderr" != *"$pw"* ]]
	# A wrong password: every Redis unreachable, the reason shown, no secret.
	REDIS_PASSWORD=wrong-$pw run -1 --separate-stderr "$RESEC_STATUS" --json
	[[ "$output$stderr" != *"$pw"* ]]
	jq -e '[.instances[] | .redis.role] == ["down", "down", "down"]' <<<"$output"
	jq -e '.problems[] | select(test("passing master node1 .*: redis unreachable"))' <<<"$output"
	# Without a password.
	unset REDIS_PASSWORD
	run -1 "$RESEC_STATUS"
	[[ "$output" == *"redis unreachable"* ]]
}

@test "tag mode: one service name, roles from MASTER_TAGS and SLAVE_TAGS" {
	cluster
	local node port tag
	for node in 1 2; do
		if [ "$node" = 1 ]; then port=$REDIS_PORT_a tag=primary; else port=$REDIS_PORT_b tag=secondary; fi
		emu_node_curl "$node" "/v1/agent/service/register" -f -X PUT -d @- <<-EOF >/dev/null
		{"ID":"redis@:$port","Name":"cache","Port":$port,"Tags":["$tag","x"],
		 "Check":{"CheckID":"service:redis@:$port","TTL":"10m","Status":"passing"}}
		EOF
	done
	take_lock 1 "$REDIS_PORT_a"
	CONSUL_SERVICE_NAME=cache MASTER_TAGS=primary SLAVE_TAGS=secondary run -0 "$RESEC_STATUS" --json
	jq -e '[.instances[] | .role] == ["master", "replica"] and .masters_passing == 1' <<<"$output"
}

@test "CONSUL_REPLICA_ROLE_NAME=replica reads redis-replica" {
	cluster
	register 1 master "$REDIS_PORT_a"
	emu_node_curl 2 "/v1/agent/service/register" -f -X PUT \
		-d "{\"ID\":\"redis@:$REDIS_PORT_b\",\"Name\":\"redis-replica\",\"Port\":$REDIS_PORT_b}" >/dev/null
	take_lock 1 "$REDIS_PORT_a"
	CONSUL_REPLICA_ROLE_NAME=replica run -0 "$RESEC_STATUS" --json
	# A registration without a check counts as passing, as in Consul.
	jq -e '[.instances[] | .role] == ["master", "replica"]' <<<"$output"
}

@test "bad usage: exit 64" {
	run -64 --separate-stderr "$RESEC_STATUS" --json --prom
	[[ "$stderr" == *"--json and --prom"* ]]
	run -64 --separate-stderr "$RESEC_STATUS" --redis-max-lag 10x
	[[ "$stderr" == *"--redis-max-lag"* ]]
	run -64 --separate-stderr "$RESEC_STATUS" extra
	[[ "$stderr" == *'"extra"'* ]]
	run -64 --separate-stderr "$RESEC_STATUS" --no-such-flag
	run -0 "$RESEC_STATUS" --help
	[[ "$output" == usage:* ]]
}

# health_run NODE PORT ROLE: resec-health run registering Redis PORT on agent NODE.
health_run() {
	REDIS_ADDR="127.0.0.1:$2" CONSUL_HTTP_ADDR="127.0.0.1:${EMU_PORTS[$(($1 - 1))]}" \
		HEALTHCHECK_INTERVAL=500ms "$RESEC_HEALTH" run --role "$3" \
		>>"$BATS_TEST_TMPDIR/health$1.log" 2>&1 3>&- &
	track_pid "$!"
}

@test "services registered by resec-health run: healthy, Meta read" {
	cluster
	health_run 1 "$REDIS_PORT_a" master
	health_run 2 "$REDIS_PORT_b" replica
	health_run 3 "$REDIS_PORT_c" replica
	take_lock 1 "$REDIS_PORT_a"
	wait_for "a healthy cluster" 20 "$RESEC_STATUS"
	run -0 "$RESEC_STATUS" --json
	jq -e '[.instances[] | .role] == ["master", "replica", "replica"]' <<<"$output"
	jq -e '[.instances[] | .meta.role] == ["master", "slave", "slave"]' <<<"$output"
	jq -e '[.instances[] | .meta.run_id == .redis.run_id] | all' <<<"$output"
	jq -e '.instances[0].lock_holder' <<<"$output"
	# Redis a dies: its resec-health fails the check and exits; no passing master.
	kill -TERM "$REDIS_PID_a"
	wait_for "the master check to fail" 20 sh -c '"$1" --json | jq -e ".masters_passing == 0"' _ "$RESEC_STATUS"
	run -1 "$RESEC_STATUS"
	[[ "$output" == *"problem: no passing master instance"* ]]
}

@test "the master's node fails (serfHealth): no passing master, lock released, exit 1" {
	healthy
	emu_ctl /_emu/node/node1/fail
	# Gossip declares the node failed 5-8.5 s later (memberlist, 3 nodes).
	wait_for "the lock to be released" 20 sh -c '"$1" --json | jq -e ".lock.held == false"' _ "$RESEC_STATUS"
	run -1 "$RESEC_STATUS"
	echo "$output"
	[[ "$output" == *"problem: no passing master instance"* ]]
	[[ "$output" == *"problem: lock resec/.lock is not held"* ]]
	[[ "$output" == *"warning: master node1 127.0.0.1:$REDIS_PORT_a: check critical"* ]]
	[[ "$output" == *"lock resec/.lock: not held"* ]]
}

@test "consul without a leader: the cluster read stale, a problem (exit 1), dated with --state" {
	healthy
	emu_ctl /_emu/leader/lose
	local state="$BATS_TEST_TMPDIR/state" before
	before=$(date +%s)
	run -1 --separate-stderr "$RESEC_STATUS" --prom --state "$state"
	[[ "$output" == *$'\nresec_up 1\n'* && "$output" == *$'\nresec_consul_leader 0\n'* ]]
	[[ "$output" == *$'\nresec_master_fenced 0\n'* ]]
	run -1 --separate-stderr "$RESEC_STATUS" --state "$state"
	[[ "$output" == *"consul has no leader since "*Z* ]]
	[[ "$output" == *"problem: consul has no leader"* ]]
	[[ "$output" =~ node1\ +127\.0\.0\.1:$REDIS_PORT_a\ +master ]]
	run -1 --separate-stderr "$RESEC_STATUS" --json --state "$state"
	jq -e --argjson t "$before" '.consul.leader == false and .consul.trouble_since >= $t' <<<"$output"
	emu_ctl /_emu/leader/restore
	run -0 "$RESEC_STATUS" --state "$state"
	grep -q '^consul_down_since 0$' "$state"
}
