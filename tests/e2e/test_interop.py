"""Interoperability (SPEC §8): real third-party OAuth client libraries drive Wattle's flow.

- oauth4webapi (npm, by panva; strict: validates the discovery document, RFC 9207 iss on the
  authorization response, PKCE), run by tests/e2e/interop/flow.mjs under node >= 20, for a
  confidential client (client_secret_basic) and a public client (none). node_modules is
  installed from package-lock.json with `npm ci` when it is missing.
- requests_oauthlib (Debian's python3-requests-oauthlib 1.3.0) as in Gumnut's documentation,
  with PKCE passed through (tests/e2e/interop/oauthlib_flow.py), run by whichever python3 can
  import it; skipped with the reason when none can.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

from harness import (SLOW, SharedServerTestCase, add_client, add_user, child_env, token_info)

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(HERE, "interop")
PASSWORD = "alice's password 1"
ACCESS_RE = r"^oat_[A-Za-z0-9_-]{43}$"
REFRESH_RE = r"^ort_[A-Za-z0-9_-]{43}$"


def run_json(argv, timeout, env=None):
    """Runs argv; returns (exit code, parsed stdout JSON or None, stdout, stderr)."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env, cwd=INTEROP)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    try:
        doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except ValueError:
        doc = None
    return r.returncode, doc, out, err


