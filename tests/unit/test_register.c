/* test_register.c — dynamic client registration (src/register.c): the JSON metadata → client
 * mapping and its error codes, the stored document and the registration response, RFC 7592
 * updates, the registration access token, and (on a temporary store) the writer ops, the
 * "used" flag and the purge of unused registrations. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedded.h"
#include "oauth.h"
#include "gc.h"
#include "tmpstore.h"
#include "register.h"

static scope_catalogue cat;

static void load_cat(void)
{
    const struct embedded_file *f = embedded_find("scopes/gumnut.json");
    char err[256] = "";
    cr_assert_not_null(f);
    cr_assert_eq(scope_catalogue_load(f->data, f->len, "gumnut", &cat, err, sizeof err), WT_OK,
                 "%s", err);
}

static void unload_cat(void)
{
    scope_catalogue_free(&cat);
}

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(j, "bad test JSON: %s", je.text);
    return j;
}

/* Builds a registration from text; asserts WT_OK. */
static json_t *build_ok(const char *text, char *secret, char *rat)
{
    json_t *body = js(text), *doc = NULL;
    reg_error e = {0};
    wt_status st = register_build(body, &cat, 1700000000, &doc, secret, rat, &e);
    cr_assert_eq(st, WT_OK, "%s refused: %s (%s)", text, e.why, oauth_error_code(e.err));
    json_decref(body);
    return doc;
}

/* Asserts the body is refused with error `err` and a description containing `part`. */
static void build_refused(const char *text, enum oauth_error err, const char *part)
{
    json_t *body = js(text), *doc = NULL;
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    reg_error e = {0};
    wt_status st = register_build(body, &cat, 1700000000, &doc, secret, rat, &e);
    cr_assert_eq(st, WT_INVALID, "%s accepted", text);
    cr_assert_null(doc);
    cr_assert_eq(e.err, err, "%s: got %s (%s), want %s", text, oauth_error_code(e.err), e.why,
                 oauth_error_code(err));
    cr_assert(oauth_desc_valid(e.why), "why not RFC 6749 clean: %s", e.why);
    if (part)
        cr_assert(strstr(e.why, part), "%s: why = %s (want '%s')", text, e.why, part);
    json_decref(body);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

#define ALL_SCOPES                                                                                 \
    "read:assets write:assets read:albums write:albums read:people write:people "                  \
    "read:libraries write:libraries"

TestSuite(register_metadata, .init = load_cat, .fini = unload_cat);

Test(register_metadata, mcp_sdk_public_client)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"client_name\":\"MCP Inspector\",\"redirect_uris\":"
                           "[\"http://localhost:6274/oauth/callback\"],\"grant_types\":"
                           "[\"authorization_code\",\"refresh_token\"],\"response_types\":"
                           "[\"code\"],\"token_endpoint_auth_method\":\"none\","
                           "\"scope\":\"read:assets\",\"client_uri\":"
                           "\"https://github.com/modelcontextprotocol/inspector\"}",
                           secret, rat);
    cr_assert_str_eq(secret, "");
    cr_assert_eq(strlen(rat), TOKEN_STR_LEN);
    cr_assert_eq(strncmp(rat, "ora_", 4), 0);
    cr_assert_str_eq(str(doc, "token_endpoint_auth_method"), "none");
    cr_assert_str_eq(str(doc, "client_name"), "MCP Inspector");
    cr_assert_str_eq(str(doc, "source"), "dcr");
    cr_assert(json_is_false(json_object_get(doc, "used")));
    cr_assert_null(json_object_get(doc, "secret_sha256"));
    cr_assert_str_eq(str(doc, "client_uri"), "https://github.com/modelcontextprotocol/inspector");
    cr_assert_eq(strncmp(str(doc, "client_id"), "ocl_", 4), 0);
    cr_assert(json_integer_value(json_object_get(doc, "client_id_issued_at")) == 1700000000);
    /* registered for the whole catalogue (register.h: scope policy) */
    cr_assert_str_eq(str(doc, "scope"), ALL_SCOPES);
    cr_assert(register_token_ok(doc, rat, strlen(rat)));
    rat[10] ^= 1;
    cr_assert_not(register_token_ok(doc, rat, strlen(rat)));
    json_decref(doc);
}

