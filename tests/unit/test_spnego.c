/* Unit tests for the SPNEGO codec (src/auth/spnego.c) and the NTLM message signatures the
 * mechListMIC needs (ntlm_sign / ntlm_verify_sig), on exchanges recorded from real
 * implementations (tests/unit/spnego_vectors.h: MIT krb5 + gss-ntlmssp, Samba), the mstsc
 * Kerberos NegTokenInit layout of docs/windows-clients.md, and malformed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/ntlm.h"
#include "auth/spnego.h"
#include "spnego_vectors.h"

#define T(a) a, sizeof a

/* ---- parser on real tokens ---- */

static void test_parse_gss_init(void **state)
{
    (void)state;
    struct spnego_token t;
    assert_true(spnego_looks_like(T(gss_t1)));
    assert_int_equal(spnego_parse(T(gss_t1), &t), 0);
    assert_int_equal(t.kind, SPNEGO_INIT);
    assert_int_equal(t.nmechs, 1);
    assert_int_equal(t.mechs[0], SPNEGO_MECH_NTLM);
    assert_non_null(t.mech_token);
    assert_memory_equal(t.mech_token, "NTLMSSP\0\1\0\0\0", 12);
    /* the MechTypeList the MIC covers: SEQUENCE { OID NTLM } */
    static const uint8_t list[] = {0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01,
                                   0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a};
    assert_int_equal(t.mech_list_len, sizeof list);
    assert_memory_equal(t.mech_list, list, sizeof list);
    assert_null(t.mic);
}

static void test_parse_responses(void **state)
{
    (void)state;
    struct spnego_token t;
    /* the acceptor's first answer: accept-incomplete, NTLM, the CHALLENGE */
    assert_int_equal(spnego_parse(T(gss_t2), &t), 0);
    assert_int_equal(t.kind, SPNEGO_RESP);
    assert_int_equal(t.neg_state, SPNEGO_ACCEPT_INCOMPLETE);
    assert_int_equal(t.supported_mech, SPNEGO_MECH_NTLM);
    assert_memory_equal(t.mech_token, "NTLMSSP\0\2\0\0\0", 12);
    /* the initiator's AUTHENTICATE with its mechListMIC */
    assert_int_equal(spnego_parse(T(gss_t3), &t), 0);
    assert_int_equal(t.kind, SPNEGO_RESP);
    assert_memory_equal(t.mech_token, "NTLMSSP\0\3\0\0\0", 12);
    assert_non_null(t.mic);
    assert_int_equal(t.mic_len, 16);
    /* Samba's client */
    assert_int_equal(spnego_parse(T(samba_t1), &t), 0);
    assert_int_equal(t.kind, SPNEGO_INIT);
    assert_int_equal(t.mechs[0], SPNEGO_MECH_NTLM);
    assert_int_equal(spnego_parse(T(samba_t3), &t), 0);
    assert_non_null(t.mic);
    /* the acceptor's last token: accept-completed and a MIC, no token */
    assert_int_equal(spnego_parse(T(gss_t4), &t), 0);
    assert_int_equal(t.neg_state, SPNEGO_ACCEPT_COMPLETED);
    assert_null(t.mech_token);
    assert_int_equal(t.mic_len, 16);
}

/* ---- builder: byte-identical to what gss-ntlmssp's acceptor sent ---- */

