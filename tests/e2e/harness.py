"""End-to-end test harness for Wattle: runs the real binary and talks HTTP to it.

Python 3 standard library only. The binary comes from $WATTLE_BIN (default: build/debug/wattle
in the repository); $WATTLE_SANITIZED=1 says it is an AddressSanitizer/UBSan build, which turns
on leak detection with tests/lsan.supp. Every process this harness starts is checked for
sanitizer reports ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:") and
the test fails if one appears.

Main pieces:
  Server(tmpdir, config=None, args=(), ...)  -- `wattle serve` on 127.0.0.1:0; .issuer, .url(path),
                                               .stderr_text(), .stop(); a context manager
  cli(data_dir, *args, stdin=None, config=None, cwd=None)  -> (exit code, stdout, stderr)
  request(method, url, headers=None, body=None, http_version="1.1") -> Response
      Response unpacks as (status, headers, body); .headers is case-insensitive and keeps
      duplicates (get_all); .json(); never follows redirects
  get_json / post_form / post_json / form_encode / basic_auth / parse_forms / query_params / pkce_pair
  WattleTestCase  -- per-test temp dir (self.tmp, self.data_dir), self.start_server(...), self.cli(...)
"""

import base64
import hashlib
import html.parser
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
LSAN_SUPP = os.path.join(REPO, "tests", "lsan.supp")
CATALOGUE_FILE = os.path.join(REPO, "scopes", "gumnut.json")

SANITIZED = os.environ.get("WATTLE_SANITIZED", "0") == "1"
# Sanitized binaries start and run several times slower.
SLOW = 3 if SANITIZED else 1
START_TIMEOUT = 10 * (2 if SANITIZED else 1)
STOP_TIMEOUT = 10
CLI_TIMEOUT = 30 * SLOW
HTTP_TIMEOUT = 10 * SLOW

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def wattle_bin():
    b = os.environ.get("WATTLE_BIN") or os.path.join(REPO, "build", "debug", "wattle")
    b = os.path.abspath(b)
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        raise unittest.SkipTest(
            "no wattle binary at %s (set WATTLE_BIN to the binary to test)" % b)
    return b


def child_env(extra=None):
    """The environment of every process the harness starts."""
    env = dict(os.environ)
    env.pop("WATTLE_CONFIG", None)  # a developer's own config must not leak into tests
    if SANITIZED:
        env["ASAN_OPTIONS"] = "fast_unwind_on_malloc=0:detect_leaks=1"
        env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % LSAN_SUPP
        env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def check_sanitizers(what, stderr_text):
    m = sanitizer_report(stderr_text)
    if m:
        raise AssertionError("%s: sanitizer report (%r); its stderr:\n%s"
                             % (what, m, stderr_text))


