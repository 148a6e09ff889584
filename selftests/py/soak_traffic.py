#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The soak's client traffic (selftests/test_soak.sh).

    soak_traffic.py --secs S --svc NAME:PROTO:VIP:PORT:SRC ... [options]

For S seconds, several workers per service (threads) send traffic to the
virtual services, through echo servers (soak_echo.py) on the real servers,
and verify every byte that comes back:

- TCP: a connection from SRC, a random payload (1 byte to --max-size,
  log-uniform), the write side closed, the echo read to the end and
  compared byte for byte. A fraction (--long) of the connections are
  long-lived instead: several rounds of request and echo seconds apart (so
  configuration changes hit live connections), then the close. A stalled
  connection fails after --stall seconds without progress.
- UDP: a connected socket per flow (a new one, so a new source port and a
  new connection on the director, every 0.5-3 s); datagrams carry a
  sequence number and a CRC of the payload and are sent one at a time;
  the echo must come back unchanged. A datagram unanswered after --wait
  seconds is lost (an echo arriving later is counted late and no longer
  lost).

At the end a JSON summary goes to stdout: per service connections ok and
failed (and why), bytes verified, corrupt echoes, datagrams sent, echoed,
lost, late, corrupt. Progress and every failure go to stderr, with the
time since the start (to match with the churn log). Time limits are
multiplied by TIMEOUT_SCALE.
"""

import argparse
import json
import math
import os
import random
import select
import socket
import struct
import sys
import threading
import time
import zlib

SCALE = float(os.environ.get("TIMEOUT_SCALE", "1") or 1)
T0 = time.monotonic()
RAND = os.urandom(1 << 20)
UDP_MAGIC = 0x50A4
UDP_HDR = struct.Struct("!HHIII")  # magic, worker, flow, seq, crc32 of the rest
UDP_MAX = 1400  # payload: no fragments, even in an IPIP packet


def now():
    return time.monotonic() - T0


def log(msg):
    print(f"[{now():7.2f}] {msg}", file=sys.stderr, flush=True)


def payload(size, tag):
    """size bytes: a 16-byte tag (connection and round), then random bytes."""
    off = random.randrange(0, len(RAND) - size) if size < len(RAND) else 0
    return (tag + RAND[off:off + size])[:size]


def logsize(lo, hi):
    return int(math.exp(random.uniform(math.log(lo), math.log(hi + 1)))) if hi > lo else lo


class Corrupt(Exception):
    pass


class Stalled(Exception):
    pass


class Stats:
    def __init__(self, proto):
        self.lock = threading.Lock()
        self.d = {"proto": proto}
        if proto == "tcp":
            self.d.update(conns_ok=0, conns_failed=0, conns_long=0, rounds=0, bytes_verified=0,
                          corrupt=0, errors={}, slowest_conn_s=0.0)
        else:
            self.d.update(flows=0, dgrams_sent=0, dgrams_ok=0, dgrams_lost=0, dgrams_late=0,
                          dgrams_corrupt=0, dgrams_refused=0, bytes_verified=0, errors={})

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.d[k] += v

    def error(self, what):
        with self.lock:
            self.d["errors"][what] = self.d["errors"].get(what, 0) + 1

    def slowest(self, s):
        with self.lock:
            self.d["slowest_conn_s"] = max(self.d["slowest_conn_s"], round(s, 2))


def exchange(s, data, stall, half_close):
    """Send data and read its echo, at once (neither side blocks the
    other). With half_close the write side is closed after data and the
    echo is read to the end of stream; otherwise exactly len(data) bytes
    are read. Raises Stalled after stall seconds without progress."""
    n = len(data)
    view = memoryview(data)
    sent = 0
    buf = bytearray()
    eof = False
    if half_close and n == 0:
        s.shutdown(socket.SHUT_WR)
    p = select.poll()
    p.register(s, select.POLLIN)
    last = time.monotonic()
    while not (eof if half_close else len(buf) >= n):
        p.modify(s, select.POLLIN | (select.POLLOUT if sent < n else 0))
        ev = p.poll(500)
        t = time.monotonic()
        if not ev:
            if t - last > stall:
                raise Stalled(f"no progress for {stall:g} s (sent {sent}/{n}, got {len(buf)})")
            continue
        e = ev[0][1]
        if e & (select.POLLIN | select.POLLERR | select.POLLHUP):
            try:
                b = s.recv(1 << 18)
            except BlockingIOError:
                b = None
            if b == b"":
                if not half_close:
                    raise ConnectionError(f"end of stream after {len(buf)} of {n} bytes")
                eof = True
            elif b:
                buf += b
                last = t
                if len(buf) > n:
                    raise Corrupt(f"{len(buf)} bytes echoed for {n} sent")
        if e & select.POLLOUT and sent < n:
            try:
                sent += s.send(view[sent:sent + (1 << 18)])
                last = t
            except BlockingIOError:
                pass
            if sent == n and half_close:
                s.shutdown(socket.SHUT_WR)
    if bytes(buf) != data:
        off = next((i for i, (a, b) in enumerate(zip(buf, data)) if a != b), min(len(buf), n))
        raise Corrupt(f"echo differs at byte {off} of {n} (got {len(buf)})")
    return n


def tcp_worker(svc, wid, a, deadline, st):
    k = 0
    while now() < deadline:
        k += 1
        long_lived = random.random() < a.long
        t0 = time.monotonic()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        port = 0
        rnd = 0
        try:
            s.bind((svc["src"], 0))
            port = s.getsockname()[1]
            s.settimeout(a.stall)
            s.connect((svc["vip"], svc["port"]))
            s.setblocking(False)
            nbytes = 0
            if long_lived:
                for rnd in range(random.randint(3, 8)):
                    if rnd and now() >= deadline:
                        break
                    if rnd:
                        time.sleep(random.uniform(0.2, 1.5))
                    tag = struct.pack("!IIII", wid, k, rnd, port)
                    nbytes += exchange(s, payload(logsize(1, a.max_size // 4), tag), a.stall, False)
                exchange(s, b"", a.stall, True)
                st.add(conns_long=1, rounds=rnd + 1)
            else:
                tag = struct.pack("!IIII", wid, k, 0, port)
                nbytes += exchange(s, payload(logsize(1, a.max_size), tag), a.stall, True)
                st.add(rounds=1)
            st.add(conns_ok=1, bytes_verified=nbytes)
        except Corrupt as e:
            st.add(corrupt=1, conns_failed=1)
            st.error("corrupt")
            log(f"CORRUPT {svc['name']} worker {wid} conn {k} port {port} round {rnd}: {e}")
        except (OSError, Stalled) as e:
            st.add(conns_failed=1)
            st.error(type(e).__name__)
            log(f"FAILED {svc['name']} worker {wid} conn {k} port {port} round {rnd} "
                f"after {time.monotonic() - t0:.1f} s: {type(e).__name__}: {e}")
        finally:
            s.close()
        st.slowest(time.monotonic() - t0)


def udp_worker(svc, wid, a, deadline, st):
    flow = 0
    while now() < deadline:
        flow += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((svc["src"], 0))
        s.connect((svc["vip"], svc["port"]))
        port = s.getsockname()[1]
        st.add(flows=1)
        lost = {}  # seq -> datagram, for echoes that come late
        seq = 0
        until = min(deadline, now() + random.uniform(0.5, 3.0))

        def receive(timeout, want):
            """Reads echoes until want's arrives (True) or timeout (False)."""
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                s.settimeout(left)
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    return False
                except ConnectionRefusedError:
                    st.add(dgrams_refused=1)
                    st.error("refused")
                    log(f"REFUSED {svc['name']} worker {wid} flow {flow} port {port}")
                    continue
                if want is not None and b == want:
                    return True
                try:
                    magic, w, f, q, crc = UDP_HDR.unpack_from(b)
                except struct.error:
                    magic = None
                if magic == UDP_MAGIC and (w, f) == (wid, flow) and lost.get(q) == b:
                    del lost[q]
                    st.add(dgrams_late=1, dgrams_lost=-1, dgrams_ok=1, bytes_verified=len(b))
                    continue
                st.add(dgrams_corrupt=1)
                st.error("corrupt")
                log(f"CORRUPT {svc['name']} worker {wid} flow {flow} port {port}: "
                    f"{len(b)}-byte echo matches nothing sent")

        try:
            while now() < until:
                seq += 1
                body = payload(random.randint(0, UDP_MAX - UDP_HDR.size),
                               struct.pack("!IIII", wid, flow, seq, port))
                d = UDP_HDR.pack(UDP_MAGIC, wid, flow, seq, zlib.crc32(body)) + body
                s.send(d)
                st.add(dgrams_sent=1)
                if receive(a.wait, d):
                    st.add(dgrams_ok=1, bytes_verified=len(d))
                else:
                    lost[seq] = d
                    st.add(dgrams_lost=1)
                    log(f"LOST {svc['name']} worker {wid} flow {flow} port {port} seq {seq}")
                if a.udp_gap:
                    time.sleep(random.uniform(0, a.udp_gap))
            if lost:
                receive(a.wait, None)  # late echoes of this flow
        except OSError as e:
            st.error(type(e).__name__)
            log(f"ERROR {svc['name']} worker {wid} flow {flow} port {port}: {e}")
        finally:
            s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--secs", type=float, required=True)
    p.add_argument("--svc", action="append", required=True, help="NAME:PROTO:VIP:PORT:SRC")
    p.add_argument("--tcp-workers", type=int, default=3)
    p.add_argument("--udp-workers", type=int, default=2)
    p.add_argument("--max-size", type=int, default=256 * 1024)
    p.add_argument("--long", type=float, default=0.2, help="fraction of long-lived TCP connections")
    p.add_argument("--stall", type=float, default=30, help="seconds without progress (scaled)")
    p.add_argument("--wait", type=float, default=2, help="seconds to wait for a UDP echo (scaled)")
    p.add_argument("--udp-gap", type=float, default=0.01, help="most seconds between datagrams")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    a.stall *= SCALE
    a.wait *= SCALE
    seed = a.seed if a.seed is not None else random.randrange(1 << 32)
    random.seed(seed)
    log(f"seed {seed}")

    svcs = []
    for spec in a.svc:
        name, proto, vip, port, src = spec.split(":")
        svcs.append({"name": name, "proto": proto, "vip": vip, "port": int(port), "src": src})
    stats = {s["name"]: Stats(s["proto"]) for s in svcs}
    deadline = a.secs
    threads = []
    wid = 0
    for s in svcs:
        n = a.tcp_workers if s["proto"] == "tcp" else a.udp_workers
        for _ in range(n):
            wid += 1
            fn = tcp_worker if s["proto"] == "tcp" else udp_worker
            threads.append(threading.Thread(target=fn, args=(s, wid, a, deadline, stats[s["name"]]),
                                            daemon=True))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if int(now()) % 10 == 0:
            tcp = sum(st.d.get("conns_ok", 0) for st in stats.values())
            udp = sum(st.d.get("dgrams_ok", 0) for st in stats.values())
            log(f"progress: {tcp} TCP connections, {udp} datagrams echoed")
    out = {"seed": seed, "secs": round(now(), 1), "services": {k: v.d for k, v in stats.items()}}
    tot = {}
    for v in stats.values():
        for k, x in v.d.items():
            if isinstance(x, int):
                tot[k] = tot.get(k, 0) + x
    out["totals"] = tot
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
