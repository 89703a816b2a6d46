/* metadata.c — the discovery documents (RFC 8414, RFC 9728), built once at start-up, and the
 * resource-identifier rules they share with the token and gateway code. Owns the embedded-file
 * lookup too. Reads files; never touches the store or HTTP. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "metadata.h"

const struct embedded_file *embedded_find(const char *path)
{
    for (const struct embedded_file *f = embedded_files; f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

/* Reads a whole file (capped at 1 MiB) into a malloc'd NUL-terminated string. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap + 1);
    if (s)
        n = fread(s, 1, cap + 1, f);
    fclose(f);
    if (!s || n > cap) {
        snprintf(err, errlen, "%s: %s", path, s ? "larger than 1 MiB" : "out of memory");
        free(s);
        return NULL;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

/* The configured file, or the embedded default named `builtin` (NULL when neither exists).
 * *name gets what error messages should call it. */
static char *load_doc(const char *configured, const char *builtin, size_t *len, const char **name,
                      char *err, size_t errlen)
{
    if (configured) {
        *name = configured;
        return read_file(configured, len, err, errlen);
    }
    const struct embedded_file *e = builtin ? embedded_find(builtin) : NULL;
    *name = builtin;
    if (!e)
        return NULL;
    *len = e->len;
    return strndup(e->data, e->len);
}

