/* http_authorize.c — GET/POST /oauth/authorize (and /authorize), the login + consent page
 * (SPEC §4) and POST /oauth/logout. The request rules are authorize.c's; this file owns the
 * browser side: cookies (login session, browser id for CSRF binding), the HTML page, the
 * password check on a worker thread, and the code issuance through the store writer. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authorize.h"
#include "buf.h"
#include "cimd.h"
#include "crypto.h"
#include "grants.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "redirect.h"
#include "throttle.h"
#include "tokens.h"
#include "users.h"

#define PAGE_MAX (256 * 1024)

/* ---------------------------------------------------------------- cookies */

static const char *cookie_name(h2o_req_t *req, const char *base)
{
    if (!http_is_https(req))
        return base;
    size_t n = strlen(base) + 8;
    char *s = h2o_mem_alloc_pool(&req->pool, n);
    snprintf(s, n, "__Host-%s", base);
    return s;
}

/* Path=/oauth on http (SPEC §4); the __Host- prefix on https requires Path=/ (RFC 6265bis). */
static void set_cookie(h2o_req_t *req, const char *base, const char *value, int64_t max_age)
{
    char h[512];
    bool https = http_is_https(req);
    int n =
        snprintf(h, sizeof h, "%s=%s; Path=%s; HttpOnly; SameSite=Lax%s", cookie_name(req, base),
                 value, https ? "/" : "/oauth", https ? "; Secure" : "");
    if (max_age >= 0 && n > 0 && (size_t)n < sizeof h)
        snprintf(h + n, sizeof h - (size_t)n, "; Max-Age=%lld", (long long)max_age);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                   h2o_strdup(&req->pool, h, SIZE_MAX).base, strlen(h));
}

/* The browser id that CSRF tokens are bound to; set when the browser has none. */
static const char *browser_id(h2o_req_t *req)
{
    const char *bid = http_cookie(req, cookie_name(req, "wattle_bid"));
    if (bid && strlen(bid) == 22 && b64url_charset(bid, 22))
        return bid;
    uint8_t r[16];
    char *s = h2o_mem_alloc_pool(&req->pool, 23);
    if (crypto_random(r, sizeof r) != WT_OK)
        return NULL;
    b64url_encode(r, sizeof r, s);
    set_cookie(req, "wattle_bid", s, -1);
    return s;
}

/* The logged-in user of this browser (user->doc owned by the caller), or WT_NOTFOUND. */
static wt_status session_user(h2o_req_t *req, store_txn *t, int64_t now, user_t *u)
{
    const char *c = http_cookie(req, cookie_name(req, "wattle_session"));
    token_t tok;
    store_val v;
    session_rec s;
    uint8_t dg[32];
    memset(u, 0, sizeof *u);
    if (!c || token_parse(TOKEN_SESSION, c, strlen(c), &tok) != WT_OK)
        return WT_NOTFOUND;
    if (store_get(t, STORE_DB_SESSIONS, tok.selector, 16, &v) != WT_OK ||
        session_rec_decode(v.data, v.len, &s) != WT_OK)
        return WT_NOTFOUND;
    token_digest(&tok, dg);
    if (!crypto_equal(dg, s.digest, 32) || s.exp <= now)
        return WT_NOTFOUND;
    int64_t epoch = s.pw_epoch;
    char sub[128];
    snprintf(sub, sizeof sub, "%s", s.user_id);
    if (user_by_id(t, sub, u) != WT_OK)
        return WT_NOTFOUND;
    if (u->pw_epoch != epoch) { /* the password changed since: the session ended */
        user_free(u);
        return WT_NOTFOUND;
    }
    return WT_OK;
}

/* ---------------------------------------------------------------- pages */

