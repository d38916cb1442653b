/* Unit tests for the local credential store (src/auth/users.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/users.h"

static char tmpdir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsgw-users-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(path, sizeof path, "%s/users", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char tmp[200];
    unlink(path);
    snprintf(tmp, sizeof tmp, "%s/other", tmpdir);
    unlink(tmp);
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_str(const char *s)
{
    write_file(s, strlen(s));
}

static const uint8_t hash_alice[16] = {0xed, 0x50, 0xbd, 0xc9, 0xfa, 0xa3, 0x70, 0xe3,
                                       0x1a, 0xc4, 0xee, 0x11, 0x9f, 0xd5, 0x1f, 0x48};
static const uint8_t hash_pw[16] = {0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca,
                                    0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f, 0xd8, 0x52};

static void test_load_valid(void **state)
{
    (void)state;
    write_str("# comment\n"
              "\n"
              "CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:RDP Users;Admins:Alice Liddell\n"
              "CONTOSO\\bob:A4F49C406510BDCAB6824EE7C30FD852::\r\n"
              "WORKGROUP\\Ren\xc3\xa9:a4f49c406510bdcab6824ee7c30fd852:RDP Users:Ren\xc3\xa9 "
              "Descartes");
    struct user_store st = {0};
    char err[256];
    assert_int_equal(user_store_load(path, 0, &st, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(st.n, 3);
    assert_string_equal(st.v[0].domain, "CONTOSO");
    assert_string_equal(st.v[0].name, "alice");
    assert_memory_equal(st.v[0].nthash, hash_alice, 16);
    assert_string_equal(st.v[0].groups, "RDP Users;Admins");
    assert_string_equal(st.v[0].full_name, "Alice Liddell");
    assert_string_equal(st.v[1].name, "bob");
    assert_memory_equal(st.v[1].nthash, hash_pw, 16);
    assert_string_equal(st.v[1].groups, "");
    assert_string_equal(st.v[1].full_name, "");
    assert_string_equal(st.v[2].full_name, "Ren\xc3\xa9 Descartes");

    /* Lookup: user and domain case-insensitive, Latin-1 letters included. */
    assert_ptr_equal(user_store_find(&st, "contoso", "ALICE"), &st.v[0]);
    assert_ptr_equal(user_store_find(&st, "workgroup", "REN\xc3\x89"), &st.v[2]);
    assert_null(user_store_find(&st, "CONTOSO", "Ren\xc3\xa9"));
    assert_null(user_store_find(&st, "FABRIKAM", "alice"));
    assert_null(user_store_find(&st, "CONTOSO", "alic"));
    assert_null(user_store_find(&st, "CONTOSO", "alicee"));
    /* Empty domain or "." matches a unique user name. */
    assert_ptr_equal(user_store_find(&st, "", "Bob"), &st.v[1]);
    assert_ptr_equal(user_store_find(&st, ".", "bob"), &st.v[1]);
    assert_ptr_equal(user_store_find(&st, NULL, "bob"), &st.v[1]);
    assert_null(user_store_find(&st, "", ""));

    /* Groups. */
    assert_true(user_in_group(&st.v[0], "rdp users"));
    assert_true(user_in_group(&st.v[0], "ADMINS"));
    assert_false(user_in_group(&st.v[0], "Admin"));
    assert_false(user_in_group(&st.v[0], "RDP"));
    assert_false(user_in_group(&st.v[0], ""));
    assert_false(user_in_group(&st.v[1], "RDP Users"));
    user_store_free(&st);
    assert_null(st.v);
    assert_int_equal(st.n, 0);
}

static void test_ambiguous_empty_domain(void **state)
{
    (void)state;
    write_str("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\n"
              "FABRIKAM\\Alice:a4f49c406510bdcab6824ee7c30fd852::\n");
    struct user_store st = {0};
    assert_int_equal(user_store_load(path, 0, &st, NULL, 0), 0);
    assert_null(user_store_find(&st, "", "alice"));
    assert_null(user_store_find(&st, ".", "alice"));
    assert_ptr_equal(user_store_find(&st, "fabrikam", "alice"), &st.v[1]);
    user_store_free(&st);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct user_store st = {0};
    char err[256];
    char p[200];
    snprintf(p, sizeof p, "%s/nonexistent", tmpdir);
    assert_int_equal(user_store_load(p, 0, &st, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "nonexistent"));
    assert_int_equal(user_store_load(p, 1, &st, err, sizeof err), 0);
    assert_int_equal(st.n, 0);
    user_store_free(&st);
}

