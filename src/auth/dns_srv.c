/* DNS SRV answer parsing and RFC 2782 ordering (see dns_srv.h). */
#include "auth/dns_srv.h"

#include <string.h>

#define DNS_HEADER 12
#define TYPE_SRV 33
#define CLASS_IN 1

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int host_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* Reads the name at *off. out (may be NULL: skip only) gets the presentation form without the
 * trailing dot ("." for the root); with strict, labels must be host names. *off moves past the
 * name as it sits in the record (a pointer ends it). 0 or a DNS_SRV_ERR_*. */
static int read_name(const uint8_t *msg, size_t len, size_t *off, char *out, int strict)
{
    size_t p = *off, olen = 0, wire = 0;
    unsigned jumps = 0;
    int jumped = 0;
    for (;;) {
        if (p >= len)
            return DNS_SRV_ERR_TRUNCATED;
        uint8_t l = msg[p];
        if ((l & 0xC0) == 0xC0) {
            if (p + 1 >= len)
                return DNS_SRV_ERR_TRUNCATED;
            size_t to = (size_t)(l & 0x3F) << 8 | msg[p + 1];
            /* only backwards, and not into the header: no loops, bounded work */
            if (to >= p || to < DNS_HEADER || ++jumps > DNS_SRV_MAX_JUMPS)
                return DNS_SRV_ERR_FORMAT;
            if (!jumped)
                *off = p + 2;
            jumped = 1;
            p = to;
            continue;
        }
        if (l & 0xC0)
            return DNS_SRV_ERR_FORMAT; /* 01 and 10: extended label types, not in answers */
        if (l == 0) {
            if (!jumped)
                *off = p + 1;
            break;
        }
        if (p + 1 + l > len)
            return DNS_SRV_ERR_TRUNCATED;
        wire += (size_t)l + 1;
        if (wire > 254) /* with the root's zero byte: 255 (RFC 1035 2.3.4) */
            return DNS_SRV_ERR_FORMAT;
        for (unsigned i = 0; i < l; i++) {
            uint8_t ch = msg[p + 1 + i];
            if (strict && !host_char(ch))
                return DNS_SRV_ERR_FORMAT;
            if (out) {
                if (olen + 2 >= DNS_SRV_NAME_MAX)
                    return DNS_SRV_ERR_FORMAT;
                if (i == 0 && olen)
                    out[olen++] = '.';
                out[olen++] = (char)ch;
            }
        }
        p += 1 + (size_t)l;
    }
    if (out) {
        if (olen == 0)
            out[olen++] = '.';
        out[olen] = 0;
    }
    return 0;
}

int dns_srv_parse(const uint8_t *msg, size_t len, struct dns_srv *out, unsigned max, int *rcode)
{
    if (rcode)
        *rcode = -1;
    if (!msg || len < DNS_HEADER)
        return DNS_SRV_ERR_TRUNCATED;
    unsigned flags = get16(msg + 2);
    if (rcode)
        *rcode = (int)(flags & 0x0F);
    if (!(flags & 0x8000))
        return DNS_SRV_ERR_FORMAT; /* QR = 0: a query, not a response */
    if (flags & 0x0F)
        return DNS_SRV_ERR_RCODE;
    unsigned qd = get16(msg + 4), an = get16(msg + 6);
    size_t off = DNS_HEADER;
    for (unsigned i = 0; i < qd; i++) {
        int r = read_name(msg, len, &off, NULL, 0);
        if (r < 0)
            return r;
        if (off + 4 > len)
            return DNS_SRV_ERR_TRUNCATED;
        off += 4;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < an; i++) {
        int r = read_name(msg, len, &off, NULL, 0);
        if (r < 0)
            return r;
        if (off + 10 > len)
            return DNS_SRV_ERR_TRUNCATED;
        unsigned type = get16(msg + off), cls = get16(msg + off + 2);
        uint32_t ttl = get32(msg + off + 4);
        size_t rdlen = get16(msg + off + 8);
        off += 10;
        if (off + rdlen > len)
            return DNS_SRV_ERR_TRUNCATED;
        size_t end = off + rdlen;
        if (type == TYPE_SRV && cls == CLASS_IN) {
            if (rdlen < 7)
                return DNS_SRV_ERR_FORMAT;
            struct dns_srv s;
            s.priority = (uint16_t)get16(msg + off);
            s.weight = (uint16_t)get16(msg + off + 2);
            s.port = (uint16_t)get16(msg + off + 4);
            s.ttl = ttl > 0x7FFFFFFFu ? 0 : ttl; /* RFC 2181 8: the top bit set means 0 */
            size_t t = off + 6;
            /* the target must end exactly at the end of the rdata (RFC 2782: no compression,
             * but servers do compress it; accept pointers, backwards only) */
            r = read_name(msg, end, &t, s.target, 1);
            if (r < 0)
                return r == DNS_SRV_ERR_TRUNCATED ? DNS_SRV_ERR_FORMAT : r;
            if (t != end)
                return DNS_SRV_ERR_FORMAT;
            /* ".": "service decidedly not available at this domain"; port 0: unusable */
            if (strcmp(s.target, ".") != 0 && s.port != 0 && n < max && out)
                out[n++] = s;
        }
        off = end;
    }
    return n ? (int)n : DNS_SRV_ERR_NONE;
}

