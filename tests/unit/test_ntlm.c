/* Unit tests for the NTLMv2 acceptor: primitives, MS-NLMP 4.2.4, a real FreeRDP 2.11.7 exchange
 * (spec section 5.2) with its negative variants, and channel-binding values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "auth/ntlm.h"

/* ---- helpers ---- */

/* Decodes hex (whitespace ignored) into a malloc'd buffer; *n gets the length. */
static uint8_t *unhex(const char *s, size_t *n)
{
    size_t cap = strlen(s) / 2 + 1, len = 0;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            v = *s - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[len++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    *n = len;
    return out;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want_hex)
{
    size_t wn;
    uint8_t *want = unhex(want_hex, &wn);
    assert_int_equal(n, wn);
    assert_memory_equal(got, want, n);
    free(want);
}

static void hex16(const char *s, uint8_t out[16])
{
    size_t n;
    uint8_t *b = unhex(s, &n);
    assert_int_equal(n, 16);
    memcpy(out, b, 16);
    free(b);
}

/* ---- test data (ms-nlmp-server.md section 5) ---- */

static const char *nlmp424_challenge =
    "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef"
    "00000000000000002400240044000000060070170000000f5300650072007600"
    "6500720002000c0044006f006d00610069006e0001000c005300650072007600"
    "6500720000000000";
static const char *nlmp424_authenticate =
    "4e544c4d5353500003000000180018006c00000054005400840000000c000c00"
    "480000000800080054000000100010005c00000010001000d8000000358288e2"
    "0501280a0000000f44006f006d00610069006e00550073006500720043004f00"
    "4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa"
    "aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000"
    "00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00"
    "01000c005300650072007600650072000000000000000000c5dad2544fc97990"
    "94ce1ce90bc9d03e";

static const char *frdp_negotiate =
    "4e544c4d5353500001000000b78208e2000000000000000000000000000000000601b11d0000000f";
static const char *frdp_challenge =
    "4e544c4d53535000020000000e000e0038000000358289e20123456789abcdef"
    "000000000000000068006800460000000a007c4f0000000f43004f004e005400"
    "4f0053004f0002000e0043004f004e0054004f0053004f000100040047005700"
    "0400180063006f006e0074006f0073006f002e00740065007300740003001e00"
    "670077002e0063006f006e0074006f0073006f002e0074006500730074000700"
    "08006083e6e1f77bdd0100000000";
static const char *frdp_authenticate =
    "4e544c4d53535000030000001800180074000000dc00dc008c0000000e000e00"
    "580000000a000a00660000000400040070000000100010006801000035b288e2"
    "0601b11d0000000fab5e91ea545af595e2fab2116834cc0943004f004e005400"
    "4f0053004f0061006c0069006300650076006d0075593239756447397a627935"
    "305a584e304d423458445449fdd174a82fded637643de64edfba421501010000"
    "000000006083e6e1f77bdd0166f74a67db4065e20000000002000e0043004f00"
    "4e0054004f0053004f0001000400470057000400180063006f006e0074006f00"
    "73006f002e00740065007300740003001e00670077002e0063006f006e007400"
    "6f0073006f002e007400650073007400070008006083e6e1f77bdd0106000400"
    "020000000a001000c256ef7e17ea4437d1049def68ed601109001c0048005400"
    "540050002f003100320037002e0030002e0030002e0031000000000000000000"
    "0000000000000000244da9f11602b861bebadbf32434492d";
static const char *frdp_cbt = "c256ef7e17ea4437d1049def68ed6011";
static const uint8_t frdp_server_challenge[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
/* FILETIME 6083e6e1f77bdd01 (little-endian on the wire). */
static const uint64_t frdp_now_filetime = 0x01dd7bf7e1e68360ull;
static const uint64_t t0_ms = 1000000;

/* ---- account lookup stub ---- */

struct account {
    const char *domain, *user, *hash_hex, *identity;
};

struct accounts {
    const struct account *v;
    size_t n;
    unsigned calls;
};

static int lookup_stub(void *ctx, const char *domain, const char *user, uint8_t nthash[16],
                       char *identity, size_t identity_size)
{
    struct accounts *a = ctx;
    a->calls++;
    for (size_t i = 0; i < a->n; i++) {
        if (strcasecmp(a->v[i].user, user) != 0)
            continue;
        if (domain[0] && strcasecmp(a->v[i].domain, domain) != 0)
            continue;
        hex16(a->v[i].hash_hex, nthash);
        snprintf(identity, identity_size, "%s", a->v[i].identity);
        return 0;
    }
    return -1;
}

static const struct account frdp_accounts_v[] = {
    {"CONTOSO", "alice", "ed50bdc9faa370e31ac4ee119fd51f48", "CONTOSO\\alice"},
    {"CONTOSO", "bob", "a4f49c406510bdcab6824ee7c30fd852", "CONTOSO\\bob"},
};

static const char *const spn_ok[] = {"gw.contoso.test", "127.0.0.1", NULL};

static struct ntlm_server_config frdp_config(void)
{
    struct ntlm_server_config cfg = {
        .nb_domain = "CONTOSO",
        .nb_computer = "GW",
        .dns_domain = "contoso.test",
        .dns_computer = "gw.contoso.test",
        .require_mic = true,
        .require_cbt = true,
        .spn_hosts = spn_ok,
        .require_spn = true,
        .challenge_lifetime_s = 120,
        .fixed_challenge = frdp_server_challenge,
    };
    return cfg;
}

/* Runs NEGOTIATE (checking the CHALLENGE bytes) then the given AUTHENTICATE. */
static int run_frdp(const struct ntlm_server_config *cfg, const uint8_t *auth, size_t auth_len,
                    uint64_t now_ms, const uint8_t (*cbt)[16], unsigned ncbt,
                    const struct account *acc, size_t nacc, struct ntlm_result *res)
{
    size_t nlen, clen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    uint8_t *chal = unhex(frdp_challenge, &clen);
    struct ntlm_ctx *c = malloc(sizeof *c);
    assert_non_null(c);
    ntlm_ctx_init(c);
    struct buf out = BUF_INIT;
    assert_int_equal(ntlm_accept_negotiate(c, cfg, neg, nlen, frdp_now_filetime, t0_ms, &out),
                     NTLM_OK);
    assert_int_equal(buf_len(&out), clen);
    assert_memory_equal(buf_data(&out), chal, clen);
    struct accounts a = {acc, nacc, 0};
    int r =
        ntlm_accept_authenticate(c, cfg, auth, auth_len, now_ms, cbt, ncbt, lookup_stub, &a, res);
    buf_free(&out);
    ntlm_ctx_clear(c);
    free(c);
    free(neg);
    free(chal);
    return r;
}

static int run_frdp_default(const uint8_t *auth, size_t len, struct ntlm_result *res)
{
    struct ntlm_server_config cfg = frdp_config();
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    return run_frdp(&cfg, auth, len, t0_ms + 5000, (const uint8_t(*)[16])cbt, 1, frdp_accounts_v, 2,
                    res);
}

/* ---- primitives ---- */

static void test_md4_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
        {"a", "bde52cb31de33e46245e05fbdbd6fb24"},
        {"abc", "a448017aaf21d8525fc10ae87aa6729d"},
        {"message digest", "d9130a8164549fe818874806e1c7014b"},
        {"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "043f8582f241db351ce627e153e7f0e4"},
        {"1234567890123456789012345678901234567890"
         "1234567890123456789012345678901234567890",
         "e33b4ddc9c38f2199c3e7b164fcc0536"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t h[16];
        ntlm_md4((const uint8_t *)v[i].in, strlen(v[i].in), h);
        assert_hex(h, 16, v[i].out);
    }
}

static void test_rc4_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *pt, *ct;
    } v[] = {
        {"Key", "Plaintext", "bbf316e8d940af0ad3"},
        {"Wiki", "pedia", "1021bf0420"},
        {"Secret", "Attack at dawn", "45a01f645fc35b383552544b9bf5"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t buf[64];
        size_t n = strlen(v[i].pt);
        memcpy(buf, v[i].pt, n);
        ntlm_rc4_keylen((const uint8_t *)v[i].key, strlen(v[i].key), buf, n);
        assert_hex(buf, n, v[i].ct);
        ntlm_rc4_keylen((const uint8_t *)v[i].key, strlen(v[i].key), buf, n);
        assert_memory_equal(buf, v[i].pt, n);
    }
    /* 16-byte key: MS-NLMP 4.2.4, RC4(KXKEY, 16 x 0x55). */
    uint8_t key[16], data[16];
    hex16("8de40ccadbc14a82f15cb0ad0de95ca3", key);
    memset(data, 0x55, 16);
    ntlm_rc4(key, data, 16);
    assert_hex(data, 16, "c5dad2544fc9799094ce1ce90bc9d03e");
}

/* Cross-checks the local MD4/RC4 against OpenSSL's legacy provider when it is installed. */
static void test_md4_rc4_vs_legacy_provider(void **state)
{
    (void)state;
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    assert_non_null(lc);
    OSSL_PROVIDER *leg = OSSL_PROVIDER_load(lc, "legacy");
    OSSL_PROVIDER *def = OSSL_PROVIDER_load(lc, "default");
    EVP_MD *md4 = leg ? EVP_MD_fetch(lc, "MD4", NULL) : NULL;
    EVP_CIPHER *rc4 = leg ? EVP_CIPHER_fetch(lc, "RC4", NULL) : NULL;
    if (!md4 || !rc4) {
        EVP_MD_free(md4);
        EVP_CIPHER_free(rc4);
        if (leg)
            OSSL_PROVIDER_unload(leg);
        if (def)
            OSSL_PROVIDER_unload(def);
        OSSL_LIB_CTX_free(lc);
        skip();
    }
    uint8_t data[300];
    for (size_t len = 0; len <= sizeof data; len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)(i * 7 + len);
        uint8_t a[16], b[16];
        unsigned int bl = 0;
        ntlm_md4(data, len, a);
        assert_true(EVP_Digest(data, len, b, &bl, md4, NULL));
        assert_int_equal(bl, 16);
        assert_memory_equal(a, b, 16);
    }
    for (int t = 0; t < 50; t++) {
        uint8_t key[16], pt[100], x[100], y[100];
        int ol = 0;
        assert_int_equal(RAND_bytes(key, 16), 1);
        assert_int_equal(RAND_bytes(pt, sizeof pt), 1);
        memcpy(x, pt, sizeof pt);
        ntlm_rc4(key, x, sizeof x);
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        assert_true(EVP_EncryptInit_ex2(cc, rc4, key, NULL, NULL));
        assert_true(EVP_EncryptUpdate(cc, y, &ol, pt, (int)sizeof pt));
        assert_int_equal(ol, (int)sizeof pt);
        EVP_CIPHER_CTX_free(cc);
        assert_memory_equal(x, y, sizeof x);
    }
    EVP_MD_free(md4);
    EVP_CIPHER_free(rc4);
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
    OSSL_LIB_CTX_free(lc);
}

