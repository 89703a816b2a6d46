"""TLS listeners (SPEC §1 `listen` with `tls`): https issuer, HTTP/2 over ALPN, and the
https-only cookie and header rules of the consent page (SPEC §4)."""
import shutil
import socket
import ssl
import subprocess
import unittest

from harness import Browser, WattleTestCase, add_client, pkce_pair, request


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1 and localhost; returns (cert, key) paths."""
    cert, key = directory + "/cert.pem", directory + "/key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is needed to make a cert")
class TlsTest(WattleTestCase):
    def setUp(self):
        super().setUp()
        cert, key = make_cert(self.tmp)
        self.server = self.start_server(config={
            "listen": [{"address": "127.0.0.1:0", "tls": {"cert": cert, "key": key}}]},
            listen=None)

    def test_issuer_is_https_and_metadata_is_served(self):
        self.assertTrue(self.server.issuer.startswith("https://127.0.0.1:"), self.server.issuer)
        r = request("GET", self.server.url("/.well-known/oauth-authorization-server"))
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["issuer"], self.server.issuer)
        self.assertEqual(doc["token_endpoint"], self.server.issuer + "/oauth/token")

    def test_alpn_offers_http2(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection((self.server.host, self.server.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                self.assertEqual(t.selected_alpn_protocol(), "h2")
                self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))

    @unittest.skipUnless(shutil.which("curl"), "curl is needed for an HTTP/2 request")
    def test_http2_request(self):
        out = subprocess.run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w",
                              "%{http_version} %{http_code}",
                              self.server.url("/.well-known/oauth-authorization-server")],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.strip(), "2 200", out.stderr)

    def test_consent_page_cookies_and_hsts_on_https(self):
        cid = add_client(self.data_dir, "TLS app",
                         redirect_uris=["https://app.example/cb"])["client_id"]
        _, challenge = pkce_pair()
        b = Browser(self.server)
        r = b.authorize({"client_id": cid, "redirect_uri": "https://app.example/cb",
                         "response_type": "code", "code_challenge": challenge,
                         "code_challenge_method": "S256", "state": "s"})
        self.assertEqual(r.status, 200, r)
        self.assertIn("max-age=", r.headers.get("Strict-Transport-Security", ""))
        attrs = b.last_set_cookie("__Host-wattle_bid")
        self.assertIsNotNone(attrs, b.set_cookies)
        self.assertIn("secure", attrs)
        self.assertEqual(attrs.get("path"), "/")   # the __Host- prefix requires Path=/
        self.assertIsNone(b.last_set_cookie("wattle_bid"))


if __name__ == "__main__":
    unittest.main()
