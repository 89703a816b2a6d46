// Drives Wattle's authorization-code flow with oauth4webapi (panva), a strict third-party
// OAuth 2 client: discovery (RFC 8414), PKCE S256, the authorization response checked with
// validateAuthResponse (state and RFC 9207 iss), the code exchange, a refresh and a
// revocation. The login + consent page is handled like a browser: fetched, its form parsed
// with node-html-parser, posted back with the cookies the server set.
//
// usage: node flow.mjs ISSUER CLIENT_ID SECRET|- REDIRECT_URI USERNAME PASSWORD [SCOPE]
// Prints one JSON document on stdout describing every step; exits 0 when it could run the
// steps (the caller asserts on the document), 2 on an unexpected failure (message on stderr).

import * as oauth from 'oauth4webapi';
import { parse } from 'node-html-parser';

const [issuerArg, clientId, secretArg, redirectUri, username, password, scopeArg] =
  process.argv.slice(2);
if (!password) {
  console.error('usage: node flow.mjs ISSUER CLIENT_ID SECRET|- REDIRECT_URI USERNAME PASSWORD [SCOPE]');
  process.exit(2);
}
const scope = scopeArg || 'read:assets write:assets';
const secret = secretArg === '-' ? null : secretArg;
const insecure = { [oauth.allowInsecureRequests]: true }; // the loopback issuer is http://
const issuer = new URL(issuerArg);
const out = { library: 'oauth4webapi', client: secret ? 'client_secret_basic' : 'none' };

// ---------------------------------------------------------------- a tiny browser

const jar = new Map(); // name -> { value, path }

function pathMatch(reqPath, cookiePath) {
  if (reqPath === cookiePath) return true;
  return reqPath.startsWith(cookiePath) &&
    (cookiePath.endsWith('/') || reqPath[cookiePath.length] === '/');
}

function cookieHeader(url) {
  const p = new URL(url).pathname;
  return [...jar].filter(([, c]) => pathMatch(p, c.path)).map(([n, c]) => `${n}=${c.value}`)
    .join('; ');
}

function absorb(url, res) {
  for (const sc of res.headers.getSetCookie()) {
    const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    let path = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
    let maxAge = null;
    for (const a of attrs) {
      const [k, v] = a.split('=');
      if (k.toLowerCase() === 'path' && v && v.startsWith('/')) path = v;
      if (k.toLowerCase() === 'max-age') maxAge = Number(v);
    }
    if (maxAge !== null && maxAge <= 0) jar.delete(name);
    else jar.set(name, { value, path });
  }
}

async function browse(url, init = {}) {
  const headers = new Headers(init.headers || {});
  const c = cookieHeader(url);
  if (c) headers.set('cookie', c);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  absorb(url, res);
  return res;
}

function consentForm(html) {
  const root = parse(html);
  const forms = root.querySelectorAll('form')
    .filter((f) => f.querySelectorAll('button').some((b) => b.getAttribute('name') === 'decision'));
  if (forms.length !== 1) throw new Error(`expected one consent form, found ${forms.length}`);
  const f = forms[0];
  const fields = [];
  for (const i of f.querySelectorAll('input')) {
    const name = i.getAttribute('name');
    if (name) fields.push([name, i.getAttribute('value') ?? '', (i.getAttribute('type') || 'text').toLowerCase()]);
  }
  return { action: f.getAttribute('action'), method: (f.getAttribute('method') || 'get').toLowerCase(), fields };
}

