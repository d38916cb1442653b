/* Unit tests for the RFC 6455 codec (src/websocket/ws.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "websocket/ws.h"

/* real-peers.md §3.3(c): FreeRDP 2.11.7's first frame, a masked HandshakeRequest. */
static const uint8_t hs_frame[20] = {0x82, 0x8e, 0xaf, 0x27, 0x3f, 0xd7, 0xae, 0x27, 0x3f, 0xd7,
                                     0xa1, 0x27, 0x3f, 0xd7, 0xae, 0x27, 0x3f, 0xd7, 0xaf, 0x27};
static const uint8_t hs_payload[14] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00,
                                       0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Length encodings for client frames built by the tests. */
enum { LEN_AUTO, LEN_16, LEN_64 };

/* Appends a masked client frame with an explicit first byte (FIN/RSV/opcode). */
static void put_client_frame_b0(struct buf *b, uint8_t b0, const uint8_t *payload, uint64_t len,
                                int form, bool masked)
{
    uint8_t mbit = masked ? 0x80 : 0;
    assert_int_equal(buf_put_u8(b, b0), 0);
    if (form == LEN_AUTO && len < 126) {
        assert_int_equal(buf_put_u8(b, (uint8_t)(mbit | len)), 0);
    } else if (form == LEN_16 || (form == LEN_AUTO && len <= 0xFFFF)) {
        assert_int_equal(buf_put_u8(b, mbit | 126), 0);
        assert_int_equal(buf_put_u8(b, (uint8_t)(len >> 8)), 0);
        assert_int_equal(buf_put_u8(b, (uint8_t)len), 0);
    } else {
        assert_int_equal(buf_put_u8(b, mbit | 127), 0);
        for (int i = 7; i >= 0; i--)
            assert_int_equal(buf_put_u8(b, (uint8_t)(len >> (8 * i))), 0);
    }
    if (masked)
        assert_int_equal(buf_append(b, mask_key, 4), 0);
    for (uint64_t i = 0; payload && i < len; i++) {
        uint8_t c = masked ? (uint8_t)(payload[i] ^ mask_key[i % 4]) : payload[i];
        assert_int_equal(buf_put_u8(b, c), 0);
    }
}

static void put_client_frame(struct buf *b, bool fin, uint8_t op, const void *payload, size_t len,
                             int form)
{
    put_client_frame_b0(b, (uint8_t)((fin ? 0x80 : 0) | op), payload, len, form, true);
}

/* Event log entry for comparisons. */
struct evrec {
    int type;
    size_t len;
    uint8_t payload[125];
    uint16_t code;
};

struct result {
    struct buf data;
    struct evrec ev[16];
    int nev;
    ssize_t err; /* 0 or the negative error that stopped decoding */
};

/* Feeds in[0..len) in pieces of the given sizes (cycling through sizes[]); records data, events
 * and the first error. */
static void feed(struct ws_decoder *d, const uint8_t *in, size_t len, const size_t *sizes,
                 size_t nsizes, struct result *res)
{
    size_t pos = 0, k = 0;
    while (pos < len) {
        size_t piece = sizes ? sizes[k++ % nsizes] : len - pos;
        if (piece > len - pos)
            piece = len - pos;
        size_t off = 0;
        while (off < piece) {
            struct ws_event ev;
            ev.type = 12345;
            ssize_t r = ws_decode(d, in + pos + off, piece - off, &res->data, &ev);
            if (r < 0) {
                assert_int_equal(ev.type, WS_EV_NONE);
                res->err = r;
                return;
            }
            assert_true((size_t)r <= piece - off);
            if (ev.type != WS_EV_NONE) {
                assert_true(res->nev < 16);
                struct evrec *e = &res->ev[res->nev++];
                e->type = ev.type;
                e->len = ev.len;
                memcpy(e->payload, ev.payload, ev.len);
                e->code = ev.close_code;
            } else {
                /* without an event the call only stops when the input is used up */
                assert_int_equal((size_t)r, piece - off);
            }
            off += (size_t)r;
        }
        pos += piece;
    }
}

