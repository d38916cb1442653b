/* Unit tests for the sans-I/O HTTP/1.1 request parser (src/http/http_parser.c).
 *
 * Every request is fed whole, split in two at every byte position, and one byte at a time; the
 * three must give the same outcome (same consumed count, status and parsed fields). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

/* FreeRDP 2.11.7, first RDG_OUT_DATA (WebSocket upgrade, NTLM type1): real-peers.md §3.3(a). */
static const char FREERDP_OUT_T1[] =
    "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\n"
    "Cache-Control: no-cache\r\n"
    "Pragma: no-cache\r\n"
    "Accept: */*\r\n"
    "User-Agent: MS-RDGateway/1.0\r\n"
    "Host: 127.0.0.1\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-Websocket-Version: 13\r\n"
    "Sec-Websocket-Key: IC^\\_JB]QE@YL@J\r\n"
    "RDG-Connection-Id: {1b5c68bc-fbe0-5ba2-cbbf-eb3d2e454983}\r\n"
    "Content-Length: 0\r\n"
    "Authorization: NTLM TlRMTVNTUAABAAAAt4II4gAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n"
    "\r\n";

/* The same request with the NTLM type3 (real-peers.md §3.3(b), 859 bytes). */
static const char FREERDP_OUT_T3[] =
    "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\n"
    "Cache-Control: no-cache\r\n"
    "Pragma: no-cache\r\n"
    "Accept: */*\r\n"
    "User-Agent: MS-RDGateway/1.0\r\n"
    "Host: 127.0.0.1\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-Websocket-Version: 13\r\n"
    "Sec-Websocket-Key: IC^\\_JB]QE@YL@J\r\n"
    "RDG-Connection-Id: {1b5c68bc-fbe0-5ba2-cbbf-eb3d2e454983}\r\n"
    "Content-Length: 0\r\n"
    "Authorization: NTLM "
    "TlRMTVNTUAADAAAAGAAYAHQAAADcANwAjAAAAA4ADgBYAAAACgAKAGYAAAAEAAQAcAAAABAAEABoAQAANbKI4gYB"
    "sR0AAAAPzocjsJ6lZjvns/8BrLUVYUMATwBOAFQATwBTAE8AYQBsAGkAYwBlAHYAbQBqWVd4b2IzTjBNQjRYRFRJ"
    "Mk1URXlOREHtrJT3FFBOTHcR6yvoGXc8AQEAAAAAAABgZ/sw9XvdAXi5t0lUW//bAAAAAAIADgBDAE8ATgBUAE8A"
    "UwBPAAEABABHAFcABAAYAGMAbwBuAHQAbwBzAG8ALgB0AGUAcwB0AAMAHgBnAHcALgBjAG8AbgB0AG8AcwBvAC4A"
    "dABlAHMAdAAHAAgAYGf7MPV73QEGAAQAAgAAAAoAEAD32c9OIXEm0Tqp2voz4fqqCQAcAEgAVABUAFAALwAxADIA"
    "NwAuADAALgAwAC4AMQAAAAAAAAAAAAAAAAAAAAAAbkVdn0e/iSmUrdWixboNhQ==\r\n"
    "\r\n";

/* FreeRDP 2.11.7 legacy IN channel, third request, followed by its first chunk
 * (real-peers.md §3.3(d); ms-tsgu-http.md §1.4). */
static const char LEGACY_IN_HDR[] = "RDG_IN_DATA /remoteDesktopGateway/ HTTP/1.1\r\n"
                                    "Cache-Control: no-cache\r\n"
                                    "Pragma: no-cache\r\n"
                                    "Accept: */*\r\n"
                                    "User-Agent: MS-RDGateway/1.0\r\n"
                                    "Host: 127.0.0.1\r\n"
                                    "Connection: Keep-Alive\r\n"
                                    "RDG-Connection-Id: {1b5c68bc-fbe0-5ba2-cbbf-eb3d2e454983}\r\n"
                                    "Transfer-Encoding: chunked\r\n"
                                    "\r\n";
static const char LEGACY_IN_CHUNK[] =
    "E\r\n\x01\x00\x00\x00\x0e\x00\x00\x00\x01\x00\x00\x00\x00\x00\r\n";