def write_config(directory, config, name="config.json"):
    """Writes config (a dict, or a str written verbatim) into directory; returns the path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        if isinstance(config, str):
            f.write(config)
        else:
            json.dump(config, f, indent=2)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_catalogue():
    with open(CATALOGUE_FILE) as f:
        return [s["name"] for s in json.load(f)["scopes"]]


# ---------------------------------------------------------------------------------- CLI


def cli(data_dir, *args, stdin=None, config=None, cwd=None, env=None, timeout=None):
    """Runs `wattle ARGS... [--data-dir DATA_DIR] [-c CONFIG]`.

    data_dir may be None (no --data-dir). config is a path (str) or a dict, which is written as
    config.json next to data_dir (or into cwd). stdin is str or bytes. Returns
    (exit code, stdout str, stderr str); fails the test on a sanitizer report or a hang."""
    argv = [wattle_bin()] + [str(a) for a in args]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if isinstance(config, dict):
        where = cwd or (os.path.dirname(os.path.abspath(data_dir)) if data_dir else None)
        if where is None:
            raise ValueError("cli: a config dict needs data_dir or cwd to write it next to")
        config = write_config(where, config)
    if config is not None:
        argv += ["-c", str(config)]
    if isinstance(stdin, str):
        stdin = stdin.encode()
    try:
        r = subprocess.run(argv, input=stdin if stdin is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=cwd or (os.path.dirname(os.path.abspath(data_dir))
                                       if data_dir else None),
                           env=child_env(env), timeout=timeout or CLI_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        err = (e.stderr or b"").decode(errors="replace")
        raise AssertionError("%s did not finish within %ss (killed); stdout %r; stderr:\n%s"
                             % (" ".join(argv), timeout or CLI_TIMEOUT,
                                (e.stdout or b"").decode(errors="replace"), err)) from None
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    check_sanitizers(" ".join(argv[1:]), err)
    return r.returncode, out, err


def cli_json(data_dir, *args, **kw):
    """cli() that must succeed and print one JSON document; returns it."""
    rc, out, err = cli(data_dir, *args, **kw)
    if rc != 0:
        raise AssertionError("wattle %s: exit %d, stderr: %s" % (" ".join(map(str, args)), rc, err))
    try:
        return json.loads(out)
    except ValueError as e:
        raise AssertionError("wattle %s: stdout is not JSON (%s): %r"
                             % (" ".join(map(str, args)), e, out))


# ---------------------------------------------------------------------------------- server


class ServerExited(AssertionError):
    """`wattle serve` exited before printing its issuer line."""


class Server:
    """`wattle serve --listen 127.0.0.1:0 --data-dir DIR [-c DIR/config.json] ARGS...`.

    tmpdir: where config.json goes (and the data dir by default: tmpdir/data).
    config: a dict written to tmpdir/config.json (or a str: its text) and passed with -c.
    args: extra command-line arguments. listen=None leaves --listen out.
    """

    def __init__(self, tmpdir, config=None, args=(), data_dir=None, listen="127.0.0.1:0",
                 env=None, config_name="config.json", start_timeout=None):
        self.tmpdir = tmpdir
        self.data_dir = data_dir or os.path.join(tmpdir, "data")
        self.config_path = None
        if config is not None:
            self.config_path = write_config(tmpdir, config, config_name)
        self.argv = [wattle_bin(), "serve"]
        if listen is not None:
            self.argv += ["--listen", listen]
        self.argv += ["--data-dir", self.data_dir]
        if self.config_path:
            self.argv += ["-c", self.config_path]
        self.argv += [str(a) for a in args]
        self.env = env
        self.start_timeout = start_timeout or START_TIMEOUT
        self.proc = None
        self.issuer = None
        self.exit_code = None
        self.stop_seconds = None
        self._stderr = []
        self._stdout = []
        self._lock = threading.Lock()
        self._lines = queue.Queue()
        self._threads = []

    # -- lifecycle

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=self.tmpdir, env=child_env(self.env))
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + self.start_timeout
        first = None
        while first is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                first = self._lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None:
                    # Exited: give the reader a moment to deliver a line it already read.
                    try:
                        first = self._lines.get(timeout=0.5)
                    except queue.Empty:
                        pass
                    break
        if first is None or first is EOFError:
            if first is EOFError:  # stdout closed: the process is exiting
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            code = self.proc.poll()
            exited = code is not None
            if code is None:
                self.proc.kill()
                code = self.proc.wait()
                why = "printed no issuer line within %ss" % self.start_timeout
            else:
                why = "exited with status %d before printing the issuer" % code
            self._join_readers()
            self.exit_code = code
            err = self.stderr_text()
            check_sanitizers("wattle serve", err)
            raise (ServerExited if exited else AssertionError)(
                "wattle serve %s; stderr:\n%s" % (why, err))
        self.issuer = first.rstrip("\r\n")
        u = urllib.parse.urlsplit(self.issuer)
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            with self._lock:
                self._stdout.append(line)
            self._lines.put(line)
        self._lines.put(EOFError)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._lock:
                self._stderr.append(raw.decode(errors="replace"))

    def _join_readers(self):
        for t in self._threads:
            t.join(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect_status=0):
        """Sends sig, waits up to timeout seconds, asserts the exit status and the absence of
        sanitizer reports. Idempotent. Returns the exit status."""
        if self.proc is None or self.exit_code is not None:
            return self.exit_code
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_code = self.proc.wait()
            self.stop_seconds = time.monotonic() - t0
            self._join_readers()
            raise AssertionError("wattle serve did not exit within %ss of %s; stderr:\n%s"
                                 % (timeout, signal.Signals(sig).name, self.stderr_text()))
        self.stop_seconds = time.monotonic() - t0
        self._join_readers()
        err = self.stderr_text()
        check_sanitizers("wattle serve", err)
        if expect_status is not None and self.exit_code != expect_status:
            raise AssertionError("wattle serve exited with status %d after %s (expected %d); "
                                 "stderr:\n%s" % (self.exit_code, signal.Signals(sig).name,
                                                  expect_status, err))
        return self.exit_code

    def kill(self):
        """SIGKILL (no sanitizer or exit checks: the process cannot report)."""
        if self.proc is not None and self.exit_code is None:
            self.proc.kill()
            self.exit_code = self.proc.wait()
            self._join_readers()

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
            return False
        try:
            self.stop()
        except AssertionError as e:  # don't hide the test's own failure; show both
            sys.stderr.write("\n(while stopping the server after a failure) %s\n" % e)
        return False

    # -- output

    def stderr_text(self):
        with self._lock:
            return "".join(self._stderr)

    def stdout_text(self):
        with self._lock:
            return "".join(self._stdout)

    def wait_stderr(self, needle, timeout=5):
        """Waits until needle appears on stderr (logs are asynchronous); returns True/False."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if needle in self.stderr_text():
                return True
            time.sleep(0.02)
        return needle in self.stderr_text()

    # -- HTTP conveniences

    def url(self, path="/"):
        return self.issuer + path

    def request(self, method, path, **kw):
        return request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return request("GET", self.url(path), **kw)

    def connection(self, timeout=None):
        """A raw http.client connection to the server (for keep-alive tests)."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout or HTTP_TIMEOUT,
                                               context=ssl._create_unverified_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or HTTP_TIMEOUT)


# ---------------------------------------------------------------------------------- HTTP


class Headers:
    """Response headers: case-insensitive lookup, duplicates kept in order."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        n = name.lower()
        for k, v in self.pairs:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.pairs if k.lower() == n]

    def count(self, name):
        return len(self.get_all(name))

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self.pairs)

    def keys(self):
        return [k for k, _ in self.pairs]

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        return "Headers(%r)" % self.pairs


