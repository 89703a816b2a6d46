/* test_assertion.c — private_key_jwt client assertions (src/assertion.c) and their use by
 * client authentication (src/clientauth.c). Keys are generated with OpenSSL in the test and
 * assertions are signed here with EVP_DigestSign (not libjwt), so the verifier is checked
 * against an independent signer. The store tests get a fresh temporary LMDB directory. */
#include <criterion/criterion.h>

#include "tmpstore.h"
#include <ftw.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "assertion.h"
#include "clientauth.h"
#include "crypto.h"
#include "records.h"

#define CLIENT "ocl_assertiontestclient000"
#define ISSUER "https://as.example"
#define TOKEN_EP ISSUER "/oauth/token"

static const char *const audiences[] = {ISSUER, TOKEN_EP, NULL};

/* ---------------------------------------------------------------- keys and JWKs */

static EVP_PKEY *gen_ec(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    cr_assert_not_null(k);
    return k;
}

static EVP_PKEY *gen_rsa(unsigned bits)
{
    EVP_PKEY *k = EVP_RSA_gen(bits);
    cr_assert_not_null(k);
    return k;
}

static EVP_PKEY *gen_ed25519(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    cr_assert_not_null(k);
    return k;
}

static json_t *b64_bn(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    uint8_t buf[1024];
    char out[B64URL_LEN(1024) + 1];
    cr_assert_eq(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    cr_assert_gt(n, 0);
    BN_free(bn);
    b64url_encode(buf, (size_t)n, out);
    return json_string(out);
}

/* The public JWK of k; kid and alg are optional. */
static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg)
{
    json_t *j = json_object();
    if (EVP_PKEY_is_a(k, "EC")) {
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string("P-256"));
        json_object_set_new(j, "x", b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, 32));
        json_object_set_new(j, "y", b64_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    } else if (EVP_PKEY_is_a(k, "RSA")) {
        json_object_set_new(j, "kty", json_string("RSA"));
        json_object_set_new(j, "n", b64_bn(k, OSSL_PKEY_PARAM_RSA_N, 0));
        json_object_set_new(j, "e", b64_bn(k, OSSL_PKEY_PARAM_RSA_E, 0));
    } else {
        uint8_t raw[32];
        size_t rl = sizeof raw;
        char out[B64URL_LEN(32) + 1];
        cr_assert_eq(EVP_PKEY_get_raw_public_key(k, raw, &rl), 1);
        b64url_encode(raw, rl, out);
        json_object_set_new(j, "kty", json_string("OKP"));
        json_object_set_new(j, "crv", json_string("Ed25519"));
        json_object_set_new(j, "x", json_string(out));
    }
    if (kid)
        json_object_set_new(j, "kid", json_string(kid));
    if (alg)
        json_object_set_new(j, "alg", json_string(alg));
    return j;
}

/* {"keys":[jwk, …]} stealing the JWKs; NULL-terminated. */
static json_t *jwks_of(json_t *first, ...)
{
    json_t *keys = json_array();
    va_list ap;
    va_start(ap, first);
    for (json_t *k = first; k; k = va_arg(ap, json_t *))
        json_array_append_new(keys, k);
    va_end(ap);
    return json_pack("{s:o}", "keys", keys);
}

/* ---------------------------------------------------------------- signing */

static char *b64_json(const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    char *out = malloc(B64URL_LEN(strlen(s)) + 1);
    b64url_encode(s, strlen(s), out);
    free(s);
    return out;
}

static char *b64_text(const char *s)
{
    char *out = malloc(B64URL_LEN(strlen(s)) + 1);
    b64url_encode(s, strlen(s), out);
    return out;
}

/* b64_json that steals o. */
static char *b64_take(json_t *o)
{
    char *out = b64_json(o);
    json_decref(o);
    return out;
}

/* header64 "." payload64 "." sig64, malloc'd. */
static char *join(const char *h, const char *p, const uint8_t *sig, size_t slen)
{
    size_t n = strlen(h) + strlen(p) + B64URL_LEN(slen) + 3;
    char *out = malloc(n);
    int k = snprintf(out, n, "%s.%s.", h, p);
    b64url_encode(sig, slen, out + k);
    return out;
}

/* Signs header.payload with key under alg ("ES256" gives R||S, "ES256-DER" leaves the DER
 * signature as OpenSSL made it; "PS256" uses PSS with a digest-length salt). */
static char *sign_raw(EVP_PKEY *key, const char *alg, const char *h64, const char *p64)
{
    size_t n = strlen(h64) + strlen(p64) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h64, p64);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    bool ed = strcmp(alg, "EdDSA") == 0;
    cr_assert_eq(EVP_DigestSignInit_ex(m, &pc, ed ? NULL : "SHA256", NULL, NULL, key, NULL), 1);
    if (strcmp(alg, "PS256") == 0) {
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    size_t sl = 0;
    cr_assert_eq(EVP_DigestSign(m, NULL, &sl, (uint8_t *)input, strlen(input)), 1);
    uint8_t *sig = malloc(sl);
    cr_assert_eq(EVP_DigestSign(m, sig, &sl, (uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(m);
    free(input);
    char *out;
    if (strcmp(alg, "ES256") == 0) {
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        cr_assert_not_null(es);
        uint8_t rs[64];
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32), 32);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32), 32);
        ECDSA_SIG_free(es);
        out = join(h64, p64, rs, 64);
    } else {
        out = join(h64, p64, sig, sl);
    }
    free(sig);
    return out;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int jti_counter;

