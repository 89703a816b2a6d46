/* store.h — the LMDB store. store.c is the only file that includes lmdb.h.
 *
 * One environment in data_dir (mode 0700), a fixed set of named databases, a schema version
 * checked at open, and a 16 GiB map set once (the file is sparse and grows with use).
 *
 * Reads: each thread owns a store_reader whose read transaction is renewed at the start of a
 * request and reset at its end (mdb_txn_renew / mdb_txn_reset, PLATFORM.md §9). Values returned
 * by store_get point into the map and are valid only until that reader is ended. A begun reader
 * must not wait for anything (a writer op, another thread): if another process grows the map,
 * adopting the new size waits until no reader or write transaction of this process is open.
 *
 * Writes: every write of the server goes through one writer thread. A caller fills a store_op
 * (a function that runs inside a write transaction + a completion callback) and submits it; the
 * writer takes every op queued at that moment, runs each in its own nested transaction (so a
 * failing op rolls back alone), commits the batch once with a durable sync, then calls each op's
 * `done` with its status — on the writer thread. The caller (the http layer) forwards that
 * completion to its own loop thread. Nothing is reported done before its commit is durable.
 * The admin CLI, which is another process, uses store_write_sync (LMDB serialises writers
 * across processes). */
#ifndef WATTLE_STORE_H
#define WATTLE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* 2: revoked grants leave tombstones (STORE_DB_REVOKED); a version-1 store is upgraded when
 * opened for writing, and remembers when (store_tombstones_since). */
#define STORE_SCHEMA_VERSION 2
/* Longest key (and longest value in the DUPSORT STORE_DB_INDEX) LMDB accepts; longer ones, and
 * empty keys, give WT_INVALID. */
#define STORE_MAX_KEY 511

typedef enum {
    STORE_DB_META,      /* "schema" -> u32 version; other small server facts */
    STORE_DB_SECRETS,   /* name -> server secret (cookie key, signing keys) */
    STORE_DB_CLIENTS,   /* client_id -> client record (JSON, see records.h) */
    STORE_DB_USERS,     /* user id (sub) -> user record (JSON) */
    STORE_DB_USERNAMES, /* username -> user id */
    STORE_DB_CODES,     /* selector(16) -> code record */
    STORE_DB_ACCESS,    /* selector(16) -> access token record */
    STORE_DB_REFRESH,   /* selector(16) -> refresh token record */
    STORE_DB_GRANTS,    /* grant id(16) -> grant (token family) record */
    STORE_DB_CONSENTS,  /* user id NUL client id -> consent record (remembered scopes) */
    STORE_DB_SESSIONS,  /* selector(16) -> browser login session record */
    STORE_DB_INDEX,     /* DUPSORT: index key -> id ("u:<user>", "c:<client>" -> grant id) */
    STORE_DB_JTI,       /* client id NUL SHA-256(jti) -> keep_until, 8 bytes LE (replay guard) */
    STORE_DB_REVOKED,   /* grant id(16) -> until, 8 bytes LE: a revoked grant, remembered until
                           its last access token expires (validation reads this small table
                           instead of the grant) */
    STORE_DB_COUNT
} store_db;

typedef struct store store;
typedef struct store_txn store_txn;
typedef struct store_reader store_reader;

/* Since when (seconds) every revoked grant has left a tombstone in STORE_DB_REVOKED: 0 for a
 * store created with schema 2, the upgrade time for one created with schema 1. */
int64_t store_tombstones_since(const store_txn *t);

typedef struct {
    const void *data;
    size_t len;
} store_val;

/* Opens (creating if needed, mode 0700) the environment in `dir`. On failure returns
 * WT_LOCKED (cannot open/lock: permissions, another incompatible user), WT_SCHEMA (newer
 * schema), WT_EIO or WT_ESTORE, and writes a one-line explanation naming the directory and what
 * to do into err. Runs mdb_reader_check once. `readonly` opens for reading only (still needs
 * write access to lock.mdb). */
wt_status store_open(store **out, const char *dir, bool readonly, char *err, size_t errlen);
/* Stops the writer if running (ops already queued still run and get their done), closes the
 * environment. Free every store_reader first. NULL-safe. */
void store_close(store *s);

/* Clears reader slots of dead processes (mdb_reader_check). Returns how many were cleared. */
int store_check_readers(store *s);

/* ---- reads ---- */
/* One reader per thread; free it on the same thread. NULL on failure. */
store_reader *store_reader_new(store *s);
void store_reader_free(store_reader *r);
/* Starts (renews) the reader's read transaction. Returns WT_OK and sets *txn, or WT_ESTORE. */
wt_status store_reader_begin(store_reader *r, store_txn **txn);
/* Ends (resets) it; every store_val obtained through it becomes invalid. */
void store_reader_end(store_reader *r);

