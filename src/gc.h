/* gc.h — purging expired records: codes, access and refresh tokens (and those whose grant is
 * gone), sessions, used jtis. Bounded batches so no write transaction grows large and
 * requests are never blocked for long. */
#ifndef WATTLE_GC_H
#define WATTLE_GC_H
#include <stdint.h>

#include "store.h"

typedef struct {
    uint64_t codes, access, refresh, sessions, jti;
    bool more; /* the batch limit was reached: call again */
} gc_counts;

/* Deletes up to `limit` dead records in t (now in seconds), adding to *c. */
wt_status gc_batch(store_txn *t, int64_t now, size_t limit, gc_counts *c);

#endif
