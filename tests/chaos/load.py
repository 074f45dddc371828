#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The fault campaign's two clients, each run as a process of its own so that
the driver's work (faults, checks) never delays them. Times are
CLOCK_MONOTONIC (time.monotonic()), the clock of the emulator's event log.

usage: load.py writer CONSUL_ADDR OUT [INTERVAL_S] [WAIT_MS]
         Resolves the master through Consul (/v1/health/service/redis-master
         ?passing, exactly one instance), writes SET chaos:ack:N N, then
         WAIT 1 WAIT_MS on the same connection; the write is acknowledged only
         when WAIT answers >= 1. Re-resolves after any error or an
         unacknowledged write. One line per write attempt:
           a N T_SEND T_ACK PORT REPLICAS      acknowledged
           f N T_SEND T_DONE PORT REASON       not acknowledged (may or may
                                               not exist anywhere)
       load.py prober OUT PORT...
         Writes SET chaos:probe:PORT SEQ to every Redis every 25 ms, one thread
         per Redis (a stalled one delays only its own probes). Lines:
           ok PORT SEQ T_SEND T_RECV CONT      accepted; CONT 1 when this
                                               port's previous attempt was
                                               accepted too
           no PORT SEQ T_SEND T_RECV REASON    the first refusal after an
                                               accepted write (later ones are
                                               not logged)
Both run until SIGTERM or SIGINT.
"""
import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp import Conn, ReplyError  # noqa: E402

PROBE_PERIOD_S = 0.025
stop = threading.Event()


def on_stop(_sig, _frame):
    stop.set()


def resolve(consul, service="redis-master"):
    """The one passing instance's port, or None (none, several, or no answer)."""
    host, port = consul.rsplit(":", 1)
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=2)
        c.request("GET", "/v1/health/service/%s?passing" % service)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            return None
        entries = json.loads(body)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    if len(entries) != 1:
        return None
    return int(entries[0]["Service"]["Port"])


def reason_of(e):
    """A short word for a failure: the Redis error code or the OS error."""
    if isinstance(e, ReplyError):
        return str(e).split(" ", 1)[0] or "ERR"
    return type(e).__name__


def writer(consul, out_path, interval, wait_ms):
    n, conn, port = 0, None, None
    with open(out_path, "a", buffering=1) as out:
        while not stop.is_set():
            if conn is None:
                port = resolve(consul)
                if port is None:
                    stop.wait(0.02)
                    continue
                try:
                    conn = Conn(port, timeout=2.0, connect_timeout=0.5)
                except OSError:
                    conn = None
                    stop.wait(0.02)
                    continue
            n += 1
            t0 = time.monotonic()
            try:
                if conn.call("SET", "chaos:ack:%d" % n, n) != "OK":
                    raise ReplyError("NOTOK")
                acks = conn.call("WAIT", 1, wait_ms)
                t1 = time.monotonic()
                if acks >= 1:
                    out.write("a %d %.6f %.6f %d %d\n" % (n, t0, t1, port, acks))
                else:
                    out.write("f %d %.6f %.6f %d noack\n" % (n, t0, t1, port))
                    conn.close()
                    conn = None
            except (OSError, ReplyError, ValueError) as e:
                out.write("f %d %.6f %.6f %d %s\n" % (n, t0, time.monotonic(), port, reason_of(e)))
                conn.close()
                conn = None
            stop.wait(interval)


class Prober(threading.Thread):
    """Probes one Redis every PROBE_PERIOD_S; logs through a shared sink."""

    def __init__(self, port, sink, lock):
        super().__init__(daemon=True)
        self.port, self.sink, self.lock = port, sink, lock

    def emit(self, line):
        with self.lock:
            self.sink.write(line)

    def run(self):
        conn, seq, prev_ok = None, 0, False
        next_t = time.monotonic()
        while not stop.is_set():
            seq += 1
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = Conn(self.port, timeout=0.5, connect_timeout=0.25)
                ok = conn.call("SET", "chaos:probe:%d" % self.port, seq) == "OK"
                why = "" if ok else "NOTOK"
            except (OSError, ReplyError, ValueError) as e:
                ok, why = False, reason_of(e)
                if not isinstance(e, ReplyError) and conn is not None:
                    conn.close()
                    conn = None
            t1 = time.monotonic()
            if ok:
                self.emit("ok %d %d %.6f %.6f %d\n" % (self.port, seq, t0, t1, prev_ok))
            elif prev_ok:
                self.emit("no %d %d %.6f %.6f %s\n" % (self.port, seq, t0, t1, why))
            prev_ok = ok
            next_t = max(next_t + PROBE_PERIOD_S, time.monotonic())
            stop.wait(next_t - time.monotonic())


def prober(out_path, ports):
    lock = threading.Lock()
    with open(out_path, "a", buffering=1) as out:
        threads = [Prober(p, out, lock) for p in ports]
        for t in threads:
            t.start()
        while not stop.is_set():
            stop.wait(0.5)
        for t in threads:
            t.join(2)


def main(argv):
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if len(argv) >= 4 and argv[1] == "writer":
        interval = float(argv[4]) if len(argv) > 4 else 0.02
        wait_ms = int(argv[5]) if len(argv) > 5 else 1000
        writer(argv[2], argv[3], interval, wait_ms)
        return 0
    if len(argv) >= 4 and argv[1] == "prober":
        prober(argv[2], [int(p) for p in argv[3:]])
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
