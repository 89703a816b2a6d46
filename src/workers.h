/* workers.h — a small pool of threads for slow, CPU-bound work that must not run on an event
 * loop (password hashing). Same shape as the store's writer: the caller submits a job with a
 * `run` (on a worker) and a `done` (also on the worker, after run); the http layer's done
 * forwards the result to its loop thread. No h2o here. */
#ifndef WATTLE_WORKERS_H
#define WATTLE_WORKERS_H
#include <stdbool.h>
#include <stddef.h>

typedef struct workers workers;
typedef struct worker_job worker_job;
struct worker_job {
    void (*run)(worker_job *job);  /* on a worker thread */
    void (*done)(worker_job *job); /* on the same worker thread, after run; may free the job */
    worker_job *next;              /* owned by the queue */
};

/* Starts n threads named `name` (at most 15 characters). Background threads are scheduled
 * SCHED_IDLE: they only get CPU time the other threads leave. NULL on failure. */
workers *workers_new(int n, bool background, const char *name);
/* Runs what is queued, stops and joins the threads, frees the pool. NULL-safe. */
void workers_free(workers *w);
void workers_submit(workers *w, worker_job *job);

#endif