Test(register_metadata, defaults_are_confidential_basic_with_code_and_refresh)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"redirect_uris\":[\"https://app.example.com/cb\"]}", secret, rat);
    cr_assert_str_eq(str(doc, "token_endpoint_auth_method"), "client_secret_basic");
    cr_assert_eq(strncmp(secret, "ocs_", 4), 0);
    cr_assert_eq(strlen(secret), TOKEN_STR_LEN);
    cr_assert_not_null(json_object_get(doc, "secret_sha256"));
    json_t *g = json_object_get(doc, "grant_types");
    cr_assert_eq(json_array_size(g), 2);
    cr_assert_str_eq(json_string_value(json_array_get(g, 0)), "authorization_code");
    cr_assert_str_eq(json_string_value(json_array_get(g, 1)), "refresh_token");
    json_t *rt = json_object_get(doc, "response_types");
    cr_assert_eq(json_array_size(rt), 1);
    cr_assert_str_eq(json_string_value(json_array_get(rt, 0)), "code");
    cr_assert_str_eq(str(doc, "client_name"), REGISTER_DEFAULT_NAME);
    cr_assert_str_eq(str(doc, "scope"), ALL_SCOPES);
    cr_assert_null(json_object_get(doc, "application_type"));
    json_decref(doc);
}

Test(register_metadata, informational_fields_stored_unknown_ignored)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok(
        "{\"redirect_uris\":[\"cursor://anysphere.cursor-retrieval/oauth/cb\"],"
        "\"token_endpoint_auth_method\":\"client_secret_post\",\"application_type\":\"native\","
        "\"client_uri\":\"https://cursor.com\",\"logo_uri\":\"https://cursor.com/logo.png\","
        "\"tos_uri\":\"https://cursor.com/terms#top\",\"policy_uri\":\"http://localhost:3000/p\","
        "\"contacts\":[\"ops@example.com\"],\"software_id\":\"4NRB1-0XZABZI9E6-5SM3R\","
        "\"software_version\":\"2.1\",\"frobnicate\":true,\"client_name#ja\":\"x\","
        "\"software_statement\":\"eyJ.x.y\",\"client_id\":\"mine\",\"client_secret\":\"mine\","
        "\"jwks_uri\":\"https://x.example/jwks\"}",
        secret, rat);
    cr_assert_str_eq(str(doc, "application_type"), "native");
    cr_assert_str_eq(str(doc, "client_uri"), "https://cursor.com");
    cr_assert_str_eq(str(doc, "logo_uri"), "https://cursor.com/logo.png");
    cr_assert_str_eq(str(doc, "tos_uri"), "https://cursor.com/terms#top");
    cr_assert_str_eq(str(doc, "policy_uri"), "http://localhost:3000/p");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "contacts"), 0)),
                     "ops@example.com");
    cr_assert_str_eq(str(doc, "software_id"), "4NRB1-0XZABZI9E6-5SM3R");
    cr_assert_str_eq(str(doc, "software_version"), "2.1");
    cr_assert_null(json_object_get(doc, "frobnicate"));
    cr_assert_null(json_object_get(doc, "client_name#ja"));
    cr_assert_null(json_object_get(doc, "software_statement"));
    cr_assert_null(json_object_get(doc, "jwks_uri"));
    cr_assert_str_neq(str(doc, "client_id"), "mine");
    cr_assert_str_neq(secret, "mine");
    json_decref(doc);
}

Test(register_metadata, nulls_are_omitted_fields)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":null,"
                           "\"token_endpoint_auth_method\":null,\"scope\":null,"
                           "\"client_uri\":null,\"client_name\":null}",
                           secret, rat);
    cr_assert_str_eq(str(doc, "token_endpoint_auth_method"), "client_secret_basic");
    cr_assert_null(json_object_get(doc, "client_uri"));
    json_decref(doc);
}

