/* http.c — the HTTP server core: listeners, one h2o event loop per thread, exact-path routing
 * (404 vs 405 + Allow), the access log, response helpers, request-body parsing and the async
 * job mechanism that carries a request across a store write or a worker job. Endpoint logic
 * lives in the other http_*.c files; protocol rules live in the services. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "clients.h"
#include "cpus.h"
#include "gc.h"
#include "metadata.h"
#include "ratelimit.h"
#include "token.h"

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_DELETE = 8, M_OPTIONS = 16, M_HEAD = 32 };
#define M_ANY 0xff

struct route {
    const char *path;
    unsigned methods;
    bool cors;
    http_handler_fn fn;
};

/* Exact paths. Prefix routes (protected-resource metadata, registration management,
 * forward-auth, gateway resources) are matched in route_prefix(). */
static const struct route routes[] = {
    {"/.well-known/oauth-authorization-server", M_GET, true, http_wellknown_as},
    {"/healthz", M_GET, false, http_healthz},
    {"/oauth/token", M_POST, true, http_token},
    {"/token", M_POST, true, http_token},
    {"/oauth/revoke", M_POST, true, http_revoke},
    {"/revoke", M_POST, true, http_revoke},
    {"/oauth/authorize", M_GET | M_POST, false, http_authorize},
    {"/authorize", M_GET | M_POST, false, http_authorize},
    {"/oauth/logout", M_POST, false, http_logout},
    {"/oauth/introspect", M_POST, true, http_introspect},
    {"/oauth/jwks", M_GET, true, http_jwks},
    {"/oauth/userinfo", M_GET, true, http_userinfo},
    {"/oauth/register", M_POST, true, http_register},
    {"/register", M_POST, true, http_register},
    {"/oauth/forward-auth", M_ANY, false, http_forward_auth},
};

struct router {
    h2o_handler_t super;
    app *a;
};

struct access_logger {
    h2o_logger_t super;
};

struct http_job_ref {
    http_job *job;
};

/* The periodic purge: thread 0 submits one bounded gc step to the store writer every
 * PURGE_MS, never two at once. */
#define PURGE_MS 10000
#define PURGE_SCAN 2000
struct purger {
    store_op op;
    gc_state state;
    atomic_bool busy;
    h2o_timeout_t timeout;
    h2o_timeout_entry_t entry;
    app *a;
};

/* The server: everything http_serve sets up, shared read-only by the loop threads. */
struct server {
    app *a;
    h2o_globalconf_t gc;
    http_thread *threads;
    int nthreads;
    SSL_CTX **ssl;    /* per listen entry, NULL for plain */
    int *ports;       /* bound port per listen entry */
    atomic_int ready; /* threads whose listeners are bound */
    atomic_bool bind_failed;
    struct purger purge;
};

http_thread *http_thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(http_thread, ctx, req->conn->ctx);
}

/* ---------------------------------------------------------------- responses */

void http_add(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL,
                          h2o_strdup(&req->pool, value, SIZE_MAX).base, strlen(value));
}

void http_cors(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   H2O_STRLIT("*"));
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                          H2O_STRLIT("WWW-Authenticate, Retry-After, Mcp-Session-Id"));
}

/* h2o_send_inline(req, "", 0) hands the socket the head and then a zero-length buffer. h2o
 * 2.2.5's evloop writer leaves that empty buffer unconsumed after the writev, so the socket waits
 * for EPOLLOUT and writes 0 bytes in a later loop turn: every empty response (forward-auth's 204,
 * each redirect) cost two epoll_ctl calls, a second writev and a turn of the loop before its
 * request completed and the connection was read again (strace: 2 writev and 2 epoll_ctl per
 * forward-auth request, against 1 and 0 for the echo). Sending no buffer, as h2o_send_inline
 * itself does for HEAD, writes the head once and completes at once. */
void http_send_inline(h2o_req_t *req, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    if (len) {
        h2o_send_inline(req, body, len);
        return;
    }
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 302: return "Found";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Client Error" : "Server Error";
    }
}

static void send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    http_send_inline(req, body, len);
}

void http_json_text(h2o_req_t *req, int status, const char *json, size_t len, bool cacheable)
{
    if (cacheable) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("public, max-age=300"));
    } else {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("pragma"), 0, NULL,
                              H2O_STRLIT("no-cache"));
    }
    send_body(req, status, "application/json", json, len);
}