static void result_free(struct result *r)
{
    buf_free(&r->data);
}

static void assert_same(const struct result *a, const struct result *b)
{
    assert_int_equal(a->err, b->err);
    assert_int_equal(buf_len(&a->data), buf_len(&b->data));
    if (buf_len(&a->data))
        assert_memory_equal(buf_data(&a->data), buf_data(&b->data), buf_len(&a->data));
    assert_int_equal(a->nev, b->nev);
    for (int i = 0; i < a->nev; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        if (a->ev[i].len)
            assert_memory_equal(a->ev[i].payload, b->ev[i].payload, a->ev[i].len);
    }
}

/* Decodes the whole input, then every two-way split and one byte at a time; all must agree. */
static void check_all_splits(const uint8_t *in, size_t len, uint64_t max, struct result *whole)
{
    struct ws_decoder d;
    memset(whole, 0, sizeof *whole);
    ws_decoder_init(&d, max);
    feed(&d, in, len, NULL, 0, whole);

    for (size_t i = 1; i < len; i++) {
        struct result r;
        memset(&r, 0, sizeof r);
        size_t sizes[2] = {i, len};
        ws_decoder_init(&d, max);
        feed(&d, in, len, sizes, 2, &r);
        assert_same(whole, &r);
        result_free(&r);
    }
    struct result one;
    memset(&one, 0, sizeof one);
    size_t s1 = 1;
    ws_decoder_init(&d, max);
    feed(&d, in, len, &s1, 1, &one);
    assert_same(whole, &one);
    result_free(&one);
}

static ssize_t decode_all(const uint8_t *in, size_t len, uint64_t max, struct buf *out)
{
    struct ws_decoder d;
    struct ws_event ev;
    ws_decoder_init(&d, max);
    size_t pos = 0;
    while (pos < len) {
        ssize_t r = ws_decode(&d, in + pos, len - pos, out, &ev);
        if (r < 0)
            return r;
        pos += (size_t)r;
    }
    return 0;
}

/* ---- accept key ---------------------------------------------------------------------------- */

