/* Unit tests for logon failure accounting (src/guard/logon_guard.c): per (address, account),
 * per account, per address; growing backoff; known-good addresses; expiry and lifting with
 * their events; bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard/logon_guard.h"

static struct lg_config cfg = {
    .per_pair = 3,
    .per_account = 10,
    .per_address = 25,
    .window_ms = 60000,
    .block_ms = 2000,
    .block_max_ms = 10000,
};

struct evlog {
    int started, ended;
    char last_why[200];
    enum lg_kind last_kind;
    uint32_t last_len;
};

static void on_ev(void *arg, const struct lg_block *b, bool started, const char *why)
{
    struct evlog *l = arg;
    if (started)
        l->started++;
    else
        l->ended++;
    snprintf(l->last_why, sizeof l->last_why, "%s", why);
    l->last_kind = b->kind;
    l->last_len = b->block_ms;
}

static void bad(struct logon_guard *g, const char *addr, const char *acct, uint64_t now,
                struct evlog *l)
{
    lg_failure(g, &cfg, addr, acct, now, on_ev, l);
}

static void test_pair_block_spares_others(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    struct lg_block b;
    assert_int_equal(lg_init(&g, 1000), 0);
    bad(&g, "10.0.0.1", "CONTOSO\\bob", 1000, &l);
    bad(&g, "10.0.0.1", "contoso\\BOB", 1100, &l); /* accounts compare without case */
    assert_false(lg_blocked(&g, "10.0.0.1", "CONTOSO\\bob", 1200, &b));
    bad(&g, "10.0.0.1", "CONTOSO\\bob", 1200, &l);
    assert_int_equal(l.started, 1);
    assert_int_equal(l.last_kind, LG_PAIR);
    assert_non_null(strstr(l.last_why, "3 failed logons for this account from this address"));
    assert_true(lg_blocked(&g, "10.0.0.1", "CONTOSO\\bob", 1300, &b));
    assert_int_equal(b.kind, LG_PAIR);
    assert_int_equal(b.until_ms, 3200);
    /* the right password of another account from the same address is not blocked */
    assert_false(lg_blocked(&g, "10.0.0.1", "CONTOSO\\alice", 1300, &b));
    assert_false(lg_blocked(&g, "10.0.0.1", NULL, 1300, &b));
    /* nor bob from elsewhere */
    assert_false(lg_blocked(&g, "10.0.0.2", "CONTOSO\\bob", 1300, &b));
    /* expiry */
    lg_expire(&g, 3199, on_ev, &l);
    assert_int_equal(l.ended, 0);
    lg_expire(&g, 3200, on_ev, &l);
    assert_int_equal(l.ended, 1);
    assert_string_equal(l.last_why, "expired");
    assert_false(lg_blocked(&g, "10.0.0.1", "CONTOSO\\bob", 3300, &b));
    assert_int_equal(g.nblocked, 0);
    lg_free(&g);
}

static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    lg_init(&g, 1000);
    cfg.per_account = 1000; /* this test is about one pair */
    uint64_t now = 0;
    uint32_t want[] = {2000, 4000, 8000, 10000, 10000};
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 3; i++)
            bad(&g, "10.0.0.1", "x\\y", now += 10, &l);
        assert_int_equal(l.started, k + 1);
        assert_int_equal(l.last_len, want[k]);
        /* failures while blocked do not count */
        bad(&g, "10.0.0.1", "x\\y", now + 1, &l);
        assert_int_equal(l.started, k + 1);
        now += want[k];
        lg_expire(&g, now, on_ev, &l);
    }
    /* a quiet spell as long as the longest block forgets the backoff */
    now += 10001;
    for (int i = 0; i < 3; i++)
        bad(&g, "10.0.0.1", "x\\y", now += 10, &l);
    assert_int_equal(l.last_len, 2000);
    cfg.per_account = 10;
    lg_free(&g);
}

static void test_address_block_high_threshold(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    struct lg_block b;
    lg_init(&g, 1000);
    char acct[32];
    for (int i = 0; i < 24; i++) {
        snprintf(acct, sizeof acct, "C\\user%d", i); /* a guesser trying many accounts */
        bad(&g, "192.0.2.9", acct, 1000 + (uint64_t)i, &l);
    }
    assert_false(lg_blocked(&g, "192.0.2.9", NULL, 2000, &b));
    assert_false(lg_blocked(&g, "192.0.2.9", "C\\alice", 2000, &b));
    bad(&g, "192.0.2.9", "C\\user99", 2000, &l);
    assert_true(lg_blocked(&g, "192.0.2.9", NULL, 2001, &b));
    assert_int_equal(b.kind, LG_ADDRESS);
    assert_true(lg_blocked(&g, "192.0.2.9", "C\\alice", 2001, &b));
    assert_false(lg_blocked(&g, "192.0.2.10", "C\\alice", 2001, &b));
    lg_free(&g);
}