/* Valid claims for CLIENT at TOKEN_EP, expiring in a minute, with a fresh jti. */
static json_t *claims(void)
{
    char jti[64];
    snprintf(jti, sizeof jti, "jti-%d-%ld", ++jti_counter, (long)now_s());
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", CLIENT, "sub", CLIENT, "aud",
                     TOKEN_EP, "exp", (json_int_t)(now_s() + 60), "iat", (json_int_t)now_s(), "jti",
                     jti);
}

/* Signs claims (stolen) with key under alg, header {"alg", "typ":"JWT", "kid"?}. */
static char *sign(EVP_PKEY *key, const char *alg, const char *kid, json_t *c)
{
    json_t *h =
        json_pack("{s:s, s:s}", "alg", strcmp(alg, "ES256-DER") == 0 ? "ES256" : alg, "typ", "JWT");
    if (kid)
        json_object_set_new(h, "kid", json_string(kid));
    char *h64 = b64_json(h), *p64 = b64_json(c);
    char *out = sign_raw(key, alg, h64, p64);
    free(h64);
    free(p64);
    json_decref(h);
    json_decref(c);
    return out;
}

/* Signs with an explicit header (stolen). */
static char *sign_hdr(EVP_PKEY *key, const char *alg, json_t *h, json_t *c)
{
    char *h64 = b64_json(h), *p64 = b64_json(c);
    char *out = sign_raw(key, alg, h64, p64);
    free(h64);
    free(p64);
    json_decref(h);
    json_decref(c);
    return out;
}

/* ---------------------------------------------------------------- verifying */

static char why[256];
static assertion_result res;

static wt_status verify_with(const char *jwt, const json_t *jwks)
{
    assertion_check chk = {
        .client_id = CLIENT, .jwks = jwks, .audiences = audiences, .now = now_s()};
    why[0] = '\0';
    return assertion_verify(jwt, strlen(jwt), &chk, &res, why, sizeof why);
}

static void accepted(char *jwt, json_t *jwks)
{
    wt_status st = verify_with(jwt, jwks);
    cr_assert_eq(st, WT_OK, "refused: %s (%s)", wt_status_str(st), why);
    cr_assert(strncmp(res.jti, "jti-", 4) == 0);
    cr_assert_geq(res.exp, now_s() - ASSERTION_LEEWAY);
    cr_assert_eq(res.keep_until, res.exp + ASSERTION_LEEWAY);
    free(jwt);
}

/* Refused with a reason containing `needle`; the reason never quotes the assertion. */
static void refused(char *jwt, json_t *jwks, const char *needle)
{
    wt_status st = verify_with(jwt, jwks);
    cr_assert_eq(st, WT_DENIED, "expected refusal (%s), got %s", needle, wt_status_str(st));
    cr_assert_not_null(strstr(why, needle), "reason '%s' lacks '%s'", why, needle);
    if (strlen(jwt) > 20) {
        char head[21];
        memcpy(head, jwt, 20);
        head[20] = '\0';
        cr_assert_null(strstr(why, head), "the reason echoes the assertion: %s", why);
    }
    free(jwt);
}

TestSuite(assertion, .timeout = 120);

Test(assertion, es256_accepted_with_and_without_kid)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, "k1", NULL), NULL);
    accepted(sign(k, "ES256", "k1", claims()), jwks);
    cr_assert_str_eq(res.alg, "ES256");
    accepted(sign(k, "ES256", NULL, claims()), jwks);
    json_decref(jwks);
    /* A JWK with an explicit alg, and an aud array naming the issuer. */
    jwks = jwks_of(jwk_of(k, NULL, "ES256"), NULL);
    json_t *c = claims();
    json_object_set_new(c, "aud", json_pack("[s, s]", "https://other.example", ISSUER));
    accepted(sign(k, "ES256", NULL, c), jwks);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, rs256_accepted)
{
    EVP_PKEY *k = gen_rsa(2048);
    json_t *jwks = jwks_of(jwk_of(k, "r1", NULL), NULL);
    accepted(sign(k, "RS256", "r1", claims()), jwks);
    cr_assert_str_eq(res.alg, "RS256");
    accepted(sign(k, "RS256", NULL, claims()), jwks);
    /* PS256 is not allowed by a key without "alg" (it pins RS256). */
    refused(sign(k, "PS256", NULL, claims()), jwks, "alg is not the algorithm");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, ps256_only_when_the_key_says_so)
{
    EVP_PKEY *k = gen_rsa(2048);
    json_t *jwks = jwks_of(jwk_of(k, NULL, "PS256"), NULL);
    accepted(sign(k, "PS256", NULL, claims()), jwks);
    cr_assert_str_eq(res.alg, "PS256");
    refused(sign(k, "RS256", NULL, claims()), jwks, "alg is not the algorithm");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, eddsa_accepted)
{
    EVP_PKEY *k = gen_ed25519();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    accepted(sign(k, "EdDSA", NULL, claims()), jwks);
    cr_assert_str_eq(res.alg, "EdDSA");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, several_keys_kid_selects_and_without_kid_every_matching_key_is_tried)
{
    EVP_PKEY *a = gen_ec(), *b = gen_ec(), *r = gen_rsa(2048);
    json_t *jwks = jwks_of(jwk_of(a, "a", NULL), jwk_of(r, "r", NULL), jwk_of(b, "b", NULL), NULL);
    accepted(sign(b, "ES256", "b", claims()), jwks);
    accepted(sign(b, "ES256", NULL, claims()), jwks);
    accepted(sign(r, "RS256", NULL, claims()), jwks);
    /* kid names key a, but b signed. */
    refused(sign(b, "ES256", "a", claims()), jwks, "signature does not verify");
    refused(sign(b, "ES256", "zzz", claims()), jwks, "kid");
    json_decref(jwks);
    /* Keys registered without a kid are tried when no key has the assertion's kid. */
    jwks = jwks_of(jwk_of(a, "a", NULL), jwk_of(b, NULL, NULL), NULL);
    accepted(sign(b, "ES256", "thumbprint-of-b", claims()), jwks);
    refused(sign(a, "ES256", "thumbprint-of-a", claims()), jwks, "signature does not verify");
    json_decref(jwks);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(r);
}

