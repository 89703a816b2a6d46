/* records.c — binary encoders/decoders for the hot store records (layout in records.h).
 * Integers are little-endian; strings are u16 length + bytes + NUL. */
#include <string.h>

#include "le.h"
#include "records.h"

enum { REC_GRANT = 1, REC_ACCESS, REC_REFRESH, REC_CODE, REC_SESSION };
#define REC_VERSION 1

typedef struct {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} rd;

static void w_u8(buf_t *b, uint8_t v)
{
    buf_add(b, &v, 1);
}

static void w_u32(buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_add(b, x, 4);
}

static void w_i64(buf_t *b, int64_t v)
{
    w_u32(b, (uint32_t)(uint64_t)v);
    w_u32(b, (uint32_t)((uint64_t)v >> 32));
}

static void w_str(buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 0xffff) {
        buf_add(b, NULL, SIZE_MAX); /* forces the buffer into its failed state */
        return;
    }
    uint8_t x[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
    buf_add(b, x, 2);
    buf_add(b, n ? s : "", n);
    buf_add(b, "", 1);
}

static void w_bytes(buf_t *b, const void *p, size_t n)
{
    w_u32(b, (uint32_t)n);
    if (n)
        buf_add(b, p, n);
}

static const uint8_t *r_take(rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint8_t r_u8(rd *r)
{
    const uint8_t *p = r_take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t r_u32(rd *r)
{
    const uint8_t *p = r_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static int64_t r_i64(rd *r)
{
    uint64_t lo = r_u32(r), hi = r_u32(r);
    return (int64_t)(lo | hi << 32);
}

static void r_fixed(rd *r, void *out, size_t n)
{
    const uint8_t *p = r_take(r, n);
    if (p)
        memcpy(out, p, n);
}

static const char *r_str(rd *r)
{
    const uint8_t *h = r_take(r, 2);
    if (!h)
        return "";
    size_t n = (size_t)h[0] | (size_t)h[1] << 8;
    const uint8_t *s = r_take(r, n + 1);
    if (!s || s[n] != '\0' || memchr(s, '\0', n)) {
        r->bad = true;
        return "";
    }
    return (const char *)s;
}

static const uint8_t *r_bytes(rd *r, size_t *n)
{
    *n = r_u32(r);
    const uint8_t *p = *n ? r_take(r, *n) : NULL;
    if (!p)
        *n = 0;
    return p;
}

static void header(buf_t *b, uint8_t type)
{
    w_u8(b, type);
    w_u8(b, REC_VERSION);
}

static rd reader(const void *p, size_t len, uint8_t type)
{
    rd r = {p, len, 0, false};
    if (r_u8(&r) != type || r_u8(&r) != REC_VERSION)
        r.bad = true;
    return r;
}

static wt_status result(buf_t *b)
{
    return b->failed ? WT_NOMEM : WT_OK;
}

static wt_status done(const rd *r)
{
    return r->bad || r->off != r->len ? WT_INVALID : WT_OK;
}

void until_encode(uint8_t out[8], int64_t t)
{
    le_put(out, (uint64_t)t, 8);
}

int64_t until_decode(const uint8_t in[8])
{
    return (int64_t)le_get(in, 8);
}

bool until_passed(const void *val, size_t len, int64_t now)
{
    return len != 8 || until_decode(val) <= now;
}

wt_status grant_rec_encode(buf_t *b, const grant_rec *g)
{
    header(b, REC_GRANT);
    w_i64(b, g->created);
    w_i64(b, g->auth_time);
    w_u32(b, g->generation);
    buf_add(b, g->refresh_sel, 16);
    w_str(b, g->client_id);
    w_str(b, g->user_id);
    w_str(b, g->scope);
    w_str(b, g->resource);
    w_i64(b, g->access_until);
    return result(b);
}

wt_status grant_rec_decode(const void *p, size_t len, grant_rec *g)
{
    rd r = reader(p, len, REC_GRANT);
    g->created = r_i64(&r);
    g->auth_time = r_i64(&r);
    g->generation = r_u32(&r);
    r_fixed(&r, g->refresh_sel, 16);
    g->client_id = r_str(&r);
    g->user_id = r_str(&r);
    g->scope = r_str(&r);
    g->resource = r_str(&r);
    g->access_until = !r.bad && r.off < r.len ? r_i64(&r) : 0; /* absent before schema 2 */
    return done(&r);
}

wt_status access_rec_encode(buf_t *b, const access_rec *a)
{
    header(b, REC_ACCESS);
    buf_add(b, a->digest, 32);
    w_i64(b, a->iat);
    w_i64(b, a->exp);
    buf_add(b, a->grant, GRANT_ID_LEN);
    w_str(b, a->client_id);
    w_str(b, a->user_id);
    w_str(b, a->username);
    w_str(b, a->scope);
    w_str(b, a->resource);
    return result(b);
}

wt_status access_rec_decode(const void *p, size_t len, access_rec *a)
{
    rd r = reader(p, len, REC_ACCESS);
    r_fixed(&r, a->digest, 32);
    a->iat = r_i64(&r);
    a->exp = r_i64(&r);
    r_fixed(&r, a->grant, GRANT_ID_LEN);
    a->client_id = r_str(&r);
    a->user_id = r_str(&r);
    a->username = r_str(&r);
    a->scope = r_str(&r);
    a->resource = r_str(&r);
    return done(&r);
}

wt_status refresh_rec_encode(buf_t *b, const refresh_rec *f)
{
    header(b, REC_REFRESH);
    buf_add(b, f->digest, 32);
    w_i64(b, f->iat);
    w_i64(b, f->exp);
    buf_add(b, f->grant, GRANT_ID_LEN);
    w_u32(b, f->generation);
    w_i64(b, f->retired_at);
    w_bytes(b, f->sealed, f->sealed ? f->sealed_len : 0);
    return result(b);
}

wt_status refresh_rec_decode(const void *p, size_t len, refresh_rec *f)
{
    rd r = reader(p, len, REC_REFRESH);
    r_fixed(&r, f->digest, 32);
    f->iat = r_i64(&r);
    f->exp = r_i64(&r);
    r_fixed(&r, f->grant, GRANT_ID_LEN);
    f->generation = r_u32(&r);
    f->retired_at = r_i64(&r);
    f->sealed = r_bytes(&r, &f->sealed_len);
    return done(&r);
}

wt_status code_rec_encode(buf_t *b, const code_rec *c)
{
    header(b, REC_CODE);
    buf_add(b, c->digest, 32);
    w_i64(b, c->iat);
    w_i64(b, c->exp);
    w_i64(b, c->auth_time);
    buf_add(b, c->used_grant, GRANT_ID_LEN);
    w_u8(b, c->redirect_given);
    w_str(b, c->client_id);
    w_str(b, c->user_id);
    w_str(b, c->redirect_uri);
    w_str(b, c->challenge);
    w_str(b, c->scope);
    w_str(b, c->resource);
    return result(b);
}

wt_status code_rec_decode(const void *p, size_t len, code_rec *c)
{
    rd r = reader(p, len, REC_CODE);
    r_fixed(&r, c->digest, 32);
    c->iat = r_i64(&r);
    c->exp = r_i64(&r);
    c->auth_time = r_i64(&r);
    r_fixed(&r, c->used_grant, GRANT_ID_LEN);
    c->redirect_given = r_u8(&r);
    c->client_id = r_str(&r);
    c->user_id = r_str(&r);
    c->redirect_uri = r_str(&r);
    c->challenge = r_str(&r);
    c->scope = r_str(&r);
    c->resource = r_str(&r);
    return done(&r);
}

wt_status session_rec_encode(buf_t *b, const session_rec *s)
{
    header(b, REC_SESSION);
    buf_add(b, s->digest, 32);
    w_i64(b, s->iat);
    w_i64(b, s->exp);
    w_i64(b, s->auth_time);
    w_i64(b, s->pw_epoch);
    w_str(b, s->user_id);
    return result(b);
}

wt_status session_rec_decode(const void *p, size_t len, session_rec *s)
{
    rd r = reader(p, len, REC_SESSION);
    r_fixed(&r, s->digest, 32);
    s->iat = r_i64(&r);
    s->exp = r_i64(&r);
    s->auth_time = r_i64(&r);
    s->pw_epoch = r_i64(&r);
    s->user_id = r_str(&r);
    return done(&r);
}
