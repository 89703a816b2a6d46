/* config.h — Wattle's configuration (SPEC §1): the embedded defaults, the JSON config file,
 * the command-line overrides and the final checks. Every key is declared once, in the table in
 * config.c, which drives defaults, loading, validation and reporting. This module reads the
 * config file and nothing else: it does not open the scope catalogue, metadata files or TLS
 * keys it names, does not look at WATTLE_CONFIG (the CLI does), and has no global state.
 *
 * Ownership: a config_t owns every string, array and json_t it points to; config_free()
 * releases them all. Order of use:
 *   config_defaults → config_load_file (optional) → config_apply_flags → config_check
 *   → bind the listeners → config_finish_issuer(bound port) → … → config_free. */
#ifndef WATTLE_CONFIG_H
#define WATTLE_CONFIG_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define ACCESS_TOKEN_TTL_MAX (365 * 86400) /* seconds: the longest access_token_ttl */

typedef struct {
    char *address;  /* as given: "HOST:PORT" or "[v6]:PORT" */
    char *host;     /* IPv4 literal, IPv6 literal (no brackets) or DNS name */
    int port;       /* 0..65535; 0 = any free port */
    char *tls_cert; /* PEM file paths (resolved against the config file's directory), */
    char *tls_key;  /* both set or both NULL */
} config_listen;

typedef struct {
    char *path;     /* "/mcp": starts with '/', no trailing slash unless it is "/", no '?',
                       '#', "..", "//", only URL path characters */
    char *resource; /* absolute http(s) identifier, or NULL: the caller derives <issuer><path> */
    char *metadata; /* static RFC 9728 JSON file (resolved), or NULL = built-in for that path */
    json_t *scopes_required; /* array of scope strings, or object HTTP method → array; never
                                NULL after defaults/load (default resource: ["read:assets"],
                                a configured resource that omits it: []) */
    char *upstream;          /* http:// or https:// URL the gateway proxies to, or NULL */
} config_resource;

typedef struct {
    char *issuer; /* NULL until set by file/flag or derived by config_finish_issuer */
    config_listen *listen;
    size_t nlisten; /* ≥ 1 */
    char *data_dir;
    int threads;               /* default: online cores (sysconf), clamped to 1..256 */
    bool pin_threads;          /* pin event loop i to the i-th allowed CPU (cpus.h); default on */
    int password_hash_workers; /* default: half the online cores, at least 1 */
    char *realm;
    char *scopes; /* catalogue file path, or NULL = the built-in scopes/gumnut.json */
    config_resource *resources;
    size_t nresources; /* ≥ 1 */
    int64_t access_token_ttl, refresh_token_ttl, code_ttl, refresh_grace, session_ttl;
    struct {
        int per_user_address, per_address, window;
    } login_throttle;
    struct {
        int token, revoke, introspect, reg; /* JSON key "register" → reg; 0 disables */
    } rate_limit;
    struct {
        bool enabled;
        char *initial_access_token; /* NULL = registration is open */
        int64_t unused_client_ttl;
    } registration;
    struct {
        bool enabled, allow_private_addresses;
        char *ca_file;     /* PEM CA bundle used instead of the system store (resolved), or NULL */
        int64_t cache_ttl; /* seconds a fetched metadata document is reused, at most */
    } cimd;
    char **trusted_proxies; /* IP addresses or CIDRs, as given (validated) */
    size_t ntrusted_proxies;
    size_t max_body_bytes, gateway_max_body_bytes;
    int64_t gateway_sse_heartbeat; /* seconds of silence on a proxied event stream before an
                                      SSE comment is sent (finds vanished clients); 0: never */
    int log_level;                 /* enum log_level from log.h */
} config_t;

/* Fills c (whose previous contents are ignored, not freed) with the embedded defaults of
 * SPEC §1. WT_OK, or WT_NOMEM (c is then still safe to config_free). */
wt_status config_defaults(config_t *c);

/* Loads the JSON config file at path over c (normally fresh defaults). Keys absent from the
 * file keep their value; nested objects (login_throttle, rate_limit, registration, cimd) are
 * merged key by key; listen, resources and trusted_proxies replace the whole list. Relative
 * paths in the file (data_dir, scopes, resources[].metadata, listen tls cert/key) are resolved
 * against the file's directory, and so is the default data_dir when the file does not set it.
 * Errors: WT_EIO (cannot read, with strerror), WT_INVALID (not JSON — with line and column —,
 * unknown key, bad value), WT_TOOBIG (over 1 MiB), WT_NOMEM; err then holds one line such as
 *   FILE: unknown key "rate_limit.foo"
 *   FILE: key "access_token_ttl": must be an integer between 1 and 31536000
 * On error c may be partly updated but is always safe to config_free. */
wt_status config_load_file(config_t *c, const char *path, char *err, size_t errlen);

/* Applies the command-line overrides; NULL = not given. --data-dir is kept as given (relative
 * to the working directory); --listen HOST:PORT replaces the listen list with one plain entry;
 * --issuer URL is checked like the issuer key. Errors: WT_INVALID / WT_NOMEM with err such as
 * `--listen: …`. */
wt_status config_apply_flags(config_t *c, const char *data_dir, const char *listen,
                             const char *issuer, char *err, size_t errlen);

/* Final checks once file and flags are applied: the issuer (if set) is an origin only (http or
 * https, host, optional port; no path, trailing slash, query, fragment or userinfo) and https://
 * unless its host is loopback (127.0.0.0/8, ::1, localhost); without an issuer, the first listen
 * address must not be a wildcard and must give an acceptable derived issuer (loopback, or TLS);
 * listen addresses and resource paths are unique. WT_OK, or WT_INVALID with err. */
wt_status config_check(config_t *c, char *err, size_t errlen);

/* When c->issuer is NULL, sets it to "http(s)://<host>:<port>" of the first listen entry
 * (https when it has TLS, IPv6 hosts bracketed, host names lower-cased) using bound_port when
 * it is > 0, else the configured port. WT_OK (also when an issuer was already set), WT_INVALID
 * (no usable port or host, or a result config_check would refuse), WT_NOMEM. */
wt_status config_finish_issuer(config_t *c, int bound_port);

/* Releases everything c owns and zeroes it. NULL-safe; safe on a zeroed config_t. */
void config_free(config_t *c);

/* dir + "/" + rel, or a copy of rel when rel is absolute or dir is NULL/empty; a leading "./"
 * of rel is dropped. Caller frees. NULL when rel is NULL or on allocation failure. */
char *config_resolve_path(const char *dir, const char *rel);

/* The configuration as a JSON object with the config file's key names (the
 * initial_access_token shows as "(set)"), for logs and diagnostics. New reference; NULL on
 * allocation failure. */
json_t *config_to_json(const config_t *c);

#endif
