/* libFuzzer target for the NTLM acceptor: the input is parsed as a NEGOTIATE, then as the
 * AUTHENTICATE answering the CHALLENGE of the real FreeRDP 2.11.7 exchange (fixed challenge and
 * time, ms-nlmp-server.md 5.2), so that mutations of the captured AUTHENTICATE in the corpus
 * reach every verification step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/ntlm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t negotiate[40] = {0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00, 0x01, 0x00,
                                      0x00, 0x00, 0xb7, 0x82, 0x08, 0xe2, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x06, 0x01, 0xb1, 0x1d, 0x00, 0x00, 0x00, 0x0f};
static const uint8_t server_challenge[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const uint8_t alice_hash[16] = {0xed, 0x50, 0xbd, 0xc9, 0xfa, 0xa3, 0x70, 0xe3,
                                       0x1a, 0xc4, 0xee, 0x11, 0x9f, 0xd5, 0x1f, 0x48};
static const uint8_t cbt[2][16] = {
    {0xc2, 0x56, 0xef, 0x7e, 0x17, 0xea, 0x44, 0x37, 0xd1, 0x04, 0x9d, 0xef, 0x68, 0xed, 0x60,
     0x11},
    {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
     0x10},
};
static const char *const spn_hosts[] = {"gw.contoso.test", "127.0.0.1", NULL};
#define NOW_FILETIME 0x01dd7bf7e1e68360ull
#define T0_MS 1000000ull

static int lookup(void *ctx, const char *domain, const char *user, uint8_t nthash[16],
                  char *identity, size_t identity_size)
{
    (void)ctx;
    if (strcasecmp(user, "alice") != 0 || (domain[0] && strcasecmp(domain, "CONTOSO") != 0))
        return -1;
    memcpy(nthash, alice_hash, 16);
    if (identity_size > 0) {
        strncpy(identity, "CONTOSO\\alice", identity_size - 1);
        identity[identity_size - 1] = 0;
    }
    return 0;
}

static void check_str(const char *s, size_t n)
{
    if (!memchr(s, 0, n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ntlm_ctx c;
    struct ntlm_server_config cfg = {
        .nb_domain = "CONTOSO",
        .nb_computer = "GW",
        .dns_domain = "contoso.test",
        .dns_computer = "gw.contoso.test",
        .require_mic = true,
        .require_cbt = true,
        .spn_hosts = spn_hosts,
        .require_spn = true,
        .challenge_lifetime_s = 120,
        .fixed_challenge = server_challenge,
    };
    struct buf out = BUF_INIT;

    /* 1. The input as a NEGOTIATE. */
    ntlm_ctx_init(&c);
    int r = ntlm_accept_negotiate(&c, &cfg, data, size, NOW_FILETIME, T0_MS, &out);
    if (r == NTLM_OK && (buf_len(&out) < 56 || buf_len(&out) != c.challenge_len))
        abort();
    buf_clear(&out);

    /* 2. The input as the AUTHENTICATE of the captured exchange. */
    ntlm_ctx_init(&c);
    if (ntlm_accept_negotiate(&c, &cfg, negotiate, sizeof negotiate, NOW_FILETIME, T0_MS, &out) !=
            NTLM_OK ||
        buf_len(&out) != 174)
        abort();
    struct ntlm_result res;
    r = ntlm_accept_authenticate(&c, &cfg, data, size, T0_MS + 1000, cbt, 2, lookup, NULL, &res);
    if (r > 0 || r < NTLM_ERR_INTERNAL)
        abort();
    check_str(res.domain, sizeof res.domain);
    check_str(res.user, sizeof res.user);
    check_str(res.workstation, sizeof res.workstation);
    check_str(res.identity, sizeof res.identity);
    /* With MIC and CBT required, a success must have verified both. */
    if (r == NTLM_OK && (!res.had_mic || !res.had_cbt || strcmp(res.identity, "CONTOSO\\alice")))
        abort();
    if (r != NTLM_OK && res.identity[0])
        abort();
    /* The context is spent whatever happened. */
    if (ntlm_accept_authenticate(&c, &cfg, data, size, T0_MS + 1000, cbt, 2, lookup, NULL, &res) !=
        NTLM_ERR_STATE)
        abort();

    /* 3. The same with the optional checks off, reaching the paths that skip them. */
    cfg.require_mic = cfg.require_cbt = cfg.require_spn = false;
    cfg.spn_hosts = NULL;
    ntlm_ctx_init(&c);
    buf_clear(&out);
    if (ntlm_accept_negotiate(&c, &cfg, negotiate, sizeof negotiate, NOW_FILETIME, T0_MS, &out) !=
        NTLM_OK)
        abort();
    r = ntlm_accept_authenticate(&c, &cfg, data, size, T0_MS + 1000, NULL, 0, lookup, NULL, &res);
    if (r > 0 || r < NTLM_ERR_INTERNAL)
        abort();

    /* 4. Pass-through (the directory verifies the proof): the names, begin, then finish with
     * the SessionBaseKey of the captured exchange. */
    struct ntlm_result names;
    r = ntlm_authenticate_names(data, size, &names);
    if (r != NTLM_OK && r != NTLM_ERR_MALFORMED)
        abort();
    check_str(names.domain, sizeof names.domain);
    check_str(names.user, sizeof names.user);
    static struct ntlm_passthrough pt;
    static const uint8_t sbk[16] = {0xd0, 0x72, 0x77, 0x47, 0x7e, 0xbc, 0x39, 0xad,
                                    0x95, 0x0c, 0xcb, 0x93, 0x94, 0x82, 0x8b, 0xeb};
    cfg.require_mic = cfg.require_cbt = cfg.require_spn = true;
    cfg.spn_hosts = spn_hosts;
    ntlm_ctx_init(&c);
    buf_clear(&out);
    if (ntlm_accept_negotiate(&c, &cfg, negotiate, sizeof negotiate, NOW_FILETIME, T0_MS, &out) !=
        NTLM_OK)
        abort();
    r = ntlm_passthrough_begin(&c, &cfg, data, size, T0_MS + 1000, cbt, 2, &pt, &res);
    if (r > 0 || r < NTLM_ERR_INTERNAL)
        abort();
    if (r == NTLM_OK) {
        if (pt.len != size || pt.nt_off + pt.nt_len > pt.len || pt.lm_off + pt.lm_len > pt.len ||
            !res.had_mic || !res.had_cbt || res.identity[0])
            abort();
        r = ntlm_passthrough_finish(&c, &cfg, &pt, sbk);
        if (r != NTLM_OK && r != NTLM_ERR_MIC)
            abort();
    }
    if (ntlm_passthrough_finish(&c, &cfg, &pt, sbk) != NTLM_ERR_STATE)
        abort();

    buf_free(&out);
    ntlm_ctx_clear(&c);
    return 0;
}
