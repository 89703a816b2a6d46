/* test_cimd.c — Client ID Metadata Documents (src/cimd.c): the SSRF address classifier (every
 * refused range, IPv4 embedded in IPv6), the client_id URL rules, the cache lifetime, the
 * document → client document mapping and its refusals, the fetch's refusals that need no
 * network (forbidden addresses, a closed loopback port), and on a temporary store the writer
 * op (create, refresh, the cap, never overwriting another client) and the idle purge. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cimd.h"
#include "gc.h"
#include "tmpstore.h"
#include "clients.h"
#include "embedded.h"
#include "grants.h"
#include "records.h"

/* ---- the address classifier ---------------------------------------------------------- */

static const char *classify(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1, "bad test address %s", text);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, text, &s4->sin_addr), 1, "bad test address %s", text);
    }
    return cimd_addr_forbidden((struct sockaddr *)&ss);
}

Test(cimd, addresses_refused)
{
    static const struct {
        const char *addr, *what;
    } cases[] = {
        {"0.0.0.0", "unspecified"},
        {"0.1.2.3", "this network"},
        {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},
        {"100.64.0.1", "carrier-grade NAT"},
        {"100.127.255.254", "carrier-grade NAT"},
        {"127.0.0.1", "loopback"},
        {"127.255.0.9", "loopback"},
        {"169.254.169.254", "link-local"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"192.0.0.8", "reserved"},
        {"192.0.2.1", "documentation"},
        {"192.88.99.1", "reserved"},
        {"192.168.1.1", "private"},
        {"198.18.0.1", "benchmarking"},
        {"198.19.255.1", "benchmarking"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.9", "documentation"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.255", "broadcast"},
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:192.168.0.1", "private"},
        {"::ffff:0.0.0.0", "unspecified"},
        {"::ffff:0:127.0.0.1", "loopback"}, /* IPv4-translated */
        {"64:ff9b::7f00:1", "loopback"},    /* NAT64 of 127.0.0.1 */
        {"64:ff9b::a00:1", "private"},      /* NAT64 of 10.0.0.1 */
        {"2002:7f00:1::1", "loopback"},     /* 6to4 of 127.0.0.1 */
        {"2002:c0a8:101::", "private"},     /* 6to4 of 192.168.1.1 */
        {"::127.0.0.1", "IPv4-compatible"},
        {"::10.0.0.1", "IPv4-compatible"},
        {"64:ff9b:1::1", "private"},
        {"100::1", "discard"},
        {"2001::1", "Teredo"},
        {"2001:db8::1", "documentation"},
        {"fc00::1", "private"},
        {"fd12:3456::1", "private"},
        {"fe80::1", "link-local"},
        {"febf::1", "link-local"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"ff0e::1", "multicast"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *w = classify(cases[i].addr);
        cr_expect_not_null(w, "%s must be refused", cases[i].addr);
        if (w)
            cr_expect(strstr(w, cases[i].what), "%s: \"%s\" lacks \"%s\"", cases[i].addr, w,
                      cases[i].what);
    }
}

Test(cimd, public_addresses_allowed)
{
    static const char *const ok[] = {
        "1.1.1.1",         "8.8.8.8",          "9.255.255.255",   "11.0.0.1",
        "100.63.255.255",  "100.128.0.1",      "126.255.255.255", "128.0.0.1",
        "169.253.255.255", "169.255.0.1",      "172.15.255.255",  "172.32.0.1",
        "192.0.1.1",       "192.167.255.255",  "192.169.0.1",     "198.17.255.255",
        "198.20.0.1",      "223.255.255.255",  "2606:4700::1111", "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",  "64:ff9b::808:808", "2002:808:808::1", "fbff::1",
        "fe7f::1",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        const char *w = classify(ok[i]);
        cr_expect_null(w, "%s must be allowed (got \"%s\")", ok[i], w ? w : "");
    }
}

Test(cimd, other_families_refused)
{
    struct sockaddr sa = {.sa_family = AF_UNIX};
    cr_assert_not_null(cimd_addr_forbidden(&sa));
    cr_assert_not_null(cimd_addr_forbidden(NULL));
}

/* ---- the URL -------------------------------------------------------------------------- */

Test(cimd, valid_urls)
{
    static const struct {
        const char *url, *host;
        int port;
        bool literal;
    } cases[] = {
        {"https://app.example.com/client.json", "app.example.com", 443, false},
        {"https://app.example.com/", "app.example.com", 443, false},
        {"https://App.Example.COM:8443/a/b/c?x=1&y=2", "App.Example.COM", 8443, false},
        {"https://app.example.com./c", "app.example.com.", 443, false},
        {"https://my_host.example/c", "my_host.example", 443, false},
        {"https://127.0.0.1:9/c", "127.0.0.1", 9, true},
        {"https://[::1]:65535/c", "::1", 65535, true},
        {"https://[2001:db8::1]/c", "2001:db8::1", 443, true},
        {"https://x.example/a%2Fb/..x/.y/%2e%2e%2e", "x.example", 443, false},
        {"https://x.example/a/b/?q=/../", "x.example", 443, false},
        {"https://x9.example/c", "x9.example", 443, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cimd_url u;
        char why[256] = "";
        cr_expect_eq(cimd_url_parse(cases[i].url, &u, why, sizeof why), WT_OK, "%s: %s",
                     cases[i].url, why);
        cr_expect_str_eq(u.host, cases[i].host, "%s", cases[i].url);
        cr_expect_eq(u.port, cases[i].port, "%s", cases[i].url);
        cr_expect_eq(u.ip_literal, cases[i].literal, "%s", cases[i].url);
    }
    cr_assert(cimd_is_url("https://x"));
    cr_assert(!cimd_is_url("http://x/y"));
    cr_assert(!cimd_is_url("HTTPS://x/y"));
    cr_assert(!cimd_is_url(NULL));
}

Test(cimd, url_length_cap)
{
    char url[CIMD_URL_MAX + 2];
    cimd_url u;
    char why[256];
    memset(url, 'a', sizeof url);
    memcpy(url, "https://h.example/", 18);
    url[CIMD_URL_MAX] = '\0';
    cr_assert_eq(cimd_url_parse(url, &u, why, sizeof why), WT_OK, "%s", why);
    url[CIMD_URL_MAX] = 'a';
    url[CIMD_URL_MAX + 1] = '\0';
    cr_assert_eq(cimd_url_parse(url, &u, why, sizeof why), WT_INVALID);
    cr_assert(strstr(why, "longer than 400"), "%s", why);
}

Test(cimd, invalid_urls)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        {"http://app.example/c", "https://"},
        {"HTTPS://app.example/c", "https://"},
        {"https:/app.example/c", "https://"},
        {"https://app.example", "path"},
        {"https://app.example?x=1", "path"},
        {"https://app.example:8443", "path"},
        {"https://app.example/c#x", "fragment"},
        {"https://app.example/c#", "fragment"},
        {"https://user@app.example/c", "user name"},
        {"https://user:pw@app.example/c", "user name"},
        {"https://app.example/./c", "'.'"},
        {"https://app.example/a/../c", "'..'"},
        {"https://app.example/a/..", "'..'"},
        {"https://app.example/a/%2e/c", "'.'"},
        {"https://app.example/a/%2E%2e/c", "'..'"},
        {"https://app.example/a/.%2e", "'..'"},
        {"https://app.example/c d", "character"},
        {"https://app.example/c\"", "character"},
        {"https://app.example/c\\d", "character"},
        {"https://app.example/c<", "character"},
        {"https://app.example/\xc3\xa9", "character"},
        {"https://app.example/c%zz", "escape"},
        {"https://app.example/c%2", "escape"},
        {"https:///c", "no host"},
        {"https://:443/c", "no host"},
        {"https://a..b/c", "empty label"},
        {"https://.a/c", "empty label"},
        {"https://app.example:/c", "port"},
        {"https://app.example:0/c", "port"},
        {"https://app.example:65536/c", "port"},
        {"https://app.example:123456/c", "port"},
        {"https://app.example:+1/c", "port"},
        {"https://app.example:8a/c", "port"},
        {"https://[::1/c", "IPv6"},
        {"https://[]/c", "IPv6"},
        {"https://[zz::1]/c", "IPv6"},
        {"https://[::1]x/c", "IPv6"},
        {"https://[fe80::1%25eth0]/c", "IPv6"},
        {"https://127.1/c", "dotted-quad"},
        {"https://0x7f.1/c", "dotted-quad"},
        {"https://2130706433/c", "dotted-quad"},
        {"https://1.2.3.4.5/c", "dotted-quad"},
        {"https://a.example.9/c", "dotted-quad"},
        {"https://a!b.example/c", "letters, digits"},
        {"https://a%41.example/c", "letters, digits"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cimd_url u;
        char why[256] = "";
        cr_expect_eq(cimd_url_parse(cases[i].url, &u, why, sizeof why), WT_INVALID, "%s",
                     cases[i].url);
        cr_expect(strstr(why, cases[i].why), "%s: \"%s\" lacks \"%s\"", cases[i].url, why,
                  cases[i].why);
    }
    cimd_url u;
    char why[64];
    cr_assert_eq(cimd_url_parse(NULL, &u, why, sizeof why), WT_INVALID);
}

/* ---- the cache lifetime --------------------------------------------------------------- */

Test(cimd, ttl)
{
    cr_assert_eq(cimd_ttl(NULL, 3600), 3600);
    cr_assert_eq(cimd_ttl("", 3600), 3600);
    cr_assert_eq(cimd_ttl("max-age=600", 3600), 600);
    cr_assert_eq(cimd_ttl("public, max-age=7200", 3600), 3600, "never above cache_ttl");
    cr_assert_eq(cimd_ttl("Max-Age=\"900\"", 3600), 900);
    cr_assert_eq(cimd_ttl("max-age=10", 3600), CIMD_MIN_TTL, "never below the minimum");
    cr_assert_eq(cimd_ttl("max-age=0", 3600), CIMD_MIN_TTL);
    cr_assert_eq(cimd_ttl("no-store", 3600), CIMD_MIN_TTL);
    cr_assert_eq(cimd_ttl("private, no-cache", 3600), CIMD_MIN_TTL);
    cr_assert_eq(cimd_ttl("max-age=900, max-age=300", 3600), 300);
    cr_assert_eq(cimd_ttl("max-age=abc", 3600), 3600);
    cr_assert_eq(cimd_ttl("s-maxage=100", 3600), 3600);
    cr_assert_eq(cimd_ttl("max-age=99999999999999999999999", 3600), 3600);
    cr_assert_eq(cimd_ttl("max-age=120", 60), 60);
}

/* ---- the document --------------------------------------------------------------------- */

static scope_catalogue cat;
#define URL "https://app.example/client.json"
#define EC_JWK                                                                                     \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","     \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"

static void load_cat(void)
{
    const struct embedded_file *f = embedded_find("scopes/gumnut.json");
    char err[256] = "";
    cr_assert_not_null(f);
    cr_assert_eq(scope_catalogue_load(f->data, f->len, "gumnut", &cat, err, sizeof err), WT_OK,
                 "%s", err);
}

static void unload_cat(void)
{
    scope_catalogue_free(&cat);
}

TestSuite(cimd_doc, .init = load_cat, .fini = unload_cat);

static json_t *build_ok(const char *body)
{
    json_t *doc = NULL;
    char why[512] = "";
    wt_status st = cimd_client_doc(URL, "app.example", body, strlen(body), &cat, 1000, 600, &doc,
                                   why, sizeof why);
    cr_assert_eq(st, WT_OK, "%s: %s", body, why);
    cr_assert_not_null(doc);
    return doc;
}

static void build_fails(const char *body, wt_status want, const char *needle)
{
    json_t *doc = NULL;
    char why[512] = "";
    wt_status st = cimd_client_doc(URL, "app.example", body, strlen(body), &cat, 1000, 600, &doc,
                                   why, sizeof why);
    cr_expect_eq(st, want, "%s: got %d (%s)", body, st, why);
    cr_expect_null(doc);
    cr_expect(strstr(why, needle), "%s: \"%s\" lacks \"%s\"", body, why, needle);
    json_decref(doc);
}

static const char *str(const json_t *doc, const char *k)
{
    return json_string_value(json_object_get(doc, k));
}

Test(cimd_doc, minimal_document)
{
    json_t *d =
        build_ok("{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://app.example/cb\"]}");
    cr_assert_str_eq(str(d, "client_id"), URL);
    cr_assert_str_eq(str(d, "source"), "cimd");
    cr_assert_str_eq(str(d, "client_name"), "app.example", "the name defaults to the host");
    cr_assert_str_eq(str(d, "token_endpoint_auth_method"), "none");
    cr_assert_null(json_object_get(d, "secret_sha256"));
    json_t *g = json_object_get(d, "grant_types");
    cr_assert_eq(json_array_size(g), 2);
    cr_assert_str_eq(json_string_value(json_array_get(g, 0)), "authorization_code");
    cr_assert_str_eq(json_string_value(json_array_get(g, 1)), "refresh_token");
    cr_assert_eq(json_integer_value(json_object_get(d, "fetched_at")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(d, "cache_until")), 1600);
    /* the whole catalogue (cimd.h: policy) */
    for (size_t i = 0; i < cat.n; i++)
        cr_assert(scope_has(str(d, "scope"), cat.v[i].name), "%s", cat.v[i].name);
    cr_assert(cimd_fresh(d, 1599));
    cr_assert(!cimd_fresh(d, 1600));
    json_decref(d);
}

Test(cimd_doc, full_document)
{
    json_t *d = build_ok("{\"client_id\":\"" URL "\",\"client_name\":\"My App\","
                         "\"redirect_uris\":[\"http://127.0.0.1/cb\",\"http://[::1]/cb\"],"
                         "\"grant_types\":[\"authorization_code\"],"
                         "\"response_types\":[\"code\"],"
                         "\"token_endpoint_auth_method\":\"none\","
                         "\"client_uri\":\"https://app.example/\","
                         "\"logo_uri\":\"https://app.example/logo.png\","
                         "\"scope\":\"read:assets nonsense\",\"software_id\":\"x\"}");
    cr_assert_str_eq(str(d, "client_name"), "My App");
    cr_assert_str_eq(str(d, "client_uri"), "https://app.example/");
    cr_assert_str_eq(str(d, "logo_uri"), "https://app.example/logo.png");
    cr_assert_eq(json_array_size(json_object_get(d, "grant_types")), 1);
    cr_assert_eq(json_array_size(json_object_get(d, "redirect_uris")), 2);
    cr_assert_null(json_object_get(d, "software_id"), "unknown fields are not kept");
    json_decref(d);
}

Test(cimd_doc, private_key_jwt)
{
    json_t *d = build_ok("{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
                         "\"token_endpoint_auth_method\":\"private_key_jwt\","
                         "\"jwks\":{\"keys\":[" EC_JWK "]}}");
    cr_assert_str_eq(str(d, "token_endpoint_auth_method"), "private_key_jwt");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(d, "jwks"), "keys")), 1);
    cr_assert_null(json_object_get(d, "secret_sha256"));
    json_decref(d);
}

