#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Forward 127.0.0.1:LISTEN to 127.0.0.1:TARGET, byte for byte.

  tcp-proxy.py LISTEN TARGET

A node announced at the proxy's port is reached through it by everyone who
goes by Consul's address (its replicas, their resec), while its own resec
talks to its Redis directly. SIGSTOP the proxy and that path goes silent
without a connection closing (a cut link: new connections complete in the
kernel and then hang, as to a host gone); SIGCONT and it flows again.
"""
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(128)
    while True:
        client, _ = srv.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target), timeout=2)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    main()
