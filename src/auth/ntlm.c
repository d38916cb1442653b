/* NTLMv2 acceptor: NEGOTIATE -> CHALLENGE, AUTHENTICATE verification (MS-NLMP, server side).
 *
 * The step numbers in the comments refer to the verification steps of
 * /work/shared/spec/ms-nlmp-server.md section 2.2; docs/ntlm.md explains the design. */
#include "auth/ntlm.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "auth/chanbind.h"
#include "core/utf16.h"

/* ---- constants ---- */

/* Context state; the low byte is the phase, ST_F_TIMESTAMP records that the CHALLENGE carried an
 * MsvAvTimestamp (so the AUTHENTICATE must echo it). */
enum { ST_INIT = 0, ST_CHALLENGED = 1, ST_SPENT = 2, ST_PASSTHROUGH = 3 };
#define ST_PHASE_MASK 0xff
#define ST_F_TIMESTAMP 0x100

#define NTLMSSP_NEGOTIATE_UNICODE 0x00000001u
#define NTLMSSP_NEGOTIATE_OEM 0x00000002u
#define NTLMSSP_REQUEST_TARGET 0x00000004u
#define NTLMSSP_NEGOTIATE_SIGN 0x00000010u
#define NTLMSSP_NEGOTIATE_SEAL 0x00000020u
#define NTLMSSP_NEGOTIATE_NTLM 0x00000200u
#define NTLMSSP_NEGOTIATE_ANONYMOUS 0x00000800u
#define NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED 0x00001000u
#define NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED 0x00002000u
#define NTLMSSP_NEGOTIATE_ALWAYS_SIGN 0x00008000u
#define NTLMSSP_TARGET_TYPE_DOMAIN 0x00010000u
#define NTLMSSP_TARGET_TYPE_SERVER 0x00020000u
#define NTLMSSP_NEGOTIATE_ESS 0x00080000u
#define NTLMSSP_NEGOTIATE_TARGET_INFO 0x00800000u
#define NTLMSSP_NEGOTIATE_VERSION 0x02000000u
#define NTLMSSP_NEGOTIATE_128 0x20000000u
#define NTLMSSP_NEGOTIATE_KEY_EXCH 0x40000000u
#define NTLMSSP_NEGOTIATE_56 0x80000000u

enum {
    AV_EOL = 0,
    AV_NB_COMPUTER = 1,
    AV_NB_DOMAIN = 2,
    AV_DNS_COMPUTER = 3,
    AV_DNS_DOMAIN = 4,
    AV_DNS_TREE = 5,
    AV_FLAGS = 6,
    AV_TIMESTAMP = 7,
    AV_SINGLE_HOST = 8,
    AV_TARGET_NAME = 9,
    AV_CHANNEL_BINDINGS = 10,
};
#define AV_FLAG_MIC_PRESENT 0x2u

#define CHALLENGE_HEADER_LEN 56 /* with VERSION */
#define AUTH_HEADER_MIN 64      /* up to NegotiateFlags */
#define AUTH_MIC_OFFSET 72
#define AUTH_HEADER_WITH_MIC 88
#define NTLMV2_BLOB_AV_OFFSET 28 /* in the blob (NtChallengeResponse minus NTProofStr) */
#define NTLMV2_RESPONSE_MIN 48   /* 16 NTProofStr + 28 blob header + 4 MsvAvEOL */
#define DEFAULT_LIFETIME_S 300

static const uint8_t ntlmssp_sig[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};
/* VERSION we send: 10.0.20348, NTLMSSP_REVISION_W2K3 (0x0F). Informational only. */
static const uint8_t server_version[8] = {0x0a, 0x00, 0x7c, 0x4f, 0x00, 0x00, 0x00, 0x0f};
static const char cbt_prefix[] = CHANBIND_PREFIX;

/* ---- little-endian readers ---- */

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* Start of a buffer's data, never a null pointer (an empty buf has p == NULL). */
static const uint8_t *bdata(const struct buf *b)
{
    return b->p ? b->p + b->start : (const uint8_t *)"";
}

/* ---- crypto helpers ---- */

struct piece {
    const uint8_t *p;
    size_t n;
};

/* MD5 from the default provider, fetched once: a fetch per use (what EVP_MAC_fetch and
 * EVP_Q_mac do) costs more than the six HMACs of a logon themselves. */
static const EVP_MD *md5_md(void)
{
    static EVP_MD *md;
    if (!md)
        md = EVP_MD_fetch(NULL, "MD5", NULL);
    return md;
}

/* HMAC-MD5 (RFC 2104) over the concatenation of n pieces. */
static int hmac_md5_pieces(const uint8_t *key, size_t keylen, const struct piece *v, size_t n,
                           uint8_t out[16])
{
    static EVP_MD_CTX *ctx; /* reused: the loop is single-threaded and nothing nests */
    const EVP_MD *md = md5_md();
    if (!ctx)
        ctx = EVP_MD_CTX_new();
    if (!md || !ctx)
        return -1;
    int rc = -1;
    uint8_t k[64] = {0}, pad[64], inner[16];
    unsigned int l = 0;
    if (keylen > sizeof k) {
        if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, key, keylen) ||
            !EVP_DigestFinal_ex(ctx, k, &l))
            goto out;
    } else if (keylen) {
        memcpy(k, key, keylen);
    }
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x36;
    if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, pad, sizeof pad))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (v[i].n && !EVP_DigestUpdate(ctx, v[i].p, v[i].n))
            goto out;
    if (!EVP_DigestFinal_ex(ctx, inner, &l) || l != 16)
        goto out;
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x5c;
    if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, pad, sizeof pad) ||
        !EVP_DigestUpdate(ctx, inner, sizeof inner) || !EVP_DigestFinal_ex(ctx, out, &l) || l != 16)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return rc;
}