Test(register_metadata, scope_checked_offline_access_dropped)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"scope\":\"read:assets offline_access read:assets\"}",
                           secret, rat);
    json_decref(doc);
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"scope\":\"read:assets "
                  "admin:all\"}",
                  OE_INVALID_CLIENT_METADATA, "admin:all");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"scope\":[\"read:assets\"]}",
                  OE_INVALID_CLIENT_METADATA, "scope");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"scope\":\"a\\\"b\"}",
                  OE_INVALID_CLIENT_METADATA, "malformed");
}

Test(register_metadata, keep_requested_scope_metadata)
{
    json_t *body = js("{\"scope\":\"write:assets offline_access read:assets write:assets\"}");
    reg_metadata m;
    reg_error e;
    cr_assert_eq(register_metadata_parse(body, &cat, &m, &e), WT_OK, "%s", e.why);
    cr_assert_str_eq(m.scope, "write:assets read:assets");
#if !REGISTER_KEEP_REQUESTED_SCOPE
    cr_assert_null(m.spec.scope);
#endif
    cr_assert_eq(m.spec.source, CLIENT_DCR);
    register_metadata_free(&m);
    json_decref(body);
}

Test(register_metadata, redirect_uri_errors)
{
    build_refused("{\"redirect_uris\":[\"javascript:alert(1)\"]}", OE_INVALID_REDIRECT_URI,
                  "scheme");
    build_refused("{\"redirect_uris\":[\"data:text/html,hi\"]}", OE_INVALID_REDIRECT_URI, "scheme");
    build_refused("{\"redirect_uris\":[\"http://evil.example/cb\"]}", OE_INVALID_REDIRECT_URI,
                  NULL);
    build_refused("{\"redirect_uris\":[\"https://a.example/cb#frag\"]}", OE_INVALID_REDIRECT_URI,
                  NULL);
    build_refused("{\"redirect_uris\":\"https://a.example/cb\"}", OE_INVALID_REDIRECT_URI, "array");
    build_refused("{\"redirect_uris\":[42]}", OE_INVALID_REDIRECT_URI, "string");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\",\"https://a.example/cb\"]}",
                  OE_INVALID_REDIRECT_URI, "repeats");
    build_refused("{}", OE_INVALID_REDIRECT_URI, "redirect URI");
    build_refused("{\"redirect_uris\":[]}", OE_INVALID_REDIRECT_URI, "redirect URI");
    /* redirect URIs only go with authorization_code */
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":"
                  "[\"client_credentials\"]}",
                  OE_INVALID_REDIRECT_URI, NULL);
}

Test(register_metadata, grant_and_response_type_errors)
{
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":[\"token\"]}",
                  OE_INVALID_CLIENT_METADATA, "token");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":"
                  "[\"code\",\"id_token\"]}",
                  OE_INVALID_CLIENT_METADATA, "id_token");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":[]}",
                  OE_INVALID_CLIENT_METADATA, "response_types");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":\"code\"}",
                  OE_INVALID_CLIENT_METADATA, "response_types");
    build_refused("{\"grant_types\":[\"client_credentials\"],\"response_types\":[\"code\"]}",
                  OE_INVALID_CLIENT_METADATA, "authorization_code");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":"
                  "[\"implicit\"]}",
                  OE_INVALID_CLIENT_METADATA, "implicit");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[]}",
                  OE_INVALID_CLIENT_METADATA, "grant_types");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":"
                  "[\"authorization_code\",\"authorization_code\"]}",
                  OE_INVALID_CLIENT_METADATA, "twice");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[1]}",
                  OE_INVALID_CLIENT_METADATA, "grant_types");
    build_refused("{\"grant_types\":[\"client_credentials\"],"
                  "\"token_endpoint_auth_method\":\"none\"}",
                  OE_INVALID_CLIENT_METADATA, "confidential");
}

