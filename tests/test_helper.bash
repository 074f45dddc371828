# SPDX-License-Identifier: MIT
# Shared helpers for the bats suites: a scrubbed environment with the build
# first on PATH, real redis-server processes on free loopback ports, the Consul
# emulator, and a teardown that kills by pid everything a test started.

bats_require_minimum_version 1.5.0

RESEC_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
: "${RESEC_BUILD:=build}"
case "$RESEC_BUILD" in /*) ;; *) RESEC_BUILD="$RESEC_ROOT/$RESEC_BUILD" ;; esac
: "${RESEC_LOCK:=$RESEC_BUILD/bin/resec-lock}"
: "${RESEC_WATCH:=$RESEC_BUILD/bin/resec-watch}"
: "${RESEC_ROLE:=$RESEC_BUILD/bin/resec-role}"
: "${RESEC_HEALTH:=$RESEC_BUILD/bin/resec-health}"
: "${CONSUL_EMU:=$RESEC_ROOT/tests/consul-emu/consul-emu}"
export RESEC_ROOT RESEC_BUILD RESEC_LOCK RESEC_WATCH RESEC_ROLE RESEC_HEALTH CONSUL_EMU

# Scrub what could leak in from the caller's shell: every setting of ours.
for v in $(env | sed -n 's/^\(\(CONSUL\|REDIS\|RESEC\|HEALTHCHECK\|LOG\|ANNOUNCE\|MASTER\|SLAVE\)_[A-Z_]*\)=.*/\1/p'); do
	case "$v" in RESEC_ROOT|RESEC_BUILD|RESEC_LOCK|RESEC_WATCH|RESEC_ROLE|RESEC_HEALTH|RESEC_STATUS|RESEC_TEST_CONSUL|RESEC_TEST_SERVER|RESEC_TRIALS|CONSUL_EMU) ;; *) unset "$v" ;; esac
done
PATH="$RESEC_BUILD/bin:$RESEC_ROOT/scripts:$PATH"
export PATH

# RESEC_TEST_SERVER: the server every suite starts wherever it says
# redis-server (make test-valkey sets valkey-server). Another server stands in
# under the Redis names through small exec shims first on PATH, with its own
# cli and sentinel beside it (valkey-cli, valkey-sentinel), so that no test
# names the server; exec keeps the pid a test tracks.
: "${RESEC_TEST_SERVER:=redis-server}"
export RESEC_TEST_SERVER
server_shims() {
	local dir="$BATS_RUN_TMPDIR/test-server" base="${RESEC_TEST_SERVER%-server}" name target
	mkdir -p "$dir"
	for name in server cli sentinel; do
		target=$(command -v "$base-$name") || {
			echo "RESEC_TEST_SERVER=$RESEC_TEST_SERVER: no $base-$name on PATH" >&2
			return 1
		}
		printf '#!/bin/sh\nexec %s "$@"\n' "$target" >"$dir/redis-$name.$$"
		chmod 755 "$dir/redis-$name.$$"
		mv -f "$dir/redis-$name.$$" "$dir/redis-$name"
	done
	PATH="$dir:$PATH"
}
if [ "$RESEC_TEST_SERVER" != redis-server ]; then
	server_shims || return 1
fi
# ASan: fail loudly on errors; leak checks stay on.
export ASAN_OPTIONS="abort_on_error=0:exitcode=99:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=99"

# track_pid PID: kill PID (and its process group when it leads one) at teardown.
track_pid() {
	echo "$1" >>"$BATS_TEST_TMPDIR/.pids"
}

# kill_tracked: TERM then KILL everything track_pid recorded, newest first.
kill_tracked() {
	local f="$BATS_TEST_TMPDIR/.pids" pid
	[ -f "$f" ] || return 0
	for pid in $(tac "$f"); do
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		while read -r pid; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done <"$f"
		[ "$alive" -eq 0 ] && break
		sleep 0.1
	done
	while read -r pid; do
		kill -KILL "$pid" 2>/dev/null || true
	done <"$f"
	rm -f "$f"
}

