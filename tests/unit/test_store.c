/* test_store.c — the LMDB store (src/store.c): opening and the schema record, get/put/del/iter,
 * readers, the writer thread's batching and per-op rollback, and draining at close. Every test
 * gets a fresh temporary directory, removed afterwards. Assertions run only on the test's own
 * thread; callbacks and helper threads just record what they saw. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static char tmp[64];
static char dir[128]; /* tmp/data: does not exist until a test creates it */

static void setup(void)
{
    umask(022);
    snprintf(tmp, sizeof tmp, "/tmp/wattle-store-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(dir, sizeof dir, "%s/data", tmp);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    if (tmp[0])
        nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---- */

static store *open_ok(bool readonly)
{
    store *s = NULL;
    char err[512] = "";
    wt_status st = store_open(&s, dir, readonly, err, sizeof err);
    cr_assert_eq(st, WT_OK, "store_open: %s (%s)", wt_status_str(st), err);
    cr_assert_not_null(s);
    return s;
}

struct kv {
    store_db db;
    const char *k;
    const char *v; /* NULL: delete the whole key (store_del) */
    unsigned flags;
};

static wt_status run_put(store_txn *t, void *arg)
{
    const struct kv *kv = arg;
    return store_put(t, kv->db, kv->k, strlen(kv->k), kv->v, strlen(kv->v), kv->flags);
}

static wt_status run_del(store_txn *t, void *arg)
{
    const struct kv *kv = arg;
    return store_del(t, kv->db, kv->k, strlen(kv->k), kv->v, kv->v ? strlen(kv->v) : 0);
}

static wt_status put(store *s, store_db db, const char *k, const char *v, unsigned flags)
{
    struct kv kv = {db, k, v, flags};
    return store_write_sync(s, run_put, &kv);
}

static wt_status del(store *s, store_db db, const char *k, const char *v)
{
    struct kv kv = {db, k, v, 0};
    return store_write_sync(s, run_del, &kv);
}

/* Reads key into out (NUL-terminated) through a fresh reader. */
static wt_status get(store *s, store_db db, const char *k, char *out, size_t outlen)
{
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    store_val v = {0};
    cr_assert_not_null(r);
    wt_status st = store_reader_begin(r, &t);
    cr_assert_eq(st, WT_OK);
    st = store_get(t, db, k, strlen(k), &v);
    if (st == WT_OK && out)
        snprintf(out, outlen, "%.*s", (int)v.len, (const char *)v.data);
    store_reader_end(r);
    store_reader_free(r);
    return st;
}

static void assert_value(store *s, store_db db, const char *k, const char *want)
{
    char got[256] = "";
    wt_status st = get(s, db, k, got, sizeof got);
    cr_assert_eq(st, WT_OK, "%s: %s", k, wt_status_str(st));
    cr_assert_str_eq(got, want, "%s", k);
}

/* Collects "key=value" pairs of an iteration, separated by ';'. */
struct collect {
    char buf[512];
    size_t len;
    int calls;
    int stop_after; /* 0: never stop */
};

static int collect_fn(void *arg, store_val key, store_val val)
{
    struct collect *c = arg;
    int n = snprintf(c->buf + c->len, sizeof c->buf - c->len, "%.*s=%.*s;", (int)key.len,
                     (const char *)key.data, (int)val.len, (const char *)val.data);
    if (n > 0 && (size_t)n < sizeof c->buf - c->len)
        c->len += (size_t)n;
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static wt_status iter(store *s, store_db db, const char *prefix, struct collect *c)
{
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    cr_assert_not_null(r);
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    wt_status st = store_iter(t, db, prefix, strlen(prefix), collect_fn, c);
    store_reader_free(r); /* ends it too */
    return st;
}

/* A completion counter the test thread can wait on. */
struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, other;
};

#define COUNTER_INIT                                                                               \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0                               \
    }

static void count(struct counter *c, wt_status st)
{
    pthread_mutex_lock(&c->mu);
    c->done++;
    if (st == WT_OK)
        c->ok++;
    else
        c->other++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static bool wait_done(struct counter *c, int target, int seconds)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += seconds;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (c->done < target && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
    bool ok = c->done >= target;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* An op that puts key -> "v" + key; heap-allocated ones are freed by their done. */
struct put_op {
    store_op op;
    char key[32];
    struct counter *ctr;
    wt_status fail_with; /* run puts its key, then returns this (WT_OK: keep it) */
    sem_t *started, *go; /* when set, run posts started and waits for go */
    int64_t now_seen;
    int runs;     /* how many times run was called */
    int last_seq; /* the writer-wide order of its last run (run_seq) */
};

static int run_seq; /* only the writer thread touches it while ops run */

static wt_status put_op_run(store_txn *t, void *arg)
{
    struct put_op *p = arg;
    char val[40];
    p->now_seen = p->op.now;
    p->runs++;
    p->last_seq = ++run_seq;
    if (p->started)
        sem_post(p->started);
    if (p->go)
        sem_wait(p->go);
    snprintf(val, sizeof val, "v%s", p->key);
    wt_status st = store_put(t, STORE_DB_CLIENTS, p->key, strlen(p->key), val, strlen(val), 0);
    if (st != WT_OK)
        return st;
    return p->fail_with;
}

static void put_op_done_free(store_op *op, wt_status st)
{
    struct put_op *p = (struct put_op *)op;
    struct counter *c = p->ctr;
    free(p);
    count(c, st);
}

static void put_op_done_keep(store_op *op, wt_status st)
{
    struct put_op *p = (struct put_op *)op;
    count(p->ctr, st);
}

static void put_op_init(struct put_op *p, const char *key, struct counter *ctr, bool heap)
{
    memset(p, 0, sizeof *p);
    p->op.run = put_op_run;
    p->op.done = heap ? put_op_done_free : put_op_done_keep;
    p->op.arg = p;
    p->ctr = ctr;
    p->fail_with = WT_OK;
    snprintf(p->key, sizeof p->key, "%s", key);
}

/* ---- opening ---- */

Test(store, open_creates_dir_0700)
{
    struct stat st;
    cr_assert_eq(stat(dir, &st), -1);
    store *s = open_ok(false);
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0700, "mode %o", (unsigned)(st.st_mode & 07777));
    char path[256];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_eq(stat(path, &st), 0, "data.mdb missing");
    store_close(s);
    /* reopening an existing environment works and keeps its data */
    s = open_ok(false);
    store_close(s);
}

Test(store, schema_record_written)
{
    store *s = open_ok(false);
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    store_val v = {0};
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_META, "schema", 6, &v), WT_OK);
    cr_assert_eq(v.len, 4);
    const unsigned char *b = v.data;
    uint32_t ver =
        (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    cr_assert_eq(ver, STORE_SCHEMA_VERSION);
    store_reader_free(r);
    store_close(s);
}

static wt_status run_put_schema(store_txn *t, void *arg)
{
    const unsigned char *le = arg;
    return store_put(t, STORE_DB_META, "schema", 6, le, 4, 0);
}

Test(store, newer_schema_refused)
{
    store *s = open_ok(false);
    unsigned char le[4] = {STORE_SCHEMA_VERSION + 1, 0, 0, 0};
    cr_assert_eq(store_write_sync(s, run_put_schema, le), WT_OK);
    store_close(s);

    s = NULL;
    char err[512] = "";
    wt_status st = store_open(&s, dir, false, err, sizeof err);
    cr_assert_eq(st, WT_SCHEMA, "got %s", wt_status_str(st));
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, dir), "message does not name the directory: %s", err);
    char want[64];
    snprintf(want, sizeof want, "schema version %d", STORE_SCHEMA_VERSION + 1);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "upgrade"), "%s", err);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    /* read-only opens refuse it too */
    st = store_open(&s, dir, true, err, sizeof err);
    cr_assert_eq(st, WT_SCHEMA);
}

