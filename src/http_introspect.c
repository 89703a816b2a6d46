/* http_introspect.c — POST /oauth/introspect (RFC 7662, and RFC 9701 signed responses) and
 * GET /oauth/jwks (RFC 7517). Both run on the loop thread inside one read transaction:
 * introspection is a read, and the signing keys come from the server's keyring cache, which
 * checks the store's key generation (one get) before each use so a CLI rotation applies from
 * the next request. The one write: a caller that authenticated with a private_key_jwt
 * assertion gets its answer only after the writer has recorded the assertion's jti (replay
 * guard). The rules live in introspect.c and keys.c; this file maps them to HTTP. */
#include <string.h>

#include "clientauth.h"
#include "http.h"
#include "introspect.h"
#include "keys.h"
#include "ratelimit.h"
#include "token.h"

/* Sends a rendered body: JSON (application/json) or a signed JWT (RFC 9701), never cached. */
static void send_rendered(h2o_req_t *req, const char *body, bool jwt)
{
    size_t len = strlen(body);
    if (!jwt) {
        http_json_text(req, 200, body, len, false);
        return;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT(INTROSPECT_JWT_MEDIA));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("pragma"), 0, NULL,
                          H2O_STRLIT("no-cache"));
    http_send_inline(req, body, len);
}

/* The response body for the introspection answer resp: its JSON text, or with `jwt` the
 * RFC 9701 JWT signed with the active key. malloc'd; NULL when it cannot be produced (a failed
 * signature is logged by keys.c; the caller answers 503 either way). */
static char *render(http_thread *t, store_txn *txn, const introspect_ctx *ctx, json_t *resp,
                    bool jwt)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    if (!jwt)
        return json_dumps(resp, flags);
    keyring *kr = NULL;
    char *out = NULL;
    json_t *claims = introspect_jwt_claims(ctx, resp);
    char *text = claims ? json_dumps(claims, flags) : NULL;
    if (text && t->a->keys && keyring_cache_get(t->a->keys, txn, ctx->now, &kr) == WT_OK)
        out = keyring_sign_jws(kr, INTROSPECT_JWT_TYP, text, strlen(text));
    keyring_release(kr);
    free(text);
    json_decref(claims);
    return out;
}

/* A caller that authenticated with a private_key_jwt assertion: its jti must be recorded (a
 * writer op) before the answer, already rendered, is sent (clientauth.h). */
struct introspect_job {
    http_job job;
    assertion_jti_op op;
    char client_id[401], jti[ASSERTION_JTI_MAX + 1];
    char *body;
    bool jwt;
};

static void finish_introspect(http_job *job, h2o_req_t *req)
{
    struct introspect_job *j = (struct introspect_job *)job;
    if (req) {
        if (job->op.status != WT_OK) {
            http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                             "the store could not record the client assertion; retry");
        } else if (j->op.replayed) {
            clientauth ca = {.err = OE_INVALID_CLIENT, .status = 401};
            snprintf(ca.why, sizeof ca.why,
                     "the client assertion was already used (its jti was seen before)");
            http_client_auth_failed(req, &ca);
        } else {
            send_rendered(req, j->body, j->jwt);
        }
    }
    free(j->body);
    free(j);
}

/* Takes body. */
static void record_then_send(h2o_req_t *req, const clientauth *ca, char *body, bool jwt)
{
    struct introspect_job *j = calloc(1, sizeof *j);
    if (!j || strlen(ca->client.id) >= sizeof j->client_id) {
        free(j);
        free(body);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        return;
    }
    /* ca is freed by the caller: the job keeps its own copies. */
    snprintf(j->client_id, sizeof j->client_id, "%s", ca->client.id);
    snprintf(j->jti, sizeof j->jti, "%s", ca->jti);
    j->op.client_id = j->client_id;
    j->op.jti = j->jti;
    j->op.keep_until = ca->jti_keep_until;
    j->body = body;
    j->jwt = jwt;
    http_job_init(&j->job, req, finish_introspect);
    http_job_store_restartable(&j->job, assertion_record_op, &j->op);
}

int http_introspect(http_thread *t, h2o_req_t *req)
{
    form_t f;
    clientauth ca = {0};
    store_txn *txn = NULL;
    json_t *resp = NULL;
    char *body = NULL;
    if (http_rate_limit(req, RL_INTROSPECT) != 0 || http_body_params(req, &f, true) != 0)
        return 0;
    const char *dup = form_duplicate(&f), *token = form_get(&f, "token");
    if (dup) {
        char m[128];
        snprintf(m, sizeof m, "the %.60s parameter is given more than once", dup);
        http_oauth_error(req, 400, OE_INVALID_REQUEST, m);
        goto out;
    }
    if (http_client_auth(t, req, &f, "/oauth/introspect", &txn, &ca) != 0)
        goto out;
    if (!introspect_caller_allowed(&ca)) {
        ca.err = OE_INVALID_CLIENT;
        ca.status = 401;
        snprintf(ca.why, sizeof ca.why,
                 "this client may not introspect tokens: only confidential clients registered "
                 "with the wattle CLI (resource servers) may");
        http_client_auth_failed(req, &ca);
        goto out;
    }
    if (!token || !token[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "the token parameter is missing");
        goto out;
    }
    introspect_ctx ctx = {
        .issuer = t->a->cfg.issuer, .caller = ca.client.id, .now = now_us() / 1000000};
    wt_status st = introspect_token(txn, &ctx, token, &resp);
    if (st != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                         st == WT_ESTORE ? "the store could not be read; retry"
                                         : "the answer could not be built; retry");
        goto out;
    }
    bool jwt = introspect_wants_jwt(http_header(req, H2O_TOKEN_ACCEPT, NULL, NULL));
    if (!jwt && !ca.assertion_used) {
        http_json(req, 200, resp); /* the common case: serialised once, straight into the reply */
        resp = NULL;
        goto out;
    }
    body = render(t, txn, &ctx, resp, jwt);
    if (!body)
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                         jwt ? "the signed introspection response cannot be produced now; "
                               "retry, or ask for application/json"
                             : "out of memory");
    else if (ca.assertion_used) {
        record_then_send(req, &ca, body, jwt);
        body = NULL;
    } else {
        send_rendered(req, body, jwt);
    }
out:
    free(body);
    json_decref(resp);
    if (txn)
        store_reader_end(t->reader);
    client_free(&ca.client);
    form_free(&f);
    return 0;
}

int http_jwks(http_thread *t, h2o_req_t *req)
{
    store_txn *txn = NULL;
    keyring *kr = NULL;
    wt_status st = WT_ESTORE;
    if (t->a->keys && store_reader_begin(t->reader, &txn) == WT_OK) {
        st = keyring_cache_get(t->a->keys, txn, now_us() / 1000000, &kr);
        store_reader_end(t->reader);
    }
    if (st != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                         "the signing keys cannot be read now; retry");
        return 0;
    }
    size_t len;
    const char *jwks = keyring_jwks(kr, &len);
    http_json_text(req, 200, jwks, len, true); /* copied; public, max-age=300 */
    keyring_release(kr);
    return 0;
}
