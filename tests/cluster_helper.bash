# SPDX-License-Identifier: MIT
# Three-node resec clusters for the end-to-end suites: the emulator with one
# agent per node, one redis-server and one scripts/resec per node, all on
# loopback. Node i (1-based) talks to agent i. Sourced after test_helper.

# Short timings so failures show in seconds; the arithmetic is the defaults'.
: "${E2E_INTERVAL:=500ms}"
: "${E2E_LOCK_DELAY:=2s}"
: "${E2E_SERF_DELAY:=1s}"
# Extra environment for every node (VAR=value words).
E2E_ENV=()
# E2E_REDIS_CONF=1: each node's Redis runs from a config file (start_redis_conf).

# cluster_start [N]: start the emulator, N Redis and N resec (default 3).
# The emulator gets one more agent than there are nodes: the tests observe the
# cluster through it (OBS_ADDR), so that cutting a node off never cuts them off.
cluster_start() {
	local n="${1:-3}" i
	CLUSTER_N=$n
	# shellcheck disable=SC2086 # E2E_EMU_FLAGS holds extra emulator flags
	emu_start --nodes "$((n + 1))" --serf-delay "$E2E_SERF_DELAY" --dereg-floor 5s --reaper-period 1s \
		${E2E_EMU_FLAGS:-}
	OBS_ADDR="127.0.0.1:${EMU_PORTS[$n]}"
	for i in $(seq "$n"); do
		if [ "${E2E_REDIS_CONF:-}" = 1 ]; then start_redis_conf "n$i"; else start_redis "n$i"; fi
	done
	for i in $(seq "$n"); do
		resec_start "$i"
	done
}

# redis_port I: the port of node I's Redis.
redis_port() {
	local v="REDIS_PORT_n$1"
	echo "${!v}"
}

# resec_start I [VAR=value...]: start scripts/resec for node I.
resec_start() {
	local i="$1"
	shift
	mkdir -p "$BATS_TEST_TMPDIR/node$i"
	env TMPDIR="$BATS_TEST_TMPDIR/node$i" \
		REDIS_ADDR="127.0.0.1:$(redis_port "$i")" \
		CONSUL_HTTP_ADDR="127.0.0.1:${EMU_PORTS[$((i - 1))]}" \
		HEALTHCHECK_INTERVAL="$E2E_INTERVAL" HEALTHCHECK_TIMEOUT=1s \
		CONSUL_LOCK_TTL=10s CONSUL_LOCK_DELAY="$E2E_LOCK_DELAY" \
		CONSUL_DEREGISTER_SERVICE_AFTER=1m LOG_LEVEL=DEBUG "${E2E_ENV[@]}" "$@" \
		"$RESEC_ROOT/scripts/resec" >>"$BATS_TEST_TMPDIR/resec$i.log" 2>&1 &
	printf -v "RESEC_PID_$i" '%s' "$!"
	track_pid "$!"
}

# node_pids I: every process of node I's resec (the orchestrator and the
# children in their own process groups), found by their state directory.
node_pids() {
	local dir="$BATS_TEST_TMPDIR/node$1/" p
	for p in /proc/[0-9]*; do
		if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -q "^RESEC_STATE=$dir"; then
			echo "${p#/proc/}"
		fi
	done
	local v="RESEC_PID_$1"
	kill -0 "${!v}" 2>/dev/null && echo "${!v}"
	return 0
}

# kill_node_resec I SIGNAL: signal every resec process of node I at once. They
# are stopped first, so that none can react to another's death before its own
# signal arrives (a loaded machine may pause this shell between two kills).
kill_node_resec() {
	local pids="" more _
	# Stopped processes start no others: scan again until nothing new shows up.
	for _ in 1 2 3 4 5; do
		more=$(node_pids "$1" | sort -u)
		[ "$more" != "$pids" ] || break
		pids=$more
		# shellcheck disable=SC2086 # one word per pid
		[ -z "$pids" ] || kill -STOP $pids 2>/dev/null || true
	done
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill "-$2" $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	[ "$2" = KILL ] || kill -CONT $pids 2>/dev/null || true
}

# passing ADDRS of a service, one host:port per line (Node.Address when the
# service has none).
passing() {
	curl -sf --max-time 5 "http://$OBS_ADDR/v1/health/service/$1?passing" |
		jq -r '.[] | "\(if .Service.Address == "" then .Node.Address else .Service.Address end):\(.Service.Port)"'
}

# consul_master: the passing master, or nothing.
consul_master() {
	passing redis-master
}

