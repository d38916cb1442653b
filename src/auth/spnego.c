/* SPNEGO token parser and builder (see spnego.h). */
#include "auth/spnego.h"

#include <string.h>

/* OID contents (no tag and length) */
static const uint8_t oid_spnego[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x02};
static const struct {
    int mech;
    uint8_t len;
    uint8_t oid[10];
} known[] = {
    {SPNEGO_MECH_NTLM, 10, {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}},
    {SPNEGO_MECH_KRB5, 9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}},
    {SPNEGO_MECH_MS_KRB5, 9, {0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}},
    {SPNEGO_MECH_NEGOEX, 10, {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e}},
};

#define TAG_SEQUENCE 0x30
#define TAG_OID 0x06
#define TAG_OCTETS 0x04
#define TAG_ENUM 0x0a
#define TAG_BITS 0x03
#define TAG_APP0 0x60
#define CTX(n) (0xa0 + (n))

/* One element: tag, contents, and the bytes it takes in total. */
struct tlv {
    uint8_t tag;
    const uint8_t *v;
    size_t len;
    size_t total;
};

/* Reads the element at p (n bytes available). Single-byte tags only (every tag SPNEGO uses);
 * definite lengths, long form at most four bytes. 0 or -1. */
static int der_read(const uint8_t *p, size_t n, struct tlv *t)
{
    if (n < 2)
        return -1;
    t->tag = p[0];
    if ((p[0] & 0x1f) == 0x1f)
        return -1;
    size_t len, hl;
    if (p[1] < 0x80) {
        len = p[1];
        hl = 2;
    } else {
        size_t k = p[1] & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k) /* 0x80: indefinite, not DER */
            return -1;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | p[2 + i];
        hl = 2 + k;
    }
    if (len > n - hl)
        return -1;
    t->v = p + hl;
    t->len = len;
    t->total = hl + len;
    return 0;
}

/* The single element that fills exactly [p, p+n), with the expected tag. */
static int der_only(const uint8_t *p, size_t n, uint8_t tag, struct tlv *t)
{
    if (der_read(p, n, t) < 0 || t->tag != tag || t->total != n)
        return -1;
    return 0;
}

static int mech_of(const uint8_t *oid, size_t len)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].len == len && !memcmp(known[i].oid, oid, len))
            return known[i].mech;
    return SPNEGO_MECH_OTHER;
}

bool spnego_looks_like(const uint8_t *p, size_t n)
{
    return n >= 2 && (p[0] == TAG_APP0 || p[0] == CTX(1));
}

static int parse_mech_list(const struct tlv *field, struct spnego_token *out)
{
    struct tlv seq;
    if (der_only(field->v, field->len, TAG_SEQUENCE, &seq) < 0)
        return -1;
    out->mech_list = field->v;
    out->mech_list_len = field->len;
    const uint8_t *p = seq.v;
    size_t left = seq.len;
    while (left) {
        struct tlv oid;
        if (der_read(p, left, &oid) < 0 || oid.tag != TAG_OID || oid.len == 0 ||
            oid.len > SPNEGO_MAX_OID || out->nmechs >= SPNEGO_MAX_MECHS)
            return -1;
        out->mechs[out->nmechs++] = (uint8_t)mech_of(oid.v, oid.len);
        p += oid.total;
        left -= oid.total;
    }
    return out->nmechs ? 0 : -1; /* an empty list offers nothing */
}

static int parse_octets(const struct tlv *field, const uint8_t **v, size_t *len)
{
    struct tlv o;
    if (der_only(field->v, field->len, TAG_OCTETS, &o) < 0)
        return -1;
    *v = o.v;
    *len = o.len;
    return 0;
}

/* NegTokenInit ::= SEQUENCE { mechTypes [0], reqFlags [1] OPTIONAL, mechToken [2] OPTIONAL,
 * mechListMIC [3] OPTIONAL }; Windows' NegTokenInit2 has negHints [3] and the MIC at [4]. */
