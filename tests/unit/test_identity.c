/* Unit tests for the shared identities (src/daemon/identity.c): equal logons share one copy,
 * different ones do not, references keep a shared identity alive until the last one goes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/identity.h"

static struct logon_identity *make(const char *account, const char *groups)
{
    struct logon_identity *id = identity_new();
    assert_non_null(id);
    snprintf(id->account, sizeof id->account, "%s", account);
    snprintf(id->groups, sizeof id->groups, "%s", groups);
    snprintf(id->method, sizeof id->method, "NTLM");
    return id;
}

static void test_equal_logons_share(void **state)
{
    (void)state;
    assert_int_equal(identity_count(), 0);
    struct logon_identity *a = identity_share(make("CONTOSO\\alice", "RDG Users"));
    struct logon_identity *b = identity_share(make("CONTOSO\\alice", "RDG Users"));
    assert_ptr_equal(a, b);
    assert_int_equal(identity_count(), 1);
    assert_string_equal(a->account, "CONTOSO\\alice");
    /* sharing a shared identity again changes nothing */
    assert_ptr_equal(identity_share(a), a);
    identity_put(a);
    /* b still holds it */
    assert_int_equal(identity_count(), 1);
    assert_string_equal(b->groups, "RDG Users");
    identity_put(b);
    assert_int_equal(identity_count(), 0);
}

static void test_different_logons_do_not_share(void **state)
{
    (void)state;
    /* same account, other groups (a different proof); other case of the name; other account */
    struct logon_identity *a = identity_share(make("CONTOSO\\alice", "RDG Users"));
    struct logon_identity *b = identity_share(make("CONTOSO\\alice", "RDG Users;Admins"));
    struct logon_identity *c = identity_share(make("contoso\\ALICE", "RDG Users"));
    struct logon_identity *d = identity_share(make("CONTOSO\\bob", "RDG Users"));
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(a, d);
    assert_ptr_not_equal(b, c);
    assert_int_equal(identity_count(), 4);
    assert_string_equal(b->groups, "RDG Users;Admins");
    identity_put(a);
    identity_put(b);
    identity_put(c);
    identity_put(d);
    assert_int_equal(identity_count(), 0);
}

static void test_refs_and_private(void **state)
{
    (void)state;
    /* a private identity is not in the table and dies with its last reference */
    struct logon_identity *p = make("CONTOSO\\carol", "");
    assert_ptr_equal(identity_ref(p), p);
    identity_put(p);
    assert_int_equal(identity_count(), 0);
    identity_put(p);
    assert_null(identity_share(NULL));
    assert_null(identity_ref(NULL));
    identity_put(NULL);
    /* many users, many references each: the table grows and every user keeps its one copy */
    enum { USERS = 500, REFS = 4 };
    static struct logon_identity *ids[USERS][REFS];
    for (int r = 0; r < REFS; r++)
        for (int u = 0; u < USERS; u++) {
            char name[64];
            snprintf(name, sizeof name, "CONTOSO\\u%d", u);
            ids[u][r] = identity_share(make(name, "RDG Users"));
            assert_ptr_equal(ids[u][r], ids[u][0]);
        }
    assert_int_equal(identity_count(), USERS);
    for (int u = 0; u < USERS; u++)
        for (int r = 0; r < REFS; r++)
            identity_put(ids[u][r]);
    assert_int_equal(identity_count(), 0);
}

/* A shared copy ends after its SIDs: every field still reads back whole, SIDs count. */
static void test_trimmed_copy(void **state)
{
    (void)state;
    struct logon_identity *p = make("AD\\dave", "Domain Users;RDG Users");
    snprintf(p->full_name, sizeof p->full_name, "Dave D.");
    snprintf(p->sids, sizeof p->sids, "S-1-5-21-1-2-3-1104;S-1-5-21-1-2-3-513");
    struct logon_identity *a = identity_share(p);
    assert_string_equal(a->account, "AD\\dave");
    assert_string_equal(a->full_name, "Dave D.");
    assert_string_equal(a->groups, "Domain Users;RDG Users");
    assert_string_equal(a->method, "NTLM");
    assert_string_equal(a->sids, "S-1-5-21-1-2-3-1104;S-1-5-21-1-2-3-513");
    struct logon_identity *q = make("AD\\dave", "Domain Users;RDG Users");
    snprintf(q->full_name, sizeof q->full_name, "Dave D.");
    snprintf(q->sids, sizeof q->sids, "S-1-5-21-1-2-3-1104;S-1-5-21-1-2-3-513");
    assert_ptr_equal(identity_share(q), a);
    struct logon_identity *r = make("AD\\dave", "Domain Users;RDG Users");
    snprintf(r->full_name, sizeof r->full_name, "Dave D.");
    snprintf(r->sids, sizeof r->sids, "S-1-5-21-1-2-3-1104");
    struct logon_identity *b = identity_share(r);
    assert_ptr_not_equal(b, a);
    assert_string_equal(b->sids, "S-1-5-21-1-2-3-1104");
    assert_int_equal(identity_count(), 2);
    identity_put(a);
    identity_put(a);
    identity_put(b);
    assert_int_equal(identity_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_logons_share),
        cmocka_unit_test(test_different_logons_do_not_share),
        cmocka_unit_test(test_refs_and_private),
        cmocka_unit_test(test_trimmed_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
