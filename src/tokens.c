/* tokens.c — code and token issuance and redemption inside the store writer's transactions
 * (contract in tokens.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "grants.h"
#include "log.h"
#include "metadata.h"
#include "pkce.h"
#include "tokens.h"
#include "users.h"

static wt_status put_record(store_txn *t, store_db db, const uint8_t sel[16], buf_t *b,
                            wt_status enc)
{
    wt_status st = enc == WT_OK ? store_put(t, db, sel, 16, b->p, b->len, STORE_APPEND) : enc;
    buf_free(b);
    return st;
}

wt_status tokens_issue_code(store_txn *t, void *arg)
{
    code_issue *c = arg;
    buf_t b;
    wt_status st;
    if (c->new_session) {
        session_rec s = {.iat = c->now, .exp = c->session_exp, .auth_time = c->auth_time,
                         .user_id = c->user_id, .pw_epoch = c->pw_epoch};
        token_digest(&c->session, s.digest);
        buf_init(&b, 4096);
        st = put_record(t, STORE_DB_SESSIONS, c->session.selector, &b,
                        session_rec_encode(&b, &s));
        if (st != WT_OK)
            return st;
    }
    if (c->consent_scope &&
        (st = consent_put(t, c->user_id, c->client_id, c->consent_scope, c->now)) != WT_OK)
        return st;
    code_rec r = {.iat = c->now, .exp = c->code_exp, .auth_time = c->auth_time,
                  .client_id = c->client_id, .user_id = c->user_id,
                  .redirect_uri = c->redirect_uri, .challenge = c->challenge, .scope = c->scope,
                  .resource = c->resource, .redirect_given = c->redirect_given};
    token_digest(&c->code, r.digest);
    buf_init(&b, 16384);
    return put_record(t, STORE_DB_CODES, c->code.selector, &b, code_rec_encode(&b, &r));
}

static wt_status refuse(token_result *res, enum oauth_error e, const char *why)
{
    res->err = e;
    snprintf(res->why, sizeof res->why, "%s", why);
    return WT_OK; /* the refusal itself commits (nothing was written, or a revocation was) */
}

/* Creates the grant, its access token and (when asked) refresh token. */
static wt_status issue_pair(store_txn *t, int64_t now, const char *client_id,
                            const char *user_id, const char *username, const char *scope,
                            const char *resource, int64_t auth_time, token_result *res,
                            uint8_t grant_id[GRANT_ID_LEN])
{
    grant_rec g = {.created = now, .auth_time = auth_time, .client_id = client_id,
                   .user_id = user_id, .scope = scope, .resource = resource};
    if (res->with_refresh)
        memcpy(g.refresh_sel, res->refresh.selector, 16);
    wt_status st = grant_create(t, &g, grant_id);
    if (st != WT_OK)
        return st;
    access_rec a = {.iat = now, .exp = now + res->access_ttl, .client_id = client_id,
                    .user_id = user_id, .username = username, .scope = scope,
                    .resource = resource};
    memcpy(a.grant, grant_id, GRANT_ID_LEN);
    token_digest(&res->access, a.digest);
    buf_t b;
    buf_init(&b, 16384);
    st = put_record(t, STORE_DB_ACCESS, res->access.selector, &b, access_rec_encode(&b, &a));
    if (st != WT_OK || !res->with_refresh)
        return st;
    refresh_rec r = {.iat = now, .exp = now + res->refresh_ttl};
    memcpy(r.grant, grant_id, GRANT_ID_LEN);
    token_digest(&res->refresh, r.digest);
    buf_init(&b, 4096);
    return put_record(t, STORE_DB_REFRESH, res->refresh.selector, &b,
                      refresh_rec_encode(&b, &r));
}

static bool resource_equal(const char *a, const char *b)
{
    char *na = resource_normalize(a), *nb = resource_normalize(b);
    bool eq = na && nb && strcmp(na, nb) == 0;
    free(na);
    free(nb);
    return eq;
}

static const uint8_t zero_grant[GRANT_ID_LEN];

