/* Unit tests for the configuration loader (src/conf/config.c): a full valid file, every error
 * path with its line number, several errors at once, durations, limit ranges, long lines and
 * NUL bytes. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/config.h"
#include "core/buf.h"
#include "policy/policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The smallest valid configuration: six lines, so appended text starts on line 7. */
#define HEAD                                                                                       \
    "[gateway]\n"                                                                                  \
    "listen = 127.0.0.1:8443\n"                                                                    \
    "certificate = /c.pem\n"                                                                       \
    "private-key = /k.pem\n"                                                                       \
    "[auth]\n"                                                                                     \
    "users-file = /users\n"
#define HEAD_LINES 6

struct loaded {
    struct gw_config *cfg;
    struct buf errors;
    int n;
    char *text; /* NUL-terminated copy of errors */
};

static void load_as(struct loaded *l, const char *text, const char *name, const char *dir)
{
    l->cfg = calloc(1, sizeof *l->cfg);
    assert_non_null(l->cfg);
    l->errors = (struct buf)BUF_INIT;
    l->n = config_load_string(text, name, dir, l->cfg, &l->errors);
    size_t len = buf_len(&l->errors);
    l->text = malloc(len + 1);
    assert_non_null(l->text);
    if (len)
        memcpy(l->text, buf_data(&l->errors), len);
    l->text[len] = 0;
}

static void load(struct loaded *l, const char *text)
{
    load_as(l, text, "t.conf", "/etc/tsgw");
}

static void unload(struct loaded *l)
{
    config_free(l->cfg);
    free(l->cfg);
    buf_free(&l->errors);
    free(l->text);
}

/* The tests that expose a bug release everything before failing, so that sanitizer builds
 * report the failure and not a leak. */
static char failed_text[4096];

static void unload_keep_text(struct loaded *l)
{
    snprintf(failed_text, sizeof failed_text, "%s", l->text);
    unload(l);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* True when some reported line is exactly "name:line: ...substr..." (line > 0), or
 * "name: ...substr..." for a problem of the whole file (line 0). */
static bool has_error(const char *errs, const char *name, int line, const char *substr)
{
    char prefix[128];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", name, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", name);
    size_t pl = strlen(prefix);
    for (const char *s = errs; *s;) {
        const char *e = strchr(s, '\n');
        size_t ll = e ? (size_t)(e - s) : strlen(s);
        if (ll >= pl && memcmp(s, prefix, pl) == 0) {
            char tmp[1024];
            snprintf(tmp, sizeof tmp, "%.*s", (int)ll, s);
            if (strstr(tmp, substr))
                return true;
        }
        if (!e)
            break;
        s = e + 1;
    }
    return false;
}

/* Every reported line has the form "NAME:LINE: message" (LINE >= 1), or "NAME: message" for a
 * problem of the file as a whole. */
static void assert_error_format(const char *errs, const char *name)
{
    size_t nl = strlen(name);
    for (const char *s = errs; *s;) {
        const char *e = strchr(s, '\n');
        assert_non_null(e); /* every message ends with a newline */
        if (strncmp(s, name, nl) != 0 || s[nl] != ':')
            fail_msg("bad error line: %.*s", (int)(e - s), s);
        const char *p = s + nl + 1;
        if (*p >= '0' && *p <= '9') {
            if (*p == '0')
                fail_msg("line 0 in: %.*s", (int)(e - s), s);
            while (*p >= '0' && *p <= '9')
                p++;
            if (*p != ':')
                fail_msg("bad error line: %.*s", (int)(e - s), s);
            p++;
        }
        if (p[0] != ' ' || p + 1 >= e)
            fail_msg("bad error line: %.*s", (int)(e - s), s);
        s = e + 1;
    }
}

/* ---------- a full valid configuration ---------- */

static const char full_conf[] =
    "; tsgw test configuration\n"
    "# both comment styles\n"
    "\n"
    "[gateway]\n"
    "listen = 127.0.0.1:8443; [::1]:9443   ; two addresses\n"
    "certificate = certs/gw.pem\n"
    "private-key = /srv/keys/gw.key\n"
    "admin-socket = run/admin.sock       ; for tsgwctl\n"
    "admin-group = wheel#1\n"
    "user = tsgw\n"
    "\n"
    "  [ auth ]  \n"
    "users-file = users\n"
    "netbios-domain = CORP\n"
    "netbios-name = GW01\n"
    "dns-domain = corp.example\t# tab before the comment\n"
    "dns-name = gw01.corp.example\n"
    "gateway-names = gw01.corp.example;rdg.example.com ; and a comment\n"
    "require-channel-binding = no\n"
    "require-mic = OFF\r\n"
    "\n"
    "[limits]\n"
    "max-request-line = 8192\n"
    "max-header-line = 2048\n"
    "max-headers = 100\n"
    "max-header-bytes = 65536\n"
    "max-websocket-message = 200000\n"
    "max-setup-packet = 4096\n"
    "max-chunk = 70000\n"
    "max-unauthenticated = 100\n"
    "max-unauthenticated-per-address = 10\n"
    "max-tunnels = 500\n"
    "relay-buffer = 131072\n"
    "tls-handshake-timeout = 5s\n"
    "auth-timeout = 20\n"
    "setup-timeout = 1m\n"
    "pairing-timeout = 1500ms\n"
    "connect-timeout = 3s\n"
    "close-grace = 250ms\n"
    "keepalive-interval = 0\n"
    "\n"
    "[settings]\n"
    "max-connections = 250\n"
    "\n"
    "[cim]\n"
    "listen = 127.0.0.1:5989\n"
    "private-key = cim.key\n"
    "admin-group = CORP\\WMI Admins\n"
    "max-body = 65536\n"
    "\n"
    "[cap:staff]\n"
    "user-groups = RDP Users; CORP\\Admins    ; inline comment\n"
    "order = 2\n"
    "enabled = yes\n"
    "idle-timeout = 30\n"
    "session-timeout = 2h\n"
    "\n"
    "[cap:everyone]\n"
    "user-groups = *\n"
    "order = 1\n"
    "enabled = false\n"
    "\n"
    "[rap:servers]\n"
    "user-groups = RDP Users ;CORP\\Admins\n"
    "resource-group = Servers\n"
    "ports = 3389\n"
    "\n"
    "[rap:direct]\n"
    "user-groups = CORP\\Admins\n"
    "resources = 10.0.0.0/8; fd00::/8;jump.corp\n"
    "ports = *\n"
    "enabled = on\n"
    "\n"
    "[resource-group:Servers]\n"
    "resources = rdp-*.corp; 192.168.10.0/24 # comment\n";

