/* throttle.h — failed-login counting for login_throttle (SPEC §1): per (user, address) and
 * per address, in fixed windows. In memory, shared by the loop threads under one mutex (logins
 * are rare next to everything else), bounded in size: old entries are overwritten. */
#ifndef WATTLE_THROTTLE_H
#define WATTLE_THROTTLE_H
#include <stdint.h>

typedef struct throttle throttle;

throttle *throttle_new(int per_user_address, int per_address, int window);
void throttle_free(throttle *t);
/* 0 when a login attempt may proceed, else the seconds until it may (Retry-After). */
int throttle_check(throttle *t, const char *addr, const char *user, int64_t now);
/* Counts a failed attempt. */
void throttle_fail(throttle *t, const char *addr, const char *user, int64_t now);
/* A success clears the (user, address) counter. */
void throttle_success(throttle *t, const char *addr, const char *user);

#endif
