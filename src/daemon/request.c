/* Gateway requests on a client connection: the path and method, the logon (logon.c), then the
 * WebSocket upgrade or the legacy OUT/IN pair that starts a tunnel (tunnel.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/kdcproxy.h"
#include "daemon/logon.h"
#include "daemon/preauth.h"

#define RDG_PATH "/remoteDesktopGateway/"

/* The path of an origin-form or absolute-form target ("https://gw:443/remoteDesktopGateway/",
 * RFC 9112 3.2.2, which the macOS app is reported to send). */
static const char *target_path(const char *target)
{
    if (!strncasecmp(target, "https://", 8) || !strncasecmp(target, "http://", 7)) {
        const char *p = strchr(strstr(target, "//") + 2, '/');
        return p ? p : "/";
    }
    return target;
}

static bool path_is(const char *target, const char *path)
{
    const char *t = target_path(target);
    size_t n = strlen(path);
    if (strncasecmp(t, path, n) != 0)
        return false;
    return t[n] == 0 || t[n] == '?';
}

static bool path_is_rdg(const char *target)
{
    return path_is(target, RDG_PATH);
}

/* ---------- paths that are not the gateway's ---------- */

/* POST /KdcProxy (MS-KKDCP) when no [kdc-proxy] is configured (kdcproxy.c serves it when one
 * is): mstsc's Kerberos client tries it on the gateway's host before its first RDG request
 * when the client has a KDC proxy setting. It gets what a Windows RD Gateway without the KDC
 * proxy answers (503), at once, and falls back to NTLM. */
static void kdcproxy_request(struct conn *c, const struct http_request *req)
{
    (void)req;
    conn_http_error(c, 503, "KDC proxy (POST /KdcProxy) not provided");
}

static const struct {
    const char *path;
    void (*fn)(struct conn *c, const struct http_request *req);
} other_paths[] = {
    {"/KdcProxy", kdcproxy_request},
};

/* Anything that is not the gateway path gets its answer at once and the connection closes:
 * mstsc probes /KdcProxy, and /rpc/rpcproxy.dll when it falls back to RPC over HTTP (404). */
static void non_gateway_request(struct conn *c, const struct http_request *req)
{
    for (size_t i = 0; i < ARRAY_SIZE(other_paths); i++)
        if (path_is(req->target, other_paths[i].path)) {
            other_paths[i].fn(c, req);
            return;
        }
    conn_http_error(c, 404, "not the gateway path");
}

