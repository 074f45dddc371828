#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A Consul blip costs no more than the blip (issue 15): Consul's leader lost
# for 3, 15 and 60 s, the master's agent cut off (with and without gossip),
# every agent cut off, resec SIGKILLed on the master while its Redis lives;
# then failsafe mode, holding writes through the outage, and the cases where
# it must fence anyway. A prober writes to every Redis every 25 ms: two Redis
# taking writes in the same round (or A, B, A within a second) fails the test,
# and the longest time without any write is measured and bounded (wide
# margins). Every test ends with the S1/S2 check of the emulator's event log.

load test_helper
load cluster_helper
load prober_helper

setup() {
	command -v jq >/dev/null || skip "jq is needed"
	emu_requires_control
}

teardown() {
	cluster_teardown
}

# settle_and_probe: a settled cluster, every replica in sync, the prober running.
settle_and_probe() {
	wait_for "a settled cluster" 60 cluster_settled
	M=$(master_node)
	probe_start
	wait_for "a write on the master" 10 wrote_after 0 "$(redis_port "$M")"
}

# status_says TEXT: resec-status (as an operator runs it) prints TEXT.
status_says() {
	resec-status --consul-http-addr "$OBS_ADDR" --state "$BATS_TEST_TMPDIR/status" 2>/dev/null | grep -qF "$1"
}

# blip SECONDS: Consul's leader lost for SECONDS; the same master keeps the
# lock, takes writes again within a second of the leader's return, and the
# write gap is at most the blip.
blip() {
	local secs="$1" lost back first gap
	cluster_start
	settle_and_probe
	lost=$(mono)
	ctl /_emu/leader/lose
	if [ "$secs" -ge 15 ]; then
		# What an operator sees meanwhile: Consul without a leader, the master fenced.
		wait_for "resec-status to show the master fenced" 10 status_says \
			"fenced: lock not confirmed (master 127.0.0.1:$(redis_port "$M") refuses writes)"
		run -1 --separate-stderr resec-status --consul-http-addr "$OBS_ADDR" --state "$BATS_TEST_TMPDIR/status"
		echo "$output" | grep -E '^(consul|fenced|problem: consul)' | sed 's/^/  resec-status: /' >&3
		[[ "$output" == *"consul has no leader since "* ]]
	fi
	# The rest of the outage.
	sleep "$(awk -v l="$lost" -v s="$secs" -v n="$(mono)" 'BEGIN { d = l + s - n; printf "%.3f", (d > 0 ? d : 0) }')"
	back=$(mono)
	ctl /_emu/leader/restore
	# Writes back, and a second more of them (the prober's A, B, A window).
	wait_for "a second of writes after the leader's return" 10 wrote_after "$(plus "$back" 1)" "$(redis_port "$M")"
	wait_for "the master passing again" 10 master_is "$M"
	finish "leader lost ${secs}s"
	gap=$(max_gap)
	first=$(first_write_after "$back")
	echo "  first write $(awk -v a="$first" -v b="$back" 'BEGIN { print a - b }')s after the leader returned," \
		"longest gap ${gap}s" >&3
	[ "$(master_node)" = "$M" ]
	le "$gap" "$((secs + 1)).5"
	le "$first" "$(awk -v b="$back" 'BEGIN { print b + 1.0 }')"
	run ! grep -q "lock lost" "$BATS_TEST_TMPDIR/resec$M.log"
}

@test "leader lost 3s: the master keeps the lock; writes back within 1s of the leader, no failover" {
	blip 3
}

@test "leader lost 15s: the master keeps the lock; writes back within 1s of the leader, no failover" {
	blip 15
}

@test "leader lost 60s: the master keeps the lock; writes back within 1s of the leader, no failover" {
	blip 60
}

