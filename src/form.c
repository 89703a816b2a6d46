/* form.c — form-urlencoded and JSON-object request parameters (form.h). Owns decoding and the
 * character rules; knows nothing of which parameters an endpoint accepts. */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "oauth.h"

/* Writes a description into why, cleaned to the error_description character set. */
static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        tmp[0] = '\0';
    oauth_desc_clean(tmp, why, whylen);
}

void form_free(form_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

/* Appends one parameter, taking ownership of name and value (freed on failure). */
static wt_status form_push(form_t *f, char *name, char *value, size_t vlen)
{
    if (f->n >= FORM_MAX_PARAMS) {
        free(name);
        free(value);
        return WT_TOOBIG;
    }
    /* Grow in steps of 8; the cap bounds the size. */
    if (f->n % 8 == 0) {
        form_param *nv = realloc(f->v, (f->n + 8) * sizeof *nv);
        if (!nv) {
            free(name);
            free(value);
            return WT_NOMEM;
        }
        f->v = nv;
    }
    f->v[f->n].name = name;
    f->v[f->n].value = value;
    f->v[f->n].value_len = vlen;
    f->n++;
    return WT_OK;
}

static bool name_char_ok(unsigned char c)
{
    return c >= 0x20 && c != 0x7F;
}

static bool value_char_ok(unsigned char c)
{
    return c >= 0x20 || c == '\t' || c == '\n' || c == '\r';
}

/* Checks a decoded name: non-empty, capped, allowed characters. */
static wt_status check_name(const char *n, size_t len, char *why, size_t whylen)
{
    if (len == 0) {
        set_why(why, whylen, "empty parameter name");
        return WT_INVALID;
    }
    if (len > FORM_MAX_NAME) {
        set_why(why, whylen, "parameter name longer than %d bytes", FORM_MAX_NAME);
        return WT_TOOBIG;
    }
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)n[i])) {
            set_why(why, whylen, "parameter name contains a control character");
            return WT_INVALID;
        }
    return WT_OK;
}

/* Checks a decoded value of parameter `name`. */
static wt_status check_value(const char *name, const char *v, size_t len, char *why, size_t whylen)
{
    if (len > FORM_MAX_VALUE) {
        set_why(why, whylen, "parameter %.64s is longer than %d bytes", name, FORM_MAX_VALUE);
        return WT_TOOBIG;
    }
    for (size_t i = 0; i < len; i++)
        if (!value_char_ok((unsigned char)v[i])) {
            set_why(why, whylen, "parameter %.64s contains a control character", name);
            return WT_INVALID;
        }
    return WT_OK;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) ('+' → space, %XX) into a new malloc'd NUL-terminated string of at most
 * max bytes. WT_INVALID on a malformed escape, WT_TOOBIG past max (nothing allocated then). */
static wt_status decode(const char *s, size_t n, size_t max, char **out, size_t *outlen)
{
    size_t dlen = 0;
    for (size_t i = 0; i < n; i++, dlen++) {
        if (s[i] == '%') {
            if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0)
                return WT_INVALID;
            i += 2;
        }
    }
    if (dlen > max)
        return WT_TOOBIG;
    char *d = malloc(dlen + 1);
    if (!d)
        return WT_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%') {
            d[o++] = (char)(hexval((unsigned char)s[i + 1]) << 4 | hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *out = d;
    *outlen = o;
    return WT_OK;
}

/* Parses one non-empty segment "name[=value]" and appends it to out. */
static wt_status parse_segment(const char *s, size_t n, form_t *out, char *why, size_t whylen)
{
    const char *eq = memchr(s, '=', n);
    size_t nraw = eq ? (size_t)(eq - s) : n;
    char *name = NULL, *value = NULL;
    size_t nlen = 0, vlen = 0;
    wt_status st = decode(s, nraw, FORM_MAX_NAME, &name, &nlen);
    if (st == WT_INVALID)
        set_why(why, whylen, "malformed percent-escape in a parameter name");
    else if (st == WT_TOOBIG)
        set_why(why, whylen, "parameter name longer than %d bytes", FORM_MAX_NAME);
    if (st != WT_OK)
        goto out;
    if ((st = check_name(name, nlen, why, whylen)) != WT_OK)
        goto out;
    st = decode(eq ? eq + 1 : "", eq ? n - nraw - 1 : 0, FORM_MAX_VALUE, &value, &vlen);
    if (st == WT_INVALID)
        set_why(why, whylen, "malformed percent-escape in parameter %.64s", name);
    else if (st == WT_TOOBIG)
        set_why(why, whylen, "parameter %.64s is longer than %d bytes", name, FORM_MAX_VALUE);
    if (st != WT_OK)
        goto out;
    if ((st = check_value(name, value, vlen, why, whylen)) != WT_OK)
        goto out;
    st = form_push(out, name, value, vlen);
    name = value = NULL; /* owned by out, or already freed */
    if (st == WT_TOOBIG)
        set_why(why, whylen, "more than %d parameters", FORM_MAX_PARAMS);
    else if (st == WT_NOMEM)
        set_why(why, whylen, "out of memory");
out:
    free(name);
    free(value);
    return st;
}

