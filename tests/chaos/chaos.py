#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A random fault campaign against a three-node resec cluster on loopback
(docs/reliability.md). Each round draws one fault from the seed, injects it,
heals it, waits for the cluster to settle, then checks that no acknowledged
write is missing from the master and that no two Redis accepted writes at
once. The seed is printed at start and in every failure, so a run replays
with the same seed and round count.

usage: chaos.py [--rounds N] [--seed S] [--profile quick|default]
                [--dir DIR] [--results FILE] [--max-fault S] [--faults K,K..]
                [--settle S] [--stuck S] [--keep] [--keep-going]
                [--inject loss,split,stuck]
       chaos.py --self-test
Every option has an environment variable (CHAOS_ROUNDS, CHAOS_SEED,
CHAOS_PROFILE, CHAOS_DIR, CHAOS_RESULTS, CHAOS_MAX_FAULT_S, CHAOS_FAULTS,
CHAOS_SETTLE_S, CHAOS_STUCK_S, CHAOS_KEEP, CHAOS_KEEP_GOING, CHAOS_INJECT); RESEC_BUILD
names the build under test (default build), CHAOS_EMU_FLAGS adds emulator
flags. Exit 0: no violation; 1: a violation (the run directory is kept and
printed); 2: the harness could not run; 130/143: interrupted.
"""
import argparse
import atexit
import datetime
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import checks  # noqa: E402
import faults  # noqa: E402
import resp  # noqa: E402
from cluster import Cluster, HarnessError  # noqa: E402

POLL_S = 0.25         # settle poll period
INITIAL_SETTLE_S = 90  # cold start of the cluster
OVERLAP_LAG_S = 2.0   # probes younger than this are judged at the next check
OUTAGE_S = 0.25       # a gap between acknowledged writes this long is an outage
RESTARTS_RESEC = ("resec-kill-master", "node-loss", "host-reboot")  # their heal starts resec again


class Interrupted(Exception):
    def __init__(self, sig):
        super().__init__(signal.Signals(sig).name)
        self.sig = sig


def on_signal(sig, _frame):
    raise Interrupted(sig)


def env_bool(name):
    return os.environ.get(name, "") not in ("", "0", "no")


def parse(argv):
    e = os.environ.get
    ap = argparse.ArgumentParser(prog="chaos.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=int(e("CHAOS_ROUNDS", "200")))
    ap.add_argument("--seed", type=int, default=int(e("CHAOS_SEED")) if e("CHAOS_SEED") else None)
    ap.add_argument("--profile", choices=("quick", "default"), default=e("CHAOS_PROFILE", "default"))
    ap.add_argument("--dir", default=e("CHAOS_DIR", os.path.join(ROOT, "build", "chaos")))
    ap.add_argument("--results", default=e("CHAOS_RESULTS"))
    ap.add_argument("--max-fault", type=float, default=float(e("CHAOS_MAX_FAULT_S", "0")) or None)
    ap.add_argument("--faults", default=e("CHAOS_FAULTS", ""))
    ap.add_argument("--settle", type=float, default=float(e("CHAOS_SETTLE_S", "60")))
    ap.add_argument("--stuck", type=float, default=float(e("CHAOS_STUCK_S", "120")))
    ap.add_argument("--keep", action="store_true", default=env_bool("CHAOS_KEEP"))
    ap.add_argument("--keep-going", action="store_true", default=env_bool("CHAOS_KEEP_GOING"))
    ap.add_argument("--inject", default=e("CHAOS_INJECT", ""))
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args(argv)
    a.faults = [k for k in a.faults.split(",") if k]
    for k in a.faults:
        if k not in faults.WEIGHTS:
            ap.error("unknown fault %s (known: %s)" % (k, ", ".join(sorted(faults.WEIGHTS))))
    a.inject = [k for k in a.inject.split(",") if k]
    for k in a.inject:
        if k not in ("loss", "split", "stuck"):
            ap.error("unknown injection %s (known: loss, split, stuck)" % k)
    build = e("RESEC_BUILD", "build")
    a.build = build if os.path.isabs(build) else os.path.join(ROOT, build)
    a.emu_flags = e("CHAOS_EMU_FLAGS", "").split()
    return a


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"n": len(xs), "median": round(statistics.median(xs), 3), "max": round(max(xs), 3)}


class Campaign:
    def __init__(self, a, seed):
        self.a, self.seed = a, seed
        os.makedirs(a.dir, exist_ok=True)
        self.rundir = os.path.realpath(tempfile.mkdtemp(prefix="run-%d-" % seed, dir=a.dir))
        self.logf = open(os.path.join(self.rundir, "chaos.log"), "a", buffering=1)
        self.cl = Cluster(self.rundir, ROOT, a.build, a.profile, self.log, a.emu_flags)
        self.writes = checks.Writes(os.path.join(self.rundir, "writes.log"))
        self.probes = checks.Probes(os.path.join(self.rundir, "probes.log"))
        self.rounds, self.violations = [], []
        self.lost = set()
        self.split = {}       # (round, "port+port") -> overlap evidence
        self.latency_ok = True
        self.writer = self.prober = None
        self.master = None
        self.stopped = None
        self.destroyed = False
        self.t_begin = time.monotonic()

    # ------------------------------------------------------------ reporting

    def log(self, msg):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        self.logf.write("%sZ %.6f %s\n" % (now, time.monotonic(), msg))

    def say(self, msg):
        print("chaos: " + msg, flush=True)
        self.log(msg)

    def replay(self):
        cmd = "make chaos CHAOS_SEED=%d CHAOS_ROUNDS=%d CHAOS_PROFILE=%s" % (
            self.seed, len(self.rounds) or 1, self.a.profile)
        if self.a.max_fault:
            cmd += " CHAOS_MAX_FAULT_S=%g" % self.a.max_fault
        if self.a.faults:
            cmd += " CHAOS_FAULTS=%s" % ",".join(self.a.faults)
        if self.a.inject:
            cmd += " CHAOS_INJECT=%s" % ",".join(self.a.inject)
        if self.a.keep_going:
            cmd += " CHAOS_KEEP_GOING=1"
        if self.a.settle != 60:
            cmd += " CHAOS_SETTLE_S=%g" % self.a.settle
        return cmd

    def violation(self, rnd, kind, text, evidence):
        v = {"round": rnd["round"], "fault": rnd["fault"], "violation": kind, "text": text,
             "evidence": evidence}
        rnd["violations"].append(kind)
        self.violations.append(v)
        self.say("VIOLATION seed=%d round=%d fault=%s: %s: %s" % (self.seed, rnd["round"], rnd["fault"], kind, text))

    # ---------------------------------------------------------------- setup

    def start(self):
        self.say("seed=%d rounds=%d profile=%s build=%s run=%s" % (
            self.seed, self.a.rounds, self.a.profile, os.path.relpath(self.a.build, ROOT), self.rundir))
        self.cl.start()
        self.writer = self.cl.spawn([sys.executable, os.path.join(HERE, "load.py"), "writer",
                                     self.cl.observer(), self.writes.tail.path],
                                    os.path.join(self.rundir, "writer.err"))
        self.prober = self.cl.spawn([sys.executable, os.path.join(HERE, "load.py"), "prober",
                                     self.probes.tail.path] + [str(self.cl.redis_port[i]) for i in (1, 2, 3)],
                                    os.path.join(self.rundir, "prober.err"))
        t0 = time.monotonic()
        ok, why = self.wait_settled(t0, INITIAL_SETTLE_S)
        if not ok:
            raise HarnessError("the cluster did not settle at start within %ds: %s" % (INITIAL_SETTLE_S, why))
        self.master = why
        self.say("cluster settled in %.1fs: master n%d" % (time.monotonic() - t0, self.master))
        if self.cl.emu_ctl("/_emu/latency?add=0s") == 404:
            self.latency_ok = False
            self.say("note: the emulator has no /_emu/latency (404): latency faults are skipped")

    def clients_alive(self):
        for name, p in (("writer", self.writer), ("prober", self.prober)):
            if p.poll() is not None:
                raise HarnessError("the %s exited (%s); see %s.err" % (name, p.returncode, name))

    def wait_settled(self, since, limit, trace=None, restarted=None):
        """Poll until settled and an acknowledged write arrived after since
        (and node restarted's resec, restarted by the heal, has registered);
        (True, master node) or (False, the last reason). Each change of the
        reason is appended to trace as (seconds after since, reason)."""
        deadline = since + limit
        why = "not checked"
        while True:
            ok, res = checks.settled(self.cl)
            if ok and restarted is not None and not checks.resec_registered(
                    self.cl, restarted, self.cl.resec_started.get(restarted, since)):
                ok, res = False, "n%d's restarted resec has not registered yet" % restarted
            if ok:
                self.writes.update()
                if self.writes.acked_since(since) > 0:
                    return True, res
                res = "no acknowledged write since the fault healed"
            if trace is not None and (not trace or trace[-1][1] != res) and len(trace) < 50:
                trace.append((round(time.monotonic() - since, 2), res))
            why = res
            if time.monotonic() >= deadline:
                return False, why
            time.sleep(POLL_S)

    # --------------------------------------------------------------- rounds

    def run_round(self, r):
        rng = random.Random("%d/%d" % (self.seed, r))
        kind, p = faults.draw(rng, self.a.max_fault or float("inf"), self.a.faults)
        dwell = rng.uniform(0.5, 3.0)
        replicas = [i for i in (1, 2, 3) if i != self.master]
        node = faults.target_of(kind, p, self.master, replicas)
        rnd = {"round": r, "kind": kind, "params": p, "node": node, "master_before": self.master,
               "fault": faults.describe(kind, p, node), "violations": [], "steps": []}
        self.rounds.append(rnd)
        time.sleep(dwell)
        if kind == "latency" and not self.latency_ok:
            rnd["skipped"] = "the emulator has no /_emu/latency"
            self.say("round %d/%d %s: skipped (no latency endpoint)" % (r, self.a.rounds, rnd["fault"]))
            return rnd
        self.log("round %d: %s" % (r, rnd["fault"]))
        plan = faults.steps(kind, p, node, self.cl)
        t0 = time.monotonic()
        for off, desc, act in plan:
            delay = t0 + off - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.monotonic()
            act()
            rnd["steps"].append({"at": round(t - t0, 3), "took": round(time.monotonic() - t, 3), "what": desc})
        t_fault, t_heal = t0, time.monotonic()
        rnd.update({"t_fault": t_fault, "t_heal": t_heal})
        if r == 1 and "stuck" in self.a.inject:
            victim = [i for i in (1, 2, 3) if i != self.master][0]
            # Its Redis too: a replica service lingers until its TTL runs out,
            # a Redis that answers no more is unsettled from the first check.
            self.cl.kill_resec(victim, also_redis=True)
            self.say("injected: n%d's resec and redis killed and not restarted" % victim)
        rnd["settle_trace"] = []
        # A fault whose heal restarts resec (seed 14201, round 159: judged
        # settled 6 ms after the restart, before the new resec fenced the
        # master it found; the next round paid for it).
        restarted = node if kind in RESTARTS_RESEC else None
        ok, res = self.wait_settled(t_heal, self.a.settle, rnd["settle_trace"], restarted)
        t_settled = time.monotonic()
        self.clients_alive()
        if ok:
            self.master = res
            rnd["settle_s"] = round(t_settled - t_heal, 3)
        else:
            self.unsettled(rnd, res, t_heal)
        self.inject(rnd)
        self.check_writes(rnd, t_fault, t_settled)
        self.check_overlaps(time.monotonic() - OVERLAP_LAG_S)
        self.say("round %d/%d %s: %s" % (r, self.a.rounds, rnd["fault"], self.round_line(rnd)))
        return rnd

    def round_line(self, rnd):
        parts = []
        if rnd.get("writable_s") is not None:
            parts.append("writable after %.2fs" % rnd["writable_s"])
        if rnd.get("unavailable_s") is not None:
            parts.append("longest write gap %.2fs" % rnd["unavailable_s"])
        if rnd.get("settle_s") is not None:
            parts.append("settled %.2fs after heal (master n%d)" % (rnd["settle_s"], self.master))
        parts.append("acked %d" % len(self.writes.n))
        if rnd["violations"]:
            parts.append("VIOLATIONS: " + ", ".join(rnd["violations"]))
        return ", ".join(parts)

    def unsettled(self, rnd, why, t_heal):
        """Not settled within the bound: a violation. Go on watching (up to
        --stuck more) to tell a slow recovery from a stuck cluster."""
        self.violation(rnd, "unsettled", "not settled %ds after the fault healed: %s" % (self.a.settle, why),
                       {"reason": why})
        restarted = rnd["node"] if rnd["kind"] in RESTARTS_RESEC else None
        ok, res = self.wait_settled(t_heal, self.a.settle + self.a.stuck, rnd["settle_trace"], restarted)
        if ok:
            self.master = res
            rnd["settle_s"] = round(time.monotonic() - t_heal, 3)
            note = "settled after all, %.1fs after the heal" % rnd["settle_s"]
        else:
            note = "still not settled %ds after the heal: %s" % (self.a.settle + self.a.stuck, res)
        self.violations[-1]["evidence"]["later"] = note
        self.say("round %d: %s" % (rnd["round"], note))
        self.stopped = "unsettled"

    def inject(self, rnd):
        """Self-check of the harness (--inject): make the checks see what
        they exist to see, once, in the first round (stuck: in run_round)."""
        if rnd["round"] != 1 or self.master is None:
            return
        mport = self.cl.redis_port[self.master]
        if "split" in self.a.inject:
            # The other replica than the one "stuck" took its resec from.
            rport = self.cl.redis_port[[i for i in (1, 2, 3) if i != self.master][-1]]
            resp.once(rport, "CONFIG", "SET", "replica-read-only", "no")
            time.sleep(0.5)
            resp.once(rport, "CONFIG", "SET", "replica-read-only", "yes")
            self.say("injected: replica on port %d took writes for 0.5s beside the master" % rport)
            time.sleep(OVERLAP_LAG_S + 0.5)
        if "loss" in self.a.inject:
            self.writes.update()
            n = self.writes.n[len(self.writes.n) // 2]
            resp.once(mport, "DEL", "chaos:ack:%d" % n)
            self.say("injected: deleted acknowledged key chaos:ack:%d on the master" % n)

    def check_writes(self, rnd, t_fault, t_settled):
        self.writes.update()
        # Writable: when the master changed, the first acknowledged write on
        # the new one; else the first after the outage the fault caused (the
        # longest gap, which may begin a while after the fault: a fence
        # after a Consul outage), or the first write after the fault when
        # there was no outage to speak of.
        gap, g0, g1 = self.writes.longest_gap(t_fault, t_settled)
        rnd["unavailable_s"] = round(gap, 3)
        if self.master != rnd["master_before"]:
            first = self.writes.first_ack_on(t_fault, self.cl.redis_port[self.master])
        elif gap >= OUTAGE_S:
            first = self.writes.ack_from(g1, wait_s=2.0)
        else:
            first = self.writes.first_ack_after(t_fault)
        if first is not None:
            rnd["writable_s"] = round(max(first[0] - t_fault, 0.0), 3)
            rnd["writable_on"] = "n%s" % self.cl.node_of_port(first[1])
        rnd["acked_total"] = len(self.writes.n)
        masters = checks.passing(self.cl, "redis-master")
        if not masters or len(masters) != 1:
            rnd["loss_check"] = "skipped: no single passing master (%s)" % masters
            return
        todo = [n for n in self.writes.n if n not in self.lost]
        try:
            missing = checks.missing_keys(masters[0], todo)
        except (OSError, resp.ReplyError) as e:
            rnd["loss_check"] = "skipped: %s" % e
            return
        if not missing:
            return
        self.lost.update(missing)
        idx = {n: k for k, n in enumerate(self.writes.n)}
        ev = []
        for n in missing[:20]:
            k = idx[n]
            ev.append({"key": "chaos:ack:%d" % n, "t_send": self.writes.t_send[k], "t_ack": self.writes.t_ack[k],
                       "acked_on": "n%s" % self.cl.node_of_port(self.writes.port[k])})
        first_t, last_t = ev[0]["t_ack"], self.writes.t_ack[idx[missing[-1]]]
        self.violation(rnd, "lost", "%d acknowledged writes missing from the master n%s (acked %.3f..%.3f, "
                       "monotonic; the fault began at %.3f)" % (len(missing), self.cl.node_of_port(masters[0]),
                                                                 first_t, last_t, t_fault),
                       {"count": len(missing), "master_port": masters[0], "keys": ev})

    def round_at(self, t):
        """The round whose fault window or aftermath contains time t."""
        best = self.rounds[0] if self.rounds else None
        for rnd in self.rounds:
            if rnd.get("t_fault", float("inf")) <= t:
                best = rnd
        return best

    def check_overlaps(self, horizon):
        """Split-brain: one violation per round and pair of Redis; a later
        check that finds more of the same episode adds to its evidence."""
        self.probes.update()
        found = self.probes.overlaps(horizon)
        by_round = {}
        for e in found:
            by_round.setdefault(self.round_at(e["b_accepted"][0])["round"], []).append(e)
        for r, evs in sorted(by_round.items()):
            rnd = self.rounds[r - 1]
            for pair, g in checks.summarize_overlaps(evs).items():
                old = self.split.get((r, pair))
                if old is not None:
                    old["count"] += g["count"]
                    old["first"] = min(old["first"], g["first"])
                    old["last"] = max(old["last"], g["last"])
                    self.log("split-brain of round %d goes on: %s" % (r, g))
                    continue
                self.split[(r, pair)] = g
                a, b = (self.cl.node_of_port(int(x)) for x in pair.split("+"))
                text = ("n%s and n%s both accepted writes: %d interleavings from %.3f to %.3f "
                        "(monotonic; the fault began at %s)" % (
                            a, b, g["count"], g["first"], g["last"],
                            "%.3f" % rnd["t_fault"] if "t_fault" in rnd else "-"))
                self.violation(rnd, "split-brain", text, g)

    # ----------------------------------------------------------------- run

    def run(self):
        self.start()
        for r in range(1, self.a.rounds + 1):
            self.run_round(r)
            if self.stopped or (self.violations and not self.a.keep_going):
                break
        self.finish_clients()
        return 1 if self.violations else 0

    def finish_clients(self):
        for p in (self.writer, self.prober):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if self.rounds:
            self.check_overlaps(float("inf"))
        self.writes.update()

    # ------------------------------------------------------------- summary

    def summary(self, status, error=None):
        self.writes.update()
        by_kind = {}
        skipped = {}
        for rnd in self.rounds:
            if rnd.get("skipped"):
                skipped[rnd["kind"]] = skipped.get(rnd["kind"], 0) + 1
                continue
            by_kind.setdefault(rnd["kind"], []).append(rnd)
        per_kind = {k: {"rounds": len(rs),
                        "writable_s": stats([x.get("writable_s") for x in rs]),
                        "unavailable_s": stats([x.get("unavailable_s") for x in rs]),
                        "settle_s": stats([x.get("settle_s") for x in rs])}
                    for k, rs in sorted(by_kind.items())}
        count = {k: sum(1 for v in self.violations if v["violation"] == k)
                 for k in ("lost", "split-brain", "unsettled")}
        return {
            "seed": self.seed, "profile": self.a.profile, "rounds_planned": self.a.rounds,
            "rounds_run": len(self.rounds), "status": status, "error": error,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - self.t_begin, 1),
            "machine": {"nproc": os.cpu_count(), "uname": " ".join(platform.uname()[:3] + platform.uname()[4:5])},
            "versions": {"redis": redis_version(), "resec": git_rev()},
            "build": os.path.relpath(self.a.build, ROOT), "max_fault_s": self.a.max_fault,
            "fault_kinds": self.a.faults or sorted(faults.WEIGHTS), "weights": faults.WEIGHTS,
            "injected": self.a.inject,
            "faults": {k: len(v) for k, v in sorted(by_kind.items())}, "skipped": skipped,
            "writes": {"acknowledged": len(self.writes.n), "not_acknowledged": self.writes.failed,
                       "not_acknowledged_by_reason": self.writes.fail_reasons},
            "lost_writes": len(self.lost), "violations_by_kind": count,
            "per_kind": per_kind, "violations": self.violations, "rounds": self.rounds,
            "replay": self.replay(),
        }

    def print_summary(self, s):
        print("chaos: summary seed=%d profile=%s rounds=%d/%d status=%s (%.0fs)" % (
            s["seed"], s["profile"], s["rounds_run"], s["rounds_planned"], s["status"], s["duration_s"]))
        print("  faults: %s" % (", ".join("%s %d" % kv for kv in s["faults"].items()) or "none"))
        if s["skipped"]:
            print("  skipped: %s" % ", ".join("%s %d" % kv for kv in s["skipped"].items()))
        w = s["writes"]
        c = s["violations_by_kind"]
        print("  writes acknowledged %d (not acknowledged %d); lost %d; split-brain %d; unsettled %d" % (
            w["acknowledged"], w["not_acknowledged"], s["lost_writes"], c["split-brain"], c["unsettled"]))
        print("  %-20s %3s  %-22s %-22s %-22s" % ("fault", "n", "writable s (med/max)",
                                               "write gap s (med/max)", "settle s (med/max)"))
        for k, v in s["per_kind"].items():
            def mm(x):
                return "%.2f / %.2f" % (x["median"], x["max"]) if x else "-"
            print("  %-20s %3d  %-22s %-22s %-22s" % (k, v["rounds"], mm(v["writable_s"]),
                                                   mm(v["unavailable_s"]), mm(v["settle_s"])))
        sys.stdout.flush()

    # ------------------------------------------------------------- evidence

    def keep_evidence(self, reason):
        """Everything a failure needs: the emulator's event log, the S1/S2
        check of it, the message."""
        try:
            status, body = self.cl.http("GET", "/_emu/events", timeout=30)
            if status == 200:
                path = os.path.join(self.rundir, "events.json")
                with open(path, "wb") as f:
                    f.write(body)
                with open(path, "rb") as f, open(os.path.join(self.rundir, "invariants.txt"), "wb") as out:
                    subprocess.run([sys.executable, os.path.join(ROOT, "tests/invariants.py")],
                                   stdin=f, stdout=out, stderr=subprocess.STDOUT, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            self.log("could not fetch the event log: %s" % e)
        with open(os.path.join(self.rundir, "failure.txt"), "w") as f:
            f.write(reason + "\n")
            for v in self.violations:
                f.write("round %d %s: %s: %s\n" % (v["round"], v["fault"], v["violation"], v["text"]))
            f.write("replay: %s\n" % self.replay())

    def destroy(self):
        if self.destroyed:
            return []
        self.destroyed = True
        left = self.cl.destroy()
        if left:
            print("chaos: processes left behind after the kill: %s" % left, file=sys.stderr)
        return left


def redis_version():
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.split("v=")[1].split()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def git_rev():
    try:
        out = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv):
    a = parse(argv)
    if a.self_test:
        import selftest
        return selftest.main()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    c = Campaign(a, seed)
    atexit.register(c.destroy)
    status, error, rc = "ok", None, 0
    try:
        rc = c.run()
        status = "violations" if rc else "ok"
    except HarnessError as e:
        status, error, rc = "harness-error", str(e), 2
        c.say("harness error: %s" % e)
    except Interrupted as e:
        status, error = "interrupted", "interrupted by %s" % e
        rc = 128 + e.sig
        c.say("interrupted by %s; stopping every process" % e)
    # The clean-up below runs to its end: a second Ctrl-C must not cut it short.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    s = c.summary(status, error)
    if rc != 0 and status != "interrupted":
        c.keep_evidence(error or "violations")
    left = c.destroy()
    if left:
        s["left_behind"] = left
        rc = rc or 2
    results = a.results or os.path.join(a.dir, "chaos-%d.json" % seed)
    keep = rc != 0 or a.keep
    if keep:
        s["rundir"] = c.rundir
    with open(results, "w") as f:
        json.dump(s, f, indent=1)
        f.write("\n")
    c.print_summary(s)
    print("chaos: results in %s" % results)
    if keep:
        print("chaos: run directory kept: %s" % c.rundir)
    else:
        c.logf.close()
        shutil.rmtree(c.rundir, ignore_errors=True)
    if s["violations"]:
        print("chaos: FAILED seed=%d: %d violations; replay: %s" % (seed, len(s["violations"]), s["replay"]))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
