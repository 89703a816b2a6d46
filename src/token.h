/* token.h — the wire format of Wattle's tokens and identifiers (SPEC §3).
 *
 * A token is a 4-character prefix ("oat_", "ort_", "oac_", "ocs_", …) followed by 43 base64url
 * characters encoding 32 bytes: a 16-byte public selector, time-ordered (8 bytes of big-endian
 * microseconds since the epoch, then 8 random bytes) so new records land next to each other in
 * the store, and a 16-byte CSPRNG secret. The selector is the store key; only SHA-256 of the
 * secret is stored. Client ids are "ocl_" + 22 base64url chars (16 random bytes). */
#ifndef WATTLE_TOKEN_H
#define WATTLE_TOKEN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum token_kind {
    TOKEN_ACCESS,       /* oat_ */
    TOKEN_REFRESH,      /* ort_ */
    TOKEN_CODE,         /* oac_ */
    TOKEN_SECRET,       /* ocs_ client secret */
    TOKEN_SESSION,      /* ose_ browser login session */
    TOKEN_REGISTRATION, /* ora_ registration access token (RFC 7592) */
    TOKEN_KIND_COUNT
};

#define TOKEN_SELECTOR_LEN 16
#define TOKEN_SECRET_LEN 16
#define TOKEN_STR_LEN (4 + 43) /* without the NUL */
#define CLIENT_ID_LEN (4 + 22)

typedef struct {
    uint8_t selector[TOKEN_SELECTOR_LEN];
    uint8_t secret[TOKEN_SECRET_LEN];
} token_t;

/* The 4-character prefix of a kind ("oat_"). */
const char *token_prefix(enum token_kind k);

/* Mints a new token: time-ordered selector at `now_us`, random secret. Writes the string form
 * (TOKEN_STR_LEN chars + NUL) into out when out is not NULL. */
wt_status token_mint(enum token_kind k, int64_t now_us, token_t *t, char out[TOKEN_STR_LEN + 1]);

/* Parses s[0..len) as a token of kind k. WT_INVALID unless it is exactly the prefix plus 43
 * canonical base64url chars. */
wt_status token_parse(enum token_kind k, const char *s, size_t len, token_t *t);

/* Which kind a string's prefix names, or -1. */
int token_kind_of(const char *s, size_t len);

/* SHA-256 of the secret part: what the store keeps. */
void token_digest(const token_t *t, uint8_t out[32]);

/* The microsecond timestamp a selector carries. */
int64_t token_selector_time(const uint8_t selector[TOKEN_SELECTOR_LEN]);

/* A new client id "ocl_" + 22 chars into out (CLIENT_ID_LEN + 1 bytes). */
wt_status client_id_mint(char out[CLIENT_ID_LEN + 1]);

/* Microseconds since the epoch (CLOCK_REALTIME). Time otherwise comes in as a parameter. */
int64_t now_us(void);

#endif
