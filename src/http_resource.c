/* http_resource.c — the resource-server side: the bearer gateway in front of each configured
 * resource (SPEC §5), forward-auth for nginx / Traefik / Envoy, and GET /oauth/userinfo.
 *
 * One check serves all three: the token comes from exactly one `Authorization: Bearer` header
 * (never the query string), is parsed as an `oat_` token, looked up with tokens_check_access
 * inside the thread's read transaction (begun and ended within the call: no read is held across
 * an event-loop turn), then bound to the resource's audience and required scopes. The protocol
 * rules (challenge text, header parsing, scopes per method, audience, cookie scrubbing, resource
 * matching) are in gateway.c; this file owns the h2o requests.
 *
 * A resource without `upstream` is served by the router in http.c (http_gateway: the echo
 * resource). A resource with one gets its own pathconf ahead of the router's catch-all
 * (http_gateway_register): our check handler first, h2o's reverse proxy second. The check
 * returns -1 to hand an accepted request to the proxy after scrubbing its headers, and adds a
 * per-request prefilter that replaces the upstream's CORS headers with the gateway's and turns
 * h2o's own 502 (upstream unreachable) into a JSON body.
 *
 * The answers (realm first, each parameter once, quoted and escaped by gateway.c):
 *   no Authorization, or another scheme:
 *     401  Bearer realm="R", resource_metadata="M", scope="S"
 *   malformed Bearer, or access_token in the query string:
 *     400  Bearer realm="R", resource_metadata="M", scope="S", error="invalid_request",
 *          error_description="…"
 *   unknown, expired or revoked token, or one for another resource:
 *     401  … the same, error="invalid_token", error_description="…"
 *   valid token lacking a required scope:
 *     403  … the same, error="insufficient_scope", error_description="…"
 * (scope="S" is left out when the method requires no scope). "Malformed" covers an empty
 * header, "Bearer" without a token, characters outside b64token, more than one word, several
 * Authorization headers, and a b64token that is not an `oat_` access token. Every OPTIONS
 * request under a resource is answered here as a CORS preflight (204, no token needed) and
 * never reaches an upstream. Userinfo uses the same rows without resource_metadata and scope;
 * a valid token without a user (client_credentials) gets
 *   403  Bearer realm="R", error="insufficient_scope", error_description="…"
 * Forward-auth answers like the gateway, 204 with X-Wattle-Sub / -Client-Id / -Scope when the
 * token is good, and 403 without a challenge when no configured resource matches. */
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "http.h"
#include "introspect.h"
#include "log.h"
#include "tokens.h"
#include "users.h"

#define PREFLIGHT_METHODS "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#define PREFLIGHT_HEADERS                                                                          \
    "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID"
#define UPSTREAM_IO_TIMEOUT_MS (3600u * 1000u) /* idle SSE streams must not be cut */
#define UPSTREAM_KEEPALIVE_MS 2000u
#define FORWARD_AUTH_PREFIX "/oauth/forward-auth"

/* What a valid token says, copied into the request's pool (the store's memory is gone once the
 * read ends). sub is the user id, or the client id for a client_credentials token. */
typedef struct {
    const char *client_id, *user_id, *username, *scope, *resource, *sub;
    int64_t iat, exp;
} ident;

enum verdict {
    V_OK,
    V_NO_TOKEN,  /* no Authorization header, or another scheme: 401 without error */
    V_MALFORMED, /* 400 invalid_request */
    V_INVALID,   /* 401 invalid_token */
    V_SCOPE,     /* 403 insufficient_scope */
    V_STORE,     /* the store failed: 503 */
};

/* ---------------------------------------------------------------- the check */

static const char *pool_str(h2o_req_t *req, const char *s)
{
    return h2o_strdup(&req->pool, s ? s : "", SIZE_MAX).base;
}

/* Checks the bearer credential of req. `query` (may be NULL) is the query string to refuse an
 * access_token in; aud_norm (NULL: any audience) the normalised resource the token must be
 * for; scope (NULL or "": none) the scopes it must carry. On V_OK fills *id; otherwise *why
 * gets an error_description (static or pool memory). */