static void test_nt_hash_and_hmac(void **state)
{
    (void)state;
    uint8_t h[16];
    assert_int_equal(ntlm_nt_hash("Password", h), 0);
    assert_hex(h, 16, "a4f49c406510bdcab6824ee7c30fd852");
    assert_int_equal(ntlm_nt_hash("Secret1", h), 0);
    assert_hex(h, 16, "ed50bdc9faa370e31ac4ee119fd51f48");
    assert_int_equal(ntlm_nt_hash("", h), 0);
    assert_hex(h, 16, "31d6cfe0d16ae931b73c59d7e0c089c0");
    assert_int_equal(ntlm_nt_hash("\xff\xfe", h), -1);

    /* RFC 2202 HMAC-MD5 test case 2, split over the two data pieces. */
    assert_int_equal(ntlm_hmac_md5((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya ", 11,
                                   (const uint8_t *)"want for nothing?", 17, h),
                     0);
    assert_hex(h, 16, "750c783e6ab0b503eaa86e310a5db738");

    assert_int_equal(ntlm_filetime_from_unix(0), 116444736000000000ull);
    assert_string_equal(ntlm_strerror(NTLM_ERR_MIC), "NTLM MIC missing or wrong");
    assert_string_equal(ntlm_strerror(12345), "unknown NTLM status");
}

/* ---- MS-NLMP 4.2.4 ---- */

static void test_nlmp424_keys(void **state)
{
    (void)state;
    uint8_t nt[16], owf[16], proof[16], sbk[16], esk[16];
    assert_int_equal(ntlm_nt_hash("Password", nt), 0);
    assert_int_equal(ntlm_ntowfv2(nt, "User", "Domain", owf), 0);
    assert_hex(owf, 16, "0c868a403bfd7a93a3001ef22ef02e3f");
    /* Case of the user does not matter, case of the domain does. */
    assert_int_equal(ntlm_ntowfv2(nt, "user", "Domain", proof), 0);
    assert_memory_equal(proof, owf, 16);
    assert_int_equal(ntlm_ntowfv2(nt, "User", "DOMAIN", proof), 0);
    assert_memory_not_equal(proof, owf, 16);

    size_t tn;
    uint8_t *temp = unhex("0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000"
                          "02000c0044006f006d00610069006e0001000c00530065007200760065007200"
                          "00000000 00000000",
                          &tn);
    assert_int_equal(tn, 68);
    assert_int_equal(ntlm_hmac_md5(owf, 16, frdp_server_challenge, 8, temp, tn, proof), 0);
    assert_hex(proof, 16, "68cd0ab851e51c96aabc927bebef6a1c");
    assert_int_equal(ntlm_hmac_md5(owf, 16, proof, 16, NULL, 0, sbk), 0);
    assert_hex(sbk, 16, "8de40ccadbc14a82f15cb0ad0de95ca3");
    hex16("c5dad2544fc9799094ce1ce90bc9d03e", esk);
    ntlm_rc4(sbk, esk, 16);
    assert_hex(esk, 16, "55555555555555555555555555555555");
    free(temp);
}

static const struct account nlmp424_accounts[] = {
    {"Domain", "User", "a4f49c406510bdcab6824ee7c30fd852", "Domain\\User"},
};

static int run_424(uint8_t *auth, size_t alen, struct ntlm_result *res)
{
    size_t clen;
    uint8_t *chal = unhex(nlmp424_challenge, &clen);
    assert_int_equal(clen, 104);
    struct ntlm_ctx *c = malloc(sizeof *c);
    assert_non_null(c);
    assert_int_equal(ntlm_ctx_set_challenge_for_test(c, NULL, 0, chal, clen, t0_ms), NTLM_OK);
    struct ntlm_server_config cfg = {
        .nb_domain = "Domain",
        .nb_computer = "Server",
        .require_mic = false,
        .require_cbt = false,
    };
    struct accounts a = {nlmp424_accounts, 1, 0};
    int r = ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms + 1, NULL, 0, lookup_stub, &a, res);
    ntlm_ctx_clear(c);
    free(c);
    free(chal);
    return r;
}