/* sblim-wbemcli 1.6.3 EnumerateInstances (real-peers.md §4(a)). */
static const char WBEM_HDR[] = "POST /cimom HTTP/1.1\r\n"
                               "Host: 127.0.0.1:5988\r\n"
                               "Authorization: Basic dXNlcjpwYXNz\r\n"
                               "Content-Type: application/xml; charset=\"utf-8\"\r\n"
                               "Connection: Keep-Alive, TE\r\n"
                               "CIMProtocolVersion: 1.0\r\n"
                               "CIMOperation: MethodCall\r\n"
                               "CIMMethod: EnumerateInstances\r\n"
                               "CIMObject: root%2Fcimv2%2Fterminalservices\r\n"
                               "Content-Length: 745\r\n"
                               "\r\n";
static const char WBEM_BODY[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
    "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
    "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
    "NAME=\"EnumerateInstances\"><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"></"
    "NAMESPACE><NAMESPACE NAME=\"cimv2\"></NAMESPACE><NAMESPACE "
    "NAME=\"terminalservices\"></NAMESPACE></LOCALNAMESPACEPATH>\n"
    "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"Win32_TSGatewayConnection\"/></"
    "IPARAMVALUE>\n"
    "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
    "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
    "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
    "<IPARAMVALUE NAME=\"IncludeClassOrigin\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
    "</IMETHODCALL></SIMPLEREQ>\n"
    "</MESSAGE></CIM>";

static const struct http_limits ROOMY = {
    .max_request_line = 8192,
    .max_header_line = 8192,
    .max_headers = 128,
    .max_header_bytes = 65536,
};

/* ---- helpers ---- */

struct outcome {
    ssize_t consumed; /* total bytes consumed, or -1 on error */
    int pstate;
    int status;
    char desc[16384]; /* everything above plus the parsed request, as text */
};

static void describe(const struct http_parser *p, ssize_t consumed, struct outcome *o)
{
    o->consumed = consumed;
    o->pstate = p->pstate;
    o->status = p->pstate == HTTP_PARSER_ERROR ? p->error_status : 0;
    int n = snprintf(o->desc, sizeof o->desc, "pstate=%d status=%d consumed=%zd", o->pstate,
                     o->status, consumed);
    if (p->pstate != HTTP_PARSER_DONE)
        return;
    const struct http_request *r = &p->req;
    n += snprintf(o->desc + n, sizeof o->desc - (size_t)n, "|%s|%s|1.%d|cl=%lld|chunked=%d",
                  r->method, r->target, r->version_minor, (long long)r->content_length,
                  (int)r->chunked);
    for (unsigned i = 0; i < r->nheaders && (size_t)n < sizeof o->desc; i++)
        n += snprintf(o->desc + n, sizeof o->desc - (size_t)n, "|[%s]=[%s]", r->headers[i].name,
                      r->headers[i].value);
    assert_true((size_t)n < sizeof o->desc);
}

/* Feeds d[0, len): a first piece of `first` bytes, then pieces of `step` bytes. Leaves the
 * parser as it ends up (the caller may inspect and must free it). */
static void feed_pieces(struct http_parser *p, const struct http_limits *lim, const void *d,
                        size_t len, size_t first, size_t step, struct outcome *o)
{
    const uint8_t *b = d;
    assert_int_equal(http_parser_init(p, lim), 0);
    size_t off = 0;
    ssize_t total = 0;
    size_t piece = first;
    while (off < len) {
        if (piece > len - off)
            piece = len - off;
        ssize_t r = http_parser_feed(p, b + off, piece);
        if (r < 0) {
            assert_int_equal(r, -1);
            assert_int_equal(p->pstate, HTTP_PARSER_ERROR);
            total = -1;
            break;
        }
        assert_true((size_t)r <= piece);
        total += r;
        if ((size_t)r < piece) {
            assert_int_equal(p->pstate, HTTP_PARSER_DONE);
            break;
        }
        off += piece;
        piece = step;
    }
    /* Feeding after DONE / ERROR consumes nothing. */
    if (p->pstate != HTTP_PARSER_HEADERS)
        assert_int_equal(http_parser_feed(p, (const uint8_t *)"x", 1), 0);
    describe(p, total, o);
}

/* Runs all feeding patterns and checks they agree; *whole gets the one-feed outcome and p the
 * one-feed parser (caller frees). */
static void parse_all_ways(struct http_parser *p, const struct http_limits *lim, const void *d,
                           size_t len, struct outcome *whole)
{
    static struct outcome o;
    struct http_parser q;
    feed_pieces(p, lim, d, len, len ? len : 1, len ? len : 1, whole);
    for (size_t k = 0; k <= len; k++) {
        feed_pieces(&q, lim, d, len, k, len ? len : 1, &o);
        if (strcmp(o.desc, whole->desc) != 0)
            fail_msg("split at %zu: %s\nwhole: %s", k, o.desc, whole->desc);
        http_parser_free(&q);
    }
    feed_pieces(&q, lim, d, len, 1, 1, &o);
    assert_string_equal(o.desc, whole->desc);
    http_parser_free(&q);
}

/* Parses a string all ways with the given limits and returns the status (0 when DONE, -1 when
 * more input is needed). */
static int status_lim(const struct http_limits *lim, const char *s)
{
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, lim, s, strlen(s), &o);
    int st = p.pstate == HTTP_PARSER_DONE ? 0 : p.pstate == HTTP_PARSER_ERROR ? p.error_status : -1;
    http_parser_free(&p);
    return st;
}

