/* Admin socket wire format, shared by tsgwd and tsgwctl (version 1).
 *
 * Request: one line, fields separated by TAB, at most MGMT_MAX_REQUEST bytes:
 *     TSGW/1 <TAB> verb <TAB> arg ... <LF>
 * Response: a status line, then body lines; the server closes the connection after it:
 *     TSGW/1 <TAB> status <TAB> message <LF>
 *     field <TAB> field ... <LF>
 * status is 0 or a WMI code (e.g. 2147749891 WBEM_E_ACCESS_DENIED). Inside a field, '\' escapes
 * TAB (\t), LF (\n), CR (\r) and itself (\\); a field that is exactly \N is a NULL value.
 * Verbs: enumerate CLASS | get CLASS KEY | invoke CLASS METHOD KEY-or-empty [NAME=VALUE ...].
 * enumerate/get bodies: the property names, then one line per instance. invoke bodies:
 * "ReturnValue <TAB> n", then one "name <TAB> value" line per out parameter. */
#ifndef TSGW_MGMT_PROTO_H
#define TSGW_MGMT_PROTO_H

#include <stddef.h>

#include "core/buf.h"

#define MGMT_MAGIC "TSGW/1"
#define MGMT_MAX_REQUEST 8192
#define MGMT_MAX_FIELDS 64
#define MGMT_MAX_RESPONSE (64u << 20) /* what tsgwctl accepts */

/* Appends s escaped (NULL -> \N). 0 or negative errno. */
int mgmt_put_field(struct buf *b, const char *s);

/* Splits a NUL-terminated line (without its LF) in place at TABs and unescapes each field.
 * NULL-valued fields (\N) come back as NULL pointers. Returns the field count, or -1 for a bad
 * escape or more than max fields. */
int mgmt_split(char *line, char **fields, int max);

#endif
