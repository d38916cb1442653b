/* Gateway: listeners, client connections (TLS, HTTP, NTLM, WebSocket upgrade, legacy pairing),
 * the periodic sweep and the main loop. The MS-TSGU tunnel itself lives in tunnel.c. */
#include "daemon/gateway.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/log.h"
#include "core/logsink.h"
#include "daemon/admin.h"
#include "daemon/logon_limit.h"
#include "daemon/ops.h"
#include "auth/winbind_priv.h"
#include "daemon/dirpool.h"
#include "daemon/kdcproxy.h"
#include "daemon/farm.h"
#include "net/proxy.h"
#include "daemon/resolver.h"
#include "tls/keyproc.h"
#include "core/util.h"
#include "tsgu/tsgu.h"

#define READ_CHUNK 16384
#define READ_BUDGET (256 * 1024) /* bytes read from one connection per loop pass (fairness) */

/* ---------- audit ---------- */

bool gw_event_wanted(const struct gateway *gw, int id)
{
    int sw = audit_switch_for_event(id);
    return sw < 0 || gw->cfg->audit[sw];
}

/* ---------- connection I/O ---------- */

/* The transport: TLS, or a plain socket when c->ssl is NULL (the in-process fuzz harness and
 * tests drive connections over socketpairs). Results as tls_read/tls_write. */
static ssize_t xport_read(struct conn *c, void *p, size_t n)
{
    if (c->ssl)
        return tls_read(c->ssl, p, n);
    ssize_t r = recv(c->io.fd, p, n, 0);
    if (r > 0)
        return r;
    if (r == 0)
        return TLS_EOF;
    return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_WANT_READ : TLS_ERR;
}

