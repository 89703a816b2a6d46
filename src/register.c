/* register.c — dynamic client registration and its management (contract in register.h). */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "redirect.h"
#include "register.h"

static wt_status fail(reg_error *e, enum oauth_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static wt_status fail(reg_error *e, enum oauth_error err, const char *fmt, ...)
{
    char tmp[sizeof e->why];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    oauth_desc_clean(tmp, e->why, sizeof e->why);
    e->err = err;
    return WT_INVALID;
}

/* A member's value, JSON null counting as absent (RFC 7592 §2.2: null = omitted). */
static json_t *member(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* Human-readable text: no C0 control, no DEL, no bidirectional override or isolate
 * (U+202A-U+202E, U+2066-U+2069: they would let a name reorder what the consent page shows).
 * jansson has already checked it is UTF-8. */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
            return false;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
            return false;
    }
    return true;
}

static wt_status text_field(const json_t *body, const char *key, size_t max, json_t *extra,
                            const char **out, reg_error *e)
{
    json_t *v = member(body, key);
    if (out)
        *out = NULL;
    if (!v)
        return WT_OK;
    const char *s = json_string_value(v);
    if (!s)
        return fail(e, OE_INVALID_CLIENT_METADATA, "%s must be a string", key);
    if (!s[0] || strlen(s) > max)
        return fail(e, OE_INVALID_CLIENT_METADATA, "%s must be 1 to %zu bytes", key, max);
    if (!text_ok(s))
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "%s contains control or bidirectional-override characters", key);
    if (out)
        *out = s;
    if (extra && json_object_set_new(extra, key, json_string(s)) != 0)
        return WT_NOMEM;
    return WT_OK;
}

/* client_uri, logo_uri, tos_uri, policy_uri: an https URL (or a loopback http one, for
 * development), RFC 3986 characters only, no userinfo; a fragment is allowed. */
static bool url_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > REGISTER_URL_MAX)
        return false;
    const char *hash = strchr(s, '#');
    size_t base = hash ? (size_t)(hash - s) : len;
    for (const char *f = hash ? hash + 1 : s + len; *f; f++)
        if (*f <= 0x20 || *f >= 0x7f || strchr("\"<>\\^`{|}#", *f))
            return false;
    char *b = strndup(s, base);
    if (!b)
        return false;
    bool ok = redirect_uri_check(b, NULL) == WT_OK &&
              (strncasecmp(b, "https://", 8) == 0 || redirect_uri_is_loopback(b));
    free(b);
    return ok;
}

static wt_status url_field(const json_t *body, const char *key, json_t *extra, reg_error *e)
{
    json_t *v = member(body, key);
    if (!v)
        return WT_OK;
    const char *s = json_string_value(v);
    if (!s)
        return fail(e, OE_INVALID_CLIENT_METADATA, "%s must be a string", key);
    if (!url_ok(s))
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "%s must be an https URL of at most %d bytes (http only for 127.0.0.1, "
                    "[::1] or localhost)",
                    key, REGISTER_URL_MAX);
    return json_object_set_new(extra, key, json_string(s)) == 0 ? WT_OK : WT_NOMEM;
}

static wt_status contacts_field(const json_t *body, json_t *extra, reg_error *e)
{
    json_t *v = member(body, "contacts"), *x;
    size_t i;
    if (!v)
        return WT_OK;
    if (!json_is_array(v))
        return fail(e, OE_INVALID_CLIENT_METADATA, "contacts must be an array of strings");
    if (json_array_size(v) > REGISTER_CONTACTS_MAX)
        return fail(e, OE_INVALID_CLIENT_METADATA, "contacts lists at most %d entries",
                    REGISTER_CONTACTS_MAX);
    json_array_foreach(v, i, x)
    {
        const char *s = json_string_value(x);
        if (!s)
            return fail(e, OE_INVALID_CLIENT_METADATA, "contacts[%zu] must be a string", i);
        if (!s[0] || strlen(s) > REGISTER_CONTACT_MAX || !text_ok(s))
            return fail(e, OE_INVALID_CLIENT_METADATA,
                        "contacts[%zu] must be 1 to %d bytes of printable text", i,
                        REGISTER_CONTACT_MAX);
    }
    return json_object_set_new(extra, "contacts", json_deep_copy(v)) == 0 ? WT_OK : WT_NOMEM;
}

