#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Malformed-packet fuzzer for the ipvs_rs selftests.

Builds IPv4 frames byte by byte (no checksum or length fixed up by the
kernel) and sends them through an AF_PACKET socket on IFACE to DST_MAC, so
every header field can be wrong. Each packet targets one TARGET tuple:

    PROTO:SRC:SPORT:DST:DPORT   (PROTO tcp|udp|sctp; SPORT 0: random)

A target with a fixed SPORT is an existing connection (the packet may
land in it); ICMP errors quote the packet the target's peer would have
sent back (DST:DPORT -> SRC:SPORT).

usage: pkt_fuzz.py IFACE DST_MAC SEED COUNT TARGET...

COUNT packets per class (classes below). Prints the seed, then one line
"sent CLASS N" per class and "sent total N". Deterministic for a seed.
"""
import random
import socket
import struct
import sys

ETH_P_IP = 0x0800
PROTO_NUM = {"tcp": 6, "udp": 17, "sctp": 132}
# TCP flag combinations no TCP sends (test_defence.sh's classes).
BAD_FLAGS = [0x03, 0x06, 0x05, 0x00, 0xFF, 0x01, 0x20, 0x29, 0x07, 0x3F]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return ~crc & 0xFFFFFFFF


class Fuzzer:
    def __init__(self, rng, targets):
        self.r = rng
        self.open_conn = False
        self.targets = targets

    def pick(self, proto=None):
        cands = [t for t in self.targets if proto is None or t[0] == proto]
        if not cands:
            cands = self.targets
        p, src, sport, dst, dport = self.r.choice(cands)
        self.open_conn = sport != 0
        if sport == 0:
            sport = self.r.randint(1024, 65535)
        return p, src, sport, dst, dport

    def flags(self, choices):
        """A flag byte from CHOICES; in an open connection's tuple none that
        change its state (SYN, FIN, RST): the director, like upstream IPVS,
        follows them without a sequence-window check, so a forged one may
        end or reschedule the connection by design."""
        if self.open_conn:
            choices = [(f & ~0x07) or 0x10 for f in choices]
        return self.r.choice(choices)

    def rb(self, n):
        return bytes(self.r.getrandbits(8) for _ in range(n))

    # --- builders -----------------------------------------------------------

    def ip(self, src, dst, proto, payload, ihl=5, tot=None, frag=0x4000, ident=None, opts=b"",
           bad_csum=False, ttl=64):
        if tot is None:
            tot = ihl * 4 if len(opts) + 20 > ihl * 4 else 20 + len(opts)
            tot += len(payload)
        ident = self.r.getrandbits(16) if ident is None else ident
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | (ihl & 0xF), 0, tot & 0xFFFF, ident, frag, ttl, proto, 0,
                        socket.inet_aton(src), socket.inet_aton(dst)) + opts
        c = csum(h)
        if bad_csum:
            c ^= 0x1234
        h = h[:10] + struct.pack("!H", c) + h[12:]
        return h + payload

    def tcp(self, src, sport, dst, dport, flags=0x10, opts=b"", data=b"", doff=None, bad_csum=False,
            seq=None, ack=None):
        if len(opts) % 4:
            opts += b"\0" * (4 - len(opts) % 4)
        if doff is None:
            doff = (20 + len(opts)) // 4
        seq = self.r.getrandbits(32) if seq is None else seq
        ack = self.r.getrandbits(32) if ack is None else ack
        h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff & 0xF) << 4, flags, 65535, 0, 0) + opts
        seg = h + data
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(seg))
        c = csum(pseudo + seg)
        if bad_csum:
            c ^= 0x4321
        return seg[:16] + struct.pack("!H", c) + seg[18:]

    def udp(self, src, sport, dst, dport, data=b"", ulen=None, bad_csum=False):
        ulen = 8 + len(data) if ulen is None else ulen
        seg = struct.pack("!HHHH", sport, dport, ulen & 0xFFFF, 0) + data
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(seg))
        c = csum(pseudo + seg) or 0xFFFF
        if bad_csum:
            c ^= 0x4321
        return seg[:6] + struct.pack("!H", c) + seg[8:]

    def sctp(self, sport, dport, chunks=b"", bad_csum=False, vtag=None):
        vtag = self.r.getrandbits(32) if vtag is None else vtag
        h = struct.pack("!HHII", sport, dport, vtag, 0) + chunks
        c = crc32c(h)
        if bad_csum:
            c ^= 0x5A5A
        return h[:8] + struct.pack("<I", c) + h[12:]

    def l4(self, t, **kw):
        p, src, sport, dst, dport = t
        if p == "tcp":
            return self.tcp(src, sport, dst, dport, **kw)
        if p == "udp":
            return self.udp(src, sport, dst, dport, data=self.rb(self.r.randint(0, 40)))
        init = struct.pack("!BBHIIHHI", 1, 0, 20, self.r.getrandbits(32), 65535, 10, 10, 1)
        return self.sctp(sport, dport, init)

    def pkt(self, t, payload, **kw):
        return self.ip(t[1], t[3], PROTO_NUM[t[0]], payload, **kw)

    # --- classes: each returns one IPv4 packet ------------------------------

    def c_trunc_ip(self):
        t = self.pick()
        full = self.pkt(t, self.l4(t))
        return full[: self.r.randint(1, 19)]

    def c_bad_ihl(self):
        t = self.pick()
        ihl = self.r.choice([0, 1, 4, 6, 15])
        return self.ip(t[1], t[3], PROTO_NUM[t[0]], self.l4(t), ihl=ihl)

    def c_bad_totlen(self):
        t = self.pick()
        seg = self.l4(t)
        tot = self.r.choice([0, 19, 20, 21, 20 + len(seg) // 2, 20 + len(seg) + 1, 20 + len(seg) + 500, 65535])
        return self.ip(t[1], t[3], PROTO_NUM[t[0]], seg, tot=tot)

    def c_trunc_l4(self):
        t = self.pick()
        seg = self.l4(t)
        n = self.r.randint(0, min(len(seg), 20) - 1)
        return self.pkt(t, seg[:n])

    def c_bad_doff(self):
        t = self.pick("tcp")
        data = self.rb(self.r.randint(0, 16))
        doff = self.r.choice([0, 1, 4, 6, 15])
        return self.pkt(t, self.tcp(t[1], t[2], t[3], t[4], flags=self.flags([0x02, 0x10, 0x18]),
                                    data=data, doff=doff))

    def tcp_opts(self):
        r = self.r
        kind = r.choice(["toa", "toa_short", "toa_long", "sack", "sack_bad", "ts_short", "ts_long", "len0",
                         "len1", "overlong", "mss_bad", "ws_bad", "random", "eol_garbage"])
        ip = socket.inet_aton("%d.%d.%d.%d" % tuple(r.getrandbits(8) for _ in range(4)))
        if kind == "toa":
            o = struct.pack("!BBH", 254, 8, r.getrandbits(16)) + ip
        elif kind == "toa_short":
            o = struct.pack("!BBH", 254, r.choice([2, 3, 4, 6]), 80) + ip[:2]
        elif kind == "toa_long":
            o = struct.pack("!BBH", 254, 40, 80) + ip
        elif kind == "sack":
            o = struct.pack("!BB", 5, 34) + self.rb(32)
        elif kind == "sack_bad":
            o = struct.pack("!BB", 5, r.choice([2, 3, 9, 11, 40])) + self.rb(8)
        elif kind == "ts_short":
            o = struct.pack("!BB", 8, r.choice([2, 6, 9])) + self.rb(8)
        elif kind == "ts_long":
            o = struct.pack("!BB", 8, 38) + self.rb(8)
        elif kind == "len0":
            o = struct.pack("!BB", r.choice([2, 3, 4, 5, 8, 254, 30]), 0) + self.rb(6)
        elif kind == "len1":
            o = struct.pack("!BB", r.choice([2, 3, 4, 5, 8, 254, 30]), 1) + self.rb(6)
        elif kind == "overlong":
            o = struct.pack("!BB", r.choice([2, 254, 5, 8]), 255) + self.rb(10)
        elif kind == "mss_bad":
            o = struct.pack("!BBH", 2, r.choice([3, 5]), 0) + b"\1\1\1\1"
        elif kind == "ws_bad":
            o = struct.pack("!BBB", 3, r.choice([2, 4]), 255) + b"\1"
        elif kind == "eol_garbage":
            o = b"\0" + self.rb(15)
        else:
            o = self.rb(r.choice([4, 8, 20, 40]))
        return o[:40]

    def c_tcp_opts(self):
        t = self.pick("tcp")
        flags = self.flags([0x02, 0x10, 0x18, 0x12, 0x11])
        data = self.rb(self.r.randint(0, 32)) if not flags & 0x02 else b""
        return self.pkt(t, self.tcp(t[1], t[2], t[3], t[4], flags=flags, opts=self.tcp_opts(), data=data))

    def c_frags(self):
        t = self.pick()
        ident = self.r.getrandbits(16)
        seg = self.l4(t) + self.rb(self.r.randint(0, 64))
        k = self.r.choice(["first", "later", "overlap", "tiny", "beyond", "mf_last"])
        if k == "first":
            return [self.pkt(t, seg[:8], frag=0x2000, ident=ident)]
        if k == "later":
            return [self.pkt(t, seg[8:], frag=1, ident=ident)]
        if k == "tiny":
            return [self.pkt(t, seg[:1], frag=0x2000, ident=ident), self.pkt(t, seg[1:], frag=0, ident=ident)]
        if k == "beyond":
            return [self.pkt(t, seg[:16], frag=0x2000 | 8191, ident=ident)]
        if k == "mf_last":
            return [self.pkt(t, seg[:16], frag=0x2000, ident=ident), self.pkt(t, self.rb(16), frag=0x2002,
                                                                        ident=ident)]
        # overlapping: 0..16 and 8..40 with different bytes, then the last
        return [self.pkt(t, seg[:16], frag=0x2000, ident=ident),
                self.pkt(t, self.rb(32), frag=0x2001, ident=ident),
                self.pkt(t, self.rb(8), frag=5, ident=ident)]

    def c_bad_csum(self):
        t = self.pick()
        if self.r.random() < 0.5:
            return self.pkt(t, self.l4(t), bad_csum=True)
        p, src, sport, dst, dport = t
        if p == "tcp":
            seg = self.tcp(src, sport, dst, dport, flags=self.flags([0x02, 0x10, 0x18]),
                           data=self.rb(8), bad_csum=True)
        elif p == "udp":
            seg = self.udp(src, sport, dst, dport, data=self.rb(12), bad_csum=True)
        else:
            seg = self.sctp(sport, dport, struct.pack("!BBH", 1, 0, 4), bad_csum=True)
        return self.pkt(t, seg)

    def c_udp_len(self):
        t = self.pick("udp")
        if t[0] != "udp":
            return self.c_trunc_l4()
        data = self.rb(self.r.randint(0, 30))
        ulen = self.r.choice([0, 1, 7, 8 + len(data) + 1, 8 + len(data) + 200, 65535])
        return self.pkt(t, self.udp(t[1], t[2], t[3], t[4], data=data, ulen=ulen))

    def c_sctp_chunks(self):
        t = self.pick("sctp")
        if t[0] != "sctp":
            return self.c_trunc_l4()
        r = self.r
        ctype = r.choice([0, 1, 2, 3, 6, 14, 0xC0, 255])
        clen = r.choice([0, 1, 3, 4, 16, 300])
        chunks = struct.pack("!BBH", ctype, r.getrandbits(8), clen) + self.rb(r.choice([0, 4, 12]))
        return self.pkt(t, self.sctp(t[2], t[4], chunks))

    def c_tcp_flags(self):
        t = self.pick("tcp")
        return self.pkt(t, self.tcp(t[1], t[2], t[3], t[4], flags=self.r.choice(BAD_FLAGS)))

    def c_icmp_err(self):
        t = self.pick()
        p, src, sport, dst, dport = t
        k = self.r.choice(["garbage", "truncated", "quoted_ok", "other_conn", "bad_inner_ihl", "nested"])
        back = (p, dst, dport, src, sport)
        if k == "other_conn":
            back = (p, dst, dport, "10.9.%d.%d" % (self.r.getrandbits(8), self.r.getrandbits(8)),
                    self.r.randint(1, 65535))
        inner = self.pkt(back, self.l4(back))
        if k == "garbage":
            inner = self.rb(self.r.randint(0, 60))
        elif k == "truncated":
            inner = inner[: self.r.randint(0, 27)]
        elif k == "bad_inner_ihl":
            inner = bytes([0x40 | self.r.choice([0, 3, 15])]) + inner[1:]
        elif k == "nested":
            inner = self.ip(dst, src, 1, struct.pack("!BBHI", 3, 3, 0, 0) + inner[:28])
        typ, code = self.r.choice([(3, 0), (3, 1), (3, 3), (3, 4), (11, 0), (12, 0), (4, 0), (3, 99)])
        mtu = self.r.choice([0, 68, 500, 1400, 65535]) if (typ, code) == (3, 4) else 0
        body = struct.pack("!BBHHH", typ, code, 0, 0, mtu) + inner
        c = csum(body)
        if self.r.random() < 0.2:
            c ^= 0x1111
        body = body[:2] + struct.pack("!H", c) + body[4:]
        return self.ip(src, dst, 1, body)

    def c_random(self):
        t = self.pick()
        pkt = bytearray(self.pkt(t, self.l4(t, flags=self.flags([0x02, 0x10]))
                                 if t[0] == "tcp" else self.l4(t)))
        for _ in range(self.r.randint(1, 4)):
            i = self.r.randrange(20, len(pkt)) if len(pkt) > 20 else 0
            # Not the flags of a segment in an open connection: a forged
            # RST or FIN there would end it by design (the director, like
            # upstream IPVS, follows flags without a sequence check).
            if self.open_conn and t[0] == "tcp" and i == 33:
                continue
            pkt[i] = self.r.getrandbits(8)
        return bytes(pkt)

    CLASSES = ["trunc_ip", "bad_ihl", "bad_totlen", "trunc_l4", "bad_doff", "tcp_opts", "frags", "bad_csum",
               "udp_len", "sctp_chunks", "tcp_flags", "icmp_err", "random"]


def parse_target(s):
    p, src, sport, dst, dport = s.split(":")
    if p not in PROTO_NUM:
        raise SystemExit(f"bad target protocol {p!r}")
    return p, src, int(sport), dst, int(dport)


def main():
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    iface, dmac, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    targets = [parse_target(a) for a in sys.argv[5:]]
    print(f"pkt_fuzz seed {seed} count {count} targets {len(targets)}", flush=True)
    rng = random.Random(seed)
    fz = Fuzzer(rng, targets)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    with open(f"/sys/class/net/{iface}/address") as f:
        smac = bytes.fromhex(f.read().strip().replace(":", ""))
    eth = bytes.fromhex(dmac.replace(":", "")) + smac + struct.pack("!H", ETH_P_IP)
    total = 0
    for name in Fuzzer.CLASSES:
        fn = getattr(fz, "c_" + name)
        n = 0
        for _ in range(count):
            out = fn()
            for p in out if isinstance(out, list) else [out]:
                # Minimum Ethernet frame: veth passes short frames as they are.
                s.send(eth + p)
                n += 1
        print(f"sent {name} {n}", flush=True)
        total += n
    print(f"sent total {total}", flush=True)


if __name__ == "__main__":
    main()
