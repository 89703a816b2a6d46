/* Unit tests for clients.c: the per-thread cache of parsed client documents must never serve a
 * stale document (SPEC §1: a CLI change applies from the next request). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "store.h"
#include "tmpstore.h"

static char tmpdir[64];
static store *st;

static void setup(void)
{
    st = tmpstore_open(tmpdir, sizeof tmpdir, NULL, 0, "clients");
}

static void teardown(void)
{
    tmpstore_close(&st, tmpdir);
}

TestSuite(clients, .init = setup, .fini = teardown);

static wt_status put_doc(store_txn *t, void *arg)
{
    return client_store(t, arg, false);
}

static void store_client(const char *name)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "client_id", "ocl_test", "client_name",
                            name, "token_endpoint_auth_method", "none", "scope", "read:assets",
                            "grant_types", "authorization_code");
    cr_assert_eq(store_write_sync(st, put_doc, doc), WT_OK);
    json_decref(doc);
}

static wt_status client_remove_run(store_txn *t, void *arg)
{
    (void)arg;
    return client_remove(t, "ocl_test");
}

static char *load_name(bool shared)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    client_t c;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(shared ? client_load_shared(t, "ocl_test", &c) : client_load(t, "ocl_test", &c),
                 WT_OK);
    char *name = strdup(c.name);
    client_free(&c);
    store_reader_end(r);
    store_reader_free(r);
    return name;
}

Test(clients, cached_document_follows_the_store)
{
    store_client("first");
    char *a = load_name(true), *b = load_name(true);
    cr_assert_str_eq(a, "first");
    cr_assert_str_eq(b, "first");
    store_client("second"); /* as the CLI would, between two requests */
    char *c = load_name(true);
    cr_assert_str_eq(c, "second", "the cache served a stale client document");
    free(a);
    free(b);
    free(c);
}

Test(clients, removed_client_is_not_served_from_the_cache)
{
    store_client("gone soon");
    char *a = load_name(true);
    free(a);
    cr_assert_eq(store_write_sync(st, client_remove_run, NULL), WT_OK);
    store_reader *r = store_reader_new(st);
    store_txn *t;
    client_t c;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(client_load_shared(t, "ocl_test", &c), WT_NOTFOUND);
    store_reader_end(r);
    store_reader_free(r);
}

Test(clients, plain_load_parses_the_stored_document)
{
    store_client("plain");
    char *a = load_name(false);
    cr_assert_str_eq(a, "plain");
    free(a);
}
