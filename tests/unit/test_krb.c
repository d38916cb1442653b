/* Unit tests for the pure parts of Kerberos under Negotiate: the RFC 5929 tls-server-end-point
 * channel-binding data of a certificate (src/auth/krb.c) against hashes openssl computed for
 * the same certificates (tests/unit/krb_vectors.h), the acceptor's NegTokenResp with the krb5
 * OIDs (src/auth/spnego.c), and krb_accept's answers to what never reaches a KDC (no keytab,
 * a junk token). The whole exchange with a real KDC is tests/e2e/test_krb.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/krb.h"
#include "auth/spnego.h"
#include "krb_vectors.h"

static int pem_to_der(const char *pem, uint8_t *der, size_t dersz)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!x)
        return -1;
    int n = i2d_X509(x, NULL);
    uint8_t *p = der;
    if (n <= 0 || (size_t)n > dersz)
        n = -1;
    else
        i2d_X509(x, &p);
    X509_free(x);
    return n;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_cb(const char *pem, const char *want_hex)
{
    uint8_t der[2048], cb[KRB_CB_MAX];
    int dl = pem_to_der(pem, der, sizeof der);
    assert_true(dl > 0);
    int n = krb_cb_from_cert_der(der, (size_t)dl, cb, sizeof cb);
    size_t pl = strlen("tls-server-end-point:");
    assert_int_equal(n, (int)(pl + strlen(want_hex) / 2));
    assert_memory_equal(cb, "tls-server-end-point:", pl);
    char h[2 * KRB_CB_MAX + 1];
    hex(cb + pl, (size_t)n - pl, h);
    assert_string_equal(h, want_hex);
}

static void test_cb_sha256(void **state)
{
    (void)state;
    check_cb(cert_sha256, cert_sha256_hash);
}

/* RFC 5929 4.1: a SHA-1 signature hashes the certificate with SHA-256 */
static void test_cb_sha1_upgraded(void **state)
{
    (void)state;
    check_cb(cert_sha1, cert_sha1_hash);
}

static void test_cb_sha384(void **state)
{
    (void)state;
    check_cb(cert_sha384, cert_sha384_hash);
}

/* no hash in the signature algorithm: no defined value */
static void test_cb_ed25519_and_bad(void **state)
{
    (void)state;
    uint8_t der[2048], cb[KRB_CB_MAX];
    int dl = pem_to_der(cert_ed25519, der, sizeof der);
    assert_true(dl > 0);
    assert_int_equal(krb_cb_from_cert_der(der, (size_t)dl, cb, sizeof cb), -1);
    dl = pem_to_der(cert_sha256, der, sizeof der);
    assert_int_equal(krb_cb_from_cert_der(der, (size_t)dl - 1, cb, sizeof cb), -1); /* cut */
    assert_int_equal(krb_cb_from_cert_der(der, (size_t)dl, cb, 40), -1);            /* room */
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(krb_cb_from_cert_der(junk, sizeof junk, cb, sizeof cb), -1);
    assert_int_equal(krb_cb_from_cert_der(NULL, 10, cb, sizeof cb), -1);
}

/* The acceptor's answer to Kerberos: accept-completed, supportedMech = the OID the initiator
 * named first (MIT's or Microsoft's), the AP-REP, the MIC; parsed back by the same codec. */
static void test_resp_krb5_oids(void **state)
{
    (void)state;
    static const uint8_t aprep[] = {0x6f, 0x03, 0x02, 0x01, 0x05};
    static const uint8_t mic[28] = {0x04, 0x04, 0x05, 0xff};
    static const uint8_t oid_krb5[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                       0xf7, 0x12, 0x01, 0x02, 0x02};
    static const uint8_t oid_mskrb5[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x82,
                                         0xf7, 0x12, 0x01, 0x02, 0x02};
    const int mechs[] = {SPNEGO_MECH_KRB5, SPNEGO_MECH_MS_KRB5};
    const uint8_t *oids[] = {oid_krb5, oid_mskrb5};
    for (int i = 0; i < 2; i++) {
        uint8_t out[256];
        int n = spnego_build_resp(out, sizeof out, SPNEGO_ACCEPT_COMPLETED, mechs[i], aprep,
                                  sizeof aprep, mic, sizeof mic);
        assert_true(n > 0);
        /* a1 LL 30 LL  a0 03 0a 01 00  a1 0b <OID>  a2 07 04 05 <AP-REP>  a3 1e 04 1c <MIC> */
        static const uint8_t head[] = {0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa1, 0x0b};
        assert_memory_equal(out + 4, head, sizeof head);
        assert_memory_equal(out + 4 + sizeof head, oids[i], 11);
        struct spnego_token t;
        assert_int_equal(spnego_parse(out, (size_t)n, &t), 0);
        assert_int_equal(t.kind, SPNEGO_RESP);
        assert_int_equal(t.neg_state, SPNEGO_ACCEPT_COMPLETED);
        assert_int_equal(t.supported_mech, mechs[i]);
        assert_int_equal(t.mech_token_len, sizeof aprep);
        assert_memory_equal(t.mech_token, aprep, sizeof aprep);
        assert_int_equal(t.mic_len, sizeof mic);
        assert_memory_equal(t.mic, mic, sizeof mic);
    }
}