Test(assertion, wrong_key_refused)
{
    EVP_PKEY *k = gen_ec(), *other = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, "k1", NULL), NULL);
    refused(sign(other, "ES256", "k1", claims()), jwks, "signature does not verify");
    refused(sign(other, "ES256", NULL, claims()), jwks, "signature does not verify");
    json_decref(jwks);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

Test(assertion, wrong_alg_refused)
{
    EVP_PKEY *ec = gen_ec(), *rsa = gen_rsa(2048);
    json_t *jwks = jwks_of(jwk_of(ec, NULL, NULL), NULL);
    /* An RS256 header against an EC key (signed with some RSA key). */
    refused(sign(rsa, "RS256", NULL, claims()), jwks, "alg is not the algorithm");
    json_decref(jwks);
    /* An ES256 header against an RSA key. */
    jwks = jwks_of(jwk_of(rsa, NULL, NULL), NULL);
    refused(sign(ec, "ES256", NULL, claims()), jwks, "alg is not the algorithm");
    json_decref(jwks);
    /* An unknown alg. */
    jwks = jwks_of(jwk_of(ec, NULL, NULL), NULL);
    char *h64 = b64_take(json_pack("{s:s}", "alg", "ES512"));
    json_t *c = claims();
    char *p64 = b64_json(c);
    json_decref(c);
    uint8_t junk[64] = {1};
    refused(join(h64, p64, junk, sizeof junk), jwks, "not supported");
    free(h64);
    free(p64);
    json_decref(jwks);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

Test(assertion, hs256_macd_with_the_public_key_refused)
{
    EVP_PKEY *ec = gen_ec();
    json_t *jwks = jwks_of(jwk_of(ec, NULL, NULL), NULL);
    /* The classic confusion: HS256 keyed with the public key's PEM (and with its JWK text). */
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PUBKEY(b, ec), 1);
    char *pem = NULL;
    long pl = BIO_get_mem_data(b, &pem);
    json_t *h = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    json_t *c = claims();
    char *h64 = b64_json(h), *p64 = b64_json(c);
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", h64, p64);
    uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), pem, (int)pl, (uint8_t *)input, strlen(input), mac, &ml);
    refused(join(h64, p64, mac, ml), jwks, "HMAC");
    char *jt = json_dumps(json_array_get(json_object_get(jwks, "keys"), 0), JSON_COMPACT);
    HMAC(EVP_sha256(), jt, (int)strlen(jt), (uint8_t *)input, strlen(input), mac, &ml);
    refused(join(h64, p64, mac, ml), jwks, "HMAC");
    free(jt);
    free(h64);
    free(p64);
    json_decref(h);
    json_decref(c);
    BIO_free(b);
    json_decref(jwks);
    EVP_PKEY_free(ec);
}

Test(assertion, alg_none_refused)
{
    EVP_PKEY *ec = gen_ec();
    json_t *jwks = jwks_of(jwk_of(ec, NULL, NULL), NULL);
    json_t *c = claims();
    char *p64 = b64_json(c);
    json_decref(c);
    for (int i = 0; i < 3; i++) {
        const char *alg = i == 0 ? "none" : i == 1 ? "None" : "NONE";
        char *h64 = b64_take(json_pack("{s:s}", "alg", alg));
        size_t n = strlen(h64) + strlen(p64) + 3;
        char *jwt = malloc(n);
        snprintf(jwt, n, "%s.%s.", h64, p64);
        refused(jwt, jwks, "unsigned");
        /* With something in the signature segment it is still "none". */
        uint8_t junk[64] = {7};
        refused(join(h64, p64, junk, sizeof junk), jwks, "alg none");
        free(h64);
    }
    free(p64);
    json_decref(jwks);
    EVP_PKEY_free(ec);
}

