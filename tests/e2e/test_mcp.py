"""MCP interoperability (SPEC §2, §5, §8): the official MCP TypeScript SDK on both sides of
Wattle's gateway.

- tests/e2e/mcp/server.mjs: a real MCP server (the SDK's McpServer + StreamableHTTPServerTransport,
  stateful sessions) that Wattle's gateway proxies `/mcp` to. Its tool `whoami` answers the
  identity headers the gateway set.
- tests/e2e/mcp/client.mjs: the SDK's Client + StreamableHTTPClientTransport with an
  OAuthClientProvider, started from the bare URL `<issuer>/mcp` and nothing else: the 401
  challenge, protected-resource metadata, authorization-server metadata, dynamic registration,
  the consent page (a user-agent with a cookie jar logs in and allows), PKCE + `resource`, tokens,
  tool calls through the gateway on one Mcp-Session-Id, a forced refresh through the SDK's auth(),
  an expired access token that the transport refreshes by itself, re-registration after the
  registration disappeared (invalid_client), and session termination (DELETE). A second test
  uses a Client ID Metadata Document (MCP 2025-11-25) instead of registration.
- McpGatewayStreamingTest: the MCP server's idle standalone SSE stream (GET) through the
  gateway, each check next to its control measured directly on the MCP server: the response head
  arrives at once, and a client that goes away ends the upstream stream.

The strict OAuth client (oauth4webapi: discovery validation, RFC 9207 iss, PKCE, refresh,
revocation) is tests/e2e/test_interop.py's and is not repeated here.

node >= 20 runs the scripts; node_modules is installed from package-lock.json with `npm ci` when
it is missing. Skipped, with the reason, only when node or npm is absent.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import (SLOW, WattleTestCase, add_client, add_user, child_env, get_json, post_form,
                     request, token_info)

HERE = os.path.dirname(os.path.abspath(__file__))
MCP_DIR = os.path.join(HERE, "mcp")
PASSWORD = "mcp user password 1"
PRM = "/.well-known/oauth-protected-resource/mcp"
ACCESS_RE = r"^oat_[A-Za-z0-9_-]{43}$"
REFRESH_RE = r"^ort_[A-Za-z0-9_-]{43}$"
CLIENT_RE = r"^ocl_[A-Za-z0-9_-]{22}$"
NODE_TIMEOUT = 60 * SLOW


def node_or_skip():
    """The node binary (>= 20) with tests/e2e/mcp/node_modules installed, or SkipTest."""
    node = shutil.which("node")
    if not node:
        raise unittest.SkipTest("node is not installed (deploy/deps.sh --test installs nodejs "
                                "and npm)")
    v = subprocess.run([node, "--version"], stdout=subprocess.PIPE).stdout.decode()
    m = re.match(r"v(\d+)", v)
    if not m or int(m.group(1)) < 20:
        raise unittest.SkipTest("node %s is older than 20" % v.strip())
    wanted = ("@modelcontextprotocol/sdk", "node-html-parser", "zod")
    if not all(os.path.isdir(os.path.join(MCP_DIR, "node_modules", p)) for p in wanted):
        npm = shutil.which("npm")
        if not npm:
            raise unittest.SkipTest("npm is not installed (deploy/deps.sh --test installs it)")
        r = subprocess.run([npm, "ci", "--prefix", MCP_DIR, "--no-audit", "--no-fund",
                            "--loglevel=error"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        if r.returncode != 0:
            raise AssertionError("npm ci --prefix %s failed:\n%s"
                                 % (MCP_DIR, r.stdout.decode(errors="replace")))
    return node


class McpUpstream:
    """tests/e2e/mcp/server.mjs on a free loopback port."""

    def __init__(self, node):
        self.proc = subprocess.Popen([node, os.path.join(MCP_DIR, "server.mjs"), "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=MCP_DIR, env=child_env())
        line = self.proc.stdout.readline().decode()
        try:
            self.port = json.loads(line)["port"]
        except (ValueError, KeyError):
            self.stop()
            raise AssertionError("server.mjs did not start: %r\n%s"
                                 % (line, self.proc.stderr.read().decode(errors="replace")))
        self.url = "http://127.0.0.1:%d/mcp" % self.port

    def log(self):
        r, doc = get_json("http://127.0.0.1:%d/_log" % self.port)
        return doc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def run_client(node, options):
    """Runs client.mjs; returns (exit code, summary dict or None, stdout, stderr)."""
    r = subprocess.run([node, os.path.join(MCP_DIR, "client.mjs"), json.dumps(options)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=MCP_DIR,
                       env=child_env(), timeout=NODE_TIMEOUT)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    try:
        doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except ValueError:
        doc = None
    return r.returncode, doc, out, err


def brief(summary):
    """The summary without the bulky metadata documents, for failure messages."""
    s = dict(summary)
    s["discovery"] = [{k: v for k, v in d.items() if not k.endswith("_metadata")}
                      for d in summary.get("discovery", [])]
    return json.dumps(s, indent=1)[:20000]


class McpSdkCase:
    """Assertions shared by the DCR and the CIMD tests."""

    def start(self, config_extra=None):
        self.node = node_or_skip()
        self.upstream = McpUpstream(self.node)
        self.addCleanup(self.upstream.stop)
        config = {"resources": [{"path": "/mcp", "scopes_required": ["read:assets"],
                                 "upstream": self.upstream.url}]}
        config.update(config_extra or {})
        self.server = self.start_server(config)
        self.iss = self.server.issuer
        self.user = add_user(self.data_dir, "mcp-alice", PASSWORD, cwd=self.tmp)

    def run_flow(self, **options):
        options.update(server=self.iss + "/mcp", username="mcp-alice", password=PASSWORD)
        rc, doc, out, err = run_client(self.node, options)
        self.assertIsNotNone(doc, "client.mjs printed no JSON (exit %d):\n%s\n%s" % (rc, out, err))
        self.summary = doc
        self.assertNotIn("failure", doc, "the MCP SDK client failed:\n%s\nstderr:\n%s\n"
                                         "wattle stderr:\n%s"
                         % (brief(doc), err, self.server.stderr_text()[-4000:]))
        self.assertEqual(rc, 0, err)
        return doc

    def http(self, phase=None, path=None, method=None):
        return [h for h in self.summary["http"]
                if (phase is None or h["phase"] == phase)
                and (path is None or h["url"] == self.iss + path)
                and (method is None or h["method"] == method)]

    def check_discovery_and_authorization(self, doc, client_id):
        iss = self.iss
        connect = self.http("connect")
        # The bare URL: an unauthenticated MCP request answered with the RFC 9728 challenge.
        first = connect[0]
        self.assertEqual((first["method"], first["url"], first["authorization"]),
                         ("POST", iss + "/mcp", None))
        self.assertEqual(first["status"], 401)
        self.assertEqual(first["www_authenticate"],
                         'Bearer realm="Wattle", resource_metadata="%s%s", scope="read:assets"'
                         % (iss, PRM))
        self.assertEqual(doc["results"]["first_connect"], "UnauthorizedError")
        # Followed by exactly the advertised resource_metadata, then the AS metadata.
        self.assertEqual([(h["method"], h["url"], h["status"]) for h in connect[1:3]],
                         [("GET", iss + PRM, 200),
                          ("GET", iss + "/.well-known/oauth-authorization-server", 200)])
        d = doc["discovery"][0]
        self.assertEqual(d["resource_metadata"]["resource"], iss + "/mcp")
        self.assertEqual(d["resource_metadata"]["authorization_servers"], [iss])
        self.assertEqual(d["authorization_server_url"], iss)
        self.assertEqual(d["authorization_server_metadata"]["issuer"], iss)
        # The authorization request the SDK built, and what the user's browser saw.
        ua = doc["user_agent"][0]
        p = ua["params"]
        self.assertEqual(ua["authorization_url"], iss + "/oauth/authorize")
        self.assertEqual((p["response_type"], p["client_id"], p["code_challenge_method"],
                          p["resource"], p["scope"]),
                         ("code", client_id, "S256", iss + "/mcp", "read:assets"))
        self.assertTrue(p["redirect_uri"].startswith("http://127.0.0.1:"), p)
        self.assertEqual(ua["page_status"], 200)
        self.assertIsNone(ua["page_acao"], "the authorize endpoint never sends CORS headers")
        self.assertEqual(ua["form_method"], "post")
        self.assertEqual(ua["form_action"], iss + "/oauth/authorize")
        self.assertIn("username", ua["form_fields"])
        self.assertIn("password", ua["form_fields"])
        self.assertEqual(ua["post_status"], 303)
        self.assertEqual(ua["location"], p["redirect_uri"])
        self.assertTrue(ua["state_ok"], ua)
        self.assertEqual(ua["iss"], iss)
        self.assertEqual(ua["callback_status"], 200)
        # The code redeemed as the MCP spec says: form body, PKCE verifier, resource, redirect_uri.
        tok = self.http("finish_auth", "/oauth/token")
        self.assertEqual(len(tok), 1, tok)
        f = tok[0]["form"]
        self.assertEqual(tok[0]["status"], 200, tok[0])
        self.assertEqual(tok[0]["content_type"], "application/x-www-form-urlencoded")
        self.assertEqual((f["grant_type"], f["resource"], f["redirect_uri"], f["client_id"]),
                         ("authorization_code", iss + "/mcp", p["redirect_uri"], client_id))
        self.assertIn("code_verifier", f)
        self.assertIsNone(tok[0]["authorization"], "a public client sends no Authorization")
        t = doc["tokens"][0]
        self.assertRegex(t["access_token"], ACCESS_RE)
        self.assertRegex(t["refresh_token"], REFRESH_RE)
        self.assertEqual(t["token_type"], "Bearer")
        self.assertEqual(t["scope"], "read:assets")

    def check_session(self, doc, client_id):
        """The tool calls reached the real MCP server with the user's identity, all on one
        Mcp-Session-Id."""
        sid = doc["session_ids"]["session"]
        self.assertTrue(sid, "the MCP server's Mcp-Session-Id did not reach the client")
        self.assertEqual(doc["results"]["tools"], ["echo", "whoami"])
        self.assertEqual(doc["results"]["echo"]["text"], "héllo ✓")
        for key in ("whoami", "whoami_again"):
            w = doc["results"][key]["parsed"]
            self.assertEqual(w["sub"], self.user["sub"])
            self.assertEqual(w["scope"], "read:assets")
            self.assertEqual(w["client_id"], client_id)
            self.assertFalse(w["authorization_seen"], "the gateway forwarded Authorization")
            self.assertFalse(w["wattle_cookie_seen"])
            self.assertEqual(w["session_id"], sid)
            self.assertEqual(w["mcp_session"], sid)
            self.assertEqual(w["protocol_version"], doc["results"]["protocol_version"])
        self.assertEqual(doc["results"]["whoami"]["parsed"]["echo"], "first call")
        # Every request after initialize carried the session id (through the gateway both ways).
        mcp = [h for h in self.http("session", "/mcp")]
        self.assertEqual(mcp[0]["response_mcp_session_id"], sid)
        self.assertIsNone(mcp[0]["mcp_session_id"])
        for h in mcp[1:]:
            self.assertEqual(h["mcp_session_id"], sid, h)
            if h["method"] == "POST":
                self.assertEqual(h.get("acao"), "*", json.dumps(mcp, indent=1))
        # The SDK opened its standalone SSE stream (GET) on the session (the SDK does not wait
        # for its response; McpGatewayStreamingTest checks that its head arrives promptly).
        self.assertEqual(len([h for h in mcp if h["method"] == "GET"]), 1, mcp)
        self.assertEqual([h for h in mcp if h["method"] == "GET"][0]["accept"],
                         "text/event-stream")

    def check_upstream_log(self, client_ids, sid, terminated=True):
        log = self.upstream.log()
        reqs = log["requests"]
        self.assertTrue(reqs)
        inits = [r for r in reqs if r["rpc"] == ["initialize"]]
        self.assertEqual(len(inits), 1, "one MCP session: %r" % reqs)
        for r in reqs:
            self.assertEqual(r["sub"], self.user["sub"], r)
            self.assertIn(r["client_id"], client_ids, r)
            self.assertEqual(r["scope"], "read:assets")
            self.assertFalse(r["authorization_seen"])
            if r is not inits[0]:
                self.assertEqual(r["session_id"], sid, r)
        if terminated:
            self.assertEqual([(r["method"], r["status"]) for r in reqs if r["method"] == "DELETE"],
                             [("DELETE", 200)])
            self.assertEqual(log["open_sessions"], 0)
            self.assertEqual(log["closed_sessions"], 1)


class McpSdkDynamicRegistrationTest(McpSdkCase, WattleTestCase):
    """The SDK client with dynamic client registration, against a server whose access tokens
    live a few seconds (so that the expiry path runs)."""

    TTL = 4 * SLOW

    def test_sdk_client_end_to_end(self):
        self.start({"access_token_ttl": self.TTL})
        doc = self.run_flow(phases=["refresh", "expiry", "reregister", "terminate"])
        iss = self.iss
        self.assertEqual(doc["mode"], "dcr")
        self.assertTrue(doc["sdk_version"].startswith("1."), doc["sdk_version"])

        # Dynamic registration: what the SDK sent and what Wattle answered.
        reg = self.http("connect", "/oauth/register")
        self.assertEqual(len(reg), 1, reg)
        self.assertEqual((reg[0]["status"], reg[0]["content_type"]), (201, "application/json"))
        sent = reg[0]["json"]
        self.assertEqual(sent["token_endpoint_auth_method"], "none")
        self.assertEqual(sent["grant_types"], ["authorization_code", "refresh_token"])
        body = doc["registration_responses"][0]["body"]
        client_id = body["client_id"]
        self.assertRegex(client_id, CLIENT_RE)
        self.assertEqual(body["redirect_uris"], sent["redirect_uris"])
        self.assertEqual(body["token_endpoint_auth_method"], "none")
        self.assertNotIn("client_secret", body)
        self.assertEqual(body["registration_client_uri"], iss + "/oauth/register/" + client_id)
        self.assertEqual(doc["registrations"][0]["client_id"], client_id)

        self.check_discovery_and_authorization(doc, client_id)
        self.check_session(doc, client_id)
        sid = doc["session_ids"]["session"]

        # Forced refresh through the SDK's auth(): new access and refresh tokens, same session.
        r = doc["results"]["refresh"]
        self.assertEqual(r, {"auth_result": "AUTHORIZED", "access_token_changed": True,
                             "refresh_token_changed": True})
        rt = self.http("refresh", "/oauth/token")
        self.assertEqual(len(rt), 1, rt)
        self.assertEqual((rt[0]["status"], rt[0]["form"]["grant_type"], rt[0]["form"]["resource"]),
                         (200, "refresh_token", iss + "/mcp"))
        self.assertEqual(doc["results"]["whoami_after_refresh"]["parsed"]["session_id"], sid)
        self.assertEqual(doc["session_ids"]["after_refresh"], sid)

        # Expiry: 401 invalid_token from the gateway, the transport refreshed and retried.
        e = doc["results"]["expiry"]
        self.assertEqual(e["expires_in"], self.TTL)
        self.assertTrue(e["access_token_changed"], e)
        exp = [(h["method"], h["url"], h["status"]) for h in self.http("expiry")]
        self.assertEqual(exp[0], ("POST", iss + "/mcp", 401))
        self.assertIn('error="invalid_token"', self.http("expiry")[0]["www_authenticate"])
        self.assertEqual(exp[-2:], [("POST", iss + "/oauth/token", 200),
                                    ("POST", iss + "/mcp", 200)])
        self.assertEqual(self.http("expiry", "/oauth/token")[0]["form"]["grant_type"],
                         "refresh_token")
        self.assertFalse(doc["results"]["whoami_after_expiry"]["reauthorized"])
        self.assertEqual(doc["results"]["whoami_after_expiry"]["result"]["parsed"]["session_id"],
                         sid)

        # Re-registration: the registration was deleted (RFC 7592); the refresh got
        # invalid_client, the SDK forgot its client, registered again and re-authorized; the
        # user was still logged in (no password fields) and the MCP session survived.
        self.assertEqual(doc["results"]["registration_delete_status"], 204)
        rr = self.http("reregister", "/oauth/token")
        self.assertEqual([(h["status"], h["form"]["grant_type"]) for h in rr],
                         [(401, "refresh_token"), (200, "authorization_code")])
        self.assertEqual(rr[0]["error_body"]["error"], "invalid_client")
        self.assertEqual(doc["invalidations"], [{"phase": "reregister", "scope": "all"}])
        new_id = doc["results"]["reregistered"]["new_client_id"]
        self.assertRegex(new_id, CLIENT_RE)
        self.assertNotEqual(new_id, client_id)
        self.assertEqual(len(self.http("reregister", "/oauth/register", "POST")), 1)
        ua = doc["user_agent"][1]
        self.assertEqual(ua["params"]["client_id"], new_id)
        self.assertNotIn("password", ua["form_fields"], "the login session was forgotten")
        self.assertEqual(ua["post_status"], 303)
        w = doc["results"]["whoami_after_reregister"]
        self.assertTrue(w["reauthorized"])
        self.assertEqual((w["result"]["parsed"]["client_id"], w["result"]["parsed"]["session_id"]),
                         (new_id, sid))

        # Termination: DELETE with the session id reached the MCP server.
        self.assertEqual(doc["results"]["terminate"], {"session_id": sid, "after": None})
        self.check_upstream_log({client_id, new_id}, sid)

        # The store: the new registration is listed (the deleted one is not); its last tokens
        # are alive, rotated refresh tokens are not.
        clients = {c["client_id"]: c for c in self.cli_json("client", "list")}
        self.assertIn(new_id, clients)
        self.assertNotIn(client_id, clients)
        self.assertEqual(clients[new_id]["client_name"], "Wattle MCP SDK test client")
        self.assertEqual(clients[new_id]["token_endpoint_auth_method"], "none")
        refresh_tokens = [t["refresh_token"] for t in doc["tokens"]]
        self.assertEqual(len(set(refresh_tokens)), len(refresh_tokens), "refresh did not rotate")
        last = token_info(self.data_dir, refresh_tokens[-1], cwd=self.tmp)
        self.assertTrue(last["active"], last)
        for old in refresh_tokens[:-1]:
            self.assertFalse(token_info(self.data_dir, old, cwd=self.tmp)["active"])
        grants = self.cli_json("grant", "list", "--user", "mcp-alice")
        self.assertEqual([(g["client_id"], g["scope"]) for g in grants], [(new_id, "read:assets")])


def open_sse_stream(host, port, path, headers, timeout):
    """Sends GET path with headers on a fresh connection and waits up to timeout seconds for
    the response head. Returns (status line or None, the head's bytes, seconds waited); the
    connection is closed afterwards (the stream itself is not read)."""
    s = socket.create_connection((host, port), timeout=timeout)
    t0 = time.monotonic()
    try:
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port)]
        lines += ["%s: %s" % kv for kv in headers]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got:
            try:
                b = s.recv(4096)
            except socket.timeout:
                break
            if not b:
                break
            got += b
        status = got.split(b"\r\n", 1)[0].decode() if b"\r\n" in got else None
        return status, got, time.monotonic() - t0
    finally:
        s.close()


class McpGatewayStreamingTest(WattleTestCase):
    """The MCP server's standalone SSE stream (GET with Accept: text/event-stream) through the
    gateway. The SDK's server answers it with its status and headers at once and then stays
    quiet until it has a notification to send (measured below as the control, directly on the
    MCP server). Through the gateway the head should arrive as promptly (SPEC §5: responses
    stream, idle Server-Sent Events streams are not cut)."""

    def setUp(self):
        super().setUp()
        self.node = node_or_skip()
        self.upstream = McpUpstream(self.node)
        self.addCleanup(self.upstream.stop)
        # a short heartbeat, so a vanished client is found within the test's patience
        self.server = self.start_server({"gateway_sse_heartbeat": 1,
                                         "resources": [{"path": "/mcp",
                                                        "scopes_required": ["read:assets"],
                                                        "upstream": self.upstream.url}]})
        rs = add_client(self.data_dir, "MCP bench", grant_types=["client_credentials"],
                        cwd=self.tmp)
        r = post_form(self.server.url("/oauth/token"),
                      {"grant_type": "client_credentials", "scope": "read:assets"},
                      auth=(rs["client_id"], rs["client_secret"]))
        self.assertEqual(r.status, 200, r)
        self.token = r.json()["access_token"]

    def new_session(self, url, auth):
        """initialize + notifications/initialized on url; returns the Mcp-Session-Id."""
        h = [("Content-Type", "application/json"),
             ("Accept", "application/json, text/event-stream")] + auth
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "wattle-e2e", "version": "1"}}}
        r = request("POST", url, headers=h, body=json.dumps(init))
        self.assertEqual(r.status, 200, r)
        sid = r.headers.get("Mcp-Session-Id")
        self.assertTrue(sid, r)
        h += [("Mcp-Session-Id", sid), ("MCP-Protocol-Version", "2025-06-18")]
        r = request("POST", url, headers=h,
                    body=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        self.assertEqual(r.status, 202, r)
        # At the end the session is deleted, which makes the MCP server end its streams, so no
        # proxied stream is left open when the server stops (cleanups run before its stop).
        self.addCleanup(request, "DELETE", url, headers=auth + [("Mcp-Session-Id", sid)])
        return sid

    def stream_head(self, host, port, sid, auth):
        return open_sse_stream(host, port, "/mcp",
                               [("Accept", "text/event-stream"), ("Mcp-Session-Id", sid),
                                ("MCP-Protocol-Version", "2025-06-18")] + auth,
                               timeout=2 * SLOW)

    def test_direct_idle_stream_head_is_prompt(self):
        """The control: without the gateway the head arrives at once."""
        sid = self.new_session(self.upstream.url, [])
        status, head, waited = self.stream_head("127.0.0.1", self.upstream.port, sid, [])
        self.assertEqual(status, "HTTP/1.1 200 OK", head)
        self.assertIn(b"text/event-stream", head)
        self.assertLess(waited, 1.5 * SLOW)

    def test_idle_stream_head_through_the_gateway(self):
        """h2o 2.2.5's reverse proxy (lib/core/proxy.c) starts the client's response only with
        the upstream's first body bytes, so without help from the gateway an idle SSE stream
        gets no status line and no headers until the MCP server sends its first event (or ends
        the stream). The SDK's client does not wait on that stream, so its flow works either
        way, but a client that waits for the stream to open (EventSource.onopen, a fetch() of
        the GET) would hang."""
        auth = [("Authorization", "Bearer " + self.token)]
        sid = self.new_session(self.server.url("/mcp"), auth)
        status, head, waited = self.stream_head(self.server.host, self.server.port, sid, auth)
        self.assertEqual(status, "HTTP/1.1 200 OK",
                         "no response head after %.1f s (got %r)" % (waited, head))
        self.assertIn(b"text/event-stream", head)


    def upstream_get(self, sid):
        """The MCP server's log entry of the GET stream of session sid."""
        gets = [r for r in self.upstream.log()["requests"]
                if r["method"] == "GET" and r["session_id"] == sid]
        self.assertEqual(len(gets), 1, gets)
        return gets[0]

    def wait_closed(self, sid, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.upstream_get(sid)["closed"]:
                return True
            time.sleep(0.1)
        return self.upstream_get(sid)["closed"]

    def test_direct_client_gone_ends_the_stream(self):
        """The control: a client that goes away ends its stream on the MCP server at once."""
        sid = self.new_session(self.upstream.url, [])
        status, head, _ = self.stream_head("127.0.0.1", self.upstream.port, sid, [])
        self.assertEqual(status, "HTTP/1.1 200 OK", head)
        self.assertTrue(self.wait_closed(sid, 1.5 * SLOW))

    def test_client_gone_through_the_gateway_ends_the_upstream_stream(self):
        """When the client of an idle proxied SSE stream disconnects, the upstream stream must
        end too. h2o 2.2.5 does not read an HTTP/1 client's socket while a response is in
        progress, so it notices the close only at its next write: the gateway writes an SSE
        comment after gateway_sse_heartbeat seconds of silence (1 s here), which fails and ends
        the request and its upstream connection. Without it every vanished client pinned a
        connection on Wattle and one on the MCP server."""
        auth = [("Authorization", "Bearer " + self.token)]
        sid = self.new_session(self.server.url("/mcp"), auth)
        status, head, _ = self.stream_head(self.server.host, self.server.port, sid, auth)
        self.assertTrue(self.wait_closed(sid, 3 * SLOW),
                        "the MCP server's stream is still open 3 s after its client left: %r"
                        % self.upstream_get(sid))


def _cimd_helpers():
    """test_cimd's PKI (a CA and a localhost certificate) and HTTPS document server."""
    try:
        import test_cimd
    except Exception as e:  # pragma: no cover - only when that file changes shape
        raise unittest.SkipTest("tests/e2e/test_cimd.py's Pki/DocServer are unavailable: %s" % e)
    return test_cimd.Pki, test_cimd.DocServer


class McpSdkClientMetadataDocumentTest(McpSdkCase, WattleTestCase):
    """The 2025-11-25 path: the SDK uses a Client ID Metadata Document URL as its client_id
    when the AS metadata says client_id_metadata_document_supported (SDK 1.x supports it through
    OAuthClientProvider.clientMetadataUrl). The document is served over HTTPS on loopback with
    test_cimd's CA, which Wattle is told to trust (cimd.ca_file, allow_private_addresses)."""

    def test_sdk_client_with_metadata_document(self):
        Pki, DocServer = _cimd_helpers()
        pki = Pki()
        self.addCleanup(pki.remove)
        docs = DocServer(*pki.leaf("localhost", "localhost", "DNS:localhost,IP:127.0.0.1"))
        self.addCleanup(docs.stop)
        url = docs.doc("/mcp-client.json", client_name="MCP SDK CIMD client",
                       redirect_uris=["http://127.0.0.1/callback"],
                       grant_types=["authorization_code", "refresh_token"],
                       response_types=["code"], token_endpoint_auth_method="none")
        self.start({"cimd": {"enabled": True, "allow_private_addresses": True,
                             "ca_file": pki.ca}})
        doc = self.run_flow(client_metadata_url=url, phases=["refresh", "terminate"])
        self.assertEqual(doc["mode"], "cimd")
        self.assertIs(doc["discovery"][0]["authorization_server_metadata"]
                      ["client_id_metadata_document_supported"], True)
        self.assertEqual(self.http(path="/oauth/register"), [], "no dynamic registration")
        self.assertEqual(doc["registrations"][0]["client_id"], url)
        self.assertGreaterEqual(docs.hits["/mcp-client.json"], 1)
        self.check_discovery_and_authorization(doc, url)
        self.check_session(doc, url)
        sid = doc["session_ids"]["session"]
        self.assertEqual(doc["results"]["refresh"]["refresh_token_changed"], True)
        self.assertEqual(doc["results"]["whoami_after_refresh"]["parsed"]["client_id"], url)
        self.check_upstream_log({url}, sid)


if __name__ == "__main__":
    unittest.main()
