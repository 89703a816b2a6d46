/* assertion.c — private_key_jwt client assertions (contract in assertion.h).
 *
 * Verification uses OpenSSL directly, not libjwt 1.10 (PLATFORM.md §6): libjwt accepts any
 * token given a NULL key, lets an HS256 token MACed with a public-key PEM pass (alg confusion),
 * rejects every typ but "JWT" (so rfc7523bis's client-authentication+jwt), checks no claim,
 * and re-parses a PEM on every call. Here the JWK becomes an EVP_PKEY (EVP_PKEY_fromdata, which
 * refuses off-curve points), the algorithm comes from the key, and EVP_DigestVerify checks the
 * signature over the first two segments exactly as received. Must not touch: HTTP, forms,
 * client registrations (clientauth.c decides which clients may use this). */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assertion.h"
#include "crypto.h"
#include "log.h"
#include "records.h"

enum alg { ALG_UNSUPPORTED = 0, ALG_ES256, ALG_RS256, ALG_PS256, ALG_EDDSA };

/* Accepted "alg" spellings; the first of each is the canonical name. */
static const struct {
    const char *name;
    enum alg alg;
} algs[] = {
    {"ES256", ALG_ES256}, {"RS256", ALG_RS256},   {"PS256", ALG_PS256},
    {"EdDSA", ALG_EDDSA}, {"Ed25519", ALG_EDDSA}, /* RFC 9864's fully specified name */
};

static enum alg alg_parse(const char *s)
{
    for (size_t i = 0; s && i < sizeof algs / sizeof *algs; i++)
        if (strcmp(s, algs[i].name) == 0)
            return algs[i].alg;
    return ALG_UNSUPPORTED;
}

static const char *alg_name(enum alg a)
{
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++)
        if (algs[i].alg == a)
            return algs[i].name;
    return "?";
}

static wt_status deny(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
    return WT_DENIED;
}

/* Logs and clears OpenSSL's error queue (a failed verify must not leave errors behind for the
 * next operation on this thread). */
static void ssl_drain(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    if (what && e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        log_debug("assertion: %s: %s", what, buf);
    }
    ERR_clear_error();
}

/* ---------------------------------------------------------------- compact JWS */

typedef struct {
    const char *seg[3];
    size_t len[3];
    json_t *header, *claims; /* owned */
    uint8_t *sig;            /* owned */
    size_t siglen;
} jws;

static void jws_free(jws *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    free(j->sig);
    memset(j, 0, sizeof *j);
}

/* A base64url segment holding a JSON object. NULL when not. */
static json_t *decode_json(const char *s, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    json_t *o = NULL;
    if (!buf)
        return NULL;
    long n = b64url_decode(s, len, buf, len);
    if (n > 0) {
        o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
        if (o && !json_is_object(o)) {
            json_decref(o);
            o = NULL;
        }
    }
    free(buf);
    return o;
}

/* Splits and decodes. with_sig: decode the signature too (not needed to peek). */
static wt_status jws_parse(const char *s, size_t len, jws *j, bool with_sig, char *why,
                           size_t whylen)
{
    memset(j, 0, sizeof *j);
    if (len == 0)
        return deny(why, whylen, "the client assertion is empty");
    if (len > ASSERTION_MAX_LEN)
        return deny(why, whylen, "the client assertion is longer than 8192 bytes");
    const char *p = s, *end = s + len;
    for (int i = 0; i < 3; i++) {
        const char *dot = i < 2 ? memchr(p, '.', (size_t)(end - p)) : end;
        if (!dot)
            return deny(why, whylen,
                        "the client assertion is not a compact JWS (three base64url segments "
                        "separated by dots)");
        j->seg[i] = p;
        j->len[i] = (size_t)(dot - p);
        p = dot + 1;
    }
    if (memchr(j->seg[2], '.', j->len[2]))
        return deny(why, whylen,
                    "the client assertion is not a compact JWS (more than three segments; an "
                    "encrypted JWT is not accepted)");
    if (j->len[0] == 0 || j->len[1] == 0)
        return deny(why, whylen, "the client assertion has an empty header or payload");
    if (j->len[2] == 0)
        return deny(why, whylen,
                    "the client assertion is unsigned (empty signature): "
                    "unsigned assertions are refused");
    if (!(j->header = decode_json(j->seg[0], j->len[0]))) {
        jws_free(j);
        return deny(why, whylen,
                    "the client assertion's header is not a base64url-encoded "
                    "JSON object (duplicate member names are refused)");
    }
    if (!(j->claims = decode_json(j->seg[1], j->len[1]))) {
        jws_free(j);
        return deny(why, whylen,
                    "the client assertion's payload is not a base64url-encoded "
                    "JSON object (duplicate member names are refused)");
    }
    if (with_sig) {
        j->sig = malloc(j->len[2]);
        long n = j->sig ? b64url_decode(j->seg[2], j->len[2], j->sig, j->len[2]) : -1;
        if (!j->sig) {
            jws_free(j);
            return WT_NOMEM;
        }
        if (n <= 0) {
            jws_free(j);
            return deny(why, whylen, "the client assertion's signature is not base64url");
        }
        j->siglen = (size_t)n;
    }
    return WT_OK;
}