static ssize_t xport_write(struct conn *c, const void *p, size_t n)
{
    /* the log lines of what led to this answer go out first (logsink.h) */
    sink_flush();
    if (c->ssl)
        return tls_write(c->ssl, p, n);
    ssize_t r = send(c->io.fd, p, n, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_WANT_WRITE : TLS_ERR;
}

bool conn_can_read(const struct conn *c)
{
    if (c->dead || c->close_after_flush || (c->logon && c->logon->job) || c->kdc)
        return false;
    /* a client that does not read our answers must not make us buffer more */
    if (buf_len(&c->out) > c->gw->cfg->lim.relay_buffer)
        return false;
    const struct tunnel *t = c->tun;
    if (t && (c->phase == CONN_WS || c->phase == CONN_LEGACY_IN_BODY)) {
        if (buf_len(&t->to_target) >= c->gw->cfg->lim.relay_buffer)
            return false;
        if (buf_len(&t->pkt_in) > 2u * c->gw->cfg->lim.max_packet)
            return false;
        if (t->state == TUN_CONNECTING || t->state == TUN_RESOLVING)
            return false;
    }
    return true;
}

/* Reading waits for the target connect (or its name lookup): the client waits for our answer
 * meanwhile, so it sends nothing, and its EPOLLIN interest can stay rather than cost an
 * epoll_ctl off and another on; if input does come, the wake-up takes the interest away. */
static bool read_waits_briefly(const struct conn *c)
{
    const struct tunnel *t = c->tun;
    return t && (t->state == TUN_CONNECTING || t->state == TUN_RESOLVING) &&
           buf_len(&c->out) <= c->gw->cfg->lim.relay_buffer;
}

/* woken_idle: the loop reported input while the connection could not read it */
static void update_io(struct conn *c, bool woken_idle)
{
    if (c->dead)
        return;
    uint32_t ev = 0;
    if (c->phase == CONN_TLS) {
        /* while the key process signs, the interest stays as it was (the client waits for
         * our answer, so nothing arrives; see conn_on_io): the answer resumes the handshake */
        if (c->sign_pending)
            return;
        ev = c->want_write_for_read || conn_out_blocked(c) ? EPOLLOUT : EPOLLIN;
    } else {
        if (conn_can_read(c) || c->want_read_for_write ||
            (!woken_idle && (c->io.events & EPOLLIN) && read_waits_briefly(c)))
            ev |= EPOLLIN;
        if (buf_len(&c->out) || c->want_write_for_read || conn_out_blocked(c))
            ev |= EPOLLOUT;
    }
    if (io_set(&c->gw->loop, &c->io, ev) < 0) {
        conn_close(c, "epoll_ctl failed");
        return;
    }
    /* input read ahead into OpenSSL's buffer does not wake epoll: resume through the loop */
    if (c->read_paused && (ev & EPOLLIN) && conn_can_read(c))
        conn_mark_ready(c);
}

void conn_update_io(struct conn *c)
{
    update_io(c, false);
}

void conn_mark_ready(struct conn *c)
{
    if (c->dead || c->in_ready_list)
        return;
    c->in_ready_list = true;
    c->ready_next = c->gw->ready;
    c->gw->ready = c;
}

void conn_close(struct conn *c, const char *why)
{
    if (c->dead)
        return;
    struct gateway *gw = c->gw;
    log_debug("connection from %s closed: %s", c->peer_str, why);
    c->dead = true;
    c->phase = CONN_DEAD;
    preauth_release(c);
    /* the socket stays registered until conn_free closes it at the end of this loop turn
     * (gw_reap; no wait in between): a dead connection ignores its events */
    if (c->ssl) {
        if (!c->close_after_flush)
            tls_shutdown(c->ssl);
        conn_out_end(c); /* what the turn collected goes out, the close_notify with it */
    }
    shutdown(c->io.fd, SHUT_RDWR);
    struct tunnel *t = c->tun;
    c->tun = NULL;
    if (t) {
        if (t->out == c)
            t->out = NULL;
        if (t->in == c)
            t->in = NULL;
        /* EOF or error on any channel ends the tunnel */
        tunnel_close(t, why);
    }
    c->reap_next = gw->reap_conns;
    gw->reap_conns = c;
}

static void conn_free(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (c->prev)
        c->prev->next = c->next;
    else
        gw->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw->nconns--;
    preauth_forget(c);
    if (c->ssl)
        tls_conn_free(c->ssl);
    c->ssl = NULL;
    io_forget(&c->io);
    close(c->io.fd);
    buf_free(&c->in);
    buf_free(&c->out);
    conn_end_http(c);
    identity_put(c->who);
    kdcproxy_detach(c);
    free(c);
}

void conn_end_http(struct conn *c)
{
    /* past its setup: writes go straight to the socket (tls.h, output coalescing) */
    if (c->ssl)
        tls_out_release(c->ssl);
    if (c->hp) {
        http_parser_free(c->hp);
        free(c->hp);
        c->hp = NULL;
    }
    if (c->logon) {
        logon_session_clear(c->logon);
        free(c->logon);
        c->logon = NULL;
    }
}

void conn_after_flush_close(struct conn *c)
{
    if (c->dead)
        return;
    c->close_after_flush = true;
    uint64_t d = now_ms() + 2000;
    if (!c->deadline_ms || c->deadline_ms > d)
        c->deadline_ms = d;
    conn_flush(c);
}

void conn_flush(struct conn *c)
{
    if (c->dead || c->phase == CONN_TLS)
        return;
    c->want_read_for_write = false;
    while (buf_len(&c->out)) {
        ssize_t n = xport_write(c, buf_data(&c->out), buf_len(&c->out));
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n == TLS_WANT_WRITE)
            break;
        if (n == TLS_WANT_READ) {
            c->want_read_for_write = true;
            break;
        }
        conn_close(c, "write failed");
        return;
    }
    /* Output held in a turn waits for the turn's end (conn_out.c), unless the connection closes
     * after this answer; left by a partial write, it goes now. */
    if (!buf_len(&c->out) && conn_out_held(c) && (c->close_after_flush || conn_out_blocked(c))) {
        sink_flush();
        if (tls_out_push(c->ssl, c->close_after_flush) == TLS_ERR) {
            conn_close(c, "write failed");
            return;
        }
    }
    if (!buf_len(&c->out)) {
        buf_shrink_if_empty(&c->out);
        if (c->close_after_flush && !conn_out_held(c)) {
            conn_close(c, "response sent");
            return;
        }
        if (c->tun && c->tun->out == c)
            tunnel_on_client_drained(c->tun);
    }
    conn_update_io(c);
}

static void conn_read(struct conn *c)
{
    size_t budget = READ_BUDGET;
    c->want_write_for_read = false;
    c->read_paused = false;
    while (!c->dead) {
        if (!conn_can_read(c)) {
            c->read_paused = c->ssl && tls_has_buffered(c->ssl);
            break;
        }
        if (budget == 0) {
            conn_mark_ready(c); /* more may be waiting; come back after others had a turn */
            break;
        }
        if (buf_reserve(&c->in, READ_CHUNK) < 0) {
            conn_close(c, "input buffer full");
            return;
        }
        ssize_t n = xport_read(c, buf_tail(&c->in), READ_CHUNK);
        if (n > 0) {
            buf_commit(&c->in, (size_t)n);
            budget -= (size_t)n < budget ? (size_t)n : budget;
            conn_process(c);
            /* A request/response exchange (HTTP, tunnel setup): with nothing left in
             * OpenSSL's buffer, the read-ahead most likely emptied the socket; epoll
             * (level-triggered) reports it if not. Saves the read() that would find nothing.
             * Relaying tunnels read on until the socket is empty. */
            if (c->ssl && !tls_has_buffered(c->ssl) && !(c->tun && c->tun->state == TUN_OPEN))
                break;
            continue;
        }
        if (n == TLS_WANT_READ)
            break;
        if (n == TLS_WANT_WRITE) {
            c->want_write_for_read = true;
            break;
        }
        conn_close(c, n == TLS_EOF ? "peer closed" : "read failed");
        return;
    }
    if (!c->dead) {
        buf_shrink_if_empty(&c->in);
        if (c->tun && !c->tun->dead)
            buf_shrink_if_empty(&c->tun->pkt_in); /* idle tunnels hold no input buffers */
    }
    if (!c->dead && c->counted_unauth)
        preauth_charge(c);
}