int ntlm_hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *d1, size_t l1,
                  const uint8_t *d2, size_t l2, uint8_t out[16])
{
    struct piece v[2] = {{d1, l1}, {d2, l2}};
    return hmac_md5_pieces(key, keylen, v, 2, out);
}

static int md5_digest(const uint8_t *d, size_t n, uint8_t out[16])
{
    int rc = -1;
    unsigned int outl = 0;
    const EVP_MD *md = md5_md();
    if (md && EVP_Digest(d, n, out, &outl, md, NULL) && outl == 16)
        rc = 0;
    return rc;
}

int ntlm_nt_hash(const char *password_utf8, uint8_t out[16])
{
    struct buf b = BUF_INIT;
    int rc = -1;
    if (password_utf8 && utf8_to_utf16le(&b, password_utf8) == 0) {
        ntlm_md4(bdata(&b), buf_len(&b), out);
        rc = 0;
    }
    if (b.p)
        OPENSSL_cleanse(b.p, b.cap);
    buf_free(&b);
    return rc;
}

/* NTOWFv2 over the message's own UTF-16LE strings; only the user is upper-cased (step 6). */
static int ntowfv2_utf16(const uint8_t nthash[16], const uint8_t *user16, size_t ulen,
                         const uint8_t *dom16, size_t dlen, uint8_t out[16])
{
    uint8_t upper[2 * NTLM_NAME_MAX];
    if (ulen > sizeof upper)
        return -1;
    if (ulen)
        memcpy(upper, user16, ulen);
    utf16le_upper(upper, ulen);
    struct piece v[2] = {{upper, ulen}, {dom16, dlen}};
    int rc = hmac_md5_pieces(nthash, 16, v, 2, out);
    OPENSSL_cleanse(upper, sizeof upper);
    return rc;
}

int ntlm_ntowfv2(const uint8_t nthash[16], const char *user_utf8, const char *domain_utf8,
                 uint8_t out[16])
{
    struct buf u = BUF_INIT, d = BUF_INIT;
    int rc = -1;
    if (!user_utf8 || !domain_utf8)
        return -1;
    if (utf8_to_utf16le(&u, user_utf8) == 0 && utf8_to_utf16le(&d, domain_utf8) == 0)
        rc = ntowfv2_utf16(nthash, bdata(&u), buf_len(&u), bdata(&d), buf_len(&d), out);
    buf_free(&u);
    buf_free(&d);
    return rc;
}

int ntlm_cbt_from_hash(const uint8_t *h, size_t hlen, uint8_t out[16])
{
    /* gss_channel_bindings_struct flattened as in RFC 4121 4.1.1.2: initiator addrtype and
     * address length, acceptor addrtype and address length (all zero), then the length of the
     * application data and the data itself; all integers little-endian. */
    uint8_t tmp[20 + sizeof cbt_prefix - 1 + EVP_MAX_MD_SIZE];
    size_t plen = sizeof cbt_prefix - 1;
    if (!h || hlen == 0 || hlen > EVP_MAX_MD_SIZE)
        return -1;
    size_t alen = plen + hlen;
    memset(tmp, 0, 16);
    tmp[16] = (uint8_t)alen;
    tmp[17] = (uint8_t)(alen >> 8);
    tmp[18] = 0;
    tmp[19] = 0;
    memcpy(tmp + 20, cbt_prefix, plen);
    memcpy(tmp + 20 + plen, h, hlen);
    return md5_digest(tmp, 20 + alen, out);
}

int ntlm_cbt_from_cert_der(const uint8_t *der, size_t len, uint8_t out[2][16], unsigned *n)
{
    uint8_t h[CHANBIND_HASH_MAX], s256[32], alt[16];
    if (!out || !n)
        return -1;
    *n = 0;
    int hl = chanbind_cert_hash(der, len, h, s256);
    if (hl < 0 || ntlm_cbt_from_hash(h, (size_t)hl, out[0]) < 0 ||
        ntlm_cbt_from_hash(s256, sizeof s256, alt) < 0)
        return -1;
    *n = 1;
    /* FreeRDP 2.x always hashes with SHA-256 whatever the signature algorithm. */
    if (memcmp(alt, out[0], 16) != 0) {
        memcpy(out[1], alt, 16);
        *n = 2;
    }
    return 0;
}

/* ---- misc public helpers ---- */

const char *ntlm_strerror(int status)
{
    switch (status) {
    case NTLM_OK:
        return "ok";
    case NTLM_ERR_MALFORMED:
        return "malformed NTLM message";
    case NTLM_ERR_STATE:
        return "NTLM message out of order";
    case NTLM_ERR_UNSUPPORTED:
        return "unsupported NTLM variant (anonymous, LM/NTLMv1 or missing flags)";
    case NTLM_ERR_BAD_CREDENTIALS:
        return "bad credentials";
    case NTLM_ERR_MIC:
        return "NTLM MIC missing or wrong";
    case NTLM_ERR_CBT:
        return "channel binding missing or wrong";
    case NTLM_ERR_TARGET:
        return "target name (SPN) not accepted";
    case NTLM_ERR_EXPIRED:
        return "challenge expired or timestamp not echoed";
    case NTLM_ERR_INTERNAL:
        return "internal error";
    default:
        return "unknown NTLM status";
    }
}

uint64_t ntlm_filetime_from_unix(uint64_t unix_seconds)
{
    return (unix_seconds + 11644473600ull) * 10000000ull;
}

