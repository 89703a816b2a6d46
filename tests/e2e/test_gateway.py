"""End-to-end tests of the resource-server side (SPEC §2, §5): the bearer gateway's challenges
row by row, the echo resource, scopes per method, audience binding, the reverse proxy (identity
headers, scrubbing, bodies, CORS replacement, Server-Sent Events, an unreachable upstream),
userinfo, forward-auth in the nginx, Traefik and Envoy styles, and a real nginx using
auth_request in front of Wattle."""

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (SLOW, SharedServerTestCase, WattleTestCase, add_client, add_user,  # noqa: E402
                     free_port, obtain_code, post_form, redeem_code, request)
from upstream.upstream_server import Upstream  # noqa: E402

PRM = "/.well-known/oauth-protected-resource"
PASSWORD = "correct horse battery"
REDIRECT = "http://127.0.0.1/callback"
PREFLIGHT_HEADERS = ["Authorization", "Content-Type", "MCP-Protocol-Version", "Mcp-Session-Id",
                     "Last-Event-ID"]
EXPOSED = ["WWW-Authenticate", "Retry-After", "Mcp-Session-Id"]


# ---------------------------------------------------------------------------------- helpers


def parse_challenge(value):
    """'Bearer a="x", b="y"' -> ("Bearer", [(name, unescaped value), ...]); raises on bad
    syntax (so the test also checks the quoting)."""
    scheme, _, rest = value.partition(" ")
    params = []
    i, n = 0, len(rest)
    while i < n:
        eq = rest.index("=", i)
        name = rest[i:eq]
        if not name or not all(c.isalnum() or c == "_" for c in name):
            raise AssertionError("bad parameter name %r in %r" % (name, value))
        if rest[eq + 1] != '"':
            raise AssertionError("unquoted value in %r" % value)
        j, out = eq + 2, []
        while rest[j] != '"':
            if rest[j] == "\\":
                j += 1
            out.append(rest[j])
            j += 1
        params.append((name, "".join(out)))
        i = j + 1
        if i < n:
            if rest[i:i + 2] != ", ":
                raise AssertionError("parameters must be separated by ', ' in %r" % value)
            i += 2
    return scheme, params


