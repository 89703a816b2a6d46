/* cli_tokens.c — `wattle grant list|revoke` (remembered consents, "connected apps") and
 * `wattle token info|revoke`. Tokens can come from standard input ("-") so they stay out of
 * argv and shell history. Never prints another secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"
#include "clients.h"
#include "crypto.h"
#include "grants.h"
#include "records.h"
#include "token.h"
#include "tokens.h"
#include "users.h"

struct consent_list {
    store_txn *t;
    const char *user_id, *client_id;
    json_t *out;
};

static int add_consent(void *arg, store_val k, store_val v)
{
    struct consent_list *l = arg;
    json_t *doc = json_loadb(v.data, v.len, 0, NULL);
    const char *u = json_string_value(json_object_get(doc, "user_id"));
    const char *c = json_string_value(json_object_get(doc, "client_id"));
    if (!u || !c || (l->user_id && strcmp(u, l->user_id) != 0) ||
        (l->client_id && strcmp(c, l->client_id) != 0)) {
        json_decref(doc);
        return 0;
    }
    char id[27];
    user_t user;
    client_t client;
    consent_id(u, c, id);
    json_t *e = json_pack("{s:s, s:s}", "id", id, "user_id", u);
    if (user_by_id(l->t, u, &user) == WT_OK) {
        json_object_set_new(e, "username", json_string(user.username));
        user_free(&user);
    }
    json_object_set_new(e, "client_id", json_string(c));
    if (client_load(l->t, c, &client) == WT_OK) {
        json_object_set_new(e, "client_name", json_string(client.name));
        client_free(&client);
    }
    json_object_set(e, "scope", json_object_get(doc, "scope"));
    json_object_set(e, "updated_at", json_object_get(doc, "updated_at"));
    json_array_append_new(l->out, e);
    json_decref(doc);
    return 0;
}

int cmd_grant_list(app *a, const opts *o, const struct command *cmd)
{
    store_txn *t;
    store_reader *r = NULL;
    user_t u = {0};
    int rc = cli_with_reader(a, &t, &r);
    if (rc)
        return rc;
    struct consent_list l = {.t = t, .client_id = o->client, .out = json_array()};
    if (o->user) {
        if (user_by_name(t, o->user, &u) != WT_OK) {
            store_reader_end(r);
            store_reader_free(r);
            json_decref(l.out);
            return cli_fail(1, "grant list: no user named %s", o->user);
        }
        l.user_id = u.sub;
    }
    wt_status st = store_iter(t, STORE_DB_CONSENTS, l.user_id,
                              l.user_id ? strlen(l.user_id) + 1 : 0, add_consent, &l);
    store_reader_end(r);
    store_reader_free(r);
    user_free(&u);
    if (st != WT_OK) {
        json_decref(l.out);
        return cli_store_fail(st, "grant list");
    }
    return cli_print_json(l.out);
}

struct find_consent {
    const char *id;
    char *user_id, *client_id;
};

static int match_consent(void *arg, store_val k, store_val v)
{
    struct find_consent *f = arg;
    const char *key = k.data;
    const char *nul = memchr(key, '\0', k.len);
    if (!nul)
        return 0;
    char *user = strndup(key, (size_t)(nul - key));
    char *client = strndup(nul + 1, k.len - (size_t)(nul + 1 - key));
    char id[27];
    if (user && client) {
        consent_id(user, client, id);
        if (strcmp(id, f->id) == 0) {
            f->user_id = user;
            f->client_id = client;
            return 1;
        }
    }
    free(user);
    free(client);
    return 0;
}

static wt_status run_grant_revoke(store_txn *t, void *arg)
{
    struct find_consent *f = arg;
    wt_status st = store_iter(t, STORE_DB_CONSENTS, NULL, 0, match_consent, f);
    if (st != WT_OK)
        return st;
    if (!f->user_id)
        return WT_NOTFOUND;
    return consent_revoke(t, f->user_id, f->client_id);
}

int cmd_grant_revoke(app *a, const opts *o, const struct command *cmd)
{
    struct find_consent f = {.id = o->args[0]};
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    wt_status st = store_write_sync(a->st, run_grant_revoke, &f);
    if (st == WT_NOTFOUND)
        rc = cli_fail(1, "grant revoke: no grant with id %s (see: wattle grant list)", f.id);
    else if (st != WT_OK)
        rc = cli_store_fail(st, "grant revoke");
    else
        rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:b}", "id", f.id, "user_id", f.user_id,
                                      "client_id", f.client_id, "revoked", 1));
    free(f.user_id);
    free(f.client_id);
    return rc;
}

/* The token argument, or a line of standard input for "-". Returns 0 or an exit status. */
static int token_arg(const char *arg, char *out, size_t n, const char *what)
{
    if (strcmp(arg, "-") != 0) {
        if (strlen(arg) >= n)
            return cli_fail(1, "%s: that is not a Wattle token", what);
        memcpy(out, arg, strlen(arg) + 1);
        return 0;
    }
    if (!fgets(out, (int)n, stdin))
        return cli_fail(1, "%s: no token on standard input", what);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static void add_grant(json_t *o, store_txn *t, const uint8_t gid[GRANT_ID_LEN])
{
    char hex[2 * GRANT_ID_LEN + 1];
    grant_rec g;
    for (int i = 0; i < GRANT_ID_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", gid[i]);
    json_object_set_new(o, "grant", json_string(hex));
    json_object_set_new(o, "grant_alive", json_boolean(grant_get(t, gid, &g) == WT_OK));
}

int cmd_token_info(app *a, const opts *o, const struct command *cmd)
{
    char s[256];
    int rc = token_arg(o->args[0], s, sizeof s, "token info");
    if (rc)
        return rc;
    int kind = token_kind_of(s, strlen(s));
    token_t tok;
    if ((kind != TOKEN_ACCESS && kind != TOKEN_REFRESH && kind != TOKEN_CODE) ||
        token_parse((enum token_kind)kind, s, strlen(s), &tok) != WT_OK)
        return cli_fail(1, "token info: not an oat_, ort_ or oac_ token");
    cli_wipe(s);
    store_txn *t;
    store_reader *r = NULL;
    if ((rc = cli_with_reader(a, &t, &r)) != 0)
        return rc;
    int64_t now = now_us() / 1000000;
    uint8_t dg[32];
    token_digest(&tok, dg);
    store_val v;
    store_db db = kind == TOKEN_ACCESS    ? STORE_DB_ACCESS
                  : kind == TOKEN_REFRESH ? STORE_DB_REFRESH
                                          : STORE_DB_CODES;
    static const char *const kinds[] = {"access_token", "refresh_token", "authorization_code"};
    json_t *out = json_pack("{s:s}", "type", kinds[kind]);
    bool known = false;
    if (store_get(t, db, tok.selector, 16, &v) == WT_OK) {
        if (kind == TOKEN_ACCESS) {
            access_rec x;
            if ((known = access_rec_decode(v.data, v.len, &x) == WT_OK &&
                         crypto_equal(dg, x.digest, 32))) {
                json_object_set_new(out, "client_id", json_string(x.client_id));
                json_object_set_new(out, "sub",
                                    json_string(x.user_id[0] ? x.user_id : x.client_id));
                if (x.username[0])
                    json_object_set_new(out, "username", json_string(x.username));
                json_object_set_new(out, "scope", json_string(x.scope));
                json_object_set_new(out, "aud", json_string(x.resource));
                json_object_set_new(out, "iat", json_integer(x.iat));
                json_object_set_new(out, "exp", json_integer(x.exp));
                add_grant(out, t, x.grant);
                json_object_set_new(
                    out, "active",
                    json_boolean(x.exp > now && json_is_true(json_object_get(out, "grant_alive"))));
            }
        } else if (kind == TOKEN_REFRESH) {
            refresh_rec x;
            if ((known = refresh_rec_decode(v.data, v.len, &x) == WT_OK &&
                         crypto_equal(dg, x.digest, 32))) {
                json_object_set_new(out, "iat", json_integer(x.iat));
                json_object_set_new(out, "exp", json_integer(x.exp));
                json_object_set_new(out, "generation", json_integer(x.generation));
                json_object_set_new(out, "retired_at",
                                    x.retired_at ? json_integer(x.retired_at) : json_null());
                add_grant(out, t, x.grant);
                json_object_set_new(
                    out, "active",
                    json_boolean(x.exp > now && !x.retired_at &&
                                 json_is_true(json_object_get(out, "grant_alive"))));
            }
        } else {
            code_rec x;
            if ((known = code_rec_decode(v.data, v.len, &x) == WT_OK &&
                         crypto_equal(dg, x.digest, 32))) {
                json_object_set_new(out, "client_id", json_string(x.client_id));
                json_object_set_new(out, "sub", json_string(x.user_id));
                json_object_set_new(out, "scope", json_string(x.scope));
                json_object_set_new(out, "exp", json_integer(x.exp));
                static const uint8_t zero[GRANT_ID_LEN];
                bool used = memcmp(x.used_grant, zero, GRANT_ID_LEN) != 0;
                json_object_set_new(out, "used", json_boolean(used));
                json_object_set_new(out, "active", json_boolean(!used && x.exp > now));
            }
        }
    }
    store_reader_end(r);
    store_reader_free(r);
    if (!known)
        json_object_set_new(out, "active", json_false());
    json_object_set_new(out, "known", json_boolean(known));
    return cli_print_json(out);
}

int cmd_token_revoke(app *a, const opts *o, const struct command *cmd)
{
    char s[256];
    int rc = token_arg(o->args[0], s, sizeof s, "token revoke");
    if (rc)
        return rc;
    if ((rc = cli_open_store(a, false)) != 0) {
        cli_wipe(s);
        return rc;
    }
    revoke_op op = {.now = now_us() / 1000000, .token = s, .client_id = NULL};
    wt_status st = store_write_sync(a->st, tokens_revoke, &op);
    cli_wipe(s);
    if (st != WT_OK)
        return cli_store_fail(st, "token revoke");
    return cli_print_json(json_pack("{s:b}", "revoked", op.revoked));
}
