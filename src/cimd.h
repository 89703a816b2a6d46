/* cimd.h — Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00;
 * MCP 2025-11-25; SPEC §2): a client_id that is an https:// URL names a JSON document, served
 * by the client's developer, that describes the client.
 *
 * Owns: the rules for such a URL (cimd_url_parse), the SSRF address classifier
 * (cimd_addr_forbidden), the blocking fetch with libcurl (cimd_fetch: resolve, check and pin
 * the addresses, https only, hostname verification, no redirects, 5 KB cap, timeout), turning a
 * fetched document into a client document (cimd_client_doc, which applies clients.c's rules
 * through client_build), the cache lifetime (cimd_ttl, cimd_fresh), the writer op that stores
 * a fetched client under the cap on their number (cimd_put) and the rule for purging idle ones
 * (cimd_idle_expired). No HTTP server, no h2o: http_authorize.c runs the fetch on a worker
 * thread, the store op on the writer, and owns the request meanwhile.
 *
 * A fetched client is an ordinary client document in STORE_DB_CLIENTS (so the token endpoint
 * and everything else find it with client_load): client_build's document with source "cimd",
 * client_id = the URL, plus "fetched_at" and "cache_until" (seconds) and, when the document
 * gives them, "client_uri" and "logo_uri". Such clients are public ("none") or use
 * private_key_jwt with the keys in the document's "jwks". Only this module writes client_ids
 * that start with "https://" (CLI and dynamic registrations mint "ocl_…" ids), which is how the
 * cap counts them.
 *
 * Policy decisions:
 *   - client_id URLs are at most CIMD_URL_MAX (400) bytes: client_load refuses longer ids, and
 *     the keys derived from a client_id (consents "user NUL client", index "c:client", jtis)
 *     must fit LMDB's 511-byte key limit;
 *   - a document's "scope" is not a restriction: like dynamic registrations (register.h) the
 *     client may request the whole catalogue and the user's consent is the control;
 *   - client_name defaults to the URL's host; client_uri and logo_uri must be https URLs;
 *   - a fetch that fails is never cached, and a stale stored document whose refetch fails does
 *     not authorize (the draft: abort on fetch failure); tokens already issued keep working. */
#ifndef WATTLE_CIMD_H
#define WATTLE_CIMD_H
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "scope.h"
#include "status.h"
#include "store.h"

#define CIMD_URL_MAX 400             /* bytes of a client_id URL */
#define CIMD_HOST_MAX 253            /* bytes of its host */
#define CIMD_DOC_MAX 5120            /* bytes of a document (5 KB, the draft's advice) */
#define CIMD_TIMEOUT_MS 5000         /* the whole fetch, resolution included */
#define CIMD_CONNECT_TIMEOUT_MS 3000 /* TCP connect + TLS handshake */
#define CIMD_MIN_TTL 60              /* a fetched document is reused at least this long */
#define CIMD_MAX_CLIENTS 10000       /* metadata-document clients kept in the store */
#define CIMD_IDLE_TTL (30 * 86400)   /* idle clients purged after this (gc.c) */
#define CIMD_MAX_ADDRS 16            /* addresses of a host that are checked and pinned */

/* The parts of a client_id URL the fetch needs. */
typedef struct {
    char host[CIMD_HOST_MAX + 1]; /* as written in the URL; an IPv6 literal without brackets */
    int port;                     /* 443 unless the URL gives one */
    bool ip_literal;              /* the host is an IPv4 or IPv6 address */
} cimd_url;

/* True when client_id looks like a metadata-document URL (starts with "https://"): the caller
 * then treats it as one, and cimd_url_parse says whether it is a valid one. NULL: false. */
bool cimd_is_url(const char *client_id);

/* Checks a client_id URL against the draft's rules (§3): https, a host (a DNS name, an IPv4
 * address or a bracketed IPv6 address), optional port 1..65535, a path, no fragment, no
 * userinfo, no "." or ".." segments (percent-encoded ones included), only URL characters,
 * well-formed %-escapes, at most CIMD_URL_MAX bytes. A query is allowed. WT_OK with *out
 * filled, or WT_INVALID with a one-line reason in why. Pure. */
wt_status cimd_url_parse(const char *url, cimd_url *out, char *why, size_t whylen);

/* The SSRF classifier: NULL when sa (AF_INET or AF_INET6) is a public unicast address that a
 * fetch may connect to; otherwise what it is, for messages ("a loopback address", "a private
 * address", "a link-local address", …). Refused: IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16,
 * 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24, 192.168/16, 198.18/15, 198.51.100/24,
 * 203.0.113/24, 224/4, 240/4 (255.255.255.255 included); IPv6 ::, ::1, ::/96, 100::/64,
 * 2001::/32 (Teredo), 2001:db8::/32, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 64:ff9b:1::/48;
 * IPv4 embedded in IPv6 (::ffff:0:0/96 mapped, ::ffff:0:0:0/96 translated, 64:ff9b::/96
 * NAT64, 2002::/16 6to4) is judged by the embedded IPv4 address. Pure. */
