/* MS-TSGU HTTP-transport packet codec (pure: bytes in, structs out; structs in, bytes out).
 *
 * Layouts follow [MS-TSGU] 2.2.10 with FreeRDP 2.11.7's observed behaviour (see
 * docs/internals.md and the MS-TSGU digest in shared/spec). Every read goes through a
 * bounds-checked cursor; nothing casts packed structs onto wire bytes. All integers are
 * little-endian. */
#ifndef TSGW_TSGU_H
#define TSGW_TSGU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TSGU_HDR_LEN 8

enum tsgu_pkt_type {
    TSGU_PKT_HANDSHAKE_REQUEST = 0x01,
    TSGU_PKT_HANDSHAKE_RESPONSE = 0x02,
    TSGU_PKT_EXTENDED_AUTH_MSG = 0x03,
    TSGU_PKT_TUNNEL_CREATE = 0x04,
    TSGU_PKT_TUNNEL_RESPONSE = 0x05,
    TSGU_PKT_TUNNEL_AUTH = 0x06,
    TSGU_PKT_TUNNEL_AUTH_RESPONSE = 0x07,
    TSGU_PKT_CHANNEL_CREATE = 0x08,
    TSGU_PKT_CHANNEL_RESPONSE = 0x09,
    TSGU_PKT_DATA = 0x0A,
    TSGU_PKT_SERVICE_MESSAGE = 0x0B,
    TSGU_PKT_REAUTH_MESSAGE = 0x0C,
    TSGU_PKT_KEEPALIVE = 0x0D,
    TSGU_PKT_CLOSE_CHANNEL = 0x10,
    TSGU_PKT_CLOSE_CHANNEL_RESPONSE = 0x11,
};

/* HTTP_EXTENDED_AUTH */
#define TSGU_EXTAUTH_NONE 0x0
#define TSGU_EXTAUTH_SC 0x1
#define TSGU_EXTAUTH_PAA 0x2
#define TSGU_EXTAUTH_SSPI_NTLM 0x4

/* HTTP_CAPABILITY_TYPE */
#define TSGU_CAP_QUAR_SOH 0x01
#define TSGU_CAP_IDLE_TIMEOUT 0x02
#define TSGU_CAP_CONSENT_SIGN 0x04
#define TSGU_CAP_SERVICE_MSG 0x08
#define TSGU_CAP_REAUTH 0x10
#define TSGU_CAP_UDP_TRANSPORT 0x20

/* fieldsPresent bits */
#define TSGU_TUNNEL_CREATE_PAA_COOKIE 0x1
#define TSGU_TUNNEL_CREATE_REAUTH 0x2
#define TSGU_TUNNEL_RESP_TUNNEL_ID 0x01
#define TSGU_TUNNEL_RESP_CAPS 0x02
#define TSGU_TUNNEL_RESP_SOH_REQ 0x04
#define TSGU_TUNNEL_RESP_CONSENT_MSG 0x10
#define TSGU_TUNNEL_AUTH_SOH 0x1
#define TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS 0x1
#define TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT 0x2
#define TSGU_TUNNEL_AUTH_RESP_SOH_RESPONSE 0x4
#define TSGU_CHANNEL_RESP_CHANNEL_ID 0x1
#define TSGU_CHANNEL_RESP_AUTHN_COOKIE 0x2
#define TSGU_CHANNEL_RESP_UDP_PORT 0x4

/* HTTP_TUNNEL_REDIR_FLAGS */
#define TSGU_REDIR_ENABLE_ALL 0x80000000u
#define TSGU_REDIR_DISABLE_ALL 0x40000000u
#define TSGU_REDIR_DISABLE_DRIVE 0x01u
#define TSGU_REDIR_DISABLE_PRINTER 0x02u
#define TSGU_REDIR_DISABLE_PORT 0x04u
#define TSGU_REDIR_DISABLE_CLIPBOARD 0x08u
#define TSGU_REDIR_DISABLE_PNP 0x10u

/* HRESULTs (full form, sign bit set, for setup responses) */
#define TSGU_S_OK 0x00000000u
#define TSGU_E_PROXY_INTERNALERROR 0x800759D8u
#define TSGU_E_PROXY_RAP_ACCESSDENIED 0x800759DAu
#define TSGU_E_PROXY_NAP_ACCESSDENIED 0x800759DBu
#define TSGU_E_PROXY_TS_CONNECTFAILED 0x800759DDu
#define TSGU_E_PROXY_ALREADYDISCONNECTED 0x800759DFu
#define TSGU_E_PROXY_MAXCONNECTIONSREACHED 0x800759E6u
#define TSGU_E_PROXY_NOTSUPPORTED 0x800759E8u
#define TSGU_E_PROXY_CAPABILITYMISMATCH 0x800759E9u
#define TSGU_E_PROXY_COOKIE_BADPACKET 0x800759F7u
#define TSGU_E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED 0x800759F8u
#define TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD 0x800759F9u
#define TSGU_E_PROXY_SESSIONTIMEOUT 0x800759F6u
#define TSGU_E_ACCESS_DENIED 0x80070005u
/* Short forms (HRESULT_CODE) used in CLOSE_CHANNEL */
#define TSGU_CLOSE_CONNECTIONABORTED 0x000004D4u
#define TSGU_CLOSE_GRACEFUL 0x000004CAu
#define TSGU_CLOSE_BAD_ARGUMENTS 0x000000A0u
#define TSGU_CLOSE_OPERATION_ABORTED 0x000003E3u
#define TSGU_CLOSE_SESSIONTIMEOUT 0x000059F6u
#define TSGU_CLOSE_INTERNALERROR 0x000059D8u

