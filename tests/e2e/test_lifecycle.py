"""End-to-end tests of the token lifecycle (SPEC §1, §3, §7): code replay, refresh rotation and
scope narrowing, the refresh grace window and reuse detection, revocation, client_credentials,
admin commands applied to a running server, the token endpoint's rate limit, and durability of
refresh rotation and of concurrent client_credentials issuance across kill -9."""

import random
import re
import threading
import time
import unittest

from harness import (SLOW, Browser, SharedServerTestCase, WattleTestCase, add_client, add_user,
                     authorize_params, cli, cli_json, obtain_code, pkce_pair, post_form,
                     post_json, redeem_code, refresh_request, revoke_request,
                     token_info)

REDIRECT = "https://app.example/cb"
PASSWORD = "alice's password 1"
SCOPE = "read:assets write:assets"
DESC_RE = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")


class LifecycleMixin:
    """Helpers over self.server / self.dd / self.conf / self.other / self.pub."""

    def tokens(self, client=None, scope=SCOPE, username="alice", password=PASSWORD,
               browser=None):
        """A full flow; returns (token response JSON, code info)."""
        c = client or self.conf
        got = obtain_code(self.server, c["client_id"], REDIRECT, username, password,
                          scope=scope, browser=browser)
        r = redeem_code(self.server, c["client_id"], c.get("client_secret"), got["code"],
                        got["verifier"], REDIRECT)
        self.assertEqual(r.status, 200, r)
        return r.json(), got

    def refresh(self, token, client=None, scope=None, json_body=False):
        c = client or self.conf
        return refresh_request(self.server, c["client_id"], c.get("client_secret"), token,
                               scope=scope, json_body=json_body)

    def info(self, token):
        return token_info(self.dd, token)

    def assertActive(self, token, active=True, msg=None):
        i = self.info(token)
        self.assertEqual(i["active"], active, "%s: %s" % (msg or token[:4], i))
        return i

    def assertOAuthError(self, r, status, error):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.content_type, "application/json", r)
        doc = r.json()
        self.assertEqual(doc.get("error"), error, r)
        self.assertRegex(doc.get("error_description", ""), DESC_RE)
        return doc

    def assertPairDead(self, t, why):
        self.assertActive(t["access_token"], False, why + ": access token")
        if "refresh_token" in t:
            self.assertActive(t["refresh_token"], False, why + ": refresh token")

    def assertPairAlive(self, t, why):
        self.assertActive(t["access_token"], True, why + ": access token")
        if "refresh_token" in t:
            self.assertActive(t["refresh_token"], True, why + ": refresh token")


class LifecycleCase(LifecycleMixin, SharedServerTestCase):
    server_config = {"rate_limit": {"token": 0, "revoke": 0}}

    @classmethod
    def setUpStore(cls):
        add_user(cls.dd, "alice", PASSWORD)
        cls.conf = add_client(cls.dd, "Confidential", [REDIRECT])
        cls.other = add_client(cls.dd, "Other", [REDIRECT])
        cls.pub = add_client(cls.dd, "Public", [REDIRECT], public=True)


