/* Unit tests for pre-authentication accounting (src/guard/preauth_table.c) and client address
 * keys (src/guard/addrkey.c): counts by key, victim choice (most slots, least progress, oldest),
 * removal in any order, a randomized check against a brute-force model. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/addrkey.h"
#include "guard/preauth_table.h"

static void key6(const char *a, unsigned prefix, char *out)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    addr_key((struct sockaddr *)&s, prefix, out, ADDRKEY_MAX);
}

static void test_addr_keys(void **state)
{
    (void)state;
    char k[ADDRKEY_MAX];
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.1.2.3", &s4.sin_addr);
    addr_key((struct sockaddr *)&s4, 64, k, sizeof k);
    assert_string_equal(k, "127.1.2.3");
    key6("2001:db8:1:2:3:4:5:6", 64, k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    key6("2001:db8:1:2:ffff::1", 64, k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    key6("2001:db8:1:2:3:4:5:6", 48, k);
    assert_string_equal(k, "2001:db8:1::/48");
    key6("2001:db8:1:2:3:4:5:6", 60, k);
    assert_string_equal(k, "2001:db8:1::/60");
    key6("2001:db8:1:1f:3:4:5:6", 60, k);
    assert_string_equal(k, "2001:db8:1:10::/60");
    key6("2001:db8:1:2:3:4:5:6", 128, k);
    assert_string_equal(k, "2001:db8:1:2:3:4:5:6");
    key6("::1", 64, k);
    assert_string_equal(k, "::/64");
    key6("::ffff:192.0.2.7", 64, k); /* IPv4-mapped counts as IPv4 */
    assert_string_equal(k, "192.0.2.7");
    addr_key_str("::ffff:192.0.2.7", 64, k, sizeof k);
    assert_string_equal(k, "192.0.2.7");
    addr_key_str("fd00::1:2", 64, k, sizeof k);
    assert_string_equal(k, "fd00::/64");
    addr_key_str("10.0.0.1", 64, k, sizeof k);
    assert_string_equal(k, "10.0.0.1");
    addr_key_str("not an address", 64, k, sizeof k);
    assert_string_equal(k, "not an address");
}

static void test_counts(void **state)
{
    (void)state;
    struct pa_table t;
    assert_int_equal(pa_init(&t), 0);
    struct pa_entry e[6] = {0};
    assert_null(pa_victim(&t));
    assert_int_equal(pa_add(&t, &e[0], "a", 1), 0);
    assert_int_equal(pa_add(&t, &e[1], "b", 2), 0);
    assert_int_equal(pa_add(&t, &e[2], "b", 3), 0);
    assert_int_equal(pa_count(&t, "a"), 1);
    assert_int_equal(pa_count(&t, "b"), 2);
    assert_int_equal(pa_count(&t, "c"), 0);
    assert_int_equal(t.total, 3);
    assert_int_equal(t.ngroups, 2);
    assert_string_equal(pa_key(&e[2]), "b");
    /* b holds most: its oldest goes first */
    assert_ptr_equal(pa_victim(&t), &e[1]);
    /* progress protects: e[1] finished TLS, e[2] did not */
    pa_set_level(&t, &e[1], PA_HTTP, 4);
    assert_ptr_equal(pa_victim(&t), &e[2]);
    pa_remove(&t, &e[2]);
    pa_remove(&t, &e[2]); /* twice: no-op */
    assert_int_equal(pa_count(&t, "b"), 1);
    /* a and b hold one each: a reached 1 first... but b dropped to 1 later: a is first */
    assert_ptr_equal(pa_victim(&t), &e[0]);
    pa_remove(&t, &e[0]);
    assert_ptr_equal(pa_victim(&t), &e[1]);
    pa_remove(&t, &e[1]);
    assert_null(pa_victim(&t));
    assert_int_equal(t.total, 0);
    assert_int_equal(t.ngroups, 0);
    assert_int_equal(t.max_count, 0);
    pa_free(&t);
}

/* The real user (one slot) is never chosen while a flooding address holds more. */
static void test_flood_spares_single(void **state)
{
    (void)state;
    struct pa_table t;
    pa_init(&t);
    static struct pa_entry fl[300 * 10];
    struct pa_entry user = {0};
    char k[32];
    for (int i = 0; i < 300 * 10; i++) {
        snprintf(k, sizeof k, "127.1.%d.%d", (i % 300) / 250, (i % 300) % 250);
        assert_int_equal(pa_add(&t, &fl[i], k, (uint64_t)i), 0);
        pa_set_level(&t, &fl[i], PA_HTTP, (uint64_t)i);
    }
    assert_int_equal(pa_add(&t, &user, "127.0.0.1", 5000), 0);
    for (int n = 0; n < 2900; n++) {
        struct pa_entry *v = pa_victim(&t);
        assert_non_null(v);
        assert_ptr_not_equal(v, &user);
        pa_remove(&t, v);
        /* the flood comes back */
        snprintf(k, sizeof k, "127.1.0.%d", n % 7);
        assert_int_equal(pa_add(&t, v, k, 6000 + (uint64_t)n), 0);
        struct pa_entry *w = pa_victim(&t);
        assert_string_not_equal(pa_key(w), "127.0.0.1");
    }
    pa_free(&t);
}

/* Random operations against a brute-force model of the same rules. */
static void test_random_model(void **state)
{
    (void)state;
    enum { N = 400, K = 23 };
    static struct pa_entry e[N];
    static int key_of[N];
    static uint64_t order[N]; /* arrival at current level, strictly increasing */
    memset(e, 0, sizeof e);
    struct pa_table t;
    pa_init(&t);
    srand(12345);
    uint64_t clock = 0;
    for (int step = 0; step < 200000; step++) {
        int i = rand() % N;
        char k[16];
        if (!e[i].g) {
            key_of[i] = rand() % K;
            snprintf(k, sizeof k, "k%d", key_of[i]);
            assert_int_equal(pa_add(&t, &e[i], k, ++clock), 0);
            order[i] = clock;
        } else if (rand() % 3 == 0) {
            unsigned l = (unsigned)(rand() % PA_LEVELS);
            if (l != e[i].level) {
                pa_set_level(&t, &e[i], l, ++clock);
                order[i] = clock;
            }
        } else {
            pa_remove(&t, &e[i]);
        }
        if (step % 97)
            continue;
        /* model: counts, max, victim among the groups at max */
        unsigned cnt[K] = {0}, max = 0, total = 0;
        for (int j = 0; j < N; j++)
            if (e[j].g) {
                cnt[key_of[j]]++;
                total++;
            }
        for (int j = 0; j < K; j++) {
            snprintf(k, sizeof k, "k%d", j);
            assert_int_equal(pa_count(&t, k), cnt[j]);
            if (cnt[j] > max)
                max = cnt[j];
        }
        assert_int_equal(t.total, total);
        assert_int_equal(t.max_count, max);
        struct pa_entry *v = pa_victim(&t);
        if (!total) {
            assert_null(v);
            continue;
        }
        int vi = (int)(v - e);
        assert_int_equal(cnt[key_of[vi]], max);
        for (int j = 0; j < N; j++)
            if (e[j].g && key_of[j] == key_of[vi]) {
                assert_true(e[j].level >= v->level);
                if (e[j].level == v->level)
                    assert_true(order[j] >= order[vi]);
            }
    }
    pa_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_keys),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_flood_spares_single),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
