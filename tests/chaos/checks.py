# SPDX-License-Identifier: MIT
"""What the campaign checks: the writer's acknowledged writes (and the
availability they show), the prober's accepted writes (two Redis writable at
once), a settled cluster, and acknowledged writes missing from the master."""
import bisect
import json
import time

import resp

# Two accepted probes of one Redis in a row, at most this far apart, bracket a
# time in which that Redis stayed writable: for it to have been fenced and
# writable again in between, the lock would have had to change hands twice
# (each hand-over costs Consul round trips and a promotion) within this gap.
MAX_GAP_S = 0.25


class LogTail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path):
        self.path, self.pos, self.rest = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        data = self.rest + data
        parts = data.split(b"\n")
        self.rest = parts.pop()
        return [p.decode(errors="replace") for p in parts if p]


class Writes:
    """The writer's log: acknowledged writes in order, failures counted."""

    def __init__(self, path):
        self.tail = LogTail(path)
        self.n, self.t_send, self.t_ack, self.port = [], [], [], []
        self.failed = 0
        self.fail_reasons = {}

    def update(self):
        for line in self.tail.lines():
            f = line.split()
            if f[0] == "a":
                self.n.append(int(f[1]))
                self.t_send.append(float(f[2]))
                self.t_ack.append(float(f[3]))
                self.port.append(int(f[4]))
            elif f[0] == "f":
                self.failed += 1
                self.fail_reasons[f[5]] = self.fail_reasons.get(f[5], 0) + 1

    def first_ack_after(self, t):
        """(t_ack, port) of the first acknowledged write sent at or after t."""
        i = bisect.bisect_left(self.t_send, t)
        return (self.t_ack[i], self.port[i]) if i < len(self.t_send) else None

    def first_ack_on(self, t, port):
        """(t_ack, port) of the first acknowledged write on port sent at or
        after t."""
        for i in range(bisect.bisect_left(self.t_send, t), len(self.t_send)):
            if self.port[i] == port:
                return (self.t_ack[i], port)
        return None

    def ack_from(self, t, wait_s=0.0):
        """(t_ack, port) of the first acknowledgement at or after t, or None;
        waits up to wait_s for the writer to log it. The cluster may be
        judged settled on an acknowledgement older than the outage's end (seed
        14201, round 18: one just before a restarted resec fenced its
        master), so the outage runs to the settle time and the write that
        ends it may not be logged yet."""
        end = time.monotonic() + wait_s
        while True:
            i = bisect.bisect_left(self.t_ack, t)
            if i < len(self.t_ack):
                return (self.t_ack[i], self.port[i])
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)
            self.update()

    def acked_since(self, t):
        return len(self.t_ack) - bisect.bisect_left(self.t_ack, t)

    def longest_gap(self, t0, t1):
        """Longest time without an acknowledgement in [t0, t1], counting from
        the last acknowledgement before t0; (gap_s, from_t, to_t)."""
        i = bisect.bisect_left(self.t_ack, t0)
        j = bisect.bisect_right(self.t_ack, t1)
        times = self.t_ack[max(i - 1, 0):j]
        if i == 0 or not times or times[0] > t0:
            times = [t0] + times
        times.append(t1 if j >= len(self.t_ack) else self.t_ack[j])
        best = (0.0, t0, t0)
        for a, b in zip(times, times[1:]):
            if b - a > best[0]:
                best = (b - a, a, b)
        return best


class Probes:
    """The prober's accepted writes per Redis port, and the overlaps found."""

    def __init__(self, path):
        self.tail = LogTail(path)
        self.last = {}      # port -> (seq, t_recv) of its latest accepted probe
        self.accepted = {}  # port -> ([t_recv], [(seq, t_send, t_recv)])
        self.gaps = {}      # port -> ([start], [(start, end, seq)]): two accepted in a row
        self.refusals = {}  # port -> [(t_recv, reason)]: first refusal after an accepted one
        self.checked_to = 0.0
        self.seen = set()

    def update(self):
        for line in self.tail.lines():
            f = line.split()
            port, seq, t0, t1 = int(f[1]), int(f[2]), float(f[3]), float(f[4])
            if f[0] != "ok":
                self.refusals.setdefault(port, []).append((t1, f[5]))
                continue
            prev = self.last.get(port)
            if f[5] == "1" and prev and prev[0] == seq - 1 and t0 - prev[1] <= MAX_GAP_S:
                starts, gaps = self.gaps.setdefault(port, ([], []))
                starts.append(prev[1])
                gaps.append((prev[1], t0, seq))
            recvs, samples = self.accepted.setdefault(port, ([], []))
            recvs.append(t1)
            samples.append((seq, t0, t1))
            self.last[port] = (seq, t1)

    def count(self, port):
        return len(self.accepted.get(port, ([], []))[0])

    def overlaps(self, horizon):
        """Accepted probes of one Redis that lie wholly between two consecutive
        accepted probes of another (A, then B, then A again), for probes of B
        answered before horizon and not judged before. Returns a list of
        evidence dicts."""
        found = []
        for b_port, (recvs, samples) in self.accepted.items():
            i = bisect.bisect_left(recvs, self.checked_to)
            for seq, s, r in samples[i:]:
                if r >= horizon:
                    break
                for a_port, (starts, gaps) in self.gaps.items():
                    if a_port == b_port:
                        continue
                    k = bisect.bisect_right(starts, s) - 1
                    if k < 0:
                        continue
                    g0, g1, a_seq = gaps[k]
                    if g0 <= s and r <= g1 and (a_port, b_port, seq) not in self.seen:
                        self.seen.add((a_port, b_port, seq))
                        found.append({"a_port": a_port, "a_accepted": [round(g0, 6), round(g1, 6)],
                                      "a_seq": [a_seq - 1, a_seq], "b_port": b_port, "b_seq": seq,
                                      "b_accepted": [round(s, 6), round(r, 6)]})
        self.checked_to = max(self.checked_to, horizon)
        return found