def header_tokens(value):
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def random_access_token():
    return "oat_" + secrets.token_urlsafe(32)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def read_responses(sock, n):
    """Reads n HTTP/1.1 responses from sock: [(status, {lowercased header: value}, body)].
    Bodies are framed by Content-Length; a response without one (204) has none."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed after %d responses: %r" % (len(out), buf))
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed inside a body")
            buf += chunk
        out.append((int(lines[0].split(" ")[1]), headers, buf[:length]))
        buf = buf[length:]
    return out


class ResourceCase:
    """Assertions shared by the test classes (mixed into WattleTestCase subclasses)."""

    def expected_challenge(self, server, path="/mcp", scope="read:assets", realm="Wattle"):
        s = 'Bearer realm="%s", resource_metadata="%s%s%s"' % (realm, server.issuer, PRM, path)
        if scope:
            s += ', scope="%s"' % scope
        return s

    def assertCors(self, r):
        self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"], r)
        self.assertNotIn("Access-Control-Allow-Credentials", r.headers)
        self.assertEqual(r.headers.count("Access-Control-Expose-Headers"), 1, r)
        exposed = header_tokens(r.headers.get("Access-Control-Expose-Headers"))
        for h in EXPOSED:
            self.assertIn(h.lower(), exposed)

    def assertChallenge(self, r, status, base, error=None):
        """r has `status`, exactly one WWW-Authenticate that is `base` (exactly), followed, when
        error is given, by error="<error>" and an error_description; and a JSON body with the
        same error."""
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers.count("WWW-Authenticate"), 1, r)
        h = r.headers["WWW-Authenticate"]
        if error is None:
            self.assertEqual(h, base)
        else:
            prefix = base + ', error="%s", error_description="' % error
            self.assertTrue(h.startswith(prefix) and h.endswith('"'),
                            "WWW-Authenticate %r does not start with %r" % (h, prefix))
        scheme, params = parse_challenge(h)
        self.assertEqual(scheme, "Bearer")
        names = [k for k, _ in params]
        self.assertEqual(names[0], "realm")
        self.assertEqual(len(names), len(set(names)), "a parameter appears twice: %r" % h)
        self.assertEqual(r.content_type, "application/json", r)
        if error:
            body = r.json()
            self.assertEqual(body["error"], error)
            self.assertEqual(dict(params)["error_description"], body["error_description"])
        return dict(params)


class CcMixin:
    """A confidential client_credentials client (all scopes) in cls.cc."""

    @classmethod
    def make_cc(cls, dd):
        cls.cc = add_client(dd, "service", grant_types=["client_credentials"])

    def cc_token(self, scope=None, resource=None, server=None):
        fields = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        r = post_form((server or self.server).url("/oauth/token"), fields,
                      auth=(self.cc["client_id"], self.cc["client_secret"]))
        self.assertEqual(r.status, 200, r)
        return r.json()["access_token"]

    def user_token(self, client, scope="read:assets", resource=None, server=None):
        server = server or self.server
        extra = {"resource": resource} if resource else None
        got = obtain_code(server, client["client_id"], REDIRECT, "alice", PASSWORD, scope=scope,
                          extra=extra)
        r = redeem_code(server, client["client_id"], client.get("client_secret"), got["code"],
                        got["verifier"], REDIRECT,
                        extra={"resource": resource} if resource else None)
        self.assertEqual(r.status, 200, r)
        return r.json()["access_token"]


# ---------------------------------------------------------------------------------- gateway


class GatewayTest(ResourceCase, CcMixin, SharedServerTestCase):
    """The default resource /mcp (echo, scopes_required ["read:assets"]): every row of the
    SPEC §5 table, the echo document and CORS."""

    server_config = {"rate_limit": {"token": 0, "revoke": 0}}

    @classmethod
    def setUpStore(cls):
        cls.make_cc(cls.dd)
        cls.alice = add_user(cls.dd, "alice", PASSWORD)
        cls.app = add_client(cls.dd, "Photo App", [REDIRECT], public=True)

    def base(self, scope="read:assets"):
        return self.expected_challenge(self.server, "/mcp", scope)

    def test_no_authorization(self):
        for method in ("GET", "POST", "DELETE"):
            r = self.server.request(method, "/mcp")
            self.assertChallenge(r, 401, self.base())
            self.assertCors(r)
            self.assertNotIn("error", r.headers["WWW-Authenticate"])
        r = self.server.get("/mcp/deeper/path")
        self.assertChallenge(r, 401, self.base())

    def test_challenge_points_at_the_metadata(self):
        h = parse_challenge(self.server.get("/mcp").headers["WWW-Authenticate"])[1]
        url = dict(h)["resource_metadata"]
        r = request("GET", url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["resource"], self.server.issuer + "/mcp")

    def test_other_scheme_is_no_token(self):
        for v in ("Basic Zm9vOmJhcg==", "DPoP " + random_access_token(), "Token abc"):
            r = self.server.get("/mcp", headers={"Authorization": v})
            self.assertChallenge(r, 401, self.base())

    def test_malformed_bearer(self):
        good = self.cc_token()
        for v in ("Bearer", "Bearer ", "Bearer a b", "Bearer a,b", 'Bearer "%s"' % good,
                  "Bearer " + good + " x", "Bearer abc", "Bearer " + good.replace("oat_", "ort_"),
                  "Bearer " + good[:-1], "Bearer " + good + "%", "Bearer\t" + good, ""):
            r = self.server.get("/mcp", headers={"Authorization": v})
            self.assertChallenge(r, 400, self.base(), "invalid_request")
            self.assertCors(r)

    def test_bearer_scheme_is_case_insensitive(self):
        t = self.cc_token()
        for scheme in ("bearer", "BEARER", "Bearer"):
            r = self.server.get("/mcp", headers={"Authorization": scheme + " " + t})
            self.assertEqual(r.status, 200, r)

    def test_two_authorization_headers(self):
        t = self.cc_token()
        r = self.server.get("/mcp", headers=[("Authorization", "Bearer " + t),
                                             ("Authorization", "Bearer " + t)])
        self.assertChallenge(r, 400, self.base(), "invalid_request")

    def test_token_in_query(self):
        t = self.cc_token()
        r = self.server.get("/mcp?access_token=" + t)
        p = self.assertChallenge(r, 400, self.base(), "invalid_request")
        self.assertIn("query", p["error_description"])
        r = self.server.get("/mcp?x=1&access_token=" + t, headers=bearer(t))
        self.assertChallenge(r, 400, self.base(), "invalid_request")
        # other parameters are fine
        self.assertEqual(self.server.get("/mcp?token=1", headers=bearer(t)).status, 200)

    def test_unknown_token(self):
        r = self.server.get("/mcp", headers=bearer(random_access_token()))
        self.assertChallenge(r, 401, self.base(), "invalid_token")
        self.assertCors(r)

    def test_wrong_secret(self):
        t = self.cc_token()
        forged = t[:-6] + ("AAAAAA" if not t.endswith("AAAAAA") else "BBBBBB")
        r = self.server.get("/mcp", headers=bearer(forged))
        self.assertChallenge(r, 401, self.base(), "invalid_token")

    def test_revoked_token(self):
        t = self.cc_token()
        self.assertEqual(self.server.get("/mcp", headers=bearer(t)).status, 200)
        r = post_form(self.server.url("/oauth/revoke"), {"token": t},
                      auth=(self.cc["client_id"], self.cc["client_secret"]))
        self.assertEqual(r.status, 200, r)
        r = self.server.get("/mcp", headers=bearer(t))
        self.assertChallenge(r, 401, self.base(), "invalid_token")

    def test_insufficient_scope(self):
        t = self.cc_token(scope="write:assets")
        r = self.server.request("POST", "/mcp", headers=bearer(t), body=b"{}")
        p = self.assertChallenge(r, 403, self.base(), "insufficient_scope")
        self.assertEqual(p["scope"], "read:assets")
        self.assertIn("read:assets", p["error_description"])
        self.assertCors(r)

    def test_echo_client_credentials(self):
        t = self.cc_token(scope="read:assets write:assets")
        r = self.server.request("PUT", "/mcp/tools/call?x=1", headers=bearer(t), body=b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertCors(r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        d = r.json()
        cid = self.cc["client_id"]
        self.assertIs(d["active"], True)
        self.assertEqual(d["scope"], "read:assets write:assets")
        self.assertEqual(d["client_id"], cid)
        self.assertEqual(d["sub"], cid)  # no user: the client is the subject
        self.assertNotIn("username", d)
        self.assertEqual(d["aud"], self.server.issuer + "/mcp")
        self.assertEqual(d["iss"], self.server.issuer)
        self.assertEqual(d["token_type"], "Bearer")
        self.assertEqual(d["method"], "PUT")
        self.assertEqual(d["path"], "/mcp/tools/call")
        self.assertEqual(d["exp"] - d["iat"], 3600)
        self.assertLessEqual(abs(d["iat"] - time.time()), 30)

    def test_echo_user_token(self):
        t = self.user_token(self.app)
        d = self.server.get("/mcp", headers=bearer(t)).json()
        self.assertEqual(d["sub"], self.alice["sub"])
        self.assertEqual(d["username"], "alice")
        self.assertEqual(d["client_id"], self.app["client_id"])
        self.assertEqual(d["scope"], "read:assets")
        self.assertEqual(d["path"], "/mcp")

    def test_echo_describes_the_token_as_introspection_does(self):
        # SPEC §5: the echo resource describes the token "with the introspection field names",
        # plus method and path; the two answers must not drift apart.
        for t in (self.user_token(self.app), self.cc_token(scope="read:assets")):
            echo = self.server.get("/mcp", headers=bearer(t)).json()
            r = post_form(self.server.url("/oauth/introspect"), {"token": t},
                          auth=(self.cc["client_id"], self.cc["client_secret"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(echo.pop("method"), "GET")
            self.assertEqual(echo.pop("path"), "/mcp")
            self.assertEqual(echo, r.json())

    def test_preflight(self):
        r = self.server.request("OPTIONS", "/mcp/messages", headers={
            "Origin": "https://inspector.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, mcp-protocol-version"})
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("WWW-Authenticate", r.headers)
        self.assertCors(r)
        methods = header_tokens(r.headers.get("Access-Control-Allow-Methods"))
        for m in ("get", "post", "put", "patch", "delete", "options"):
            self.assertIn(m, methods)
        allowed = header_tokens(r.headers.get("Access-Control-Allow-Headers"))
        for h in PREFLIGHT_HEADERS:
            self.assertIn(h.lower(), allowed)

    def test_prefix_is_segment_bound(self):
        self.assertEqual(self.server.get("/mcpx").status, 404)
        self.assertEqual(self.server.get("/mcp-other").status, 404)

    # -- userinfo

    def test_userinfo_user(self):
        t = self.user_token(self.app)
        r = self.server.get("/oauth/userinfo", headers=bearer(t))
        self.assertEqual(r.status, 200, r)
        self.assertCors(r)
        self.assertEqual(r.json(), {"sub": self.alice["sub"], "name": "alice",
                                    "preferred_username": "alice"})

    def test_userinfo_client_credentials(self):
        r = self.server.get("/oauth/userinfo", headers=bearer(self.cc_token()))
        p = self.assertChallenge(r, 403, 'Bearer realm="Wattle"', "insufficient_scope")
        self.assertNotIn("resource_metadata", p)
        self.assertCors(r)

    def test_userinfo_no_or_bad_token(self):
        r = self.server.get("/oauth/userinfo")
        self.assertChallenge(r, 401, 'Bearer realm="Wattle"')
        self.assertCors(r)
        r = self.server.get("/oauth/userinfo", headers=bearer(random_access_token()))
        self.assertChallenge(r, 401, 'Bearer realm="Wattle"', "invalid_token")
        r = self.server.get("/oauth/userinfo", headers={"Authorization": "Bearer a b"})
        self.assertChallenge(r, 400, 'Bearer realm="Wattle"', "invalid_request")
        r = self.server.get("/oauth/userinfo?access_token=" + self.cc_token())
        self.assertChallenge(r, 400, 'Bearer realm="Wattle"', "invalid_request")

    def test_userinfo_preflight(self):
        r = self.server.request("OPTIONS", "/oauth/userinfo", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        self.assertEqual(r.status, 204, r)
        self.assertCors(r)
        self.assertIn("authorization",
                      header_tokens(r.headers.get("Access-Control-Allow-Headers")))


class UserinfoProfileTest(ResourceCase, CcMixin, WattleTestCase):
    """name prefers the display name; email appears when set."""

    def test_display_name_and_email(self):
        u = self.cli_json("user", "add", "alice", "--display-name", "Alice Liddell", "--email",
                          "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")
        app = add_client(self.data_dir, "Photo App", [REDIRECT], public=True)
        self.server = self.start_server({"rate_limit": {"token": 0}})
        t = self.user_token(app)
        r = self.server.get("/oauth/userinfo", headers=bearer(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"sub": u["sub"], "name": "Alice Liddell",
                                    "preferred_username": "alice",
                                    "email": "alice@example.com"})


class ExpiryTest(ResourceCase, CcMixin, WattleTestCase):
    def test_expired_token(self):
        self.make_cc(self.data_dir)
        self.server = self.start_server({"access_token_ttl": 1, "rate_limit": {"token": 0}})
        t = self.cc_token()
        time.sleep(2.2)
        r = self.server.get("/mcp", headers=bearer(t))
        p = self.assertChallenge(r, 401, self.expected_challenge(self.server), "invalid_token")
        self.assertIn("expired", p["error_description"])


class RealmTest(ResourceCase, WattleTestCase):
    def test_configured_realm(self):
        # config.c refuses '"' and '\\' in a realm; their escaping is unit-tested (test_gateway.c)
        self.server = self.start_server({"realm": "Photos (Prod) EU"})
        r = self.server.get("/mcp")
        self.assertChallenge(r, 401, self.expected_challenge(self.server,
                                                             realm="Photos (Prod) EU"))
        r = self.server.get("/oauth/userinfo")
        self.assertChallenge(r, 401, 'Bearer realm="Photos (Prod) EU"')


class PerMethodTest(ResourceCase, CcMixin, SharedServerTestCase):
    """scopes_required per method; a method not listed requires no scope (only a valid token
    for the resource); the gateway's body cap."""

    server_config = {
        "rate_limit": {"token": 0},
        "gateway_max_body_bytes": 2048,
        "resources": [{"path": "/mcp", "scopes_required": {
            "GET": ["read:assets"], "POST": ["write:assets", "read:albums"]}}],
    }

    @classmethod
    def setUpStore(cls):
        cls.make_cc(cls.dd)

    def test_challenges_name_the_method_scopes(self):
        s = self.server
        self.assertChallenge(s.get("/mcp"), 401, self.expected_challenge(s, scope="read:assets"))
        self.assertChallenge(s.request("HEAD", "/mcp"), 401,
                             self.expected_challenge(s, scope="read:assets"))
        self.assertChallenge(s.request("POST", "/mcp", body=b""), 401,
                             self.expected_challenge(s, scope="write:assets read:albums"))
        self.assertChallenge(s.request("DELETE", "/mcp"), 401,
                             self.expected_challenge(s, scope=None))

    def test_scopes_per_method(self):
        s = self.server
        t = self.cc_token(scope="read:assets")
        self.assertEqual(s.get("/mcp", headers=bearer(t)).status, 200)
        r = s.request("POST", "/mcp", headers=bearer(t), body=b"{}")
        p = self.assertChallenge(r, 403, self.expected_challenge(
            s, scope="write:assets read:albums"), "insufficient_scope")
        self.assertEqual(p["scope"], "write:assets read:albums")
        self.assertEqual(s.request("DELETE", "/mcp", headers=bearer(t)).status, 200)
        t2 = self.cc_token(scope="write:assets read:albums")
        self.assertEqual(s.request("POST", "/mcp", headers=bearer(t2), body=b"{}").status, 200)
        self.assertEqual(s.get("/mcp", headers=bearer(t2)).status, 403)

    def test_body_cap(self):
        t = self.cc_token(scope="write:assets read:albums")
        r = self.server.request("POST", "/mcp", headers=bearer(t), body=b"x" * 2048)
        self.assertEqual(r.status, 200, r)
        r = self.server.request("POST", "/mcp", headers=bearer(t), body=b"x" * 5000)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.content_type, "application/json")
        self.assertCors(r)


