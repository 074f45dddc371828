#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Markdown tables for BENCHMARKS.md from one run's result files.

usage: report.py RESULTS_DIR DATE   (reads RESULTS_DIR/DATE-*.json)
Prints the machine, versions and settings, one table per scenario with resec
beside Sentinel, and the DESIGN.md targets with met / missed.
"""
import glob
import json
import os
import sys


def load(d, date):
    out = {}
    for f in sorted(glob.glob(os.path.join(d, date + "-*.json"))):
        r = json.load(open(f))
        # Extra runs kept beside a full run (DATE-NAME-suffix.json) are not part of it.
        if os.path.basename(f) == "%s-%s.json" % (date, r["scenario"]):
            out[r["scenario"]] = r
    return out


def st(r, system, metric):
    return r.get("systems", {}).get(system, {}).get("stats", {}).get(metric, {})


def f3(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 100:
        return "%d%s" % (v, unit)
    if abs(v) >= 100:
        return "%.0f%s" % (v, unit)
    if abs(v) >= 10:
        return "%.1f%s" % (v, unit)
    return "%.2f%s" % (v, unit)


def trio(s, unit=" s"):
    if not s or not s.get("n"):
        return "–", "–", "–", 0
    return f3(s["median"], unit), f3(s["p90"], unit), f3(s["max"], unit), s["n"]


def machine(rs):
    r = next(iter(rs.values()))
    m, v, s = r["machine"], r["versions"], r["settings"]
    print("| | |\n|---|---|")
    print("| date (UTC) | %s |" % r["date"])
    print("| machine | %s × %s, %d MB RAM, Linux %s |" % (m["nproc"], m["cpu"], m["ram_mb"], m["kernel"]))
    loads = ", ".join("%s %.1f" % (k, x["machine"]["load_avg"][0]) for k, x in rs.items())
    print("| 1-min load average at the end of each scenario | %s |" % loads)
    print("| versions | resec %s; redis-server and redis-sentinel %s; Consul: %s |"
          % (v["resec"], v["redis"], v["consul"]))
    print("| resec settings | %s |" % s["resec"])
    print("| Sentinel settings | %s |" % s["sentinel"])
    print("| node loss: modelled gossip detection | %s |" % s["node_loss_serf_delay"])
    print("| trials per failover scenario | %d%s |" % (r["n"], " (quick)" if r["quick"] else ""))
    print()


FAILOVER = [("crash", "Redis crash on the master (kill -9 redis-server)"),
            ("node-loss", "Node loss (redis + HA processes killed, node failed)")]


def failover(rs):
    print("| scenario | system | n | write ok: median | p90 | max | master named: median | timeouts |")
    print("|---|---|---|---|---|---|---|---|")
    for name, title in FAILOVER:
        r = rs.get(name)
        if not r:
            continue
        for system in sorted(r["systems"]):
            med, p90, mx, n = trio(st(r, system, "write_s"))
            lk = trio(st(r, system, "lookup_s"))[0]
            print("| %s | %s | %d | **%s** | %s | %s | %s | %d |" % (
                title, system, n, med, p90, mx, lk, r["systems"][system].get("timeouts", 0)))
    print()


def switchover(rs):
    r = rs.get("switchover")
    if not r:
        return
    print("| system | switchovers | failed | write gap: median | p90 | max | tool's figure: median | p90 | max "
          "| acknowledged | refused | missing on the final master | missing, 100 ms refresh |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for system in sorted(r["systems"]):
        s = r["systems"][system]
        med, p90, mx, n = trio(st(r, system, "gap_s"))
        rmed, rp90, rmx, _ = trio(st(r, system, "reported_s"))
        t = s.get("totals", {})
        tr = t.get("refresh", {})
        print("| %s | %d | %d | **%s** | %s | %s | %s | %s | %s | %s | %s | **%s** | %s of %s |" % (
            system, len(s["trials"]), s.get("failed", 0), med, p90, mx, rmed, rp90, rmx,
            t.get("acked", "–"), t.get("refused", "–"), t.get("missing", "–"),
            tr.get("missing", "–"), tr.get("acked", "–")))
    print()
    print("| system | named after: median | p90 | max | settled after: median | p90 | max "
          "| lost per switchover: median | p90 | max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for system in sorted(r["systems"]):
        d = trio(st(r, system, "done_s"))
        se = trio(st(r, system, "settle_s"))
        m = st(r, system, "missing")
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            (system,) + d[:3] + se[:3] + (f3(m.get("median")), f3(m.get("p90")), f3(m.get("max")))))
    print()


def returning(rs):
    r = rs.get("returning")
    if not r:
        return
    print("| system | n | writable window: median | p90 | max | writes accepted: median | max | replica after: median |")
    print("|---|---|---|---|---|---|---|---|")
    for system in sorted(r["systems"]):
        med, p90, mx, n = trio(st(r, system, "window_s"))
        a = st(r, system, "accepted_writes")
        rep = trio(st(r, system, "replica_s"))[0]
        print("| %s | %d | **%s** | %s | %s | %s | %s | %s |" % (
            system, n, med, p90, mx, f3(a.get("median")), f3(a.get("max")), rep))
    print()


def footprint(rs):
    r = rs.get("footprint")
    if not r:
        return
    secs = r["systems"][next(iter(r["systems"]))]["trials"][0]["seconds"]
    print("Idle for %.0f s; per node (median over the 3 nodes; max in brackets)." % secs)
    print()
    print("| system | RSS | PSS | USS | processes | CPU % of a core | Redis commands/s | Consul server req/s | Consul agent-local req/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for system in sorted(r["systems"]):
        def g(m, unit="", scale=1.0):
            s = st(r, system, m)
            if not s.get("n"):
                return "–"
            return "%s (%s)" % (f3(s["median"] * scale, unit), f3(s["max"] * scale, unit))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            system, g("rss_kb", " MB", 1 / 1024), g("pss_kb", " MB", 1 / 1024),
            g("uss_kb", " MB", 1 / 1024), g("procs"), g("cpu_pct", " %"),
            g("redis_cmds_per_s"), g("consul_server_per_s"), g("consul_agent_per_s")))
    print()
    print("Redis commands/s by command (node 0):")
    print()
    for system in sorted(r["systems"]):
        for t in r["systems"][system]["trials"]:
            if t.get("node") == 0 and t.get("redis_by_command_per_s"):
                print("- %s (%s): %s" % (system, t.get("role"), ", ".join(
                    "%s %.2f" % kv for kv in sorted(t["redis_by_command_per_s"].items()))))
    print()


def scale(rs):
    r = rs.get("scale")
    if not r:
        return
    print("| system | figures per | RSS | USS | CPU % | Redis cmds/s | Consul server req/s per node | agent-local per node | Consul server req/s total |")
    print("|---|---|---|---|---|---|---|---|---|")

    def key(s):
        kind, _, size = s.partition("-")
        n = size.split("x")
        return (0 if len(n) == 1 else 1, int(n[0]), kind)
    for system in sorted(r["systems"], key=key):
        t = r["systems"][system]["trials"][0]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            system, t.get("per", "node"), f3(t["rss_kb"] / 1024, " MB"), f3(t["uss_kb"] / 1024, " MB"),
            f3(t["cpu_pct"], " %"), f3(t.get("redis_cmds_per_s")),
            f3(t.get("consul_server_per_s_per_node")), f3(t.get("consul_agent_per_s_per_node")),
            f3(t.get("consul_server_per_s"))))
    print()


def targets(rs):
    rows = []

    def med(scen, system, m):
        return st(rs.get(scen, {}), system, m).get("median")
    c = med("crash", "resec", "write_s")
    rows.append(("Redis crash → new master passing and writable, median ≤ 1 s", c, c is not None and c <= 1,
                 "Sentinel 5000: %s, 30000: %s" % (f3(med("crash", "sentinel-5000", "write_s"), " s"),
                                                   f3(med("crash", "sentinel-30000", "write_s"), " s"))))
    nl = med("node-loss", "resec", "write_s")
    rows.append(("Node loss → ≤ 10 s", nl, nl is not None and nl <= 10,
                 "Sentinel 5000: %s" % f3(med("node-loss", "sentinel-5000", "write_s"), " s")))
    w = med("returning", "resec", "window_s")
    wf = med("returning", "resec-started-fenced", "window_s")
    rows.append(("Returning old master writable: 0 s", w, w == 0,
                 "started fenced: %s; Sentinel: %s" % (f3(wf, " s"), f3(med("returning", "sentinel-5000", "window_s"), " s"))))
    sw = rs.get("switchover", {}).get("systems", {})
    if sw.get("resec", {}).get("totals"):
        t, ts = sw["resec"]["totals"], sw.get("sentinel-5000", {}).get("totals", {})
        rows.append(("Planned switchover: no acknowledged write lost (%d in a row under load)" % len(sw["resec"]["trials"]),
                     t["missing"], t["missing"] == 0 and sw["resec"].get("failed", 0) == 0,
                     "%s of %s acknowledged; %d failed; Sentinel: %s of %s lost" % (
                         t["missing"], t["acked"], sw["resec"].get("failed", 0),
                         ts.get("missing", "–"), ts.get("acked", "–"))))
    fp = rs.get("footprint", {})
    rss = st(fp, "resec", "rss_kb").get("max")
    rows.append(("Footprint ≤ 4 MB RSS per node", rss and rss / 1024, rss is not None and rss <= 4096,
                 "PSS max %s, USS max %s; Sentinel RSS %s" % (
                     f3((st(fp, "resec", "pss_kb").get("max") or 0) / 1024, " MB"),
                     f3((st(fp, "resec", "uss_kb").get("max") or 0) / 1024, " MB"),
                     f3((st(fp, "sentinel-5000", "rss_kb").get("max") or 0) / 1024, " MB"))))
    cpu = st(fp, "resec", "cpu_pct").get("max")
    rows.append(("≤ 0.1 % of a core idle", cpu, cpu is not None and cpu <= 0.1,
                 "Sentinel %s" % f3(st(fp, "sentinel-5000", "cpu_pct").get("max"), " %")))
    rc = st(fp, "resec", "redis_cmds_per_s").get("max")
    rows.append(("≤ 1 Redis command/s", rc, rc is not None and rc <= 1,
                 "Sentinel %s" % f3(st(fp, "sentinel-5000", "redis_cmds_per_s").get("max"))))
    cs = st(fp, "resec", "consul_server_per_s").get("mean")
    rows.append(("≤ 0.35 Consul requests/s per node (3-node average, agent-local apart)", cs,
                 cs is not None and cs <= 0.35,
                 "agent-local %s/s per node" % f3(st(fp, "resec", "consul_agent_per_s").get("mean"))))
    print("| target (DESIGN.md) | resec | met? | beside it |")
    print("|---|---|---|---|")
    for t, v, ok, note in rows:
        print("| %s | %s | %s | %s |" % (t, f3(v), "yes" if ok else "**no**", note))
    print()


def main():
    rs = load(sys.argv[1], sys.argv[2])
    if not rs:
        sys.exit("report.py: no results for %s in %s" % (sys.argv[2], sys.argv[1]))
    print("### Machine and settings\n")
    machine(rs)
    print("### Targets\n")
    targets(rs)
    print("### Failover\n")
    failover(rs)
    print("### Switchover under a write load\n")
    switchover(rs)
    print("### Returning old master\n")
    returning(rs)
    print("### Idle footprint (3-node clusters)\n")
    footprint(rs)
    print("### Scale (idle)\n")
    scale(rs)


if __name__ == "__main__":
    main()
