/* Chunked transfer-coding decoder (RFC 9112 §7.1).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *
 * Each byte of framing goes through one switch and chunk data is copied in runs, so the result
 * does not depend on how the input was split. Framing is strict (CRLF only, no bare LF, no bytes
 * between the chunk data and its CRLF) because a lenient decoder behind a stricter proxy is how
 * request smuggling happens. Chunk extensions and trailer fields are skipped, not interpreted.
 *
 * c->state < 0 holds a sticky error (the negative errno returned). */
#include "http/http.h"

#include <errno.h>

#define CHUNK_LINE_MAX 4096u
#define CHUNK_SIZE_DIGITS_MAX 16u

enum {
    CS_SIZE_FIRST, /* expecting the first hex digit of a chunk-size */
    CS_SIZE,       /* in the hex digits */
    CS_SIZE_WS,    /* BWS after the digits: ';' or CR may follow */
    CS_EXT,        /* in a chunk extension, skipped up to CR */
    CS_SIZE_LF,    /* CR seen on the size line */
    CS_DATA,       /* copying chunk data */
    CS_DATA_CR,    /* expecting CR after the data */
    CS_DATA_LF,    /* expecting LF after the data */
    CS_TRL_START,  /* at the start of a trailer line (CR here ends the body) */
    CS_TRL,        /* inside a trailer field line, skipped up to CR */
    CS_TRL_LF,     /* CR seen on a trailer field line */
    CS_END_LF,     /* CR seen on the empty line closing the trailer section */
    CS_DONE,
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void http_chunked_init(struct http_chunked *c, uint32_t max_chunk)
{
    c->state = CS_SIZE_FIRST;
    c->remaining = 0;
    c->max_chunk = max_chunk;
    c->line_len = 0;
    c->ndigits = 0;
}

static ssize_t chunked_fail(struct http_chunked *c, int err)
{
    c->state = err;
    return err;
}

/* Counts one byte on a size or trailer line; false when the line is over CHUNK_LINE_MAX. */
static bool line_byte(struct http_chunked *c)
{
    return ++c->line_len <= CHUNK_LINE_MAX;
}

/* Bytes allowed inside a chunk extension or a trailer line: HTAB, SP, VCHAR, obs-text. */
static bool is_field_byte(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

ssize_t http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len, struct buf *out,
                          bool *done)
{
    *done = false;
    if (c->state < 0)
        return c->state;
    size_t i = 0;
    while (i < len && c->state != CS_DONE) {
        if (c->state == CS_DATA) {
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            size_t room = buf_room(out);
            if (n > room)
                n = room;
            int r = n ? buf_append(out, in + i, n) : -ENOBUFS;
            if (r < 0) {
                /* Not sticky: the caller may drain out and feed the rest again. Report the
                 * progress made so far first, so no consumed byte is ever lost. */
                return i > 0 ? (ssize_t)i : r;
            }
            i += n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            continue;
        }
        unsigned char ch = in[i];
        int h;
        switch (c->state) {
        case CS_SIZE_FIRST:
            h = hexval(ch);
            if (h < 0)
                return chunked_fail(c, -EINVAL);
            c->line_len = 1;
            c->ndigits = 1;
            c->remaining = (uint64_t)h;
            if (c->remaining > c->max_chunk)
                return chunked_fail(c, -E2BIG);
            c->state = CS_SIZE;
            break;
        case CS_SIZE:
            if (ch == '\r') {
                c->state = CS_SIZE_LF;
                break;
            }
            c->line_len++; /* at most 17 here: the digit cap below fires first */
            h = hexval(ch);
            if (h >= 0) {
                /* 16 digits fit a uint64_t, so the shift below cannot overflow. */
                if (++c->ndigits > CHUNK_SIZE_DIGITS_MAX)
                    return chunked_fail(c, -E2BIG);
                c->remaining = (c->remaining << 4) | (uint64_t)h;
                if (c->remaining > c->max_chunk)
                    return chunked_fail(c, -E2BIG);
            } else if (ch == ' ' || ch == '\t') {
                c->state = CS_SIZE_WS;
            } else if (ch == ';') {
                c->state = CS_EXT;
            } else {
                return chunked_fail(c, -EINVAL);
            }
            break;
        case CS_SIZE_WS:
            if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (!line_byte(c)) {
                return chunked_fail(c, -E2BIG);
            } else if (ch == ';') {
                c->state = CS_EXT;
            } else if (ch != ' ' && ch != '\t') {
                return chunked_fail(c, -EINVAL);
            }
            break;
        case CS_EXT:
            if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (!line_byte(c)) {
                return chunked_fail(c, -E2BIG);
            } else if (!is_field_byte(ch)) {
                return chunked_fail(c, -EINVAL);
            }
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return chunked_fail(c, -EINVAL);
            c->line_len = 0;
            c->ndigits = 0;
            c->state = c->remaining ? CS_DATA : CS_TRL_START;
            break;
        case CS_DATA_CR:
            if (ch != '\r')
                return chunked_fail(c, -EINVAL);
            c->state = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (ch != '\n')
                return chunked_fail(c, -EINVAL);
            c->state = CS_SIZE_FIRST;
            break;
        case CS_TRL_START:
            c->line_len = 0;
            if (ch == '\r') {
                c->state = CS_END_LF;
                break;
            }
            c->state = CS_TRL;
            /* fall through */
        case CS_TRL:
            if (ch == '\r') {
                c->state = CS_TRL_LF;
            } else if (!line_byte(c)) {
                return chunked_fail(c, -E2BIG);
            } else if (!is_field_byte(ch)) {
                return chunked_fail(c, -EINVAL);
            }
            break;
        case CS_TRL_LF:
            if (ch != '\n')
                return chunked_fail(c, -EINVAL);
            c->state = CS_TRL_START;
            break;
        case CS_END_LF:
            if (ch != '\n')
                return chunked_fail(c, -EINVAL);
            c->state = CS_DONE;
            break;
        default:
            return chunked_fail(c, -EINVAL);
        }
        i++;
    }
    if (c->state == CS_DONE)
        *done = true;
    return (ssize_t)i;
}
