/* config.c — Wattle's configuration (SPEC §1). One declarative table, config_keys[], names
 * every key of the config file with its type, default, bounds and target field (an offset into
 * config_t); the same table fills the defaults, loads and validates a file, applies the
 * command-line flags and reports the result, so a key is written down once. Nested objects
 * (login_throttle, rate_limit, registration, cimd, a listen entry's tls, a resources entry) are
 * sub-tables run by the same code; the lists (listen, resources, trusted_proxies) and
 * scopes_required have small custom parsers hooked into the table.
 *
 * This file reads the config file and nothing else: the scope catalogue, metadata files and
 * TLS keys it names are opened by their own modules. Ownership: a config_t owns every string,
 * array and json_t it points to (config_free releases them); a failed load leaves it freeable.
 * No global state. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of a config file */
#define LISTEN_MAX 16                 /* listen entries */
#define RESOURCES_MAX 64              /* protected resources */
#define PROXIES_MAX 256               /* trusted_proxies entries */
#define SCOPES_MAX 64                 /* scopes in one scopes_required list */
#define METHODS_MAX 16                /* methods in a scopes_required object */
#define FILE_PATH_MAX 4096            /* a path the config names */
#define URL_MAX 2048                  /* resource / upstream URLs */
#define ISSUER_MAX 512
#define HOST_MAX 253 /* a DNS name; IPv6 literals are shorter */
#define KEY_PATH_MAX 192
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- messages ------------------------------------------------------------------------- */

/* Where a message goes: err[errlen], prefixed by origin (the file name or a flag; NULL: no
 * prefix). `bare` leaves the key out, for flags ("--listen: …"). */
struct sink {
    char *err;
    size_t errlen;
    const char *origin;
    bool bare;
};

/* A loading context: the sink and the directory relative paths are resolved against (NULL:
 * keep paths as given). */
struct ld {
    struct sink sink;
    const char *dir;
};

/* s made safe to quote in a one-line message: at most 80 bytes, control characters, quotes
 * and backslashes shown as '?'. Returns buf. */
static const char *shown(const char *s, char buf[84])
{
    size_t i = 0;
    for (; s[i] && i < 80; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
    }
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static void vsay(const struct sink *s, const char *key, const char *fmt, va_list ap)
{
    if (!s->err || s->errlen == 0)
        return;
    int n = 0;
    if (s->origin && key && !s->bare)
        n = snprintf(s->err, s->errlen, "%s: key \"%s\": ", s->origin, key);
    else if (s->origin)
        n = snprintf(s->err, s->errlen, "%s: ", s->origin);
    else if (key)
        n = snprintf(s->err, s->errlen, "%s: ", key);
    if (n < 0)
        n = 0;
    if ((size_t)n < s->errlen)
        vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
}

/* Writes "ORIGIN: key \"KEY\": REASON" and returns WT_INVALID. */
__attribute__((format(printf, 3, 4))) static wt_status bad(const struct sink *s, const char *key,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(s, key, fmt, ap);
    va_end(ap);
    return WT_INVALID;
}

static wt_status nomem(const struct sink *s)
{
    bad(s, NULL, "out of memory");
    return WT_NOMEM;
}

static void key_path(char out[KEY_PATH_MAX], const char *prefix, const char *name)
{
    /* Truncation only shortens an error message. */
    int n = snprintf(out, KEY_PATH_MAX, "%s%s", prefix, *prefix ? "." : "");
    if (n >= 0 && n < KEY_PATH_MAX)
        snprintf(out + n, (size_t)(KEY_PATH_MAX - n), "%s", name);
}

static wt_status unknown_key(const struct sink *s, const char *prefix, const char *name)
{
    char b[84], kp[KEY_PATH_MAX];
    key_path(kp, prefix, shown(name, b));
    struct sink top = *s;
    top.bare = true;
    return bad(&top, NULL, "unknown key \"%s\"", kp);
}

/* ---- character classes and small syntaxes -------------------------------------------- */

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_hex(int ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A DNS name: dot-separated labels of letters, digits and '-' (not at either end), 1..63
 * bytes each, 253 in all; the last label is not all digits (that would be a bad IPv4). */
static bool is_dns_name(const char *h, size_t len)
{
    if (len == 0 || len > HOST_MAX)
        return false;
    size_t label = 0;
    bool digits = true;
    for (size_t i = 0; i <= len; i++) {
        char ch = i < len ? h[i] : '.';
        if (ch == '.') {
            if (label == 0 || label > 63 || h[i - 1] == '-' || (i == len && digits))
                return false;
            label = 0;
            digits = true;
            continue;
        }
        if (!is_alpha(ch) && !is_digit(ch) && ch != '-')
            return false;
        if (label == 0 && ch == '-')
            return false;
        if (!is_digit(ch))
            digits = false;
        label++;
    }
    return true;
}

static bool parse_port(const char *p, size_t len, int min, int *port)
{
    if (len == 0 || len > 5)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v < min || v > 65535)
        return false;
    *port = v;
    return true;
}

/* Splits s[0..len) = "HOST:PORT" or "[IPv6]:PORT" into host (without brackets; IPv4 literal,
 * IPv6 literal or DNS name) and port (min..65535). When port_required is false a missing
 * ":PORT" gives *port = -1. On failure writes the reason into why. */
static bool split_hostport(const char *s, size_t len, bool port_required, int minport,
                           char host[HOST_MAX + 1], int *port, char *why, size_t whylen)
{
    const char *h = s, *p = NULL;
    size_t hlen = len, plen = 0;
    bool v6 = false;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            snprintf(why, whylen, "an IPv6 address needs a closing ']'");
            return false;
        }
        v6 = true;
        h = s + 1;
        hlen = (size_t)(close - h);
        size_t after = (size_t)(close - s) + 1;
        if (after < len) {
            if (s[after] != ':') {
                snprintf(why, whylen, "only \":PORT\" may follow ']'");
                return false;
            }
            p = s + after + 1;
            plen = len - after - 1;
        }
    } else {
        const char *colon = NULL;
        int ncolons = 0;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':') {
                colon = s + i;
                ncolons++;
            }
        if (ncolons > 1) {
            snprintf(why, whylen, "an IPv6 address needs brackets, e.g. [::1]:8400");
            return false;
        }
        if (colon) {
            hlen = (size_t)(colon - s);
            p = colon + 1;
            plen = len - hlen - 1;
        }
    }
    if (!p && port_required) {
        snprintf(why, whylen, "needs a port: HOST:PORT or [IPv6]:PORT");
        return false;
    }
    *port = -1;
    if (p && !parse_port(p, plen, minport, port)) {
        snprintf(why, whylen, "the port must be a number between %d and 65535", minport);
        return false;
    }
    if (hlen == 0) {
        snprintf(why, whylen, "needs a host: HOST:PORT or [IPv6]:PORT");
        return false;
    }
    if (hlen > HOST_MAX) {
        snprintf(why, whylen, "the host is longer than %d characters", HOST_MAX);
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    unsigned char addr[sizeof(struct in6_addr)];
    if (v6 ? inet_pton(AF_INET6, host, addr) == 1
           : inet_pton(AF_INET, host, addr) == 1 || is_dns_name(host, hlen))
        return true;
    char b[84];
    snprintf(why, whylen,
             v6 ? "\"%s\" is not an IPv6 address"
                : "host \"%s\" is not an IPv4 address, [IPv6] address or host name",
             shown(host, b));
    return false;
}

