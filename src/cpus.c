/* cpus.c — the CPUs this process may use and pinning a thread to one (contract in cpus.h).
 *
 * Why pin: each event loop owns its listening socket (SO_REUSEPORT) and its connections for
 * good, so on a host the server has to itself little is gained by letting the scheduler move
 * it, and a loop that stays on one CPU keeps that CPU's caches (the upper pages of the token tree,
 * h2o's and the allocator's state). On the 2-vCPU development VM, with wrk on the same CPUs,
 * pinning the two loops took the echo's p99 at 1M tokens from 1.1-1.9x the trivial server's to
 * 0.7-1.2x (docs/performance.md, "Sixth session: pinned event loops"). The store writer and the
 * hashing workers are not pinned: they run wherever a CPU is free. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "cpus.h"

bool cpus_allowed(cpu_list *l)
{
    cpu_set_t set;
    l->n = 0;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return false;
    for (int c = 0; c < CPU_SETSIZE && l->n < CPUS_MAX; c++)
        if (CPU_ISSET(c, &set))
            l->cpu[l->n++] = c;
    return l->n > 0;
}

int cpus_slot(const cpu_list *l, int nloops, int idx)
{
    if (l->n <= 0 || nloops <= 0 || nloops > l->n || idx < 0 || idx >= nloops)
        return -1;
    return l->cpu[idx];
}

bool cpus_pin_self(int cpu)
{
    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void cpus_format(const cpu_list *l, int n, char *out, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return;
    out[0] = '\0';
    if (n > l->n)
        n = l->n;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && l->cpu[j + 1] == l->cpu[j] + 1)
            j++;
        int k = j > i ? snprintf(out + o, cap - o, "%s%d-%d", o ? "," : "", l->cpu[i], l->cpu[j])
                      : snprintf(out + o, cap - o, "%s%d", o ? "," : "", l->cpu[i]);
        if (k < 0 || (size_t)k >= cap - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)k;
        i = j + 1;
    }
}
