/* register.h — dynamic client registration (RFC 7591) and its management (RFC 7592): the
 * registration service behind POST /oauth/register and GET/PUT/DELETE /oauth/register/<id>.
 *
 * Owns: turning a registration request's JSON metadata into a client_spec (types, defaults,
 * response_types, the informational fields and their caps) — client_build (clients.c) then
 * applies the shared client rules (redirect URIs, grant types, auth methods, scopes, jwks) —,
 * the registration access token ("ora_…", stored only as the SHA-256 of its string in the
 * client document, key "registration_token_sha256"), the client information response, the
 * writer ops that create, replace and delete a registration, the "used" flag (set the first
 * time a DCR client obtains a token) and the purge of registrations never used within
 * unused_client_ttl. It does not speak HTTP (http_register.c does).
 *
 * Stored document of a DCR client = client_build's document plus, when given,
 * application_type, client_uri, logo_uri, tos_uri, policy_uri, contacts, software_id,
 * software_version (stored and echoed as they are), "used" (false until the first token) and
 * "registration_token_sha256". client_public_view() hides the last two.
 *
 * Policy decisions (see the function comments):
 *   - omitted grant_types: authorization_code + refresh_token (SPEC §2); omitted
 *     token_endpoint_auth_method: client_secret_basic (RFC 7591 §2); "none" = public;
 *   - response_types: omitted or ["code"] (with authorization_code); [] or omitted without it;
 *     anything else invalid_client_metadata;
 *   - scope: validated (every token in the catalogue, offline_access accepted and dropped;
 *     an unknown one is invalid_client_metadata naming it) but a DCR client is registered for
 *     the whole catalogue and the response says so. A self-asserted scope list restricts
 *     nothing an attacker cannot re-register around, while a narrow registration breaks MCP
 *     step-up authorization (the SDK re-authorizes with the challenged scope without
 *     re-registering). The user's consent is the control. REGISTER_KEEP_REQUESTED_SCOPE
 *     switches to registering exactly what was requested;
 *   - client_name omitted: "Unnamed client";
 *   - unknown fields (and software_statement, client_id/client_secret in a POST, localized
 *     "field#lang" variants) are ignored and not echoed;
 *   - the client secret is never returned again after the response that issued it (only its
 *     digest is stored): GET and PUT omit client_secret, except a PUT that turns a client
 *     without a secret into a confidential one (a new secret is issued and returned). */
#ifndef WATTLE_REGISTER_H
#define WATTLE_REGISTER_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "clients.h"
#include "oauth.h"
#include "scope.h"
#include "store.h"
#include "token.h"

#ifndef REGISTER_KEEP_REQUESTED_SCOPE
#define REGISTER_KEEP_REQUESTED_SCOPE 0
#endif

#define REGISTER_DEFAULT_NAME "Unnamed client"
#define REGISTER_TEXT_MAX 200 /* client_name, software_id, software_version (bytes) */
#define REGISTER_URL_MAX 2000 /* client_uri, logo_uri, tos_uri, policy_uri (bytes) */
#define REGISTER_CONTACTS_MAX 10
#define REGISTER_CONTACT_MAX 320 /* bytes of one contact */
#define REGISTER_JWKS_KEYS_MAX 10
#define REGISTER_REDIRECTS_MAX 20 /* client_build's cap, checked early */

/* A refusal: the OAuth error (OE_INVALID_REQUEST for a body that is not a JSON object,
 * OE_INVALID_REDIRECT_URI, OE_INVALID_CLIENT_METADATA) and an error_description-safe why. */
typedef struct {
    enum oauth_error err;
    char why[256];
} reg_error;

/* Metadata parsed from a request body. spec's strings and arrays borrow from the body (which
 * must outlive this) and from the arrays below. */
typedef struct {
    client_spec spec;
    const char **redirect; /* malloc'd array of borrowed strings */
    const char **grants;   /* malloc'd, or NULL when grant_types was omitted */
    char *scope;           /* malloc'd: the requested scope without offline_access, or NULL */
    json_t *extra;         /* owned: the informational fields to store and echo */
} reg_metadata;

/* Parses a request body: one JSON object, valid UTF-8, duplicate keys refused. Returns the
 * object (caller decrefs) or NULL with e set (OE_INVALID_REQUEST). s may be NULL when len is
 * 0. */
json_t *register_body_parse(const char *s, size_t len, reg_error *e);

