/* tsgw-flood: pre-authentication flood generator for the tests and the benchmark (issue 12).
 *
 * Single-threaded, non-blocking, epoll. Each connection is bound to a source address taken in
 * turn from a range (--src 127.1.0.1 --addrs 300: 127.1.0.1 .. 127.1.1.44; an IPv6 --src counts
 * in its low 64 bits and binds with IPV6_FREEBIND, so a netns with a `local` route for the
 * prefix is enough).
 *
 *   --mode slow        hold --conns N connections: TLS, then the request line
 *                      "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1", then one header byte every
 *                      --drip seconds (never finishing the headers). A connection the server
 *                      closes is replaced (at most --rate new connections a second);
 *   --mode handshake   full TLS handshakes back to back, --conns in flight, closing each one
 *                      as soon as it is established.
 *
 * Every second: "tick T: open O tls T established E closed-by-server C connects K failed F";
 * "ready" once --conns connections finished TLS (slow mode), counting replacements. Runs --duration
 * seconds (0 = until SIGTERM/SIGINT), then prints one JSON line with the totals. */
#include <arpa/inet.h>
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum st { S_FREE, S_CONNECTING, S_TLS, S_DRIP };

struct fc {
    int fd;
    SSL *ssl;
    enum st st;
    uint64_t next_drip_ms;
    unsigned sent;
};

static struct {
    const char *host;
    int port;
    bool slow;
    unsigned conns, addrs, rate, drip_s, duration_s;
    bool v6;
    struct in_addr src4;
    struct in6_addr src6;
    unsigned next_src;
} o = {.host = "127.0.0.1",
       .port = 443,
       .slow = true,
       .conns = 100,
       .addrs = 1,
       .rate = 500,
       .drip_s = 1};

static struct fc *fcs;
static SSL_CTX *ctx;
static int ep;
static uint64_t n_open, n_tls_now, n_est, n_closed_by_server, n_connects, n_failed;
static bool ready_said;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fc_close(struct fc *c, bool by_server)
{
    if (c->st == S_FREE)
        return;
    if (c->st == S_DRIP)
        n_tls_now--;
    if (by_server)
        n_closed_by_server++;
    if (c->ssl)
        SSL_free(c->ssl);
    close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->st = S_FREE;
    n_open--;
}