static void test_full_valid(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, full_conf);
    if (l.n)
        fail_msg("unexpected errors:\n%s", l.text);
    assert_string_equal(l.text, "");
    const struct gw_config *c = l.cfg;
    assert_string_equal(c->path, "t.conf");
    assert_string_equal(c->dir, "/etc/tsgw");
    /* [gateway] */
    assert_int_equal(c->nlisten, 2);
    assert_string_equal(c->listen[0], "127.0.0.1:8443");
    assert_string_equal(c->listen[1], "[::1]:9443");
    assert_string_equal(c->certificate, "/etc/tsgw/certs/gw.pem");
    assert_string_equal(c->private_key, "/srv/keys/gw.key");
    assert_string_equal(c->admin_socket, "/etc/tsgw/run/admin.sock");
    assert_string_equal(c->admin_group, "wheel#1");
    assert_string_equal(c->run_user, "tsgw");
    /* [auth] */
    assert_string_equal(c->users_file, "/etc/tsgw/users");
    assert_string_equal(c->netbios_domain, "CORP");
    assert_string_equal(c->netbios_name, "GW01");
    assert_string_equal(c->dns_domain, "corp.example");
    assert_string_equal(c->dns_name, "gw01.corp.example");
    assert_int_equal(c->ngateway_names, 2);
    assert_string_equal(c->gateway_names[0], "gw01.corp.example");
    assert_string_equal(c->gateway_names[1], "rdg.example.com");
    assert_false(c->require_channel_binding);
    assert_false(c->require_mic);
    /* [limits] */
    assert_int_equal(c->lim.max_request_line, 8192);
    assert_int_equal(c->lim.max_header_line, 2048);
    assert_int_equal(c->lim.max_headers, 100);
    assert_int_equal(c->lim.max_header_bytes, 65536);
    assert_int_equal(c->lim.max_ws_message, 200000);
    assert_int_equal(c->lim.max_setup_packet, 4096);
    assert_int_equal(c->lim.max_chunk, 70000);
    assert_int_equal(c->lim.max_unauth_total, 100);
    assert_int_equal(c->lim.max_unauth_per_ip, 10);
    assert_int_equal(c->lim.max_tunnels, 500);
    assert_int_equal(c->lim.relay_buffer, 131072);
    assert_int_equal(c->lim.tls_handshake_ms, 5000);
    assert_int_equal(c->lim.auth_ms, 20000);
    assert_int_equal(c->lim.setup_ms, 60000);
    assert_int_equal(c->lim.pairing_ms, 1500);
    assert_int_equal(c->lim.connect_ms, 3000);
    assert_int_equal(c->lim.close_grace_ms, 250);
    assert_int_equal(c->lim.keepalive_ms, 0);
    /* [settings] */
    assert_int_equal(c->max_connections, 250);
    /* [cim]: the certificate defaults to the gateway's, the key was given (relative) */
    assert_string_equal(c->cim_listen, "127.0.0.1:5989");
    assert_string_equal(c->cim_certificate, "/etc/tsgw/certs/gw.pem");
    assert_string_equal(c->cim_private_key, "/etc/tsgw/cim.key");
    assert_string_equal(c->cim_admin_group, "CORP\\WMI Admins");
    assert_int_equal(c->cim_max_body, 65536);

    /* CAPs, sorted by order */
    const struct policy *p = &c->policy;
    assert_int_equal(p->ncaps, 2);
    assert_string_equal(p->caps[0].name, "everyone");
    assert_int_equal(p->caps[0].order, 1);
    assert_false(p->caps[0].enabled);
    assert_int_equal(p->caps[0].user_groups.n, 1);
    assert_string_equal(p->caps[0].user_groups.v[0], "*");
    assert_string_equal(p->caps[1].name, "staff");
    assert_int_equal(p->caps[1].order, 2);
    assert_true(p->caps[1].enabled);
    assert_int_equal(p->caps[1].user_groups.n, 2);
    assert_string_equal(p->caps[1].user_groups.v[0], "RDP Users");
    assert_string_equal(p->caps[1].user_groups.v[1], "CORP\\Admins");
    assert_int_equal(p->caps[1].idle_timeout_s, 30 * 60);
    assert_int_equal(p->caps[1].session_timeout_s, 2 * 3600);

    /* RAPs, in file order */
    assert_int_equal(p->nraps, 2);
    const struct policy_rap *r = &p->raps[0];
    assert_string_equal(r->name, "servers");
    assert_true(r->enabled);
    /* "RDP Users ;CORP\Admins": the ';' after white space starts a comment */
    assert_int_equal(r->user_groups.n, 1);
    assert_string_equal(r->user_groups.v[0], "RDP Users");
    assert_string_equal(r->group_name, "Servers");
    assert_int_equal(r->nres, 0);
    assert_false(r->any_port);
    assert_int_equal(r->nports, 1);
    assert_int_equal(r->ports[0], 3389);
    r = &p->raps[1];
    assert_string_equal(r->name, "direct");
    assert_true(r->enabled);
    assert_string_equal(r->group_name, "");
    assert_int_equal(r->nres, 3);
    assert_int_equal(r->res[0].kind, RES_IPV4);
    assert_int_equal(r->res[0].prefix, 8);
    assert_int_equal(r->res[1].kind, RES_IPV6);
    assert_int_equal(r->res[2].kind, RES_HOST_PATTERN);
    assert_string_equal(r->res[2].pattern, "jump.corp");
    assert_true(r->any_port);

    /* resource groups */
    assert_int_equal(p->ngroups, 1);
    assert_string_equal(p->groups[0].name, "Servers");
    assert_int_equal(p->groups[0].nres, 2);
    assert_string_equal(p->groups[0].res[0].pattern, "rdp-*.corp");
    assert_int_equal(p->groups[0].res[1].kind, RES_IPV4);
    assert_int_equal(p->groups[0].res[1].prefix, 24);
    unload(&l);
}

static void test_defaults(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD);
    assert_int_equal(l.n, 0);
    const struct gw_config *c = l.cfg;
    assert_string_equal(c->admin_group, "tsgw-admins");
    assert_string_equal(c->netbios_domain, "TSGW");
    assert_true(c->require_channel_binding);
    assert_true(c->require_mic);
    assert_int_equal(c->lim.max_request_line, 4096);
    assert_int_equal(c->lim.max_header_bytes, 16384);
    assert_int_equal(c->lim.auth_ms, 30000);
    assert_int_equal(c->max_connections, 0);
    assert_string_equal(c->cim_listen, "");
    /* no [cim] listen: nothing inherited */
    assert_string_equal(c->cim_certificate, "");
    assert_int_equal(c->policy.ncaps, 0);
    assert_int_equal(c->policy.nraps, 0);
    unload(&l);
}

