/* Unit tests for the RD Gateway WMI schema table (src/mgmt/schema.c): classes, keys, the
 * Win32_TSGatewayConnection properties and methods, DATETIME and interval text, MOF output and
 * WBEM return code names. */
#include <ctype.h>
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
#include <time.h>

#include <cmocka.h>

#include "core/buf.h"
#include "mgmt/schema.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------- classes ---------- */

static void test_every_class_one_key(void **state)
{
    (void)state;
    assert_true(cim_nclasses >= 5);
    for (size_t i = 0; i < cim_nclasses; i++) {
        const struct cim_class *c = cim_classes[i];
        assert_non_null(c->name);
        assert_non_null(c->doc);
        assert_true(c->nprops > 0);
        assert_true(c->nprops <= CIM_MAX_PROPS);
        size_t keys = 0;
        int key = -1;
        for (size_t k = 0; k < c->nprops; k++) {
            const struct cim_property *p = &c->props[k];
            assert_non_null(p->name);
            assert_non_null(p->doc);
            assert_true(p->type >= CIM_STRING && p->type <= CIM_UINT64);
            if (p->key) {
                keys++;
                key = (int)k;
            }
            /* names are unique, case-insensitively */
            for (size_t j = k + 1; j < c->nprops; j++)
                if (strcasecmp(p->name, c->props[j].name) == 0)
                    fail_msg("%s: property %s twice", c->name, p->name);
            assert_int_equal(cim_find_property(c, p->name), (int)k);
        }
        if (keys != 1)
            fail_msg("%s has %zu key properties", c->name, keys);
        assert_int_equal(cim_key_index(c), key);
        assert_ptr_equal(cim_find_class(c->name), c);
        for (size_t j = i + 1; j < cim_nclasses; j++)
            assert_true(strcasecmp(c->name, cim_classes[j]->name) != 0);
        for (size_t m = 0; m < c->nmethods; m++) {
            assert_non_null(c->methods[m].name);
            assert_ptr_equal(cim_find_method(c, c->methods[m].name), &c->methods[m]);
            assert_true(c->methods[m].nparams == 0 || c->methods[m].params != NULL);
        }
    }
}

static void test_class_keys(void **state)
{
    (void)state;
    static const struct {
        const char *cls, *key;
        int type;
    } want[] = {
        {"Win32_TSGatewayConnection", "ConnectionKey", CIM_STRING},
        {"Win32_TSGatewayConnectionAuthorizationPolicy", "Name", CIM_STRING},
        {"Win32_TSGatewayResourceAuthorizationPolicy", "Name", CIM_STRING},
        {"Win32_TSGatewayResourceGroup", "Name", CIM_STRING},
        {"Win32_TSGatewayServerSettings", "MaxConnections", CIM_UINT32},
    };
    for (size_t i = 0; i < N(want); i++) {
        const struct cim_class *c = cim_find_class(want[i].cls);
        if (!c)
            fail_msg("class %s missing", want[i].cls);
        int k = cim_key_index(c);
        assert_string_equal(c->props[k].name, want[i].key);
        assert_int_equal(c->props[k].type, want[i].type);
    }
}

static void test_find_class(void **state)
{
    (void)state;
    const struct cim_class *c = cim_find_class("Win32_TSGatewayConnection");
    assert_non_null(c);
    assert_ptr_equal(cim_find_class("win32_tsgatewayconnection"), c);
    assert_ptr_equal(cim_find_class("WIN32_TSGATEWAYCONNECTION"), c);
    assert_null(cim_find_class("Win32_TSGatewayConnectio"));
    assert_null(cim_find_class("Win32_TSGatewayConnections"));
    assert_null(cim_find_class(""));
    assert_null(cim_find_class("Win32_Process"));
    assert_int_equal(cim_find_property(c, "connectionkey"), 0);
    assert_int_equal(cim_find_property(c, "TRANSPORTPROTOCOL"), 14);
    assert_int_equal(cim_find_property(c, "Nope"), -1);
    assert_int_equal(cim_find_property(c, ""), -1);
    assert_null(cim_find_method(c, "CheckStatus"));
    assert_null(cim_find_method(c, ""));
    assert_non_null(cim_find_method(c, "disconnectuser"));
}

