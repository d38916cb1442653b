/* PROXY protocol version 2 (the binary header a load balancer such as HAProxy sends first on a
 * connection to say who the client is; haproxy.org "proxy-protocol.txt" section 2.2), and the
 * trusted-proxy address list. Pure: no sockets. */
#ifndef TSGW_NET_PROXY_H
#define TSGW_NET_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V2_SIG_LEN 12
#define PROXY_V2_HDR_LEN 16
#define PROXY_V2_MAX_LEN 2048 /* addresses + TLVs we accept after the 16-byte header */

struct proxy_info {
    bool local;                  /* LOCAL command (health check): no client address */
    struct sockaddr_storage src; /* client address (AF_INET or AF_INET6) when !local */
    struct sockaddr_storage dst; /* the address the client connected to */
    socklen_t addr_len;
};

/* Parses a PROXY v2 header at the start of p[0..n). Returns the header's length (> 0) when it is
 * complete and valid, 0 when more bytes are needed, -1 when it is not a valid v2 header (wrong
 * signature, version, command, family or length; a PROXY command over AF_UNIX or UNSPEC). */
int proxy_v2_parse(const uint8_t *p, size_t n, struct proxy_info *out);

/* One trusted network: an address and a prefix length. */
struct proxy_net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/* Parses "ADDRESS" or "ADDRESS/PREFIX" (numeric IPv4 or IPv6). 0 or -1. */
int proxy_net_parse(const char *s, struct proxy_net *out);

/* True when sa (AF_INET/AF_INET6; an IPv4-mapped IPv6 address counts as IPv4) is inside one of
 * the n networks. */
bool proxy_net_match(const struct proxy_net *v, size_t n, const struct sockaddr *sa);

#endif