static void test_relative_paths(void **state)
{
    (void)state;
    static const char text[] = "[gateway]\nlisten = 127.0.0.1:1\ncertificate = c.pem\n"
                               "private-key = ./k.pem\nadmin-socket = /run/a.sock\n"
                               "[auth]\nusers-file = ../shared/users\n";
    struct loaded l;
    load_as(&l, text, "x.conf", "/opt/gw/conf");
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->certificate, "/opt/gw/conf/c.pem");
    assert_string_equal(l.cfg->private_key, "/opt/gw/conf/./k.pem");
    assert_string_equal(l.cfg->admin_socket, "/run/a.sock");
    assert_string_equal(l.cfg->users_file, "/opt/gw/conf/../shared/users");
    unload(&l);
    /* no directory: relative paths stay as written */
    load_as(&l, text, "x.conf", NULL);
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->certificate, "c.pem");
    assert_string_equal(l.cfg->users_file, "../shared/users");
    unload(&l);
    /* a directory long enough to push the path over PATH_MAX */
    char *dir = malloc(PATH_MAX);
    assert_non_null(dir);
    memset(dir, 'd', PATH_MAX - 4);
    dir[0] = '/';
    dir[PATH_MAX - 4] = 0;
    load_as(&l, text, "x.conf", dir);
    assert_true(has_error(l.text, "x.conf", 3, "path too long"));
    unload(&l);
    free(dir);
}

static void test_inline_comments(void **state)
{
    (void)state;
    struct {
        const char *line; /* a [cap:x] user-groups value */
        size_t n;
        const char *first, *last;
    } cases[] = {
        {"a; b", 2, "a", "b"},
        {"a;b;c", 3, "a", "c"},
        {"a ; b", 1, "a", "a"},
        {"a\t; b", 1, "a", "a"},
        {"a # b", 1, "a", "a"},
        {"a#b", 1, "a#b", "a#b"},
        {"a;#b", 2, "a", "#b"},
        {"a; b ;c", 2, "a", "b"},
        {"CORP\\RDP Users; *", 2, "CORP\\RDP Users", "*"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "[cap:x]\nuser-groups = %s\n", cases[i].line);
        struct loaded l;
        load(&l, text);
        if (l.n)
            fail_msg("'%s': %s", cases[i].line, l.text);
        const struct policy_list *ug = &l.cfg->policy.caps[0].user_groups;
        if (ug->n != cases[i].n)
            fail_msg("'%s': %zu entries, want %zu", cases[i].line, ug->n, cases[i].n);
        assert_string_equal(ug->v[0], cases[i].first);
        assert_string_equal(ug->v[ug->n - 1], cases[i].last);
        unload(&l);
    }
}

/* ---------- single errors: message and line ---------- */

struct err_case {
    const char *snippet; /* appended after HEAD (starts on line 7) */
    int line;            /* absolute line of the error */
    const char *msg;     /* substring of the message */
};

static const struct err_case err_cases[] = {
    {"[bogus]\n", 7, "unknown section [bogus]"},
    {"[log]\ntarget = file\n", 8, "is not auto, stderr, journal or syslog"},
    {"[log]\nevent-history = 100001\n", 8, "not a number in 0..100000"},
    {"[log]\ncolour = yes\n", 8, "unknown key 'colour' in [log]"},
    {"[log]\nwatch-queue = 15\n", 8, "not a number in 16..65536"},
    {"[metrics]\nlisten = localhost\n", 8, "is not ADDRESS:PORT"},
    {"[metrics]\nport = 9477\n", 8, "unknown key 'port' in [metrics]"},
    {"[bogus:x]\n", 7, "unknown section [bogus:x]"},
    {"[cap:]\n", 7, "needs a name"},
    {"[rap:   ]\n", 7, "needs a name"},
    {"\n\n[gateway\nlisten = 1.2.3.4:5\n", 9, "without ']'"},
    {"[gateway] junk\n", 7, "text after section header"},
    {"just some text\n", 7, "expected 'key = value'"},
    {"[gateway]\n = value\n", 8, "missing key before '='"},
    {"[gateway]\nbogus = 1\n", 8, "unknown key 'bogus' in [gateway]"},
    {"[auth]\nfoo = 1\n", 8, "unknown key 'foo' in [auth]"},
    {"[limits]\nfoo = 1\n", 8, "unknown key 'foo' in [limits]"},
    {"[settings]\nfoo = 1\n", 8, "unknown key 'foo' in [settings]"},
    {"[cim]\nfoo = 1\n", 8, "unknown key 'foo' in [cim]"},
    {"[cap:c]\nuser-groups = *\nfoo = 1\n", 9, "unknown key 'foo' in [cap:c]"},
    {"[rap:r]\nuser-groups = *\nresources = h\nports = *\nfoo = 1\n", 11,
     "unknown key 'foo' in [rap:r]"},
    {"[resource-group:g]\nfoo = 1\n", 8, "unknown key 'foo' in [resource-group:g]"},
    /* keys are case-sensitive */
    {"[gateway]\nListen = 127.0.0.1:1\n", 8, "unknown key 'Listen'"},
    {"[gateway]\nlisten = 127.0.0.1:1; localhost:8443\n", 8,
     "'localhost:8443' is not ADDRESS:PORT"},
    {"[gateway]\nlisten = 127.0.0.1;127.0.0.1:1\n", 8, "'127.0.0.1' is not ADDRESS:PORT"},
    {"[gateway]\nlisten = 127.0.0.1:1;127.0.0.1:2;127.0.0.1:3;127.0.0.1:4;127.0.0.1:5;"
     "127.0.0.1:6;127.0.0.1:7;127.0.0.1:8;127.0.0.1:9\n",
     8, "at most 8 listen addresses"},
    {"[gateway]\nadmin-group = "
     "0123456789012345678901234567890123456789012345678901234567890123\n",
     8, "value too long (at most 63 bytes)"},
    {"[auth]\nnetbios-domain = 0123456789ABCDEF\n", 8, "value too long (at most 15 bytes)"},
    {"[auth]\nnetbios-name = 0123456789ABCDEF\n", 8, "value too long (at most 15 bytes)"},
    {"[auth]\nrequire-mic = maybe\n", 8, "'maybe' is not yes/no"},
    {"[auth]\nrequire-channel-binding = 2\n", 8, "'2' is not yes/no"},
    {"[kdc-proxy]\nkdcs = kdc.contoso.test:88\n", 8,
     "kdcs: 'kdc.contoso.test:88' is not ADDRESS:PORT"},
    {"[kdc-proxy]\nkdcs = 127.0.0.1:1;127.0.0.1:2;127.0.0.1:3;127.0.0.1:4;127.0.0.1:5;"
     "127.0.0.1:6;127.0.0.1:7;127.0.0.1:8;127.0.0.1:9\n",
     8, "at most 8 kdcs"},
    {"[kdc-proxy]\nrealm = CONTOSO TEST\n", 8, "realm 'CONTOSO TEST': printable ASCII"},
    {"[kdc-proxy]\ntimeout = 2m\n", 8, "timeout '2m': a duration from 100ms to 60s"},
    {"[kdc-proxy]\nmax-message = 100\n", 8, "'100' is not a number in 1024..65536"},
    {"[kdc-proxy]\nbogus = 1\n", 8, "unknown key 'bogus' in [kdc-proxy]"},
    {"[auth]\ndirectory = ldap\n", 8, "directory 'ldap': only 'winbind' or 'none'"},
    {"[auth]\ndirectory-timeout = 30s\n", 8,
     "directory-timeout '30s': a duration from 100ms to 25s"},
    {"[auth]\ndirectory-timeout = 50ms\n", 8, "a duration from 100ms to 25s"},
    {"[auth]\ndirectory-workers = 0\n", 8, "'0' is not a number in 1..32"},
    {"[auth]\ngroup-cache-ttl = forever\n", 8, "'forever' is not a duration"},
    {"[limits]\nmax-headers = 3\n", 8, "'3' is not a number in 4..128"},
    {"[limits]\nmax-headers = 129\n", 8, "'129' is not a number in 4..128"},
    {"[limits]\nmax-headers = 1e2\n", 8, "not a number"},
    {"[limits]\nmax-headers = -4\n", 8, "not a number"},
    {"[limits]\nmax-headers =\n", 8, "not a number"},
    {"[limits]\nauth-timeout = 0\n", 8, "auth-timeout must be greater than 0"},
    {"[limits]\nconnect-timeout = 0ms\n", 8, "connect-timeout must be greater than 0"},
    {"[limits]\nauth-timeout = soon\n", 8, "'soon' is not a duration"},
    {"[limits]\nauth-timeout = 5 s\n", 8, "is not a duration"},
    {"[limits]\nauth-timeout = 5000000h\n", 8, "is not a duration"},
    {"[settings]\nmax-connections = 0\n", 8, "not a number in 1..10000000"},
    {"[settings]\nmax-connections = 10000001\n", 8, "not a number"},
    {"[cim]\nlisten = nope\n", 8, "'nope' is not ADDRESS:PORT"},
    {"[cim]\nmax-body = 4095\n", 8, "not a number in 4096..16777216"},
    {"[cim]\nmax-body = 16777217\n", 8, "not a number"},
    {"[cap:c]\n", 7, "[cap:c] needs user-groups"},
    {"[cap:c]\nuser-groups = ;\n", 7, "[cap:c] needs user-groups"},
    {"[cap:c]\nuser-groups = *\norder = -1\n", 9, "not a number"},
    {"[cap:c]\nuser-groups = *\norder = 1000001\n", 9, "not a number"},
    {"[cap:c]\nuser-groups = *\nenabled = perhaps\n", 9, "'perhaps' is not yes/no"},
    {"[cap:c]\nuser-groups = *\nidle-timeout = 5x\n", 9, "'5x' is not a duration"},
    {"[cap:c]\nuser-groups = *\nsession-timeout = -1\n", 9, "is not a duration"},
    {"[rap:r]\nuser-groups = *\nports = 3389\n", 7, "[rap:r] needs resource-group or resources"},
    {"[rap:r]\nuser-groups = *\nresources = h\n", 7, "[rap:r] needs ports"},
    {"[rap:r]\nresources = h\nports = *\n", 7, "[rap:r] needs user-groups"},
    {"[rap:r]\nuser-groups = *\nresources = h; bad host\nports = *\n", 9,
     "resources: 'bad host' is not a host name, address or CIDR range"},
    {"[rap:r]\nuser-groups = *\nresources = 10.0.0.0/33\nports = *\n", 9, "'10.0.0.0/33'"},
    {"[rap:r]\nuser-groups = *\nresources = fd00::/129\nports = *\n", 9, "'fd00::/129'"},
    {"[rap:r]\nuser-groups = *\nresources = h\nports = 3389;65536\n", 10, "ports: '3389;65536'"},
    {"[rap:r]\nuser-groups = *\nresources = h\nports = *\nenabled = 7\n", 11, "'7' is not yes/no"},
    {"[rap:r]\nuser-groups = *\nresources = h\nresource-group = g\nports = *\n"
     "[resource-group:g]\nresources = h2\n",
     7, "[rap:r] has both resource-group and resources"},
    {"[resource-group:g]\nresources = ok; *bad*host!\n", 8, "'*bad*host!'"},
    {"[cap:c]\nuser-groups = *\n[cap:C]\nuser-groups = *\n", 9, "duplicate [cap:C]"},
    {"[rap:r]\nuser-groups = *\nresources = h\nports = *\n[rap:R]\nuser-groups = *\n"
     "resources = h\nports = *\n",
     11, "duplicate [rap:R]"},
    {"[resource-group:g]\nresources = h\n[resource-group:G]\nresources = h\n", 9,
     "duplicate [resource-group:G]"},
    /* a cross-check of the whole file: "NAME: message" */
    {"[limits]\nmax-request-line = 32768\n", 0, "must not exceed max-header-bytes"},
};

