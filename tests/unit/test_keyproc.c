/* Unit tests for asynchronous signing through the key process (src/tls/keyproc.c, tls.c): real
 * TLS handshakes over socketpairs against an isolated key, several at once; each pauses for
 * its signature (TLS_WANT_ASYNC) and completes once the answer is read; a handshake freed while
 * it waits does not disturb the others. */
#include <errno.h>
#include <poll.h>
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

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/keyproc.h"
#include "tls/tls.h"
#include "tls_fixture.h"

#define NCONN 6

static struct tls_ctx srv;
static SSL_CTX *cli_ctx;

struct pair {
    SSL *s, *c;
    int fds[2];
    bool pending; /* the server side waits for the key process */
    int paused;   /* how often it returned TLS_WANT_ASYNC */
    bool s_done, c_done;
};
static struct pair P[NCONN];

static void on_wake(SSL *ssl)
{
    struct pair *p = tls_owner(ssl);
    assert_non_null(p);
    p->pending = false;
}

static int setup(void **state)
{
    (void)state;
    tls_fixture_ctx(&srv, "test_keyproc", true);
    assert_true(srv.key_isolated);
    assert_true(keyproc_fd() >= 0);
    keyproc_set_wake(on_wake);
    cli_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cli_ctx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    SSL_CTX_free(cli_ctx);
    tls_ctx_free(&srv);
    keyproc_stop();
    return 0;
}

static void open_pair(struct pair *p)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
    p->s = tls_accept_new(&srv, p->fds[0]);
    assert_non_null(p->s);
    tls_set_owner(p->s, p);
    p->c = SSL_new(cli_ctx);
    assert_non_null(p->c);
    SSL_set_fd(p->c, p->fds[1]);
    SSL_set_connect_state(p->c);
}

static void close_pair(struct pair *p)
{
    if (p->s)
        tls_conn_free(p->s);
    SSL_free(p->c);
    close(p->fds[0]);
    close(p->fds[1]);
    p->s = p->c = NULL;
}

/* One turn: every client and every server not waiting for a signature takes a step. */
static void step(struct pair *p)
{
    if (!p->c_done) {
        int r = SSL_do_handshake(p->c);
        if (r == 1)
            p->c_done = true;
        else
            assert_true(SSL_get_error(p->c, r) == SSL_ERROR_WANT_READ);
        ERR_clear_error();
    }
    if (!p->s_done && !p->pending) {
        int r = tls_handshake(p->s);
        if (r == 1)
            p->s_done = true;
        else if (r == TLS_WANT_ASYNC) {
            p->pending = true;
            p->paused++;
        } else {
            assert_int_equal(r, TLS_WANT_READ);
        }
    }
}

static void wait_answers(void)
{
    struct pollfd pfd = {.fd = keyproc_fd(), .events = POLLIN};
    if (poll(&pfd, 1, 200) > 0)
        assert_true(keyproc_on_readable() >= 0);
}

static void test_concurrent_handshakes_pause_and_finish(void **state)
{
    (void)state;
    for (int i = 0; i < NCONN; i++)
        open_pair(&P[i]);
    int max_pending = 0;
    for (int turn = 0; turn < 500; turn++) {
        bool all = true;
        for (int i = 0; i < NCONN; i++) {
            step(&P[i]);
            all = all && P[i].s_done && P[i].c_done;
        }
        if ((int)keyproc_pending() > max_pending)
            max_pending = (int)keyproc_pending();
        if (all)
            break;
        wait_answers();
    }
    for (int i = 0; i < NCONN; i++) {
        assert_true(P[i].s_done);
        assert_true(P[i].c_done);
        assert_true(P[i].paused >= 1); /* the signature did not block: it paused */
        /* the connection works: one record each way */
        char buf[16] = "";
        assert_int_equal(SSL_write(P[i].c, "ping", 4), 4);
        assert_int_equal(tls_read(P[i].s, buf, sizeof buf), 4);
        assert_memory_equal(buf, "ping", 4);
        assert_int_equal(tls_write(P[i].s, "pong", 4), 4);
        assert_int_equal(SSL_read(P[i].c, buf, sizeof buf), 4);
        assert_memory_equal(buf, "pong", 4);
    }
    /* the handshakes were in flight together, not one after the other */
    assert_true(max_pending >= 2);
    assert_int_equal(keyproc_pending(), 0);
    for (int i = 0; i < NCONN; i++)
        close_pair(&P[i]);
    /* the job pool's stacks are given back; the next handshakes (next test) get new ones */
    keyproc_trim();
}

static void test_freed_while_waiting(void **state)
{
    (void)state;
    struct pair *a = &P[0], *b = &P[1];
    open_pair(a);
    open_pair(b);
    /* both reach the signature */
    for (int turn = 0; turn < 50 && !(a->pending && b->pending); turn++) {
        step(a);
        step(b);
    }
    assert_true(a->pending);
    assert_true(b->pending);
    assert_int_equal(keyproc_pending(), 2);
    /* a goes away while its signature is in flight: its handshake fails, no job is left */
    tls_conn_free(a->s);
    a->s = NULL;
    /* b still completes: the answers stay in order */
    for (int turn = 0; turn < 200 && !(b->s_done && b->c_done); turn++) {
        if (b->pending)
            wait_answers();
        step(b);
    }
    assert_true(b->s_done);
    assert_true(b->c_done);
    for (int turn = 0; turn < 20 && keyproc_pending(); turn++)
        wait_answers();
    assert_int_equal(keyproc_pending(), 0);
    close_pair(a);
    close_pair(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_handshakes_pause_and_finish),
        cmocka_unit_test(test_freed_while_waiting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
