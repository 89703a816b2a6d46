"""A seeded, bounded mutation fuzz test of the running server (SPEC §2, §3, §5, §7): hostile
input must never crash it, hang it, get a 5xx, or make it log a secret. It complements
test_negative.py (hand-written cases, exact answers) with random input and coarse assertions.

One server (the harness's usual `wattle serve` on a free port, LMDB in a temp dir; rate limits
off, code_ttl 600, log_level debug so that every log line is checked) with a confidential
client, a public client, a resource-server client (client_credentials, may introspect) and a
user. From the valid requests obtained with them (the seeds: an authorize query, the consent
form POST, code redemptions (form + Basic, and JSON from the public client), a refresh, a
client_credentials request, a CORS preflight, a revoke, an introspection, a dynamic
registration, GET and POST /mcp with a bearer token, userinfo, forward-auth in the nginx and
Envoy styles, and the well-known documents, JWKS and /healthz), MUTATIONS_PER_SEED mutants per
seed are sent over raw sockets (so that broken framing can be sent too), each made of one to
three random operations on the request's structure (parameters dropped, duplicated, truncated,
replaced by huge values up to ~1 MB bodies and ~64 KB query strings and headers, invalid UTF-8,
NUL, percent-encoding garbage; JSON type confusion, ~10000-level nesting, duplicate keys;
Content-Type wrong, missing or twice; Authorization garbage: Basic with bad base64, no colon,
huge; Bearer with random or almost-valid tokens, a real token with one character changed;
other methods, HTTP/1.0, chunked bodies, Expect), and in about a quarter of them one more
operation on the bytes (byte flips, truncation, wrong or duplicated Content-Length, broken
chunking, bare LF, header folding, control bytes, raw bytes in the request target, a bad
version, pipelining, an HTTP/2 preface followed by junk, more than 100 header fields, or a
connection reset 0-100 ms after sending, while the request may be in a worker).

Assertions, for every request: an answer within REQUEST_TIMEOUT (a hang fails); no 5xx (SPEC
§2 and §7: "never a crash, a 500"; SPEC documents no 503 for bad input, so every 5xx fails);
the error answers of the OAuth endpoints (token, revoke, introspect, register and their root
aliases) are JSON objects with an "error" string; the server process is still running and has
printed no sanitizer report. Two kinds of request are h2o's business, not Wattle's: a request
that is not valid HTTP/1.1 (the byte-level operations) is refused by h2o with a plain-text 400
or a close, so a close without an answer is accepted for it; and valid HTTP that h2o refuses
before any handler runs (more than H2O_MAX_HEADERS = 100 header fields: plain 400; an Expect
other than 100-continue: plain 417) must be answered but need not be JSON. Neither may be a
5xx. At the end the server is
stopped the harness's way (which fails on an ASan/UBSan report when WATTLE_SANITIZED=1), and
its stdout and stderr must contain no client secret, no password, no token or code that was
sent or received (12-character windows of their secret halves are searched, so masked
identifiers pass), and nothing shaped like a whole token.

Budget: MUTATIONS_PER_SEED = 200 mutants per seed, 19 seeds, about 3800 requests; measured on
the 2-core development machine (whole file, server start and stop included): about 10 s with
the Debug build and 13 s with the ASan build (the Python side dominates; N = 250 took 12.7 s
and 16.4 s). The mutations depend only on the seed (WATTLE_FUZZ_SEED, default below) and the
seed requests, so a failure reproduces with the seed it prints (the tokens differ from run to
run, the operations do not); each failing request is also saved to a file whose path the
failure message gives, with a one-line reproducer. WATTLE_FUZZ_N overrides the number of
mutants per seed (a long local run: WATTLE_FUZZ_N=1000 and a few seeds), WATTLE_FUZZ_STATS=1
prints the statuses seen per seed.
"""

import base64
import collections
import copy
import json
import os
import random
import re
import socket
import struct
import tempfile
import time
import unittest
import urllib.parse

from harness import (SANITIZED, Browser, SharedServerTestCase, add_client, add_user,
                     basic_auth, form_fields, obtain_code, pkce_pair, redeem_code,
                     sanitizer_report)

SEED = int(os.environ.get("WATTLE_FUZZ_SEED", "20261122"))
MUTATIONS_PER_SEED = int(os.environ.get("WATTLE_FUZZ_N", "200"))
REQUEST_TIMEOUT = 10.0
# A malformed request that h2o is still reading (a Content-Length longer than the body, a
# flipped byte in it) gets no answer until the client closes its side: after this much
# silence the fuzzer half-closes the connection and waits for the answer or the close.
IDLE_BEFORE_HALF_CLOSE = 0.5 if SANITIZED else 0.25
MAX_FAILURES_SHOWN = 3

REDIRECT = "https://app.example/cb"
PASSWORD = "fuzz-Pa55word-q7XzK2m"
USERNAME = "alice"
MAX_BODY = 65536  # the default max_body_bytes (not overridden below)
H2O_MAX_HEADERS = 100  # h2o.h (libh2o 2.2.5): more header fields are a plain 400
OAUTH_JSON_PATHS = {b"/oauth/token", b"/token", b"/oauth/revoke", b"/revoke",
                    b"/oauth/introspect", b"/oauth/register", b"/register"}
TOKEN_RE = re.compile(r"\b(oat|ort|oac|ocs|ora)_[A-Za-z0-9_-]{43}")
TOKEN_PREFIXES = ("oat_", "ort_", "oac_", "ocs_", "ora_")
URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE",
           b"CONNECT", b"get", b"FUZZ", b"PROPFIND", b"M" * 300]
SENTINEL = "__wattle_fuzz_splice__"


# ---------------------------------------------------------------------------------- requests


