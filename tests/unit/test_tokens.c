/* test_tokens.c — the token ops as the store's writer runs them (src/tokens.c), against a
 * temporary store: the ops marked restartable (store.h) give the same results when their first
 * attempt is rolled back because another op of the batch failed, and what they write exists
 * once. */
#include <criterion/criterion.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "records.h"
#include "store.h"
#include "testuser.h"
#include "tmpstore.h"
#include "token.h"
#include "tokens.h"
#include "users.h"

#define NOW 1800000000
#define APP "ocl_applicationclient00001"
#define AUD "https://api.example/mcp"
#define REDIRECT "https://app.example/cb"
/* RFC 7636 Appendix B */
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static char tmp[64];
static store *st;

static void setup(void)
{
    umask(022);
    st = tmpstore_open(tmp, sizeof tmp, NULL, 0, "tokens");
}

static void teardown(void)
{
    tmpstore_close(&st, tmp);
}

TestSuite(tokens, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a batch with a failure in it ---- */

/* An op of the batch: `inner` (a real op, or NULL) wrapped to count its runs. */
struct counted {
    store_op op;
    store_run_fn inner;
    void *arg;
    int runs;
    sem_t *started, *go; /* the blocker: posts started, then waits for go */
    sem_t *done;
};

static wt_status counted_run(store_txn *t, void *arg)
{
    struct counted *c = arg;
    c->runs++;
    if (c->started)
        sem_post(c->started);
    if (c->go)
        sem_wait(c->go);
    return c->inner ? c->inner(t, c->arg) : WT_OK;
}

static void counted_done(store_op *op, wt_status s)
{
    (void)s;
    sem_post(((struct counted *)op->arg)->done);
}

static void counted_init(struct counted *c, store_run_fn inner, void *arg, bool restartable)
{
    memset(c, 0, sizeof *c);
    c->inner = inner;
    c->arg = arg;
    c->op =
        (store_op){.run = counted_run, .done = counted_done, .arg = c, .restartable = restartable};
}

/* Writes, then fails: a restartable op whose failure rolls back the batch's first attempt. */
static wt_status put_then_fail(store_txn *t, void *arg)
{
    (void)arg;
    cr_assert_eq(store_put(t, STORE_DB_CLIENTS, "junk", 4, "x", 1, 0), WT_OK);
    return WT_ESTORE;
}

/* Runs op as one batch with a failing restartable op after it (a blocker holds the writer
 * while both queue up). */
static void run_with_failure(struct counted *op)
{
    sem_t started, go, done;
    sem_init(&started, 0, 0);
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    struct counted blocker, fail;
    counted_init(&blocker, NULL, NULL, false);
    counted_init(&fail, put_then_fail, NULL, true);
    blocker.started = &started;
    blocker.go = &go;
    blocker.done = fail.done = op->done = &done;
    cr_assert_eq(store_writer_start(st), WT_OK);
    store_submit(st, &blocker.op);
    sem_wait(&started);
    store_submit(st, &op->op);
    store_submit(st, &fail.op);
    sem_post(&go);
    for (int i = 0; i < 3; i++)
        sem_wait(&done);
    cr_assert_eq(fail.op.status, WT_ESTORE);
    cr_assert_eq(fail.runs, 2, "the failing op ran in both attempts");
    cr_assert_eq(op->runs, 2, "the op ran in the rolled-back attempt and again");
    uint64_t batches = 0;
    store_writer_stats(st, &batches, NULL);
    cr_assert_eq(batches, 2, "blocker, then one batch");
    sem_destroy(&started);
    sem_destroy(&go);
    sem_destroy(&done);
}

/* ---- reading the result back ---- */

static int count_one(void *arg, store_val k, store_val v)
{
    (void)k;
    (void)v;
    ++*(int *)arg;
    return 0;
}

static int count(store_db db)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    int n = 0;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_iter(t, db, NULL, 0, count_one, &n), WT_OK);
    store_reader_end(r);
    store_reader_free(r);
    return n;
}

/* tokens_check_access at NOW; the record's client and scope into the buffers. */
static wt_status check(const token_t *tok, char *client, char *scope)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    access_rec a;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    wt_status s = tokens_check_access(t, tok, NOW, &a);
    if (s == WT_OK) {
        snprintf(client, 64, "%s", a.client_id);
        snprintf(scope, 64, "%s", a.scope);
    }
    store_reader_end(r);
    store_reader_free(r);
    return s;
}

static void assert_no_junk(void)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    store_val v;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(store_get(t, STORE_DB_CLIENTS, "junk", 4, &v), WT_NOTFOUND,
                 "the failing op's write was rolled back");
    store_reader_end(r);
    store_reader_free(r);
}

static void mint(enum token_kind k, token_t *tok, char *str)
{
    static int64_t seq;
    cr_assert_eq(token_mint(k, (int64_t)NOW * 1000000 + ++seq, tok, str), WT_OK);
}

