/* cli.c — the `wattle` command line (SPEC §1). One table of commands; shared option parsing;
 * each admin command opens the store, runs its change in one write transaction and prints
 * JSON on stdout. Exit status: 0 ok, 1 for anything fixable in the invocation, 2 for store or
 * I/O errors. `serve` wires the store, the workers and the HTTP server together. */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "cli_internal.h"
#include "clients.h"
#include "assertion.h"
#include "crypto.h"
#include "gc.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metadata.h"
#include "secrets.h"
#include "ratelimit.h"
#include "throttle.h"
#include "token.h"
#include "users.h"
#include "workers.h"

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wattle: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

void cli_wipe(char *s)
{
    OPENSSL_cleanse(s, strlen(s));
}

int cli_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s)
        return cli_fail(2, "out of memory");
    puts(s);
    free(s);
    return 0;
}

/* ---------------------------------------------------------------- store plumbing */

int cli_open_store(app *a, bool readonly)
{
    char err[512];
    wt_status st = store_open(&a->st, a->cfg.data_dir, readonly, err, sizeof err);
    if (st != WT_OK)
        return cli_fail(2, "%s", err);
    return 0;
}

int cli_store_fail(wt_status st, const char *what)
{
    return cli_fail(2, "%s: store error (%s); see the messages above", what, wt_status_str(st));
}

/* ---------------------------------------------------------------- clients */

struct client_add_ctx {
    json_t *doc;
};

static wt_status run_client_add(store_txn *t, void *arg)
{
    return client_store(t, ((struct client_add_ctx *)arg)->doc, true);
}

static int cmd_client_add(app *a, const opts *o, const struct command *cmd)
{
    char err[512], why[256], secret[TOKEN_STR_LEN + 1];
    const char *field = NULL;
    if (!o->name)
        return cli_fail(1, "client add: --name is required (try: wattle client add --name \"My "
                           "app\" --redirect-uri https://app.example/callback)");
    if (metadata_load_scopes(a, err, sizeof err) != WT_OK)
        return cli_fail(1, "%s", err);
    json_t *jwks = NULL;
    if (o->jwks) {
        if (!o->token_auth || strcmp(o->token_auth, "private_key_jwt") != 0)
            return cli_fail(1, "client add: --jwks is only used with --token-auth private_key_jwt");
        json_error_t je;
        jwks = json_load_file(o->jwks, JSON_REJECT_DUPLICATES, &je);
        if (!jwks)
            return cli_fail(1, "client add: --jwks %s: %s (line %d)", o->jwks, je.text, je.line);
        if (json_object_get(jwks, "kty")) /* one JWK: wrap it */
            jwks = json_pack("{s:[o]}", "keys", jwks);
        if (assertion_jwks_check(jwks, why, sizeof why) != WT_OK) {
            json_decref(jwks);
            return cli_fail(1, "client add: --jwks %s: %s", o->jwks, why);
        }
    }
    client_spec sp = {.name = o->name,
                      .redirect_uris = o->redirect_uris,
                      .nredirect = o->nredirect,
                      .grant_types = o->ngrant ? o->grant_types : NULL,
                      .ngrant = o->ngrant,
                      .token_auth = o->token_auth,
                      .is_public = o->is_public,
                      .scope = o->scope,
                      .jwks = jwks,
                      .source = CLIENT_CLI};
    struct client_add_ctx ctx = {0};
    wt_status bst = client_build(&sp, &a->scopes, (int64_t)(now_us() / 1000000), &ctx.doc, secret,
                                 why, sizeof why, &field);
    json_decref(jwks);
    if (bst != WT_OK)
        return cli_fail(1, "client add: %s", why);
    int rc = cli_open_store(a, false);
    if (rc == 0) {
        wt_status st = store_write_sync(a->st, run_client_add, &ctx);
        if (st != WT_OK)
            rc = cli_store_fail(st, "client add");
    }
    if (rc == 0) {
        json_t *out = client_public_view(ctx.doc);
        if (secret[0]) {
            json_object_set_new(out, "client_secret", json_string(secret));
            json_object_set_new(out, "client_secret_expires_at", json_integer(0));
        }
        rc = cli_print_json(out);
    }
    cli_wipe(secret);
    json_decref(ctx.doc);
    return rc;
}

int cli_with_reader(app *a, store_txn **t, store_reader **r)
{
    int rc = cli_open_store(a, true);
    if (rc)
        return rc;
    *r = store_reader_new(a->st);
    if (!*r || store_reader_begin(*r, t) != WT_OK)
        return cli_fail(2, "cannot read the store in %s", a->cfg.data_dir);
    return 0;
}