static int64_t meta_i64(store *s, const char *name)
{
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    store_val v = {0};
    int64_t out = -1;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    if (store_get(t, STORE_DB_META, name, strlen(name), &v) == WT_OK && v.len == 8) {
        uint64_t x = 0;
        for (int i = 7; i >= 0; i--)
            x = x << 8 | ((const unsigned char *)v.data)[i];
        out = (int64_t)x;
    }
    cr_assert_eq(store_tombstones_since(t), out < 0 ? 0 : out);
    store_reader_free(r);
    return out;
}

static wt_status run_del_since(store_txn *t, void *arg)
{
    (void)arg;
    wt_status st = store_del(t, STORE_DB_META, "tombstones_since", 16, NULL, 0);
    return st == WT_NOTFOUND ? WT_OK : st;
}

Test(store, schema_1_is_upgraded_when_opened_for_writing)
{
    store *s = open_ok(false);
    cr_assert_eq(meta_i64(s, "tombstones_since"), -1, "a new store has tombstones from the start");
    unsigned char one[4] = {1, 0, 0, 0};
    cr_assert_eq(store_write_sync(s, run_put_schema, one), WT_OK);
    cr_assert_eq(store_write_sync(s, run_del_since, NULL), WT_OK);
    store_close(s);

    /* read-only: refused, with what to do */
    char err[512] = "";
    s = NULL;
    cr_assert_eq(store_open(&s, dir, true, err, sizeof err), WT_SCHEMA);
    cr_assert_not_null(strstr(err, "start wattle once"), "%s", err);

    int64_t before = (int64_t)time(NULL);
    s = open_ok(false);
    int64_t since = meta_i64(s, "tombstones_since");
    cr_assert(since >= before && since <= (int64_t)time(NULL), "since %lld", (long long)since);
    store_close(s);
    s = open_ok(true); /* upgraded: read-only opens work again, and keep the time */
    cr_assert_eq(meta_i64(s, "tombstones_since"), since);
    store_close(s);
}

