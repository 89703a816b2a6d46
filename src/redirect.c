/* redirect.c — redirect-URI splitting, registration check and matching (redirect.h).
 * All parsing goes through uri_split(); no other function looks into a URI's bytes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "redirect.h"

typedef struct {
    const char *p;
    size_t n;
} span;

/* The parts of an absolute URI. Spans point into the original string. */
struct uri {
    span scheme;        /* without ':' */
    bool has_authority; /* "//" followed */
    bool has_userinfo;
    span host; /* as written; IP literals keep their brackets */
    bool has_port;
    span port;
    span path;
    bool has_query;
    span query; /* without '?' */
    bool has_fragment;
};

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 characters: unreserved, gen-delims, sub-delims and '%'. */
static bool uri_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

static bool span_ieq(span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

static bool span_eq(span a, span b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Splits the NUL-terminated s into u. Returns NULL when it parses, else a static reason. */
static const char *uri_split(const char *s, struct uri *u)
{
    memset(u, 0, sizeof *u);
    if (!s || !*s)
        return "redirect_uri is missing";
    size_t len = strnlen(s, REDIRECT_URI_MAX + 1);
    if (len > REDIRECT_URI_MAX)
        return "redirect_uri is longer than 2000 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!uri_char(c))
            return "redirect_uri contains a character not allowed in a URI";
        if (c == '%' &&
            (i + 2 >= len || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])))
            return "redirect_uri contains a malformed percent-escape";
    }
    const char *end = s + len;

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    const char *p = s;
    if (!is_alpha((unsigned char)*p))
        return "redirect_uri must be an absolute URI";
    while (p < end && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '+' ||
                       *p == '-' || *p == '.'))
        p++;
    if (p == end || *p != ':')
        return "redirect_uri must be an absolute URI";
    u->scheme = (span){s, (size_t)(p - s)};
    p++;

    /* The fragment, if any, ends everything; nothing below looks past it. */
    const char *hash = memchr(p, '#', (size_t)(end - p));
    if (hash) {
        u->has_fragment = true;
        end = hash;
    }

    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        u->has_authority = true;
        p += 2;
        const char *a = p;
        while (p < end && *p != '/' && *p != '?')
            p++;
        const char *aend = p;
        const char *at = memchr(a, '@', (size_t)(aend - a));
        if (at) {
            u->has_userinfo = true;
            if (memchr(a, '[', (size_t)(at - a)) || memchr(a, ']', (size_t)(at - a)) ||
                memchr(at + 1, '@', (size_t)(aend - at - 1)))
                return "redirect_uri contains a character not allowed in a URI";
            a = at + 1;
        }
        const char *h = a;
        if (h < aend && *h == '[') {
            const char *close = memchr(h, ']', (size_t)(aend - h));
            if (!close || close == h + 1)
                return "redirect_uri has an invalid host";
            for (const char *q = h + 1; q < close; q++)
                if (!is_hex((unsigned char)*q) && *q != ':' && *q != '.')
                    return "redirect_uri has an invalid host";
            u->host = (span){h, (size_t)(close + 1 - h)};
            h = close + 1;
            if (h < aend && *h != ':')
                return "redirect_uri has an invalid host";
        } else {
            while (h < aend && *h != ':') {
                if (*h == '[' || *h == ']')
                    return "redirect_uri has an invalid host";
                h++;
            }
            u->host = (span){a, (size_t)(h - a)};
        }
        if (h < aend) { /* *h == ':' */
            h++;
            size_t pn = (size_t)(aend - h);
            if (pn == 0 || pn > 5)
                return "redirect_uri has an invalid port";
            long port = 0;
            for (const char *q = h; q < aend; q++) {
                if (!is_digit((unsigned char)*q))
                    return "redirect_uri has an invalid port";
                port = port * 10 + (*q - '0');
            }
            if (port > 65535)
                return "redirect_uri has an invalid port";
            u->has_port = true;
            u->port = (span){h, pn};
        }
    }

    const char *path = p;
    while (p < end && *p != '?')
        p++;
    u->path = (span){path, (size_t)(p - path)};
    if (p < end) {
        u->has_query = true;
        u->query = (span){p + 1, (size_t)(end - p - 1)};
    }
    /* Brackets are only allowed around an IP literal host. */
    if (memchr(u->path.p, '[', u->path.n) || memchr(u->path.p, ']', u->path.n) ||
        (u->has_query &&
         (memchr(u->query.p, '[', u->query.n) || memchr(u->query.p, ']', u->query.n))))
        return "redirect_uri contains a character not allowed in a URI";
    return NULL;
}