static void test_accept_rfc6455(void **state)
{
    (void)state;
    char out[29];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_freerdp_key(void **state)
{
    (void)state;
    char out[29];
    /* Expected values computed with:
     * printf '%s' "$KEY"258EAFA5-E914-47DA-95CA-C5AB0DC85B11 | openssl sha1 -binary | base64 */
    const char *k1 = "IC^\\_JB]QE@YL@J";
    assert_int_equal(strlen(k1), 15);
    assert_int_equal(ws_accept_key(k1, strlen(k1), out), 0);
    assert_string_equal(out, "w5oshAl8/d/U+JtWRO1l/0ED9zs=");
    const char *k2 = "ME[PLDEFUG\\@DSZ";
    assert_int_equal(ws_accept_key(k2, strlen(k2), out), 0);
    assert_string_equal(out, "PVjOd9dGdwnAWVCmdODIfbFw/Uw=");
}

static void test_accept_bad_args(void **state)
{
    (void)state;
    char out[29];
    char key[300];
    memset(key, 'A', sizeof key);
    assert_int_equal(ws_accept_key(key, 0, out), -EINVAL);
    assert_int_equal(ws_accept_key(key, 257, out), -EINVAL);
    assert_int_equal(ws_accept_key(key, 256, out), 0);
    assert_int_equal(strlen(out), 28);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void test_handshake_frame(void **state)
{
    (void)state;
    struct result whole;
    check_all_splits(hs_frame, sizeof hs_frame, 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(whole.nev, 0);
    assert_int_equal(buf_len(&whole.data), sizeof hs_payload);
    assert_memory_equal(buf_data(&whole.data), hs_payload, sizeof hs_payload);
    result_free(&whole);

    /* a single call consumes the whole frame */
    struct ws_decoder d;
    struct ws_event ev;
    struct buf out = BUF_INIT;
    ws_decoder_init(&d, 65536);
    assert_int_equal(ws_decode(&d, hs_frame, sizeof hs_frame, &out, &ev), 20);
    assert_int_equal(ev.type, WS_EV_NONE);
    assert_int_equal(buf_len(&out), 14);
    assert_false(d.in_message);
    buf_free(&out);
}

static void test_len16(void **state)
{
    (void)state;
    uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    struct buf in = BUF_INIT;
    put_client_frame(&in, true, WS_OP_BINARY, payload, sizeof payload, LEN_AUTO);
    assert_int_equal(buf_data(&in)[1], 0x80 | 126);
    /* a non-minimal 16-bit length (5) is accepted */
    put_client_frame(&in, true, WS_OP_BINARY, "hello", 5, LEN_16);
    struct result whole;
    check_all_splits(buf_data(&in), buf_len(&in), 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), 305);
    assert_memory_equal(buf_data(&whole.data), payload, 300);
    assert_memory_equal(buf_data(&whole.data) + 300, "hello", 5);
    result_free(&whole);
    buf_free(&in);
}

static void test_len64(void **state)
{
    (void)state;
    size_t n = 70000;
    uint8_t *payload = malloc(n);
    assert_non_null(payload);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i ^ (i >> 8));
    struct buf in = BUF_INIT;
    put_client_frame(&in, true, WS_OP_BINARY, payload, n, LEN_AUTO);
    assert_int_equal(buf_data(&in)[1], 0x80 | 127);
    put_client_frame(&in, true, WS_OP_BINARY, "xyz", 3, LEN_64); /* non-minimal: accepted */

    struct result whole;
    memset(&whole, 0, sizeof whole);
    struct ws_decoder d;
    ws_decoder_init(&d, 0);
    feed(&d, buf_data(&in), buf_len(&in), NULL, 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), n + 3);
    assert_memory_equal(buf_data(&whole.data), payload, n);
    assert_memory_equal(buf_data(&whole.data) + n, "xyz", 3);

    /* odd piece sizes and byte at a time give the same stream */
    size_t sizes[] = {1, 3, 7, 1000, 2, 13};
    struct result split;
    memset(&split, 0, sizeof split);
    ws_decoder_init(&d, 0);
    feed(&d, buf_data(&in), buf_len(&in), sizes, 6, &split);
    assert_same(&whole, &split);
    result_free(&split);
    size_t one = 1;
    memset(&split, 0, sizeof split);
    ws_decoder_init(&d, 0);
    feed(&d, buf_data(&in), buf_len(&in), &one, 1, &split);
    assert_same(&whole, &split);
    result_free(&split);

    result_free(&whole);
    buf_free(&in);
    free(payload);
}

static void test_fragmented_with_ping(void **state)
{
    (void)state;
    struct buf in = BUF_INIT;
    put_client_frame(&in, false, WS_OP_BINARY, "abc", 3, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_PING, "hi", 2, LEN_AUTO);
    put_client_frame(&in, false, WS_OP_CONT, "de", 2, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_PONG, NULL, 0, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, "f", 1, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_BINARY, "g", 1, LEN_AUTO); /* next message */

    struct result whole;
    check_all_splits(buf_data(&in), buf_len(&in), 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), 7);
    assert_memory_equal(buf_data(&whole.data), "abcdefg", 7);
    assert_int_equal(whole.nev, 2);
    assert_int_equal(whole.ev[0].type, WS_EV_PING);
    assert_int_equal(whole.ev[0].len, 2);
    assert_memory_equal(whole.ev[0].payload, "hi", 2);
    assert_int_equal(whole.ev[1].type, WS_EV_PONG);
    assert_int_equal(whole.ev[1].len, 0);
    result_free(&whole);

    /* the call stops right after the ping: 9 bytes of the first frame, 8 of the ping */
    struct ws_decoder d;
    struct ws_event ev;
    struct buf out = BUF_INIT;
    ws_decoder_init(&d, 0);
    assert_int_equal(ws_decode(&d, buf_data(&in), buf_len(&in), &out, &ev), 9 + 8);
    assert_int_equal(ev.type, WS_EV_PING);
    assert_true(d.in_message);
    assert_int_equal(buf_len(&out), 3);
    buf_free(&out);
    buf_free(&in);
}