Test(cimd_doc, refusals)
{
    static const struct {
        const char *body, *why;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"", "not valid JSON"},
        {"[\"" URL "\"]", "not a JSON object"},
        {"{\"client_id\":\"" URL "\",\"client_id\":\"" URL
         "\",\"redirect_uris\":[\"https://a.example/cb\"]}",
         "not valid JSON"},
        {"{\"redirect_uris\":[\"https://a.example/cb\"]}", "no client_id"},
        {"{\"client_id\":5,\"redirect_uris\":[\"https://a.example/cb\"]}", "no client_id"},
        {"{\"client_id\":\"" URL "/\",\"redirect_uris\":[\"https://a.example/cb\"]}",
         "not the URL"},
        {"{\"client_id\":\"https://App.example/client.json\",\"redirect_uris\":[\"x\"]}",
         "not the URL"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"client_secret\":\"s\"}",
         "client_secret"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"client_secret_expires_at\":0}",
         "client_secret"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"client_secret_basic\"}",
         "client secret"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"client_secret_post\"}",
         "client secret"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"client_secret_jwt\"}",
         "client secret"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"tls_client_auth\"}",
         "not supported"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":7}",
         "not a string"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"private_key_jwt\"}",
         "no jwks"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks_uri\":\"https://a.example/j\"}",
         "jwks_uri is not supported"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks_uri\":\"https://a.example/j\","
         "\"jwks\":{\"keys\":[" EC_JWK "]}}",
         "both"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks\":{\"keys\":[]}}",
         "jwks"},
        {"{\"client_id\":\"" URL "\"}", "no redirect_uris"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[]}", "redirect_uris must be"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":\"https://a.example/cb\"}",
         "redirect_uris must be"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[7]}", "redirect_uris[0]"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"http://a.example/cb\"]}",
         "redirect URI 1"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb#f\"]}",
         "redirect URI 1"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"grant_types\":[\"client_credentials\"]}",
         "confidential"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"grant_types\":[\"implicit\"]}",
         "unsupported grant type"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"grant_types\":[]}",
         "grant_types must be"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"response_types\":[\"token\"]}",
         "response_types"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"response_types\":\"code\"}",
         "response_types"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"client_name\":[\"x\"]}",
         "client_name is not a string"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"client_uri\":\"http://a.example/\"}",
         "client_uri must be an https URL"},
        {"{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
         "\"logo_uri\":\"javascript:alert(1)\"}",
         "logo_uri must be an https URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        build_fails(cases[i].body, WT_INVALID, cases[i].why);
}

