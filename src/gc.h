/* gc.h — purging dead records: expired codes, sessions and tokens, tokens whose grant is gone,
 * expired private_key_jwt jtis, tombstones of revoked grants whose tokens have all expired. Every
 * call scans a bounded number of records per database, resuming where the previous call stopped, so
 * one purge step never holds the writer long. */
#ifndef WATTLE_GC_H
#define WATTLE_GC_H
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

enum { GC_CODES, GC_ACCESS, GC_REFRESH, GC_SESSIONS, GC_JTI, GC_CLIENTS, GC_REVOKED, GC_NDB };

typedef struct {
    uint64_t purged[GC_NDB];
    uint8_t next[GC_NDB][512]; /* resume key per database */
    size_t next_len[GC_NDB];
    bool wrapped[GC_NDB];      /* the scan reached the end since the last reset */
    int64_t unused_client_ttl; /* set by the caller: cfg.registration.unused_client_ttl (dynamic
                                  registrations that never obtained a token are removed, with
                                  client_remove, that long after registering); 0: keep them */
} gc_state;

/* Scans up to `scan` records of each database from where *s left off and deletes the dead
 * ones (now in seconds). A database whose scan reaches its end wraps to the start and sets
 * wrapped. */
wt_status gc_step(store_txn *t, int64_t now, size_t scan, gc_state *s);
/* True once every database was scanned to its end (a full pass). */
bool gc_pass_done(const gc_state *s);

#endif
