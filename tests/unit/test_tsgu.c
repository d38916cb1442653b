/* Unit tests for the MS-TSGU packet codec (src/tsgu/tsgu.c). Packet bytes are the FreeRDP 2.11.7
 * examples of ms-tsgu-http.md §2.3 and real-peers.md §3.3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf16.h"
#include "tsgu/tsgu.h"

static const uint8_t pkt_handshake[] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00,
                                        0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t pkt_handshake_paa[] = {0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00,
                                            0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00};
/* TUNNEL_CREATE, NTLM mode: caps 0x0D, no fields */
static const uint8_t pkt_tunnel_create[] = {0x04, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
                                            0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
/* TUNNEL_CREATE, PAA: caps 0x0D, fields 0x1, cookie "eyJhbGciOi.TOKEN.xyz\0" (42 bytes) */
static const uint8_t pkt_tunnel_create_paa[] = {
    0x04, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x2a, 0x00, 'e',  0x00, 'y',  0x00, 'J',  0x00, 'h',  0x00, 'b',  0x00, 'G',  0x00,
    'c',  0x00, 'i',  0x00, 'O',  0x00, 'i',  0x00, '.',  0x00, 'T',  0x00, 'O',  0x00, 'K',
    0x00, 'E',  0x00, 'N',  0x00, '.',  0x00, 'x',  0x00, 'y',  0x00, 'z',  0x00, 0x00, 0x00};
/* TUNNEL_AUTH: fields 0, client name "vm\0" */
static const uint8_t pkt_tunnel_auth[] = {0x06, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00,
                                          0x00, 0x06, 0x00, 'v',  0x00, 'm',  0x00, 0x00, 0x00};
/* CHANNEL_CREATE: 1 resource, 0 alternates, port 3389, protocol 3, "target.example\0" */
static const uint8_t pkt_channel_create[] = {
    0x08, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x3d, 0x0d, 0x03, 0x00, 0x1e, 0x00,
    't',  0x00, 'a',  0x00, 'r',  0x00, 'g',  0x00, 'e',  0x00, 't',  0x00, '.',  0x00, 'e',  0x00,
    'x',  0x00, 'a',  0x00, 'm',  0x00, 'p',  0x00, 'l',  0x00, 'e',  0x00, 0x00, 0x00};
/* DATA carrying an 11-byte X.224 Connection Request */
static const uint8_t pkt_data[] = {0x0a, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x03,
                                   0x00, 0x00, 0x0b, 0x06, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t pkt_keepalive[] = {0x0d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00};
static const uint8_t pkt_close_resp[] = {0x11, 0x00, 0x00, 0x00, 0x0c, 0x00,
                                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t pkt_close[] = {0x10, 0x00, 0x00, 0x00, 0x0c, 0x00,
                                    0x00, 0x00, 0xd4, 0x04, 0x00, 0x00};

struct sample {
    const uint8_t *p;
    size_t len;
};

#define SAMPLE(x)                                                                                  \
    {                                                                                              \
        x, sizeof x                                                                                \
    }
static const struct sample samples[] = {
    SAMPLE(pkt_handshake),     SAMPLE(pkt_handshake_paa),
    SAMPLE(pkt_tunnel_create), SAMPLE(pkt_tunnel_create_paa),
    SAMPLE(pkt_tunnel_auth),   SAMPLE(pkt_channel_create),
    SAMPLE(pkt_data),          SAMPLE(pkt_keepalive),
    SAMPLE(pkt_close_resp),    SAMPLE(pkt_close),
};

static struct tsgu_packet *new_pkt(void)
{
    struct tsgu_packet *p = malloc(sizeof *p);
    assert_non_null(p);
    memset(p, 0xcc, sizeof *p);
    return p;
}

static void set_u32(uint8_t *q, uint32_t v)
{
    q[0] = (uint8_t)v;
    q[1] = (uint8_t)(v >> 8);
    q[2] = (uint8_t)(v >> 16);
    q[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *q)
{
    return (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
}

static uint16_t get_u16(const uint8_t *q)
{
    return (uint16_t)(q[0] | (q[1] << 8));
}

/* Patches packetLength of a packet under construction in b to its current length. */
static void fix_len(struct buf *b)
{
    set_u32(buf_data(b) + 4, (uint32_t)buf_len(b));
}

static void put_hdr(struct buf *b, uint16_t type)
{
    assert_int_equal(buf_put_u16le(b, type), 0);
    assert_int_equal(buf_put_u16le(b, 0), 0);
    assert_int_equal(buf_put_u32le(b, 0), 0);
}

static void put_str(struct buf *b, const char *s, bool nul)
{
    struct buf u = BUF_INIT;
    assert_int_equal(utf8_to_utf16le(&u, s), 0);
    if (nul)
        assert_int_equal(buf_put_u16le(&u, 0), 0);
    assert_int_equal(buf_put_u16le(b, (uint16_t)buf_len(&u)), 0);
    assert_int_equal(buf_append(b, buf_data(&u), buf_len(&u)), 0);
    buf_free(&u);
}

/* ---- parsing the real packets -------------------------------------------------------------- */

static void test_parse_handshake(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_handshake, sizeof pkt_handshake, p), 0);
    assert_int_equal(p->type, TSGU_PKT_HANDSHAKE_REQUEST);
    assert_int_equal(p->length, 14);
    assert_int_equal(p->u.handshake.ver_major, 1);
    assert_int_equal(p->u.handshake.ver_minor, 0);
    assert_int_equal(p->u.handshake.client_version, 0);
    assert_int_equal(p->u.handshake.ext_auth, TSGU_EXTAUTH_NONE);
    assert_int_equal(tsgu_parse(pkt_handshake_paa, sizeof pkt_handshake_paa, p), 0);
    assert_int_equal(p->u.handshake.ext_auth, TSGU_EXTAUTH_PAA);
    free(p);
}

static void test_parse_tunnel_create(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_tunnel_create, sizeof pkt_tunnel_create, p), 0);
    assert_int_equal(p->type, TSGU_PKT_TUNNEL_CREATE);
    assert_int_equal(p->u.tunnel_create.caps, 0x0D);
    assert_int_equal(p->u.tunnel_create.fields, 0);
    assert_null(p->u.tunnel_create.paa_cookie);
    assert_int_equal(p->u.tunnel_create.paa_cookie_len, 0);
    assert_int_equal(p->u.tunnel_create.reauth_ctx, 0);

    assert_int_equal(tsgu_parse(pkt_tunnel_create_paa, sizeof pkt_tunnel_create_paa, p), 0);
    assert_int_equal(p->length, 60);
    assert_int_equal(p->u.tunnel_create.fields, TSGU_TUNNEL_CREATE_PAA_COOKIE);
    assert_int_equal(p->u.tunnel_create.paa_cookie_len, 42);
    assert_ptr_equal(p->u.tunnel_create.paa_cookie, pkt_tunnel_create_paa + 18);
    char tok[64];
    assert_int_equal(utf16le_to_utf8(p->u.tunnel_create.paa_cookie,
                                     p->u.tunnel_create.paa_cookie_len, tok, sizeof tok),
                     20);
    assert_string_equal(tok, "eyJhbGciOi.TOKEN.xyz");
    free(p);
}

static void test_parse_tunnel_create_reauth(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    struct buf b = BUF_INIT;
    /* reauth context comes before the cookie */
    put_hdr(&b, TSGU_PKT_TUNNEL_CREATE);
    assert_int_equal(buf_put_u32le(&b, 0x3F), 0);
    assert_int_equal(buf_put_u16le(&b, 0x3), 0);
    assert_int_equal(buf_put_u16le(&b, 0), 0);
    assert_int_equal(buf_put_u64le(&b, 0x1122334455667788ull), 0);
    assert_int_equal(buf_put_u16le(&b, 4), 0);
    assert_int_equal(buf_append(&b, "\x41\x00\x00\x00", 4), 0);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.tunnel_create.caps, 0x3F);
    assert_int_equal(p->u.tunnel_create.reauth_ctx, 0x1122334455667788ull);
    assert_int_equal(p->u.tunnel_create.paa_cookie_len, 4);
    assert_ptr_equal(p->u.tunnel_create.paa_cookie, buf_data(&b) + 26);
    for (size_t l = 0; l < buf_len(&b); l++) {
        set_u32(buf_data(&b) + 4, (uint32_t)l);
        assert_int_equal(tsgu_parse(buf_data(&b), l, p), -EINVAL);
    }
    buf_clear(&b);

    /* reauth only */
    put_hdr(&b, TSGU_PKT_TUNNEL_CREATE);
    assert_int_equal(buf_put_u32le(&b, 0x3F), 0);
    assert_int_equal(buf_put_u16le(&b, TSGU_TUNNEL_CREATE_REAUTH), 0);
    assert_int_equal(buf_put_u16le(&b, 0), 0);
    assert_int_equal(buf_put_u64le(&b, 42), 0);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.tunnel_create.reauth_ctx, 42);
    assert_null(p->u.tunnel_create.paa_cookie);
    assert_int_equal(buf_len(&b), 24);
    buf_free(&b);
    free(p);
}

