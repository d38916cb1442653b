/* MS-TSGU HTTP-transport packet codec.
 *
 * Parsing goes through a bounds-checked cursor: each typed read checks the bytes left first and
 * returns -EINVAL on overrun. Builders append to a struct buf and roll the buffer back to its
 * previous length when any append fails, so a failed builder never leaves half a packet. */
#include "tsgu/tsgu.h"

#include <errno.h>
#include <string.h>

#include "core/utf16.h"

/* ---- bounds-checked cursor ------------------------------------------------------------------ */

struct cursor {
    const uint8_t *p;
    size_t len;
    size_t off;
};

static size_t cur_left(const struct cursor *c)
{
    return c->len - c->off;
}

static int cur_u8(struct cursor *c, uint8_t *v)
{
    if (cur_left(c) < 1)
        return -EINVAL;
    *v = c->p[c->off];
    c->off += 1;
    return 0;
}

static int cur_u16(struct cursor *c, uint16_t *v)
{
    if (cur_left(c) < 2)
        return -EINVAL;
    const uint8_t *q = c->p + c->off;
    *v = (uint16_t)(q[0] | (q[1] << 8));
    c->off += 2;
    return 0;
}

static int cur_u32(struct cursor *c, uint32_t *v)
{
    if (cur_left(c) < 4)
        return -EINVAL;
    const uint8_t *q = c->p + c->off;
    *v = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
    c->off += 4;
    return 0;
}

static int cur_u64(struct cursor *c, uint64_t *v)
{
    uint32_t lo = 0, hi = 0;
    if (cur_left(c) < 8 || cur_u32(c, &lo) < 0 || cur_u32(c, &hi) < 0)
        return -EINVAL;
    *v = ((uint64_t)hi << 32) | lo;
    return 0;
}

static int cur_bytes(struct cursor *c, size_t n, const uint8_t **out)
{
    if (cur_left(c) < n)
        return -EINVAL;
    *out = c->p + c->off;
    c->off += n;
    return 0;
}

/* HTTP_byte_BLOB: u16 cbLen + bytes. */
static int cur_blob(struct cursor *c, const uint8_t **data, uint16_t *n)
{
    uint16_t cb;
    if (cur_u16(c, &cb) < 0 || cur_bytes(c, cb, data) < 0)
        return -EINVAL;
    *n = cb;
    return 0;
}

/* HTTP_UNICODE_STRING: u16 cbLen (bytes, even) + UTF-16LE, converted to UTF-8 in out[outsz].
 * max_cb caps cbLen. */
static int cur_string(struct cursor *c, size_t max_cb, char *out, size_t outsz)
{
    const uint8_t *s;
    uint16_t cb;
    if (cur_blob(c, &s, &cb) < 0 || cb % 2 || cb > max_cb)
        return -EINVAL;
    return utf16le_to_utf8(s, cb, out, outsz) < 0 ? -EINVAL : 0;
}

/* ---- parsing -------------------------------------------------------------------------------- */

int tsgu_peek(const uint8_t *p, size_t len, uint32_t max_len, uint16_t *type, uint32_t *length)
{
    if (len < TSGU_HDR_LEN)
        return 0;
    struct cursor c = {p, len, 0};
    uint16_t t = 0, rsv = 0;
    uint32_t l = 0;
    if (cur_u16(&c, &t) < 0 || cur_u16(&c, &rsv) < 0 || cur_u32(&c, &l) < 0)
        return 0;
    if (l < TSGU_HDR_LEN || l > max_len)
        return -EINVAL;
    if (type)
        *type = t;
    if (length)
        *length = l;
    return 1;
}

static int parse_handshake(struct cursor *c, struct tsgu_handshake_request *h)
{
    if (cur_u8(c, &h->ver_major) < 0 || cur_u8(c, &h->ver_minor) < 0 ||
        cur_u16(c, &h->client_version) < 0 || cur_u16(c, &h->ext_auth) < 0)
        return -EINVAL;
    return 0;
}