/* 127.0.0.0/8, ::1, ::ffff:127.x.x.x or "localhost". */
static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

/* 0.0.0.0 or :: (in any spelling). */
static bool host_is_wildcard(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return a4.s_addr == 0;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_UNSPECIFIED(&a6);
    return false;
}

/* The parts of an absolute http(s) URL: scheme, host, port (-1 when absent) and the rest
 * after the authority (path, query, fragment). */
struct url {
    bool https;
    char host[HOST_MAX + 1];
    int port;
    const char *rest;
};

static bool url_parse(const char *s, struct url *u, char *why, size_t whylen)
{
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
            snprintf(why, whylen, "must not contain spaces or control characters");
            return false;
        }
    const char *a;
    if (strncmp(s, "https://", 8) == 0) {
        u->https = true;
        a = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        u->https = false;
        a = s + 7;
    } else {
        snprintf(why, whylen, "must start with https:// or http://");
        return false;
    }
    size_t alen = strcspn(a, "/?#");
    if (memchr(a, '@', alen)) {
        snprintf(why, whylen, "must not contain userinfo (user@)");
        return false;
    }
    if (alen == 0) {
        snprintf(why, whylen, "needs a host");
        return false;
    }
    if (!split_hostport(a, alen, false, 1, u->host, &u->port, why, whylen))
        return false;
    u->rest = a + alen;
    return true;
}

/* ---- value checks (table hooks): true when s is acceptable, else the reason in why ------ */

typedef bool check_fn(const char *s, char *why, size_t whylen);

static bool check_issuer(const char *s, char *why, size_t whylen)
{
    struct url u;
    if (!url_parse(s, &u, why, whylen))
        return false;
    const char *r = u.rest, *origin = "must be an origin only (scheme://host[:port])";
    if (r[0] == '/' && (r[1] == '\0' || r[1] == '?' || r[1] == '#')) {
        snprintf(why, whylen, "%s: no trailing slash", origin);
        return false;
    }
    if (r[0]) {
        snprintf(why, whylen, "%s: no %s", origin,
                 r[0] == '/'   ? "path"
                 : r[0] == '?' ? "query"
                               : "fragment");
        return false;
    }
    for (const char *h = u.host; *h; h++)
        if (*h >= 'A' && *h <= 'Z') {
            snprintf(why, whylen, "the host must be lower-case");
            return false;
        }
    if (!u.https && !host_is_loopback(u.host)) {
        snprintf(why, whylen, "must be https:// unless it is a loopback address");
        return false;
    }
    return true;
}

static bool check_url(const char *s, const char *what, char *why, size_t whylen)
{
    struct url u;
    if (!url_parse(s, &u, why, whylen))
        return false;
    if (strchr(u.rest, '#') || strchr(u.rest, '?')) {
        snprintf(why, whylen, "%s must not have a query or fragment", what);
        return false;
    }
    return true;
}

static bool check_resource_id(const char *s, char *why, size_t whylen)
{
    return check_url(s, "an absolute http(s) resource identifier", why, whylen);
}

static bool check_upstream(const char *s, char *why, size_t whylen)
{
    return check_url(s, "an http:// or https:// URL", why, whylen);
}

/* A resource path: "/" or "/seg/…" of URL path characters, no trailing slash, no "//",
 * no ".." and no "." segment, no query or fragment. */
static bool check_resource_path(const char *s, char *why, size_t whylen)
{
    const char *msg = NULL;
    size_t len = strlen(s);
    if (s[0] != '/')
        msg = "must start with '/'";
    else if (strchr(s, '?') || strchr(s, '#'))
        msg = "must not contain '?' or '#'";
    else if (len > 1 && s[len - 1] == '/')
        msg = "must not end with '/' (unless it is \"/\")";
    else if (strstr(s, "//"))
        msg = "must not contain \"//\"";
    else if (strstr(s, ".."))
        msg = "must not contain \"..\"";
    else if (strstr(s, "/./") || (len >= 2 && strcmp(s + len - 2, "/.") == 0))
        msg = "must not contain a \".\" segment";
    for (size_t i = 0; !msg && i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (!is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                msg = "'%' must start a %XX escape";
            continue;
        }
        if (!is_alpha(ch) && !is_digit(ch) && !strchr("-._~!$&'()*+,;=:@/", ch))
            msg = "may only contain URL path characters";
    }
    if (msg)
        snprintf(why, whylen, "%s", msg);
    return msg == NULL;
}

/* RFC 6750 b64token, as an initial access token is sent as a Bearer token. */
static bool check_bearer_token(const char *s, char *why, size_t whylen)
{
    size_t i = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/");
    while (s[i] == '=')
        i++;
    if (i == 0 || s[i]) {
        snprintf(why, whylen, "must be a bearer token: letters, digits and -._~+/ (then '=')");
        return false;
    }
    return true;
}

static bool check_realm(const char *s, char *why, size_t whylen)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\') {
            snprintf(why, whylen, "must be printable ASCII without '\"' or '\\'");
            return false;
        }
    return true;
}

static bool check_file_path(const char *s, char *why, size_t whylen)
{
    if (no_controls(s))
        return true;
    snprintf(why, whylen, "must not contain control characters");
    return false;
}

/* RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E. */
static bool is_scope_token(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 0x21 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\')
            return false;
    return n >= 1 && n <= 128;
}

/* ---- the table ------------------------------------------------------------------------ */

