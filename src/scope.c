/* scope.c — the scope catalogue and scope-string rules (scope.h). Every walk over a scope
 * string goes through next_token(). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "oauth.h"
#include "scope.h"

typedef struct {
    const char *p;
    size_t n;
} span;

static bool token_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/* Moves *pp past the next space-separated token of a scope string, putting it in *tok.
 * False when there is none left. Only ' ' separates tokens. */
static bool next_token(const char **pp, span *tok)
{
    const char *p = *pp;
    if (!p)
        return false;
    while (*p == ' ')
        p++;
    if (!*p)
        return false;
    const char *s = p;
    while (*p && *p != ' ')
        p++;
    *tok = (span){s, (size_t)(p - s)};
    *pp = p;
    return true;
}

static bool span_is(span t, const char *lit)
{
    size_t n = strlen(lit);
    return t.n == n && memcmp(t.p, lit, n) == 0;
}

static bool has_n(const char *set, const char *name, size_t len)
{
    span t;
    if (len == 0)
        return false;
    while (next_token(&set, &t))
        if (t.n == len && memcmp(t.p, name, len) == 0)
            return true;
    return false;
}

bool scope_valid(const char *s)
{
    if (!s || strnlen(s, SCOPE_STRING_MAX + 1) > SCOPE_STRING_MAX)
        return false;
    size_t count = 0;
    span t;
    while (next_token(&s, &t)) {
        if (++count > SCOPE_MAX_TOKENS)
            return false;
        for (size_t i = 0; i < t.n; i++)
            if (!token_char((unsigned char)t.p[i]))
                return false;
    }
    return true;
}

bool scope_has(const char *set, const char *name)
{
    return set && name && has_n(set, name, strlen(name));
}

bool scope_covers(const char *have, const char *want)
{
    span t;
    while (next_token(&want, &t))
        if (!has_n(have, t.p, t.n))
            return false;
    return true;
}

/* True when s has a token other than offline_access. */
static bool has_real_token(const char *s)
{
    span t;
    while (next_token(&s, &t))
        if (!span_is(t, SCOPE_OFFLINE_ACCESS))
            return true;
    return false;
}

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(tmp, sizeof tmp, fmt, ap) < 0)
        tmp[0] = '\0';
    va_end(ap);
    oauth_desc_clean(tmp, why, whylen);
}

/* Appends a token to a space-separated list in b. */
static void list_add(buf_t *b, const char *t, size_t n)
{
    if (b->len)
        buf_add(b, " ", 1);
    buf_add(b, t, n);
}

wt_status scope_resolve(const scope_catalogue *c, const char *requested, const char *allowed,
                        char **granted, char *why, size_t whylen)
{
    *granted = NULL;
    if (requested && !scope_valid(requested)) {
        set_why(why, whylen, "scope is malformed");
        return WT_INVALID;
    }
    buf_t b;
    buf_init(&b, SCOPE_CATALOGUE_MAX * (SCOPE_NAME_MAX + 1)); /* every name fits */
    if (!requested || !has_real_token(requested)) {
        for (size_t i = 0; i < c->n; i++)
            if (c->v[i].is_default && (!allowed || scope_has(allowed, c->v[i].name)))
                list_add(&b, c->v[i].name, strlen(c->v[i].name));
        if (!b.failed && b.len == 0) {
            set_why(why, whylen,
                    "no default scope is available for this client; request a "
                    "scope explicitly");
            return WT_INVALID;
        }
    } else {
        const char *p = requested;
        span t;
        while (next_token(&p, &t)) {
            if (span_is(t, SCOPE_OFFLINE_ACCESS))
                continue;
            if (!scope_find(c, t.p, t.n)) {
                set_why(why, whylen, "unknown scope: %.*s", (int)(t.n > 128 ? 128 : t.n), t.p);
                return WT_INVALID;
            }
            if (allowed && !has_n(allowed, t.p, t.n)) {
                set_why(why, whylen, "scope %.*s is not allowed for this client",
                        (int)(t.n > 128 ? 128 : t.n), t.p);
                return WT_INVALID;
            }
        }
        for (size_t i = 0; i < c->n; i++)
            if (scope_has(requested, c->v[i].name))
                list_add(&b, c->v[i].name, strlen(c->v[i].name));
    }
    if (b.failed || !(*granted = buf_steal(&b))) {
        buf_free(&b);
        set_why(why, whylen, "out of memory");
        return WT_NOMEM; /* the cap fits the whole catalogue: only NOMEM remains */
    }
    return WT_OK;
}

wt_status scope_narrow(const char *granted, const char *requested, char **out, char *why,
                       size_t whylen)
{
    *out = NULL;
    if (!granted)
        granted = "";
    bool all = !requested || !has_real_token(requested);
    if (requested && !scope_valid(requested)) {
        set_why(why, whylen, "scope is malformed");
        return WT_INVALID;
    }
    span t;
    if (!all) {
        const char *p = requested;
        while (next_token(&p, &t))
            if (!span_is(t, SCOPE_OFFLINE_ACCESS) && !has_n(granted, t.p, t.n)) {
                set_why(why, whylen, "scope %.*s was not granted", (int)(t.n > 128 ? 128 : t.n),
                        t.p);
                return WT_INVALID;
            }
    }
    buf_t b;
    buf_init(&b, strlen(granted));
    const char *p = granted;
    while (next_token(&p, &t)) {
        if (span_is(t, SCOPE_OFFLINE_ACCESS) || has_n(buf_cstr(&b), t.p, t.n))
            continue;
        if (all || has_n(requested, t.p, t.n))
            list_add(&b, t.p, t.n);
    }
    if (b.failed || !(*out = buf_steal(&b))) {
        buf_free(&b);
        set_why(why, whylen, "out of memory");
        return WT_NOMEM;
    }
    return WT_OK;
}

