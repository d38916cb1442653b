/* Sans-I/O HTTP/1.1 request parser: request line + header block (RFC 9112 §2-§6).
 *
 * Every byte goes through the same checks, so the result never depends on how the input was
 * split: runs of ordinary bytes are copied at once (the caps checked for the whole run), CR and
 * LF go through one switch.
 * Bytes are copied into p->blk (allocated once, max_header_bytes + 1) and a line is parsed in
 * place when its LF arrives: separators are overwritten with NULs so that the request and header
 * strings point straight into the block. The block itself can never grow past the limits.
 *
 * Strictness, chosen as a request-smuggling defence (a proxy in front of us might frame the
 * message differently): no obs-fold, no whitespace before the colon, no CTLs in values, a lone
 * CR is an error, Content-Length must be plain digits, Transfer-Encoding must be exactly
 * "chunked" and never comes with Content-Length or in an HTTP/1.0 request. */
#include "http/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_REQLINE,    /* collecting the request line (or skipping leading empty lines) */
    ST_REQLINE_CR, /* CR seen on the request line, LF must follow */
    ST_HEADER,     /* collecting a header line (or the final empty line) */
    ST_HEADER_CR,  /* CR seen on a header line, LF must follow */
    ST_DONE,
    ST_ERROR,
};

/* tchar from RFC 9110 §5.6.2. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool ascii_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x == y) {
            if (!x)
                return true;
        } else if (ascii_lower(x) != ascii_lower(y)) {
            return false; /* also when one string ends first: NUL lowers to itself */
        }
    }
}

static bool ascii_ieq_n(const char *a, size_t n, const char *b)
{
    for (size_t i = 0; i < n; i++, b++)
        if (!*b || ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)*b))
            return false;
    return *b == '\0';
}

static ssize_t fail(struct http_parser *p, int status)
{
    p->state = ST_ERROR;
    p->pstate = HTTP_PARSER_ERROR;
    p->error_status = status;
    return -1;
}

int http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = *lim;
    if (p->lim.max_headers > HTTP_MAX_HEADERS_HARD)
        p->lim.max_headers = HTTP_MAX_HEADERS_HARD;
    size_t sz = (size_t)p->lim.max_header_bytes + 1;
    if (sz == 0) /* 32-bit size_t and max_header_bytes == UINT32_MAX */
        return -ENOMEM;
    p->blk = malloc(sz);
    if (!p->blk)
        return -ENOMEM;
    http_parser_reset(p);
    return 0;
}

void http_parser_reset(struct http_parser *p)
{
    p->state = ST_REQLINE;
    p->pstate = HTTP_PARSER_HEADERS;
    p->error_status = 0;
    p->blk_len = 0;
    p->line_start = 0;
    memset(&p->req, 0, sizeof p->req);
    p->req.content_length = -1;
}

void http_parser_free(struct http_parser *p)
{
    free(p->blk);
    p->blk = NULL;
    p->blk_len = 0;
    p->line_start = 0;
    p->state = ST_ERROR;
    p->pstate = HTTP_PARSER_ERROR;
}

/* "METHOD SP target SP HTTP/d.d" in s[0, n). Returns 0 or an HTTP status. */
static int parse_request_line(struct http_parser *p, char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ' ')
        return 400;
    s[i++] = '\0';
    const char *method = s;

    size_t t = i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (i == t || i == n || s[i] != ' ')
        return 400;
    s[i++] = '\0';
    const char *target = s + t;

    const char *v = s + i;
    if (n - i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1' || v[7] > '1')
        return 505;
    s[n] = '\0';
    p->req.method = method;
    p->req.target = target;
    p->req.version_minor = v[7] - '0';
    return 0;
}

