/* RFC 6455 server side: accept key, resumable client-frame decoder, server-frame encoder.
 *
 * Decoder notes beyond ws.h:
 * - The decoder is a byte-driven state machine: every header byte is copied into d->hdr, so a
 *   frame may be split anywhere between calls. Errors are found only while a header is read,
 *   as soon as the bytes that show them are present.
 * - Protocol errors are sticky: once ws_decode returned -WS_CLOSE_*, later calls return the same
 *   value without consuming anything. -ENOBUFS / -ENOMEM are not sticky: drain data_out and call
 *   again with the same bytes. When some input was consumed before data_out filled up, the call
 *   returns that count instead, and the next call reports -ENOBUFS.
 * - max_message 0 means no limit (like buf.cap_limit).
 * - A Close frame with a 1-byte body is reported with close_code 1005 (lenient, like FreeRDP). */
#include "websocket/ws.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_GUID_LEN 36
#define WS_MAX_KEY 256

enum { ST_HDR = 0, ST_PAYLOAD = 1 };

int ws_accept_key(const char *key, size_t keylen, char out[29])
{
    if (!key || !out || keylen == 0 || keylen > WS_MAX_KEY)
        return -EINVAL;
    uint8_t in[WS_MAX_KEY + WS_GUID_LEN];
    memcpy(in, key, keylen);
    memcpy(in + keylen, WS_GUID, WS_GUID_LEN);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(in, keylen + WS_GUID_LEN, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -EIO;
    /* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters plus a NUL. */
    if (EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen) != 28)
        return -EIO;
    return 0;
}

void ws_decoder_init(struct ws_decoder *d, uint64_t max_message)
{
    memset(d, 0, sizeof *d);
    d->state = ST_HDR;
    d->hdr_need = 2;
    d->max_message = max_message;
}

static bool is_control(uint8_t op)
{
    return (op & 0x8) != 0;
}

static void reset_header(struct ws_decoder *d)
{
    d->state = ST_HDR;
    d->hdr_len = 0;
    d->hdr_need = 2;
}

static ssize_t fail(struct ws_decoder *d, int code)
{
    d->state = -code; /* sticky: a negative state holds the close code */
    return -(ssize_t)code;
}

/* Checks the first two header bytes and computes the full header length. 0 or a close code. */
static int check_first_two(struct ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
    uint8_t op = b0 & 0x0F;
    bool fin = (b0 & 0x80) != 0;
    unsigned len7 = b1 & 0x7F;

    if (b0 & 0x70)
        return WS_CLOSE_PROTOCOL; /* RSV1-3: no extension negotiated */
    if (!(b1 & 0x80))
        return WS_CLOSE_PROTOCOL; /* client frames must be masked */
    switch (op) {
    case WS_OP_CONT:
        if (!d->in_message)
            return WS_CLOSE_PROTOCOL;
        break;
    case WS_OP_BINARY:
        if (d->in_message)
            return WS_CLOSE_PROTOCOL;
        break;
    case WS_OP_TEXT:
        if (d->in_message)
            return WS_CLOSE_PROTOCOL;
        return WS_CLOSE_UNSUPPORTED;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!fin || len7 > 125)
            return WS_CLOSE_PROTOCOL;
        break;
    default:
        return WS_CLOSE_PROTOCOL;
    }
    d->opcode = op;
    d->fin = fin;
    d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return 0;
}

/* Completes a header: payload length, mask key, message-size check. 0 or a close code. */
static int finish_header(struct ws_decoder *d)
{
    unsigned len7 = d->hdr[1] & 0x7F;
    unsigned pos = 2;
    uint64_t len;
    if (len7 == 126) {
        len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
        pos = 4;
    } else if (len7 == 127) {
        len = 0;
        for (unsigned i = 0; i < 8; i++)
            len = (len << 8) | d->hdr[2 + i];
        if (len >> 63)
            return WS_CLOSE_PROTOCOL;
        pos = 10;
    } else {
        len = len7;
    }
    memcpy(d->mask, d->hdr + pos, 4);
    d->mask_pos = 0;
    d->remaining = len;

    if (is_control(d->opcode)) {
        d->ctrl.type = WS_EV_NONE;
        d->ctrl.len = 0;
        d->ctrl.close_code = 0;
    } else {
        if (d->opcode == WS_OP_BINARY)
            d->msg_bytes = 0;
        if (d->max_message && len > d->max_message - d->msg_bytes)
            return WS_CLOSE_TOO_BIG;
        d->msg_bytes = len > UINT64_MAX - d->msg_bytes ? UINT64_MAX : d->msg_bytes + len;
        d->in_message = true; /* cleared when a FIN frame's payload ends */
    }
    d->state = ST_PAYLOAD;
    return 0;
}