static int collect_json(void *arg, store_val k, store_val v)
{
    json_t *doc = json_loadb(v.data, v.len, 0, NULL);
    if (doc)
        json_array_append_new(arg, doc);
    return 0;
}

/* Prints every document of db through `view` (which drops what must not be shown). */
static int list_docs(app *a, store_db db, json_t *(*view)(const json_t *), const char *what)
{
    store_txn *t;
    store_reader *r = NULL;
    int rc = cli_with_reader(a, &t, &r);
    if (rc)
        return rc;
    json_t *all = json_array(), *out = json_array(), *v;
    size_t i;
    wt_status st = store_iter(t, db, NULL, 0, collect_json, all);
    store_reader_end(r);
    store_reader_free(r);
    json_array_foreach(all, i, v) json_array_append_new(out, view(v));
    json_decref(all);
    if (st != WT_OK) {
        json_decref(out);
        return cli_store_fail(st, what);
    }
    return cli_print_json(out);
}

static int cmd_client_list(app *a, const opts *o, const struct command *cmd)
{
    return list_docs(a, STORE_DB_CLIENTS, client_public_view, "client list");
}

static int cmd_client_show(app *a, const opts *o, const struct command *cmd)
{
    store_txn *t;
    store_reader *r = NULL;
    client_t c;
    int rc = cli_with_reader(a, &t, &r);
    if (rc)
        return rc;
    wt_status st = client_load(t, o->args[0], &c);
    store_reader_end(r);
    store_reader_free(r);
    if (st == WT_NOTFOUND)
        return cli_fail(1, "client show: no client with id %s (see: wattle client list)",
                        o->args[0]);
    if (st != WT_OK)
        return cli_store_fail(st, "client show");
    rc = cli_print_json(client_public_view(c.doc));
    client_free(&c);
    return rc;
}

struct id_ctx {
    const char *id;
    char *secret;
};

static wt_status run_client_remove(store_txn *t, void *arg)
{
    return client_remove(t, ((struct id_ctx *)arg)->id);
}

static wt_status run_rotate(store_txn *t, void *arg)
{
    struct id_ctx *c = arg;
    return client_rotate_secret(t, c->id, c->secret);
}

static int cmd_client_remove(app *a, const opts *o, const struct command *cmd)
{
    struct id_ctx ctx = {.id = o->args[0]};
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    wt_status st = store_write_sync(a->st, run_client_remove, &ctx);
    if (st == WT_NOTFOUND)
        return cli_fail(1, "client remove: no client with id %s (see: wattle client list)", ctx.id);
    if (st != WT_OK)
        return cli_store_fail(st, "client remove");
    return cli_print_json(json_pack("{s:s, s:b}", "client_id", ctx.id, "removed", 1));
}

static int cmd_client_rotate(app *a, const opts *o, const struct command *cmd)
{
    char secret[TOKEN_STR_LEN + 1] = "";
    struct id_ctx ctx = {.id = o->args[0], .secret = secret};
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    wt_status st = store_write_sync(a->st, run_rotate, &ctx);
    if (st == WT_NOTFOUND)
        return cli_fail(1, "client rotate-secret: no client with id %s", ctx.id);
    if (st == WT_INVALID)
        return cli_fail(1,
                        "client rotate-secret: %s has no client secret (public or "
                        "private_key_jwt client)",
                        ctx.id);
    if (st != WT_OK)
        return cli_store_fail(st, "client rotate-secret");
    rc = cli_print_json(json_pack("{s:s, s:s, s:i}", "client_id", ctx.id, "client_secret", secret,
                                  "client_secret_expires_at", 0));
    cli_wipe(secret);
    return rc;
}

/* ---------------------------------------------------------------- users */

