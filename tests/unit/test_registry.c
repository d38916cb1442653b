/* Unit tests for the live connection registry (src/registry/registry.c): indexing by key and by
 * user, duplicates, growth, removal in every order, iteration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "registry/registry.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* An entry's user name points to storage its owner keeps (a tunnel's shared identity): here a
 * pool that outlives every test's entries (reused round-robin, larger than any one test). */
static char name_pool[16384][64];
static size_t name_next;

static void set_entry(struct reg_entry *e, uint64_t tunnel, uint32_t channel, const char *user)
{
    memset(e, 0, sizeof *e);
    e->tunnel_id = tunnel;
    e->channel_id = channel;
    char *n = name_pool[name_next++ % N(name_pool)];
    snprintf(n, sizeof name_pool[0], "%s", user);
    e->user = n;
}

struct visit {
    size_t calls;
    struct reg_entry *base; /* entries array, to index seen[] */
    size_t n;
    unsigned *seen;
};

static void count_visit(struct reg_entry *e, void *ctx)
{
    struct visit *v = ctx;
    v->calls++;
    if (v->base && e >= v->base && e < v->base + v->n)
        v->seen[e - v->base]++;
}

/* Checks that exactly the linked entries of es[0..n) are findable, by key and by foreach. */
static void check_consistent(const struct registry *r, struct reg_entry *es, size_t n)
{
    size_t linked = 0;
    for (size_t i = 0; i < n; i++) {
        struct reg_entry *f = reg_find(r, es[i].tunnel_id, es[i].channel_id);
        if (es[i].linked) {
            linked++;
            if (f != &es[i])
                fail_msg("entry %zu (%llu:%u) not found", i, (unsigned long long)es[i].tunnel_id,
                         es[i].channel_id);
        } else if (f == &es[i]) {
            fail_msg("removed entry %zu still found", i);
        }
    }
    assert_int_equal(r->count, linked);
    unsigned *seen = calloc(n ? n : 1, sizeof *seen);
    assert_non_null(seen);
    struct visit v = {.base = es, .n = n, .seen = seen};
    reg_foreach(r, count_visit, &v);
    assert_int_equal(v.calls, linked);
    for (size_t i = 0; i < n; i++)
        if (seen[i] != (es[i].linked ? 1u : 0u))
            fail_msg("entry %zu visited %u times", i, seen[i]);
    free(seen);
}

static void test_init_empty(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    assert_int_equal(r.count, 0);
    assert_true(r.nbuckets > 0);
    assert_int_equal(r.nbuckets & (r.nbuckets - 1), 0); /* a power of two */
    assert_null(reg_find(&r, 1, 1));
    struct reg_entry *out[2];
    assert_int_equal(reg_find_user(&r, "CORP\\alice", out, 2), 0);
    struct visit v = {0};
    reg_foreach(&r, count_visit, &v);
    assert_int_equal(v.calls, 0);
    reg_free(&r);
    /* a freed registry answers "nothing" */
    assert_null(reg_find(&r, 1, 1));
    assert_int_equal(reg_find_user(&r, "x", out, 2), 0);
    reg_foreach(&r, count_visit, &v);
    assert_int_equal(v.calls, 0);
    reg_free(&r); /* twice is harmless */
    /* a freed (or zeroed) registry takes an insert: it grows to its first size */
    struct reg_entry e = {.tunnel_id = 7, .channel_id = 0, .user = "CORP\\alice"};
    assert_int_equal(reg_add(&r, &e), 0);
    assert_true(r.nbuckets > 0);
    assert_ptr_equal(reg_find(&r, 7, 0), &e);
    assert_int_equal(reg_find_user(&r, "corp\\ALICE", out, 2), 1);
    reg_remove(&r, &e);
    assert_int_equal(r.count, 0);
    reg_free(&r);
}

