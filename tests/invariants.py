#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the safety invariants S1 and S2 on the emulator's event log.

Reads the JSON array of GET /_emu/events on stdin and fails (exit 1, one line
per violation) when
  S1: two instances of the master service pass at the same time, or
  S2: a master instance passes on a node that does not hold the lock key.
One exception to S2: when the lock's session was destroyed by a peer (peer
detection of a dead master, docs/resec-lock.md: the destroy came through
another node's agent), that node's master instance may still pass until its
check runs out (a dead node cannot hand off; S1 stays strict, so the successor
holds its check back meanwhile), for at most --orphan-max seconds (default
25: 2 x the longest HEALTHCHECK_INTERVAL of the suites, 10 s, plus a margin).
The longest such window is printed.
A second one: a node whose agent was cut off from the servers (partition)
while its lock session ended there re-syncs, as it rejoins, the check state
it kept meanwhile; its master instance may pass without the lock until its
holder learns of the loss from Consul and turns the check, for at most
--rejoin-max seconds after the heal (default 1). A successor may hold the
lock by then, but it cannot pass (S1, checked strictly: it holds its check
back while another instance passes) nor take writes before it fenced the old
master (fence-previous).
Usage: invariants.py [--service redis-master] [--key resec/.lock] [--orphan-max S] [--rejoin-max S]
"""
import argparse
import json
import sys


def check(events, service, key, orphan_max=25.0, windows=None, rejoin_max=1.0):
    passing = {}          # (node, service_id) -> seq when it started passing
    holder = None         # node of the session holding the key
    orphaned = {}         # node -> t when a peer destroyed its lock session
    healed = {}           # node -> t when its agent rejoined the servers
    problems = []
    # One Consul state change may emit several events (a node failing hides its
    # services and invalidates its sessions; a deregistration ends the sessions
    # bound to its check, then the instance); judge the state once all events
    # of the same instant (within 1 ms) or of the same Raft index are applied:
    # readers see the state of an index, never half of one. The emulator logs
    # each event as it emits it, so on a loaded machine one step's events may
    # be more than 1 ms apart.
    for i, ev in enumerate(events):
        t = ev.get("type")
        if t == "kv_acquire" and ev.get("key") == key:
            holder = ev.get("node")
            orphaned.pop(holder, None)
        elif (t == "session_invalidate" and ev.get("reason") == "destroy" and ev.get("by")
              and ev.get("by") != ev.get("node") and key in (ev.get("released") or []) + (ev.get("deleted") or [])):
            orphaned[ev.get("node")] = ev.get("t", 0)
        elif t in ("kv_release", "kv_delete") and ev.get("key") == key:
            holder = None
        elif t == "instance_health" and ev.get("service_name") == service:
            inst = (ev.get("node"), ev.get("service_id"))
            if ev.get("passing"):
                passing[inst] = ev["seq"]
            else:
                passing.pop(inst, None)
                if inst[0] in orphaned and windows is not None:
                    windows.append(ev.get("t", 0) - orphaned[inst[0]])
                orphaned.pop(inst[0], None)
        elif t == "node_heal":
            healed[ev.get("node")] = ev.get("t", 0)
        elif t == "service_deregister" and ev.get("service_name") == service:
            passing.pop((ev.get("node"), ev.get("service_id")), None)
        nxt = events[i + 1] if i + 1 < len(events) else None
        if nxt is not None and (nxt.get("t", 0) - ev.get("t", 0) < 0.001 or
                                ("index" in ev and nxt.get("index") == ev["index"])):
            continue
        if len(passing) > 1:
            problems.append("S1 broken at seq %d (t=%s): %d passing %s instances: %s"
                            % (ev["seq"], ev["t"], len(passing), service, sorted(passing)))
        for node, sid in passing:
            if node != holder and node in orphaned and ev.get("t", 0) - orphaned[node] <= orphan_max:
                continue
            if node != holder and node in healed and ev.get("t", 0) - healed[node] <= rejoin_max:
                continue
            if node != holder:
                problems.append("S2 broken at seq %d (t=%s): %s passes on %s but the lock is held by %s"
                                % (ev["seq"], ev["t"], sid, node, holder))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", default="redis-master")
    ap.add_argument("--key", default="resec/.lock")
    ap.add_argument("--orphan-max", type=float, default=25.0)
    ap.add_argument("--rejoin-max", type=float, default=1.0)
    args = ap.parse_args()
    events = json.load(sys.stdin)
    windows = []
    problems = check(events, args.service, args.key, args.orphan_max, windows, args.rejoin_max)
    seen = set()
    for p in problems:
        if p not in seen:
            print(p)
            seen.add(p)
    masters = sum(1 for e in events if e.get("type") == "instance_health"
                  and e.get("service_name") == args.service and e.get("passing"))
    print("checked %d events, %d master passing transitions" % (len(events), masters), file=sys.stderr)
    if windows:
        print("a peer-destroyed holder's master instance passed on for at most %.3f s" % max(windows),
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
