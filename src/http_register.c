/* http_register.c — POST /oauth/register (and /register): dynamic client registration
 * (RFC 7591); GET/PUT/DELETE /oauth/register/<client_id>: its management (RFC 7592). The
 * rules live in register.c; this file checks the caller (initial access token, registration
 * access token), reads the JSON body, hands writes to the store writer and answers after the
 * commit.
 *
 * Answers: registration disabled → 403 access_denied (RFC 7591 has no error for it; the
 * endpoint exists and says why; the metadata document already omits registration_endpoint);
 * no Bearer credentials where one is required → 401 with WWW-Authenticate: Bearer realm="…"
 * (no error attribute, RFC 6750 §3.1); a wrong one → 401 with error="invalid_token"; a body
 * over max_body_bytes → 413; another Content-Type than application/json, a body that is not
 * one JSON object, or duplicate keys → 400 invalid_request; bad metadata → 400
 * invalid_client_metadata / invalid_redirect_uri. On the management path an unknown client,
 * a client not registered dynamically and a wrong token are the same 401, so ids cannot be
 * probed. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "register.h"

struct reg_job {
    http_job job;
    json_t *doc;  /* create: the new document */
    json_t *body; /* update: the PUT body */
    bool del;
    char secret[TOKEN_STR_LEN + 1];
    char rat[TOKEN_STR_LEN + 1]; /* create: minted; manage: presented */
    char client_id[CLIENT_ID_LEN + 1];
    char peer[64];
    reg_manage m;
};

static void free_job(struct reg_job *j)
{
    json_decref(j->doc);
    json_decref(j->body);
    json_decref(j->m.doc);
    OPENSSL_cleanse(j, sizeof *j); /* it held a secret and a registration token */
    free(j);
}

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* ---------------------------------------------------------------- bearer credentials */

enum bearer_state { BEARER_NONE, BEARER_BAD, BEARER_OK };

/* The Bearer credential of the Authorization header. NONE: no header, or another scheme;
 * BAD: several Authorization headers or an empty/oversized credential. */
static enum bearer_state bearer(h2o_req_t *req, const char **token)
{
    size_t count = 0;
    const char *h = http_header(req, H2O_TOKEN_AUTHORIZATION, NULL, &count);
    *token = NULL;
    if (!h)
        return BEARER_NONE;
    if (count > 1)
        return BEARER_BAD;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
        return BEARER_NONE;
    const char *p = h + 6;
    while (*p == ' ')
        p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0 || n > 1024)
        return BEARER_BAD;
    char *tok = h2o_mem_alloc_pool(&req->pool, n + 1);
    memcpy(tok, p, n);
    tok[n] = '\0';
    *token = tok;
    return BEARER_OK;
}

/* 401 with a Bearer challenge: `error` NULL when no credentials were presented. */
static void unauthorized(h2o_req_t *req, bool with_error, const char *desc)
{
    app *a = http_thread_of(req)->a;
    char clean[200], h[600];
    oauth_desc_clean(desc, clean, sizeof clean);
    if (with_error)
        snprintf(h, sizeof h,
                 "Bearer realm=\"%s\", error=\"invalid_token\", "
                 "error_description=\"%s\"",
                 a->cfg.realm, clean);
    else
        snprintf(h, sizeof h, "Bearer realm=\"%s\"", a->cfg.realm);
    http_add(req, "www-authenticate", h);
    http_oauth_error(req, 401, OE_INVALID_TOKEN, desc);
}

static bool initial_token_ok(app *a, const char *token)
{
    const char *want = a->cfg.registration.initial_access_token;
    uint8_t dw[32], dg[32];
    crypto_sha256(want, strlen(want), dw);
    crypto_sha256(token, strlen(token), dg);
    return crypto_equal(dw, dg, 32);
}

/* ---------------------------------------------------------------- body */