/* "name: value" in s[0, n), n > 0. Returns 0 or an HTTP status. */
static int parse_header_line(struct http_parser *p, char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    /* Leading whitespace is obs-fold (or a smuggling attempt); whitespace before the colon,
     * a missing colon or a non-token name are all syntax errors. */
    if (i == 0 || i == n || s[i] != ':')
        return 400;
    s[i] = '\0';
    size_t b = i + 1, e = n;
    while (b < e && is_ows((unsigned char)s[b]))
        b++;
    while (e > b && is_ows((unsigned char)s[e - 1]))
        e--;
    for (size_t k = b; k < e; k++) {
        unsigned char c = (unsigned char)s[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    if (p->req.nheaders >= p->lim.max_headers)
        return 431;
    s[e] = '\0';
    p->req.headers[p->req.nheaders].name = s;
    p->req.headers[p->req.nheaders].value = s + b;
    p->req.nheaders++;
    return 0;
}

/* Body framing from the complete header block (RFC 9112 §6.1-§6.3). 0 or an HTTP status. */
static int derive_framing(struct http_parser *p)
{
    struct http_request *r = &p->req;
    bool have_cl = false, have_te = false, te_ok = true;
    int64_t cl = -1;
    for (unsigned h = 0; h < r->nheaders; h++) {
        const char *name = r->headers[h].name, *val = r->headers[h].value;
        if (ascii_ieq(name, "Content-Length")) {
            if (!*val)
                return 400;
            int64_t v = 0;
            for (const char *c = val; *c; c++) {
                if (*c < '0' || *c > '9')
                    return 400;
                int d = *c - '0';
                if (v > (INT64_MAX - d) / 10)
                    return 400;
                v = v * 10 + d;
            }
            if (have_cl && v != cl)
                return 400;
            have_cl = true;
            cl = v;
        } else if (ascii_ieq(name, "Transfer-Encoding")) {
            /* A second header is "chunked, chunked" once combined: not exactly "chunked". */
            if (have_te || !ascii_ieq(val, "chunked"))
                te_ok = false;
            have_te = true;
        }
    }
    if (have_te && have_cl)
        return 400;
    if (have_te && r->version_minor == 0)
        return 400; /* RFC 9112 §6.1: faulty framing in HTTP/1.0 */
    if (have_te && !te_ok)
        return 501;
    r->content_length = have_cl ? cl : -1;
    r->chunked = have_te;
    return 0;
}

/* Called with the line [line_start, end) complete (end = index of its CR or LF).
 * Returns 0 to go on, 1 when the header block is complete, or an HTTP status. */
static int end_of_line(struct http_parser *p, uint32_t end)
{
    char *s = p->blk + p->line_start;
    size_t n = end - p->line_start;
    int r = 0;
    if (p->state == ST_REQLINE || p->state == ST_REQLINE_CR) {
        /* RFC 9112 §2.2: empty lines before the request line are ignored; they still count
         * toward max_header_bytes. */
        if (n > 0) {
            r = parse_request_line(p, s, n);
            if (r == 0)
                p->state = ST_HEADER;
        } else {
            p->state = ST_REQLINE;
        }
    } else if (n == 0) {
        r = derive_framing(p);
        if (r == 0)
            r = 1;
    } else {
        r = parse_header_line(p, s, n);
        p->state = ST_HEADER;
    }
    p->line_start = p->blk_len;
    return r;
}

ssize_t http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len)
{
    if (p->state == ST_DONE || p->state == ST_ERROR || !p->blk)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p->state == ST_REQLINE || p->state == ST_HEADER) {
            /* Fast path: copy the run of ordinary bytes up to the next CR or LF at once, with
             * the same caps the per-byte checks below apply, in the same order: byte k of the
             * run would fail the line cap first (414/431) when k >= room_line, else the block
             * cap (431) when k >= room_blk. The CR or LF itself goes through the switch. */
            const uint8_t *lf = memchr(data + i, '\n', len - i);
            size_t run = lf ? (size_t)(lf - (data + i)) : len - i;
            const uint8_t *cr = memchr(data + i, '\r', run);
            if (cr)
                run = (size_t)(cr - (data + i));
            if (run > 0) {
                bool reqline = p->state == ST_REQLINE;
                uint32_t line_cap = reqline ? p->lim.max_request_line : p->lim.max_header_line;
                uint32_t cur = p->blk_len - p->line_start;
                uint64_t room_line = cur < line_cap ? (uint64_t)line_cap - cur : 0;
                uint64_t room_blk = p->blk_len < p->lim.max_header_bytes
                                        ? (uint64_t)p->lim.max_header_bytes - p->blk_len
                                        : 0;
                if (run > room_line && room_line <= room_blk)
                    return fail(p, reqline ? 414 : 431);
                if (run > room_blk)
                    return fail(p, 431);
                memcpy(p->blk + p->blk_len, data + i, run);
                p->blk_len += (uint32_t)run;
                i += run;
                if (i == len)
                    break;
            }
        }
        unsigned char c = data[i];
        bool reqline = p->state == ST_REQLINE || p->state == ST_REQLINE_CR;
        bool after_cr = p->state == ST_REQLINE_CR || p->state == ST_HEADER_CR;
        if (after_cr && c != '\n')
            return fail(p, 400); /* a lone CR */
        if (c != '\r' && c != '\n') {
            uint32_t line_len = p->blk_len - p->line_start + 1;
            if (reqline && line_len > p->lim.max_request_line)
                return fail(p, 414);
            if (!reqline && line_len > p->lim.max_header_line)
                return fail(p, 431);
        }
        if (p->blk_len >= p->lim.max_header_bytes)
            return fail(p, 431);
        p->blk[p->blk_len++] = (char)c;
        if (c == '\r') {
            p->state = reqline ? ST_REQLINE_CR : ST_HEADER_CR;
        } else if (c == '\n') {
            int r = end_of_line(p, p->blk_len - 1 - (after_cr ? 1 : 0));
            if (r == 1) {
                p->state = ST_DONE;
                p->pstate = HTTP_PARSER_DONE;
                return (ssize_t)(i + 1);
            }
            if (r != 0)
                return fail(p, r);
        }
    }
    return (ssize_t)len;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->nheaders; i++)
        if (ascii_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

bool http_header_has_token(const char *value, const char *token)
{
    if (!value || !token)
        return false;
    const char *s = value;
    for (;;) {
        while (*s == ',' || is_ows((unsigned char)*s))
            s++;
        if (!*s)
            return false;
        const char *b = s;
        while (*s && *s != ',')
            s++;
        const char *e = s;
        while (e > b && is_ows((unsigned char)e[-1]))
            e--;
        if (ascii_ieq_n(b, (size_t)(e - b), token))
            return true;
    }
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}
