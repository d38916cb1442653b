/* tsgwd internals shared by the daemon's files: the gateway, client connections and tunnels.
 *
 * Life cycle of a tunnel (docs/internals.md):
 *   accept -> TLS -> HTTP request(s) + NTLM -> 101 (WebSocket) or 200 (+ legacy IN pairing)
 *   -> HANDSHAKE -> TUNNEL_CREATE -> TUNNEL_AUTH (CAP) -> CHANNEL_CREATE (RAP, connect)
 *   -> relay -> close (one path: tunnel_close) -> reap after the event batch.
 * Objects are never freed inside a callback: they are marked dead and reaped after the batch. */
#ifndef TSGW_DAEMON_GATEWAY_H
#define TSGW_DAEMON_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "conf/config.h"
#include "daemon/identity.h"
#include "daemon/logon.h"
#include "core/buf.h"
#include "daemon/preauth.h"
#include "guard/addrkey.h"
#include "guard/logon_guard.h"
#include "guard/preauth_table.h"
#include "http/http.h"
#include "net/loop.h"
#include "registry/registry.h"
#include "tls/tls.h"
#include "websocket/ws.h"

struct tunnel;
struct gateway;
struct admin_client;
struct farm;

enum conn_phase {
    CONN_TLS,            /* TLS handshake */
    CONN_HTTP,           /* reading requests, NTLM rounds */
    CONN_WS,             /* WebSocket: the whole tunnel on this connection */
    CONN_LEGACY_OUT,     /* legacy OUT: server -> client packets after the seed */
    CONN_LEGACY_IN_HDR,  /* legacy IN: authenticated, waiting for the streaming request */
    CONN_LEGACY_IN_BODY, /* legacy IN: client -> server packets in the request body */
    CONN_CIM_BODY,       /* CIM-XML endpoint: reading a POST body */
    CONN_KDC_BODY,       /* POST /KdcProxy: reading the body, then relaying (kdc set) */
    CONN_PROXY,          /* backend-listen: waiting for the PROXY v2 header */
    CONN_WEB_BODY,       /* web console: reading a POST body */
    CONN_DEAD,
};

struct conn {
    struct gateway *gw;
    struct io io;
    SSL *ssl;
    int phase;
    struct buf in;  /* decrypted, not yet processed */
    struct buf out; /* waiting for SSL_write */
    /* Setup state, allocated at accept and freed once the connection leaves HTTP (the
     * WebSocket upgrade, the legacy channel requests): an idle tunnel holds neither. */
    struct http_parser *hp;
    struct logon_session *logon; /* logon.c: the exchange in progress */
    bool authed;
    bool unsupported_auth; /* RDG-Auth-Scheme without an HTTP logon: the tunnel refuses it */
    /* logon.c: who the connection proved to be: private while the logon fills it in, then the
     * identity shared by every connection of that user (identity.h), read-only */
    struct logon_identity *who;
    char conn_id[80]; /* RDG-Connection-Id */
    struct ws_decoder ws;
    struct http_chunked chunked;
    bool body_chunked;
    struct tunnel *tun;
    struct kdc_relay *kdc; /* kdcproxy.c: a KDC exchange in flight */
    bool cim;              /* accepted on the CIM-XML listener */
    bool proxied;          /* accepted on backend-listen: client address from PROXY v2 */
    bool proxy_tls;        /* ... and TLS follows the header ([gateway] backend-tls) */
    bool web;              /* accepted on the web console's listener (may also be cim) */
    size_t body_need;      /* CONN_CIM_BODY, CONN_WEB_BODY: bytes of body expected */
    uint64_t farm_op;      /* CIM-XML: farm-wide call in progress (daemon/farm.h), 0 = none */
    bool farm_done;        /* CIM-XML: its result is in farm_ret; the request is answered again */
    uint32_t farm_ret;
    char peer_str[64];
    char addr_key[ADDRKEY_MAX]; /* per-address accounting key (IPv6: the prefix) */
    uint64_t deadline_ms;       /* 0 = none */
    uint64_t phase_start_ms;    /* accept, then TLS established (pre-auth deadlines) */
    bool counted_unauth;        /* holds a pre-auth slot (pa) */
    uint64_t pa_bytes;          /* its memory as counted in gw->flood.preauth_bytes */
    struct pa_entry pa;
    bool hs_queued;    /* waiting for a TLS handshake turn (preauth.c) */
    bool sign_pending; /* the TLS handshake waits for the key process's signature */
    unsigned hs_queue; /* which queue: 0 light, 1 heavy address */
    struct conn *hs_next, *hs_prev;
    bool close_after_flush;
    bool want_read_for_write; /* SSL_write asked for readability */
    bool want_write_for_read; /* SSL_read asked for writability */
    bool read_paused;         /* reading stopped (conn_can_read) with input in OpenSSL's buffer */
    bool in_ready_list;
    bool in_flush_list;
    bool dead;
    struct conn *next, *prev; /* all connections */
    struct conn *ready_next;  /* connections to read without waiting for epoll */
    struct conn *flush_next;  /* connections whose output waits for the end of the batch */
    struct conn *reap_next;
};