enum ktype {
    K_INT,     /* int */
    K_SECONDS, /* int64_t */
    K_SIZE,    /* size_t */
    K_BOOL,    /* bool */
    K_ENUM,    /* int, the index into names[] */
    K_STRING,  /* char *, malloc'd; min/max bound the length */
    K_SECTION, /* a JSON object whose keys are sub[] (same base) */
    K_CUSTOM,  /* parsed, defaulted, freed and reported by custom */
};

enum {
    F_NULLABLE = 1, /* K_STRING: JSON null → NULL */
    F_PATH = 2,     /* K_STRING: a file path, resolved against the config file's directory */
    F_SECRET = 4,   /* K_STRING: never shown (reported as "(set)") */
    F_REQUIRED = 8, /* must be present in its object */
};

struct custom {
    wt_status (*parse)(void *base, json_t *v, const struct ld *ld, const char *key);
    wt_status (*set_default)(void *base); /* NULL: zero */
    void (*release)(void *base);
    json_t *(*report)(const void *base);
};

struct key {
    const char *name; /* JSON key */
    enum ktype type;
    size_t off;           /* of the target field within the base struct */
    int64_t def;          /* default of numbers, bools and enums */
    int64_t (*dyn)(void); /* computed default (overrides def) */
    const char *sdef;     /* default of strings (NULL = none) */
    int64_t min, max;     /* numbers: value bounds; strings: length bounds */
    unsigned flags;
    check_fn *check;           /* K_STRING: extra syntax check */
    const char *const *names;  /* K_ENUM: NULL-terminated, value = index */
    const struct key *sub;     /* K_SECTION */
    size_t nsub;               /* K_SECTION */
    const struct custom *cust; /* K_CUSTOM */
};

static int64_t online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : n;
}

/* Half the cores, at least one: logins never take more than half the machine from validation,
 * and each hash in flight holds 32 MiB. */
