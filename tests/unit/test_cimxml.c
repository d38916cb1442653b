/* Unit tests for the CIM-XML request handler (src/mgmt/cimxml.c).
 *
 * The request bodies at the top are byte-exact captures of what sblim-wbemcli 1.6.3 sends
 * (real-peers.md §4); every answer is parsed back with libxml2 and checked with XPath. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "core/buf.h"
#include "mgmt/cimxml.h"
#include "mgmt/schema.h"

/* ---- real wbemcli request bodies ---- */

#define XMLDECL "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
#define NSPATH_OPEN                                                                                \
    "<LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"></NAMESPACE><NAMESPACE "                         \
    "NAME=\"cimv2\"></NAMESPACE><NAMESPACE NAME=\"terminalservices\"></NAMESPACE></"               \
    "LOCALNAMESPACEPATH>"
#define NSPATH_SHORT                                                                               \
    "<LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"cimv2\"/><NAMESPACE "         \
    "NAME=\"terminalservices\"/></LOCALNAMESPACEPATH>"

static const char body_ei[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
            "NAME=\"EnumerateInstances\">" NSPATH_OPEN "\n"
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
            "NAME=\"Win32_TSGatewayConnection\"/></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeClassOrigin\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "</IMETHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_ei_plist[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
            "NAME=\"EnumerateInstances\">" NSPATH_OPEN "\n"
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
            "NAME=\"Win32_TSGatewayConnection\"/></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeClassOrigin\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>UserName</"
            "VALUE><VALUE>ClientAddress</VALUE></VALUE.ARRAY></IPARAMVALUE>\n"
            "</IMETHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_ein[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
            "NAME=\"EnumerateInstanceNames\">" NSPATH_OPEN "\n"
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
            "NAME=\"Win32_TSGatewayConnection\"/></IPARAMVALUE>\n"
            "</IMETHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_gi[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
            "NAME=\"GetInstance\">" NSPATH_OPEN "\n"
            "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeClassOrigin\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME "
            "CLASSNAME=\"Win32_TSGatewayConnection\"><KEYBINDING "
            "NAME=\"ConnectionKey\"><KEYVALUE "
            "VALUETYPE=\"string\">1:1</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE>\n"
            "</IMETHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_getclass[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL "
            "NAME=\"GetClass\">\n"
            "<LOCALNAMESPACEPATH>\n"
            "<NAMESPACE NAME=\"root\"/>\n"
            "<NAMESPACE NAME=\"cimv2\"/>\n"
            "<NAMESPACE NAME=\"terminalservices\"/>\n"
            "</LOCALNAMESPACEPATH>\n"
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
            "NAME=\"Win32_TSGatewayConnection\"/></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "<IPARAMVALUE NAME=\"IncludeClassOrigin\"><VALUE>TRUE</VALUE></IPARAMVALUE>\n"
            "</IMETHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_cm_user[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL "
            "NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT
            "<CLASSNAME NAME=\"Win32_TSGatewayConnection\"/></LOCALCLASSPATH><PARAMVALUE "
            "NAME=\"UserName\"><VALUE>CONTOSO\\alice</VALUE></PARAMVALUE></METHODCALL></"
            "SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

static const char body_cm_disconnect[] =
    XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n"
            "<MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL "
            "NAME=\"Disconnect\"><LOCALINSTANCEPATH>" NSPATH_SHORT
            "<INSTANCENAME CLASSNAME=\"Win32_TSGatewayConnection\"><KEYBINDING "
            "NAME=\"ConnectionKey\"><KEYVALUE "
            "VALUETYPE=\"string\">1:1</KEYVALUE></KEYBINDING></INSTANCENAME></"
            "LOCALINSTANCEPATH></METHODCALL></SIMPLEREQ>\n"
            "</MESSAGE></CIM>";

/* ---- fake backend ---- */

#define NCONN 2
static const char *conn_rows[NCONN][15] = {
    {"1:1", "1", "1", "CONTOSO\\alice", "Alice O'Brien & <Co> \"x\"", "192.0.2.10",
     "20240102030405.000000+060", "00000000000012.000000:000", "rdp-host", "RDP", "3389", "12",
     "34", "00000000010000.000000:000", "1"},
    {"2:1", "2", "1", "CONTOSO\\bob", NULL, "192.0.2.11", "20240102030405.000000+060",
     "00000000000001.000000:000", "host2", "RDP", "3389", "0", "0", "00000000000100.000000:000",
     "1"},
};

struct call {
    char method[64];
    bool has_key;
    char key[64];
    size_t nargs;
    char argname[4][32];
    bool argnull[4];
    char argval[4][128];
};

static struct fake {
    int ncalls;
    struct call calls[8];
    uint32_t invoke_rc;   /* returned by invoke */
    uint32_t invoke_ret;  /* ReturnValue when the user/key is known */
    int enum_rc;          /* returned by enumerate */
    const char *odd_name; /* FullUserName of row 1 when set */
    uint32_t get_rc;      /* returned by get when set */
    int nget, nenum;
} fk;

static void fill_conn(const struct cim_class *c, int r, struct cim_instance *in)
{
    in->cls = c;
    for (size_t i = 0; i < c->nprops && i < 15; i++)
        assert_int_equal(cim_set(in, (int)i, conn_rows[r][i]), 0);
    if (r == 0 && fk.odd_name)
        assert_int_equal(cim_set(in, 4, fk.odd_name), 0);
}

static int f_enum(void *ctx, const struct cim_class *c,
                  int (*fn)(const struct cim_instance *in, void *fctx), void *fctx)
{
    (void)ctx;
    fk.nenum++;
    if (fk.enum_rc)
        return fk.enum_rc;
    if (!strcmp(c->name, "Win32_TSGatewayConnection")) {
        for (int r = 0; r < NCONN; r++) {
            struct cim_instance in = {0};
            fill_conn(c, r, &in);
            int stop = fn(&in, fctx);
            cim_instance_clear(&in);
            if (stop)
                break;
        }
    } else if (!strcmp(c->name, "Win32_TSGatewayServerSettings")) {
        struct cim_instance in = {0};
        in.cls = c;
        cim_set(&in, 0, "100");
        cim_set(&in, 1, "FALSE");
        cim_set(&in, 3, "tsgw");
        fn(&in, fctx);
        cim_instance_clear(&in);
    }
    return 0;
}

static uint32_t f_get(void *ctx, const struct cim_class *c, const char *key,
                      struct cim_instance *out)
{
    (void)ctx;
    fk.nget++;
    if (fk.get_rc)
        return fk.get_rc;
    if (!strcmp(c->name, "Win32_TSGatewayConnection"))
        for (int r = 0; r < NCONN; r++)
            if (!strcmp(conn_rows[r][0], key)) {
                fill_conn(c, r, out);
                return 0;
            }
    return WBEM_E_NOT_FOUND;
}

static uint32_t f_invoke(void *ctx, const struct cim_class *c, const char *method, const char *key,
                         const struct cim_arg *args, size_t nargs, uint32_t *ret)
{
    (void)ctx;
    (void)c;
    if (fk.ncalls < 8) {
        struct call *k = &fk.calls[fk.ncalls];
        memset(k, 0, sizeof *k);
        snprintf(k->method, sizeof k->method, "%s", method);
        k->has_key = key != NULL;
        snprintf(k->key, sizeof k->key, "%s", key ? key : "");
        k->nargs = nargs;
        for (size_t i = 0; i < nargs && i < 4; i++) {
            snprintf(k->argname[i], sizeof k->argname[i], "%s", args[i].name);
            k->argnull[i] = args[i].value == NULL;
            snprintf(k->argval[i], sizeof k->argval[i], "%s", args[i].value ? args[i].value : "");
        }
    }
    fk.ncalls++;
    if (fk.invoke_rc)
        return fk.invoke_rc;
    if (!strcmp(method, "DisconnectUser"))
        *ret = nargs && args[0].value && !strcmp(args[0].value, "CONTOSO\\alice")
                   ? fk.invoke_ret
                   : WBEM_E_NOT_FOUND;
    else if (!strcmp(method, "Disconnect"))
        *ret = key && !strcmp(key, "1:1") ? fk.invoke_ret : WBEM_E_NOT_FOUND;
    else
        *ret = fk.invoke_ret;
    return 0;
}

static const struct cimxml_backend backend = {NULL, f_enum, f_get, f_invoke};

static int reset(void **state)
{
    (void)state;
    memset(&fk, 0, sizeof fk);
    return 0;
}

/* ---- running a request ---- */

struct res {
    int rc, status, hdr;
    struct buf out;
    xmlDocPtr doc; /* parsed answer when status 200 */
};

static void res_free(struct res *r)
{
    buf_free(&r->out);
    if (r->doc)
        xmlFreeDoc(r->doc);
    memset(r, 0, sizeof *r);
}

static void run_full(struct res *r, const void *body, size_t len, const char *op,
                     const char *method, int denied)
{
    memset(r, 0, sizeof *r);
    struct cimxml_request rq = {op, method, NULL, body, len, denied};
    r->rc = cimxml_handle(&rq, &backend, &r->out, &r->status, &r->hdr);
    if (r->rc == 0 && r->status == 200) {
        r->doc = xmlReadMemory((const char *)buf_data(&r->out), (int)buf_len(&r->out), NULL, NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!r->doc)
            fail_msg("answer is not well-formed XML:\n%.*s", (int)buf_len(&r->out),
                     (char *)buf_data(&r->out));
    }
}

static void run(struct res *r, const char *body)
{
    run_full(r, body, strlen(body), "MethodCall", NULL, 0);
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->hdr, 0);
}

static double xp_num(struct res *r, const char *expr)
{
    xmlXPathContextPtr x = xmlXPathNewContext(r->doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, x);
    assert_non_null(o);
    double v = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(x);
    return v;
}

static int xp_count(struct res *r, const char *path)
{
    char e[512];
    snprintf(e, sizeof e, "count(%s)", path);
    return (int)xp_num(r, e);
}

/* string-value of the first node of path (static buffer). */
static const char *xp_str(struct res *r, const char *path)
{
    static char out[1024];
    xmlXPathContextPtr x = xmlXPathNewContext(r->doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)path, x);
    assert_non_null(o);
    xmlChar *s = xmlXPathCastToString(o);
    snprintf(out, sizeof out, "%s", (const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(x);
    return out;
}

#define RSP "/CIM/MESSAGE/SIMPLERSP"

static void assert_envelope(struct res *r, const char *rsp_elem, const char *name)
{
    assert_string_equal(xp_str(r, "/CIM/@CIMVERSION"), "2.0");
    assert_string_equal(xp_str(r, "/CIM/MESSAGE/@ID"), "4711");
    assert_string_equal(xp_str(r, "/CIM/MESSAGE/@PROTOCOLVERSION"), "1.0");
    char p[128];
    snprintf(p, sizeof p, RSP "/%s/@NAME", rsp_elem);
    assert_string_equal(xp_str(r, p), name);
}

/* wbemcli 1.6.3 chokes on self-closing PROPERTY/METHOD/...: no "/>" anywhere in an answer. */
static void assert_no_selfclosing(struct res *r)
{
    assert_null(memmem(buf_data(&r->out), buf_len(&r->out), "/>", 2));
}

static void assert_cim_error(struct res *r, int code)
{
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->status, 200);
    assert_non_null(r->doc);
    assert_int_equal(xp_count(r, RSP "/*/ERROR"), 1);
    assert_int_equal((int)xp_num(r, "number(" RSP "/*/ERROR/@CODE)"), code);
    assert_true(strlen(xp_str(r, RSP "/*/ERROR/@DESCRIPTION")) > 0);
    assert_int_equal(xp_count(r, RSP "/*/IRETURNVALUE | " RSP "/*/RETURNVALUE"), 0);
    assert_no_selfclosing(r);
}

static void assert_http_error(struct res *r, int status, int hdr)
{
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->status, status);
    assert_int_equal(r->hdr, hdr);
    assert_int_equal(buf_len(&r->out), 0);
}

