/* authorize.h — the authorization request (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207):
 * validation in SPEC §4's order (client and redirect URI first: errors there are shown, never
 * redirected; every later error is a redirect), the pending request carried by the consent
 * form (packed and MACed, bound to the browser), and the redirect locations. No HTTP here. */
#ifndef WATTLE_AUTHORIZE_H
#define WATTLE_AUTHORIZE_H
#include <stdbool.h>
#include <stdint.h>

#include "app.h"
#include "clients.h"
#include "form.h"
#include "oauth.h"

#define AUTHZ_STATE_MAX 2048
#define AUTHZ_PENDING_TTL 600 /* seconds a consent page stays valid */

typedef struct {
    /* as received (borrowed from the form) */
    const char *client_id, *redirect_uri, *response_type, *scope, *state, *code_challenge,
        *code_challenge_method, *resource, *prompt;
    /* derived */
    client_t client;         /* owned */
    const char *redirect;    /* the URI responses go to: the presented one, else the only
                                registered one (points into the form or client doc) */
    char *granted_scope;     /* owned */
    const app_resource *res; /* the audience */
} authz_req;

typedef enum {
    AUTHZ_OK,
    AUTHZ_SHOW_ERROR,     /* before client/redirect are trusted: 400 page, never a redirect */
    AUTHZ_REDIRECT_ERROR, /* send the error to the client's redirect URI */
} authz_result;

/* Validates an authorization request read from `f` in read transaction t. On an error, *err and
 * why say what is wrong. r must be freed with authz_free whatever the result. */
authz_result authz_validate(app *a, store_txn *t, const form_t *f, authz_req *r,
                            enum oauth_error *err, char *why, size_t whylen);
void authz_free(authz_req *r);

/* Redirect locations (malloc'd): the error form, and the success form with the code. Both carry
 * state (when sent) and iss. */
char *authz_error_location(const app *a, const authz_req *r, enum oauth_error e, const char *desc);
char *authz_code_location(const app *a, const authz_req *r, const char *code);

/* The pending request as an opaque string for the consent form: the request's parameters and
 * an expiry, base64url JSON. malloc'd. */
char *authz_pack(const authz_req *r, int64_t now);
/* The inverse, into f (form_free it). WT_EXPIRED past its expiry, WT_INVALID if malformed. */
wt_status authz_unpack(const char *packed, int64_t now, form_t *f);

/* CSRF token binding (browser id, packed request): base64url HMAC-SHA256 under the server's
 * cookie key. out has 44 bytes. */
void authz_csrf(const app *a, const char *browser_id, const char *packed, char out[44]);
bool authz_csrf_ok(const app *a, const char *browser_id, const char *packed, const char *csrf);

#endif