/* Protocol limits */
#define TSGU_MAX_RESOURCES 50
#define TSGU_MAX_ALT_RESOURCES 3
#define TSGU_MAX_NAME_UTF8 256 /* one resource / client name after UTF-8 conversion */
#define TSGU_MAX_CLIENT_NAME_BYTES 513
#define TSGU_MAX_DATA 65535

/* Parsed packets. String fields are converted to NUL-terminated UTF-8 (trailing UTF-16 NUL
 * stripped). Pointer fields point into the caller's packet bytes. */
struct tsgu_handshake_request {
    uint8_t ver_major, ver_minor;
    uint16_t client_version;
    uint16_t ext_auth;
};

struct tsgu_tunnel_create {
    uint32_t caps;
    uint16_t fields;
    uint64_t reauth_ctx;       /* valid if fields & TSGU_TUNNEL_CREATE_REAUTH */
    const uint8_t *paa_cookie; /* valid if fields & TSGU_TUNNEL_CREATE_PAA_COOKIE */
    uint16_t paa_cookie_len;
};

struct tsgu_tunnel_auth {
    uint16_t fields;
    char client_name[TSGU_MAX_NAME_UTF8];
    const uint8_t *soh; /* statement of health blob, if fields & TSGU_TUNNEL_AUTH_SOH */
    uint16_t soh_len;
};

struct tsgu_channel_create {
    uint8_t num_resources;
    uint8_t num_alt;
    uint16_t port;
    uint16_t protocol;
    char resources[TSGU_MAX_RESOURCES + TSGU_MAX_ALT_RESOURCES][TSGU_MAX_NAME_UTF8];
    /* resources[0..num_resources-1] then alternates at [num_resources..num_resources+num_alt-1] */
};

struct tsgu_packet {
    uint16_t type;
    uint32_t length; /* packetLength from the header */
    union {
        struct tsgu_handshake_request handshake;
        struct tsgu_tunnel_create tunnel_create;
        struct tsgu_tunnel_auth tunnel_auth;
        struct tsgu_channel_create channel_create;
        struct {
            const uint8_t *data;
            uint16_t len;
        } data;          /* DATA */
        uint32_t status; /* CLOSE_CHANNEL, CLOSE_CHANNEL_RESPONSE */
    } u;
};

/* Looks at the start of a byte stream. Returns 0 when fewer than 8 bytes are available,
 * 1 with *type and *length (whole packet incl. header) when a header is present, or -EINVAL when
 * packetLength < 8 or > max_len (the caller's cap; a smaller cap applies before authentication). */
int tsgu_peek(const uint8_t *p, size_t len, uint32_t max_len, uint16_t *type, uint32_t *length);

/* Parses one whole client->server packet of exactly len bytes (len == packetLength).
 * Returns 0, or -EINVAL for a malformed packet: truncated fixed part, a length field that
 * disagrees with the packet, a string with odd length or invalid UTF-16, counts over the limits
 * above (numResources 0 or > 50, numAlt > 3), DATA with packetLength != 10 + cbDataLen,
 * CLOSE_CHANNEL(_RESPONSE) shorter than 12 bytes. Unknown types and server->client types parse
 * as just the header (type and length set) and return 0: the state machine rejects them.
 * Trailing bytes after the declared fields of a control packet are ignored. */
int tsgu_parse(const uint8_t *p, size_t len, struct tsgu_packet *out);

/* Builders: append one complete server->client packet to b. Return 0 or a negative errno. */
int tsgu_put_handshake_response(struct buf *b, uint32_t error_code, uint8_t ver_major,
                                uint8_t ver_minor, uint16_t ext_auth);
/* consent_utf8 may be NULL (no consent field). Never emits the SOH_REQ field. */
int tsgu_put_tunnel_response(struct buf *b, uint32_t status, uint16_t fields, uint32_t tunnel_id,
                             uint32_t caps, const char *consent_utf8);
int tsgu_put_tunnel_auth_response(struct buf *b, uint32_t error_code, uint16_t fields,
                                  uint32_t redir_flags, uint32_t idle_timeout_min);
int tsgu_put_channel_response(struct buf *b, uint32_t error_code, uint16_t fields,
                              uint32_t channel_id);
/* len <= TSGU_MAX_DATA; packetLength is exactly 10 + len. */
int tsgu_put_data(struct buf *b, const uint8_t *data, size_t len);
/* Writes only the 10-byte DATA header for a payload of len bytes (the caller appends payload). */
void tsgu_data_header(uint8_t out[10], uint16_t len);
int tsgu_put_keepalive(struct buf *b);
/* Always the full 12 bytes. */
int tsgu_put_close_channel(struct buf *b, uint32_t status);
int tsgu_put_close_channel_response(struct buf *b, uint32_t status);
/* Message with its UTF-16 NUL (cbMessageLen >= 2 always). */
int tsgu_put_service_message(struct buf *b, const char *msg_utf8);
int tsgu_put_reauth_message(struct buf *b, uint64_t reauth_ctx);

/* Name of a packet type for logs ("TUNNEL_CREATE"), or "UNKNOWN". */
const char *tsgu_type_name(uint16_t type);

/* Name of an HRESULT constant above ("E_PROXY_RAP_ACCESSDENIED"), or NULL. */
const char *tsgu_hresult_name(uint32_t hr);

#endif