Test(register_metadata, client_credentials_client)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"grant_types\":[\"client_credentials\"],\"redirect_uris\":[],"
                           "\"response_types\":[]}",
                           secret, rat);
    cr_assert_eq(json_array_size(json_object_get(doc, "response_types")), 0);
    cr_assert_eq(strncmp(secret, "ocs_", 4), 0);
    json_decref(doc);
}

Test(register_metadata, auth_method_and_jwks)
{
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":\"client_secret_jwt\"}",
                  OE_INVALID_CLIENT_METADATA, "token_endpoint_auth_method");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":7}",
                  OE_INVALID_CLIENT_METADATA, "string");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":\"private_key_jwt\"}",
                  OE_INVALID_CLIENT_METADATA, "jwks");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":\"private_key_jwt\","
                  "\"jwks_uri\":\"https://a.example/jwks\"}",
                  OE_INVALID_CLIENT_METADATA, "jwks_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"jwks\":{\"keys\":[]},"
                  "\"jwks_uri\":\"https://a.example/jwks\"}",
                  OE_INVALID_CLIENT_METADATA, "both");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks\":{\"keys\":"
                  "[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\",\"y\":\"b\",\"d\":\"c\"}]}}",
                  OE_INVALID_CLIENT_METADATA, "private");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks\":{\"keys\":[]}}",
                  OE_INVALID_CLIENT_METADATA, "JWK Set");
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks\":"
                           "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
                           "\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\",\"y\":"
                           "\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\"}]}}",
                           secret, rat);
    cr_assert_str_eq(secret, "");
    cr_assert_null(json_object_get(doc, "secret_sha256"));
    cr_assert(json_is_object(json_object_get(doc, "jwks")));
    json_t *resp = register_response(doc, "https://as.example", rat, secret);
    cr_assert_null(json_object_get(resp, "client_secret_expires_at"));
    json_decref(resp);
    json_decref(doc);
}

Test(register_metadata, informational_field_errors)
{
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":42}",
                  OE_INVALID_CLIENT_METADATA, "client_name");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"\"}",
                  OE_INVALID_CLIENT_METADATA, "client_name");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"a\\nb\"}",
                  OE_INVALID_CLIENT_METADATA, "control");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"client_name\":\"evil\\u202egoogle\"}",
                  OE_INVALID_CLIENT_METADATA, "bidirectional");
    char longname[400];
    memset(longname, 'x', 201);
    longname[201] = '\0';
    char body[600];
    snprintf(body, sizeof body,
             "{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"%s\"}", longname);
    build_refused(body, OE_INVALID_CLIENT_METADATA, "client_name");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"application_type\":\"tv\"}",
                  OE_INVALID_CLIENT_METADATA, "application_type");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"client_uri\":\"http://evil.example\"}",
                  OE_INVALID_CLIENT_METADATA, "client_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"logo_uri\":\"javascript:alert(1)\"}",
                  OE_INVALID_CLIENT_METADATA, "logo_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"tos_uri\":\"myapp://x\"}",
                  OE_INVALID_CLIENT_METADATA, "tos_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"policy_uri\":[]}",
                  OE_INVALID_CLIENT_METADATA, "policy_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],"
                  "\"client_uri\":\"https://a.example/x#a b\"}",
                  OE_INVALID_CLIENT_METADATA, "client_uri");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"contacts\":\"a@b\"}",
                  OE_INVALID_CLIENT_METADATA, "contacts");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"contacts\":[1]}",
                  OE_INVALID_CLIENT_METADATA, "contacts[0]");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"contacts\":"
                  "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\"]}",
                  OE_INVALID_CLIENT_METADATA, "contacts");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"software_id\":{}}",
                  OE_INVALID_CLIENT_METADATA, "software_id");
    build_refused("{\"redirect_uris\":[\"https://a.example/cb\"],\"software_version\":\"\"}",
                  OE_INVALID_CLIENT_METADATA, "software_version");
}