/* The MOF of Windows' TSGateway.mof, in order. */
static void test_connection_properties(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int type;
        bool key;
    } want[] = {
        {"ConnectionKey", CIM_STRING, true},
        {"TunnelId", CIM_UINT64, false},
        {"ChannelId", CIM_UINT32, false},
        {"UserName", CIM_STRING, false},
        {"FullUserName", CIM_STRING, false},
        {"ClientAddress", CIM_STRING, false},
        {"ConnectedTime", CIM_STRING, false},
        {"IdleTime", CIM_STRING, false},
        {"ConnectedResource", CIM_STRING, false},
        {"ProtocolName", CIM_STRING, false},
        {"ConnectedPort", CIM_UINT32, false},
        {"NumberOfKilobytesSent", CIM_UINT64, false},
        {"NumberOfKilobytesReceived", CIM_UINT64, false},
        {"ConnectionDuration", CIM_STRING, false},
        {"TransportProtocol", CIM_UINT32, false},
    };
    const struct cim_class *c = cim_find_class("Win32_TSGatewayConnection");
    assert_non_null(c);
    assert_int_equal(c->nprops, N(want));
    for (size_t i = 0; i < N(want); i++) {
        const struct cim_property *p = &c->props[i];
        if (strcmp(p->name, want[i].name) != 0 || p->type != want[i].type || p->key != want[i].key)
            fail_msg("property %zu: %s %s%s, want %s %s%s", i, cim_type_name(p->type), p->name,
                     p->key ? " key" : "", cim_type_name(want[i].type), want[i].name,
                     want[i].key ? " key" : "");
    }
}

static void test_connection_methods(void **state)
{
    (void)state;
    const struct cim_class *c = cim_find_class("Win32_TSGatewayConnection");
    assert_non_null(c);
    static const struct {
        const char *name;
        const char *param; /* NULL: none */
        bool on_class;
    } want[] = {
        {"Disconnect", NULL, false},
        {"DisconnectUser", "UserName", true},
        {"DisconnectProtocol", "ProtocolName", true},
    };
    assert_int_equal(c->nmethods, N(want));
    for (size_t i = 0; i < N(want); i++) {
        const struct cim_method *m = cim_find_method(c, want[i].name);
        if (!m)
            fail_msg("method %s missing", want[i].name);
        assert_string_equal(m->name, want[i].name);
        assert_int_equal(m->return_type, CIM_UINT32);
        assert_int_equal(m->on_class, want[i].on_class);
        assert_non_null(m->doc);
        if (!want[i].param) {
            assert_int_equal(m->nparams, 0);
            continue;
        }
        assert_int_equal(m->nparams, 1);
        assert_string_equal(m->params[0].name, want[i].param);
        assert_int_equal(m->params[0].type, CIM_STRING);
        assert_false(m->params[0].out);
    }
}

static void test_type_names(void **state)
{
    (void)state;
    static const struct {
        int type;
        const char *name;
    } want[] = {
        {CIM_STRING, "string"}, {CIM_BOOLEAN, "boolean"}, {CIM_UINT8, "uint8"},
        {CIM_UINT16, "uint16"}, {CIM_UINT32, "uint32"},   {CIM_UINT64, "uint64"},
        {-1, "string"},         {99, "string"},
    };
    for (size_t i = 0; i < N(want); i++)
        assert_string_equal(cim_type_name(want[i].type), want[i].name);
}

static void test_instance_values(void **state)
{
    (void)state;
    const struct cim_class *c = cim_find_class("Win32_TSGatewayConnection");
    struct cim_instance in;
    memset(&in, 0, sizeof in);
    in.cls = c;
    assert_int_equal(cim_set(&in, 0, "5:1"), 0);
    assert_string_equal(in.values[0], "5:1");
    assert_int_equal(cim_set(&in, 0, "6:2"), 0); /* replaces */
    assert_string_equal(in.values[0], "6:2");
    assert_int_equal(cim_set(&in, 0, NULL), 0);
    assert_null(in.values[0]);
    assert_int_equal(cim_setf(&in, 1, "%llu", 18446744073709551615ull), 0);
    assert_string_equal(in.values[1], "18446744073709551615");
    assert_int_equal(cim_setf(&in, 3, "%s\\%s", "CORP", "alice"), 0);
    assert_string_equal(in.values[3], "CORP\\alice");
    assert_int_equal(cim_set(&in, CIM_MAX_PROPS - 1, ""), 0);
    assert_string_equal(in.values[CIM_MAX_PROPS - 1], "");
    cim_instance_clear(&in);
    for (size_t i = 0; i < CIM_MAX_PROPS; i++)
        assert_null(in.values[i]);
    cim_instance_clear(&in); /* twice is fine */
}

/* ---------- DATETIME and interval ---------- */

