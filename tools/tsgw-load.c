/* tsgw-load: a load generator speaking the client side of the RD Gateway HTTP transport.
 *
 * Single-threaded, non-blocking, epoll. Each tunnel does what FreeRDP 2.11.7 does: TLS, then
 * RDG_OUT_DATA with NTLM (NEGOTIATE -> 401 CHALLENGE -> NTLMv2 AUTHENTICATE with a MIC, channel
 * bindings from the server certificate and the SPN HTTP/<gateway host>), then either a WebSocket
 * (101, masked binary frames) or the legacy pair (OUT 200 + 10 seed bytes, IN 200 then a chunked
 * request body), then HANDSHAKE, TUNNEL_CREATE, TUNNEL_AUTH, CHANNEL_CREATE and DATA.
 * `--mode tls-only` is the baseline: bare TLS to a TLS-terminating proxy, then raw bytes;
 * with `--rounds K`, K HTTP/1.1 keep-alive request/response pairs after the handshake (the
 * exchange count of a tunnel setup, against a proxy that answers them itself).
 *
 * Runs (one per invocation, results as one JSON line on stdout):
 *   bulk    (default) open --tunnels N, then move --bytes B per tunnel --direction up|down|both
 *           through the target, which must be tools/tsgw-sink (it understands the 16-byte
 *           command sent as the first payload bytes of each tunnel);
 *   --idle  open N tunnels, print "READY <n> failed=<f>" and hold them until SIGTERM.
 *           SIGUSR1: disconnect the next user (prefix+0, prefix+1, ...) through the admin socket
 *           (--admin-socket) and report the call's time and when that user's tunnels closed;
 *           SIGUSR2: only watch the next user's tunnels (someone else makes the call). Each
 *           prints a "B4 ..." line;
 *   --setups N  complete N tunnel setups (--concurrency in flight), closing each once open.
 *
 * Everything here is the client side written for this project; the library only lends its
 * primitives (HMAC-MD5, RC4, NTOWFv2, channel binding, base64, UTF-16, DATA header). */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>

#include "auth/krb.h"
#include "auth/ntlm.h"
#include "core/buf.h"
#include "core/utf16.h"
#include "core/util.h"
#include "mgmt/proto.h"
#include "net/loop.h"
#include "tsgu/tsgu.h"
#include "websocket/ws.h"

#define RBUF_SIZE 65536
#define READ_BUDGET (1024 * 1024)  /* bytes read from one connection per turn */
#define WRITE_BUDGET (1024 * 1024) /* bytes written to one connection per turn */
#define MAX_HTTP_HEAD 16384
#define SPNEGO_TOKEN_CAP 48000 /* Windows' MaxTokenSize */
#define SETUP_TIMEOUT_NS (30ull * 1000000000ull)
#define B4_TIMEOUT_NS (10ull * 1000000000ull)
#define CMD_LEN 16
#define TEMPLATE_MIN (256 * 1024)
#define NTLM_FLAGS_NEGOTIATE 0xE20882B7u /* what FreeRDP 2.11.7 sends */
#define NTLM_FLAGS_AUTHENTICATE 0xE2888235u
#define NTLM_KEY_EXCH 0x40000000u

enum { MODE_WS, MODE_LEGACY, MODE_TLS };
enum { DIR_UP = 1, DIR_DOWN = 2, DIR_BOTH = 3 };
enum { RUN_BULK, RUN_IDLE, RUN_SETUPS };

enum conn_state {
    CS_CONNECT,
    CS_TLS,
    CS_AUTH1,
    CS_AUTH2,
    CS_ROUNDS,
    CS_STREAM,
    CS_INBODY,
    CS_DEAD
};
enum tun_state { TS_HTTP, TS_HS, TS_TC, TS_TA, TS_CC, TS_OPEN, TS_ENDED };

struct tun;

struct lconn {
    struct io io;
    struct tun *t;
    bool is_in; /* legacy IN channel */
    int st;
    SSL *ssl;
    bool hs_want_write;
    struct buf in;  /* HTTP response bytes during setup */
    struct buf out; /* plaintext waiting for SSL_write */
    int wsrc;       /* an SSL_write to repeat: 0 none, 1 the out buffer, 2 the bulk template */
    size_t wlen;
    bool write_wants_read, read_wants_write;
    uint64_t body_skip;   /* body bytes of a 401 to discard */
    unsigned seed_left;   /* legacy OUT: seed bytes still to skip */
    unsigned rounds_done; /* tls-only --rounds: responses received */
    char ws_key[32];
    uint8_t negotiate[40];
    gss_ctx_id_t gctx; /* --negotiate: the SPNEGO/Kerberos initiator context */
    /* WebSocket frame reader (server -> client frames are unmasked) */
    uint8_t wh[10];
    unsigned wh_len, wh_need;
    bool in_frame;
    uint64_t wf_left;
    uint8_t wf_op;
    uint8_t wctrl[125];
    unsigned wctrl_len;
    /* TSGU packet reader */
    uint8_t ph[10];
    unsigned ph_len;
    uint16_t p_type;
    uint32_t p_len;
    uint32_t p_skip; /* DATA payload bytes still to count */
    uint8_t *pbody;  /* control packet body (after the 8-byte header) */
    uint32_t pbody_len, pbody_need;
    bool in_ready;
    struct lconn *ready_next;
    bool dead;
    struct lconn *reap_next;
};

struct tun {
    unsigned idx, user;
    int st;
    struct lconn *out, *in; /* WebSocket and tls-only: in == out */
    char conn_id[40];
    uint64_t t_begin, t_open;
    /* bulk */
    bool xfer, done;
    uint64_t rx_want, rx_got;
    uint64_t up_units_left; /* whole template units still to send */
    size_t up_pos;          /* offset inside the current unit */
    uint64_t t_done;
    /* close */
    bool close_channel_seen;
    bool ended;
    struct tun *reap_next;
};

static struct {
    int mode, dir, run;
    struct sockaddr_storage gw_ss;
    socklen_t gw_len;
    char gw_host[128];
    char spn_host[128];
    char target_host[128];
    unsigned target_port;
    unsigned tunnels, setups, concurrency;
    uint64_t bytes;
    unsigned chunk;
    char user[128], domain[64], users_prefix[64];
    unsigned nusers;
    uint8_t nthash[16];
    bool have_hash;
    const char *ciphersuites;
    bool random_mask;
    bool verify;
    const char *admin_socket;
    bool farm; /* B4 call with farm scope (farm-invoke) */
    unsigned timeout_s;
    const char *client_name;
    bool negotiate;  /* Kerberos through SPNEGO (default ccache) instead of NTLM */
    int cb_mode;     /* --negotiate: 0 right bindings, 1 --bad-cb, 2 --no-cb */
    unsigned rounds; /* tls-only: HTTP request/response pairs after the handshake */
} O;

static SSL_CTX *g_ctx;
static struct loop g_loop;
static struct io g_sigio;
static uint8_t g_rbuf[RBUF_SIZE];
static uint8_t *g_tpl; /* bulk upload template: g_tpl_units identical units */
static size_t g_unit_len, g_tpl_units;
static uint8_t g_mask[4];
static struct tun **g_tuns;
static unsigned g_ntuns;
static struct lconn *g_ready, *g_reap_conns;
static struct tun *g_reap_tuns;
static bool g_stop;
static unsigned g_started, g_finished, g_open, g_failed, g_done, g_ended_open, g_established;
static unsigned g_xfer_n, g_xfer_end;
static char g_first_error[256];
static uint64_t *g_lat_us;
static unsigned g_nlat;
static uint64_t g_t0, g_t_all_open, g_xfer_t0, g_xfer_t1;
static char g_tls_version[32], g_cipher[64];
static uint8_t g_cert_der[8192];
static size_t g_cert_len;
static uint8_t g_cbt[16];

/* B4 state */
static struct {
    bool active, admin;
    unsigned user, expect, closed, cc_seen;
    uint64_t t0, t0_real_us, first_close, last_close, first_cc, rpc_done;
    int afd;
    struct io aio;
    struct buf resp;
    long long server_us;
    int rpc_status;
    unsigned next_user;
    unsigned runs;
} B4 = {.afd = -1};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000u;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
    if (g_first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_first_error, sizeof g_first_error, fmt, ap);
    va_end(ap);
}

static void user_name(unsigned u, char *out, size_t outsz)
{
    if (O.users_prefix[0])
        snprintf(out, outsz, "%s%u", O.users_prefix, u);
    else
        snprintf(out, outsz, "%s", O.user);
}

/* ------------------------------------------------------------------------------------------ */
/* NTLM client (MS-NLMP): NEGOTIATE and an NTLMv2 AUTHENTICATE with MIC and channel bindings. */

static void ntlm_negotiate(uint8_t out[40])
{
    memset(out, 0, 40);
    memcpy(out, "NTLMSSP\0", 8);
    wr32(out + 8, 1);
    wr32(out + 12, NTLM_FLAGS_NEGOTIATE);
    /* empty domain (16) and workstation (24) fields; VERSION 6.1.7601, NTLM revision 15 */
    static const uint8_t ver[8] = {6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f};
    memcpy(out + 32, ver, 8);
}

static int put_av(struct buf *b, uint16_t id, const void *v, uint16_t len)
{
    if (buf_put_u16le(b, id) < 0 || buf_put_u16le(b, len) < 0)
        return -1;
    return len ? buf_append(b, v, len) : 0;
}

static void put_field(uint8_t *hdr, size_t len, size_t off)
{
    wr16(hdr, (uint16_t)len);
    wr16(hdr + 2, (uint16_t)len);
    wr32(hdr + 4, (uint32_t)off);
}

/* Builds the AUTHENTICATE for the CHALLENGE chal (after the NEGOTIATE neg) into out.
 * 0, or -1 with a reason in *why. */