static void test_nlmp424_authenticate(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(nlmp424_authenticate, &alen);
    assert_int_equal(alen, 232);
    struct ntlm_result res;
    assert_int_equal(run_424(auth, alen, &res), NTLM_OK);
    assert_string_equal(res.domain, "Domain");
    assert_string_equal(res.user, "User");
    assert_string_equal(res.workstation, "COMPUTER");
    assert_string_equal(res.identity, "Domain\\User");
    assert_false(res.had_mic);
    assert_false(res.had_cbt);

    /* A wrong NTProofStr byte: bad credentials, identity not filled. */
    auth[0x84] ^= 1;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_BAD_CREDENTIALS);
    assert_string_equal(res.user, "User");
    assert_string_equal(res.identity, "");
    free(auth);
}

/* A client that hashed an empty domain but sent "Domain" is still accepted (step 7). */
static void test_nlmp424_nil_domain_retry(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(nlmp424_authenticate, &alen);
    uint8_t nt[16], owf[16];
    assert_int_equal(ntlm_nt_hash("Password", nt), 0);
    assert_int_equal(ntlm_ntowfv2(nt, "User", "", owf), 0);
    /* NtChallengeResponse at 0x84, 84 bytes: recompute NTProofStr over the unchanged blob. */
    assert_int_equal(
        ntlm_hmac_md5(owf, 16, frdp_server_challenge, 8, auth + 0x84 + 16, 84 - 16, auth + 0x84),
        0);
    struct ntlm_result res;
    assert_int_equal(run_424(auth, alen, &res), NTLM_OK);
    assert_string_equal(res.identity, "Domain\\User");
    free(auth);
}

