/* users.h — login users. A user document (compact JSON in STORE_DB_USERS, keyed by its
 * immutable random id, the `sub`) holds the username, display name, email, the scrypt password
 * hash and a password epoch that sessions are checked against. STORE_DB_USERNAMES maps the
 * username to the id. */
#ifndef WATTLE_USERS_H
#define WATTLE_USERS_H
#include <jansson.h>
#include <stdint.h>

#include "store.h"

#define USERNAME_MAX 64

typedef struct {
    json_t *doc; /* owned */
    const char *sub, *username, *display_name, *email, *password_hash;
    int64_t pw_epoch;
} user_t;

/* True when name is 1..64 chars of [A-Za-z0-9._@+-]. */
bool username_valid(const char *name);

/* Builds a new user document; password_hash from password_hash(). Caller owns *doc. */
wt_status user_build(const char *username, const char *display_name, const char *email,
                     const char *password_hash, int64_t now, json_t **doc);
/* Stores a new user: WT_EXISTS when the username is taken. */
wt_status user_create(store_txn *t, const json_t *doc);
wt_status user_by_name(store_txn *t, const char *username, user_t *out);
wt_status user_by_id(store_txn *t, const char *sub, user_t *out);
/* Like user_by_id, but the document comes from the calling thread's cache of parsed documents,
 * checked against the stored bytes on every call. It is shared: do not modify out->doc. */
wt_status user_by_id_shared(store_txn *t, const char *sub, user_t *out);
void user_free(user_t *u);
/* The public view (no hash). */
json_t *user_public_view(const json_t *doc);
/* Removes a user and ends its sessions, grants and tokens. */
wt_status user_remove(store_txn *t, const char *username);
/* Replaces the password hash; ends sessions, grants and tokens. */
wt_status user_set_password(store_txn *t, const char *username, const char *password_hash,
                            int64_t now);

#endif
