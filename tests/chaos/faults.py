# SPDX-License-Identifier: MIT
"""The faults of the campaign: how each is drawn (kind by weight, then its
parameters, all from the round's own random generator, so a seed replays the
same sequence) and the timed steps that inject and heal it.

A plan is drawn before the round looks at the cluster, from the round's
generator only: the same seed and round number always give the same fault
and parameters. Targets are roles ("master", "replica #k"), resolved to a
node when the round starts. docs/reliability.md lists the weights."""
import signal

# kind -> weight. The master-side faults weigh most: they are what forces a
# failover, and what the safety properties are about.
WEIGHTS = {
    "redis-kill-master": 14,
    "redis-kill-replica": 8,
    "resec-kill-master": 8,
    "node-loss": 10,
    "host-reboot": 12,
    "partition": 12,
    "redis-stall": 10,
    "leader-loss": 10,
    "latency": 8,
    "agents-down": 4,
}

RESTART_MODES = ("conf", "cmdline")


def fmt_dur(s):
    """Go duration syntax for the emulator."""
    return "%dms" % round(s * 1000)


def draw(rng, cap, kinds=None):
    """Draw one fault: (kind, params). cap bounds every fault window (s).
    kinds restricts the choice (the weights of the others are kept)."""
    names = sorted(WEIGHTS) if not kinds else sorted(kinds)
    kind = rng.choices(names, weights=[WEIGHTS[k] for k in names])[0]
    u = rng.uniform

    def c(x):
        return round(min(x, cap), 3)

    p = {}
    if kind in ("redis-kill-master", "redis-kill-replica"):
        p = {"restart_after": c(u(0.05, 3.0)), "mode": rng.choice(RESTART_MODES)}
        if kind == "redis-kill-replica":
            p["replica"] = rng.randrange(2)
    elif kind == "resec-kill-master":
        p = {"restart_after": c(u(0.5, 30.0))}
    elif kind == "node-loss":
        p = {"target": "master" if rng.random() < 2 / 3 else "replica", "replica": rng.randrange(2),
             "down": c(u(2.0, 20.0)), "mode": rng.choice(RESTART_MODES)}
    elif kind == "host-reboot":
        redis_back = c(u(0.5, 3.0))
        later = rng.random() < 0.5
        resec_after = u(0.5, 10.0) if later else u(10.0, 30.0)
        p = {"redis_back": redis_back, "mode": rng.choice(RESTART_MODES),
             "resec_back": c(redis_back + resec_after),
             "resec": "later" if later else "at-heal"}
    elif kind == "partition":
        p = {"duration": c(u(1.0, 20.0)), "serf_keep": rng.random() < 0.5}
    elif kind == "redis-stall":
        p = {"duration": c(u(1.0, 5.0))}
    elif kind == "leader-loss":
        p = {"duration": c(rng.choice((3.0, 15.0, 60.0)))}
    elif kind == "latency":
        p = {"add": round(u(0.05, 2.0), 3), "duration": c(u(2.0, 20.0))}
    elif kind == "agents-down":
        p = {"duration": c(u(2.0, 20.0))}
    return kind, p


def target_of(kind, p, master, replicas):
    """The node a fault hits (None: the cluster as a whole)."""
    if kind == "redis-kill-replica":
        return replicas[p["replica"] % len(replicas)]
    if kind == "node-loss" and p["target"] == "replica":
        return replicas[p["replica"] % len(replicas)]
    if kind in ("leader-loss", "latency", "agents-down"):
        return None
    return master


def steps(kind, p, node, cl):
    """[(offset_s, description, action)] for the fault on node; the last
    step heals it (the round's heal time)."""
    n = "node%d" % node if node else ""

    def restart_redis():
        cl.start_redis(node, p["mode"])

    if kind in ("redis-kill-master", "redis-kill-replica"):
        return [(0, "kill -9 redis", lambda: cl.kill_redis(node)),
                (p["restart_after"], "restart redis empty (%s)" % p["mode"], restart_redis)]
    if kind == "resec-kill-master":
        return [(0, "kill -9 every resec process", lambda: cl.kill_resec(node)),
                (p["restart_after"], "restart resec", lambda: cl.start_resec(node))]
    if kind == "node-loss":
        def lose():
            cl.kill_resec(node, also_redis=True)
            cl.emu_ctl("/_emu/node/%s/fail" % n)

        def back():
            restart_redis()
            cl.emu_ctl("/_emu/node/%s/recover" % n)
            cl.start_resec(node)
        return [(0, "kill redis and resec, fail the node", lose),
                (p["down"], "restart redis empty (%s), recover the node, restart resec" % p["mode"], back)]
    if kind == "host-reboot":
        return [(0, "kill redis and resec together", lambda: cl.kill_resec(node, also_redis=True)),
                (p["redis_back"], "restart redis empty (%s)" % p["mode"], restart_redis),
                (p["resec_back"], "restart resec (%s)" % p["resec"], lambda: cl.start_resec(node))]
    if kind == "partition":
        q = "?serf=keep" if p["serf_keep"] else ""
        return [(0, "partition agent%s" % (" (serf keep)" if q else ""),
                 lambda: cl.emu_ctl("/_emu/node/%s/partition%s" % (n, q))),
                (p["duration"], "heal", lambda: cl.emu_ctl("/_emu/node/%s/heal" % n))]
    if kind == "redis-stall":
        return [(0, "SIGSTOP redis", lambda: cl.redis_signal(node, signal.SIGSTOP)),
                (p["duration"], "SIGCONT redis", lambda: cl.redis_signal(node, signal.SIGCONT))]
    if kind == "leader-loss":
        return [(0, "lose the leader", lambda: cl.emu_ctl("/_emu/leader/lose")),
                (p["duration"], "restore the leader", lambda: cl.emu_ctl("/_emu/leader/restore"))]
    if kind == "latency":
        return [(0, "add %s latency" % fmt_dur(p["add"]),
                 lambda: cl.emu_ctl("/_emu/latency?add=%s" % fmt_dur(p["add"]))),
                (p["duration"], "latency back to 0", lambda: cl.emu_ctl("/_emu/latency?add=0s"))]
    if kind == "agents-down":
        def down():
            for i in range(1, cl.N + 1):
                cl.emu_ctl("/_emu/node/node%d/partition" % i)

        def up():
            for i in range(1, cl.N + 1):
                cl.emu_ctl("/_emu/node/node%d/heal" % i)
        return [(0, "partition every node's agent", down), (p["duration"], "heal every agent", up)]
    raise ValueError("unknown fault %s" % kind)


def describe(kind, p, node):
    where = " n%d" % node if node else ""
    args = ", ".join("%s=%s" % (k, v) for k, v in sorted(p.items()))
    return "%s%s (%s)" % (kind, where, args)
