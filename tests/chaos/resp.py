# SPDX-License-Identifier: MIT
"""A minimal Redis client for the fault campaign: one persistent socket,
RESP2 replies parsed into Python values, error replies raised as ReplyError.
Standard library only; the request encoder is tests/writer.py's."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from writer import command  # noqa: E402  (tests/writer.py, the RESP encoder)


class ReplyError(Exception):
    """Redis answered an error (-NOREPLICAS, -READONLY, -LOADING, ...)."""


class Conn:
    """One connection to 127.0.0.1:port; every call waits for its reply."""

    def __init__(self, port, timeout=1.0, connect_timeout=None):
        self.sock = socket.create_connection(
            ("127.0.0.1", int(port)), timeout=connect_timeout or timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def close(self):
        for c in (self.f, self.sock):
            try:
                c.close()
            except OSError:
                pass

    def call(self, *args):
        self.sock.sendall(command(*[str(a) for a in args]))
        return self.reply()

    def pipeline(self, commands):
        """Send every command at once, then read one reply per command
        (error replies come back as ReplyError values, not raised)."""
        self.sock.sendall(b"".join(command(*[str(a) for a in c]) for c in commands))
        out = []
        for _ in commands:
            try:
                out.append(self.reply())
            except ReplyError as e:
                out.append(e)
        return out

    def reply(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            raise ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            if len(data) != n + 2:
                raise OSError("connection closed")
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            items = []
            for _ in range(n):
                try:
                    items.append(self.reply())
                except ReplyError as e:
                    items.append(e)
            return items
        raise OSError("bad reply %r" % line[:40])


def once(port, *args, timeout=1.0):
    """One command on a fresh connection."""
    c = Conn(port, timeout=timeout)
    try:
        return c.call(*args)
    finally:
        c.close()


def info(port, section="replication", timeout=1.0):
    """INFO SECTION as a dict of strings."""
    text = once(port, "INFO", section, timeout=timeout) or ""
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out
