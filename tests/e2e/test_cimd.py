"""End-to-end tests of Client ID Metadata Documents (SPEC §2; draft-ietf-oauth-client-id-metadata-
document; MCP 2025-11-25): a client_id that is an https:// URL is fetched, checked and used.

The test makes its own CA and server certificates with the `openssl` command (one for
localhost/127.0.0.1, one for wrong.example), serves metadata documents over HTTPS from a Python
http.server on an ephemeral port, and points Wattle at the CA with cimd.ca_file. Covered: the
consent page with the document's client_name, the whole code flow with PKCE and a public token
request (client_id = the URL, no secret), refresh, the flow of a private_key_jwt document, caching, no consent skip for a loopback-only
document (and the skip for another one), and the 400 page (never a redirect) for: a private
address while allow_private_addresses is off, a client_id that differs from the URL, a document
over 5 KB, a server that never answers (timeout), a certificate for another host name, a
redirect, a 404, a body that is not JSON, a client-secret method, URLs that break the draft's
rules, an http:// client_id and cimd.enabled false."""

import collections
import html
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (SLOW, Browser, SharedServerTestCase, WattleTestCase, add_user,
                     authorize_params, obtain_code, pkce_pair, redeem_code, refresh_request)
from test_private_key_jwt import JWT_BEARER, Key, compact

PASSWORD = "cimd test password 1"
REDIRECT = "https://app.example/cb"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"

# ---------------------------------------------------------------------------------- PKI

CA_CNF = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Wattle CIMD test CA
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""