Test(cimd_doc, long_name_refused)
{
    char body[1024];
    char name[256];
    memset(name, 'n', 201);
    name[201] = '\0';
    snprintf(body, sizeof body,
             "{\"client_id\":\"" URL "\",\"redirect_uris\":[\"https://a.example/cb\"],"
             "\"client_name\":\"%s\"}",
             name);
    build_fails(body, WT_INVALID, "client_name");
}

Test(cimd_doc, size_cap)
{
    size_t n = CIMD_DOC_MAX + 1;
    char *body = malloc(n + 1);
    cr_assert_not_null(body);
    int k = snprintf(body, n + 1,
                     "{\"client_id\":\"" URL "\",\"redirect_uris\":"
                     "[\"https://a.example/cb\"],\"pad\":\"");
    memset(body + k, 'x', n - (size_t)k - 2);
    memcpy(body + n - 2, "\"}", 2);
    body[n] = '\0';
    json_t *doc = NULL;
    char why[256] = "";
    cr_assert_eq(cimd_client_doc(URL, "app.example", body, n, &cat, 0, 60, &doc, why, sizeof why),
                 WT_TOOBIG);
    cr_assert(strstr(why, "larger than"), "%s", why);
    /* exactly at the cap is fine */
    body[n - 3] = '"';
    body[n - 2] = '}';
    body[n - 1] = '\0';
    cr_assert_eq(
        cimd_client_doc(URL, "app.example", body, n - 1, &cat, 0, 60, &doc, why, sizeof why), WT_OK,
        "%s", why);
    json_decref(doc);
    free(body);
}

