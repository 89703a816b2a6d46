/* grants.c — token families, their indexes and remembered consents (contract in grants.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "config.h"
#include "crypto.h"
#include "grants.h"
#include "token.h"

/* Index keys: "u:<user id>" and "c:<client id>" → grant id (STORE_DB_INDEX is DUPSORT). */
static size_t index_key(char *out, size_t n, char kind, const char *id)
{
    int k = snprintf(out, n, "%c:%s", kind, id);
    return k < 0 || (size_t)k >= n ? 0 : (size_t)k;
}

wt_status grant_create(store_txn *t, const grant_rec *g, uint8_t id[GRANT_ID_LEN])
{
    token_t tk;
    if (token_mint(TOKEN_ACCESS, now_us(), &tk, NULL) != WT_OK)
        return WT_ECRYPTO;
    memcpy(id, tk.selector, GRANT_ID_LEN); /* time-ordered, so grants append */
    wt_status st = grant_put(t, id, g);
    char key[512];
    size_t kl;
    if (st == WT_OK && g->user_id[0] && (kl = index_key(key, sizeof key, 'u', g->user_id)))
        st = store_put(t, STORE_DB_INDEX, key, kl, id, GRANT_ID_LEN, 0);
    if (st == WT_OK && (kl = index_key(key, sizeof key, 'c', g->client_id)))
        st = store_put(t, STORE_DB_INDEX, key, kl, id, GRANT_ID_LEN, 0);
    return st;
}

wt_status grant_get(store_txn *t, const uint8_t id[GRANT_ID_LEN], grant_rec *g)
{
    store_val v;
    wt_status st = store_get(t, STORE_DB_GRANTS, id, GRANT_ID_LEN, &v);
    if (st != WT_OK)
        return st;
    return grant_rec_decode(v.data, v.len, g) == WT_OK ? WT_OK : WT_ESTORE;
}

wt_status grant_put(store_txn *t, const uint8_t id[GRANT_ID_LEN], const grant_rec *g)
{
    buf_t b;
    buf_init(&b, 8192);
    wt_status st = grant_rec_encode(&b, g);
    if (st == WT_OK)
        st = store_put(t, STORE_DB_GRANTS, id, GRANT_ID_LEN, b.p, b.len, 0);
    buf_free(&b);
    return st;
}

wt_status grant_revoke(store_txn *t, const uint8_t id[GRANT_ID_LEN])
{
    /* The tombstone first, while the grant can still say how long its access tokens live:
     * validation reads the tombstone, not the grant (tokens_check_access). */
    grant_rec g;
    wt_status st = grant_get(t, id, &g);
    if (st == WT_NOTFOUND)
        return st;
    int64_t now = now_us() / 1000000;
    /* A record that does not decode, or was written before grants recorded it (0), cannot say:
     * its tokens may live as long as any access token may. */
    int64_t until = st == WT_OK && g.access_until > 0 ? g.access_until : now + ACCESS_TOKEN_TTL_MAX;
    if (until > now) {
        uint8_t le[8];
        until_encode(le, until);
        st = store_put(t, STORE_DB_REVOKED, id, GRANT_ID_LEN, le, sizeof le, 0);
        if (st != WT_OK)
            return st;
    }
    return store_del(t, STORE_DB_GRANTS, id, GRANT_ID_LEN, NULL, 0);
}

struct idlist {
    uint8_t (*ids)[GRANT_ID_LEN];
    size_t n, cap;
    size_t klen; /* only keys of exactly this length (the prefix matches longer ids too) */
};

static int collect(void *arg, store_val k, store_val v)
{
    struct idlist *l = arg;
    if (v.len != GRANT_ID_LEN || k.len != l->klen)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->ids, cap * GRANT_ID_LEN);
        if (!p)
            return 1;
        l->ids = p;
        l->cap = cap;
    }
    memcpy(l->ids[l->n++], v.data, GRANT_ID_LEN);
    return 0;
}

static wt_status revoke_index(store_txn *t, char kind, const char *id)
{
    char key[512];
    size_t kl = index_key(key, sizeof key, kind, id);
    struct idlist l = {.klen = kl};
    if (!kl)
        return WT_INVALID;
    wt_status st = store_iter(t, STORE_DB_INDEX, key, kl, collect, &l);
    for (size_t i = 0; st == WT_OK && i < l.n; i++) {
        wt_status r = grant_revoke(t, l.ids[i]);
        if (r != WT_OK && r != WT_NOTFOUND)
            st = r;
    }
    free(l.ids);
    if (st == WT_OK) {
        st = store_del(t, STORE_DB_INDEX, key, kl, NULL, 0);
        if (st == WT_NOTFOUND)
            st = WT_OK;
    }
    return st;
}

/* Consent keys: user id NUL client id. */
static size_t consent_key(char *out, size_t n, const char *user, const char *client)
{
    size_t ul = strlen(user), cl = strlen(client);
    if (ul + cl + 1 > n)
        return 0;
    memcpy(out, user, ul);
    out[ul] = '\0';
    memcpy(out + ul + 1, client, cl);
    return ul + 1 + cl;
}

struct keylist {
    char **keys;
    size_t *lens;
    size_t n, cap;
    const char *client; /* only consents of this client when set */
};

