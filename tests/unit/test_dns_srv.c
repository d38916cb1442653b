/* DNS SRV answers (RFC 1035 4.1, RFC 2782): crafted answer bytes, compression, the errors, and
 * the RFC 2782 order with a scripted random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/dns_srv.h"

/* ---- a tiny DNS message writer ---- */

struct msg {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct msg *m, unsigned v)
{
    m->b[m->n++] = (uint8_t)v;
}

static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xFF);
}

static void put32(struct msg *m, uint32_t v)
{
    put16(m, v >> 16);
    put16(m, v & 0xFFFF);
}

/* "a.b.c" as labels; a trailing "@OFF" ends the name with a pointer to OFF instead of root */
static void put_name(struct msg *m, const char *name)
{
    const char *p = name;
    while (*p && *p != '@') {
        size_t l = strcspn(p, ".@");
        put8(m, (unsigned)l);
        memcpy(m->b + m->n, p, l);
        m->n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    if (*p == '@')
        put16(m, 0xC000 | (unsigned)strtoul(p + 1, NULL, 10));
    else
        put8(m, 0);
}

static void header(struct msg *m, unsigned flags, unsigned qd, unsigned an)
{
    m->n = 0;
    put16(m, 0x1234);
    put16(m, flags);
    put16(m, qd);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
}

static void question(struct msg *m, const char *name)
{
    put_name(m, name);
    put16(m, 33);
    put16(m, 1);
}

/* an SRV answer whose owner is a pointer to the question name (offset 12) */
static void srv(struct msg *m, uint32_t ttl, unsigned prio, unsigned weight, unsigned port,
                const char *target)
{
    put16(m, 0xC00C);
    put16(m, 33);
    put16(m, 1);
    put32(m, ttl);
    size_t rdlen_at = m->n;
    put16(m, 0);
    put16(m, prio);
    put16(m, weight);
    put16(m, port);
    put_name(m, target);
    size_t rdlen = m->n - rdlen_at - 2;
    m->b[rdlen_at] = (uint8_t)(rdlen >> 8);
    m->b[rdlen_at + 1] = (uint8_t)rdlen;
}

#define QNAME "_kerberos._tcp.contoso.test"

static void test_parse_two(void **state)
{
    (void)state;
    struct msg m;
    header(&m, 0x8580, 1, 2);
    question(&m, QNAME);
    srv(&m, 900, 0, 100, 88, "dc1.contoso.test");
    /* the second target compressed: "dc2" then a pointer to "contoso.test" in the question
     * (offset 12 + 1 + 9 + 1 + 4 = 27) */
    srv(&m, 600, 10, 0, 1088, "dc2@27");
    struct dns_srv r[4];
    int rcode = -1;
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, &rcode), 2);
    assert_int_equal(rcode, 0);
    assert_string_equal(r[0].target, "dc1.contoso.test");
    assert_int_equal(r[0].priority, 0);
    assert_int_equal(r[0].weight, 100);
    assert_int_equal(r[0].port, 88);
    assert_int_equal(r[0].ttl, 900);
    assert_string_equal(r[1].target, "dc2.contoso.test");
    assert_int_equal(r[1].priority, 10);
    assert_int_equal(r[1].port, 1088);
    assert_int_equal(r[1].ttl, 600);
    /* every shorter prefix of the message is refused, never read past */
    for (size_t n = 0; n < m.n; n++) {
        int e = dns_srv_parse(m.b, n, r, 4, NULL);
        assert_true(e == DNS_SRV_ERR_TRUNCATED || e == DNS_SRV_ERR_FORMAT);
    }
    /* the cap: only the first record is kept */
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 1, NULL), 1);
    assert_string_equal(r[0].target, "dc1.contoso.test");
}

