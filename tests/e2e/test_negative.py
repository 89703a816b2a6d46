"""Bad requests to the authorization, token and revocation endpoints, data-driven from
tests/e2e/cases/*.json (SPEC §2–§4), plus the consent form's CSRF protection.

A case is {name, endpoint ("authorize" | "token" | "revoke"), method, client, setup, params |
json | raw | raw_hex, body, content_type, auth, expect}:
  client   which registered client the request speaks for: conf (confidential, the default),
           pub (public), other, scoped (--scope read:assets), loopback (http://127.0.0.1/cb),
           two (two redirect URIs), cc (client_credentials only)
  setup    what to obtain first: "code" (${code}, ${verifier}, ${challenge} of the case's
           client), "other_code" (${other_code}, ${other_verifier}: a code of the client
           "other"), "refresh" (${access_token}, ${refresh_token} of the case's client)
  params   a list of [name, value] pairs, or {"base": true, "set": {...}, "remove": [...],
           "add": [[name, value], ...]} starting from a valid request (authorize: a valid
           authorization request; token: a valid code redemption). A value may be
           {"repeat": S, "times": N}. "${...}" placeholders are filled in everywhere.
  body     "form" (default) or "json" for params; or "json": {...} sent as is; or "raw"
           (string, placeholders filled) / "raw_hex" with "content_type"
  auth     "basic" (the client's id and secret; the default for confidential clients), "none",
           {"basic": [id, secret]}, {"header": "raw Authorization value"}
  expect   authorize: {"page400": true} (a 400 HTML page, never a redirect), {"status": 302,
           "error": CODE, "state": "echo"|"absent"|"ignore"} (a redirect to the redirect URI
           with error, error_description, state and iss) or {"status": 200, "page": "consent"};
           token/revoke: {"status": N, "error": CODE, "www_authenticate": value | null (absent)}
           and "description_contains": [...]
Every error response of the token and revoke endpoints is checked to be JSON with `error` and
an `error_description` of RFC 6749 characters only (no `"` or `\\`); nothing is ever a 5xx.
"""

import base64
import glob
import json
import os
import re
import unittest
import urllib.parse

from harness import (Browser, SharedServerTestCase, add_client, add_user, basic_auth,
                     form_encode, form_fields, obtain_code, pkce_pair, redeem_code, request)

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "cases")
REDIRECT = "https://app.example/cb"
PASSWORD = "alice's password 1"
DESC_RE = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")
ENDPOINTS = {"authorize": "/oauth/authorize", "token": "/oauth/token", "revoke": "/oauth/revoke"}