static int collect_consent(void *arg, store_val k, store_val v)
{
    struct keylist *l = arg;
    const char *kc = k.data;
    const char *nul = memchr(kc, '\0', k.len);
    if (!nul)
        return 0;
    if (l->client && (strlen(l->client) != k.len - (size_t)(nul + 1 - kc) ||
                      memcmp(nul + 1, l->client, strlen(l->client)) != 0))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nk = realloc(l->keys, cap * sizeof *nk);
        if (!nk)
            return 1;
        l->keys = nk;
        size_t *nl = realloc(l->lens, cap * sizeof *nl);
        if (!nl)
            return 1;
        l->lens = nl;
        l->cap = cap;
    }
    l->keys[l->n] = malloc(k.len);
    if (!l->keys[l->n])
        return 1;
    memcpy(l->keys[l->n], k.data, k.len);
    l->lens[l->n++] = k.len;
    return 0;
}

static wt_status delete_consents(store_txn *t, const char *prefix, size_t plen, const char *client)
{
    struct keylist l = {.client = client};
    wt_status st = store_iter(t, STORE_DB_CONSENTS, prefix, plen, collect_consent, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (st == WT_OK)
            st = store_del(t, STORE_DB_CONSENTS, l.keys[i], l.lens[i], NULL, 0);
        free(l.keys[i]);
    }
    free(l.keys);
    free(l.lens);
    return st;
}

wt_status grants_revoke_user(store_txn *t, const char *user_id)
{
    wt_status st = revoke_index(t, 'u', user_id);
    if (st == WT_OK)
        st = delete_consents(t, user_id, strlen(user_id) + 1, NULL);
    return st;
}

wt_status grants_revoke_client(store_txn *t, const char *client_id)
{
    wt_status st = revoke_index(t, 'c', client_id);
    if (st == WT_OK)
        st = delete_consents(t, NULL, 0, client_id);
    return st;
}

wt_status consent_get(store_txn *t, const char *user_id, const char *client_id, char *scope_out,
                      size_t outlen)
{
    char key[1024];
    size_t kl = consent_key(key, sizeof key, user_id, client_id);
    store_val v;
    if (!kl)
        return WT_NOTFOUND;
    wt_status st = store_get(t, STORE_DB_CONSENTS, key, kl, &v);
    if (st != WT_OK)
        return st;
    json_t *doc = json_loadb(v.data, v.len, 0, NULL);
    const char *s = json_string_value(json_object_get(doc, "scope"));
    st = s && strlen(s) < outlen ? WT_OK : WT_ESTORE;
    if (st == WT_OK)
        memcpy(scope_out, s, strlen(s) + 1);
    json_decref(doc);
    return st;
}

wt_status consent_put(store_txn *t, const char *user_id, const char *client_id, const char *scope,
                      int64_t now)
{
    char key[1024];
    size_t kl = consent_key(key, sizeof key, user_id, client_id);
    if (!kl)
        return WT_INVALID;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I}", "user_id", user_id, "client_id", client_id,
                            "scope", scope, "updated_at", (json_int_t)now);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s)
        return WT_NOMEM;
    wt_status st = store_put(t, STORE_DB_CONSENTS, key, kl, s, strlen(s), 0);
    free(s);
    return st;
}

void consent_id(const char *user_id, const char *client_id, char out[27])
{
    char key[1024];
    uint8_t h[32];
    size_t kl = consent_key(key, sizeof key, user_id, client_id);
    crypto_sha256(key, kl, h);
    memcpy(out, "ogr_", 4);
    b64url_encode(h, 16, out + 4);
}

struct pair_ctx {
    store_txn *t;
    const char *client_id;
    struct idlist ids;
};

static int collect_pair(void *arg, store_val k, store_val v)
{
    struct pair_ctx *c = arg;
    grant_rec g;
    if (k.len != c->ids.klen || v.len != GRANT_ID_LEN || grant_get(c->t, v.data, &g) != WT_OK ||
        strcmp(g.client_id, c->client_id) != 0)
        return 0;
    return collect(&c->ids, k, v);
}

wt_status consent_revoke(store_txn *t, const char *user_id, const char *client_id)
{
    char key[1024];
    size_t kl = consent_key(key, sizeof key, user_id, client_id);
    if (!kl)
        return WT_NOTFOUND;
    wt_status st = store_del(t, STORE_DB_CONSENTS, key, kl, NULL, 0);
    if (st != WT_OK)
        return st;
    char ik[512];
    struct pair_ctx c = {.t = t, .client_id = client_id};
    c.ids.klen = index_key(ik, sizeof ik, 'u', user_id);
    st = store_iter(t, STORE_DB_INDEX, ik, c.ids.klen, collect_pair, &c);
    for (size_t i = 0; st == WT_OK && i < c.ids.n; i++) {
        wt_status r = grant_revoke(t, c.ids.ids[i]);
        if (r == WT_OK || r == WT_NOTFOUND)
            r = store_del(t, STORE_DB_INDEX, ik, c.ids.klen, c.ids.ids[i], GRANT_ID_LEN);
        if (r != WT_OK && r != WT_NOTFOUND)
            st = r;
    }
    free(c.ids.ids);
    return st;
}
