/* The MS-TSGU server state machine of one tunnel, the target connection and the relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/ops.h"
#include "daemon/farm.h"
#include "daemon/resolver.h"
#include "policy/policy.h"
#include "tsgu/tsgu.h"

#define SERVER_CAPS (TSGU_CAP_IDLE_TIMEOUT | TSGU_CAP_SERVICE_MSG)
/* Server-to-client DATA carries at most 16384 bytes: what a Windows RD Gateway sends (the
 * mstsc captures, docs/windows-clients.md D14); nothing shows mstsc taking more. The WebSocket
 * frame of such a packet always has a 4-byte header. */
#define TARGET_READ 16384
#define TARGET_READ_WS 16384

static void target_on_io(struct io *io, uint32_t events);

/* ---------- events ---------- */

static void ev_common(struct event_line *e, int id, const struct tunnel *t)
{
    ev_begin(e, id);
    ev_str(e, "Username", t->reg.user);
    ev_str(e, "IpAddress", t->reg.client_addr);
    ev_u64(e, "TunnelId", t->id);
}

/* AuthType of the tunnel's events: the scheme its logon used, as event 201 reports a failed one
 * ("NTLM", "Negotiate", "Basic") */
static const char *auth_type(const struct tunnel *t)
{
    return t->who && t->who->method[0] ? t->who->method : "NTLM";
}

static void log_simple_event(const struct tunnel *t, int id, const char *resource, uint32_t error,
                             const char *reason)
{
    if (!gw_event_wanted(t->gw, id))
        return;
    struct event_line e;
    ev_common(&e, id, t);
    ev_str(&e, "AuthType", auth_type(t));
    if (resource)
        ev_str(&e, "Resource", resource);
    ev_str(&e, "ConnectionProtocol", "HTTP");
    ev_u64(&e, "ErrorCode", error);
    if (reason)
        ev_str(&e, "Reason", reason);
    ev_end(&e);
}

/* ---------- creation ---------- */

/* A tunnel without an open channel is indexed by user in gw->chanless (gateway.h). On out of
 * memory it is not (a DisconnectUser then misses it; it still ends by its own timeouts). */
static void chanless_add(struct tunnel *t)
{
    if (t->in_chanless || t->reg.linked)
        return;
    if (reg_add(&t->gw->chanless, &t->reg) == 0)
        t->in_chanless = true;
    else
        log_warn("tunnel %llu: index insert failed", (unsigned long long)t->id);
}

/* Must run while t->reg's key (tunnel id, channel id) is the one it was added with. */
static void chanless_remove(struct tunnel *t)
{
    if (!t->in_chanless)
        return;
    reg_remove(&t->gw->chanless, &t->reg);
    t->in_chanless = false;
}

struct tunnel *tunnel_new(struct gateway *gw, struct conn *out, bool websocket)
{
    if (gw->cfg->lim.max_tunnels && gw->ntunnels >= gw->cfg->lim.max_tunnels)
        return NULL;
    struct tunnel *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->gw = gw;
    t->id = gw->next_tunnel_id++;
    t->websocket = websocket;
    t->out = out;
    t->in = websocket ? out : NULL;
    t->state = TUN_INITIALIZED;
    t->tio.fd = -1;
    t->tio.cb = target_on_io;
    t->next_channel_id = 1;
    t->created_ms = now_ms();
    t->deadline_ms = t->created_ms + gw->cfg->lim.setup_ms;
    if (out->unsupported_auth) {
        t->unsupported_auth = true;
        t->deadline_ms = t->created_ms + gw->cfg->lim.auth_ms;
    }
    t->pkt_in.cap_limit = 4u * gw->cfg->lim.max_packet;
    t->to_target.cap_limit = (size_t)gw->cfg->lim.relay_buffer + 2u * gw->cfg->lim.max_packet;
    /* the tunnel shares its user's identity (identity.h) and its registry entry points in */
    out->who = identity_share(out->who);
    t->who = identity_ref(out->who);
    t->reg.user = t->who ? t->who->account : "";
    t->reg.full_name = t->who ? t->who->full_name : "";
    t->reg.resource = "";
    str_copy(t->reg.client_addr, out->peer_str, sizeof t->reg.client_addr);
    t->reg.tunnel_id = t->id;
    t->reg.transport = REG_TRANSPORT_HTTP;
    t->reg.websocket = websocket;
    t->reg.owner = t;
    out->tun = t;
    t->next = gw->tunnels;
    if (gw->tunnels)
        gw->tunnels->prev = t;
    gw->tunnels = t;
    gw->ntunnels++;
    chanless_add(t);
    return t;
}

/* ---------- output ---------- */

void tunnel_emit(struct tunnel *t, const uint8_t *pkt, size_t len)
{
    struct conn *c = t->out;
    if (!c || c->dead)
        return;
    if (t->websocket) {
        uint8_t h[10];
        size_t hl = ws_frame_header(h, WS_OP_BINARY, len);
        buf_append(&c->out, h, hl);
    }
    if (buf_append(&c->out, pkt, len) < 0) {
        conn_close(c, "output buffer full");
        return;
    }
    if (t->gw->defer_flush) {
        /* a batch (DisconnectUser of many tunnels) answers first and writes after */
        if (!c->in_flush_list) {
            c->in_flush_list = true;
            c->flush_next = t->gw->flush_list;
            t->gw->flush_list = c;
        }
        return;
    }
    conn_flush(c);
}

