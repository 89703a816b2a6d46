/* test_keys.c — the signing keys (src/keys.c): creation at start-up, the JWKS and its RFC 7638
 * kids, ES256 JWS signed with the stored key and verified here with OpenSSL from the JWKS x/y
 * alone, rotation (the old key stays published until its time, then is purged), the listing
 * (no private material) and the server's cache noticing a change made by another writer. Each
 * test gets a fresh temporary store. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "keys.h"
#include "store.h"
#include "tmpstore.h"

static char tmp[64];
static char dir[128];
static store *st;

#define NOW 1800000000

static void setup(void)
{
    umask(022);
    st = tmpstore_open(tmp, sizeof tmp, dir, sizeof dir, "keys");
}

static void teardown(void)
{
    tmpstore_close(&st, tmp);
}

TestSuite(keys, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static store_reader *rd;

static store_txn *begin(void)
{
    store_txn *t;
    rd = store_reader_new(st);
    cr_assert_not_null(rd);
    cr_assert_eq(store_reader_begin(rd, &t), WT_OK);
    return t;
}

static void end(void)
{
    store_reader_end(rd);
    store_reader_free(rd);
    rd = NULL;
}

static keyring *load_at(int64_t now)
{
    keyring *k = keys_load(begin(), now);
    end();
    cr_assert_not_null(k);
    return k;
}

static json_t *jwks_of(const keyring *k)
{
    size_t len;
    const char *s = keyring_jwks(k, &len);
    cr_assert_eq(strlen(s), len);
    json_t *j = json_loadb(s, len, 0, NULL);
    cr_assert_not_null(j, "JWKS is not JSON: %s", s);
    return j;
}

struct rot {
    int64_t now, after;
    char kid[KEYS_KID_LEN + 1];
};

static wt_status run_rotate(store_txn *t, void *arg)
{
    struct rot *r = arg;
    return keys_rotate(t, r->now, r->after, r->kid);
}

static void rotate(int64_t now, int64_t after, char *kid_out)
{
    struct rot r = {now, after, ""};
    cr_assert_eq(store_write_sync(st, run_rotate, &r), WT_OK);
    cr_assert_eq(strlen(r.kid), KEYS_KID_LEN);
    if (kid_out)
        memcpy(kid_out, r.kid, sizeof r.kid);
}

static size_t b64d(const char *s, size_t len, uint8_t *out, size_t cap)
{
    long n = b64url_decode(s, len, out, cap);
    cr_assert_geq(n, 0, "not base64url: %.*s", (int)len, s);
    return (size_t)n;
}

/* An EVP_PKEY holding only the public point of a JWK. */
static EVP_PKEY *jwk_public(const json_t *jwk)
{
    uint8_t pt[65] = {0x04};
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    cr_assert(x && y);
    cr_assert_eq(b64d(x, strlen(x), pt + 1, 32), 32);
    cr_assert_eq(b64d(y, strlen(y), pt + 33, 32), 32);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    cr_assert_eq(EVP_PKEY_fromdata_init(c), 1);
    cr_assert_eq(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p), 1);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    return pk;
}

/* Verifies a compact ES256 JWS against a JWK; returns the decoded header (caller decrefs) and
 * the payload into payload_out (malloc'd). */
static json_t *verify_jws(const char *jws, const json_t *jwk, char **payload_out)
{
    const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    cr_assert(d1 && d2 && !strchr(d2 + 1, '.'), "not a compact JWS: %s", jws);
    uint8_t buf[4096], rs[80];
    size_t n = b64d(jws, (size_t)(d1 - jws), buf, sizeof buf);
    json_t *h = json_loadb((const char *)buf, n, 0, NULL);
    cr_assert_not_null(h);
    n = b64d(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof buf - 1);
    buf[n] = 0;
    *payload_out = strdup((const char *)buf);
    size_t sl = b64d(d2 + 1, strlen(d2 + 1), rs, sizeof rs);
    cr_assert_eq(sl, 64, "ES256 signatures are R||S, 64 bytes (got %zu)", sl);

    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(sig, &der);
    cr_assert_gt(dl, 0);
    EVP_PKEY *pk = jwk_public(jwk);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    int ok = EVP_DigestVerify(md, der, (size_t)dl, (const unsigned char *)jws, (size_t)(d2 - jws));
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    cr_assert_eq(ok, 1, "the signature does not verify with the published key");
    return h;
}

static const json_t *jwk_by_kid(const json_t *jwks, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i,
                       k) if (strcmp(json_string_value(json_object_get(k, "kid")), kid) ==
                              0) return k;
    return NULL;
}

/* ---- tests ---- */

Test(keys, retire_after)
{
    cr_assert_eq(keys_retire_after(3600), 86400);
    cr_assert_eq(keys_retire_after(200000), 200000);
}