static int status_of(const char *s)
{
    return status_lim(&ROOMY, s);
}

/* Concatenates NULL-terminated string arguments into a malloc'd string. */
static char *cat(const char *first, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    char *r = malloc(n + 1);
    assert_non_null(r);
    r[0] = '\0';
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        strcat(r, s);
    va_end(ap);
    return r;
}

static char *rep(char c, size_t n)
{
    char *r = malloc(n + 1);
    assert_non_null(r);
    memset(r, c, n);
    r[n] = '\0';
    return r;
}

/* ---- real peers ---- */

static void test_freerdp_out_type1(void **state)
{
    (void)state;
    /* Trailing bytes (as if a body or the next request followed) must not be consumed. */
    char *in = cat(FREERDP_OUT_T1, "\x82\x8e\xaf\x27", NULL);
    size_t hlen = strlen(FREERDP_OUT_T1);
    assert_int_equal(hlen, 411);
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, in, strlen(in), &o);
    assert_int_equal(o.pstate, HTTP_PARSER_DONE);
    assert_int_equal(o.consumed, 411);
    const struct http_request *r = &p.req;
    assert_string_equal(r->method, "RDG_OUT_DATA");
    assert_string_equal(r->target, "/remoteDesktopGateway/");
    assert_int_equal(r->version_minor, 1);
    assert_int_equal(r->nheaders, 12);
    assert_int_equal(r->content_length, 0);
    assert_false(r->chunked);
    assert_string_equal(r->headers[0].name, "Cache-Control");
    assert_string_equal(r->headers[0].value, "no-cache");
    assert_string_equal(r->headers[11].name, "Authorization");
    /* FreeRDP spells it Sec-Websocket-*; lookups are case-insensitive. */
    assert_string_equal(http_request_header(r, "Sec-WebSocket-Key"), "IC^\\_JB]QE@YL@J");
    assert_string_equal(http_request_header(r, "sec-websocket-version"), "13");
    assert_string_equal(http_request_header(r, "AUTHORIZATION"),
                        "NTLM TlRMTVNTUAABAAAAt4II4gAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==");
    assert_string_equal(http_request_header(r, "RDG-Connection-Id"),
                        "{1b5c68bc-fbe0-5ba2-cbbf-eb3d2e454983}");
    assert_string_equal(http_request_header(r, "Host"), "127.0.0.1");
    assert_null(http_request_header(r, "RDG-Auth-Scheme"));
    assert_true(http_header_has_token(http_request_header(r, "Connection"), "upgrade"));
    assert_true(http_header_has_token(http_request_header(r, "Upgrade"), "WebSocket"));
    http_parser_free(&p);
    free(in);
}

