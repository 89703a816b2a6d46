/* introspect.h — token introspection (RFC 7662) and its signed form (RFC 9701), as a service:
 * a read transaction, the authenticated caller and a token string in, the response object out.
 * No h2o here; http_introspect.c turns this into responses.
 *
 * Rules (SPEC §2):
 *   - callers are confidential clients registered with the CLI (resource servers);
 *   - access tokens of any audience are described to every such caller: active, scope,
 *     client_id, sub (the user id, or the client id for a client_credentials token), username
 *     (when a user), exp, iat, aud (the resource; absent if none), iss, token_type "Bearer";
 *   - refresh tokens only to the client they were issued to, and only while live (not expired,
 *     not retired by a rotation, grant not revoked): the same members from the grant, exp/iat
 *     of the refresh token itself, and token_type "refresh_token". RFC 7662's token_type names
 *     an access-token type (RFC 6749 §7.1), which a refresh token does not have; "refresh_token"
 *     (the RFC 7009 token-type-hint value) says what it is and, unlike omitting the member,
 *     lets a resource server that checks token_type == "Bearer" refuse a refresh token
 *     presented as an access token;
 *   - everything else (unknown, malformed, expired, revoked, another client's refresh token,
 *     codes, secrets) is exactly {"active":false}. */
#ifndef WATTLE_INTROSPECT_H
#define WATTLE_INTROSPECT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clientauth.h"
#include "status.h"
#include "store.h"

#define INTROSPECT_JWT_TYP "token-introspection+jwt"
#define INTROSPECT_JWT_MEDIA "application/token-introspection+jwt"

typedef struct {
    const char *issuer;
    const char *caller; /* the authenticated caller's client_id */
    int64_t now;        /* seconds */
} introspect_ctx;

/* May this authenticated caller introspect? True for a confidential client registered with
 * the CLI that proved its credentials; false for public, dynamically registered and
 * metadata-document clients (and for a failed authentication). */
bool introspect_caller_allowed(const clientauth *ca);

/* Appends to out the RFC 7662 response for `token` (NUL-terminated, as received) as compact
 * JSON, members in the order listed above. It is written directly (strings escaped), not
 * through a JSON tree: this is the hot path resource servers call on every request. Record
 * strings are used in place and copied once, into out. WT_OK; WT_NOMEM / WT_TOOBIG when out
 * failed; WT_ESTORE when the store failed (the caller answers 503; nothing is claimed about
 * the token). */
wt_status introspect_token(store_txn *t, const introspect_ctx *c, const char *token, buf_t *out);

/* Appends the RFC 9701 claims set {"iss", "aud": caller, "iat": now, "token_introspection":
 * resp} where resp[0..len) is a response from introspect_token. No sub or exp at the top level
 * (RFC 9701 §5: the JWT must not be usable as an access token). WT_OK, or out's failure. */
wt_status introspect_jwt_claims(const introspect_ctx *c, const char *resp, size_t len, buf_t *out);

/* Appends s as a JSON string (quotes included): '"', '\\' and control characters escaped,
 * other bytes (UTF-8) as they are. Errors as buf_add. */
wt_status introspect_json_str(buf_t *out, const char *s);

/* True when an Accept header value asks for application/token-introspection+jwt (with a
 * non-zero q). NULL-safe. */
bool introspect_wants_jwt(const char *accept);

#endif
