/* test_config.c — tests of src/config.c: the SPEC §1 defaults, loading a config file (every
 * key, relative paths, unknown keys, bad values), command-line flags, the final checks and
 * the derived issuer. Files are written under a fresh mkdtemp directory per test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char tmpdir[64];
static config_t cfg;
static char err[512];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wattle-config-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    cr_assert_eq(config_defaults(&cfg), WT_OK);
    err[0] = '\0';
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void teardown(void)
{
    config_free(&cfg);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes text to tmpdir/name (creating one level of sub-directory if name has one) and
 * returns the full path in out. */
static const char *write_file(const char *name, const char *text, char out[256])
{
    snprintf(out, 256, "%s/%s", tmpdir, name);
    char *slash = strrchr(out, '/');
    if (slash > out + strlen(tmpdir)) {
        *slash = '\0';
        mkdir(out, 0700);
        *slash = '/';
    }
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f, "cannot write %s", out);
    fputs(text, f);
    fclose(f);
    return out;
}

/* Loads text as a config file over fresh defaults. */
static wt_status load_text(const char *text)
{
    char path[256];
    config_free(&cfg);
    cr_assert_eq(config_defaults(&cfg), WT_OK);
    err[0] = '\0';
    write_file("wattle.json", text, path);
    return config_load_file(&cfg, path, err, sizeof err);
}

static char *path_in_tmp(const char *rel)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, rel);
    return buf[i];
}

static void assert_json(json_t *got, const char *expected_json)
{
    json_t *want = json_loads(expected_json, 0, NULL);
    cr_assert_not_null(want);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(json_equal(got, want), "got %s, want %s", g ? g : "(null)", expected_json);
    free(g);
    json_decref(want);
}

/* ---- defaults ------------------------------------------------------------------------- */

Test(config, defaults_match_spec)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int want_threads = cores < 1 ? 1 : cores > 256 ? 256 : (int)cores;

    cr_assert_null(cfg.issuer);
    cr_assert_eq(cfg.nlisten, 1);
    cr_assert_str_eq(cfg.listen[0].address, "127.0.0.1:8400");
    cr_assert_str_eq(cfg.listen[0].host, "127.0.0.1");
    cr_assert_eq(cfg.listen[0].port, 8400);
    cr_assert_null(cfg.listen[0].tls_cert);
    cr_assert_null(cfg.listen[0].tls_key);
    cr_assert_str_eq(cfg.data_dir, "./wattle-data");
    cr_assert_eq(cfg.threads, want_threads);
    cr_assert_eq(cfg.pin_threads, true);
    cr_assert_eq(cfg.password_hash_workers, want_threads / 2 < 1 ? 1 : want_threads / 2);
    cr_assert_str_eq(cfg.realm, "Wattle");
    cr_assert_null(cfg.scopes, "NULL means the built-in scopes/gumnut.json");
    cr_assert_eq(cfg.nresources, 1);
    cr_assert_str_eq(cfg.resources[0].path, "/mcp");
    cr_assert_null(cfg.resources[0].resource);
    cr_assert_null(cfg.resources[0].metadata);
    cr_assert_null(cfg.resources[0].upstream);
    assert_json(cfg.resources[0].scopes_required, "[\"read:assets\"]");
    cr_assert_eq(cfg.access_token_ttl, 3600);
    cr_assert_eq(cfg.refresh_token_ttl, 2592000);
    cr_assert_eq(cfg.code_ttl, 60);
    cr_assert_eq(cfg.refresh_grace, 10);
    cr_assert_eq(cfg.session_ttl, 86400);
    cr_assert_eq(cfg.login_throttle.per_user_address, 5);
    cr_assert_eq(cfg.login_throttle.per_address, 50);
    cr_assert_eq(cfg.login_throttle.window, 900);
    cr_assert_eq(cfg.rate_limit.token, 50);
    cr_assert_eq(cfg.rate_limit.revoke, 50);
    cr_assert_eq(cfg.rate_limit.introspect, 500);
    cr_assert_eq(cfg.rate_limit.reg, 20);
    cr_assert_eq(cfg.registration.enabled, true);
    cr_assert_null(cfg.registration.initial_access_token);
    cr_assert_eq(cfg.registration.unused_client_ttl, 7776000);
    cr_assert_eq(cfg.cimd.enabled, true);
    cr_assert_eq(cfg.cimd.allow_private_addresses, false);
    cr_assert_null(cfg.cimd.ca_file);
    cr_assert_eq(cfg.cimd.cache_ttl, 3600);
    cr_assert_eq(cfg.ntrusted_proxies, 0);
    cr_assert_eq(cfg.max_body_bytes, 65536);
    cr_assert_eq(cfg.gateway_max_body_bytes, 16777216);
    cr_assert_eq(cfg.gateway_sse_heartbeat, 15);
    cr_assert_eq(cfg.log_level, LOG_INFO);

    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 0), WT_OK);
    cr_assert_str_eq(cfg.issuer, "http://127.0.0.1:8400");
}

Test(config, defaults_report)
{
    json_t *j = config_to_json(&cfg);
    cr_assert_not_null(j);
    json_object_del(j, "threads"); /* both depend on the machine: defaults_match_spec */
    json_object_del(j, "password_hash_workers");
    assert_json(j, "{\"issuer\": null, \"listen\": [\"127.0.0.1:8400\"],"
                   " \"data_dir\": \"./wattle-data\", \"pin_threads\": true,"
                   " \"realm\": \"Wattle\", \"scopes\": null,"
                   " \"resources\": [{\"path\": \"/mcp\", \"resource\": null, \"metadata\": null,"
                   "   \"scopes_required\": [\"read:assets\"], \"upstream\": null}],"
                   " \"access_token_ttl\": 3600, \"refresh_token_ttl\": 2592000,"
                   " \"code_ttl\": 60, \"refresh_grace\": 10, \"session_ttl\": 86400,"
                   " \"login_throttle\": {\"per_user_address\": 5, \"per_address\": 50,"
                   "   \"window\": 900},"
                   " \"rate_limit\": {\"token\": 50, \"revoke\": 50, \"introspect\": 500,"
                   "   \"register\": 20},"
                   " \"registration\": {\"enabled\": true, \"initial_access_token\": null,"
                   "   \"unused_client_ttl\": 7776000},"
                   " \"cimd\": {\"enabled\": true, \"allow_private_addresses\": false,"
                   "   \"ca_file\": null, \"cache_ttl\": 3600},"
                   " \"trusted_proxies\": [], \"max_body_bytes\": 65536,"
                   " \"gateway_sse_heartbeat\": 15,"
                   " \"gateway_max_body_bytes\": 16777216, \"log_level\": \"info\"}");
    json_decref(j);
}