static void test_freerdp_out_type3(void **state)
{
    (void)state;
    assert_int_equal(strlen(FREERDP_OUT_T3), 859);
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, FREERDP_OUT_T3, strlen(FREERDP_OUT_T3), &o);
    assert_int_equal(o.consumed, 859);
    const char *a = http_request_header(&p.req, "authorization");
    assert_non_null(a);
    assert_int_equal(strncmp(a, "NTLM TlRMTVNTUAADAAAA", 21), 0);
    assert_int_equal(a[strlen(a) - 1], '=');
    http_parser_free(&p);
}

static void test_legacy_in_chunked(void **state)
{
    (void)state;
    size_t hlen = strlen(LEGACY_IN_HDR), clen = sizeof LEGACY_IN_CHUNK - 1;
    uint8_t in[1024];
    memcpy(in, LEGACY_IN_HDR, hlen);
    memcpy(in + hlen, LEGACY_IN_CHUNK, clen);
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, in, hlen + clen, &o);
    assert_int_equal(o.pstate, HTTP_PARSER_DONE);
    assert_int_equal(o.consumed, (ssize_t)hlen);
    assert_string_equal(p.req.method, "RDG_IN_DATA");
    assert_true(p.req.chunked);
    assert_int_equal(p.req.content_length, -1);
    assert_null(http_request_header(&p.req, "Authorization"));
    assert_true(http_header_has_token(http_request_header(&p.req, "Connection"), "keep-alive"));
    http_parser_free(&p);
}

static void test_wbemcli_post(void **state)
{
    (void)state;
    assert_int_equal(strlen(WBEM_BODY), 745);
    char *in = cat(WBEM_HDR, WBEM_BODY, NULL);
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, in, strlen(in), &o);
    assert_int_equal(o.pstate, HTTP_PARSER_DONE);
    assert_int_equal(o.consumed, (ssize_t)strlen(WBEM_HDR));
    assert_string_equal(p.req.method, "POST");
    assert_string_equal(p.req.target, "/cimom");
    assert_int_equal(p.req.content_length, 745);
    assert_false(p.req.chunked);
    assert_string_equal(http_request_header(&p.req, "content-type"),
                        "application/xml; charset=\"utf-8\"");
    assert_string_equal(http_request_header(&p.req, "CIMObject"),
                        "root%2Fcimv2%2Fterminalservices");
    assert_true(http_header_has_token(http_request_header(&p.req, "Connection"), "TE"));
    assert_true(http_header_has_token(http_request_header(&p.req, "Connection"), "keep-alive"));
    assert_false(http_header_has_token(http_request_header(&p.req, "Connection"), "close"));
    http_parser_free(&p);
    free(in);
}

/* Two pipelined requests on one connection, with reset in between. */
static void test_reset_pipelined(void **state)
{
    (void)state;
    char *in = cat(FREERDP_OUT_T1, FREERDP_OUT_T3, NULL);
    size_t len = strlen(in);
    struct http_parser p;
    assert_int_equal(http_parser_init(&p, &ROOMY), 0);
    ssize_t r = http_parser_feed(&p, (const uint8_t *)in, len);
    assert_int_equal(r, 411);
    assert_int_equal(p.pstate, HTTP_PARSER_DONE);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)in + r, len - (size_t)r), 0);
    http_parser_reset(&p);
    assert_int_equal(p.pstate, HTTP_PARSER_HEADERS);
    ssize_t r2 = http_parser_feed(&p, (const uint8_t *)in + r, len - (size_t)r);
    assert_int_equal(r2, 859);
    assert_int_equal(p.pstate, HTTP_PARSER_DONE);
    assert_string_equal(p.req.method, "RDG_OUT_DATA");
    assert_int_equal(strncmp(http_request_header(&p.req, "Authorization"), "NTLM TlRMTVNTUAAD", 17),
                     0);
    /* reset after an error too */
    http_parser_reset(&p);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)"GET / HTTP/1.1\r\nA : b\r\n", 23), -1);
    assert_int_equal(p.error_status, 400);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)"x", 1), 0);
    http_parser_reset(&p);
    assert_int_equal(p.error_status, 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18), 18);
    assert_int_equal(p.req.version_minor, 0);
    assert_int_equal(p.req.nheaders, 0);
    assert_int_equal(p.req.content_length, -1);
    http_parser_free(&p);
    http_parser_free(&p); /* idempotent */
    free(in);
}

/* ---- accepted syntax ---- */

