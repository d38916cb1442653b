/* Unit tests for the stderr batching of the log sink (src/core/logsink.c, issue 16): lines of a
 * batching thread wait for sink_flush (or a full buffer), in order; other threads' lines go out
 * at once, after what was collected; off writes every line at once. fd 2 is a pipe here. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/logsink.h"

static int g_pipe[2] = {-1, -1};
static int g_saved_stderr = -1;
static char g_got[65536];

static int setup(void **state)
{
    (void)state;
    if (pipe(g_pipe) < 0)
        return -1;
    fcntl(g_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(g_pipe[1], F_SETPIPE_SZ, 1 << 20); /* the size-bound test writes more than 64 KiB */
    g_saved_stderr = dup(2);
    dup2(g_pipe[1], 2);
    sink_set_target(SINK_STDERR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sink_batch(false);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    close(g_pipe[0]);
    close(g_pipe[1]);
    return 0;
}

/* Everything written to fd 2 so far, as a string (empty when nothing). */
static const char *drain(void)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(g_pipe[0], g_got + n, sizeof g_got - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    g_got[n] = 0;
    return g_got;
}

static void test_unbatched_at_once(void **state)
{
    (void)state;
    sink_msg(2, "line one", "line one");
    assert_string_equal(drain(), "line one\n");
    sink_flush(); /* nothing pending: nothing written */
    assert_string_equal(drain(), "");
}

static void test_batched_until_flush(void **state)
{
    (void)state;
    sink_batch(true);
    sink_msg(2, "first", "first");
    sink_msg(1, "second", "second");
    assert_string_equal(drain(), "");
    sink_flush();
    assert_string_equal(drain(), "first\nsecond\n");
    sink_flush();
    assert_string_equal(drain(), "");
    sink_msg(2, "third", "third");
    sink_batch(false); /* off writes what is pending */
    assert_string_equal(drain(), "third\n");
    sink_msg(2, "fourth", "fourth");
    assert_string_equal(drain(), "fourth\n");
}

static void *other_thread(void *arg)
{
    (void)arg;
    sink_msg(2, "from a worker", "from a worker");
    return NULL;
}

static void test_other_thread_at_once_in_order(void **state)
{
    (void)state;
    sink_batch(true);
    sink_msg(2, "loop line", "loop line");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_join(th, NULL);
    /* the worker's line went out at once, after the loop's pending one */
    assert_string_equal(drain(), "loop line\nfrom a worker\n");
    sink_batch(false);
    assert_string_equal(drain(), "");
}

static void test_size_bound(void **state)
{
    (void)state;
    char line[1001];
    memset(line, 'x', 1000);
    line[1000] = 0;
    sink_batch(true);
    for (int i = 0; i < 40; i++) /* 40,040 bytes: more than the 16 KiB buffer */
        sink_msg(2, line, line);
    size_t early = strlen(drain());
    assert_true(early > 0 && early < 40040);
    assert_int_equal(early % 1001, 0); /* whole lines only */
    sink_flush();
    assert_int_equal(early + strlen(drain()), 40040);
    /* a line longer than the buffer goes out whole, after what was pending */
    static char big[20000];
    memset(big, 'y', sizeof big - 1);
    sink_msg(2, "short", "short");
    sink_msg(2, big, big);
    const char *got = drain();
    assert_int_equal(strlen(got), 6 + sizeof big);
    assert_memory_equal(got, "short\ny", 7);
    sink_batch(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbatched_at_once),
        cmocka_unit_test(test_batched_until_flush),
        cmocka_unit_test(test_other_thread_at_once_in_order),
        cmocka_unit_test(test_size_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
