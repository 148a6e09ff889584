#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A minimal client of ipvs_rs's IPVS_RS generic netlink family (see
Documentation/extension.rst), for the selftests: it speaks the ABI
directly, independently of ipvsctl.

usage: ipvs_rs_ext.py laddr-add|laddr-del tcp|udp VIP:PORT LADDR
       ipvs_rs_ext.py laddr-list tcp|udp VIP:PORT
       ipvs_rs_ext.py toa tcp|udp VIP:PORT on|off
       ipvs_rs_ext.py svc tcp|udp VIP:PORT
Prints "ok", the listing / counters as key=value lines, or
"errno=<n> msg=<extack>" (exit 1).
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from genl_raw import attr, attrs, request  # noqa: E402

NETLINK_GENERIC = 16
NETLINK_EXT_ACK = 11
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 1 << 15

NEW_LADDR, DEL_LADDR, GET_LADDR, SET_SVC, GET_SVC = 1, 2, 3, 4, 5
A_SERVICE, A_LADDR, A_SVC_EXT = 1, 2, 3
SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT = 1, 2, 3, 4
L_AF, L_ADDR, L_CONNS, L_EXHAUSTED = 1, 2, 3, 4
E_TOA, E_WRITTEN, E_SKIPPED, E_EXHAUSTED, E_LADDRS = 1, 2, 3, 4, 5
AF_INET = 2
PROTO = {"tcp": 6, "udp": 17}


def nest(kind, payload):
    return attr(kind | NLA_F_NESTED, payload)


def service(proto, vip):
    host, port = vip.rsplit(":", 1)
    return nest(A_SERVICE,
                attr(SVC_AF, struct.pack("=H", AF_INET))
                + attr(SVC_PROTOCOL, struct.pack("=H", PROTO[proto]))
                + attr(SVC_ADDR, socket.inet_aton(host) + b"\0" * 12)
                + attr(SVC_PORT, struct.pack("!H", int(port))))


def laddr(addr):
    return nest(A_LADDR, attr(L_AF, struct.pack("=H", AF_INET))
                + attr(L_ADDR, socket.inet_aton(addr) + b"\0" * 12))


def messages(buf):
    while len(buf) >= 16:
        ln, typ, _, _, _ = struct.unpack_from("=IHHII", buf)
        yield typ, buf[:ln]
        buf = buf[(ln + 3) & ~3:]


def error_of(msg):
    err = struct.unpack_from("=i", msg, 16)[0]
    if err == 0:
        return None
    flags = struct.unpack_from("=H", msg, 6)[0]
    echoed = 16 if flags & 0x100 else struct.unpack_from("=I", msg, 20)[0]
    off = 20 + ((echoed + 3) & ~3)
    text = attrs(msg[off:]).get(1, b"").rstrip(b"\0").decode()
    return f"errno={-err} msg={text}"


def main():
    op, proto, vip = sys.argv[1], sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    s.setsockopt(270, NETLINK_EXT_ACK, 1)
    s.bind((0, 0))
    resp = request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attr(CTRL_ATTR_FAMILY_NAME, b"IPVS_RS\0"), 1, ack=False)
    a = attrs(resp[20:])
    if CTRL_ATTR_FAMILY_ID not in a:
        print("no IPVS_RS family")
        return 2
    family = struct.unpack("=H", a[CTRL_ATTR_FAMILY_ID][:2])[0]
    svc = service(proto, vip)
    if op in ("laddr-add", "laddr-del"):
        cmd, payload = (NEW_LADDR if op == "laddr-add" else DEL_LADDR), svc + laddr(sys.argv[4])
    elif op == "toa":
        cmd, payload = SET_SVC, svc + nest(A_SVC_EXT, attr(E_TOA, bytes([sys.argv[4] == "on"])))
    elif op == "svc":
        cmd, payload = GET_SVC, svc
    elif op == "laddr-list":
        body = struct.pack("=BBH", GET_LADDR, 1, 0) + svc
        s.send(struct.pack("=IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_DUMP, 3, os.getpid()) + body)
        while True:
            for typ, msg in messages(s.recv(65536)):
                if typ == NLMSG_DONE:
                    return 0
                if typ == NLMSG_ERROR:
                    print(error_of(msg))
                    return 1
                la = attrs(attrs(msg[20:])[A_LADDR])
                print(f"{socket.inet_ntoa(la[L_ADDR][:4])} conns={struct.unpack('=I', la[L_CONNS])[0]}"
                      f" exhausted={struct.unpack('=Q', la[L_EXHAUSTED])[0]}")
    else:
        print(__doc__)
        return 2
    resp = request(s, family, cmd, payload, 2)
    for typ, msg in messages(resp):
        if typ == NLMSG_ERROR:
            e = error_of(msg)
            print(e or "ok")
            return 1 if e else 0
        ext = attrs(attrs(msg[20:])[A_SVC_EXT])
        print(f"toa={ext[E_TOA][0]}")
        for k, name in ((E_WRITTEN, "toa_written"), (E_SKIPPED, "toa_skipped"), (E_EXHAUSTED, "fnat_exhausted")):
            print(f"{name}={struct.unpack('=Q', ext[k])[0]}")
        print(f"laddrs={struct.unpack('=I', ext[E_LADDRS])[0]}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
