/* RFC 6455 server side: accept-key computation and a sans-I/O frame decoder/encoder.
 *
 * The decoder is fed client bytes in pieces of any size; it unmasks binary and continuation frame
 * payloads into a caller-owned buffer (a plain byte stream: frame boundaries do not matter to
 * MS-TSGU) and reports control frames one at a time. */
#ifndef TSGW_WS_H
#define TSGW_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

/* Close status codes used as negative error results (returned as -code). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_TOO_BIG 1009

/* out receives base64(SHA1(key exactly as given + GUID)), NUL-terminated (28 chars + NUL).
 * The key is not validated (FreeRDP 2.11.7 sends 15 non-base64 characters). 0 or -EINVAL
 * (empty key or keylen > 256). */
int ws_accept_key(const char *key, size_t keylen, char out[29]);

enum ws_event_type { WS_EV_NONE = 0, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE };

struct ws_event {
    int type;             /* enum ws_event_type */
    uint8_t payload[125]; /* control frame payload (unmasked) */
    size_t len;
    uint16_t close_code; /* WS_EV_CLOSE: status code, 1005 when none was given */
};

struct ws_decoder {
    int state;
    uint8_t hdr[14];
    unsigned hdr_len, hdr_need;
    uint8_t opcode; /* opcode of the frame being read */
    bool fin;
    bool in_message;    /* a fragmented data message is open (continuations expected) */
    uint64_t remaining; /* payload bytes left in the current frame */
    uint64_t msg_bytes; /* bytes of the current data message so far */
    uint8_t mask[4];
    unsigned mask_pos;
    uint64_t max_message; /* cap on one data message (sum of its frames); over -> 1009 */
    struct ws_event ctrl; /* control frame being collected */
};

void ws_decoder_init(struct ws_decoder *d, uint64_t max_message);

/* Feeds len bytes from the client. Data-frame payload is unmasked and appended to data_out.
 * Returns bytes consumed (>= 0). When a control frame completes, the call stops right after it,
 * fills *ev (ev->type != WS_EV_NONE) and returns; call again with the remaining bytes.
 * Errors, returned as a negative close code:
 *   -WS_CLOSE_PROTOCOL: unmasked client frame, reserved bits set, unknown opcode, control frame
 *     with payload > 125 or not FIN, continuation without an open message, new data frame while
 *     a message is open, 64-bit length with the top bit set, non-minimal length encoding is
 *     accepted (clients are lenient there);
 *   -WS_CLOSE_UNSUPPORTED: a text frame (MS-TSGU is binary only);
 *   -WS_CLOSE_TOO_BIG: a data message longer than max_message;
 *   -ENOBUFS (negated errno, distinguishable since errno values < 1000): data_out is full.
 * ev->type is WS_EV_NONE unless a control frame completed in this call. */
ssize_t ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len, struct buf *data_out,
                  struct ws_event *ev);

/* Writes an unmasked, FIN server frame header for a payload of len bytes into out.
 * Returns the header length (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len);

/* Appends a whole unmasked frame (header + payload) to b. 0 or negative errno. */
int ws_put_frame(struct buf *b, uint8_t opcode, const uint8_t *payload, size_t len);

#endif