wt_status form_parse(const char *s, size_t len, form_t *out, char *why, size_t whylen)
{
    out->v = NULL;
    out->n = 0;
    if (!s && len) {
        set_why(why, whylen, "missing input");
        return WT_INVALID;
    }
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t j = amp ? (size_t)(amp - s) : len;
        if (j > i) {
            wt_status st = parse_segment(s + i, j - i, out, why, whylen);
            if (st != WT_OK) {
                form_free(out);
                return st;
            }
        }
        i = j + 1;
    }
    return WT_OK;
}

/* The shortest %.*g text of d that reads back as d. */
static void real_text(double d, char *out, size_t outlen)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

wt_status form_from_json(const char *s, size_t len, form_t *out, char *why, size_t whylen)
{
    out->v = NULL;
    out->n = 0;
    if (!s) {
        set_why(why, whylen, "request body is empty");
        return WT_INVALID;
    }
    json_error_t jerr;
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    wt_status st = WT_OK;
    char *name = NULL, *value = NULL;
    if (!root) {
        set_why(why, whylen, "malformed JSON body: %s", jerr.text);
        return WT_INVALID;
    }
    if (!json_is_object(root)) {
        set_why(why, whylen, "request body must be a JSON object");
        st = WT_INVALID;
        goto out;
    }
    if (json_object_size(root) > FORM_MAX_PARAMS) {
        set_why(why, whylen, "more than %d parameters", FORM_MAX_PARAMS);
        st = WT_TOOBIG;
        goto out;
    }
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *v = json_object_iter_value(it);
        if (memchr(key, '\0', klen)) {
            set_why(why, whylen, "parameter name contains a control character");
            st = WT_INVALID;
            goto out;
        }
        if ((st = check_name(key, klen, why, whylen)) != WT_OK)
            goto out;
        char num[64];
        const char *text = NULL;
        size_t tlen = 0;
        switch (json_typeof(v)) {
        case JSON_NULL: continue;
        case JSON_STRING:
            text = json_string_value(v);
            tlen = json_string_length(v);
            if (memchr(text, '\0', tlen)) {
                set_why(why, whylen, "parameter %.64s contains a control character", key);
                st = WT_INVALID;
                goto out;
            }
            break;
        case JSON_INTEGER:
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            text = num;
            tlen = strlen(num);
            break;
        case JSON_REAL:
            real_text(json_real_value(v), num, sizeof num);
            text = num;
            tlen = strlen(num);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            text = json_is_true(v) ? "true" : "false";
            tlen = strlen(text);
            break;
        default:
            set_why(why, whylen, "parameter %.64s must be a string", key);
            st = WT_INVALID;
            goto out;
        }
        if ((st = check_value(key, text, tlen, why, whylen)) != WT_OK)
            goto out;
        name = strndup(key, klen);
        value = malloc(tlen + 1);
        if (!name || !value) {
            set_why(why, whylen, "out of memory");
            st = WT_NOMEM;
            goto out;
        }
        memcpy(value, text, tlen);
        value[tlen] = '\0';
        st = form_push(out, name, value, tlen);
        name = value = NULL;
        if (st != WT_OK) {
            set_why(why, whylen, "out of memory");
            goto out;
        }
    }
out:
    free(name);
    free(value);
    json_decref(root);
    if (st != WT_OK)
        form_free(out);
    return st;
}

const char *form_get(const form_t *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return f->v[i].value;
    return NULL;
}

size_t form_count(const form_t *f, const char *name)
{
    size_t c = 0;
    if (!f || !name)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            c++;
    return c;
}

const char *form_duplicate(const form_t *f)
{
    if (!f)
        return NULL;
    for (size_t i = 1; i < f->n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->v[i].name, f->v[j].name) == 0)
                return f->v[j].name;
    return NULL;
}

/* True when the form-encoded name n[0..len) decodes to want (no allocation). */
static bool name_is(const char *n, size_t len, const char *want)
{
    size_t w = 0, wl = strlen(want);
    for (size_t i = 0; i < len; i++, w++) {
        char c = n[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && hexval((unsigned char)n[i + 1]) >= 0 &&
                   hexval((unsigned char)n[i + 2]) >= 0) {
            c = (char)(hexval((unsigned char)n[i + 1]) * 16 + hexval((unsigned char)n[i + 2]));
            i += 2;
        }
        if (w >= wl || c != want[w])
            return false;
    }
    return w == wl;
}

bool form_has(const char *s, size_t len, const char *name)
{
    size_t p = 0;
    while (p < len) {
        size_t end = p;
        while (end < len && s[end] != '&')
            end++;
        size_t nend = p;
        while (nend < end && s[nend] != '=')
            nend++;
        if (name_is(s + p, nend - p, name))
            return true;
        p = end + 1;
    }
    return false;
}