/* Problems that bring a second one with them. */
static const struct err_case err2_cases[] = {
    /* a listen key replaces the earlier one: nothing valid is left */
    {"[gateway]\nlisten = 127.0.0.1\n", 8, "is not ADDRESS:PORT"},
    /* no valid port at all: the RAP also lacks ports */
    {"[rap:r]\nuser-groups = *\nresources = h\nports = 0\n", 10, "ports: '0' is not"},
};

static void run_error_cases(const struct err_case *cases, size_t n, int want)
{
    for (size_t i = 0; i < n; i++) {
        const struct err_case *c = &cases[i];
        char text[2048];
        snprintf(text, sizeof text, HEAD "%s", c->snippet);
        struct loaded l;
        load(&l, text);
        if (l.n != want || count_lines(l.text) != (size_t)want)
            fail_msg("case %zu (%s): %d errors, want %d:\n%s", i, c->msg, l.n, want, l.text);
        if (!has_error(l.text, "t.conf", c->line, c->msg))
            fail_msg("case %zu: want t.conf:%d: ...%s..., got:\n%s", i, c->line, c->msg, l.text);
        assert_error_format(l.text, "t.conf");
        unload(&l);
    }
}

static void test_directory_keys(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.cfg->directory, CONF_DIRECTORY_NONE);
    assert_int_equal(l.cfg->directory_timeout_ms, 10000);
    assert_int_equal(l.cfg->directory_workers, 4);
    assert_int_equal(l.cfg->group_cache_ttl_ms, 300000);
    unload(&l);
    load(&l, HEAD "directory = winbind\ndirectory-timeout = 2500ms\ndirectory-workers = 2\n"
                  "group-cache-ttl = 1m\n");
    assert_int_equal(l.n, 0);
    assert_int_equal(l.cfg->directory, CONF_DIRECTORY_WINBIND);
    assert_int_equal(l.cfg->directory_timeout_ms, 2500);
    assert_int_equal(l.cfg->directory_workers, 2);
    assert_int_equal(l.cfg->group_cache_ttl_ms, 60000);
    unload(&l);
    load(&l, HEAD "directory-timeout = 7\n"); /* bare number: seconds */
    assert_int_equal(l.cfg->directory_timeout_ms, 7000);
    unload(&l);
}

static void test_error_table(void **state)
{
    (void)state;
    run_error_cases(err_cases, N(err_cases), 1);
    run_error_cases(err2_cases, N(err2_cases), 2);
}