static void test_two_packets_one_frame(void **state)
{
    (void)state;
    uint8_t two[22];
    memcpy(two, hs_payload, 14);
    const uint8_t keepalive[8] = {0x0d, 0, 0, 0, 0x08, 0, 0, 0};
    memcpy(two + 14, keepalive, 8);
    struct buf in = BUF_INIT;
    put_client_frame(&in, true, WS_OP_BINARY, two, sizeof two, LEN_AUTO);
    /* and one packet spread over two frames */
    put_client_frame(&in, false, WS_OP_BINARY, keepalive, 3, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, keepalive + 3, 5, LEN_AUTO);
    struct result whole;
    check_all_splits(buf_data(&in), buf_len(&in), 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), 30);
    assert_memory_equal(buf_data(&whole.data), two, 22);
    assert_memory_equal(buf_data(&whole.data) + 22, keepalive, 8);
    result_free(&whole);
    buf_free(&in);
}

static void test_control_events(void **state)
{
    (void)state;
    struct buf in = BUF_INIT;
    uint8_t close1[] = {0x03, 0xe8, 'b', 'y', 'e'};
    uint8_t ping125[125];
    memset(ping125, 0x5a, sizeof ping125);
    put_client_frame(&in, true, WS_OP_PING, ping125, 125, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CLOSE, close1, sizeof close1, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CLOSE, NULL, 0, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_PING, NULL, 0, LEN_AUTO);
    struct result whole;
    check_all_splits(buf_data(&in), buf_len(&in), 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), 0);
    assert_int_equal(whole.nev, 4);
    assert_int_equal(whole.ev[0].type, WS_EV_PING);
    assert_int_equal(whole.ev[0].len, 125);
    assert_memory_equal(whole.ev[0].payload, ping125, 125);
    assert_int_equal(whole.ev[1].type, WS_EV_CLOSE);
    assert_int_equal(whole.ev[1].code, 1000);
    assert_int_equal(whole.ev[1].len, 5);
    assert_memory_equal(whole.ev[1].payload, close1, 5);
    assert_int_equal(whole.ev[2].type, WS_EV_CLOSE);
    assert_int_equal(whole.ev[2].code, 1005);
    assert_int_equal(whole.ev[2].len, 0);
    assert_int_equal(whole.ev[3].type, WS_EV_PING);
    result_free(&whole);
    buf_free(&in);
}

static void test_empty_data_frames(void **state)
{
    (void)state;
    struct buf in = BUF_INIT;
    put_client_frame(&in, true, WS_OP_BINARY, NULL, 0, LEN_AUTO);
    put_client_frame(&in, false, WS_OP_BINARY, NULL, 0, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, "z", 1, LEN_AUTO);
    struct result whole;
    check_all_splits(buf_data(&in), buf_len(&in), 0, &whole);
    assert_int_equal(whole.err, 0);
    assert_int_equal(buf_len(&whole.data), 1);
    result_free(&whole);
    buf_free(&in);
}

/* Expects decoding of in to fail with err, however it is split,
 * with the same data produced before the error. */
static void expect_error(struct buf *in, ssize_t err, uint64_t max)
{
    struct result whole;
    check_all_splits(buf_data(in), buf_len(in), max, &whole);
    assert_int_equal(whole.err, err);
    result_free(&whole);
    buf_free(in);
}

