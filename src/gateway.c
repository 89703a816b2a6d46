/* gateway.c — the protocol rules of the bearer gateway (gateway.h): challenges, Authorization
 * parsing, scopes_required per method, the audience rule, query and cookie scrubbing, and
 * forward-auth resource matching. Pure and allocation-free: every function writes into the
 * caller's buffer or answers from its inputs, so the request path stays cheap. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "gateway.h"
#include "scope.h"

/* ---------------------------------------------------------------- challenges */

typedef struct {
    char *out;
    size_t cap, len; /* len counts every byte wanted, written or not */
} sink;

static void put(sink *s, char c)
{
    if (s->len + 1 < s->cap)
        s->out[s->len] = c;
    s->len++;
}

static void puts_raw(sink *s, const char *p)
{
    while (*p)
        put(s, *p++);
}

/* A quoted-string (RFC 9110 §5.6.4): '"' and '\' escaped, control characters as spaces. */
static void put_quoted(sink *s, const char *v)
{
    put(s, '"');
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            put(s, '\\');
        put(s, (*p < 0x20 && *p != '\t') || *p == 0x7f ? ' ' : (char)*p);
    }
    put(s, '"');
}

static void put_param(sink *s, const char *name, const char *value, bool first)
{
    if (!first)
        puts_raw(s, ", ");
    puts_raw(s, name);
    put(s, '=');
    put_quoted(s, value);
}

size_t gw_challenge_format(const gw_challenge *c, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    puts_raw(&s, "Bearer ");
    put_param(&s, "realm", c->realm, true);
    if (c->resource_metadata)
        put_param(&s, "resource_metadata", c->resource_metadata, false);
    if (c->scope && c->scope[0])
        put_param(&s, "scope", c->scope, false);
    if (c->error)
        put_param(&s, "error", c->error, false);
    if (c->error_description)
        put_param(&s, "error_description", c->error_description, false);
    if (cap)
        out[s.len < cap ? s.len : cap - 1] = '\0';
    return s.len;
}

/* ---------------------------------------------------------------- Authorization */

/* RFC 9110 tchar. */
static bool tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool b64token_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

enum gw_auth gw_bearer_parse(const char *v, size_t len, const char **tok, size_t *toklen,
                             const char **why)
{
    static const char *const empty = "the Authorization header is empty";
    *tok = NULL;
    *toklen = 0;
    size_t i = 0;
    while (i < len && tchar((unsigned char)v[i]))
        i++;
    if (i == 0) {
        *why = len == 0 ? empty : "the Authorization header does not start with a scheme";
        return GW_AUTH_MALFORMED;
    }
    if (i != 6 || strncasecmp(v, "Bearer", 6) != 0)
        return GW_AUTH_OTHER;
    if (i < len && v[i] != ' ') {
        *why = "Bearer must be followed by a space and the access token";
        return GW_AUTH_MALFORMED;
    }
    while (i < len && v[i] == ' ')
        i++;
    size_t start = i;
    while (i < len && b64token_char((unsigned char)v[i]))
        i++;
    if (i == start) {
        *why = i == len ? "no access token after Bearer"
                        : "the bearer token has characters a token may not have";
        return GW_AUTH_MALFORMED;
    }
    while (i < len && v[i] == '=')
        i++;
    size_t end = i;
    while (i < len && v[i] == ' ')
        i++;
    if (i != len) {
        *why = "the Authorization header must hold exactly one bearer token (characters a "
               "token may not have, or more than one word)";
        return GW_AUTH_MALFORMED;
    }
    *tok = v + start;
    *toklen = end - start;
    return GW_AUTH_BEARER;
}

/* ---------------------------------------------------------------- scopes_required */

wt_status gw_required_scopes(const json_t *sr, const char *method, size_t mlen, char *out,
                             size_t cap)
{
    if (!cap)
        return WT_TOOBIG;
    out[0] = '\0';
    const json_t *list = NULL;
    if (!sr)
        return WT_OK;
    if (json_is_array(sr)) {
        list = sr;
    } else if (json_is_object(sr)) {
        char m[32];
        if (mlen < sizeof m) {
            memcpy(m, method, mlen);
            m[mlen] = '\0';
            list = json_object_get(sr, m);
            if (!list && mlen == 4 && memcmp(method, "HEAD", 4) == 0)
                list = json_object_get(sr, "GET");
        }
        if (!list)
            list = json_object_get(sr, "*");
        if (!list)
            return WT_OK;
        if (!json_is_array(list))
            return WT_INVALID;
    } else {
        return WT_INVALID;
    }
    size_t o = 0, i;
    const json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *v = json_string_value(s);
        if (!v)
            return WT_INVALID;
        size_t n = strlen(v);
        if (o + (o ? 1 : 0) + n + 1 > cap) {
            out[0] = '\0';
            return WT_TOOBIG;
        }
        if (o)
            out[o++] = ' ';
        memcpy(out + o, v, n);
        o += n;
        out[o] = '\0';
    }
    return WT_OK;
}