Test(config, free_is_null_safe_and_idempotent)
{
    config_free(NULL);
    config_free(&cfg);
    config_free(&cfg);
    cr_assert_null(cfg.realm);
    cr_assert_eq(cfg.nlisten, 0);
    cr_assert_eq(config_defaults(&cfg), WT_OK); /* teardown frees it again */
}

/* ---- a full file ---------------------------------------------------------------------- */

static const char full_config[] =
    "{\n"
    "  \"issuer\": \"https://auth.example.com\",\n"
    "  \"listen\": [\"127.0.0.1:9000\",\n"
    "             {\"address\": \"[::1]:9443\", \"tls\": {\"cert\": \"/etc/w/c.pem\","
    " \"key\": \"/etc/w/k.pem\"}}],\n"
    "  \"data_dir\": \"/var/lib/wattle\",\n"
    "  \"threads\": 3,\n"
    "  \"pin_threads\": false,\n"
    "  \"password_hash_workers\": 4,\n"
    "  \"realm\": \"Photos API\",\n"
    "  \"scopes\": \"/etc/w/scopes.json\",\n"
    "  \"resources\": [\n"
    "    {\"path\": \"/mcp\", \"scopes_required\": [\"read:assets\", \"write:assets\"],\n"
    "     \"metadata\": \"/etc/w/mcp.json\", \"upstream\": \"http://127.0.0.1:3000/mcp\"},\n"
    "    {\"path\": \"/api\", \"resource\": \"https://api.example.com\",\n"
    "     \"scopes_required\": {\"GET\": [\"read:assets\"], \"POST\": [\"write:assets\"]},\n"
    "     \"metadata\": null, \"upstream\": null}\n"
    "  ],\n"
    "  \"access_token_ttl\": 600, \"refresh_token_ttl\": 86400, \"code_ttl\": 30,\n"
    "  \"refresh_grace\": 0, \"session_ttl\": 3600,\n"
    "  \"login_throttle\": {\"per_user_address\": 3, \"per_address\": 30, \"window\": 60},\n"
    "  \"rate_limit\": {\"token\": 1, \"revoke\": 2, \"introspect\": 0, \"register\": 4},\n"
    "  \"registration\": {\"enabled\": false, \"initial_access_token\": \"iat-Secret_123\","
    " \"unused_client_ttl\": 3600},\n"
    "  \"cimd\": {\"enabled\": false, \"allow_private_addresses\": true,"
    " \"ca_file\": \"/etc/w/ca.pem\", \"cache_ttl\": 600},\n"
    "  \"trusted_proxies\": [\"10.0.0.0/8\", \"::1\", \"2001:db8::/32\", \"192.0.2.7\"],\n"
    "  \"max_body_bytes\": 1024, \"gateway_max_body_bytes\": 1073741824,\n"
    "  \"gateway_sse_heartbeat\": 30,\n"
    "  \"log_level\": \"debug\"\n"
    "}\n";

Test(config, full_file_loads_every_key)
{
    cr_assert_eq(load_text(full_config), WT_OK, "%s", err);
    cr_assert_str_eq(cfg.issuer, "https://auth.example.com");
    cr_assert_eq(cfg.nlisten, 2);
    cr_assert_str_eq(cfg.listen[0].address, "127.0.0.1:9000");
    cr_assert_eq(cfg.listen[0].port, 9000);
    cr_assert_null(cfg.listen[0].tls_cert);
    cr_assert_str_eq(cfg.listen[1].address, "[::1]:9443");
    cr_assert_str_eq(cfg.listen[1].host, "::1");
    cr_assert_eq(cfg.listen[1].port, 9443);
    cr_assert_str_eq(cfg.listen[1].tls_cert, "/etc/w/c.pem");
    cr_assert_str_eq(cfg.listen[1].tls_key, "/etc/w/k.pem");
    cr_assert_str_eq(cfg.data_dir, "/var/lib/wattle");
    cr_assert_eq(cfg.threads, 3);
    cr_assert_eq(cfg.pin_threads, false);
    cr_assert_eq(cfg.password_hash_workers, 4);
    cr_assert_str_eq(cfg.realm, "Photos API");
    cr_assert_str_eq(cfg.scopes, "/etc/w/scopes.json");
    cr_assert_eq(cfg.nresources, 2);
    cr_assert_str_eq(cfg.resources[0].path, "/mcp");
    cr_assert_null(cfg.resources[0].resource);
    cr_assert_str_eq(cfg.resources[0].metadata, "/etc/w/mcp.json");
    cr_assert_str_eq(cfg.resources[0].upstream, "http://127.0.0.1:3000/mcp");
    assert_json(cfg.resources[0].scopes_required, "[\"read:assets\", \"write:assets\"]");
    cr_assert_str_eq(cfg.resources[1].path, "/api");
    cr_assert_str_eq(cfg.resources[1].resource, "https://api.example.com");
    cr_assert_null(cfg.resources[1].metadata);
    cr_assert_null(cfg.resources[1].upstream);
    assert_json(cfg.resources[1].scopes_required,
                "{\"GET\": [\"read:assets\"], \"POST\": [\"write:assets\"]}");
    cr_assert_eq(cfg.access_token_ttl, 600);
    cr_assert_eq(cfg.refresh_token_ttl, 86400);
    cr_assert_eq(cfg.code_ttl, 30);
    cr_assert_eq(cfg.refresh_grace, 0);
    cr_assert_eq(cfg.session_ttl, 3600);
    cr_assert_eq(cfg.login_throttle.per_user_address, 3);
    cr_assert_eq(cfg.login_throttle.per_address, 30);
    cr_assert_eq(cfg.login_throttle.window, 60);
    cr_assert_eq(cfg.rate_limit.token, 1);
    cr_assert_eq(cfg.rate_limit.revoke, 2);
    cr_assert_eq(cfg.rate_limit.introspect, 0);
    cr_assert_eq(cfg.rate_limit.reg, 4);
    cr_assert_eq(cfg.registration.enabled, false);
    cr_assert_str_eq(cfg.registration.initial_access_token, "iat-Secret_123");
    cr_assert_eq(cfg.registration.unused_client_ttl, 3600);
    cr_assert_eq(cfg.cimd.enabled, false);
    cr_assert_eq(cfg.cimd.allow_private_addresses, true);
    cr_assert_str_eq(cfg.cimd.ca_file, "/etc/w/ca.pem");
    cr_assert_eq(cfg.cimd.cache_ttl, 600);
    cr_assert_eq(cfg.ntrusted_proxies, 4);
    cr_assert_str_eq(cfg.trusted_proxies[0], "10.0.0.0/8");
    cr_assert_str_eq(cfg.trusted_proxies[3], "192.0.2.7");
    cr_assert_eq(cfg.max_body_bytes, 1024);
    cr_assert_eq(cfg.gateway_max_body_bytes, 1073741824);
    cr_assert_eq(cfg.gateway_sse_heartbeat, 30);
    cr_assert_eq(cfg.log_level, LOG_DEBUG);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 1234), WT_OK);
    cr_assert_str_eq(cfg.issuer, "https://auth.example.com", "an explicit issuer stays");
}