Test(cimd_doc, fresh_needs_a_cimd_source)
{
    json_t *d = json_pack("{s:s, s:I}", "source", "dcr", "cache_until", (json_int_t)5000);
    cr_assert(!cimd_fresh(d, 10));
    json_object_set_new(d, "source", json_string("cimd"));
    cr_assert(cimd_fresh(d, 10));
    json_object_del(d, "cache_until");
    cr_assert(!cimd_fresh(d, 10));
    json_decref(d);
    cr_assert(!cimd_fresh(NULL, 0));
}

/* ---- the fetch's refusals that need no network ---------------------------------------- */

static wt_status fetch(const char *url, bool allow_private, char *why, size_t n)
{
    cimd_url u;
    cimd_response r;
    cr_assert_eq(cimd_url_parse(url, &u, why, n), WT_OK, "%s", why);
    cimd_fetch_opts o = {.allow_private = allow_private, .timeout_ms = 2000};
    wt_status st = cimd_fetch(url, &u, &o, &r, why, n);
    cr_assert_null(r.body);
    return st;
}

Test(cimd, fetch_refuses_forbidden_addresses)
{
    char why[512];
    cr_assert_eq(fetch("https://127.0.0.1:1/c", false, why, sizeof why), WT_DENIED);
    cr_assert(strstr(why, "loopback") && strstr(why, "not allowed"), "%s", why);
    cr_assert_eq(fetch("https://[::1]:1/c", false, why, sizeof why), WT_DENIED);
    cr_assert_eq(fetch("https://[::ffff:192.168.0.1]:1/c", false, why, sizeof why), WT_DENIED);
    cr_assert(strstr(why, "private"), "%s", why);
    cr_assert_eq(fetch("https://169.254.169.254/latest/meta-data", false, why, sizeof why),
                 WT_DENIED);
    cr_assert(strstr(why, "link-local"), "%s", why);
    cr_assert_eq(fetch("https://localhost:1/c", false, why, sizeof why), WT_DENIED);
}

