#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Echo server of a real server in the soak (selftests/test_soak.sh).

    soak_echo.py --tcp [ADDR:]PORT ... --udp [ADDR:]PORT ...

TCP: one thread per connection; every byte received is sent back; at the
client's end of stream the server ends its side and closes. UDP: every
datagram goes back to its sender unchanged, from the address it was bound
to (DR and TUN answer from the VIP: bind the UDP socket to it). Runs until
killed; counts on SIGUSR1 (stderr).
"""

import argparse
import signal
import socket
import sys
import threading

stats = {"tcp_conns": 0, "tcp_bytes": 0, "tcp_errors": 0, "udp_dgrams": 0}
lock = threading.Lock()


def addr(spec):
    host, _, port = spec.rpartition(":")
    return (host or "0.0.0.0", int(port))


def tcp_conn(c):
    n = 0
    try:
        c.settimeout(600)
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
            n += len(b)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        with lock:
            stats["tcp_errors"] += 1
    finally:
        c.close()
        with lock:
            stats["tcp_conns"] += 1
            stats["tcp_bytes"] += n


def tcp_server(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def udp_server(s):
    while True:
        b, peer = s.recvfrom(65536)
        s.sendto(b, peer)
        with lock:
            stats["udp_dgrams"] += 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tcp", action="append", default=[])
    p.add_argument("--udp", action="append", default=[])
    a = p.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: print(stats, file=sys.stderr, flush=True))
    threads = []
    for spec in a.tcp:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr(spec))
        s.listen(256)
        threads.append(threading.Thread(target=tcp_server, args=(s,), daemon=True))
    for spec in a.udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(addr(spec))
        threads.append(threading.Thread(target=udp_server, args=(s,), daemon=True))
    for t in threads:
        t.start()
    # Bound before this line: the test waits for it.
    print("listening", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
