/* cimd.c — Client ID Metadata Documents (contract and policy in cimd.h).
 *
 * The pure parts (URL rules, address classifier, cache lifetime, document → client document)
 * come first; then the blocking libcurl fetch, which runs on a worker thread; then the writer
 * op and the purge. The fetch's SSRF guard has three layers: the host is resolved here and
 * every address it has is classified (a host with any forbidden address is refused, so a
 * name cannot mix a public and a private address); curl is pinned to the checked addresses
 * with CURLOPT_RESOLVE (no second resolution that DNS rebinding could answer differently);
 * and an open-socket callback refuses to connect anywhere else (a parser difference between
 * us and curl about the host cannot lead elsewhere). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "assertion.h"
#include "buf.h"
#include "cimd.h"
#include "clients.h"
#include "grants.h"
#include "log.h"
#include "records.h"
#include "token.h"

#define URL_FIELD_MAX 2000 /* client_uri, logo_uri */

static wt_status say(char *why, size_t n, wt_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static wt_status say(char *why, size_t n, wt_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && n)
        vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return st;
}

bool cimd_is_url(const char *client_id)
{
    return client_id && strncmp(client_id, "https://", 8) == 0;
}

/* ---------------------------------------------------------------- the URL */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 3986: unreserved, gen-delims, sub-delims and '%'. */
static bool url_char(int c)
{
    return is_alnum(c) || (c && strchr("-._~:/?#[]@!$&'()*+,;=%", c));
}

/* True when the path segment s[0..n) is "." or ".." once %2e/%2E is read as '.'. */
static bool dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '.') {
            i++;
        } else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' &&
                   (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            i += 3;
        } else {
            return false;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

static wt_status check_port(const char *p, size_t n, int *port, char *why, size_t wn)
{
    long v = 0;
    if (n == 0 || n > 5)
        return say(why, wn, WT_INVALID,
                   "the client_id URL's port must be a number between 1 "
                   "and 65535");
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return say(why, wn, WT_INVALID,
                       "the client_id URL's port must be a number between "
                       "1 and 65535");
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return say(why, wn, WT_INVALID,
                   "the client_id URL's port must be a number between 1 "
                   "and 65535");
    *port = (int)v;
    return WT_OK;
}

/* A DNS name (letters, digits, '-', '_', dot-separated non-empty labels, one trailing dot
 * allowed) or a dotted-quad IPv4 address. A name whose last label starts with a digit must be
 * a dotted quad: resolvers read "127.1" or "0x7f.1" as addresses. */
static wt_status check_host(cimd_url *out, char *why, size_t wn)
{
    const char *h = out->host;
    size_t n = strlen(h);
    if (n && h[n - 1] == '.')
        n--;
    if (n == 0)
        return say(why, wn, WT_INVALID, "the client_id URL has no host");
    size_t label = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0)
                return say(why, wn, WT_INVALID, "the client_id URL's host has an empty label");
            label = 0;
            last = i + 1;
            continue;
        }
        if (!is_alnum(c) && c != '-' && c != '_')
            return say(why, wn, WT_INVALID,
                       "the client_id URL's host may contain only "
                       "letters, digits, '-', '_' and '.' (or be an IP "
                       "address)");
        label++;
    }
    if (label == 0)
        return say(why, wn, WT_INVALID, "the client_id URL's host has an empty label");
    if (is_digit(h[last])) {
        struct in_addr a;
        if (inet_pton(AF_INET, h, &a) != 1)
            return say(why, wn, WT_INVALID,
                       "the client_id URL's host is neither a DNS name nor "
                       "a dotted-quad IPv4 address");
        out->ip_literal = true;
    }
    return WT_OK;
}