static void emit_scratch(struct tunnel *t)
{
    struct buf *s = &t->gw->scratch;
    tunnel_emit(t, buf_data(s), buf_len(s));
    buf_clear(s);
}

/* ---------- close ---------- */

/* Why the tunnel or its channel ended (NULL or "": none), at most 95 bytes as it always was. */
static void set_end_reason(struct tunnel *t, const char *why)
{
    if (why == t->end_reason)
        return;
    char *d = why && *why ? strndup(why, 95) : NULL;
    free(t->end_reason);
    t->end_reason = d;
}

/* The candidates are needed only while connecting. */
static void drop_cands(struct tunnel *t)
{
    free(t->cands);
    t->cands = NULL;
    t->ncand = t->cur_cand = 0;
}

/* The open channel's target name for the registry (NULL: none). */
static void set_resource(struct tunnel *t, const char *name)
{
    if (t->reg.resource && t->reg.resource[0])
        free((char *)t->reg.resource);
    t->reg.resource = "";
    if (name && name[0]) {
        char *copy = strdup(name);
        if (copy)
            t->reg.resource = copy;
    }
}

static void unpair(struct tunnel *t)
{
    struct tunnel **pp = &t->gw->pairing;
    for (; *pp; pp = &(*pp)->pair_next)
        if (*pp == t) {
            *pp = t->pair_next;
            break;
        }
    t->pair_next = NULL;
}

static void close_target(struct tunnel *t)
{
    if (t->tio.fd >= 0) {
        io_forget(&t->tio); /* close() takes it out of epoll */
        close(t->tio.fd);
        t->tio.fd = -1;
    }
}

static void log_disconnect(struct tunnel *t)
{
    uint64_t dur = (now_ms() - t->reg.connected_ms) / 1000;
    /* 202: an administrator ended it; 307: the CAP's session timeout; 303: anything else */
    int id = t->admin_closed ? 202 : t->session_timed_out ? 307 : 303;
    if (!gw_event_wanted(t->gw, id))
        return;
    struct event_line e;
    ev_common(&e, id, t);
    ev_str(&e, "Resource", t->reg.resource);
    ev_u64(&e, "Port", t->reg.port);
    ev_u64(&e, "ChannelId", t->reg.channel_id);
    ev_u64(&e, "BytesReceived", t->reg.bytes_from_client);
    ev_u64(&e, "BytesTransfered", t->reg.bytes_to_client);
    ev_u64(&e, "SessionDuration", dur);
    ev_str(&e, "ConnectionProtocol", "HTTP");
    if (t->end_reason)
        ev_str(&e, "Reason", t->end_reason);
    ev_end(&e);
}

void tunnel_close(struct tunnel *t, const char *why)
{
    if (!t || t->dead)
        return;
    struct gateway *gw = t->gw;
    t->dead = true;
    log_debug("tunnel %llu closed: %s", (unsigned long long)t->id, why);
    if (t->target_connected)
        stats_channel_closed(t->admin_closed        ? 202
                             : t->session_timed_out ? 307
                                                    : 303,
                             t->end_reason ? t->end_reason : why, t->reg.bytes_from_client,
                             t->reg.bytes_to_client);
    chanless_remove(t);
    if (t->reg.linked) {
        if (!t->end_reason)
            set_end_reason(t, why);
        log_disconnect(t);
        reg_remove(&gw->reg, &t->reg);
    }
    unpair(t);
    close_target(t);
    if (t->counted) {
        t->counted = false;
        gw->nactive--;
    }
    struct conn *out = t->out, *in = t->in;
    t->out = t->in = NULL;
    t->state = TUN_DEAD;
    if (out) {
        out->tun = NULL;
        /* let queued bytes (e.g. a final CLOSE_CHANNEL or error response) go out first */
        if (buf_len(&out->out))
            conn_after_flush_close(out);
        else
            conn_close(out, why);
    }
    if (in && in != out) {
        in->tun = NULL;
        conn_close(in, why);
    }
    t->reap_next = gw->reap_tunnels;
    gw->reap_tunnels = t;
}

void tunnel_reap(struct tunnel *t)
{
    struct gateway *gw = t->gw;
    if (t->prev)
        t->prev->next = t->next;
    else
        gw->tunnels = t->next;
    if (t->next)
        t->next->prev = t->prev;
    gw->ntunnels--;
    buf_free(&t->pkt_in);
    buf_free(&t->to_target);
    config_put(t->cfg);
    drop_cands(t);
    set_resource(t, NULL);
    free(t->client_name);
    free(t->conn_id);
    free(t->end_reason);
    identity_put(t->who);
    free(t);
}

/* The client closed the channel (CLOSE_CHANNEL, answered already): the channel ends -- target
 * closed, its 303 event, out of the registry -- and the tunnel stays, waiting for a new
 * CHANNEL_CREATE (MS-TSGU 3.3.5.5) or the client's close, at most no-channel-timeout. */
