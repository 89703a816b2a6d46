"""Foundation end-to-end tests: start-up, configuration, discovery metadata (RFC 8414, RFC 9728),
routing, CORS, the access log and shutdown (SPEC §1, §2, §6, §7)."""

import os
import re
import socket
import stat
import time
import unittest

from harness import WattleTestCase, free_port, load_catalogue, request, write_config

AS_PATH = "/.well-known/oauth-authorization-server"
PRM_PREFIX = "/.well-known/oauth-protected-resource"
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "MCP-Protocol-Version",
                        "Mcp-Session-Id", "Last-Event-ID"]
EXPOSED_HEADERS = ["WWW-Authenticate", "Retry-After", "Mcp-Session-Id"]


def header_tokens(value):
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


class DiscoveryTest(WattleTestCase):
    """The metadata documents of a server on the embedded defaults."""

    @classmethod
    def setUpClass(cls):
        cls.catalogue = load_catalogue()

    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        self.issuer = self.server.issuer

    def assertJsonCors(self, r):
        self.assertEqual(r.content_type, "application/json", r)
        self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"], r)
        self.assertNotIn("Access-Control-Allow-Credentials", r.headers)
        exposed = header_tokens(r.headers.get("Access-Control-Expose-Headers"))
        for h in EXPOSED_HEADERS:
            self.assertIn(h.lower(), exposed, "Access-Control-Expose-Headers lacks " + h)

    def test_as_metadata(self):
        r = self.server.get(AS_PATH)
        self.assertEqual(r.status, 200, r)
        self.assertJsonCors(r)
        m = r.json()
        iss = self.issuer
        self.assertEqual(m["issuer"], iss)
        endpoints = {
            "authorization_endpoint": "/oauth/authorize",
            "token_endpoint": "/oauth/token",
            "revocation_endpoint": "/oauth/revoke",
            "introspection_endpoint": "/oauth/introspect",
            "registration_endpoint": "/oauth/register",  # registration is enabled by default
            "jwks_uri": "/oauth/jwks",
        }
        for field, path in endpoints.items():
            self.assertEqual(m.get(field), iss + path, field)
        if "userinfo_endpoint" in m:
            self.assertEqual(m["userinfo_endpoint"], iss + "/oauth/userinfo")
        self.assertEqual(m["response_types_supported"], ["code"])
        self.assertEqual(m["response_modes_supported"], ["query"])
        self.assertEqual(m["code_challenge_methods_supported"], ["S256"])
        self.assertCountEqual(m["grant_types_supported"],
                              ["authorization_code", "refresh_token", "client_credentials"])
        all_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
        self.assertCountEqual(m["token_endpoint_auth_methods_supported"], all_methods)
        self.assertCountEqual(m["revocation_endpoint_auth_methods_supported"], all_methods)
        intro = m["introspection_endpoint_auth_methods_supported"]
        self.assertIsInstance(intro, list)
        self.assertIn("client_secret_basic", intro)
        self.assertIn("client_secret_post", intro)
        self.assertNotIn("none", intro, "introspection is for authenticated resource servers")
        algs = m["token_endpoint_auth_signing_alg_values_supported"]
        self.assertIsInstance(algs, list)
        self.assertTrue(algs, "private_key_jwt is supported, so some algorithm must be listed")
        self.assertNotIn("none", algs)
        self.assertCountEqual(m["scopes_supported"], self.catalogue)
        self.assertEqual(len(m["scopes_supported"]), len(set(m["scopes_supported"])))
        self.assertNotIn("offline_access", m["scopes_supported"])
        self.assertIs(m["authorization_response_iss_parameter_supported"], True)
        self.assertIn("client_id_metadata_document_supported", m)
        self.assertIsInstance(m["client_id_metadata_document_supported"], bool)

    def test_as_metadata_over_http10(self):
        r = request("GET", self.server.url(AS_PATH), http_version="1.0")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["issuer"], self.issuer)

    def test_prm_of_default_resource(self):
        r = self.server.get(PRM_PREFIX + "/mcp")
        self.assertEqual(r.status, 200, r)
        self.assertJsonCors(r)
        m = r.json()
        self.assertEqual(m["resource"], self.issuer + "/mcp")
        self.assertEqual(m["authorization_servers"], [self.issuer])
        ss = m["scopes_supported"]
        self.assertIsInstance(ss, list)
        self.assertTrue(ss)
        self.assertLessEqual(set(ss), set(self.catalogue))
        self.assertNotIn("offline_access", ss)
        self.assertEqual(m["bearer_methods_supported"], ["header"])
        self.assertIsInstance(m.get("resource_name"), str)
        self.assertTrue(m["resource_name"])

    def test_other_well_known_paths_are_404(self):
        for path in [PRM_PREFIX,                      # no resource has path "/"
                     PRM_PREFIX + "/",
                     PRM_PREFIX + "/other",
                     PRM_PREFIX + "/mcp/extra",
                     PRM_PREFIX + "mcp",
                     "/.well-known/openid-configuration",
                     "/.well-known/oauth-authorization-server/mcp",
                     "/.well-known/anything",
                     "/.well-known/"]:
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.status, 404, r)

    def test_cors_preflight(self):
        for path in [AS_PATH, PRM_PREFIX + "/mcp"]:
            with self.subTest(path=path):
                r = self.server.request("OPTIONS", path, headers={
                    "Origin": "https://inspector.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization, mcp-protocol-version"})
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.headers.get_all("Access-Control-Allow-Origin"), ["*"])
                self.assertNotIn("Access-Control-Allow-Credentials", r.headers)
                allowed = header_tokens(r.headers.get("Access-Control-Allow-Headers"))
                for h in CORS_REQUEST_HEADERS:
                    self.assertIn(h.lower(), allowed, "preflight does not allow " + h)
                self.assertIn("get", header_tokens(r.headers.get("Access-Control-Allow-Methods")))

    def test_healthz(self):
        r = self.server.get("/healthz")
        self.assertEqual(r.status, 200, r)

    def test_unknown_path_is_404(self):
        for path in ["/no-such-path", "/oauth", "/healthz/extra", "/favicon.ico"]:
            with self.subTest(path=path):
                self.assertEqual(self.server.get(path).status, 404)

    def test_wrong_method_is_405_with_allow(self):
        for method, path in [("POST", "/healthz"), ("DELETE", "/healthz"), ("POST", AS_PATH),
                             ("PUT", AS_PATH), ("POST", PRM_PREFIX + "/mcp")]:
            with self.subTest(method=method, path=path):
                r = self.server.request(method, path, body=b"")
                self.assertEqual(r.status, 405, r)
                allow = r.headers.get_all("Allow")
                self.assertEqual(len(allow), 1, r)
                self.assertIn("get", header_tokens(allow[0]))
                self.assertNotIn(method.lower(), header_tokens(allow[0]))

    def test_issuer_is_the_bound_port(self):
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", self.issuer)
        self.assertTrue(m, "issuer %r is not http://127.0.0.1:PORT" % self.issuer)
        port = int(m.group(1))
        self.assertNotEqual(port, 0)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        r = request("GET", "http://127.0.0.1:%d%s" % (port, AS_PATH))
        self.assertEqual(r.json()["issuer"], self.issuer)

    def test_stdout_is_the_issuer_alone(self):
        self.server.get("/healthz")
        self.server.stop()
        self.assertEqual(self.server.stdout_text(), self.issuer + "\n")