wt_status cimd_url_parse(const char *url, cimd_url *out, char *why, size_t wn)
{
    memset(out, 0, sizeof *out);
    out->port = 443;
    if (!url)
        return say(why, wn, WT_INVALID, "the client_id is missing");
    size_t len = strlen(url);
    if (len > CIMD_URL_MAX)
        return say(why, wn, WT_INVALID, "the client_id URL is longer than %d bytes", CIMD_URL_MAX);
    if (strncmp(url, "https://", 8) != 0)
        return say(why, wn, WT_INVALID, "a client_id URL must start with https://");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c == '#')
            return say(why, wn, WT_INVALID, "the client_id URL must not have a fragment (#...)");
        if (!url_char(c))
            return say(why, wn, WT_INVALID,
                       "the client_id URL contains a character that is not "
                       "allowed in a URL (at byte %zu)",
                       i + 1);
        if (c == '%' && !(i + 2 < len && is_hex(url[i + 1]) && is_hex(url[i + 2])))
            return say(why, wn, WT_INVALID, "the client_id URL has a malformed %%-escape");
    }
    const char *a = url + 8;
    size_t alen = strcspn(a, "/?");
    if (memchr(a, '@', alen))
        return say(why, wn, WT_INVALID,
                   "the client_id URL must not contain a user name or "
                   "password (...@)");
    if (alen == 0)
        return say(why, wn, WT_INVALID, "the client_id URL has no host");
    const char *port = NULL;
    size_t plen = 0;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        size_t hl = rb ? (size_t)(rb - a - 1) : 0;
        if (!rb || hl == 0 || hl >= sizeof out->host)
            return say(why, wn, WT_INVALID, "the client_id URL has a malformed IPv6 address");
        memcpy(out->host, a + 1, hl);
        out->host[hl] = '\0';
        struct in6_addr x;
        if (inet_pton(AF_INET6, out->host, &x) != 1)
            return say(why, wn, WT_INVALID, "the client_id URL has a malformed IPv6 address");
        out->ip_literal = true;
        const char *rest = rb + 1;
        size_t rl = (size_t)(a + alen - rest);
        if (rl > 0) {
            if (rest[0] != ':')
                return say(why, wn, WT_INVALID,
                           "the client_id URL has a malformed IPv6 "
                           "address");
            port = rest + 1;
            plen = rl - 1;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        size_t hl = colon ? (size_t)(colon - a) : alen;
        if (hl == 0)
            return say(why, wn, WT_INVALID, "the client_id URL has no host");
        if (hl > CIMD_HOST_MAX)
            return say(why, wn, WT_INVALID, "the client_id URL's host is longer than %d bytes",
                       CIMD_HOST_MAX);
        memcpy(out->host, a, hl);
        out->host[hl] = '\0';
        if (colon) {
            port = colon + 1;
            plen = (size_t)(a + alen - port);
        }
        wt_status st = check_host(out, why, wn);
        if (st != WT_OK)
            return st;
    }
    if (port && check_port(port, plen, &out->port, why, wn) != WT_OK)
        return WT_INVALID;
    const char *p = a + alen;
    if (*p != '/')
        return say(why, wn, WT_INVALID,
                   "the client_id URL must have a path "
                   "(https://host/path)");
    size_t pathlen = strcspn(p, "?");
    for (size_t i = 1, start = 1; i <= pathlen; i++) {
        if (i == pathlen || p[i] == '/') {
            if (dot_segment(p + start, i - start))
                return say(why, wn, WT_INVALID,
                           "the client_id URL must not contain '.' or '..' "
                           "path segments");
            start = i + 1;
        }
    }
    return WT_OK;
}

/* ---------------------------------------------------------------- addresses */

static bool prefix_match(const uint8_t *a, const uint8_t *p, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, p, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (p[full] & mask);
}

struct net4 {
    uint8_t p[4];
    int bits;
    const char *what;
};

static const struct net4 v4_nets[] = {
    {{0, 0, 0, 0}, 32, "an unspecified address"},
    {{0, 0, 0, 0}, 8, "a 'this network' address"},
    {{10, 0, 0, 0}, 8, "a private address"},
    {{100, 64, 0, 0}, 10, "a shared (carrier-grade NAT) address"},
    {{127, 0, 0, 0}, 8, "a loopback address"},
    {{169, 254, 0, 0}, 16, "a link-local address"},
    {{172, 16, 0, 0}, 12, "a private address"},
    {{192, 0, 0, 0}, 24, "a reserved (IETF protocol) address"},
    {{192, 0, 2, 0}, 24, "a documentation address"},
    {{192, 88, 99, 0}, 24, "a reserved (6to4 relay) address"},
    {{192, 168, 0, 0}, 16, "a private address"},
    {{198, 18, 0, 0}, 15, "a reserved (benchmarking) address"},
    {{198, 51, 100, 0}, 24, "a documentation address"},
    {{203, 0, 113, 0}, 24, "a documentation address"},
    {{224, 0, 0, 0}, 4, "a multicast address"},
    {{255, 255, 255, 255}, 32, "the broadcast address"},
    {{240, 0, 0, 0}, 4, "a reserved address"},
};

