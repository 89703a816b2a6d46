/* embedded.h — the default scope catalogue and resource metadata files, compiled into the
 * binary by src/embed.cmake so `wattle serve` works from any directory (SPEC §1). */
#ifndef WATTLE_EMBEDDED_H
#define WATTLE_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
    const char *path; /* relative to the source tree, e.g. "scopes/gumnut.json" */
    const char *data; /* NUL-terminated */
    size_t len;
};

/* Terminated by an entry whose path is NULL. */
extern const struct embedded_file embedded_files[];

/* The embedded copy of `path`, or NULL. */
const struct embedded_file *embedded_find(const char *path);

#endif
