/* test_scope.c — the scope catalogue (the real scopes/gumnut.json and each rejection) and the
 * scope-set rules: defaults, unknown and not-allowed scopes, offline_access, narrowing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth.h"
#include "scope.h"

static scope_catalogue cat;

/* Reads $WATTLE_SRC/scopes/gumnut.json (CTest sets WATTLE_SRC to the source directory). */
static char *read_gumnut(size_t *len)
{
    const char *src = getenv("WATTLE_SRC");
    cr_assert_not_null(src, "WATTLE_SRC is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/scopes/gumnut.json", src);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void load_gumnut(void)
{
    size_t len;
    char *json = read_gumnut(&len);
    char err[256] = "";
    cr_assert_eq(scope_catalogue_load(json, len, "scopes/gumnut.json", &cat, err, sizeof err),
                 WT_OK, "%s", err);
    free(json);
}

static void unload(void)
{
    scope_catalogue_free(&cat);
}

TestSuite(scope_gumnut, .init = load_gumnut, .fini = unload);

Test(scope_gumnut, catalogue_loads)
{
    static const char *const names[] = {"read:assets",    "write:assets",   "read:albums",
                                        "write:albums",   "read:people",    "write:people",
                                        "read:libraries", "write:libraries"};
    cr_assert_eq(cat.n, 8);
    for (size_t i = 0; i < 8; i++)
        cr_assert_str_eq(cat.v[i].name, names[i]);
    cr_assert_str_eq(cat.v[0].description, "View photos and videos");
    cr_assert(cat.v[0].is_default);
    for (size_t i = 1; i < 8; i++)
        cr_assert_not(cat.v[i].is_default, "%s", cat.v[i].name);
    const scope_def *d = scope_find(&cat, "write:people", strlen("write:people"));
    cr_assert_not_null(d);
    cr_assert_str_eq(d->description, "Modify people data");
    cr_assert_null(scope_find(&cat, "write:peoplex", 13));
    cr_assert_not_null(scope_find(&cat, "read:assetsXXX", 11), "length-bounded lookup");
    cr_assert_null(scope_find(&cat, "read:asset", 10));
}

static void resolve_ok(const char *req, const char *allowed, const char *want)
{
    char *g = NULL;
    char why[128] = "";
    cr_assert_eq(scope_resolve(&cat, req, allowed, &g, why, sizeof why), WT_OK, "request [%s]: %s",
                 req ? req : "(null)", why);
    cr_assert_str_eq(g, want, "request [%s]", req ? req : "(null)");
    free(g);
}

static void resolve_fail(const char *req, const char *allowed, const char *want_why)
{
    char *g = (char *)1;
    char why[128] = "";
    cr_assert_eq(scope_resolve(&cat, req, allowed, &g, why, sizeof why), WT_INVALID,
                 "request [%s] accepted", req ? req : "(null)");
    cr_assert_null(g);
    cr_assert(oauth_desc_valid(why));
    cr_assert_str_eq(why, want_why);
}

Test(scope_gumnut, defaults)
{
    resolve_ok(NULL, NULL, "read:assets");
    resolve_ok("", NULL, "read:assets");
    resolve_ok("   ", NULL, "read:assets");
    resolve_ok(NULL, "read:assets write:assets", "read:assets");
    resolve_ok("offline_access", NULL, "read:assets");
    char *g = NULL;
    char why[128] = "";
    cr_assert_eq(scope_resolve(&cat, NULL, "write:assets read:albums", &g, why, sizeof why),
                 WT_INVALID);
    cr_assert_null(g);
    cr_assert(strstr(why, "no default scope"), "%s", why);
    cr_assert_eq(scope_resolve(&cat, "", "", &g, why, sizeof why), WT_INVALID);
}

Test(scope_gumnut, explicit_requests)
{
    resolve_ok("read:assets write:assets", NULL, "read:assets write:assets");
    /* catalogue order, whatever the request order */
    resolve_ok("write:libraries read:albums read:assets", NULL,
               "read:assets read:albums write:libraries");
    /* duplicates collapse, extra spaces tolerated */
    resolve_ok("  read:albums  read:albums read:albums ", NULL, "read:albums");
    /* offline_access accepted and dropped */
    resolve_ok("offline_access read:people", NULL, "read:people");
    resolve_ok("read:people offline_access offline_access", "read:people", "read:people");
    /* allowed restricts */
    resolve_ok("read:assets", "read:assets write:assets", "read:assets");
}

Test(scope_gumnut, unknown_scope)
{
    resolve_fail("read:assets delete:everything", NULL, "unknown scope: delete:everything");
    resolve_fail("READ:ASSETS", NULL, "unknown scope: READ:ASSETS");
    resolve_fail("openid", "openid read:assets", "unknown scope: openid");
}

Test(scope_gumnut, not_allowed_scope)
{
    resolve_fail("read:assets write:assets", "read:assets",
                 "scope write:assets is not allowed for this client");
    resolve_fail("read:assets", "", "scope read:assets is not allowed for this client");
    resolve_fail("read:assets", "read:assetsX", "scope read:assets is not allowed for this client");
}

Test(scope_gumnut, malformed_requests)
{
    resolve_fail("read:assets\twrite:assets", NULL, "scope is malformed");
    resolve_fail("read:\"assets\"", NULL, "scope is malformed");
    resolve_fail("read:\\assets", NULL, "scope is malformed");
    resolve_fail("read:assets\n", NULL, "scope is malformed");
    resolve_fail("r\xc3\xa9"
                 "ad",
                 NULL, "scope is malformed");
    /* 65 tokens */
    char s[65 * 12 + 1];
    size_t o = 0;
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(s + o, 13, "read:assets ");
    resolve_fail(s, NULL, "scope is malformed");
    s[64 * 12] = '\0'; /* 64 tokens are fine */
    resolve_ok(s, NULL, "read:assets");
}

Test(scope, valid)
{
    cr_assert(scope_valid(""));
    cr_assert(scope_valid("  "));
    cr_assert(scope_valid("a b  c"));
    cr_assert(scope_valid("!#[]~"));
    cr_assert_not(scope_valid(NULL));
    cr_assert_not(scope_valid("a\"b"));
    cr_assert_not(scope_valid("a\\b"));
    cr_assert_not(scope_valid("a\tb"));
    cr_assert_not(scope_valid("a\x7f"));
    char *big = malloc(SCOPE_STRING_MAX + 2);
    memset(big, 'a', SCOPE_STRING_MAX);
    big[SCOPE_STRING_MAX] = '\0';
    cr_assert(scope_valid(big));
    big[SCOPE_STRING_MAX] = 'a';
    big[SCOPE_STRING_MAX + 1] = '\0';
    cr_assert_not(scope_valid(big));
    free(big);
}

Test(scope, has)
{
    cr_assert(scope_has("read:assets write:assets", "write:assets"));
    cr_assert(scope_has("  read:assets   write:assets  ", "read:assets"));
    cr_assert_not(scope_has("read:assets write:assets", "read"));
    cr_assert_not(scope_has("read:assets write:assets", "assets"));
    cr_assert_not(scope_has("read:assets write:assets", "read:assets write:assets"));
    cr_assert_not(scope_has("read:assets", ""));
    cr_assert_not(scope_has("", "read:assets"));
    cr_assert_not(scope_has(NULL, "read:assets"));
    cr_assert_not(scope_has("read:assets", NULL));
}

Test(scope, covers)
{
    cr_assert(scope_covers("read:assets write:assets", "write:assets"));
    cr_assert(scope_covers("read:assets write:assets", "write:assets read:assets"));
    cr_assert(scope_covers("read:assets", ""));
    cr_assert(scope_covers("read:assets", NULL));
    cr_assert(scope_covers(NULL, NULL));
    cr_assert_not(scope_covers("read:assets", "read:assets write:assets"));
    cr_assert_not(scope_covers("", "read:assets"));
    cr_assert_not(scope_covers(NULL, "read:assets"));
    cr_assert_not(scope_covers("read:assets", "read"));
}

static void narrow_ok(const char *granted, const char *req, const char *want)
{
    char *o = NULL;
    char why[128] = "";
    cr_assert_eq(scope_narrow(granted, req, &o, why, sizeof why), WT_OK, "%s", why);
    cr_assert_str_eq(o, want);
    free(o);
}

Test(scope, narrow)
{
    narrow_ok("read:assets write:assets read:albums", NULL, "read:assets write:assets read:albums");
    narrow_ok("read:assets write:assets", "", "read:assets write:assets");
    narrow_ok("read:assets write:assets", "offline_access", "read:assets write:assets");
    narrow_ok("read:assets write:assets read:albums", "read:albums read:assets",
              "read:assets read:albums");
    narrow_ok("read:assets write:assets", "write:assets write:assets offline_access",
              "write:assets");
    narrow_ok("read:assets  read:assets", NULL, "read:assets");
    narrow_ok("", NULL, "");

    char *o = (char *)1;
    char why[128] = "";
    cr_assert_eq(scope_narrow("read:assets", "read:assets write:assets", &o, why, sizeof why),
                 WT_INVALID);
    cr_assert_null(o);
    cr_assert_str_eq(why, "scope write:assets was not granted");
    cr_assert_eq(scope_narrow("read:assets", "read", &o, why, sizeof why), WT_INVALID);
    cr_assert_eq(scope_narrow("read:assets", "read:assets\"", &o, why, sizeof why), WT_INVALID);
    cr_assert_str_eq(why, "scope is malformed");
}

/* ---- catalogue rejections ---- */

static void load_fail(const char *json, const char *want_part)
{
    scope_catalogue c = {(scope_def *)1, 99};
    char err[256] = "";
    cr_assert_eq(scope_catalogue_load(json, strlen(json), "cat.json", &c, err, sizeof err),
                 WT_INVALID, "accepted: %s", json);
    cr_assert_null(c.v);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(strncmp(err, "cat.json: ", 10), 0, "%s", err);
    cr_assert_null(strchr(err, '\n'), "%s", err);
    cr_assert(strstr(err, want_part), "[%s] does not mention [%s]", err, want_part);
}

Test(scope_catalogue, rejections)
{
    load_fail("", "invalid JSON");
    load_fail("{\"scopes\":[", "invalid JSON");
    load_fail("[]", "must be a JSON object");
    load_fail("{}", "\"scopes\" is missing");
    load_fail("{\"scopes\":{}}", "must be an array");
    load_fail("{\"scopes\":[]}", "is empty");
    load_fail("{\"scopes\":[], \"extra\":1}", "unknown key 'extra'");
    load_fail("{\"scopes\":[1]}", "scopes[0] must be an object");
    load_fail("{\"scopes\":[{\"name\":\"a\"},\"b\"]}", "scopes[1] must be an object");
    load_fail("{\"scopes\":[{\"description\":\"x\"}]}", "\"name\" must be a non-empty string");
    load_fail("{\"scopes\":[{\"name\":\"\"}]}", "\"name\" must be a non-empty string");
    load_fail("{\"scopes\":[{\"name\":3}]}", "\"name\" must be a non-empty string");
    load_fail("{\"scopes\":[{\"name\":\"read assets\"}]}", "scope-token");
    load_fail("{\"scopes\":[{\"name\":\"read\\\"x\"}]}", "scope-token");
    load_fail("{\"scopes\":[{\"name\":\"read\\\\x\"}]}", "scope-token");
    load_fail("{\"scopes\":[{\"name\":\"r\\u00e9ad\"}]}", "scope-token");
    load_fail("{\"scopes\":[{\"name\":\"a\\nb\"}]}", "scope-token");
    load_fail("{\"scopes\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"a\"}]}",
              "scopes[2]: duplicate scope name a");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"description\":7}]}", "\"description\" must be");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"description\":null}]}", "\"description\" must be");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"default\":\"yes\"}]}", "\"default\" must be");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"default\":1}]}", "\"default\" must be");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"descripton\":\"typo\"}]}",
              "scopes[0]: unknown key 'descripton'");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"x\\ny\":1}]}", "unknown key");
    load_fail("{\"scopes\":[{\"name\":\"a\",\"name\":\"b\"}]}", "invalid JSON");
    load_fail("{\"scopes\":[{\"name\":\"offline_access\"}]}", "offline_access");
}