/* ---------------------------------------------------------------- JWK import */

/* Decodes a base64url member of exactly `want` bytes (want 0: 1..cap bytes). -1 when absent,
 * not a string or of the wrong length. */
static long jwk_bytes(const json_t *k, const char *name, uint8_t *out, size_t cap, size_t want)
{
    const char *s = json_string_value(json_object_get(k, name));
    if (!s)
        return -1;
    long n = b64url_decode(s, strlen(s), out, cap);
    if (n <= 0 || (want && (size_t)n != want))
        return -1;
    return n;
}

/* The algorithm a JWK pins: its "alg" when present (and compatible with its kty/crv), else
 * the one its kty/crv implies. ALG_UNSUPPORTED with why when the key is not usable. */
static enum alg jwk_alg(const json_t *k, char *why, size_t whylen)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const char *crv = json_string_value(json_object_get(k, "crv"));
    const json_t *ja = json_object_get(k, "alg"), *use = json_object_get(k, "use");
    const json_t *ops = json_object_get(k, "key_ops");
    enum alg implied = ALG_UNSUPPORTED;
    if (!json_is_object(k)) {
        deny(why, whylen, "is not a JSON object");
        return ALG_UNSUPPORTED;
    }
    if (use && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0)) {
        deny(why, whylen, "has a \"use\" other than sig");
        return ALG_UNSUPPORTED;
    }
    if (ops) {
        bool verify = false;
        size_t i;
        json_t *v;
        json_array_foreach(ops, i, v) if (json_is_string(v) && strcmp(json_string_value(v),
                                                                      "verify") == 0) verify = true;
        if (!verify) {
            deny(why, whylen, "has key_ops without verify");
            return ALG_UNSUPPORTED;
        }
    }
    if (!kty) {
        deny(why, whylen, "has no kty");
        return ALG_UNSUPPORTED;
    }
    if (strcmp(kty, "EC") == 0) {
        if (!crv || strcmp(crv, "P-256") != 0) {
            deny(why, whylen, "is an EC key on a curve other than P-256 (only ES256 is supported)");
            return ALG_UNSUPPORTED;
        }
        implied = ALG_ES256;
    } else if (strcmp(kty, "RSA") == 0) {
        implied = ALG_RS256;
    } else if (strcmp(kty, "OKP") == 0) {
        if (!crv || strcmp(crv, "Ed25519") != 0) {
            deny(why, whylen, "is an OKP key on a curve other than Ed25519");
            return ALG_UNSUPPORTED;
        }
        implied = ALG_EDDSA;
    } else {
        deny(why, whylen, "has an unsupported kty (EC P-256, RSA and OKP Ed25519 are supported)");
        return ALG_UNSUPPORTED;
    }
    if (!ja)
        return implied;
    enum alg a = alg_parse(json_string_value(ja));
    if (a == ALG_UNSUPPORTED) {
        deny(why, whylen, "has an unsupported alg (ES256, RS256, PS256, EdDSA are supported)");
        return ALG_UNSUPPORTED;
    }
    bool fits = a == implied || (implied == ALG_RS256 && a == ALG_PS256);
    if (!fits) {
        deny(why, whylen, "has an alg that does not fit its kty/crv");
        return ALG_UNSUPPORTED;
    }
    return a;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *b)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
    EVP_PKEY_CTX *c = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    if (!c || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    return pk;
}

static bool public_check(EVP_PKEY *pk)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    bool ok = c && EVP_PKEY_public_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

/* An EVP_PKEY from a JWK whose pinned algorithm is a (jwk_alg). NULL with why when the key
 * material is malformed or refused. EVP_PKEY_fromdata already refuses an off-curve EC point
 * (P-256 has cofactor 1, so that is the whole check); `full` adds EVP_PKEY_public_check for EC
 * and Ed25519 keys at registration. RSA keys get the bounds below only: OpenSSL's RSA public
 * check runs a primality test (3.4 ms for 2048 bits here), too slow for the event loop. */
