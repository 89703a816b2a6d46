// The browser-side OAuth client of tests/e2e/test_browser.py (plain JS, no libraries).
//
// Loaded as index.html?issuer=<issuer>[&resource_path=/mcp] on an origin other than Wattle's, it
// does what a browser-based MCP client (an inspector) does, with fetch() only:
//   start:  GET the protected resource without a token -> 401, read WWW-Authenticate (an exposed
//           header) -> GET its resource_metadata (with MCP-Protocol-Version: a preflight) ->
//           GET the AS metadata -> check that the authorization endpoint sends no CORS headers ->
//           POST a JSON registration (a preflight) -> PKCE S256 -> navigate to the authorization
//           endpoint (top level). The test's automation logs in and presses Allow there.
//   finish: (back on index.html?code=…&state=…&iss=…) check state and iss (RFC 9207) -> POST the
//           code to the token endpoint -> call the resource with Authorization, Mcp-Session-Id
//           and MCP-Protocol-Version (preflighted) with GET and POST -> a bad token's 401 and its
//           WWW-Authenticate -> userinfo -> refresh -> revoke -> the revoked token's 401.
// Each step's outcome goes into out.steps; the JSON is written into <pre id="result"> with
// data-done="ok" (or "error" and out.error) at the end. Tokens are reported masked.