static int parse_init(const uint8_t *p, size_t n, struct spnego_token *out)
{
    struct tlv seq;
    if (der_only(p, n, TAG_SEQUENCE, &seq) < 0)
        return -1;
    const uint8_t *q = seq.v;
    size_t left = seq.len;
    int last = -1;
    while (left) {
        struct tlv f;
        if (der_read(q, left, &f) < 0 || f.tag < CTX(0) || f.tag > CTX(4))
            return -1;
        int idx = f.tag - CTX(0);
        if (idx <= last) /* fields in order, each once */
            return -1;
        last = idx;
        struct tlv in;
        switch (idx) {
        case 0:
            if (parse_mech_list(&f, out) < 0)
                return -1;
            break;
        case 1: /* reqFlags: a BIT STRING, not used by tsgw */
            if (der_only(f.v, f.len, TAG_BITS, &in) < 0)
                return -1;
            break;
        case 2:
            if (parse_octets(&f, &out->mech_token, &out->mech_token_len) < 0)
                return -1;
            break;
        case 3: /* mechListMIC, or NegTokenInit2's negHints (a SEQUENCE, ignored) */
            if (der_read(f.v, f.len, &in) < 0 || in.total != f.len)
                return -1;
            if (in.tag == TAG_OCTETS) {
                out->mic = in.v;
                out->mic_len = in.len;
            } else if (in.tag != TAG_SEQUENCE) {
                return -1;
            }
            break;
        case 4:
            if (out->mic || parse_octets(&f, &out->mic, &out->mic_len) < 0)
                return -1;
            break;
        }
        q += f.total;
        left -= f.total;
    }
    return out->nmechs ? 0 : -1; /* mechTypes is mandatory */
}

/* NegTokenResp ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL, supportedMech [1] OPTIONAL,
 * responseToken [2] OPTIONAL, mechListMIC [3] OPTIONAL } */
static int parse_resp(const uint8_t *p, size_t n, struct spnego_token *out)
{
    struct tlv seq;
    if (der_only(p, n, TAG_SEQUENCE, &seq) < 0)
        return -1;
    const uint8_t *q = seq.v;
    size_t left = seq.len;
    int last = -1;
    while (left) {
        struct tlv f, in;
        if (der_read(q, left, &f) < 0 || f.tag < CTX(0) || f.tag > CTX(3))
            return -1;
        int idx = f.tag - CTX(0);
        if (idx <= last)
            return -1;
        last = idx;
        switch (idx) {
        case 0:
            if (der_only(f.v, f.len, TAG_ENUM, &in) < 0 || in.len != 1 || in.v[0] > 3)
                return -1;
            out->neg_state = in.v[0];
            break;
        case 1:
            if (der_only(f.v, f.len, TAG_OID, &in) < 0 || in.len == 0 || in.len > SPNEGO_MAX_OID)
                return -1;
            out->supported_mech = mech_of(in.v, in.len);
            break;
        case 2:
            if (parse_octets(&f, &out->mech_token, &out->mech_token_len) < 0)
                return -1;
            break;
        case 3:
            if (parse_octets(&f, &out->mic, &out->mic_len) < 0)
                return -1;
            break;
        }
        q += f.total;
        left -= f.total;
    }
    return 0;
}

int spnego_parse(const uint8_t *p, size_t n, struct spnego_token *out)
{
    memset(out, 0, sizeof *out);
    out->neg_state = -1;
    out->supported_mech = -1;
    if (!p || n < 2 || n > SPNEGO_MAX_TOKEN)
        return -1;
    struct tlv top;
    if (der_read(p, n, &top) < 0 || top.total != n)
        return -1;
    if (top.tag == CTX(1)) {
        out->kind = SPNEGO_RESP;
        return parse_resp(top.v, top.len, out);
    }
    if (top.tag != TAG_APP0)
        return -1;
    /* InitialContextToken: thisMech (the SPNEGO OID), then the NegotiationToken */
    struct tlv oid, inner;
    if (der_read(top.v, top.len, &oid) < 0 || oid.tag != TAG_OID || oid.len != sizeof oid_spnego ||
        memcmp(oid.v, oid_spnego, sizeof oid_spnego) != 0)
        return -1;
    if (der_only(top.v + oid.total, top.len - oid.total, CTX(0), &inner) < 0)
        return -1;
    out->kind = SPNEGO_INIT;
    return parse_init(inner.v, inner.len, out);
}