static enum verdict check_bearer(http_thread *t, h2o_req_t *req, const char *query, size_t qlen,
                                 const char *aud_norm, const char *scope, ident *id,
                                 const char **why)
{
    if (query && gw_query_has_access_token(query, qlen)) {
        *why = "send the access token in the Authorization header (Bearer), not in the query "
               "string";
        return V_MALFORMED;
    }
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1) {
        *why = "this resource needs a bearer access token";
        return V_NO_TOKEN;
    }
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) != -1) {
        *why = "more than one Authorization header";
        return V_MALFORMED;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    const char *tok;
    size_t toklen;
    switch (gw_bearer_parse(v.base, v.len, &tok, &toklen, why)) {
    case GW_AUTH_OTHER: *why = "this resource accepts Bearer access tokens only"; return V_NO_TOKEN;
    case GW_AUTH_MALFORMED: return V_MALFORMED;
    case GW_AUTH_BEARER: break;
    }
    token_t tk;
    if (token_parse(TOKEN_ACCESS, tok, toklen, &tk) != WT_OK) {
        *why = "the bearer token is not an access token of this server";
        return V_MALFORMED;
    }

    store_txn *txn;
    if (store_reader_begin(t->reader, &txn) != WT_OK) {
        *why = "the token store is unavailable; retry shortly";
        return V_STORE;
    }
    access_rec r;
    enum verdict res = V_OK;
    wt_status st = tokens_check_access(txn, &tk, req->processed_at.at.tv_sec, &r);
    const char *miss;
    size_t misslen;
    if (st == WT_NOTFOUND) {
        *why = "the access token is unknown or has been revoked";
        res = V_INVALID;
    } else if (st == WT_EXPIRED) {
        *why = "the access token has expired";
        res = V_INVALID;
    } else if (st != WT_OK) {
        *why = "the token store is unavailable; retry shortly";
        res = V_STORE;
    } else if (aud_norm && !gw_audience_matches(r.resource, aud_norm)) {
        *why = "the access token was issued for another resource";
        res = V_INVALID;
    } else if (scope && gw_missing_scope(r.scope, scope, &miss, &misslen)) {
        /* a scope name is a scope-token: no '"' or '\', safe in a challenge */
        static const char lead[] = "the access token lacks the scope ";
        char *w = h2o_mem_alloc_pool(&req->pool, sizeof lead + misslen);
        memcpy(w, lead, sizeof lead - 1);
        memcpy(w + sizeof lead - 1, miss, misslen);
        w[sizeof lead - 1 + misslen] = '\0';
        *why = w;
        res = V_SCOPE;
    } else {
        id->client_id = pool_str(req, r.client_id);
        id->user_id = pool_str(req, r.user_id);
        id->username = pool_str(req, r.username);
        id->scope = pool_str(req, r.scope);
        id->resource = pool_str(req, r.resource);
        id->sub = id->user_id[0] ? id->user_id : id->client_id;
        id->iat = r.iat;
        id->exp = r.exp;
    }
    store_reader_end(t->reader);
    return res;
}

/* ---------------------------------------------------------------- responses */

static void add_challenge(h2o_req_t *req, const gw_challenge *c)
{
    size_t n = gw_challenge_format(c, NULL, 0);
    char *s = h2o_mem_alloc_pool(&req->pool, n + 1);
    gw_challenge_format(c, s, n + 1);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, s, n);
}

/* Answers a failed check: the status and challenge of SPEC §5. metadata_url and scope may be
 * NULL (userinfo). */
static void send_verdict(h2o_req_t *req, enum verdict v, const char *why, const char *realm,
                         const char *metadata_url, const char *scope)
{
    gw_challenge c = {.realm = realm, .resource_metadata = metadata_url, .scope = scope};
    switch (v) {
    case V_NO_TOKEN: {
        static const char body[] =
            "{\"error\":\"unauthorized\",\"error_description\":\"this resource needs a bearer "
            "access token: see the WWW-Authenticate header\"}";
        add_challenge(req, &c);
        http_json_text(req, 401, body, sizeof body - 1, false);
        return;
    }
    case V_MALFORMED:
        c.error = "invalid_request";
        c.error_description = why;
        add_challenge(req, &c);
        http_oauth_error(req, 400, OE_INVALID_REQUEST, why);
        return;
    case V_INVALID:
        c.error = "invalid_token";
        c.error_description = why;
        add_challenge(req, &c);
        http_oauth_error(req, 401, OE_INVALID_TOKEN, why);
        return;
    case V_SCOPE:
        c.error = "insufficient_scope";
        c.error_description = why;
        add_challenge(req, &c);
        http_oauth_error(req, 403, OE_INSUFFICIENT_SCOPE, why);
        return;
    case V_STORE:
    case V_OK: break;
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after"), 0, NULL,
                          H2O_STRLIT("1"));
    http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, why);
}

