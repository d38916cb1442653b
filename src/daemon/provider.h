/* The WMI provider: instances of the schema classes built from live state (registry) and from
 * the configuration, and the methods. Used by the admin socket and the CIM-XML endpoint. */
#ifndef TSGW_DAEMON_PROVIDER_H
#define TSGW_DAEMON_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "mgmt/schema.h"

struct gateway;

/* Calls fn once per instance of c (stops early when fn returns non-zero). Returns 0. */
int provider_enumerate(struct gateway *gw, const struct cim_class *c,
                       int (*fn)(const struct cim_instance *in, void *ctx), void *ctx);

/* Fills out (caller clears it) with the instance whose key is key. 0 or WBEM_E_NOT_FOUND. */
uint32_t provider_get(struct gateway *gw, const struct cim_class *c, const char *key,
                      struct cim_instance *out);

/* Invokes method on the class (key == NULL) or on the instance with that key.
 * Returns 0 and the method's ReturnValue in *ret, or a WMI error for the call itself
 * (WBEM_E_INVALID_METHOD: no such method; WBEM_E_INVALID_OBJECT_PATH: an instance method called
 * on the class, or the reverse). */
uint32_t provider_invoke(struct gateway *gw, const struct cim_class *c, const char *method,
                         const char *key, const struct cim_arg *args, size_t nargs, uint32_t *ret);

#endif