/* Builds an intrinsic call in namespace ns with the given IPARAMVALUEs (malloc'd). */
static char *imethod(const char *name, const char *ns, const char *params)
{
    char nsxml[4096] = "";
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", ns);
    for (char *save = NULL, *t = strtok_r(tmp, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        size_t l = strlen(nsxml);
        snprintf(nsxml + l, sizeof nsxml - l, "<NAMESPACE NAME=\"%s\"></NAMESPACE>", t);
    }
    size_t n = strlen(params) + 6144;
    char *b = malloc(n);
    assert_non_null(b);
    snprintf(b, n,
             XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"4711\" "
                     "PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"%s\">"
                     "<LOCALNAMESPACEPATH>%s</LOCALNAMESPACEPATH>%s</IMETHODCALL></SIMPLEREQ>"
                     "</MESSAGE></CIM>",
             name, nsxml, params);
    return b;
}

/* Builds an extrinsic call; target is "" for the class path or a ConnectionKey value. */
static char *methodcall(const char *cls, const char *method, const char *key, const char *params)
{
    size_t n = strlen(params) + 2048;
    char *b = malloc(n);
    assert_non_null(b);
    char path[1024];
    if (key)
        snprintf(path, sizeof path,
                 "<LOCALINSTANCEPATH>" NSPATH_SHORT "<INSTANCENAME CLASSNAME=\"%s\"><KEYBINDING "
                 "NAME=\"ConnectionKey\"><KEYVALUE VALUETYPE=\"string\">%s</KEYVALUE></"
                 "KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH>",
                 cls, key);
    else
        snprintf(path, sizeof path,
                 "<LOCALCLASSPATH>" NSPATH_SHORT "<CLASSNAME NAME=\"%s\"/></LOCALCLASSPATH>", cls);
    snprintf(b, n,
             XMLDECL "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"4711\" "
                     "PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"%s\">%s%s</METHODCALL>"
                     "</SIMPLEREQ></MESSAGE></CIM>",
             method, path, params);
    return b;
}

static void run_heap(struct res *r, char *body)
{
    run(r, body);
    free(body);
}

#define CLS "Win32_TSGatewayConnection"
#define CN "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"" CLS "\"/></IPARAMVALUE>"

/* ---- the real wbemcli requests ---- */

static void test_ei(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_ei);
    assert_envelope(&r, "IMETHODRESPONSE", "EnumerateInstances");
    assert_no_selfclosing(&r);
    const char *ni = RSP "/IMETHODRESPONSE/IRETURNVALUE/VALUE.NAMEDINSTANCE";
    assert_int_equal(xp_count(&r, ni), 2);
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCENAME/@CLASSNAME"), CLS);
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCENAME/KEYBINDING/@NAME"),
                        "ConnectionKey");
    assert_string_equal(
        xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCENAME/KEYBINDING/KEYVALUE/@VALUETYPE"),
        "string");
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[2]/INSTANCENAME/KEYBINDING/KEYVALUE"),
                        "2:1");
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY"), 15);
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/@CLASSNAME"), CLS);
    assert_string_equal(
        xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[@NAME='TunnelId']/@TYPE"),
        "uint64");
    assert_string_equal(
        xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[@NAME='UserName']/VALUE"),
        "CONTOSO\\alice");
    /* escaping of & < > " ' survives the round trip */
    assert_string_equal(
        xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[@NAME='FullUserName']/VALUE"),
        "Alice O'Brien & <Co> \"x\"");
    /* NULL = PROPERTY without VALUE */
    assert_int_equal(
        xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[2]/INSTANCE/PROPERTY[@NAME='FullUserName']"), 1);
    assert_int_equal(
        xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[2]/INSTANCE/PROPERTY[@NAME='FullUserName']/VALUE"),
        0);
    assert_string_equal(
        xp_str(&r,
               RSP "//VALUE.NAMEDINSTANCE[2]/INSTANCE/PROPERTY[@NAME='TransportProtocol']/VALUE"),
        "1");
    /* property order is the MOF order */
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[15]/@NAME"),
                        "TransportProtocol");
    res_free(&r);
}

