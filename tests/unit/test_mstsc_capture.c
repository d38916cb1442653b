/* The byte strings of decrypted mstsc captures (Windows 11 22H2 against a Windows RD Gateway,
 * ../shared/spec/windows-clients.md section 1, docs/windows-clients.md) as fixtures: the HTTP
 * request of the NTLM downgrade through the HTTP parser, its Sec-WebSocket-Key against the
 * gateway's recorded Sec-WebSocket-Accept, its NEGOTIATE through the NTLM acceptor, every
 * client MS-TSGU packet through the parser (one per masked WebSocket frame, as mstsc sends
 * them), and tsgw's builders against the server packets Windows sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/ntlm.h"
#include "auth/spnego.h"
#include "core/buf.h"
#include "core/util.h"
#include "http/http.h"
#include "tsgu/tsgu.h"
#include "websocket/ws.h"

static const char request[] =
    "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\n"
    "Cache-Control: no-cache\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "Accept: */*\r\n"
    "User-Agent: MS-RDGateway/1.0\r\n"
    "RDG-Connection-Id: {7485D9AA-6564-40F3-8E07-4C1F8D2B84EB}\r\n"
    "RDG-Correlation-Id: {559E3B89-03A5-43E1-AC17-EA48EA8E0000}\r\n"
    "RDG-User-Id: "
    "QQBkAG0AaQBuAGkAcwB0AHIAYQB0AG8AcgBAAGEAZAAuAGkAdAAtAGgAZQBsAHAALgBuAGkAbgBqAGEA\r\n"
    "RDG-Client-AppBuild: Type=OOB; Build=WinBuild Jan 01 2016 10.0.22621.3447;\r\n"
    "RDG-Client-Generation: Win32#10.0=7\r\n"
    "Sec-WebSocket-Key: srcCjMmAoj/W2WePh/JTZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Host: it-help-gw.ad.it-help.ninja\r\n"
    "Authorization: Negotiate TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAF1YAAAADw==\r\n"
    "\r\n";

static const char *const header_order[] = {
    "Cache-Control",
    "Connection",
    "Pragma",
    "Upgrade",
    "Accept",
    "User-Agent",
    "RDG-Connection-Id",
    "RDG-Correlation-Id",
    "RDG-User-Id",
    "RDG-Client-AppBuild",
    "RDG-Client-Generation",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Host",
    "Authorization",
};

static void test_http_request(void **state)
{
    (void)state;
    struct http_limits lim = {.max_request_line = 4096,
                              .max_header_line = 8192,
                              .max_headers = 64,
                              .max_header_bytes = 16384};
    struct http_parser p;
    assert_int_equal(http_parser_init(&p, &lim), 0);
    ssize_t n = http_parser_feed(&p, (const uint8_t *)request, strlen(request));
    assert_int_equal(n, (ssize_t)strlen(request));
    assert_int_equal(p.pstate, HTTP_PARSER_DONE);
    const struct http_request *r = &p.req;
    assert_string_equal(r->method, "RDG_OUT_DATA");
    assert_string_equal(r->target, "/remoteDesktopGateway/");
    assert_int_equal(r->content_length, -1);
    assert_false(r->chunked);
    assert_int_equal(r->nheaders, ARRAY_SIZE(header_order));
    for (size_t i = 0; i < ARRAY_SIZE(header_order); i++)
        assert_string_equal(r->headers[i].name, header_order[i]);
    assert_true(http_header_has_token(http_request_header(r, "Connection"), "upgrade"));
    assert_string_equal(http_request_header(r, "RDG-Connection-Id"),
                        "{7485D9AA-6564-40F3-8E07-4C1F8D2B84EB}");
    /* the Windows gateway's 101 carried this Sec-WebSocket-Accept */
    char accept[29];
    const char *key = http_request_header(r, "Sec-WebSocket-Key");
    assert_int_equal(ws_accept_key(key, strlen(key), accept), 0);
    assert_string_equal(accept, "cgqIy37hKci6vnfCLMpqyMOSmAo=");
    /* the NEGOTIATE: raw NTLM under "Negotiate", not SPNEGO */
    const char *authz = http_request_header(r, "Authorization");
    assert_memory_equal(authz, "Negotiate ", 10);
    uint8_t neg[64];
    int nl = base64_decode(authz + 10, strlen(authz + 10), neg, sizeof neg);
    assert_int_equal(nl, 40);
    assert_false(spnego_looks_like(neg, (size_t)nl));
    uint32_t flags = (uint32_t)neg[12] | (uint32_t)neg[13] << 8 | (uint32_t)neg[14] << 16 |
                     (uint32_t)neg[15] << 24;
    assert_int_equal(flags, 0xe2088297u);
    /* the acceptor answers it with extended session security, not LM_KEY */
    struct ntlm_ctx *c = test_malloc(sizeof *c);
    ntlm_ctx_init(c);
    struct ntlm_server_config cfg = {.nb_domain = "IT-HELP", .nb_computer = "IT-HELP-GW"};
    struct buf ch = BUF_INIT;
    assert_int_equal(ntlm_accept_negotiate(c, &cfg, neg, (size_t)nl, 0x01dab0b0b0b0b0b0ull, 1, &ch),
                     NTLM_OK);
    const uint8_t *m = buf_data(&ch);
    uint32_t cf =
        (uint32_t)m[20] | (uint32_t)m[21] << 8 | (uint32_t)m[22] << 16 | (uint32_t)m[23] << 24;
    assert_true(cf & 0x00080000u);  /* ESS */
    assert_false(cf & 0x00000080u); /* LM_KEY */
    assert_true(cf & 0x00000001u);  /* UNICODE */
    assert_true(cf & 0x00000010u);  /* SIGN, as asked */
    buf_free(&ch);
    ntlm_ctx_clear(c);
    test_free(c);
    http_parser_free(&p);
}