void http_json(h2o_req_t *req, int status, json_t *body)
{
    /* Serialised into a stack buffer (h2o_send_inline copies it into the request's pool): no
     * growing heap string and no copy of it, which json_dumps would make on every response. */
    char stack[2048], *s = stack;
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    size_t n = body ? json_dumpb(body, stack, sizeof stack, flags) : 0;
    if (n > sizeof stack) {
        s = h2o_mem_alloc_pool(&req->pool, n);
        n = json_dumpb(body, s, n, flags);
    }
    json_decref(body);
    if (n == 0) {
        static const char oom[] = "{\"error\":\"server_error\"}";
        http_json_text(req, 500, oom, sizeof oom - 1, false);
        return;
    }
    http_json_text(req, status, s, n, false);
}

void http_oauth_error(h2o_req_t *req, int status, enum oauth_error e, const char *desc)
{
    char clean[512];
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(oauth_error_code(e)));
    if (desc) {
        oauth_desc_clean(desc, clean, sizeof clean);
        json_object_set_new(o, "error_description", json_string(clean));
    }
    http_json(req, status ? status : oauth_error_status(e), o);
}

static void security_headers(h2o_req_t *req, const char *form_target)
{
    char csp[512];
    snprintf(csp, sizeof csp,
             "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'%s%s; "
             "frame-ancestors 'none'; base-uri 'none'",
             form_target ? " " : "", form_target ? form_target : "");
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL,
                          H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL, h2o_strdup(&req->pool, csp, SIZE_MAX).base, strlen(csp));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    if (http_is_https(req))
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, NULL,
                       H2O_STRLIT("max-age=31536000"));
}

void http_html_form(h2o_req_t *req, int status, const char *html, size_t len,
                    const char *form_target)
{
    security_headers(req, form_target);
    send_body(req, status, "text/html; charset=utf-8", html, len);
}

void http_html(h2o_req_t *req, int status, const char *html, size_t len)
{
    http_html_form(req, status, html, len, NULL);
}

void http_redirect(h2o_req_t *req, int status, const char *location)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, location, SIZE_MAX).base, strlen(location));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    send_body(req, status, "text/plain; charset=utf-8", "", 0);
}

void http_not_found(h2o_req_t *req)
{
    static const char body[] = "{\"error\":\"not_found\",\"error_description\":\"no such path\"}";
    http_json_text(req, 404, body, sizeof body - 1, false);
}

void http_method_not_allowed(h2o_req_t *req, const char *allow)
{
    static const char body[] =
        "{\"error\":\"invalid_request\",\"error_description\":\"method not allowed\"}";
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("allow"), 0, NULL, allow,
                          strlen(allow));
    http_json_text(req, 405, body, sizeof body - 1, false);
}

/* ---------------------------------------------------------------- requests */

const char *http_header(h2o_req_t *req, const h2o_token_t *tok, const char *name, size_t *count)
{
    ssize_t i = tok ? h2o_find_header(&req->headers, tok, -1)
                    : h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (count) {
        size_t n = 0;
        for (ssize_t j = i; j != -1;
             j = tok ? h2o_find_header(&req->headers, tok, j)
                     : h2o_find_header_by_str(&req->headers, name, strlen(name), j))
            n++;
        *count = n;
    }
    if (i == -1)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

/* True when addr (text) is inside "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6). */
static bool addr_in(const char *addr, const char *spec)
{
    unsigned char a[16], n[16];
    char net[INET6_ADDRSTRLEN + 4];
    const char *slash = strchr(spec, '/');
    size_t nl = slash ? (size_t)(slash - spec) : strlen(spec);
    if (nl >= sizeof net)
        return false;
    memcpy(net, spec, nl);
    net[nl] = '\0';
    int fam = strchr(net, ':') ? AF_INET6 : AF_INET;
    if ((strchr(addr, ':') ? AF_INET6 : AF_INET) != fam || inet_pton(fam, addr, a) != 1 ||
        inet_pton(fam, net, n) != 1)
        return false;
    int bits = fam == AF_INET ? 32 : 128;
    int prefix = slash ? (int)strtol(slash + 1, NULL, 10) : bits;
    if (prefix < 0 || prefix > bits)
        return false;
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, n, (size_t)full) != 0)
        return false;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return rest == 0 || (a[full] & mask) == (n[full] & mask);
}