Test(store, regular_file_refused)
{
    FILE *f = fopen(dir, "w");
    cr_assert_not_null(f);
    fputs("not a store\n", f);
    fclose(f);
    store *s = NULL;
    char err[512] = "";
    wt_status st = store_open(&s, dir, false, err, sizeof err);
    cr_assert_eq(st, WT_EIO, "got %s", wt_status_str(st));
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, dir), "%s", err);
    cr_assert_not_null(strstr(err, "not a directory"), "%s", err);
    cr_assert_not_null(strstr(err, "owned by the user running wattle"), "%s", err);
}

/* A directory the user cannot enter. As root (which ignores permissions) the open runs in a child
 * that drops to nobody; the child reports "status|message" through a pipe. */
Test(store, unreadable_parent_refused)
{
    char parent[128];
    snprintf(parent, sizeof parent, "%s/locked", tmp);
    cr_assert_eq(mkdir(parent, 0000), 0);
    snprintf(dir, sizeof dir, "%s/locked/data", tmp);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        store *s = NULL;
        char err[512] = "", msg[600];
        wt_status st = store_open(&s, dir, false, err, sizeof err);
        int n = snprintf(msg, sizeof msg, "%d|%s", (int)st, err);
        _exit(n > 0 && write(fds[1], msg, (size_t)n) == n ? 0 : 3);
    }
    close(fds[1]);
    char msg[600] = "";
    size_t len = 0;
    ssize_t n = 0;
    while ((n = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    chmod(parent, 0700); /* so teardown can remove it */
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    char *bar = strchr(msg, '|');
    cr_assert_not_null(bar, "%s", msg);
    *bar = '\0';
    const char *err = bar + 1;
    cr_assert_eq(strtol(msg, NULL, 10), WT_LOCKED, "got %s (%s)", msg, err);
    cr_assert_not_null(strstr(err, dir), "%s", err);
    cr_assert_not_null(strstr(err, strerror(EACCES)), "%s", err);
    cr_assert_not_null(strstr(err, "user running wattle"), "%s", err);
}

Test(store, readonly)
{
    store *s = NULL;
    char err[512] = "";
    /* nothing there yet: read-only does not create it */
    wt_status st = store_open(&s, dir, true, err, sizeof err);
    cr_assert_neq(st, WT_OK);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, dir), "%s", err);
    struct stat sb;
    cr_assert_eq(stat(dir, &sb), -1, "read-only open created the directory");
    /* an empty directory is not a store either */
    cr_assert_eq(mkdir(dir, 0700), 0);
    st = store_open(&s, dir, true, err, sizeof err);
    cr_assert_neq(st, WT_OK);
    cr_assert_not_null(strstr(err, dir), "%s", err);

    s = open_ok(false);
    cr_assert_eq(put(s, STORE_DB_USERS, "u1", "alice", 0), WT_OK);
    store_close(s);

    s = open_ok(true);
    assert_value(s, STORE_DB_USERS, "u1", "alice");
    cr_assert_eq(put(s, STORE_DB_USERS, "u2", "bob", 0), WT_INVALID);
    cr_assert_eq(store_writer_start(s), WT_INVALID);
    store_close(s);
}

/* ---- get / put / del / iter ---- */

