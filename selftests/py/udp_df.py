#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sends DF-marked UDP datagrams of SIZE bytes to HOST:PORT from a
connected socket until the kernel learns a smaller path MTU (EMSGSIZE),
then prints the path MTU it learned, or 0 if it never did."""
import errno
import socket
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2
IP_MTU = 14

host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
s.connect((host, port))
for _ in range(20):
    try:
        s.send(b"x" * size)
    except OSError as e:
        if e.errno == errno.EMSGSIZE:
            print(s.getsockopt(socket.IPPROTO_IP, IP_MTU))
            sys.exit(0)
        raise
    time.sleep(0.25)
print(0)
