/* Unit tests for TLS output coalescing (src/tls/tls_out.c, tls.h): real TLS 1.3 connections over
 * socketpairs, with the server's socket writes counted at the socket BIO. Corked, the two session
 * tickets OpenSSL sends when the handshake ends and the first answer reach the socket in one
 * write, and the client still gets both tickets; a flush the socket takes only in part keeps
 * the rest, reports it, and completes later with nothing reordered (later writes wait behind
 * it); released, the filter leaves and writes go straight to the socket; a close sends what
 * was collected with the close_notify; a client that closed TCP without a close_notify is sent
 * no alert, one that sent its close_notify gets ours. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"
#include "tls_fixture.h"

static struct tls_ctx srv;
static SSL_CTX *cli_ctx;
static int tickets; /* session tickets the client received */

struct pair {
    SSL *s, *c;
    int fds[2];
    int writes; /* successful write()s on the server's socket BIO */
};
static struct pair P;

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    tickets++;
    return 0; /* not kept */
}

static long count_writes(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                         int ret, size_t *processed)
{
    (void)b, (void)argp, (void)len, (void)argi, (void)argl, (void)processed;
    if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0)
        P.writes++;
    return ret;
}

static int setup(void **state)
{
    (void)state;
    tls_fixture_ctx(&srv, "test_tls_out", false);
    cli_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cli_ctx);
    SSL_CTX_set_min_proto_version(cli_ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(cli_ctx, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(cli_ctx, on_new_session);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    SSL_CTX_free(cli_ctx);
    tls_ctx_free(&srv);
    return 0;
}

static void open_pair(void)
{
    memset(&P, 0, sizeof P);
    tickets = 0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, P.fds), 0);
    P.s = tls_accept_new(&srv, P.fds[0]);
    assert_non_null(P.s);
    /* the filter is in place on the write side; the read side is the socket BIO itself */
    assert_ptr_not_equal(SSL_get_wbio(P.s), SSL_get_rbio(P.s));
    BIO_set_callback_ex(SSL_get_rbio(P.s), count_writes);
    P.c = SSL_new(cli_ctx);
    assert_non_null(P.c);
    SSL_set_fd(P.c, P.fds[1]);
    SSL_set_connect_state(P.c);
}

static void close_pair(void)
{
    tls_conn_free(P.s);
    SSL_free(P.c);
    close(P.fds[0]);
    close(P.fds[1]);
    P.s = P.c = NULL;
}

/* Runs the handshake until the client is done (it has sent its Finished) and the server waits
 * for that Finished; the server's last step is left to the test. */
static void handshake_until_client_finished(void)
{
    bool c_done = false;
    for (int i = 0; i < 20 && !c_done; i++) {
        int r = SSL_do_handshake(P.c);
        if (r == 1)
            c_done = true;
        else
            assert_int_equal(SSL_get_error(P.c, r), SSL_ERROR_WANT_READ);
        ERR_clear_error();
        if (!c_done)
            assert_int_equal(tls_handshake(P.s), TLS_WANT_READ);
    }
    assert_true(c_done);
}

