#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The Consul client of common/ against a loopback stub that records requests:
# what it sends (address forms, token, auth, ns, escaping, bodies) and how it
# reads answers (index, 404, plain-text errors, timeouts, cancellation).

load test_helper

setup() {
	TEST_CONSUL="$RESEC_BUILD/unit/test_consul"
	STUB_LOG="$BATS_TEST_TMPDIR/requests.jsonl"
}

# start_stub [UNIX_SOCKET]: start the stub; sets STUB_PORT and CONSUL_HTTP_ADDR.
start_stub() {
	local ready="$BATS_TEST_TMPDIR/stub.ready"
	rm -f "$ready"
	python3 "$RESEC_ROOT/tests/consul-stub.py" "$STUB_LOG" "$ready" "$@" &
	track_pid $!
	wait_for "consul stub" 10 test -s "$ready"
	STUB_PORT=$(cat "$ready")
	export CONSUL_HTTP_ADDR="127.0.0.1:$STUB_PORT"
}

# req N FILTER: jq FILTER on the Nth recorded request (1-based; -1 = last).
req() {
	local n="$1"
	if [ "$n" = -1 ]; then tail -n 1 "$STUB_LOG"; else sed -n "${n}p" "$STUB_LOG"; fi | jq -r "$2"
}

@test "host:port address: plain http, no token header, user agent" {
	start_stub
	run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"base=http://127.0.0.1:$STUB_PORT"* ]]
	[[ "$output" == *"leader=127.0.0.1:8300"* ]]
	[ "$(req 1 .method)" = GET ]
	[ "$(req 1 .target)" = /v1/status/leader ]
	[ "$(req 1 '.headers["x-consul-token"]')" = null ]
	[ "$(req 1 '.headers.authorization')" = null ]
	[[ "$(req 1 '.headers["user-agent"]')" == resec/* ]]
}

@test "http://host:port/prefix address keeps the path prefix" {
	start_stub
	CONSUL_HTTP_ADDR="http://127.0.0.1:$STUB_PORT/consul/" run -0 "$TEST_CONSUL" self
	[[ "$output" == *"node=node1 dc=dc1"* ]]
	[ "$(req 1 .target)" = /consul/v1/agent/self ]
}

@test "https:// address speaks TLS (a plain listener fails the handshake with a clear error)" {
	start_stub
	CONSUL_HTTP_ADDR="https://127.0.0.1:$STUB_PORT" TEST_REQUEST_MS=3000 run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"base=https://127.0.0.1:$STUB_PORT"* ]]
	[[ "$output" == *"rc=-1 status=0"* ]]
	[[ "$output" == *"err=consul: GET /v1/status/leader: "* ]]
	# CONSUL_HTTP_SSL=true does not let an explicit http:// downgrade.
	CONSUL_HTTP_ADDR="http://127.0.0.1:$STUB_PORT" CONSUL_HTTP_SSL=true run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"base=https://127.0.0.1:$STUB_PORT"* ]]
	# The TLS server name is what curl connects as (SNI, verification), port stripped.
	CONSUL_HTTP_SSL=true CONSUL_TLS_SERVER_NAME=consul.example:8501 run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"base=https://consul.example:$STUB_PORT"* ]]
	[[ "$output" == *"rc=-1"* ]]
	[[ "$output" != *"Could not resolve"* ]]
}

@test "unix:// address dials the socket" {
	local sock="$BATS_TEST_TMPDIR/consul.sock"
	start_stub "$sock"
	CONSUL_HTTP_ADDR="unix://$sock" run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"base=http://localhost"* ]]
	[[ "$output" == *"rc=0 status=200"* ]]
	[[ "$output" == *"leader=127.0.0.1:8300"* ]]
	[ "$(req 1 .target)" = /v1/status/leader ]
}

@test "unknown scheme and unreachable agent give one clear error" {
	CONSUL_HTTP_ADDR="ftp://x:1" run -2 "$TEST_CONSUL" leader
	[[ "$output" == *"Unknown protocol scheme: ftp"* ]]
	CONSUL_HTTP_ADDR="127.0.0.1:$(free_port)" run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=-1 status=0"* ]]
	[[ "$output" == *"err=consul: GET /v1/status/leader: "*"onnect"* ]]
}

@test "token goes only in X-Consul-Token, never in the URL or the error text" {
	start_stub
	CONSUL_HTTP_TOKEN=s3cr3t-t0ken-value run -0 "$TEST_CONSUL" raw PUT /v1/denied
	[ "$(req 1 '.headers["x-consul-token"]')" = s3cr3t-t0ken-value ]
	[[ "$(req 1 .target)" != *s3cr3t* ]]
	[[ "$output" == *"err=consul: PUT /v1/denied: 403 Permission denied: token with AccessorID 'x' lacks permission 'key:write' on \"a\""* ]]
	[[ "$output" != *s3cr3t* ]]
	# From a token file, whitespace-trimmed.
	printf '  file-t0ken-xyz \n' >"$BATS_TEST_TMPDIR/token"
	CONSUL_HTTP_TOKEN_FILE="$BATS_TEST_TMPDIR/token" run -0 "$TEST_CONSUL" leader
	[ "$(req 2 '.headers["x-consul-token"]')" = file-t0ken-xyz ]
	[[ "$output" != *file-t0ken* ]]
	# Empty token: no header at all.
	CONSUL_HTTP_TOKEN= run -0 "$TEST_CONSUL" leader
	[ "$(req 3 '.headers["x-consul-token"]')" = null ]
}

@test "CONSUL_HTTP_AUTH sends basic auth and keeps the password out of errors" {
	start_stub
	CONSUL_HTTP_AUTH='alice:pa55w0rd-x' run -0 "$TEST_CONSUL" raw GET /v1/denied
	[ "$(req 1 .headers.authorization)" = "Basic $(printf 'alice:pa55w0rd-x' | base64)" ]
	[[ "$output" != *pa55w0rd* ]]
	CONSUL_HTTP_AUTH='bob' run -0 "$TEST_CONSUL" leader
	[ "$(req 2 .headers.authorization)" = "Basic $(printf 'bob:' | base64)" ]
	# A long password (and token) still fits the request head.
	local pw
	pw=$(printf 'p%.0s' {1..1000})
	CONSUL_HTTP_AUTH="carol:$pw" CONSUL_HTTP_TOKEN="$pw" run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	[ "$(req 3 .headers.authorization)" = "Basic $(printf 'carol:%s' "$pw" | base64 -w0)" ]
}

@test "ns is sent only when CONSUL_NAMESPACE is set, escaped" {
	start_stub
	run -0 "$TEST_CONSUL" kvget free
	[ "$(req 1 .target)" = /v1/kv/free ]
	CONSUL_NAMESPACE='team a' run -0 "$TEST_CONSUL" kvget free 5 1000
	[ "$(req 2 .target)" = "/v1/kv/free?index=5&wait=1s&ns=team%20a" ]
	CONSUL_NAMESPACE=ops run -0 "$TEST_CONSUL" leader
	[ "$(req 3 .target)" = "/v1/status/leader?ns=ops" ]
}

@test "KV get: entry, index, known leader, consistent; absent is 404 with an index" {
	start_stub
	run -0 "$TEST_CONSUL" kvget resec/.lock 0 0 consistent
	[[ "$output" == *"rc=0 status=200 index=42 leader=1"* ]]
	[[ "$output" == *"key=resec/.lock flags=3304740253564472344 session=11111111-2222-3333-4444-555555555555 lock_index=3 modify_index=42 value=127.0.0.1:6379"* ]]
	[ "$(req 1 .target)" = "/v1/kv/resec/.lock?consistent" ]
	run -0 "$TEST_CONSUL" kvget /missing
	[[ "$output" == *"rc=1 status=404 index=7"* ]]
	[ "$(req 2 .target)" = /v1/kv/missing ]
	run -0 "$TEST_CONSUL" kvget zero
	[[ "$output" == *"rc=0 status=200 index=1 "* ]]
	run -0 "$TEST_CONSUL" kvget '//a b/c?d&e' 0 0 stale
	[ "$(req 4 .target)" = "/v1/kv/a%20b/c%3Fd%26e?stale" ]
}

@test "blocking read sends index and wait; the client timeout is wait + wait/16 + request timeout" {
	start_stub
	run -0 "$TEST_CONSUL" kvget free 17 90000
	[ "$(req 1 .target)" = "/v1/kv/free?index=17&wait=1m30s" ]
	TEST_REQUEST_MS=500 run -0 "$TEST_CONSUL" kvget hang 5 1000
	[[ "$output" == *"rc=-1 status=0"* ]]
	[[ "$output" == *"err=consul: GET /v1/kv/hang: timed out after 1562 ms"* ]]
	local ms
	ms=$(sed -n 's/^elapsed_ms=//p' <<<"$output")
	[ "$ms" -ge 1400 ]
	[ "$ms" -lt 5000 ]
}

@test "a cancel fd readable (signal self-pipe) abandons a blocking request at once" {
	start_stub
	run -0 "$TEST_CONSUL" cancel
	[[ "$output" == *"rc=-2"* ]]
	[[ "$output" == *"err=consul: GET /v1/kv/hang: cancelled"* ]]
	local ms
	ms=$(sed -n 's/^elapsed_ms=//p' <<<"$output")
	[ "$ms" -ge 250 ]
	[ "$ms" -lt 2000 ]
	[[ "$output" == *"after rc=0"* ]]
}

@test "a deadline bounds a blocking request" {
	start_stub
	run -0 "$TEST_CONSUL" deadline
	[[ "$output" == *"rc=-1"* ]]
	[[ "$output" == *"timed out"*"(deadline)"* ]]
	local ms
	ms=$(sed -n 's/^elapsed_ms=//p' <<<"$output")
	[ "$ms" -lt 2000 ]
	[[ "$output" == *"after rc=0"* ]]
}

@test "plain-text error bodies are trimmed into one line" {
	start_stub
	run -0 "$TEST_CONSUL" put leaderless
	[[ "$output" == *"err=consul: PUT /v1/kv/leaderless: 500 rpc error making call: No cluster leader"$'\n'* ]] ||
		[[ "$output" == *"err=consul: PUT /v1/kv/leaderless: 500 rpc error making call: No cluster leader" ]]
	run -0 "$TEST_CONSUL" kvget leaderless
	[[ "$output" == *"rc=-1 status=500 index=3 leader=0"* ]]
	[[ "$output" == *"err=consul: GET /v1/kv/leaderless: 500 No cluster leader"* ]]
}

@test "KV writes: acquire/release/cas with flags and value, true/false" {
	start_stub
	run -0 "$TEST_CONSUL" acquire resec/.lock sid-1 3304740253564472344 '10.0.0.1:6379'
	[[ "$output" == *"rc=0 status=200"* && "$output" == *"ok=1"* ]]
	[ "$(req 1 .method)" = PUT ]
	[ "$(req 1 .target)" = "/v1/kv/resec/.lock?acquire=sid-1&flags=3304740253564472344" ]
	[ "$(req 1 .body)" = 10.0.0.1:6379 ]
	[ "$(req 1 '.headers["content-type"]')" = null ]
	run -0 "$TEST_CONSUL" acquire taken sid-1 0 v
	[[ "$output" == *"ok=0"* ]]
	run -0 "$TEST_CONSUL" release resec/.lock sid-1 7 v
	[ "$(req 3 .target)" = "/v1/kv/resec/.lock?release=sid-1&flags=7" ]
	run -0 "$TEST_CONSUL" putcas k 0 0 x
	[ "$(req 4 .target)" = "/v1/kv/k?cas=0&flags=0" ]
	run -0 "$TEST_CONSUL" delcas k 42
	[ "$(req 5 .method)" = DELETE ]
	[ "$(req 5 .target)" = "/v1/kv/k?cas=42" ]
	[[ "$output" == *"ok=1"* ]]
	run -0 "$TEST_CONSUL" put k 0 ''
	[ "$(req 6 .target)" = "/v1/kv/k?flags=0" ]
	[ "$(req 6 .headers[\"content-length\"])" = 0 ]
}

@test "session create body: Name, TTL, LockDelay as a Go duration incl. 0s, Behavior, NodeChecks" {
	start_stub
	run -0 "$TEST_CONSUL" session-create 'resec "a"' 15000 0 0
	[[ "$output" == *"id=11111111-2222-3333-4444-555555555555"* ]]
	[ "$(req 1 .target)" = /v1/session/create ]
	[ "$(req 1 '.headers["content-type"]')" = application/json ]
	[ "$(req 1 '.body | fromjson | .Name')" = 'resec "a"' ]
	[ "$(req 1 '.body | fromjson | .TTL')" = 15s ]
	[ "$(req 1 '.body | fromjson | .LockDelay')" = 0s ]
	[ "$(req 1 '.body | fromjson | .Behavior')" = release ]
	[ "$(req 1 '.body | fromjson | .NodeChecks | length')" = 0 ]
	run -0 "$TEST_CONSUL" session-create resec 90000 5500 2
	[ "$(req 2 '.body | fromjson | .TTL')" = 1m30s ]
	[ "$(req 2 '.body | fromjson | .LockDelay')" = 5.5s ]
	[ "$(req 2 '.body | fromjson | .NodeChecks[1]')" = 'service:redis@"x"' ]
	run -0 "$TEST_CONSUL" session-create resec 15000
	[ "$(req 3 '.body | fromjson | has("LockDelay")')" = false ]
	[ "$(req 3 '.body | fromjson | has("NodeChecks")')" = false ]
}

@test "session renew adopts the returned TTL; 404 is 'gone'; info [] is gone; destroy" {
	start_stub
	run -0 "$TEST_CONSUL" renew 11111111-2222-3333-4444-555555555555
	[[ "$output" == *"rc=0"* && "$output" == *"ttl_ms=30000"* ]]
	[ "$(req 1 .method)" = PUT ]
	run -0 "$TEST_CONSUL" renew gone
	[[ "$output" == *"rc=1 status=404"* ]]
	[[ "$output" == *"session gone"* ]]
	run -0 "$TEST_CONSUL" info gone 3 2000
	[[ "$output" == *"rc=1 status=200 index=9"* ]]
	[ "$(req 3 .target)" = "/v1/session/info/gone?index=3&wait=2s" ]
	run -0 "$TEST_CONSUL" info abc
	[[ "$output" == *"ttl=30s lock_delay_ns=15000000000 behavior=release"* ]]
	run -0 "$TEST_CONSUL" destroy abc
	[[ "$output" == *"rc=0"* ]]
	[ "$(req 5 .target)" = /v1/session/destroy/abc ]
}

@test "service register body is escaped JSON; empty Address omitted; deregister 404 is success" {
	start_stub
	run -0 "$TEST_CONSUL" register
	[[ "$output" == *"rc=0 status=200"* ]]
	local b='.body | fromjson'
	[ "$(req 1 "$b | .ID")" = 'redis@:6379' ]
	[ "$(req 1 "$b | .Name")" = redis-master ]
	[ "$(req 1 "$b | has(\"Address\")")" = false ]
	[ "$(req 1 "$b | .Port")" = 6379 ]
	[ "$(req 1 "$b | .Tags[1]")" = 'we"ird\tag' ]
	[ "$(req 1 "$b | .Meta.run_id")" = $'line\nbreak\x01' ]
	[ "$(req 1 "$b | .Check.CheckID")" = 'service:redis@:6379' ]
	[ "$(req 1 "$b | .Check.TTL")" = 10s ]
	[ "$(req 1 "$b | .Check.Status")" = passing ]
	[ "$(req 1 "$b | .Check.DeregisterCriticalServiceAfter")" = 72h0m0s ]
	run -0 "$TEST_CONSUL" register redis-slave 10.1.2.3
	[ "$(req 2 "$b | .Address")" = 10.1.2.3 ]
	run -0 "$TEST_CONSUL" deregister unknown
	[[ "$output" == *"rc=0 status=404"* ]]
	run -0 "$TEST_CONSUL" deregister 'redis@:6379'
	[ "$(req 4 .target)" = /v1/agent/service/deregister/redis%40%3A6379 ]
}

@test "check update and TTL pass: body, note, unknown check is 'absent'" {
	start_stub
	run -0 "$TEST_CONSUL" update 'service:redis@:6379' warning 'slow "ping"'
	[[ "$output" == *"rc=0"* ]]
	[ "$(req 1 .target)" = /v1/agent/check/update/service%3Aredis%40%3A6379 ]
	[ "$(req 1 '.body | fromjson | .Status')" = warning ]
	[ "$(req 1 '.body | fromjson | .Output')" = 'slow "ping"' ]
	run -0 "$TEST_CONSUL" update unknown passing ''
	[[ "$output" == *"rc=1 status=404"* ]]
	run -0 "$TEST_CONSUL" ttl chk pass 'all good'
	[ "$(req 3 .target)" = "/v1/agent/check/pass/chk?note=all%20good" ]
}

@test "health service: passing, tag, blocking params; entries decoded" {
	start_stub
	run -0 "$TEST_CONSUL" health redis-master master 1 12 3000
	[[ "$output" == *"rc=0 status=200 index=77"* ]]
	[[ "$output" == *"entry node=node1 addr=10.0.0.1 svc=redis@:6379 port=6379 tags=2 meta=2 checks=2"* ]]
	[ "$(req 1 .target)" = "/v1/health/service/redis-master?passing&tag=master&index=12&wait=3s" ]
	run -0 "$TEST_CONSUL" health redis-master '' 0
	[ "$(req 2 .target)" = /v1/health/service/redis-master ]
}

@test "blocking loop: index regression resets to 0, one connection is kept alive" {
	start_stub
	run -0 "$TEST_CONSUL" watch-regress 5
	echo "$output"
	[ "${lines[1]}" = "sent=0 got=100 next=100 changed=1" ]
	[ "${lines[2]}" = "sent=100 got=100 next=100 changed=0" ]
	[ "${lines[3]}" = "sent=100 got=50 next=0 changed=0" ]
	[ "${lines[4]}" = "sent=0 got=50 next=50 changed=0" ]
	[ "${lines[5]}" = "sent=50 got=60 next=60 changed=0" ]
	[ "$(jq -r .client "$STUB_LOG" | sort -u | wc -l)" -eq 1 ]
}

@test "blocking loop rules: rate limit, back-off, content comparison (no server)" {
	run -0 "$TEST_CONSUL" watch-unit
	echo "$output"
	[[ "$output" != *"not ok"* ]]
}

@test "a token of three characters is scrubbed from the error text too (the Redis client's rule)" {
	start_stub
	# The 403 body says "permission 'key:write'": the token "key" must not show.
	CONSUL_HTTP_TOKEN=key run -0 "$TEST_CONSUL" raw PUT /v1/denied
	echo "$output"
	[ "$(req 1 '.headers["x-consul-token"]')" = key ]
	[[ "$output" == *"err=consul: PUT /v1/denied: 403 Permission denied: token with AccessorID 'x' lacks permission '***:write' on \"a\""* ]]
	[[ "$output" != *key* ]]
}

@test "unit: the decoders of Consul's answers (tests/unit/test_consul_decode.c)" {
	run -0 "$RESEC_BUILD/unit/test_consul_decode"
	echo "$output"
	[[ "$output" != *"not ok"* ]]
	[[ "$output" == *"1.."* ]]
}

@test "unit: the one secret scrubber of both clients (tests/unit/test_scrub.c)" {
	run -0 "$RESEC_BUILD/unit/test_scrub"
	echo "$output"
	[[ "$output" != *"not ok"* ]]
	[[ "$output" == *"1.."* ]]
}

# make_pki DIR: a CA, a server certificate for DNS:consul.test only, a client certificate.
make_pki() {
	local d="$1" q=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$d/capath"
	openssl req -x509 "${q[@]}" -days 2 -subj /CN=resec-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req "${q[@]}" -subj /CN=consul.test -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=DNS:consul.test\n') -out "$d/srv.crt" 2>/dev/null
	openssl req "${q[@]}" -subj /CN=resec-client -keyout "$d/cli.key" -out "$d/cli.csr" 2>/dev/null
	openssl x509 -req -in "$d/cli.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-out "$d/cli.crt" 2>/dev/null
	cp "$d/ca.crt" "$d/capath/"
	openssl rehash "$d/capath" 2>/dev/null || c_rehash "$d/capath" >/dev/null
}

@test "TLS: CA file or dir, verification off, server name, client certificate" {
	command -v openssl >/dev/null || skip "no openssl"
	local pki="$BATS_TEST_TMPDIR/pki"
	make_pki "$pki"
	STUB_TLS_CERT="$pki/srv.crt" STUB_TLS_KEY="$pki/srv.key" start_stub
	export CONSUL_HTTP_ADDR="https://127.0.0.1:$STUB_PORT"
	# The certificate names consul.test, not 127.0.0.1: the name must be given.
	CONSUL_CACERT="$pki/ca.crt" run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=-1"* ]]
	CONSUL_CACERT="$pki/ca.crt" CONSUL_TLS_SERVER_NAME=consul.test run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	CONSUL_CAPATH="$pki/capath" CONSUL_TLS_SERVER_NAME=consul.test run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	# Unknown CA: refused; with verification off: accepted.
	CONSUL_TLS_SERVER_NAME=consul.test run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=-1"*"err=consul: GET /v1/status/leader: "* ]]
	CONSUL_HTTP_SSL_VERIFY=false run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	[ "$(wc -l <"$STUB_LOG")" -eq 3 ]
}

@test "TLS: a client certificate is presented when the server requires one" {
	command -v openssl >/dev/null || skip "no openssl"
	local pki="$BATS_TEST_TMPDIR/pki"
	make_pki "$pki"
	STUB_TLS_CERT="$pki/srv.crt" STUB_TLS_KEY="$pki/srv.key" STUB_TLS_CLIENT_CA="$pki/ca.crt" start_stub
	export CONSUL_HTTP_ADDR="https://127.0.0.1:$STUB_PORT" CONSUL_CACERT="$pki/ca.crt" CONSUL_TLS_SERVER_NAME=consul.test
	run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=-1"* ]]
	CONSUL_CLIENT_CERT="$pki/cli.crt" CONSUL_CLIENT_KEY="$pki/cli.key" run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	CONSUL_CLIENT_CERT="$pki/cli.crt" run -2 "$TEST_CONSUL" leader
	[[ "$output" == *"both client cert and client key must be provided"* ]]
}

@test "unit: the HTTP answer parser, escaping, one reconnect of a kept connection (tests/unit/test_http.c)" {
	run -0 "$RESEC_BUILD/unit/test_http"
	[[ "$output" != *"not ok"* ]]
}

@test "no program links libcurl; plain http never loads it, https loads it (dlopen)" {
	local b
	for b in "$RESEC_BUILD"/bin/*; do
		run -0 ldd "$b"
		[[ "$output" != *libcurl* && "$output" != *libssl* ]]
	done
	start_stub
	LD_DEBUG=files run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	[[ "$output" != *libcurl* ]]
	local sock="$BATS_TEST_TMPDIR/consul.sock"
	kill_tracked
	start_stub "$sock"
	CONSUL_HTTP_ADDR="unix://$sock" LD_DEBUG=files run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
	[[ "$output" != *libcurl* ]]
	CONSUL_HTTP_ADDR="https://127.0.0.1:$(free_port)" LD_DEBUG=files run -0 "$TEST_CONSUL" leader
	[[ "$output" == *"calling init: "*libcurl.so.4* ]]
	[[ "$output" == *"rc=-1 status=0"* ]]
}

@test "https without libcurl.so.4: one clear error at start; plain http still works" {
	unshare -rm true 2>/dev/null || skip "no user and mount namespaces"
	local lib
	lib=$(ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')
	[ -n "$lib" ] || skip "libcurl.so.4 not installed"
	start_stub
	# The library hidden (an empty file over it) in a mount namespace of this command only.
	hide() { unshare -rm sh -c 'mount --bind /dev/null "$0" && exec "$@"' "$lib" "$@"; }
	CONSUL_HTTP_ADDR="https://127.0.0.1:$STUB_PORT" run -2 hide "$TEST_CONSUL" leader
	[[ "$output" == *"consul: https needs libcurl (libcurl.so.4): "*"libcurl.so.4"* ]]
	run -0 hide "$TEST_CONSUL" leader
	[[ "$output" == *"rc=0 status=200"* ]]
}
