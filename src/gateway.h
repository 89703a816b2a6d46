/* gateway.h — the protocol rules of the bearer gateway, forward-auth and userinfo (SPEC §5),
 * without any HTTP server type, so they are unit-tested on their own:
 *   - building RFC 6750 / RFC 9728 WWW-Authenticate challenges;
 *   - parsing one Authorization header value (RFC 6750 §2.1);
 *   - resolving a resource's scopes_required for a request method;
 *   - the audience rule (SPEC §3: scheme/host case and one trailing slash don't matter);
 *   - spotting a token sent in the query string;
 *   - removing Wattle's own cookies from a Cookie header before proxying;
 *   - choosing the configured resource of a forward-auth request from its host and path.
 * Pure: no I/O, no allocation (callers pass the output buffers), no global state. The http
 * layer (http_resource.c) owns the requests, the store reads and the responses. */
#ifndef WATTLE_GATEWAY_H
#define WATTLE_GATEWAY_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "app.h"
#include "status.h"

/* ---- challenges ---- */

/* The parameters of one `WWW-Authenticate: Bearer …` challenge. NULL (or "" for scope) leaves a
 * parameter out; realm is always written (NULL is written as ""). */
typedef struct {
    const char *realm;
    const char *resource_metadata; /* RFC 9728 §5.1 */
    const char *scope;             /* space-separated; omitted when NULL or empty */
    const char *error;             /* "invalid_request", "invalid_token", "insufficient_scope" */
    const char *error_description;
} gw_challenge;

/* Writes the challenge into out (cap bytes, NUL-terminated, truncated if too small — out may be
 * NULL when cap is 0) and returns the full length it needs without the NUL, like snprintf.
 * Order: realm, resource_metadata, scope, error, error_description — each at most once, as
 * name="value" separated by ", ", with '"' and '\' escaped by '\' and control characters
 * (which a header may not carry) written as spaces. Example:
 *   Bearer realm="Wattle", resource_metadata="https://as/.well-known/oauth-protected-resource/mcp",
 *   scope="read:assets", error="invalid_token", error_description="the access token has expired" */
size_t gw_challenge_format(const gw_challenge *c, char *out, size_t cap);

/* ---- the Authorization header ---- */

enum gw_auth {
    GW_AUTH_BEARER,    /* a well-formed Bearer credential: *tok / *toklen set */
    GW_AUTH_OTHER,     /* another scheme (Basic, DPoP, …): treated as no bearer token at all */
    GW_AUTH_MALFORMED, /* "Bearer" with an empty or malformed token: *why says what */
};

/* Parses one Authorization header value. The scheme is compared case-insensitively; it is
 * followed by one or more spaces (RFC 6750 §2.1 `"Bearer" 1*SP b64token`) and then exactly one
 * b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Anything after it
 * (a second word, a comma, a tab, control characters) makes it malformed; so does "Bearer"
 * alone. Trailing spaces are tolerated (h2o trims them anyway). Whether the b64token is a Wattle
 * access token (`oat_…`) is the caller's check (token_parse). */
enum gw_auth gw_bearer_parse(const char *v, size_t len, const char **tok, size_t *toklen,
                             const char **why);

/* ---- scopes_required ---- */

#define GW_SCOPES_MAX 8448 /* 64 scopes of up to 128 bytes, spaces and NUL */

/* The scopes a request with this method needs, space-separated, into out (cap bytes).
 * `sr` is a config_resource's scopes_required:
 *   - an array: the same scopes for every method;
 *   - an object from upper-case method to array: the method's own list; a HEAD not listed uses
 *     GET's; a method not listed uses the "*" key's list when there is one, and otherwise
 *     requires no scope (a valid token for the resource is still required).
 * NULL sr requires nothing. The method is matched exactly (HTTP methods are case-sensitive).
 * WT_OK (out is "" when nothing is required), WT_TOOBIG when out is too small, WT_INVALID when
 * sr has an unexpected shape (config.c prevents that). */
wt_status gw_required_scopes(const json_t *sr, const char *method, size_t mlen, char *out,
                             size_t cap);

/* The first space-separated token of `want` missing from `have`: true and *miss and *misslen set
 * when one is missing, false when `have` covers `want`. */
bool gw_missing_scope(const char *have, const char *want, const char **miss, size_t *misslen);

/* ---- audience ---- */

/* True when the token's resource (as stored) names the resource whose normalised identifier is
 * resource_norm (metadata.c's resource_normalize form): scheme and host compared without case,
 * one trailing slash ignored. An empty or NULL token resource never matches. */
bool gw_audience_matches(const char *token_resource, const char *resource_norm);

/* ---- query string ---- */

/* True when the query string q[0..len) (without the '?') has a parameter named access_token
 * (the name percent-decoded, '+' as space), with or without a value. */
bool gw_query_has_access_token(const char *q, size_t len);

/* ---- cookies ---- */

/* True when a cookie name is one of Wattle's own: it starts with "wattle_" (wattle_session,
 * wattle_bid, …), optionally behind the "__Host-" or "__Secure-" prefix. */
bool gw_is_wattle_cookie(const char *name, size_t len);

/* Copies the Cookie header value in[0..len) to out (which must hold 2 * len bytes: the "; "
 * separators may be longer than the original ones) without
 * Wattle's cookies, keeping the others in order, joined by "; ". Returns the new length (0
 * when no cookie is left). */
size_t gw_strip_cookies(const char *in, size_t len, char *out);

/* ---- forward-auth ---- */

/* The host name of a Host / X-Forwarded-Host value: the first element of a comma list, without
 * port, surrounding spaces or the brackets of an IPv6 literal. Sets *h and *hlen (0 if empty). */
void gw_host_name(const char *v, size_t len, const char **h, size_t *hlen);

/* The index of the configured resource a forward-auth request is for, or -1. `path` is the
 * original request's path (no query; dot segments already resolved). A resource is a candidate
 * when the path of its identifier (`resource`, e.g. https://api.example.com/v1 → /v1; the
 * identifier's origin alone matches every path) is a segment prefix of `path`, and — when
 * `host` is given (hlen > 0) — its identifier's host name equals `host` without case (ports
 * are not compared: a proxy's $host carries none). The longest identifier path wins; among equal
 * ones, the first configured. Without a host, the path alone decides. */
ssize_t gw_match_resource(const app *a, const char *host, size_t hlen, const char *path,
                          size_t plen);

#endif
