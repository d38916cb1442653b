/* Drives client bytes through the daemon's real MS-TSGU server state machine (tunnel.c and the
 * WebSocket/legacy input paths of gateway.c), in process, over a socketpair instead of TLS.
 *
 * Input: byte 0 picks the transport (even: WebSocket frames; odd: legacy chunked IN body, the
 * rest of the input being the chunked stream); the rest is what the client sends. The fuzz user
 * is authenticated already; the policy allows 127.0.0.1 on one port where this harness listens
 * itself, so a CHANNEL_CREATE really connects, and DATA really flows, without touching anything
 * else. Name lookups are forced numeric: no DNS. */
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gateway *gw;
static int sink_fd = -1;
static uint16_t sink_port; /* network order */

/* No DNS from a fuzzer: every lookup is numeric, and every address it yields points at this
 * harness's own sink (the policy decided on the requested name, address and port already). */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    if (!real)
        real = (int (*)(const char *, const char *, const struct addrinfo *,
                        struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
    struct addrinfo h = hints ? *hints : (struct addrinfo){0};
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_family = AF_INET;
    int r = real(node, service, &h, res);
    if (r == 0)
        for (struct addrinfo *p = *res; p; p = p->ai_next) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)p->ai_addr;
            s4->sin_addr.s_addr = htonl(0x7f000001);
            s4->sin_port = sink_port;
        }
    return r;
}

static void setup(void)
{
    log_set_level(-1); /* quiet: events and diagnostics off */
    log_set_events(0);
    gw = calloc(1, sizeof *gw);
    gw->cfg = config_new();
    sink_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(sink_fd, (struct sockaddr *)&sa, sizeof sa);
    listen(sink_fd, 1024);
    socklen_t sl = sizeof sa;
    getsockname(sink_fd, (struct sockaddr *)&sa, &sl);
    sink_port = sa.sin_port;
    char conf[1024];
    snprintf(conf, sizeof conf,
             "[gateway]\nlisten = 127.0.0.1:1\ncertificate = c\nprivate-key = k\n"
             "[auth]\nusers-file = u\n"
             "[limits]\nconnect-timeout = 1s\n"
             "[cap:all]\nuser-groups = Fuzzers\n"
             "[rap:sink]\nuser-groups = Fuzzers\nresources = 127.0.0.0/8; host.invalid\n"
             "ports = 3389\n");
    struct buf errors = BUF_INIT;
    if (config_load_string(conf, "fuzz.conf", "/", gw->cfg, &errors) != 0) {
        fwrite(buf_data(&errors), 1, buf_len(&errors), stderr);
        abort();
    }
    buf_free(&errors);
    loop_init(&gw->loop);
    reg_init(&gw->reg);
    reg_init(&gw->chanless);
    resolver_init(gw); /* its lookups are numeric too (getaddrinfo above) */
    gw->next_tunnel_id = 1;
}

static void drain(int fd)
{
    uint8_t tmp[65536];
    while (recv(fd, tmp, sizeof tmp, MSG_DONTWAIT) > 0)
        ;
}

/* accept and drop whatever the tunnel connected to the sink */
static void drain_sink(void)
{
    for (;;) {
        int fd = accept4(sink_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            break;
        close(fd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gw)
        setup();
    if (size < 1)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    struct conn *c = calloc(1, sizeof *c);
    c->gw = gw;
    conn_attach_fd(c, sv[0]);
    c->authed = true;
    c->who = identity_new();
    str_copy(c->who->account, "FUZZ\\user", sizeof c->who->account);
    str_copy(c->who->groups, "Fuzzers", sizeof c->who->groups);
    str_copy(c->peer_str, "127.0.0.1", sizeof c->peer_str);
    c->in.cap_limit = 1u << 20;
    gw->conns = c;
    gw->nconns = 1;
    bool legacy = data[0] & 1;
    struct tunnel *t = tunnel_new(gw, c, !legacy);
    if (legacy) {
        /* the OUT side is c; the IN side is a second socketpair connection */
        c->phase = CONN_LEGACY_OUT;
        t->state = TUN_INITIALIZED;
        struct conn *in = calloc(1, sizeof *in);
        int sv2[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv2);
        in->gw = gw;
        conn_attach_fd(in, sv2[0]);
        in->authed = true;
        in->in.cap_limit = 1u << 20;
        str_copy(in->peer_str, "127.0.0.1", sizeof in->peer_str);
        in->phase = CONN_LEGACY_IN_BODY;
        in->body_chunked = true;
        http_chunked_init(&in->chunked, gw->cfg->lim.max_chunk);
        in->tun = t;
        t->in = in;
        in->next = gw->conns;
        gw->conns->prev = in;
        gw->conns = in;
        gw->nconns++;
        buf_append(&in->in, data + 1, size - 1);
        conn_process(in);
        close(sv2[1]);
    } else {
        c->phase = CONN_WS;
        ws_decoder_init(&c->ws, gw->cfg->lim.max_ws_message);
        buf_append(&c->in, data + 1, size - 1);
        conn_process(c);
    }
    if (!t->dead)
        tunnel_process(t);
    /* a few turns of the real loop: the target connect completes, queued DATA flows */
    for (int i = 0; i < 4; i++) {
        loop_run_once(&gw->loop, 0);
        gw_run_ready(gw);
        drain(sv[1]);
        drain_sink();
    }
    if (!t->dead)
        tunnel_close(t, "fuzz input done");
    for (struct conn *x = gw->conns; x; x = x->next)
        if (!x->dead)
            conn_close(x, "fuzz input done");
    gw_reap(gw);
    close(sv[1]);
    return 0;
}