static void test_build_matches_mit(void **state)
{
    (void)state;
    struct spnego_token a;
    assert_int_equal(spnego_parse(T(gss_t2), &a), 0);
    uint8_t out[1024];
    int n = spnego_build_resp(out, sizeof out, SPNEGO_ACCEPT_INCOMPLETE, SPNEGO_MECH_NTLM,
                              a.mech_token, a.mech_token_len, NULL, 0);
    assert_int_equal(n, sizeof gss_t2);
    assert_memory_equal(out, gss_t2, sizeof gss_t2);
    assert_int_equal(spnego_parse(T(gss_t4), &a), 0);
    n = spnego_build_resp(out, sizeof out, SPNEGO_ACCEPT_COMPLETED, -1, NULL, 0, a.mic, a.mic_len);
    assert_int_equal(n, sizeof gss_t4);
    assert_memory_equal(out, gss_t4, sizeof gss_t4);
    /* request-mic with NTLM and no token: what a Kerberos optimistic token gets */
    n = spnego_build_resp(out, sizeof out, SPNEGO_REQUEST_MIC, SPNEGO_MECH_NTLM, NULL, 0, NULL, 0);
    static const uint8_t want[] = {0xa1, 0x15, 0x30, 0x13, 0xa0, 0x03, 0x0a, 0x01,
                                   0x03, 0xa1, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01,
                                   0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* too small a buffer, an unknown mechanism */
    assert_int_equal(
        spnego_build_resp(out, 10, SPNEGO_ACCEPT_INCOMPLETE, SPNEGO_MECH_NTLM, out, 200, NULL, 0),
        -1);
    assert_int_equal(spnego_build_resp(out, sizeof out, 0, 99, NULL, 0, NULL, 0), -1);
    /* long-form lengths round-trip */
    static uint8_t big[3000];
    memset(big, 0x42, sizeof big);
    static uint8_t out2[4096];
    n = spnego_build_resp(out2, sizeof out2, -1, -1, big, sizeof big, NULL, 0);
    assert_true(n > 3000);
    struct spnego_token r;
    assert_int_equal(spnego_parse(out2, (size_t)n, &r), 0);
    assert_int_equal(r.neg_state, -1);
    assert_int_equal(r.mech_token_len, sizeof big);
}

/* ---- the whole exchange through the NTLM acceptor and the signatures ---- */

static int lookup_alice(void *ctx, const char *domain, const char *user, uint8_t nthash[16],
                        char *identity, size_t identity_size)
{
    (void)ctx;
    if (strcasecmp(domain, "CONTOSO") || strcasecmp(user, "alice"))
        return -1;
    assert_int_equal(ntlm_nt_hash("Secret1", nthash), 0);
    snprintf(identity, identity_size, "CONTOSO\\alice");
    return 0;
}

/* Replays one recorded exchange: the NTLM acceptor takes the AUTHENTICATE against the
 * recorded NEGOTIATE and CHALLENGE, the initiator's mechListMIC verifies over the
 * MechTypeList, a tampered one does not, and the mechListMIC tsgw produces equals the one
 * gss-ntlmssp's acceptor sent (which the initiator accepted). */
static void replay(const uint8_t *t1, size_t l1, const uint8_t *t2, size_t l2, const uint8_t *t3,
                   size_t l3, const uint8_t *t4, size_t l4)
{
    struct spnego_token init, chal, auth, fin;
    assert_int_equal(spnego_parse(t1, l1, &init), 0);
    assert_int_equal(spnego_parse(t2, l2, &chal), 0);
    assert_int_equal(spnego_parse(t3, l3, &auth), 0);
    assert_int_equal(spnego_parse(t4, l4, &fin), 0);
    struct ntlm_ctx *c = malloc(sizeof *c);
    assert_non_null(c);
    ntlm_ctx_init(c);
    assert_int_equal(ntlm_ctx_set_challenge_for_test(c, init.mech_token, init.mech_token_len,
                                                     chal.mech_token, chal.mech_token_len, 1000),
                     NTLM_OK);
    struct ntlm_server_config cfg = {.nb_domain = "CONTOSO", .require_mic = false};
    struct ntlm_result res;
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth.mech_token, auth.mech_token_len, 2000,
                                              NULL, 0, lookup_alice, NULL, &res),
                     NTLM_OK);
    assert_string_equal(res.identity, "CONTOSO\\alice");
    /* the initiator's mechListMIC: client-to-server keys, sequence 0 */
    assert_int_equal(ntlm_verify_sig(res.session_key, res.flags, false, 0, init.mech_list,
                                     init.mech_list_len, auth.mic, auth.mic_len),
                     0);
    /* it does not verify as the server's, nor over another list, nor tampered */
    assert_int_equal(ntlm_verify_sig(res.session_key, res.flags, true, 0, init.mech_list,
                                     init.mech_list_len, auth.mic, auth.mic_len),
                     -1);
    assert_int_equal(ntlm_verify_sig(res.session_key, res.flags, false, 0, init.mech_list,
                                     init.mech_list_len - 1, auth.mic, auth.mic_len),
                     -1);
    uint8_t bad[16];
    memcpy(bad, auth.mic, 16);
    for (int i = 0; i < 16; i++) {
        bad[i] ^= 0x01;
        assert_int_equal(ntlm_verify_sig(res.session_key, res.flags, false, 0, init.mech_list,
                                         init.mech_list_len, bad, 16),
                         -1);
        bad[i] ^= 0x01;
    }
    assert_int_equal(ntlm_verify_sig(res.session_key, res.flags, false, 0, init.mech_list,
                                     init.mech_list_len, auth.mic, 15),
                     -1);
    /* ours, server-to-client, equals the recorded acceptor's */
    uint8_t mine[16];
    assert_int_equal(
        ntlm_sign(res.session_key, res.flags, true, 0, init.mech_list, init.mech_list_len, mine),
        0);
    assert_int_equal(fin.mic_len, 16);
    assert_memory_equal(mine, fin.mic, 16);
    /* no signing negotiated: no signature */
    assert_int_equal(ntlm_sign(res.session_key, res.flags & ~0x10u, true, 0, init.mech_list,
                               init.mech_list_len, mine),
                     -1);
    free(c);
}