static void test_accepts(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(status_of("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(status_of("GET / HTTP/1.1\n\n"), 0);             /* bare LF */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nA: b\n\r\n"), 0);   /* mixed */
    assert_int_equal(status_of("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 0); /* leading empties */
    assert_int_equal(status_of("\n\r\nGET / HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(status_of("RPC_IN_DATA /rpc/rpcproxy.dll?localhost:3388 HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(status_of("M-._~!#$%&'*+^`| * HTTP/1.1\r\n\r\n"), 0);      /* all tchars */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX:\r\n\r\n"), 0);             /* empty value */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX: \t \r\n\r\n"), 0);         /* blank value */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n"), 0);        /* HTAB inside */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n"), 0); /* obs-text */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"), 0);
    assert_int_equal(
        status_of("GET / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\n"), 0);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n"), 0);
    /* incomplete input: neither done nor error */
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n"), -1);
    assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r"), -1);
    assert_int_equal(status_of(""), -1);
}

static void test_values_trimmed(void **state)
{
    (void)state;
    static const char req[] = "GET /x?y=1 HTTP/1.1\r\n"
                              "A:b\r\n"
                              "B: \t spaced out \t \r\n"
                              "C:\r\n"
                              "D:   \r\n"
                              "Content-Length:  42 \r\n"
                              "\r\n";
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, req, strlen(req), &o);
    assert_int_equal(o.pstate, HTTP_PARSER_DONE);
    assert_string_equal(p.req.target, "/x?y=1");
    assert_string_equal(http_request_header(&p.req, "a"), "b");
    assert_string_equal(http_request_header(&p.req, "b"), "spaced out");
    assert_string_equal(http_request_header(&p.req, "c"), "");
    assert_string_equal(http_request_header(&p.req, "d"), "");
    assert_int_equal(p.req.content_length, 42);
    assert_null(http_request_header(&p.req, "E"));
    assert_null(http_request_header(&p.req, "content-lengt"));
    http_parser_free(&p);
}

static void test_header_lookup_first(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nX-A: one\r\nx-a: two\r\n\r\n";
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, req, strlen(req), &o);
    assert_string_equal(http_request_header(&p.req, "X-a"), "one");
    assert_string_equal(p.req.headers[1].name, "x-a"); /* case preserved */
    http_parser_free(&p);
}

