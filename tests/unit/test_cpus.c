/* test_cpus.c — which CPU each event loop is pinned to (cpus.h). */
#include <criterion/criterion.h>
#include <sched.h>
#include <string.h>

#include "cpus.h"

static cpu_list list_of(const int *cpus, int n)
{
    cpu_list l = {.n = n};
    memcpy(l.cpu, cpus, (size_t)n * sizeof *cpus);
    return l;
}

Test(cpus, loops_take_the_allowed_cpus_in_order)
{
    const int allowed[] = {2, 3, 6, 7};
    cpu_list l = list_of(allowed, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(cpus_slot(&l, 4, i), allowed[i]);
    /* fewer loops than CPUs: the first ones, the rest stay free for the writer and workers */
    cr_assert_eq(cpus_slot(&l, 2, 0), 2);
    cr_assert_eq(cpus_slot(&l, 2, 1), 3);
}

Test(cpus, more_loops_than_cpus_are_not_pinned)
{
    const int allowed[] = {0, 1};
    cpu_list l = list_of(allowed, 2);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cpus_slot(&l, 3, i), -1, "loop %d", i);
}

Test(cpus, unknown_mask_and_bad_index_are_not_pinned)
{
    cpu_list none = {.n = 0};
    cr_assert_eq(cpus_slot(&none, 1, 0), -1);
    const int allowed[] = {0, 1};
    cpu_list l = list_of(allowed, 2);
    cr_assert_eq(cpus_slot(&l, 2, 2), -1);
    cr_assert_eq(cpus_slot(&l, 2, -1), -1);
    cr_assert_eq(cpus_slot(&l, 0, 0), -1);
}

Test(cpus, format_names_ranges)
{
    const int allowed[] = {0, 1, 2, 3, 6, 8, 9};
    cpu_list l = list_of(allowed, 7);
    char out[64];
    cpus_format(&l, 7, out, sizeof out);
    cr_assert_str_eq(out, "0-3,6,8-9");
    cpus_format(&l, 2, out, sizeof out);
    cr_assert_str_eq(out, "0-1");
    cpus_format(&l, 1, out, sizeof out);
    cr_assert_str_eq(out, "0");
    char tiny[4];
    cpus_format(&l, 7, tiny, sizeof tiny);
    cr_assert_eq(strlen(tiny) < sizeof tiny, true, "truncated, still terminated");
}

Test(cpus, the_allowed_mask_is_read_and_a_thread_can_be_pinned)
{
    cpu_list l;
    cr_assert(cpus_allowed(&l));
    cr_assert_gt(l.n, 0);
    for (int i = 1; i < l.n; i++)
        cr_assert_gt(l.cpu[i], l.cpu[i - 1], "ascending");
    cr_assert(cpus_pin_self(l.cpu[0]));
    cpu_set_t now;
    CPU_ZERO(&now);
    cr_assert_eq(sched_getaffinity(0, sizeof now, &now), 0);
    cr_assert_eq(CPU_COUNT(&now), 1);
    cr_assert(CPU_ISSET(l.cpu[0], &now));
    cr_assert_not(cpus_pin_self(-1));
}
