/* secrets.h — the server's own secrets (the cookie/CSRF key now; signing keys later), kept in
 * STORE_DB_SECRETS so every process sees the same ones. Generated on first use. */
#ifndef WATTLE_SECRETS_H
#define WATTLE_SECRETS_H
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Reads the secret `name` (exactly len bytes) into out, creating it from the CSPRNG when it
 * does not exist yet. Uses its own write transaction: call before the writer starts. */
wt_status secret_ensure(store *s, const char *name, uint8_t *out, size_t len);

#endif
