/* buf.h — a bounded, growable byte buffer (after curl's dynbuf).
 *
 * Owns: appending bytes, formatted text, HTML-escaped text and percent-encoded text to one
 * malloc'd NUL-terminated string that never grows past a hard cap chosen by the caller.
 * A failed append (cap exceeded or out of memory) frees the contents and marks the buffer
 * failed; every later append fails too, so a caller may append several pieces and check once,
 * and nobody ever sees half-built output. Pure: no I/O, no global state. */
#ifndef WATTLE_BUF_H
#define WATTLE_BUF_H
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct {
    char *p;     /* malloc'd contents, NUL-terminated when not NULL */
    size_t len;  /* bytes used, without the NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard cap on len */
    bool failed; /* an append failed: contents freed, later appends fail */
} buf_t;

/* Initialises an empty buffer whose contents may never exceed `max` bytes (the terminating
 * NUL not counted; a max above SIZE_MAX / 2 is lowered to it). Allocates nothing. */
void buf_init(buf_t *b, size_t max);

/* Appends d[0..n). WT_OK; WT_TOOBIG when len would exceed max; WT_NOMEM when allocation fails.
 * On either failure the contents are freed and the buffer is marked failed. On a buffer that
 * has already failed, nothing happens and WT_INVALID is returned. d may be NULL when n is 0. */
wt_status buf_add(buf_t *b, const void *d, size_t n);

/* Appends the NUL-terminated string s (NULL appends nothing). Errors as buf_add. */
wt_status buf_adds(buf_t *b, const char *s);

/* Appends printf-formatted text. Errors as buf_add, plus WT_INVALID on a formatting error
 * (which also marks the buffer failed). */
wt_status buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s with & < > " ' written as &amp; &lt; &gt; &quot; &#39; (NULL appends nothing).
 * Safe for HTML text and for attribute values in either kind of quotes. Errors as buf_add. */
wt_status buf_add_html(buf_t *b, const char *s);

/* Appends s[0..n) percent-encoded: every byte except the unreserved A-Za-z0-9 - . _ ~ becomes
 * %XX (upper-case hex; a space is %20, never '+'). Errors as buf_add. */
wt_status buf_add_urlenc(buf_t *b, const char *s, size_t n);

/* The contents, always NUL-terminated: "" when empty or failed. Valid until the next call that
 * changes b. Owned by b. */
const char *buf_cstr(const buf_t *b);

/* Hands the contents to the caller as a malloc'd NUL-terminated string (the caller frees it)
 * and resets b to empty (same max). Returns NULL, leaving b as it is, when b has failed or when
 * the allocation of an empty string fails (b then stays empty). */
char *buf_steal(buf_t *b);

/* Frees the contents and resets b to an empty, non-failed buffer with the same max.
 * NULL-safe. */
void buf_free(buf_t *b);

#endif
