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

#include <jansson.h>

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

/* The members of an active token, as the introspection answer and the gateway's echo resource
 * (SPEC: "the introspection field names") both describe it. Strings come from our own records;
 * empty ones (no user, no resource) are left out. */
typedef struct {
    const char *scope, *client_id, *user_id, *username, *resource, *token_type;
    int64_t exp, iat;
} introspect_active;

/* {"active":true, "scope", "client_id", "sub" (the user, else the client), "username" (with a
 * user), "exp", "iat", "aud" (with a resource), "iss", "token_type"} as a new object (the caller
 * decrefs it); NULL when it cannot be built (allocation, or a string that is not UTF-8). */
json_t *introspect_active_json(const char *issuer, const introspect_active *d);

/* May this authenticated caller introspect? True for a confidential client registered with
 * the CLI that proved its credentials; false for public, dynamically registered and
 * metadata-document clients (and for a failed authentication). */
bool introspect_caller_allowed(const clientauth *ca);

/* The RFC 7662 response for `token` (NUL-terminated, as received) in *out: a new jansson
 * object (the caller decrefs it), members in the order listed above. Record strings are used in
 * place and copied once, into the object. WT_OK; WT_NOMEM when the object could not be built
 * (allocation, or a stored string that is not UTF-8); WT_ESTORE when the store failed (the
 * caller answers 503; nothing is claimed about the token). *out is NULL unless WT_OK. */
wt_status introspect_token(store_txn *t, const introspect_ctx *c, const char *token, json_t **out);

/* The RFC 9701 claims set {"iss", "aud": caller, "iat": now, "token_introspection": resp} as a
 * new object that holds its own reference to resp. No sub or exp at the top level (RFC 9701
 * §5: the JWT must not be usable as an access token). NULL when it cannot be built. */
json_t *introspect_jwt_claims(const introspect_ctx *c, json_t *resp);

/* True when an Accept header value asks for application/token-introspection+jwt (with a
 * non-zero q). NULL-safe. */
bool introspect_wants_jwt(const char *accept);

#endif