Test(assertion, time_claims)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    json_t *c = claims();
    json_object_set_new(c, "exp", json_integer(now_s() - 120));
    refused(sign(k, "ES256", NULL, c), jwks, "expired");
    /* Within the leeway: still accepted. */
    c = claims();
    json_object_set_new(c, "exp", json_integer(now_s() - 5));
    accepted(sign(k, "ES256", NULL, c), jwks);
    c = claims();
    json_object_del(c, "exp");
    refused(sign(k, "ES256", NULL, c), jwks, "no exp");
    c = claims();
    json_object_set_new(c, "exp", json_string("soon"));
    refused(sign(k, "ES256", NULL, c), jwks, "NumericDate");
    c = claims();
    json_object_set_new(c, "exp", json_integer(now_s() + 3600));
    refused(sign(k, "ES256", NULL, c), jwks, "10 minutes");
    c = claims();
    json_object_set_new(c, "exp", json_real((double)now_s() + 59.5));
    accepted(sign(k, "ES256", NULL, c), jwks);
    c = claims();
    json_object_set_new(c, "nbf", json_integer(now_s() + 300));
    refused(sign(k, "ES256", NULL, c), jwks, "nbf");
    c = claims();
    json_object_set_new(c, "iat", json_integer(now_s() + 300));
    refused(sign(k, "ES256", NULL, c), jwks, "iat");
    c = claims();
    json_object_set_new(c, "nbf", json_integer(now_s() - 10));
    accepted(sign(k, "ES256", NULL, c), jwks);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, jti_rules)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    json_t *c = claims();
    json_object_del(c, "jti");
    refused(sign(k, "ES256", NULL, c), jwks, "no jti");
    c = claims();
    json_object_set_new(c, "jti", json_integer(5));
    refused(sign(k, "ES256", NULL, c), jwks, "jti must be");
    c = claims();
    json_object_set_new(c, "jti", json_string(""));
    refused(sign(k, "ES256", NULL, c), jwks, "jti must be");
    char big[300];
    memset(big, 'j', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    c = claims();
    json_object_set_new(c, "jti", json_string(big));
    refused(sign(k, "ES256", NULL, c), jwks, "jti must be");
    big[256] = '\0';
    memcpy(big, "jti-", 4);
    c = claims();
    json_object_set_new(c, "jti", json_string(big));
    accepted(sign(k, "ES256", NULL, c), jwks);
    cr_assert_eq(strlen(res.jti), 256);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, iss_sub_aud)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    json_t *c = claims();
    json_object_set_new(c, "iss", json_string("ocl_someoneelse"));
    refused(sign(k, "ES256", NULL, c), jwks, "iss");
    c = claims();
    json_object_del(c, "iss");
    refused(sign(k, "ES256", NULL, c), jwks, "iss");
    c = claims();
    json_object_set_new(c, "sub", json_string("ocl_someoneelse"));
    refused(sign(k, "ES256", NULL, c), jwks, "sub");
    c = claims();
    json_object_set_new(c, "aud", json_string("https://evil.example/oauth/token"));
    refused(sign(k, "ES256", NULL, c), jwks, "aud");
    c = claims();
    json_object_set_new(c, "aud", json_string(ISSUER "/"));
    refused(sign(k, "ES256", NULL, c), jwks, "aud");
    c = claims();
    json_object_set_new(c, "aud", json_pack("[s, s]", "https://a.example", "https://b.example"));
    refused(sign(k, "ES256", NULL, c), jwks, "aud");
    c = claims();
    json_object_set_new(c, "aud", json_pack("[s, i]", ISSUER, 3));
    refused(sign(k, "ES256", NULL, c), jwks, "aud");
    c = claims();
    json_object_del(c, "aud");
    refused(sign(k, "ES256", NULL, c), jwks, "no aud");
    c = claims();
    json_object_set_new(c, "aud", json_string(ISSUER));
    accepted(sign(k, "ES256", NULL, c), jwks);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, header_rules)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    accepted(sign_hdr(k, "ES256", json_pack("{s:s}", "alg", "ES256"), claims()), jwks);
    accepted(sign_hdr(k, "ES256",
                      json_pack("{s:s, s:s}", "alg", "ES256", "typ", "client-authentication+jwt"),
                      claims()),
             jwks);
    accepted(sign_hdr(k, "ES256", json_pack("{s:s, s:s}", "alg", "ES256", "typ", "jwt"), claims()),
             jwks);
    refused(
        sign_hdr(k, "ES256", json_pack("{s:s, s:s}", "alg", "ES256", "typ", "at+jwt"), claims()),
        jwks, "typ");
    refused(
        sign_hdr(k, "ES256", json_pack("{s:s, s:[s]}", "alg", "ES256", "crit", "exp"), claims()),
        jwks, "crit");
    refused(sign_hdr(k, "ES256", json_pack("{s:s, s:i}", "alg", "ES256", "kid", 4), claims()), jwks,
            "kid");
    refused(sign_hdr(k, "ES256", json_pack("{s:i}", "alg", 256), claims()), jwks, "no alg");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, duplicate_members_and_tampering_refused)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"sub\":\"%s\",\"sub\":\"other\",\"aud\":\"%s\",\"exp\":%ld,"
             "\"jti\":\"jti-dup\"}",
             CLIENT, CLIENT, TOKEN_EP, (long)now_s() + 60);
    char *h64 = b64_text("{\"alg\":\"ES256\"}"), *p64 = b64_text(payload);
    refused(sign_raw(k, "ES256", h64, p64), jwks, "duplicate");
    free(h64);
    free(p64);
    h64 = b64_text("{\"alg\":\"ES256\",\"alg\":\"none\"}");
    p64 = b64_take(claims());
    refused(sign_raw(k, "ES256", h64, p64), jwks, "duplicate");
    /* A valid token whose payload is swapped for another after signing. */
    char *good = sign(k, "ES256", NULL, claims());
    json_t *c = claims();
    json_object_set_new(c, "sub", json_string(CLIENT));
    char *other = b64_json(c);
    json_decref(c);
    char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
    size_t n = strlen(good) + strlen(other) + 4;
    char *forged = malloc(n);
    snprintf(forged, n, "%.*s.%s%s", (int)(d1 - good), good, other, d2);
    refused(forged, jwks, "signature does not verify");
    /* A flipped signature bit. */
    size_t gl = strlen(good);
    good[gl - 3] = good[gl - 3] == 'A' ? 'B' : 'A';
    refused(good, jwks, "signature does not verify");
    free(other);
    free(h64);
    free(p64);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, es256_der_signature_refused)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    refused(sign(k, "ES256-DER", NULL, claims()), jwks, "signature does not verify");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, malformed_and_oversize)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    char *good = sign(k, "ES256", NULL, claims());
    struct {
        const char *jwt;
        const char *needle;
    } cases[] = {
        {"", "empty"},
        {"abc", "compact JWS"},
        {"abc.def", "compact JWS"},
        {"a.b.c.d", "more than three"},
        {"a.b.c.d.e", "more than three"},
        {".eyJ9.c2ln", "empty header"},
        {"eyJhbGciOiJFUzI1NiJ9..c2ln", "empty header"},
        {"eyJhbGciOiJFUzI1NiJ9.e30.", "unsigned"},
        {"e!!.e30.c2ln", "header"},
        {"bm90IGpzb24.e30.c2ln", "header"},
        {"eyJhbGciOiJFUzI1NiJ9.WzFd.c2ln", "payload"},  /* payload [1] */
        {"eyJhbGciOiJFUzI1NiJ9.e30.c2l*", "signature"}, /* bad base64url in the signature */
        {"eyJhbGciOiJFUzI1NiJ9.e30=.c2ln", "payload"},  /* padding is not base64url */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        refused(strdup(cases[i].jwt), jwks, cases[i].needle);
    /* Oversize: a valid-looking token padded past 8192 bytes. */
    json_t *c = claims();
    char pad[9000];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_object_set_new(c, "pad", json_string(pad));
    refused(sign(k, "ES256", NULL, c), jwks, "longer than 8192");
    /* A truncated good one. */
    good[strlen(good) - 10] = '\0';
    refused(good, jwks, "signature");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, no_usable_keys)
{
    EVP_PKEY *k = gen_ec();
    json_t *empty = json_pack("{s:[]}", "keys");
    refused(sign(k, "ES256", NULL, claims()), empty, "no registered keys");
    refused(sign(k, "ES256", NULL, claims()), NULL, "no registered keys");
    json_decref(empty);
    json_t *enc = jwk_of(k, NULL, NULL);
    json_object_set_new(enc, "use", json_string("enc"));
    json_t *jwks = jwks_of(enc, NULL);
    refused(sign(k, "ES256", NULL, claims()), jwks, "no usable");
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, off_curve_point_refused)
{
    EVP_PKEY *k = gen_ec();
    json_t *jwk = jwk_of(k, NULL, NULL);
    uint8_t y[32];
    char y64[B64URL_LEN(32) + 1];
    const char *ys = json_string_value(json_object_get(jwk, "y"));
    cr_assert_eq(b64url_decode(ys, strlen(ys), y, sizeof y), 32);
    y[31] ^= 1;
    b64url_encode(y, 32, y64);
    json_object_set_new(jwk, "y", json_string(y64));
    json_t *jwks = jwks_of(jwk, NULL);
    refused(sign(k, "ES256", NULL, claims()), jwks, "signature does not verify");
    cr_assert_eq(assertion_jwks_check(jwks, why, sizeof why), WT_INVALID);
    cr_assert_not_null(strstr(why, "not on the P-256 curve"), "%s", why);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, small_rsa_key_refused)
{
    EVP_PKEY *k = gen_rsa(1024);
    json_t *jwks = jwks_of(jwk_of(k, NULL, NULL), NULL);
    refused(sign(k, "RS256", NULL, claims()), jwks, "signature does not verify");
    cr_assert_eq(assertion_jwks_check(jwks, why, sizeof why), WT_INVALID);
    cr_assert_not_null(strstr(why, "2048"), "%s", why);
    json_decref(jwks);
    EVP_PKEY_free(k);
}

