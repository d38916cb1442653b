/* Output coalescing for a connection's setup exchanges (tls.h, "Output coalescing").
 *
 * A filter BIO sits between the SSL and its socket BIO on the write side (the read side keeps
 * the socket BIO). While corked, every record OpenSSL writes (the server flight, the TLS 1.3
 * session tickets it sends as soon as the handshake ends, the answers) is appended to a small
 * buffer, and BIO_flush (which OpenSSL calls after each flight and after each ticket) does
 * nothing; uncorking writes what was collected with one write(). Uncorked, a write goes
 * straight to the socket BIO without a copy, behind whatever a partial flush left. Once the
 * connection leaves its setup (tls_out_release), the filter is removed altogether: the relay
 * writes to the socket BIO as if it had never been there. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

/* What one corked stretch may collect before it writes: a server flight with a long chain,
 * the tickets and an answer fit; a bulk answer is written through. */
#define OUT_CAP 16384

struct tls_out {
    unsigned char *buf; /* allocated while it holds bytes: buf[off..len) */
    size_t off, len;
    unsigned depth;    /* tls_cork nesting */
    bool blocked;      /* the socket refused part of what is held */
    bool release;      /* remove the filter once empty and uncorked (tls_out_release) */
    bool pass_through; /* released: no more collecting, even while corked */
};

static BIO_METHOD *out_method;
static int out_type;
static CRYPTO_ONCE out_once = CRYPTO_ONCE_STATIC_INIT;

static size_t held(const struct tls_out *o)
{
    return o->len - o->off;
}

/* Writes what is held to the socket BIO: 1 when all of it went, 0 with b's retry flags set
 * (would block) or clear (error). */
static int drain(BIO *b, struct tls_out *o)
{
    BIO *next = BIO_next(b);
    while (held(o)) {
        size_t w = 0;
        if (!next || BIO_write_ex(next, o->buf + o->off, held(o), &w) != 1 || w == 0) {
            if (next)
                BIO_copy_next_retry(b);
            o->blocked = next && BIO_should_retry(b);
            return 0;
        }
        o->off += w;
    }
    free(o->buf);
    o->buf = NULL;
    o->off = o->len = 0;
    o->blocked = false;
    return 1;
}

static int append(struct tls_out *o, const char *data, size_t n)
{
    if (!o->buf) {
        o->buf = malloc(OUT_CAP);
        if (!o->buf)
            return 0;
        o->off = o->len = 0;
    } else if (o->len + n > OUT_CAP) {
        memmove(o->buf, o->buf + o->off, held(o));
        o->len -= o->off;
        o->off = 0;
    }
    memcpy(o->buf + o->len, data, n);
    o->len += n;
    return 1;
}

static bool collecting(const struct tls_out *o)
{
    return o->depth > 0 && !o->pass_through;
}

static int out_write(BIO *b, const char *data, size_t n, size_t *written)
{
    struct tls_out *o = BIO_get_data(b);
    BIO *next = BIO_next(b);
    *written = 0;
    BIO_clear_retry_flags(b);
    if (!next)
        return 0;
    if (collecting(o) && held(o) + n <= OUT_CAP) {
        if (!append(o, data, n))
            return 0;
        *written = n;
        return 1;
    }
    /* what is held goes first (order), then this */
    if (held(o) && !drain(b, o))
        return 0;
    if (collecting(o) && n <= OUT_CAP) {
        if (!append(o, data, n))
            return 0;
        *written = n;
        return 1;
    }
    int r = BIO_write_ex(next, data, n, written);
    BIO_copy_next_retry(b);
    return r;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_out *o = BIO_get_data(b);
    BIO *next = BIO_next(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        /* OpenSSL flushes after every flight and every ticket: corked, that waits */
        BIO_clear_retry_flags(b);
        if (collecting(o))
            return 1;
        if (held(o) && !drain(b, o))
            return 0;
        return next ? BIO_ctrl(next, cmd, num, ptr) : 1;
    case BIO_CTRL_WPENDING:
        return (long)held(o) + (next ? BIO_ctrl(next, cmd, num, ptr) : 0);
    case BIO_CTRL_GET_KTLS_SEND:
        /* asked before every record: answered here, not by a second dispatch (records written
         * through this filter are never kernel TLS; tsgwd does not enable it) */
        return 0;
    case BIO_CTRL_DUP:
        return 0;
    default:
        return next ? BIO_ctrl(next, cmd, num, ptr) : 0;
    }
}

