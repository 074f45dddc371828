#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Shared configuration: the unit program test_config, then a real binary's flags and errors.

load test_helper

UNIT="$RESEC_BUILD/unit/test_config"

@test "config unit tests pass (test_config)" {
	[ -x "$UNIT" ] || skip "build the unit programs first (make units)"
	run -0 env TMPDIR="$BATS_TEST_TMPDIR" "$UNIT"
	[[ "$output" == *$'\n1..'[0-9]* ]]
	run ! grep -q '^not ok' <<<"$output"
}

@test "resec-role --help: usage and shared options on stdout, exit 0" {
	run -0 --separate-stderr "$RESEC_ROLE" --help
	[[ "$output" == "usage: resec-role"* ]]
	[[ "$output" == *"--redis-addr HOST:PORT"* ]]
	[[ "$output" == *"--consul-http-token-file"* ]]
	[ -z "$stderr" ]
}

@test "resec-role --version prints the version, exit 0" {
	run -0 --separate-stderr "$RESEC_ROLE" --version
	[[ "$output" =~ ^resec-role\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "--help=x and --version=x are bad usage" {
	run -64 --separate-stderr "$RESEC_ROLE" --help=x
	[ "$stderr" = "resec-role: flag --help takes no value" ]
	run -64 --separate-stderr "$RESEC_ROLE" --version=1
	[ "$stderr" = "resec-role: flag --version takes no value" ]
}

@test "unknown flags, long and short, exit 64 naming the flag" {
	run -64 --separate-stderr "$RESEC_ROLE" --bogus
	[ "$stderr" = "resec-role: unknown flag --bogus" ]
	run -64 --separate-stderr "$RESEC_ROLE" --bogus=value
	[ "$stderr" = "resec-role: unknown flag --bogus" ]
	run -64 --separate-stderr "$RESEC_ROLE" -q
	[ "$stderr" = "resec-role: unknown flag -q" ]
	[ -z "$output" ]
}

@test "a flag without its value exits 64" {
	run -64 --separate-stderr "$RESEC_ROLE" --redis-addr
	[ "$stderr" = "resec-role: flag --redis-addr needs a value" ]
}

@test "bad values by flag and by variable name both the variable and the flag" {
	run -64 --separate-stderr "$RESEC_ROLE" --consul-lock-ttl 5s
	[[ "$stderr" == 'resec-role: invalid CONSUL_LOCK_TTL (--consul-lock-ttl) "5s": must be between 10s and 24h0m0s' ]]
	CONSUL_LOCK_DELAY=61s run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'CONSUL_LOCK_DELAY (--consul-lock-delay) "61s"'* ]]
	REDIS_ADDR=::1:6379 run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'REDIS_ADDR (--redis-addr) "::1:6379"'* ]]
	run -64 --separate-stderr "$RESEC_ROLE" --redis-addr=:6379
	[[ "$stderr" == *'REDIS_ADDR (--redis-addr) ":6379": want HOST:PORT'* ]]
	LOG_LEVEL=loud run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'LOG_LEVEL (--log-level) "loud"'* ]]
	LOG_FORMAT=xml run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'LOG_FORMAT (--log-format) "xml"'* ]]
	CONSUL_REPLICA_ROLE_NAME=secondary run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'CONSUL_REPLICA_ROLE_NAME'*'want slave or replica'* ]]
	CONSUL_HTTP_SSL=yes run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *'CONSUL_HTTP_SSL (--consul-http-ssl) "yes"'* ]]
	for d in 5 -5s 9999999999h 5y; do
		HEALTHCHECK_TIMEOUT=$d run -64 --separate-stderr "$RESEC_ROLE"
		[[ "$stderr" == *"HEALTHCHECK_TIMEOUT (--healthcheck-timeout) \"$d\""* ]]
		[ "${#lines[@]}" -eq 0 ]
	done
}

@test "a flag beats a bad variable; LOG_LEVEL and LOG_FORMAT are applied" {
	# CONSUL_HTTP_SSL_VERIFY junk makes every program log one warning once its
	# logging is set up: that line shows the format and level in effect.
	dead=127.0.0.1:$(free_port)
	export CONSUL_HTTP_SSL_VERIFY=perhaps
	REDIS_ADDR=garbage LOG_FORMAT=json run -69 --separate-stderr "$RESEC_ROLE" --redis-addr "$dead" show
	jq -e '.level == "warn" and .prog == "resec-role"' <<<"$(head -n 1 <<<"$stderr")"
	LOG_LEVEL=ERROR run -69 --separate-stderr "$RESEC_ROLE" --redis-addr "$dead" --log-format=text show
	[[ "$stderr" != *"level=warn"* ]]
	LOG_FORMAT=json run -69 --separate-stderr "$RESEC_ROLE" --redis-addr "$dead" --log-format text show
	[[ "$stderr" == "ts="* ]]
}

