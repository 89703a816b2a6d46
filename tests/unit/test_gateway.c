/* test_gateway.c — the gateway's pure rules (gateway.h): challenge text (order, escaping,
 * omitted parameters, length reporting), Authorization parsing, scopes_required per method,
 * the audience rule, access_token in a query, cookie scrubbing and forward-auth resource
 * matching. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "gateway.h"

/* ---------------------------------------------------------------- challenges */

static const char *fmt(const gw_challenge *c)
{
    static char out[1024];
    size_t n = gw_challenge_format(c, out, sizeof out);
    cr_assert_eq(n, strlen(out));
    return out;
}

Test(challenge, no_error)
{
    gw_challenge c = {.realm = "Wattle",
                      .resource_metadata =
                          "http://127.0.0.1:8400/.well-known/oauth-protected-resource/mcp",
                      .scope = "read:assets"};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"Wattle\", resource_metadata=\"http://127.0.0.1:8400/"
                              ".well-known/oauth-protected-resource/mcp\", scope=\"read:assets\"");
}

Test(challenge, scope_omitted_when_empty_or_null)
{
    gw_challenge c = {.realm = "Wattle", .resource_metadata = "https://as/m", .scope = ""};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"Wattle\", resource_metadata=\"https://as/m\"");
    c.scope = NULL;
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"Wattle\", resource_metadata=\"https://as/m\"");
}

Test(challenge, order_with_error)
{
    gw_challenge c = {.realm = "R",
                      .resource_metadata = "https://as/m",
                      .scope = "a b",
                      .error = "invalid_token",
                      .error_description = "the access token has expired"};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"R\", resource_metadata=\"https://as/m\", "
                              "scope=\"a b\", error=\"invalid_token\", "
                              "error_description=\"the access token has expired\"");
}

Test(challenge, realm_only_and_error)
{
    gw_challenge c = {.realm = "Wattle", .error = "insufficient_scope"};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"Wattle\", error=\"insufficient_scope\"");
    gw_challenge d = {.realm = NULL};
    cr_assert_str_eq(fmt(&d), "Bearer realm=\"\"");
}

Test(challenge, escaping)
{
    gw_challenge c = {.realm = "a \"quoted\" \\ realm", .error_description = "x\"y\\z"};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"a \\\"quoted\\\" \\\\ realm\", "
                              "error_description=\"x\\\"y\\\\z\"");
}

Test(challenge, control_characters_become_spaces)
{
    gw_challenge c = {.realm = "a\r\nInjected: yes\x7f"};
    cr_assert_str_eq(fmt(&c), "Bearer realm=\"a  Injected: yes \"");
}

Test(challenge, length_and_truncation)
{
    gw_challenge c = {.realm = "Wattle", .scope = "read:assets"};
    const char *full = "Bearer realm=\"Wattle\", scope=\"read:assets\"";
    cr_assert_eq(gw_challenge_format(&c, NULL, 0), strlen(full));
    char small[10];
    cr_assert_eq(gw_challenge_format(&c, small, sizeof small), strlen(full));
    cr_assert_str_eq(small, "Bearer re");
}

/* ---------------------------------------------------------------- Authorization */

static enum gw_auth parse(const char *v, const char **tok, size_t *toklen)
{
    const char *why = NULL;
    enum gw_auth r = gw_bearer_parse(v, strlen(v), tok, toklen, &why);
    if (r == GW_AUTH_MALFORMED)
        cr_assert_not_null(why, "a malformed header must say why");
    return r;
}

static void assert_token(const char *header, const char *want)
{
    const char *tok;
    size_t n;
    cr_assert_eq(parse(header, &tok, &n), GW_AUTH_BEARER, "%s", header);
    cr_assert_eq(n, strlen(want), "%s", header);
    cr_assert(memcmp(tok, want, n) == 0, "%s", header);
}

static void assert_kind(const char *header, enum gw_auth want)
{
    const char *tok;
    size_t n;
    cr_assert_eq(parse(header, &tok, &n), want, "%s", header);
}

Test(bearer, scheme_case_insensitive)
{
    assert_token("Bearer oat_abc", "oat_abc");
    assert_token("bearer oat_abc", "oat_abc");
    assert_token("BEARER oat_abc", "oat_abc");
    assert_token("bEaReR oat_abc", "oat_abc");
}

