#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measurement half of bench/run: timed failovers, the writable window of a
returning old master, idle footprint sampling, statistics, result files and
plot data. Standard library only. bench/run starts and stops every server;
this file only acts at t0 (kill, signal, Consul or Sentinel command) and
measures, printing one JSON object per call on stdout.

usage:
  bench.py failover --lookup sentinel:P1,P2|consul:P1,P2 --old HOST:PORT
                    [--action kill:SIG:PID[,PID..]] [--action put:URL]
                    [--action sentinel-failover:PORT] [--timeout S] [--probe-old]
  bench.py window --port P --pidfile F [--timeout S] -- redis-server args...
  bench.py footprint --seconds S [--group NAME=PID[,PID..]] [--tree NAME=PID..]
                    [--redis NAME=PORT] [--emu URL] [--nodes N]
  bench.py settled-sentinel PORT,PORT.. N_REPLICAS   (exit 0/1)
  bench.py settled-consul EMU_PORT REDIS_PORT,.. [PREFIX] (exit 0/1; prints master port)
  bench.py load --lookup sentinel:P1,..|consul:P1,.. --out FILE [--interval S]
                [--prefix ack] [--refresh S]
  bench.py blip --lookup consul:P1,.. --old HOST:PORT --redis P,P,.. --prober tests/prober.py
                --tmp DIR --fault ACTION.. [--heal ACTION..] [--outage S] [--after S]
  bench.py load-check --port P [--missing-out F] FILE  (acked, refused, missing there)
  bench.py load-gaps --load FILE[,MISSING] [--load .. --suffix S] --events FILE.jsonl
  bench.py switch --old HOST:PORT [--sentinel-failover PORT --lookup ..] [-- TOOL ARGS..]
  bench.py settled-sentinel-redis PORT,PORT.. REDIS_PORT,.. [--not-port P]
  bench.py summarize NAME FILE.jsonl... > result.json
  bench.py table RESULT.json...
  bench.py plotdata OUT.dat OUT.labels RESULT.json...
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import sys
import time

POLL_S = 0.01          # lookup/write poll period of the measuring client
STABLE_GAP_S = 0.5     # blip: a longer time without acknowledged writes is an outage
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ------------------------------------------------------------------ Redis

class RedisError(Exception):
    """An error reply (-ERR, -READONLY, ...)."""


class Redis:
    """A minimal RESP client over one persistent socket."""

    def __init__(self, host, port, timeout=0.5):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _reply(self):
        line = self.f.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._reply() for _ in range(n)]
        raise OSError("bad reply %r" % line)


def redis_once(port, *args, host="127.0.0.1", timeout=0.5):
    r = Redis(host, port, timeout)
    try:
        return r.cmd(*args)
    finally:
        r.close()


def parse_info(text):
    d = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v.strip()
    return d


def commandstats(port):
    """{command: calls} from INFO commandstats."""
    out = {}
    for k, v in parse_info(redis_once(port, "INFO", "commandstats")).items():
        if k.startswith("cmdstat_"):
            calls = dict(x.split("=", 1) for x in v.split(","))["calls"]
            out[k[len("cmdstat_"):]] = int(calls)
    return out


# ------------------------------------------------------------------ lookups

class SentinelLookup:
    """Ask the sentinels in turn, as a Sentinel-aware client does."""

    def __init__(self, ports):
        self.ports = ports
        self.conns = {}

    def master(self):
        for p in self.ports:
            try:
                c = self.conns.get(p) or Redis("127.0.0.1", p, 0.2)
                self.conns[p] = c
                r = c.cmd("SENTINEL", "get-master-addr-by-name", "mymaster")
                if r:
                    return "%s:%s" % (r[0], r[1])
            except (OSError, RedisError):
                c = self.conns.pop(p, None)
                if c:
                    c.close()
        return None


class ConsulLookup:
    """GET /v1/health/service/<prefix>-master?passing on the first agent that
    answers; the master is the one passing instance (none when 0 or >1)."""

    def __init__(self, ports, service="redis-master"):
        self.ports = ports
        self.path = "/v1/health/service/%s?passing" % service
        self.conns = {}

    def instances(self):
        for p in self.ports:
            try:
                c = self.conns.get(p) or http.client.HTTPConnection("127.0.0.1", p, timeout=0.5)
                self.conns[p] = c
                c.request("GET", self.path)
                resp = c.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise OSError("status %d" % resp.status)
                out = []
                for e in json.loads(body):
                    addr = e["Service"].get("Address") or e["Node"]["Address"]
                    out.append("%s:%d" % (addr, e["Service"]["Port"]))
                return out
            except (OSError, ValueError, http.client.HTTPException):
                c = self.conns.pop(p, None)
                if c:
                    c.close()
        return None

    def master(self):
        inst = self.instances()
        return inst[0] if inst and len(inst) == 1 else None


def make_lookup(spec, service):
    kind, ports = spec.split(":", 1)
    ports = [int(p) for p in ports.split(",") if p]
    return SentinelLookup(ports) if kind == "sentinel" else ConsulLookup(ports, service)


# ------------------------------------------------------------------ actions

def do_action(a):
    kind, rest = a.split(":", 1)
    if kind == "kill":
        sig, pids = rest.split(":", 1)
        signum = int(sig) if sig.isdigit() else getattr(signal, "SIG" + sig.upper().replace("SIG", ""))
        for p in pids.split(","):
            if p:
                try:
                    os.kill(int(p), signum)
                except ProcessLookupError:
                    pass
    elif kind == "put":
        url = rest
        host, path = url.split("/", 1)
        h, port = host.split(":")
        c = http.client.HTTPConnection(h, int(port), timeout=2)
        c.request("PUT", "/" + path)
        r = c.getresponse()
        r.read()
        if r.status >= 300:
            raise SystemExit("bench.py: PUT %s: %d" % (url, r.status))
    elif kind == "sentinel-failover":
        redis_once(int(rest), "SENTINEL", "FAILOVER", "mymaster", timeout=2)
    else:
        raise SystemExit("bench.py: unknown action " + a)