/* Bytes the client can read without waiting (the server's socket writes so far). */
static bool client_has_input(void)
{
    char b;
    return recv(P.fds[1], &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Reads exactly n application bytes on the client (nonblocking, bounded). */
static void client_read(char *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < 10000 && got < n; i++) {
        int r = SSL_read(P.c, out + got, (int)(n - got));
        if (r > 0)
            got += (size_t)r;
        else
            assert_int_equal(SSL_get_error(P.c, r), SSL_ERROR_WANT_READ);
    }
    assert_int_equal(got, n);
}

static void test_tickets_and_answer_in_one_write(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    /* the request travels with the client's Finished, as tsgw-load and FreeRDP send it */
    assert_int_equal(SSL_write(P.c, "request", 7), 7);
    int before = P.writes;
    assert_true(before >= 1); /* the server flight */

    tls_cork(P.s);
    assert_int_equal(tls_handshake(P.s), 1); /* the tickets are written here */
    char buf[32];
    assert_int_equal(tls_read(P.s, buf, sizeof buf), 7);
    assert_memory_equal(buf, "request", 7);
    assert_int_equal(tls_write(P.s, "answer", 6), 6);
    assert_true(tls_out_held(P.s));
    assert_int_equal(P.writes, before); /* nothing reached the socket yet */
    assert_false(client_has_input());
    assert_int_equal(tls_uncork(P.s), 1);
    assert_int_equal(P.writes, before + 1); /* tickets and answer: one write */
    assert_false(tls_out_held(P.s));

    client_read(buf, 6);
    assert_memory_equal(buf, "answer", 6);
    assert_int_equal(tickets, 2); /* both tickets were sent, before the answer */
    close_pair();
}

static void test_uncorked_and_nested(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    assert_int_equal(tls_handshake(P.s), 1); /* uncorked: tickets flushed by OpenSSL itself */
    int w = P.writes;
    assert_int_equal(tls_write(P.s, "a", 1), 1);
    assert_int_equal(P.writes, w + 1); /* uncorked writes go at once */
    tls_cork(P.s);
    tls_cork(P.s);
    assert_int_equal(tls_write(P.s, "b", 1), 1);
    assert_int_equal(tls_uncork(P.s), 1); /* inner: still corked */
    assert_int_equal(tls_write(P.s, "c", 1), 1);
    assert_int_equal(P.writes, w + 1);
    /* a forced push (an answer before a close) writes even while corked */
    assert_int_equal(tls_out_push(P.s, false), 1);
    assert_int_equal(P.writes, w + 1);
    assert_int_equal(tls_out_push(P.s, true), 1);
    assert_int_equal(P.writes, w + 2);
    assert_int_equal(tls_write(P.s, "d", 1), 1);
    assert_int_equal(tls_uncork(P.s), 1);
    assert_int_equal(P.writes, w + 3);
    char buf[4];
    client_read(buf, 4);
    assert_memory_equal(buf, "abcd", 4);
    close_pair();
}

/* Drains the client side (the server's socket fills up otherwise) into got. */
static size_t client_drain(unsigned char *got, size_t have, size_t cap)
{
    for (int i = 0; i < 1000; i++) {
        int r = SSL_read(P.c, got + have, (int)(cap - have));
        if (r <= 0) {
            assert_int_equal(SSL_get_error(P.c, r), SSL_ERROR_WANT_READ);
            break;
        }
        have += (size_t)r;
    }
    return have;
}

static void test_partial_flush_completes(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    assert_int_equal(tls_handshake(P.s), 1);
    /* a small send buffer: the held output cannot go in one write */
    int sz = 4096;
    assert_int_equal(setsockopt(P.fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    char t;
    assert_true(SSL_read(P.c, &t, 1) <= 0); /* the client takes the tickets */
    assert_int_equal(tickets, 2);
    enum { N = 3, REC = 4000 };
    static unsigned char want[N * REC + 4], got[N * REC + 4];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (unsigned char)(i * 7 + 3);
    tls_cork(P.s);
    for (int i = 0; i < N; i++)
        assert_int_equal(tls_write(P.s, want + i * REC, REC), REC);
    assert_false(client_has_input());
    int r = tls_uncork(P.s);
    assert_int_equal(r, TLS_WANT_WRITE); /* the socket took part of it */
    assert_true(tls_out_held(P.s));
    assert_true(tls_out_blocked(P.s));
    assert_true(client_has_input());
    /* an uncorked write now waits behind what is held: nothing may overtake it */
    assert_int_equal(tls_write(P.s, want + N * REC, 4), TLS_WANT_WRITE);
    /* the client reads, the server pushes again when writable, until all is out */
    size_t have = 0;
    int turns = 0;
    for (; turns < 100 && tls_out_push(P.s, false) != 1; turns++)
        have = client_drain(got, have, sizeof got);
    assert_true(turns < 100);
    assert_false(tls_out_held(P.s));
    assert_false(tls_out_blocked(P.s));
    /* the refused record is retried (same bytes) and follows */
    ssize_t w = TLS_WANT_WRITE;
    for (int i = 0; i < 100 && w == TLS_WANT_WRITE; i++) {
        w = tls_write(P.s, want + N * REC, 4);
        have = client_drain(got, have, sizeof got);
    }
    assert_int_equal(w, 4);
    for (int i = 0; i < 100 && have < sizeof got; i++)
        have = client_drain(got, have, sizeof got);
    assert_int_equal(have, sizeof want);
    assert_memory_equal(got, want, sizeof want);
    close_pair();
}

static void test_more_than_the_cap_keeps_order(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    assert_int_equal(tls_handshake(P.s), 1);
    static unsigned char want[40000], got[40000];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (unsigned char)(i * 13 + 1);
    tls_cork(P.s);
    assert_int_equal(tls_write(P.s, want, 100), 100); /* held */
    /* a full record does not fit next to it: what is held goes first, then the rest */
    size_t off = 100;
    while (off < sizeof want) {
        ssize_t n = tls_write(P.s, want + off, sizeof want - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(tls_uncork(P.s), 1);
    size_t have = 0;
    for (int i = 0; i < 100 && have < sizeof got; i++)
        have = client_drain(got, have, sizeof got);
    assert_int_equal(have, sizeof want);
    assert_memory_equal(got, want, sizeof want);
    close_pair();
}

static void test_release_removes_the_filter(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    tls_cork(P.s);
    assert_int_equal(tls_handshake(P.s), 1);
    assert_int_equal(tls_write(P.s, "x", 1), 1);
    /* released while it holds output (in a turn): it stays until that is out */
    tls_out_release(P.s);
    assert_ptr_not_equal(SSL_get_wbio(P.s), SSL_get_rbio(P.s));
    int w = P.writes;
    /* released: no longer collected; what is held goes first, then this */
    assert_int_equal(tls_write(P.s, "y", 1), 1);
    assert_int_equal(P.writes, w + 2);
    assert_int_equal(tls_uncork(P.s), 1);
    assert_int_equal(P.writes, w + 2);
    /* gone: the socket BIO writes for the SSL again, and cork does nothing */
    assert_ptr_equal(SSL_get_wbio(P.s), SSL_get_rbio(P.s));
    tls_cork(P.s);
    assert_int_equal(tls_write(P.s, "z", 1), 1);
    assert_int_equal(P.writes, w + 3);
    assert_false(tls_out_held(P.s));
    assert_int_equal(tls_uncork(P.s), 1);
    char buf[3];
    client_read(buf, 3);
    assert_memory_equal(buf, "xyz", 3);
    assert_int_equal(tickets, 2);
    close_pair(); /* the socket BIO is freed once (ASan checks) */
}

static void test_close_sends_what_was_collected(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    tls_cork(P.s);
    assert_int_equal(tls_handshake(P.s), 1);
    assert_int_equal(tls_write(P.s, "bye", 3), 3);
    tls_shutdown(P.s);
    int w = P.writes;
    assert_false(client_has_input());
    tls_out_end(P.s);
    assert_int_equal(P.writes, w + 1);
    char buf[3];
    client_read(buf, 3);
    assert_memory_equal(buf, "bye", 3);
    int r = SSL_read(P.c, buf, 3);
    assert_int_equal(SSL_get_error(P.c, r), SSL_ERROR_ZERO_RETURN); /* close_notify */
    close_pair();
}

/* The client ends the TCP stream without a close_notify (as FreeRDP ends a tunnel): the
 * server reads an end of stream and writes nothing more (no fatal alert, no close_notify),
 * although the socket would still take it. */
static void test_no_alert_when_the_client_is_gone(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    assert_int_equal(tls_handshake(P.s), 1);
    assert_int_equal(shutdown(P.fds[1], SHUT_WR), 0);
    int w = P.writes;
    char buf[8];
    assert_int_equal(tls_read(P.s, buf, sizeof buf), TLS_EOF);
    tls_shutdown(P.s);
    tls_out_end(P.s);
    assert_int_equal(P.writes, w);
    close_pair();
}

/* A client that sends its close_notify gets ours (RFC 8446 6.1). */
static void test_close_notify_answered(void **state)
{
    (void)state;
    open_pair();
    handshake_until_client_finished();
    assert_int_equal(tls_handshake(P.s), 1);
    assert_true(SSL_shutdown(P.c) >= 0);
    int w = P.writes;
    char buf[8];
    assert_int_equal(tls_read(P.s, buf, sizeof buf), TLS_EOF);
    tls_shutdown(P.s);
    assert_int_equal(P.writes, w + 1);
    assert_int_equal(SSL_shutdown(P.c), 1); /* the client got it */
    close_pair();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tickets_and_answer_in_one_write),
        cmocka_unit_test(test_uncorked_and_nested),
        cmocka_unit_test(test_partial_flush_completes),
        cmocka_unit_test(test_more_than_the_cap_keeps_order),
        cmocka_unit_test(test_release_removes_the_filter),
        cmocka_unit_test(test_close_sends_what_was_collected),
        cmocka_unit_test(test_no_alert_when_the_client_is_gone),
        cmocka_unit_test(test_close_notify_answered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
