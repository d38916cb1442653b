/* Client address keys for per-address accounting (pre-authentication slots, logon failures).
 *
 * An IPv4 client (or an IPv4-mapped IPv6 one) is keyed by its address; an IPv6 client by its
 * prefix (a /64 by default: one customer gets a whole /64, so counting single IPv6 addresses
 * would count nothing). Keys are printable: "192.0.2.7", "2001:db8:1:2::/64". */
#ifndef TSGW_GUARD_ADDRKEY_H
#define TSGW_GUARD_ADDRKEY_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDRKEY_MAX 64

/* Writes the key of sa into out (at least ADDRKEY_MAX bytes). v6_prefix is 1..128 (128 = the
 * whole address, no "/128" suffix). Unknown families give "unknown". */
void addr_key(const struct sockaddr *sa, unsigned v6_prefix, char *out, size_t outsz);

/* Same from a printable address ("192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7"); a string
 * that is no address is copied as it is. */
void addr_key_str(const char *addr, unsigned v6_prefix, char *out, size_t outsz);

#endif
