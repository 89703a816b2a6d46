/* introspect.c — the introspection service (contract in introspect.h). Reads only: the token
 * record, its grant and (for refresh tokens) the user, all in the caller's read transaction;
 * record strings are used in place (valid until that transaction ends) and copied once, into
 * the response object. */
#include <stdlib.h>
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

static json_t *inactive(void)
{
    json_t *o = json_object();
    if (o && json_object_set_new(o, "active", json_false()) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* The members of an active token. Strings come from our own records (UTF-8 by construction);
 * empty ones (no user, no resource) are left out. */
struct active_desc {
    const char *scope, *client_id, *user_id, *username, *resource, *token_type;
    int64_t exp, iat;
};

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new_nocheck(o, k, json_string(v));
}

static json_t *active(const introspect_ctx *c, const struct active_desc *d)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new_nocheck(o, "active", json_true());
    bad |= set_str(o, "scope", d->scope);
    bad |= set_str(o, "client_id", d->client_id);
    bad |= set_str(o, "sub", d->user_id[0] ? d->user_id : d->client_id);
    if (d->user_id[0] && d->username && d->username[0])
        bad |= set_str(o, "username", d->username);
    bad |= json_object_set_new_nocheck(o, "exp", json_integer(d->exp));
    bad |= json_object_set_new_nocheck(o, "iat", json_integer(d->iat));
    if (d->resource[0])
        bad |= set_str(o, "aud", d->resource);
    bad |= set_str(o, "iss", c->issuer);
    bad |= set_str(o, "token_type", d->token_type);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* WT_OK with *out set (active or not), or a store failure. */
static wt_status access_token(store_txn *t, const introspect_ctx *c, const token_t *tok,
                              json_t **out)
{
    access_rec a;
    wt_status st = tokens_check_access(t, tok, c->now, &a);
    if (st == WT_NOTFOUND || st == WT_EXPIRED || st == WT_INVALID) {
        *out = inactive();
        return WT_OK;
    }
    if (st != WT_OK)
        return st;
    struct active_desc d = {.scope = a.scope, .client_id = a.client_id, .user_id = a.user_id,
                            .username = a.username, .resource = a.resource,
                            .token_type = "Bearer", .exp = a.exp, .iat = a.iat};
    *out = active(c, &d);
    return WT_OK;
}

static wt_status refresh_token(store_txn *t, const introspect_ctx *c, const token_t *tok,
                               json_t **out)
{
    store_val v;
    refresh_rec r;
    grant_rec g;
    user_t u = {0};
    uint8_t dg[32], gid[GRANT_ID_LEN];
    *out = NULL;
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
    if (st == WT_NOTFOUND || st == WT_INVALID) {
        user_free(&u);
        *out = inactive();
        return WT_OK;
    }
    if (st != WT_OK) {
        user_free(&u);
        return st;
    }
    struct active_desc d = {.scope = g.scope, .client_id = g.client_id, .user_id = g.user_id,
                            .username = u.username, .resource = g.resource,
                            .token_type = "refresh_token", .exp = r.exp, .iat = r.iat};
    *out = active(c, &d);
    user_free(&u);
    return WT_OK;
}

wt_status introspect_token(store_txn *t, const introspect_ctx *c, const char *token,
                           json_t **out)
{
    size_t len = strlen(token);
    int kind = token_kind_of(token, len);
    token_t tok;
    wt_status st = WT_OK;
    *out = NULL;
    if ((kind == TOKEN_ACCESS || kind == TOKEN_REFRESH) &&
        token_parse((enum token_kind)kind, token, len, &tok) == WT_OK)
        st = kind == TOKEN_ACCESS ? access_token(t, c, &tok, out) : refresh_token(t, c, &tok, out);
    else
        *out = inactive();
    if (st == WT_OK && !*out)
        st = WT_NOMEM;
    return st;
}

json_t *introspect_jwt_claims(const introspect_ctx *c, json_t *resp)
{
    json_t *o = json_object();
    if (!o || !resp) {
        json_decref(o);
        json_decref(resp);
        return NULL;
    }
    int bad = set_str(o, "iss", c->issuer);
    bad |= set_str(o, "aud", c->caller);
    bad |= json_object_set_new_nocheck(o, "iat", json_integer(c->now));
    bad |= json_object_set_new_nocheck(o, "token_introspection", resp);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
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
