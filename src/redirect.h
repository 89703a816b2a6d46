/* redirect.h — the one redirect-URI module (SPEC §3): the registration rule, the matching rule
 * (exact, except the port of loopback URIs, RFC 8252 §7.3), the host shown on the consent page
 * and building the authorization response URI.
 *
 * Owns a small bounded URI splitter (scheme, authority = [userinfo@]host[:port], path, query,
 * fragment) that accepts private-use schemes (h2o_url_parse does not). It does not decide which
 * URIs a client registered (that is the client record) nor which error to send. Pure: no I/O,
 * no global state. */
#ifndef WATTLE_REDIRECT_H
#define WATTLE_REDIRECT_H
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define REDIRECT_URI_MAX 2000       /* bytes, registration and presentation */
#define REDIRECT_LOCATION_MAX 16384 /* cap of what redirect_uri_with_params builds */

/* The registration check. WT_OK, or WT_INVALID with *why (when why is not NULL) set to a static
 * description using only error_description characters. Refused: NULL or empty; longer than
 * REDIRECT_URI_MAX; characters outside RFC 3986 (spaces, controls, non-ASCII, '"', '<', '\\',
 * …) or a malformed %-escape; a relative URI; a fragment (even empty); userinfo; a bad host
 * or port (a port is 1-5 digits <= 65535, never empty); javascript:, data:, vbscript: and
 * file: (any case); http: or https: without a host; http: unless the host is 127.0.0.1,
 * [::1] or localhost. Accepted: https: with any host; loopback http:; every other scheme
 * (private-use schemes of native apps: cursor://cb, com.example.app:/cb, myapp:///cb). */
wt_status redirect_uri_check(const char *uri, const char **why);

/* True when uri passes the splitter and is http: (any case) with host 127.0.0.1, [::1] or
 * localhost (any case), with or without a port, and without userinfo or fragment. */
bool redirect_uri_is_loopback(const char *uri);

/* True when presented matches registered: byte-for-byte equal; or registered is loopback and
 * presented is a well-formed loopback URI whose scheme, host, path and query (including the
 * presence of '?') are byte-for-byte equal to registered's, the ports (present, absent or
 * different) being ignored. NULL never matches. */
bool redirect_uri_match(const char *registered, const char *presented);

/* Writes the host of uri (as written, IP literals with their brackets), or the scheme when
 * the URI has no authority or an empty host (com.example.app:/cb → "com.example.app"), into
 * out, NUL-terminated and truncated to outlen. "" when uri does not parse. For display only:
 * HTML-escape it. */
void redirect_uri_host(const char *uri, char *out, size_t outlen);

/* Builds uri + ('?', or '&' when uri has a non-empty query not ending in '&') + k1=v1&k2=v2…,
 * keys and values percent-encoded (buf_add_urlenc). kv holds 2 * npairs strings (key, value);
 * a pair whose key or value is NULL is skipped. Should uri carry a fragment, the parameters go
 * before it. Returns a malloc'd string (caller frees), or NULL when uri is NULL, on allocation
 * failure, or when the result would exceed REDIRECT_LOCATION_MAX bytes. */
char *redirect_uri_with_params(const char *uri, const char *const *kv, size_t npairs);

#endif