static void test_parse_tunnel_auth(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_tunnel_auth, sizeof pkt_tunnel_auth, p), 0);
    assert_int_equal(p->type, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(p->length, 18);
    assert_int_equal(p->u.tunnel_auth.fields, 0);
    assert_string_equal(p->u.tunnel_auth.client_name, "vm");
    assert_null(p->u.tunnel_auth.soh);
    assert_int_equal(p->u.tunnel_auth.soh_len, 0);

    /* with a statement of health */
    struct buf b = BUF_INIT;
    put_hdr(&b, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(buf_put_u16le(&b, TSGU_TUNNEL_AUTH_SOH), 0);
    put_str(&b, "PC-01", true);
    assert_int_equal(buf_put_u16le(&b, 3), 0);
    assert_int_equal(buf_append(&b, "SOH", 3), 0);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_string_equal(p->u.tunnel_auth.client_name, "PC-01");
    assert_int_equal(p->u.tunnel_auth.soh_len, 3);
    assert_memory_equal(p->u.tunnel_auth.soh, "SOH", 3);
    /* SoH flagged but missing */
    buf_clear(&b);
    put_hdr(&b, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(buf_put_u16le(&b, TSGU_TUNNEL_AUTH_SOH), 0);
    put_str(&b, "PC-01", true);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    buf_free(&b);
    free(p);
}

static void test_parse_channel_create(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_channel_create, sizeof pkt_channel_create, p), 0);
    assert_int_equal(p->type, TSGU_PKT_CHANNEL_CREATE);
    assert_int_equal(p->length, 46);
    assert_int_equal(p->u.channel_create.num_resources, 1);
    assert_int_equal(p->u.channel_create.num_alt, 0);
    assert_int_equal(p->u.channel_create.port, 3389);
    assert_int_equal(p->u.channel_create.protocol, 3);
    assert_string_equal(p->u.channel_create.resources[0], "target.example");
    free(p);
}

