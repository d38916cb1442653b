/* KDCs of the KDC proxy's realm from DNS SRV records (see kdc_dns.h). */
#include "daemon/kdc_dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "auth/dns_srv.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/kdcproxy.h"

#define ANSWER_MAX 65536
#define SRV_KEPT 32 /* SRV records parsed from one answer */

/* one lookup: the loop thread fills realm, the worker the rest */
struct lookup {
    char realm[256];
    char qname[300];
    struct kdc_addr addr[KDC_DNS_MAX];
    unsigned n;
    unsigned nsrv;
    uint32_t ttl;
    char error[256]; /* n == 0: why */
};

static pthread_t worker;
static bool running, stopping, busy;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct lookup *todo, *done;
static int efd = -1;
static struct io eio;
static struct gateway *g_gw;

/* the cache (loop thread) */
static struct {
    char realm[256];
    struct kdc_addr addr[KDC_DNS_MAX];
    unsigned n;
    struct dns_srv_timing t;
    char summary[1024]; /* what the last success logged, to log changes only */
    bool failed_logged;
} cache;

static uint32_t rand32(void *arg)
{
    (void)arg;
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (uint32_t)now_ms();
    return v;
}

static const char *h_error(int h)
{
    switch (h) {
    case HOST_NOT_FOUND:
        return "no such name (NXDOMAIN)";
    case NO_DATA:
        return "no SRV records";
    case TRY_AGAIN:
        return "no answer from the DNS server (timeout or SERVFAIL)";
    case NO_RECOVERY:
        return "the DNS server refused the query";
    default:
        return "lookup failed";
    }
}

static void run_lookup(struct lookup *L)
{
    snprintf(L->qname, sizeof L->qname, "_kerberos._tcp.%s", L->realm);
    struct __res_state rs;
    memset(&rs, 0, sizeof rs);
    if (res_ninit(&rs) != 0) {
        snprintf(L->error, sizeof L->error, "cannot read the resolver configuration");
        return;
    }
    rs.retrans = KDC_DNS_QUERY_TIMEOUT;
    rs.retry = 2;
    uint8_t *ans = malloc(ANSWER_MAX);
    struct dns_srv *srv = calloc(SRV_KEPT, sizeof *srv);
    if (!ans || !srv) {
        snprintf(L->error, sizeof L->error, "out of memory");
        goto out;
    }
    int len = res_nquery(&rs, L->qname, ns_c_in, ns_t_srv, ans, ANSWER_MAX);
    if (len < 0) {
        snprintf(L->error, sizeof L->error, "%s", h_error(rs.res_h_errno));
        goto out;
    }
    int rcode = 0;
    int n = dns_srv_parse(ans, (size_t)len > ANSWER_MAX ? ANSWER_MAX : (size_t)len, srv, SRV_KEPT,
                          &rcode);
    if (n < 0) {
        if (n == DNS_SRV_ERR_RCODE)
            snprintf(L->error, sizeof L->error, "DNS error (rcode %d)", rcode);
        else
            snprintf(L->error, sizeof L->error, "%s", dns_srv_strerror(n));
        goto out;
    }
    L->nsrv = (unsigned)n;
    dns_srv_order(srv, (unsigned)n, rand32, NULL);
    uint32_t ttl = UINT32_MAX;
    for (int i = 0; i < n; i++)
        if (srv[i].ttl < ttl)
            ttl = srv[i].ttl;
    L->ttl = ttl;
    for (int i = 0; i < n && L->n < KDC_DNS_MAX; i++) {
        char port[8];
        snprintf(port, sizeof port, "%u", srv[i].port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        int e = getaddrinfo(srv[i].target, port, &hints, &ai);
        if (e != 0) {
            snprintf(L->error, sizeof L->error, "%.200s: %s", srv[i].target, gai_strerror(e));
            continue;
        }
        for (struct addrinfo *a = ai; a && L->n < KDC_DNS_MAX; a = a->ai_next) {
            if (a->ai_addrlen > sizeof L->addr[0].ss)
                continue;
            struct kdc_addr *k = &L->addr[L->n++];
            memcpy(&k->ss, a->ai_addr, a->ai_addrlen);
            k->len = a->ai_addrlen;
            char host[INET6_ADDRSTRLEN] = "?";
            getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST);
            snprintf(k->name, sizeof k->name, "%s:%u (%s)", srv[i].target, srv[i].port, host);
        }
        freeaddrinfo(ai);
    }
    if (L->n == 0 && !L->error[0])
        snprintf(L->error, sizeof L->error, "no address for the SRV targets");
out:
    free(ans);
    free(srv);
    res_nclose(&rs);
}

