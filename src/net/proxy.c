#include "net/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t sig[PROXY_V2_SIG_LEN] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

int proxy_v2_parse(const uint8_t *p, size_t n, struct proxy_info *out)
{
    memset(out, 0, sizeof *out);
    /* a prefix of the signature may still become one */
    size_t k = n < PROXY_V2_SIG_LEN ? n : PROXY_V2_SIG_LEN;
    if (k && memcmp(p, sig, k) != 0) /* k == 0: p may be NULL (an empty buffer) */
        return -1;
    if (n < PROXY_V2_HDR_LEN)
        return 0;
    unsigned ver = p[12] >> 4, cmd = p[12] & 0x0F, fam = p[13] >> 4, proto = p[13] & 0x0F;
    size_t len = (size_t)p[14] << 8 | p[15];
    if (ver != 2 || cmd > 1 || len > PROXY_V2_MAX_LEN)
        return -1;
    if (n < PROXY_V2_HDR_LEN + len)
        return 0;
    const uint8_t *a = p + PROXY_V2_HDR_LEN;
    int total = (int)(PROXY_V2_HDR_LEN + len);
    if (cmd == 0) { /* LOCAL: addresses (if any) are ignored */
        out->local = true;
        return total;
    }
    if (proto != 1) /* PROXY over anything but a stream */
        return -1;
    if (fam == 1) {
        if (len < 12)
            return -1;
        struct sockaddr_in *s = (struct sockaddr_in *)&out->src,
                           *d = (struct sockaddr_in *)&out->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        out->addr_len = sizeof *s;
        return total;
    }
    if (fam == 2) {
        if (len < 36)
            return -1;
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src,
                            *d = (struct sockaddr_in6 *)&out->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        out->addr_len = sizeof *s;
        return total;
    }
    return -1; /* UNSPEC or UNIX with PROXY: no client address we could use */
}

int proxy_net_parse(const char *s, struct proxy_net *out)
{
    char buf[80];
    size_t l = strlen(s);
    if (l == 0 || l >= sizeof buf)
        return -1;
    memcpy(buf, s, l + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1] || slash[1] == '-' || slash[1] == '+')
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end || prefix < 0)
            return -1;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (prefix > 32)
            return -1;
        out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (prefix > 128)
            return -1;
        out->prefix = prefix < 0 ? 128 : (unsigned)prefix;
        return 0;
    }
    return -1;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rem = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (!rem)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool proxy_net_match(const struct proxy_net *v, size_t n, const struct sockaddr *sa)
{
    uint8_t a[16];
    int fam;
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        fam = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(x)) {
            memcpy(a, x->s6_addr + 12, 4);
            fam = AF_INET;
        } else {
            memcpy(a, x->s6_addr, 16);
            fam = AF_INET6;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].family == fam && prefix_eq(a, v[i].addr, v[i].prefix))
            return true;
    return false;
}
