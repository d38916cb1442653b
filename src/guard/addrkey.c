/* Client address keys: IPv4 as is, IPv6 by prefix, IPv4-mapped IPv6 as IPv4. */
#include "guard/addrkey.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static void key_v6(const struct in6_addr *a, unsigned prefix, char *out, size_t outsz)
{
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)outsz);
        return;
    }
    if (prefix == 0 || prefix > 128)
        prefix = 128;
    struct in6_addr m = *a;
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        if (bits < 8)
            m.s6_addr[i] &= (uint8_t)(0xff00u >> bits);
    }
    char tmp[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &m, tmp, sizeof tmp);
    if (prefix == 128)
        str_copy(out, tmp, outsz);
    else
        snprintf(out, outsz, "%s/%u", tmp, prefix);
}

void addr_key(const struct sockaddr *sa, unsigned v6_prefix, char *out, size_t outsz)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        key_v6(&((const struct sockaddr_in6 *)sa)->sin6_addr, v6_prefix, out, outsz);
    else
        str_copy(out, "unknown", outsz);
}

void addr_key_str(const char *addr, unsigned v6_prefix, char *out, size_t outsz)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        inet_ntop(AF_INET, &a4, out, (socklen_t)outsz);
    else if (inet_pton(AF_INET6, addr, &a6) == 1)
        key_v6(&a6, v6_prefix, out, outsz);
    else
        str_copy(out, addr, outsz);
}