static const char style[] =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "background:#f4f5f2;color:#1d211c}main{max-width:28rem;margin:2rem auto;padding:1.5rem;"
    "background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "h1{font-size:1.3rem;margin:0 0 .5rem}label{display:block;margin:.8rem 0 .2rem;"
    "font-weight:600}input[type=text],input[type=password],input:not([type]){width:100%;"
    "box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #8a9186;"
    "border-radius:6px}ul{padding-left:1.2rem}li{margin:.3rem 0}.buttons{display:flex;"
    "gap:.6rem;margin-top:1.2rem}button{flex:1;padding:.7rem;font-size:1rem;border-radius:6px;"
    "border:1px solid #3b6e22;cursor:pointer}button[value=allow]{background:#3b6e22;color:#fff}"
    "button[value=deny]{background:#fff;color:#3b6e22}.warn,.error{padding:.6rem;"
    "border-radius:6px}.warn{background:#fff4d6;border:1px solid #c99a06}.error{"
    "background:#fde7e7;border:1px solid #b3261e}.logout{margin-top:1rem;font-size:.9rem}"
    ".logout button{flex:none;padding:.3rem .6rem;font-size:.9rem;background:#fff;"
    "color:#1d211c;border-color:#8a9186}.muted{color:#4f574b;font-size:.9rem}";

static void page_head(buf_t *b, const char *title)
{
    buf_adds(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    buf_add_html(b, title);
    buf_adds(b, "</title><style>");
    buf_adds(b, style);
    buf_adds(b, "</style></head><body><main>");
}

static void send_page_to(h2o_req_t *req, int status, buf_t *b, const char *form_target)
{
    buf_adds(b, "</main></body></html>\n");
    if (b->failed) {
        static const char oops[] = "<!doctype html><p>The page is too large to show.</p>";
        http_html(req, 500, oops, sizeof oops - 1);
    } else {
        http_html_form(req, status, b->p, b->len, form_target);
    }
    buf_free(b);
}

static void send_page(h2o_req_t *req, int status, buf_t *b)
{
    send_page_to(req, status, b, NULL);
}

/* The CSP source expression of a redirect URI: its origin for http(s) with a plain host name
 * or IPv4 address, else its scheme ("com.example.app:", or "http:" for an IPv6 loopback).
 * Pool memory. */
static const char *redirect_source(h2o_req_t *req, const char *uri)
{
    size_t slen = strcspn(uri, ":");
    if (uri[slen] != ':' || slen == 0 || slen > 40)
        return NULL;
    for (size_t i = 0; i < slen; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-", uri[i]))
            return NULL;
    size_t n = slen + 1;
    bool web = (slen == 4 && strncasecmp(uri, "http", 4) == 0) ||
               (slen == 5 && strncasecmp(uri, "https", 5) == 0);
    if (web && strncmp(uri + slen, "://", 3) == 0) {
        const char *host = uri + slen + 3;
        size_t hl = strcspn(host, "/?#");
        bool plain = hl > 0 && hl < 256;
        for (size_t i = 0; plain && i < hl; i++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:",
                           host[i]) != NULL;
        if (plain)
            n = slen + 3 + hl;
    }
    return h2o_strdup(&req->pool, uri, n).base;
}

/* The 400 page for errors that must not be redirected (unknown client, bad redirect URI). */
static void error_page(h2o_req_t *req, int status, const char *title, const char *msg)
{
    buf_t b;
    buf_init(&b, PAGE_MAX);
    page_head(&b, title);
    buf_adds(&b, "<h1>");
    buf_add_html(&b, title);
    buf_adds(&b, "</h1><p class=\"error\" role=\"alert\">");
    buf_add_html(&b, msg);
    buf_adds(&b, "</p><p class=\"muted\">Return to the application and start again. If this "
                 "keeps happening, tell the application's developer.</p>");
    send_page(req, status, &b);
}

/* The login + consent page for a validated request. */
static void consent_page(http_thread *t, h2o_req_t *req, const authz_req *r, const user_t *u,
                         const char *bid, int status, const char *error)
{
    app *a = t->a;
    char host[256], csrf[44], logout_csrf[44];
    char *packed = authz_pack(r, now_us() / 1000000);
    if (!packed || !bid) {
        free(packed);
        error_page(req, 503, "Try again", "The server is short of resources.");
        return;
    }
    authz_csrf(a, bid, packed, csrf);
    redirect_uri_host(r->redirect, host, sizeof host);
    buf_t b;
    buf_init(&b, PAGE_MAX);
    char title[300];
    snprintf(title, sizeof title, "Authorize %s", r->client.name);
    page_head(&b, title);
    buf_adds(&b, "<h1>Authorize <strong>");
    buf_add_html(&b, r->client.name);
    buf_adds(&b, "</strong></h1><p>After you decide, you will return to <strong>");
    buf_add_html(&b, host);
    buf_adds(&b, "</strong>.</p>");
    cimd_url doc;
    char dwhy[64];
    if (r->client.source == CLIENT_CIMD &&
        cimd_url_parse(r->client.id, &doc, dwhy, sizeof dwhy) == WT_OK) {
        /* Its name is self-chosen: show who vouches for it. */
        buf_adds(&b, "<p class=\"muted\">Identified by its metadata document on <strong>");
        buf_add_html(&b, doc.host);
        buf_adds(&b, "</strong>.</p>");
    }
    if (client_loopback_only(&r->client))
        buf_adds(&b, "<p class=\"warn\" role=\"note\">This application only returns to "
                     "addresses on this device (loopback). Continue only if you started it "
                     "yourself just now.</p>");
    if (error) {
        buf_adds(&b, "<p class=\"error\" role=\"alert\">");
        buf_add_html(&b, error);
        buf_adds(&b, "</p>");
    }
    buf_adds(&b, "<form method=\"post\" action=\"/oauth/authorize\">"
                 "<input type=\"hidden\" name=\"request\" value=\"");
    buf_add_html(&b, packed);
    buf_adds(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
    buf_add_html(&b, csrf);
    buf_adds(&b, "\">");
    if (!u)
        buf_adds(&b, "<label for=\"username\">Username</label>"
                     "<input id=\"username\" name=\"username\" autocomplete=\"username\" "
                     "autocapitalize=\"none\" spellcheck=\"false\" required>"
                     "<label for=\"password\">Password</label>"
                     "<input id=\"password\" name=\"password\" type=\"password\" "
                     "autocomplete=\"current-password\" required>");
    buf_adds(&b, "<p>");
    buf_add_html(&b, r->client.name);
    buf_adds(&b, " asks to:</p><ul class=\"scopes\">");
    const char *s = r->granted_scope;
    while (*s) {
        size_t n = strcspn(s, " ");
        const scope_def *d = scope_find(&a->scopes, s, n);
        buf_adds(&b, "<li><strong>");
        buf_add_html(&b, d ? d->name : "");
        buf_adds(&b, "</strong>: ");
        buf_add_html(&b, d ? d->description : "");
        buf_adds(&b, "</li>");
        s += n;
        while (*s == ' ')
            s++;
    }
    buf_adds(&b, "</ul><div class=\"buttons\">"
                 "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>"
                 "<button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>"
                 "Deny</button></div></form>");
    if (u) {
        authz_csrf(a, bid, "logout", logout_csrf);
        buf_adds(&b, "<form method=\"post\" action=\"/oauth/logout\" class=\"logout\">"
                     "<span class=\"muted\">Signed in as <strong>");
        buf_add_html(&b, u->display_name ? u->display_name : u->username);
        buf_adds(&b, "</strong>.</span> <input type=\"hidden\" name=\"csrf\" value=\"");
        buf_add_html(&b, logout_csrf);
        buf_adds(&b, "\"><input type=\"hidden\" name=\"request\" value=\"");
        buf_add_html(&b, packed);
        buf_adds(&b, "\"><button type=\"submit\">Not you?</button></form>");
    }
    free(packed);
    send_page_to(req, status, &b, redirect_source(req, r->redirect));
}

/* ---------------------------------------------------------------- the flow */

/* Everything one authorization keeps across its waits (password hash, store write). */
struct authz_job {
    http_job job;
    form_t params; /* the request's parameters; r borrows from it */
    authz_req r;
    user_t user;    /* the user being logged in, or the session's */
    bool found;     /* user exists (else a dummy hash is checked) */
    bool logged_in; /* through the session cookie */
    char *username, *password, *peer, *bid;
    wt_status verified;
    code_issue issue;
    char *remember_scope;
    int status; /* 302 (no page) or 303 (after the form) */
};

static void job_free(struct authz_job *j)
{
    if (j->password) {
        OPENSSL_cleanse(j->password, strlen(j->password));
        free(j->password);
    }
    free(j->username);
    free(j->peer);
    free(j->bid);
    free(j->remember_scope);
    user_free(&j->user);
    authz_free(&j->r);
    form_free(&j->params);
    OPENSSL_cleanse(&j->issue, sizeof j->issue);
    free(j);
}

static void redirect_error(http_thread *t, h2o_req_t *req, const authz_req *r, enum oauth_error e,
                           const char *why, int status)
{
    char *loc = authz_error_location(t->a, r, e, why);
    if (loc)
        http_redirect(req, status, loc);
    else
        error_page(req, 400, "Request too large", "The redirect would be too long.");
    free(loc);
}

static void finish_issue(http_job *job, h2o_req_t *req)
{
    struct authz_job *j = (struct authz_job *)job;
    if (req) {
        if (job->op.status != WT_OK) {
            error_page(req, 503, "Try again",
                       "The server could not save the authorization. "
                       "Please try again.");
        } else {
            char code[TOKEN_STR_LEN + 1];
            memcpy(code, token_prefix(TOKEN_CODE), 4);
            b64url_encode(&j->issue.code, sizeof j->issue.code, code + 4);
            if (j->issue.new_session) {
                char sess[TOKEN_STR_LEN + 1];
                memcpy(sess, token_prefix(TOKEN_SESSION), 4);
                b64url_encode(&j->issue.session, sizeof j->issue.session, sess + 4);
                set_cookie(req, "wattle_session", sess, j->job.thr->a->cfg.session_ttl);
                OPENSSL_cleanse(sess, sizeof sess);
            }
            char *loc = authz_code_location(j->job.thr->a, &j->r, code);
            OPENSSL_cleanse(code, sizeof code);
            if (loc)
                http_redirect(req, j->status, loc);
            else
                error_page(req, 400, "Request too large", "The redirect would be too long.");
            free(loc);
        }
    }
    job_free(j);
}

/* The union of two scope strings (old consent first), malloc'd. */
static char *scope_union(const char *a, const char *b)
{
    buf_t u;
    buf_init(&u, 8192);
    buf_adds(&u, a ? a : "");
    const char *s = b;
    while (*s) {
        size_t n = strcspn(s, " ");
        char tok[256];
        if (n < sizeof tok) {
            memcpy(tok, s, n);
            tok[n] = '\0';
            if (!a || !scope_has(a, tok)) {
                if (u.len)
                    buf_adds(&u, " ");
                buf_adds(&u, tok);
            }
        }
        s += n;
        while (*s == ' ')
            s++;
    }
    return buf_steal(&u);
}

/* Hands the code (and maybe a new session and the consent) to the store writer. */
static void issue_code(http_thread *t, h2o_req_t *req, struct authz_job *j, bool new_session,
                       const char *old_consent)
{
    app *a = t->a;
    int64_t now = now_us() / 1000000;
    code_issue *c = &j->issue;
    c->now = now;
    c->code_exp = now + a->cfg.code_ttl;
    c->auth_time = now;
    c->client_id = j->r.client.id;
    c->user_id = j->user.sub;
    c->redirect_uri = j->r.redirect;
    c->redirect_given = j->r.redirect_uri != NULL;
    c->challenge = j->r.code_challenge;
    c->scope = j->r.granted_scope;
    c->resource = j->r.res->resource;
    if (j->status == 303) { /* the user approved on the page: remember it */
        j->remember_scope = scope_union(old_consent, j->r.granted_scope);
        c->consent_scope = j->remember_scope;
    }
    c->new_session = new_session;
    c->session_exp = now + a->cfg.session_ttl;
    c->pw_epoch = j->user.pw_epoch;
    if (token_mint(TOKEN_CODE, now_us(), &c->code, NULL) != WT_OK ||
        (new_session && token_mint(TOKEN_SESSION, now_us(), &c->session, NULL) != WT_OK)) {
        error_page(req, 503, "Try again", "The server is short of randomness.");
        job_free(j);
        return;
    }
    http_job_init(&j->job, req, finish_issue);
    http_job_store_restartable(&j->job, tokens_issue_code, c);
}

static void finish_login(http_job *job, h2o_req_t *req);

static void run_verify(worker_job *w)
{
    struct authz_job *j = (struct authz_job *)H2O_STRUCT_FROM_MEMBER(http_job, wjob, w);
    /* Unknown users cost the same: a full hash against a dummy. */
    j->verified =
        password_verify(j->password, strlen(j->password), j->found ? j->user.password_hash : NULL);
    OPENSSL_cleanse(j->password, strlen(j->password));
}

static int64_t now_s(void)
{
    return now_us() / 1000000;
}

/* Reads the stored consent of the job's user for its client into out ("" when none). */
static void old_consent(http_thread *t, struct authz_job *j, char *out, size_t n)
{
    store_txn *txn;
    out[0] = '\0';
    if (store_reader_begin(t->reader, &txn) != WT_OK)
        return;
    if (consent_get(txn, j->user.sub, j->r.client.id, out, n) != WT_OK)
        out[0] = '\0';
    store_reader_end(t->reader);
}

static void finish_login(http_job *job, h2o_req_t *req)
{
    struct authz_job *j = (struct authz_job *)job;
    http_thread *t = job->thr;
    if (!req) {
        job_free(j);
        return;
    }
    char mu[32];
    log_mask(j->username, mu, sizeof mu);
    if (j->verified == WT_OK && j->found) {
        char consent[2048];
        throttle_success(t->a->login_throttle, j->peer, j->username);
        old_consent(t, j, consent, sizeof consent);
        j->status = 303;
        issue_code(t, req, j, true, consent[0] ? consent : NULL);
        return;
    }
    throttle_fail(t->a->login_throttle, j->peer, j->username, now_s());
    log_event("login_failed", json_pack("{s:s, s:s}", "user", mu, "peer", j->peer));
    consent_page(t, req, &j->r, NULL, j->bid, 200, "Wrong username or password.");
    job_free(j);
}

/* Reads the parameters of an authorize request: the query (GET) or a form body (POST). On
 * a malformed request shows the error page and returns -1. */
static int read_params(http_thread *t, h2o_req_t *req, form_t *f)
{
    char why[160];
    const char *s = "";
    size_t len = 0;
    memset(f, 0, sizeof *f);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        const char *ct = http_header(req, H2O_TOKEN_CONTENT_TYPE, NULL, NULL);
        if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
            error_page(req, 400, "Cannot authorize",
                       "Send the form as application/x-www-form-urlencoded.");
            return -1;
        }
        if (req->entity.len > t->a->cfg.max_body_bytes) {
            error_page(req, 413, "Cannot authorize", "The request is too large.");
            return -1;
        }
        s = req->entity.base ? req->entity.base : "";
        len = req->entity.len;
    } else if (req->query_at != SIZE_MAX) {
        s = req->path.base + req->query_at + 1;
        len = req->path.len - req->query_at - 1;
    }
    if (form_parse(s, len, f, why, sizeof why) != WT_OK) {
        error_page(req, 400, "Cannot authorize", why);
        return -1;
    }
    return 0;
}

static void show_validation_error(http_thread *t, h2o_req_t *req, struct authz_job *j,
                                  authz_result res, enum oauth_error e, const char *why, int status)
{
    if (res == AUTHZ_SHOW_ERROR)
        error_page(req, 400, "Cannot authorize this application", why);
    else
        redirect_error(t, req, &j->r, e, why, status);
}

/* A fresh authorization request whose client is in the store (or unknown). */
static void authorize_known(http_thread *t, h2o_req_t *req, struct authz_job *j)
{
    app *a = t->a;
    store_txn *txn;
    enum oauth_error e;
    char why[256], consent[2048] = "";
    if (store_reader_begin(t->reader, &txn) != WT_OK) {
        error_page(req, 503, "Try again", "The server cannot read its store.");
        job_free(j);
        return;
    }
    authz_result res = authz_validate(a, txn, &j->params, &j->r, &e, why, sizeof why);
    if (res != AUTHZ_OK) {
        store_reader_end(t->reader);
        show_validation_error(t, req, j, res, e, why, 302);
        job_free(j);
        return;
    }
    const char *prompt = j->r.prompt ? j->r.prompt : "";
    bool force_login = scope_has(prompt, "login");
    j->logged_in = !force_login && session_user(req, txn, now_s(), &j->user) == WT_OK;
    /* A metadata-document client with only loopback redirects can be claimed by anyone. */
    bool may_skip = !scope_has(prompt, "consent") &&
                    !(j->r.client.source == CLIENT_CIMD && client_loopback_only(&j->r.client));
    bool covered =
        j->logged_in &&
        consent_get(txn, j->user.sub, j->r.client.id, consent, sizeof consent) == WT_OK &&
        scope_covers(consent, j->r.granted_scope);
    store_reader_end(t->reader);
    if (j->logged_in && may_skip && covered) {
        j->status = 302;
        issue_code(t, req, j, false, NULL);
        return;
    }
    if (scope_has(prompt, "none")) {
        redirect_error(t, req, &j->r, j->logged_in ? OE_CONSENT_REQUIRED : OE_LOGIN_REQUIRED,
                       j->logged_in ? "the user has not approved this client yet"
                                    : "the user is not signed in",
                       302);
        job_free(j);
        return;
    }
    consent_page(t, req, &j->r, j->logged_in ? &j->user : NULL, browser_id(req), 200, NULL);
    job_free(j);
}

/* ---------------------------------------------------------------- metadata documents */

/* A client_id that is an https:// URL names a Client ID Metadata Document (cimd.h). When the
 * store has no fresh copy, the authorization waits while a worker fetches and checks the
 * document and the writer stores it as a client; then it goes on as for any known client. */
struct cimd_job {
    http_job job;
    struct authz_job *authz; /* the authorization waiting for its client (owned) */
    char *url;               /* the client_id */
    cimd_url u;
    json_t *doc;   /* the client document built from the fetched one, or NULL */
    char why[512]; /* why not, when doc is NULL */
    int status;    /* and the page's status then: 400, or 503 (our trouble) */
    cimd_put_op put;
};

static void cimd_job_free(struct cimd_job *c)
{
    if (c->authz)
        job_free(c->authz);
    json_decref(c->doc);
    free(c->url);
    free(c);
}

/* On a worker: fetch, check, build. Blocks for at most CIMD_TIMEOUT_MS (+ name resolution). */
static void cimd_run(worker_job *w)
{
    struct cimd_job *c = (struct cimd_job *)H2O_STRUCT_FROM_MEMBER(http_job, wjob, w);
    const app *a = c->job.thr->a;
    cimd_fetch_opts o = {.allow_private = a->cfg.cimd.allow_private_addresses,
                         .ca_file = a->cfg.cimd.ca_file,
                         .abandon = &c->job.thr->stop};
    cimd_response r;
    wt_status st = cimd_fetch(c->url, &c->u, &o, &r, c->why, sizeof c->why);
    if (st != WT_OK) {
        c->status = st == WT_NOMEM || atomic_load(o.abandon) ? 503 : 400;
        return;
    }
    int64_t now = now_us() / 1000000;
    cimd_client_doc(c->url, c->u.host, r.body, r.len, &a->scopes, now,
                    cimd_ttl(r.cache_control, a->cfg.cimd.cache_ttl), &c->doc, c->why,
                    sizeof c->why);
    cimd_response_free(&r);
}

static void cimd_stored(http_job *job, h2o_req_t *req)
{
    struct cimd_job *c = (struct cimd_job *)job;
    if (!req) {
        cimd_job_free(c);
        return;
    }
    if (job->op.status == WT_OK) {
        http_thread *t = job->thr;
        struct authz_job *j = c->authz;
        c->authz = NULL;
        cimd_job_free(c);
        authorize_known(t, req, j);
        return;
    }
    if (c->put.full)
        error_page(req, 503, "Cannot authorize this application",
                   "This server has reached its limit on applications identified by a metadata "
                   "document (client_id URL). Try again later, or ask the server's "
                   "administrator.");
    else
        error_page(req, 503, "Try again",
                   "The server could not save the application's "
                   "metadata. Please try again.");
    cimd_job_free(c);
}

static void cimd_fetched(http_job *job, h2o_req_t *req)
{
    struct cimd_job *c = (struct cimd_job *)job;
    if (!req) {
        cimd_job_free(c);
        return;
    }
    if (!c->doc) {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "This application is identified by a metadata document (its "
                 "client_id URL), which cannot be used: %s.",
                 c->why[0] ? c->why : "unknown error");
        error_page(req, c->status ? c->status : 400, "Cannot authorize this application", msg);
        cimd_job_free(c);
        return;
    }
    c->put.doc = c->doc;
    c->put.max_clients = CIMD_MAX_CLIENTS;
    http_job_init(&c->job, req, cimd_stored);
    http_job_store(&c->job, cimd_put, &c->put);
}

/* Takes over the request (returns true) when client_id is a metadata-document URL whose
 * client must be fetched first, or is refused; false: go on with the stored client. */
static bool cimd_begin(http_thread *t, h2o_req_t *req, struct authz_job *j)
{
    app *a = t->a;
    const char *id = form_get(&j->params, "client_id");
    char why[256];
    if (!cimd_is_url(id) || form_count(&j->params, "client_id") != 1)
        return false; /* not a URL, or authz_validate refuses the duplicate */
    if (!a->cfg.cimd.enabled) {
        error_page(req, 400, "Cannot authorize this application",
                   "unknown client_id: this server does not accept client metadata documents "
                   "(client_id URLs)");
        job_free(j);
        return true;
    }
    store_txn *txn;
    if (store_reader_begin(t->reader, &txn) != WT_OK)
        return false; /* authorize_known reports it */
    client_t known;
    bool fresh = client_load(txn, id, &known) == WT_OK &&
                 (known.source != CLIENT_CIMD || cimd_fresh(known.doc, now_s()));
    client_free(&known);
    store_reader_end(t->reader);
    if (fresh)
        return false;
    struct cimd_job *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(id))) {
        free(c);
        error_page(req, 503, "Try again", "The server is short of memory.");
        job_free(j);
        return true;
    }
    c->authz = j;
    if (cimd_url_parse(id, &c->u, why, sizeof why) != WT_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "The client_id is not a valid metadata document URL: %s.", why);
        error_page(req, 400, "Cannot authorize this application", msg);
        cimd_job_free(c);
        return true;
    }
    /* Each fetch is an outbound request anyone can trigger: it counts against the
     * registration rate of the caller's address. */
    int wait = a->cfg.rate_limit.reg > 0 ? ratelimit_hit(a->limits, RL_REGISTER, http_peer(req),
                                                         a->cfg.rate_limit.reg, now_s())
                                         : 0;
    if (wait > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait);
        http_add(req, "retry-after", ra);
        error_page(req, 429, "Try again",
                   "Too many applications were looked up from your "
                   "address. Wait a moment and try again.");
        cimd_job_free(c);
        return true;
    }
    http_job_init(&c->job, req, cimd_fetched);
    http_job_worker_on(&c->job, t->a->fetchers, cimd_run);
    return true;
}

