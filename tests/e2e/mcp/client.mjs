// A real MCP client (the official TypeScript SDK's Client + StreamableHTTPClientTransport with an
// OAuthClientProvider) against an MCP server behind Wattle's gateway (tests/e2e/test_mcp.py).
//
//   node client.mjs '<options JSON>'
//
// options: {
//   "server":   "<issuer>/mcp"          the bare MCP URL: everything else is discovered
//   "username", "password":             the user who logs in on the consent page
//   "client_metadata_url": "https://…"  optional: use a Client ID Metadata Document (MCP
//                                       2025-11-25) instead of dynamic registration
//   "phases": ["refresh", "expiry", "reregister", "terminate"]   what to do after connecting
// }
//
// It follows the SDK's documented pattern (src/examples/client/simpleOAuthClient.ts):
// client.connect() gets the 401 and the SDK runs auth() (discovery from the WWW-Authenticate
// resource_metadata -> protected-resource metadata -> authorization-server metadata, dynamic
// registration, PKCE + resource) and calls redirectToAuthorization(url); that throws
// UnauthorizedError; the app then calls transport.finishAuth(code) and connects again with a new
// transport. redirectToAuthorization acts as the user's browser: it fetches the consent page
// with a cookie jar, fills in username and password, presses Allow, and follows the 303 to the
// callback server below, which receives the code.
//
// Phases after connect + whoami:
//   refresh    the SDK's auth() with the stored refresh token (no code) -> new tokens; whoami
//   expiry     waits for the access token to expire (only when expires_in <= 30), then whoami:
//              the gateway's 401 invalid_token makes the transport refresh by itself and retry
//   reregister the app deletes its registration (RFC 7592, with the registration access token
//              the SDK itself does not keep); whoami -> 401 -> refresh -> invalid_client -> the
//              SDK forgets everything, registers again and redirects; finishAuth; whoami on the
//              same MCP session
//   terminate  transport.terminateSession() (DELETE with Mcp-Session-Id through the gateway)
//
// Prints one JSON summary line on stdout (the last line): every HTTP request the SDK made
// (tokens masked), the user agent's steps, registrations, tokens, tool results; with
// "failure" when something threw (exit status 1).

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseHtml } from 'node-html-parser';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

const opts = JSON.parse(process.argv[2] ?? '{}');
const serverUrl = new URL(opts.server);
const phases = opts.phases ?? ['refresh', 'expiry', 'reregister', 'terminate'];
const sdkPackage = JSON.parse(readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url)));

const summary = {
    sdk_version: sdkPackage.version,
    latest_protocol_version: LATEST_PROTOCOL_VERSION,
    server: serverUrl.href,
    mode: opts.client_metadata_url ? 'cimd' : 'dcr',
    phase: 'start',
    http: [], // every request the SDK made
    user_agent: [], // what the "browser" did for each redirectToAuthorization
    callbacks: [], // what the callback server received
    registrations: [], // saveClientInformation() calls
    registration_responses: [], // bodies of the registration endpoint's responses
    invalidations: [],
    discovery: [],
    tokens: [], // saveTokens() calls (full values: the test checks them with `wattle token info`)
    results: {}, // phase -> tool results etc.
    session_ids: {}
};

const mask = v => (typeof v === 'string' && v.length > 12 ? v.slice(0, 8) + '…' : v);
const sleep = ms => new Promise(r => setTimeout(r, ms));

// ------------------------------------------------------------------------------- logging fetch