static int parse_tunnel_create(struct cursor *c, struct tsgu_tunnel_create *t)
{
    uint16_t rsv;
    t->reauth_ctx = 0;
    t->paa_cookie = NULL;
    t->paa_cookie_len = 0;
    if (cur_u32(c, &t->caps) < 0 || cur_u16(c, &t->fields) < 0 || cur_u16(c, &rsv) < 0)
        return -EINVAL;
    /* Optional fields follow in structure order: reauth context first, then the cookie. */
    if ((t->fields & TSGU_TUNNEL_CREATE_REAUTH) && cur_u64(c, &t->reauth_ctx) < 0)
        return -EINVAL;
    if ((t->fields & TSGU_TUNNEL_CREATE_PAA_COOKIE) &&
        cur_blob(c, &t->paa_cookie, &t->paa_cookie_len) < 0)
        return -EINVAL;
    return 0;
}

static int parse_tunnel_auth(struct cursor *c, struct tsgu_tunnel_auth *a)
{
    a->client_name[0] = 0;
    a->soh = NULL;
    a->soh_len = 0;
    if (cur_u16(c, &a->fields) < 0 ||
        cur_string(c, TSGU_MAX_CLIENT_NAME_BYTES, a->client_name, sizeof a->client_name) < 0)
        return -EINVAL;
    if ((a->fields & TSGU_TUNNEL_AUTH_SOH) && cur_blob(c, &a->soh, &a->soh_len) < 0)
        return -EINVAL;
    return 0;
}

static int parse_channel_create(struct cursor *c, struct tsgu_channel_create *ch)
{
    ch->num_resources = ch->num_alt = 0;
    ch->port = ch->protocol = 0;
    uint8_t nres, nalt;
    if (cur_u8(c, &nres) < 0 || cur_u8(c, &nalt) < 0 || cur_u16(c, &ch->port) < 0 ||
        cur_u16(c, &ch->protocol) < 0)
        return -EINVAL;
    if (nres == 0 || nres > TSGU_MAX_RESOURCES || nalt > TSGU_MAX_ALT_RESOURCES)
        return -EINVAL;
    unsigned total = (unsigned)nres + nalt;
    for (unsigned i = 0; i < total; i++) {
        if (cur_string(c, UINT16_MAX, ch->resources[i], sizeof ch->resources[i]) < 0)
            return -EINVAL;
    }
    ch->num_resources = nres;
    ch->num_alt = nalt;
    return 0;
}

int tsgu_parse(const uint8_t *p, size_t len, struct tsgu_packet *out)
{
    struct cursor c = {p, len, 0};
    uint16_t type, rsv;
    uint32_t plen;
    if (!out || (!p && len) || cur_u16(&c, &type) < 0 || cur_u16(&c, &rsv) < 0 ||
        cur_u32(&c, &plen) < 0)
        return -EINVAL;
    if (plen != len)
        return -EINVAL;
    out->type = type;
    out->length = plen;

    switch (type) {
    case TSGU_PKT_HANDSHAKE_REQUEST:
        return parse_handshake(&c, &out->u.handshake);
    case TSGU_PKT_TUNNEL_CREATE:
        return parse_tunnel_create(&c, &out->u.tunnel_create);
    case TSGU_PKT_TUNNEL_AUTH:
        return parse_tunnel_auth(&c, &out->u.tunnel_auth);
    case TSGU_PKT_CHANNEL_CREATE:
        return parse_channel_create(&c, &out->u.channel_create);
    case TSGU_PKT_DATA: {
        uint16_t cb;
        if (cur_u16(&c, &cb) < 0 || len != (size_t)10 + cb)
            return -EINVAL;
        out->u.data.data = p + 10;
        out->u.data.len = cb;
        return 0;
    }
    case TSGU_PKT_CLOSE_CHANNEL:
    case TSGU_PKT_CLOSE_CHANNEL_RESPONSE:
        return cur_u32(&c, &out->u.status);
    default:
        /* KEEPALIVE (header only), server->client and unknown types: header only. */
        return 0;
    }
}

/* ---- builders ------------------------------------------------------------------------------- */

/* Undoes a partially written packet: the buffer keeps its old length (compaction inside
 * buf_reserve preserves the data, so a length measured from start stays valid). */
static int rollback(struct buf *b, size_t mark, int r)
{
    b->end = b->start + mark;
    return r;
}

static int put_hdr(struct buf *b, uint16_t type, uint32_t length)
{
    int r = buf_put_u16le(b, type);
    if (r == 0)
        r = buf_put_u16le(b, 0);
    if (r == 0)
        r = buf_put_u32le(b, length);
    return r;
}

