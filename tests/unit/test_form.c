/* test_form.c — form-urlencoded and JSON parameter parsing, including hostile input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "oauth.h"

static wt_status parse(const char *s, form_t *f, char *why, size_t whylen)
{
    return form_parse(s, strlen(s), f, why, whylen);
}

static wt_status pjson(const char *s, form_t *f, char *why, size_t whylen)
{
    return form_from_json(s, strlen(s), f, why, whylen);
}

/* Expects a failure with status st; checks out is empty and why is a clean description. */
static void expect_fail(wt_status got, wt_status st, const form_t *f, const char *why)
{
    cr_assert_eq(got, st, "status %d, expected %d (why: %s)", got, st, why);
    cr_assert_eq(f->n, 0);
    cr_assert_null(f->v);
    cr_assert_gt(strlen(why), 0);
    cr_assert(oauth_desc_valid(why), "why not error_description-safe: %s", why);
}

Test(form, basic)
{
    form_t f;
    char why[128] = "";
    cr_assert_eq(parse("grant_type=authorization_code&code=abc&x=two+words&y=%41%62%2b%2B", &f, why,
                       sizeof why),
                 WT_OK);
    cr_assert_eq(f.n, 4);
    cr_assert_str_eq(form_get(&f, "grant_type"), "authorization_code");
    cr_assert_str_eq(form_get(&f, "code"), "abc");
    cr_assert_str_eq(form_get(&f, "x"), "two words");
    cr_assert_str_eq(form_get(&f, "y"), "Ab++");
    cr_assert_eq(f.v[3].value_len, 4);
    cr_assert_null(form_get(&f, "missing"));
    cr_assert_null(form_get(&f, "Code"), "names are case-sensitive");
    cr_assert_null(form_duplicate(&f));
    form_free(&f);
    cr_assert_eq(f.n, 0);
    cr_assert_null(f.v);
}