/* The gateway's answer to a CORS preflight (SPEC §2); it needs no token. */
static void gateway_preflight(h2o_req_t *req)
{
    http_cors(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"),
                          0, NULL, H2O_STRLIT(PREFLIGHT_METHODS));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"),
                          0, NULL, H2O_STRLIT(PREFLIGHT_HEADERS));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0,
                          NULL, H2O_STRLIT("600"));
    req->res.status = 204;
    req->res.reason = "No Content";
    http_send_inline(req, NULL, 0);
}

static void query_of(h2o_req_t *req, const char **q, size_t *qlen)
{
    *q = NULL;
    *qlen = 0;
    if (req->query_at != SIZE_MAX) {
        *q = req->path.base + req->query_at + 1;
        *qlen = req->path.len - req->query_at - 1;
    }
}

/* ---------------------------------------------------------------- the gateway */

/* Runs the gateway's check on a request under resource ri. 0: accepted (*id filled); -1: a
 * response was sent (preflight, 413, a challenge). */
static int gateway_check(http_thread *t, h2o_req_t *req, size_t ri, ident *id)
{
    const app *a = t->a;
    const app_resource *r = &a->res[ri];
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        gateway_preflight(req);
        return -1;
    }
    http_cors(req);
    if (req->entity.len > a->cfg.gateway_max_body_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is larger than %zu bytes",
                 a->cfg.gateway_max_body_bytes);
        http_oauth_error(req, 413, OE_INVALID_REQUEST, msg);
        return -1;
    }
    char scope[GW_SCOPES_MAX];
    if (gw_required_scopes(r->cfg->scopes_required, req->method.base, req->method.len, scope,
                           sizeof scope) != WT_OK) {
        /* config.c caps and validates scopes_required, so this is a bug: refuse, loudly */
        log_error("resource %s: cannot resolve scopes_required", r->path);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "resource misconfigured");
        return -1;
    }
    const char *q;
    size_t qlen;
    query_of(req, &q, &qlen);
    const char *why = NULL;
    enum verdict v = check_bearer(t, req, q, qlen, r->resource_norm, scope, id, &why);
    if (v != V_OK) {
        send_verdict(req, v, why, a->cfg.realm, r->metadata_url, scope);
        return -1;
    }
    return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v));
}

/* The echo resource: the token described with the introspection field names (the very members
 * introspection answers), plus the request's method and path (without its query) as received;
 * a method or path that is not UTF-8 is left out. */
static void send_echo(http_thread *t, h2o_req_t *req, const ident *id)
{
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    introspect_active d = {.scope = id->scope,
                           .client_id = id->client_id,
                           .user_id = id->user_id,
                           .username = id->username,
                           .resource = id->resource,
                           .token_type = "Bearer",
                           .exp = id->exp,
                           .iat = id->iat};
    json_t *o = introspect_active_json(t->a->cfg.issuer, &d);
    if (!o) {
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE,
                         "the answer could not be built; retry");
        return;
    }
    json_object_set_new_nocheck(o, "method", json_stringn(req->method.base, req->method.len));
    json_object_set_new_nocheck(o, "path", json_stringn(req->path.base, plen));
    http_json(req, 200, o);
}

static void pass_to_upstream(h2o_req_t *req, const app_resource *r, const ident *id);

int http_gateway(http_thread *t, h2o_req_t *req, size_t res)
{
    ident id;
    if (gateway_check(t, req, res, &id) != 0)
        return 0;
    if (t->a->res[res].cfg->upstream) {
        /* the resource at "/" with an upstream: the proxy follows the router on its pathconf
         * (http_gateway_register_root) */
        pass_to_upstream(req, &t->a->res[res], &id);
        return -1;
    }
    send_echo(t, req, &id);
    return 0;
}