Test(register_metadata, body_parse)
{
    reg_error e;
    json_t *j = register_body_parse("{\"a\":1}", 7, &e);
    cr_assert_not_null(j);
    json_decref(j);
    cr_assert_null(register_body_parse("{\"a\":1,\"a\":2}", 13, &e));
    cr_assert_eq(e.err, OE_INVALID_REQUEST);
    cr_assert(strstr(e.why, "duplicate"), "%s", e.why);
    cr_assert(oauth_desc_valid(e.why));
    cr_assert_null(register_body_parse("[1]", 3, &e));
    cr_assert_eq(e.err, OE_INVALID_REQUEST);
    cr_assert(strstr(e.why, "object"), "%s", e.why);
    cr_assert_null(register_body_parse("{\"a\":", 5, &e));
    cr_assert_eq(e.err, OE_INVALID_REQUEST);
    cr_assert_null(register_body_parse(NULL, 0, &e));
    cr_assert_eq(e.err, OE_INVALID_REQUEST);
    cr_assert_null(register_body_parse("{\"a\":\"\\u0000\"}", 14, &e));
    cr_assert_null(register_body_parse("{\"a\":\"\xff\"}", 8, &e));
}

Test(register_metadata, response_shape)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"client_name\":\"App\",\"redirect_uris\":"
                           "[\"https://a.example/cb\"],\"application_type\":\"web\"}",
                           secret, rat);
    json_t *r = register_response(doc, "https://as.example", rat, secret);
    char want[128];
    snprintf(want, sizeof want, "https://as.example/oauth/register/%s", str(doc, "client_id"));
    cr_assert_str_eq(str(r, "registration_client_uri"), want);
    cr_assert_str_eq(str(r, "registration_access_token"), rat);
    cr_assert_str_eq(str(r, "client_secret"), secret);
    cr_assert(json_integer_value(json_object_get(r, "client_secret_expires_at")) == 0);
    cr_assert_not_null(json_object_get(r, "client_secret_expires_at"));
    cr_assert_str_eq(str(r, "application_type"), "web");
    cr_assert_not_null(json_object_get(r, "client_id_issued_at"));
    cr_assert_null(json_object_get(r, "secret_sha256"));
    cr_assert_null(json_object_get(r, "registration_token_sha256"));
    cr_assert_null(json_object_get(r, "used"));
    cr_assert_null(json_object_get(r, "source"));
    json_decref(r);
    /* a read: no secret, but client_secret_expires_at stays */
    r = register_response(doc, "https://as.example", rat, NULL);
    cr_assert_null(json_object_get(r, "client_secret"));
    cr_assert_not_null(json_object_get(r, "client_secret_expires_at"));
    json_decref(r);
    json_decref(doc);
}

Test(register_metadata, unused_expired_predicate)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1];
    json_t *doc = build_ok("{\"redirect_uris\":[\"https://a.example/cb\"]}", secret, rat);
    char *s = json_dumps(doc, JSON_COMPACT); /* as client_store writes it */
    cr_assert(register_unused_expired(s, strlen(s), 1700000000 + 100, 100));
    cr_assert_not(register_unused_expired(s, strlen(s), 1700000000 + 99, 100));
    cr_assert_not(register_unused_expired(s, strlen(s), 1800000000, 0));
    free(s);
    json_object_set_new(doc, "used", json_true());
    s = json_dumps(doc, JSON_COMPACT);
    cr_assert_not(register_unused_expired(s, strlen(s), 1800000000, 100));
    free(s);
    json_object_set_new(doc, "used", json_false());
    json_object_set_new(doc, "source", json_string("cli"));
    s = json_dumps(doc, JSON_COMPACT);
    cr_assert_not(register_unused_expired(s, strlen(s), 1800000000, 100));
    free(s);
    const char *truncated = "{\"used\":false,\"source\":\"dcr\"";
    cr_assert_not(register_unused_expired(truncated, strlen(truncated), 1800000000, 100));
    json_decref(doc);
}

/* ---------------------------------------------------------------- RFC 7592 updates */

