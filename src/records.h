/* records.h — the byte layout of every record kept in the store (store.h names the databases).
 *
 * Hot records (codes, access and refresh tokens, grants, sessions) use a small binary layout so
 * validation reads them in place, without a JSON round trip: a version byte, fixed-width fields,
 * then strings as u16 length + bytes + NUL, so decoded string pointers point straight into the
 * LMDB map (valid until that transaction ends). Clients and users are admin-managed documents
 * with open-ended fields and are stored as compact JSON (clients.c, users.c).
 * Pure code: no store access here. */
#ifndef WATTLE_RECORDS_H
#define WATTLE_RECORDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "status.h"

#define GRANT_ID_LEN 16

/* A token family: one authorization of a client (by a user, or by itself for
 * client_credentials). Deleting it kills every token that names it. */
typedef struct {
    int64_t created;         /* seconds */
    int64_t auth_time;       /* when the user authenticated (seconds) */
    uint32_t generation;     /* refresh rotations so far */
    uint8_t refresh_sel[16]; /* the live refresh token's selector (zeros: none) */
    const char *client_id, *user_id, *scope, *resource; /* "" when absent */
    int64_t access_until; /* the latest expiry of an access token issued in it (seconds; 0 in
                             records written before schema 2) */
} grant_rec;

/* An access token. */
typedef struct {
    uint8_t digest[32];
    int64_t iat, exp; /* seconds */
    uint8_t grant[GRANT_ID_LEN];
    const char *client_id, *user_id, *username, *scope, *resource;
} access_rec;

/* A refresh token. A retired one keeps, for refresh_grace seconds, its successor pair sealed
 * under a key derived from its own secret (only the presenter can open it). */
typedef struct {
    uint8_t digest[32];
    int64_t iat, exp; /* seconds */
    uint8_t grant[GRANT_ID_LEN];
    uint32_t generation;
    int64_t retired_at;    /* 0 while live */
    const uint8_t *sealed; /* successor pair, sealed; NULL when none */
    size_t sealed_len;
} refresh_rec;

/* An authorization code. `used_grant` is all zeros until it is redeemed; then it names the
 * grant the redemption created (for the replay rule) until the code expires. */
typedef struct {
    uint8_t digest[32];
    int64_t iat, exp;
    int64_t auth_time;
    uint8_t used_grant[GRANT_ID_LEN];
    const char *client_id, *user_id, *redirect_uri, *challenge, *scope, *resource;
    uint8_t redirect_given; /* redirect_uri was sent on the authorization request */
} code_rec;

/* A browser login session. */
typedef struct {
    uint8_t digest[32];
    int64_t iat, exp, auth_time;
    const char *user_id;
    int64_t pw_epoch; /* the user's password epoch when it was made */
} session_rec;

/* Encoders append to b (buf.h); decoders read in place and return WT_INVALID for a record
 * that is truncated or of an unknown version. */
/* A time as 8 bytes little-endian: the whole value of a STORE_DB_JTI or STORE_DB_REVOKED
 * record (until when it must be kept). until_passed is gc's rule for such a record: true when
 * the value is malformed or its time is <= now. */
void until_encode(uint8_t out[8], int64_t t);
int64_t until_decode(const uint8_t in[8]);
bool until_passed(const void *val, size_t len, int64_t now);

wt_status grant_rec_encode(buf_t *b, const grant_rec *r);
wt_status grant_rec_decode(const void *p, size_t len, grant_rec *r);
wt_status access_rec_encode(buf_t *b, const access_rec *r);
wt_status access_rec_decode(const void *p, size_t len, access_rec *r);
wt_status refresh_rec_encode(buf_t *b, const refresh_rec *r);
wt_status refresh_rec_decode(const void *p, size_t len, refresh_rec *r);
wt_status code_rec_encode(buf_t *b, const code_rec *r);
wt_status code_rec_decode(const void *p, size_t len, code_rec *r);
wt_status session_rec_encode(buf_t *b, const session_rec *r);
wt_status session_rec_decode(const void *p, size_t len, session_rec *r);

#endif
