/* keys.h — the server's signing keys: ES256 (P-256) keys kept in STORE_DB_SECRETS, published as
 * a JWKS (RFC 7517) and used to sign compact JWS with OpenSSL directly (libjwt cannot write a
 * `typ` other than "JWT", PLATFORM.md §6; RFC 9701 needs "token-introspection+jwt").
 *
 * Store layout (STORE_DB_SECRETS):
 *   "sigkey:<kid>" -> compact JSON {"kid", "alg":"ES256", "created", "active", "retires_at",
 *                     "pem"}: the private key as unencrypted PKCS#8 PEM (like every server
 *                     secret, it lives in the store so a CLI rotation reaches the running
 *                     server). kid is the RFC 7638 thumbprint of the public key. "retires_at"
 *                     is 0 for the active key; a retired key stays published until then.
 *   "sigkeys_gen"  -> u64 (8 bytes, little-endian): bumped by every change of the key set.
 *
 * Exactly one key is active (signs); retired keys are published (JWKS) until retires_at and
 * purged by the next change after it. keys_retire_after() says how long: see there.
 *
 * The running server keeps the parsed keys in a keyring_cache. Before each use (a JWKS or a
 * signed-introspection request) keyring_cache_get reads "sigkeys_gen" in the request's read
 * transaction (one get) and reloads the keyring when it changed — that is how a `wattle keys
 * rotate` of another process reaches the server from its next request (SPEC §1) — or when a
 * retired key's time has passed. A loaded keyring is immutable and reference-counted: the
 * cache swaps its pointer under a mutex and a thread holding the old one keeps using it until
 * it releases it; no keyring is ever modified while shared, so there are no data races.
 * EVP_PKEYs are only read once loaded (OpenSSL allows concurrent signing with one key). */
#ifndef WATTLE_KEYS_H
#define WATTLE_KEYS_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

#define KEYS_KID_LEN 43 /* base64url of a SHA-256 thumbprint */
#define KEYS_MIN_RETIRE 86400

typedef struct keyring keyring;
typedef struct keyring_cache keyring_cache;

/* How long a key stays published after a rotation retires it: max(access_token_ttl, 1 day).
 * It signed introspection JWTs, which a resource server verifies on receipt and may keep for
 * at most the introspected token's life (RFC 7662 §4 caching); a day also covers JWKS caches
 * (JWKS responses say max-age=300) and clock skew generously. */
int64_t keys_retire_after(int64_t access_token_ttl);

/* ---- store operations ---- */

/* At start-up (before the writer starts; its own write transaction): creates the first key
 * when there is no active one, and purges retired keys whose time has passed. `now` in
 * seconds. WT_OK, WT_ECRYPTO, WT_ESTORE. */
wt_status keys_ensure(store *s, int64_t now);
/* The store_run_fn-style body of keys_ensure, for use inside an existing write transaction. */
wt_status keys_ensure_txn(store_txn *t, int64_t now);

/* Inside a write transaction: generates a new active key; the previously active one(s) retire
 * at now + retire_after (published until then); keys already past their time are purged.
 * kid_out (KEYS_KID_LEN + 1 bytes, may be NULL) gets the new kid. WT_OK, WT_ECRYPTO, WT_ESTORE,
 * or WT_TOOBIG (nothing changed) when 63 keys are still published. */
wt_status keys_rotate(store_txn *t, int64_t now, int64_t retire_after, char *kid_out);

/* The key set for administrators, newest first: [{"kid", "alg", "kty", "crv", "created",
 * "active", "retires_at" (absent for the active key), "published"}] — never private material.
 * *out is a new array (caller decrefs). WT_OK, WT_NOMEM, WT_ESTORE. */
wt_status keys_list(store_txn *t, int64_t now, json_t **out);

/* ---- the parsed key set ---- */

/* Loads every published key of the store (read or write txn). A store without keys gives an
 * empty keyring (an empty JWKS; signing fails). NULL on a store or memory failure (logged).
 * The result has one reference: keyring_release it. */
keyring *keys_load(store_txn *t, int64_t now);
/* Drops a reference; frees at zero. NULL-safe. */
void keyring_release(keyring *k);
/* The published keys as a JWKS document {"keys":[…]} (pre-serialised, owned by k). */
const char *keyring_jwks(const keyring *k, size_t *len);
/* The active key's kid (owned by k), or NULL when there is none. */
const char *keyring_kid(const keyring *k);
/* Signs a compact JWS with the active key: header {"alg":"ES256","kid":…,"typ":typ} written by
 * jansson (typ NULL: no typ; otherwise any UTF-8 string), payload as given (base64url-encoded
 * here), signature R||S (64 bytes). Returns a malloc'd NUL-terminated string (caller frees), or
 * NULL on failure. */
char *keyring_sign_jws(const keyring *k, const char *typ, const char *payload, size_t plen);

/* ---- the server's cache of the current keyring ---- */

keyring_cache *keyring_cache_new(void);
/* NULL-safe. Every keyring handed out must have been released. */
void keyring_cache_free(keyring_cache *c);
/* The current keyring, checked against the store's generation record in t (one get; a reload
 * when it changed or a retired key expired). *out gets a reference the caller releases with
 * keyring_release (it stays valid after t ends: nothing in it points into the store). WT_OK,
 * or WT_ESTORE when the store cannot be read or the keys cannot be parsed. */
wt_status keyring_cache_get(keyring_cache *c, store_txn *t, int64_t now, keyring **out);

#endif
