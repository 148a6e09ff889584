#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Many TCP connections open at once to echo services, data verified.

usage: fnat_concurrent.py --per N --size BYTES --go FILE VIP:PORT...

Opens N connections to each VIP:PORT, all at the same time (every connect
is started before any data moves), prints "connected <total>" once all are
established, waits until FILE exists (so the caller can look at the
connections while they are all open), then sends each connection its own
random BYTES, reads the echo back and compares. Prints "ok <total>" if
every connection echoed its data intact, else "failed <n> of <total>:"
and the first reasons; exit status 0 / 1. --timeout (30 s) bounds the
whole run, multiplied by TIMEOUT_SCALE from the environment (slow kernels,
selftests/slow_kernel.sh).
"""
import argparse
import os
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--go", required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()

    conns = []
    for t in a.targets:
        host, port = t.rsplit(":", 1)
        for _ in range(a.per):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, int(port)))
            conns.append({"t": t, "s": s, "data": os.urandom(a.size),
                          "sent": 0, "got": bytearray(), "err": None})
    total = len(conns)
    # Slow (debug) kernels: the time limits of the selftests are scaled.
    scale = float(os.environ.get("TIMEOUT_SCALE", "1") or 1)
    deadline = time.monotonic() + a.timeout * scale

    # Wait for every connect to finish.
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c["s"], selectors.EVENT_WRITE, c)
    pending = total
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            sel.unregister(c["s"])
            pending -= 1
            e = c["s"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e:
                c["err"] = "connect: " + os.strerror(e)
    for c in conns:
        if c["err"] is None and pending:
            try:
                c["s"].getpeername()
            except OSError:
                c["err"] = "connect: timed out"
    sel.close()
    print("connected %d" % sum(c["err"] is None for c in conns), flush=True)

    while not os.path.exists(a.go) and time.monotonic() < deadline:
        time.sleep(0.05)

    # Echo: send and read on all connections at once.
    sel = selectors.DefaultSelector()
    live = [c for c in conns if c["err"] is None]
    for c in live:
        sel.register(c["s"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    open_ = len(live)
    while open_ and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            s = c["s"]
            try:
                if ev & selectors.EVENT_WRITE and c["sent"] < a.size:
                    c["sent"] += s.send(c["data"][c["sent"]:c["sent"] + 65536])
                    if c["sent"] == a.size:
                        sel.modify(s, selectors.EVENT_READ, c)
                if ev & selectors.EVENT_READ:
                    b = s.recv(65536)
                    if not b:
                        c["err"] = "closed after %d bytes" % len(c["got"])
                    c["got"] += b
                    if len(c["got"]) >= a.size:
                        c["done"] = True
            except OSError as e:
                c["err"] = str(e)
            if c["err"] is not None or c.get("done"):
                sel.unregister(s)
                open_ -= 1
    bad = []
    for c in conns:
        if c["err"] is None and bytes(c["got"]) != c["data"]:
            c["err"] = "echo differs (%d of %d bytes back)" % (len(c["got"]), a.size)
        if c["err"] is not None:
            bad.append("%s: %s" % (c["t"], c["err"]))
        c["s"].close()
    if bad:
        print("failed %d of %d: %s" % (len(bad), total, "; ".join(bad[:5])))
        return 1
    print("ok %d" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
