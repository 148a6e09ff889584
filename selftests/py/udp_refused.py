#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A UDP server on PORT that answers the first request twice, 2.5 s apart,
from a socket connected to the client, and writes to OUT whether the
second answer drew an ICMP port unreachable back (the client closes its
socket after the first): "refused" or "silent"."""
import os
import socket
import sys
import time

port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
_, peer = srv.recvfrom(2048)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
srv.close()
c.bind(("0.0.0.0", port))
c.connect(peer)
c.send(b"first\n")
time.sleep(2.5)
c.send(b"second\n")
c.settimeout(3 * float(os.environ.get("TIMEOUT_SCALE", "1")))
result = "silent"
try:
    c.recv(2048)
except ConnectionRefusedError:
    result = "refused"
except socket.timeout:
    pass
with open(out, "w") as f:
    f.write(result + "\n")