class ConfiguredResourcesTest(WattleTestCase):

    def test_configured_resource_metadata(self):
        self.write_file("api-meta.json", {"resource_name": "Album API",
                                          "scopes_supported": ["read:albums", "write:albums"],
                                          "resource_documentation": "https://docs.example/api"})
        server = self.start_server(config={"resources": [
            {"path": "/api", "scopes_required": ["read:albums"], "metadata": "api-meta.json"},
            {"path": "/files"},
            {"path": "/remote", "resource": "https://api.example.com/v1"},
        ]})
        iss = server.issuer
        r = server.get(PRM_PREFIX + "/api")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.content_type, "application/json")
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), "*")
        m = r.json()
        self.assertEqual(m["resource"], iss + "/api")
        self.assertEqual(m["authorization_servers"], [iss])
        self.assertEqual(m["resource_name"], "Album API")
        self.assertEqual(m["scopes_supported"], ["read:albums", "write:albums"])
        self.assertEqual(m["bearer_methods_supported"], ["header"])
        self.assertEqual(m["resource_documentation"], "https://docs.example/api")

        # no metadata file: a minimal generated document
        m = server.get(PRM_PREFIX + "/files").json()
        self.assertEqual(m["resource"], iss + "/files")
        self.assertEqual(m["authorization_servers"], [iss])
        self.assertEqual(m["bearer_methods_supported"], ["header"])
        self.assertLessEqual(set(m.get("scopes_supported", [])), set(load_catalogue()))
        self.assertNotIn("offline_access", m.get("scopes_supported", []))

        # an API on another origin: its own identifier
        m = server.get(PRM_PREFIX + "/remote").json()
        self.assertEqual(m["resource"], "https://api.example.com/v1")
        self.assertEqual(m["authorization_servers"], [iss])

        # the configured list replaces the default /mcp resource
        self.assertEqual(server.get(PRM_PREFIX + "/mcp").status, 404)
        self.assertEqual(server.get(PRM_PREFIX).status, 404)

    def test_root_resource_metadata(self):
        server = self.start_server(config={"resources": [
            {"path": "/", "resource": "https://api.example.com"}]})
        r = server.get(PRM_PREFIX)
        self.assertEqual(r.status, 200, r)
        m = r.json()
        self.assertEqual(m["resource"], "https://api.example.com")
        self.assertEqual(m["authorization_servers"], [server.issuer])
        self.assertEqual(server.get(PRM_PREFIX + "/mcp").status, 404)
        self.assertEqual(server.get("/healthz").status, 200)
        self.assertEqual(server.get(AS_PATH).status, 200)

    def _bad_metadata(self, content):
        path = self.write_file("bad-meta.json", content)
        rc, out, err = self.run_serve(config={"resources": [
            {"path": "/api", "metadata": "bad-meta.json"}]})
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "", "no issuer may be printed when start-up fails")
        self.assertIn("bad-meta.json", err)
        return err

    def test_metadata_file_must_not_set_resource(self):
        err = self._bad_metadata({"resource": "https://evil.example/api"})
        self.assertIn("resource", err)

    def test_metadata_file_must_not_set_authorization_servers(self):
        err = self._bad_metadata({"authorization_servers": ["https://evil.example"]})
        self.assertIn("authorization_servers", err)

    def test_metadata_file_scopes_must_be_in_catalogue(self):
        err = self._bad_metadata({"scopes_supported": ["read:assets", "launch:missiles"]})
        self.assertIn("scopes_supported", err)

    def test_metadata_file_must_be_json(self):
        self._bad_metadata("{not json")

    def test_metadata_file_missing(self):
        rc, out, err = self.run_serve(config={"resources": [
            {"path": "/api", "metadata": "missing-meta.json"}]})
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(out, "")
        self.assertIn("missing-meta.json", err)


