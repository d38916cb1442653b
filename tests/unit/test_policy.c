/* Unit tests for the authorization policy (src/policy/policy.c): glob matching, resource and
 * host parsing, subject matching, CAP and RAP evaluation. Table-driven. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cmocka.h>

#include "conf/config.h"
#include "core/buf.h"
#include "policy/policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------- policy_glob_match ---------- */

struct glob_case {
    const char *pat, *name;
    bool match;
};

static const struct glob_case glob_cases[] = {
    {"", "", true},
    {"", "a", false},
    {"a", "", false},
    {"*", "", true},
    {"*", "anything.at.all", true},
    {"**", "x", true},
    {"?", "", false},
    {"?", "a", true},
    {"?", "ab", false},
    {"??", "a", false},
    {"*?", "", false},
    {"*?", "x", true},
    {"?*", "x", true},
    {"host1", "host1", true},
    {"host1", "host12", false},
    {"host12", "host1", false},
    {"HOST1", "host1", true},
    {"host1", "HoSt1", true},
    {"h?st", "host", true},
    {"h?st", "hst", false},
    {"h?st", "hoost", false},
    {"rdp-*.corp", "rdp-01.corp", true},
    {"rdp-*.corp", "rdp-.corp", true},
    {"RDP-*.CORP", "rdp-01.corp", true},
    {"rdp-*.corp", "RDP-01.Corp", true},
    {"rdp-*.corp", "rdp-01.corp.evil", false},
    {"rdp-*.corp", "xrdp-01.corp", false},
    {"*.corp", "corp", false},
    {"*.corp", ".corp", true},
    {"*.example.com", "a.b.example.com", true},
    {"*.example.com", "example.com", false},
    {"a*", "a", true},
    {"*a", "bbba", true},
    {"*a", "ab", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "aXXbYYc", true},
    {"a*b*c", "acb", false},
    {"a*b*c", "abcc", true},
    {"a*b*c", "abcd", false},
    {"*ab", "aab", true},
    {"*aab", "aaab", true},
    {"a*ab", "aaab", true},
    {"*a?c", "abxabc", true},
    {"*.*.*", "a.b", false},
    {"*.*.*", "a.b.c", true},
    {"10.1.*", "10.1.2.3", true},
    {"10.1.*", "10.2.1.1", false},
    /* bytes above 0x7f compare as themselves */
    {"caf\xc3\xa9", "caf\xc3\xa9", true},
    {"caf?\xa9", "caf\xc3\xa9", true},
};

static void test_glob_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(glob_cases); i++) {
        const struct glob_case *c = &glob_cases[i];
        bool got = policy_glob_match(c->pat, c->name);
        if (got != c->match)
            fail_msg("glob '%s' vs '%s': got %d, want %d", c->pat, c->name, got, c->match);
    }
}

