/* cli_keys.c — `wattle keys list` and `wattle keys rotate` (SPEC §1): the server's signing
 * keys as JSON, never private material. `rotate` makes a new active key in one write
 * transaction; the old one stays published for keys_retire_after(access_token_ttl) (keys.h)
 * and the running server picks the change up from its next request (the key generation record). */
#include <jansson.h>
#include <stdint.h>

#include "cli_internal.h"
#include "keys.h"
#include "log.h"
#include "token.h"

int cmd_keys_list(app *a, const opts *o, const struct command *cmd);
int cmd_keys_rotate(app *a, const opts *o, const struct command *cmd);

int cmd_keys_list(app *a, const opts *o, const struct command *cmd)
{
    store_txn *t;
    store_reader *r = NULL;
    json_t *list = NULL;
    int rc = cli_with_reader(a, &t, &r);
    if (rc) {
        store_reader_free(r);
        return rc;
    }
    wt_status st = keys_list(t, now_us() / 1000000, &list);
    store_reader_end(r);
    store_reader_free(r);
    if (st != WT_OK)
        return cli_store_fail(st, "keys list");
    return cli_print_json(list);
}

struct rotate_ctx {
    int64_t now, retire_after;
    char kid[KEYS_KID_LEN + 1];
    json_t *list;
};

static wt_status run_rotate(store_txn *t, void *arg)
{
    struct rotate_ctx *c = arg;
    wt_status st = keys_rotate(t, c->now, c->retire_after, c->kid);
    if (st == WT_OK)
        st = keys_list(t, c->now, &c->list);
    return st;
}

int cmd_keys_rotate(app *a, const opts *o, const struct command *cmd)
{
    struct rotate_ctx c = {.now = now_us() / 1000000,
                           .retire_after = keys_retire_after(a->cfg.access_token_ttl)};
    int rc = cli_open_store(a, false);
    if (rc)
        return rc;
    wt_status st = store_write_sync(a->st, run_rotate, &c);
    if (st != WT_OK) {
        json_decref(c.list);
        if (st == WT_TOOBIG)
            return cli_fail(1, "keys rotate: too many keys are still published; rotate again "
                               "once one has retired (see retires_at in: wattle keys list)");
        return st == WT_ECRYPTO ? cli_fail(2, "keys rotate: cannot generate a key (OpenSSL)")
                                : cli_store_fail(st, "keys rotate");
    }
    /* An admin change (SPEC §7); kids are public. */
    log_event("signing_key_rotated",
              json_pack("{s:s, s:I}", "kid", c.kid, "retire_after", (json_int_t)c.retire_after));
    return cli_print_json(json_pack("{s:s, s:I, s:o}", "active_kid", c.kid, "retire_after",
                                    (json_int_t)c.retire_after, "keys", c.list));
}
