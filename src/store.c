/* store.c — the LMDB store behind store.h. Owns the environment, the named databases and the
 * schema record, the per-thread readers, the writer thread and its queue, and the translation of
 * every LMDB error into a wt_status (logged here with mdb_strerror's text). It is the only file
 * that includes <lmdb.h>; it knows nothing about what the records mean.
 *
 * Map size: set once to 16 GiB (sparse). If another process opened the environment with a larger
 * map and grew the data past ours, LMDB answers MDB_MAP_RESIZED; adopting the new size remaps the
 * file, so every transaction of this process holds `maplock` for reading and the remap takes it
 * for writing (PLATFORM.md §9).
 *
 * Zeroed tail: the writer keeps ZERO_AHEAD bytes of written zeros past the last page LMDB uses
 * (see keep_zeroed_tail). LMDB never reads past its last page and never truncates the file. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "le.h"
#include "log.h"
#include "store.h"

#define MAP_SIZE ((size_t)16 << 30)
#define MAX_READERS 256
#define BATCH_MAX 1024                /* ops per writer transaction; the rest wait a turn */
#define READER_CHECK_NS 10000000000LL /* run mdb_reader_check at most this often (10 s) */
#define RESIZE_ATTEMPTS 3
#define ZERO_AHEAD ((off_t)8 << 20) /* written zeros kept past the last used page */
#define ZERO_CHUNK ((size_t)64 << 10)
#define ZERO_STEP_CHUNKS 32 /* one pwritev: 2 MiB */
#define DIR_HINT "check that it is a directory owned by the user running wattle"

static const char *const db_names[] = {
    [STORE_DB_META] = "meta",
    [STORE_DB_SECRETS] = "secrets",
    [STORE_DB_CLIENTS] = "clients",
    [STORE_DB_USERS] = "users",
    [STORE_DB_USERNAMES] = "usernames",
    [STORE_DB_CODES] = "codes",
    [STORE_DB_ACCESS] = "access",
    [STORE_DB_REFRESH] = "refresh",
    [STORE_DB_GRANTS] = "grants",
    [STORE_DB_CONSENTS] = "consents",
    [STORE_DB_SESSIONS] = "sessions",
    [STORE_DB_INDEX] = "index",
    [STORE_DB_JTI] = "jti",
    [STORE_DB_REVOKED] = "revoked",
};
_Static_assert(sizeof db_names / sizeof *db_names == STORE_DB_COUNT, "every store_db needs a name");

struct store_txn {
    MDB_txn *txn;
    store *s;
};

struct store_reader {
    store_txn t;
    bool active; /* begun: holds s->maplock for reading */
};

struct store {
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
    bool readonly;
    bool locks_ready;
    pthread_rwlock_t maplock; /* read: any open transaction; write: adopting a new map size */

    /* writer queue: FIFO through op->next, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    store_op *head, *tail;
    bool writer_running;
    bool stopping;
    pthread_t writer;
    int64_t last_reader_check; /* monotonic ns; touched by the writer thread only once started */
    _Atomic uint64_t batches, ops;
    bool zero_failed;         /* the writer logged a failed zero-fill; it stops trying */
    int64_t tombstones_since; /* see store_tombstones_since; set at open */
};

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Logs an LMDB failure with LMDB's own text and returns WT_ESTORE. */
static wt_status lmdb_fail(store *s, const char *what, int rc)
{
    if (rc == MDB_MAP_FULL) {
        MDB_envinfo ei;
        size_t mib = s && s->env && mdb_env_info(s->env, &ei) == 0 ? ei.me_mapsize >> 20 : 0;
        log_error("store is full: map size %zu MiB reached during %s (%s); free space by purging "
                  "expired records, or copy the data to a larger map",
                  mib, what, mdb_strerror(rc));
    } else {
        log_error("store: %s failed: %s", what, mdb_strerror(rc));
    }
    return WT_ESTORE;
}