/* Each bad file must fail with -EINVAL and "path:line: reason". */
static void expect_bad(const char *data, size_t len, unsigned line, const char *reason)
{
    write_file(data, len);
    struct user_store st = {0};
    char err[512], want[512];
    assert_int_equal(user_store_load(path, 0, &st, err, sizeof err), -EINVAL);
    assert_null(st.v);
    assert_int_equal(st.n, 0);
    snprintf(want, sizeof want, "%s:%u: %s", path, line, reason);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got \"%s\", want \"%s\"", err, want);
}

#define BAD(s, line, reason) expect_bad(s, sizeof(s) - 1, line, reason)

static void test_load_invalid(void **state)
{
    (void)state;
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:\n", 1, "expected");
    BAD("# c\nCONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:::\n", 2, "too many");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::Full: Name\n", 1, "too many");
    BAD("alice:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "account must be DOMAIN\\user");
    BAD("\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "empty domain");
    BAD("CONTOSO\\:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "empty user name");
    BAD(".\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "domain \".\" is reserved");
    BAD("CONTOSO\\a\\b:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "invalid character in user");
    BAD("CONTOSO\\ alice:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "invalid character in user");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f4::\n", 1, "NT hash must be 32 hex");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f488::\n", 1, "NT hash must be 32 hex");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f4g::\n", 1, "NT hash must be 32 hex");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:a;;b:\n", 1, "empty group name");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:a;:\n", 1, "empty group name");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::Tab\there\n", 1,
        "invalid character in full name");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\x7f\n", 1,
        "invalid character in full name");
    BAD("CONTOSO\\al\xff:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "invalid character in user");
    BAD("CONTOSO\\al\xc3:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "invalid character in user");
    BAD("CONTOSO\\al\xc0\xaf:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1, "invalid character in user");
    BAD("CONTOSO\\al\xed\xa0\x80:ed50bdc9faa370e31ac4ee119fd51f48::\n", 1,
        "invalid character in user");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\xc2\x85\n", 1,
        "invalid character in full name");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::a\0b\n", 1, "NUL byte in line");
    BAD("CONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48::\n"
        "\n"
        "FABRIKAM\\bob:ed50bdc9faa370e31ac4ee119fd51f48::\n"
        "contoso\\ALICE:ed50bdc9faa370e31ac4ee119fd51f48::\n",
        4, "duplicate account (first at line 1)");
    BAD("A\\x:ed50bdc9faa370e31ac4ee119fd51f48::\n"
        "B\\x:ed50bdc9faa370e31ac4ee119fd51f48::\n"
        "b\\X:ed50bdc9faa370e31ac4ee119fd51f48::\n"
        "a\\X:ed50bdc9faa370e31ac4ee119fd51f48::\n",
        3, "duplicate account (first at line 2)");

    /* Length caps. */
    char big[USERS_LINE_MAX + 200];
    snprintf(big, sizeof big, "%0*d\\u:ed50bdc9faa370e31ac4ee119fd51f48::\n", USERS_DOMAIN_MAX, 0);
    expect_bad(big, strlen(big), 1, "domain too long");
    snprintf(big, sizeof big, "%0*d\\u:ed50bdc9faa370e31ac4ee119fd51f48::\n", USERS_DOMAIN_MAX - 1,
             0);
    write_str(big);
    struct user_store st = {0};
    assert_int_equal(user_store_load(path, 0, &st, NULL, 0), 0);
    user_store_free(&st);
    snprintf(big, sizeof big, "D\\%0*d:ed50bdc9faa370e31ac4ee119fd51f48::\n", USERS_NAME_MAX, 0);
    expect_bad(big, strlen(big), 1, "user name too long");
    snprintf(big, sizeof big, "D\\u:ed50bdc9faa370e31ac4ee119fd51f48::%0*d\n", USERS_FULLNAME_MAX,
             0);
    expect_bad(big, strlen(big), 1, "full name too long");
    snprintf(big, sizeof big, "D\\u:ed50bdc9faa370e31ac4ee119fd51f48:%0*d:\n", USERS_GROUPS_MAX, 0);
    expect_bad(big, strlen(big), 1, "groups too long");
    /* A line longer than USERS_LINE_MAX, made of a comment. */
    memset(big, 'x', sizeof big);
    big[0] = '#';
    big[USERS_LINE_MAX + 1] = '\n';
    expect_bad(big, USERS_LINE_MAX + 2, 1, "line too long");
    /* Exactly USERS_LINE_MAX is fine. */
    big[USERS_LINE_MAX] = '\n';
    write_file(big, USERS_LINE_MAX + 1);
    assert_int_equal(user_store_load(path, 0, &st, NULL, 0), 0);
    user_store_free(&st);
}

static void test_put_del_split(void **state)
{
    (void)state;
    struct user_store st = {0};
    assert_int_equal(user_store_put(&st, "CONTOSO", "alice", hash_alice, "RDP Users", "Alice"), 0);
    assert_int_equal(user_store_put(&st, "CONTOSO", "bob", hash_pw, NULL, NULL), 0);
    assert_int_equal(st.n, 2);
    /* Replace (case-insensitive match), spelling follows the new put. */
    assert_int_equal(user_store_put(&st, "contoso", "ALICE", hash_pw, "", "A."), 0);
    assert_int_equal(st.n, 2);
    const struct user_entry *e = user_store_find(&st, "CONTOSO", "alice");
    assert_non_null(e);
    assert_string_equal(e->name, "ALICE");
    assert_string_equal(e->domain, "contoso");
    assert_memory_equal(e->nthash, hash_pw, 16);
    assert_string_equal(e->full_name, "A.");

    /* Invalid names. */
    assert_int_equal(user_store_put(&st, "", "x", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, ".", "x", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a:b", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D:E", "a", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a\\b", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a\nb", hash_pw, NULL, NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a", hash_pw, "g:h", NULL), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a", hash_pw, NULL, "x:y"), -EINVAL);
    assert_int_equal(user_store_put(&st, "D", "a", hash_pw, ";", NULL), -EINVAL);
    char longname[USERS_NAME_MAX + 1];
    memset(longname, 'n', USERS_NAME_MAX);
    longname[USERS_NAME_MAX] = 0;
    assert_int_equal(user_store_put(&st, "D", longname, hash_pw, NULL, NULL), -EINVAL);
    longname[USERS_NAME_MAX - 1] = 0;
    assert_int_equal(user_store_put(&st, "D", longname, hash_pw, NULL, NULL), 0);
    assert_int_equal(st.n, 3);

    /* Delete. */
    assert_int_equal(user_store_del(&st, "CONTOSO", "bobby"), -ENOENT);
    assert_int_equal(user_store_del(&st, "", "bob"), -ENOENT);
    assert_int_equal(user_store_del(&st, "Contoso", "BOB"), 0);
    assert_int_equal(st.n, 2);
    assert_null(user_store_find(&st, "CONTOSO", "bob"));
    assert_non_null(user_store_find(&st, "D", longname));
    assert_non_null(user_store_find(&st, "CONTOSO", "alice"));
    user_store_free(&st);

    /* Split. */
    char d[USERS_DOMAIN_MAX], u[USERS_NAME_MAX];
    assert_int_equal(user_split_account("CONTOSO\\alice", d, sizeof d, u, sizeof u), 0);
    assert_string_equal(d, "CONTOSO");
    assert_string_equal(u, "alice");
    assert_int_equal(user_split_account("alice", d, sizeof d, u, sizeof u), -EINVAL);
    assert_int_equal(user_split_account("\\alice", d, sizeof d, u, sizeof u), -EINVAL);
    assert_int_equal(user_split_account("CONTOSO\\", d, sizeof d, u, sizeof u), -EINVAL);
    assert_int_equal(user_split_account("A\\B\\C", d, sizeof d, u, sizeof u), -EINVAL);
    assert_int_equal(user_split_account("CONTOSO\\alice", d, 7, u, sizeof u), -EINVAL);
    assert_int_equal(user_split_account("CONTOSO\\alice", d, 8, u, 6), 0);
    assert_int_equal(user_split_account("CONTOSO\\alice", d, 8, u, 5), -EINVAL);
}

/* USERS_MAX_ACCOUNTS: a full store refuses new accounts but still replaces existing ones. The
 * entries are calloc'ed and only read, so the zero pages cost little memory. */
static void test_put_full(void **state)
{
    (void)state;
    struct user_store st = {0};
    st.v = calloc(USERS_MAX_ACCOUNTS, sizeof *st.v);
    assert_non_null(st.v);
    st.cap = USERS_MAX_ACCOUNTS;
    st.n = USERS_MAX_ACCOUNTS - 1;
    assert_int_equal(user_store_put(&st, "D", "last", hash_pw, NULL, NULL), 0);
    assert_int_equal(st.n, USERS_MAX_ACCOUNTS);
    assert_int_equal(user_store_put(&st, "D", "one-more", hash_pw, NULL, NULL), -ENOSPC);
    assert_int_equal(user_store_put(&st, "d", "LAST", hash_alice, NULL, NULL), 0);
    assert_int_equal(st.n, USERS_MAX_ACCOUNTS);
    user_store_free(&st);
}

static void test_save_roundtrip(void **state)
{
    (void)state;
    struct user_store st = {0};
    assert_int_equal(
        user_store_put(&st, "CONTOSO", "alice", hash_alice, "RDP Users;Admins", "Alice Liddell"),
        0);
    assert_int_equal(user_store_put(&st, "WORKGROUP", "Ren\xc3\xa9", hash_pw, "", ""), 0);
    assert_int_equal(user_store_save(path, &st), 0);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    struct user_store st2 = {0};
    char err[256];
    assert_int_equal(user_store_load(path, 0, &st2, err, sizeof err), 0);
    assert_int_equal(st2.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(st2.v[i].domain, st.v[i].domain);
        assert_string_equal(st2.v[i].name, st.v[i].name);
        assert_memory_equal(st2.v[i].nthash, st.v[i].nthash, 16);
        assert_string_equal(st2.v[i].groups, st.v[i].groups);
        assert_string_equal(st2.v[i].full_name, st.v[i].full_name);
    }
    /* The file text itself. */
    FILE *f = fopen(path, "r");
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "\nCONTOSO\\alice:ed50bdc9faa370e31ac4ee119fd51f48:RDP "
                                 "Users;Admins:Alice Liddell\n"));

    /* Overwrite an existing file (replaced atomically, mode forced to 0600). */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(user_store_del(&st, "CONTOSO", "alice"), 0);
    assert_int_equal(user_store_save(path, &st), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    user_store_free(&st2);
    assert_int_equal(user_store_load(path, 0, &st2, NULL, 0), 0);
    assert_int_equal(st2.n, 1);
    user_store_free(&st2);

    /* Empty store saves and loads. */
    user_store_free(&st);
    assert_int_equal(user_store_save(path, &st), 0);
    assert_int_equal(user_store_load(path, 0, &st2, NULL, 0), 0);
    assert_int_equal(st2.n, 0);
    user_store_free(&st2);

    /* An entry that was tampered with in memory is refused, and nothing is left behind. */
    assert_int_equal(user_store_put(&st, "D", "u", hash_pw, NULL, NULL), 0);
    st.v[0].name[0] = '\n';
    assert_int_equal(user_store_save(path, &st), -EINVAL);
    user_store_free(&st);

    /* Unwritable directory. */
    char p[200];
    snprintf(p, sizeof p, "%s/no/such/dir/users", tmpdir);
    assert_int_equal(user_store_save(p, &st), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_valid),     cmocka_unit_test(test_ambiguous_empty_domain),
        cmocka_unit_test(test_missing_file),   cmocka_unit_test(test_load_invalid),
        cmocka_unit_test(test_put_del_split),  cmocka_unit_test(test_put_full),
        cmocka_unit_test(test_save_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