static void test_nlmp424_structure_errors(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *orig = unhex(nlmp424_authenticate, &alen);
    uint8_t *auth = malloc(alen);
    struct ntlm_result res;

    /* Bad signature / type. */
    memcpy(auth, orig, alen);
    auth[0] = 'X';
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    memcpy(auth, orig, alen);
    auth[8] = 1;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Buffer offset overflow: NT offset 0xffffffff. */
    memcpy(auth, orig, alen);
    memset(auth + 24, 0xff, 4);
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Offset inside the fixed header. */
    memcpy(auth, orig, alen);
    auth[32] = 0x10;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Odd user name length. */
    memcpy(auth, orig, alen);
    auth[36] = 7;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* No UNICODE. */
    memcpy(auth, orig, alen);
    auth[60] &= (uint8_t)~1u;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_UNSUPPORTED);
    /* ANONYMOUS flag. */
    memcpy(auth, orig, alen);
    auth[61] |= 0x08;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_UNSUPPORTED);
    /* KEY_EXCH with a 15-byte key; and a key without KEY_EXCH. */
    memcpy(auth, orig, alen);
    auth[52] = 15;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    memcpy(auth, orig, alen);
    auth[63] &= (uint8_t)~0x40u;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Anonymous: empty user. */
    memcpy(auth, orig, alen);
    auth[36] = 0;
    auth[38] = 0;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_UNSUPPORTED);
    /* Empty NT response. */
    memcpy(auth, orig, alen);
    auth[20] = 0;
    auth[22] = 0;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_UNSUPPORTED);
    /* RespType != 1. */
    memcpy(auth, orig, alen);
    auth[0x84 + 16] = 2;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* AV list without EOL: shorten the NT response so it ends inside the Server pair. */
    memcpy(auth, orig, alen);
    auth[20] = 84 - 12;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Duplicate AV id: turn the Server pair (id 1) into a second NbDomainName (id 2). */
    memcpy(auth, orig, alen);
    auth[0x84 + 44 + 16] = 2;
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_MALFORMED);
    /* Unknown user: bad credentials, and the lookup still ran. */
    memcpy(auth, orig, alen);
    auth[0x54] = 'X';
    assert_int_equal(run_424(auth, alen, &res), NTLM_ERR_BAD_CREDENTIALS);
    assert_string_equal(res.user, "Xser");
    free(auth);
    free(orig);
}

/* ---- FreeRDP 2.11.7 exchange (spec 5.2) ---- */

static void test_frdp_challenge_bytes(void **state)
{
    (void)state;
    size_t nlen, clen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    uint8_t *chal = unhex(frdp_challenge, &clen);
    assert_int_equal(nlen, 40);
    assert_int_equal(clen, 174);
    struct ntlm_server_config cfg = frdp_config();
    struct ntlm_ctx c;
    ntlm_ctx_init(&c);
    struct buf out = BUF_INIT;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_OK);
    assert_int_equal(buf_len(&out), 174);
    assert_memory_equal(buf_data(&out), chal, 174);
    assert_int_equal(c.flags, 0xE2898235u);
    assert_int_equal(c.challenge_len, 174);
    assert_memory_equal(c.challenge, chal, 174);
    assert_int_equal(c.negotiate_len, 40);
    assert_memory_equal(c.negotiate, neg, 40);

    /* A second NEGOTIATE restarts with a fresh (here: random) challenge. */
    buf_clear(&out);
    cfg.fixed_challenge = NULL;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_OK);
    assert_int_equal(buf_len(&out), 174);
    assert_memory_not_equal(buf_data(&out) + 24, frdp_server_challenge, 8);
    assert_memory_equal(buf_data(&out) + 24, c.server_challenge, 8);

    /* No KEY_EXCH offered -> none in the CHALLENGE; no SIGN/SEAL -> none echoed. */
    buf_clear(&out);
    neg[15] &= (uint8_t)~0x40u;
    neg[12] &= (uint8_t)~0x30u;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_OK);
    assert_int_equal(c.flags, 0xE2898235u & ~0x40000030u);

    /* No UNICODE or no NTLM: unsupported; garbage: malformed. */
    memcpy(neg, chal, 40);
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_ERR_MALFORMED);
    free(neg);
    neg = unhex(frdp_negotiate, &nlen);
    neg[12] &= (uint8_t)~1u;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_ERR_UNSUPPORTED);
    neg[12] |= 1;
    neg[13] &= (uint8_t)~2u;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_ERR_UNSUPPORTED);
    neg[13] |= 2;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, 31, frdp_now_filetime, 0, &out),
                     NTLM_ERR_MALFORMED);
    assert_int_equal(
        ntlm_accept_negotiate(&c, &cfg, neg, NTLM_MAX_MESSAGE + 1, frdp_now_filetime, 0, &out),
        NTLM_ERR_MALFORMED);
    /* OEM_DOMAIN_SUPPLIED with an out-of-bounds buffer. */
    neg[13] |= 0x10;
    neg[16] = 4;
    neg[20] = 200;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_ERR_MALFORMED);

    /* AUTHENTICATE before any CHALLENGE is out of order and spends the context. */
    struct ntlm_result res;
    struct accounts a = {frdp_accounts_v, 2, 0};
    ntlm_ctx_init(&c);
    assert_int_equal(
        ntlm_accept_authenticate(&c, &cfg, neg, nlen, 0, NULL, 0, lookup_stub, &a, &res),
        NTLM_ERR_STATE);
    free(neg);
    neg = unhex(frdp_negotiate, &nlen);
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_ERR_STATE);
    assert_int_equal(a.calls, 0);

    /* A stand-alone server (no NetBIOS domain): TARGET_TYPE_SERVER, computer name as target. */
    ntlm_ctx_init(&c);
    buf_clear(&out);
    cfg.nb_domain = NULL;
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_OK);
    assert_int_equal(c.flags, (0xE2898235u & ~0x00010000u) | 0x00020000u);
    assert_int_equal(buf_data(&out)[12], 4); /* TargetName "GW" */
    assert_memory_equal(buf_data(&out) + 56, "G\0W\0", 4);

    /* A wipe clears what the context held: the NEGOTIATE copy (its used part: nothing past it
     * is ever written), the CHALLENGE, the server challenge, every field. */
    static const uint8_t zero[512];
    assert_int_equal(c.negotiate_len, nlen);
    assert_memory_equal(c.negotiate, neg, nlen);
    ntlm_ctx_clear(&c);
    assert_memory_equal(c.negotiate, zero, nlen);
    assert_int_equal(c.negotiate_len, 0);
    assert_memory_equal(c.challenge, zero, sizeof c.challenge);
    assert_int_equal(c.challenge_len, 0);
    assert_memory_equal(c.server_challenge, zero, 8);
    assert_true(c.flags == 0 && c.timestamp == 0 && c.issued_ms == 0);
    /* a shorter NEGOTIATE after a longer one (a restart) and a wipe: no byte of either left */
    uint8_t longer[64];
    memcpy(longer, neg, nlen);
    memset(longer + nlen, 0x5a, sizeof longer - nlen);
    assert_int_equal(
        ntlm_accept_negotiate(&c, &cfg, longer, sizeof longer, frdp_now_filetime, 0, &out),
        NTLM_OK);
    assert_int_equal(ntlm_accept_negotiate(&c, &cfg, neg, nlen, frdp_now_filetime, 0, &out),
                     NTLM_OK);
    assert_memory_equal(c.negotiate + nlen, zero, sizeof longer - nlen);
    ntlm_ctx_clear(&c);
    assert_memory_equal(c.negotiate, zero, sizeof longer);
    buf_free(&out);
    free(neg);
    free(chal);
}

