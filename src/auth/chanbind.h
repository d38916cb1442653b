/* RFC 5929 tls-server-end-point channel bindings: the one place that decides which hash of the
 * gateway's certificate a client binds to. NTLM (MsvAvChannelBindings, auth/ntlm.c) and Kerberos
 * (GSS channel bindings, auth/krb.c) build their own encodings from it. Pure. */
#ifndef TSGW_AUTH_CHANBIND_H
#define TSGW_AUTH_CHANBIND_H

#include <stddef.h>
#include <stdint.h>

#define CHANBIND_HASH_MAX 64 /* EVP_MAX_MD_SIZE */
#define CHANBIND_PREFIX "tls-server-end-point:"

/* The certificate's (DER, exactly len bytes) hash with the hash of its signature algorithm, MD5
 * and SHA-1 replaced by SHA-256 (RFC 5929 4.1), into h. sha256, when not NULL, gets the
 * certificate's SHA-256 whatever its signature (what FreeRDP 2.x binds to). Returns the hash's
 * length, or -1: unparsable certificate, trailing bytes, or a signature without a separate hash
 * (Ed25519, Ed448), for which RFC 5929 defines no value. */
int chanbind_cert_hash(const uint8_t *der, size_t len, uint8_t h[CHANBIND_HASH_MAX],
                       uint8_t sha256[32]);

#endif