/* Works in read and write transactions. WT_OK / WT_NOTFOUND / WT_INVALID (bad key length) /
 * WT_ESTORE. */
wt_status store_get(store_txn *t, store_db db, const void *key, size_t klen, store_val *val);

/* Iterates keys starting with prefix (all keys when plen == 0) in key order; for DUPSORT
 * databases every (key, value) pair. fn returns 0 to continue, non-zero to stop early. Returns
 * WT_OK when the iteration ended or fn stopped it, WT_INVALID when plen > STORE_MAX_KEY,
 * WT_ESTORE on an LMDB error. Values are valid only inside fn. Do not write to the same database
 * inside fn: collect the keys first. */
typedef int (*store_iter_fn)(void *arg, store_val key, store_val val);
wt_status store_iter(store_txn *t, store_db db, const void *prefix, size_t plen, store_iter_fn fn,
                     void *arg);

/* Like store_iter without a prefix filter: from the first key >= start (the first key when
 * slen == 0) to the end, until fn stops it. For resumable scans such as the purge. */
wt_status store_iter_from(store_txn *t, store_db db, const void *start, size_t slen,
                          store_iter_fn fn, void *arg);

/* ---- writes (write transactions only) ---- */
#define STORE_NOOVERWRITE 1u /* WT_EXISTS when the key exists */
#define STORE_APPEND 2u      /* hint: key sorts after every existing key (falls back if not) */
/* Returns WT_OK, WT_EXISTS (NOOVERWRITE), WT_INVALID (empty key or longer than STORE_MAX_KEY;
 * value longer than STORE_MAX_KEY in STORE_DB_INDEX), or WT_ESTORE (logged; includes a full map).
 * In STORE_DB_INDEX, putting a pair that exists is a no-op returning WT_OK. */
wt_status store_put(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen, unsigned flags);
/* Deletes a key (all its duplicates when val is NULL; only that pair in a DUPSORT database when
 * val is given). WT_NOTFOUND when absent. */
wt_status store_del(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen);

/* A unit of work run inside the writer's transaction. `run` returns WT_OK to keep its changes;
 * anything else rolls back just this op. `done` (may be NULL) is called after the commit with the
 * op's final status (WT_ESTORE if the batch commit failed), on the writer thread, and may free
 * the op. `now` is filled in by the writer (microseconds) before each run.
 *
 * Each op runs in a nested transaction of the batch's, which is what lets one op roll back
 * alone; that costs about 2 µs per op. An op marked `restartable` skips it: it runs directly in
 * the batch's transaction, and when any restartable op fails the writer aborts the attempt and
 * runs the whole batch again, every op nested. So a restartable op may be run more than once
 * (on the same store state, the first attempt having left no trace): it sets each of its
 * result fields on every run, never changes its inputs, and returns a status other than WT_OK
 * only on failure (a refusal is a result, reported with WT_OK). The restartable ops of a batch
 * run first, in submission order, then the others, in submission order. */
typedef struct store_op store_op;
typedef wt_status (*store_run_fn)(store_txn *t, void *arg);
typedef void (*store_done_fn)(store_op *op, wt_status status);
struct store_op {
    store_run_fn run;
    store_done_fn done;
    void *arg;
    wt_status status; /* set by the writer */
    int64_t now;      /* set by the writer just before run: CLOCK_REALTIME, microseconds */
    store_op *next;   /* owned by the writer's queue */
    bool restartable; /* see above; false unless the op meets the rules */
};

/* Starts the writer thread (the server does this; the CLI does not). WT_OK, WT_INVALID (already
 * started, or a read-only store) or WT_EIO (thread creation failed). */
wt_status store_writer_start(store *s);
/* Queues op for the writer. The op must stay valid until its done is called. Without a running
 * writer (never started, or store_close under way) the op is not run: done is called at once, on
 * the calling thread, with WT_ESTORE (and the mistake is logged). */
void store_submit(store *s, store_op *op);

/* Runs `run` in its own write transaction and commits it, on the calling thread. Returns the
 * run's status, or the commit's failure. For the CLI, start-up and tests. It may run while the
 * writer thread runs (LMDB serialises write transactions), but not on a thread whose reader is
 * begun, and not from inside a run callback (which already holds LMDB's write lock).
 * WT_INVALID on a read-only store. */
wt_status store_write_sync(store *s, store_run_fn run, void *arg);

/* Writer statistics: batches committed and ops run (for the benchmark and logs). Either pointer
 * may be NULL. */
void store_writer_stats(store *s, uint64_t *batches, uint64_t *ops);

#endif