static const char *v4_forbidden(const uint8_t a[4])
{
    for (size_t i = 0; i < sizeof v4_nets / sizeof *v4_nets; i++)
        if (prefix_match(a, v4_nets[i].p, v4_nets[i].bits))
            return v4_nets[i].what;
    return NULL;
}

struct net6 {
    uint8_t p[16];
    int bits;
    int embed;        /* > 0: judged by the IPv4 address at this byte offset */
    const char *what; /* when embed == 0 */
};

static const struct net6 v6_nets[] = {
    {{0}, 128, 0, "an unspecified address"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, 0, "a loopback address"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 12, NULL},    /* ::ffff:a.b.c.d */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96, 12, NULL},    /* ::ffff:0:a.b.c.d */
    {{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96, 12, NULL}, /* 64:ff9b::/96 */
    {{0x20, 0x02}, 16, 2, NULL},                                   /* 6to4 */
    {{0}, 96, 0, "an IPv4-compatible address"},                    /* ::/96 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, 0, "a private (local NAT64) address"},
    {{0x01, 0x00}, 64, 0, "a discard-only address"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, 0, "a documentation address"},
    {{0x20, 0x01, 0, 0}, 32, 0, "a Teredo tunnel address"},
    {{0xfc}, 7, 0, "a private (unique local) address"},
    {{0xfe, 0x80}, 10, 0, "a link-local address"},
    {{0xfe, 0xc0}, 10, 0, "a site-local address"},
    {{0xff}, 8, 0, "a multicast address"},
};

const char *cimd_addr_forbidden(const struct sockaddr *sa)
{
    if (!sa)
        return "no address";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return v4_forbidden((const uint8_t *)&s4->sin_addr);
    }
    if (sa->sa_family != AF_INET6)
        return "an address of an unsupported family";
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    for (size_t i = 0; i < sizeof v6_nets / sizeof *v6_nets; i++) {
        if (!prefix_match(a, v6_nets[i].p, v6_nets[i].bits))
            continue;
        if (v6_nets[i].embed)
            return v4_forbidden(a + v6_nets[i].embed);
        return v6_nets[i].what;
    }
    return NULL;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    const void *p = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, p, out, (socklen_t)n))
        snprintf(out, n, "?");
}

/* ---------------------------------------------------------------- cache lifetime */

int64_t cimd_ttl(const char *cc, int64_t cfg_ttl)
{
    int64_t ttl = cfg_ttl;
    const char *s = cc ? cc : "";
    while (*s) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, ",");
        const char *d = s;
        s += n;
        while (n && (d[n - 1] == ' ' || d[n - 1] == '\t'))
            n--;
        if ((n == 8 && strncasecmp(d, "no-store", 8) == 0) ||
            (n == 8 && strncasecmp(d, "no-cache", 8) == 0)) {
            ttl = 0;
        } else if (n > 8 && strncasecmp(d, "max-age=", 8) == 0) {
            const char *v = d + 8, *e = d + n;
            if (v < e && *v == '"')
                v++;
            int64_t age = 0;
            bool any = false;
            for (; v < e && is_digit(*v); v++, any = true)
                if (age < 1000000000000LL)
                    age = age * 10 + (*v - '0');
            if (any && age < ttl)
                ttl = age;
        }
    }
    return ttl < CIMD_MIN_TTL ? CIMD_MIN_TTL : ttl;
}

bool cimd_fresh(const json_t *doc, int64_t now)
{
    const char *src = json_string_value(json_object_get(doc, "source"));
    json_t *until = json_object_get(doc, "cache_until");
    return src && strcmp(src, "cimd") == 0 && json_is_integer(until) &&
           json_integer_value(until) > now;
}

/* ---------------------------------------------------------------- the document */

