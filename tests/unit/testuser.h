/* testuser.h — a user record written straight into a test's store (inside a write
 * transaction), for the unit tests that need one. Header-only, like tmpstore.h. */
#ifndef WATTLE_TESTUSER_H
#define WATTLE_TESTUSER_H
#include <jansson.h>
#include <stdio.h>

#include "users.h"

/* Creates `username` (created at `now`, a password hash nobody can match); its id into id. */
static inline wt_status testuser_create(store_txn *t, const char *username, int64_t now, char *id,
                                        size_t idlen)
{
    json_t *u;
    wt_status s = user_build(username, username, NULL, "scrypt$unused", now, &u);
    if (s == WT_OK)
        s = user_create(t, u);
    if (s == WT_OK)
        snprintf(id, idlen, "%s", json_string_value(json_object_get(u, "sub")));
    json_decref(u);
    return s;
}

#endif
