#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fake-redis: a Redis that misbehaves on purpose, for tests/hostile-redis.bats.

It speaks enough RESP for resec (PING, INFO, AUTH, CONFIG GET/SET, COMMAND INFO,
REPLICAOF, CLIENT KILL) and answers the commands named by --on (default: all
but AUTH) in one of these ways (--mode):

  normal    a valid answer at once
  slow      a valid answer after --delay seconds
  drip      a valid answer, one byte every --delay seconds
  silent    nothing, the connection kept open
  endless   a bulk string announced as 1 GiB, then bytes as fast as they are read
  line      a status line that never ends
  huge      an array announced with 2147483647 elements, then integers without end
  wide      an array of --count nil elements, sent whole
  nested    arrays nested --count deep around one integer
  close     half of a valid answer, then the connection closed
  extra     a valid answer followed by bytes nobody asked for

With --after N the first N such commands (all connections together) are
answered normally, so a Redis can turn bad while a program watches it.

It listens on 127.0.0.1 on a free port and writes the port to --port-file.
With --stats FILE it appends "sent N" for each connection when it ends (N
bytes written to it), so a test can tell how much a client took before it
hung up. --info KEY:VALUE (repeatable) adds or overrides an INFO field.
"""

import argparse
import os
import socket
import sys
import threading
import time


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def info_text(args):
    fields = {
        "redis_version": "7.0.15",
        "run_id": "f" * 40,
        "loading": "0",
        "role": args.role,
        "master_repl_offset": "100",
    }
    if args.role == "slave":
        fields.update({"master_host": "127.0.0.1", "master_port": "1", "master_link_status": "up",
                       "master_sync_in_progress": "0", "slave_repl_offset": "100"})
    for kv in args.info:
        k, _, v = kv.partition(":")
        fields[k] = v
    lines = ["# Server"] + ["%s:%s" % kv for kv in fields.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def answer(args, argv):
    """The valid reply to a command (a list of bytes)."""
    name = argv[0].upper() if argv else b""
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"INFO":
        return bulk(info_text(args))
    if name == b"CONFIG" and len(argv) > 2 and argv[1].upper() == b"GET":
        return b"*2\r\n" + bulk(argv[2]) + bulk(b"0")
    if name == b"COMMAND":
        n = max(len(argv) - 2, 0)
        return b"*%d\r\n" % n + b"".join(b"*1\r\n" + bulk(a.lower()) for a in argv[2:])
    return b"+OK\r\n"


def misbehave(conn, args, good, count):
    """Send the reply in the way --mode says; returns False when the connection is done."""
    mode = args.mode
    if mode == "normal":
        count[0] += sendall(conn, good)
    elif mode == "slow":
        time.sleep(args.delay)
        count[0] += sendall(conn, good)
    elif mode == "drip":
        for i in range(len(good)):
            count[0] += conn.send(good[i:i + 1])
            time.sleep(args.delay)
    elif mode == "silent":
        while conn.recv(65536):
            pass
        return False
    elif mode in ("endless", "line", "huge"):
        head = {"endless": b"$1073741824\r\n", "line": b"+", "huge": b"*2147483647\r\n"}[mode]
        chunk = (b":1\r\n" if mode == "huge" else b"x") * 16384
        count[0] += sendall(conn, head)
        while True:
            count[0] += sendall(conn, chunk)
    elif mode == "wide":
        count[0] += sendall(conn, b"*%d\r\n" % args.count + b"$-1\r\n" * args.count)
    elif mode == "nested":
        count[0] += sendall(conn, b"*1\r\n" * args.count + b":1\r\n")
    elif mode == "close":
        count[0] += sendall(conn, good[:len(good) // 2])
        return False
    elif mode == "extra":
        count[0] += sendall(conn, good + b"+SURPRISE\r\n")
    return True


def sendall(conn, data):
    conn.sendall(data)
    return len(data)


def read_command(f):
    """One command (RESP array or inline) as a list of bytes, or None at EOF."""
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()
    argv = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        argv.append(f.read(n + 2)[:n])
    return argv


SEEN = [0]
SEEN_LOCK = threading.Lock()


def turned_bad(args):
    """True once --after matching commands were answered normally."""
    with SEEN_LOCK:
        SEEN[0] += 1
        return SEEN[0] > args.after


def serve(conn, args):
    count = [0]
    try:
        f = conn.makefile("rb")
        while True:
            argv = read_command(f)
            if argv is None:
                break
            name = argv[0].decode(errors="replace").upper() if argv else ""
            good = answer(args, argv)
            if (name in args.on or (not args.on and name != "AUTH")) and turned_bad(args):
                if not misbehave(conn, args, good, count):
                    break
            else:
                count[0] += sendall(conn, good)
    except OSError:
        pass
    finally:
        if args.stats:
            with open(args.stats, "a") as s:
                s.write("sent %d\n" % count[0])
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--mode", default="normal")
    p.add_argument("--on", action="append", default=[], help="only these commands misbehave")
    p.add_argument("--delay", type=float, default=0.5)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--after", type=int, default=0, help="answer this many matching commands normally first")
    p.add_argument("--role", default="master")
    p.add_argument("--info", action="append", default=[])
    p.add_argument("--stats")
    args = p.parse_args()
    args.on = [c.upper() for c in args.on]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(args.port_file + ".tmp", "w") as pf:
        pf.write("%d\n" % ls.getsockname()[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
