/* Unit tests for UTF-16LE <-> UTF-8 conversion and the NTLM upper-casing (src/core/utf16.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/utf16.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------- utf16le_to_utf8 ---------- */

struct to8_case {
    const char *name;
    const char *in; /* UTF-16LE bytes */
    size_t len;
    size_t outsz;
    int rc;          /* length, or negative errno */
    const char *out; /* expected UTF-8 */
};

#define U16(s) s, sizeof(s) - 1

static const struct to8_case to8_cases[] = {
    {"empty", U16(""), 16, 0, ""},
    {"empty, outsz 1", U16(""), 1, 0, ""},
    {"ASCII", U16("A\0B\0c\0"), 16, 3, "ABc"},
    {"trailing NUL dropped", U16("A\0B\0\0\0"), 16, 2, "AB"},
    {"only a NUL", U16("\0\0"), 16, 0, ""},
    {"two NULs", U16("\0\0\0\0"), 16, -EINVAL, NULL},
    {"NUL then text", U16("\0\0A\0"), 16, -EINVAL, NULL},
    {"embedded NUL", U16("A\0\0\0B\0"), 16, -EINVAL, NULL},
    {"embedded NUL before trailing", U16("A\0\0\0B\0\0\0"), 16, -EINVAL, NULL},
    {"U+0080", U16("\x80\x00"), 16, 2, "\xc2\x80"},
    {"e acute", U16("\xe9\x00"), 16, 2, "\xc3\xa9"},
    {"U+07FF", U16("\xff\x07"), 16, 2, "\xdf\xbf"},
    {"U+0800", U16("\x00\x08"), 16, 3, "\xe0\xa0\x80"},
    {"euro", U16("\xac\x20"), 16, 3, "\xe2\x82\xac"},
    {"U+D7FF", U16("\xff\xd7"), 16, 3, "\xed\x9f\xbf"},
    {"U+E000", U16("\x00\xe0"), 16, 3, "\xee\x80\x80"},
    {"U+FFFF", U16("\xff\xff"), 16, 3, "\xef\xbf\xbf"},
    {"U+10000", U16("\x00\xd8\x00\xdc"), 16, 4, "\xf0\x90\x80\x80"},
    {"U+1F600", U16("\x3d\xd8\x00\xde"), 16, 4, "\xf0\x9f\x98\x80"},
    {"U+10FFFF", U16("\xff\xdb\xff\xdf"), 16, 4, "\xf4\x8f\xbf\xbf"},
    {"pair between text",
     U16("a\0\x3d\xd8\x00\xde"
         "b\0"),
     16, 6,
     "a\xf0\x9f\x98\x80"
     "b"},
    {"pair then trailing NUL", U16("\x3d\xd8\x00\xde\0\0"), 16, 4, "\xf0\x9f\x98\x80"},
    {"high surrogate at end", U16("A\0\x3d\xd8"), 16, -EINVAL, NULL},
    {"high surrogate before NUL", U16("\x3d\xd8\0\0"), 16, -EINVAL, NULL},
    {"high surrogate then ASCII",
     U16("\x3d\xd8"
         "A\0"),
     16, -EINVAL, NULL},
    {"high then high", U16("\x3d\xd8\x3d\xd8\x00\xde"), 16, -EINVAL, NULL},
    {"lone low surrogate", U16("\x00\xde"), 16, -EINVAL, NULL},
    {"low then high", U16("\x00\xdc\x00\xd8"), 16, -EINVAL, NULL},
    {"low surrogate after text", U16("A\0\xff\xdf"), 16, -EINVAL, NULL},
    {"odd length", U16("A\0B"), 16, -EINVAL, NULL},
    {"one byte", U16("A"), 16, -EINVAL, NULL},
    {"outsz 0", U16("A\0"), 0, -EINVAL, NULL},
    {"fits exactly", U16("A\0B\0"), 3, 2, "AB"},
    {"one short", U16("A\0B\0"), 2, -ENOSPC, NULL},
    {"no room at all", U16("A\0"), 1, -ENOSPC, NULL},
    {"2-byte fits", U16("\xe9\x00"), 3, 2, "\xc3\xa9"},
    {"2-byte short", U16("\xe9\x00"), 2, -ENOSPC, NULL},
    {"3-byte fits", U16("\xac\x20"), 4, 3, "\xe2\x82\xac"},
    {"3-byte short", U16("\xac\x20"), 3, -ENOSPC, NULL},
    {"4-byte fits", U16("\x3d\xd8\x00\xde"), 5, 4, "\xf0\x9f\x98\x80"},
    {"4-byte short", U16("\x3d\xd8\x00\xde"), 4, -ENOSPC, NULL},
    {"trailing NUL needs no room", U16("A\0B\0\0\0"), 3, 2, "AB"},
};

