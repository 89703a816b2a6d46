"""End-to-end tests of the authorization-code flow (SPEC §2–§4, §8): the login + consent page
driven like a browser, the token endpoint's response, state and iss on every authorization
response, stored grants, prompt=consent, deny, "Not you?", wrong credentials, login throttling,
the page's security headers and contents, cookies, root aliases and the resource parameter."""

import html.parser
import json
import os
import re
import time
import unittest
import urllib.parse

from harness import (Browser, SharedServerTestCase, WattleTestCase, add_client, add_user,
                     authorize_params, obtain_code, parse_forms, parse_set_cookie,
                     pkce_pair, post_form, post_json, redeem_code, refresh_request,
                     token_info)

ACCESS_RE = re.compile(r"^oat_[A-Za-z0-9_-]{43}$")
REFRESH_RE = re.compile(r"^ort_[A-Za-z0-9_-]{43}$")
CODE_RE = re.compile(r"^oac_[A-Za-z0-9_-]{43}$")
REDIRECT = "https://app.example/cb"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"
PASSWORD = "alice's password 1"
WRONG_LOGIN_MESSAGE = None  # learnt from the first wrong-password page


def query_bytes(url):
    """The query of url as {name: [raw bytes value, ...]} (form-urlencoded decoding, no
    charset guessing), to compare state byte for byte."""
    out = {}
    q = urllib.parse.urlsplit(url).query
    for part in q.split("&") if q else []:
        k, _, v = part.partition("=")
        k = urllib.parse.unquote_to_bytes(k.replace("+", " ")).decode("utf-8", "replace")
        out.setdefault(k, []).append(urllib.parse.unquote_to_bytes(v.replace("+", " ")))
    return out


def redirect_target(url):
    u = urllib.parse.urlsplit(url)
    return "%s://%s%s" % (u.scheme, u.netloc, u.path)


