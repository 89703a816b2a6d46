/* keys.c — the server's ES256 signing keys: generation, storage in STORE_DB_SECRETS, the JWKS,
 * compact JWS signing with a preloaded EVP_PKEY, and the server's reloading cache (contract and
 * store layout in keys.h). OpenSSL is used directly; libjwt is not involved. */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "keys.h"
#include "le.h"
#include "log.h"

#define KEY_PREFIX "sigkey:"
#define KEY_PREFIX_LEN 7
#define GEN_NAME "sigkeys_gen"
#define MAX_KEYS 64 /* a sanity cap: rotations purge retired keys once their time passes */
#define PEM_MAX 4096

struct ring_key {
    char kid[KEYS_KID_LEN + 1];
    EVP_PKEY *pk;
    int64_t created, retires_at;
    bool active;
};

struct keyring {
    atomic_int refs;
    uint64_t gen;
    int64_t next_change;   /* earliest retires_at among the published retired keys */
    struct ring_key *keys; /* the active key first, then retired ones, newest first */
    size_t n;
    bool has_active; /* keys[0] is the active key */
    char *jwks;
    size_t jwks_len;
};

struct keyring_cache {
    pthread_mutex_t lock;
    keyring *cur; /* holds one reference */
};

int64_t keys_retire_after(int64_t access_token_ttl)
{
    return access_token_ttl > KEYS_MIN_RETIRE ? access_token_ttl : KEYS_MIN_RETIRE;
}

static void log_ossl(const char *what)
{
    char e[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, e, sizeof e);
    ERR_clear_error();
    log_error("signing keys: %s failed: %s", what, e);
}

/* ---------------------------------------------------------------- key material */

/* The public point as two base64url coordinates (43 chars + NUL each). */
static bool public_xy(EVP_PKEY *pk, char x64[44], char y64[44])
{
    BIGNUM *x = NULL, *y = NULL;
    uint8_t bx[32], by[32];
    bool ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
              EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
              BN_bn2binpad(x, bx, 32) == 32 && BN_bn2binpad(y, by, 32) == 32;
    BN_free(x);
    BN_free(y);
    if (!ok) {
        log_ossl("reading the public key");
        return false;
    }
    b64url_encode(bx, 32, x64);
    b64url_encode(by, 32, y64);
    return true;
}

/* RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace (what
 * jansson writes with JSON_SORT_KEYS | JSON_COMPACT; base64url values need no escaping). */
