/* Output coalescing on client connections (tls.h, "Output coalescing"; docs/internals.md):
 * a connection's turn (its epoll events, its pass on the ready list, a TLS handshake step)
 * collects what it writes and sends it in one write() at the end, so that the TLS 1.3 session
 * tickets and the answer to a request that came with the client's Finished leave together.
 * Connections past their setup have no filter any more (conn_end_http): cork and uncork find
 * nothing to do and a relay writes straight to the socket. */
#include "core/logsink.h"
#include "daemon/gateway.h"

bool conn_out_blocked(const struct conn *c)
{
    return c->ssl && tls_out_blocked(c->ssl);
}

bool conn_out_held(const struct conn *c)
{
    return c->ssl && tls_out_held(c->ssl);
}

void conn_turn_begin(struct conn *c)
{
    if (c->ssl)
        tls_cork(c->ssl);
}

void conn_turn_end(struct conn *c)
{
    if (!c->ssl || c->dead)
        return;
    if (conn_out_held(c))
        sink_flush(); /* the turn's log lines before its answer (logsink.h) */
    if (tls_uncork(c->ssl) == TLS_ERR)
        conn_close(c, "write failed");
}

void conn_out_end(struct conn *c)
{
    if (!c->ssl)
        return;
    if (conn_out_held(c))
        sink_flush();
    tls_out_end(c->ssl);
}