async function loggingFetch(input, init) {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const h = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const authz = h.get('authorization');
    const entry = {
        phase: summary.phase,
        method,
        url: url.origin + url.pathname,
        query: url.search || undefined,
        authorization: authz ? authz.split(' ')[0] + ' ' + mask(authz.split(' ')[1]) : null,
        content_type: h.get('content-type'),
        accept: h.get('accept'),
        mcp_session_id: h.get('mcp-session-id'),
        mcp_protocol_version: h.get('mcp-protocol-version')
    };
    const body = init?.body;
    if (body instanceof URLSearchParams || (typeof body === 'string' && entry.content_type?.includes('form'))) {
        const p = new URLSearchParams(String(body));
        entry.form = {};
        for (const [k, v] of p) {
            entry.form[k] = ['code', 'code_verifier', 'refresh_token', 'client_secret'].includes(k) ? mask(v) : v;
        }
    } else if (typeof body === 'string' && entry.content_type?.includes('json')) {
        try {
            const j = JSON.parse(body);
            entry.json = Array.isArray(j) || j.jsonrpc ? { rpc: (Array.isArray(j) ? j : [j]).map(m => m.method ?? 'result') } : j;
        } catch {
            entry.json = '(unparsable)';
        }
    }
    summary.http.push(entry);
    const t0 = Date.now();
    let res;
    try {
        res = await fetch(input, init);
    } catch (e) {
        entry.error = String(e?.cause?.code ?? e?.message ?? e);
        entry.elapsed_ms = Date.now() - t0;
        throw e;
    }
    entry.elapsed_ms = Date.now() - t0; // until the response headers arrived
    entry.status = res.status;
    entry.response_content_type = res.headers.get('content-type');
    entry.www_authenticate = res.headers.get('www-authenticate');
    entry.response_mcp_session_id = res.headers.get('mcp-session-id');
    entry.acao = res.headers.get('access-control-allow-origin');
    if (url.pathname.endsWith('/register') && method === 'POST') {
        try {
            summary.registration_responses.push({ status: res.status, body: await res.clone().json() });
        } catch {
            summary.registration_responses.push({ status: res.status, body: null });
        }
    }
    if (res.status >= 400 && (entry.response_content_type ?? '').includes('json') && !url.pathname.startsWith(serverUrl.pathname)) {
        try {
            entry.error_body = await res.clone().json();
        } catch {
            /* not JSON after all */
        }
    }
    return res;
}

// ------------------------------------------------------------------------------- callback server

const pendingCodes = [];
const callbackServer = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    const q = Object.fromEntries(u.searchParams);
    summary.callbacks.push({ path: u.pathname, params: { ...q, code: mask(q.code) } });
    if (u.pathname === '/callback' && q.code) {
        pendingCodes.push(q);
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<p>Authorization successful: you may close this window.</p>');
    } else {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end('authorization failed: ' + (q.error ?? 'no code'));
    }
});
await new Promise(r => callbackServer.listen(0, '127.0.0.1', r));
const redirectUrl = `http://127.0.0.1:${callbackServer.address().port}/callback`;

// ------------------------------------------------------------------------------- the user's browser

const jar = new Map(); // name -> {value, path}

function cookieHeader(url) {
    const path = new URL(url).pathname;
    const pairs = [];
    for (const [name, c] of jar) {
        if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : c.path + '/')) pairs.push(`${name}=${c.value}`);
    }
    return pairs.join('; ');
}

function absorbCookies(res, url) {
    for (const sc of res.headers.getSetCookie()) {
        const [pair, ...attrs] = sc.split(';').map(s => s.trim());
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq);
        const value = pair.slice(eq + 1);
        let path = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
        let maxAge;
        for (const a of attrs) {
            const [k, v] = a.split('=');
            if (k.toLowerCase() === 'path' && v?.startsWith('/')) path = v;
            if (k.toLowerCase() === 'max-age') maxAge = Number(v);
        }
        if (maxAge !== undefined && maxAge <= 0) jar.delete(name);
        else jar.set(name, { value, path });
    }
}

async function browserFetch(url, init = {}) {
    const headers = new Headers(init.headers);
    const c = cookieHeader(url);
    if (c) headers.set('cookie', c);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    absorbCookies(res, url);
    return res;
}

