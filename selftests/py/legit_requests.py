#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Legitimate requests during a SYN flood (scripts/bench-synproxy-guest.sh).

    legit_requests.py server PORT [ANSWER]
    legit_requests.py client ADDR PORT SECONDS [INTERVAL]

server: answers every TCP connection on PORT with ANSWER (default "ok")
and a newline, and closes it.
client: makes one request (connect, read to the end, expect "ok\\n"), prints
"ready", waits for a line on stdin, then for SECONDS starts a request every
INTERVAL seconds (default 0.1; a request still running delays the next)
and prints "OK TRIED". Pacing keeps the client's own share of the CPU small
and the same whichever side it measures: a client that went as fast as it
could would take CPU time from the flood in proportion to how well the
side under test answers it.

Both sides are single long-running processes on purpose: a flood under QEMU
-icount starves the guest's 9p root filesystem, so anything that execs a
program or opens a file while it runs (socat per request, `ip netns exec`
per request) stalls for tens of guest seconds and counts as a failed request
of the load balancer. Everything either side needs is loaded before the
flood starts (the client's first request runs the whole code path once).
"""

import socket
import sys
import time

ANSWER = b"ok\n"
# A SYN lost in the flood is sent again after 1, 3, 7 and 15 s, as by any
# client: allow all of them.
REQUEST_TIMEOUT = 20.0


def serve(port, answer=ANSWER):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        try:
            c.sendall(answer)
        except OSError:
            pass
        c.close()


def request(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=REQUEST_TIMEOUT) as s:
            got = b""
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            return got == ANSWER
    except OSError:
        return False


def client(addr, port, seconds, interval):
    if not request(addr, port):
        print("no answer before the flood", file=sys.stderr)
        return 1
    print("ready", flush=True)
    sys.stdin.readline()
    ok = tried = 0
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        tried += 1
        ok += request(addr, port)
        pause = start + tried * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    print(ok, tried, flush=True)
    return 0


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "server":
        answer = argv[3].encode() + b"\n" if len(argv) == 4 else ANSWER
        serve(int(argv[2]), answer)
        return 0
    if len(argv) in (5, 6) and argv[1] == "client":
        interval = float(argv[5]) if len(argv) == 6 else 0.1
        return client(argv[2], int(argv[3]), float(argv[4]), interval)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
