/* test_introspect.c — the introspection service (src/introspect.c) against a temporary store:
 * the exact shape of active and inactive answers for client_credentials and user access
 * tokens, the refresh-token owner rule (and retired, revoked, expired tokens), other token
 * kinds, who may call, the RFC 9701 claims set and Accept negotiation. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "crypto.h"
#include "gc.h"
#include "grants.h"
#include "introspect.h"
#include "records.h"
#include "store.h"
#include "tmpstore.h"
#include "testuser.h"
#include "token.h"
#include "tokens.h"
#include "users.h"

#define NOW 1800000000
#define ISS "https://as.example"
#define AUD "https://api.example/mcp"
#define RS "ocl_resourceserver00000001"
#define APP "ocl_applicationclient00001"

static char tmp[64];
static char dir[128];
static store *st;

static void setup(void)
{
    umask(022);
    st = tmpstore_open(tmp, sizeof tmp, dir, sizeof dir, "intro");
}

static void teardown(void)
{
    tmpstore_close(&st, tmp);
}

TestSuite(introspect, .init = setup, .fini = teardown, .timeout = 60);

/* ---- fixtures written straight into the store ---- */

struct fixture {
    char user_id[64];
    char at[TOKEN_STR_LEN + 1], rt[TOKEN_STR_LEN + 1], cc[TOKEN_STR_LEN + 1];
    token_t at_t, rt_t, cc_t;
    uint8_t grant[GRANT_ID_LEN];
};

static struct fixture fx;

static wt_status put_rec(store_txn *t, store_db db, const uint8_t sel[16], buf_t *b)
{
    wt_status s = store_put(t, db, sel, 16, b->p, b->len, 0);
    buf_free(b);
    return s;
}

/* The user's access token (fx.at) of the grant fx.grant, with this username. */
static wt_status put_user_access(store_txn *t, const char *username)
{
    access_rec a = {.iat = NOW - 10,
                    .exp = NOW + 3590,
                    .client_id = APP,
                    .user_id = fx.user_id,
                    .username = username,
                    .scope = "read:assets",
                    .resource = AUD};
    memcpy(a.grant, fx.grant, GRANT_ID_LEN);
    token_digest(&fx.at_t, a.digest);
    buf_t b;
    buf_init(&b, 4096);
    wt_status s = access_rec_encode(&b, &a);
    return s == WT_OK ? put_rec(t, STORE_DB_ACCESS, fx.at_t.selector, &b) : s;
}

static wt_status run_fixture(store_txn *t, void *arg)
{
    (void)arg;
    wt_status s = testuser_create(t, "alice", NOW - 100, fx.user_id, sizeof fx.user_id);
    if (s != WT_OK)
        return s;
    /* A user's grant with one access and one (live) refresh token. */
    grant_rec g = {.created = NOW - 10,
                   .auth_time = NOW - 10,
                   .client_id = APP,
                   .user_id = fx.user_id,
                   .scope = "read:assets write:assets",
                   .resource = AUD,
                   .access_until = NOW + 3590};
    memcpy(g.refresh_sel, fx.rt_t.selector, 16);
    if ((s = grant_create(t, &g, fx.grant)) != WT_OK)
        return s;
    if ((s = put_user_access(t, "alice")) != WT_OK)
        return s;
    buf_t b;
    refresh_rec r = {.iat = NOW - 10, .exp = NOW + 2592000 - 10};
    memcpy(r.grant, fx.grant, GRANT_ID_LEN);
    token_digest(&fx.rt_t, r.digest);
    buf_init(&b, 4096);
    if ((s = refresh_rec_encode(&b, &r)) != WT_OK ||
        (s = put_rec(t, STORE_DB_REFRESH, fx.rt_t.selector, &b)) != WT_OK)
        return s;
    /* A client_credentials token of the resource server itself, with no resource. */
    cc_issue cc = {.now = NOW - 5, .client_id = RS, .scope = "read:albums", .resource = ""};
    cc.res.access = fx.cc_t;
    cc.res.access_ttl = 3600;
    return tokens_client_credentials(t, &cc);
}

static void make_fixture(void)
{
    memset(&fx, 0, sizeof fx);
    cr_assert_eq(token_mint(TOKEN_ACCESS, (int64_t)NOW * 1000000, &fx.at_t, fx.at), WT_OK);
    cr_assert_eq(token_mint(TOKEN_REFRESH, (int64_t)NOW * 1000000, &fx.rt_t, fx.rt), WT_OK);
    cr_assert_eq(token_mint(TOKEN_ACCESS, (int64_t)NOW * 1000000 + 1, &fx.cc_t, fx.cc), WT_OK);
    cr_assert_eq(store_write_sync(st, run_fixture, NULL), WT_OK);
}