class CodeReplayTest(LifecycleCase):

    def test_replay_by_the_owner_revokes_what_the_code_issued(self):
        t, got = self.tokens()
        self.assertPairAlive(t, "after the first redemption")
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        got["code"], got["verifier"], REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertPairDead(t, "after the owner's replay")
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        self.assertTrue(self.server.wait_stderr("code_replay"), "a code_replay security event")

    def test_replay_by_a_public_owner_revokes_too(self):
        t, got = self.tokens(self.pub)
        r = redeem_code(self.server, self.pub["client_id"], None, got["code"], got["verifier"],
                        REDIRECT, json_body=True)
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertPairDead(t, "after the public owner's replay")

    def test_replay_by_a_stranger_changes_nothing(self):
        t, got = self.tokens()
        # another client, with the right verifier
        r = redeem_code(self.server, self.other["client_id"], self.other["client_secret"],
                        got["code"], got["verifier"], REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")
        # the owner's id with a wrong secret
        r = redeem_code(self.server, self.conf["client_id"], "ocs_" + "x" * 43, got["code"],
                        got["verifier"], REDIRECT)
        self.assertOAuthError(r, 401, "invalid_client")
        # the owner's credentials but a wrong verifier
        wrong, _ = pkce_pair()
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        got["code"], wrong, REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")
        # a public client claiming the code
        r = redeem_code(self.server, self.pub["client_id"], None, got["code"], got["verifier"],
                        REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertPairAlive(t, "after strangers replayed the code")
        r = self.refresh(t["refresh_token"])
        self.assertEqual(r.status, 200, r)

    def test_code_info_shows_it_used(self):
        t, got = self.tokens()
        i = self.info(got["code"])
        self.assertTrue(i["known"])
        self.assertTrue(i["used"])
        self.assertFalse(i["active"])


class RefreshTest(LifecycleCase):

    def test_rotation(self):
        t, _ = self.tokens()
        seen_rt, seen_at = {t["refresh_token"]}, {t["access_token"]}
        current = t
        for i in range(3):
            r = self.refresh(current["refresh_token"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("Cache-Control"), "no-store")
            n = r.json()
            self.assertEqual(set(n), {"access_token", "token_type", "expires_in",
                                      "refresh_token", "scope"})
            self.assertEqual(n["scope"], SCOPE)
            self.assertEqual(n["expires_in"], 3600)
            self.assertNotIn(n["refresh_token"], seen_rt)
            self.assertNotIn(n["access_token"], seen_at)
            seen_rt.add(n["refresh_token"])
            seen_at.add(n["access_token"])
            old = self.info(current["refresh_token"])
            self.assertFalse(old["active"], "the presented refresh token is retired: %s" % old)
            self.assertIsNotNone(old["retired_at"])
            new = self.assertActive(n["refresh_token"])
            self.assertEqual(new["grant"], old["grant"])
            self.assertEqual(new["generation"], old["generation"] + 1)
            self.assertEqual(new["exp"] - new["iat"], 30 * 86400)
            ai = self.assertActive(n["access_token"])
            self.assertEqual(ai["scope"], SCOPE)
            current = n

    def test_scope_narrowing_only_narrows_the_access_token(self):
        t, _ = self.tokens()
        r = self.refresh(t["refresh_token"], scope="read:assets")
        self.assertEqual(r.status, 200, r)
        n = r.json()
        self.assertEqual(n["scope"], "read:assets")
        self.assertEqual(self.info(n["access_token"])["scope"], "read:assets")
        # the next refresh without scope: the grant's full scope again
        r = self.refresh(n["refresh_token"])
        self.assertEqual(r.status, 200, r)
        n2 = r.json()
        self.assertEqual(n2["scope"], SCOPE)
        self.assertEqual(self.info(n2["access_token"])["scope"], SCOPE)
        # wider than the grant: invalid_scope, and the refresh token is not consumed
        r = self.refresh(n2["refresh_token"], scope="read:assets read:albums")
        self.assertOAuthError(r, 400, "invalid_scope")
        r = self.refresh(n2["refresh_token"], scope="write:nothing")
        self.assertOAuthError(r, 400, "invalid_scope")
        self.assertActive(n2["refresh_token"])
        r = self.refresh(n2["refresh_token"], scope="write:assets", json_body=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["scope"], "write:assets")

    def test_refresh_keeps_the_resource(self):
        t, _ = self.tokens()
        r = self.refresh(t["refresh_token"])
        self.assertEqual(self.info(r.json()["access_token"])["aud"], self.server.issuer + "/mcp")
        r2 = post_form(self.server.url("/oauth/token"), {
            "grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
            "resource": "https://elsewhere.example/mcp"},
            auth=(self.conf["client_id"], self.conf["client_secret"]))
        self.assertOAuthError(r2, 400, "invalid_target")

    def test_refresh_by_another_client(self):
        t, _ = self.tokens()
        r = self.refresh(t["refresh_token"], client=self.other)
        self.assertOAuthError(r, 400, "invalid_grant")
        r = self.refresh(t["refresh_token"], client=self.pub)
        self.assertOAuthError(r, 400, "invalid_grant")
        # a stranger cannot end someone else's grant (no denial of service)
        self.assertPairAlive(t, "after another client presented the refresh token")
        self.assertEqual(self.refresh(t["refresh_token"]).status, 200)

    def test_grace_window_returns_the_same_pair(self):
        t, _ = self.tokens()
        r1 = self.refresh(t["refresh_token"])
        self.assertEqual(r1.status, 200, r1)
        p1 = r1.json()
        time.sleep(1.1)
        # the just-retired token again, within refresh_grace (10 s), successor unused
        for attempt in range(2):
            r = self.refresh(t["refresh_token"])
            self.assertEqual(r.status, 200, "grace replay %d: %r" % (attempt, r))
            g = r.json()
            self.assertEqual(g["access_token"], p1["access_token"])
            self.assertEqual(g["refresh_token"], p1["refresh_token"])
            self.assertEqual(g["scope"], p1["scope"])
            self.assertEqual(g["token_type"], "Bearer")
            self.assertLessEqual(g["expires_in"], p1["expires_in"])
            self.assertLess(g["expires_in"], 3600, "expires_in is the time remaining")
            self.assertGreater(g["expires_in"], 3500)
        self.assertPairAlive(p1, "the successor pair after grace replays")
        # another client presenting the retired token gets nothing
        self.assertOAuthError(self.refresh(t["refresh_token"], client=self.other), 400,
                              "invalid_grant")
        self.assertPairAlive(p1, "after another client presented the retired token")
        # the successor is used: presenting the old one now is reuse -> the family dies
        r2 = self.refresh(p1["refresh_token"])
        self.assertEqual(r2.status, 200, r2)
        p2 = r2.json()
        r = self.refresh(t["refresh_token"])
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertPairDead(p2, "after reuse of an older refresh token")
        self.assertActive(p1["access_token"], False, "an earlier access token of the family")
        self.assertActive(t["access_token"], False, "the first access token of the family")
        self.assertOAuthError(self.refresh(p2["refresh_token"]), 400, "invalid_grant")
        self.assertTrue(self.server.wait_stderr("refresh_token_reuse"))

    def test_concurrent_refreshes_do_not_log_the_user_out(self):
        # Two (here four) processes refreshing with the same token at once (SPEC §3): each
        # gets the same successor pair, and the grant stays alive.
        t, _ = self.tokens()
        barrier = threading.Barrier(4)
        results = [None] * 4

        def go(i):
            barrier.wait()
            results[i] = self.refresh(t["refresh_token"])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        self.assertEqual([r.status for r in results], [200] * 4, results)
        pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in results}
        self.assertEqual(len(pairs), 1, "different pairs for one refresh token: %s" % pairs)
        at, rt = pairs.pop()
        self.assertPairAlive({"access_token": at, "refresh_token": rt}, "the shared successor")
        self.assertEqual(self.refresh(rt).status, 200)

    def test_grace_replay_of_a_narrowed_refresh(self):
        t, _ = self.tokens()
        r1 = self.refresh(t["refresh_token"], scope="read:assets")
        p1 = r1.json()
        r = self.refresh(t["refresh_token"], scope="read:assets")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["access_token"], p1["access_token"])
        self.assertEqual(r.json()["scope"], "read:assets")


class GraceWindowExpiryTest(LifecycleMixin, WattleTestCase):

    def test_old_token_after_the_window_revokes_the_family(self):
        self.server = self.start_server({"refresh_grace": 1, "rate_limit": {"token": 0}})
        self.dd = self.data_dir
        add_user(self.dd, "alice", PASSWORD)
        self.conf = add_client(self.dd, "App", [REDIRECT])
        t, _ = self.tokens()
        r = self.refresh(t["refresh_token"])
        self.assertEqual(r.status, 200, r)
        p1 = r.json()
        time.sleep(2.5)
        r = self.refresh(t["refresh_token"])
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertPairDead(p1, "after the retired token came back past the grace window")
        self.assertActive(t["access_token"], False)


class ExpiryTest(LifecycleMixin, WattleTestCase):
    """Short lifetimes from the config (SPEC §1): codes, access and refresh tokens expire."""

    def test_lifetimes(self):
        self.server = self.start_server({"code_ttl": 1, "access_token_ttl": 2,
                                         "refresh_token_ttl": 4, "refresh_grace": 0,
                                         "rate_limit": {"token": 0}})
        self.dd = self.data_dir
        add_user(self.dd, "alice", PASSWORD)
        self.conf = add_client(self.dd, "App", [REDIRECT])
        stale = obtain_code(self.server, self.conf["client_id"], REDIRECT, "alice", PASSWORD)
        t, _ = self.tokens()
        self.assertEqual(t["expires_in"], 2)
        time.sleep(2.5)
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        stale["code"], stale["verifier"], REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")
        self.assertActive(t["access_token"], False, "an access token past access_token_ttl")
        r = self.refresh(t["refresh_token"])  # the refresh token still lives
        self.assertEqual(r.status, 200, r)
        n = r.json()
        self.assertEqual(n["expires_in"], 2)
        i = self.info(n["refresh_token"])
        self.assertEqual(i["exp"] - i["iat"], 4)
        time.sleep(4.5)
        self.assertOAuthError(self.refresh(n["refresh_token"]), 400, "invalid_grant")


class RevocationTest(LifecycleCase):

    def test_revoking_the_access_token_ends_the_grant(self):
        t, _ = self.tokens()
        r = revoke_request(self.server, self.conf["client_id"], self.conf["client_secret"],
                           t["access_token"], hint="access_token")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        self.assertPairDead(t, "after revoking the access token")
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        # revoking it again: still 200
        r = revoke_request(self.server, self.conf["client_id"], self.conf["client_secret"],
                           t["access_token"])
        self.assertEqual(r.status, 200, r)

    def test_revoking_the_refresh_token_ends_the_grant(self):
        t, _ = self.tokens()
        r = revoke_request(self.server, self.conf["client_id"], self.conf["client_secret"],
                           t["refresh_token"])
        self.assertEqual(r.status, 200, r)
        self.assertPairDead(t, "after revoking the refresh token")

    def test_revoke_with_json_body_and_public_client(self):
        t, _ = self.tokens(self.pub)
        r = revoke_request(self.server, self.pub["client_id"], None, t["refresh_token"],
                           json_body=True)
        self.assertEqual(r.status, 200, r)
        self.assertPairDead(t, "after a JSON revocation by the public client")
        t, _ = self.tokens()
        r = post_json(self.server.url("/revoke"), {"token": t["access_token"]},
                      auth=(self.conf["client_id"], self.conf["client_secret"]))
        self.assertEqual(r.status, 200, r)
        self.assertPairDead(t, "after a JSON revocation through /revoke")

    def test_revoking_another_clients_token_does_nothing(self):
        t, _ = self.tokens()
        for token in (t["access_token"], t["refresh_token"]):
            r = revoke_request(self.server, self.other["client_id"],
                               self.other["client_secret"], token)
            self.assertEqual(r.status, 200, r)
            r = revoke_request(self.server, self.pub["client_id"], None, token)
            self.assertEqual(r.status, 200, r)
        self.assertPairAlive(t, "after other clients tried to revoke it")

    def test_unknown_tokens(self):
        for token in ["oat_" + "A" * 43, "ort_" + "B" * 43, "nonsense", "oac_" + "C" * 43]:
            r = revoke_request(self.server, self.conf["client_id"],
                               self.conf["client_secret"], token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.content_type, "application/json")


class ClientCredentialsTest(LifecycleCase):

    @classmethod
    def setUpStore(cls):
        super().setUpStore()
        cls.machine = add_client(cls.dd, "Machine", grant_types=["client_credentials"])
        cls.both = add_client(cls.dd, "Both", [REDIRECT],
                              grant_types=["authorization_code", "refresh_token",
                                           "client_credentials"], scope="read:assets read:albums")

    def cc(self, client, **fields):
        f = {"grant_type": "client_credentials"}
        f.update(fields)
        auth = (client["client_id"], client["client_secret"]) if "client_secret" in client \
            else None
        if auth is None:
            f["client_id"] = client["client_id"]
        return post_form(self.server.url("/oauth/token"), f, auth=auth)

    def test_token_without_refresh(self):
        r = self.cc(self.machine)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")
        self.assertEqual(r.headers.get("Pragma"), "no-cache")
        t = r.json()
        self.assertEqual(set(t), {"access_token", "token_type", "expires_in", "scope"})
        self.assertRegex(t["access_token"], r"^oat_[A-Za-z0-9_-]{43}$")
        self.assertEqual(t["token_type"], "Bearer")
        self.assertEqual(t["expires_in"], 3600)
        self.assertEqual(t["scope"], "read:assets")
        i = self.assertActive(t["access_token"])
        self.assertEqual(i["client_id"], self.machine["client_id"])
        self.assertEqual(i["sub"], self.machine["client_id"])
        self.assertNotIn("username", i)
        self.assertEqual(i["aud"], self.server.issuer + "/mcp")
        # revocable like any other
        r = revoke_request(self.server, self.machine["client_id"], self.machine["client_secret"],
                           t["access_token"])
        self.assertEqual(r.status, 200)
        self.assertActive(t["access_token"], False)

    def test_scope_and_resource(self):
        r = self.cc(self.machine, scope="write:albums read:people")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["scope"], "write:albums read:people")
        self.assertOAuthError(self.cc(self.machine, scope="read:nothing"), 400, "invalid_scope")
        self.assertOAuthError(self.cc(self.both, scope="write:assets"), 400, "invalid_scope")
        r = self.cc(self.both, scope="read:albums")
        self.assertEqual(r.status, 200, r)
        for res in [self.server.issuer + "/mcp", self.server.issuer + "/mcp/"]:
            r = self.cc(self.machine, resource=res)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.info(r.json()["access_token"])["aud"],
                             self.server.issuer + "/mcp")
        self.assertOAuthError(self.cc(self.machine, resource="https://other.example/api"), 400,
                              "invalid_target")
        r = post_form(self.server.url("/oauth/token"),
                      [("grant_type", "client_credentials"),
                       ("resource", self.server.issuer + "/mcp"),
                       ("resource", self.server.issuer + "/mcp")],
                      auth=(self.machine["client_id"], self.machine["client_secret"]))
        self.assertOAuthError(r, 400, "invalid_target")

    def test_secret_in_body_and_json(self):
        r = post_json(self.server.url("/oauth/token"), {
            "grant_type": "client_credentials", "client_id": self.machine["client_id"],
            "client_secret": self.machine["client_secret"]})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("refresh_token", r.json())

    def test_refused_clients(self):
        # a public client: registration refuses the grant; using it is refused
        rc, out, err = cli(self.dd, "client", "add", "--name", "PubCC", "--public",
                           "--grant-type", "client_credentials")
        self.assertEqual(rc, 1, "client add --public --grant-type client_credentials: %s %s"
                         % (out, err))
        r = self.cc(self.pub)
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.json()["error"], ("unauthorized_client", "invalid_client"))
        # a confidential client without the grant
        self.assertOAuthError(self.cc(self.conf), 400, "unauthorized_client")
        # the machine client cannot use the code flow
        r = Browser(self.server).authorize(authorize_params(self.machine["client_id"], None,
                                                            pkce_pair()[1], "read:assets"))
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.headers.get("Location"))
        # nor refresh
        r = post_form(self.server.url("/oauth/token"), {
            "grant_type": "refresh_token", "refresh_token": "ort_" + "A" * 43},
            auth=(self.machine["client_id"], self.machine["client_secret"]))
        self.assertOAuthError(r, 400, "unauthorized_client")
        # wrong secret
        r = post_form(self.server.url("/oauth/token"), {"grant_type": "client_credentials"},
                      auth=(self.machine["client_id"], "ocs_" + "z" * 43))
        self.assertOAuthError(r, 401, "invalid_client")