/* ---- proxying */

static bool name_is(const h2o_iovec_t *n, const char *s, size_t len)
{
    return n->len == len && strncasecmp(n->base, s, len) == 0;
}

/* Edits the request headers the upstream will see: every incoming x-wattle-* header and the
 * Authorization header go, Wattle's cookies leave the Cookie header(s) (the others stay), and
 * the identity headers are added. Values are pool memory. */
static void scrub_and_identify(h2o_req_t *req, const ident *id)
{
    for (size_t i = 0; i < req->headers.size;) {
        const h2o_iovec_t *n = req->headers.entries[i].name;
        if (name_is(n, H2O_STRLIT("authorization")) ||
            (n->len >= 9 && strncasecmp(n->base, "x-wattle-", 9) == 0)) {
            h2o_delete_header(&req->headers, (ssize_t)i);
            continue;
        }
        if (name_is(n, H2O_STRLIT("cookie"))) {
            h2o_iovec_t *v = &req->headers.entries[i].value;
            char *out = h2o_mem_alloc_pool(&req->pool, 2 * v->len + 1);
            size_t olen = gw_strip_cookies(v->base, v->len, out);
            if (olen == 0) {
                h2o_delete_header(&req->headers, (ssize_t)i);
                continue;
            }
            *v = h2o_iovec_init(out, olen);
        }
        i++;
    }
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-wattle-sub"), 0, NULL, id->sub,
                          strlen(id->sub));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-wattle-client-id"), 0, NULL,
                          id->client_id, strlen(id->client_id));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-wattle-scope"), 0, NULL,
                          id->scope, strlen(id->scope));
}

/* Replaces the body of h2o's own 502 with the one set up in on_setup_response. */
struct body_swap {
    h2o_ostream_t super;
    h2o_iovec_t body;
};

static void body_swap_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                           h2o_send_state_t state)
{
    struct body_swap *s = (struct body_swap *)self;
    /* h2o_send_inline sends its whole body in one final call (none for HEAD) */
    h2o_ostream_send_next(self, req, bufcnt ? &s->body : bufs, bufcnt ? 1 : 0, state);
}

/* Event streams through the proxy. h2o 2.2.5's proxy sends nothing downstream until the
 * upstream's first body bytes arrive, so a Server-Sent Events stream that starts quiet (an MCP
 * server's GET stream) would keep the client waiting for its status line; and an HTTP/1 client
 * that goes away from a silent stream is never noticed (h2o does not read an HTTP/1 connection
 * while it answers), which pins the upstream stream and the connection. This ostream stands in
 * as the response's generator, wrapping the proxy's, so it knows when a send is on the wire; when
 * the stream is silent it sends one of its own: at once (the head goes out with it), then after
 * every gateway_sse_heartbeat seconds of silence. Over HTTP/1 that send is an SSE comment line
 * (":\n\n"), which every event-stream parser skips (WHATWG HTML §9.2.6); a vanished client
 * makes the write fail, and the request and its upstream stream end. Over HTTP/2 the first send
 * is an empty buffer (the head) and no heartbeat is needed: h2o reads HTTP/2 connections and sees
 * resets. A send the proxy makes while one of ours is on the wire waits for it. */
struct sse_stream {
    h2o_ostream_t super;
    h2o_generator_t stand_in;
    h2o_generator_t *orig; /* the proxy's generator */
    h2o_timeout_entry_t timer;
    h2o_timeout_t *heartbeat; /* the thread's heartbeat timeout, or NULL */
    h2o_req_t *req;
    bool ours_inflight, proxy_inflight, pending, done, head_sent;
    h2o_iovec_t *pend_bufs;
    size_t pend_cnt;
    h2o_send_state_t pend_state;
};

struct sse_stream_ref {
    struct sse_stream *f;
};

static void sse_arm(struct sse_stream *f, h2o_timeout_t *t)
{
    if (h2o_timeout_is_linked(&f->timer))
        h2o_timeout_unlink(&f->timer);
    if (t && !f->done)
        h2o_timeout_link(f->req->conn->ctx->loop, t, &f->timer);
}

