/* http.h — the HTTP layer's internal interface. Only src/http*.c include h2o.h: the server
 * core (http.c: listeners, loop threads, routing, response helpers, async jobs) and one thin file
 * per group of endpoints that turns requests into calls of the services and their results into
 * responses. */
#ifndef WATTLE_HTTP_H
#define WATTLE_HTTP_H
#include <h2o.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "app.h"
#include "form.h"
#include "oauth.h"
#include "store.h"
#include "workers.h"

typedef struct http_thread {
    int idx;
    app *a;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_socket_t **listeners;
    size_t nlisteners;
    h2o_multithread_receiver_t done_rx; /* completions of store ops and worker jobs */
    h2o_multithread_receiver_t stop_rx; /* wakes the loop at shutdown */
    store_reader *reader;
    atomic_bool stop;
    size_t pending_jobs;
    bool drained;                /* shut down cleanly: its loop may be destroyed */
    h2o_timeout_t sse_heartbeat; /* cfg.gateway_sse_heartbeat (http_resource.c) */
    pthread_t tid;
    int cpu; /* the CPU this loop is pinned to, or -1 (cpus.h) */
} http_thread;

/* Runs the server until SIGINT/SIGTERM. The first line on stdout is the issuer. Returns the
 * process exit status (0, or 2 for a failed bind). */
int http_serve(app *a);

http_thread *http_thread_of(h2o_req_t *req);

/* ---- requests ---- */
/* The client's address as text (trusted_proxies' X-Forwarded-For honoured). Pool memory. */
const char *http_peer(h2o_req_t *req);
/* A request header's value as a NUL-terminated pool string, or NULL. *count gets how many
 * times it was sent when count is not NULL. */
const char *http_header(h2o_req_t *req, const h2o_token_t *tok, const char *name, size_t *count);
/* The value of cookie `name` (all Cookie headers searched), as a pool string, or NULL. */
const char *http_cookie(h2o_req_t *req, const char *name);
/* True when the client reached us over https (directly, or via a trusted proxy). */
bool http_is_https(h2o_req_t *req);
/* The query string as parsed parameters (empty when none). On a malformed query sends
 * 400 invalid_request and returns -1. */
int http_query(h2o_req_t *req, form_t *f);
/* Parses the body of a POST to an OAuth endpoint (form or JSON per Content-Type; caps at
 * max_body_bytes). On error sends the OAuth error (413/400) and returns -1. */
int http_body_params(h2o_req_t *req, form_t *f, bool allow_json);

/* Applies the rate limit of class c (ratelimit.h) to this request's address; when over it,
 * sends 429 with Retry-After and returns -1. */
int http_rate_limit(h2o_req_t *req, int c);

/* Adds the access log to a pathconf (the gateway's proxy pathconfs use it too). */
void http_access_log_register(h2o_pathconf_t *pc);

/* ---- responses ---- */
/* The only way this server sends a whole response body (status and headers set): h2o_send_inline
 * for a body, and for an empty one (204, redirects) the head alone; see http.c for why h2o's
 * own call must not be given an empty body. */
void http_send_inline(h2o_req_t *req, const char *body, size_t len);
/* Adds a header (name literal, value copied into the pool). */
void http_add(h2o_req_t *req, const char *name, const char *value);
/* CORS for public endpoints (SPEC §2): Access-Control-Allow-Origin: * and exposed headers. */
void http_cors(h2o_req_t *req);
/* Sends a JSON document (steals `body`), with Cache-Control: no-store. */
void http_json(h2o_req_t *req, int status, json_t *body);
/* Sends pre-serialised JSON (copied). */
void http_json_text(h2o_req_t *req, int status, const char *json, size_t len, bool cacheable);
/* {"error": …, "error_description": …} with the table's status (or `status` if non-zero). The
 * description is cleaned to RFC 6749's charset. */
void http_oauth_error(h2o_req_t *req, int status, enum oauth_error e, const char *desc);
/* A plain HTML page (security headers included). */
void http_html(h2o_req_t *req, int status, const char *html, size_t len);
/* The same for a page whose form's answer redirects to form_target, a CSP source expression
 * ("https://app.example", "com.example.app:"): browsers apply form-action to that redirect. */