/* Rewrites the packetLength of the packet that starts mark bytes into b. */
static int patch_length(struct buf *b, size_t mark)
{
    size_t n = buf_len(b) - mark;
    if (n > UINT32_MAX)
        return -EINVAL;
    uint8_t *q = buf_data(b) + mark + 4;
    q[0] = (uint8_t)n;
    q[1] = (uint8_t)(n >> 8);
    q[2] = (uint8_t)(n >> 16);
    q[3] = (uint8_t)(n >> 24);
    return 0;
}

/* HTTP_UNICODE_STRING of a UTF-8 string, with the UTF-16 NUL included in cbLen. */
static int put_unicode_string(struct buf *b, const char *s)
{
    size_t at = buf_len(b);
    int r = buf_put_u16le(b, 0);
    if (r == 0)
        r = utf8_to_utf16le(b, s);
    if (r == 0)
        r = buf_put_u16le(b, 0);
    if (r < 0)
        return r;
    size_t cb = buf_len(b) - at - 2;
    if (cb > UINT16_MAX)
        return -EINVAL;
    uint8_t *q = buf_data(b) + at;
    q[0] = (uint8_t)cb;
    q[1] = (uint8_t)(cb >> 8);
    return 0;
}

int tsgu_put_handshake_response(struct buf *b, uint32_t error_code, uint8_t ver_major,
                                uint8_t ver_minor, uint16_t ext_auth)
{
    size_t mark = buf_len(b);
    int r = buf_reserve(b, 18);
    if (r == 0)
        r = put_hdr(b, TSGU_PKT_HANDSHAKE_RESPONSE, 18);
    if (r == 0)
        r = buf_put_u32le(b, error_code);
    if (r == 0)
        r = buf_put_u8(b, ver_major);
    if (r == 0)
        r = buf_put_u8(b, ver_minor);
    if (r == 0)
        r = buf_put_u16le(b, 0); /* serverVersion */
    if (r == 0)
        r = buf_put_u16le(b, ext_auth);
    return r < 0 ? rollback(b, mark, r) : 0;
}

/* fieldsPresent written: TUNNEL_ID and CAPS as requested by fields, CONSENT_MSG exactly when
 * consent_utf8 is non-NULL; SOH_REQ and unknown bits are never written. */
int tsgu_put_tunnel_response(struct buf *b, uint32_t status, uint16_t fields, uint32_t tunnel_id,
                             uint32_t caps, const char *consent_utf8)
{
    uint16_t f = fields & (TSGU_TUNNEL_RESP_TUNNEL_ID | TSGU_TUNNEL_RESP_CAPS);
    if (consent_utf8)
        f |= TSGU_TUNNEL_RESP_CONSENT_MSG;
    size_t mark = buf_len(b);
    int r = put_hdr(b, TSGU_PKT_TUNNEL_RESPONSE, 0);
    if (r == 0)
        r = buf_put_u16le(b, 0); /* serverVersion */
    if (r == 0)
        r = buf_put_u32le(b, status);
    if (r == 0)
        r = buf_put_u16le(b, f);
    if (r == 0)
        r = buf_put_u16le(b, 0); /* reserved */
    if (r == 0 && (f & TSGU_TUNNEL_RESP_TUNNEL_ID))
        r = buf_put_u32le(b, tunnel_id);
    if (r == 0 && (f & TSGU_TUNNEL_RESP_CAPS))
        r = buf_put_u32le(b, caps);
    if (r == 0 && consent_utf8)
        r = put_unicode_string(b, consent_utf8);
    if (r == 0)
        r = patch_length(b, mark);
    return r < 0 ? rollback(b, mark, r) : 0;
}

/* Only REDIR_FLAGS and IDLE_TIMEOUT can be written (no SoH response blob). */
int tsgu_put_tunnel_auth_response(struct buf *b, uint32_t error_code, uint16_t fields,
                                  uint32_t redir_flags, uint32_t idle_timeout_min)
{
    uint16_t f = fields & (TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS | TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT);
    uint32_t len = 16 + ((f & TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS) ? 4 : 0) +
                   ((f & TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT) ? 4 : 0);
    size_t mark = buf_len(b);
    int r = buf_reserve(b, len);
    if (r == 0)
        r = put_hdr(b, TSGU_PKT_TUNNEL_AUTH_RESPONSE, len);
    if (r == 0)
        r = buf_put_u32le(b, error_code);
    if (r == 0)
        r = buf_put_u16le(b, f);
    if (r == 0)
        r = buf_put_u16le(b, 0); /* reserved */
    if (r == 0 && (f & TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS))
        r = buf_put_u32le(b, redir_flags);
    if (r == 0 && (f & TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT))
        r = buf_put_u32le(b, idle_timeout_min);
    return r < 0 ? rollback(b, mark, r) : 0;
}

