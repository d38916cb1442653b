/* Unit tests' server TLS context (include after cmocka.h and tls/tls.h). */
#ifndef TSGW_TESTS_TLS_FIXTURE_H
#define TSGW_TESTS_TLS_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* srv with a fresh self-signed certificate for "localhost", made in a scratch directory
 * /tmp/NAME.XXXXXX that is gone again once the context has loaded it; isolate: the private key
 * goes to the key process (keyproc.c). */
static void tls_fixture_ctx(struct tls_ctx *srv, const char *name, bool isolate)
{
    char dir[64], cert[96], key[96], err[256] = "";
    snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", name);
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    assert_int_equal(tls_make_self_signed(cert, key, "localhost", 2, err, sizeof err), 0);
    int r = tls_ctx_init(srv, cert, key, isolate, err, sizeof err);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    if (r != 0)
        fail_msg("tls_ctx_init: %s", err);
}

#endif