static bool peer_trusted(app *a, const char *addr)
{
    for (size_t i = 0; i < a->cfg.ntrusted_proxies; i++)
        if (addr_in(addr, a->cfg.trusted_proxies[i]))
            return true;
    return false;
}

/* The socket peer's address as text into buf. */
static void socket_peer(h2o_req_t *req, char buf[INET6_ADDRSTRLEN])
{
    struct sockaddr_storage ss;
    snprintf(buf, INET6_ADDRSTRLEN, "unknown");
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, INET6_ADDRSTRLEN);
    else if (sl && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, INET6_ADDRSTRLEN);
}

const char *http_peer(h2o_req_t *req)
{
    char buf[INET6_ADDRSTRLEN];
    socket_peer(req, buf);
    app *a = http_thread_of(req)->a;
    if (a->cfg.ntrusted_proxies && peer_trusted(a, buf)) {
        const char *xff = http_header(req, NULL, "x-forwarded-for", NULL);
        if (xff) {
            /* The right-most address is the one the trusted proxy saw. */
            const char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ')
                last++;
            return h2o_strdup(&req->pool, last, strcspn(last, " ")).base;
        }
    }
    return h2o_strdup(&req->pool, buf, SIZE_MAX).base;
}

const char *http_cookie(h2o_req_t *req, const char *name)
{
    size_t nlen = strlen(name);
    for (ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, -1); i != -1;
         i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) {
        h2o_iovec_t v = req->headers.entries[i].value;
        size_t p = 0;
        while (p < v.len) {
            while (p < v.len && (v.base[p] == ' ' || v.base[p] == ';'))
                p++;
            size_t end = p;
            while (end < v.len && v.base[end] != ';')
                end++;
            if (end - p > nlen && memcmp(v.base + p, name, nlen) == 0 && v.base[p + nlen] == '=')
                return h2o_strdup(&req->pool, v.base + p + nlen + 1, end - p - nlen - 1).base;
            p = end;
        }
    }
    return NULL;
}

bool http_is_https(h2o_req_t *req)
{
    if (req->scheme == &H2O_URL_SCHEME_HTTPS)
        return true;
    app *a = http_thread_of(req)->a;
    if (!a->cfg.ntrusted_proxies)
        return false;
    char buf[INET6_ADDRSTRLEN];
    socket_peer(req, buf);
    const char *proto = http_header(req, NULL, "x-forwarded-proto", NULL);
    return peer_trusted(a, buf) && proto && strcasecmp(proto, "https") == 0;
}

int http_rate_limit(h2o_req_t *req, int c)
{
    app *a = http_thread_of(req)->a;
    const int limits[RL_COUNT] = {a->cfg.rate_limit.token, a->cfg.rate_limit.revoke,
                                  a->cfg.rate_limit.introspect, a->cfg.rate_limit.reg};
    if (limits[c] <= 0)
        return 0;
    int wait = ratelimit_hit(a->limits, (enum rl_class)c, http_peer(req), limits[c],
                             req->processed_at.at.tv_sec);
    if (wait == 0)
        return 0;
    char ra[16];
    snprintf(ra, sizeof ra, "%d", wait);
    http_add(req, "retry-after", ra);
    http_oauth_error(req, 429, OE_TEMPORARILY_UNAVAILABLE,
                     "too many requests from this address; retry "
                     "after the time in Retry-After");
    return -1;
}

int http_query(h2o_req_t *req, form_t *f)
{
    char why[160];
    memset(f, 0, sizeof *f);
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t qlen = req->path.len - req->query_at - 1;
    if (form_parse(q, qlen, f, why, sizeof why) != WT_OK) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, why);
        return -1;
    }
    return 0;
}