/* Called when the current frame's payload is complete. Returns true when a control event is
 * ready in d->ctrl. */
static bool finish_frame(struct ws_decoder *d)
{
    bool ctrl = is_control(d->opcode);
    if (ctrl) {
        switch (d->opcode) {
        case WS_OP_PING:
            d->ctrl.type = WS_EV_PING;
            break;
        case WS_OP_PONG:
            d->ctrl.type = WS_EV_PONG;
            break;
        default:
            d->ctrl.type = WS_EV_CLOSE;
            d->ctrl.close_code = d->ctrl.len >= 2
                                     ? (uint16_t)((d->ctrl.payload[0] << 8) | d->ctrl.payload[1])
                                     : 1005;
            break;
        }
    } else if (d->fin) {
        d->in_message = false;
        d->msg_bytes = 0;
    }
    reset_header(d);
    return ctrl;
}

static void unmask(struct ws_decoder *d, uint8_t *dst, const uint8_t *src, size_t n)
{
    unsigned m = d->mask_pos;
    size_t i = 0;
    /* byte by byte until the mask is aligned, then 8 bytes at a time (the hot path of every
     * client -> target byte in WebSocket mode) */
    for (; i < n && m != 0; i++, m = (m + 1) & 3)
        dst[i] = src[i] ^ d->mask[m];
    if (n - i >= 8) {
        uint8_t k8[8];
        for (int j = 0; j < 8; j++)
            k8[j] = d->mask[j & 3];
        uint64_t k;
        memcpy(&k, k8, 8);
        for (; n - i >= 8; i += 8) {
            uint64_t v;
            memcpy(&v, src + i, 8);
            v ^= k;
            memcpy(dst + i, &v, 8);
        }
    }
    for (; i < n; i++, m = (m + 1) & 3)
        dst[i] = src[i] ^ d->mask[m];
    d->mask_pos = m;
}

ssize_t ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len, struct buf *data_out,
                  struct ws_event *ev)
{
    struct ws_event dummy;
    if (!ev)
        ev = &dummy;
    ev->type = WS_EV_NONE;
    if (d->state < 0)
        return (ssize_t)d->state;
    if (len > (size_t)SSIZE_MAX)
        len = (size_t)SSIZE_MAX;

    size_t pos = 0;
    for (;;) {
        if (d->state == ST_HDR) {
            while (d->hdr_len < d->hdr_need && pos < len) {
                d->hdr[d->hdr_len++] = in[pos++];
                if (d->hdr_len == 2) {
                    int e = check_first_two(d);
                    if (e)
                        return fail(d, e);
                }
            }
            if (d->hdr_len < d->hdr_need)
                return (ssize_t)pos; /* need more input */
            int e = finish_header(d);
            if (e)
                return fail(d, e);
        }

        /* ST_PAYLOAD */
        if (d->remaining == 0) {
            if (finish_frame(d)) {
                *ev = d->ctrl;
                return (ssize_t)pos;
            }
            continue;
        }
        if (pos == len)
            return (ssize_t)pos;

        size_t n = len - pos;
        if ((uint64_t)n > d->remaining)
            n = (size_t)d->remaining;
        if (is_control(d->opcode)) {
            /* remaining <= 125 - ctrl.len by construction */
            unmask(d, d->ctrl.payload + d->ctrl.len, in + pos, n);
            d->ctrl.len += n;
        } else {
            size_t room = buf_room(data_out);
            if (n > room)
                n = room;
            int r = n ? buf_reserve(data_out, n) : -ENOBUFS;
            if (r < 0)
                return pos > 0 ? (ssize_t)pos : (ssize_t)r;
            unmask(d, buf_tail(data_out), in + pos, n);
            buf_commit(data_out, n);
        }
        pos += n;
        d->remaining -= n;
    }
}

size_t ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (unsigned i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

int ws_put_frame(struct buf *b, uint8_t opcode, const uint8_t *payload, size_t len)
{
    if (opcode > 0x0F || (is_control(opcode) && len > 125) || (len && !payload))
        return -EINVAL;
    uint8_t hdr[10];
    size_t hl = ws_frame_header(hdr, opcode, len);
    if (len > SIZE_MAX - hl)
        return -ENOMEM;
    int r = buf_reserve(b, hl + len);
    if (r < 0)
        return r;
    memcpy(buf_tail(b), hdr, hl);
    if (len)
        memcpy(buf_tail(b) + hl, payload, len);
    buf_commit(b, hl + len);
    return 0;
}