void dns_srv_order(struct dns_srv *r, unsigned n, uint32_t (*rnd)(void *arg), void *arg)
{
    /* priorities ascending (insertion sort: n is small); zero weights first within one */
    for (unsigned i = 1; i < n; i++) {
        struct dns_srv x = r[i];
        unsigned j = i;
        while (j > 0 &&
               (r[j - 1].priority > x.priority ||
                (r[j - 1].priority == x.priority && r[j - 1].weight > 0 && x.weight == 0))) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
    for (unsigned start = 0; start < n;) {
        unsigned end = start;
        while (end < n && r[end].priority == r[start].priority)
            end++;
        /* RFC 2782: sum the weights of the unordered ones, pick a number in [0, sum], take the
         * first whose running sum reaches it, repeat */
        for (unsigned k = start; k + 1 < end; k++) {
            uint64_t sum = 0;
            for (unsigned i = k; i < end; i++)
                sum += r[i].weight;
            uint64_t pick = rnd ? (uint64_t)rnd(arg) % (sum + 1) : 0;
            uint64_t run = 0;
            unsigned chosen = end - 1;
            for (unsigned i = k; i < end; i++) {
                run += r[i].weight;
                if (run >= pick) {
                    chosen = i;
                    break;
                }
            }
            struct dns_srv x = r[chosen];
            memmove(&r[k + 1], &r[k], (chosen - k) * sizeof *r);
            r[k] = x;
        }
        start = end;
    }
}

const char *dns_srv_strerror(int err)
{
    switch (err) {
    case DNS_SRV_OK:
        return "ok";
    case DNS_SRV_ERR_TRUNCATED:
        return "DNS answer truncated";
    case DNS_SRV_ERR_FORMAT:
        return "malformed DNS answer";
    case DNS_SRV_ERR_RCODE:
        return "DNS server answered with an error";
    case DNS_SRV_ERR_NONE:
        return "no SRV records";
    default:
        return "DNS error";
    }
}

uint32_t dns_srv_timing_found(struct dns_srv_timing *t, uint64_t now, uint32_t ttl, uint32_t min_s,
                              uint32_t max_s)
{
    if (ttl < min_s)
        ttl = min_s;
    if (ttl > max_s)
        ttl = max_s;
    t->fresh_until = now + (uint64_t)ttl * 1000;
    t->next_try = 0;
    return ttl;
}

void dns_srv_timing_failed(struct dns_srv_timing *t, uint64_t now, uint32_t retry_s)
{
    t->next_try = now + (uint64_t)retry_s * 1000;
}

bool dns_srv_timing_stale(const struct dns_srv_timing *t, uint64_t now)
{
    return now >= t->fresh_until;
}

bool dns_srv_timing_may_try(const struct dns_srv_timing *t, uint64_t now)
{
    return now >= t->next_try;
}
