#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "auth/ntlm.h"
#include "tls/keyproc.h"

const char *tls_last_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

int tls_ctx_init(struct tls_ctx *t, const char *cert, const char *key, bool isolate_key, char *err,
                 size_t errsz)
{
    char e[256];
    memset(t, 0, sizeof *t);
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx) {
        snprintf(err, errsz, "SSL_CTX_new: %s", tls_last_error(e, sizeof e));
        return -1;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    /* IGNORE_UNEXPECTED_EOF: a client that closes TCP without a close_notify (FreeRDP ends
     * tunnels so) is an end of stream, as map_err always treated it, without the fatal alert
     * OpenSSL would otherwise write to the closed socket (see quiet_if_gone) */
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
    /* one read() takes in whatever the client sent (a whole flight, several requests) rather
     * than two per record (header, then body); what it read ahead waits in OpenSSL's buffer,
     * which the reader must drain (tls_has_buffered) before it waits for the socket again */
    SSL_CTX_set_read_ahead(t->ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
        snprintf(err, errsz, "%s: %s", cert, tls_last_error(e, sizeof e));
        goto fail;
    }
    FILE *kf = fopen(key, "r");
    EVP_PKEY *pk = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (kf)
        fclose(kf);
    if (!pk) {
        snprintf(err, errsz, "%s: %s", key, kf ? tls_last_error(e, sizeof e) : strerror(errno));
        goto fail;
    }
    if (X509_check_private_key(SSL_CTX_get0_certificate(t->ctx), pk) != 1) {
        EVP_PKEY_free(pk);
        ERR_clear_error();
        snprintf(err, errsz, "%s does not match %s", key, cert);
        goto fail;
    }
    EVP_PKEY *use = pk;
    if (isolate_key) {
        const char *why = NULL;
        EVP_PKEY *proxy = keyproc_isolate(pk, &why);
        if (proxy) {
            use = proxy;
            t->key_isolated = true;
        } else {
            fprintf(stderr, "tsgwd: warning: private key not isolated: %s\n", why);
        }
    }
    int ok = SSL_CTX_use_PrivateKey(t->ctx, use);
    if (use != pk)
        EVP_PKEY_free(use);
    EVP_PKEY_free(pk); /* with isolation, this process keeps no private key from here on */
    if (ok != 1) {
        snprintf(err, errsz, "%s: %s", key, tls_last_error(e, sizeof e));
        goto fail;
    }
    X509 *x = SSL_CTX_get0_certificate(t->ctx);
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    if (dlen <= 0 || ntlm_cbt_from_cert_der(der, (size_t)dlen, t->cbt, &t->ncbt) < 0) {
        OPENSSL_free(der);
        snprintf(err, errsz, "%s: cannot compute channel bindings (unsupported key type?)", cert);
        goto fail;
    }
    OPENSSL_free(der);
    return 0;
fail:
    SSL_CTX_free(t->ctx);
    t->ctx = NULL;
    return -1;
}

void tls_ctx_free(struct tls_ctx *t)
{
    SSL_CTX_free(t->ctx);
    t->ctx = NULL;
}

SSL *tls_accept_new(struct tls_ctx *t, int fd)
{
    SSL *s = SSL_new(t->ctx);
    if (!s)
        return NULL;
    if (SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        return NULL;
    }
    SSL_set_accept_state(s);
    /* the setup's records are coalesced (tls_out.c); without the filter (out of memory)
     * every record is written at once, as it always was */
    tls_out_attach(s);
    if (t->key_isolated && ASYNC_is_capable())
        SSL_set_mode(s, SSL_MODE_ASYNC); /* the signature does not stall the loop (keyproc.c) */
    return s;
}

void tls_set_owner(SSL *s, void *owner)
{
    SSL_set_app_data(s, owner);
}

void *tls_owner(SSL *s)
{
    return SSL_get_app_data(s);
}

void tls_conn_free(SSL *s)
{
    if (!s)
        return;
    if (SSL_waiting_for_async(s)) {
        /* its handshake is paused for a signature: resume it so that it fails and its job
         * ends (a paused job would outlive the SSL) */
        keyproc_cancel(s);
        keyproc_set_current(s);
        SSL_do_handshake(s);
        keyproc_set_current(NULL);
        ERR_clear_error();
    }
    SSL_free(s);
}

/* The client's TCP stream ended (EOF without a close_notify, or a reset): nothing will read
 * an alert from us, so tls_shutdown sends none (one write to a closed socket less per tunnel).
 * A client that did send its close_notify gets ours (RFC 8446 6.1). */