class CliWhileServingTest(LifecycleMixin, WattleTestCase):
    """Admin commands against the data directory of a running server apply from the next
    request (SPEC §1)."""

    def setUp(self):
        super().setUp()
        self.server = self.start_server({"rate_limit": {"token": 0, "revoke": 0}})
        self.dd = self.data_dir
        add_user(self.dd, "alice", PASSWORD)
        add_user(self.dd, "bob", "bob's password")
        self.conf = add_client(self.dd, "App", [REDIRECT])
        self.other = add_client(self.dd, "Other", [REDIRECT])

    def session_logs_in(self, browser, client=None):
        """True when the browser's session cookie still skips the login fields."""
        c = client or self.conf
        r = browser.authorize(authorize_params(c["client_id"], REDIRECT, pkce_pair()[1],
                                               "read:albums", "s"))
        self.assertEqual(r.status, 200, r)
        names = {i.get("name") for i in Browser.consent_form(r)["inputs"]}
        return "password" not in names

    def test_token_revoke_from_stdin(self):
        t, _ = self.tokens()
        out = cli_json(self.dd, "token", "revoke", "-", stdin=t["access_token"] + "\n")
        self.assertIs(out["revoked"], True)
        self.assertPairDead(t, "after wattle token revoke")
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        out = cli_json(self.dd, "token", "revoke", "-", stdin="oat_" + "A" * 43 + "\n")
        self.assertIs(out["revoked"], False)

    def test_grant_list_and_revoke(self):
        b = Browser(self.server)
        t, _ = self.tokens(browser=b)
        t2, _ = self.tokens(browser=b)  # the stored-grant shortcut, the same consent
        other, _ = self.tokens(self.other, browser=b)
        grants = cli_json(self.dd, "grant", "list", "--user", "alice")
        mine = [g for g in grants if g["client_id"] == self.conf["client_id"]]
        self.assertEqual(len(mine), 1, grants)
        self.assertEqual(mine[0]["username"], "alice")
        self.assertEqual(set(mine[0]["scope"].split()), set(SCOPE.split()))
        self.assertEqual(cli_json(self.dd, "grant", "list", "--client",
                                  self.other["client_id"])[0]["client_id"],
                         self.other["client_id"])
        out = cli_json(self.dd, "grant", "revoke", mine[0]["id"])
        self.assertIs(out["revoked"], True)
        self.assertPairDead(t, "after grant revoke")
        self.assertPairDead(t2, "after grant revoke (second grant of the same consent)")
        self.assertPairAlive(other, "another client's grant")
        self.assertEqual([g for g in cli_json(self.dd, "grant", "list", "--user", "alice")
                          if g["client_id"] == self.conf["client_id"]], [])
        # the consent is forgotten: the page again (still logged in)
        r = b.authorize(authorize_params(self.conf["client_id"], REDIRECT, pkce_pair()[1],
                                         SCOPE, "s"))
        self.assertEqual(r.status, 200, r)
        rc, out, err = cli(self.dd, "grant", "revoke", mine[0]["id"])
        self.assertEqual(rc, 1, out + err)

    def test_user_passwd_ends_tokens_and_sessions(self):
        b = Browser(self.server)
        t, _ = self.tokens(browser=b)
        bob_t, _ = self.tokens(username="bob", password="bob's password")
        self.assertTrue(self.session_logs_in(b))
        cli_json(self.dd, "user", "passwd", "alice", "--password-stdin",
                 stdin="a new password 2\n")
        self.assertPairDead(t, "after user passwd")
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        self.assertFalse(self.session_logs_in(b), "the old session still logs in")
        self.assertPairAlive(bob_t, "another user's tokens")
        self.assertEqual(cli_json(self.dd, "grant", "list", "--user", "alice"), [],
                         "alice's remembered consents after user passwd")
        # the old password no longer works, the new one does
        page = b.authorize(authorize_params(self.conf["client_id"], REDIRECT, pkce_pair()[1],
                                            "read:assets", "s"))
        r = b.submit(page, "allow", username="alice", password=PASSWORD)
        self.assertEqual(r.status, 200, r)
        t3, _ = self.tokens(password="a new password 2")
        self.assertPairAlive(t3, "tokens after the new password")

    def test_user_remove_ends_tokens_and_sessions(self):
        b = Browser(self.server)
        t, got = self.tokens(browser=b)
        fresh = obtain_code(self.server, self.conf["client_id"], REDIRECT, "alice", PASSWORD,
                            browser=b)  # a code not redeemed yet
        self.assertTrue(self.session_logs_in(b))
        cli_json(self.dd, "user", "remove", "alice")
        self.assertPairDead(t, "after user remove")
        self.assertOAuthError(self.refresh(t["refresh_token"]), 400, "invalid_grant")
        self.assertFalse(self.session_logs_in(b), "the removed user's session still logs in")
        self.assertEqual([g for g in cli_json(self.dd, "grant", "list")
                          if g.get("username") == "alice"], [])
        r = redeem_code(self.server, self.conf["client_id"], self.conf["client_secret"],
                        fresh["code"], fresh["verifier"], REDIRECT)
        self.assertOAuthError(r, 400, "invalid_grant")

    def test_client_rotate_secret(self):
        t, _ = self.tokens()
        out = cli_json(self.dd, "client", "rotate-secret", self.conf["client_id"])
        new_secret = out["client_secret"]
        self.assertRegex(new_secret, r"^ocs_[A-Za-z0-9_-]{43}$")
        self.assertNotEqual(new_secret, self.conf["client_secret"])
        r = self.refresh(t["refresh_token"])  # old secret
        self.assertOAuthError(r, 401, "invalid_client")
        self.assertPairAlive(t, "after rotate-secret")
        r = refresh_request(self.server, self.conf["client_id"], new_secret, t["refresh_token"])
        self.assertEqual(r.status, 200, r)
        r = revoke_request(self.server, self.conf["client_id"], self.conf["client_secret"],
                           r.json()["access_token"])
        self.assertOAuthError(r, 401, "invalid_client")

    def test_client_remove(self):
        t, _ = self.tokens()
        other, _ = self.tokens(self.other)
        cli_json(self.dd, "client", "remove", self.conf["client_id"])
        self.assertPairDead(t, "after client remove")
        r = self.refresh(t["refresh_token"])
        self.assertOAuthError(r, 401, "invalid_client")
        self.assertPairAlive(other, "another client's tokens")
        grants = cli_json(self.dd, "grant", "list")
        self.assertEqual([g for g in grants if g["client_id"] == self.conf["client_id"]], [])
        self.assertEqual([g["client_id"] for g in grants], [self.other["client_id"]])
        r = Browser(self.server).authorize(authorize_params(self.conf["client_id"], REDIRECT,
                                                            pkce_pair()[1], "read:assets"))
        self.assertEqual(r.status, 400, r)
        self.assertIsNone(r.headers.get("Location"))