static bool thumbprint(const char *x64, const char *y64, char kid[KEYS_KID_LEN + 1])
{
    char canon[160];
    uint8_t d[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC", "x", x64, "y", y64);
    size_t n = o ? json_dumpb(o, canon, sizeof canon, JSON_COMPACT | JSON_SORT_KEYS) : 0;
    json_decref(o);
    if (n == 0 || n > sizeof canon)
        return false;
    crypto_sha256(canon, n, d);
    b64url_encode(d, 32, kid);
    return true;
}

static bool is_p256(EVP_PKEY *pk)
{
    char group[32] = "";
    return EVP_PKEY_is_a(pk, "EC") &&
           EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          NULL) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

static EVP_PKEY *pem_read(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!pk) {
        log_ossl("parsing a stored private key");
        return NULL;
    }
    if (!is_p256(pk)) {
        log_error("signing keys: a stored key is not a P-256 key; ignored");
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

/* ---------------------------------------------------------------- records */

static wt_status read_gen(store_txn *t, uint64_t *gen)
{
    store_val v;
    wt_status st = store_get(t, STORE_DB_SECRETS, GEN_NAME, sizeof GEN_NAME - 1, &v);
    *gen = 0;
    if (st == WT_NOTFOUND)
        return WT_OK;
    if (st != WT_OK)
        return st;
    if (v.len != 8)
        return WT_ESTORE;
    *gen = le_get(v.data, 8);
    return WT_OK;
}

static wt_status bump_gen(store_txn *t)
{
    uint64_t g;
    uint8_t b[8];
    wt_status st = read_gen(t, &g);
    if (st != WT_OK)
        return st;
    le_put(b, g + 1, sizeof b);
    return store_put(t, STORE_DB_SECRETS, GEN_NAME, sizeof GEN_NAME - 1, b, 8, 0);
}

/* One stored key record, decoded (pem points into doc). */
typedef struct {
    json_t *doc;
    const char *kid, *pem;
    size_t pem_len;
    int64_t created, retires_at;
    bool active;
} key_rec;

static bool rec_decode(store_val v, key_rec *r)
{
    memset(r, 0, sizeof *r);
    r->doc = json_loadb(v.data, v.len, 0, NULL);
    json_t *kid = json_object_get(r->doc, "kid"), *pem = json_object_get(r->doc, "pem");
    json_t *alg = json_object_get(r->doc, "alg");
    if (!json_is_string(kid) || json_string_length(kid) != KEYS_KID_LEN || !json_is_string(pem) ||
        !json_is_string(alg) || strcmp(json_string_value(alg), "ES256") != 0) {
        json_decref(r->doc);
        r->doc = NULL;
        return false;
    }
    r->kid = json_string_value(kid);
    r->pem = json_string_value(pem);
    r->pem_len = json_string_length(pem);
    r->created = json_integer_value(json_object_get(r->doc, "created"));
    r->retires_at = json_integer_value(json_object_get(r->doc, "retires_at"));
    r->active = json_is_true(json_object_get(r->doc, "active"));
    return true;
}

static void rec_free(key_rec *r)
{
    if (r->doc && r->pem)
        OPENSSL_cleanse((char *)r->pem, r->pem_len); /* jansson's own mutable copy */
    json_decref(r->doc);
    r->doc = NULL;
}

static wt_status rec_put(store_txn *t, const char *kid, const char *pem, int64_t created,
                         bool active, int64_t retires_at)
{
    char name[KEY_PREFIX_LEN + KEYS_KID_LEN + 1];
    snprintf(name, sizeof name, KEY_PREFIX "%s", kid);
    json_t *doc = json_pack("{s:s, s:s, s:I, s:b, s:I, s:s}", "kid", kid, "alg", "ES256", "created",
                            (json_int_t)created, "active", active, "retires_at",
                            (json_int_t)retires_at, "pem", pem);
    char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_t *p = json_object_get(doc, "pem");
    if (p)
        OPENSSL_cleanse((char *)json_string_value(p), json_string_length(p));
    json_decref(doc);
    if (!s)
        return WT_NOMEM;
    wt_status st = store_put(t, STORE_DB_SECRETS, name, strlen(name), s, strlen(s), 0);
    OPENSSL_cleanse(s, strlen(s));
    free(s);
    return st;
}

/* Every stored key record, copied out of the map (so the caller may write afterwards). */
struct rec_list {
    key_rec v[MAX_KEYS];
    size_t n;
    bool bad; /* a record did not decode */
};

static int collect_rec(void *arg, store_val k, store_val v)
{
    struct rec_list *l = arg;
    if (l->n >= MAX_KEYS) {
        l->bad = true;
        return 1;
    }
    if (rec_decode(v, &l->v[l->n]))
        l->n++;
    else {
        log_error("signing keys: record %.*s is malformed; ignored", (int)k.len,
                  (const char *)k.data);
        l->bad = true;
    }
    return 0;
}

static void rec_list_free(struct rec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rec_free(&l->v[i]);
    l->n = 0;
}

static wt_status rec_list_load(store_txn *t, struct rec_list *l)
{
    memset(l, 0, sizeof *l);
    wt_status st = store_iter(t, STORE_DB_SECRETS, KEY_PREFIX, KEY_PREFIX_LEN, collect_rec, l);
    if (st != WT_OK)
        rec_list_free(l);
    return st;
}

static bool published(const key_rec *r, int64_t now)
{
    return r->active || r->retires_at > now;
}

static wt_status rec_del(store_txn *t, const char *kid)
{
    char name[KEY_PREFIX_LEN + KEYS_KID_LEN + 1];
    snprintf(name, sizeof name, KEY_PREFIX "%s", kid);
    wt_status st = store_del(t, STORE_DB_SECRETS, name, strlen(name), NULL, 0);
    return st == WT_NOTFOUND ? WT_OK : st;
}

/* ---------------------------------------------------------------- store operations */

/* A new P-256 key as PKCS#8 PEM (malloc'd, caller cleanses and frees) and its kid. */
static wt_status generate(char **pem_out, char kid[KEYS_KID_LEN + 1])
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *b = NULL;
    char x64[44], y64[44];
    wt_status st = WT_ECRYPTO;
    *pem_out = NULL;
    if (!pk) {
        log_ossl("generating a P-256 key");
        goto out;
    }
    if (!public_xy(pk, x64, y64))
        goto out;
    if (!thumbprint(x64, y64, kid)) {
        st = WT_NOMEM;
        goto out;
    }
    b = BIO_new(BIO_s_secmem());
    if (!b || PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1) {
        log_ossl("encoding a private key");
        goto out;
    }
    char *data;
    long len = BIO_get_mem_data(b, &data);
    if (len <= 0 || len >= PEM_MAX || !(*pem_out = malloc((size_t)len + 1))) {
        st = WT_NOMEM;
        goto out;
    }
    memcpy(*pem_out, data, (size_t)len);
    (*pem_out)[len] = '\0';
    st = WT_OK;
out:
    BIO_free(b); /* secure memory BIO: cleared on free */
    EVP_PKEY_free(pk);
    return st;
}

/* Purges retired keys whose time has passed and, when `rotate` or there is no active key,
 * makes a new active key (the old active ones retire at now + retire_after). Bumps the
 * generation when anything changed. */
static wt_status update(store_txn *t, int64_t now, bool rotate, int64_t retire_after, char *kid_out)
{
    struct rec_list l;
    bool changed = false, has_active = false;
    char *pem = NULL, kid[KEYS_KID_LEN + 1] = "";
    wt_status st = rec_list_load(t, &l);
    if (st != WT_OK)
        return st;
    size_t live = 0;
    for (size_t i = 0; i < l.n; i++)
        live += published(&l.v[i], now);
    if (rotate && live + 1 >= MAX_KEYS) {
        /* Never more keys than a load can hold: refuse (the caller says why) rather than
         * drop one. */
        rec_list_free(&l);
        return WT_TOOBIG;
    }
    for (size_t i = 0; i < l.n && st == WT_OK; i++) {
        key_rec *r = &l.v[i];
        if (!published(r, now)) {
            st = rec_del(t, r->kid);
            changed = true;
        } else if (r->active && rotate) {
            st = rec_put(t, r->kid, r->pem, r->created, false, now + retire_after);
            changed = true;
        } else if (r->active) {
            has_active = true;
            if (kid_out)
                memcpy(kid_out, r->kid, KEYS_KID_LEN + 1);
        }
    }
    if (st == WT_OK && (rotate || !has_active)) {
        st = generate(&pem, kid);
        if (st == WT_OK)
            st = rec_put(t, kid, pem, now, true, 0);
        if (st == WT_OK && kid_out)
            memcpy(kid_out, kid, KEYS_KID_LEN + 1);
        changed = true;
    }
    if (st == WT_OK && changed)
        st = bump_gen(t);
    if (pem) {
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
    }
    rec_list_free(&l);
    return st;
}

wt_status keys_ensure_txn(store_txn *t, int64_t now)
{
    return update(t, now, false, 0, NULL);
}

struct ensure_arg {
    int64_t now;
};

static wt_status run_ensure(store_txn *t, void *arg)
{
    return keys_ensure_txn(t, ((struct ensure_arg *)arg)->now);
}

wt_status keys_ensure(store *s, int64_t now)
{
    struct ensure_arg a = {now};
    return store_write_sync(s, run_ensure, &a);
}

wt_status keys_rotate(store_txn *t, int64_t now, int64_t retire_after, char *kid_out)
{
    return update(t, now, true, retire_after, kid_out);
}

/* Newest first (then by kid, for a stable order). */
static int rec_cmp(const void *a, const void *b)
{
    const key_rec *x = a, *y = b;
    if (x->active != y->active)
        return x->active ? -1 : 1;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    return strcmp(x->kid, y->kid);
}

wt_status keys_list(store_txn *t, int64_t now, json_t **out)
{
    struct rec_list l;
    wt_status st = rec_list_load(t, &l);
    *out = NULL;
    if (st != WT_OK)
        return st;
    qsort(l.v, l.n, sizeof *l.v, rec_cmp);
    json_t *a = json_array();
    for (size_t i = 0; a && i < l.n; i++) {
        const key_rec *r = &l.v[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "kid", r->kid, "alg", "ES256",
                              "kty", "EC", "crv", "P-256", "use", "sig", "created",
                              (json_int_t)r->created, "active", r->active);
        if (o && !r->active)
            json_object_set_new(o, "retires_at", json_integer(r->retires_at));
        if (o)
            json_object_set_new(o, "published", json_boolean(published(r, now)));
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    rec_list_free(&l);
    if (!a)
        return WT_NOMEM;
    *out = a;
    return WT_OK;
}

/* ---------------------------------------------------------------- the keyring */

static void keyring_free(keyring *k)
{
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pk);
    free(k->keys);
    free(k->jwks);
    free(k);
}

void keyring_release(keyring *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1)
        keyring_free(k);
}