/* Patterns that make a naive backtracking matcher exponential must stay fast. */
static void test_glob_pathological(void **state)
{
    (void)state;
    enum { LEN = 100000 };
    char *name = malloc(LEN + 2);
    assert_non_null(name);
    memset(name, 'a', LEN);
    name[LEN] = 0;
    char pat[4096];
    size_t o = 0;
    for (int i = 0; i < 500; i++) {
        pat[o++] = '*';
        pat[o++] = 'a';
    }
    pat[o++] = '*';
    pat[o++] = 'b';
    pat[o] = 0;

    struct {
        const char *pat;
        bool match;
        bool end_b; /* name ends in 'b' instead of 'a' */
    } cases[] = {
        {"*a*a*a*a*b", false, false},
        {"*a*a*a*a*b", true, true},
        {"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", false, false},
        {"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab", false, false},
        {"*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?b", false, false},
        {"*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false, false},
        {"*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true, true},
        {pat, false, false},
        {pat, true, true},
        {"*a*", true, false},
    };
    double t0 = now_s();
    for (size_t i = 0; i < N(cases); i++) {
        name[LEN - 1] = cases[i].end_b ? 'b' : 'a';
        bool got = policy_glob_match(cases[i].pat, name);
        if (got != cases[i].match)
            fail_msg("pathological case %zu: got %d", i, got);
    }
    double dt = now_s() - t0;
    free(name);
    /* Linear-ish behaviour takes milliseconds; exponential would never finish. Generous bound
     * for sanitizer builds. */
    if (dt > 5.0)
        fail_msg("pathological globs took %.2f s", dt);
}

/* ---------- policy_parse_resource ---------- */

struct res_case {
    const char *text;
    int rc;
    int kind;
    const char *value; /* pattern, or the address in text form */
    unsigned prefix;
};

static const struct res_case res_cases[] = {
    {"host.example", 0, RES_HOST_PATTERN, "host.example", 0},
    {"  Rdp-*.Corp.EXAMPLE  ", 0, RES_HOST_PATTERN, "rdp-*.corp.example", 0},
    {"host.example.", 0, RES_HOST_PATTERN, "host.example", 0},
    {"srv?", 0, RES_HOST_PATTERN, "srv?", 0},
    {"*", 0, RES_HOST_PATTERN, "*", 0},
    {"under_score-1.lan", 0, RES_HOST_PATTERN, "under_score-1.lan", 0},
    {"256.1.1.1", -EINVAL, 0, NULL, 0}, /* looks like an address but is none: refused */
    {"10.1.2.3", 0, RES_IPV4, "10.1.2.3", 32},
    {"10.1.0.0/16", 0, RES_IPV4, "10.1.0.0", 16},
    {"0.0.0.0/0", 0, RES_IPV4, "0.0.0.0", 0},
    {"192.168.1.5/32", 0, RES_IPV4, "192.168.1.5", 32},
    {" 172.16.0.0/12 ", 0, RES_IPV4, "172.16.0.0", 12},
    {"192.168.1.5/33", -EINVAL, 0, NULL, 0},
    {"::1", 0, RES_IPV6, "::1", 128},
    {"fd00::/8", 0, RES_IPV6, "fd00::", 8},
    {"FD00::/8", 0, RES_IPV6, "fd00::", 8},
    {"::/0", 0, RES_IPV6, "::", 0},
    {"2001:db8::1/128", 0, RES_IPV6, "2001:db8::1", 128},
    {"2001:db8::1/129", -EINVAL, 0, NULL, 0},
    {"::ffff:10.1.2.3", 0, RES_IPV6, "::ffff:10.1.2.3", 128},
    {"", -EINVAL, 0, NULL, 0},
    {"   ", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/-1", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/abc", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/8x", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/8/8", -EINVAL, 0, NULL, 0},
    {"10.0.0.0/99999999999999999999999", -EINVAL, 0, NULL, 0},
    {"host.example/24", -EINVAL, 0, NULL, 0},
    {"/8", -EINVAL, 0, NULL, 0},
    {"a b", -EINVAL, 0, NULL, 0},
    {"host:3389", -EINVAL, 0, NULL, 0},
    {"[::1]", -EINVAL, 0, NULL, 0},
    {"ho$t", -EINVAL, 0, NULL, 0},
    {"user@host", -EINVAL, 0, NULL, 0},
    {"a\\b", -EINVAL, 0, NULL, 0},
    {"caf\xc3\xa9", -EINVAL, 0, NULL, 0},
};

static void check_resource(const struct res_case *c, const struct policy_resource *r, int rc)
{
    if (rc != c->rc)
        fail_msg("parse_resource('%s') = %d, want %d", c->text, rc, c->rc);
    if (rc)
        return;
    if (r->kind != c->kind)
        fail_msg("parse_resource('%s') kind %d, want %d", c->text, r->kind, c->kind);
    if (c->kind == RES_HOST_PATTERN) {
        if (strcmp(r->pattern, c->value) != 0)
            fail_msg("parse_resource('%s') pattern '%s', want '%s'", c->text, r->pattern, c->value);
        return;
    }
    uint8_t want[16] = {0};
    int af = c->kind == RES_IPV4 ? AF_INET : AF_INET6;
    assert_int_equal(inet_pton(af, c->value, want), 1);
    if (memcmp(r->addr, want, c->kind == RES_IPV4 ? 4 : 16) != 0)
        fail_msg("parse_resource('%s') address differs", c->text);
    if (r->prefix != c->prefix)
        fail_msg("parse_resource('%s') prefix %u, want %u", c->text, r->prefix, c->prefix);
}

static void test_parse_resource_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(res_cases); i++) {
        struct policy_resource r;
        memset(&r, 0xA5, sizeof r);
        int rc = policy_parse_resource(res_cases[i].text, &r);
        check_resource(&res_cases[i], &r, rc);
    }
}

static void test_parse_resource_lengths(void **state)
{
    (void)state;
    char text[600];
    struct policy_resource r;
    /* POLICY_PATTERN_MAX - 1 bytes fit */
    memset(text, 'a', POLICY_PATTERN_MAX - 1);
    text[POLICY_PATTERN_MAX - 1] = 0;
    assert_int_equal(policy_parse_resource(text, &r), 0);
    assert_int_equal(r.kind, RES_HOST_PATTERN);
    assert_int_equal(strlen(r.pattern), POLICY_PATTERN_MAX - 1);
    /* one more does not */
    memset(text, 'a', POLICY_PATTERN_MAX);
    text[POLICY_PATTERN_MAX] = 0;
    assert_int_equal(policy_parse_resource(text, &r), -EINVAL);
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = 0;
    assert_int_equal(policy_parse_resource(text, &r), -EINVAL);
}

