/* buf.c — the bounded growable buffer of buf.h. Owns nothing but the bytes of each buffer. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_ALLOC 64

void buf_init(buf_t *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max; /* keeps len + n + 1 from overflowing */
    b->failed = false;
}

static wt_status buf_fail(buf_t *b, wt_status st)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = true;
    return st;
}

/* Makes room for n more bytes plus the NUL. */
static wt_status buf_reserve(buf_t *b, size_t n)
{
    if (b->failed)
        return WT_INVALID;
    if (n > b->max || b->len > b->max - n)
        return buf_fail(b, WT_TOOBIG);
    size_t need = b->len + n + 1; /* cannot overflow: len + n <= max < SIZE_MAX */
    if (need <= b->cap)
        return WT_OK;
    size_t ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
    while (ncap < need)
        ncap *= 2; /* need <= SIZE_MAX / 2 + 1, so this cannot overflow */
    if (ncap > b->max + 1)
        ncap = b->max + 1; /* >= need */
    char *np = realloc(b->p, ncap);
    if (!np)
        return buf_fail(b, WT_NOMEM);
    b->p = np;
    b->cap = ncap;
    return WT_OK;
}

wt_status buf_add(buf_t *b, const void *d, size_t n)
{
    wt_status st = buf_reserve(b, n);
    if (st != WT_OK)
        return st;
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return WT_OK;
}

wt_status buf_adds(buf_t *b, const char *s)
{
    return buf_add(b, s, s ? strlen(s) : 0);
}

wt_status buf_printf(buf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return WT_INVALID;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return buf_fail(b, WT_INVALID);
    wt_status st = buf_reserve(b, (size_t)n);
    if (st != WT_OK)
        return st;
    va_start(ap, fmt);
    int m = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n)
        return buf_fail(b, WT_INVALID);
    b->len += (size_t)n;
    return WT_OK;
}

wt_status buf_add_html(buf_t *b, const char *s)
{
    if (b->failed)
        return WT_INVALID;
    if (!s)
        return WT_OK;
    const char *run = s;
    for (const char *q = s;; q++) {
        const char *rep = NULL;
        switch (*q) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\0': return buf_add(b, run, (size_t)(q - run));
        default: continue;
        }
        wt_status st = buf_add(b, run, (size_t)(q - run));
        if (st == WT_OK)
            st = buf_adds(b, rep);
        if (st != WT_OK)
            return st;
        run = q + 1;
    }
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

wt_status buf_add_urlenc(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (b->failed)
        return WT_INVALID;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (i < n && unreserved((unsigned char)s[i]))
            i++;
        wt_status st = buf_add(b, s + run, i - run);
        if (st != WT_OK)
            return st;
        if (i < n) {
            unsigned char c = (unsigned char)s[i++];
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            if ((st = buf_add(b, esc, 3)) != WT_OK)
                return st;
        }
    }
    return WT_OK;
}

const char *buf_cstr(const buf_t *b)
{
    return b->p && !b->failed ? b->p : "";
}

char *buf_steal(buf_t *b)
{
    if (b->failed)
        return NULL;
    char *s = b->p;
    if (!s)
        s = calloc(1, 1);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return s;
}

void buf_free(buf_t *b)
{
    if (!b)
        return;
    free(b->p);
    buf_init(b, b->max);
}
