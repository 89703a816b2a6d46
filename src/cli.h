/* cli.h — the `wattle` command line: option parsing shared by every command, the admin
 * commands (client, user, grant, token, keys, gc) and `serve`. */
#ifndef WATTLE_CLI_H
#define WATTLE_CLI_H

/* Runs argv; returns the process exit status (0 ok, 1 bad invocation, 2 store or I/O). */
int cli_main(int argc, char **argv);

#endif
