#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Send one hand-built IPVS generic netlink request and print the kernel's
answer: "ok", or "errno=<n> msg=<extended ack message>". Used by the
selftests to send what ipvsadm never would (missing or malformed fields).

usage: genl_raw.py <cmd number> <hex attribute payload>
"""
import os
import socket
import struct
import sys

NETLINK_GENERIC = 16
NETLINK_EXT_ACK = 11
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
NLMSGERR_ATTR_MSG = 1


def attr(kind, payload):
    ln = 4 + len(payload)
    return struct.pack("=HH", ln, kind) + payload + b"\0" * ((4 - ln % 4) % 4)


def request(sock, family, cmd, payload, seq, ack=True):
    body = struct.pack("=BBH", cmd, 1, 0) + payload
    flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
    hdr = struct.pack("=IHHII", 16 + len(body), family, flags, seq, os.getpid())
    sock.send(hdr + body)
    return sock.recv(65536)


def attrs(buf):
    out = {}
    while len(buf) >= 4:
        ln, kind = struct.unpack_from("=HH", buf)
        if ln < 4:
            break
        out[kind & 0x3FFF] = buf[4:ln]
        buf = buf[(ln + 3) & ~3:]
    return out


def main():
    cmd = int(sys.argv[1])
    payload = bytes.fromhex(sys.argv[2]) if len(sys.argv) > 2 else b""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    s.setsockopt(270, NETLINK_EXT_ACK, 1)
    s.bind((0, 0))
    resp = request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attr(CTRL_ATTR_FAMILY_NAME, b"IPVS\0"), 1, ack=False)
    a = attrs(resp[20:])
    if CTRL_ATTR_FAMILY_ID not in a:
        print("no IPVS family")
        return 2
    family = struct.unpack("=H", a[CTRL_ATTR_FAMILY_ID][:2])[0]
    resp = request(s, family, cmd, payload, 2)
    _, typ, flags, _, _ = struct.unpack_from("=IHHII", resp)
    if typ != NLMSG_ERROR:
        print("reply")
        return 0
    err = struct.unpack_from("=i", resp, 16)[0]
    if err == 0:
        print("ok")
        return 0
    # With NLM_F_CAPPED (0x100) the echoed request is only its header.
    echoed = 16 if flags & 0x100 else struct.unpack_from("=I", resp, 20)[0]
    off = 20 + ((echoed + 3) & ~3)
    msg = attrs(resp[off:]).get(NLMSGERR_ATTR_MSG, b"").rstrip(b"\0").decode()
    print(f"errno={-err} msg={msg}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