static void channel_end(struct tunnel *t, const char *why)
{
    struct gateway *gw = t->gw;
    log_info("tunnel %llu: channel %u closed by the client; the tunnel waits for a new channel",
             (unsigned long long)t->id, t->reg.channel_id);
    if (t->target_connected)
        stats_channel_closed(303, why, t->reg.bytes_from_client, t->reg.bytes_to_client);
    if (t->reg.linked) {
        set_end_reason(t, why);
        log_disconnect(t);
        reg_remove(&gw->reg, &t->reg);
    }
    close_target(t);
    buf_clear(&t->to_target);
    buf_shrink_if_empty(&t->to_target);
    t->target_connected = false;
    set_end_reason(t, NULL);
    t->reg.channel_id = 0;
    set_resource(t, NULL);
    t->reg.port = 0;
    t->reg.bytes_to_client = t->reg.bytes_from_client = 0;
    drop_cands(t);
    t->channel_closed = true;
    chanless_add(t);
    t->state = TUN_AUTHORIZED;
    t->deadline_ms = now_ms() + gw->cfg->lim.no_channel_ms;
}

void tunnel_begin_close(struct tunnel *t, uint32_t status, const char *why)
{
    if (t->dead || t->state == TUN_CLOSING)
        return;
    if (t->state != TUN_OPEN) {
        /* FreeRDP ignores CLOSE_CHANNEL during setup: just end the connection */
        tunnel_close(t, why);
        return;
    }
    log_debug("tunnel %llu closing: %s", (unsigned long long)t->id, why);
    set_end_reason(t, why);
    close_target(t);
    t->state = TUN_CLOSING;
    t->close_status = status;
    t->deadline_ms = now_ms() + t->gw->cfg->lim.close_grace_ms;
    buf_clear(&t->to_target);
    tsgu_put_close_channel(&t->gw->scratch, status);
    emit_scratch(t);
}

/* A setup request failed: send the matching response with a full HRESULT, then close. */
static void refuse(struct tunnel *t, uint16_t req_type, uint32_t hr, const char *why)
{
    struct buf *s = &t->gw->scratch;
    switch (req_type) {
    case TSGU_PKT_HANDSHAKE_REQUEST:
        tsgu_put_handshake_response(s, hr, 1, 0, TSGU_EXTAUTH_NONE);
        break;
    case TSGU_PKT_TUNNEL_CREATE:
        tsgu_put_tunnel_response(s, hr, 0, 0, 0, NULL);
        break;
    case TSGU_PKT_TUNNEL_AUTH:
        tsgu_put_tunnel_auth_response(s, hr, 0, 0, 0);
        break;
    case TSGU_PKT_CHANNEL_CREATE:
        tsgu_put_channel_response(s, hr, 0, 0);
        break;
    default:
        break;
    }
    log_info("tunnel %llu (%s from %s): %s -> %s", (unsigned long long)t->id, t->reg.user,
             t->reg.client_addr, why, tsgu_hresult_name(hr) ? tsgu_hresult_name(hr) : "closed");
    if (buf_len(s))
        emit_scratch(t);
    tunnel_close(t, why);
}

/* ---------- policy subject ---------- */

struct subject_buf {
    struct policy_subject s;
    const char *groups[64];
    char storage[USERS_GROUPS_MAX];
};

static void make_subject(const struct tunnel *t, struct subject_buf *sb)
{
    memset(sb, 0, sizeof *sb);
    sb->s.account = t->reg.user;
    if (t->who)
        str_copy(sb->storage, t->who->groups, sizeof sb->storage);
    char *save = NULL;
    for (char *g = strtok_r(sb->storage, ";", &save); g && sb->s.ngroups < 64;
         g = strtok_r(NULL, ";", &save)) {
        g = str_trim(g);
        if (*g)
            sb->groups[sb->s.ngroups++] = g;
    }
    sb->s.groups = sb->groups;
}

/* ---------- target connection ---------- */

/* The administrative message, inside its time window, to clients that declared they show
 * service messages (FreeRDP acts on it only after CHANNEL_RESPONSE, so it goes right after). */
static void send_admin_message(struct tunnel *t)
{
    const struct gw_config *cfg = t->gw->cfg;
    int64_t now = (int64_t)(now_realtime_us() / 1000000u);
    if (!cfg->admin_message[0] || !(t->client_caps & TSGU_CAP_SERVICE_MSG))
        return;
    if ((cfg->admin_message_start && now < cfg->admin_message_start) ||
        (cfg->admin_message_end && now >= cfg->admin_message_end))
        return;
    tsgu_put_service_message(&t->gw->scratch, cfg->admin_message);
    emit_scratch(t);
}

static void try_next_candidate(struct tunnel *t);

