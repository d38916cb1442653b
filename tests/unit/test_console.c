/* Unit tests for the web console's pure pieces (src/mgmt/console.c): escaping, form and cookie
 * parsing, sessions and CSRF tokens, the embedded assets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mgmt/console.h"

static const char *json(const char *s, struct buf *b)
{
    buf_clear(b);
    console_json_str(b, s);
    buf_put_u8(b, 0);
    return (const char *)buf_data(b);
}

static void test_json_escaping(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_string_equal(json("CONTOSO\\alice", &b), "\"CONTOSO\\\\alice\"");
    assert_string_equal(json("<img src=x onerror=alert(1)>", &b),
                        "\"\\u003cimg src=x onerror=alert(1)\\u003e\"");
    assert_string_equal(json("a\"b&c'd", &b), "\"a\\\"b\\u0026c\\u0027d\"");
    assert_string_equal(json("\x01\n\x7f", &b), "\"\\u0001\\n\\u007f\"");
    assert_string_equal(json(NULL, &b), "\"\"");
    /* well-formed UTF-8 kept, U+2028 escaped, bad bytes replaced */
    assert_string_equal(json("caf\xc3\xa9", &b), "\"caf\xc3\xa9\"");
    assert_string_equal(json("\xe2\x80\xa8", &b), "\"\\u2028\"");
    assert_string_equal(json("a\xff"
                             "b",
                             &b),
                        "\"a\\ufffdb\"");
    assert_string_equal(json("\xc0\xaf", &b), "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    assert_string_equal(json("\xed\xa0\x80", &b), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    assert_string_equal(json("\xe2\x82", &b), "\"\\ufffd\\ufffd\"");            /* truncated */
    buf_free(&b);
}