/* A fresh authorization request (GET, or POST of the same parameters). */
static void authorize_request(http_thread *t, h2o_req_t *req, struct authz_job *j)
{
    if (!cimd_begin(t, req, j))
        authorize_known(t, req, j);
}

/* The consent form posted back. */
static void consent_submit(http_thread *t, h2o_req_t *req, struct authz_job *j)
{
    app *a = t->a;
    const char *bid = http_cookie(req, cookie_name(req, "wattle_bid"));
    const char *packed = form_get(&j->params, "request"), *csrf = form_get(&j->params, "csrf");
    const char *decision = form_get(&j->params, "decision");
    const char *username = form_get(&j->params, "username");
    const char *password = form_get(&j->params, "password");
    form_t pending;
    enum oauth_error e;
    char why[256];
    store_txn *txn;
    if (form_duplicate(&j->params) || !authz_csrf_ok(a, bid, packed, csrf)) {
        error_page(req, 400, "This form cannot be used",
                   "The form was not opened in this browser, or it was tampered with. Return "
                   "to the application and start again.");
        job_free(j);
        return;
    }
    wt_status st = authz_unpack(packed, now_s(), &pending);
    if (st != WT_OK) {
        error_page(req, 400, "This page has expired",
                   "The authorization request is more than 10 minutes old. Return to the "
                   "application and start again.");
        job_free(j);
        return;
    }
    /* Keep what the user typed; the request's parameters come from the packed form. */
    j->username = username ? strdup(username) : NULL;
    j->password = password ? strdup(password) : NULL;
    bool deny = decision && strcmp(decision, "deny") == 0;
    bool allow = decision && strcmp(decision, "allow") == 0;
    form_free(&j->params);
    j->params = pending;
    if (store_reader_begin(t->reader, &txn) != WT_OK) {
        error_page(req, 503, "Try again", "The server cannot read its store.");
        job_free(j);
        return;
    }
    authz_result res = authz_validate(a, txn, &j->params, &j->r, &e, why, sizeof why);
    if (res == AUTHZ_OK && allow)
        j->logged_in = session_user(req, txn, now_s(), &j->user) == WT_OK;
    if (res == AUTHZ_OK && allow && !j->logged_in && j->username)
        j->found = user_by_name(txn, j->username, &j->user) == WT_OK;
    store_reader_end(t->reader);
    if (res != AUTHZ_OK) {
        show_validation_error(t, req, j, res, e, why, 303);
        job_free(j);
        return;
    }
    if (deny) {
        redirect_error(t, req, &j->r, OE_ACCESS_DENIED, "the user denied the request", 303);
        job_free(j);
        return;
    }
    if (!allow) {
        consent_page(t, req, &j->r, NULL, bid, 400, "Choose Allow or Deny.");
        job_free(j);
        return;
    }
    if (j->logged_in) {
        char consent[2048];
        old_consent(t, j, consent, sizeof consent);
        j->status = 303;
        issue_code(t, req, j, false, consent[0] ? consent : NULL);
        return;
    }
    if (!j->username || !j->username[0] || !j->password || !j->password[0]) {
        consent_page(t, req, &j->r, NULL, bid, 200, "Enter your username and password.");
        job_free(j);
        return;
    }
    j->peer = strdup(http_peer(req));
    j->bid = strdup(bid);
    int wait = j->peer ? throttle_check(a->login_throttle, j->peer, j->username, now_s()) : 1;
    if (wait > 0 || !j->bid) {
        char ra[16], mu[32];
        snprintf(ra, sizeof ra, "%d", wait > 0 ? wait : 1);
        log_mask(j->username, mu, sizeof mu);
        log_event("login_throttled", json_pack("{s:s, s:s, s:i}", "user", mu, "peer",
                                               j->peer ? j->peer : "-", "retry_after", wait));
        http_add(req, "retry-after", ra);
        consent_page(t, req, &j->r, NULL, bid, 429,
                     "Too many failed sign-in attempts. Wait a few minutes and try again.");
        job_free(j);
        return;
    }
    http_job_init(&j->job, req, finish_login);
    http_job_worker(&j->job, run_verify);
}