LEAF_CNF = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = %(cn)s
[leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = %(san)s
authorityKeyIdentifier = keyid
"""


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))


class Pki:
    """A CA (ca.pem) and leaf certificates signed by it, in a temporary directory."""

    def __init__(self):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("the openssl command is not installed")
        self.dir = tempfile.mkdtemp(prefix="wattle-cimd-pki-")
        with open(os.path.join(self.dir, "ca.cnf"), "w") as f:
            f.write(CA_CNF)
        _openssl("req", "-x509", "-config", "ca.cnf", "-extensions", "ca_ext", "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
                 "-out", "ca.pem", "-days", "2", cwd=self.dir)
        self.ca = os.path.join(self.dir, "ca.pem")
        self._serial = 1

    def leaf(self, name, cn, san):
        """(cert path, key path) of a new leaf for subjectAltName san."""
        self._serial += 1
        with open(os.path.join(self.dir, name + ".cnf"), "w") as f:
            f.write(LEAF_CNF % {"cn": cn, "san": san})
        _openssl("req", "-new", "-config", name + ".cnf", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key", "-out",
                 name + ".csr", cwd=self.dir)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(self._serial), "-days", "2", "-extfile", name + ".cnf",
                 "-extensions", "leaf_ext", "-out", name + ".pem", cwd=self.dir)
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------- servers


class DocServer:
    """An HTTPS server for metadata documents on 127.0.0.1:<ephemeral>. routes: path (with
    query) -> (status, [(header, value)], body bytes); hits counts the requests per path."""

    def __init__(self, cert, key):
        self.routes = {}
        self.hits = collections.Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.hits[self.path] += 1
                    route = outer.routes.get(self.path)
                status, headers, body, length = route or (404, [], b"not found", True)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if length:  # else HTTP/1.0 without Content-Length: the body ends at close
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # refused handshakes (wrong host name) are expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def add(self, path, body, status=200, headers=(("Content-Type", "application/json"),),
            length=True):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.routes[path] = (status, list(headers), body, length)

    def doc(self, path, host="localhost", **fields):
        """Serves a document whose client_id is its own URL; returns that URL."""
        url = self.url(path, host)
        d = {"client_id": url}
        d.update(fields)
        self.add(path, d)
        return url

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts TCP connections (the kernel does) and never says anything."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def stop(self):
        self.sock.close()


# ---------------------------------------------------------------------------------- helpers

PKI = None
LOCAL_CERT = WRONG_CERT = None


def setUpModule():
    global PKI, LOCAL_CERT, WRONG_CERT
    PKI = Pki()
    LOCAL_CERT = PKI.leaf("localhost", "localhost", "DNS:localhost,IP:127.0.0.1")
    WRONG_CERT = PKI.leaf("wrong", "wrong.example", "DNS:wrong.example")


def tearDownModule():
    if PKI:
        PKI.remove()


def alert_text(resp):
    """The text of the page's role="alert" paragraph (unescaped), or ""."""
    m = re.search(r'role="alert">(.*?)</p>', resp.text, re.S)
    return html.unescape(m.group(1)) if m else ""


class CimdCase:
    """Assertions shared by the test classes."""

    def assertErrorPage(self, resp, *needles, status=400):
        self.assertEqual(resp.status, status, resp.text[:2000])
        self.assertIsNone(resp.headers.get("Location"), "an error page, never a redirect")
        self.assertEqual(resp.content_type, "text/html")
        msg = alert_text(resp)
        for n in needles:
            self.assertIn(n.lower(), msg.lower(), "page says: %r" % msg)
        return msg

    def authorize(self, server, client_id, redirect_uri=REDIRECT, browser=None):
        b = browser or Browser(server)
        _, challenge = pkce_pair()
        return b.authorize(authorize_params(client_id, redirect_uri, challenge, state="s1"))


# ---------------------------------------------------------------------------------- tests


class CimdTest(CimdCase, SharedServerTestCase):
    """One server with cimd enabled, private addresses allowed (the documents are served on
    loopback) and the test CA."""

    @classmethod
    def setUpClass(cls):
        if PKI is None:
            setUpModule()
        cls.docs = DocServer(*LOCAL_CERT)
        cls.wrong = DocServer(*WRONG_CERT)
        cls.silent = SilentServer()
        # Fetches count against rate_limit.register (tested on its own below); this class
        # makes more than its 20 per second.
        cls.server_config = {"cimd": {"enabled": True, "allow_private_addresses": True,
                                      "ca_file": PKI.ca},
                             "rate_limit": {"register": 0}}
        try:
            super().setUpClass()
        except BaseException:
            cls._stop_helpers()
            raise

    @classmethod
    def _stop_helpers(cls):
        cls.docs.stop()
        cls.wrong.stop()
        cls.silent.stop()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._stop_helpers()

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)

    # -- the good path

    def test_consent_page_shows_the_document_name(self):
        url = self.docs.doc("/client.json", client_name="CIMD Test App",
                            redirect_uris=[REDIRECT])
        r = self.authorize(self.server, url)
        self.assertEqual(r.status, 200, r.text[:2000])
        self.assertIn("CIMD Test App", r.text)
        Browser.consent_form(r)  # the page has the decision form

    def test_name_defaults_to_the_host(self):
        url = self.docs.doc("/noname.json", redirect_uris=[REDIRECT])
        r = self.authorize(self.server, url)
        self.assertEqual(r.status, 200, r.text[:2000])
        self.assertIn("Authorize localhost", html.unescape(r.text))

    def test_full_flow_public_client(self):
        url = self.docs.doc("/flow.json", client_name="Flow App", redirect_uris=[REDIRECT],
                            token_endpoint_auth_method="none",
                            grant_types=["authorization_code", "refresh_token"],
                            response_types=["code"], client_uri="https://app.example/")
        got = obtain_code(self.server, url, REDIRECT, "alice", PASSWORD)
        r = redeem_code(self.server, url, None, got["code"], got["verifier"], REDIRECT)
        self.assertEqual(r.status, 200, r.text)
        tok = r.json()
        self.assertTrue(tok["access_token"].startswith("oat_"))
        self.assertIn("refresh_token", tok)
        r = refresh_request(self.server, url, None, tok["refresh_token"])
        self.assertEqual(r.status, 200, r.text)
        # A second authorization in the same browser skips the page (stored grant) for a
        # client whose redirect URI is not loopback.
        b = got["browser"]
        r = self.authorize(self.server, url, browser=b)
        self.assertEqual(r.status, 302, r.text[:2000])
        self.assertIn("code=", r.headers.get("Location"))

    def test_full_flow_private_key_jwt(self):
        key = Key(self.class_tmp, "cimd-ec", "EC")
        url = self.docs.doc("/pkjwt.json", client_name="Signed App", redirect_uris=[REDIRECT],
                            token_endpoint_auth_method="private_key_jwt",
                            jwks={"keys": [key.jwk]})
        got = obtain_code(self.server, url, REDIRECT, "alice", PASSWORD)
        # without an assertion the code is refused (and stays unused)
        r = redeem_code(self.server, url, None, got["code"], got["verifier"], REDIRECT)
        self.assertEqual(r.status, 401, r.text)
        now = int(time.time())
        claims = {"iss": url, "sub": url, "aud": self.server.url("/oauth/token"), "iat": now,
                  "exp": now + 60, "jti": "cimd-%d" % now}
        assertion = compact({"alg": key.alg, "typ": "JWT", "kid": key.jwk["kid"]}, claims,
                            key.sign)
        r = redeem_code(self.server, url, None, got["code"], got["verifier"], REDIRECT,
                        extra={"client_assertion_type": JWT_BEARER,
                               "client_assertion": assertion})
        self.assertEqual(r.status, 200, r.text)
        self.assertTrue(r.json()["access_token"].startswith("oat_"))

    def test_loopback_only_document_never_skips_consent(self):
        url = self.docs.doc("/loopback.json", client_name="Loopback App",
                            redirect_uris=[LOOPBACK_REDIRECT])
        got = obtain_code(self.server, url, LOOPBACK_REDIRECT, "alice", PASSWORD)
        r = redeem_code(self.server, url, None, got["code"], got["verifier"], LOOPBACK_REDIRECT)
        self.assertEqual(r.status, 200, r.text)
        r = self.authorize(self.server, url, redirect_uri=LOOPBACK_REDIRECT,
                           browser=got["browser"])
        self.assertEqual(r.status, 200, "a loopback-only metadata-document client must see "
                                        "the consent page again: %r" % r)
        Browser.consent_form(r)

    def test_document_is_cached(self):
        url = self.docs.doc("/cached.json", client_name="Cached", redirect_uris=[REDIRECT])
        for _ in range(3):
            self.assertEqual(self.authorize(self.server, url).status, 200)
        self.assertEqual(self.docs.hits["/cached.json"], 1)

    def test_failed_fetch_is_not_cached(self):
        path = "/later.json"
        url = self.docs.url(path)
        self.assertErrorPage(self.authorize(self.server, url), "404")
        self.docs.doc(path, client_name="Later", redirect_uris=[REDIRECT])
        r = self.authorize(self.server, url)
        self.assertEqual(r.status, 200, r.text[:2000])
        self.assertEqual(self.docs.hits[path], 2)

    def test_redirect_uri_must_be_in_the_document(self):
        url = self.docs.doc("/strict.json", redirect_uris=[REDIRECT])
        r = self.authorize(self.server, url, redirect_uri="https://evil.example/cb")
        self.assertErrorPage(r, "redirect_uri")

    # -- refusals (400 page, never a redirect)

    def test_client_id_mismatch(self):
        self.docs.add("/mismatch.json", {"client_id": self.docs.url("/other.json"),
                                         "redirect_uris": [REDIRECT]})
        r = self.authorize(self.server, self.docs.url("/mismatch.json"))
        self.assertErrorPage(r, "client_id", "not the URL")

    def test_document_over_5kb(self):
        url = self.docs.url("/big.json")
        self.docs.add("/big.json", {"client_id": url, "redirect_uris": [REDIRECT],
                                    "padding": "x" * 6000})
        self.assertErrorPage(self.authorize(self.server, url), "larger than", "5 KB")

    def test_document_over_5kb_without_length(self):
        # no Content-Length to refuse up front: the cap holds while reading
        url = self.docs.url("/nolength.json")
        self.docs.add("/nolength.json", {"client_id": url, "redirect_uris": [REDIRECT],
                                         "padding": "y" * 60000}, length=False)
        self.assertErrorPage(self.authorize(self.server, url), "larger than")

    def test_not_json(self):
        url = self.docs.url("/notjson.json")
        self.docs.add("/notjson.json", "this is not JSON")
        self.assertErrorPage(self.authorize(self.server, url), "not valid JSON")

    def test_not_an_object(self):
        url = self.docs.url("/array.json")
        self.docs.add("/array.json", [url])
        self.assertErrorPage(self.authorize(self.server, url), "not a JSON object")

    def test_http_error_status(self):
        self.assertErrorPage(self.authorize(self.server, self.docs.url("/nowhere.json")),
                             "HTTP status 404")

    def test_redirect_is_not_followed(self):
        target = self.docs.doc("/target.json", redirect_uris=[REDIRECT])
        self.docs.add("/moved.json", b"", status=302, headers=[("Location", target)])
        r = self.authorize(self.server, self.docs.url("/moved.json"))
        self.assertErrorPage(r, "HTTP status 302", "redirects are not followed")
        self.assertEqual(self.docs.hits["/target.json"], 0)

    def test_client_secret_methods_refused(self):
        for method in ("client_secret_basic", "client_secret_post", "client_secret_jwt"):
            with self.subTest(method=method):
                url = self.docs.doc("/secret-%s.json" % method, redirect_uris=[REDIRECT],
                                    token_endpoint_auth_method=method)
                self.assertErrorPage(self.authorize(self.server, url), "client secret")
        url = self.docs.doc("/has-secret.json", redirect_uris=[REDIRECT], client_secret="s3")
        self.assertErrorPage(self.authorize(self.server, url), "client_secret")

    def test_jwks_uri_refused(self):
        url = self.docs.doc("/jwks-uri.json", redirect_uris=[REDIRECT],
                            token_endpoint_auth_method="private_key_jwt",
                            jwks_uri="https://app.example/jwks.json")
        self.assertErrorPage(self.authorize(self.server, url), "jwks_uri is not supported")

    def test_missing_redirect_uris(self):
        url = self.docs.doc("/noredirect.json", client_name="x")
        self.assertErrorPage(self.authorize(self.server, url), "redirect_uris")

    def test_server_that_never_answers(self):
        url = "https://localhost:%d/client.json" % self.silent.port
        t0 = time.monotonic()
        r = self.authorize(self.server, url)
        took = time.monotonic() - t0
        self.assertErrorPage(r, "timeout")
        self.assertLess(took, 8 * SLOW, "the fetch must give up within its timeout")

    def test_certificate_for_another_host_name(self):
        url = self.wrong.doc("/client.json", redirect_uris=[REDIRECT])
        r = self.authorize(self.server, url)
        self.assertErrorPage(r, "certificate")
        self.assertEqual(self.wrong.hits["/client.json"], 0)

    def test_invalid_client_id_urls(self):
        base = "https://localhost:%d" % self.docs.port
        cases = [
            (base, "path"),
            (base + "/client.json#frag", "fragment"),
            ("https://user:pw@localhost:%d/client.json" % self.docs.port, "user name"),
            (base + "/a/../client.json", "'..'"),
            (base + "/a/%2e%2E/client.json", "'..'"),
            (base + "/./client.json", "'.'"),
            ("https://localhost:0/client.json", "port"),
            ("https://localhost:99999/client.json", "port"),
            ("https:///client.json", "no host"),
            ("https://" + "a" * 60 + "." + "b" * 60 + "/" + "c" * 300, "longer than 400"),
            ("https://bad host/x.json", "character"),
            ("https://127.1/x.json", "dotted-quad"),
        ]
        for url, needle in cases:
            with self.subTest(url=url):
                self.assertErrorPage(self.authorize(self.server, url), needle)

    def test_http_client_id_is_an_unknown_client(self):
        url = "http://localhost:%d/client.json" % self.docs.port
        self.assertErrorPage(self.authorize(self.server, url), "unknown client_id")

    def test_client_id_given_twice(self):
        url = self.docs.doc("/twice.json", redirect_uris=[REDIRECT])
        b = Browser(self.server)
        _, challenge = pkce_pair()
        p = authorize_params(url, REDIRECT, challenge) + [("client_id", url)]
        self.assertErrorPage(b.authorize(p), "more than once")
        self.assertEqual(self.docs.hits["/twice.json"], 0)