static void test_exchange_gss(void **state)
{
    (void)state;
    replay(T(gss_t1), T(gss_t2), T(gss_t3), T(gss_t4));
}

static void test_exchange_samba(void **state)
{
    (void)state;
    replay(T(samba_t1), T(samba_t2), T(samba_t3), T(samba_t4));
}

/* ---- mstsc's Kerberos NegTokenInit (windows-clients.md 1.1): the mechTypes of the capture
 * (MS-KRB5, KRB5, NegoEx, NTLM) around a stand-in AP-REQ (the capture's bytes are not
 * public here: the layout is) ---- */

static void test_kerberos_first(void **state)
{
    (void)state;
    static const uint8_t tok[] = {
        0x60, 0x51, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x47, 0x30, 0x45,
        0xa0, 0x30, 0x30, 0x2e, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02,
        0x02, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x06, 0x0a,
        0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e, 0x06, 0x0a, 0x2b, 0x06,
        0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a, 0xa2, 0x11, 0x04, 0x0f, 0x60, 0x0d,
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00,
    };
    struct spnego_token t;
    assert_int_equal(spnego_parse(T(tok), &t), 0);
    assert_int_equal(t.nmechs, 4);
    assert_int_equal(t.mechs[0], SPNEGO_MECH_MS_KRB5);
    assert_int_equal(t.mechs[1], SPNEGO_MECH_KRB5);
    assert_int_equal(t.mechs[2], SPNEGO_MECH_NEGOEX);
    assert_int_equal(t.mechs[3], SPNEGO_MECH_NTLM);
    assert_int_equal(spnego_mech_index(&t, SPNEGO_MECH_NTLM), 3);
    assert_int_equal(t.mech_token_len, 15);
    assert_string_equal(spnego_mech_name(t.mechs[0]), "Microsoft Kerberos 5");
}

/* ---- malformed input ---- */

/* An InitialContextToken whose MechTypeList holds n one-byte OIDs (n <= 30). */
static size_t build_many(int n, uint8_t *out)
{
    size_t list = (size_t)n * 3, k = 0;
    out[k++] = 0x60;
    out[k++] = (uint8_t)(8 + 2 + 2 + 2 + 2 + list);
    memcpy(out + k, "\x06\x06\x2b\x06\x01\x05\x05\x02", 8);
    k += 8;
    out[k++] = 0xa0;
    out[k++] = (uint8_t)(2 + 2 + 2 + list);
    out[k++] = 0x30;
    out[k++] = (uint8_t)(2 + 2 + list);
    out[k++] = 0xa0;
    out[k++] = (uint8_t)(2 + list);
    out[k++] = 0x30;
    out[k++] = (uint8_t)list;
    for (int i = 0; i < n; i++) {
        out[k++] = 0x06;
        out[k++] = 0x01;
        out[k++] = (uint8_t)i;
    }
    return k;
}

