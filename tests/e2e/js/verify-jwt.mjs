// verify-jwt.mjs — verifies a JWT with the `jose` library, independently of Wattle's own code.
// Used by tests/e2e/test_introspect.py for RFC 9701 signed introspection responses.
//
//   node verify-jwt.mjs --jwks-url URL --issuer ISS --audience AUD [--typ TYP] < token
//
// Fetches the JWKS from URL (createRemoteJWKSet: the key is picked by the header's kid),
// accepts only ES256, checks typ, iss and aud, and prints {"protectedHeader", "payload"} as one
// JSON line on stdout. On failure prints {"error", "code"} and exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

function args(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ['jwks-url', 'issuer', 'audience'])
    if (!out[k]) throw new Error(`--${k} is required`);
  return out;
}

async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').trim();
}

try {
  const a = args(process.argv);
  const jwt = await stdin();
  const jwks = createRemoteJWKSet(new URL(a['jwks-url']), { cacheMaxAge: 0, cooldownDuration: 0 });
  const opts = { issuer: a.issuer, audience: a.audience, algorithms: ['ES256'] };
  if (a.typ) opts.typ = a.typ;
  const { payload, protectedHeader } = await jwtVerify(jwt, jwks, opts);
  process.stdout.write(JSON.stringify({ protectedHeader, payload }) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message || e), code: e && e.code || null }) + '\n');
  process.exit(1);
}