static void quiet_if_gone(SSL *s, bool reset)
{
    BIO *rb = SSL_get_rbio(s);
    if (reset || (rb && BIO_eof(rb)))
        SSL_set_quiet_shutdown(s, 1);
}

static int map_err(SSL *s, int r)
{
    int e = SSL_get_error(s, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_WANT_ASYNC:
        return TLS_WANT_ASYNC;
    case SSL_ERROR_ZERO_RETURN:
        quiet_if_gone(s, false);
        return TLS_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        quiet_if_gone(s, errno == ECONNRESET || errno == EPIPE);
        /* an unexpected EOF without close_notify is how FreeRDP ends a tunnel */
        return errno == 0 || errno == ECONNRESET || errno == EPIPE ? TLS_EOF : TLS_ERR;
    case SSL_ERROR_SSL: {
        unsigned long le = ERR_peek_error();
        ERR_clear_error();
        if (ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return TLS_EOF;
        return TLS_ERR;
    }
    default:
        ERR_clear_error();
        return TLS_ERR;
    }
}

int tls_handshake(SSL *s)
{
    errno = 0;
    keyproc_set_current(s);
    int r = SSL_do_handshake(s);
    keyproc_set_current(NULL);
    if (r == 1) {
        SSL_clear_mode(s, SSL_MODE_ASYNC); /* only the handshake signs */
        return 1;
    }
    int m = map_err(s, r);
    return m == TLS_EOF ? TLS_ERR : m;
}

void tls_keep_buffers(SSL *s)
{
    if (s)
        SSL_clear_mode(s, SSL_MODE_RELEASE_BUFFERS);
}

void tls_release_buffers(SSL *s)
{
    if (!s || (SSL_get_mode(s) & SSL_MODE_RELEASE_BUFFERS))
        return;
    SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    SSL_free_buffers(s); /* 0 when data waits in them: they go once it is consumed or sent */
}

int tls_cbt_from_pem(const char *path, uint8_t out[2][16], unsigned *n, char *err, size_t errsz)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!x) {
        snprintf(err, errsz, "%s: cannot read a PEM certificate", path);
        return -1;
    }
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    X509_free(x);
    int r = dlen > 0 ? ntlm_cbt_from_cert_der(der, (size_t)dlen, out, n) : -1;
    OPENSSL_free(der);
    if (r < 0)
        snprintf(err, errsz, "%s: cannot compute channel bindings (unsupported key type?)", path);
    return r < 0 ? -1 : 0;
}

ssize_t tls_read(SSL *s, void *buf, size_t len)
{
    size_t got = 0;
    errno = 0;
    int r = SSL_read_ex(s, buf, len, &got);
    if (r == 1)
        return (ssize_t)got;
    return map_err(s, 0);
}

ssize_t tls_write(SSL *s, const void *buf, size_t len)
{
    size_t put = 0;
    errno = 0;
    int r = SSL_write_ex(s, buf, len, &put);
    if (r == 1)
        return (ssize_t)put;
    int m = map_err(s, 0);
    return m == TLS_EOF ? TLS_ERR : m;
}

size_t tls_pending(SSL *s)
{
    int p = SSL_pending(s);
    return p > 0 ? (size_t)p : 0;
}

bool tls_has_buffered(SSL *s)
{
    return SSL_has_pending(s) == 1;
}

void tls_shutdown(SSL *s)
{
    if (SSL_is_init_finished(s))
        SSL_shutdown(s);
    ERR_clear_error();
}

int tls_make_self_signed(const char *cert_path, const char *key_path, const char *cn, int days,
                         char *err, size_t errsz)
{
    char e[256];
    int rc = -1;
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    FILE *f = NULL;
    if (!pk || !x) {
        snprintf(err, errsz, "key generation: %s", tls_last_error(e, sizeof e));
        goto out;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), (uint64_t)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_set_pubkey(x, pk);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    char san[512];
    snprintf(san, sizeof san, "DNS:%s,IP:127.0.0.1", cn);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "serverAuth");
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, pk, EVP_sha256())) {
        snprintf(err, errsz, "signing: %s", tls_last_error(e, sizeof e));
        goto out;
    }
    int kfd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (kfd < 0 || !(f = fdopen(kfd, "w"))) {
        snprintf(err, errsz, "%s: %s", key_path, strerror(errno));
        if (kfd >= 0)
            close(kfd);
        goto out;
    }
    if (!PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)) {
        snprintf(err, errsz, "%s: write failed", key_path);
        goto out;
    }
    fclose(f);
    f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, x)) {
        snprintf(err, errsz, "%s: %s", cert_path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}