/* Builds a CHANNEL_CREATE with nres resources and nalt alternates (counts as written). */
static void build_channel_create(struct buf *b, unsigned nres, unsigned nalt)
{
    buf_clear(b);
    put_hdr(b, TSGU_PKT_CHANNEL_CREATE);
    assert_int_equal(buf_put_u8(b, (uint8_t)nres), 0);
    assert_int_equal(buf_put_u8(b, (uint8_t)nalt), 0);
    assert_int_equal(buf_put_u16le(b, 3389), 0);
    assert_int_equal(buf_put_u16le(b, 3), 0);
    for (unsigned i = 0; i < nres + nalt; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%u.example", i < nres ? "host" : "alt", i);
        put_str(b, name, i % 2 == 0); /* with and without the NUL */
    }
    fix_len(b);
}

static void test_channel_create_limits(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    struct buf b = BUF_INIT;

    build_channel_create(&b, 50, 3);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.channel_create.num_resources, 50);
    assert_int_equal(p->u.channel_create.num_alt, 3);
    assert_string_equal(p->u.channel_create.resources[0], "host0.example");
    assert_string_equal(p->u.channel_create.resources[49], "host49.example");
    assert_string_equal(p->u.channel_create.resources[50], "alt50.example");
    assert_string_equal(p->u.channel_create.resources[52], "alt52.example");

    build_channel_create(&b, 0, 0);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    build_channel_create(&b, 0, 1);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    build_channel_create(&b, 51, 0);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    build_channel_create(&b, 1, 4);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    build_channel_create(&b, 2, 3);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.channel_create.num_alt, 3);

    /* counts promising more strings than present */
    build_channel_create(&b, 2, 0);
    buf_data(&b)[8] = 3;
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);

    /* a name too long for TSGU_MAX_NAME_UTF8 */
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[255] = 0;
    buf_clear(&b);
    put_hdr(&b, TSGU_PKT_CHANNEL_CREATE);
    assert_int_equal(buf_append(&b, "\x01\x00\x3d\x0d\x03\x00", 6), 0);
    put_str(&b, longname, true); /* 255 chars + NUL: fits */
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(strlen(p->u.channel_create.resources[0]), 255);
    longname[255] = 'a';
    longname[256] = 0;
    buf_clear(&b);
    put_hdr(&b, TSGU_PKT_CHANNEL_CREATE);
    assert_int_equal(buf_append(&b, "\x01\x00\x3d\x0d\x03\x00", 6), 0);
    put_str(&b, longname, true); /* 256 chars: does not fit */
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    buf_free(&b);
    free(p);
}