Test(store, put_get_del_roundtrip)
{
    store *s = open_ok(false);
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "app", NULL, 0), WT_NOTFOUND);
    cr_assert_eq(put(s, STORE_DB_CLIENTS, "app", "{\"name\":\"A\"}", 0), WT_OK);
    assert_value(s, STORE_DB_CLIENTS, "app", "{\"name\":\"A\"}");
    /* databases are separate */
    cr_assert_eq(get(s, STORE_DB_USERS, "app", NULL, 0), WT_NOTFOUND);
    /* a plain put overwrites */
    cr_assert_eq(put(s, STORE_DB_CLIENTS, "app", "two", 0), WT_OK);
    assert_value(s, STORE_DB_CLIENTS, "app", "two");
    /* an empty value is a value */
    cr_assert_eq(put(s, STORE_DB_CLIENTS, "empty", "", 0), WT_OK);
    assert_value(s, STORE_DB_CLIENTS, "empty", "");

    cr_assert_eq(del(s, STORE_DB_CLIENTS, "app", NULL), WT_OK);
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "app", NULL, 0), WT_NOTFOUND);
    cr_assert_eq(del(s, STORE_DB_CLIENTS, "app", NULL), WT_NOTFOUND);
    store_close(s);

    /* durable across reopen */
    s = open_ok(false);
    assert_value(s, STORE_DB_CLIENTS, "empty", "");
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "app", NULL, 0), WT_NOTFOUND);
    store_close(s);
}

static wt_status run_put_then_fail(store_txn *t, void *arg)
{
    wt_status st = store_put(t, STORE_DB_CLIENTS, "ghost", 5, "x", 1, 0);
    return st == WT_OK ? WT_DENIED : st;
}

Test(store, write_sync_rolls_back_on_error)
{
    store *s = open_ok(false);
    cr_assert_eq(store_write_sync(s, run_put_then_fail, NULL), WT_DENIED);
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "ghost", NULL, 0), WT_NOTFOUND);
    store_close(s);
}

Test(store, nooverwrite_gives_exists)
{
    store *s = open_ok(false);
    cr_assert_eq(put(s, STORE_DB_CODES, "sel", "first", STORE_NOOVERWRITE), WT_OK);
    cr_assert_eq(put(s, STORE_DB_CODES, "sel", "second", STORE_NOOVERWRITE), WT_EXISTS);
    assert_value(s, STORE_DB_CODES, "sel", "first");
    store_close(s);
}

struct sized {
    store_db db;
    size_t klen, vlen;
};

static wt_status run_put_sized(store_txn *t, void *arg)
{
    const struct sized *z = arg;
    static char big[1024];
    memset(big, 'k', sizeof big);
    return store_put(t, z->db, big, z->klen, big, z->vlen, 0);
}

Test(store, key_length_limits)
{
    store *s = open_ok(false);
    struct sized ok = {STORE_DB_CLIENTS, STORE_MAX_KEY, 1000};
    struct sized too_long = {STORE_DB_CLIENTS, STORE_MAX_KEY + 1, 1};
    struct sized empty = {STORE_DB_CLIENTS, 0, 1};
    struct sized index_ok = {STORE_DB_INDEX, 10, STORE_MAX_KEY};
    struct sized index_big = {STORE_DB_INDEX, 10, STORE_MAX_KEY + 1};
    cr_assert_eq(store_write_sync(s, run_put_sized, &ok), WT_OK);
    cr_assert_eq(store_write_sync(s, run_put_sized, &too_long), WT_INVALID);
    cr_assert_eq(store_write_sync(s, run_put_sized, &empty), WT_INVALID);
    cr_assert_eq(store_write_sync(s, run_put_sized, &index_ok), WT_OK);
    cr_assert_eq(store_write_sync(s, run_put_sized, &index_big), WT_INVALID);

    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    store_val v = {0};
    char key[STORE_MAX_KEY + 1];
    memset(key, 'k', sizeof key);
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_CLIENTS, key, STORE_MAX_KEY, &v), WT_OK);
    cr_assert_eq(v.len, 1000);
    cr_assert_eq(store_get(t, STORE_DB_CLIENTS, key, STORE_MAX_KEY + 1, &v), WT_INVALID);
    cr_assert_eq(store_get(t, STORE_DB_CLIENTS, key, 0, &v), WT_INVALID);
    cr_assert_eq(store_get(t, STORE_DB_COUNT, key, 1, &v), WT_INVALID);
    store_reader_free(r);
    store_close(s);
}

Test(store, append_out_of_order_still_stored)
{
    store *s = open_ok(false);
    cr_assert_eq(put(s, STORE_DB_ACCESS, "b", "1", STORE_APPEND), WT_OK);
    cr_assert_eq(put(s, STORE_DB_ACCESS, "c", "2", STORE_APPEND), WT_OK);
    cr_assert_eq(put(s, STORE_DB_ACCESS, "a", "3", STORE_APPEND), WT_OK); /* out of order */
    cr_assert_eq(put(s, STORE_DB_ACCESS, "c", "4", STORE_APPEND), WT_OK); /* equal to the last */
    cr_assert_eq(put(s, STORE_DB_ACCESS, "b", "5", STORE_APPEND | STORE_NOOVERWRITE), WT_EXISTS);
    cr_assert_eq(put(s, STORE_DB_ACCESS, "d", "6", STORE_APPEND | STORE_NOOVERWRITE), WT_OK);
    struct collect c = {0};
    cr_assert_eq(iter(s, STORE_DB_ACCESS, "", &c), WT_OK);
    cr_assert_str_eq(c.buf, "a=3;b=1;c=4;d=6;");
    store_close(s);
}