static void test_malformed(void **state)
{
    (void)state;
    struct spnego_token t;
    uint8_t b[sizeof gss_t3];
    /* every truncation of real tokens fails cleanly */
    for (size_t n = 0; n < sizeof gss_t1; n++)
        assert_int_equal(spnego_parse(gss_t1, n, &t), -1);
    for (size_t n = 0; n < sizeof gss_t3; n++)
        assert_int_equal(spnego_parse(gss_t3, n, &t), -1);
    /* a trailing byte */
    uint8_t longer[sizeof gss_t1 + 1];
    memcpy(longer, gss_t1, sizeof gss_t1);
    longer[sizeof gss_t1] = 0;
    assert_int_equal(spnego_parse(longer, sizeof longer, &t), -1);
    /* the wrong outer OID */
    memcpy(b, gss_t1, sizeof gss_t1);
    b[9] = 0x03;
    assert_int_equal(spnego_parse(b, sizeof gss_t1, &t), -1);
    /* indefinite length (BER, not DER) */
    memcpy(b, gss_t1, sizeof gss_t1);
    b[1] = 0x80;
    assert_int_equal(spnego_parse(b, sizeof gss_t1, &t), -1);
    /* a five-byte length, a length past the end */
    static const uint8_t len5[] = {0xa1, 0x85, 0, 0, 0, 0, 3, 0x30, 0x00, 0x00};
    assert_int_equal(spnego_parse(T(len5), &t), -1);
    static const uint8_t past[] = {0xa1, 0x05, 0x30, 0x7f, 0xa0, 0x03, 0x0a};
    assert_int_equal(spnego_parse(T(past), &t), -1);
    /* fields out of order or repeated */
    static const uint8_t order[] = {0xa1, 0x0c, 0x30, 0x0a, 0xa2, 0x03, 0x04,
                                    0x01, 0x00, 0xa0, 0x03, 0x0a, 0x01, 0x00};
    assert_int_equal(spnego_parse(T(order), &t), -1);
    static const uint8_t twice[] = {0xa1, 0x0c, 0x30, 0x0a, 0xa0, 0x03, 0x0a,
                                    0x01, 0x00, 0xa0, 0x03, 0x0a, 0x01, 0x00};
    assert_int_equal(spnego_parse(T(twice), &t), -1);
    /* a negState out of range, an empty NegTokenResp is fine */
    static const uint8_t badstate[] = {0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x04};
    assert_int_equal(spnego_parse(T(badstate), &t), -1);
    static const uint8_t empty[] = {0xa1, 0x02, 0x30, 0x00};
    assert_int_equal(spnego_parse(T(empty), &t), 0);
    assert_null(t.mech_token);
    /* an empty mechanism list, 17 mechanisms */
    static const uint8_t nomech[] = {0x60, 0x10, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05,
                                     0x02, 0xa0, 0x06, 0x30, 0x04, 0xa0, 0x02, 0x30, 0x00};
    assert_int_equal(spnego_parse(T(nomech), &t), -1);
    uint8_t many[128];
    size_t k = build_many(17, many);
    assert_int_equal(spnego_parse(many, k, &t), -1);
    k = build_many(16, many);
    assert_int_equal(spnego_parse(many, k, &t), 0);
    assert_int_equal(t.nmechs, 16);
    /* over the size cap */
    static uint8_t huge[SPNEGO_MAX_TOKEN + 1];
    huge[0] = 0xa1;
    assert_int_equal(spnego_parse(huge, sizeof huge, &t), -1);
    /* raw NTLM is not SPNEGO */
    assert_false(spnego_looks_like((const uint8_t *)"NTLMSSP", 8));
    assert_int_equal(spnego_parse((const uint8_t *)"NTLMSSP", 8, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_gss_init),    cmocka_unit_test(test_parse_responses),
        cmocka_unit_test(test_build_matches_mit), cmocka_unit_test(test_exchange_gss),
        cmocka_unit_test(test_exchange_samba),    cmocka_unit_test(test_kerberos_first),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
