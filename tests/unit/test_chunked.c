/* Unit tests for the chunked transfer-coding decoder (src/http/chunked.c).
 *
 * Every input is decoded whole, split in two at every byte position, and one byte at a time;
 * the three must agree on bytes consumed, error, completion and decoded output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

/* FreeRDP 2.11.7 legacy IN channel (real-peers.md §3.3(d)): the third request and its chunks.
 * Control packets use upper-case hex sizes, DATA packets lower case (ms-tsgu-http.md §1.4). */
static const char LEGACY_IN_HDR[] = "RDG_IN_DATA /remoteDesktopGateway/ HTTP/1.1\r\n"
                                    "Cache-Control: no-cache\r\n"
                                    "Pragma: no-cache\r\n"
                                    "Accept: */*\r\n"
                                    "User-Agent: MS-RDGateway/1.0\r\n"
                                    "Host: 127.0.0.1\r\n"
                                    "Connection: Keep-Alive\r\n"
                                    "RDG-Connection-Id: {1b5c68bc-fbe0-5ba2-cbbf-eb3d2e454983}\r\n"
                                    "Transfer-Encoding: chunked\r\n"
                                    "\r\n";

/* HANDSHAKE_REQUEST: type 1, length 14, version 1.0, clientVersion 0, extendedAuth 0. */
static const uint8_t HANDSHAKE[14] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00,
                                      0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};

#define MAX_OUT 16384

struct coutcome {
    ssize_t consumed; /* total, or the negative errno */
    bool done;
    size_t outlen;
    uint8_t out[MAX_OUT];
};

struct stream {
    uint8_t b[MAX_OUT];
    size_t len;
    uint8_t payload[MAX_OUT];
    size_t plen;
};

static void put(struct stream *s, const void *d, size_t n)
{
    assert_true(s->len + n <= sizeof s->b);
    memcpy(s->b + s->len, d, n);
    s->len += n;
}

static void put_str(struct stream *s, const char *str)
{
    put(s, str, strlen(str));
}

/* Appends one chunk with its size in upper- or lower-case hex. */
static void put_chunk(struct stream *s, bool upper, const void *d, size_t n)
{
    char line[32];
    if (upper)
        snprintf(line, sizeof line, "%X", (unsigned)n);
    else
        snprintf(line, sizeof line, "%x", (unsigned)n);
    put_str(s, line);
    put_str(s, "\r\n");
    put(s, d, n);
    put_str(s, "\r\n");
    memcpy(s->payload + s->plen, d, n);
    s->plen += n;
}

/* Decodes d[0, len) in a first piece of `first` bytes, then pieces of `step`. */
static void decode_pieces(uint32_t max_chunk, const void *d, size_t len, size_t first, size_t step,
                          struct coutcome *o)
{
    const uint8_t *b = d;
    struct http_chunked c;
    struct buf out = BUF_INIT;
    http_chunked_init(&c, max_chunk);
    size_t off = 0, piece = first;
    ssize_t total = 0;
    bool done = false;
    while (off < len) {
        if (piece > len - off)
            piece = len - off;
        ssize_t r = http_chunked_feed(&c, b + off, piece, &out, &done);
        if (r < 0) {
            assert_false(done);
            /* errors are sticky */
            bool d2 = true;
            assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"0", 1, &out, &d2), r);
            assert_false(d2);
            total = r;
            break;
        }
        assert_true((size_t)r <= piece);
        total += r;
        if (done)
            break;
        assert_int_equal((size_t)r, piece); /* not done: everything is consumed */
        off += piece;
        piece = step;
    }
    if (done) {
        /* after the end, nothing more is consumed */
        bool d2 = false;
        assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"5\r\n", 3, &out, &d2), 0);
        assert_true(d2);
    }
    o->consumed = total;
    o->done = done;
    assert_true(buf_len(&out) <= sizeof o->out);
    o->outlen = buf_len(&out);
    if (o->outlen)
        memcpy(o->out, buf_data(&out), o->outlen);
    buf_free(&out);
}

