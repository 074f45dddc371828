#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write to one Redis in a loop and log each result with a CLOCK_MONOTONIC
timestamp (the clock the emulator's events use), for fencing timelines.

usage: writer.py PORT SECONDS [INTERVAL_S]
prints lines "T ok" or "T err <reply>"; reconnects after errors.
"""
import socket
import sys
import time


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.02
    end = time.monotonic() + seconds
    sock, n = None, 0
    while time.monotonic() < end:
        n += 1
        t = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
                f = sock.makefile("rb")
            sock.sendall(command("SET", "writer:%d" % port, str(n)))
            line = f.readline().decode(errors="replace").strip()
            if not line:
                raise OSError("closed")
            print("%.6f %s" % (t, "ok" if line == "+OK" else "err " + line), flush=True)
        except OSError as e:
            print("%.6f err %s" % (t, e), flush=True)
            if sock is not None:
                sock.close()
            sock = None
        time.sleep(interval)


if __name__ == "__main__":
    main()
