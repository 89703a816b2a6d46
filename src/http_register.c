/* http_register.c — dynamic client registration (RFC 7591) and its management (RFC 7592).
 * Placeholder until the registration work lands: both answer 404. */
#include "http.h"

int http_register(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}

int http_register_manage(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}
