/* libFuzzer target for the DNS SRV answer parser and the RFC 2782 order: whatever the bytes,
 * the parser stays inside them, kept records are sane (NUL-terminated host-name targets, port
 * not 0), and ordering keeps the same records with priorities ascending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t lcg(void *arg)
{
    uint32_t *s = arg;
    *s = *s * 1103515245u + 12345u;
    return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_srv r[8], o[8];
    int n = dns_srv_parse(data, size, r, 8, NULL);
    if (n == 0 || n > 8 || n < DNS_SRV_ERR_NONE)
        abort();
    if (n < 0)
        return 0;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strnlen(r[i].target, sizeof r[i].target);
        if (l == 0 || l >= sizeof r[i].target || r[i].port == 0 || !strcmp(r[i].target, "."))
            abort();
        sum += r[i].priority + r[i].weight + r[i].port;
    }
    memcpy(o, r, sizeof r);
    uint32_t seed = (uint32_t)size;
    dns_srv_order(o, (unsigned)n, lcg, &seed);
    uint64_t sum2 = 0;
    for (int i = 0; i < n; i++) {
        sum2 += o[i].priority + o[i].weight + o[i].port;
        if (i && o[i].priority < o[i - 1].priority)
            abort();
    }
    if (sum != sum2)
        abort();
    return 0;
}