Test(bearer, b64token_charset)
{
    assert_token("Bearer aZ09-._~+/", "aZ09-._~+/");
    assert_token("Bearer abc==", "abc==");
    assert_token("Bearer abc ", "abc"); /* trailing spaces tolerated */
}

Test(bearer, spaces_after_scheme)
{
    assert_token("Bearer  oat_abc", "oat_abc"); /* RFC 6750: 1*SP */
    assert_kind("Bearer\toat_abc", GW_AUTH_MALFORMED);
    assert_kind("Bearer,oat_abc", GW_AUTH_MALFORMED);
}

Test(bearer, other_schemes)
{
    assert_kind("Basic Zm9vOmJhcg==", GW_AUTH_OTHER);
    assert_kind("DPoP oat_abc", GW_AUTH_OTHER);
    assert_kind("Bearerx oat_abc", GW_AUTH_OTHER);
    assert_kind("Negotiate", GW_AUTH_OTHER);
}

Test(bearer, malformed)
{
    assert_kind("", GW_AUTH_MALFORMED);
    assert_kind(" Bearer oat_abc", GW_AUTH_MALFORMED);
    assert_kind("Bearer", GW_AUTH_MALFORMED);
    assert_kind("Bearer ", GW_AUTH_MALFORMED);
    assert_kind("Bearer    ", GW_AUTH_MALFORMED);
    assert_kind("Bearer a b", GW_AUTH_MALFORMED);
    assert_kind("Bearer a,b", GW_AUTH_MALFORMED);
    assert_kind("Bearer a=b", GW_AUTH_MALFORMED); /* '=' only as padding at the end */
    assert_kind("Bearer \"abc\"", GW_AUTH_MALFORMED);
    assert_kind("Bearer ab\tc", GW_AUTH_MALFORMED);
    assert_kind("Bearer =abc", GW_AUTH_MALFORMED);
    assert_kind("Bearer abc\x01", GW_AUTH_MALFORMED);
    assert_kind("Bearer ab%63", GW_AUTH_MALFORMED);
}

Test(bearer, not_nul_terminated)
{
    const char v[] = "Bearer oat_abcXXXX";
    const char *tok, *why;
    size_t n;
    cr_assert_eq(gw_bearer_parse(v, 14, &tok, &n, &why), GW_AUTH_BEARER);
    cr_assert_eq(n, 7);
    cr_assert(memcmp(tok, "oat_abc", 7) == 0);
}

/* ---------------------------------------------------------------- scopes_required */

static const char *req_scopes(const char *json, const char *method)
{
    static char out[GW_SCOPES_MAX];
    json_t *sr = json ? json_loads(json, 0, NULL) : NULL;
    if (json)
        cr_assert_not_null(sr, "%s", json);
    cr_assert_eq(gw_required_scopes(sr, method, strlen(method), out, sizeof out), WT_OK);
    json_decref(sr);
    return out;
}

Test(scopes_required, list_applies_to_every_method)
{
    cr_assert_str_eq(req_scopes("[\"read:assets\"]", "GET"), "read:assets");
    cr_assert_str_eq(req_scopes("[\"read:assets\",\"write:assets\"]", "DELETE"),
                     "read:assets write:assets");
    cr_assert_str_eq(req_scopes("[]", "GET"), "");
    cr_assert_str_eq(req_scopes(NULL, "GET"), "");
}

Test(scopes_required, per_method)
{
    const char *sr = "{\"GET\":[\"read:assets\"],\"POST\":[\"write:assets\",\"read:assets\"]}";
    cr_assert_str_eq(req_scopes(sr, "GET"), "read:assets");
    cr_assert_str_eq(req_scopes(sr, "POST"), "write:assets read:assets");
    cr_assert_str_eq(req_scopes(sr, "HEAD"), "read:assets"); /* HEAD falls back to GET */
    cr_assert_str_eq(req_scopes(sr, "DELETE"), "");          /* not listed, no "*": none */
    cr_assert_str_eq(req_scopes(sr, "get"), "");             /* methods are case-sensitive */
}

Test(scopes_required, star_fallback)
{
    const char *sr = "{\"GET\":[\"read:assets\"],\"*\":[\"write:assets\"]}";
    cr_assert_str_eq(req_scopes(sr, "GET"), "read:assets");
    cr_assert_str_eq(req_scopes(sr, "PATCH"), "write:assets");
    cr_assert_str_eq(req_scopes(sr, "HEAD"), "read:assets");
    const char *sr2 = "{\"HEAD\":[],\"*\":[\"write:assets\"]}";
    cr_assert_str_eq(req_scopes(sr2, "HEAD"), "");
    cr_assert_str_eq(req_scopes(sr2, "GET"), "write:assets");
}

