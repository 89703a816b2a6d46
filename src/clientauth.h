/* clientauth.h — client authentication at the token, revocation and introspection endpoints
 * (SPEC §2): client_secret_basic (id and secret raw or form-urlencoded), client_secret_post,
 * and none for public clients. Exactly one method per request; a body client_id equal to the
 * Basic id is not a second method. Secrets are compared by digest in constant time. */
#ifndef WATTLE_CLIENTAUTH_H
#define WATTLE_CLIENTAUTH_H
#include <stdbool.h>

#include "clients.h"
#include "form.h"
#include "oauth.h"
#include "store.h"

typedef struct clientauth_s {
    client_t client;      /* on success: owned, client_free it */
    bool basic_tried;     /* a failure must then carry WWW-Authenticate: Basic */
    bool secret_used;     /* the client proved a secret (confidential) */
    enum oauth_error err; /* OE_NONE on success */
    int status;           /* HTTP status of the failure (400 or 401) */
    char why[200];
} clientauth;

/* authorization: the Authorization header's value or NULL. Reads in t. Returns WT_OK (check
 * out->err) or WT_ESTORE. */
wt_status client_authenticate(store_txn *t, const char *authorization, const form_t *f,
                              clientauth *out);

#endif