/* {"keys": [1..10 objects with a string "kty" and no private or symmetric key material]}. */
static wt_status jwks_check(const json_t *jwks, reg_error *e)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    json_t *keys = json_object_get(jwks, "keys"), *k;
    size_t i;
    if (!json_is_object(jwks) || !json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > REGISTER_JWKS_KEYS_MAX)
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "jwks must be a JWK Set: {'keys': [1 to %d public keys]}",
                    REGISTER_JWKS_KEYS_MAX);
    json_array_foreach(keys, i, k)
    {
        if (!json_is_object(k) || !json_is_string(json_object_get(k, "kty")))
            return fail(e, OE_INVALID_CLIENT_METADATA, "jwks key %zu must be a JWK with kty", i);
        for (size_t m = 0; m < sizeof private_members / sizeof *private_members; m++)
            if (json_object_get(k, private_members[m]))
                return fail(e, OE_INVALID_CLIENT_METADATA,
                            "jwks key %zu holds private or symmetric key material (%s): "
                            "register public keys only",
                            i, private_members[m]);
    }
    return WT_OK;
}

void register_metadata_free(reg_metadata *m)
{
    if (!m)
        return;
    free(m->redirect);
    free(m->grants);
    free(m->scope);
    json_decref(m->extra);
    memset(m, 0, sizeof *m);
}

/* Checks scope against the catalogue (offline_access accepted and dropped) and returns the
 * requested scopes, in request order without duplicates, in *out (malloc'd). */
static wt_status scope_field(const json_t *body, const scope_catalogue *cat, char **out,
                             reg_error *e)
{
    json_t *v = member(body, "scope");
    *out = NULL;
    if (!v)
        return WT_OK;
    const char *s = json_string_value(v);
    if (!s)
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "scope must be a string of space-separated scope names");
    if (!scope_valid(s))
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "scope is malformed (at most %d names, "
                    "%d bytes, separated by spaces)",
                    SCOPE_MAX_TOKENS, SCOPE_STRING_MAX);
    char *dup = strdup(s), *save = NULL, *res = calloc(1, strlen(s) + 1);
    wt_status st = dup && res ? WT_OK : WT_NOMEM;
    for (char *tok = dup ? strtok_r(dup, " ", &save) : NULL; st == WT_OK && tok;
         tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, SCOPE_OFFLINE_ACCESS) == 0 || scope_has(res, tok))
            continue;
        if (!scope_find(cat, tok, strlen(tok))) {
            st = fail(e, OE_INVALID_CLIENT_METADATA,
                      "unknown scope '%.80s' (not in the scope catalogue)", tok);
            break;
        }
        if (res[0])
            strcat(res, " ");
        strcat(res, tok);
    }
    free(dup);
    if (st != WT_OK) {
        free(res);
        return st;
    }
    *out = res;
    return WT_OK;
}