static void test_to_utf8_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(to8_cases); i++) {
        const struct to8_case *c = &to8_cases[i];
        char out[64];
        memset(out, 0x5a, sizeof out);
        int rc = utf16le_to_utf8((const uint8_t *)c->in, c->len, out, c->outsz);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", c->name, rc, c->rc);
        if (rc >= 0) {
            if (strcmp(out, c->out) != 0)
                fail_msg("%s: output differs", c->name);
            assert_int_equal(strlen(out), (size_t)rc);
        }
        /* nothing is ever written past outsz */
        for (size_t k = c->outsz; k < sizeof out; k++)
            if (out[k] != 0x5a)
                fail_msg("%s: wrote byte %zu with outsz %zu", c->name, k, c->outsz);
    }
}

/* Every BMP code point outside the surrogates converts, and back. */
static void test_bmp_round_trip(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (uint32_t cp = 1; cp <= 0xFFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        uint8_t in[2] = {(uint8_t)cp, (uint8_t)(cp >> 8)};
        char out[8];
        int rc = utf16le_to_utf8(in, 2, out, sizeof out);
        int want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
        if (rc != want)
            fail_msg("U+%04X: %d bytes", cp, rc);
        buf_clear(&b);
        assert_int_equal(utf8_to_utf16le(&b, out), 0);
        assert_int_equal(buf_len(&b), 2);
        if (memcmp(buf_data(&b), in, 2) != 0)
            fail_msg("U+%04X does not round-trip", cp);
    }
    buf_free(&b);
}

/* A sample of supplementary code points across all sixteen planes. */
static void test_supplementary_round_trip(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (uint32_t cp = 0x10000; cp <= 0x10FFFF; cp += (cp & 0xFFFF) == 0 ? 1 : 0x3FF) {
        uint32_t v = cp - 0x10000;
        uint16_t hi = (uint16_t)(0xD800 + (v >> 10)), lo = (uint16_t)(0xDC00 + (v & 0x3FF));
        uint8_t in[4] = {(uint8_t)hi, (uint8_t)(hi >> 8), (uint8_t)lo, (uint8_t)(lo >> 8)};
        char out[8];
        if (utf16le_to_utf8(in, 4, out, sizeof out) != 4)
            fail_msg("U+%06X failed", cp);
        buf_clear(&b);
        assert_int_equal(utf8_to_utf16le(&b, out), 0);
        assert_int_equal(buf_len(&b), 4);
        if (memcmp(buf_data(&b), in, 4) != 0)
            fail_msg("U+%06X does not round-trip", cp);
    }
    buf_free(&b);
}

/* ---------- utf8_to_utf16le ---------- */

struct to16_case {
    const char *name;
    const char *in;
    int rc;
    const char *out; /* UTF-16LE */
    size_t outlen;
};