class AudienceTest(ResourceCase, CcMixin, SharedServerTestCase):
    """Two resources: a token is good only where it was issued for (SPEC §3); userinfo takes
    any audience."""

    server_config = {
        "rate_limit": {"token": 0},
        "resources": [{"path": "/a", "scopes_required": []},
                      {"path": "/b", "scopes_required": ["read:assets"]}],
    }

    @classmethod
    def setUpStore(cls):
        cls.make_cc(cls.dd)
        cls.alice = add_user(cls.dd, "alice", PASSWORD)
        cls.app = add_client(cls.dd, "Photo App", [REDIRECT], public=True)

    def test_token_for_a_refused_at_b(self):
        s = self.server
        t = self.cc_token(resource=s.issuer + "/a")
        r = s.get("/a/x", headers=bearer(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["aud"], s.issuer + "/a")
        r = s.get("/b/x", headers=bearer(t))
        p = self.assertChallenge(r, 401, self.expected_challenge(s, "/b", "read:assets"),
                                 "invalid_token")
        self.assertIn("another resource", p["error_description"])
        # no scope is required at /a: its challenges carry none
        self.assertChallenge(s.get("/a"), 401, self.expected_challenge(s, "/a", None))

    def test_resource_spelling_is_normalised(self):
        s = self.server
        u = urllib.parse.urlsplit(s.issuer)
        t = self.cc_token(resource="%s://%s/b/" % (u.scheme.upper(), u.netloc))
        self.assertEqual(s.get("/b", headers=bearer(t)).status, 200)

    def test_user_token_and_userinfo_any_audience(self):
        s = self.server
        t = self.user_token(self.app, resource=s.issuer + "/b")
        self.assertEqual(s.get("/b", headers=bearer(t)).status, 200)
        self.assertEqual(s.get("/a", headers=bearer(t)).status, 401)
        r = s.get("/oauth/userinfo", headers=bearer(t))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["sub"], self.alice["sub"])