class _Alert(html.parser.HTMLParser):
    """Collects the text of role="alert" elements and of the page as a whole."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.alerts = []
        self.warnings = []
        self.text = []
        self._stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        kind = "alert" if a.get("role") == "alert" else (
            "warn" if "warn" in (a.get("class") or "").split() else None)
        if tag not in ("input", "br", "meta", "img", "link"):
            self._stack.append(kind)
        if kind == "alert":
            self.alerts.append("")
        elif kind == "warn":
            self.warnings.append("")

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if "alert" in self._stack:
            self.alerts[-1] += data
        elif "warn" in self._stack:
            self.warnings[-1] += data


def page_info(html_text):
    p = _Alert()
    p.feed(html_text)
    p.close()
    return {"alerts": [a.strip() for a in p.alerts], "warnings": [w.strip() for w in p.warnings],
            "text": "".join(p.text)}


class FlowCase(SharedServerTestCase):
    """A server with a user and a confidential, a public and a loopback-only client."""

    server_config = {"rate_limit": {"token": 0, "revoke": 0}}

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        add_user(cls.dd, "bob", "bob's password 2")
        cls.conf = add_client(cls.dd, "Photo Frame", [REDIRECT])
        cls.pub = add_client(cls.dd, "Gallery SPA", [REDIRECT, "https://app.example/other"],
                             public=True)
        cls.loop = add_client(cls.dd, "Local Tool", [LOOPBACK_REDIRECT], public=True)

    # -- helpers

    def url(self, path):
        return self.server.url(path)

    def start(self, client, scope="read:assets write:assets", state="xyz", browser=None,
              redirect_uri=REDIRECT, path="/oauth/authorize", **extra):
        """GET the authorization endpoint; returns (browser, response, verifier)."""
        b = browser or Browser(self.server)
        verifier, challenge = pkce_pair()
        r = b.authorize(authorize_params(client["client_id"], redirect_uri, challenge, scope,
                                         state, **extra), path=path)
        return b, r, verifier

    def assertPage(self, r, status=200):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.content_type, "text/html", r)
        self.assertNotIn("Location", r.headers)

    def assertRedirect(self, r, status, redirect_uri=REDIRECT):
        """The response redirects to redirect_uri; returns its query ({name: first str})."""
        self.assertEqual(r.status, status, r)
        loc = r.headers.get("Location")
        self.assertIsNotNone(loc, r)
        self.assertEqual(redirect_target(loc), redirect_uri, loc)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query, keep_blank_values=True)
        for k, v in q.items():
            self.assertEqual(len(v), 1, "parameter %s repeated in %s" % (k, loc))
        self.assertEqual(q.get("iss"), [self.server.issuer], "iss in %s" % loc)
        return {k: v[0] for k, v in q.items()}

    def assertTokenResponse(self, r, scope, refresh=True):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json")
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        self.assertEqual(r.headers.get("Pragma"), "no-cache")
        t = r.json()
        keys = {"access_token", "token_type", "expires_in", "scope"}
        if refresh:
            keys.add("refresh_token")
        self.assertEqual(set(t), keys, t)
        self.assertRegex(t["access_token"], ACCESS_RE)
        if refresh:
            self.assertRegex(t["refresh_token"], REFRESH_RE)
        self.assertEqual(t["token_type"], "Bearer")
        self.assertIs(type(t["expires_in"]), int)
        self.assertEqual(t["expires_in"], 3600)
        self.assertEqual(t["scope"], scope)
        return t

    def login_allow(self, client, scope="read:assets write:assets", state="xyz", **kw):
        b, page, verifier = self.start(client, scope, state, **kw)
        self.assertPage(page)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303, kw.get("redirect_uri", REDIRECT))
        self.assertRegex(q["code"], CODE_RE)
        return b, q, verifier


class CodeFlowTest(FlowCase):

    def test_confidential_client_basic_form_body(self):
        b, q, verifier = self.login_allow(self.conf)
        self.assertEqual(q["state"], "xyz")
        self.assertEqual(set(q), {"code", "state", "iss"})
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        t = self.assertTokenResponse(r, "read:assets write:assets")
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        info = token_info(self.dd, t["access_token"])
        self.assertTrue(info["active"], info)
        self.assertEqual(info["client_id"], self.conf["client_id"])
        self.assertEqual(info["username"], "alice")
        self.assertEqual(info["scope"], "read:assets write:assets")
        self.assertEqual(info["aud"], self.server.issuer + "/mcp")
        self.assertEqual(info["exp"] - info["iat"], 3600)
        rinfo = token_info(self.dd, t["refresh_token"])
        self.assertTrue(rinfo["active"], rinfo)
        self.assertEqual(rinfo["grant"], info["grant"])
        self.assertEqual(rinfo["exp"] - rinfo["iat"], 30 * 86400)

    def test_confidential_client_basic_json_body(self):
        b, q, verifier = self.login_allow(self.conf, scope="read:assets")
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT, json_body=True)
        self.assertTokenResponse(r, "read:assets")

    def test_confidential_client_secret_in_json_body(self):
        # Gumnut's docs: "Confidential server-side applications may also include
        # client_secret in the token exchange request" -- and refresh with id + secret in JSON.
        b, q, verifier = self.login_allow(self.conf)
        r = post_json(self.url("/oauth/token"), {
            "grant_type": "authorization_code", "code": q["code"],
            "client_id": self.conf["client_id"], "client_secret": self.conf["client_secret"],
            "redirect_uri": REDIRECT, "code_verifier": verifier})
        t = self.assertTokenResponse(r, "read:assets write:assets")
        r = post_json(self.url("/oauth/token"), {
            "grant_type": "refresh_token", "refresh_token": t["refresh_token"],
            "client_id": self.conf["client_id"], "client_secret": self.conf["client_secret"]})
        t2 = self.assertTokenResponse(r, "read:assets write:assets")
        self.assertNotEqual(t2["refresh_token"], t["refresh_token"])
        self.assertNotEqual(t2["access_token"], t["access_token"])

    def test_confidential_client_secret_post_form(self):
        b, q, verifier = self.login_allow(self.conf)
        r = post_form(self.url("/oauth/token"), {
            "grant_type": "authorization_code", "code": q["code"],
            "client_id": self.conf["client_id"], "client_secret": self.conf["client_secret"],
            "redirect_uri": REDIRECT, "code_verifier": verifier})
        self.assertTokenResponse(r, "read:assets write:assets")

    def test_public_client_json_body_as_gumnut_docs(self):
        b, q, verifier = self.login_allow(self.pub)
        # Exactly the body of Gumnut's documented fetch() call.
        r = post_json(self.url("/oauth/token"), {
            "grant_type": "authorization_code", "code": q["code"],
            "client_id": self.pub["client_id"], "redirect_uri": REDIRECT,
            "code_verifier": verifier})
        t = self.assertTokenResponse(r, "read:assets write:assets")
        r = post_json(self.url("/oauth/token"), {
            "grant_type": "refresh_token", "refresh_token": t["refresh_token"],
            "client_id": self.pub["client_id"]})
        self.assertTokenResponse(r, "read:assets write:assets")

    def test_public_client_form_body(self):
        b, q, verifier = self.login_allow(self.pub, scope="read:albums")
        r = redeem_code(self.server, self.pub["client_id"], None, q["code"], verifier, REDIRECT)
        t = self.assertTokenResponse(r, "read:albums")
        r = refresh_request(self.server, self.pub["client_id"], None, t["refresh_token"])
        self.assertTokenResponse(r, "read:albums")

    def test_token_request_without_redirect_uri(self):
        # redirect_uri on the token request is optional (SPEC §3).
        b, q, verifier = self.login_allow(self.conf)
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier)
        self.assertTokenResponse(r, "read:assets write:assets")

    def test_default_scope_when_none_requested(self):
        b, page, verifier = self.start(self.conf, scope=None)
        self.assertPage(page)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303)
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        self.assertTokenResponse(r, "read:assets")  # the catalogue's default scope

    def test_offline_access_is_dropped_from_the_granted_scope(self):
        b, page, verifier = self.start(self.conf, scope="read:assets offline_access")
        self.assertPage(page)
        self.assertNotIn("offline_access", page.text)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303)
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        self.assertTokenResponse(r, "read:assets", refresh=True)

    def test_no_secret_in_the_logs_or_the_store(self):
        # SPEC §3: no raw token, code, secret or password is written to disk or to a log.
        b, q, verifier = self.login_allow(self.conf)
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        t = self.assertTokenResponse(r, "read:assets write:assets")
        r2 = refresh_request(self.server, self.conf["client_id"], self.conf["client_secret"],
                             t["refresh_token"])
        t2 = self.assertTokenResponse(r2, "read:assets write:assets")
        # failures are logged too: a replayed code, a wrong secret
        redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                    q["code"], verifier, REDIRECT)
        refresh_request(self.server, self.conf["client_id"], "ocs_" + "w" * 43,
                        t2["refresh_token"])
        secrets_ = [q["code"], t["access_token"], t["refresh_token"], t2["access_token"],
                    t2["refresh_token"], self.conf["client_secret"], PASSWORD,
                    b.cookie("wattle_session"), verifier]
        self.server.wait_stderr("code_replay")
        log = self.server.stderr_text()
        store = b""
        for name in os.listdir(self.dd):
            with open(os.path.join(self.dd, name), "rb") as f:
                store += f.read()
        for sec in secrets_:
            self.assertTrue(sec)
            self.assertNotIn(sec, log)
            self.assertNotIn(sec.encode(), store)
            # nor the secret half of a token on its own
            if re.match(r"^o[a-z]{2}_", sec):
                self.assertNotIn(sec[4 + 22:].encode(), store)

    def test_no_refresh_token_without_the_refresh_grant(self):
        c = add_client(self.dd, "No refresh", [REDIRECT], grant_types=["authorization_code"])
        got = obtain_code(self.server, c["client_id"], REDIRECT, "alice", PASSWORD)
        r = redeem_code(self.server, c["client_id"], c["client_secret"], got["code"],
                        got["verifier"], REDIRECT)
        self.assertTokenResponse(r, "read:assets", refresh=False)

    def test_authorize_by_post(self):
        # A POST of the same parameters as the GET (SPEC §2).
        b = Browser(self.server)
        verifier, challenge = pkce_pair()
        page = b.authorize(authorize_params(self.conf["client_id"], REDIRECT, challenge,
                                            "read:assets", "posted"), method="POST")
        self.assertPage(page)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303)
        self.assertEqual(q["state"], "posted")
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        self.assertTokenResponse(r, "read:assets")

    def test_303_after_the_form_post(self):
        b, page, _ = self.start(self.conf)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 303, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")


class StateAndIssTest(FlowCase):

    STATES = {
        "json": json.dumps({"verifier": "abc~-._", "return_to": "/x?y=1&z=2#f",
                            "nonce": "a+b c/d=e%41"}),
        "unicode": "état — 東京 🦘 zażółć",
        "specials": "a b+c&d=e%f#g?h/i\\j\"k'l<m>n;o,p",
    }

    @staticmethod
    def state_2048():
        base = json.dumps({"k": "é🦘&=+%#"})
        s = base + "x" * (2048 - len(base.encode()))
        assert len(s.encode()) == 2048
        return s

    def check_echo(self, state, q_bytes):
        self.assertEqual(q_bytes.get("state"), [state.encode("utf-8")])

    def test_state_echoed_byte_for_byte_on_success(self):
        states = dict(self.STATES, long=self.state_2048())
        for name, state in states.items():
            with self.subTest(state=name):
                b, page, verifier = self.start(self.conf, state=state)
                self.assertPage(page)
                r = b.submit(page, "allow", username="alice", password=PASSWORD)
                self.assertEqual(r.status, 303, r)
                loc = r.headers["Location"]
                self.check_echo(state, query_bytes(loc))
                # and again through the stored-grant shortcut (302, no page)
                b2, r2, _ = self.start(self.conf, state=state, browser=b)
                self.assertEqual(r2.status, 302, r2)
                self.check_echo(state, query_bytes(r2.headers["Location"]))

    def test_state_echoed_on_deny_and_on_errors(self):
        for name, state in dict(self.STATES, long=self.state_2048()).items():
            with self.subTest(state=name, where="deny"):
                b, page, _ = self.start(self.conf, state=state)
                r = b.submit(page, "deny")
                self.assertEqual(r.status, 303, r)
                self.check_echo(state, query_bytes(r.headers["Location"]))
            with self.subTest(state=name, where="invalid_scope"):
                b, r, _ = self.start(self.conf, scope="read:nothing", state=state)
                self.assertEqual(r.status, 302, r)
                qb = query_bytes(r.headers["Location"])
                self.assertEqual(qb.get("error"), [b"invalid_scope"])
                self.check_echo(state, qb)

    def test_state_with_bytes_that_are_not_utf8(self):
        # "whatever it contains" (SPEC §3): a state that is not UTF-8 comes back byte for byte
        # (or, at the least, is refused with an error: never silently dropped).
        state = b"x\xff\xfe{\"n\":1}\xc3"
        b = Browser(self.server)
        verifier, challenge = pkce_pair()
        params = authorize_params(self.conf["client_id"], REDIRECT, challenge, "read:assets",
                                  state)
        page = b.authorize(params)
        self.assertEqual(page.status, 200, page)
        for decision in ("deny", "allow"):
            with self.subTest(decision=decision):
                page = b.authorize(params) if decision == "allow" else page
                if page.status == 302:  # stored grant (after the allow below): fine too
                    r = page
                else:
                    r = b.submit(page, decision, username="alice", password=PASSWORD)
                self.assertIn(r.status, (302, 303), r)
                qb = query_bytes(r.headers["Location"])
                self.assertEqual(qb.get("state"), [state],
                                 "state lost or changed after the consent form (%s): %s"
                                 % (decision, r.headers["Location"]))

    def test_iss_on_every_authorization_response(self):
        b, page, _ = self.start(self.conf, scope="read:people")
        q = self.assertRedirect(b.submit(page, "allow", username="alice", password=PASSWORD),
                                303)
        self.assertIn("code", q)
        q = self.assertRedirect(self.start(self.conf, scope="read:people", browser=b)[1], 302)
        self.assertIn("code", q)
        b, page, _ = self.start(self.conf)
        q = self.assertRedirect(b.submit(page, "deny"), 303)
        self.assertEqual(q["error"], "access_denied")
        for bad in [{"scope": "nope:nope"}, {"response_type": "token"},
                    {"code_challenge_method": "plain"}, {"resource": "https://elsewhere/"}]:
            with self.subTest(bad=bad):
                verifier, challenge = pkce_pair()
                p = dict(authorize_params(self.conf["client_id"], REDIRECT, challenge,
                                          "read:assets", "s1"))
                p.update(bad)
                r = Browser(self.server).authorize(p)
                q = self.assertRedirect(r, 302)
                self.assertIn("error", q)
                self.assertIn("error_description", q)
                self.assertEqual(q["state"], "s1")

    def test_no_state_means_no_state_in_the_redirect(self):
        b, page, _ = self.start(self.conf, state=None)
        q = self.assertRedirect(b.submit(page, "allow", username="alice", password=PASSWORD),
                                303)
        self.assertNotIn("state", q)


class ConsentPageTest(FlowCase):

    def test_stored_grant_skips_the_page(self):
        b, q, _ = self.login_allow(self.conf, scope="read:assets write:assets")
        # the same browser again, the same or fewer scopes: 302 with a code, no page
        for scope in ["read:assets write:assets", "write:assets"]:
            with self.subTest(scope=scope):
                _, r, verifier = self.start(self.conf, scope=scope, state="again", browser=b)
                q = self.assertRedirect(r, 302)
                self.assertEqual(q["state"], "again")
                self.assertEqual(r.body, b"")
                t = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                                q["code"], verifier, REDIRECT)
                self.assertTokenResponse(t, scope)
        # a scope the grant does not cover: the page again (logged in: no password fields)
        _, r, _ = self.start(self.conf, scope="read:assets read:albums", browser=b)
        self.assertPage(r)
        form = Browser.consent_form(r)
        names = {i.get("name") for i in form["inputs"]}
        self.assertNotIn("password", names)
        # another browser has no session: the page with the login fields
        _, r, _ = self.start(self.conf, scope="read:assets")
        self.assertPage(r)
        self.assertIn("password", {i.get("name") for i in Browser.consent_form(r)["inputs"]})

    def test_prompt_consent_forces_the_page(self):
        b, q, _ = self.login_allow(self.conf, scope="read:libraries")
        _, r, verifier = self.start(self.conf, scope="read:libraries", browser=b,
                                    prompt="consent")
        self.assertPage(r)
        form = Browser.consent_form(r)
        self.assertNotIn("password", {i.get("name") for i in form["inputs"]})
        r = b.submit(r, "allow")  # logged in: no credentials needed
        q = self.assertRedirect(r, 303)
        t = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT)
        self.assertTokenResponse(t, "read:libraries")

    def test_deny(self):
        b, page, _ = self.start(self.conf, state="deny-state")
        r = b.submit(page, "deny", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303)
        self.assertEqual(q["error"], "access_denied")
        self.assertEqual(q["state"], "deny-state")
        self.assertNotIn("code", q)
        # without credentials too (the deny button skips validation)
        b, page, _ = self.start(self.conf, state="deny2")
        q = self.assertRedirect(b.submit(page, "deny"), 303)
        self.assertEqual(q["error"], "access_denied")
        self.assertNotIn("code", q)
        # a denial is not remembered as a grant, and creates no session
        self.assertIsNone(b.cookie("wattle_session"))

    def test_not_you_logout_asks_for_credentials_again(self):
        b, q, _ = self.login_allow(self.conf, scope="read:assets")
        old_session = b.cookie("wattle_session")
        self.assertTrue(old_session)
        _, page, _ = self.start(self.conf, scope="read:assets", browser=b, prompt="consent")
        self.assertPage(page)
        self.assertEqual(len(parse_forms(page.text)), 2, "consent form + logout form")
        self.assertIn("alice", page_info(page.text)["text"])
        r = b.logout(page)
        self.assertIn(r.status, (200, 303), r)
        self.assertIsNone(b.cookie("wattle_session"), b.set_cookies)
        if r.status == 303:  # back to the pending request
            loc = r.headers["Location"]
            self.assertTrue(urllib.parse.urlsplit(loc).path.endswith("/authorize"), loc)
            page = b.get(loc)
        else:
            _, page, _ = self.start(self.conf, scope="read:assets", browser=b)
        self.assertPage(page)
        names = {i.get("name") for i in Browser.consent_form(page)["inputs"]}
        self.assertIn("username", names)
        self.assertIn("password", names)
        self.assertEqual(len(parse_forms(page.text)), 1)
        # the old session cookie was ended on the server, not only forgotten by this browser
        thief = Browser(self.server)
        thief.cookies["wattle_session"] = {"value": old_session, "path": "/oauth", "attrs": {}}
        _, page, _ = self.start(self.conf, scope="read:assets", browser=thief)
        self.assertPage(page)
        self.assertIn("password", {i.get("name") for i in Browser.consent_form(page)["inputs"]})

    def test_wrong_password_and_unknown_user(self):
        messages = []
        for user, pw in [("bob", "not bob's password"), ("nobody-here", "whatever 123")]:
            with self.subTest(user=user):
                b, page, _ = self.start(self.conf)
                r = b.submit(page, "allow", username=user, password=pw)
                self.assertPage(r, 200)
                info = page_info(r.text)
                self.assertEqual(len(info["alerts"]), 1, r.text)
                messages.append(info["alerts"][0])
                names = {i.get("name") for i in Browser.consent_form(r)["inputs"]}
                self.assertTrue({"username", "password"} <= names)
                self.assertIsNone(b.cookie("wattle_session"))
                # the re-shown form still works with the right credentials
                if user == "bob":
                    r2 = b.submit(r, "allow", username="bob", password="bob's password 2")
                    self.assertRedirect(r2, 303)
        self.assertEqual(messages[0], messages[1], "unknown user and wrong password differ")
        self.assertTrue(messages[0])

    def test_missing_credentials_reshow_the_form(self):
        b, page, _ = self.start(self.conf)
        r = b.submit(page, "allow", username="alice", password="")
        self.assertPage(r, 200)
        self.assertEqual(len(page_info(r.text)["alerts"]), 1)

    def test_page_security_headers(self):
        _, page, _ = self.start(self.conf)
        b = Browser(self.server)
        err = b.get("/oauth/authorize?client_id=ocl_nosuchclientxxxxxxxxx&response_type=code")
        for what, r, status in [("consent page", page, 200), ("error page", err, 400)]:
            with self.subTest(what):
                self.assertPage(r, status)
                h = r.headers
                self.assertEqual(h.get("X-Frame-Options"), "DENY")
                csp = h.get("Content-Security-Policy") or ""
                self.assertRegex(csp, r"(^|;)\s*frame-ancestors 'none'\s*(;|$)")
                self.assertEqual(h.get("Referrer-Policy"), "no-referrer")
                self.assertEqual(h.get("X-Content-Type-Options"), "nosniff")
                self.assertIn("no-store", h.get("Cache-Control") or "")
                self.assertIsNone(h.get("Access-Control-Allow-Origin"))
                self.assertIsNone(h.get("Strict-Transport-Security"))  # plain http

    def test_page_shows_client_name_redirect_host_and_scopes(self):
        _, page, _ = self.start(self.conf, scope="read:assets write:albums")
        info = page_info(page.text)
        self.assertIn("Photo Frame", info["text"])
        self.assertIn("app.example", info["text"])
        self.assertIn("View photos and videos", info["text"])
        self.assertIn("Create and modify albums", info["text"])
        self.assertNotIn("Upload and modify assets", info["text"])
        self.assertEqual(info["warnings"], [])
        self.assertNotIn("loopback", page.text.lower())

    def test_client_name_is_html_escaped(self):
        evil = add_client(self.dd, "<script>alert(1)</script>", [REDIRECT])
        _, page, _ = self.start(evil)
        self.assertPage(page)
        self.assertNotIn("<script>", page.text)
        self.assertNotIn("<script", page.text.lower())
        self.assertIn("<script>alert(1)</script>", page_info(page.text)["text"])

    def test_loopback_only_client_is_warned_about(self):
        _, page, _ = self.start(self.loop, redirect_uri="http://127.0.0.1:49152/callback")
        self.assertPage(page)
        info = page_info(page.text)
        self.assertTrue(any("loopback" in w.lower() or "this device" in w.lower()
                            for w in info["warnings"]), info)
        self.assertIn("127.0.0.1", info["text"])
        # a client with one https redirect URI besides its loopback one is not warned about
        mixed = add_client(self.dd, "Mixed", [LOOPBACK_REDIRECT, REDIRECT], public=True)
        _, page, _ = self.start(mixed, redirect_uri=LOOPBACK_REDIRECT)
        self.assertPage(page)
        self.assertEqual(page_info(page.text)["warnings"], [])

    def test_exactly_one_decision_form_without_query_in_action(self):
        _, page, _ = self.start(self.conf)
        forms = parse_forms(page.text)
        self.assertEqual(len(forms), 1)
        self.assertEqual(len(Browser.consent_forms(page)), 1)
        form = Browser.consent_form(page)
        self.assertEqual(form["method"], "post")
        action = form["action"]
        self.assertTrue(action, "the form has an action")
        self.assertNotIn("?", action)
        self.assertEqual(urllib.parse.urljoin(self.server.issuer + "/oauth/authorize", action),
                         self.server.issuer + "/oauth/authorize")
        buttons = {(b.get("type"), b.get("name"), b.get("value")) for b in form["buttons"]}
        self.assertEqual(buttons, {("submit", "decision", "allow"),
                                   ("submit", "decision", "deny")})
        inputs = {i.get("name"): i for i in form["inputs"]}
        self.assertIn("username", inputs)
        self.assertEqual(inputs["password"].get("type"), "password")
        hidden = [n for n, i in inputs.items() if i.get("type") == "hidden"]
        self.assertGreaterEqual(len(hidden), 2, "the pending request and a CSRF token")
        for n in hidden:
            self.assertTrue(inputs[n].get("value"), n)

    def test_cookie_attributes(self):
        b, page, _ = self.start(self.conf)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        self.assertRedirect(r, 303)
        raw = [v for v in r.headers.get_all("Set-Cookie") if v.startswith("wattle_session=")]
        self.assertEqual(len(raw), 1, r.headers)
        name, value, attrs = parse_set_cookie(raw[0])
        self.assertTrue(value)
        self.assertIs(attrs.get("httponly"), True)
        self.assertEqual(str(attrs.get("samesite")).lower(), "lax")
        self.assertEqual(attrs.get("path"), "/oauth")
        self.assertEqual(attrs.get("max-age"), "86400")  # session_ttl
        self.assertNotIn("secure", attrs)  # plain http loopback issuer
        self.assertNotIn("domain", attrs)
        bid = b.last_set_cookie("wattle_bid")
        self.assertIsNotNone(bid)
        self.assertIs(bid.get("httponly"), True)
        self.assertEqual(bid.get("path"), "/oauth")
        for v in b.set_cookies:  # no secret of the flow in a cookie name or value
            self.assertNotIn(PASSWORD, v)

    def test_root_aliases(self):
        b, page, verifier = self.start(self.conf, path="/authorize")
        self.assertPage(page)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        q = self.assertRedirect(r, 303)
        r = post_form(self.url("/token"), {
            "grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier,
            "redirect_uri": REDIRECT}, auth=(self.conf["client_id"], self.conf["client_secret"]))
        t = self.assertTokenResponse(r, "read:assets write:assets")
        r = post_form(self.url("/token"), {"grant_type": "refresh_token",
                                           "refresh_token": t["refresh_token"]},
                      auth=(self.conf["client_id"], self.conf["client_secret"]))
        self.assertTokenResponse(r, "read:assets write:assets")


class ResourceTest(FlowCase):

    def flow_with_resource(self, resource, token_resource=None):
        b, page, verifier = self.start(self.conf, scope="read:assets", resource=resource)
        self.assertPage(page)
        q = self.assertRedirect(b.submit(page, "allow", username="alice", password=PASSWORD),
                                303)
        extra = {"resource": token_resource} if token_resource else None
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        q["code"], verifier, REDIRECT, extra=extra)
        t = self.assertTokenResponse(r, "read:assets")
        return token_info(self.dd, t["access_token"])

    def test_default_resource(self):
        mcp = self.server.issuer + "/mcp"
        u = urllib.parse.urlsplit(self.server.issuer)
        variants = [mcp, mcp + "/", "HTTP://%s/mcp" % u.netloc]
        for v in variants:
            with self.subTest(resource=v):
                self.assertEqual(self.flow_with_resource(v)["aud"], mcp)
        with self.subTest("resource on both requests (MCP clients)"):
            self.assertEqual(self.flow_with_resource(mcp, mcp + "/")["aud"], mcp)
        with self.subTest("no resource: the only one configured"):
            self.assertEqual(self.flow_with_resource(None)["aud"], mcp)


class ConfiguredResourceTest(WattleTestCase):

    def test_resource_on_another_origin_normalised(self):
        s = self.start_server({"resources": [{"path": "/mcp",
                                              "resource": "https://api.example.com/mcp"}]})
        add_user(self.data_dir, "alice", PASSWORD)
        c = add_client(self.data_dir, "App", [REDIRECT])
        for res in ["https://api.example.com/mcp", "https://API.Example.COM/mcp/",
                    "HTTPS://api.example.com/mcp"]:
            with self.subTest(resource=res):
                got = obtain_code(s, c["client_id"], REDIRECT, "alice", PASSWORD,
                                  scope="read:assets", extra={"resource": res})
                r = redeem_code(s, c["client_id"], c["client_secret"], got["code"],
                                got["verifier"], REDIRECT)
                self.assertEqual(r.status, 200, r)
                info = token_info(self.data_dir, r.json()["access_token"])
                self.assertEqual(info["aud"], "https://api.example.com/mcp")
        # the issuer's own /mcp is not a resource of this server any more
        verifier, challenge = pkce_pair()
        r = Browser(s).authorize(authorize_params(c["client_id"], REDIRECT, challenge,
                                                  "read:assets", "st",
                                                  resource=s.issuer + "/mcp"))
        self.assertEqual(r.status, 302, r)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
        self.assertEqual(q.get("error"), ["invalid_target"])


class RedirectShapesTest(FlowCase):
    """The code is added to the registered redirect URI without disturbing it: a query it
    already has, native apps' private-use schemes (SPEC §3)."""

    def test_redirect_uri_shapes(self):
        for red, prefix in [("https://app.example/cb?tenant=a%20b&x=1",
                             "https://app.example/cb?tenant=a%20b&x=1&"),
                            ("com.example.app:/oauth/cb", "com.example.app:/oauth/cb?"),
                            ("cursor://anysphere.cursor-retrieval/oauth/callback",
                             "cursor://anysphere.cursor-retrieval/oauth/callback?")]:
            with self.subTest(redirect_uri=red):
                c = add_client(self.dd, "Shapes", [red], public=True)
                got = obtain_code(self.server, c["client_id"], red, "alice", PASSWORD,
                                  state="a b")
                loc = got["location"]
                self.assertTrue(loc.startswith(prefix), loc)
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
                self.assertEqual(q["state"], ["a b"])
                self.assertEqual(q["iss"], [self.server.issuer])
                if "tenant" in red:
                    self.assertEqual(q["tenant"], ["a b"])
                    self.assertEqual(q["x"], ["1"])
                r = redeem_code(self.server, c["client_id"], None, got["code"], got["verifier"],
                                red)
                self.assertTokenResponse(r, "read:assets")
                # an error goes to the same place
                verifier, challenge = pkce_pair()
                r = Browser(self.server).authorize(authorize_params(
                    c["client_id"], red, challenge, "no:such:scope", "e"))
                self.assertEqual(r.status, 302, r)
                self.assertTrue(r.headers["Location"].startswith(prefix), r.headers)