static int ntlm_authenticate(const uint8_t *neg, size_t neglen, const uint8_t *chal, size_t chlen,
                             const char *domain, const char *user, const uint8_t cbt[16],
                             struct buf *out, const char **why)
{
    int rc = -1;
    struct buf av = BUF_INIT, blob = BUF_INIT, dom = BUF_INIT, usr = BUF_INIT, wks = BUF_INIT,
               spn = BUF_INIT, mic_in = BUF_INIT;
    uint8_t ntowf[16], proof[16], kxkey[16], exported[16], enc[16], mic[16];
    *why = "malformed CHALLENGE";
    if (chlen < 48 || memcmp(chal, "NTLMSSP\0", 8) != 0 || rd32(chal + 8) != 2)
        goto out;
    uint32_t sflags = rd32(chal + 20);
    const uint8_t *server_challenge = chal + 24;
    size_t ti_len = rd16(chal + 40), ti_off = rd32(chal + 44);
    if (ti_off > chlen || ti_len > chlen - ti_off)
        goto out;
    const uint8_t *ti = chal + ti_off;
    uint8_t ts[8];
    bool have_ts = false;
    for (size_t pos = 0; pos + 4 <= ti_len;) {
        uint16_t id = rd16(ti + pos), len = rd16(ti + pos + 2);
        if (pos + 4 + len > ti_len)
            goto out;
        if (id == 0)
            break;
        if (id == 7 && len == 8) {
            memcpy(ts, ti + pos + 4, 8);
            have_ts = true;
        }
        if (id != 6 && id != 9 && id != 10 && put_av(&av, id, ti + pos + 4, len) < 0)
            goto out;
        pos += 4 + (size_t)len;
    }
    if (!have_ts) {
        uint64_t ft = ntlm_filetime_from_unix((uint64_t)time(NULL));
        for (int i = 0; i < 8; i++)
            ts[i] = (uint8_t)(ft >> (8 * i));
    }
    *why = "cannot build AUTHENTICATE";
    char spn_text[160];
    snprintf(spn_text, sizeof spn_text, "HTTP/%s", O.spn_host);
    uint8_t avflags[4] = {2, 0, 0, 0}; /* MIC present */
    if (utf8_to_utf16le(&spn, spn_text) < 0 || put_av(&av, 6, avflags, 4) < 0 ||
        put_av(&av, 10, cbt, 16) < 0 ||
        put_av(&av, 9, buf_data(&spn), (uint16_t)buf_len(&spn)) < 0 || put_av(&av, 0, NULL, 0) < 0)
        goto out;
    uint8_t head[28] = {1, 1, 0, 0, 0, 0, 0, 0};
    memcpy(head + 8, ts, 8);
    RAND_bytes(head + 16, 8); /* ChallengeFromClient */
    static const uint8_t zero4[4] = {0};
    if (buf_append(&blob, head, sizeof head) < 0 ||
        buf_append(&blob, buf_data(&av), buf_len(&av)) < 0 || buf_append(&blob, zero4, 4) < 0)
        goto out;
    if (ntlm_ntowfv2(O.nthash, user, domain, ntowf) < 0 ||
        ntlm_hmac_md5(ntowf, 16, server_challenge, 8, buf_data(&blob), buf_len(&blob), proof) < 0 ||
        ntlm_hmac_md5(ntowf, 16, proof, 16, NULL, 0, kxkey) < 0)
        goto out;
    uint32_t flags = NTLM_FLAGS_AUTHENTICATE;
    size_t enc_len = 0;
    if (sflags & NTLM_KEY_EXCH) {
        RAND_bytes(exported, 16);
        memcpy(enc, exported, 16);
        ntlm_rc4(kxkey, enc, 16);
        enc_len = 16;
    } else {
        flags &= ~NTLM_KEY_EXCH;
        memcpy(exported, kxkey, 16);
    }
    if (utf8_to_utf16le(&dom, domain) < 0 || utf8_to_utf16le(&usr, user) < 0 ||
        utf8_to_utf16le(&wks, O.client_name) < 0)
        goto out;
    size_t nt_len = 16 + buf_len(&blob);
    size_t off = 88;
    uint8_t hdr[88] = {0};
    memcpy(hdr, "NTLMSSP\0", 8);
    wr32(hdr + 8, 3);
    size_t dom_off = off, usr_off = dom_off + buf_len(&dom), wks_off = usr_off + buf_len(&usr);
    size_t lm_off = wks_off + buf_len(&wks), nt_off = lm_off + 24, key_off = nt_off + nt_len;
    size_t total = key_off + enc_len;
    if (total > NTLM_MAX_MESSAGE || nt_len > 0xFFFF)
        goto out;
    put_field(hdr + 12, 24, lm_off);
    put_field(hdr + 20, nt_len, nt_off);
    put_field(hdr + 28, buf_len(&dom), dom_off);
    put_field(hdr + 36, buf_len(&usr), usr_off);
    put_field(hdr + 44, buf_len(&wks), wks_off);
    put_field(hdr + 52, enc_len, key_off);
    wr32(hdr + 60, flags);
    static const uint8_t ver[8] = {6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f};
    memcpy(hdr + 64, ver, 8);
    static const uint8_t lm[24] = {0};
    size_t start = buf_len(out);
    if (buf_append(out, hdr, sizeof hdr) < 0 ||
        buf_append(out, buf_data(&dom), buf_len(&dom)) < 0 ||
        buf_append(out, buf_data(&usr), buf_len(&usr)) < 0 ||
        buf_append(out, buf_data(&wks), buf_len(&wks)) < 0 || buf_append(out, lm, 24) < 0 ||
        buf_append(out, proof, 16) < 0 || buf_append(out, buf_data(&blob), buf_len(&blob)) < 0 ||
        buf_append(out, enc, enc_len) < 0)
        goto out;
    /* MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE(MIC zeroed)) */
    if (buf_append(&mic_in, neg, neglen) < 0 || buf_append(&mic_in, chal, chlen) < 0 ||
        ntlm_hmac_md5(exported, 16, buf_data(&mic_in), buf_len(&mic_in), buf_data(out) + start,
                      total, mic) < 0)
        goto out;
    memcpy(buf_data(out) + start + 72, mic, 16);
    rc = 0;
out:
    OPENSSL_cleanse(ntowf, sizeof ntowf);
    OPENSSL_cleanse(kxkey, sizeof kxkey);
    OPENSSL_cleanse(exported, sizeof exported);
    buf_free(&av);
    buf_free(&blob);
    buf_free(&dom);
    buf_free(&usr);
    buf_free(&wks);
    buf_free(&spn);
    buf_free(&mic_in);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

static void conn_update(struct lconn *c);
static void conn_flush(struct lconn *c);
static void conn_read(struct lconn *c);
static void conn_on_io(struct io *io, uint32_t events);
static void tun_fail(struct tun *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tun_end(struct tun *t);
static void tun_opened(struct tun *t);
static void tun_send_pkt(struct tun *t, const uint8_t *pkt, size_t len);
static void on_tls_up(struct lconn *c);
static void stream_feed(struct lconn *c, const uint8_t *p, size_t n);
static void b4_on_close(struct tun *t);

static struct lconn *tun_sender(const struct tun *t)
{
    return O.mode == MODE_LEGACY ? t->in : t->out;
}

static bool bulk_pending(const struct lconn *c)
{
    const struct tun *t = c->t;
    return t && t->xfer && t->up_units_left && c == tun_sender(t) && c->st >= CS_STREAM;
}

static bool has_write(const struct lconn *c)
{
    return c->wsrc || buf_len(&c->out) || bulk_pending(c);
}

static void conn_mark_ready(struct lconn *c)
{
    if (c->in_ready || c->dead)
        return;
    c->in_ready = true;
    c->ready_next = g_ready;
    g_ready = c;
}

static void conn_close(struct lconn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    c->st = CS_DEAD;
    io_del(&g_loop, &c->io);
    if (c->ssl) {
        /* a close_notify if the socket takes it now; never wait for the peer's */
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    c->reap_next = g_reap_conns;
    g_reap_conns = c;
}

static void conn_free(struct lconn *c)
{
    if (c->gctx != GSS_C_NO_CONTEXT) {
        OM_uint32 mn;
        gss_delete_sec_context(&mn, &c->gctx, GSS_C_NO_BUFFER);
    }
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->io.fd >= 0)
        close(c->io.fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->pbody);
    free(c);
}

static struct lconn *conn_new(struct tun *t, bool is_in)
{
    struct lconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->t = t;
    c->is_in = is_in;
    c->io.cb = conn_on_io;
    c->wh_need = 2;
    int fd = socket(O.gw_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->io.fd = fd;
    if (fd < 0) {
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->st = CS_CONNECT;
    if (connect(fd, (struct sockaddr *)&O.gw_ss, O.gw_len) == 0) {
        c->st = CS_TLS;
    } else if (errno != EINPROGRESS) {
        close(fd);
        free(c);
        return NULL;
    }
    if (c->st == CS_TLS) {
        c->ssl = SSL_new(g_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            if (c->ssl)
                SSL_free(c->ssl);
            close(fd);
            free(c);
            return NULL;
        }
        SSL_set_connect_state(c->ssl);
        c->hs_want_write = true; /* the ClientHello goes out on the first writable event */
    }
    conn_update(c);
    return c;
}

static void conn_update(struct lconn *c)
{
    if (c->dead)
        return;
    uint32_t ev;
    if (c->st == CS_CONNECT)
        ev = EPOLLOUT;
    else if (c->st == CS_TLS)
        ev = c->hs_want_write ? EPOLLOUT : EPOLLIN;
    else
        ev = EPOLLIN | (has_write(c) || c->read_wants_write ? EPOLLOUT : 0);
    if (io_set(&g_loop, &c->io, ev) < 0)
        tun_fail(c->t, "epoll_ctl: %s", strerror(errno));
}

static void conn_handshake(struct lconn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->hs_want_write = false;
    if (r == 1) {
        on_tls_up(c);
        /* what was read ahead with the last handshake flight does not wake epoll again */
        if (!c->dead && c->ssl && SSL_has_pending(c->ssl))
            conn_mark_ready(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE) {
        c->hs_want_write = true;
    } else if (e != SSL_ERROR_WANT_READ) {
        char msg[160] = "";
        ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
        tun_fail(c->t, "TLS handshake failed: %s", msg[0] ? msg : "connection closed");
        return;
    }
    conn_update(c);
}

static void conn_connected(struct lconn *c, uint32_t events)
{
    int err = 0;
    socklen_t el = sizeof err;
    /* writable without an error or hang-up: connected (a failed connect reports EPOLLERR) */
    if ((events & (EPOLLERR | EPOLLHUP)) &&
        getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err) {
        tun_fail(c->t, "connect: %s", strerror(err));
        return;
    }
    c->ssl = SSL_new(g_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->io.fd) != 1) {
        tun_fail(c->t, "SSL_new failed");
        return;
    }
    SSL_set_connect_state(c->ssl);
    c->st = CS_TLS;
    conn_handshake(c);
}

/* The bytes to write next: the pending retry, else the out buffer, else the bulk template. */
static const uint8_t *write_source(struct lconn *c, int *src, size_t *len)
{
    struct tun *t = c->t;
    if (c->wsrc) {
        *src = c->wsrc;
        *len = c->wlen;
    } else if (buf_len(&c->out)) {
        *src = 1;
        *len = buf_len(&c->out);
    } else if (bulk_pending(c)) {
        *src = 2;
        uint64_t units = t->up_units_left < g_tpl_units ? t->up_units_left : g_tpl_units;
        *len = (size_t)units * g_unit_len - t->up_pos;
    } else {
        return NULL;
    }
    return *src == 1 ? buf_data(&c->out) : g_tpl + t->up_pos;
}

static void conn_flush(struct lconn *c)
{
    if (c->dead || c->st < CS_AUTH1)
        return;
    c->write_wants_read = false;
    size_t budget = WRITE_BUDGET;
    while (!c->dead && budget) {
        int src;
        size_t len;
        const uint8_t *p = write_source(c, &src, &len);
        if (!p)
            break;
        ERR_clear_error();
        int n = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
        if (n > 0) {
            c->wsrc = 0;
            budget -= (size_t)n < budget ? (size_t)n : budget;
            if (src == 1) {
                buf_consume(&c->out, (size_t)n);
                if (!buf_len(&c->out))
                    buf_shrink_if_empty(&c->out);
            } else {
                struct tun *t = c->t;
                size_t total = t->up_pos + (size_t)n;
                t->up_units_left -= total / g_unit_len;
                t->up_pos = total % g_unit_len;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c->wsrc = src;
            c->wlen = len > INT_MAX ? INT_MAX : len;
            c->write_wants_read = e == SSL_ERROR_WANT_READ;
            break;
        }
        tun_fail(c->t, "TLS write failed");
        return;
    }
    conn_update(c);
}

static void conn_eof(struct lconn *c, const char *why)
{
    struct tun *t = c->t;
    if (t->st == TS_OPEN && O.run == RUN_IDLE) {
        b4_on_close(t);
        tun_end(t);
        return;
    }
    if (t->st == TS_OPEN && O.run == RUN_BULK && t->done) {
        tun_end(t);
        return;
    }
    tun_fail(t, "%s channel: %s", c->is_in ? "IN" : "OUT", why);
}

static void conn_read(struct lconn *c)
{
    size_t budget = READ_BUDGET;
    c->read_wants_write = false;
    while (!c->dead) {
        if (!budget) {
            conn_mark_ready(c);
            break;
        }
        ERR_clear_error();
        int n = SSL_read(c->ssl, g_rbuf, sizeof g_rbuf);
        if (n > 0) {
            budget -= (size_t)n < budget ? (size_t)n : budget;
            stream_feed(c, g_rbuf, (size_t)n);
            /* setup exchanges: nothing buffered means the read-ahead most likely emptied the
             * socket, and epoll says if not; no read() that finds nothing (tsgwd does the same) */
            if (!c->dead && c->t->st != TS_OPEN && !SSL_has_pending(c->ssl))
                break;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_WANT_WRITE) {
            c->read_wants_write = true;
            break;
        }
        conn_eof(c, e == SSL_ERROR_ZERO_RETURN ? "closed by the server (close_notify)"
                                               : "closed by the server");
        return;
    }
    if (!c->dead && c->write_wants_read)
        conn_flush(c);
}

static void conn_on_io(struct io *io, uint32_t events)
{
    struct lconn *c = (struct lconn *)io;
    if (c->dead)
        return;
    switch (c->st) {
    case CS_CONNECT:
        conn_connected(c, events);
        return;
    case CS_TLS:
        conn_handshake(c);
        return;
    default:
        break;
    }
    if (events & EPOLLOUT) {
        if (c->read_wants_write)
            conn_read(c);
        if (!c->dead)
            conn_flush(c);
    }
    if (!c->dead && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_read(c);
    if (!c->dead)
        conn_update(c);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

static void random_guid(char out[40])
{
    uint8_t r[16];
    RAND_bytes(r, sizeof r);
    snprintf(out, 40, "{%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

static void http_request(struct lconn *c, const uint8_t *ntlm, size_t ntlm_len, bool body_follows)
{
    struct tun *t = c->t;
    static char b64[(SPNEGO_TOKEN_CAP / 3 + 2) * 4 + 1];
    buf_printf(&c->out,
               "%s /remoteDesktopGateway/ HTTP/1.1\r\nCache-Control: no-cache\r\n"
               "Pragma: no-cache\r\nAccept: */*\r\nUser-Agent: MS-RDGateway/1.0\r\nHost: %s\r\n",
               c->is_in ? "RDG_IN_DATA" : "RDG_OUT_DATA", O.gw_host);
    if (O.mode == MODE_WS)
        buf_printf(&c->out,
                   "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-Websocket-Version: 13\r\n"
                   "Sec-Websocket-Key: %s\r\n",
                   c->ws_key);
    else
        buf_append_str(&c->out, "Connection: Keep-Alive\r\n");
    buf_printf(&c->out, "RDG-Connection-Id: %s\r\n", t->conn_id);
    if (body_follows) {
        buf_append_str(&c->out, "Transfer-Encoding: chunked\r\n\r\n");
    } else {
        base64_encode(ntlm, ntlm_len, b64, sizeof b64);
        buf_printf(&c->out, "Content-Length: 0\r\nAuthorization: %s %s\r\n\r\n",
                   O.negotiate ? "Negotiate" : "NTLM", b64);
    }
    conn_flush(c);
}

/* Value of header name in the head block (NUL-terminated), copied to out; false if absent. */
static bool http_header(const char *head, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (!strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strcspn(v, "\r\n");
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= outsz)
                vl = outsz - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return true;
        }
    }
    return false;
}

static void start_in_channel(struct tun *t)
{
    t->in = conn_new(t, true);
    if (!t->in)
        tun_fail(t, "cannot open the IN channel: %s", strerror(errno));
}

static void send_handshake(struct tun *t)
{
    uint8_t p[14];
    wr16(p, TSGU_PKT_HANDSHAKE_REQUEST);
    wr16(p + 2, 0);
    wr32(p + 4, sizeof p);
    p[8] = 1;
    p[9] = 0;
    wr16(p + 10, 0);
    wr16(p + 12, TSGU_EXTAUTH_NONE);
    t->st = TS_HS;
    tun_send_pkt(t, p, sizeof p);
}

/* --negotiate: one gss_init_sec_context step with MIT's SPNEGO mechanism (what curl and
 * mstsc send: a NegTokenInit listing Kerberos first with the AP-REQ, mutual authentication,
 * RFC 5929 tls-server-end-point channel bindings from the server's certificate; --bad-cb
 * sends wrong ones, --no-cb none). in == NULL: the first token. 1 continue (out holds the
 * token), 0 complete, -1 failed (why). */
static int gss_step(struct lconn *c, const uint8_t *in, size_t inlen, struct buf *out, char *why,
                    size_t whysz)
{
    static gss_name_t target = GSS_C_NO_NAME;
    static gss_OID_desc spnego = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};
    OM_uint32 maj, mn;
    if (target == GSS_C_NO_NAME) {
        char n[160];
        snprintf(n, sizeof n, "HTTP@%s", O.spn_host);
        gss_buffer_desc nb = {strlen(n), n};
        maj = gss_import_name(&mn, &nb, GSS_C_NT_HOSTBASED_SERVICE, &target);
        if (GSS_ERROR(maj)) {
            snprintf(why, whysz, "cannot import the name %s", n);
            return -1;
        }
    }
    uint8_t app[KRB_CB_MAX];
    int al = -1;
    if (O.cb_mode != 2) {
        X509 *x = SSL_get0_peer_certificate(c->ssl);
        unsigned char *der = NULL;
        int dl = x ? i2d_X509(x, &der) : -1;
        al = dl > 0 ? krb_cb_from_cert_der(der, (size_t)dl, app, sizeof app) : -1;
        OPENSSL_free(der);
        if (al <= 0) {
            snprintf(why, whysz, "cannot compute channel bindings from the server certificate");
            return -1;
        }
        if (O.cb_mode == 1)
            app[al - 1] ^= 0xff;
    }
    struct gss_channel_bindings_struct cb;
    memset(&cb, 0, sizeof cb);
    cb.application_data.length = al > 0 ? (size_t)al : 0;
    cb.application_data.value = app;
    gss_buffer_desc ib = {inlen, (void *)in}, ob = GSS_C_EMPTY_BUFFER;
    maj = gss_init_sec_context(&mn, GSS_C_NO_CREDENTIAL, &c->gctx, target, &spnego,
                               GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, 0,
                               al > 0 ? &cb : GSS_C_NO_CHANNEL_BINDINGS, in ? &ib : GSS_C_NO_BUFFER,
                               NULL, &ob, NULL, NULL);
    int r = maj == GSS_S_COMPLETE ? 0 : maj == GSS_S_CONTINUE_NEEDED ? 1 : -1;
    if (r < 0) {
        OM_uint32 m2, more = 0;
        gss_buffer_desc t = GSS_C_EMPTY_BUFFER;
        gss_display_status(&m2, GSS_ERROR(maj) && mn ? mn : maj,
                           GSS_ERROR(maj) && mn ? GSS_C_MECH_CODE : GSS_C_GSS_CODE, GSS_C_NO_OID,
                           &more, &t);
        snprintf(why, whysz, "GSSAPI: %.*s", (int)t.length, t.value ? (char *)t.value : "");
        gss_release_buffer(&m2, &t);
    } else if (ob.length &&
               (ob.length > SPNEGO_TOKEN_CAP || buf_append(out, ob.value, ob.length) < 0)) {
        snprintf(why, whysz, "GSSAPI token too large");
        r = -1;
    }
    gss_release_buffer(&mn, &ob);
    return r;
}

/* --negotiate: the final 101/200 carries the acceptor's NegTokenResp (AP-REP, mechListMIC):
 * MIT's initiator verifies it (mutual authentication). */
static bool negotiate_finish(struct lconn *c, const char *head)
{
    char v[8192], why[200];
    if (!http_header(head, "WWW-Authenticate", v, sizeof v) || strncasecmp(v, "Negotiate ", 10)) {
        tun_fail(c->t,
                 "no mutual authentication token (WWW-Authenticate: Negotiate) in the answer");
        return false;
    }
    uint8_t tok[4096];
    int tl = base64_decode(v + 10, strlen(v + 10), tok, sizeof tok);
    struct buf out = BUF_INIT;
    int r = tl > 0 ? gss_step(c, tok, (size_t)tl, &out, why, sizeof why) : -1;
    buf_free(&out);
    if (tl <= 0)
        snprintf(why, sizeof why, "undecodable token");
    if (r != 0) {
        tun_fail(c->t, "mutual authentication failed: %s", r > 0 ? "more legs asked" : why);
        return false;
    }
    return true;
}

/* Processes one whole HTTP response head in c->in. Returns false when the tunnel failed. */
static bool http_response(struct lconn *c, char *head, size_t head_len)
{
    struct tun *t = c->t;
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        tun_fail(t, "malformed HTTP status line");
        return false;
    }
    char v[8192];
    uint64_t clen = 0;
    if (http_header(head, "Content-Length", v, sizeof v))
        clen = strtoull(v, NULL, 10);
    if (c->st == CS_AUTH1) {
        if (status != 401 || !http_header(head, "WWW-Authenticate", v, sizeof v) ||
            strncasecmp(v, "NTLM ", 5) != 0) {
            tun_fail(t, "expected 401 with an NTLM challenge, got %d", status);
            return false;
        }
        uint8_t chal[4096];
        int chlen = base64_decode(v + 5, strlen(v + 5), chal, sizeof chal);
        if (chlen <= 0) {
            tun_fail(t, "undecodable NTLM challenge");
            return false;
        }
        c->body_skip = clen;
        /* channel bindings from the server's certificate (cached while it stays the same) */
        X509 *x = SSL_get0_peer_certificate(c->ssl);
        uint8_t der[sizeof g_cert_der];
        int dl = x ? i2d_X509(x, NULL) : -1;
        if (dl <= 0 || (size_t)dl > sizeof der) {
            tun_fail(t, "no usable server certificate");
            return false;
        }
        uint8_t *dp = der;
        i2d_X509(x, &dp);
        if ((size_t)dl != g_cert_len || memcmp(der, g_cert_der, (size_t)dl) != 0) {
            uint8_t cb[2][16];
            unsigned ncb = 0;
            if (ntlm_cbt_from_cert_der(der, (size_t)dl, cb, &ncb) < 0 || !ncb) {
                tun_fail(t, "cannot compute channel bindings");
                return false;
            }
            memcpy(g_cbt, cb[0], 16);
            memcpy(g_cert_der, der, (size_t)dl);
            g_cert_len = (size_t)dl;
        }
        char user[160];
        user_name(t->user, user, sizeof user);
        struct buf auth = BUF_INIT;
        const char *why = NULL;
        if (ntlm_authenticate(c->negotiate, sizeof c->negotiate, chal, (size_t)chlen, O.domain,
                              user, g_cbt, &auth, &why) < 0) {
            buf_free(&auth);
            tun_fail(t, "NTLM: %s", why);
            return false;
        }
        c->st = CS_AUTH2;
        http_request(c, buf_data(&auth), buf_len(&auth), false);
        buf_free(&auth);
        return !c->dead;
    }
    /* CS_AUTH2: the final answer */
    if (status == 401) {
        tun_fail(t, "%s channel: access denied (401)", c->is_in ? "IN" : "OUT");
        return false;
    }
    if (O.negotiate && (status == 101 || status == 200) && !negotiate_finish(c, head))
        return false;
    if (c->is_in) {
        if (status != 200) {
            tun_fail(t, "IN channel: HTTP %d", status);
            return false;
        }
        c->body_skip = clen;
        c->st = CS_INBODY;
        http_request(c, NULL, 0, true);
        if (!c->dead)
            send_handshake(t);
        return !c->dead;
    }
    if (O.mode == MODE_WS) {
        char accept[29];
        if (status != 101 || !http_header(head, "Sec-WebSocket-Accept", v, sizeof v) ||
            ws_accept_key(c->ws_key, strlen(c->ws_key), accept) < 0 || strcasecmp(v, accept)) {
            tun_fail(t, "expected 101 with a valid Sec-WebSocket-Accept, got %d", status);
            return false;
        }
        c->st = CS_STREAM;
        send_handshake(t);
        return !c->dead;
    }
    if (status != 200) {
        tun_fail(t, "OUT channel: expected 200, got %d", status);
        return false;
    }
    c->st = CS_STREAM;
    c->seed_left = 10;
    start_in_channel(t);
    (void)head_len;
    return !c->dead;
}

/* Bytes from the server while HTTP responses are expected (c->in accumulates them). */
/* Length of the response head (through its blank line) at the start of c->in; 0 while it is
 * incomplete, and the tunnel fails if it grows past MAX_HTTP_HEAD. */
static size_t resp_head_len(struct lconn *c)
{
    const char *d = (const char *)buf_data(&c->in);
    size_t len = buf_len(&c->in);
    const char *end = len >= 4 ? memmem(d, len, "\r\n\r\n", 4) : NULL;
    if (!end) {
        if (len > MAX_HTTP_HEAD)
            tun_fail(c->t, "HTTP response head too large");
        return 0;
    }
    return (size_t)(end - d) + 4;
}

static void http_feed(struct lconn *c, const uint8_t *p, size_t n)
{
    if (buf_append(&c->in, p, n) < 0) {
        tun_fail(c->t, "out of memory");
        return;
    }
    while (!c->dead && (c->st == CS_AUTH1 || c->st == CS_AUTH2)) {
        if (c->body_skip) {
            size_t k = buf_len(&c->in) < c->body_skip ? buf_len(&c->in) : (size_t)c->body_skip;
            buf_consume(&c->in, k);
            c->body_skip -= k;
            if (c->body_skip)
                return;
        }
        const char *d = (const char *)buf_data(&c->in);
        size_t hl = resp_head_len(c);
        if (!hl)
            return;
        char *head = malloc(hl + 1);
        if (!head) {
            tun_fail(c->t, "out of memory");
            return;
        }
        memcpy(head, d, hl);
        head[hl] = 0;
        buf_consume(&c->in, hl);
        bool ok = http_response(c, head, hl);
        free(head);
        if (!ok)
            return;
    }
    if (c->dead)
        return;
    /* what follows the final head belongs to the stream */
    if (c->body_skip) {
        size_t k = buf_len(&c->in) < c->body_skip ? buf_len(&c->in) : (size_t)c->body_skip;
        buf_consume(&c->in, k);
        c->body_skip -= k;
    }
    if (buf_len(&c->in)) {
        struct buf rest = c->in;
        c->in = (struct buf)BUF_INIT;
        stream_feed(c, buf_data(&rest), buf_len(&rest));
        buf_free(&rest);
    } else {
        buf_free(&c->in);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* MS-TSGU packets, client -> server */

/* Frames or chunks one whole packet onto the channel that carries client -> server bytes. */
static void encode_pkt(struct buf *b, const uint8_t *pkt, size_t len, const uint8_t mask[4])
{
    if (O.mode == MODE_WS) {
        uint8_t h[10];
        size_t hl = ws_frame_header(h, WS_OP_BINARY, len);
        h[1] |= 0x80; /* masked, as a client must */
        buf_append(b, h, hl);
        buf_append(b, mask, 4);
        if (buf_reserve(b, len) < 0)
            return;
        uint8_t *dst = buf_tail(b);
        for (size_t i = 0; i < len; i++)
            dst[i] = pkt[i] ^ mask[i & 3];
        buf_commit(b, len);
    } else if (O.mode == MODE_LEGACY) {
        buf_printf(b, "%zX\r\n", len);
        buf_append(b, pkt, len);
        buf_append(b, "\r\n", 2);
    } else {
        buf_append(b, pkt, len);
    }
}

static void tun_send_pkt(struct tun *t, const uint8_t *pkt, size_t len)
{
    struct lconn *c = tun_sender(t);
    if (!c || c->dead)
        return;
    uint8_t mask[4] = {0};
    if (O.random_mask)
        RAND_bytes(mask, 4);
    encode_pkt(&c->out, pkt, len, mask);
    conn_flush(c);
}

static void send_tunnel_create(struct tun *t)
{
    uint8_t p[16] = {0};
    wr16(p, TSGU_PKT_TUNNEL_CREATE);
    wr32(p + 4, sizeof p);
    wr32(p + 8, TSGU_CAP_QUAR_SOH | TSGU_CAP_CONSENT_SIGN | TSGU_CAP_SERVICE_MSG); /* 0x0D */
    t->st = TS_TC;
    tun_send_pkt(t, p, sizeof p);
}

static void send_tunnel_auth(struct tun *t)
{
    struct buf name = BUF_INIT, p = BUF_INIT;
    utf8_to_utf16le(&name, O.client_name);
    buf_put_u16le(&name, 0);
    size_t len = 12 + buf_len(&name);
    buf_put_u16le(&p, TSGU_PKT_TUNNEL_AUTH);
    buf_put_u16le(&p, 0);
    buf_put_u32le(&p, (uint32_t)len);
    buf_put_u16le(&p, 0);
    buf_put_u16le(&p, (uint16_t)buf_len(&name));
    buf_append(&p, buf_data(&name), buf_len(&name));
    t->st = TS_TA;
    tun_send_pkt(t, buf_data(&p), buf_len(&p));
    buf_free(&name);
    buf_free(&p);
}

static void send_channel_create(struct tun *t)
{
    struct buf name = BUF_INIT, p = BUF_INIT;
    utf8_to_utf16le(&name, O.target_host);
    buf_put_u16le(&name, 0);
    size_t len = 16 + buf_len(&name);
    buf_put_u16le(&p, TSGU_PKT_CHANNEL_CREATE);
    buf_put_u16le(&p, 0);
    buf_put_u32le(&p, (uint32_t)len);
    buf_put_u8(&p, 1);
    buf_put_u8(&p, 0);
    buf_put_u16le(&p, (uint16_t)O.target_port);
    buf_put_u16le(&p, 3);
    buf_put_u16le(&p, (uint16_t)buf_len(&name));
    buf_append(&p, buf_data(&name), buf_len(&name));
    t->st = TS_CC;
    tun_send_pkt(t, buf_data(&p), buf_len(&p));
    buf_free(&name);
    buf_free(&p);
}

static void send_simple(struct tun *t, uint16_t type, bool with_status, uint32_t status)
{
    uint8_t p[12] = {0};
    size_t len = with_status ? 12 : 8;
    wr16(p, type);
    wr32(p + 4, (uint32_t)len);
    if (with_status)
        wr32(p + 8, status);
    tun_send_pkt(t, p, len);
}

/* ------------------------------------------------------------------------------------------ */
/* MS-TSGU packets, server -> client */

static void rx_payload(struct tun *t, const uint8_t *p, size_t n)
{
    if (O.verify && t->xfer && !t->done) {
        /* the sink's down bytes follow (offset * 131 + 7) mod 256; its ack is 'K' */
        uint64_t down = O.dir & DIR_DOWN ? O.bytes : 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t o = t->rx_got + i;
            uint8_t want = o < down ? (uint8_t)(o * 131u + 7u) : (uint8_t)'K';
            if (p[i] != want) {
                tun_fail(t, "payload mismatch at byte %llu: 0x%02x instead of 0x%02x",
                         (unsigned long long)o, p[i], want);
                return;
            }
        }
    }
    t->rx_got += n;
    if (t->xfer && !t->done && t->rx_got >= t->rx_want) {
        t->done = true;
        t->t_done = mono_ns();
        if (t->t_done > g_xfer_t1)
            g_xfer_t1 = t->t_done;
        g_done++;
        g_xfer_end++;
    }
}

static void b4_on_close_channel(struct tun *t);

static void on_control(struct lconn *c, uint16_t type, const uint8_t *b, size_t n)
{
    struct tun *t = c->t;
    uint32_t code;
    switch (type) {
    case TSGU_PKT_HANDSHAKE_RESPONSE:
        if (t->st != TS_HS || n < 4) {
            tun_fail(t, "unexpected HANDSHAKE_RESPONSE");
            return;
        }
        if ((code = rd32(b)) & 0x80000000u) {
            tun_fail(t, "HANDSHAKE_RESPONSE error 0x%08x", code);
            return;
        }
        send_tunnel_create(t);
        return;
    case TSGU_PKT_TUNNEL_RESPONSE:
        if (t->st != TS_TC || n < 6) {
            tun_fail(t, "unexpected TUNNEL_RESPONSE");
            return;
        }
        if ((code = rd32(b + 2)) & 0x80000000u) {
            tun_fail(t, "TUNNEL_RESPONSE error 0x%08x", code);
            return;
        }
        send_tunnel_auth(t);
        return;
    case TSGU_PKT_TUNNEL_AUTH_RESPONSE:
        if (t->st != TS_TA || n < 4) {
            tun_fail(t, "unexpected TUNNEL_AUTH_RESPONSE");
            return;
        }
        if ((code = rd32(b)) & 0x80000000u) {
            tun_fail(t, "TUNNEL_AUTH_RESPONSE error 0x%08x", code);
            return;
        }
        send_channel_create(t);
        return;
    case TSGU_PKT_CHANNEL_RESPONSE:
        if (t->st != TS_CC || n < 4) {
            tun_fail(t, "unexpected CHANNEL_RESPONSE");
            return;
        }
        if ((code = rd32(b)) & 0x80000000u) {
            tun_fail(t, "CHANNEL_RESPONSE error 0x%08x", code);
            return;
        }
        tun_opened(t);
        return;
    case TSGU_PKT_KEEPALIVE:
        if (t->st == TS_OPEN) /* FreeRDP echoes the server's keepalives once the channel is open */
            send_simple(t, TSGU_PKT_KEEPALIVE, false, 0);
        return;
    case TSGU_PKT_CLOSE_CHANNEL:
        if (t->st != TS_OPEN)
            return;
        t->close_channel_seen = true;
        b4_on_close_channel(t);
        /* as FreeRDP: answer with status 0 and wait for the server to close */
        send_simple(t, TSGU_PKT_CLOSE_CHANNEL_RESPONSE, true, 0);
        return;
    default:
        return; /* SERVICE_MESSAGE, REAUTH_MESSAGE, ...: ignored */
    }
}

static void tsgu_feed(struct lconn *c, const uint8_t *p, size_t n)
{
    struct tun *t = c->t;
    while (n && !c->dead) {
        if (c->p_skip) {
            size_t k = n < c->p_skip ? n : c->p_skip;
            c->p_skip -= (uint32_t)k;
            rx_payload(t, p, k);
            p += k;
            n -= k;
            continue;
        }
        if (c->pbody_need) {
            size_t k = c->pbody_need - c->pbody_len;
            if (k > n)
                k = n;
            memcpy(c->pbody + c->pbody_len, p, k);
            c->pbody_len += (uint32_t)k;
            p += k;
            n -= k;
            if (c->pbody_len == c->pbody_need) {
                uint8_t *body = c->pbody;
                uint32_t bl = c->pbody_len;
                c->pbody = NULL;
                c->pbody_need = c->pbody_len = 0;
                on_control(c, c->p_type, body, bl);
                free(body);
            }
            continue;
        }
        unsigned need = c->ph_len >= 8 && c->p_type == TSGU_PKT_DATA ? 10 : 8;
        size_t k = need - c->ph_len;
        if (k > n)
            k = n;
        memcpy(c->ph + c->ph_len, p, k);
        c->ph_len += (unsigned)k;
        p += k;
        n -= k;
        if (c->ph_len == 8) {
            c->p_type = rd16(c->ph);
            c->p_len = rd32(c->ph + 4);
            if (c->p_len < 8 || c->p_len > 10 + TSGU_MAX_DATA) {
                tun_fail(t, "invalid packet length %u", c->p_len);
                return;
            }
            if (c->p_type == TSGU_PKT_DATA)
                continue; /* the cbDataLen field comes next */
            c->ph_len = 0;
            if (c->p_len == 8) {
                on_control(c, c->p_type, NULL, 0);
            } else {
                c->pbody = malloc(c->p_len - 8);
                if (!c->pbody) {
                    tun_fail(t, "out of memory");
                    return;
                }
                c->pbody_need = c->p_len - 8;
                c->pbody_len = 0;
            }
        } else if (c->ph_len == 10) {
            uint16_t cb = rd16(c->ph + 8);
            c->ph_len = 0;
            if (t->st != TS_OPEN) {
                tun_fail(t, "DATA before the channel is open");
                return;
            }
            if (c->p_len != 10u + cb) {
                tun_fail(t, "DATA packetLength %u != 10 + %u", c->p_len, cb);
                return;
            }
            c->p_skip = cb;
        }
    }
}

static void ws_control(struct lconn *c)
{
    if (c->wf_op == WS_OP_PING) {
        struct buf *b = &c->out;
        uint8_t h[2] = {0x80 | WS_OP_PONG, (uint8_t)(0x80 | c->wctrl_len)};
        uint8_t mask[4] = {0};
        buf_append(b, h, 2);
        buf_append(b, mask, 4);
        buf_append(b, c->wctrl, c->wctrl_len);
        conn_flush(c);
    } else if (c->wf_op == WS_OP_CLOSE) {
        conn_eof(c, "WebSocket close from the server");
    }
}

static void ws_feed(struct lconn *c, const uint8_t *p, size_t n)
{
    while (n && !c->dead) {
        if (!c->in_frame) {
            size_t k = c->wh_need - c->wh_len;
            if (k > n)
                k = n;
            memcpy(c->wh + c->wh_len, p, k);
            c->wh_len += (unsigned)k;
            p += k;
            n -= k;
            if (c->wh_len < c->wh_need)
                continue;
            if (c->wh_len == 2) {
                if (c->wh[1] & 0x80) {
                    tun_fail(c->t, "masked frame from the server");
                    return;
                }
                unsigned l7 = c->wh[1] & 0x7F;
                if (l7 == 126 || l7 == 127) {
                    c->wh_need = l7 == 126 ? 4 : 10;
                    continue;
                }
            }
            uint64_t len = c->wh[1] & 0x7F;
            if (c->wh_len == 4)
                len = (uint64_t)c->wh[2] << 8 | c->wh[3];
            else if (c->wh_len == 10)
                for (int i = 0; i < 8; i++)
                    len = (i ? len << 8 : 0) | c->wh[2 + i];
            c->wf_op = c->wh[0] & 0x0F;
            c->wf_left = len;
            c->wh_len = 0;
            c->wh_need = 2;
            c->wctrl_len = 0;
            if (c->wf_op >= 8 && len > 125) {
                tun_fail(c->t, "oversized WebSocket control frame");
                return;
            }
            c->in_frame = true;
            if (len == 0) {
                c->in_frame = false;
                if (c->wf_op >= 8)
                    ws_control(c);
            }
            continue;
        }
        size_t k = n < c->wf_left ? n : (size_t)c->wf_left;
        if (c->wf_op == WS_OP_BINARY || c->wf_op == WS_OP_CONT) {
            tsgu_feed(c, p, k);
        } else if (c->wf_op >= 8) {
            memcpy(c->wctrl + c->wctrl_len, p, k);
            c->wctrl_len += (unsigned)k;
        }
        p += k;
        n -= k;
        c->wf_left -= k;
        if (!c->wf_left) {
            c->in_frame = false;
            if (c->wf_op >= 8 && !c->dead)
                ws_control(c);
        }
    }
}

/* tls-only --rounds: request K of the exchange. The first two carry an Authorization header
 * of the size of FreeRDP's NTLM NEGOTIATE and AUTHENTICATE (base64), as a setup's two HTTP
 * requests do; the rest are small, as its four MS-TSGU requests are. The last one asks for
 * /round/last, which a proxy can forward to a backend, as CHANNEL_CREATE connects the target. */
static void round_request(struct lconn *c)
{
    static const size_t token[] = {56, 640};
    unsigned k = c->rounds_done;
    char path[16];
    if (k + 1 == O.rounds)
        str_copy(path, "last", sizeof path);
    else
        snprintf(path, sizeof path, "%u", k + 1);
    buf_printf(&c->out,
               "GET /round/%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: MS-RDGateway/1.0\r\n"
               "Connection: Keep-Alive\r\n",
               path, O.gw_host);
    if (k < 2) {
        buf_append_str(&c->out, "Authorization: NTLM ");
        if (buf_reserve(&c->out, token[k]) < 0) {
            tun_fail(c->t, "out of memory");
            return;
        }
        memset(buf_tail(&c->out), 'A', token[k]);
        buf_commit(&c->out, token[k]);
        buf_append_str(&c->out, "\r\n");
    }
    buf_append_str(&c->out, "\r\n");
    conn_flush(c);
}

/* tls-only --rounds: one response (200, Content-Length body) completes each round. */
static void rounds_feed(struct lconn *c, const uint8_t *p, size_t n)
{
    if (buf_append(&c->in, p, n) < 0) {
        tun_fail(c->t, "out of memory");
        return;
    }
    while (!c->dead && c->st == CS_ROUNDS) {
        const char *d = (const char *)buf_data(&c->in);
        size_t len = buf_len(&c->in), hl = resp_head_len(c);
        if (!hl)
            return;
        char head[1024], v[32];
        if (hl >= sizeof head) {
            tun_fail(c->t, "HTTP response head too large");
            return;
        }
        memcpy(head, d, hl);
        head[hl] = 0;
        if (strncmp(head, "HTTP/1.1 200 ", 13) != 0) {
            tun_fail(c->t, "round %u: %.40s", c->rounds_done + 1, head);
            return;
        }
        uint64_t body = 0;
        if (!http_header(head, "Content-Length", v, sizeof v) ||
            parse_u64(v, 0, 65536, &body) < 0) {
            tun_fail(c->t, "round %u: no Content-Length", c->rounds_done + 1);
            return;
        }
        if (len < hl + body)
            return;
        buf_consume(&c->in, hl + (size_t)body);
        if (++c->rounds_done < O.rounds) {
            round_request(c);
            continue;
        }
        buf_free(&c->in);
        c->st = CS_STREAM;
        conn_update(c);
        tun_opened(c->t);
    }
}

static void stream_feed(struct lconn *c, const uint8_t *p, size_t n)
{
    if (c->st == CS_AUTH1 || c->st == CS_AUTH2) {
        http_feed(c, p, n);
        return;
    }
    if (c->st == CS_INBODY) /* the server never writes on IN after its 200 */
        return;
    if (c->st == CS_ROUNDS) {
        rounds_feed(c, p, n);
        return;
    }
    if (O.mode == MODE_TLS) {
        rx_payload(c->t, p, n);
        return;
    }
    if (O.mode == MODE_LEGACY) {
        if (c->seed_left) {
            size_t k = n < c->seed_left ? n : c->seed_left;
            c->seed_left -= (unsigned)k;
            p += k;
            n -= k;
        }
        tsgu_feed(c, p, n);
        return;
    }
    ws_feed(c, p, n);
}

static void on_tls_up(struct lconn *c)
{
    struct tun *t = c->t;
    if (!g_tls_version[0]) {
        snprintf(g_tls_version, sizeof g_tls_version, "%s", SSL_get_version(c->ssl));
        snprintf(g_cipher, sizeof g_cipher, "%s", SSL_get_cipher_name(c->ssl));
    }
    if (O.mode == MODE_TLS) {
        if (O.rounds) {
            c->st = CS_ROUNDS;
            round_request(c);
            return;
        }
        c->st = CS_STREAM;
        conn_update(c);
        tun_opened(t);
        return;
    }
    if (!c->is_in && O.mode == MODE_WS) {
        uint8_t k[16];
        RAND_bytes(k, sizeof k);
        base64_encode(k, sizeof k, c->ws_key, sizeof c->ws_key);
    }
    if (O.negotiate) { /* one leg: the NegTokenInit with the AP-REQ, then the answer */
        struct buf tok = BUF_INIT;
        char why[200];
        if (gss_step(c, NULL, 0, &tok, why, sizeof why) != 1) {
            buf_free(&tok);
            tun_fail(t, "%s", why);
            return;
        }
        c->st = CS_AUTH2;
        http_request(c, buf_data(&tok), buf_len(&tok), false);
        buf_free(&tok);
        return;
    }
    ntlm_negotiate(c->negotiate);
    c->st = CS_AUTH1;
    http_request(c, c->negotiate, sizeof c->negotiate, false);
}

/* ------------------------------------------------------------------------------------------ */
/* Tunnels */

static void tun_end(struct tun *t)
{
    if (t->ended)
        return;
    if (t->st == TS_OPEN) {
        g_open--;
        g_ended_open++;
    }
    t->ended = true;
    t->st = TS_ENDED;
    if (t->out)
        conn_close(t->out);
    if (t->in && t->in != t->out)
        conn_close(t->in);
    if (t->idx < g_ntuns && g_tuns[t->idx] == t)
        g_tuns[t->idx] = NULL;
    t->reap_next = g_reap_tuns;
    g_reap_tuns = t;
}

static void tun_fail(struct tun *t, const char *fmt, ...)
{
    if (t->ended)
        return;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_error("tunnel %u: %s", t->idx, msg);
    if (t->st == TS_OPEN) {
        if (O.run == RUN_BULK && !t->done) {
            g_failed++; /* a transfer that did not complete */
            if (t->xfer)
                g_xfer_end++;
        }
        if (O.run == RUN_IDLE)
            b4_on_close(t);
    } else {
        g_failed++;
        g_finished++;
    }
    tun_end(t);
}

static void tun_opened(struct tun *t)
{
    t->st = TS_OPEN;
    t->t_open = mono_ns();
    g_open++;
    g_established++;
    g_finished++;
    if (g_lat_us && g_nlat < O.setups)
        g_lat_us[g_nlat++] = (t->t_open - t->t_begin) / 1000u;
    if (O.run == RUN_SETUPS)
        tun_end(t);
}

static void tun_start(unsigned idx)
{
    struct tun *t = calloc(1, sizeof *t);
    g_started++;
    if (!t) {
        g_failed++;
        g_finished++;
        set_error("out of memory");
        return;
    }
    t->idx = idx;
    t->user = O.nusers ? idx % O.nusers : 0;
    t->t_begin = mono_ns();
    t->st = O.mode == MODE_TLS ? TS_CC : TS_HTTP;
    random_guid(t->conn_id);
    if (idx < g_ntuns)
        g_tuns[idx] = t;
    t->out = conn_new(t, false);
    if (!t->out) {
        t->ended = true; /* nothing to close */
        if (idx < g_ntuns)
            g_tuns[idx] = NULL;
        g_failed++;
        g_finished++;
        set_error("socket/connect: %s", strerror(errno));
        free(t);
        return;
    }
    if (O.mode != MODE_LEGACY)
        t->in = t->out;
}

/* Starts the transfer on every open tunnel (bulk run). */
static void xfer_start(void)
{
    g_xfer_t0 = mono_ns();
    uint64_t full = O.bytes / O.chunk, tail = O.bytes % O.chunk;
    for (unsigned i = 0; i < g_ntuns; i++) {
        struct tun *t = g_tuns[i];
        if (!t || t->st != TS_OPEN)
            continue;
        t->xfer = true;
        g_xfer_n++;
        t->rx_want = (O.dir & DIR_DOWN ? O.bytes : 0) + (O.dir & DIR_UP ? 1 : 0);
        uint8_t cmd[CMD_LEN] = {'T', 'S', 'G', 'B', 0};
        cmd[4] = O.dir == DIR_UP ? 'U' : O.dir == DIR_DOWN ? 'D' : 'B';
        cmd[5] = O.verify ? 1 : 0;
        for (int b = 0; b < 8; b++)
            cmd[8 + b] = (uint8_t)(O.bytes >> (8 * b));
        uint8_t pkt[10 + CMD_LEN];
        tsgu_data_header(pkt, CMD_LEN);
        memcpy(pkt + 10, cmd, CMD_LEN);
        if (O.mode == MODE_TLS)
            tun_send_pkt(t, cmd, CMD_LEN);
        else
            tun_send_pkt(t, pkt, sizeof pkt);
        if (t->ended)
            continue;
        if (O.dir & DIR_UP) {
            struct lconn *s = tun_sender(t);
            if (tail) {
                /* the odd-sized last unit goes first, through the out buffer */
                uint8_t *tmp = malloc(10 + (size_t)tail);
                if (!tmp) {
                    tun_fail(t, "out of memory");
                    continue;
                }
                memset(tmp + 10, 0x5A, (size_t)tail);
                tsgu_data_header(tmp, (uint16_t)tail);
                if (O.mode == MODE_TLS)
                    tun_send_pkt(t, tmp + 10, (size_t)tail);
                else
                    tun_send_pkt(t, tmp, 10 + (size_t)tail);
                free(tmp);
                if (t->ended)
                    continue;
            }
            t->up_units_left = full;
            t->up_pos = 0;
            conn_flush(s);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* B4: DisconnectUser through the admin socket, and the time until the user's tunnels close */

static void b4_report(bool timed_out)
{
    char name[200];
    user_name(B4.user, name, sizeof name);
    double ms = 1e-6;
    printf("B4 user=%s\\%s tunnels=%u closed=%u close_channel=%u", O.domain, name, B4.expect,
           B4.closed, B4.cc_seen);
    if (B4.admin)
        printf(" rpc_status=%d rpc_ms=%.3f server_ms=%.3f", B4.rpc_status,
               B4.rpc_done ? (double)(B4.rpc_done - B4.t0) * ms : -1.0,
               B4.server_us >= 0 ? (double)B4.server_us / 1000.0 : -1.0);
    printf(
        " first_close_channel_ms=%.3f first_close_ms=%.3f closed_ms=%.3f t0_us=%llu "
        "last_close_us=%llu%s\n",
        B4.first_cc ? (double)(B4.first_cc - B4.t0) * ms : -1.0,
        B4.first_close ? (double)(B4.first_close - B4.t0) * ms : -1.0,
        B4.last_close ? (double)(B4.last_close - B4.t0) * ms : -1.0,
        (unsigned long long)B4.t0_real_us,
        (unsigned long long)(B4.last_close ? B4.t0_real_us + (B4.last_close - B4.t0) / 1000u : 0),
        timed_out ? " timeout=1" : "");
    fflush(stdout);
    B4.active = false;
    B4.runs++;
    if (B4.afd >= 0) {
        io_del(&g_loop, &B4.aio);
        close(B4.afd);
        B4.afd = -1;
    }
    buf_free(&B4.resp);
}

static void b4_check(void)
{
    if (B4.active && B4.closed >= B4.expect && (!B4.admin || B4.rpc_done))
        b4_report(false);
}

static void b4_on_close_channel(struct tun *t)
{
    if (B4.active && t->user == B4.user) {
        B4.cc_seen++;
        if (!B4.first_cc)
            B4.first_cc = mono_ns();
    }
}

static void b4_on_close(struct tun *t)
{
    if (!B4.active || t->user != B4.user)
        return;
    uint64_t now = mono_ns();
    B4.closed++;
    if (!B4.first_close)
        B4.first_close = now;
    B4.last_close = now;
    b4_check();
}

static void b4_admin_io(struct io *io, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 64; i++) {
        if (buf_reserve(&B4.resp, 4096) < 0)
            break;
        ssize_t r = recv(io->fd, buf_tail(&B4.resp), 4096, 0);
        if (r > 0) {
            buf_commit(&B4.resp, (size_t)r);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break; /* EOF: the daemon closes after its answer */
    }
    B4.rpc_done = mono_ns();
    buf_put_u8(&B4.resp, 0);
    const char *s = (const char *)buf_data(&B4.resp);
    unsigned st = 0;
    if (sscanf(s, "TSGW/1\t%u", &st) == 1)
        B4.rpc_status = (int)st;
    const char *rv = strstr(s, "\nReturnValue\t");
    if (rv && B4.rpc_status == 0)
        B4.rpc_status = atoi(rv + 13);
    const char *tp = strstr(s, "\nServerTimeUs\t");
    if (tp)
        B4.server_us = atoll(tp + 14);
    io_del(&g_loop, &B4.aio);
    close(B4.afd);
    B4.afd = -1;
    b4_check();
}

static void b4_trigger(bool admin)
{
    if (B4.active) {
        fprintf(stderr, "tsgw-load: B4 run still in progress, signal ignored\n");
        return;
    }
    unsigned k = O.nusers ? O.nusers : 1;
    B4.afd = -1;
    B4.server_us = -1;
    B4.rpc_status = -1;
    B4.user = B4.next_user++ % k;
    B4.admin = admin;
    B4.expect = 0;
    for (unsigned i = 0; i < g_ntuns; i++)
        if (g_tuns[i] && g_tuns[i]->st == TS_OPEN && g_tuns[i]->user == B4.user)
            B4.expect++;
    B4.closed = B4.cc_seen = 0;
    B4.first_close = B4.last_close = B4.first_cc = B4.rpc_done = 0;
    char name[200];
    user_name(B4.user, name, sizeof name);
    B4.active = true;
    B4.t0_real_us = real_us();
    B4.t0 = mono_ns();
    if (!admin) {
        printf("ARMED user=%s\\%s tunnels=%u t0_us=%llu\n", O.domain, name, B4.expect,
               (unsigned long long)B4.t0_real_us);
        fflush(stdout);
        b4_check();
        return;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, O.admin_socket, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "tsgw-load: admin socket %s: %s\n", O.admin_socket, strerror(errno));
        if (fd >= 0)
            close(fd);
        B4.rpc_done = mono_ns();
        b4_check();
        return;
    }
    char account[300], param[320];
    snprintf(account, sizeof account, "%s\\%s", O.domain, name);
    snprintf(param, sizeof param, "UserName=%s", account);
    struct buf req = BUF_INIT;
    buf_append_str(
        &req, O.farm ? MGMT_MAGIC "\tfarm-invoke\tWin32_TSGatewayConnection\tDisconnectUser\t\t"
                     : MGMT_MAGIC "\tinvoke\tWin32_TSGatewayConnection\tDisconnectUser\t\t");
    mgmt_put_field(&req, param);
    buf_put_u8(&req, '\n');
    ssize_t w = send(fd, buf_data(&req), buf_len(&req), MSG_NOSIGNAL);
    buf_free(&req);
    if (w < 0) {
        close(fd);
        B4.rpc_done = mono_ns();
        b4_check();
        return;
    }
    fd_set_nonblock(fd);
    B4.afd = fd;
    B4.aio.fd = fd;
    B4.aio.cb = b4_admin_io;
    B4.aio.registered = false;
    B4.aio.events = 0;
    io_set(&g_loop, &B4.aio, EPOLLIN);
}

/* ------------------------------------------------------------------------------------------ */
/* Main */

static void on_signal(struct io *io, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            g_stop = true;
        else if (si.ssi_signo == SIGUSR1 && O.run == RUN_IDLE)
            b4_trigger(O.admin_socket != NULL);
        else if (si.ssi_signo == SIGUSR2 && O.run == RUN_IDLE)
            b4_trigger(false);
    }
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024;
    else if (*end == 'g' || *end == 'G')
        mul = 1024ull * 1024 * 1024;
    else if (*end)
        return -1;
    if (*end && end[1])
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

static bool loopback_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *sl, char *host,
                              size_t hostsz, unsigned *port)
{
    if (parse_hostport(s, ss, sl) < 0)
        return false;
    bool lo = false;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        lo = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        lo = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        *port = ntohs(a->sin6_port);
    }
    sockaddr_to_str((const struct sockaddr *)ss, host, hostsz);
    return lo;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: tsgw-load --gateway HOST:PORT [options]\n"
           "  --mode ws|legacy|tls-only   gateway transport, or bare TLS + raw bytes (default ws)\n"
           "  --gateway HOST:PORT         tsgwd, or the TLS proxy for tls-only (loopback only)\n"
           "  --target HOST:PORT          resource asked for in CHANNEL_CREATE (tools/tsgw-sink)\n"
           "  --tunnels N                 tunnels to open (default 1)\n"
           "  --bytes B                   bulk: payload bytes per tunnel and direction (K/M/G)\n"
           "  --direction up|down|both    bulk: client->target, target->client, both (default up)\n"
           "  --idle                      open N tunnels, print READY, hold until SIGTERM\n"
           "                              (SIGUSR1/SIGUSR2: B4 disconnect measurement)\n"
           "  --setups N                  complete N setups, each closed once open\n"
           "  --concurrency C             setups in flight at once (default 64)\n"
           "  --rounds K                  tls-only --setups: K HTTP/1.1 keep-alive requests\n"
           "                              after the handshake, each awaiting its 200 (the\n"
           "                              last one asks for /round/last)\n"
           "  --user U                    'DOMAIN\\user' or user (with --domain)\n"
           "  --domain D                  NTLM domain as sent\n"
           "  --password P | --nthash HEX credentials (password on the command line: tests only)\n"
           "  --users-prefix P --users K  tunnel i authenticates as P<i %% K> (same password)\n"
           "  --admin-socket SOCK         --idle: SIGUSR1 calls DisconnectUser for the next user\n"
           "  --farm                      ... farm-wide (the admin socket's farm-invoke verb)\n"
           "  --spn-host NAME             host in the SPN HTTP/NAME (default: the gateway host)\n"
           "  --negotiate                 Kerberos through SPNEGO with the default ccache\n"
           "                              (KRB5CCNAME), target HTTP@<spn-host>, channel bindings\n"
           "  --bad-cb | --no-cb          --negotiate: wrong channel bindings / none\n"
           "  --chunk N                   DATA payload bytes per packet (default 65535)\n"
           "  --ciphersuites LIST         TLS 1.3 suites offered (default TLS_AES_128_GCM_SHA256)\n"
           "  --ws-mask zero|random       WebSocket masking key (default zero, see docs/bench.md)\n"
           "  --timeout S                 give up after S seconds (default 300; --idle 3600)\n"
           "  --verify                    bulk: check every byte received (and ask the sink to\n"
           "                              check every byte sent)\n");
}

static void print_result(void)
{
    double setup_s = (double)((g_t_all_open ? g_t_all_open : mono_ns()) - g_t0) / 1e9;
    const char *mode = O.mode == MODE_WS ? "ws" : O.mode == MODE_LEGACY ? "legacy" : "tls-only";
    printf("{\"tool\":\"tsgw-load\",\"mode\":\"%s\",", mode);
    if (O.run == RUN_SETUPS) {
        double s = (double)(mono_ns() - g_t0) / 1e9;
        unsigned ok = g_nlat;
        uint64_t p50 = 0, p99 = 0;
        if (ok) {
            for (unsigned i = 1; i < ok; i++) { /* insertion sort: N is at most a few 10^4 */
                uint64_t v = g_lat_us[i];
                unsigned j = i;
                while (j && g_lat_us[j - 1] > v) {
                    g_lat_us[j] = g_lat_us[j - 1];
                    j--;
                }
                g_lat_us[j] = v;
            }
            p50 = g_lat_us[ok / 2];
            p99 = g_lat_us[(size_t)((ok - 1) * 0.99)];
        }
        printf("\"run\":\"setups\",\"setups\":%u,\"ok\":%u,\"failed\":%u,\"concurrency\":%u,"
               "\"seconds\":%.3f,\"per_s\":%.1f,\"latency_ms_p50\":%.3f,\"latency_ms_p99\":%.3f,",
               O.setups, ok, g_failed, O.concurrency, s, s > 0 ? ok / s : 0.0, p50 / 1000.0,
               p99 / 1000.0);
    } else if (O.run == RUN_IDLE) {
        printf("\"run\":\"idle\",\"tunnels\":%u,\"established\":%u,\"failed\":%u,"
               "\"setup_seconds\":%.3f,\"open_at_exit\":%u,\"b4_runs\":%u,",
               O.tunnels, g_established, g_failed, setup_s, g_open, B4.runs);
    } else {
        double s = g_xfer_t1 > g_xfer_t0 ? (double)(g_xfer_t1 - g_xfer_t0) / 1e9 : 0.0;
        unsigned ndir = O.dir == DIR_BOTH ? 2 : 1;
        double total = (double)O.bytes * g_done * ndir;
        const char *dir = O.dir == DIR_UP ? "up" : O.dir == DIR_DOWN ? "down" : "both";
        printf("\"run\":\"bulk\",\"tunnels\":%u,\"established\":%u,\"completed\":%u,\"failed\":%u,"
               "\"direction\":\"%s\",\"bytes_per_tunnel\":%llu,\"payload_bytes\":%.0f,"
               "\"setup_seconds\":%.3f,\"seconds\":%.4f,\"mbps\":%.1f,\"chunk\":%u,",
               O.tunnels, g_established, g_done, g_failed, dir, (unsigned long long)O.bytes, total,
               setup_s, s, s > 0 ? total / s / 1e6 : 0.0, O.chunk);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("\"client_cpu_s\":%.3f,\"tls_version\":\"%s\",\"cipher\":\"%s\",\"ws_mask\":\"%s\","
           "\"error\":\"",
           cpu, g_tls_version, g_cipher, O.random_mask ? "random" : "zero");
    for (const char *e = g_first_error; *e; e++)
        if (*e == '"' || *e == '\\')
            printf("\\%c", *e);
        else if ((unsigned char)*e >= 0x20)
            putchar(*e);
    printf("\"}\n");
    fflush(stdout);
}

static void reap(void)
{
    while (g_reap_conns) {
        struct lconn *c = g_reap_conns;
        g_reap_conns = c->reap_next;
        conn_free(c);
    }
    while (g_reap_tuns) {
        struct tun *t = g_reap_tuns;
        g_reap_tuns = t->reap_next;
        free(t);
    }
}

static int build_template(void)
{
    uint8_t *pkt = malloc(10 + (size_t)O.chunk);
    struct buf unit = BUF_INIT;
    if (!pkt)
        return -1;
    memset(pkt + 10, 0x5A, O.chunk);
    if (O.mode == MODE_TLS) {
        buf_append(&unit, pkt + 10, O.chunk);
    } else {
        tsgu_data_header(pkt, (uint16_t)O.chunk);
        encode_pkt(&unit, pkt, 10 + (size_t)O.chunk, g_mask);
    }
    free(pkt);
    g_unit_len = buf_len(&unit);
    g_tpl_units = TEMPLATE_MIN / g_unit_len + 1;
    g_tpl = malloc(g_unit_len * g_tpl_units);
    if (!g_tpl || !g_unit_len) {
        buf_free(&unit);
        return -1;
    }
    for (size_t i = 0; i < g_tpl_units; i++)
        memcpy(g_tpl + i * g_unit_len, buf_data(&unit), g_unit_len);
    buf_free(&unit);
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        OPT_MODE = 256,
        OPT_GATEWAY,
        OPT_TARGET,
        OPT_TUNNELS,
        OPT_BYTES,
        OPT_DIR,
        OPT_IDLE,
        OPT_SETUPS,
        OPT_CONC,
        OPT_USER,
        OPT_DOMAIN,
        OPT_PASSWORD,
        OPT_NTHASH,
        OPT_PREFIX,
        OPT_USERS,
        OPT_ADMIN,
        OPT_FARM,
        OPT_SPN,
        OPT_CHUNK,
        OPT_CIPHERS,
        OPT_MASK,
        OPT_TIMEOUT,
        OPT_VERIFY,
        OPT_NEGOTIATE,
        OPT_BADCB,
        OPT_NOCB,
        OPT_ROUNDS,
    };
    static const struct option opts[] = {
        {"mode", required_argument, NULL, OPT_MODE},
        {"gateway", required_argument, NULL, OPT_GATEWAY},
        {"target", required_argument, NULL, OPT_TARGET},
        {"tunnels", required_argument, NULL, OPT_TUNNELS},
        {"bytes", required_argument, NULL, OPT_BYTES},
        {"direction", required_argument, NULL, OPT_DIR},
        {"idle", no_argument, NULL, OPT_IDLE},
        {"setups", required_argument, NULL, OPT_SETUPS},
        {"concurrency", required_argument, NULL, OPT_CONC},
        {"user", required_argument, NULL, OPT_USER},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"nthash", required_argument, NULL, OPT_NTHASH},
        {"users-prefix", required_argument, NULL, OPT_PREFIX},
        {"users", required_argument, NULL, OPT_USERS},
        {"admin-socket", required_argument, NULL, OPT_ADMIN},
        {"farm", no_argument, NULL, OPT_FARM},
        {"spn-host", required_argument, NULL, OPT_SPN},
        {"chunk", required_argument, NULL, OPT_CHUNK},
        {"ciphersuites", required_argument, NULL, OPT_CIPHERS},
        {"ws-mask", required_argument, NULL, OPT_MASK},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"verify", no_argument, NULL, OPT_VERIFY},
        {"negotiate", no_argument, NULL, OPT_NEGOTIATE},
        {"bad-cb", no_argument, NULL, OPT_BADCB},
        {"no-cb", no_argument, NULL, OPT_NOCB},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    O.mode = MODE_WS;
    O.dir = DIR_UP;
    O.run = RUN_BULK;
    O.tunnels = 1;
    O.concurrency = 64;
    O.chunk = TSGU_MAX_DATA;
    O.ciphersuites = "TLS_AES_128_GCM_SHA256";
    O.client_name = "TSGWLOAD";
    O.bytes = 64ull << 20;
    str_copy(O.target_host, "127.0.0.1", sizeof O.target_host);
    O.target_port = 3389;
    bool have_gw = false;
    uint64_t v;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_MODE:
            if (!strcmp(optarg, "ws"))
                O.mode = MODE_WS;
            else if (!strcmp(optarg, "legacy"))
                O.mode = MODE_LEGACY;
            else if (!strcmp(optarg, "tls-only") || !strcmp(optarg, "tls"))
                O.mode = MODE_TLS;
            else
                goto bad;
            break;
        case OPT_GATEWAY: {
            unsigned port;
            if (!loopback_hostport(optarg, &O.gw_ss, &O.gw_len, O.gw_host, sizeof O.gw_host,
                                   &port)) {
                fprintf(stderr, "tsgw-load: --gateway must be a loopback HOST:PORT\n");
                return 2;
            }
            have_gw = true;
            break;
        }
        case OPT_TARGET: {
            struct sockaddr_storage ss;
            socklen_t sl;
            if (!loopback_hostport(optarg, &ss, &sl, O.target_host, sizeof O.target_host,
                                   &O.target_port)) {
                fprintf(stderr, "tsgw-load: --target must be a loopback HOST:PORT\n");
                return 2;
            }
            break;
        }
        case OPT_TUNNELS:
            if (parse_u64(optarg, 1, 1000000, &v) < 0)
                goto bad;
            O.tunnels = (unsigned)v;
            break;
        case OPT_BYTES:
            if (parse_size(optarg, &O.bytes) < 0)
                goto bad;
            break;
        case OPT_DIR:
            if (!strcmp(optarg, "up"))
                O.dir = DIR_UP;
            else if (!strcmp(optarg, "down"))
                O.dir = DIR_DOWN;
            else if (!strcmp(optarg, "both"))
                O.dir = DIR_BOTH;
            else
                goto bad;
            break;
        case OPT_IDLE:
            O.run = RUN_IDLE;
            break;
        case OPT_SETUPS:
            if (parse_u64(optarg, 1, 10000000, &v) < 0)
                goto bad;
            O.setups = (unsigned)v;
            O.run = RUN_SETUPS;
            break;
        case OPT_CONC:
            if (parse_u64(optarg, 1, 100000, &v) < 0)
                goto bad;
            O.concurrency = (unsigned)v;
            break;
        case OPT_USER: {
            const char *bs = strchr(optarg, '\\');
            if (bs) {
                size_t dl = (size_t)(bs - optarg);
                if (dl >= sizeof O.domain)
                    goto bad;
                memcpy(O.domain, optarg, dl);
                O.domain[dl] = 0;
                str_copy(O.user, bs + 1, sizeof O.user);
            } else {
                str_copy(O.user, optarg, sizeof O.user);
            }
            break;
        }
        case OPT_DOMAIN:
            str_copy(O.domain, optarg, sizeof O.domain);
            break;
        case OPT_PASSWORD:
            if (ntlm_nt_hash(optarg, O.nthash) < 0)
                goto bad;
            O.have_hash = true;
            break;
        case OPT_NTHASH:
            if (strlen(optarg) != 32 || hex_decode(optarg, O.nthash, 16) < 0)
                goto bad;
            O.have_hash = true;
            break;
        case OPT_PREFIX:
            str_copy(O.users_prefix, optarg, sizeof O.users_prefix);
            break;
        case OPT_USERS:
            if (parse_u64(optarg, 1, 1000000, &v) < 0)
                goto bad;
            O.nusers = (unsigned)v;
            break;
        case OPT_ADMIN:
            O.admin_socket = optarg;
            break;
        case OPT_FARM:
            O.farm = true;
            break;
        case OPT_SPN:
            str_copy(O.spn_host, optarg, sizeof O.spn_host);
            break;
        case OPT_CHUNK:
            if (parse_u64(optarg, 1, TSGU_MAX_DATA, &v) < 0)
                goto bad;
            O.chunk = (unsigned)v;
            break;
        case OPT_CIPHERS:
            O.ciphersuites = optarg;
            break;
        case OPT_MASK:
            if (!strcmp(optarg, "random"))
                O.random_mask = true;
            else if (strcmp(optarg, "zero"))
                goto bad;
            break;
        case OPT_TIMEOUT:
            if (parse_u64(optarg, 1, 86400, &v) < 0)
                goto bad;
            O.timeout_s = (unsigned)v;
            break;
        case OPT_VERIFY:
            O.verify = true;
            break;
        case OPT_NEGOTIATE:
            O.negotiate = true;
            break;
        case OPT_BADCB:
            O.cb_mode = 1;
            break;
        case OPT_NOCB:
            O.cb_mode = 2;
            break;
        case OPT_ROUNDS:
            if (parse_u64(optarg, 1, 100, &v) < 0)
                goto bad;
            O.rounds = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
        bad:
            if (o != '?')
                fprintf(stderr, "tsgw-load: bad value for --%s\n", opts[o - OPT_MODE].name);
            usage(stderr);
            return 2;
        }
    }
    if (!have_gw || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (O.rounds && (O.mode != MODE_TLS || O.run != RUN_SETUPS)) {
        fprintf(stderr, "tsgw-load: --rounds goes with --mode tls-only --setups\n");
        return 2;
    }
    if (O.mode != MODE_TLS && !O.negotiate &&
        (!O.have_hash || (!O.user[0] && !O.users_prefix[0]))) {
        fprintf(stderr, "tsgw-load: --user (or --users-prefix) and --password/--nthash needed\n");
        return 2;
    }
    if (!O.spn_host[0])
        str_copy(O.spn_host, O.gw_host, sizeof O.spn_host);
    if (!O.timeout_s)
        O.timeout_s = O.run == RUN_IDLE ? 3600 : 300;
    if (O.random_mask)
        RAND_bytes(g_mask, sizeof g_mask);

    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx) {
        fprintf(stderr, "tsgw-load: SSL_CTX_new failed\n");
        return 1;
    }
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL); /* a benchmark, on loopback */
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    /* one read() per flight rather than two per record (every mode alike, so the bare-handshake
     * baseline gets the same lean client); conn_read drains OpenSSL's buffer every time */
    SSL_CTX_set_read_ahead(g_ctx, 1);
    SSL_CTX_set_mode(g_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_ciphersuites(g_ctx, O.ciphersuites) != 1) {
        fprintf(stderr, "tsgw-load: bad --ciphersuites '%s'\n", O.ciphersuites);
        return 2;
    }
    if (build_template() < 0 || loop_init(&g_loop) < 0) {
        fprintf(stderr, "tsgw-load: out of memory\n");
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_sigio.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    g_sigio.cb = on_signal;
    io_set(&g_loop, &g_sigio, EPOLLIN);

    unsigned total = O.run == RUN_SETUPS ? O.setups : O.tunnels;
    g_ntuns = total;
    g_tuns = calloc(g_ntuns, sizeof *g_tuns);
    if (O.run == RUN_SETUPS)
        g_lat_us = calloc(O.setups, sizeof *g_lat_us);
    if (!g_tuns || (O.run == RUN_SETUPS && !g_lat_us)) {
        fprintf(stderr, "tsgw-load: out of memory\n");
        return 1;
    }
    g_t0 = mono_ns();
    uint64_t deadline = g_t0 + (uint64_t)O.timeout_s * 1000000000ull;
    uint64_t next_scan = g_t0;
    bool ready_printed = false, xfer_started = false, finished = false;
    int rc = 0;
    while (!g_stop && !finished) {
        /* keep C setups in flight */
        while (g_started < total && g_started - g_finished < O.concurrency)
            tun_start(g_started);
        int r = loop_run_once(&g_loop, g_ready ? 0 : 50);
        if (r < 0) {
            fprintf(stderr, "tsgw-load: epoll_wait: %s\n", strerror(-r));
            rc = 1;
            break;
        }
        struct lconn *list = g_ready;
        g_ready = NULL;
        while (list) {
            struct lconn *c = list;
            list = c->ready_next;
            c->in_ready = false;
            if (!c->dead) {
                conn_read(c);
                conn_update(c);
            }
        }
        uint64_t now = mono_ns();
        /* setups that take too long fail (bounded) */
        if (now >= next_scan) {
            next_scan = now + 500000000ull;
            for (unsigned i = 0; i < g_started && i < g_ntuns; i++) {
                struct tun *t = g_tuns[i];
                if (t && t->st != TS_OPEN && now - t->t_begin > SETUP_TIMEOUT_NS)
                    tun_fail(t, "setup timed out");
            }
        }
        bool all_tried = g_finished >= total;
        if (all_tried && !g_t_all_open)
            g_t_all_open = now;
        switch (O.run) {
        case RUN_SETUPS:
            if (all_tried)
                finished = true;
            break;
        case RUN_IDLE:
            if (all_tried && !ready_printed) {
                printf("READY %u failed=%u\n", g_open, g_failed);
                fflush(stdout);
                ready_printed = true;
            }
            if (B4.active && now - B4.t0 > B4_TIMEOUT_NS)
                b4_report(true);
            break;
        case RUN_BULK:
            if (all_tried && !xfer_started) {
                xfer_started = true;
                if (!g_open) {
                    finished = true;
                    rc = 1;
                    break;
                }
                xfer_start();
            }
            if (xfer_started && g_xfer_end >= g_xfer_n) {
                if (!g_xfer_t1)
                    g_xfer_t1 = now;
                finished = true;
            }
            break;
        }
        reap();
        if (now > deadline) {
            set_error("timed out after %u s", O.timeout_s);
            rc = 1;
            break;
        }
    }
    if (O.run == RUN_BULK && g_failed)
        rc = 1;
    print_result();
    for (unsigned i = 0; i < g_ntuns; i++)
        if (g_tuns[i])
            tun_end(g_tuns[i]);
    reap();
    free(g_tuns);
    free(g_lat_us);
    free(g_tpl);
    SSL_CTX_free(g_ctx);
    loop_free(&g_loop);
    return rc;
}