static void channel_opened(struct tunnel *t)
{
    struct gateway *gw = t->gw;
    chanless_remove(t); /* before the key (channel id) changes */
    t->target_connected = true;
    t->state = TUN_OPEN;
    stats_channel_open(now_ms() - t->created_ms);
    t->deadline_ms = 0;
    t->reg.channel_id = t->next_channel_id++;
    t->reg.connected_us = now_realtime_us();
    t->reg.connected_ms = now_ms();
    if (!t->first_open_ms)
        t->first_open_ms = t->reg.connected_ms;
    t->reg.last_activity_ms = t->reg.connected_ms;
    set_resource(t, t->cands->name[t->cur_cand]);
    const struct sockaddr *sa = (const struct sockaddr *)&t->cands->addr[t->cur_cand];
    t->reg.port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                                 : ((const struct sockaddr_in6 *)sa)->sin6_port);
    char addr[64];
    sockaddr_to_str(sa, addr, sizeof addr);
    drop_cands(t);
    /* the setup is over: idle tunnels hold no record buffers (tls.h) */
    if (t->out)
        tls_release_buffers(t->out->ssl);
    if (t->in && t->in != t->out)
        tls_release_buffers(t->in->ssl);
    if (reg_add(&gw->reg, &t->reg) < 0) {
        log_warn("tunnel %llu: registry insert failed", (unsigned long long)t->id);
        chanless_add(t); /* a DisconnectUser still finds it */
    }
    if (gw->cfg->lim.keepalive_ms)
        t->next_keepalive_ms = now_ms() + gw->cfg->lim.keepalive_ms;
    /* before the response goes out: its flush would otherwise add EPOLLIN to the connect's
     * EPOLLOUT (tunnel_on_client_drained), a second epoll_ctl */
    io_set(&gw->loop, &t->tio, EPOLLIN);
    tsgu_put_channel_response(&gw->scratch, TSGU_S_OK, TSGU_CHANNEL_RESP_CHANNEL_ID,
                              t->reg.channel_id);
    emit_scratch(t);
    send_admin_message(t);
    if (gw_event_wanted(gw, 302)) {
        struct event_line e;
        ev_common(&e, 302, t);
        ev_str(&e, "Resource", t->reg.resource);
        ev_u64(&e, "Port", t->reg.port);
        ev_str(&e, "TargetAddress", addr);
        ev_u64(&e, "ChannelId", t->reg.channel_id);
        ev_str(&e, "ConnectionProtocol", "HTTP");
        ev_str(&e, "Transport", t->websocket ? "websocket" : "legacy");
        ev_end(&e);
    }
    /* client bytes may be waiting behind the CHANNEL_CREATE: the ready pass processes them */
    if (t->in)
        conn_mark_ready(t->in);
}

static void target_connect_done(struct tunnel *t, uint32_t events)
{
    int err = 0;
    socklen_t el = sizeof err;
    /* writable without an error or hang-up: connected (a failed connect reports EPOLLERR) */
    if ((events & (EPOLLERR | EPOLLHUP)) &&
        getsockopt(t->tio.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        err = errno;
    if (err) {
        char addr[64];
        sockaddr_to_str((struct sockaddr *)&t->cands->addr[t->cur_cand], addr, sizeof addr);
        log_info("tunnel %llu: connect to %s (%s) failed: %s", (unsigned long long)t->id,
                 t->cands->name[t->cur_cand], addr, strerror(err));
        close_target(t);
        t->cur_cand++;
        try_next_candidate(t);
        return;
    }
    channel_opened(t);
}

static void try_next_candidate(struct tunnel *t)
{
    struct gateway *gw = t->gw;
    while (t->cur_cand < t->ncand) {
        struct sockaddr *sa = (struct sockaddr *)&t->cands->addr[t->cur_cand];
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            t->tio.fd = fd;
            if (connect(fd, sa, t->cands->len[t->cur_cand]) == 0) {
                channel_opened(t);
                return;
            }
            if (errno == EINPROGRESS) {
                t->state = TUN_CONNECTING;
                t->deadline_ms = now_ms() + gw->cfg->lim.connect_ms;
                io_set(&gw->loop, &t->tio, EPOLLOUT);
                return;
            }
            close(fd);
            t->tio.fd = -1;
        }
        t->cur_cand++;
    }
    const char *res = t->ncand ? t->cands->name[0] : "";
    log_simple_event(t, 304, res, TSGU_E_PROXY_TS_CONNECTFAILED, "target unreachable");
    refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_TS_CONNECTFAILED, "cannot reach the target");
}

/* Turns resolved names into connect candidates allowed by a RAP. */
static unsigned add_candidates(struct tunnel *t, const struct resolve_job *job, unsigned i,
                               const struct policy_subject *subj, bool *rap_denied,
                               char *matched_rap, size_t rapsz)
{
    const char *host = job->host[i];
    if (job->skip[i]) {
        *rap_denied = true;
        return 0;
    }
    if (job->err[i] != 0) {
        log_info("tunnel %llu: cannot resolve %s: %s", (unsigned long long)t->id, host,
                 gai_strerror(job->err[i]));
        return 0;
    }
    const struct policy *pol = &t->gw->cfg->policy;
    unsigned added = 0;
    for (struct addrinfo *p = job->res[i]; p && t->ncand < TUN_MAX_CANDIDATES; p = p->ai_next) {
        const struct policy_rap *rap = policy_check_rap(pol, subj, host, p->ai_addr, job->port[i]);
        if (!rap) {
            *rap_denied = true;
            continue;
        }
        str_copy(matched_rap, rap->name, rapsz);
        memcpy(&t->cands->addr[t->ncand], p->ai_addr, p->ai_addrlen);
        t->cands->len[t->ncand] = p->ai_addrlen;
        str_copy(t->cands->name[t->ncand], host, sizeof t->cands->name[0]);
        t->ncand++;
        added++;
    }
    return added;
}

/* Second half of CHANNEL_CREATE, once the names are resolved: RAP on the resolved addresses,
 * then connect to the first allowed one. Takes ownership of job. */
