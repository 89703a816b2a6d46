/* crypto.c — CSPRNG, digests, constant-time compare, base64url, AES-GCM and scrypt password
 * hashing, all through OpenSSL 3. Nothing here logs secrets or keeps state. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* Small requests (token secrets and selectors: 8 to 32 bytes, several per request) are served
 * from a per-thread pool refilled 4 KiB at a time: each RAND_bytes call costs a getpid() system
 * call in OpenSSL 3.0 (its fork check), which showed as about 10% of the token endpoint's CPU.
 * Bytes handed out are wiped from the pool. Wattle never forks after start-up. */
#define POOL_SIZE 4096
static _Thread_local uint8_t pool[POOL_SIZE];
static _Thread_local size_t pool_left;

wt_status crypto_random(void *buf, size_t n)
{
    if (n > 64)
        return RAND_bytes(buf, (int)n) == 1 ? WT_OK : WT_ECRYPTO;
    if (pool_left < n) {
        if (RAND_bytes(pool, POOL_SIZE) != 1)
            return WT_ECRYPTO;
        pool_left = POOL_SIZE;
    }
    uint8_t *p = pool + POOL_SIZE - pool_left;
    memcpy(buf, p, n);
    OPENSSL_cleanse(p, n);
    pool_left -= n;
    return WT_OK;
}

/* SHA-256 fetched once: the one-shot SHA256() looks the algorithm up on every call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void crypto_sha256(const void *data, size_t len, uint8_t out[32])
{
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || EVP_Digest(data, len, out, NULL, sha256_md, NULL) != 1)
        SHA256(data, len, out);
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, data, len, out, &olen);
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void b64url_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
    }
    out[o] = '\0';
}

/* base64url value + 1 of every byte; 0 for a byte outside the alphabet. A table, not a chain of
 * range tests: token_parse decodes 43 characters on every request, and the branches cost 232 ns
 * per token against 35 ns with the table (in a loop over 4096 random tokens). */
static const uint8_t b64tab[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

static int b64val(unsigned char c)
{
    return (int)b64tab[c] - 1;
}

bool b64url_charset(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (b64val((unsigned char)s[i]) < 0)
            return false;
    return true;
}

long b64url_decode(const char *in, size_t len, uint8_t *out, size_t outcap)
{
    if (len % 4 == 1)
        return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > outcap)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Non-canonical trailing bits would let two strings decode the same: refuse them. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

long crypto_seal(const uint8_t key[32], const void *in, size_t len, uint8_t *out, size_t outcap)
{
    if (outcap < len + 28 || len > 1 << 20)
        return -1;
    long ret = -1;
    int n = 0, f = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || crypto_random(out, 12) != WT_OK)
        goto out;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
        EVP_EncryptUpdate(c, out + 12, &n, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, out + 12 + n, &f) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + n + f) != 1)
        goto out;
    ret = 12 + n + f + 16;
out:
    EVP_CIPHER_CTX_free(c);
    return ret;
}

long crypto_open(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out, size_t outcap)
{
    if (len < 28 || outcap < len - 28)
        return -1;
    long ret = -1;
    int n = 0, f = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        goto out;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
        EVP_DecryptUpdate(c, out, &n, in + 12, (int)(len - 28)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + len - 16)) != 1 ||
        EVP_DecryptFinal_ex(c, out + n, &f) != 1)
        goto out;
    ret = n + f;
out:
    EVP_CIPHER_CTX_free(c);
    return ret;
}

#define SCRYPT_LOG_N 15
#define SCRYPT_R 8
#define SCRYPT_P 1

static wt_status scrypt(const char *pw, size_t len, const uint8_t *salt, size_t slen, int logn,
                        int r, int p, uint8_t out[32])
{
    /* maxmem must exceed 128*r*N bytes; the 32 MiB default is too small (PLATFORM.md §7). */
    int ok = EVP_PBE_scrypt(pw, len, salt, slen, (uint64_t)1 << logn, (uint64_t)r, (uint64_t)p,
                            (uint64_t)256 << 20, out, 32);
    return ok == 1 ? WT_OK : WT_ECRYPTO;
}

wt_status password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX])
{
    uint8_t salt[16], hash[32];
    char s64[B64URL_LEN(16) + 1], h64[B64URL_LEN(32) + 1];
    if (crypto_random(salt, sizeof salt) != WT_OK)
        return WT_ECRYPTO;
    wt_status st = scrypt(password, len, salt, sizeof salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, hash);
    if (st != WT_OK)
        return st;
    b64url_encode(salt, sizeof salt, s64);
    b64url_encode(hash, sizeof hash, h64);
    snprintf(out, PASSWORD_HASH_MAX, "scrypt$%d$%d$%d$%s$%s", SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, s64,
             h64);
    OPENSSL_cleanse(hash, sizeof hash);
    return WT_OK;
}

wt_status password_verify(const char *password, size_t len, const char *encoded)
{
    int logn = SCRYPT_LOG_N, r = SCRYPT_R, p = SCRYPT_P;
    uint8_t salt[16] = {0}, want[32] = {0}, got[32];
    bool dummy = encoded == NULL;
    if (!dummy) {
        char s64[32], h64[64];
        int used = 0;
        if (sscanf(encoded, "scrypt$%2d$%2d$%2d$%31[A-Za-z0-9_-]$%63[A-Za-z0-9_-]%n", &logn, &r, &p,
                   s64, h64, &used) != 5 ||
            encoded[used] != '\0' || logn < 10 || logn > 20 || r < 1 || r > 32 || p < 1 || p > 4 ||
            b64url_decode(s64, strlen(s64), salt, sizeof salt) != 16 ||
            b64url_decode(h64, strlen(h64), want, sizeof want) != 32)
            return WT_INVALID;
    }
    wt_status st = scrypt(password, len, salt, sizeof salt, logn, r, p, got);
    if (st != WT_OK)
        return st;
    bool eq = crypto_equal(got, want, 32);
    OPENSSL_cleanse(got, sizeof got);
    return dummy || !eq ? WT_DENIED : WT_OK;
}