def load_cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(CASES_DIR, "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for c in doc["cases"]:
            c["_file"] = os.path.basename(path)
            cases.append(c)
    names = [c["name"] for c in cases]
    dups = {n for n in names if names.count(n) > 1}
    if dups:
        raise ValueError("duplicate case names in %s: %s" % (CASES_DIR, sorted(dups)))
    return cases


def expand(value, ctx):
    """Fills ${name} placeholders (recursively in lists and dicts) and {"repeat", "times"}."""
    if isinstance(value, str):
        def sub(m):
            if m.group(1) not in ctx:
                raise KeyError("case uses ${%s}, which its setup does not provide" % m.group(1))
            return ctx[m.group(1)]
        return re.sub(r"\$\{([a-z_]+)\}", sub, value)
    if isinstance(value, dict) and set(value) == {"repeat", "times"}:
        return expand(value["repeat"], ctx) * value["times"]
    if isinstance(value, dict):
        return {k: expand(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, ctx) for v in value]
    return value


class NegativeCases(SharedServerTestCase):
    """One server (max_body_bytes 4096, no rate limits) for every case."""

    server_config = {"max_body_bytes": 4096, "rate_limit": {"token": 0, "revoke": 0}}

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        cls.clients = {
            "conf": add_client(cls.dd, "Confidential", [REDIRECT]),
            "other": add_client(cls.dd, "Other", [REDIRECT]),
            "pub": add_client(cls.dd, "Public", [REDIRECT], public=True),
            "scoped": add_client(cls.dd, "Scoped", [REDIRECT], scope="read:assets"),
            "loopback": add_client(cls.dd, "Loopback", ["http://127.0.0.1/cb"], public=True),
            "two": add_client(cls.dd, "Two", [REDIRECT, "https://app.example/second"]),
            "cc": add_client(cls.dd, "Machine", grant_types=["client_credentials"]),
        }
        cls.browsers = {}

    # -- setup steps

    def code_for(self, name):
        c = self.clients[name]
        b = self.browsers.setdefault(name, Browser(self.server))  # logs in once per client
        return obtain_code(self.server, c["client_id"], c["redirect_uris"][0], "alice",
                           PASSWORD, scope="read:assets", browser=b)

    def context(self, case):
        cname = case.get("client", "conf")
        c = self.clients[cname]
        verifier, challenge = pkce_pair()
        ctx = {"issuer": self.server.issuer, "client_id": c["client_id"],
               "secret": c.get("client_secret", ""), "redirect_uri": c.get("redirect_uris",
                                                                           [REDIRECT])[0]
               if c.get("redirect_uris") else REDIRECT,
               "other_client_id": self.clients["other"]["client_id"],
               "verifier": verifier, "challenge": challenge}
        for step in case.get("setup", []):
            if step == "code":
                got = self.code_for(cname)
                ctx.update(code=got["code"], verifier=got["verifier"],
                           challenge=got["challenge"])
            elif step == "other_code":
                got = self.code_for("other")
                ctx.update(other_code=got["code"], other_verifier=got["verifier"])
            elif step == "refresh":
                got = self.code_for(cname)
                r = redeem_code(self.server, c["client_id"], c.get("client_secret"),
                                got["code"], got["verifier"], ctx["redirect_uri"])
                self.assertEqual(r.status, 200, "setup refresh: %r" % r)
                t = r.json()
                ctx.update(access_token=t["access_token"], refresh_token=t["refresh_token"])
            else:
                raise ValueError("unknown setup step %r" % step)
        return ctx

    def params(self, case, ctx):
        p = case.get("params")
        if p is None:
            return []
        if isinstance(p, list):
            return [(k, expand(v, ctx)) for k, v in p]
        if case["endpoint"] == "authorize":
            base = [("response_type", "code"), ("client_id", "${client_id}"),
                    ("redirect_uri", "${redirect_uri}"), ("scope", "read:assets"),
                    ("state", "neg-state"), ("code_challenge", "${challenge}"),
                    ("code_challenge_method", "S256")]
        elif case["endpoint"] == "token":
            base = [("grant_type", "authorization_code"), ("code", "${code}"),
                    ("code_verifier", "${verifier}"), ("redirect_uri", "${redirect_uri}")]
        else:
            base = [("token", "${access_token}")]
        items = [(k, v) for k, v in base if k not in p.get("remove", [])]
        for k, v in p.get("set", {}).items():
            if any(k == n for n, _ in items):
                items = [(n, v if n == k else w) for n, w in items]
            else:
                items.append((k, v))
        items += [tuple(kv) for kv in p.get("add", [])]
        return [(k, expand(v, ctx)) for k, v in items]

    # -- running a case

    def run_case(self, case):
        ctx = self.context(case)
        if case["endpoint"] == "authorize":
            self.run_authorize(case, ctx)
        else:
            self.run_token_like(case, ctx)

    def run_authorize(self, case, ctx):
        params = self.params(case, ctx)
        q = urllib.parse.urlencode(params) + case.get("raw_query_suffix", "")
        b = Browser(self.server)
        method = case.get("method", "GET")
        if method == "GET":
            r = b.get(ENDPOINTS["authorize"] + "?" + q)
        else:
            r = b.request("POST", ENDPOINTS["authorize"],
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          body=q)
        exp = case["expect"]
        self.assertLess(r.status, 500, r)
        loc = r.headers.get("Location")
        if loc:
            self.assertNotIn("code", urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query),
                             "a code was issued: %s" % loc)
        if exp.get("page400"):
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.content_type, "text/html", r)
            self.assertIsNone(loc, "an error before the redirect URI is trusted must never be "
                                   "redirected")
            self.assertEqual(Browser.consent_forms(r), [])
            self.check_page_text(r, exp)
            return
        self.assertEqual(r.status, exp["status"], r)
        if exp["status"] == 200:
            self.assertEqual(r.content_type, "text/html")
            self.assertEqual(len(Browser.consent_forms(r)), 1)
            self.check_page_text(r, exp)
            return
        self.assertIsNotNone(loc, r)
        sent_redirect = dict(params).get("redirect_uri") or ctx["redirect_uri"]
        u = urllib.parse.urlsplit(loc)
        self.assertEqual("%s://%s%s" % (u.scheme, u.netloc, u.path), sent_redirect, loc)
        got = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.assertEqual(got.get("error"), [exp["error"]], loc)
        self.assertEqual(got.get("iss"), [self.server.issuer], loc)
        desc = got.get("error_description", [""])
        self.assertEqual(len(desc), 1)
        self.assertTrue(desc[0], "error_description is empty: %s" % loc)
        self.assertRegex(desc[0], DESC_RE)
        for needle in exp.get("description_contains", []):
            self.assertIn(needle, desc[0])
        state_rule = exp.get("state", "echo")
        if state_rule == "echo":
            self.assertEqual(got.get("state"), [dict(params)["state"]], loc)
        elif state_rule == "absent":
            self.assertNotIn("state", got, loc)

    def check_page_text(self, r, exp):
        for s in exp.get("page_contains", []):
            self.assertIn(s, r.text)
        for s in exp.get("page_not_contains", []):
            self.assertNotIn(s, r.text)

    def run_token_like(self, case, ctx):
        c = self.clients[case.get("client", "conf")]
        public = "client_secret" not in c
        headers = []
        auth = case.get("auth", "none" if public else "basic")
        if auth == "basic":
            headers.append(("Authorization", basic_auth(c["client_id"], c["client_secret"])))
        elif isinstance(auth, dict) and "basic" in auth:
            cid, sec = expand(auth["basic"], ctx)
            headers.append(("Authorization", basic_auth(cid, sec)))
        elif isinstance(auth, dict) and "header" in auth:
            headers.append(("Authorization", expand(auth["header"], ctx)))
        elif auth != "none":
            raise ValueError("unknown auth %r" % (auth,))
        if "raw" in case:
            body = expand(case["raw"], ctx).encode("utf-8")
            ctype = case.get("content_type")
        elif "raw_hex" in case:
            body = bytes.fromhex(case["raw_hex"])
            ctype = case.get("content_type")
        elif "json" in case:
            body = json.dumps(expand(case["json"], ctx)).encode()
            ctype = "application/json"
        else:
            params = self.params(case, ctx)
            if case.get("body", "form") == "json":
                body = json.dumps(dict(params)).encode()
                ctype = "application/json"
            else:
                body = form_encode(params)
                ctype = "application/x-www-form-urlencoded"
            if "content_type" in case:
                ctype = case["content_type"]
        if ctype is not None:
            headers.append(("Content-Type", ctype))
        r = request(case.get("method", "POST"), self.server.url(ENDPOINTS[case["endpoint"]]),
                    headers=headers, body=body)
        exp = case["expect"]
        self.assertLess(r.status, 500, r)
        self.assertEqual(r.content_type, "application/json", r)
        doc = r.json()
        self.assertEqual(r.status, exp["status"], r)
        if r.status >= 400:
            self.assertIsInstance(doc.get("error"), str, r)
            self.assertIsInstance(doc.get("error_description"), str, r)
            self.assertTrue(doc["error_description"], r)
            self.assertRegex(doc["error_description"], DESC_RE)
            self.assertEqual(doc["error"], exp["error"], r)
            for needle in exp.get("description_contains", []):
                self.assertIn(needle, doc["error_description"])
        elif case["endpoint"] == "token":
            self.assertRegex(doc.get("access_token", ""), r"^oat_[A-Za-z0-9_-]{43}$")
        if "www_authenticate" in exp:
            got = r.headers.get("WWW-Authenticate")
            if exp["www_authenticate"] is None:
                self.assertIsNone(got, "WWW-Authenticate without a Basic attempt: %r" % got)
            else:
                self.assertEqual(got, exp["www_authenticate"], r.headers)