Test(assertion, jwks_check)
{
    EVP_PKEY *ec = gen_ec(), *rsa = gen_rsa(2048), *ed = gen_ed25519();
    json_t *ok =
        jwks_of(jwk_of(ec, "e", NULL), jwk_of(rsa, "r", "PS256"), jwk_of(ed, NULL, NULL), NULL);
    cr_assert_eq(assertion_jwks_check(ok, why, sizeof why), WT_OK, "%s", why);
    json_decref(ok);
    struct {
        json_t *jwks;
        const char *needle;
    } bad[] = {
        {json_pack("[]"), "keys"},
        {json_pack("{s:[]}", "keys"), "1 to 16"},
        {jwks_of(json_pack("{s:s, s:s}", "kty", "oct", "k", "c2VjcmV0"), NULL), "private"},
        {jwks_of(json_pack("{s:s}", "kty", "oct"), NULL), "unsupported kty"},
        {jwks_of(jwk_of(ec, "same", NULL), jwk_of(rsa, "same", NULL), NULL), "same kid"},
        {jwks_of(jwk_of(ec, NULL, "RS256"), NULL), "does not fit"},
        {jwks_of(jwk_of(ec, NULL, "HS256"), NULL), "unsupported alg"},
        {jwks_of(
             json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-384", "x", "AA", "y", "AA"),
             NULL),
         "P-256"},
        {jwks_of(json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", "AAAA", "y",
                           "AAAA"),
                 NULL),
         "32 base64url"},
        {jwks_of(json_pack("{s:s, s:s}", "kty", "RSA", "n", "AQAB"), NULL), "n or e"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(assertion_jwks_check(bad[i].jwks, why, sizeof why), WT_INVALID, "case %zu", i);
        cr_assert_not_null(strstr(why, bad[i].needle), "case %zu: '%s' lacks '%s'", i, why,
                           bad[i].needle);
        json_decref(bad[i].jwks);
    }
    /* A private EC JWK (with d) is refused at registration. */
    json_t *priv = jwk_of(ec, NULL, NULL);
    json_object_set_new(priv, "d", json_string("AAAA"));
    json_t *pj = jwks_of(priv, NULL);
    cr_assert_eq(assertion_jwks_check(pj, why, sizeof why), WT_INVALID);
    cr_assert_not_null(strstr(why, "private key material"), "%s", why);
    json_decref(pj);
    /* Too many keys. */
    json_t *many = json_pack("{s:[]}", "keys");
    for (int i = 0; i < ASSERTION_MAX_KEYS + 1; i++)
        json_array_append_new(json_object_get(many, "keys"), jwk_of(ec, NULL, NULL));
    cr_assert_eq(assertion_jwks_check(many, why, sizeof why), WT_INVALID);
    json_decref(many);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

Test(assertion, peek_subject)
{
    EVP_PKEY *k = gen_ec();
    char *jwt = sign(k, "ES256", NULL, claims());
    char sub[64];
    cr_assert_eq(assertion_peek_subject(jwt, strlen(jwt), sub, sizeof sub, why, sizeof why), WT_OK);
    cr_assert_str_eq(sub, CLIENT);
    cr_assert_eq(assertion_peek_subject(jwt, strlen(jwt), sub, 8, why, sizeof why), WT_DENIED);
    free(jwt);
    json_t *c = claims();
    json_object_del(c, "sub");
    jwt = sign(k, "ES256", NULL, c);
    cr_assert_eq(assertion_peek_subject(jwt, strlen(jwt), sub, sizeof sub, why, sizeof why),
                 WT_DENIED);
    cr_assert_not_null(strstr(why, "sub"));
    free(jwt);
    cr_assert_eq(assertion_peek_subject("x.y", 3, sub, sizeof sub, why, sizeof why), WT_DENIED);
    EVP_PKEY_free(k);
}

/* ---------------------------------------------------------------- store: jti and clientauth */

static char tmp[64];
static store *st;

static void store_setup(void)
{
    st = tmpstore_open(tmp, sizeof tmp, NULL, 0, "assertion");
}

static void store_teardown(void)
{
    tmpstore_close(&st, tmp);
}

TestSuite(assertion_store, .init = store_setup, .fini = store_teardown, .timeout = 120);

static wt_status run_record(store_txn *t, void *arg)
{
    return assertion_record_op(t, arg);
}

static wt_status seen(const char *client, const char *jti)
{
    store_reader *r = store_reader_new(st);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    wt_status s = assertion_jti_seen(t, client, jti);
    store_reader_end(r);
    store_reader_free(r);
    return s;
}

struct raw_get {
    const char *client, *jti;
    uint8_t val[16];
    size_t len;
};

Test(assertion_store, jti_recorded_once)
{
    cr_assert_eq(seen(CLIENT, "j1"), WT_NOTFOUND);
    assertion_jti_op op = {.client_id = CLIENT, .jti = "j1", .keep_until = 1700000000};
    cr_assert_eq(store_write_sync(st, run_record, &op), WT_OK);
    cr_assert(!op.replayed);
    cr_assert_eq(seen(CLIENT, "j1"), WT_EXISTS);
    cr_assert_eq(seen(CLIENT, "j2"), WT_NOTFOUND);
    cr_assert_eq(seen("ocl_other", "j1"), WT_NOTFOUND); /* per client */
    cr_assert_eq(store_write_sync(st, run_record, &op), WT_OK);
    cr_assert(op.replayed);
    /* Another client may use the same jti. */
    assertion_jti_op op2 = {.client_id = "ocl_other", .jti = "j1", .keep_until = 1700000000};
    cr_assert_eq(store_write_sync(st, run_record, &op2), WT_OK);
    cr_assert(!op2.replayed);
    /* A NULL jti records nothing; an empty client id is refused. */
    assertion_jti_op none = {.client_id = CLIENT, .jti = NULL};
    cr_assert_eq(store_write_sync(st, run_record, &none), WT_OK);
    assertion_jti_op bad = {.client_id = "", .jti = "x"};
    cr_assert_eq(store_write_sync(st, run_record, &bad), WT_INVALID);
    /* A 400-byte client id (a long metadata-document URL) with a 256-byte jti fits. */
    char longid[401], longjti[257];
    memset(longid, 'c', 400);
    longid[400] = '\0';
    memset(longjti, 'j', 256);
    longjti[256] = '\0';
    assertion_jti_op lng = {.client_id = longid, .jti = longjti, .keep_until = 5};
    cr_assert_eq(store_write_sync(st, run_record, &lng), WT_OK);
    cr_assert_eq(seen(longid, longjti), WT_EXISTS);
}

static int find_value(void *arg, store_val k, store_val v)
{
    struct raw_get *g = arg;
    if (k.len == strlen(g->client) + 33 && memcmp(k.data, g->client, strlen(g->client)) == 0 &&
        v.len <= sizeof g->val) {
        memcpy(g->val, v.data, v.len);
        g->len = v.len;
        return 1;
    }
    return 0;
}

Test(assertion_store, record_format_and_gc_rule)
{
    assertion_jti_op op = {.client_id = CLIENT, .jti = "jx", .keep_until = 0x0102030405LL};
    cr_assert_eq(store_write_sync(st, run_record, &op), WT_OK);
    store_reader *r = store_reader_new(st);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    struct raw_get g = {.client = CLIENT};
    cr_assert_eq(store_iter(t, STORE_DB_JTI, CLIENT, strlen(CLIENT), find_value, &g), WT_OK);
    store_reader_end(r);
    store_reader_free(r);
    cr_assert_eq(g.len, 8);
    uint8_t want[8] = {0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0};
    cr_assert_arr_eq(g.val, want, 8);
    cr_assert(!until_passed(g.val, 8, 0x0102030404LL));
    cr_assert(until_passed(g.val, 8, 0x0102030405LL));
    cr_assert(until_passed(g.val, 7, 0));
}

/* clientauth with a stored private_key_jwt client and a stored secret client. */

#define SECRET_CLIENT "ocl_secretclient0000000000"
#define SECRET "ocs_thesecret"

static EVP_PKEY *client_key;

static wt_status run_put_doc(store_txn *t, void *arg)
{
    return client_store(t, arg, true);
}

static void register_clients(void)
{
    client_key = gen_ec();
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:[s], s:o}", "client_id", CLIENT, "client_name", "pk",
                  "token_endpoint_auth_method", "private_key_jwt", "scope", "", "grant_types",
                  "client_credentials", "jwks", jwks_of(jwk_of(client_key, "k1", NULL), NULL));
    cr_assert_eq(store_write_sync(st, run_put_doc, doc), WT_OK);
    json_decref(doc);
    uint8_t dg[32];
    char d64[B64URL_LEN(32) + 1];
    crypto_sha256(SECRET, strlen(SECRET), dg);
    b64url_encode(dg, 32, d64);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s}", "client_id", SECRET_CLIENT, "client_name",
                    "sec", "token_endpoint_auth_method", "client_secret_basic", "scope", "",
                    "grant_types", "client_credentials", "secret_sha256", d64);
    cr_assert_eq(store_write_sync(st, run_put_doc, doc), WT_OK);
    json_decref(doc);
}

