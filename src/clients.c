/* clients.c — client registrations (contract in clients.h). Used by the CLI and by dynamic
 * registration; the token and authorize services only read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "assertion.h"
#include "crypto.h"
#include "doccache.h"
#include "grants.h"
#include "redirect.h"
#include "token.h"

static const char *const known_grants[] = {"authorization_code", "refresh_token",
                                           "client_credentials"};
static const char *const known_auth[] = {"client_secret_basic", "client_secret_post",
                                         "private_key_jwt", "none"};

static bool in_list(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static const char *source_name(enum client_source s)
{
    return s == CLIENT_DCR ? "dcr" : s == CLIENT_CIMD ? "cimd" : "cli";
}

static void set_secret(json_t *doc, char *secret_out)
{
    token_t t;
    uint8_t dg[32];
    char d64[B64URL_LEN(32) + 1];
    if (token_mint(TOKEN_SECRET, now_us(), &t, secret_out) != WT_OK) {
        secret_out[0] = '\0';
        return;
    }
    crypto_sha256(secret_out, TOKEN_STR_LEN, dg);
    b64url_encode(dg, sizeof dg, d64);
    json_object_set_new(doc, "secret_sha256", json_string(d64));
}

wt_status client_build(const client_spec *sp, const scope_catalogue *cat, int64_t now,
                       json_t **doc_out, char *secret_out, char *why, size_t whylen,
                       const char **field_err)
{
    static const char *const default_grants[] = {"authorization_code", "refresh_token"};
    const char *const *grants = sp->grant_types ? sp->grant_types : default_grants;
    size_t ngrant = sp->grant_types ? sp->ngrant : 2;
    const char *auth = sp->token_auth;
    bool pub = sp->is_public || (auth && strcmp(auth, "none") == 0);
    bool code = false;
    *field_err = "invalid_client_metadata";
    secret_out[0] = '\0';
    if (!auth)
        auth = pub ? "none" : "client_secret_basic";
    if (!in_list(auth, known_auth, 4)) {
        snprintf(why, whylen,
                 "token_endpoint_auth_method must be one of client_secret_basic, "
                 "client_secret_post, private_key_jwt, none");
        return WT_INVALID;
    }
    if (sp->is_public && strcmp(auth, "none") != 0) {
        snprintf(why, whylen, "a public client uses token_endpoint_auth_method none");
        return WT_INVALID;
    }
    if (!sp->name || !sp->name[0] || strlen(sp->name) > 200) {
        snprintf(why, whylen, "client_name must be 1 to 200 characters");
        return WT_INVALID;
    }
    if (ngrant == 0 || ngrant > 3) {
        snprintf(why, whylen, "grant_types must list 1 to 3 grant types");
        return WT_INVALID;
    }
    for (size_t i = 0; i < ngrant; i++) {
        if (!in_list(grants[i], known_grants, 3)) {
            snprintf(why, whylen,
                     "unsupported grant type '%.60s' (supported: "
                     "authorization_code, refresh_token, client_credentials)",
                     grants[i]);
            return WT_INVALID;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(grants[i], grants[j]) == 0) {
                snprintf(why, whylen, "grant type '%.60s' is listed twice", grants[i]);
                return WT_INVALID;
            }
        if (strcmp(grants[i], "authorization_code") == 0)
            code = true;
        if (strcmp(grants[i], "client_credentials") == 0 && pub) {
            snprintf(why, whylen, "client_credentials is only for confidential clients");
            return WT_INVALID;
        }
    }
    if (code && sp->nredirect == 0) {
        *field_err = "invalid_redirect_uri";
        snprintf(why, whylen, "at least one redirect URI is required for authorization_code");
        return WT_INVALID;
    }
    if (!code && sp->nredirect > 0) {
        *field_err = "invalid_redirect_uri";
        snprintf(why, whylen, "redirect URIs are only used with the authorization_code grant");
        return WT_INVALID;
    }
    if (sp->nredirect > 20) {
        *field_err = "invalid_redirect_uri";
        snprintf(why, whylen, "at most 20 redirect URIs");
        return WT_INVALID;
    }
    for (size_t i = 0; i < sp->nredirect; i++) {
        const char *w = NULL;
        if (redirect_uri_check(sp->redirect_uris[i], &w) != WT_OK) {
            *field_err = "invalid_redirect_uri";
            snprintf(why, whylen, "redirect URI %zu: %s", i + 1, w ? w : "not allowed");
            return WT_INVALID;
        }
    }
    if (sp->scope) {
        char *dup = strdup(sp->scope), *save = NULL;
        for (char *tok = strtok_r(dup, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (!scope_find(cat, tok, strlen(tok))) {
                snprintf(why, whylen, "unknown scope '%.80s' (not in the scope catalogue)", tok);
                free(dup);
                return WT_INVALID;
            }
        }
        free(dup);
    }
    buf_t sb;
    buf_init(&sb, 4096);
    for (size_t i = 0; i < cat->n; i++)
        if (!sp->scope || scope_has(sp->scope, cat->v[i].name)) {
            if (sb.len)
                buf_adds(&sb, " ");
            buf_adds(&sb, cat->v[i].name);
        }
    if (strcmp(auth, "private_key_jwt") == 0 && !json_is_object(sp->jwks)) {
        buf_free(&sb);
        snprintf(why, whylen, "private_key_jwt needs the client's public keys (jwks)");
        return WT_INVALID;
    }
    if (strcmp(auth, "private_key_jwt") == 0 &&
        assertion_jwks_check(sp->jwks, why, whylen) != WT_OK) {
        buf_free(&sb);
        return WT_INVALID;
    }
    char minted[CLIENT_ID_LEN + 1];
    if (!sp->client_id && client_id_mint(minted) != WT_OK) {
        buf_free(&sb);
        return WT_ECRYPTO;
    }
    const char *id = sp->client_id ? sp->client_id : minted;
    json_t *doc = json_object();
    json_object_set_new(doc, "client_id", json_string(id));
    json_object_set_new(doc, "client_id_issued_at", json_integer(now));
    json_object_set_new(doc, "client_name", json_string(sp->name));
    json_object_set_new(doc, "redirect_uris", strings(sp->redirect_uris, sp->nredirect));
    json_object_set_new(doc, "grant_types", strings(grants, ngrant));
    static const char *const code_rt[] = {"code"};
    json_object_set_new(doc, "response_types", strings(code_rt, code ? 1 : 0));
    json_object_set_new(doc, "token_endpoint_auth_method", json_string(auth));
    json_object_set_new(doc, "scope", json_string(buf_cstr(&sb)));
    json_object_set_new(doc, "source", json_string(source_name(sp->source)));
    if (sp->jwks)
        json_object_set_new(doc, "jwks", json_deep_copy(sp->jwks));
    buf_free(&sb);
    if (!pub && strcmp(auth, "private_key_jwt") != 0)
        set_secret(doc, secret_out);
    *doc_out = doc;
    return WT_OK;
}

json_t *client_public_view(const json_t *doc)
{
    json_t *v = json_deep_copy(doc);
    json_object_del(v, "secret_sha256");
    json_object_del(v, "registration_token_sha256");
    json_object_del(v, "source");
    json_object_del(v, "used");
    return v;
}

wt_status client_store(store_txn *t, const json_t *doc, bool create)
{
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    char *s = json_dumps(doc, JSON_COMPACT);
    if (!id || !s) {
        free(s);
        return WT_NOMEM;
    }
    wt_status st = store_put(t, STORE_DB_CLIENTS, id, strlen(id), s, strlen(s),
                             create ? STORE_NOOVERWRITE : 0);
    free(s);
    return st;
}

static enum client_source source_of(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "source"));
    return s && strcmp(s, "dcr") == 0    ? CLIENT_DCR
           : s && strcmp(s, "cimd") == 0 ? CLIENT_CIMD
                                         : CLIENT_CLI;
}

/* Fills out's fields from out->doc (owned). */
static wt_status client_fields(client_t *out)
{
    out->id = json_string_value(json_object_get(out->doc, "client_id"));
    out->name = json_string_value(json_object_get(out->doc, "client_name"));
    out->auth_method = json_string_value(json_object_get(out->doc, "token_endpoint_auth_method"));
    out->scope = json_string_value(json_object_get(out->doc, "scope"));
    out->source = source_of(out->doc);
    if (!out->id || !out->auth_method || !out->scope) {
        client_free(out);
        return WT_ESTORE;
    }
    if (!out->name)
        out->name = out->id;
    return WT_OK;
}

