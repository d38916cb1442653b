/* POST /KdcProxy: see kdcproxy.h and docs/kdc-proxy.md. */
#include "daemon/kdcproxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/kkdcp.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/kdc_dns.h"

struct kdc_relay {
    struct io io;
    struct gateway *gw;
    struct conn *c; /* NULL once the client connection is gone */
    struct buf req; /* kerb-message still to send */
    size_t sent;
    struct buf resp;
    size_t need; /* framed length of the answer, once its first 4 bytes are in */
    struct kdc_addr kdcs[KDC_DNS_MAX]; /* [kdc-proxy] kdcs, or what DNS gave, in order */
    unsigned nkdcs;
    unsigned kdc; /* index in kdcs */
    uint64_t deadline_ms;
    bool dead;
    bool waiting_dns; /* no KDC known yet: waits for the DNS lookup */
    struct kdc_relay *next;
};

static struct kdc_relay *relays;
static unsigned nrelays;

/* ---- per-address rate limit: a fixed window per minute ---- */

#define RATE_SLOTS 512
static struct {
    char addr[64];
    uint64_t window_ms;
    uint32_t count;
} rate[RATE_SLOTS];

static bool rate_ok(const char *addr, uint32_t per_minute, uint64_t now)
{
    uint32_t h = 2166136261u;
    for (const char *p = addr; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    unsigned i = h % RATE_SLOTS;
    if (strcmp(rate[i].addr, addr) != 0 || now - rate[i].window_ms >= 60000) {
        /* a new window (a colliding address takes the slot over: it can only gain by it) */
        str_copy(rate[i].addr, addr, sizeof rate[i].addr);
        rate[i].window_ms = now;
        rate[i].count = 0;
    }
    return ++rate[i].count <= per_minute;
}

/* ---- HTTP side ---- */

bool kdcproxy_wants(const struct gateway *gw, const struct http_request *req)
{
    if (!gw->cfg->kdc_proxy_realm[0])
        return false;
    size_t n = strlen("/KdcProxy");
    return !strncasecmp(req->target, "/KdcProxy", n) &&
           (req->target[n] == 0 || req->target[n] == '?' || req->target[n] == '/');
}

static void reply_error(struct conn *c, int status, const char *reason, const char *why)
{
    log_info("KDC proxy: %d to %s: %s", status, c->peer_str, why);
    conn_send_simple(c, status, reason, NULL, true);
}

void kdcproxy_on_request(struct conn *c)
{
    const struct http_request *req = &c->hp->req;
    const struct gw_config *cfg = c->gw->cfg;
    if (strcmp(req->method, "POST") != 0) {
        conn_send_simple(c, 405, "Method Not Allowed", "Allow: POST\r\n", true);
        return;
    }
    if (req->chunked || req->content_length <= 0) {
        conn_send_simple(c, 411, "Length Required", NULL, true);
        return;
    }
    if ((uint64_t)req->content_length > cfg->kdc_proxy_max_message + 64u) {
        reply_error(c, 413, "Payload Too Large", "message over [kdc-proxy] max-message");
        return;
    }
    if (!rate_ok(c->peer_str, cfg->kdc_proxy_rate, now_ms())) {
        reply_error(c, 429, "Too Many Requests", "over [kdc-proxy] max-requests per minute");
        return;
    }
    c->body_need = (size_t)req->content_length;
    c->in.cap_limit = c->body_need + 65536;
    c->phase = CONN_KDC_BODY;
}

static void relay_close(struct kdc_relay *r)
{
    if (r->dead)
        return;
    r->dead = true;
    if (r->io.fd >= 0) {
        io_del(&r->gw->loop, &r->io);
        close(r->io.fd);
        r->io.fd = -1;
    }
}

/* Sends the client its answer (or an error) and ends the relay. */
static void relay_finish(struct kdc_relay *r, int status, const char *why)
{
    struct conn *c = r->c;
    relay_close(r);
    if (!c)
        return;
    c->kdc = NULL;
    r->c = NULL;
    if (c->dead)
        return;
    if (status != 200) {
        reply_error(c, status,
                    status == 504   ? "Gateway Timeout"
                    : status == 503 ? "Service Unavailable"
                                    : "Bad Gateway",
                    why);
        return;
    }
    struct buf body = BUF_INIT;
    if (kkdcp_encode_reply(buf_data(&r->resp), buf_len(&r->resp), &body) < 0) {
        buf_free(&body);
        reply_error(c, 502, "Bad Gateway", "KDC answer not encodable");
        return;
    }
    buf_printf(&c->out,
               "HTTP/1.1 200 OK\r\nContent-Type: application/kerberos\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
               buf_len(&body));
    buf_append(&c->out, buf_data(&body), buf_len(&body));
    buf_free(&body);
    log_debug("KDC proxy: %zu-byte answer to %s", buf_len(&r->resp), c->peer_str);
    conn_after_flush_close(c);
}

static int relay_connect(struct kdc_relay *r);

static void relay_next_kdc(struct kdc_relay *r, const char *why)
{
    log_info("KDC proxy: KDC %s: %s", r->kdcs[r->kdc].name, why);
    if (r->io.fd >= 0) {
        io_del(&r->gw->loop, &r->io);
        close(r->io.fd);
        r->io.fd = -1;
    }
    buf_clear(&r->resp);
    r->sent = 0;
    r->need = 0;
    while (++r->kdc < r->nkdcs)
        if (relay_connect(r) == 0)
            return;
    relay_finish(r, 502, "no KDC answered");
}

static void relay_io(struct io *io, uint32_t events)
{
    struct kdc_relay *r = (struct kdc_relay *)io; /* io is the first member */
    if (r->dead || !r->c)
        return;
    if (r->sent < buf_len(&r->req)) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            relay_next_kdc(r, strerror(err ? err : errno));
            return;
        }
        ssize_t n =
            send(io->fd, buf_data(&r->req) + r->sent, buf_len(&r->req) - r->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            relay_next_kdc(r, "send failed");
            return;
        }
        r->sent += (size_t)n;
        if (r->sent == buf_len(&r->req))
            io_set(&r->gw->loop, io, EPOLLIN);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    size_t max = r->gw->cfg->kdc_proxy_max_message;
    for (;;) {
        size_t want = r->need ? r->need - buf_len(&r->resp) : 4 - buf_len(&r->resp);
        uint8_t tmp[8192];
        if (want > sizeof tmp)
            want = sizeof tmp;
        ssize_t n = recv(io->fd, tmp, want, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            relay_next_kdc(r, n == 0 ? "closed before answering" : strerror(errno));
            return;
        }
        if (buf_append(&r->resp, tmp, (size_t)n) < 0) {
            relay_finish(r, 502, "out of memory");
            return;
        }
        if (!r->need && buf_len(&r->resp) == 4) {
            r->need = kkdcp_framed_len(buf_data(&r->resp));
            if (r->need <= 4 || r->need > max) {
                relay_finish(r, 502, "KDC answer too large or malformed");
                return;
            }
        }
        if (r->need && buf_len(&r->resp) == r->need) {
            relay_finish(r, 200, NULL);
            return;
        }
    }
}

