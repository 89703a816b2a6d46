/* test_redirect.c — redirect-URI registration rule, matching, host display and building. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "redirect.h"

static void accept(const char *uri)
{
    const char *why = NULL;
    cr_assert_eq(redirect_uri_check(uri, &why), WT_OK, "%s refused: %s", uri, why);
}

static void refuse(const char *uri, const char *reason_part)
{
    const char *why = NULL;
    cr_assert_eq(redirect_uri_check(uri, &why), WT_INVALID, "%s accepted", uri);
    cr_assert_not_null(why);
    cr_assert(oauth_desc_valid(why));
    if (reason_part)
        cr_assert(strstr(why, reason_part), "%s: why = %s", uri, why);
}

Test(redirect_check, https_and_loopback_accepted)
{
    accept("https://app.example.com/callback");
    accept("https://app.example.com:8443/cb?x=1&y=2");
    accept("https://app.example.com");
    accept("HTTPS://App.Example.com/CB");
    accept("https://[2001:db8::1]/cb");
    accept("https://192.0.2.1/cb");
    accept("http://127.0.0.1/callback");
    accept("http://127.0.0.1:8080/callback");
    accept("http://[::1]:53682/");
    accept("http://localhost:8080/oauth/callback");
    accept("http://LOCALHOST/cb");
    accept("https://app.example.com/p%20ath?q=%2F");
}

Test(redirect_check, private_use_schemes_accepted)
{
    accept("cursor://anysphere.cursor-retrieval/oauth/user-callback");
    accept("com.example.app:/cb");
    accept("com.example.app:/oauth2redirect/example-provider");
    accept("myapp:///callback");
    accept("vscode://publisher.ext/auth");
}

Test(redirect_check, dangerous_schemes_refused)
{
    refuse("javascript:alert(1)", "scheme");
    refuse("JavaScript:alert(document.cookie)", "scheme");
    refuse("jAvAsCrIpT://x/%0Aalert(1)", "scheme");
    refuse("data:text/html,hi", "scheme");
    refuse("DATA:text/html;base64,PHNjcmlwdD4=", "scheme");
    refuse("vbscript:msgbox(1)", "scheme");
    refuse("VBScript:x", "scheme");
    refuse("file:///etc/passwd", "scheme");
    refuse("FiLe://host/share", "scheme");
}

Test(redirect_check, non_loopback_http_refused)
{
    refuse("http://app.example.com/cb", "https");
    refuse("http://127.0.0.1.evil.com/cb", "https");
    refuse("http://localhost.evil.com/cb", "https");
    refuse("http://127.0.0.2/cb", "https");
    refuse("http://10.0.0.1/cb", "https");
    refuse("http://[::2]/cb", "https");
    refuse("http://localhost%2eevil.com/", "https");
}

Test(redirect_check, userinfo_refused)
{
    refuse("http://localhost@evil.com/cb", "userinfo");
    refuse("https://user:pass@app.example.com/cb", "userinfo");
    refuse("http://127.0.0.1:80@evil.com/", "userinfo");
    refuse("https://a@b@c/", NULL);
}

Test(redirect_check, fragments_refused)
{
    refuse("https://app.example.com/cb#frag", "fragment");
    refuse("https://app.example.com/cb#", "fragment");
    refuse("http://127.0.0.1:1234/cb?x#y", "fragment");
    refuse("com.example.app:/cb#x", "fragment");
}

Test(redirect_check, relative_and_malformed_refused)
{
    refuse("", NULL);
    refuse(NULL, NULL);
    refuse("/callback", "absolute");
    refuse("//app.example.com/cb", "absolute");
    refuse("app.example.com/cb", "absolute");
    refuse("1app:/cb", "absolute");
    refuse("https//app.example.com", "absolute");
    refuse("https:/app", "host");
    refuse("https://", "host");
    refuse("https:///cb", "host");
    refuse("http://:8080/cb", "host");
    refuse("https://app.example.com/a b", "character");
    refuse("https://app.example.com/\"x", "character");
    refuse("https://app.example.com/<x>", "character");
    refuse("https://app.example.com/\\x", "character");
    refuse("https://app.example.com/\xc3\xa9", "character");
    refuse("https://app.example.com/\n", "character");
    refuse("https://app.example.com/%zz", "percent");
    refuse("https://app.example.com/%4", "percent");
    refuse("https://app.example.com/%", "percent");
    refuse("https://app.example.com:/cb", "port");
    refuse("https://app.example.com:65536/cb", "port");
    refuse("https://app.example.com:123456/cb", "port");
    refuse("https://app.example.com:8a/cb", "port");
    refuse("http://[::1/cb", "host");
    refuse("http://[]/cb", "host");
    refuse("http://[::1]x/cb", "host");
    refuse("http://[v1.x]/cb", "host");
    refuse("https://app.example.com/[x]", "character");
}

Test(redirect_check, length_cap)
{
    char *s = malloc(REDIRECT_URI_MAX + 2);
    memcpy(s, "https://a.example/", 18);
    memset(s + 18, 'x', REDIRECT_URI_MAX - 18);
    s[REDIRECT_URI_MAX] = '\0';
    accept(s);
    s[REDIRECT_URI_MAX] = 'x';
    s[REDIRECT_URI_MAX + 1] = '\0';
    refuse(s, "2000");
    free(s);
}

Test(redirect_check, why_may_be_null)
{
    cr_assert_eq(redirect_uri_check("javascript:x", NULL), WT_INVALID);
    cr_assert_eq(redirect_uri_check("https://a/", NULL), WT_OK);
}

Test(redirect, is_loopback)
{
    cr_assert(redirect_uri_is_loopback("http://127.0.0.1/cb"));
    cr_assert(redirect_uri_is_loopback("http://127.0.0.1:9000"));
    cr_assert(redirect_uri_is_loopback("http://[::1]:9000/"));
    cr_assert(redirect_uri_is_loopback("http://localhost:8080/callback"));
    cr_assert_not(redirect_uri_is_loopback("https://localhost/cb"));
    cr_assert_not(redirect_uri_is_loopback("http://127.0.0.1.evil.com/cb"));
    cr_assert_not(redirect_uri_is_loopback("http://localhost@evil.com/cb"));
    cr_assert_not(redirect_uri_is_loopback("http://evil.com@localhost/cb"));
    cr_assert_not(redirect_uri_is_loopback("http://localhost/cb#x"));
    cr_assert_not(redirect_uri_is_loopback("cursor://localhost/cb"));
    cr_assert_not(redirect_uri_is_loopback(NULL));
    cr_assert_not(redirect_uri_is_loopback("localhost"));
}

Test(redirect_match, exact)
{
    cr_assert(redirect_uri_match("https://app.example.com/cb", "https://app.example.com/cb"));
    cr_assert(redirect_uri_match("com.example.app:/cb", "com.example.app:/cb"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://app.example.com/cb/"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb/", "https://app.example.com/cb"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://app.example.com/CB"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://APP.example.com/cb"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "HTTPS://app.example.com/cb"));
    cr_assert_not(
        redirect_uri_match("https://app.example.com/cb", "https://app.example.com/cb?x=1"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://app.example.com/cb#x"));
    cr_assert_not(
        redirect_uri_match("https://app.example.com/cb", "https://app.example.com:443/cb"));
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://app.example.com/%63b"));
    cr_assert_not(
        redirect_uri_match("https://app.example.com/cb", "https://app.example.com.evil.com/cb"));
    cr_assert_not(redirect_uri_match(NULL, "https://a/"));
    cr_assert_not(redirect_uri_match("https://a/", NULL));
}

Test(redirect_match, non_loopback_port_must_match)
{
    cr_assert_not(
        redirect_uri_match("https://app.example.com:8443/cb", "https://app.example.com:8444/cb"));
    cr_assert_not(redirect_uri_match("https://localhost/cb", "https://localhost:8443/cb"));
    cr_assert_not(redirect_uri_match("cursor://localhost/cb", "cursor://localhost:1/cb"));
}

Test(redirect_match, loopback_any_port)
{
    cr_assert(redirect_uri_match("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"));
    cr_assert(
        redirect_uri_match("http://127.0.0.1:8080/callback", "http://127.0.0.1:9090/callback"));
    cr_assert(redirect_uri_match("http://127.0.0.1:8080/callback", "http://127.0.0.1/callback"));
    cr_assert(redirect_uri_match("http://[::1]/cb", "http://[::1]:6000/cb"));
    cr_assert(redirect_uri_match("http://[::1]:1/cb", "http://[::1]:65535/cb"));
    cr_assert(redirect_uri_match("http://localhost:8080/oauth/callback",
                                 "http://localhost:33333/oauth/callback"));
    cr_assert(redirect_uri_match("http://localhost", "http://localhost:8080"));
    cr_assert(redirect_uri_match("http://localhost/cb?a=1", "http://localhost:1/cb?a=1"));
}

Test(redirect_match, loopback_rest_must_match)
{
    /* different path, trailing slash, case, query, host or scheme */
    cr_assert_not(redirect_uri_match("http://127.0.0.1/callback", "http://127.0.0.1:5000/other"));
    cr_assert_not(
        redirect_uri_match("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback/"));
    cr_assert_not(
        redirect_uri_match("http://127.0.0.1/callback", "http://127.0.0.1:5000/Callback"));
    cr_assert_not(redirect_uri_match("http://localhost/cb?a=1", "http://localhost:1/cb?a=2"));
    cr_assert_not(redirect_uri_match("http://localhost/cb?a=1", "http://localhost:1/cb"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "http://localhost:1/cb?"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "http://127.0.0.1:1/cb"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://[::1]:1/cb"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "http://LOCALHOST:1/cb"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "https://localhost:1/cb"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "HTTP://localhost:1/cb"));
    /* hostile presented URIs */
    cr_assert_not(redirect_uri_match("http://localhost/cb", "http://localhost@evil.com/cb"));
    cr_assert_not(redirect_uri_match("http://localhost/cb", "http://localhost:1@evil.com/cb"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://127.0.0.1.evil.com/cb"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://127.0.0.1:/cb"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://127.0.0.1:1/cb#x"));
    cr_assert_not(redirect_uri_match("http://127.0.0.1/cb", "http://127.0.0.1:1/cb x"));
}

Test(redirect_match, port_flexibility_only_for_loopback_registrations)
{
    cr_assert_not(redirect_uri_match("https://app.example.com/cb", "https://app.example.com:1/cb"));
    cr_assert_not(redirect_uri_match("http://app.example.com/cb", "http://app.example.com:1/cb"));
}

static void host_is(const char *uri, const char *want)
{
    char out[64];
    redirect_uri_host(uri, out, sizeof out);
    cr_assert_str_eq(out, want, "%s", uri ? uri : "(null)");
}

Test(redirect, host_for_display)
{
    host_is("https://app.example.com:8443/cb?x=1", "app.example.com");
    host_is("http://127.0.0.1:8080/cb", "127.0.0.1");
    host_is("http://[::1]:8080/cb", "[::1]");
    host_is("cursor://anysphere.cursor-retrieval/oauth", "anysphere.cursor-retrieval");
    host_is("com.example.app:/cb", "com.example.app");
    host_is("myapp:///cb", "myapp");
    host_is("not a uri", "");
    host_is(NULL, "");
    char small[5];
    redirect_uri_host("https://app.example.com/", small, sizeof small);
    cr_assert_str_eq(small, "app.");
}

static void with_params_is(const char *uri, const char *const *kv, size_t n, const char *want)
{
    char *s = redirect_uri_with_params(uri, kv, n);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, want);
    free(s);
}

Test(redirect, with_params)
{
    const char *kv[] = {"code",  "oac_abc", "state", "{\"a\": 1}&x=y",
                        "error", NULL,      "iss",   "https://as.example.com"};
    with_params_is("https://app.example.com/cb", kv, 4,
                   "https://app.example.com/cb?code=oac_abc&state=%7B%22a%22%3A%201%7D%26x%3Dy"
                   "&iss=https%3A%2F%2Fas.example.com");
    with_params_is("https://app.example.com/cb?tenant=1", kv, 1,
                   "https://app.example.com/cb?tenant=1&code=oac_abc");
    with_params_is("https://app.example.com/cb?", kv, 1, "https://app.example.com/cb?code=oac_abc");
    with_params_is("https://app.example.com/cb?a=1&", kv, 1,
                   "https://app.example.com/cb?a=1&code=oac_abc");
    with_params_is("com.example.app:/cb", kv, 1, "com.example.app:/cb?code=oac_abc");
    with_params_is("https://app.example.com/cb#f", kv, 1,
                   "https://app.example.com/cb?code=oac_abc#f");
    with_params_is("https://app.example.com/cb", kv, 0, "https://app.example.com/cb");
    const char *nullkey[] = {NULL, "v", "k", "v"};
    with_params_is("https://a/", nullkey, 2, "https://a/?k=v");
    cr_assert_null(redirect_uri_with_params(NULL, kv, 1));
}

Test(redirect, with_params_cap)
{
    char *big = malloc(REDIRECT_LOCATION_MAX);
    memset(big, 'a', REDIRECT_LOCATION_MAX - 1);
    big[REDIRECT_LOCATION_MAX - 1] = '\0';
    const char *kv[] = {"state", big};
    cr_assert_null(redirect_uri_with_params("https://a/", kv, 1));
    free(big);
}