/* ---- the ops ---- */

/* A client_credentials issuance; the token's string into str when not NULL. */
static void cc_init(cc_issue *cc, char *str)
{
    memset(cc, 0, sizeof *cc);
    *cc = (cc_issue){.now = NOW, .client_id = APP, .scope = "read:assets", .resource = AUD};
    cc->res.access_ttl = 3600;
    mint(TOKEN_ACCESS, &cc->res.access, str);
}

Test(tokens, client_credentials_after_a_rolled_back_attempt)
{
    cc_issue cc;
    cc_init(&cc, NULL);
    struct counted op;
    counted_init(&op, tokens_client_credentials, &cc, true);
    run_with_failure(&op);

    cr_assert_eq(op.op.status, WT_OK);
    cr_assert_eq(cc.res.err, OE_NONE);
    cr_assert_str_eq(cc.res.scope, "read:assets");
    char client[64], scope[64];
    cr_assert_eq(check(&cc.res.access, client, scope), WT_OK);
    cr_assert_str_eq(client, APP);
    cr_assert_str_eq(scope, "read:assets");
    cr_assert_eq(count(STORE_DB_GRANTS), 1, "one grant: the first attempt's is gone");
    cr_assert_eq(count(STORE_DB_ACCESS), 1);
    assert_no_junk();
}

static char user_id[64];

static wt_status make_user(store_txn *t, void *arg)
{
    (void)arg;
    return testuser_create(t, "alice", NOW - 100, user_id, sizeof user_id);
}

/* A user and a code issued to APP for them; the code in *code. */
static void issue_code(token_t *code)
{
    cr_assert_eq(store_write_sync(st, make_user, NULL), WT_OK);
    code_issue ci = {.now = NOW - 5,
                     .code_exp = NOW + 60,
                     .auth_time = NOW - 5,
                     .client_id = APP,
                     .user_id = user_id,
                     .redirect_uri = REDIRECT,
                     .challenge = CHALLENGE,
                     .scope = "read:assets",
                     .resource = AUD,
                     .redirect_given = true};
    mint(TOKEN_CODE, &ci.code, NULL);
    cr_assert_eq(store_write_sync(st, tokens_issue_code, &ci), WT_OK);
    *code = ci.code;
}

static void redeem_init(code_redeem *r, const token_t *code)
{
    memset(r, 0, sizeof *r);
    r->now = NOW;
    r->code = *code;
    r->client_id = APP;
    r->verifier = VERIFIER;
    r->redirect_uri = REDIRECT;
    r->res.with_refresh = true;
    r->res.access_ttl = 3600;
    r->res.refresh_ttl = 86400;
    mint(TOKEN_ACCESS, &r->res.access, NULL);
    mint(TOKEN_REFRESH, &r->res.refresh, NULL);
}

Test(tokens, code_redemption_after_a_rolled_back_attempt)
{
    token_t code;
    issue_code(&code);
    code_redeem r;
    redeem_init(&r, &code);
    struct counted op;
    counted_init(&op, tokens_redeem_code, &r, true);
    run_with_failure(&op);

    cr_assert_eq(op.op.status, WT_OK);
    cr_assert_eq(r.res.err, OE_NONE, "%s", r.res.why);
    cr_assert_not(r.replayed);
    char client[64], scope[64];
    cr_assert_eq(check(&r.res.access, client, scope), WT_OK);
    cr_assert_str_eq(scope, "read:assets");
    cr_assert_eq(count(STORE_DB_GRANTS), 1, "one grant: the first attempt's is gone");
    cr_assert_eq(count(STORE_DB_REFRESH), 1);
    assert_no_junk();

    /* The code is marked used by that one grant: a replay by its owner is refused and revokes
     * it, so the token issued above dies. */
    code_redeem again;
    redeem_init(&again, &code);
    cr_assert_eq(store_write_sync(st, tokens_redeem_code, &again), WT_OK);
    cr_assert_eq(again.res.err, OE_INVALID_GRANT);
    cr_assert(again.replayed);
    cr_assert_eq(check(&r.res.access, client, scope), WT_NOTFOUND);
}

Test(tokens, revocation_after_a_rolled_back_attempt)
{
    cc_issue cc;
    char str[TOKEN_STR_LEN + 1];
    cc_init(&cc, str);
    cr_assert_eq(store_write_sync(st, tokens_client_credentials, &cc), WT_OK);
    revoke_op rv = {.now = NOW, .token = str, .client_id = APP};
    struct counted op;
    counted_init(&op, tokens_revoke, &rv, true);
    run_with_failure(&op);

    cr_assert_eq(op.op.status, WT_OK);
    cr_assert(rv.revoked);
    char client[64], scope[64];
    cr_assert_eq(check(&cc.res.access, client, scope), WT_NOTFOUND);
    assert_no_junk();
}