char *resource_normalize(const char *uri)
{
    size_t n = strlen(uri);
    const char *sep = strstr(uri, "://");
    if (!sep || n > 2048)
        return NULL;
    size_t slen = (size_t)(sep - uri);
    if (!((slen == 4 && strncasecmp(uri, "http", 4) == 0) ||
          (slen == 5 && strncasecmp(uri, "https", 5) == 0)))
        return NULL;
    const char *host = sep + 3;
    size_t hlen = strcspn(host, "/?#");
    if (hlen == 0 || memchr(uri, '#', n))
        return NULL;
    char *out = strdup(uri);
    if (!out)
        return NULL;
    for (size_t i = 0; i < slen + 3 + hlen; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    if (n > slen + 3 + hlen && out[n - 1] == '/' && !strchr(host, '?'))
        out[n - 1] = '\0';
    return out;
}

const app_resource *app_find_resource(const app *a, const char *requested)
{
    if (!requested)
        return a->nres == 1 ? &a->res[0] : NULL;
    char *norm = resource_normalize(requested);
    const app_resource *found = NULL;
    for (size_t i = 0; norm && i < a->nres && !found; i++)
        if (strcmp(a->res[i].resource_norm, norm) == 0)
            found = &a->res[i];
    free(norm);
    return found;
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

static char *url(const char *issuer, const char *path)
{
    size_t n = strlen(issuer) + strlen(path) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", issuer, path);
    return s;
}

static void set_url(json_t *o, const char *key, const char *issuer, const char *path)
{
    char *u = url(issuer, path);
    json_object_set_new(o, key, json_string(u));
    free(u);
}

static wt_status build_as_metadata(app *a)
{
    const char *iss = a->cfg.issuer;
    static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post",
                                               "private_key_jwt", "none"};
    static const char *const algs[] = {"ES256", "RS256", "PS256", "EdDSA"};
    static const char *const grants[] = {"authorization_code", "refresh_token",
                                         "client_credentials"};
    static const char *const code[] = {"code"}, *const query[] = {"query"},
                             *const s256[] = {"S256"};
    json_t *o = json_object();
    json_object_set_new(o, "issuer", json_string(iss));
    set_url(o, "authorization_endpoint", iss, "/oauth/authorize");
    set_url(o, "token_endpoint", iss, "/oauth/token");
    set_url(o, "revocation_endpoint", iss, "/oauth/revoke");
    set_url(o, "introspection_endpoint", iss, "/oauth/introspect");
    if (a->cfg.registration.enabled)
        set_url(o, "registration_endpoint", iss, "/oauth/register");
    set_url(o, "userinfo_endpoint", iss, "/oauth/userinfo");
    set_url(o, "jwks_uri", iss, "/oauth/jwks");
    json_object_set_new(o, "response_types_supported", str_array(code, 1));
    json_object_set_new(o, "response_modes_supported", str_array(query, 1));
    json_object_set_new(o, "grant_types_supported", str_array(grants, 3));
    json_object_set_new(o, "code_challenge_methods_supported", str_array(s256, 1));
    json_object_set_new(o, "token_endpoint_auth_methods_supported", str_array(auth_methods, 4));
    json_object_set_new(o, "token_endpoint_auth_signing_alg_values_supported", str_array(algs, 4));
    json_object_set_new(o, "revocation_endpoint_auth_methods_supported",
                        str_array(auth_methods, 4));
    json_object_set_new(o, "revocation_endpoint_auth_signing_alg_values_supported",
                        str_array(algs, 4));
    json_object_set_new(o, "introspection_endpoint_auth_methods_supported",
                        str_array(auth_methods, 3));
    json_object_set_new(o, "introspection_endpoint_auth_signing_alg_values_supported",
                        str_array(algs, 4));
    static const char *const es256[] = {"ES256"};
    json_object_set_new(o, "introspection_signing_alg_values_supported", str_array(es256, 1));
    json_t *scopes = json_array();
    for (size_t i = 0; i < a->scopes.n; i++)
        json_array_append_new(scopes, json_string(a->scopes.v[i].name));
    json_object_set_new(o, "scopes_supported", scopes);
    json_object_set_new(o, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(o, "client_id_metadata_document_supported",
                        json_boolean(a->cfg.cimd.enabled));
    a->as_metadata_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!a->as_metadata_json)
        return WT_NOMEM;
    a->as_metadata_len = strlen(a->as_metadata_json);
    return WT_OK;
}

/* The RFC 9728 document of one resource: the static part from its file, checked, plus the
 * fields the server owns. */
static wt_status build_prm(app *a, app_resource *r, char *err, size_t errlen)
{
    char builtin[256];
    const char *name = NULL;
    size_t len = 0;
    const char *p = r->path[1] ? r->path + 1 : "root";
    snprintf(builtin, sizeof builtin, "wellknown/oauth-protected-resource/%s.json", p);
    err[0] = '\0';
    char *text = load_doc(r->cfg->metadata, builtin, &len, &name, err, errlen);
    if (!text && err[0])
        return WT_INVALID;
    json_error_t je;
    json_t *doc = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &je) : json_object();
    free(text);
    wt_status st = WT_INVALID;
    if (!doc) {
        snprintf(err, errlen, "%s: invalid JSON at line %d column %d: %s", name, je.line, je.column,
                 je.text);
        return WT_INVALID;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "%s: must be a JSON object", name);
        goto out;
    }
    static const char *const server_owned[] = {"resource", "authorization_servers"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(doc, server_owned[i])) {
            snprintf(err, errlen, "%s: must not set \"%s\" (the server fills it in)", name,
                     server_owned[i]);
            goto out;
        }
    json_t *ss = json_object_get(doc, "scopes_supported");
    if (ss) {
        size_t i;
        json_t *v;
        if (!json_is_array(ss)) {
            snprintf(err, errlen, "%s: \"scopes_supported\" must be an array of scope names", name);
            goto out;
        }
        json_array_foreach(ss, i, v)
        {
            const char *sn = json_string_value(v);
            if (!sn || !scope_find(&a->scopes, sn, strlen(sn))) {
                snprintf(err, errlen,
                         "%s: \"scopes_supported\" entry %zu is not a scope of the catalogue", name,
                         i);
                goto out;
            }
        }
    } else {
        json_t *all = json_array();
        for (size_t i = 0; i < a->scopes.n; i++)
            json_array_append_new(all, json_string(a->scopes.v[i].name));
        json_object_set_new(doc, "scopes_supported", all);
    }
    json_t *bm = json_object_get(doc, "bearer_methods_supported");
    if (!bm) {
        static const char *const header[] = {"header"};
        json_object_set_new(doc, "bearer_methods_supported", str_array(header, 1));
    }
    json_t *out = json_object();
    json_object_set_new(out, "resource", json_string(r->resource));
    json_t *as = json_array();
    json_array_append_new(as, json_string(a->cfg.issuer));
    json_object_set_new(out, "authorization_servers", as);
    json_object_update(out, doc);
    r->metadata_json = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);
    r->metadata_len = r->metadata_json ? strlen(r->metadata_json) : 0;
    st = r->metadata_json ? WT_OK : WT_NOMEM;