/* Moves *pp past the next space-separated token; false when none is left. */
static bool next_tok(const char **pp, const char **t, size_t *n)
{
    const char *p = *pp;
    while (*p == ' ')
        p++;
    if (!*p)
        return false;
    *t = p;
    while (*p && *p != ' ')
        p++;
    *n = (size_t)(p - *t);
    *pp = p;
    return true;
}

bool gw_missing_scope(const char *have, const char *want, const char **miss, size_t *misslen)
{
    const char *w = want ? want : "", *t;
    size_t n;
    while (next_tok(&w, &t, &n)) {
        const char *h = have ? have : "", *u;
        size_t un;
        bool found = false;
        while (!found && next_tok(&h, &u, &un))
            found = un == n && memcmp(u, t, n) == 0;
        if (!found) {
            *miss = t;
            *misslen = n;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- audience */

/* Length of "scheme://host[:port]" of an http(s) URI, or 0 when it is not one. Mirrors
 * resource_normalize (metadata.c). */
static size_t origin_len(const char *u)
{
    const char *sep = strstr(u, "://");
    if (!sep)
        return 0;
    size_t slen = (size_t)(sep - u);
    if (!((slen == 4 && strncasecmp(u, "http", 4) == 0) ||
          (slen == 5 && strncasecmp(u, "https", 5) == 0)))
        return 0;
    size_t hlen = strcspn(sep + 3, "/?#");
    return hlen ? slen + 3 + hlen : 0;
}

bool gw_audience_matches(const char *token_resource, const char *resource_norm)
{
    if (!token_resource || !resource_norm || !token_resource[0])
        return false;
    size_t pl = origin_len(token_resource);
    if (!pl || strchr(token_resource, '#'))
        return false;
    size_t n = strlen(token_resource);
    if (n > pl && token_resource[n - 1] == '/' && !strchr(token_resource + pl, '?'))
        n--;
    if (strlen(resource_norm) != n)
        return false;
    for (size_t i = 0; i < pl; i++)
        if (tolower((unsigned char)token_resource[i]) != resource_norm[i])
            return false;
    return memcmp(token_resource + pl, resource_norm + pl, n - pl) == 0;
}

/* ---------------------------------------------------------------- query */

bool gw_query_has_access_token(const char *q, size_t len)
{
    return form_has(q, len, "access_token");
}

/* ---------------------------------------------------------------- cookies */

static bool starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

bool gw_is_wattle_cookie(const char *name, size_t len)
{
    if (starts(name, len, "__Host-")) {
        name += 7;
        len -= 7;
    } else if (starts(name, len, "__Secure-")) {
        name += 9;
        len -= 9;
    }
    return starts(name, len, "wattle_");
}

size_t gw_strip_cookies(const char *in, size_t len, char *out)
{
    size_t o = 0, p = 0;
    while (p < len) {
        size_t end = p;
        while (end < len && in[end] != ';')
            end++;
        size_t s = p, e = end;
        while (s < e && (in[s] == ' ' || in[s] == '\t'))
            s++;
        while (e > s && (in[e - 1] == ' ' || in[e - 1] == '\t'))
            e--;
        size_t nl = 0;
        while (s + nl < e && in[s + nl] != '=')
            nl++;
        while (nl && (in[s + nl - 1] == ' ' || in[s + nl - 1] == '\t'))
            nl--;
        if (e > s && !gw_is_wattle_cookie(in + s, nl)) {
            if (o) {
                out[o++] = ';';
                out[o++] = ' ';
            }
            memcpy(out + o, in + s, e - s);
            o += e - s;
        }
        p = end + 1;
    }
    return o;
}

/* ---------------------------------------------------------------- forward-auth */

void gw_host_name(const char *v, size_t len, const char **h, size_t *hlen)
{
    size_t e = 0;
    while (e < len && v[e] != ',')
        e++;
    size_t s = 0;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
        s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    if (s < e && v[s] == '[') {
        size_t close = s + 1;
        while (close < e && v[close] != ']')
            close++;
        *h = v + s + 1;
        *hlen = close - s - 1;
        return;
    }
    size_t colon = s;
    while (colon < e && v[colon] != ':')
        colon++;
    *h = v + s;
    *hlen = colon - s;
}

ssize_t gw_match_resource(const app *a, const char *host, size_t hlen, const char *path,
                          size_t plen)
{
    ssize_t best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < a->nres; i++) {
        const char *id = a->res[i].resource_norm;
        size_t ol = id ? origin_len(id) : 0;
        if (!ol)
            continue;
        const char *auth = strstr(id, "://") + 3;
        const char *rp = id + ol;
        size_t rpl = strcspn(rp, "?#");
        if (rpl == 1 && rp[0] == '/')
            rpl = 0;
        if (hlen) {
            const char *rh;
            size_t rhl;
            gw_host_name(auth, (size_t)(id + ol - auth), &rh, &rhl);
            if (rhl != hlen || strncasecmp(rh, host, hlen) != 0)
                continue;
        }
        if (rpl &&
            !(plen >= rpl && memcmp(path, rp, rpl) == 0 && (plen == rpl || path[rpl] == '/')))
            continue;
        if (best < 0 || rpl > best_len) {
            best = (ssize_t)i;
            best_len = rpl;
        }
    }
    return best;
}
