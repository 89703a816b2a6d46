/* test_records.c — binary record layouts (src/records.c): the grant record and the field added
 * with schema 2. */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"
#include "records.h"

static buf_t encoded_grant(int64_t access_until)
{
    grant_rec g = {.created = 1800000000,
                   .auth_time = 1799999990,
                   .generation = 3,
                   .client_id = "ocl_app",
                   .user_id = "usr_alice",
                   .scope = "read:assets",
                   .resource = "https://api.example/mcp",
                   .access_until = access_until};
    memset(g.refresh_sel, 7, sizeof g.refresh_sel);
    buf_t b;
    buf_init(&b, 4096);
    cr_assert_eq(grant_rec_encode(&b, &g), WT_OK);
    return b;
}

Test(records, grant_roundtrip_keeps_access_until)
{
    buf_t b = encoded_grant(1800003600);
    grant_rec g;
    cr_assert_eq(grant_rec_decode(b.p, b.len, &g), WT_OK);
    cr_assert_eq(g.access_until, 1800003600);
    cr_assert_eq(g.generation, 3);
    cr_assert_str_eq(g.resource, "https://api.example/mcp");
    buf_free(&b);
}

Test(records, grant_written_before_schema_2_decodes_with_access_until_0)
{
    buf_t b = encoded_grant(1800003600);
    grant_rec g;
    /* the same record without its last field, as a schema-1 server wrote it */
    cr_assert_eq(grant_rec_decode(b.p, b.len - 8, &g), WT_OK);
    cr_assert_eq(g.access_until, 0);
    cr_assert_str_eq(g.scope, "read:assets");
    /* a field cut short is damage, not an older layout */
    cr_assert_eq(grant_rec_decode(b.p, b.len - 3, &g), WT_INVALID);
    buf_free(&b);
}