static void assert_same(const struct coutcome *a, const struct coutcome *b, const char *what,
                        size_t k)
{
    if (a->consumed != b->consumed || a->done != b->done || a->outlen != b->outlen ||
        memcmp(a->out, b->out, a->outlen) != 0)
        fail_msg("%s %zu: consumed %zd/%zd done %d/%d outlen %zu/%zu", what, k, a->consumed,
                 b->consumed, (int)a->done, (int)b->done, a->outlen, b->outlen);
}

/* Decodes all ways, checks they agree, returns the whole-feed outcome in *o. */
static void decode_all_ways(uint32_t max_chunk, const void *d, size_t len, struct coutcome *o)
{
    static struct coutcome x;
    size_t whole = len ? len : 1;
    decode_pieces(max_chunk, d, len, whole, whole, o);
    for (size_t k = 0; k <= len; k++) {
        decode_pieces(max_chunk, d, len, k, whole, &x);
        assert_same(&x, o, "split at", k);
    }
    decode_pieces(max_chunk, d, len, 1, 1, &x);
    assert_same(&x, o, "byte at a time", 0);
}

static ssize_t result_of(uint32_t max_chunk, const char *s)
{
    static struct coutcome o;
    decode_all_ways(max_chunk, s, strlen(s), &o);
    return o.consumed;
}

/* ---- tests ---- */