class Response:
    """status, headers (Headers), body (bytes); unpacks as (status, headers, body)."""

    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self):
        """The media type alone, lower-case (no parameters), or None."""
        ct = self.headers.get("Content-Type")
        return ct.split(";")[0].strip().lower() if ct else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError("response %d is not JSON (%s): %r" % (self.status, e, self.body[:2000]))

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, self.headers, self.body[:300])


def _connection(u, timeout, context):
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout,
                                           context=context or ssl._create_unverified_context())
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


def request(method, url, headers=None, body=None, http_version="1.1", timeout=None,
            context=None, conn=None):
    """One HTTP request; never follows redirects. headers: dict or list of (name, value) pairs
    (a list can send a header twice). body: bytes, str, or None. http_version "1.1" or "1.0".
    conn: an existing http.client connection to reuse (keep-alive); otherwise a new one is
    opened and closed. Returns a Response."""
    u = urllib.parse.urlsplit(url)
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    own = conn is None
    c = conn or _connection(u, timeout or HTTP_TIMEOUT, context)
    if http_version == "1.0":
        c._http_vsn = 10
        c._http_vsn_str = "HTTP/1.0"
    elif http_version != "1.1":
        raise ValueError("http.client speaks HTTP/1.0 and HTTP/1.1 only")
    if isinstance(body, str):
        body = body.encode()
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        names = {k.lower() for k, _ in pairs}
        for k, v in pairs:
            c.putheader(k, v)
        if body is not None and "content-length" not in names:
            c.putheader("Content-Length", str(len(body)))
        elif body is None and method in ("POST", "PUT", "PATCH") and "content-length" not in names:
            c.putheader("Content-Length", "0")
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.reason, Headers(r.getheaders()), data,
                        "1.1" if r.version == 11 else "1.0")
    finally:
        if own:
            c.close()


