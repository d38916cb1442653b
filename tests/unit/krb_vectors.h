/* Certificates for the tls-server-end-point tests (test_krb.c), generated with openssl req
 * -x509 (P-256/SHA-256, P-256/SHA-1, P-384/SHA-384, Ed25519); the expected hashes are
 * openssl x509 -fingerprint of the same files (SHA-256 for the SHA-1 one, RFC 5929 4.1). */
static const char cert_sha256[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBbzCCARWgAwIBAgIUOE0Pw2BzwQ3UxMw8CJvYvFK4QvwwCgYIKoZIzj0EAwIw\n"
    "DDEKMAgGA1UEAwwBYTAgFw0yNjEyMDYxNDE2MjNaGA8yMTI2MTExMjE0MTYyM1ow\n"
    "DDEKMAgGA1UEAwwBYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPMp3MXpljUp\n"
    "PDM4GjjBl1hfXsBUQPmDL1nOcW6Rfc38kIpQ4YggtulKo1077TS6WiHh4irFS90y\n"
    "yBhKMusojq6jUzBRMB0GA1UdDgQWBBQ23jj+0I9VVS0m/TUej3pHGmP7GjAfBgNV\n"
    "HSMEGDAWgBQ23jj+0I9VVS0m/TUej3pHGmP7GjAPBgNVHRMBAf8EBTADAQH/MAoG\n"
    "CCqGSM49BAMCA0gAMEUCIFgXGC0wmIpg1ZfmNl7R9DWGaYY5cExb4D1W38wm5qkz\n"
    "AiEA0kBY0HechFTPJE34cHFTzXguGAngIPJXVkV45BZY7TQ=\n"
    "-----END CERTIFICATE-----\n";

static const char cert_sha256_hash[] =
    "077cf0017266baa0b8cabc3bb004f3edada4eb0cb46276ce9483707324b46af0";

static const char cert_sha1[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBbTCCARSgAwIBAgIUCfJvhPUuQPYGFkVxGuV+P/idxrUwCQYHKoZIzj0EATAM\n"
                                "MQowCAYDVQQDDAFiMCAXDTI2MTIwNjE0MTYyM1oYDzIxMjYxMTEyMTQxNjIzWjAM\n"
                                "MQowCAYDVQQDDAFiMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECXGAd/+t4Hsh\n"
                                "nteYDUJafgGZE0lMPXo6rbTVrFflRlW1jtTMjjnhabFya1nvNat8mZsmlr3MVJYe\n"
                                "eak9sV0COKNTMFEwHQYDVR0OBBYEFOkW8QIQwHCnBe3TGMWRRVEGbPn7MB8GA1Ud\n"
                                "IwQYMBaAFOkW8QIQwHCnBe3TGMWRRVEGbPn7MA8GA1UdEwEB/wQFMAMBAf8wCQYH\n"
                                "KoZIzj0EAQNIADBFAiArq7ipM7/g1Pi6AcMhVxnQQ2zhXh5WTdif8rnUGfQ18wIh\n"
                                "AO8IeuCtj3WIbYO+iNK9HmDurlYq2YHTJ+8LXEjaw0L2\n"
                                "-----END CERTIFICATE-----\n";

static const char cert_sha1_hash[] =
    "04678d55105be7859f69262afed717394ae459379246743efc516a90d40d2a0e";

static const char cert_sha384[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBqzCCATKgAwIBAgIUTa9BvBqEqh2fitmhE3cIV40NM0gwCgYIKoZIzj0EAwMw\n"
    "DDEKMAgGA1UEAwwBYzAgFw0yNjEyMDYxNDE2MjNaGA8yMTI2MTExMjE0MTYyM1ow\n"
    "DDEKMAgGA1UEAwwBYzB2MBAGByqGSM49AgEGBSuBBAAiA2IABPuDg06M/luRQEXx\n"
    "BIOjRYRalVmH3ydVazRegN8aQuD8kMWB7+NibMn/vxRDnlmBy32OyeMhGodknTe3\n"
    "Mvdxs/9Q9593bnrgHl4vuPfa21H77IEQkupOKsm09c0CfuJnHKNTMFEwHQYDVR0O\n"
    "BBYEFGuNuw5VNcVmvxaSlreFxQ2oe0ejMB8GA1UdIwQYMBaAFGuNuw5VNcVmvxaS\n"
    "lreFxQ2oe0ejMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwMDZwAwZAIwDgnY\n"
    "THOQXupW2J8mkNu9fHTnNDILV36XiBPE6CuZ0fu4YWHydsdz6+UD8lOsDGnwAjBS\n"
    "i38JcJwKXqt/S3cDWlvM1gimVkDK+9CMl3FzLAMN1joFxpfeCs5G7g1hjyB0/Yw=\n"
    "-----END CERTIFICATE-----\n";

static const char cert_sha384_hash[] = "9cecff88cbfd47a069fab0a817dd71ba5f2b9d1d1e54fc358e6ad1f110f"
                                       "39439a04262100910e8f0b8f8a4176867a816";

static const char cert_ed25519[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBLjCB4aADAgECAhRMg0q3QDc+F72igT0Kjqrr42/lCjAFBgMrZXAwDDEKMAgG\n"
    "A1UEAwwBZDAgFw0yNjEyMDYxNDE2MjNaGA8yMTI2MTExMjE0MTYyM1owDDEKMAgG\n"
    "A1UEAwwBZDAqMAUGAytlcAMhAG3JnQAi47FyrVaHeVuIqbcvYM+OmXb2/knU+y2j\n"
    "YUdHo1MwUTAdBgNVHQ4EFgQU4dX9PJpL/1FdIr9HfCzHdCsAaNcwHwYDVR0jBBgw\n"
    "FoAU4dX9PJpL/1FdIr9HfCzHdCsAaNcwDwYDVR0TAQH/BAUwAwEB/zAFBgMrZXAD\n"
    "QQAW0+MwHZ9KeqgcyWgCYJxRvqCU5HrfSo04edzlXopAxPii6ZYSSqJ4XRDr6zwA\n"
    "rLOIJQNwVHJRBcAA2n6QGFIO\n"
    "-----END CERTIFICATE-----\n";
