/* POST /KdcProxy (MS-KKDCP): relays a client's Kerberos message to a KDC of the configured realm
 * over TCP and returns the answer, without blocking the loop (non-blocking connect, a deadline,
 * size caps). Unauthenticated as the protocol requires, rate limited per client address. */
#ifndef TSGW_DAEMON_KDCPROXY_H
#define TSGW_DAEMON_KDCPROXY_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct gateway;
struct http_request;

/* True when req is for the KDC proxy (the path /KdcProxy) and the proxy is configured. */
bool kdcproxy_wants(const struct gateway *gw, const struct http_request *req);
/* The request line and headers arrived: checks method, length, rate; waits for the body. */
void kdcproxy_on_request(struct conn *c);
/* More body bytes in c->in: decodes the message once complete and starts the relay. */
void kdcproxy_on_body(struct conn *c);
/* The connection goes away: forget its relay. */
void kdcproxy_detach(struct conn *c);
/* Deadlines: from the periodic sweep. */
void kdcproxy_tick(struct gateway *gw, uint64_t now);
/* kdc_dns.c: a DNS lookup of the realm's KDCs ended: the requests waiting for it go on. */
void kdcproxy_dns_ready(struct gateway *gw);
/* Frees every relay (gateway shutdown). */
void kdcproxy_free(struct gateway *gw);

#endif