def get(url, **kw):
    return request("GET", url, **kw)


def get_json(url, **kw):
    """GET that expects a JSON body; returns (Response, parsed JSON)."""
    r = request("GET", url, **kw)
    return r, r.json()


def form_encode(fields):
    """application/x-www-form-urlencoded body from a dict or a list of pairs (repeats allowed)."""
    items = fields.items() if isinstance(fields, dict) else fields
    return urllib.parse.urlencode([(k, v) for k, v in items if v is not None]).encode()


def basic_auth(client_id, secret):
    """An Authorization header value per RFC 6749 §2.3.1 (form-urlencoded id and secret)."""
    raw = "%s:%s" % (urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(secret))
    return "Basic " + base64.b64encode(raw.encode()).decode()


def post_form(url, fields, headers=None, auth=None, **kw):
    """POST a form body. auth=(client_id, secret) adds HTTP Basic."""
    h = [("Content-Type", "application/x-www-form-urlencoded")]
    if auth:
        h.append(("Authorization", basic_auth(*auth)))
    h += list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    return request("POST", url, headers=h, body=form_encode(fields), **kw)


def post_json(url, obj, headers=None, auth=None, **kw):
    h = [("Content-Type", "application/json")]
    if auth:
        h.append(("Authorization", basic_auth(*auth)))
    h += list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    return request("POST", url, headers=h, body=json.dumps(obj).encode(), **kw)


def query_params(url):
    """The query of a URL (e.g. a Location header) as a dict of lists."""
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def pkce_pair(length=64):
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(96)[:length]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def raw_exchange(host, port, data, timeout=5, read_until_close=True):
    """Sends raw bytes on a fresh TCP connection and returns what comes back (until the peer
    closes, or until timeout). For malformed-request tests."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                          "attrs": a, "inputs": [], "buttons": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "select", "textarea"):
            self._form["inputs"].append(a)
        elif self._form is not None and tag == "button":
            self._form["buttons"].append(a)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_forms(html_text):
    """Every <form> of a page: [{"action", "method", "attrs", "inputs": [attr dicts],
    "buttons": [attr dicts]}]."""
    p = _FormParser()
    p.feed(html_text)
    p.close()
    return p.forms


def form_fields(form):
    """The name -> value pairs a browser would submit for a form's inputs (no buttons)."""
    out = []
    for i in form["inputs"]:
        if i.get("name") is None:
            continue
        if (i.get("type") or "").lower() in ("checkbox", "radio") and "checked" not in i:
            continue
        out.append((i["name"], i.get("value") or ""))
    return out


# ---------------------------------------------------------------------------------- test case


