/* CIM-XML (DMTF DSP0200/DSP0201) request handler: one POST /cimom body in, one response body
 * out. Pure: no sockets; the data comes from a backend (the daemon's provider, or a fake in
 * tests). XML is parsed with libxml2 with entity expansion, DTD loading and network access off.
 *
 * Operations: GetClass, EnumerateClasses, EnumerateClassNames, EnumerateInstances,
 * EnumerateInstanceNames, GetInstance (intrinsic, IMETHODCALL) and extrinsic METHODCALL on a
 * class path (LOCALCLASSPATH) or an instance path (LOCALINSTANCEPATH), in namespace
 * root/cimv2/TerminalServices (compared case-insensitively). Answers are shaped the way
 * sblim-wbemcli 1.6.3 reads them (see docs/cim.md). */
#ifndef TSGW_MGMT_CIMXML_H
#define TSGW_MGMT_CIMXML_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mgmt/schema.h"

/* CIM status codes (DSP0200 ERROR CODE=...) */
#define CIM_ERR_FAILED 1
#define CIM_ERR_ACCESS_DENIED 2
#define CIM_ERR_INVALID_NAMESPACE 3
#define CIM_ERR_INVALID_PARAMETER 4
#define CIM_ERR_INVALID_CLASS 5
#define CIM_ERR_NOT_FOUND 6
#define CIM_ERR_NOT_SUPPORTED 7
#define CIM_ERR_METHOD_NOT_AVAILABLE 16
#define CIM_ERR_METHOD_NOT_FOUND 17

/* What the handler needs from the daemon. Return values are WMI codes as in
 * daemon/provider.h: 0, WBEM_E_NOT_FOUND, WBEM_E_INVALID_METHOD, WBEM_E_INVALID_OBJECT_PATH... */
struct cimxml_backend {
    void *ctx;
    int (*enumerate)(void *ctx, const struct cim_class *c,
                     int (*fn)(const struct cim_instance *in, void *fctx), void *fctx);
    uint32_t (*get)(void *ctx, const struct cim_class *c, const char *key,
                    struct cim_instance *out);
    uint32_t (*invoke)(void *ctx, const struct cim_class *c, const char *method, const char *key,
                       const struct cim_arg *args, size_t nargs, uint32_t *ret);
};

/* HTTP-level facts of the request, from its headers. */
struct cimxml_request {
    const char *cim_operation; /* CIMOperation header ("MethodCall"); NULL (absent) = 400 */
    const char *cim_method;    /* CIMMethod header, may be NULL (then not compared) */
    const char *cim_object;    /* CIMObject header (percent-encoded), may be NULL */
    const uint8_t *body;
    size_t body_len;
    int access_denied; /* non-zero: the caller is authenticated but not an administrator;
                          every operation answers CIM_ERR_ACCESS_DENIED */
};

/* Values of *cim_error_header (DSP0200 "CIMError:" header values). */
#define CIMXML_HDR_NONE 0
#define CIMXML_HDR_REQUEST_NOT_VALID 1     /* 400: not XML, DOCTYPE, not a CIM MESSAGE */
#define CIMXML_HDR_UNSUPPORTED_OPERATION 2 /* 400: CIMOperation missing or not MethodCall */
#define CIMXML_HDR_HEADER_MISMATCH 3       /* 400: CIMMethod header differs from the body's NAME */
#define CIMXML_HDR_MULTIPLE_REQUESTS 4     /* 501: MULTIREQ ("multiple-requests-unsupported") */

/* The header value text for a CIMXML_HDR_* code ("request-not-valid", ...); NULL for 0. */
const char *cimxml_error_header_text(int code);

/* Handles one request. Appends the XML response body to out and sets *http_status (200 for any
 * CIM answer including CIM errors, 400 for a body that is not a CIM message at all, 501 for a
 * MULTIREQ) and *cim_error_header (non-zero when a "CIMError:" response header must be sent, see
 * CIMXML_HDR_*; the body is then empty). Never crashes or hangs on any input; body_len is assumed
 * already capped by the caller. Returns 0, or -ENOMEM (out is then left as it was). */
int cimxml_handle(const struct cimxml_request *req, const struct cimxml_backend *be,
                  struct buf *out, int *http_status, int *cim_error_header);

#endif