static void finish_channel_create(struct tunnel *t, struct resolve_job *job)
{
    struct subject_buf sb;
    make_subject(t, &sb);
    bool denied = false;
    char rap[POLICY_NAME_MAX] = "";
    drop_cands(t);
    t->cands = malloc(sizeof *t->cands);
    if (!t->cands) {
        resolve_job_free(job);
        refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_TS_CONNECTFAILED, "out of memory");
        return;
    }
    for (unsigned i = 0; i < job->n && t->ncand < TUN_MAX_CANDIDATES; i++)
        add_candidates(t, job, i, &sb.s, &denied, rap, sizeof rap);
    if (!t->ncand) {
        const char *res = job->n ? job->host[0] : "";
        log_simple_event(t, 301, res, TSGU_E_PROXY_RAP_ACCESSDENIED,
                         denied ? "no resource authorization policy allows this resource"
                                : "resource name not valid or not resolvable");
        resolve_job_free(job);
        refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_RAP_ACCESSDENIED, "RAP denied");
        return;
    }
    resolve_job_free(job);
    if (gw_event_wanted(t->gw, 300)) {
        struct event_line e;
        ev_common(&e, 300, t);
        ev_str(&e, "Resource", t->cands->name[0]);
        ev_str(&e, "Policy", rap);
        ev_end(&e);
    }
    try_next_candidate(t);
}

void tunnel_on_resolved(struct gateway *gw, struct resolve_job *job)
{
    struct tunnel *t = NULL;
    for (struct tunnel *x = gw->tunnels; x; x = x->next)
        if (x->id == job->tunnel_id && !x->dead && x->state == TUN_RESOLVING) {
            t = x;
            break;
        }
    if (!t) {
        resolve_job_free(job); /* the tunnel went away meanwhile */
        return;
    }
    t->state = TUN_AUTHORIZED;
    finish_channel_create(t, job);
    if (!t->dead && t->in)
        conn_mark_ready(t->in);
}

/* ---------- packet handlers ---------- */

static void on_handshake(struct tunnel *t, const struct tsgu_handshake_request *h)
{
    if (h->ver_major != 1) {
        refuse(t, TSGU_PKT_HANDSHAKE_REQUEST, TSGU_E_PROXY_NOTSUPPORTED, "unsupported version");
        return;
    }
    if (h->ext_auth != TSGU_EXTAUTH_NONE) {
        /* HTTP-level NTLM already authenticated this client; PAA/smart card/SSPI_NTLM are not
         * offered */
        refuse(t, TSGU_PKT_HANDSHAKE_REQUEST, TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD,
               "extended authentication requested");
        return;
    }
    tsgu_put_handshake_response(&t->gw->scratch, TSGU_S_OK, 1, 0, TSGU_EXTAUTH_NONE);
    emit_scratch(t);
    t->state = TUN_HANDSHAKED;
}

static void on_tunnel_create(struct tunnel *t, const struct tsgu_tunnel_create *tc)
{
    struct gateway *gw = t->gw;
    if (tc->fields & (TSGU_TUNNEL_CREATE_PAA_COOKIE | TSGU_TUNNEL_CREATE_REAUTH)) {
        refuse(t, TSGU_PKT_TUNNEL_CREATE, TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD,
               "PAA cookie or reauthentication not supported");
        return;
    }
    /* in a farm the limit counts every node's tunnels (daemon/farm.h) */
    if (gw->cfg->max_connections &&
        (uint64_t)gw->nactive + farm_others_active(gw) >= gw->cfg->max_connections) {
        log_simple_event(t, 203, NULL, TSGU_E_PROXY_MAXCONNECTIONSREACHED,
                         "maximum connections reached");
        refuse(t, TSGU_PKT_TUNNEL_CREATE, TSGU_E_PROXY_MAXCONNECTIONSREACHED,
               "maximum connections reached");
        return;
    }
    const struct gw_config *cfg = gw->cfg;
    bool consent = cfg->consent_message[0] != 0;
    if (cfg->only_consent_capable_clients && !(tc->caps & TSGU_CAP_CONSENT_SIGN)) {
        log_simple_event(t, 201, NULL, TSGU_E_PROXY_CAPABILITYMISMATCH,
                         "client cannot show the consent message");
        refuse(t, TSGU_PKT_TUNNEL_CREATE, TSGU_E_PROXY_CAPABILITYMISMATCH,
               "client is not consent-capable");
        return;
    }
    t->counted = true;
    gw->nactive++;
    t->client_caps = tc->caps;
    t->caps = tc->caps & (SERVER_CAPS | (consent ? TSGU_CAP_CONSENT_SIGN : 0));
    /* a consent message only to clients that declared they can show one */
    const char *msg = consent && (t->caps & TSGU_CAP_CONSENT_SIGN) ? cfg->consent_message : NULL;
    tsgu_put_tunnel_response(&gw->scratch, TSGU_S_OK,
                             TSGU_TUNNEL_RESP_TUNNEL_ID | TSGU_TUNNEL_RESP_CAPS, (uint32_t)t->id,
                             t->caps, msg);
    emit_scratch(t);
    t->state = TUN_CREATED;
}

static void on_tunnel_auth(struct tunnel *t, const struct tsgu_tunnel_auth *ta)
{
    struct gateway *gw = t->gw;
    free(t->client_name);
    t->client_name = strdup(ta->client_name);
    struct subject_buf sb;
    make_subject(t, &sb);
    if (!t->cfg)
        t->cfg = config_get(gw->cfg);
    const struct policy_cap *cap = policy_check_cap(&t->cfg->policy, &sb.s);
    if (!cap) {
        log_simple_event(t, 201, NULL, TSGU_E_PROXY_NAP_ACCESSDENIED,
                         "no connection authorization policy allows this user");
        refuse(t, TSGU_PKT_TUNNEL_AUTH, TSGU_E_PROXY_NAP_ACCESSDENIED, "CAP denied");
        return;
    }
    t->cap = cap;
    if (gw_event_wanted(gw, 200)) {
        struct event_line e;
        ev_common(&e, 200, t);
        ev_str(&e, "AuthType", auth_type(t));
        ev_str(&e, "ConnectionProtocol", "HTTP");
        ev_str(&e, "Policy", cap->name);
        ev_str(&e, "ClientName", t->client_name ? t->client_name : "");
        ev_end(&e);
    }
    uint32_t idle_min = cap->idle_timeout_s ? (cap->idle_timeout_s + 59) / 60 : 0;
    tsgu_put_tunnel_auth_response(&gw->scratch, TSGU_S_OK,
                                  TSGU_TUNNEL_AUTH_RESP_REDIR_FLAGS |
                                      TSGU_TUNNEL_AUTH_RESP_IDLE_TIMEOUT,
                                  cap->redir_flags, idle_min);
    emit_scratch(t);
    t->state = TUN_AUTHORIZED;
}

