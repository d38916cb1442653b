/* NTLMv2 acceptor (server side of MS-NLMP) over NT hashes, for HTTP "NTLM"/"Negotiate" auth.
 *
 * Pure functions over bytes: NEGOTIATE in -> CHALLENGE out; AUTHENTICATE in -> verdict and
 * identity out. No sockets, no global state. One ntlm_ctx per TLS connection, single use: after
 * ntlm_accept_authenticate() (pass or fail) the context is spent and must be re-initialised.
 * See docs/ntlm.md for the checks made and why. */
#ifndef TSGW_AUTH_NTLM_H
#define TSGW_AUTH_NTLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define NTLM_MAX_MESSAGE 8192 /* larger tokens are rejected before parsing */
#define NTLM_NAME_MAX 256     /* UTF-8 bytes for domain / user / workstation incl. NUL */

/* Result codes (negative on failure). */
enum ntlm_status {
    NTLM_OK = 0,
    NTLM_ERR_MALFORMED = -1,       /* bad signature/type/bounds/odd lengths/AV list */
    NTLM_ERR_STATE = -2,           /* message out of order or context already used */
    NTLM_ERR_UNSUPPORTED = -3,     /* no UNICODE/NTLM, anonymous, LM/NTLMv1 response */
    NTLM_ERR_BAD_CREDENTIALS = -4, /* unknown user or NTProofStr mismatch (indistinguishable) */
    NTLM_ERR_MIC = -5,             /* MIC missing (when required) or wrong */
    NTLM_ERR_CBT = -6,             /* channel binding missing (when required) or wrong */
    NTLM_ERR_TARGET = -7,          /* MsvAvTargetName is not HTTP/<one of our names> */
    NTLM_ERR_EXPIRED = -8,         /* challenge too old, or timestamp not echoed */
    NTLM_ERR_INTERNAL = -9,        /* crypto failure */
};

struct ntlm_server_config {
    const char *nb_domain;    /* NetBIOS domain, e.g. "CONTOSO" (TargetName, MsvAvNbDomainName) */
    const char *nb_computer;  /* NetBIOS computer name, e.g. "GATEWAY" */
    const char *dns_domain;   /* e.g. "contoso.test" */
    const char *dns_computer; /* e.g. "gw.contoso.test" */
    bool require_mic;         /* reject an AUTHENTICATE without a MIC (MsvAvFlags & 2) */
    bool require_cbt;         /* reject missing/zero MsvAvChannelBindings */
    /* Accepted SPN host names ("127.0.0.1", "gw.contoso.test"); NULL-terminated; NULL = do not
     * check MsvAvTargetName. Compared ASCII case-insensitively against "HTTP/<name>". */
    const char *const *spn_hosts;
    bool require_spn;              /* with spn_hosts: an absent MsvAvTargetName fails too */
    uint32_t challenge_lifetime_s; /* 0 = 300 */
    /* Tests only: fixed ServerChallenge instead of RAND_bytes (NULL in production). */
    const uint8_t *fixed_challenge;
};

/* Account lookup supplied by the caller (the credential store).
 * domain/user are the AUTHENTICATE message's strings converted to UTF-8.
 * On success fills nthash and identity (canonical "DOMAIN\user" as stored) and returns 0;
 * returns -1 when no such account exists. */
typedef int (*ntlm_lookup_fn)(void *ctx, const char *domain, const char *user, uint8_t nthash[16],
                              char *identity, size_t identity_size);

struct ntlm_ctx {
    int state; /* internal */
    uint8_t negotiate[NTLM_MAX_MESSAGE];
    size_t negotiate_len;
    uint8_t challenge[512];
    size_t challenge_len;
    uint8_t server_challenge[8];
    uint64_t timestamp; /* FILETIME we sent in MsvAvTimestamp */
    uint64_t issued_ms; /* monotonic ms when the challenge was issued */
    uint32_t flags;     /* flags we offered */
};

