/* tsgw-sink: a plain TCP target for the load generator (tools/tsgw-load.c).
 *
 * Single-threaded, epoll, many connections, loopback only. A connection may start with a
 * 16-byte command:
 *     "TSGB" | mode (1 byte) | 3 zero bytes | count (u64 little-endian)
 * mode 'U' (up):   read and discard count bytes, then send one byte 'K' (the ack);
 *      'D' (down): send count bytes, byte o of them being (o * 131 + 7) mod 256;
 *      'B' (both): both at once; the ack follows the last down byte;
 *      'E' (echo): send back every byte received after the command (count is ignored).
 * Byte 5 of the command is a flag set: bit 0 asks to check that every uploaded byte is 0x5A
 * (what tsgw-load sends); the ack is then 'X' instead of 'K' when one was not.
 * A connection that sends nothing (idle tunnels, setup-rate runs) is simply held until the
 * peer closes it. Anything else is read and discarded.
 *
 * Prints "LISTENING <port>" once ready (with --listen 127.0.0.1:0 the kernel picks the port),
 * runs until SIGTERM/SIGINT, then prints one JSON line with its counters. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"
#include "net/loop.h"

#define CMD_LEN 16
#define IO_CHUNK (256 * 1024)
#define EVENT_BUDGET (1024 * 1024) /* bytes moved per connection per event (fairness) */
#define ECHO_MAX (1024 * 1024)     /* echo bytes buffered before reading stops */

struct sconn {
    struct io io;
    uint8_t cmd[CMD_LEN];
    unsigned cmd_len;
    char mode;          /* 0 = command not complete yet, 'X' = no command (discard) */
    uint64_t up_left;   /* bytes still to discard before the ack */
    uint64_t down_left; /* bytes still to send */
    uint64_t down_off;  /* bytes sent so far (position in the pattern) */
    bool verify, bad;   /* check uploaded bytes; one was not 0x5A */
    bool ack_pending;
    uint8_t *echo; /* echo mode: bytes waiting to go back */
    size_t echo_len;
    bool dead;
    struct sconn *reap_next;
};

static struct loop g_loop;
static struct io g_listen, g_sig;
static struct sconn *g_reap;
static bool g_stop;
static uint8_t g_rbuf[IO_CHUNK];
static uint8_t g_pattern[IO_CHUNK];
static uint64_t g_accepted, g_open, g_max_open, g_bytes_in, g_bytes_out;

static void sconn_close(struct sconn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    io_del(&g_loop, &c->io);
    close(c->io.fd);
    g_open--;
    c->reap_next = g_reap;
    g_reap = c;
}

static void sconn_update(struct sconn *c)
{
    uint32_t ev = 0;
    if (!(c->mode == 'E' && c->echo_len >= ECHO_MAX))
        ev |= EPOLLIN;
    if (c->down_left || c->echo_len || (c->ack_pending && !c->down_left))
        ev |= EPOLLOUT;
    if (io_set(&g_loop, &c->io, ev) < 0)
        sconn_close(c);
}

static uint64_t get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Takes bytes received on c. */
static void sconn_take(struct sconn *c, const uint8_t *p, size_t n)
{
    if (!c->mode) {
        size_t k = CMD_LEN - c->cmd_len;
        if (k > n)
            k = n;
        memcpy(c->cmd + c->cmd_len, p, k);
        c->cmd_len += (unsigned)k;
        p += k;
        n -= k;
        if (c->cmd_len < CMD_LEN)
            return;
        if (memcmp(c->cmd, "TSGB", 4) != 0) {
            c->mode = 'X';
            return;
        }
        c->mode = (char)c->cmd[4];
        c->verify = c->cmd[5] & 1;
        uint64_t count = get_u64le(c->cmd + 8);
        if (c->mode == 'U' || c->mode == 'B') {
            c->up_left = count;
            if (!count)
                c->ack_pending = true;
        }
        if (c->mode == 'D' || c->mode == 'B')
            c->down_left = count;
        if (c->mode == 'E' && !(c->echo = malloc(ECHO_MAX))) {
            sconn_close(c);
            return;
        }
    }
    if (!n)
        return;
    if (c->mode == 'U' || c->mode == 'B') {
        uint64_t k = n < c->up_left ? n : c->up_left;
        if (c->verify)
            for (size_t i = 0; i < k; i++)
                c->bad |= p[i] != 0x5A;
        c->up_left -= k;
        if (k && !c->up_left)
            c->ack_pending = true;
    } else if (c->mode == 'E') {
        /* reading stops once the echo buffer is full, so this always fits */
        size_t room = ECHO_MAX - c->echo_len;
        size_t k = n < room ? n : room;
        memcpy(c->echo + c->echo_len, p, k);
        c->echo_len += k;
    }
}

