#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Hostile input from Consul, the configuration and the environment: each class
# gets a bounded, clear answer (docs/operations.md, "Bad input: Consul,
# configuration, environment"). Consul's side is tests/hostile-consul.py, which
# answers nested, wide, endless, trickling, silent, misshapen and evil; data of
# the wrong shape is written into the emulator. Bounds are asserted with wide
# margins; each test failed on the code before the fix.

load test_helper

: "${RESEC_STATUS:=$RESEC_BUILD/bin/resec-status}"
LOCK_FLAG=3304740253564472344

setup() {
	T="$BATS_TEST_TMPDIR"
}

# hostile MODE: start tests/hostile-consul.py in MODE; sets CONSUL_HTTP_ADDR, HOSTILE_LOG.
hostile() {
	local ready="$T/hostile.ready"
	HOSTILE_LOG="$T/hostile.log"
	rm -f "$ready"
	python3 "$RESEC_ROOT/tests/hostile-consul.py" "$1" "$ready" "$HOSTILE_LOG" 3>&- &
	track_pid $!
	wait_for "hostile consul ($1)" 10 test -s "$ready"
	export CONSUL_HTTP_ADDR="127.0.0.1:$(cat "$ready")"
}

# timed MAX_SECONDS CMD...: run CMD like `run`, failing when it took MAX_SECONDS or more
# (killed at four times that: a program that blocks for ever fails instead of hanging).
timed() {
	local max="$1" t0 ms
	shift
	t0=${EPOCHREALTIME/./}
	run --separate-stderr timeout -k 2 $((max * 4)) "$@"
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	echo "# ${*##*/} took ${ms} ms (status $status)" >&3
	if [ "$ms" -ge $((max * 1000)) ]; then
		echo "took ${ms} ms, bound ${max} s: $*" >&2
		return 1
	fi
}

# peak_rss CMD...: run CMD (output dropped), print its peak RSS in KB; keeps its status.
peak_rss() {
	python3 -c 'import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(p.returncode)' "$@"
}

# lacks REGEX TEXT: no match of the extended REGEX in TEXT (bytes, C locale).
lacks() {
	if printf '%s' "$2" | LC_ALL=C grep -q -E -e "$1"; then
		echo "unexpected match of $1 in: $2" >&2
		return 1
	fi
}

# one_line: stderr is one line, with no control character.
one_line() {
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	lacks '[[:cntrl:]]' "$stderr"
}

# ---- Consul's answers: nesting, size, counts, time ----

@test "nested JSON ([[[...]]], 200 KB): refused at once by every reader, exit 69 (took 13-19 s)" {
	hostile nested
	timed 5 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"nested too deep"* ]]
	timed 5 "$RESEC_WATCH" --once
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"nested too deep"* ]]
	timed 5 "$RESEC_LOCK" --once --key hostile/.lock -- true
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"nested too deep"* ]]
}

@test "an answer that never ends is cut at 4 MiB: exit 69, memory bounded" {
	hostile endless
	timed 10 "$RESEC_WATCH" --once
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"response larger than 4194304 bytes"* ]]
	timed 10 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"response larger than 4194304 bytes"* ]]
	run -69 peak_rss "$RESEC_WATCH" --once
	echo "# peak RSS of resec-watch --once: ${output} KB" >&3
	# The sanitizers' own footprint is part of it; 64 MiB of body alone did not fit under this.
	[ "$output" -lt 60000 ]
}

@test "a health answer of 5000 instances: refused (at most 4096), exit 69" {
	HOSTILE_COUNT=5000 hostile wide
	timed 10 "$RESEC_WATCH" --once
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"more than 4096 entries"* ]]
	timed 10 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"more than 4096 entries"* ]]
}

@test "a catalog of hundreds of unreachable instances: resec-status probes 64, then says so" {
	# A Redis that accepts and never answers: each probe costs the whole HEALTHCHECK_TIMEOUT.
	python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1024)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept()[0])' "$T/mute.port" &
	track_pid $!
	wait_for "a mute redis" 10 test -s "$T/mute.port"
	HOSTILE_COUNT=300 HOSTILE_TARGET="127.0.0.1:$(cat "$T/mute.port")" hostile wide
	# 600 instances (both services) x 100 ms took a minute; 64 probes take about 7 s.
	HEALTHCHECK_TIMEOUT=100ms timed 25 "$RESEC_STATUS"
	[ "$status" -eq 1 ]
	[[ "$output" == *"problem: 600 instances registered; only the first 64 were probed"* ]]
}