static void test_freerdp_stream(void **state)
{
    (void)state;
    static struct stream s;
    memset(&s, 0, sizeof s);
    uint8_t tunnel_create[16] = {0x04, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
                                 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    uint8_t data[26] = {0x0a, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, 0x10, 0x00};
    for (int i = 10; i < 26; i++)
        data[i] = (uint8_t)(0xa0 + i);
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    put_chunk(&s, true, HANDSHAKE, sizeof HANDSHAKE); /* "E" */
    put_chunk(&s, true, tunnel_create, sizeof tunnel_create);
    put_chunk(&s, false, data, sizeof data); /* "1a" */
    put_chunk(&s, false, big, sizeof big);   /* "12c" */
    put_chunk(&s, true, big, sizeof big);    /* "12C" */
    assert_memory_equal(s.b, "E\r\n", 3);
    put_str(&s, "0\r\n\r\n");
    size_t body_len = s.len;
    put_str(&s, "NEXT"); /* not part of the body */
    static struct coutcome o;
    decode_all_ways(65536, s.b, s.len, &o);
    assert_true(o.done);
    assert_int_equal(o.consumed, (ssize_t)body_len);
    assert_int_equal(o.outlen, s.plen);
    assert_memory_equal(o.out, s.payload, s.plen);
}

/* Header block through the HTTP parser, then the body through the decoder, byte at a time. */
static void test_legacy_in_request(void **state)
{
    (void)state;
    static struct stream s;
    memset(&s, 0, sizeof s);
    put_str(&s, LEGACY_IN_HDR);
    size_t hlen = s.len;
    put_chunk(&s, true, HANDSHAKE, sizeof HANDSHAKE);
    struct http_limits lim = {8192, 8192, 64, 16384};
    struct http_parser p;
    assert_int_equal(http_parser_init(&p, &lim), 0);
    size_t off = 0;
    while (p.pstate == HTTP_PARSER_HEADERS) {
        ssize_t r = http_parser_feed(&p, s.b + off, 1);
        assert_true(r >= 0);
        off += (size_t)r;
        if (r == 0)
            break;
    }
    assert_int_equal(p.pstate, HTTP_PARSER_DONE);
    assert_int_equal(off, hlen);
    assert_true(p.req.chunked);
    struct http_chunked c;
    struct buf out = BUF_INIT;
    bool done = false;
    http_chunked_init(&c, 65535);
    for (; off < s.len; off++)
        assert_int_equal(http_chunked_feed(&c, s.b + off, 1, &out, &done), 1);
    assert_false(done);
    assert_int_equal(buf_len(&out), sizeof HANDSHAKE);
    assert_memory_equal(buf_data(&out), HANDSHAKE, sizeof HANDSHAKE);
    assert_memory_equal(s.b + hlen, "E\r\n\x01\x00\x00\x00\x0e", 8);
    buf_free(&out);
    http_parser_free(&p);
}

static void test_extensions(void **state)
{
    (void)state;
    static const char in[] = "5;name=val\r\nhello\r\n"
                             "1 ;a=\"q;x\"\r\n,\r\n"
                             "6\t; x ;y\r\n world\r\n"
                             "3  \r\n!!!\r\n"
                             "0;last=1\r\n\r\n";
    static struct coutcome o;
    decode_all_ways(1024, in, strlen(in), &o);
    assert_true(o.done);
    assert_int_equal(o.consumed, (ssize_t)strlen(in));
    assert_int_equal(o.outlen, 15);
    assert_memory_equal(o.out, "hello, world!!!", 15);
}

static void test_trailers(void **state)
{
    (void)state;
    static const char in[] = "4\r\nabcd\r\n0\r\nX-Trailer: 1\r\nY:\t2 \r\n\r\nrest";
    static struct coutcome o;
    decode_all_ways(1024, in, strlen(in), &o);
    assert_true(o.done);
    assert_int_equal(o.consumed, (ssize_t)strlen(in) - 4);
    assert_int_equal(o.outlen, 4);
    assert_memory_equal(o.out, "abcd", 4);
}

static void test_last_chunk(void **state)
{
    (void)state;
    static struct coutcome o;
    decode_all_ways(1024, "0\r\n\r\n", 5, &o);
    assert_true(o.done);
    assert_int_equal(o.consumed, 5);
    assert_int_equal(o.outlen, 0);
    assert_int_equal(result_of(1024, "000\r\n\r\n"), 7);
    /* the last chunk alone is not the end: the trailer section's CRLF is still due */
    decode_all_ways(1024, "0\r\n", 3, &o);
    assert_false(o.done);
    assert_int_equal(o.consumed, 3);
    decode_all_ways(1024, "0\r\nX: y\r\n", 9, &o);
    assert_false(o.done);
    assert_int_equal(o.consumed, 9);
}

static void test_incomplete(void **state)
{
    (void)state;
    static struct coutcome o;
    decode_all_ways(1024, "5\r\nhel", 6, &o);
    assert_false(o.done);
    assert_int_equal(o.consumed, 6);
    assert_int_equal(o.outlen, 3);
    assert_memory_equal(o.out, "hel", 3);
    assert_int_equal(result_of(1024, ""), 0);
}

static void test_upper_lower_hex(void **state)
{
    (void)state;
    char in[64 + 3 * 171];
    static const char *const sizes[] = {"ab", "AB", "aB", "Ab"};
    for (size_t i = 0; i < 4; i++) {
        int n = snprintf(in, sizeof in, "%s\r\n", sizes[i]);
        memset(in + n, 'z', 0xab);
        n += 0xab;
        n += snprintf(in + n, sizeof in - (size_t)n, "\r\n0\r\n\r\n");
        static struct coutcome o;
        decode_all_ways(1024, in, (size_t)n, &o);
        assert_true(o.done);
        assert_int_equal(o.outlen, 0xab);
    }
}

static void test_oversize(void **state)
{
    (void)state;
    char in[64];
    memset(in, 0, sizeof in);
    snprintf(in, sizeof in, "10\r\n0123456789abcdef\r\n0\r\n\r\n");
    assert_int_equal(result_of(16, in), (ssize_t)strlen(in)); /* exactly max_chunk */
    assert_int_equal(result_of(16, "0010\r\n"), 6);           /* leading zeros */
    assert_int_equal(result_of(16, "11\r\n"), -E2BIG);
    assert_int_equal(result_of(16, "11"), -E2BIG); /* rejected before the line ends */
    assert_int_equal(result_of(16, "100;ext\r\n"), -E2BIG);
    assert_int_equal(result_of(0, "1\r\nx\r\n"), -E2BIG);
    assert_int_equal(result_of(0, "0\r\n\r\n"), 5);
    assert_int_equal(result_of(65535, "FFFF\r\n"), 6);
    assert_int_equal(result_of(65535, "10000\r\n"), -E2BIG);
}

static void test_size_overflow(void **state)
{
    (void)state;
    /* max_chunk = UINT32_MAX: the largest size line is accepted, one more is not */
    struct http_chunked c;
    struct buf out = BUF_INIT;
    bool done;
    http_chunked_init(&c, UINT32_MAX);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"FFFFFFFF\r\nab", 12, &out, &done), 12);
    assert_false(done);
    assert_int_equal(c.remaining, 0xFFFFFFFFull - 2);
    buf_free(&out);
    assert_int_equal(result_of(UINT32_MAX, "100000000\r\n"), -E2BIG);
    /* 16 hex digits are the most accepted; the 17th is an overflow */
    assert_int_equal(result_of(UINT32_MAX, "000000000000000F\r\n"), 18);
    assert_int_equal(result_of(UINT32_MAX, "0000000000000000F\r\n"), -E2BIG);
    assert_int_equal(result_of(UINT32_MAX, "00000000000000000\r\n"), -E2BIG);
    assert_int_equal(result_of(UINT32_MAX, "FFFFFFFFFFFFFFFF\r\n"), -E2BIG);
    assert_int_equal(result_of(UINT32_MAX, "FFFFFFFFFFFFFFFFF\r\n"), -E2BIG);
    assert_int_equal(result_of(UINT32_MAX, "10000000000000000\r\n"), -E2BIG);
}

