#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Generates fixtures.rs: packets built by scapy for the packet tests.

Run with the system python (python3-scapy):
    /usr/bin/python3 rust/core/src/packet/fixtures.py > rust/core/src/packet/fixtures.rs
    rustfmt --edition 2021 rust/core/src/packet/fixtures.rs

Addresses: client C 10.0.0.2, virtual service VIP 10.0.1.100 (TCP 80,
UDP 53, SCTP 80), real server RS 10.0.2.11 (TCP 8080, UDP 5353,
SCTP 8080), director 10.0.0.1, routers 192.168.1.1 (client side) and
10.0.2.1 (real-server side).
"""
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (  # noqa: E402
    ICMP,
    IP,
    SCTP,
    TCP,
    UDP,
    IPOption,
    Raw,
    SCTPChunkData,
)

C, VIP, RS, DIP = "10.0.0.2", "10.0.1.100", "10.0.2.11", "10.0.0.1"
R_CLIENT, R_RS = "192.168.1.1", "10.0.2.1"

out = {}
docs = {}


def fix(name, pkt, doc):
    out[name] = bytes(pkt)
    docs[name] = doc


def syn(dst, dport):
    return IP(src=C, dst=dst, id=1, ttl=64, flags="DF") / TCP(
        sport=40000, dport=dport, flags="S", seq=1, window=64240
    )


fix("TCP_SYN", syn(VIP, 80), "TCP SYN C:40000 -> VIP:80.")
fix("TCP_SYN_DNAT", syn(RS, 8080), "TCP_SYN after DNAT to RS:8080.")


def synack(src, sport):
    return IP(src=src, dst=C, id=0, ttl=64, flags="DF") / TCP(
        sport=sport, dport=40000, flags="SA", seq=1000, ack=2, window=65160
    )


fix("TCP_SYNACK_RS", synack(RS, 8080), "TCP SYN-ACK RS:8080 -> C:40000.")
fix("TCP_SYNACK_SNAT", synack(VIP, 80), "TCP_SYNACK_RS after SNAT to VIP:80.")

TCP_OPTS = [
    ("NOP", None),
    ("NOP", None),
    ("Timestamp", (123456, 654321)),
]


def opts_data(dst, dport):
    return (
        IP(src=C, dst=dst, id=0x4242, ttl=63, tos=0x10, options=[IPOption(b"\x01\x01\x01\x00")])
        / TCP(sport=40000, dport=dport, flags="PA", seq=2, ack=1001, window=502, options=TCP_OPTS)
        / Raw(b"GET / HTTP/1.0\r\n\r\n!")
    )


fix(
    "TCP_OPTS_DATA",
    opts_data(VIP, 80),
    "TCP PSH-ACK with IP options, TCP options and an odd-length payload, C:40000 -> VIP:80.",
)
fix("TCP_OPTS_DATA_DNAT", opts_data(RS, 8080), "TCP_OPTS_DATA after DNAT to RS:8080.")


def udp(dst, dport):
    return IP(src=C, dst=dst, id=7, ttl=64) / UDP(sport=40001, dport=dport) / Raw(
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    )


fix("UDP_DNS", udp(VIP, 53), "UDP C:40001 -> VIP:53 (a DNS query).")
fix("UDP_DNS_DNAT", udp(RS, 5353), "UDP_DNS after DNAT to RS:5353.")


def udp_reply(src, sport):
    return IP(src=src, dst=C, id=9, ttl=64) / UDP(sport=sport, dport=40001) / Raw(b"abc")


fix("UDP_REPLY_RS", udp_reply(RS, 5353), "UDP RS:5353 -> C:40001, odd payload.")
fix("UDP_REPLY_SNAT", udp_reply(VIP, 53), "UDP_REPLY_RS after SNAT to VIP:53.")


def sctp(dst, dport):
    return (
        IP(src=C, dst=dst, id=3, ttl=64)
        / SCTP(sport=5000, dport=dport, tag=0x01020304)
        / SCTPChunkData(tsn=1, stream_id=0, stream_seq=0, proto_id=0, data=b"hello")
    )


fix("SCTP_DATA", sctp(VIP, 80), "SCTP DATA C:5000 -> VIP:80.")
fix("SCTP_DATA_DNAT", sctp(RS, 8080), "SCTP_DATA after DNAT to RS:8080.")

fix(
    "ICMP_ECHO",
    IP(src=C, dst=VIP, id=5, ttl=64) / ICMP(type=8, id=0x77, seq=1) / Raw(b"ping"),
    "ICMP echo request C -> VIP.",
)


def icmp_err(src, dst, typ, code, quoted, **kw):
    return IP(src=src, dst=dst, id=0x99, ttl=64, tos=0xc0) / ICMP(type=typ, code=code, **kw) / Raw(quoted)


syn_dnat = bytes(syn(RS, 8080))
syn_orig = bytes(syn(VIP, 80))
fix(
    "ICMP_PORT_UNREACH_FROM_RS",
    icmp_err(RS, C, 3, 3, syn_dnat),
    "Port unreachable RS -> C quoting all of TCP_SYN_DNAT.",
)
fix(
    "ICMP_PORT_UNREACH_TO_CLIENT",
    icmp_err(VIP, C, 3, 3, syn_orig),
    "ICMP_PORT_UNREACH_FROM_RS after NAT (out): VIP -> C quoting TCP_SYN.",
)

data_dnat = bytes(opts_data(RS, 8080))
data_orig = bytes(opts_data(VIP, 80))
fix(
    "ICMP_FRAG_NEEDED_FROM_RS_SIDE",
    icmp_err(R_RS, C, 3, 4, data_dnat, nexthopmtu=1400),
    "Frag needed (MTU 1400) from a router on the RS side, R -> C, quoting TCP_OPTS_DATA_DNAT.",
)
fix(
    "ICMP_FRAG_NEEDED_FROM_RS_SIDE_NAT",
    icmp_err(VIP, C, 3, 4, data_orig, nexthopmtu=1400),
    "ICMP_FRAG_NEEDED_FROM_RS_SIDE after NAT (out).",
)


def reply_data(src, sport):
    return (
        IP(src=src, dst=C, id=0x1111, ttl=64, flags="DF")
        / TCP(sport=sport, dport=40000, flags="PA", seq=1001, ack=21, window=509)
        / Raw(b"HTTP/1.0 200 OK\r\n" * 4)
    )


reply_snat = bytes(reply_data(VIP, 80))
reply_orig = bytes(reply_data(RS, 8080))
fix(
    "ICMP_FRAG_NEEDED_TO_VIP",
    icmp_err(R_CLIENT, VIP, 3, 4, reply_snat[:28], nexthopmtu=1280),
    "Frag needed (MTU 1280) from a client-side router to VIP, quoting IP header + 8 bytes of "
    "a reply VIP:80 -> C:40000.",
)
fix(
    "ICMP_FRAG_NEEDED_TO_RS",
    icmp_err(R_CLIENT, RS, 3, 4, reply_orig[:28], nexthopmtu=1280),
    "ICMP_FRAG_NEEDED_TO_VIP after NAT (in): R -> RS quoting RS:8080 -> C:40000.",
)
fix(
    "ICMP_TIME_EXCEEDED_TO_VIP",
    icmp_err(R_CLIENT, VIP, 11, 0, reply_snat),
    "Time exceeded R -> VIP quoting the whole reply VIP:80 -> C:40000.",
)
fix(
    "ICMP_TIME_EXCEEDED_TO_RS",
    icmp_err(R_CLIENT, RS, 11, 0, reply_orig),
    "ICMP_TIME_EXCEEDED_TO_VIP after NAT (in).",
)
fix(
    "ICMP_UDP_UNREACH_FROM_RS",
    icmp_err(RS, C, 3, 3, bytes(udp(RS, 5353))),
    "Port unreachable RS -> C quoting UDP_DNS_DNAT.",
)
fix(
    "ICMP_UDP_UNREACH_TO_CLIENT",
    icmp_err(VIP, C, 3, 3, bytes(udp(VIP, 53))),
    "ICMP_UDP_UNREACH_FROM_RS after NAT (out).",
)
fix(
    "ICMP_PARAM_PROBLEM",
    icmp_err(R_CLIENT, VIP, 12, 0, reply_snat[:28], ptr=20),
    "Parameter problem (pointer 20) R -> VIP quoting 28 bytes of a reply.",
)
fix(
    "ICMP_QUENCH_TO_VIP",
    icmp_err(R_CLIENT, VIP, 4, 0, reply_snat[:28]),
    "Source quench R -> VIP quoting 28 bytes of a reply.",
)

inner_ce = IP(src=C, dst=VIP, id=2, ttl=17, tos=0xbb, flags="DF") / TCP(
    sport=40000, dport=80, flags="A", seq=5, ack=6
)
fix(
    "IPIP_SYN",
    IP(src=DIP, dst=RS, id=0x1234, ttl=64, tos=0, flags="DF", proto=4) / syn(VIP, 80),
    "TCP_SYN encapsulated DIP -> RS (id 0x1234, DF copied).",
)
fix("INNER_CE", inner_ce, "TCP ACK with DSCP 46 and ECN CE, TTL 17, DF.")
fix(
    "IPIP_CE",
    IP(src=DIP, dst=RS, id=0xbeef, ttl=17, tos=0xba, flags="DF", proto=4) / inner_ce,
    "INNER_CE encapsulated: CE becomes ECT(0) in the outer header.",
)

print("// SPDX-License-Identifier: GPL-2.0")
print("//! Test packets generated by scapy (`fixtures.py`; do not edit).")
print()
for name, b in out.items():
    print(f"/// {docs[name]}")
    print(f"pub const {name}: [u8; {len(b)}] = [")
    print(", ".join(f"0x{x:02x}" for x in b))
    print("];")