def cmd_failover(a):
    """Act at t0, then poll: (a) the lookup names a master other than --old,
    (b) SET on that master succeeds."""
    look = make_lookup(a.lookup, a.service)
    t0 = time.monotonic()
    for act in a.action:
        do_action(act)
    r = await_master(look, a.old, t0, a.timeout)
    if a.probe_old:
        r["old_writable_at_end"] = old_writable(a.old)
    print(json.dumps(r))


def old_writable(addr):
    """True when the old master still acknowledges a SET (two masters take writes)."""
    host, port = addr.rsplit(":", 1)
    try:
        c = Redis(host, port, 0.5)
        try:
            c.cmd("SET", "bench:old", "1")
            return True
        finally:
            c.close()
    except (OSError, RedisError):
        return False


def await_master(look, old, t0, timeout):
    """Poll until the lookup names a master other than old and SET there succeeds."""
    t_lookup = t_write = None
    new = None
    errors = {}
    wconn = {}
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        m = look.master()
        now = time.monotonic()
        if m and m != old:
            if t_lookup is None:
                t_lookup, new = now - t0, m
            try:
                host, port = m.rsplit(":", 1)
                c = wconn.get(m) or Redis(host, port, 0.2)
                wconn[m] = c
                c.cmd("SET", "bench:failover", str(now))
                t_write, new = time.monotonic() - t0, m
                break
            except (OSError, RedisError) as e:
                key = str(e).split(" ")[0]
                errors[key] = errors.get(key, 0) + 1
                c = wconn.pop(m, None)
                if c:
                    c.close()
        time.sleep(POLL_S)
    for c in wconn.values():
        c.close()
    return {"lookup_s": rnd(t_lookup), "write_s": rnd(t_write), "new": new,
            "old": old, "write_errors": errors, "timeout": t_write is None}


def rnd(x):
    return None if x is None else round(x, 4)


# ------------------------------------------------------------------ ranked

def repl_state(port):
    """INFO replication of a replica and its bench:seq, as resec-health reads
    the offset (slave_repl_offset on a replica, else master_repl_offset)."""
    r = Redis("127.0.0.1", port, 0.5)
    try:
        info = parse_info(r.cmd("INFO", "replication"))
        seq = r.cmd("GET", "bench:seq")
    finally:
        r.close()
    mro = int(info.get("master_repl_offset", -1))
    sro = int(info.get("slave_repl_offset", -1))
    off = sro if info.get("role") == "slave" and sro >= 0 else mro
    return {"role": info.get("role"), "master_port": info.get("master_port"),
            "link": info.get("master_link_status"), "offset": off,
            "master_repl_offset": mro, "slave_repl_offset": sro,
            "seq": int(seq) if seq is not None else 0}


class Writer:
    """SET bench:seq 1, 2, 3... on one connection, as fast as the master
    answers, until a write fails; acked is the last value the master answered OK."""

    def __init__(self, port):
        import threading
        self.conn = Redis("127.0.0.1", port, 2.0)
        self.acked = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        try:
            while True:
                i += 1
                self.conn.cmd("SET", "bench:seq", str(i))
                self.acked = i
        except (OSError, RedisError) as e:
            self.error = str(e).split(" ")[0] or type(e).__name__
        self.conn.close()