static void sse_pass(struct sse_stream *f, h2o_req_t *req, h2o_iovec_t *bufs, size_t cnt,
                     h2o_send_state_t state)
{
    if (!h2o_send_state_is_in_progress(state)) {
        f->done = true; /* the proxy's last send: nothing of ours may follow */
        sse_arm(f, NULL);
    } else {
        f->proxy_inflight = true;
    }
    f->head_sent = true;
    h2o_ostream_send_next(&f->super, req, bufs, cnt, state);
}

static void sse_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                        h2o_send_state_t state)
{
    struct sse_stream *f = (struct sse_stream *)self;
    sse_arm(f, NULL);
    if (f->ours_inflight) { /* ours is on the wire: this one follows when it completes */
        f->pend_bufs = h2o_mem_alloc_pool(&req->pool, sizeof *bufs * (bufcnt ? bufcnt : 1));
        memcpy(f->pend_bufs, bufs, sizeof *bufs * bufcnt);
        f->pend_cnt = bufcnt;
        f->pend_state = state;
        f->pending = true;
        return;
    }
    sse_pass(f, req, bufs, bufcnt, state);
}

/* A send completed (ours or the proxy's). */
static void sse_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct sse_stream *f = H2O_STRUCT_FROM_MEMBER(struct sse_stream, stand_in, g);
    if (f->ours_inflight) {
        f->ours_inflight = false;
        if (f->pending) {
            f->pending = false;
            sse_pass(f, req, f->pend_bufs, f->pend_cnt, f->pend_state);
        } else {
            sse_arm(f, f->heartbeat);
        }
        return;
    }
    f->proxy_inflight = false;
    sse_arm(f, f->heartbeat);
    f->orig->proceed(f->orig, req);
}

static void sse_stop(h2o_generator_t *g, h2o_req_t *req)
{
    struct sse_stream *f = H2O_STRUCT_FROM_MEMBER(struct sse_stream, stand_in, g);
    f->done = true;
    sse_arm(f, NULL);
    if (f->orig->stop)
        f->orig->stop(f->orig, req);
}

