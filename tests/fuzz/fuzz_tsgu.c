/* libFuzzer target for the MS-TSGU codec.
 *
 * The input is a client byte stream: it is split into packets with tsgu_peek and each packet is
 * parsed from an exact-size copy (so any over-read hits the sanitizer). Accepted packets are
 * checked for internal consistency, and re-encoded where a builder exists. The input is also
 * used as a UTF-8 message for the string builders, whose output must decode back to it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf16.h"
#include "tsgu/tsgu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PKT (TSGU_MAX_DATA + 10)

static uint32_t rd32(const uint8_t *q)
{
    return (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
}

static void check_in(const uint8_t *base, size_t len, const uint8_t *p, size_t n)
{
    if (n && (p < base || p > base + len || n > (size_t)(base + len - p)))
        abort();
}

static void check_str(const char *s, size_t cap)
{
    if (!memchr(s, 0, cap))
        abort();
}

static void check_packet(const uint8_t *p, size_t len, const struct tsgu_packet *pkt)
{
    if (pkt->length != len || len < TSGU_HDR_LEN)
        abort();
    struct buf b = BUF_INIT;
    struct tsgu_packet *q = NULL;
    switch (pkt->type) {
    case TSGU_PKT_HANDSHAKE_REQUEST:
        if (len < 14)
            abort();
        break;
    case TSGU_PKT_TUNNEL_CREATE: {
        const struct tsgu_tunnel_create *t = &pkt->u.tunnel_create;
        if (len < 16)
            abort();
        if (t->fields & TSGU_TUNNEL_CREATE_PAA_COOKIE)
            check_in(p, len, t->paa_cookie, t->paa_cookie_len);
        else if (t->paa_cookie || t->paa_cookie_len)
            abort();
        break;
    }
    case TSGU_PKT_TUNNEL_AUTH: {
        const struct tsgu_tunnel_auth *a = &pkt->u.tunnel_auth;
        check_str(a->client_name, sizeof a->client_name);
        if (a->fields & TSGU_TUNNEL_AUTH_SOH)
            check_in(p, len, a->soh, a->soh_len);
        break;
    }
    case TSGU_PKT_CHANNEL_CREATE: {
        const struct tsgu_channel_create *c = &pkt->u.channel_create;
        if (c->num_resources < 1 || c->num_resources > TSGU_MAX_RESOURCES ||
            c->num_alt > TSGU_MAX_ALT_RESOURCES)
            abort();
        for (unsigned i = 0; i < (unsigned)c->num_resources + c->num_alt; i++)
            check_str(c->resources[i], sizeof c->resources[i]);
        break;
    }
    case TSGU_PKT_DATA:
        if ((size_t)pkt->u.data.len + 10 != len || pkt->u.data.data != p + 10)
            abort();
        /* re-encode: identical except the reserved header field */
        if (tsgu_put_data(&b, pkt->u.data.data, pkt->u.data.len) != 0 || buf_len(&b) != len ||
            memcmp(buf_data(&b), p, 2) != 0 || memcmp(buf_data(&b) + 4, p + 4, len - 4) != 0)
            abort();
        break;
    case TSGU_PKT_CLOSE_CHANNEL:
    case TSGU_PKT_CLOSE_CHANNEL_RESPONSE:
        if (len < 12 || pkt->u.status != rd32(p + 8))
            abort();
        q = malloc(sizeof *q);
        if (!q)
            abort();
        if ((pkt->type == TSGU_PKT_CLOSE_CHANNEL
                 ? tsgu_put_close_channel(&b, pkt->u.status)
                 : tsgu_put_close_channel_response(&b, pkt->u.status)) != 0 ||
            buf_len(&b) != 12 || tsgu_parse(buf_data(&b), buf_len(&b), q) != 0 ||
            q->type != pkt->type || q->u.status != pkt->u.status)
            abort();
        break;
    default:
        break;
    }
    if (!tsgu_type_name(pkt->type))
        abort();
    free(q);
    buf_free(&b);
}

/* The input as a message string: builders either refuse it (invalid UTF-8) or encode it so that
 * it decodes back unchanged, NUL included in the count. */
static void check_string_builders(const uint8_t *data, size_t size)
{
    size_t n = size < 300 ? size : 300;
    char msg[301];
    memcpy(msg, data, n);
    msg[n] = 0;
    size_t slen = strlen(msg);

    struct buf b = BUF_INIT;
    char back[1300];
    int r = tsgu_put_service_message(&b, msg);
    if (r == 0) {
        const uint8_t *p = buf_data(&b);
        size_t cb = (size_t)(p[8] | (p[9] << 8));
        if (rd32(p + 4) != buf_len(&b) || cb + 10 != buf_len(&b) || cb < 2 || cb % 2 ||
            p[buf_len(&b) - 1] != 0 || p[buf_len(&b) - 2] != 0)
            abort();
        if (utf16le_to_utf8(p + 10, cb, back, sizeof back) != (int)slen || strcmp(back, msg) != 0)
            abort();
    } else if (r != -EINVAL || buf_len(&b) != 0) {
        abort();
    }
    buf_clear(&b);

    r = tsgu_put_tunnel_response(&b, 0, 0x3, 1, 2, msg);
    if (r == 0) {
        const uint8_t *p = buf_data(&b);
        size_t cb = (size_t)(p[26] | (p[27] << 8));
        if (rd32(p + 4) != buf_len(&b) || cb + 28 != buf_len(&b) || p[14] != 0x13)
            abort();
        if (utf16le_to_utf8(p + 28, cb, back, sizeof back) != (int)slen)
            abort();
    } else if (r != -EINVAL || buf_len(&b) != 0) {
        abort();
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsgu_packet *pkt = malloc(sizeof *pkt);
    if (!pkt)
        return 0;
    size_t off = 0;
    while (off < size) {
        uint16_t type;
        uint32_t len;
        int r = tsgu_peek(data + off, size - off, MAX_PKT, &type, &len);
        if (r == 0) {
            if (size - off >= TSGU_HDR_LEN)
                abort();
            break;
        }
        if (r < 0) {
            if (r != -EINVAL)
                abort();
            break;
        }
        if (len < TSGU_HDR_LEN || len > MAX_PKT)
            abort();
        size_t n = len <= size - off ? len : size - off;
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            break;
        memcpy(copy, data + off, n);
        r = tsgu_parse(copy, n, pkt);
        if (n < len) {
            if (r != -EINVAL) /* truncated: packetLength disagrees with the bytes */
                abort();
        } else if (r == 0) {
            if (pkt->type != type)
                abort();
            check_packet(copy, n, pkt);
        } else if (r != -EINVAL) {
            abort();
        }
        free(copy);
        off += n;
    }
    free(pkt);
    check_string_builders(data, size);
    return 0;
}
