"""Dynamic client registration (RFC 7591) and its management (RFC 7592): SPEC §1 (registration
config, rate_limit.register), §2 (/oauth/register, /register, /oauth/register/<client_id>,
CORS, DCR clients may not introspect), §3 (redirect URI rules, id and secret formats), §8 (MCP
clients register as the TypeScript SDK does).

Run: WATTLE_BIN=build/reg/wattle python3 -m unittest tests/e2e/test_register.py -v
"""

import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Server, WattleTestCase, basic_auth, cli_json, form_encode, form_fields,
                     load_catalogue, parse_forms, pkce_pair, post_form, request)

CLIENT_ID_RE = r"^ocl_[A-Za-z0-9_-]{22}$"
SECRET_RE = r"^ocs_[A-Za-z0-9_-]{43}$"
RAT_RE = r"^ora_[A-Za-z0-9_-]{43}$"
ACCESS_RE = r"^oat_[A-Za-z0-9_-]{43}$"
REFRESH_RE = r"^ort_[A-Za-z0-9_-]{43}$"
CATALOGUE = " ".join(load_catalogue())
PASSWORD = "correct horse battery staple"

# What @modelcontextprotocol/sdk 1.x sends (research/oauth-mcp-requirements.md §4.2 step 6):
# the application's clientMetadata with the resolved scope. This is the MCP Inspector's.
MCP_SDK_BODY = {
    "redirect_uris": ["http://localhost:6274/oauth/callback/debug"],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "client_name": "MCP Inspector",
    "client_uri": "https://github.com/modelcontextprotocol/inspector",
    "scope": "read:assets",
}


def post_json_raw(url, body, content_type="application/json", headers=None):
    h = [("Content-Type", content_type)] if content_type else []
    h += list(headers or [])
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return request("POST", url, headers=h, body=body)


def bearer(token):
    return [("Authorization", "Bearer " + token)]


def challenge_params(value):
    """'Bearer realm="x", error="y"' -> ('Bearer', {realm: x, error: y})."""
    scheme, _, rest = value.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', rest))


class RegistrationCase(WattleTestCase):
    """Helpers shared by the registration tests."""

    config = {"rate_limit": {"register": 0, "token": 0}}

    def register(self, body, path="/oauth/register", status=201, headers=None, server=None):
        s = server or self.server
        r = post_json_raw(s.url(path), body, headers=headers)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.content_type, "application/json", r)
        return r, r.json()

    def assertOAuthError(self, r, status, error, description_part=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.content_type, "application/json", r)
        body = r.json()
        self.assertEqual(body.get("error"), error, body)
        self.assertIsInstance(body.get("error_description"), str, body)
        self.assertNotRegex(body["error_description"], r'["\\]')
        if description_part:
            self.assertIn(description_part, body["error_description"])
        return body

    def assertBearer401(self, r, with_error):
        self.assertOAuthError(r, 401, "invalid_token")
        www = r.headers.get_all("WWW-Authenticate")
        self.assertEqual(len(www), 1, r)
        scheme, params = challenge_params(www[0])
        self.assertEqual(scheme, "Bearer")
        self.assertTrue(www[0].startswith('Bearer realm="Wattle"'), www[0])
        if with_error:
            self.assertEqual(params.get("error"), "invalid_token", www[0])
        else:
            self.assertNotIn("error", params, www[0])

    def assertNoStore(self, r):
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", r)
        self.assertEqual(r.headers.get("Pragma"), "no-cache", r)