static void sse_fire(h2o_timeout_entry_t *e)
{
    struct sse_stream *f = H2O_STRUCT_FROM_MEMBER(struct sse_stream, timer, e);
    h2o_req_t *req = f->req;
    if (f->done || f->ours_inflight || f->proxy_inflight || !req->_generator)
        return;
    if (req->version >= 0x200 && f->head_sent)
        return; /* HTTP/2 needs no heartbeat (see above) */
    /* h2o_ostream_send_next swallows an in-progress send without buffers (it only schedules a
     * proceed), and HTTP/1's chunked encoder drops an empty buffer, hence the comment. */
    static char comment[] = ":\n\n";
    h2o_iovec_t buf = {comment, req->version >= 0x200 ? 0 : sizeof comment - 1};
    f->ours_inflight = f->head_sent = true;
    h2o_ostream_send_next(&f->super, req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void sse_dispose(void *p)
{
    struct sse_stream_ref *ref = p;
    if (h2o_timeout_is_linked(&ref->f->timer))
        h2o_timeout_unlink(&ref->f->timer);
}

static h2o_ostream_t **add_sse_stream(h2o_req_t *req, h2o_ostream_t **slot)
{
    http_thread *t = http_thread_of(req);
    struct sse_stream *f = (struct sse_stream *)h2o_add_ostream(req, sizeof *f, slot);
    f->super.do_send = sse_do_send;
    f->stand_in = (h2o_generator_t){.proceed = sse_proceed, .stop = sse_stop};
    f->orig = req->_generator;
    req->_generator = &f->stand_in; /* h2o_start_response has just set the proxy's */
    f->timer = (h2o_timeout_entry_t){.cb = sse_fire};
    f->heartbeat = t->a->cfg.gateway_sse_heartbeat > 0 ? &t->sse_heartbeat : NULL;
    f->req = req;
    f->ours_inflight = f->proxy_inflight = f->pending = f->done = f->head_sent = false;
    struct sse_stream_ref *ref = h2o_mem_alloc_shared(&req->pool, sizeof *ref, sse_dispose);
    ref->f = f;
    sse_arm(f, &req->conn->ctx->zero_timeout);
    return &f->super.next;
}

static bool is_event_stream(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1)
        return false;
    h2o_iovec_t v = req->res.headers.entries[i].value;
    return v.len >= 17 && strncasecmp(v.base, "text/event-stream", 17) == 0;
}

/* True when the response is h2o's own 502 for a proxy failure (connect refused, timeout,
 * unparsable upstream response) rather than a 502 the upstream sent: the proxy logs the
 * reason on the request before sending its error page. */
static const h2o_req_error_log_t *proxy_failure(h2o_req_t *req)
{
    if (req->res.status != 502 || req->error_logs.size == 0)
        return NULL;
    const h2o_req_error_log_t *e = &req->error_logs.entries[req->error_logs.size - 1];
    return strcmp(e->module, "lib/core/proxy.c") == 0 ? e : NULL;
}

/* The per-request prefilter of proxied requests: runs when the response (the upstream's, or
 * h2o's 502) starts. The gateway's CORS headers replace whatever access-control-* headers the
 * upstream sent (SPEC §2); an unreachable upstream gets a JSON body saying so. */
struct upstream_filter {
    h2o_req_prefilter_t super;
    const app_resource *r;
};

static void on_setup_response(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    const app_resource *r = ((struct upstream_filter *)self)->r;
    for (size_t i = 0; i < req->res.headers.size;) {
        const h2o_iovec_t *n = req->res.headers.entries[i].name;
        if (n->len >= 15 && strncasecmp(n->base, "access-control-", 15) == 0) {
            h2o_delete_header(&req->res.headers, (ssize_t)i);
            continue;
        }
        i++;
    }
    http_cors(req);
    const h2o_req_error_log_t *e = proxy_failure(req);
    if (e) {
        log_warn("resource %s: upstream %s: %.*s", r->path, r->cfg->upstream, (int)e->msg.len,
                 e->msg.base);
        json_t *o = json_object();
        set_str(o, "error", "bad_gateway");
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the upstream server of this resource could not be reached: "
                 "%.*s",
                 (int)(e->msg.len > 80 ? 80 : e->msg.len), e->msg.base);
        char clean[200];
        oauth_desc_clean(msg, clean, sizeof clean);
        set_str(o, "error_description", clean);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s) {
            struct body_swap *b = (struct body_swap *)h2o_add_ostream(req, sizeof *b, slot);
            b->super.do_send = body_swap_send;
            b->body = h2o_strdup(&req->pool, s, SIZE_MAX);
            free(s);
            req->res.content_length = b->body.len;
            ssize_t ct;
            while ((ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1)) != -1)
                h2o_delete_header(&req->res.headers, ct);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                           H2O_STRLIT("application/json"));
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                           H2O_STRLIT("no-store"));
            slot = &b->super.next;
        }
    } else if (is_event_stream(req) &&
               !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        slot = add_sse_stream(req, slot);
    }
    h2o_setup_next_prefilter(self, req, slot);
}

/* Prepares an accepted request for the proxy handler that follows on its pathconf. */
static void pass_to_upstream(h2o_req_t *req, const app_resource *r, const ident *id)
{
    scrub_and_identify(req, id);
    struct upstream_filter *f = (struct upstream_filter *)h2o_add_prefilter(req, sizeof *f);
    f->super.on_setup_ostream = on_setup_response;
    f->r = r;
}

struct gw_handler {
    h2o_handler_t super;
    size_t res;
};

/* The check handler ahead of the proxy on a resource's pathconf: answers refusals itself
 * (return 0), or prepares the request and passes it on to the proxy (return -1). */
static int gw_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw_handler *h = (struct gw_handler *)self;
    http_thread *t = http_thread_of(req);
    ident id;
    if (gateway_check(t, req, h->res, &id) != 0)
        return 0;
    pass_to_upstream(req, &t->a->res[h->res], &id);
    return -1;
}

/* Certificate check for https upstreams: h2o's own hostname check is skipped under TLS 1.3
 * (PLATFORM.md §4), so the leaf certificate is matched against the SNI name (= the upstream's
 * host) here. */
