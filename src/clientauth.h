/* clientauth.h — client authentication at the token, revocation and introspection endpoints
 * (SPEC §2): client_secret_basic (id and secret raw or form-urlencoded), client_secret_post,
 * private_key_jwt (RFC 7523 §2.2: client_assertion_type jwt-bearer + client_assertion,
 * verified by assertion.c) and none for public clients. Exactly one method per request; a body
 * client_id equal to the Basic id (or to the assertion's sub) is not a second method. A client
 * uses the method it registered: a private_key_jwt client cannot present a secret, a client
 * with a secret cannot present an assertion. Secrets are compared by digest in constant time.
 *
 * Replay of assertions: the check runs on a read transaction, so it can only see jtis already
 * recorded. On success with an assertion, the result carries the jti; the caller MUST record it
 * in the same writer op that acts on the request (assertion_record_jti, or assertion_record_op
 * when there is nothing else to write) and answer invalid_client when that reports a replay. */
#ifndef WATTLE_CLIENTAUTH_H
#define WATTLE_CLIENTAUTH_H
#include <stdbool.h>

#include "assertion.h"
#include "clients.h"
#include "form.h"
#include "oauth.h"
#include "store.h"

typedef struct clientauth_s {
    client_t client;     /* on success: owned, client_free it */
    bool basic_tried;    /* a failure must then carry WWW-Authenticate: Basic */
    bool secret_used;    /* the client proved a credential — its secret or a private_key_jwt
                            assertion — so it is confidential */
    bool assertion_used; /* private_key_jwt: jti/jti_keep_until must be recorded (above) */
    char jti[ASSERTION_JTI_MAX + 1];
    int64_t jti_keep_until; /* the value for assertion_record_jti */
    enum oauth_error err;   /* OE_NONE on success */
    int status;             /* HTTP status of the failure (400 or 401) */
    char why[200];
} clientauth;

/* authorization: the Authorization header's value or NULL. issuer: the server's issuer
 * (cfg.issuer); endpoint: the path of the endpoint called ("/oauth/revoke"), or NULL. An
 * assertion's aud must contain the issuer, <issuer>/oauth/token or <issuer><endpoint>; with
 * issuer NULL every assertion is refused (invalid_client). Reads in t. Returns WT_OK (check
 * out->err) or WT_ESTORE. */
wt_status client_authenticate_at(store_txn *t, const char *authorization, const form_t *f,
                                 const char *issuer, const char *endpoint, clientauth *out);

#endif