@test "a server that trickles its answer, or never answers, is cut off at the request timeout" {
	# CURLOPT_TIMEOUT_MS bounds the whole request, not each read: proven here.
	HOSTILE_GAP=0.3 hostile trickle
	HEALTHCHECK_TIMEOUT=1s timed 6 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"timed out after 1000 ms"* ]]
	kill_tracked
	hostile silent
	HEALTHCHECK_TIMEOUT=1s timed 6 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"timed out"* ]]
}

@test "answers of the wrong shape: a clear error and exit 69, never a crash" {
	hostile shapes
	timed 10 "$RESEC_STATUS"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"bad Node"* ]]
	timed 10 "$RESEC_WATCH" --once
	[ "$status" -eq 69 ]
	timed 10 "$RESEC_LOCK" --once --key hostile/.lock -- true
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"no ID string"* ]]
}

# ---- strings from Consul in human output ----

@test "names, addresses and lock values with newlines and escapes cannot forge resec-status's table" {
	hostile evil
	HEALTHCHECK_TIMEOUT=200ms run -1 --separate-stderr "$RESEC_STATUS"
	echo "$output"
	# No terminal escape, no forged line: one status line, and it is the real one.
	lacks $'[\x01-\x08\x0b-\x1f\x7f]' "$output"
	[ "$(grep -c '^status:' <<<"$output")" -eq 1 ]
	[ "$(tail -n 1 <<<"$output")" = "status: unhealthy" ]
	# Header, two instances, then the lines after the table: every line accounted for.
	[ "$(sed -n 2p <<<"$output" | cut -c1-2)" = "n1" ]
	[ "$(sed -n 3p <<<"$output" | cut -c1-2)" = "n2" ]
	[[ "$(sed -n 4p <<<"$output")" == "lock resec/.lock: held by n1?"* ]]
	run -1 --separate-stderr "$RESEC_STATUS" --json
	jq -e '.instances | length == 2' <<<"$output"
	[ "$(jq -r '.instances[0].node' <<<"$output")" = $'n1\nstatus: healthy\e[2J' ]
	run -1 --separate-stderr "$RESEC_STATUS" --prom
	# Every line a comment or a sample: name{labels} value, labels without raw newlines or escapes.
	run -1 grep -v -E '^(# (HELP|TYPE) .*|[a-z_]+(\{[^}]*\})? -?[0-9]+)$' <<<"$output"
	lacks $'\e' "$output"
}

@test "resec-watch prints one well-formed address per line or nothing" {
	hostile evil
	run -0 --separate-stderr "$RESEC_WATCH" --once
	[ "$output" = "" ]
	[[ "$stderr" == *"the passing master's address is not HOST:PORT; ignoring it"* ]]
	# In print mode too: the first (and only) line is empty, nothing else follows.
	"$RESEC_WATCH" >"$T/watch.out" 2>"$T/watch.err" &
	track_pid $!
	wait_for "a line" 10 test -s "$T/watch.out"
	[ "$(cat "$T/watch.out")" = "" ]
	[ "$(wc -l <"$T/watch.out")" -eq 1 ]
	grep -q "not HOST:PORT" "$T/watch.err"
}

@test "resec-status with nothing registered: no problem for the sanitizers (qsort of NULL)" {
	emu_start
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *"problem: no passing master instance"* ]]
	[[ "$stderr" != *"runtime error"* ]]
}

# ---- data of the wrong shape in Consul ----