enum tunnel_state {
    TUN_WAIT_IN,     /* legacy: OUT authenticated, IN channel not yet paired */
    TUN_INITIALIZED, /* waiting for HANDSHAKE_REQUEST */
    TUN_HANDSHAKED,  /* waiting for TUNNEL_CREATE */
    TUN_CREATED,     /* waiting for TUNNEL_AUTH */
    TUN_AUTHORIZED,  /* waiting for CHANNEL_CREATE */
    TUN_RESOLVING,   /* target names being resolved (resolver thread) */
    TUN_CONNECTING,  /* target connect in progress */
    TUN_OPEN,        /* relaying */
    TUN_CLOSING,     /* CLOSE_CHANNEL sent, waiting for the response or the grace timer */
    TUN_DEAD,
};

#define TUN_MAX_CANDIDATES 16

/* The addresses a CHANNEL_CREATE may connect to (allowed by a RAP), tried in order: held only
 * while the target connect is in progress. */
struct tun_cands {
    struct sockaddr_storage addr[TUN_MAX_CANDIDATES];
    socklen_t len[TUN_MAX_CANDIDATES];
    char name[TUN_MAX_CANDIDATES][256];
};

struct tunnel {
    struct gateway *gw;
    uint64_t id;
    int state;
    bool websocket;
    struct conn *out;  /* server -> client (the WebSocket connection in WebSocket mode) */
    struct conn *in;   /* client -> server (legacy), == out in WebSocket mode */
    char *conn_id;     /* legacy: RDG-Connection-Id for the pairing (allocated), else NULL */
    struct buf pkt_in; /* client -> server TSGU byte stream, not yet parsed */
    uint32_t client_caps, caps;
    bool counted;               /* counted against max-connections (after TUNNEL_CREATE) */
    struct logon_identity *who; /* shared (identity.h): reg.user and reg.full_name point in */
    char *client_name;          /* from TUNNEL_AUTH (allocated), NULL before */
    struct gw_config *cfg;      /* the configuration cap points into (a reference) */
    const struct policy_cap *cap;
    /* target */
    struct io tio;
    bool target_connected;
    struct buf to_target;
    struct tun_cands *cands; /* CHANNEL_CREATE until the target connect ends, else NULL */
    unsigned ncand, cur_cand;
    uint32_t next_channel_id;
    uint64_t created_ms;    /* monotonic (setup latency metric) */
    bool unsupported_auth;  /* opened without a logon (PAA...): refuse the first packet */
    bool channel_closed;    /* a channel ended and the tunnel waits for a new CHANNEL_CREATE */
    uint64_t first_open_ms; /* when the tunnel's first channel opened (session timeout) */
    uint64_t deadline_ms;   /* pairing / setup / connect / close grace */
    uint64_t next_keepalive_ms;
    uint32_t close_status;  /* CLOSE_CHANNEL status we sent */
    bool admin_closed;      /* ended by Disconnect / DisconnectUser / DisconnectProtocol */
    bool session_timed_out; /* ended by the CAP's session timeout (event 307) */
    char *end_reason;       /* why it ended, for the disconnect event (allocated), or NULL */
    struct reg_entry reg;   /* what Win32_TSGatewayConnection shows */
    bool dead;
    bool in_chanless; /* reg is indexed in gw->chanless (no open channel), not in gw->reg */
    struct tunnel *next, *prev;
    struct tunnel *pair_next; /* legacy tunnels waiting for their IN channel */
    struct tunnel *reap_next;
};