static void handshake_step(struct conn *c)
{
    int r = tls_handshake(c->ssl);
    c->want_write_for_read = false;
    if (r == 1) {
        const struct gw_limits *l = &c->gw->cfg->lim;
        c->phase = CONN_HTTP;
        c->phase_start_ms = now_ms();
        c->deadline_ms = preauth_deadline(c->gw, l->auth_ms, l->pressure_auth_ms);
        preauth_progress(c, PA_HTTP);
        conn_update_io(c);
        conn_read(c);
        return;
    }
    c->sign_pending = r == TLS_WANT_ASYNC;
    if (r == TLS_WANT_WRITE)
        c->want_write_for_read = true;
    else if (r != TLS_WANT_READ && r != TLS_WANT_ASYNC) {
        char e[256];
        log_debug("TLS handshake with %s failed: %s", c->peer_str, tls_last_error(e, sizeof e));
        conn_close(c, "TLS handshake failed");
        return;
    }
    conn_update_io(c);
}

void conn_handshake(struct conn *c)
{
    /* the server flight; then, in the step that ends the handshake, the session tickets and
     * the answer to a request that came with the client's Finished: one write each */
    conn_turn_begin(c);
    handshake_step(c);
    conn_turn_end(c);
    if (!c->dead && conn_out_blocked(c))
        conn_update_io(c);
}

static void conn_on_io(struct io *io, uint32_t events)
{
    struct conn *c = (struct conn *)((char *)io - offsetof(struct conn, io));
    if (c->dead)
        return;
    if (c->phase == CONN_PROXY && c->proxy_tls) {
        proxied_tls_header(c);
        return;
    }
    if (c->phase == CONN_TLS) {
        if (c->sign_pending) {
            /* the handshake waits for the key process: a hang-up ends it, other input waits
             * (without interest, so that it does not wake the loop again) */
            if (events & (EPOLLHUP | EPOLLERR))
                conn_close(c, "connection reset");
            else
                io_set(&c->gw->loop, &c->io, 0);
            return;
        }
        /* waiting for a handshake turn with no interest, a reset is still reported: close now
         * rather than wake the loop again and again */
        if (c->hs_queued && (events & (EPOLLHUP | EPOLLERR)))
            conn_close(c, "connection reset");
        else if (c->hs_queued)
            io_set(&c->gw->loop, &c->io, 0); /* no interest until its turn */
        else
            preauth_handshake(c);
        return;
    }
    bool woken_idle = (events & EPOLLIN) && !conn_can_read(c);
    conn_turn_begin(c);
    if (events & EPOLLOUT || c->want_read_for_write)
        conn_flush(c);
    if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR) || c->want_write_for_read))
        conn_read(c);
    if (!c->dead && (events & (EPOLLHUP | EPOLLERR)) && !conn_can_read(c))
        conn_close(c, "connection reset");
    conn_turn_end(c);
    if (!c->dead)
        update_io(c, woken_idle);
}

void conn_attach_fd(struct conn *c, int fd)
{
    c->io.fd = fd;
    c->io.cb = conn_on_io;
}

/* ---------- HTTP responses ---------- */

void conn_send_simple(struct conn *c, int status, const char *reason, const char *extra, bool close)
{
    buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n%s%s\r\n", status, reason,
               extra ? extra : "", close ? "Connection: close\r\n" : "");
    if (close)
        conn_after_flush_close(c);
    else
        conn_flush(c);
}

void conn_http_error(struct conn *c, int status, const char *why)
{
    log_info("HTTP %d to %s: %s", status, c->peer_str, why);
    conn_send_simple(c, status, http_status_text(status), NULL, true);
}

/* ---------- input dispatch ---------- */