class RegisterTest(RegistrationCase):
    """One server per class (registration is rate-limited per address: disabled here)."""

    @classmethod
    def setUpClass(cls):
        cls.class_tmp = tempfile.mkdtemp(prefix="wattle-e2e-reg-")
        cls.server = Server(cls.class_tmp, config=cls.config).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            shutil.rmtree(cls.class_tmp, ignore_errors=True)

    # -- registration

    def check_common(self, r, reg):
        self.assertNoStore(r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        self.assertRegex(reg["client_id"], CLIENT_ID_RE)
        self.assertIsInstance(reg["client_id_issued_at"], int)
        self.assertLessEqual(abs(reg["client_id_issued_at"] - time.time()), 60)
        self.assertRegex(reg["registration_access_token"], RAT_RE)
        self.assertEqual(reg["registration_client_uri"],
                         self.server.issuer + "/oauth/register/" + reg["client_id"])
        for hidden in ("secret_sha256", "registration_token_sha256", "used", "source"):
            self.assertNotIn(hidden, reg)

    def test_mcp_sdk_public_client(self):
        r, reg = self.register(MCP_SDK_BODY)
        self.check_common(r, reg)
        for k in ("redirect_uris", "token_endpoint_auth_method", "grant_types",
                  "response_types", "client_name", "client_uri"):
            self.assertEqual(reg[k], MCP_SDK_BODY[k], k)
        self.assertNotIn("client_secret", reg)
        self.assertNotIn("client_secret_expires_at", reg)
        # A DCR client is registered for the whole catalogue (it may request any scope; the
        # user's consent decides): the response says what was registered.
        self.assertEqual(reg["scope"], CATALOGUE)

    def test_root_alias(self):
        r, reg = self.register(MCP_SDK_BODY, path="/register")
        self.check_common(r, reg)

    def test_confidential_by_default(self):
        r, reg = self.register({"redirect_uris": ["https://app.example.com/callback"],
                                "client_name": "Photo Frame"})
        self.check_common(r, reg)
        self.assertEqual(reg["token_endpoint_auth_method"], "client_secret_basic")
        self.assertRegex(reg["client_secret"], SECRET_RE)
        self.assertEqual(reg["client_secret_expires_at"], 0)
        self.assertEqual(reg["grant_types"], ["authorization_code", "refresh_token"])
        self.assertEqual(reg["response_types"], ["code"])
        self.assertEqual(reg["scope"], CATALOGUE)
        self.assertEqual(reg["client_name"], "Photo Frame")

    def test_default_name(self):
        _, reg = self.register({"redirect_uris": ["http://127.0.0.1:9999/cb"],
                                "token_endpoint_auth_method": "none"})
        self.assertEqual(reg["client_name"], "Unnamed client")

    def test_every_field_echoed_unknown_ignored(self):
        body = {
            "redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/user-callback",
                              "http://127.0.0.1:33418/callback"],
            "client_name": "Cursor",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "read:assets write:assets offline_access",
            "application_type": "native",
            "client_uri": "https://cursor.com",
            "logo_uri": "https://cursor.com/logo.png",
            "tos_uri": "https://cursor.com/terms",
            "policy_uri": "https://cursor.com/privacy#data",
            "contacts": ["security@cursor.example"],
            "software_id": "2f8e6c1a-cursor",
            "software_version": "1.7.3",
            "x_vendor_extension": {"a": 1},
            "client_name#fr": "Curseur",
            "software_statement": "eyJhbGciOiJub25lIn0.e30.",
        }
        r, reg = self.register(body)
        self.check_common(r, reg)
        for k in ("redirect_uris", "client_name", "token_endpoint_auth_method", "grant_types",
                  "response_types", "application_type", "client_uri", "logo_uri", "tos_uri",
                  "policy_uri", "contacts", "software_id", "software_version"):
            self.assertEqual(reg[k], body[k], k)
        self.assertEqual(set(reg), {
            "client_id", "client_id_issued_at", "client_name", "redirect_uris", "grant_types",
            "response_types", "token_endpoint_auth_method", "scope", "application_type",
            "client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts", "software_id",
            "software_version", "registration_client_uri", "registration_access_token",
            "client_secret", "client_secret_expires_at"})
        self.assertRegex(reg["client_secret"], SECRET_RE)

    def test_large_response_is_whole(self):
        # Responses are serialised into a 2 KiB stack buffer first; a longer one is written
        # again into a buffer of its size and must arrive whole.
        uris = ["https://app.example.com/callback/%03d/%s" % (i, "x" * 150) for i in range(20)]
        r, reg = self.register({"redirect_uris": uris, "client_name": "Many callbacks"})
        self.check_common(r, reg)
        self.assertGreater(int(r.headers["Content-Length"]), 3000)
        self.assertEqual(reg["redirect_uris"], uris)

    def test_client_credentials_registration(self):
        _, reg = self.register({"grant_types": ["client_credentials"], "client_name": "Agent",
                                "token_endpoint_auth_method": "client_secret_basic"})
        self.assertEqual(reg["grant_types"], ["client_credentials"])
        self.assertEqual(reg["redirect_uris"], [])
        self.assertEqual(reg["response_types"], [])
        r = post_form(self.server.url("/oauth/token"), {"grant_type": "client_credentials"},
                      auth=(reg["client_id"], reg["client_secret"]))
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json()["access_token"], ACCESS_RE)

    def test_cli_sees_the_registration(self):
        _, reg = self.register(MCP_SDK_BODY)
        shown = cli_json(self.server.data_dir, "client", "show", reg["client_id"],
                         cwd=self.class_tmp)
        self.assertEqual(shown["client_id"], reg["client_id"])
        self.assertNotIn("registration_token_sha256", shown)

    # -- refusals

    def test_dangerous_redirect_uris(self):
        for uri in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
                    "vbscript:msgbox(1)", "file:///etc/passwd", "http://evil.example/cb",
                    "https://app.example/cb#frag", "/relative/cb"):
            r = post_json_raw(self.server.url("/oauth/register"),
                              {"redirect_uris": [uri], "token_endpoint_auth_method": "none"})
            self.assertOAuthError(r, 400, "invalid_redirect_uri")
        r = post_json_raw(self.server.url("/oauth/register"),
                          {"redirect_uris": ["javascript:alert(1)"]})
        self.assertIn("scheme", r.json()["error_description"])
        # required for the authorization code grant
        r = post_json_raw(self.server.url("/oauth/register"), {"client_name": "x"})
        self.assertOAuthError(r, 400, "invalid_redirect_uri")
        r = post_json_raw(self.server.url("/oauth/register"),
                          {"redirect_uris": "https://app.example/cb"})
        self.assertOAuthError(r, 400, "invalid_redirect_uri")

    def test_private_use_schemes_accepted(self):
        self.register({"redirect_uris": ["com.example.app:/oauth2redirect",
                                         "vscode://publisher.ext/auth"],
                       "token_endpoint_auth_method": "none"})

    def test_unknown_scope(self):
        r = post_json_raw(self.server.url("/oauth/register"),
                          dict(MCP_SDK_BODY, scope="read:assets admin:everything"))
        self.assertOAuthError(r, 400, "invalid_client_metadata", "admin:everything")

    def test_response_types_token(self):
        r = post_json_raw(self.server.url("/oauth/register"),
                          dict(MCP_SDK_BODY, response_types=["token"]))
        self.assertOAuthError(r, 400, "invalid_client_metadata", "token")
        r = post_json_raw(self.server.url("/oauth/register"),
                          dict(MCP_SDK_BODY, response_types=["code", "id_token"]))
        self.assertOAuthError(r, 400, "invalid_client_metadata")

    def test_other_metadata_errors(self):
        for patch, part in (({"grant_types": ["implicit"]}, "implicit"),
                            ({"grant_types": ["password"]}, "password"),
                            ({"token_endpoint_auth_method": "client_secret_jwt"},
                             "token_endpoint_auth_method"),
                            ({"grant_types": ["client_credentials"], "redirect_uris": [],
                              "response_types": []}, "confidential"),
                            ({"grant_types": ["client_credentials"], "redirect_uris": [],
                              "token_endpoint_auth_method": "client_secret_basic"},
                             "response_types"),
                            ({"client_name": ""}, "client_name"),
                            ({"client_name": 7}, "client_name"),
                            ({"application_type": "desktop"}, "application_type"),
                            ({"client_uri": "http://example.com"}, "client_uri"),
                            ({"logo_uri": "javascript:alert(1)"}, "logo_uri"),
                            ({"contacts": "a@example.com"}, "contacts"),
                            ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks")):
            r = post_json_raw(self.server.url("/oauth/register"), dict(MCP_SDK_BODY, **patch))
            self.assertOAuthError(r, 400, "invalid_client_metadata", part)

    def test_not_json(self):
        url = self.server.url("/oauth/register")
        r = post_json_raw(url, form_encode({"redirect_uris": "https://a.example/cb"}),
                          content_type="application/x-www-form-urlencoded")
        self.assertOAuthError(r, 400, "invalid_request", "application/json")
        r = post_json_raw(url, json.dumps(MCP_SDK_BODY), content_type=None)
        self.assertOAuthError(r, 400, "invalid_request")
        r = post_json_raw(url, json.dumps(MCP_SDK_BODY), content_type="text/plain")
        self.assertOAuthError(r, 400, "invalid_request")
        # parameters on the media type are fine
        r = post_json_raw(url, json.dumps(MCP_SDK_BODY),
                          content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 201, r)

    def test_malformed_json(self):
        url = self.server.url("/oauth/register")
        for body in ('{"redirect_uris": ["https://a.example/cb"]', "", "null", "[]",
                     '"text"', "{'a': 1}", b'{"client_name": "\xff"}',
                     '{"client_name": "a\\u0000b"}'):
            r = post_json_raw(url, body)
            self.assertOAuthError(r, 400, "invalid_request")

    def test_duplicate_keys(self):
        r = post_json_raw(self.server.url("/oauth/register"),
                          '{"redirect_uris": ["https://a.example/cb"], "redirect_uris": '
                          '["https://evil.example/cb"]}')
        self.assertOAuthError(r, 400, "invalid_request", "duplicate")

    def test_methods_and_cors(self):
        r = request("GET", self.server.url("/oauth/register"))
        self.assertEqual(r.status, 405, r)
        r = request("OPTIONS", self.server.url("/oauth/register"),
                    headers={"Origin": "https://inspector.example",
                             "Access-Control-Request-Method": "POST",
                             "Access-Control-Request-Headers": "content-type, mcp-protocol-version"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        self.assertIn("Content-Type", r.headers.get("Access-Control-Allow-Headers"))
        r = request("OPTIONS", self.server.url("/oauth/register/ocl_xxxxxxxxxxxxxxxxxxxxxx"),
                    headers={"Origin": "https://inspector.example",
                             "Access-Control-Request-Method": "DELETE"})
        self.assertEqual(r.status, 204, r)
        self.assertIn("DELETE", r.headers.get("Access-Control-Allow-Methods"))
        self.assertIn("Authorization", r.headers.get("Access-Control-Allow-Headers"))

    def test_metadata_advertises_registration(self):
        r = request("GET", self.server.url("/.well-known/oauth-authorization-server"))
        self.assertEqual(r.json()["registration_endpoint"],
                         self.server.issuer + "/oauth/register")

    # -- RFC 7592

    def test_read_update_delete(self):
        r, reg = self.register(dict(MCP_SDK_BODY, token_endpoint_auth_method="client_secret_basic"))
        uri, rat, cid = reg["registration_client_uri"], reg["registration_access_token"], reg["client_id"]
        secret = reg["client_secret"]
        # read
        r = request("GET", uri, headers=bearer(rat))
        self.assertEqual(r.status, 200, r)
        self.assertNoStore(r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        got = r.json()
        expected = {k: v for k, v in reg.items() if k != "client_secret"}
        self.assertEqual(got, expected)  # the secret is never shown again (only a digest is kept)
        # update: replace the metadata (omitted fields are removed)
        new = {"client_id": cid, "client_name": "Renamed",
               "redirect_uris": ["http://localhost:7000/cb"],
               "token_endpoint_auth_method": "client_secret_basic",
               "registration_access_token": rat, "registration_client_uri": uri,
               "client_id_issued_at": 1, "client_secret_expires_at": 0,
               "client_secret": secret}
        r = request("PUT", uri, headers=bearer(rat) + [("Content-Type", "application/json")],
                    body=json.dumps(new))
        self.assertEqual(r.status, 200, r)
        self.assertNoStore(r)
        upd = r.json()
        self.assertEqual(upd["client_id"], cid)
        self.assertEqual(upd["client_name"], "Renamed")
        self.assertEqual(upd["redirect_uris"], ["http://localhost:7000/cb"])
        self.assertEqual(upd["client_id_issued_at"], reg["client_id_issued_at"])
        self.assertEqual(upd["registration_access_token"], rat)
        self.assertNotIn("client_uri", upd)
        self.assertNotIn("client_secret", upd)
        self.assertEqual(request("GET", uri, headers=bearer(rat)).json(), upd)
        # the secret still works after the update
        r = post_form(self.server.url("/oauth/token"),
                      {"grant_type": "refresh_token", "refresh_token": "ort_" + "A" * 43},
                      auth=(cid, secret))
        self.assertOAuthError(r, 400, "invalid_grant")
        # refusals
        for body, err in (({"client_name": "no id", "redirect_uris": ["https://a.example/cb"]},
                           "invalid_client_metadata"),
                          (dict(new, client_id="ocl_" + "B" * 22), "invalid_client_metadata"),
                          (dict(new, client_secret="ocs_" + "C" * 43), "invalid_client_metadata"),
                          (dict(new, redirect_uris=["javascript:x"]), "invalid_redirect_uri")):
            r = request("PUT", uri, headers=bearer(rat) + [("Content-Type", "application/json")],
                        body=json.dumps(body))
            self.assertOAuthError(r, 400, err)
        r = request("PUT", uri, headers=bearer(rat) + [("Content-Type", "text/plain")],
                    body=json.dumps(new))
        self.assertOAuthError(r, 400, "invalid_request")
        # delete
        r = request("DELETE", uri, headers=bearer(rat))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertBearer401(request("GET", uri, headers=bearer(rat)), True)
        self.assertBearer401(request("DELETE", uri, headers=bearer(rat)), True)
        r = post_form(self.server.url("/oauth/token"), {"grant_type": "client_credentials"},
                      auth=(cid, secret))
        self.assertOAuthError(r, 401, "invalid_client")

    def test_update_public_to_confidential_issues_secret(self):
        _, reg = self.register(MCP_SDK_BODY)
        body = dict(MCP_SDK_BODY, client_id=reg["client_id"],
                    token_endpoint_auth_method="client_secret_post")
        r = request("PUT", reg["registration_client_uri"],
                    headers=bearer(reg["registration_access_token"]) +
                    [("Content-Type", "application/json")], body=json.dumps(body))
        self.assertEqual(r.status, 200, r)
        upd = r.json()
        self.assertRegex(upd["client_secret"], SECRET_RE)
        self.assertEqual(upd["client_secret_expires_at"], 0)

    def test_wrong_or_missing_registration_token(self):
        _, reg = self.register(MCP_SDK_BODY)
        _, other = self.register(MCP_SDK_BODY)
        uri, rat = reg["registration_client_uri"], reg["registration_access_token"]
        self.assertBearer401(request("GET", uri), False)
        self.assertBearer401(request("GET", uri, headers=[("Authorization", "Basic eDp5")]),
                             False)
        for h in (bearer("ora_" + "A" * 43), bearer(other["registration_access_token"]),
                  bearer("not-a-token"), bearer(rat[:-1]),
                  [("Authorization", "Bearer " + rat), ("Authorization", "Bearer " + rat)]):
            for method in ("GET", "DELETE"):
                self.assertBearer401(request(method, uri, headers=h), True)
            self.assertBearer401(request("PUT", uri, headers=h + [("Content-Type",
                                                                    "application/json")],
                                         body=json.dumps(dict(MCP_SDK_BODY,
                                                              client_id=reg["client_id"]))),
                                 True)
        # an unknown client id is the same 401, never a 404
        for path in ("/oauth/register/ocl_" + "Z" * 22, "/oauth/register/nope",
                     "/oauth/register/" + reg["client_id"] + "/x"):
            self.assertBearer401(request("GET", self.server.url(path), headers=bearer(rat)),
                                 True)
        # still there
        self.assertEqual(request("GET", uri, headers=bearer(rat)).status, 200)

    def test_cli_clients_cannot_be_managed(self):
        c = cli_json(self.server.data_dir, "client", "add", "--name", "CLI app",
                     "--redirect-uri", "https://cli.example/cb", cwd=self.class_tmp)
        _, reg = self.register(MCP_SDK_BODY)
        r = request("GET", self.server.url("/oauth/register/" + c["client_id"]),
                    headers=bearer(reg["registration_access_token"]))
        self.assertBearer401(r, True)

    # -- the registered client at work

    def add_user(self):
        rc = getattr(type(self), "_user_added", False)
        if not rc:
            cli_json(self.server.data_dir, "user", "add", "alice", "--password-stdin",
                     stdin=PASSWORD + "\n", cwd=self.class_tmp)
            type(self)._user_added = True

    def code_flow(self, reg, redirect_uri, scope="read:assets write:assets"):
        """Authorize as alice with PKCE through the consent page; returns (code, verifier)."""
        self.add_user()
        verifier, challenge = pkce_pair()
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": reg["client_id"],
            "redirect_uri": redirect_uri, "code_challenge": challenge,
            "code_challenge_method": "S256", "scope": scope, "state": "st-1",
            "resource": self.server.issuer + "/mcp"})
        jar = {}

        def absorb(resp):
            for v in resp.headers.get_all("Set-Cookie"):
                name, _, val = v.split(";")[0].partition("=")
                jar[name.strip()] = val.strip()

        def cookie():
            return [("Cookie", "; ".join("%s=%s" % kv for kv in jar.items()))] if jar else []

        page = request("GET", self.server.url("/oauth/authorize?" + q))
        self.assertEqual(page.status, 200, page)
        absorb(page)
        self.assertIn(reg["client_name"], page.text)
        forms = [f for f in parse_forms(page.text)
                 if any(b.get("name") == "decision" for b in f["buttons"])]
        self.assertEqual(len(forms), 1, page.text)
        fields = dict(form_fields(forms[0]))
        self.assertIn("request", fields)
        self.assertIn("csrf", fields)
        fields.update(username="alice", password=PASSWORD, decision="allow")
        action = urllib.parse.urljoin(self.server.url("/oauth/authorize"), forms[0]["action"])
        r = request("POST", action, headers=[("Content-Type",
                                               "application/x-www-form-urlencoded")] + cookie(),
                    body=form_encode(fields))
        self.assertEqual(r.status, 303, r)
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith(redirect_uri + "?"), loc)
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
        self.assertEqual(params["state"], ["st-1"])
        self.assertEqual(params["iss"], [self.server.issuer])
        return params["code"][0], verifier

    def test_dcr_public_client_code_flow(self):
        redirect = "http://127.0.0.1:53682/callback"
        _, reg = self.register(dict(MCP_SDK_BODY, redirect_uris=[redirect]))
        code, verifier = self.code_flow(reg, "http://127.0.0.1:40000/callback")
        r = post_form(self.server.url("/oauth/token"), {
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": "http://127.0.0.1:40000/callback", "client_id": reg["client_id"],
            "resource": self.server.issuer + "/mcp"})
        self.assertEqual(r.status, 200, r)
        tok = r.json()
        self.assertRegex(tok["access_token"], ACCESS_RE)
        self.assertRegex(tok["refresh_token"], REFRESH_RE)
        self.assertEqual(tok["scope"], "read:assets write:assets")
        # the access token works at the gateway, and a refresh rotates
        r = request("GET", self.server.url("/mcp"), headers=bearer(tok["access_token"]))
        self.assertEqual(r.status, 200, r)
        r = post_form(self.server.url("/oauth/token"), {
            "grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
            "client_id": reg["client_id"]})
        self.assertEqual(r.status, 200, r)
        # deleting the registration ends its tokens
        d = request("DELETE", reg["registration_client_uri"],
                    headers=bearer(reg["registration_access_token"]))
        self.assertEqual(d.status, 204, d)
        r = request("GET", self.server.url("/mcp"), headers=bearer(r.json()["access_token"]))
        self.assertEqual(r.status, 401, r)

    def test_dcr_confidential_client_code_flow_cannot_introspect(self):
        redirect = "https://app.example.com/callback"
        _, reg = self.register({"redirect_uris": [redirect], "client_name": "Web App"})
        code, verifier = self.code_flow(reg, redirect, scope="read:assets")
        r = post_form(self.server.url("/oauth/token"), {
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect}, auth=(reg["client_id"], reg["client_secret"]))
        self.assertEqual(r.status, 200, r)
        at = r.json()["access_token"]
        r = post_form(self.server.url("/oauth/introspect"), {"token": at},
                      auth=(reg["client_id"], reg["client_secret"]))
        self.assertOAuthError(r, 401, "invalid_client")


class RegisterConfigTest(RegistrationCase):
    """Configurations: body cap, initial access token, disabled, rate limit."""

    def test_oversize_body_is_413(self):
        self.server = self.start_server(config={"max_body_bytes": 1024,
                                                "rate_limit": {"register": 0}})
        body = dict(MCP_SDK_BODY, client_name="x" * 2000)
        r = post_json_raw(self.server.url("/oauth/register"), body)
        self.assertOAuthError(r, 413, "invalid_request", "1024")
        r = request("PUT", self.server.url("/oauth/register/ocl_" + "A" * 22),
                    headers=bearer("ora_" + "A" * 43) + [("Content-Type", "application/json")],
                    body=json.dumps(body))
        self.assertEqual(r.status, 401, r)  # the caller is checked before the body

    def test_initial_access_token(self):
        self.server = self.start_server(config={
            "registration": {"initial_access_token": "iat-3f9a1c0d7e"},
            "rate_limit": {"register": 0}})
        url = self.server.url("/oauth/register")
        self.assertBearer401(post_json_raw(url, MCP_SDK_BODY), False)
        self.assertBearer401(post_json_raw(url, MCP_SDK_BODY, headers=bearer("wrong")), True)
        self.assertBearer401(post_json_raw(url, MCP_SDK_BODY,
                                           headers=bearer("iat-3f9a1c0d7")), True)
        self.assertBearer401(post_json_raw(url, MCP_SDK_BODY,
                                           headers=[("Authorization",
                                                     basic_auth("iat-3f9a1c0d7e", "x"))]),
                             False)
        r, reg = self.register(MCP_SDK_BODY, headers=bearer("iat-3f9a1c0d7e"))
        self.assertRegex(reg["client_id"], CLIENT_ID_RE)
        # the initial access token is not a registration access token
        self.assertBearer401(request("GET", reg["registration_client_uri"],
                                     headers=bearer("iat-3f9a1c0d7e")), True)
        self.assertNotIn("iat-3f9a1c0d7e", self.server.stderr_text())

    def test_disabled(self):
        s = self.start_server(config={"rate_limit": {"register": 0}})
        _, reg = self.register(MCP_SDK_BODY, server=s)
        s.stop()
        s = self.start_server(config={"registration": {"enabled": False}})
        for path in ("/oauth/register", "/register"):
            r = post_json_raw(s.url(path), MCP_SDK_BODY)
            self.assertOAuthError(r, 403, "access_denied", "disabled")
        meta = request("GET", s.url("/.well-known/oauth-authorization-server")).json()
        self.assertNotIn("registration_endpoint", meta)
        # existing registrations can still be read and deleted, not changed
        uri = s.url("/oauth/register/" + reg["client_id"])
        h = bearer(reg["registration_access_token"])
        self.assertEqual(request("GET", uri, headers=h).status, 200)
        r = request("PUT", uri, headers=h + [("Content-Type", "application/json")],
                    body=json.dumps(dict(MCP_SDK_BODY, client_id=reg["client_id"])))
        self.assertOAuthError(r, 403, "access_denied")
        self.assertEqual(request("DELETE", uri, headers=h).status, 204)

    def test_unused_registrations_expire(self):
        s = self.start_server(config={"rate_limit": {"register": 0},
                                      "registration": {"unused_client_ttl": 1}})
        used = self.register({"grant_types": ["client_credentials"], "client_name": "agent"},
                             server=s)[1]
        idle = self.register({"grant_types": ["client_credentials"], "client_name": "idle"},
                             server=s)[1]
        for _ in range(2):  # the second issuance finds the client already used
            r = post_form(s.url("/oauth/token"), {"grant_type": "client_credentials"},
                          auth=(used["client_id"], used["client_secret"]))
            self.assertEqual(r.status, 200, r)
        time.sleep(2.1)
        out = self.cli_json("gc", config=s.config_path)
        self.assertEqual(out["purged"]["clients"], 1, out)
        for reg, status in ((used, 200), (idle, 401)):
            r = request("GET", reg["registration_client_uri"],
                        headers=bearer(reg["registration_access_token"]))
            self.assertEqual(r.status, status, (reg["client_name"], r))
        r = post_form(s.url("/oauth/token"), {"grant_type": "client_credentials"},
                      auth=(idle["client_id"], idle["client_secret"]))
        self.assertOAuthError(r, 401, "invalid_client")

    def test_rate_limit(self):
        s = self.start_server(config={"rate_limit": {"register": 2}})
        url = s.url("/oauth/register")
        for attempt in range(5):
            # fire three requests early in a one-second window
            time.sleep(1.0 - (time.time() % 1.0) + 0.01)
            rs = [post_json_raw(url, MCP_SDK_BODY) for _ in range(3)]
            if [r.status for r in rs[:2]] == [201, 201] and rs[2].status == 429:
                break
        else:
            self.fail("no 429 on the third registration within a second: %r" % rs)
        r = rs[2]
        self.assertEqual(r.content_type, "application/json")
        self.assertTrue(r.headers.get("Retry-After", "").isdigit(), r)
        self.assertGreaterEqual(int(r.headers["Retry-After"]), 1)
        self.assertIn("error", r.json())


if __name__ == "__main__":
    unittest.main()
