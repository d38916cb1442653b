/* Small helpers shared by every module: clocks, bounded string copies, case-insensitive compare. */
#ifndef TSGW_CORE_UTIL_H
#define TSGW_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

/* Wall clock in microseconds since the Unix epoch. */
uint64_t now_realtime_us(void);

/* Copies at most dsz-1 bytes and NUL-terminates. Returns strlen(src) (truncation if >= dsz). */
size_t str_copy(char *dst, const char *src, size_t dsz);

/* ASCII case-insensitive equality. */
bool str_ieq(const char *a, const char *b);

/* Trims leading and trailing whitespace in place; returns the start. */
char *str_trim(char *s);

/* Parses an unsigned decimal in [min, max]. 0 or -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Formats an address as text without port ("127.0.0.1", "::1"). */
void sockaddr_to_str(const struct sockaddr *sa, char *out, size_t outsz);

/* Parses "host:port" or "[v6]:port" into a sockaddr (numeric host only). 0 or -EINVAL. */
int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Base64 (standard alphabet, padded). Encode returns output length; decode returns decoded
 * length or -1 for invalid input or when it would exceed outsz. */
size_t base64_encode(const uint8_t *in, size_t len, char *out, size_t outsz);
int base64_decode(const char *in, size_t len, uint8_t *out, size_t outsz);

/* Lower-case hex of len bytes into out (2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly 2*len hex digits. 0 or -1. */
int hex_decode(const char *in, uint8_t *out, size_t len);

#endif
