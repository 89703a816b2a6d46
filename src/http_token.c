/* http_token.c — POST /oauth/token (and /token): reads the body, authenticates the client on
 * the loop thread (a read), then hands the grant to the store writer and answers once the
 * tokens are durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "clientauth.h"
#include "crypto.h"
#include "log.h"
#include "metadata.h"
#include "ratelimit.h"
#include "scope.h"
#include "pkce.h"
#include "register.h"
#include "tokens.h"
#include "http.h"

struct token_job {
    http_job job;
    enum { G_CODE, G_REFRESH, G_CC } grant;
    union { /* the writer op of `grant` */
        code_redeem redeem;
        refresh_redeem refresh;
        cc_issue cc;
    };
    char *client_id, *verifier, *redirect_uri, *resource, *scope;
    char *jti; /* private_key_jwt: recorded by the grant's writer op */
    int64_t jti_keep_until;
};

static token_result *job_result(struct token_job *j)
{
    return j->grant == G_CODE      ? &j->redeem.res
           : j->grant == G_REFRESH ? &j->refresh.res
                                   : &j->cc.res;
}

static void free_job(struct token_job *j)
{
    free(j->client_id);
    if (j->verifier)
        OPENSSL_cleanse(j->verifier, strlen(j->verifier));
    free(j->verifier);
    free(j->redirect_uri);
    free(j->resource);
    free(j->scope);
    free(j->jti);
    /* The secrets it held: the pair minted for the client, and the code or refresh token the
     * client presented (the rest, scope and error text, is not secret). */
    token_result *r = job_result(j);
    OPENSSL_cleanse(&r->access, sizeof r->access);
    OPENSSL_cleanse(&r->refresh, sizeof r->refresh);
    if (j->grant == G_CODE)
        OPENSSL_cleanse(&j->redeem.code, sizeof j->redeem.code);
    else if (j->grant == G_REFRESH)
        OPENSSL_cleanse(&j->refresh.presented, sizeof j->refresh.presented);
    free(j);
}

static void send_tokens(h2o_req_t *req, const token_result *r)
{
    char at[TOKEN_STR_LEN + 1], rt[TOKEN_STR_LEN + 1];
    memcpy(at, token_prefix(TOKEN_ACCESS), 4);
    b64url_encode(&r->access, sizeof r->access, at + 4);
    json_t *o = json_object();
    json_object_set_new(o, "access_token", json_string(at));
    json_object_set_new(o, "token_type", json_string("Bearer"));
    json_object_set_new(o, "expires_in", json_integer(r->access_ttl));
    if (r->with_refresh) {
        memcpy(rt, token_prefix(TOKEN_REFRESH), 4);
        b64url_encode(&r->refresh, sizeof r->refresh, rt + 4);
        json_object_set_new(o, "refresh_token", json_string(rt));
    }
    json_object_set_new(o, "scope", json_string(r->scope));
    http_json(req, 200, o);
}

static void security_event(const char *name, const char *client_id)
{
    char m[32];
    log_mask(client_id, m, sizeof m);
    log_event(name, json_pack("{s:s, s:s}", "client_id", m, "action", "grant revoked"));
}

static void finish_grant(http_job *job, h2o_req_t *req)
{
    struct token_job *j = (struct token_job *)job;
    const token_result *res = job_result(j);
    if (j->grant == G_CODE && j->redeem.replayed)
        security_event("code_replay", j->client_id);
    if (j->grant == G_REFRESH && j->refresh.reuse_revoked)
        security_event("refresh_token_reuse", j->client_id);
    if (req) {
        if (job->op.status != WT_OK)
            http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                             "the store could not save the tokens; retry");
        else if (res->err != OE_NONE)
            http_oauth_error(req, 0, res->err, res->why);
        else
            send_tokens(req, res);
    }
    free_job(j);
}

/* A job with the client id copied and a fresh access/refresh pair minted; NULL on failure
 * (the error is sent). */
