// server.mjs — the peer that tests/bench/peer/peer.sh measures: node oidc-provider (9.13.x, pinned
// in package-lock.json), in-memory storage, on 127.0.0.1:PORT. Not part of Wattle.
//
//   node tests/bench/peer/server.mjs PORT [--seed-access N] [--seed-codes N] [--seed-refresh N]
//                                         [--seed-revoke N] [--out DIR]
//
// Before it listens, it mints the single-use artifacts the benchmark scenarios consume, through
// oidc-provider's own models (Grant, AccessToken, AuthorizationCode, RefreshToken,
// ClientCredentials; each .save() goes through the adapter exactly as a token the server issues
// does), and writes them one per line to DIR/access.txt, codes.txt, refresh.txt and revoke.txt,
// and the credentials to DIR/bench.env (shell syntax, the names seed.c's bench.env uses). Then it
// prints "ready" on stderr and serves. Nothing is logged per request.
//
// Storage: a plain Map adapter (below). oidc-provider's built-in MemoryAdapter is an LRU capped
// at 1000 entries (lib/adapters/memory_adapter.js), so it would evict the seeded pools and the
// tokens it issues under load; a Map keeps everything until it expires, as a store would.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import Provider, { errors } from 'oidc-provider';

// ------------------------------------------------------------------ arguments

const argv = process.argv.slice(2);
const port = Number(argv[0]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: server.mjs PORT [--seed-access N] [--seed-codes N] [--seed-refresh N] [--seed-revoke N] [--out DIR]\n');
  process.exit(2);
}
const opt = { 'seed-access': 0, 'seed-codes': 0, 'seed-refresh': 0, 'seed-revoke': 0, out: null };
for (let i = 1; i < argv.length; i += 2) {
  const k = argv[i].replace(/^--/, '');
  if (!(k in opt) || argv[i + 1] === undefined) {
    process.stderr.write(`server.mjs: unknown or incomplete option ${argv[i]}\n`);
    process.exit(2);
  }
  opt[k] = k === 'out' ? argv[i + 1] : Number(argv[i + 1]);
}
const seeding = opt['seed-access'] + opt['seed-codes'] + opt['seed-refresh'] + opt['seed-revoke'] > 0;
if (seeding && !opt.out) {
  process.stderr.write('server.mjs: --out DIR is required with --seed-*\n');
  process.exit(2);
}

// ------------------------------------------------------------------ fixed bench values

const ISSUER = `http://127.0.0.1:${port}`;
// The one resource server: access tokens are opaque and carry it as their audience.
const RESOURCE = 'https://api.bench.example/';
const RESOURCE_SCOPE = 'read:assets';
const REDIRECT_URI = 'https://app.bench.example/callback';
// The PKCE verifier seed.c uses (52 characters of the unreserved set).
const VERIFIER = 'bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz';
const CHALLENGE = crypto.hash('sha256', VERIFIER, 'base64url');
const ACCOUNT = 'bench';
const secret = () => crypto.randomBytes(32).toString('base64url');
const APP = { id: 'bench-app', secret: secret() };
const RS = { id: 'bench-rs', secret: secret() };

// ------------------------------------------------------------------ storage: a plain Map

const store = new Map(); // "Model:id" -> { payload, exp (ms epoch or Infinity) }
const byGrant = new Map(); // grantId -> Set of "Model:id" (for revokeByGrantId)
const byUid = new Map(); // session uid -> id
const byUserCode = new Map(); // device user code -> id
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  static live(key) {
    const e = store.get(key);
    if (!e) return undefined;
    if (e.exp <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e.payload;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const exp = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { payload, exp });
    if (grantable.has(this.model) && payload.grantId) {
      let s = byGrant.get(payload.grantId);
      if (!s) byGrant.set(payload.grantId, (s = new Set()));
      s.add(key);
    }
    if (this.model === 'Session' && payload.uid) byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
  }

  async find(id) {
    return MapAdapter.live(this.key(id));
  }

  async findByUid(uid) {
    const id = byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const p = MapAdapter.live(this.key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const e = store.get(key);
    store.delete(key);
    if (e?.payload.grantId) byGrant.get(e.payload.grantId)?.delete(key);
  }

  async revokeByGrantId(grantId) {
    const s = byGrant.get(grantId);
    if (!s) return;
    for (const key of s) store.delete(key);
    byGrant.delete(grantId);
  }
}

// ------------------------------------------------------------------ the provider

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };

const resourceServerInfo = {
  scope: RESOURCE_SCOPE,
  audience: RESOURCE,
  accessTokenFormat: 'opaque',
  accessTokenTTL: 3600,
};