static void process_ws(struct conn *c)
{
    struct tunnel *t = c->tun;
    if (!t || c->close_after_flush) {
        buf_clear(&c->in); /* the tunnel is gone: what the client still sends is dropped */
        return;
    }
    while (!c->dead && buf_len(&c->in)) {
        struct ws_event ev;
        size_t room = 2u * c->gw->cfg->lim.max_packet;
        if (buf_len(&t->pkt_in) >= room)
            break;
        size_t feed = buf_len(&c->in);
        /* decode no more than what pkt_in may still take (payload <= input bytes) */
        if (feed > room - buf_len(&t->pkt_in))
            feed = room - buf_len(&t->pkt_in);
        ssize_t n = ws_decode(&c->ws, buf_data(&c->in), feed, &t->pkt_in, &ev);
        if (n < 0) {
            log_info("WebSocket error %zd from %s", -n, c->peer_str);
            uint8_t code[2] = {(uint8_t)((-n) >> 8), (uint8_t)(-n)};
            if (-n >= 1000 && -n <= 4999)
                ws_put_frame(&c->out, WS_OP_CLOSE, code, 2);
            tunnel_close(t, "WebSocket protocol error");
            return;
        }
        buf_consume(&c->in, (size_t)n);
        if (ev.type == WS_EV_PING) {
            ws_put_frame(&c->out, WS_OP_PONG, ev.payload, ev.len);
            conn_flush(c);
        } else if (ev.type == WS_EV_CLOSE) {
            uint8_t code[2] = {0x03, 0xE8};
            ws_put_frame(&c->out, WS_OP_CLOSE, code, 2);
            tunnel_close(t, "WebSocket close from client");
            return;
        }
        tunnel_process(t);
        if (n == 0 && ev.type == WS_EV_NONE)
            break;
    }
}

static void process_legacy_body(struct conn *c)
{
    struct tunnel *t = c->tun;
    if (!t || c->close_after_flush) {
        buf_clear(&c->in);
        return;
    }
    size_t room = 2u * c->gw->cfg->lim.max_packet;
    while (!c->dead && buf_len(&c->in) && buf_len(&t->pkt_in) < room) {
        size_t feed = buf_len(&c->in);
        if (feed > room - buf_len(&t->pkt_in))
            feed = room - buf_len(&t->pkt_in);
        if (!c->body_chunked) {
            buf_append(&t->pkt_in, buf_data(&c->in), feed);
            buf_consume(&c->in, feed);
        } else {
            bool done = false;
            ssize_t n = http_chunked_feed(&c->chunked, buf_data(&c->in), feed, &t->pkt_in, &done);
            if (n < 0) {
                tunnel_close(t, "bad chunked encoding on the IN channel");
                return;
            }
            buf_consume(&c->in, (size_t)n);
            if (done) {
                tunnel_process(t);
                if (c->tun)
                    tunnel_close(t, "IN channel body ended");
                return;
            }
            if (n == 0)
                break;
        }
        tunnel_process(t);
    }
}

void conn_process(struct conn *c)
{
    while (!c->dead && !(c->logon && c->logon->job) && !c->kdc && buf_len(&c->in)) {
        switch (c->phase) {
        case CONN_PROXY:
            proxied_plain_header(c);
            if (c->phase == CONN_PROXY)
                return;
            continue;
        case CONN_HTTP:
        case CONN_LEGACY_IN_HDR: {
            ssize_t n = http_parser_feed(c->hp, buf_data(&c->in), buf_len(&c->in));
            if (n < 0) {
                if (c->phase == CONN_LEGACY_IN_HDR) {
                    tunnel_close(c->tun, "malformed request on the IN channel");
                    return;
                }
                conn_http_error(c, c->hp->error_status ? c->hp->error_status : 400,
                                "malformed request");
                return;
            }
            buf_consume(&c->in, (size_t)n);
            if (c->hp->pstate == HTTP_PARSER_DONE) {
                conn_handle_request(c);
                continue;
            }
            return; /* need more */
        }
        case CONN_WS:
            process_ws(c);
            return;
        case CONN_LEGACY_IN_BODY:
            process_legacy_body(c);
            return;
        case CONN_CIM_BODY:
            cim_on_body(c);
            return;
        case CONN_KDC_BODY:
            kdcproxy_on_body(c);
            return;
        case CONN_WEB_BODY:
            web_on_body(c);
            return;
        case CONN_LEGACY_OUT:
            /* FreeRDP never writes on OUT after the request; anything else is dropped */
            buf_clear(&c->in);
            return;
        default:
            buf_clear(&c->in);
            return;
        }
    }
}

/* ---------- accept ---------- */

