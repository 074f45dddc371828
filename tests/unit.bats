#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The unit programs (tests/unit/, TAP, built with the sanitizers by make
# sanitize) of modules that have no suite of their own; the others run in
# their module's suite (config.bats, json.bats, log.bats, proc.bats, ...).

load test_helper

unit() {
	[ -x "$RESEC_BUILD/unit/$1" ] || skip "unit tests not built (make units)"
	run -0 "$RESEC_BUILD/unit/$1"
	[[ "$output" != *"not ok"* ]]
}

@test "backoff: delays double from the base to the cap, drawn in [d/2, d]; a reset starts over (test_backoff)" {
	unit test_backoff
}