/* The stored bytes of a client document; out is cleared first. */
static wt_status client_raw(store_txn *t, const char *id, client_t *out, store_val *v)
{
    memset(out, 0, sizeof *out);
    size_t idlen = strlen(id);
    if (idlen == 0 || idlen > 400)
        return WT_NOTFOUND;
    return store_get(t, STORE_DB_CLIENTS, id, idlen, v);
}

wt_status client_load(store_txn *t, const char *id, client_t *out)
{
    store_val v;
    wt_status st = client_raw(t, id, out, &v);
    if (st != WT_OK)
        return st;
    out->doc = json_loadb(v.data, v.len, 0, NULL);
    return out->doc ? client_fields(out) : WT_ESTORE;
}

/* The calling thread's cache of parsed client documents is checked against the stored bytes on
 * every lookup, so a change made by the CLI or another thread is seen at once (SPEC §1: nothing
 * is cached without checking that it is current). */
wt_status client_load_shared(store_txn *t, const char *id, client_t *out)
{
    doccache *c = doccache_of_thread(DOCCACHE_CLIENTS);
    if (!c)
        return client_load(t, id, out);
    store_val v;
    wt_status st = client_raw(t, id, out, &v);
    if (st != WT_OK)
        return st;
    out->doc = doccache_parse(c, id, strlen(id), v.data, v.len);
    return out->doc ? client_fields(out) : WT_ESTORE;
}