void http_html_form(h2o_req_t *req, int status, const char *html, size_t len,
                    const char *form_target);
/* 303/302 to a Location. */
void http_redirect(h2o_req_t *req, int status, const char *location);
void http_not_found(h2o_req_t *req);
void http_method_not_allowed(h2o_req_t *req, const char *allow);

/* ---- async work ----
 * A job keeps its h2o request across a wait on the store writer or a worker thread. The request
 * may vanish meanwhile (HTTP/2 reset, disconnect): finish is then called with req == NULL and
 * must only release what the job holds. finish always runs on the job's loop thread. */
typedef struct http_job http_job;
typedef void (*http_finish_fn)(http_job *job, h2o_req_t *req);
struct http_job {
    h2o_multithread_message_t msg; /* must stay first */
    http_thread *thr;
    h2o_req_t *req;
    struct http_job_ref *ref;
    http_finish_fn finish;
    store_op op;
    worker_job wjob;
};
/* Binds job to req (job must be zeroed, e.g. calloc). */
void http_job_init(http_job *job, h2o_req_t *req, http_finish_fn finish);
/* Runs `run(txn, arg)` in the writer's next batch; finish is called after the commit with
 * job->op.status set. The _restartable form is for an op that meets store.h's rules for
 * restartable ops (it then shares the batch's transaction instead of nesting its own). */
void http_job_store(http_job *job, store_run_fn run, void *arg);
void http_job_store_restartable(http_job *job, store_run_fn run, void *arg);
/* Runs `run` on a hashing worker (or on `pool`); then finish. */
void http_job_worker(http_job *job, void (*run)(worker_job *w));
void http_job_worker_on(http_job *job, struct workers *pool, void (*run)(worker_job *w));

/* ---- handlers (one file each group) ---- */
typedef int (*http_handler_fn)(http_thread *t, h2o_req_t *req);
int http_wellknown_as(http_thread *t, h2o_req_t *req);
int http_wellknown_prm(http_thread *t, h2o_req_t *req);
int http_healthz(http_thread *t, h2o_req_t *req);
int http_token(http_thread *t, h2o_req_t *req);
int http_revoke(http_thread *t, h2o_req_t *req);
/* http_introspect.c */
int http_introspect(http_thread *t, h2o_req_t *req);
int http_jwks(http_thread *t, h2o_req_t *req);
/* http_resource.c: the bearer gateway, forward-auth, userinfo */
int http_userinfo(http_thread *t, h2o_req_t *req);
int http_forward_auth(http_thread *t, h2o_req_t *req);
/* The gateway for requests under a configured resource's path (res: index into a->res). */
int http_gateway(http_thread *t, h2o_req_t *req, size_t res);
/* Registers one pathconf per resource with an upstream (gateway check + h2o proxy) on host;
 * called by http.c before the catch-all "/" pathconf. */
void http_gateway_register(app *a, h2o_hostconf_t *host);
/* A resource at "/" with an upstream cannot have a pathconf of its own (it would shadow every
 * endpoint): http.c calls this on its catch-all "/" pathconf right after creating the router
 * handler, which registers the proxy behind it; http_gateway then returns -1 for accepted
 * requests to pass them on. No-op without such a resource. */
void http_gateway_register_root(app *a, h2o_pathconf_t *root);
/* http_register.c: RFC 7591 / RFC 7592 */
int http_register(http_thread *t, h2o_req_t *req);
int http_register_manage(http_thread *t, h2o_req_t *req);
/* The 401/400 answer to a failed client authentication (WWW-Authenticate: Basic when Basic
 * was tried) and its security event. */
struct clientauth_s;
void http_client_auth_failed(h2o_req_t *req, const struct clientauth_s *ca);
/* Begins the thread's read and authenticates the calling client for `endpoint` (its path, for
 * assertion audiences). 0 on success; -1 when an answer was sent. Either way *txn is the read
 * (or NULL) that the caller ends. */
int http_client_auth(http_thread *t, h2o_req_t *req, const form_t *f, const char *endpoint,
                     store_txn **txn, struct clientauth_s *ca);
int http_authorize(http_thread *t, h2o_req_t *req);
int http_logout(http_thread *t, h2o_req_t *req);

#endif
