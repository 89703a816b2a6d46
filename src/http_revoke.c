/* http_revoke.c — POST /oauth/revoke (and /revoke), RFC 7009: the client authenticates as at
 * the token endpoint; revoking an access or refresh token ends its whole grant. Unknown tokens
 * and other clients' tokens get 200 and change nothing. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "clientauth.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "tokens.h"

struct revoke_job {
    http_job job;
    revoke_op op;
    char *token, *client_id, *jti;
};

static void send_ok(h2o_req_t *req)
{
    static const char body[] = "{}";
    http_json_text(req, 200, body, 2, false);
}

static void finish_revoke(http_job *job, h2o_req_t *req)
{
    struct revoke_job *j = (struct revoke_job *)job;
    if (req) {
        if (job->op.status != WT_OK)
            http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                             "the store could not record the revocation; retry");
        else if (j->op.jti_replayed)
            http_oauth_error(req, 401, OE_INVALID_CLIENT,
                             "this client assertion was already used (its jti was seen "
                             "before): sign a new one with a fresh jti");
        else
            send_ok(req);
    }
    if (j->op.revoked) {
        char m[32];
        log_mask(j->client_id, m, sizeof m);
        log_event("token_revoked", json_pack("{s:s}", "client_id", m));
    }
    OPENSSL_cleanse(j->token, strlen(j->token));
    free(j->token);
    free(j->client_id);
    free(j->jti);
    free(j);
}

int http_revoke(http_thread *t, h2o_req_t *req)
{
    form_t f;
    clientauth ca = {0};
    store_txn *txn = NULL;
    if (http_rate_limit(req, RL_REVOKE) != 0 || http_body_params(req, &f, true) != 0)
        return 0;
    const char *dup = form_duplicate(&f), *token = form_get(&f, "token");
    if (dup) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "a parameter is given more than once");
        goto out;
    }
    if (http_client_auth(t, req, &f, "/oauth/revoke", &txn, &ca) != 0)
        goto out;
    if (!token || !token[0]) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, "the token parameter is missing");
        goto out;
    }
    /* Most revocations of unknown or foreign tokens need no write at all — unless a client
     * assertion's jti must be recorded. */
    revoke_op probe = {.token = token, .client_id = ca.client.id};
    if (!ca.assertion_used && !tokens_revocable(txn, &probe)) {
        send_ok(req);
        goto out;
    }
    struct revoke_job *j = calloc(1, sizeof *j);
    if (!j || !(j->token = strdup(token)) || !(j->client_id = strdup(ca.client.id)) ||
        (ca.assertion_used && !(j->jti = strdup(ca.jti)))) {
        if (j) {
            free(j->token);
            free(j->client_id);
        }
        free(j);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "out of memory");
        goto out;
    }
    j->op.now = now_us() / 1000000;
    j->op.token = j->token;
    j->op.client_id = j->client_id;
    j->op.jti = j->jti;
    j->op.jti_keep_until = ca.jti_keep_until;
    http_job_init(&j->job, req, finish_revoke);
    http_job_store_restartable(&j->job, tokens_revoke, &j->op);
out:
    if (txn)
        store_reader_end(t->reader);
    client_free(&ca.client);
    form_free(&f);
    return 0;
}
