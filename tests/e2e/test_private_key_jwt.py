"""End-to-end tests of private_key_jwt client authentication (RFC 7523 §2.2, SPEC §2): a client
registered with `wattle client add --token-auth private_key_jwt --jwks FILE` gets a
client_credentials token with a signed assertion; wrong key, wrong or missing algorithm,
expired, wrongly addressed and replayed assertions are 401 invalid_client.

Keys are made and assertions signed with the `openssl` command (RS256: `openssl dgst -sha256
-sign` gives PKCS#1 v1.5 directly; ES256: its DER signature is turned into R||S here), so the
server is checked against an independent signer. Python standard library only."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import unittest
import uuid

from harness import SharedServerTestCase, add_client, cli, post_form, post_json

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ---------------------------------------------------------------------------------- JOSE helpers


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def der_read(buf, off):
    """One DER TLV at off: (tag, start of content, end of content)."""
    tag, n = buf[off], buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, off + n


def spki_key(der):
    """The subjectPublicKey bytes of a DER SubjectPublicKeyInfo."""
    _, s, _ = der_read(der, 0)           # SEQUENCE
    _, a, a_end = der_read(der, s)       # AlgorithmIdentifier
    tag, b, b_end = der_read(der, a_end)  # BIT STRING
    assert tag == 0x03 and der[b] == 0
    return der[b + 1:b_end]


def der_ints(der):
    """The INTEGERs of a DER SEQUENCE, as big-endian bytes without sign padding."""
    _, s, end = der_read(der, 0)
    out = []
    while s < end:
        tag, c, c_end = der_read(der, s)
        assert tag == 0x02
        out.append(der[c:c_end].lstrip(b"\0") or b"\0")
        s = c_end
    return out


class Key:
    """A private key made with `openssl genpkey`, its public JWK and a signer."""

    def __init__(self, directory, name, kind):
        self.kind = kind
        self.path = os.path.join(directory, name + ".pem")
        if kind == "RSA":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", self.path)
        else:
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", self.path)
        self.public_pem = openssl("pkey", "-in", self.path, "-pubout")
        pub = spki_key(openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER"))
        if kind == "RSA":
            n, e = der_ints(pub)
            self.jwk = {"kty": "RSA", "n": b64url(n), "e": b64url(e)}
        else:
            assert len(pub) == 65 and pub[0] == 4
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64url(pub[1:33]),
                        "y": b64url(pub[33:])}
        self.jwk["kid"] = name

    @property
    def alg(self):
        return "RS256" if self.kind == "RSA" else "ES256"

    def sign(self, data):
        sig = openssl("dgst", "-sha256", "-sign", self.path, stdin=data)
        if self.kind == "RSA":
            return sig
        r, s = der_ints(sig)  # ECDSA-Sig-Value ::= SEQUENCE { r, s }
        return r.rjust(32, b"\0") + s.rjust(32, b"\0")


def compact(header, claims, sign):
    """header.claims.signature; sign(bytes) -> signature bytes (or None for an empty one)."""
    h = b64url(json.dumps(header, separators=(",", ":")))
    p = b64url(json.dumps(claims, separators=(",", ":")))
    sig = sign(("%s.%s" % (h, p)).encode()) if sign else b""
    return "%s.%s.%s" % (h, p, b64url(sig))


# ---------------------------------------------------------------------------------- tests


class PrivateKeyJwtTest(SharedServerTestCase):

    @classmethod
    def setUpStore(cls):
        cls.rsa = Key(cls.class_tmp, "rsa1", "RSA")
        cls.ec = Key(cls.class_tmp, "ec1", "EC")
        cls.stranger = Key(cls.class_tmp, "stranger", "RSA")
        jwks = os.path.join(cls.class_tmp, "robot.jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [cls.rsa.jwk, cls.ec.jwk]}, f)
        args = ["client", "add", "--name", "Robot", "--token-auth", "private_key_jwt",
                "--grant-type", "client_credentials", "--jwks", jwks]
        rc, out, err = cli(cls.dd, *args, cwd=cls.class_tmp)
        if rc != 0:
            raise AssertionError("wattle %s: exit %d: %s" % (" ".join(args), rc, err))
        cls.robot = json.loads(out)
        assert "client_secret" not in cls.robot, cls.robot
        cls.secret_client = add_client(cls.dd, "Secret robot", grant_types=["client_credentials"],
                                       cwd=cls.class_tmp)

    # -- helpers

    @property
    def token_url(self):
        return self.server.url("/oauth/token")

    def claims(self, **over):
        now = int(time.time())
        c = {"iss": self.robot["client_id"], "sub": self.robot["client_id"],
             "aud": self.token_url, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
        for k, v in over.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def assertion(self, key=None, alg=None, kid=None, **over):
        key = key or self.rsa
        header = {"alg": alg or key.alg, "typ": "JWT", "kid": kid or key.jwk["kid"]}
        return compact(header, self.claims(**over), key.sign)

    def token(self, assertion, extra=(), auth=None, url=None):
        fields = [("grant_type", "client_credentials"), ("client_assertion_type", JWT_BEARER),
                  ("client_assertion", assertion)] + list(extra)
        return post_form(url or self.token_url, fields, auth=auth)

    def assertOk(self, r):
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertTrue(body["access_token"].startswith("oat_"), body)
        self.assertNotIn("refresh_token", body)
        return body

    def assertInvalidClient(self, r, assertion=None, needle=None):
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.content_type, "application/json", r)
        body = r.json()
        self.assertEqual(body["error"], "invalid_client", body)
        desc = body.get("error_description", "")
        if needle:
            self.assertIn(needle, desc)
        if assertion:
            for part in assertion.split("."):
                if len(part) > 8:
                    self.assertNotIn(part[:16], desc, "the description echoes the assertion")
        # No Basic was tried: no Basic challenge.
        self.assertNotIn("Basic", r.headers.get("WWW-Authenticate") or "")
        return body

    # -- accepted

    def test_rs256_client_credentials(self):
        self.assertOk(self.token(self.assertion()))

    def test_es256_client_credentials(self):
        self.assertOk(self.token(self.assertion(key=self.ec)))

    def test_issuer_as_audience_and_client_id_in_body(self):
        a = self.assertion(aud=self.server.issuer)
        self.assertOk(self.token(a, extra=[("client_id", self.robot["client_id"])]))

    def test_json_body(self):
        r = post_json(self.token_url, {"grant_type": "client_credentials",
                                       "client_assertion_type": JWT_BEARER,
                                       "client_assertion": self.assertion(key=self.ec)})
        self.assertOk(r)

    # -- refused

    def test_wrong_key(self):
        a = self.assertion(key=self.stranger, kid="rsa1")
        self.assertInvalidClient(self.token(a), a, "signature")
        a = self.assertion(key=self.stranger)  # a kid the client never registered
        self.assertInvalidClient(self.token(a), a, "kid")

    def test_wrong_alg(self):
        # An RS256 header naming the EC key (signed by the RSA key).
        a = self.assertion(key=self.rsa, kid="ec1")
        self.assertInvalidClient(self.token(a), a, "alg")
        # HS256 MACed with the RSA public key's PEM text (the classic confusion).
        header = {"alg": "HS256", "typ": "JWT", "kid": "rsa1"}
        a = compact(header, self.claims(),
                    lambda data: hmac.new(self.rsa.public_pem, data, hashlib.sha256).digest())
        self.assertInvalidClient(self.token(a), a, "HMAC")

    def test_alg_none(self):
        for sig in (None, lambda d: b"x" * 64):
            a = compact({"alg": "none", "typ": "JWT"}, self.claims(), sig)
            self.assertInvalidClient(self.token(a), a)

    def test_expired(self):
        now = int(time.time())
        a = self.assertion(exp=now - 300, iat=now - 400)
        self.assertInvalidClient(self.token(a), a, "expired")

    def test_too_long_lived(self):
        a = self.assertion(exp=int(time.time()) + 86400)
        self.assertInvalidClient(self.token(a), a)

    def test_missing_jti(self):
        a = self.assertion(jti=None)
        self.assertInvalidClient(self.token(a), a, "jti")

    def test_wrong_iss_sub_aud(self):
        other = self.secret_client["client_id"]
        for over, needle in [({"iss": other}, "iss"),
                             ({"aud": "https://elsewhere.example/"}, "aud"),
                             ({"aud": None}, "aud")]:
            with self.subTest(over=over):
                a = self.assertion(**over)
                self.assertInvalidClient(self.token(a), a, needle)
        # sub names another (secret) client: that client cannot use assertions.
        a = self.assertion(sub=other, iss=other)
        self.assertInvalidClient(self.token(a), a, "client_secret")

    def test_malformed(self):
        for a in ["", "x", "a.b", "a.b.c.d", "e30.e30.e30", "!!!.e30.e30"]:
            with self.subTest(assertion=a):
                r = self.token(a)
                self.assertIn(r.status, (400, 401), r)
                self.assertIn(r.json()["error"], ("invalid_client", "invalid_request"))

    def test_replayed_jti(self):
        a = self.assertion()
        self.assertOk(self.token(a))
        self.assertInvalidClient(self.token(a), a, "already used")
        # The same jti in a new, otherwise different assertion is still a replay.
        jti = json.loads(base64.urlsafe_b64decode(a.split(".")[1] + "=="))["jti"]
        b = self.assertion(key=self.ec, jti=jti)
        self.assertInvalidClient(self.token(b), b, "already used")

    def test_concurrent_replay_accepted_once(self):
        a = self.assertion(key=self.ec)
        results = []
        lock = threading.Lock()

        def go():
            r = self.token(a)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] + [401] * 7, [r.text for r in results])

    def test_replay_across_endpoints(self):
        a = self.assertion(aud=self.server.issuer)
        r = post_form(self.server.url("/oauth/revoke"),
                      [("token", "oat_unknown"), ("client_assertion_type", JWT_BEARER),
                       ("client_assertion", a)])
        self.assertEqual(r.status, 200, r)
        self.assertInvalidClient(self.token(a), a, "already used")

    def test_revoke_with_assertion(self):
        tok = self.assertOk(self.token(self.assertion()))["access_token"]
        a = self.assertion(aud=self.server.url("/oauth/revoke"))
        r = post_form(self.server.url("/oauth/revoke"),
                      [("token", tok), ("client_assertion_type", JWT_BEARER),
                       ("client_assertion", a)])
        self.assertEqual(r.status, 200, r)

    # -- method rules

    def test_secret_methods_refused_for_this_client(self):
        cid = self.robot["client_id"]
        r = post_form(self.token_url, [("grant_type", "client_credentials"), ("client_id", cid),
                                       ("client_secret", "guess")])
        self.assertInvalidClient(r, needle="private_key_jwt")
        r = post_form(self.token_url, [("grant_type", "client_credentials"), ("client_id", cid)])
        self.assertInvalidClient(r, needle="private_key_jwt")

    def test_two_methods(self):
        a = self.assertion()
        r = self.token(a, auth=(self.secret_client["client_id"],
                                self.secret_client["client_secret"]))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "invalid_request")
        r = self.token(a, extra=[("client_secret", "x")])
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_body_client_id_must_match(self):
        a = self.assertion()
        r = self.token(a, extra=[("client_id", self.secret_client["client_id"])])
        self.assertInvalidClient(r, a, "client_id")

    def test_unknown_assertion_type(self):
        r = post_form(self.token_url,
                      [("grant_type", "client_credentials"),
                       ("client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
                       ("client_assertion", self.assertion())])
        self.assertInvalidClient(r, needle="client_assertion_type")


if __name__ == "__main__":
    unittest.main()
