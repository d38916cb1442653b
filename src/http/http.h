/* Sans-I/O HTTP/1.1 request parser (request line + header block) and chunked body decoder.
 *
 * The parser never touches a socket: the caller feeds whatever bytes it has, in pieces of any
 * size (one byte at a time is valid), and the parser says how many it consumed. The header block
 * is copied into an internal buffer bounded by the limits, so a peer can never make it grow past
 * max_header_bytes. Bytes after the blank line ending the header block are NOT consumed: they
 * belong to the body (or to the next protocol, e.g. WebSocket frames). */
#ifndef TSGW_HTTP_H
#define TSGW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define HTTP_MAX_HEADERS_HARD 128

struct http_limits {
    uint32_t max_request_line; /* bytes of "METHOD target HTTP/1.x" without CRLF; over -> 414 */
    uint32_t max_header_line;  /* bytes of one header line without CRLF; over -> 431 */
    uint32_t max_headers;      /* header count (<= HTTP_MAX_HEADERS_HARD); over -> 431 */
    uint32_t max_header_bytes; /* whole block incl. request line and CRLFs; over -> 431 */
};

struct http_header {
    const char *name;  /* NUL-terminated, as sent (case preserved) */
    const char *value; /* NUL-terminated, leading/trailing SP/HTAB stripped */
};

/* A parsed request. All strings point into the parser's block and stay valid until the next
 * http_parser_reset() / http_parser_free(). */
struct http_request {
    const char *method; /* token, case-sensitive as sent, e.g. "RDG_OUT_DATA" */
    const char *target; /* request-target as sent, e.g. "/remoteDesktopGateway/" */
    int version_minor;  /* 0 or 1 (HTTP/1.0 or HTTP/1.1) */
    unsigned nheaders;
    struct http_header headers[HTTP_MAX_HEADERS_HARD];
    /* Body framing derived from the headers: */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked (the only coding accepted) */
};

enum http_parser_state_public { HTTP_PARSER_HEADERS, HTTP_PARSER_DONE, HTTP_PARSER_ERROR };

struct http_parser {
    struct http_limits lim;
    int state;        /* internal */
    int pstate;       /* public: enum http_parser_state_public */
    int error_status; /* HTTP status to answer with when pstate == HTTP_PARSER_ERROR */
    char *blk;        /* copy of the header block; NUL-separated after parsing */
    uint32_t blk_len;
    uint32_t line_start;
    struct http_request req;
};

/* Initialises the parser with copies of the limits. Returns 0 or -ENOMEM. */
int http_parser_init(struct http_parser *p, const struct http_limits *lim);

/* Forgets the current request and gets ready for the next one on the same connection. */
void http_parser_reset(struct http_parser *p);

void http_parser_free(struct http_parser *p);

/* Feeds len bytes. Returns how many were consumed (0..len), and:
 *  - when the header block is complete: p->pstate = HTTP_PARSER_DONE and p->req is filled;
 *    bytes after the final CRLF are left unconsumed;
 *  - on a malformed or over-limit request: returns -1, p->pstate = HTTP_PARSER_ERROR and
 *    p->error_status = 400 (syntax, bad Content-Length, both Content-Length and
 *    Transfer-Encoding, duplicate differing Content-Length, obs-fold, NUL/CTL bytes),
 *    414 (request line too long), 431 (header line/count/total too large),
 *    501 (Transfer-Encoding other than exactly "chunked"), 505 (not HTTP/1.0 or HTTP/1.1).
 * Bare LF line endings are accepted; a lone CR is not. Header names are tokens; a space before
 * the colon is a 400 (request smuggling defence). Feeding after DONE/ERROR returns 0. */
ssize_t http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len);

/* First header with this name (ASCII case-insensitive), or NULL. */
/* The reason phrase for a status code (RFC 9110), "Error" for one tsgw never sends. */
const char *http_status_text(int status);

const char *http_request_header(const struct http_request *req, const char *name);

/* True if the comma-separated header value list contains token (case-insensitive),
 * e.g. http_header_has_token("keep-alive, Upgrade", "upgrade"). */
bool http_header_has_token(const char *value, const char *token);

/* ---- chunked transfer-coding decoder (RFC 9112 §7.1) ---- */

struct http_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    uint32_t max_chunk; /* largest chunk size accepted */
    uint32_t line_len;  /* bytes seen on the current size/trailer line */
    uint32_t ndigits;
};

void http_chunked_init(struct http_chunked *c, uint32_t max_chunk);

/* Decodes up to len bytes of chunked body. Chunk payload bytes are appended to out.
 * Returns bytes consumed (>= 0); sets *done when the last chunk and trailer section are complete
 * (bytes after that are not consumed). Returns a negative errno on malformed input (-EINVAL),
 * a chunk larger than max_chunk or a size line / trailer line over 4096 bytes (-E2BIG), or
 * when out cannot grow (-ENOBUFS, from buf_append). Hex in either case, chunk extensions and
 * trailers are accepted and ignored. Byte-at-a-time safe. */
ssize_t http_chunked_feed(struct http_chunked *c, const uint8_t *in, size_t len, struct buf *out,
                          bool *done);

#endif
