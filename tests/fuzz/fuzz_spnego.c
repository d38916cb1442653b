/* libFuzzer target for the SPNEGO DER parser and builder (src/auth/spnego.c): the input is
 * parsed as an initiator's token; whatever parses is checked (every pointer inside the input,
 * counts within their caps), rebuilt as a NegTokenResp from its fields, and the rebuilt token
 * must parse back to the same fields. The corpus holds tokens of MIT krb5 + gss-ntlmssp and
 * Samba (tests/unit/spnego_vectors.h) and mstsc's Kerberos NegTokenInit layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/spnego.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    if (!p)
        return;
    if (p < data || n > size || p + n > data + size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spnego_token t;
    if (spnego_parse(data, size, &t) < 0)
        return 0;
    if (t.kind != SPNEGO_INIT && t.kind != SPNEGO_RESP)
        abort();
    if (t.nmechs > SPNEGO_MAX_MECHS || (t.kind == SPNEGO_INIT && t.nmechs == 0))
        abort();
    inside(t.mech_list, t.mech_list_len, data, size);
    inside(t.mech_token, t.mech_token_len, data, size);
    inside(t.mic, t.mic_len, data, size);
    (void)spnego_mech_index(&t, SPNEGO_MECH_NTLM);
    static uint8_t out[SPNEGO_MAX_TOKEN + 64];
    int mech = t.kind == SPNEGO_INIT ? t.mechs[0] : t.supported_mech;
    if (mech == SPNEGO_MECH_OTHER)
        mech = -1;
    int n = spnego_build_resp(out, sizeof out, t.neg_state, mech, t.mech_token, t.mech_token_len,
                              t.mic, t.mic_len);
    if (n < 0) /* a token of up to SPNEGO_MAX_TOKEN bytes always fits */
        abort();
    struct spnego_token r;
    if (spnego_parse(out, (size_t)n, &r) < 0 || r.kind != SPNEGO_RESP ||
        r.neg_state != t.neg_state || r.supported_mech != mech ||
        r.mech_token_len != t.mech_token_len || r.mic_len != t.mic_len ||
        (t.mech_token && memcmp(r.mech_token, t.mech_token, t.mech_token_len) != 0) ||
        (t.mic && memcmp(r.mic, t.mic, t.mic_len) != 0) || (!t.mech_token != !r.mech_token) ||
        (!t.mic != !r.mic))
        abort();
    return 0;
}