static int fc_open(struct fc *c)
{
    struct sockaddr_storage ss = {0}, dst = {0};
    socklen_t sl, dl;
    unsigned i = o.next_src++ % o.addrs;
    if (o.v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = o.src6;
        uint64_t low = 0;
        for (int b = 8; b < 16; b++)
            low = low << 8 | s6->sin6_addr.s6_addr[b];
        low += i;
        for (int b = 15; b >= 8; b--, low >>= 8)
            s6->sin6_addr.s6_addr[b] = (uint8_t)low;
        sl = sizeof *s6;
        struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;
        d6->sin6_family = AF_INET6;
        d6->sin6_port = htons((uint16_t)o.port);
        inet_pton(AF_INET6, o.host, &d6->sin6_addr);
        dl = sizeof *d6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(ntohl(o.src4.s_addr) + i);
        sl = sizeof *s4;
        struct sockaddr_in *d4 = (struct sockaddr_in *)&dst;
        d4->sin_family = AF_INET;
        d4->sin_port = htons((uint16_t)o.port);
        inet_pton(AF_INET, o.host, &d4->sin_addr);
        dl = sizeof *d4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o.v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
    else
        setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, dl) < 0 && errno != EINPROGRESS)) {
        close(fd);
        n_failed++;
        return -1;
    }
    c->fd = fd;
    c->ssl = NULL;
    c->st = S_CONNECTING;
    c->sent = 0;
    n_open++;
    n_connects++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void set_ev(struct fc *c, uint32_t e)
{
    struct epoll_event ev = {.events = e, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void drip(struct fc *c, uint64_t now)
{
    static const char line[] = "RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\n";
    char b;
    const char *p;
    int n;
    if (c->sent == 0) {
        p = line;
        n = (int)strlen(line);
    } else {
        b = (char)('a' + c->sent % 26); /* one byte of a header name that never ends */
        p = &b;
        n = 1;
        if (c->sent > 4000) /* stay under the header line cap: start a new header line */
            b = ':';
    }
    int r = SSL_write(c->ssl, p, n);
    if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
            fc_close(c, true);
        return;
    }
    c->sent += (unsigned)r;
    if (c->sent > 4000 && n == 1) {
        SSL_write(c->ssl, "\r\n", 2);
        c->sent = 1;
    }
    c->next_drip_ms = now + o.drip_s * 1000;
}

static void on_event(struct fc *c, uint32_t events, uint64_t now)
{
    if (c->st == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            n_failed++;
            fc_close(c, false);
            return;
        }
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_connect_state(c->ssl);
        c->st = S_TLS;
    }
    if (c->st == S_TLS) {
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            n_est++;
            if (!o.slow) {
                fc_close(c, false);
                return;
            }
            c->st = S_DRIP;
            n_tls_now++;
            set_ev(c, EPOLLIN);
            drip(c, now);
            return;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            set_ev(c, EPOLLIN);
        else if (e == SSL_ERROR_WANT_WRITE)
            set_ev(c, EPOLLOUT);
        else
            fc_close(c, true);
        return;
    }
    if (c->st == S_DRIP) {
        /* the server only ever answers by closing (a timeout or an eviction) */
        char buf[4096];
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r > 0)
            return;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fc_close(c, true);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: tsgw-flood --host ADDR --port P [--mode slow|handshake] [--conns N]\n"
                    "  [--src ADDR] [--addrs N] [--rate N/s] [--drip S] [--duration S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'h'},     {"port", 1, 0, 'p'},  {"mode", 1, 0, 'm'}, {"conns", 1, 0, 'n'},
        {"src", 1, 0, 's'},      {"addrs", 1, 0, 'a'}, {"rate", 1, 0, 'r'}, {"drip", 1, 0, 'd'},
        {"duration", 1, 0, 't'}, {0, 0, 0, 0}};
    const char *src = "127.1.0.1";
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            o.host = optarg;
            break;
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'm':
            o.slow = strcmp(optarg, "handshake") != 0;
            break;
        case 'n':
            o.conns = (unsigned)atoi(optarg);
            break;
        case 's':
            src = optarg;
            break;
        case 'a':
            o.addrs = (unsigned)atoi(optarg);
            break;
        case 'r':
            o.rate = (unsigned)atoi(optarg);
            break;
        case 'd':
            o.drip_s = (unsigned)atoi(optarg);
            break;
        case 't':
            o.duration_s = (unsigned)atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (!o.conns || !o.addrs || !o.rate || o.conns > 200000)
        usage();
    if (inet_pton(AF_INET6, src, &o.src6) == 1)
        o.v6 = true;
    else if (inet_pton(AF_INET, src, &o.src4) != 1)
        usage();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < o.conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* full handshakes only */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    fcs = calloc(o.conns, sizeof *fcs);
    for (unsigned i = 0; i < o.conns; i++)
        fcs[i].fd = -1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);

    uint64_t start = now_ms(), next_tick = start + 1000, tokens_at = start;
    double tokens = o.rate / 10.0;
    bool stop = false;
    unsigned scan = 0;
    while (!stop) {
        uint64_t now = now_ms();
        /* refill: at most --rate new connections a second */
        tokens += (double)(now - tokens_at) * o.rate / 1000.0;
        if (tokens > o.rate / 10.0 + 1)
            tokens = o.rate / 10.0 + 1;
        tokens_at = now;
        for (unsigned k = 0; k < o.conns && tokens >= 1 && n_open < o.conns; k++) {
            struct fc *c = &fcs[scan++ % o.conns];
            if (c->st != S_FREE)
                continue;
            tokens -= 1;
            fc_open(c);
        }
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 20);
        now = now_ms();
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                stop = true;
                continue;
            }
            on_event(evs[i].data.ptr, evs[i].events, now);
        }
        if (o.slow)
            for (unsigned i = 0; i < o.conns; i++)
                if (fcs[i].st == S_DRIP && now >= fcs[i].next_drip_ms)
                    drip(&fcs[i], now);
        if (now >= next_tick) {
            next_tick += 1000;
            printf("tick %llu: open %llu tls %llu established %llu closed-by-server %llu "
                   "connects %llu failed %llu\n",
                   (unsigned long long)((now - start) / 1000), (unsigned long long)n_open,
                   (unsigned long long)n_tls_now, (unsigned long long)n_est,
                   (unsigned long long)n_closed_by_server, (unsigned long long)n_connects,
                   (unsigned long long)n_failed);
            if (o.slow && !ready_said && n_est >= o.conns) {
                printf("ready\n");
                ready_said = true;
            }
            if (o.duration_s && now - start >= (uint64_t)o.duration_s * 1000)
                stop = true;
        }
    }
    double secs = (double)(now_ms() - start) / 1000.0;
    printf("{\"mode\":\"%s\",\"seconds\":%.1f,\"established\":%llu,\"per_second\":%.1f,"
           "\"closed_by_server\":%llu,\"connects\":%llu,\"failed\":%llu,\"open\":%llu}\n",
           o.slow ? "slow" : "handshake", secs, (unsigned long long)n_est,
           secs > 0 ? (double)n_est / secs : 0.0, (unsigned long long)n_closed_by_server,
           (unsigned long long)n_connects, (unsigned long long)n_failed,
           (unsigned long long)n_open);
    for (unsigned i = 0; i < o.conns; i++)
        fc_close(&fcs[i], false);
    free(fcs);
    SSL_CTX_free(ctx);
    return 0;
}