static void test_parse_data(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_data, sizeof pkt_data, p), 0);
    assert_int_equal(p->type, TSGU_PKT_DATA);
    assert_int_equal(p->u.data.len, 11);
    assert_ptr_equal(p->u.data.data, pkt_data + 10);

    /* packetLength != 10 + cbDataLen, both ways (packetLength matching the bytes) */
    uint8_t q[sizeof pkt_data + 1];
    memcpy(q, pkt_data, sizeof pkt_data);
    q[sizeof pkt_data] = 0;
    set_u32(q + 4, sizeof q);
    assert_int_equal(tsgu_parse(q, sizeof q, p), -EINVAL); /* one byte of padding */
    memcpy(q, pkt_data, sizeof pkt_data);
    q[8] = 10; /* cbDataLen one short of packetLength - 10 */
    assert_int_equal(tsgu_parse(q, sizeof pkt_data, p), -EINVAL);
    q[8] = 12;
    assert_int_equal(tsgu_parse(q, sizeof pkt_data, p), -EINVAL);

    /* empty DATA is well-formed */
    const uint8_t empty[] = {0x0a, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0};
    assert_int_equal(tsgu_parse(empty, sizeof empty, p), 0);
    assert_int_equal(p->u.data.len, 0);
    /* DATA with no length field */
    const uint8_t nolen[] = {0x0a, 0, 0, 0, 0x08, 0, 0, 0};
    assert_int_equal(tsgu_parse(nolen, sizeof nolen, p), -EINVAL);
    free(p);
}

static void test_parse_short_packets(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_parse(pkt_keepalive, sizeof pkt_keepalive, p), 0);
    assert_int_equal(p->type, TSGU_PKT_KEEPALIVE);
    assert_int_equal(p->length, 8);

    assert_int_equal(tsgu_parse(pkt_close_resp, sizeof pkt_close_resp, p), 0);
    assert_int_equal(p->type, TSGU_PKT_CLOSE_CHANNEL_RESPONSE);
    assert_int_equal(p->u.status, 0);
    assert_int_equal(tsgu_parse(pkt_close, sizeof pkt_close, p), 0);
    assert_int_equal(p->type, TSGU_PKT_CLOSE_CHANNEL);
    assert_int_equal(p->u.status, TSGU_CLOSE_CONNECTIONABORTED);

    /* 8-byte CLOSE_CHANNEL(_RESPONSE) is malformed */
    const uint8_t close8[] = {0x10, 0, 0, 0, 0x08, 0, 0, 0};
    assert_int_equal(tsgu_parse(close8, sizeof close8, p), -EINVAL);
    const uint8_t resp8[] = {0x11, 0, 0, 0, 0x08, 0, 0, 0};
    assert_int_equal(tsgu_parse(resp8, sizeof resp8, p), -EINVAL);
    /* rdpgw's 20-byte CLOSE_CHANNEL_RESPONSE: trailing fields ignored */
    const uint8_t resp20[] = {0x11, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 7, 0, 0, 0};
    assert_int_equal(tsgu_parse(resp20, sizeof resp20, p), 0);
    assert_int_equal(p->u.status, 0);
    /* keepalive with a payload: trailing bytes ignored */
    const uint8_t ka10[] = {0x0d, 0, 0, 0, 0x0a, 0, 0, 0, 1, 2};
    assert_int_equal(tsgu_parse(ka10, sizeof ka10, p), 0);
    /* unknown and server->client types: header only */
    const uint8_t unk[] = {0x0e, 0, 0x55, 0x55, 0x0b, 0, 0, 0, 1, 2, 3};
    assert_int_equal(tsgu_parse(unk, sizeof unk, p), 0);
    assert_int_equal(p->type, 0x0e);
    assert_int_equal(p->length, 11);
    const uint8_t srv[] = {0x02, 0, 0, 0, 0x08, 0, 0, 0};
    assert_int_equal(tsgu_parse(srv, sizeof srv, p), 0);
    assert_int_equal(p->type, TSGU_PKT_HANDSHAKE_RESPONSE);
    /* reserved header field is ignored */
    uint8_t hs[sizeof pkt_handshake];
    memcpy(hs, pkt_handshake, sizeof hs);
    hs[2] = 0xff;
    hs[3] = 0xff;
    assert_int_equal(tsgu_parse(hs, sizeof hs, p), 0);
    free(p);
}

/* Every truncation of every real packet fails: with the original packetLength (disagreeing
 * with the bytes) and with packetLength patched to the truncated length. */
static void test_truncations(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        const struct sample *sm = &samples[s];
        assert_int_equal(tsgu_parse(sm->p, sm->len, p), 0);
        for (size_t l = 0; l < sm->len; l++) {
            /* an exact-size heap copy so ASan catches any over-read */
            uint8_t *t = malloc(l ? l : 1);
            assert_non_null(t);
            memcpy(t, sm->p, l);
            assert_int_equal(tsgu_parse(l ? t : NULL, l, p), -EINVAL);
            if (l >= TSGU_HDR_LEN) {
                set_u32(t + 4, (uint32_t)l);
                assert_int_equal(tsgu_parse(t, l, p), -EINVAL);
            }
            free(t);
        }
    }
    free(p);
}