static bool https_url(const char *s)
{
    size_t n = strlen(s);
    if (n <= 8 || n > URL_FIELD_MAX || strncmp(s, "https://", 8) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!url_char((unsigned char)s[i]))
            return false;
    return true;
}

/* An array of 1..max strings into v (borrowed from the document). */
static wt_status string_array(const json_t *a, const char *name, size_t max, const char **v,
                              size_t *n, char *why, size_t wn)
{
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max)
        return say(why, wn, WT_INVALID,
                   "the metadata document's %s must be an array of 1 to "
                   "%zu strings",
                   name, max);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        if (!json_is_string(x))
            return say(why, wn, WT_INVALID, "the metadata document's %s[%zu] is not a string", name,
                       i);
        v[i] = json_string_value(x);
    }
    *n = json_array_size(a);
    return WT_OK;
}

wt_status cimd_client_doc(const char *url, const char *host, const char *body, size_t len,
                          const scope_catalogue *cat, int64_t now, int64_t ttl, json_t **out,
                          char *why, size_t wn)
{
    const char *redirects[20], *grants[3];
    size_t nredirect = 0, ngrant = 0;
    json_t *d = NULL, *built = NULL;
    wt_status st = WT_INVALID;
    *out = NULL;
    if (len > CIMD_DOC_MAX)
        return say(why, wn, WT_TOOBIG, "the metadata document is larger than %d bytes",
                   CIMD_DOC_MAX);
    json_error_t je;
    d = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!d)
        return say(why, wn, WT_INVALID,
                   "the metadata document is not valid JSON (line %d: "
                   "%.80s)",
                   je.line, je.text);
    if (!json_is_object(d)) {
        say(why, wn, WT_INVALID, "the metadata document is not a JSON object");
        goto out;
    }
    json_t *cid = json_object_get(d, "client_id");
    if (!json_is_string(cid)) {
        say(why, wn, WT_INVALID, "the metadata document has no client_id string");
        goto out;
    }
    if (strcmp(json_string_value(cid), url) != 0) {
        say(why, wn, WT_INVALID,
            "the metadata document's client_id (\"%.120s\") is not the URL "
            "it was fetched from; they must be identical",
            json_string_value(cid));
        goto out;
    }
    if (json_object_get(d, "client_secret") || json_object_get(d, "client_secret_expires_at")) {
        say(why, wn, WT_INVALID, "a metadata document must not contain a client_secret");
        goto out;
    }
    /* token_endpoint_auth_method */
    json_t *m = json_object_get(d, "token_endpoint_auth_method");
    const char *auth = "none";
    if (m && !json_is_string(m)) {
        say(why, wn, WT_INVALID,
            "the metadata document's token_endpoint_auth_method is not a "
            "string");
        goto out;
    }
    if (m)
        auth = json_string_value(m);
    const json_t *jwks = NULL;
    if (strncmp(auth, "client_secret_", 14) == 0) {
        say(why, wn, WT_INVALID,
            "the metadata document asks for %.40s, but a client identified "
            "by a metadata document cannot have a client secret (use none "
            "or private_key_jwt)",
            auth);
        goto out;
    } else if (strcmp(auth, "private_key_jwt") == 0) {
        jwks = json_object_get(d, "jwks");
        if (!jwks && json_object_get(d, "jwks_uri")) {
            say(why, wn, WT_INVALID,
                "the metadata document's jwks_uri is not supported: put "
                "the public keys in jwks");
            goto out;
        }
        if (!jwks) {
            say(why, wn, WT_INVALID,
                "the metadata document uses private_key_jwt but has no "
                "jwks (the client's public keys)");
            goto out;
        }
        if (json_object_get(d, "jwks_uri")) {
            say(why, wn, WT_INVALID,
                "the metadata document must not have both jwks and "
                "jwks_uri");
            goto out;
        }
        char kw[200];
        if (assertion_jwks_check(jwks, kw, sizeof kw) != WT_OK) {
            say(why, wn, WT_INVALID, "the metadata document's jwks: %s", kw);
            goto out;
        }
    } else if (strcmp(auth, "none") != 0) {
        say(why, wn, WT_INVALID,
            "the metadata document's token_endpoint_auth_method \"%.40s\" "
            "is not supported (use none or private_key_jwt)",
            auth);
        goto out;
    }
    /* redirect_uris, grant_types, response_types */
    json_t *r = json_object_get(d, "redirect_uris");
    if (!r) {
        say(why, wn, WT_INVALID, "the metadata document has no redirect_uris");
        goto out;
    }
    if (string_array(r, "redirect_uris", 20, redirects, &nredirect, why, wn) != WT_OK)
        goto out;
    json_t *g = json_object_get(d, "grant_types");
    if (g && string_array(g, "grant_types", 3, grants, &ngrant, why, wn) != WT_OK)
        goto out;
    json_t *rt = json_object_get(d, "response_types");
    if (rt) {
        size_t i;
        json_t *x;
        bool only_code = json_is_array(rt);
        json_array_foreach(rt, i, x)
        {
            if (!json_is_string(x) || strcmp(json_string_value(x), "code") != 0)
                only_code = false;
        }
        if (!only_code) {
            say(why, wn, WT_INVALID,
                "the metadata document's response_types must be "
                "[\"code\"]");
            goto out;
        }
    }
    /* the informational fields */
    json_t *nm = json_object_get(d, "client_name");
    if (nm && !json_is_string(nm)) {
        say(why, wn, WT_INVALID, "the metadata document's client_name is not a string");
        goto out;
    }
    const char *name = nm && json_string_length(nm) ? json_string_value(nm) : host;
    static const char *const url_fields[] = {"client_uri", "logo_uri"};
    for (size_t i = 0; i < 2; i++) {
        json_t *u = json_object_get(d, url_fields[i]);
        if (u && (!json_is_string(u) || !https_url(json_string_value(u)))) {
            say(why, wn, WT_INVALID,
                "the metadata document's %s must be an https URL of at "
                "most %d bytes",
                url_fields[i], URL_FIELD_MAX);
            goto out;
        }
    }
    client_spec sp = {
        .name = name,
        .redirect_uris = redirects,
        .nredirect = nredirect,
        .grant_types = g ? grants : NULL,
        .ngrant = ngrant,
        .token_auth = auth,
        .is_public = strcmp(auth, "none") == 0,
        .scope = NULL, /* the whole catalogue (cimd.h: policy) */
        .jwks = jwks,
        .client_id = url,
        .source = CLIENT_CIMD,
    };
    char secret[TOKEN_STR_LEN + 1], cw[256];
    const char *field_err = NULL;
    st = client_build(&sp, cat, now, &built, secret, cw, sizeof cw, &field_err);
    if (st == WT_INVALID) {
        say(why, wn, WT_INVALID, "the metadata document: %s", cw);
        goto out;
    }
    if (st != WT_OK) {
        say(why, wn, st, "the client could not be built from the metadata document");
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        json_t *u = json_object_get(d, url_fields[i]);
        if (u)
            json_object_set(built, url_fields[i], u);
    }
    if (json_object_set_new(built, "fetched_at", json_integer(now)) != 0 ||
        json_object_set_new(built, "cache_until", json_integer(now + ttl)) != 0) {
        st = say(why, wn, WT_NOMEM, "out of memory");
        goto out;
    }
    *out = built;
    built = NULL;
    st = WT_OK;
