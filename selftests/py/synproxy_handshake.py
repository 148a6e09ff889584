#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Completes a TCP handshake with a SYNPROXY service through raw sockets,
then sends duplicate ACKs and data segments, for the tests of what the
director does while it waits for the real server.

Sends a SYN (MSS 1460) from SRC:SPORT to DST:PORT, reads the director's
SYN-ACK, answers it with the ACK (cookie + 1), then DUPS copies of that
ACK, then DATA segments with 10 bytes each (all at ISN + 1), and prints
"synack window N" with the SYN-ACK's window (0 for a cookie SYN-ACK
without synproxy_defer), or "no synack".

usage: synproxy_handshake.py SRC DST PORT SPORT DUPS DATA
"""
import random
import select
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src, dst, sport, dport, seq, ack, flags, opts=b"", payload=b""):
    off = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def main():
    src, dst, port, sport, dups, data = (sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                         int(sys.argv[5]), int(sys.argv[6]))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    isn = random.getrandbits(32)
    mss = struct.pack("!BBH", 2, 4, 1460)
    s.sendto(segment(src, dst, sport, port, isn, 0, 0x02, mss), (dst, 0))
    deadline = time.time() + 5
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        pkt, _ = s.recvfrom(2048)
        ihl = (pkt[0] & 0xF) * 4
        tcp = pkt[ihl:]
        if socket.inet_ntoa(pkt[12:16]) != dst or len(tcp) < 20:
            continue
        psport, pdport, seq, ack, _, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
        if psport != port or pdport != sport or flags & 0x12 != 0x12 or ack != (isn + 1) & 0xFFFFFFFF:
            continue
        print(f"synack window {win}")
        a = segment(src, dst, sport, port, (isn + 1) & 0xFFFFFFFF, (seq + 1) & 0xFFFFFFFF, 0x10)
        for _ in range(1 + dups):
            s.sendto(a, (dst, 0))
        for _ in range(data):
            s.sendto(segment(src, dst, sport, port, (isn + 1) & 0xFFFFFFFF, (seq + 1) & 0xFFFFFFFF, 0x18,
                             payload=b"0123456789"), (dst, 0))
        return 0
    print("no synack")
    return 1


if __name__ == "__main__":
    sys.exit(main())
