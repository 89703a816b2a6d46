/* http_resource.c — the bearer gateway (SPEC §5), forward-auth and userinfo.
 * Placeholder until the resource-server work lands: everything answers 404. */
#include "http.h"

int http_userinfo(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}

int http_forward_auth(http_thread *t, h2o_req_t *req)
{
    http_not_found(req);
    return 0;
}

int http_gateway(http_thread *t, h2o_req_t *req, size_t res)
{
    http_not_found(req);
    return 0;
}

void http_gateway_register(app *a, h2o_hostconf_t *host)
{
}
