#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""An ordinary TCP server that reports who its peers are, as any
application would see them: for each connection it writes
"accept ADDR:PORT peer ADDR:PORT" (the address accept() returned, then
getpeername()) to OUT, and keeps the connection open.

  toa_server.py --port 80 --out FILE [--v6] [--no-accept]

--v6 listens on [::] with IPV6_V6ONLY off (IPv4 peers appear v4-mapped).
--no-accept listens but never accepts. The listener allows TCP Fast Open.
Signals: SIGUSR1 writes "again ADDR:PORT" (getpeername() anew) for every
open connection, then "usr1-done"; SIGUSR2 resets every connection
(SO_LINGER 0) and writes "closed N".
"""
import argparse
import signal
import socket
import struct
import sys


def fmt(addr):
    return "%s:%d" % (addr[0], addr[1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--v6", action="store_true")
    p.add_argument("--no-accept", action="store_true")
    a = p.parse_args()

    out = open(a.out, "a", buffering=1)
    conns = []

    def again(_sig, _frame):
        for c in conns:
            try:
                out.write("again %s\n" % fmt(c.getpeername()))
            except OSError as e:
                out.write("again error %d\n" % e.errno)
        out.write("usr1-done\n")

    def close_all(_sig, _frame):
        for c in conns:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        out.write("closed %d\n" % len(conns))
        conns.clear()

    signal.signal(signal.SIGUSR1, again)
    signal.signal(signal.SIGUSR2, close_all)

    if a.v6:
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        bind = ("::", a.port)
    else:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        bind = ("0.0.0.0", a.port)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    ls.bind(bind)
    ls.listen(128)
    out.write("listening\n")
    if a.no_accept:
        while True:
            signal.pause()
    while True:
        c, addr = ls.accept()
        conns.append(c)
        try:
            peer = fmt(c.getpeername())
        except OSError as e:
            peer = "error %d" % e.errno
        out.write("accept %s peer %s\n" % (fmt(addr), peer))


if __name__ == "__main__":
    sys.exit(main())