Test(keys, ensure_creates_one_key_once)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    keyring *a = load_at(NOW);
    cr_assert_not_null(keyring_kid(a));
    char kid[KEYS_KID_LEN + 1];
    snprintf(kid, sizeof kid, "%s", keyring_kid(a));
    cr_assert_eq(keys_ensure(st, NOW + 10), WT_OK);
    keyring *b = load_at(NOW + 10);
    cr_assert_str_eq(keyring_kid(b), kid, "a second start-up must keep the key");
    json_t *j = jwks_of(b);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 1);
    json_decref(j);
    keyring_release(a);
    keyring_release(b);
}

Test(keys, jwks_members_and_rfc7638_kid)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    keyring *k = load_at(NOW);
    json_t *j = jwks_of(k);
    cr_assert_eq(json_object_size(j), 1, "only \"keys\"");
    const json_t *jwk = json_array_get(json_object_get(j, "keys"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "EC");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "P-256");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "ES256");
    cr_assert_null(json_object_get(jwk, "d"), "no private member");
    cr_assert_eq(json_object_size(jwk), 7);
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    cr_assert_eq(strlen(x), 43, "x is 32 bytes, padded (BN_bn2binpad)");
    cr_assert_eq(strlen(y), 43);
    char canon[200], kid[44];
    uint8_t d[32];
    snprintf(canon, sizeof canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x,
             y);
    crypto_sha256(canon, strlen(canon), d);
    b64url_encode(d, 32, kid);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), kid);
    cr_assert_str_eq(keyring_kid(k), kid);
    json_decref(j);
    keyring_release(k);
}

Test(keys, jws_verifies_with_the_published_key)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    keyring *k = load_at(NOW);
    json_t *j = jwks_of(k);
    const char *payload = "{\"iss\":\"https://as.example\",\"n\":1}";
    for (int i = 0; i < 20; i++) { /* leading-zero R or S must still be 32 bytes each */
        char *jws = keyring_sign_jws(k, "token-introspection+jwt", payload, strlen(payload));
        cr_assert_not_null(jws);
        char *got = NULL;
        json_t *h = verify_jws(jws, jwk_by_kid(j, keyring_kid(k)), &got);
        cr_assert_str_eq(got, payload);
        cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES256");
        cr_assert_str_eq(json_string_value(json_object_get(h, "typ")), "token-introspection+jwt");
        cr_assert_str_eq(json_string_value(json_object_get(h, "kid")), keyring_kid(k));
        json_decref(h);
        free(got);
        free(jws);
    }
    /* A tampered payload does not verify. */
    char *jws = keyring_sign_jws(k, NULL, payload, strlen(payload));
    char *d1 = strchr(jws, '.');
    d1[3] = d1[3] == 'A' ? 'B' : 'A';
    const char *d2 = strchr(d1 + 1, '.');
    uint8_t rs[64];
    cr_assert_eq(b64url_decode(d2 + 1, strlen(d2 + 1), rs, sizeof rs), 64);
    /* typ is left out when not asked for */
    uint8_t hb[256];
    long hn = b64url_decode(jws, (size_t)(d1 - jws), hb, sizeof hb);
    cr_assert_gt(hn, 0);
    cr_assert_null(memmem(hb, (size_t)hn, "typ", 3));
    free(jws);
    /* A typ with characters JSON escapes is escaped: the header still parses and says it. */
    jws = keyring_sign_jws(k, "a\"b\\", payload, strlen(payload));
    cr_assert_not_null(jws);
    char *got = NULL;
    json_t *h = verify_jws(jws, jwk_by_kid(j, keyring_kid(k)), &got);
    cr_assert_str_eq(json_string_value(json_object_get(h, "typ")), "a\"b\\");
    json_decref(h);
    free(got);
    free(jws);
    /* One that is not UTF-8 cannot be written: refused. */
    cr_assert_null(keyring_sign_jws(k, "a\xff", payload, strlen(payload)));
    json_decref(j);
    keyring_release(k);
}

Test(keys, rotation_keeps_the_old_key_published_until_it_retires)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    keyring *k0 = load_at(NOW);
    char old[KEYS_KID_LEN + 1], fresh[KEYS_KID_LEN + 1];
    snprintf(old, sizeof old, "%s", keyring_kid(k0));
    keyring_release(k0);

    rotate(NOW + 5, 1000, fresh);
    cr_assert_str_neq(fresh, old);
    keyring *k1 = load_at(NOW + 6);
    cr_assert_str_eq(keyring_kid(k1), fresh, "the new key signs");
    json_t *j = jwks_of(k1);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "kid")),
        fresh, "the active key is listed first");
    cr_assert_not_null(jwk_by_kid(j, old), "the old key stays published");
    char *jws = keyring_sign_jws(k1, "x+jwt", "{}", 2), *p = NULL;
    json_decref(verify_jws(jws, jwk_by_kid(j, fresh), &p));
    free(p);
    free(jws);
    json_decref(j);
    keyring_release(k1);

    /* After its time the old key is no longer published, and the next change purges it. */
    keyring *k2 = load_at(NOW + 5 + 1000);
    j = jwks_of(k2);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 1);
    cr_assert_null(jwk_by_kid(j, old));
    json_decref(j);
    keyring_release(k2);

    json_t *list;
    cr_assert_eq(keys_list(begin(), NOW + 5 + 1000, &list), WT_OK);
    end();
    cr_assert_eq(json_array_size(list), 2, "still stored until the next change");
    cr_assert(json_is_false(json_object_get(json_array_get(list, 1), "published")));
    json_decref(list);
    cr_assert_eq(keys_ensure(st, NOW + 5 + 1000), WT_OK);
    cr_assert_eq(keys_list(begin(), NOW + 5 + 1000, &list), WT_OK);
    end();
    cr_assert_eq(json_array_size(list), 1, "purged");
    json_decref(list);
}

