#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t buf_room(const struct buf *b)
{
    if (!b->cap_limit)
        return SIZE_MAX;
    size_t used = buf_len(b);
    return used >= b->cap_limit ? 0 : b->cap_limit - used;
}

int buf_reserve(struct buf *b, size_t n)
{
    size_t len = buf_len(b);
    if (n > SIZE_MAX / 2 - len)
        return -ENOMEM;
    if (b->cap_limit && len + n > b->cap_limit)
        return -ENOBUFS;
    if (b->end + n <= b->cap)
        return 0;
    if (len + n <= b->cap && b->start > 0) {
        memmove(b->p, b->p + b->start, len);
        b->start = 0;
        b->end = len;
        return 0;
    }
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < len + n)
        ncap *= 2;
    if (b->cap_limit && ncap > b->cap_limit)
        ncap = b->cap_limit;
    uint8_t *np = malloc(ncap);
    if (!np)
        return -ENOMEM;
    if (len)
        memcpy(np, b->p + b->start, len);
    free(b->p);
    b->p = np;
    b->cap = ncap;
    b->start = 0;
    b->end = len;
    return 0;
}

/* buf_append: the common case (it fits in the allocation, within cap_limit) without a call;
 * n <= cap - end cannot overflow, and implies n is far below buf_reserve's SIZE_MAX / 2. */
static inline int append(struct buf *b, const void *d, size_t n)
{
    if (n == 0)
        return 0;
    if (n <= b->cap - b->end && (!b->cap_limit || buf_len(b) + n <= b->cap_limit)) {
        memcpy(b->p + b->end, d, n);
        b->end += n;
        return 0;
    }
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    memcpy(b->p + b->end, d, n);
    b->end += n;
    return 0;
}

int buf_append(struct buf *b, const void *d, size_t n)
{
    return append(b, d, n);
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    /* One pass when the text fits in what the buffer can already take (the common case: a
     * response head into a connection's output); vsnprintf writes a NUL after the text, so the
     * room must hold one byte more, which a buffer at its cap_limit may not have. */
    va_list ap;
    size_t room = b->p ? b->cap - b->end : 0;
    if (room < 256 && buf_room(b) > 256 && buf_reserve(b, 256) == 0)
        room = b->cap - b->end;
    if (room > 1) {
        va_start(ap, fmt);
        int n = vsnprintf((char *)b->p + b->end, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -EINVAL;
        if ((size_t)n < room) {
            if (b->cap_limit && buf_len(b) + (size_t)n > b->cap_limit)
                return -ENOBUFS;
            b->end += (size_t)n;
            return 0;
        }
    }
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    char small[256];
    char *tmp = (size_t)n < sizeof small ? small : malloc((size_t)n + 1);
    if (!tmp)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = buf_append(b, tmp, (size_t)n);
    if (tmp != small)
        free(tmp);
    return r;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= buf_len(b)) {
        b->start = b->end = 0;
        return;
    }
    b->start += n;
}

void buf_clear(struct buf *b)
{
    b->start = b->end = 0;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->start = b->end = b->cap = 0;
}

void buf_shrink_if_empty(struct buf *b)
{
    if (buf_len(b) == 0 && b->p)
        buf_free(b);
}

int buf_put_u8(struct buf *b, uint8_t v)
{
    return append(b, &v, 1);
}

int buf_put_u16le(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return append(b, x, 2);
}

int buf_put_u32le(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return append(b, x, 4);
}

int buf_put_u64le(struct buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return append(b, x, 8);
}