class SeveralResourcesTest(WattleTestCase):

    def test_resource_is_required_when_several_are_configured(self):
        s = self.start_server({"resources": [{"path": "/mcp"}, {"path": "/api"}]})
        add_user(self.data_dir, "alice", PASSWORD)
        c = add_client(self.data_dir, "App", [REDIRECT])
        r = Browser(s).authorize(authorize_params(c["client_id"], REDIRECT, pkce_pair()[1],
                                                  "read:assets", "st"))
        self.assertEqual(r.status, 302, r)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
        self.assertEqual(q.get("error"), ["invalid_target"])
        self.assertEqual(q.get("state"), ["st"])
        for path in ("/mcp", "/api"):
            got = obtain_code(s, c["client_id"], REDIRECT, "alice", PASSWORD,
                              extra={"resource": s.issuer + path})
            r = redeem_code(s, c["client_id"], c["client_secret"], got["code"],
                            got["verifier"], REDIRECT)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(token_info(self.data_dir, r.json()["access_token"])["aud"],
                             s.issuer + path)


class LoginThrottleTest(WattleTestCase):

    def test_fourth_failed_attempt_gets_429(self):
        s = self.start_server({"login_throttle": {"per_user_address": 3, "per_address": 50,
                                                  "window": 60}})
        add_user(self.data_dir, "alice", PASSWORD)
        add_user(self.data_dir, "carol", "carol's password")
        c = add_client(self.data_dir, "App", [REDIRECT])
        verifier, challenge = pkce_pair()
        params = authorize_params(c["client_id"], REDIRECT, challenge, "read:assets", "t")
        b = Browser(s)
        page = b.authorize(params)
        for i in range(3):
            r = b.submit(page, "allow", username="alice", password="wrong %d" % i)
            self.assertEqual(r.status, 200, "attempt %d: %r" % (i + 1, r))
            page = r
        r = b.submit(page, "allow", username="alice", password="wrong again")
        self.assertEqual(r.status, 429, r)
        self.assertNotIn("Location", r.headers)
        ra = r.headers.get("Retry-After")
        self.assertIsNotNone(ra, r.headers)
        self.assertRegex(ra, r"^[0-9]+$")
        self.assertGreater(int(ra), 0)
        self.assertLessEqual(int(ra), 60)
        # past the limit, the right password is refused too (no oracle for guessing)
        page = b.authorize(params)
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 429, r)
        self.assertNotIn("Location", r.headers)
        # another user from the same address is not throttled by alice's failures
        page = b.authorize(params)
        r = b.submit(page, "allow", username="carol", password="carol's password")
        self.assertEqual(r.status, 303, r)
        self.assertTrue(s.wait_stderr("login_throttled"), "a login_throttled security event")