static int64_t half_the_cores(void)
{
    int64_t n = online_cores() / 2;
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

/* Indexed by enum log_level. */
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
_Static_assert(LOG_ERROR == 0 && LOG_WARN == 1 && LOG_INFO == 2 && LOG_DEBUG == 3,
               "log_level_names follows enum log_level");

#define CFG(m) offsetof(config_t, m)
#define DAY 86400
#define YEAR (365 * DAY)

// clang-format off
static const struct key login_throttle_keys[] = {
    {.name = "per_user_address", .type = K_INT, .off = CFG(login_throttle.per_user_address),
     .def = 5, .min = 1, .max = 1000000},
    {.name = "per_address", .type = K_INT, .off = CFG(login_throttle.per_address), .def = 50,
     .min = 1, .max = 1000000},
    {.name = "window", .type = K_INT, .off = CFG(login_throttle.window), .def = 900, .min = 1,
     .max = DAY},
};

static const struct key rate_limit_keys[] = {
    {.name = "token", .type = K_INT, .off = CFG(rate_limit.token), .def = 50, .max = 1000000},
    {.name = "revoke", .type = K_INT, .off = CFG(rate_limit.revoke), .def = 50, .max = 1000000},
    {.name = "introspect", .type = K_INT, .off = CFG(rate_limit.introspect), .def = 500,
     .max = 1000000},
    {.name = "register", .type = K_INT, .off = CFG(rate_limit.reg), .def = 20, .max = 1000000},
};

static const struct key registration_keys[] = {
    {.name = "enabled", .type = K_BOOL, .off = CFG(registration.enabled), .def = true},
    {.name = "initial_access_token", .type = K_STRING,
     .off = CFG(registration.initial_access_token), .min = 1, .max = 1024,
     .flags = F_NULLABLE | F_SECRET, .check = check_bearer_token},
    {.name = "unused_client_ttl", .type = K_SECONDS, .off = CFG(registration.unused_client_ttl),
     .def = 90 * DAY, .min = 1, .max = 10 * YEAR},
};

static const struct key cimd_keys[] = {
    {.name = "enabled", .type = K_BOOL, .off = CFG(cimd.enabled), .def = true},
    {.name = "allow_private_addresses", .type = K_BOOL, .off = CFG(cimd.allow_private_addresses),
     .def = false},
    {.name = "ca_file", .type = K_STRING, .off = CFG(cimd.ca_file), .min = 1,
     .max = FILE_PATH_MAX, .flags = F_NULLABLE | F_PATH, .check = check_file_path},
    {.name = "cache_ttl", .type = K_SECONDS, .off = CFG(cimd.cache_ttl), .def = 3600, .min = 60,
     .max = 7 * DAY},
};

/* A listen entry written as an object: {"address": "HOST:PORT", "tls": {"cert", "key"}}. */
static const struct key tls_keys[] = {
    {.name = "cert", .type = K_STRING, .off = offsetof(config_listen, tls_cert), .min = 1,
     .max = FILE_PATH_MAX, .flags = F_PATH | F_REQUIRED, .check = check_file_path},
    {.name = "key", .type = K_STRING, .off = offsetof(config_listen, tls_key), .min = 1,
     .max = FILE_PATH_MAX, .flags = F_PATH | F_REQUIRED, .check = check_file_path},
};
static const struct custom address_custom;
static const struct key listen_keys[] = {
    {.name = "address", .type = K_CUSTOM, .flags = F_REQUIRED, .cust = &address_custom},
    {.name = "tls", .type = K_SECTION, .sub = tls_keys, .nsub = ARRAY_LEN(tls_keys)},
};

/* An entry of resources. */
static const struct custom scopes_required_custom;
static const struct key resource_keys[] = {
    {.name = "path", .type = K_STRING, .off = offsetof(config_resource, path), .min = 1,
     .max = 256, .flags = F_REQUIRED, .check = check_resource_path},
    {.name = "resource", .type = K_STRING, .off = offsetof(config_resource, resource), .min = 1,
     .max = URL_MAX, .flags = F_NULLABLE, .check = check_resource_id},
    {.name = "metadata", .type = K_STRING, .off = offsetof(config_resource, metadata), .min = 1,
     .max = FILE_PATH_MAX, .flags = F_NULLABLE | F_PATH, .check = check_file_path},
    {.name = "scopes_required", .type = K_CUSTOM, .cust = &scopes_required_custom},
    {.name = "upstream", .type = K_STRING, .off = offsetof(config_resource, upstream), .min = 1,
     .max = URL_MAX, .flags = F_NULLABLE, .check = check_upstream},
};

static const struct custom listen_custom, resources_custom, proxies_custom;

/* Every key of the config file (SPEC §1), in the order of the SPEC table. */
static const struct key config_keys[] = {
    {.name = "issuer", .type = K_STRING, .off = CFG(issuer), .min = 1, .max = ISSUER_MAX,
     .flags = F_NULLABLE, .check = check_issuer},
    {.name = "listen", .type = K_CUSTOM, .cust = &listen_custom},
    {.name = "data_dir", .type = K_STRING, .off = CFG(data_dir), .sdef = "./wattle-data",
     .min = 1, .max = FILE_PATH_MAX, .flags = F_PATH, .check = check_file_path},
    {.name = "threads", .type = K_INT, .off = CFG(threads), .dyn = online_cores, .min = 1,
     .max = 256},
    {.name = "pin_threads", .type = K_BOOL, .off = CFG(pin_threads), .def = true},
    {.name = "password_hash_workers", .type = K_INT, .off = CFG(password_hash_workers),
     .dyn = half_the_cores, .min = 1, .max = 64},
    {.name = "realm", .type = K_STRING, .off = CFG(realm), .sdef = "Wattle", .min = 1,
     .max = 256, .check = check_realm},
    {.name = "scopes", .type = K_STRING, .off = CFG(scopes), .min = 1, .max = FILE_PATH_MAX,
     .flags = F_NULLABLE | F_PATH, .check = check_file_path},
    {.name = "resources", .type = K_CUSTOM, .cust = &resources_custom},
    {.name = "access_token_ttl", .type = K_SECONDS, .off = CFG(access_token_ttl), .def = 3600,
     .min = 1, .max = ACCESS_TOKEN_TTL_MAX},
    {.name = "refresh_token_ttl", .type = K_SECONDS, .off = CFG(refresh_token_ttl),
     .def = 30 * DAY, .min = 1, .max = 10 * YEAR},
    {.name = "code_ttl", .type = K_SECONDS, .off = CFG(code_ttl), .def = 60, .min = 1,
     .max = 600},
    {.name = "refresh_grace", .type = K_SECONDS, .off = CFG(refresh_grace), .def = 10, .min = 0,
     .max = 300},
    {.name = "session_ttl", .type = K_SECONDS, .off = CFG(session_ttl), .def = DAY, .min = 60,
     .max = YEAR},
    {.name = "login_throttle", .type = K_SECTION, .sub = login_throttle_keys,
     .nsub = ARRAY_LEN(login_throttle_keys)},
    {.name = "rate_limit", .type = K_SECTION, .sub = rate_limit_keys,
     .nsub = ARRAY_LEN(rate_limit_keys)},
    {.name = "registration", .type = K_SECTION, .sub = registration_keys,
     .nsub = ARRAY_LEN(registration_keys)},
    {.name = "cimd", .type = K_SECTION, .sub = cimd_keys, .nsub = ARRAY_LEN(cimd_keys)},
    {.name = "trusted_proxies", .type = K_CUSTOM, .cust = &proxies_custom},
    {.name = "max_body_bytes", .type = K_SIZE, .off = CFG(max_body_bytes), .def = 65536,
     .min = 1024, .max = 16 * 1024 * 1024},
    {.name = "gateway_sse_heartbeat", .type = K_SECONDS, .off = CFG(gateway_sse_heartbeat),
     .def = 15, .min = 0, .max = 3600},
    {.name = "gateway_max_body_bytes", .type = K_SIZE, .off = CFG(gateway_max_body_bytes),
     .def = 16 * 1024 * 1024, .min = 1024, .max = 1024 * 1024 * 1024},
    {.name = "log_level", .type = K_ENUM, .off = CFG(log_level), .def = LOG_INFO,
     .names = log_level_names},
};
// clang-format on
_Static_assert(ARRAY_LEN(config_keys) <= 64, "load_object tracks keys in a 64-bit mask");

/* ---- the machinery -------------------------------------------------------------------- */

static void *field(void *base, const struct key *k)
{
    return (char *)base + k->off;
}

static const void *cfield(const void *base, const struct key *k)
{
    return (const char *)base + k->off;
}

static const struct key *find_key(const struct key *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static void release_keys(void *base, const struct key *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct key *k = &t[i];
        if (k->type == K_STRING) {
            char **sp = field(base, k);
            free(*sp);
            *sp = NULL;
        } else if (k->type == K_SECTION) {
            release_keys(base, k->sub, k->nsub);
        } else if (k->type == K_CUSTOM) {
            k->cust->release(base);
        }
    }
}

/* Sets every key of t to its default. Strings are malloc'd; old values are not freed. */
static wt_status default_keys(void *base, const struct key *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct key *k = &t[i];
        int64_t v = k->dyn ? k->dyn() : k->def;
        switch (k->type) {
        case K_INT:
        case K_ENUM: *(int *)field(base, k) = (int)v; break;
        case K_SECONDS: *(int64_t *)field(base, k) = v; break;
        case K_SIZE: *(size_t *)field(base, k) = (size_t)v; break;
        case K_BOOL: *(bool *)field(base, k) = v != 0; break;
        case K_STRING: {
            char **sp = field(base, k);
            *sp = NULL;
            if (k->sdef && !(*sp = strdup(k->sdef)))
                return WT_NOMEM;
            break;
        }
        case K_SECTION: {
            wt_status st = default_keys(base, k->sub, k->nsub);
            if (st != WT_OK)
                return st;
            break;
        }
        case K_CUSTOM:
            if (k->cust->set_default) {
                wt_status st = k->cust->set_default(base);
                if (st != WT_OK)
                    return st;
            }
            break;
        }
    }
    return WT_OK;
}

static wt_status load_object(void *base, const struct key *t, size_t n, json_t *obj,
                             const struct ld *ld, const char *prefix, uint64_t *seen_out);

