/* Keeps the TLS private key out of the network-facing process (see keyproc.c). */
#ifndef TSGW_TLS_KEYPROC_H
#define TSGW_TLS_KEYPROC_H

#include <sys/types.h>

typedef struct evp_pkey_st EVP_PKEY;

/* Forks the key process holding key (RSA only) and returns a public-only key whose private
 * operations are forwarded to it; the caller then frees its own copy of key. NULL with a reason
 * in *why_not when the key cannot be isolated (the caller may go on without isolation). */
EVP_PKEY *keyproc_isolate(EVP_PKEY *key, const char *why_not[1]);

/* Ends the key process (at shutdown). */
void keyproc_stop(void);

/* The key process's pid, or -1. */
pid_t keyproc_pid(void);

/* Asynchronous signing (keyproc.c, tls.c). A handshake step that needs the private key pauses
 * (tls_handshake returns TLS_WANT_ASYNC) until the key process answers. */
typedef struct ssl_st SSL;

/* The descriptor to watch for readability (the key process's answers), or -1. */
int keyproc_fd(void);

/* Called with each handshake whose answer arrived: it may resume (call tls_handshake again).
 * Called from keyproc_on_readable() and from a blocking operation, so it should only queue. */
void keyproc_set_wake(void (*wake)(SSL *ssl));

/* The handshake about to run a step (tls.c sets it around SSL_do_handshake). */
void keyproc_set_current(SSL *ssl);

/* Reads the answers waiting. 1 or 0: fine; -1: the key process is gone (every request in
 * flight failed and was woken; keyproc_fd() is -1 from now on). */
int keyproc_on_readable(void);

/* The handshake ssl is going away: its request in flight, if any, fails when it resumes. */
void keyproc_cancel(SSL *ssl);

/* Frees the idle stacks of OpenSSL's job pool when no handshake waits (the periodic sweep). */
void keyproc_trim(void);

/* Requests in flight (tests, metrics). */
unsigned keyproc_pending(void);

#endif