static bool build_jwks(keyring *k)
{
    json_t *keys = json_array(), *doc = json_pack("{s:o}", "keys", keys);
    bool ok = doc != NULL;
    for (size_t i = 0; ok && i < k->n; i++) {
        char x64[44], y64[44];
        ok = public_xy(k->keys[i].pk, x64, y64);
        json_t *jwk =
            !ok ? NULL
                : json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x",
                            x64, "y", y64, "kid", k->keys[i].kid, "use", "sig", "alg", "ES256");
        ok = jwk && json_array_append_new(keys, jwk) == 0;
    }
    k->jwks = ok ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    k->jwks_len = k->jwks ? strlen(k->jwks) : 0;
    json_decref(doc);
    return k->jwks != NULL;
}

keyring *keys_load(store_txn *t, int64_t now)
{
    struct rec_list l;
    uint64_t gen;
    if (read_gen(t, &gen) != WT_OK || rec_list_load(t, &l) != WT_OK)
        return NULL;
    keyring *k = calloc(1, sizeof *k);
    if (!k || (l.n && !(k->keys = calloc(l.n, sizeof *k->keys)))) {
        free(k);
        rec_list_free(&l);
        return NULL;
    }
    atomic_init(&k->refs, 1);
    k->gen = gen;
    k->next_change = INT64_MAX;
    qsort(l.v, l.n, sizeof *l.v, rec_cmp);
    for (size_t i = 0; i < l.n; i++) {
        const key_rec *r = &l.v[i];
        if (!published(r, now))
            continue;
        if (r->active && k->has_active) {
            log_warn("signing keys: more than one active key; signing with %s", k->keys[0].kid);
        }
        EVP_PKEY *pk = pem_read(r->pem, r->pem_len);
        if (!pk)
            continue;
        struct ring_key *rk = &k->keys[k->n++];
        memcpy(rk->kid, r->kid, KEYS_KID_LEN + 1);
        rk->pk = pk;
        rk->created = r->created;
        rk->retires_at = r->retires_at;
        rk->active = r->active;
        if (r->active && !k->has_active)
            k->has_active = k->n == 1; /* sorted: an active key comes first */
        if (!r->active && r->retires_at < k->next_change)
            k->next_change = r->retires_at;
    }
    rec_list_free(&l);
    if (!build_jwks(k)) {
        keyring_free(k);
        return NULL;
    }
    return k;
}

