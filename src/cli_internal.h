/* cli_internal.h — what the command implementations (cli.c, cli_*.c) share: the parsed
 * options, the command table entry, and the output and store helpers. Not used outside the
 * command line. */
#ifndef WATTLE_CLI_INTERNAL_H
#define WATTLE_CLI_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "store.h"

#define MAX_MULTI 32

typedef struct {
    const char *config, *data_dir, *listen, *issuer;
    const char *name, *scope, *token_auth, *display_name, *email, *jwks;
    const char *user, *client; /* grant list filters */
    const char *redirect_uris[MAX_MULTI];
    size_t nredirect;
    const char *grant_types[MAX_MULTI];
    size_t ngrant;
    bool is_public, password_stdin, help;
    const char *args[4];
    size_t nargs;
} opts;

struct command;
typedef int (*cmd_fn)(app *a, const opts *o, const struct command *cmd);

/* flags a command accepts, beyond -c/--data-dir/--help */
enum { F_SERVE = 1, F_CLIENT = 2, F_USER = 4, F_PASSWORD = 8, F_FILTER = 16 };

struct command {
    const char *group, *name;
    cmd_fn fn;
    unsigned flags;
    size_t nargs; /* positional arguments required */
    const char *usage, *summary;
};

/* A one-line "wattle: …" message on stderr; returns code (the exit status). */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints j (stolen) as indented JSON on stdout; 0, or 2 when out of memory. */
int cli_print_json(json_t *j);
/* Opens a->st from a->cfg.data_dir; 0 or the exit status (message printed). */
int cli_open_store(app *a, bool readonly);
/* The exit status and message of a store failure during `what`. */
int cli_store_fail(wt_status st, const char *what);
/* Opens the store read-only and begins a read; the caller ends and frees r. */
int cli_with_reader(app *a, store_txn **t, store_reader **r);
/* Overwrites a NUL-terminated secret in memory. */
void cli_wipe(char *s);

/* cli_keys.c */
int cmd_keys_list(app *a, const opts *o, const struct command *cmd);
int cmd_keys_rotate(app *a, const opts *o, const struct command *cmd);

/* Command implementations outside cli.c. */
int cmd_grant_list(app *a, const opts *o, const struct command *cmd);
int cmd_grant_revoke(app *a, const opts *o, const struct command *cmd);
int cmd_token_info(app *a, const opts *o, const struct command *cmd);
int cmd_token_revoke(app *a, const opts *o, const struct command *cmd);

#endif