Test(keys, list_has_no_private_material)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    rotate(NOW + 1, 86400, NULL);
    json_t *list;
    cr_assert_eq(keys_list(begin(), NOW + 2, &list), WT_OK);
    end();
    cr_assert_eq(json_array_size(list), 2);
    char *s = json_dumps(list, 0);
    cr_assert_null(strstr(s, "PRIVATE"));
    cr_assert_null(strstr(s, "pem"));
    cr_assert_null(strstr(s, "\"d\""));
    free(s);
    const json_t *a = json_array_get(list, 0), *r = json_array_get(list, 1);
    cr_assert(json_is_true(json_object_get(a, "active")));
    cr_assert_null(json_object_get(a, "retires_at"));
    cr_assert(json_is_false(json_object_get(r, "active")));
    cr_assert_eq(json_integer_value(json_object_get(r, "retires_at")), NOW + 1 + 86400);
    cr_assert(json_is_true(json_object_get(r, "published")));
    json_decref(list);
}

Test(keys, cache_notices_changes)
{
    keyring_cache *c = keyring_cache_new();
    keyring *a, *b;
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    cr_assert_eq(keyring_cache_get(c, begin(), NOW, &a), WT_OK);
    end();
    cr_assert_eq(keyring_cache_get(c, begin(), NOW + 1, &b), WT_OK);
    end();
    cr_assert_eq(a, b, "unchanged: the same keyring is reused");
    keyring_release(b);

    char fresh[KEYS_KID_LEN + 1];
    rotate(NOW + 2, 100, fresh); /* as `wattle keys rotate` would, from another writer */
    cr_assert_eq(keyring_cache_get(c, begin(), NOW + 3, &b), WT_OK);
    end();
    cr_assert_neq(a, b);
    cr_assert_str_eq(keyring_kid(b), fresh);
    json_t *j = jwks_of(b);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 2);
    json_decref(j);
    /* The old keyring is still usable by whoever holds it. */
    char *jws = keyring_sign_jws(a, NULL, "{}", 2);
    cr_assert_not_null(jws);
    free(jws);
    keyring_release(a);
    keyring_release(b);

    /* The retired key's time passes: reloaded without any store change. */
    cr_assert_eq(keyring_cache_get(c, begin(), NOW + 2 + 100, &b), WT_OK);
    end();
    j = jwks_of(b);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 1);
    json_decref(j);
    keyring_release(b);
    keyring_cache_free(c);
}

Test(keys, empty_store_gives_an_empty_keyring)
{
    keyring *k = load_at(NOW);
    size_t len;
    cr_assert_str_eq(keyring_jwks(k, &len), "{\"keys\":[]}");
    cr_assert_null(keyring_kid(k));
    cr_assert_null(keyring_sign_jws(k, NULL, "{}", 2));
    keyring_release(k);
}

Test(keys, rotate_without_a_key_creates_one)
{
    char kid[KEYS_KID_LEN + 1];
    rotate(NOW, 100, kid);
    keyring *k = load_at(NOW);
    cr_assert_str_eq(keyring_kid(k), kid);
    keyring_release(k);
}

Test(keys, rotation_refused_rather_than_overflowing)
{
    cr_assert_eq(keys_ensure(st, NOW), WT_OK);
    for (int i = 0; i < 62; i++)
        rotate(NOW + i, 86400, NULL); /* 63 published keys */
    struct rot r = {NOW + 100, 86400, ""};
    cr_assert_eq(store_write_sync(st, run_rotate, &r), WT_TOOBIG);
    keyring *k = load_at(NOW + 101);
    json_t *j = jwks_of(k);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 63, "nothing dropped");
    json_decref(j);
    keyring_release(k);
    /* Once the old ones retire, rotation works again (and purges them). */
    rotate(NOW + 86400 + 62, 86400, NULL);
    k = load_at(NOW + 86400 + 62);
    j = jwks_of(k);
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 2);
    json_decref(j);
    keyring_release(k);
}
