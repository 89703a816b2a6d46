/* metadata.h — builds the discovery documents once at start-up: RFC 8414 authorization-server
 * metadata and one RFC 9728 protected-resource document per configured resource, from the
 * config, the scope catalogue and the wellknown/ files (embedded defaults or configured files).
 * Pure: reads files, touches no store and no HTTP. */
#ifndef WATTLE_METADATA_H
#define WATTLE_METADATA_H
#include <stddef.h>

#include "app.h"
#include "status.h"

/* Loads the scope catalogue (configured file or the embedded default) into a->scopes. */
wt_status metadata_load_scopes(app *a, char *err, size_t errlen);
/* Loads the catalogue unless already loaded, derives
 * each resource's identifiers and builds every document. Needs a->cfg.issuer. On failure err
 * names the file and the problem. */
wt_status metadata_build(app *a, char *err, size_t errlen);
void metadata_free(app *a);

/* Normalises a resource identifier for comparison (RFC 8707 rule of SPEC §3): lower-cases the
 * scheme and host and drops one trailing slash. malloc'd; NULL if not an absolute http(s) URI. */
char *resource_normalize(const char *uri);

/* The configured resource whose identifier equals `requested` after normalisation; with
 * requested NULL, the only resource when exactly one is configured. NULL otherwise. */
const app_resource *app_find_resource(const app *a, const char *requested);

#endif
