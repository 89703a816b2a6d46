/* seed.c — the benchmark's bulk loader (tests/bench/run.sh runs it; not part of the server).
 *
 * Fills a Wattle data directory with everything the benchmark scenarios need, through the
 * project's own modules (wattle_core), in big write transactions (store_write_sync), before the
 * server starts:
 *   - one login user ("bench", password "bench-password-1"),
 *   - a confidential client (authorization_code, refresh_token, client_credentials;
 *     client_secret_basic; one redirect URI) for the token and revocation scenarios,
 *   - a confidential "resource server" client (client_credentials only) for introspection,
 *   - N live access tokens (validation, introspection): each with its own grant, written the way
 *     tokens.c's issue_pair writes a code-flow token (grant_create + access record, with the
 *     user), or with --access-kind cc by tokens_client_credentials itself,
 *   - M authorization codes (tokens_issue_code itself), not used, a known PKCE verifier,
 *   - K refresh tokens, each its own grant (issue_pair's records with a refresh token), so
 *     rotations never contend on one grant,
 *   - R revocable access tokens (tokens_client_credentials itself), each its own grant.
 * Selectors come from token_mint with the current time, like the server's. The token strings go
 * to OUT/access.txt, codes.txt, refresh.txt and revoke.txt (one per line, in issue order) and the
 * credentials to OUT/bench.env (shell syntax).
 *
 *   wattle_bench_seed -c CONFIG --out DIR [--access N] [--codes M] [--refresh K] [--revoke R]
 *                     [--batch B] [--access-kind user|cc]
 *   wattle_bench_seed -c CONFIG --lookup FILE [--count N]
 *   wattle_bench_seed -c CONFIG --commit-probe SECONDS [--clients C]
 *   wattle_bench_seed --fsync-probe DIR
 *
 * --lookup times tokens_check_access in process (one reader renewed and reset per lookup, as
 * the server does per request) over the tokens of FILE in random order: the store's share of
 * validation, without HTTP. --commit-probe runs the store's writer thread with C client threads
 * (default 32) that each submit one client_credentials issuance (tokens_client_credentials, as
 * the token endpoint does) and wait for it to be durable, over and over, for SECONDS: the group
 * commit's rate without HTTP, wrk or the event loops. --fsync-probe times what one LMDB commit asks
 * of the disk in DIR: pwrite of 8 pages + fdatasync (the data flush), then a 128-byte pwrite
 * through an O_DSYNC descriptor (the meta page flush); it prints the median and p99 of each. The
 * data flush is timed twice: with pages that extend the file, and with pages over blocks already
 * written (what the store's zeroed tail gives a growing store). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "clients.h"
#include "config.h"
#include "crypto.h"
#include "grants.h"
#include "log.h"
#include "metadata.h"
#include "pkce.h"
#include "records.h"
#include "scope.h"
#include "store.h"
#include "tokens.h"
#include "token.h"
#include "users.h"

#define BENCH_USER "bench"
#define BENCH_PASSWORD "bench-password-1"
#define BENCH_REDIRECT "https://app.bench.example/callback"
/* A fixed RFC 7636 verifier (43..128 unreserved chars); every seeded code uses it. */
#define BENCH_VERIFIER "bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
#define BENCH_SCOPE "read:assets"
#define DAY 86400

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wattle_bench_seed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- what every batch needs */

struct seed {
    app a;
    const char *resource; /* the configured resource's identifier, as the server derives it */
    char scope[256];      /* BENCH_SCOPE resolved against the catalogue */
    char challenge[PKCE_CHALLENGE_LEN + 1];
    char client_id[CLIENT_ID_LEN + 1], client_secret[TOKEN_STR_LEN + 1];
    char rs_id[CLIENT_ID_LEN + 1], rs_secret[TOKEN_STR_LEN + 1];
    char user_sub[64];
    bool access_cc;
    int64_t now; /* seconds */
};

enum kind { K_ACCESS, K_CODES, K_REFRESH, K_REVOKE };

struct batch {
    struct seed *s;
    enum kind kind;
    size_t n; /* records to write in this transaction */
    FILE *out;
    char *lines; /* n * (TOKEN_STR_LEN + 1), written to out after the commit */
};

