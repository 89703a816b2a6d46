/* authorize.c — validation of authorization requests and the consent form's pending request
 * (contract in authorize.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authorize.h"
#include "buf.h"
#include "crypto.h"
#include "metadata.h"
#include "pkce.h"
#include "redirect.h"
#include "scope.h"

static const char *const param_names[] = {
    "client_id",      "redirect_uri",          "response_type", "scope", "state",
    "code_challenge", "code_challenge_method", "resource",      "prompt"};
#define NPARAMS (sizeof param_names / sizeof *param_names)

static const char **param_slot(authz_req *r, size_t i)
{
    const char **slots[NPARAMS] = {
        &r->client_id,      &r->redirect_uri,          &r->response_type, &r->scope, &r->state,
        &r->code_challenge, &r->code_challenge_method, &r->resource,      &r->prompt};
    return slots[i];
}

static authz_result fail(enum oauth_error *err, enum oauth_error e, char *why, size_t n,
                         authz_result kind, const char *fmt, const char *arg)
{
    *err = e;
    snprintf(why, n, fmt, arg);
    return kind;
}

authz_result authz_validate(app *a, store_txn *t, const form_t *f, authz_req *r,
                            enum oauth_error *err, char *why, size_t n)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < NPARAMS; i++)
        *param_slot(r, i) = form_get(f, param_names[i]);
    /* 1. Client and redirect URI: nothing may be redirected before these are trusted. */
    if (form_count(f, "client_id") > 1 || form_count(f, "redirect_uri") > 1)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_SHOW_ERROR,
                    "the %s parameter is given more than once",
                    form_count(f, "client_id") > 1 ? "client_id" : "redirect_uri");
    if (!r->client_id || !r->client_id[0])
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_SHOW_ERROR,
                    "the client_id parameter is missing%s", "");
    wt_status st = client_load(t, r->client_id, &r->client);
    if (st == WT_NOTFOUND)
        return fail(err, OE_INVALID_CLIENT, why, n, AUTHZ_SHOW_ERROR,
                    "unknown client_id: the application is not registered with this server%s", "");
    if (st != WT_OK)
        return fail(err, OE_SERVER_ERROR, why, n, AUTHZ_SHOW_ERROR, "store error%s", "");
    if (r->redirect_uri && strlen(r->redirect_uri) > REDIRECT_URI_MAX)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_SHOW_ERROR, "redirect_uri is too long%s",
                    "");
    const char *match = client_redirect_match(&r->client, r->redirect_uri);
    if (!match)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_SHOW_ERROR, "%s",
                    r->redirect_uri ? "redirect_uri does not match any URI registered for "
                                      "this client"
                                    : "redirect_uri is required: this client registered "
                                      "several (or none)");
    r->redirect = r->redirect_uri ? r->redirect_uri : match;
    if (!client_allows_grant(&r->client, "authorization_code"))
        return fail(err, OE_UNAUTHORIZED_CLIENT, why, n, AUTHZ_SHOW_ERROR,
                    "this client may not use the authorization code grant%s", "");

    /* 2. Everything else is reported to the client through the redirect. */
    if (r->state && strlen(r->state) > AUTHZ_STATE_MAX) {
        r->state = NULL; /* too long to echo */
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "state is longer than 2048 bytes%s", "");
    }
    const char *dup = form_duplicate(f);
    if (dup)
        return fail(err, strcmp(dup, "resource") == 0 ? OE_INVALID_TARGET : OE_INVALID_REQUEST, why,
                    n, AUTHZ_REDIRECT_ERROR,
                    strcmp(dup, "resource") == 0
                        ? "only one resource may be requested at a time (%s given twice)"
                        : "the %s parameter is given more than once",
                    dup);
    if (!r->response_type)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "response_type is missing; use response_type=code%s", "");
    if (strcmp(r->response_type, "code") != 0)
        return fail(err, OE_UNSUPPORTED_RESPONSE_TYPE, why, n, AUTHZ_REDIRECT_ERROR,
                    "only response_type=code is supported%s", "");
    if (!r->code_challenge || !r->code_challenge[0])
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "PKCE is required: send code_challenge with code_challenge_method=S256%s", "");
    if (!r->code_challenge_method)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "code_challenge_method is missing (it would mean plain): send "
                    "code_challenge_method=S256 with the code_challenge%s",
                    "");
    if (strcmp(r->code_challenge_method, "S256") != 0)
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "code_challenge_method must be S256 (plain is not allowed) for the "
                    "code_challenge%s",
                    "");
    if (!pkce_challenge_valid(r->code_challenge, strlen(r->code_challenge)))
        return fail(err, OE_INVALID_REQUEST, why, n, AUTHZ_REDIRECT_ERROR,
                    "code_challenge must be the 43-character base64url SHA-256 of the "
                    "code_verifier (S256)%s",
                    "");
    char swhy[160];
    if (scope_resolve(&a->scopes, r->scope && r->scope[0] ? r->scope : NULL, r->client.scope,
                      &r->granted_scope, swhy, sizeof swhy) != WT_OK)
        return fail(err, OE_INVALID_SCOPE, why, n, AUTHZ_REDIRECT_ERROR, "%s", swhy);
    r->res = app_find_resource(a, r->resource);
    if (!r->res)
        return fail(err, OE_INVALID_TARGET, why, n, AUTHZ_REDIRECT_ERROR, "%s",
                    r->resource ? "the resource is not one this server issues tokens for"
                                : "several resources are configured: send the resource "
                                  "parameter");
    return AUTHZ_OK;
}