/* The JSON body of a POST/PUT, or NULL with the error sent. */
static json_t *json_body(h2o_req_t *req)
{
    app *a = http_thread_of(req)->a;
    if (req->entity.len > a->cfg.max_body_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is larger than %zu bytes", a->cfg.max_body_bytes);
        http_oauth_error(req, 413, OE_INVALID_REQUEST, msg);
        return NULL;
    }
    const char *ct = http_header(req, H2O_TOKEN_CONTENT_TYPE, NULL, NULL);
    size_t ctlen = ct ? strcspn(ct, ";") : 0;
    while (ctlen && ct[ctlen - 1] == ' ')
        ctlen--;
    if (!ct || ctlen != 16 || strncasecmp(ct, "application/json", 16) != 0) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST,
                         "Content-Type must be application/json: the client metadata is a "
                         "JSON object (RFC 7591)");
        return NULL;
    }
    reg_error e;
    json_t *body = register_body_parse(req->entity.base, req->entity.len, &e);
    if (!body)
        http_oauth_error(req, 400, e.err, e.why);
    return body;
}

static void send_reg_error(h2o_req_t *req, const reg_error *e)
{
    http_oauth_error(req, 400, e->err, e->why);
}

static void store_failed(h2o_req_t *req)
{
    http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                     "the store could not save the registration; retry");
}

static void event(const char *name, const char *client_id, const char *peer)
{
    char m[32];
    log_mask(client_id, m, sizeof m);
    log_event(name, json_pack("{s:s, s:s}", "client_id", m, "peer", peer));
}

/* ---------------------------------------------------------------- POST /oauth/register */

static void finish_create(http_job *job, h2o_req_t *req)
{
    struct reg_job *j = (struct reg_job *)job;
    app *a = job->thr->a;
    if (job->op.status == WT_OK)
        event("client_registered", j->client_id, j->peer);
    if (req) {
        if (job->op.status == WT_OK) {
            json_t *resp = register_response(j->doc, a->cfg.issuer, j->rat, j->secret);
            http_json(req, resp ? 201 : 503, resp);
        } else {
            store_failed(req);
        }
    }
    free_job(j);
}

int http_register(http_thread *t, h2o_req_t *req)
{
    app *a = t->a;
    if (!a->cfg.registration.enabled) {
        http_oauth_error(req, 403, OE_ACCESS_DENIED,
                         "dynamic client registration is disabled on this server; ask its "
                         "administrator for a client_id");
        return 0;
    }
    if (http_rate_limit(req, RL_REGISTER) != 0)
        return 0;
    if (a->cfg.registration.initial_access_token) {
        const char *tok;
        enum bearer_state b = bearer(req, &tok);
        if (b == BEARER_NONE) {
            unauthorized(req, false,
                         "this server requires an initial access token: send it as "
                         "Authorization: Bearer");
            return 0;
        }
        if (b != BEARER_OK || !initial_token_ok(a, tok)) {
            log_event("registration_denied", json_pack("{s:s, s:s}", "peer", http_peer(req),
                                                       "reason", "wrong initial access token"));
            unauthorized(req, true, "the initial access token is not valid");
            return 0;
        }
    }
    json_t *body = json_body(req);
    if (!body)
        return 0;
    struct reg_job *j = calloc(1, sizeof *j);
    reg_error e;
    wt_status st =
        j ? register_build(body, &a->scopes, now_us() / 1000000, &j->doc, j->secret, j->rat, &e)
          : WT_NOMEM;
    json_decref(body);
    if (st != WT_OK) {
        if (st == WT_INVALID)
            send_reg_error(req, &e);
        else
            http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                             "the registration cannot be made now; retry");
        if (j)
            free_job(j);
        return 0;
    }
    snprintf(j->client_id, sizeof j->client_id, "%s",
             json_string_value(json_object_get(j->doc, "client_id")));
    snprintf(j->peer, sizeof j->peer, "%s", http_peer(req));
    http_job_init(&j->job, req, finish_create);
    http_job_store(&j->job, register_store_new, j->doc);
    return 0;
}

/* ---------------------------------------------------------------- /oauth/register/<id> */

static void finish_manage(http_job *job, h2o_req_t *req)
{
    struct reg_job *j = (struct reg_job *)job;
    app *a = job->thr->a;
    bool ok = job->op.status == WT_OK && !j->m.denied && j->m.err.err == OE_NONE;
    if (ok)
        event(j->del ? "client_registration_deleted" : "client_registration_updated", j->client_id,
              j->peer);
    if (req) {
        if (job->op.status != WT_OK) {
            store_failed(req);
        } else if (j->m.denied) {
            unauthorized(req, true, "the registration access token is not valid for this client");
        } else if (j->m.err.err != OE_NONE) {
            send_reg_error(req, &j->m.err);
        } else if (j->del) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                           H2O_STRLIT("no-store"));
            req->res.status = 204;
            req->res.reason = "No Content";
            http_send_inline(req, NULL, 0);
        } else {
            json_t *resp = register_response(j->m.doc, a->cfg.issuer, j->rat, j->m.secret);
            http_json(req, resp ? 200 : 503, resp);
        }
    }
    free_job(j);
}

