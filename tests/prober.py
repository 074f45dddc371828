#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write to every Redis every 25 ms and tell when two took writes at once.

  prober.py run OUT PORT...     until SIGTERM: each round (every 25 ms), SET a
                                probe key on every Redis (127.0.0.1:PORT, one
                                connection each, 100 ms timeout); one line per
                                accepted write in OUT: "<monotonic> <port> <round>"
  prober.py report OUT [--from T] [--to T]
                                print the write timeline: the longest time
                                without any accepted write (between T and T'),
                                and every violation; exit 1 on a violation:
                                two Redis accepted a write in the same round,
                                or writes went A, B, A within one second.
A write refused (READONLY on a replica, NOREPLICAS when fenced) or not
answered is not a write. The same monotonic clock as time.monotonic() in the
tests, so times compare with the emulator's event log (its "t").
"""
import json
import signal
import socket
import sys
import time

ROUND = 0.025
TIMEOUT = 0.1


class Conn:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def set(self, key, value):
        """True when Redis accepted the write."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parts = [b"SET", key.encode(), value.encode()]
            msg = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
            self.sock.sendall(msg)
            return self.line() == b"+OK"
        except OSError:
            self.close()
            return False


def run(out, ports):
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
    conns = [Conn(int(p)) for p in ports]
    n = 0
    with open(out, "a", buffering=1) as f:
        nxt = time.monotonic()
        f.write("%.6f start 0\n" % nxt)
        while not stop:
            n += 1
            for c in conns:
                if c.set("resec-probe", str(n)):
                    f.write("%.6f %d %d\n" % (time.monotonic(), c.port, n))
            nxt += ROUND
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                nxt = time.monotonic()
        f.write("%.6f end 0\n" % time.monotonic())


def report(out, t_from, t_to):
    writes = []
    start = end = None
    with open(out) as f:
        for ln in f:
            t, port, rnd = ln.split()
            if port == "start":
                start = float(t)
            elif port == "end":
                end = float(t)
            else:
                writes.append((float(t), int(port), int(rnd)))
    writes.sort()
    problems = []
    by_round = {}
    for t, port, rnd in writes:
        by_round.setdefault(rnd, set()).add(port)
    for rnd, ports in sorted(by_round.items()):
        if len(ports) > 1:
            problems.append("round %d: %d redis accepted a write: %s" % (rnd, len(ports), sorted(ports)))
    # A, B, A within a second: A was writable on both sides of B's write.
    last = {}
    for t, port, rnd in writes:
        a = last.get(port)
        if a is not None and t - a < 1.0:
            for other, b in last.items():
                if other != port and b > a:
                    problems.append("interleaved: %d wrote at %.3f, %d at %.3f, %d again at %.3f"
                                    % (port, a, other, b, port, t))
        last[port] = t
    ts = [t for t, _, _ in writes if (t_from is None or t >= t_from) and (t_to is None or t <= t_to)]
    # The timeline runs from the prober's start (or --from) to its end (or --to): a tail
    # without writes is a gap too.
    lo = t_from if t_from is not None else (start if start is not None else (ts[0] if ts else 0.0))
    hi = t_to if t_to is not None else (end if end is not None else (ts[-1] if ts else 0.0))
    gap, at = 0.0, lo
    prev = lo
    for t in ts + [hi]:
        if t - prev > gap:
            gap, at = t - prev, prev
        prev = t
    print(json.dumps({"writes": len(writes), "max_gap_s": round(gap, 3), "gap_from": round(at, 3),
                      "problems": problems[:20]}))
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "run":
        run(argv[2], argv[3:])
        return 0
    if len(argv) >= 3 and argv[1] == "report":
        t_from = t_to = None
        rest = argv[3:]
        while rest:
            if rest[0] == "--from":
                t_from = float(rest[1])
            elif rest[0] == "--to":
                t_to = float(rest[1])
            rest = rest[2:]
        return report(argv[2], t_from, t_to)
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
