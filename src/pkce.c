/* pkce.c — PKCE S256 (pkce.h). */
#include <stdint.h>

#include "crypto.h"
#include "pkce.h"

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool pkce_verifier_valid(const char *v, size_t len)
{
    if (!v || len < PKCE_VERIFIER_MIN || len > PKCE_VERIFIER_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!unreserved((unsigned char)v[i]))
            return false;
    return true;
}

bool pkce_challenge_valid(const char *c, size_t len)
{
    uint8_t raw[32];
    /* b64url_decode refuses foreign characters and non-canonical trailing bits. */
    return c && len == PKCE_CHALLENGE_LEN && b64url_decode(c, len, raw, sizeof raw) == 32;
}

bool pkce_verify(const char *verifier, size_t vlen, const char *challenge, size_t clen)
{
    if (!pkce_verifier_valid(verifier, vlen) || !pkce_challenge_valid(challenge, clen))
        return false;
    uint8_t digest[32];
    char enc[B64URL_LEN(32) + 1];
    crypto_sha256(verifier, vlen, digest);
    b64url_encode(digest, sizeof digest, enc);
    return crypto_equal(enc, challenge, PKCE_CHALLENGE_LEN);
}