struct ntlm_result {
    char domain[NTLM_NAME_MAX];      /* as sent by the client */
    char user[NTLM_NAME_MAX];        /* as sent by the client */
    char workstation[NTLM_NAME_MAX]; /* as sent by the client */
    char identity[NTLM_NAME_MAX];    /* from the lookup on success: "DOMAIN\user" as stored */
    bool had_mic;
    bool had_cbt;
    /* on success: the ExportedSessionKey and the flags both sides agreed on (AUTHENTICATE's
     * flags within the CHALLENGE's), for ntlm_sign/ntlm_verify_sig; wipe after use */
    uint8_t session_key[16];
    uint32_t flags;
};

void ntlm_ctx_init(struct ntlm_ctx *c);

/* Wipes the context (challenge, keys). */
void ntlm_ctx_clear(struct ntlm_ctx *c);

/* Takes a NEGOTIATE message and appends the CHALLENGE to challenge_out.
 * now_filetime: current time as a FILETIME (100 ns since 1601), sent as MsvAvTimestamp.
 * now_ms: a monotonic clock in ms, used for the challenge lifetime.
 * Returns NTLM_OK or a negative ntlm_status. A context may take a new NEGOTIATE at any time
 * before AUTHENTICATE (it restarts with a fresh challenge). */
int ntlm_accept_negotiate(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                          const uint8_t *msg, size_t len, uint64_t now_filetime, uint64_t now_ms,
                          struct buf *challenge_out);

/* Verifies an AUTHENTICATE message against the CHALLENGE this context issued.
 * cbt: accepted MsvAvChannelBindings values (ncbt of them, 16 bytes each; see
 * ntlm_cbt_from_cert_der), may be NULL when ncbt == 0.
 * Fills res (names as sent even on failure, identity on success). The context is spent
 * afterwards whatever the result. Returns NTLM_OK or a negative ntlm_status. */
int ntlm_accept_authenticate(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                             const uint8_t *msg, size_t len, uint64_t now_ms,
                             const uint8_t (*cbt)[16], unsigned ncbt, ntlm_lookup_fn lookup,
                             void *lookup_ctx, struct ntlm_result *res);

/* ---- pass-through: a directory (the domain controller, through winbind) verifies the
 * NTLMv2 response and returns the SessionBaseKey; tsgw keeps its own checks and the MIC. ---- */

/* The names an AUTHENTICATE message carries (domain, user, workstation as sent), without any
 * verification: lets the caller choose the account source. NTLM_OK or NTLM_ERR_MALFORMED. */
int ntlm_authenticate_names(const uint8_t *msg, size_t len, struct ntlm_result *res);

struct ntlm_passthrough {
    uint8_t msg[NTLM_MAX_MESSAGE]; /* the AUTHENTICATE as received (kept for the MIC) */
    size_t len;
    uint8_t server_challenge[8];
    size_t nt_off, nt_len; /* NtChallengeResponse (NTProofStr || blob) in msg */
    size_t lm_off, lm_len; /* LmChallengeResponse in msg */
};

/* Everything ntlm_accept_authenticate checks except the NTLMv2 proof and the MIC: structure,
 * flags, NTLMv2 only, timestamp and challenge age, channel binding, target name, and a MIC
 * present when required. On NTLM_OK pt holds what the directory needs and the context waits
 * for ntlm_passthrough_finish(); on any other result the context is spent. res gets the names
 * as sent (identity stays empty: the directory names the account). */
int ntlm_passthrough_begin(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                           const uint8_t *msg, size_t len, uint64_t now_ms,
                           const uint8_t (*cbt)[16], unsigned ncbt, struct ntlm_passthrough *pt,
                           struct ntlm_result *res);

/* The directory accepted the response and returned its SessionBaseKey (winbind's
 * user_session_key): checks the MIC with it. Spends the context and wipes pt.
 * Returns NTLM_OK, NTLM_ERR_MIC, or NTLM_ERR_STATE (no pending pass-through). */
int ntlm_passthrough_finish(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                            struct ntlm_passthrough *pt, const uint8_t session_base_key[16]);
/* The same, and on NTLM_OK also res->session_key and res->flags (for a SPNEGO mechListMIC);
 * res's other fields are left alone. */
int ntlm_passthrough_finish_keys(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                                 struct ntlm_passthrough *pt, const uint8_t session_base_key[16],
                                 struct ntlm_result *res);