/* The full file above names every key the table reports, so a key added to the table without
 * a test here fails. */
Test(config, full_file_covers_every_key)
{
    json_t *full = json_loads(full_config, 0, NULL), *report = config_to_json(&cfg);
    cr_assert_not_null(full);
    cr_assert_not_null(report);
    const char *k;
    json_t *v;
    json_object_foreach(report, k, v)
    {
        cr_expect_not_null(json_object_get(full, k), "full_config lacks \"%s\"", k);
        if (json_is_object(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                cr_expect_not_null(json_object_get(json_object_get(full, k), k2),
                                   "full_config lacks \"%s.%s\"", k, k2);
            }
        }
    }
    json_decref(full);
    json_decref(report);
}

Test(config, report_round_trips_and_hides_the_secret)
{
    cr_assert_eq(load_text(full_config), WT_OK, "%s", err);
    json_t *j = config_to_json(&cfg);
    cr_assert_not_null(j);
    json_t *iat = json_object_get(json_object_get(j, "registration"), "initial_access_token");
    cr_assert_str_eq(json_string_value(iat), "(set)");
    json_object_set_new(json_object_get(j, "registration"), "initial_access_token",
                        json_string("iat-Secret_123"));
    json_t *want = json_loads(full_config, 0, NULL);
    /* the report spells out nulls the file may omit */
    json_t *r0 = json_array_get(json_object_get(want, "resources"), 0);
    json_object_set_new(r0, "resource", json_null());
    json_t *l0 = json_object_get(j, "listen");
    cr_assert(json_is_string(json_array_get(l0, 0)));
    char *g = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert(json_equal(j, want), "report %s", g);
    free(g);
    json_decref(want);
    json_decref(j);
}

Test(config, nested_objects_merge_and_lists_replace)
{
    cr_assert_eq(load_text("{\"rate_limit\": {\"token\": 7}, \"cimd\": {\"enabled\": false},"
                           " \"resources\": [{\"path\": \"/api\"}]}"),
                 WT_OK, "%s", err);
    cr_assert_eq(cfg.rate_limit.token, 7);
    cr_assert_eq(cfg.rate_limit.revoke, 50);
    cr_assert_eq(cfg.rate_limit.introspect, 500);
    cr_assert_eq(cfg.rate_limit.reg, 20);
    cr_assert_eq(cfg.cimd.enabled, false);
    cr_assert_eq(cfg.cimd.allow_private_addresses, false);
    cr_assert_eq(cfg.nresources, 1);
    cr_assert_str_eq(cfg.resources[0].path, "/api");
    assert_json(cfg.resources[0].scopes_required, "[]");
    cr_assert_null(cfg.resources[0].resource);
    cr_assert_eq(cfg.access_token_ttl, 3600, "keys the file omits keep their defaults");
}

Test(config, empty_object_is_the_defaults)
{
    cr_assert_eq(load_text("{}"), WT_OK, "%s", err);
    cr_assert_str_eq(cfg.realm, "Wattle");
    cr_assert_eq(cfg.nlisten, 1);
    cr_assert_str_eq(cfg.data_dir, path_in_tmp("wattle-data"));
}

/* ---- paths ---------------------------------------------------------------------------- */

