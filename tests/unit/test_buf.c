/* Unit tests for the byte buffer (src/core/buf.c): growth, cap_limit at its exact edge,
 * consume and compaction, printf, little-endian writers, and a randomized model check. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

static void test_empty(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_null(buf_data(&b));
    assert_null(buf_tail(&b));
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(buf_room(&b), SIZE_MAX);
    assert_int_equal(buf_append(&b, NULL, 0), 0); /* nothing to copy: no allocation */
    assert_null(b.p);
    assert_int_equal(buf_append_str(&b, ""), 0);
    assert_null(b.p);
    buf_consume(&b, 0);
    buf_consume(&b, 5);
    buf_clear(&b);
    buf_shrink_if_empty(&b);
    buf_free(&b);
    buf_free(&b);
    assert_int_equal(buf_len(&b), 0);
}

static void test_append_and_grow(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    uint8_t src[5000];
    fill(src, sizeof src, 1);
    size_t total = 0;
    static const size_t steps[] = {1, 255, 1, 1, 500, 1000, 2242};
    for (size_t i = 0; i < N(steps); i++) {
        assert_int_equal(buf_append(&b, src + total, steps[i]), 0);
        total += steps[i];
        assert_int_equal(buf_len(&b), total);
        assert_true(b.cap >= total);
        assert_int_equal(b.cap & (b.cap - 1), 0); /* doubles from 256 */
        assert_memory_equal(buf_data(&b), src, total);
    }
    assert_int_equal(total, 4000);
    assert_int_equal(b.cap, 4096);
    buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    /* reusable after free */
    assert_int_equal(buf_append_str(&b, "again"), 0);
    assert_int_equal(buf_len(&b), 5);
    assert_memory_equal(buf_data(&b), "again", 5);
    buf_free(&b);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(buf_reserve(&b, 10), 0);
    assert_true(b.cap >= 10);
    assert_int_equal(buf_len(&b), 0);
    memcpy(buf_tail(&b), "0123456789", 10);
    buf_commit(&b, 10);
    assert_int_equal(buf_len(&b), 10);
    assert_memory_equal(buf_data(&b), "0123456789", 10);
    /* reserving what is already there does not move the data */
    uint8_t *p = b.p;
    assert_int_equal(buf_reserve(&b, 1), 0);
    assert_ptr_equal(b.p, p);
    /* absurd sizes fail cleanly */
    assert_int_equal(buf_reserve(&b, SIZE_MAX), -ENOMEM);
    assert_int_equal(buf_reserve(&b, SIZE_MAX / 2), -ENOMEM);
    assert_int_equal(buf_len(&b), 10);
    assert_memory_equal(buf_data(&b), "0123456789", 10);
    buf_free(&b);
}

static void test_consume_and_compaction(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    uint8_t src[256];
    fill(src, sizeof src, 3);
    assert_int_equal(buf_append(&b, src, 200), 0);
    assert_int_equal(b.cap, 256);
    uint8_t *p = b.p;
    buf_consume(&b, 150);
    assert_int_equal(buf_len(&b), 50);
    assert_memory_equal(buf_data(&b), src + 150, 50);
    /* 50 + 150 fits the 256 bytes once the consumed front is reclaimed: no reallocation */
    assert_int_equal(buf_append(&b, src, 150), 0);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, 256);
    assert_int_equal(b.start, 0);
    assert_int_equal(buf_len(&b), 200);
    assert_memory_equal(buf_data(&b), src + 150, 50);
    assert_memory_equal(buf_data(&b) + 50, src, 150);
    /* a tail that still fits after the end needs no compaction */
    buf_consume(&b, 10);
    assert_int_equal(buf_append(&b, src, 56), 0);
    assert_int_equal(b.start, 10);
    assert_int_equal(buf_len(&b), 246);
    /* consuming everything resets the offsets */
    buf_consume(&b, buf_len(&b));
    assert_int_equal(b.start, 0);
    assert_int_equal(b.end, 0);
    assert_non_null(b.p);
    /* consuming more than there is, too */
    assert_int_equal(buf_append(&b, src, 5), 0);
    buf_consume(&b, 1000);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(b.start, 0);
    buf_shrink_if_empty(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    /* non-empty buffers keep their storage */
    assert_int_equal(buf_append(&b, src, 5), 0);
    buf_shrink_if_empty(&b);
    assert_non_null(b.p);
    buf_clear(&b);
    assert_int_equal(buf_len(&b), 0);
    assert_non_null(b.p);
    buf_free(&b);
}

