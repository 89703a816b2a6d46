/* workers.c — a fixed pool of pthreads draining one FIFO queue of worker_jobs. */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "workers.h"

struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    worker_job *head, *tail;
    bool stopping;
    int n;
    bool background;
    char name[16]; /* the threads' name (top -H, perf), at most 15 characters */
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    workers *w = arg;
    pthread_setname_np(pthread_self(), w->name);
    /* SCHED_IDLE: the thread runs on CPU time nothing else wants, so a burst of logins cannot
     * take the cores from the event loops. Where that is refused, the lowest niceness (on
     * Linux, setpriority on a tid applies to that one thread). */
    struct sched_param idle = {0};
    if (w->background && pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        worker_job *j = w->head;
        if (!j)
            break; /* stopping and drained */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->next = NULL;
        j->run(j);
        if (j->done)
            j->done(j);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

workers *workers_new(int n, bool background, const char *name)
{
    workers *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->background = background;
    snprintf(w->name, sizeof w->name, "%s", name);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->threads = calloc((size_t)n, sizeof *w->threads);
    if (!w->threads) {
        free(w);
        return NULL;
    }
    for (; w->n < n; w->n++)
        if (pthread_create(&w->threads[w->n], NULL, worker_main, w) != 0)
            break;
    if (w->n == 0) {
        workers_free(w);
        return NULL;
    }
    return w;
}

void workers_free(workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->threads);
    free(w);
}

void workers_submit(workers *w, worker_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}