static void test_frdp_keys_and_mic(void **state)
{
    (void)state;
    size_t nlen, clen, alen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    uint8_t *chal = unhex(frdp_challenge, &clen);
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    assert_int_equal(alen, 376);
    uint8_t nt[16], owf[16], proof[16], sbk[16], esk[16], mic[16];
    hex16("ed50bdc9faa370e31ac4ee119fd51f48", nt);
    assert_int_equal(ntlm_ntowfv2(nt, "alice", "CONTOSO", owf), 0);
    assert_hex(owf, 16, "622ff9e39e3acda286b5317383ca8004");
    /* NT response at 0x8c, 220 bytes. */
    assert_int_equal(
        ntlm_hmac_md5(owf, 16, frdp_server_challenge, 8, auth + 0x8c + 16, 220 - 16, proof), 0);
    assert_hex(proof, 16, "fdd174a82fded637643de64edfba4215");
    assert_memory_equal(proof, auth + 0x8c, 16);
    assert_int_equal(ntlm_hmac_md5(owf, 16, proof, 16, NULL, 0, sbk), 0);
    assert_hex(sbk, 16, "d07277477ebc39ad950ccb9394828beb");
    memcpy(esk, auth + 0x168, 16);
    ntlm_rc4(sbk, esk, 16);
    assert_hex(esk, 16, "a7f090949f60ff6077f2a1e1c379c769");

    /* MIC over NEGOTIATE || CHALLENGE || AUTHENTICATE (MIC zeroed), keyed with the exported
     * session key; keyed with KXKEY it does not match (spec 5.2 negative test). */
    size_t all = nlen + clen + alen;
    uint8_t *cat = malloc(all);
    memcpy(cat, neg, nlen);
    memcpy(cat + nlen, chal, clen);
    memcpy(cat + nlen + clen, auth, alen);
    memset(cat + nlen + clen + 72, 0, 16);
    assert_int_equal(ntlm_hmac_md5(esk, 16, cat, all, NULL, 0, mic), 0);
    assert_hex(mic, 16, "ab5e91ea545af595e2fab2116834cc09");
    assert_int_equal(ntlm_hmac_md5(sbk, 16, cat, all, NULL, 0, mic), 0);
    assert_memory_not_equal(mic, auth + 72, 16);

    /* The lower-case domain gives another key (the domain is hashed as sent). */
    uint8_t owf_lc[16];
    assert_int_equal(ntlm_ntowfv2(nt, "alice", "contoso", owf_lc), 0);
    assert_memory_not_equal(owf_lc, owf, 16);
    assert_int_equal(ntlm_ntowfv2(nt, "ALICE", "CONTOSO", owf_lc), 0);
    assert_memory_equal(owf_lc, owf, 16);
    free(cat);
    free(neg);
    free(chal);
    free(auth);
}

static void test_frdp_success(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_result res;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_OK);
    assert_string_equal(res.domain, "CONTOSO");
    assert_string_equal(res.user, "alice");
    assert_string_equal(res.workstation, "vm");
    assert_string_equal(res.identity, "CONTOSO\\alice");
    assert_true(res.had_mic);
    assert_true(res.had_cbt);

    /* SPN host names compare case-insensitively; the accepted list may hold several. */
    struct ntlm_server_config cfg = frdp_config();
    uint8_t cbt[2][16];
    memset(cbt[0], 0x11, 16);
    hex16(frdp_cbt, cbt[1]);
    static const char *const spn_upper[] = {"GW.CONTOSO.TEST", "127.0.0.1", NULL};
    cfg.spn_hosts = spn_upper;
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 2, frdp_accounts_v, 2, &res),
        NTLM_OK);

    /* The store may spell the domain differently: the hash uses the message's spelling. */
    static const struct account lower[] = {
        {"contoso", "ALICE", "ed50bdc9faa370e31ac4ee119fd51f48", "contoso\\ALICE"},
    };
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 2, lower, 1, &res), NTLM_OK);
    assert_string_equal(res.identity, "contoso\\ALICE");

    /* With the checks off (behind a TLS-terminating proxy, no SPN list) it still passes. */
    cfg.require_cbt = false;
    cfg.spn_hosts = NULL;
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms, NULL, 0, frdp_accounts_v, 2, &res), NTLM_OK);
    assert_false(res.had_cbt);
    free(auth);
}

/* Rewrites the UTF-16 domain "CONTOSO" at 0x58 in a copy of the FreeRDP AUTHENTICATE. */
static void test_frdp_lowercase_domain(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    const char *lc = "contoso";
    for (int i = 0; i < 7; i++)
        auth[0x58 + 2 * i] = (uint8_t)lc[i];
    struct ntlm_result res;
    /* The stub finds CONTOSO\alice case-insensitively, but NTOWFv2 uses "contoso". */
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_BAD_CREDENTIALS);
    assert_string_equal(res.domain, "contoso");
    assert_string_equal(res.identity, "");
    free(auth);
}

static void test_frdp_wrong_password(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_server_config cfg = frdp_config();
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    static const struct account wrong[] = {
        {"CONTOSO", "alice", "a4f49c406510bdcab6824ee7c30fd852", "CONTOSO\\alice"},
    };
    struct ntlm_result res;
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 1, wrong, 1, &res),
        NTLM_ERR_BAD_CREDENTIALS);
    /* Unknown user: same code. */
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 1, wrong + 1, 0, &res),
        NTLM_ERR_BAD_CREDENTIALS);
    free(auth);
}