static void on_accept(struct io *io, uint32_t events)
{
    struct listener *L = (struct listener *)io;
    struct gateway *gw = L->gw;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept on %s: %s", L->addr, strerror(errno));
            return;
        }
        char addr[64], key[ADDRKEY_MAX];
        sockaddr_to_str((struct sockaddr *)&ss, addr, sizeof addr);
        addr_key((struct sockaddr *)&ss, gw->cfg->lim.ipv6_prefix, key, sizeof key);
        if (L->proxied && !proxy_net_match(gw->cfg->trusted_proxies, gw->cfg->ntrusted_proxies,
                                           (struct sockaddr *)&ss)) {
            log_warn("backend-listen: connection from %s, not in trusted-proxies: closed", addr);
            close(fd);
            continue;
        }
        /* behind a proxy the pre-auth slot waits for the client's address (conn_proxy_header) */
        if (!L->proxied && !preauth_admit(gw, key)) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->gw = gw;
        conn_attach_fd(c, fd);
        str_copy(c->peer_str, addr, sizeof c->peer_str);
        str_copy(c->addr_key, key, sizeof c->addr_key);
        c->cim = L->cim;
        c->web = L->web;
        c->proxied = L->proxied;
        c->proxy_tls = L->proxied && gw->cfg->backend_tls;
        if (!c->proxied)
            c->ssl = tls_accept_new(L->cim && gw->cim_tls.ctx ? &gw->cim_tls : &gw->tls, fd);
        if (c->ssl)
            tls_set_owner(c->ssl, c);
        c->in.cap_limit = (size_t)gw->cfg->lim.max_header_bytes + READ_CHUNK * 2;
        c->hp = calloc(1, sizeof *c->hp);
        c->logon = calloc(1, sizeof *c->logon);
        c->who = identity_new();
        if ((!c->ssl && !c->proxied) || !c->hp || !c->logon || !c->who ||
            http_parser_init(c->hp, &gw->http_lim) < 0) {
            if (c->ssl)
                tls_conn_free(c->ssl);
            c->ssl = NULL;
            close(fd);
            conn_end_http(c);
            identity_put(c->who);
            free(c);
            continue;
        }
        c->phase = c->proxied ? CONN_PROXY : CONN_TLS;
        c->phase_start_ms = now_ms();
        c->deadline_ms =
            preauth_deadline(gw, gw->cfg->lim.tls_handshake_ms, gw->cfg->lim.pressure_tls_ms);
        if (!c->proxied && !preauth_take(c)) {
            gw->flood.preauth_refused++;
            tls_conn_free(c->ssl);
            c->ssl = NULL;
            conn_end_http(c);
            identity_put(c->who);
            close(fd);
            free(c);
            continue;
        }
        gw->nconns++;
        c->next = gw->conns;
        if (gw->conns)
            gw->conns->prev = c;
        gw->conns = c;
        log_debug("accepted %s on %s", addr, L->addr);
        conn_update_io(c);
    }
}

/* ---------- sweep, signals, loop ---------- */

static void sweep(struct gateway *gw)
{
    uint64_t now = now_ms();
    keyproc_trim();
    for (struct conn *c = gw->conns; c; c = c->next) {
        if (!c->dead)
            preauth_sweep_conn(c, now);
        if (c->dead || !c->deadline_ms || now < c->deadline_ms)
            continue;
        if (c->counted_unauth && !c->close_after_flush)
            gw->flood.preauth_expired++;
        if (c->close_after_flush) {
            conn_close(c, "flush timeout");
        } else if (c->phase == CONN_TLS) {
            conn_close(c, "TLS handshake timeout");
        } else if (c->phase == CONN_PROXY) {
            conn_close(c, "PROXY header timeout");
        } else if (c->web && (c->phase == CONN_HTTP || c->phase == CONN_WEB_BODY)) {
            conn_close(c, "idle console connection"); /* keep-alive or slow request */
        } else if ((c->phase == CONN_HTTP && !c->tun) || c->phase == CONN_CIM_BODY ||
                   (c->phase == CONN_KDC_BODY && !c->kdc)) {
            log_info("closing %s: authentication not completed in time", c->peer_str);
            conn_close(c, "authentication timeout");
        } else {
            c->deadline_ms = 0;
        }
    }
    for (struct tunnel *t = gw->tunnels; t; t = t->next)
        if (!t->dead)
            tunnel_tick(t, now);
    admin_sweep(gw, now);
    logon_limit_sweep(gw, now);
    ops_tick(gw, now);
    dirpool_tick(now);
    kdcproxy_tick(gw, now);
    farm_tick(gw, now);
}

void gw_reap(struct gateway *gw)
{
    while (gw->reap_tunnels) {
        struct tunnel *t = gw->reap_tunnels;
        gw->reap_tunnels = t->reap_next;
        tunnel_reap(t);
    }
    while (gw->reap_conns) {
        struct conn *c = gw->reap_conns;
        gw->reap_conns = c->reap_next;
        conn_free(c);
    }
}