static void test_has_token(void **state)
{
    (void)state;
    assert_true(http_header_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(http_header_has_token("Upgrade", "UPGRADE"));
    assert_true(http_header_has_token(" ,, upgrade ,", "upgrade"));
    assert_true(http_header_has_token("a,\tupgrade\t,b", "upgrade"));
    assert_false(http_header_has_token("upgrades", "upgrade"));
    assert_false(http_header_has_token("upgrad", "upgrade"));
    assert_false(http_header_has_token("x-upgrade", "upgrade"));
    assert_false(http_header_has_token("keep alive", "keep"));
    assert_false(http_header_has_token("", "upgrade"));
    assert_false(http_header_has_token(" , ,", "upgrade"));
    assert_false(http_header_has_token(NULL, "upgrade"));
}

/* ---- 400 ---- */

static void test_400_syntax(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\rX: y\r\n\r\n",          /* lone CR in request line */
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",     /* lone CR in value */
        "GET / HTTP/1.1\r\n\r\r\n",              /* lone CR on the final line */
        "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  /* obs-fold */
        "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", /* obs-fold with HTAB */
        "GET / HTTP/1.1\r\n X: a\r\n\r\n",       /* first header line starting with SP */
        "GET / HTTP/1.1\r\nX : a\r\n\r\n",       /* space before colon */
        "GET / HTTP/1.1\r\nX\t: a\r\n\r\n",      /* HTAB before colon */
        "GET / HTTP/1.1\r\nX a\r\n\r\n",         /* missing colon */
        "GET / HTTP/1.1\r\nXa\r\n\r\n",          /* missing colon */
        "GET / HTTP/1.1\r\n: a\r\n\r\n",         /* empty name */
        "GET / HTTP/1.1\r\nX(y): a\r\n\r\n",     /* non-token name */
        "GET / HTTP/1.1\r\nX\x80: a\r\n\r\n",    /* non-ASCII name */
        "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",    /* CTL in value */
        "GET / HTTP/1.1\r\nX: \037b\r\n\r\n",    /* US (0x1f) in value */
        "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",    /* DEL in value */
        "GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n",  /* ESC in value */
        " GET / HTTP/1.1\r\n\r\n",               /* leading space */
        "GET  / HTTP/1.1\r\n\r\n",               /* double space */
        "GET / HTTP/1.1 \r\n\r\n",               /* trailing space */
        "GET /  HTTP/1.1\r\n\r\n",
        "GET\t/ HTTP/1.1\r\n\r\n",    /* HTAB separator */
        "GET /\tx HTTP/1.1\r\n\r\n",  /* HTAB in target */
        "GET /\x80 HTTP/1.1\r\n\r\n", /* non-ASCII target */
        "GET /\x7f HTTP/1.1\r\n\r\n", /* DEL in target */
        "GET HTTP/1.1\r\n\r\n",       /* missing target */
        "GET /\r\n\r\n",              /* HTTP/0.9 style */
        "GET\r\n\r\n",
        "/ HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n", /* non-token method */
        "GET / http/1.1\r\n\r\n", /* case-sensitive HTTP-name */
        "GET / HTTP/1.x\r\n\r\n", /* garbage versions */
        "GET / HTTP/11\r\n\r\n",
        "GET / HTTP/1.1x\r\n\r\n",
        "GET / HTTP/1.\r\n\r\n",
        "GET / HTTP/1\r\n\r\n",
        "GET / HTTP/1.10\r\n\r\n",
        "GET / HTTP/\r\n\r\n",
        "GET / HTTPS/1.1\r\n\r\n",
        "GET / HTTP/1,1\r\n\r\n",
        " \r\nGET / HTTP/1.1\r\n\r\n", /* whitespace-only leading line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(bad[i]);
        if (st != 400)
            fail_msg("case %zu: got %d", i, st);
    }
}

static void parse_bytes_expect(const void *d, size_t len, int status)
{
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &ROOMY, d, len, &o);
    assert_int_equal(o.pstate, HTTP_PARSER_ERROR);
    assert_int_equal(o.status, status);
    http_parser_free(&p);
}

static void test_400_nul(void **state)
{
    (void)state;
    static const char v[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    parse_bytes_expect(v, sizeof v - 1, 400);
    static const char n[] = "GET / HTTP/1.1\r\nX\0: a\r\n\r\n";
    parse_bytes_expect(n, sizeof n - 1, 400);
    static const char m[] = "GE\0T / HTTP/1.1\r\n\r\n";
    parse_bytes_expect(m, sizeof m - 1, 400);
    static const char t[] = "GET /\0 HTTP/1.1\r\n\r\n";
    parse_bytes_expect(t, sizeof t - 1, 400);
}

static void test_400_content_length(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length:  \r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", /* 2^63 */
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\ncontent-length: 0\r\nCONTENT-LENGTH: 00001\r\n\r\n",
        /* smuggling: both framings */
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        /* Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 §6.1) */
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(bad[i]);
        if (st != 400)
            fail_msg("case %zu: got %d", i, st);
    }
}

/* ---- 501 / 505 ---- */

static void test_501_transfer_encoding(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(bad[i]);
        if (st != 501)
            fail_msg("case %zu: got %d", i, st);
    }
}