static void test_parse_resource_list(void **state)
{
    (void)state;
    struct policy_resource *v = NULL;
    size_t n = 99;
    char bad[POLICY_PATTERN_MAX] = "";
    assert_int_equal(
        policy_parse_resource_list(" a.corp ; 10.0.0.0/8;; fd00::/8 ;", &v, &n, bad, sizeof bad),
        0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].kind, RES_HOST_PATTERN);
    assert_string_equal(v[0].pattern, "a.corp");
    assert_int_equal(v[1].kind, RES_IPV4);
    assert_int_equal(v[1].prefix, 8);
    assert_int_equal(v[2].kind, RES_IPV6);
    assert_int_equal(v[2].prefix, 8);
    free(v);

    v = NULL;
    assert_int_equal(policy_parse_resource_list("a.corp; bad host ; c", &v, &n, bad, sizeof bad),
                     -EINVAL);
    assert_string_equal(bad, "bad host");
    assert_null(v);
    assert_int_equal(policy_parse_resource_list("10.0.0.0/33", &v, &n, NULL, 0), -EINVAL);

    v = NULL;
    n = 99;
    assert_int_equal(policy_parse_resource_list(" ; ; ", &v, &n, bad, sizeof bad), 0);
    assert_int_equal(n, 0);
    free(v);
}

static void test_parse_list(void **state)
{
    (void)state;
    struct policy_list l = {0};
    assert_int_equal(policy_parse_list("  RDP Users ;CORP\\Admins;; ;x", &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0], "RDP Users");
    assert_string_equal(l.v[1], "CORP\\Admins");
    assert_string_equal(l.v[2], "x");
    struct policy p = {0};
    p.raps = calloc(1, sizeof *p.raps);
    assert_non_null(p.raps);
    p.nraps = 1;
    p.raps[0].user_groups = l;
    policy_free(&p); /* frees the list */
    assert_null(p.raps);
}

struct port_case {
    const char *text;
    int rc;
    bool any;
    size_t n;
    uint16_t first, last;
};

static const struct port_case port_cases[] = {
    {"3389", 0, false, 1, 3389, 3389},  {"*", 0, true, 0, 0, 0},
    {" * ", 0, true, 0, 0, 0},          {"3389; 3390,22", 0, false, 3, 3389, 22},
    {"1;65535", 0, false, 2, 1, 65535}, {"0", -EINVAL, false, 0, 0, 0},
    {"65536", -EINVAL, false, 0, 0, 0}, {"-1", -EINVAL, false, 0, 0, 0},
    {"", -EINVAL, false, 0, 0, 0},      {" ; ", -EINVAL, false, 0, 0, 0},
    {"abc", -EINVAL, false, 0, 0, 0},   {"3389;x", -EINVAL, false, 0, 0, 0},
    {"33 89", -EINVAL, false, 0, 0, 0},
};

static void test_parse_ports(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(port_cases); i++) {
        const struct port_case *c = &port_cases[i];
        struct policy_rap rap;
        memset(&rap, 0, sizeof rap);
        int rc = policy_parse_ports(c->text, &rap);
        if (rc != c->rc)
            fail_msg("parse_ports('%s') = %d, want %d", c->text, rc, c->rc);
        if (rc == 0) {
            assert_int_equal(rap.any_port, c->any);
            assert_int_equal(rap.nports, c->n);
            if (c->n) {
                assert_int_equal(rap.ports[0], c->first);
                assert_int_equal(rap.ports[c->n - 1], c->last);
            }
        }
        free(rap.ports);
    }
}

/* ---------- policy_normalize_host ---------- */

struct norm_case {
    const char *in;
    int rc;
    const char *out;
    int port;
};

static const struct norm_case norm_cases[] = {
    {"host", 0, "host", -1},
    {"Host.Example.COM", 0, "host.example.com", -1},
    {"  host  ", 0, "host", -1},
    {"host.", 0, "host", -1},
    {"HOST.CORP.", 0, "host.corp", -1},
    {"host:3389", 0, "host", 3389},
    {"host.:3390", 0, "host", 3390},
    {"host:1", 0, "host", 1},
    {"host:65535", 0, "host", 65535},
    {"10.1.2.3", 0, "10.1.2.3", -1},
    {"10.1.2.3:3389", 0, "10.1.2.3", 3389},
    {"[::1]:3390", 0, "::1", 3390},
    {"[FE80::1]", 0, "fe80::1", -1},
    {"[2001:DB8::A]:443", 0, "2001:db8::a", 443},
    {"::1", 0, "::1", -1},
    {"FE80::A:B", 0, "fe80::a:b", -1},
    {"2001:db8::3389", 0, "2001:db8::3389", -1},
    {"host:0", -EINVAL, NULL, 0},
    {"host:65536", -EINVAL, NULL, 0},
    {"host:", -EINVAL, NULL, 0},
    {"host:abc", -EINVAL, NULL, 0},
    {"host:-1", -EINVAL, NULL, 0},
    {"host: 3389", -EINVAL, NULL, 0},
    {":3389", -EINVAL, NULL, 0},
    {"[::1]x", -EINVAL, NULL, 0},
    {"[::1]:", -EINVAL, NULL, 0},
    {"[::1]:0", -EINVAL, NULL, 0},
    {"[::1", -EINVAL, NULL, 0},
    {"[]", -EINVAL, NULL, 0},
    {"[]:3389", -EINVAL, NULL, 0},
    {"", -EINVAL, NULL, 0},
    {"   ", -EINVAL, NULL, 0},
    {"a b", -EINVAL, NULL, 0},
    {"a\tb", -EINVAL, NULL, 0},
    {"a/b", -EINVAL, NULL, 0},
    {"a\\b", -EINVAL, NULL, 0},
    {"user@host", -EINVAL, NULL, 0},
    {"a\x7f", -EINVAL, NULL, 0},
    {"a\x01z", -EINVAL, NULL, 0},
};