out:
    json_decref(built);
    json_decref(d);
    return st;
}

/* ---------------------------------------------------------------- the fetch */

struct fetch {
    buf_t body;
    bool too_big;
    char *cache_control; /* the cimd_response field */
    struct sockaddr_storage pins[CIMD_MAX_ADDRS];
    size_t npins;
    int port;
    bool allow_private;
    const atomic_bool *abandon;
    bool abandoned;
    const char *refused; /* why the open-socket check refused an address */
    char refused_addr[INET6_ADDRSTRLEN];
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fetch *f = arg;
    size_t n = size * nmemb;
    if (f->body.len + n > CIMD_DOC_MAX) {
        f->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return buf_add(&f->body, p, n) == WT_OK ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fetch *f = arg;
    size_t n = size * nmemb;
    if (n > 14 && strncasecmp(p, "cache-control:", 14) == 0) {
        const char *v = p + 14;
        size_t vl = n - 14;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        size_t have = strlen(f->cache_control), cap = 256;
        if (have + vl + 3 < cap) { /* several Cache-Control headers: one list */
            if (have)
                memcpy(f->cache_control + have, ", ", 2), have += 2;
            memcpy(f->cache_control + have, v, vl);
            f->cache_control[have + vl] = '\0';
        }
    }
    return n;
}

/* Progress callback: curl calls it at least once a second, connecting included. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct fetch *f = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    if (f->abandon && atomic_load(f->abandon))
        f->abandoned = true;
    return f->abandoned; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static int port_of(const struct sockaddr *a)
{
    return ntohs(a->sa_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
                                         : ((const struct sockaddr_in6 *)a)->sin6_port);
}

/* The last line of the guard: curl may only open a socket to a checked, pinned address. */
static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *ca)
{
    struct fetch *f = arg;
    const struct sockaddr *sa = &ca->addr;
    if (purpose != CURLSOCKTYPE_IPCXN || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
        f->refused = "not an IP connection";
        return CURL_SOCKET_BAD;
    }
    bool pinned = false;
    for (size_t i = 0; i < f->npins && !pinned; i++)
        pinned = same_addr(sa, &f->pins[i]);
    const char *bad = !pinned                  ? "an address that was not checked"
                      : port_of(sa) != f->port ? "another port"
                      : f->allow_private       ? NULL
                                               : cimd_addr_forbidden(sa);
    if (bad) {
        f->refused = bad;
        addr_text(sa, f->refused_addr, sizeof f->refused_addr);
        return CURL_SOCKET_BAD;
    }
    return socket(ca->family, ca->socktype, ca->protocol);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resolves u->host, checks every address and keeps up to CIMD_MAX_ADDRS in f->pins; builds
 * the CURLOPT_RESOLVE entry "host:port:addr,[v6addr],…" into resolve (not for IP literals). */
static wt_status resolve_pins(const cimd_url *u, struct fetch *f, char *resolve, size_t rn,
                              char *why, size_t wn)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (u->ip_literal)
        hints.ai_flags = AI_NUMERICHOST;
    int rc = getaddrinfo(u->host, NULL, &hints, &res);
    if (rc != 0)
        return say(why, wn, WT_EIO, "cannot resolve %s, the host of the client_id URL (%s)",
                   u->host, gai_strerror(rc));
    wt_status st = WT_OK;
    int w = snprintf(resolve, rn, "%s:%d:", u->host, u->port);
    for (struct addrinfo *ai = res; ai && st == WT_OK; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        char txt[INET6_ADDRSTRLEN];
        addr_text(ai->ai_addr, txt, sizeof txt);
        const char *bad = f->allow_private ? NULL : cimd_addr_forbidden(ai->ai_addr);
        if (bad) {
            st = say(why, wn, WT_DENIED,
                     "%s, the host of the client_id URL, has the address "
                     "%s, %s: fetching metadata documents from such "
                     "addresses is not allowed here "
                     "(cimd.allow_private_addresses)",
                     u->host, txt, bad);
            break;
        }
        bool dup = false;
        for (size_t i = 0; i < f->npins && !dup; i++)
            dup = same_addr(ai->ai_addr, &f->pins[i]);
        if (dup || f->npins == CIMD_MAX_ADDRS)
            continue;
        memcpy(&f->pins[f->npins++], ai->ai_addr, ai->ai_addrlen);
        if (w > 0 && (size_t)w < rn)
            w +=
                snprintf(resolve + w, rn - (size_t)w, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                         f->npins > 1 ? "," : "", txt);
    }
    freeaddrinfo(res);
    if (st == WT_OK && f->npins == 0)
        st = say(why, wn, WT_EIO, "%s, the host of the client_id URL, has no IP address", u->host);
    if (st == WT_OK && (w < 0 || (size_t)w >= rn))
        st = say(why, wn, WT_EIO, "%s has too many addresses", u->host);
    return st;
}

