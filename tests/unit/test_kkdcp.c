/* MS-KKDCP KDC-PROXY-MESSAGE codec: DER vectors by hand (X.690) and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/kkdcp.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        char b[3] = {h[0], h[1], 0};
        out[n++] = (uint8_t)strtoul(b, NULL, 16);
    }
    return n;
}

static int dec(const char *hex, struct kkdcp_request *m)
{
    static uint8_t b[4096];
    size_t n = unhex(hex, b);
    return kkdcp_decode(b, n, KKDCP_MAX_MESSAGE, m);
}

static void test_decode_ok(void **state)
{
    (void)state;
    struct kkdcp_request m;
    /* kerb-message 00000001 05, realm CONTOSO.TEST, hint 1 */
    assert_int_equal(dec("301ea00704050000000105a10e1b0c434f4e544f534f2e54455354a203020101", &m),
                     KKDCP_OK);
    assert_int_equal(m.kerb_len, 5);
    assert_memory_equal(m.kerb, "\0\0\0\1\5", 5);
    assert_string_equal(m.realm, "CONTOSO.TEST");
    assert_true(m.has_hint);
    assert_int_equal(m.hint, 1);
    /* without the optional fields */
    assert_int_equal(dec("3009a00704050000000105", &m), KKDCP_OK);
    assert_string_equal(m.realm, "");
    assert_false(m.has_hint);
    /* a negative hint */
    assert_int_equal(dec("300ea00704050000000105a203020180", &m), KKDCP_OK);
    assert_int_equal(m.hint, -128);
}

static void test_decode_errors(void **state)
{
    (void)state;
    struct kkdcp_request m;
    assert_int_equal(dec("", &m), KKDCP_ERR_DER);
    assert_int_equal(dec("3009a0070405000000010500", &m), KKDCP_ERR_DER);   /* trailing byte */
    assert_int_equal(dec("3080a00704050000000105", &m), KKDCP_ERR_DER);     /* indefinite */
    assert_int_equal(dec("308109a00704050000000105", &m), KKDCP_ERR_DER);   /* long form < 128 */
    assert_int_equal(dec("300aa00704050000000105", &m), KKDCP_ERR_DER);     /* length past end */
    assert_int_equal(dec("3109a00704050000000105", &m), KKDCP_ERR_DER);     /* SET */
    assert_int_equal(dec("3009a10704050000000105", &m), KKDCP_ERR_DER);     /* [1] first */
    assert_int_equal(dec("3009a00703050000000105", &m), KKDCP_ERR_DER);     /* BIT STRING */
    assert_int_equal(dec("300aa0080405000000010500", &m), KKDCP_ERR_DER);   /* junk in [0] */
    assert_int_equal(dec("3009a00704050000000205", &m), KKDCP_ERR_FRAMING); /* says 2, has 1 */
    assert_int_equal(dec("3008a006040400000000", &m), KKDCP_ERR_FRAMING);   /* empty message */
    assert_int_equal(dec("3009a00704058000000105", &m), KKDCP_ERR_FRAMING); /* reserved bit */
    /* realm: empty, control character */
    assert_int_equal(dec("300da00704050000000105a1021b00", &m), KKDCP_ERR_REALM);
    assert_int_equal(dec("300ea00704050000000105a1031b0141", &m), KKDCP_OK);
    assert_int_equal(dec("300ea00704050000000105a1031b0109", &m), KKDCP_ERR_REALM);
    /* realm as UTF8String instead of GeneralString */
    assert_int_equal(dec("300ea00704050000000105a1030c0141", &m), KKDCP_ERR_DER);
    /* hint: not minimal, too long, empty */
    assert_int_equal(dec("300fa00704050000000105a20402020001", &m), KKDCP_ERR_DER);
    assert_int_equal(dec("300da00704050000000105a2020200", &m), KKDCP_ERR_DER);
    /* fields out of order */
    assert_int_equal(dec("3011a00704050000000105a203020101a1031b0141", &m), KKDCP_ERR_DER);
}

static void test_caps(void **state)
{
    (void)state;
    /* a 70000-byte kerb-message: over KKDCP_MAX_MESSAGE */
    size_t kl = 70000, n = 0;
    uint8_t *b = malloc(kl + 32);
    b[n++] = 0x30;
    b[n++] = 0x83;
    size_t seq = 5 + 5 + kl; /* a0 83 xx xx xx 04 83 xx xx xx, then the message */
    b[n++] = (uint8_t)(seq >> 16);
    b[n++] = (uint8_t)(seq >> 8);
    b[n++] = (uint8_t)seq;
    b[n++] = 0xa0;
    b[n++] = 0x83;
    b[n++] = (uint8_t)((kl + 5) >> 16);
    b[n++] = (uint8_t)((kl + 5) >> 8);
    b[n++] = (uint8_t)(kl + 5);
    b[n++] = 0x04;
    b[n++] = 0x83;
    b[n++] = (uint8_t)(kl >> 16);
    b[n++] = (uint8_t)(kl >> 8);
    b[n++] = (uint8_t)kl;
    memset(b + n, 0, kl);
    b[n + 1] = (uint8_t)((kl - 4) >> 16);
    b[n + 2] = (uint8_t)((kl - 4) >> 8);
    b[n + 3] = (uint8_t)(kl - 4);
    n += kl;
    struct kkdcp_request m;
    assert_int_equal(kkdcp_decode(b, n, KKDCP_MAX_MESSAGE, &m), KKDCP_ERR_TOO_BIG);
    /* the caller's smaller cap */
    uint8_t small[16];
    size_t sn = unhex("3009a00704050000000105", small);
    assert_int_equal(kkdcp_decode(small, sn, 4, &m), KKDCP_ERR_TOO_BIG);
    assert_int_equal(kkdcp_decode(small, sn, 5, &m), KKDCP_OK);
    free(b);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    static const size_t sizes[] = {5, 127, 128, 200, 255, 256, 1000, 65535, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t l = sizes[i];
        uint8_t *r = calloc(1, l);
        uint32_t n = (uint32_t)(l - 4);
        r[0] = (uint8_t)(n >> 24);
        r[1] = (uint8_t)(n >> 16);
        r[2] = (uint8_t)(n >> 8);
        r[3] = (uint8_t)n;
        for (size_t j = 4; j < l; j++)
            r[j] = (uint8_t)j;
        struct buf out = BUF_INIT;
        assert_int_equal(kkdcp_encode_reply(r, l, &out), 0);
        struct kkdcp_request m;
        assert_int_equal(kkdcp_decode(buf_data(&out), buf_len(&out), KKDCP_MAX_MESSAGE, &m),
                         KKDCP_OK);
        assert_int_equal(m.kerb_len, l);
        assert_memory_equal(m.kerb, r, l);
        buf_free(&out);
        free(r);
    }
    /* the exact bytes for the smallest reply */
    struct buf out = BUF_INIT;
    assert_int_equal(kkdcp_encode_reply((const uint8_t *)"\0\0\0\1\5", 5, &out), 0);
    uint8_t want[16];
    size_t wl = unhex("3009a00704050000000105", want);
    assert_int_equal(buf_len(&out), wl);
    assert_memory_equal(buf_data(&out), want, wl);
    buf_free(&out);
    /* framing that lies, too big */
    assert_int_equal(kkdcp_encode_reply((const uint8_t *)"\0\0\0\2\5", 5, &out), -1);
    assert_int_equal(kkdcp_encode_reply((const uint8_t *)"\0\0\0", 3, &out), -1);
    assert_int_equal(buf_len(&out), 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_encode_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