static long out_callback_ctrl(BIO *b, int cmd, BIO_info_cb *fp)
{
    BIO *next = BIO_next(b);
    return next ? BIO_callback_ctrl(next, cmd, fp) : 0;
}

static int out_create(BIO *b)
{
    struct tls_out *o = calloc(1, sizeof *o);
    if (!o)
        return 0;
    BIO_set_data(b, o);
    BIO_set_init(b, 1);
    return 1;
}

static int out_destroy(BIO *b)
{
    struct tls_out *o = BIO_get_data(b);
    if (o) {
        free(o->buf);
        free(o);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static void out_init_method(void)
{
    out_type = BIO_get_new_index() | BIO_TYPE_FILTER;
    BIO_METHOD *m = BIO_meth_new(out_type, "tsgw setup output");
    if (!m)
        return;
    if (!BIO_meth_set_write_ex(m, out_write) || !BIO_meth_set_ctrl(m, out_ctrl) ||
        !BIO_meth_set_callback_ctrl(m, out_callback_ctrl) || !BIO_meth_set_create(m, out_create) ||
        !BIO_meth_set_destroy(m, out_destroy)) {
        BIO_meth_free(m);
        return;
    }
    out_method = m;
}

int tls_out_attach(SSL *s)
{
    if (!CRYPTO_THREAD_run_once(&out_once, out_init_method))
        return -1;
    BIO *sock = SSL_get_rbio(s);
    if (!out_method || !sock || SSL_get_wbio(s) != sock)
        return -1;
    BIO *f = BIO_new(out_method);
    if (!f)
        return -1;
    /* the chain f -> sock holds its own reference; SSL_set0_wbio drops the SSL's write
     * reference to sock (its read reference stays) */
    if (!BIO_up_ref(sock)) {
        BIO_free(f);
        return -1;
    }
    BIO_push(f, sock);
    SSL_set0_wbio(s, f);
    return 0;
}

/* The filter of s (SSL_get_wbio looks past OpenSSL's own handshake buffer), or NULL. */
static BIO *filter(SSL *s)
{
    BIO *w = s ? SSL_get_wbio(s) : NULL;
    return w && out_method && BIO_method_type(w) == out_type ? w : NULL;
}

/* Removes the filter once it is released, empty and uncorked: the socket BIO becomes the SSL's
 * write BIO again (no OpenSSL call is in progress here). */
static void maybe_detach(SSL *s, BIO *b, struct tls_out *o)
{
    if (!o->release || held(o) || o->depth)
        return;
    BIO *sock = BIO_next(b);
    if (!sock || !BIO_up_ref(sock))
        return;
    SSL_set0_wbio(s, sock); /* frees b and o, and b's reference to sock */
}

void tls_cork(SSL *s)
{
    BIO *b = filter(s);
    if (b)
        ((struct tls_out *)BIO_get_data(b))->depth++;
}

static int push(SSL *s, BIO *b, struct tls_out *o)
{
    if (held(o) && !drain(b, o))
        return BIO_should_retry(b) ? TLS_WANT_WRITE : TLS_ERR;
    maybe_detach(s, b, o);
    return 1;
}

int tls_uncork(SSL *s)
{
    BIO *b = filter(s);
    if (!b)
        return 1;
    struct tls_out *o = BIO_get_data(b);
    if (o->depth > 0)
        o->depth--;
    if (o->depth > 0)
        return 1;
    return push(s, b, o);
}

int tls_out_push(SSL *s, bool force)
{
    BIO *b = filter(s);
    if (!b)
        return 1;
    struct tls_out *o = BIO_get_data(b);
    if (collecting(o) && !force)
        return 1;
    return push(s, b, o);
}

void tls_out_end(SSL *s)
{
    BIO *b = filter(s);
    if (!b)
        return;
    struct tls_out *o = BIO_get_data(b);
    o->depth = 0;
    if (held(o))
        drain(b, o);
}

bool tls_out_held(SSL *s)
{
    BIO *b = filter(s);
    return b && held(BIO_get_data(b));
}

bool tls_out_blocked(SSL *s)
{
    BIO *b = filter(s);
    return b && ((struct tls_out *)BIO_get_data(b))->blocked;
}

void tls_out_release(SSL *s)
{
    BIO *b = filter(s);
    if (!b)
        return;
    struct tls_out *o = BIO_get_data(b);
    o->release = true;
    o->pass_through = true;
    maybe_detach(s, b, o);
}