def cmd_ranked(a):
    """One forced failover with writes in flight: optionally make one replica
    lag (REPLICAOF a dead address), kill -9 the master, read both replicas'
    frozen offsets before any promotion, wait for the new master, and check
    that it is the most advanced replica and holds every write any replica held."""
    ports = [int(p) for p in a.replicas.split(",")]
    by_addr = sorted(ports, key=lambda p: "127.0.0.1:%d" % p)   # resec's tie-break: strcmp
    lag = {"low": by_addr[0], "high": by_addr[1]}.get(a.lag)
    look = make_lookup(a.lookup, a.service)
    mport = int(a.old.rsplit(":", 1)[1])
    ctl = Redis("127.0.0.1", mport, 2.0)
    ctl.cmd("SET", "bench:sync", "1")
    synced = ctl.cmd("WAIT", "2", "2000")
    w = Writer(mport)
    time.sleep(a.before)
    acked_at_lag = None
    if lag:
        redis_once(lag, "REPLICAOF", "127.0.0.1", "1")
        acked_at_lag = w.acked
    time.sleep(a.run)
    # Still lagging at the kill? (resec or Sentinel could have re-pointed it.)
    lag_port_at_kill = parse_info(redis_once(lag, "INFO", "replication")).get("master_port") if lag else None
    acked_before_kill = w.acked
    ctl.close()
    t0 = time.monotonic()
    os.kill(a.kill, signal.SIGKILL)
    # Frozen once the dead master's stream is consumed: wait for both links to
    # be down (a few ms), then read; the role must still be slave.
    deadline = t0 + 2.0
    while True:
        st = {p: repl_state(p) for p in ports}
        if all(v["link"] != "up" for v in st.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    read_s = time.monotonic() - t0
    w.thread.join(5)
    res = await_master(look, a.old, t0, a.timeout)
    new_seq = None
    if res["new"]:
        try:
            v = redis_once(int(res["new"].rsplit(":", 1)[1]), "GET", "bench:seq")
            new_seq = int(v) if v is not None else 0
        except (OSError, RedisError, ValueError):
            pass
    offs = {p: v["offset"] for p, v in st.items()}
    seqs = {p: v["seq"] for p, v in st.items()}
    best = max(offs.values())
    ahead = None if len(set(offs.values())) == 1 else max(offs, key=offs.get)
    new_port = int(res["new"].rsplit(":", 1)[1]) if res["new"] else None
    promoted = new_port if new_port in ports else None
    res.update({
        "kind": a.lag, "lagging": lag, "lag_master_port_at_kill": lag_port_at_kill,
        "replicas_by_addr": by_addr, "synced_before": synced,
        "replicas": {str(p): v for p, v in st.items()}, "read_s": rnd(read_s),
        "read_before_promotion": all(v["role"] == "slave" for v in st.values()),
        "links_down_at_read": all(v["link"] != "up" for v in st.values()),
        "one_ahead": ahead is not None, "ahead": ahead,
        "offset_gap": max(offs.values()) - min(offs.values()),
        "promoted": promoted,
        "promoted_most_advanced": promoted is not None and offs[promoted] == best,
        "acked_at_lag": acked_at_lag, "acked_before_kill": acked_before_kill,
        "acked_last": w.acked, "writer_stopped_by": w.error,
        "replica_seq_best": max(seqs.values()), "new_master_seq": new_seq,
        # Acknowledged by the old master, not on the new one / on the new one
        # although its acknowledgement was still in flight at the kill.
        "lost_acked": None if new_seq is None else max(0, w.acked - new_seq),
        "unacked_kept": None if new_seq is None else max(0, new_seq - w.acked),
        "lost_by_choice": None if new_seq is None else max(0, max(seqs.values()) - new_seq)})
    print(json.dumps(res))


# ------------------------------------------------------------------ window

def cmd_window(a):
    """Start the returning old master and write to it every few ms from t0
    until it has refused writes for --quiet seconds without a break."""
    import subprocess
    t0 = time.monotonic()
    proc = subprocess.Popen(a.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(a.pidfile, "a") as f:
        f.write("%d\n" % proc.pid)
    conn = None
    t_up = first_ok = last_ok = first_refused = t_replica = None
    n_ok = n_refused = 0
    refused_since = None
    errors = {}
    deadline = t0 + a.timeout
    i = 0
    while time.monotonic() < deadline:
        i += 1
        now = time.monotonic()
        try:
            if conn is None:
                conn = Redis("127.0.0.1", a.port, 0.2)
                if t_up is None:
                    t_up = now - t0
            try:
                conn.cmd("SET", "bench:returning", str(i))
                n_ok += 1
                last_ok = now - t0
                if first_ok is None:
                    first_ok = last_ok
                refused_since = None
            except RedisError as e:
                n_refused += 1
                key = str(e).split(" ")[0]
                errors[key] = errors.get(key, 0) + 1
                if first_refused is None:
                    first_refused = now - t0
                if refused_since is None:
                    refused_since = now
                if key == "LOADING":
                    refused_since = None
            if i % 25 == 0 and t_replica is None:
                info = parse_info(conn.cmd("INFO", "replication"))
                if info.get("role") == "slave":
                    t_replica = now - t0
            if refused_since is not None and now - refused_since >= a.quiet:
                break
        except OSError:
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(a.interval)
    if conn:
        conn.close()
    window = 0.0 if first_ok is None else last_ok - t_up
    print(json.dumps({"window_s": rnd(window), "accepted_writes": n_ok,
                      "up_s": rnd(t_up), "first_ok_s": rnd(first_ok),
                      "last_ok_s": rnd(last_ok), "first_refused_s": rnd(first_refused),
                      "replica_s": rnd(t_replica), "refusals": errors,
                      "timeout": refused_since is None, "pid": proc.pid}))


# ------------------------------------------------------------------ footprint

def proc_children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(roots, kids):
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_sample(pid):
    """(cpu ticks incl. reaped children, rss, pss, uss in kB) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        ticks = sum(int(x) for x in fields[11:15])    # utime stime cutime cstime
        rss = int(fields[21]) * PAGE_KB
        pss, uss = rss, 0
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1])
                    elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                        uss += int(line.split()[1])
        except OSError:
            uss = rss
        return ticks, rss, pss, uss
    except (OSError, ValueError, IndexError):
        return None


def group_sample(spec, kids):
    """Sum over a group: NAME=PID,PID (exact) or tree:NAME=PID (with descendants)."""
    pids = tree(spec["pids"], kids) if spec["tree"] else spec["pids"]
    ticks = rss = pss = uss = n = 0
    names = []
    each = []
    for p in pids:
        s = proc_sample(p)
        if s:
            ticks += s[0]
            rss += s[1]
            pss += s[2]
            uss += s[3]
            n += 1
            try:
                with open("/proc/%d/comm" % p) as f:
                    names.append(f.read().strip())
                with open("/proc/%d/cmdline" % p, "rb") as f:
                    argv = [x.decode(errors="replace") for x in f.read().split(b"\0") if x]
                each.append({"pid": p, "cmd": " ".join(os.path.basename(x) if i == 0 else x
                                                      for i, x in enumerate(argv[:4])),
                             "rss_kb": s[1], "pss_kb": s[2], "uss_kb": s[3]})
            except OSError:
                pass
    return {"ticks": ticks, "rss_kb": rss, "pss_kb": pss, "uss_kb": uss, "procs": n,
            "names": sorted(names), "per_process": sorted(each, key=lambda e: -e["uss_kb"])}


def emu_stats(url):
    host, port = url.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/_emu/stats")
    r = c.getresponse()
    return json.loads(r.read() or b"{}")


def parse_groups(specs, is_tree):
    out = {}
    for s in specs or []:
        name, pids = s.split("=", 1)
        out[name] = {"tree": is_tree, "pids": [int(p) for p in pids.split(",") if p]}
    return out


def cmd_footprint(a):
    groups = parse_groups(a.group, False)
    groups.update(parse_groups(a.tree, True))
    redises = dict(s.split("=", 1) for s in a.redis or [])
    t0 = time.monotonic()
    kids = proc_children()
    start = {g: group_sample(s, kids) for g, s in groups.items()}
    rs0 = {}
    for name, port in redises.items():
        try:
            rs0[name] = commandstats(port)
        except (OSError, RedisError):
            rs0[name] = None
    es0 = emu_stats(a.emu) if a.emu else None
    peak = {g: dict(v) for g, v in start.items()}
    while time.monotonic() - t0 < a.seconds:
        time.sleep(min(1.0, max(0.0, a.seconds - (time.monotonic() - t0))))
        kids = proc_children()
        for g, s in groups.items():
            cur = group_sample(s, kids)
            for k in ("rss_kb", "pss_kb", "uss_kb", "procs"):
                peak[g][k] = max(peak[g][k], cur[k])
    kids = proc_children()
    end = {g: group_sample(s, kids) for g, s in groups.items()}
    rs1 = {}
    for name, port in redises.items():
        try:
            rs1[name] = commandstats(port)
        except (OSError, RedisError):
            rs1[name] = None
    es1 = emu_stats(a.emu) if a.emu else None
    dt = time.monotonic() - t0
    res = {"seconds": round(dt, 2), "groups": {}, "redis": {}}
    for g in groups:
        cpu_s = (end[g]["ticks"] - start[g]["ticks"]) / CLK_TCK
        res["groups"][g] = {
            "cpu_pct": round(100.0 * cpu_s / dt, 4), "cpu_s": round(cpu_s, 3),
            "rss_kb": end[g]["rss_kb"], "pss_kb": end[g]["pss_kb"],
            "uss_kb": end[g]["uss_kb"], "rss_kb_peak": peak[g]["rss_kb"],
            "pss_kb_peak": peak[g]["pss_kb"], "uss_kb_peak": peak[g]["uss_kb"],
            "procs": end[g]["procs"], "names": end[g]["names"],
            "per_process": end[g]["per_process"]}
    for name in redises:
        if rs0.get(name) is None or rs1.get(name) is None:
            continue
        delta = {k: v - rs0[name].get(k, 0) for k, v in rs1[name].items()}
        # Our own first INFO is counted in the second snapshot.
        delta["info"] = delta.get("info", 0) - 1
        delta = {k: v for k, v in delta.items() if v > 0}
        repl = sum(v for k, v in delta.items() if k in ("replconf", "psync", "sync"))
        total = sum(delta.values())
        res["redis"][name] = {"cmds_per_s": round((total - repl) / dt, 3),
                              "replication_per_s": round(repl / dt, 3),
                              "by_command_per_s": {k: round(v / dt, 3) for k, v in sorted(delta.items())}}
    if es0 is not None:
        res["consul"] = emu_delta(es0, es1, dt, a.nodes)
    print(json.dumps(res))


def emu_delta(s0, s1, dt, nodes):
    """Requests/s from two /_emu/stats snapshots, server and agent-local apart.
    Our own two GET /_emu/stats are not counted by the emulator (not /v1)."""
    out = {}
    for kind in ("server", "agent"):
        k0 = s0.get(kind, {"total": 0, "by_endpoint": {}})
        k1 = s1.get(kind, {"total": 0, "by_endpoint": {}})
        total = k1.get("total", 0) - k0.get("total", 0)
        eps = {e: round((v - k0.get("by_endpoint", {}).get(e, 0)) / dt, 4)
               for e, v in k1.get("by_endpoint", {}).items()
               if v - k0.get("by_endpoint", {}).get(e, 0) > 0}
        out[kind] = {"per_s": round(total / dt, 4),
                     "per_s_per_node": round(total / dt / max(1, nodes), 4),
                     "by_endpoint_per_s": eps}
    bn = {}
    for n, v in s1.get("by_node", {}).items():
        v0 = s0.get("by_node", {}).get(n, {"server": 0, "agent": 0})
        bn[n] = {k: round((v.get(k, 0) - v0.get(k, 0)) / dt, 4) for k in ("server", "agent")}
    out["by_node_per_s"] = bn
    return out


# ------------------------------------------------------------------ settled

def replicas_follow(ports, mport):
    """Every Redis on ports but mport replicates mport with its link up."""
    for p in ports:
        if p == mport:
            continue
        info = parse_info(redis_once(p, "INFO", "replication"))
        if info.get("master_port") != str(mport) or info.get("master_link_status") != "up":
            return False
    return True


def cmd_settled_sentinel(a):
    """Every sentinel sees each master (all of --names, default mymaster) with
    its replicas linked and every other sentinel."""
    ports = [int(p) for p in a.ports.split(",")]
    want_sentinels = len(ports) - 1
    try:
        for p in ports:
            masters = {}
            for m in redis_once(p, "SENTINEL", "masters"):
                d = dict(zip(m[::2], m[1::2]))
                masters[d["name"]] = d
            for name in a.names.split(","):
                d = masters[name]
                if d["flags"] != "master" or int(d["num-slaves"]) != a.replicas \
                        or int(d["num-other-sentinels"]) != want_sentinels:
                    return 1
                for r in redis_once(p, "SENTINEL", "replicas", name):
                    rd = dict(zip(r[::2], r[1::2]))
                    if rd["flags"] != "slave" or rd.get("master-link-status") != "ok":
                        return 1
    except (OSError, RedisError, KeyError, TypeError):
        return 1
    return 0


def cmd_settled_consul(a):
    """One passing master among the ports, every other Redis replicating it
    with the link up, and a passing replica service for each."""
    ports = [int(p) for p in a.redis.split(",")]
    try:
        look = ConsulLookup([a.emu], a.prefix + "-master")
        inst = look.instances()
        if not inst or len(inst) != 1:
            return 1
        mport = int(inst[0].rsplit(":", 1)[1])
        if mport not in ports:
            return 1
        if redis_once(mport, "SET", "bench:settle", "1") != "OK":
            return 1
        if not replicas_follow(ports, mport):
            return 1
        slaves = ConsulLookup([a.emu], a.prefix + "-" + a.replica_name).instances()
        if slaves is None or len(slaves) != len(ports) - 1:
            return 1
    except (OSError, RedisError, ValueError):
        return 1
    print(mport)
    return 0


# ------------------------------------------------------------------ switchover load

def err_kind(e):
    return str(e).split(" ")[0] or "error"


def write_loop(look, interval, stop, send, emit, refresh=0, clock=time.time):
    """The client of the write loads: send(conn, N) (a SET) on the master the
    lookup names, N = 1, 2, ...; the lookup is asked again whenever a write
    fails (refused or unanswered) and, with refresh S, also every S seconds.
    emit(ok, N, clock(), kind, master) per attempt; runs until stop() is true."""
    n, conn, cur, looked = 0, None, None, 0.0
    while not stop():
        if conn is not None and refresh and time.monotonic() - looked >= refresh:
            looked = time.monotonic()
            m = look.master()
            if m and m != cur:
                conn.close()
                conn = None
        if conn is None:
            m = look.master()
            looked = time.monotonic()
            if m is None:
                time.sleep(POLL_S)
                continue
            try:
                host, port = m.rsplit(":", 1)
                conn, cur = Redis(host, port, 1.0), m
            except OSError:
                conn = None
                time.sleep(POLL_S)
                continue
        n += 1
        try:
            r = send(conn, n)
            ok, kind = r == "OK", "reply:%s" % r
        except RedisError as e:
            ok, kind = False, err_kind(e)
        except OSError:
            ok, kind = False, "connection"
        emit(ok, n, clock(), kind, cur)
        if not ok:
            conn.close()
            conn = None
        time.sleep(interval)


def cmd_load(a):
    """A write load that follows the master: SET PREFIX:N N on the master the
    lookup names, N = 1, 2, ...; the lookup is asked again whenever a write
    fails (refused or unanswered) and, with --refresh S, also every S seconds
    (a client told of a new master within S, as by Sentinel's +switch-master).
    One line per attempt in --out: "a N T" acknowledged (+OK), "r N T KIND"
    not; T is the wall clock (time.time()) when the answer came. Runs until
    SIGTERM/SIGINT."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    look = make_lookup(a.lookup, a.service)
    with open(a.out, "w", buffering=1) as out:
        out.write("# prefix %s refresh %s\n" % (a.prefix, a.refresh))

        def emit(ok, n, t, kind, _master):
            if ok:
                out.write("a %d %.6f\n" % (n, t))
            else:
                out.write("r %d %.6f %s\n" % (n, t, kind))
        write_loop(look, a.interval, lambda: stop,
                   lambda conn, n: conn.cmd("SET", "%s:%d" % (a.prefix, n), str(n)), emit, a.refresh)
        out.write("# stopped\n")
    return 0


def cmd_blip(a):
    """Write unavailability through a fault (issue 15): a client writer (the
    load's logic, SET every --interval on the master the lookup names, asking
    again only when a write fails) and tests/prober.py (SET on every Redis
    every 25 ms: two writable at once is a violation) run --before seconds,
    then the --fault actions, --outage seconds later the --heal actions (none:
    no heal), then --after seconds more. One JSON object: gap_s, the longest
    time between two acknowledged writes from the last one before the fault to
    the end (a tail without writes counts); back_s, the first acknowledged
    write at or after the heal, minus the heal; first_new_s, the first
    acknowledged write on another master than --old, from the fault;
    violations, the prober's problems. Times are time.monotonic(), the
    prober's clock."""
    import subprocess
    import threading
    look = make_lookup(a.lookup, a.service)
    rows = []               # (t, ok, kind, master)
    done = threading.Event()
    probe = os.path.join(a.tmp, "probe")
    prober = subprocess.Popen([sys.executable, a.prober, "run", probe] + a.redis.split(","),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    th = threading.Thread(target=write_loop, daemon=True, args=(
        look, a.interval, done.is_set,
        lambda conn, n: conn.cmd("SET", "bench:blip:%d" % n, str(n)),
        lambda ok, n, t, kind, m: rows.append((t, ok, kind, m)), 0, time.monotonic))
    th.start()
    try:
        time.sleep(a.before)
        t_fault = time.monotonic()
        for act in a.fault:
            do_action(act)
        t_heal = None
        if a.heal:
            time.sleep(max(0.0, t_fault + a.outage - time.monotonic()))
            t_heal = time.monotonic()
            for act in a.heal:
                do_action(act)
        t_end = (t_heal if t_heal is not None else t_fault) + a.after
        time.sleep(max(0.0, t_end - time.monotonic()))
    finally:
        done.set()
        prober.terminate()
        prober.wait(timeout=10)
        th.join(timeout=5)
    acks = [(t, m) for t, ok, _, m in rows if ok]
    before = [t for t, _ in acks if t < t_fault]
    seg = ([before[-1]] if before else [t_fault]) + [t for t, _ in acks if t_fault <= t <= t_end] + [t_end]
    gap = at = 0.0
    for x, y in zip(seg, seg[1:]):
        if y - x > gap:
            gap, at = y - x, x
    kinds = {}
    for t, ok, kind, _ in rows:
        if not ok and t >= t_fault:
            kinds[kind] = kinds.get(kind, 0) + 1
    back = next((t for t, _ in acks if t_heal is not None and t >= t_heal), None)
    # back_s alone misleads when writes stop again after the heal (a session
    # that died during the outage, a lock-delay): stable_s is when writes
    # came back for good, the end of the last gap over STABLE_GAP_S, from the
    # heal (negative: before it).
    stable = seg[0]
    for x, y in zip(seg[:-2], seg[1:-1]):
        if y - x > STABLE_GAP_S:
            stable = y
    new = next(((t, m) for t, m in acks if t >= t_fault and m != a.old), None)
    after_fault = [m for t, m in acks if t >= t_fault]
    rep = subprocess.run([sys.executable, a.prober, "report", probe, "--from", "%.6f" % t_fault,
                          "--to", "%.6f" % t_end], stdout=subprocess.PIPE, text=True)
    try:
        pr = json.loads(rep.stdout)
    except ValueError:
        pr = {"problems": ["prober report failed: %r" % rep.stdout[:200]], "max_gap_s": None}
    print(json.dumps({
        "gap_s": rnd(gap), "gap_from_s": rnd(at - t_fault), "gap_to_s": rnd(at + gap - t_fault),
        "back_s": rnd(None if back is None or t_heal is None else back - t_heal),
        "first_new_s": rnd(None if new is None else new[0] - t_fault),
        "stable_s": rnd(stable - (t_heal if t_heal is not None else t_fault)),
        "new": new[1] if new else None, "old": a.old,
        "final_master": after_fault[-1] if after_fault else None,
        "outage_s": rnd(None if t_heal is None else t_heal - t_fault), "after_s": a.after,
        "acked": len(acks), "refused_by_kind": kinds,
        "violations": len(pr.get("problems", [])), "problems": pr.get("problems", [])[:5],
        "prober_gap_s": pr.get("max_gap_s"), "prober_writes": pr.get("writes"),
        # No write at all in the last second: the cluster never came back.
        "timeout": not acks or acks[-1][0] < t_end - 1.0,
        "load_avg": [round(x, 2) for x in os.getloadavg()]}))
    return 0


def read_load(fn, with_prefix=False):
    """[(t, n, kind)] in file order; kind None for an acknowledged write."""
    out, prefix = [], "ack"
    with open(fn) as f:
        for line in f:
            p = line.split()
            if p[:2] == ["#", "prefix"]:
                prefix = p[2]
            if len(p) >= 3 and p[0] in ("a", "r"):
                out.append((float(p[2]), int(p[1]), None if p[0] == "a" else (p[3] if len(p) > 3 else "?")))
    return (out, prefix) if with_prefix else out


def cmd_load_check(a):
    """Read every acknowledged key back from the Redis at --port: acked,
    refused, missing (and the first missing keys)."""
    rows, prefix = read_load(a.file, True)
    acked = [n for _, n, k in rows if k is None]
    refused = sum(1 for _, _, k in rows if k is not None)
    r = Redis("127.0.0.1", a.port, 10)
    missing = []
    try:
        for i in range(0, len(acked), 500):
            chunk = acked[i:i + 500]
            vals = r.cmd("MGET", *["%s:%d" % (prefix, k) for k in chunk])
            missing += [k for k, v in zip(chunk, vals) if v != str(k)]
    finally:
        r.close()
    if a.missing_out:
        with open(a.missing_out, "w") as f:
            f.write("".join("%d\n" % k for k in missing))
    print(json.dumps({"acked": len(acked), "refused": refused, "missing": len(missing),
                      "missing_first": missing[:20], "missing_last": missing[-5:]}))
    return 0


def cmd_load_gaps(a):
    """Per switchover (one JSON line of --events each, with t_start), for each
    load (--load FILE[,MISSING_FILE], the first without a suffix, the others
    with --suffix): the longest interval between two consecutive acknowledged
    writes from the last one before t_start up to the next switchover's
    t_start (or the end of the load), the writes refused in that window by
    kind, and the acknowledged writes of that window missing on the final
    master."""
    import bisect
    events = [json.loads(l) for l in open(a.events) if l.strip()]
    suffixes = [""] + (a.suffix or [])
    for spec, sfx in zip(a.load, suffixes):
        fn, _, mfn = spec.partition(",")
        rows = read_load(fn)
        acks = [t for t, _, k in rows if k is None]
        when = {n: t for t, n, k in rows if k is None}
        rtime = [t for t, _, k in rows if k is not None]
        rkind = [k for _, _, k in rows if k is not None]
        lost = sorted(when[int(x)] for x in open(mfn).read().split()) if mfn else []
        for i, e in enumerate(events):
            t0 = e["t_start"]
            t1 = events[i + 1]["t_start"] if i + 1 < len(events) else float("inf")
            lo = max(0, bisect.bisect_left(acks, t0) - 1)
            seg = acks[lo:bisect.bisect_left(acks, t1)]
            gap = at = None
            for x, y in zip(seg, seg[1:]):
                if gap is None or y - x > gap:
                    gap, at = y - x, x
            kinds = {}
            for k in rkind[bisect.bisect_left(rtime, t0):bisect.bisect_left(rtime, t1)]:
                kinds[k] = kinds.get(k, 0) + 1
            e["gap%s_s" % sfx] = rnd(gap)
            e["gap%s_from_s" % sfx] = rnd(None if at is None else at - t0)
            e["refused%s" % sfx] = sum(kinds.values())
            e["refused%s_by_kind" % sfx] = kinds
            e["acked%s" % sfx] = bisect.bisect_left(acks, t1) - bisect.bisect_left(acks, t0)
            if mfn:
                e["missing%s" % sfx] = bisect.bisect_left(lost, t1) - bisect.bisect_left(lost, t0)
    for e in events:
        print(json.dumps(e))
    return 0


def cmd_switch(a):
    """One switchover, timed on the wall clock: run resec-switchover (--tool)
    or send SENTINEL FAILOVER (--sentinel-failover PORT) and poll the lookup
    until it names a master other than --old. One JSON object."""
    import re
    import subprocess
    t0 = time.time()
    res = {"t_start": t0, "load_avg": [round(x, 2) for x in os.getloadavg()]}
    if a.tool:
        try:
            p = subprocess.run(a.tool, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=a.timeout, text=True)
            rc, out, err = p.returncode, p.stdout.strip(), p.stderr.strip()
        except subprocess.TimeoutExpired as e:
            rc, out, err = -1, "", "timed out after %ss: %s" % (a.timeout, e)
        t1 = time.time()
        m = re.search(r"switched over from (\S+) to (\S+): writes refused for (\d+)ms", out)
        res.update(rc=rc, out=out, done_s=rnd(t1 - t0), t_done=t1,
                   reported_s=(int(m.group(3)) / 1000.0) if m else None,
                   old=m.group(1) if m else a.old, new=m.group(2) if m else None)
        if rc != 0:
            res["err"] = err[-2000:]
    else:
        try:
            reply = redis_once(a.sentinel_failover, "SENTINEL", "FAILOVER", "mymaster", timeout=2)
        except (OSError, RedisError) as e:
            reply = "error: %s" % e
        res.update(reply=reply, old=a.old)
        new = None
        if reply == "OK":
            look = make_lookup(a.lookup, a.service)
            while time.time() - t0 < a.timeout:
                m = look.master()
                if m and m != a.old:
                    new = m
                    break
                time.sleep(POLL_S)
        t1 = time.time()
        res.update(rc=0 if new else 1, new=new, done_s=rnd(t1 - t0), t_done=t1)
    print(json.dumps(res))
    return 0


def cmd_settled_sentinel_redis(a):
    """Every sentinel names the same master, that Redis is a master, every
    other Redis replicates it with the link up, and settled-sentinel holds.
    Prints the master's port."""
    ports = [int(p) for p in a.ports.split(",")]
    rports = [int(p) for p in a.redis.split(",")]
    try:
        named = set()
        for p in ports:
            r = redis_once(p, "SENTINEL", "get-master-addr-by-name", "mymaster")
            named.add("%s:%s" % (r[0], r[1]))
        if len(named) != 1:
            return 1
        mport = int(next(iter(named)).rsplit(":", 1)[1])
        if mport not in rports or (a.not_port and mport == a.not_port):
            return 1
        if parse_info(redis_once(mport, "INFO", "replication")).get("role") != "master":
            return 1
        if not replicas_follow(rports, mport):
            return 1
    except (OSError, RedisError, TypeError, IndexError):
        return 1
    a.names = "mymaster"
    a.replicas = len(rports) - 1
    if cmd_settled_sentinel(a):
        return 1
    print(mport)
    return 0


# ------------------------------------------------------------------ teardown

def marked(mark):
    """Pids whose environment holds BENCH_MARK=<mark> (never our own)."""
    want = ("BENCH_MARK=" + mark).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if want in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            pass
    return out


def cmd_killall(a):
    """SIGKILL every marked process and every pid in the file until none is
    left (a resec orchestrator may fork while we kill); exit 1 if some stay."""
    try:
        with open(a.pidfile) as f:
            listed = [int(x) for x in f.read().split()]
    except OSError:
        listed = []
    deadline = time.monotonic() + 10
    while True:
        alive = []
        for p in set(marked(a.mark) + listed):
            try:
                os.kill(p, signal.SIGKILL)
                alive.append(p)
            except ProcessLookupError:
                pass
            except PermissionError:
                pass
        # A killed process stays until reaped; only those still marked count.
        alive = [p for p in alive if is_running(p)]
        if not alive:
            return 0
        if time.monotonic() > deadline:
            print("bench.py: processes left: %s" % alive, file=sys.stderr)
            return 1
        time.sleep(0.05)


def is_running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2] not in "ZX"
    except OSError:
        return False


# ------------------------------------------------------------------ stats

def pct(xs, q):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(round(q / 100.0 * len(xs) + 0.4999)) - 1))
    return xs[k]


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "median": round(statistics.median(xs), 4), "p90": round(pct(xs, 90), 4),
            "max": round(max(xs), 4), "min": round(min(xs), 4),
            "mean": round(statistics.fmean(xs), 4)}


