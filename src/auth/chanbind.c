/* RFC 5929 tls-server-end-point (see chanbind.h). */
#include "auth/chanbind.h"

#include <limits.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

int chanbind_cert_hash(const uint8_t *der, size_t len, uint8_t h[CHANBIND_HASH_MAX],
                       uint8_t sha256[32])
{
    if (!der || !h || len == 0 || len > (size_t)LONG_MAX)
        return -1;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int rc = -1;
    if (!x || p != der + len)
        goto out;
    int mdnid = NID_undef, pknid = NID_undef;
    if (!X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL))
        goto out;
    if (mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_md5_sha1)
        mdnid = NID_sha256;
    const EVP_MD *md = mdnid == NID_undef ? NULL : EVP_get_digestbynid(mdnid);
    unsigned hl = 0, sl = 0;
    if (!md || EVP_MD_get_size(md) > CHANBIND_HASH_MAX || !X509_digest(x, md, h, &hl))
        goto out;
    if (sha256 && !X509_digest(x, EVP_sha256(), sha256, &sl))
        goto out;
    rc = (int)hl;
out:
    X509_free(x);
    return rc;
}