@test "CONSUL_HTTP_ADDR with an unknown scheme is refused" {
	CONSUL_HTTP_ADDR=ftp://127.0.0.1:8500 run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *"Unknown protocol scheme: ftp"* ]]
	run -64 --separate-stderr "$RESEC_ROLE" --consul-http-addr gopher://x
	[[ "$stderr" == *"Unknown protocol scheme: gopher"* ]]
}

@test "token files: unreadable is fatal and named, the token never shown" {
	CONSUL_HTTP_TOKEN=tok-Secret-1 CONSUL_HTTP_TOKEN_FILE="$BATS_TEST_TMPDIR/none" \
		run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *"Error loading token file $BATS_TEST_TMPDIR/none"* ]]
	[[ "$stderr" != *tok-Secret-1* ]]
	run -64 --separate-stderr "$RESEC_ROLE" --consul-http-token-file "$BATS_TEST_TMPDIR"
	[[ "$stderr" == *"Error loading token file $BATS_TEST_TMPDIR"* ]]
}

@test "client cert without key is an error" {
	CONSUL_CLIENT_CERT=/c.pem run -64 --separate-stderr "$RESEC_ROLE"
	[[ "$stderr" == *"both client cert and client key must be provided"* ]]
}

@test "CONSUL_HTTP_SSL_VERIFY junk: a warning, not an error" {
	CONSUL_HTTP_SSL_VERIFY=perhaps run -69 --separate-stderr "$RESEC_ROLE" --redis-addr "127.0.0.1:$(free_port)" show
	[[ "$stderr" == *"level=warn"*"CONSUL_HTTP_SSL_VERIFY"* ]]
	[[ "$stderr" == *"cannot read the role of redis"* ]]
}

@test "secrets never appear in error output" {
	local s
	for s in REDIS_PASSWORD CONSUL_HTTP_TOKEN CONSUL_HTTP_AUTH; do
		env "$s=Pw-Leak-Check" "$RESEC_ROLE" --redis-addr nope >"$BATS_TEST_TMPDIR/out" 2>&1 && false
		grep -q 'invalid REDIS_ADDR' "$BATS_TEST_TMPDIR/out"
		run ! grep -q 'Pw-Leak-Check' "$BATS_TEST_TMPDIR/out"
		env "$s=Pw-Leak-Check" CONSUL_HTTP_SSL_VERIFY=x LOG_LEVEL=debug "$RESEC_ROLE" >"$BATS_TEST_TMPDIR/out" 2>&1 && false
		run ! grep -q 'Pw-Leak-Check' "$BATS_TEST_TMPDIR/out"
	done
	local f
	for f in --redis-password --consul-http-token --consul-http-auth; do
		"$RESEC_ROLE" "$f=Pw-Leak-Check" --log-level loud >"$BATS_TEST_TMPDIR/out" 2>&1 && false
		grep -q 'LOG_LEVEL' "$BATS_TEST_TMPDIR/out"
		run ! grep -q 'Pw-Leak-Check' "$BATS_TEST_TMPDIR/out"
		"$RESEC_ROLE" "${f}x=Pw-Leak-Check" >"$BATS_TEST_TMPDIR/out" 2>&1 && false
		grep -q "unknown flag ${f}x" "$BATS_TEST_TMPDIR/out"
		run ! grep -q 'Pw-Leak-Check' "$BATS_TEST_TMPDIR/out"
	done
}

@test "operands may come before flags; -- ends the options" {
	run -64 --separate-stderr "$RESEC_ROLE" show --log-level nope
	[[ "$stderr" == *"LOG_LEVEL"* ]]
	run -64 --separate-stderr "$RESEC_ROLE" -- --log-level nope
	[[ "$stderr" == *'unknown command "--log-level"'* ]]
}

@test "--print-config shows the effective settings, flags over environment, secrets hidden" {
	REDIS_PASSWORD=hunter2-secret CONSUL_HTTP_TOKEN=tok-secret HEALTHCHECK_INTERVAL=1s \
		run -0 --separate-stderr "$RESEC_ROLE" --print-config --healthcheck-interval 250ms \
		--redis-addr 127.0.0.1:7001
	[[ "$output" == *$'\nHEALTHCHECK_INTERVAL=250ms\n'* ]]
	[[ "$output" == *$'\nREDIS_ADDR=127.0.0.1:7001\n'* ]]
	[[ "$output" == "ANNOUNCE_ADDR=:7001"$'\n'* ]]
	[[ "$output" == *$'\nREDIS_PASSWORD=(set)\n'* ]]
	[[ "$output" != *hunter2* && "$output" != *tok-secret* ]]
}
