/* cpus.h — where the event loops run: the CPUs this process may use (its affinity mask, which a
 * cpuset or `taskset` narrows) and pinning a thread to one of them (config `pin_threads`). No h2o
 * here. */
#ifndef WATTLE_CPUS_H
#define WATTLE_CPUS_H
#include <stdbool.h>

#define CPUS_MAX 1024 /* CPU_SETSIZE */

typedef struct {
    int n;
    int cpu[CPUS_MAX]; /* ascending CPU numbers */
} cpu_list;

/* Fills l with the CPUs the calling thread may run on; false (l->n = 0) when that is unknown. */
bool cpus_allowed(cpu_list *l);
/* The CPU loop idx of nloops gets: the idx-th allowed CPU, or -1 when the loops are not pinned
 * (more loops than allowed CPUs, where two pinned loops would share a CPU for good, or an
 * unknown mask). */
int cpus_slot(const cpu_list *l, int nloops, int idx);
/* Pins the calling thread to cpu; false if the kernel refuses. */
bool cpus_pin_self(int cpu);
/* "0-3,6" for l's first n CPUs, into out (truncated to cap). */
void cpus_format(const cpu_list *l, int n, char *out, size_t cap);

#endif