static EVP_PKEY *jwk_import(const json_t *k, enum alg a, bool full, char *why, size_t whylen)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *b = NULL;
    BIGNUM *n = NULL, *e = NULL;
    if (a == ALG_ES256) {
        uint8_t pub[65];
        pub[0] = 0x04;
        if (jwk_bytes(k, "x", pub + 1, 32, 32) < 0 || jwk_bytes(k, "y", pub + 33, 32, 32) < 0) {
            deny(why, whylen, "is an EC key whose x or y is not 32 base64url-encoded bytes");
            return NULL;
        }
        b = OSSL_PARAM_BLD_new();
        if (b && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
            OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
            pk = fromdata("EC", b);
        if (!pk)
            deny(why, whylen, "is an EC key whose point is not on the P-256 curve");
    } else if (a == ALG_RS256 || a == ALG_PS256) {
        uint8_t nb[1025], eb[8];
        long nl = jwk_bytes(k, "n", nb, sizeof nb, 0), el = jwk_bytes(k, "e", eb, sizeof eb, 0);
        if (nl < 0 || el < 0) {
            deny(why, whylen, "is an RSA key whose n or e is missing or malformed");
            return NULL;
        }
        n = BN_bin2bn(nb, (int)nl, NULL);
        e = BN_bin2bn(eb, (int)el, NULL);
        if (!n || !e) {
            deny(why, whylen, "could not be imported (out of memory)");
            goto out;
        }
        if (BN_num_bits(n) < 2048 || BN_num_bits(n) > 8192) {
            deny(why, whylen, "is an RSA key that is not 2048 to 8192 bits long");
            goto out;
        }
        if (!BN_is_odd(n)) {
            deny(why, whylen, "is an RSA key with an even modulus");
            goto out;
        }
        if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 33) {
            deny(why, whylen, "is an RSA key with an unusable public exponent");
            goto out;
        }
        b = OSSL_PARAM_BLD_new();
        if (b && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) &&
            OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e))
            pk = fromdata("RSA", b);
        if (!pk)
            deny(why, whylen, "is an RSA key that could not be imported");
    } else if (a == ALG_EDDSA) {
        uint8_t x[32];
        if (jwk_bytes(k, "x", x, sizeof x, 32) < 0) {
            deny(why, whylen, "is an Ed25519 key whose x is not 32 base64url-encoded bytes");
            return NULL;
        }
        pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, sizeof x);
        if (!pk)
            deny(why, whylen, "is an Ed25519 key that could not be imported");
    }
    if (pk && full && a != ALG_RS256 && a != ALG_PS256 && !public_check(pk)) {
        EVP_PKEY_free(pk);
        pk = NULL;
        deny(why, whylen, "fails OpenSSL's public key check");
    }
out:
    if (!pk)
        ssl_drain(NULL);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(b);
    return pk;
}

/* ---------------------------------------------------------------- signatures */

/* 1 valid, 0 invalid, -1 OpenSSL failure. */
static int verify_sig(EVP_PKEY *pk, enum alg a, const void *msg, size_t mlen, const uint8_t *sig,
                      size_t slen)
{
    uint8_t der[80];
    const uint8_t *s = sig;
    size_t sl = slen;
    int rc = -1;
    EVP_MD_CTX *m = NULL;
    EVP_PKEY_CTX *pc = NULL;
    if (a == ALG_ES256) {
        /* JWS carries R||S (RFC 7518 §3.4); OpenSSL wants DER. */
        if (slen != 64)
            return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !ss || ECDSA_SIG_set0(es, r, ss) != 1) {
            BN_free(r);
            BN_free(ss);
            ECDSA_SIG_free(es);
            ssl_drain("ECDSA_SIG");
            return -1;
        }
        int dl = i2d_ECDSA_SIG(es, NULL);
        uint8_t *dp = der;
        if (dl <= 0 || (size_t)dl > sizeof der || i2d_ECDSA_SIG(es, &dp) != dl) {
            ECDSA_SIG_free(es);
            ssl_drain("i2d_ECDSA_SIG");
            return -1;
        }
        ECDSA_SIG_free(es);
        s = der;
        sl = (size_t)dl;
    } else if (a == ALG_RS256 || a == ALG_PS256) {
        if (slen != (size_t)EVP_PKEY_get_size(pk))
            return 0;
    } else if (a == ALG_EDDSA) {
        if (slen != 64)
            return 0;
    } else {
        return 0;
    }
    if (!(m = EVP_MD_CTX_new()))
        return -1;
    if (EVP_DigestVerifyInit_ex(m, &pc, a == ALG_EDDSA ? NULL : "SHA256", NULL, NULL, pk, NULL) !=
        1)
        goto out;
    if (a == ALG_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
                           EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    rc = EVP_DigestVerify(m, s, sl, msg, mlen) == 1 ? 1 : 0;
out:
    if (rc < 0)
        ssl_drain("EVP_DigestVerify setup");
    else
        ERR_clear_error(); /* a failed verify queues errors */
    EVP_MD_CTX_free(m);
    return rc;
}

