/* users.c — login users (contract in users.h). Password hashing itself is crypto.c's and runs
 * wherever the caller runs it (the CLI inline, the server on a worker). */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "doccache.h"
#include "grants.h"
#include "users.h"

bool username_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._@+-", c)))
            return false;
    }
    return true;
}

wt_status user_build(const char *username, const char *display_name, const char *email,
                     const char *password_hash, int64_t now, json_t **doc)
{
    uint8_t r[16];
    char sub[4 + B64URL_LEN(16) + 1] = "usr_";
    if (crypto_random(r, sizeof r) != WT_OK)
        return WT_ECRYPTO;
    b64url_encode(r, sizeof r, sub + 4);
    *doc = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:I, s:I}", "sub", sub, "username", username,
                     "display_name", display_name, "email", email, "password_hash", password_hash,
                     "created_at", (json_int_t)now, "pw_epoch", (json_int_t)now);
    return *doc ? WT_OK : WT_NOMEM;
}

static wt_status put_doc(store_txn *t, const json_t *doc)
{
    const char *sub = json_string_value(json_object_get(doc, "sub"));
    char *s = json_dumps(doc, JSON_COMPACT);
    wt_status st =
        s && sub ? store_put(t, STORE_DB_USERS, sub, strlen(sub), s, strlen(s), 0) : WT_NOMEM;
    free(s);
    return st;
}

wt_status user_create(store_txn *t, const json_t *doc)
{
    const char *sub = json_string_value(json_object_get(doc, "sub"));
    const char *name = json_string_value(json_object_get(doc, "username"));
    wt_status st =
        store_put(t, STORE_DB_USERNAMES, name, strlen(name), sub, strlen(sub), STORE_NOOVERWRITE);
    return st == WT_OK ? put_doc(t, doc) : st;
}

static wt_status fields(user_t *out)
{
    if (!out->doc)
        return WT_ESTORE;
    out->sub = json_string_value(json_object_get(out->doc, "sub"));
    out->username = json_string_value(json_object_get(out->doc, "username"));
    out->display_name = json_string_value(json_object_get(out->doc, "display_name"));
    out->email = json_string_value(json_object_get(out->doc, "email"));
    out->password_hash = json_string_value(json_object_get(out->doc, "password_hash"));
    out->pw_epoch = json_integer_value(json_object_get(out->doc, "pw_epoch"));
    if (!out->sub || !out->username || !out->password_hash) {
        user_free(out);
        return WT_ESTORE;
    }
    return WT_OK;
}

static wt_status parse(store_val v, user_t *out)
{
    out->doc = json_loadb(v.data, v.len, 0, NULL);
    return fields(out);
}

static wt_status user_raw(store_txn *t, const char *sub, user_t *out, store_val *v)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(sub);
    if (n == 0 || n > 100)
        return WT_NOTFOUND;
    return store_get(t, STORE_DB_USERS, sub, n, v);
}

wt_status user_by_id(store_txn *t, const char *sub, user_t *out)
{
    store_val v;
    wt_status st = user_raw(t, sub, out, &v);
    return st == WT_OK ? parse(v, out) : st;
}

/* The store writer is the main user: every code exchange and refresh reads the user. */
wt_status user_by_id_shared(store_txn *t, const char *sub, user_t *out)
{
    store_val v;
    wt_status st = user_raw(t, sub, out, &v);
    if (st != WT_OK)
        return st;
    doccache *c = doccache_of_thread(DOCCACHE_USERS);
    if (!c)
        return parse(v, out);
    out->doc = doccache_parse(c, sub, strlen(sub), v.data, v.len);
    return fields(out);
}

wt_status user_by_name(store_txn *t, const char *username, user_t *out)
{
    store_val v;
    char sub[128];
    memset(out, 0, sizeof *out);
    if (!username_valid(username))
        return WT_NOTFOUND;
    wt_status st = store_get(t, STORE_DB_USERNAMES, username, strlen(username), &v);
    if (st != WT_OK)
        return st;
    if (v.len >= sizeof sub)
        return WT_ESTORE;
    memcpy(sub, v.data, v.len);
    sub[v.len] = '\0';
    return user_by_id(t, sub, out);
}

void user_free(user_t *u)
{
    if (!u)
        return;
    json_decref(u->doc);
    memset(u, 0, sizeof *u);
}

json_t *user_public_view(const json_t *doc)
{
    json_t *v = json_deep_copy(doc);
    json_object_del(v, "password_hash");
    json_object_del(v, "pw_epoch");
    return v;
}

wt_status user_remove(store_txn *t, const char *username)
{
    user_t u;
    wt_status st = user_by_name(t, username, &u);
    if (st != WT_OK)
        return st;
    st = store_del(t, STORE_DB_USERNAMES, username, strlen(username), NULL, 0);
    if (st == WT_OK)
        st = store_del(t, STORE_DB_USERS, u.sub, strlen(u.sub), NULL, 0);
    if (st == WT_OK)
        st = grants_revoke_user(t, u.sub);
    user_free(&u);
    return st;
}

wt_status user_set_password(store_txn *t, const char *username, const char *password_hash,
                            int64_t now)
{
    user_t u;
    wt_status st = user_by_name(t, username, &u);
    if (st != WT_OK)
        return st;
    json_object_set_new(u.doc, "password_hash", json_string(password_hash));
    /* Sessions remember the epoch they were made under; a new one ends them all. */
    int64_t epoch = now > u.pw_epoch ? now : u.pw_epoch + 1;
    json_object_set_new(u.doc, "pw_epoch", json_integer(epoch));
    st = put_doc(t, u.doc);
    if (st == WT_OK)
        st = grants_revoke_user(t, u.sub);
    user_free(&u);
    return st;
}