def summarize_overlaps(found):
    """Group evidence by pair of Redis: count, first and last time."""
    out = {}
    for e in found:
        key = "%d+%d" % tuple(sorted((e["a_port"], e["b_port"])))
        g = out.setdefault(key, {"count": 0, "first": e["b_accepted"][0], "last": e["b_accepted"][1],
                                 "example": e})
        g["count"] += 1
        g["first"] = min(g["first"], e["b_accepted"][0])
        g["last"] = max(g["last"], e["b_accepted"][1])
    return out


def passing(cl, service):
    """Ports of the passing instances of service, seen from the observer;
    None when Consul does not answer."""
    try:
        status, body = cl.http("GET", "/v1/health/service/%s?passing" % service, timeout=2)
    except OSError:
        return None
    if status != 200:
        return None
    try:
        return sorted(int(e["Service"]["Port"]) for e in json.loads(body))
    except (ValueError, KeyError, TypeError):
        return None


def registered_after(events, node, t):
    """A service registration by node's agent at or after t (monotonic) in
    the emulator's service_register events."""
    return any(e.get("node") == node and e.get("t", 0) >= t for e in events)


def resec_registered(cl, i, since):
    """Node i's resec, restarted at since, has registered its service: it has
    taken its place (a restarted resec first fences a master it finds,
    removes its predecessor's registration and re-registers; until then the
    cluster only looks settled). None when the emulator does not answer."""
    try:
        status, body = cl.http("GET", "/_emu/events?type=service_register", timeout=2)
        if status != 200:
            return None
        return registered_after(json.loads(body), "node%d" % i, since)
    except (OSError, ValueError):
        return None


def settled(cl):
    """(True, master node) when exactly one redis-master passes, every other
    node's Redis replicates it with its link up, and their replica services
    pass; else (False, why)."""
    masters = passing(cl, "redis-master")
    if masters is None:
        return False, "consul does not answer the health query"
    if len(masters) != 1:
        return False, "%d passing masters %s" % (len(masters), masters)
    m = cl.node_of_port(masters[0])
    if m is None:
        return False, "the passing master %d is no node of ours" % masters[0]
    for i in range(1, cl.N + 1):
        if i == m:
            continue
        try:
            inf = resp.info(cl.redis_port[i], timeout=0.5)
        except (OSError, resp.ReplyError) as e:
            return False, "n%d redis: %s" % (i, e)
        if inf.get("role") != "slave" or inf.get("master_port") != str(masters[0]):
            return False, "n%d is %s of %s, not a replica of n%d" % (
                i, inf.get("role"), inf.get("master_port", "-"), m)
        if inf.get("master_link_status") != "up":
            return False, "n%d link to n%d is %s" % (i, m, inf.get("master_link_status"))
    want = sorted(cl.redis_port[i] for i in range(1, cl.N + 1) if i != m)
    slaves = passing(cl, "redis-slave")
    if slaves != want:
        return False, "passing replica services %s, want %s" % (slaves, want)
    return True, m


def missing_keys(port, numbers, chunk=1000):
    """The acknowledged write numbers whose key is absent (or wrong) on the
    Redis at port."""
    missing = []
    c = resp.Conn(port, timeout=10)
    try:
        for i in range(0, len(numbers), chunk):
            part = numbers[i:i + chunk]
            values = c.call("MGET", *["chaos:ack:%d" % n for n in part])
            for n, v in zip(part, values):
                if v != str(n):
                    missing.append(n)
    finally:
        c.close()
    return missing