static bool db_ok(store_db db)
{
    return (unsigned)db < STORE_DB_COUNT;
}

static bool key_ok(size_t klen)
{
    return klen > 0 && klen <= STORE_MAX_KEY;
}

/* Another process grew the map past our size: adopt its size. The caller holds maplock for
 * reading (and no transaction); it is dropped while the map is replaced, then taken again. */
static int adopt_map_size(store *s)
{
    pthread_rwlock_unlock(&s->maplock);
    pthread_rwlock_wrlock(&s->maplock);
    int rc = mdb_env_set_mapsize(s->env, 0);
    pthread_rwlock_unlock(&s->maplock);
    pthread_rwlock_rdlock(&s->maplock);
    if (rc == 0)
        log_info("store: the map was grown by another process; adopted its size");
    return rc;
}

/* mdb_txn_begin for a top-level transaction, adopting a grown map. Caller holds maplock (read). */
static int begin_top(store *s, unsigned flags, MDB_txn **out)
{
    int rc = 0;
    for (int i = 0; i < RESIZE_ATTEMPTS; i++) {
        rc = mdb_txn_begin(s->env, NULL, flags, out);
        if (rc != MDB_MAP_RESIZED)
            break;
        rc = adopt_map_size(s);
        if (rc != 0)
            break;
        rc = MDB_MAP_RESIZED;
    }
    return rc;
}

/* mdb_txn_renew likewise (a failed renew leaves the txn reset, so it can be retried). */
static int renew(store *s, MDB_txn *txn)
{
    int rc = 0;
    for (int i = 0; i < RESIZE_ATTEMPTS; i++) {
        rc = mdb_txn_renew(txn);
        if (rc != MDB_MAP_RESIZED)
            break;
        rc = adopt_map_size(s);
        if (rc != 0)
            break;
        rc = MDB_MAP_RESIZED;
    }
    return rc;
}

/* ---- open / close ---- */

/* Makes sure dir exists and is a directory (creating it with mode 0700 unless readonly). */
static wt_status prepare_dir(const char *dir, bool readonly, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            set_err(err, errlen, "data directory %s is not a directory; " DIR_HINT, dir);
            return WT_EIO;
        }
        if (st.st_mode & 077)
            log_warn("store: data directory %s is accessible by other users (mode %04o); "
                     "chmod 700 it",
                     dir, (unsigned)(st.st_mode & 07777));
        return WT_OK;
    }
    int e = errno;
    if (e == ENOENT && !readonly) {
        if (mkdir(dir, 0700) == 0)
            return WT_OK;
        e = errno;
        set_err(err, errlen,
                "cannot create data directory %s: %s; check that its parent exists and "
                "is writable by the user running wattle",
                dir, strerror(e));
        return e == EACCES || e == EPERM || e == EROFS ? WT_LOCKED : WT_EIO;
    }
    if (e == ENOENT) {
        set_err(err, errlen,
                "data directory %s does not exist; start wattle once (not read-only) to "
                "create it",
                dir);
        return WT_EIO;
    }
    set_err(err, errlen, "cannot open data directory %s: %s; " DIR_HINT, dir, strerror(e));
    return e == EACCES || e == EPERM ? WT_LOCKED : WT_EIO;
}

