/* ratelimit.h — requests per second per client address for the token, revoke, introspect and
 * register endpoints (config rate_limit). Fixed one-second windows in a bounded table shared by
 * the loop threads under a mutex; a limit of 0 disables a class. */
#ifndef WATTLE_RATELIMIT_H
#define WATTLE_RATELIMIT_H
#include <stdint.h>

enum rl_class { RL_TOKEN, RL_REVOKE, RL_INTROSPECT, RL_REGISTER, RL_COUNT };

typedef struct ratelimit ratelimit;

ratelimit *ratelimit_new(void);
void ratelimit_free(ratelimit *r);
/* Counts one request of class c from addr; returns 0 when allowed, else the seconds to wait. */
int ratelimit_hit(ratelimit *r, enum rl_class c, const char *addr, int limit, int64_t now);

#endif