# cut_master [serf=keep]: partition the master's agent; a new master takes
# writes within the lock-delay arithmetic, never at once with the old one; healed,
# the old one follows the new master within seconds (it kept asking while fenced).
cut_master() {
	local q="${1:+?$1}" cut n gap healed
	M=$(master_node)
	cut=$(mono)
	ctl "/_emu/node/node$M/partition$q"
	wait_for "a new master" 60 has_master_other_than "$(redis_port "$M")"
	n=$(master_node)
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$(mono)" 1)" "$(redis_port "$n")"
	gap=$(max_gap --from "$cut" --to "$(mono)")
	echo "  master's agent cut off${1:+ ($1)}: new master node$n, longest gap ${gap}s" >&3
	le "$gap" 8
	healed=$SECONDS
	ctl "/_emu/node/node$M/heal"
	wait_for "the old master rejoins as a replica" 60 replicates "$M" "$(redis_port "$n")"
	echo "  old master replicating the new one $((SECONDS - healed))s after the heal" >&3
	[ $((SECONDS - healed)) -le 4 ]
	wait_for "a settled cluster" 60 cluster_settled
}

@test "the master's agent partitioned, with gossip and without (serf=keep), then every agent: never two writable" {
	local cut back gap healed
	cluster_start
	settle_and_probe
	cut_master
	# Gossip alive: the session dies with the master's check (its TTL), not after 2 x TTL.
	cut_master serf=keep
	# Every agent cut off for 10 s: the master fences, nobody can promote; back, one master.
	cut=$(mono)
	for i in $(seq "$CLUSTER_N"); do ctl "/_emu/node/node$i/partition"; done
	sleep 10 # the fault: every agent cut off for 10 s
	back=$(mono)
	for i in $(seq "$CLUSTER_N"); do ctl "/_emu/node/node$i/heal"; done
	healed=$SECONDS
	wait_for "a settled cluster" 60 cluster_settled
	echo "  every agent cut off 10s: settled $((SECONDS - healed))s after the heal" >&3
	[ $((SECONDS - healed)) -le 10 ]
	wait_for "a second of writes after settling" 10 wrote_after "$(plus "$(mono)" 1)"
	finish "agent partitions"
	# Fenced within the budget (1.33 s after the last confirmation): no write after +2 s until the heal.
	run -0 awk -v a="$cut" -v b="$back" '$2 ~ /^[0-9]+$/ && $1 > a + 2 && $1 < b { bad++ } END { exit bad > 0 }' \
		"$BATS_TEST_TMPDIR/probe"
	gap=$(max_gap --from "$cut")
	echo "  every agent cut off 10s: longest gap ${gap}s" >&3
	le "$gap" 16
}

@test "resec SIGKILLed on the master, redis alive: a new master within the check TTL + lock-delay, old one fenced first" {
	local kill_at n first
	cluster_start
	settle_and_probe
	kill_at=$(mono)
	kill_node_resec "$M" KILL
	wait_for "a new master" 60 has_master_other_than "$(redis_port "$M")"
	n=$(master_node)
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$(mono)" 1)" "$(redis_port "$n")"
	finish "resec killed on the master" --from "$kill_at"
	# The first write on the new master, counted from the kill.
	first=$(first_write_after "$kill_at" "$(redis_port "$n")")
	echo "  new master node$n writable $(awk -v a="$first" -v b="$kill_at" 'BEGIN { print a - b }')s after the kill" >&3
	# Check TTL (2 x 500ms) + lock-delay (2s) + promotion; 2 x session TTL (20s) before.
	le "$first" "$(awk -v b="$kill_at" 'BEGIN { print b + 6 }')"
	[ "$(rcli "$(redis_port "$M")" set k v 2>&1)" != OK ]
	# Who fenced it: the new master's fence-previous, that of a holder before it
	# (the lock moving twice on a loaded machine), or the dying node's own held
	# child on its way out (its parent's death signal): any of them, one did.
	grep -q "fenced the previous master's redis" "$BATS_TEST_TMPDIR"/resec[123].log ||
		grep -q "fenced: writes are refused" "$BATS_TEST_TMPDIR/resec$M.log"
}

# ---- failsafe mode

