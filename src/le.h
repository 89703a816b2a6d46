/* le.h — little-endian unsigned integers of 1 to 8 bytes: the form of the fixed-width numbers
 * Wattle stores outside its records (the schema facts, the expiry of jti and tombstone records,
 * the signing keys' generation). Header-only; pure. */
#ifndef WATTLE_LE_H
#define WATTLE_LE_H
#include <stddef.h>
#include <stdint.h>

static inline void le_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

#endif