@test "a lock key without the lock flag: logged once, waited on without spinning, taken once deleted" {
	emu_start
	emu_curl "/v1/kv/hostile/.lock?flags=7" -X PUT -d 'not a lock' >/dev/null
	"$RESEC_LOCK" --key hostile/.lock -- sh -c 'echo held >"$0"; exec sleep 600' "$T/held" \
		>"$T/lock.out" 2>"$T/lock.err" &
	local pid=$!
	track_pid $pid
	sleep 4 # the window: the refusal is logged once and nothing spins
	kill -0 "$pid"
	[ "$(grep -c 'existing key does not match lock use' "$T/lock.err")" -eq 1 ]
	# One session, a few reads: no spin (before, scripts/resec started over ~7 times a second).
	[ "$(emu_curl '/_emu/events?type=session_create' | jq length)" -eq 1 ]
	local reads
	reads=$(emu_curl /_emu/stats | jq '[.. | objects | to_entries[] | select(.key | test("GET /v1/kv")) | .value | numbers] | add // 0')
	echo "# KV reads in 4 s: $reads" >&3
	[ "$reads" -le 8 ]
	emu_curl /v1/kv/hostile/.lock | grep -q '"Flags": *7[,}]'
	[ "$(emu_curl /v1/kv/hostile/.lock | jq -r '.[0].Value' | base64 -d)" = "not a lock" ]
	# Deleting the key lets it through.
	emu_curl /v1/kv/hostile/.lock -X DELETE >/dev/null
	wait_for "lock taken" 40 test -s "$T/held"
	grep -q "the lock key is usable again" "$T/lock.err"
	# (jq reads numbers as doubles: the flag is compared as text.)
	emu_curl /v1/kv/hostile/.lock | grep -q "\"Flags\": *$LOCK_FLAG[,}]"
	# --timeout still ends the wait (exit 1, not 64).
	emu_curl "/v1/kv/hostile/other?flags=9" -X PUT -d x >/dev/null
	run -1 --separate-stderr "$RESEC_LOCK" --key hostile/other --timeout 2s -- true
}

# start_redis_node: one Redis, master of itself, and resec-health's settings for it.
redis_node() {
	start_redis a
	export REDIS_ADDR="127.0.0.1:$REDIS_PORT_a" HEALTHCHECK_TIMEOUT=500ms HEALTHCHECK_INTERVAL=100ms
}

kv_put() { emu_curl "/v1/kv/$1" -f -X PUT --data "$2" >/dev/null; }

@test "a switchover key without a session, or naming no node: the gate ignores it, resec-status reports it" {
	emu_start
	redis_node
	kv_put resec/switchover 10.9.9.9:6379
	run -0 "$RESEC_HEALTH" eligible
	[[ "$output" == eligible* ]]
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *"problem: key resec/switchover (to 10.9.9.9:6379) has no session"* ]]
	# Held by a live session, but naming no instance of the replica service.
	local sid
	sid=$(emu_curl /v1/session/create -f -X PUT -d '{"Name":"resec-switchover","TTL":"60s"}' | jq -r .ID)
	run -0 emu_curl "/v1/kv/resec/switchover?acquire=$sid" -f -X PUT -d 10.9.9.9:6379
	[ "$output" = true ]
	run -0 "$RESEC_HEALTH" eligible
	[[ "$output" == eligible* ]]
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *"problem: key resec/switchover names 10.9.9.9:6379, no instance of redis-slave"* ]]
	# Not an address at all.
	emu_curl "/v1/kv/resec/switchover?release=$sid" -f -X PUT -d $'\e[2Jnope' >/dev/null
	run -0 "$RESEC_HEALTH" eligible
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *'problem: key resec/switchover holds "?[2Jnope", not HOST:PORT'* ]]
}

@test "garbage in priority and maintenance keys: ignored, shown as problems, logged once by resec-health run" {
	emu_start
	redis_node
	kv_put "resec/priority/127.0.0.1:$REDIS_PORT_a" high
	kv_put "resec/priority/not-an-address" 5
	kv_put resec/master-offset lots
	run -0 "$RESEC_HEALTH" eligible
	[[ "$output" == eligible* ]]
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *"problem: key resec/priority/127.0.0.1:$REDIS_PORT_a holds \"high\", not a whole number"* ]]
	[[ "$output" == *"problem: key resec/priority/not-an-address does not end in HOST:PORT"* ]]
	[[ "$output" == *"problem: key resec/master-offset holds \"lots\", not an offset"* ]]
	# "off" in the maintenance key pauses failover all the same: said so.
	kv_put resec/maintenance off
	run -1 "$RESEC_HEALTH" eligible
	[[ "$output" == "maintenance mode on"* ]]
	run -1 --separate-stderr "$RESEC_STATUS"
	[[ "$output" == *'problem: key resec/maintenance holds "off": failover is paused all the same'* ]]
	# The long-running resec-health logs each once (keys read every ten intervals: 1 s); as
	# master it first publishes its offset, which replaces the garbage in master-offset.
	"$RESEC_HEALTH" run --role master 2>"$T/run.err" &
	track_pid $!
	wait_for "the bad keys logged" 10 grep -q "maintenance holds" "$T/run.err"
	sleep 2.5 # the window: two more reads of the keys (every 1 s), no second log line
	[ "$(grep -c 'election key of the wrong shape' "$T/run.err")" -eq 3 ]
	[ "$(grep -c 'not-an-address does not end in HOST:PORT' "$T/run.err")" -eq 1 ]
}