Test(scope_catalogue, too_many_scopes)
{
    size_t cap = 32 + (SCOPE_CATALOGUE_MAX + 1) * 24;
    char *s = malloc(cap);
    size_t o = (size_t)snprintf(s, cap, "{\"scopes\":[");
    for (int i = 0; i <= SCOPE_CATALOGUE_MAX; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s{\"name\":\"s%d\"}", i ? "," : "", i);
    snprintf(s + o, cap - o, "]}");
    load_fail(s, "more than 256 scopes");
    /* exactly 256 load */
    char *last = strrchr(s, '{');
    memcpy(last - 1, "]}", 3);
    scope_catalogue c;
    char err[256] = "";
    cr_assert_eq(scope_catalogue_load(s, strlen(s), "cat.json", &c, err, sizeof err), WT_OK, "%s",
                 err);
    cr_assert_eq(c.n, SCOPE_CATALOGUE_MAX);
    scope_catalogue_free(&c);
    free(s);
}

Test(scope_catalogue, optional_fields_and_defaults)
{
    const char *json = "{\"scopes\":[{\"name\":\"a\"},{\"name\":\"b\",\"default\":true,"
                       "\"description\":\"Bee <b>\"},{\"name\":\"c\",\"default\":true}]}";
    scope_catalogue c;
    char err[256] = "";
    cr_assert_eq(scope_catalogue_load(json, strlen(json), NULL, &c, err, sizeof err), WT_OK);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.v[0].description, "a", "description defaults to the name");
    cr_assert_not(c.v[0].is_default);
    cr_assert_str_eq(c.v[1].description, "Bee <b>");
    char *g = NULL;
    cr_assert_eq(scope_resolve(&c, NULL, NULL, &g, err, sizeof err), WT_OK);
    cr_assert_str_eq(g, "b c");
    free(g);
    cr_assert_eq(scope_resolve(&c, NULL, "c a", &g, err, sizeof err), WT_OK);
    cr_assert_str_eq(g, "c");
    free(g);
    scope_catalogue_free(&c);
    scope_catalogue_free(&c); /* idempotent */
    scope_catalogue_free(NULL);
}

Test(scope_catalogue, filename_default)
{
    scope_catalogue c;
    char err[256] = "";
    cr_assert_eq(scope_catalogue_load("[]", 2, NULL, &c, err, sizeof err), WT_INVALID);
    cr_assert_eq(strncmp(err, "scope catalogue: ", 17), 0, "%s", err);
}