/* ---- MS-TSGU, section 1.2 ---- */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* One client packet as mstsc sends it: a FIN binary frame, masked. */
static void through_ws(const uint8_t *pkt, size_t len, struct buf *stream)
{
    static const uint8_t mask[4] = {0x5a, 0x1c, 0xe3, 0x07};
    uint8_t frame[256];
    size_t k = 0;
    frame[k++] = 0x82;
    assert_true(len < 126);
    frame[k++] = (uint8_t)(0x80 | len);
    memcpy(frame + k, mask, 4);
    k += 4;
    for (size_t i = 0; i < len; i++)
        frame[k++] = pkt[i] ^ mask[i % 4];
    struct ws_decoder d;
    ws_decoder_init(&d, 131072);
    struct ws_event ev;
    assert_int_equal(ws_decode(&d, frame, k, stream, &ev), (ssize_t)k);
    assert_int_equal(ev.type, WS_EV_NONE);
}

static void parse_one(const char *hex, struct tsgu_packet *p, uint8_t *buf, size_t cap)
{
    size_t n = unhex(hex, buf, cap);
    struct buf s = BUF_INIT;
    through_ws(buf, n, &s);
    assert_int_equal(buf_len(&s), n);
    assert_memory_equal(buf_data(&s), buf, n);
    uint16_t type;
    uint32_t len;
    assert_int_equal(tsgu_peek(buf, n, 32768, &type, &len), 1);
    assert_int_equal(len, n);
    assert_int_equal(tsgu_parse(buf, n, p), 0);
    buf_free(&s);
}

static void utf16_hex(const char *s, char *out)
{
    for (; *s; s++, out += 4)
        sprintf(out, "%02x00", (unsigned char)*s);
    strcpy(out, "0000");
}