# ---------------------------------------------------------------------------------- proxy


class ProxyTest(ResourceCase, CcMixin, SharedServerTestCase):
    """/api proxied to a real upstream (tests/e2e/upstream/upstream_server.py)."""

    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream().start()
        cls.server_config = {
            "rate_limit": {"token": 0},
            "resources": [{"path": "/api", "scopes_required": ["read:assets"],
                           "upstream": "http://127.0.0.1:%d/up" % cls.upstream.port}],
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.upstream.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.upstream.stop()

    @classmethod
    def setUpStore(cls):
        cls.make_cc(cls.dd)
        cls.alice = add_user(cls.dd, "alice", PASSWORD)
        cls.app = add_client(cls.dd, "Photo App", [REDIRECT], public=True)

    def upstream_headers(self, doc):
        """The echo's headers as {lower-case name: [values]}."""
        out = {}
        for k, v in doc["headers"]:
            out.setdefault(k.lower(), []).append(v)
        return out

    def test_identity_headers_and_scrubbing(self):
        t = self.cc_token(scope="read:assets write:assets")
        body = os.urandom(200000)
        r = self.server.request("POST", "/api/v1/items?x=1&y=2", body=body, headers=[
            ("Authorization", "Bearer " + t),
            ("X-Wattle-Sub", "usr_spoofed"),
            ("x-wattle-client-id", "ocl_spoofed"),
            ("X-Wattle-Scope", "admin"),
            ("X-Wattle-Username", "root"),
            ("Cookie", "theme=dark; wattle_session=abc; __Host-wattle_bid=zz"),
            ("Cookie", "wattle_bid=q"),
            ("Cookie", "other=1"),
            ("Content-Type", "application/octet-stream"),
            ("X-Custom", "kept"),
        ])
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        h = self.upstream_headers(doc)
        cid = self.cc["client_id"]
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["path"], "/up/v1/items?x=1&y=2")
        self.assertEqual(h.get("x-wattle-sub"), [cid])
        self.assertEqual(h.get("x-wattle-client-id"), [cid])
        self.assertEqual(h.get("x-wattle-scope"), ["read:assets write:assets"])
        self.assertNotIn("x-wattle-username", h)
        self.assertNotIn("authorization", h)
        self.assertEqual(h.get("x-custom"), ["kept"])
        cookies = [c.strip() for v in h.get("cookie", []) for c in v.split(";") if c.strip()]
        self.assertCountEqual(cookies, ["theme=dark", "other=1"])
        self.assertEqual(doc["body_length"], len(body))
        self.assertEqual(doc["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_only_wattle_cookies_means_no_cookie_header(self):
        t = self.cc_token()
        r = self.server.get("/api", headers=[("Authorization", "Bearer " + t),
                                             ("Cookie", "wattle_session=a; wattle_bid=b")])
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["path"], "/up")
        self.assertNotIn("cookie", self.upstream_headers(doc))

    def test_user_identity(self):
        t = self.user_token(self.app)
        h = self.upstream_headers(self.server.get("/api/me", headers=bearer(t)).json())
        self.assertEqual(h["x-wattle-sub"], [self.alice["sub"]])
        self.assertEqual(h["x-wattle-client-id"], [self.app["client_id"]])
        self.assertEqual(h["x-wattle-scope"], ["read:assets"])

    def test_cors_replaces_the_upstreams(self):
        t = self.cc_token()
        r = self.server.get("/api/x", headers=dict(bearer(t), Origin="https://app.example"))
        self.assertEqual(r.status, 200, r)
        self.assertCors(r)
        self.assertNotIn("x-secret", header_tokens(r.headers.get("Access-Control-Expose-Headers")))
        # the upstream's other headers pass
        self.assertEqual(r.headers.get("X-Upstream"), "yes")
        self.assertEqual(r.headers.get("Mcp-Session-Id"), "s-1")

    def test_refusals_never_reach_the_upstream(self):
        before = self.upstream.count()
        r = self.server.request("POST", "/api/x", body=b"{}")
        self.assertChallenge(r, 401, self.expected_challenge(self.server, "/api"))
        self.assertCors(r)
        r = self.server.get("/api/x", headers=bearer(random_access_token()))
        self.assertChallenge(r, 401, self.expected_challenge(self.server, "/api"),
                             "invalid_token")
        r = self.server.get("/api/x", headers=bearer(self.cc_token(scope="write:assets")))
        self.assertChallenge(r, 403, self.expected_challenge(self.server, "/api"),
                             "insufficient_scope")
        r = self.server.request("OPTIONS", "/api/x", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(r.status, 204, r)
        self.assertCors(r)
        self.assertIn("patch", header_tokens(r.headers.get("Access-Control-Allow-Methods")))
        self.assertEqual(self.upstream.count(), before)

    def test_upstream_error_status_passes_through(self):
        t = self.cc_token()
        r = self.server.get("/api/status/502", headers=bearer(t))
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.body, b"upstream says 502")
        self.assertCors(r)
        r = self.server.get("/api/status/404", headers=bearer(t))
        self.assertEqual((r.status, r.body), (404, b"upstream says 404"))

    def test_server_sent_events_stream(self):
        t = self.cc_token()
        gap = 1.5
        conn = self.server.connection(timeout=30 * SLOW)
        try:
            conn.request("GET", "/api/sse?n=3&gap=%s" % gap, headers=dict(bearer(t),
                                                                          Accept="text/event-stream"))
            t0 = time.monotonic()
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
            arrivals, buf = [], b""
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    # comment lines (":…") are not events: every SSE parser skips them
                    lines = [ln for ln in ev.decode().split("\n") if not ln.startswith(":")]
                    if lines:
                        arrivals.append((time.monotonic(), "\n".join(lines)))
        finally:
            conn.close()
        self.assertEqual(len(arrivals), 3, arrivals)
        self.assertLess(arrivals[0][0] - t0, 1.0 * SLOW, "the first event was held back")
        for (a, _), (b, _) in zip(arrivals, arrivals[1:]):
            self.assertGreater(b - a, gap - 0.3, "events arrived together: buffered")
            self.assertLess(b - a, gap + 0.7 * SLOW, "an event was late")
        for i, (_, ev) in enumerate(arrivals):
            self.assertTrue(ev.startswith("data: %d " % i), ev)


    def test_quiet_event_stream_head_is_not_held_back(self):
        """An MCP server's GET stream often sends its head and then nothing for a long time:
        the client must see the status line at once, not when the first event comes."""
        t = self.cc_token()
        conn = self.server.connection(timeout=30 * SLOW)
        try:
            t0 = time.monotonic()
            conn.request("GET", "/api/sse?n=1&quiet=2", headers=dict(
                bearer(t), Accept="text/event-stream"))
            r = conn.getresponse()
            head_at = time.monotonic() - t0
            self.assertEqual(r.status, 200)
            body = r.read()
        finally:
            conn.close()
        self.assertLess(head_at, 1.0 * SLOW, "the response head waited for the first event")
        events = [e for e in body.decode().split("\n\n") if e and not e.startswith(":")]
        self.assertEqual(len(events), 1, body)
        self.assertTrue(events[0].startswith("data: 0 "), body)


class ProxyDownTest(ResourceCase, CcMixin, WattleTestCase):
    """An unreachable upstream is a JSON 502; the gateway keeps serving and recovers."""

    def test_unreachable_then_up_then_down(self):
        port = free_port()
        self.make_cc(self.data_dir)
        self.server = self.start_server({
            "rate_limit": {"token": 0},
            "resources": [{"path": "/api", "scopes_required": [],
                           "upstream": "http://127.0.0.1:%d" % port}]})
        t = self.cc_token()
        for method in ("GET", "POST"):
            r = self.server.request(method, "/api/x", headers=bearer(t), body=b"{}")
            self.assertEqual(r.status, 502, r)
            self.assertEqual(r.content_type, "application/json")
            self.assertEqual(r.json()["error"], "bad_gateway")
            self.assertIn("upstream", r.json()["error_description"])
            self.assertCors(r)
        self.assertEqual(self.server.get("/healthz").status, 200)
        up = Upstream(port).start()
        try:
            r = self.server.get("/api/x", headers=bearer(t))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["path"], "/x")
        finally:
            up.stop()
        deadline = time.monotonic() + 5
        while True:  # a pooled connection may need one request to notice the close
            r = self.server.get("/api/x", headers=bearer(t))
            if r.status == 502 or time.monotonic() > deadline:
                break
        self.assertEqual(r.status, 502, r)
        self.assertTrue(self.server.wait_stderr("could not be reached", timeout=1) or
                        "upstream" in self.server.stderr_text())