static json_t *update(json_t *cur, const char *text, char *secret, reg_error *e, wt_status want)
{
    json_t *body = js(text), *doc = NULL;
    wt_status st = register_update_doc(cur, body, &cat, 1800000000, &doc, secret, e);
    cr_assert_eq(st, want, "%s: %s", text, e->why);
    json_decref(body);
    return doc;
}

Test(register_metadata, update_keeps_identity_secret_and_flags)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1], s2[TOKEN_STR_LEN + 1], body[512];
    reg_error e;
    json_t *cur = build_ok("{\"client_name\":\"A\",\"redirect_uris\":[\"https://a.example/cb\"],"
                           "\"client_uri\":\"https://a.example\"}",
                           secret, rat);
    json_object_set_new(cur, "used", json_true());
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_name\":\"B\",\"redirect_uris\":"
             "[\"https://b.example/cb\"],\"client_secret\":\"%s\","
             "\"registration_access_token\":\"x\",\"client_id_issued_at\":5}",
             str(cur, "client_id"), secret);
    json_t *doc = update(cur, body, s2, &e, WT_OK);
    cr_assert_str_eq(s2, "");
    cr_assert_str_eq(str(doc, "client_name"), "B");
    cr_assert_str_eq(str(doc, "client_id"), str(cur, "client_id"));
    cr_assert_str_eq(str(doc, "secret_sha256"), str(cur, "secret_sha256"));
    cr_assert_str_eq(str(doc, "registration_token_sha256"), str(cur, "registration_token_sha256"));
    cr_assert(json_is_true(json_object_get(doc, "used")));
    cr_assert(json_integer_value(json_object_get(doc, "client_id_issued_at")) == 1700000000);
    cr_assert_null(json_object_get(doc, "client_uri")); /* omitted = deleted */
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "redirect_uris"), 0)),
                     "https://b.example/cb");
    json_decref(doc);
    json_decref(cur);
}

Test(register_metadata, update_checks_client_id_and_secret)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1], s2[TOKEN_STR_LEN + 1], body[512];
    reg_error e;
    json_t *cur = build_ok("{\"redirect_uris\":[\"https://a.example/cb\"]}", secret, rat);
    update(cur, "{\"redirect_uris\":[\"https://a.example/cb\"]}", s2, &e, WT_INVALID);
    cr_assert_eq(e.err, OE_INVALID_CLIENT_METADATA);
    cr_assert(strstr(e.why, "client_id"));
    update(cur, "{\"client_id\":\"ocl_other\",\"redirect_uris\":[\"https://a.example/cb\"]}", s2,
           &e, WT_INVALID);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"client_secret\":\"ocs_chosen\",\"redirect_uris\":"
             "[\"https://a.example/cb\"]}",
             str(cur, "client_id"));
    update(cur, body, s2, &e, WT_INVALID);
    cr_assert(strstr(e.why, "client_secret"));
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"redirect_uris\":[\"javascript:x\"]}",
             str(cur, "client_id"));
    update(cur, body, s2, &e, WT_INVALID);
    cr_assert_eq(e.err, OE_INVALID_REDIRECT_URI);
    json_decref(cur);
}

Test(register_metadata, update_public_to_confidential_issues_a_secret)
{
    char secret[TOKEN_STR_LEN + 1], rat[TOKEN_STR_LEN + 1], s2[TOKEN_STR_LEN + 1], body[512];
    reg_error e;
    json_t *cur = build_ok("{\"redirect_uris\":[\"http://127.0.0.1/cb\"],"
                           "\"token_endpoint_auth_method\":\"none\"}",
                           secret, rat);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"redirect_uris\":[\"http://127.0.0.1/cb\"],"
             "\"token_endpoint_auth_method\":\"client_secret_post\"}",
             str(cur, "client_id"));
    json_t *doc = update(cur, body, s2, &e, WT_OK);
    cr_assert_eq(strncmp(s2, "ocs_", 4), 0);
    client_t c = {.doc = doc};
    cr_assert(client_secret_ok(&c, s2, strlen(s2)));
    /* and back to public: the secret goes */
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"redirect_uris\":[\"http://127.0.0.1/cb\"],"
             "\"token_endpoint_auth_method\":\"none\"}",
             str(cur, "client_id"));
    json_t *doc2 = update(doc, body, s2, &e, WT_OK);
    cr_assert_null(json_object_get(doc2, "secret_sha256"));
    cr_assert_str_eq(s2, "");
    json_decref(doc2);
    json_decref(doc);
    json_decref(cur);
}

