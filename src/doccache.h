/* doccache.h — per-thread caches of parsed JSON documents (client and user records). */
#ifndef WATTLE_DOCCACHE_H
#define WATTLE_DOCCACHE_H

#include <stddef.h>
#include <jansson.h>

typedef struct doccache doccache;

/* A cache of `slots` entries, for one thread. NULL when out of memory. */
doccache *doccache_new(size_t slots);
void doccache_free(doccache *c); /* NULL-safe */

/* What a thread caches: one cache of each kind per thread. */
enum doccache_kind { DOCCACHE_CLIENTS, DOCCACHE_USERS, DOCCACHE_KINDS };
/* The calling thread's cache of `kind`: made on first use, freed when the thread ends. NULL
 * when out of memory (the caller parses without it). */
doccache *doccache_of_thread(enum doccache_kind kind);

/* The parsed form of the stored bytes raw[0..len) of the record under key: the cached document
 * when it was parsed from exactly these bytes, else a fresh parse that replaces the slot's entry.
 * Comparing the bytes on every call is what keeps it current: a record changed by the CLI or by
 * another thread is parsed again at once. Returns a new reference the caller must not modify
 * (the cache shares it); NULL when the bytes are not a JSON document or memory ran out. */
json_t *doccache_parse(doccache *c, const void *key, size_t klen, const void *raw, size_t len);

#endif