/* The NEGOTIATE copy (8 KB of room) only ever holds its first negotiate_len bytes: every copy
 * into it is preceded by a wipe and followed by setting negotiate_len, and nothing reads past
 * it. So a wipe clears those bytes and every field after the array, not the whole 9 KB (three
 * wipes and an init per logon; a full one also evicts most of L1). */
static void ctx_wipe(struct ntlm_ctx *c)
{
    size_t n = c->negotiate_len < sizeof c->negotiate ? c->negotiate_len : sizeof c->negotiate;
    OPENSSL_cleanse(c->negotiate, n);
    OPENSSL_cleanse(&c->negotiate_len, sizeof *c - offsetof(struct ntlm_ctx, negotiate_len));
}

void ntlm_ctx_init(struct ntlm_ctx *c)
{
    memset(&c->negotiate_len, 0, sizeof *c - offsetof(struct ntlm_ctx, negotiate_len));
    c->state = ST_INIT;
}

void ntlm_ctx_clear(struct ntlm_ctx *c)
{
    ctx_wipe(c);
    c->state = ST_INIT;
}

/* Wipes everything but leaves the context unusable until ntlm_ctx_init/clear. */
static void ctx_spend(struct ntlm_ctx *c)
{
    ctx_wipe(c);
    c->state = ST_SPENT;
}

/* ---- NEGOTIATE -> CHALLENGE ---- */

/* Reads a security buffer at field; empty buffers are accepted whatever their offset. A
 * non-empty one must lie in [min_off, len). Returns 0 or -1. */
struct secbuf {
    size_t off, len;
};

static int read_secbuf(const uint8_t *msg, size_t len, size_t field, size_t min_off,
                       struct secbuf *sb)
{
    size_t l = rd16(msg + field);
    size_t o = rd32(msg + field + 4);
    sb->len = l;
    sb->off = l ? o : 0;
    if (l == 0)
        return 0;
    /* Written so that nothing can overflow: o <= len first, then l <= len - o. */
    if (o < min_off || o > len || l > len - o)
        return -1;
    return 0;
}

static int av_put_str(struct buf *b, uint16_t id, const char *s)
{
    struct buf tmp = BUF_INIT;
    int r = utf8_to_utf16le(&tmp, s);
    if (r == 0 && buf_len(&tmp) > 0xFFFF)
        r = -EINVAL;
    if (r == 0)
        r = buf_put_u16le(b, id);
    if (r == 0)
        r = buf_put_u16le(b, (uint16_t)buf_len(&tmp));
    if (r == 0)
        r = buf_append(b, bdata(&tmp), buf_len(&tmp));
    buf_free(&tmp);
    return r;
}

static bool nonempty(const char *s)
{
    return s && *s;
}

/* Builds the CHALLENGE (section 1.8 of the spec): 56-byte header with VERSION, then TargetName,
 * then TargetInfo, and nothing after (FreeRDP's MIC copies exactly header + both lengths). */
static int build_challenge(const struct ntlm_server_config *cfg, uint32_t flags,
                           const uint8_t sc[8], uint64_t ts, struct buf *out)
{
    struct buf tn = BUF_INIT, ti = BUF_INIT;
    const char *target = nonempty(cfg->nb_domain) ? cfg->nb_domain : cfg->nb_computer;
    int r = utf8_to_utf16le(&tn, target ? target : "");
    /* TargetInfo in the order Windows and FreeRDP use; never MsvAvFlags (fact 12). With no
     * NetBIOS domain (stand-alone), the computer name stands in for it, as Windows does. */
    const char *nbdom = nonempty(cfg->nb_domain) ? cfg->nb_domain : cfg->nb_computer;
    if (r == 0 && nonempty(nbdom))
        r = av_put_str(&ti, AV_NB_DOMAIN, nbdom);
    if (r == 0 && nonempty(cfg->nb_computer))
        r = av_put_str(&ti, AV_NB_COMPUTER, cfg->nb_computer);
    if (r == 0 && nonempty(cfg->dns_domain))
        r = av_put_str(&ti, AV_DNS_DOMAIN, cfg->dns_domain);
    if (r == 0 && nonempty(cfg->dns_computer))
        r = av_put_str(&ti, AV_DNS_COMPUTER, cfg->dns_computer);
    if (r == 0) {
        r = buf_put_u16le(&ti, AV_TIMESTAMP);
        if (r == 0)
            r = buf_put_u16le(&ti, 8);
        if (r == 0)
            r = buf_put_u64le(&ti, ts);
        if (r == 0)
            r = buf_put_u32le(&ti, 0); /* MsvAvEOL */
    }
    if (r == 0 && (buf_len(&tn) > 0xFFFF || buf_len(&ti) > 0xFFFF))
        r = -EINVAL;
    if (r == 0) {
        uint16_t tnl = (uint16_t)buf_len(&tn), til = (uint16_t)buf_len(&ti);
        uint8_t reserved[8] = {0};
        r = buf_append(out, ntlmssp_sig, 8);
        if (r == 0)
            r = buf_put_u32le(out, 2);
        if (r == 0)
            r = buf_put_u16le(out, tnl);
        if (r == 0)
            r = buf_put_u16le(out, tnl);
        if (r == 0)
            r = buf_put_u32le(out, CHALLENGE_HEADER_LEN);
        if (r == 0)
            r = buf_put_u32le(out, flags);
        if (r == 0)
            r = buf_append(out, sc, 8);
        if (r == 0)
            r = buf_append(out, reserved, 8);
        if (r == 0)
            r = buf_put_u16le(out, til);
        if (r == 0)
            r = buf_put_u16le(out, til);
        if (r == 0)
            r = buf_put_u32le(out, CHALLENGE_HEADER_LEN + (uint32_t)tnl);
        if (r == 0)
            r = buf_append(out, server_version, 8);
        if (r == 0)
            r = buf_append(out, bdata(&tn), tnl);
        if (r == 0)
            r = buf_append(out, bdata(&ti), til);
    }
    buf_free(&tn);
    buf_free(&ti);
    return r;
}