/* ---------------------------------------------------------------- on a store */

static char tmpdir[64];
static store *st;

static void store_setup(void)
{
    load_cat();
    st = tmpstore_open(tmpdir, sizeof tmpdir, NULL, 0, "reg");
}

static void store_teardown(void)
{
    tmpstore_close(&st, tmpdir);
    unload_cat();
}

/* The purge runs as gc's bounded scan does in the server: `scan` clients a step. */
struct purge_arg {
    int64_t now;
    size_t scan;
    gc_state gc;
};

static wt_status run_purge(store_txn *t, void *arg)
{
    struct purge_arg *p = arg;
    return gc_step(t, p->now, p->scan, &p->gc);
}

/* Steps until a full pass; returns the clients removed. */
static uint64_t purge_pass(int64_t now, int64_t ttl)
{
    struct purge_arg p = {.now = now, .scan = 100, .gc = {.unused_client_ttl = ttl}};
    while (!gc_pass_done(&p.gc))
        cr_assert_eq(store_write_sync(st, run_purge, &p), WT_OK);
    return p.gc.purged[GC_CLIENTS];
}

static wt_status run_mark(store_txn *t, void *arg)
{
    return register_mark_used(t, arg);
}

static bool exists(const char *id)
{
    store_reader *r = store_reader_new(st);
    store_txn *t;
    client_t c;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    wt_status s = client_load(t, id, &c);
    client_free(&c);
    store_reader_end(r);
    store_reader_free(r);
    return s == WT_OK;
}

static char *add(const char *text, int64_t now, char *rat)
{
    json_t *body = js(text), *doc;
    char secret[TOKEN_STR_LEN + 1];
    reg_error e;
    cr_assert_eq(register_build(body, &cat, now, &doc, secret, rat, &e), WT_OK, "%s", e.why);
    cr_assert_eq(store_write_sync(st, register_store_new, doc), WT_OK);
    char *id = strdup(str(doc, "client_id"));
    json_decref(doc);
    json_decref(body);
    return id;
}

TestSuite(register_store, .init = store_setup, .fini = store_teardown);

Test(register_store, purge_removes_only_old_unused_dcr_clients)
{
    char rat[TOKEN_STR_LEN + 1];
    const char *b = "{\"redirect_uris\":[\"https://a.example/cb\"]}";
    char *old_unused = add(b, 1000, rat), *old_used = add(b, 1000, rat);
    char *new_unused = add(b, 5000, rat);
    cr_assert_eq(store_write_sync(st, run_mark, old_used), WT_OK);
    cr_assert_eq(store_write_sync(st, run_mark, old_used), WT_OK); /* idempotent */
    cr_assert_eq(store_write_sync(st, run_mark, "ocl_nosuchclientxxxxxxxxx"), WT_OK);
    /* a CLI client is never purged, however old */
    client_spec cli = {.name = "cli",
                       .redirect_uris = (const char *const[]){"https://c.example"},
                       .nredirect = 1,
                       .source = CLIENT_CLI};
    json_t *cdoc;
    char secret[TOKEN_STR_LEN + 1], why[200];
    const char *fe;
    cr_assert_eq(client_build(&cli, &cat, 1, &cdoc, secret, why, sizeof why, &fe), WT_OK);
    json_object_set_new(cdoc, "used", json_false());
    cr_assert_eq(store_write_sync(st, register_store_new, cdoc), WT_OK);
    char *cli_id = strdup(str(cdoc, "client_id"));
    json_decref(cdoc);

    cr_assert_eq(purge_pass(4000, 2000), 1);
    cr_assert_not(exists(old_unused));
    cr_assert(exists(old_used));
    cr_assert(exists(new_unused));
    cr_assert(exists(cli_id));
    /* bounded steps: one client scanned per step, so a step does not finish the pass */
    struct purge_arg p = {.now = 100000, .scan = 1, .gc = {.unused_client_ttl = 2000}};
    cr_assert_eq(store_write_sync(st, run_purge, &p), WT_OK);
    cr_assert_not(gc_pass_done(&p.gc));
    while (!gc_pass_done(&p.gc))
        cr_assert_eq(store_write_sync(st, run_purge, &p), WT_OK);
    cr_assert_eq(p.gc.purged[GC_CLIENTS], 1);
    cr_assert_not(exists(new_unused));
    cr_assert(exists(old_used));
    cr_assert(exists(cli_id));
    /* ttl 0 keeps them all */
    char *kept = add(b, 1000, rat);
    cr_assert_eq(purge_pass(100000, 0), 0);
    cr_assert(exists(kept));
    free(kept);
    free(old_unused);
    free(old_used);
    free(new_unused);
    free(cli_id);
}