static void test_frdp_bad_mic(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_result res;
    auth[72] ^= 0x01;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_MIC);
    assert_true(res.had_mic);
    auth[72] ^= 0x01;
    /* The MIC also covers the header: a flipped flag bit outside the blob is caught. */
    auth[62] ^= 0x02;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_MIC);
    auth[62] ^= 0x02;
    /* A different encrypted session key changes the exported key. */
    auth[0x168] ^= 0x80;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_MIC);
    free(auth);
}

static void test_frdp_bad_cbt(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_server_config cfg = frdp_config();
    struct ntlm_result res;
    uint8_t cbt[2][16];
    hex16(frdp_cbt, cbt[0]);
    cbt[0][15] ^= 1;
    memset(cbt[1], 0x42, 16);
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 2, frdp_accounts_v, 2, &res),
        NTLM_ERR_CBT);
    assert_false(res.had_cbt);
    /* Wrong value with CBT not required: still a failure (a sent binding must match). */
    cfg.require_cbt = false;
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 1, frdp_accounts_v, 2, &res),
        NTLM_ERR_CBT);
    /* Required but nothing configured to compare with. */
    cfg.require_cbt = true;
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms, NULL, 0, frdp_accounts_v, 2, &res),
                     NTLM_ERR_CBT);
    free(auth);
}

static void test_frdp_bad_target(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_server_config cfg = frdp_config();
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    struct ntlm_result res;
    static const char *const other[] = {"gw.contoso.test", "127.0.0.2", NULL};
    cfg.spn_hosts = other;
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 1, frdp_accounts_v, 2, &res),
        NTLM_ERR_TARGET);
    static const char *const prefix[] = {"127.0.0", NULL};
    cfg.spn_hosts = prefix;
    assert_int_equal(
        run_frdp(&cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt, 1, frdp_accounts_v, 2, &res),
        NTLM_ERR_TARGET);
    free(auth);
}

static void test_frdp_reuse_and_expiry(void **state)
{
    (void)state;
    size_t nlen, alen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_server_config cfg = frdp_config();
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    struct accounts a = {frdp_accounts_v, 2, 0};
    struct ntlm_result res;
    struct ntlm_ctx *c = malloc(sizeof *c);
    struct buf out = BUF_INIT;

    /* Reuse: the second AUTHENTICATE on the same context is refused, even a valid one. */
    ntlm_ctx_init(c);
    assert_int_equal(ntlm_accept_negotiate(c, &cfg, neg, nlen, frdp_now_filetime, t0_ms, &out),
                     NTLM_OK);
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt,
                                              1, lookup_stub, &a, &res),
                     NTLM_OK);
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt,
                                              1, lookup_stub, &a, &res),
                     NTLM_ERR_STATE);
    assert_string_equal(res.identity, "");
    /* Spent after a failure too. */
    ntlm_ctx_init(c);
    assert_int_equal(ntlm_accept_negotiate(c, &cfg, neg, nlen, frdp_now_filetime, t0_ms, &out),
                     NTLM_OK);
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth, 10, t0_ms, (const uint8_t(*)[16])cbt,
                                              1, lookup_stub, &a, &res),
                     NTLM_ERR_MALFORMED);
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt,
                                              1, lookup_stub, &a, &res),
                     NTLM_ERR_STATE);
    /* The spent context keeps no challenge material. */
    static const uint8_t zero8[8] = {0};
    assert_memory_equal(c->server_challenge, zero8, 8);
    assert_int_equal(c->challenge_len, 0);

    /* Lifetime: 120 s configured; 120 s is still fine, 120.001 s is not. */
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms + 120000, (const uint8_t(*)[16])cbt, 1,
                              frdp_accounts_v, 2, &res),
                     NTLM_OK);
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms + 120001, (const uint8_t(*)[16])cbt, 1,
                              frdp_accounts_v, 2, &res),
                     NTLM_ERR_EXPIRED);
    /* Default lifetime 300 s. */
    cfg.challenge_lifetime_s = 0;
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms + 300001, (const uint8_t(*)[16])cbt, 1,
                              frdp_accounts_v, 2, &res),
                     NTLM_ERR_EXPIRED);
    /* Monotonic clock going backwards is not accepted either. */
    assert_int_equal(run_frdp(&cfg, auth, alen, t0_ms - 1, (const uint8_t(*)[16])cbt, 1,
                              frdp_accounts_v, 2, &res),
                     NTLM_ERR_EXPIRED);

    /* Timestamp not echoed: the server sent another FILETIME than the one in the blob. */
    ntlm_ctx_init(c);
    buf_clear(&out);
    cfg.challenge_lifetime_s = 120;
    assert_int_equal(ntlm_accept_negotiate(c, &cfg, neg, nlen, frdp_now_filetime + 1, t0_ms, &out),
                     NTLM_OK);
    /* ... with the captured CHALLENGE installed so that the MIC still verifies. */
    size_t clen;
    uint8_t *chal = unhex(frdp_challenge, &clen);
    memcpy(c->challenge, chal, clen);
    assert_int_equal(ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms, (const uint8_t(*)[16])cbt,
                                              1, lookup_stub, &a, &res),
                     NTLM_ERR_EXPIRED);

    ntlm_ctx_clear(c);
    free(c);
    free(chal);
    buf_free(&out);
    free(neg);
    free(auth);
}