static void test_errors(void **state)
{
    (void)state;
    struct buf in = BUF_INIT;
    const ssize_t P = -WS_CLOSE_PROTOCOL;

    /* unmasked client frame */
    put_client_frame_b0(&in, 0x82, hs_payload, 14, LEN_AUTO, false);
    expect_error(&in, P, 0);
    /* reserved bits */
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        put_client_frame_b0(&in, (uint8_t)(0x82 | rsv), hs_payload, 14, LEN_AUTO, true);
        expect_error(&in, P, 0);
    }
    /* unknown opcodes */
    const uint8_t unknown[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof unknown; i++) {
        put_client_frame_b0(&in, (uint8_t)(0x80 | unknown[i]), NULL, 0, LEN_AUTO, true);
        expect_error(&in, P, 0);
    }
    /* control frame with payload > 125 (16-bit form) and not FIN */
    uint8_t big[126] = {0};
    put_client_frame(&in, true, WS_OP_PING, big, 126, LEN_AUTO);
    expect_error(&in, P, 0);
    put_client_frame(&in, true, WS_OP_CLOSE, big, 5, LEN_16);
    expect_error(&in, P, 0);
    put_client_frame(&in, false, WS_OP_PING, "x", 1, LEN_AUTO);
    expect_error(&in, P, 0);
    /* continuation without an open message */
    put_client_frame(&in, true, WS_OP_CONT, "x", 1, LEN_AUTO);
    expect_error(&in, P, 0);
    put_client_frame(&in, true, WS_OP_BINARY, "x", 1, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, "x", 1, LEN_AUTO); /* message already ended */
    expect_error(&in, P, 0);
    /* new data frame while a message is open */
    put_client_frame(&in, false, WS_OP_BINARY, "x", 1, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_BINARY, "y", 1, LEN_AUTO);
    expect_error(&in, P, 0);
    put_client_frame(&in, false, WS_OP_BINARY, "x", 1, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_TEXT, "y", 1, LEN_AUTO);
    expect_error(&in, P, 0);
    /* 64-bit length with the top bit set */
    put_client_frame_b0(&in, 0x82, NULL, 0x8000000000000001ull, LEN_64, true);
    expect_error(&in, P, 0);
    /* text frame */
    put_client_frame(&in, true, WS_OP_TEXT, "hello", 5, LEN_AUTO);
    expect_error(&in, -WS_CLOSE_UNSUPPORTED, 0);
    /* too big, detected from the header before any payload */
    put_client_frame_b0(&in, 0x82, NULL, 0x7fffffffffffffffull, LEN_64, true);
    expect_error(&in, -WS_CLOSE_TOO_BIG, 1 << 20);

    /* data before the error is kept; the error is sticky */
    put_client_frame(&in, true, WS_OP_BINARY, "ok", 2, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_TEXT, "no", 2, LEN_AUTO);
    struct ws_decoder d;
    struct ws_event ev;
    struct buf out = BUF_INIT;
    ws_decoder_init(&d, 0);
    assert_int_equal(ws_decode(&d, buf_data(&in), buf_len(&in), &out, &ev), -WS_CLOSE_UNSUPPORTED);
    assert_int_equal(buf_len(&out), 2);
    assert_int_equal(ws_decode(&d, hs_frame, sizeof hs_frame, &out, &ev), -WS_CLOSE_UNSUPPORTED);
    assert_int_equal(ev.type, WS_EV_NONE);
    assert_int_equal(buf_len(&out), 2);
    buf_free(&out);
    buf_free(&in);
}

