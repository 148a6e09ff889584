#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A TCP server that expects a PROXY protocol header (v1 or v2) at the
start of every connection, as nginx/haproxy with proxy_protocol do.

    pp_server.py PORT echo    first line "PP v<N> SRC:SPORT DST:DPORT", then
                              everything else the client sends, echoed
    pp_server.py PORT banner  the same line at once (the server speaks
                              first; the client sends nothing), then close

A connection whose stream does not start with a well-formed header gets
"BAD <what>" and is closed. Connections are served in threads.
"""
import ipaddress
import os
import socket
import socketserver
import struct
import sys

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(sock, n, buf):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"eof after {len(buf)} of {n} header bytes")
        buf += chunk
    return buf


def parse_header(sock):
    """Returns (version, src, sport, dst, dport, rest of the bytes read)."""
    buf = read_exact(sock, 16, b"")
    if buf.startswith(V2_SIG):
        ver_cmd, fam, length = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
        if ver_cmd != 0x21:
            raise ValueError(f"v2 version/command {ver_cmd:#x}")
        buf = read_exact(sock, 16 + length, buf)
        body = buf[16:16 + length]
        if fam == 0x11 and length >= 12:
            src, dst = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
            sport, dport = struct.unpack("!HH", body[8:12])
        elif fam == 0x21 and length >= 36:
            src, dst = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
            sport, dport = struct.unpack("!HH", body[32:36])
        else:
            raise ValueError(f"v2 family {fam:#x} length {length}")
        return 2, src, sport, dst, dport, buf[16 + length:]
    if buf.startswith(b"PROXY "):
        while b"\r\n" not in buf:
            if len(buf) > 107:
                raise ValueError("v1 line too long")
            chunk = sock.recv(1)
            if not chunk:
                raise EOFError("eof in v1 line")
            buf += chunk
        line, rest = buf.split(b"\r\n", 1)
        parts = line.decode().split(" ")
        if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
            raise ValueError(f"v1 line {line!r}")
        src, dst = ipaddress.ip_address(parts[2]), ipaddress.ip_address(parts[3])
        return 1, src, int(parts[4]), dst, int(parts[5]), rest
    raise ValueError(f"no header: {buf[:16]!r}")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        # 60 s without progress, longer on slow (debug) kernels.
        s.settimeout(60 * float(os.environ.get("TIMEOUT_SCALE", "1") or 1))
        try:
            ver, src, sport, dst, dport, rest = parse_header(s)
        except (ValueError, EOFError, OSError) as e:
            try:
                s.sendall(f"BAD {e}\n".encode())
            except OSError:
                pass
            return
        s.sendall(f"PP v{ver} {src}:{sport} {dst}:{dport}\n".encode())
        if self.server.mode == "banner":
            return
        if rest:
            s.sendall(rest)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    srv = Server(("0.0.0.0", port), Handler)
    srv.mode = mode
    srv.serve_forever()


if __name__ == "__main__":
    main()
