/* http_wellknown.c — the discovery documents (built once by metadata.c) and /healthz. */
#include <string.h>

#include "http.h"

int http_wellknown_as(http_thread *t, h2o_req_t *req)
{
    http_json_text(req, 200, t->a->as_metadata_json, t->a->as_metadata_len, true);
    return 0;
}

/* /.well-known/oauth-protected-resource<path>: one document per configured resource. */
int http_wellknown_prm(http_thread *t, h2o_req_t *req)
{
    static const char prefix[] = "/.well-known/oauth-protected-resource";
    h2o_iovec_t p = req->path_normalized;
    const char *rest = p.base + sizeof prefix - 1;
    size_t rlen = p.len - (sizeof prefix - 1);
    for (size_t i = 0; i < t->a->nres; i++) {
        const app_resource *r = &t->a->res[i];
        bool root = strcmp(r->path, "/") == 0;
        if ((root && rlen == 0) || (!root && h2o_memis(rest, rlen, r->path, strlen(r->path)))) {
            http_json_text(req, 200, r->metadata_json, r->metadata_len, true);
            return 0;
        }
    }
    http_not_found(req);
    return 0;
}

int http_healthz(http_thread *t, h2o_req_t *req)
{
    store_txn *txn = NULL;
    store_val v;
    bool ok = false;
    if (store_reader_begin(t->reader, &txn) == WT_OK) {
        ok = store_get(txn, STORE_DB_META, "schema", 6, &v) == WT_OK;
        store_reader_end(t->reader);
    }
    static const char up[] = "{\"status\":\"ok\"}", down[] = "{\"status\":\"store unreadable\"}";
    if (ok)
        http_json_text(req, 200, up, sizeof up - 1, false);
    else
        http_json_text(req, 503, down, sizeof down - 1, false);
    return 0;
}