Test(config, resolve_path)
{
    struct {
        const char *dir, *rel, *want;
    } cases[] = {
        {"/etc/wattle", "data", "/etc/wattle/data"},
        {"/etc/wattle/", "data", "/etc/wattle/data"},
        {"/etc/wattle", "./data", "/etc/wattle/data"},
        {"/etc/wattle", ".//x/y.json", "/etc/wattle/x/y.json"},
        {"/etc/wattle", "../data", "/etc/wattle/../data"},
        {"/etc/wattle", "/abs/data", "/abs/data"},
        {"conf", "data", "conf/data"},
        {".", "data", "./data"},
        {"/", "data", "/data"},
        {NULL, "data", "data"},
        {"", "./data", "./data"},
        {"/etc/wattle", ".", "/etc/wattle"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = config_resolve_path(cases[i].dir, cases[i].rel);
        cr_expect_str_eq(got, cases[i].want, "resolve(%s, %s)", cases[i].dir, cases[i].rel);
        free(got);
    }
    cr_assert_null(config_resolve_path("/x", NULL));
}

Test(config, relative_paths_resolve_against_the_file_dir)
{
    char path[256], want[256];
    write_file("sub/wattle.json",
               "{\"data_dir\": \"data\", \"scopes\": \"./scopes.json\","
               " \"resources\": [{\"path\": \"/mcp\", \"metadata\": \"meta/prm.json\"}],"
               " \"listen\": {\"address\": \"127.0.0.1:8443\","
               "   \"tls\": {\"cert\": \"tls/cert.pem\", \"key\": \"/abs/key.pem\"}}}",
               path);
    cr_assert_eq(config_load_file(&cfg, path, err, sizeof err), WT_OK, "%s", err);
    snprintf(want, sizeof want, "%s/sub/data", tmpdir);
    cr_assert_str_eq(cfg.data_dir, want);
    snprintf(want, sizeof want, "%s/sub/scopes.json", tmpdir);
    cr_assert_str_eq(cfg.scopes, want);
    snprintf(want, sizeof want, "%s/sub/meta/prm.json", tmpdir);
    cr_assert_str_eq(cfg.resources[0].metadata, want);
    snprintf(want, sizeof want, "%s/sub/tls/cert.pem", tmpdir);
    cr_assert_str_eq(cfg.listen[0].tls_cert, want);
    cr_assert_str_eq(cfg.listen[0].tls_key, "/abs/key.pem");
}

Test(config, default_data_dir_is_relative_to_the_file)
{
    char path[256], want[256];
    write_file("etc/wattle.json", "{\"realm\": \"R\"}", path);
    cr_assert_eq(config_load_file(&cfg, path, err, sizeof err), WT_OK, "%s", err);
    snprintf(want, sizeof want, "%s/etc/wattle-data", tmpdir);
    cr_assert_str_eq(cfg.data_dir, want);
}

Test(config, relative_file_name_gives_relative_paths)
{
    char path[256], cwd[512];
    write_file("sub/wattle.json", "{\"data_dir\": \"data\"}", path);
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(tmpdir), 0);
    wt_status st = config_load_file(&cfg, "sub/wattle.json", err, sizeof err);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(st, WT_OK, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "sub/data");
}

/* ---- refusals ------------------------------------------------------------------------- */

struct bad_case {
    const char *json;
    const char *want; /* a substring of the message */
};

/* Each case must fail with WT_INVALID, and the message must start with the file name and
 * contain `want`. */
static void expect_refusals(const struct bad_case *cases, size_t n)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/wattle.json: ", tmpdir);
    for (size_t i = 0; i < n; i++) {
        wt_status st = load_text(cases[i].json);
        cr_expect_eq(st, WT_INVALID, "%s was accepted", cases[i].json);
        cr_expect(strncmp(err, prefix, strlen(prefix)) == 0, "%s: message \"%s\" lacks the file",
                  cases[i].json, err);
        cr_expect(strstr(err, cases[i].want) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  cases[i].json, err, cases[i].want);
        cr_expect(strchr(err, '\n') == NULL, "%s: message has a newline", cases[i].json);
    }
}