static void test_ei_property_list(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_ei_plist);
    assert_envelope(&r, "IMETHODRESPONSE", "EnumerateInstances");
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE"), 2);
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY"), 2);
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[1]/@NAME"),
                        "UserName");
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY[2]/VALUE"),
                        "192.0.2.10");
    /* the key is still in the instance name */
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCENAME//KEYVALUE"), "1:1");
    res_free(&r);

    /* unknown names are ignored, an empty list selects nothing, names are case-insensitive */
    run_heap(&r, imethod("EnumerateInstances", "root/cimv2/terminalservices",
                         CN "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>nosuch</VALUE>"
                            "<VALUE>connectedport</VALUE></VALUE.ARRAY></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY"), 1);
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY/@NAME"),
                        "ConnectedPort");
    res_free(&r);
    run_heap(&r, imethod("EnumerateInstances", "root/cimv2/terminalservices",
                         CN "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY></VALUE.ARRAY>"
                            "</IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE"), 2);
    assert_int_equal(xp_count(&r, RSP "//INSTANCE/PROPERTY"), 0);
    res_free(&r);
    /* NULL PropertyList = all properties */
    run_heap(&r, imethod("EnumerateInstances", "root/cimv2/terminalservices",
                         CN "<IPARAMVALUE NAME=\"PropertyList\"></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY"), 15);
    res_free(&r);
}

static void test_ein(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_ein);
    assert_envelope(&r, "IMETHODRESPONSE", "EnumerateInstanceNames");
    assert_no_selfclosing(&r);
    assert_int_equal(xp_count(&r, RSP "/IMETHODRESPONSE/IRETURNVALUE/INSTANCENAME"), 2);
    assert_int_equal(xp_count(&r, RSP "//INSTANCE"), 0);
    assert_string_equal(xp_str(&r, RSP "//INSTANCENAME[2]/KEYBINDING/KEYVALUE"), "2:1");
    res_free(&r);

    /* numeric key: VALUETYPE="numeric" */
    run_heap(&r, imethod("EnumerateInstanceNames", "root/cimv2/terminalservices",
                         "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
                         "NAME=\"Win32_TSGatewayServerSettings\"/></IPARAMVALUE>"));
    assert_string_equal(xp_str(&r, RSP "//INSTANCENAME/KEYBINDING/@NAME"), "MaxConnections");
    assert_string_equal(xp_str(&r, RSP "//INSTANCENAME/KEYBINDING/KEYVALUE/@VALUETYPE"), "numeric");
    assert_string_equal(xp_str(&r, RSP "//INSTANCENAME/KEYBINDING/KEYVALUE"), "100");
    res_free(&r);

    /* empty enumeration: an IRETURNVALUE with explicit end tag */
    run_heap(&r, imethod("EnumerateInstanceNames", "root/cimv2/terminalservices",
                         "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME "
                         "NAME=\"Win32_TSGatewayResourceGroup\"/></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "/IMETHODRESPONSE/IRETURNVALUE"), 1);
    assert_int_equal(xp_count(&r, RSP "/IMETHODRESPONSE/IRETURNVALUE/*"), 0);
    assert_no_selfclosing(&r);
    res_free(&r);
}

static void test_gi(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_gi);
    assert_envelope(&r, "IMETHODRESPONSE", "GetInstance");
    assert_no_selfclosing(&r);
    assert_string_equal(xp_str(&r, RSP "/IMETHODRESPONSE/IRETURNVALUE/INSTANCE/@CLASSNAME"), CLS);
    assert_int_equal(xp_count(&r, RSP "//INSTANCE/PROPERTY"), 15);
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/PROPERTY[@NAME='ConnectionKey']/VALUE"), "1:1");
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/PROPERTY[@NAME='ConnectedPort']/@TYPE"),
                        "uint32");
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/PROPERTY[@NAME='ConnectedPort']/VALUE"), "3389");
    assert_int_equal(fk.nget, 1);
    res_free(&r);

    /* a bare KEYVALUE and a lower-case class name work too; PropertyList is honoured */
    run_heap(&r, imethod("getinstance", "ROOT/CIMV2/TerminalServices",
                         "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME "
                         "CLASSNAME=\"win32_tsgatewayconnection\"><KEYVALUE>2:1</KEYVALUE>"
                         "</INSTANCENAME></IPARAMVALUE><IPARAMVALUE NAME=\"PropertyList\">"
                         "<VALUE.ARRAY><VALUE>UserName</VALUE></VALUE.ARRAY></IPARAMVALUE>"));
    assert_envelope(&r, "IMETHODRESPONSE", "GetInstance");
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/@CLASSNAME"), CLS);
    assert_int_equal(xp_count(&r, RSP "//INSTANCE/PROPERTY"), 1);
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/PROPERTY/VALUE"), "CONTOSO\\bob");
    res_free(&r);
}

static void test_getclass(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_getclass);
    assert_envelope(&r, "IMETHODRESPONSE", "GetClass");
    assert_no_selfclosing(&r);
    const char *c = RSP "/IMETHODRESPONSE/IRETURNVALUE/CLASS";
    assert_int_equal(xp_count(&r, c), 1);
    assert_string_equal(xp_str(&r, RSP "//CLASS/@NAME"), CLS);
    assert_int_equal(xp_count(&r, RSP "//CLASS/PROPERTY"), 15);
    assert_string_equal(
        xp_str(&r, RSP "//CLASS/PROPERTY[@NAME='ConnectionKey']/QUALIFIER[@NAME='key']/VALUE"),
        "TRUE");
    assert_string_equal(
        xp_str(&r, RSP "//CLASS/PROPERTY[@NAME='ConnectionKey']/QUALIFIER[@NAME='key']/@TYPE"),
        "boolean");
    assert_int_equal(xp_count(&r, RSP "//CLASS/PROPERTY/QUALIFIER[@NAME='key']"), 1);
    assert_string_equal(xp_str(&r, RSP "//CLASS/PROPERTY[@NAME='NumberOfKilobytesSent']/@TYPE"),
                        "uint64");
    /* every method with its return type and every parameter with its type */
    const struct cim_class *cls = cim_find_class(CLS);
    assert_non_null(cls);
    assert_int_equal(xp_count(&r, RSP "//CLASS/METHOD"), (int)cls->nmethods);
    for (size_t i = 0; i < cls->nmethods; i++) {
        const struct cim_method *m = &cls->methods[i];
        char p[256];
        snprintf(p, sizeof p, RSP "//CLASS/METHOD[@NAME='%s']/@TYPE", m->name);
        assert_string_equal(xp_str(&r, p), cim_type_name(m->return_type));
        snprintf(p, sizeof p, RSP "//CLASS/METHOD[@NAME='%s']/PARAMETER", m->name);
        assert_int_equal(xp_count(&r, p), (int)m->nparams);
        for (size_t k = 0; k < m->nparams; k++) {
            snprintf(p, sizeof p, RSP "//CLASS/METHOD[@NAME='%s']/PARAMETER[@NAME='%s']/@TYPE",
                     m->name, m->params[k].name);
            assert_string_equal(xp_str(&r, p), cim_type_name(m->params[k].type));
        }
    }
    assert_string_equal(xp_str(&r, RSP
                               "//CLASS/METHOD[@NAME='DisconnectUser']/PARAMETER[@NAME='UserName']"
                               "/QUALIFIER[@NAME='In']/VALUE"),
                        "TRUE");
    assert_int_equal(xp_count(&r, RSP "//CLASS/METHOD[@NAME='Disconnect']/PARAMETER"), 0);
    res_free(&r);

    /* IncludeQualifiers=FALSE drops the qualifiers, PropertyList filters properties */
    run_heap(&r, imethod("GetClass", "root/cimv2/terminalservices",
                         CN "<IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>false</VALUE>"
                            "</IPARAMVALUE><IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY>"
                            "<VALUE>UserName</VALUE></VALUE.ARRAY></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//QUALIFIER"), 0);
    assert_int_equal(xp_count(&r, RSP "//CLASS/PROPERTY"), 1);
    assert_int_equal(xp_count(&r, RSP "//CLASS/METHOD"), 3);
    res_free(&r);
}