// Opens the authorization URL and answers the page with decision; returns the redirect URL.
async function authorize(authUrl, decision) {
  const page = await browse(authUrl.href);
  const step = { page_status: page.status, page_content_type: page.headers.get('content-type') };
  if (page.status !== 200) throw new Error(`the authorization page answered ${page.status}`);
  const form = consentForm(await page.text());
  step.form_method = form.method;
  step.form_action = form.action;
  step.form_fields = form.fields.map(([n, , t]) => `${n}:${t}`);
  const body = new URLSearchParams();
  for (const [n, v] of form.fields) {
    if (n === 'username') body.append(n, username);
    else if (n === 'password') body.append(n, password);
    else body.append(n, v);
  }
  body.append('decision', decision);
  const res = await browse(new URL(form.action, page.url || authUrl).href, {
    method: 'POST', body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  step.post_status = res.status;
  step.location = res.headers.get('location');
  return step;
}

// ---------------------------------------------------------------- the flow

async function main() {
  const discovery = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  const as = await oauth.processDiscoveryResponse(issuer, discovery);
  out.discovery = {
    issuer: as.issuer,
    authorization_endpoint: as.authorization_endpoint,
    token_endpoint: as.token_endpoint,
    revocation_endpoint: as.revocation_endpoint,
    code_challenge_methods_supported: as.code_challenge_methods_supported,
    authorization_response_iss_parameter_supported: as.authorization_response_iss_parameter_supported,
  };
  const client = { client_id: clientId };
  const clientAuth = secret ? oauth.ClientSecretBasic(secret) : oauth.None();

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const state = oauth.generateRandomState();
  const authUrl = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope,
    code_challenge: codeChallenge, code_challenge_method: 'S256', state,
  })) authUrl.searchParams.set(k, v);

  out.authorize = await authorize(authUrl, 'allow');
  const callback = new URL(out.authorize.location);
  const params = oauth.validateAuthResponse(as, client, callback, state); // checks iss + state
  out.authorize.validated = true;
  out.authorize.iss = callback.searchParams.get('iss');

  const tokenRes = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, redirectUri, codeVerifier, insecure);
  out.token_http = { status: tokenRes.status, cache_control: tokenRes.headers.get('cache-control'),
                     pragma: tokenRes.headers.get('pragma') };
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenRes);
  out.token = { token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope,
                access_token: tokens.access_token, refresh_token: tokens.refresh_token };

  const refreshRes = await oauth.refreshTokenGrantRequest(
    as, client, clientAuth, tokens.refresh_token, insecure);
  const refreshed = await oauth.processRefreshTokenResponse(as, client, refreshRes);
  out.refresh = { token_type: refreshed.token_type, expires_in: refreshed.expires_in,
                  scope: refreshed.scope, access_token: refreshed.access_token,
                  refresh_token: refreshed.refresh_token };

  const revokeRes = await oauth.revocationRequest(
    as, client, clientAuth, refreshed.refresh_token, insecure);
  out.revoke = { status: revokeRes.status };
  await oauth.processRevocationResponse(revokeRes);
  out.revoke.ok = true;

  // the revoked grant's refresh token is now refused with an error the library understands
  const again = await oauth.refreshTokenGrantRequest(
    as, client, clientAuth, refreshed.refresh_token, insecure);
  try {
    await oauth.processRefreshTokenResponse(as, client, again);
    out.refresh_after_revoke = { error: null };
  } catch (e) {
    out.refresh_after_revoke = { error: e.error ?? null, status: e.status ?? again.status,
                                 name: e.name, description: e.error_description ?? null };
  }

  // a denial (prompt=consent: the stored grant would skip the page): an error response the
  // library validates (iss and state on errors too)
  const denyState = oauth.generateRandomState();
  authUrl.searchParams.set('state', denyState);
  authUrl.searchParams.set('prompt', 'consent');
  const deny = await authorize(authUrl, 'deny');
  out.deny = { post_status: deny.post_status, location: deny.location };
  try {
    oauth.validateAuthResponse(as, client, new URL(deny.location), denyState);
    out.deny.error = null;
  } catch (e) {
    out.deny.error = e.error ?? null;
    out.deny.name = e.name;
    out.deny.message = e.message;
  }
}

main().then(
  () => { process.stdout.write(JSON.stringify(out) + '\n'); },
  (e) => {
    out.failure = { name: e.name, message: e.message, code: e.code ?? null,
                    cause: e.cause ? String(e.cause?.message ?? e.cause) : null };
    process.stdout.write(JSON.stringify(out) + '\n');
    console.error(e);
    process.exit(2);
  },
);
