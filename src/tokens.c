/* tokens.c — code and token issuance and redemption inside the store writer's transactions
 * (contract in tokens.h). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assertion.h"
#include "crypto.h"
#include "grants.h"
#include "log.h"
#include "metadata.h"
#include "pkce.h"
#include "register.h"
#include "scope.h"
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
        session_rec s = {.iat = c->now,
                         .exp = c->session_exp,
                         .auth_time = c->auth_time,
                         .user_id = c->user_id,
                         .pw_epoch = c->pw_epoch};
        token_digest(&c->session, s.digest);
        buf_init(&b, 4096);
        st = put_record(t, STORE_DB_SESSIONS, c->session.selector, &b, session_rec_encode(&b, &s));
        if (st != WT_OK)
            return st;
    }
    if (c->consent_scope &&
        (st = consent_put(t, c->user_id, c->client_id, c->consent_scope, c->now)) != WT_OK)
        return st;
    code_rec r = {.iat = c->now,
                  .exp = c->code_exp,
                  .auth_time = c->auth_time,
                  .client_id = c->client_id,
                  .user_id = c->user_id,
                  .redirect_uri = c->redirect_uri,
                  .challenge = c->challenge,
                  .scope = c->scope,
                  .resource = c->resource,
                  .redirect_given = c->redirect_given};
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

/* Records a private_key_jwt assertion's jti first thing in the op: a replay refuses the
 * request (invalid_client) and a refusal after this point still commits the record. */
#define JTI_REPLAY                                                                                 \
    "this client assertion was already used (its jti was seen before): sign a "                    \
    "new one with a fresh jti"