/* ---------------------------------------------------------------- claims */

/* A NumericDate: an integer or a real (truncated) in a sane range. */
static bool numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -1e15 && d < 1e15))
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static bool aud_ok(const json_t *aud, const char *const *accept)
{
    const char *one[ASSERTION_MAX_AUD];
    size_t n = 0;
    if (json_is_string(aud)) {
        one[n++] = json_string_value(aud);
    } else if (json_is_array(aud) && json_array_size(aud) <= ASSERTION_MAX_AUD) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v))
                return false;
            one[n++] = json_string_value(v);
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; accept && accept[j]; j++)
            if (strcmp(one[i], accept[j]) == 0)
                return true;
    return false;
}

static wt_status check_claims(const json_t *c, const assertion_check *chk, assertion_result *out,
                              char *why, size_t whylen)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const json_t *jti = json_object_get(c, "jti");
    const json_t *nbf = json_object_get(c, "nbf"), *iat = json_object_get(c, "iat");
    int64_t exp, t;
    if (!iss || strcmp(iss, chk->client_id) != 0)
        return deny(why, whylen, "the client assertion's iss must be the client_id");
    if (!sub || strcmp(sub, chk->client_id) != 0)
        return deny(why, whylen, "the client assertion's sub must be the client_id");
    if (!json_object_get(c, "aud"))
        return deny(why, whylen, "the client assertion has no aud claim");
    if (!aud_ok(json_object_get(c, "aud"), chk->audiences))
        return deny(why, whylen,
                    "the client assertion's aud must be this server's issuer or "
                    "its token endpoint URL");
    if (!json_object_get(c, "exp"))
        return deny(why, whylen, "the client assertion has no exp claim");
    if (!numeric_date(json_object_get(c, "exp"), &exp))
        return deny(why, whylen, "the client assertion's exp is not a NumericDate");
    if (exp < chk->now - ASSERTION_LEEWAY)
        return deny(why, whylen, "the client assertion has expired");
    if (exp > chk->now + ASSERTION_MAX_LIFETIME + ASSERTION_LEEWAY)
        return deny(why, whylen,
                    "the client assertion's exp is more than 10 minutes ahead: "
                    "use short-lived assertions");
    if (nbf && (!numeric_date(nbf, &t) || t > chk->now + ASSERTION_LEEWAY))
        return deny(why, whylen, "the client assertion is not valid yet (nbf)");
    if (iat && (!numeric_date(iat, &t) || t > chk->now + ASSERTION_LEEWAY))
        return deny(why, whylen, "the client assertion's iat is in the future");
    if (!jti)
        return deny(why, whylen,
                    "the client assertion has no jti claim (a unique id is "
                    "required to prevent replay)");
    const char *js = json_string_value(jti);
    if (!js || !js[0] || json_string_length(jti) > ASSERTION_JTI_MAX)
        return deny(why, whylen,
                    "the client assertion's jti must be a string of 1 to 256 "
                    "bytes");
    memcpy(out->jti, js, json_string_length(jti) + 1);
    out->exp = exp;
    out->keep_until = exp + ASSERTION_LEEWAY;
    return WT_OK;
}

/* ---------------------------------------------------------------- header */

