/* status.c — names of wt_status values for logs. */
#include "status.h"

const char *wt_status_str(wt_status s)
{
    static const char *const names[] = {
        "ok",     "not found",   "exists",    "invalid",      "out of memory", "too big", "expired",
        "denied", "store error", "I/O error", "crypto error", "newer schema",  "locked",
    };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}