Test(cimd, fetch_reports_a_closed_port)
{
    char why[512];
    /* allowed, but nothing listens on port 1 */
    cr_assert_eq(fetch("https://127.0.0.1:1/c", true, why, sizeof why), WT_EIO);
    cr_assert(strstr(why, "cannot connect"), "%s", why);
}

/* ---- the store ------------------------------------------------------------------------ */

static char tmpdir[64];
static store *st;

static void store_up(void)
{
    load_cat();
    st = tmpstore_open(tmpdir, sizeof tmpdir, NULL, 0, "cimd");
}

static void store_down(void)
{
    tmpstore_close(&st, tmpdir);
    unload_cat();
}

TestSuite(cimd_store, .init = store_up, .fini = store_down, .timeout = 60);

static json_t *doc_for(const char *url, int64_t now)
{
    char body[600];
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"redirect_uris\":[\"https://a.example/cb\"]}", url);
    json_t *d = NULL;
    char why[256] = "";
    cr_assert_eq(
        cimd_client_doc(url, "a.example", body, strlen(body), &cat, now, 600, &d, why, sizeof why),
        WT_OK, "%s", why);
    return d;
}

static wt_status put(json_t *doc, size_t max, bool *full)
{
    cimd_put_op op = {.doc = doc, .max_clients = max};
    wt_status s = store_write_sync(st, cimd_put, &op);
    if (full)
        *full = op.full;
    return s;
}