async function actAsUser(authorizationUrl, expectedState) {
    const step = { phase: summary.phase, authorization_url: authorizationUrl.origin + authorizationUrl.pathname, params: {} };
    summary.user_agent.push(step);
    for (const [k, v] of authorizationUrl.searchParams) step.params[k] = k === 'code_challenge' ? mask(v) : v;
    let res = await browserFetch(authorizationUrl.href);
    step.page_status = res.status;
    step.page_content_type = res.headers.get('content-type');
    step.page_acao = res.headers.get('access-control-allow-origin');
    let location;
    if (res.status === 200) {
        const page = parseHtml(await res.text());
        const form = page.querySelectorAll('form').find(f => f.querySelector('button[name="decision"]'));
        if (!form) throw new Error('the consent page has no form with decision buttons');
        const fields = new URLSearchParams();
        const names = [];
        for (const input of form.querySelectorAll('input')) {
            const name = input.getAttribute('name');
            if (!name) continue;
            const type = (input.getAttribute('type') ?? 'text').toLowerCase();
            if ((type === 'checkbox' || type === 'radio') && !input.hasAttribute('checked')) continue;
            names.push(name);
            let value = input.getAttribute('value') ?? '';
            if (name === 'username') value = opts.username;
            if (name === 'password') value = opts.password;
            fields.append(name, value);
        }
        fields.append('decision', 'allow');
        step.form_fields = names;
        step.form_method = (form.getAttribute('method') ?? 'get').toLowerCase();
        const action = new URL(form.getAttribute('action') ?? '', authorizationUrl);
        step.form_action = action.origin + action.pathname + action.search;
        res = await browserFetch(action.href, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: fields.toString()
        });
        step.post_status = res.status;
    }
    location = res.headers.get('location');
    step.redirect_status = res.status;
    if (!location) throw new Error(`the authorization endpoint answered ${res.status} without a Location`);
    const loc = new URL(location, authorizationUrl);
    step.location = loc.origin + loc.pathname;
    step.location_params = Object.fromEntries([...loc.searchParams].map(([k, v]) => [k, k === 'code' ? mask(v) : v]));
    step.state_ok = loc.searchParams.get('state') === (expectedState ?? null);
    step.iss = loc.searchParams.get('iss');
    // The browser follows the redirect to the app's callback server.
    const cb = await fetch(loc.href, { redirect: 'manual' });
    step.callback_status = cb.status;
    await cb.text();
}

// ------------------------------------------------------------------------------- the provider

class Provider {
    constructor() {
        this._client = undefined;
        this._tokens = undefined;
        this._verifier = undefined;
        this._state = undefined;
        if (opts.client_metadata_url) this.clientMetadataUrl = opts.client_metadata_url;
    }
    get redirectUrl() {
        return redirectUrl;
    }
    get clientMetadata() {
        return {
            client_name: 'Wattle MCP SDK test client',
            redirect_uris: [redirectUrl],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none'
        };
    }
    state() {
        this._state = randomBytes(12).toString('base64url');
        return this._state;
    }
    clientInformation() {
        return this._client;
    }
    saveClientInformation(info) {
        this._client = info;
        summary.registrations.push({ phase: summary.phase, ...info });
    }
    tokens() {
        return this._tokens;
    }
    saveTokens(tokens) {
        this._tokens = tokens;
        summary.tokens.push({ phase: summary.phase, ...tokens });
    }
    async redirectToAuthorization(url) {
        await actAsUser(url, this._state);
    }
    saveCodeVerifier(v) {
        this._verifier = v;
    }
    codeVerifier() {
        if (!this._verifier) throw new Error('No code verifier saved');
        return this._verifier;
    }
    invalidateCredentials(scope) {
        summary.invalidations.push({ phase: summary.phase, scope });
        if (scope === 'all' || scope === 'client') this._client = undefined;
        if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
        if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    }
    saveDiscoveryState(state) {
        // Recorded only (no discoveryState() getter): every auth() discovers afresh.
        summary.discovery.push({
            phase: summary.phase,
            authorization_server_url: state.authorizationServerUrl,
            resource_metadata_url: state.resourceMetadataUrl,
            resource_metadata: state.resourceMetadata,
            authorization_server_metadata: state.authorizationServerMetadata
        });
    }
}

// ------------------------------------------------------------------------------- the flow

const provider = new Provider();

function newTransport() {
    return new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: loggingFetch });
}

function toolResult(r) {
    const text = r.content?.find(c => c.type === 'text')?.text;
    let parsed = null;
    try {
        parsed = JSON.parse(text);
    } catch {
        /* not JSON */
    }
    return { isError: r.isError ?? false, text, parsed };
}

async function whoami(client, echo) {
    return toolResult(await client.callTool({ name: 'whoami', arguments: { echo } }));
}

// Sends a tool call; when the SDK has to (re)authorize interactively it throws UnauthorizedError:
// then the app finishes the authorization with the code the callback received and tries again.
async function callWithAuth(client, transport, echo) {
    try {
        return { result: await whoami(client, echo), reauthorized: false };
    } catch (e) {
        if (!(e instanceof UnauthorizedError)) throw e;
        const cb = pendingCodes.shift();
        if (!cb) throw new Error('UnauthorizedError but the callback received no code');
        await transport.finishAuth(cb.code);
        return { result: await whoami(client, echo), reauthorized: true, unauthorized_error: e.message };
    }
}