static wt_status run_fill_index(store_txn *t, void *arg)
{
    static const char *const pairs[][2] = {
        {"u:alice", "g3"},  {"u:alice", "g1"}, {"u:alice", "g2"},
        {"u:bob", "g4"},    {"c:app", "g1"},   {"u:alice", "g1"}, /* an existing pair: no-op */
        {"u:alice2", "g9"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        wt_status st = store_put(t, STORE_DB_INDEX, pairs[i][0], strlen(pairs[i][0]), pairs[i][1],
                                 strlen(pairs[i][1]), 0);
        if (st != WT_OK)
            return st;
    }
    return WT_OK;
}

Test(store, iter_prefix_over_dupsort_index)
{
    store *s = open_ok(false);
    cr_assert_eq(store_write_sync(s, run_fill_index, NULL), WT_OK);

    struct collect c = {0};
    cr_assert_eq(iter(s, STORE_DB_INDEX, "u:alice", &c), WT_OK);
    cr_assert_str_eq(c.buf, "u:alice=g1;u:alice=g2;u:alice=g3;u:alice2=g9;");

    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "u:", &c), WT_OK);
    cr_assert_str_eq(c.buf, "u:alice=g1;u:alice=g2;u:alice=g3;u:alice2=g9;u:bob=g4;");

    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "", &c), WT_OK);
    cr_assert_eq(c.calls, 6);
    cr_assert_str_eq(c.buf, "c:app=g1;u:alice=g1;u:alice=g2;u:alice=g3;u:alice2=g9;u:bob=g4;");

    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "x:", &c), WT_OK);
    cr_assert_eq(c.calls, 0);
    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "zzz", &c), WT_OK); /* past the last key */
    cr_assert_eq(c.calls, 0);

    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    cr_assert_eq(iter(s, STORE_DB_INDEX, "u:", &c), WT_OK);
    cr_assert_eq(c.calls, 2);

    /* deleting one pair keeps the others; deleting without a value drops them all */
    cr_assert_eq(del(s, STORE_DB_INDEX, "u:alice", "g2"), WT_OK);
    cr_assert_eq(del(s, STORE_DB_INDEX, "u:alice", "g2"), WT_NOTFOUND);
    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "u:alice", &c), WT_OK);
    cr_assert_str_eq(c.buf, "u:alice=g1;u:alice=g3;u:alice2=g9;");
    cr_assert_eq(del(s, STORE_DB_INDEX, "u:alice", NULL), WT_OK);
    memset(&c, 0, sizeof c);
    cr_assert_eq(iter(s, STORE_DB_INDEX, "u:", &c), WT_OK);
    cr_assert_str_eq(c.buf, "u:alice2=g9;u:bob=g4;");
    store_close(s);
}

/* ---- readers ---- */

struct writer_arg {
    store *s;
    wt_status st;
};

static void *write_from_thread(void *arg)
{
    struct writer_arg *w = arg;
    w->st = put(w->s, STORE_DB_SESSIONS, "sess", "new", 0);
    return NULL;
}

Test(store, reader_sees_new_data_after_renew)
{
    store *s = open_ok(false);
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    store_val v = {0};
    cr_assert_not_null(r);

    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_SESSIONS, "sess", 4, &v), WT_NOTFOUND);
    /* another thread commits while this reader is open: its snapshot does not change */
    struct writer_arg w = {s, WT_ESTORE};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, write_from_thread, &w), 0);
    pthread_join(th, NULL);
    cr_assert_eq(w.st, WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_SESSIONS, "sess", 4, &v), WT_NOTFOUND);
    store_reader_end(r);
    store_reader_end(r); /* harmless */

    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_SESSIONS, "sess", 4, &v), WT_OK);
    cr_assert_eq(v.len, 3);
    cr_assert_eq(memcmp(v.data, "new", 3), 0);
    store_reader_end(r);

    /* and again after a commit on this thread */
    cr_assert_eq(put(s, STORE_DB_SESSIONS, "sess", "newer", 0), WT_OK);
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_SESSIONS, "sess", 4, &v), WT_OK);
    cr_assert_eq(v.len, 5);
    store_reader_free(r);
    store_close(s);
}

