#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sends RATE UDP datagrams per second to HOST:PORT for SECS seconds
from one socket (answers are ignored)."""
import socket
import sys
import time

host, port, rate, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + secs
gap = 1.0 / rate
while time.monotonic() < end:
    s.sendto(b"rate\n", (host, port))
    time.sleep(gap)