class WattleTestCase(unittest.TestCase):
    """A per-test temporary directory (self.tmp, removed afterwards; the default data
    directory is self.data_dir = self.tmp/data) and helpers that start servers and run the
    CLI. Servers started with start_server() are stopped (and checked) at the end of the
    test."""

    maxDiff = None

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="wattle-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.data_dir = os.path.join(self.tmp, "data")

    def make_server(self, config=None, args=(), **kw):
        """A Server that is not started yet (stopped and checked at the end of the test)."""
        kw.setdefault("data_dir", self.data_dir)
        s = Server(self.tmp, config=config, args=args, **kw)
        self.addCleanup(s.stop)
        return s

    def start_server(self, config=None, args=(), **kw):
        return self.make_server(config=config, args=args, **kw).start()

    def cli(self, *args, data_dir=None, **kw):
        """Runs wattle ARGS --data-dir self.data_dir (or data_dir) in self.tmp."""
        kw.setdefault("cwd", self.tmp)
        return cli(data_dir or self.data_dir, *args, **kw)

    def cli_json(self, *args, data_dir=None, **kw):
        kw.setdefault("cwd", self.tmp)
        return cli_json(data_dir or self.data_dir, *args, **kw)

    def write_file(self, name, content):
        """Writes content (str, bytes, or anything JSON-serialisable) to self.tmp/name."""
        path = os.path.join(self.tmp, name)
        if not isinstance(content, (str, bytes)):
            content = json.dumps(content, indent=2)
        with open(path, "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
        return path

    def run_serve(self, config=None, args=(), listen="127.0.0.1:0", data_dir=None, timeout=10,
                  env=None):
        """Runs `wattle serve` expecting it to exit by itself (start-up errors). Returns
        (exit code, stdout, stderr). config: a dict (written to self.tmp/config.json) or the
        path of a config file. If the server starts serving instead (prints an issuer), it is
        stopped and the test fails at once."""
        extra = list(args)
        if isinstance(config, str):
            extra = ["-c", config] + extra
            config = None
        s = Server(self.tmp, config=config, args=extra, data_dir=data_dir or self.data_dir,
                   listen=listen, env=env, start_timeout=timeout * SLOW)
        try:
            s.start()
        except ServerExited:
            return s.exit_code, s.stdout_text(), s.stderr_text()
        try:
            s.stop(expect_status=None)
        finally:
            raise AssertionError("wattle serve %s started serving (issuer %s) instead of failing; "
                                 "stderr:\n%s" % (" ".join(s.argv[2:]), s.issuer, s.stderr_text()))

    def assertOneLineError(self, stderr, *needles):
        """stderr is exactly one non-empty line, containing every needle."""
        lines = [l for l in stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected a one-line message on stderr, got:\n" + stderr)
        for n in needles:
            self.assertIn(n, lines[0])


# ---------------------------------------------------------------------------------- browser
# (appended for the flow tests: test_flow, test_negative, test_lifecycle, test_interop)


def _cookie_path_match(request_path, cookie_path):
    """RFC 6265 §5.1.4 path-match."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def parse_set_cookie(value):
    """One Set-Cookie header value -> (name, cookie value, {lower-case attribute: value or
    True})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), val.strip(), attrs


class Browser:
    """A minimal browser for the login + consent page (SPEC §4): a cookie jar keyed by name
    that honours Path (and Max-Age=0 deletions), GET /oauth/authorize, the consent form (the
    one with the decision buttons), and posting it back like a browser would. Never follows
    redirects. `server` is a Server or an issuer URL."""

    def __init__(self, server):
        self.base = server.issuer if hasattr(server, "issuer") else server.rstrip("/")
        self.cookies = {}        # name -> {"value", "path", "attrs"}
        self.set_cookies = []    # every Set-Cookie header value received, in order

    # -- cookies

    def cookie_header(self, path):
        pairs = ["%s=%s" % (n, c["value"]) for n, c in sorted(self.cookies.items())
                 if _cookie_path_match(path, c["path"])]
        return "; ".join(pairs) or None

    def _absorb(self, resp, request_path):
        for v in resp.headers.get_all("Set-Cookie"):
            self.set_cookies.append(v)
            name, val, attrs = parse_set_cookie(v)
            path = attrs.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                path = request_path.rsplit("/", 1)[0] or "/"   # RFC 6265 default-path
            max_age = attrs.get("max-age")
            if isinstance(max_age, str) and max_age.lstrip("-").isdigit() and int(max_age) <= 0:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = {"value": val, "path": path, "attrs": attrs}

    def cookie(self, name):
        c = self.cookies.get(name)
        return c["value"] if c else None

    def last_set_cookie(self, name):
        """The attributes of the last Set-Cookie for name, or None."""
        for v in reversed(self.set_cookies):
            n, _, attrs = parse_set_cookie(v)
            if n == name:
                return attrs
        return None

    # -- requests

    def request(self, method, path, headers=None, body=None, **kw):
        """path is a path (with query) on the server, or an absolute URL on it."""
        if path.startswith("http://") or path.startswith("https://"):
            url = path
            path = urllib.parse.urlsplit(url).path or "/"
        else:
            url = self.base + path
            path = urllib.parse.urlsplit(path).path or "/"
        h = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        ch = self.cookie_header(path)
        if ch:
            h.append(("Cookie", ch))
        r = request(method, url, headers=h, body=body, **kw)
        self._absorb(r, path)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_form(self, path, fields, **kw):
        return self.request("POST", path, headers=[("Content-Type",
                                                    "application/x-www-form-urlencoded")],
                            body=form_encode(fields), **kw)

    def authorize(self, params, path="/oauth/authorize", method="GET"):
        """GET (or POST) the authorization endpoint with params (dict or list of pairs)."""
        items = params.items() if isinstance(params, dict) else params
        q = urllib.parse.urlencode([(k, v) for k, v in items if v is not None])
        if method == "POST":
            return self.post_form(path, urllib.parse.parse_qsl(q, keep_blank_values=True))
        return self.get(path + ("?" + q if q else ""))

    # -- the page

    @staticmethod
    def consent_forms(page):
        text = page.text if hasattr(page, "text") else page
        return [f for f in parse_forms(text)
                if any(b.get("name") == "decision" for b in f["buttons"])]

    @staticmethod
    def consent_form(page):
        """The one form with the decision buttons (AssertionError if not exactly one)."""
        forms = Browser.consent_forms(page)
        if len(forms) != 1:
            raise AssertionError("expected exactly one form with decision buttons, found %d in:\n%s"
                                 % (len(forms), (page.text if hasattr(page, "text") else page)[:3000]))
        return forms[0]

    @staticmethod
    def logout_form(page):
        text = page.text if hasattr(page, "text") else page
        forms = [f for f in parse_forms(text) if (f["action"] or "").split("?")[0].endswith("/logout")]
        return forms[0] if forms else None

    def submit(self, page, decision="allow", username=None, password=None, override=None,
               drop=(), path=None):
        """Posts the consent form of page (a Response or HTML) with decision, the credentials
        when the form asks for them (or when given), override {name: value} replacing or
        adding fields, and the fields in drop left out."""
        form = self.consent_form(page)
        fields = []
        names = set()
        for k, v in form_fields(form):
            names.add(k)
            if k == "username" and username is not None:
                v = username
            elif k == "password" and password is not None:
                v = password
            fields.append((k, v))
        if username is not None and "username" not in names:
            fields.append(("username", username))
        if password is not None and "password" not in names:
            fields.append(("password", password))
        if override:
            fields = [(k, v) for k, v in fields if k not in override]
            fields += list(override.items())
        fields = [(k, v) for k, v in fields if k not in drop]
        if decision is not None:
            fields.append(("decision", decision))
        return self.post_form(path or form["action"] or "/oauth/authorize", fields)

    def logout(self, page):
        """Posts the "Not you?" form of page."""
        form = self.logout_form(page)
        if form is None:
            raise AssertionError("the page has no logout form")
        return self.post_form(form["action"], form_fields(form))


# ---------------------------------------------------------------------------------- flow helpers


def add_user(data_dir, name, password, **kw):
    """`wattle user add NAME --password-stdin` (must succeed); returns its JSON."""
    return cli_json(data_dir, "user", "add", name, "--password-stdin", stdin=password + "\n", **kw)


def add_client(data_dir, name, redirect_uris=(), public=False, grant_types=(), scope=None,
               extra=(), **kw):
    """`wattle client add` (must succeed); returns its JSON (client_id, client_secret, ...)."""
    args = ["client", "add", "--name", name]
    for u in redirect_uris:
        args += ["--redirect-uri", u]
    if public:
        args.append("--public")
    for g in grant_types:
        args += ["--grant-type", g]
    if scope is not None:
        args += ["--scope", scope]
    args += list(extra)
    return cli_json(data_dir, *args, **kw)


def token_info(data_dir, token, **kw):
    """`wattle token info -` with the token on stdin; returns its JSON."""
    return cli_json(data_dir, "token", "info", "-", stdin=token + "\n", **kw)


def authorize_params(client_id, redirect_uri=None, challenge=None, scope=None, state=None,
                     **extra):
    """The parameters of an authorization request (response_type=code, S256)."""
    p = [("response_type", "code"), ("client_id", client_id)]
    if redirect_uri is not None:
        p.append(("redirect_uri", redirect_uri))
    if scope is not None:
        p.append(("scope", scope))
    if state is not None:
        p.append(("state", state))
    if challenge is not None:
        p += [("code_challenge", challenge), ("code_challenge_method", "S256")]
    p += [(k, v) for k, v in extra.items() if v is not None]
    return p


def obtain_code(server, client_id, redirect_uri, username, password, scope=None, state=None,
                browser=None, extra=None):
    """Runs the browser side of the flow (login + allow, or the stored-grant shortcut).
    Returns a dict: code, verifier, challenge, params (the redirect's query, first values),
    response (the final redirect), browser."""
    b = browser or Browser(server)
    verifier, challenge = pkce_pair()
    state = state if state is not None else secrets.token_urlsafe(12)
    r = b.authorize(authorize_params(client_id, redirect_uri, challenge, scope, state,
                                     **(extra or {})))
    if r.status == 200:
        r = b.submit(r, "allow", username=username, password=password)
    if r.status not in (302, 303):
        raise AssertionError("authorization did not redirect: %r" % r)
    loc = r.headers.get("Location")
    q = {k: v[0] for k, v in query_params(loc).items()}
    if "code" not in q:
        raise AssertionError("no code in the redirect %r" % loc)
    return {"code": q["code"], "verifier": verifier, "challenge": challenge, "params": q,
            "location": loc, "response": r, "browser": b, "state": state}


def redeem_code(server, client_id, secret, code, verifier, redirect_uri=None, json_body=False,
                extra=None):
    """The token request for a code: Basic auth when secret is given, else client_id alone."""
    fields = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    if redirect_uri is not None:
        fields["redirect_uri"] = redirect_uri
    if secret is None:
        fields["client_id"] = client_id
    fields.update(extra or {})
    auth = (client_id, secret) if secret is not None else None
    if json_body:
        return post_json(server.url("/oauth/token"), fields, auth=auth)
    return post_form(server.url("/oauth/token"), fields, auth=auth)


def refresh_request(server, client_id, secret, refresh_token, scope=None, json_body=False):
    fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope is not None:
        fields["scope"] = scope
    if secret is None:
        fields["client_id"] = client_id
    auth = (client_id, secret) if secret is not None else None
    if json_body:
        return post_json(server.url("/oauth/token"), fields, auth=auth)
    return post_form(server.url("/oauth/token"), fields, auth=auth)


def revoke_request(server, client_id, secret, token, hint=None, json_body=False):
    fields = {"token": token}
    if hint:
        fields["token_type_hint"] = hint
    if secret is None:
        fields["client_id"] = client_id
    auth = (client_id, secret) if secret is not None else None
    if json_body:
        return post_json(server.url("/oauth/revoke"), fields, auth=auth)
    return post_form(server.url("/oauth/revoke"), fields, auth=auth)


class SharedServerTestCase(WattleTestCase):
    """One server for the whole class (server_config: its config dict or None), started in
    setUpClass and stopped (and checked for sanitizer reports) in tearDownClass. Subclasses
    register users and clients in setUpStore() (a classmethod; cls.server, cls.dd set)."""

    server_config = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_tmp = tempfile.mkdtemp(prefix="wattle-e2e-class-")
        cls.server = Server(cls.class_tmp, config=cls.server_config)
        try:
            cls.server.start()
            cls.dd = cls.server.data_dir
            cls.setUpStore()
        except BaseException:
            try:
                cls.server.stop()
            finally:
                shutil.rmtree(cls.class_tmp, ignore_errors=True)
            raise

    @classmethod
    def setUpStore(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            shutil.rmtree(cls.class_tmp, ignore_errors=True)
            super().tearDownClass()