const configuration = {
  adapter: MapAdapter,
  jwks: { keys: [jwk] },
  cookies: { keys: [secret()] },
  clients: [
    {
      client_id: APP.id,
      client_secret: APP.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
    },
    {
      // the resource server: authenticates to the introspection endpoint, nothing else
      client_id: RS.id,
      client_secret: RS.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // the resource server may introspect any token, a client only its own
      allowedPolicy: async (ctx, client, token) => client.clientId === RS.id || client.clientId === token.clientId,
    },
    revocation: { enabled: true }, // default policy: a client revokes only its own tokens
    resourceIndicators: {
      enabled: true,
      // client_credentials requests carry no resource parameter: the token is for RESOURCE
      defaultResource: async (ctx, client, oneOf) => oneOf || RESOURCE,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator === RESOURCE) return resourceServerInfo;
        throw new errors.InvalidTarget();
      },
    },
  },
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  rotateRefreshToken: true, // every refresh_token grant consumes the token and issues a new one
  // refresh tokens come with the code exchange whenever the client may use them (as in Wattle),
  // not only for the offline_access scope; tokens do not end with a browser session
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
    PreAuthorizedCode: 600,
  },
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;
// Koa's default error handler prints server errors; keep them (they are not per-request noise
// unless something is broken), but nothing else is logged.

// ------------------------------------------------------------------ seeding

async function seed() {
  fs.mkdirSync(opt.out, { recursive: true });
  const client = await provider.Client.find(APP.id);
  const rs = () => new provider.ResourceServer(RESOURCE, resourceServerInfo);
  const newGrant = async () => {
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: APP.id });
    grant.addResourceScope(RESOURCE, RESOURCE_SCOPE);
    return grant.save();
  };
  const write = async (file, n, mint) => {
    const lines = new Array(n);
    for (let i = 0; i < n; i += 1) lines[i] = await mint();
    fs.writeFileSync(path.join(opt.out, file), n ? `${lines.join('\n')}\n` : '');
  };
  const t0 = Date.now();

  // Access tokens for introspection: each in its own grant, with the user, as a code exchange
  // issues them (seed.c's access tokens are issue_pair's records).
  await write('access.txt', opt['seed-access'], async () => new provider.AccessToken({
    accountId: ACCOUNT,
    client,
    grantId: await newGrant(),
    gty: 'authorization_code',
    expiresWithSession: false,
    resourceServer: rs(),
    scope: RESOURCE_SCOPE,
  }).save());

  // Authorization codes: each in its own grant (one login each), S256 challenge of VERIFIER,
  // the registered redirect URI. They expire in an hour instead of the 60 s a fresh code has,
  // so that the pool outlives the run; nothing else differs from what the authorization
  // endpoint saves.
  await write('codes.txt', opt['seed-codes'], async () => new provider.AuthorizationCode({
    accountId: ACCOUNT,
    client,
    grantId: await newGrant(),
    authTime: Math.floor(Date.now() / 1000),
    expiresWithSession: false,
    scope: RESOURCE_SCOPE,
    resource: RESOURCE,
    redirectUri: REDIRECT_URI,
    codeChallenge: CHALLENGE,
    codeChallengeMethod: 'S256',
    expiresIn: 3600,
  }).save());

  // Refresh tokens: each in its own grant, so rotations never touch the same grant.
  await write('refresh.txt', opt['seed-refresh'], async () => new provider.RefreshToken({
    accountId: ACCOUNT,
    client,
    grantId: await newGrant(),
    gty: 'authorization_code',
    authTime: Math.floor(Date.now() / 1000),
    expiresWithSession: false,
    scope: RESOURCE_SCOPE,
    resource: RESOURCE,
    rotations: 0,
  }).save());

  // Revocable tokens: client_credentials access tokens of the app client (seed.c's revoke pool
  // is tokens_client_credentials too).
  await write('revoke.txt', opt['seed-revoke'], async () => new provider.ClientCredentials({
    client,
    resourceServer: rs(),
  }).save());

  fs.writeFileSync(path.join(opt.out, 'bench.env'), [
    `CLIENT_ID='${APP.id}'`, `CLIENT_SECRET='${APP.secret}'`,
    `RS_ID='${RS.id}'`, `RS_SECRET='${RS.secret}'`,
    `REDIRECT_URI='${REDIRECT_URI}'`, `VERIFIER='${VERIFIER}'`, `CHALLENGE='${CHALLENGE}'`,
    `RESOURCE='${RESOURCE}'`, `SCOPE='${RESOURCE_SCOPE}'`, '',
  ].join('\n'));
  process.stderr.write(`server.mjs: seeded ${opt['seed-access']} access tokens, ${opt['seed-codes']} codes, `
    + `${opt['seed-refresh']} refresh tokens, ${opt['seed-revoke']} revocable tokens in ${Date.now() - t0} ms `
    + `(${store.size} records)\n`);
}

if (seeding) await seed();

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`server.mjs: oidc-provider ${ISSUER} ready (pid ${process.pid})\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