class Req:
    """A request the fuzzer builds and mutates: method, path, query (list of (name, value)
    bytes pairs, already encoded, or None), headers (list of (name, value) bytes), a body
    (kind None | "form" (pairs like query) | "json" (a Python value) | "raw" (bytes)), and how
    to frame it. `malformed` marks requests that are not valid HTTP/1.1 after mutation."""

    def __init__(self, method, path, query=None, headers=(), kind=None, body=None):
        self.method = method
        self.path = path
        self.query = query
        self.headers = list(headers)
        self.kind = kind
        self.body = body
        self.version = b"HTTP/1.1"
        self.chunked = False      # send the body chunked (else with Content-Length)
        self.malformed = False
        self.secret_in_target = False  # no byte-level operation then (see op_param)
        # valid HTTP that h2o itself refuses before Wattle routes it (an Expect other than
        # 100-continue: 417; more than H2O_MAX_HEADERS fields: 400), in plain text
        self.h2o_refuses = False
        self.alt_paths = ()            # other paths the same mutants are sent to
        self.half_close = False   # close our side right after sending (h2o waits for more)
        self.abort_after = None   # reset the connection this many seconds after sending
        self.expect_responses = 1
        self.ops = []

    def clone(self):
        return copy.deepcopy(self)

    def header(self, name):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    def set_header(self, name, value):
        self.remove_header(name)
        self.headers.append((name, value))

    def remove_header(self, name):
        n = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != n]

    def body_bytes(self):
        if self.kind is None:
            return None
        if self.kind == "form":
            return join_pairs(self.body)
        if self.kind == "json":
            return json.dumps(self.body).encode()
        return self.body

    def target(self):
        if self.query is None:
            return self.path
        return self.path + b"?" + join_pairs(self.query)

    def serialize(self, host):
        body = self.body_bytes()
        hdrs = list(self.headers)
        names = {k.lower() for k, _ in hdrs}
        if b"host" not in names:
            hdrs.insert(0, (b"Host", host))
        if body is not None and self.chunked:
            hdrs.append((b"Transfer-Encoding", b"chunked"))
            body = chunk(body)
        elif b"content-length" not in names and (
                body is not None or self.method in (b"POST", b"PUT", b"PATCH")):
            hdrs.append((b"Content-Length", b"%d" % len(body or b"")))
        hdrs.append((b"Connection", b"close"))
        head = self.method + b" " + self.target() + b" " + self.version + b"\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in hdrs) + b"\r\n"
        return head + (body or b"")


def join_pairs(pairs):
    return b"&".join(k if v is None else k + b"=" + v for k, v in pairs)


def enc(s):
    """A form/query component, encoded."""
    return urllib.parse.quote_plus(s).encode()


def pairs_of(items):
    return [(enc(k), enc(v)) for k, v in items]