wt_status register_metadata_parse(const json_t *body, const scope_catalogue *cat, reg_metadata *out,
                                  reg_error *e)
{
    json_t *v, *x;
    size_t i, n;
    wt_status st = WT_OK;
    memset(out, 0, sizeof *out);
    e->err = OE_NONE;
    e->why[0] = '\0';
    if (!json_is_object(body))
        return fail(e, OE_INVALID_REQUEST, "the body must be a JSON object");
    out->spec.source = CLIENT_DCR;
    if (!(out->extra = json_object()))
        return WT_NOMEM;

    /* redirect_uris */
    if ((v = member(body, "redirect_uris"))) {
        if (!json_is_array(v)) {
            st = fail(e, OE_INVALID_REDIRECT_URI, "redirect_uris must be an array of strings");
            goto out;
        }
        n = json_array_size(v);
        if (n > REGISTER_REDIRECTS_MAX) {
            st = fail(e, OE_INVALID_REDIRECT_URI, "at most %d redirect URIs",
                      REGISTER_REDIRECTS_MAX);
            goto out;
        }
        if (!(out->redirect = calloc(n ? n : 1, sizeof *out->redirect))) {
            st = WT_NOMEM;
            goto out;
        }
        json_array_foreach(v, i, x)
        {
            const char *s = json_string_value(x);
            if (!s) {
                st = fail(e, OE_INVALID_REDIRECT_URI, "redirect_uris[%zu] must be a string", i);
                goto out;
            }
            for (size_t j = 0; j < i; j++)
                if (strcmp(out->redirect[j], s) == 0) {
                    st = fail(e, OE_INVALID_REDIRECT_URI,
                              "redirect_uris[%zu] repeats redirect_uris[%zu]", i, j);
                    goto out;
                }
            out->redirect[i] = s;
        }
        out->spec.redirect_uris = out->redirect;
        out->spec.nredirect = n;
    }

    /* client_name */
    if ((st = text_field(body, "client_name", REGISTER_TEXT_MAX, NULL, &out->spec.name, e)) !=
        WT_OK)
        goto out;
    if (!out->spec.name)
        out->spec.name = REGISTER_DEFAULT_NAME;

    /* grant_types */
    bool code = true;
    if ((v = member(body, "grant_types"))) {
        if (!json_is_array(v)) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "grant_types must be an array of strings");
            goto out;
        }
        n = json_array_size(v);
        if (n == 0 || n > 8) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "grant_types must list 1 to 3 grant types");
            goto out;
        }
        if (!(out->grants = calloc(n, sizeof *out->grants))) {
            st = WT_NOMEM;
            goto out;
        }
        code = false;
        json_array_foreach(v, i, x)
        {
            if (!(out->grants[i] = json_string_value(x))) {
                st = fail(e, OE_INVALID_CLIENT_METADATA, "grant_types[%zu] must be a string", i);
                goto out;
            }
            if (strcmp(out->grants[i], "authorization_code") == 0)
                code = true;
        }
        out->spec.grant_types = out->grants;
        out->spec.ngrant = n;
    }

    /* response_types: the authorization code flow only (RFC 7591 §2.1 pairs code with the
     * authorization_code grant). */
    if ((v = member(body, "response_types"))) {
        if (!json_is_array(v)) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "response_types must be an array of strings");
            goto out;
        }
        json_array_foreach(v, i, x)
        {
            const char *s = json_string_value(x);
            if (!s) {
                st = fail(e, OE_INVALID_CLIENT_METADATA, "response_types[%zu] must be a string", i);
                goto out;
            }
            if (strcmp(s, "code") != 0) {
                st = fail(e, OE_INVALID_CLIENT_METADATA,
                          "response type '%.40s' is not supported: only code (the "
                          "authorization code flow with PKCE)",
                          s);
                goto out;
            }
        }
        n = json_array_size(v);
        if (n > 1) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "response_types lists code twice");
            goto out;
        }
        if (code && n == 0) {
            st = fail(e, OE_INVALID_CLIENT_METADATA,
                      "response_types must be ['code'] for the authorization_code grant");
            goto out;
        }
        /* (an unknown grant type is reported by client_build, which names it) */
        bool known = true;
        for (i = 0; out->grants && i < out->spec.ngrant; i++)
            if (strcmp(out->grants[i], "refresh_token") != 0 &&
                strcmp(out->grants[i], "client_credentials") != 0 &&
                strcmp(out->grants[i], "authorization_code") != 0)
                known = false;
        if (!code && n == 1 && known) {
            st = fail(e, OE_INVALID_CLIENT_METADATA,
                      "response_types code needs the authorization_code grant in grant_types");
            goto out;
        }
    }

    /* token_endpoint_auth_method (client_build checks the value) */
    if ((v = member(body, "token_endpoint_auth_method"))) {
        if (!(out->spec.token_auth = json_string_value(v))) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "token_endpoint_auth_method must be a string");
            goto out;
        }
    }

    /* scope */
    if ((st = scope_field(body, cat, &out->scope, e)) != WT_OK)
        goto out;