# ---- configuration: refused at start, exit 64, one line naming the setting ----

@test "control characters in settings and token files: exit 64, one line, the token never shown" {
	CONSUL_HTTP_TOKEN=$'Tok3n\r\nX-Injected: 1' run -64 --separate-stderr "$RESEC_WATCH" --once
	one_line
	[[ "$stderr" == *"CONSUL_HTTP_TOKEN"*"control characters"* ]]
	[[ "$stderr" != *Tok3n* && "$stderr" != *Injected* ]]
	printf 'Tok3n\r\nX-Injected: 1\n' >"$T/token"
	CONSUL_HTTP_TOKEN_FILE="$T/token" run -64 --separate-stderr "$RESEC_STATUS"
	one_line
	[[ "$stderr" == *"control characters"* && "$stderr" != *Tok3n* ]]
	CONSUL_SERVICE_PREFIX=$'redis\e[2J' run -64 --separate-stderr "$RESEC_HEALTH" check
	one_line
	[[ "$stderr" == *CONSUL_SERVICE_PREFIX* ]]
	MASTER_TAGS=$'a\nb' run -64 --separate-stderr timeout 20 "$RESEC_LOCK" -- true
	one_line
}

@test "KV keys and service names that would leave their path: exit 64 before any request" {
	hostile evil
	for key in ../agent/self resec/../../agent/self 'resec/.lock?recurse' 'resec//.lock' 'a b' 'a%2F..'; do
		CONSUL_LOCK_KEY="$key" run -64 --separate-stderr "$RESEC_STATUS"
		one_line
		[[ "$stderr" == *CONSUL_LOCK_KEY* ]]
		run -64 --separate-stderr timeout 20 "$RESEC_LOCK" --key "$key" -- true
		one_line
	done
	for name in .. ../agent 'redis master' 'a?b' 'a#b' 'a%b'; do
		CONSUL_SERVICE_PREFIX="$name" run -64 --separate-stderr "$RESEC_WATCH" --once
		one_line
		CONSUL_SERVICE_NAME="$name" run -64 --separate-stderr "$RESEC_STATUS"
		one_line
		run -64 --separate-stderr "$RESEC_WATCH" --once --service "$name"
		one_line
	done
	# Nothing reached the server.
	[ ! -s "$HOSTILE_LOG" ]
}

@test "a CONSUL_HTTP_ADDR that is not an address: exit 64 at start (some retried for ever)" {
	for addr in 127.0.0.1:99999 127.0.0.1:0 http:// http://:8500 'h:8500?x=1' 'http://h:8500/#f' '::1:8500' \
		'[::1' 'ftp://h:1' 'h:8x'; do
		# (Bounded: some of these used to pass the check and retry for ever.)
		CONSUL_HTTP_ADDR="$addr" run -64 --separate-stderr timeout 20 "$RESEC_LOCK" --key k -- true
		one_line
		[[ "$stderr" == *CONSUL_HTTP_ADDR* ]]
		CONSUL_HTTP_ADDR="$addr" run -64 --separate-stderr timeout 20 "$RESEC_WATCH"
		one_line
	done
}

