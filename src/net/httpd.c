/* A small plain-HTTP/1.1 listener (net/httpd.h). */
#include "net/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

struct httpd_conn {
    struct io io; /* first: the callback gets &io */
    struct httpd *d;
    struct http_parser hp;
    struct buf out;
    char peer[64];
    uint64_t deadline_ms;
    bool responded;
    struct httpd_conn *next;
};

static const struct http_limits lim = {
    .max_request_line = 2048,
    .max_header_line = 4096,
    .max_headers = 32,
    .max_header_bytes = HTTPD_MAX_HEADER_BYTES,
};

static void conn_free(struct httpd_conn *c)
{
    struct httpd *d = c->d;
    for (struct httpd_conn **pp = &d->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    d->nconns--;
    io_del(d->loop, &c->io);
    close(c->io.fd);
    http_parser_free(&c->hp);
    buf_free(&c->out);
    free(c);
}

static void respond(struct httpd_conn *c, struct httpd_response *rs, bool head)
{
    int st = rs->status ? rs->status : 200;
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
               st, http_status_text(st),
               rs->content_type ? rs->content_type : "text/plain; charset=utf-8",
               buf_len(&rs->body), rs->extra_headers ? rs->extra_headers : "");
    if (!head && buf_len(&rs->body))
        buf_append(&c->out, buf_data(&rs->body), buf_len(&rs->body));
    buf_free(&rs->body);
    c->responded = true;
}

static void simple(struct httpd_conn *c, int status)
{
    struct httpd_response rs = {.status = status};
    buf_printf(&rs.body, "%d %s\n", status, http_status_text(status));
    respond(c, &rs, false);
}

static void handle(struct httpd_conn *c)
{
    const struct http_request *r = &c->hp.req;
    if (r->content_length > 0 || r->chunked) {
        simple(c, 413);
        return;
    }
    char target[2048];
    str_copy(target, r->target, sizeof target);
    char *q = strchr(target, '?');
    if (q)
        *q++ = 0;
    struct httpd_request rq = {
        .method = r->method, .path = target, .query = q ? q : "", .peer = c->peer, .raw = r};
    bool head = !strcmp(r->method, "HEAD");
    if (!head && strcmp(r->method, "GET")) {
        simple(c, 405);
        return;
    }
    struct httpd_response rs = {.status = 200};
    c->d->handler(c->d->arg, &rq, &rs);
    c->d->requests++;
    respond(c, &rs, head);
}

/* false when the connection is gone */
static bool flush(struct httpd_conn *c)
{
    while (buf_len(&c->out)) {
        ssize_t n = send(c->io.fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_set(c->d->loop, &c->io, EPOLLOUT);
            return true;
        }
        break;
    }
    conn_free(c);
    return false;
}

static void conn_on_io(struct io *io, uint32_t events)
{
    struct httpd_conn *c = (struct httpd_conn *)io;
    if (c->responded) {
        flush(c);
        return;
    }
    uint8_t tmp[2048];
    for (;;) {
        ssize_t n = recv(io->fd, tmp, sizeof tmp, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            conn_free(c);
            return;
        }
        if (n < 0)
            return;
        ssize_t used = http_parser_feed(&c->hp, tmp, (size_t)n);
        if (used < 0) {
            simple(c, c->hp.error_status ? c->hp.error_status : 400);
            flush(c);
            return;
        }
        if (c->hp.pstate == HTTP_PARSER_DONE) {
            handle(c);
            flush(c);
            return;
        }
    }
}

static void on_accept(struct io *io, uint32_t events)
{
    struct httpd *d = (struct httpd *)io;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct httpd_conn *c = d->nconns < HTTPD_MAX_CONNS ? calloc(1, sizeof *c) : NULL;
        if (!c || http_parser_init(&c->hp, &lim) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->d = d;
        c->io.fd = fd;
        c->io.cb = conn_on_io;
        sockaddr_to_str((struct sockaddr *)&ss, c->peer, sizeof c->peer);
        c->deadline_ms = now_ms() + HTTPD_TIMEOUT_MS;
        c->next = d->conns;
        d->conns = c;
        d->nconns++;
        io_set(d->loop, &c->io, EPOLLIN);
    }
}

int httpd_start(struct httpd *d, struct loop *loop, const char *addr, httpd_handler h, void *arg,
                char *err, size_t errsz)
{
    memset(d, 0, sizeof *d);
    d->io.fd = -1;
    d->loop = loop;
    d->handler = h;
    d->arg = arg;
    str_copy(d->addr, addr, sizeof d->addr);
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_hostport(addr, &ss, &sl) < 0) {
        snprintf(err, errsz, "bad listen address '%s'", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errsz, "listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    d->io.fd = fd;
    d->io.cb = on_accept;
    io_set(loop, &d->io, EPOLLIN);
    return 0;
}

void httpd_sweep(struct httpd *d, uint64_t now)
{
    struct httpd_conn *c = d->conns;
    while (c) {
        struct httpd_conn *next = c->next;
        if (now >= c->deadline_ms)
            conn_free(c);
        c = next;
    }
}

void httpd_stop(struct httpd *d)
{
    while (d->conns)
        conn_free(d->conns);
    if (d->loop && d->io.fd >= 0) {
        io_del(d->loop, &d->io);
        close(d->io.fd);
    }
    d->io.fd = -1;
}