static wt_status open_env(store *s, const char *dir, char *err, size_t errlen)
{
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
    if (rc != 0) {
        set_err(err, errlen, "cannot set up the store for %s: %s", dir, mdb_strerror(rc));
        return WT_ESTORE;
    }
    if (mdb_env_get_maxkeysize(s->env) < STORE_MAX_KEY) {
        set_err(err, errlen, "this LMDB build allows keys of only %d bytes",
                mdb_env_get_maxkeysize(s->env));
        return WT_ESTORE;
    }
    /* Durable: neither MDB_NOSYNC nor MDB_NOMETASYNC. No MDB_NOTLS: one reader per thread. */
    rc = mdb_env_open(s->env, dir, s->readonly ? MDB_RDONLY : 0, 0600);
    if (rc == 0)
        return WT_OK;
    switch (rc) {
    case EACCES:
    case EPERM:
    case EROFS:
    case EAGAIN:
    case EBUSY:
        set_err(err, errlen,
                "cannot open the store in %s: %s; " DIR_HINT " (even read-only use "
                "needs write access to %s/lock.mdb)",
                dir, mdb_strerror(rc), dir);
        return WT_LOCKED;
    case ENOENT:
        set_err(err, errlen,
                "data directory %s holds no store (data.mdb missing); start wattle once "
                "(not read-only) to create it",
                dir);
        return WT_EIO;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        set_err(err, errlen,
                "%s does not hold a store this build can read (%s); point data_dir at "
                "a wattle data directory",
                dir, mdb_strerror(rc));
        return WT_ESTORE;
    default:
        set_err(err, errlen, "cannot open the store in %s: %s; " DIR_HINT, dir, mdb_strerror(rc));
        return rc > 0 ? WT_EIO : WT_ESTORE;
    }
}

/* Opens every named database and checks (or writes) the schema version, in one transaction. */
static wt_status open_dbs(store *s, const char *dir, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    wt_status st = WT_ESTORE;
    const char *what = "begin";
    int rc = 0;

    pthread_rwlock_rdlock(&s->maplock);
    rc = begin_top(s, s->readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0)
        goto lmdb_error;
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        if (!db_names[i]) { /* a NULL name would open LMDB's main database */
            set_err(err, errlen, "store database %d has no name (a bug)", i);
            goto cleanup;
        }
        unsigned flags = i == STORE_DB_INDEX ? MDB_DUPSORT : 0;
        if (!s->readonly)
            flags |= MDB_CREATE;
        rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            set_err(err, errlen,
                    "data directory %s has no \"%s\" database (not initialised, or not "
                    "a wattle store); start wattle once (not read-only) to create it",
                    dir, db_names[i]);
            goto cleanup;
        }
        if (rc != 0) {
            what = db_names[i];
            goto lmdb_error;
        }
    }

    MDB_val key = {6, "schema"}, val = {0, NULL};
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &key, &val);
    if (rc == MDB_NOTFOUND && s->readonly) {
        set_err(err, errlen,
                "data directory %s has no schema record; start wattle once (not "
                "read-only) to initialise it",
                dir);
        goto cleanup;
    }
    bool write_schema = rc == MDB_NOTFOUND; /* a new store */
    if (rc != 0 && rc != MDB_NOTFOUND) {
        what = "reading the schema record";
        goto lmdb_error;
    }
    if (rc == 0) {
        if (val.mv_size != 4) {
            set_err(err, errlen,
                    "data directory %s has a malformed schema record (%zu bytes); it is "
                    "not a wattle store or it is damaged",
                    dir, val.mv_size);
            goto cleanup;
        }
        uint32_t v = (uint32_t)le_get(val.mv_data, 4);
        if (v > STORE_SCHEMA_VERSION || v < 1 || (v < STORE_SCHEMA_VERSION && s->readonly)) {
            if (v > STORE_SCHEMA_VERSION)
                set_err(err, errlen,
                        "data directory %s has schema version %u, newer than this binary's "
                        "%u; upgrade wattle",
                        dir, (unsigned)v, (unsigned)STORE_SCHEMA_VERSION);
            else if (v < 1)
                set_err(err, errlen,
                        "data directory %s has schema version %u, which this binary (%u) "
                        "cannot upgrade",
                        dir, (unsigned)v, (unsigned)STORE_SCHEMA_VERSION);
            else
                set_err(err, errlen,
                        "data directory %s has schema version %u; start wattle once (not "
                        "read-only) to upgrade it to %u",
                        dir, (unsigned)v, (unsigned)STORE_SCHEMA_VERSION);
            st = WT_SCHEMA;
            goto cleanup;
        }
        if (v < STORE_SCHEMA_VERSION) {
            /* 1 → 2: the "revoked" database was created above. Grants revoked before now left
             * no tombstone, so tokens issued before now are still checked against their grant
             * record (store_tombstones_since). */
            unsigned char le[8];
            le_put(le, (uint64_t)time(NULL), sizeof le);
            MDB_val since_key = {16, "tombstones_since"}, since = {8, le};
            rc = mdb_put(txn, s->dbi[STORE_DB_META], &since_key, &since, 0);
            what = "upgrading the schema to version 2";
            if (rc != 0)
                goto lmdb_error;
            log_info("store: upgrading %s to schema version %u", dir,
                     (unsigned)STORE_SCHEMA_VERSION);
            write_schema = true;
        }
    }
    if (write_schema) {
        unsigned char le[4];
        le_put(le, STORE_SCHEMA_VERSION, sizeof le);
        val.mv_size = sizeof le;
        val.mv_data = le;
        rc = mdb_put(txn, s->dbi[STORE_DB_META], &key, &val, 0);
        what = "writing the schema record";
        if (rc != 0)
            goto lmdb_error;
    }
    MDB_val since_key = {16, "tombstones_since"}, since = {0, NULL};
    rc = mdb_get(txn, s->dbi[STORE_DB_META], &since_key, &since);
    if (rc == 0 && since.mv_size == 8) {
        s->tombstones_since = (int64_t)le_get(since.mv_data, 8);
    } else if (rc != MDB_NOTFOUND && rc != 0) {
        what = "reading tombstones_since";
        goto lmdb_error;
    }

    /* Committing (also the read-only txn) keeps the dbi handles for the whole environment. */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    what = "commit";
    if (rc != 0)
        goto lmdb_error;
    st = WT_OK;
    goto cleanup;