class ProxyTlsTest(ResourceCase, CcMixin, WattleTestCase):
    """https upstreams: the certificate chain and the host name are both checked (h2o skips
    the name check under TLS 1.3 by itself: PLATFORM.md §4)."""

    def openssl(self, *args):
        subprocess.run(["openssl"] + list(args), cwd=self.tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def make_cert(self, name, san, ca="ca"):
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        self.write_file(name + ".ext", "subjectAltName=" + san + "\n")
        self.openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                     ca + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                     "-extfile", name + ".ext")
        return (os.path.join(self.tmp, name + ".pem"), os.path.join(self.tmp, name + ".key"))

    def test_https_upstream_verified(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl command")
        for ca in ("ca", "other-ca"):
            self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                         "-subj", "/CN=" + ca)
        ups = {
            "good": Upstream(tls=self.make_cert("good", "DNS:localhost")),
            "wrongname": Upstream(tls=self.make_cert("wrongname", "DNS:wrong.example")),
            "untrusted": Upstream(tls=self.make_cert("untrusted", "DNS:localhost", "other-ca")),
        }
        for u in ups.values():
            u.start()
            self.addCleanup(u.stop)
        self.make_cc(self.data_dir)
        self.server = self.start_server(
            {"rate_limit": {"token": 0},
             "resources": [{"path": "/" + k, "scopes_required": [],
                            "upstream": "https://localhost:%d/up" % u.port}
                           for k, u in ups.items()]},
            env={"SSL_CERT_FILE": os.path.join(self.tmp, "ca.pem")})
        for name, want in (("good", 200), ("wrongname", 502), ("untrusted", 502)):
            t = self.cc_token(resource=self.server.issuer + "/" + name)
            r = self.server.get("/%s/x" % name, headers=bearer(t))
            self.assertEqual(r.status, want, (name, r))
            if want == 200:
                self.assertEqual(r.json()["path"], "/up/x")
            else:
                self.assertEqual(r.json()["error"], "bad_gateway")
        self.assertEqual(ups["wrongname"].count() + ups["untrusted"].count(), 0)