struct loaded {
    const char *id;
    client_t c;
    wt_status st;
};

static wt_status run_load(store_txn *t, void *arg)
{
    struct loaded *l = arg;
    l->st = client_load(t, l->id, &l->c);
    return WT_OK;
}

static wt_status run_count(store_txn *t, void *arg)
{
    *(size_t *)arg = cimd_count(t, 100);
    return WT_OK;
}

Test(cimd_store, put_creates_refreshes_and_caps)
{
    bool full = true;
    json_t *a = doc_for("https://a.example/1", 1000), *b = doc_for("https://a.example/2", 1000);
    json_t *c = doc_for("https://a.example/3", 1000);
    cr_assert_eq(put(a, 2, &full), WT_OK);
    cr_assert(!full);
    cr_assert_eq(put(b, 2, &full), WT_OK);
    cr_assert_eq(put(c, 2, &full), WT_TOOBIG, "the cap refuses a new client");
    cr_assert(full);
    size_t n = 0;
    store_write_sync(st, run_count, &n);
    cr_assert_eq(n, 2);

    /* a refresh of an existing one is allowed at the cap and keeps client_id_issued_at */
    json_t *a2 = doc_for("https://a.example/1", 5000);
    cr_assert_eq(put(a2, 2, &full), WT_OK);
    struct loaded l = {.id = "https://a.example/1"};
    store_write_sync(st, run_load, &l);
    cr_assert_eq(l.st, WT_OK);
    cr_assert_eq(l.c.source, CLIENT_CIMD);
    cr_assert_eq(json_integer_value(json_object_get(l.c.doc, "client_id_issued_at")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(l.c.doc, "fetched_at")), 5000);
    cr_assert(cimd_fresh(l.c.doc, 5599));
    client_free(&l.c);
    json_decref(a);
    json_decref(a2);
    json_decref(b);
    json_decref(c);
}

static wt_status run_store_doc(store_txn *t, void *arg)
{
    return client_store(t, arg, true);
}

Test(cimd_store, put_refuses_a_foreign_id)
{
    const char *const r[] = {"https://a.example/cb"};
    client_spec sp = {.name = "cli",
                      .redirect_uris = r,
                      .nredirect = 1,
                      .is_public = true,
                      .client_id = "https://a.example/x",
                      .source = CLIENT_CLI};
    json_t *cli = NULL;
    char secret[64], why[256];
    const char *fe;
    cr_assert_eq(client_build(&sp, &cat, 1, &cli, secret, why, sizeof why, &fe), WT_OK, "%s", why);
    cr_assert_eq(store_write_sync(st, run_store_doc, cli), WT_OK);
    json_t *d = doc_for("https://a.example/x", 10);
    cr_assert_eq(put(d, 0, NULL), WT_EXISTS);
    struct loaded l = {.id = "https://a.example/x"};
    store_write_sync(st, run_load, &l);
    cr_assert_eq(l.c.source, CLIENT_CLI, "the other client is untouched");
    client_free(&l.c);
    json_decref(d);
    json_decref(cli);

    json_t *bad = json_pack("{s:s}", "client_id", "ocl_notaurl");
    cr_assert_eq(put(bad, 0, NULL), WT_INVALID);
    json_decref(bad);
}