static void test_client_packets(void **state)
{
    (void)state;
    static uint8_t b[512];
    struct tsgu_packet p;
    parse_one("010000000e000000 0100 0000 0000", &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_HANDSHAKE_REQUEST);
    assert_int_equal(p.u.handshake.ver_major, 1);
    assert_int_equal(p.u.handshake.ext_auth, 0);
    parse_one("0400000010000000 3f000000 0000 0000", &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_TUNNEL_CREATE);
    assert_int_equal(p.u.tunnel_create.caps, 0x3f);
    assert_int_equal(p.u.tunnel_create.fields, 0);
    /* TUNNEL_AUTH: cbClientName 30 counts the NUL */
    char hex[512] = "060000002a000000 0000 1e00 ";
    utf16_hex("IT-HELP-CLIENT", hex + strlen(hex));
    parse_one(hex, &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_TUNNEL_AUTH);
    assert_string_equal(p.u.tunnel_auth.client_name, "IT-HELP-CLIENT");
    /* CHANNEL_CREATE: one resource, no port in the name, 3389, RDP, cb 0x3c with the NUL */
    strcpy(hex, "080000004c000000 01 00 3d0d 0300 3c00 ");
    utf16_hex("IT-HELP-TEST.ad.it-help.ninja", hex + strlen(hex));
    parse_one(hex, &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_CHANNEL_CREATE);
    assert_int_equal(p.u.channel_create.num_resources, 1);
    assert_int_equal(p.u.channel_create.num_alt, 0);
    assert_int_equal(p.u.channel_create.port, 3389);
    assert_int_equal(p.u.channel_create.protocol, 3);
    assert_string_equal(p.u.channel_create.resources[0], "IT-HELP-TEST.ad.it-help.ninja");
    /* DATA: 57 bytes, cbDataLen 47, the X.224 Connection Request */
    strcpy(hex, "0a00000039000000 2f00 0300002f2ae00000000000");
    char *h = hex + strlen(hex);
    for (const char *s = "Cookie: mstshash=Administr\r\n"; *s; s++, h += 2)
        sprintf(h, "%02x", (unsigned char)*s);
    strcpy(h, "010008000b000000");
    parse_one(hex, &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_DATA);
    assert_int_equal(p.u.data.len, 47);
    assert_memory_equal(p.u.data.data, "\x03\x00\x00\x2f\x2a\xe0", 6);
    parse_one("0d00000008000000", &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_KEEPALIVE);
    parse_one("100000000c000000 00000000", &p, b, sizeof b);
    assert_int_equal(p.type, TSGU_PKT_CLOSE_CHANNEL);
    assert_int_equal(p.u.status, 0);
}

static void same(struct buf *b, const char *hex)
{
    uint8_t want[64];
    size_t n = unhex(hex, want, sizeof want);
    assert_int_equal(buf_len(b), n);
    assert_memory_equal(buf_data(b), want, n);
    buf_clear(b);
}

/* tsgw's builders produce what the Windows gateway sent, given the same fields. */
static void test_server_packets(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(tsgu_put_handshake_response(&b, 0, 1, 0, 7), 0);
    same(&b, "0200000012000000 00000000 0100 0000 0700");
    assert_int_equal(tsgu_put_tunnel_response(
                         &b, 0, TSGU_TUNNEL_RESP_TUNNEL_ID | TSGU_TUNNEL_RESP_CAPS, 7, 0x3f, NULL),
                     0);
    same(&b, "050000001a000000 0000 00000000 0300 0000 07000000 3f000000");
    assert_int_equal(tsgu_put_tunnel_auth_response(&b, 0,
                                                   TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS |
                                                       TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT,
                                                   0x80000000u, 0),
                     0);
    same(&b, "0700000018000000 00000000 0300 0000 00000080 00000000");
    assert_int_equal(tsgu_put_close_channel_response(&b, 0), 0);
    same(&b, "110000000c000000 00000000");
    assert_int_equal(tsgu_put_keepalive(&b), 0);
    same(&b, "0d00000008000000");
    buf_free(&b);
}

/* mstsc ends with a masked Close 1000 (the gateway had sent no Close). */
static void test_ws_close(void **state)
{
    (void)state;
    uint8_t frame[8] = {0x88, 0x82, 0x11, 0x22, 0x33, 0x44, 0x03 ^ 0x11, 0xe8 ^ 0x22};
    struct ws_decoder d;
    ws_decoder_init(&d, 131072);
    struct buf out = BUF_INIT;
    struct ws_event ev;
    assert_int_equal(ws_decode(&d, frame, sizeof frame, &out, &ev), (ssize_t)sizeof frame);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.len, 2);
    assert_int_equal(ev.payload[0] << 8 | ev.payload[1], 1000);
    assert_int_equal(buf_len(&out), 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_client_packets),
        cmocka_unit_test(test_server_packets),
        cmocka_unit_test(test_ws_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
