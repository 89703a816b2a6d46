/* http_introspect.c — POST /oauth/introspect (RFC 7662, RFC 9701) and GET /oauth/jwks.
 * Placeholder until the resource-server work lands: both answer 404. */
#include "http.h"

int http_introspect(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}

int http_jwks(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}
