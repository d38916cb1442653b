/* UTF-16LE <-> UTF-8 conversion for wire strings (NTLM, MS-TSGU). */
#ifndef TSGW_CORE_UTF16_H
#define TSGW_CORE_UTF16_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Converts len bytes of UTF-16LE (len must be even) to NUL-terminated UTF-8 in out[outsz].
 * A single trailing U+0000 is dropped; any other U+0000, an unpaired surrogate or an output that
 * does not fit is an error. Returns the UTF-8 length or -EINVAL / -ENOSPC. */
int utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t outsz);

/* Appends UTF-16LE of the UTF-8 string s (no terminator). Invalid UTF-8 is -EINVAL. */
int utf8_to_utf16le(struct buf *b, const char *s);

/* Upper-cases UTF-16LE code units in place with the simple invariant mapping Windows uses for
 * NTLM (ASCII and Latin-1 letters; no locale, no length-changing mappings). */
void utf16le_upper(uint8_t *p, size_t len);

#endif
