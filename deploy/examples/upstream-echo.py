#!/usr/bin/env python3
"""A stand-in for the server behind Wattle's gateway (docs/mcp.md, docs/api.md).

    python3 upstream-echo.py [PORT]          (default 8401, listens on 127.0.0.1)

It answers every GET/POST/PUT/DELETE with a JSON document of the identity headers it
received (X-Wattle-Sub, X-Wattle-Client-Id, X-Wattle-Scope), whether an Authorization header
got through, and the request body's size, and prints the same on stderr. Replace it with
your real MCP server or API: they read the same headers.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = {
            "method": self.command,
            "path": self.path,
            "x_wattle_sub": self.headers.get("X-Wattle-Sub"),
            "x_wattle_client_id": self.headers.get("X-Wattle-Client-Id"),
            "x_wattle_scope": self.headers.get("X-Wattle-Scope"),
            "authorization_seen": "Authorization" in self.headers,
            "body_bytes": len(body),
        }
        print("upstream saw:", json.dumps(seen), file=sys.stderr, flush=True)
        out = json.dumps(seen, indent=2).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8401
print("upstream listening on http://127.0.0.1:%d" % port, file=sys.stderr, flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