/* The client id of the path, when it has the shape of a Wattle client id ("ocl_" + 22). */
static bool path_client_id(h2o_req_t *req, char out[CLIENT_ID_LEN + 1])
{
    static const char prefix[] = "/oauth/register/";
    h2o_iovec_t p = req->path_normalized;
    size_t pl = sizeof prefix - 1;
    if (p.len != pl + CLIENT_ID_LEN || memcmp(p.base, prefix, pl) != 0)
        return false;
    const char *id = p.base + pl;
    if (memcmp(id, "ocl_", 4) != 0 || !b64url_charset(id, CLIENT_ID_LEN))
        return false;
    memcpy(out, id, CLIENT_ID_LEN);
    out[CLIENT_ID_LEN] = '\0';
    return true;
}

int http_register_manage(http_thread *t, h2o_req_t *req)
{
    app *a = t->a;
    char id[CLIENT_ID_LEN + 1];
    const char *tok;
    token_t parsed;
    enum bearer_state b = bearer(req, &tok);
    if (b == BEARER_NONE) {
        unauthorized(req, false, "send the registration access token as Authorization: Bearer");
        return 0;
    }
    if (b != BEARER_OK || !path_client_id(req, id) ||
        token_parse(TOKEN_REGISTRATION, tok, strlen(tok), &parsed) != WT_OK) {
        unauthorized(req, true, "the registration access token is not valid for this client");
        return 0;
    }
    bool get = method_is(req, "GET") || method_is(req, "HEAD");
    bool put = method_is(req, "PUT");
    if (put && !a->cfg.registration.enabled) {
        http_oauth_error(req, 403, OE_ACCESS_DENIED,
                         "dynamic client registration is disabled on this server: registrations "
                         "can be read and deleted, not changed");
        return 0;
    }
    /* Authenticate on a read first: a stranger never reaches the store writer. */
    store_txn *txn;
    client_t c = {0};
    if (store_reader_begin(t->reader, &txn) != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "the store is not readable");
        return 0;
    }
    wt_status st = register_authorize(txn, id, tok, &c);
    store_reader_end(t->reader);
    if (st == WT_DENIED) {
        unauthorized(req, true, "the registration access token is not valid for this client");
        return 0;
    }
    if (st != WT_OK) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "the store is not readable");
        return 0;
    }
    if (get) {
        json_t *resp = register_response(c.doc, a->cfg.issuer, tok, NULL);
        client_free(&c);
        http_json(req, resp ? 200 : 503, resp);
        return 0;
    }
    json_t *body = NULL;
    if (put) {
        /* Validate now so a bad body never costs a write; the writer re-does the merge on
         * the then-current document. */
        json_t *scratch = NULL;
        char secret[TOKEN_STR_LEN + 1];
        reg_error e;
        if (!(body = json_body(req))) {
            client_free(&c);
            return 0;
        }
        st = register_update_doc(c.doc, body, &a->scopes, now_us() / 1000000, &scratch, secret, &e);
        json_decref(scratch);
        OPENSSL_cleanse(secret, sizeof secret);
        if (st != WT_OK) {
            client_free(&c);
            json_decref(body);
            if (st == WT_INVALID)
                send_reg_error(req, &e);
            else
                http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                                 "the registration cannot be changed now; retry");
            return 0;
        }
    }
    client_free(&c);
    struct reg_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(body);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        return 0;
    }
    memcpy(j->client_id, id, sizeof id);
    snprintf(j->rat, sizeof j->rat, "%s", tok);
    snprintf(j->peer, sizeof j->peer, "%s", http_peer(req));
    j->body = body;
    j->del = !put;
    j->m.client_id = j->client_id;
    j->m.token = j->rat;
    j->m.body = body;
    j->m.cat = &a->scopes;
    j->m.now = now_us() / 1000000;
    http_job_init(&j->job, req, finish_manage);
    http_job_store(&j->job, put ? register_update : register_delete, &j->m);
    return 0;
}
