/* Growable byte buffer with a read offset.
 *
 * Data lives in p[start, end). Appending compacts or grows as needed; consuming moves start.
 * A buffer never grows past its cap_limit (0 = no limit), so a peer cannot make it grow without
 * bound: callers check buf_room() or handle -ENOBUFS. */
#ifndef TSGW_CORE_BUF_H
#define TSGW_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *p;
    size_t start;
    size_t end;
    size_t cap;
    size_t cap_limit; /* hard ceiling on cap; 0 = unlimited */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        0                                                                                          \
    }

/* An empty, never-allocated buffer yields NULL; computed as an integer so that "NULL + 0" is
 * not pointer arithmetic on a null pointer. */
static inline uint8_t *buf_data(const struct buf *b)
{
    return (uint8_t *)((uintptr_t)b->p + b->start);
}

static inline size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}

/* Bytes that may still be appended before hitting cap_limit (SIZE_MAX when unlimited). */
size_t buf_room(const struct buf *b);

/* Ensures n more bytes can be written at buf_tail(). 0 or -ENOMEM / -ENOBUFS (cap_limit). */
int buf_reserve(struct buf *b, size_t n);

static inline uint8_t *buf_tail(const struct buf *b)
{
    return (uint8_t *)((uintptr_t)b->p + b->end);
}

/* Marks n bytes written at buf_tail() (after buf_reserve). */
static inline void buf_commit(struct buf *b, size_t n)
{
    b->end += n;
}

/* Appends n bytes. 0 or a negative errno as buf_reserve. */
int buf_append(struct buf *b, const void *d, size_t n);

/* Appends a NUL-free string (without its NUL). */
int buf_append_str(struct buf *b, const char *s);

/* printf-style append. 0 or negative errno. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops n bytes from the front (n <= buf_len). */
void buf_consume(struct buf *b, size_t n);

void buf_clear(struct buf *b);

/* Releases the storage (the buffer can be reused afterwards). */
void buf_free(struct buf *b);

/* Releases storage only when the buffer is empty: idle connections hold no memory. */
void buf_shrink_if_empty(struct buf *b);

/* Little-endian writers appending to a buffer; all return 0 or negative errno. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16le(struct buf *b, uint16_t v);
int buf_put_u32le(struct buf *b, uint32_t v);
int buf_put_u64le(struct buf *b, uint64_t v);

#endif