const char *keyring_jwks(const keyring *k, size_t *len)
{
    *len = k->jwks_len;
    return k->jwks;
}

const char *keyring_kid(const keyring *k)
{
    return k->has_active ? k->keys[0].kid : NULL;
}

char *keyring_sign_jws(const keyring *k, const char *typ, const char *payload, size_t plen)
{
    char header[160];
    if (!k->has_active) {
        log_error("signing keys: no active key to sign with (run: wattle keys rotate)");
        return NULL;
    }
    json_t *h = json_pack("{s:s, s:s}", "alg", "ES256", "kid", k->keys[0].kid);
    if (h && typ && json_object_set_new_nocheck(h, "typ", json_string(typ)) != 0) {
        json_decref(h);
        h = NULL;
    }
    size_t hn = h ? json_dumpb(h, header, sizeof header, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    json_decref(h);
    if (hn == 0 || hn > sizeof header || plen > (SIZE_MAX / 2))
        return NULL;
    size_t h64 = B64URL_LEN(hn), p64 = B64URL_LEN(plen), s64 = B64URL_LEN(64);
    char *out = malloc(h64 + 1 + p64 + 1 + s64 + 1);
    if (!out)
        return NULL;
    b64url_encode(header, hn, out);
    out[h64] = '.';
    b64url_encode(payload, plen, out + h64 + 1);
    size_t signing_len = h64 + 1 + p64;

    uint8_t der[80], rs[64];
    size_t der_len = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = NULL;
    const unsigned char *dp = der;
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->keys[0].pk) == 1 &&
              EVP_DigestSign(md, der, &der_len, (const unsigned char *)out, signing_len) == 1 &&
              (sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len)) != NULL &&
              BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 &&
              BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    if (!ok) {
        log_ossl("ES256 signing");
        free(out);
        return NULL;
    }
    out[signing_len] = '.';
    b64url_encode(rs, 64, out + signing_len + 1);
    return out;
}