@test "failsafe: leader lost 15s, every peer a connected replica that cannot reach Consul: writes go on" {
	E2E_ENV=(RESEC_FAILSAFE=1)
	E2E_LOCK_DELAY=5s cluster_start
	settle_and_probe
	wait_for "the keeper's view" 20 grep -q "failsafe: peers the master waits for" "$BATS_TEST_TMPDIR/resec$M.log"
	lost=$(mono)
	ctl /_emu/leader/lose
	sleep 5 # the outage (15 s in all): 5 s in, what resec-status shows
	run -1 --separate-stderr resec-status --consul-http-addr "$OBS_ADDR"
	echo "$output" | grep -E '^(consul|failsafe)' | sed 's/^/  resec-status: /' >&3
	[[ "$output" == *"failsafe: holding master with 2/2 peers confirmed"* ]]
	# Without Consul at all, through the local Redis: the same standing.
	run -69 --separate-stderr resec-status --consul-http-addr "127.0.0.1:$(free_port)" \
		--redis-addr "127.0.0.1:$(redis_port $((M % 3 + 1)))"
	[[ "$output" == *"consul unreachable since"*"failsafe: holding master with 2/2 peers confirmed"* ]]
	sleep 10 # the rest of the outage
	back=$(mono)
	ctl /_emu/leader/restore
	wait_for "a second of writes after the leader's return" 10 wrote_after "$(plus "$back" 1)" "$(redis_port "$M")"
	wait_for "the master passing again" 10 master_is "$M"
	finish "failsafe, leader lost 15s" --from "$lost"
	gap=$(max_gap --from "$lost")
	echo "  longest gap ${gap}s" >&3
	le "$gap" 1
	[ "$(master_node)" = "$M" ]
	grep -q "the failsafe proof holds" "$BATS_TEST_TMPDIR/resec$M.log"
	grep -q "holding master with 2/2 peers confirmed" "$BATS_TEST_TMPDIR/resec$M.log"
	run ! grep -q "lock not confirmed: fenced" "$BATS_TEST_TMPDIR/resec$M.log"
}

@test "failsafe must fence: a peer missing (its resec killed): the master fences when the leader is lost" {
	E2E_ENV=(RESEC_FAILSAFE=1)
	E2E_LOCK_DELAY=5s cluster_start
	settle_and_probe
	wait_for "the keeper's view" 20 grep -q "failsafe: peers the master waits for" "$BATS_TEST_TMPDIR/resec$M.log"
	p=$((M % 3 + 1))
	kill_node_resec "$p" KILL
	lost=$(mono)
	ctl /_emu/leader/lose
	wait_for "the master fences" 15 grep -q "lock not confirmed: fenced" "$BATS_TEST_TMPDIR/resec$M.log"
	grep -q "failsafe: peer 127.0.0.1:$(redis_port "$p") sends no report" "$BATS_TEST_TMPDIR/resec$M.log"
	sleep 3 # the rest of the outage: fenced throughout
	back=$(mono)
	ctl /_emu/leader/restore
	wait_for "a second of writes after the leader's return" 10 wrote_after "$(plus "$back" 1)" "$(redis_port "$M")"
	wait_for "the master passing again" 10 master_is "$M"
	finish "failsafe, a peer missing" --from "$lost"
	# Fenced for the rest of the outage, back within a second of the leader.
	gap=$(max_gap --from "$lost")
	le 3 "$gap"
	le "$(first_write_after "$back")" "$(awk -v b="$back" 'BEGIN { print b + 1.0 }')"
	[ "$(master_node)" = "$M" ]
}