# master_node: the node number whose Redis is the one passing master.
master_node() {
	local m i
	m=$(consul_master)
	[ "$(printf '%s\n' "$m" | grep -c .)" -eq 1 ] || return 1
	for i in $(seq "$CLUSTER_N"); do
		[ "${m##*:}" = "$(redis_port "$i")" ] && { echo "$i"; return 0; }
	done
	return 1
}

# no_master: no master passes now (for wait_for: it asks Consul at each try).
no_master() {
	[ -z "$(consul_master)" ]
}

# no_master_for SECONDS: no master passes during the whole time.
no_master_for() {
	local end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		[ -z "$(consul_master)" ] || { echo "a master appeared: $(consul_master)" >&2; return 1; }
		sleep 0.2
	done
}

# has_master_other_than PORT: one passing master and it is not PORT.
has_master_other_than() {
	local m
	m=$(consul_master)
	[ "$(printf '%s\n' "$m" | grep -c .)" -eq 1 ] && [ "${m##*:}" != "$1" ]
}

# replicates I MASTER_PORT: node I's Redis is a replica of that port, link up.
replicates() {
	rcli "$(redis_port "$1")" info replication | tr -d '\r' |
		grep -q "^master_port:$2$" &&
		rcli "$(redis_port "$1")" info replication | tr -d '\r' | grep -q '^master_link_status:up$'
}

# cluster_settled: one master passing, every other node replicating it with
# its replica service passing.
cluster_settled() {
	local m i mport
	m=$(master_node) || return 1
	mport=$(redis_port "$m")
	for i in $(seq "$CLUSTER_N"); do
		[ "$i" = "$m" ] && continue
		replicates "$i" "$mport" || return 1
	done
	[ "$(passing redis-slave | grep -c .)" -eq $((CLUSTER_N - 1)) ]
}

# check_invariants: S1 and S2 over the whole event log.
check_invariants() {
	curl -sf --max-time 10 "http://$OBS_ADDR/_emu/events" >"$BATS_TEST_TMPDIR/events.json"
	python3 "$RESEC_ROOT/tests/invariants.py" <"$BATS_TEST_TMPDIR/events.json"
}

# cluster_teardown: stop every node, fail on invariant violations or leftovers.
cluster_teardown() {
	local i rc=0 left
	if [ -n "${OBS_ADDR:-}" ] && ! check_invariants; then
		rc=1
	fi
	kill_tracked
	for i in $(seq "${CLUSTER_N:-0}"); do
		left=$(node_pids "$i")
		if [ -n "$left" ]; then
			echo "node $i left processes behind: $left" >&2
			# shellcheck disable=SC2086
			kill -KILL $left 2>/dev/null || true
			rc=1
		fi
	done
	# On any failure (the test's too), each node's last lines without the
	# debug ones (a look every 250 ms would crowd out what happened).
	if [ "$rc" -ne 0 ] || [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		for i in $(seq "${CLUSTER_N:-0}"); do
			echo "--- resec$i.log (tail, no debug)" >&2
			grep -v 'level=debug' "$BATS_TEST_TMPDIR/resec$i.log" | tail -n 30 >&2 || true
		done
	fi
	return "$rc"
}

# write_acked PORT PREFIX N [REPLICAS]: SET PREFIX1 … PREFIXN on one
# connection, then WAIT for REPLICAS (2) replicas; prints WAIT's answer.
write_acked() {
	local i
	{
		for i in $(seq "$3"); do echo "SET $2$i v"; done
		echo "WAIT ${4:-2} 5000"
	} | rcli "$1" | tail -n 1
}

# keys_on PORT PREFIX N: how many of PREFIX1 … PREFIXN that Redis holds.
keys_on() {
	# shellcheck disable=SC2046 # one word per key
	rcli "$1" exists $(seq -f "$2%g" "$3")
}

# master_is I: node I's Redis is the one passing master.
master_is() {
	[ "$(master_node)" = "$1" ]
}

# kill_redis I: SIGKILL node I's Redis.
kill_redis() {
	local v="REDIS_PID_n$1"
	kill -KILL "${!v}"
}

# kv_put KEY VALUE, kv_get KEY (the raw value), kv_del KEY: the KV store, through the observer's agent.
kv_put() { curl -sf --max-time 5 -X PUT --data "$2" "http://$OBS_ADDR/v1/kv/$1" >/dev/null; }
kv_get() { curl -sf --max-time 5 "http://$OBS_ADDR/v1/kv/$1?raw"; }
kv_del() { curl -sf --max-time 5 -X DELETE "http://$OBS_ADDR/v1/kv/$1" >/dev/null; }