void client_free(client_t *c)
{
    if (!c)
        return;
    json_decref(c->doc);
    memset(c, 0, sizeof *c);
}

wt_status client_remove(store_txn *t, const char *id)
{
    wt_status st = store_del(t, STORE_DB_CLIENTS, id, strlen(id), NULL, 0);
    if (st != WT_OK)
        return st;
    return grants_revoke_client(t, id);
}

wt_status client_rotate_secret(store_txn *t, const char *id, char *secret_out)
{
    client_t c;
    wt_status st = client_load(t, id, &c);
    if (st != WT_OK)
        return st;
    if (client_is_public(&c) || strcmp(c.auth_method, "private_key_jwt") == 0) {
        client_free(&c);
        return WT_INVALID;
    }
    set_secret(c.doc, secret_out);
    st = secret_out[0] ? client_store(t, c.doc, false) : WT_ECRYPTO;
    client_free(&c);
    return st;
}

bool client_is_public(const client_t *c)
{
    return strcmp(c->auth_method, "none") == 0;
}

bool client_allows_grant(const client_t *c, const char *grant)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c->doc, "grant_types"), i,
                       v) if (json_string_value(v) &&
                              strcmp(json_string_value(v), grant) == 0) return true;
    return false;
}

const char *client_redirect_match(const client_t *c, const char *presented)
{
    json_t *uris = json_object_get(c->doc, "redirect_uris");
    if (!presented)
        return json_array_size(uris) == 1 ? json_string_value(json_array_get(uris, 0)) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(uris, i, v)
    {
        const char *r = json_string_value(v);
        if (r && redirect_uri_match(r, presented))
            return r;
    }
    return NULL;
}

bool client_loopback_only(const client_t *c)
{
    json_t *uris = json_object_get(c->doc, "redirect_uris");
    size_t i;
    json_t *v;
    if (json_array_size(uris) == 0)
        return false;
    json_array_foreach(uris, i,
                       v) if (!redirect_uri_is_loopback(json_string_value(v))) return false;
    return true;
}

bool client_secret_ok(const client_t *c, const char *secret, size_t len)
{
    const char *d64 = json_string_value(json_object_get(c->doc, "secret_sha256"));
    uint8_t want[32], got[32];
    if (!d64 || b64url_decode(d64, strlen(d64), want, sizeof want) != 32)
        return false;
    crypto_sha256(secret, len, got);
    return crypto_equal(want, got, 32);
}