lmdb_error:
    set_err(err, errlen, "cannot open the store in %s (%s): %s", dir, what, mdb_strerror(rc));
    st = rc > 0 ? WT_EIO : WT_ESTORE; /* an errno value, or LMDB's own error */
cleanup:
    if (txn)
        mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->maplock);
    return st;
}

static bool init_locks(store *s)
{
    pthread_rwlockattr_t ra;
    pthread_condattr_t ca;
    bool rw = false, mu = false, cv = false;

    if (pthread_rwlockattr_init(&ra) == 0) {
        /* a waiting remap must not starve behind a stream of readers */
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        rw = pthread_rwlock_init(&s->maplock, &ra) == 0;
        pthread_rwlockattr_destroy(&ra);
    }
    mu = pthread_mutex_init(&s->mu, NULL) == 0;
    if (pthread_condattr_init(&ca) == 0) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        cv = pthread_cond_init(&s->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (rw && mu && cv)
        return true;
    if (rw)
        pthread_rwlock_destroy(&s->maplock);
    if (mu)
        pthread_mutex_destroy(&s->mu);
    if (cv)
        pthread_cond_destroy(&s->cv);
    return false;
}

wt_status store_open(store **out, const char *dir, bool readonly, char *err, size_t errlen)
{
    store *s = NULL;
    wt_status st = WT_INVALID;

    set_err(err, errlen, "%s", "");
    if (!out || !dir || !*dir) {
        set_err(err, errlen, "no data directory given");
        goto cleanup;
    }
    *out = NULL;
    st = WT_NOMEM;
    s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "out of memory opening the store in %s", dir);
        goto cleanup;
    }
    s->readonly = readonly;
    if (!init_locks(s)) {
        set_err(err, errlen, "cannot create the store's locks");
        goto cleanup;
    }
    s->locks_ready = true;

    st = prepare_dir(dir, readonly, err, errlen);
    if (st != WT_OK)
        goto cleanup;
    st = open_env(s, dir, err, errlen);
    if (st != WT_OK)
        goto cleanup;
    store_check_readers(s);
    s->last_reader_check = mono_ns();
    st = open_dbs(s, dir, err, errlen);
    if (st != WT_OK)
        goto cleanup;

    *out = s;
    s = NULL;