static void test_skips_other_records(void **state)
{
    (void)state;
    struct msg m;
    header(&m, 0x8180, 1, 3);
    question(&m, QNAME);
    /* a CNAME-like record of another type, an SRV of class CH, then the one that counts */
    put16(&m, 0xC00C);
    put16(&m, 5);
    put16(&m, 1);
    put32(&m, 60);
    put16(&m, 4);
    put32(&m, 0xDEADBEEF);
    put16(&m, 0xC00C);
    put16(&m, 33);
    put16(&m, 3);
    put32(&m, 60);
    put16(&m, 7);
    put16(&m, 0);
    put16(&m, 0);
    put16(&m, 88);
    put8(&m, 0);
    srv(&m, 0x80000000u, 0, 0, 88, "kdc.contoso.test");
    struct dns_srv r[4];
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), 1);
    assert_string_equal(r[0].target, "kdc.contoso.test");
    assert_int_equal(r[0].ttl, 0); /* RFC 2181: a TTL with the top bit set is 0 */
}

static void test_errors(void **state)
{
    (void)state;
    struct msg m;
    struct dns_srv r[4];
    int rcode;
    /* NXDOMAIN */
    header(&m, 0x8183, 1, 0);
    question(&m, QNAME);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, &rcode), DNS_SRV_ERR_RCODE);
    assert_int_equal(rcode, 3);
    /* a query, not a response */
    header(&m, 0x0100, 1, 0);
    question(&m, QNAME);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    /* no answers at all; only "." (no service); a port 0 */
    header(&m, 0x8180, 1, 0);
    question(&m, QNAME);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_NONE);
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_NONE);
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 0, "kdc.contoso.test");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_NONE);
    /* a pointer to itself (a loop), a pointer forwards, a pointer into the header */
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "x@0");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "x@4000");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    header(&m, 0x8180, 1, 0);
    put16(&m, 0xC000 | 12); /* the question's name points at itself */
    put16(&m, 33);
    put16(&m, 1);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    /* a target that is not a host name; rdata longer than the target */
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "bad host.test");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    header(&m, 0x8180, 1, 1);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "kdc.test");
    m.b[m.n - 17]++; /* rdlength one more ... */
    put8(&m, 0);     /* ... with a stray byte after the target */
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    /* an extended label type (0x40) */
    header(&m, 0x8180, 1, 0);
    put8(&m, 0x41);
    put8(&m, 0);
    put16(&m, 33);
    put16(&m, 1);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    /* an answer count that lies */
    header(&m, 0x8180, 1, 2);
    question(&m, QNAME);
    srv(&m, 60, 0, 0, 88, "kdc.test");
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_TRUNCATED);
    /* a name over 255 bytes */
    char longname[400];
    size_t o = 0;
    for (int i = 0; i < 5; i++) {
        memset(longname + o, 'a', 60);
        o += 60;
        longname[o++] = '.';
    }
    longname[o - 1] = 0;
    header(&m, 0x8180, 1, 0);
    question(&m, longname);
    assert_int_equal(dns_srv_parse(m.b, m.n, r, 4, NULL), DNS_SRV_ERR_FORMAT);
    assert_int_equal(dns_srv_parse(NULL, 0, r, 4, NULL), DNS_SRV_ERR_TRUNCATED);
}

/* ---- RFC 2782 order ---- */

struct script {
    const uint32_t *v;
    unsigned n, i;
};

static uint32_t scripted(void *arg)
{
    struct script *s = arg;
    return s->i < s->n ? s->v[s->i++] : 0;
}

static void set(struct dns_srv *r, unsigned prio, unsigned weight, const char *name)
{
    memset(r, 0, sizeof *r);
    r->priority = (uint16_t)prio;
    r->weight = (uint16_t)weight;
    r->port = 88;
    strcpy(r->target, name);
}