/* ---------------------------------------------------------------- the cache */

keyring_cache *keyring_cache_new(void)
{
    keyring_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void keyring_cache_free(keyring_cache *c)
{
    if (!c)
        return;
    keyring_release(c->cur);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

wt_status keyring_cache_get(keyring_cache *c, store_txn *t, int64_t now, keyring **out)
{
    uint64_t gen;
    *out = NULL;
    wt_status st = read_gen(t, &gen);
    if (st != WT_OK)
        return st;
    pthread_mutex_lock(&c->lock);
    keyring *k = c->cur;
    if (k && k->gen == gen && now < k->next_change) {
        atomic_fetch_add(&k->refs, 1);
        pthread_mutex_unlock(&c->lock);
        *out = k;
        return WT_OK;
    }
    /* Changed (or first use). Reloads are rare and cheap (a few keys), so they run under the
     * lock: concurrent requests wait for one reload instead of each doing it. A request whose
     * snapshot is older than the cached keyring gets a private copy, so the cache never moves
     * back to an older generation. */
    keyring *fresh = keys_load(t, now);
    if (!fresh) {
        pthread_mutex_unlock(&c->lock);
        return WT_ESTORE;
    }
    if (!k || gen >= k->gen) {
        c->cur = fresh; /* the cache's reference */
        atomic_fetch_add(&fresh->refs, 1);
        pthread_mutex_unlock(&c->lock);
        keyring_release(k);
    } else {
        pthread_mutex_unlock(&c->lock);
    }
    if (fresh->gen != gen)
        log_debug("signing keys: generation moved during reload");
    *out = fresh;
    return WT_OK;
}
