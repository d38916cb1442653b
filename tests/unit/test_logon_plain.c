/* The logon of a gateway request over a connection without TLS (in process, over a socketpair,
 * as tests/fuzz/fuzz_tunnel.c drives the daemon): with [auth] basic = yes, a right Basic
 * password is still refused and Basic is not offered, because Basic is accepted over TLS only.
 * (Through tsgwd itself every gateway listener is TLS: tests/e2e/test_mstsc.sh shows Basic
 * working there, and a clear-text request getting no answer.) Also: the offer list, and a raw
 * NTLM NEGOTIATE under "Negotiate" answered under "Negotiate". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/ntlm.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/logon_limit.h"

static struct gateway *gw;

static int setup(void **state)
{
    (void)state;
    log_set_level(-1);
    log_set_events(0);
    gw = calloc(1, sizeof *gw);
    gw->cfg = config_new();
    static const char conf[] = "[gateway]\nlisten = 127.0.0.1:1\ncertificate = c\nprivate-key = k\n"
                               "[auth]\nusers-file = /nonexistent/users\nbasic = yes\n"
                               "netbios-domain = CONTOSO\n"
                               "[cap:all]\nuser-groups = *\n";
    struct buf errors = BUF_INIT;
    assert_int_equal(config_load_string(conf, "t.conf", "/", gw->cfg, &errors), 0);
    buf_free(&errors);
    assert_int_equal(loop_init(&gw->loop), 0);
    assert_int_equal(reg_init(&gw->reg), 0);
    assert_int_equal(reg_init(&gw->chanless), 0);
    assert_int_equal(logon_limit_init(gw), 0);
    gw->http_lim = (struct http_limits){.max_request_line = 4096,
                                        .max_header_line = 8192,
                                        .max_headers = 64,
                                        .max_header_bytes = 16384};
    logon_configure(gw);
    uint8_t h[16];
    assert_int_equal(ntlm_nt_hash("Secret1", h), 0);
    assert_int_equal(user_store_put(&gw->users, "CONTOSO", "alice", h, "Users", ""), 0);
    return 0;
}

/* Sends one request on a fresh plain connection; returns what the gateway wrote back. */
static void exchange(const char *req, char *out, size_t outsz, bool *authed)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct conn *c = calloc(1, sizeof *c);
    c->gw = gw;
    conn_attach_fd(c, sv[0]);
    str_copy(c->peer_str, "127.0.0.9", sizeof c->peer_str);
    /* what accept allocates: the setup state and a private identity */
    c->hp = calloc(1, sizeof *c->hp);
    c->logon = calloc(1, sizeof *c->logon);
    c->who = identity_new();
    assert_non_null(c->hp);
    assert_non_null(c->logon);
    assert_non_null(c->who);
    assert_int_equal(http_parser_init(c->hp, &gw->http_lim), 0);
    c->phase = CONN_HTTP;
    c->in.cap_limit = 1u << 20;
    gw->conns = c;
    gw->nconns = 1;
    buf_append(&c->in, req, strlen(req));
    conn_process(c);
    *authed = c->authed;
    ssize_t n = recv(sv[1], out, outsz - 1, 0);
    out[n > 0 ? n : 0] = 0;
    if (!c->dead)
        conn_close(c, "test done");
    gw_reap(gw);
    close(sv[1]);
}

static void test_basic_not_over_plain(void **state)
{
    (void)state;
    char out[2048];
    bool authed = true;
    /* "CONTOSO\alice:Secret1" */
    exchange("RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: gw\r\n"
             "Authorization: Basic Q09OVE9TT1xhbGljZTpTZWNyZXQx\r\n\r\n",
             out, sizeof out, &authed);
    assert_false(authed);
    assert_non_null(strstr(out, "HTTP/1.1 401 "));
    assert_non_null(strstr(out, "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"));
    assert_null(strstr(out, "Basic"));
}

static void test_negotiate_raw_ntlm(void **state)
{
    (void)state;
    char out[4096];
    bool authed = true;
    /* mstsc's captured NEGOTIATE under "Negotiate": the CHALLENGE comes back under it */
    exchange("RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: gw\r\nAuthorization: "
             "Negotiate TlRMTVNTUAABAAAAl4II4gAAAAAAAAAAAAAAAAAAAAAKAF1YAAAADw==\r\n\r\n",
             out, sizeof out, &authed);
    assert_false(authed);
    assert_non_null(strstr(out, "HTTP/1.1 401 "));
    assert_non_null(strstr(out, "WWW-Authenticate: Negotiate TlRMTVNTUAACAAAA"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_not_over_plain),
        cmocka_unit_test(test_negotiate_raw_ntlm),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