/* Introspects as `caller` at `now`: returns the answer (caller decrefs) and keeps its
 * compact text, as the server sends it, in `last`. */
static char last[4096];

static json_t *ask(const char *caller, int64_t now, const char *token)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    json_t *o = NULL;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    introspect_ctx c = {.issuer = ISS, .caller = caller, .now = now};
    cr_assert_eq(introspect_token(t, &c, token, &o), WT_OK);
    store_reader_end(r);
    store_reader_free(r);
    cr_assert(json_is_object(o));
    size_t n = json_dumpb(o, last, sizeof last - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert(n > 0 && n < sizeof last);
    last[n] = '\0';
    return o;
}

static void assert_inactive(json_t *o, const char *what)
{
    cr_assert_str_eq(last, "{\"active\":false}", "%s: got %s", what, last);
    json_decref(o);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    cr_assert(json_is_integer(v), "%s is not an integer", k);
    return json_integer_value(v);
}

/* ---- access tokens ---- */

Test(introspect, user_access_token)
{
    make_fixture();
    json_t *o = ask(RS, NOW, fx.at); /* any audience, any authorised caller */
    cr_assert(json_is_true(json_object_get(o, "active")));
    cr_assert_str_eq(str(o, "scope"), "read:assets");
    cr_assert_str_eq(str(o, "client_id"), APP);
    cr_assert_str_eq(str(o, "sub"), fx.user_id);
    cr_assert_str_eq(str(o, "username"), "alice");
    cr_assert_eq(num(o, "exp"), NOW + 3590);
    cr_assert_eq(num(o, "iat"), NOW - 10);
    cr_assert_str_eq(str(o, "aud"), AUD);
    cr_assert_str_eq(str(o, "iss"), ISS);
    cr_assert_str_eq(str(o, "token_type"), "Bearer");
    cr_assert_eq(json_object_size(o), 10, "no other members");
    json_decref(o);
}

Test(introspect, client_credentials_access_token)
{
    make_fixture();
    json_t *o = ask(RS, NOW, fx.cc);
    cr_assert(json_is_true(json_object_get(o, "active")));
    cr_assert_str_eq(str(o, "client_id"), RS);
    cr_assert_str_eq(str(o, "sub"), RS, "no user: sub is the client");
    cr_assert_null(json_object_get(o, "username"));
    cr_assert_null(json_object_get(o, "aud"), "no resource: no aud");
    cr_assert_str_eq(str(o, "scope"), "read:albums");
    cr_assert_eq(num(o, "exp"), NOW - 5 + 3600);
    cr_assert_str_eq(str(o, "token_type"), "Bearer");
    json_decref(o);
}

