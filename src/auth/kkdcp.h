/* MS-KKDCP (Kerberos KDC proxy) messages: KDC-PROXY-MESSAGE, DER.
 *
 *     KDC-PROXY-MESSAGE ::= SEQUENCE {
 *         kerb-message   [0] OCTET STRING,     -- the Kerberos message with its TCP framing:
 *                                              -- 4-byte big-endian length, then the message
 *         target-domain  [1] KERB-REALM OPTIONAL,   -- GeneralString
 *         dclocator-hint [2] INTEGER OPTIONAL }
 *
 * Pure functions over bytes (no I/O), every length checked against the input and against
 * KKDCP_MAX_MESSAGE. See docs/kdc-proxy.md. */
#ifndef TSGW_AUTH_KKDCP_H
#define TSGW_AUTH_KKDCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KKDCP_MAX_MESSAGE 65536 /* largest kerb-message (framing included) */
#define KKDCP_REALM_MAX 256

enum kkdcp_status {
    KKDCP_OK = 0,
    KKDCP_ERR_DER = -1,     /* not DER of the structure above (bad tag/length, trailing bytes) */
    KKDCP_ERR_FRAMING = -2, /* kerb-message's 4-byte length does not match its contents */
    KKDCP_ERR_TOO_BIG = -3, /* over the caller's cap */
    KKDCP_ERR_REALM = -4,   /* target-domain missing, too long or not printable */
};

struct kkdcp_request {
    const uint8_t *kerb;         /* kerb-message, framing included (points into the input) */
    size_t kerb_len;             /* 4 + the message's length */
    char realm[KKDCP_REALM_MAX]; /* target-domain ("" when absent) */
    bool has_hint;
    int64_t hint;
};

/* Decodes a KDC-PROXY-MESSAGE of len bytes; max caps kerb_len (<= KKDCP_MAX_MESSAGE).
 * Returns KKDCP_OK or a negative kkdcp_status. */
int kkdcp_decode(const uint8_t *p, size_t len, size_t max, struct kkdcp_request *out);

/* Appends KDC-PROXY-MESSAGE { kerb-message = reply } to out; reply is the KDC's TCP answer with
 * its 4-byte length. Returns 0, or -1 (framing wrong, too big, out of memory). */
int kkdcp_encode_reply(const uint8_t *reply, size_t len, struct buf *out);

/* For a TCP reply being read: the total length (4 + n) its first four bytes announce. */
size_t kkdcp_framed_len(const uint8_t hdr[4]);

const char *kkdcp_strerror(int status);

#endif
