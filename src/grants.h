/* grants.h — token families ("grants"), remembered consents and the indexes that let a user,
 * a client or a consent end all of its grants. Deleting a grant record kills every access and
 * refresh token that names it (validation checks the grant exists); the token records
 * themselves are purged later by gc. */
#ifndef WATTLE_GRANTS_H
#define WATTLE_GRANTS_H
#include <stdint.h>

#include "records.h"
#include "store.h"

/* Creates a grant record and its indexes ("u:<user>", "c:<client>"). id_out gets 16 bytes. */
wt_status grant_create(store_txn *t, const grant_rec *g, uint8_t id_out[GRANT_ID_LEN]);
/* WT_OK and *g decoded in place, or WT_NOTFOUND. */
wt_status grant_get(store_txn *t, const uint8_t id[GRANT_ID_LEN], grant_rec *g);
wt_status grant_put(store_txn *t, const uint8_t id[GRANT_ID_LEN], const grant_rec *g);
/* Deletes a grant (its tokens die with it) and leaves a tombstone in STORE_DB_REVOKED until
 * its last access token expires: the only way a grant may be deleted, since validation reads
 * the tombstone and not the grant. WT_NOTFOUND if it was already gone. */
wt_status grant_revoke(store_txn *t, const uint8_t id[GRANT_ID_LEN]);
/* Revokes every grant of a user ("u:") or a client ("c:"), and their consents. */
wt_status grants_revoke_user(store_txn *t, const char *user_id);
wt_status grants_revoke_client(store_txn *t, const char *client_id);

/* Remembered consent of (user, client): the scopes the user approved. */
wt_status consent_get(store_txn *t, const char *user_id, const char *client_id, char *scope_out,
                      size_t outlen);
wt_status consent_put(store_txn *t, const char *user_id, const char *client_id, const char *scope,
                      int64_t now);

/* The stable public id of the consent of (user, client): "ogr_" + 22 base64url chars of a
 * digest of the pair (out: 27 bytes). */
void consent_id(const char *user_id, const char *client_id, char out[27]);
/* Forgets the consent of (user, client) and revokes that pair's grants. WT_NOTFOUND when
 * there was no consent. */
wt_status consent_revoke(store_txn *t, const char *user_id, const char *client_id);

#endif