static void test_normalize_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(norm_cases); i++) {
        const struct norm_case *c = &norm_cases[i];
        char out[256];
        int port = 12345;
        strcpy(out, "untouched");
        int rc = policy_normalize_host(c->in, out, sizeof out, &port);
        if (rc != c->rc)
            fail_msg("normalize('%s') = %d, want %d", c->in, rc, c->rc);
        if (rc)
            continue;
        if (strcmp(out, c->out) != 0)
            fail_msg("normalize('%s') = '%s', want '%s'", c->in, out, c->out);
        if (port != c->port)
            fail_msg("normalize('%s') port %d, want %d", c->in, port, c->port);
        /* normalising again is a fixed point for names without a port */
        char again[256];
        int p2 = 0;
        assert_int_equal(policy_normalize_host(out, again, sizeof again, &p2), 0);
        assert_string_equal(again, out);
        assert_int_equal(p2, -1);
    }
}

static void test_normalize_sizes(void **state)
{
    (void)state;
    char out[8];
    /* output of exactly outsz - 1 bytes fits, one more does not */
    assert_int_equal(policy_normalize_host("ABCDEFG", out, sizeof out, NULL), 0);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(policy_normalize_host("abcdefgh", out, sizeof out, NULL), -EINVAL);
    /* the port is not part of the output size */
    int port = 0;
    assert_int_equal(policy_normalize_host("abcdefg:3389", out, sizeof out, &port), 0);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(port, 3389);
    /* inputs longer than a pattern are refused, not truncated */
    char big[400], o2[512];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(policy_normalize_host(big, o2, sizeof o2, NULL), -EINVAL);
    big[POLICY_PATTERN_MAX - 1] = 0;
    assert_int_equal(policy_normalize_host(big, o2, sizeof o2, NULL), 0);
    assert_int_equal(strlen(o2), POLICY_PATTERN_MAX - 1);
    /* no port pointer: a plain name still works */
    assert_int_equal(policy_normalize_host("Plain.", out, sizeof out, NULL), 0);
    assert_string_equal(out, "plain");
}

/* ---------- policy_subject_matches ---------- */

#define MAX_GROUPS 8

/* Splits a ';' list of groups into a subject (storage owned by the caller). */
static void make_subject(struct policy_subject *s, const char *account, const char *groups,
                         char *storage, size_t storagesz, const char **gv)
{
    memset(s, 0, sizeof *s);
    s->account = account;
    s->groups = gv;
    if (!groups)
        return;
    snprintf(storage, storagesz, "%s", groups);
    char *save = NULL;
    for (char *t = strtok_r(storage, ";", &save); t && s->ngroups < MAX_GROUPS;
         t = strtok_r(NULL, ";", &save))
        gv[s->ngroups++] = t;
}

struct subj_case {
    const char *list;    /* user-groups entries */
    const char *account; /* may be NULL */
    const char *groups;  /* ';'-separated, may be NULL */
    bool match;
};

static const struct subj_case subj_cases[] = {
    {"*", "CORP\\alice", NULL, true},
    {"*", NULL, NULL, true},
    {"nobody; *", NULL, NULL, true},
    {"", "CORP\\alice", "RDP Users", false},
    {"CORP\\alice", "CORP\\alice", NULL, true},
    {"CORP\\alice", "corp\\ALICE", NULL, true},
    {"corp\\alice", "CORP\\Alice", "x", true},
    {"CORP\\alice", "CORP\\bob", NULL, false},
    {"CORP\\alice", "OTHER\\alice", NULL, false},
    {"CORP\\alice", "CORP\\alice2", NULL, false},
    {"CORP\\alice", NULL, NULL, false},
    {"RDP Users", "CORP\\alice", "RDP Users", true},
    {"rdp users", "CORP\\alice", "RDP USERS", true},
    {"RDP Users", "CORP\\alice", "RDP Admins", false},
    {"RDP Users", "CORP\\alice", "RDP Users2", false},
    {"RDP Users", "CORP\\alice", NULL, false},
    /* bare entry vs DOMAIN\group, and DOMAIN\entry vs bare group */
    {"RDP Users", "CORP\\alice", "CORP\\RDP Users", true},
    {"CORP\\RDP Users", "CORP\\alice", "RDP Users", true},
    {"corp\\rdp users", "CORP\\alice", "CORP\\RDP Users", true},
    /* both qualified: the domains must agree */
    {"CORP\\RDP Users", "CORP\\alice", "OTHER\\RDP Users", false},
    {"CORP\\RDP Users", "CORP\\alice", "OTHER\\RDP Users;CORP\\RDP Users", true},
    {"a;b;c", "CORP\\alice", "x;c", true},
    {"a;b;c", "CORP\\alice", "x;y;z", false},
    {"Admins;CORP\\alice", "CORP\\alice", "Users", true},
    /* "*" is only special on its own */
    {"RDP*", "CORP\\alice", "RDP Users", false},
    {"**", "CORP\\alice", "RDP Users", false},
    /* group names are not matched against the account and vice versa */
    {"RDP Users", "RDP Users", NULL, true}, /* the account itself equals the entry */
    {"CORP\\alice", "CORP\\bob", "CORP\\alice", true},
};