static void start_websocket(struct conn *c, const struct http_request *req)
{
    struct gateway *gw = c->gw;
    const char *key = http_request_header(req, "Sec-WebSocket-Key");
    const char *ver = http_request_header(req, "Sec-WebSocket-Version");
    char accept[29];
    if (!key || ws_accept_key(key, strlen(key), accept) < 0) {
        conn_http_error(c, 400, "WebSocket upgrade without a usable Sec-WebSocket-Key");
        return;
    }
    if (ver && strcmp(ver, "13") != 0) {
        conn_send_simple(c, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n", true);
        return;
    }
    struct tunnel *t = tunnel_new(gw, c, true);
    if (!t) {
        conn_http_error(c, 503, "tunnel limit reached");
        return;
    }
    /* the iOS/macOS apps ask for the "binary" subprotocol: echoed (RFC 6455 4.2.2) */
    const char *proto = http_request_header(req, "Sec-WebSocket-Protocol");
    bool binary = proto && http_header_has_token(proto, "binary");
    buf_printf(&c->out,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
               "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s\r\n",
               accept, binary ? "Sec-WebSocket-Protocol: binary\r\n" : "", logon_success_header(c));
    ws_decoder_init(&c->ws, gw->cfg->lim.max_ws_message);
    c->phase = CONN_WS;
    conn_end_http(c);
    conn_flush(c);
}

static void start_legacy_out(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (!c->conn_id[0]) {
        conn_http_error(c, 400, "legacy OUT channel without RDG-Connection-Id");
        return;
    }
    for (struct tunnel *p = gw->pairing; p; p = p->pair_next)
        if (!strcasecmp(p->conn_id, c->conn_id)) {
            conn_http_error(c, 400, "duplicate RDG-Connection-Id");
            return;
        }
    struct tunnel *t = tunnel_new(gw, c, false);
    if (!t) {
        conn_http_error(c, 503, "tunnel limit reached");
        return;
    }
    t->conn_id = strdup(c->conn_id);
    if (!t->conn_id) {
        tunnel_close(t, "out of memory");
        return;
    }
    t->state = TUN_WAIT_IN;
    t->deadline_ms = now_ms() + gw->cfg->lim.pairing_ms;
    t->pair_next = gw->pairing;
    gw->pairing = t;
    /* No length and no type: FreeRDP skips exactly 10 seed bytes, then reads raw packets. */
    uint8_t seed[10];
    RAND_bytes(seed, sizeof seed);
    buf_printf(&c->out, "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\n%s\r\n",
               logon_success_header(c));
    buf_append(&c->out, seed, sizeof seed);
    c->phase = CONN_LEGACY_OUT;
    conn_end_http(c);
    conn_flush(c);
}

static void start_legacy_body(struct conn *c, bool chunked);

/* The IN channel pairs with its OUT channel. body: the request that authenticated it already
 * carries the packet stream (chunked or with a length: MS-TSGU does not say the client must
 * wait for the 200), so it gets no answer, as the third request of the usual sequence. */
static void start_legacy_in(struct conn *c, const struct http_request *req, bool body)
{
    struct gateway *gw = c->gw;
    struct tunnel **pp = &gw->pairing, *t = NULL;
    for (; *pp; pp = &(*pp)->pair_next)
        if (c->conn_id[0] && !strcasecmp((*pp)->conn_id, c->conn_id)) {
            t = *pp;
            break;
        }
    /* Only the same authenticated user from the same address may attach: the id is chosen by
     * the client and could be guessed. */
    if (!t || !t->out || strcasecmp(t->reg.user, c->who->account) != 0 ||
        t->unsupported_auth != c->unsupported_auth || strcmp(t->out->peer_str, c->peer_str) != 0) {
        struct event_line e;
        ev_begin(&e, 210);
        ev_str(&e, "Username", c->who->account);
        ev_str(&e, "IpAddress", c->peer_str);
        ev_str(&e, "ConnectionId", c->conn_id);
        ev_str(&e, "Reason", "IN channel found no matching OUT channel");
        ev_end(&e);
        /* 503, not 404: a 404 (403, 410) on the gateway path sends mstsc to RPC over HTTP. The
         * usual cause is a load balancer without affinity sending IN to another gateway: a
         * transient failure the client may retry. */
        conn_http_error(c, 503, "IN channel without a matching OUT channel");
        return;
    }
    *pp = t->pair_next;
    t->pair_next = NULL;
    t->in = c;
    c->tun = t;
    t->state = TUN_INITIALIZED;
    t->deadline_ms =
        now_ms() + (c->unsupported_auth ? gw->cfg->lim.auth_ms : gw->cfg->lim.setup_ms);
    if (body) {
        start_legacy_body(c, req->chunked);
        return;
    }
    buf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n%s\r\n", logon_success_header(c));
    c->phase = CONN_LEGACY_IN_HDR;
    http_parser_reset(c->hp);
    conn_flush(c);
}

static void start_legacy_body(struct conn *c, bool chunked)
{
    c->body_chunked = chunked;
    if (chunked)
        http_chunked_init(&c->chunked, c->gw->cfg->lim.max_chunk);
    c->phase = CONN_LEGACY_IN_BODY;
    conn_end_http(c);
    /* body bytes that came with the header block are waiting in c->in */
    if (buf_len(&c->in))
        conn_mark_ready(c);
}

/* The third request on the legacy IN connection: no Authorization, body = packet stream. */
static void start_legacy_in_body(struct conn *c, const struct http_request *req)
{
    if (strcmp(req->method, "RDG_IN_DATA") != 0 || !path_is_rdg(req->target)) {
        tunnel_close(c->tun, "unexpected request on the IN channel");
        return;
    }
    start_legacy_body(c, req->chunked);
}

/* An authenticated gateway request (or one let through for an MS-TSGU refusal): WebSocket,
 * legacy OUT, or legacy IN (whose authenticating request may carry the packet stream). */
static void start_channel(struct conn *c, const struct http_request *req)
{
    bool out = !strcmp(req->method, "RDG_OUT_DATA");
    bool in = !strcmp(req->method, "RDG_IN_DATA");
    bool get = !strcmp(req->method, "GET");
    bool body = req->chunked || req->content_length > 0;
    const char *upgrade = http_request_header(req, "Upgrade");
    const char *connection = http_request_header(req, "Connection");
    bool ws = upgrade && http_header_has_token(upgrade, "websocket") && connection &&
              http_header_has_token(connection, "upgrade");
    if ((out || get) && ws) {
        start_websocket(c, req);
    } else if (out) {
        start_legacy_out(c);
    } else if (in) {
        start_legacy_in(c, req, body);
    } else {
        conn_http_error(c, 400, "GET without a WebSocket upgrade");
    }
}

/* A logon that sent a 401 or a refusal: with a request body that was not read, nothing can
 * follow on this connection. */
static void after_logon_response(struct conn *c, const struct http_request *req)
{
    if (c->dead)
        return;
    if (req->chunked || req->content_length > 0)
        conn_after_flush_close(c);
    else
        http_parser_reset(c->hp);
}

void conn_handle_request(struct conn *c)
{
    const struct http_request *req = &c->hp->req;
    if (c->phase == CONN_LEGACY_IN_HDR) {
        start_legacy_in_body(c, req);
        return;
    }
    log_debug("%s %s from %s", req->method, req->target, c->peer_str);
    if (c->web) {
        web_on_request(c); /* also hands /cimom to CIM-XML on a shared listener */
        return;
    }
    if (c->cim) {
        cim_on_request(c);
        return;
    }
    if (kdcproxy_wants(c->gw, req)) {
        kdcproxy_on_request(c);
        return;
    }
    if (!path_is_rdg(req->target)) {
        non_gateway_request(c, req);
        return;
    }
    bool out = !strcmp(req->method, "RDG_OUT_DATA");
    bool in = !strcmp(req->method, "RDG_IN_DATA");
    bool get = !strcmp(req->method, "GET");
    if (!out && !in && !get) {
        conn_send_simple(c, 405, "Method Not Allowed", "Allow: RDG_OUT_DATA, RDG_IN_DATA, GET\r\n",
                         true);
        return;
    }
    /* A body is only the legacy IN channel's packet stream, and only once authenticated. */
    if ((req->chunked || req->content_length > 0) && !in) {
        conn_http_error(c, 400, "request body on a channel request");
        return;
    }
    const char *cid = http_request_header(req, "RDG-Connection-Id");
    if (cid && strlen(cid) < sizeof c->conn_id)
        str_copy(c->conn_id, cid, sizeof c->conn_id);
    if (!c->authed && !c->unsupported_auth) {
        int r = logon_http(c, req);
        if (r == LOGON_PENDING)
            return; /* conn_logon_done() continues */
        if (r == LOGON_SENT) {
            after_logon_response(c, req);
            return;
        }
        if (r == LOGON_AUTHED) {
            c->authed = true;
            preauth_release(c);
            tls_keep_buffers(c->ssl);        /* until the channel opens (tunnel.c) */
            c->who = identity_share(c->who); /* one copy per user from here on */
        } else {
            c->unsupported_auth = true; /* refused by the tunnel at its first packet */
        }
    }
    start_channel(c, req);
}

void conn_logon_done(struct conn *c, int result)
{
    if (c->dead)
        return;
    if (result == LOGON_AUTHED) {
        c->authed = true;
        preauth_release(c);
        tls_keep_buffers(c->ssl);        /* until the channel opens (tunnel.c) */
        c->who = identity_share(c->who); /* one copy per user from here on */
        start_channel(c, &c->hp->req);
    } else {
        after_logon_response(c, &c->hp->req);
    }
    if (!c->dead) {
        conn_process(c); /* what the client sent meanwhile */
        conn_update_io(c);
        conn_mark_ready(c);
    }
}