class BodyCapTest(WattleTestCase):

    def test_body_over_max_body_bytes_is_json_413(self):
        server = self.start_server(config={"max_body_bytes": 2048})
        body = b"grant_type=client_credentials&pad=" + b"a" * 4096
        r = server.request("POST", "/oauth/token",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           body=body)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.content_type, "application/json")
        self.assertIn("error", r.json())
        # a body under the cap is not refused for its size
        r = server.request("POST", "/oauth/token",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           body=b"grant_type=client_credentials&pad=" + b"a" * 1000)
        self.assertNotEqual(r.status, 413, r)
        self.assertLess(r.status, 500, r)


class ConfigErrorsTest(WattleTestCase):

    def test_unknown_key(self):
        rc, out, err = self.run_serve(config={"bogus_key": 1})
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "bogus_key")

    def test_unknown_nested_key(self):
        rc, out, err = self.run_serve(config={"rate_limit": {"tokn": 5}})
        self.assertEqual(rc, 1, err)
        self.assertOneLineError(err, "tokn")

    def test_bad_values_name_the_key(self):
        for key, value in [("threads", "many"), ("log_level", "loud"), ("max_body_bytes", -1),
                           ("access_token_ttl", 0), ("listen", 8400), ("resources", [])]:
            with self.subTest(key=key):
                rc, out, err = self.run_serve(config={key: value})
                self.assertEqual(rc, 1, err)
                self.assertEqual(out, "")
                self.assertOneLineError(err, key)

    def test_config_not_json(self):
        path = self.write_file("broken.json", '{"threads": 2,')
        rc, out, err = self.run_serve(config=path)
        self.assertEqual(rc, 1, err)
        self.assertIn("broken.json", err)

    def test_config_file_missing(self):
        rc, out, err = self.run_serve(config=os.path.join(self.tmp, "nope.json"))
        self.assertNotEqual(rc, 0, err)
        self.assertIn("nope.json", err)

    def test_wattle_config_env(self):
        path = write_config(self.tmp, {"unknown_from_env": True}, "env-config.json")
        rc, out, err = self.run_serve(env={"WATTLE_CONFIG": path})
        self.assertEqual(rc, 1, err)
        self.assertIn("unknown_from_env", err)

    def test_issuer_with_path(self):
        rc, out, err = self.run_serve(args=["--issuer", "http://127.0.0.1:8400/auth"])
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, "issuer")
        rc, out, err = self.run_serve(config={"issuer": "http://127.0.0.1:8400/auth"})
        self.assertEqual(rc, 1, err)
        self.assertIn("issuer", err)

    def test_issuer_with_trailing_slash(self):
        rc, out, err = self.run_serve(args=["--issuer", "http://127.0.0.1:8400/"])
        self.assertEqual(rc, 1, err)
        self.assertIn("issuer", err)

    def test_flags_override_the_file(self):
        port = free_port()
        server = self.start_server(config={"issuer": "http://127.0.0.1:1111"},
                                   args=["--issuer", "http://127.0.0.1:2222"],
                                   listen="127.0.0.1:%d" % port)
        self.assertEqual(server.issuer, "http://127.0.0.1:2222")
        # the metadata uses the issuer, whatever address the server listens on
        r = request("GET", "http://127.0.0.1:%d%s" % (port, AS_PATH))
        self.assertEqual(r.json()["issuer"], "http://127.0.0.1:2222")
        self.assertEqual(r.json()["token_endpoint"], "http://127.0.0.1:2222/oauth/token")

    def test_listen_flag_overrides_the_file(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        server = self.start_server(config={"listen": "127.0.0.1:%d" % busy})  # --listen :0
        self.assertNotEqual(server.port, busy)
        self.assertEqual(server.get("/healthz").status, 200)

    def test_listen_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, out, err = self.run_serve(listen="127.0.0.1:%d" % port)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertOneLineError(err, str(port))

    def test_listen_port_in_use_by_another_wattle(self):
        first = self.start_server(data_dir=os.path.join(self.tmp, "first"))
        rc, out, err = self.run_serve(listen="127.0.0.1:%d" % first.port,
                                      data_dir=os.path.join(self.tmp, "second"), timeout=5)
        self.assertEqual(rc, 2, "a second server bound a port another wattle is serving on "
                                "(SO_REUSEPORT?); stdout %r stderr %r" % (out, err))
        self.assertIn(str(first.port), err)
        self.assertEqual(first.get("/healthz").status, 200)


class DataDirTest(WattleTestCase):

    def test_data_dir_created_with_mode_0700(self):
        old = os.umask(0)  # the server must not rely on the umask
        try:
            server = self.make_server()
            server.start()
        finally:
            os.umask(old)
        st = os.stat(self.data_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700, oct(st.st_mode))
        self.assertEqual(server.get("/healthz").status, 200)

    def test_data_dir_is_a_regular_file(self):
        path = self.write_file("not-a-dir", "hello")
        rc, out, err = self.run_serve(data_dir=path)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertIn("not-a-dir", err)
        with open(path) as f:
            self.assertEqual(f.read(), "hello", "the file must be left alone")

    def test_threads_are_named_and_counted_by_the_config(self):
        # `top -H` and perf show what each thread is; password_hash_workers sets how many
        # logins hash at once (each holds 32 MiB), in the background.
        with self.make_server(config={"threads": 3, "password_hash_workers": 2}) as s:
            task = "/proc/%d/task" % s.proc.pid
            names, policies = [], {}
            for t in os.listdir(task):
                with open(os.path.join(task, t, "comm")) as f:
                    name = f.read().strip()
                with open(os.path.join(task, t, "stat")) as f:
                    # field 41 is the scheduling policy; the name (field 2) has no spaces here
                    policies.setdefault(name, set()).add(int(f.read().split()[40]))
                names.append(name)
            self.assertEqual(names.count("wattle-hash"), 2, names)
            self.assertEqual([n for n in names if n.startswith("wattle-loop")],
                             ["wattle-loop0", "wattle-loop1", "wattle-loop2"])
            self.assertEqual(names.count("wattle-writer"), 1, names)
            # Logins hash in the background (SCHED_IDLE = 5), everything else is SCHED_OTHER (0).
            self.assertEqual(policies.pop("wattle-hash"), {5})
            self.assertEqual(set().union(*policies.values()), {0}, policies)

    def test_restart_on_same_data_dir(self):
        with self.make_server() as s:
            self.assertEqual(s.get("/healthz").status, 200)
        with self.make_server() as s:
            self.assertEqual(s.get("/healthz").status, 200)


class ShutdownTest(WattleTestCase):

    def test_sigterm_exits_0_promptly(self):
        server = self.start_server()
        self.assertEqual(server.get("/healthz").status, 200)
        server.stop()  # asserts exit status 0 and no sanitizer report
        self.assertLess(server.stop_seconds, 5)

    def test_sigterm_right_after_start(self):
        # The issuer line means "ready": a SIGTERM sent at once must still be a clean stop
        # (every thread must block the signal, not only the ones started after the line).
        for i in range(5):
            with self.subTest(round=i):
                server = self.make_server(data_dir=os.path.join(self.tmp, "data%d" % i))
                server.start()
                server.stop()

    def test_sigterm_with_idle_keepalive_connection(self):
        server = self.start_server()
        conn = server.connection()
        self.addCleanup(conn.close)
        r = request("GET", server.url("/healthz"), conn=conn)
        self.assertEqual(r.status, 200)
        self.assertNotEqual((r.headers.get("Connection") or "").lower(), "close")
        # the connection stays open and idle while the server is asked to stop
        server.stop()  # asserts exit status 0 and no sanitizer report
        self.assertLess(server.stop_seconds, 5,
                        "SIGTERM took %.1fs with an idle keep-alive connection open"
                        % server.stop_seconds)


class AccessLogTest(WattleTestCase):

    def test_one_line_per_request(self):
        server = self.start_server()
        for _ in range(3):
            self.assertEqual(server.get("/healthz").status, 200)
        self.assertEqual(server.get("/e2e-log-probe").status, 404)
        self.assertEqual(server.request("POST", "/healthz", body=b"").status, 405)
        self.assertEqual(server.request("OPTIONS", AS_PATH).status, 204)
        conn = server.connection()  # several requests on one keep-alive connection
        self.addCleanup(conn.close)
        for _ in range(2):
            self.assertEqual(request("GET", server.url(AS_PATH), conn=conn).status, 200)
        conn.close()
        server.stop()
        lines = server.stderr_text().splitlines()

        def count(pattern):
            return sum(1 for l in lines if re.search(pattern, l))
        self.assertEqual(count(r"\bGET /healthz\b.*\b200\b"), 3, "\n".join(lines))
        self.assertEqual(count(r"\bGET /e2e-log-probe\b.*\b404\b"), 1, "\n".join(lines))
        self.assertEqual(count(r"\bPOST /healthz\b.*\b405\b"), 1, "\n".join(lines))
        self.assertEqual(count(r"\bOPTIONS /\.well-known/oauth-authorization-server\b.*\b204\b"),
                         1, "\n".join(lines))
        self.assertEqual(count(r"\bGET /\.well-known/oauth-authorization-server\b.*\b200\b"), 2,
                         "\n".join(lines))

    def test_no_query_values_in_log(self):
        server = self.start_server()
        r = server.get(AS_PATH + "?code=SECRETVALUE123")
        self.assertEqual(r.status, 200)
        r = server.get("/no-such-path?access_token=SECRETVALUE456&x=1")
        self.assertEqual(r.status, 404)
        r = server.request("POST", "/healthz?client_secret=SECRETVALUE789", body=b"")
        self.assertEqual(r.status, 405)
        server.stop()
        log = server.stderr_text()
        self.assertIn("/.well-known/oauth-authorization-server", log, "the request is logged")
        self.assertIn("/no-such-path", log)
        for secret in ("SECRETVALUE123", "SECRETVALUE456", "SECRETVALUE789"):
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