static void test_length_disagrees(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        const struct sample *sm = &samples[s];
        uint8_t q[128];
        assert_true(sm->len < sizeof q);
        memcpy(q, sm->p, sm->len);
        set_u32(q + 4, (uint32_t)sm->len + 1);
        assert_int_equal(tsgu_parse(q, sm->len, p), -EINVAL);
        set_u32(q + 4, (uint32_t)sm->len - 1);
        assert_int_equal(tsgu_parse(q, sm->len, p), -EINVAL);
        set_u32(q + 4, 0xFFFFFFFFu);
        assert_int_equal(tsgu_parse(q, sm->len, p), -EINVAL);
        /* extra bytes beyond packetLength */
        set_u32(q + 4, (uint32_t)sm->len);
        q[sm->len] = 0;
        assert_int_equal(tsgu_parse(q, sm->len + 1, p), -EINVAL);
    }
    free(p);
}

static void test_odd_and_bad_strings(void **state)
{
    (void)state;
    struct tsgu_packet *p = new_pkt();
    /* TUNNEL_AUTH with an odd cbClientName */
    const uint8_t odd_auth[] = {0x06, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0x05, 0, 'v', 0, 'm', 0, 0};
    assert_int_equal(tsgu_parse(odd_auth, sizeof odd_auth, p), -EINVAL);
    /* CHANNEL_CREATE with an odd resource length */
    uint8_t odd_ch[sizeof pkt_channel_create];
    memcpy(odd_ch, pkt_channel_create, sizeof odd_ch);
    odd_ch[14] = 0x1d;
    set_u32(odd_ch + 4, sizeof odd_ch - 1);
    assert_int_equal(tsgu_parse(odd_ch, sizeof odd_ch - 1, p), -EINVAL);
    /* unpaired surrogate */
    const uint8_t surr[] = {0x06, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x04, 0, 0x00, 0xd8, 0x41, 0};
    assert_int_equal(tsgu_parse(surr, sizeof surr, p), -EINVAL);
    /* embedded NUL */
    const uint8_t nul[] = {0x06, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0x06, 0, 'a', 0, 0, 0, 'b', 0};
    assert_int_equal(tsgu_parse(nul, sizeof nul, p), -EINVAL);
    /* client name over 513 bytes */
    struct buf b = BUF_INIT;
    char name[300];
    memset(name, 'n', sizeof name);
    name[256] = 0; /* 256 chars + NUL = 514 bytes */
    put_hdr(&b, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(buf_put_u16le(&b, 0), 0);
    put_str(&b, name, true);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), -EINVAL);
    /* 255 chars + NUL = 512 bytes: accepted */
    name[255] = 0;
    buf_clear(&b);
    put_hdr(&b, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(buf_put_u16le(&b, 0), 0);
    put_str(&b, name, true);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(strlen(p->u.tunnel_auth.client_name), 255);
    /* non-ASCII name */
    buf_clear(&b);
    put_hdr(&b, TSGU_PKT_TUNNEL_AUTH);
    assert_int_equal(buf_put_u16le(&b, 0), 0);
    put_str(&b, "K\xc3\xb6nig-\xf0\x9f\x98\x80", true);
    fix_len(&b);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_string_equal(p->u.tunnel_auth.client_name, "K\xc3\xb6nig-\xf0\x9f\x98\x80");
    buf_free(&b);
    free(p);
}