cleanup:
    store_close(s);
    return st;
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->locks_ready) {
        pthread_mutex_lock(&s->mu);
        bool join = s->writer_running;
        s->stopping = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (join)
            pthread_join(s->writer, NULL); /* the writer drains the queue before it returns */
    }
    if (s->env)
        mdb_env_close(s->env);
    if (s->locks_ready) {
        pthread_rwlock_destroy(&s->maplock);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    free(s);
}

int store_check_readers(store *s)
{
    int dead = 0;
    if (!s || !s->env)
        return 0;
    int rc = mdb_reader_check(s->env, &dead);
    if (rc != 0) {
        lmdb_fail(s, "mdb_reader_check", rc);
        return 0;
    }
    if (dead > 0)
        log_warn("store: cleared %d stale reader slot(s) left by dead processes", dead);
    return dead;
}

/* ---- reads ---- */

store_reader *store_reader_new(store *s)
{
    store_reader *r = NULL;
    MDB_txn *txn = NULL;
    if (!s)
        return NULL;
    r = calloc(1, sizeof *r);
    if (!r) {
        log_error("store: out of memory for a reader");
        return NULL;
    }
    pthread_rwlock_rdlock(&s->maplock);
    int rc = begin_top(s, MDB_RDONLY, &txn);
    if (rc == 0)
        mdb_txn_reset(txn);
    pthread_rwlock_unlock(&s->maplock);
    if (rc != 0) {
        lmdb_fail(s, "starting a reader", rc);
        free(r);
        return NULL;
    }
    r->t.txn = txn;
    r->t.s = s;
    return r;
}

void store_reader_free(store_reader *r)
{
    if (!r)
        return;
    store_reader_end(r);
    mdb_txn_abort(r->t.txn);
    free(r);
}

wt_status store_reader_begin(store_reader *r, store_txn **txn)
{
    if (!r || !txn)
        return WT_INVALID;
    if (r->active) {
        log_error("store: reader begun twice without store_reader_end");
        return WT_ESTORE;
    }
    store *s = r->t.s;
    pthread_rwlock_rdlock(&s->maplock);
    int rc = renew(s, r->t.txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&s->maplock);
        return lmdb_fail(s, "renewing a reader", rc);
    }
    r->active = true;
    *txn = &r->t;
    return WT_OK;
}

void store_reader_end(store_reader *r)
{
    if (!r || !r->active)
        return;
    mdb_txn_reset(r->t.txn);
    r->active = false;
    pthread_rwlock_unlock(&r->t.s->maplock);
}

int64_t store_tombstones_since(const store_txn *t)
{
    return t->s->tombstones_since;
}

wt_status store_get(store_txn *t, store_db db, const void *key, size_t klen, store_val *val)
{
    if (!t || !db_ok(db) || !key || !key_ok(klen) || !val)
        return WT_INVALID;
    MDB_val k = {klen, (void *)key}, v = {0, NULL};
    int rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND)
        return WT_NOTFOUND;
    if (rc != 0)
        return lmdb_fail(t->s, "get", rc);
    val->data = v.mv_data;
    val->len = v.mv_size;
    return WT_OK;
}

/* Walks db from the first key >= start (or the first key); with `filter`, only while keys
 * begin with start. */