static struct token_job *new_job(h2o_req_t *req, const clientauth *ca, token_result **res, int kind)
{
    const client_t *c = &ca->client;
    struct token_job *j = calloc(1, sizeof *j);
    app *a = http_thread_of(req)->a;
    if (j) {
        j->grant = kind;
        *res = job_result(j);
        (*res)->access_ttl = a->cfg.access_token_ttl;
        (*res)->refresh_ttl = a->cfg.refresh_token_ttl;
        (*res)->with_refresh = client_allows_grant(c, "refresh_token");
        (*res)->mark_client_used = register_client_unused(c);
        int64_t us = now_us();
        j->client_id = strdup(c->id);
        j->jti = ca->assertion_used ? strdup(ca->jti) : NULL;
        j->jti_keep_until = ca->jti_keep_until;
        if (!j->client_id || (ca->assertion_used && !j->jti) ||
            token_mint(TOKEN_ACCESS, us, &(*res)->access, NULL) != WT_OK ||
            token_mint(TOKEN_REFRESH, us, &(*res)->refresh, NULL) != WT_OK) {
            free_job(j);
            j = NULL;
        }
    }
    if (!j)
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of resources");
    return j;
}

static char *dup_opt(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static int grant_code(http_thread *t, h2o_req_t *req, const form_t *f, const clientauth *ca)
{
    const char *code = form_get(f, "code"), *verifier = form_get(f, "code_verifier");
    token_t tok;
    if (!code || !code[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "the code parameter is missing");
        return 0;
    }
    if (!verifier) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST,
                         "code_verifier is missing: PKCE is required (S256 code_challenge on "
                         "the authorization request, code_verifier here)");
        return 0;
    }
    if (!pkce_verifier_valid(verifier, strlen(verifier))) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST,
                         "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
        return 0;
    }
    if (token_parse(TOKEN_CODE, code, strlen(code), &tok) != WT_OK) {
        http_oauth_error(req, 400, OE_INVALID_GRANT,
                         "the authorization code is invalid or "
                         "expired");
        return 0;
    }
    token_result *res;
    struct token_job *j = new_job(req, ca, &res, G_CODE);
    if (!j)
        return 0;
    bool ok = true;
    j->verifier = dup_opt(verifier, &ok);
    j->redirect_uri = dup_opt(form_get(f, "redirect_uri"), &ok);
    j->resource = dup_opt(form_get(f, "resource"), &ok);
    if (!ok) {
        free_job(j);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        return 0;
    }
    code_redeem *r = &j->redeem;
    r->now = now_us() / 1000000;
    r->code = tok;
    r->client_id = j->client_id;
    r->verifier = j->verifier;
    r->redirect_uri = j->redirect_uri;
    r->resource = j->resource;
    r->jti = j->jti;
    r->jti_keep_until = j->jti_keep_until;
    http_job_init(&j->job, req, finish_grant);
    http_job_store_restartable(&j->job, tokens_redeem_code, r);
    return 0;
}

static int grant_refresh(http_thread *t, h2o_req_t *req, const form_t *f, const clientauth *ca)
{
    const char *rt = form_get(f, "refresh_token");
    token_t tok;
    if (!rt || !rt[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "the refresh_token parameter is missing");
        return 0;
    }
    if (token_parse(TOKEN_REFRESH, rt, strlen(rt), &tok) != WT_OK) {
        http_oauth_error(req, 400, OE_INVALID_GRANT,
                         "the refresh token is invalid, expired or revoked");
        return 0;
    }
    token_result *res;
    struct token_job *j = new_job(req, ca, &res, G_REFRESH);
    if (!j)
        return 0;
    bool ok = true;
    j->scope = dup_opt(form_get(f, "scope"), &ok);
    j->resource = dup_opt(form_get(f, "resource"), &ok);
    if (!ok) {
        free_job(j);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        return 0;
    }
    refresh_redeem *r = &j->refresh;
    r->now = now_us() / 1000000;
    r->grace = t->a->cfg.refresh_grace;
    r->presented = tok;
    r->client_id = j->client_id;
    r->scope = j->scope && j->scope[0] ? j->scope : NULL;
    r->resource = j->resource;
    r->jti = j->jti;
    r->jti_keep_until = j->jti_keep_until;
    http_job_init(&j->job, req, finish_grant);
    http_job_store(&j->job, tokens_refresh, r);
    return 0;
}