Test(form, empty_input)
{
    form_t f;
    char why[128];
    cr_assert_eq(form_parse(NULL, 0, &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 0);
    cr_assert_eq(parse("", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 0);
    cr_assert_eq(parse("&&&", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 0);
    form_free(&f);
}

Test(form, empty_segments_and_bare_names)
{
    form_t f;
    char why[128];
    cr_assert_eq(parse("&a=1&&b=2&flag&e=&", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 4);
    cr_assert_str_eq(form_get(&f, "a"), "1");
    cr_assert_str_eq(form_get(&f, "b"), "2");
    cr_assert_str_eq(form_get(&f, "flag"), "");
    cr_assert_eq(f.v[2].value_len, 0);
    cr_assert_str_eq(form_get(&f, "e"), "");
    form_free(&f);
}

Test(form, length_not_nul_bounds_input)
{
    form_t f;
    char why[128];
    cr_assert_eq(form_parse("a=1&b=2", 3, &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 1);
    cr_assert_str_eq(form_get(&f, "a"), "1");
    form_free(&f);
    char *s = malloc(6);
    memcpy(s, "ab=%41", 6);
    cr_assert_eq(form_parse(s, 6, &f, why, sizeof why), WT_OK);
    cr_assert_str_eq(form_get(&f, "ab"), "A");
    form_free(&f);
    free(s);
}

Test(form, value_may_contain_equals_and_semicolon)
{
    form_t f;
    char why[128];
    cr_assert_eq(parse("a=b=c;d", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 1);
    cr_assert_str_eq(form_get(&f, "a"), "b=c;d");
    form_free(&f);
}

Test(form, duplicates_are_kept_and_reported)
{
    form_t f;
    char why[128];
    cr_assert_eq(parse("a=1&resource=x&b=2&resource=y&a=3", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 5);
    cr_assert_str_eq(form_get(&f, "resource"), "x", "first value wins in form_get");
    cr_assert_eq(form_count(&f, "resource"), 2);
    cr_assert_eq(form_count(&f, "a"), 2);
    cr_assert_eq(form_count(&f, "b"), 1);
    cr_assert_eq(form_count(&f, "zz"), 0);
    const char *d = form_duplicate(&f);
    cr_assert_not_null(d);
    cr_assert_str_eq(d, "resource", "resource is repeated first (at position 4)");
    form_free(&f);

    cr_assert_eq(parse("code=1&code=1", &f, why, sizeof why), WT_OK);
    cr_assert_str_eq(form_duplicate(&f), "code", "even with equal values");
    form_free(&f);
}

Test(form, bad_percent_escapes)
{
    const char *bad[] = {"a=%zz", "a=%4", "a=%",   "a=1&b=%4g", "a=%%41",
                         "%zz=1", "a%=1", "a=%G1", "a=x%"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        form_t f;
        char why[128] = "";
        /* an exact-size heap copy without NUL: ASan catches any read past len */
        size_t n = strlen(bad[i]);
        char *s = malloc(n);
        memcpy(s, bad[i], n);
        expect_fail(form_parse(s, n, &f, why, sizeof why), WT_INVALID, &f, why);
        cr_assert(strstr(why, "percent"), "%s: %s", bad[i], why);
        free(s);
    }
}

Test(form, nul_is_refused_everywhere)
{
    form_t f;
    char why[128] = "";
    expect_fail(parse("a=%00", &f, why, sizeof why), WT_INVALID, &f, why);
    cr_assert(strstr(why, "parameter a "), "%s", why);
    expect_fail(parse("a%00b=1", &f, why, sizeof why), WT_INVALID, &f, why);
    const char raw[] = "a=x\0y";
    expect_fail(form_parse(raw, sizeof raw - 1, &f, why, sizeof why), WT_INVALID, &f, why);
    const char rawname[] = "a\0=1";
    expect_fail(form_parse(rawname, sizeof rawname - 1, &f, why, sizeof why), WT_INVALID, &f, why);
}

Test(form, control_characters)
{
    form_t f;
    char why[128] = "";
    /* names: no control at all */
    expect_fail(parse("a%0Ab=1", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(parse("a%09=1", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(parse("a%7F=1", &f, why, sizeof why), WT_INVALID, &f, why);
    /* values: C0 refused except TAB, LF, CR */
    expect_fail(parse("state=%01", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(parse("state=%1B[31m", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(parse("state=%1f", &f, why, sizeof why), WT_INVALID, &f, why);
    cr_assert_eq(parse("state=%7B%0A%09%22a%22%3A1%0D%0A%7D%7F%C3%A9", &f, why, sizeof why), WT_OK);
    cr_assert_str_eq(form_get(&f, "state"), "{\n\t\"a\":1\r\n}\x7f\xc3\xa9");
    form_free(&f);
}

Test(form, empty_name_refused)
{
    form_t f;
    char why[128] = "";
    expect_fail(parse("=x", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(parse("a=1&=", &f, why, sizeof why), WT_INVALID, &f, why);
}

Test(form, value_cap)
{
    size_t n = FORM_MAX_VALUE;
    char *s = malloc(2 + 3 * (n + 1) + 1);
    memcpy(s, "v=", 2);
    memset(s + 2, 'x', n);
    s[2 + n] = '\0';
    form_t f;
    char why[128] = "";
    cr_assert_eq(parse(s, &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.v[0].value_len, FORM_MAX_VALUE);
    form_free(&f);
    s[2 + n] = 'x';
    s[3 + n] = '\0';
    expect_fail(parse(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    cr_assert(strstr(why, "parameter v"), "%s", why);
    /* the cap applies to the decoded length: 8193 × "%41" */
    for (size_t i = 0; i <= n; i++)
        memcpy(s + 2 + 3 * i, "%41", 3);
    s[2 + 3 * (n + 1)] = '\0';
    expect_fail(parse(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    /* …and 8192 encoded ones fit */
    s[2 + 3 * n] = '\0';
    cr_assert_eq(parse(s, &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.v[0].value_len, FORM_MAX_VALUE);
    form_free(&f);
    free(s);
}

Test(form, name_cap)
{
    char s[FORM_MAX_NAME + 8];
    memset(s, 'n', FORM_MAX_NAME + 1);
    memcpy(s + FORM_MAX_NAME + 1, "=1", 3);
    form_t f;
    char why[128] = "";
    expect_fail(parse(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    memcpy(s + FORM_MAX_NAME, "=1", 3);
    cr_assert_eq(parse(s, &f, why, sizeof why), WT_OK);
    form_free(&f);
}

static char *many_params(int n)
{
    char *s = malloc((size_t)n * 16 + 1);
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(s + o, 16, "%sp%d=%d", i ? "&" : "", i, i);
    return s;
}

Test(form, param_count_cap)
{
    form_t f;
    char why[128] = "";
    char *s = many_params(FORM_MAX_PARAMS);
    cr_assert_eq(parse(s, &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, FORM_MAX_PARAMS);
    cr_assert_str_eq(form_get(&f, "p63"), "63");
    form_free(&f);
    free(s);
    s = many_params(FORM_MAX_PARAMS + 1);
    expect_fail(parse(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    cr_assert(strstr(why, "64"), "%s", why);
    free(s);
}

Test(form, why_is_always_clean)
{
    form_t f;
    char why[128] = "";
    expect_fail(parse("a\"b\\c=%01", &f, why, sizeof why), WT_INVALID, &f, why);
    cr_assert_null(strchr(why, '"'));
    cr_assert_null(strchr(why, '\\'));
    /* why may be NULL */
    cr_assert_eq(form_parse("a=%zz", 5, &f, NULL, 0), WT_INVALID);
    char tiny[4];
    cr_assert_eq(form_parse("a=%zz", 5, &f, tiny, sizeof tiny), WT_INVALID);
    cr_assert_eq(strlen(tiny), 3);
}

/* ---- JSON bodies ---- */

Test(form_json, basic)
{
    form_t f;
    char why[128] = "";
    cr_assert_eq(pjson("{\"grant_type\":\"refresh_token\",\"client_id\":\"ocl_x\","
                       "\"n\":3600,\"neg\":-2,\"r\":0.1,\"big\":1e300,\"t\":true,\"f\":false,"
                       "\"gone\":null,\"s\":\"a\\nb\\u00e9\"}",
                       &f, why, sizeof why),
                 WT_OK, "%s", why);
    cr_assert_eq(f.n, 9);
    cr_assert_str_eq(form_get(&f, "grant_type"), "refresh_token");
    cr_assert_str_eq(form_get(&f, "client_id"), "ocl_x");
    cr_assert_str_eq(form_get(&f, "n"), "3600");
    cr_assert_str_eq(form_get(&f, "neg"), "-2");
    cr_assert_str_eq(form_get(&f, "r"), "0.1");
    cr_assert_str_eq(form_get(&f, "big"), "1e+300");
    cr_assert_str_eq(form_get(&f, "t"), "true");
    cr_assert_str_eq(form_get(&f, "f"), "false");
    cr_assert_null(form_get(&f, "gone"), "null is absent");
    cr_assert_eq(form_count(&f, "gone"), 0);
    cr_assert_str_eq(form_get(&f, "s"), "a\nb\xc3\xa9");
    form_free(&f);
}

Test(form_json, empty_object)
{
    form_t f;
    char why[128] = "";
    cr_assert_eq(pjson(" {} ", &f, why, sizeof why), WT_OK);
    cr_assert_eq(f.n, 0);
    form_free(&f);
}

Test(form_json, duplicate_keys_refused)
{
    form_t f;
    char why[128] = "";
    expect_fail(pjson("{\"code\":\"a\",\"code\":\"b\"}", &f, why, sizeof why), WT_INVALID, &f, why);
}

Test(form_json, nested_values_refused)
{
    form_t f;
    char why[128] = "";
    expect_fail(pjson("{\"a\":\"1\",\"resource\":{\"x\":1}}", &f, why, sizeof why), WT_INVALID, &f,
                why);
    cr_assert_str_eq(why, "parameter resource must be a string");
    expect_fail(pjson("{\"scope\":[\"a\",\"b\"]}", &f, why, sizeof why), WT_INVALID, &f, why);
    cr_assert_str_eq(why, "parameter scope must be a string");
}

Test(form_json, non_objects_refused)
{
    const char *bad[] = {"[]",         "\"x\"",        "1",       "null",   "", "{",
                         "{\"a\":1}x", "{\"a\":1} {}", "{'a':1}", "a=1&b=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        form_t f;
        char why[128] = "";
        expect_fail(pjson(bad[i], &f, why, sizeof why), WT_INVALID, &f, why);
    }
}

Test(form_json, character_rules)
{
    form_t f;
    char why[128] = "";
    expect_fail(pjson("{\"a\":\"x\\u0000y\"}", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(pjson("{\"a\\u0000b\":\"1\"}", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(pjson("{\"a\":\"\\u0001\"}", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(pjson("{\"a\\nb\":\"1\"}", &f, why, sizeof why), WT_INVALID, &f, why);
    expect_fail(pjson("{\"\":\"1\"}", &f, why, sizeof why), WT_INVALID, &f, why);
    cr_assert_eq(pjson("{\"state\":\"{\\\"k\\\":\\t1}\\r\\n\"}", &f, why, sizeof why), WT_OK);
    cr_assert_str_eq(form_get(&f, "state"), "{\"k\":\t1}\r\n");
    form_free(&f);
}

Test(form_json, caps)
{
    form_t f;
    char why[128] = "";
    char *s = malloc(FORM_MAX_VALUE + 32);
    int o = snprintf(s, 32, "{\"v\":\"");
    memset(s + o, 'x', FORM_MAX_VALUE + 1);
    memcpy(s + o + FORM_MAX_VALUE + 1, "\"}", 3);
    expect_fail(pjson(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    memcpy(s + o + FORM_MAX_VALUE, "\"}", 3);
    cr_assert_eq(pjson(s, &f, why, sizeof why), WT_OK);
    form_free(&f);
    free(s);

    s = malloc(65 * 16 + 3);
    size_t n = 0;
    s[n++] = '{';
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(s + n, 16, "%s\"p%d\":%d", i ? "," : "", i, i);
    s[n++] = '}';
    s[n] = '\0';
    expect_fail(pjson(s, &f, why, sizeof why), WT_TOOBIG, &f, why);
    free(s);
}

Test(form, free_null_safe)
{
    form_free(NULL);
    cr_assert_null(form_get(NULL, "a"));
    cr_assert_eq(form_count(NULL, "a"), 0);
    cr_assert_null(form_duplicate(NULL));
}

Test(form, has_finds_decoded_names_without_parsing)
{
    const char q[] = "a=1&access%5Ftoken=x&b";
    cr_assert(form_has(q, sizeof q - 1, "access_token"));
    cr_assert(form_has(q, sizeof q - 1, "b"), "a name without '=' counts");
    cr_assert_not(form_has(q, sizeof q - 1, "access"));
    cr_assert_not(form_has("access_tokenx=1", 15, "access_token"));
    cr_assert_not(form_has("x=access_token", 14, "access_token"), "values are not names");
    cr_assert_not(form_has("access%5", 8, "access_token"), "a malformed escape does not match");
    cr_assert(form_has("my+name=1", 9, "my name"), "'+' is a space");
    cr_assert_not(form_has("", 0, "a"));
}