let transport;
let client;
let exitCode = 0;
try {
    // 1. The bare URL: 401 -> discovery -> registration -> authorization (the "browser").
    summary.phase = 'connect';
    client = new Client({ name: 'wattle-e2e-mcp-client', version: '1.0.0' });
    transport = newTransport();
    try {
        await client.connect(transport);
        summary.results.first_connect = 'connected without authorization';
    } catch (e) {
        summary.results.first_connect = e instanceof UnauthorizedError ? 'UnauthorizedError' : `${e?.name}: ${e?.message}`;
        if (!(e instanceof UnauthorizedError)) throw e;
    }
    const cb = pendingCodes.shift();
    if (!cb) throw new Error('the callback server received no code');
    summary.phase = 'finish_auth';
    await transport.finishAuth(cb.code);
    await transport.close();

    // 2. Connect again, authorized: a new MCP session through the gateway.
    summary.phase = 'session';
    client = new Client({ name: 'wattle-e2e-mcp-client', version: '1.0.0' });
    transport = newTransport();
    await client.connect(transport);
    summary.session_ids.session = transport.sessionId ?? null;
    summary.results.protocol_version = transport.protocolVersion ?? null;
    const tools = await client.listTools();
    summary.results.tools = tools.tools.map(t => t.name).sort();
    summary.results.whoami = await whoami(client, 'first call');
    summary.results.echo = toolResult(await client.callTool({ name: 'echo', arguments: { text: 'héllo ✓' } }));
    summary.results.whoami_again = await whoami(client, 'second call');

    if (phases.includes('refresh')) {
        // 3. A refresh forced through the SDK's own auth(): tokens and a refresh token are stored,
        //    no code is given, so it refreshes.
        summary.phase = 'refresh';
        const before = provider.tokens();
        const r = await auth(provider, { serverUrl, fetchFn: loggingFetch });
        const after = provider.tokens();
        summary.results.refresh = {
            auth_result: r,
            access_token_changed: before.access_token !== after.access_token,
            refresh_token_changed: before.refresh_token !== after.refresh_token
        };
        summary.results.whoami_after_refresh = await whoami(client, 'after refresh');
        summary.session_ids.after_refresh = transport.sessionId ?? null;
    }

    if (phases.includes('expiry')) {
        // 4. The access token expires; the next call gets the gateway's 401 invalid_token and the
        //    transport refreshes by itself, then retries.
        summary.phase = 'expiry';
        const ttl = Number(provider.tokens().expires_in);
        if (ttl > 0 && ttl <= 30) {
            const issuedAt = Date.now();
            await sleep(ttl * 1000 + 1200);
            summary.results.expiry = { waited_ms: Date.now() - issuedAt, expires_in: ttl };
            const before = provider.tokens();
            summary.results.whoami_after_expiry = (await callWithAuth(client, transport, 'after expiry'));
            summary.results.expiry.access_token_changed = before.access_token !== provider.tokens().access_token;
            summary.session_ids.after_expiry = transport.sessionId ?? null;
        } else {
            summary.results.expiry = { skipped: `expires_in is ${ttl}` };
        }
    }

    if (phases.includes('reregister') && summary.mode === 'dcr') {
        // 5. The registration disappears (the app deletes it, as an admin's `wattle client remove`
        //    would); the SDK must register again on invalid_client and authorize again.
        summary.phase = 'reregister';
        const reg = summary.registration_responses.at(-1)?.body;
        const del = await loggingFetch(reg.registration_client_uri, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${reg.registration_access_token}` }
        });
        await del.body?.cancel();
        summary.results.registration_delete_status = del.status;
        const oldClient = provider.clientInformation().client_id;
        const r = await callWithAuth(client, transport, 'after re-registration');
        summary.results.whoami_after_reregister = r;
        summary.results.reregistered = {
            old_client_id: oldClient,
            new_client_id: provider.clientInformation()?.client_id ?? null
        };
        summary.session_ids.after_reregister = transport.sessionId ?? null;
    }

    if (phases.includes('terminate')) {
        summary.phase = 'terminate';
        const sid = transport.sessionId;
        await transport.terminateSession();
        summary.results.terminate = { session_id: sid, after: transport.sessionId ?? null };
    }
    summary.phase = 'done';
} catch (e) {
    exitCode = 1;
    summary.failure = { phase: summary.phase, name: e?.name, message: e?.message, code: e?.code, stack: e?.stack };
} finally {
    try {
        await client?.close();
    } catch {
        /* closing is best effort */
    }
    callbackServer.close();
}
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(exitCode);
