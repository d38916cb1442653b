/* httpd: a small plain-HTTP/1.1 listener on the gateway's event loop, for local endpoints
 * (/metrics; reusable by other endpoints such as a console).
 *
 * One request per connection: the request's header block is read (bounded by the limits below,
 * parsed by http/http.h), the handler fills a response, the response is written with
 * Content-Length and "Connection: close", then the connection closes. Request bodies are not
 * read (a request announcing one gets 413). A connection that does not finish within
 * HTTPD_TIMEOUT_MS is closed by httpd_sweep; at most HTTPD_MAX_CONNS at once (more are closed at
 * accept). The handler runs on the loop thread and must not block.
 *
 *     static void h(void *arg, const struct httpd_request *rq, struct httpd_response *rs) {
 *         if (strcmp(rq->path, "/metrics")) { rs->status = 404; return; }
 *         rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
 *         buf_append_str(&rs->body, "...");
 *     }
 *     struct httpd d;
 *     httpd_start(&d, &loop, "127.0.0.1:9477", h, arg, err, sizeof err);
 *     ... httpd_sweep(&d, now_ms()) periodically ... httpd_stop(&d); */
#ifndef TSGW_NET_HTTPD_H
#define TSGW_NET_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/http.h"
#include "net/loop.h"

#define HTTPD_MAX_CONNS 32
#define HTTPD_TIMEOUT_MS 10000
#define HTTPD_MAX_HEADER_BYTES 8192

struct httpd_request {
    const char *method;             /* "GET", "HEAD", ... */
    const char *path;               /* request target without the query */
    const char *query;              /* after '?', or "" */
    const char *peer;               /* client address, "ADDR:PORT" */
    const struct http_request *raw; /* every header (http_request_header) */
};

struct httpd_response {
    int status;                /* default 200 */
    const char *content_type;  /* default text/plain; charset=utf-8 */
    const char *extra_headers; /* whole lines with CRLF, or NULL */
    struct buf body;
};

typedef void (*httpd_handler)(void *arg, const struct httpd_request *rq, struct httpd_response *rs);

struct httpd_conn;
struct httpd {
    struct io io;
    struct loop *loop;
    httpd_handler handler;
    void *arg;
    char addr[128];
    struct httpd_conn *conns;
    unsigned nconns;
    uint64_t requests; /* answered so far */
};

/* Listens on addr ("ADDRESS:PORT", numeric). 0, or -1 with a message in err. */
int httpd_start(struct httpd *d, struct loop *loop, const char *addr, httpd_handler h, void *arg,
                char *err, size_t errsz);
/* Closes connections past their deadline. */
void httpd_sweep(struct httpd *d, uint64_t now_ms);
/* Closes the listener and every connection. Safe on a never-started (zeroed) httpd. */
void httpd_stop(struct httpd *d);

#endif
