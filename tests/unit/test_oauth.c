/* test_oauth.c — the OAuth error table and error_description cleaning. */
#include <criterion/criterion.h>
#include <string.h>

#include "oauth.h"

Test(oauth, codes_and_statuses)
{
    static const struct {
        enum oauth_error e;
        const char *code;
        int status;
    } want[] = {
        {OE_INVALID_REQUEST, "invalid_request", 400},
        {OE_INVALID_CLIENT, "invalid_client", 401},
        {OE_INVALID_GRANT, "invalid_grant", 400},
        {OE_UNAUTHORIZED_CLIENT, "unauthorized_client", 400},
        {OE_UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type", 400},
        {OE_INVALID_SCOPE, "invalid_scope", 400},
        {OE_INVALID_TARGET, "invalid_target", 400},
        {OE_UNSUPPORTED_TOKEN_TYPE, "unsupported_token_type", 400},
        {OE_UNSUPPORTED_RESPONSE_TYPE, "unsupported_response_type", 400},
        {OE_ACCESS_DENIED, "access_denied", 400},
        {OE_SERVER_ERROR, "server_error", 500},
        {OE_TEMPORARILY_UNAVAILABLE, "temporarily_unavailable", 503},
        {OE_INVALID_REDIRECT_URI, "invalid_redirect_uri", 400},
        {OE_INVALID_CLIENT_METADATA, "invalid_client_metadata", 400},
        {OE_INVALID_TOKEN, "invalid_token", 401},
        {OE_INSUFFICIENT_SCOPE, "insufficient_scope", 403},
        {OE_SLOW_DOWN, "slow_down", 400},
        {OE_LOGIN_REQUIRED, "login_required", 400},
        {OE_CONSENT_REQUIRED, "consent_required", 400},
    };
    cr_assert_eq(sizeof want / sizeof *want, OE_COUNT - 1, "every error is tested");
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        cr_assert_str_eq(oauth_error_code(want[i].e), want[i].code);
        cr_assert_eq(oauth_error_status(want[i].e), want[i].status, "%s", want[i].code);
    }
}

Test(oauth, out_of_range_is_server_error)
{
    cr_assert_str_eq(oauth_error_code(OE_NONE), "server_error");
    cr_assert_eq(oauth_error_status(OE_NONE), 500);
    cr_assert_str_eq(oauth_error_code(OE_COUNT), "server_error");
    cr_assert_eq(oauth_error_status((enum oauth_error)1000), 500);
    cr_assert_str_eq(oauth_error_code((enum oauth_error) - 1), "server_error");
}

Test(oauth, every_code_is_a_valid_description_token)
{
    for (int e = 0; e < OE_COUNT; e++) {
        const char *c = oauth_error_code((enum oauth_error)e);
        cr_assert_not_null(c);
        cr_assert_gt(strlen(c), 0);
        cr_assert(oauth_desc_valid(c));
    }
}

Test(oauth, desc_clean)
{
    char out[128];
    oauth_desc_clean("plain text: ok! (1/2) [x] {y} ~", out, sizeof out);
    cr_assert_str_eq(out, "plain text: ok! (1/2) [x] {y} ~");
    oauth_desc_clean("say \"hi\" C:\\path", out, sizeof out);
    cr_assert_str_eq(out, "say 'hi' C:'path");
    oauth_desc_clean("a\tb\nc\rd\x01"
                     "e\x7f"
                     "f\xc3\xa9g",
                     out, sizeof out);
    cr_assert_str_eq(out, "a b c def"
                          "g");
    cr_assert(oauth_desc_valid(out));
    oauth_desc_clean(NULL, out, sizeof out);
    cr_assert_str_eq(out, "");
}

Test(oauth, desc_clean_truncates)
{
    char out[6];
    oauth_desc_clean("abcdefghij", out, sizeof out);
    cr_assert_str_eq(out, "abcde");
    char one[1] = {'x'};
    oauth_desc_clean("abc", one, 1);
    cr_assert_eq(one[0], '\0');
    oauth_desc_clean("abc", NULL, 0); /* no write at all */
}

Test(oauth, desc_valid)
{
    cr_assert(oauth_desc_valid(""));
    cr_assert(oauth_desc_valid("code_challenge with method S256 is required"));
    cr_assert_not(oauth_desc_valid("a\"b"));
    cr_assert_not(oauth_desc_valid("a\\b"));
    cr_assert_not(oauth_desc_valid("a\nb"));
    cr_assert_not(oauth_desc_valid("\xc3\xa9"));
    cr_assert_not(oauth_desc_valid(NULL));
}