static void on_channel_create(struct tunnel *t, const struct tsgu_channel_create *cc)
{
    if (cc->protocol != 3) {
        refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_NOTSUPPORTED, "protocol is not RDP");
        return;
    }
    struct subject_buf sb;
    make_subject(t, &sb);
    struct resolve_job *job = resolve_job_new();
    if (!job) {
        refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_INTERNALERROR, "out of memory");
        return;
    }
    job->tunnel_id = t->id;
    bool need_dns = false, suffix = false;
    unsigned total = (unsigned)cc->num_resources + cc->num_alt;
    for (unsigned i = 0; i < total && job->n < RESOLVE_MAX; i++) {
        int port_in_name = -1;
        unsigned k = job->n;
        if (policy_normalize_host(cc->resources[i], job->host[k], sizeof job->host[k],
                                  &port_in_name) < 0)
            continue;
        /* "host:3390" is no host name (Windows looks the whole string up and fails): such a
         * name is refused, so the port connected to is always the packet's, the one the RAP
         * judged (docs/policy: resource names) */
        if (port_in_name >= 0) {
            log_info("tunnel %llu: resource name '%s' has a port suffix: not a host name, refused",
                     (unsigned long long)t->id, cc->resources[i]);
            suffix = true;
            continue;
        }
        job->port[k] = cc->port;
        struct in6_addr lit;
        bool literal = inet_pton(AF_INET, job->host[k], &lit) == 1 ||
                       inet_pton(AF_INET6, job->host[k], &lit) == 1;
        /* no DNS lookup for a name no policy could allow */
        if (!literal &&
            !policy_rap_may_allow(&t->gw->cfg->policy, &sb.s, job->host[k], job->port[k]))
            job->skip[k] = true;
        else if (!literal)
            need_dns = true;
        job->n++;
    }
    if (!job->n) {
        resolve_job_free(job);
        log_simple_event(t, 301, total ? cc->resources[0] : "", TSGU_E_PROXY_RAP_ACCESSDENIED,
                         suffix ? "resource name with a port suffix is not a host name"
                                : "resource name not valid");
        refuse(t, TSGU_PKT_CHANNEL_CREATE, TSGU_E_PROXY_RAP_ACCESSDENIED, "invalid resource name");
        return;
    }
    if (!need_dns) {
        resolver_run_now(job); /* address literals: no lookup leaves the process */
        finish_channel_create(t, job);
        return;
    }
    t->state = TUN_RESOLVING;
    resolver_submit(t->gw, job);
}

static void write_target(struct tunnel *t);

static void on_data(struct tunnel *t, const uint8_t *d, uint16_t len)
{
    t->reg.bytes_from_client += len;
    t->reg.last_activity_ms = now_ms();
    if (!len)
        return;
    /* tunnel payload moves: TLS handshakes now get their handshake-share (preauth.c); the
     * setup exchanges themselves (HTTP, MS-TSGU control packets) do not count */
    t->gw->relay_seen = true;
    if (buf_len(&t->to_target) == 0 && t->tio.fd >= 0) {
        /* fast path: straight to the socket, buffer only what does not fit */
        ssize_t n = send(t->tio.fd, d, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            tunnel_begin_close(t, TSGU_CLOSE_BAD_ARGUMENTS, "target write failed");
            return;
        }
        if (n < 0)
            n = 0;
        d += n;
        len = (uint16_t)(len - n);
    }
    if (len) {
        if (buf_append(&t->to_target, d, len) < 0) {
            tunnel_close(t, "target buffer overflow");
            return;
        }
        io_set(&t->gw->loop, &t->tio, (t->tio.events | EPOLLOUT));
    }
}