struct listener {
    struct io io;
    struct gateway *gw;
    bool cim;
    bool proxied; /* backend-listen */
    bool web;
    char addr[128];
};

struct gateway {
    struct loop loop;
    struct gw_config *cfg; /* current configuration (refcounted: tunnels keep theirs) */
    char config_path[4096];
    struct tls_ctx tls;
    struct tls_ctx cim_tls;
    struct user_store users;
    struct timespec users_mtime;
    struct ntlm_server_config ntlm_cfg;
    struct logon_directory dir; /* logon.c: the domain's names for this member */
    const char *spn_hosts[CONF_MAX_NAMES + 4];
    struct http_limits http_lim;
    struct registry reg;
    /* Live tunnels without an open channel (in setup, or between channels), by user, so that
     * DisconnectUser finds them without a walk over every tunnel: a tunnel's reg entry is in
     * exactly one of reg and chanless until it closes (tunnel.c). */
    struct registry chanless;
    struct listener listeners[CONF_MAX_LISTEN + 2]; /* + CIM-XML + backend-listen */
    unsigned nlisteners;
    struct conn *conns;
    struct tunnel *tunnels;
    struct tunnel *pairing;
    struct conn *ready;
    struct conn *flush_list; /* output queued by batch operations (admin disconnects) */
    bool defer_flush;        /* while set, tunnel_emit queues instead of writing */
    struct conn *reap_conns;
    struct tunnel *reap_tunnels;
    uint64_t next_tunnel_id;
    uint32_t nconns, nunauth, ntunnels, nactive; /* nactive: counted against max-connections */
    struct buf scratch;
    struct pa_table preauth;  /* pre-auth slots by address key (preauth.c) */
    struct flood_stats flood; /* counters for monitoring */
    uint32_t evicted_since_log;
    uint64_t evict_logged_ms;
    struct conn *hs_head[2]; /* TLS handshakes waiting: light, heavy addresses */
    struct conn *hs_tail[2];
    uint32_t hs_budget;                         /* handshake steps left in this loop turn */
    uint64_t hs_window_start_us, hs_used_us[2]; /* handshake time in the current window */
    bool relay_seen, hs_relay_prev; /* tunnel data moved in this / the previous window */
    struct logon_guard logon_guard; /* logon failures and blocks (logon_limit.c) */
    struct io admin_io;
    struct admin_client *admin_clients;
    uint32_t nadmin;
    struct farm *farm;        /* NULL without [farm] redis */
    uint8_t front_cbt[2][16]; /* channel bindings of [gateway] front-certificate */
    unsigned front_ncbt;
    bool stopping;
    uint64_t stop_deadline_ms;
    int sigfd;
    struct io sig_io;
    struct io key_io;      /* the key process's answers (asynchronous signing) */
    struct web_state *web; /* the console (web.c); NULL without [web] listen */
};

/* gateway.c */
int gw_init(struct gateway *gw, const char *config_path, char *err, size_t errsz);
int gw_run(struct gateway *gw);
void gw_free(struct gateway *gw);
void conn_close(struct conn *c, const char *why);
/* The connection is done with HTTP requests: frees the parser and the logon session. */
void conn_end_http(struct conn *c);
/* Runs a TLS handshake step (called when the handshake budget allows). */
void conn_handshake(struct conn *c);
/* Sets the connection's socket and event callback (what accept does). */
void conn_attach_fd(struct conn *c, int fd);
/* Processes the bytes waiting in c->in for the connection's current phase. */
void conn_process(struct conn *c);
/* request.c: a directory logon of c came back (LOGON_AUTHED or LOGON_SENT, from logon.c):
 * resumes the request. */