/* cap_limit: appends up to exactly the limit succeed, one byte more is -ENOBUFS and leaves the
 * buffer as it was. */
struct limit_case {
    size_t limit;
    size_t prefill;
    size_t consume;
    size_t n;
    int rc;
};

static const struct limit_case limit_cases[] = {
    {100, 0, 0, 100, 0},
    {100, 0, 0, 101, -ENOBUFS},
    {100, 60, 0, 40, 0},
    {100, 60, 0, 41, -ENOBUFS},
    {100, 60, 30, 70, 0},
    {100, 60, 30, 71, -ENOBUFS},
    {100, 100, 0, 1, -ENOBUFS},
    {100, 100, 0, 0, 0},
    {100, 100, 100, 100, 0},
    {1, 0, 0, 1, 0},
    {1, 0, 0, 2, -ENOBUFS},
    {300, 256, 0, 44, 0}, /* growth clamps to the limit instead of doubling to 512 */
    {300, 256, 0, 45, -ENOBUFS},
    {4096, 4000, 3000, 3096, 0},
    {4096, 4000, 3000, 3097, -ENOBUFS},
};

static void test_cap_limit_edges(void **state)
{
    (void)state;
    static uint8_t src[8192];
    fill(src, sizeof src, 9);
    for (size_t i = 0; i < N(limit_cases); i++) {
        const struct limit_case *c = &limit_cases[i];
        struct buf b = BUF_INIT;
        b.cap_limit = c->limit;
        assert_int_equal(buf_append(&b, src, c->prefill), 0);
        buf_consume(&b, c->consume);
        size_t len = buf_len(&b);
        assert_int_equal(buf_room(&b), c->limit - len);
        int rc = buf_append(&b, src + 1000, c->n);
        if (rc != c->rc)
            fail_msg("case %zu: append %zu with limit %zu, len %zu: %d, want %d", i, c->n, c->limit,
                     len, rc, c->rc);
        if (rc == 0) {
            assert_int_equal(buf_len(&b), len + c->n);
            assert_memory_equal(buf_data(&b) + len, src + 1000, c->n);
        } else {
            assert_int_equal(buf_len(&b), len);
        }
        assert_memory_equal(buf_data(&b), src + c->consume, len);
        if (b.cap > c->limit)
            fail_msg("case %zu: cap %zu above limit %zu", i, b.cap, c->limit);
        /* buf_reserve agrees with append */
        assert_int_equal(buf_reserve(&b, buf_room(&b)), 0);
        assert_int_equal(buf_reserve(&b, buf_room(&b) + 1), -ENOBUFS);
        buf_free(&b);
    }
}

static void test_room(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    b.cap_limit = 10;
    assert_int_equal(buf_room(&b), 10);
    assert_int_equal(buf_append(&b, "abcdefghij", 10), 0);
    assert_int_equal(buf_room(&b), 0);
    buf_consume(&b, 3);
    assert_int_equal(buf_room(&b), 3);
    assert_int_equal(buf_append(&b, "xyz", 3), 0);
    assert_int_equal(buf_room(&b), 0);
    assert_memory_equal(buf_data(&b), "defghijxyz", 10);
    assert_int_equal(b.cap, 10);
    /* lowering the limit below the content: no room, no crash */
    b.cap_limit = 5;
    assert_int_equal(buf_room(&b), 0);
    assert_int_equal(buf_append(&b, "q", 1), -ENOBUFS);
    b.cap_limit = 0;
    assert_int_equal(buf_room(&b), SIZE_MAX);
    buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(buf_printf(&b, "%s=%d;", "a", 1), 0);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_int_equal(buf_printf(&b, "%05u|%x|%c", 42u, 255u, 'z'), 0);
    static const char want[] = "a=1;00042|ff|z";
    assert_int_equal(buf_len(&b), strlen(want)); /* no NUL counted */
    assert_memory_equal(buf_data(&b), want, strlen(want));
    /* long output grows the buffer */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(buf_len(&b), strlen(want) + 2 + sizeof big - 1);
    assert_int_equal(buf_data(&b)[strlen(want)], '[');
    assert_int_equal(buf_data(&b)[buf_len(&b) - 1], ']');
    /* printing after a consume appends at the end */
    buf_consume(&b, buf_len(&b) - 1);
    assert_int_equal(buf_printf(&b, "%d", -7), 0);
    assert_int_equal(buf_len(&b), 3);
    assert_memory_equal(buf_data(&b), "]-7", 3);
    buf_free(&b);
}

