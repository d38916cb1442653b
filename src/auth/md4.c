/* MD4 message digest (RFC 1320), written from the RFC text.
 *
 * OpenSSL 3 keeps MD4 in the legacy provider, which may be missing or forbidden by policy; NTLM
 * only needs it to turn a password into an NT hash (provisioning), so a small local version
 * avoids depending on that provider. */
#include "auth/ntlm.h"

#include <string.h>

#include <openssl/crypto.h>

static inline uint32_t rol32(uint32_t x, unsigned s)
{
    return (x << s) | (x >> (32 - s));
}

static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The three auxiliary functions of RFC 1320 section 3.4. */
#define MD4_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define MD4_G(x, y, z) (((x) & (y)) | ((x) & (z)) | ((y) & (z)))
#define MD4_H(x, y, z) ((x) ^ (y) ^ (z))

static void md4_block(uint32_t st[4], const uint8_t blk[64])
{
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = get_le32(blk + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];

    /* Round 1: k walks 0..15, shifts 3 7 11 19. */
    static const unsigned s1[4] = {3, 7, 11, 19};
    for (int i = 0; i < 16; i++) {
        uint32_t t = a + MD4_F(b, c, d) + x[i];
        a = d;
        d = c;
        c = b;
        b = rol32(t, s1[i % 4]);
    }
    /* Round 2: k = 0,4,8,12, 1,5,9,13, ...; constant 0x5A827999; shifts 3 5 9 13. */
    static const unsigned s2[4] = {3, 5, 9, 13};
    for (int i = 0; i < 16; i++) {
        int k = (i % 4) * 4 + i / 4;
        uint32_t t = a + MD4_G(b, c, d) + x[k] + 0x5A827999u;
        a = d;
        d = c;
        c = b;
        b = rol32(t, s2[i % 4]);
    }
    /* Round 3: k = 0,8,4,12, 2,10,6,14, 1,9,5,13, 3,11,7,15; constant 0x6ED9EBA1. */
    static const unsigned s3[4] = {3, 9, 11, 15};
    static const uint8_t k3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    for (int i = 0; i < 16; i++) {
        uint32_t t = a + MD4_H(b, c, d) + x[k3[i]] + 0x6ED9EBA1u;
        a = d;
        d = c;
        c = b;
        b = rol32(t, s3[i % 4]);
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    OPENSSL_cleanse(x, sizeof x);
}

void ntlm_md4(const uint8_t *data, size_t len, uint8_t out[16])
{
    uint32_t st[4] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u};
    size_t left = len;
    const uint8_t *p = data;
    while (left >= 64) {
        md4_block(st, p);
        p += 64;
        left -= 64;
    }
    /* Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit little-endian. */
    uint8_t tail[128];
    memset(tail, 0, sizeof tail);
    if (left)
        memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tlen = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8u;
    put_le32(tail + tlen - 8, (uint32_t)bits);
    put_le32(tail + tlen - 4, (uint32_t)(bits >> 32));
    md4_block(st, tail);
    if (tlen == 128)
        md4_block(st, tail + 64);
    for (int i = 0; i < 4; i++)
        put_le32(out + 4 * i, st[i]);
    OPENSSL_cleanse(tail, sizeof tail);
    OPENSSL_cleanse(st, sizeof st);
}