static wt_status walk(store_txn *t, store_db db, const void *prefix, size_t plen, bool filter,
                      store_iter_fn fn, void *arg)
{
    MDB_cursor *c = NULL;
    wt_status st = WT_INVALID;
    if (!t || !db_ok(db) || !fn || plen > STORE_MAX_KEY || (plen > 0 && !prefix))
        goto cleanup;

    int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
    if (rc != 0) {
        c = NULL;
        st = lmdb_fail(t->s, "opening a cursor", rc);
        goto cleanup;
    }
    MDB_val k = {plen, (void *)prefix}, v = {0, NULL};
    rc = mdb_cursor_get(c, &k, &v, plen > 0 ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        if (filter && plen > 0 && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        store_val sk = {k.mv_data, k.mv_size}, sv = {v.mv_data, v.mv_size};
        if (fn(arg, sk, sv) != 0)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        st = lmdb_fail(t->s, "iterating", rc);
        goto cleanup;
    }
    st = WT_OK;
cleanup:
    if (c)
        mdb_cursor_close(c);
    return st;
}

wt_status store_iter(store_txn *t, store_db db, const void *prefix, size_t plen, store_iter_fn fn,
                     void *arg)
{
    return walk(t, db, prefix, plen, true, fn, arg);
}

wt_status store_iter_from(store_txn *t, store_db db, const void *start, size_t slen,
                          store_iter_fn fn, void *arg)
{
    return walk(t, db, start, slen, false, fn, arg);
}

/* ---- writes ---- */

wt_status store_put(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen, unsigned flags)
{
    if (!t || !db_ok(db) || !key || !key_ok(klen) || (!val && vlen > 0))
        return WT_INVALID;
    if (db == STORE_DB_INDEX && vlen > STORE_MAX_KEY)
        return WT_INVALID; /* duplicates are keys of a sub-database */
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)(val ? val : "")};
    unsigned mflags = flags & STORE_NOOVERWRITE ? MDB_NOOVERWRITE : 0;
    int rc = MDB_KEYEXIST;
    if (flags & STORE_APPEND) {
        /* MDB_APPEND answers MDB_KEYEXIST (changing nothing) when the key does not sort after
         * the last one; then fall through to an ordinary put. */
        rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, mflags | MDB_APPEND);
        if (rc == MDB_KEYEXIST) {
            v.mv_size = vlen;
            v.mv_data = (void *)(val ? val : "");
        }
    }
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, mflags);
    if (rc == MDB_KEYEXIST)
        return WT_EXISTS;
    if (rc != 0)
        return lmdb_fail(t->s, "put", rc);
    return WT_OK;
}

wt_status store_del(store_txn *t, store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    if (!t || !db_ok(db) || !key || !key_ok(klen))
        return WT_INVALID;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_del(t->txn, t->s->dbi[db], &k, val ? &v : NULL);
    if (rc == MDB_NOTFOUND)
        return WT_NOTFOUND;
    if (rc != 0)
        return lmdb_fail(t->s, "delete", rc);
    return WT_OK;
}

wt_status store_write_sync(store *s, store_run_fn run, void *arg)
{
    MDB_txn *txn = NULL;
    wt_status st = WT_INVALID;
    if (!s || !run)
        return WT_INVALID;
    if (s->readonly) {
        log_error("store: write attempted on a store opened read-only");
        return WT_INVALID;
    }
    pthread_rwlock_rdlock(&s->maplock);
    int rc = begin_top(s, 0, &txn);
    if (rc != 0) {
        txn = NULL;
        st = lmdb_fail(s, "beginning a write transaction", rc);
        goto cleanup;
    }
    store_txn t = {txn, s};
    st = run(&t, arg);
    if (st != WT_OK)
        goto cleanup; /* aborted below */
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        st = lmdb_fail(s, "commit", rc);
cleanup:
    if (txn)
        mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->maplock);
    return st;
}

/* ---- the writer thread ---- */