static void test_subject_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(subj_cases); i++) {
        const struct subj_case *c = &subj_cases[i];
        struct policy_list l = {0};
        assert_int_equal(policy_parse_list(c->list, &l), 0);
        char storage[256];
        const char *gv[MAX_GROUPS];
        struct policy_subject s;
        make_subject(&s, c->account, c->groups, storage, sizeof storage, gv);
        bool got = policy_subject_matches(&l, &s);
        if (got != c->match)
            fail_msg("subject case %zu: list '%s' account '%s' groups '%s': got %d", i, c->list,
                     c->account ? c->account : "(null)", c->groups ? c->groups : "(null)", got);
        for (size_t k = 0; k < l.n; k++)
            free(l.v[k]);
        free(l.v);
    }
}

/* ---------- policy_check_cap (through the configuration loader) ---------- */

#define CONF_HEAD                                                                                  \
    "[gateway]\nlisten = 127.0.0.1:8443\ncertificate = /c.pem\nprivate-key = /k.pem\n"             \
    "[auth]\nusers-file = /users\n"

static void load_policy_conf(const char *text, struct gw_config *cfg)
{
    struct buf errors = BUF_INIT;
    int n = config_load_string(text, "policy.conf", "/etc/tsgw", cfg, &errors);
    if (n) {
        buf_put_u8(&errors, 0);
        fail_msg("config errors: %s", (const char *)buf_data(&errors));
    }
    buf_free(&errors);
}

struct cap_case {
    const char *account;
    const char *groups;
    const char *cap; /* expected CAP name, NULL = deny */
};

