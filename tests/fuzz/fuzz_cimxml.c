/* libFuzzer target for the CIM-XML request handler (src/mgmt/cimxml.c).
 *
 * The input is a request body. It is handled twice (as an administrator and as a caller who is
 * denied) against a fake backend with two Win32_TSGatewayConnection instances. Every answer
 * with HTTP 200 must be a well-formed XML document with no self-closing element; any other
 * status must come with an empty body and a known CIMError header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "core/buf.h"
#include "mgmt/cimxml.h"
#include "mgmt/schema.h"

static const char *rows[2][15] = {
    {"1:1", "1", "1", "CONTOSO\\alice", "Alice O'Brien & <Co>", "192.0.2.10",
     "20240102030405.000000+060", "00000000000012.000000:000", "rdp-host", "RDP", "3389", "12",
     "34", "00000000010000.000000:000", "1"},
    {"2:1", "2", "1", "CONTOSO\\bob", NULL, "192.0.2.11", "20240102030405.000000+060",
     "00000000000001.000000:000", "host2", "RDP", "3389", "0", "0", "00000000000100.000000:000",
     "1"},
};

static void fill(const struct cim_class *c, int r, struct cim_instance *in)
{
    in->cls = c;
    for (size_t i = 0; i < c->nprops && i < 15; i++)
        cim_set(in, (int)i, rows[r][i]);
}

static int f_enum(void *ctx, const struct cim_class *c,
                  int (*fn)(const struct cim_instance *in, void *fctx), void *fctx)
{
    (void)ctx;
    if (strcmp(c->name, "Win32_TSGatewayConnection"))
        return 0;
    for (int r = 0; r < 2; r++) {
        struct cim_instance in = {0};
        fill(c, r, &in);
        int stop = fn(&in, fctx);
        cim_instance_clear(&in);
        if (stop)
            break;
    }
    return 0;
}

static uint32_t f_get(void *ctx, const struct cim_class *c, const char *key,
                      struct cim_instance *out)
{
    (void)ctx;
    if (!key)
        abort();
    for (int r = 0; r < 2; r++)
        if (!strcmp(c->name, "Win32_TSGatewayConnection") && !strcmp(rows[r][0], key)) {
            fill(c, r, out);
            return 0;
        }
    return WBEM_E_NOT_FOUND;
}

static uint32_t f_invoke(void *ctx, const struct cim_class *c, const char *method, const char *key,
                         const struct cim_arg *args, size_t nargs, uint32_t *ret)
{
    (void)ctx;
    (void)c;
    /* touch everything the handler passes, so the sanitizers check it */
    size_t sum = strlen(method) + (key ? strlen(key) : 0);
    for (size_t i = 0; i < nargs; i++)
        sum += strlen(args[i].name) + (args[i].value ? strlen(args[i].value) : 0);
    *ret = (uint32_t)(sum & 1 ? WBEM_E_NOT_FOUND : 0);
    return sum % 7 == 3 ? WBEM_E_INVALID_OBJECT_PATH : 0;
}

static const struct cimxml_backend backend = {NULL, f_enum, f_get, f_invoke};

static void check(const struct buf *out, int rc, int status, int hdr)
{
    if (rc != 0)
        abort();
    if (status != 200) {
        if (buf_len(out) != 0 || hdr == 0 || !cimxml_error_header_text(hdr))
            abort();
        return;
    }
    if (hdr != 0)
        abort();
    if (memmem(buf_data(out), buf_len(out), "/>", 2))
        abort();
    xmlDocPtr doc =
        xmlReadMemory((const char *)buf_data(out), (int)buf_len(out), NULL, NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
    if (!doc)
        abort();
    xmlFreeDoc(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        xmlInitParser();
        init = 1;
    }
    for (int denied = 0; denied < 2; denied++) {
        struct cimxml_request rq = {"MethodCall", NULL, NULL, data, size, denied};
        struct buf out = BUF_INIT;
        int status = 0, hdr = 0;
        int rc = cimxml_handle(&rq, &backend, &out, &status, &hdr);
        check(&out, rc, status, hdr);
        buf_free(&out);
    }
    return 0;
}