static void test_peek(void **state)
{
    (void)state;
    uint16_t type = 0;
    uint32_t len = 0;
    assert_int_equal(tsgu_peek(pkt_handshake, 0, 100, &type, &len), 0);
    assert_int_equal(tsgu_peek(pkt_handshake, 7, 100, &type, &len), 0);
    assert_int_equal(tsgu_peek(pkt_handshake, 8, 100, &type, &len), 1);
    assert_int_equal(type, TSGU_PKT_HANDSHAKE_REQUEST);
    assert_int_equal(len, 14);
    assert_int_equal(tsgu_peek(pkt_handshake, 8, 14, &type, &len), 1);
    assert_int_equal(tsgu_peek(pkt_handshake, 8, 13, &type, &len), -EINVAL);
    const uint8_t small[] = {0x0d, 0, 0, 0, 0x07, 0, 0, 0};
    assert_int_equal(tsgu_peek(small, sizeof small, 100, &type, &len), -EINVAL);
    const uint8_t huge[] = {0x0a, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(tsgu_peek(huge, sizeof huge, 0xFFFFFFFEu, &type, &len), -EINVAL);
    assert_int_equal(tsgu_peek(huge, sizeof huge, 0xFFFFFFFFu, &type, &len), 1);

    /* split a stream of all samples */
    struct buf s = BUF_INIT;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_int_equal(buf_append(&s, samples[i].p, samples[i].len), 0);
    struct tsgu_packet *p = new_pkt();
    size_t off = 0, n = 0;
    while (off < buf_len(&s)) {
        int r = tsgu_peek(buf_data(&s) + off, buf_len(&s) - off, 65545, &type, &len);
        assert_int_equal(r, 1);
        assert_int_equal(len, samples[n].len);
        assert_int_equal(tsgu_parse(buf_data(&s) + off, len, p), 0);
        assert_int_equal(p->type, type);
        off += len;
        n++;
    }
    assert_int_equal(n, sizeof samples / sizeof samples[0]);
    buf_free(&s);
    free(p);
}

/* ---- builders ------------------------------------------------------------------------------ */

static void expect_bytes(struct buf *b, const uint8_t *e, size_t n)
{
    assert_int_equal(buf_len(b), n);
    assert_memory_equal(buf_data(b), e, n);
    buf_clear(b);
}

static void test_build_handshake_response(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(tsgu_put_handshake_response(&b, 0, 1, 0, TSGU_EXTAUTH_PAA), 0);
    const uint8_t e[] = {0x02, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0};
    expect_bytes(&b, e, sizeof e);
    assert_int_equal(tsgu_put_handshake_response(&b, TSGU_E_PROXY_INTERNALERROR, 1, 0, 0), 0);
    const uint8_t e2[] = {0x02, 0, 0, 0, 18, 0, 0, 0, 0xd8, 0x59, 0x07, 0x80, 1, 0, 0, 0, 0, 0};
    expect_bytes(&b, e2, sizeof e2);
    buf_free(&b);
}

static void test_build_tunnel_response(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    /* rdpgw's answer: fields 0x3, tunnelId 10, caps 0x2 -> 26 bytes */
    assert_int_equal(tsgu_put_tunnel_response(&b, 0, 0x3, 10, 0x2, NULL), 0);
    const uint8_t e[] = {0x05, 0, 0, 0, 26, 0,  0, 0, 0, 0, 0, 0, 0,
                         0,    3, 0, 0, 0,  10, 0, 0, 0, 2, 0, 0, 0};
    expect_bytes(&b, e, sizeof e);
    /* error, no fields */
    assert_int_equal(tsgu_put_tunnel_response(&b, TSGU_E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED,
                                              0, 0, 0, NULL),
                     0);
    const uint8_t e2[] = {0x05, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0xf8, 0x59, 0x07, 0x80, 0, 0, 0, 0};
    expect_bytes(&b, e2, sizeof e2);
    /* SOH_REQ is never emitted; caps only */
    assert_int_equal(tsgu_put_tunnel_response(&b, 0, 0x4 | 0x2, 10, 0x8, NULL), 0);
    const uint8_t e3[] = {0x05, 0, 0, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0};
    expect_bytes(&b, e3, sizeof e3);
    /* consent message after tunnelId and caps, with its NUL */
    assert_int_equal(tsgu_put_tunnel_response(&b, 0, 0x3, 7, 0x6, "OK?"), 0);
    const uint8_t e4[] = {0x05, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0,   0, 0,   0, 0x13, 0, 0, 0,
                          7,    0, 0, 0, 6,  0, 0, 0, 8, 0, 'O', 0, 'K', 0, '?',  0, 0, 0};
    expect_bytes(&b, e4, sizeof e4);
    /* invalid UTF-8 consent: error, buffer unchanged */
    assert_int_equal(buf_append(&b, "xx", 2), 0);
    assert_int_equal(tsgu_put_tunnel_response(&b, 0, 0x3, 7, 0x6, "\xff"), -EINVAL);
    assert_int_equal(buf_len(&b), 2);
    /* running out of room half-way through the consent string: rolled back */
    b.cap_limit = 40;
    char msg[64];
    memset(msg, 'm', sizeof msg);
    msg[63] = 0;
    assert_int_equal(tsgu_put_tunnel_response(&b, 0, 0x3, 7, 0x6, msg), -ENOBUFS);
    assert_int_equal(buf_len(&b), 2);
    assert_memory_equal(buf_data(&b), "xx", 2);
    buf_free(&b);
}

static void test_build_tunnel_auth_response(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(tsgu_put_tunnel_auth_response(&b, 0, 0x3, TSGU_REDIR_ENABLE_ALL, 30), 0);
    const uint8_t e[] = {0x07, 0, 0, 0, 24, 0, 0, 0,    0,  0, 0, 0,
                         3,    0, 0, 0, 0,  0, 0, 0x80, 30, 0, 0, 0};
    expect_bytes(&b, e, sizeof e);
    assert_int_equal(tsgu_put_tunnel_auth_response(&b, 0, 0x2, 0xdead, 5), 0);
    const uint8_t e2[] = {0x07, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0};
    expect_bytes(&b, e2, sizeof e2);
    assert_int_equal(tsgu_put_tunnel_auth_response(&b, TSGU_E_PROXY_NAP_ACCESSDENIED, 0, 0, 0), 0);
    const uint8_t e3[] = {0x07, 0, 0, 0, 16, 0, 0, 0, 0xdb, 0x59, 0x07, 0x80, 0, 0, 0, 0};
    expect_bytes(&b, e3, sizeof e3);
    buf_free(&b);
}

static void test_build_channel_response(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(tsgu_put_channel_response(&b, 0, TSGU_CHANNEL_RESP_CHANNEL_ID, 7), 0);
    const uint8_t e[] = {0x09, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0};
    expect_bytes(&b, e, sizeof e);
    assert_int_equal(tsgu_put_channel_response(&b, TSGU_E_PROXY_RAP_ACCESSDENIED, 0, 0), 0);
    const uint8_t e2[] = {0x09, 0, 0, 0, 16, 0, 0, 0, 0xda, 0x59, 0x07, 0x80, 0, 0, 0, 0};
    expect_bytes(&b, e2, sizeof e2);
    buf_free(&b);
}

static void test_build_data(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct tsgu_packet *p = new_pkt();
    uint8_t *d = malloc(65536);
    assert_non_null(d);
    for (size_t i = 0; i < 65536; i++)
        d[i] = (uint8_t)(i * 13);
    assert_int_equal(tsgu_put_data(&b, d, 65535), 0);
    assert_int_equal(buf_len(&b), 65545);
    assert_int_equal(get_u16(buf_data(&b)), TSGU_PKT_DATA);
    assert_int_equal(get_u32(buf_data(&b) + 4), 65545);
    assert_int_equal(get_u16(buf_data(&b) + 8), 65535);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.data.len, 65535);
    assert_memory_equal(p->u.data.data, d, 65535);
    buf_clear(&b);
    assert_int_equal(tsgu_put_data(&b, d, 65536), -EINVAL);
    assert_int_equal(buf_len(&b), 0);
    /* the real packet round-trips */
    assert_int_equal(tsgu_put_data(&b, pkt_data + 10, 11), 0);
    expect_bytes(&b, pkt_data, sizeof pkt_data);
    assert_int_equal(tsgu_put_data(&b, NULL, 0), 0);
    const uint8_t empty[] = {0x0a, 0, 0, 0, 10, 0, 0, 0, 0, 0};
    expect_bytes(&b, empty, sizeof empty);

    uint8_t h[10];
    tsgu_data_header(h, 65535);
    assert_memory_equal(h, "\x0a\x00\x00\x00\x09\x00\x01\x00\xff\xff", 10);
    tsgu_data_header(h, 11);
    assert_memory_equal(h, pkt_data, 10);
    free(d);
    free(p);
    buf_free(&b);
}

