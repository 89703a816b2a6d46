/* oauth.c — the OAuth error table {code, wire string, HTTP status} and error_description
 * cleaning (oauth.h). */
#include "oauth.h"

static const struct {
    const char *code;
    int status;
} errors[OE_COUNT] = {
    [OE_NONE] = {"server_error", 500},
    [OE_INVALID_REQUEST] = {"invalid_request", 400},
    [OE_INVALID_CLIENT] = {"invalid_client", 401},
    [OE_INVALID_GRANT] = {"invalid_grant", 400},
    [OE_UNAUTHORIZED_CLIENT] = {"unauthorized_client", 400},
    [OE_UNSUPPORTED_GRANT_TYPE] = {"unsupported_grant_type", 400},
    [OE_INVALID_SCOPE] = {"invalid_scope", 400},
    [OE_INVALID_TARGET] = {"invalid_target", 400},
    [OE_UNSUPPORTED_TOKEN_TYPE] = {"unsupported_token_type", 400},
    [OE_UNSUPPORTED_RESPONSE_TYPE] = {"unsupported_response_type", 400},
    [OE_ACCESS_DENIED] = {"access_denied", 400},
    [OE_SERVER_ERROR] = {"server_error", 500},
    [OE_TEMPORARILY_UNAVAILABLE] = {"temporarily_unavailable", 503},
    [OE_INVALID_REDIRECT_URI] = {"invalid_redirect_uri", 400},
    [OE_INVALID_CLIENT_METADATA] = {"invalid_client_metadata", 400},
    [OE_INVALID_TOKEN] = {"invalid_token", 401},
    [OE_INSUFFICIENT_SCOPE] = {"insufficient_scope", 403},
    [OE_SLOW_DOWN] = {"slow_down", 400},
    [OE_LOGIN_REQUIRED] = {"login_required", 400},
    [OE_CONSENT_REQUIRED] = {"consent_required", 400},
};

const char *oauth_error_code(enum oauth_error e)
{
    return (unsigned)e < OE_COUNT ? errors[e].code : "server_error";
}

int oauth_error_status(enum oauth_error e)
{
    return (unsigned)e < OE_COUNT ? errors[e].status : 500;
}

static bool desc_char(unsigned char c)
{
    return c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

void oauth_desc_clean(const char *desc, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t o = 0;
    for (const char *p = desc ? desc : ""; *p && o + 1 < outlen; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            out[o++] = '\'';
        else if (c == '\t' || c == '\n' || c == '\r')
            out[o++] = ' ';
        else if (desc_char(c))
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

bool oauth_desc_valid(const char *s)
{
    if (!s)
        return false;
    for (; *s; s++)
        if (!desc_char((unsigned char)*s))
            return false;
    return true;
}