static int relay_connect(struct kdc_relay *r)
{
    const struct kdc_addr *a = &r->kdcs[r->kdc];
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
        log_info("KDC proxy: connect to %s: %s", a->name, strerror(errno));
        close(fd);
        return -1;
    }
    r->io.fd = fd;
    r->io.cb = relay_io;
    io_set(&r->gw->loop, &r->io, EPOLLOUT);
    return 0;
}

/* The KDCs to try: [kdc-proxy] kdcs, else what DNS gave. */
static void relay_start(struct kdc_relay *k)
{
    const struct gw_config *cfg = k->gw->cfg;
    k->nkdcs = 0;
    k->waiting_dns = false;
    if (cfg->kdc_proxy_nkdcs) {
        for (unsigned i = 0; i < cfg->kdc_proxy_nkdcs && k->nkdcs < KDC_DNS_MAX; i++) {
            struct kdc_addr *a = &k->kdcs[k->nkdcs];
            if (parse_hostport(cfg->kdc_proxy_kdcs[i], &a->ss, &a->len) == 0) {
                str_copy(a->name, cfg->kdc_proxy_kdcs[i], sizeof a->name);
                k->nkdcs++;
            }
        }
    } else {
        bool waiting = false;
        k->nkdcs = kdc_dns_get(k->gw, k->kdcs, KDC_DNS_MAX, &waiting);
        if (!k->nkdcs) {
            if (waiting) {
                k->waiting_dns = true; /* kdcproxy_dns_ready() or the deadline */
                return;
            }
            relay_finish(k, 503, "DNS gives no KDC for the realm (see the log)");
            return;
        }
    }
    k->kdc = 0;
    while (k->kdc < k->nkdcs && relay_connect(k) < 0)
        k->kdc++;
    if (k->kdc >= k->nkdcs)
        relay_finish(k, 502, "no KDC reachable");
}