Test(introspect, inactive_access_tokens)
{
    make_fixture();
    assert_inactive(ask(RS, NOW + 3590, fx.at), "expired");
    char wrong[TOKEN_STR_LEN + 1];
    memcpy(wrong, fx.at, sizeof wrong);
    wrong[TOKEN_STR_LEN - 3] = wrong[TOKEN_STR_LEN - 3] == 'A' ? 'B' : 'A';
    assert_inactive(ask(RS, NOW, wrong), "wrong secret");
    token_t other;
    char unknown[TOKEN_STR_LEN + 1];
    token_mint(TOKEN_ACCESS, (int64_t)NOW * 1000000, &other, unknown);
    assert_inactive(ask(RS, NOW, unknown), "unknown");
    assert_inactive(ask(RS, NOW, "oat_short"), "malformed");
    assert_inactive(ask(RS, NOW, "hello"), "not a token");
    assert_inactive(ask(RS, NOW, "oac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "a code");
    assert_inactive(ask(RS, NOW, "ocs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "a secret");
}

static wt_status run_revoke(store_txn *t, void *arg)
{
    (void)arg;
    return grant_revoke(t, fx.grant);
}

Test(introspect, revoked_grant_kills_both_tokens)
{
    make_fixture();
    cr_assert_eq(store_write_sync(st, run_revoke, NULL), WT_OK);
    assert_inactive(ask(RS, NOW, fx.at), "revoked access token");
    assert_inactive(ask(APP, NOW, fx.rt), "revoked refresh token");
}

/* ---- revocation tombstones (schema 2): validation reads them instead of the grant ---- */

static int64_t tombstone_until(void)
{
    store_reader *r = store_reader_new(st);
    store_txn *t = NULL;
    store_val v = {0};
    int64_t until = -1;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    if (store_get(t, STORE_DB_REVOKED, fx.grant, GRANT_ID_LEN, &v) == WT_OK) {
        cr_assert_eq(v.len, 8);
        until = until_decode(v.data);
    }
    store_reader_free(r);
    return until;
}

struct gc_at {
    int64_t now;
    gc_state g;
};

static wt_status run_gc_at(store_txn *t, void *arg)
{
    struct gc_at *a = arg;
    return gc_step(t, a->now, 1000, &a->g);
}

Test(introspect, revoked_grant_is_remembered_until_its_last_access_token_expires)
{
    make_fixture();
    cr_assert_eq(tombstone_until(), -1, "a live grant has no tombstone");
    cr_assert_eq(store_write_sync(st, run_revoke, NULL), WT_OK);
    cr_assert_eq(tombstone_until(), NOW + 3590, "the grant's latest access token expiry");
    struct gc_at a = {.now = NOW + 3589};
    cr_assert_eq(store_write_sync(st, run_gc_at, &a), WT_OK);
    cr_assert_eq(tombstone_until(), NOW + 3590, "kept while a token may still be presented");
    a = (struct gc_at){.now = NOW + 3590};
    cr_assert_eq(store_write_sync(st, run_gc_at, &a), WT_OK);
    cr_assert_eq(tombstone_until(), -1, "purged once every token of the grant has expired");
    cr_assert_eq(a.g.purged[GC_REVOKED], 1);
}

static wt_status run_drop_grant_record(store_txn *t, void *arg)
{
    (void)arg;
    return store_del(t, STORE_DB_GRANTS, fx.grant, GRANT_ID_LEN, NULL, 0);
}

static wt_status run_put_since(store_txn *t, void *arg)
{
    uint8_t le[8];
    until_encode(le, *(const int64_t *)arg);
    return store_put(t, STORE_DB_META, "tombstones_since", 16, le, 8, 0);
}

Test(introspect, tokens_older_than_the_upgrade_are_checked_against_their_grant)
{
    make_fixture();
    /* A grant record that vanished without a tombstone, as a revocation made before the store
     * was upgraded to schema 2 left it. grant_revoke never does this. */
    cr_assert_eq(store_write_sync(st, run_drop_grant_record, NULL), WT_OK);
    json_t *o = ask(RS, NOW, fx.at);
    cr_assert(json_is_true(json_object_get(o, "active")),
              "issued after tombstones began, so only a tombstone revokes it: %s", last);
    json_decref(o);
    /* The store was upgraded after the token was issued (iat NOW - 10): the grant decides. */
    int64_t since = NOW - 10;
    cr_assert_eq(store_write_sync(st, run_put_since, &since), WT_OK);
    store_close(st);
    char err[256] = "";
    cr_assert_eq(store_open(&st, dir, false, err, sizeof err), WT_OK, "%s", err);
    assert_inactive(ask(RS, NOW, fx.at), "grant gone, token older than the upgrade");
}

/* ---- refresh tokens ---- */

Test(introspect, refresh_token_for_its_own_client)
{
    make_fixture();
    json_t *o = ask(APP, NOW, fx.rt);
    cr_assert(json_is_true(json_object_get(o, "active")));
    cr_assert_str_eq(str(o, "token_type"), "refresh_token");
    cr_assert_str_eq(str(o, "scope"), "read:assets write:assets", "the grant's scope");
    cr_assert_str_eq(str(o, "client_id"), APP);
    cr_assert_str_eq(str(o, "sub"), fx.user_id);
    cr_assert_str_eq(str(o, "username"), "alice");
    cr_assert_eq(num(o, "exp"), NOW + 2592000 - 10, "the refresh token's own expiry");
    cr_assert_eq(num(o, "iat"), NOW - 10);
    cr_assert_str_eq(str(o, "aud"), AUD);
    cr_assert_str_eq(str(o, "iss"), ISS);
    json_decref(o);
}

Test(introspect, refresh_token_hidden_from_other_clients)
{
    make_fixture();
    assert_inactive(ask(RS, NOW, fx.rt), "another client");
    assert_inactive(ask(APP, NOW + 2592000, fx.rt), "expired");
}

static wt_status run_retire(store_txn *t, void *arg)
{
    (void)arg;
    store_val v;
    refresh_rec r;
    wt_status s = store_get(t, STORE_DB_REFRESH, fx.rt_t.selector, 16, &v);
    if (s != WT_OK || (s = refresh_rec_decode(v.data, v.len, &r)) != WT_OK)
        return s;
    r.retired_at = NOW;
    buf_t b;
    buf_init(&b, 4096);
    if ((s = refresh_rec_encode(&b, &r)) != WT_OK)
        return s;
    return put_rec(t, STORE_DB_REFRESH, fx.rt_t.selector, &b);
}

Test(introspect, retired_refresh_token_is_inactive)
{
    make_fixture();
    cr_assert_eq(store_write_sync(st, run_retire, NULL), WT_OK);
    assert_inactive(ask(APP, NOW + 1, fx.rt), "retired by a rotation");
}

/* ---- callers, RFC 9701, Accept ---- */

static clientauth caller(const char *auth_method, enum client_source src, bool secret)
{
    clientauth ca = {0};
    ca.client.id = RS;
    ca.client.auth_method = auth_method;
    ca.client.source = src;
    ca.secret_used = secret;
    return ca;
}

Test(introspect, who_may_call)
{
    clientauth ca = caller("client_secret_basic", CLIENT_CLI, true);
    cr_assert(introspect_caller_allowed(&ca));
    ca = caller("client_secret_post", CLIENT_CLI, true);
    cr_assert(introspect_caller_allowed(&ca));
    ca = caller("none", CLIENT_CLI, false);
    cr_assert_not(introspect_caller_allowed(&ca), "public client");
    ca = caller("client_secret_basic", CLIENT_DCR, true);
    cr_assert_not(introspect_caller_allowed(&ca), "dynamically registered");
    ca = caller("none", CLIENT_CIMD, false);
    cr_assert_not(introspect_caller_allowed(&ca), "metadata-document client");
    ca = caller("client_secret_basic", CLIENT_CLI, true);
    ca.err = OE_INVALID_CLIENT;
    cr_assert_not(introspect_caller_allowed(&ca), "failed authentication");
}

Test(introspect, jwt_claims)
{
    introspect_ctx c = {.issuer = ISS, .caller = RS, .now = NOW};
    json_t *resp = json_pack("{s:b}", "active", 0);
    json_t *claims = introspect_jwt_claims(&c, resp);
    json_decref(resp); /* the claims hold their own reference */
    cr_assert_not_null(claims);
    char *text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_str_eq(text, "{\"iss\":\"" ISS "\",\"aud\":\"" RS "\",\"iat\":1800000000,"
                           "\"token_introspection\":{\"active\":false}}");
    free(text);
    json_decref(claims);
}

/* An access record whose username is not UTF-8 (never written by Wattle, but a store is a
 * file): the answer is refused as a whole (WT_NOMEM), never sent as invalid JSON. */
static wt_status put_bad_username(store_txn *t, void *arg)
{
    (void)arg;
    return put_user_access(t, "al\xffice");
}

Test(introspect, stored_string_not_utf8_fails_whole)
{
    make_fixture();
    cr_assert_eq(store_write_sync(st, put_bad_username, NULL), WT_OK);
    store_reader *r = store_reader_new(st);
    store_txn *t;
    json_t *o = json_true();
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    introspect_ctx c = {.issuer = ISS, .caller = RS, .now = NOW};
    cr_assert_eq(introspect_token(t, &c, fx.at, &o), WT_NOMEM);
    cr_assert_null(o);
    store_reader_end(r);
    store_reader_free(r);
}

Test(introspect, accept_negotiation)
{
    cr_assert(introspect_wants_jwt("application/token-introspection+jwt"));
    cr_assert(introspect_wants_jwt("Application/Token-Introspection+JWT"));
    cr_assert(introspect_wants_jwt("application/json;q=0.5, application/token-introspection+jwt"));
    cr_assert(introspect_wants_jwt("application/token-introspection+jwt; q=0.9"));
    cr_assert(introspect_wants_jwt("application/token-introspection+jwt;charset=utf-8;q=1"));
    cr_assert_not(introspect_wants_jwt(NULL));
    cr_assert_not(introspect_wants_jwt(""));
    cr_assert_not(introspect_wants_jwt("application/json"));
    cr_assert_not(introspect_wants_jwt("*/*"));
    cr_assert_not(introspect_wants_jwt("application/jwt"));
    cr_assert_not(introspect_wants_jwt("application/token-introspection+jwtx"));
    cr_assert_not(introspect_wants_jwt("application/token-introspection+jwt;q=0"));
    cr_assert_not(introspect_wants_jwt("application/token-introspection+jwt; q=0.000"));
}