int ntlm_accept_negotiate(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                          const uint8_t *msg, size_t len, uint64_t now_filetime, uint64_t now_ms,
                          struct buf *challenge_out)
{
    if (!c || !cfg || !challenge_out)
        return NTLM_ERR_INTERNAL;
    if ((c->state & ST_PHASE_MASK) == ST_SPENT)
        return NTLM_ERR_STATE;
    /* A new NEGOTIATE restarts the exchange: forget any earlier challenge. */
    ntlm_ctx_clear(c);

    if (!msg || len < 32 || len > NTLM_MAX_MESSAGE)
        return NTLM_ERR_MALFORMED;
    if (memcmp(msg, ntlmssp_sig, 8) != 0 || rd32(msg + 8) != 1)
        return NTLM_ERR_MALFORMED;
    uint32_t cf = rd32(msg + 12);
    struct secbuf sb;
    if ((cf & NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED) && read_secbuf(msg, len, 16, 32, &sb) < 0)
        return NTLM_ERR_MALFORMED;
    if ((cf & NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED) && read_secbuf(msg, len, 24, 32, &sb) < 0)
        return NTLM_ERR_MALFORMED;
    if (!(cf & NTLMSSP_NEGOTIATE_UNICODE) || !(cf & NTLMSSP_NEGOTIATE_NTLM))
        return NTLM_ERR_UNSUPPORTED;

    uint32_t sf = NTLMSSP_NEGOTIATE_UNICODE | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM |
                  NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_NEGOTIATE_ESS |
                  NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_NEGOTIATE_VERSION |
                  NTLMSSP_NEGOTIATE_128 | NTLMSSP_NEGOTIATE_56;
    sf |= cf & (NTLMSSP_NEGOTIATE_KEY_EXCH | NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL);
    sf |= nonempty(cfg->nb_domain) ? NTLMSSP_TARGET_TYPE_DOMAIN : NTLMSSP_TARGET_TYPE_SERVER;

    uint8_t sc[8];
    if (cfg->fixed_challenge)
        memcpy(sc, cfg->fixed_challenge, 8);
    else if (RAND_bytes(sc, sizeof sc) != 1)
        return NTLM_ERR_INTERNAL;

    struct buf out = BUF_INIT;
    out.cap_limit = sizeof c->challenge;
    if (build_challenge(cfg, sf, sc, now_filetime, &out) < 0 ||
        buf_append(challenge_out, buf_data(&out), buf_len(&out)) < 0) {
        buf_free(&out);
        OPENSSL_cleanse(sc, sizeof sc);
        return NTLM_ERR_INTERNAL;
    }
    memcpy(c->challenge, buf_data(&out), buf_len(&out));
    c->challenge_len = buf_len(&out);
    buf_free(&out);
    memcpy(c->negotiate, msg, len);
    c->negotiate_len = len;
    memcpy(c->server_challenge, sc, 8);
    OPENSSL_cleanse(sc, sizeof sc);
    c->timestamp = now_filetime;
    c->issued_ms = now_ms;
    c->flags = sf;
    c->state = ST_CHALLENGED | ST_F_TIMESTAMP;
    return NTLM_OK;
}

/* ---- AV pairs ---- */

struct av_info {
    bool has_flags, has_ts;
    uint32_t flags;
    uint64_t ts;
    const uint8_t *cb; /* 16 bytes when present */
    const uint8_t *target;
    size_t target_len;
};

/* Walks an AV_PAIR list of len bytes up to MsvAvEOL (step 4). Duplicates of any id below 64
 * and wrong fixed lengths are errors; unknown ids are skipped. Returns 0 or -1. */
static int parse_av_pairs(const uint8_t *p, size_t len, struct av_info *ai)
{
    uint64_t seen = 0;
    size_t pos = 0;
    memset(ai, 0, sizeof *ai);
    for (;;) {
        if (len - pos < 4)
            return -1; /* no MsvAvEOL */
        uint16_t id = rd16(p + pos);
        size_t l = rd16(p + pos + 2);
        pos += 4;
        if (l > len - pos)
            return -1;
        const uint8_t *v = p + pos;
        pos += l;
        if (id == AV_EOL)
            return l == 0 ? 0 : -1;
        if (id < 64) {
            if (seen & (1ull << id))
                return -1;
            seen |= 1ull << id;
        }
        switch (id) {
        case AV_FLAGS:
            if (l != 4)
                return -1;
            ai->has_flags = true;
            ai->flags = rd32(v);
            break;
        case AV_TIMESTAMP:
            if (l != 8)
                return -1;
            ai->has_ts = true;
            ai->ts = rd64(v);
            break;
        case AV_CHANNEL_BINDINGS:
            if (l != 16)
                return -1;
            ai->cb = v;
            break;
        case AV_TARGET_NAME:
            if (l % 2)
                return -1;
            ai->target = v;
            ai->target_len = l;
            break;
        case AV_NB_COMPUTER:
        case AV_NB_DOMAIN:
        case AV_DNS_COMPUTER:
        case AV_DNS_DOMAIN:
        case AV_DNS_TREE:
            if (l % 2)
                return -1;
            break;
        default:
            break;
        }
    }
}

/* ---- AUTHENTICATE ---- */