static void test_enobufs(void **state)
{
    (void)state;
    struct ws_decoder d;
    struct ws_event ev;
    struct buf out = BUF_INIT;
    out.cap_limit = 5;
    ws_decoder_init(&d, 0);
    /* 5 bytes fit: the call consumes the 6-byte header and 5 payload bytes */
    ssize_t r = ws_decode(&d, hs_frame, sizeof hs_frame, &out, &ev);
    assert_int_equal(r, 11);
    assert_int_equal(buf_len(&out), 5);
    /* output full, nothing consumed */
    assert_int_equal(ws_decode(&d, hs_frame + r, sizeof hs_frame - (size_t)r, &out, &ev), -ENOBUFS);
    /* not sticky: drain and resume */
    struct buf all = BUF_INIT;
    size_t pos = (size_t)r;
    while (pos < sizeof hs_frame) {
        assert_int_equal(buf_append(&all, buf_data(&out), buf_len(&out)), 0);
        buf_clear(&out);
        r = ws_decode(&d, hs_frame + pos, sizeof hs_frame - pos, &out, &ev);
        assert_true(r > 0);
        pos += (size_t)r;
    }
    assert_int_equal(buf_append(&all, buf_data(&out), buf_len(&out)), 0);
    assert_int_equal(buf_len(&all), 14);
    assert_memory_equal(buf_data(&all), hs_payload, 14);
    /* a control frame needs no output space */
    buf_clear(&out);
    assert_int_equal(buf_append(&out, "12345", 5), 0);
    struct buf in = BUF_INIT;
    put_client_frame(&in, true, WS_OP_PING, "p", 1, LEN_AUTO);
    assert_int_equal(ws_decode(&d, buf_data(&in), buf_len(&in), &out, &ev), 7);
    assert_int_equal(ev.type, WS_EV_PING);
    buf_free(&in);
    buf_free(&all);
    buf_free(&out);
}

static void test_max_message(void **state)
{
    (void)state;
    const uint64_t max = 100;
    uint8_t p[101];
    memset(p, 0xab, sizeof p);
    struct buf in = BUF_INIT;
    struct buf out = BUF_INIT;

    /* a single frame exactly at the limit, twice (the count restarts per message) */
    put_client_frame(&in, true, WS_OP_BINARY, p, 100, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_BINARY, p, 100, LEN_AUTO);
    assert_int_equal(decode_all(buf_data(&in), buf_len(&in), max, &out), 0);
    assert_int_equal(buf_len(&out), 200);
    buf_clear(&in);
    buf_clear(&out);

    /* limit + 1 in one frame */
    put_client_frame(&in, true, WS_OP_BINARY, p, 101, LEN_AUTO);
    assert_int_equal(decode_all(buf_data(&in), buf_len(&in), max, &out), -WS_CLOSE_TOO_BIG);
    assert_int_equal(buf_len(&out), 0);
    buf_clear(&in);

    /* fragments summing to the limit, with a ping between them */
    put_client_frame(&in, false, WS_OP_BINARY, p, 60, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_PING, NULL, 0, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, p, 40, LEN_AUTO);
    assert_int_equal(decode_all(buf_data(&in), buf_len(&in), max, &out), 0);
    assert_int_equal(buf_len(&out), 100);
    buf_clear(&in);
    buf_clear(&out);

    /* fragments summing to limit + 1 */
    put_client_frame(&in, false, WS_OP_BINARY, p, 60, LEN_AUTO);
    put_client_frame(&in, false, WS_OP_CONT, p, 40, LEN_AUTO);
    put_client_frame(&in, true, WS_OP_CONT, p, 1, LEN_AUTO);
    expect_error(&in, -WS_CLOSE_TOO_BIG, max);

    /* limit+1 with the limit checked at every split */
    put_client_frame(&in, true, WS_OP_BINARY, p, 101, LEN_AUTO);
    expect_error(&in, -WS_CLOSE_TOO_BIG, max);
    buf_free(&out);
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void test_frame_header(void **state)
{
    (void)state;
    uint8_t h[10];
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 0), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 0);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 126), 4);
    const uint8_t e126[] = {0x82, 126, 0x00, 0x7e};
    assert_memory_equal(h, e126, 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65535), 4);
    const uint8_t e65535[] = {0x82, 126, 0xff, 0xff};
    assert_memory_equal(h, e65535, 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65536), 10);
    const uint8_t e65536[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h, e65536, 10);
    assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, 2), 2);
    assert_int_equal(h[0], 0x88);
    assert_int_equal(h[1] & 0x80, 0); /* never masked */
}