/* A commit that writes past the end of the file also changes the file's size and block map, so
 * its fdatasync must write those too (the inode here; a journal commit on a journalling ext4):
 * on the development VM's ext4 a flush of 8 pages took 215–422 µs that way and 118–186 µs over
 * blocks that already held data (docs/performance.md). A growing store (every new token is
 * appended) would pay that on each batch; writing zeros ahead in 2 MiB steps pays it once per
 * step instead.
 *
 * Runs with the writer's transaction open: LMDB's writer lock then keeps every other thread and
 * process from committing, so the last used page cannot move and nothing but zeros is written
 * past it. A failure (disk full) is logged once and only costs speed. */
static void keep_zeroed_tail(store *s)
{
    static const char zeros[ZERO_CHUNK];
    MDB_envinfo ei;
    MDB_stat st;
    int fd = -1;
    if (s->zero_failed || mdb_env_get_fd(s->env, &fd) != 0 || mdb_env_info(s->env, &ei) != 0 ||
        mdb_env_stat(s->env, &st) != 0)
        return;
    /* The size from lseek, not fstat: on this kernel a stat marks the file's timestamps as seen,
     * so the next write stores a fine-grained mtime and fdatasync also writes the inode (+50 µs
     * per commit, measured). LMDB only uses positioned I/O, so moving the offset is harmless. */
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        return;
    off_t used = (off_t)(ei.me_last_pgno + 1) * (off_t)st.ms_psize;
    off_t end = size > used ? size : used;
    if (end - used >= ZERO_AHEAD)
        return; /* the usual case: nothing to write */
    struct iovec iov[ZERO_STEP_CHUNKS];
    for (size_t i = 0; i < ZERO_STEP_CHUNKS; i++)
        iov[i] = (struct iovec){(void *)zeros, ZERO_CHUNK};
    while (end - used < ZERO_AHEAD) {
        ssize_t n = pwritev(fd, iov, ZERO_STEP_CHUNKS, end);
        if (n <= 0) {
            log_warn("store: cannot write zeros past the end of data.mdb (%s); commits that grow "
                     "the file will be slower; free disk space and restart wattle",
                     n < 0 ? strerror(errno) : "nothing written");
            s->zero_failed = true;
            return;
        }
        end += n;
    }
}

/* Runs op in its own nested transaction of parent; its status in op->status. */
static void run_nested(store *s, MDB_txn *parent, store_op *op)
{
    MDB_txn *child = NULL;
    op->now = realtime_us();
    if (!op->run) {
        op->status = WT_INVALID;
        return;
    }
    int rc = mdb_txn_begin(s->env, parent, 0, &child);
    if (rc != 0) {
        op->status = lmdb_fail(s, "beginning an op's nested transaction", rc);
        return;
    }
    store_txn t = {child, s};
    wt_status st = op->run(&t, op->arg);
    if (st == WT_OK) {
        rc = mdb_txn_commit(child);
        if (rc != 0)
            st = lmdb_fail(s, "committing an op's nested transaction", rc);
    } else {
        mdb_txn_abort(child);
    }
    op->status = st;
}

/* The batch's restartable ops, straight in parent. False when one failed: parent then holds
 * partial work and must be aborted. */
static bool run_restartable(store *s, MDB_txn *parent, store_op *batch)
{
    for (store_op *op = batch; op; op = op->next) {
        if (!op->restartable || !op->run)
            continue;
        op->now = realtime_us();
        store_txn t = {parent, s};
        op->status = op->run(&t, op->arg);
        if (op->status != WT_OK)
            return false;
    }
    return true;
}

/* Runs one batch (a NULL-terminated list of n ops) in one transaction (store.h: restartable ops
 * directly, the others each in a nested one), then reports every op's status. */