static bool spn_accepted(const struct ntlm_server_config *cfg, const char *spn)
{
    if (strncasecmp(spn, "HTTP/", 5) != 0)
        return false;
    const char *host = spn + 5;
    bool ok = false;
    for (const char *const *h = cfg->spn_hosts; *h; h++)
        if (**h && strcasecmp(host, *h) == 0)
            ok = true;
    return ok;
}

struct auth_keys {
    uint8_t nthash[16];
    uint8_t ntowf[2][16];
    uint8_t proof[2][16];
    uint8_t sbk[16];
    uint8_t esk[16];
    uint8_t mic[16];
    char identity[NTLM_NAME_MAX];
};

/* An AUTHENTICATE message split into its parts (steps 1-4). */
struct parsed_auth {
    struct secbuf lm, nt, dom, user, ws, key;
    bool key_exch, mic_present;
    uint32_t flags; /* NegotiateFlags of the AUTHENTICATE */
    struct av_info ai;
    const uint8_t *proof, *blob;
    size_t blob_len;
};

/* Steps 1-4: structure, bounds, flags, the NTLMv2 blob. Fills res's names as sent. */
static int parse_authenticate(const struct ntlm_ctx *c, const uint8_t *msg, size_t len,
                              struct ntlm_result *res, struct parsed_auth *pa)
{
    /* Step 1: structure and bounds. */
    if (!msg || len < AUTH_HEADER_MIN || len > NTLM_MAX_MESSAGE)
        return NTLM_ERR_MALFORMED;
    if (memcmp(msg, ntlmssp_sig, 8) != 0 || rd32(msg + 8) != 3)
        return NTLM_ERR_MALFORMED;
    if (read_secbuf(msg, len, 12, AUTH_HEADER_MIN, &pa->lm) < 0 ||
        read_secbuf(msg, len, 20, AUTH_HEADER_MIN, &pa->nt) < 0 ||
        read_secbuf(msg, len, 28, AUTH_HEADER_MIN, &pa->dom) < 0 ||
        read_secbuf(msg, len, 36, AUTH_HEADER_MIN, &pa->user) < 0 ||
        read_secbuf(msg, len, 44, AUTH_HEADER_MIN, &pa->ws) < 0 ||
        read_secbuf(msg, len, 52, AUTH_HEADER_MIN, &pa->key) < 0)
        return NTLM_ERR_MALFORMED;
    if (pa->dom.len % 2 || pa->user.len % 2 || pa->ws.len % 2)
        return NTLM_ERR_MALFORMED;
    /* Names as sent, for the caller's logs even when the logon fails. */
    if (utf16le_to_utf8(msg + pa->dom.off, pa->dom.len, res->domain, sizeof res->domain) < 0 ||
        utf16le_to_utf8(msg + pa->user.off, pa->user.len, res->user, sizeof res->user) < 0 ||
        utf16le_to_utf8(msg + pa->ws.off, pa->ws.len, res->workstation, sizeof res->workstation) <
            0)
        return NTLM_ERR_MALFORMED;

    /* Step 2: flags. */
    uint32_t af = rd32(msg + 60);
    pa->flags = af;
    if (!(af & NTLMSSP_NEGOTIATE_UNICODE) || (af & NTLMSSP_NEGOTIATE_ANONYMOUS))
        return NTLM_ERR_UNSUPPORTED;
    pa->key_exch = (af & NTLMSSP_NEGOTIATE_KEY_EXCH) != 0;
    if (pa->key_exch && (pa->key.len != 16 || !(c->flags & NTLMSSP_NEGOTIATE_KEY_EXCH)))
        return NTLM_ERR_MALFORMED;
    if (!pa->key_exch && pa->key.len != 0)
        return NTLM_ERR_MALFORMED;

    /* Step 3: no anonymous, no LM/NTLMv1/NTLM2 (the LM response is never looked at). */
    if (pa->user.len == 0 || pa->nt.len == 0)
        return NTLM_ERR_UNSUPPORTED;
    if (pa->nt.len < NTLMV2_RESPONSE_MIN)
        return NTLM_ERR_UNSUPPORTED;

    /* Step 4: the NTLMv2 blob, hashed later exactly as received. */
    pa->proof = msg + pa->nt.off;
    pa->blob = pa->proof + 16;
    pa->blob_len = pa->nt.len - 16;
    if (pa->blob[0] != 1 || pa->blob[1] != 1)
        return NTLM_ERR_MALFORMED;
    if (parse_av_pairs(pa->blob + NTLMV2_BLOB_AV_OFFSET, pa->blob_len - NTLMV2_BLOB_AV_OFFSET,
                       &pa->ai) < 0)
        return NTLM_ERR_MALFORMED;
    pa->mic_present = pa->ai.has_flags && (pa->ai.flags & AV_FLAG_MIC_PRESENT);
    res->had_mic = pa->mic_present;
    if (pa->mic_present) {
        /* The MIC occupies bytes 72..87: no payload may overlap it. */
        const struct secbuf *all[6] = {&pa->lm, &pa->nt, &pa->dom, &pa->user, &pa->ws, &pa->key};
        if (len < AUTH_HEADER_WITH_MIC)
            return NTLM_ERR_MALFORMED;
        for (int i = 0; i < 6; i++)
            if (all[i]->len && all[i]->off < AUTH_HEADER_WITH_MIC)
                return NTLM_ERR_MALFORMED;
    }
    return NTLM_OK;
}

/* Steps 8-10: ExportedSessionKey from SessionBaseKey, then the MIC over NEGOTIATE || CHALLENGE ||
 * AUTHENTICATE with the MIC field zeroed. */