wt_status tokens_redeem_code(store_txn *t, void *arg)
{
    code_redeem *c = arg;
    token_result *res = &c->res;
    store_val v;
    code_rec r;
    uint8_t dg[32];
    wt_status st = store_get(t, STORE_DB_CODES, c->code.selector, 16, &v);
    if (st == WT_NOTFOUND)
        return refuse(res, OE_INVALID_GRANT, "the authorization code is invalid or expired");
    if (st != WT_OK)
        return st;
    if (code_rec_decode(v.data, v.len, &r) != WT_OK)
        return WT_ESTORE;
    token_digest(&c->code, dg);
    if (!crypto_equal(dg, r.digest, 32) || r.exp <= c->now)
        return refuse(res, OE_INVALID_GRANT, "the authorization code is invalid or expired");
    bool owner = strcmp(r.client_id, c->client_id) == 0;
    bool verifier_ok = pkce_verify(c->verifier, strlen(c->verifier), r.challenge,
                                   strlen(r.challenge));
    if (memcmp(r.used_grant, zero_grant, GRANT_ID_LEN) != 0) {
        /* Replay (SPEC §3): only the owner proving possession of the verifier may cause the
         * revocation, so a stranger holding a leaked code cannot log the user out. */
        if (owner && verifier_ok) {
            uint8_t gid[GRANT_ID_LEN];
            memcpy(gid, r.used_grant, GRANT_ID_LEN);
            st = grant_revoke(t, gid);
            if (st != WT_OK && st != WT_NOTFOUND)
                return st;
            c->replayed = true;
        }
        return refuse(res, OE_INVALID_GRANT, "the authorization code was already used");
    }
    if (!owner)
        return refuse(res, OE_INVALID_GRANT, "the authorization code was issued to another "
                                             "client");
    if (c->redirect_uri && strcmp(c->redirect_uri, r.redirect_uri) != 0)
        return refuse(res, OE_INVALID_GRANT,
                      "redirect_uri does not match the one used in the authorization request");
    if (!verifier_ok)
        return refuse(res, OE_INVALID_GRANT, "code_verifier does not match the code_challenge");
    if (c->resource && !resource_equal(c->resource, r.resource))
        return refuse(res, OE_INVALID_TARGET,
                      "resource differs from the one in the authorization request");
    user_t u;
    st = user_by_id(t, r.user_id, &u);
    if (st == WT_NOTFOUND)
        return refuse(res, OE_INVALID_GRANT, "the user who authorized this code no longer "
                                             "exists");
    if (st != WT_OK)
        return st;
    /* Copy the record out of the map before anything is written in this transaction. */
    char *scope = strdup(r.scope), *resource = strdup(r.resource), *user = strdup(r.user_id);
    char *redirect = strdup(r.redirect_uri), *challenge = strdup(r.challenge);
    code_rec used = r;
    uint8_t gid[GRANT_ID_LEN];
    st = scope && resource && user && redirect && challenge
             ? issue_pair(t, c->now, c->client_id, user, u.username, scope, resource,
                          r.auth_time, res, gid)
             : WT_NOMEM;
    if (st == WT_OK) {
        /* Keep the code, marked used, until it expires: a replay must find it. */
        memcpy(used.used_grant, gid, GRANT_ID_LEN);
        used.client_id = c->client_id;
        used.user_id = user;
        used.scope = scope;
        used.resource = resource;
        used.redirect_uri = redirect;
        used.challenge = challenge;
        buf_t b;
        buf_init(&b, 16384);
        st = put_record(t, STORE_DB_CODES, c->code.selector, &b, code_rec_encode(&b, &used));
    }
    if (st == WT_OK)
        snprintf(res->scope, sizeof res->scope, "%s", scope);
    res->err = OE_NONE;
    free(scope);
    free(resource);
    free(user);
    free(redirect);
    free(challenge);
    user_free(&u);
    return st;
}

wt_status tokens_check_access(store_txn *t, const token_t *tok, int64_t now, access_rec *out)
{
    store_val v, g;
    uint8_t dg[32];
    wt_status st = store_get(t, STORE_DB_ACCESS, tok->selector, 16, &v);
    if (st != WT_OK)
        return st;
    if (access_rec_decode(v.data, v.len, out) != WT_OK)
        return WT_ESTORE;
    token_digest(tok, dg);
    if (!crypto_equal(dg, out->digest, 32))
        return WT_NOTFOUND;
    if (out->exp <= now)
        return WT_EXPIRED;
    st = store_get(t, STORE_DB_GRANTS, out->grant, GRANT_ID_LEN, &g);
    return st;
}

wt_status tokens_end_session(store_txn *t, void *arg)
{
    const token_t *tok = arg;
    store_val v;
    session_rec s;
    uint8_t dg[32];
    if (store_get(t, STORE_DB_SESSIONS, tok->selector, 16, &v) != WT_OK ||
        session_rec_decode(v.data, v.len, &s) != WT_OK)
        return WT_OK;
    token_digest(tok, dg);
    if (!crypto_equal(dg, s.digest, 32)) /* only the holder of the session may end it */
        return WT_OK;
    wt_status st = store_del(t, STORE_DB_SESSIONS, tok->selector, 16, NULL, 0);
    return st == WT_NOTFOUND ? WT_OK : st;
}