class RateLimitTest(LifecycleMixin, WattleTestCase):

    def test_fourth_token_request_in_a_second_gets_429(self):
        s = self.start_server({"rate_limit": {"token": 3}})
        c = add_client(self.data_dir, "App", [REDIRECT])
        fields = {"grant_type": "refresh_token", "refresh_token": "ort_" + "A" * 43}
        for attempt in range(5):
            # start just after a second boundary so that the four requests share one second
            while time.time() % 1 > 0.05:
                time.sleep(0.005)
            conn = s.connection()
            t0 = time.time()
            statuses = []
            try:
                rs = [post_form(s.url("/oauth/token"), fields, auth=(c["client_id"],
                                                                     c["client_secret"]),
                                conn=conn) for _ in range(4)]
            finally:
                conn.close()
            if int(t0) != int(time.time()):
                continue  # crossed a second: try again
            statuses = [r.status for r in rs]
            self.assertEqual(statuses[:3], [400, 400, 400], rs)
            r = rs[3]
            self.assertEqual(r.status, 429, rs)
            ra = r.headers.get("Retry-After")
            self.assertIsNotNone(ra, r.headers)
            self.assertRegex(ra, r"^[1-9][0-9]*$")
            self.assertEqual(r.content_type, "application/json")
            self.assertIn("error", r.json())
            self.assertRegex(r.json().get("error_description", ""), DESC_RE)
            # the next second is allowed again
            time.sleep(1.1)
            r = post_form(s.url("/oauth/token"), fields, auth=(c["client_id"],
                                                               c["client_secret"]))
            self.assertEqual(r.status, 400, r)
            return
        self.skipTest("could not send four requests within one second (slow machine)")


