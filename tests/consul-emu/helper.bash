# SPDX-License-Identifier: MIT
# Helpers for tests that need Consul: start the emulator (or a real
# `consul agent -dev` when RESEC_TEST_CONSUL=real and consul is on PATH) on free
# loopback ports, talk to it with curl, drive its /_emu/ control endpoints.
# Sourced by tests/test_helper.bash; relies on its track_pid, free_port, wait_for.

# test_helper.bash keeps CONSUL_EMU and RESEC_TEST_CONSUL through its scrub.
: "${CONSUL_EMU:=$RESEC_ROOT/tests/consul-emu/consul-emu}"
export CONSUL_EMU

# emu_real: true when the tests run against a real Consul agent.
emu_real() {
	[ "${RESEC_TEST_CONSUL:-}" = real ] && command -v consul >/dev/null 2>&1
}

# emu_requires_control: skip the current test when the control endpoints are
# not available (real Consul).
emu_requires_control() {
	if emu_real; then
		skip "needs the consul-emu control endpoints"
	fi
}

# emu_start [--nodes N] [consul-emu flags...]: start the emulator on free ports,
# wait until every node listens; sets EMU_PORTS (array), EMU_ADDR, EMU_PID,
# EMU_LOG and exports CONSUL_HTTP_ADDR.
emu_start() {
	local nodes=1 ready
	local -a extra=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--nodes) nodes="$2"; shift 2 ;;
		--nodes=*) nodes="${1#--nodes=}"; shift ;;
		*) extra+=("$1"); shift ;;
		esac
	done
	if emu_real; then
		_emu_start_real
		return
	fi
	ready="$(mktemp "$BATS_TEST_TMPDIR/emu-ready.XXXXXX")"
	rm -f "$ready"
	EMU_LOG="${ready/emu-ready/emu-log}"
	"$CONSUL_EMU" --nodes "$nodes" --port 0 --ready-file "$ready" "${extra[@]}" \
		>/dev/null 2>"$EMU_LOG" 3>&- &
	EMU_PID=$!
	track_pid "$EMU_PID"
	if ! wait_for "consul-emu ready" 10 test -s "$ready"; then
		cat "$EMU_LOG" >&2
		return 1
	fi
	mapfile -t EMU_PORTS <"$ready"
	EMU_ADDR="127.0.0.1:${EMU_PORTS[0]}"
	CONSUL_HTTP_ADDR="$EMU_ADDR"
	export EMU_ADDR CONSUL_HTTP_ADDR EMU_PID EMU_LOG
}

# _emu_start_real: one `consul agent -dev` node on free loopback ports.
_emu_start_real() {
	local http serf_lan serf_wan server dir
	local -a tls=()
	# -grpc-tls-port exists from Consul 1.14 on.
	if consul agent -h 2>&1 | grep -q -- -grpc-tls-port; then
		tls=(-grpc-tls-port -1)
	fi
	http=$(free_port)
	serf_lan=$(free_port)
	serf_wan=$(free_port)
	server=$(free_port)
	dir="$BATS_TEST_TMPDIR/consul-real"
	mkdir -p "$dir"
	EMU_LOG="$dir/consul.log"
	consul agent -dev -node node1 -bind 127.0.0.1 -client 127.0.0.1 \
		-http-port "$http" -dns-port -1 -grpc-port -1 "${tls[@]}" \
		-serf-lan-port "$serf_lan" -serf-wan-port "$serf_wan" -server-port "$server" \
		>"$EMU_LOG" 2>&1 3>&- &
	EMU_PID=$!
	track_pid "$EMU_PID"
	EMU_PORTS=("$http")
	EMU_ADDR="127.0.0.1:$http"
	CONSUL_HTTP_ADDR="$EMU_ADDR"
	export EMU_ADDR CONSUL_HTTP_ADDR EMU_PID EMU_LOG
	wait_for "consul leader" 30 _emu_has_leader
}

_emu_has_leader() {
	local l
	l=$(curl -sf "http://$EMU_ADDR/v1/status/leader") || return 1
	[ -n "$l" ] && [ "$l" != '""' ]
}

# emu_curl PATH [curl args...]: curl against node 1 (PATH starts with /).
emu_curl() {
	local path="$1"
	shift
	curl -sS "$@" "http://$EMU_ADDR$path"
}

# emu_node_curl N PATH [curl args...]: curl against node N (1-based).
emu_node_curl() {
	local n="$1" path="$2"
	shift 2
	curl -sS "$@" "http://127.0.0.1:${EMU_PORTS[$((n - 1))]}$path"
}

# emu_ctl PATH: PUT to a control endpoint (e.g. /_emu/node/node1/fail); fails on
# a non-2xx answer.
emu_ctl() {
	curl -fsS -X PUT "http://$EMU_ADDR$1" >/dev/null
}

# emu_wait_blocked N: wait until N blocking queries are parked in the emulator
# (against real Consul: give them a moment).
emu_wait_blocked() {
	if emu_real; then
		sleep 0.5
		return
	fi
	wait_for "$1 blocked queries" 10 _emu_blocked_at_least "$1"
}

_emu_blocked_at_least() {
	local n
	n=$(curl -sS "http://$EMU_ADDR/_emu/state" | jq .BlockedQueries) || return 1
	[ "$n" -ge "$1" ]
}

# emu_synced: wait until every agent-local change (service register and
# deregister, TTL check updates) has reached the catalog, as anti-entropy does
# 1-5 ms after the call with --timing lan (against real Consul: a moment).
emu_synced() {
	if emu_real; then
		sleep 0.2
		return
	fi
	wait_for "anti-entropy" 10 _emu_no_pending_syncs
}

_emu_no_pending_syncs() {
	curl -sS "http://$EMU_ADDR/_emu/state" | jq -e '[.Nodes[].PendingSyncs] | add == 0'
}

# emu_events [SINCE]: print the event log (JSON array), events after seq SINCE.
emu_events() {
	curl -fsS "http://$EMU_ADDR/_emu/events?since=${1:-0}"
}
