/* scope.h — the scope catalogue (SPEC §6) and the scope-set rules (SPEC §3).
 *
 * Owns: loading and validating a catalogue document, and the logic on space-separated scope
 * strings: membership, coverage, resolving an authorization request's `scope` against the
 * catalogue and a client's allowed scopes, and narrowing on refresh. It does not read files
 * (callers pass the bytes) nor decide the OAuth error (callers map WT_INVALID to
 * invalid_scope). Pure: no I/O, no global state.
 *
 * A scope string is valid when it is at most SCOPE_STRING_MAX bytes of scope-tokens
 * (RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E) separated by spaces, with at most
 * SCOPE_MAX_TOKENS tokens; leading, trailing and repeated spaces are tolerated. Because
 * scope-token characters are a subset of error_description characters, a scope name may be
 * quoted in a `why` as it is. */
#ifndef WATTLE_SCOPE_H
#define WATTLE_SCOPE_H
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define SCOPE_CATALOGUE_MAX 256    /* scopes in a catalogue */
#define SCOPE_NAME_MAX 128         /* bytes of one scope name */
#define SCOPE_DESCRIPTION_MAX 1024 /* bytes of one description */
#define SCOPE_STRING_MAX 2048      /* bytes of a scope string */
#define SCOPE_MAX_TOKENS 64        /* tokens in a scope string */
#define SCOPE_OFFLINE_ACCESS "offline_access"

typedef struct {
    char *name;        /* malloc'd */
    char *description; /* malloc'd; the name when the entry has none */
    bool is_default;
} scope_def;

typedef struct {
    scope_def *v; /* malloc'd, in document order */
    size_t n;
} scope_catalogue;

/* Parses a catalogue document {"scopes":[{"name":…, "description":…, "default":…}, …]}.
 * Refused (WT_INVALID; WT_NOMEM on allocation failure): not JSON (duplicate keys included),
 * not an object, a top-level key other than "scopes", "scopes" missing, not an array or empty,
 * more than SCOPE_CATALOGUE_MAX entries, an entry that is not an object, a key other than
 * name/description/default, a missing/empty/non-string name, a name longer than
 * SCOPE_NAME_MAX or not a scope-token, the reserved name offline_access, a duplicate name, a
 * non-string or over-long description, a non-boolean default. "description" is optional
 * (defaults to the name), "default" too (false). On error, err (when not NULL) receives one
 * line "FILENAME: reason" (filename NULL reads "scope catalogue") and *out is left empty.
 * On WT_OK, free *out with scope_catalogue_free. */
wt_status scope_catalogue_load(const char *json, size_t len, const char *filename,
                               scope_catalogue *out, char *err, size_t errlen);

/* Frees every entry and leaves c empty. NULL-safe. */
void scope_catalogue_free(scope_catalogue *c);

/* The entry named name[0..len), or NULL. Owned by c. */
const scope_def *scope_find(const scope_catalogue *c, const char *name, size_t len);

/* True when s is a valid scope string (see above; "" and all-space strings are valid and
 * empty). NULL is false. */
bool scope_valid(const char *s);

/* True when the token `name` is one of the space-separated tokens of set. NULL: false. */
bool scope_has(const char *set, const char *name);

/* True when every token of want is a token of have (an empty or NULL want is covered). */
bool scope_covers(const char *have, const char *want);

/* The authorization-request rule (SPEC §3). When requested is NULL, empty (no tokens) or only
 * offline_access: the catalogue's default scopes that `allowed` permits, WT_INVALID ("no
 * default scope…") when there are none. Otherwise requested must be a valid scope string and
 * every token must be in the catalogue (offline_access is accepted and dropped) and in allowed
 * (NULL allowed = the whole catalogue); WT_INVALID with why "unknown scope: X" / "scope X is
 * not allowed for this client" / "scope is malformed" otherwise. Duplicates collapse.
 * On WT_OK, *granted is a malloc'd space-separated string in catalogue order (caller frees);
 * on error *granted is NULL. why (when not NULL) gets a one-line error_description-safe text.
 * WT_NOMEM on allocation failure. */
wt_status scope_resolve(const scope_catalogue *c, const char *requested, const char *allowed,
                        char **granted, char *why, size_t whylen);

/* Refresh narrowing (SPEC §3). requested NULL, empty or only offline_access: a copy of granted
 * (offline_access and duplicates removed). Otherwise requested must be a valid scope string
 * whose every token other than offline_access is in granted (WT_INVALID "scope X was not
 * granted" / "scope is malformed"); the result is the granted tokens that were requested, in
 * granted's order, without duplicates. *out is malloc'd (caller frees); NULL on error. */
wt_status scope_narrow(const char *granted, const char *requested, char **out, char *why,
                       size_t whylen);

#endif
