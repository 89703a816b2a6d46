/* status.h — the one status enum of the program. Library errors (LMDB, OpenSSL, libjwt,
 * jansson) are translated into these at the module boundary and logged there. */
#ifndef WATTLE_STATUS_H
#define WATTLE_STATUS_H

typedef enum {
    WT_OK = 0,
    WT_NOTFOUND, /* no such record / key */
    WT_EXISTS,   /* a record with that key already exists */
    WT_INVALID,  /* the input is malformed or refused */
    WT_NOMEM,    /* allocation failed */
    WT_TOOBIG,   /* over a size cap */
    WT_EXPIRED,  /* found, but past its lifetime */
    WT_DENIED,   /* authentication or authorization failed */
    WT_ESTORE,   /* the store failed (LMDB error, logged where it happened) */
    WT_EIO,      /* file or socket I/O failed */
    WT_ECRYPTO,  /* OpenSSL failed */
    WT_SCHEMA,   /* the store has a newer schema version */
    WT_LOCKED,   /* the store is locked or unreadable */
} wt_status;

/* A short, stable English name of a status, for logs. Never NULL. */
const char *wt_status_str(wt_status s);

#endif