@test "failsafe must fence: the master cut from Consul, its peers not: they reach Consul, it fences, they elect" {
	E2E_ENV=(RESEC_FAILSAFE=1)
	E2E_LOCK_DELAY=5s cluster_start
	settle_and_probe
	wait_for "the keeper's view" 20 grep -q "failsafe: peers the master waits for" "$BATS_TEST_TMPDIR/resec$M.log"
	cut=$(mono)
	ctl "/_emu/node/node$M/partition?serf=keep"
	wait_for "the master fences" 15 grep -q "lock not confirmed: fenced" "$BATS_TEST_TMPDIR/resec$M.log"
	grep -q "failsafe: peer .* reaches consul" "$BATS_TEST_TMPDIR/resec$M.log"
	wait_for "a new master" 60 has_master_other_than "$(redis_port "$M")"
	wait_for "a second of writes on the new master" 10 wrote_after "$(plus "$(mono)" 1)" "$(redis_port "$(master_node)")"
	finish "failsafe, the master cut off" --from "$cut"
	ctl "/_emu/node/node$M/heal"
	wait_for "the old master rejoins as a replica" 60 replicates "$M" "$(redis_port "$(master_node)")"
}

@test "failsafe: every agent cut off 10s, no peer reaches Consul: writes go on; back, one master" {
	E2E_ENV=(RESEC_FAILSAFE=1)
	E2E_LOCK_DELAY=5s cluster_start
	settle_and_probe
	wait_for "the keeper's view" 20 grep -q "failsafe: peers the master waits for" "$BATS_TEST_TMPDIR/resec$M.log"
	cut=$(mono)
	for i in $(seq "$CLUSTER_N"); do ctl "/_emu/node/node$i/partition"; done
	sleep 10 # the fault: every agent cut off for 10 s
	back=$(mono)
	for i in $(seq "$CLUSTER_N"); do ctl "/_emu/node/node$i/heal"; done
	wait_for "a settled cluster" 60 cluster_settled
	wait_for "a second of writes after settling" 10 wrote_after "$(plus "$(mono)" 1)"
	finish "failsafe, every agent cut off 10s" --from "$cut"
	gap=$(max_gap --from "$cut" --to "$back")
	echo "  longest gap while cut off ${gap}s, after the heal $(max_gap --from "$back")s" >&3
	le "$gap" 1
	le "$(max_gap --from "$back")" 10
	grep -q "holding master with 2/2 peers confirmed" "$BATS_TEST_TMPDIR/resec$M.log"
}

@test "failsafe: a node the master does not list as a member (resec/failsafe) never takes the lock" {
	E2E_ENV=(RESEC_FAILSAFE=1)
	cluster_start
	wait_for "a settled cluster" 60 cluster_settled
	M=$(master_node)
	wait_for "the keeper's view" 20 grep -q "failsafe: peers the master waits for" "$BATS_TEST_TMPDIR/resec$M.log"
	# b would win the election (same offset, lower address): only membership keeps it out.
	local order
	order=$(for i in 1 2 3; do [ "$i" = "$M" ] || echo "127.0.0.1:$(redis_port "$i") $i"; done | sort | cut -d' ' -f2)
	b=$(head -1 <<<"$order")
	a=$(tail -1 <<<"$order")
	curl -sf -X PUT --data "127.0.0.1:$(redis_port "$a")" "http://$OBS_ADDR/v1/kv/resec/failsafe" >/dev/null
	since=$(curl -sf "http://$OBS_ADDR/_emu/events" | jq '.[-1].seq')
	v="REDIS_PID_n$M"
	kill -KILL "${!v}"
	wait_for "node $a to become master" 30 sh -c "[ \"\$(curl -sf http://$OBS_ADDR/v1/health/service/redis-master?passing | jq -r '.[0].Service.Port')\" = $(redis_port "$a") ]"
	grep -q "not a member of the failsafe view" "$BATS_TEST_TMPDIR/resec$b.log"
	[ "$(curl -sf "http://$OBS_ADDR/_emu/events?since=$since&type=kv_acquire" | jq -r '[.[].node] | unique | join(",")')" = "node$a" ]
	# The new master's keeper lists the remaining replica again.
	wait_for "b listed again" 20 sh -c "curl -sf http://$OBS_ADDR/v1/kv/resec/failsafe?raw | grep -q $(redis_port "$b")"
}
