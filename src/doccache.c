/* doccache.c — per-thread caches of parsed JSON documents, each entry kept with the exact bytes
 * it was parsed from (contract in doccache.h). Direct-mapped by an FNV-1a hash of the key: two
 * hot keys that collide only cost each other a parse. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doccache.h"

struct entry {
    char *raw; /* the stored bytes the document was parsed from */
    size_t len;
    json_t *doc;
};

struct doccache {
    size_t n;
    struct entry e[];
};

doccache *doccache_new(size_t slots)
{
    if (slots == 0)
        slots = 1;
    doccache *c = calloc(1, sizeof *c + slots * sizeof c->e[0]);
    if (c)
        c->n = slots;
    return c;
}

void doccache_free(doccache *c)
{
    for (size_t i = 0; c && i < c->n; i++) {
        free(c->e[i].raw);
        json_decref(c->e[i].doc);
    }
    free(c);
}

static size_t slot_of(const doccache *c, const uint8_t *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h % c->n);
}

json_t *doccache_parse(doccache *c, const void *key, size_t klen, const void *raw, size_t len)
{
    struct entry *e = &c->e[slot_of(c, key, klen)];
    if (e->doc && e->len == len && memcmp(e->raw, raw, len) == 0)
        return json_incref(e->doc);
    json_t *doc = json_loadb(raw, len, 0, NULL);
    char *copy = doc ? malloc(len ? len : 1) : NULL;
    if (!copy) {
        json_decref(doc);
        return NULL;
    }
    memcpy(copy, raw, len);
    free(e->raw);
    json_decref(e->doc);
    *e = (struct entry){copy, len, doc};
    return json_incref(doc);
}

static pthread_key_t thread_keys[DOCCACHE_KINDS];
static pthread_once_t thread_keys_once = PTHREAD_ONCE_INIT;

static void free_at_thread_end(void *c)
{
    doccache_free(c);
}

static void make_thread_keys(void)
{
    for (int k = 0; k < DOCCACHE_KINDS; k++)
        pthread_key_create(&thread_keys[k], free_at_thread_end);
}

doccache *doccache_of_thread(enum doccache_kind kind)
{
    pthread_once(&thread_keys_once, make_thread_keys);
    doccache *c = pthread_getspecific(thread_keys[kind]);
    if (!c && (c = doccache_new(64)) && pthread_setspecific(thread_keys[kind], c) != 0) {
        doccache_free(c);
        c = NULL;
    }
    return c;
}
