/* ratelimit.c — fixed-window request counters (contract in ratelimit.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define SLOTS 4096

struct slot {
    uint64_t key;
    int64_t second;
    int count;
};

struct ratelimit {
    pthread_mutex_t mu;
    struct slot s[SLOTS];
};

ratelimit *ratelimit_new(void)
{
    ratelimit *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

void ratelimit_free(ratelimit *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* FNV-1a of the class and address: not secret, only spreads the table. */
static uint64_t key_of(enum rl_class c, const char *addr)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)c;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h | 1;
}

int ratelimit_hit(ratelimit *r, enum rl_class c, const char *addr, int limit, int64_t now)
{
    if (limit <= 0 || !r)
        return 0;
    uint64_t k = key_of(c, addr);
    pthread_mutex_lock(&r->mu);
    struct slot *s = &r->s[k % SLOTS];
    /* A collision with another live key shares its counter: it can only make limits stricter
     * for that pair of addresses during that second. */
    if (s->key != k || s->second != now)
        *s = (struct slot){.key = k, .second = now, .count = 0};
    int over = ++s->count > limit;
    pthread_mutex_unlock(&r->mu);
    return over ? 1 : 0;
}
