/* SPNEGO (RFC 4178, MS-SPNG) tokens of HTTP "Negotiate" (RFC 4559): a sans-I/O DER parser for
 * what an initiator sends (the NegTokenInit inside its InitialContextToken, then NegTokenResp)
 * and a builder for the acceptor's NegTokenResp.
 *
 * Pure functions over bytes, no allocation: a parsed token points into the caller's buffer.
 * Every length is checked against its enclosing element, only definite DER lengths of at most
 * four bytes are read, nesting is fixed by the grammar (no recursion), and at most
 * SPNEGO_MAX_MECHS mechanism OIDs are kept. The choice of mechanism and the mechListMIC checks
 * belong to the caller (src/daemon/logon.c): this file knows the OIDs, not the mechanisms. */
#ifndef TSGW_AUTH_SPNEGO_H
#define TSGW_AUTH_SPNEGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPNEGO_MAX_TOKEN                                                                           \
    48000                   /* larger tokens are refused before parsing (Windows' MaxTokenSize     \
                             * is 48000 bytes) */
#define SPNEGO_MAX_MECHS 16 /* mechanism OIDs kept from a MechTypeList (more: malformed) */
#define SPNEGO_MAX_OID 32   /* bytes of one OID's contents */

/* The mechanisms tsgw can name. */
enum spnego_mech {
    SPNEGO_MECH_OTHER = 0,
    SPNEGO_MECH_NTLM,    /* 1.3.6.1.4.1.311.2.2.10 */
    SPNEGO_MECH_KRB5,    /* 1.2.840.113554.1.2.2 */
    SPNEGO_MECH_MS_KRB5, /* 1.2.840.48018.1.2.2 (Windows' "Microsoft Kerberos 5") */
    SPNEGO_MECH_NEGOEX,  /* 1.3.6.1.4.1.311.2.2.30 */
};

/* negState (RFC 4178 4.2.2) */
enum spnego_neg_state {
    SPNEGO_ACCEPT_COMPLETED = 0,
    SPNEGO_ACCEPT_INCOMPLETE = 1,
    SPNEGO_REJECT = 2,
    SPNEGO_REQUEST_MIC = 3,
};

enum spnego_kind { SPNEGO_INIT = 1, SPNEGO_RESP = 2 };

struct spnego_token {
    int kind; /* SPNEGO_INIT or SPNEGO_RESP */
    /* NegTokenInit */
    unsigned nmechs;
    uint8_t mechs[SPNEGO_MAX_MECHS]; /* enum spnego_mech, in the initiator's order */
    const uint8_t *mech_list;        /* the whole DER MechTypeList (the mechListMIC covers it) */
    size_t mech_list_len;
    /* NegTokenResp */
    int neg_state;      /* enum spnego_neg_state, -1 when absent */
    int supported_mech; /* enum spnego_mech, -1 when absent */
    /* both: the mechanism token (mechToken / responseToken) and the mechListMIC, NULL when
     * absent */
    const uint8_t *mech_token;
    size_t mech_token_len;
    const uint8_t *mic;
    size_t mic_len;
};

/* True when the token looks like SPNEGO (an InitialContextToken or a NegTokenResp) rather than
 * a raw mechanism token such as "NTLMSSP\0". */
bool spnego_looks_like(const uint8_t *p, size_t n);

/* Parses an initiator's token: [APPLICATION 0] { spnego OID, [0] NegTokenInit } or a bare
 * [1] NegTokenResp. 0 or -1 (malformed, over a cap, trailing bytes). */
int spnego_parse(const uint8_t *p, size_t n, struct spnego_token *out);

/* Builds the acceptor's NegTokenResp into out (outsz bytes): neg_state < 0, supported_mech < 0,
 * tok == NULL, mic == NULL leave the field out. Returns the length, or -1 when it does not fit
 * or supported_mech is not one this file knows. */
int spnego_build_resp(uint8_t *out, size_t outsz, int neg_state, int supported_mech,
                      const uint8_t *tok, size_t tok_len, const uint8_t *mic, size_t mic_len);

/* The position of mech in the initiator's list, or -1. */
int spnego_mech_index(const struct spnego_token *t, enum spnego_mech mech);

/* "NTLM", "Kerberos 5", ... for logs. */
const char *spnego_mech_name(int mech);

#endif