/* Values at the edges of what is accepted load without errors. */
static void test_ok_table(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "[gateway] ; comment\n",
        "[gateway] # comment\n",
        "[gateway]\nlisten = 127.0.0.1:1;127.0.0.1:2;127.0.0.1:3;127.0.0.1:4;127.0.0.1:5;"
        "127.0.0.1:6;127.0.0.1:7;127.0.0.1:8\n",
        "[gateway]\nadmin-group = "
        "012345678901234567890123456789012345678901234567890123456789012\n",
        "[auth]\nnetbios-domain = 0123456789ABCDE\n",
        "[auth]\nrequire-mic = TRUE\nrequire-channel-binding = 1\n",
        "[settings]\nmax-connections = unlimited\n",
        "[settings]\nmax-connections = 10000000\n",
        "[settings]\nmax-connections = 1\n",
        "[cim]\nmax-body = 4096\n",
        "[cim]\nmax-body = 16777216\n",
        "[cim]\nlisten = [::1]:5989\n",
        "[cap:c]\nuser-groups = *\norder = 0\n",
        "[cap:c]\nuser-groups = *\norder = 1000000\n",
        "[cap:c]\nuser-groups = *\nidle-timeout = 0\n",
        "[rap:r]\nuser-groups = *\nresources = h\nports = 1;65535\n",
        "[rap:r]\nuser-groups = *\nresources = 0.0.0.0/0; ::/0; 1.2.3.4/32; ::1/128\nports = *\n",
        "[ cap : spaced name ]\nuser-groups = *\n",
        "[limits]\nkeepalive-interval = 0\n",
        "\n",
        "\r\n\r\n",
        "   \t  \n",
        "[limits]\nauth-timeout = 4294967295ms\n",
        "[limits]\nauth-timeout = 4294967s\n",
        "[limits]\nauth-timeout = 1193h\n",
        "[log]\ntarget = syslog\nevent-history = 0\n",
        "[log]\ntarget = journal\nevent-history = 100000\n",
        "[metrics]\nlisten = [::1]:9477\n",
    };
    for (size_t i = 0; i < N(ok); i++) {
        char text[2048];
        snprintf(text, sizeof text, HEAD "%s", ok[i]);
        struct loaded l;
        load(&l, text);
        if (l.n)
            fail_msg("ok case %zu:\n%s\ngave:\n%s", i, ok[i], l.text);
        unload(&l);
    }
}

/* [log] and [metrics]: defaults and values */
static void test_log_metrics(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD);
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->log_target, "auto");
    assert_int_equal(l.cfg->event_history, 1000);
    assert_string_equal(l.cfg->metrics_listen, "");
    unload(&l);
    load(&l,
         HEAD "[log]\ntarget = syslog\nevent-history = 5\n[metrics]\nlisten = 127.0.0.1:9477\n");
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->log_target, "syslog");
    assert_int_equal(l.cfg->event_history, 5);
    assert_string_equal(l.cfg->metrics_listen, "127.0.0.1:9477");
    unload(&l);
    /* an empty [metrics] listen turns the endpoint off again; [cim] and [web] need an address */
    load(&l, HEAD "[metrics]\nlisten = 127.0.0.1:9477\nlisten =\n");
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->metrics_listen, "");
    unload(&l);
    load(&l, HEAD "[web]\nlisten =\n");
    assert_int_equal(l.n, 1);
    assert_true(has_error(l.text, "t.conf", 8, "listen: '' is not ADDRESS:PORT"));
    unload(&l);
}

static void test_key_outside_section(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "listen = 127.0.0.1:1\n" HEAD);
    assert_int_equal(l.n, 1);
    assert_true(has_error(l.text, "t.conf", 1, "'listen' outside of any section"));
    unload(&l);
}

static void test_required_keys(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "");
    assert_int_equal(l.n, 4);
    assert_int_equal(count_lines(l.text), 4);
    assert_error_format(l.text, "t.conf");
    /* missing keys have no line: "NAME: message" */
    assert_true(has_error(l.text, "t.conf", 0, "[gateway] listen is required"));
    assert_non_null(strstr(l.text, "[gateway] certificate is required"));
    assert_non_null(strstr(l.text, "[gateway] private-key is required"));
    assert_non_null(strstr(l.text, "[auth] users-file is required"));
    unload(&l);
    /* comments only */
    load(&l, "; nothing\n# here\n");
    assert_int_equal(l.n, 4);
    unload(&l);
}

/* ---------- several errors in one file ---------- */

static void test_many_errors(void **state)
{
    (void)state;
    static const char text[] = "[gateway]\n"                /* 1 */
                               "listen = 127.0.0.1:8443\n"  /* 2 */
                               "certificate = /c\n"         /* 3 */
                               "private-key = /k\n"         /* 4 */
                               "bogus = 1\n"                /* 5 */
                               "[auth]\n"                   /* 6 */
                               "users-file = /u\n"          /* 7 */
                               "require-mic = sometimes\n"  /* 8 */
                               "[limits]\n"                 /* 9 */
                               "max-headers = 1000\n"       /* 10 */
                               "auth-timeout = forever\n"   /* 11 */
                               "[nonsense]\n"               /* 12 */
                               "ignored = inside unknown\n" /* 13 */
                               "[cap:c]\n"                  /* 14 */
                               "[rap:r]\n"                  /* 15 */
                               "resources = bad/host\n"     /* 16 */
                               "[cap:C]\n"                  /* 17 */
                               "user-groups = *\n"          /* 18 */
                               "no equals sign here\n";     /* 19 */
    struct loaded l;
    load(&l, text);
    assert_error_format(l.text, "t.conf");
    struct {
        int line;
        const char *msg;
    } want[] = {
        {5, "unknown key 'bogus'"},
        {8, "'sometimes' is not yes/no"},
        {10, "'1000' is not a number"},
        {11, "'forever' is not a duration"},
        {12, "unknown section [nonsense]"},
        {14, "[cap:c] needs user-groups"},
        {16, "'bad/host'"},
        {15, "[rap:r] needs ports"},
        {15, "[rap:r] needs user-groups"},
        {17, "duplicate [cap:C]"},
        {19, "expected 'key = value'"},
    };
    for (size_t i = 0; i < N(want); i++)
        if (!has_error(l.text, "t.conf", want[i].line, want[i].msg))
            fail_msg("missing t.conf:%d: %s in:\n%s", want[i].line, want[i].msg, l.text);
    assert_int_equal(l.n, (int)N(want));
    assert_int_equal(count_lines(l.text), N(want));
    unload(&l);
}

/* The same problem on many lines is reported for each of them. */
static void test_repeated_errors_counted(void **state)
{
    (void)state;
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof text, HEAD "[limits]\n");
    for (int i = 0; i < 50; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "max-headers = %d\n", 1000 + i);
    struct loaded l;
    load(&l, text);
    assert_int_equal(l.n, 50);
    assert_int_equal(count_lines(l.text), 50);
    for (int i = 0; i < 50; i++)
        assert_true(has_error(l.text, "t.conf", HEAD_LINES + 2 + i, "is not a number"));
    unload(&l);
}

