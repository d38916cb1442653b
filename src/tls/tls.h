/* The only OpenSSL TLS user: server context, non-blocking handshake/read/write, and the
 * self-signed certificate generator used by the embedded demo. */
#ifndef TSGW_TLS_H
#define TSGW_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

struct tls_ctx {
    SSL_CTX *ctx;
    uint8_t cbt[2][16]; /* accepted NTLM channel-binding values for our certificate */
    unsigned ncbt;
    bool key_isolated; /* the private key lives in the key process */
};

/* Loads certificate chain and key (PEM), TLS 1.2+, and computes the channel bindings. With
 * isolate_key, an RSA key is handed to a separate key process (tls/keyproc.h) and this process
 * keeps only its public half. 0, or -1 with a message in err. */
int tls_ctx_init(struct tls_ctx *t, const char *cert, const char *key, bool isolate_key, char *err,
                 size_t errsz);
void tls_ctx_free(struct tls_ctx *t);

/* Wraps an accepted, non-blocking socket. NULL on failure. */
SSL *tls_accept_new(struct tls_ctx *t, int fd);
void tls_conn_free(SSL *s);
/* The application object of a connection (the wake callback of keyproc.h maps SSL to it). */
void tls_set_owner(SSL *s, void *owner);
void *tls_owner(SSL *s);

/* I/O results: > 0 bytes; TLS_EOF (peer closed); TLS_ERR; TLS_WANT_READ / TLS_WANT_WRITE. */
#define TLS_EOF 0
#define TLS_ERR (-1)
#define TLS_WANT_READ (-2)
#define TLS_WANT_WRITE (-3)
/* The handshake waits for the key process (keyproc.h): call tls_handshake again once
 * keyproc's wake callback named this SSL. */
#define TLS_WANT_ASYNC (-4)

/* 1 when established, or one of the negative results above (TLS_WANT_ASYNC included). */
int tls_handshake(SSL *s);
/* Record buffers (about 17 KB each way) are freed whenever they are empty
 * (SSL_MODE_RELEASE_BUFFERS), so idle connections hold none. tls_keep_buffers suspends that for
 * a burst of request/response pairs (an authenticated tunnel setup) so that each pair does not
 * free and allocate both again; tls_release_buffers ends the burst and frees them now if they
 * are empty. */
void tls_keep_buffers(SSL *s);
void tls_release_buffers(SSL *s);
/* The NTLM channel-binding values of the first certificate in a PEM file (the front proxy's
 * certificate, when a proxy terminates TLS). 0 or -1 with err. */
int tls_cbt_from_pem(const char *path, uint8_t out[2][16], unsigned *n, char *err, size_t errsz);

ssize_t tls_read(SSL *s, void *buf, size_t len);
ssize_t tls_write(SSL *s, const void *buf, size_t len);
/* Bytes already decrypted and waiting in OpenSSL's buffer. */
size_t tls_pending(SSL *s);
/* Bytes read from the socket and not yet returned by tls_read (whole or partial records, with
 * the read-ahead every context uses): the socket may be empty while tls_read has data. */
bool tls_has_buffered(SSL *s);
/* Output coalescing (tls_out.c). Every connection starts with a filter between the SSL and
 * its socket on the write side. Between tls_cork and tls_uncork (nested: the outermost uncork
 * counts), what OpenSSL writes (handshake flights, the TLS 1.3 session tickets, records of
 * tls_write) collects in a buffer of up to 16 KiB and goes out in one write() when uncorked,
 * so that the tickets and the first answer leave together. Uncorked, writes go straight to the
 * socket, behind anything a partial flush left. tls_uncork and tls_out_push return 1 (nothing
 * held), TLS_WANT_WRITE (the rest is held: call tls_out_push when writable) or TLS_ERR. */
void tls_cork(SSL *s);
int tls_uncork(SSL *s);
/* Writes what is held; while corked only with force (a response before a close). */
int tls_out_push(SSL *s, bool force);
/* Bytes are held (corked, or left by a partial write). */
bool tls_out_held(SSL *s);
/* The socket refused part of what is held: wait for writability, then tls_out_push. */
bool tls_out_blocked(SSL *s);
/* The connection leaves its setup: from now on writes go straight to the socket, and the
 * filter is removed as soon as it holds nothing (the relay pays nothing for it). */
void tls_out_release(SSL *s);
/* Closing: uncorks and tries once to write what is held (close_notify included). */
void tls_out_end(SSL *s);
/* Internal: inserts the filter (tls_accept_new does). 0 or -1. */
int tls_out_attach(SSL *s);
/* Sends close_notify without waiting for the peer's. */
void tls_shutdown(SSL *s);
/* Text of the last OpenSSL error (for logs). */
const char *tls_last_error(char *buf, size_t len);

/* Writes a new RSA-2048 key and a self-signed SHA-256 certificate for cn (also as DNS SAN plus
 * IP SAN 127.0.0.1), valid for days. Key file mode 0600. 0 or -1 with err. */
int tls_make_self_signed(const char *cert_path, const char *key_path, const char *cn, int days,
                         char *err, size_t errsz);

#endif