static const struct to16_case to16_cases[] = {
    {"empty", "", 0, "", 0},
    {"ASCII", "Ab1", 0,
     "A\0b\0"
     "1\0",
     6},
    {"e acute", "\xc3\xa9", 0, "\xe9\x00", 2},
    {"U+0080", "\xc2\x80", 0, "\x80\x00", 2},
    {"U+07FF", "\xdf\xbf", 0, "\xff\x07", 2},
    {"U+0800", "\xe0\xa0\x80", 0, "\x00\x08", 2},
    {"euro", "\xe2\x82\xac", 0, "\xac\x20", 2},
    {"U+D7FF", "\xed\x9f\xbf", 0, "\xff\xd7", 2},
    {"U+E000", "\xee\x80\x80", 0, "\x00\xe0", 2},
    {"U+FFFF", "\xef\xbf\xbf", 0, "\xff\xff", 2},
    {"U+10000", "\xf0\x90\x80\x80", 0, "\x00\xd8\x00\xdc", 4},
    {"U+1F600", "\xf0\x9f\x98\x80", 0, "\x3d\xd8\x00\xde", 4},
    {"U+10FFFF", "\xf4\x8f\xbf\xbf", 0, "\xff\xdb\xff\xdf", 4},
    {"mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 0,
     "a\0\xe9\x00\xac\x20\x3d\xd8\x00\xde"
     "z\0",
     12},
    {"lone continuation", "\x80", -EINVAL, NULL, 0},
    {"continuation after ASCII", "a\xbf", -EINVAL, NULL, 0},
    {"truncated 2-byte", "\xc3", -EINVAL, NULL, 0},
    {"truncated 3-byte", "\xe2\x82", -EINVAL, NULL, 0},
    {"truncated 4-byte", "\xf0\x9f\x98", -EINVAL, NULL, 0},
    {"2-byte with ASCII tail",
     "\xc3"
     "A",
     -EINVAL, NULL, 0},
    {"overlong NUL", "\xc0\x80", -EINVAL, NULL, 0},
    {"overlong slash", "\xc0\xaf", -EINVAL, NULL, 0},
    {"overlong 2-byte C1", "\xc1\xbf", -EINVAL, NULL, 0},
    {"overlong 3-byte", "\xe0\x80\xaf", -EINVAL, NULL, 0},
    {"overlong 3-byte max", "\xe0\x9f\xbf", -EINVAL, NULL, 0},
    {"overlong 4-byte", "\xf0\x80\x80\xaf", -EINVAL, NULL, 0},
    {"overlong 4-byte max", "\xf0\x8f\xbf\xbf", -EINVAL, NULL, 0},
    {"high surrogate", "\xed\xa0\x80", -EINVAL, NULL, 0},
    {"low surrogate", "\xed\xbf\xbf", -EINVAL, NULL, 0},
    {"CESU pair", "\xed\xa0\xbd\xed\xb8\x80", -EINVAL, NULL, 0},
    {"above U+10FFFF", "\xf4\x90\x80\x80", -EINVAL, NULL, 0},
    {"F5 lead", "\xf5\x80\x80\x80", -EINVAL, NULL, 0},
    {"5-byte", "\xf8\x88\x80\x80\x80", -EINVAL, NULL, 0},
    {"6-byte", "\xfc\x84\x80\x80\x80\x80", -EINVAL, NULL, 0},
    {"FE", "\xfe", -EINVAL, NULL, 0},
    {"FF", "\xff", -EINVAL, NULL, 0},
    {"bad after good", "ok\xff", -EINVAL, NULL, 0},
};

static void test_to_utf16_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(to16_cases); i++) {
        const struct to16_case *c = &to16_cases[i];
        struct buf b = BUF_INIT;
        assert_int_equal(buf_append(&b, "PRE", 3), 0); /* appends, never overwrites */
        int rc = utf8_to_utf16le(&b, c->in);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", c->name, rc, c->rc);
        assert_memory_equal(buf_data(&b), "PRE", 3);
        if (rc == 0) {
            if (buf_len(&b) != 3 + c->outlen || memcmp(buf_data(&b) + 3, c->out, c->outlen))
                fail_msg("%s: output differs (%zu bytes)", c->name, buf_len(&b) - 3);
            /* and back */
            char back[64];
            assert_int_equal(utf16le_to_utf8(buf_data(&b) + 3, c->outlen, back, sizeof back),
                             (int)strlen(c->in));
            assert_string_equal(back, c->in);
        }
        buf_free(&b);
    }
}

static void test_to_utf16_limit(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    b.cap_limit = 4;
    assert_int_equal(utf8_to_utf16le(&b, "ab"), 0);
    assert_int_equal(buf_len(&b), 4);
    assert_int_equal(utf8_to_utf16le(&b, "c"), -ENOBUFS);
    buf_free(&b);
    /* a surrogate pair needs four bytes of room */
    b.cap_limit = 5;
    assert_int_equal(utf8_to_utf16le(&b, "a\xf0\x9f\x98\x80"), -ENOBUFS);
    buf_free(&b);
    b.cap_limit = 6;
    assert_int_equal(utf8_to_utf16le(&b, "a\xf0\x9f\x98\x80"), 0);
    assert_int_equal(buf_len(&b), 6);
    buf_free(&b);
    b.cap_limit = 6;
    assert_int_equal(utf8_to_utf16le(&b, "\xf0\x9f\x98\x80"), 0);
    assert_int_equal(buf_len(&b), 4);
    buf_free(&b);
}

/* ---------- utf16le_upper ---------- */