class CimdPolicyTest(CimdCase, WattleTestCase):
    """Servers with other cimd settings."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if PKI is None:
            setUpModule()
        cls.docs = DocServer(*LOCAL_CERT)

    @classmethod
    def tearDownClass(cls):
        cls.docs.stop()
        super().tearDownClass()

    def test_private_addresses_refused_by_default(self):
        s = self.start_server(config={"cimd": {"enabled": True, "ca_file": PKI.ca}})
        for host in ("localhost", "127.0.0.1"):
            with self.subTest(host=host):
                url = self.docs.doc("/private-%s.json" % host, host=host,
                                    redirect_uris=[REDIRECT])
                msg = self.assertErrorPage(self.authorize(s, url), "not allowed")
                self.assertIn("loopback", msg)
                self.assertEqual(self.docs.hits["/private-%s.json" % host], 0,
                                 "nothing was fetched")

    def test_fetches_count_against_the_registration_rate(self):
        s = self.start_server(config={"cimd": {"enabled": True, "allow_private_addresses": True,
                                               "ca_file": PKI.ca},
                                      "rate_limit": {"register": 1}})
        # 404s are never cached, so each authorization fetches again
        got = [self.authorize(s, self.docs.url("/rate-%d.json" % i)) for i in range(3)]
        limited = [r for r in got if r.status == 429]
        self.assertTrue(limited, [r.status for r in got])
        self.assertTrue(limited[0].headers.get("Retry-After", "").isdigit())
        self.assertEqual(limited[0].content_type, "text/html")

    def test_shutdown_during_a_fetch(self):
        silent = SilentServer()
        self.addCleanup(silent.stop)
        s = self.start_server(config={"cimd": {"enabled": True, "allow_private_addresses": True,
                                               "ca_file": PKI.ca}})
        got = {}

        def run():
            try:
                got["r"] = self.authorize(s, "https://localhost:%d/c.json" % silent.port)
            except Exception as e:  # noqa: BLE001 - reported below
                got["e"] = e

        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.5 * SLOW)
        self.assertEqual(s.stop(), 0)
        self.assertLess(s.stop_seconds, 2.5 * SLOW, "an in-flight fetch must not hold up exit")
        th.join(10)
        self.assertIn("r", got, got.get("e"))
        self.assertErrorPage(got["r"], "shutting down", status=503)

    def test_disabled(self):
        s = self.start_server(config={"cimd": {"enabled": False, "allow_private_addresses": True,
                                               "ca_file": PKI.ca}})
        url = self.docs.doc("/disabled.json", redirect_uris=[REDIRECT])
        self.assertErrorPage(self.authorize(s, url), "unknown client_id")
        self.assertEqual(self.docs.hits["/disabled.json"], 0)


if __name__ == "__main__":
    unittest.main()