/* Creates the grant, its access token and (when asked) refresh token. */
static wt_status issue_pair(store_txn *t, int64_t now, const char *client_id, const char *user_id,
                            const char *username, const char *scope, const char *resource,
                            int64_t auth_time, token_result *res, uint8_t grant_id[GRANT_ID_LEN])
{
    grant_rec g = {.created = now,
                   .auth_time = auth_time,
                   .client_id = client_id,
                   .user_id = user_id,
                   .scope = scope,
                   .resource = resource,
                   .access_until = now + res->access_ttl};
    if (res->with_refresh)
        memcpy(g.refresh_sel, res->refresh.selector, 16);
    wt_status st = res->mark_client_used ? register_mark_used(t, client_id) : WT_OK;
    if (st != WT_OK)
        return st;
    st = grant_create(t, &g, grant_id);
    if (st != WT_OK)
        return st;
    access_rec a = {.iat = now,
                    .exp = now + res->access_ttl,
                    .client_id = client_id,
                    .user_id = user_id,
                    .username = username,
                    .scope = scope,
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
    return put_record(t, STORE_DB_REFRESH, res->refresh.selector, &b, refresh_rec_encode(&b, &r));
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
    c->replayed = false; /* restartable (store.h): every result is set on each run */
    wt_status st = assertion_record_jti(t, c->client_id, c->jti, c->jti_keep_until);
    if (st == WT_EXISTS)
        return refuse(res, OE_INVALID_CLIENT, JTI_REPLAY);
    if (st != WT_OK)
        return st;
    st = store_get(t, STORE_DB_CODES, c->code.selector, 16, &v);
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
    bool verifier_ok =
        pkce_verify(c->verifier, strlen(c->verifier), r.challenge, strlen(r.challenge));
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
        return refuse(res, OE_INVALID_GRANT,
                      "the authorization code was issued to another "
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
    st = user_by_id_shared(t, r.user_id, &u);
    if (st == WT_NOTFOUND)
        return refuse(res, OE_INVALID_GRANT,
                      "the user who authorized this code no longer "
                      "exists");
    if (st != WT_OK)
        return st;
    /* Copy the record out of the map before anything is written in this transaction. */
    char *scope = strdup(r.scope), *resource = strdup(r.resource), *user = strdup(r.user_id);
    char *redirect = strdup(r.redirect_uri), *challenge = strdup(r.challenge);
    code_rec used = r;
    uint8_t gid[GRANT_ID_LEN];
    st = scope && resource && user && redirect && challenge
             ? issue_pair(t, c->now, c->client_id, user, u.username, scope, resource, r.auth_time,
                          res, gid)
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
    /* A revoked grant leaves a tombstone (grant_revoke), so one look in that small table
     * replaces a second descent into the large grants table. Tokens issued before a store was
     * upgraded to tombstones are checked against their grant record, as then. */
    if (out->iat > store_tombstones_since(t)) {
        st = store_get(t, STORE_DB_REVOKED, out->grant, GRANT_ID_LEN, &g);
        return st == WT_NOTFOUND ? WT_OK : st == WT_OK ? WT_NOTFOUND : st;
    }
    return store_get(t, STORE_DB_GRANTS, out->grant, GRANT_ID_LEN, &g);
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

/* The key a retired refresh token's successor pair is sealed under: only whoever holds the
 * retired token (whose secret is never stored) can derive it. */
static void grace_key(const token_t *presented, uint8_t key[32])
{
    crypto_hmac_sha256(presented->secret, TOKEN_SECRET_LEN, "wattle refresh grace", 20, key);
}

/* Plaintext of a sealed pair: access token (32 bytes) || refresh token (32) || access exp (8)
 * || the access token's scope. */
#define PAIR_LEN (2 * sizeof(token_t) + 8)
#define PAIR_MAX (PAIR_LEN + SCOPE_STRING_MAX)

static wt_status grace_replay(refresh_redeem *c, const refresh_rec *r)
{
    uint8_t key[32], plain[PAIR_MAX + 16];
    grace_key(&c->presented, key);
    long n = crypto_open(key, r->sealed, r->sealed_len, plain, sizeof plain);
    OPENSSL_cleanse(key, sizeof key);
    if (n < (long)PAIR_LEN || n > (long)PAIR_MAX)
        return WT_INVALID;
    int64_t exp = 0;
    memcpy(&c->res.access, plain, sizeof(token_t));
    memcpy(&c->res.refresh, plain + sizeof(token_t), sizeof(token_t));
    memcpy(&exp, plain + 2 * sizeof(token_t), 8);
    snprintf(c->res.scope, sizeof c->res.scope, "%.*s", (int)(n - (long)PAIR_LEN),
             (const char *)plain + PAIR_LEN);
    OPENSSL_cleanse(plain, sizeof plain);
    c->res.access_ttl = exp > c->now ? exp - c->now : 0;
    c->res.with_refresh = true;
    c->grace_replay = true;
    return WT_OK;
}

wt_status tokens_refresh(store_txn *t, void *arg)
{
    refresh_redeem *c = arg;
    token_result *res = &c->res;
    store_val v;
    refresh_rec r;
    grant_rec g;
    uint8_t dg[32];
    wt_status st = assertion_record_jti(t, c->client_id, c->jti, c->jti_keep_until);
    if (st == WT_EXISTS)
        return refuse(res, OE_INVALID_CLIENT, JTI_REPLAY);
    if (st != WT_OK)
        return st;
    st = store_get(t, STORE_DB_REFRESH, c->presented.selector, 16, &v);
    if (st == WT_NOTFOUND)
        return refuse(res, OE_INVALID_GRANT, "the refresh token is invalid, expired or revoked");
    if (st != WT_OK)
        return st;
    if (refresh_rec_decode(v.data, v.len, &r) != WT_OK)
        return WT_ESTORE;
    token_digest(&c->presented, dg);
    if (!crypto_equal(dg, r.digest, 32) || r.exp <= c->now)
        return refuse(res, OE_INVALID_GRANT, "the refresh token is invalid, expired or revoked");
    uint8_t gid[GRANT_ID_LEN];
    memcpy(gid, r.grant, GRANT_ID_LEN);
    st = grant_get(t, gid, &g);
    if (st == WT_NOTFOUND)
        return refuse(res, OE_INVALID_GRANT, "the refresh token is invalid, expired or revoked");
    if (st != WT_OK)
        return st;
    if (strcmp(g.client_id, c->client_id) != 0)
        return refuse(res, OE_INVALID_GRANT, "the refresh token was issued to another client");
    bool live = r.retired_at == 0 && memcmp(g.refresh_sel, c->presented.selector, 16) == 0;
    if (!live) {
        /* The just-retired token, within the grace window, before its successor was used:
         * two refreshes raced; hand back the same pair instead of logging the user out. */
        if (r.retired_at && c->now - r.retired_at <= c->grace && g.generation == r.generation + 1 &&
            r.sealed && grace_replay(c, &r) == WT_OK) {
            res->err = OE_NONE;
            return WT_OK;
        }
        st = grant_revoke(t, gid);
        if (st != WT_OK && st != WT_NOTFOUND)
            return st;
        c->reuse_revoked = true;
        return refuse(res, OE_INVALID_GRANT,
                      "the refresh token was already used; the grant is revoked, authorize again");
    }
    if (c->resource && !resource_equal(c->resource, g.resource))
        return refuse(res, OE_INVALID_TARGET,
                      "resource differs from the one this grant was issued for");
    char why[160], *scope = NULL;
    if (scope_narrow(g.scope, c->scope, &scope, why, sizeof why) != WT_OK)
        return refuse(res, OE_INVALID_SCOPE, why);
    user_t u = {0};
    if (g.user_id[0] && (st = user_by_id_shared(t, g.user_id, &u)) != WT_OK) {
        free(scope);
        if (st == WT_NOTFOUND)
            return refuse(res, OE_INVALID_GRANT, "the user of this grant no longer exists");
        return st;
    }
    /* Copy out of the map before writing. */
    grant_rec ng = g;
    char *client = strdup(g.client_id), *user = strdup(g.user_id), *gscope = strdup(g.scope),
         *resource = strdup(g.resource);
    refresh_rec old = r;
    uint8_t sealed[PAIR_MAX + 28];
    st = client && user && gscope && resource ? WT_OK : WT_NOMEM;
    if (st == WT_OK) {
        ng.client_id = client;
        ng.user_id = user;
        ng.scope = gscope;
        ng.resource = resource;
        ng.generation = g.generation + 1;
        if (ng.access_until < c->now + res->access_ttl)
            ng.access_until = c->now + res->access_ttl;
        memcpy(ng.refresh_sel, res->refresh.selector, 16);
        st = grant_put(t, gid, &ng);
    }
    if (st == WT_OK) {
        access_rec a = {.iat = c->now,
                        .exp = c->now + res->access_ttl,
                        .client_id = client,
                        .user_id = user,
                        .username = u.username ? u.username : "",
                        .scope = scope,
                        .resource = resource};
        memcpy(a.grant, gid, GRANT_ID_LEN);
        token_digest(&res->access, a.digest);
        buf_t b;
        buf_init(&b, 16384);
        st = put_record(t, STORE_DB_ACCESS, res->access.selector, &b, access_rec_encode(&b, &a));
    }
    if (st == WT_OK) {
        refresh_rec nr = {
            .iat = c->now, .exp = c->now + res->refresh_ttl, .generation = ng.generation};
        memcpy(nr.grant, gid, GRANT_ID_LEN);
        token_digest(&res->refresh, nr.digest);
        buf_t b;
        buf_init(&b, 4096);
        st =
            put_record(t, STORE_DB_REFRESH, res->refresh.selector, &b, refresh_rec_encode(&b, &nr));
    }
    if (st == WT_OK) {
        /* Retire the presented token, keeping the successor pair sealed for the grace
         * window. */
        uint8_t plain[PAIR_MAX], key[32];
        int64_t exp = c->now + res->access_ttl;
        size_t slen = strlen(scope) < SCOPE_STRING_MAX ? strlen(scope) : SCOPE_STRING_MAX;
        memcpy(plain, &res->access, sizeof(token_t));
        memcpy(plain + sizeof(token_t), &res->refresh, sizeof(token_t));
        memcpy(plain + 2 * sizeof(token_t), &exp, 8);
        memcpy(plain + PAIR_LEN, scope, slen);
        grace_key(&c->presented, key);
        long n =
            c->grace > 0 ? crypto_seal(key, plain, PAIR_LEN + slen, sealed, sizeof sealed) : -1;
        OPENSSL_cleanse(plain, sizeof plain);
        OPENSSL_cleanse(key, sizeof key);
        old.retired_at = c->now;
        old.sealed = n > 0 ? sealed : NULL;
        old.sealed_len = n > 0 ? (size_t)n : 0;
        buf_t b;
        buf_init(&b, 4096);
        st = put_record(t, STORE_DB_REFRESH, c->presented.selector, &b,
                        refresh_rec_encode(&b, &old));
    }
    if (st == WT_OK) {
        snprintf(res->scope, sizeof res->scope, "%s", scope);
        res->with_refresh = true;
        res->err = OE_NONE;
    }
    free(client);
    free(user);
    free(gscope);
    free(resource);
    free(scope);
    user_free(&u);
    return st;
}

wt_status tokens_client_credentials(store_txn *t, void *arg)
{
    cc_issue *c = arg;
    uint8_t gid[GRANT_ID_LEN];
    c->res.with_refresh = false;
    wt_status st = assertion_record_jti(t, c->client_id, c->jti, c->jti_keep_until);
    if (st == WT_EXISTS)
        return refuse(&c->res, OE_INVALID_CLIENT, JTI_REPLAY);
    if (st != WT_OK)
        return st;
    st = issue_pair(t, c->now, c->client_id, "", "", c->scope, c->resource, c->now, &c->res, gid);
    if (st == WT_OK) {
        snprintf(c->res.scope, sizeof c->res.scope, "%s", c->scope);
        c->res.err = OE_NONE;
    }
    return st;
}

/* The grant a presented access or refresh token belongs to, if the token is genuine. */
static bool token_grant(store_txn *t, const char *s, uint8_t gid[GRANT_ID_LEN])
{
    size_t len = strlen(s);
    int kind = token_kind_of(s, len);
    token_t tok;
    store_val v;
    uint8_t dg[32];
    if ((kind != TOKEN_ACCESS && kind != TOKEN_REFRESH) ||
        token_parse((enum token_kind)kind, s, len, &tok) != WT_OK)
        return false;
    store_db db = kind == TOKEN_ACCESS ? STORE_DB_ACCESS : STORE_DB_REFRESH;
    if (store_get(t, db, tok.selector, 16, &v) != WT_OK)
        return false;
    token_digest(&tok, dg);
    if (kind == TOKEN_ACCESS) {
        access_rec a;
        if (access_rec_decode(v.data, v.len, &a) != WT_OK || !crypto_equal(dg, a.digest, 32))
            return false;
        memcpy(gid, a.grant, GRANT_ID_LEN);
    } else {
        refresh_rec r;
        if (refresh_rec_decode(v.data, v.len, &r) != WT_OK || !crypto_equal(dg, r.digest, 32))
            return false;
        memcpy(gid, r.grant, GRANT_ID_LEN);
    }
    return true;
}

static bool revocable(store_txn *t, const revoke_op *c, uint8_t gid[GRANT_ID_LEN])
{
    grant_rec g;
    if (!token_grant(t, c->token, gid) || grant_get(t, gid, &g) != WT_OK)
        return false;
    /* Another client's token: nothing happens (RFC 7009 §2.1). */
    return !c->client_id || strcmp(g.client_id, c->client_id) == 0;
}

bool tokens_revocable(store_txn *t, const revoke_op *op)
{
    uint8_t gid[GRANT_ID_LEN];
    return revocable(t, op, gid);
}

wt_status tokens_revoke(store_txn *t, void *arg)
{
    revoke_op *c = arg;
    uint8_t gid[GRANT_ID_LEN];
    c->revoked = c->jti_replayed = false;
    wt_status st = assertion_record_jti(t, c->client_id, c->jti, c->jti_keep_until);
    if (st == WT_EXISTS) {
        c->jti_replayed = true;
        return WT_OK;
    }
    if (st != WT_OK)
        return st;
    if (!revocable(t, c, gid))
        return WT_OK;
    st = grant_revoke(t, gid);
    c->revoked = st == WT_OK;
    return st == WT_NOTFOUND ? WT_OK : st;
}