out:
    json_decref(doc);
    return st;
}

/* Every scope a resource requires must be one the server can grant. */
static wt_status check_list(const app *a, json_t *list, size_t i, const char *method, char *err,
                            size_t errlen)
{
    size_t k;
    json_t *v;
    json_array_foreach(list, k, v)
    {
        const char *name = json_string_value(v);
        if (!name || !scope_find(&a->scopes, name, strlen(name))) {
            snprintf(err, errlen,
                     "resources[%zu].scopes_required%s%s: \"%.60s\" is not in the scope "
                     "catalogue (no token could ever carry it)",
                     i, method ? "." : "", method ? method : "", name ? name : "?");
            return WT_INVALID;
        }
    }
    return WT_OK;
}

static wt_status check_required(const app *a, const app_resource *r, size_t i, char *err,
                                size_t errlen)
{
    json_t *req = r->cfg->scopes_required;
    if (json_is_array(req))
        return check_list(a, req, i, NULL, err, errlen);
    const char *m;
    json_t *list;
    json_object_foreach(req, m, list)
    {
        wt_status st = check_list(a, list, i, m, err, errlen);
        if (st != WT_OK)
            return st;
    }
    return WT_OK;
}

wt_status metadata_load_scopes(app *a, char *err, size_t errlen)
{
    const char *name = NULL;
    size_t len = 0;
    err[0] = '\0';
    char *cat = load_doc(a->cfg.scopes, "scopes/gumnut.json", &len, &name, err, errlen);
    if (!cat)
        return WT_INVALID;
    wt_status st = scope_catalogue_load(cat, len, name, &a->scopes, err, errlen);
    free(cat);
    return st;
}

wt_status metadata_build(app *a, char *err, size_t errlen)
{
    wt_status st = a->scopes.v ? WT_OK : metadata_load_scopes(a, err, errlen);
    if (st != WT_OK)
        return st;
    a->nres = a->cfg.nresources;
    a->res = calloc(a->nres ? a->nres : 1, sizeof *a->res);
    if (!a->res)
        return WT_NOMEM;
    for (size_t i = 0; i < a->nres; i++) {
        app_resource *r = &a->res[i];
        r->cfg = &a->cfg.resources[i];
        r->path = strdup(r->cfg->path);
        r->resource = r->cfg->resource ? strdup(r->cfg->resource) : url(a->cfg.issuer, r->path);
        size_t n = strlen(a->cfg.issuer) + strlen(r->path) + 40;
        r->metadata_url = malloc(n);
        if (r->metadata_url)
            snprintf(r->metadata_url, n, "%s/.well-known/oauth-protected-resource%s", a->cfg.issuer,
                     strcmp(r->path, "/") == 0 ? "" : r->path);
        if (!r->path || !r->resource || !r->metadata_url)
            return WT_NOMEM;
        r->resource_norm = resource_normalize(r->resource);
        if (!r->resource_norm) {
            snprintf(err, errlen, "resources[%zu]: \"resource\" must be an absolute http(s) URI",
                     i);
            return WT_INVALID;
        }
        if ((st = check_required(a, r, i, err, errlen)) != WT_OK ||
            (st = build_prm(a, r, err, errlen)) != WT_OK)
            return st;
    }
    return build_as_metadata(a);
}

void metadata_free(app *a)
{
    for (size_t i = 0; a->res && i < a->nres; i++) {
        free(a->res[i].path);
        free(a->res[i].resource);
        free(a->res[i].resource_norm);
        free(a->res[i].metadata_url);
        free(a->res[i].metadata_json);
    }
    free(a->res);
    a->res = NULL;
    free(a->as_metadata_json);
    a->as_metadata_json = NULL;
    scope_catalogue_free(&a->scopes);
}