METRICS = ("gap_s", "reported_s", "done_s", "settle_s", "refused", "missing",
           "gap_refresh_s", "refused_refresh", "missing_refresh",
           "lookup_s", "write_s", "window_s", "accepted_writes", "up_s", "replica_s",
           "rss_kb", "pss_kb", "uss_kb", "cpu_pct", "procs", "redis_cmds_per_s",
           "consul_server_per_s", "consul_agent_per_s",
           "consul_server_per_s_per_node", "consul_agent_per_s_per_node",
           "read_s", "offset_gap", "lost_acked", "lost_by_choice",
           "back_s", "stable_s", "first_new_s", "violations", "prober_gap_s", "serf_after_s")


def ranked_stats(trials):
    """Counts of the ranked scenario: trials where one replica was ahead, and of
    those how many promoted it; ties; writes lost by the choice of replica."""
    ok = [t for t in trials if not t.get("timeout") and t.get("read_before_promotion")
          and t.get("links_down_at_read") and t.get("synced_before") == 2]
    ahead = [t for t in ok if t["one_ahead"]]
    lagging = [t for t in trials if t.get("lagging")]
    return {"trials": len(trials), "valid": len(ok),
            "invalid": len(trials) - len(ok),
            "one_ahead": len(ahead),
            "ahead_promoted_most_advanced": sum(1 for t in ahead if t["promoted_most_advanced"]),
            "tied": len(ok) - len(ahead),
            "tied_promoted_lower_address": sum(
                1 for t in ok if not t["one_ahead"] and t["promoted"] == t["replicas_by_addr"][0]),
            "lagging_trials": len(lagging),
            "lagging_still_lagging_at_kill": sum(1 for t in lagging if t.get("lag_master_port_at_kill") == "1"),
            "natural_one_ahead": sum(1 for t in ahead if not t.get("lagging")),
            "lost_by_choice_trials": sum(1 for t in ok if t.get("lost_by_choice")),
            "lost_acked_trials": sum(1 for t in ok if t.get("lost_acked"))}