static void test_enum_classes(void **state)
{
    (void)state;
    struct res r;
    run_heap(&r, imethod("EnumerateClassNames", "root/cimv2/terminalservices", ""));
    assert_envelope(&r, "IMETHODRESPONSE", "EnumerateClassNames");
    assert_no_selfclosing(&r);
    assert_int_equal(xp_count(&r, RSP "//IRETURNVALUE/CLASSNAME"), (int)cim_nclasses);
    assert_string_equal(xp_str(&r, RSP "//IRETURNVALUE/CLASSNAME[1]/@NAME"), CLS);
    res_free(&r);
    /* a known class has no subclasses */
    run_heap(&r, imethod("EnumerateClassNames", "root/cimv2/terminalservices", CN));
    assert_int_equal(xp_count(&r, RSP "//IRETURNVALUE/*"), 0);
    res_free(&r);
    run_heap(&r, imethod("EnumerateClasses", "root/cimv2/terminalservices",
                         "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>TRUE</VALUE>"
                         "</IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//IRETURNVALUE/CLASS"), (int)cim_nclasses);
    res_free(&r);
}

static void test_cm_disconnect_user(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_cm_user);
    assert_envelope(&r, "METHODRESPONSE", "DisconnectUser");
    assert_no_selfclosing(&r);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/@PARAMTYPE"), "uint32");
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "0");
    assert_int_equal(fk.ncalls, 1);
    assert_string_equal(fk.calls[0].method, "DisconnectUser");
    assert_false(fk.calls[0].has_key);
    assert_int_equal(fk.calls[0].nargs, 1);
    assert_string_equal(fk.calls[0].argname[0], "UserName");
    assert_string_equal(fk.calls[0].argval[0], "CONTOSO\\alice");
    res_free(&r);

    /* method-level failure: a RETURNVALUE, not an ERROR */
    char *b = methodcall(CLS, "DisconnectUser", NULL,
                         "<PARAMVALUE NAME=\"username\"><VALUE>CONTOSO\\nobody</VALUE>"
                         "</PARAMVALUE>");
    run_heap(&r, b);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "2147749890");
    assert_string_equal(fk.calls[1].argname[0], "UserName"); /* schema spelling */
    res_free(&r);

    /* entities are decoded before the backend sees the value; a PARAMVALUE without VALUE is
     * passed as NULL; a PARAMTYPE that matches is accepted */
    run_heap(&r, methodcall(CLS, "DisconnectUser", NULL,
                            "<PARAMVALUE NAME=\"UserName\" PARAMTYPE=\"string\"><VALUE>A&amp;B"
                            "&lt;&#x43;&gt;<![CDATA[&x]]></VALUE></PARAMVALUE>"));
    assert_string_equal(fk.calls[2].argval[0], "A&B<C>&x");
    res_free(&r);
    run_heap(&r, methodcall(CLS, "DisconnectProtocol", NULL,
                            "<PARAMVALUE NAME=\"ProtocolName\"></PARAMVALUE>"));
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/@NAME"), "DisconnectProtocol");
    assert_int_equal(fk.calls[3].nargs, 1);
    assert_true(fk.calls[3].argnull[0]);
    res_free(&r);

    /* a large ReturnValue is printed unsigned */
    fk.invoke_ret = 4294967295u;
    run(&r, body_cm_user);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "4294967295");
    res_free(&r);
}

static void test_cm_disconnect_instance(void **state)
{
    (void)state;
    struct res r;
    run(&r, body_cm_disconnect);
    assert_envelope(&r, "METHODRESPONSE", "Disconnect");
    assert_no_selfclosing(&r);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "0");
    assert_int_equal(fk.ncalls, 1);
    assert_string_equal(fk.calls[0].method, "Disconnect");
    assert_true(fk.calls[0].has_key);
    assert_string_equal(fk.calls[0].key, "1:1");
    assert_int_equal(fk.calls[0].nargs, 0);
    res_free(&r);

    /* class methods may also be called on an instance path */
    run_heap(&r, methodcall(CLS, "DisconnectUser", "2:1",
                            "<PARAMVALUE NAME=\"UserName\"><VALUE>CONTOSO\\alice</VALUE>"
                            "</PARAMVALUE>"));
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "0");
    assert_string_equal(fk.calls[1].key, "2:1");
    res_free(&r);
}

/* ---- CIM errors ---- */

static void test_err_namespace(void **state)
{
    (void)state;
    struct res r;
    run_heap(&r, imethod("EnumerateInstances", "root/cimv2", CN));
    assert_cim_error(&r, CIM_ERR_INVALID_NAMESPACE);
    assert_envelope(&r, "IMETHODRESPONSE", "EnumerateInstances");
    res_free(&r);
    run_heap(&r, imethod("GetClass", "root/cimv2/terminalservices/x", CN));
    assert_cim_error(&r, CIM_ERR_INVALID_NAMESPACE);
    res_free(&r);
    run_heap(&r, imethod("EnumerateClassNames", "", ""));
    assert_cim_error(&r, CIM_ERR_INVALID_NAMESPACE);
    res_free(&r);
    /* extrinsic */
    char *b = methodcall(CLS, "DisconnectUser", NULL, "");
    char *at = strstr(b, "cimv2");
    memcpy(at, "cimv3", 5);
    run_heap(&r, b);
    assert_cim_error(&r, CIM_ERR_INVALID_NAMESPACE);
    res_free(&r);
    assert_int_equal(fk.ncalls, 0);
    assert_int_equal(fk.nenum, 0);
}

