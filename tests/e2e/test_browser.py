"""CORS and the consent page in a real browser (SPEC §2 CORS, §4, §5, §8 browser-based clients).

A static client page (tests/e2e/browser/index.html + client.js, plain HTML and JS) is served by
a Python http.server on its own loopback origin and opened in headless Chromium (the Debian
package `chromium`, driven by playwright-core from npm through tests/e2e/browser/run.mjs; no
downloaded browser). The page, with fetch() only: reads the 401's WWW-Authenticate (an exposed
header), fetches the protected-resource and authorization-server metadata (preflighted by
MCP-Protocol-Version), checks that the authorization endpoint is not readable cross-origin,
registers dynamically (a preflighted JSON POST), navigates to the consent page with PKCE S256
(run.mjs logs in and presses Allow), takes the code on its callback (state and RFC 9207 iss
checked), redeems it, calls the gateway's echo resource with Authorization, Mcp-Session-Id and
MCP-Protocol-Version (preflighted), reads a bad token's WWW-Authenticate, calls userinfo,
refreshes, revokes. The DevTools protocol shows every preflight and the CORS headers.

A second test opens the consent page for a native app's private-use-scheme redirect URI (SPEC §3
accepts them) and checks that Chromium goes on to that redirect after Allow.

Skipped, with the reason, when node (>= 20), npm or chromium is missing
(deploy/deps.sh --test installs them); $WATTLE_CHROMIUM names another Chromium binary.
tests/e2e/browser/node_modules (playwright-core) is installed with `npm ci` when missing.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import unittest
import urllib.parse

from harness import (SLOW, WattleTestCase, add_client, add_user, child_env, pkce_pair)

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "browser")
PASSWORD = "browser user password 1"
PRM = "/.well-known/oauth-protected-resource/mcp"
NODE_TIMEOUT = 90 * SLOW
NATIVE_REDIRECT = "com.example.app:/oauth/callback"


def chromium_path():
    for p in (os.environ.get("WATTLE_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def tools_or_skip():
    """(node, chromium) with tests/e2e/browser/node_modules installed, or SkipTest."""
    node = shutil.which("node")
    if not node:
        raise unittest.SkipTest("node is not installed (deploy/deps.sh --test installs nodejs "
                                "and npm)")
    v = subprocess.run([node, "--version"], stdout=subprocess.PIPE).stdout.decode()
    m = re.match(r"v(\d+)", v)
    if not m or int(m.group(1)) < 20:
        raise unittest.SkipTest("node %s is older than 20" % v.strip())
    chromium = chromium_path()
    if not chromium:
        raise unittest.SkipTest("chromium is not installed (Debian package chromium; "
                                "deploy/deps.sh --test installs it)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        npm = shutil.which("npm")
        if not npm:
            raise unittest.SkipTest("npm is not installed (deploy/deps.sh --test installs it)")
        r = subprocess.run([npm, "ci", "--prefix", BROWSER_DIR, "--no-audit", "--no-fund",
                            "--loglevel=error"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0:
            raise AssertionError("npm ci --prefix %s failed:\n%s"
                                 % (BROWSER_DIR, r.stdout.decode(errors="replace")))
    return node, chromium


class StaticSite:
    """tests/e2e/browser/ over http://127.0.0.1:<ephemeral>/ (the client page's origin)."""

    def __init__(self):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def end_headers(self):
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0),
                            functools.partial(Handler, directory=BROWSER_DIR))
        self.port = self.httpd.server_address[1]
        self.origin = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def header_tokens(value):
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


