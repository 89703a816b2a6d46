/* test_pkce.c — PKCE S256 syntax and verification (RFC 7636 Appendix B vector). */
#include <criterion/criterion.h>
#include <string.h>

#include "pkce.h"

#define V "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define C "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static bool vv(const char *s)
{
    return pkce_verifier_valid(s, strlen(s));
}

static bool cv(const char *s)
{
    return pkce_challenge_valid(s, strlen(s));
}

static bool verify(const char *v, const char *c)
{
    return pkce_verify(v, strlen(v), c, strlen(c));
}

Test(pkce, rfc7636_appendix_b)
{
    cr_assert(vv(V));
    cr_assert(cv(C));
    cr_assert(verify(V, C));
}

Test(pkce, wrong_verifier_or_challenge)
{
    cr_assert_not(verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", C));
    cr_assert_not(verify(V, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    cr_assert_not(verify(V, "F9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    /* valid challenges differing only at the very end */
    cr_assert_not(verify(V, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cA"));
    cr_assert_not(verify(V, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-dM"));
    /* "plain": the challenge equal to the verifier is not accepted */
    cr_assert_not(verify(V, V));
    /* the padded form is not the S256 challenge */
    cr_assert_not(verify(V, C "="));
    cr_assert_not(pkce_verify(V, strlen(V), C, 42));
}

Test(pkce, verifier_syntax)
{
    char s[130];
    memset(s, 'a', sizeof s);
    cr_assert_not(pkce_verifier_valid(s, 42));
    cr_assert(pkce_verifier_valid(s, 43));
    cr_assert(pkce_verifier_valid(s, 128));
    cr_assert_not(pkce_verifier_valid(s, 129));
    cr_assert_not(pkce_verifier_valid(NULL, 43));
    cr_assert_not(pkce_verifier_valid(s, 0));
    cr_assert(vv("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"));
    const char bad[] = {' ', '+', '/', '=', '%', '\0', '\n', '!', '*', (char)0xC3};
    for (size_t i = 0; i < sizeof bad; i++) {
        memset(s, 'a', 43);
        s[20] = bad[i];
        cr_assert_not(pkce_verifier_valid(s, 43), "char 0x%02x accepted", (unsigned char)bad[i]);
    }
}

Test(pkce, challenge_syntax)
{
    cr_assert_not(cv(""));
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));   /* 42 */
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA")); /* 44 */
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));  /* base64, not url */
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM"));
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw.cM"));
    /* non-canonical: the last char's low two bits must be zero ('M' = 12 ok, 'N' = 13 not) */
    cr_assert_not(cv("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
    cr_assert_not(pkce_challenge_valid(NULL, 43));
    cr_assert(cv("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
}