def _make_test(case):
    def test(self):
        self.run_case(case)
    test.__doc__ = "%s: %s" % (case["_file"], case["name"])
    return test


for _case in load_cases():
    setattr(NegativeCases, "test_" + re.sub(r"\W", "_", _case["name"]), _make_test(_case))
del _case


class ConsentCsrfTest(SharedServerTestCase):
    """The consent form is bound to its pending request and to the browser (SPEC §4): anything
    else is a 400 page, never a redirect with a code."""

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        cls.client = add_client(cls.dd, "App", [REDIRECT])

    def page(self, browser, state="s", scope="read:assets"):
        verifier, challenge = pkce_pair()
        r = browser.authorize([("response_type", "code"),
                               ("client_id", self.client["client_id"]),
                               ("redirect_uri", REDIRECT), ("scope", scope), ("state", state),
                               ("code_challenge", challenge),
                               ("code_challenge_method", "S256")])
        self.assertEqual(r.status, 200, r)
        return r

    def assertRefused(self, r):
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.content_type, "text/html")
        self.assertIsNone(r.headers.get("Location"), r)
        self.assertEqual(Browser.consent_forms(r), [])

    def test_without_csrf(self):
        b = Browser(self.server)
        page = self.page(b)
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    drop=("csrf",)))
        # and with an empty one
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    override={"csrf": ""}))

    def test_csrf_from_another_browser(self):
        victim, attacker = Browser(self.server), Browser(self.server)
        page = self.page(attacker)
        self.page(victim)  # the victim has its own browser cookie
        # the attacker's form (its request and csrf) posted from the victim's browser
        self.assertRefused(victim.submit(page, "allow", username="alice", password=PASSWORD))
        # the same form posted with no cookies at all
        nobody = Browser(self.server)
        self.assertRefused(nobody.submit(page, "allow", username="alice", password=PASSWORD))
        # the victim logged in already: the session cookie is no substitute for the csrf token
        vpage = self.page(victim, state="v")
        r = victim.submit(vpage, "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 303, r)
        page = self.page(attacker, scope="read:assets write:assets")
        self.assertRefused(victim.submit(page, "allow"))

    def test_tampered_request(self):
        b = Browser(self.server)
        page = self.page(b)
        fields = dict(_fields(page))
        packed = fields["request"]
        # The pending request is the server's own encoding (form-urlencoded, base64url): widen
        # its scope and re-encode it.
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        doc = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        self.assertEqual(doc.get("redirect_uri"), REDIRECT)
        doc["scope"] = "read:assets write:assets write:people"
        tampered = base64.urlsafe_b64encode(
            urllib.parse.urlencode(doc).encode()).rstrip(b"=").decode()
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    override={"request": tampered}))
        # one character flipped
        flipped = packed[:-3] + ("A" if packed[-3] != "A" else "B") + packed[-2:]
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    override={"request": flipped}))
        # garbage
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    override={"request": "!!!"}))
        # the csrf of another pending request of the same browser
        other = self.page(b, state="other")
        self.assertRefused(b.submit(page, "allow", username="alice", password=PASSWORD,
                                    override={"csrf": dict(_fields(other))["csrf"]}))
        # the untampered form still works in its own browser
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 303, r)
        self.assertIn("code=", r.headers["Location"])

    def test_duplicated_form_fields(self):
        b = Browser(self.server)
        page = self.page(b)
        fields = _fields(page) + [("username", "alice"), ("password", PASSWORD),
                                  ("decision", "allow"), ("decision", "allow")]
        r = b.post_form("/oauth/authorize", fields)
        self.assertLess(r.status, 500)
        self.assertNotEqual(r.status, 303, r)
        fields = _fields(page) + [("csrf", dict(_fields(page))["csrf"]), ("username", "alice"),
                                  ("password", PASSWORD), ("decision", "allow")]
        self.assertRefused(b.post_form("/oauth/authorize", fields))

    def test_no_decision(self):
        b = Browser(self.server)
        page = self.page(b)
        r = b.submit(page, None, username="alice", password=PASSWORD)
        self.assertLess(r.status, 500, r)
        self.assertIsNone(r.headers.get("Location"), r)

    def test_logout_needs_its_csrf(self):
        b = Browser(self.server)
        r = b.submit(self.page(b), "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 303, r)
        page = self.page(b, scope="read:albums")
        logout = Browser.logout_form(page)
        self.assertIsNotNone(logout)
        fields = [(k, v) for k, v in _form_pairs(logout) if k != "csrf"]
        r = b.post_form(logout["action"], fields)
        self.assertEqual(r.status, 400, r)
        self.assertIsNotNone(b.cookie("wattle_session"))
        # the logout form of another browser
        other = Browser(self.server)
        other.submit(self.page(other), "allow", username="alice", password=PASSWORD)
        opage = self.page(other, scope="read:albums")
        r = b.post_form(logout["action"], _form_pairs(Browser.logout_form(opage)))
        self.assertEqual(r.status, 400, r)
        # still logged in: the page has no password field
        page = self.page(b, scope="read:albums")
        self.assertNotIn("password", dict(_fields(page)))


def _form_pairs(form):
    return form_fields(form)


def _fields(page):
    return _form_pairs(Browser.consent_form(page))


if __name__ == "__main__":
    unittest.main()
