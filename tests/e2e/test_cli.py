"""End-to-end tests of the admin command line (SPEC §1): help, errors, clients, users, gc, and
the CLI working against a data directory a running server uses."""

import json
import os
import re
import unittest

from harness import WattleTestCase, load_catalogue

CLIENT_ID_RE = r"^ocl_[A-Za-z0-9_-]{22}$"
CLIENT_SECRET_RE = r"^ocs_[A-Za-z0-9_-]{43}$"
PASSWORD = "correct horse battery"
SECRETISH = re.compile(r"secret|digest|hash|password", re.I)


def all_keys(doc):
    """Every object key anywhere in a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from all_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from all_keys(v)


class CliTestCase(WattleTestCase):

    @classmethod
    def setUpClass(cls):
        cls.catalogue = load_catalogue()

    def init_store(self):
        """Creates the data directory (read-only commands do not create it)."""
        self.cli_json("gc")

    def add_client(self, *args):
        return self.cli_json("client", "add", *args)

    def assertNoSecretFields(self, doc):
        bad = [k for k in all_keys(doc) if SECRETISH.search(k)]
        self.assertEqual(bad, [], "secret-looking fields in %s" % json.dumps(doc))

    def store_bytes(self):
        """The contents of every file of the data directory."""
        out = b""
        for name in sorted(os.listdir(self.data_dir)):
            with open(os.path.join(self.data_dir, name), "rb") as f:
                out += f.read()
        return out


class HelpAndErrorsTest(CliTestCase):

    def test_help(self):
        for args, first in [(["--help"], "usage: wattle"),
                            (["serve", "--help"], "usage: wattle serve"),
                            (["client", "add", "--help"], "usage: wattle client add"),
                            (["user", "add", "--help"], "usage: wattle user add")]:
            with self.subTest(args=args):
                rc, out, err = self.cli(*args)
                self.assertEqual(rc, 0, err)
                self.assertTrue(out.startswith(first), out)
                self.assertEqual(err, "")
        rc, out, err = self.cli("client", "add", "--help")
        for flag in ["--name", "--redirect-uri", "--public", "--scope", "--grant-type",
                     "--token-auth"]:
            self.assertIn(flag, out)
        rc, out, err = self.cli("user", "add", "--help")
        self.assertIn("--password-stdin", out)

    def test_help_does_not_touch_the_store(self):
        self.cli("client", "list", "--help")
        self.assertFalse(os.path.exists(self.data_dir))

    def test_unknown_command(self):
        rc, out, err = self.cli("frobnicate")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "frobnicate")

    def test_unknown_subcommand(self):
        rc, out, err = self.cli("client", "frobnicate")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "frobnicate")

    def test_unknown_option(self):
        for args in [["client", "list", "--bogus"], ["serve", "--bogus"],
                     ["user", "add", "bob", "--password-stdin", "--public"],
                     ["gc", "--bogus"]]:
            with self.subTest(args=args):
                rc, out, err = self.cli(*args)
                self.assertEqual(rc, 1, err)
                self.assertEqual(out, "")
                self.assertOneLineError(err, args[-1])

    def test_missing_argument_and_value(self):
        for args in [["client", "show"], ["client", "add", "--name"], ["user", "remove"]]:
            with self.subTest(args=args):
                rc, out, err = self.cli(*args)
                self.assertEqual(rc, 1, err)
                self.assertOneLineError(err)

    def test_bad_config_for_admin_commands(self):
        rc, out, err = self.cli("client", "list", config={"not_a_key": 1})
        self.assertEqual(rc, 1, err)
        self.assertIn("not_a_key", err)


class ClientTest(CliTestCase):

    def test_add_confidential(self):
        c = self.add_client("--name", "Photo app", "--redirect-uri", "https://app.example/cb",
                            "--redirect-uri", "https://app.example/cb2")
        self.assertRegex(c["client_id"], CLIENT_ID_RE)
        self.assertRegex(c["client_secret"], CLIENT_SECRET_RE)
        self.assertEqual(c["redirect_uris"], ["https://app.example/cb", "https://app.example/cb2"])
        self.assertEqual(c["grant_types"], ["authorization_code", "refresh_token"])
        self.assertEqual(c["token_endpoint_auth_method"], "client_secret_basic")
        scopes = c["scope"].split(" ")
        self.assertCountEqual(scopes, self.catalogue)
        self.assertEqual(c.get("client_name"), "Photo app")

    def test_add_public(self):
        c = self.add_client("--name", "CLI tool", "--public", "--redirect-uri",
                            "http://127.0.0.1:8080/callback")
        self.assertRegex(c["client_id"], CLIENT_ID_RE)
        self.assertEqual(c["token_endpoint_auth_method"], "none")
        self.assertNotIn("client_secret", c)
        self.assertNotIn("client_secret_expires_at", c)
        self.assertNoSecretFields(c)

    def test_ids_and_secrets_are_unique(self):
        a = self.add_client("--name", "A", "--redirect-uri", "https://a.example/cb")
        b = self.add_client("--name", "B", "--redirect-uri", "https://b.example/cb")
        self.assertNotEqual(a["client_id"], b["client_id"])
        self.assertNotEqual(a["client_secret"], b["client_secret"])

    def test_client_credentials(self):
        c = self.add_client("--name", "Robot", "--grant-type", "client_credentials")
        self.assertEqual(c["grant_types"], ["client_credentials"])
        self.assertRegex(c["client_secret"], CLIENT_SECRET_RE)
        rc, out, err = self.cli("client", "add", "--name", "Robot", "--public",
                                "--grant-type", "client_credentials")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err)
        self.assertEqual(out, "")

    def test_authorization_code_needs_a_redirect_uri(self):
        rc, out, err = self.cli("client", "add", "--name", "No redirect")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err)
        self.assertEqual(out, "")

    def test_name_is_required(self):
        rc, out, err = self.cli("client", "add", "--redirect-uri", "https://a.example/cb")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "--name")

    def test_refused_redirect_uris(self):
        self.init_store()
        for uri in ["http://example.com/cb", "javascript:alert(1)", "data:text/html,hi",
                    "vbscript:msgbox", "file:///etc/passwd", "https://app.example/cb#frag",
                    "not a uri"]:
            with self.subTest(uri=uri):
                rc, out, err = self.cli("client", "add", "--name", "Bad", "--redirect-uri", uri)
                self.assertEqual(rc, 1, err)
                self.assertEqual(out, "")
                self.assertOneLineError(err)
        self.assertEqual(self.cli_json("client", "list"), [], "nothing was stored")

    def test_accepted_redirect_uris(self):
        for uri in ["cursor://cb", "com.example.app:/cb", "http://127.0.0.1/cb",
                    "http://localhost:8080/callback", "http://[::1]:3000/cb",
                    "https://app.example/cb?x=1"]:
            with self.subTest(uri=uri):
                c = self.add_client("--name", "Good", "--redirect-uri", uri)
                self.assertEqual(c["redirect_uris"], [uri])

    def test_scope(self):
        c = self.add_client("--name", "Narrow", "--redirect-uri", "https://a.example/cb",
                            "--scope", "read:assets read:albums")
        self.assertCountEqual(c["scope"].split(" "), ["read:assets", "read:albums"])
        rc, out, err = self.cli("client", "add", "--name", "Bad scope", "--redirect-uri",
                                "https://a.example/cb", "--scope", "read:assets nope")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "nope")
        self.assertEqual(out, "")

    def test_token_auth(self):
        c = self.add_client("--name", "Post", "--redirect-uri", "https://a.example/cb",
                            "--token-auth", "client_secret_post")
        self.assertEqual(c["token_endpoint_auth_method"], "client_secret_post")
        self.assertRegex(c["client_secret"], CLIENT_SECRET_RE)
        rc, out, err = self.cli("client", "add", "--name", "X", "--redirect-uri",
                                "https://a.example/cb", "--token-auth", "magic")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err)

    def test_list_show_rotate_remove(self):
        c = self.add_client("--name", "Lifecycle", "--redirect-uri", "https://a.example/cb")
        cid, secret = c["client_id"], c["client_secret"]
        pub = self.add_client("--name", "Public", "--public", "--redirect-uri", "cursor://cb")

        listed = self.cli_json("client", "list")
        self.assertIsInstance(listed, list)
        self.assertCountEqual([x["client_id"] for x in listed], [cid, pub["client_id"]])
        self.assertNoSecretFields(listed)
        self.assertNotIn(secret, json.dumps(listed))

        shown = self.cli_json("client", "show", cid)
        self.assertEqual(shown["client_id"], cid)
        self.assertEqual(shown["redirect_uris"], ["https://a.example/cb"])
        self.assertEqual(shown["token_endpoint_auth_method"], "client_secret_basic")
        self.assertNoSecretFields(shown)

        rc, out, err = self.cli("client", "show", "ocl_missing")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "ocl_missing")

        rotated = self.cli_json("client", "rotate-secret", cid)
        self.assertEqual(rotated["client_id"], cid)
        self.assertRegex(rotated["client_secret"], CLIENT_SECRET_RE)
        self.assertNotEqual(rotated["client_secret"], secret)
        again = self.cli_json("client", "rotate-secret", cid)
        self.assertNotIn(again["client_secret"], (secret, rotated["client_secret"]))

        rc, out, err = self.cli("client", "rotate-secret", pub["client_id"])
        self.assertEqual(rc, 1, "a public client has no secret to rotate: " + out + err)
        rc, out, err = self.cli("client", "rotate-secret", "ocl_missing")
        self.assertEqual(rc, 1, err)

        removed = self.cli_json("client", "remove", cid)
        self.assertIsInstance(removed, dict)
        rc, out, err = self.cli("client", "show", cid)
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, cid)
        rc, out, err = self.cli("client", "remove", cid)
        self.assertEqual(rc, 1, err)
        self.assertEqual([x["client_id"] for x in self.cli_json("client", "list")],
                         [pub["client_id"]])

    def test_secrets_are_not_stored_or_logged(self):
        c = self.add_client("--name", "Stored", "--redirect-uri", "https://a.example/cb")
        rotated = self.cli_json("client", "rotate-secret", c["client_id"])
        data = self.store_bytes()
        self.assertIn(c["client_id"].encode(), data, "sanity: the store holds the client")
        for s in (c["client_secret"], rotated["client_secret"]):
            self.assertNotIn(s.encode(), data)
            self.assertNotIn(s[4:].encode(), data)  # nor the part after the prefix


class UserTest(CliTestCase):

    def add_user(self, name, *args, password=PASSWORD):
        return self.cli("user", "add", name, *args, "--password-stdin", stdin=password + "\n")

    def test_add(self):
        rc, out, err = self.add_user("alice", "--display-name", "Alice Liddell",
                                     "--email", "alice@example.com")
        self.assertEqual(rc, 0, err)
        u = json.loads(out)
        self.assertEqual(u["username"], "alice")
        self.assertTrue(u.get("sub"))
        self.assertNoSecretFields(u)
        self.assertNotIn(PASSWORD, out + err)
        self.assertEqual(u.get("display_name"), "Alice Liddell")
        self.assertEqual(u.get("email"), "alice@example.com")

    def test_duplicate(self):
        self.assertEqual(self.add_user("alice")[0], 0)
        rc, out, err = self.add_user("alice", password="another good password")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "alice")

    def test_password_only_from_stdin(self):
        self.init_store()
        rc, out, err = self.cli("user", "add", "bob", stdin=PASSWORD + "\n")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "--password-stdin")
        rc, out, err = self.cli("user", "add", "bob", "--password", PASSWORD)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.cli_json("user", "list"), [])

    def test_short_and_missing_password(self):
        self.init_store()
        rc, out, err = self.add_user("bob", password="short")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err)
        rc, out, err = self.cli("user", "add", "bob", "--password-stdin", stdin="")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err)
        self.assertEqual(self.cli_json("user", "list"), [])

    def test_bad_username(self):
        for name in ["", "has space", "semi;colon", "x" * 300]:
            with self.subTest(name=name[:20]):
                rc, out, err = self.add_user(name)
                self.assertEqual(rc, 1, err)
                self.assertOneLineError(err)

    def test_list_passwd_remove(self):
        self.assertEqual(self.add_user("alice")[0], 0)
        self.assertEqual(self.add_user("bob", password="bobs password ok")[0], 0)
        users = self.cli_json("user", "list")
        self.assertCountEqual([u["username"] for u in users], ["alice", "bob"])
        self.assertNoSecretFields(users)

        rc, out, err = self.cli("user", "passwd", "alice", "--password-stdin",
                                stdin="a brand new password\n")
        self.assertEqual(rc, 0, err)
        json.loads(out)
        self.assertNotIn("a brand new password", out + err)
        rc, out, err = self.cli("user", "passwd", "alice", "--password-stdin", stdin="short\n")
        self.assertEqual(rc, 1, err)
        rc, out, err = self.cli("user", "passwd", "nobody", "--password-stdin",
                                stdin="a brand new password\n")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "nobody")

        self.cli_json("user", "remove", "alice")
        rc, out, err = self.cli("user", "remove", "alice")
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "alice")
        self.assertEqual([u["username"] for u in self.cli_json("user", "list")], ["bob"])

    def test_passwords_are_not_stored(self):
        self.assertEqual(self.add_user("alice")[0], 0)
        rc, out, err = self.cli("user", "passwd", "alice", "--password-stdin",
                                stdin="second secret phrase\n")
        self.assertEqual(rc, 0, err)
        data = self.store_bytes()
        self.assertIn(b"alice", data, "sanity: the store holds the user")
        for pw in (PASSWORD, "second secret phrase"):
            self.assertNotIn(pw.encode(), data)


class GcTest(CliTestCase):

    def test_gc(self):
        doc = self.cli_json("gc")
        self.assertIn("purged", doc)
        self.assertIsInstance(doc["purged"], dict)
        for v in doc["purged"].values():
            self.assertIsInstance(v, int)


class CliWithRunningServerTest(CliTestCase):

    def test_cli_while_serving(self):
        server = self.start_server()
        self.assertEqual(server.get("/healthz").status, 200)
        c = self.add_client("--name", "Live", "--redirect-uri", "https://live.example/cb")
        rc, out, err = self.cli("user", "add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
        self.assertEqual(rc, 0, err)
        listed = self.cli_json("client", "list")
        self.assertIn(c["client_id"], [x["client_id"] for x in listed])
        self.assertEqual([u["username"] for u in self.cli_json("user", "list")], ["carol"])
        self.assertIn("purged", self.cli_json("gc"))
        self.assertEqual(server.get("/healthz").status, 200)
        server.stop()
        log = server.stderr_text()
        self.assertNotIn(c["client_secret"], log)
        self.assertNotIn(PASSWORD, log)


if __name__ == "__main__":
    unittest.main()