static bool is_datetime(const char *s)
{
    /* \d{14}\.\d{6}[+-]\d{3} */
    if (strlen(s) != 25)
        return false;
    for (int i = 0; i < 25; i++) {
        bool ok;
        if (i == 14)
            ok = s[i] == '.';
        else if (i == 21)
            ok = s[i] == '+' || s[i] == '-';
        else
            ok = isdigit((unsigned char)s[i]) != 0;
        if (!ok)
            return false;
    }
    return true;
}

static void set_tz(const char *tz)
{
    if (tz)
        setenv("TZ", tz, 1);
    else
        unsetenv("TZ");
    tzset();
}

struct dt_case {
    const char *tz;
    uint64_t us;
    const char *want;
};

static const struct dt_case dt_cases[] = {
    {"UTC", 0, "19700101000000.000000+000"},
    {"UTC", 1700000000123456ull, "20231114221320.123456+000"},
    {"UTC", 951782400999999ull, "20000229000000.999999+000"}, /* leap day */
    {"UTC", 4102444799000001ull, "20991231235959.000001+000"},
    {"EST5", 1700000000123456ull, "20231114171320.123456-300"},
    {"EST5", 0, "19691231190000.000000-300"},
    {"IST-5:30", 1700000000000000ull, "20231115034320.000000+330"},
    {"NPT-5:45", 1700000000000000ull, "20231115035820.000000+345"},
    {"<-12>12", 1700000000000000ull, "20231114101320.000000-720"},
    {"<+14>-14", 1700000000000000ull, "20231115121320.000000+840"},
};

static void test_datetime(void **state)
{
    (void)state;
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    for (size_t i = 0; i < N(dt_cases); i++) {
        set_tz(dt_cases[i].tz);
        char out[27];
        memset(out, 'Z', sizeof out);
        cim_format_datetime(dt_cases[i].us, out);
        assert_int_equal(out[25], 0);
        assert_int_equal(out[26], 'Z'); /* 26 bytes, no more */
        if (!is_datetime(out))
            fail_msg("'%s' is not a WMI DATETIME", out);
        if (strcmp(out, dt_cases[i].want) != 0)
            fail_msg("TZ=%s %llu: '%s', want '%s'", dt_cases[i].tz,
                     (unsigned long long)dt_cases[i].us, out, dt_cases[i].want);
    }
    /* whatever the local zone, the shape holds for "now" */
    set_tz(saved);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char out[26];
    cim_format_datetime((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u, out);
    assert_true(is_datetime(out));
    free(saved);
}

struct iv_case {
    uint64_t us;
    const char *want;
};

#define S 1000000ull

static const struct iv_case iv_cases[] = {
    {0, "00000000000000.000000:000"},
    {1, "00000000000000.000001:000"},
    {999999, "00000000000000.999999:000"},
    {S, "00000000000001.000000:000"},
    {59 * S, "00000000000059.000000:000"},
    {60 * S, "00000000000100.000000:000"},
    {3599 * S + 5, "00000000005959.000005:000"},
    {3600 * S, "00000000010000.000000:000"},
    {86399 * S, "00000000235959.000000:000"},
    {86400 * S, "00000001000000.000000:000"},
    {(86400 + 12 * 3600 + 32) * S, "00000001120032.000000:000"},
    {(2 * 86400 + 3 * 3600 + 4 * 60 + 5) * S + 6, "00000002030405.000006:000"},
    {99999999ull * 86400 * S, "99999999000000.000000:000"},
    {(99999999ull * 86400 + 86399) * S + 999999, "99999999235959.999999:000"},
    /* longer than eight digits of days: the days saturate */
    {100000000ull * 86400 * S, "99999999000000.000000:000"},
    {UINT64_MAX, "99999999080149.551615:000"},
};

static void test_interval(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(iv_cases); i++) {
        char out[27];
        memset(out, 'Z', sizeof out);
        cim_format_interval(iv_cases[i].us, out);
        assert_int_equal(out[25], 0);
        assert_int_equal(out[26], 'Z');
        if (strcmp(out, iv_cases[i].want) != 0)
            fail_msg("interval(%llu) = '%s', want '%s'", (unsigned long long)iv_cases[i].us, out,
                     iv_cases[i].want);
    }
}

/* ---------- MOF ---------- */