int http_body_params(h2o_req_t *req, form_t *f, bool allow_json)
{
    app *a = http_thread_of(req)->a;
    char why[160] = "";
    memset(f, 0, sizeof *f);
    if (req->entity.len > a->cfg.max_body_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is larger than %zu bytes", a->cfg.max_body_bytes);
        http_oauth_error(req, 413, OE_INVALID_REQUEST, msg);
        return -1;
    }
    const char *ct = http_header(req, H2O_TOKEN_CONTENT_TYPE, NULL, NULL);
    size_t ctlen = ct ? strcspn(ct, ";") : 0;
    while (ctlen && ct[ctlen - 1] == ' ')
        ctlen--;
    wt_status st;
    if (ct && ctlen == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        st = form_parse(req->entity.base ? req->entity.base : "", req->entity.len, f, why,
                        sizeof why);
    } else if (allow_json && ct && ctlen == 16 && strncasecmp(ct, "application/json", 16) == 0) {
        st = form_from_json(req->entity.base ? req->entity.base : "", req->entity.len, f, why,
                            sizeof why);
    } else {
        http_oauth_error(req, 400, OE_INVALID_REQUEST,
                         allow_json ? "Content-Type must be application/x-www-form-urlencoded "
                                      "or application/json"
                                    : "Content-Type must be application/x-www-form-urlencoded");
        return -1;
    }
    if (st != WT_OK) {
        http_oauth_error(req, 400, OE_INVALID_REQUEST, why[0] ? why : "malformed request body");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- routing */

static unsigned method_bit(h2o_iovec_t m)
{
    static const struct {
        const char *s;
        unsigned bit;
    } t[] = {{"GET", M_GET},       {"POST", M_POST},       {"PUT", M_PUT},
             {"DELETE", M_DELETE}, {"OPTIONS", M_OPTIONS}, {"HEAD", M_HEAD}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (h2o_memis(m.base, m.len, t[i].s, strlen(t[i].s)))
            return t[i].bit;
    return 0x80;
}

static void allow_string(unsigned methods, char *out, size_t n)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"};
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < 6; i++)
        if (methods & (1u << i))
            o += (size_t)snprintf(out + o, n - o, "%s%s", o ? ", " : "", names[i]);
}

/* A CORS preflight for a public endpoint. */
static void preflight(h2o_req_t *req, unsigned methods)
{
    char allow[64];
    allow_string(methods | M_OPTIONS, allow, sizeof allow);
    http_cors(req);
    http_add(req, "access-control-allow-methods", allow);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"),
                          0, NULL,
                          H2O_STRLIT("Authorization, Content-Type, MCP-Protocol-Version, "
                                     "Mcp-Session-Id, Last-Event-ID"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0,
                          NULL, H2O_STRLIT("600"));
    req->res.status = 204;
    req->res.reason = "No Content";
    http_send_inline(req, NULL, 0);
}

static int dispatch(http_thread *t, h2o_req_t *req, const struct route *r)
{
    unsigned m = method_bit(req->method);
    if (m == M_HEAD && (r->methods & M_GET))
        m = M_GET;
    if (m == M_OPTIONS && r->cors) {
        preflight(req, r->methods);
        return 0;
    }
    if (!(r->methods & m)) {
        char allow[64];
        allow_string(r->methods | (r->cors ? M_OPTIONS : 0), allow, sizeof allow);
        if (r->cors)
            http_cors(req);
        http_method_not_allowed(req, allow);
        return 0;
    }
    if (r->cors)
        http_cors(req);
    return r->fn(t, req);
}

static bool has_prefix(h2o_iovec_t p, const char *prefix, size_t *rest)
{
    size_t n = strlen(prefix);
    if (p.len < n || memcmp(p.base, prefix, n) != 0)
        return false;
    *rest = n;
    return true;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    http_thread *t = http_thread_of(req);
    h2o_iovec_t p = req->path_normalized;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (h2o_memis(p.base, p.len, routes[i].path, strlen(routes[i].path)))
            return dispatch(t, req, &routes[i]);
    size_t rest;
    if (has_prefix(p, "/.well-known/oauth-protected-resource", &rest) &&
        (p.len == rest || p.base[rest] == '/')) {
        static const struct route prm = {"", M_GET, true, http_wellknown_prm};
        return dispatch(t, req, &prm);
    }
    if (has_prefix(p, "/oauth/register/", &rest) && p.len > rest) {
        static const struct route manage = {"", M_GET | M_PUT | M_DELETE, true,
                                            http_register_manage};
        return dispatch(t, req, &manage);
    }
    if (has_prefix(p, "/oauth/forward-auth/", &rest))
        return http_forward_auth(t, req);
    /* Gateway resources without an upstream are served here (the echo resource); those with
     * one have their own pathconf ahead of this one (http_gateway_register). */
    for (size_t i = 0; i < t->a->nres; i++) {
        const char *rp = t->a->res[i].path;
        size_t rl = strcmp(rp, "/") == 0 ? 0 : strlen(rp);
        if (p.len >= rl && memcmp(p.base, rp, rl) == 0 &&
            (p.len == rl || p.base[rl] == '/' || rl == 0))
            return http_gateway(t, req, i);
    }
    http_not_found(req);
    return 0;
}

/* ---------------------------------------------------------------- access log */

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    if (log_get_level() < LOG_INFO)
        return;
    /* The path as received (the proxy rewrites req->path), without its query: queries can
     * carry codes or misplaced tokens. */
    h2o_iovec_t p = req->input.path;
    size_t plen = req->input.query_at != SIZE_MAX ? req->input.query_at : p.len;
    if (plen > 200)
        plen = 200;
    struct timeval *t0 = &req->timestamps.request_begin_at, now;
    gettimeofday(&now, NULL);
    int64_t us = (int64_t)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_usec - t0->tv_usec);
    log_info("%s %.*s %.*s%s %d %zu %.3fms", http_peer(req), (int)req->method.len, req->method.base,
             (int)plen, p.base, req->input.query_at != SIZE_MAX ? "?…" : "", req->res.status,
             req->bytes_sent, (double)us / 1000.0);
}

