/* secrets.c — server secrets in the store (contract in secrets.h). */
#include <string.h>

#include "crypto.h"
#include "secrets.h"

struct ensure_ctx {
    const char *name;
    uint8_t *out;
    size_t len;
};

static wt_status run_ensure(store_txn *t, void *arg)
{
    struct ensure_ctx *c = arg;
    store_val v;
    wt_status st = store_get(t, STORE_DB_SECRETS, c->name, strlen(c->name), &v);
    if (st == WT_OK) {
        if (v.len != c->len)
            return WT_ESTORE;
        memcpy(c->out, v.data, c->len);
        return WT_OK;
    }
    if (st != WT_NOTFOUND)
        return st;
    if (crypto_random(c->out, c->len) != WT_OK)
        return WT_ECRYPTO;
    return store_put(t, STORE_DB_SECRETS, c->name, strlen(c->name), c->out, c->len, 0);
}

wt_status secret_ensure(store *s, const char *name, uint8_t *out, size_t len)
{
    struct ensure_ctx c = {name, out, len};
    return store_write_sync(s, run_ensure, &c);
}
