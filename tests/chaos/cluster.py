# SPDX-License-Identifier: MIT
"""The campaign's three-node cluster on loopback, started the way
tests/cluster_helper.bash does: the Consul emulator with one agent per node
plus an observer agent for the harness, one redis-server per node started
from a config file in its own directory, one scripts/resec per node from the
build under test. Every process carries CHAOS_RUN=<run dir> in its
environment (resec's children inherit it, with CHAOS_NODE=n<i>), so that a
kill reaches every process of a node and nothing outlives the run. Redis
rewrites its own environment block (process title), so Redis is found by its
pid and process group instead."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import resp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from free_port import free_ports  # noqa: E402 (tests/free_port.py)

# The fence as deploy/docker writes it on Redis's command line, and as the
# config files carry it (docs/resec-role.md, "The config file").
FENCE_ARGS = ["--min-replicas-to-write", "1000000", "--min-replicas-max-lag", "1000010"]

# Settings per profile (CHAOS_PROFILE). quick: the end-to-end suites' short
# timings (tests/cluster_helper.bash); default: resec's and the emulator's own.
PROFILES = {
    "quick": {
        "env": {"HEALTHCHECK_INTERVAL": "500ms", "HEALTHCHECK_TIMEOUT": "1s",
                "CONSUL_LOCK_TTL": "10s", "CONSUL_LOCK_DELAY": "2s",
                "CONSUL_DEREGISTER_SERVICE_AFTER": "1m"},
        "emu": ["--serf-delay", "1s", "--dereg-floor", "5s", "--reaper-period", "1s"],
    },
    "default": {"env": {}, "emu": []},
}

# Our settings, scrubbed from the caller's environment as test_helper.bash does.
SCRUB = ("CONSUL_", "REDIS_", "RESEC_", "HEALTHCHECK_", "LOG_", "ANNOUNCE_", "MASTER_", "SLAVE_")


class HarnessError(Exception):
    """The harness itself could not do what it needed (not a resec failure)."""


def free_port():
    # Below the ephemeral range: tests/free_port.py says why.
    return free_ports(1)[0]


def proc_env_has(pid, entry):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False


def pids_with_env(entry):
    """Every live process whose environment holds the line ENTRY (bytes)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and proc_env_has(int(name), entry):
            out.append(int(name))
    return out



def redis_pids_in(top):
    """Every live Redis process (or fork of one) whose working directory is
    under top: Redis changes to its dir, and its environment is unreadable."""
    out = []
    top = os.path.realpath(top) + "/"
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/comm" % name) as f:
                    if not f.read().startswith("redis"):
                        continue
                cwd = os.readlink("/proc/%s/cwd" % name) + "/"
            except OSError:
                continue
            if cwd.startswith(top):
                out.append(int(name))
    return out