class UnknownUserCostTest(WattleTestCase):

    def test_unknown_user_costs_a_password_hash(self):
        # SPEC §4: an unknown user gets the same message and the same hashing cost as a wrong
        # password (no user enumeration by timing). Coarse: medians within a factor of two.
        s = self.start_server({"login_throttle": {"per_user_address": 100, "per_address": 100,
                                                  "window": 60}})
        add_user(self.data_dir, "alice", PASSWORD)
        c = add_client(self.data_dir, "App", [REDIRECT])
        b = Browser(s)
        page = b.authorize(authorize_params(c["client_id"], REDIRECT, pkce_pair()[1],
                                            "read:assets", "t"))
        times = {"known": [], "unknown": []}
        for i in range(5):
            for kind, user in (("known", "alice"), ("unknown", "nobody%d" % i)):
                t0 = time.monotonic()
                r = b.submit(page, "allow", username=user, password="wrong password %d" % i)
                times[kind].append(time.monotonic() - t0)
                self.assertEqual(r.status, 200, r)
        known, unknown = sorted(times["known"])[2], sorted(times["unknown"])[2]
        self.assertGreater(unknown, known / 2, "unknown user %.3fs vs wrong password %.3fs: "
                                               "the hash is skipped" % (unknown, known))
        self.assertLess(unknown, known * 2, times)


if __name__ == "__main__":
    unittest.main()