/* One whole packet in the current state. Returns false when the tunnel ended. */
static bool dispatch(struct tunnel *t, const struct tsgu_packet *p)
{
    int st = t->state;
    if (t->unsupported_auth) {
        /* no HTTP logon (RDG-Auth-Scheme PAA ...): whatever comes first is answered with
         * E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD in its response, and the tunnel ends */
        refuse(t, p->type, TSGU_E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD,
               "authentication method not supported (RDG-Auth-Scheme)");
        return false;
    }
    switch (p->type) {
    case TSGU_PKT_HANDSHAKE_REQUEST:
        if (st != TUN_INITIALIZED)
            break;
        on_handshake(t, &p->u.handshake);
        return !t->dead;
    case TSGU_PKT_TUNNEL_CREATE:
        if (st != TUN_HANDSHAKED)
            break;
        on_tunnel_create(t, &p->u.tunnel_create);
        return !t->dead;
    case TSGU_PKT_TUNNEL_AUTH:
        if (st != TUN_CREATED)
            break;
        on_tunnel_auth(t, &p->u.tunnel_auth);
        return !t->dead;
    case TSGU_PKT_CHANNEL_CREATE:
        if (st != TUN_AUTHORIZED)
            break;
        on_channel_create(t, &p->u.channel_create);
        return !t->dead;
    case TSGU_PKT_DATA:
        if (st == TUN_CLOSING || (st == TUN_AUTHORIZED && t->channel_closed))
            return true; /* discarded after our CLOSE_CHANNEL, or for a channel that ended */
        if (st != TUN_OPEN)
            break;
        on_data(t, p->u.data.data, p->u.data.len);
        return !t->dead;
    case TSGU_PKT_KEEPALIVE:
        /* accepted in any state after the handshake, and never echoed (FreeRDP echoes ours) */
        if (st == TUN_INITIALIZED)
            break;
        return true;
    case TSGU_PKT_CLOSE_CHANNEL:
        if (st != TUN_OPEN && st != TUN_CLOSING && !(st == TUN_AUTHORIZED && t->channel_closed))
            break;
        tsgu_put_close_channel_response(&t->gw->scratch, 0);
        emit_scratch(t);
        if (st == TUN_CLOSING) {
            /* both sides closed: ours was an end of the tunnel (target gone, administrator,
             * timeout) */
            tunnel_close(t, t->end_reason ? t->end_reason : "client closed the channel");
            return false;
        }
        if (st == TUN_OPEN)
            channel_end(t, "client closed the channel");
        return !t->dead;
    case TSGU_PKT_CLOSE_CHANNEL_RESPONSE:
        if (st != TUN_CLOSING)
            break;
        tunnel_close(t,
                     t->admin_closed ? "disconnected by an administrator" : "close acknowledged");
        return false;
    default:
        log_info("tunnel %llu: ignoring packet type 0x%x (%s)", (unsigned long long)t->id, p->type,
                 tsgu_type_name(p->type));
        return true;
    }
    /* a known packet in the wrong state */
    char why[96];
    snprintf(why, sizeof why, "%s out of order", tsgu_type_name(p->type));
    refuse(t, p->type, TSGU_E_PROXY_INTERNALERROR, why);
    return false;
}

void tunnel_process(struct tunnel *t)
{
    struct gateway *gw = t->gw;
    while (!t->dead) {
        if (t->state == TUN_WAIT_IN || t->state == TUN_CONNECTING || t->state == TUN_RESOLVING)
            return;
        if (t->state == TUN_OPEN && buf_len(&t->to_target) >= gw->cfg->lim.relay_buffer)
            return; /* backpressure: the client connection stops reading */
        uint16_t type;
        uint32_t len;
        uint32_t max =
            t->state >= TUN_OPEN ? gw->cfg->lim.max_packet : gw->cfg->lim.max_setup_packet;
        int r = tsgu_peek(buf_data(&t->pkt_in), buf_len(&t->pkt_in), max, &type, &len);
        if (r < 0) {
            log_info("tunnel %llu: invalid packet length from %s", (unsigned long long)t->id,
                     t->reg.client_addr);
            tunnel_close(t, "invalid packet length");
            return;
        }
        if (r == 0 || buf_len(&t->pkt_in) < len)
            return;
        struct tsgu_packet p;
        if (tsgu_parse(buf_data(&t->pkt_in), len, &p) < 0) {
            char why[96];
            snprintf(why, sizeof why, "malformed %s", tsgu_type_name(type));
            refuse(t, type, TSGU_E_PROXY_INTERNALERROR, why);
            return;
        }
        /* Consumed before dispatch: handlers never append to pkt_in, so the bytes p points to
         * stay in place until the next append. */
        buf_consume(&t->pkt_in, len);
        if (!dispatch(t, &p))
            return;
    }
}

/* ---------- relay ---------- */