const char *cimd_addr_forbidden(const struct sockaddr *sa);

/* The reuse time of a fetched document: cfg_ttl, or the response's Cache-Control max-age
 * when smaller (no-store and no-cache count as 0), never below CIMD_MIN_TTL. cache_control
 * may be NULL. Pure. */
int64_t cimd_ttl(const char *cache_control, int64_t cfg_ttl);

/* True when a stored client document is a metadata-document client still within its
 * cache_until. */
bool cimd_fresh(const json_t *doc, int64_t now);

/* Builds the client document of a fetched metadata document (body[0..len), not necessarily
 * NUL-terminated) fetched from url whose host is host: JSON object (duplicate keys refused);
 * client_id equal to url (string compare); redirect_uris required; token_endpoint_auth_method
 * none (default) or private_key_jwt with jwks (assertion_jwks_check; jwks_uri is refused);
 * no client_secret and no client_secret_* method; grant_types default authorization_code +
 * refresh_token; response_types, when given, only "code"; client_name optional (default
 * host); client_uri and logo_uri optional https URLs; then client_build's rules (redirect
 * URIs, grant types, name length). The document gets fetched_at = now and cache_until =
 * now + ttl. WT_OK and *out (owned by the caller); WT_TOOBIG (over CIMD_DOC_MAX) or WT_INVALID
 * with a one-line reason in why naming the field; WT_NOMEM. Pure (no I/O, no clock). */
wt_status cimd_client_doc(const char *url, const char *host, const char *body, size_t len,
                          const scope_catalogue *cat, int64_t now, int64_t ttl, json_t **out,
                          char *why, size_t whylen);

/* ---- the fetch (blocking: call it on a worker thread, never on an event loop) ---- */

typedef struct {
    bool allow_private;         /* cimd.allow_private_addresses */
    const char *ca_file;        /* cimd.ca_file, or NULL for the system store */
    long timeout_ms;            /* 0: CIMD_TIMEOUT_MS */
    const atomic_bool *abandon; /* when set (the server is stopping), the fetch gives up within
                                   about a second; may be NULL */
} cimd_fetch_opts;

typedef struct {
    char *body;              /* malloc'd, NUL-terminated; NULL unless WT_OK */
    size_t len;              /* bytes of body, at most CIMD_DOC_MAX */
    char cache_control[256]; /* the response's Cache-Control ("" when none) */
} cimd_response;

/* Fetches url (already checked with cimd_url_parse into u): resolves the host with
 * getaddrinfo, refuses it when any of its addresses is forbidden (unless allow_private), then
 * GETs the URL with libcurl pinned to exactly those addresses (CURLOPT_RESOLVE, and an
 * open-socket check that refuses any other address), https only, peer and host name verified,
 * no redirects, no proxy, CIMD_DOC_MAX bytes at most, timeout_ms in all. Returns WT_OK with
 * *r filled (free with cimd_response_free) for a 200 answer; otherwise r is empty and why says
 * what went wrong: WT_DENIED (a forbidden address), WT_TOOBIG (over CIMD_DOC_MAX), WT_EXPIRED
 * (timeout), WT_EIO (resolution, connection, TLS, a status other than 200, abandoned, …),
 * WT_NOMEM. Name resolution (getaddrinfo) cannot be interrupted: its time counts against
 * timeout_ms, but a resolver that hangs delays the answer past it. */
wt_status cimd_fetch(const char *url, const cimd_url *u, const cimd_fetch_opts *o, cimd_response *r,
                     char *why, size_t whylen);
void cimd_response_free(cimd_response *r);

/* ---- the store ---- */

/* Argument of cimd_put, a store_run_fn. */
typedef struct {
    json_t *doc;        /* the client document from cimd_client_doc (borrowed; the op may add
                           the client_id_issued_at of the client it replaces) */
    size_t max_clients; /* cap on metadata-document clients (0: CIMD_MAX_CLIENTS) */
    bool full;          /* out: refused because the cap is reached */
} cimd_put_op;

/* Stores (creates or refreshes) a fetched client. A new one is refused with WT_TOOBIG (and
 * full set) when max_clients metadata-document clients exist already; refreshing one that
 * exists is always allowed and keeps its client_id_issued_at. WT_EXISTS when the id belongs
 * to a client that is not a metadata-document client (never overwritten); store errors. */
wt_status cimd_put(store_txn *t, void *arg);

/* How many metadata-document clients the store holds, counting at most `limit`. */
size_t cimd_count(store_txn *t, size_t limit);

/* True when the stored client (key, document bytes) is a metadata-document client not fetched
 * for `idle` seconds (fetched_at <= now - idle: an authorization refetches a document after
 * cache_ttl, so this is "not used to authorize for idle seconds") that has no grant with a
 * live refresh token. For gc's resumable scan of the clients, which then removes it with
 * client_remove (its grants, consents and tokens go too). */
bool cimd_idle_expired(store_txn *t, const void *key, size_t klen, const void *doc, size_t len,
                       int64_t now, int64_t idle);

#endif
