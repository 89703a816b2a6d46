/* crypto.h — the OpenSSL-backed primitives every other module uses: CSPRNG, SHA-256,
 * HMAC-SHA256, constant-time comparison, base64url, AES-GCM sealing and password hashing.
 * Pure functions: no global state beyond OpenSSL's own. */
#ifndef WATTLE_CRYPTO_H
#define WATTLE_CRYPTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Fills buf with n bytes from the CSPRNG. WT_ECRYPTO on failure (never partial). */
wt_status crypto_random(void *buf, size_t n);

void crypto_sha256(const void *data, size_t len, uint8_t out[32]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                        uint8_t out[32]);

/* Constant-time equality of two n-byte buffers. */
bool crypto_equal(const void *a, const void *b, size_t n);

/* base64url without padding. encode writes b64url_len(n)+1 bytes (NUL-terminated) into out. */
#define B64URL_LEN(n) (((n)*4 + 2) / 3)
void b64url_encode(const void *in, size_t n, char *out);
/* Decodes exactly `len` chars of base64url (no padding, no other chars) into out (capacity
 * outcap). Returns the decoded length, or -1 when malformed or too long. */
long b64url_decode(const char *in, size_t len, uint8_t *out, size_t outcap);
/* True when s[0..len) uses only [A-Za-z0-9_-]. */
bool b64url_charset(const char *s, size_t len);

/* AES-256-GCM: out = iv(12) || ciphertext || tag(16); outcap >= len + 28. Returns the sealed
 * length or -1. open returns the plaintext length or -1 when the tag does not verify. */
long crypto_seal(const uint8_t key[32], const void *in, size_t len, uint8_t *out, size_t outcap);
long crypto_open(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out, size_t outcap);

/* Password hashing: scrypt (N=2^15, r=8, p=1), 16-byte random salt. The encoded form is
 * "scrypt$15$8$1$<b64url salt>$<b64url hash>" (< 128 bytes). Slow on purpose (~80 ms): call
 * off the event loop. */
#define PASSWORD_HASH_MAX 128
wt_status password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX]);
/* WT_OK when it matches, WT_DENIED when not, WT_INVALID for a malformed encoding. When
 * `encoded` is NULL, runs a full-cost hash against a dummy so unknown users cost the same. */
wt_status password_verify(const char *password, size_t len, const char *encoded);

#endif