/* Loads one JSON value v into the key k of base; kp names it in messages. */
static wt_status load_key(void *base, const struct key *k, json_t *v, const struct ld *ld,
                          const char *kp)
{
    const struct sink *sk = &ld->sink;
    char why[200];
    switch (k->type) {
    case K_INT:
    case K_SECONDS:
    case K_SIZE: {
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
        if (!json_is_integer(v) || x < k->min || x > k->max)
            return bad(sk, kp, "must be an integer between %lld and %lld", (long long)k->min,
                       (long long)k->max);
        if (k->type == K_INT)
            *(int *)field(base, k) = (int)x;
        else if (k->type == K_SECONDS)
            *(int64_t *)field(base, k) = x;
        else
            *(size_t *)field(base, k) = (size_t)x;
        return WT_OK;
    }
    case K_BOOL:
        if (!json_is_boolean(v))
            return bad(sk, kp, "must be true or false");
        *(bool *)field(base, k) = json_is_true(v);
        return WT_OK;
    case K_ENUM: {
        const char *s = json_string_value(v);
        for (int i = 0; s && k->names[i]; i++)
            if (strcmp(s, k->names[i]) == 0) {
                *(int *)field(base, k) = i;
                return WT_OK;
            }
        size_t used = 0;
        why[0] = '\0';
        for (int i = 0; k->names[i] && used < sizeof why; i++) {
            int w = snprintf(why + used, sizeof why - used, "%s\"%s\"", i ? ", " : "", k->names[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        return bad(sk, kp, "must be one of %s", why);
    }
    case K_STRING: {
        char **sp = field(base, k);
        if (json_is_null(v) && (k->flags & F_NULLABLE)) {
            free(*sp);
            *sp = NULL;
            return WT_OK;
        }
        if (!json_is_string(v))
            return bad(sk, kp, "must be a string%s", k->flags & F_NULLABLE ? " or null" : "");
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if ((int64_t)len < k->min || (int64_t)len > k->max || strlen(s) != len)
            return bad(sk, kp, "must be %lld to %lld characters long", (long long)k->min,
                       (long long)k->max);
        if (k->check && !k->check(s, why, sizeof why))
            return bad(sk, kp, "%s", why);
        char *copy = (k->flags & F_PATH) && ld->dir ? config_resolve_path(ld->dir, s) : strdup(s);
        if (!copy)
            return nomem(sk);
        free(*sp);
        *sp = copy;
        return WT_OK;
    }
    case K_SECTION:
        if (!json_is_object(v))
            return bad(sk, kp, "must be an object");
        return load_object(base, k->sub, k->nsub, v, ld, kp, NULL);
    case K_CUSTOM: return k->cust->parse(base, v, ld, kp);
    }
    return WT_INVALID;
}

/* Loads the keys of the JSON object obj into base, refusing keys t does not list and
 * requiring the F_REQUIRED ones; prefix ("" at the top) names obj in messages. seen_out (may
 * be NULL) gets a bit per key of t that obj contains. */
static wt_status load_object(void *base, const struct key *t, size_t n, json_t *obj,
                             const struct ld *ld, const char *prefix, uint64_t *seen_out)
{
    uint64_t seen = 0;
    const char *name;
    json_t *v;
    char kp[KEY_PATH_MAX];
    json_object_foreach(obj, name, v)
    {
        const struct key *k = find_key(t, n, name);
        if (!k)
            return unknown_key(&ld->sink, prefix, name);
        key_path(kp, prefix, k->name);
        wt_status st = load_key(base, k, v, ld, kp);
        if (st != WT_OK)
            return st;
        seen |= UINT64_C(1) << (k - t);
    }
    for (size_t i = 0; i < n; i++)
        if ((t[i].flags & F_REQUIRED) && !(seen & (UINT64_C(1) << i)))
            return bad(&ld->sink, prefix, "needs \"%s\"", t[i].name);
    if (seen_out)
        *seen_out = seen;
    return WT_OK;
}

/* Adds v (reference stolen, may be NULL) to o; false when v is NULL or the add fails. */
static bool put(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static json_t *report_keys(const void *base, const struct key *t, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        const struct key *k = &t[i];
        const void *f = cfield(base, k);
        json_t *v = NULL;
        switch (k->type) {
        case K_INT: v = json_integer(*(const int *)f); break;
        case K_SECONDS: v = json_integer(*(const int64_t *)f); break;
        case K_SIZE: v = json_integer((json_int_t) * (const size_t *)f); break;
        case K_BOOL: v = json_boolean(*(const bool *)f); break;
        case K_ENUM: v = json_string(k->names[*(const int *)f]); break;
        case K_STRING: {
            const char *s = *(char *const *)f;
            v = !s ? json_null() : (k->flags & F_SECRET) ? json_string("(set)") : json_string(s);
            break;
        }
        case K_SECTION: v = report_keys(base, k->sub, k->nsub); break;
        case K_CUSTOM: v = k->cust->report(base); break;
        }
        if (!put(o, k->name, v)) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

/* ---- listen --------------------------------------------------------------------------- */

static void listen_entry_release(config_listen *e)
{
    release_keys(e, listen_keys, ARRAY_LEN(listen_keys));
}

/* "HOST:PORT" or "[IPv6]:PORT" → address, host, port of a config_listen. */
static wt_status address_parse(void *base, json_t *v, const struct ld *ld, const char *kp)
{
    config_listen *e = base;
    const char *s = json_string_value(v);
    char host[HOST_MAX + 1], why[160], b[84];
    int port;
    if (!s)
        return bad(&ld->sink, kp, "must be a string \"HOST:PORT\" or \"[IPv6]:PORT\"");
    if (!split_hostport(s, strlen(s), true, 0, host, &port, why, sizeof why))
        return bad(&ld->sink, kp, "\"%s\": %s", shown(s, b), why);
    char *a = strdup(s), *h = strdup(host);
    if (!a || !h) {
        free(a);
        free(h);
        return nomem(&ld->sink);
    }
    free(e->address);
    free(e->host);
    e->address = a;
    e->host = h;
    e->port = port;
    return WT_OK;
}

static void address_release(void *base)
{
    config_listen *e = base;
    free(e->address);
    free(e->host);
    e->address = e->host = NULL;
}

static json_t *address_report(const void *base)
{
    return json_string(((const config_listen *)base)->address);
}

static const struct custom address_custom = {
    .parse = address_parse, .release = address_release, .report = address_report};

/* One listen entry: a string, or an object of listen_keys. */
static wt_status listen_entry_parse(config_listen *e, json_t *v, const struct ld *ld,
                                    const char *kp)
{
    if (json_is_string(v))
        return address_parse(e, v, ld, kp);
    if (json_is_object(v))
        return load_object(e, listen_keys, ARRAY_LEN(listen_keys), v, ld, kp, NULL);
    return bad(&ld->sink, kp,
               "must be an address \"HOST:PORT\" or an object {\"address\": …, \"tls\": …}");
}

static void listen_list_free(config_listen *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        listen_entry_release(&list[i]);
    free(list);
}

/* listen: one entry, or a list of 1..LISTEN_MAX entries; replaces the whole list. */
static wt_status listen_parse(void *base, json_t *v, const struct ld *ld, const char *kp)
{
    config_t *c = base;
    bool array = json_is_array(v);
    size_t n = array ? json_array_size(v) : 1;
    char ikp[KEY_PATH_MAX];
    wt_status st = WT_OK;
    if (!array && !json_is_string(v) && !json_is_object(v))
        return bad(&ld->sink, kp,
                   "must be an address \"HOST:PORT\" or a list of addresses and "
                   "{\"address\": …, \"tls\": {\"cert\": …, \"key\": …}} objects");
    if (n < 1 || n > LISTEN_MAX)
        return bad(&ld->sink, kp, "must list 1 to %d addresses", LISTEN_MAX);
    config_listen *list = calloc(n, sizeof *list);
    if (!list)
        return nomem(&ld->sink);
    for (size_t i = 0; i < n && st == WT_OK; i++) {
        snprintf(ikp, sizeof ikp, "%s[%zu]", kp, i);
        st = listen_entry_parse(&list[i], array ? json_array_get(v, i) : v, ld, array ? ikp : kp);
    }
    if (st != WT_OK)
        goto done;
    listen_list_free(c->listen, c->nlisten);
    c->listen = list;
    c->nlisten = n;
    list = NULL;
done:
    listen_list_free(list, n);
    return st;
}

static wt_status listen_default(void *base)
{
    config_t *c = base;
    struct ld ld = {.sink = {NULL, 0, NULL, false}, .dir = NULL};
    json_t *v = json_string("127.0.0.1:8400");
    wt_status st = v ? listen_parse(c, v, &ld, "listen") : WT_NOMEM;
    json_decref(v);
    return st;
}

static void listen_release(void *base)
{
    config_t *c = base;
    listen_list_free(c->listen, c->nlisten);
    c->listen = NULL;
    c->nlisten = 0;
}

static json_t *listen_report(const void *base)
{
    const config_t *c = base;
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->nlisten; i++) {
        const config_listen *e = &c->listen[i];
        json_t *v = e->tls_cert ? report_keys(e, listen_keys, ARRAY_LEN(listen_keys))
                                : json_string(e->address);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static const struct custom listen_custom = {.parse = listen_parse,
                                            .set_default = listen_default,
                                            .release = listen_release,
                                            .report = listen_report};

/* ---- resources ------------------------------------------------------------------------ */

/* A list of scope tokens (max SCOPES_MAX, no repeats). */
static wt_status scope_list_check(json_t *v, const struct sink *sk, const char *kp)
{
    size_t i, j;
    json_t *s;
    char b[84];
    if (!json_is_array(v) || json_array_size(v) > SCOPES_MAX)
        return bad(sk, kp, "must be a list of at most %d scope names", SCOPES_MAX);
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || !is_scope_token(json_string_value(s)))
            return bad(sk, kp,
                       "item %zu must be a scope name (1 to 128 printable characters "
                       "without spaces, '\"' or '\\')",
                       i);
        for (j = 0; j < i; j++)
            if (json_equal(json_array_get(v, j), s))
                return bad(sk, kp, "scope \"%s\" is listed twice", shown(json_string_value(s), b));
    }
    return WT_OK;
}

/* A list of scopes, or an object from HTTP method (upper-case) to such a list. */
static wt_status scopes_required_parse(void *base, json_t *v, const struct ld *ld, const char *kp)
{
    config_resource *r = base;
    const struct sink *sk = &ld->sink;
    wt_status st;
    if (json_is_object(v)) {
        const char *m;
        json_t *l;
        char mkp[KEY_PATH_MAX], b[84];
        if (json_object_size(v) > METHODS_MAX)
            return bad(sk, kp, "must map at most %d methods", METHODS_MAX);
        json_object_foreach(v, m, l)
        {
            size_t n = strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            bool any = strcmp(m, "*") == 0; /* every method not listed */
            if (!any && (n == 0 || n > 16 || m[n]))
                return bad(sk, kp,
                           "\"%s\" is not an upper-case HTTP method such as \"GET\" (or \"*\")",
                           shown(m, b));
            key_path(mkp, kp, m);
            if ((st = scope_list_check(l, sk, mkp)) != WT_OK)
                return st;
        }
    } else if (!json_is_array(v)) {
        return bad(sk, kp,
                   "must be a list of scope names or an object from HTTP method to such a list");
    } else if ((st = scope_list_check(v, sk, kp)) != WT_OK) {
        return st;
    }
    json_t *copy = json_deep_copy(v);
    if (!copy)
        return nomem(sk);
    json_decref(r->scopes_required);
    r->scopes_required = copy;
    return WT_OK;
}

static wt_status scopes_required_default(void *base)
{
    config_resource *r = base;
    return (r->scopes_required = json_array()) ? WT_OK : WT_NOMEM;
}

static void scopes_required_release(void *base)
{
    config_resource *r = base;
    json_decref(r->scopes_required);
    r->scopes_required = NULL;
}

static json_t *scopes_required_report(const void *base)
{
    const config_resource *r = base;
    return r->scopes_required ? json_deep_copy(r->scopes_required) : json_array();
}

static const struct custom scopes_required_custom = {.parse = scopes_required_parse,
                                                     .set_default = scopes_required_default,
                                                     .release = scopes_required_release,
                                                     .report = scopes_required_report};

static void resource_list_free(config_resource *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        release_keys(&list[i], resource_keys, ARRAY_LEN(resource_keys));
    free(list);
}

/* resources: a list of 1..RESOURCES_MAX objects of resource_keys; replaces the whole list. */
static wt_status resources_parse(void *base, json_t *v, const struct ld *ld, const char *kp)
{
    config_t *c = base;
    char ikp[KEY_PATH_MAX];
    wt_status st = WT_OK;
    if (!json_is_array(v))
        return bad(&ld->sink, kp, "must be a list of {\"path\": …} objects");
    size_t n = json_array_size(v);
    if (n < 1 || n > RESOURCES_MAX)
        return bad(&ld->sink, kp, "must list 1 to %d resources", RESOURCES_MAX);
    config_resource *list = calloc(n, sizeof *list);
    if (!list)
        return nomem(&ld->sink);
    for (size_t i = 0; i < n && st == WT_OK; i++) {
        json_t *o = json_array_get(v, i);
        snprintf(ikp, sizeof ikp, "%s[%zu]", kp, i);
        if (!json_is_object(o))
            st = bad(&ld->sink, ikp, "must be an object {\"path\": …}");
        else if (default_keys(&list[i], resource_keys, ARRAY_LEN(resource_keys)) != WT_OK)
            st = nomem(&ld->sink);
        else
            st = load_object(&list[i], resource_keys, ARRAY_LEN(resource_keys), o, ld, ikp, NULL);
    }
    if (st != WT_OK)
        goto done;
    resource_list_free(c->resources, c->nresources);
    c->resources = list;
    c->nresources = n;
    list = NULL;
done:
    resource_list_free(list, n);
    return st;
}

/* The SPEC default: one resource, {"path": "/mcp", "scopes_required": ["read:assets"]}. */
static wt_status resources_default(void *base)
{
    config_t *c = base;
    struct ld ld = {.sink = {NULL, 0, NULL, false}, .dir = NULL};
    json_t *v = json_pack("[{s:s, s:[s]}]", "path", "/mcp", "scopes_required", "read:assets");
    wt_status st = v ? resources_parse(c, v, &ld, "resources") : WT_NOMEM;
    json_decref(v);
    return st;
}

static void resources_release(void *base)
{
    config_t *c = base;
    resource_list_free(c->resources, c->nresources);
    c->resources = NULL;
    c->nresources = 0;
}

static json_t *resources_report(const void *base)
{
    const config_t *c = base;
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->nresources; i++) {
        json_t *o = report_keys(&c->resources[i], resource_keys, ARRAY_LEN(resource_keys));
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static const struct custom resources_custom = {.parse = resources_parse,
                                               .set_default = resources_default,
                                               .release = resources_release,
                                               .report = resources_report};

/* ---- trusted_proxies ------------------------------------------------------------------ */

/* An IPv4 or IPv6 address, optionally "/PREFIX" (0..32 or 0..128). */
static bool is_ip_or_cidr(const char *s)
{
    char addr[INET6_ADDRSTRLEN + 1];
    unsigned char buf[sizeof(struct in6_addr)];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof addr)
        return false;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    int max = inet_pton(AF_INET, addr, buf) == 1    ? 32
              : inet_pton(AF_INET6, addr, buf) == 1 ? 128
                                                    : -1;
    int prefix;
    if (max < 0)
        return false;
    return !slash || (parse_port(slash + 1, strlen(slash + 1), 0, &prefix) && prefix <= max);
}

static void string_list_free(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

static wt_status proxies_parse(void *base, json_t *v, const struct ld *ld, const char *kp)
{
    config_t *c = base;
    char b[84];
    if (!json_is_array(v) || json_array_size(v) > PROXIES_MAX)
        return bad(&ld->sink, kp,
                   "must be a list of at most %d IP addresses or CIDRs such as \"10.0.0.0/8\"",
                   PROXIES_MAX);
    size_t n = json_array_size(v), i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || !is_ip_or_cidr(json_string_value(s)))
            return bad(&ld->sink, kp,
                       "item %zu%s%s%s is not an IP address or CIDR such as \"10.0.0.0/8\"", i,
                       json_is_string(s) ? " \"" : "",
                       json_is_string(s) ? shown(json_string_value(s), b) : "",
                       json_is_string(s) ? "\"" : "");
    }
    char **list = n ? calloc(n, sizeof *list) : NULL;
    if (n && !list)
        return nomem(&ld->sink);
    for (i = 0; i < n; i++)
        if (!(list[i] = strdup(json_string_value(json_array_get(v, i))))) {
            string_list_free(list, n);
            return nomem(&ld->sink);
        }
    string_list_free(c->trusted_proxies, c->ntrusted_proxies);
    c->trusted_proxies = list;
    c->ntrusted_proxies = n;
    return WT_OK;
}

static void proxies_release(void *base)
{
    config_t *c = base;
    string_list_free(c->trusted_proxies, c->ntrusted_proxies);
    c->trusted_proxies = NULL;
    c->ntrusted_proxies = 0;
}

static json_t *proxies_report(const void *base)
{
    const config_t *c = base;
    json_t *a = json_array();
    for (size_t i = 0; a && i < c->ntrusted_proxies; i++)
        if (json_array_append_new(a, json_string(c->trusted_proxies[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static const struct custom proxies_custom = {
    .parse = proxies_parse, .release = proxies_release, .report = proxies_report};

/* ---- public API ----------------------------------------------------------------------- */

wt_status config_defaults(config_t *c)
{
    memset(c, 0, sizeof *c);
    wt_status st = default_keys(c, config_keys, ARRAY_LEN(config_keys));
    return st == WT_OK ? WT_OK : WT_NOMEM;
}

void config_free(config_t *c)
{
    if (!c)
        return;
    release_keys(c, config_keys, ARRAY_LEN(config_keys));
    memset(c, 0, sizeof *c);
}

char *config_resolve_path(const char *dir, const char *rel)
{
    if (!rel)
        return NULL;
    if (rel[0] == '/' || !dir || !dir[0])
        return strdup(rel);
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
        while (rel[0] == '/')
            rel++;
    }
    if (!rel[0] || strcmp(rel, ".") == 0)
        return strdup(dir);
    size_t dl = strlen(dir), rl = strlen(rel);
    bool slash = dir[dl - 1] != '/';
    char *out = malloc(dl + slash + rl + 1);
    if (!out)
        return NULL;
    memcpy(out, dir, dl);
    if (slash)
        out[dl] = '/';
    memcpy(out + dl + slash, rel, rl + 1);
    return out;
}

/* The directory part of path ("." when it has none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Reads at most CONFIG_FILE_MAX bytes of path into a NUL-terminated malloc'd buffer. */
static wt_status read_file(const char *path, char **out, size_t *outlen, const struct sink *sk)
{
    wt_status st = WT_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = WT_EIO;
        bad(sk, NULL, "cannot open the config file: %s", strerror(errno));
        goto done;
    }
    if (!(buf = malloc(CONFIG_FILE_MAX + 1))) {
        st = nomem(sk);
        goto done;
    }
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = WT_EIO;
        bad(sk, NULL, "cannot read the config file: %s", strerror(errno));
        goto done;
    }
    if (n > CONFIG_FILE_MAX) {
        st = WT_TOOBIG;
        bad(sk, NULL, "the config file is larger than %d bytes", CONFIG_FILE_MAX);
        goto done;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    buf = NULL;
done:
    free(buf);
    if (f)
        fclose(f);
    return st;
}

wt_status config_load_file(config_t *c, const char *path, char *err, size_t errlen)
{
    struct ld ld = {.sink = {err, errlen, path, false}, .dir = NULL};
    char *text = NULL, *dir = NULL;
    json_t *root = NULL;
    size_t len = 0;
    uint64_t seen = 0;
    json_error_t jerr;
    wt_status st;
    if (!path || !path[0]) {
        ld.sink.origin = "config";
        st = bad(&ld.sink, NULL, "the config file name is empty");
        goto done;
    }
    if ((st = read_file(path, &text, &len, &ld.sink)) != WT_OK)
        goto done;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        st = bad(&ld.sink, NULL, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        st = bad(&ld.sink, NULL, "the config must be a JSON object {…}");
        goto done;
    }
    if (!(dir = dir_of(path))) {
        st = nomem(&ld.sink);
        goto done;
    }
    ld.dir = dir;
    st = load_object(c, config_keys, ARRAY_LEN(config_keys), root, &ld, "", &seen);
    if (st != WT_OK)
        goto done;
    /* A path default the file leaves alone (data_dir) is relative to the file too (SPEC §1:
     * "without a config, data_dir is relative to the working directory"). */
    for (size_t i = 0; i < ARRAY_LEN(config_keys); i++) {
        const struct key *k = &config_keys[i];
        char **sp = field(c, k);
        if (k->type != K_STRING || !(k->flags & F_PATH) || !k->sdef ||
            (seen & (UINT64_C(1) << i)) || !*sp || strcmp(*sp, k->sdef) != 0)
            continue;
        char *resolved = config_resolve_path(dir, k->sdef);
        if (!resolved) {
            st = nomem(&ld.sink);
            goto done;
        }
        free(*sp);
        *sp = resolved;
    }
done:
    json_decref(root);
    free(text);
    free(dir);
    return st;
}

/* Loads one flag's value through the table entry of `name`, with messages "FLAG: reason". */
static wt_status apply_flag(config_t *c, const char *name, const char *flag, const char *value,
                            char *err, size_t errlen)
{
    struct ld ld = {.sink = {err, errlen, flag, true}, .dir = NULL};
    const struct key *k = find_key(config_keys, ARRAY_LEN(config_keys), name);
    json_t *v = json_string(value);
    wt_status st;
    if (!v) /* not UTF-8, or out of memory */
        st = bad(&ld.sink, NULL, "must be valid UTF-8 text");
    else
        st = load_key(c, k, v, &ld, name);
    json_decref(v);
    return st;
}

wt_status config_apply_flags(config_t *c, const char *data_dir, const char *listen,
                             const char *issuer, char *err, size_t errlen)
{
    wt_status st = WT_OK;
    if (data_dir)
        st = apply_flag(c, "data_dir", "--data-dir", data_dir, err, errlen);
    if (st == WT_OK && listen)
        st = apply_flag(c, "listen", "--listen", listen, err, errlen);
    if (st == WT_OK && issuer)
        st = apply_flag(c, "issuer", "--issuer", issuer, err, errlen);
    return st;
}

/* "http(s)://host:port" of the first listen entry; *out is malloc'd. */
static wt_status derive_issuer(const config_t *c, int port, char **out)
{
    *out = NULL;
    if (c->nlisten == 0 || port < 1 || port > 65535)
        return WT_INVALID;
    const config_listen *e = &c->listen[0];
    bool v6 = strchr(e->host, ':') != NULL;
    size_t n = strlen(e->host) + 32;
    char *s = malloc(n);
    if (!s)
        return WT_NOMEM;
    snprintf(s, n, "%s://%s%s%s:%d", e->tls_cert ? "https" : "http", v6 ? "[" : "", e->host,
             v6 ? "]" : "", port);
    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    *out = s;
    return WT_OK;
}

wt_status config_check(config_t *c, char *err, size_t errlen)
{
    struct sink sk = {err, errlen, NULL, false};
    char why[200], b[84], b2[84];
    char *derived = NULL;
    wt_status st = WT_OK;
    if (c->nlisten == 0) {
        st = bad(&sk, NULL, "listen: at least one address is needed");
        goto done;
    }
    if (c->issuer && !check_issuer(c->issuer, why, sizeof why)) {
        st = bad(&sk, NULL, "issuer %s (\"%s\")", why, shown(c->issuer, b));
        goto done;
    }
    if (!c->issuer) {
        const config_listen *e = &c->listen[0];
        if (host_is_wildcard(e->host)) {
            st = bad(&sk, NULL,
                     "a wildcard listen address needs an explicit issuer (listen \"%s\"; set "
                     "\"issuer\" or --issuer)",
                     shown(e->address, b));
            goto done;
        }
        if ((st = derive_issuer(c, e->port ? e->port : 1, &derived)) != WT_OK) {
            bad(&sk, NULL, "out of memory");
            goto done;
        }
        if (!check_issuer(derived, why, sizeof why)) {
            st = bad(&sk, NULL,
                     "issuer %s: the issuer derived from listen \"%s\" would be \"%s\"; set "
                     "\"issuer\" or --issuer",
                     why, shown(e->address, b), shown(derived, b2));
            goto done;
        }
    }
    for (size_t i = 0; i < c->nlisten; i++)
        for (size_t j = 0; j < i; j++)
            if (c->listen[i].port != 0 && c->listen[i].port == c->listen[j].port &&
                strcasecmp(c->listen[i].host, c->listen[j].host) == 0) {
                st = bad(&sk, NULL, "listen: \"%s\" is listed twice",
                         shown(c->listen[i].address, b));
                goto done;
            }
    for (size_t i = 0; i < c->nresources; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->resources[i].path, c->resources[j].path) == 0) {
                st = bad(&sk, NULL, "resources: path \"%s\" is listed twice",
                         shown(c->resources[i].path, b));
                goto done;
            }
done:
    free(derived);
    return st;
}

wt_status config_finish_issuer(config_t *c, int bound_port)
{
    char why[200], *s = NULL;
    if (c->issuer)
        return WT_OK;
    if (c->nlisten == 0 || host_is_wildcard(c->listen[0].host))
        return WT_INVALID;
    wt_status st = derive_issuer(c, bound_port > 0 ? bound_port : c->listen[0].port, &s);
    if (st != WT_OK)
        return st;
    if (!check_issuer(s, why, sizeof why)) {
        free(s);
        return WT_INVALID;
    }
    c->issuer = s;
    return WT_OK;
}

json_t *config_to_json(const config_t *c)
{
    return report_keys(c, config_keys, ARRAY_LEN(config_keys));
}