static int check_mic(const struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                     const uint8_t *msg, size_t len, const struct parsed_auth *pa,
                     struct auth_keys *k)
{
    if (pa->key_exch) {
        memcpy(k->esk, msg + pa->key.off, 16);
        ntlm_rc4(k->sbk, k->esk, 16);
    } else {
        memcpy(k->esk, k->sbk, 16);
    }
    if (pa->mic_present) {
        static const uint8_t zero16[16] = {0};
        struct piece mv[5] = {
            {c->negotiate, c->negotiate_len},
            {c->challenge, c->challenge_len},
            {msg, AUTH_MIC_OFFSET},
            {zero16, 16},
            {msg + AUTH_HEADER_WITH_MIC, len - AUTH_HEADER_WITH_MIC},
        };
        if (hmac_md5_pieces(k->esk, 16, mv, 5, k->mic) < 0)
            return NTLM_ERR_INTERNAL;
        if (CRYPTO_memcmp(k->mic, msg + AUTH_MIC_OFFSET, 16) != 0)
            return NTLM_ERR_MIC;
    } else if (cfg->require_mic) {
        return NTLM_ERR_MIC;
    }
    return NTLM_OK;
}

/* Steps 11, 13, 14: timestamp and challenge age, channel binding, target name. */
static int check_context(const struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                         const struct parsed_auth *pa, uint64_t now_ms, const uint8_t (*cbt)[16],
                         unsigned ncbt, struct ntlm_result *res)
{
    const struct av_info *ai = &pa->ai;
    /* Step 11: the timestamp we sent must come back unchanged (in the AV pair and in the blob
     * header), and the challenge must still be young. No clock comparison is needed. */
    if (c->state & ST_F_TIMESTAMP) {
        if (!ai->has_ts || ai->ts != c->timestamp || rd64(pa->blob + 8) != c->timestamp)
            return NTLM_ERR_EXPIRED;
    }
    uint64_t lifetime_ms =
        (uint64_t)(cfg->challenge_lifetime_s ? cfg->challenge_lifetime_s : DEFAULT_LIFETIME_S) *
        1000u;
    if (now_ms < c->issued_ms || now_ms - c->issued_ms > lifetime_ms)
        return NTLM_ERR_EXPIRED;

    /* Step 13: channel binding. All-zero means "none". */
    bool cb_sent = false;
    if (ai->cb) {
        uint8_t acc = 0;
        for (int i = 0; i < 16; i++)
            acc |= ai->cb[i];
        cb_sent = acc != 0;
    }
    if (cb_sent && ncbt > 0) {
        bool match = false;
        for (unsigned i = 0; i < ncbt; i++)
            match |= CRYPTO_memcmp(ai->cb, cbt[i], 16) == 0;
        if (!match)
            return NTLM_ERR_CBT;
        res->had_cbt = true;
    } else if (cfg->require_cbt) {
        /* Absent, or nothing configured to check it against. */
        return NTLM_ERR_CBT;
    }

    /* Step 14: MsvAvTargetName must name this gateway over HTTP. */
    if (cfg->spn_hosts) {
        if (ai->target && ai->target_len > 0) {
            char spn[2 * NTLM_NAME_MAX];
            if (utf16le_to_utf8(ai->target, ai->target_len, spn, sizeof spn) < 0 ||
                !spn_accepted(cfg, spn))
                return NTLM_ERR_TARGET;
        } else if (cfg->require_spn) {
            return NTLM_ERR_TARGET;
        }
    }
    return NTLM_OK;
}

static int verify_authenticate(const struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                               const uint8_t *msg, size_t len, uint64_t now_ms,
                               const uint8_t (*cbt)[16], unsigned ncbt, ntlm_lookup_fn lookup,
                               void *lookup_ctx, struct ntlm_result *res, struct auth_keys *k)
{
    struct parsed_auth pa;
    memset(&pa, 0, sizeof pa);
    int r = parse_authenticate(c, msg, len, res, &pa);
    if (r != NTLM_OK)
        return r;

    /* Step 5: account lookup; an unknown user goes through the same work with a random hash
     * and fails at the end, so that the reply and its timing do not tell the two apart. */
    bool found =
        lookup(lookup_ctx, res->domain, res->user, k->nthash, k->identity, sizeof k->identity) == 0;
    k->identity[sizeof k->identity - 1] = 0;
    if (!found && RAND_bytes(k->nthash, 16) != 1)
        memset(k->nthash, 0xA5, 16);

    /* Steps 6-7: NTOWFv2 with the domain as sent, and (SHOULD in the spec) with an empty
     * domain for clients that hashed a NIL domain. Both are always computed. */
    const uint8_t *srv_chal = c->server_challenge;
    struct piece pv[2] = {{srv_chal, 8}, {pa.blob, pa.blob_len}};
    if (ntowfv2_utf16(k->nthash, msg + pa.user.off, pa.user.len, msg + pa.dom.off, pa.dom.len,
                      k->ntowf[0]) < 0 ||
        hmac_md5_pieces(k->ntowf[0], 16, pv, 2, k->proof[0]) < 0 ||
        ntowfv2_utf16(k->nthash, msg + pa.user.off, pa.user.len, NULL, 0, k->ntowf[1]) < 0 ||
        hmac_md5_pieces(k->ntowf[1], 16, pv, 2, k->proof[1]) < 0)
        return NTLM_ERR_INTERNAL;
    bool m0 = CRYPTO_memcmp(k->proof[0], pa.proof, 16) == 0;
    bool m1 = pa.dom.len != 0 && CRYPTO_memcmp(k->proof[1], pa.proof, 16) == 0;
    if (!found || !(m0 || m1))
        return NTLM_ERR_BAD_CREDENTIALS;
    const uint8_t *ntowf = m0 ? k->ntowf[0] : k->ntowf[1];

    /* Steps 8-10: SessionBaseKey = KeyExchangeKey (NTLMv2); ExportedSessionKey; MIC. */
    if (ntlm_hmac_md5(ntowf, 16, pa.proof, 16, NULL, 0, k->sbk) < 0)
        return NTLM_ERR_INTERNAL;
    r = check_mic(c, cfg, msg, len, &pa, k);
    if (r != NTLM_OK)
        return r;

    /* Steps 11-14. */
    r = check_context(c, cfg, &pa, now_ms, cbt, ncbt, res);
    if (r != NTLM_OK)
        return r;

    /* Step 15. */
    memcpy(res->identity, k->identity, sizeof res->identity);
    memcpy(res->session_key, k->esk, 16);
    res->flags = pa.flags & c->flags;
    return NTLM_OK;
}