def cmd_summarize(a):
    """Collect trial lines (JSON with "system" and "variant") into one result."""
    meta = json.load(open(a.meta)) if a.meta else {}
    systems = {}
    for fn in a.files:
        with open(fn) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                t = json.loads(line)
                s = systems.setdefault(t["system"], {"trials": []})
                if t.get("kind") == "totals":
                    # The switchover series' final check (one per system).
                    s["totals"] = {k: v for k, v in t.items() if k not in ("kind", "system")}
                else:
                    s["trials"].append(t)
    for s in systems.values():
        st = {}
        for m in METRICS:
            vals = [t.get(m) for t in s["trials"] if m in t]
            if vals:
                st[m] = summary(vals)
        s["stats"] = st
        s["timeouts"] = sum(1 for t in s["trials"] if t.get("timeout"))
        if any("one_ahead" in t for t in s["trials"]):
            s["ranked"] = ranked_stats(s["trials"])
        if any("rc" in t for t in s["trials"]):
            s["failed"] = sum(1 for t in s["trials"] if t.get("rc") != 0)
    out = dict(meta, scenario=a.name, systems=systems)
    if a.note:
        out["note"] = a.note
    print(json.dumps(out, indent=1))


def fmt(v):
    return "-" if v is None else ("%.3f" % v if isinstance(v, float) else str(v))