# ---------------------------------------------------------------------------------- forward-auth


class ForwardAuthTest(ResourceCase, CcMixin, SharedServerTestCase):
    """/oauth/forward-auth in the nginx, Traefik and Envoy styles against the default /mcp."""

    server_config = {"rate_limit": {"token": 0}}

    @classmethod
    def setUpStore(cls):
        cls.make_cc(cls.dd)

    def base(self):
        return self.expected_challenge(self.server)

    def nginx(self, uri, token=None, method="GET", host="127.0.0.1", extra=()):
        h = [("X-Original-Method", method), ("X-Original-URI", uri), ("X-Forwarded-Host", host)]
        if token:
            h.append(("Authorization", "Bearer " + token))
        return self.server.get("/oauth/forward-auth", headers=h + list(extra))

    def assertIdentity(self, r, scope="read:assets"):
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers.get("X-Wattle-Sub"), self.cc["client_id"])
        self.assertEqual(r.headers.get("X-Wattle-Client-Id"), self.cc["client_id"])
        self.assertEqual(r.headers.get("X-Wattle-Scope"), scope)

    def test_nginx_style(self):
        t = self.cc_token()
        self.assertIdentity(self.nginx("/mcp/tools/list?cursor=2", t))
        self.assertIdentity(self.nginx("/mcp", t, host="127.0.0.1:%d" % self.server.port))
        r = self.nginx("/mcp/x")
        self.assertChallenge(r, 401, self.base())
        self.assertNotIn("X-Wattle-Sub", r.headers)
        r = self.nginx("/mcp/x", random_access_token())
        self.assertChallenge(r, 401, self.base(), "invalid_token")
        r = self.nginx("/mcp/x", self.cc_token(scope="write:assets"))
        self.assertChallenge(r, 403, self.base(), "insufficient_scope")
        r = self.nginx("/mcp/x?access_token=" + t)
        self.assertChallenge(r, 400, self.base(), "invalid_request")

    def test_traefik_style(self):
        t = self.cc_token(scope="read:assets write:assets")
        h = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/mcp/messages?sessionId=1",
             "X-Forwarded-Host": "127.0.0.1", "X-Forwarded-Proto": "http"}
        r = self.server.request("GET", "/oauth/forward-auth", headers=dict(h, **bearer(t)))
        self.assertIdentity(r, "read:assets write:assets")
        r = self.server.request("GET", "/oauth/forward-auth", headers=h)
        self.assertChallenge(r, 401, self.base())

    def test_envoy_style(self):
        t = self.cc_token()
        # Envoy keeps the original Host (here the client's own: 127.0.0.1:<port>) and method
        r = self.server.request("POST", "/oauth/forward-auth/mcp/messages?x=1",
                                headers=bearer(t), body=b"")
        self.assertIdentity(r)
        r = self.server.request("POST", "/oauth/forward-auth/mcp/messages", body=b"")
        self.assertChallenge(r, 401, self.base())
        r = self.server.get("/oauth/forward-auth/elsewhere", headers=bearer(t))
        self.assertEqual(r.status, 403, r)
        self.assertNotIn("WWW-Authenticate", r.headers)

    def test_no_matching_resource(self):
        t = self.cc_token()
        for uri, host in (("/other", "127.0.0.1"), ("/mcpx", "127.0.0.1"),
                          ("/mcp/x", "evil.example")):
            r = self.nginx(uri, t, host=host)
            self.assertEqual(r.status, 403, (uri, host, r))
            self.assertNotIn("WWW-Authenticate", r.headers)
            self.assertNotIn("X-Wattle-Sub", r.headers)
        r = self.server.get("/oauth/forward-auth", headers=bearer(t))  # no original URI
        self.assertEqual(r.status, 403, r)

    def test_dot_segments_are_resolved(self):
        t = self.cc_token()
        self.assertIdentity(self.nginx("/public/../mcp/x", t))
        self.assertEqual(self.nginx("/mcp/../public", t).status, 403)

    def test_preflight_passes_without_token(self):
        r = self.nginx("/mcp/x", method="OPTIONS")
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("X-Wattle-Sub", r.headers)

    def test_empty_answers_pipelined_on_one_connection(self):
        # Answers without a body (forward-auth's 204, a preflight's 204, a redirect) are sent
        # as a head alone (http_send_inline); pipelined after each other and before a body,
        # each must come back whole, in order, and leave the connection open.
        t = self.cc_token()
        fa = ("GET /oauth/forward-auth HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-URI: /mcp\r\n"
              "Authorization: Bearer %s\r\n\r\n" % t)
        pre = ("OPTIONS /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example\r\n"
               "Access-Control-Request-Method: POST\r\n\r\n")
        echo = "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n" % t
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        try:
            s.sendall((fa + pre + fa + echo).encode())
            got = read_responses(s, 4)
            self.assertEqual([st for st, _, _ in got], [204, 204, 204, 200], got)
            for st, headers, body in got[:3]:
                self.assertEqual(body, b"")
                self.assertNotIn("content-length", headers)
                self.assertNotIn("transfer-encoding", headers)
            self.assertEqual(got[0][1].get("x-wattle-sub"), self.cc["client_id"])
            self.assertEqual(got[2][1].get("x-wattle-sub"), self.cc["client_id"])
            self.assertEqual(got[3][1].get("content-length"), str(len(got[3][2])))
            s.sendall(fa.encode())  # still open
            self.assertEqual(read_responses(s, 1)[0][0], 204)
        finally:
            s.close()