static void test_mof(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_int_equal(cim_write_mof(&b), 0);
    assert_int_equal(buf_put_u8(&b, 0), 0);
    const char *mof = (const char *)buf_data(&b);
    static const char *const want[] = {
        "#pragma namespace(\"\\\\\\\\.\\\\root\\\\cimv2\\\\TerminalServices\")",
        "class Win32_TSGatewayConnection\n{\n",
        ", key, read] string ConnectionKey;\n",
        ", read] uint64 TunnelId;\n",
        ", read] uint32 ChannelId;\n",
        ", read] uint32 TransportProtocol;\n",
        "uint32 Disconnect();\n",
        "uint32 DisconnectUser([in] string UserName);\n",
        "uint32 DisconnectProtocol([in] string ProtocolName);\n",
        ", static] uint32 DisconnectUser(",
        /* descriptions escape quotes and backslashes */
        "Connection identifier \\\"TunnelId:ChannelId\\\"",
        "DOMAIN\\\\user",
        "class Win32_TSGatewayServerSettings\n{\n",
        ", key, read] uint32 MaxConnections;\n",
    };
    for (size_t i = 0; i < N(want); i++)
        if (!strstr(mof, want[i]))
            fail_msg("MOF lacks: %s", want[i]);
    /* Disconnect is an instance method */
    assert_null(strstr(mof, ", static] uint32 Disconnect("));
    /* every class and property appears, with its type */
    for (size_t i = 0; i < cim_nclasses; i++) {
        const struct cim_class *c = cim_classes[i];
        char line[256];
        snprintf(line, sizeof line, "\nclass %s\n{\n", c->name);
        if (!strstr(mof, line))
            fail_msg("MOF lacks class %s", c->name);
        for (size_t k = 0; k < c->nprops; k++) {
            snprintf(line, sizeof line, "%s, read] %s %s;\n", c->props[k].key ? ", key" : "",
                     cim_type_name(c->props[k].type), c->props[k].name);
            if (!strstr(mof, line))
                fail_msg("MOF lacks property line: %s", line);
        }
    }
    /* braces and quotes balance (outside escapes) */
    int depth = 0, classes = 0;
    bool in_str = false;
    for (const char *p = mof; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = false;
            continue;
        }
        if (*p == '"')
            in_str = true;
        else if (*p == '{')
            depth++, classes++;
        else if (*p == '}')
            depth--;
        assert_true(depth >= 0 && depth <= 1);
    }
    assert_false(in_str);
    assert_int_equal(depth, 0);
    assert_int_equal(classes, (int)cim_nclasses);
    buf_free(&b);
}

/* ---------- WBEM codes ---------- */

static void test_wbem_codes(void **state)
{
    (void)state;
    static const struct {
        uint32_t code;
        uint32_t hex; /* Wbemcli.h */
        const char *name;
    } want[] = {
        {WBEM_S_NO_ERROR, 0, "WBEM_S_NO_ERROR"},
        {WBEM_E_FAILED, 0x80041001u, "WBEM_E_FAILED"},
        {WBEM_E_NOT_FOUND, 0x80041002u, "WBEM_E_NOT_FOUND"},
        {WBEM_E_ACCESS_DENIED, 0x80041003u, "WBEM_E_ACCESS_DENIED"},
        {WBEM_E_INVALID_PARAMETER, 0x80041008u, "WBEM_E_INVALID_PARAMETER"},
        {WBEM_E_NOT_SUPPORTED, 0x8004100Cu, "WBEM_E_NOT_SUPPORTED"},
        {WBEM_E_INVALID_CLASS, 0x80041010u, "WBEM_E_INVALID_CLASS"},
        {WBEM_E_INVALID_METHOD, 0x8004102Eu, "WBEM_E_INVALID_METHOD"},
        {WBEM_E_INVALID_METHOD_PARAMETERS, 0x8004102Fu, "WBEM_E_INVALID_METHOD_PARAMETERS"},
        {WBEM_E_INVALID_OBJECT_PATH, 0x8004103Au, "WBEM_E_INVALID_OBJECT_PATH"},
    };
    for (size_t i = 0; i < N(want); i++) {
        assert_int_equal(want[i].code, want[i].hex);
        const char *n = wbem_code_name(want[i].code);
        if (!n || strcmp(n, want[i].name) != 0)
            fail_msg("wbem_code_name(%u) = %s, want %s", want[i].code, n ? n : "NULL",
                     want[i].name);
    }
    assert_int_equal(WBEM_E_NOT_FOUND, 2147749890u);
    static const uint32_t unknown[] = {1, 2, 0x80041000u, 0x80041004u, 0x8004103Bu, UINT32_MAX};
    for (size_t i = 0; i < N(unknown); i++)
        assert_null(wbem_code_name(unknown[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_class_one_key),
        cmocka_unit_test(test_class_keys),
        cmocka_unit_test(test_find_class),
        cmocka_unit_test(test_connection_properties),
        cmocka_unit_test(test_connection_methods),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_instance_values),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_mof),
        cmocka_unit_test(test_wbem_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