/* ---------------------------------------------------------------- async jobs */

static void job_ref_dispose(void *p)
{
    struct http_job_ref *ref = p;
    if (ref->job)
        ref->job->req = NULL; /* the request went away while the job ran */
}

void http_job_init(http_job *job, h2o_req_t *req, http_finish_fn finish)
{
    job->thr = http_thread_of(req);
    job->req = req;
    job->finish = finish;
    job->ref = h2o_mem_alloc_shared(&req->pool, sizeof *job->ref, job_ref_dispose);
    job->ref->job = job;
    job->thr->pending_jobs++;
}

static void job_post(http_job *job)
{
    h2o_multithread_send_message(&job->thr->done_rx, &job->msg);
}

static void job_store_done(store_op *op, wt_status st)
{
    (void)st; /* op->status carries it to finish */
    job_post(H2O_STRUCT_FROM_MEMBER(http_job, op, op));
}

static void job_store(http_job *job, store_run_fn run, void *arg, bool restartable)
{
    job->op.run = run;
    job->op.arg = arg;
    job->op.done = job_store_done;
    job->op.restartable = restartable;
    store_submit(job->thr->a->st, &job->op);
}

void http_job_store(http_job *job, store_run_fn run, void *arg)
{
    job_store(job, run, arg, false);
}

void http_job_store_restartable(http_job *job, store_run_fn run, void *arg)
{
    job_store(job, run, arg, true);
}

static void job_worker_done(worker_job *w)
{
    http_job *job = H2O_STRUCT_FROM_MEMBER(http_job, wjob, w);
    job_post(job);
}

void http_job_worker_on(http_job *job, struct workers *pool, void (*run)(worker_job *w))
{
    job->wjob.run = run;
    job->wjob.done = job_worker_done;
    workers_submit(pool, &job->wjob);
}

void http_job_worker(http_job *job, void (*run)(worker_job *w))
{
    http_job_worker_on(job, job->thr->a->hashers, run);
}

static void on_job_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *msgs)
{
    while (!h2o_linklist_is_empty(msgs)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, msgs->next);
        h2o_linklist_unlink(&m->link);
        http_job *job = (http_job *)m;
        http_thread *t = job->thr;
        if (job->req)
            job->ref->job = NULL;
        t->pending_jobs--;
        job->finish(job, job->req);
    }
}

static void on_stop(h2o_multithread_receiver_t *rx, h2o_linklist_t *msgs)
{
    while (!h2o_linklist_is_empty(msgs)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, msgs->next);
        h2o_linklist_unlink(&m->link);
    }
}

/* ---------------------------------------------------------------- listeners and threads */

/* Binds host:port with SO_REUSEPORT so every loop thread can own a socket on it. Returns the
 * fd or -1 (errno set). *bound gets the port actually bound. */
