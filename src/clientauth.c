/* clientauth.c — who is calling the token/revoke/introspect endpoints (contract in
 * clientauth.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clientauth.h"
#include "crypto.h"

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

wt_status client_authenticate(store_txn *t, const char *authz, const form_t *f, clientauth *o)
{
    char id[512] = "", secret[512] = "";
    memset(o, 0, sizeof *o);
    const char *body_id = form_get(f, "client_id");
    const char *body_secret = form_get(f, "client_secret");
    bool basic = authz && strncasecmp(authz, "Basic ", 6) == 0;
    if (form_get(f, "client_assertion") || form_get(f, "client_assertion_type"))
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "private_key_jwt client assertions are not supported yet");
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
        if (strlen(body_id) >= sizeof id ||
            (body_secret && strlen(body_secret) >= sizeof secret))
            return refuse(o, OE_INVALID_CLIENT, 401, "unknown client or wrong credentials");
        memcpy(id, body_id, strlen(body_id) + 1);
        if (body_secret)
            memcpy(secret, body_secret, strlen(body_secret) + 1);
    }
    wt_status st = client_load(t, id, &o->client);
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
    if (!has_secret)
        return refuse(o, OE_INVALID_CLIENT, 401,
                      "this client is confidential: authenticate with its client_secret "
                      "(HTTP Basic or client_secret in the body)");
    if (!client_secret_ok(&o->client, secret, strlen(secret)))
        return refuse(o, OE_INVALID_CLIENT, 401, "unknown client or wrong credentials");
    o->secret_used = true;
    return WT_OK;
}