static int verify_upstream(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const char *name = ssl ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (!name || !cert ||
        (X509_check_host(cert, name, 0, 0, NULL) != 1 && X509_check_ip_asc(cert, name, 0) != 1)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
        return 0;
    }
    return 1;
}

static SSL_CTX *upstream_tls(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c)
        return NULL;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(c);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_upstream);
    return c;
}

static void register_proxy(const app_resource *r, h2o_pathconf_t *pc)
{
    h2o_url_t u;
    const char *up = r->cfg->upstream;
    if (h2o_url_parse(up, SIZE_MAX, &u) != 0) {
        /* config.c checked it; h2o_url_parse is stricter about some forms */
        log_error("resource %s: upstream %s is not a URL h2o can proxy to", r->path, up);
        return;
    }
    h2o_proxy_config_vars_t pcv;
    memset(&pcv, 0, sizeof pcv);
    pcv.io_timeout = UPSTREAM_IO_TIMEOUT_MS;
    pcv.keepalive_timeout = UPSTREAM_KEEPALIVE_MS;
    if (u.scheme == &H2O_URL_SCHEME_HTTPS)
        pcv.ssl_ctx = upstream_tls();
    h2o_proxy_register_reverse_proxy(pc, &u, &pcv);
    /* h2o would print proxy failures in its own format; on_setup_response logs them */
    pc->error_log.emit_request_errors = 0;
    if (pcv.ssl_ctx)
        SSL_CTX_free(pcv.ssl_ctx); /* the proxy holds its own reference */
}

void http_gateway_register(app *a, h2o_hostconf_t *host)
{
    for (size_t i = 0; i < a->nres; i++) {
        const app_resource *r = &a->res[i];
        /* A resource at "/" would shadow every Wattle endpoint on its own pathconf: it is
         * served by the router's "/" pathconf instead (http_gateway_register_root). */
        if (!r->cfg->upstream || strcmp(r->path, "/") == 0)
            continue;
        h2o_pathconf_t *pc = h2o_config_register_path(host, r->path, 0);
        struct gw_handler *h = (struct gw_handler *)h2o_create_handler(pc, sizeof *h);
        h->super.on_req = gw_on_req;
        h->res = i;
        register_proxy(r, pc);
        http_access_log_register(pc);
    }
}

void http_gateway_register_root(app *a, h2o_pathconf_t *root)
{
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].cfg->upstream && strcmp(a->res[i].path, "/") == 0)
            register_proxy(&a->res[i], root);
}

/* ---------------------------------------------------------------- userinfo */

int http_userinfo(http_thread *t, h2o_req_t *req)
{
    const char *q, *why = NULL, *realm = t->a->cfg.realm;
    size_t qlen;
    ident id;
    query_of(req, &q, &qlen);
    enum verdict v = check_bearer(t, req, q, qlen, NULL, NULL, &id, &why);
    if (v != V_OK) {
        send_verdict(req, v, why, realm, NULL, NULL);
        return 0;
    }
    if (!id.user_id[0]) {
        send_verdict(req, V_SCOPE,
                     "this access token was issued to a client (client_credentials), not on "
                     "behalf of a user: userinfo needs a user's token",
                     realm, NULL, NULL);
        return 0;
    }
    store_txn *txn;
    if (store_reader_begin(t->reader, &txn) != WT_OK) {
        send_verdict(req, V_STORE, "the user store is unavailable; retry shortly", realm, NULL,
                     NULL);
        return 0;
    }
    user_t u = {0};
    wt_status st = user_by_id(txn, id.user_id, &u);
    store_reader_end(t->reader); /* u.doc is a copy: valid after the read ends */
    if (st != WT_OK) {
        user_free(&u);
        if (st == WT_NOTFOUND)
            send_verdict(req, V_INVALID, "the user of this access token no longer exists", realm,
                         NULL, NULL);
        else
            send_verdict(req, V_STORE, "the user store is unavailable; retry shortly", realm, NULL,
                         NULL);
        return 0;
    }
    json_t *o = json_object();
    set_str(o, "sub", u.sub);
    set_str(o, "name", u.display_name && u.display_name[0] ? u.display_name : u.username);
    set_str(o, "preferred_username", u.username);
    if (u.email && u.email[0])
        set_str(o, "email", u.email);
    user_free(&u);
    http_json(req, 200, o);
    return 0;
}