/* GSS_GetMIC of MS-NLMP 3.4.4.2 (extended session security, which tsgw always negotiates) for
 * the first message in its direction: sequence number seq, a fresh RC4 sealing handle -- what a
 * SPNEGO mechListMIC is (RFC 4178 5). from_server picks the server-to-client keys, otherwise
 * the client-to-server ones. Writes the 16-byte NTLMSSP_MESSAGE_SIGNATURE. Returns 0, or -1
 * when the session did not negotiate signing (NTLMSSP_NEGOTIATE_SIGN) or on a crypto failure. */
int ntlm_sign(const uint8_t session_key[16], uint32_t flags, bool from_server, uint32_t seq,
              const uint8_t *msg, size_t len, uint8_t sig[16]);

/* GSS_VerifyMIC counterpart (constant-time compare): 0 when sig is the right signature of msg
 * under the given direction's keys, -1 otherwise. */
int ntlm_verify_sig(const uint8_t session_key[16], uint32_t flags, bool from_server, uint32_t seq,
                    const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len);

/* Computes the MsvAvChannelBindings values a client may send for the gateway's certificate
 * (DER): out[0] = RFC 5929 tls-server-end-point (hash of the signature algorithm, MD5/SHA-1
 * replaced by SHA-256); out[1] = the SHA-256 variant FreeRDP 2.11.7 always uses, only when it
 * differs. Sets *n to 1 or 2. Returns 0 or -1. */
int ntlm_cbt_from_cert_der(const uint8_t *der, size_t len, uint8_t out[2][16], unsigned *n);

/* Short text for an ntlm_status, for logs. */
const char *ntlm_strerror(int status);

/* Converts a Unix time in seconds to a FILETIME. */
uint64_t ntlm_filetime_from_unix(uint64_t unix_seconds);

/* ---- primitives, exposed for tests and the provisioning tool ---- */

/* MD4 (RFC 1320), local implementation (not in OpenSSL 3's default provider). */
void ntlm_md4(const uint8_t *data, size_t len, uint8_t out[16]);

/* RC4 over len bytes in place with a 16-byte key. */
void ntlm_rc4(const uint8_t key[16], uint8_t *data, size_t len);

/* RC4 with a key of any length 1..256 bytes (ntlm_rc4 is this with keylen 16). */
void ntlm_rc4_keylen(const uint8_t *key, size_t keylen, uint8_t *data, size_t len);

/* NT hash = MD4(UTF-16LE(password)). Returns 0 or -1 (invalid UTF-8). */
int ntlm_nt_hash(const char *password_utf8, uint8_t out[16]);

/* HMAC-MD5. Returns 0 or -1. */
int ntlm_hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *d1, size_t l1,
                  const uint8_t *d2, size_t l2, uint8_t out[16]);

/* NTOWFv2 = HMAC-MD5(nthash, UTF-16LE(UPPER(user)) || UTF-16LE(domain)); the domain is used as
 * given (not upper-cased). Returns 0 or -1 (invalid UTF-8, crypto failure). */
int ntlm_ntowfv2(const uint8_t nthash[16], const char *user_utf8, const char *domain_utf8,
                 uint8_t out[16]);

/* MsvAvChannelBindings value for a tls-server-end-point certificate hash h (hlen bytes):
 * MD5 of the RFC 4121 channel-binding struct with empty addresses and application data
 * "tls-server-end-point:" || h. Returns 0 or -1. */
int ntlm_cbt_from_hash(const uint8_t *h, size_t hlen, uint8_t out[16]);

/* ---- tests only ---- */

/* Puts c in the "CHALLENGE sent" state with the given NEGOTIATE (may be NULL/0) and CHALLENGE
 * bytes, as if ntlm_accept_negotiate had produced them at monotonic time issued_ms: the flags,
 * ServerChallenge and MsvAvTimestamp (if any) are taken from the CHALLENGE. Lets the unit tests
 * replay captured exchanges (MS-NLMP 4.2.4). Returns NTLM_OK or NTLM_ERR_MALFORMED. */
int ntlm_ctx_set_challenge_for_test(struct ntlm_ctx *c, const uint8_t *negotiate, size_t nlen,
                                    const uint8_t *challenge, size_t clen, uint64_t issued_ms);

#endif
