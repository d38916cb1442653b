/* Unit tests for the PROXY protocol v2 parser and the trusted-proxy list (src/net/proxy.c).
 * Vectors: a header captured from HAProxy 2.6 (send-proxy-v2, client 127.0.0.5:40123), and
 * headers built field by field from proxy-protocol.txt section 2.2. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/proxy.h"

/* HAProxy 2.6.12 "server s 127.0.0.1:P send-proxy-v2", client 127.0.0.5:40123 -> 127.0.0.1:41717,
 * followed by the client's first bytes "HELLO" */
static const uint8_t HAPROXY_V4[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55,
                                     0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 0x7f, 0x00,
                                     0x00, 0x05, 0x7f, 0x00, 0x00, 0x01, 0x9c, 0xbb, 0xa2,
                                     0xf5, 'H',  'E',  'L',  'L',  'O'};

static void test_haproxy_capture(void **st)
{
    struct proxy_info pi;
    assert_int_equal(proxy_v2_parse(HAPROXY_V4, sizeof HAPROXY_V4, &pi), 28);
    assert_false(pi.local);
    const struct sockaddr_in *s = (const struct sockaddr_in *)&pi.src;
    assert_int_equal(s->sin_family, AF_INET);
    assert_int_equal(ntohl(s->sin_addr.s_addr), 0x7f000005);
    assert_int_equal(ntohs(s->sin_port), 40123);
    const struct sockaddr_in *d = (const struct sockaddr_in *)&pi.dst;
    assert_int_equal(ntohs(d->sin_port), 0xa2f5);
    /* an empty buffer (NULL data, as an empty struct buf gives) needs more bytes */
    assert_int_equal(proxy_v2_parse(NULL, 0, &pi), 0);
    /* every proper prefix needs more bytes */
    for (size_t n = 0; n < 28; n++)
        assert_int_equal(proxy_v2_parse(HAPROXY_V4, n, &pi), 0);
}

static size_t build(uint8_t *out, uint8_t vercmd, uint8_t fam, const uint8_t *addr, size_t alen)
{
    memcpy(out, HAPROXY_V4, 12);
    out[12] = vercmd;
    out[13] = fam;
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    if (alen)
        memcpy(out + 16, addr, alen);
    return 16 + alen;
}

static void test_ipv6_and_tlvs(void **st)
{
    uint8_t a[36 + 8] = {0}, h[128];
    a[0] = 0x20; /* 2001:db8::1 */
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = 1;
    a[31] = 2;
    a[32] = 0x30; /* source port 12345 */
    a[33] = 0x39;
    a[34] = 0x01; /* 443 */
    a[35] = 0xbb;
    a[36] = 0x04; /* a TLV (PP2_TYPE_NOOP) of 5 bytes after the addresses: skipped */
    a[37] = 0x00;
    a[38] = 0x05;
    size_t n = build(h, 0x21, 0x21, a, sizeof a);
    struct proxy_info pi;
    assert_int_equal(proxy_v2_parse(h, n, &pi), (int)n);
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&pi.src;
    assert_int_equal(s->sin6_family, AF_INET6);
    assert_int_equal(ntohs(s->sin6_port), 12345);
    char txt[64];
    inet_ntop(AF_INET6, &s->sin6_addr, txt, sizeof txt);
    assert_string_equal(txt, "2001:db8::1");
}

static void test_local_command(void **st)
{
    uint8_t h[64];
    size_t n = build(h, 0x20, 0x00, NULL, 0);
    struct proxy_info pi;
    assert_int_equal(proxy_v2_parse(h, n, &pi), 16);
    assert_true(pi.local);
}

static void test_rejects(void **st)
{
    uint8_t h[3000], a[216] = {0};
    struct proxy_info pi;
    /* PROXY v1 text, TLS ClientHello, HTTP: not v2 at the first differing byte */
    assert_int_equal(proxy_v2_parse((const uint8_t *)"PROXY TCP4 1.2.3.4", 18, &pi), -1);
    assert_int_equal(proxy_v2_parse((const uint8_t *)"\x16\x03\x01", 3, &pi), -1);
    assert_int_equal(proxy_v2_parse((const uint8_t *)"GET / HTTP/1.1", 14, &pi), -1);
    /* version 1 in the binary form, command 2 */
    assert_int_equal(proxy_v2_parse(h, build(h, 0x11, 0x11, a, 12), &pi), -1);
    assert_int_equal(proxy_v2_parse(h, build(h, 0x22, 0x11, a, 12), &pi), -1);
    /* addresses shorter than the family needs */
    assert_int_equal(proxy_v2_parse(h, build(h, 0x21, 0x11, a, 11), &pi), -1);
    assert_int_equal(proxy_v2_parse(h, build(h, 0x21, 0x21, a, 35), &pi), -1);
    /* PROXY with UNSPEC, UNIX, or a datagram transport: no usable client address */
    assert_int_equal(proxy_v2_parse(h, build(h, 0x21, 0x00, a, 0), &pi), -1);
    assert_int_equal(proxy_v2_parse(h, build(h, 0x21, 0x31, a, 216), &pi), -1);
    assert_int_equal(proxy_v2_parse(h, build(h, 0x21, 0x12, a, 12), &pi), -1);
    /* a length over the cap is refused before waiting for it */
    build(h, 0x21, 0x11, a, 12);
    h[14] = (PROXY_V2_MAX_LEN + 1) >> 8;
    h[15] = (PROXY_V2_MAX_LEN + 1) & 0xFF;
    assert_int_equal(proxy_v2_parse(h, 16, &pi), -1);
}

static void test_nets(void **st)
{
    struct proxy_net v[3];
    assert_int_equal(proxy_net_parse("127.0.0.1", &v[0]), 0);
    assert_int_equal(proxy_net_parse("10.0.0.0/8", &v[1]), 0);
    assert_int_equal(proxy_net_parse("2001:db8::/32", &v[2]), 0);
    assert_int_equal(v[0].prefix, 32);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x0a010203);
    assert_true(proxy_net_match(v, 3, (struct sockaddr *)&a));
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_true(proxy_net_match(v, 3, (struct sockaddr *)&a));
    a.sin_addr.s_addr = htonl(0x7f000002);
    assert_false(proxy_net_match(v, 3, (struct sockaddr *)&a));
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.9.9.9", &b.sin6_addr); /* v4-mapped counts as IPv4 */
    assert_true(proxy_net_match(v, 3, (struct sockaddr *)&b));
    inet_pton(AF_INET6, "2001:db8:ffff::1", &b.sin6_addr);
    assert_true(proxy_net_match(v, 3, (struct sockaddr *)&b));
    inet_pton(AF_INET6, "2001:db9::1", &b.sin6_addr);
    assert_false(proxy_net_match(v, 3, (struct sockaddr *)&b));
    struct proxy_net x;
    assert_int_equal(proxy_net_parse("10.0.0.0/33", &x), -1);
    assert_int_equal(proxy_net_parse("10.0.0.0/", &x), -1);
    assert_int_equal(proxy_net_parse("10.0.0.0/-1", &x), -1);
    assert_int_equal(proxy_net_parse("host.example", &x), -1);
    assert_int_equal(proxy_net_parse("::/129", &x), -1);
    assert_int_equal(proxy_net_parse("", &x), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haproxy_capture),
        cmocka_unit_test(test_ipv6_and_tlvs),
        cmocka_unit_test(test_local_command),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_nets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