static void begin_stop(struct gateway *gw)
{
    if (gw->stopping)
        return;
    gw->stopping = true;
    gw->stop_deadline_ms = now_ms() + 5000;
    log_info("stopping: closing %u tunnel(s)", gw->ntunnels);
    for (unsigned i = 0; i < gw->nlisteners; i++) {
        io_del(&gw->loop, &gw->listeners[i].io);
        close(gw->listeners[i].io.fd);
        gw->listeners[i].io.fd = -1;
    }
    for (struct tunnel *t = gw->tunnels; t; t = t->next)
        if (!t->dead)
            tunnel_begin_close(t, TSGU_CLOSE_CONNECTIONABORTED, "gateway stopping");
    for (struct conn *c = gw->conns; c; c = c->next)
        if (!c->dead && !c->tun)
            conn_close(c, "gateway stopping");
}

static void gw_reload(struct gateway *gw);

/* SIGTERM/SIGINT stop, SIGHUP reloads; they arrive through a signalfd in the loop. */
static void on_signal(struct io *io, uint32_t events)
{
    struct gateway *gw = (struct gateway *)((char *)io - offsetof(struct gateway, sig_io));
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            ops_stopping(gw);
            begin_stop(gw);
        } else if (si.ssi_signo == SIGHUP) {
            const struct gw_config *before = gw->cfg;
            ops_reloading(gw);
            gw_reload(gw);
            ops_reloaded(gw, gw->cfg != before);
        }
    }
}

/* SIGHUP: a new configuration for new tunnels (live ones keep theirs); a bad one is refused
 * and the running one stays. Listen addresses and certificates need a restart. */
static void gw_reload(struct gateway *gw)
{
    struct gw_config *n = config_new();
    struct buf errors = BUF_INIT;
    int nerr = n ? config_load(gw->config_path, n, &errors) : 1;
    if (nerr) {
        buf_put_u8(&errors, 0);
        log_error("SIGHUP: %s not reloaded, keeping the running configuration:\n%s",
                  gw->config_path, (char *)buf_data(&errors));
        buf_free(&errors);
        config_put(n);
        return;
    }
    buf_free(&errors);
    bool same_listen =
        n->nlisten == gw->cfg->nlisten && !memcmp(n->listen, gw->cfg->listen, sizeof n->listen) &&
        !strcmp(n->cim_listen, gw->cfg->cim_listen) && !strcmp(n->web_listen, gw->cfg->web_listen);
    if (!same_listen || strcmp(n->certificate, gw->cfg->certificate) ||
        strcmp(n->admin_socket, gw->cfg->admin_socket))
        log_warn("SIGHUP: listen addresses, certificates and the admin socket change only at "
                 "restart");
    /* keep what cannot change without a restart */
    memcpy(n->listen, gw->cfg->listen, sizeof n->listen);
    n->nlisten = gw->cfg->nlisten;
    str_copy(n->cim_listen, gw->cfg->cim_listen, sizeof n->cim_listen);
    str_copy(n->web_listen, gw->cfg->web_listen, sizeof n->web_listen);
    str_copy(n->admin_socket, gw->cfg->admin_socket, sizeof n->admin_socket);
    config_put(gw->cfg);
    gw->cfg = n;
    logon_configure(gw);
    memset(&gw->users_mtime, 0, sizeof gw->users_mtime);
    users_reload_if_changed(gw);
    log_info("SIGHUP: configuration reloaded (%zu CAP, %zu RAP, %zu resource group(s))",
             n->policy.ncaps, n->policy.nraps, n->policy.ngroups);
}

void gw_flush_deferred(struct gateway *gw)
{
    struct conn *list = gw->flush_list;
    gw->flush_list = NULL;
    while (list) {
        struct conn *c = list;
        list = c->flush_next;
        c->in_flush_list = false;
        if (!c->dead)
            conn_flush(c);
    }
}

void gw_run_ready(struct gateway *gw)
{
    /* connections with data left in OpenSSL's buffers, or resumed after backpressure */
    struct conn *list = gw->ready;
    gw->ready = NULL;
    while (list) {
        struct conn *c = list;
        list = c->ready_next;
        c->in_ready_list = false;
        if (c->dead)
            continue;
        if (c->phase == CONN_TLS) {
            /* the key process answered: the handshake goes on */
            c->sign_pending = false;
            preauth_handshake(c);
            continue;
        }
        conn_turn_begin(c);
        if (c->tun && (c->phase == CONN_WS || c->phase == CONN_LEGACY_IN_BODY))
            tunnel_process(c->tun);
        if (!c->dead)
            conn_process(c);
        if (!c->dead)
            conn_read(c);
        conn_turn_end(c);
        if (!c->dead)
            conn_update_io(c);
    }
}