/* Only CHANNEL_ID can be written (no UDP port or authn cookie). */
int tsgu_put_channel_response(struct buf *b, uint32_t error_code, uint16_t fields,
                              uint32_t channel_id)
{
    uint16_t f = fields & TSGU_CHANNEL_RESP_CHANNEL_ID;
    uint32_t len = 16 + (f ? 4 : 0);
    size_t mark = buf_len(b);
    int r = buf_reserve(b, len);
    if (r == 0)
        r = put_hdr(b, TSGU_PKT_CHANNEL_RESPONSE, len);
    if (r == 0)
        r = buf_put_u32le(b, error_code);
    if (r == 0)
        r = buf_put_u16le(b, f);
    if (r == 0)
        r = buf_put_u16le(b, 0); /* reserved */
    if (r == 0 && f)
        r = buf_put_u32le(b, channel_id);
    return r < 0 ? rollback(b, mark, r) : 0;
}

void tsgu_data_header(uint8_t out[10], uint16_t len)
{
    uint32_t plen = 10u + len;
    out[0] = TSGU_PKT_DATA;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    out[4] = (uint8_t)plen;
    out[5] = (uint8_t)(plen >> 8);
    out[6] = (uint8_t)(plen >> 16);
    out[7] = (uint8_t)(plen >> 24);
    out[8] = (uint8_t)len;
    out[9] = (uint8_t)(len >> 8);
}

int tsgu_put_data(struct buf *b, const uint8_t *data, size_t len)
{
    if (len > TSGU_MAX_DATA || (len && !data))
        return -EINVAL;
    int r = buf_reserve(b, 10 + len);
    if (r < 0)
        return r;
    tsgu_data_header(buf_tail(b), (uint16_t)len);
    if (len)
        memcpy(buf_tail(b) + 10, data, len);
    buf_commit(b, 10 + len);
    return 0;
}

int tsgu_put_keepalive(struct buf *b)
{
    size_t mark = buf_len(b);
    int r = put_hdr(b, TSGU_PKT_KEEPALIVE, TSGU_HDR_LEN);
    return r < 0 ? rollback(b, mark, r) : 0;
}

static int put_status_packet(struct buf *b, uint16_t type, uint32_t status)
{
    size_t mark = buf_len(b);
    int r = buf_reserve(b, 12);
    if (r == 0)
        r = put_hdr(b, type, 12);
    if (r == 0)
        r = buf_put_u32le(b, status);
    return r < 0 ? rollback(b, mark, r) : 0;
}

int tsgu_put_close_channel(struct buf *b, uint32_t status)
{
    return put_status_packet(b, TSGU_PKT_CLOSE_CHANNEL, status);
}

int tsgu_put_close_channel_response(struct buf *b, uint32_t status)
{
    return put_status_packet(b, TSGU_PKT_CLOSE_CHANNEL_RESPONSE, status);
}

int tsgu_put_service_message(struct buf *b, const char *msg_utf8)
{
    if (!msg_utf8)
        return -EINVAL;
    size_t mark = buf_len(b);
    int r = put_hdr(b, TSGU_PKT_SERVICE_MESSAGE, 0);
    if (r == 0)
        r = put_unicode_string(b, msg_utf8);
    if (r == 0)
        r = patch_length(b, mark);
    return r < 0 ? rollback(b, mark, r) : 0;
}

int tsgu_put_reauth_message(struct buf *b, uint64_t reauth_ctx)
{
    size_t mark = buf_len(b);
    int r = buf_reserve(b, 16);
    if (r == 0)
        r = put_hdr(b, TSGU_PKT_REAUTH_MESSAGE, 16);
    if (r == 0)
        r = buf_put_u64le(b, reauth_ctx);
    return r < 0 ? rollback(b, mark, r) : 0;
}

