#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""free_port.py [N]: N (default 1) TCP ports free on 127.0.0.1 now, drawn at
random below the kernel's ephemeral port range.

A port from bind(("127.0.0.1", 0)) comes from the ephemeral range, where every
outgoing connection also draws its local port: with suites side by side (the
writers, probers and Consul clients open connections all the time), one of
them can take the port between our check and our server's bind, and the
server fails with EADDRINUSE (or a test talks to somebody else's server).
Below that range the kernel hands out nothing; only another draw like this
one can pick the same port, a race of milliseconds between two random picks
out of thousands."""
import random
import socket
import sys


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def kernel_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_ports(n):
    low = ephemeral_low()
    lo, hi = max(1024, low - 12000), low - 1
    ports, draw = [], random.SystemRandom()
    while len(ports) < n:
        # No room below the range (an unusual setting): the kernel's choice.
        p = draw.randint(lo, hi) if hi - lo >= 1000 else kernel_port()
        if p not in ports and bindable(p):
            ports.append(p)
    return ports


if __name__ == "__main__":
    print("\n".join(str(p) for p in free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1)))
