/* tokens.h — issuing and redeeming codes and tokens. Each function here is a store_run_fn: it
 * runs inside the writer's transaction, so everything one step writes commits together (or not
 * at all), and its result is durable before the response that carries it is sent. Token
 * strings are minted by the caller (on its own thread) and passed in; only digests are stored.
 * Validation of access tokens is a read (tokens_check_access).
 *
 * Restartable (store.h: they may run twice and share the batch's transaction):
 * tokens_issue_code, tokens_redeem_code, tokens_client_credentials and tokens_revoke. Not
 * tokens_refresh: a grace-window replay overwrites the pair minted by the caller in res, so a
 * second run would not start from the same inputs; it keeps its nested transaction. */
#ifndef WATTLE_TOKENS_H
#define WATTLE_TOKENS_H
#include <stdbool.h>
#include <stdint.h>

#include "oauth.h"
#include "records.h"
#include "store.h"
#include "token.h"

/* Authorization code issuance (after consent), optionally with a new login session and the
 * remembered consent. */
typedef struct {
    int64_t now, code_exp, auth_time;
    const char *client_id, *user_id, *redirect_uri, *challenge, *scope, *resource;
    bool redirect_given;
    const char *consent_scope; /* non-NULL: remember (user, client) → these scopes */
    token_t code;
    bool new_session;
    token_t session;
    int64_t session_exp, pw_epoch;
} code_issue;
wt_status tokens_issue_code(store_txn *t, void *arg /* code_issue */);

/* What a successful grant returns. */
typedef struct {
    token_t access, refresh; /* minted by the caller */
    bool with_refresh;       /* in: issue a refresh token; out: one was issued */
    bool mark_client_used;   /* in: the client is a DCR registration that has never obtained a
                                token (register_client_unused): record that it now has */
    int64_t access_ttl, refresh_ttl;
    char scope[2048];     /* out: the access token's scope */
    enum oauth_error err; /* out: OE_NONE on success */
    char why[200];
} token_result;

/* grant_type=authorization_code. */
typedef struct {
    int64_t now;
    token_t code;
    const char *client_id;
    const char *verifier;
    const char *redirect_uri; /* NULL when not sent */
    const char *resource;     /* NULL when not sent */
    const char *jti;          /* private_key_jwt: the assertion's jti to record, or NULL */
    int64_t jti_keep_until;
    token_result res;
    bool replayed; /* out: a replay by the owner revoked the code's grant */
} code_redeem;
wt_status tokens_redeem_code(store_txn *t, void *arg /* code_redeem */);

/* grant_type=refresh_token: rotation with reuse detection and the same-pair grace window
 * (SPEC §3). On a grace-window replay the successor pair is returned in res (access, refresh
 * and a shorter access_ttl: the time it has left). */
typedef struct {
    int64_t now, grace;
    token_t presented;
    const char *client_id;
    const char *scope;    /* NULL when not sent: the grant's scope */
    const char *resource; /* NULL when not sent */
    const char *jti;      /* private_key_jwt: the assertion's jti to record, or NULL */
    int64_t jti_keep_until;
    token_result res;
    bool reuse_revoked; /* out: a retired token was replayed and the grant died */
    bool grace_replay;  /* out: the same successor pair was handed back */
} refresh_redeem;
wt_status tokens_refresh(store_txn *t, void *arg /* refresh_redeem */);

/* grant_type=client_credentials: a grant with no user and one access token. */
typedef struct {
    int64_t now;
    const char *client_id, *scope, *resource; /* scope already resolved, resource normalised */
    const char *jti; /* private_key_jwt: the assertion's jti to record, or NULL */
    int64_t jti_keep_until;
    token_result res;
} cc_issue;
wt_status tokens_client_credentials(store_txn *t, void *arg /* cc_issue */);

/* Revocation (RFC 7009): the token's whole grant dies when `client_id` owns it; anything else
 * (unknown, malformed, another client's) changes nothing. */
typedef struct {
    int64_t now;
    const char *token;
    const char *client_id; /* NULL: an administrator (the CLI) — any client's token */
    const char *jti;       /* private_key_jwt: the assertion's jti to record, or NULL */
    int64_t jti_keep_until;
    bool revoked;      /* out */
    bool jti_replayed; /* out: the assertion was a replay; nothing was revoked */
} revoke_op;
wt_status tokens_revoke(store_txn *t, void *arg /* revoke_op */);
/* The read-only check of tokens_revoke: true when the token is genuine, its grant lives and
 * the client may revoke it (so a write is needed). */
bool tokens_revocable(store_txn *t, const revoke_op *op);

/* Ends a browser login session (arg: its token_t). Absent sessions are not an error. */
wt_status tokens_end_session(store_txn *t, void *arg /* token_t */);

/* Access-token validation: decodes the record in place (valid until the read ends). WT_OK,
 * WT_NOTFOUND (unknown, wrong secret or revoked grant) or WT_EXPIRED. */
wt_status tokens_check_access(store_txn *t, const token_t *tok, int64_t now, access_rec *out);

#endif