static void *work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!todo && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (stopping)
            break;
        struct lookup *L = todo;
        todo = NULL;
        pthread_mutex_unlock(&mu);
        run_lookup(L);
        pthread_mutex_lock(&mu);
        free(done); /* (never set twice: the loop runs one lookup at a time) */
        done = L;
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) < 0)
            log_warn("KDC proxy: cannot signal the loop");
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void on_done(struct io *io, uint32_t events)
{
    (void)events;
    uint64_t v;
    if (read(io->fd, &v, sizeof v) < 0)
        return;
    pthread_mutex_lock(&mu);
    struct lookup *L = done;
    done = NULL;
    pthread_mutex_unlock(&mu);
    if (!L)
        return;
    busy = false;
    uint64_t now = now_ms();
    struct gateway *gw = g_gw;
    if (strcmp(L->realm, gw->cfg->kdc_proxy_realm) != 0) {
        free(L); /* the configuration changed meanwhile: ask again */
        kdcproxy_dns_ready(gw);
        return;
    }
    if (L->n) {
        uint32_t ttl =
            dns_srv_timing_found(&cache.t, now, L->ttl, KDC_DNS_TTL_MIN_S, KDC_DNS_TTL_MAX_S);
        memcpy(cache.addr, L->addr, L->n * sizeof L->addr[0]);
        cache.n = L->n;
        cache.failed_logged = false;
        char sum[sizeof cache.summary];
        size_t o = 0;
        sum[0] = 0;
        for (unsigned i = 0; i < L->n && o < sizeof sum; i++)
            o += (size_t)snprintf(sum + o, sizeof sum - o, "%s%s", i ? ", " : "", L->addr[i].name);
        if (strcmp(sum, cache.summary) != 0)
            log_info("KDC proxy: %u KDC address(es) of %s from DNS (%s, %u SRV record(s), TTL %u "
                     "s): %s",
                     L->n, L->realm, L->qname, L->nsrv, (unsigned)ttl, sum);
        else
            log_debug("KDC proxy: KDCs of %s refreshed from DNS, same as before", L->realm);
        str_copy(cache.summary, sum, sizeof cache.summary);
    } else {
        dns_srv_timing_failed(&cache.t, now, KDC_DNS_RETRY_S);
        /* a stale list keeps serving: a KDC that moved fails on connect, then the next */
        if (!cache.failed_logged || !cache.n)
            log_warn("KDC proxy: DNS gives no KDC for realm %s (%s: %s)%s", L->realm, L->qname,
                     L->error,
                     cache.n ? "; keeping the KDCs found before"
                             : "; KDC requests get 503 until it does (or list them in "
                               "[kdc-proxy] kdcs)");
        cache.failed_logged = true;
    }
    free(L);
    kdcproxy_dns_ready(gw);
}

static int start_thread(struct gateway *gw)
{
    if (running)
        return 0;
    g_gw = gw;
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -1;
    eio.fd = efd;
    eio.cb = on_done;
    io_set(&gw->loop, &eio, EPOLLIN);
    stopping = false;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the loop */
    int r = pthread_create(&worker, NULL, work, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        io_del(&gw->loop, &eio);
        close(efd);
        efd = -1;
        return -1;
    }
    running = true;
    return 0;
}

/* Starts a lookup unless one runs or a failed one is too recent. True when one runs now. */
static bool kick(struct gateway *gw, uint64_t now)
{
    if (busy)
        return true;
    if (!dns_srv_timing_may_try(&cache.t, now))
        return false;
    if (start_thread(gw) < 0) {
        log_error("KDC proxy: cannot start the DNS thread");
        dns_srv_timing_failed(&cache.t, now, KDC_DNS_RETRY_S);
        return false;
    }
    struct lookup *L = calloc(1, sizeof *L);
    if (!L)
        return false;
    str_copy(L->realm, gw->cfg->kdc_proxy_realm, sizeof L->realm);
    pthread_mutex_lock(&mu);
    todo = L;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    busy = true;
    log_debug("KDC proxy: looking up _kerberos._tcp.%s", L->realm);
    return true;
}

static void check_realm(struct gateway *gw)
{
    if (strcmp(cache.realm, gw->cfg->kdc_proxy_realm) != 0) {
        memset(&cache, 0, sizeof cache);
        str_copy(cache.realm, gw->cfg->kdc_proxy_realm, sizeof cache.realm);
    }
}

unsigned kdc_dns_get(struct gateway *gw, struct kdc_addr *out, unsigned max, bool *waiting)
{
    uint64_t now = now_ms();
    check_realm(gw);
    *waiting = false;
    if (!cache.n || dns_srv_timing_stale(&cache.t, now)) {
        bool runs = kick(gw, now);
        if (!cache.n) {
            *waiting = runs;
            return 0;
        }
    }
    unsigned n = cache.n < max ? cache.n : max;
    memcpy(out, cache.addr, n * sizeof *out);
    return n;
}

void kdc_dns_prefetch(struct gateway *gw)
{
    uint64_t now = now_ms();
    check_realm(gw);
    if (!cache.n && !busy && !cache.t.next_try)
        kick(gw, now);
}

void kdc_dns_stop(struct gateway *gw)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(worker, NULL);
    running = false;
    busy = false;
    io_del(&gw->loop, &eio);
    close(efd);
    efd = -1;
    free(todo);
    free(done);
    todo = done = NULL;
    memset(&cache, 0, sizeof cache);
}
