#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A stock HTTP server for `make demo` that answers with the client
address it sees (getpeername(), via accept()): NAME PORT."""
import http.server
import sys

name, port = sys.argv[1], int(sys.argv[2])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} sees the client as {self.client_address[0]}:{self.client_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