/* ---------- key process (asynchronous signing) ---------- */

/* An answer for this handshake arrived: resume it after the current batch (only queues: it
 * may be called from inside another handshake's step). */
static void on_key_answer(SSL *ssl)
{
    struct conn *c = tls_owner(ssl);
    if (c && !c->dead && c->phase == CONN_TLS)
        conn_mark_ready(c);
}

static void on_key_io(struct io *io, uint32_t events)
{
    (void)events;
    struct gateway *gw = (struct gateway *)((char *)io - offsetof(struct gateway, key_io));
    if (keyproc_on_readable() < 0) {
        log_error("the key process is gone: TLS handshakes fail from now on");
        io_del(&gw->loop, &gw->key_io);
    }
}

int gw_run(struct gateway *gw)
{
    uint64_t next_sweep = now_ms() + 250;
    sink_batch(true);
    for (;;) {
        int timeout = gw->ready ? 0 : preauth_loop_timeout(gw, 250);
        sink_flush(); /* this iteration's log lines: one write, before the loop may sleep */
        int r = loop_run_once(&gw->loop, timeout);
        if (r < 0) {
            log_error("epoll_wait: %s", strerror(-r));
            sink_batch(false);
            return 1;
        }
        /* signals */
        gw_run_ready(gw);
        preauth_run_handshakes(gw);
        gw_flush_deferred(gw);
        uint64_t now = now_ms();
        if (now >= next_sweep) {
            sweep(gw);
            next_sweep = now + 250;
        }
        gw_reap(gw);
        if (gw->stopping && (!gw->conns || now >= gw->stop_deadline_ms)) {
            for (struct conn *c = gw->conns; c; c = c->next)
                conn_close(c, "shutdown");
            gw_reap(gw);
            log_info("stopped");
            sink_batch(false);
            return 0;
        }
    }
}

/* ---------- init ---------- */