Test(config, unknown_keys_are_named)
{
    static const struct bad_case cases[] = {
        {"{\"foo\": 1}", "unknown key \"foo\""},
        {"{\"realm\": \"R\", \"Realm\": \"R\"}", "unknown key \"Realm\""},
        {"{\"login_throttle\": {\"foo\": 1}}", "unknown key \"login_throttle.foo\""},
        {"{\"rate_limit\": {\"reg\": 1}}", "unknown key \"rate_limit.reg\""},
        {"{\"registration\": {\"foo\": 1}}", "unknown key \"registration.foo\""},
        {"{\"cimd\": {\"foo\": 1}}", "unknown key \"cimd.foo\""},
        {"{\"listen\": {\"address\": \"127.0.0.1:1\", \"foo\": 1}}", "unknown key \"listen.foo\""},
        {"{\"listen\": [\"127.0.0.1:1\", {\"address\": \"127.0.0.1:2\", \"foo\": 1}]}",
         "unknown key \"listen[1].foo\""},
        {"{\"listen\": [{\"address\": \"127.0.0.1:1\","
         " \"tls\": {\"cert\": \"c\", \"key\": \"k\", \"foo\": 1}}]}",
         "unknown key \"listen[0].tls.foo\""},
        {"{\"resources\": [{\"path\": \"/mcp\", \"foo\": 1}]}", "unknown key \"resources[0].foo\""},
        {"{\"bad\\nkey\": 1}", "unknown key \"bad?key\""},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

Test(config, bad_scalar_values_name_the_key)
{
    static const struct bad_case cases[] = {
        {"{\"access_token_ttl\": \"3600\"}",
         "key \"access_token_ttl\": must be an integer between 1 and 31536000"},
        {"{\"access_token_ttl\": 0}", "key \"access_token_ttl\": must be an integer between 1"},
        {"{\"access_token_ttl\": 31536001}", "key \"access_token_ttl\""},
        {"{\"access_token_ttl\": 3600.5}", "key \"access_token_ttl\": must be an integer"},
        {"{\"access_token_ttl\": true}", "key \"access_token_ttl\""},
        {"{\"access_token_ttl\": null}", "key \"access_token_ttl\""},
        {"{\"refresh_token_ttl\": 315360001}",
         "key \"refresh_token_ttl\": must be an integer between 1 and 315360000"},
        {"{\"code_ttl\": 601}", "key \"code_ttl\": must be an integer between 1 and 600"},
        {"{\"refresh_grace\": -1}", "key \"refresh_grace\": must be an integer between 0 and 300"},
        {"{\"refresh_grace\": 301}", "key \"refresh_grace\""},
        {"{\"session_ttl\": 59}", "key \"session_ttl\": must be an integer between 60 and"},
        {"{\"threads\": 0}", "key \"threads\": must be an integer between 1 and 256"},
        {"{\"threads\": 257}", "key \"threads\""},
        {"{\"login_throttle\": 5}", "key \"login_throttle\": must be an object"},
        {"{\"login_throttle\": {\"window\": 86401}}",
         "key \"login_throttle.window\": must be an integer between 1 and 86400"},
        {"{\"login_throttle\": {\"per_user_address\": 0}}", "key \"login_throttle.per_user_"},
        {"{\"rate_limit\": {\"token\": -1}}",
         "key \"rate_limit.token\": must be an integer between 0 and 1000000"},
        {"{\"rate_limit\": {\"register\": 1000001}}", "key \"rate_limit.register\""},
        {"{\"registration\": {\"enabled\": \"yes\"}}",
         "key \"registration.enabled\": must be true or false"},
        {"{\"registration\": {\"initial_access_token\": 5}}",
         "key \"registration.initial_access_token\": must be a string or null"},
        {"{\"registration\": {\"initial_access_token\": \"has space\"}}",
         "key \"registration.initial_access_token\": must be a bearer token"},
        {"{\"registration\": {\"initial_access_token\": \"\"}}",
         "key \"registration.initial_access_token\": must be 1 to 1024 characters"},
        {"{\"registration\": {\"unused_client_ttl\": 0}}", "key \"registration.unused_client_"},
        {"{\"cimd\": {\"allow_private_addresses\": 1}}",
         "key \"cimd.allow_private_addresses\": must be true or false"},
        {"{\"max_body_bytes\": 1023}",
         "key \"max_body_bytes\": must be an integer between 1024 and 16777216"},
        {"{\"max_body_bytes\": 16777217}", "key \"max_body_bytes\""},
        {"{\"gateway_max_body_bytes\": 1073741825}",
         "key \"gateway_max_body_bytes\": must be an integer between 1024 and 1073741824"},
        {"{\"log_level\": \"verbose\"}",
         "key \"log_level\": must be one of \"error\", \"warn\", \"info\", \"debug\""},
        {"{\"log_level\": 2}", "key \"log_level\": must be one of"},
        {"{\"log_level\": \"INFO\"}", "key \"log_level\""},
        {"{\"realm\": \"\"}", "key \"realm\": must be 1 to 256 characters"},
        {"{\"realm\": \"a\\\"b\"}", "key \"realm\": must be printable ASCII"},
        {"{\"realm\": \"a\\\\b\"}", "key \"realm\""},
        {"{\"realm\": \"tab\\there\"}", "key \"realm\""},
        {"{\"realm\": null}", "key \"realm\": must be a string"},
        {"{\"data_dir\": \"\"}", "key \"data_dir\": must be 1 to"},
        {"{\"data_dir\": 5}", "key \"data_dir\": must be a string"},
        {"{\"data_dir\": null}", "key \"data_dir\": must be a string"},
        {"{\"data_dir\": \"a\\nb\"}", "key \"data_dir\": must not contain control"},
        {"{\"scopes\": 5}", "key \"scopes\": must be a string or null"},
        {"{\"trusted_proxies\": \"10.0.0.1\"}", "key \"trusted_proxies\": must be a list"},
        {"{\"trusted_proxies\": [\"10.0.0.0/33\"]}",
         "key \"trusted_proxies\": item 0 \"10.0.0.0/33\" is not an IP address or CIDR"},
        {"{\"trusted_proxies\": [\"::1\", \"::1/129\"]}", "item 1 \"::1/129\""},
        {"{\"trusted_proxies\": [\"proxy.example\"]}", "key \"trusted_proxies\""},
        {"{\"trusted_proxies\": [\"10.0.0.0/\"]}", "key \"trusted_proxies\""},
        {"{\"trusted_proxies\": [5]}", "key \"trusted_proxies\": item 0 is not"},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

Test(config, bad_listen_values_name_the_key)
{
    static const struct bad_case cases[] = {
        {"{\"listen\": \"127.0.0.1\"}", "key \"listen\": \"127.0.0.1\": needs a port"},
        {"{\"listen\": \"127.0.0.1:\"}", "key \"listen\": \"127.0.0.1:\": the port must be"},
        {"{\"listen\": \"127.0.0.1:65536\"}", "the port must be a number between 0 and 65535"},
        {"{\"listen\": \"127.0.0.1:-1\"}", "key \"listen\""},
        {"{\"listen\": \"127.0.0.1:80x\"}", "key \"listen\""},
        {"{\"listen\": \":8400\"}", "key \"listen\": \":8400\": needs a host"},
        {"{\"listen\": \"::1:8400\"}", "an IPv6 address needs brackets"},
        {"{\"listen\": \"[::1]8400\"}", "key \"listen\""},
        {"{\"listen\": \"[::1:8400\"}", "closing ']'"},
        {"{\"listen\": \"[nope]:8400\"}", "is not an IPv6 address"},
        {"{\"listen\": \"999.1.1.1:80\"}", "is not an IPv4 address, [IPv6] address or host name"},
        {"{\"listen\": \"bad_host:80\"}", "key \"listen\""},
        {"{\"listen\": 8400}", "key \"listen\": must be an address"},
        {"{\"listen\": []}", "key \"listen\": must list 1 to 16 addresses"},
        {"{\"listen\": [8400]}", "key \"listen[0]\": must be an address"},
        {"{\"listen\": [\"127.0.0.1:1\", \"x\"]}", "key \"listen[1]\""},
        {"{\"listen\": [{\"tls\": {\"cert\": \"c\", \"key\": \"k\"}}]}",
         "key \"listen[0]\": needs \"address\""},
        {"{\"listen\": [{\"address\": 5}]}", "key \"listen[0].address\": must be a string"},
        {"{\"listen\": [{\"address\": \"127.0.0.1:1\", \"tls\": {\"cert\": \"c\"}}]}",
         "key \"listen[0].tls\": needs \"key\""},
        {"{\"listen\": [{\"address\": \"127.0.0.1:1\", \"tls\": \"yes\"}]}",
         "key \"listen[0].tls\": must be an object"},
        {"{\"listen\": [{\"address\": \"127.0.0.1:1\", \"tls\": {\"cert\": \"\", \"key\": "
         "\"k\"}}]}",
         "key \"listen[0].tls.cert\""},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

Test(config, bad_issuer_values_name_the_key)
{
    static const struct bad_case cases[] = {
        {"{\"issuer\": \"https://auth.example.com/oauth\"}",
         "key \"issuer\": must be an origin only (scheme://host[:port]): no path"},
        {"{\"issuer\": \"https://auth.example.com/\"}", "key \"issuer\": must be an origin only "
                                                        "(scheme://host[:port]): no trailing "
                                                        "slash"},
        {"{\"issuer\": \"https://auth.example.com?x=1\"}", "key \"issuer\": must be an origin "
                                                           "only (scheme://host[:port]): no "
                                                           "query"},
        {"{\"issuer\": \"https://auth.example.com#f\"}", "no fragment"},
        {"{\"issuer\": \"https://u:p@auth.example.com\"}", "key \"issuer\": must not contain "
                                                           "userinfo"},
        {"{\"issuer\": \"http://auth.example.com\"}",
         "key \"issuer\": must be https:// unless it is a loopback address"},
        {"{\"issuer\": \"http://192.0.2.1:8400\"}", "must be https:// unless"},
        {"{\"issuer\": \"ftp://auth.example.com\"}", "key \"issuer\": must start with https://"},
        {"{\"issuer\": \"HTTPS://auth.example.com\"}", "key \"issuer\": must start with"},
        {"{\"issuer\": \"https://Auth.example.com\"}", "key \"issuer\": the host must be lower"},
        {"{\"issuer\": \"https://auth.example.com:0\"}", "key \"issuer\": the port must be"},
        {"{\"issuer\": \"https://auth.example.com:99999\"}", "key \"issuer\""},
        {"{\"issuer\": \"https://\"}", "key \"issuer\": needs a host"},
        {"{\"issuer\": \"https://auth example.com\"}", "key \"issuer\": must not contain spaces"},
        {"{\"issuer\": \"https://::1\"}", "key \"issuer\": an IPv6 address needs brackets"},
        {"{\"issuer\": 5}", "key \"issuer\": must be a string or null"},
        {"{\"issuer\": \"\"}", "key \"issuer\""},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

Test(config, bad_resources_name_the_key)
{
    static const struct bad_case cases[] = {
        {"{\"resources\": {\"path\": \"/mcp\"}}", "key \"resources\": must be a list"},
        {"{\"resources\": []}", "key \"resources\": must list 1 to 64 resources"},
        {"{\"resources\": [5]}", "key \"resources[0]\": must be an object"},
        {"{\"resources\": [{\"resource\": \"https://x.example\"}]}",
         "key \"resources[0]\": needs \"path\""},
        {"{\"resources\": [{\"path\": \"mcp\"}]}",
         "key \"resources[0].path\": must start with '/'"},
        {"{\"resources\": [{\"path\": \"/mcp/\"}]}", "key \"resources[0].path\": must not end"},
        {"{\"resources\": [{\"path\": \"/a//b\"}]}", "must not contain \"//\""},
        {"{\"resources\": [{\"path\": \"/a/../b\"}]}", "must not contain \"..\""},
        {"{\"resources\": [{\"path\": \"/a/./b\"}]}", "\".\" segment"},
        {"{\"resources\": [{\"path\": \"/a?b\"}]}", "must not contain '?' or '#'"},
        {"{\"resources\": [{\"path\": \"/a#b\"}]}", "must not contain '?' or '#'"},
        {"{\"resources\": [{\"path\": \"/a b\"}]}", "may only contain URL path characters"},
        {"{\"resources\": [{\"path\": \"/a%zz\"}]}", "%XX"},
        {"{\"resources\": [{\"path\": \"\"}]}", "key \"resources[0].path\""},
        {"{\"resources\": [{\"path\": null}]}", "key \"resources[0].path\": must be a string"},
        {"{\"resources\": [{\"path\": \"/a\"}, {\"path\": \"/b\", \"resource\": \"urn:x\"}]}",
         "key \"resources[1].resource\": must start with https:// or http://"},
        {"{\"resources\": [{\"path\": \"/a\", \"resource\": \"https://x.example/a#f\"}]}",
         "key \"resources[0].resource\""},
        {"{\"resources\": [{\"path\": \"/a\", \"upstream\": \"ftp://x\"}]}",
         "key \"resources[0].upstream\": must start with"},
        {"{\"resources\": [{\"path\": \"/a\", \"upstream\": \"http://\"}]}",
         "key \"resources[0].upstream\": needs a host"},
        {"{\"resources\": [{\"path\": \"/a\", \"metadata\": 5}]}",
         "key \"resources[0].metadata\": must be a string or null"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": \"read:assets\"}]}",
         "key \"resources[0].scopes_required\": must be a list of scope names or an object"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": [\"a b\"]}]}",
         "key \"resources[0].scopes_required\": item 0 must be a scope name"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": [\"a\", 5]}]}", "item 1"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": [\"a\", \"a\"]}]}",
         "scope \"a\" is listed twice"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": {\"get\": [\"a\"]}}]}",
         "key \"resources[0].scopes_required\": \"get\" is not an upper-case HTTP method"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": {\"GET\": \"a\"}}]}",
         "key \"resources[0].scopes_required.GET\": must be a list"},
        {"{\"resources\": [{\"path\": \"/a\", \"scopes_required\": null}]}",
         "key \"resources[0].scopes_required\""},
    };
    expect_refusals(cases, sizeof cases / sizeof cases[0]);
}

Test(config, edge_values_are_accepted)
{
    static const char *const good[] = {
        "{\"access_token_ttl\": 1}",
        "{\"access_token_ttl\": 31536000}",
        "{\"refresh_token_ttl\": 315360000}",
        "{\"code_ttl\": 600}",
        "{\"refresh_grace\": 0}",
        "{\"session_ttl\": 60}",
        "{\"threads\": 1}",
        "{\"threads\": 256}",
        "{\"rate_limit\": {\"token\": 0, \"revoke\": 0, \"introspect\": 0, \"register\": 0}}",
        "{\"login_throttle\": {\"window\": 86400, \"per_address\": 1000000}}",
        "{\"max_body_bytes\": 16777216, \"gateway_max_body_bytes\": 1024}",
        "{\"log_level\": \"error\"}",
        "{\"log_level\": \"warn\"}",
        "{\"realm\": \"Photos: the API (v2) ~ 'ok'\"}",
        "{\"scopes\": null}",
        "{\"issuer\": null}",
        "{\"issuer\": \"http://localhost:8400\"}",
        "{\"issuer\": \"http://127.1.2.3\"}",
        "{\"issuer\": \"http://[::1]:8400\"}",
        "{\"issuer\": \"https://auth.example.com:8443\"}",
        "{\"issuer\": \"https://192.0.2.1\"}",
        "{\"listen\": \"[::1]:0\"}",
        "{\"listen\": \"localhost:8400\"}",
        "{\"listen\": [\"127.0.0.1:1\", \"127.0.0.1:2\"]}",
        "{\"trusted_proxies\": []}",
        "{\"trusted_proxies\": [\"0.0.0.0/0\", \"::/0\", \"192.168.1.1/32\", \"fe80::1\"]}",
        "{\"registration\": {\"initial_access_token\": null}}",
        "{\"registration\": {\"initial_access_token\": \"abc+/==\"}}",
        "{\"resources\": [{\"path\": \"/\"}]}",
        "{\"resources\": [{\"path\": \"/v1/a-b_c.d~e/%2F:@x\"}]}",
        "{\"resources\": [{\"path\": \"/a\", \"scopes_required\": {}}]}",
        "{\"resources\": [{\"path\": \"/a\", \"resource\": \"https://api.example.com/v1\","
        " \"upstream\": \"https://[::1]:8443/base\"}]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect_eq(load_text(good[i]), WT_OK, "%s refused: %s", good[i], err);
}

Test(config, a_failed_load_leaves_a_freeable_config)
{
    cr_assert_eq(load_text("{\"realm\": \"Changed\", \"listen\": [\"127.0.0.1:1\"],"
                           " \"resources\": [{\"path\": \"/a\"}, {\"path\": 5}]}"),
                 WT_INVALID);
    cr_assert_str_eq(cfg.realm, "Changed");
    cr_assert_eq(cfg.nresources, 1, "a bad list does not replace the old one");
    cr_assert_str_eq(cfg.resources[0].path, "/mcp");
    /* teardown frees; LeakSanitizer fails the test on a leak */
}

/* ---- reading the file ----------------------------------------------------------------- */

Test(config, missing_file)
{
    char *path = path_in_tmp("nope.json");
    cr_assert_eq(config_load_file(&cfg, path, err, sizeof err), WT_EIO);
    cr_assert(strncmp(err, path, strlen(path)) == 0, "%s", err);
    cr_assert(strstr(err, "cannot open the config file: No such file or directory"), "%s", err);
}

Test(config, directory_instead_of_file)
{
    cr_assert_eq(config_load_file(&cfg, tmpdir, err, sizeof err), WT_EIO);
    cr_assert(strstr(err, "Is a directory"), "%s", err);
}

Test(config, empty_file_name)
{
    cr_assert_eq(config_load_file(&cfg, "", err, sizeof err), WT_INVALID);
    cr_assert(strstr(err, "empty"), "%s", err);
}

Test(config, invalid_json_gives_line_and_column)
{
    cr_assert_eq(load_text("{\n  \"realm\": \"R\",\n  \"code_ttl\": ,\n}\n"), WT_INVALID);
    cr_assert(strstr(err, "wattle.json: invalid JSON at line 3 column"), "%s", err);
    cr_assert_eq(load_text(""), WT_INVALID);
    cr_assert(strstr(err, "invalid JSON"), "%s", err);
    cr_assert_eq(load_text("[1]"), WT_INVALID);
    cr_assert(strstr(err, "must be a JSON object"), "%s", err);
    cr_assert_eq(load_text("{\"realm\": \"a\", \"realm\": \"b\"}"), WT_INVALID);
    cr_assert(strstr(err, "duplicate"), "%s", err);
    cr_assert_eq(load_text("{\"realm\": \"a\\u0000b\"}"), WT_INVALID);
}

Test(config, oversized_file)
{
    size_t n = 1024 * 1024 + 2;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    cr_assert_eq(load_text(big), WT_TOOBIG);
    cr_assert(strstr(err, "larger than"), "%s", err);
    free(big);
}

Test(config, short_error_buffer_is_safe)
{
    char small[8];
    char path[256];
    write_file("wattle.json", "{\"foo\": 1}", path);
    cr_assert_eq(config_load_file(&cfg, path, small, sizeof small), WT_INVALID);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(config_load_file(&cfg, path, NULL, 0), WT_INVALID);
}

/* ---- flags ---------------------------------------------------------------------------- */

Test(config, flags_override_the_file)
{
    cr_assert_eq(load_text("{\"data_dir\": \"fromfile\", \"issuer\": \"https://file.example\","
                           " \"listen\": [\"127.0.0.1:9000\", {\"address\": \"127.0.0.1:9443\","
                           " \"tls\": {\"cert\": \"c\", \"key\": \"k\"}}]}"),
                 WT_OK, "%s", err);
    cr_assert_eq(
        config_apply_flags(&cfg, "flagdir", "127.0.0.1:0", "https://flag.example", err, sizeof err),
        WT_OK, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "flagdir", "--data-dir is relative to the working directory");
    cr_assert_eq(cfg.nlisten, 1);
    cr_assert_str_eq(cfg.listen[0].address, "127.0.0.1:0");
    cr_assert_eq(cfg.listen[0].port, 0);
    cr_assert_null(cfg.listen[0].tls_cert);
    cr_assert_null(cfg.listen[0].tls_key);
    cr_assert_str_eq(cfg.issuer, "https://flag.example");
}

Test(config, absent_flags_change_nothing)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, NULL, NULL, err, sizeof err), WT_OK);
    cr_assert_str_eq(cfg.data_dir, "./wattle-data");
    cr_assert_str_eq(cfg.listen[0].address, "127.0.0.1:8400");
    cr_assert_null(cfg.issuer);
}

Test(config, bad_flags_are_named)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "localhost", NULL, err, sizeof err), WT_INVALID);
    cr_assert(strncmp(err, "--listen: ", 10) == 0, "%s", err);
    cr_assert(strstr(err, "needs a port"), "%s", err);
    cr_assert_str_eq(cfg.listen[0].address, "127.0.0.1:8400", "a bad flag changes nothing");

    cr_assert_eq(config_apply_flags(&cfg, NULL, NULL, "https://a.example/", err, sizeof err),
                 WT_INVALID);
    cr_assert(strncmp(err, "--issuer: ", 10) == 0, "%s", err);
    cr_assert(strstr(err, "no trailing slash"), "%s", err);

    cr_assert_eq(config_apply_flags(&cfg, NULL, NULL, "http://a.example", err, sizeof err),
                 WT_INVALID);
    cr_assert(strstr(err, "--issuer: must be https:// unless it is a loopback address"), "%s", err);

    cr_assert_eq(config_apply_flags(&cfg, "", NULL, NULL, err, sizeof err), WT_INVALID);
    cr_assert(strncmp(err, "--data-dir: ", 12) == 0, "%s", err);

    cr_assert_eq(config_apply_flags(&cfg, NULL, NULL, "https://\xff.example", err, sizeof err),
                 WT_INVALID);
    cr_assert(strncmp(err, "--issuer: ", 10) == 0, "%s", err);
    cr_assert_null(cfg.issuer);
}

/* ---- checks and the derived issuer ---------------------------------------------------- */

Test(config, listen_port_zero_uses_the_bound_port)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "127.0.0.1:0", NULL, err, sizeof err), WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 45678), WT_OK);
    cr_assert_str_eq(cfg.issuer, "http://127.0.0.1:45678");
}

