/* libFuzzer target for the chunked decoder (src/http/chunked.c).
 *
 * Input: byte 0 picks max_chunk and the split pattern, the rest is the chunked body. The body is
 * decoded whole into an unbounded buffer and again in pieces into a small capped buffer that is
 * drained on -ENOBUFS; both runs must agree on bytes consumed, error, completion and output. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_chunked: check failed: %s (line %d)\n", #c, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const uint32_t MAX_CHUNK[4] = {0, 16, 65536, UINT32_MAX};

struct result {
    ssize_t consumed; /* total, or the negative errno */
    bool done;
    struct buf out;
};

static void run_whole(uint32_t max_chunk, const uint8_t *d, size_t len, struct result *res)
{
    struct http_chunked c;
    http_chunked_init(&c, max_chunk);
    bool done = false;
    ssize_t r = http_chunked_feed(&c, d, len, &res->out, &done);
    CHECK(r < 0 || (size_t)r <= len);
    CHECK(r == -EINVAL || r == -E2BIG || r >= 0);
    if (r >= 0 && !done)
        CHECK((size_t)r == len);
    res->consumed = r;
    res->done = done;
}

static void run_split(uint32_t max_chunk, const uint8_t *d, size_t len, unsigned pat,
                      struct result *res)
{
    struct http_chunked c;
    struct buf small = BUF_INIT;
    small.cap_limit = 1 + pat * 3; /* forces -ENOBUFS and partial progress */
    http_chunked_init(&c, max_chunk);
    size_t off = 0, i = 0;
    ssize_t total = 0;
    bool done = false;
    uint32_t rng = pat;
    while (off < len && !done) {
        rng = rng * 1103515245u + 12345u;
        size_t n = pat == 0 ? 1 : (i++ % 2 ? 1 + (rng >> 16) % 17 : 1 + (rng >> 20) % 3);
        if (n > len - off)
            n = len - off;
        ssize_t r = http_chunked_feed(&c, d + off, n, &small, &done);
        if (r == -ENOBUFS) {
            CHECK(buf_len(&small) > 0);
            CHECK(buf_append(&res->out, buf_data(&small), buf_len(&small)) == 0);
            buf_clear(&small);
            continue;
        }
        if (r < 0) {
            total = r;
            break;
        }
        CHECK((size_t)r <= n);
        total += r;
        off += (size_t)r;
        if ((size_t)r < n && !done) {
            /* partial progress: only when the small buffer filled up */
            CHECK(buf_room(&small) == 0);
        }
    }
    if (buf_len(&small))
        CHECK(buf_append(&res->out, buf_data(&small), buf_len(&small)) == 0);
    buf_free(&small);
    res->consumed = total;
    res->done = done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t max_chunk = MAX_CHUNK[data[0] & 3];
    unsigned pat = (data[0] >> 2) & 15;
    data++;
    size--;

    struct result w = {0}, s = {0};
    run_whole(max_chunk, data, size, &w);
    run_split(max_chunk, data, size, pat, &s);
    CHECK(w.consumed == s.consumed);
    CHECK(w.done == s.done);
    CHECK(buf_len(&w.out) == buf_len(&s.out));
    CHECK(buf_len(&w.out) == 0 || memcmp(buf_data(&w.out), buf_data(&s.out), buf_len(&w.out)) == 0);
    if (w.done)
        CHECK(w.consumed >= 5 && data[w.consumed - 1] == '\n');
    CHECK(buf_len(&w.out) <= size);
    buf_free(&w.out);
    buf_free(&s.out);
    return 0;
}
