#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Count acknowledged writes that a failover or switchover lost.

usage: acked.py write CONSUL_ADDR SERVICE OUT [INTERVAL_S]
         SET ack:N N on the passing instance of SERVICE (asked of Consul at
         CONSUL_ADDR whenever a write fails), N = 1, 2, ...; every N that Redis
         answered +OK is appended to OUT. Runs until SIGTERM or SIGINT.
       acked.py check REDIS_PORT OUT
         reads every acknowledged key from the Redis on 127.0.0.1:REDIS_PORT and
         prints "acked=A refused=R missing=M"; exit 1 when a key is missing.
"""
import json
import signal
import socket
import sys
import time
import urllib.request

from writer import command  # the RESP encoder; tests/ is on sys.path when run as a script

stopping = False


def on_stop(_sig, _frame):
    global stopping
    stopping = True


def master(consul, service):
    url = "http://%s/v1/health/service/%s?passing" % (consul, service)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            entries = json.load(r)
    except (OSError, ValueError):
        return None
    if len(entries) != 1:
        return None
    s = entries[0]["Service"]
    return (s["Address"] or entries[0]["Node"]["Address"], s["Port"])


def write(consul, service, out_path, interval):
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    n, sock, f, refused = 0, None, None, 0
    with open(out_path, "a", buffering=1) as out:
        while not stopping:
            if sock is None:
                addr = master(consul, service)
                if addr is None:
                    time.sleep(0.01)
                    continue
                try:
                    sock = socket.create_connection(addr, timeout=1)
                    f = sock.makefile("rb")
                except OSError:
                    sock = None
                    time.sleep(0.01)
                    continue
            n += 1
            try:
                sock.sendall(command("SET", "ack:%d" % n, str(n)))
                line = f.readline()
            except OSError:
                line = b""
            if line.startswith(b"+OK"):
                out.write("%d\n" % n)
            else:
                # Refused (NOREPLICAS, READONLY) or no answer: not acknowledged.
                refused += 1
                sock.close()
                sock = None
            time.sleep(interval)
        out.write("# refused %d\n" % refused)


def check(port, out_path):
    acked, refused = [], 0
    with open(out_path) as f:
        for line in f:
            if line.startswith("# refused"):
                refused += int(line.split()[2])
            elif line.strip():
                acked.append(line.strip())
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    rf = sock.makefile("rb")
    missing = 0
    for i in range(0, len(acked), 500):
        chunk = acked[i:i + 500]
        sock.sendall(command("MGET", *["ack:%s" % k for k in chunk]))
        header = rf.readline()
        assert header.startswith(b"*"), header
        for k in chunk:
            h = rf.readline()
            if h.startswith(b"$-1"):
                missing += 1
                print("missing ack:%s" % k, file=sys.stderr)
                continue
            value = rf.read(int(h[1:]) + 2)[:-2].decode()
            if value != k:
                missing += 1
    print("acked=%d refused=%d missing=%d" % (len(acked), refused, missing))
    return 1 if missing else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "write":
        write(argv[2], argv[3], argv[4], float(argv[5]) if len(argv) > 5 else 0.005)
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