static void test_frdp_v1_and_truncation(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *orig = unhex(frdp_authenticate, &alen);
    uint8_t *auth = malloc(alen);
    struct ntlm_result res;

    /* NtChallengeResponse of 24 bytes (NTLMv1 / NTLM2 session) and of 47 bytes. */
    memcpy(auth, orig, alen);
    auth[20] = 24;
    auth[22] = 24;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_UNSUPPORTED);
    auth[20] = 47;
    auth[22] = 47;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_UNSUPPORTED);

    /* MIC flagged but a payload overlapping bytes 72..87 (domain moved to 0x50). */
    memcpy(auth, orig, alen);
    auth[32] = 0x50;
    assert_int_equal(run_frdp_default(auth, alen, &res), NTLM_ERR_MALFORMED);

    /* Every truncation fails cleanly. */
    for (size_t len = 0; len < alen; len++) {
        uint8_t *t = malloc(len ? len : 1);
        memcpy(t, orig, len);
        int r = run_frdp_default(t, len, &res);
        assert_true(r < 0);
        free(t);
    }
    /* A NULL message too. */
    assert_true(run_frdp_default(NULL, 0, &res) < 0);

    /* Flipping a bit anywhere never yields success: what NTProofStr does not cover (the LM
     * response, names, VERSION, session key, MaxLen fields) the MIC does. */
    for (size_t i = 0; i < alen; i++) {
        memcpy(auth, orig, alen);
        auth[i] ^= 0x04;
        if (run_frdp_default(auth, alen, &res) == NTLM_OK)
            fail_msg("bit flip at offset %zu accepted", i);
    }
    free(auth);
    free(orig);
}

/* ---- channel bindings ---- */

/* Pass-through (a directory verifies the NTLMv2 response): begin checks what tsgw checks, the
 * SessionBaseKey the directory returns lets finish verify the MIC. */
static int run_pt(const struct ntlm_server_config *cfg, const uint8_t *auth, size_t alen,
                  uint64_t now, const char *sbk_hex, struct ntlm_passthrough *pt,
                  struct ntlm_result *res, int *begin_r)
{
    size_t nlen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    struct ntlm_ctx *c = malloc(sizeof *c);
    assert_non_null(c);
    ntlm_ctx_init(c);
    struct buf out = BUF_INIT;
    assert_int_equal(ntlm_accept_negotiate(c, cfg, neg, nlen, frdp_now_filetime, t0_ms, &out),
                     NTLM_OK);
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    int r = ntlm_passthrough_begin(c, cfg, auth, alen, now, (const uint8_t(*)[16])cbt, 1, pt, res);
    *begin_r = r;
    if (r == NTLM_OK && sbk_hex) {
        uint8_t sbk[16];
        hex16(sbk_hex, sbk);
        r = ntlm_passthrough_finish(c, cfg, pt, sbk);
        /* spent: a second finish is a state error */
        assert_int_equal(ntlm_passthrough_finish(c, cfg, pt, sbk), NTLM_ERR_STATE);
    }
    buf_free(&out);
    ntlm_ctx_clear(c);
    free(c);
    free(neg);
    return r;
}

static void test_passthrough(void **state)
{
    (void)state;
    size_t alen;
    uint8_t *auth = unhex(frdp_authenticate, &alen);
    struct ntlm_server_config cfg = frdp_config();
    struct ntlm_passthrough *pt = malloc(sizeof *pt);
    struct ntlm_result res;
    int br;
    /* begin hands over the challenge and the responses as received */
    size_t nlen;
    uint8_t *neg = unhex(frdp_negotiate, &nlen);
    struct ntlm_ctx *c = malloc(sizeof *c);
    ntlm_ctx_init(c);
    struct buf out = BUF_INIT;
    assert_int_equal(ntlm_accept_negotiate(c, &cfg, neg, nlen, frdp_now_filetime, t0_ms, &out),
                     NTLM_OK);
    uint8_t cbt[1][16];
    hex16(frdp_cbt, cbt[0]);
    assert_int_equal(ntlm_passthrough_begin(c, &cfg, auth, alen, t0_ms + 1000,
                                            (const uint8_t(*)[16])cbt, 1, pt, &res),
                     NTLM_OK);
    assert_memory_equal(pt->server_challenge, frdp_server_challenge, 8);
    assert_int_equal(pt->nt_off, 0x8c);
    assert_int_equal(pt->nt_len, 220);
    assert_memory_equal(pt->msg + pt->nt_off, auth + 0x8c, 220);
    assert_string_equal(res.domain, "CONTOSO");
    assert_string_equal(res.user, "alice");
    assert_string_equal(res.identity, "");
    assert_true(res.had_mic);
    assert_true(res.had_cbt);
    /* the ordinary AUTHENTICATE path refuses a context waiting for the directory */
    assert_int_equal(
        ntlm_accept_authenticate(c, &cfg, auth, alen, t0_ms, NULL, 0, lookup_stub, NULL, &res),
        NTLM_ERR_STATE);
    buf_free(&out);
    free(c);
    free(neg);

    /* the right SessionBaseKey (MS-NLMP: HMAC_MD5(NTOWFv2, NTProofStr)) verifies the MIC */
    assert_int_equal(
        run_pt(&cfg, auth, alen, t0_ms + 1000, "d07277477ebc39ad950ccb9394828beb", pt, &res, &br),
        NTLM_OK);
    /* and finish wiped the copy */
    assert_int_equal(pt->len, 0);
    /* another key: MIC mismatch */
    assert_int_equal(
        run_pt(&cfg, auth, alen, t0_ms + 1000, "d07277477ebc39ad950ccb9394828bec", pt, &res, &br),
        NTLM_ERR_MIC);
    /* a tampered MIC with the right key */
    auth[72] ^= 1;
    assert_int_equal(
        run_pt(&cfg, auth, alen, t0_ms + 1000, "d07277477ebc39ad950ccb9394828beb", pt, &res, &br),
        NTLM_ERR_MIC);
    auth[72] ^= 1;
    /* checks that need no key come first: the directory is not asked */
    assert_int_equal(run_pt(&cfg, auth, alen, t0_ms + 121000, NULL, pt, &res, &br),
                     NTLM_ERR_EXPIRED);
    static const char *const other[] = {"rdgw.contoso.test", NULL};
    struct ntlm_server_config c2 = cfg;
    c2.spn_hosts = other;
    assert_int_equal(run_pt(&c2, auth, alen, t0_ms, NULL, pt, &res, &br), NTLM_ERR_TARGET);
    auth[10] = 2; /* not an AUTHENTICATE */
    assert_int_equal(run_pt(&cfg, auth, alen, t0_ms, NULL, pt, &res, &br), NTLM_ERR_MALFORMED);
    free(pt);
    free(auth);
}

