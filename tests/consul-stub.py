#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# consul-stub: a tiny loopback HTTP listener for the Consul client tests. It
# records every request (method, target, headers, body) as one JSON line and
# answers canned responses by path, so tests can check what the client sends.
# Usage: consul-stub.py LOG READY_FILE [UNIX_SOCKET]. With STUB_TLS_CERT and
# STUB_TLS_KEY it speaks TLS; STUB_TLS_CLIENT_CA then requires client certs.
import json
import os
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = None
LOCK = threading.Lock()
COUNTERS = {}
STOP = threading.Event()

KV_ENTRY = [{"LockIndex": 3, "Key": "resec/.lock", "Flags": 3304740253564472344,
             "Value": "MTI3LjAuMC4xOjYzNzk=", "Session": "11111111-2222-3333-4444-555555555555",
             "CreateIndex": 10, "ModifyIndex": 42}]
KV_FREE = [{"LockIndex": 0, "Key": "free", "Flags": 0, "Value": None,
            "CreateIndex": 5, "ModifyIndex": 6}]
SESSION = [{"ID": "11111111-2222-3333-4444-555555555555", "Name": "resec", "Node": "node1",
            "LockDelay": 15000000000, "Behavior": "release", "TTL": "30s",
            "NodeChecks": ["serfHealth"], "ServiceChecks": None, "CreateIndex": 1, "ModifyIndex": 1}]
HEALTH = [{"Node": {"ID": "n1", "Node": "node1", "Address": "10.0.0.1", "Datacenter": "dc1",
                    "TaggedAddresses": None, "Meta": {}, "CreateIndex": 1, "ModifyIndex": 1},
           "Service": {"ID": "redis@:6379", "Service": "redis-master", "Tags": ["master", "x"],
                       "Address": "", "Meta": {"role": "master", "offset": "7"}, "Port": 6379,
                       "Weights": {"Passing": 1, "Warning": 1}, "EnableTagOverride": False},
           "Checks": [{"Node": "node1", "CheckID": "serfHealth", "Name": "Serf Health Status",
                       "Status": "passing", "ServiceID": "", "ServiceTags": []},
                      {"Node": "node1", "CheckID": "service:redis@:6379", "Status": "passing",
                       "ServiceID": "redis@:6379", "Type": "ttl"}]}]


def count(name):
    with LOCK:
        COUNTERS[name] = COUNTERS.get(name, 0) + 1
        return COUNTERS[name]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def address_string(self):
        return "local"

    def reply(self, status, body=b"", index=None, ctype="application/json", leader="true"):
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
            self.send_header("X-Consul-KnownLeader", leader)
            self.send_header("X-Consul-LastContact", "0")
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"method": self.command, "target": self.path,
               "client": str(self.client_address[1]) if isinstance(self.client_address, tuple) else "",
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace")}
        with LOCK:
            with open(LOG, "a") as f:
                f.write(json.dumps(rec) + "\n")
        path, _, query = self.path.partition("?")
        if path.startswith("/consul/"):
            path = path[len("/consul"):]   # the http://host:port/prefix form
        self.route(self.command, path, query, body)

    do_GET = do_PUT = do_DELETE = do_POST = handle_any

    def hang(self, seconds):
        STOP.wait(seconds)
        self.reply(200, [], index=1)

    def route(self, m, path, query, body):
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if path == "/v1/status/leader":
            return self.reply(200, '"127.0.0.1:8300"')
        if path == "/v1/agent/self":
            return self.reply(200, {"Config": {"NodeName": "node1", "Datacenter": "dc1"},
                                    "Member": {}})
        if path.startswith("/v1/kv/"):
            return self.route_kv(m, path[len("/v1/kv/"):], params)
        if path.startswith("/v1/session/"):
            return self.route_session(m, path[len("/v1/session/"):])
        if path == "/v1/agent/service/register":
            return self.reply(200, "")
        if path.startswith("/v1/agent/service/deregister/"):
            sid = path.rsplit("/", 1)[1]
            if sid == "unknown":
                return self.reply(404, 'Unknown service ID "unknown". Ensure that the service '
                                       'ID is passed, not the service name.', ctype="text/plain")
            return self.reply(200, "")
        if path.startswith("/v1/agent/check/"):
            if path.endswith("/unknown"):
                return self.reply(404, 'Unknown check ID "unknown".', ctype="text/plain")
            return self.reply(200, "")
        if path.startswith("/v1/health/service/"):
            if "hang" in path:
                return self.hang(30)
            return self.reply(200, HEALTH, index=77)
        if path == "/v1/denied":
            return self.reply(403, "Permission denied: token with AccessorID 'x' lacks "
                                   "permission 'key:write' on \"a\"\n", ctype="text/plain")
        return self.reply(404, "Invalid URL path: not a recognized HTTP API endpoint",
                          ctype="text/plain")

    def route_kv(self, m, key, params):
        if m == "GET":
            if key == "resec/.lock":
                return self.reply(200, KV_ENTRY, index=42)
            if key == "free":
                return self.reply(200, KV_FREE, index=6)
            if key == "zero":
                return self.reply(200, KV_FREE, index=0)
            if key == "regress":
                # 100, 100, 50, 50, 60 ...: the index goes backwards once.
                seq = [100, 100, 50, 50, 60]
                i = count("regress") - 1
                return self.reply(200, KV_FREE, index=seq[min(i, len(seq) - 1)])
            if key == "hang":
                return self.hang(30)
            if key == "leaderless":
                return self.reply(500, "No cluster leader", ctype="text/plain", index=3,
                                  leader="false")
            return self.reply(404, "", index=7)
        if key == "leaderless":
            return self.reply(500, "rpc error making call: No cluster leader\n",
                              ctype="text/plain")
        if key == "taken":
            return self.reply(200, "false")
        if m == "DELETE":
            return self.reply(200, "true")
        return self.reply(200, "true\n")

    def route_session(self, m, rest):
        if rest == "create":
            return self.reply(200, {"ID": "11111111-2222-3333-4444-555555555555"})
        op, _, sid = rest.partition("/")
        if op == "renew":
            if sid == "gone":
                return self.reply(404, "Session id 'gone' not found", ctype="text/plain")
            return self.reply(200, SESSION)
        if op == "destroy":
            return self.reply(200, "true")
        if op == "info":
            if sid == "gone":
                return self.reply(200, [], index=9)
            return self.reply(200, SESSION, index=9)
        return self.reply(404, "Invalid URL path", ctype="text/plain")


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    global LOG
    LOG = sys.argv[1]
    ready = sys.argv[2]
    unix = sys.argv[3] if len(sys.argv) > 3 else None
    if unix:
        srv = UnixServer(unix, Handler)
        where = unix
    else:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        where = str(srv.server_address[1])
        if os.environ.get("STUB_TLS_CERT"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.environ["STUB_TLS_CERT"], os.environ["STUB_TLS_KEY"])
            if os.environ.get("STUB_TLS_CLIENT_CA"):
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(os.environ["STUB_TLS_CLIENT_CA"])
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(where + "\n")
    os.rename(tmp, ready)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        STOP.set()


if __name__ == "__main__":
    main()
