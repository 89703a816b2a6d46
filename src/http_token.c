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
#include "pkce.h"
#include "tokens.h"
#include "http.h"

struct token_job {
    http_job job;
    code_redeem redeem;
    char *client_id, *verifier, *redirect_uri, *resource;
};

static void free_job(struct token_job *j)
{
    free(j->client_id);
    free(j->verifier);
    free(j->redirect_uri);
    free(j->resource);
    OPENSSL_cleanse(j, sizeof *j); /* it held token secrets */
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

static void finish_code(http_job *job, h2o_req_t *req)
{
    struct token_job *j = (struct token_job *)job;
    if (j->redeem.replayed) {
        char m[32];
        log_mask(j->client_id, m, sizeof m);
        log_event("code_replay", json_pack("{s:s, s:s}", "client_id", m, "action",
                                           "grant revoked"));
    }
    if (req) {
        if (job->op.status != WT_OK)
            http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                             "the store could not save the tokens; retry");
        else if (j->redeem.res.err != OE_NONE)
            http_oauth_error(req, 0, j->redeem.res.err, j->redeem.res.why);
        else
            send_tokens(req, &j->redeem.res);
    }
    free_job(j);
}

static int grant_code(http_thread *t, h2o_req_t *req, const form_t *f, const client_t *c)
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
        http_oauth_error(req, 400, OE_INVALID_GRANT, "the authorization code is invalid or "
                                                     "expired");
        return 0;
    }
    struct token_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        return 0;
    }
    app *a = t->a;
    const char *ru = form_get(f, "redirect_uri"), *res = form_get(f, "resource");
    j->client_id = strdup(c->id);
    j->verifier = strdup(verifier);
    j->redirect_uri = ru ? strdup(ru) : NULL;
    j->resource = res ? strdup(res) : NULL;
    code_redeem *r = &j->redeem;
    r->now = now_us() / 1000000;
    r->code = tok;
    r->client_id = j->client_id;
    r->verifier = j->verifier;
    r->redirect_uri = j->redirect_uri;
    r->resource = j->resource;
    r->res.access_ttl = a->cfg.access_token_ttl;
    r->res.refresh_ttl = a->cfg.refresh_token_ttl;
    r->res.with_refresh = client_allows_grant(c, "refresh_token");
    int64_t us = now_us();
    if (!j->client_id || !j->verifier || (ru && !j->redirect_uri) || (res && !j->resource) ||
        token_mint(TOKEN_ACCESS, us, &r->res.access, NULL) != WT_OK ||
        token_mint(TOKEN_REFRESH, us, &r->res.refresh, NULL) != WT_OK) {
        free_job(j);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of resources");
        return 0;
    }
    http_job_init(&j->job, req, finish_code);
    http_job_store(&j->job, tokens_redeem_code, r);
    return 0;
}

static void auth_failed(h2o_req_t *req, const clientauth *ca, http_thread *t)
{
    if (ca->basic_tried && ca->status == 401) {
        char h[300];
        snprintf(h, sizeof h, "Basic realm=\"%s\"", t->a->cfg.realm);
        http_add(req, "www-authenticate", h);
    }
    log_event("client_auth_failed", json_pack("{s:s, s:s}", "peer", http_peer(req), "reason",
                                              ca->why));
    http_oauth_error(req, ca->status, ca->err, ca->why);
}

int http_token(http_thread *t, h2o_req_t *req)
{
    form_t f;
    if (http_body_params(req, &f, true) != 0)
        return 0;
    const char *dup = form_duplicate(&f);
    const char *gt = form_get(&f, "grant_type");
    clientauth ca = {0};
    store_txn *txn = NULL;
    if (dup) {
        char m[128];
        bool res = strcmp(dup, "resource") == 0;
        snprintf(m, sizeof m, res ? "only one resource may be requested (%.60s given twice)"
                                  : "the %.60s parameter is given more than once",
                 dup);
        http_oauth_error(req, 400, res ? OE_INVALID_TARGET : OE_INVALID_REQUEST, m);
        goto out;
    }
    if (!gt || !gt[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "grant_type is missing");
        goto out;
    }
    if (strcmp(gt, "authorization_code") != 0) {
        http_oauth_error(req, 400, OE_UNSUPPORTED_GRANT_TYPE,
                         "supported grant types: authorization_code");
        goto out;
    }
    if (store_reader_begin(t->reader, &txn) != WT_OK ||
        client_authenticate(txn, http_header(req, H2O_TOKEN_AUTHORIZATION, NULL, NULL), &f,
                            &ca) != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "the store is not readable");
        goto out;
    }
    if (ca.err != OE_NONE) {
        auth_failed(req, &ca, t);
        goto out;
    }
    if (!client_allows_grant(&ca.client, gt)) {
        http_oauth_error(req, 400, OE_UNAUTHORIZED_CLIENT,
                         "this client is not registered for this grant type");
        goto out;
    }
    grant_code(t, req, &f, &ca.client);
out:
    if (txn)
        store_reader_end(t->reader);
    client_free(&ca.client);
    form_free(&f);
    return 0;
}
