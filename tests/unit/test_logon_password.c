/* Typed passwords (src/daemon/logon_password.c): how a typed account splits, the admin-group
 * list match, and how a directory refusal becomes the event's code and reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf/config.h"
#include "daemon/gateway.h"
#include "daemon/logon_password.h"

static void test_split(void **state)
{
    (void)state;
    struct gateway gw;
    memset(&gw, 0, sizeof gw);
    struct gw_config *cfg = config_new();
    assert_non_null(cfg);
    snprintf(cfg->netbios_domain, sizeof cfg->netbios_domain, "TSGW");
    gw.cfg = cfg;
    char dom[64], user[64];
    assert_int_equal(
        logon_password_split(&gw, "CONTOSO\\alice", dom, sizeof dom, user, sizeof user), 0);
    assert_string_equal(dom, "CONTOSO");
    assert_string_equal(user, "alice");
    assert_int_equal(
        logon_password_split(&gw, "alice@contoso.test", dom, sizeof dom, user, sizeof user), 0);
    assert_string_equal(dom, "");
    assert_string_equal(user, "alice@contoso.test");
    assert_int_equal(logon_password_split(&gw, "alice", dom, sizeof dom, user, sizeof user), 0);
    assert_string_equal(dom, "TSGW");
    assert_string_equal(user, "alice");
    assert_int_equal(logon_password_split(&gw, "\\alice", dom, sizeof dom, user, sizeof user), -1);
    assert_int_equal(logon_password_split(&gw, "CONTOSO\\", dom, sizeof dom, user, sizeof user),
                     -1);
    assert_int_equal(logon_password_split(&gw, "", dom, sizeof dom, user, sizeof user), -1);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(logon_password_split(&gw, longname, dom, sizeof dom, user, sizeof user), -1);
    config_put(cfg);
}

static void test_groups_match(void **state)
{
    (void)state;
    const char *want = "BUILTIN\\Administrators; CONTOSO\\RDG Admins";
    assert_true(logon_groups_match(want, "CONTOSO\\RDG Users;CONTOSO\\RDG Admins"));
    assert_true(logon_groups_match(want, "contoso\\rdg admins"));
    assert_true(logon_groups_match(want, "Administrators")); /* a bare name matches DOMAIN\Name */
    assert_true(logon_groups_match("Administrators", "BUILTIN\\Administrators"));
    assert_false(logon_groups_match(want, "CONTOSO\\RDG Users;CONTOSO\\Domain Users"));
    assert_false(logon_groups_match(want, "OTHER\\RDG Admins2"));
    assert_false(logon_groups_match(want, "RDG Admin"));
    assert_false(logon_groups_match(want, ""));
    assert_false(logon_groups_match("", "CONTOSO\\RDG Admins"));
    assert_false(logon_groups_match(" ; ", "CONTOSO\\RDG Admins"));
    assert_false(logon_groups_match("X\\A", "Y\\A")); /* two domains: no */
}

static void test_refusal(void **state)
{
    (void)state;
    struct gateway gw;
    memset(&gw, 0, sizeof gw);
    struct gw_config *cfg = config_new();
    assert_non_null(cfg);
    cfg->directory_timeout_ms = 3000;
    gw.cfg = cfg;
    struct dir_result r;
    int code;
    uint32_t nt;
    char why[200];
    memset(&r, 0, sizeof r);
    r.rc = DIR_DENIED;
    r.nt_status = 0xC000006A;
    assert_false(logon_dir_refusal(&gw, &r, &code, &nt, why, sizeof why));
    assert_int_equal(code, 1326);
    assert_int_equal(nt, 0xC000006A);
    assert_non_null(strstr(why, "NTSTATUS 0xC000006A"));
    r.nt_status = 0xC0000072;
    assert_false(logon_dir_refusal(&gw, &r, &code, &nt, why, sizeof why));
    assert_int_equal(code, 1331);
    memset(&r, 0, sizeof r);
    r.rc = DIR_TIMEOUT;
    assert_true(logon_dir_refusal(&gw, &r, &code, &nt, why, sizeof why));
    assert_int_equal(code, 1311);
    assert_string_equal(why, "domain controller did not answer within 3000 ms");
    r.rc = DIR_UNAVAILABLE;
    snprintf(r.detail, sizeof r.detail, "wbcAuthenticateUserEx: WBC_ERR_WINBIND_NOT_AVAILABLE");
    assert_true(logon_dir_refusal(&gw, &r, &code, &nt, why, sizeof why));
    assert_string_equal(
        why, "directory unavailable: wbcAuthenticateUserEx: WBC_ERR_WINBIND_NOT_AVAILABLE");
    config_put(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_groups_match),
        cmocka_unit_test(test_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
