/* test_buf.c — the bounded buffer: caps, sticky failure, escaping. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, empty_is_empty_string)
{
    buf_t b;
    buf_init(&b, 16);
    cr_assert_str_eq(buf_cstr(&b), "");
    char *s = buf_steal(&b);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    free(s);
    buf_free(&b);
}

Test(buf, add_and_steal)
{
    buf_t b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_adds(&b, "hello"), WT_OK);
    cr_assert_eq(buf_add(&b, ", world!!", 7), WT_OK);
    cr_assert_eq(buf_printf(&b, " %d-%s", 42, "x"), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "hello, world 42-x");
    cr_assert_eq(b.len, strlen("hello, world 42-x"));
    char *s = buf_steal(&b);
    cr_assert_str_eq(s, "hello, world 42-x");
    free(s);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.p);
    cr_assert_eq(b.max, 1024);
    cr_assert_eq(buf_adds(&b, "again"), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "again");
    buf_free(&b);
}

Test(buf, grows_past_initial_allocation)
{
    buf_t b;
    buf_init(&b, 100000);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(buf_add(&b, "0123456789", 10), WT_OK);
    cr_assert_eq(b.len, 10000);
    cr_assert_eq(strlen(buf_cstr(&b)), 10000);
    buf_free(&b);
}

Test(buf, exactly_max_fits)
{
    buf_t b;
    buf_init(&b, 5);
    cr_assert_eq(buf_adds(&b, "abcde"), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "abcde");
    cr_assert_eq(buf_adds(&b, "f"), WT_TOOBIG);
    buf_free(&b);
}

Test(buf, overflow_frees_and_is_sticky)
{
    buf_t b;
    buf_init(&b, 8);
    cr_assert_eq(buf_adds(&b, "1234"), WT_OK);
    cr_assert_eq(buf_adds(&b, "56789"), WT_TOOBIG);
    cr_assert(b.failed);
    cr_assert_null(b.p);
    cr_assert_str_eq(buf_cstr(&b), "");
    cr_assert_neq(buf_adds(&b, "x"), WT_OK);
    cr_assert_neq(buf_printf(&b, "%s", "x"), WT_OK);
    cr_assert_neq(buf_add_html(&b, "x"), WT_OK);
    cr_assert_neq(buf_add_urlenc(&b, "x", 1), WT_OK);
    cr_assert_null(buf_steal(&b));
    buf_free(&b);
    cr_assert_not(b.failed);
    cr_assert_eq(buf_adds(&b, "ok"), WT_OK);
    buf_free(&b);
}

Test(buf, printf_over_cap)
{
    buf_t b;
    buf_init(&b, 10);
    cr_assert_eq(buf_printf(&b, "%s", "0123456789A"), WT_TOOBIG);
    cr_assert(b.failed);
    buf_free(&b);
}

Test(buf, printf_long_output)
{
    buf_t b;
    buf_init(&b, 4096);
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    cr_assert_eq(buf_printf(&b, "[%s]", big), WT_OK);
    cr_assert_eq(b.len, 1002);
    cr_assert_eq(buf_cstr(&b)[1001], ']');
    buf_free(&b);
}

Test(buf, html_escaping)
{
    buf_t b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_add_html(&b, "<a href=\"x\">Tom & Jerry's</a>"), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    buf_free(&b);
    cr_assert_eq(buf_add_html(&b, NULL), WT_OK);
    cr_assert_eq(buf_add_html(&b, "plain"), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "plain");
    buf_free(&b);
}

Test(buf, html_escaping_respects_cap)
{
    buf_t b;
    buf_init(&b, 6);
    cr_assert_eq(buf_add_html(&b, "a&b"), WT_TOOBIG); /* "a&amp;b" is 7 bytes */
    buf_free(&b);
}

Test(buf, urlenc)
{
    buf_t b;
    buf_init(&b, 1024);
    const char in[] = "a b+c/é~-._{\"}\n&=?#%";
    cr_assert_eq(buf_add_urlenc(&b, in, strlen(in)), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "a%20b%2Bc%2F%C3%A9~-._%7B%22%7D%0A%26%3D%3F%23%25");
    buf_free(&b);
    const char nul[] = {'x', '\0', 'y'};
    cr_assert_eq(buf_add_urlenc(&b, nul, 3), WT_OK);
    cr_assert_str_eq(buf_cstr(&b), "x%00y");
    buf_free(&b);
}

Test(buf, free_is_null_safe)
{
    buf_free(NULL);
}