Test(config, port_zero_without_a_bound_port_has_no_issuer)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "127.0.0.1:0", NULL, err, sizeof err), WT_OK);
    cr_assert_eq(config_finish_issuer(&cfg, 0), WT_INVALID);
    cr_assert_null(cfg.issuer);
}

Test(config, ipv6_listen)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "[::1]:8400", NULL, err, sizeof err), WT_OK);
    cr_assert_str_eq(cfg.listen[0].address, "[::1]:8400");
    cr_assert_str_eq(cfg.listen[0].host, "::1");
    cr_assert_eq(cfg.listen[0].port, 8400);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 0), WT_OK);
    cr_assert_str_eq(cfg.issuer, "http://[::1]:8400");
}

Test(config, tls_listen_gives_an_https_issuer)
{
    cr_assert_eq(load_text("{\"listen\": [{\"address\": \"192.0.2.1:8443\","
                           " \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"}}]}"),
                 WT_OK, "%s", err);
    cr_assert_str_eq(cfg.listen[0].tls_cert, path_in_tmp("c.pem"));
    cr_assert_str_eq(cfg.listen[0].tls_key, path_in_tmp("k.pem"));
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 8443), WT_OK);
    cr_assert_str_eq(cfg.issuer, "https://192.0.2.1:8443");
}