/* A broken section header must not swallow the checks of the section before it. */
static void test_broken_header_keeps_previous_checks(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[rap:r]\n"     /* 7 */
                  "ports = *\n"   /* 8 */
                  "[cap:broken\n" /* 9 */
                  "user-groups = *\n");
    bool header = has_error(l.text, "t.conf", 9, "without ']'");
    bool prev = has_error(l.text, "t.conf", 7, "[rap:r] needs resource-group or resources") &&
                has_error(l.text, "t.conf", 7, "[rap:r] needs user-groups");
    int n = l.n;
    unload_keep_text(&l);
    assert_true(header);
    if (!prev)
        fail_msg("BUG config.c parse_text: the '[' without ']' path sets SEC_UNKNOWN without "
                 "finish_section(), so [rap:r]'s own problems are not reported. Got:\n%s",
                 failed_text);
    assert_int_equal(n, 3);
}

/* ---------- resource-group references ---------- */

static void test_rap_undefined_group(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[rap:a]\n"                  /* 7 */
                  "user-groups = *\n"          /* 8 */
                  "resource-group = missing\n" /* 9 */
                  "ports = *\n");
    int n = l.n;
    bool msg = strstr(l.text, "resource-group 'missing' is not defined") != NULL;
    bool line = has_error(l.text, "t.conf", 7, "'missing' is not defined") ||
                has_error(l.text, "t.conf", 9, "'missing' is not defined");
    assert_error_format(l.text, "t.conf");
    unload_keep_text(&l);
    assert_int_equal(n, 1);
    assert_true(msg);
    if (!line)
        fail_msg("BUG config.c validate()/policy_finish(): the undefined resource-group is "
                 "reported without the line of [rap:a] (7) or of its resource-group key (9):\n%s",
                 failed_text);
}

static void test_rap_undefined_groups_all_reported(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[rap:a]\nuser-groups = *\nresource-group = one\nports = *\n"
                  "[rap:b]\nuser-groups = *\nresource-group = two\nports = *\n");
    int n = l.n;
    bool both = strstr(l.text, "'one'") && strstr(l.text, "'two'");
    unload_keep_text(&l);
    if (n != 2 || !both)
        fail_msg("BUG policy.c policy_finish(): stops at the first undefined resource-group, "
                 "want both reported (2 errors), got %d:\n%s",
                 n, failed_text);
}

static void test_rap_group_defined_later_and_case(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[rap:a]\nuser-groups = *\nresource-group = LAB\nports = 3389\n"
                  "[resource-group:lab]\nresources = h\n");
    assert_int_equal(l.n, 0);
    unload(&l);
}

/* ---------- bad values leave the previous value ---------- */

static void test_bad_bool_keeps_value(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[auth]\nrequire-mic = maybe\nrequire-channel-binding = perhaps\n"
                  "[cap:c]\nuser-groups = *\nenabled = dunno\n");
    int n = l.n;
    /* The defaults (true) must survive an unparsable value, as numbers do. Read as bytes: the
     * bug stores an indeterminate value that need not be a valid bool. */
    unsigned char mic, cb, en;
    memcpy(&mic, &l.cfg->require_mic, 1);
    memcpy(&cb, &l.cfg->require_channel_binding, 1);
    memcpy(&en, &l.cfg->policy.caps[0].enabled, 1);
    unload(&l);
    assert_int_equal(n, 3);
    if (mic != 1 || cb != 1 || en != 1)
        fail_msg("BUG config.c kv_auth/kv_cap/kv_rap/kv_settings: a bad yes/no value assigns an "
                 "uninitialised bool (bytes %u %u %u, want 1 1 1)",
                 mic, cb, en);
}

static void test_bad_number_keeps_value(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[limits]\nmax-headers = 50\nmax-headers = 5000\n");
    assert_int_equal(l.n, 1);
    assert_int_equal(l.cfg->lim.max_headers, 50);
    unload(&l);
}

/* An empty path is a mistake, not "the configuration directory". */
static void test_empty_path_value(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "[gateway]\nlisten = 127.0.0.1:1\ncertificate =\nprivate-key = /k\n"
             "[auth]\nusers-file = /u\n");
    int n = l.n;
    char cert[PATH_MAX];
    snprintf(cert, sizeof cert, "%s", l.cfg->certificate);
    unload(&l);
    if (n == 0)
        fail_msg("BUG config.c set_path: 'certificate =' is accepted as '%s' (the directory); "
                 "want an error",
                 cert);
}

/* ---------- limits: every size key at its edges ---------- */

struct limit_case {
    const char *key;
    size_t off;
    uint32_t min, max;
};

static const struct limit_case limit_cases[] = {
    {"max-request-line", offsetof(struct gw_limits, max_request_line), 64, 65536},
    {"max-header-line", offsetof(struct gw_limits, max_header_line), 64, 65536},
    {"max-headers", offsetof(struct gw_limits, max_headers), 4, 128},
    {"max-header-bytes", offsetof(struct gw_limits, max_header_bytes), 256, 262144},
    {"max-websocket-message", offsetof(struct gw_limits, max_ws_message), 65545, 16777216},
    {"max-setup-packet", offsetof(struct gw_limits, max_setup_packet), 1024, 1048576},
    {"max-chunk", offsetof(struct gw_limits, max_chunk), 65545, 16777216},
    {"max-unauthenticated", offsetof(struct gw_limits, max_unauth_total), 1, 1000000},
    {"max-unauthenticated-per-address", offsetof(struct gw_limits, max_unauth_per_ip), 1, 1000000},
    {"max-tunnels", offsetof(struct gw_limits, max_tunnels), 0, 10000000},
    {"relay-buffer", offsetof(struct gw_limits, relay_buffer), 65536, 67108864},
};

static int load_limit(const char *key, long long v, uint32_t *out)
{
    char text[1024];
    /* keep the request/header line limits below any max-header-bytes tried */
    snprintf(text, sizeof text,
             HEAD "[limits]\nmax-request-line = 64\nmax-header-line = 64\n"
                  "max-header-bytes = 262144\n%s = %lld\n",
             key, v);
    struct loaded l;
    load(&l, text);
    int n = l.n;
    if (n == 0) {
        for (size_t i = 0; i < N(limit_cases); i++)
            if (!strcmp(limit_cases[i].key, key))
                memcpy(out, (const char *)&l.cfg->lim + limit_cases[i].off, sizeof *out);
    } else if (!has_error(l.text, "t.conf", HEAD_LINES + 5, "is not a number")) {
        fail_msg("%s = %lld: %s", key, v, l.text);
    }
    unload(&l);
    return n;
}

