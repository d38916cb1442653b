/* libFuzzer target for the PROXY protocol v2 parser (src/net/proxy.c).
 *
 * The input is parsed whole and at every shorter length: a complete header's length never
 * exceeds the input, a prefix of a valid header only ever asks for more bytes, the same header
 * parses to the same result however many bytes follow it, and an accepted PROXY command always
 * yields an IPv4 or IPv6 client address. The first bytes up to a '/' also go to the trusted-net
 * parser and matcher. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_proxy: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info pi, pj;
    int r = proxy_v2_parse(data, size, &pi);
    CHECK(r >= -1 && r <= (int)size);
    if (r > 0) {
        CHECK(r >= PROXY_V2_HDR_LEN && r <= PROXY_V2_HDR_LEN + PROXY_V2_MAX_LEN);
        if (!pi.local)
            CHECK(pi.src.ss_family == AF_INET || pi.src.ss_family == AF_INET6);
        for (size_t n = 0; n < (size_t)r; n++)
            CHECK(proxy_v2_parse(data, n, &pj) == 0);
        CHECK(proxy_v2_parse(data, (size_t)r, &pj) == r);
        CHECK(pj.local == pi.local && !memcmp(&pj.src, &pi.src, sizeof pi.src));
    } else if (r == 0) {
        for (size_t n = 0; n < size; n++)
            CHECK(proxy_v2_parse(data, n, &pj) == 0);
    }
    char s[96];
    size_t k = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, k);
    s[k] = 0;
    struct proxy_net net;
    if (proxy_net_parse(s, &net) == 0) {
        CHECK(net.family == AF_INET || net.family == AF_INET6);
        CHECK(net.prefix <= (net.family == AF_INET ? 32u : 128u));
        if (r > 0 && !pi.local)
            (void)proxy_net_match(&net, 1, (const struct sockaddr *)&pi.src);
    }
    return 0;
}
