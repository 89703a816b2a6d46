/* pkce.h — PKCE (RFC 7636), S256 only (SPEC §3: plain is refused).
 *
 * Owns: the syntax of code_verifier and code_challenge and the S256 check. Deciding which
 * error a missing or wrong parameter becomes is the caller's job. Pure: no I/O, no state. */
#ifndef WATTLE_PKCE_H
#define WATTLE_PKCE_H
#include <stdbool.h>
#include <stddef.h>

#define PKCE_VERIFIER_MIN 43
#define PKCE_VERIFIER_MAX 128
#define PKCE_CHALLENGE_LEN 43 /* base64url of a 32-byte SHA-256, no padding */

/* True when v[0..len) is 43..128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1). NULL: false. */
bool pkce_verifier_valid(const char *v, size_t len);

/* True when c[0..len) can be an S256 challenge: exactly 43 base64url characters in canonical
 * form (the unused low bits of the last character are zero). NULL: false. */
bool pkce_challenge_valid(const char *c, size_t len);

/* True when the verifier is valid and BASE64URL(SHA256(verifier)) equals the challenge; the
 * final comparison is constant-time (crypto_equal). */
bool pkce_verify(const char *verifier, size_t vlen, const char *challenge, size_t clen);

#endif
