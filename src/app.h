/* app.h — the one application struct, built by main.c (serve) or cli.c and reached by every
 * service and handler through a pointer. Everything in it is read-only once serving starts,
 * except what the store holds; there are no mutable globals. */
#ifndef WATTLE_APP_H
#define WATTLE_APP_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "scope.h"
#include "store.h"

struct workers;

/* A configured protected resource, with what start-up derived from it. */
typedef struct {
    const config_resource *cfg;
    char *path;          /* "/mcp" */
    char *resource;      /* the audience identifier, "<issuer><path>" unless configured */
    char *resource_norm; /* resource with scheme/host lower-cased and no trailing slash */
    char *metadata_url;  /* <issuer>/.well-known/oauth-protected-resource<path> */
    char *metadata_json; /* the RFC 9728 document, built once */
    size_t metadata_len;
} app_resource;

typedef struct app {
    config_t cfg;
    store *st;
    scope_catalogue scopes;
    char *as_metadata_json; /* the RFC 8414 document, built once */
    size_t as_metadata_len;
    app_resource *res;
    size_t nres;
    uint8_t cookie_key[32];          /* HMAC key for CSRF tokens, from the store's secrets */
    struct workers *hashers;         /* password hashing off the event loop */
    struct workers *fetchers;        /* client metadata document fetches (slow peers must not stall
                                        logins) */
    void *http_server;               /* owned by http.c while serving */
    struct throttle *login_throttle; /* failed-login counters (throttle.c) */
    struct ratelimit *limits;        /* per-address request rates (ratelimit.c) */
    struct keyring_cache *keys;      /* signing keys (keys.c), reloaded when the store changes */
} app;

#endif