class CrashTest(LifecycleMixin, WattleTestCase):
    """kill -9 in the middle of a stream of refreshes: after a restart on the same data
    directory, every token the client received is known (durable), no two of its refresh
    tokens are live (only the last one received may be), and every access token is active
    exactly when its grant is; the client carries on with the last token it has."""

    ROUNDS = 4
    PER_ROUND = 60  # refreshes at most per round (each received token costs a CLI call)

    def check_after_restart(self, rnd_i, received_rt, received_at, first):
        live = []
        for i in range(first, len(received_rt)):
            info = self.info(received_rt[i])
            self.assertTrue(info["known"], "round %d: refresh token #%d it received was lost "
                                           "by the kill: %s" % (rnd_i, i, info))
            if info["active"]:
                live.append(i)
        self.assertLessEqual(len(live), 1, "round %d: several live refresh tokens of one grant: "
                                           "#%s of %d" % (rnd_i, live, len(received_rt)))
        if live:
            self.assertEqual(live, [len(received_rt) - 1], "round %d: a live refresh token "
                                                           "that is not the last one received"
                             % rnd_i)
        for i in range(first, len(received_at)):
            info = self.info(received_at[i])
            self.assertTrue(info["known"], "round %d: access token #%d lost: %s"
                            % (rnd_i, i, info))
            self.assertEqual(info["active"], info["grant_alive"],
                             "round %d: access token #%d: %s" % (rnd_i, i, info))
            self.assertTrue(info["active"], "round %d: access token #%d of a live grant is "
                                            "dead: %s" % (rnd_i, i, info))

    def test_kill_9_during_refresh_stream(self):
        config = {"rate_limit": {"token": 0, "revoke": 0}, "refresh_grace": 120}
        self.server = self.start_server(config)
        self.dd = self.data_dir
        add_user(self.dd, "alice", PASSWORD)
        self.conf = add_client(self.dd, "App", [REDIRECT])
        t, _ = self.tokens()
        received_rt = [t["refresh_token"]]
        received_at = [t["access_token"]]
        # how long one refresh takes here, to aim the kill into the middle of the stream
        t0 = time.monotonic()
        for _ in range(5):
            r = self.refresh(received_rt[-1])
            self.assertEqual(r.status, 200, r)
            received_rt.append(r.json()["refresh_token"])
            received_at.append(r.json()["access_token"])
        per_refresh = (time.monotonic() - t0) / 5
        rnd = random.Random(20261122)
        checked = 0
        for rnd_i in range(self.ROUNDS):
            errors = []
            first = threading.Event()

            def stream():
                cur = received_rt[-1]
                for n in range(self.PER_ROUND):
                    if n == 1:
                        first.set()
                    try:
                        r = refresh_request(self.server, self.conf["client_id"],
                                            self.conf["client_secret"], cur)
                    except Exception:  # the server died mid-request
                        return
                    if r.status != 200:
                        errors.append(r)
                        return
                    doc = r.json()
                    received_at.append(doc["access_token"])
                    received_rt.append(doc["refresh_token"])
                    cur = doc["refresh_token"]

            th = threading.Thread(target=stream, daemon=True)
            before = len(received_rt)
            th.start()
            first.wait(timeout=30 * SLOW)  # the stream is under way (one refresh done)
            time.sleep(per_refresh * self.PER_ROUND * 0.5 * rnd.random())
            self.server.kill()
            th.join(timeout=30 * SLOW)
            self.assertFalse(th.is_alive(), "the refresh stream did not stop")
            self.assertEqual(errors, [], "a refresh failed before the kill")
            self.assertGreater(len(received_rt), before, "no refresh happened before the kill")
            self.server = self.start_server(config)  # the same data directory
            self.check_after_restart(rnd_i, received_rt, received_at, checked)
            checked = len(received_rt) - 1  # the last one is checked again next round
            # the client carries on with the last token it has: either it is live, or the
            # response of its successor was lost and the grace window hands that pair back
            r = self.refresh(received_rt[-1])
            self.assertEqual(r.status, 200, "round %d: the client cannot carry on after the "
                                            "restart: %r" % (rnd_i, r))
            received_at.append(r.json()["access_token"])
            received_rt.append(r.json()["refresh_token"])
        # finally every refresh token ever received: exactly one is live, the last one
        live = [i for i, rt in enumerate(received_rt) if self.info(rt)["active"]]
        self.assertEqual(live, [len(received_rt) - 1], "live refresh tokens at the end")