/* ---- names ---------------------------------------------------------------------------------- */

const char *tsgu_type_name(uint16_t type)
{
    switch (type) {
    case TSGU_PKT_HANDSHAKE_REQUEST:
        return "HANDSHAKE_REQUEST";
    case TSGU_PKT_HANDSHAKE_RESPONSE:
        return "HANDSHAKE_RESPONSE";
    case TSGU_PKT_EXTENDED_AUTH_MSG:
        return "EXTENDED_AUTH_MSG";
    case TSGU_PKT_TUNNEL_CREATE:
        return "TUNNEL_CREATE";
    case TSGU_PKT_TUNNEL_RESPONSE:
        return "TUNNEL_RESPONSE";
    case TSGU_PKT_TUNNEL_AUTH:
        return "TUNNEL_AUTH";
    case TSGU_PKT_TUNNEL_AUTH_RESPONSE:
        return "TUNNEL_AUTH_RESPONSE";
    case TSGU_PKT_CHANNEL_CREATE:
        return "CHANNEL_CREATE";
    case TSGU_PKT_CHANNEL_RESPONSE:
        return "CHANNEL_RESPONSE";
    case TSGU_PKT_DATA:
        return "DATA";
    case TSGU_PKT_SERVICE_MESSAGE:
        return "SERVICE_MESSAGE";
    case TSGU_PKT_REAUTH_MESSAGE:
        return "REAUTH_MESSAGE";
    case TSGU_PKT_KEEPALIVE:
        return "KEEPALIVE";
    case TSGU_PKT_CLOSE_CHANNEL:
        return "CLOSE_CHANNEL";
    case TSGU_PKT_CLOSE_CHANNEL_RESPONSE:
        return "CLOSE_CHANNEL_RESPONSE";
    default:
        return "UNKNOWN";
    }
}

const char *tsgu_hresult_name(uint32_t hr)
{
    switch (hr) {
    case TSGU_S_OK:
        return "S_OK";
    case TSGU_E_PROXY_INTERNALERROR:
        return "E_PROXY_INTERNALERROR";
    case TSGU_E_PROXY_RAP_ACCESSDENIED:
        return "E_PROXY_RAP_ACCESSDENIED";
    case TSGU_E_PROXY_NAP_ACCESSDENIED:
        return "E_PROXY_NAP_ACCESSDENIED";
    case TSGU_E_PROXY_TS_CONNECTFAILED:
        return "E_PROXY_TS_CONNECTFAILED";
    case TSGU_E_PROXY_ALREADYDISCONNECTED:
        return "E_PROXY_ALREADYDISCONNECTED";
    case TSGU_E_PROXY_MAXCONNECTIONSREACHED:
        return "E_PROXY_MAXCONNECTIONSREACHED";
    case TSGU_E_PROXY_NOTSUPPORTED:
        return "E_PROXY_NOTSUPPORTED";
    case TSGU_E_PROXY_CAPABILITYMISMATCH:
        return "E_PROXY_CAPABILITYMISMATCH";
    case TSGU_E_PROXY_COOKIE_BADPACKET:
        return "E_PROXY_COOKIE_BADPACKET";
    case TSGU_E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED:
        return "E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED";
    case TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD:
        return "E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD";
    case TSGU_E_PROXY_SESSIONTIMEOUT:
        return "E_PROXY_SESSIONTIMEOUT";
    case TSGU_E_ACCESS_DENIED:
        return "E_ACCESS_DENIED";
    /* HRESULT_CODE short forms used in CLOSE_CHANNEL */
    case TSGU_CLOSE_CONNECTIONABORTED:
        return "E_PROXY_CONNECTIONABORTED";
    case TSGU_CLOSE_GRACEFUL:
        return "ERROR_GRACEFUL_DISCONNECT";
    case TSGU_CLOSE_BAD_ARGUMENTS:
        return "ERROR_BAD_ARGUMENTS";
    case TSGU_CLOSE_OPERATION_ABORTED:
        return "ERROR_OPERATION_ABORTED";
    case TSGU_CLOSE_SESSIONTIMEOUT:
        return "E_PROXY_SESSIONTIMEOUT";
    case TSGU_CLOSE_INTERNALERROR:
        return "E_PROXY_INTERNALERROR";
    default:
        return NULL;
    }
}