int http_authorize(http_thread *t, h2o_req_t *req)
{
    struct authz_job *j = calloc(1, sizeof *j);
    if (!j) {
        error_page(req, 503, "Try again", "The server is short of memory.");
        return 0;
    }
    if (read_params(t, req, &j->params) != 0) {
        job_free(j);
        return 0;
    }
    bool post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (post && (form_get(&j->params, "csrf") || form_get(&j->params, "request")))
        consent_submit(t, req, j);
    else
        authorize_request(t, req, j);
    return 0;
}

/* ---------------------------------------------------------------- logout */

struct logout_job {
    http_job job;
    token_t session;
    char *back; /* where to go next: the authorize URL of the pending request, or NULL */
};

static void logout_respond(h2o_req_t *req, const char *back)
{
    set_cookie(req, "wattle_session", "", 0);
    if (back) {
        http_redirect(req, 303, back);
        return;
    }
    buf_t b;
    buf_init(&b, PAGE_MAX);
    page_head(&b, "Signed out");
    buf_adds(&b, "<h1>Signed out</h1><p>You are signed out. Return to the application to "
                 "continue.</p>");
    send_page(req, 200, &b);
}

static void finish_logout(http_job *job, h2o_req_t *req)
{
    struct logout_job *j = (struct logout_job *)job;
    if (req)
        logout_respond(req, j->back);
    free(j->back);
    OPENSSL_cleanse(&j->session, sizeof j->session);
    free(j);
}

