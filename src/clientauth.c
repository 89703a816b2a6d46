/* clientauth.c — who is calling the token/revoke/introspect endpoints (contract in
 * clientauth.h). Assertion cryptography and claims live in assertion.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clientauth.h"
#include "crypto.h"
#include "token.h"

static wt_status refuse(clientauth *o, enum oauth_error e, int status, const char *why)
{
    o->err = e;
    o->status = status;
    snprintf(o->why, sizeof o->why, "%s", why);
    client_free(&o->client);
    return WT_OK;
}

/* Standard base64 (Basic credentials), into out; -1 when malformed. */
static long b64std_decode(const char *in, size_t len, char *out, size_t cap)
{
    char tmp[1024];
    size_t n = 0;
    if (len > sizeof tmp)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '=') {
            if (len - i > 2)
                return -1;
            for (size_t j = i; j < len; j++)
                if (in[j] != '=')
                    return -1;
            break;
        }
        tmp[n++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return b64url_decode(tmp, n, (uint8_t *)out, cap);
}

/* Decodes one form-urlencoded credential part in place into out (RFC 6749 §2.3.1). */
static bool urldecode(const char *in, size_t len, char *out, size_t cap)
{
    form_t f;
    char why[64], *buf = malloc(len + 3);
    if (!buf)
        return false;
    memcpy(buf, "x=", 2);
    memcpy(buf + 2, in, len);
    bool ok = form_parse(buf, len + 2, &f, why, sizeof why) == WT_OK && f.n == 1 &&
              strlen(f.v[0].value) < cap;
    if (ok)
        memcpy(out, f.v[0].value, strlen(f.v[0].value) + 1);
    if (ok || f.n)
        form_free(&f);
    free(buf);
    return ok;
}

static bool is_pkjwt(const client_t *c)
{
    return strcmp(c->auth_method, "private_key_jwt") == 0;
}

/* private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2). The assertion names the client (sub); its
 * registered keys decide. */
static wt_status authenticate_assertion(store_txn *t, const form_t *f, const char *issuer,
                                        const char *endpoint, clientauth *o)
{
    const char *type = form_get(f, "client_assertion_type");
    const char *jwt = form_get(f, "client_assertion");
    const char *body_id = form_get(f, "client_id");
    char id[401], why[200];
    if (!type || !jwt || !jwt[0])
        return refuse(o, OE_INVALID_REQUEST, 400,
                      "client_assertion and client_assertion_type must be sent together");
    if (strcmp(type, ASSERTION_TYPE_JWT_BEARER) != 0)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "unsupported client_assertion_type: use "
                      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    if (assertion_peek_subject(jwt, strlen(jwt), id, sizeof id, why, sizeof why) != WT_OK)
        return refuse(o, OE_INVALID_CLIENT, 401, why);
    if (body_id && strcmp(body_id, id) != 0)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "client_id in the body differs from the client assertion's sub");
    wt_status st = client_load_shared(t, id, &o->client);
    if (st == WT_NOTFOUND)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "unknown client: it may have been removed; register again");
    if (st != WT_OK)
        return st;
    if (!is_pkjwt(&o->client))
        return refuse(o, OE_INVALID_CLIENT, 401,
                      client_is_public(&o->client)
                          ? "this is a public client: it cannot use a client assertion, send "
                            "only client_id"
                          : "this client authenticates with its client_secret, not with a "
                            "client assertion (private_key_jwt)");
    /* Acceptable audiences: the issuer (rfc7523bis), the token endpoint (RFC 7523, OpenID
     * Connect) and the endpoint actually called. */
    if (!issuer || !issuer[0])
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "client assertions (private_key_jwt) are not accepted at this endpoint");
    char tok_url[1100], ep_url[1100];
    const char *aud[4] = {NULL};
    size_t na = 0;
    aud[na++] = issuer;
    if ((size_t)snprintf(tok_url, sizeof tok_url, "%s/oauth/token", issuer) < sizeof tok_url)
        aud[na++] = tok_url;
    if (endpoint && strcmp(endpoint, "/oauth/token") != 0 &&
        (size_t)snprintf(ep_url, sizeof ep_url, "%s%s", issuer, endpoint) < sizeof ep_url)
        aud[na++] = ep_url;
    assertion_check chk = {.client_id = o->client.id,
                           .jwks = json_object_get(o->client.doc, "jwks"),
                           .audiences = aud,
                           .now = now_us() / 1000000};
    assertion_result r;
    st = assertion_verify(jwt, strlen(jwt), &chk, &r, why, sizeof why);
    if (st == WT_NOMEM || st == WT_ECRYPTO)
        return refuse(o, OE_INVALID_CLIENT, 401, "the client assertion could not be checked");
    if (st != WT_OK)
        return refuse(o, OE_INVALID_CLIENT, 401, why);
    /* Fast rejection of a replay already recorded; the writer op's insert is the real guard. */
    st = assertion_jti_seen(t, o->client.id, r.jti);
    if (st == WT_EXISTS)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "this client assertion was already used (its jti was seen before): sign "
                      "a new one with a fresh jti");
    if (st != WT_NOTFOUND)
        return st;
    o->secret_used = true;
    o->assertion_used = true;
    memcpy(o->jti, r.jti, sizeof o->jti);
    o->jti_keep_until = r.keep_until;
    return WT_OK;
}

