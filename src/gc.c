/* gc.c — bounded, resumable purge of dead records (contract in gc.h). Used by `wattle gc`
 * (full passes) and by the server, which submits one step to the store writer every few
 * seconds so the purge never blocks requests for long. */
#include <stdlib.h>
#include <string.h>

#include "cimd.h"
#include "gc.h"
#include "records.h"
#include "register.h"

static const store_db dbs[GC_NDB] = {STORE_DB_CODES,    STORE_DB_ACCESS, STORE_DB_REFRESH,
                                     STORE_DB_SESSIONS, STORE_DB_JTI,    STORE_DB_CLIENTS,
                                     STORE_DB_REVOKED};

struct scan {
    store_txn *t;
    int which;
    int64_t now, unused_client_ttl;
    size_t seen, limit;
    uint8_t (*dead)[512];
    size_t *dead_len, ndead;
    uint8_t last[512];
    size_t last_len;
};

static bool grant_alive(store_txn *t, const uint8_t grant[GRANT_ID_LEN])
{
    store_val v;
    return store_get(t, STORE_DB_GRANTS, grant, GRANT_ID_LEN, &v) == WT_OK;
}

static bool is_dead(struct scan *w, store_val k, store_val v)
{
    switch (w->which) {
    case GC_CODES: {
        code_rec r;
        return code_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now;
    }
    case GC_ACCESS: {
        access_rec r;
        return access_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now ||
               !grant_alive(w->t, r.grant);
    }
    case GC_REFRESH: {
        refresh_rec r;
        return refresh_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now ||
               !grant_alive(w->t, r.grant);
    }
    case GC_SESSIONS: {
        session_rec r;
        return session_rec_decode(v.data, v.len, &r) != WT_OK || r.exp <= w->now;
    }
    case GC_JTI:     /* until when a used assertion's jti is remembered */
    case GC_REVOKED: /* until when a revoked grant's access tokens could be presented */
        return until_passed(v.data, v.len, w->now);
    case GC_CLIENTS: /* unused registrations, and metadata-document clients gone idle */
        return register_unused_expired(v.data, v.len, w->now, w->unused_client_ttl) ||
               cimd_idle_expired(w->t, k.data, k.len, v.data, v.len, w->now, CIMD_IDLE_TTL);
    }
    return false;
}

static int visit(void *arg, store_val k, store_val v)
{
    struct scan *w = arg;
    if (k.len > 512)
        return 0;
    if (is_dead(w, k, v)) {
        memcpy(w->dead[w->ndead], k.data, k.len);
        w->dead_len[w->ndead++] = k.len;
    }
    memcpy(w->last, k.data, k.len);
    w->last_len = k.len;
    return ++w->seen >= w->limit;
}

/* The smallest key after k: k followed by a zero byte. */
static void successor(gc_state *s, int i, const uint8_t *k, size_t len)
{
    if (len >= sizeof s->next[i]) {
        s->next_len[i] = 0; /* cannot happen for our keys; restart the scan */
        return;
    }
    memcpy(s->next[i], k, len);
    s->next[i][len] = 0;
    s->next_len[i] = len + 1;
}

wt_status gc_step(store_txn *t, int64_t now, size_t scan, gc_state *s)
{
    struct scan w = {.t = t, .now = now, .limit = scan, .unused_client_ttl = s->unused_client_ttl};
    w.dead = malloc(scan * sizeof *w.dead);
    w.dead_len = malloc(scan * sizeof *w.dead_len);
    wt_status st = w.dead && w.dead_len ? WT_OK : WT_NOMEM;
    for (int i = 0; st == WT_OK && i < GC_NDB; i++) {
        w.which = i;
        w.seen = w.ndead = 0;
        st = store_iter_from(t, dbs[i], s->next[i], s->next_len[i], visit, &w);
        for (size_t d = 0; st == WT_OK && d < w.ndead; d++) {
            wt_status r;
            if (i == GC_CLIENTS) { /* the client with its grants, tokens and consents */
                char id[513];
                memcpy(id, w.dead[d], w.dead_len[d]);
                id[w.dead_len[d]] = '\0';
                r = client_remove(t, id);
            } else {
                r = store_del(t, dbs[i], w.dead[d], w.dead_len[d], NULL, 0);
            }
            if (r == WT_OK)
                s->purged[i]++;
            else if (r != WT_NOTFOUND)
                st = r;
        }
        if (w.seen < scan) { /* reached the end: start over next time */
            s->next_len[i] = 0;
            s->wrapped[i] = true;
        } else {
            successor(s, i, w.last, w.last_len);
        }
    }
    free(w.dead);
    free(w.dead_len);
    return st;
}

bool gc_pass_done(const gc_state *s)
{
    for (int i = 0; i < GC_NDB; i++)
        if (!s->wrapped[i])
            return false;
    return true;
}
