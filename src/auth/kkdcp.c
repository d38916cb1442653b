/* MS-KKDCP KDC-PROXY-MESSAGE codec (see kkdcp.h). Strict DER: definite lengths in the shortest
 * form, no trailing bytes at any level, tags in the order of the SEQUENCE. */
#include "auth/kkdcp.h"

#include <string.h>

struct der {
    const uint8_t *p;
    size_t len, pos;
};

/* Reads one TLV header: tag byte (low-tag-number form only) and a DER length that fits in what
 * is left. Sets *vlen and leaves pos at the value. */
static int der_header(struct der *d, uint8_t want_tag, size_t *vlen)
{
    if (d->len - d->pos < 2 || d->p[d->pos] != want_tag)
        return -1;
    d->pos++;
    uint8_t b = d->p[d->pos++];
    size_t l;
    if (b < 0x80) {
        l = b;
    } else {
        unsigned n = b & 0x7f;
        if (n == 0 || n > 3 || d->len - d->pos < n) /* no indefinite form; 16 MiB at most */
            return -1;
        if (d->p[d->pos] == 0)
            return -1; /* not the shortest form */
        l = 0;
        for (unsigned i = 0; i < n; i++)
            l = (l << 8) | d->p[d->pos++];
        if (l < 0x80)
            return -1; /* would have fit in the short form */
    }
    if (l > d->len - d->pos)
        return -1;
    *vlen = l;
    return 0;
}

int kkdcp_decode(const uint8_t *p, size_t len, size_t max, struct kkdcp_request *out)
{
    memset(out, 0, sizeof *out);
    if (max > KKDCP_MAX_MESSAGE)
        max = KKDCP_MAX_MESSAGE;
    if (!p || len > max + 512)
        return KKDCP_ERR_TOO_BIG;
    struct der d = {p, len, 0};
    size_t seq_len, l;
    if (der_header(&d, 0x30, &seq_len) < 0 || d.pos + seq_len != len)
        return KKDCP_ERR_DER;
    /* [0] OCTET STRING */
    size_t end0;
    if (der_header(&d, 0xA0, &l) < 0)
        return KKDCP_ERR_DER;
    end0 = d.pos + l;
    size_t ol;
    if (der_header(&d, 0x04, &ol) < 0 || d.pos + ol != end0)
        return KKDCP_ERR_DER;
    if (ol > max)
        return KKDCP_ERR_TOO_BIG;
    out->kerb = p + d.pos;
    out->kerb_len = ol;
    d.pos = end0;
    if (ol < 5 || kkdcp_framed_len(out->kerb) != ol)
        return KKDCP_ERR_FRAMING;
    /* [1] KERB-REALM (GeneralString) OPTIONAL */
    if (d.pos < len && p[d.pos] == 0xA1) {
        if (der_header(&d, 0xA1, &l) < 0)
            return KKDCP_ERR_DER;
        size_t end1 = d.pos + l, rl;
        if (der_header(&d, 0x1B, &rl) < 0 || d.pos + rl != end1)
            return KKDCP_ERR_DER;
        if (rl == 0 || rl >= sizeof out->realm)
            return KKDCP_ERR_REALM;
        for (size_t i = 0; i < rl; i++)
            if (p[d.pos + i] < 0x21 || p[d.pos + i] > 0x7e)
                return KKDCP_ERR_REALM;
        memcpy(out->realm, p + d.pos, rl);
        out->realm[rl] = 0;
        d.pos = end1;
    }
    /* [2] INTEGER OPTIONAL */
    if (d.pos < len && p[d.pos] == 0xA2) {
        if (der_header(&d, 0xA2, &l) < 0)
            return KKDCP_ERR_DER;
        size_t end2 = d.pos + l, il;
        if (der_header(&d, 0x02, &il) < 0 || d.pos + il != end2 || il == 0 || il > 8)
            return KKDCP_ERR_DER;
        if (il > 1 && ((p[d.pos] == 0 && !(p[d.pos + 1] & 0x80)) ||
                       (p[d.pos] == 0xff && (p[d.pos + 1] & 0x80))))
            return KKDCP_ERR_DER; /* not minimal */
        uint64_t v = (p[d.pos] & 0x80) ? UINT64_MAX : 0;
        for (size_t i = 0; i < il; i++)
            v = (v << 8) | p[d.pos + i];
        out->has_hint = true;
        out->hint = (int64_t)v;
        d.pos = end2;
    }
    if (d.pos != len)
        return KKDCP_ERR_DER;
    return KKDCP_OK;
}

size_t kkdcp_framed_len(const uint8_t hdr[4])
{
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n & 0x80000000u)
        return 0; /* the reserved high bit: never a valid length */
    return 4 + (size_t)n;
}

static int put_header(struct buf *out, uint8_t tag, size_t l)
{
    uint8_t h[5];
    size_t n = 0;
    h[n++] = tag;
    if (l < 0x80) {
        h[n++] = (uint8_t)l;
    } else if (l < 0x100) {
        h[n++] = 0x81;
        h[n++] = (uint8_t)l;
    } else if (l < 0x10000) {
        h[n++] = 0x82;
        h[n++] = (uint8_t)(l >> 8);
        h[n++] = (uint8_t)l;
    } else {
        h[n++] = 0x83;
        h[n++] = (uint8_t)(l >> 16);
        h[n++] = (uint8_t)(l >> 8);
        h[n++] = (uint8_t)l;
    }
    return buf_append(out, h, n);
}

static size_t header_len(size_t l)
{
    return l < 0x80 ? 2 : l < 0x100 ? 3 : l < 0x10000 ? 4 : 5;
}

int kkdcp_encode_reply(const uint8_t *reply, size_t len, struct buf *out)
{
    if (!reply || len < 5 || len > KKDCP_MAX_MESSAGE || kkdcp_framed_len(reply) != len)
        return -1;
    size_t octet = header_len(len) + len;
    size_t ctx0 = header_len(octet) + octet;
    if (put_header(out, 0x30, ctx0) < 0 || put_header(out, 0xA0, octet) < 0 ||
        put_header(out, 0x04, len) < 0 || buf_append(out, reply, len) < 0)
        return -1;
    return 0;
}

const char *kkdcp_strerror(int status)
{
    switch (status) {
    case KKDCP_OK:
        return "ok";
    case KKDCP_ERR_DER:
        return "not a DER KDC-PROXY-MESSAGE";
    case KKDCP_ERR_FRAMING:
        return "kerb-message length prefix does not match";
    case KKDCP_ERR_TOO_BIG:
        return "message too large";
    case KKDCP_ERR_REALM:
        return "bad target-domain";
    default:
        return "error";
    }
}