static void test_bad_hex(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "G\r\n",
        "g\r\n",
        "\r\n",
        ";x\r\n",
        " 5\r\n",
        "5x\r\n",
        "-5\r\n",
        "+5\r\n",
        "0x5\r\n",
        "5 x\r\n",
        "5 5\r\n",
        "5\n",
        "5\r\r\n",
        "5\rx",
        "5;\x01\r\n",
        "5;a\x7f\r\n",
        "5;a\nb\r\n",
        "\n",
        "5\r\nhello\r\n\r\n", /* an empty line where a chunk-size must be */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ssize_t r = result_of(1024, bad[i]);
        if (r != -EINVAL)
            fail_msg("case %zu: got %zd", i, r);
    }
}

static void test_missing_crlf_after_data(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "5\r\nhelloX",    "5\r\nhello\rX",   "5\r\nhello\n",
        "5\r\nhello\r\r", "5\r\nhello0\r\n", "5\r\nhello 0\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static struct coutcome o;
        decode_all_ways(1024, bad[i], strlen(bad[i]), &o);
        if (o.consumed != -EINVAL)
            fail_msg("case %zu: got %zd", i, o.consumed);
        assert_int_equal(o.outlen, 5); /* the data itself was delivered */
    }
}

static void test_bad_trailers(void **state)
{
    (void)state;
    assert_int_equal(result_of(1024, "0\r\nX: a\nb\r\n\r\n"), -EINVAL); /* bare LF */
    assert_int_equal(result_of(1024, "0\r\nX: a\rb\r\n\r\n"), -EINVAL);
    assert_int_equal(result_of(1024, "0\r\nX: \x01\r\n\r\n"), -EINVAL);
    assert_int_equal(result_of(1024, "0\r\n\n"), -EINVAL);
    assert_int_equal(result_of(1024, "0\r\n\rX"), -EINVAL);
}