Test(config, host_name_listen_gives_a_lower_case_issuer)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "LocalHost:8400", NULL, err, sizeof err), WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 0), WT_OK);
    cr_assert_str_eq(cfg.issuer, "http://localhost:8400");
}

Test(config, wildcard_listen_needs_an_issuer)
{
    static const char *const wild[] = {"0.0.0.0:8400", "[::]:8400", "[0:0::0]:8400"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(config_apply_flags(&cfg, NULL, wild[i], NULL, err, sizeof err), WT_OK);
        cr_expect_eq(config_check(&cfg, err, sizeof err), WT_INVALID, "%s accepted", wild[i]);
        cr_expect(strstr(err, "a wildcard listen address needs an explicit issuer"), "%s", err);
        cr_expect_eq(config_finish_issuer(&cfg, 8400), WT_INVALID);
        cr_expect_null(cfg.issuer);
    }
    cr_assert_eq(
        config_apply_flags(&cfg, NULL, "0.0.0.0:8400", "https://auth.example.com", err, sizeof err),
        WT_OK, "%s", err);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 8400), WT_OK);
    cr_assert_str_eq(cfg.issuer, "https://auth.example.com");
}

Test(config, public_plain_listen_needs_an_https_issuer)
{
    cr_assert_eq(config_apply_flags(&cfg, NULL, "192.0.2.1:8400", NULL, err, sizeof err), WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_INVALID);
    cr_assert(strstr(err, "issuer must be https:// unless it is a loopback address"), "%s", err);
    cr_assert(strstr(err, "http://192.0.2.1:8400"), "%s", err);
    cr_assert_eq(config_finish_issuer(&cfg, 0), WT_INVALID);
    cr_assert_eq(config_apply_flags(&cfg, NULL, NULL, "https://auth.example.com", err, sizeof err),
                 WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
}

Test(config, check_refuses_a_bad_issuer_set_directly)
{
    static const struct {
        const char *issuer, *want;
    } cases[] = {
        {"https://auth.example.com/", "issuer must be an origin only (scheme://host[:port]): no "
                                      "trailing slash"},
        {"https://auth.example.com/x", "no path"},
        {"https://auth.example.com?q", "no query"},
        {"http://auth.example.com", "issuer must be https:// unless it is a loopback address"},
        {"https://user@auth.example.com", "userinfo"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        free(cfg.issuer);
        cfg.issuer = strdup(cases[i].issuer);
        cr_expect_eq(config_check(&cfg, err, sizeof err), WT_INVALID, "%s accepted",
                     cases[i].issuer);
        cr_expect(strstr(err, cases[i].want), "%s: \"%s\" lacks \"%s\"", cases[i].issuer, err,
                  cases[i].want);
    }
    free(cfg.issuer);
    cfg.issuer = strdup("http://127.0.0.1:8400");
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "%s", err);
}

Test(config, check_refuses_duplicates)
{
    cr_assert_eq(load_text("{\"resources\": [{\"path\": \"/a\"}, {\"path\": \"/b\"},"
                           " {\"path\": \"/a\"}]}"),
                 WT_OK, "%s", err);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_INVALID);
    cr_assert(strstr(err, "resources: path \"/a\" is listed twice"), "%s", err);

    cr_assert_eq(load_text("{\"listen\": [\"127.0.0.1:9000\", \"127.0.0.1:9000\"]}"), WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_INVALID);
    cr_assert(strstr(err, "listen: \"127.0.0.1:9000\" is listed twice"), "%s", err);

    cr_assert_eq(load_text("{\"listen\": [\"127.0.0.1:0\", \"127.0.0.1:0\"]}"), WT_OK);
    cr_assert_eq(config_check(&cfg, err, sizeof err), WT_OK, "two ephemeral ports may share: %s",
                 err);
}