static void test_order(void **state)
{
    (void)state;
    struct dns_srv r[5];
    set(&r[0], 20, 0, "backup");
    set(&r[1], 10, 60, "a60");
    set(&r[2], 10, 0, "zero");
    set(&r[3], 10, 40, "b40");
    set(&r[4], 5, 0, "first");
    /* priority 10 sorted as zero(0), a60(60), b40(40): sum 100; pick 61..100 -> b40 (running sum
     * 0, 60, 100); then zero, a60: sum 60, pick 0 -> zero (running sum 0 >= 0); then a60 */
    uint32_t v[] = {70, 0};
    struct script s = {v, 2, 0};
    dns_srv_order(r, 5, scripted, &s);
    assert_string_equal(r[0].target, "first");
    assert_string_equal(r[1].target, "b40");
    assert_string_equal(r[2].target, "zero");
    assert_string_equal(r[3].target, "a60");
    assert_string_equal(r[4].target, "backup");
    /* pick 1..60 -> a60 first */
    set(&r[0], 10, 60, "a60");
    set(&r[1], 10, 0, "zero");
    set(&r[2], 10, 40, "b40");
    uint32_t v2[] = {101 + 30, 41}; /* 131 % 101 = 30 -> a60; then sum 40: 41 % 41 = 0 -> zero */
    struct script s2 = {v2, 2, 0};
    dns_srv_order(r, 3, scripted, &s2);
    assert_string_equal(r[0].target, "a60");
    assert_string_equal(r[1].target, "zero");
    assert_string_equal(r[2].target, "b40");
    /* with random weights, each record of a priority leads in proportion to its weight */
    unsigned first_a = 0;
    srand(7);
    for (int t = 0; t < 2000; t++) {
        set(&r[0], 1, 75, "a");
        set(&r[1], 1, 25, "b");
        uint32_t rv[] = {(uint32_t)rand(), (uint32_t)rand()};
        struct script s3 = {rv, 2, 0};
        dns_srv_order(r, 2, scripted, &s3);
        first_a += !strcmp(r[0].target, "a");
        assert_string_not_equal(r[0].target, r[1].target);
    }
    assert_in_range(first_a, 1350, 1650); /* about 75 % */
    dns_srv_order(r, 0, NULL, NULL);      /* nothing to order: no crash */
}

/* the cache's timing with a clock the test passes: a short TTL is raised to the minimum, the
 * list goes stale at expiry and a second lookup is due then; a failure holds the next one off */
static void test_timing(void **state)
{
    (void)state;
    struct dns_srv_timing t = {0};
    assert_true(dns_srv_timing_stale(&t, 0)); /* nothing known: a lookup is due */
    assert_true(dns_srv_timing_may_try(&t, 0));
    uint64_t t0 = 1000000;
    assert_int_equal(dns_srv_timing_found(&t, t0, 5, 30, 3600), 30); /* TTL 5 s: 30 s */
    assert_false(dns_srv_timing_stale(&t, t0));
    assert_false(dns_srv_timing_stale(&t, t0 + 29999));
    assert_true(dns_srv_timing_stale(&t, t0 + 30000)); /* expired: the second lookup */
    assert_true(dns_srv_timing_may_try(&t, t0 + 30000));
    /* the second lookup fails: stale still, but no third before 10 s */
    dns_srv_timing_failed(&t, t0 + 30000, 10);
    assert_true(dns_srv_timing_stale(&t, t0 + 30001));
    assert_false(dns_srv_timing_may_try(&t, t0 + 39999));
    assert_true(dns_srv_timing_may_try(&t, t0 + 40000));
    /* the third succeeds with TTL 900: fresh for 900 s, the failure forgotten */
    assert_int_equal(dns_srv_timing_found(&t, t0 + 40000, 900, 30, 3600), 900);
    assert_int_equal(t.next_try, 0);
    assert_false(dns_srv_timing_stale(&t, t0 + 40000 + 899999));
    assert_true(dns_srv_timing_stale(&t, t0 + 40000 + 900000));
    /* bounds: TTL 0 (or a top-bit TTL, parsed as 0) and a huge one */
    assert_int_equal(dns_srv_timing_found(&t, t0, 0, 30, 3600), 30);
    assert_int_equal(dns_srv_timing_found(&t, t0, 0x7FFFFFFFu, 30, 3600), 3600);
    assert_false(dns_srv_timing_stale(&t, t0 + 3599999));
    assert_true(dns_srv_timing_stale(&t, t0 + 3600000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_two), cmocka_unit_test(test_skips_other_records),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_order),
        cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