Test(store, stale_reader_of_dead_process_cleared)
{
    store *s = open_ok(false);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* a separate process (like a CLI) that dies holding a read transaction */
        store *c = NULL;
        store_txn *t = NULL;
        if (store_open(&c, dir, true, NULL, 0) != WT_OK)
            _exit(2);
        store_reader *r = store_reader_new(c);
        if (!r || store_reader_begin(r, &t) != WT_OK)
            _exit(3);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert_eq(store_check_readers(s), 1);
    cr_assert_eq(store_check_readers(s), 0);
    store_close(s);
}

/* ---- the writer thread ---- */

#define THREADS 4
#define PER_THREAD 250

struct submitter {
    store *s;
    int id;
    struct counter *ctr;
    int alloc_failures;
};

static void *submit_many(void *arg)
{
    struct submitter *m = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct put_op *p = malloc(sizeof *p);
        if (!p) {
            m->alloc_failures++;
            continue;
        }
        char key[32];
        snprintf(key, sizeof key, "t%d-%04d", m->id, i);
        put_op_init(p, key, m->ctr, true);
        store_submit(m->s, &p->op);
    }
    return NULL;
}

static int count_fn(void *arg, store_val key, store_val val)
{
    int *n = arg;
    if (val.len == key.len + 1 && ((const char *)val.data)[0] == 'v' &&
        memcmp((const char *)val.data + 1, key.data, key.len) == 0)
        (*n)++;
    return 0;
}

Test(store, writer_concurrent_submitters)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    cr_assert_eq(store_writer_start(s), WT_OK);
    cr_assert_eq(store_writer_start(s), WT_INVALID); /* only one writer */

    pthread_t th[THREADS];
    struct submitter m[THREADS];
    for (int i = 0; i < THREADS; i++) {
        m[i] = (struct submitter){s, i, &ctr, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, submit_many, &m[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(m[i].alloc_failures, 0);
    }
    cr_assert(wait_done(&ctr, THREADS * PER_THREAD, 30), "only %d of %d done", ctr.done,
              THREADS * PER_THREAD);
    cr_assert_eq(ctr.ok, THREADS * PER_THREAD);
    cr_assert_eq(ctr.other, 0);

    /* every key is there, with its value, and read through a fresh reader */
    int n = 0;
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_iter(t, STORE_DB_CLIENTS, "t", 1, count_fn, &n), WT_OK);
    store_val v = {0};
    cr_assert_eq(store_get(t, STORE_DB_CLIENTS, "t3-0249", 7, &v), WT_OK);
    store_reader_free(r);
    cr_assert_eq(n, THREADS * PER_THREAD);

    uint64_t batches = 0, ops = 0;
    store_writer_stats(s, &batches, &ops);
    cr_assert_eq(ops, THREADS * PER_THREAD);
    cr_assert(batches >= 1 && batches <= ops, "batches %llu", (unsigned long long)batches);
    store_close(s);
}

/* One op that puts a 1 MiB value of one repeated byte under "big-NN". */
struct big_op {
    store_op op;
    int n;
    struct counter *ctr;
};

#define BIG_VALUE ((size_t)1 << 20)

static wt_status big_op_run(store_txn *t, void *arg)
{
    struct big_op *b = arg;
    char key[8];
    char *val = malloc(BIG_VALUE);
    if (!val)
        return WT_ESTORE;
    memset(val, 'a' + b->n, BIG_VALUE);
    snprintf(key, sizeof key, "big-%02d", b->n);
    wt_status st = store_put(t, STORE_DB_CLIENTS, key, strlen(key), val, BIG_VALUE, 0);
    free(val);
    return st;
}

static void big_op_done(store_op *op, wt_status st)
{
    count(((struct big_op *)op)->ctr, st);
}

/* The writer keeps 8 MiB of written zeros (not a hole) past the last page LMDB uses, while the
 * data grows past several such steps, and LMDB reopens the longer file with its data intact. */