Test(scopes_required, long_method_uses_fallback)
{
    const char *sr = "{\"*\":[\"a\"]}";
    cr_assert_str_eq(req_scopes(sr, "AVERYVERYVERYVERYVERYLONGMETHODNAME"), "a");
}

Test(scopes_required, too_small_and_bad_shapes)
{
    char out[8];
    json_t *sr = json_loads("[\"read:assets\"]", 0, NULL);
    cr_assert_eq(gw_required_scopes(sr, "GET", 3, out, sizeof out), WT_TOOBIG);
    cr_assert_str_eq(out, "");
    json_decref(sr);
    sr = json_string("read:assets");
    cr_assert_eq(gw_required_scopes(sr, "GET", 3, out, sizeof out), WT_INVALID);
    json_decref(sr);
    sr = json_loads("{\"GET\":\"read:assets\"}", 0, NULL);
    cr_assert_eq(gw_required_scopes(sr, "GET", 3, out, sizeof out), WT_INVALID);
    json_decref(sr);
}

Test(scopes_required, missing_scope)
{
    const char *m;
    size_t n;
    cr_assert_not(gw_missing_scope("read:assets write:assets", "write:assets", &m, &n));
    cr_assert_not(gw_missing_scope("read:assets", "", &m, &n));
    cr_assert_not(gw_missing_scope("", NULL, &m, &n));
    cr_assert(gw_missing_scope("read:assets", "read:assets write:assets", &m, &n));
    cr_assert_eq(n, strlen("write:assets"));
    cr_assert(memcmp(m, "write:assets", n) == 0);
    cr_assert(gw_missing_scope("read:assetsX", "read:assets", &m, &n)); /* whole tokens */
    cr_assert(gw_missing_scope("", "a", &m, &n));
}

/* ---------------------------------------------------------------- audience */

Test(audience, normalised_comparison)
{
    const char *norm = "https://api.example.com/mcp";
    cr_assert(gw_audience_matches("https://api.example.com/mcp", norm));
    cr_assert(gw_audience_matches("HTTPS://API.Example.COM/mcp", norm));
    cr_assert(gw_audience_matches("https://api.example.com/mcp/", norm));
    cr_assert_not(gw_audience_matches("https://api.example.com/MCP", norm)); /* path: exact */
    cr_assert_not(gw_audience_matches("https://api.example.com/mcp2", norm));
    cr_assert_not(gw_audience_matches("https://api.example.com/mc", norm));
    cr_assert_not(gw_audience_matches("http://api.example.com/mcp", norm));
    cr_assert_not(gw_audience_matches("https://api.example.com/mcp//", norm));
    cr_assert_not(gw_audience_matches("", norm));
    cr_assert_not(gw_audience_matches(NULL, norm));
    cr_assert_not(gw_audience_matches("urn:x", norm));
}

Test(audience, origin_only)
{
    cr_assert(gw_audience_matches("https://h", "https://h"));
    cr_assert(gw_audience_matches("https://H/", "https://h"));
    cr_assert(gw_audience_matches("http://127.0.0.1:8400/a", "http://127.0.0.1:8400/a"));
    cr_assert_not(gw_audience_matches("http://127.0.0.1:8400/a", "http://127.0.0.1:8400/b"));
}

/* ---------------------------------------------------------------- query */

static bool qat(const char *q)
{
    return gw_query_has_access_token(q, strlen(q));
}

Test(query, access_token)
{
    cr_assert(qat("access_token=oat_x"));
    cr_assert(qat("a=1&access_token=oat_x&b=2"));
    cr_assert(qat("access_token"));
    cr_assert(qat("access_token="));
    cr_assert(qat("access%5Ftoken=x"));
    cr_assert(qat("access%5ftoken=x"));
    cr_assert_not(qat(""));
    cr_assert_not(qat("x=access_token"));
    cr_assert_not(qat("access_tokens=x"));
    cr_assert_not(qat("my_access_token=x"));
    cr_assert_not(qat("access_toke"));
    cr_assert_not(qat("access_token%"));
}

/* ---------------------------------------------------------------- cookies */