#if REGISTER_KEEP_REQUESTED_SCOPE
    out->spec.scope = out->scope && out->scope[0] ? out->scope : NULL;
#endif

    /* jwks / jwks_uri */
    json_t *jwks = member(body, "jwks"), *jwks_uri = member(body, "jwks_uri");
    if (jwks && jwks_uri) {
        st = fail(e, OE_INVALID_CLIENT_METADATA,
                  "jwks and jwks_uri must not both be present (RFC 7591 section 2)");
        goto out;
    }
    if (jwks_uri && out->spec.token_auth && strcmp(out->spec.token_auth, "private_key_jwt") == 0) {
        st = fail(e, OE_INVALID_CLIENT_METADATA,
                  "jwks_uri is not supported: send the public keys in jwks");
        goto out;
    }
    if (jwks && (st = jwks_check(jwks, e)) != WT_OK)
        goto out;
    out->spec.jwks = jwks;

    /* application_type */
    if ((v = member(body, "application_type"))) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "web") != 0 && strcmp(s, "native") != 0)) {
            st = fail(e, OE_INVALID_CLIENT_METADATA, "application_type must be web or native");
            goto out;
        }
        if (json_object_set_new(out->extra, "application_type", json_string(s)) != 0) {
            st = WT_NOMEM;
            goto out;
        }
    }

    /* informational fields, stored and echoed */
    static const char *const urls[] = {"client_uri", "logo_uri", "tos_uri", "policy_uri"};
    for (i = 0; i < sizeof urls / sizeof *urls; i++)
        if ((st = url_field(body, urls[i], out->extra, e)) != WT_OK)
            goto out;
    if ((st = contacts_field(body, out->extra, e)) != WT_OK ||
        (st = text_field(body, "software_id", REGISTER_TEXT_MAX, out->extra, NULL, e)) != WT_OK ||
        (st = text_field(body, "software_version", REGISTER_TEXT_MAX, out->extra, NULL, e)) !=
            WT_OK)
        goto out;
out:
    if (st != WT_OK)
        register_metadata_free(out);
    return st;
}