static wt_status check_header(const json_t *h, enum alg *a, char *why, size_t whylen)
{
    const json_t *ja = json_object_get(h, "alg"), *typ = json_object_get(h, "typ");
    const char *s = json_string_value(ja);
    if (!s)
        return deny(why, whylen, "the client assertion's header has no alg");
    if (strcasecmp(s, "none") == 0)
        return deny(why, whylen, "unsigned client assertions (alg none) are refused");
    if (strncmp(s, "HS", 2) == 0)
        return deny(why, whylen,
                    "HMAC client assertions are refused: private_key_jwt needs "
                    "an asymmetric signature (ES256, RS256, PS256, EdDSA)");
    if ((*a = alg_parse(s)) == ALG_UNSUPPORTED)
        return deny(why, whylen,
                    "the client assertion's alg is not supported (ES256, RS256, "
                    "PS256, EdDSA are)");
    if (typ) {
        const char *ts = json_string_value(typ);
        if (ts && strncasecmp(ts, "application/", 12) == 0)
            ts += 12;
        if (!ts || (strcasecmp(ts, "JWT") != 0 && strcasecmp(ts, "client-authentication+jwt") != 0))
            return deny(why, whylen,
                        "the client assertion's typ must be JWT or "
                        "client-authentication+jwt");
    }
    if (json_object_get(h, "crit"))
        return deny(why, whylen,
                    "the client assertion's header lists crit extensions, which "
                    "are not supported");
    const json_t *kid = json_object_get(h, "kid");
    if (kid && !json_is_string(kid))
        return deny(why, whylen, "the client assertion's kid is not a string");
    return WT_OK;
}

/* ---------------------------------------------------------------- verify */

wt_status assertion_verify(const char *jwt, size_t len, const assertion_check *chk,
                           assertion_result *out, char *why, size_t whylen)
{
    jws j;
    enum alg a;
    memset(out, 0, sizeof *out);
    wt_status st = jws_parse(jwt, len, &j, true, why, whylen);
    if (st != WT_OK)
        return st;
    if ((st = check_header(j.header, &a, why, whylen)) != WT_OK)
        goto done;
    const json_t *keys = json_object_get(chk->jwks, "keys");
    size_t nkeys = json_array_size(keys);
    if (!chk->client_id || nkeys == 0) {
        st = deny(why, whylen, "the client has no registered keys (jwks)");
        goto done;
    }
    if (nkeys > ASSERTION_MAX_KEYS)
        nkeys = ASSERTION_MAX_KEYS;
    /* Candidates: with a kid, the key that has it — or, when none has, the keys registered
     * without a kid; without a kid, every key. Then only keys pinned to the header's alg. */
    const char *kid = json_string_value(json_object_get(j.header, "kid"));
    bool kid_seen = false, alg_seen = false, usable = false, by_kid = false;
    for (size_t i = 0; kid && i < nkeys; i++) {
        const char *kk = json_string_value(json_object_get(json_array_get(keys, i), "kid"));
        if (kk && strcmp(kid, kk) == 0)
            by_kid = true;
    }
    int verdict = 0;
    for (size_t i = 0; i < nkeys && verdict == 0; i++) {
        const json_t *k = json_array_get(keys, i);
        const char *kk = json_string_value(json_object_get(k, "kid"));
        if (kid && (by_kid ? !kk || strcmp(kid, kk) != 0 : kk != NULL))
            continue;
        kid_seen = true;
        enum alg ka = jwk_alg(k, NULL, 0);
        if (ka == ALG_UNSUPPORTED)
            continue;
        usable = true;
        if (ka != a)
            continue;
        alg_seen = true;
        EVP_PKEY *pk = jwk_import(k, ka, false, NULL, 0);
        if (!pk)
            continue;
        /* The signing input is the first two segments exactly as received. */
        verdict = verify_sig(pk, a, jwt, j.len[0] + 1 + j.len[1], j.sig, j.siglen);
        EVP_PKEY_free(pk);
    }
    if (verdict < 0) {
        st = WT_ECRYPTO;
        deny(why, whylen, "the client assertion could not be checked (crypto failure)");
    } else if (verdict == 0) {
        st = deny(why, whylen,
                  kid && !kid_seen ? "no registered key of this client has the assertion's kid"
                  : !usable        ? "the client has no usable registered key"
                  : !alg_seen      ? "the client assertion's alg is not the algorithm of the "
                                     "client's registered key"
                                   : "the client assertion's signature does not verify with the "
                                     "client's registered keys");
    } else if ((st = check_claims(j.claims, chk, out, why, whylen)) == WT_OK) {
        snprintf(out->alg, sizeof out->alg, "%s", alg_name(a));
    }
done:
    jws_free(&j);
    return st;
}