(function () {
    'use strict';
    const KEY = 'wattle-browser-client';
    const PROTOCOL_VERSION = '2025-11-25';
    const resultEl = document.getElementById('result');
    const logEl = document.getElementById('log');
    const params = new URLSearchParams(location.search);
    const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    const out = saved ? saved.out : { steps: {}, origin: location.origin };

    function log(msg) {
        logEl.textContent += msg + '\n';
    }

    function mask(t) {
        return typeof t === 'string' && t.length > 12 ? t.slice(0, 8) + '…' : t;
    }

    function finish(ok, error) {
        if (error) out.error = { name: error.name, message: error.message, stack: String(error.stack || '') };
        sessionStorage.removeItem(KEY);
        resultEl.textContent = JSON.stringify(out);
        resultEl.dataset.done = ok ? 'ok' : 'error';
    }

    function b64url(bytes) {
        let s = '';
        for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
        return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    }

    function randomString(n) {
        const a = new Uint8Array(n);
        crypto.getRandomValues(a);
        return b64url(a);
    }

    // The readable response headers (what CORS lets the page see).
    function visibleHeaders(res) {
        const h = {};
        res.headers.forEach((v, k) => {
            h[k] = v;
        });
        return h;
    }

    async function json(res) {
        const text = await res.text();
        try {
            return JSON.parse(text);
        } catch (e) {
            return { unparsable: text.slice(0, 200) };
        }
    }

    // A fetch whose outcome is recorded; a CORS refusal is recorded as {blocked: "TypeError: …"}.
    async function step(name, url, init) {
        const rec = { url: url, method: (init && init.method) || 'GET' };
        out.steps[name] = rec;
        log(name + ' ' + rec.method + ' ' + url);
        let res;
        try {
            res = await fetch(url, init);
        } catch (e) {
            rec.blocked = e.name + ': ' + e.message;
            return { rec: rec, res: null, body: null };
        }
        rec.status = res.status;
        rec.type = res.type;
        rec.headers = visibleHeaders(res);
        const body = await json(res);
        return { rec: rec, res: res, body: body };
    }

    function challengeParams(value) {
        const p = {};
        const re = /([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g;
        let m;
        while ((m = re.exec(value || ''))) p[m[1]] = m[2].replace(/\\(.)/g, '$1');
        return p;
    }

    async function start() {
        const issuer = params.get('issuer');
        const resource = issuer + (params.get('resource_path') || '/mcp');
        out.issuer = issuer;

        // 1. The resource without a token: 401 and a readable WWW-Authenticate.
        let r = await step('unauthenticated', resource, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'MCP-Protocol-Version': PROTOCOL_VERSION },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} })
        });
        const wwwa = r.res && r.res.headers.get('WWW-Authenticate');
        r.rec.www_authenticate = wwwa;
        const challenge = challengeParams(wwwa);
        r.rec.challenge = challenge;
        if (!challenge.resource_metadata) throw new Error('no readable resource_metadata in the 401');

        // 2. Protected-resource metadata (the custom header makes it a preflighted request).
        r = await step('prm', challenge.resource_metadata, { headers: { 'MCP-Protocol-Version': PROTOCOL_VERSION } });
        const prm = r.body;
        r.rec.body = prm;
        if (!prm || !prm.authorization_servers) throw new Error('no protected-resource metadata');

        // 3. Authorization-server metadata (RFC 8414 well-known URL of authorization_servers[0]).
        const as = prm.authorization_servers[0];
        r = await step('as_metadata', as + '/.well-known/oauth-authorization-server', {
            headers: { 'MCP-Protocol-Version': PROTOCOL_VERSION, Accept: 'application/json' }
        });
        const meta = r.body;
        r.rec.issuer = meta && meta.issuer;
        r.rec.endpoints = meta && {
            authorization_endpoint: meta.authorization_endpoint,
            token_endpoint: meta.token_endpoint,
            registration_endpoint: meta.registration_endpoint,
            revocation_endpoint: meta.revocation_endpoint,
            userinfo_endpoint: meta.userinfo_endpoint
        };
        r.rec.code_challenge_methods_supported = meta && meta.code_challenge_methods_supported;
        if (!meta || meta.issuer !== as) throw new Error('AS metadata issuer ' + (meta && meta.issuer) + ' is not ' + as);

        // 4. The authorization endpoint must not be readable cross-origin (no CORS headers).
        r = await step('authorize_cors', meta.authorization_endpoint + '?response_type=code');

        // 5. Dynamic registration: a JSON POST (preflighted).
        const redirectUri = location.origin + location.pathname;
        r = await step('register', meta.registration_endpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({
                client_name: 'Wattle browser test client',
                redirect_uris: [redirectUri],
                grant_types: ['authorization_code', 'refresh_token'],
                response_types: ['code'],
                token_endpoint_auth_method: 'none',
                scope: challenge.scope
            })
        });
        const client = r.body;
        r.rec.client_id = client && client.client_id;
        r.rec.token_endpoint_auth_method = client && client.token_endpoint_auth_method;
        if (!client || !client.client_id) throw new Error('registration failed: ' + JSON.stringify(client));

        // 6. PKCE and the top-level navigation to the consent page.
        const verifier = randomString(48);
        const challengeS256 = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
        const state = randomString(16);
        const url = new URL(meta.authorization_endpoint);
        url.search = new URLSearchParams({
            response_type: 'code',
            client_id: client.client_id,
            redirect_uri: redirectUri,
            scope: challenge.scope || prm.scopes_supported.join(' '),
            state: state,
            code_challenge: challengeS256,
            code_challenge_method: 'S256',
            resource: prm.resource
        }).toString();
        out.steps.authorize = { url: url.origin + url.pathname, redirect_uri: redirectUri, resource: prm.resource };
        sessionStorage.setItem(KEY, JSON.stringify({
            out: out, verifier: verifier, state: state, client_id: client.client_id, meta: meta,
            resource: prm.resource, redirect_uri: redirectUri
        }));
        log('navigating to the authorization endpoint');
        location.assign(url.href);
    }

    async function callResource(name, resource, token, method, body) {
        const headers = { Authorization: 'Bearer ' + token, 'Mcp-Session-Id': 'browser-session-1', 'MCP-Protocol-Version': PROTOCOL_VERSION };
        if (body) headers['Content-Type'] = 'application/json';
        const r = await step(name, resource, { method: method, headers: headers, body: body });
        r.rec.body = r.body;
        if (r.res) r.rec.www_authenticate = r.res.headers.get('WWW-Authenticate');
        return r;
    }

    async function finishFlow() {
        const s = saved;
        const meta = s.meta;
        const cb = {};
        for (const [k, v] of params) cb[k] = k === 'code' ? mask(v) : v;
        out.steps.callback = { params: cb, state_ok: params.get('state') === s.state, iss_ok: params.get('iss') === meta.issuer };
        if (params.get('error')) throw new Error('authorization error ' + params.get('error'));
        if (!out.steps.callback.state_ok) throw new Error('state mismatch');
        if (!out.steps.callback.iss_ok) throw new Error('iss ' + params.get('iss') + ' is not the issuer ' + meta.issuer + ' (RFC 9207)');
        history.replaceState(null, '', location.pathname); // the code leaves the address bar

        // 7. Token exchange: a form POST (a CORS "simple" request: no preflight).
        let r = await step('token', meta.token_endpoint, {
            method: 'POST',
            headers: { Accept: 'application/json' },
            body: new URLSearchParams({
                grant_type: 'authorization_code',
                code: params.get('code'),
                redirect_uri: s.redirect_uri,
                client_id: s.client_id,
                code_verifier: s.verifier,
                resource: s.resource
            })
        });
        const tok = r.body || {};
        r.rec.body = Object.assign({}, tok, { access_token: mask(tok.access_token), refresh_token: mask(tok.refresh_token) });
        if (!tok.access_token) throw new Error('no access token: ' + JSON.stringify(tok));

        // 8. The gateway with the token and MCP's headers, GET and POST. Chromium may answer
        //    these from the preflight cache of step 1 (Access-Control-Max-Age), so one more call
        //    goes to a URL of its own: its preflight asks for exactly these headers.
        await callResource('resource_get', s.resource, tok.access_token, 'GET');
        await callResource('resource_preflighted', s.resource + '?fresh-preflight=1', tok.access_token, 'GET');
        await callResource('resource_post', s.resource, tok.access_token, 'POST',
            JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));

        // 9. A bad token: 401 with a readable WWW-Authenticate naming the error.
        await callResource('resource_bad_token', s.resource, 'oat_' + randomString(32), 'GET');

        // 10. userinfo with the bearer token.
        r = await step('userinfo', meta.userinfo_endpoint, { headers: { Authorization: 'Bearer ' + tok.access_token } });
        r.rec.body = r.body;

        // 11. Refresh (form POST).
        r = await step('refresh', meta.token_endpoint, {
            method: 'POST',
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tok.refresh_token, client_id: s.client_id })
        });
        const tok2 = r.body || {};
        r.rec.body = Object.assign({}, tok2, { access_token: mask(tok2.access_token), refresh_token: mask(tok2.refresh_token) });
        r.rec.new_access_token = !!tok2.access_token && tok2.access_token !== tok.access_token;
        r.rec.new_refresh_token = !!tok2.refresh_token && tok2.refresh_token !== tok.refresh_token;
        await callResource('resource_after_refresh', s.resource, tok2.access_token, 'GET');

        // 12. Revocation ("disconnect"), then the token is refused.
        r = await step('revoke', meta.revocation_endpoint, {
            method: 'POST',
            body: new URLSearchParams({ token: tok2.refresh_token, token_type_hint: 'refresh_token', client_id: s.client_id })
        });
        await callResource('resource_after_revoke', s.resource, tok2.access_token, 'GET');
    }

    const run = params.has('code') || params.has('error') ? finishFlow : start;
    if (run === finishFlow && !saved) {
        finish(false, new Error('callback without a saved authorization request'));
        return;
    }
    run().then(
        () => {
            if (run === finishFlow) finish(true);
        },
        e => finish(false, e)
    );
})();