/* ---------- builder ---------- */

static size_t len_size(size_t len)
{
    return len < 0x80 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 4;
}

static size_t tlv_size(size_t len)
{
    return 1 + len_size(len) + len;
}

/* Writes a tag and length at *p (the caller checked the room). */
static void put_hdr(uint8_t **p, uint8_t tag, size_t len)
{
    uint8_t *q = *p;
    *q++ = tag;
    size_t ls = len_size(len);
    if (ls == 1) {
        *q++ = (uint8_t)len;
    } else {
        *q++ = (uint8_t)(0x80 | (ls - 1));
        for (size_t i = ls - 1; i > 0; i--)
            *q++ = (uint8_t)(len >> (8 * (i - 1)));
    }
    *p = q;
}

int spnego_build_resp(uint8_t *out, size_t outsz, int neg_state, int supported_mech,
                      const uint8_t *tok, size_t tok_len, const uint8_t *mic, size_t mic_len)
{
    const uint8_t *oid = NULL;
    size_t oid_len = 0;
    if (supported_mech >= 0) {
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i].mech == supported_mech) {
                oid = known[i].oid;
                oid_len = known[i].len;
            }
        if (!oid)
            return -1;
    }
    if (neg_state > 3 || tok_len > SPNEGO_MAX_TOKEN || mic_len > SPNEGO_MAX_TOKEN)
        return -1;
    size_t body = 0;
    if (neg_state >= 0)
        body += tlv_size(tlv_size(1));
    if (oid)
        body += tlv_size(tlv_size(oid_len));
    if (tok)
        body += tlv_size(tlv_size(tok_len));
    if (mic)
        body += tlv_size(tlv_size(mic_len));
    size_t total = tlv_size(tlv_size(body));
    if (total > outsz)
        return -1;
    uint8_t *p = out;
    put_hdr(&p, CTX(1), tlv_size(body));
    put_hdr(&p, TAG_SEQUENCE, body);
    if (neg_state >= 0) {
        put_hdr(&p, CTX(0), tlv_size(1));
        put_hdr(&p, TAG_ENUM, 1);
        *p++ = (uint8_t)neg_state;
    }
    if (oid) {
        put_hdr(&p, CTX(1), tlv_size(oid_len));
        put_hdr(&p, TAG_OID, oid_len);
        memcpy(p, oid, oid_len);
        p += oid_len;
    }
    if (tok) {
        put_hdr(&p, CTX(2), tlv_size(tok_len));
        put_hdr(&p, TAG_OCTETS, tok_len);
        if (tok_len)
            memcpy(p, tok, tok_len);
        p += tok_len;
    }
    if (mic) {
        put_hdr(&p, CTX(3), tlv_size(mic_len));
        put_hdr(&p, TAG_OCTETS, mic_len);
        if (mic_len)
            memcpy(p, mic, mic_len);
        p += mic_len;
    }
    return (int)(p - out);
}

int spnego_mech_index(const struct spnego_token *t, enum spnego_mech mech)
{
    for (unsigned i = 0; i < t->nmechs; i++)
        if (t->mechs[i] == mech)
            return (int)i;
    return -1;
}

const char *spnego_mech_name(int mech)
{
    switch (mech) {
    case SPNEGO_MECH_NTLM:
        return "NTLM";
    case SPNEGO_MECH_KRB5:
        return "Kerberos 5";
    case SPNEGO_MECH_MS_KRB5:
        return "Microsoft Kerberos 5";
    case SPNEGO_MECH_NEGOEX:
        return "NegoEx";
    default:
        return "other";
    }
}
