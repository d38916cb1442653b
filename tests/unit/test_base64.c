/* Unit tests for base64_decode / base64_encode (src/core/util.c): the RFC 4648 §10 vectors,
 * padding rules, invalid characters anywhere, the output cap, and round trips of every length
 * up to 300 bytes checked against a per-character reference decoder written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"

static int dec(const char *s, uint8_t *out, size_t outsz)
{
    return base64_decode(s, strlen(s), out, outsz);
}

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b64;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t out[16];
        char enc[16];
        int n = dec(v[i].b64, out, sizeof out);
        assert_int_equal(n, (int)strlen(v[i].plain));
        assert_memory_equal(out, v[i].plain, (size_t)n);
        size_t m = base64_encode((const uint8_t *)v[i].plain, strlen(v[i].plain), enc, sizeof enc);
        assert_int_equal(m, strlen(v[i].b64));
        assert_string_equal(enc, v[i].b64);
    }
}

static void test_padding(void **state)
{
    (void)state;
    uint8_t out[32];
    assert_int_equal(dec("Zg==", out, sizeof out), 1);
    assert_int_equal(dec("Zm8=", out, sizeof out), 2);
    assert_int_equal(dec("Zg=", out, sizeof out), -1);  /* length not a multiple of 4 */
    assert_int_equal(dec("Zg", out, sizeof out), -1);   /* padding is required */
    assert_int_equal(dec("Z===", out, sizeof out), -1); /* at most two '=' */
    assert_int_equal(dec("====", out, sizeof out), -1);
    assert_int_equal(dec("Zg=a", out, sizeof out), -1);     /* nothing after '=' */
    assert_int_equal(dec("Zg==Zm9v", out, sizeof out), -1); /* '=' only in the last quad */
    assert_int_equal(dec("Zm8=Zm9v", out, sizeof out), -1);
    assert_int_equal(dec("Zm9v=m9v", out, sizeof out), -1); /* '=' in a full quad */
    assert_int_equal(dec("Zm9vZm9vZm9vZ===", out, sizeof out), -1);
    assert_int_equal(dec("Zm9vZm9vZm9vZg==", out, sizeof out), 10);
}

static void test_invalid_characters(void **state)
{
    (void)state;
    uint8_t out[64];
    char s[25];
    /* every byte outside the alphabet, at every position of a 24-character input (first quads
     * and the last one alike) */
    for (int c = 0; c < 256; c++) {
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/';
        if (alpha || c == 0)
            continue;
        for (int pos = 0; pos < 24; pos++) {
            memset(s, 'A', 24);
            s[24] = 0;
            s[pos] = (char)c;
            int n = base64_decode(s, 24, out, sizeof out);
            if (c == '=' && (pos == 23 || pos == 22))
                assert_int_equal(n, pos == 23 ? 17 : -1); /* "AA=A" is invalid, "AAA=" not */
            else
                assert_int_equal(n, -1);
        }
    }
    /* an embedded NUL (the length is explicit) */
    assert_int_equal(base64_decode("Zm9v\0m9v", 8, out, sizeof out), -1);
    /* whitespace and the URL-safe alphabet are not base64 here */
    assert_int_equal(dec("Zm9v Zm9v", out, sizeof out), -1);
    assert_int_equal(dec("Zm9vYm-_", out, sizeof out), -1);
    assert_int_equal(dec("Zm9vYm+/", out, sizeof out), 6);
}

static void test_output_cap(void **state)
{
    (void)state;
    uint8_t out[8];
    /* "foobar" is 6 bytes: fits in 6, not in 5 */
    assert_int_equal(dec("Zm9vYmFy", out, 6), 6);
    assert_int_equal(dec("Zm9vYmFy", out, 5), -1);
    assert_int_equal(dec("Zm9vYmFy", out, 3), -1); /* over in a full quad */
    assert_int_equal(dec("Zm9vYg==", out, 4), 4);
    assert_int_equal(dec("Zm9vYg==", out, 3), -1); /* over in the padded quad */
    assert_int_equal(dec("Zm9vYmE=", out, 5), 5);
    assert_int_equal(dec("Zm9vYmE=", out, 4), -1);
    assert_int_equal(dec("", out, 0), 0);
    assert_int_equal(dec("Zg==", out, 0), -1);
    /* the output never goes past the cap: a canary right after it survives */
    uint8_t big[12];
    memset(big, 0xa5, sizeof big);
    assert_int_equal(dec("Zm9vYmFyYmF6", big, 8), -1);
    assert_int_equal(big[8], 0xa5);
}

/* Reference: one character at a time, with the same rules. */
static int ref_val(char c)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

static int ref_decode(const char *in, size_t len, uint8_t *out, size_t outsz)
{
    if (len % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            int v = 0;
            if (in[i + k] == '=') {
                if (i + 4 != len || k < 2)
                    return -1;
                pad++;
            } else if (pad || (v = ref_val(in[i + k])) < 0) {
                return -1;
            }
            w = (w << 6) | (uint32_t)v;
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (o >= outsz)
                return -1;
            out[o++] = (uint8_t)(w >> (16 - 8 * k));
        }
    }
    return (int)o;
}

static void test_round_trip_and_reference(void **state)
{
    (void)state;
    uint8_t plain[300], out[300], ref[300];
    char enc[420];
    uint32_t rng = 12345;
    for (size_t len = 0; len <= sizeof plain; len++) {
        for (size_t i = 0; i < len; i++) {
            rng = rng * 1103515245u + 12345u;
            plain[i] = (uint8_t)(rng >> 16);
        }
        size_t m = base64_encode(plain, len, enc, sizeof enc);
        assert_int_equal(m, (len + 2) / 3 * 4);
        assert_int_equal(base64_decode(enc, m, out, sizeof out), (int)len);
        assert_memory_equal(out, plain, len);
        /* caps around the exact size */
        if (len > 0)
            assert_int_equal(base64_decode(enc, m, out, len - 1), -1);
        /* one character changed to a random byte: the same answer as the reference */
        for (int t = 0; t < 8 && m > 0; t++) {
            char mut[420];
            memcpy(mut, enc, m);
            rng = rng * 1103515245u + 12345u;
            mut[(rng >> 8) % m] = (char)(rng >> 20);
            int a = base64_decode(mut, m, out, sizeof out);
            int b = ref_decode(mut, m, ref, sizeof ref);
            assert_int_equal(a, b);
            if (a > 0)
                assert_memory_equal(out, ref, (size_t)a);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),          cmocka_unit_test(test_padding),
        cmocka_unit_test(test_invalid_characters),       cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_round_trip_and_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