int ntlm_accept_authenticate(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                             const uint8_t *msg, size_t len, uint64_t now_ms,
                             const uint8_t (*cbt)[16], unsigned ncbt, ntlm_lookup_fn lookup,
                             void *lookup_ctx, struct ntlm_result *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!c)
        return NTLM_ERR_INTERNAL;
    if ((c->state & ST_PHASE_MASK) != ST_CHALLENGED) {
        ctx_spend(c);
        return NTLM_ERR_STATE;
    }
    if (!cfg || !lookup || !res || (ncbt && !cbt)) {
        ctx_spend(c);
        return NTLM_ERR_INTERNAL;
    }
    struct auth_keys k;
    memset(&k, 0, sizeof k);
    int r = verify_authenticate(c, cfg, msg, len, now_ms, cbt, ncbt, lookup, lookup_ctx, res, &k);
    OPENSSL_cleanse(&k, sizeof k);
    ctx_spend(c);
    return r;
}

int ntlm_authenticate_names(const uint8_t *msg, size_t len, struct ntlm_result *res)
{
    memset(res, 0, sizeof *res);
    struct secbuf dom, user, ws;
    if (!msg || len < AUTH_HEADER_MIN || len > NTLM_MAX_MESSAGE ||
        memcmp(msg, ntlmssp_sig, 8) != 0 || rd32(msg + 8) != 3 ||
        read_secbuf(msg, len, 28, AUTH_HEADER_MIN, &dom) < 0 ||
        read_secbuf(msg, len, 36, AUTH_HEADER_MIN, &user) < 0 ||
        read_secbuf(msg, len, 44, AUTH_HEADER_MIN, &ws) < 0 || dom.len % 2 || user.len % 2 ||
        ws.len % 2)
        return NTLM_ERR_MALFORMED;
    if (utf16le_to_utf8(msg + dom.off, dom.len, res->domain, sizeof res->domain) < 0 ||
        utf16le_to_utf8(msg + user.off, user.len, res->user, sizeof res->user) < 0 ||
        utf16le_to_utf8(msg + ws.off, ws.len, res->workstation, sizeof res->workstation) < 0)
        return NTLM_ERR_MALFORMED;
    return NTLM_OK;
}

int ntlm_passthrough_begin(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                           const uint8_t *msg, size_t len, uint64_t now_ms,
                           const uint8_t (*cbt)[16], unsigned ncbt, struct ntlm_passthrough *pt,
                           struct ntlm_result *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!c)
        return NTLM_ERR_INTERNAL;
    if ((c->state & ST_PHASE_MASK) != ST_CHALLENGED) {
        ctx_spend(c);
        return NTLM_ERR_STATE;
    }
    if (!cfg || !pt || !res || (ncbt && !cbt)) {
        ctx_spend(c);
        return NTLM_ERR_INTERNAL;
    }
    struct parsed_auth pa;
    memset(&pa, 0, sizeof pa);
    int r = parse_authenticate(c, msg, len, res, &pa);
    if (r == NTLM_OK)
        r = check_context(c, cfg, &pa, now_ms, cbt, ncbt, res);
    if (r == NTLM_OK && !pa.mic_present && cfg->require_mic)
        r = NTLM_ERR_MIC; /* known before asking anyone */
    if (r != NTLM_OK) {
        ctx_spend(c);
        return r;
    }
    memcpy(pt->msg, msg, len);
    pt->len = len;
    memcpy(pt->server_challenge, c->server_challenge, 8);
    pt->nt_off = pa.nt.off;
    pt->nt_len = pa.nt.len;
    pt->lm_off = pa.lm.off;
    pt->lm_len = pa.lm.len;
    c->state = (c->state & ~ST_PHASE_MASK) | ST_PASSTHROUGH;
    return NTLM_OK;
}

int ntlm_passthrough_finish(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                            struct ntlm_passthrough *pt, const uint8_t session_base_key[16])
{
    return ntlm_passthrough_finish_keys(c, cfg, pt, session_base_key, NULL);
}

int ntlm_passthrough_finish_keys(struct ntlm_ctx *c, const struct ntlm_server_config *cfg,
                                 struct ntlm_passthrough *pt, const uint8_t session_base_key[16],
                                 struct ntlm_result *res)
{
    int r = NTLM_ERR_STATE;
    if (c && cfg && pt && session_base_key && (c->state & ST_PHASE_MASK) == ST_PASSTHROUGH &&
        pt->len <= sizeof pt->msg) {
        struct parsed_auth pa;
        struct ntlm_result scratch;
        struct auth_keys k;
        memset(&pa, 0, sizeof pa);
        memset(&k, 0, sizeof k);
        r = parse_authenticate(c, pt->msg, pt->len, &scratch, &pa);
        if (r == NTLM_OK) {
            memcpy(k.sbk, session_base_key, 16);
            r = check_mic(c, cfg, pt->msg, pt->len, &pa, &k);
        }
        if (r == NTLM_OK && res) {
            memcpy(res->session_key, k.esk, 16);
            res->flags = pa.flags & c->flags;
        }
        OPENSSL_cleanse(&k, sizeof k);
    }
    if (c)
        ctx_spend(c);
    if (pt)
        OPENSSL_cleanse(pt, sizeof *pt);
    return r;
}