/* ---------------------------------------------------------------- forward-auth */

/* The first of the named request headers that is present, as an iovec ({NULL, 0} if none). */
static h2o_iovec_t first_header(h2o_req_t *req, const char *a, const char *b)
{
    const char *names[] = {a, b};
    for (size_t k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        ssize_t i = h2o_find_header_by_str(&req->headers, names[k], strlen(names[k]), -1);
        if (i != -1)
            return req->headers.entries[i].value;
    }
    return h2o_iovec_init(NULL, 0);
}

static void send_no_content(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    req->res.status = 204;
    req->res.reason = "No Content";
    http_send_inline(req, NULL, 0);
}

static void forward_denied(h2o_req_t *req, const char *why)
{
    http_oauth_error(req, 403, OE_ACCESS_DENIED, why);
}

int http_forward_auth(http_thread *t, h2o_req_t *req)
{
    const app *a = t->a;
    /* The original request: nginx (X-Original-*), Traefik (X-Forwarded-*), or Envoy ext_authz,
     * which appends the original path to ours and keeps the method and Host. */
    h2o_iovec_t method = first_header(req, "x-original-method", "x-forwarded-method");
    if (!method.base)
        method = req->method;
    h2o_iovec_t uri = first_header(req, "x-original-uri", "x-forwarded-uri");
    if (!uri.base) {
        size_t pl = sizeof FORWARD_AUTH_PREFIX - 1;
        if (req->path.len > pl && memcmp(req->path.base, FORWARD_AUTH_PREFIX, pl) == 0 &&
            req->path.base[pl] == '/')
            uri = h2o_iovec_init(req->path.base + pl, req->path.len - pl);
    }
    if (!uri.base || uri.len == 0 || uri.base[0] != '/') {
        forward_denied(req, "forward-auth needs the original request's URI: X-Original-URI "
                            "(nginx), X-Forwarded-Uri (Traefik) or a path suffix (Envoy)");
        return 0;
    }
    h2o_iovec_t host = first_header(req, "x-forwarded-host", NULL);
    if (!host.base)
        host = req->authority;
    const char *hn;
    size_t hnl;
    gw_host_name(host.base ? host.base : "", host.base ? host.len : 0, &hn, &hnl);

    size_t query_at = SIZE_MAX, *norm = NULL;
    h2o_iovec_t path = h2o_url_normalize_path(&req->pool, uri.base, uri.len, &query_at, &norm);
    const char *q = NULL;
    size_t qlen = 0;
    if (query_at != SIZE_MAX) {
        q = uri.base + query_at + 1;
        qlen = uri.len - query_at - 1;
    }
    ssize_t ri = gw_match_resource(a, hn, hnl, path.base, path.len);
    if (ri < 0) {
        forward_denied(req, "no configured resource matches the original request's host and "
                            "path");
        return 0;
    }
    const app_resource *r = &a->res[ri];
    /* Browsers send CORS preflights without credentials: let them through. */
    if (h2o_memis(method.base, method.len, H2O_STRLIT("OPTIONS"))) {
        send_no_content(req);
        return 0;
    }
    char scope[GW_SCOPES_MAX];
    if (gw_required_scopes(r->cfg->scopes_required, method.base, method.len, scope, sizeof scope) !=
        WT_OK) {
        log_error("resource %s: cannot resolve scopes_required", r->path);
        http_oauth_error(req, 503, OE_TEMPORARILY_UNAVAILABLE, "resource misconfigured");
        return 0;
    }
    ident id;
    const char *why = NULL;
    enum verdict v = check_bearer(t, req, q, qlen, r->resource_norm, scope, &id, &why);
    if (v != V_OK) {
        http_cors(req); /* Traefik and Envoy hand this answer to the client as it is */
        send_verdict(req, v, why, a->cfg.realm, r->metadata_url, scope);
        return 0;
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-wattle-sub"), 0, NULL,
                          id.sub, strlen(id.sub));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-wattle-client-id"), 0, NULL,
                          id.client_id, strlen(id.client_id));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-wattle-scope"), 0, NULL,
                          id.scope, strlen(id.scope));
    send_no_content(req);
    return 0;
}