teardown() {
	kill_tracked
}

# free_port: print a TCP port that is free on 127.0.0.1 right now, from below
# the ephemeral range (tests/free_port.py says why).
free_port() {
	python3 "$RESEC_ROOT/tests/free_port.py"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for() {
	local what="$1" timeout="$2"
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out after ${timeout}s waiting for $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

# start_redis NAME [redis-server options...]: start a redis-server in
# $BATS_TEST_TMPDIR/NAME on a free port; sets REDIS_PORT_<NAME> and prints nothing.
start_redis() {
	local name="$1"
	shift
	local dir="$BATS_TEST_TMPDIR/redis-$name" port pid
	mkdir -p "$dir"
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		# No diskless-sync delay: replicas sync at once instead of after 5 s.
		redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
			--appendonly no --daemonize no --repl-diskless-sync-delay 0 \
			--logfile "$dir/redis.log" "$@" &
		pid=$!
		track_pid "$pid"
		if wait_for "redis $name on $port" 10 redis_ping "$port" "$@"; then
			printf -v "REDIS_PORT_$name" '%s' "$port"
			printf -v "REDIS_PID_$name" '%s' "$pid"
			return 0
		fi
		kill -KILL "$pid" 2>/dev/null || true
	done
	echo "could not start redis $name" >&2
	return 1
}

# start_redis_conf NAME: like start_redis, but from a config file
# ($BATS_TEST_TMPDIR/redis-NAME/redis.conf) that resec-role may rewrite.
start_redis_conf() {
	local name="$1" dir="$BATS_TEST_TMPDIR/redis-$1" port pid
	mkdir -p "$dir"
	port=$(free_port)
	printf 'bind 127.0.0.1\nport %s\ndir %s\nsave ""\nappendonly no\nrepl-diskless-sync-delay 0\nlogfile %s/redis.log\n' \
		"$port" "$dir" "$dir" >"$dir/redis.conf"
	redis-server "$dir/redis.conf" &
	pid=$!
	track_pid "$pid"
	wait_for "redis $name on $port" 10 redis_ping "$port" || return 1
	printf -v "REDIS_PORT_$name" '%s' "$port"
	printf -v "REDIS_PID_$name" '%s' "$pid"
}

# restart_redis NAME MODE: start NAME's Redis again on its port, empty (no
# persistence), the way an operator's unit would: MODE conf (from its config
# file, which resec-role rewrote), fenced (the fence on the command line, as
# deploy/docker does) or bare (neither: writable until resec fences it).
restart_redis() {
	local name="$1" mode="$2" dir="$BATS_TEST_TMPDIR/redis-$1" port pid v
	v="REDIS_PORT_$name"
	port=${!v}
	case "$mode" in
	conf) redis-server "$dir/redis.conf" & ;;
	fenced | bare)
		local -a fence=()
		[ "$mode" = bare ] || fence=(--min-replicas-to-write 1000000 --min-replicas-max-lag 1000010)
		redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
			--daemonize no --repl-diskless-sync-delay 0 --logfile "$dir/redis.log" "${fence[@]}" &
		;;
	*) echo "restart_redis: unknown mode $mode" >&2; return 1 ;;
	esac
	pid=$!
	track_pid "$pid"
	printf -v "REDIS_PID_$name" '%s' "$pid"
	wait_for "redis $name back on $port" 10 redis_ping "$port"
}

# redis_ping PORT [server options]: true when the server answers (auth-aware).
redis_ping() {
	local port="$1"
	shift
	local out
	out=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>&1) || return 1
	case "$out" in PONG|*NOAUTH*|*"Authentication required"*) return 0 ;; esac
	return 1
}

# rcli PORT args...: redis-cli against 127.0.0.1:PORT.
rcli() {
	local port="$1"
	shift
	redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# The Consul emulator helpers live beside the emulator.
if [ -f "$RESEC_ROOT/tests/consul-emu/helper.bash" ]; then
	# shellcheck source=/dev/null
	. "$RESEC_ROOT/tests/consul-emu/helper.bash"
fi