def cmd_table(a):
    """Print each result file's systems side by side (median / p90 / max)."""
    for fn in a.files:
        r = json.load(open(fn))
        print("== %s" % r["scenario"])
        for sysname, s in r["systems"].items():
            for m, st in s.get("stats", {}).items():
                if st.get("n"):
                    print("  %-26s %-16s n=%-3d median %-8s p90 %-8s max %-8s%s" % (
                        sysname, m, st["n"], fmt(st["median"]), fmt(st["p90"]), fmt(st["max"]),
                        "  (%d timed out)" % s["timeouts"] if s.get("timeouts") else ""))
            rk = s.get("ranked")
            if rk:
                print("  %-26s %d trials (%d valid): one replica ahead in %d, the most advanced "
                      "promoted in %d of those; tied %d; writes lost by the choice in %d trials"
                      % (sysname, rk["trials"], rk["valid"], rk["one_ahead"],
                         rk["ahead_promoted_most_advanced"], rk["tied"], rk["lost_by_choice_trials"]))
            if "failed" in s:
                print("  %-26s %d switchovers, %d failed" % (sysname, len(s["trials"]), s["failed"]))
            tot = s.get("totals")
            if tot:
                for label, t in (("on-error", tot), ("refresh-100ms", tot.get("refresh"))):
                    if t:
                        print("  %-26s load %-13s acknowledged %d, refused %d, missing on the final master %d" % (
                            sysname, label, t["acked"], t["refused"], t["missing"]))