static void test_account_spray_and_known_good(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    struct lg_block b;
    lg_init(&g, 1000);
    lg_success(&g, "10.9.9.9", "C\\ceo", 10); /* the owner's usual address */
    char addr[32];
    for (int i = 0; i < 10; i++) { /* distributed guessing: one try per address */
        snprintf(addr, sizeof addr, "203.0.113.%d", i);
        bad(&g, addr, "C\\ceo", 1000 + (uint64_t)i, &l);
    }
    assert_int_equal(l.started, 1);
    assert_int_equal(l.last_kind, LG_ACCOUNT);
    assert_true(lg_blocked(&g, "203.0.113.77", "C\\ceo", 1100, &b));
    assert_int_equal(b.kind, LG_ACCOUNT);
    assert_false(lg_blocked(&g, "10.9.9.9", "C\\ceo", 1100, &b));
    assert_false(lg_blocked(&g, "203.0.113.77", "C\\other", 1100, &b));
    lg_free(&g);
}

static void test_success_resets_pair(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    lg_init(&g, 1000);
    bad(&g, "a", "u", 1, &l);
    bad(&g, "a", "u", 2, &l);
    lg_success(&g, "a", "u", 3);
    bad(&g, "a", "u", 4, &l);
    bad(&g, "a", "u", 5, &l);
    assert_int_equal(l.started, 0);
    bad(&g, "a", "u", 6, &l);
    assert_int_equal(l.started, 1);
    /* the window: old failures are forgotten */
    bad(&g, "b", "u2", 10, &l);
    bad(&g, "b", "u2", 20, &l);
    bad(&g, "b", "u2", 20 + 60001, &l);
    assert_int_equal(l.started, 1);
    lg_free(&g);
}

static int nlisted;
static void count_cb(void *arg, const struct lg_block *b)
{
    (void)arg;
    (void)b;
    nlisted++;
}

static void test_lift(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    struct lg_block b;
    lg_init(&g, 1000);
    for (int i = 0; i < 3; i++) {
        bad(&g, "a1", "C\\u1", 10, &l);
        bad(&g, "a1", "C\\u2", 10, &l);
        bad(&g, "a2", "C\\u1", 10, &l);
    }
    assert_int_equal(g.nblocked, 3);
    nlisted = 0;
    lg_foreach_blocked(&g, 11, count_cb, NULL);
    assert_int_equal(nlisted, 3);
    assert_int_equal(lg_lift(&g, "nobody", 11, on_ev, &l), 0);
    assert_int_equal(lg_lift(&g, "a1 c\\U2", 11, on_ev, &l), 1);
    assert_string_equal(l.last_why, "lifted by an administrator");
    assert_false(lg_blocked(&g, "a1", "C\\u2", 12, &b));
    assert_int_equal(lg_lift(&g, "c\\u1", 11, on_ev, &l), 2);
    assert_int_equal(g.nblocked, 0);
    assert_int_equal(l.ended, 3);
    /* a lifted pair starts from scratch (no grown backoff) */
    for (int i = 0; i < 3; i++)
        bad(&g, "a1", "C\\u1", 20, &l);
    assert_int_equal(l.last_len, 2000);
    lg_free(&g);
}

static void test_bounded(void **state)
{
    (void)state;
    struct logon_guard g;
    struct evlog l = {0};
    lg_init(&g, 100);
    char acct[32], addr[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(acct, sizeof acct, "C\\spray%d", i);
        snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        bad(&g, addr, acct, (uint64_t)i, &l);
        assert_true(g.n <= 100);
    }
    /* an overlong account name is cut, not overflowed */
    char longname[1000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    for (int i = 0; i < 3; i++)
        bad(&g, "1.2.3.4", longname, 30000, &l);
    struct lg_block b;
    assert_true(lg_blocked(&g, "1.2.3.4", longname, 30001, &b));
    lg_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_block_spares_others),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_address_block_high_threshold),
        cmocka_unit_test(test_account_spray_and_known_good),
        cmocka_unit_test(test_success_resets_pair),
        cmocka_unit_test(test_lift),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
