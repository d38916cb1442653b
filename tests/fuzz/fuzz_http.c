/* libFuzzer target for the HTTP request parser (src/http/http_parser.c).
 *
 * Input: byte 0 picks the limits and the split pattern, the rest is the request. The request is
 * parsed twice, fed whole and fed in pieces, and both runs must give the same outcome (consumed
 * count, state, status and parsed fields): the parser must not depend on how TLS records or
 * reads happen to split the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits LIMITS[4] = {
    {8192, 8192, 128, 65536}, /* roomy */
    {64, 48, 8, 256},         /* tight: hits every limit quickly */
    {4096, 4096, 64, 16384},  /* typical */
    {16, 16, 2, 40},          /* tiny */
};

struct result {
    ssize_t consumed;
    int pstate;
    int status;
};

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Piece length number i for split pattern `pat` (never 0). */
static size_t piece_len(unsigned pat, size_t i, uint32_t *rng)
{
    switch (pat) {
    case 0:
        return 1;
    case 1:
        return 2;
    case 2:
        return 3 + i % 5;
    case 3:
        return i == 0 ? 1 : 4096;
    case 4:
        return i == 0 ? 16 : 1;
    default:
        *rng = *rng * 1103515245u + 12345u;
        return 1 + (*rng >> 16) % 64;
    }
}

static void run(struct http_parser *p, const uint8_t *d, size_t len, int pat, uint32_t seed,
                struct result *res)
{
    ssize_t total = 0;
    size_t off = 0, i = 0;
    uint32_t rng = seed;
    while (off < len) {
        size_t n = pat < 0 ? len : piece_len((unsigned)pat, i++, &rng);
        if (n > len - off)
            n = len - off;
        ssize_t r = http_parser_feed(p, d + off, n);
        if (r < 0) {
            CHECK(r == -1);
            CHECK(p->pstate == HTTP_PARSER_ERROR);
            total = -1;
            break;
        }
        CHECK((size_t)r <= n);
        total += r;
        if ((size_t)r < n) {
            CHECK(p->pstate == HTTP_PARSER_DONE);
            break;
        }
        off += n;
    }
    if (p->pstate != HTTP_PARSER_HEADERS)
        CHECK(http_parser_feed(p, (const uint8_t *)"x", 1) == 0);
    res->consumed = total;
    res->pstate = p->pstate;
    res->status = p->pstate == HTTP_PARSER_ERROR ? p->error_status : 0;
}

static void check_request(const struct http_parser *p, const struct http_limits *lim,
                          ssize_t consumed)
{
    const struct http_request *r = &p->req;
    CHECK(consumed > 0 && (size_t)consumed <= lim->max_header_bytes);
    CHECK(r->method && r->target && *r->method && *r->target);
    CHECK(r->version_minor == 0 || r->version_minor == 1);
    CHECK(r->nheaders <= lim->max_headers && r->nheaders <= HTTP_MAX_HEADERS_HARD);
    CHECK(!(r->chunked && r->content_length >= 0));
    CHECK(r->content_length >= -1);
    CHECK(strlen(r->method) + strlen(r->target) + 10 <= lim->max_request_line);
    for (unsigned i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name, *v = r->headers[i].value;
        CHECK(*n);
        CHECK(strlen(n) + 1 + strlen(v) <= lim->max_header_line);
        CHECK(http_request_header(r, n) != NULL);
        size_t vl = strlen(v);
        if (vl) {
            CHECK(v[0] != ' ' && v[0] != '\t');
            CHECK(v[vl - 1] != ' ' && v[vl - 1] != '\t');
        }
        for (const char *c = v; *c; c++)
            CHECK((unsigned char)*c >= 0x20 || *c == '\t');
        (void)http_header_has_token(v, "upgrade");
        (void)http_header_has_token(v, n);
    }
}

static bool same_request(const struct http_request *a, const struct http_request *b)
{
    if (strcmp(a->method, b->method) || strcmp(a->target, b->target) ||
        a->version_minor != b->version_minor || a->nheaders != b->nheaders ||
        a->content_length != b->content_length || a->chunked != b->chunked)
        return false;
    for (unsigned i = 0; i < a->nheaders; i++)
        if (strcmp(a->headers[i].name, b->headers[i].name) ||
            strcmp(a->headers[i].value, b->headers[i].value))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct http_limits *lim = &LIMITS[data[0] & 3];
    int pat = (data[0] >> 2) & 7;
    uint32_t seed = data[0];
    data++;
    size--;

    struct http_parser whole, split;
    if (http_parser_init(&whole, lim) < 0)
        return 0;
    if (http_parser_init(&split, lim) < 0) {
        http_parser_free(&whole);
        return 0;
    }
    struct result rw, rs;
    run(&whole, data, size, -1, 0, &rw);
    run(&split, data, size, pat, seed, &rs);
    CHECK(rw.consumed == rs.consumed);
    CHECK(rw.pstate == rs.pstate);
    CHECK(rw.status == rs.status);
    if (rw.pstate == HTTP_PARSER_ERROR)
        CHECK(rw.status == 400 || rw.status == 414 || rw.status == 431 || rw.status == 501 ||
              rw.status == 505);
    if (rw.pstate == HTTP_PARSER_DONE) {
        check_request(&whole, lim, rw.consumed);
        CHECK(same_request(&whole.req, &split.req));
        /* The header block ends with LF; nothing after it was consumed. */
        CHECK(data[rw.consumed - 1] == '\n');
    }
    if (rw.pstate == HTTP_PARSER_HEADERS)
        CHECK(rw.consumed == (ssize_t)size);

    /* Reset and parse the remainder as a pipelined request: must not crash or leak. */
    if (rw.pstate == HTTP_PARSER_DONE) {
        http_parser_reset(&whole);
        struct result r2;
        run(&whole, data + rw.consumed, size - (size_t)rw.consumed, -1, 0, &r2);
    }
    http_parser_free(&whole);
    http_parser_free(&split);
    return 0;
}