void conn_logon_done(struct conn *c, int result);
/* Writes the output queued while gw->defer_flush was set. */
void gw_flush_deferred(struct gateway *gw);
/* Gives the connections on the ready list their turn (called after each epoll batch). */
void gw_run_ready(struct gateway *gw);
/* Frees the connections and tunnels closed since the last call. */
void gw_reap(struct gateway *gw);
void conn_flush(struct conn *c);
void conn_update_io(struct conn *c);
void conn_mark_ready(struct conn *c);
void conn_after_flush_close(struct conn *c);
bool conn_can_read(const struct conn *c);

/* conn_out.c: output coalescing (tls.h). Between conn_turn_begin and conn_turn_end (nested:
 * the outermost counts) what the connection writes is collected and then written at once;
 * what the socket refuses stays held (conn_out_blocked: wait for EPOLLOUT, conn_flush pushes
 * it). conn_out_end: the connection closes, what is held goes out (one attempt). */
void conn_turn_begin(struct conn *c);
void conn_turn_end(struct conn *c);
bool conn_out_held(const struct conn *c);
bool conn_out_blocked(const struct conn *c);
void conn_out_end(struct conn *c);

/* gateway.c, shared with the other daemon files */
/* True when the audit switches want event id logged. */
bool gw_event_wanted(const struct gateway *gw, int id);
void conn_send_simple(struct conn *c, int status, const char *reason, const char *extra,
                      bool close);

/* proxied.c: backend-listen, the PROXY v2 header (plain, or before TLS with backend-tls) */
void proxied_plain_header(struct conn *c);
void proxied_tls_header(struct conn *c);
/* Logs and sends an HTTP error response, then closes the connection. */
void conn_http_error(struct conn *c, int status, const char *why);
/* request.c: a complete HTTP request on a client connection */
void conn_handle_request(struct conn *c);

/* cim.c */
void cim_on_request(struct conn *c);
void cim_on_body(struct conn *c);
/* Checks an account and password against the credential store and the CIM admin-group: 1 for an
 * administrator, 0 for a valid non-administrator, -1 for bad credentials. who gets the account
 * as stored (or as given when unknown). Shared by CIM-XML and the web console. */
int mgmt_check_account(struct gateway *gw, const char *account, const char *password, char *who,
                       size_t whosz);
/* 1 when account (DOMAIN\user) is still an administrator, 0 when not, -1 when unknown. */
int mgmt_account_is_admin(struct gateway *gw, const char *account);

/* web.c: the web console under /console/ (docs/console.md) */
int web_init(struct gateway *gw);
void web_free(struct gateway *gw);
void web_on_request(struct conn *c);
void web_on_body(struct conn *c);

/* tunnel.c */
struct tunnel *tunnel_new(struct gateway *gw, struct conn *out, bool websocket);
/* Processes buffered client packets (called after new bytes reached t->pkt_in). */
void tunnel_process(struct tunnel *t);
/* Hard close: logs, unregisters, closes both sides. Safe to call more than once. */
void tunnel_close(struct tunnel *t, const char *why);
/* Graceful server-initiated close: CLOSE_CHANNEL(status) in the data phase, then a short grace
 * for the client's CLOSE_CHANNEL_RESPONSE before the hard close. */
void tunnel_begin_close(struct tunnel *t, uint32_t status, const char *why);
/* Timers: called from the periodic sweep. */
void tunnel_tick(struct tunnel *t, uint64_t now);
/* The client connection c drained its output: resume target reads if they were paused. */
void tunnel_on_client_drained(struct tunnel *t);
/* Writes a whole TSGU packet (already built) towards the client. */
void tunnel_emit(struct tunnel *t, const uint8_t *pkt, size_t len);
void tunnel_reap(struct tunnel *t);
struct resolve_job;
/* A resolution submitted by the tunnel is done (takes ownership of job). */
void tunnel_on_resolved(struct gateway *gw, struct resolve_job *job);

#endif