static void test_cbt_from_hash(void **state)
{
    (void)state;
    size_t n;
    uint8_t *h = unhex("ac4ffe37951579a7c55533ead36dc28b34e411a9f0ae15fb5267553d03e02231", &n);
    uint8_t out[16];
    assert_int_equal(ntlm_cbt_from_hash(h, n, out), 0);
    assert_hex(out, 16, frdp_cbt);
    assert_int_equal(ntlm_cbt_from_hash(h, 0, out), -1);
    free(h);
}

/* Builds a self-signed certificate with key k signed with md (NULL for Ed25519). */
static uint8_t *make_cert(EVP_PKEY *k, const EVP_MD *md, size_t *len)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_true(X509_set_version(x, 2));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"gw.contoso.test", -1,
                               -1, 0);
    assert_true(X509_set_issuer_name(x, nm));
    assert_true(X509_set_pubkey(x, k));
    assert_true(X509_sign(x, k, md) > 0);
    unsigned char *der = NULL;
    int l = i2d_X509(x, &der);
    assert_true(l > 0);
    X509_free(x);
    uint8_t *copy = malloc((size_t)l);
    memcpy(copy, der, (size_t)l);
    OPENSSL_free(der);
    *len = (size_t)l;
    return copy;
}

/* Independent computation: hash the DER directly, then the RFC 4121 structure by hand. */
static void expected_cbt(const uint8_t *der, size_t len, const EVP_MD *md, uint8_t out[16])
{
    uint8_t h[EVP_MAX_MD_SIZE], s[200];
    unsigned int hl = 0, ol = 0;
    assert_true(EVP_Digest(der, len, h, &hl, md, NULL));
    const char *pfx = "tls-server-end-point:";
    size_t pl = strlen(pfx), al = pl + hl;
    memset(s, 0, 16);
    s[16] = (uint8_t)al;
    s[17] = (uint8_t)(al >> 8);
    s[18] = s[19] = 0;
    memcpy(s + 20, pfx, pl);
    memcpy(s + 20 + pl, h, hl);
    assert_true(EVP_Digest(s, 20 + al, out, &ol, EVP_md5(), NULL));
    assert_int_equal(ol, 16);
}

static void test_cbt_from_cert(void **state)
{
    (void)state;
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    assert_non_null(rsa);
    uint8_t out[2][16], want[16];
    unsigned n = 99;
    size_t len;

    /* sha256WithRSA: one value, the RFC 5929 and FreeRDP values coincide. */
    uint8_t *der = make_cert(rsa, EVP_sha256(), &len);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len, out, &n), 0);
    assert_int_equal(n, 1);
    expected_cbt(der, len, EVP_sha256(), want);
    assert_memory_equal(out[0], want, 16);
    /* Trailing bytes after the certificate and truncation are refused. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_int_equal(ntlm_cbt_from_cert_der(longer, len + 1, out, &n), -1);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len - 1, out, &n), -1);
    free(longer);
    free(der);

    /* sha384WithRSA: out[0] is the SHA-384 (RFC 5929) value, out[1] FreeRDP's SHA-256 one. */
    der = make_cert(rsa, EVP_sha384(), &len);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len, out, &n), 0);
    assert_int_equal(n, 2);
    expected_cbt(der, len, EVP_sha384(), want);
    assert_memory_equal(out[0], want, 16);
    expected_cbt(der, len, EVP_sha256(), want);
    assert_memory_equal(out[1], want, 16);
    free(der);

    /* sha1WithRSA: SHA-1 is replaced by SHA-256, so a single value. */
    der = make_cert(rsa, EVP_sha1(), &len);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len, out, &n), 0);
    assert_int_equal(n, 1);
    expected_cbt(der, len, EVP_sha256(), want);
    assert_memory_equal(out[0], want, 16);
    free(der);
    EVP_PKEY_free(rsa);

    /* ECDSA P-384 with SHA-384. */
    EVP_PKEY *ec = EVP_EC_gen("P-384");
    assert_non_null(ec);
    der = make_cert(ec, EVP_sha384(), &len);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len, out, &n), 0);
    assert_int_equal(n, 2);
    expected_cbt(der, len, EVP_sha384(), want);
    assert_memory_equal(out[0], want, 16);
    free(der);
    EVP_PKEY_free(ec);

    /* Ed25519: no tls-server-end-point value is defined. */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    der = make_cert(ed, NULL, &len);
    assert_int_equal(ntlm_cbt_from_cert_der(der, len, out, &n), -1);
    free(der);
    EVP_PKEY_free(ed);

    assert_int_equal(ntlm_cbt_from_cert_der((const uint8_t *)"\x30\x03\x02\x01\x00", 5, out, &n),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md4_vectors),
        cmocka_unit_test(test_rc4_vectors),
        cmocka_unit_test(test_md4_rc4_vs_legacy_provider),
        cmocka_unit_test(test_nt_hash_and_hmac),
        cmocka_unit_test(test_nlmp424_keys),
        cmocka_unit_test(test_nlmp424_authenticate),
        cmocka_unit_test(test_nlmp424_nil_domain_retry),
        cmocka_unit_test(test_nlmp424_structure_errors),
        cmocka_unit_test(test_frdp_challenge_bytes),
        cmocka_unit_test(test_frdp_keys_and_mic),
        cmocka_unit_test(test_frdp_success),
        cmocka_unit_test(test_frdp_lowercase_domain),
        cmocka_unit_test(test_frdp_wrong_password),
        cmocka_unit_test(test_frdp_bad_mic),
        cmocka_unit_test(test_frdp_bad_cbt),
        cmocka_unit_test(test_frdp_bad_target),
        cmocka_unit_test(test_frdp_reuse_and_expiry),
        cmocka_unit_test(test_frdp_v1_and_truncation),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_cbt_from_hash),
        cmocka_unit_test(test_cbt_from_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
