#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the safety invariants S1 and S2 on the emulator's event log.

Reads the JSON array of GET /_emu/events on stdin and fails (exit 1, one line
per violation) when
  S1: two instances of the master service pass at the same time, or
  S2: a master instance passes on a node that does not hold the lock key.
Usage: invariants.py [--service redis-master] [--key resec/.lock]
"""
import argparse
import json
import sys


def check(events, service, key):
    passing = {}          # (node, service_id) -> seq when it started passing
    holder = None         # node of the session holding the key
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
        elif t in ("kv_release", "kv_delete") and ev.get("key") == key:
            holder = None
        elif t == "instance_health" and ev.get("service_name") == service:
            inst = (ev.get("node"), ev.get("service_id"))
            if ev.get("passing"):
                passing[inst] = ev["seq"]
            else:
                passing.pop(inst, None)
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
            if node != holder:
                problems.append("S2 broken at seq %d (t=%s): %s passes on %s but the lock is held by %s"
                                % (ev["seq"], ev["t"], sid, node, holder))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", default="redis-master")
    ap.add_argument("--key", default="resec/.lock")
    args = ap.parse_args()
    events = json.load(sys.stdin)
    problems = check(events, args.service, args.key)
    seen = set()
    for p in problems:
        if p not in seen:
            print(p)
            seen.add(p)
    masters = sum(1 for e in events if e.get("type") == "instance_health"
                  and e.get("service_name") == args.service and e.get("passing"))
    print("checked %d events, %d master passing transitions" % (len(events), masters), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
