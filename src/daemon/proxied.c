/* backend-listen (docs/farm.md, front b): connections from a trusted TLS-terminating proxy start
 * with a PROXY protocol v2 header naming the client. With [gateway] backend-tls the proxy
 * re-encrypts: the header comes first in clear, then our TLS handshake, so exactly the header's
 * bytes are read before OpenSSL takes the socket over. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/preauth.h"
#include "guard/addrkey.h"
#include "guard/preauth_table.h"
#include "net/proxy.h"

/* The connection becomes the client's: address, pre-auth accounting. 0, or -1 when closed. */
static int proxied_client(struct conn *c, const struct proxy_info *pi)
{
    if (!pi->local) {
        char addr[64], key[ADDRKEY_MAX];
        sockaddr_to_str((const struct sockaddr *)&pi->src, addr, sizeof addr);
        log_debug("backend-listen: %s is client %s", c->peer_str, addr);
        str_copy(c->peer_str, addr, sizeof c->peer_str);
        addr_key((const struct sockaddr *)&pi->src, c->gw->cfg->lim.ipv6_prefix, key, sizeof key);
        str_copy(c->addr_key, key, sizeof c->addr_key);
    }
    if (!preauth_admit(c->gw, c->addr_key) || !preauth_take(c)) {
        c->gw->flood.preauth_refused++;
        log_warn("refusing connection from %s: too many unauthenticated connections", c->peer_str);
        conn_close(c, "too many unauthenticated connections");
        return -1;
    }
    return 0;
}

static void bad_header(struct conn *c)
{
    log_warn("backend-listen: no valid PROXY v2 header from %s: closed", c->peer_str);
    conn_close(c, "bad PROXY header");
}

void proxied_plain_header(struct conn *c)
{
    struct proxy_info pi;
    int n = proxy_v2_parse(buf_data(&c->in), buf_len(&c->in), &pi);
    if (n == 0)
        return; /* need more */
    if (n < 0) {
        bad_header(c);
        return;
    }
    buf_consume(&c->in, (size_t)n);
    if (proxied_client(c, &pi) < 0)
        return;
    c->phase = CONN_HTTP;
    c->phase_start_ms = now_ms();
    c->deadline_ms =
        preauth_deadline(c->gw, c->gw->cfg->lim.auth_ms, c->gw->cfg->lim.pressure_auth_ms);
    preauth_progress(c, PA_HTTP);
}

void proxied_tls_header(struct conn *c)
{
    /* 16 bytes first (they give the length), then the rest: never a byte of the TLS hello */
    size_t have = buf_len(&c->in);
    size_t need = PROXY_V2_HDR_LEN;
    struct proxy_info pi;
    if (have >= PROXY_V2_HDR_LEN) {
        const uint8_t *h = buf_data(&c->in);
        need += (size_t)h[14] << 8 | h[15];
    }
    if (proxy_v2_parse(buf_data(&c->in), have, &pi) < 0 ||
        need > PROXY_V2_HDR_LEN + PROXY_V2_MAX_LEN) {
        bad_header(c);
        return;
    }
    if (have < need) {
        if (buf_reserve(&c->in, need - have) < 0) {
            conn_close(c, "out of memory");
            return;
        }
        ssize_t r = recv(c->io.fd, buf_tail(&c->in), need - have, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r <= 0) {
            conn_close(c, r == 0 ? "peer closed" : "read failed");
            return;
        }
        buf_commit(&c->in, (size_t)r);
        have += (size_t)r;
        if (have == PROXY_V2_HDR_LEN && need == PROXY_V2_HDR_LEN) {
            proxied_tls_header(c); /* now the length is known */
            return;
        }
        if (have < need)
            return;
    }
    int n = proxy_v2_parse(buf_data(&c->in), have, &pi);
    if (n <= 0 || (size_t)n != have) {
        bad_header(c);
        return;
    }
    buf_clear(&c->in);
    if (proxied_client(c, &pi) < 0)
        return;
    c->ssl = tls_accept_new(&c->gw->tls, c->io.fd);
    if (!c->ssl) {
        conn_close(c, "TLS setup failed");
        return;
    }
    tls_set_owner(c->ssl, c); /* the key process's answer finds the connection */
    c->phase = CONN_TLS;      /* the handshake as on the public listener, deadline kept */
    conn_update_io(c);
}