/* ---- the catalogue ---- */

void scope_catalogue_free(scope_catalogue *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].description);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

const scope_def *scope_find(const scope_catalogue *c, const char *name, size_t len)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i].name) == len && memcmp(c->v[i].name, name, len) == 0)
            return &c->v[i];
    return NULL;
}

static void cat_err(char *err, size_t errlen, const char *filename, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cat_err(char *err, size_t errlen, const char *filename, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s: ", filename ? filename : "scope catalogue");
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++) /* one line, whatever the file contained */
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
}

/* A key from the file, made printable for a message. */
static void printable(const char *s, char *out, size_t outlen)
{
    oauth_desc_clean(s, out, outlen);
}

wt_status scope_catalogue_load(const char *json, size_t len, const char *filename,
                               scope_catalogue *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    wt_status st = WT_INVALID;
    char kbuf[64];
    if (!root) {
        if (json)
            cat_err(err, errlen, filename, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        else
            cat_err(err, errlen, filename, "empty document");
        return WT_INVALID;
    }
    if (!json_is_object(root)) {
        cat_err(err, errlen, filename, "the document must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "scopes") != 0) {
            printable(key, kbuf, sizeof kbuf);
            cat_err(err, errlen, filename, "unknown key '%s' (only \"scopes\" is allowed)", kbuf);
            goto out;
        }
    }
    json_t *arr = json_object_get(root, "scopes");
    if (!arr) {
        cat_err(err, errlen, filename, "\"scopes\" is missing");
        goto out;
    }
    if (!json_is_array(arr)) {
        cat_err(err, errlen, filename, "\"scopes\" must be an array");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        cat_err(err, errlen, filename, "\"scopes\" is empty");
        goto out;
    }
    if (n > SCOPE_CATALOGUE_MAX) {
        cat_err(err, errlen, filename, "more than %d scopes", SCOPE_CATALOGUE_MAX);
        goto out;
    }
    out->v = calloc(n, sizeof *out->v);
    if (!out->v) {
        cat_err(err, errlen, filename, "out of memory");
        st = WT_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e)) {
            cat_err(err, errlen, filename, "scopes[%zu] must be an object", i);
            goto out;
        }
        json_object_foreach(e, key, val)
        {
            if (strcmp(key, "name") && strcmp(key, "description") && strcmp(key, "default")) {
                printable(key, kbuf, sizeof kbuf);
                cat_err(err, errlen, filename,
                        "scopes[%zu]: unknown key '%s' (allowed: name, description, default)", i,
                        kbuf);
                goto out;
            }
        }
        json_t *jn = json_object_get(e, "name");
        json_t *jd = json_object_get(e, "description");
        json_t *jdef = json_object_get(e, "default");
        if (!json_is_string(jn) || json_string_length(jn) == 0) {
            cat_err(err, errlen, filename, "scopes[%zu]: \"name\" must be a non-empty string", i);
            goto out;
        }
        const char *name = json_string_value(jn);
        size_t nlen = json_string_length(jn);
        bool ok = nlen <= SCOPE_NAME_MAX && strlen(name) == nlen;
        for (size_t k = 0; ok && k < nlen; k++)
            ok = token_char((unsigned char)name[k]);
        if (!ok) {
            cat_err(err, errlen, filename,
                    "scopes[%zu]: \"name\" must be at most %d scope-token characters (printable "
                    "ASCII except space, '\"' and '\\')",
                    i, SCOPE_NAME_MAX);
            goto out;
        }
        if (strcmp(name, SCOPE_OFFLINE_ACCESS) == 0) {
            cat_err(err, errlen, filename,
                    "scopes[%zu]: offline_access is built in and cannot be declared", i);
            goto out;
        }
        if (scope_find(out, name, nlen)) {
            cat_err(err, errlen, filename, "scopes[%zu]: duplicate scope name %s", i, name);
            goto out;
        }
        if (jd && (!json_is_string(jd) || json_string_length(jd) > SCOPE_DESCRIPTION_MAX ||
                   strlen(json_string_value(jd)) != json_string_length(jd))) {
            cat_err(err, errlen, filename,
                    "scopes[%zu] (%s): \"description\" must be a string of at most %d bytes", i,
                    name, SCOPE_DESCRIPTION_MAX);
            goto out;
        }
        if (jdef && !json_is_boolean(jdef)) {
            cat_err(err, errlen, filename, "scopes[%zu] (%s): \"default\" must be true or false", i,
                    name);
            goto out;
        }
        scope_def *d = &out->v[out->n];
        d->name = strdup(name);
        d->description = strdup(jd ? json_string_value(jd) : name);
        d->is_default = jdef && json_is_true(jdef);
        out->n++; /* counted now so that a failed strdup is freed below */
        if (!d->name || !d->description) {
            cat_err(err, errlen, filename, "out of memory");
            st = WT_NOMEM;
            goto out;
        }
    }
    st = WT_OK;
out:
    json_decref(root);
    if (st != WT_OK)
        scope_catalogue_free(out);
    return st;
}
