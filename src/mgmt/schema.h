/* The RD Gateway WMI schema (TSGateway.mof), once, for everything that shows it: the admin
 * socket, tsgwctl (table, JSON, `tsgwctl mof`) and the CIM-XML endpoint.
 *
 * Names, types and key qualifiers are those of the Windows provider (namespace
 * root\cimv2\TerminalServices); units and formats are documented per property. Instances are
 * carried as text in the CIM value syntax (decimal numbers, TRUE/FALSE, strings as is). */
#ifndef TSGW_MGMT_SCHEMA_H
#define TSGW_MGMT_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIM_NAMESPACE "root/cimv2/TerminalServices"

enum cim_type { CIM_STRING, CIM_BOOLEAN, CIM_UINT8, CIM_UINT16, CIM_UINT32, CIM_UINT64 };

struct cim_property {
    const char *name;
    int type; /* enum cim_type */
    bool key;
    const char *doc;
};

struct cim_param {
    const char *name;
    int type;
    bool out; /* [out] parameter */
};

struct cim_method {
    const char *name;
    int return_type;
    const struct cim_param *params;
    size_t nparams;
    bool on_class; /* may be called on the class path (not only on an instance) */
    const char *doc;
};

struct cim_class {
    const char *name;
    const char *doc;
    const struct cim_property *props;
    size_t nprops;
    const struct cim_method *methods;
    size_t nmethods;
};

/* A method argument, as the admin socket and CIM-XML both hand it to the provider. */
struct cim_arg {
    const char *name;
    const char *value; /* NULL = given without a value (or not given) */
};

#define CIM_MAX_PROPS 40

/* One instance: values[i] belongs to cls->props[i]; NULL = no value (NULL in CIM). */
struct cim_instance {
    const struct cim_class *cls;
    char *values[CIM_MAX_PROPS];
};

extern const struct cim_class *const cim_classes[];
extern const size_t cim_nclasses;

/* Case-insensitive lookups; NULL when absent. */
const struct cim_class *cim_find_class(const char *name);
int cim_find_property(const struct cim_class *c, const char *name); /* index or -1 */
const struct cim_method *cim_find_method(const struct cim_class *c, const char *name);

const char *cim_type_name(int type); /* "string", "uint32", ... */

/* The key property's index (every class here has exactly one key). */
int cim_key_index(const struct cim_class *c);

/* Sets values[i] to a copy of text (NULL clears). 0 or -ENOMEM. */
int cim_set(struct cim_instance *in, int i, const char *text);
int cim_setf(struct cim_instance *in, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cim_instance_clear(struct cim_instance *in);

/* WMI DATETIME text "yyyymmddHHMMSS.mmmmmmsUUU" for a wall-clock time (local time, with the
 * offset from UTC in minutes). out must hold 26 bytes. */
void cim_format_datetime(uint64_t unix_us, char out[26]);
/* WMI interval text "ddddddddHHMMSS.mmmmmm:000" for a duration. out must hold 26 bytes. */
void cim_format_interval(uint64_t us, char out[26]);

/* Writes the whole schema as MOF text. */
struct buf;
int cim_write_mof(struct buf *b);

/* WMI return codes (Wbemcli.h) used by the methods. */
#define WBEM_S_NO_ERROR 0u
#define WBEM_E_FAILED 2147749889u
#define WBEM_E_NOT_FOUND 2147749890u
#define WBEM_E_ACCESS_DENIED 2147749891u
#define WBEM_E_INVALID_PARAMETER 2147749896u
#define WBEM_E_NOT_SUPPORTED 2147749900u
#define WBEM_E_INVALID_CLASS 2147749904u
#define WBEM_E_TRANSPORT_FAILURE 2147749909u /* tsgw: farm unreachable (docs/farm.md) */
#define WBEM_E_INVALID_METHOD 2147749934u
#define WBEM_E_INVALID_METHOD_PARAMETERS 2147749935u
#define WBEM_E_INVALID_OBJECT_PATH 2147749946u

/* "WBEM_E_NOT_FOUND" for 2147749890, "WBEM_S_NO_ERROR" for 0, NULL if unknown. */
const char *wbem_code_name(uint32_t code);

#endif