static const char *strip(const char *in)
{
    static char out[512];
    size_t n = gw_strip_cookies(in, strlen(in), out);
    cr_assert_leq(n, 2 * strlen(in));
    out[n] = '\0';
    return out;
}

Test(cookies, wattle_cookie_names)
{
    cr_assert(gw_is_wattle_cookie("wattle_session", 14));
    cr_assert(gw_is_wattle_cookie("wattle_bid", 10));
    cr_assert(gw_is_wattle_cookie("__Host-wattle_session", 21));
    cr_assert(gw_is_wattle_cookie("__Host-wattle_bid", 17));
    cr_assert(gw_is_wattle_cookie("__Secure-wattle_bid", 19));
    cr_assert_not(gw_is_wattle_cookie("session", 7));
    cr_assert_not(gw_is_wattle_cookie("wattle", 6));
    cr_assert_not(gw_is_wattle_cookie("my_wattle_bid", 13));
    cr_assert_not(gw_is_wattle_cookie("__Host-session", 14));
}

Test(cookies, strip)
{
    cr_assert_str_eq(strip("a=1; wattle_session=x; b=2"), "a=1; b=2");
    cr_assert_str_eq(strip("wattle_bid=x"), "");
    cr_assert_str_eq(strip("wattle_bid=x; __Host-wattle_session=y"), "");
    cr_assert_str_eq(strip("a=1;b=2"), "a=1; b=2");
    cr_assert_str_eq(strip("a=1;wattle_bid=2;c=3"), "a=1; c=3");
    cr_assert_str_eq(strip(" a=1 ;; wattle_bid=2 ; c= 3 "), "a=1; c= 3");
    cr_assert_str_eq(strip("theme=dark"), "theme=dark");
    cr_assert_str_eq(strip("flag"), "flag");
    cr_assert_str_eq(strip(""), "");
    cr_assert_str_eq(strip("x=wattle_bid=1"), "x=wattle_bid=1");
}

Test(cookies, worst_case_growth)
{
    /* "a;b;c" → "a; b; c": more bytes than the input, within 2 × len */
    cr_assert_str_eq(strip("a;b;c;d"), "a; b; c; d");
}

/* ---------------------------------------------------------------- forward-auth */

static void host_is(const char *v, const char *want)
{
    const char *h;
    size_t n;
    gw_host_name(v, strlen(v), &h, &n);
    cr_assert_eq(n, strlen(want), "%s", v);
    cr_assert(memcmp(h, want, n) == 0, "%s", v);
}

Test(forward, host_name)
{
    host_is("api.example.com", "api.example.com");
    host_is("api.example.com:8443", "api.example.com");
    host_is(" api.example.com , proxy.local", "api.example.com");
    host_is("[::1]:8080", "::1");
    host_is("[::1]", "::1");
    host_is("127.0.0.1:8400", "127.0.0.1");
    host_is("", "");
}

static app_resource RES[3];
static app A = {.res = RES, .nres = 3};

static void setup_resources(void)
{
    RES[0].resource_norm = "http://127.0.0.1:8400/mcp";
    RES[1].resource_norm = "https://api.example.com/v1";
    RES[2].resource_norm = "https://api.example.com";
}

static ssize_t match(const char *host, const char *path)
{
    return gw_match_resource(&A, host, host ? strlen(host) : 0, path, strlen(path));
}

Test(forward, match_by_host_and_path, .init = setup_resources)
{
    cr_assert_eq(match("127.0.0.1", "/mcp"), 0);
    cr_assert_eq(match("127.0.0.1", "/mcp/tools/list"), 0);
    cr_assert_eq(match("127.0.0.1", "/mcpx"), -1);
    cr_assert_eq(match("127.0.0.1", "/"), -1);
    cr_assert_eq(match("API.example.com", "/v1/x"), 1); /* longest identifier path wins */
    cr_assert_eq(match("api.example.com", "/v1"), 1);
    cr_assert_eq(match("api.example.com", "/v2/x"), 2); /* the origin matches every path */
    cr_assert_eq(match("api.example.com", "/"), 2);
    cr_assert_eq(match("other.example.com", "/v1/x"), -1);
    cr_assert_eq(match("example.com", "/mcp"), -1);
}

Test(forward, match_without_host, .init = setup_resources)
{
    cr_assert_eq(match(NULL, "/mcp/x"), 0);
    cr_assert_eq(match(NULL, "/v1/x"), 1);
    cr_assert_eq(match(NULL, "/zzz"), 2);
}
