/* trivial.c — the benchmark's baseline: the smallest h2o 2.2.5 evloop server that answers every
 * request with the same small JSON body (PLATFORM.md §1: one evloop per thread, each thread its
 * own SO_REUSEPORT listener on 127.0.0.1). tests/bench/run.sh measures it in the same run as
 * Wattle and prints every Wattle figure as a ratio to it.
 *
 *   wattle_bench_trivial PORT [THREADS [CHASE_MB HOPS]]   (default 2 threads; SIGINT/SIGTERM
 *                                                          stops it)
 *
 * With CHASE_MB and HOPS, a control rather than the baseline: each request first follows HOPS
 * dependent pointers at random through CHASE_MB MiB of memory, the way a B-tree lookup in a
 * large store misses the caches, so that a run can show what that much memory latency per
 * request does to a server that is otherwise trivial (docs/performance.md, fifth session).
 *
 * Its loops are placed the way Wattle places its own (config pin_threads, src/cpus.c): loop i
 * pinned to the i-th CPU the process may run on, unless there are more loops than such CPUs,
 * so that the baseline and the server under test differ only in the work per request.
 * TRIVIAL_PIN=0 in the environment leaves them unpinned (run.sh --no-pin). */
#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static h2o_globalconf_t gc;
static int port;

static const char body[] = "{\"ok\":true}";

static size_t *chase; /* a random cycle through chase_n slots, one per cache line */
static size_t chase_n, hops;
static _Thread_local size_t chase_at;
static volatile size_t chase_sink;

static void chase_init(size_t mb)
{
    enum { STRIDE = 64 / sizeof(size_t) };
    size_t n = mb * 1024 * 1024 / 64;
    size_t *order = malloc(n * sizeof *order);
    chase = malloc(n * 64);
    if (!order || !chase) {
        fprintf(stderr, "wattle_bench_trivial: out of memory for the chase buffer\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    srand(7);
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates: one cycle through every line */
        size_t j = ((size_t)rand() << 16 ^ (size_t)rand()) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        chase[order[i] * STRIDE] = order[(i + 1) % n] * STRIDE;
    free(order);
    chase_n = n;
}

/* What one request's chase costs on this machine, printed for run.sh's table. */
static double chase_ns(void)
{
    enum { ROUNDS = 20000 };
    struct timespec a, b;
    size_t at = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t r = 0; r < ROUNDS * hops; r++)
        at = chase[at];
    clock_gettime(CLOCK_MONOTONIC, &b);
    chase_sink = at;
    return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / ROUNDS;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    if (hops) {
        size_t at = chase_at;
        for (size_t i = 0; i < hops; i++)
            at = chase[at];
        chase_at = at;
        chase_sink = at;
    }
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = sizeof body - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, sizeof body - 1);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock)
        h2o_accept(listener->data, sock);
}

static int nthreads;

/* Pins loop idx as src/cpus.c would (that file is Wattle's; the baseline links none of it). */
static void pin_loop(int idx)
{
    const char *env = getenv("TRIVIAL_PIN");
    cpu_set_t allowed, one;
    if ((env && strcmp(env, "0") == 0) || sched_getaffinity(0, sizeof allowed, &allowed) != 0 ||
        nthreads > CPU_COUNT(&allowed))
        return;
    for (int c = 0, seen = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &allowed) || seen++ != idx)
            continue;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0)
            perror("wattle_bench_trivial: pin");
        return;
    }
}

static void *thread_main(void *arg)
{
    pin_loop((int)(uintptr_t)arg);
    h2o_context_t ctx;
    h2o_accept_ctx_t actx = {0};
    if (chase_n) /* each thread starts at its own line (one of 64 spread over the buffer) */
        chase_at = (size_t)(uintptr_t)arg % 64 * (chase_n / 64) * (64 / sizeof(size_t));
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &gc);
    actx.ctx = &ctx;
    actx.hosts = gc.hosts;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0) {
        perror("wattle_bench_trivial: listen");
        exit(2);
    }
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = &actx;
    h2o_socket_read_start(sock, on_accept);
    for (;;)
        h2o_evloop_run(loop, INT32_MAX);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (port = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: wattle_bench_trivial PORT [THREADS]\n");
        return 1;
    }
    nthreads = argc > 2 ? atoi(argv[2]) : 2;
    if (nthreads < 1)
        nthreads = 1;
    if (argc > 4 && atoi(argv[3]) > 0 && atoi(argv[4]) > 0) {
        chase_init((size_t)atoi(argv[3]));
        hops = (size_t)atoi(argv[4]);
        printf("chase_ns_per_request=%.0f\n", chase_ns());
    }
    h2o_config_init(&gc);
    gc.server_name = h2o_iovec_init(H2O_STRLIT("trivial"));
    h2o_hostconf_t *host =
        h2o_config_register_host(&gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_req;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < nthreads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, (void *)(uintptr_t)i);
    }
    printf("http://127.0.0.1:%d\n", port);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    _exit(0); /* a baseline: no graceful shutdown needed */
}
