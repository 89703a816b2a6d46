/* test_doccache.c — the per-thread parsed-document cache: hits only on identical bytes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "doccache.h"

static json_t *get(doccache *c, const char *key, const char *raw)
{
    return doccache_parse(c, key, strlen(key), raw, strlen(raw));
}

Test(doccache, same_bytes_share_one_parse)
{
    doccache *c = doccache_new(8);
    cr_assert_not_null(c);
    json_t *a = get(c, "u1", "{\"username\":\"alice\"}");
    json_t *b = get(c, "u1", "{\"username\":\"alice\"}");
    cr_assert_not_null(a);
    cr_assert_eq(a, b, "identical bytes must be served from the cache");
    cr_assert_str_eq(json_string_value(json_object_get(b, "username")), "alice");
    json_decref(a);
    json_decref(b);
    doccache_free(c);
}

Test(doccache, changed_bytes_are_parsed_again)
{
    doccache *c = doccache_new(8);
    json_t *a = get(c, "u1", "{\"username\":\"alice\"}");
    /* same length, one byte differs: the record was changed by someone else */
    json_t *b = get(c, "u1", "{\"username\":\"alicf\"}");
    cr_assert_neq(a, b);
    cr_assert_str_eq(json_string_value(json_object_get(a, "username")), "alice",
                     "a reference taken before the change stays valid and unchanged");
    cr_assert_str_eq(json_string_value(json_object_get(b, "username")), "alicf");
    json_t *shorter = get(c, "u1", "{\"username\":\"al\"}");
    cr_assert_str_eq(json_string_value(json_object_get(shorter, "username")), "al");
    json_decref(a);
    json_decref(b);
    json_decref(shorter);
    doccache_free(c);
}

Test(doccache, one_slot_holds_the_last_of_colliding_keys)
{
    doccache *c = doccache_new(1); /* every key collides */
    json_t *a = get(c, "u1", "{\"n\":1}");
    json_t *b = get(c, "u2", "{\"n\":2}");
    json_t *a2 = get(c, "u1", "{\"n\":1}");
    cr_assert_eq(json_integer_value(json_object_get(a2, "n")), 1);
    cr_assert_eq(json_integer_value(json_object_get(b, "n")), 2);
    cr_assert_neq(a, a2, "u2 evicted u1, so u1 was parsed again");
    json_decref(a);
    json_decref(b);
    json_decref(a2);
    doccache_free(c);
}

Test(doccache, bytes_that_are_not_json_give_null_and_keep_the_entry)
{
    doccache *c = doccache_new(4);
    json_t *a = get(c, "u1", "{\"n\":1}");
    cr_assert_null(get(c, "u1", "{\"n\":"));
    cr_assert_null(get(c, "u1", ""));
    json_t *b = get(c, "u1", "{\"n\":1}");
    cr_assert_eq(a, b);
    json_decref(a);
    json_decref(b);
    doccache_free(c);
    doccache_free(NULL);
}

static void *other_thread(void *arg)
{
    *(doccache **)arg = doccache_of_thread(DOCCACHE_CLIENTS);
    return NULL; /* its cache is freed as the thread ends (ASan builds report a leak if not) */
}

Test(doccache, each_thread_has_its_own_cache_of_each_kind)
{
    doccache *mine = doccache_of_thread(DOCCACHE_CLIENTS);
    cr_assert_not_null(mine);
    cr_assert_eq(doccache_of_thread(DOCCACHE_CLIENTS), mine, "made once per thread");
    cr_assert_neq(doccache_of_thread(DOCCACHE_USERS), mine, "one cache per kind");
    doccache *theirs = NULL;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, other_thread, &theirs), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_not_null(theirs);
    cr_assert_neq(theirs, mine, "threads never share a cache");
}