/* Size/extension lines and trailer lines are capped at 4096 bytes (without CRLF). */
static void test_line_caps(void **state)
{
    (void)state;
    static char in[16384];
    /* "5;" + ext = 4096 */
    memset(in, 0, sizeof in);
    memcpy(in, "5;", 2);
    memset(in + 2, 'e', 4094);
    strcat(in, "\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(result_of(1024, in), (ssize_t)strlen(in));
    memset(in, 0, sizeof in);
    memcpy(in, "5;", 2);
    memset(in + 2, 'e', 4095);
    strcat(in, "\r\nhello\r\n0\r\n\r\n");
    assert_int_equal(result_of(1024, in), -E2BIG);
    /* whitespace before the extension counts as well */
    memset(in, 0, sizeof in);
    in[0] = '5';
    memset(in + 1, ' ', 4096);
    assert_int_equal(result_of(1024, in), -E2BIG);
    /* trailer line of exactly 4096 bytes, then 4097 */
    memset(in, 0, sizeof in);
    memcpy(in, "0\r\nX:", 5);
    memset(in + 5, 't', 4094);
    strcat(in, "\r\n\r\n");
    assert_int_equal(result_of(1024, in), (ssize_t)strlen(in));
    memset(in, 0, sizeof in);
    memcpy(in, "0\r\nX:", 5);
    memset(in + 5, 't', 4095);
    strcat(in, "\r\n\r\n");
    assert_int_equal(result_of(1024, in), -E2BIG);
    /* the cap is per line: many long trailer lines are fine */
    memset(in, 0, sizeof in);
    strcpy(in, "0\r\n");
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(in);
        memcpy(in + n, "X:", 2);
        memset(in + n + 2, 'u', 4094);
        strcat(in, "\r\n");
    }
    strcat(in, "\r\n");
    assert_int_equal(result_of(1024, in), (ssize_t)strlen(in));
}

/* out with a cap: the decoder reports progress, then -ENOBUFS (not sticky) until drained. */
static void test_enobufs(void **state)
{
    (void)state;
    static const char in[] = "10\r\n0123456789abcdef\r\n0\r\n\r\n";
    size_t len = strlen(in);
    struct http_chunked c;
    struct buf out = BUF_INIT;
    out.cap_limit = 8;
    bool done = false;
    http_chunked_init(&c, 1024);
    ssize_t r = http_chunked_feed(&c, (const uint8_t *)in, len, &out, &done);
    assert_int_equal(r, 4 + 8);
    assert_false(done);
    assert_int_equal(buf_len(&out), 8);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)in + 12, len - 12, &out, &done),
                     -ENOBUFS);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)in + 12, len - 12, &out, &done),
                     -ENOBUFS);
    assert_memory_equal(buf_data(&out), "01234567", 8);
    buf_consume(&out, 8);
    r = http_chunked_feed(&c, (const uint8_t *)in + 12, len - 12, &out, &done);
    assert_int_equal(r, (ssize_t)(len - 12));
    assert_true(done);
    assert_memory_equal(buf_data(&out), "89abcdef", 8);
    buf_free(&out);
}

static void test_done_and_error_are_final(void **state)
{
    (void)state;
    struct http_chunked c;
    struct buf out = BUF_INIT;
    bool done = false;
    http_chunked_init(&c, 1024);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n0\r\n\r\n", 10, &out, &done),
                     5);
    assert_true(done);
    done = false;
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &out, &done), 0);
    assert_true(done);
    http_chunked_init(&c, 1024);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"z", 1, &out, &done), -EINVAL);
    assert_false(done);
    assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &out, &done), -EINVAL);
    assert_int_equal(http_chunked_feed(&c, NULL, 0, &out, &done), -EINVAL);
    /* re-init makes it usable again */
    http_chunked_init(&c, 1024);
    assert_int_equal(http_chunked_feed(&c, NULL, 0, &out, &done), 0);
    assert_false(done);
    assert_int_equal(buf_len(&out), 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freerdp_stream),
        cmocka_unit_test(test_legacy_in_request),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_last_chunk),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_upper_lower_hex),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_bad_hex),
        cmocka_unit_test(test_missing_crlf_after_data),
        cmocka_unit_test(test_bad_trailers),
        cmocka_unit_test(test_line_caps),
        cmocka_unit_test(test_enobufs),
        cmocka_unit_test(test_done_and_error_are_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