static void test_printf_limit(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    b.cap_limit = 10;
    assert_int_equal(buf_printf(&b, "%s", "012345678"), 0); /* 9 bytes */
    assert_int_equal(buf_len(&b), 9);
    assert_int_equal(buf_printf(&b, "%s", "ab"), -ENOBUFS);
    assert_int_equal(buf_len(&b), 9);
    assert_memory_equal(buf_data(&b), "012345678", 9);
    buf_free(&b);

    /* exactly buf_room() bytes of output fit, as they do with buf_append */
    struct buf c = BUF_INIT;
    c.cap_limit = 10;
    assert_int_equal(buf_append(&c, "0123456789", 10), 0);
    buf_free(&c);
    c.cap_limit = 10;
    int rc = buf_printf(&c, "%s", "0123456789");
    size_t len = buf_len(&c);
    bool same = len == 10 && memcmp(buf_data(&c), "0123456789", 10) == 0;
    buf_free(&c);
    if (rc != 0)
        fail_msg("BUG buf.c buf_printf: reserves n + 1 bytes for vsnprintf's NUL, so output of "
                 "exactly buf_room() bytes fails with %d (buf_append of the same bytes succeeds)",
                 rc);
    assert_true(same);
}

struct le_case {
    int width; /* 8, 16, 32, 64 */
    uint64_t v;
    uint8_t bytes[8];
};

