#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The JSON module of common/: strict parsing, accessors, numbers, strings,
# base64, escaping and UTF-8 (tests/unit/test_json.c, TAP); the Consul decoders
# are tests/unit/test_consul_decode.c, run by consul-client.bats.

load test_helper

@test "json: every unit case passes" {
	run -0 "$RESEC_BUILD/unit/test_json"
	echo "$output"
	[[ "$output" != *"not ok"* ]]
	[[ "$output" == *"1.."* ]]
}

@test "json: fuzz seeds decode without error under the sanitizers" {
	# The seeds are valid Consul answers: each must parse as strict JSON.
	local f
	for f in "$RESEC_ROOT"/tests/fuzz/seeds/fuzz_json/*; do
		jq -e . "$f" >/dev/null
	done
}