def chunk(body, size=None):
    out, i = [], 0
    size = size or max(1, len(body) // 3)
    while i < len(body):
        part = body[i:i + size]
        out.append(b"%x\r\n%s\r\n" % (len(part), part))
        i += size
    return b"".join(out) + b"0\r\n\r\n"


# ---------------------------------------------------------------------------------- responses


class Answer:
    """What came back: the parsed responses (status, headers dict lower-case -> last value,
    body), the raw bytes, and how the exchange ended."""

    def __init__(self):
        self.raw = b""
        self.responses = []
        self.eof = False
        self.error = None      # a socket error while sending or reading, as text
        self.timed_out = False
        self.non_http = False  # bytes that are no HTTP/1 response (an HTTP/2 SETTINGS frame)


def parse_responses(data, head_request):
    """Complete HTTP/1 responses at the start of data: (list, bytes consumed, non_http)."""
    out, pos, first_final = [], 0, True
    while pos < len(data):
        if not data.startswith(b"HTTP/", pos):
            return out, pos, True
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        lines = data[pos:end].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return out, pos, True
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        p = end + 4
        if 100 <= status < 200:
            out.append((status, headers, b""))
            pos = p
            continue
        if (head_request and first_final) or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, q = b"", p
            while True:
                le = data.find(b"\r\n", q)
                if le < 0:
                    return out, pos, False
                try:
                    n = int(data[q:le].split(b";")[0], 16)
                except ValueError:
                    return out, pos, True
                if n == 0:
                    te = data.find(b"\r\n\r\n", le)
                    if te < 0:
                        return out, pos, False
                    p = te + 4
                    break
                if len(data) < le + 2 + n + 2:
                    return out, pos, False
                body += data[le + 2:le + 2 + n]
                q = le + 2 + n + 2
        elif "content-length" in headers:
            try:
                n = int(headers["content-length"])
            except ValueError:
                return out, pos, True
            if len(data) < p + n:
                break
            body = data[p:p + n]
            p += n
        else:
            body = data[p:]  # until the close; complete only at EOF
            p = len(data)
        first_final = False
        out.append((status, headers, body))
        pos = p
    return out, pos, False


def exchange(host, port, data, req, timeout=REQUEST_TIMEOUT):
    """Sends data on a fresh connection and reads until the answers expected are complete,
    the server closes, or timeout. A malformed request the server keeps reading is
    half-closed after IDLE_BEFORE_HALF_CLOSE of silence."""
    a = Answer()
    deadline = time.monotonic() + timeout
    head = req.method.upper() == b"HEAD"
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.sendall(data)
            if req.half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:  # the server answered (413, 400) and closed while we sent
            a.error = "send: %s" % e
        if req.abort_after is not None:
            # The client goes away while its request may still be in a worker (a password
            # hash, the store's writer): RST, not FIN.
            time.sleep(req.abort_after)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            a.error = "reset by the fuzzer"
            return a
        half_closed = req.half_close or a.error is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                a.timed_out = True
                break
            wait = left
            if req.malformed and not half_closed:
                wait = min(left, IDLE_BEFORE_HALF_CLOSE)
            s.settimeout(wait)
            try:
                b = s.recv(1 << 20)
            except socket.timeout:
                if req.malformed and not half_closed:
                    half_closed = True
                    try:
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                a.timed_out = True
                break
            except OSError as e:
                a.error = (a.error + "; " if a.error else "") + "recv: %s" % e
                break
            if not b:
                a.eof = True
                break
            a.raw += b
            resp, _, non_http = parse_responses(a.raw, head)
            finals = [r for r in resp if r[0] >= 200]
            if non_http or (req.expect_responses and len(finals) >= req.expect_responses
                            and not (finals[-1][2] and "content-length" not in finals[-1][1]
                                     and "transfer-encoding" not in finals[-1][1])):
                break
    finally:
        s.close()
    a.responses, _, a.non_http = parse_responses(a.raw, head)
    return a


# ---------------------------------------------------------------------------------- values


def flip_char(rng, s):
    """s (str) with one character replaced by another URL-safe character."""
    if not s:
        return "x"
    i = rng.randrange(len(s))
    c = rng.choice(URL_SAFE.replace(s[i], "")) if s[i] in URL_SAFE else "A"
    return s[:i] + c + s[i + 1:]


def almost_token(rng, tok):
    """A token one step away from a valid one."""
    choice = rng.randrange(8)
    if choice < 3:
        i = rng.randrange(4, len(tok))  # keep the prefix: a flipped selector or secret
        c = rng.choice(URL_SAFE.replace(tok[i], ""))
        return tok[:i] + c + tok[i + 1:]
    return [tok[:-1], tok + "A", tok[4:], "oat_" + tok[4:] if not tok.startswith("oat_")
            else "ort_" + tok[4:], tok.upper()][choice - 3]


def random_token(rng):
    return rng.choice(TOKEN_PREFIXES) + "".join(rng.choice(URL_SAFE) for _ in range(43))


def garbage(rng, fz, room, raw_ok):
    """(bytes, description): a hostile value, already encoded for a query or form unless
    raw_ok (a body, where raw bytes are valid HTTP). room: the largest size allowed."""
    sizes = [n for n in (300, 4096, 65536, 1 << 20) if n <= room] or [64]
    kind = rng.randrange(14)
    if kind == 0:
        return b"", "empty"
    if kind == 1:
        n = rng.choice(sizes)
        return b"A" * n, "huge %d" % n
    if kind == 2:
        n = rng.choice(sizes)
        return enc("".join(rng.choice(URL_SAFE + "é/ %&=+") for _ in range(min(n, 20000)))), \
            "huge mixed"
    if kind == 3:
        v = rng.choice([b"%", b"%G1", b"%00", b"%%", b"%e9", b"%C0%80", b"%2", b"%ZZ%",
                        b"%ED%A0%80", b"%FF%FE", b"abc%", b"%0D%0A", b"%u0041"])
        return v, "percent garbage %r" % v
    if kind == 4:
        v = b"\xff\xfe\xc0\x80\xed\xa0\x80" if raw_ok else b"%FF%FE%C0%80%ED%A0%80"
        return v, "invalid UTF-8"
    if kind == 5:
        v = b"a\x00b" if raw_ok else b"a%00b"
        return v, "NUL"
    if kind == 6:
        v = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        if not raw_ok:
            v = urllib.parse.quote_from_bytes(v).encode()
        return v, "random bytes"
    if kind == 7:
        return rng.choice([b"-1", b"0", b"99999999999999999999999", b"1e400", b"NaN",
                           b"null", b"true", b"[]", b"{}"]), "number-ish"
    if kind == 8 and fz.tokens and raw_ok:
        return enc(almost_token(rng, rng.choice(fz.tokens))), "almost-valid token"
    if kind == 9 and raw_ok:
        return enc(random_token(rng)), "random token"
    if kind == 10:
        return enc("日本語 ☃ \U0001F600"), "non-ASCII"
    if kind == 11:
        return enc("<script>\"'\\"), "markup and quotes"
    if kind == 12:
        return b"a=b&c", "unencoded separators"
    return enc("x" * rng.randrange(1, 300)), "short"


def huge_header_value(rng):
    n = rng.choice([4096, 16384, 65000])
    return b"h" * n, n


def nested(n, rng):
    if rng.random() < 0.5:
        return b"[" * n + b"]" * n
    return b'{"a":' * n + b"1" + b"}" * n


# ---------------------------------------------------------------------------------- mutations
# Structural operations keep the request valid HTTP/1.1 (the answer must come from Wattle);
# byte-level operations set req.malformed.


def params_of(rng, req):
    """The mutable parameter list: the query, or a form body."""
    if req.query is not None and (req.kind != "form" or rng.random() < 0.5):
        return req.query, False
    if req.kind == "form":
        return req.body, True
    return None, False


def op_param(rng, req, fz):
    pairs, in_body = params_of(rng, req)
    if pairs is None:
        return op_header(rng, req, fz)
    room = (1 << 20) if in_body else 65536
    k = rng.randrange(11)
    if k == 10 and not in_body:
        # SPEC §5: a token in the query string. The request target is logged (without its
        # query), so no byte-level operation may follow: it could turn the query into path.
        pairs.append((b"access_token", enc(fz.gw_token)))
        req.secret_in_target = True
        return "access_token in the query"
    if k == 10:
        k = 0
    i = rng.randrange(len(pairs)) if pairs else None
    if i is None or k == 0:
        v, d = garbage(rng, fz, room, in_body)
        name = rng.choice([b"", b"x", b"%00", b"a%", b"code", b"scope", b"resource",
                           b"client_id", b"state", b"nonce", b"token"])
        pairs.insert(rng.randrange(len(pairs) + 1), (name, v))
        return "add %r=%s" % (name, d)
    name = pairs[i][0]
    if k == 1:
        del pairs[i]
        return "drop %r" % name
    if k == 2:
        pairs.append(pairs[i])
        return "duplicate %r" % name
    if k == 3:
        v, d = garbage(rng, fz, room, in_body)
        pairs.insert(i + 1, (name, v))
        return "duplicate %r with %s" % (name, d)
    if k == 4:
        val = pairs[i][1] or b""
        pairs[i] = (name, val[:rng.randrange(len(val) + 1)])
        return "truncate %r" % name
    if k == 5:
        val = urllib.parse.unquote_plus((pairs[i][1] or b"").decode("latin-1"))
        if val.startswith(TOKEN_PREFIXES):
            pairs[i] = (name, enc(almost_token(rng, val)))
            return "almost-valid %r" % name
        pairs[i] = (name, enc(flip_char(rng, val)))
        return "flip a character of %r" % name
    if k == 6:
        pairs[i] = (name, None)
        return "%r without =" % name
    if k == 7:
        pairs[i] = (name + rng.choice([b"%00", b"[]", b"%20", b".", b"%"]), pairs[i][1])
        return "mangle the name %r" % name
    v, d = garbage(rng, fz, room, in_body)
    pairs[i] = (name, v)
    return "%r = %s" % (name, d)


def op_json(rng, req, fz):
    if req.kind != "json":
        return op_param(rng, req, fz)
    obj = req.body
    keys = list(obj) if isinstance(obj, dict) else []
    k = rng.randrange(12)
    if keys and k < 4:
        key = rng.choice(keys)
        v = rng.choice([0, -1, 1.5e308, 12345678901234567890123, True, False, None, [],
                        [obj[key]], {}, {"a": obj[key]}, [[[]]], "", " " * 3, "\x00",
                        "\ud800", "a\u0000b", [1, "x", None]])
        obj[key] = v
        return "%s := %s" % (key, json.dumps(v)[:40])
    if keys and k == 4:
        del obj[rng.choice(keys)]
        return "drop a member"
    if k == 5:
        n = rng.choice([100, 2000, 10000])
        raw = nested(n, rng)
        if isinstance(obj, dict) and rng.random() < 0.7:
            key = rng.choice(keys or ["x"])
            req.body = splice(obj, key, raw)
        else:
            req.body = raw
        req.kind = "raw"
        return "nesting %d" % n
    if keys and k == 6:
        key = rng.choice(keys)
        text = json.dumps(obj).encode()
        dup = b'"%s":%s,' % (key.encode(), json.dumps(rng.choice(["other", 1, None])).encode())
        req.body, req.kind = b"{" + dup + text[1:], "raw"
        return "duplicate key %s" % key
    if keys and k == 7:
        key = rng.choice(keys)
        req.body, req.kind = splice(obj, key, rng.choice([b'"\xff\xfe"', b'"\xc0\x80"',
                                                          b'"a\x00b"', b'"\\ud800x"',
                                                          b'"\\u0000"', b'1e999999', b'-0',
                                                          b'"\x1f"'])), "raw"
        return "raw bad value for %s" % key
    if k == 8:
        text = json.dumps(obj).encode()
        req.body, req.kind = text[:rng.randrange(len(text))], "raw"
        return "truncated JSON"
    if k == 9:
        text = json.dumps(obj).encode()
        req.body, req.kind = rng.choice([b"\xef\xbb\xbf" + text, text + b"garbage", text + text,
                                         b"[" + text + b"]", b'"string"', b"123", b"null",
                                         b"", b"{", b"{,}", b"{'a':1}"]), "raw"
        return "JSON document garbage"
    if k == 10:
        n = rng.choice([20000, 1 << 20])
        key = rng.choice(keys or ["x"])
        obj[key] = "x" * n
        return "huge string %d in %s" % (n, key)
    n = rng.choice([1000, 10000])
    if isinstance(obj, dict):
        for j in range(n):
            obj["k%d" % j] = j
    return "%d extra members" % n


def splice(obj, key, raw):
    o = dict(obj)
    o[key] = SENTINEL
    return json.dumps(o).encode().replace(json.dumps(SENTINEL).encode(), raw)


CONTENT_TYPES = [None, b"text/plain", b"application/json", b"application/x-www-form-urlencoded",
                 b"application/x-www-form-urlencoded; charset=utf-16",
                 b"application/json; charset=latin1", b"multipart/form-data; boundary=x",
                 b"", b"application/", b"*/*", b";;;", b"APPLICATION/JSON",
                 b"application/json ; x=y", b"application/x-www-form-urlencoded\xff",
                 b"application/jsonx", b"c" * 8192]


def basic_garbage(rng, fz):
    cid = fz.conf["client_id"].encode()
    choice = rng.randrange(12)
    if choice == 0:
        return b"Basic !!!not-base64!!!", "Basic bad base64"
    if choice == 1:
        return b"Basic " + base64.b64encode(cid), "Basic without colon"
    if choice == 2:
        return b"Basic " + base64.b64encode(b"x" * 49000), "Basic huge"
    if choice == 3:
        return b"Basic " + base64.b64encode(cid + b":" + b"\xff\x00\xfe"), "Basic bad bytes"
    if choice == 4:
        return b"Basic", "Basic alone"
    if choice == 5:
        return b"Basic " + base64.b64encode(b":"), "Basic empty id and secret"
    if choice == 6:
        return b"Basic " + base64.b64encode(cid + b":" +
                                            almost_token(rng, fz.conf["client_secret"]).encode()), \
            "Basic almost-valid secret"
    if choice == 7:
        return b"Basic " + base64.b64encode(b"%zz:%G1%"), "Basic percent garbage"
    if choice == 8:
        return b"Basic abc", "Basic bad padding"
    if choice == 9:
        return b"basic " + base64.b64encode(cid + b":" + fz.conf["client_secret"].encode()) + \
            b"====", "Basic trailing padding"
    if choice == 10:
        return b"Basic " + base64.b64encode(cid + b":" + fz.conf["client_secret"].encode()) + \
            b" extra", "Basic trailing word"
    return b"Digest username=x", "another scheme"


def bearer_garbage(rng, fz):
    tok = rng.choice(fz.tokens)
    choice = rng.randrange(10)
    if choice < 3:
        return b"Bearer " + almost_token(rng, tok).encode(), "Bearer almost-valid"
    if choice == 3:
        return b"Bearer " + random_token(rng).encode(), "Bearer random token"
    if choice == 4:
        return b"Bearer " + b"A" * 60000, "Bearer huge"
    if choice == 5:
        return b"Bearer", "Bearer alone"
    if choice == 6:
        return b"Bearer " + tok.encode() + b" " + tok.encode(), "Bearer twice"
    if choice == 7:
        return b"Bearer  \t" + tok.encode() + b"\t", "Bearer odd whitespace"
    if choice == 8:
        return b"bEaReR " + tok.encode() + b"\xff", "Bearer trailing obs-text"
    return b"Bearer oat_", "Bearer prefix only"


def op_header(rng, req, fz):
    k = rng.randrange(16)
    if k == 0:
        v = rng.choice(CONTENT_TYPES)
        if v is None:
            req.remove_header(b"Content-Type")
        else:
            req.set_header(b"Content-Type", v)
        return "Content-Type %r" % (v[:40] if v else v)
    if k == 1:
        req.headers.append((b"Content-Type", rng.choice([b"application/json",
                                                          b"application/x-www-form-urlencoded",
                                                          req.header(b"Content-Type") or b"x"])))
        return "Content-Type twice"
    if k in (2, 3):
        v, d = basic_garbage(rng, fz) if rng.random() < 0.5 else bearer_garbage(rng, fz)
        req.set_header(b"Authorization", v)
        return "Authorization: " + d
    if k == 4:
        v, d = basic_garbage(rng, fz) if rng.random() < 0.5 else bearer_garbage(rng, fz)
        req.headers.append((b"Authorization", v))
        return "a second Authorization: " + d
    if k == 5:
        req.remove_header(b"Authorization")
        return "no Authorization"
    if k == 6:
        v, n = huge_header_value(rng)
        name = rng.choice([b"X-Fuzz", b"Cookie", b"Accept", b"User-Agent", b"X-Forwarded-For",
                           b"Origin", b"X-Original-URI", b"Content-Type"])
        req.set_header(name, v)
        return "%s of %d bytes" % (name.decode(), n)
    if k == 7:
        for j in range(rng.choice([20, 60])):
            req.headers.append((b"X-Fuzz-%d" % j, b"v%d" % j))
        return "many headers"
    if k == 8:
        req.set_header(b"X-Fuzz", bytes(rng.randrange(0x80, 0x100) for _ in range(40)))
        return "obs-text header"
    if k == 9:
        req.set_header(b"Cookie", rng.choice([b"wattle_session=" + random_token(rng).encode(),
                                              b";;;=;", b"a=\xff\xfe", b"x" * 5000,
                                              b"wattle_session=; wattle_session=x",
                                              b"=" * 100]))
        return "Cookie garbage"
    if k == 10:
        name = rng.choice([b"X-Forwarded-For", b"X-Forwarded-Proto", b"X-Forwarded-Host",
                           b"X-Original-URI", b"X-Original-Method", b"X-Forwarded-Uri",
                           b"X-Forwarded-Method", b"Forwarded"])
        v = rng.choice([b"", b"1.2.3.4, ::1, 999.1.1.1", b"https", b"gopher", b"/mcp/../x",
                        b"/mcp?access_token=" + almost_token(rng, fz.gw_token).encode(),
                        b"http://evil.example/mcp", b"//mcp", b"%2e%2e/mcp", b"\xff\xfe",
                        b"GET GET", b"/mcp/" + b"a" * 8000, b"*", b"[::1]:99999"])
        req.set_header(name, v)
        return "%s: %r" % (name.decode(), v[:40])
    if k == 11:
        req.set_header(b"Accept", rng.choice([b"application/token-introspection+jwt",
                                              b"application/jwt", b"*/*;q=x", b"\xff"]))
        return "Accept garbage"
    if k == 12:
        req.set_header(b"Origin", rng.choice([b"null", b"https://evil.example", b"\xff",
                                              b"x" * 3000]))
        return "Origin"
    if k == 13:
        v = rng.choice([b"100-continue", b"200-ok"])
        req.set_header(b"Expect", v)
        req.h2o_refuses = req.h2o_refuses or v != b"100-continue"
        return "Expect: %s" % v.decode()
    if k == 14 and req.headers:
        name = rng.choice(req.headers)[0]
        req.remove_header(name)
        return "no %s" % name.decode()
    if req.body_bytes() is not None and req.version == b"HTTP/1.1":
        req.chunked = True
        return "chunked body"
    req.headers.append((b"X-Fuzz", b"1"))
    return "an extra header"


def op_method(rng, req, fz):
    if rng.random() < 0.15:
        req.version = b"HTTP/1.0"
        req.chunked = False
        return "HTTP/1.0"
    m = rng.choice(METHODS)
    req.method = m
    if m == b"CONNECT" or len(m) > 100:
        req.malformed = True  # h2o's own business (CONNECT has no path form)
    return "method %s" % m[:20].decode()


def op_path(rng, req, fz):
    p = req.path
    alias = {b"/oauth/token": b"/token", b"/oauth/revoke": b"/revoke",
             b"/oauth/register": b"/register"}
    if p in alias and rng.random() < 0.5:
        req.path = alias[p]
        return "root alias"
    req.path = rng.choice([p + b"/", b"/" + p, p + b"/..", p + b"%00", p + b"/%2e%2e/x",
                           p.upper(), p + b";x=1", p + b"/" + b"a" * 5000, p + b"#frag",
                           p.replace(b"/", b"%2F"), p + b"//"])
    return "path %r" % req.path[:60]


STRUCTURAL = [(op_param, 5), (op_json, 3), (op_header, 5), (op_method, 1), (op_path, 1)]


def op_bytes(rng, req, fz, data):
    """A byte-level operation on the serialized request: returns (data, description)."""
    req.malformed = True
    k = rng.randrange(16)
    if k == 0:
        b = bytearray(data)
        n = rng.choice([1, 2, 8])
        for _ in range(n):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b), "%d random bytes changed" % n
    if k == 1:
        req.half_close = True
        return data[:rng.randrange(1, len(data))], "truncated"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    keep = [l for l in lines if not l.lower().startswith((b"content-length:",
                                                          b"transfer-encoding:"))]
    if k == 2:
        n = rng.choice([len(body) + 1, len(body) + 1000])
        req.half_close = True
        return b"\r\n".join(keep + [b"Content-Length: %d" % n]) + b"\r\n\r\n" + body, \
            "Content-Length too long"
    if k == 3:
        v = rng.choice([b"-1", b"abc", b"99999999999999999999999", b"+5", b"0x10", b" ",
                        b"%d" % max(0, len(body) - 3), b"1 2", b"\xff"])
        req.half_close = True
        return b"\r\n".join(keep + [b"Content-Length: " + v]) + b"\r\n\r\n" + body, \
            "Content-Length %r" % v
    if k == 4:
        req.half_close = True
        return b"\r\n".join(keep + [b"Content-Length: %d" % len(body),
                                    b"Content-Length: %d" % (len(body) + 7)]) + \
            b"\r\n\r\n" + body, "two different Content-Lengths"
    if k == 5:
        req.half_close = True
        return b"\r\n".join(keep) + b"\r\n\r\n" + body, "no Content-Length"
    if k == 6:
        bad = rng.choice([b"zz\r\n" + body + b"\r\n0\r\n\r\n",
                          b"ffffffffffffffffffff\r\n" + body,
                          b"%x\r\n%s\r\n" % (len(body) + 5, body) + b"0\r\n\r\n",
                          b"%x\r\n%s" % (len(body), body),
                          b"-1\r\n\r\n"])
        req.half_close = True
        te = rng.choice([b"chunked", b"gzip, chunked", b"chunked, chunked", b"identity"])
        cl = [b"Content-Length: %d" % len(body)] if rng.random() < 0.3 else []
        return b"\r\n".join(keep + [b"Transfer-Encoding: " + te] + cl) + b"\r\n\r\n" + bad, \
            "broken chunking (%s)" % te.decode()
    if k == 7:
        return data.replace(b"\r\n", b"\n"), "bare LF"
    if k == 8 and len(lines) > 2:
        i = rng.randrange(1, len(lines))
        lines.insert(i + 1, b" \tfolded continuation")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body, "obs-fold"
    if k == 9 and len(lines) > 2:
        i = rng.randrange(1, len(lines))
        name, _, v = lines[i].partition(b":")
        lines[i] = rng.choice([name + b" :" + v, name + b":" + v + b"\x00x",
                               name + b"\x00:" + v, name + b":" + v + b"\rx",
                               b":" + v, name + b"\xff:" + v])
        return b"\r\n".join(lines) + b"\r\n\r\n" + body, "control bytes in a header line"
    if k == 10:
        m, _, rest = lines[0].partition(b" ")
        tgt, _, ver = rest.rpartition(b" ")
        tgt += rng.choice([b"\xff\xfe", b"\x00", b" x", b"\x7f", b"\t"])
        lines[0] = m + b" " + tgt + b" " + ver
        return b"\r\n".join(lines) + b"\r\n\r\n" + body, "raw bytes in the target"
    if k == 11:
        m, _, rest = lines[0].partition(b" ")
        tgt, _, ver = rest.rpartition(b" ")
        lines[0] = m + b" " + tgt + rng.choice([b" HTTP/9.9", b" HTTP/1.1x", b"", b" HTTP/1",
                                                b" HTTP/1.1 extra", b" http/1.1"])
        return b"\r\n".join(lines) + b"\r\n\r\n" + body, "bad version"
    if k == 12:
        first = data.replace(b"Connection: close\r\n", b"")
        req.expect_responses = 2
        return first + data, "pipelined twice"
    if k == 13:
        junk = bytes(rng.randrange(256) for _ in range(rng.choice([9, 50, 2000])))
        req.half_close = True
        return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + junk, "HTTP/2 preface and junk"
    if k == 14:
        req.abort_after = rng.choice([0, 0.002, 0.02, 0.1])
        return data, "connection reset %gs after sending" % req.abort_after
    extra = b"".join(b"X-Many-%d: %d\r\n" % (j, j) for j in range(150))
    return head + b"\r\n" + extra + b"\r\n" + body, "150 header fields (over h2o's limit)"