static int bind_listener(const char *host, int port, bool reuseport, int *bound)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char serv[16];
    snprintf(serv, sizeof serv, "%d", port);
    if (getaddrinfo(host, serv, &hints, &res) != 0 || !res) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        errno = e;
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err)
        return;
    h2o_accept_ctx_t *actx = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock)
        h2o_accept(actx, sock);
}

static wt_status purge_run(store_txn *t, void *arg)
{
    return gc_step(t, now_us() / 1000000, PURGE_SCAN, arg);
}

static void purge_done(store_op *op, wt_status st)
{
    struct purger *p = H2O_STRUCT_FROM_MEMBER(struct purger, op, op);
    if (st != WT_OK)
        log_warn("purge step failed: %s", wt_status_str(st));
    atomic_store(&p->busy, false);
}

static void on_purge_timer(h2o_timeout_entry_t *e)
{
    struct purger *p = H2O_STRUCT_FROM_MEMBER(struct purger, entry, e);
    if (!atomic_exchange(&p->busy, true)) {
        p->op = (store_op){.run = purge_run, .done = purge_done, .arg = &p->state};
        store_submit(p->a->st, &p->op);
    }
    http_thread *t0 = H2O_STRUCT_FROM_MEMBER(struct server, purge, p)->threads;
    h2o_timeout_link(t0->loop, &p->timeout, &p->entry);
}

static void *thread_main(void *arg)
{
    http_thread *t = arg;
    struct server *srv = (struct server *)t->a->http_server;
    char name[16];
    snprintf(name, sizeof name, "wattle-loop%d", t->idx);
    pthread_setname_np(pthread_self(), name);
    /* Pinned before the loop allocates anything, so its memory is first touched on its CPU. */
    if (t->cpu >= 0 && !cpus_pin_self(t->cpu)) {
        log_warn("event loop %d: cannot pin it to CPU %d; it runs unpinned", t->idx, t->cpu);
        t->cpu = -1;
    }
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &srv->gc);
    h2o_multithread_register_receiver(t->ctx.queue, &t->done_rx, on_job_done);
    h2o_multithread_register_receiver(t->ctx.queue, &t->stop_rx, on_stop);
    t->reader = store_reader_new(t->a->st);
    h2o_timeout_init(
        t->loop, &t->sse_heartbeat,
        (uint64_t)(t->a->cfg.gateway_sse_heartbeat > 0 ? t->a->cfg.gateway_sse_heartbeat : 3600) *
            1000);
    /* One accept context per listen entry (TLS differs); listeners[i]->data points at it. */
    h2o_accept_ctx_t *actx = calloc(t->nlisteners, sizeof *actx);
    for (size_t i = 0; i < t->nlisteners; i++) {
        actx[i].ctx = &t->ctx;
        actx[i].hosts = srv->gc.hosts;
        actx[i].ssl_ctx = srv->ssl[i];
        const config_listen *l = &t->a->cfg.listen[i];
        int bound, fd = bind_listener(l->host, srv->ports[i], true, &bound);
        if (fd < 0) {
            log_error("thread %d: cannot listen on %s:%d: %s", t->idx, l->host, srv->ports[i],
                      strerror(errno));
            atomic_store(&srv->bind_failed, true);
            continue;
        }
        t->listeners[i] = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        t->listeners[i]->data = &actx[i];
        h2o_socket_read_start(t->listeners[i], on_accept);
    }
    if (t->idx == 0) {
        h2o_timeout_init(t->loop, &srv->purge.timeout, PURGE_MS);
        srv->purge.entry.cb = on_purge_timer;
        h2o_timeout_link(t->loop, &srv->purge.timeout, &srv->purge.entry);
    }
    atomic_fetch_add(&srv->ready, 1);
    while (!atomic_load(&t->stop))
        h2o_evloop_run(t->loop, INT32_MAX);

    /* Shutdown (PLATFORM.md §1): stop accepting, ask HTTP/2 peers to go, drain. */
    for (size_t i = 0; i < t->nlisteners; i++)
        if (t->listeners[i]) {
            h2o_socket_read_stop(t->listeners[i]);
            h2o_socket_close(t->listeners[i]);
            t->listeners[i] = NULL;
        }
    if (t->idx == 0) {
        if (h2o_timeout_is_linked(&srv->purge.entry))
            h2o_timeout_unlink(&srv->purge.entry);
        h2o_timeout_dispose(t->loop, &srv->purge.timeout);
    }
    h2o_context_request_shutdown(&t->ctx);
    /* HTTP/1 has no shutdown hook: expire the idle keep-alive timer now, so idle connections
     * close at the next loop turn (responses being sent are not under that timer). */
    t->ctx.http1.req_timeout.timeout = 0;
    bool drained = false;
    for (int i = 0; i < 40; i++) { /* up to ~2 s: idle HTTP/1 keep-alives never finish */
        h2o_evloop_run(t->loop, 50);
        if (h2o_linklist_is_empty(&t->ctx.http1._conns) &&
            h2o_linklist_is_empty(&t->ctx.http2._conns) && t->pending_jobs == 0) {
            drained = true;
            break;
        }
    }
    t->drained = drained;
    if (drained) {
        if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
        h2o_timeout_dispose(t->loop, &t->sse_heartbeat);
        h2o_multithread_unregister_receiver(t->ctx.queue, &t->done_rx);
        h2o_multithread_unregister_receiver(t->ctx.queue, &t->stop_rx);
        h2o_context_dispose(&t->ctx);
        h2o_evloop_run(t->loop, 0);
    } else {
        log_warn("thread %d: connections still open at shutdown; not waiting longer", t->idx);
    }
    store_reader_free(t->reader);
    free(actx);
    return NULL;
}