/* Reads one line (its newline not included) from stdin into buf. */
static int read_password(char *buf, size_t n, const char *what)
{
    if (!fgets(buf, (int)n, stdin))
        return cli_fail(1,
                        "%s: no password on standard input (pipe it in: printf '%%s\\n' "
                        "\"$PASSWORD\" | wattle …)",
                        what);
    size_t len = strcspn(buf, "\n");
    if (buf[len] != '\n' && !feof(stdin))
        return cli_fail(1, "%s: password longer than %zu bytes", what, n - 2);
    buf[len] = '\0';
    if (len && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (len < 8)
        return cli_fail(1, "%s: the password must be at least 8 characters", what);
    return 0;
}

struct user_ctx {
    json_t *doc;
    const char *name;
    const char *hash;
};

static wt_status run_user_add(store_txn *t, void *arg)
{
    return user_create(t, ((struct user_ctx *)arg)->doc);
}

static int cmd_user_add(app *a, const opts *o, const struct command *cmd)
{
    char pw[1026], hash[PASSWORD_HASH_MAX];
    const char *name = o->args[0];
    if (!username_valid(name))
        return cli_fail(1,
                        "user add: username must be 1 to %d characters of letters, digits and "
                        "._@+-",
                        USERNAME_MAX);
    if (!o->password_stdin)
        return cli_fail(1, "user add: --password-stdin is required (passwords never go on the "
                           "command line)");
    int rc = read_password(pw, sizeof pw, "user add");
    if (rc)
        return rc;
    wt_status st = password_hash(pw, strlen(pw), hash);
    cli_wipe(pw);
    if (st != WT_OK)
        return cli_fail(2, "user add: cannot hash the password");
    struct user_ctx ctx = {0};
    if (user_build(name, o->display_name, o->email, hash, (int64_t)(now_us() / 1000000),
                   &ctx.doc) != WT_OK)
        return cli_fail(2, "user add: out of memory");
    if ((rc = cli_open_store(a, false)) == 0) {
        st = store_write_sync(a->st, run_user_add, &ctx);
        if (st == WT_EXISTS)
            rc = cli_fail(1, "user add: a user named %s already exists", name);
        else if (st != WT_OK)
            rc = cli_store_fail(st, "user add");
        else
            rc = cli_print_json(user_public_view(ctx.doc));
    }
    json_decref(ctx.doc);
    return rc;
}

static int cmd_user_list(app *a, const opts *o, const struct command *cmd)
{
    return list_docs(a, STORE_DB_USERS, user_public_view, "user list");
}

static wt_status run_user_remove(store_txn *t, void *arg)
{
    return user_remove(t, ((struct user_ctx *)arg)->name);
}

static int cmd_user_remove(app *a, const opts *o, const struct command *cmd)
{
    struct user_ctx ctx = {.name = o->args[0]};
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    wt_status st = store_write_sync(a->st, run_user_remove, &ctx);
    if (st == WT_NOTFOUND)
        return cli_fail(1, "user remove: no user named %s (see: wattle user list)", ctx.name);
    if (st != WT_OK)
        return cli_store_fail(st, "user remove");
    return cli_print_json(json_pack("{s:s, s:b}", "username", ctx.name, "removed", 1));
}

static wt_status run_passwd(store_txn *t, void *arg)
{
    struct user_ctx *c = arg;
    return user_set_password(t, c->name, c->hash, (int64_t)(now_us() / 1000000));
}

static int cmd_user_passwd(app *a, const opts *o, const struct command *cmd)
{
    char pw[1026], hash[PASSWORD_HASH_MAX];
    if (!o->password_stdin)
        return cli_fail(1, "user passwd: --password-stdin is required");
    int rc = read_password(pw, sizeof pw, "user passwd");
    if (rc)
        return rc;
    wt_status st = password_hash(pw, strlen(pw), hash);
    cli_wipe(pw);
    if (st != WT_OK)
        return cli_fail(2, "user passwd: cannot hash the password");
    struct user_ctx ctx = {.name = o->args[0], .hash = hash};
    if ((rc = cli_open_store(a, false)) != 0)
        return rc;
    st = store_write_sync(a->st, run_passwd, &ctx);
    if (st == WT_NOTFOUND)
        return cli_fail(1, "user passwd: no user named %s", ctx.name);
    if (st != WT_OK)
        return cli_store_fail(st, "user passwd");
    return cli_print_json(json_pack("{s:s, s:b}", "username", ctx.name, "password_changed", 1));
}

/* ---------------------------------------------------------------- gc */

static wt_status run_gc(store_txn *t, void *arg)
{
    return gc_step(t, now_us() / 1000000, 10000, arg);
}

static int cmd_gc(app *a, const opts *o, const struct command *cmd)
{
    gc_state *s = calloc(1, sizeof *s);
    int rc = s ? cli_open_store(a, false) : cli_fail(2, "out of memory");
    if (s)
        s->unused_client_ttl = a->cfg.registration.unused_client_ttl;
    while (rc == 0 && !gc_pass_done(s)) {
        wt_status st = store_write_sync(a->st, run_gc, s);
        if (st != WT_OK)
            rc = cli_store_fail(st, "gc");
    }
    if (rc == 0)
        rc = cli_print_json(json_pack(
            "{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "purged", "codes",
            (json_int_t)s->purged[GC_CODES], "access_tokens", (json_int_t)s->purged[GC_ACCESS],
            "refresh_tokens", (json_int_t)s->purged[GC_REFRESH], "sessions",
            (json_int_t)s->purged[GC_SESSIONS], "jtis", (json_int_t)s->purged[GC_JTI],
            /* unused registrations and idle metadata-document clients */
            "clients", (json_int_t)s->purged[GC_CLIENTS], "revoked_grants",
            (json_int_t)s->purged[GC_REVOKED]));
    free(s);
    return rc;
}

/* ---------------------------------------------------------------- serve */

static int cmd_serve(app *a, const opts *o, const struct command *cmd)
{
    /* Block the stop signals before any thread exists, so every thread inherits the mask and
     * http_serve's sigwait receives them (PLATFORM.md §1). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    if (secret_ensure(a->st, "cookie_key", a->cookie_key, sizeof a->cookie_key) != WT_OK)
        return cli_fail(2, "cannot read or create the server secrets in %s", a->cfg.data_dir);
    if (keys_ensure(a->st, now_us() / 1000000) != WT_OK || !(a->keys = keyring_cache_new()))
        return cli_fail(2, "cannot read or create the signing keys in %s", a->cfg.data_dir);
    /* Hashing is slow on purpose: in the background (SCHED_IDLE), a burst of logins cannot
     * starve token validation (docs/performance.md, the mixed run). Each hash in flight holds
     * 32 MiB, so the worker count also bounds memory. */
    a->hashers = workers_new(a->cfg.password_hash_workers, true, "wattle-hash");
    a->login_throttle =
        throttle_new(a->cfg.login_throttle.per_user_address, a->cfg.login_throttle.per_address,
                     a->cfg.login_throttle.window);
    a->limits = ratelimit_new();
    a->fetchers = workers_new(4, false, "wattle-fetch");
    if (!a->hashers || !a->fetchers || !a->login_throttle || !a->limits ||
        store_writer_start(a->st) != WT_OK)
        rc = cli_fail(2, "cannot start worker threads");
    else
        rc = http_serve(a);
    workers_free(a->hashers);
    a->hashers = NULL;
    workers_free(a->fetchers);
    a->fetchers = NULL;
    throttle_free(a->login_throttle);
    a->login_throttle = NULL;
    ratelimit_free(a->limits);
    a->limits = NULL;
    keyring_cache_free(a->keys);
    a->keys = NULL;
    return rc;
}

/* ---------------------------------------------------------------- the table */

static const struct command commands[] = {
    {"serve", NULL, cmd_serve, F_SERVE, 0, "serve [--listen HOST:PORT] [--issuer URL]",
     "run the authorization server"},
    {"client", "add", cmd_client_add, F_CLIENT, 0,
     "client add --name N [--redirect-uri URI]... [--public] [--scope \"a b\"] "
     "[--grant-type T]... [--token-auth METHOD] [--jwks FILE]",
     "register a client; prints its id and (confidential clients) its secret, once"},
    {"client", "list", cmd_client_list, 0, 0, "client list", "list clients"},
    {"client", "show", cmd_client_show, 0, 1, "client show ID", "show one client"},
    {"client", "remove", cmd_client_remove, 0, 1, "client remove ID",
     "remove a client and end its grants and tokens"},
    {"client", "rotate-secret", cmd_client_rotate, 0, 1, "client rotate-secret ID",
     "issue a new client secret; the old one stops working"},
    {"user", "add", cmd_user_add, F_USER | F_PASSWORD, 1,
     "user add NAME [--display-name N] [--email E] --password-stdin",
     "create a login user (password read from standard input)"},
    {"user", "list", cmd_user_list, 0, 0, "user list", "list users"},
    {"user", "remove", cmd_user_remove, 0, 1, "user remove NAME",
     "remove a user and end its sessions, grants and tokens"},
    {"user", "passwd", cmd_user_passwd, F_PASSWORD, 1, "user passwd NAME --password-stdin",
     "change a password; ends the user's sessions, grants and tokens"},
    {"grant", "list", cmd_grant_list, F_FILTER, 0, "grant list [--user NAME] [--client ID]",
     "list remembered consents (connected apps)"},
    {"grant", "revoke", cmd_grant_revoke, 0, 1, "grant revoke ID",
     "forget a consent and end its tokens"},
    {"token", "info", cmd_token_info, 0, 1, "token info TOKEN|-",
     "what the store knows of a token (- reads it from standard input)"},
    {"token", "revoke", cmd_token_revoke, 0, 1, "token revoke TOKEN|-",
     "revoke a token's whole grant, as the revocation endpoint would"},
    {"keys", "list", cmd_keys_list, 0, 0, "keys list",
     "list the server's signing keys (public data only)"},
    {"keys", "rotate", cmd_keys_rotate, 0, 0, "keys rotate",
     "make a new active signing key; the old one stays published until what it signed expires"},
    {"gc", NULL, cmd_gc, 0, 0, "gc",
     "purge expired codes, tokens, sessions and revocation tombstones"},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static void usage(FILE *f)
{
    fputs("usage: wattle COMMAND [options]\n\n"
          "Wattle is an OAuth 2.1 authorization server.\n\ncommands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-24s %s\n", commands[i].name ? commands[i].usage : commands[i].group,
                commands[i].summary);
    fputs("\noptions of every command:\n"
          "  -c FILE          JSON config file (default: $WATTLE_CONFIG, else built-in defaults)\n"
          "  --data-dir DIR   the LMDB data directory (default ./wattle-data)\n"
          "  -h, --help       help for a command\n\n"
          "Start with: wattle serve   (then: wattle client add --help)\n",
          f);
}

static void command_help(const struct command *c)
{
    printf("usage: wattle %s\n\n%s.\n\noptions:\n", c->usage, c->summary);
    if (c->flags & F_SERVE)
        puts("  --listen HOST:PORT  listen address (127.0.0.1:0 picks a free port)\n"
             "  --issuer URL        the issuer (an origin: scheme, host, port)");
    if (c->flags & F_CLIENT)
        puts("  --name N             display name shown on the consent page (required)\n"
             "  --redirect-uri URI   a redirect URI (repeat for several); required for\n"
             "                       authorization_code\n"
             "  --public             a public client (no secret; PKCE only)\n"
             "  --scope \"a b\"        scopes the client may request (default: all)\n"
             "  --grant-type T       authorization_code, refresh_token, client_credentials\n"
             "                       (repeat; default: authorization_code refresh_token)\n"
             "  --token-auth METHOD  client_secret_basic (default), client_secret_post,\n"
             "                       private_key_jwt, none\n"
             "  --jwks FILE          private_key_jwt: the client's public keys, a JWKS\n"
             "                       {\"keys\": [...]} or one JWK (EC P-256, RSA >= 2048,\n"
             "                       Ed25519)");
    if (c->flags & F_USER)
        puts("  --display-name N    the user's display name\n"
             "  --email E           the user's email address");
    if (c->flags & F_PASSWORD)
        puts("  --password-stdin    read the password (one line) from standard input");
    if (c->flags & F_FILTER)
        puts("  --user NAME         only this user's\n"
             "  --client ID         only this client's");
    puts("  -c FILE             JSON config file (default: $WATTLE_CONFIG)\n"
         "  --data-dir DIR      the LMDB data directory\n"
         "  -h, --help          this help");
}

/* Parses the options after the command words. Returns 0 or an exit status. */
static int parse_opts(int argc, char **argv, int i, const struct command *c, opts *o)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE(field, flag)                                                                         \
    if (strcmp(a, flag) == 0) {                                                                    \
        if (!next)                                                                                 \
            return cli_fail(1, "%s needs a value", flag);                                          \
        o->field = next;                                                                           \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = true;
            continue;
        }
        VALUE(config, "-c")
        VALUE(data_dir, "--data-dir")
        if (c->flags & F_SERVE) {
            VALUE(listen, "--listen")
            VALUE(issuer, "--issuer")
        }
        if (c->flags & F_CLIENT) {
            VALUE(name, "--name")
            VALUE(scope, "--scope")
            VALUE(token_auth, "--token-auth")
            VALUE(jwks, "--jwks")
            if (strcmp(a, "--public") == 0) {
                o->is_public = true;
                continue;
            }
            if (strcmp(a, "--redirect-uri") == 0 || strcmp(a, "--grant-type") == 0) {
                bool r = a[2] == 'r';
                if (!next)
                    return cli_fail(1, "%s needs a value", a);
                if ((r ? o->nredirect : o->ngrant) >= MAX_MULTI)
                    return cli_fail(1, "%s: at most %d", a, MAX_MULTI);
                if (r)
                    o->redirect_uris[o->nredirect++] = next;
                else
                    o->grant_types[o->ngrant++] = next;
                i++;
                continue;
            }
        }
        if (c->flags & F_USER) {
            VALUE(display_name, "--display-name")
            VALUE(email, "--email")
        }
        if (c->flags & F_FILTER) {
            VALUE(user, "--user")
            VALUE(client, "--client")
        }
        if ((c->flags & F_PASSWORD) && strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = true;
            continue;
        }
#undef VALUE
        if (a[0] == '-' && a[1] && !(c->nargs && strcmp(a, "-") == 0))
            return cli_fail(1, "%s: unknown option %s (see: wattle %s%s%s --help)",
                            c->name ? c->name : c->group, a, c->group, c->name ? " " : "",
                            c->name ? c->name : "");
        if (o->nargs >= c->nargs)
            return cli_fail(1, "unexpected argument '%s' (usage: wattle %s)", a, c->usage);
        o->args[o->nargs++] = a;
    }
    if (!o->help && o->nargs < c->nargs)
        return cli_fail(1, "missing argument (usage: wattle %s)", c->usage);
    return 0;
}