void kdcproxy_dns_ready(struct gateway *gw)
{
    (void)gw;
    for (struct kdc_relay *r = relays; r; r = r->next)
        if (!r->dead && r->c && r->waiting_dns)
            relay_start(r);
}

void kdcproxy_on_body(struct conn *c)
{
    if (c->kdc || buf_len(&c->in) < c->body_need)
        return; /* relaying, or need more */
    struct gateway *gw = c->gw;
    const struct gw_config *cfg = gw->cfg;
    struct kkdcp_request m;
    int r = kkdcp_decode(buf_data(&c->in), c->body_need, cfg->kdc_proxy_max_message, &m);
    if (r != KKDCP_OK) {
        reply_error(c, 400, "Bad Request", kkdcp_strerror(r));
        return;
    }
    if (strcasecmp(m.realm, cfg->kdc_proxy_realm) != 0) {
        char why[2 * KKDCP_REALM_MAX + 32];
        snprintf(why, sizeof why, "realm '%s' is not %s", m.realm, cfg->kdc_proxy_realm);
        reply_error(c, 400, "Bad Request", why);
        return;
    }
    if (nrelays >= cfg->kdc_proxy_max_relays) {
        reply_error(c, 503, "Service Unavailable", "too many KDC requests in flight");
        return;
    }
    struct kdc_relay *k = calloc(1, sizeof *k);
    if (!k) {
        reply_error(c, 503, "Service Unavailable", "out of memory");
        return;
    }
    k->io.fd = -1;
    k->gw = gw;
    k->c = c;
    k->req = (struct buf)BUF_INIT;
    k->resp = (struct buf)BUF_INIT;
    if (buf_append(&k->req, m.kerb, m.kerb_len) < 0) {
        free(k);
        reply_error(c, 503, "Service Unavailable", "out of memory");
        return;
    }
    buf_consume(&c->in, c->body_need);
    k->deadline_ms = now_ms() + cfg->kdc_proxy_timeout_ms;
    k->next = relays;
    relays = k;
    nrelays++;
    c->kdc = k;
    relay_start(k);
}

void kdcproxy_detach(struct conn *c)
{
    struct kdc_relay *r = c->kdc;
    if (!r)
        return;
    relay_close(r);
    r->c = NULL;
    c->kdc = NULL;
}

static void reap(void)
{
    struct kdc_relay **pp = &relays;
    while (*pp) {
        struct kdc_relay *r = *pp;
        if (r->dead) {
            *pp = r->next;
            buf_free(&r->req);
            buf_free(&r->resp);
            free(r);
            nrelays--;
        } else {
            pp = &r->next;
        }
    }
}

void kdcproxy_tick(struct gateway *gw, uint64_t now)
{
    for (struct kdc_relay *r = relays; r; r = r->next)
        if (!r->dead && now >= r->deadline_ms)
            relay_finish(r, r->waiting_dns ? 503 : 504,
                         r->waiting_dns ? "no KDC known yet: the DNS lookup did not end in time"
                                        : "the KDC did not answer in time");
    reap();
    if (gw->cfg->kdc_proxy_realm[0] && !gw->cfg->kdc_proxy_nkdcs)
        kdc_dns_prefetch(gw);
}

void kdcproxy_free(struct gateway *gw)
{
    kdc_dns_stop(gw);
    for (struct kdc_relay *r = relays; r; r = r->next) {
        if (r->c)
            r->c->kdc = NULL;
        if (!r->dead && r->io.fd >= 0) {
            io_del(&gw->loop, &r->io);
            close(r->io.fd);
        }
        r->dead = true;
    }
    reap();
}