static void test_add_find_remove(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    struct reg_entry a, b, c;
    set_entry(&a, 1, 1, "CORP\\alice");
    set_entry(&b, 1, 2, "CORP\\alice");
    set_entry(&c, 2, 1, "CORP\\bob");
    assert_int_equal(reg_add(&r, &a), 0);
    assert_int_equal(reg_add(&r, &b), 0);
    assert_int_equal(reg_add(&r, &c), 0);
    assert_int_equal(r.count, 3);
    assert_true(a.linked && b.linked && c.linked);
    assert_ptr_equal(reg_find(&r, 1, 1), &a);
    assert_ptr_equal(reg_find(&r, 1, 2), &b);
    assert_ptr_equal(reg_find(&r, 2, 1), &c);
    assert_null(reg_find(&r, 2, 2));
    assert_null(reg_find(&r, 0, 0));
    assert_null(reg_find(&r, 1, 3));

    /* adding a linked entry again is a no-op */
    assert_int_equal(reg_add(&r, &a), 0);
    assert_int_equal(r.count, 3);

    reg_remove(&r, &b);
    assert_false(b.linked);
    assert_null(reg_find(&r, 1, 2));
    assert_ptr_equal(reg_find(&r, 1, 1), &a);
    assert_int_equal(r.count, 2);
    /* removing twice is a no-op */
    reg_remove(&r, &b);
    assert_int_equal(r.count, 2);
    /* the key can be reused once removed */
    assert_int_equal(reg_add(&r, &b), 0);
    assert_ptr_equal(reg_find(&r, 1, 2), &b);
    reg_remove(&r, &a);
    reg_remove(&r, &b);
    reg_remove(&r, &c);
    assert_int_equal(r.count, 0);
    assert_null(reg_find(&r, 1, 1));
    reg_free(&r);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    struct reg_entry a, dup, other;
    set_entry(&a, 7, 3, "CORP\\alice");
    set_entry(&dup, 7, 3, "CORP\\bob");
    set_entry(&other, 7, 4, "CORP\\bob");
    assert_int_equal(reg_add(&r, &a), 0);
    assert_int_equal(reg_add(&r, &dup), -EEXIST);
    assert_false(dup.linked);
    assert_int_equal(r.count, 1);
    assert_ptr_equal(reg_find(&r, 7, 3), &a);
    struct reg_entry *out[4];
    assert_int_equal(reg_find_user(&r, "CORP\\bob", out, 4), 0);
    /* removing the rejected duplicate does not disturb the original */
    reg_remove(&r, &dup);
    assert_ptr_equal(reg_find(&r, 7, 3), &a);
    assert_int_equal(r.count, 1);
    assert_int_equal(reg_add(&r, &other), 0);
    assert_int_equal(reg_find_user(&r, "corp\\BOB", out, 4), 1);
    assert_ptr_equal(out[0], &other);
    reg_free(&r);
}