/* ---------- message signatures (MS-NLMP 3.4.4.2, 3.4.5.2, 3.4.5.3) ---------- */

static int md5_pieces(const struct piece *v, size_t n, uint8_t out[16])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned ol = 0;
    int ok = m && EVP_DigestInit_ex(m, EVP_md5(), NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(m, v[i].p, v[i].n);
    ok = ok && EVP_DigestFinal_ex(m, out, &ol) && ol == 16;
    EVP_MD_CTX_free(m);
    return ok ? 0 : -1;
}

static int sign_keys(const uint8_t esk[16], uint32_t flags, bool from_server, uint8_t sign[16],
                     uint8_t seal[16])
{
    static const char c2s_sign[] = "session key to client-to-server signing key magic constant";
    static const char s2c_sign[] = "session key to server-to-client signing key magic constant";
    static const char c2s_seal[] = "session key to client-to-server sealing key magic constant";
    static const char s2c_seal[] = "session key to server-to-client sealing key magic constant";
    /* SIGNKEY and SEALKEY with extended session security; the constants include their NUL */
    const char *sm = from_server ? s2c_sign : c2s_sign, *km = from_server ? s2c_seal : c2s_seal;
    size_t klen = (flags & NTLMSSP_NEGOTIATE_128) ? 16 : (flags & NTLMSSP_NEGOTIATE_56) ? 7 : 5;
    struct piece s[2] = {{esk, 16}, {(const uint8_t *)sm, sizeof c2s_sign}};
    struct piece k[2] = {{esk, klen}, {(const uint8_t *)km, sizeof c2s_seal}};
    return md5_pieces(s, 2, sign) < 0 || md5_pieces(k, 2, seal) < 0 ? -1 : 0;
}

int ntlm_sign(const uint8_t session_key[16], uint32_t flags, bool from_server, uint32_t seq,
              const uint8_t *msg, size_t len, uint8_t sig[16])
{
    if (!(flags & NTLMSSP_NEGOTIATE_SIGN) || !(flags & NTLMSSP_NEGOTIATE_ESS))
        return -1;
    uint8_t sign[16], seal[16], mac[16],
        sq[4] = {(uint8_t)seq, (uint8_t)(seq >> 8), (uint8_t)(seq >> 16), (uint8_t)(seq >> 24)};
    struct piece v[2] = {{sq, 4}, {msg, len}};
    int r = -1;
    if (sign_keys(session_key, flags, from_server, sign, seal) == 0 &&
        hmac_md5_pieces(sign, 16, v, 2, mac) == 0) {
        /* with key exchange the checksum is sealed with the direction's RC4 handle */
        if (flags & NTLMSSP_NEGOTIATE_KEY_EXCH)
            ntlm_rc4(seal, mac, 8);
        sig[0] = 1;
        sig[1] = sig[2] = sig[3] = 0;
        memcpy(sig + 4, mac, 8);
        memcpy(sig + 12, sq, 4);
        r = 0;
    }
    OPENSSL_cleanse(sign, sizeof sign);
    OPENSSL_cleanse(seal, sizeof seal);
    OPENSSL_cleanse(mac, sizeof mac);
    return r;
}

int ntlm_verify_sig(const uint8_t session_key[16], uint32_t flags, bool from_server, uint32_t seq,
                    const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    uint8_t want[16];
    if (sig_len != 16 || ntlm_sign(session_key, flags, from_server, seq, msg, len, want) < 0)
        return -1;
    int r = CRYPTO_memcmp(want, sig, 16) == 0 ? 0 : -1;
    OPENSSL_cleanse(want, sizeof want);
    return r;
}

int ntlm_ctx_set_challenge_for_test(struct ntlm_ctx *c, const uint8_t *negotiate, size_t nlen,
                                    const uint8_t *challenge, size_t clen, uint64_t issued_ms)
{
    ntlm_ctx_clear(c);
    if (nlen > sizeof c->negotiate || (nlen && !negotiate) || !challenge || clen < 48 ||
        clen > sizeof c->challenge)
        return NTLM_ERR_MALFORMED;
    if (memcmp(challenge, ntlmssp_sig, 8) != 0 || rd32(challenge + 8) != 2)
        return NTLM_ERR_MALFORMED;
    struct secbuf ti;
    struct av_info ai;
    memset(&ai, 0, sizeof ai);
    if (read_secbuf(challenge, clen, 40, 48, &ti) < 0)
        return NTLM_ERR_MALFORMED;
    if (ti.len && parse_av_pairs(challenge + ti.off, ti.len, &ai) < 0)
        return NTLM_ERR_MALFORMED;
    if (nlen)
        memcpy(c->negotiate, negotiate, nlen);
    c->negotiate_len = nlen;
    memcpy(c->challenge, challenge, clen);
    c->challenge_len = clen;
    memcpy(c->server_challenge, challenge + 24, 8);
    c->flags = rd32(challenge + 20);
    c->issued_ms = issued_ms;
    c->state = ST_CHALLENGED;
    if (ai.has_ts) {
        c->timestamp = ai.ts;
        c->state |= ST_F_TIMESTAMP;
    }
    return NTLM_OK;
}
