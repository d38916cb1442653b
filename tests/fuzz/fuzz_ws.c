/* libFuzzer target for the WebSocket frame decoder.
 *
 * Input: byte 0 selects how the rest is fed; bytes 1.. are client frames. The stream is decoded
 * once in a single piece and once in pieces whose sizes come from a generator seeded by byte 0
 * (optionally into a 7-byte output buffer that is drained on -ENOBUFS). Both runs must produce
 * the same data bytes, the same control events and the same final error.
 *   bit 7: max_message 300 (else unlimited); bit 6: small output buffer;
 *   bits 0-4: largest piece - 1. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "websocket/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct buf data;   /* all data bytes produced */
    struct buf events; /* serialized events: type, close_code, len, payload */
    ssize_t err;
};

static void record_event(struct run *r, const struct ws_event *ev)
{
    if (ev->len > sizeof ev->payload)
        abort();
    if (ev->type != WS_EV_PING && ev->type != WS_EV_PONG && ev->type != WS_EV_CLOSE)
        abort();
    if (ev->type == WS_EV_CLOSE && ev->len < 2 && ev->close_code != 1005)
        abort();
    uint8_t h[4] = {(uint8_t)ev->type, (uint8_t)(ev->close_code >> 8), (uint8_t)ev->close_code,
                    (uint8_t)ev->len};
    if (buf_append(&r->events, h, sizeof h) < 0 || buf_append(&r->events, ev->payload, ev->len) < 0)
        abort();
}

static void drain(struct run *r, struct buf *out)
{
    if (buf_len(out) == 0)
        return; /* buf_data() of a never-allocated buf would be NULL + 0 */
    if (buf_append(&r->data, buf_data(out), buf_len(out)) < 0)
        abort();
    buf_clear(out);
}

static void decode(const uint8_t *in, size_t len, uint8_t sel, bool split, struct run *r)
{
    struct ws_decoder d;
    ws_decoder_init(&d, (sel & 0x80) ? 300 : 0);
    struct buf out = BUF_INIT;
    out.cap_limit = (split && (sel & 0x40)) ? 7 : 0;
    uint32_t rng = 0x9E3779B9u ^ sel;
    size_t maxpiece = (size_t)(sel & 0x1F) + 1;
    size_t pos = 0;
    r->err = 0;

    while (pos < len) {
        size_t piece = len - pos;
        if (split) {
            rng = rng * 1103515245u + 12345u;
            size_t p = 1 + (rng >> 16) % maxpiece;
            if (p < piece)
                piece = p;
        }
        size_t off = 0;
        while (off < piece) {
            struct ws_event ev;
            ssize_t n = ws_decode(&d, in + pos + off, piece - off, &out, &ev);
            if (n == -ENOBUFS) {
                if (ev.type != WS_EV_NONE || buf_len(&out) == 0)
                    abort();
                drain(r, &out);
                continue;
            }
            if (n < 0) {
                if (ev.type != WS_EV_NONE)
                    abort();
                if (n != -WS_CLOSE_PROTOCOL && n != -WS_CLOSE_UNSUPPORTED && n != -WS_CLOSE_TOO_BIG)
                    abort();
                /* errors are sticky */
                if (ws_decode(&d, in + pos + off, piece - off, &out, &ev) != n)
                    abort();
                r->err = n;
                goto done;
            }
            if ((size_t)n > piece - off || (n == 0 && ev.type == WS_EV_NONE))
                abort(); /* over-consumption, or no progress at all */
            if (ev.type != WS_EV_NONE)
                record_event(r, &ev);
            else if ((size_t)n != piece - off && buf_room(&out) != 0)
                abort(); /* without an event the call stops early only when out is full */
            off += (size_t)n;
        }
        pos += piece;
    }
done:
    drain(r, &out);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    struct run whole = {BUF_INIT, BUF_INIT, 0};
    struct run split = {BUF_INIT, BUF_INIT, 0};
    decode(in, len, sel, false, &whole);
    decode(in, len, sel, true, &split);

    if (whole.err != split.err || buf_len(&whole.data) != buf_len(&split.data) ||
        buf_len(&whole.events) != buf_len(&split.events))
        abort();
    if (buf_len(&whole.data) &&
        memcmp(buf_data(&whole.data), buf_data(&split.data), buf_len(&whole.data)) != 0)
        abort();
    if (buf_len(&whole.events) &&
        memcmp(buf_data(&whole.events), buf_data(&split.events), buf_len(&whole.events)) != 0)
        abort();

    /* The encoder: a server frame for the produced data has a minimal header. */
    uint8_t h[10];
    size_t hl = ws_frame_header(h, WS_OP_BINARY, buf_len(&whole.data));
    size_t want = buf_len(&whole.data) < 126 ? 2 : buf_len(&whole.data) <= 0xFFFF ? 4 : 10;
    if (hl != want || (h[1] & 0x80))
        abort();

    /* The accept key takes any bytes. */
    char acc[29];
    if (len >= 1 && len <= 256) {
        if (ws_accept_key((const char *)in, len, acc) != 0 || strlen(acc) != 28)
            abort();
    }

    buf_free(&whole.data);
    buf_free(&whole.events);
    buf_free(&split.data);
    buf_free(&split.events);
    return 0;
}
