#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sends COUNT bare TCP segments with the given flags (e.g. SF, FPU, ""
for none, A) from SRC to DST:PORT through a raw socket, from random
source ports and sequence numbers; the kernel adds the IP header.

usage: tcp_raw.py SRC DST PORT FLAGS COUNT
"""
import random
import socket
import struct
import sys

BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    src, dst, port, flags, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    f = 0
    for c in flags:
        f |= BITS[c]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    for _ in range(count):
        sport = random.randint(20000, 60000)
        hdr = struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32), random.getrandbits(32),
                          5 << 4, f, 65535, 0, 0)
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
        c = csum(pseudo + hdr)
        s.sendto(hdr[:16] + struct.pack("!H", c) + hdr[18:], (dst, 0))


if __name__ == "__main__":
    main()