class ConcurrentCrashTest(WattleTestCase):
    """kill -9 while eight clients ask for client_credentials tokens at once (so requests share
    writer batches: the ops that run straight in the batch's transaction, store.h): after a
    restart every token a client received is active."""

    CLIENTS = 8

    def test_kill_9_during_concurrent_client_credentials(self):
        config = {"rate_limit": {"token": 0, "introspect": 0}}
        self.server = self.start_server(config)
        machine = add_client(self.data_dir, "Machine", grant_types=["client_credentials"])
        auth = (machine["client_id"], machine["client_secret"])
        received, errors, lock = [], [], threading.Lock()
        first = threading.Event()

        def load():
            while True:
                try:
                    r = post_form(self.server.url("/oauth/token"),
                                  {"grant_type": "client_credentials"}, auth=auth)
                except Exception:  # the server died mid-request
                    return
                if r.status != 200:
                    errors.append(r)
                    return
                with lock:
                    received.append(r.json()["access_token"])
                first.set()

        threads = [threading.Thread(target=load, daemon=True) for _ in range(self.CLIENTS)]
        for th in threads:
            th.start()
        first.wait(timeout=30 * SLOW)
        time.sleep(0.2 + 0.3 * random.Random(20261122).random())
        self.server.kill()
        for th in threads:
            th.join(timeout=30 * SLOW)
            self.assertFalse(th.is_alive(), "a client did not stop")
        self.assertEqual(errors, [], "a token request failed before the kill")
        self.assertGreater(len(received), self.CLIENTS, "too few tokens before the kill")
        self.server = self.start_server(config)  # the same data directory
        for i, token in enumerate(received):
            r = post_form(self.server.url("/oauth/introspect"), {"token": token}, auth=auth)
            self.assertEqual(r.status, 200, r)
            self.assertIs(r.json().get("active"), True,
                          "token #%d of %d received before the kill is not active after the "
                          "restart: %s" % (i, len(received), r.json()))


if __name__ == "__main__":
    unittest.main()
