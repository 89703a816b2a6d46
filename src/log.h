/* log.h — leveled logging to stderr, and one-JSON-line security events (SPEC §7).
 * Never pass a raw token, code, secret or password here: use log_mask(). */
#ifndef WATTLE_LOG_H
#define WATTLE_LOG_H
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level l);
enum log_level log_get_level(void);
/* Parses "error"/"warn"/"info"/"debug"; returns -1 when unknown. */
int log_level_parse(const char *s);

void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Writes a short masked form of an identifier or secret into out (at most 16 bytes with NUL):
 * the prefix up to and including '_' plus the first 4 characters after it, then "…". */
void log_mask(const char *s, char *out, size_t outlen);

/* A security event: one JSON line on stderr, {"event": name, "ts": …, fields…}.
 * `fields` is a jansson object whose reference is stolen (may be NULL). */
struct json_t;
void log_event(const char *name, struct json_t *fields);

#endif