/* Pure: checks the types and the rules client_build does not own, and fills *out (source
 * CLIENT_DCR). For a PUT, client_id/client_secret in the body are the caller's business. On
 * WT_INVALID, e is set and *out is left empty (nothing to free); on WT_OK free *out with
 * register_metadata_free. WT_NOMEM on allocation failure. */
wt_status register_metadata_parse(const json_t *body, const scope_catalogue *cat, reg_metadata *out,
                                  reg_error *e);
void register_metadata_free(reg_metadata *m);

/* A new registration's stored document: parse + client_build + the informational fields +
 * "used": false + the digest of a new registration access token. secret_out (TOKEN_STR_LEN+1)
 * gets the client secret, "" when none (public, private_key_jwt); rat_out (TOKEN_STR_LEN+1)
 * the registration access token. WT_OK, WT_INVALID (e set), WT_NOMEM or WT_ECRYPTO. */
wt_status register_build(const json_t *body, const scope_catalogue *cat, int64_t now,
                         json_t **doc_out, char *secret_out, char *rat_out, reg_error *e);

/* RFC 7592 update: the document that replaces `current` (a DCR client) given a PUT body.
 * The body's client_id must equal current's (invalid_client_metadata otherwise); a
 * client_secret in the body must match the current secret; registration_access_token,
 * registration_client_uri, client_id_issued_at and client_secret_expires_at are ignored
 * (clients PUT back what GET returned). Kept: client_id, client_id_issued_at, the
 * registration token digest, "used", and the secret digest while the client stays
 * secret-based; a client that had no secret and becomes client_secret_basic/post gets a new
 * one in secret_out (else ""). */
wt_status register_update_doc(const json_t *current, const json_t *body, const scope_catalogue *cat,
                              int64_t now, json_t **doc_out, char *secret_out, reg_error *e);

/* The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the public view of doc plus
 * registration_client_uri (<issuer>/oauth/register/<client_id>), registration_access_token
 * (rat), client_secret when `secret` is non-empty, and client_secret_expires_at 0 for
 * clients that authenticate with a secret. New reference. */
json_t *register_response(const json_t *doc, const char *issuer, const char *rat,
                          const char *secret);

/* Constant-time check of a presented registration access token against doc's digest. False
 * for documents that are not DCR registrations. */
bool register_token_ok(const json_t *doc, const char *token, size_t len);

/* The management check on a read (or write) transaction: client_id names a DCR client whose
 * registration access token is `token`. WT_OK (out loaded: client_free it), WT_DENIED
 * (unknown client, not a DCR client, wrong token — indistinguishable on purpose) or
 * WT_ESTORE. */
wt_status register_authorize(store_txn *t, const char *client_id, const char *token, client_t *out);

/* ---- writer ops (store_run_fn) ---- */

/* Creates a registration: arg is the json_t document from register_build. WT_EXISTS on an id
 * collision (retry with a new one). */
wt_status register_store_new(store_txn *t, void *arg);

/* RFC 7592 update and delete, re-authenticated inside the write transaction. */
typedef struct {
    const char *client_id;
    const char *token;          /* the presented registration access token */
    const json_t *body;         /* update: the PUT body */
    const scope_catalogue *cat; /* update */
    int64_t now;                /* update: seconds */
    /* out */
    bool denied;                    /* the client is gone or the token no longer matches */
    reg_error err;                  /* update: OE_NONE, or why the body was refused */
    json_t *doc;                    /* update: the stored document (owned by the caller) */
    char secret[TOKEN_STR_LEN + 1]; /* update: a newly issued secret, or "" */
} reg_manage;
wt_status register_update(store_txn *t, void *arg /* reg_manage */);
wt_status register_delete(store_txn *t, void *arg /* reg_manage */);

/* ---- "used" and the purge of unused registrations ---- */

/* True when c is a DCR client that has not obtained a token yet (its document says
 * "used": false): the token writer op must then call register_mark_used. Read on the loop
 * thread from the document clientauth already loaded, so an already-used client costs
 * nothing on the hot path. */
bool register_client_unused(const client_t *c);

/* Sets "used": true in the DCR client's document (inside the token-issuing write
 * transaction). WT_OK also when the client is gone, is not a DCR client or is already used. */
wt_status register_mark_used(store_txn *t, const char *client_id);

/* True when a stored client document (the bytes of its STORE_DB_CLIENTS value) is a DCR
 * registration that says "used": false and whose client_id_issued_at is at least `ttl`
 * seconds before `now` (ttl <= 0: never). Pure; for gc's resumable scan of the clients, which
 * then removes the client with client_remove. */
bool register_unused_expired(const void *doc, size_t len, int64_t now, int64_t ttl);

#endif