static void run_batch(store *s, store_op *batch, size_t n)
{
    MDB_txn *parent = NULL;
    store_op *op = NULL, *next = NULL;

    pthread_rwlock_rdlock(&s->maplock);
    int rc = begin_top(s, 0, &parent);
    if (rc == 0) {
        keep_zeroed_tail(s);
        bool all_nested = !run_restartable(s, parent, batch);
        if (all_nested) {
            /* A restartable op failed: start again, every op alone (rare: failures only). */
            mdb_txn_abort(parent);
            rc = begin_top(s, 0, &parent);
        }
        for (op = batch; rc == 0 && op; op = op->next)
            if (all_nested || !op->restartable || !op->run)
                run_nested(s, parent, op);
    }
    if (rc != 0) {
        lmdb_fail(s, "beginning the writer's transaction", rc);
        for (op = batch; op; op = op->next)
            op->status = WT_ESTORE;
    } else {
        rc = mdb_txn_commit(parent);
        if (rc != 0) {
            lmdb_fail(s, "committing the writer's batch", rc);
            for (op = batch; op; op = op->next)
                if (op->status == WT_OK)
                    op->status = WT_ESTORE;
        } else {
            atomic_fetch_add(&s->batches, 1);
        }
    }
    atomic_fetch_add(&s->ops, n);
    pthread_rwlock_unlock(&s->maplock);

    /* Durable (or failed) now. done may free the op: read next first. */
    for (op = batch; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (op->done)
            op->done(op, op->status);
    }
}

static void maybe_check_readers(store *s)
{
    int64_t now = mono_ns();
    if (now - s->last_reader_check < READER_CHECK_NS)
        return;
    s->last_reader_check = now;
    store_check_readers(s);
}

static void *writer_main(void *arg)
{
    store *s = arg;
    pthread_setname_np(pthread_self(), "wattle-writer");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) {
            int64_t due = s->last_reader_check + READER_CHECK_NS;
            struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) {
                pthread_mutex_unlock(&s->mu);
                maybe_check_readers(s);
                pthread_mutex_lock(&s->mu);
            }
        }
        if (!s->head)
            break; /* stopping, and the queue is drained */
        store_op *batch = s->head, *last = s->head;
        size_t n = 1;
        while (last->next && n < BATCH_MAX) {
            last = last->next;
            n++;
        }
        s->head = last->next;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->mu);

        run_batch(s, batch, n);
        maybe_check_readers(s);

        pthread_mutex_lock(&s->mu);
    }
    s->writer_running = false;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

wt_status store_writer_start(store *s)
{
    wt_status st = WT_INVALID;
    sigset_t all, old;
    if (!s)
        return WT_INVALID;
    if (s->readonly) {
        log_error("store: cannot start the writer on a store opened read-only");
        return WT_INVALID;
    }
    pthread_mutex_lock(&s->mu);
    if (s->writer_running || s->stopping) {
        log_error("store: writer already started (or the store is closing)");
        goto cleanup;
    }
    /* The writer takes no signals: they belong to whoever waits for them (main's sigwait). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("store: cannot start the writer thread: %s", strerror(rc));
        st = WT_EIO;
        goto cleanup;
    }
    s->writer_running = true;
    st = WT_OK;
cleanup:
    pthread_mutex_unlock(&s->mu);
    return st;
}

void store_submit(store *s, store_op *op)
{
    if (!op)
        return;
    bool queued = false;
    if (s) {
        op->next = NULL;
        op->status = WT_OK;
        pthread_mutex_lock(&s->mu);
        if (s->writer_running && !s->stopping) {
            bool was_empty = !s->head;
            if (s->tail)
                s->tail->next = op;
            else
                s->head = op;
            s->tail = op;
            queued = true;
            if (was_empty)
                pthread_cond_signal(&s->cv); /* the writer only waits on an empty queue */
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (queued)
        return;
    log_error("store: op submitted without a running writer; not run");
    op->status = WT_ESTORE;
    if (op->done)
        op->done(op, WT_ESTORE);
}

void store_writer_stats(store *s, uint64_t *batches, uint64_t *ops)
{
    if (batches)
        *batches = s ? atomic_load(&s->batches) : 0;
    if (ops)
        *ops = s ? atomic_load(&s->ops) : 0;
}
