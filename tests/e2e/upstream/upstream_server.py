"""A small upstream HTTP(S) server for the gateway's end-to-end tests (tests/e2e/test_gateway.py),
and for trying the proxy by hand:  python3 upstream_server.py [PORT]

Python 3 standard library only. Threaded, HTTP/1.1 with keep-alive (like a real API behind
Wattle). Every request is recorded (method, path, headers as sent, body) for the test to
inspect. Routes, whatever the path prefix before them:
  .../sse?n=3&gap=1.5&quiet=0   text/event-stream, chunked: after `quiet` seconds, n events
                        `gap` seconds apart; each event's
                         data is "<index> <unix time it was sent>"
  .../status/<code>      answers <code> with the text body "upstream says <code>"
  anything else          200 JSON echo of the request: method, path, headers ([name, value]
                         pairs in order), body length and SHA-256; with CORS headers of its own
                         (a credentialed origin the gateway must replace), X-Upstream: yes and
                         Mcp-Session-Id: s-1
"""

import hashlib
import http.server
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream/1"

    def log_message(self, fmt, *args):  # quiet: the tests read .requests instead
        pass

    def setup(self):
        super().setup()
        self.server.owner._track(self.connection)

    def _record(self, body):
        self.server.owner._record({
            "method": self.command,
            "path": self.path,
            "headers": [(k, v) for k, v in self.headers.items()],
            "body": body,
        })

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        body = self._body()
        self._record(body)
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.rstrip("/").split("/")
        if parts[-1] == "sse":
            return self._sse(urllib.parse.parse_qs(u.query))
        if len(parts) >= 2 and parts[-2] == "status" and parts[-1].isdigit():
            return self._plain(int(parts[-1]), ("upstream says %s" % parts[-1]).encode())
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Access-Control-Allow-Origin", "https://evil.example")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Access-Control-Expose-Headers", "X-Secret")
        self.send_header("X-Upstream", "yes")
        self.send_header("Mcp-Session-Id", "s-1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _plain(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _sse(self, q):
        n = int(q.get("n", ["3"])[0])
        gap = float(q.get("gap", ["1.5"])[0])
        quiet = float(q.get("quiet", ["0"])[0])  # silence after the head, before event 0
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            time.sleep(quiet)
            for i in range(n):
                if i:
                    time.sleep(gap)
                ev = ("data: %d %.3f\n\n" % (i, time.time())).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Upstream:
    """The server on 127.0.0.1:port (0: any free port). start() / stop() may be repeated; stop()
    also cuts the keep-alive connections it holds, so the port really goes dead."""

    def __init__(self, port=0, tls=None):
        self.port = port
        self.tls = tls  # (certificate chain file, key file): serve https
        self.requests = []
        self._lock = threading.Lock()
        self._conns = set()
        self._srv = None
        self._thread = None

    def _record(self, r):
        with self._lock:
            self.requests.append(r)

    def _track(self, conn):
        with self._lock:
            self._conns.add(conn)

    def start(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        srv.daemon_threads = True
        srv.owner = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self._srv = srv
        self.port = srv.server_address[1]
        self._thread = threading.Thread(target=srv.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self._srv:
            return
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        self._srv = None

    def last(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def count(self):
        with self._lock:
            return len(self.requests)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":
    up = Upstream(int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print("http://127.0.0.1:%d" % up.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        up.stop()
