"""Drives Wattle with requests_oauthlib's OAuth2Session exactly as Gumnut's documentation shows
(SPEC §8), with PKCE added the way its Debian version (1.3.0, no PKCE option) allows:
code_challenge/code_challenge_method passed to authorization_url and code_verifier to
fetch_token. The consent page is answered like a browser (requests.Session keeps the cookies;
html.parser finds the form). Also runs the flow without PKCE, whose error must name it.

usage: python3 oauthlib_flow.py ISSUER CLIENT_ID SECRET|- REDIRECT_URI USERNAME PASSWORD
Prints one JSON document on stdout; exit 0 when it could run the steps, 2 otherwise.

Run by tests/e2e/test_interop.py with an interpreter that can import requests_oauthlib (on
Debian: the python3-requests-oauthlib package, for /usr/bin/python3).
"""

import base64
import hashlib
import html.parser
import json
import os
import secrets
import sys
import traceback
import urllib.parse

os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the test issuer is http on loopback

import requests  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402


class Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.cur = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.cur = {"action": a.get("action"), "inputs": [], "buttons": []}
            self.forms.append(self.cur)
        elif self.cur is not None and tag == "input":
            self.cur["inputs"].append(a)
        elif self.cur is not None and tag == "button":
            self.cur["buttons"].append(a)

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None


def consent(browser, url, username, password, decision="allow"):
    """Opens url in the browser session and answers the page; returns the redirect URL."""
    r = browser.get(url, allow_redirects=False)
    if r.status_code in (302, 303):
        return r.headers["Location"], r.status_code
    if r.status_code != 200:
        raise RuntimeError("the authorization page answered %d: %s" % (r.status_code, r.text[:300]))
    p = Forms()
    p.feed(r.text)
    forms = [f for f in p.forms if any(b.get("name") == "decision" for b in f["buttons"])]
    if len(forms) != 1:
        raise RuntimeError("expected one consent form, found %d" % len(forms))
    data = []
    for i in forms[0]["inputs"]:
        n = i.get("name")
        if n == "username":
            data.append((n, username))
        elif n == "password":
            data.append((n, password))
        elif n:
            data.append((n, i.get("value") or ""))
    data.append(("decision", decision))
    post = browser.post(urllib.parse.urljoin(url, forms[0]["action"]), data=data,
                        allow_redirects=False)
    if post.status_code not in (302, 303):
        raise RuntimeError("the consent form answered %d: %s" % (post.status_code, post.text[:300]))
    return post.headers["Location"], post.status_code


def main():
    issuer, client_id, secret, redirect_uri, username, password = sys.argv[1:7]
    secret = None if secret == "-" else secret
    authorize_url = issuer + "/oauth/authorize"
    token_url = issuer + "/oauth/token"
    out = {"library": "requests_oauthlib", "client": "confidential" if secret else "public"}
    browser = requests.Session()
    try:
        # -- Gumnut's documented flow, plus PKCE
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        # (1.3.0 takes scope in the constructor; passing it to authorization_url as Gumnut's
        # docs do raises TypeError there)
        oauth = OAuth2Session(client_id, redirect_uri=redirect_uri,
                              scope=["read:assets", "write:assets"])
        url, state = oauth.authorization_url(authorize_url, code_challenge=challenge,
                                             code_challenge_method="S256")
        callback, status = consent(browser, url, username, password)
        out["authorize"] = {"status": status, "location": callback}
        kwargs = {"code_verifier": verifier}
        if secret:
            kwargs["client_secret"] = secret
        else:
            kwargs["include_client_id"] = True
        token = oauth.fetch_token(token_url, authorization_response=callback, **kwargs)
        out["token"] = {k: token.get(k) for k in ("access_token", "token_type", "expires_in",
                                                  "refresh_token", "scope")}
        # Gumnut's refresh: client_id (+ client_secret) in the body
        extra = {"client_id": client_id}
        if secret:
            extra["client_secret"] = secret
        refreshed = oauth.refresh_token(token_url, **extra)
        out["refresh"] = {k: refreshed.get(k) for k in ("access_token", "token_type",
                                                        "expires_in", "refresh_token", "scope")}

        # -- an older integration without PKCE: the error names code_challenge and S256
        legacy = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=["read:assets"])
        url, state = legacy.authorization_url(authorize_url)
        callback, status = consent(browser, url, username, password)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query)
        out["no_pkce"] = {"status": status, "error": q.get("error", [None])[0],
                          "error_description": q.get("error_description", [None])[0],
                          "iss": q.get("iss", [None])[0]}
        try:
            legacy.fetch_token(token_url, authorization_response=callback,
                               **({"client_secret": secret} if secret else
                                  {"include_client_id": True}))
            out["no_pkce"]["fetch_token"] = "succeeded"
        except Exception as e:  # oauthlib raises the OAuth error it parsed from the redirect
            out["no_pkce"]["fetch_token"] = {"type": type(e).__name__,
                                             "error": getattr(e, "error", None),
                                             "description": getattr(e, "description", None)}
    except Exception as e:
        out["failure"] = {"type": type(e).__name__, "message": str(e),
                          "trace": traceback.format_exc()}
        print(json.dumps(out))
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