static void write_target(struct tunnel *t)
{
    while (buf_len(&t->to_target)) {
        ssize_t n = send(t->tio.fd, buf_data(&t->to_target), buf_len(&t->to_target), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&t->to_target, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        tunnel_begin_close(t, TSGU_CLOSE_BAD_ARGUMENTS, "target write failed");
        return;
    }
    buf_shrink_if_empty(&t->to_target);
    /* drained: the client side may read again */
    if (t->in) {
        conn_mark_ready(t->in);
        conn_update_io(t->in);
    }
}

static bool client_has_room(const struct tunnel *t)
{
    return t->out && !t->out->dead && buf_len(&t->out->out) < t->gw->cfg->lim.relay_buffer;
}

/* Target -> client: each recv lands directly in the client connection's output buffer, behind
 * room for the frame headers, so the payload is copied once (by TLS) on its way out. */
static void read_target(struct tunnel *t)
{
    unsigned loops = 0;
    struct conn *c = t->out;
    bool wrote = false;
    while (!t->dead && t->state == TUN_OPEN && client_has_room(t) && loops++ < 16) {
        /* header room: WebSocket (at most 4 bytes: reads are capped so the frame length fits
         * 16 bits) + DATA header (10) */
        const size_t room = t->websocket ? 14 : 10;
        const size_t want = t->websocket ? TARGET_READ_WS : TARGET_READ;
        if (buf_reserve(&c->out, room + want) < 0) {
            conn_close(c, "output buffer full");
            return;
        }
        uint8_t *base = buf_tail(&c->out);
        ssize_t n = recv(t->tio.fd, base + room, want, 0);
        if (n > 0) {
            size_t pkt = 10 + (size_t)n, hl = 0;
            uint8_t h[10];
            if (t->websocket) {
                hl = ws_frame_header(h, WS_OP_BINARY, pkt);
                if (hl < 4) /* a 2-byte header: close the 2-byte gap (payload < 116 bytes) */
                    memmove(base + hl + 10, base + room, (size_t)n);
                memcpy(base, h, hl);
            }
            tsgu_data_header(base + hl, (uint16_t)n);
            buf_commit(&c->out, hl + pkt);
            t->reg.bytes_to_client += (uint64_t)n;
            t->gw->relay_seen = true;
            wrote = true;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        log_debug("tunnel %llu: target closed (%s)", (unsigned long long)t->id,
                  n == 0 ? "EOF" : strerror(errno));
        if (wrote)
            conn_flush(c);
        if (!t->dead)
            tunnel_begin_close(t, TSGU_CLOSE_BAD_ARGUMENTS, "target closed the connection");
        return;
    }
    if (wrote) {
        t->reg.last_activity_ms = now_ms();
        conn_flush(c); /* one flush for the whole batch: fewer, fuller TLS records */
    } else if (!t->dead) {
        buf_shrink_if_empty(&c->out); /* the reserve for a read that found nothing */
    }
    if (!t->dead && t->tio.fd >= 0) {
        uint32_t ev = (client_has_room(t) ? EPOLLIN : 0) | (buf_len(&t->to_target) ? EPOLLOUT : 0);
        io_set(&t->gw->loop, &t->tio, ev);
    }
}

void tunnel_on_client_drained(struct tunnel *t)
{
    if (t->dead || t->state != TUN_OPEN || t->tio.fd < 0)
        return;
    /* resume through the loop, not by calling read_target from inside a flush (which would
     * recurse read -> flush -> drained -> read while both sides keep up) */
    if (!(t->tio.events & EPOLLIN))
        io_set(&t->gw->loop, &t->tio, t->tio.events | EPOLLIN);
}

static void target_on_io(struct io *io, uint32_t events)
{
    struct tunnel *t = (struct tunnel *)((char *)io - offsetof(struct tunnel, tio));
    if (t->dead)
        return;
    if (t->state == TUN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            target_connect_done(t, events);
        return;
    }
    if (events & EPOLLOUT)
        write_target(t);
    if (!t->dead && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        read_target(t);
    if (!t->dead && t->tio.fd >= 0) {
        uint32_t ev = (client_has_room(t) ? EPOLLIN : 0) | (buf_len(&t->to_target) ? EPOLLOUT : 0);
        io_set(&t->gw->loop, &t->tio, ev);
    }
}

/* ---------- timers ---------- */

void tunnel_tick(struct tunnel *t, uint64_t now)
{
    struct gateway *gw = t->gw;
    if (t->deadline_ms && now >= t->deadline_ms) {
        switch (t->state) {
        case TUN_WAIT_IN:
            log_info("tunnel %llu: no IN channel within the pairing timeout",
                     (unsigned long long)t->id);
            tunnel_close(t, "pairing timeout");
            return;
        case TUN_CONNECTING:
            log_info("tunnel %llu: connect to %s timed out", (unsigned long long)t->id,
                     t->cands->name[t->cur_cand]);
            close_target(t);
            t->cur_cand++;
            try_next_candidate(t);
            return;
        case TUN_CLOSING:
            tunnel_close(t, "close grace expired");
            return;
        case TUN_OPEN:
            break;
        case TUN_AUTHORIZED:
            if (t->channel_closed) {
                log_info("tunnel %llu: no new channel within the no-channel timeout",
                         (unsigned long long)t->id);
                tunnel_close(t, "no channel");
                return;
            }
            /* fall through */
        default:
            log_info("tunnel %llu: setup not completed in time", (unsigned long long)t->id);
            tunnel_close(t, "setup timeout");
            return;
        }
    }
    /* the session timeout counts from the tunnel's first channel: re-creating the channel does
     * not extend it */
    if (t->state == TUN_OPEN && t->cap && t->cap->session_timeout_s &&
        now - t->first_open_ms >= (uint64_t)t->cap->session_timeout_s * 1000) {
        /* reauthorization needs cap 0x10, which tsgw does not offer: disconnect either way */
        t->session_timed_out = true;
        tunnel_begin_close(t,
                           (t->client_caps & TSGU_CAP_IDLE_TIMEOUT) ? TSGU_CLOSE_SESSIONTIMEOUT
                                                                    : TSGU_CLOSE_CONNECTIONABORTED,
                           "session timeout");
        return;
    }
    if (t->state == TUN_OPEN && t->cap && t->cap->idle_timeout_s &&
        now - t->reg.last_activity_ms >= (uint64_t)t->cap->idle_timeout_s * 1000) {
        tunnel_begin_close(t,
                           (t->client_caps & TSGU_CAP_IDLE_TIMEOUT) ? TSGU_CLOSE_SESSIONTIMEOUT
                                                                    : TSGU_CLOSE_CONNECTIONABORTED,
                           "idle timeout");
        return;
    }
    if (t->state == TUN_OPEN && gw->cfg->lim.keepalive_ms && now >= t->next_keepalive_ms) {
        tsgu_put_keepalive(&gw->scratch);
        emit_scratch(t);
        t->next_keepalive_ms = now + gw->cfg->lim.keepalive_ms;
    }
}
