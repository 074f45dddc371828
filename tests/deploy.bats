#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Packaging: the Consul ACL policy is enough (and what is left out is really
# needed), the systemd unit verifies, make install gives a working resec.

load test_helper
load cluster_helper

# policy_json FILE: the HCL rules of deploy/consul as the emulator's JSON rules.
policy_json() {
	python3 - "$1" <<'PY'
import json, re, sys
rules = {}
text = open(sys.argv[1]).read()
for kind, name, policy in re.findall(r'(\w+)\s+"([^"]*)"\s*\{\s*policy\s*=\s*"(\w+)"\s*\}', text):
    rules.setdefault(kind, {})[name] = policy
print(json.dumps(rules, separators=(",", ":")))
PY
}

replica_passes() { [ -n "$(passing redis-slave)" ]; }

@test "the least-privilege ACL policy in deploy/ runs a cluster under default-deny" {
	emu_requires_control
	command -v jq >/dev/null || skip "jq is needed"
	rules=$(policy_json "$RESEC_ROOT/deploy/consul/resec-policy.hcl")
	[[ "$rules" == *'"session_prefix"'* ]]
	printf 'resec-secret-token\n' >"$BATS_TEST_TMPDIR/token"
	# The tests themselves read as the anonymous token.
	E2E_EMU_FLAGS="--acl-default-policy deny --acl-token resec-secret-token=$rules"
	E2E_EMU_FLAGS="$E2E_EMU_FLAGS anonymous={\"service_prefix\":{\"\":\"read\"},\"node_prefix\":{\"\":\"read\"}}"
	# The operator's token for resec-switchover: its own policy file.
	ops=$(policy_json "$RESEC_ROOT/deploy/consul/resec-switchover-policy.hcl")
	E2E_EMU_FLAGS="$E2E_EMU_FLAGS --acl-token ops-secret-token=$ops"
	printf 'ops-secret-token\n' >"$BATS_TEST_TMPDIR/ops-token"
	E2E_ENV=(CONSUL_HTTP_TOKEN_FILE="$BATS_TEST_TMPDIR/token")
	cluster_start
	wait_for "a settled cluster" 40 cluster_settled
	m=$(master_node)
	kill -KILL "$(eval echo "\$REDIS_PID_n$m")"
	wait_for "a new master" 30 has_master_other_than "$(redis_port "$m")"
	n=$(master_node)
	for o in 1 2 3; do [ "$o" = "$m" ] || [ "$o" = "$n" ] || break; done
	wait_for "the other replica to follow" 30 replicates "$o" "$(redis_port "$n")"
	wait_for "its replica service to pass" 30 replica_passes
	CONSUL_HTTP_TOKEN_FILE="$BATS_TEST_TMPDIR/ops-token" run -0 --separate-stderr \
		"$RESEC_BUILD/bin/resec-switchover" --consul-http-addr "$OBS_ADDR" --healthcheck-timeout 1s
	[ "$(master_node)" != "$n" ]
	run ! grep -h "Permission denied\|ACL not found" "$BATS_TEST_TMPDIR"/resec*.log
	run ! grep -h "resec-secret-token" "$BATS_TEST_TMPDIR"/resec*.log
}

teardown() {
	cluster_teardown
}

@test "the systemd unit passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	# verify wants ExecStart to exist: point it at this checkout's script.
	sed "s|^ExecStart=.*|ExecStart=$RESEC_ROOT/scripts/resec|" \
		"$RESEC_ROOT/deploy/systemd/resec.service" >"$BATS_TEST_TMPDIR/resec.service"
	# --man=no: Documentation=man:resec(8) exists only once installed (tests/package checks it).
	run -0 systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/resec.service"
	# With the token drop-in of docs/operations.md ("Installing").
	sed -i 's|^\[Service\]$|&\nLoadCredential=consul-token:/etc/resec/consul-token\nEnvironment=CONSUL_HTTP_TOKEN_FILE=%d/consul-token|' \
		"$BATS_TEST_TMPDIR/resec.service"
	grep -q '^LoadCredential=' "$BATS_TEST_TMPDIR/resec.service"
	run -0 systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/resec.service"
}

@test "make install puts the programs and resec on PATH, honouring PREFIX and DESTDIR" {
	dest="$BATS_TEST_TMPDIR/root"
	run -0 make -s -C "$RESEC_ROOT" install O="$RESEC_BUILD" PREFIX=/opt/resec DESTDIR="$dest"
	for p in resec resec-lock resec-watch resec-role resec-health resec-status resec-switchover; do
		[ -x "$dest/opt/resec/bin/$p" ]
	done
	PATH="$dest/opt/resec/bin:/usr/bin:/bin" run -0 resec --version
	[[ "$output" == "resec "* ]]
	PATH="$dest/opt/resec/bin:/usr/bin:/bin" run -0 resec-role --version
}

@test "deploy/systemd/resec.default (/etc/default/resec) has every variable, commented out at its default" {
	local file="$RESEC_ROOT/deploy/systemd/resec.default" defaults uncommented
	run ! grep -E '^[^#]*=' "$file"
	# Every variable --print-config knows is there...
	defaults=$(env -i "$RESEC_BUILD/bin/resec-lock" --print-config)
	for v in $(sed 's/=.*//' <<<"$defaults"); do
		grep -q "^#$v=" "$file" || { echo "missing: $v"; false; }
	done
	# ...and uncommenting every line changes nothing.
	mapfile -t uncommented < <(sed -n 's/^#\([A-Z_]*=.*\)/\1/p' "$file")
	run -0 env -i "${uncommented[@]}" "$RESEC_BUILD/bin/resec-lock" --print-config
	[ "$output" = "$defaults" ]
}