static void sconn_write(struct sconn *c)
{
    size_t budget = EVENT_BUDGET;
    while (!c->dead && budget) {
        const uint8_t *p;
        size_t len;
        if (c->echo_len) {
            p = c->echo;
            len = c->echo_len;
        } else if (c->down_left) {
            size_t off = (size_t)(c->down_off % IO_CHUNK); /* IO_CHUNK is a multiple of 256 */
            p = g_pattern + off;
            len = IO_CHUNK - off;
            if (len > c->down_left)
                len = (size_t)c->down_left;
        } else if (c->ack_pending) {
            p = (const uint8_t *)(c->bad ? "X" : "K");
            len = 1;
        } else {
            break;
        }
        ssize_t w = send(c->io.fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            sconn_close(c);
            return;
        }
        size_t n = (size_t)w;
        g_bytes_out += n;
        budget -= n < budget ? n : budget;
        if (c->echo_len) {
            memmove(c->echo, c->echo + n, c->echo_len - n);
            c->echo_len -= n;
        } else if (c->down_left) {
            c->down_left -= n;
            c->down_off += n;
        } else {
            c->ack_pending = false;
        }
    }
}

static void sconn_read(struct sconn *c)
{
    size_t budget = EVENT_BUDGET;
    while (!c->dead && budget && !(c->mode == 'E' && c->echo_len >= ECHO_MAX)) {
        size_t want = sizeof g_rbuf;
        if (c->mode == 'E' && want > ECHO_MAX - c->echo_len)
            want = ECHO_MAX - c->echo_len;
        ssize_t r = recv(c->io.fd, g_rbuf, want, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            sconn_close(c);
            return;
        }
        if (r == 0) {
            sconn_close(c);
            return;
        }
        g_bytes_in += (uint64_t)r;
        budget -= (size_t)r < budget ? (size_t)r : budget;
        sconn_take(c, g_rbuf, (size_t)r);
    }
}

static void sconn_on_io(struct io *io, uint32_t events)
{
    struct sconn *c = (struct sconn *)io;
    if (c->dead)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        sconn_read(c);
    if (!c->dead && (events & EPOLLOUT || c->down_left || c->echo_len || c->ack_pending))
        sconn_write(c);
    if (!c->dead)
        sconn_update(c);
}

static void on_accept(struct io *io, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "tsgw-sink: accept: %s\n", strerror(errno));
            return;
        }
        struct sconn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->io.fd = fd;
        c->io.cb = sconn_on_io;
        g_accepted++;
        g_open++;
        if (g_open > g_max_open)
            g_max_open = g_open;
        sconn_update(c);
    }
}

static void on_signal(struct io *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            g_stop = true;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tsgw-sink --listen 127.0.0.1:PORT\n"
               "  A discard/stream/echo TCP target for tsgw-load (see the comment at the top\n"
               "  of tools/tsgw-sink.c). PORT 0 picks a free port; \"LISTENING <port>\" is\n"
               "  printed once ready. Stops on SIGTERM and prints one JSON line.\n");
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_addr = "127.0.0.1:0";
    int o;
    while ((o = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            listen_addr = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_hostport(listen_addr, &ss, &sl) < 0 || !is_loopback(&ss)) {
        fprintf(stderr, "tsgw-sink: --listen needs a loopback host:port, not '%s'\n", listen_addr);
        return 2;
    }
    for (size_t i = 0; i < sizeof g_pattern; i++)
        g_pattern[i] = (uint8_t)(i * 131u + 7u);
    if (loop_init(&g_loop) < 0) {
        perror("tsgw-sink: epoll");
        return 1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "tsgw-sink: listen on %s: %s\n", listen_addr, strerror(errno));
        return 1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    unsigned port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                     : ((struct sockaddr_in6 *)&bound)->sin6_port);
    g_listen.fd = fd;
    g_listen.cb = on_accept;
    io_set(&g_loop, &g_listen, EPOLLIN);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    g_sig.cb = on_signal;
    io_set(&g_loop, &g_sig, EPOLLIN);

    printf("LISTENING %u\n", port);
    fflush(stdout);
    while (!g_stop) {
        if (loop_run_once(&g_loop, 500) < 0)
            break;
        while (g_reap) {
            struct sconn *c = g_reap;
            g_reap = c->reap_next;
            free(c->echo);
            free(c);
        }
    }
    printf("{\"tool\":\"tsgw-sink\",\"port\":%u,\"accepted\":%llu,\"open\":%llu,\"max_open\":%llu,"
           "\"bytes_in\":%llu,\"bytes_out\":%llu}\n",
           port, (unsigned long long)g_accepted, (unsigned long long)g_open,
           (unsigned long long)g_max_open, (unsigned long long)g_bytes_in,
           (unsigned long long)g_bytes_out);
    close(fd);
    loop_free(&g_loop);
    return 0;
}