/* The records tokens.c's issue_pair writes (grant + access [+ refresh]), for a user's grant. */
static wt_status put_pair(store_txn *t, struct seed *s, const token_t *access,
                          const token_t *refresh)
{
    grant_rec g = {.created = s->now,
                   .auth_time = s->now,
                   .client_id = s->client_id,
                   .user_id = s->user_sub,
                   .scope = s->scope,
                   .resource = s->resource};
    uint8_t gid[GRANT_ID_LEN];
    buf_t b;
    if (refresh)
        memcpy(g.refresh_sel, refresh->selector, 16);
    wt_status st = grant_create(t, &g, gid);
    if (st != WT_OK)
        return st;
    access_rec a = {.iat = s->now,
                    .exp = s->now + DAY,
                    .client_id = s->client_id,
                    .user_id = s->user_sub,
                    .username = BENCH_USER,
                    .scope = s->scope,
                    .resource = s->resource};
    memcpy(a.grant, gid, GRANT_ID_LEN);
    token_digest(access, a.digest);
    buf_init(&b, 16384);
    st = access_rec_encode(&b, &a);
    if (st == WT_OK)
        st = store_put(t, STORE_DB_ACCESS, access->selector, 16, b.p, b.len, STORE_APPEND);
    buf_free(&b);
    if (st != WT_OK || !refresh)
        return st;
    refresh_rec r = {.iat = s->now, .exp = s->now + s->a.cfg.refresh_token_ttl};
    memcpy(r.grant, gid, GRANT_ID_LEN);
    token_digest(refresh, r.digest);
    buf_init(&b, 4096);
    st = refresh_rec_encode(&b, &r);
    if (st == WT_OK)
        st = store_put(t, STORE_DB_REFRESH, refresh->selector, 16, b.p, b.len, STORE_APPEND);
    buf_free(&b);
    return st;
}

/* tokens_client_credentials itself: a grant with no user and one access token. */
static wt_status put_cc(store_txn *t, struct seed *s, const token_t *access)
{
    cc_issue c = {
        .now = s->now, .client_id = s->client_id, .scope = s->scope, .resource = s->resource};
    c.res.access = *access;
    c.res.access_ttl = DAY;
    return tokens_client_credentials(t, &c);
}

static wt_status run_batch(store_txn *t, void *arg)
{
    struct batch *bt = arg;
    struct seed *s = bt->s;
    for (size_t i = 0; i < bt->n; i++) {
        char *str = bt->lines + i * (TOKEN_STR_LEN + 1);
        token_t tok, extra;
        wt_status st;
        int64_t us = now_us();
        switch (bt->kind) {
        case K_ACCESS:
            if ((st = token_mint(TOKEN_ACCESS, us, &tok, str)) == WT_OK)
                st = s->access_cc ? put_cc(t, s, &tok) : put_pair(t, s, &tok, NULL);
            break;
        case K_REVOKE:
            if ((st = token_mint(TOKEN_ACCESS, us, &tok, str)) == WT_OK)
                st = put_cc(t, s, &tok);
            break;
        case K_REFRESH:
            st = token_mint(TOKEN_ACCESS, us, &extra, NULL);
            if (st == WT_OK && (st = token_mint(TOKEN_REFRESH, us, &tok, str)) == WT_OK)
                st = put_pair(t, s, &extra, &tok);
            break;
        case K_CODES: {
            if ((st = token_mint(TOKEN_CODE, us, &tok, str)) != WT_OK)
                break;
            /* exp is stored in the record: a year, so code_ttl does not matter. */
            code_issue c = {.now = s->now,
                            .code_exp = s->now + 365 * DAY,
                            .auth_time = s->now,
                            .client_id = s->client_id,
                            .user_id = s->user_sub,
                            .redirect_uri = BENCH_REDIRECT,
                            .challenge = s->challenge,
                            .scope = s->scope,
                            .resource = s->resource,
                            .redirect_given = true,
                            .code = tok};
            st = tokens_issue_code(t, &c);
            break;
        }
        default: st = WT_INVALID;
        }
        if (st != WT_OK)
            return st;
    }
    return WT_OK;
}

