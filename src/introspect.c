/* introspect.c — the introspection service (contract in introspect.h). Reads only: the token
 * record, its grant and (for refresh tokens) the user, all in the caller's read transaction;
 * record strings are used in place (valid until that transaction ends) and copied once, into
 * the jansson object that is the answer. */
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "grants.h"
#include "introspect.h"
#include "records.h"
#include "token.h"
#include "tokens.h"
#include "users.h"

bool introspect_caller_allowed(const clientauth *ca)
{
    return ca->err == OE_NONE && ca->secret_used && ca->client.source == CLIENT_CLI &&
           !client_is_public(&ca->client);
}

/* Every answer is built with jansson; keys are literals (nocheck), values are checked as
 * UTF-8 by json_string. A failure anywhere leaves the whole answer unbuilt (WT_NOMEM). */
static wt_status inactive(json_t **out)
{
    *out = json_pack("{s:b}", "active", 0);
    return *out ? WT_OK : WT_NOMEM;
}

static bool member(json_t *o, const char *name, json_t *v)
{
    return v && json_object_set_new_nocheck(o, name, v) == 0;
}

json_t *introspect_active_json(const char *issuer, const introspect_active *d)
{
    json_t *o = json_object();
    bool ok = o && member(o, "active", json_true()) && member(o, "scope", json_string(d->scope)) &&
              member(o, "client_id", json_string(d->client_id)) &&
              member(o, "sub", json_string(d->user_id[0] ? d->user_id : d->client_id));
    if (ok && d->user_id[0] && d->username && d->username[0])
        ok = member(o, "username", json_string(d->username));
    ok = ok && member(o, "exp", json_integer(d->exp)) && member(o, "iat", json_integer(d->iat));
    if (ok && d->resource[0])
        ok = member(o, "aud", json_string(d->resource));
    ok = ok && member(o, "iss", json_string(issuer)) &&
         member(o, "token_type", json_string(d->token_type));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static wt_status active(const introspect_ctx *c, const introspect_active *d, json_t **out)
{
    *out = introspect_active_json(c->issuer, d);
    return *out ? WT_OK : WT_NOMEM;
}

/* WT_OK with the answer (active or not) in *out, or a store or allocation failure. */
static wt_status access_token(store_txn *t, const introspect_ctx *c, const token_t *tok,
                              json_t **out)
{
    access_rec a;
    wt_status st = tokens_check_access(t, tok, c->now, &a);
    if (st == WT_NOTFOUND || st == WT_EXPIRED || st == WT_INVALID)
        return inactive(out);
    if (st != WT_OK)
        return st;
    introspect_active d = {.scope = a.scope,
                           .client_id = a.client_id,
                           .user_id = a.user_id,
                           .username = a.username,
                           .resource = a.resource,
                           .token_type = "Bearer",
                           .exp = a.exp,
                           .iat = a.iat};
    return active(c, &d, out);
}

static wt_status refresh_token(store_txn *t, const introspect_ctx *c, const token_t *tok,
                               json_t **out)
{
    store_val v;
    refresh_rec r;
    grant_rec g;
    user_t u = {0};
    uint8_t dg[32], gid[GRANT_ID_LEN];
    wt_status st = store_get(t, STORE_DB_REFRESH, tok->selector, TOKEN_SELECTOR_LEN, &v);
    if (st == WT_OK && refresh_rec_decode(v.data, v.len, &r) != WT_OK)
        st = WT_NOTFOUND; /* unreadable: say inactive rather than fail the caller */
    if (st == WT_OK) {
        token_digest(tok, dg);
        if (!crypto_equal(dg, r.digest, 32) || r.exp <= c->now || r.retired_at != 0)
            st = WT_NOTFOUND;
    }
    if (st == WT_OK) {
        memcpy(gid, r.grant, GRANT_ID_LEN);
        st = grant_get(t, gid, &g);
    }
    /* Only the live token of the family, and only to the client it was issued to. */
    if (st == WT_OK && (memcmp(g.refresh_sel, tok->selector, TOKEN_SELECTOR_LEN) != 0 ||
                        strcmp(g.client_id, c->caller) != 0))
        st = WT_NOTFOUND;
    if (st == WT_OK && g.user_id[0])
        st = user_by_id(t, g.user_id, &u);
    if (st == WT_NOTFOUND || st == WT_INVALID)
        st = inactive(out);
    else if (st == WT_OK) {
        introspect_active d = {.scope = g.scope,
                               .client_id = g.client_id,
                               .user_id = g.user_id,
                               .username = u.username,
                               .resource = g.resource,
                               .token_type = "refresh_token",
                               .exp = r.exp,
                               .iat = r.iat};
        st = active(c, &d, out);
    }
    user_free(&u);
    return st;
}

wt_status introspect_token(store_txn *t, const introspect_ctx *c, const char *token, json_t **out)
{
    *out = NULL;
    size_t len = strlen(token);
    int kind = token_kind_of(token, len);
    token_t tok;
    if ((kind != TOKEN_ACCESS && kind != TOKEN_REFRESH) ||
        token_parse((enum token_kind)kind, token, len, &tok) != WT_OK)
        return inactive(out);
    return kind == TOKEN_ACCESS ? access_token(t, c, &tok, out) : refresh_token(t, c, &tok, out);
}

json_t *introspect_jwt_claims(const introspect_ctx *c, json_t *resp)
{
    return json_pack("{s:s, s:s, s:I, s:O}", "iss", c->issuer, "aud", c->caller, "iat",
                     (json_int_t)c->now, "token_introspection", resp);
}

bool introspect_wants_jwt(const char *accept)
{
    static const char media[] = INTROSPECT_JWT_MEDIA;
    const size_t mlen = sizeof media - 1;
    const char *p = accept;
    while (p && *p) {
        /* One media range: "type/subtype *( ; param )", ranges separated by commas. */
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        const char *end = p + n, *semi = memchr(p, ';', n);
        size_t tlen = (size_t)((semi ? semi : end) - p);
        while (tlen && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        bool match = tlen == mlen && strncasecmp(p, media, mlen) == 0;
        bool q_zero = false;
        for (const char *s = semi; match && s && s < end;) {
            s++;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            if (end - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
                /* q=0, q=0.0, q=0.00, q=0.000 */
                const char *q = s + 2;
                q_zero = *q == '0';
                for (q++; q_zero && q < end && *q != ';' && *q != ' ' && *q != '\t'; q++)
                    if (*q != '.' && *q != '0')
                        q_zero = false;
            }
            s = memchr(s, ';', (size_t)(end - s));
        }
        if (match && !q_zero)
            return true;
        p = end;
    }
    return false;
}
