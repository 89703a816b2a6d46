/* test_crypto.c — base64url (src/crypto.c): the alphabet byte by byte, round trips of every
 * length, RFC 4648 §10 vectors in their URL-safe form, and the malformed inputs the decoder
 * must refuse (padding, foreign bytes, impossible lengths, non-canonical trailing bits, a
 * buffer too small). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "crypto.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static long dec(const char *s, uint8_t *out, size_t cap)
{
    return b64url_decode(s, strlen(s), out, cap);
}

Test(b64url, every_byte_is_in_or_out_of_the_alphabet)
{
    for (int c = 0; c < 256; c++) {
        const char *at = c ? memchr(alphabet, c, 64) : NULL;
        char s[5] = {'A', 'A', 'A', (char)c, 0};
        uint8_t out[3];
        bool in = at != NULL;
        cr_assert_eq(b64url_charset(s + 3, 1), in, "byte %d", c);
        long n = b64url_decode(s, 4, out, sizeof out);
        if (!in) {
            cr_assert_eq(n, -1, "byte %d decoded", c);
            continue;
        }
        cr_assert_eq(n, 3, "byte %d", c);
        cr_assert_eq(out[2] & 0x3f, (uint8_t)(at - alphabet), "byte %d has value %d", c,
                     out[2] & 0x3f);
    }
}

Test(b64url, round_trips_every_length)
{
    uint8_t in[70], out[70];
    char s[B64URL_LEN(70) + 1];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 151 + 7);
    for (size_t n = 0; n <= sizeof in; n++) {
        b64url_encode(in, n, s);
        cr_assert_eq(strlen(s), B64URL_LEN(n), "length %zu", n);
        cr_assert_eq(dec(s, out, sizeof out), (long)n, "length %zu", n);
        cr_assert_eq(memcmp(in, out, n), 0, "length %zu", n);
    }
}

Test(b64url, rfc4648_vectors)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {{"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char s[16];
        uint8_t out[16];
        b64url_encode(v[i].plain, strlen(v[i].plain), s);
        cr_assert_str_eq(s, v[i].enc);
        cr_assert_eq(dec(v[i].enc, out, sizeof out), (long)strlen(v[i].plain));
        cr_assert_eq(memcmp(out, v[i].plain, strlen(v[i].plain)), 0);
    }
    /* the two characters that differ from standard base64 */
    uint8_t out[3];
    cr_assert_eq(dec("-_-_", out, sizeof out), 3);
    cr_assert(out[0] == 0xfb && out[1] == 0xff && out[2] == 0xbf);
}

Test(b64url, malformed_is_refused)
{
    uint8_t out[16];
    cr_assert_eq(dec("Zg==", out, sizeof out), -1, "padding");
    cr_assert_eq(dec("Zm9v+A", out, sizeof out), -1, "standard base64's +");
    cr_assert_eq(dec("Zm9v/A", out, sizeof out), -1, "standard base64's /");
    cr_assert_eq(dec("Zm 9v", out, sizeof out), -1, "space");
    cr_assert_eq(b64url_decode("Zm\0v", 4, out, sizeof out), -1, "NUL");
    cr_assert_eq(dec("Z", out, sizeof out), -1, "one char cannot encode a byte");
    cr_assert_eq(dec("Zm9vY", out, sizeof out), -1, "4k+1 chars");
    cr_assert_eq(dec("Zh", out, sizeof out), -1, "non-canonical trailing bits");
    cr_assert_eq(dec("Zm8", out, sizeof out), 2, "canonical");
    cr_assert_eq(dec("Zm9", out, sizeof out), -1, "non-canonical trailing bits");
    cr_assert_eq(dec("Zm-", out, sizeof out), -1, "non-canonical trailing bits");
    cr_assert_eq(dec("Zm9vYmFy", out, 5), -1, "six bytes into five");
    cr_assert_eq(dec("Zm9vYmFy", out, 6), 6);
}