static clientauth ca;

/* Authenticates a form body (urlencoded, no escapes needed) with an optional Authorization. */
static void auth(const char *authz, const char *body, const char *endpoint)
{
    form_t f;
    char fwhy[128];
    cr_assert_eq(form_parse(body, strlen(body), &f, fwhy, sizeof fwhy), WT_OK, "%s", fwhy);
    store_reader *r = store_reader_new(st);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    wt_status s = client_authenticate_at(t, authz, &f, ISSUER, endpoint, &ca);
    store_reader_end(r);
    store_reader_free(r);
    form_free(&f);
    cr_assert_eq(s, WT_OK);
}

static void done(void)
{
    client_free(&ca.client);
}

static char body[12000];

static const char *assertion_body(const char *jwt, const char *extra)
{
    snprintf(body, sizeof body,
             "grant_type=client_credentials&client_assertion_type=%s&"
             "client_assertion=%s%s",
             ASSERTION_TYPE_JWT_BEARER, jwt, extra ? extra : "");
    return body;
}

static void expect_fail(enum oauth_error e, int status, const char *needle)
{
    cr_assert_eq(ca.err, e, "err %d (%s)", ca.err, ca.why);
    cr_assert_eq(ca.status, status);
    cr_assert_not_null(strstr(ca.why, needle), "'%s' lacks '%s'", ca.why, needle);
    cr_assert_null(ca.client.doc);
    done();
}