static int listen_on(struct gateway *gw, const char *addr, bool cim, char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_hostport(addr, &ss, &sl) < 0) {
        snprintf(err, errsz, "bad listen address '%s'", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errsz, "listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct listener *L = &gw->listeners[gw->nlisteners++];
    L->gw = gw;
    L->cim = cim;
    L->io.fd = fd;
    L->io.cb = on_accept;
    str_copy(L->addr, addr, sizeof L->addr);
    io_set(&gw->loop, &L->io, EPOLLIN);
    log_info("listening on %s%s", addr, cim ? " (CIM-XML, POST /cimom)" : "");
    return 0;
}

/* Runs as [gateway] user from here on: the ports are bound, the key is loaded (and isolated),
 * the admin socket exists. */
static int drop_privileges(struct gateway *gw, char *err, size_t errsz)
{
    const char *name = gw->cfg->run_user;
    if (geteuid() != 0) {
        log_warn("[gateway] user = %s ignored: not started as root", name);
        return 0;
    }
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        snprintf(err, errsz, "[gateway] user: no such user '%s'", name);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        snprintf(err, errsz, "cannot become %s: %s", name, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        snprintf(err, errsz, "privileges could not be dropped");
        return -1;
    }
    if (access(gw->cfg->users_file, R_OK) < 0)
        log_warn("%s cannot read %s: account changes will not be picked up", name,
                 gw->cfg->users_file);
    log_info("running as %s (uid %u)", name, (unsigned)pw->pw_uid);
    return 0;
}

int gw_init(struct gateway *gw, const char *config_path, char *err, size_t errsz)
{
    memset(gw, 0, sizeof *gw);
    gw->sigfd = -1;
    gw->loop.epfd = -1;
    gw->admin_io.fd = -1;
    str_copy(gw->config_path, config_path, sizeof gw->config_path);
    gw->cfg = config_new();
    if (!gw->cfg || preauth_init(gw) < 0 || logon_limit_init(gw) < 0) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    struct buf errors = BUF_INIT;
    int nerr = config_load(config_path, gw->cfg, &errors);
    if (nerr) {
        buf_put_u8(&errors, 0);
        snprintf(err, errsz, "%s", (char *)buf_data(&errors));
        buf_free(&errors);
        return -1;
    }
    buf_free(&errors);
    struct gw_config *cfg = gw->cfg;
    gw->http_lim = (struct http_limits){
        .max_request_line = cfg->lim.max_request_line,
        .max_header_line = cfg->lim.max_header_line,
        .max_headers = cfg->lim.max_headers,
        .max_header_bytes = cfg->lim.max_header_bytes,
    };
    if (tls_ctx_init(&gw->tls, cfg->certificate, cfg->private_key, cfg->key_isolation, err, errsz) <
        0)
        return -1;
    char uerr[512] = "";
    if (user_store_load(cfg->users_file, 0, &gw->users, uerr, sizeof uerr) < 0) {
        snprintf(err, errsz, "users file: %s", uerr[0] ? uerr : cfg->users_file);
        return -1;
    }
    struct stat st;
    if (stat(cfg->users_file, &st) == 0)
        gw->users_mtime = st.st_mtim;
    log_info("loaded %zu account(s) from %s", gw->users.n, cfg->users_file);
    if (reg_init(&gw->reg) < 0 || reg_init(&gw->chanless) < 0 || loop_init(&gw->loop) < 0) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    logon_configure(gw);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    gw->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    gw->sig_io.fd = gw->sigfd;
    gw->sig_io.cb = on_signal;
    io_set(&gw->loop, &gw->sig_io, EPOLLIN);
    for (unsigned i = 0; i < cfg->nlisten; i++)
        if (listen_on(gw, cfg->listen[i], false, err, errsz) < 0)
            return -1;
    if (cfg->cim_listen[0]) {
        if ((strcmp(cfg->cim_certificate, cfg->certificate) ||
             strcmp(cfg->cim_private_key, cfg->private_key)) &&
            tls_ctx_init(&gw->cim_tls, cfg->cim_certificate, cfg->cim_private_key,
                         cfg->key_isolation, err, errsz) < 0)
            return -1;
        if (listen_on(gw, cfg->cim_listen, true, err, errsz) < 0)
            return -1;
    }
    if (cfg->web_listen[0]) {
        /* the console shares the CIM listener when they name the same address */
        if (strcmp(cfg->web_listen, cfg->cim_listen) &&
            listen_on(gw, cfg->web_listen, false, err, errsz) < 0)
            return -1;
        gw->listeners[gw->nlisteners - 1].web = true;
        if (web_init(gw) < 0) {
            snprintf(err, errsz, "out of memory");
            return -1;
        }
        log_info("web console on https://%s/console/", cfg->web_listen);
    }
    if (cfg->backend_listen[0]) {
        if (listen_on(gw, cfg->backend_listen, false, err, errsz) < 0)
            return -1;
        gw->listeners[gw->nlisteners - 1].proxied = true;
        log_info("backend-listen %s: %s after a PROXY v2 header from a trusted proxy",
                 cfg->backend_listen, cfg->backend_tls ? "TLS" : "plain HTTP");
        if (cfg->front_certificate[0] && tls_cbt_from_pem(cfg->front_certificate, gw->front_cbt,
                                                          &gw->front_ncbt, err, errsz) < 0)
            return -1;
    }
    if (admin_init(gw, err, errsz) < 0 || farm_init(gw, err, errsz) < 0)
        return -1;
    if (resolver_init(gw) < 0) {
        snprintf(err, errsz, "cannot start the resolver thread");
        return -1;
    }
    if (gw->tls.key_isolated) {
        log_info("private key held by the key process (pid %d)", (int)keyproc_pid());
        keyproc_set_wake(on_key_answer);
        gw->key_io.fd = keyproc_fd();
        gw->key_io.cb = on_key_io;
        if (gw->key_io.fd >= 0 && io_set(&gw->loop, &gw->key_io, EPOLLIN) < 0) {
            snprintf(err, errsz, "cannot watch the key process");
            return -1;
        }
    }
    if (cfg->run_user[0] && drop_privileges(gw, err, errsz) < 0)
        return -1;
    char why[256];
    if (cfg->directory == CONF_DIRECTORY_WINBIND && winbind_priv_check(why, sizeof why) < 0)
        log_warn("directory: %s", why); /* as the user tsgwd now runs as */
    gw->next_tunnel_id = 1;
    return ops_init(gw, err, errsz);
}

void gw_free(struct gateway *gw)
{
    resolver_stop(gw);
    ops_free(gw);
    logon_shutdown(gw);
    kdcproxy_free(gw);
    farm_free(gw);
    admin_free(gw);
    logon_limit_free(gw);
    web_free(gw);
    preauth_free(gw);
    for (unsigned i = 0; i < gw->nlisteners; i++)
        if (gw->listeners[i].io.fd >= 0)
            close(gw->listeners[i].io.fd);
    if (gw->sigfd >= 0)
        close(gw->sigfd);
    loop_free(&gw->loop);
    reg_free(&gw->reg);
    reg_free(&gw->chanless);
    user_store_free(&gw->users);
    tls_ctx_free(&gw->tls);
    tls_ctx_free(&gw->cim_tls);
    keyproc_stop();
    config_put(gw->cfg);
    buf_free(&gw->scratch);
}