static void test_build_short(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct tsgu_packet *p = new_pkt();
    assert_int_equal(tsgu_put_keepalive(&b), 0);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->type, TSGU_PKT_KEEPALIVE);
    expect_bytes(&b, pkt_keepalive, sizeof pkt_keepalive);

    assert_int_equal(tsgu_put_close_channel(&b, TSGU_CLOSE_CONNECTIONABORTED), 0);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->type, TSGU_PKT_CLOSE_CHANNEL);
    assert_int_equal(p->u.status, TSGU_CLOSE_CONNECTIONABORTED);
    expect_bytes(&b, pkt_close, sizeof pkt_close);

    assert_int_equal(tsgu_put_close_channel_response(&b, 0), 0);
    assert_int_equal(tsgu_parse(buf_data(&b), buf_len(&b), p), 0);
    assert_int_equal(p->u.status, 0);
    expect_bytes(&b, pkt_close_resp, sizeof pkt_close_resp);

    assert_int_equal(tsgu_put_reauth_message(&b, 0x0102030405060708ull), 0);
    const uint8_t re[] = {0x0c, 0, 0, 0, 16, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
    expect_bytes(&b, re, sizeof re);

    assert_int_equal(tsgu_put_service_message(&b, "Hi"), 0);
    const uint8_t sm[] = {0x0b, 0, 0, 0, 16, 0, 0, 0, 6, 0, 'H', 0, 'i', 0, 0, 0};
    expect_bytes(&b, sm, sizeof sm);
    assert_int_equal(tsgu_put_service_message(&b, ""), 0);
    const uint8_t sm0[] = {0x0b, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0};
    expect_bytes(&b, sm0, sizeof sm0);
    assert_int_equal(tsgu_put_service_message(&b, "\xc3"), -EINVAL);
    assert_int_equal(buf_len(&b), 0);

    /* several packets in one buffer follow each other */
    assert_int_equal(tsgu_put_keepalive(&b), 0);
    assert_int_equal(tsgu_put_service_message(&b, "x"), 0);
    assert_int_equal(tsgu_put_close_channel(&b, 0), 0);
    assert_int_equal(buf_len(&b), 8 + 14 + 12);
    assert_int_equal(get_u32(buf_data(&b) + 8 + 4), 14);

    /* a full buffer leaves no partial packet */
    b.cap_limit = buf_len(&b) + 11;
    assert_int_equal(tsgu_put_close_channel(&b, 0), -ENOBUFS);
    assert_int_equal(tsgu_put_service_message(&b, "abc"), -ENOBUFS);
    assert_int_equal(buf_len(&b), 34);
    assert_int_equal(tsgu_put_keepalive(&b), 0);
    buf_free(&b);
    free(p);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(tsgu_type_name(TSGU_PKT_TUNNEL_CREATE), "TUNNEL_CREATE");
    assert_string_equal(tsgu_type_name(TSGU_PKT_CLOSE_CHANNEL_RESPONSE), "CLOSE_CHANNEL_RESPONSE");
    assert_string_equal(tsgu_type_name(TSGU_PKT_DATA), "DATA");
    assert_string_equal(tsgu_type_name(0x0E), "UNKNOWN");
    assert_string_equal(tsgu_type_name(0xFFFF), "UNKNOWN");
    for (uint16_t t = 1; t <= 0x11; t++) {
        const char *n = tsgu_type_name(t);
        assert_non_null(n);
        if (t == 0x0E || t == 0x0F)
            assert_string_equal(n, "UNKNOWN");
        else
            assert_string_not_equal(n, "UNKNOWN");
    }
    assert_string_equal(tsgu_hresult_name(TSGU_E_PROXY_RAP_ACCESSDENIED),
                        "E_PROXY_RAP_ACCESSDENIED");
    assert_string_equal(tsgu_hresult_name(TSGU_S_OK), "S_OK");
    assert_string_equal(tsgu_hresult_name(TSGU_E_PROXY_TS_CONNECTFAILED),
                        "E_PROXY_TS_CONNECTFAILED");
    assert_string_equal(tsgu_hresult_name(TSGU_CLOSE_CONNECTIONABORTED),
                        "E_PROXY_CONNECTIONABORTED");
    assert_non_null(tsgu_hresult_name(TSGU_E_ACCESS_DENIED));
    assert_null(tsgu_hresult_name(0x12345678));
    assert_null(tsgu_hresult_name(0x800759EDu)); /* not a constant in tsgu.h */

    static const struct {
        uint32_t hr;
        const char *name;
    } all[] = {
        {TSGU_E_PROXY_INTERNALERROR, "E_PROXY_INTERNALERROR"},
        {TSGU_E_PROXY_NAP_ACCESSDENIED, "E_PROXY_NAP_ACCESSDENIED"},
        {TSGU_E_PROXY_ALREADYDISCONNECTED, "E_PROXY_ALREADYDISCONNECTED"},
        {TSGU_E_PROXY_MAXCONNECTIONSREACHED, "E_PROXY_MAXCONNECTIONSREACHED"},
        {TSGU_E_PROXY_NOTSUPPORTED, "E_PROXY_NOTSUPPORTED"},
        {TSGU_E_PROXY_CAPABILITYMISMATCH, "E_PROXY_CAPABILITYMISMATCH"},
        {TSGU_E_PROXY_COOKIE_BADPACKET, "E_PROXY_COOKIE_BADPACKET"},
        {TSGU_E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED,
         "E_PROXY_COOKIE_AUTHENTICATION_ACCESS_DENIED"},
        {TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD,
         "E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD"},
        {TSGU_E_PROXY_SESSIONTIMEOUT, "E_PROXY_SESSIONTIMEOUT"},
        {TSGU_CLOSE_GRACEFUL, "ERROR_GRACEFUL_DISCONNECT"},
        {TSGU_CLOSE_BAD_ARGUMENTS, "ERROR_BAD_ARGUMENTS"},
        {TSGU_CLOSE_OPERATION_ABORTED, "ERROR_OPERATION_ABORTED"},
        {TSGU_CLOSE_SESSIONTIMEOUT, "E_PROXY_SESSIONTIMEOUT"},
        {TSGU_CLOSE_INTERNALERROR, "E_PROXY_INTERNALERROR"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        assert_string_equal(tsgu_hresult_name(all[i].hr), all[i].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_handshake),
        cmocka_unit_test(test_parse_tunnel_create),
        cmocka_unit_test(test_parse_tunnel_create_reauth),
        cmocka_unit_test(test_parse_tunnel_auth),
        cmocka_unit_test(test_parse_channel_create),
        cmocka_unit_test(test_channel_create_limits),
        cmocka_unit_test(test_parse_data),
        cmocka_unit_test(test_parse_short_packets),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_length_disagrees),
        cmocka_unit_test(test_odd_and_bad_strings),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_build_handshake_response),
        cmocka_unit_test(test_build_tunnel_response),
        cmocka_unit_test(test_build_tunnel_auth_response),
        cmocka_unit_test(test_build_channel_response),
        cmocka_unit_test(test_build_data),
        cmocka_unit_test(test_build_short),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
