/* throttle.c — fixed-window failure counters in a bounded open-addressed table (contract in
 * throttle.h). Keys are SHA-256 prefixes of "u\n<addr>\n<user>" / "a\n<addr>", so usernames
 * are not kept in memory in clear and the table has a fixed size. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "throttle.h"

#define SLOTS 8192
#define PROBE 8

struct entry {
    uint64_t key;
    int64_t start;
    int count;
};

struct throttle {
    pthread_mutex_t mu;
    int per_user_address, per_address, window;
    struct entry e[SLOTS];
};

throttle *throttle_new(int per_user_address, int per_address, int window)
{
    throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    t->per_user_address = per_user_address;
    t->per_address = per_address;
    t->window = window;
    return t;
}

void throttle_free(throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static uint64_t key_of(const char *addr, const char *user)
{
    char buf[512];
    uint8_t h[32];
    int n = user ? snprintf(buf, sizeof buf, "u\n%s\n%s", addr, user)
                 : snprintf(buf, sizeof buf, "a\n%s", addr);
    crypto_sha256(buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, h);
    uint64_t k;
    memcpy(&k, h, sizeof k);
    return k | 1; /* 0 marks an empty slot */
}

/* The live entry for key, or NULL; with create, a fresh one (reusing an expired or the oldest
 * slot of its probe window). Caller holds the mutex. */
static struct entry *find(throttle *t, uint64_t key, int64_t now, bool create)
{
    struct entry *victim = NULL;
    for (int i = 0; i < PROBE; i++) {
        struct entry *e = &t->e[(key + (uint64_t)i) % SLOTS];
        bool expired = e->key && now - e->start >= t->window;
        if (e->key == key && !expired)
            return e;
        if (!victim || !e->key || expired || e->start < victim->start)
            victim = e;
    }
    if (!create)
        return NULL;
    *victim = (struct entry){.key = key, .start = now, .count = 0};
    return victim;
}

static int retry_after(throttle *t, struct entry *e, int limit, int64_t now)
{
    if (!e || e->count < limit)
        return 0;
    int64_t left = e->start + t->window - now;
    return left > 0 ? (int)left : 1;
}

int throttle_check(throttle *t, const char *addr, const char *user, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    int ua = retry_after(t, find(t, key_of(addr, user), now, false), t->per_user_address, now);
    int a = retry_after(t, find(t, key_of(addr, NULL), now, false), t->per_address, now);
    pthread_mutex_unlock(&t->mu);
    return ua > a ? ua : a;
}

void throttle_fail(throttle *t, const char *addr, const char *user, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    find(t, key_of(addr, user), now, true)->count++;
    find(t, key_of(addr, NULL), now, true)->count++;
    pthread_mutex_unlock(&t->mu);
}

void throttle_success(throttle *t, const char *addr, const char *user)
{
    pthread_mutex_lock(&t->mu);
    struct entry *e = find(t, key_of(addr, user), 0, false);
    if (e)
        e->count = 0;
    pthread_mutex_unlock(&t->mu);
}
