"""End-to-end tests of token introspection (RFC 7662, SPEC §2) as a resource server uses it,
its signed form (RFC 9701) checked with an independent JOSE library (`jose` from npm, run by
tests/e2e/js/verify-jwt.mjs), the JWKS (RFC 7517) and `wattle keys list|rotate` (SPEC §1)
while the server runs."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from harness import (SLOW, Server, WattleTestCase, add_client, add_user, cli_json,
                     obtain_code, post_form, post_json, redeem_code, refresh_request, request,
                     revoke_request)

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
JWT_MEDIA = "application/token-introspection+jwt"
REDIRECT = "https://app.example/cb"
PASSWORD = "correct horse battery"
INACTIVE = {"active": False}
ACTIVE_MEMBERS = {"active", "scope", "client_id", "sub", "username", "exp", "iat", "aud", "iss",
                  "token_type"}

_npm_lock = threading.Lock()


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def der_ints(der):
    """The INTEGERs of a DER SEQUENCE (an ECDSA-Sig-Value), sign padding removed. Short-form
    lengths only, which is all a P-256 signature needs."""
    assert der[0] == 0x30 and der[1] < 0x80
    out, i = [], 2
    while i < len(der):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(der[i + 2:i + 2 + n].lstrip(b"\0"))
        i += 2 + n
    return out


class EcKey:
    """A P-256 key made with the openssl command: its public JWK and an ES256 signer."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "rs-key.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.path)
        spki = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        pub = spki[-65:]  # the uncompressed point ends a P-256 SubjectPublicKeyInfo
        assert pub[0] == 4
        self.jwk = {"kty": "EC", "crv": "P-256", "x": b64url(pub[1:33]),
                    "y": b64url(pub[33:]), "kid": "rs-key"}

    def assertion(self, client_id, aud):
        now = int(time.time())
        h = b64url(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "rs-key"}))
        p = b64url(json.dumps({"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
                               "exp": now + 60, "jti": str(uuid.uuid4())}))
        r, s = der_ints(openssl("dgst", "-sha256", "-sign", self.path,
                                stdin=("%s.%s" % (h, p)).encode()))
        return "%s.%s.%s" % (h, p, b64url(r.rjust(32, b"\0") + s.rjust(32, b"\0")))


def jose_ready():
    """Makes sure tests/e2e/js has its node_modules (npm ci from the lock file). Raises
    SkipTest when node or npm is not installed (deploy/deps.sh --test installs them)."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise unittest.SkipTest("node and npm are needed for the independent JOSE check "
                                "(deploy/deps.sh --test installs them)")
    with _npm_lock:
        if os.path.isdir(os.path.join(JS_DIR, "node_modules", "jose")):
            return
        r = subprocess.run(["npm", "ci", "--prefix", JS_DIR, "--no-audit", "--no-fund"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        if r.returncode != 0:
            raise AssertionError("npm ci --prefix %s failed (the npm registry must be "
                                 "reachable once):\n%s" % (JS_DIR, r.stdout.decode(errors="replace")))


def jose_verify(jwt, jwks_url, issuer, audience, typ="token-introspection+jwt"):
    """Verifies jwt with jose's createRemoteJWKSet + jwtVerify. Returns (ok, result dict)."""
    argv = ["node", os.path.join(JS_DIR, "verify-jwt.mjs"), "--jwks-url", jwks_url,
            "--issuer", issuer, "--audience", audience]
    if typ:
        argv += ["--typ", typ]
    r = subprocess.run(argv, input=jwt.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60 * SLOW)
    try:
        out = json.loads(r.stdout.decode())
    except ValueError:
        raise AssertionError("verify-jwt.mjs printed no JSON: %r %r" % (r.stdout, r.stderr))
    return r.returncode == 0, out


