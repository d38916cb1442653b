/* The KDC proxy's KDCs found in DNS ([kdc-proxy] realm without kdcs): _kerberos._tcp.<realm> SRV
 * records, looked up on a thread of their own (res_nquery blocks), ordered as RFC 2782 says,
 * their targets resolved, cached with the records' TTL (bounded) and refreshed when stale (the
 * stale list serves meanwhile). Loop thread API; the thread starts on first use. */
#ifndef TSGW_DAEMON_KDC_DNS_H
#define TSGW_DAEMON_KDC_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct gateway;

#define KDC_DNS_MAX 16          /* addresses kept (SRV records beyond are ignored) */
#define KDC_DNS_TTL_MIN_S 30    /* a smaller TTL is raised to this */
#define KDC_DNS_TTL_MAX_S 3600  /* a larger TTL is lowered to this */
#define KDC_DNS_RETRY_S 10      /* after a failed lookup, the next one no sooner */
#define KDC_DNS_QUERY_TIMEOUT 2 /* seconds per try, 2 tries per server (res_nquery) */

struct kdc_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char name[320]; /* "dc1.contoso.test:88 (127.0.0.10)" for the logs */
};

/* The realm's KDCs as DNS gave them, in the order to try: copies up to max and returns how many.
 * Starts a lookup when none is cached or the cache is stale. 0 with *waiting = true: a lookup
 * is running, kdcproxy_dns_ready() is called when it ends; 0 with *waiting = false: DNS gave
 * nothing (logged) and the next lookup is not due yet. */
unsigned kdc_dns_get(struct gateway *gw, struct kdc_addr *out, unsigned max, bool *waiting);
/* Starts the first lookup ahead of the first request (from the periodic sweep). */
void kdc_dns_prefetch(struct gateway *gw);
/* Stops the thread (a lookup in progress ends first, bounded by the query timeouts). */
void kdc_dns_stop(struct gateway *gw);

#endif