void cimd_response_free(cimd_response *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof *r);
}

wt_status cimd_fetch(const char *url, const cimd_url *u, const cimd_fetch_opts *o, cimd_response *r,
                     char *why, size_t wn)
{
    struct fetch *f = calloc(1, sizeof *f);
    char resolve[CIMD_HOST_MAX + 32 + CIMD_MAX_ADDRS * (INET6_ADDRSTRLEN + 3)];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rl = NULL, *hdrs = NULL;
    CURL *c = NULL;
    wt_status st;
    long timeout = o->timeout_ms > 0 ? o->timeout_ms : CIMD_TIMEOUT_MS;
    int64_t t0 = mono_ms();
    memset(r, 0, sizeof *r);
    if (!f)
        return say(why, wn, WT_NOMEM, "out of memory");
    buf_init(&f->body, CIMD_DOC_MAX);
    f->cache_control = r->cache_control;
    f->port = u->port;
    f->allow_private = o->allow_private;
    f->abandon = o->abandon;
    st = resolve_pins(u, f, resolve, sizeof resolve, why, wn);
    if (st != WT_OK)
        goto out;
    long left = timeout - (long)(mono_ms() - t0);
    if (left <= 0) {
        st = say(why, wn, WT_EXPIRED, "resolving %s took longer than %ld ms (timeout)", u->host,
                 timeout);
        goto out;
    }
    if (!(c = curl_easy_init()) || (!u->ip_literal && !(rl = curl_slist_append(NULL, resolve))) ||
        !(hdrs = curl_slist_append(NULL, "Accept: application/json"))) {
        st = say(why, wn, WT_NOMEM, "cannot start the fetch (out of memory)");
        goto out;
    }
    CURLcode ok = CURLE_OK;
#define SET(opt, val)                                                                              \
    if (ok == CURLE_OK)                                                                            \
    ok = curl_easy_setopt(c, opt, val)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, left);
    SET(CURLOPT_CONNECTTIMEOUT_MS, left < CIMD_CONNECT_TIMEOUT_MS ? left : CIMD_CONNECT_TIMEOUT_MS);
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->ca_file) {
        SET(CURLOPT_CAINFO, o->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    SET(CURLOPT_MAXFILESIZE, (long)CIMD_DOC_MAX);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, f);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, f);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, f);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open);
    SET(CURLOPT_OPENSOCKETDATA, f);
    if (rl)
        SET(CURLOPT_RESOLVE, rl);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_USERAGENT, "Wattle (client metadata document fetch)");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
    if (ok != CURLE_OK) {
        st = say(why, wn, WT_EIO, "cannot set up the fetch (%s)", curl_easy_strerror(ok));
        goto out;
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (f->abandoned) {
        st = say(why, wn, WT_EIO, "the server is shutting down");
    } else if (f->refused) {
        st = say(why, wn, WT_DENIED,
                 "refused to connect to %s (%s) for the metadata document: "
                 "it is %s",
                 u->host, f->refused_addr[0] ? f->refused_addr : "?", f->refused);
    } else if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        st = say(why, wn, WT_TOOBIG, "the metadata document is larger than %d bytes (5 KB)",
                 CIMD_DOC_MAX);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = say(why, wn, WT_EXPIRED,
                 "the metadata document did not arrive in time (timeout "
                 "after %lld ms; the limits are %d ms to connect and %ld "
                 "ms in all)",
                 (long long)(mono_ms() - t0), CIMD_CONNECT_TIMEOUT_MS, timeout);
    } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
        st = say(why, wn, WT_EIO,
                 "the TLS certificate of %s could not be verified for that "
                 "name: %s",
                 u->host, detail);
    } else if (rc == CURLE_SSL_CACERT_BADFILE) {
        st =
            say(why, wn, WT_EIO, "the server cannot load its CA bundle (cimd.ca_file): %s", detail);
    } else if (rc == CURLE_SSL_CONNECT_ERROR) {
        st = say(why, wn, WT_EIO, "the TLS handshake with %s failed: %s", u->host, detail);
    } else if (rc == CURLE_COULDNT_CONNECT) {
        st = say(why, wn, WT_EIO,
                 "cannot connect to %s port %d to fetch the metadata document "
                 "(%s)",
                 u->host, u->port, detail);
    } else if (rc != CURLE_OK) {
        st = say(why, wn, WT_EIO, "fetching the metadata document from %s failed: %s", u->host,
                 detail);
    } else if (code != 200) {
        st = say(why, wn, WT_EIO,
                 "the metadata document URL answered with HTTP status %ld (it "
                 "must answer 200; redirects are not followed)",
                 code);
    } else {
        size_t got = f->body.len;
        if (!(r->body = buf_steal(&f->body))) {
            st = say(why, wn, WT_NOMEM, "out of memory");
        } else {
            r->len = got;
            st = WT_OK;
        }
    }