static void test_html_escaping(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    console_html_str(&b, "<b a=\"1\">'&'</b>");
    buf_put_u8(&b, 0);
    assert_string_equal((const char *)buf_data(&b),
                        "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
    buf_free(&b);
}

static void test_form(void **state)
{
    (void)state;
    const char *f = "username=CONTOSO%5Cadmin&password=a+b%26c%3D&empty=&flag&csrf=x";
    char out[64];
    assert_int_equal(console_form_get(f, strlen(f), "username", out, sizeof out), 13);
    assert_string_equal(out, "CONTOSO\\admin");
    assert_int_equal(console_form_get(f, strlen(f), "password", out, sizeof out), 6);
    assert_string_equal(out, "a b&c=");
    assert_int_equal(console_form_get(f, strlen(f), "empty", out, sizeof out), 0);
    assert_int_equal(console_form_get(f, strlen(f), "flag", out, sizeof out), 0);
    assert_int_equal(console_form_get(f, strlen(f), "user", out, sizeof out), CONSOLE_FIELD_ABSENT);
    assert_int_equal(console_form_get(f, strlen(f), "csrf", out, sizeof out), 1);
    /* the length bounds the parse: "csrf=x" cut before its value */
    assert_int_equal(console_form_get(f, strlen(f) - 1, "csrf", out, sizeof out), 0);
    assert_int_equal(console_form_get("a=%4", 4, "a", out, sizeof out), CONSOLE_FIELD_BAD);
    assert_int_equal(console_form_get("a=%zz", 5, "a", out, sizeof out), CONSOLE_FIELD_BAD);
    assert_int_equal(console_form_get("a=%00", 5, "a", out, sizeof out), CONSOLE_FIELD_BAD);
    assert_int_equal(console_form_get("a=12345", 7, "a", out, 5), CONSOLE_FIELD_BAD);
    assert_int_equal(console_form_get("a=1234", 6, "a", out, 5), 4);
    assert_int_equal(console_form_get("a=1&a=2", 7, "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(console_form_get("", 0, "a", out, sizeof out), CONSOLE_FIELD_ABSENT);
}

static void test_cookie(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(console_cookie_get("a=1; tok=abc; b=2", "tok", out, sizeof out), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(console_cookie_get("xtok=1;tok=\"q\"", "tok", out, sizeof out), 1);
    assert_string_equal(out, "q");
    assert_int_equal(console_cookie_get("tokx=1", "tok", out, sizeof out), CONSOLE_FIELD_ABSENT);
    assert_int_equal(console_cookie_get("tok=0123456789abcdef", "tok", out, sizeof out),
                     CONSOLE_FIELD_BAD);
    assert_int_equal(console_cookie_get("", "tok", out, sizeof out), CONSOLE_FIELD_ABSENT);
}

static void test_target(void **state)
{
    (void)state;
    char p[16];
    const char *q;
    assert_int_equal(console_split_target("/console/api?x=1", p, sizeof p, &q), 0);
    assert_string_equal(p, "/console/api");
    assert_string_equal(q, "x=1");
    assert_int_equal(console_split_target("/console/", p, sizeof p, &q), 0);
    assert_string_equal(q, "");
    assert_int_equal(console_split_target("/console/a/very/long/path", p, sizeof p, &q), -1);
}

static void fill(uint8_t *r, uint8_t v)
{
    for (int i = 0; i < 2 * CONSOLE_TOKEN_BYTES; i++)
        r[i] = (uint8_t)(v + i);
}

static void test_sessions(void **state)
{
    (void)state;
    static struct console_sessions s;
    memset(&s, 0, sizeof s);
    s.idle_ms = 1000;
    s.lifetime_ms = 5000;
    uint8_t r[2 * CONSOLE_TOKEN_BYTES];
    fill(r, 1);
    struct console_session *a = console_session_new(&s, "CONTOSO\\admin", "127.0.0.1", 100, r);
    assert_int_equal(strlen(a->token), CONSOLE_TOKEN_HEX);
    assert_string_not_equal(a->token, a->csrf);
    char tok[CONSOLE_TOKEN_HEX + 1], csrf[CONSOLE_TOKEN_HEX + 1];
    strcpy(tok, a->token);
    strcpy(csrf, a->csrf);
    assert_ptr_equal(console_session_find(&s, tok, 500), a);
    assert_true(console_csrf_ok(a, csrf));
    assert_false(console_csrf_ok(a, tok));
    assert_false(console_csrf_ok(a, NULL));
    assert_false(console_csrf_ok(a, ""));
    csrf[5] ^= 1;
    assert_false(console_csrf_ok(a, csrf));
    tok[CONSOLE_TOKEN_HEX - 1] = 0; /* a prefix is not the token */
    assert_null(console_session_find(&s, tok, 500));
    assert_null(console_session_find(&s, NULL, 500));
    assert_null(console_session_find(&s, "", 500));
    strcpy(tok, a->token);
    /* idle: used at 500, still there at 1499, gone at 2500 */
    assert_ptr_equal(console_session_find(&s, tok, 1499), a);
    assert_null(console_session_find(&s, tok, 2500));
    assert_false(a->used);
    /* lifetime: kept busy, still ends 5000 ms after sign-in */
    a = console_session_new(&s, "CONTOSO\\admin", "127.0.0.1", 10000, r);
    strcpy(tok, a->token);
    for (uint64_t t = 10500; t < 15000; t += 500)
        assert_non_null(console_session_find(&s, tok, t));
    assert_int_equal(console_session_left_s(&s, a, 12000), 3);
    assert_null(console_session_find(&s, tok, 15000));
    /* sign-out: the token never matches again */
    a = console_session_new(&s, "CONTOSO\\admin", "127.0.0.1", 20000, r);
    strcpy(tok, a->token);
    console_session_end(a);
    assert_null(console_session_find(&s, tok, 20001));
    assert_false(console_csrf_ok(a, csrf));
}

static void test_sessions_full(void **state)
{
    (void)state;
    static struct console_sessions s;
    memset(&s, 0, sizeof s);
    s.idle_ms = 100000;
    s.lifetime_ms = 100000;
    uint8_t r[2 * CONSOLE_TOKEN_BYTES];
    char first[CONSOLE_TOKEN_HEX + 1], second[CONSOLE_TOKEN_HEX + 1];
    for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        fill(r, (uint8_t)i);
        r[0] = (uint8_t)i;
        struct console_session *ss = console_session_new(&s, "U\\u", "", (uint64_t)i + 1, r);
        if (i == 0)
            strcpy(first, ss->token);
        if (i == 1)
            strcpy(second, ss->token);
    }
    assert_non_null(console_session_find(&s, first, 100)); /* first is now the most recent */
    fill(r, 200);
    struct console_session *n = console_session_new(&s, "U\\v", "", 101, r);
    assert_non_null(n);
    assert_null(console_session_find(&s, second, 102)); /* the least recently used went */
    assert_non_null(console_session_find(&s, first, 102));
}

static void test_assets(void **state)
{
    (void)state;
    const char *names[] = {"index.html", "login.html", "denied.html", "app.js", "app.css"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct console_asset *a = console_asset_find(names[i]);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_int_equal(a->etag[0], '"');
    }
    assert_null(console_asset_find("../meson.build"));
    const struct console_asset *login = console_asset_find("login.html");
    assert_non_null(memmem(login->data, login->len, "<!--MSG-->", 10));
    assert_non_null(memmem(login->data, login->len, "name=\"username\"", 15));
    assert_non_null(memmem(login->data, login->len, "name=\"password\"", 15));
    /* no inline script anywhere: the CSP would refuse it */
    for (size_t i = 0; i < console_nassets; i++) {
        const struct console_asset *a = &console_assets[i];
        if (strstr(a->name, ".html")) {
            assert_null(memmem(a->data, a->len, "<script>", 8));
            assert_null(memmem(a->data, a->len, "onclick", 7));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escaping), cmocka_unit_test(test_html_escaping),
        cmocka_unit_test(test_form),          cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_target),        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_sessions_full), cmocka_unit_test(test_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
