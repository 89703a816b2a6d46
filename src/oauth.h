/* oauth.h — the OAuth error table and the error_description character rule.
 *
 * Owns: the one table mapping each OAuth error to its wire string and HTTP status (RFC 6749
 * §5.2, RFC 6750 §3.1, RFC 7009, RFC 7591, RFC 8707), and cleaning free text into the
 * characters RFC 6749 allows in error_description. Pure: no I/O, no global mutable state. */
#ifndef WATTLE_OAUTH_H
#define WATTLE_OAUTH_H
#include <stdbool.h>
#include <stddef.h>

enum oauth_error {
    OE_NONE = 0,
    OE_INVALID_REQUEST,
    OE_INVALID_CLIENT,
    OE_INVALID_GRANT,
    OE_UNAUTHORIZED_CLIENT,
    OE_UNSUPPORTED_GRANT_TYPE,
    OE_INVALID_SCOPE,
    OE_INVALID_TARGET,
    OE_UNSUPPORTED_TOKEN_TYPE,
    OE_UNSUPPORTED_RESPONSE_TYPE,
    OE_ACCESS_DENIED,
    OE_SERVER_ERROR,
    OE_TEMPORARILY_UNAVAILABLE,
    OE_INVALID_REDIRECT_URI,
    OE_INVALID_CLIENT_METADATA,
    OE_INVALID_TOKEN,
    OE_INSUFFICIENT_SCOPE,
    OE_SLOW_DOWN,        /* unused */
    OE_LOGIN_REQUIRED,   /* prompt=none and nobody is signed in */
    OE_CONSENT_REQUIRED, /* prompt=none and the request needs the consent page */
    OE_COUNT
};

/* The wire string ("invalid_request", …). Static, never NULL: OE_NONE and out-of-range values
 * give "server_error", so a bug never sends an empty error code. */
const char *oauth_error_code(enum oauth_error e);

/* The HTTP status of a token-endpoint style JSON error response: 400 for most, 401 for
 * invalid_client and invalid_token, 403 for insufficient_scope, 500 for server_error (and for
 * OE_NONE / out-of-range values), 503 for temporarily_unavailable. */
int oauth_error_status(enum oauth_error e);

/* Copies desc into out (capacity outlen, always NUL-terminated when outlen > 0, truncated to
 * fit) keeping only RFC 6749 error_description characters (%x20-21 / %x23-5B / %x5D-7E):
 * '"' and '\\' become '\'', TAB/LF/CR become a space, every other byte outside the set
 * (other controls, DEL, non-ASCII) is dropped. desc NULL gives "". */
void oauth_desc_clean(const char *desc, char *out, size_t outlen);

/* True when every byte of s is in the error_description set (NULL is false). */
bool oauth_desc_valid(const char *s);

#endif