static int grant_client_credentials(http_thread *t, h2o_req_t *req, const form_t *f,
                                    const client_t *c, const clientauth *ca)
{
    app *a = t->a;
    char why[200], *scope = NULL;
    if (!ca->secret_used) {
        http_oauth_error(req, 400, OE_UNAUTHORIZED_CLIENT,
                         "client_credentials is only for confidential clients");
        return 0;
    }
    const char *req_scope = form_get(f, "scope");
    if (scope_resolve(&a->scopes, req_scope && req_scope[0] ? req_scope : NULL, c->scope, &scope,
                      why, sizeof why) != WT_OK) {
        http_oauth_error(req, 400, OE_INVALID_SCOPE, why);
        return 0;
    }
    const app_resource *r = app_find_resource(a, form_get(f, "resource"));
    if (!r) {
        free(scope);
        http_oauth_error(req, 400, OE_INVALID_TARGET,
                         form_get(f, "resource")
                             ? "the resource is not one this server issues tokens for"
                             : "several resources are configured: send the resource parameter");
        return 0;
    }
    token_result *res;
    struct token_job *j = new_job(req, ca, &res, G_CC);
    if (!j) {
        free(scope);
        return 0;
    }
    j->scope = scope;
    j->cc.now = now_us() / 1000000;
    j->cc.client_id = j->client_id;
    j->cc.scope = scope;
    j->cc.resource = r->resource;
    j->cc.jti = j->jti;
    j->cc.jti_keep_until = j->jti_keep_until;
    http_job_init(&j->job, req, finish_grant);
    http_job_store_restartable(&j->job, tokens_client_credentials, &j->cc);
    return 0;
}

int http_client_auth(http_thread *t, h2o_req_t *req, const form_t *f, const char *endpoint,
                     store_txn **txn, clientauth *ca)
{
    *txn = NULL;
    if (store_reader_begin(t->reader, txn) != WT_OK) {
        *txn = NULL;
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "the store is not readable");
        return -1;
    }
    if (client_authenticate_at(*txn, http_header(req, H2O_TOKEN_AUTHORIZATION, NULL, NULL), f,
                               t->a->cfg.issuer, endpoint, ca) != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "the store is not readable");
        return -1;
    }
    if (ca->err == OE_NONE && ca->client.source == CLIENT_CIMD && !t->a->cfg.cimd.enabled) {
        ca->err = OE_INVALID_CLIENT;
        ca->status = 401;
        snprintf(ca->why, sizeof ca->why, "client metadata documents are disabled here");
    }
    if (ca->err != OE_NONE) {
        http_client_auth_failed(req, ca);
        return -1;
    }
    return 0;
}

void http_client_auth_failed(h2o_req_t *req, const clientauth *ca)
{
    http_thread *t = http_thread_of(req);
    if (ca->basic_tried && ca->status == 401) {
        char h[300];
        snprintf(h, sizeof h, "Basic realm=\"%s\"", t->a->cfg.realm);
        http_add(req, "www-authenticate", h);
    }
    log_event("client_auth_failed",
              json_pack("{s:s, s:s}", "peer", http_peer(req), "reason", ca->why));
    http_oauth_error(req, ca->status, ca->err, ca->why);
}

int http_token(http_thread *t, h2o_req_t *req)
{
    form_t f;
    if (http_rate_limit(req, RL_TOKEN) != 0 || http_body_params(req, &f, true) != 0)
        return 0;
    const char *dup = form_duplicate(&f);
    const char *gt = form_get(&f, "grant_type");
    clientauth ca = {0};
    store_txn *txn = NULL;
    if (dup) {
        char m[128];
        bool res = strcmp(dup, "resource") == 0;
        snprintf(m, sizeof m,
                 res ? "only one resource may be requested (%.60s given twice)"
                     : "the %.60s parameter is given more than once",
                 dup);
        http_oauth_error(req, 400, res ? OE_INVALID_TARGET : OE_INVALID_REQUEST, m);
        goto out;
    }
    if (!gt || !gt[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "grant_type is missing");
        goto out;
    }
    if (strcmp(gt, "authorization_code") != 0 && strcmp(gt, "refresh_token") != 0 &&
        strcmp(gt, "client_credentials") != 0) {
        http_oauth_error(req, 400, OE_UNSUPPORTED_GRANT_TYPE,
                         "supported grant types: authorization_code, refresh_token, "
                         "client_credentials");
        goto out;
    }
    if (http_client_auth(t, req, &f, "/oauth/token", &txn, &ca) != 0)
        goto out;
    if (!client_allows_grant(&ca.client, gt)) {
        http_oauth_error(req, 400, OE_UNAUTHORIZED_CLIENT,
                         "this client is not registered for this grant type");
        goto out;
    }
    if (strcmp(gt, "authorization_code") == 0)
        grant_code(t, req, &f, &ca);
    else if (strcmp(gt, "refresh_token") == 0)
        grant_refresh(t, req, &f, &ca);
    else
        grant_client_credentials(t, req, &f, &ca.client, &ca);
out:
    if (txn)
        store_reader_end(t->reader);
    client_free(&ca.client);
    form_free(&f);
    return 0;
}