static int load_config(app *a, const opts *o)
{
    char err[512];
    const char *file = o->config ? o->config : getenv("WATTLE_CONFIG");
    if (file && !file[0])
        file = NULL;
    if (config_defaults(&a->cfg) != WT_OK)
        return cli_fail(2, "out of memory");
    if (file && config_load_file(&a->cfg, file, err, sizeof err) != WT_OK)
        return cli_fail(1, "%s", err);
    if (config_apply_flags(&a->cfg, o->data_dir, o->listen, o->issuer, err, sizeof err) != WT_OK ||
        config_check(&a->cfg, err, sizeof err) != WT_OK)
        return cli_fail(1, "%s", err);
    log_set_level((enum log_level)a->cfg.log_level);
    return 0;
}

int cli_main(int argc, char **argv)
{
    /* Options of every command may also come before it: "wattle -c FILE user list". */
    char *moved[256];
    if (argc > 2 && argc < 250 &&
        (strcmp(argv[1], "-c") == 0 || strcmp(argv[1], "--data-dir") == 0)) {
        int lead = 1, n = 0;
        while (lead + 1 < argc &&
               (strcmp(argv[lead], "-c") == 0 || strcmp(argv[lead], "--data-dir") == 0))
            lead += 2;
        moved[n++] = argv[0];
        for (int i = lead; i < argc; i++)
            moved[n++] = argv[i];
        for (int i = 1; i < lead; i++)
            moved[n++] = argv[i];
        moved[n] = NULL;
        argv = moved;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const struct command *c = NULL;
    bool group_known = false;
    for (size_t i = 0; i < NCOMMANDS && !c; i++) {
        if (strcmp(argv[1], commands[i].group) != 0)
            continue;
        group_known = true;
        if (!commands[i].name || (argc > 2 && strcmp(argv[2], commands[i].name) == 0))
            c = &commands[i];
    }
    if (!c && group_known) {
        bool help = argc > 2 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0);
        char subs[256] = "";
        size_t n = 0;
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[1], commands[i].group) == 0)
                n += (size_t)snprintf(subs + n, sizeof subs - n, "%s%s", n ? ", " : "",
                                      commands[i].name);
        if (!help)
            return cli_fail(1, "%s %s%s: choose one of %s (see: wattle %s --help)", argv[1],
                            argc > 2 ? "has no subcommand " : "needs a subcommand",
                            argc > 2 ? argv[2] : "", subs, argv[1]);
        printf("usage:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(argv[1], commands[i].group) == 0)
                printf("  wattle %-40s %s\n", commands[i].usage, commands[i].summary);
        return 0;
    }
    if (!c)
        return cli_fail(1, "unknown command '%s' (see: wattle --help)", argv[1]);
    opts o = {0};
    int rc = parse_opts(argc, argv, c->name ? 3 : 2, c, &o);
    if (rc)
        return rc;
    if (o.help) {
        command_help(c);
        return 0;
    }
    app a = {0};
    rc = load_config(&a, &o);
    if (rc == 0)
        rc = c->fn(&a, &o, c);
    store_close(a.st);
    metadata_free(&a);
    config_free(&a.cfg);
    return rc;
}
