/* form.h — the one parser of request parameters: application/x-www-form-urlencoded bodies and
 * query strings, and JSON-object bodies mapped into the same structure (SPEC §2 "Request
 * bodies": Gumnut's clients post JSON to the token endpoint).
 *
 * Owns: decoding, the character rules and the caps (FORM_MAX_PARAMS, FORM_MAX_NAME,
 * FORM_MAX_VALUE). It keeps duplicates: deciding that a repeated parameter is invalid_request
 * (or invalid_target for `resource`) is the caller's job, with form_duplicate()/form_count().
 * It does not know which parameters an endpoint accepts. Pure: no I/O, no global state.
 *
 * Character rules (the same for both syntaxes, applied after decoding):
 *   - a NUL byte is refused anywhere;
 *   - names: non-empty, at most FORM_MAX_NAME bytes, no C0 control (0x00-0x1F) and no DEL;
 *   - values: at most FORM_MAX_VALUE bytes; C0 controls are refused except TAB, LF and CR
 *     (`state` may carry pretty-printed JSON and must come back byte for byte); DEL and bytes
 *     >= 0x80 are kept. Values are NOT checked to be UTF-8: before putting one into JSON,
 *     check it (jansson's json_stringn refuses invalid UTF-8).
 *
 * Errors: WT_INVALID for malformed input, WT_TOOBIG for a cap (more than FORM_MAX_PARAMS
 * parameters, a name or value too long), WT_NOMEM. On error `out` is left empty and `why`
 * (when not NULL and whylen > 0) receives a one-line description that uses only RFC 6749
 * error_description characters, so it can be sent as is; it may name the parameter. */
#ifndef WATTLE_FORM_H
#define WATTLE_FORM_H
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* name and value are malloc'd and NUL-terminated; value_len excludes the NUL (a value cannot
 * contain NUL, so value_len == strlen(value)). */
typedef struct {
    char *name;
    char *value;
    size_t value_len;
} form_param;

/* The parameters in the order given; v is malloc'd (NULL when n is 0). Free with form_free. */
typedef struct {
    form_param *v;
    size_t n;
} form_t;

#define FORM_MAX_PARAMS 64
#define FORM_MAX_NAME 256
#define FORM_MAX_VALUE 8192

/* Parses s[0..len) as application/x-www-form-urlencoded (a body, or a query string without
 * its '?'). '&' separates parameters (';' is an ordinary character); '+' is a space; %XX is
 * decoded (either hex case) and any other '%' ("%zz", "%4", a trailing "%") is WT_INVALID.
 * Empty segments ("a=1&&b=2", a leading or trailing '&') are skipped; "=v" (empty name) is
 * WT_INVALID; a parameter without '=' has value "". s may be NULL when len is 0.
 * On WT_OK, *out holds the parameters (caller frees with form_free). */
wt_status form_parse(const char *s, size_t len, form_t *out, char *why, size_t whylen);

/* Parses s[0..len) as one JSON object (jansson, duplicate keys refused). Strings are kept as
 * they are; integers become their decimal text, reals the shortest text that reads back as the
 * same double, true/false "true"/"false"; null means the parameter is absent. An array or
 * object value is WT_INVALID ("parameter X must be a string"); a body that is not valid JSON
 * or not an object is WT_INVALID. More than FORM_MAX_PARAMS keys is WT_TOOBIG. Character rules
 * and caps as for form_parse. On WT_OK, *out holds the parameters (caller frees). */
wt_status form_from_json(const char *s, size_t len, form_t *out, char *why, size_t whylen);

/* Frees every parameter and leaves f empty ({NULL, 0}). NULL-safe. */
void form_free(form_t *f);

/* The value of the first parameter called name, or NULL. Owned by f. */
const char *form_get(const form_t *f, const char *name);

/* How many parameters are called name. */
size_t form_count(const form_t *f, const char *name);

/* The name of the first parameter that is given more than once, or NULL. Owned by f. */
const char *form_duplicate(const form_t *f);

/* True when the form-encoded string s[0..len) has a parameter whose decoded name is `name`,
 * without parsing it into a form_t (no allocation: for the gateway's per-request check that no
 * access token travels in the query). Malformed escapes simply do not match. */
bool form_has(const char *s, size_t len, const char *name);

#endif