static void seed_kind(struct seed *s, enum kind kind, size_t total, size_t batch, const char *dir,
                      const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    struct batch bt = {.s = s, .kind = kind, .out = f};
    bt.lines = malloc(batch * (TOKEN_STR_LEN + 1));
    if (!bt.lines)
        die("out of memory");
    double t0 = mono();
    for (size_t done = 0; done < total; done += bt.n) {
        bt.n = total - done < batch ? total - done : batch;
        s->now = now_us() / 1000000;
        wt_status st = store_write_sync(s->a.st, run_batch, &bt);
        if (st != WT_OK)
            die("writing %s failed after %zu records: %s (a full map? see the log above)", file,
                done, wt_status_str(st));
        for (size_t i = 0; i < bt.n; i++) {
            fwrite(bt.lines + i * (TOKEN_STR_LEN + 1), 1, TOKEN_STR_LEN, f);
            fputc('\n', f);
        }
    }
    OPENSSL_cleanse(bt.lines, batch * (TOKEN_STR_LEN + 1));
    free(bt.lines);
    if (fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
    double dt = mono() - t0;
    fprintf(stderr, "seed: %-11s %9zu in %6.2f s (%.0f/s)\n", file, total, dt,
            dt > 0 ? (double)total / dt : 0.0);
}

/* ---------------------------------------------------------------- user and clients */

struct doc_ctx {
    json_t *doc;
};

static wt_status run_user(store_txn *t, void *arg)
{
    return user_create(t, ((struct doc_ctx *)arg)->doc);
}

static wt_status run_client(store_txn *t, void *arg)
{
    return client_store(t, ((struct doc_ctx *)arg)->doc, true);
}

static void add_client(struct seed *s, const client_spec *sp, char *id, char *secret)
{
    char why[256];
    const char *field = NULL;
    struct doc_ctx c = {0};
    if (client_build(sp, &s->a.scopes, s->now, &c.doc, secret, why, sizeof why, &field) != WT_OK)
        die("client %s: %s", sp->name, why);
    snprintf(id, CLIENT_ID_LEN + 1, "%s", json_string_value(json_object_get(c.doc, "client_id")));
    if (store_write_sync(s->a.st, run_client, &c) != WT_OK)
        die("cannot store client %s", sp->name);
    json_decref(c.doc);
}

static void add_principals(struct seed *s)
{
    char hash[PASSWORD_HASH_MAX];
    struct doc_ctx u = {0};
    if (password_hash(BENCH_PASSWORD, strlen(BENCH_PASSWORD), hash) != WT_OK ||
        user_build(BENCH_USER, "Bench User", NULL, hash, s->now, &u.doc) != WT_OK)
        die("cannot build the user");
    if (store_write_sync(s->a.st, run_user, &u) != WT_OK)
        die("cannot store user %s (the data directory must be empty)", BENCH_USER);
    snprintf(s->user_sub, sizeof s->user_sub, "%s",
             json_string_value(json_object_get(u.doc, "sub")));
    json_decref(u.doc);

    static const char *const app_grants[] = {"authorization_code", "refresh_token",
                                             "client_credentials"};
    static const char *const rs_grants[] = {"client_credentials"};
    const char *redirects[] = {BENCH_REDIRECT};
    client_spec app_spec = {.name = "Bench App",
                            .redirect_uris = redirects,
                            .nredirect = 1,
                            .grant_types = app_grants,
                            .ngrant = 3,
                            .source = CLIENT_CLI};
    client_spec rs_spec = {.name = "Bench Resource Server",
                           .grant_types = rs_grants,
                           .ngrant = 1,
                           .source = CLIENT_CLI};
    add_client(s, &app_spec, s->client_id, s->client_secret);
    add_client(s, &rs_spec, s->rs_id, s->rs_secret);
}

static void write_env(struct seed *s, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.env", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    fprintf(f,
            "CLIENT_ID='%s'\nCLIENT_SECRET='%s'\nRS_ID='%s'\nRS_SECRET='%s'\n"
            "BENCH_USER='%s'\nBENCH_PASSWORD='%s'\nREDIRECT_URI='%s'\nVERIFIER='%s'\n"
            "CHALLENGE='%s'\nRESOURCE='%s'\nSCOPE='%s'\n",
            s->client_id, s->client_secret, s->rs_id, s->rs_secret, BENCH_USER, BENCH_PASSWORD,
            BENCH_REDIRECT, BENCH_VERIFIER, s->challenge, s->resource, s->scope);
    fclose(f);
}

