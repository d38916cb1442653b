/* Directory pieces that need no domain: the NTSTATUS table, local-store domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/ntstatus.h"
#include "auth/users.h"

static void test_ntstatus(void **state)
{
    (void)state;
    char buf[48];
    assert_string_equal(ntstatus_reason(0xC000006A, buf, sizeof buf), "wrong password");
    assert_string_equal(ntstatus_reason(0xC0000072, buf, sizeof buf), "account disabled");
    assert_string_equal(ntstatus_reason(0xC0000234, buf, sizeof buf), "account locked out");
    assert_string_equal(ntstatus_reason(0xC0000071, buf, sizeof buf), "password expired");
    assert_string_equal(ntstatus_reason(0xC000006F, buf, sizeof buf),
                        "outside the account's logon hours");
    assert_string_equal(ntstatus_reason(0xC0000193, buf, sizeof buf), "account expired");
    /* unknown codes: the number, never NULL */
    assert_string_equal(ntstatus_reason(0xC0001234, buf, sizeof buf),
                        "logon failed (NTSTATUS 0xC0001234)");
    /* with the code, once: known and unknown */
    char d[128];
    assert_string_equal(ntstatus_describe(0xC000006A, d, sizeof d),
                        "wrong password (NTSTATUS 0xC000006A)");
    assert_string_equal(ntstatus_describe(0xC0001234, d, sizeof d),
                        "logon failed (NTSTATUS 0xC0001234)");
    /* Win32 codes Windows' gateway logs */
    assert_int_equal(ntstatus_win32(0xC000006A), 1326);
    assert_int_equal(ntstatus_win32(0xC0000072), 1331);
    assert_int_equal(ntstatus_win32(0xC0000234), 1909);
    assert_int_equal(ntstatus_win32(0xC0000071), 1330);
    assert_int_equal(ntstatus_win32(0xC000005E), 1311);
    assert_int_equal(ntstatus_win32(0xC0001234), 1326);
    /* the directory's failures (503) against the account's (401) */
    assert_true(ntstatus_unavailable(NT_STATUS_NO_LOGON_SERVERS));
    assert_true(ntstatus_unavailable(0xC00000B5));
    assert_false(ntstatus_unavailable(NT_STATUS_WRONG_PASSWORD));
    assert_false(ntstatus_unavailable(NT_STATUS_ACCOUNT_DISABLED));
    assert_false(ntstatus_unavailable(0xC0001234));
}

static void test_store_domains(void **state)
{
    (void)state;
    struct user_store st = {0};
    uint8_t h[16] = {0};
    assert_int_equal(user_store_put(&st, "LOCAL", "lena", h, "", ""), 0);
    assert_int_equal(user_store_put(&st, "TSGW", "ops", h, "", ""), 0);
    assert_true(user_store_has_domain(&st, "LOCAL"));
    assert_true(user_store_has_domain(&st, "local"));
    assert_true(user_store_has_domain(&st, "tsgw"));
    assert_false(user_store_has_domain(&st, "CONTOSO"));
    assert_false(user_store_has_domain(&st, ""));
    assert_false(user_store_has_domain(&st, NULL));
    assert_false(user_store_has_domain(NULL, "LOCAL"));
    user_store_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntstatus),
        cmocka_unit_test(test_store_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