json_t *register_body_parse(const char *s, size_t len, reg_error *e)
{
    json_error_t je;
    e->err = OE_NONE;
    e->why[0] = '\0';
    json_t *j = json_loadb(s ? s : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        fail(e, OE_INVALID_REQUEST, "the body is not valid JSON: %.120s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        fail(e, OE_INVALID_REQUEST, "the body must be a JSON object of client metadata");
        return NULL;
    }
    return j;
}

static bool secret_based(const char *method)
{
    return method && (strcmp(method, "client_secret_basic") == 0 ||
                      strcmp(method, "client_secret_post") == 0);
}

static const char *auth_method(const json_t *doc)
{
    return json_string_value(json_object_get(doc, "token_endpoint_auth_method"));
}

/* client_build on parsed metadata, with its refusal mapped to a reg_error. */
static wt_status build(reg_metadata *m, const scope_catalogue *cat, int64_t now, json_t **doc_out,
                       char *secret_out, reg_error *e)
{
    char why[256];
    const char *field_err = NULL;
    *doc_out = NULL;
    wt_status st =
        client_build(&m->spec, cat, now, doc_out, secret_out, why, sizeof why, &field_err);
    if (st == WT_INVALID)
        return fail(e,
                    field_err && strcmp(field_err, "invalid_redirect_uri") == 0
                        ? OE_INVALID_REDIRECT_URI
                        : OE_INVALID_CLIENT_METADATA,
                    "%s", why);
    if (st != WT_OK)
        return st;
    if (secret_based(auth_method(*doc_out)) && !secret_out[0]) { /* the CSPRNG failed */
        json_decref(*doc_out);
        *doc_out = NULL;
        return WT_ECRYPTO;
    }
    if (json_object_update(*doc_out, m->extra) != 0) {
        json_decref(*doc_out);
        *doc_out = NULL;
        OPENSSL_cleanse(secret_out, TOKEN_STR_LEN + 1);
        return WT_NOMEM;
    }
    return WT_OK;
}

static void digest_b64(const char *s, size_t len, char out[B64URL_LEN(32) + 1])
{
    uint8_t dg[32];
    crypto_sha256(s, len, dg);
    b64url_encode(dg, sizeof dg, out);
}

wt_status register_build(const json_t *body, const scope_catalogue *cat, int64_t now,
                         json_t **doc_out, char *secret_out, char *rat_out, reg_error *e)
{
    reg_metadata m;
    json_t *doc = NULL;
    token_t t;
    char d64[B64URL_LEN(32) + 1];
    *doc_out = NULL;
    secret_out[0] = rat_out[0] = '\0';
    wt_status st = register_metadata_parse(body, cat, &m, e);
    if (st != WT_OK)
        return st;
    st = build(&m, cat, now, &doc, secret_out, e);
    register_metadata_free(&m);
    if (st != WT_OK)
        return st;
    if (token_mint(TOKEN_REGISTRATION, now_us(), &t, rat_out) != WT_OK) {
        json_decref(doc);
        OPENSSL_cleanse(secret_out, TOKEN_STR_LEN + 1);
        rat_out[0] = '\0';
        return WT_ECRYPTO;
    }
    OPENSSL_cleanse(&t, sizeof t);
    digest_b64(rat_out, strlen(rat_out), d64);
    json_object_set_new(doc, "used", json_false());
    json_object_set_new(doc, "registration_token_sha256", json_string(d64));
    *doc_out = doc;
    return WT_OK;
}

wt_status register_update_doc(const json_t *current, const json_t *body, const scope_catalogue *cat,
                              int64_t now, json_t **doc_out, char *secret_out, reg_error *e)
{
    const char *id = json_string_value(json_object_get(current, "client_id"));
    json_t *v, *doc = NULL;
    reg_metadata m;
    *doc_out = NULL;
    secret_out[0] = '\0';
    e->err = OE_NONE;
    e->why[0] = '\0';
    if (!id)
        return WT_ESTORE;
    if (!json_is_object(body))
        return fail(e, OE_INVALID_REQUEST, "the body must be a JSON object");
    v = member(body, "client_id");
    if (!json_is_string(v) || strcmp(json_string_value(v), id) != 0)
        return fail(e, OE_INVALID_CLIENT_METADATA,
                    "client_id is required in the body and must be this client's client_id");
    if ((v = member(body, "client_secret"))) {
        client_t c = {.doc = (json_t *)current};
        const char *s = json_string_value(v);
        if (!s || !client_secret_ok(&c, s, strlen(s)))
            return fail(e, OE_INVALID_CLIENT_METADATA,
                        "client_secret does not match this client's secret (it cannot be "
                        "chosen by the client; leave it out)");
    }
    wt_status st = register_metadata_parse(body, cat, &m, e);
    if (st != WT_OK)
        return st;
    m.spec.client_id = id;
    st = build(&m, cat, now, &doc, secret_out, e);
    register_metadata_free(&m);
    if (st != WT_OK)
        return st;
    /* What the registration keeps across updates. */
    static const char *const kept[] = {"client_id_issued_at", "registration_token_sha256", "used"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if ((v = json_object_get(current, kept[i])))
            json_object_set(doc, kept[i], v);
    json_t *old_secret = json_object_get(current, "secret_sha256");
    if (json_object_get(doc, "secret_sha256") && old_secret) {
        json_object_set(doc, "secret_sha256", old_secret);
        OPENSSL_cleanse(secret_out, TOKEN_STR_LEN + 1);
        secret_out[0] = '\0';
    }
    *doc_out = doc;
    return WT_OK;
}

json_t *register_response(const json_t *doc, const char *issuer, const char *rat,
                          const char *secret)
{
    json_t *o = client_public_view(doc);
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (!o || !id) {
        json_decref(o);
        return NULL;
    }
    size_t n = strlen(issuer) + strlen(id) + 32;
    char *uri = malloc(n);
    if (!uri) {
        json_decref(o);
        return NULL;
    }
    snprintf(uri, n, "%s/oauth/register/%s", issuer, id);
    json_object_set_new(o, "registration_client_uri", json_string(uri));
    free(uri);
    if (rat && rat[0])
        json_object_set_new(o, "registration_access_token", json_string(rat));
    if (secret && secret[0])
        json_object_set_new(o, "client_secret", json_string(secret));
    if (secret_based(auth_method(doc)))
        json_object_set_new(o, "client_secret_expires_at", json_integer(0));
    return o;
}

bool register_token_ok(const json_t *doc, const char *token, size_t len)
{
    const char *src = json_string_value(json_object_get(doc, "source"));
    const char *d64 = json_string_value(json_object_get(doc, "registration_token_sha256"));
    uint8_t want[32], got[32];
    if (!src || strcmp(src, "dcr") != 0 || !d64 ||
        b64url_decode(d64, strlen(d64), want, sizeof want) != 32)
        return false;
    crypto_sha256(token, len, got);
    return crypto_equal(want, got, 32);
}

wt_status register_authorize(store_txn *t, const char *client_id, const char *token, client_t *out)
{
    wt_status st = client_load(t, client_id, out);
    if (st == WT_NOTFOUND || st == WT_INVALID)
        return WT_DENIED;
    if (st != WT_OK)
        return st;
    if (out->source != CLIENT_DCR || !register_token_ok(out->doc, token, strlen(token))) {
        client_free(out);
        return WT_DENIED;
    }
    return WT_OK;
}

/* ---------------------------------------------------------------- writer ops */

wt_status register_store_new(store_txn *t, void *arg)
{
    return client_store(t, (const json_t *)arg, true);
}

wt_status register_update(store_txn *t, void *arg)
{
    reg_manage *m = arg;
    client_t c;
    m->denied = false;
    m->err.err = OE_NONE;
    m->secret[0] = '\0';
    wt_status st = register_authorize(t, m->client_id, m->token, &c);
    if (st == WT_DENIED) {
        m->denied = true;
        return WT_OK;
    }
    if (st != WT_OK)
        return st;
    st = register_update_doc(c.doc, m->body, m->cat, m->now, &m->doc, m->secret, &m->err);
    client_free(&c);
    if (st == WT_INVALID)
        return WT_OK; /* refused: nothing written, m->err says why */
    if (st == WT_OK)
        st = client_store(t, m->doc, false);
    return st;
}

wt_status register_delete(store_txn *t, void *arg)
{
    reg_manage *m = arg;
    client_t c;
    m->denied = false;
    wt_status st = register_authorize(t, m->client_id, m->token, &c);
    if (st == WT_DENIED) {
        m->denied = true;
        return WT_OK;
    }
    if (st != WT_OK)
        return st;
    client_free(&c);
    return client_remove(t, m->client_id);
}

/* ---------------------------------------------------------------- used / purge */

bool register_client_unused(const client_t *c)
{
    return c && c->doc && c->source == CLIENT_DCR && json_is_false(json_object_get(c->doc, "used"));
}

wt_status register_mark_used(store_txn *t, const char *client_id)
{
    client_t c;
    wt_status st = client_load(t, client_id, &c);
    if (st == WT_NOTFOUND || st == WT_INVALID)
        return WT_OK;
    if (st != WT_OK)
        return st;
    if (register_client_unused(&c)) {
        json_object_set_new(c.doc, "used", json_true());
        st = client_store(t, c.doc, false);
    }
    client_free(&c);
    return st;
}

bool register_unused_expired(const void *doc, size_t len, int64_t now, int64_t ttl)
{
    /* Cheap filter on the compact JSON client_store writes (most clients are skipped without
     * a parse), then the real check. */
    if (ttl <= 0 || !memmem(doc, len, "\"used\":false", 12) ||
        !memmem(doc, len, "\"source\":\"dcr\"", 14))
        return false;
    json_t *d = json_loadb(doc, len, 0, NULL);
    json_t *iat = json_object_get(d, "client_id_issued_at");
    const char *src = json_string_value(json_object_get(d, "source"));
    bool dead = src && strcmp(src, "dcr") == 0 && json_is_false(json_object_get(d, "used")) &&
                json_is_integer(iat) && json_integer_value(iat) <= now - ttl;
    json_decref(d);
    return dead;
}