out:
    if (st == WT_OK) {
        log_info("cimd: fetched %s (%zu bytes) in %lld ms", url, r->len,
                 (long long)(mono_ms() - t0));
    } else {
        free(r->body);
        memset(r, 0, sizeof *r);
        log_info("cimd: fetch of %s failed after %lld ms: %s", url, (long long)(mono_ms() - t0),
                 why);
    }
    curl_slist_free_all(rl);
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    buf_free(&f->body);
    free(f);
    return st;
}

/* ---------------------------------------------------------------- the store */

struct counter {
    size_t n, limit;
};

static int count_one(void *arg, store_val k, store_val v)
{
    struct counter *c = arg;
    (void)k;
    (void)v;
    return ++c->n >= c->limit;
}

size_t cimd_count(store_txn *t, size_t limit)
{
    struct counter c = {.limit = limit};
    if (limit == 0)
        return 0;
    store_iter(t, STORE_DB_CLIENTS, "https://", 8, count_one, &c);
    return c.n;
}

wt_status cimd_put(store_txn *t, void *arg)
{
    cimd_put_op *op = arg;
    const char *id = json_string_value(json_object_get(op->doc, "client_id"));
    op->full = false;
    if (!cimd_is_url(id))
        return WT_INVALID;
    client_t old;
    wt_status st = client_load(t, id, &old);
    if (st == WT_OK) {
        bool ours = old.source == CLIENT_CIMD;
        json_t *iat = json_object_get(old.doc, "client_id_issued_at");
        if (ours && json_is_integer(iat))
            json_object_set(op->doc, "client_id_issued_at", iat);
        client_free(&old);
        if (!ours)
            return WT_EXISTS;
    } else if (st == WT_NOTFOUND) {
        size_t max = op->max_clients ? op->max_clients : CIMD_MAX_CLIENTS;
        if (cimd_count(t, max) >= max) {
            op->full = true;
            return WT_TOOBIG;
        }
    } else {
        return st;
    }
    return client_store(t, op->doc, false);
}