Test(store, writer_keeps_zeroed_tail)
{
    enum { VALUES = 12 };
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    cr_assert_eq(store_writer_start(s), WT_OK);
    for (int i = 0; i < VALUES; i++) {
        struct big_op b = {{.run = big_op_run, .done = big_op_done}, i, &ctr};
        b.op.arg = &b;
        store_submit(s, &b.op);
        cr_assert(wait_done(&ctr, i + 1, 30), "op %d not done", i);
    }
    cr_assert_eq(ctr.ok, VALUES);
    store_close(s);

    char path[256];
    struct stat fs;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    cr_assert_eq(stat(path, &fs), 0);
    MDB_env *env = NULL;
    MDB_envinfo ei;
    MDB_stat ms;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    cr_assert_eq(mdb_env_info(env, &ei), 0);
    cr_assert_eq(mdb_env_stat(env, &ms), 0);
    mdb_env_close(env);
    off_t used = (off_t)(ei.me_last_pgno + 1) * ms.ms_psize;
    off_t ahead = fs.st_size - used;
    cr_assert_gt(used, (off_t)VALUES * BIG_VALUE, "used %lld", (long long)used);
    cr_assert(ahead >= ((off_t)6 << 20) && ahead <= ((off_t)11 << 20),
              "%lld bytes past the last used page (want 6..11 MiB)", (long long)ahead);
    cr_assert_geq((off_t)fs.st_blocks * 512, fs.st_size, "the zeros must be written, not a hole");

    s = open_ok(false);
    store_reader *r = store_reader_new(s);
    store_txn *t = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    for (int i = 0; i < VALUES; i++) {
        char key[8];
        store_val v = {0};
        snprintf(key, sizeof key, "big-%02d", i);
        cr_assert_eq(store_get(t, STORE_DB_CLIENTS, key, strlen(key), &v), WT_OK, "%s", key);
        cr_assert_eq(v.len, BIG_VALUE);
        const unsigned char *p = v.data;
        cr_assert(p[0] == 'a' + i && p[BIG_VALUE - 1] == 'a' + i, "%s holds the wrong bytes", key);
    }
    store_reader_free(r);
    store_close(s);
}

/* The blocker holds the writer in batch 1 while ops[] queue up for batch 2. */
static void run_behind_blocker(store *s, struct counter *ctr, struct put_op **ops, size_t n)
{
    sem_t started, go;
    sem_init(&started, 0, 0);
    sem_init(&go, 0, 0);
    struct put_op blocker;
    put_op_init(&blocker, "blocker", ctr, false);
    blocker.started = &started;
    blocker.go = &go;
    cr_assert_eq(store_writer_start(s), WT_OK);
    store_submit(s, &blocker.op);
    sem_wait(&started);
    for (size_t i = 0; i < n; i++)
        store_submit(s, &ops[i]->op);
    sem_post(&go);
    cr_assert(wait_done(ctr, (int)n + 1, 30));
    cr_assert_eq(blocker.op.status, WT_OK);
    uint64_t batches = 0;
    store_writer_stats(s, &batches, NULL);
    cr_assert_eq(batches, 2, "batches %llu", (unsigned long long)batches);
    sem_destroy(&started);
    sem_destroy(&go);
}

Test(store, failing_op_rolls_back_alone)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    struct put_op a, bad, c;
    put_op_init(&a, "a", &ctr, false);
    put_op_init(&bad, "bad", &ctr, false);
    bad.fail_with = WT_INVALID; /* puts its key, then refuses */
    put_op_init(&c, "c", &ctr, false);
    int64_t before = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        before = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    struct put_op *ops[] = {&a, &bad, &c};
    run_behind_blocker(s, &ctr, ops, 3);

    cr_assert_eq(a.op.status, WT_OK);
    cr_assert_eq(bad.op.status, WT_INVALID);
    cr_assert_eq(c.op.status, WT_OK);
    cr_assert_eq(ctr.ok, 3);
    cr_assert(a.now_seen >= before && a.now_seen < before + 60 * 1000000LL, "now %lld",
              (long long)a.now_seen);
    uint64_t ops_run = 0;
    store_writer_stats(s, NULL, &ops_run);
    cr_assert_eq(ops_run, 4);

    assert_value(s, STORE_DB_CLIENTS, "blocker", "vblocker");
    assert_value(s, STORE_DB_CLIENTS, "a", "va");
    assert_value(s, STORE_DB_CLIENTS, "c", "vc");
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "bad", NULL, 0), WT_NOTFOUND);
    store_close(s);
}

