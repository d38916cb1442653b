/* DNS SRV answers (RFC 1035 message format, RFC 2782 SRV records), sans-I/O: the KDC proxy finds
 * a realm's KDCs as _kerberos._tcp.<realm> SRV records. The caller does the query (libresolv's
 * res_nquery on a worker thread) and hands the answer's bytes here. Strict and bounded: every
 * length is checked against the message, compression pointers may only point backwards and at
 * most DNS_SRV_MAX_JUMPS times per name, at most `max` records are kept. */
#ifndef TSGW_AUTH_DNS_SRV_H
#define TSGW_AUTH_DNS_SRV_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define DNS_SRV_NAME_MAX 256 /* a presentation-form name with its NUL (RFC 1035: 255 bytes) */
#define DNS_SRV_MAX_JUMPS 32 /* compression pointers followed per name */

struct dns_srv {
    uint16_t priority, weight, port;
    uint32_t ttl;
    char target[DNS_SRV_NAME_MAX]; /* "dc1.contoso.test" (no trailing dot), "." = no service */
};

enum {
    DNS_SRV_OK = 0,
    DNS_SRV_ERR_TRUNCATED = -1, /* a length or count runs past the message */
    DNS_SRV_ERR_FORMAT = -2,    /* not a response, bad label, pointer loop, bad rdata */
    DNS_SRV_ERR_RCODE = -3,     /* the server answered with an error (rcode in *rcode) */
    DNS_SRV_ERR_NONE = -4,      /* a valid answer without SRV records, or only "." targets */
};

/* Parses a DNS response to an SRV query. Keeps the SRV records of class IN in the answer
 * section (up to max of them; the rest are ignored), skips every other record. Returns the
 * number kept (> 0) or a DNS_SRV_ERR_*; *rcode (may be NULL) gets the header's RCODE. */
int dns_srv_parse(const uint8_t *msg, size_t len, struct dns_srv *out, unsigned max, int *rcode);

/* RFC 2782 order, in place: ascending priority; within one priority a weighted random order
 * (the zero-weight records first in the running-sum list, as the RFC says, so they are chosen
 * rarely while others have weight). rnd returns a uniform 32-bit value (tests pass their own). */
void dns_srv_order(struct dns_srv *r, unsigned n, uint32_t (*rnd)(void *arg), void *arg);

const char *dns_srv_strerror(int err);

/* When to look the records up again, on the caller's clock (ms): a success is fresh for the
 * records' TTL bounded to [min_s, max_s]; after a failure no new lookup for retry_s (a list
 * found before keeps serving meanwhile). Zeroed: nothing known, a lookup is due. */
struct dns_srv_timing {
    uint64_t fresh_until, next_try; /* ms */
};
/* A lookup gave records with this (smallest) TTL at now: returns the TTL used. */
uint32_t dns_srv_timing_found(struct dns_srv_timing *t, uint64_t now, uint32_t ttl, uint32_t min_s,
                              uint32_t max_s);
void dns_srv_timing_failed(struct dns_srv_timing *t, uint64_t now, uint32_t retry_s);
/* True when what was found is stale at now (or nothing was found). */
bool dns_srv_timing_stale(const struct dns_srv_timing *t, uint64_t now);
/* True when a new lookup may start at now (no failure within retry_s). */
bool dns_srv_timing_may_try(const struct dns_srv_timing *t, uint64_t now);

#endif
