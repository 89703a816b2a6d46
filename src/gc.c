/* gc.c — purges dead records in bounded batches (contract in gc.h). Used by `wattle gc` and
 * by the server's periodic purge through the store writer. */
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "records.h"

struct victims {
    uint8_t (*keys)[16];
    size_t n, limit;
    store_txn *t;
    store_db db;
    int64_t now;
};

static bool grant_alive(store_txn *t, const uint8_t grant[16])
{
    store_val v;
    return store_get(t, STORE_DB_GRANTS, grant, 16, &v) == WT_OK;
}

static int pick(void *arg, store_val k, store_val v)
{
    struct victims *w = arg;
    bool dead = false;
    if (k.len != 16)
        return 0;
    switch (w->db) {
    case STORE_DB_CODES: {
        code_rec r;
        dead = code_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now;
        break;
    }
    case STORE_DB_ACCESS: {
        access_rec r;
        dead = access_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now ||
               !grant_alive(w->t, r.grant);
        break;
    }
    case STORE_DB_REFRESH: {
        refresh_rec r;
        dead = refresh_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now ||
               !grant_alive(w->t, r.grant);
        break;
    }
    case STORE_DB_SESSIONS: {
        session_rec r;
        dead = session_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now;
        break;
    }
    default:
        break;
    }
    if (dead)
        memcpy(w->keys[w->n++], k.data, 16);
    return w->n >= w->limit;
}

static wt_status purge(store_txn *t, store_db db, int64_t now, size_t limit, uint64_t *count,
                       bool *more)
{
    struct victims w = {.limit = limit, .t = t, .db = db, .now = now};
    if (limit == 0) {
        *more = true;
        return WT_OK;
    }
    w.keys = malloc(limit * 16);
    if (!w.keys)
        return WT_NOMEM;
    wt_status st = store_iter(t, db, NULL, 0, pick, &w);
    for (size_t i = 0; st == WT_OK && i < w.n; i++)
        st = store_del(t, db, w.keys[i], 16, NULL, 0);
    if (st == WT_OK) {
        *count += w.n;
        if (w.n >= limit)
            *more = true;
    }
    free(w.keys);
    return st;
}

wt_status gc_batch(store_txn *t, int64_t now, size_t limit, gc_counts *c)
{
    struct {
        store_db db;
        uint64_t *count;
    } dbs[] = {{STORE_DB_CODES, &c->codes},
               {STORE_DB_ACCESS, &c->access},
               {STORE_DB_REFRESH, &c->refresh},
               {STORE_DB_SESSIONS, &c->sessions}};
    c->more = false;
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        uint64_t before = *dbs[i].count;
        wt_status st = purge(t, dbs[i].db, now, limit, dbs[i].count, &c->more);
        if (st != WT_OK)
            return st;
        limit -= (size_t)(*dbs[i].count - before);
    }
    return WT_OK;
}