Test(store, restartable_ops_share_the_batch_and_run_first)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    struct put_op n1, r1, n2, r2;
    put_op_init(&n1, "n1", &ctr, false);
    put_op_init(&r1, "r1", &ctr, false);
    put_op_init(&n2, "n2", &ctr, false);
    put_op_init(&r2, "r2", &ctr, false);
    r1.op.restartable = r2.op.restartable = true;
    struct put_op *ops[] = {&n1, &r1, &n2, &r2};
    run_seq = 0;
    run_behind_blocker(s, &ctr, ops, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(ops[i]->op.status, WT_OK, "%s", ops[i]->key);
        cr_assert_eq(ops[i]->runs, 1, "%s ran %d times", ops[i]->key, ops[i]->runs);
    }
    /* the blocker was run 1; then the restartable ones, then the others, each in order */
    cr_assert(r1.last_seq == 2 && r2.last_seq == 3 && n1.last_seq == 4 && n2.last_seq == 5,
              "order r1 %d r2 %d n1 %d n2 %d", r1.last_seq, r2.last_seq, n1.last_seq, n2.last_seq);
    for (size_t i = 0; i < 4; i++) {
        char v[40];
        snprintf(v, sizeof v, "v%s", ops[i]->key);
        assert_value(s, STORE_DB_CLIENTS, ops[i]->key, v);
    }
    store_close(s);
}

Test(store, failing_restartable_op_reruns_the_batch_nested)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    struct put_op a, n, bad, c;
    put_op_init(&a, "a", &ctr, false);
    put_op_init(&n, "n", &ctr, false);
    put_op_init(&bad, "bad", &ctr, false);
    put_op_init(&c, "c", &ctr, false);
    a.op.restartable = bad.op.restartable = c.op.restartable = true;
    bad.fail_with = WT_INVALID; /* puts its key, then fails */
    struct put_op *ops[] = {&a, &n, &bad, &c};
    run_behind_blocker(s, &ctr, ops, 4);
    cr_assert_eq(a.op.status, WT_OK);
    cr_assert_eq(n.op.status, WT_OK);
    cr_assert_eq(bad.op.status, WT_INVALID);
    cr_assert_eq(c.op.status, WT_OK);
    cr_assert_eq(ctr.ok, 4);
    /* attempt 1 ran a and bad (then stopped); attempt 2 ran everything, each nested */
    cr_assert_eq(a.runs, 2);
    cr_assert_eq(bad.runs, 2);
    cr_assert_eq(c.runs, 1);
    cr_assert_eq(n.runs, 1, "a non-restartable op runs once");
    assert_value(s, STORE_DB_CLIENTS, "a", "va");
    assert_value(s, STORE_DB_CLIENTS, "n", "vn");
    assert_value(s, STORE_DB_CLIENTS, "c", "vc");
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "bad", NULL, 0), WT_NOTFOUND, "bad's put rolled back");
    store_close(s);
}

#define DRAIN 100

Test(store, close_drains_pending_ops)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    sem_t started, go;
    sem_init(&started, 0, 0);
    sem_init(&go, 0, 0);
    static struct put_op ops[DRAIN + 1];
    put_op_init(&ops[0], "first", &ctr, false);
    ops[0].started = &started;
    ops[0].go = &go;

    cr_assert_eq(store_writer_start(s), WT_OK);
    store_submit(s, &ops[0].op);
    sem_wait(&started);
    for (int i = 1; i <= DRAIN; i++) {
        char key[32];
        snprintf(key, sizeof key, "q%03d", i);
        put_op_init(&ops[i], key, &ctr, false);
        store_submit(s, &ops[i].op);
    }
    sem_post(&go);
    store_close(s); /* returns only after every queued op ran and its done was called */
    cr_assert_eq(ctr.done, DRAIN + 1);
    cr_assert_eq(ctr.ok, DRAIN + 1);

    s = open_ok(false);
    assert_value(s, STORE_DB_CLIENTS, "first", "vfirst");
    assert_value(s, STORE_DB_CLIENTS, "q001", "vq001");
    assert_value(s, STORE_DB_CLIENTS, "q100", "vq100");
    struct collect c = {0};
    cr_assert_eq(iter(s, STORE_DB_CLIENTS, "q", &c), WT_OK);
    cr_assert_eq(c.calls, DRAIN);
    store_close(s);
    sem_destroy(&started);
    sem_destroy(&go);
}

Test(store, submit_without_writer_fails_the_op)
{
    store *s = open_ok(false);
    struct counter ctr = COUNTER_INIT;
    struct put_op p;
    put_op_init(&p, "never", &ctr, false);
    store_submit(s, &p.op);
    cr_assert_eq(ctr.done, 1);
    cr_assert_eq(ctr.other, 1);
    cr_assert_eq(p.op.status, WT_ESTORE);
    cr_assert_eq(get(s, STORE_DB_CLIENTS, "never", NULL, 0), WT_NOTFOUND);
    uint64_t batches = 1, ops = 1;
    store_writer_stats(s, &batches, &ops);
    cr_assert_eq(batches, 0);
    cr_assert_eq(ops, 0);
    store_close(s);
    store_close(NULL);
}