wt_status assertion_peek_subject(const char *jwt, size_t len, char *out, size_t cap, char *why,
                                 size_t whylen)
{
    jws j;
    if (cap)
        out[0] = '\0';
    wt_status st = jws_parse(jwt, len, &j, false, why, whylen);
    if (st != WT_OK)
        return st;
    const json_t *sub = json_object_get(j.claims, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        st = deny(why, whylen, "the client assertion has no sub claim (the client_id)");
    else if (json_string_length(sub) >= cap ||
             strlen(json_string_value(sub)) != json_string_length(sub))
        st = deny(why, whylen, "the client assertion's sub is not a known client_id");
    else
        memcpy(out, json_string_value(sub), json_string_length(sub) + 1);
    jws_free(&j);
    return st;
}

/* ---------------------------------------------------------------- registration */

wt_status assertion_jwks_check(const json_t *jwks, char *why, size_t whylen)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    const json_t *keys = json_object_get(jwks, "keys");
    char kwhy[160];
    if (!json_is_object(jwks) || !json_is_array(keys)) {
        snprintf(why, whylen, "jwks must be a JSON object {\"keys\": [...]}");
        return WT_INVALID;
    }
    size_t n = json_array_size(keys);
    if (n == 0 || n > ASSERTION_MAX_KEYS) {
        snprintf(why, whylen, "jwks must hold 1 to %d keys", ASSERTION_MAX_KEYS);
        return WT_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *k = json_array_get(keys, i);
        size_t npriv = sizeof private_members / sizeof *private_members;
        for (size_t m = 0; json_is_object(k) && m < npriv; m++)
            if (json_object_get(k, private_members[m])) {
                snprintf(why, whylen,
                         "jwks key %zu holds private key material (\"%s\"): "
                         "register only the public key",
                         i + 1, private_members[m]);
                return WT_INVALID;
            }
        const json_t *kid = json_object_get(k, "kid");
        if (kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                    json_string_length(kid) > 256)) {
            snprintf(why, whylen, "jwks key %zu: kid must be a string of 1 to 256 bytes", i + 1);
            return WT_INVALID;
        }
        for (size_t o = 0; kid && o < i; o++) {
            const char *ok = json_string_value(json_object_get(json_array_get(keys, o), "kid"));
            if (ok && strcmp(ok, json_string_value(kid)) == 0) {
                snprintf(why, whylen, "jwks keys %zu and %zu have the same kid", o + 1, i + 1);
                return WT_INVALID;
            }
        }
        enum alg a = jwk_alg(k, kwhy, sizeof kwhy);
        EVP_PKEY *pk = a == ALG_UNSUPPORTED ? NULL : jwk_import(k, a, true, kwhy, sizeof kwhy);
        if (!pk) {
            snprintf(why, whylen, "jwks key %zu %s", i + 1, kwhy);
            return WT_INVALID;
        }
        EVP_PKEY_free(pk);
    }
    return WT_OK;
}

/* ---------------------------------------------------------------- jti records */

#define JTI_KEY_MAX (400 + 1 + 32)

/* client_id NUL SHA-256(jti); 0 when the client id is empty or too long. */
static size_t jti_key(const char *client_id, const char *jti, uint8_t key[JTI_KEY_MAX])
{
    size_t n = client_id ? strlen(client_id) : 0;
    if (n == 0 || n > 400 || !jti)
        return 0;
    memcpy(key, client_id, n);
    key[n] = 0;
    crypto_sha256(jti, strlen(jti), key + n + 1);
    return n + 1 + 32;
}

wt_status assertion_jti_seen(store_txn *t, const char *client_id, const char *jti)
{
    uint8_t key[JTI_KEY_MAX];
    store_val v;
    size_t kl = jti_key(client_id, jti, key);
    if (!kl)
        return WT_NOTFOUND;
    wt_status st = store_get(t, STORE_DB_JTI, key, kl, &v);
    return st == WT_OK ? WT_EXISTS : st;
}

wt_status assertion_record_jti(store_txn *t, const char *client_id, const char *jti,
                               int64_t keep_until)
{
    uint8_t key[JTI_KEY_MAX], val[8];
    if (!jti)
        return WT_OK;
    size_t kl = jti_key(client_id, jti, key);
    if (!kl)
        return WT_INVALID;
    until_encode(val, keep_until);
    return store_put(t, STORE_DB_JTI, key, kl, val, sizeof val, STORE_NOOVERWRITE);
}

wt_status assertion_record_op(store_txn *t, void *arg)
{
    assertion_jti_op *op = arg;
    op->replayed = false;
    wt_status st = assertion_record_jti(t, op->client_id, op->jti, op->keep_until);
    if (st == WT_EXISTS) {
        op->replayed = true;
        return WT_OK;
    }
    return st;
}