/* Wraps len bytes at buf (room before them) in tag + length; returns the new start. */
static uint8_t *wrap(uint8_t *start, size_t *len, uint8_t tag)
{
    size_t l = *len;
    if (l < 0x80) {
        *--start = (uint8_t)l;
    } else {
        *--start = (uint8_t)l;
        *--start = (uint8_t)(l >> 8);
        *--start = 0x82;
        *len += 2;
    }
    *--start = tag;
    *len += 2;
    return start;
}

/* A NegTokenInit naming Kerberos with an m-byte mechToken, built from the inside out at the
 * end of buf (bufsz bytes). Returns its start; *len gets its length. */
static uint8_t *krb_init_token(uint8_t *buf, size_t bufsz, size_t m, size_t *len)
{
    static const uint8_t krb5[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                   0xf7, 0x12, 0x01, 0x02, 0x02};
    static const uint8_t spnego[] = {0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02};
    uint8_t *p = buf + bufsz - m;
    memset(p, 0x6e, m);
    size_t l = m;
    p = wrap(p, &l, 0x04);
    p = wrap(p, &l, 0xa2);
    size_t tokl = l;
    uint8_t *tok = p;
    /* mechTypes [0] SEQUENCE { krb5 } before the token */
    p -= sizeof krb5;
    memcpy(p, krb5, sizeof krb5);
    size_t ml = sizeof krb5;
    p = wrap(p, &ml, 0x30);
    p = wrap(p, &ml, 0xa0);
    assert_ptr_equal(p + ml, tok);
    l = ml + tokl;
    p = wrap(p, &l, 0x30);
    p = wrap(p, &l, 0xa0);
    p -= sizeof spnego;
    memcpy(p, spnego, sizeof spnego);
    l += sizeof spnego;
    p = wrap(p, &l, 0x60);
    *len = l;
    return p;
}

/* A Kerberos token as large as Windows allows (MaxTokenSize 48000) parses; larger ones are
 * refused before parsing. */
static void test_init_token_sizes(void **state)
{
    (void)state;
    static uint8_t buf[SPNEGO_MAX_TOKEN + 256];
    size_t len;
    uint8_t *t0 = krb_init_token(buf, sizeof buf, SPNEGO_MAX_TOKEN - 64, &len);
    assert_true(len <= SPNEGO_MAX_TOKEN);
    struct spnego_token t;
    assert_int_equal(spnego_parse(t0, len, &t), 0);
    assert_int_equal(t.kind, SPNEGO_INIT);
    assert_int_equal(t.nmechs, 1);
    assert_int_equal(t.mechs[0], SPNEGO_MECH_KRB5);
    assert_int_equal(t.mech_token_len, SPNEGO_MAX_TOKEN - 64);
    t0 = krb_init_token(buf, sizeof buf, SPNEGO_MAX_TOKEN, &len);
    assert_true(len > SPNEGO_MAX_TOKEN);
    assert_int_equal(spnego_parse(t0, len, &t), -1);
}

/* Without a usable keytab nothing is accepted, and the reason says so; a junk token with
 * credentials unavailable never reaches the mechanism. */
static void test_accept_without_keytab(void **state)
{
    (void)state;
    struct krb_accept_req *q = calloc(1, sizeof *q);
    struct krb_accept_res *r = calloc(1, sizeof *r);
    assert_non_null(q);
    assert_non_null(r);
    snprintf(q->keytab, sizeof q->keytab, "FILE:/nonexistent/tsgw-test.keytab");
    snprintf(q->principal, sizeof q->principal, "HTTP/gw.example.test@EXAMPLE.TEST");
    static const uint8_t junk[] = {0x60, 0x03, 0x06, 0x01, 0x00};
    q->token = junk;
    q->token_len = sizeof junk;
    krb_accept(q, r);
    assert_int_equal(r->rc, KRB_ERROR);
    assert_non_null(strstr(r->reason, "HTTP/gw.example.test"));
    assert_int_equal(r->reply_len, 0);
    assert_null(r->pac);
    krb_accept_res_clear(r);
    free(q);
    free(r);
}

int main(void)
{
    setenv("KRB5_CONFIG", "/dev/null", 1); /* never the host's krb5.conf */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cb_sha256),
        cmocka_unit_test(test_cb_sha1_upgraded),
        cmocka_unit_test(test_cb_sha384),
        cmocka_unit_test(test_cb_ed25519_and_bad),
        cmocka_unit_test(test_resp_krb5_oids),
        cmocka_unit_test(test_init_token_sizes),
        cmocka_unit_test(test_accept_without_keytab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
