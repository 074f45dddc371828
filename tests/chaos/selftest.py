# SPDX-License-Identifier: MIT
"""chaos.py --self-test: the campaign's checks on made-up logs, with no
cluster. A harness that cries wolf (a false split-brain from a returning
fenced Redis, a false loss) is worse than none: each case below is one the
checks must get right."""
import os
import random
import sys
import tempfile
import threading
import time

import checks
import faults

PERIOD = 0.025
failures = []


def expect(name, cond):
    print("%s %s" % ("ok  " if cond else "FAIL", name))
    if not cond:
        failures.append(name)


class ProbeLog:
    """Writes prober lines the way load.py does."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.prev_ok = {}

    def attempt(self, port, seq, ok, rtt=0.001, send=None, why="NOREPLICAS"):
        t0 = seq * PERIOD if send is None else send
        prev = self.prev_ok.get(port, False)
        if ok:
            self.f.write("ok %d %d %.6f %.6f %d\n" % (port, seq, t0, t0 + rtt, prev))
        elif prev:
            self.f.write("no %d %d %.6f %.6f %s\n" % (port, seq, t0, t0 + rtt, why))
        self.prev_ok[port] = ok

    def overlaps(self):
        self.f.close()
        p = checks.Probes(self.f.name)
        p.update()
        return p.overlaps(float("inf"))


def probe_cases(tmp):
    def log(name):
        return ProbeLog(os.path.join(tmp, name))

    # Both writable at once: B accepted between two accepted probes of A.
    lg = log("overlap")
    for s in range(1, 21):
        lg.attempt(1, s, True)
    for s in range(8, 13):
        lg.attempt(2, s, True, send=s * PERIOD + 0.005)
    found = lg.overlaps()
    expect("an overlap of two writable Redis is found", len(found) >= 4)
    expect("the evidence names both", found and {found[0]["a_port"], found[0]["b_port"]} == {1, 2})

    # A failover: A refuses (fenced), then B accepts; A never again.
    lg = log("failover")
    for s in range(1, 11):
        lg.attempt(1, s, True)
    for s in range(11, 40):
        lg.attempt(1, s, False)
        lg.attempt(2, s, s >= 14, send=s * PERIOD + 0.005)
    expect("a clean failover is no overlap", lg.overlaps() == [])

    # The old master returns fenced: it refuses every write, B goes on.
    lg = log("returning")
    for s in range(1, 11):
        lg.attempt(1, s, True)
    for s in range(11, 20):
        lg.attempt(1, s, False, why="ConnectionRefusedError")
        lg.attempt(2, s, True, send=s * PERIOD + 0.005)
    for s in range(20, 60):
        lg.attempt(1, s, False, why="NOREPLICAS")
        lg.attempt(2, s, True, send=s * PERIOD + 0.005)
    expect("a returning fenced Redis is no overlap", lg.overlaps() == [])

    # Master moves A -> B -> A with refusals in between: no overlap.
    lg = log("back-and-forth")
    for s in range(1, 11):
        lg.attempt(1, s, True)
    lg.attempt(1, 11, False)
    for s in range(12, 21):
        lg.attempt(2, s, True, send=s * PERIOD + 0.005)
    lg.attempt(2, 21, False, send=21 * PERIOD + 0.005)
    for s in range(22, 30):
        lg.attempt(1, s, True)
    expect("A then B then A, each fenced before the next, is no overlap", lg.overlaps() == [])

    # A's probe thread stalled: two accepted probes 0.4 s apart prove nothing
    # about the time between them.
    lg = log("starved")
    lg.attempt(1, 1, True, send=0.0)
    lg.attempt(1, 2, True, send=0.4)
    lg.attempt(2, 1, True, send=0.2)
    expect("accepted probes further apart than MAX_GAP_S bracket nothing", lg.overlaps() == [])

    # B's accepted write overlaps A's own attempt: not wholly between.
    lg = log("straddle")
    lg.attempt(1, 1, True, send=0.0, rtt=0.010)
    lg.attempt(1, 2, True, send=0.025, rtt=0.010)
    lg.attempt(2, 1, True, send=0.005, rtt=0.010)
    expect("a write that straddles the other's probe is not counted", lg.overlaps() == [])


def write_cases(tmp):
    path = os.path.join(tmp, "writes")
    with open(path, "w") as f:
        n = 0
        for t in [i * 0.02 for i in range(51)] + [3.0 + i * 0.02 for i in range(51)]:
            n += 1
            f.write("a %d %.6f %.6f %d 1\n" % (n, t, t + 0.002, 7001 if t < 3.5 else 7002))
        f.write("f %d 1.100000 3.000000 7001 NOREPLICAS\n" % (n + 1))
    w = checks.Writes(path)
    w.update()
    gap, g0, g1 = w.longest_gap(1.5, 4.0)
    expect("the longest write gap spans the outage", abs(gap - 2.0) < 0.01 and g0 < 1.5 < g1)
    first = w.first_ack_after(1.5)
    expect("the first write after the fault is the first on the new master", first and abs(first[0] - 3.002) < 1e-6)
    expect("a not-acknowledged write is not counted as acknowledged", len(w.n) == 102 and w.failed == 1)
    on = w.first_ack_on(1.5, 7002)
    expect("the first write on the new master is found by its port", on and abs(on[0] - 3.502) < 1e-6)
    # Judged settled at 2.9 on an acknowledgement older than the outage's end:
    # the writable figure is the next acknowledgement, logged a moment later.
    late = os.path.join(tmp, "writes-late")
    with open(late, "w") as f:
        f.write("a 1 1.000000 1.002000 7001 1\n")
    w = checks.Writes(late)
    w.update()
    gap, g0, g1 = w.longest_gap(1.5, 2.9)

    def log_next():
        time.sleep(0.2)
        with open(late, "a") as f:
            f.write("a 2 3.000000 3.002000 7001 1\n")
    threading.Thread(target=log_next).start()
    back = w.ack_from(g1, wait_s=2.0)
    expect("an outage judged over at the settle time ends at the next acknowledgement, logged later",
           abs(g1 - 2.9) < 1e-6 and back is not None and abs(back[0] - 3.002) < 1e-6)


def draw_cases():
    a = [faults.draw(random.Random("7/%d" % r), float("inf")) for r in range(1, 50)]
    b = [faults.draw(random.Random("7/%d" % r), float("inf")) for r in range(1, 50)]
    expect("a seed draws the same faults again", a == b)
    counts = {}
    for r in range(5000):
        k, _ = faults.draw(random.Random("1/%d" % r), float("inf"))
        counts[k] = counts.get(k, 0) + 1
    total = sum(faults.WEIGHTS.values())
    ok = all(abs(counts.get(k, 0) / 5000 - w / total) < 0.03 for k, w in faults.WEIGHTS.items())
    expect("faults are drawn by their weights", ok)
    capped = [faults.draw(random.Random("3/%d" % r), 15.0) for r in range(200)]
    longest = max(v for _, p in capped for v in p.values() if isinstance(v, float))
    expect("CHAOS_MAX_FAULT_S caps every fault window", longest <= 15.0)


def invariant_cases():
    """tests/invariants.py (S1, S2 over the emulator's event log)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import invariants
    seq = iter(range(1, 100))

    def ev(t, index, etype, **f):
        return dict(seq=next(seq), t=t, index=index, type=etype, **f)
    base = [ev(1.0, 5, "kv_acquire", key="resec/.lock", node="n1"),
            ev(1.1, 6, "instance_health", node="n1", service_id="a", service_name="redis-master", passing=True)]
    # A deregistration (seed 14200's fix: a restarted resec removes its dead
    # predecessor's registration): the key is released, then the instance
    # stops passing, one step, the events 1.6 ms apart on a loaded machine.
    dereg = base + [ev(5.0, 9, "kv_release", key="resec/.lock"),
                    ev(5.0016, 9, "instance_health", node="n1", service_id="a", service_name="redis-master",
                       passing=False),
                    ev(5.0018, 9, "service_deregister", node="n1", service_id="a", service_name="redis-master")]
    expect("one emulator step (one index) is judged as one state, however far apart its events",
           invariants.check(dereg, "redis-master", "resec/.lock") == [])
    # The same release in a step of its own, the instance still passing at the next index: S2.
    real = base + [ev(5.0, 9, "kv_release", key="resec/.lock"),
                   ev(5.5, 10, "instance_health", node="n1", service_id="a", service_name="redis-master",
                      passing=False)]
    got = invariants.check(real, "redis-master", "resec/.lock")
    expect("a master passing without the lock over two indexes is S2", len(got) == 1 and got[0].startswith("S2"))
    two = base + [ev(2.0, 7, "instance_health", node="n2", service_id="b", service_name="redis-master",
                     passing=True)]
    got = invariants.check(two, "redis-master", "resec/.lock")
    expect("two passing masters are S1", any(g.startswith("S1") for g in got))


def restart_cases():
    ev = [{"seq": 1, "t": 10.0, "type": "service_register", "node": "node1"},
          {"seq": 2, "t": 20.5, "type": "service_register", "node": "node2"}]
    expect("a restarted resec has not taken its place before it registers again",
           not checks.registered_after(ev, "node1", 20.0))
    expect("a restarted resec has taken its place once its agent shows a registration after the restart",
           checks.registered_after(ev, "node2", 20.0))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        probe_cases(tmp)
        write_cases(tmp)
        draw_cases()
        invariant_cases()
        restart_cases()
    print("self-test: %d failed" % len(failures))
    return 1 if failures else 0