static const struct le_case le_cases[] = {
    {8, 0x00, {0x00}},
    {8, 0xff, {0xff}},
    {16, 0x0000, {0x00, 0x00}},
    {16, 0x1234, {0x34, 0x12}},
    {16, 0xffff, {0xff, 0xff}},
    {16, 0x8001, {0x01, 0x80}},
    {32, 0x00000000, {0, 0, 0, 0}},
    {32, 0x12345678, {0x78, 0x56, 0x34, 0x12}},
    {32, 0xffffffff, {0xff, 0xff, 0xff, 0xff}},
    {32, 0x80000001, {0x01, 0x00, 0x00, 0x80}},
    {64, 0, {0, 0, 0, 0, 0, 0, 0, 0}},
    {64, 0x0102030405060708ull, {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}},
    {64, UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    {64, 0x8000000000000001ull, {0x01, 0, 0, 0, 0, 0, 0, 0x80}},
};

static int put(struct buf *b, int width, uint64_t v)
{
    switch (width) {
    case 8:
        return buf_put_u8(b, (uint8_t)v);
    case 16:
        return buf_put_u16le(b, (uint16_t)v);
    case 32:
        return buf_put_u32le(b, (uint32_t)v);
    default:
        return buf_put_u64le(b, v);
    }
}

static void test_le_writers(void **state)
{
    (void)state;
    struct buf all = BUF_INIT;
    uint8_t expect[256];
    size_t elen = 0;
    for (size_t i = 0; i < N(le_cases); i++) {
        const struct le_case *c = &le_cases[i];
        size_t w = (size_t)c->width / 8;
        struct buf b = BUF_INIT;
        assert_int_equal(put(&b, c->width, c->v), 0);
        assert_int_equal(buf_len(&b), w);
        if (memcmp(buf_data(&b), c->bytes, w) != 0)
            fail_msg("case %zu: u%d 0x%llx encoded wrongly", i, c->width, (unsigned long long)c->v);
        buf_free(&b);
        /* and in sequence, after other data */
        assert_int_equal(put(&all, c->width, c->v), 0);
        memcpy(expect + elen, c->bytes, w);
        elen += w;
    }
    assert_int_equal(buf_len(&all), elen);
    assert_memory_equal(buf_data(&all), expect, elen);
    buf_free(&all);
}

/* At the limit the writers fail with -ENOBUFS and write nothing. */
static void test_le_writers_limit(void **state)
{
    (void)state;
    static const int widths[] = {8, 16, 32, 64};
    for (size_t wi = 0; wi < N(widths); wi++) {
        size_t w = (size_t)widths[wi] / 8;
        for (size_t room = 0; room <= 8; room++) {
            struct buf b = BUF_INIT;
            b.cap_limit = 16;
            uint8_t pre[16];
            fill(pre, sizeof pre, 5);
            assert_int_equal(buf_append(&b, pre, 16 - room), 0);
            int rc = put(&b, widths[wi], 0x1122334455667788ull);
            if (room >= w) {
                assert_int_equal(rc, 0);
                assert_int_equal(buf_len(&b), 16 - room + w);
            } else {
                assert_int_equal(rc, -ENOBUFS);
                size_t extra = buf_len(&b) - (16 - room);
                if (extra) {
                    buf_free(&b);
                    fail_msg("BUG buf.c buf_put_u64le: u%d with %zu bytes of room failed but "
                             "left %zu partial bytes in the buffer (two 4-byte appends)",
                             widths[wi], room, extra);
                }
            }
            assert_memory_equal(buf_data(&b), pre, 16 - room);
            buf_free(&b);
        }
    }
}

/* Random appends, consumes, clears and shrinks against a flat model of the contents. */
static void test_model(void **state)
{
    (void)state;
    enum { MODEL = 1 << 16 };
    uint8_t *model = malloc(MODEL);
    uint8_t *src = malloc(MODEL);
    assert_non_null(model);
    assert_non_null(src);
    fill(src, MODEL, 11);
    for (int limited = 0; limited < 2; limited++) {
        struct buf b = BUF_INIT;
        b.cap_limit = limited ? 5000 : 0;
        size_t mlen = 0;
        uint32_t x = 99u + (uint32_t)limited;
        for (int op = 0; op < 20000; op++) {
            x = x * 1103515245u + 12345u;
            unsigned r = (x >> 8) % 100;
            if (r < 55) {
                size_t n = (x >> 16) % 700;
                size_t off = (x >> 4) % (MODEL - 700);
                int rc = buf_append(&b, src + off, n);
                if (limited && mlen + n > b.cap_limit) {
                    assert_int_equal(rc, -ENOBUFS);
                } else {
                    assert_int_equal(rc, 0);
                    if (mlen + n > MODEL)
                        break;
                    memcpy(model + mlen, src + off, n);
                    mlen += n;
                }
            } else if (r < 90) {
                size_t n = mlen ? (x >> 16) % (mlen + 1) : 0;
                buf_consume(&b, n);
                memmove(model, model + n, mlen - n);
                mlen -= n;
            } else if (r < 93) {
                buf_clear(&b);
                mlen = 0;
            } else if (r < 96) {
                buf_shrink_if_empty(&b);
            } else {
                char tmp[32];
                int k = snprintf(tmp, sizeof tmp, "<%u>", x);
                int rc = buf_printf(&b, "<%u>", x);
                if (rc == 0) {
                    memcpy(model + mlen, tmp, (size_t)k);
                    mlen += (size_t)k;
                } else {
                    assert_true(limited);
                }
            }
            assert_int_equal(buf_len(&b), mlen);
            if (mlen && memcmp(buf_data(&b), model, mlen) != 0)
                fail_msg("contents differ from the model after op %d", op);
            if (limited && b.cap > b.cap_limit)
                fail_msg("cap %zu above limit", b.cap);
            assert_true(b.start <= b.end && b.end <= b.cap);
        }
        buf_free(&b);
    }
    free(model);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),           cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_reserve_commit),  cmocka_unit_test(test_consume_and_compaction),
        cmocka_unit_test(test_cap_limit_edges), cmocka_unit_test(test_room),
        cmocka_unit_test(test_printf),          cmocka_unit_test(test_printf_limit),
        cmocka_unit_test(test_le_writers),      cmocka_unit_test(test_le_writers_limit),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