static void test_limit_edges(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(limit_cases); i++) {
        const struct limit_case *c = &limit_cases[i];
        uint32_t v = 0xdeadbeef;
        if (load_limit(c->key, c->min, &v) != 0 || v != c->min)
            fail_msg("%s = %u (min) rejected or not stored", c->key, c->min);
        if (load_limit(c->key, c->max, &v) != 0 || v != c->max)
            fail_msg("%s = %u (max) rejected or not stored", c->key, c->max);
        if (c->min > 0 && load_limit(c->key, (long long)c->min - 1, &v) != 1)
            fail_msg("%s = %u (min - 1) accepted", c->key, c->min - 1);
        if (load_limit(c->key, (long long)c->max + 1, &v) != 1)
            fail_msg("%s = %lld (max + 1) accepted", c->key, (long long)c->max + 1);
        if (load_limit(c->key, 99999999999999999LL, &v) != 1)
            fail_msg("%s: huge value accepted", c->key);
    }
}

static void test_timeout_keys(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        size_t off;
        bool zero_ok;
    } keys[] = {
        {"tls-handshake-timeout", offsetof(struct gw_limits, tls_handshake_ms), false},
        {"auth-timeout", offsetof(struct gw_limits, auth_ms), false},
        {"setup-timeout", offsetof(struct gw_limits, setup_ms), false},
        {"pairing-timeout", offsetof(struct gw_limits, pairing_ms), false},
        {"connect-timeout", offsetof(struct gw_limits, connect_ms), false},
        {"close-grace", offsetof(struct gw_limits, close_grace_ms), false},
        {"keepalive-interval", offsetof(struct gw_limits, keepalive_ms), true},
    };
    for (size_t i = 0; i < N(keys); i++) {
        char text[512];
        struct loaded l;
        snprintf(text, sizeof text, HEAD "[limits]\n%s = 7\n", keys[i].key);
        load(&l, text);
        assert_int_equal(l.n, 0);
        uint32_t v;
        memcpy(&v, (const char *)&l.cfg->lim + keys[i].off, sizeof v);
        assert_int_equal(v, 7000); /* a bare number is seconds */
        unload(&l);
        snprintf(text, sizeof text, HEAD "[limits]\n%s = 0\n", keys[i].key);
        load(&l, text);
        assert_int_equal(l.n, keys[i].zero_ok ? 0 : 1);
        unload(&l);
    }
}

/* ---------- durations ---------- */

struct dur_case {
    const char *text;
    uint32_t unit;
    int rc;
    uint32_t ms;
};

static const struct dur_case dur_cases[] = {
    {"30", 1000, 0, 30000},
    {"30", 60000, 0, 1800000},
    {"30", 1, 0, 30},
    {"30s", 60000, 0, 30000},
    {"500ms", 1000, 0, 500},
    {"5m", 1000, 0, 300000},
    {"1h", 1000, 0, 3600000},
    {"0", 1000, 0, 0},
    {"0s", 1000, 0, 0},
    {"0h", 1000, 0, 0},
    {"007s", 1000, 0, 7000},
    {"4294967295ms", 1000, 0, 4294967295u},
    {"4294967295", 1, 0, 4294967295u},
    {"4294967s", 1000, 0, 4294967000u},
    {"71582m", 1000, 0, 4294920000u},
    {"1193h", 1000, 0, 4294800000u},
    {"4294967296ms", 1000, -EINVAL, 0},
    {"4294968s", 1000, -EINVAL, 0},
    {"71583m", 1000, -EINVAL, 0},
    {"1194h", 1000, -EINVAL, 0},
    {"4294968", 1000, -EINVAL, 0},
    {"99999999999999999999999999999999999999s", 1000, -EINVAL, 0},
    {"18446744073709551616ms", 1000, -EINVAL, 0},
    {"", 1000, -EINVAL, 0},
    {"s", 1000, -EINVAL, 0},
    {"ms", 1000, -EINVAL, 0},
    {"-5", 1000, -EINVAL, 0},
    {"+5", 1000, -EINVAL, 0},
    {" 5", 1000, -EINVAL, 0},
    {"5 s", 1000, -EINVAL, 0},
    {"5s ", 1000, -EINVAL, 0},
    {"5S", 1000, -EINVAL, 0},
    {"5sec", 1000, -EINVAL, 0},
    {"5d", 1000, -EINVAL, 0},
    {"5.5s", 1000, -EINVAL, 0},
    {"5ms5", 1000, -EINVAL, 0},
    {"0x10", 1000, -EINVAL, 0},
    {"abc", 1000, -EINVAL, 0},
};

/* [web]: the console's listener and session times (issue 14). */
static void test_web_section(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, HEAD "[web]\nlisten = 127.0.0.1:5989\nsession-idle-timeout = 30s\n"
                  "session-lifetime = 2h\n");
    assert_int_equal(l.n, 0);
    assert_string_equal(l.cfg->web_listen, "127.0.0.1:5989");
    assert_int_equal(l.cfg->web_idle_ms, 30000);
    assert_int_equal(l.cfg->web_lifetime_ms, 2 * 3600000);
    unload(&l);
    load(&l, HEAD);
    assert_string_equal(l.cfg->web_listen, "");
    assert_int_equal(l.cfg->web_idle_ms, 15 * 60000);
    assert_int_equal(l.cfg->web_lifetime_ms, 8 * 3600000);
    unload(&l);
    /* minutes by default; bad values, unknown keys and the gateway's own address refused */
    load(&l, HEAD "[web]\nsession-idle-timeout = 5\n");
    assert_int_equal(l.cfg->web_idle_ms, 5 * 60000);
    unload(&l);
    load(&l, HEAD "[web]\nlisten = localhost\nsession-lifetime = 0\ncolour = blue\n"
                  "listen = 127.0.0.1:8443\n");
    assert_int_equal(l.n, 4);
    assert_non_null(strstr(l.text, "t.conf:8: listen: 'localhost' is not ADDRESS:PORT"));
    assert_non_null(strstr(l.text, "t.conf:9: session-lifetime must be at least 1s"));
    assert_non_null(strstr(l.text, "t.conf:10: unknown key 'colour' in [web]"));
    assert_non_null(strstr(l.text, "[web] listen must differ from the [gateway] listen"));
    unload(&l);
}

static void test_durations(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(dur_cases); i++) {
        const struct dur_case *c = &dur_cases[i];
        uint32_t v = 0xabcdef01;
        int rc = config_parse_duration_ms(c->text, c->unit, &v);
        if (rc != c->rc)
            fail_msg("duration('%s', %u) = %d, want %d", c->text, c->unit, rc, c->rc);
        if (rc == 0 && v != c->ms)
            fail_msg("duration('%s', %u) = %u ms, want %u", c->text, c->unit, v, c->ms);
        if (rc != 0 && v != 0xabcdef01)
            fail_msg("duration('%s') wrote its output on failure", c->text);
    }
}