wt_status client_authenticate_at(store_txn *t, const char *authz, const form_t *f,
                                 const char *issuer, const char *endpoint, clientauth *o)
{
    char id[512] = "", secret[512] = "";
    memset(o, 0, sizeof *o);
    const char *body_id = form_get(f, "client_id");
    const char *body_secret = form_get(f, "client_secret");
    bool basic = authz && strncasecmp(authz, "Basic ", 6) == 0;
    if (form_get(f, "client_assertion") || form_get(f, "client_assertion_type")) {
        if (basic || body_secret) {
            o->basic_tried = basic;
            return refuse(o, OE_INVALID_REQUEST, 400,
                          "use one client authentication method: a client assertion or a "
                          "client secret, not both");
        }
        return authenticate_assertion(t, f, issuer, endpoint, o);
    }
    if (basic) {
        o->basic_tried = true;
        char raw[800];
        const char *cred = authz + 6;
        while (*cred == ' ')
            cred++;
        long n = b64std_decode(cred, strlen(cred), raw, sizeof raw - 1);
        char *colon = n > 0 ? memchr(raw, ':', (size_t)n) : NULL;
        if (!colon)
            return refuse(o, OE_INVALID_CLIENT, 401, "malformed Basic credentials");
        raw[n] = '\0';
        if (!urldecode(raw, (size_t)(colon - raw), id, sizeof id) ||
            !urldecode(colon + 1, (size_t)(raw + n - colon - 1), secret, sizeof secret))
            return refuse(o, OE_INVALID_CLIENT, 401, "malformed Basic credentials");
        if (body_secret)
            return refuse(o, OE_INVALID_REQUEST, 400,
                          "use one client authentication method: Basic or client_secret in "
                          "the body, not both");
        if (body_id && strcmp(body_id, id) != 0)
            return refuse(o, OE_INVALID_REQUEST, 400,
                          "client_id in the body differs from the Basic credentials");
    } else {
        if (!body_id || !body_id[0])
            return refuse(o, OE_INVALID_CLIENT, 401,
                          "client authentication is required: send client_id (public "
                          "clients) or client credentials");
        if (strlen(body_id) >= sizeof id || (body_secret && strlen(body_secret) >= sizeof secret))
            return refuse(o, OE_INVALID_CLIENT, 401, "unknown client or wrong credentials");
        memcpy(id, body_id, strlen(body_id) + 1);
        if (body_secret)
            memcpy(secret, body_secret, strlen(body_secret) + 1);
    }
    wt_status st = client_load_shared(t, id, &o->client);
    if (st == WT_NOTFOUND)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "unknown client: it may have been removed; register again");
    if (st != WT_OK)
        return st;
    bool has_secret = basic || body_secret;
    if (client_is_public(&o->client)) {
        if (has_secret)
            return refuse(o, OE_INVALID_CLIENT, 401,
                          "this is a public client: it has no secret, send only client_id");
        return WT_OK;
    }
    if (is_pkjwt(&o->client))
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "this client authenticates with private_key_jwt: send client_assertion_type "
                      "and a signed client_assertion, not a secret");
    if (!has_secret)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "this client is confidential: authenticate with its client_secret "
                      "(HTTP Basic or client_secret in the body)");
    if (!client_secret_ok(&o->client, secret, strlen(secret)))
        return refuse(o, OE_INVALID_CLIENT, 401, "unknown client or wrong credentials");
    o->secret_used = true;
    return WT_OK;
}