def cmd_plotdata(a):
    """Write 'x value' rows (one column index per system/metric) and labels."""
    rows, labels = [], []
    for fn in a.files:
        r = json.load(open(fn))
        for sysname, s in r["systems"].items():
            for m in ("write_s", "window_s"):
                vals = [t.get(m) for t in s["trials"] if t.get(m) is not None]
                if not vals:
                    continue
                x = len(labels)
                labels.append("%s\\n%s" % (r["scenario"], sysname))
                rows += ["%d %s %s" % (x, v, statistics.median(vals)) for v in vals]
    with open(a.out, "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(a.labels, "w") as f:
        f.write("set xtics (" + ", ".join('"%s" %d' % (l, i) for i, l in enumerate(labels)) + ")\n")


def main(argv):
    p = argparse.ArgumentParser(prog="bench.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--lookup", required=True)
    f.add_argument("--service", default="redis-master")
    f.add_argument("--old", required=True)
    f.add_argument("--action", action="append", default=[])
    f.add_argument("--timeout", type=float, default=60)
    f.add_argument("--probe-old", action="store_true",
                   help="once the new master took a write, SET on the old one too (split brain?)")
    rk = sub.add_parser("ranked")
    rk.add_argument("--lookup", required=True)
    rk.add_argument("--service", default="redis-master")
    rk.add_argument("--old", required=True)
    rk.add_argument("--kill", type=int, required=True)
    rk.add_argument("--replicas", required=True)
    rk.add_argument("--lag", choices=("low", "high", "none"), default="none")
    rk.add_argument("--before", type=float, default=0.1)
    rk.add_argument("--run", type=float, default=0.3)
    rk.add_argument("--timeout", type=float, default=60)
    w = sub.add_parser("window")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--pidfile", required=True)
    w.add_argument("--timeout", type=float, default=60)
    w.add_argument("--interval", type=float, default=0.002)
    w.add_argument("--quiet", type=float, default=3.0)
    w.add_argument("argv", nargs="+")
    fp = sub.add_parser("footprint")
    fp.add_argument("--seconds", type=float, required=True)
    fp.add_argument("--group", action="append")
    fp.add_argument("--tree", action="append")
    fp.add_argument("--redis", action="append")
    fp.add_argument("--emu")
    fp.add_argument("--nodes", type=int, default=1)
    ss = sub.add_parser("settled-sentinel")
    ss.add_argument("ports")
    ss.add_argument("replicas", type=int)
    ss.add_argument("names", nargs="?", default="mymaster")
    sc = sub.add_parser("settled-consul")
    sc.add_argument("emu", type=int)
    sc.add_argument("redis")
    sc.add_argument("prefix", nargs="?", default="redis")
    sc.add_argument("replica_name", nargs="?", default="slave")
    ka = sub.add_parser("killall")
    ka.add_argument("mark")
    ka.add_argument("pidfile")
    sm = sub.add_parser("summarize")
    sm.add_argument("--meta")
    sm.add_argument("--note")
    sm.add_argument("name")
    sm.add_argument("files", nargs="+")
    tb = sub.add_parser("table")
    tb.add_argument("files", nargs="+")
    ld = sub.add_parser("load")
    ld.add_argument("--lookup", required=True)
    ld.add_argument("--service", default="redis-master")
    ld.add_argument("--out", required=True)
    ld.add_argument("--interval", type=float, default=0.005)
    ld.add_argument("--prefix", default="ack")
    ld.add_argument("--refresh", type=float, default=0)
    lc = sub.add_parser("load-check")
    lc.add_argument("--port", type=int, required=True)
    lc.add_argument("--missing-out")
    lc.add_argument("file")
    bl = sub.add_parser("blip")
    bl.add_argument("--lookup", required=True)
    bl.add_argument("--service", default="redis-master")
    bl.add_argument("--old", required=True)
    bl.add_argument("--redis", required=True, help="every Redis port, comma-separated (the prober's)")
    bl.add_argument("--prober", required=True, help="tests/prober.py")
    bl.add_argument("--tmp", required=True, help="a directory for the prober's timeline")
    bl.add_argument("--fault", action="append", default=[])
    bl.add_argument("--heal", action="append", default=[])
    bl.add_argument("--outage", type=float, default=15)
    bl.add_argument("--before", type=float, default=2)
    bl.add_argument("--after", type=float, default=10)
    bl.add_argument("--interval", type=float, default=POLL_S)
    lg = sub.add_parser("load-gaps")
    lg.add_argument("--load", action="append", required=True)
    lg.add_argument("--suffix", action="append")
    lg.add_argument("--events", required=True)
    sw = sub.add_parser("switch")
    sw.add_argument("--old", required=True)
    sw.add_argument("--lookup")
    sw.add_argument("--service", default="redis-master")
    sw.add_argument("--sentinel-failover", type=int)
    sw.add_argument("--timeout", type=float, default=60)
    sw.add_argument("tool", nargs="*")
    sr = sub.add_parser("settled-sentinel-redis")
    sr.add_argument("ports")
    sr.add_argument("redis")
    sr.add_argument("--not-port", type=int)
    pd = sub.add_parser("plotdata")
    pd.add_argument("out")
    pd.add_argument("labels")
    pd.add_argument("files", nargs="+")
    a = p.parse_args(argv)
    fn = {"failover": cmd_failover, "ranked": cmd_ranked, "window": cmd_window, "footprint": cmd_footprint,
          "settled-sentinel": cmd_settled_sentinel, "settled-consul": cmd_settled_consul, "killall": cmd_killall,
          "load": cmd_load, "blip": cmd_blip, "load-check": cmd_load_check, "load-gaps": cmd_load_gaps,
          "switch": cmd_switch, "settled-sentinel-redis": cmd_settled_sentinel_redis,
          "summarize": cmd_summarize, "table": cmd_table, "plotdata": cmd_plotdata}[a.cmd]
    return fn(a) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
