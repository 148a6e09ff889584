#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Configuration churn of the soak (selftests/test_soak.sh), run in the
director's namespace while traffic flows.

    soak_churn.py --config CFG.json --secs S --summary OUT.json [--seed N]

CFG: {"services": [{"name", "proto", "vip", "port", "rport", "method"}],
      "rs": [{"name", "ip", "ns"}]}; method is nat, dr, tun or fullnat.
The services exist already (and FULLNAT's local addresses); this adds
their first real servers, says "ready" on stdout, then every 1-3 s makes
one random change to one service:

- weight: a real server's weight to another value, 0 included;
- sched: another scheduler (-E), with random flags for sh and mh;
- add: a real server the service does not have, weight 1-5;
- retire: a real server's weight to 0; it is deleted (event "remove") at
  a later tick once nothing of it is live: no connection of it on the
  director in a state before the end (TCP: NONE, SYN_RECV, SYN_SENT,
  SYNACK, ESTABLISHED; UDP: any) and no TCP socket on the real server;
- bounce: a real server deleted with its connections live and added back
  1-3 s later (a flapping health check). Meanwhile the director drops
  their packets (expire_nodest_conn=0, as upstream) and counts them; TCP
  retransmits over the gap, UDP datagrams are lost.

So that every new connection finds a server, each service keeps a real
server of weight > 0, and all of weight > 0 while its scheduler has no
fallback (dh; sh and mh without their fallback flag); ovf is left out
(it refuses new connections once every server has weight-many).
After each change the service as `ipvsadm -L -n` shows it must match
the model. Every change goes to stdout with the time since the start; at
the end (S seconds or SIGTERM) bounced servers are added back and the
summary written: events per kind, failed commands, mismatches.
"""

import argparse
import json
import random
import signal
import subprocess
import sys
import time

T0 = time.monotonic()
SCHEDS = ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "twos", "lblc", "lblcr", "sh", "mh", "dh"]
SCHED_FLAGS = {
    "sh": ["", "sh-fallback", "sh-port", "sh-fallback,sh-port"],
    "mh": ["", "mh-fallback", "mh-port", "mh-fallback,mh-port"],
}
EARLY_TCP = {"NONE", "SYN_RECV", "SYN_SENT", "SYNACK", "ESTABLISHED"}
FLAG = {"nat": "-m", "dr": "-g", "tun": "-i"}

stop = False
summary = {"events": {}, "errors": [], "mismatches": [], "retire_waits": []}


def now():
    return time.monotonic() - T0


def log(msg):
    print(f"[{now():7.2f}] {msg}", flush=True)


def hexaddr(ip, port):
    return "".join(f"{int(x):02X}" for x in ip.split(".")), f"{port:04X}"


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        msg = f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}"
        summary["errors"].append(f"{now():.2f} {msg}")
        log(f"ERROR {msg}")
        return None
    return r.stdout


class Svc:
    def __init__(self, d):
        self.__dict__.update(d)
        self.sched = "rr"
        self.flags = ""
        self.members = {}  # rs name -> weight
        self.retiring = {}  # rs name -> time retire started
        self.bounced = {}  # rs name -> (weight, time to add it back)

    def pflag(self):
        return "-t" if self.proto == "tcp" else "-u"

    def vs(self):
        return f"{self.vip}:{self.port}"

    def strict(self, sched=None, flags=None):
        sched = sched or self.sched
        flags = self.flags if flags is None else flags
        return sched == "dh" or (sched in ("sh", "mh") and "fallback" not in flags)

    def valid(self, members, sched=None, flags=None):
        ws = list(members.values())
        return any(w > 0 for w in ws) and (not self.strict(sched, flags) or all(w > 0 for w in ws))


class Churn:
    def __init__(self, cfg):
        self.rs = {r["name"]: r for r in cfg["rs"]}
        self.svcs = [Svc(s) for s in cfg["services"]]

    def dest_cmd(self, svc, op, rs, weight):
        r = self.rs[rs]
        rip = f"{r['ip']}:{svc.rport}"
        if svc.method == "fullnat":
            verb = "add" if op == "-a" else "edit"
            return run("ipvsctl", "dest", verb, svc.proto, svc.vs(), rip, "--fwd", "fullnat",
                       "-w", str(weight)) is not None
        return run("ipvsadm", op, svc.pflag(), svc.vs(), "-r", rip, FLAG[svc.method],
                   "-w", str(weight)) is not None

    def delete(self, svc, rs):
        return run("ipvsadm", "-d", svc.pflag(), svc.vs(), "-r",
                   f"{self.rs[rs]['ip']}:{svc.rport}") is not None

    def event(self, kind, svc, what):
        summary["events"][kind] = summary["events"].get(kind, 0) + 1
        log(f"{kind} {svc.name}: {what}")

    def verify(self, svc=None):
        """Compares the listing of svc (or of every service) with the model."""
        out = run("ipvsadm", "-L", "-n", *((svc.pflag(), svc.vs()) if svc else ()))
        if out is None:
            return
        shown = {}  # (proto, VIP:PORT) -> [sched, {rip: weight}]
        cur = None
        for line in out.splitlines():
            f = line.split()
            if f and f[0] in ("TCP", "UDP"):
                cur = shown.setdefault((f[0].lower(), f[1]), [f[2], {}])
            elif cur and f and f[0] == "->" and f[1][0].isdigit():
                cur[1][f[1].rsplit(":", 1)[0]] = int(f[3])
        for s in [svc] if svc else self.svcs:
            sched, got = shown.get((s.proto, s.vs()), [None, {}])
            want = {self.rs[n]["ip"]: w for n, w in s.members.items()}
            if sched != s.sched or got != want:
                m = f"{now():.2f} {s.name}: ipvsadm shows {sched} {got}, expected {s.sched} {want}"
                summary["mismatches"].append(m)
                log(f"MISMATCH {m}")

    # --- the changes -----------------------------------------------------

    def setup(self, rng):
        for svc in self.svcs:
            names = sorted(self.rs)
            for rs in rng.sample(names, rng.randint(2, len(names) - 1)):
                w = rng.randint(1, 5)
                if self.dest_cmd(svc, "-a", rs, w):
                    svc.members[rs] = w
            self.event("setup", svc, " ".join(f"{k}={v}" for k, v in sorted(svc.members.items())))
        self.verify()

    def weight(self, rng, svc):
        cands = [n for n in svc.members if n not in svc.retiring]
        rng.shuffle(cands)
        for rs in cands:
            w = rng.choice([x for x in range(6) if x != svc.members[rs]])
            m = dict(svc.members, **{rs: w})
            if svc.valid(m):
                if self.dest_cmd(svc, "-e", rs, w):
                    self.event("weight", svc, f"{rs} {svc.members[rs]} -> {w}")
                    svc.members[rs] = w
                return True
        return False

    def sched(self, rng, svc):
        for _ in range(10):
            s = rng.choice([x for x in SCHEDS if x != svc.sched])
            flags = rng.choice(SCHED_FLAGS.get(s, [""]))
            if not svc.valid(svc.members, s, flags):
                continue
            cmd = ["ipvsadm", "-E", svc.pflag(), svc.vs(), "-s", s] + (["-b", flags] if flags else [])
            if run(*cmd) is not None:
                self.event("sched", svc, f"{svc.sched} -> {s}{' ' + flags if flags else ''}")
                svc.sched, svc.flags = s, flags
            return True
        return False

    def add(self, rng, svc):
        cands = [n for n in self.rs if n not in svc.members and n not in svc.bounced]
        if not cands:
            return False
        rs = rng.choice(cands)
        w = rng.randint(1, 5)
        if self.dest_cmd(svc, "-a", rs, w):
            self.event("add", svc, f"{rs} weight {w}")
            svc.members[rs] = w
        return True

    def retire(self, rng, svc):
        cands = [n for n in svc.members if n not in svc.retiring]
        rng.shuffle(cands)
        for rs in cands:
            m = dict(svc.members, **{rs: 0})
            if svc.valid(m) and len(svc.members) > 1:
                if svc.members[rs] == 0 or self.dest_cmd(svc, "-e", rs, 0):
                    self.event("retire", svc, f"{rs} weight {svc.members[rs]} -> 0, removed once idle")
                    svc.members[rs] = 0
                    svc.retiring[rs] = now()
                return True
        return False

    def bounce(self, rng, svc):
        cands = [n for n in svc.members if n not in svc.retiring]
        rng.shuffle(cands)
        for rs in cands:
            m = {k: v for k, v in svc.members.items() if k != rs}
            if m and svc.valid(m):
                if self.delete(svc, rs):
                    down = rng.uniform(1, 3)
                    svc.bounced[rs] = (svc.members.pop(rs), now() + down)
                    self.event("bounce", svc, f"{rs} deleted with its connections, back in {down:.1f} s")
                return True
        return False

    # --- deferred work ---------------------------------------------------

    def readd(self, svc, force=False):
        for rs, (w, at) in list(svc.bounced.items()):
            if force or now() >= at:
                if svc.strict() and w == 0:
                    w = 1
                if self.dest_cmd(svc, "-a", rs, w):
                    self.event("readd", svc, f"{rs} weight {w}")
                    svc.members[rs] = w
                del svc.bounced[rs]
                self.verify(svc)

    def idle(self, svc, rs):
        r = self.rs[rs]
        vaddr, vport = hexaddr(svc.vip, svc.port)
        daddr, dport = hexaddr(r["ip"], svc.rport)
        with open("/proc/net/ip_vs_conn") as f:
            for line in f:
                c = line.split()
                if len(c) < 8 or c[0] != svc.proto.upper():
                    continue
                if (c[3], c[4], c[5], c[6]) == (vaddr, vport, daddr, dport):
                    if svc.proto == "udp" or c[7] in EARLY_TCP:
                        return False
        if svc.proto == "tcp":
            out = run("ip", "netns", "exec", r["ns"], "ss", "-Htn", "state", "connected",
                      f"( sport = :{svc.rport} )")
            if out is None or out.strip():
                return False
        return True

    def reap(self, svc):
        for rs, since in list(svc.retiring.items()):
            if self.idle(svc, rs):
                if self.delete(svc, rs):
                    wait = now() - since
                    summary["retire_waits"].append(round(wait, 1))
                    self.event("remove", svc, f"{rs}, idle {wait:.1f} s after its retirement")
                    del svc.members[rs]
                del svc.retiring[rs]
                self.verify(svc)

    def tick(self, rng):
        for svc in self.svcs:
            self.readd(svc)
            self.reap(svc)
        svc = rng.choice(self.svcs)
        actions = [(self.weight, 35), (self.sched, 20), (self.add, 15), (self.retire, 15),
                   (self.bounce, 15)]
        while actions:
            fn = rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
            if fn(rng, svc):
                break
            actions = [a for a in actions if a[0] != fn]
        self.verify(svc)


def main():
    global stop
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--secs", type=float, required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--ready", help="file created once the real servers are in")
    a = p.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    log(f"seed {seed}")
    with open(a.config) as f:
        c = Churn(json.load(f))

    def term(*_):
        global stop
        stop = True

    signal.signal(signal.SIGTERM, term)
    c.setup(rng)
    if a.ready:
        open(a.ready, "w").close()
    start = now()
    next_tick = start + rng.uniform(1, 3)
    while not stop and now() < start + a.secs:
        due = [at for s in c.svcs for _, at in s.bounced.values()]
        t = min([next_tick] + due)
        time.sleep(max(0, min(t - now(), 0.5)))
        if now() >= next_tick:
            c.tick(rng)
            # 1-3 s from tick to tick (commands are slow on a slow VM).
            next_tick = max(now(), next_tick + rng.uniform(1, 3))
        else:
            for svc in c.svcs:
                c.readd(svc)
    for svc in c.svcs:
        c.readd(svc, force=True)
    c.verify()
    summary["seed"] = seed
    summary["secs"] = round(now() - start, 1)
    summary["total"] = sum(v for k, v in summary["events"].items() if k != "setup")
    summary["retiring_at_end"] = sum(len(s.retiring) for s in c.svcs)
    summary["final"] = {s.name: {"sched": s.sched, "flags": s.flags, "members": s.members}
                        for s in c.svcs}
    with open(a.summary, "w") as f:
        json.dump(summary, f, indent=1)
    log(f"done: {summary['total']} changes")


if __name__ == "__main__":
    main()
