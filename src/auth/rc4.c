/* RC4 stream cipher, local implementation (OpenSSL 3 keeps RC4 in the legacy provider).
 * NTLM uses it once per logon, to decrypt the 16-byte EncryptedRandomSessionKey (KEY_EXCH). */
#include "auth/ntlm.h"

#include <openssl/crypto.h>

void ntlm_rc4_keylen(const uint8_t *key, size_t keylen, uint8_t *data, size_t len)
{
    uint8_t s[256];
    if (keylen == 0)
        return;
    for (unsigned i = 0; i < 256; i++)
        s[i] = (uint8_t)i;
    /* Key schedule. */
    uint8_t j = 0;
    size_t k = 0; /* i % keylen, without a division per byte */
    for (unsigned i = 0; i < 256; i++) {
        j = (uint8_t)(j + s[i] + key[k]);
        if (++k == keylen)
            k = 0;
        uint8_t t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
    /* Keystream XORed over the data. */
    uint8_t a = 0, b = 0;
    for (size_t n = 0; n < len; n++) {
        a = (uint8_t)(a + 1);
        b = (uint8_t)(b + s[a]);
        uint8_t t = s[a];
        s[a] = s[b];
        s[b] = t;
        data[n] ^= s[(uint8_t)(s[a] + s[b])];
    }
    OPENSSL_cleanse(s, sizeof s);
}

void ntlm_rc4(const uint8_t key[16], uint8_t *data, size_t len)
{
    ntlm_rc4_keylen(key, 16, data, len);
}