def kill_quiet(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def killpg_quiet(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Cluster:
    """Three nodes (1..3) and the observer agent (node4)."""

    N = 3

    def __init__(self, rundir, root, build, profile, log, emu_flags=()):
        self.rundir, self.root, self.build = rundir, root, build
        self.profile, self.log = PROFILES[profile], log
        self.emu_flags = list(emu_flags)
        self.mark = ("CHAOS_RUN=%s" % rundir).encode()
        self.procs = []            # every Popen we started, for the final sweep
        self.redis = {}            # node -> Popen of its redis-server
        self.resec = {}            # node -> Popen of its orchestrator
        self.resec_started = {}    # node -> monotonic time its resec was last started
        self.redis_port = {}
        self.emu_ports = []
        self.emu = None
        self.base_env = self._base_env()

    # ------------------------------------------------------------ environment

    def _base_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB) and not k.startswith("CHAOS_")}
        env["PATH"] = "%s:%s:%s" % (os.path.join(self.build, "bin"),
                                    os.path.join(self.root, "scripts"), env.get("PATH", "/usr/bin:/bin"))
        env["ASAN_OPTIONS"] = "abort_on_error=0:exitcode=99:detect_leaks=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=99"
        env["CHAOS_RUN"] = self.rundir
        return env

    def spawn(self, args, out_path, env=None, **kw):
        """Start a process in a session of its own (a Ctrl-C on the terminal
        reaches only the driver, which then stops everything by pid)."""
        out = open(out_path, "ab")
        try:
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env or self.base_env, start_new_session=True, **kw)
        finally:
            out.close()
        self.procs.append(p)
        return p

    def node_dir(self, i):
        return os.path.join(self.rundir, "n%d" % i)

    # --------------------------------------------------------------- emulator

    def start_emulator(self):
        ready = os.path.join(self.rundir, "emu.ready")
        args = [os.path.join(self.root, "tests/consul-emu/consul-emu"), "--nodes", str(self.N + 1),
                "--port", "0", "--ready-file", ready] + self.profile["emu"] + self.emu_flags
        self.emu = self.spawn(args, os.path.join(self.rundir, "emu.log"))
        deadline = time.monotonic() + 15
        while not (os.path.exists(ready) and os.path.getsize(ready) > 0):
            if self.emu.poll() is not None or time.monotonic() > deadline:
                raise HarnessError("the emulator did not start (see emu.log)")
            time.sleep(0.05)
        with open(ready) as f:
            self.emu_ports = [int(x) for x in f.read().split()]
        self.log("emulator up: agents %s, observer %d" % (self.emu_ports[:self.N], self.emu_ports[self.N]))

    def agent_addr(self, i):
        return "127.0.0.1:%d" % self.emu_ports[i - 1]

    def observer(self):
        return "127.0.0.1:%d" % self.emu_ports[self.N]

    def http(self, method, path, timeout=5):
        """(status, body) of a request to the observer agent."""
        c = http.client.HTTPConnection("127.0.0.1", self.emu_ports[self.N], timeout=timeout)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def emu_ctl(self, path):
        """PUT a control endpoint; returns the HTTP status."""
        status, body = self.http("PUT", path)
        self.log("emu PUT %s -> %d" % (path, status))
        if status not in (200, 404):
            raise HarnessError("PUT %s answered %d: %s" % (path, status, body[:200]))
        return status

    # ------------------------------------------------------------------ redis

    def redis_dir(self, i):
        return os.path.join(self.node_dir(i), "redis")

    def conf_path(self, i):
        return os.path.join(self.redis_dir(i), "redis.conf")

    def write_conf(self, i):
        """The operator's redis.conf: persistence off, fenced from the start
        (docs/resec-role.md: a config file may carry the fence itself)."""
        d = self.redis_dir(i)
        os.makedirs(d, exist_ok=True)
        with open(self.conf_path(i), "w") as f:
            f.write("bind 127.0.0.1\nport %d\ndir %s\nlogfile %s\nsave \"\"\nappendonly no\n"
                    "daemonize no\nrepl-diskless-sync-delay 0\n"
                    "min-replicas-to-write 1000000\nmin-replicas-max-lag 1000010\n"
                    % (self.redis_port[i], d, os.path.join(d, "redis.log")))

    def start_redis(self, i, mode="conf"):
        """Start node i's Redis empty on its port: from its config file
        (mode conf, as resec-role last rewrote it) or with the fence on the
        command line and no config file (mode cmdline, as deploy/docker)."""
        d = self.redis_dir(i)
        for name in os.listdir(d):
            # Persistence is off, but a replica's full sync leaves an RDB
            # behind that a restart would load: the restart must be empty.
            if name.endswith(".rdb"):
                os.unlink(os.path.join(d, name))
        if mode == "conf":
            args = ["redis-server", self.conf_path(i)]
        else:
            args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port[i]), "--dir", d,
                    "--logfile", os.path.join(d, "redis.log"), "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--repl-diskless-sync-delay", "0"] + FENCE_ARGS
        p = self.spawn(args, os.path.join(d, "stdout.log"), cwd=d)
        self.redis[i] = p
        deadline = time.monotonic() + 10
        while True:
            try:
                if resp.once(self.redis_port[i], "PING", timeout=0.5) == "PONG":
                    break
            except (OSError, resp.ReplyError):
                pass
            if p.poll() is not None or time.monotonic() > deadline:
                raise HarnessError("redis of n%d did not start on port %d (mode %s)" % (i, self.redis_port[i], mode))
            time.sleep(0.02)
        self.log("n%d redis started (%s) pid %d port %d" % (i, mode, p.pid, self.redis_port[i]))

    def kill_redis(self, i):
        """SIGKILL node i's Redis and its fork children (its process group)."""
        p = self.redis.pop(i, None)
        if p is None:
            return
        killpg_quiet(p.pid, signal.SIGKILL)
        p.wait()
        self.log("n%d redis killed (pid %d)" % (i, p.pid))

    def redis_signal(self, i, sig):
        p = self.redis.get(i)
        if p is not None:
            kill_quiet(p.pid, sig)
            self.log("n%d redis pid %d sent %s" % (i, p.pid, signal.Signals(sig).name))

    # ------------------------------------------------------------------ resec

    def start_resec(self, i):
        env = dict(self.base_env)
        tmp = os.path.join(self.node_dir(i), "tmp")
        os.makedirs(tmp, exist_ok=True)
        env.update(self.profile["env"])
        env.update({"TMPDIR": tmp, "REDIS_ADDR": "127.0.0.1:%d" % self.redis_port[i],
                    "CONSUL_HTTP_ADDR": self.agent_addr(i), "LOG_LEVEL": "DEBUG",
                    "CHAOS_NODE": "n%d" % i})
        p = self.spawn([os.path.join(self.root, "scripts/resec")],
                       os.path.join(self.node_dir(i), "resec.log"), env=env)
        self.resec[i] = p
        self.resec_started[i] = time.monotonic()
        self.log("n%d resec started pid %d" % (i, p.pid))

    def resec_pids(self, i):
        """Every process of node i's resec: those carrying its marker, and the
        orchestrator (its environment may not show what it exported later)."""
        mine = [p for p in pids_with_env(b"CHAOS_NODE=n%d" % i) if proc_env_has(p, self.mark)]
        p = self.resec.get(i)
        if p is not None and p.poll() is None and p.pid not in mine:
            mine.append(p.pid)
        return mine

    def kill_resec(self, i, also_redis=False):
        """SIGKILL every process of node i's resec at once (and its Redis in
        the same breath when also_redis), so that none of them sees another
        die and reacts (a resec-lock whose child died releases the lock; a
        heartbeat whose Redis closed fails its check). Signals are sent one
        process at a time, so each is first frozen with SIGSTOP, scanning
        again until no unfrozen one is left (a child forked meanwhile), and
        only then are all of them killed."""
        frozen = set()
        if also_redis and i in self.redis:
            killpg_quiet(self.redis[i].pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while True:
            pids = [p for p in self.resec_pids(i) if p not in frozen]
            if not pids:
                break
            for pid in pids:
                kill_quiet(pid, signal.SIGSTOP)
                frozen.add(pid)
            if time.monotonic() > deadline:
                raise HarnessError("n%d resec processes keep appearing: %s" % (i, pids))
        for pid in frozen:
            kill_quiet(pid, signal.SIGKILL)
        if also_redis and i in self.redis:
            killpg_quiet(self.redis[i].pid, signal.SIGKILL)
        while True:
            self.reap()
            left = self.resec_pids(i)
            if not left:
                break
            if time.monotonic() > deadline:
                raise HarnessError("n%d resec processes survive SIGKILL: %s" % (i, left))
            for pid in left:
                kill_quiet(pid, signal.SIGKILL)
            time.sleep(0.01)
        p = self.resec.pop(i, None)
        if p is not None:
            p.wait()
        if also_redis:
            self.kill_redis(i)
        self.log("n%d resec killed: pids %s%s" % (i, sorted(frozen), " and its redis" if also_redis else ""))

    def reap(self):
        for p in self.procs:
            p.poll()

    # ------------------------------------------------------------- life cycle

    def start(self):
        self.start_emulator()
        for i in range(1, self.N + 1):
            os.makedirs(self.node_dir(i), exist_ok=True)
            self.redis_port[i] = free_port()
            self.write_conf(i)
        for i in range(1, self.N + 1):
            self.start_redis(i, "conf")
        for i in range(1, self.N + 1):
            self.start_resec(i)

    def node_of_port(self, port):
        for i, p in self.redis_port.items():
            if p == port:
                return i
        return None

    def destroy(self):
        """Kill everything this run started, by pid; returns the pids that
        were still alive after that (none expected)."""
        for i in list(self.redis):
            p = self.redis[i]
            kill_quiet(p.pid, signal.SIGCONT)   # a stalled Redis too
        for _ in range(3):
            for pid in pids_with_env(self.mark) + redis_pids_in(self.rundir):
                kill_quiet(pid, signal.SIGKILL)
            for p in self.procs:
                if p.poll() is None:
                    killpg_quiet(p.pid, signal.SIGKILL)
                    kill_quiet(p.pid, signal.SIGKILL)
            for p in self.procs:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(0.05)
        left = pids_with_env(self.mark) + redis_pids_in(self.rundir) + [p.pid for p in self.procs if p.poll() is None]
        self.redis.clear()
        self.resec.clear()
        return sorted(set(left))