static SSL_CTX *tls_context(const config_listen *l, char *err, size_t errlen)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c)
        return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(c, l->tls_cert) != 1) {
        snprintf(err, errlen, "listen %s: cannot load TLS certificate chain %s", l->address,
                 l->tls_cert);
        SSL_CTX_free(c);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(c, l->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1) {
        snprintf(err, errlen,
                 "listen %s: cannot load TLS key %s (or it does not match the "
                 "certificate)",
                 l->address, l->tls_key);
        SSL_CTX_free(c);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(c, h2o_http2_alpn_protocols);
    return c;
}

void http_access_log_register(h2o_pathconf_t *pc)
{
    struct access_logger *lg = (struct access_logger *)h2o_create_logger(pc, sizeof *lg);
    lg->super.log_access = log_access;
}

static void setup_routes(struct server *srv)
{
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    http_gateway_register(srv->a, host);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct router *r = (struct router *)h2o_create_handler(pc, sizeof *r);
    r->super.on_req = on_req;
    r->a = srv->a;
    http_gateway_register_root(srv->a, pc);
    http_access_log_register(pc);
}

int http_serve(app *a)
{
    struct server srv = {.a = a, .purge = {.a = a}};
    srv.purge.state.unused_client_ttl = a->cfg.registration.unused_client_ttl;
    char err[512];
    int rc = 2;
    size_t nl = a->cfg.nlisten;
    int *probe = calloc(nl, sizeof *probe);
    srv.ports = calloc(nl, sizeof *srv.ports);
    srv.ssl = calloc(nl, sizeof *srv.ssl);
    if (!probe || !srv.ports || !srv.ssl)
        goto out;
    for (size_t i = 0; i < nl; i++)
        probe[i] = -1;
    /* Bind once here, exclusively (no SO_REUSEPORT, so a port another server holds fails),
     * to learn ports (":0") and report failures before anything starts. */
    for (size_t i = 0; i < nl; i++) {
        const config_listen *l = &a->cfg.listen[i];
        probe[i] = bind_listener(l->host, l->port, false, &srv.ports[i]);
        if (probe[i] < 0) {
            fprintf(stderr,
                    "wattle: cannot listen on %s: %s (is another server using it? pick "
                    "another with --listen HOST:PORT)\n",
                    l->address, strerror(errno));
            goto out;
        }
        if (l->tls_cert && !(srv.ssl[i] = tls_context(l, err, sizeof err))) {
            fprintf(stderr, "wattle: %s\n", err);
            rc = 1;
            goto out;
        }
    }
    if (config_finish_issuer(&a->cfg, srv.ports[0]) != WT_OK ||
        metadata_build(a, err, sizeof err) != WT_OK) {
        fprintf(stderr, "wattle: %s\n", err);
        rc = 1;
        goto out;
    }
    /* Done here, once, rather than by a loop thread at its first request: OpenSSL reading its
     * configuration file (first use of randomness), libc reading /etc/localtime (h2o's first
     * Date header). strace showed both on a loop thread before. */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    tzset();
    h2o_config_init(&srv.gc);
    size_t cap = a->cfg.max_body_bytes > a->cfg.gateway_max_body_bytes
                     ? a->cfg.max_body_bytes
                     : a->cfg.gateway_max_body_bytes;
    srv.gc.max_request_entity_size = cap + 1;
    srv.gc.proxy.emit_x_forwarded_headers = 1;
    srv.gc.proxy.emit_via_header = 0;
    srv.gc.server_name = h2o_iovec_init(H2O_STRLIT("wattle"));
    a->http_server = &srv;
    setup_routes(&srv);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Release the probes; the loop threads bind the same ports with SO_REUSEPORT, so the
     * kernel spreads connections over them. */
    for (size_t i = 0; i < nl; i++) {
        close(probe[i]);
        probe[i] = -1;
    }
    srv.nthreads = a->cfg.threads;
    srv.threads = calloc((size_t)srv.nthreads, sizeof *srv.threads);
    static cpu_list cpus; /* 4 KB: not on the stack */
    if (a->cfg.pin_threads && cpus_allowed(&cpus) && cpus.n < srv.nthreads)
        log_info("pin_threads: %d event loops for %d CPUs; the loops run unpinned", srv.nthreads,
                 cpus.n);
    for (int i = 0; i < srv.nthreads; i++) {
        http_thread *t = &srv.threads[i];
        t->idx = i;
        t->cpu = a->cfg.pin_threads ? cpus_slot(&cpus, srv.nthreads, i) : -1;
        t->a = a;
        t->nlisteners = nl;
        t->listeners = calloc(nl, sizeof *t->listeners);
        pthread_create(&t->tid, NULL, thread_main, t);
    }
    while (atomic_load(&srv.ready) < srv.nthreads)
        usleep(1000);
    if (atomic_load(&srv.bind_failed)) {
        fprintf(stderr, "wattle: cannot listen on every configured address (see above)\n");
        kill(getpid(), SIGTERM); /* stop the threads through the normal path */
        rc = 2;
    } else {
        printf("%s\n", a->cfg.issuer);
        fflush(stdout);
        log_info("wattle serving %s with %d threads (data in %s)", a->cfg.issuer, srv.nthreads,
                 a->cfg.data_dir);
        int pinned = 0;
        for (int i = 0; i < srv.nthreads; i++)
            pinned += srv.threads[i].cpu >= 0;
        if (pinned == srv.nthreads) {
            char list[256];
            cpus_format(&cpus, srv.nthreads, list, sizeof list);
            log_info("event loops pinned one per CPU: %s (pin_threads)", list);
        }
        rc = 0;
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    for (int i = 0; i < srv.nthreads; i++) {
        atomic_store(&srv.threads[i].stop, true);
        while (!srv.threads[i].ctx.queue) /* not yet initialised: wait for it */
            usleep(1000);
        h2o_multithread_send_message(&srv.threads[i].stop_rx, NULL);
    }
    for (int i = 0; i < srv.nthreads; i++) {
        pthread_join(srv.threads[i].tid, NULL);
        free(srv.threads[i].listeners);
    }
    while (atomic_load(&srv.purge.busy)) /* its op lives in srv: wait for the writer */
        usleep(1000);
    h2o_config_dispose(&srv.gc); /* before any loop goes (PLATFORM.md §1) */
    for (int i = 0; i < srv.nthreads; i++)
        if (srv.threads[i].drained)
            h2o_evloop_destroy(srv.threads[i].loop);
    free(srv.threads);
out:
    for (size_t i = 0; probe && i < nl; i++)
        if (probe[i] >= 0)
            close(probe[i]);
    for (size_t i = 0; srv.ssl && i < nl; i++)
        if (srv.ssl[i])
            SSL_CTX_free(srv.ssl[i]);
    free(probe);
    free(srv.ports);
    free(srv.ssl);
    a->http_server = NULL;
    return rc;
}