/* ---------------------------------------------------------------- the purge */

struct live {
    store_txn *t;
    size_t klen;
    bool live;
};

static int grant_live(void *arg, store_val k, store_val v)
{
    struct live *l = arg;
    grant_rec g;
    store_val rv;
    static const uint8_t zero[16];
    if (k.len != l->klen || v.len != GRANT_ID_LEN) /* "c:<id>" only, not "c:<id>more" */
        return 0;
    if (grant_get(l->t, v.data, &g) == WT_OK && memcmp(g.refresh_sel, zero, 16) != 0 &&
        store_get(l->t, STORE_DB_REFRESH, g.refresh_sel, 16, &rv) == WT_OK)
        l->live = true;
    return l->live;
}

static bool has_live_grant(store_txn *t, const char *id, size_t idlen)
{
    char key[STORE_MAX_KEY + 1];
    if (idlen + 2 > STORE_MAX_KEY)
        return false;
    key[0] = 'c';
    key[1] = ':';
    memcpy(key + 2, id, idlen);
    struct live l = {.t = t, .klen = idlen + 2};
    if (store_iter(t, STORE_DB_INDEX, key, idlen + 2, grant_live, &l) != WT_OK)
        return true; /* when in doubt, keep it */
    return l.live;
}

bool cimd_idle_expired(store_txn *t, const void *key, size_t klen, const void *doc, size_t len,
                       int64_t now, int64_t idle)
{
    if (klen < 8 || memcmp(key, "https://", 8) != 0) /* only metadata clients have such ids */
        return false;
    json_t *d = json_loadb(doc, len, 0, NULL);
    const char *src = json_string_value(json_object_get(d, "source"));
    json_t *at = json_object_get(d, "fetched_at");
    bool stale = src && strcmp(src, "cimd") == 0 && json_is_integer(at) &&
                 json_integer_value(at) <= now - idle;
    json_decref(d);
    return stale && !has_live_grant(t, key, klen);
}