/* Keys that differ only in one half, and extreme values. */
static void test_key_shapes(void **state)
{
    (void)state;
    static const struct {
        uint64_t t;
        uint32_t c;
    } keys[] = {
        {0, 0},
        {0, 1},
        {1, 0},
        {UINT64_MAX, UINT32_MAX},
        {UINT64_MAX, 0},
        {0, UINT32_MAX},
        {1ull << 32, 1},
        {1, 1ull << 31},
        {5, 1},
        {1, 5},
        {0x100000000ull, 0},
    };
    struct reg_entry es[N(keys)];
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    for (size_t i = 0; i < N(keys); i++) {
        set_entry(&es[i], keys[i].t, keys[i].c, "U");
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    check_consistent(&r, es, N(keys));
    struct reg_entry *out[N(keys)];
    assert_int_equal(reg_find_user(&r, "u", out, N(keys)), N(keys));
    reg_free(&r);
}

static void test_find_user_case_and_exactness(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    static const char *const users[] = {
        "CORP\\alice",      "corp\\ALICE", "CORP\\alice2", "CORP\\alic",
        "OTHER\\alice",     "alice",       "CORP\\bob",    "",
        "CORP\\Ren\xc3\xa9"};
    struct reg_entry es[N(users)];
    for (size_t i = 0; i < N(users); i++) {
        set_entry(&es[i], 100 + i, 1, users[i]);
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    struct {
        const char *query;
        size_t n;
    } cases[] = {
        {"CORP\\alice", 2},
        {"Corp\\Alice", 2},
        {"CORP\\ALICE2", 1},
        {"corp\\alic", 1},
        {"OTHER\\ALICE", 1},
        {"ALICE", 1},
        {"corp\\bob", 1},
        {"", 1},
        {"CORP\\carol", 0},
        {"CORP\\", 0},
        {"\\alice", 0},
        {"CORP\\Ren\xc3\xa9", 1},
        /* only ASCII folds */
        {"CORP\\REN\xc3\xa9", 1},
        {"CORP\\Ren\xc3\x89", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct reg_entry *out[8] = {0};
        size_t n = reg_find_user(&r, cases[i].query, out, N(out));
        if (n != cases[i].n)
            fail_msg("find_user('%s') = %zu, want %zu", cases[i].query, n, cases[i].n);
        for (size_t k = 0; k < n; k++)
            if (strcasecmp(out[k]->user, cases[i].query) != 0)
                fail_msg("find_user('%s') returned '%s'", cases[i].query, out[k]->user);
    }
    reg_free(&r);
}

static void test_find_user_max(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    struct reg_entry es[10];
    for (size_t i = 0; i < N(es); i++) {
        set_entry(&es[i], 1, (uint32_t)i, "CORP\\many");
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    struct reg_entry *out[4] = {0};
    /* the total is returned even when it does not fit */
    assert_int_equal(reg_find_user(&r, "CORP\\many", out, 3), 10);
    assert_non_null(out[0]);
    assert_non_null(out[2]);
    assert_null(out[3]); /* nothing written past max */
    assert_int_equal(reg_find_user(&r, "CORP\\many", NULL, 0), 10);
    /* all ten distinct */
    struct reg_entry *all[10];
    assert_int_equal(reg_find_user(&r, "corp\\MANY", all, 10), 10);
    for (size_t i = 0; i < 10; i++)
        for (size_t k = i + 1; k < 10; k++)
            assert_ptr_not_equal(all[i], all[k]);
    reg_free(&r);
}

/* 5000 entries for 1000 users (many share a bucket): every user finds exactly its five. */
static void test_many_users(void **state)
{
    (void)state;
    enum { USERS = 1000, PER = 5, TOTAL = USERS * PER };
    struct reg_entry *es = calloc(TOTAL, sizeof *es);
    assert_non_null(es);
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    size_t initial = r.nbuckets;
    for (size_t i = 0; i < TOTAL; i++) {
        char name[64];
        size_t u = i % USERS;
        /* alternate the case so lookups must fold */
        snprintf(name, sizeof name, (i / USERS) % 2 ? "DOM\\USER%zu" : "dom\\user%zu", u);
        set_entry(&es[i], i / 3 + 1, (uint32_t)(i % 3), name);
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    assert_int_equal(r.count, TOTAL);
    assert_true(r.nbuckets > initial); /* it grew */
    assert_true(r.nbuckets >= TOTAL);
    check_consistent(&r, es, TOTAL);
    for (size_t u = 0; u < USERS; u++) {
        char q[64];
        snprintf(q, sizeof q, "Dom\\User%zu", u);
        struct reg_entry *out[PER + 2];
        size_t n = reg_find_user(&r, q, out, N(out));
        if (n != PER)
            fail_msg("user %zu: %zu entries", u, n);
        for (size_t k = 0; k < n; k++) {
            size_t idx = (size_t)(out[k] - es);
            if (idx >= TOTAL || idx % USERS != u)
                fail_msg("user %zu got entry %zu", u, idx);
            for (size_t j = k + 1; j < n; j++)
                assert_ptr_not_equal(out[k], out[j]);
        }
    }
    /* remove every other user's entries; the rest stay exact */
    for (size_t i = 0; i < TOTAL; i++)
        if ((i % USERS) % 2 == 0)
            reg_remove(&r, &es[i]);
    assert_int_equal(r.count, TOTAL / 2);
    for (size_t u = 0; u < USERS; u++) {
        char q[64];
        snprintf(q, sizeof q, "DOM\\user%zu", u);
        struct reg_entry *out[PER];
        assert_int_equal(reg_find_user(&r, q, out, PER), u % 2 ? PER : 0);
    }
    check_consistent(&r, es, TOTAL);
    reg_free(&r);
    free(es);
}

/* Growing past the initial bucket count several times keeps every entry findable. */
static void test_growth(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    size_t initial = r.nbuckets;
    size_t total = initial * 8 + 3;
    struct reg_entry *es = calloc(total, sizeof *es);
    assert_non_null(es);
    size_t last_buckets = r.nbuckets;
    for (size_t i = 0; i < total; i++) {
        char name[32];
        snprintf(name, sizeof name, "D\\u%zu", i % 37);
        set_entry(&es[i], (uint64_t)i << 20, (uint32_t)i, name);
        assert_int_equal(reg_add(&r, &es[i]), 0);
        if (r.nbuckets != last_buckets) {
            /* right after each growth, everything added so far is still there */
            assert_int_equal(r.nbuckets & (r.nbuckets - 1), 0);
            check_consistent(&r, es, i + 1);
            last_buckets = r.nbuckets;
        }
    }
    assert_true(r.nbuckets >= 8 * initial);
    check_consistent(&r, es, total);
    size_t sum = 0;
    for (size_t u = 0; u < 37; u++) {
        char q[32];
        snprintf(q, sizeof q, "d\\U%zu", u);
        sum += reg_find_user(&r, q, NULL, 0);
    }
    assert_int_equal(sum, total);
    reg_free(&r);
    free(es);
}

/* Removal from the front, the back, the middle, and in a shuffled order, with collisions
 * (small registry, many entries per bucket). */
static void remove_in_order(const size_t *order, size_t n)
{
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    struct reg_entry *es = calloc(n, sizeof *es);
    assert_non_null(es);
    for (size_t i = 0; i < n; i++) {
        set_entry(&es[i], 42, (uint32_t)i, i % 2 ? "D\\odd" : "D\\even");
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    for (size_t k = 0; k < n; k++) {
        reg_remove(&r, &es[order[k]]);
        check_consistent(&r, es, n);
        size_t odd = 0, even = 0;
        for (size_t i = 0; i < n; i++)
            if (es[i].linked && i % 2)
                odd++;
            else if (es[i].linked)
                even++;
        assert_int_equal(reg_find_user(&r, "d\\ODD", NULL, 0), odd);
        assert_int_equal(reg_find_user(&r, "d\\EVEN", NULL, 0), even);
    }
    assert_int_equal(r.count, 0);
    reg_free(&r);
    free(es);
}

static void test_remove_orders(void **state)
{
    (void)state;
    /* every permutation of 5 entries */
    enum { K = 5 };
    size_t perm[K] = {0, 1, 2, 3, 4};
    size_t c[K] = {0};
    remove_in_order(perm, K);
    size_t i = 0;
    unsigned count = 1;
    while (i < K) { /* Heap's algorithm */
        if (c[i] < i) {
            size_t j = i % 2 ? c[i] : 0;
            size_t t = perm[j];
            perm[j] = perm[i];
            perm[i] = t;
            remove_in_order(perm, K);
            count++;
            c[i]++;
            i = 0;
        } else {
            c[i] = 0;
            i++;
        }
    }
    assert_int_equal(count, 120);

    /* larger: forward, backward, interleaved, pseudo-random */
    enum { M = 300 };
    size_t order[M];
    for (size_t k = 0; k < M; k++)
        order[k] = k;
    remove_in_order(order, M);
    for (size_t k = 0; k < M; k++)
        order[k] = M - 1 - k;
    remove_in_order(order, M);
    for (size_t k = 0; k < M; k++)
        order[k] = k < M / 2 ? 2 * k : 2 * (k - M / 2) + 1;
    remove_in_order(order, M);
    uint32_t x = 12345;
    for (size_t k = 0; k < M; k++)
        order[k] = k;
    for (size_t k = M - 1; k > 0; k--) {
        x = x * 1103515245u + 12345u;
        size_t j = (x >> 8) % (k + 1);
        size_t t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    remove_in_order(order, M);
}

/* Entries can be removed and re-added many times (as channels close and open). */
static void test_churn(void **state)
{
    (void)state;
    struct registry r;
    assert_int_equal(reg_init(&r), 0);
    enum { M = 64 };
    struct reg_entry es[M];
    for (size_t i = 0; i < M; i++) {
        set_entry(&es[i], i + 1, 1, "D\\churn");
        assert_int_equal(reg_add(&r, &es[i]), 0);
    }
    uint32_t x = 7;
    for (int round = 0; round < 5000; round++) {
        x = x * 1664525u + 1013904223u;
        struct reg_entry *e = &es[(x >> 10) % M];
        if (e->linked)
            reg_remove(&r, e);
        else
            assert_int_equal(reg_add(&r, e), 0);
    }
    check_consistent(&r, es, M);
    size_t linked = 0;
    for (size_t i = 0; i < M; i++)
        linked += es[i].linked;
    assert_int_equal(reg_find_user(&r, "D\\CHURN", NULL, 0), linked);
    reg_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_key_shapes),
        cmocka_unit_test(test_find_user_case_and_exactness),
        cmocka_unit_test(test_find_user_max),
        cmocka_unit_test(test_many_users),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_remove_orders),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