/* ---------------------------------------------------------------- --lookup */

static int lookup(struct seed *s, const char *file, size_t count)
{
    FILE *f = fopen(file, "r");
    if (!f)
        die("cannot read %s: %s", file, strerror(errno));
    size_t n = 0, cap = 1024;
    token_t *toks = malloc(cap * sizeof *toks);
    char line[256];
    while (toks && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (n == cap && !(toks = realloc(toks, (cap *= 2) * sizeof *toks)))
            break;
        if (token_parse(TOKEN_ACCESS, line, len, &toks[n]) == WT_OK)
            n++;
    }
    fclose(f);
    if (!toks || n == 0)
        die("no access tokens in %s", file);
    /* Random order (xorshift), so the lookups do not walk the B-tree in key order. */
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)now_us();
    size_t *order = malloc(count * sizeof *order);
    if (!order)
        die("out of memory");
    for (size_t i = 0; i < count; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        order[i] = (size_t)(x % n);
    }
    store_reader *r = store_reader_new(s->a.st);
    if (!r)
        die("cannot create a reader");
    int64_t now = now_us() / 1000000;
    size_t bad = 0;
    double best = 1e9;
    for (int pass = 0; pass < 3; pass++) { /* the first pass also warms the map */
        double t0 = mono();
        for (size_t i = 0; i < count; i++) {
            store_txn *t;
            access_rec a;
            if (store_reader_begin(r, &t) != WT_OK)
                die("reader_begin failed");
            if (tokens_check_access(t, &toks[order[i]], now, &a) != WT_OK)
                bad++;
            store_reader_end(r);
        }
        double ns = (mono() - t0) * 1e9 / (double)count;
        fprintf(stderr, "lookup: pass %d: %.0f ns per validation (%zu tokens in the file)\n",
                pass + 1, ns, n);
        if (pass > 0 && ns < best)
            best = ns;
    }
    store_reader_free(r);
    printf("LOOKUP tokens=%zu lookups=%zu ns_per_op=%.0f failed=%zu\n", n, count, best, bad);
    free(order);
    OPENSSL_cleanse(toks, n * sizeof *toks);
    free(toks);
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------- --commit-probe */

struct prober {
    struct seed *s;
    pthread_t th;
    sem_t done;
    store_op op;
    cc_issue c;
    _Atomic bool *stop;
    size_t ok, failed;
};

static wt_status probe_run(store_txn *t, void *arg)
{
    struct prober *p = arg;
    p->c.now = p->op.now / 1000000;
    return tokens_client_credentials(t, &p->c);
}

static void probe_done(store_op *op, wt_status st)
{
    struct prober *p = op->arg;
    if (st == WT_OK)
        p->ok++;
    else
        p->failed++;
    sem_post(&p->done);
}

static void *probe_main(void *arg)
{
    struct prober *p = arg;
    while (!*p->stop) {
        p->c = (cc_issue){
            .client_id = p->s->client_id, .scope = p->s->scope, .resource = p->s->resource};
        p->c.res.access_ttl = DAY;
        if (token_mint(TOKEN_ACCESS, now_us(), &p->c.res.access, NULL) != WT_OK)
            die("token_mint failed");
        /* restartable, as the server submits it (http_token.c) */
        p->op = (store_op){.run = probe_run, .done = probe_done, .arg = p, .restartable = true};
        store_submit(p->s->a.st, &p->op);
        sem_wait(&p->done);
    }
    return NULL;
}