/* A grant for client id whose refresh token exists (live) or not. */
struct mkgrant {
    const char *client;
    bool live;
};

static wt_status run_grant(store_txn *t, void *arg)
{
    struct mkgrant *m = arg;
    grant_rec g = {.created = 1,
                   .auth_time = 1,
                   .client_id = m->client,
                   .user_id = "usr_x",
                   .scope = "read:assets",
                   .resource = ""};
    uint8_t id[GRANT_ID_LEN];
    if (m->live)
        memset(g.refresh_sel, 0x42, sizeof g.refresh_sel);
    wt_status s = grant_create(t, &g, id);
    if (s == WT_OK && m->live) { /* a real record, so the purge's other scans keep it too */
        refresh_rec r = {.iat = 1, .exp = INT64_MAX / 2};
        memcpy(r.grant, id, GRANT_ID_LEN);
        buf_t b;
        buf_init(&b, 4096);
        s = refresh_rec_encode(&b, &r);
        if (s == WT_OK)
            s = store_put(t, STORE_DB_REFRESH, g.refresh_sel, 16, b.p, b.len, 0);
        buf_free(&b);
    }
    return s;
}

/* The purge runs as gc's bounded scan does in the server: `scan` clients a step. */
struct purge {
    int64_t now;
    size_t scan;
    gc_state gc;
};

static wt_status run_purge(store_txn *t, void *arg)
{
    struct purge *p = arg;
    return gc_step(t, p->now, p->scan, &p->gc);
}

static wt_status exists(const char *id)
{
    struct loaded l = {.id = id};
    store_write_sync(st, run_load, &l);
    client_free(&l.c);
    return l.st;
}

Test(cimd_store, purge_idle)
{
    json_t *old = doc_for("https://a.example/old", 100);
    json_t *oldlive = doc_for("https://a.example/old-live", 100);
    json_t *olddead = doc_for("https://a.example/old-dead-grant", 100);
    json_t *recent = doc_for("https://a.example/recent", 5000);
    cr_assert_eq(put(old, 0, NULL), WT_OK);
    cr_assert_eq(put(oldlive, 0, NULL), WT_OK);
    cr_assert_eq(put(olddead, 0, NULL), WT_OK);
    cr_assert_eq(put(recent, 0, NULL), WT_OK);
    struct mkgrant g1 = {.client = "https://a.example/old-live", .live = true};
    struct mkgrant g2 = {.client = "https://a.example/old-dead-grant", .live = false};
    /* a live grant of a client whose id extends another's must not protect the shorter one */
    struct mkgrant g3 = {.client = "https://a.example/oldX", .live = true};
    cr_assert_eq(store_write_sync(st, run_grant, &g1), WT_OK);
    cr_assert_eq(store_write_sync(st, run_grant, &g2), WT_OK);
    cr_assert_eq(store_write_sync(st, run_grant, &g3), WT_OK);

    /* idle clients are those not fetched for CIMD_IDLE_TTL: "now" is that far past 1000 */
    struct purge p = {.now = CIMD_IDLE_TTL + 1000, .scan = 1};
    cr_assert_eq(store_write_sync(st, run_purge, &p), WT_OK);
    cr_assert_not(gc_pass_done(&p.gc), "one client a step: the pass is not over");
    while (!gc_pass_done(&p.gc))
        cr_assert_eq(store_write_sync(st, run_purge, &p), WT_OK);
    cr_assert_eq(p.gc.purged[GC_CLIENTS], 2, "purged %llu",
                 (unsigned long long)p.gc.purged[GC_CLIENTS]);
    struct purge again = {.now = CIMD_IDLE_TTL + 1000, .scan = 100};
    while (!gc_pass_done(&again.gc))
        cr_assert_eq(store_write_sync(st, run_purge, &again), WT_OK);
    cr_assert_eq(again.gc.purged[GC_CLIENTS], 0, "nothing more to purge");
    cr_assert_eq(exists("https://a.example/old"), WT_NOTFOUND);
    cr_assert_eq(exists("https://a.example/old-dead-grant"), WT_NOTFOUND);
    cr_assert_eq(exists("https://a.example/old-live"), WT_OK, "a live refresh token keeps it");
    cr_assert_eq(exists("https://a.example/recent"), WT_OK);
    json_decref(old);
    json_decref(oldlive);
    json_decref(olddead);
    json_decref(recent);
}
