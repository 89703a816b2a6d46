/* log.c — leveled stderr logging and JSON security events. Owns the log level; one
 * fprintf per line so lines from different threads do not interleave. */
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static _Atomic int level = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level l)
{
    level = l;
}

enum log_level log_get_level(void)
{
    return level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
    if ((int)l > level)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, "%s: ", names[l]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

void log_mask(const char *s, char *out, size_t outlen)
{
    if (!s) {
        snprintf(out, outlen, "-");
        return;
    }
    const char *us = strchr(s, '_');
    size_t pre = us && us - s < 6 ? (size_t)(us - s) + 1 : 0;
    size_t len = strlen(s);
    size_t keep = pre + 4 < len ? pre + 4 : len / 2;
    snprintf(out, outlen, "%.*s…", (int)keep, s);
}

void log_event(const char *name, json_t *fields)
{
    json_t *o = fields ? fields : json_object();
    json_object_set_new(o, "event", json_string(name));
    json_object_set_new(o, "ts", json_integer((json_int_t)time(NULL)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (s) {
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(o);
}