static bool host_is_loopback(span host)
{
    return span_ieq(host, "127.0.0.1") || span_ieq(host, "[::1]") || span_ieq(host, "localhost");
}

static bool uri_is_loopback(const struct uri *u)
{
    return span_ieq(u->scheme, "http") && u->has_authority && !u->has_userinfo &&
           !u->has_fragment && host_is_loopback(u->host);
}

wt_status redirect_uri_check(const char *uri, const char **why)
{
    static const char *const banned[] = {"javascript", "data", "vbscript", "file"};
    struct uri u;
    const char *reason = uri_split(uri, &u);
    if (!reason) {
        for (size_t i = 0; i < sizeof banned / sizeof *banned && !reason; i++)
            if (span_ieq(u.scheme, banned[i]))
                reason = "redirect_uri must not use the javascript, data, vbscript or file scheme";
    }
    if (!reason && u.has_fragment)
        reason = "redirect_uri must not contain a fragment";
    if (!reason && u.has_userinfo)
        reason = "redirect_uri must not contain userinfo";
    bool http = !reason && span_ieq(u.scheme, "http");
    bool https = !reason && span_ieq(u.scheme, "https");
    if ((http || https) && (!u.has_authority || u.host.n == 0))
        reason = "redirect_uri must have a host";
    else if (http && !host_is_loopback(u.host))
        reason = "redirect_uri must use https unless it is a loopback address";
    if (reason) {
        if (why)
            *why = reason;
        return WT_INVALID;
    }
    return WT_OK;
}

bool redirect_uri_is_loopback(const char *uri)
{
    struct uri u;
    return uri_split(uri, &u) == NULL && uri_is_loopback(&u);
}

bool redirect_uri_match(const char *registered, const char *presented)
{
    if (!registered || !presented)
        return false;
    if (strcmp(registered, presented) == 0)
        return true;
    struct uri r, p;
    if (uri_split(registered, &r) || !uri_is_loopback(&r))
        return false;
    if (uri_split(presented, &p) || !uri_is_loopback(&p))
        return false;
    return span_eq(r.scheme, p.scheme) && span_eq(r.host, p.host) && span_eq(r.path, p.path) &&
           r.has_query == p.has_query && span_eq(r.query, p.query);
}

void redirect_uri_host(const char *uri, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    out[0] = '\0';
    struct uri u;
    if (uri_split(uri, &u))
        return;
    span s = u.has_authority && u.host.n ? u.host : u.scheme;
    size_t n = s.n < outlen - 1 ? s.n : outlen - 1;
    memcpy(out, s.p, n);
    out[n] = '\0';
}

char *redirect_uri_with_params(const char *uri, const char *const *kv, size_t npairs)
{
    if (!uri)
        return NULL;
    size_t len = strlen(uri);
    const char *hash = strchr(uri, '#');
    size_t base = hash ? (size_t)(hash - uri) : len;
    const char *q = memchr(uri, '?', base);
    buf_t b;
    buf_init(&b, REDIRECT_LOCATION_MAX);
    buf_add(&b, uri, base);
    char sep = '?';
    if (q)
        sep = (base > 0 && (uri[base - 1] == '?' || uri[base - 1] == '&')) ? 0 : '&';
    for (size_t i = 0; i < npairs; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        if (!k || !v)
            continue;
        if (sep)
            buf_add(&b, &sep, 1);
        buf_add_urlenc(&b, k, strlen(k));
        buf_add(&b, "=", 1);
        buf_add_urlenc(&b, v, strlen(v));
        sep = '&';
    }
    if (hash)
        buf_adds(&b, hash);
    return buf_steal(&b); /* NULL when any append failed */
}
