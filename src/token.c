/* token.c — minting and parsing Wattle's prefixed tokens and ids (format in token.h). */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "token.h"

static const char *const prefixes[TOKEN_KIND_COUNT] = {"oat_", "ort_", "oac_",
                                                       "ocs_", "ose_", "ora_"};

const char *token_prefix(enum token_kind k)
{
    return prefixes[k];
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

wt_status token_mint(enum token_kind k, int64_t t_us, token_t *t, char out[TOKEN_STR_LEN + 1])
{
    uint64_t v = (uint64_t)t_us;
    for (int i = 7; i >= 0; i--, v >>= 8)
        t->selector[i] = (uint8_t)v;
    _Static_assert(offsetof(token_t, secret) == TOKEN_SELECTOR_LEN, "selector then secret");
    if (crypto_random(t->selector + 8, 8 + TOKEN_SECRET_LEN) != WT_OK) /* one draw for both */
        return WT_ECRYPTO;
    if (out) {
        memcpy(out, prefixes[k], 4);
        b64url_encode(t, sizeof *t, out + 4);
    }
    return WT_OK;
}

wt_status token_parse(enum token_kind k, const char *s, size_t len, token_t *t)
{
    if (len != TOKEN_STR_LEN || memcmp(s, prefixes[k], 4) != 0)
        return WT_INVALID;
    if (b64url_decode(s + 4, 43, (uint8_t *)t, sizeof *t) != (long)sizeof *t)
        return WT_INVALID;
    return WT_OK;
}

int token_kind_of(const char *s, size_t len)
{
    if (len < 4)
        return -1;
    for (int k = 0; k < TOKEN_KIND_COUNT; k++)
        if (memcmp(s, prefixes[k], 4) == 0)
            return k;
    return -1;
}

void token_digest(const token_t *t, uint8_t out[32])
{
    crypto_sha256(t->secret, TOKEN_SECRET_LEN, out);
}

int64_t token_selector_time(const uint8_t selector[TOKEN_SELECTOR_LEN])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | selector[i];
    return (int64_t)v;
}

wt_status client_id_mint(char out[CLIENT_ID_LEN + 1])
{
    uint8_t r[16];
    if (crypto_random(r, sizeof r) != WT_OK)
        return WT_ECRYPTO;
    memcpy(out, "ocl_", 4);
    b64url_encode(r, sizeof r, out + 4);
    return WT_OK;
}
