#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Conventions every program shares: --help, --version, bad usage.

load test_helper

PROGS="resec-lock resec-watch resec-role resec-health resec-status resec-switchover resec-failsafe"

@test "every program prints usage on --help and -h, exit 0" {
	for p in $PROGS; do
		run -0 --separate-stderr "$RESEC_BUILD/bin/$p" --help
		[[ "$output" == *"usage: $p"* ]]
		run -0 --separate-stderr "$RESEC_BUILD/bin/$p" -h
		[[ "$output" == *"usage: $p"* ]]
	done
}

@test "every program prints its version" {
	for p in $PROGS; do
		run -0 --separate-stderr "$RESEC_BUILD/bin/$p" --version
		[[ "$output" == "$p "[0-9]* ]]
	done
}

@test "an unknown flag is one line on stderr naming it, exit 64" {
	for p in $PROGS; do
		run -64 --separate-stderr "$RESEC_BUILD/bin/$p" --no-such-flag
		[ "$stderr" = "$p: unknown flag --no-such-flag" ]
		[ -z "$output" ]
	done
}

@test "a bad duration names the variable and the value, exit 64" {
	for p in $PROGS; do
		HEALTHCHECK_INTERVAL=5 run -64 --separate-stderr "$RESEC_BUILD/bin/$p"
		[[ "$stderr" == *"HEALTHCHECK_INTERVAL"*'"5"'* ]]
	done
}