static void test_check_cap_order(void **state)
{
    (void)state;
    /* Written out of order: evaluation follows 'order', then the name. */
    static const char text[] = CONF_HEAD "[cap:users]\nuser-groups = Users\norder = 30\n"
                                         "[cap:everyone-off]\nuser-groups = *\norder = 1\n"
                                         "enabled = no\n"
                                         "[cap:b-admins]\nuser-groups = Admins\norder = 10\n"
                                         "[cap:a-admins]\nuser-groups = CORP\\Admins\norder = 10\n"
                                         "[cap:alice]\nuser-groups = CORP\\alice\norder = 20\n"
                                         "[cap:last]\nuser-groups = Late\norder = 1000000\n";
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_policy_conf(text, cfg);
    const struct policy *p = &cfg->policy;
    assert_int_equal(p->ncaps, 6);
    static const char *const sorted[] = {"everyone-off", "a-admins", "b-admins",
                                         "alice",        "users",    "last"};
    for (size_t i = 0; i < N(sorted); i++)
        assert_string_equal(p->caps[i].name, sorted[i]);

    static const struct cap_case cases[] = {
        {"CORP\\bob", "Users", "users"},
        {"CORP\\bob", "Admins;Users", "a-admins"},
        {"CORP\\bob", "Users;Admins", "a-admins"},
        {"CORP\\alice", "Users", "alice"},
        {"corp\\ALICE", NULL, "alice"},
        {"CORP\\bob", "Late", "last"},
        {"CORP\\bob", NULL, NULL}, /* the only "*" CAP is disabled */
        {"CORP\\bob", "Nobody", NULL},
        {NULL, NULL, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char storage[256];
        const char *gv[MAX_GROUPS];
        struct policy_subject s;
        make_subject(&s, cases[i].account, cases[i].groups, storage, sizeof storage, gv);
        const struct policy_cap *c = policy_check_cap(p, &s);
        const char *got = c ? c->name : NULL;
        if ((got == NULL) != (cases[i].cap == NULL) || (got && strcmp(got, cases[i].cap)))
            fail_msg("cap case %zu: got %s, want %s", i, got ? got : "deny",
                     cases[i].cap ? cases[i].cap : "deny");
    }
    config_free(cfg);
    free(cfg);
}

static void test_check_cap_empty_and_disabled(void **state)
{
    (void)state;
    struct policy empty = {0};
    struct policy_subject s = {.account = "CORP\\alice"};
    assert_null(policy_check_cap(&empty, &s));

    static const char text[] = CONF_HEAD "[cap:off]\nuser-groups = *\nenabled = false\n";
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_policy_conf(text, cfg);
    assert_null(policy_check_cap(&cfg->policy, &s));
    /* enabling it makes it match: only 'enabled' stood in the way */
    cfg->policy.caps[0].enabled = true;
    const struct policy_cap *c = policy_check_cap(&cfg->policy, &s);
    assert_non_null(c);
    assert_string_equal(c->name, "off");
    config_free(cfg);
    free(cfg);
}

static void test_policy_finish_sorts(void **state)
{
    (void)state;
    struct policy p = {0};
    p.caps = calloc(4, sizeof *p.caps);
    assert_non_null(p.caps);
    p.ncaps = 4;
    static const struct {
        const char *name;
        int order;
    } in[] = {{"zeta", 2}, {"Beta", 1}, {"alpha", 2}, {"gamma", 0}};
    for (size_t i = 0; i < N(in); i++) {
        snprintf(p.caps[i].name, sizeof p.caps[i].name, "%s", in[i].name);
        p.caps[i].order = in[i].order;
    }
    policy_finish(&p);
    assert_string_equal(p.caps[0].name, "gamma");
    assert_string_equal(p.caps[1].name, "Beta");
    assert_string_equal(p.caps[2].name, "alpha");
    assert_string_equal(p.caps[3].name, "zeta");
    policy_free(&p);
    assert_int_equal(p.ncaps, 0);
}

/* ---------- policy_check_rap ---------- */

static void add_group(struct policy *p, const char *name, const char *resources)
{
    struct policy_group *nv = realloc(p->groups, (p->ngroups + 1) * sizeof *nv);
    assert_non_null(nv);
    p->groups = nv;
    struct policy_group *g = &p->groups[p->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    assert_int_equal(policy_parse_resource_list(resources, &g->res, &g->nres, NULL, 0), 0);
}

static void add_rap(struct policy *p, const char *name, bool enabled, const char *users,
                    const char *resources, const char *group, const char *ports)
{
    struct policy_rap *nv = realloc(p->raps, (p->nraps + 1) * sizeof *nv);
    assert_non_null(nv);
    p->raps = nv;
    struct policy_rap *r = &p->raps[p->nraps++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->enabled = enabled;
    assert_int_equal(policy_parse_list(users, &r->user_groups), 0);
    if (resources)
        assert_int_equal(policy_parse_resource_list(resources, &r->res, &r->nres, NULL, 0), 0);
    if (group)
        snprintf(r->group_name, sizeof r->group_name, "%s", group);
    assert_int_equal(policy_parse_ports(ports, r), 0);
}

/* "10.1.2.3" -> AF_INET; anything with ':' -> AF_INET6 (so "::ffff:10.1.2.3" is a mapped
 * address); "unix" -> AF_UNIX; NULL -> NULL. */
static const struct sockaddr *make_addr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (!text)
        return NULL;
    if (strcmp(text, "unix") == 0) {
        struct sockaddr_un *su = (struct sockaddr_un *)ss;
        su->sun_family = AF_UNIX;
        return (const struct sockaddr *)ss;
    }
    if (strchr(text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
    }
    return (const struct sockaddr *)ss;
}

struct rap_case {
    const char *account;
    const char *groups;
    const char *host;
    const char *addr;
    uint16_t port;
    const char *rap; /* expected RAP name, NULL = deny */
};

static const struct rap_case rap_cases[] = {
    /* host-name entries match the requested name; the address does not matter */
    {"CORP\\u", "RDP Users", "rdp-01.corp", "8.8.8.8", 3389, "names"},
    {"CORP\\u", "RDP Users", "rdp-01.corp", NULL, 3389, "names"},
    {"CORP\\u", "RDP Users", "host1", "::1", 3389, "names"},
    {"CORP\\u", "RDP Users", "RDP-01.CORP", NULL, 3389, "names"},
    {"CORP\\u", "RDP Users", "rdp-01.corp.evil", NULL, 3389, NULL},
    {"CORP\\u", "RDP Users", "host10", NULL, 3389, NULL},
    /* port list */
    {"CORP\\u", "RDP Users", "rdp-01.corp", NULL, 3390, NULL},
    {"CORP\\u", "RDP Users", "rdp-01.corp", NULL, 0, NULL},
    /* address/CIDR entries match the resolved address only, never the name */
    {"CORP\\u", "RDP Users", "anything", "10.1.2.3", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "10.1.255.255", 3390, "net"},
    {"CORP\\u", "RDP Users", "anything", "10.1.2.3", 3391, NULL},
    {"CORP\\u", "RDP Users", "anything", "10.2.0.1", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "10.0.255.255", 3389, NULL},
    {"CORP\\u", "RDP Users", "10.1.2.3", NULL, 3389, NULL},
    {"CORP\\u", "RDP Users", "10.1.2.3", "8.8.8.8", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "192.168.1.5", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "192.168.1.6", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "192.168.1.4", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "fd00::1", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "fdff:ffff::1", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "fe80::1", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "2001:db8::7", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "2001:db8::8", 3389, NULL},
    /* IPv4-mapped IPv6 addresses are IPv4 addresses */
    {"CORP\\u", "RDP Users", "anything", "::ffff:10.1.2.3", 3389, "net"},
    {"CORP\\u", "RDP Users", "anything", "::ffff:192.168.1.5", 3390, "net"},
    {"CORP\\u", "RDP Users", "anything", "::ffff:10.2.0.1", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "::10.1.2.3", 3389, NULL}, /* compatible, not mapped */
    {"CORP\\u", "RDP Users", "anything", "64:ff9b::10.1.2.3", 3389, NULL},
    {"CORP\\u", "RDP Users", "anything", "unix", 3389, NULL},
    /* resource groups, any port, referenced case-insensitively */
    {"CORP\\a", "Admins", "srv1.corp", NULL, 22, "grp"},
    {"CORP\\a", "Admins", "srv1.corp", NULL, 65535, "grp"},
    {"CORP\\a", "Admins", "srv10.corp", NULL, 22, NULL},
    {"CORP\\a", "Admins", "x", "172.16.0.1", 1, "grp"},
    {"CORP\\a", "Admins", "x", "172.31.255.255", 1, "grp"},
    {"CORP\\a", "Admins", "x", "172.32.0.0", 1, NULL},
    {"CORP\\a", "Admins", "x", "::ffff:172.20.0.1", 1, "grp"},
    {"CORP\\a", "Admins", "rdp-01.corp", NULL, 3389, NULL},
    /* user groups of the RAP */
    {"CORP\\a", "CORP\\Admins", "srv1.corp", NULL, 22, "grp"},
    {"CORP\\x", "Guests", "rdp-01.corp", NULL, 3389, NULL},
    {"CORP\\x", NULL, "rdp-01.corp", NULL, 3389, NULL},
    /* an account entry */
    {"CORP\\carol", NULL, "jump.corp", NULL, 443, "carol"},
    {"corp\\CAROL", NULL, "jump.corp", NULL, 443, "carol"},
    {"CORP\\carol", NULL, "jump.corp", NULL, 3389, NULL},
    {"OTHER\\carol", NULL, "jump.corp", NULL, 443, NULL},
    /* /0 ranges: all of IPv4 (mapped included), all of IPv6 (not mapped) */
    {"CORP\\w", "Wide", "x", "203.0.113.9", 8080, "wide"},
    {"CORP\\w", "Wide", "x", "::ffff:203.0.113.9", 8080, "wide"},
    {"CORP\\w", "Wide", "x", "2001:db8::1", 8080, "wide6"},
    {"CORP\\w", "Wide", "x", NULL, 8080, NULL},
    /* first enabled match wins; the disabled "*" RAP never matches */
    {"CORP\\f", "First;Second", "both.corp", NULL, 3389, "first"},
    {"CORP\\f", "Second", "both.corp", NULL, 3389, "second"},
    {"CORP\\z", "Nobody", "rdp-01.corp", "10.1.2.3", 3389, NULL},
    /* a reference to a group that does not exist allows nothing */
    {"CORP\\g", "Ghosts", "anything", "10.1.2.3", 3389, NULL},
};

static void build_rap_policy(struct policy *p)
{
    memset(p, 0, sizeof *p);
    add_rap(p, "off", false, "*", "*; 0.0.0.0/0; ::/0", NULL, "*");
    add_rap(p, "names", true, "RDP Users", "rdp-*.corp; host?", NULL, "3389");
    add_rap(p, "net", true, "RDP Users", "10.1.0.0/16; fd00::/8; 192.168.1.5; 2001:db8::7", NULL,
            "3389;3390");
    add_rap(p, "grp", true, "Admins", NULL, "SERVERS", "*");
    add_rap(p, "carol", true, "CORP\\carol", "jump.corp", NULL, "443");
    add_rap(p, "wide", true, "Wide", "0.0.0.0/0", NULL, "8080");
    add_rap(p, "wide6", true, "Wide", "::/0", NULL, "8080");
    add_rap(p, "first", true, "First", "both.corp", NULL, "3389");
    add_rap(p, "second", true, "Second;First", "both.corp", NULL, "3389");
    add_rap(p, "ghost", true, "Ghosts", NULL, "no-such-group", "*");
    add_group(p, "Servers", "srv?.corp; 172.16.0.0/12");
    add_group(p, "Other", "*");
}

static void test_check_rap_table(void **state)
{
    (void)state;
    struct policy p;
    build_rap_policy(&p);
    for (size_t i = 0; i < N(rap_cases); i++) {
        const struct rap_case *c = &rap_cases[i];
        char storage[256];
        const char *gv[MAX_GROUPS];
        struct policy_subject s;
        make_subject(&s, c->account, c->groups, storage, sizeof storage, gv);
        struct sockaddr_storage ss;
        const struct sockaddr *sa = make_addr(c->addr, &ss);
        const struct policy_rap *r = policy_check_rap(&p, &s, c->host, sa, c->port);
        const char *got = r ? r->name : NULL;
        if ((got == NULL) != (c->rap == NULL) || (got && strcmp(got, c->rap)))
            fail_msg("rap case %zu (%s %s %s:%u): got %s, want %s", i, c->groups ? c->groups : "-",
                     c->host, c->addr ? c->addr : "-", c->port, got ? got : "deny",
                     c->rap ? c->rap : "deny");
    }
    policy_free(&p);
}

static void test_check_rap_disabled_toggle(void **state)
{
    (void)state;
    struct policy p;
    build_rap_policy(&p);
    struct policy_subject s = {.account = "CORP\\nobody"};
    /* the "*" RAP is disabled: nobody gets anywhere */
    assert_null(policy_check_rap(&p, &s, "anything", NULL, 1));
    p.raps[0].enabled = true;
    const struct policy_rap *r = policy_check_rap(&p, &s, "anything", NULL, 1);
    assert_non_null(r);
    assert_string_equal(r->name, "off");
    /* disabling "names" lets the next matching RAP answer */
    p.raps[0].enabled = false;
    const char *gv[] = {"RDP Users"};
    struct policy_subject u = {.account = "CORP\\u", .groups = gv, .ngroups = 1};
    struct sockaddr_storage ss;
    const struct sockaddr *sa = make_addr("10.1.0.9", &ss);
    r = policy_check_rap(&p, &u, "rdp-01.corp", sa, 3389);
    assert_non_null(r);
    assert_string_equal(r->name, "names");
    p.raps[1].enabled = false;
    r = policy_check_rap(&p, &u, "rdp-01.corp", sa, 3389);
    assert_non_null(r);
    assert_string_equal(r->name, "net");
    p.raps[2].enabled = false;
    assert_null(policy_check_rap(&p, &u, "rdp-01.corp", sa, 3389));
    policy_free(&p);
}

static void test_check_rap_empty(void **state)
{
    (void)state;
    struct policy p = {0};
    struct policy_subject s = {.account = "CORP\\alice"};
    assert_null(policy_check_rap(&p, &s, "host", NULL, 3389));
    /* a RAP with no resources allows nothing */
    add_rap(&p, "empty", true, "*", "", NULL, "*");
    assert_int_equal(p.raps[0].nres, 0);
    assert_null(policy_check_rap(&p, &s, "host", NULL, 3389));
    policy_free(&p);
}

/* Undefined group references are reported by conf/ with their line (test_config); a RAP naming
 * a group that does not exist simply allows nothing. */
static void test_policy_finish_undefined_group(void **state)
{
    (void)state;
    struct policy p = {0};
    struct policy_subject s = {.account = "CORP\\alice"};
    add_rap(&p, "r1", true, "*", NULL, "Lab", "*");
    add_group(&p, "LAB", "h");
    add_rap(&p, "r2", true, "*", NULL, "Missing", "*");
    policy_finish(&p);
    assert_non_null(policy_check_rap(&p, &s, "h", NULL, 3389));
    assert_null(policy_check_rap(&p, &s, "other", NULL, 3389));
    policy_free(&p);
}

/* "10.1.*" would match the name 10.1.evil.example: address ranges must be CIDR */
static void test_address_like_patterns_refused(void **state)
{
    (void)state;
    struct policy_resource r;
    assert_int_equal(policy_parse_resource("10.1.*", &r), -EINVAL);
    assert_int_equal(policy_parse_resource("192.168.?.1", &r), -EINVAL);
    assert_int_equal(policy_parse_resource("10.1.0.0/16", &r), 0);
    assert_int_equal(policy_parse_resource("*", &r), 0);
    assert_int_equal(policy_parse_resource("rdp-*.corp", &r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_table),
        cmocka_unit_test(test_address_like_patterns_refused),
        cmocka_unit_test(test_glob_pathological),
        cmocka_unit_test(test_parse_resource_table),
        cmocka_unit_test(test_parse_resource_lengths),
        cmocka_unit_test(test_parse_resource_list),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_ports),
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_normalize_sizes),
        cmocka_unit_test(test_subject_table),
        cmocka_unit_test(test_check_cap_order),
        cmocka_unit_test(test_check_cap_empty_and_disabled),
        cmocka_unit_test(test_policy_finish_sorts),
        cmocka_unit_test(test_check_rap_table),
        cmocka_unit_test(test_check_rap_disabled_toggle),
        cmocka_unit_test(test_check_rap_empty),
        cmocka_unit_test(test_policy_finish_undefined_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