static void test_put_frame(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(ws_put_frame(&b, WS_OP_BINARY, hs_payload, 14), 0);
    assert_int_equal(buf_len(&b), 16);
    assert_int_equal(buf_data(&b)[0], 0x82);
    assert_int_equal(buf_data(&b)[1], 14);
    assert_memory_equal(buf_data(&b) + 2, hs_payload, 14);
    buf_clear(&b);

    uint8_t big[300];
    memset(big, 1, sizeof big);
    assert_int_equal(ws_put_frame(&b, WS_OP_BINARY, big, sizeof big), 0);
    assert_int_equal(buf_len(&b), 304);
    assert_int_equal(buf_data(&b)[1], 126);
    buf_clear(&b);

    const uint8_t code[2] = {0x03, 0xe8};
    assert_int_equal(ws_put_frame(&b, WS_OP_CLOSE, code, 2), 0);
    const uint8_t eclose[] = {0x88, 0x02, 0x03, 0xe8};
    assert_int_equal(buf_len(&b), 4);
    assert_memory_equal(buf_data(&b), eclose, 4);
    assert_int_equal(ws_put_frame(&b, WS_OP_PONG, NULL, 0), 0);
    assert_int_equal(buf_len(&b), 6);
    assert_int_equal(ws_put_frame(&b, WS_OP_PING, big, 126), -EINVAL);
    assert_int_equal(buf_len(&b), 6);

    /* a frame that does not fit under the cap leaves the buffer unchanged */
    b.cap_limit = 10;
    assert_int_equal(ws_put_frame(&b, WS_OP_BINARY, big, 5), -ENOBUFS);
    assert_int_equal(buf_len(&b), 6);
    buf_free(&b);
}

/* A server frame masked by the test decodes back to its payload. */
static void test_roundtrip(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, 125, 126, 65535, 65536};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        uint8_t *p = malloc(n + 1);
        assert_non_null(p);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(i * 31);
        struct buf b = BUF_INIT;
        assert_int_equal(ws_put_frame(&b, WS_OP_BINARY, p, n), 0);
        /* turn it into a client frame: set the mask bit, insert a key, mask the payload */
        uint8_t *f = buf_data(&b);
        size_t hl = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
        assert_int_equal(buf_len(&b), hl + n);
        struct buf c = BUF_INIT;
        assert_int_equal(buf_put_u8(&c, f[0]), 0);
        assert_int_equal(buf_put_u8(&c, (uint8_t)(f[1] | 0x80)), 0);
        assert_int_equal(buf_append(&c, f + 2, hl - 2), 0);
        assert_int_equal(buf_append(&c, mask_key, 4), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(buf_put_u8(&c, (uint8_t)(f[hl + i] ^ mask_key[i % 4])), 0);
        struct buf out = BUF_INIT;
        assert_int_equal(decode_all(buf_data(&c), buf_len(&c), 0, &out), 0);
        assert_int_equal(buf_len(&out), n);
        if (n)
            assert_memory_equal(buf_data(&out), p, n);
        buf_free(&out);
        buf_free(&c);
        buf_free(&b);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc6455),
        cmocka_unit_test(test_accept_freerdp_key),
        cmocka_unit_test(test_accept_bad_args),
        cmocka_unit_test(test_handshake_frame),
        cmocka_unit_test(test_len16),
        cmocka_unit_test(test_len64),
        cmocka_unit_test(test_fragmented_with_ping),
        cmocka_unit_test(test_two_packets_one_frame),
        cmocka_unit_test(test_control_events),
        cmocka_unit_test(test_empty_data_frames),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_enobufs),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_frame_header),
        cmocka_unit_test(test_put_frame),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