class NginxTest(ResourceCase, CcMixin, WattleTestCase):
    """A real nginx (Debian's) in front: auth_request to /oauth/forward-auth, identity headers
    copied onto the proxied request, the challenge passed back to the client."""

    def setUp(self):
        super().setUp()
        self.nginx_bin = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not self.nginx_bin:
            self.skipTest("nginx is not installed (apt-get install nginx-light)")

    def start_nginx(self, wattle_port, upstream_port):
        port = free_port()
        conf = """
worker_processes 1;
%(user)s
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(tmp)s/nginx-body;
    proxy_temp_path %(tmp)s/nginx-proxy;
    fastcgi_temp_path %(tmp)s/nginx-fastcgi;
    uwsgi_temp_path %(tmp)s/nginx-uwsgi;
    scgi_temp_path %(tmp)s/nginx-scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location /mcp {
            auth_request /_wattle;
            auth_request_set $wattle_sub $upstream_http_x_wattle_sub;
            auth_request_set $wattle_client $upstream_http_x_wattle_client_id;
            auth_request_set $wattle_scope $upstream_http_x_wattle_scope;
            proxy_set_header X-Wattle-Sub $wattle_sub;
            proxy_set_header X-Wattle-Client-Id $wattle_client;
            proxy_set_header X-Wattle-Scope $wattle_scope;
            proxy_set_header Authorization "";
            proxy_pass http://127.0.0.1:%(up)d/up;
        }
        location = /_wattle {
            internal;
            proxy_pass http://127.0.0.1:%(wattle)d/oauth/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Host $host;
        }
    }
}
""" % {"tmp": self.tmp, "port": port, "up": upstream_port, "wattle": wattle_port,
       "user": "user root;" if os.geteuid() == 0 else ""}
        path = self.write_file("nginx.conf", conf)
        proc = subprocess.Popen(
            [self.nginx_bin, "-p", self.tmp, "-c", path, "-e", "stderr",
             "-g", "daemon off; master_process off; pid %s/nginx.pid;" % self.tmp],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
        self.addCleanup(stop)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                self.fail("nginx exited: %s" % proc.stdout.read().decode(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.fail("nginx did not start listening")
                time.sleep(0.05)
        return "http://127.0.0.1:%d" % port

    def test_auth_request(self):
        self.make_cc(self.data_dir)
        up = Upstream().start()
        self.addCleanup(up.stop)
        self.server = self.start_server({"rate_limit": {"token": 0}})
        front = self.start_nginx(self.server.port, up.port)
        t = self.cc_token()

        r = request("GET", front + "/mcp/tools?x=1", headers=[
            ("Authorization", "Bearer " + t), ("X-Wattle-Sub", "usr_spoofed")])
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        h = {}
        for k, v in doc["headers"]:
            h.setdefault(k.lower(), []).append(v)
        self.assertEqual(doc["path"], "/up/tools?x=1")
        self.assertEqual(h.get("x-wattle-sub"), [self.cc["client_id"]])
        self.assertEqual(h.get("x-wattle-client-id"), [self.cc["client_id"]])
        self.assertEqual(h.get("x-wattle-scope"), ["read:assets"])
        self.assertNotIn("authorization", h)

        before = up.count()
        r = request("GET", front + "/mcp/tools")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers.get("WWW-Authenticate"),
                         self.expected_challenge(self.server))
        r = request("GET", front + "/mcp/tools", headers=bearer(random_access_token()))
        self.assertEqual(r.status, 401, r)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith(
            self.expected_challenge(self.server) + ', error="invalid_token"'), r)
        r = request("GET", front + "/mcp/tools", headers=bearer(self.cc_token(scope="write:assets")))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(up.count(), before, "a refused request reached the upstream")


if __name__ == "__main__":
    unittest.main()
