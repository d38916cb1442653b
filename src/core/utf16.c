#include "core/utf16.h"

#include <errno.h>
#include <string.h>

static int put_utf8(char *out, size_t outsz, size_t *pos, uint32_t cp)
{
    uint8_t tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (uint8_t)(0xC0 | (cp >> 6));
        tmp[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (uint8_t)(0xE0 | (cp >> 12));
        tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (uint8_t)(0xF0 | (cp >> 18));
        tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*pos + n + 1 > outsz)
        return -ENOSPC;
    memcpy(out + *pos, tmp, n);
    *pos += n;
    return 0;
}

int utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t outsz)
{
    if (len % 2 || outsz == 0)
        return -EINVAL;
    size_t units = len / 2;
    if (units > 0 && in[len - 2] == 0 && in[len - 1] == 0)
        units--;
    size_t pos = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t u = (uint32_t)in[2 * i] | ((uint32_t)in[2 * i + 1] << 8);
        if (u == 0)
            return -EINVAL;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (i + 1 >= units)
                return -EINVAL;
            uint32_t l = (uint32_t)in[2 * i + 2] | ((uint32_t)in[2 * i + 3] << 8);
            if (l < 0xDC00 || l > 0xDFFF)
                return -EINVAL;
            u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
            i++;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            return -EINVAL;
        }
        int r = put_utf8(out, outsz, &pos, u);
        if (r < 0)
            return r;
    }
    out[pos] = 0;
    return (int)pos;
}

int utf8_to_utf16le(struct buf *b, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) {
            cp = *p;
            extra = 0;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            extra = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            extra = 2;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            extra = 3;
        } else {
            return -EINVAL;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return -EINVAL;
            cp = (cp << 6) | (*p & 0x3F);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return -EINVAL;
        int r;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            r = buf_put_u16le(b, (uint16_t)(0xD800 + (cp >> 10)));
            if (r == 0)
                r = buf_put_u16le(b, (uint16_t)(0xDC00 + (cp & 0x3FF)));
        } else {
            r = buf_put_u16le(b, (uint16_t)cp);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

void utf16le_upper(uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint16_t u = (uint16_t)(p[i] | (p[i + 1] << 8));
        if ((u >= 'a' && u <= 'z') || (u >= 0xE0 && u <= 0xFE && u != 0xF7))
            u -= 0x20;
        else if (u == 0xFF)
            u = 0x178;
        p[i] = (uint8_t)u;
        p[i + 1] = (uint8_t)(u >> 8);
    }
}