static int commit_probe(struct seed *s, double seconds, size_t clients)
{
    struct prober *p = calloc(clients, sizeof *p);
    _Atomic bool stop = false;
    uint64_t b0, o0, b1, o1;
    if (!p)
        die("out of memory");
    snprintf(s->client_id, sizeof s->client_id, "commit-probe");
    if (store_writer_start(s->a.st) != WT_OK)
        die("cannot start the writer");
    store_writer_stats(s->a.st, &b0, &o0);
    double t0 = mono();
    for (size_t i = 0; i < clients; i++) {
        p[i].s = s;
        p[i].stop = &stop;
        sem_init(&p[i].done, 0, 0);
        if (pthread_create(&p[i].th, NULL, probe_main, &p[i]) != 0)
            die("cannot start a client thread");
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    stop = true;
    size_t ok = 0, failed = 0;
    for (size_t i = 0; i < clients; i++) {
        pthread_join(p[i].th, NULL);
        sem_destroy(&p[i].done);
        ok += p[i].ok;
        failed += p[i].failed;
    }
    double dt = mono() - t0;
    store_writer_stats(s->a.st, &b1, &o1);
    printf("COMMIT clients=%zu ops_per_s=%.0f ops_per_commit=%.1f commit_us=%.0f failed=%zu\n",
           clients, (double)ok / dt, b1 > b0 ? (double)(o1 - o0) / (double)(b1 - b0) : 0.0,
           b1 > b0 ? dt * 1e6 / (double)(b1 - b0) : 0.0, failed);
    OPENSSL_cleanse(p, clients * sizeof *p);
    free(p);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- --fsync-probe */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fsync_probe(const char *dir)
{
    enum { ROUNDS = 200, PAGES = 8 };
    char path[4096];
    static char page[4096 * PAGES];
    double extend[ROUNDS], over[ROUNDS], meta[ROUNDS];
    snprintf(path, sizeof path, "%s/fsync-probe.tmp", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int mfd = fd >= 0 ? open(path, O_WRONLY | O_DSYNC) : -1;
    if (fd < 0 || mfd < 0)
        die("cannot create %s: %s", path, strerror(errno));
    memset(page, 0x5a, sizeof page);
    /* pass 0 grows the file page group by page group; pass 1 rewrites the same offsets */
    for (int pass = 0; pass < 2; pass++) {
        double *data = pass == 0 ? extend : over;
        for (int i = 0; i < ROUNDS; i++) {
            double t0 = mono();
            if (pwrite(fd, page, sizeof page, (off_t)(4096 + (size_t)i * sizeof page)) < 0 ||
                fdatasync(fd) != 0)
                die("write/fdatasync %s: %s", path, strerror(errno));
            double t1 = mono();
            if (pass == 0 && pwrite(mfd, page, 128, 0) < 0)
                die("O_DSYNC write %s: %s", path, strerror(errno));
            data[i] = (t1 - t0) * 1e6;
            if (pass == 0)
                meta[i] = (mono() - t1) * 1e6;
        }
    }
    close(mfd);
    close(fd);
    unlink(path);
    qsort(extend, ROUNDS, sizeof *extend, cmp_double);
    qsort(over, ROUNDS, sizeof *over, cmp_double);
    qsort(meta, ROUNDS, sizeof *meta, cmp_double);
    printf(
        "FSYNC data_extending_p50_us=%.0f data_extending_p99_us=%.0f data_overwriting_p50_us=%.0f "
        "data_overwriting_p99_us=%.0f "
        "meta_p50_us=%.0f meta_p99_us=%.0f\n",
        extend[ROUNDS / 2], extend[ROUNDS * 99 / 100], over[ROUNDS / 2], over[ROUNDS * 99 / 100],
        meta[ROUNDS / 2], meta[ROUNDS * 99 / 100]);
    return 0;
}

/* ---------------------------------------------------------------- main */

static size_t num(const char *opt, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    if (!v || errno || *end || end == v)
        die("%s needs a number", opt);
    return (size_t)n;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *lookup_file = NULL, *kind = "user";
    double probe_seconds = 0;
    size_t clients = 32;
    if (argc == 3 && strcmp(argv[1], "--fsync-probe") == 0)
        return fsync_probe(argv[2]);
    size_t n_access = 1000, n_codes = 0, n_refresh = 0, n_revoke = 0, batch = 50000,
           count = 1000000;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "-c") == 0 && v)
            config = v;
        else if (strcmp(o, "--out") == 0 && v)
            out = v;
        else if (strcmp(o, "--lookup") == 0 && v)
            lookup_file = v;
        else if (strcmp(o, "--access-kind") == 0 && v)
            kind = v;
        else if (strcmp(o, "--access") == 0)
            n_access = num(o, v);
        else if (strcmp(o, "--codes") == 0)
            n_codes = num(o, v);
        else if (strcmp(o, "--refresh") == 0)
            n_refresh = num(o, v);
        else if (strcmp(o, "--revoke") == 0)
            n_revoke = num(o, v);
        else if (strcmp(o, "--batch") == 0)
            batch = num(o, v);
        else if (strcmp(o, "--count") == 0)
            count = num(o, v);
        else if (strcmp(o, "--commit-probe") == 0)
            probe_seconds = (double)num(o, v);
        else if (strcmp(o, "--clients") == 0)
            clients = num(o, v);
        else
            die("usage: wattle_bench_seed -c CONFIG (--out DIR [--access N] [--codes M] "
                "[--refresh K] [--revoke R] [--batch B] [--access-kind user|cc] | --lookup "
                "FILE [--count N] | --commit-probe SECONDS [--clients C])");
        i++; /* every option takes a value */
    }
    if (!config || (!out && !lookup_file && probe_seconds <= 0) || batch == 0 || count == 0 ||
        clients == 0 || (strcmp(kind, "user") != 0 && strcmp(kind, "cc") != 0))
        die("need -c CONFIG and --out DIR, --lookup FILE or --commit-probe SECONDS (see the "
            "comment in seed.c)");

    static struct seed s; /* static: big, and zeroed */
    char err[512], *granted = NULL, why[160];
    s.access_cc = strcmp(kind, "cc") == 0;
    s.now = now_us() / 1000000;
    if (config_defaults(&s.a.cfg) != WT_OK ||
        config_load_file(&s.a.cfg, config, err, sizeof err) != WT_OK ||
        config_check(&s.a.cfg, err, sizeof err) != WT_OK)
        die("%s", err);
    log_set_level(LOG_WARN);
    if (config_finish_issuer(&s.a.cfg, 0) != WT_OK)
        die("%s: set \"issuer\" (the resource identifiers derive from it)", config);
    if (metadata_build(&s.a, err, sizeof err) != WT_OK)
        die("%s", err);
    if (s.a.nres < 1)
        die("no resource configured");
    s.resource = s.a.res[0].resource;
    if (scope_resolve(&s.a.scopes, BENCH_SCOPE, NULL, &granted, why, sizeof why) != WT_OK)
        die("scope %s: %s", BENCH_SCOPE, why);
    snprintf(s.scope, sizeof s.scope, "%s", granted);
    free(granted);
    uint8_t dg[32];
    crypto_sha256(BENCH_VERIFIER, strlen(BENCH_VERIFIER), dg);
    b64url_encode(dg, sizeof dg, s.challenge);
    if (!pkce_verify(BENCH_VERIFIER, strlen(BENCH_VERIFIER), s.challenge, strlen(s.challenge)))
        die("PKCE self-check failed");

    if (lookup_file) {
        if (store_open(&s.a.st, s.a.cfg.data_dir, true, err, sizeof err) != WT_OK)
            die("%s", err);
        int rc = lookup(&s, lookup_file, count);
        store_close(s.a.st);
        return rc;
    }

    if (probe_seconds > 0) {
        if (store_open(&s.a.st, s.a.cfg.data_dir, false, err, sizeof err) != WT_OK)
            die("%s", err);
        int rc = commit_probe(&s, probe_seconds, clients);
        store_close(s.a.st);
        return rc;
    }

    mkdir(out, 0700);
    if (store_open(&s.a.st, s.a.cfg.data_dir, false, err, sizeof err) != WT_OK)
        die("%s", err);
    double t0 = mono();
    add_principals(&s);
    write_env(&s, out);
    seed_kind(&s, K_ACCESS, n_access, batch, out, "access.txt");
    seed_kind(&s, K_CODES, n_codes, batch, out, "codes.txt");
    seed_kind(&s, K_REFRESH, n_refresh, batch, out, "refresh.txt");
    seed_kind(&s, K_REVOKE, n_revoke, batch, out, "revoke.txt");
    store_close(s.a.st);
    fprintf(stderr, "seed: done in %.2f s (data in %s)\n", mono() - t0, s.a.cfg.data_dir);
    OPENSSL_cleanse(s.client_secret, sizeof s.client_secret);
    OPENSSL_cleanse(s.rs_secret, sizeof s.rs_secret);
    return 0;
}
