/* assertion.h — private_key_jwt client assertions (RFC 7523 §2.2, RFC 7521 §4.2): verifying a
 * compact JWS against the client's registered JWKS, checking its claims, and the jti replay
 * guard in STORE_DB_JTI.
 *
 * Owns: the JWS parsing (3 base64url segments, size caps), the algorithm table, JWK import
 * (OpenSSL only: EVP_PKEY_fromdata / raw Ed25519; libjwt is not used, see assertion.c), the
 * signature check (EVP_DigestVerify), the claim rules and the jti record format. It does not
 * know HTTP, form parameters or which client methods a registration allows (clientauth.c).
 *
 * Key selection: a header kid selects the registered key with that kid (when no key has it,
 * the keys registered without a kid are tried); without a kid every key is tried. Only keys
 * whose pinned algorithm equals the header's alg are used.
 *
 * Algorithms: ES256 (EC P-256), RS256 and PS256 (RSA, 2048..8192 bits), EdDSA/Ed25519 (OKP
 * Ed25519). The algorithm is pinned by the key, never chosen by the token: a JWK's "alg" when
 * present, else EC P-256 → ES256, RSA → RS256, OKP Ed25519 → EdDSA. The header's alg must equal
 * it. "none", HS* and everything else are refused.
 *
 * Claims: iss == sub == the client_id; aud (a string or an array) contains one of the
 * acceptable audiences; exp required, not past (ASSERTION_LEEWAY), and at most
 * ASSERTION_MAX_LIFETIME (+ leeway) ahead; nbf and iat, when present, not in the future beyond
 * the leeway; jti required, 1..ASSERTION_JTI_MAX bytes. Header: typ absent, "JWT" or
 * "client-authentication+jwt" (draft-ietf-oauth-rfc7523bis; an "application/" prefix allowed,
 * case-insensitive); "crit" refused. Duplicate JSON member names are refused.
 *
 * Descriptions written into `why` never quote the assertion or any value from it. */
#ifndef WATTLE_ASSERTION_H
#define WATTLE_ASSERTION_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "store.h"

#define ASSERTION_TYPE_JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_MAX_LEN 8192     /* the compact JWS, bytes */
#define ASSERTION_JTI_MAX 256      /* bytes */
#define ASSERTION_LEEWAY 30        /* seconds of clock skew tolerated on exp, nbf, iat */
#define ASSERTION_MAX_LIFETIME 600 /* exp may be at most this far ahead (+ leeway) */
#define ASSERTION_MAX_KEYS 16      /* keys in a client's JWKS */
#define ASSERTION_MAX_AUD 16       /* entries of an aud array */

/* What the assertion must satisfy. */
typedef struct {
    const char *client_id;        /* the expected iss and sub */
    const json_t *jwks;           /* the client's registered {"keys":[…]} */
    const char *const *audiences; /* NULL-terminated list of acceptable aud values */
    int64_t now;                  /* seconds since the epoch */
} assertion_check;

/* What a verified assertion yields. */
typedef struct {
    char jti[ASSERTION_JTI_MAX + 1];
    int64_t exp;
    int64_t keep_until; /* exp + ASSERTION_LEEWAY: how long its jti must be remembered */
    char alg[8];        /* the verified algorithm ("ES256", …) */
} assertion_result;

/* Verifies the compact JWS jwt[0..len) (not necessarily NUL-terminated). WT_OK with *out
 * filled; WT_DENIED when it is refused (malformed, unsupported or mismatched algorithm, no
 * usable key, bad signature, a claim fails), with a one-line reason in why; WT_NOMEM or
 * WT_ECRYPTO (logged) when the verifier itself failed. Does not consult the store: the caller
 * checks and records the jti (assertion_jti_seen / assertion_record_jti). */
wt_status assertion_verify(const char *jwt, size_t len, const assertion_check *chk,
                           assertion_result *out, char *why, size_t whylen);

/* The unverified "sub" claim of jwt[0..len) copied into out (capacity cap): which client the
 * assertion claims to be, to look up its keys. Trust nothing else about it until
 * assertion_verify succeeds. WT_OK, or WT_DENIED (malformed, no string sub, too long) with why. */
wt_status assertion_peek_subject(const char *jwt, size_t len, char *out, size_t cap, char *why,
                                 size_t whylen);

/* Registration-time check of a client's JWKS (CLI --jwks, dynamic registration): an object
 * {"keys":[…]} with 1..ASSERTION_MAX_KEYS keys, each importable by the rules above (supported
 * kty/crv/alg, "use" absent or "sig", RSA >= 2048 bits, an on-curve point), no private members
 * (d, p, q, dp, dq, qi, oth, k) and no kid used twice. WT_OK, or WT_INVALID with why naming
 * the key (by index) and the problem. */
wt_status assertion_jwks_check(const json_t *jwks, char *why, size_t whylen);

/* ---- the jti replay guard (STORE_DB_JTI) ----
 * Key: client_id NUL SHA-256(jti) (32 bytes; client ids are at most 400 bytes, so the key
 * always fits STORE_MAX_KEY whatever the jti). Value: keep_until, 8 bytes little-endian
 * (seconds, records.h until_encode). gc purges a record once keep_until <= now (until_passed). A
 * jti is refused while its record exists, even past keep_until (then the assertion has expired
 * too). */

/* Read path (any transaction): WT_EXISTS when (client_id, jti) was recorded, WT_NOTFOUND when
 * not, WT_ESTORE. */
wt_status assertion_jti_seen(store_txn *t, const char *client_id, const char *jti);

/* Write path (inside a writer op): records (client_id, jti) with STORE_NOOVERWRITE. WT_OK when
 * recorded — and also when jti is NULL (nothing to record, so ops call it unconditionally) —,
 * WT_EXISTS on a replay (the op should refuse with invalid_client and still return WT_OK so
 * its other effects, if any, commit), WT_INVALID for an empty or oversize client_id,
 * WT_ESTORE. */
wt_status assertion_record_jti(store_txn *t, const char *client_id, const char *jti,
                               int64_t keep_until);

/* A store_run_fn for callers with no other write to do (introspection, a revocation that
 * changes nothing): records the jti; a replay sets `replayed` and returns WT_OK. Restartable
 * (store.h). */
typedef struct {
    const char *client_id, *jti;
    int64_t keep_until;
    bool replayed; /* out */
} assertion_jti_op;
wt_status assertion_record_op(store_txn *t, void *arg /* assertion_jti_op */);

#endif
