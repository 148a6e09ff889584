#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""TCP handshakes by hand, as a FULLNAT director would forward them: the
SYN and/or the final ACK carry a TOA option (kind 254, length 8, port,
IPv4 address) naming a client that is not us.

The handshake is completed with a raw socket; the local kernel knows
nothing of the connection and would answer the SYN-ACK with a reset, so
the caller drops our resets (e.g. an nft rule on tcp sport in the client
namespace). The connection stays open on the server until it closes it.

  toa_client.py --src 10.0.1.1 --dst 10.0.1.2 --dport 80 --sport 20000 \\
      [--count N] [--toa 192.0.2.10:40000] [--on syn,ack]
      [--ack-opts HEX] [--syn-opts HEX] [--syn-data TEXT]

With --count N, N handshakes from sports SPORT.. SPORT+N-1, the TOA port
counting up from the given one. Prints one line per handshake:
"ok SPORT" or "fail SPORT"; exits non-zero if any failed.
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

# Time limits scale on slow kernels (selftests/slow_kernel.sh).
SCALE = float(os.environ.get("TIMEOUT_SCALE", "1"))

SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src, dst, sport, dport, seq, ack, flags, opts=b"", payload=b""):
    if len(opts) % 4:
        opts += b"\0" * (4 - len(opts) % 4)  # EOL padding
    doff = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def toa_option(addr, port):
    return struct.pack("!BBH4s", 254, 8, port, socket.inet_aton(addr))


def wait_synack(sock, dst, dport, sport, want_ack, timeout):
    """The server's ISN from its SYN-ACK to us, or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return None
        pkt = sock.recv(65535)
        ihl = (pkt[0] & 0x0F) * 4
        if socket.inet_ntoa(pkt[12:16]) != dst:
            continue
        tcp = pkt[ihl:]
        if len(tcp) < 20:
            continue
        s, d, seq, ack, _, flags = struct.unpack("!HHIIBB", tcp[:14])
        if (s, d) == (dport, sport) and flags & (SYN | ACK) == SYN | ACK and ack == want_ack:
            return seq


def handshake(sock, a, sport, toa):
    isn = int.from_bytes(os.urandom(4), "big")
    on = a.on.split(",") if a.on else []
    syn_opts = struct.pack("!BBH", 2, 4, 1460)
    if a.syn_opts is not None:
        syn_opts = bytes.fromhex(a.syn_opts)
    elif toa and "syn" in on:
        syn_opts += toa
    data = a.syn_data.encode() if a.syn_data else b""
    syn = segment(a.src, a.dst, sport, a.dport, isn, 0, SYN, syn_opts, data)
    for _ in range(8):
        sock.sendto(syn, (a.dst, 0))
        srv_isn = wait_synack(sock, a.dst, a.dport, sport, (isn + 1 + len(data)) & 0xFFFFFFFF, 3 * SCALE)
        if srv_isn is not None:
            break
    else:
        return False
    if a.ack_opts is not None:
        ack_opts = bytes.fromhex(a.ack_opts)
    else:
        ack_opts = toa if toa and "ack" in on else b""
    seq = (isn + 1 + len(data)) & 0xFFFFFFFF
    sock.sendto(segment(a.src, a.dst, sport, a.dport, seq, (srv_isn + 1) & 0xFFFFFFFF, ACK, ack_opts), (a.dst, 0))
    return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--sport", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--toa", help="ADDR:PORT written into the TOA option")
    p.add_argument("--on", default="syn,ack", help="which segments carry it: syn, ack or both")
    p.add_argument("--ack-opts", help="the final ACK's option bytes, hex (instead of TOA)")
    p.add_argument("--syn-opts", help="the SYN's option bytes, hex (instead of MSS and TOA)")
    p.add_argument("--syn-data", help="payload of the SYN (TCP Fast Open)")
    a = p.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    sock.bind((a.src, 0))
    failed = 0
    for i in range(a.count):
        toa = None
        if a.toa:
            addr, port = a.toa.rsplit(":", 1)
            toa = toa_option(addr, int(port) + i)
        sport = a.sport + i
        ok = handshake(sock, a, sport, toa)
        print(("ok" if ok else "fail"), sport, flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