struct upper_case {
    uint16_t in, out;
};

static const struct upper_case upper_cases[] = {
    {'a', 'A'},
    {'m', 'M'},
    {'z', 'Z'},
    {'A', 'A'},
    {'Z', 'Z'},
    {'0', '0'},
    {'9', '9'},
    {'`', '`'},
    {'{', '{'},
    {'@', '@'},
    {'[', '['},
    {'~', '~'},
    {' ', ' '},
    {0x00, 0x00},
    {0x7f, 0x7f},
    {0xE0, 0xC0},
    {0xE9, 0xC9},
    {0xF6, 0xD6},
    {0xF7, 0xF7}, /* division sign */
    {0xF8, 0xD8},
    {0xFE, 0xDE},
    {0xFF, 0x178},
    {0xC0, 0xC0},
    {0xC9, 0xC9},
    {0xD7, 0xD7}, /* multiplication sign */
    {0xDF, 0xDF}, /* sharp s: no single-unit upper case */
    {0xAA, 0xAA},
    {0xBF, 0xBF},
    {0x80, 0x80},
    {0xA0, 0xA0},
    /* the low byte of a wider unit is not a Latin-1 letter */
    {0x0161, 0x0161},
    {0x0141, 0x0141},
    {0x01E0, 0x01E0},
    {0x0178, 0x0178},
    {0x03B1, 0x03B1},
    {0x0430, 0x0430},
    {0x2061, 0x2061},
    {0xD83D, 0xD83D},
    {0xDE00, 0xDE00},
    {0xFF41, 0xFF41},
    {0xFFFF, 0xFFFF},
};

static void test_upper_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(upper_cases); i++) {
        uint8_t p[2] = {(uint8_t)upper_cases[i].in, (uint8_t)(upper_cases[i].in >> 8)};
        utf16le_upper(p, 2);
        uint16_t got = (uint16_t)(p[0] | p[1] << 8);
        if (got != upper_cases[i].out)
            fail_msg("upper(U+%04X) = U+%04X, want U+%04X", upper_cases[i].in, got,
                     upper_cases[i].out);
    }
}

static void test_upper_strings(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(utf8_to_utf16le(&b, "user@Dom\xc3\xa4in-\xc3\xbf\xc3\x9f!"), 0);
    size_t len = buf_len(&b);
    uint8_t *p = malloc(len + 1);
    assert_non_null(p);
    memcpy(p, buf_data(&b), len);
    p[len] = 0x61; /* an odd trailing byte is left alone */
    utf16le_upper(p, len + 1);
    assert_int_equal(p[len], 0x61);
    buf_clear(&b);
    assert_int_equal(utf8_to_utf16le(&b, "USER@DOM\xc3\x84IN-\xc5\xb8\xc3\x9f!"), 0);
    assert_int_equal(buf_len(&b), len);
    assert_memory_equal(p, buf_data(&b), len);
    /* idempotent */
    utf16le_upper(p, len);
    assert_memory_equal(p, buf_data(&b), len);
    /* zero and one byte: nothing happens */
    uint8_t one = 'a';
    utf16le_upper(&one, 1);
    assert_int_equal(one, 'a');
    utf16le_upper(&one, 0);
    free(p);
    buf_free(&b);
}

/* Every unit: only a-z and the Latin-1 small letters change. */
static void test_upper_exhaustive(void **state)
{
    (void)state;
    for (uint32_t u = 0; u <= 0xFFFF; u++) {
        uint8_t p[2] = {(uint8_t)u, (uint8_t)(u >> 8)};
        utf16le_upper(p, 2);
        uint32_t got = (uint32_t)(p[0] | p[1] << 8);
        uint32_t want = u;
        if (u >= 'a' && u <= 'z')
            want = u - 0x20;
        else if (u >= 0xE0 && u <= 0xFE && u != 0xF7)
            want = u - 0x20;
        else if (u == 0xFF)
            want = 0x178;
        if (got != want)
            fail_msg("upper(U+%04X) = U+%04X", u, got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_utf8_table),
        cmocka_unit_test(test_bmp_round_trip),
        cmocka_unit_test(test_supplementary_round_trip),
        cmocka_unit_test(test_to_utf16_table),
        cmocka_unit_test(test_to_utf16_limit),
        cmocka_unit_test(test_upper_table),
        cmocka_unit_test(test_upper_strings),
        cmocka_unit_test(test_upper_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