/* /oauth/authorize?<the pending request's parameters>, malloc'd. */
static char *authorize_url(const form_t *f)
{
    buf_t b;
    buf_init(&b, 32768);
    buf_adds(&b, "/oauth/authorize");
    for (size_t i = 0, n = 0; i < f->n; i++) {
        if (strcmp(f->v[i].name, "exp") == 0)
            continue;
        buf_adds(&b, n++ ? "&" : "?");
        buf_add_urlenc(&b, f->v[i].name, strlen(f->v[i].name));
        buf_adds(&b, "=");
        buf_add_urlenc(&b, f->v[i].value, f->v[i].value_len);
    }
    return buf_steal(&b);
}

int http_logout(http_thread *t, h2o_req_t *req)
{
    form_t f;
    char why[160];
    memset(&f, 0, sizeof f);
    const char *ct = http_header(req, H2O_TOKEN_CONTENT_TYPE, NULL, NULL);
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
        req->entity.len > t->a->cfg.max_body_bytes ||
        form_parse(req->entity.base ? req->entity.base : "", req->entity.len, &f, why,
                   sizeof why) != WT_OK) {
        error_page(req, 400, "Cannot sign out", "The sign-out form is malformed.");
        return 0;
    }
    const char *bid = http_cookie(req, cookie_name(req, "wattle_bid"));
    if (!authz_csrf_ok(t->a, bid, "logout", form_get(&f, "csrf"))) {
        form_free(&f);
        error_page(req, 400, "Cannot sign out",
                   "The sign-out form was not opened in this browser.");
        return 0;
    }
    struct logout_job *j = calloc(1, sizeof *j);
    form_t pending;
    const char *packed = form_get(&f, "request");
    if (j && packed && authz_unpack(packed, now_s(), &pending) == WT_OK) {
        j->back = authorize_url(&pending);
        form_free(&pending);
    }
    form_free(&f);
    if (!j) {
        error_page(req, 503, "Try again", "The server is short of memory.");
        return 0;
    }
    const char *c = http_cookie(req, cookie_name(req, "wattle_session"));
    if (!c || token_parse(TOKEN_SESSION, c, strlen(c), &j->session) != WT_OK) {
        logout_respond(req, j->back); /* no session: nothing to end in the store */
        free(j->back);
        free(j);
        return 0;
    }
    http_job_init(&j->job, req, finish_logout);
    http_job_store(&j->job, tokens_end_session, &j->session);
    return 0;
}