class IntrospectionTest(WattleTestCase):
    """One server for the class; a resource server (confidential, CLI, client_credentials), an
    application (confidential, code flow) and a user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_tmp = tempfile.mkdtemp(prefix="wattle-e2e-intro-")
        cls.server = Server(cls.class_tmp)
        try:
            cls.server.start()
            dd = cls.server.data_dir
            cls.iss = cls.server.issuer
            cls.rs = add_client(dd, "rs", grant_types=["client_credentials"], cwd=cls.class_tmp)
            cls.app = add_client(dd, "app", redirect_uris=[REDIRECT], cwd=cls.class_tmp)
            cls.user = add_user(dd, "alice", PASSWORD, cwd=cls.class_tmp)
        except BaseException:
            try:
                cls.server.stop()
            finally:
                shutil.rmtree(cls.class_tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            shutil.rmtree(cls.class_tmp, ignore_errors=True)
            super().tearDownClass()

    # -- helpers

    @property
    def rs_auth(self):
        return (self.rs["client_id"], self.rs["client_secret"])

    @property
    def app_auth(self):
        return (self.app["client_id"], self.app["client_secret"])

    def introspect(self, token, auth=None, headers=None, extra=None):
        fields = [("token", token)] + list(extra or [])
        return post_form(self.server.url("/oauth/introspect"), fields,
                         auth=auth or self.rs_auth, headers=headers)

    def introspect_ok(self, token, auth=None):
        r = self.introspect(token, auth=auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json", r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*", r)
        return r.json()

    def cc_token(self):
        r = post_form(self.server.url("/oauth/token"), {"grant_type": "client_credentials"},
                      auth=self.rs_auth)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def user_tokens(self, scope="read:assets write:assets"):
        c = obtain_code(self.server, self.app["client_id"], REDIRECT, "alice", PASSWORD,
                        scope=scope)
        r = redeem_code(self.server, self.app["client_id"], self.app["client_secret"],
                        c["code"], c["verifier"], redirect_uri=REDIRECT)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def assertError(self, r, status, error):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.content_type, "application/json", r)
        self.assertEqual(r.json().get("error"), error, r)

    # -- access tokens

    def test_client_credentials_access_token(self):
        tok = self.cc_token()
        j = self.introspect_ok(tok["access_token"])
        rs_id = self.rs["client_id"]
        self.assertIs(j["active"], True)
        self.assertEqual(j["scope"], tok["scope"])
        self.assertEqual(j["client_id"], rs_id)
        self.assertEqual(j["sub"], rs_id, "a client_credentials token's subject is the client")
        self.assertNotIn("username", j)
        self.assertEqual(j["aud"], self.iss + "/mcp")
        self.assertEqual(j["iss"], self.iss)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertIsInstance(j["exp"], int)
        self.assertIsInstance(j["iat"], int)
        self.assertEqual(j["exp"] - j["iat"], tok["expires_in"])
        self.assertLessEqual(set(j), ACTIVE_MEMBERS)

    def test_code_flow_access_token(self):
        tok = self.user_tokens()
        j = self.introspect_ok(tok["access_token"])
        self.assertEqual(set(j), ACTIVE_MEMBERS)
        self.assertIs(j["active"], True)
        self.assertEqual(j["scope"], "read:assets write:assets")
        self.assertEqual(j["client_id"], self.app["client_id"])
        self.assertEqual(j["sub"], self.user["sub"])
        self.assertEqual(j["username"], "alice")
        self.assertEqual(j["aud"], self.iss + "/mcp")
        self.assertEqual(j["iss"], self.iss)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertEqual(j["exp"] - j["iat"], 3600)

    def test_json_body_and_client_secret_post(self):
        tok = self.cc_token()
        r = post_json(self.server.url("/oauth/introspect"),
                      {"token": tok["access_token"], "client_id": self.rs["client_id"],
                       "client_secret": self.rs["client_secret"],
                       "token_type_hint": "refresh_token"})  # only a hint
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["active"], True)

    def test_revoked_and_unknown_tokens_are_exactly_inactive(self):
        tok = self.user_tokens()
        r = revoke_request(self.server, self.app["client_id"], self.app["client_secret"],
                           tok["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.introspect_ok(tok["access_token"]), INACTIVE)
        self.assertEqual(self.introspect_ok(tok["refresh_token"], auth=self.app_auth), INACTIVE,
                         "revocation ends the whole grant")
        for t in ["oat_" + "A" * 43, "oat_short", "not a token", "ort_" + "B" * 43,
                  "oac_" + "C" * 43, self.rs["client_secret"]]:
            self.assertEqual(self.introspect_ok(t), INACTIVE, t)
        # A valid token with its secret part changed.
        t = tok["access_token"]
        self.assertEqual(self.introspect_ok(t[:-2] + ("AA" if t[-2:] != "AA" else "BB")),
                         INACTIVE)

    # -- refresh tokens

    def test_refresh_token_only_for_its_own_client(self):
        tok = self.user_tokens()
        j = self.introspect_ok(tok["refresh_token"], auth=self.app_auth)
        self.assertIs(j["active"], True)
        self.assertEqual(j["token_type"], "refresh_token")
        self.assertEqual(j["client_id"], self.app["client_id"])
        self.assertEqual(j["sub"], self.user["sub"])
        self.assertEqual(j["username"], "alice")
        self.assertEqual(j["scope"], "read:assets write:assets")
        self.assertEqual(j["aud"], self.iss + "/mcp")
        self.assertEqual(j["iss"], self.iss)
        self.assertEqual(j["exp"] - j["iat"], 30 * 86400)
        # Another client (the resource server) learns nothing.
        self.assertEqual(self.introspect_ok(tok["refresh_token"]), INACTIVE)
        # Rotation retires it.
        r = refresh_request(self.server, self.app["client_id"], self.app["client_secret"],
                            tok["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.introspect_ok(tok["refresh_token"], auth=self.app_auth), INACTIVE)
        self.assertIs(self.introspect_ok(r.json()["refresh_token"], auth=self.app_auth)["active"],
                      True)

    # -- callers and malformed requests

    def test_only_cli_confidential_clients_may_call(self):
        tok = self.cc_token()["access_token"]
        pub = add_client(self.server.data_dir, "spa", redirect_uris=[REDIRECT], public=True,
                         cwd=self.class_tmp)
        r = post_form(self.server.url("/oauth/introspect"),
                      {"token": tok, "client_id": pub["client_id"]})
        self.assertError(r, 401, "invalid_client")
        r = post_form(self.server.url("/oauth/introspect"), {"token": tok})
        self.assertError(r, 401, "invalid_client")

    def test_dynamically_registered_client_is_refused(self):
        r = post_json(self.server.url("/oauth/register"),
                      {"client_name": "dcr", "redirect_uris": [REDIRECT],
                       "token_endpoint_auth_method": "client_secret_basic"})
        self.assertEqual(r.status, 201, r)
        reg = r.json()
        r = self.introspect(self.cc_token()["access_token"],
                            auth=(reg["client_id"], reg["client_secret"]))
        self.assertError(r, 401, "invalid_client")
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Basic "), r)

    def test_private_key_jwt_resource_server(self):
        """A CLI client authenticating with a client assertion may introspect; the assertion's
        jti is recorded first, so a replay is invalid_client."""
        if not shutil.which("openssl"):
            self.skipTest("the openssl command is needed to sign the client assertion")
        key = EcKey(self.tmp)
        jwks = self.write_file("rs.jwks.json", {"keys": [key.jwk]})
        rc, out, err = self.cli("client", "add", "--name", "rs-jwt", "--token-auth",
                                "private_key_jwt", "--grant-type", "client_credentials",
                                "--jwks", jwks, data_dir=self.server.data_dir)
        self.assertEqual(rc, 0, err)
        rs = json.loads(out)
        tok = self.cc_token()["access_token"]
        a = key.assertion(rs["client_id"], self.server.url("/oauth/introspect"))
        fields = {"token": tok, "client_assertion": a, "client_assertion_type":
                  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        r = post_form(self.server.url("/oauth/introspect"), fields)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json()["active"], True)
        r = post_form(self.server.url("/oauth/introspect"), fields)
        self.assertError(r, 401, "invalid_client")
        # A fresh assertion with the signed answer.
        fields["client_assertion"] = key.assertion(rs["client_id"], self.iss)
        r = post_form(self.server.url("/oauth/introspect"), fields,
                      headers={"Accept": JWT_MEDIA})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, JWT_MEDIA, r)
        claims = b64url_json(r.text.split(".")[1])
        self.assertEqual(claims["aud"], rs["client_id"])
        self.assertIs(claims["token_introspection"]["active"], True)

    def test_wrong_secret_with_basic(self):
        r = self.introspect("oat_" + "A" * 43, auth=(self.rs["client_id"], "ocs_" + "x" * 43))
        self.assertError(r, 401, "invalid_client")
        self.assertEqual(r.headers.get("WWW-Authenticate"), 'Basic realm="Wattle"', r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*", r)

    def test_missing_and_duplicate_token(self):
        r = post_form(self.server.url("/oauth/introspect"), {}, auth=self.rs_auth)
        self.assertError(r, 400, "invalid_request")
        r = post_form(self.server.url("/oauth/introspect"), [("token", "a"), ("token", "b")],
                      auth=self.rs_auth)
        self.assertError(r, 400, "invalid_request")
        r = request("POST", self.server.url("/oauth/introspect"),
                    headers={"Content-Type": "text/plain"}, body="token=x")
        self.assertError(r, 400, "invalid_request")
        r = request("GET", self.server.url("/oauth/introspect"))
        self.assertEqual(r.status, 405, r)

    # -- RFC 9701 and the JWKS

    def jwt_introspect(self, token, auth=None):
        r = self.introspect(token, auth=auth, headers={"Accept": JWT_MEDIA})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, JWT_MEDIA, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        jwt = r.text.strip()
        self.assertEqual(jwt.count("."), 2, jwt)
        return jwt

    def test_signed_response_verified_by_jose(self):
        jose_ready()
        tok = self.user_tokens()["access_token"]
        plain = self.introspect_ok(tok)
        jwt = self.jwt_introspect(tok)
        ok, out = jose_verify(jwt, self.server.url("/oauth/jwks"), self.iss,
                              self.rs["client_id"])
        self.assertTrue(ok, out)
        h, p = out["protectedHeader"], out["payload"]
        self.assertEqual(h["typ"], "token-introspection+jwt")
        self.assertEqual(h["alg"], "ES256")
        self.assertIn("kid", h)
        self.assertEqual(p["iss"], self.iss)
        self.assertEqual(p["aud"], self.rs["client_id"])
        self.assertIsInstance(p["iat"], int)
        self.assertNotIn("sub", p)
        self.assertNotIn("exp", p)
        self.assertEqual(p["token_introspection"], plain)
        # The wrong audience or typ is refused by jose.
        ok, out = jose_verify(jwt, self.server.url("/oauth/jwks"), self.iss, "someone-else")
        self.assertFalse(ok, out)
        ok, out = jose_verify(jwt, self.server.url("/oauth/jwks"), self.iss,
                              self.rs["client_id"], typ="at+jwt")
        self.assertFalse(ok, out)
        # Inactive tokens are signed too.
        jwt = self.jwt_introspect("oat_" + "A" * 43)
        self.assertEqual(b64url_json(jwt.split(".")[1])["token_introspection"], INACTIVE)

    def test_jwks(self):
        r = self.server.get("/oauth/jwks")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json", r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*", r)
        self.assertIn("max-age", r.headers.get("Cache-Control", ""), r)
        keys = r.json()["keys"]
        self.assertGreaterEqual(len(keys), 1)
        for k in keys:
            self.assertEqual(set(k), {"kty", "crv", "x", "y", "kid", "use", "alg"})
            self.assertEqual((k["kty"], k["crv"], k["use"], k["alg"]),
                             ("EC", "P-256", "sig", "ES256"))
            self.assertEqual(len(k["x"]), 43)
            self.assertEqual(len(k["y"]), 43)


class KeyRotationTest(WattleTestCase):
    """`wattle keys rotate` against a running server (its own server: rotation changes it)."""

    def test_rotation_while_serving(self):
        jose_ready()
        server = self.start_server()
        iss = server.issuer
        rs = self.cli_json("client", "add", "--name", "rs", "--grant-type",
                           "client_credentials")
        auth = (rs["client_id"], rs["client_secret"])
        tok = post_form(server.url("/oauth/token"), {"grant_type": "client_credentials"},
                        auth=auth).json()["access_token"]

        def signed():
            r = post_form(server.url("/oauth/introspect"), {"token": tok}, auth=auth,
                          headers={"Accept": JWT_MEDIA})
            self.assertEqual(r.status, 200, r)
            return r.text.strip()

        listed = self.cli_json("keys", "list")
        self.assertEqual(len(listed), 1)
        old_kid = listed[0]["kid"]
        self.assertIs(listed[0]["active"], True)
        old_jwt = signed()
        self.assertEqual(b64url_json(old_jwt.split(".")[0])["kid"], old_kid)
        self.assertEqual([k["kid"] for k in server.get("/oauth/jwks").json()["keys"]], [old_kid])

        out = self.cli_json("keys", "rotate")
        new_kid = out["active_kid"]
        self.assertNotEqual(new_kid, old_kid)
        self.assertGreaterEqual(out["retire_after"], 86400)

        # The running server sees it from the next request.
        kids = [k["kid"] for k in server.get("/oauth/jwks").json()["keys"]]
        self.assertEqual(kids, [new_kid, old_kid], "both published, the active one first")
        new_jwt = signed()
        self.assertEqual(b64url_json(new_jwt.split(".")[0])["kid"], new_kid)
        for jwt in (new_jwt, old_jwt):
            ok, res = jose_verify(jwt, server.url("/oauth/jwks"), iss, rs["client_id"])
            self.assertTrue(ok, res)

        listed = self.cli_json("keys", "list")
        self.assertEqual([k["kid"] for k in listed], [new_kid, old_kid])
        self.assertIs(listed[0]["active"], True)
        self.assertIs(listed[1]["active"], False)
        self.assertGreater(listed[1]["retires_at"], listed[1]["created"])

    def test_keys_list_shows_no_private_material(self):
        self.start_server().stop()  # the first start creates the key
        rc, out, err = self.cli("keys", "list")
        self.assertEqual(rc, 0, err)
        for needle in ("PRIVATE", "BEGIN", "pem", '"d"'):
            self.assertNotIn(needle, out)
        keys = json.loads(out)
        self.assertEqual(len(keys), 1)
        self.assertEqual({k: keys[0][k] for k in ("alg", "kty", "crv")},
                         {"alg": "ES256", "kty": "EC", "crv": "P-256"})
        rc, out, err = self.cli("keys", "rotate")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("PRIVATE", out)


if __name__ == "__main__":
    unittest.main()