def mutate(rng, seed_req, fz):
    """(Req, bytes) of one mutant of seed_req."""
    req = seed_req.clone()
    n = rng.choices([1, 2, 3], [5, 3, 2])[0]
    ops, weights = zip(*STRUCTURAL)
    for _ in range(n):
        op = rng.choices(ops, weights)[0]
        req.ops.append(op(rng, req, fz))
    data = req.serialize(fz.host)
    if data.partition(b"\r\n\r\n")[0].count(b"\r\n") > H2O_MAX_HEADERS:
        req.h2o_refuses = True
    if rng.random() < 0.25 and not req.secret_in_target:
        data, d = op_bytes(rng, req, fz, data)
        req.ops.append(d)
    return req, data


# ---------------------------------------------------------------------------------- the test


class Fuzz:
    """What the mutators need: the host header, the tokens to corrupt, the clients."""

    def __init__(self, host, tokens, conf, gw_token):
        self.host = host
        self.tokens = tokens
        self.conf = conf
        self.gw_token = gw_token


class MutationFuzzTest(SharedServerTestCase):
    """One server; SEED's mutants of every valid request (see the module docstring)."""

    server_config = {"rate_limit": {"token": 0, "revoke": 0, "introspect": 0, "register": 0},
                     "code_ttl": 600, "log_level": "debug"}

    @classmethod
    def setUpStore(cls):
        s, dd = cls.server, cls.dd
        add_user(dd, USERNAME, PASSWORD)
        cls.conf = add_client(dd, "Fuzz confidential", [REDIRECT])
        cls.pub = add_client(dd, "Fuzz public", [REDIRECT], public=True)
        cls.rs = add_client(dd, "Fuzz resource server", grant_types=["client_credentials"])
        cls.secrets = [PASSWORD, cls.conf["client_secret"], cls.rs["client_secret"]]
        conf_id, conf_secret = cls.conf["client_id"], cls.conf["client_secret"]
        pub_id = cls.pub["client_id"]

        def code(client, scope="read:assets write:assets"):
            got = obtain_code(s, client["client_id"], REDIRECT, USERNAME, PASSWORD, scope=scope)
            cls.secrets.append(got["code"])
            return got

        def tokens(client, secret):
            got = code(client)
            r = redeem_code(s, client["client_id"], secret, got["code"], got["verifier"],
                            REDIRECT)
            assert r.status == 200, r
            t = r.json()
            cls.secrets += [t["access_token"], t["refresh_token"]]
            return t

        # Each seed that changes state gets a grant of its own, so that the reuse detection
        # or the revocation its mutants trigger cannot kill another seed's token.
        code_conf = code(cls.conf)
        code_pub = code(cls.pub)
        refresh = tokens(cls.conf, conf_secret)
        revoke = tokens(cls.conf, conf_secret)
        gw = tokens(cls.pub, None)
        cls.gw_token = gw["access_token"]

        _, chal = pkce_pair()
        form = "application/x-www-form-urlencoded".encode()
        jsn = b"application/json"
        basic_conf = basic_auth(conf_id, conf_secret).encode()
        basic_rs = basic_auth(cls.rs["client_id"], cls.rs["client_secret"]).encode()
        bearer_gw = b"Bearer " + cls.gw_token.encode()
        authorize_q = pairs_of([("response_type", "code"), ("client_id", conf_id),
                                ("redirect_uri", REDIRECT), ("scope", "read:assets"),
                                ("state", "fuzz-state"), ("code_challenge", chal),
                                ("code_challenge_method", "S256")])

        # The consent form of a browser that is not logged in: the POST a user's browser sends.
        b = Browser(s)
        page = b.authorize([(k.decode(), urllib.parse.unquote_plus(v.decode()))
                            for k, v in authorize_q])
        assert page.status == 200, page
        fields = form_fields(Browser.consent_form(page))
        fields = [(k, v) for k, v in fields if k not in ("username", "password")]
        fields += [("username", USERNAME), ("password", PASSWORD), ("decision", "allow")]
        cookie = b.cookie_header("/oauth/authorize").encode()

        cls.seeds = [
            ("authorize GET", Req(b"GET", b"/oauth/authorize", query=authorize_q)),
            ("authorize POST", Req(b"POST", b"/oauth/authorize", headers=[(b"Content-Type", form)],
                                   kind="form", body=list(authorize_q))),
            ("consent form POST", Req(b"POST", b"/oauth/authorize",
                                      headers=[(b"Content-Type", form), (b"Cookie", cookie)],
                                      kind="form", body=pairs_of(fields))),
            ("token: code, form + Basic", Req(
                b"POST", b"/oauth/token",
                headers=[(b"Content-Type", form), (b"Authorization", basic_conf)], kind="form",
                body=pairs_of([("grant_type", "authorization_code"),
                               ("code", code_conf["code"]),
                               ("code_verifier", code_conf["verifier"]),
                               ("redirect_uri", REDIRECT)]))),
            ("token: code, public client JSON", Req(
                b"POST", b"/oauth/token", headers=[(b"Content-Type", jsn)], kind="json",
                body={"grant_type": "authorization_code", "code": code_pub["code"],
                      "code_verifier": code_pub["verifier"], "client_id": pub_id,
                      "redirect_uri": REDIRECT})),
            ("token: refresh, client_secret_post", Req(
                b"POST", b"/oauth/token", headers=[(b"Content-Type", form)], kind="form",
                body=pairs_of([("grant_type", "refresh_token"),
                               ("refresh_token", refresh["refresh_token"]),
                               ("client_id", conf_id), ("client_secret", conf_secret)]))),
            ("token: refresh, JSON", Req(
                b"POST", b"/oauth/token", headers=[(b"Content-Type", jsn)], kind="json",
                body={"grant_type": "refresh_token", "refresh_token": refresh["refresh_token"],
                      "client_id": conf_id, "client_secret": conf_secret,
                      "scope": "read:assets"})),
            ("token: client_credentials", Req(
                b"POST", b"/oauth/token",
                headers=[(b"Content-Type", form), (b"Authorization", basic_rs)], kind="form",
                body=pairs_of([("grant_type", "client_credentials"), ("scope", "read:assets"),
                               ("resource", s.issuer + "/mcp")]))),
            ("token: CORS preflight", Req(
                b"OPTIONS", b"/oauth/token",
                headers=[(b"Origin", b"https://app.example"),
                         (b"Access-Control-Request-Method", b"POST"),
                         (b"Access-Control-Request-Headers", b"authorization, content-type")])),
            ("revoke", Req(
                b"POST", b"/oauth/revoke",
                headers=[(b"Content-Type", form), (b"Authorization", basic_conf)], kind="form",
                body=pairs_of([("token", revoke["refresh_token"]),
                               ("token_type_hint", "refresh_token")]))),
            ("introspect", Req(
                b"POST", b"/oauth/introspect",
                headers=[(b"Content-Type", form), (b"Authorization", basic_rs)], kind="form",
                body=pairs_of([("token", cls.gw_token), ("token_type_hint", "access_token")]))),
            ("register", Req(
                b"POST", b"/oauth/register", headers=[(b"Content-Type", jsn)], kind="json",
                body={"redirect_uris": ["http://localhost:6274/oauth/callback",
                                        "https://app.example/cb"],
                      "token_endpoint_auth_method": "client_secret_basic",
                      "grant_types": ["authorization_code", "refresh_token"],
                      "response_types": ["code"], "client_name": "Fuzz DCR",
                      "client_uri": "https://app.example", "scope": "read:assets"})),
            ("gateway GET /mcp", Req(b"GET", b"/mcp", headers=[(b"Authorization", bearer_gw)])),
            ("gateway POST /mcp", Req(
                b"POST", b"/mcp/messages", query=pairs_of([("sessionId", "1")]),
                headers=[(b"Authorization", bearer_gw), (b"Content-Type", jsn),
                         (b"MCP-Protocol-Version", b"2025-06-18")],
                kind="json", body={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
            ("userinfo", Req(b"GET", b"/oauth/userinfo", headers=[(b"Authorization", bearer_gw)])),
            ("forward-auth nginx", Req(
                b"GET", b"/oauth/forward-auth",
                headers=[(b"X-Original-Method", b"GET"), (b"X-Original-URI", b"/mcp/tools?x=1"),
                         (b"X-Forwarded-Host", b"127.0.0.1"), (b"Authorization", bearer_gw)])),
            ("forward-auth envoy", Req(b"POST", b"/oauth/forward-auth/mcp/messages",
                                       query=pairs_of([("x", "1")]),
                                       headers=[(b"Authorization", bearer_gw)], kind="raw",
                                       body=b"")),
            ("AS metadata", Req(b"GET", b"/.well-known/oauth-authorization-server")),
            ("PR metadata, JWKS, healthz", Req(b"GET",
                                               b"/.well-known/oauth-protected-resource/mcp")),
        ]
        seeds = dict(cls.seeds)
        seeds["PR metadata, JWKS, healthz"].alt_paths = (
            b"/.well-known/oauth-protected-resource/mcp", b"/oauth/jwks", b"/healthz")
        # Seeds whose first success uses something up (a code, a pending consent, a refresh
        # token, a grant): they are not sent unmutated first, so that the mutants meet the
        # live code or token (a failed redemption leaves it alive).
        cls.consuming = {"consent form POST", "token: code, form + Basic",
                         "token: code, public client JSON", "token: refresh, client_secret_post",
                         "token: refresh, JSON", "revoke"}
        cls.secrets += [cls.gw_token, refresh["access_token"], revoke["access_token"]]

    # -- helpers

    def fail_text(self, family, i, req, data, why, answer):
        path = os.path.join(tempfile.gettempdir(),
                            "wattle-fuzz-%d-%s-%d.bin" % (SEED, re.sub(r"\W+", "_", family), i))
        with open(path, "wb") as f:
            f.write(data)
        got = answer.raw[:600] if answer is not None else b""
        err = self.server.stderr_text()[-1500:]
        return ("[WATTLE_FUZZ_SEED=%d seed %r mutant %d] %s\n  operations: %s\n"
                "  request (%d bytes, saved in %s): %r\n  answer: %r\n"
                "  reproduce (server on PORT): python3 -c 'import socket;"
                "s=socket.create_connection((\"127.0.0.1\",PORT));"
                "s.sendall(open(\"%s\",\"rb\").read());print(s.recv(65536))'\n"
                "  server stderr (tail):\n%s"
                % (SEED, family, i, why, "; ".join(req.ops), len(data), path,
                   data[:800] + (b"..." if len(data) > 800 else b""), got, path, err))

    def check(self, req, answer, data):
        """The reason this answer is wrong, or None."""
        if answer.timed_out:
            return "no answer within %ss (hang)" % REQUEST_TIMEOUT
        finals = [r for r in answer.responses if r[0] >= 200]
        for status, _, _ in answer.responses:
            if status >= 500:
                return "status %d" % status
        if req.malformed:
            return None  # refused by h2o, closed, or answered: all fine when not a 5xx
        if not finals:
            if answer.error and len(data) > MAX_BODY:
                return None  # answered 413 and closed while the body was still being sent
            return "no HTTP answer to a valid HTTP/1.1 request (%s)" % (
                answer.error or ("non-HTTP bytes" if answer.non_http else "closed"))
        status, headers, body = finals[0]
        if req.h2o_refuses:
            return None
        if req.path in OAUTH_JSON_PATHS and status >= 400 and req.method.upper() != b"HEAD":
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return "an OAuth error that is not application/json (%d %r)" % (status, ctype)
            try:
                doc = json.loads(body)
            except ValueError:
                return "an OAuth error body that is not JSON (%d)" % status
            if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
                return "an OAuth error without an \"error\" string (%d %r)" % (status, body[:200])
        return None

    def run_seed(self, index, family, seed_req, fz):
        rng = random.Random(SEED * 1000 + index)
        failures, sent, stderr_at = [], 0, len(self.server.stderr_text())
        previous = ["none"]
        for i in range(MUTATIONS_PER_SEED):
            base = seed_req
            if seed_req.alt_paths:
                base = seed_req.clone()
                base.path = seed_req.alt_paths[i % len(seed_req.alt_paths)]
            req, data = mutate(rng, base, fz)
            try:
                answer = exchange(self.server.host, self.server.port, data, req)
            except OSError as e:  # refused: the server is gone
                answer = Answer()
                answer.error = "connect: %s (the previous mutant, %s, may be the cause)" % (
                    e, "; ".join(previous))
            previous = req.ops
            sent += 1
            finals = [r[0] for r in answer.responses if r[0] >= 200]
            self.statuses[family][str(finals[0]) if finals else
                                  "timeout" if answer.timed_out else "closed"] += 1
            why = self.check(req, answer, data)
            text = self.server.stderr_text()
            m = sanitizer_report(text[stderr_at:])
            stderr_at = len(text)
            if m:
                why = (why + "; " if why else "") + "sanitizer report %r" % m
            if not self.server.running:
                time.sleep(0.5)
                why = (why + "; " if why else "") + "the server exited (status %r)" % (
                    self.server.proc.poll(),)
            for status, headers, body in answer.responses:
                # Everything the server hands out must stay out of its logs too.
                for blob in (body.decode("latin-1"), headers.get("location", "")):
                    for m2 in TOKEN_RE.finditer(blob):
                        self.secrets.append(m2.group(0))
            if why:
                failures.append(self.fail_text(family, i, req, data, why, answer))
                if not self.server.running:
                    break
        return sent, failures

    def assertNoSecretsLogged(self, log):
        leaks = []
        for secret in sorted(set(self.secrets)):
            if secret in log:
                leaks.append("%s… in full" % secret[:8])
                continue
            # the secret half of a token (the first half is a public selector); the whole of
            # a password
            tail = secret[-21:] if secret.startswith(TOKEN_PREFIXES) else secret
            for j in range(0, max(1, len(tail) - 11)):
                if tail[j:j + 12] in log:
                    leaks.append("%s… (its characters %r)" % (secret[:8], tail[j:j + 12]))
                    break
        for pw in (urllib.parse.quote_plus(PASSWORD), urllib.parse.quote(PASSWORD)):
            if pw in log:
                leaks.append("the password, encoded")
        shaped = sorted({m.group(0)[:8] for m in TOKEN_RE.finditer(log)})
        if shaped:
            leaks.append("token-shaped strings: %s" % ", ".join(shaped))
        if leaks:
            lines = [l for l in log.splitlines()
                     if any(s[-21:] in l or s in l for s in self.secrets)][:10]
            self.fail("the server logged secrets: %s\nlines:\n%s" % ("; ".join(leaks),
                                                                    "\n".join(lines)))

    # -- the test

    def test_mutants(self):
        fz = Fuzz(("127.0.0.1:%d" % self.server.port).encode(),
                  [t for t in self.secrets if t.startswith(TOKEN_PREFIXES)], self.conf,
                  self.gw_token)
        total = 0
        self.statuses = collections.defaultdict(collections.Counter)
        t0 = time.monotonic()
        for index, (family, seed_req) in enumerate(self.seeds):
            with self.subTest(seed=family, fuzz_seed=SEED):
                if family not in self.consuming:
                    # the unmutated seed first: it must be answered, and not as an error
                    answer = exchange(self.server.host, self.server.port,
                                      seed_req.serialize(fz.host), seed_req)
                    finals = [r for r in answer.responses if r[0] >= 200]
                    self.assertTrue(finals and finals[0][0] < 400, "seed %r is not a valid "
                                    "request: %r" % (family, answer.raw[:500]))
                    total += 1
                sent, failures = self.run_seed(index, family, seed_req, fz)
                total += sent
                if failures:
                    self.fail("%d of %d mutants of %r failed (WATTLE_FUZZ_SEED=%d); the first:\n%s"
                              % (len(failures), sent, family, SEED,
                                 "\n\n".join(failures[:MAX_FAILURES_SHOWN])))
            if not self.server.running:
                self.fail("the server is gone; stderr:\n%s" % self.server.stderr_text()[-5000:])
        elapsed = time.monotonic() - t0
        # The harness's stop: SIGTERM, exit status 0, no sanitizer report on stderr.
        self.server.stop()
        self.assertNoSecretsLogged(self.server.stderr_text() + self.server.stdout_text())
        print("\n  fuzz: WATTLE_FUZZ_SEED=%d, %d seeds x %d mutants, %d requests in %.1fs"
              % (SEED, len(self.seeds), MUTATIONS_PER_SEED, total, elapsed))
        if os.environ.get("WATTLE_FUZZ_STATS"):
            for family, c in self.statuses.items():
                print("  %-36s %s" % (family, " ".join("%s:%d" % kv for kv in sorted(c.items()))))


if __name__ == "__main__":
    unittest.main()