class OAuth4WebApiTest(SharedServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = shutil.which("node")
        if not cls.node:
            raise unittest.SkipTest("node is not installed (deploy/deps.sh --test installs "
                                    "nodejs and npm)")
        v = subprocess.run([cls.node, "--version"], stdout=subprocess.PIPE).stdout.decode()
        m = re.match(r"v(\d+)", v)
        if not m or int(m.group(1)) < 20:
            raise unittest.SkipTest("node %s is older than 20" % v.strip())
        if not os.path.isdir(os.path.join(INTEROP, "node_modules", "oauth4webapi")) or \
                not os.path.isdir(os.path.join(INTEROP, "node_modules", "node-html-parser")):
            npm = shutil.which("npm")
            if not npm:
                raise unittest.SkipTest("npm is not installed (deploy/deps.sh --test installs it)")
            r = subprocess.run([npm, "ci", "--prefix", INTEROP, "--no-audit", "--no-fund"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            if r.returncode != 0:
                raise AssertionError("npm ci --prefix %s failed:\n%s"
                                     % (INTEROP, r.stdout.decode(errors="replace")))
        super().setUpClass()

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        cls.conf = add_client(cls.dd, "Node Confidential", ["https://app.example/cb"])
        cls.pub = add_client(cls.dd, "Node Public", ["http://127.0.0.1/callback"], public=True)

    def run_flow(self, client_id, secret, redirect_uri):
        argv = [self.node, os.path.join(INTEROP, "flow.mjs"), self.server.issuer, client_id,
                secret or "-", redirect_uri, "alice", PASSWORD]
        rc, doc, out, err = run_json(argv, timeout=120 * SLOW)
        self.assertIsNotNone(doc, "flow.mjs printed no JSON (exit %d):\n%s\n%s" % (rc, out, err))
        self.assertNotIn("failure", doc, "oauth4webapi flow failed:\n%s\n%s"
                         % (json.dumps(doc, indent=1), err))
        self.assertEqual(rc, 0, err)
        return doc

    def check(self, doc, redirect_uri):
        iss = self.server.issuer
        d = doc["discovery"]
        self.assertEqual(d["issuer"], iss)
        self.assertEqual(d["authorization_endpoint"], iss + "/oauth/authorize")
        self.assertEqual(d["token_endpoint"], iss + "/oauth/token")
        self.assertEqual(d["revocation_endpoint"], iss + "/oauth/revoke")
        self.assertEqual(d["code_challenge_methods_supported"], ["S256"])
        self.assertIs(d["authorization_response_iss_parameter_supported"], True)
        a = doc["authorize"]
        self.assertEqual(a["page_status"], 200)
        self.assertTrue(a["page_content_type"].startswith("text/html"))
        self.assertEqual(a["form_method"], "post")
        self.assertNotIn("?", a["form_action"])
        self.assertIn("password:password", a["form_fields"])
        self.assertEqual(a["post_status"], 303)
        self.assertTrue(a["location"].startswith(redirect_uri.split("?")[0]), a["location"])
        self.assertIs(a["validated"], True)
        self.assertEqual(a["iss"], iss)
        self.assertEqual(doc["token_http"], {"status": 200, "cache_control": "no-store",
                                             "pragma": "no-cache"})
        for step in ("token", "refresh"):
            t = doc[step]
            self.assertEqual(t["token_type"].lower(), "bearer")
            self.assertEqual(t["expires_in"], 3600)
            self.assertEqual(t["scope"], "read:assets write:assets")
            self.assertRegex(t["access_token"], ACCESS_RE)
            self.assertRegex(t["refresh_token"], REFRESH_RE)
        self.assertNotEqual(doc["token"]["refresh_token"], doc["refresh"]["refresh_token"])
        self.assertEqual(doc["revoke"], {"status": 200, "ok": True})
        self.assertEqual(doc["refresh_after_revoke"]["error"], "invalid_grant")
        for tok in (doc["token"]["access_token"], doc["refresh"]["access_token"],
                    doc["refresh"]["refresh_token"]):
            self.assertFalse(token_info(self.dd, tok)["active"], "alive after revocation")
        self.assertEqual(doc["deny"]["post_status"], 303)
        self.assertEqual(doc["deny"]["error"], "access_denied", doc["deny"])
        self.assertEqual(doc["deny"]["name"], "AuthorizationResponseError", doc["deny"])

    def test_confidential_client_secret_basic(self):
        doc = self.run_flow(self.conf["client_id"], self.conf["client_secret"],
                            "https://app.example/cb")
        self.assertEqual(doc["client"], "client_secret_basic")
        self.check(doc, "https://app.example/cb")

    def test_public_client_none_loopback_port(self):
        doc = self.run_flow(self.pub["client_id"], None, "http://127.0.0.1:53682/callback")
        self.assertEqual(doc["client"], "none")
        self.check(doc, "http://127.0.0.1:53682/callback")


def oauthlib_python():
    """A python3 that can import requests_oauthlib, or None."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py):
            r = subprocess.run([py, "-c", "import requests_oauthlib"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return py
    return None


class RequestsOAuthlibTest(SharedServerTestCase):
    REDIRECT = "http://localhost:3000/callback"  # Gumnut's example

    @classmethod
    def setUpClass(cls):
        cls.python = oauthlib_python()
        if not cls.python:
            raise unittest.SkipTest("requests_oauthlib is not importable by %s or /usr/bin/python3 "
                                    "(Debian package python3-requests-oauthlib, installed by "
                                    "deploy/deps.sh --test)" % sys.executable)
        super().setUpClass()

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        cls.conf = add_client(cls.dd, "Py Confidential", [cls.REDIRECT])
        cls.pub = add_client(cls.dd, "Py Public", [cls.REDIRECT], public=True)

    def run_flow(self, client_id, secret):
        argv = [self.python, os.path.join(INTEROP, "oauthlib_flow.py"), self.server.issuer,
                client_id, secret or "-", self.REDIRECT, "alice", PASSWORD]
        env = child_env({"PYTHONPATH": None, "OAUTHLIB_INSECURE_TRANSPORT": "1"})
        rc, doc, out, err = run_json(argv, timeout=120 * SLOW, env=env)
        self.assertIsNotNone(doc, "oauthlib_flow.py printed no JSON (exit %d):\n%s\n%s"
                             % (rc, out, err))
        self.assertNotIn("failure", doc, "requests_oauthlib flow failed:\n%s"
                         % json.dumps(doc, indent=1))
        self.assertEqual(rc, 0, err)
        return doc

    def check(self, doc):
        self.assertEqual(doc["authorize"]["status"], 303)
        self.assertIn("iss=", doc["authorize"]["location"])
        for step in ("token", "refresh"):
            t = doc[step]
            self.assertEqual(t["token_type"], "Bearer")
            self.assertEqual(t["expires_in"], 3600)
            self.assertEqual(t["scope"], ["read:assets", "write:assets"])
            self.assertRegex(t["access_token"], ACCESS_RE)
            self.assertRegex(t["refresh_token"], REFRESH_RE)
        self.assertNotEqual(doc["token"]["access_token"], doc["refresh"]["access_token"])
        self.assertFalse(token_info(self.dd, doc["token"]["refresh_token"])["active"])
        self.assertTrue(token_info(self.dd, doc["refresh"]["refresh_token"])["active"])
        n = doc["no_pkce"]
        self.assertEqual(n["status"], 302)
        self.assertEqual(n["error"], "invalid_request")
        self.assertIn("code_challenge", n["error_description"])
        self.assertIn("S256", n["error_description"])
        self.assertEqual(n["iss"], self.server.issuer)
        self.assertIsInstance(n["fetch_token"], dict, "fetch_token succeeded without PKCE")
        self.assertEqual(n["fetch_token"]["error"], "invalid_request")
        self.assertIn("code_challenge", n["fetch_token"]["description"])

    def test_confidential_client_as_gumnut_docs(self):
        self.check(self.run_flow(self.conf["client_id"], self.conf["client_secret"]))

    def test_public_client(self):
        self.check(self.run_flow(self.pub["client_id"], None))


if __name__ == "__main__":
    unittest.main()