static void test_cap_timeouts_units(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        uint32_t s;
    } cases[] = {{"0", 0}, {"1", 60}, {"90s", 90}, {"2h", 7200}, {"1500ms", 1}, {"71582", 4294920}};
    for (size_t i = 0; i < N(cases); i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "[cap:c]\nuser-groups = *\nidle-timeout = %s\n",
                 cases[i].v);
        struct loaded l;
        load(&l, text);
        assert_int_equal(l.n, 0);
        if (l.cfg->policy.caps[0].idle_timeout_s != cases[i].s)
            fail_msg("idle-timeout = %s -> %u s, want %u", cases[i].v,
                     l.cfg->policy.caps[0].idle_timeout_s, cases[i].s);
        unload(&l);
    }
}

/* ---------- long lines ---------- */

static void test_long_lines(void **state)
{
    (void)state;
    enum { MAXL = 4096 };
    size_t cap = 4 * MAXL + 1024;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t o = (size_t)snprintf(text, cap, HEAD);
    /* line 7: 4095 bytes of comment (the longest line accepted) */
    text[o++] = '#';
    memset(text + o, 'x', MAXL - 2);
    o += MAXL - 2;
    text[o++] = '\n';
    /* line 8: 4096 bytes (too long) */
    text[o++] = '#';
    memset(text + o, 'y', MAXL - 1);
    o += MAXL - 1;
    text[o++] = '\n';
    /* line 9: a key whose value is long, and too long */
    o += (size_t)snprintf(text + o, cap - o, "[gateway]\nadmin-group = ");
    memset(text + o, 'z', MAXL);
    o += MAXL;
    text[o++] = '\n';
    /* line 11: a later problem still gets its right number */
    o += (size_t)snprintf(text + o, cap - o, "bogus = 1\n");
    /* line 12: a final over-long line without a newline */
    memset(text + o, 'w', MAXL + 10);
    o += MAXL + 10;
    text[o] = 0;
    struct loaded l;
    load(&l, text);
    assert_true(has_error(l.text, "t.conf", 8, "line longer than 4095 bytes"));
    assert_true(has_error(l.text, "t.conf", 10, "line longer than 4095 bytes"));
    assert_true(has_error(l.text, "t.conf", 11, "unknown key 'bogus'"));
    assert_true(has_error(l.text, "t.conf", 12, "line longer than 4095 bytes"));
    assert_int_equal(l.n, 4);
    unload(&l);
    free(text);
}

/* ---------- config_load from a file ---------- */

static char tmpdir[64];

static int file_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsgw-conf-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int file_teardown(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/tsgw.conf", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return 0;
}

static void write_conf(const char *data, size_t len, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/tsgw.conf", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[128];
    write_conf(HEAD, strlen(HEAD) - strlen("/users\n"), path, sizeof path);
    /* the file ends in "users-file = " without a value; append a relative one instead */
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputs("users\n[gateway]\ncertificate = rel.pem\n", f);
    fclose(f);
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    struct buf errors = BUF_INIT;
    assert_int_equal(config_load(path, cfg, &errors), 0);
    assert_int_equal(buf_len(&errors), 0);
    char want[256];
    char *real = realpath(tmpdir, NULL);
    assert_non_null(real);
    snprintf(want, sizeof want, "%s/users", real);
    assert_string_equal(cfg->users_file, want);
    snprintf(want, sizeof want, "%s/rel.pem", real);
    assert_string_equal(cfg->certificate, want);
    assert_string_equal(cfg->dir, real);
    free(real);
    config_free(cfg);
    buf_free(&errors);

    /* a missing file: one problem */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.conf", tmpdir);
    assert_int_equal(config_load(missing, cfg, &errors), 1);
    buf_put_u8(&errors, 0);
    assert_non_null(strstr((const char *)buf_data(&errors), "cannot open"));
    config_free(cfg);
    buf_free(&errors);
    free(cfg);
}

static void test_load_file_too_large(void **state)
{
    (void)state;
    size_t len = (1u << 20) + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '\n', len);
    memcpy(big, HEAD, strlen(HEAD));
    char path[128];
    write_conf(big, len, path, sizeof path);
    free(big);
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    struct buf errors = BUF_INIT;
    assert_int_equal(config_load(path, cfg, &errors), 1);
    buf_put_u8(&errors, 0);
    assert_non_null(strstr((const char *)buf_data(&errors), "larger than"));
    config_free(cfg);
    buf_free(&errors);
    free(cfg);
    /* exactly 1 MiB is fine */
    big = malloc(len - 1);
    assert_non_null(big);
    memset(big, '\n', len - 1);
    memcpy(big, HEAD, strlen(HEAD));
    write_conf(big, len - 1, path, sizeof path);
    free(big);
    cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    assert_int_equal(config_load(path, cfg, &errors), 0);
    config_free(cfg);
    buf_free(&errors);
    free(cfg);
}

static void test_load_file_nul(void **state)
{
    (void)state;
    static const char data[] = "[gateway]\n"
                               "listen = 127.0.0.1:8443\n"
                               "certificate = /c\0.pem\n" /* line 3 */
                               "private-key = /k\n"
                               "[auth]\n"
                               "users-file = /u\n";
    char path[128];
    write_conf(data, sizeof data - 1, path, sizeof path);
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    struct buf errors = BUF_INIT;
    int n = config_load(path, cfg, &errors);
    buf_put_u8(&errors, 0);
    const char *e = (const char *)buf_data(&errors);
    bool nul = strstr(e, "NUL") != NULL;
    bool line = has_error(e, path, 3, "NUL");
    snprintf(failed_text, sizeof failed_text, "%s", e);
    config_free(cfg);
    buf_free(&errors);
    free(cfg);
    /* the file is refused ... */
    assert_true(n >= 1);
    assert_true(nul);
    /* ... with the line of the NUL, like every other problem */
    if (!line)
        fail_msg("BUG config.c config_load: a NUL byte is reported without its line "
                 "(want \"%s:3: ...NUL...\"), got: %s",
                 path, failed_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_valid),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_inline_comments),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_directory_keys),
        cmocka_unit_test(test_ok_table),
        cmocka_unit_test(test_log_metrics),
        cmocka_unit_test(test_key_outside_section),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_repeated_errors_counted),
        cmocka_unit_test(test_broken_header_keeps_previous_checks),
        cmocka_unit_test(test_rap_undefined_group),
        cmocka_unit_test(test_rap_undefined_groups_all_reported),
        cmocka_unit_test(test_rap_group_defined_later_and_case),
        cmocka_unit_test(test_bad_bool_keeps_value),
        cmocka_unit_test(test_bad_number_keeps_value),
        cmocka_unit_test(test_empty_path_value),
        cmocka_unit_test(test_limit_edges),
        cmocka_unit_test(test_timeout_keys),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_cap_timeouts_units),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_web_section),
        cmocka_unit_test_setup_teardown(test_load_file, file_setup, file_teardown),
        cmocka_unit_test_setup_teardown(test_load_file_too_large, file_setup, file_teardown),
        cmocka_unit_test_setup_teardown(test_load_file_nul, file_setup, file_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