Test(register_store, update_and_delete_reauthenticate)
{
    char rat[TOKEN_STR_LEN + 1], body[256];
    char *id = add("{\"redirect_uris\":[\"https://a.example/cb\"],"
                   "\"token_endpoint_auth_method\":\"none\"}",
                   1000, rat);
    snprintf(body, sizeof body,
             "{\"client_id\":\"%s\",\"redirect_uris\":[\"https://b.example/cb\"],"
             "\"token_endpoint_auth_method\":\"none\",\"client_name\":\"New\"}",
             id);
    json_t *jb = js(body);
    char wrong[TOKEN_STR_LEN + 1];
    memcpy(wrong, rat, sizeof wrong);
    wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
    reg_manage m = {.client_id = id, .token = wrong, .body = jb, .cat = &cat, .now = 2000};
    cr_assert_eq(store_write_sync(st, register_update, &m), WT_OK);
    cr_assert(m.denied);
    cr_assert_null(m.doc);
    m = (reg_manage){.client_id = id, .token = rat, .body = jb, .cat = &cat, .now = 2000};
    cr_assert_eq(store_write_sync(st, register_update, &m), WT_OK);
    cr_assert_not(m.denied);
    cr_assert_eq(m.err.err, OE_NONE, "%s", m.err.why);
    cr_assert_str_eq(str(m.doc, "client_name"), "New");
    json_decref(m.doc);

    store_reader *r = store_reader_new(st);
    store_txn *t;
    client_t c;
    cr_assert_eq(store_reader_begin(r, &t), WT_OK);
    cr_assert_eq(register_authorize(t, id, rat, &c), WT_OK);
    cr_assert_str_eq(c.name, "New");
    cr_assert(register_client_unused(&c));
    client_free(&c);
    cr_assert_eq(register_authorize(t, id, wrong, &c), WT_DENIED);
    cr_assert_eq(register_authorize(t, "ocl_nosuchclientxxxxxxxxx", rat, &c), WT_DENIED);
    store_reader_end(r);

    m = (reg_manage){.client_id = id, .token = wrong};
    cr_assert_eq(store_write_sync(st, register_delete, &m), WT_OK);
    cr_assert(m.denied);
    cr_assert(exists(id));
    m = (reg_manage){.client_id = id, .token = rat};
    cr_assert_eq(store_write_sync(st, register_delete, &m), WT_OK);
    cr_assert_not(m.denied);
    cr_assert_not(exists(id));
    m = (reg_manage){.client_id = id, .token = rat};
    cr_assert_eq(store_write_sync(st, register_delete, &m), WT_OK);
    cr_assert(m.denied);
    store_reader_free(r);
    json_decref(jb);
    free(id);
}