void authz_free(authz_req *r)
{
    client_free(&r->client);
    free(r->granted_scope);
    r->granted_scope = NULL;
}

static char *location(const app *a, const authz_req *r, const char *k1, const char *v1,
                      const char *k2, const char *v2)
{
    const char *kv[] = {k1, v1, k2, v2, "state", r->state, "iss", a->cfg.issuer};
    return redirect_uri_with_params(r->redirect, kv, 4);
}

char *authz_error_location(const app *a, const authz_req *r, enum oauth_error e, const char *desc)
{
    char clean[512];
    oauth_desc_clean(desc ? desc : "", clean, sizeof clean);
    return location(a, r, "error", oauth_error_code(e), "error_description", desc ? clean : NULL);
}

char *authz_code_location(const app *a, const authz_req *r, const char *code)
{
    return location(a, r, "code", code, NULL, NULL);
}

/* The pending request travels as a form-urlencoded string (base64url'd): the same syntax the
 * request arrived in, so every byte of every value (state may hold anything but NUL) comes
 * back exactly, which JSON strings (UTF-8 only) could not promise. */
char *authz_pack(const authz_req *r, int64_t now)
{
    buf_t b;
    buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < NPARAMS; i++) {
        const char *v = *param_slot((authz_req *)r, i);
        if (!v)
            continue;
        buf_adds(&b, param_names[i]);
        buf_adds(&b, "=");
        buf_add_urlenc(&b, v, strlen(v));
        buf_adds(&b, "&");
    }
    buf_printf(&b, "exp=%lld", (long long)(now + AUTHZ_PENDING_TTL));
    char *out = b.failed ? NULL : malloc(B64URL_LEN(b.len) + 1);
    if (out)
        b64url_encode(b.p, b.len, out);
    buf_free(&b);
    return out;
}

wt_status authz_unpack(const char *packed, int64_t now, form_t *f)
{
    size_t len = strlen(packed);
    char why[64];
    memset(f, 0, sizeof *f);
    if (len > 120000)
        return WT_INVALID;
    uint8_t *raw = malloc(len + 1);
    long n = raw ? b64url_decode(packed, len, raw, len) : -1;
    wt_status st = n < 0 ? WT_INVALID : form_parse((char *)raw, (size_t)n, f, why, sizeof why);
    free(raw);
    if (st != WT_OK)
        return WT_INVALID;
    const char *exp = form_get(f, "exp");
    if (!exp || form_count(f, "exp") != 1 || strtoll(exp, NULL, 10) < now) {
        form_free(f);
        return exp ? WT_EXPIRED : WT_INVALID;
    }
    return WT_OK;
}

void authz_csrf(const app *a, const char *browser_id, const char *packed, char out[44])
{
    uint8_t mac[32];
    size_t bl = strlen(browser_id), pl = strlen(packed);
    size_t n = 5 + bl + 1 + pl;
    char *msg = malloc(n);
    if (!msg) {
        out[0] = '\0';
        return;
    }
    memcpy(msg, "csrf:", 5);
    memcpy(msg + 5, browser_id, bl);
    msg[5 + bl] = '\n';
    memcpy(msg + 6 + bl, packed, pl);
    crypto_hmac_sha256(a->cookie_key, sizeof a->cookie_key, msg, n, mac);
    free(msg);
    b64url_encode(mac, sizeof mac, out);
}

bool authz_csrf_ok(const app *a, const char *browser_id, const char *packed, const char *csrf)
{
    char want[44];
    if (!browser_id || !packed || !csrf || strlen(csrf) != 43)
        return false;
    authz_csrf(a, browser_id, packed, want);
    return want[0] && crypto_equal(want, csrf, 43);
}
