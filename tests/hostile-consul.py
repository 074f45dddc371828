#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# hostile-consul: a loopback HTTP listener that answers every request the way
# a broken or hostile Consul would, one behaviour per process, so tests can
# assert what each resec program does with it (bound, exit status, output).
# Usage: hostile-consul.py MODE READY_FILE [LOG]. The port goes to READY_FILE
# once it listens; each request's method and target is appended to LOG.
# Modes:
#   nested    200, a JSON array nested HOSTILE_BYTES/2 deep ([[[[...]]]])
#   wide      200, a health answer of HOSTILE_COUNT tiny instances at HOSTILE_TARGET
#   endless   200 without a length, valid JSON that never ends (HTTP/1.0)
#   trickle   200 with a valid body, sent one byte every HOSTILE_GAP seconds
#   silent    reads the request and never answers
#   shapes    200, well-formed JSON of the wrong shape for every endpoint
#   evil      valid Consul answers whose strings carry newlines and escapes
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = ""
LOG = None
LOCK = threading.Lock()
STOP = threading.Event()
BYTES = int(os.environ.get("HOSTILE_BYTES", "200000"))
COUNT = int(os.environ.get("HOSTILE_COUNT", "200000"))
GAP = float(os.environ.get("HOSTILE_GAP", "0.5"))
TARGET = os.environ.get("HOSTILE_TARGET", "10.0.0.1:6379")   # where wide's instances are
LOCK_FLAG = 3304740253564472344
ESC = "\x1b"


def entry(node, addr, port, role, service="redis-master", checks="passing"):
    """One health entry as Consul sends it."""
    sid = "redis@%s:%d" % (addr, port)
    return {"Node": {"ID": node, "Node": node, "Address": "10.9.9.9", "Datacenter": "dc1",
                     "TaggedAddresses": None, "Meta": {}},
            "Service": {"ID": sid, "Service": service, "Tags": [], "Address": addr,
                        "Meta": {"role": role, "offset": "0", "run_id": "r1"}, "Port": port},
            "Checks": [{"Node": node, "CheckID": "serfHealth", "Status": checks, "ServiceID": ""},
                       {"Node": node, "CheckID": "service:" + sid, "Status": checks,
                        "ServiceID": sid}]}


# evil: a node name that would forge a table row, an address with a line
# break and a terminal escape, a lock value that starts a new line.
EVIL_MASTER = [entry("n1\nstatus: healthy" + ESC + "[2J", "10.0.0.1\n10.6.6.6", 6379, "master")]
EVIL_REPLICA = [entry("n2" + ESC + "]0;pwned" + "\x07", "10.0.0.2", 6379, "replica", "redis-slave")]
EVIL_LOCK = [{"LockIndex": 1, "Key": "resec/.lock", "Flags": LOCK_FLAG,
              "Value": "MTAuMC4wLjE6NjM3OQpzdGF0dXM6IGhlYWx0aHk=",   # "10.0.0.1:6379\nstatus: healthy"
              "Session": "s-1", "CreateIndex": 1, "ModifyIndex": 2}]
EVIL_SESSION = [{"ID": "s-1", "Name": "resec", "Node": "n1\n" + ESC + "[31mred", "LockDelay": 0,
                 "Behavior": "release", "TTL": "15s", "CreateIndex": 1, "ModifyIndex": 1}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def head(self, status=200, length=None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("X-Consul-Index", "5")
        self.send_header("X-Consul-KnownLeader", "true")
        self.end_headers()

    def reply(self, body, status=200):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.head(status, len(body))
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if LOG:
            with LOCK, open(LOG, "a") as f:
                f.write("%s %s\n" % (self.command, self.path))
        path = self.path.partition("?")[0]
        try:
            getattr(self, "mode_" + MODE)(path)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_PUT = do_DELETE = handle_any

    def mode_nested(self, path):
        depth = BYTES // 2
        self.reply("[" * depth + "]" * depth)

    def mode_wide(self, path):
        if not path.startswith("/v1/health/"):
            return self.reply("", 404)          # no lock, no election keys
        host, _, port = TARGET.rpartition(":")
        one = ('{"Node":{"Node":"n","Address":"%s"},"Service":{"Port":%s},"Checks":[]}'
               % (host, port)).encode()
        self.reply(b"[" + b",".join([one] * COUNT) + b"]")

    def mode_endless(self, path):
        # No Content-Length and no chunking: the body ends when the connection does.
        self.close_connection = True
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"[")
        chunk = b'"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",' * 1024
        deadline = time.monotonic() + 120
        while not STOP.is_set() and time.monotonic() < deadline:
            self.wfile.write(chunk)

    def mode_trickle(self, path):
        body = json.dumps(EVIL_MASTER if path.startswith("/v1/health/") else []).encode()
        self.head(200, len(body))
        for i in range(len(body)):
            if STOP.wait(GAP):
                return
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()

    def mode_silent(self, path):
        STOP.wait(600)

    def mode_shapes(self, path):
        # Valid JSON, wrong types: an object for an array, a string for a port.
        if path.startswith("/v1/health/"):
            return self.reply([{"Node": "n1", "Service": {"Port": "6379"}}])
        if path.startswith("/v1/kv/"):
            return self.reply({"Key": 7})
        if path.startswith("/v1/session/"):
            return self.reply({"ID": ["x"]})
        return self.reply({"Config": "none"})

    def mode_evil(self, path):
        if path.startswith("/v1/health/service/"):
            return self.reply(EVIL_REPLICA if path.endswith("-slave") else EVIL_MASTER)
        if path.startswith("/v1/kv/") and path.endswith("/.lock"):
            return self.reply(EVIL_LOCK)
        if path.startswith("/v1/kv/"):
            return self.reply("", 404)
        if path.startswith("/v1/session/info/"):
            return self.reply(EVIL_SESSION)
        if path == "/v1/agent/self":
            return self.reply({"Config": {"NodeName": "n1\n" + ESC + "[2J", "Datacenter": "dc1"}})
        return self.reply("Invalid URL path", 404)


def main():
    global MODE, LOG
    MODE, ready = sys.argv[1], sys.argv[2]
    LOG = sys.argv[3] if len(sys.argv) > 3 else None
    if not hasattr(Handler, "mode_" + MODE):
        sys.exit("hostile-consul: unknown mode " + MODE)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, ready)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        STOP.set()


if __name__ == "__main__":
    main()