static void test_err_class(void **state)
{
    (void)state;
    struct res r;
    const char *ops[] = {"EnumerateInstances", "EnumerateInstanceNames", "GetClass",
                         "EnumerateClassNames"};
    for (size_t i = 0; i < 4; i++) {
        run_heap(&r, imethod(ops[i], "root/cimv2/terminalservices",
                             "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"Win32_Nope\"/>"
                             "</IPARAMVALUE>"));
        assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
        res_free(&r);
    }
    run_heap(&r, imethod("GetInstance", "root/cimv2/terminalservices",
                         "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME CLASSNAME=\"CIM_X\">"
                         "<KEYVALUE>1</KEYVALUE></INSTANCENAME></IPARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
    res_free(&r);
    run_heap(&r, methodcall("Win32_Nope", "DisconnectUser", NULL, ""));
    assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/@NAME"), "DisconnectUser");
    res_free(&r);
    assert_int_equal(fk.ncalls + fk.nenum + fk.nget, 0);
}

static void test_err_not_found(void **state)
{
    (void)state;
    struct res r;
    char *b = strdup(body_gi);
    memcpy(strstr(b, ">1:1<"), ">9:9<", 5);
    run_heap(&r, b);
    assert_cim_error(&r, CIM_ERR_NOT_FOUND);
    assert_envelope(&r, "IMETHODRESPONSE", "GetInstance");
    assert_non_null(strstr(xp_str(&r, RSP "//ERROR/@DESCRIPTION"), "9:9"));
    res_free(&r);
}

static void test_err_method(void **state)
{
    (void)state;
    struct res r;
    run_heap(&r, methodcall(CLS, "Frobnicate", NULL, ""));
    assert_cim_error(&r, CIM_ERR_METHOD_NOT_FOUND);
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/@NAME"), "Frobnicate");
    res_free(&r);
    run_heap(&r, methodcall("Win32_TSGatewayResourceGroup", "Disconnect", NULL, ""));
    assert_cim_error(&r, CIM_ERR_METHOD_NOT_FOUND);
    res_free(&r);
    /* Disconnect needs an instance path */
    run_heap(&r, methodcall(CLS, "Disconnect", NULL, ""));
    assert_cim_error(&r, CIM_ERR_METHOD_NOT_AVAILABLE);
    res_free(&r);
    assert_int_equal(fk.ncalls, 0);
    /* call-level errors of the backend */
    const struct {
        uint32_t rc;
        int code;
    } map[] = {
        {WBEM_E_INVALID_METHOD, CIM_ERR_METHOD_NOT_FOUND},
        {WBEM_E_INVALID_OBJECT_PATH, CIM_ERR_METHOD_NOT_AVAILABLE},
        {WBEM_E_NOT_FOUND, CIM_ERR_NOT_FOUND},
        {WBEM_E_INVALID_PARAMETER, CIM_ERR_INVALID_PARAMETER},
        {WBEM_E_ACCESS_DENIED, CIM_ERR_ACCESS_DENIED},
        {WBEM_E_FAILED, CIM_ERR_FAILED},
        {12345, CIM_ERR_FAILED},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        fk.invoke_rc = map[i].rc;
        run(&r, body_cm_user);
        assert_cim_error(&r, map[i].code);
        res_free(&r);
    }
}

static void test_err_not_supported(void **state)
{
    (void)state;
    struct res r;
    const char *ops[] = {"ModifyInstance", "ExecQuery",   "DeleteInstance",
                         "CreateInstance", "Associators", "References",
                         "GetProperty",    "SetProperty", "OpenEnumerateInstances"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        run_heap(&r, imethod(ops[i], "root/cimv2/terminalservices",
                             "<IPARAMVALUE NAME=\"QueryLanguage\"><VALUE>WQL</VALUE>"
                             "</IPARAMVALUE>"));
        assert_cim_error(&r, CIM_ERR_NOT_SUPPORTED);
        assert_envelope(&r, "IMETHODRESPONSE", ops[i]);
        res_free(&r);
    }
}

static void test_err_invalid_parameter(void **state)
{
    (void)state;
    struct res r;
    const char *ns = "root/cimv2/terminalservices";
    /* unknown / duplicate / ill-typed IPARAMVALUEs */
    const char *bad_iparams[] = {
        CN "<IPARAMVALUE NAME=\"Frob\"><VALUE>1</VALUE></IPARAMVALUE>",
        CN "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>maybe</VALUE></IPARAMVALUE>",
        CN "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE.ARRAY></VALUE.ARRAY></IPARAMVALUE>",
        CN "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE>TRUE</VALUE><VALUE>TRUE</VALUE></IPARAMVALUE>",
        CN CN,
        CN "<IPARAMVALUE NAME=\"PropertyList\"><VALUE>UserName</VALUE></IPARAMVALUE>",
        CN "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><KEYVALUE>x</KEYVALUE>"
           "</VALUE.ARRAY></IPARAMVALUE>",
        CN "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME CLASSNAME=\"" CLS "\">"
           "</INSTANCENAME></IPARAMVALUE>",
        "<IPARAMVALUE NAME=\"ClassName\"><VALUE>" CLS "</VALUE></IPARAMVALUE>",
        "<IPARAMVALUE NAME=\"ClassName\"></IPARAMVALUE>",
        "", /* ClassName missing */
    };
    for (size_t i = 0; i < sizeof bad_iparams / sizeof bad_iparams[0]; i++) {
        run_heap(&r, imethod("EnumerateInstances", ns, bad_iparams[i]));
        assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
        res_free(&r);
    }
    /* instance names: wrong key name, two keys, no key, non-numeric numeric key */
    const char *bad_names[] = {
        "<INSTANCENAME CLASSNAME=\"" CLS "\"><KEYBINDING NAME=\"UserName\"><KEYVALUE>1:1"
        "</KEYVALUE></KEYBINDING></INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"" CLS "\"><KEYVALUE>1:1</KEYVALUE><KEYVALUE>1:1</KEYVALUE>"
        "</INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"" CLS "\"></INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"" CLS "\"><KEYBINDING NAME=\"ConnectionKey\"><VALUE.REFERENCE>"
        "</VALUE.REFERENCE></KEYBINDING></INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"" CLS "\"><KEYBINDING NAME=\"ConnectionKey\"><KEYVALUE><X>1"
        "</X></KEYVALUE></KEYBINDING></INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"Win32_TSGatewayServerSettings\"><KEYBINDING "
        "NAME=\"MaxConnections\"><KEYVALUE VALUETYPE=\"numeric\">lots</KEYVALUE></KEYBINDING>"
        "</INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"Win32_TSGatewayServerSettings\"><KEYBINDING "
        "NAME=\"MaxConnections\"><KEYVALUE VALUETYPE=\"numeric\">4294967296</KEYVALUE>"
        "</KEYBINDING></INSTANCENAME>",
        "<INSTANCENAME CLASSNAME=\"Win32_TSGatewayServerSettings\"><KEYBINDING "
        "NAME=\"MaxConnections\"><KEYVALUE VALUETYPE=\"numeric\">-1</KEYVALUE>"
        "</KEYBINDING></INSTANCENAME>",
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char p[1024];
        snprintf(p, sizeof p, "<IPARAMVALUE NAME=\"InstanceName\">%s</IPARAMVALUE>", bad_names[i]);
        run_heap(&r, imethod("GetInstance", ns, p));
        assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
        res_free(&r);
    }
    /* a numeric key that fits goes through (and is not found) */
    run_heap(&r, imethod("GetInstance", ns,
                         "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME "
                         "CLASSNAME=\"Win32_TSGatewayServerSettings\"><KEYBINDING "
                         "NAME=\"MaxConnections\"><KEYVALUE VALUETYPE=\"numeric\"> 4294967295 "
                         "</KEYVALUE></KEYBINDING></INSTANCENAME></IPARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_NOT_FOUND);
    res_free(&r);
    assert_int_equal(fk.nget, 1);

    /* extrinsic: unknown parameter, duplicate, wrong PARAMTYPE, arrays, references */
    const char *bad_params[] = {
        "<PARAMVALUE NAME=\"User\"><VALUE>x</VALUE></PARAMVALUE>",
        ("<PARAMVALUE NAME=\"UserName\"><VALUE>x</VALUE></PARAMVALUE>"
         "<PARAMVALUE NAME=\"username\"><VALUE>y</VALUE></PARAMVALUE>"),
        "<PARAMVALUE NAME=\"UserName\" PARAMTYPE=\"uint32\"><VALUE>5</VALUE></PARAMVALUE>",
        "<PARAMVALUE NAME=\"UserName\"><VALUE.ARRAY><VALUE>x</VALUE></VALUE.ARRAY></PARAMVALUE>",
        "<PARAMVALUE NAME=\"UserName\"><VALUE.REFERENCE></VALUE.REFERENCE></PARAMVALUE>",
        "<PARAMVALUE NAME=\"UserName\"><VALUE>x<B>y</B></VALUE></PARAMVALUE>",
        "<PARAMVALUE NAME=\"UserName\"><VALUE>x</VALUE><VALUE>y</VALUE></PARAMVALUE>",
    };
    for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
        run_heap(&r, methodcall(CLS, "DisconnectUser", NULL, bad_params[i]));
        assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
        res_free(&r);
    }
    /* Disconnect takes no parameters at all */
    run_heap(&r, methodcall(CLS, "Disconnect", "1:1",
                            "<PARAMVALUE NAME=\"Force\"><VALUE>TRUE</VALUE></PARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
    res_free(&r);
    assert_int_equal(fk.ncalls, 0);
}

static void test_typed_values(void **state)
{
    (void)state;
    /* the schema has no numeric method parameter; the checker is shared with keys, tested
     * above, and with booleans in IPARAMVALUEs */
    struct res r;
    run_heap(&r, imethod("EnumerateInstances", "root/cimv2/terminalservices",
                         CN "<IPARAMVALUE NAME=\"LocalOnly\"><VALUE> true </VALUE></IPARAMVALUE>"
                            "<IPARAMVALUE NAME=\"DeepInheritance\"></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//VALUE.NAMEDINSTANCE"), 2);
    res_free(&r);
}

static void test_access_denied(void **state)
{
    (void)state;
    const char *bodies[] = {body_ei,       body_ei_plist, body_ein,          body_gi,
                            body_getclass, body_cm_user,  body_cm_disconnect};
    const char *names[] = {"EnumerateInstances", "EnumerateInstances", "EnumerateInstanceNames",
                           "GetInstance",        "GetClass",           "DisconnectUser",
                           "Disconnect"};
    struct res r;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        run_full(&r, bodies[i], strlen(bodies[i]), "MethodCall", NULL, 1);
        assert_cim_error(&r, CIM_ERR_ACCESS_DENIED);
        assert_string_equal(xp_str(&r, "/CIM/MESSAGE/@ID"), "4711");
        assert_string_equal(xp_str(&r, RSP "/*/@NAME"), names[i]);
        res_free(&r);
    }
    /* also for operations that would fail otherwise */
    char *b = imethod("ExecQuery", "root/cimv2/terminalservices", "");
    run_full(&r, b, strlen(b), "MethodCall", NULL, 1);
    assert_cim_error(&r, CIM_ERR_ACCESS_DENIED);
    res_free(&r);
    free(b);
    b = imethod("EnumerateClassNames", "root/other", "");
    run_full(&r, b, strlen(b), "MethodCall", NULL, 1);
    assert_cim_error(&r, CIM_ERR_ACCESS_DENIED);
    res_free(&r);
    free(b);
    b = methodcall("Win32_Nope", "Frob", NULL, "");
    run_full(&r, b, strlen(b), "MethodCall", NULL, 1);
    assert_cim_error(&r, CIM_ERR_ACCESS_DENIED);
    res_free(&r);
    free(b);
    assert_int_equal(fk.ncalls + fk.nenum + fk.nget, 0);
}

/* ---- HTTP-level errors ---- */

static void test_http_errors(void **state)
{
    (void)state;
    struct res r;
    /* CIMOperation header missing or wrong */
    run_full(&r, body_ei, strlen(body_ei), NULL, NULL, 0);
    assert_http_error(&r, 400, CIMXML_HDR_UNSUPPORTED_OPERATION);
    res_free(&r);
    run_full(&r, body_ei, strlen(body_ei), "MethodResponse", NULL, 0);
    assert_http_error(&r, 400, CIMXML_HDR_UNSUPPORTED_OPERATION);
    res_free(&r);
    /* case and white space of the header do not matter */
    run_full(&r, body_ei, strlen(body_ei), " methodcall ", "enumerateinstances", 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.hdr, 0);
    res_free(&r);
    /* CIMMethod header differs from the body */
    run_full(&r, body_ei, strlen(body_ei), "MethodCall", "GetClass", 0);
    assert_http_error(&r, 400, CIMXML_HDR_HEADER_MISMATCH);
    res_free(&r);
    run_full(&r, body_cm_user, strlen(body_cm_user), "MethodCall", "DisconnectUser", 0);
    assert_int_equal(r.status, 200);
    res_free(&r);

    memset(&fk, 0, sizeof fk);
    const char *bad[] = {
        "",
        "not xml at all",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">",
        "<?xml version=\"1.0\"?><FOO/>",
        "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"></CIM>",
        "<CIM><MESSAGE><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\"><LOCALNAMESPACEPATH>"
        "</LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>", /* no ID */
        "<CIM><MESSAGE ID=\"1\"><SIMPLERSP></SIMPLERSP></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\"></IMETHODCALL>"
        "</SIMPLEREQ></MESSAGE></CIM>", /* no LOCALNAMESPACEPATH */
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL><LOCALNAMESPACEPATH>"
        "</LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>", /* no NAME */
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><METHODCALL NAME=\"Disconnect\"></METHODCALL>"
        "</SIMPLEREQ></MESSAGE></CIM>", /* no target */
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><METHODCALL NAME=\"Disconnect\"><LOCALCLASSPATH>"
        "<CLASSNAME NAME=\"x\"/></LOCALCLASSPATH></METHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\"><LOCALNAMESPACEPATH>"
        "<NS NAME=\"root\"/></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\"><LOCALNAMESPACEPATH>"
        "</LOCALNAMESPACEPATH><FOO/></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\"><LOCALNAMESPACEPATH>"
        "</LOCALNAMESPACEPATH></IMETHODCALL><IMETHODCALL NAME=\"GetClass\"><LOCALNAMESPACEPATH>"
        "</LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        /* wbemcli sends parameter text unescaped (wmi-tsgateway.md §6.5 item 3) */
        "<CIM><MESSAGE ID=\"4711\"><SIMPLEREQ><METHODCALL "
        "NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT "<CLASSNAME NAME=\"" CLS
        "\"/></LOCALCLASSPATH><PARAMVALUE NAME=\"UserName\">"
        "<VALUE>A&B<x></VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">&nbsp;"
        "<LOCALNAMESPACEPATH></LOCALNAMESPACEPATH></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_full(&r, bad[i], strlen(bad[i]), "MethodCall", NULL, 0);
        assert_http_error(&r, 400, CIMXML_HDR_REQUEST_NOT_VALID);
        res_free(&r);
    }
    run_full(&r, NULL, 0, "MethodCall", NULL, 0);
    assert_http_error(&r, 400, CIMXML_HDR_REQUEST_NOT_VALID);
    res_free(&r);
    const char *multi = "<CIM><MESSAGE ID=\"1\"><MULTIREQ><SIMPLEREQ></SIMPLEREQ></MULTIREQ>"
                        "</MESSAGE></CIM>";
    run_full(&r, multi, strlen(multi), "MethodCall", NULL, 0);
    assert_http_error(&r, 501, CIMXML_HDR_MULTIPLE_REQUESTS);
    res_free(&r);
    assert_string_equal(cimxml_error_header_text(CIMXML_HDR_REQUEST_NOT_VALID),
                        "request-not-valid");
    assert_string_equal(cimxml_error_header_text(CIMXML_HDR_UNSUPPORTED_OPERATION),
                        "unsupported-operation");
    assert_string_equal(cimxml_error_header_text(CIMXML_HDR_HEADER_MISMATCH), "header-mismatch");
    assert_string_equal(cimxml_error_header_text(CIMXML_HDR_MULTIPLE_REQUESTS),
                        "multiple-requests-unsupported");
    assert_null(cimxml_error_header_text(0));
    assert_int_equal(fk.ncalls + fk.nenum + fk.nget, 0);
}

/* ---- hostile XML ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void expect_rejected(const void *body, size_t len)
{
    struct res r;
    double t0 = now_s();
    run_full(&r, body, len, "MethodCall", NULL, 0);
    assert_true(now_s() - t0 < 2.0);
    assert_http_error(&r, 400, CIMXML_HDR_REQUEST_NOT_VALID);
    res_free(&r);
    assert_int_equal(fk.ncalls + fk.nenum + fk.nget, 0);
}

#define LOL_DTD                                                                                    \
    "<!DOCTYPE CIM [\n"                                                                            \
    " <!ENTITY lol \"lol\">\n"                                                                     \
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"                     \
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"           \
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"           \
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"           \
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"           \
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"           \
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"           \
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"           \
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"           \
    "]>\n"

static const char lol_body[] =
    "<?xml version=\"1.0\"?>\n" LOL_DTD
    "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\">"
    "<SIMPLEREQ><METHODCALL NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT
    "<CLASSNAME NAME=\"" CLS "\"/></LOCALCLASSPATH><PARAMVALUE NAME=\"UserName\"><VALUE>&lol9;"
    "</VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>";

static const char xxe_body[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE CIM [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
    "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"4711\" PROTOCOLVERSION=\"1.0\">"
    "<SIMPLEREQ><METHODCALL NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT
    "<CLASSNAME NAME=\"" CLS "\"/></LOCALCLASSPATH><PARAMVALUE NAME=\"UserName\"><VALUE>&xxe;"
    "</VALUE></PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>";

/* The same document in UTF-16LE with a BOM: no "<!DOCTYPE" bytes for a naive scan to find. */
static size_t to_utf16le(const char *s, uint8_t *out)
{
    size_t n = 0;
    out[n++] = 0xFF;
    out[n++] = 0xFE;
    for (; *s; s++) {
        out[n++] = (uint8_t)*s;
        out[n++] = 0;
    }
    return n;
}

static void test_billion_laughs(void **state)
{
    (void)state;
    expect_rejected(lol_body, strlen(lol_body));
    static uint8_t u16[2 * sizeof lol_body + 4];
    size_t n = to_utf16le(lol_body + strlen("<?xml version=\"1.0\"?>\n"), u16);
    assert_null(memmem(u16, n, "<!DOCTYPE", 9));
    expect_rejected(u16, n);
    /* parameter entities, external DTD */
    const char *pe = "<!DOCTYPE CIM [ <!ENTITY % p SYSTEM \"http://127.0.0.1:1/x.dtd\"> %p; ]>"
                     "<CIM></CIM>";
    expect_rejected(pe, strlen(pe));
    const char *ext = "<!DOCTYPE CIM SYSTEM \"file:///etc/passwd\"><CIM></CIM>";
    expect_rejected(ext, strlen(ext));
    /* an undeclared entity without any DTD */
    const char *und = "<CIM><MESSAGE ID=\"&lol9;\"><SIMPLEREQ></SIMPLEREQ></MESSAGE></CIM>";
    expect_rejected(und, strlen(und));
}

static void test_external_entity(void **state)
{
    (void)state;
    expect_rejected(xxe_body, strlen(xxe_body));
    static uint8_t u16[2 * sizeof xxe_body + 4];
    size_t n = to_utf16le(xxe_body + strlen("<?xml version=\"1.0\"?>\n"), u16);
    expect_rejected(u16, n);
    /* XInclude is not processed: the element is just unknown */
    const char *xi = "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><xi:include "
                     "xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\" "
                     "parse=\"text\"/></SIMPLEREQ></MESSAGE></CIM>";
    expect_rejected(xi, strlen(xi));
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ>");
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(buf_append_str(&b, "<VALUE>"), 0);
    expect_rejected(buf_data(&b), buf_len(&b));
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(buf_append_str(&b, "</VALUE>"), 0);
    buf_append_str(&b, "</SIMPLEREQ></MESSAGE></CIM>");
    expect_rejected(buf_data(&b), buf_len(&b));
    buf_free(&b);

    /* 40 levels inside a parameter value: over the cap */
    struct buf c = BUF_INIT;
    char *pre = methodcall(CLS, "DisconnectUser", NULL, "<PARAMVALUE NAME=\"UserName\">@");
    char *at = strchr(pre, '@');
    buf_append(&c, pre, (size_t)(at - pre));
    for (int i = 0; i < 40; i++)
        buf_append_str(&c, "<VALUE>");
    for (int i = 0; i < 40; i++)
        buf_append_str(&c, "</VALUE>");
    buf_append_str(&c, at + 1);
    free(pre);
    expect_rejected(buf_data(&c), buf_len(&c));
    buf_free(&c);

    /* too many elements side by side */
    struct buf d = BUF_INIT;
    buf_append_str(&d, "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ>");
    for (int i = 0; i < 30000; i++)
        buf_append_str(&d, "<X/>");
    buf_append_str(&d, "</SIMPLEREQ></MESSAGE></CIM>");
    expect_rejected(buf_data(&d), buf_len(&d));
    buf_free(&d);
}

static void test_huge_attribute(void **state)
{
    (void)state;
    size_t big = 4u << 20;
    char *name = malloc(big + 1);
    assert_non_null(name);
    memset(name, 'A', big);
    name[big] = 0;
    /* a huge class name: answered with INVALID_CLASS, description cut short */
    size_t n = big + 2048;
    char *b = malloc(n);
    assert_non_null(b);
    snprintf(b, n,
             XMLDECL
             "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"4711\" "
             "PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">" NSPATH_OPEN
             "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"%s\"/></IPARAMVALUE>"
             "</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
             name);
    struct res r;
    run(&r, b);
    assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
    assert_true(buf_len(&r.out) < 4096);
    res_free(&r);
    /* a huge MESSAGE ID is refused */
    snprintf(b, n, "<CIM><MESSAGE ID=\"%s\"><SIMPLEREQ></SIMPLEREQ></MESSAGE></CIM>", name);
    expect_rejected(b, strlen(b));
    /* a huge method name on a METHODCALL is echoed, escaped, in a well-formed answer */
    free(b);
    name[64 * 1024] = 0;
    name[5] = '&';
    b = methodcall(CLS, "X", NULL, "");
    char *body = malloc(strlen(b) + strlen(name) * 5 + 1);
    char *at = strstr(b, "NAME=\"X\"");
    size_t pre = (size_t)(at - b) + 6;
    memcpy(body, b, pre);
    size_t k = pre;
    for (const char *p = name; *p; p++) {
        if (*p == '&') {
            memcpy(body + k, "&amp;", 5);
            k += 5;
        } else {
            body[k++] = *p;
        }
    }
    strcpy(body + k, at + 7);
    run(&r, body);
    assert_cim_error(&r, CIM_ERR_METHOD_NOT_FOUND);
    assert_int_equal(strlen(xp_str(&r, RSP "/METHODRESPONSE/@NAME")), 1023); /* xp_str cap */
    res_free(&r);
    free(body);
    free(b);
    free(name);
}

static void test_truncated(void **state)
{
    (void)state;
    const char *bodies[] = {body_ei,       body_ei_plist, body_ein,          body_gi,
                            body_getclass, body_cm_user,  body_cm_disconnect};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        size_t len = strlen(bodies[i]);
        for (size_t cut = 0; cut < len; cut++) {
            struct res r;
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, bodies[i], cut);
            run_full(&r, copy, cut, "MethodCall", NULL, 0);
            free(copy);
            assert_int_equal(r.rc, 0);
            /* a cut body is never a complete document */
            assert_int_equal(r.status, 400);
            assert_int_equal(r.hdr, CIMXML_HDR_REQUEST_NOT_VALID);
            res_free(&r);
        }
    }
    assert_int_equal(fk.ncalls + fk.nenum + fk.nget, 0);
}

static void test_message_id_and_escaping(void **state)
{
    (void)state;
    struct res r;
    const char *id = strstr(body_ein, "ID=\"4711\"");
    assert_non_null(id);
    size_t bsz = strlen(body_ein) + 64;
    char *b = malloc(bsz);
    assert_non_null(b);
    snprintf(b, bsz, "%.*sID=\"a&lt;&quot;&apos;\"%s", (int)(id - body_ein), body_ein, id + 9);
    run_heap(&r, b);
    assert_string_equal(xp_str(&r, "/CIM/MESSAGE/@ID"), "a<\"'");
    res_free(&r);

    /* values XML cannot carry are replaced, the answer stays well-formed */
    fk.odd_name =
        "ctl\x01\x1f bad\xff\xfe utf8 \xc3\x28 cr\r tab\t nl\n ok\xc3\xa9 \xf0\x9f\x98\x80 "
        "eur\xe2\x82\xac sur\xed\xa0\x80 nc\xef\xbf\xbe ov\xe0\x80\xaf 5b\xf8\x88\x80\x80\x80";
    run(&r, body_gi);
    assert_string_equal(xp_str(&r, RSP "//INSTANCE/PROPERTY[@NAME='FullUserName']/VALUE"),
                        "ctl?? bad?? utf8 ?( cr\r tab\t nl\n ok\xc3\xa9 \xf0\x9f\x98\x80 "
                        "eur\xe2\x82\xac sur??? nc??? ov??? 5b?????");
    res_free(&r);
}

static void test_enum_failure_and_nomem(void **state)
{
    (void)state;
    struct res r;
    fk.enum_rc = -EIO;
    run(&r, body_ei);
    assert_cim_error(&r, CIM_ERR_FAILED);
    res_free(&r);
    fk.enum_rc = 0;

    /* an output buffer that cannot grow: -ENOMEM and nothing appended */
    for (size_t lim = 1; lim < 1024; lim = lim * 2 + 1) {
        struct buf out = BUF_INIT;
        out.cap_limit = lim;
        int st = 0, hdr = 0;
        struct cimxml_request rq = {"MethodCall",    NULL, NULL, (const uint8_t *)body_ei,
                                    strlen(body_ei), 0};
        int rc = cimxml_handle(&rq, &backend, &out, &st, &hdr);
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(buf_len(&out), 0);
        buf_free(&out);
    }
    /* existing content of out is kept */
    struct buf out = BUF_INIT;
    buf_append_str(&out, "HEAD");
    int st = 0, hdr = 0;
    struct cimxml_request rq = {"MethodCall",         NULL, NULL, (const uint8_t *)body_cm_user,
                                strlen(body_cm_user), 0};
    assert_int_equal(cimxml_handle(&rq, &backend, &out, &st, &hdr), 0);
    assert_memory_equal(buf_data(&out), "HEAD<?xml", 9);
    buf_free(&out);

    /* a backend without functions fails cleanly */
    struct cimxml_backend none = {0};
    memset(&out, 0, sizeof out);
    rq.body = (const uint8_t *)body_ei;
    rq.body_len = strlen(body_ei);
    assert_int_equal(cimxml_handle(&rq, &none, &out, &st, &hdr), 0);
    assert_int_equal(st, 200);
    assert_non_null(memmem(buf_data(&out), buf_len(&out), "CODE=\"1\"", 8));
    buf_free(&out);
}

static void test_misc_paths(void **state)
{
    (void)state;
    struct res r;
    const char *ns = "root/cimv2/terminalservices";
    /* text split by comments is joined; white space around a boolean is fine */
    run_heap(&r, methodcall(CLS, "DisconnectUser", NULL,
                            "<PARAMVALUE NAME=\"UserName\"><VALUE>CONTOSO\\<!-- c -->al<?pi x?>ice"
                            "</VALUE></PARAMVALUE>"));
    assert_string_equal(fk.calls[0].argval[0], "CONTOSO\\alice");
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "0");
    res_free(&r);
    /* PropertyList values with comments inside */
    run_heap(&r, imethod("EnumerateInstances", ns,
                         CN "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>User<!--x-->"
                            "Name</VALUE></VALUE.ARRAY></IPARAMVALUE>"));
    assert_string_equal(xp_str(&r, RSP "//VALUE.NAMEDINSTANCE[1]/INSTANCE/PROPERTY/@NAME"),
                        "UserName");
    res_free(&r);
    /* a namespace path longer than any real one */
    char longns[600];
    memset(longns, 'n', sizeof longns - 1);
    longns[sizeof longns - 1] = 0;
    longns[100] = '/';
    longns[300] = '/';
    run_heap(&r, imethod("EnumerateClassNames", longns, ""));
    assert_cim_error(&r, CIM_ERR_INVALID_NAMESPACE);
    res_free(&r);
    /* an unsupported key form and a wrong InstanceName child */
    run_heap(&r, imethod("GetInstance", ns,
                         "<IPARAMVALUE NAME=\"InstanceName\"><INSTANCENAME CLASSNAME=\"" CLS
                         "\"><VALUE.REFERENCE></VALUE.REFERENCE></INSTANCENAME></IPARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
    res_free(&r);
    run_heap(&r, imethod("GetInstance", ns,
                         "<IPARAMVALUE NAME=\"InstanceName\"><CLASSNAME NAME=\"" CLS
                         "\"/></IPARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
    res_free(&r);
    /* an instance path with a bad key on a METHODCALL */
    run_heap(&r, methodcall(CLS, "Disconnect", "", ""));
    assert_int_equal(fk.calls[1].has_key, true);
    assert_string_equal(fk.calls[1].key, "");
    assert_string_equal(xp_str(&r, RSP "/METHODRESPONSE/RETURNVALUE/VALUE"), "2147749890");
    res_free(&r);
    char *b = methodcall(CLS, "Disconnect", "1:1", "");
    memcpy(strstr(b, "NAME=\"ConnectionKey\""), "NAME=\"ConnectionKex\"", 20);
    run_heap(&r, b);
    assert_cim_error(&r, CIM_ERR_INVALID_PARAMETER);
    res_free(&r);
    /* GetInstance: other backend errors */
    fk.get_rc = WBEM_E_ACCESS_DENIED;
    run(&r, body_gi);
    assert_cim_error(&r, CIM_ERR_ACCESS_DENIED);
    res_free(&r);
    fk.get_rc = WBEM_E_NOT_SUPPORTED;
    run(&r, body_gi);
    assert_cim_error(&r, CIM_ERR_NOT_SUPPORTED);
    res_free(&r);
    fk.get_rc = WBEM_E_INVALID_CLASS;
    run(&r, body_gi);
    assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
    res_free(&r);

    /* structurally invalid calls: 400 */
    const char *bad[] = {
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">" NSPATH_SHORT
            NSPATH_SHORT "</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><IMETHODCALL NAME=\"GetClass\">" NSPATH_SHORT
        "<IPARAMVALUE><VALUE>x</VALUE></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><METHODCALL "
        "NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT "<CLASSNAME NAME=\"" CLS
        "\"/></LOCALCLASSPATH><VALUE>x</VALUE>"
        "</METHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><METHODCALL "
        "NAME=\"DisconnectUser\"><LOCALCLASSPATH>" NSPATH_SHORT "<CLASSNAME NAME=\"" CLS
        "\"/></LOCALCLASSPATH><PARAMVALUE><VALUE>x</VALUE>"
        "</PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"><SIMPLEREQ><METHODCALL "
        "NAME=\"Disconnect\"><LOCALINSTANCEPATH>" NSPATH_SHORT "<CLASSNAME NAME=\"" CLS
        "\"/></LOCALINSTANCEPATH></METHODCALL></SIMPLEREQ>"
        "</MESSAGE></CIM>",
        "<CIM><MESSAGE ID=\"1\"></MESSAGE><MESSAGE ID=\"2\"></MESSAGE></CIM>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_full(&r, bad[i], strlen(bad[i]), "MethodCall", NULL, 0);
        assert_http_error(&r, 400, CIMXML_HDR_REQUEST_NOT_VALID);
        res_free(&r);
    }
    /* CORRELATOR and RESPONSEDESTINATION are tolerated, empty attribute values too */
    run_heap(&r, imethod("EnumerateClassNames", ns,
                         "<RESPONSEDESTINATION></RESPONSEDESTINATION><IPARAMVALUE "
                         "NAME=\"DeepInheritance\"><VALUE>TRUE</VALUE></IPARAMVALUE>"));
    assert_int_equal(xp_count(&r, RSP "//IRETURNVALUE/CLASSNAME"), (int)cim_nclasses);
    res_free(&r);
    run_heap(&r, imethod("EnumerateClassNames", ns,
                         "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"\"/></IPARAMVALUE>"));
    assert_cim_error(&r, CIM_ERR_INVALID_CLASS);
    res_free(&r);
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ei, reset),
        cmocka_unit_test_setup(test_ei_property_list, reset),
        cmocka_unit_test_setup(test_ein, reset),
        cmocka_unit_test_setup(test_gi, reset),
        cmocka_unit_test_setup(test_getclass, reset),
        cmocka_unit_test_setup(test_enum_classes, reset),
        cmocka_unit_test_setup(test_cm_disconnect_user, reset),
        cmocka_unit_test_setup(test_cm_disconnect_instance, reset),
        cmocka_unit_test_setup(test_err_namespace, reset),
        cmocka_unit_test_setup(test_err_class, reset),
        cmocka_unit_test_setup(test_err_not_found, reset),
        cmocka_unit_test_setup(test_err_method, reset),
        cmocka_unit_test_setup(test_err_not_supported, reset),
        cmocka_unit_test_setup(test_err_invalid_parameter, reset),
        cmocka_unit_test_setup(test_typed_values, reset),
        cmocka_unit_test_setup(test_access_denied, reset),
        cmocka_unit_test_setup(test_http_errors, reset),
        cmocka_unit_test_setup(test_billion_laughs, reset),
        cmocka_unit_test_setup(test_external_entity, reset),
        cmocka_unit_test_setup(test_deep_nesting, reset),
        cmocka_unit_test_setup(test_huge_attribute, reset),
        cmocka_unit_test_setup(test_truncated, reset),
        cmocka_unit_test_setup(test_message_id_and_escaping, reset),
        cmocka_unit_test_setup(test_enum_failure_and_nomem, reset),
        cmocka_unit_test_setup(test_misc_paths, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
