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

#endif