@test "credentials in CONSUL_HTTP_ADDR: sent as basic auth, never printed or logged" {
	hostile evil
	local port=${CONSUL_HTTP_ADDR#*:}
	CONSUL_HTTP_ADDR="http://admin:S3cr3tPw@127.0.0.1:$port" run -0 --separate-stderr "$RESEC_HEALTH" --print-config
	[[ "$output" == *"CONSUL_HTTP_ADDR=http://***@127.0.0.1:$port"* ]]
	[[ "$output" != *S3cr3tPw* && "$output" != *admin* ]]
	CONSUL_HTTP_ADDR="http://admin:S3cr3tPw@127.0.0.1:99999" run -64 --separate-stderr "$RESEC_WATCH" --once
	[[ "$stderr" == *"***@127.0.0.1:99999"* && "$stderr" != *S3cr3tPw* && "$stderr" != *admin* ]]
	# Consul down: the error names no credential either.
	CONSUL_HTTP_ADDR="http://admin:S3cr3tPw@127.0.0.1:$(free_port)" run -69 --separate-stderr "$RESEC_WATCH" --once
	[[ "$stderr" != *S3cr3tPw* && "$stderr" != *admin* ]]
	# Sent as an Authorization header, not in the request line.
	local log="$T/stub.jsonl" ready="$T/stub.ready"
	python3 "$RESEC_ROOT/tests/consul-stub.py" "$log" "$ready" &
	track_pid $!
	wait_for "consul stub" 10 test -s "$ready"
	CONSUL_HTTP_ADDR="http://admin:S3cr3t%40Pw@127.0.0.1:$(cat "$ready")" run -0 "$RESEC_WATCH" --once
	[ "$(head -n 1 "$log" | jq -r .headers.authorization)" = "Basic $(printf 'admin:S3cr3t@Pw' | base64)" ]
	[[ "$(head -n 1 "$log" | jq -r .target)" != *S3cr3t* ]]
}

@test "a token file or state file that is not a regular file: exit 64 at once (a FIFO blocked for ever)" {
	mkfifo "$T/fifo"
	CONSUL_HTTP_TOKEN_FILE="$T/fifo" timed 5 "$RESEC_STATUS"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"not a regular file"* ]]
	CONSUL_HTTP_TOKEN_FILE=/dev/zero timed 5 "$RESEC_WATCH" --once
	[ "$status" -eq 64 ]
	CONSUL_HTTP_TOKEN_FILE=/dev/urandom timed 5 "$RESEC_LOCK" -- true
	[ "$status" -eq 64 ]
	timed 5 "$RESEC_STATUS" --state "$T/fifo"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--state"*"not a regular file"* ]]
	echo "lock_index 1" >"$T/real"
	ln -s "$T/real" "$T/link"
	run -64 --separate-stderr timeout 20 "$RESEC_STATUS" --state "$T/link"
	run -64 --separate-stderr timeout 20 "$RESEC_STATUS" --state /dev/null
}

@test "--kill-signal KILL or STOP for resec-lock's program (its trap fences Redis): exit 64" {
	for sig in KILL SIGKILL 9 STOP sigstop 19; do
		run -64 --separate-stderr timeout 20 "$RESEC_LOCK" --kill-signal "$sig" -- true
		one_line
		[[ "$stderr" == *"--kill-signal"* ]]
	done
	run -64 --separate-stderr timeout 20 "$RESEC_WATCH" --kill-signal STOP
	one_line
}

# ---- secrets in children ----

@test "resec-watch's program gets no Consul credentials, and keeps what it needs" {
	emu_start
	emu_curl /v1/agent/service/register -f -X PUT \
		-d '{"Name":"redis-master","Address":"10.1.1.1","Port":6390,"Check":{"TTL":"60s","Status":"passing"}}'
	echo "FileT0ken" >"$T/token"
	CONSUL_HTTP_TOKEN=EnvT0ken CONSUL_HTTP_TOKEN_FILE="$T/token" CONSUL_HTTP_AUTH=u:AuthPw REDIS_PASSWORD=rpw \
		"$RESEC_WATCH" -- sh -c 'env >"$0"' "$T/env" 2>"$T/watch.err" &
	track_pid $!
	wait_for "the program ran" 10 grep -q RESEC_MASTER_ADDR "$T/env"
	run -1 grep -E '^CONSUL_HTTP_(TOKEN|TOKEN_FILE|AUTH)=|T0ken|AuthPw' "$T/env"
	grep -q '^RESEC_MASTER_ADDR=10.1.1.1:6390$' "$T/env"
	grep -q '^REDIS_PASSWORD=rpw$' "$T/env"
	grep -q "^CONSUL_HTTP_ADDR=$CONSUL_HTTP_ADDR$" "$T/env"
}