class BrowserTest(WattleTestCase):

    def setUp(self):
        super().setUp()
        self.node, self.chromium = tools_or_skip()

    def run_browser(self, options):
        options.setdefault("chromium", self.chromium)
        options.setdefault("timeout_ms", 20000 * SLOW)
        r = subprocess.run([self.node, os.path.join(BROWSER_DIR, "run.mjs"), json.dumps(options)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=BROWSER_DIR,
                           env=child_env(), timeout=NODE_TIMEOUT)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        try:
            doc = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail("run.mjs printed no JSON (exit %d):\n%s\n%s" % (r.returncode, out, err))
        self.assertNotIn("failure", doc, "the browser run failed:\n%s\nstderr:\n%s\nwattle:\n%s"
                         % (json.dumps(doc, indent=1)[:20000], err,
                            self.server.stderr_text()[-3000:]))
        return r.returncode, doc

    def test_browser_client_cors_flow(self):
        self.server = self.start_server()
        iss = self.server.issuer
        user = add_user(self.data_dir, "browser-alice", PASSWORD, cwd=self.tmp)
        site = StaticSite()
        self.addCleanup(site.stop)
        page = "%s/index.html?%s" % (site.origin, urllib.parse.urlencode({"issuer": iss}))
        rc, doc = self.run_browser({"page": page, "issuer": iss, "username": "browser-alice",
                                    "password": PASSWORD})
        res = doc["result"]
        detail = json.dumps(doc, indent=1)[:20000]
        self.assertEqual(doc.get("done"), "ok", detail)
        self.assertEqual(rc, 0)
        self.assertNotIn("error", res, detail)
        st = res["steps"]

        # Discovery from the 401: WWW-Authenticate is readable (exposed) cross-origin.
        s = st["unauthenticated"]
        self.assertEqual((s["status"], s["type"]), (401, "cors"))
        self.assertEqual(s["www_authenticate"],
                         'Bearer realm="Wattle", resource_metadata="%s%s", scope="read:assets"'
                         % (iss, PRM))
        self.assertEqual(st["prm"]["status"], 200)
        self.assertEqual(st["prm"]["body"]["resource"], iss + "/mcp")
        self.assertEqual(st["prm"]["body"]["authorization_servers"], [iss])
        self.assertEqual(st["as_metadata"]["status"], 200)
        self.assertEqual(st["as_metadata"]["issuer"], iss)
        self.assertEqual(st["as_metadata"]["code_challenge_methods_supported"], ["S256"])
        # The authorization endpoint is not readable from another origin (no CORS headers).
        self.assertTrue(st["authorize_cors"].get("blocked", "").startswith("TypeError"),
                        st["authorize_cors"])
        # Dynamic registration from the page.
        self.assertEqual(st["register"]["status"], 201, st["register"])
        client_id = st["register"]["client_id"]
        self.assertRegex(client_id, r"^ocl_[A-Za-z0-9_-]{22}$")
        self.assertEqual(st["register"]["token_endpoint_auth_method"], "none")

        # The consent page, reached by top-level navigation; its headers.
        c = doc["consent"]
        self.assertEqual(c["status"], 200)
        self.assertIsNone(c["acao"])
        self.assertEqual(c["x_frame_options"], "DENY")
        self.assertIn("frame-ancestors 'none'", c["csp"])
        self.assertIn("Wattle browser test client", c["title"])
        # The callback: state and iss (RFC 9207) checked by the page.
        cb = st["callback"]
        self.assertTrue(cb["state_ok"] and cb["iss_ok"], cb)
        self.assertEqual(cb["params"]["iss"], iss)
        self.assertEqual(doc["final_url"], site.origin + "/index.html")

        # Token exchange, refresh, revocation with fetch.
        t = st["token"]
        self.assertEqual((t["status"], t["type"]), (200, "cors"), t)
        self.assertEqual(t["headers"]["cache-control"], "no-store")
        self.assertEqual((t["body"]["token_type"], t["body"]["scope"]), ("Bearer", "read:assets"))
        self.assertTrue(t["body"]["access_token"].startswith("oat_"))
        self.assertTrue(t["body"]["refresh_token"].startswith("ort_"))
        self.assertEqual(st["refresh"]["status"], 200, st["refresh"])
        self.assertTrue(st["refresh"]["new_access_token"] and st["refresh"]["new_refresh_token"])
        self.assertEqual(st["revoke"]["status"], 200)

        # The gateway's echo resource with the bearer token and MCP's headers.
        for name, method in (("resource_get", "GET"), ("resource_post", "POST"),
                             ("resource_preflighted", "GET"), ("resource_after_refresh", "GET")):
            r = st[name]
            self.assertEqual((r["status"], r["type"]), (200, "cors"), r)
            b = r["body"]
            self.assertEqual((b["sub"], b["username"], b["client_id"], b["scope"], b["aud"],
                              b["method"], b["path"]),
                             (user["sub"], "browser-alice", client_id, "read:assets",
                              iss + "/mcp", method, "/mcp"), name)
        # 401s with a readable challenge naming the error.
        for name in ("resource_bad_token", "resource_after_revoke"):
            r = st[name]
            self.assertEqual(r["status"], 401, r)
            self.assertTrue(r["www_authenticate"].startswith(
                'Bearer realm="Wattle", resource_metadata="%s%s", scope="read:assets", '
                'error="invalid_token", error_description="' % (iss, PRM)), r)
        u = st["userinfo"]
        self.assertEqual(u["status"], 200, u)
        self.assertEqual((u["body"]["sub"], u["body"]["preferred_username"]),
                         (user["sub"], "browser-alice"))

        # What Chromium's network stack saw: the preflights and the CORS headers.
        net = [n for n in doc["network"] if n["url"].startswith(iss)]
        preflights = [n for n in net if n["method"] == "OPTIONS"]
        for p in preflights:
            self.assertEqual(p.get("response_type"), "Preflight", p)
            self.assertIn(p["status"], (200, 204), p)
            self.assertEqual(p["acao"], "*", p)
            self.assertIsNone(p["acac"], p)
            self.assertLessEqual(header_tokens(p["request_headers"]), header_tokens(p["acah"]), p)
        asked = {(p["url"][len(iss):], p["request_headers"]) for p in preflights}
        for want in (("/mcp", "content-type,mcp-protocol-version"),
                     (PRM, "mcp-protocol-version"),
                     ("/.well-known/oauth-authorization-server", "mcp-protocol-version"),
                     ("/oauth/register", "content-type"),
                     ("/mcp", "authorization,mcp-protocol-version,mcp-session-id"),
                     ("/oauth/userinfo", "authorization")):
            self.assertIn(want, asked, "no such preflight; preflights: %r" % sorted(asked))
        self.assertNotIn("/oauth/authorize", {p["url"][len(iss):] for p in preflights})
        for n in net:
            if n["method"] == "OPTIONS" or n["type"] == "Document":
                continue
            path = n["url"][len(iss):]
            if path == "/oauth/authorize":  # the fetch() that must fail
                self.assertEqual(n.get("cors_error"), "MissingAllowOriginHeader", n)
                continue
            self.assertEqual(n.get("acao"), "*", n)
            self.assertIsNone(n.get("acac"), n)
            exposed = header_tokens(n.get("aceh"))
            for h in ("www-authenticate", "retry-after", "mcp-session-id"):
                self.assertIn(h, exposed, n)
        # The consent page and its form's 303 (documents) never have CORS headers.
        docs = [(n["method"], n.get("status")) for n in net
                if n["url"] == iss + "/oauth/authorize" and n["type"] == "Document"]
        self.assertEqual(docs, [("GET", 200), ("POST", 303)], net)
        for n in net:
            if n["url"] == iss + "/oauth/authorize":
                self.assertIsNone(n.get("acao"), n)

        clients = {c["client_id"]: c for c in self.cli_json("client", "list")}
        self.assertEqual(clients[client_id]["redirect_uris"], [site.origin + "/index.html"])

    def test_private_use_scheme_redirect_after_consent(self):
        """A native app's redirect URI with a private-use scheme (SPEC §3 accepts
        `com.example.app:/cb`, `cursor://…`). After Allow, the consent form's POST is answered
        with a 303 to that URI; Chromium applies the page's CSP `form-action` to the redirects
        of a form submission, and `form-action 'self' *` matches network schemes only, so
        Chromium refused to follow ("Sending form data to … violates the following Content
        Security Policy directive") and the user stayed on the consent page. The consent page
        now names the validated redirect URI's origin or scheme in form-action."""
        self.server = self.start_server()
        add_user(self.data_dir, "browser-alice", PASSWORD, cwd=self.tmp)
        app = add_client(self.data_dir, "Native App", [NATIVE_REDIRECT], public=True,
                         cwd=self.tmp)
        _, challenge = pkce_pair()
        q = urllib.parse.urlencode({"response_type": "code", "client_id": app["client_id"],
                                    "redirect_uri": NATIVE_REDIRECT, "state": "native-1",
                                    "code_challenge": challenge, "code_challenge_method": "S256"})
        rc, doc = self.run_browser({"mode": "consent", "issuer": self.server.issuer,
                                    "authorize_url": self.server.url("/oauth/authorize?" + q),
                                    "redirect_prefix": NATIVE_REDIRECT,
                                    "username": "browser-alice", "password": PASSWORD,
                                    "wait_ms": 3000 * SLOW})
        self.assertEqual(doc["csp_violations"], [], json.dumps(doc, indent=1)[:6000])
        self.assertEqual(len(doc["redirects"]), 1, doc)
        self.assertEqual(doc["redirects"][0]["prefix"], NATIVE_REDIRECT)
        self.assertEqual(sorted(doc["redirects"][0]["params"]), ["code", "iss", "state"])


if __name__ == "__main__":
    unittest.main()
