/* clients.h — client registrations: validation of new registrations (CLI and RFC 7591 share
 * it), the stored document, lookup and secret checking. Documents are compact JSON in
 * STORE_DB_CLIENTS keyed by client_id; the secret is kept only as a SHA-256 digest. */
#ifndef WATTLE_CLIENTS_H
#define WATTLE_CLIENTS_H
#include <jansson.h>
#include <stdbool.h>

#include "scope.h"
#include "store.h"

enum client_source { CLIENT_CLI, CLIENT_DCR, CLIENT_CIMD };

/* What a registration asks for; arrays are borrowed. */
typedef struct {
    const char *name;
    const char *const *redirect_uris;
    size_t nredirect;
    const char *const *grant_types; /* NULL: authorization_code + refresh_token */
    size_t ngrant;
    const char *token_auth; /* NULL: client_secret_basic, or none when public */
    bool is_public;
    const char *scope;     /* NULL: the whole catalogue */
    const json_t *jwks;    /* private_key_jwt: the client's public keys {"keys":[…]} */
    const char *client_id; /* NULL: mint "ocl_…"; a metadata-document URL for CIMD */
    enum client_source source;
} client_spec;

/* A loaded client: `doc` is the stored document (owned; client_free releases it). */
typedef struct {
    json_t *doc;
    const char *id, *name, *auth_method, *scope;
    enum client_source source;
} client_t;

/* Validates spec and builds the document and, for confidential clients, a new secret
 * ("ocs_…", written to secret_out, TOKEN_STR_LEN+1 bytes; "" for public clients). On WT_INVALID
 * why names the field and the problem; *field_err gets "invalid_redirect_uri" or
 * "invalid_client_metadata". *doc_out is owned by the caller. */
wt_status client_build(const client_spec *spec, const scope_catalogue *cat, int64_t now,
                       json_t **doc_out, char *secret_out, char *why, size_t whylen,
                       const char **field_err);
/* The public view of a document (no digests): a registration-response-shaped object. */
json_t *client_public_view(const json_t *doc);

wt_status client_store(store_txn *t, const json_t *doc, bool create);
wt_status client_load(store_txn *t, const char *id, client_t *out);
/* Like client_load, but the document comes from the calling thread's cache of parsed documents
 * (doccache_of_thread), checked against the stored bytes on every call. The document is shared:
 * the caller must not modify out->doc. */
wt_status client_load_shared(store_txn *t, const char *id, client_t *out);

void client_free(client_t *c);
/* Deletes a client and ends its grants and tokens. */
wt_status client_remove(store_txn *t, const char *id);
/* Replaces the secret (the old one stops working; tokens stay). secret_out as above. */
wt_status client_rotate_secret(store_txn *t, const char *id, char *secret_out);

bool client_is_public(const client_t *c);
bool client_allows_grant(const client_t *c, const char *grant);
/* The registered redirect URI that `presented` matches (redirect.c rules), or NULL. With
 * presented NULL: the only registered one, or NULL when there are several. */
const char *client_redirect_match(const client_t *c, const char *presented);
/* True when every registered redirect URI is loopback. */
bool client_loopback_only(const client_t *c);
/* Constant-time check of a presented secret. */
bool client_secret_ok(const client_t *c, const char *secret, size_t len);

#endif