static void test_505_version(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.2\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.9\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/3.1\r\n\r\n"), 505);
    assert_int_equal(status_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
}

/* ---- limits: exactly at the limit is accepted, one more byte is rejected ---- */

static void test_limit_request_line(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_request_line = 64;
    /* "GET " + target + " HTTP/1.1" = 13 + target */
    char *t = rep('a', 64 - 13 - 1);
    char *ok = cat("GET /", t, " HTTP/1.1\r\n\r\n", NULL);
    char *over = cat("GET /a", t, " HTTP/1.1\r\n\r\n", NULL);
    assert_int_equal(strlen(ok), 64 + 4);
    assert_int_equal(status_lim(&lim, ok), 0);
    assert_int_equal(status_lim(&lim, over), 414);
    /* the same with bare LF, and after leading empty lines (which are not part of the line) */
    char *ok_lf = cat("GET /", t, " HTTP/1.1\n\n", NULL);
    char *over_lf = cat("GET /a", t, " HTTP/1.1\n\n", NULL);
    assert_int_equal(status_lim(&lim, ok_lf), 0);
    assert_int_equal(status_lim(&lim, over_lf), 414);
    char *lead_ok = cat("\r\n\n", ok, NULL);
    char *lead_over = cat("\r\n\n", over, NULL);
    assert_int_equal(status_lim(&lim, lead_ok), 0);
    assert_int_equal(status_lim(&lim, lead_over), 414);
    /* over the limit even with no end in sight: rejected as soon as byte 65 arrives */
    char *long_t = rep('b', 200);
    char *longer = cat("GET /", long_t, NULL);
    assert_int_equal(status_lim(&lim, longer), 414);
    free(t);
    free(ok);
    free(over);
    free(ok_lf);
    free(over_lf);
    free(lead_ok);
    free(lead_over);
    free(long_t);
    free(longer);
}

static void test_limit_header_line(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_header_line = 40;
    char *v = rep('v', 40 - 3);
    char *ok = cat("GET / HTTP/1.1\r\nX: ", v, "\r\n\r\n", NULL);
    char *over = cat("GET / HTTP/1.1\r\nX: v", v, "\r\n\r\n", NULL);
    char *ok_lf = cat("GET / HTTP/1.1\nX: ", v, "\n\n", NULL);
    char *over_lf = cat("GET / HTTP/1.1\nX: v", v, "\n\n", NULL);
    assert_int_equal(status_lim(&lim, ok), 0);
    assert_int_equal(status_lim(&lim, over), 431);
    assert_int_equal(status_lim(&lim, ok_lf), 0);
    assert_int_equal(status_lim(&lim, over_lf), 431);
    /* trailing whitespace counts: it is part of the line even though it is trimmed */
    char *ws_over = cat("GET / HTTP/1.1\r\nX: ", v, " \r\n\r\n", NULL);
    assert_int_equal(status_lim(&lim, ws_over), 431);
    /* the request line is governed by its own limit, not this one */
    char *t = rep('t', 60);
    char *long_rl = cat("GET /", t, " HTTP/1.1\r\n\r\n", NULL);
    assert_int_equal(status_lim(&lim, long_rl), 0);
    free(v);
    free(ok);
    free(over);
    free(ok_lf);
    free(over_lf);
    free(ws_over);
    free(t);
    free(long_rl);
}

static char *n_headers(unsigned n)
{
    size_t cap = 32 + (size_t)n * 16;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t off = (size_t)snprintf(s, cap, "GET / HTTP/1.1\r\n");
    for (unsigned i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "H%u: %u\r\n", i, i);
    snprintf(s + off, cap - off, "\r\n");
    return s;
}

static void test_limit_header_count(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_headers = 10;
    char *ok = n_headers(10), *over = n_headers(11);
    assert_int_equal(status_lim(&lim, ok), 0);
    assert_int_equal(status_lim(&lim, over), 431);
    free(ok);
    free(over);
    /* the hard cap applies even when the configured limit is larger */
    lim.max_headers = 1000;
    ok = n_headers(HTTP_MAX_HEADERS_HARD);
    over = n_headers(HTTP_MAX_HEADERS_HARD + 1);
    struct http_parser p;
    static struct outcome o;
    parse_all_ways(&p, &lim, ok, strlen(ok), &o);
    assert_int_equal(o.pstate, HTTP_PARSER_DONE);
    assert_int_equal(p.req.nheaders, HTTP_MAX_HEADERS_HARD);
    assert_string_equal(http_request_header(&p.req, "h127"), "127");
    http_parser_free(&p);
    assert_int_equal(status_lim(&lim, over), 431);
    /* zero headers allowed */
    lim.max_headers = 0;
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\nA: b\r\n\r\n"), 431);
    free(ok);
    free(over);
}

static void test_limit_header_bytes(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_header_bytes = 100;
    /* "GET / HTTP/1.1\r\n" (16) + "X: " value "\r\n" (5 + n) + "\r\n" (2) = 23 + n */
    char *v = rep('v', 100 - 23);
    char *ok = cat("GET / HTTP/1.1\r\nX: ", v, "\r\n\r\n", NULL);
    char *over = cat("GET / HTTP/1.1\r\nX: v", v, "\r\n\r\n", NULL);
    assert_int_equal(strlen(ok), 100);
    assert_int_equal(status_lim(&lim, ok), 0);
    assert_int_equal(status_lim(&lim, over), 431);
    /* the block ends at the limit; bytes after it are body, not counted */
    char *ok_body = cat(ok, "BODYBYTES", NULL);
    assert_int_equal(status_lim(&lim, ok_body), 0);
    /* leading empty lines count toward the total */
    char *v2 = rep('v', 100 - 23 - 2);
    char *lead_ok = cat("\r\nGET / HTTP/1.1\r\nX: ", v2, "\r\n\r\n", NULL);
    char *lead_over = cat("\r\nGET / HTTP/1.1\r\nX: v", v2, "\r\n\r\n", NULL);
    assert_int_equal(strlen(lead_ok), 100);
    assert_int_equal(status_lim(&lim, lead_ok), 0);
    assert_int_equal(status_lim(&lim, lead_over), 431);
    /* endless empty lines are bounded too */
    char *blank = rep('\n', 101);
    assert_int_equal(status_lim(&lim, blank), 431);
    /* many small headers under the per-line and count limits still hit the total */
    char *many = n_headers(20);
    assert_int_equal(status_lim(&lim, many), 431);
    free(v);
    free(ok);
    free(over);
    free(ok_body);
    free(v2);
    free(lead_ok);
    free(lead_over);
    free(blank);
    free(many);
}

static void test_limit_zero_bytes(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_header_bytes = 0;
    assert_int_equal(status_lim(&lim, "G"), 431);
    lim = ROOMY;
    lim.max_request_line = 0;
    assert_int_equal(status_lim(&lim, "G"), 414);
    assert_int_equal(status_lim(&lim, "\r\n"), -1);
}

/* Runs of ordinary bytes are copied at once: when a run crosses both the line cap and the block
 * cap, the status is the one the first byte over either cap gives (the line cap is checked
 * first), whatever the split. */
static void test_limit_run_crosses_both(void **state)
{
    (void)state;
    struct http_limits lim = ROOMY;
    lim.max_request_line = 10;
    lim.max_header_bytes = 10;
    assert_int_equal(status_lim(&lim, "GET /aaaaaaaaaaaaaaaa"), 414); /* both at byte 11 */
    lim.max_header_bytes = 9;
    assert_int_equal(status_lim(&lim, "GET /aaaaaaaaaaaaaaaa"), 431); /* the block first */
    lim.max_header_bytes = 11;
    assert_int_equal(status_lim(&lim, "GET /aaaaaaaaaaaaaaaa"), 414); /* the line first */
    /* a header line: the block cap is reached inside the second line */
    lim = ROOMY;
    lim.max_header_line = 8;
    lim.max_header_bytes = 24; /* "GET / HTTP/1.1\r\n" is 16 */
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\nAbcdefgh\r\n"), 431);
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\nA: bcdef\r\n\r\n"), 431);
    lim.max_header_bytes = 30;
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\nA: bcdef\r\n\r\n"), 0);
    assert_int_equal(status_lim(&lim, "GET / HTTP/1.1\r\nA: bcdefg\r\n\r\n"), 431);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freerdp_out_type1),
        cmocka_unit_test(test_limit_run_crosses_both),
        cmocka_unit_test(test_freerdp_out_type3),
        cmocka_unit_test(test_legacy_in_chunked),
        cmocka_unit_test(test_wbemcli_post),
        cmocka_unit_test(test_reset_pipelined),
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_values_trimmed),
        cmocka_unit_test(test_header_lookup_first),
        cmocka_unit_test(test_has_token),
        cmocka_unit_test(test_400_syntax),
        cmocka_unit_test(test_400_nul),
        cmocka_unit_test(test_400_content_length),
        cmocka_unit_test(test_501_transfer_encoding),
        cmocka_unit_test(test_505_version),
        cmocka_unit_test(test_limit_request_line),
        cmocka_unit_test(test_limit_header_line),
        cmocka_unit_test(test_limit_header_count),
        cmocka_unit_test(test_limit_header_bytes),
        cmocka_unit_test(test_limit_zero_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