Test(assertion_store, clientauth_private_key_jwt)
{
    register_clients();
    char *jwt = sign(client_key, "ES256", "k1", claims());
    auth(NULL, assertion_body(jwt, NULL), "/oauth/token");
    cr_assert_eq(ca.err, OE_NONE, "%s", ca.why);
    cr_assert_str_eq(ca.client.id, CLIENT);
    cr_assert(ca.assertion_used && ca.secret_used);
    cr_assert(strncmp(ca.jti, "jti-", 4) == 0);
    cr_assert_gt(ca.jti_keep_until, now_s());
    /* Not recorded yet (the writer op does that): a second read still passes. */
    done();
    auth(NULL, assertion_body(jwt, "&client_id=" CLIENT), "/oauth/token");
    cr_assert_eq(ca.err, OE_NONE, "%s", ca.why);
    assertion_jti_op op = {.client_id = CLIENT, .jti = ca.jti, .keep_until = ca.jti_keep_until};
    cr_assert_eq(store_write_sync(st, run_record, &op), WT_OK);
    cr_assert(!op.replayed);
    done();
    /* Recorded: the read path refuses the replay. */
    auth(NULL, assertion_body(jwt, NULL), "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "already used");
    free(jwt);
    /* aud = the revocation endpoint is accepted there, not at the token endpoint. */
    json_t *c = claims();
    json_object_set_new(c, "aud", json_string(ISSUER "/oauth/revoke"));
    jwt = sign(client_key, "ES256", "k1", c);
    auth(NULL, assertion_body(jwt, NULL), "/oauth/revoke");
    cr_assert_eq(ca.err, OE_NONE, "%s", ca.why);
    done();
    auth(NULL, assertion_body(jwt, NULL), "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "aud");
    free(jwt);
    EVP_PKEY_free(client_key);
}

Test(assertion_store, clientauth_method_rules)
{
    register_clients();
    char *jwt = sign(client_key, "ES256", "k1", claims());
    /* Two methods. */
    auth("Basic b2NsX3g6eQ==", assertion_body(jwt, NULL), "/oauth/token");
    expect_fail(OE_INVALID_REQUEST, 400, "one client authentication method");
    auth(NULL, assertion_body(jwt, "&client_secret=x"), "/oauth/token");
    expect_fail(OE_INVALID_REQUEST, 400, "one client authentication method");
    /* Half an assertion, or another type. */
    snprintf(body, sizeof body, "client_assertion=%s", jwt);
    auth(NULL, body, "/oauth/token");
    expect_fail(OE_INVALID_REQUEST, 400, "together");
    snprintf(body, sizeof body, "client_assertion_type=%s", ASSERTION_TYPE_JWT_BEARER);
    auth(NULL, body, "/oauth/token");
    expect_fail(OE_INVALID_REQUEST, 400, "together");
    snprintf(body, sizeof body,
             "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:saml2-bearer&"
             "client_assertion=%s",
             jwt);
    auth(NULL, body, "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "unsupported client_assertion_type");
    /* A body client_id that is not the assertion's sub. */
    auth(NULL, assertion_body(jwt, "&client_id=" SECRET_CLIENT), "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "differs");
    /* A private_key_jwt client cannot use a secret, or nothing. */
    auth(NULL, "client_id=" CLIENT "&client_secret=whatever", "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "private_key_jwt");
    auth(NULL, "client_id=" CLIENT, "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "private_key_jwt");
    /* A secret client cannot use an assertion, even one signed by a registered key of another
     * client that names it. */
    json_t *c = claims();
    json_object_set_new(c, "iss", json_string(SECRET_CLIENT));
    json_object_set_new(c, "sub", json_string(SECRET_CLIENT));
    char *sj = sign(client_key, "ES256", "k1", c);
    auth(NULL, assertion_body(sj, NULL), "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "client_secret");
    free(sj);
    /* The secret client still works with its secret. */
    auth(NULL, "client_id=" SECRET_CLIENT "&client_secret=" SECRET, "/oauth/token");
    cr_assert_eq(ca.err, OE_NONE, "%s", ca.why);
    cr_assert(!ca.assertion_used);
    done();
    /* Unknown client named by sub. */
    c = claims();
    json_object_set_new(c, "sub", json_string("ocl_nobody"));
    sj = sign(client_key, "ES256", "k1", c);
    auth(NULL, assertion_body(sj, NULL), "/oauth/token");
    expect_fail(OE_INVALID_CLIENT, 401, "unknown client");
    free(sj);
    /* A bad signature: invalid_client with a reason that does not echo the assertion. */
    EVP_PKEY *other = gen_ec();
    sj = sign(other, "ES256", "k1", claims());
    auth(NULL, assertion_body(sj, NULL), "/oauth/token");
    cr_assert_null(strstr(ca.why, "eyJ"));
    expect_fail(OE_INVALID_CLIENT, 401, "signature does not verify");
    free(sj);
    EVP_PKEY_free(other);
    /* Without an issuer assertions are refused. */
    form_t f;
    char fwhy[128];
    const char *b = assertion_body(jwt, NULL);
    cr_assert_eq(form_parse(b, strlen(b), &f, fwhy, sizeof fwhy), WT_OK);
    store_reader *r = store_reader_new(st);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(client_authenticate_at(t, NULL, &f, NULL, "/oauth/token", &ca), WT_OK);
    store_reader_end(r);
    store_reader_free(r);
    form_free(&f);
    expect_fail(OE_INVALID_CLIENT, 401, "not accepted at this endpoint");
    free(jwt);
    EVP_PKEY_free(client_key);
}
