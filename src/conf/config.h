/* Configuration: an INI file parsed with line numbers, validated as a whole.
 *
 * Every problem is reported as "FILE:LINE: message" (all of them, not just the first), so
 * `tsgwd -t` can list what to fix. Relative paths resolve against the config file's directory.
 * Lists use ';'. See docs/tsgw.conf.md for every key and its default. */
#ifndef TSGW_CONF_CONFIG_H
#define TSGW_CONF_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "net/proxy.h"
#include "policy/policy.h"

#define CONF_MAX_LISTEN 8
#define CONF_MAX_NAMES 16

/* The seven RD Gateway audit switches (Win32_TSGatewayServerSettings.GetLogEventName order). */
enum audit_switch {
    AUDIT_CHANNEL_DISCONNECT,       /* 303 (and 202) */
    AUDIT_FAILURE_CHANNEL_CONNECT,  /* 304 */
    AUDIT_FAILURE_CONNECTION_AUTHZ, /* 201, 203 */
    AUDIT_FAILURE_RESOURCE_AUTHZ,   /* 301 */
    AUDIT_SUCCESS_CHANNEL_CONNECT,  /* 302 */
    AUDIT_SUCCESS_CONNECTION_AUTHZ, /* 200 */
    AUDIT_SUCCESS_RESOURCE_AUTHZ,   /* 300 */
    AUDIT_COUNT
};
extern const char *const audit_names[AUDIT_COUNT];

/* Which switch governs an event id; -1 when the event is always logged. */
int audit_switch_for_event(int id);

/* Every peer-controlled size, count and time, in one place (docs/limits.md). */
struct gw_limits {
    uint32_t max_request_line;  /* HTTP request line bytes */
    uint32_t max_header_line;   /* one header line */
    uint32_t max_headers;       /* header count */
    uint32_t max_header_bytes;  /* whole header block */
    uint32_t max_ws_message;    /* one WebSocket data message */
    uint32_t max_setup_packet;  /* TSGU packet before the channel is open */
    uint32_t max_packet;        /* TSGU packet once the channel is open (DATA: 65545) */
    uint32_t max_chunk;         /* one chunk of the legacy IN channel */
    uint32_t tls_handshake_ms;  /* accept -> TLS established */
    uint32_t auth_ms;           /* accept -> HTTP authentication finished */
    uint32_t setup_ms;          /* authentication -> channel open */
    uint32_t pairing_ms;        /* legacy OUT waits this long for its IN channel */
    uint32_t connect_ms;        /* target TCP connect */
    uint32_t close_grace_ms;    /* wait for CLOSE_CHANNEL_RESPONSE */
    uint32_t no_channel_ms;     /* a tunnel whose channel closed waits this long for a new one */
    uint32_t keepalive_ms;      /* server keepalive interval in the data phase */
    uint32_t max_unauth_total;  /* connections not yet authenticated, in total */
    uint32_t max_unauth_per_ip; /* ... per client address */
    uint32_t max_tunnels;       /* tunnels in total (0 = unlimited) */
    uint32_t relay_buffer;      /* bytes buffered per direction before backpressure */
    uint32_t auth_failures;     /* failed logons from one address within the window ... */
    uint32_t auth_failure_window_ms;
    uint32_t auth_block_ms; /* ... block that address's logons this long */
    /* floods (docs/limits.md "Pressure") */
    uint32_t ipv6_prefix;           /* IPv6 clients are counted by this prefix length */
    uint32_t unauth_high_water;     /* above this many unauthenticated: short deadlines (0 = 3/4) */
    uint32_t pressure_tls_ms;       /* tls-handshake-timeout above the high-water mark */
    uint32_t pressure_auth_ms;      /* auth-timeout above the high-water mark */
    uint32_t auth_failures_account; /* failures for one account from any address -> block */
    uint32_t auth_failures_address; /* failures from one address, any account -> block */
    uint32_t auth_block_max_ms;     /* blocks double each time up to this */
    uint32_t handshakes_per_turn;   /* TLS handshake steps per loop turn */
    uint32_t handshake_share;       /* percent of the time for handshakes while tunnels relay */
    uint32_t max_unauth_memory;     /* bytes for all unauthenticated connections together */
};

enum { CONF_DIRECTORY_NONE = 0, CONF_DIRECTORY_WINBIND = 1 };
enum { CONF_CB_IF_PRESENT = 0, CONF_CB_REQUIRED = 1 };

struct gw_config {
    int refs; /* see config_new / config_put */
    char path[PATH_MAX];
    char dir[PATH_MAX];
    /* [gateway] */
    char listen[CONF_MAX_LISTEN][128];
    unsigned nlisten;
    char certificate[PATH_MAX];
    char private_key[PATH_MAX];
    char admin_socket[PATH_MAX];
    char admin_group[64];
    char run_user[64];
    bool key_isolation;
    /* behind a TLS-terminating proxy (docs/farm.md, front b) */
    char backend_listen[128];             /* "" = none; plain HTTP after a PROXY v2 header */
    struct proxy_net trusted_proxies[16]; /* who may connect to backend-listen */
    unsigned ntrusted_proxies;
    bool backend_tls;                 /* backend-listen: TLS after the PROXY header */
    char front_certificate[PATH_MAX]; /* the proxy's certificate: NTLM channel binding */
    /* [auth] */
    char users_file[PATH_MAX];
    char netbios_domain[64];
    char netbios_name[64];
    char dns_domain[128];
    char dns_name[128];
    char gateway_names[CONF_MAX_NAMES][128]; /* accepted SPN hosts (HTTP/<name>) */
    unsigned ngateway_names;
    bool require_channel_binding;
    bool require_mic;
    int directory;                 /* CONF_DIRECTORY_NONE or CONF_DIRECTORY_WINBIND */
    uint32_t directory_timeout_ms; /* deadline of one directory logon */
    uint32_t directory_workers;    /* worker threads for directory calls */
    uint32_t group_cache_ttl_ms;   /* SID -> group name cache */
    /* Kerberos under Negotiate (docs/ad.md "Kerberos") */
    char keytab[PATH_MAX];       /* "" = no Kerberos acceptor */
    char service_principal[256]; /* "HTTP/rdgw.contoso.test" (realm: the default) */
    int channel_binding;         /* CONF_CB_IF_PRESENT or CONF_CB_REQUIRED */
    /* [kdc-proxy] */
    char kdc_proxy_realm[256]; /* "" = no POST /KdcProxy */
    char kdc_proxy_kdcs[CONF_MAX_LISTEN][128];
    unsigned kdc_proxy_nkdcs;
    uint32_t kdc_proxy_timeout_ms;
    uint32_t kdc_proxy_max_message;
    uint32_t kdc_proxy_rate; /* requests per minute per client address */
    uint32_t kdc_proxy_max_relays;
    bool basic_auth; /* [auth] basic: Basic over TLS against the credential store */
    /* [limits] */
    struct gw_limits lim;
    /* [cim] */
    char cim_listen[128]; /* "" = no CIM-XML endpoint */
    char cim_certificate[PATH_MAX];
    char cim_private_key[PATH_MAX];
    char cim_admin_group[128];
    uint32_t cim_max_body;
    /* [farm] (docs/farm.md) */
    char farm_redis[PATH_MAX]; /* "" = no farm; "ADDR:PORT" or a Unix socket path */
    char farm_password[256];   /* AUTH; "" = none */
    char farm_user[64];        /* AUTH user (Redis 6 ACL); "" = default */
    char farm_node[64];        /* node name; default: host name */
    uint32_t farm_ttl_ms;      /* a node's entries vanish this long after its last heartbeat */
    uint32_t farm_refresh_ms;  /* counters are rewritten at most this often */
    uint32_t farm_timeout_ms;  /* farm-wide calls wait this long for the other nodes */
    /* [web] (the console, docs/console.md; admin rule: cim_admin_group) */
    char web_listen[128]; /* "" = no console; may equal cim_listen (one listener for both) */
    uint32_t web_idle_ms;
    uint32_t web_lifetime_ms;
    /* [settings] */
    uint32_t max_connections; /* 0 = unlimited */
    char admin_message[1024];
    int64_t admin_message_start; /* Unix seconds; 0 = from now on */
    int64_t admin_message_end;   /* Unix seconds; 0 = no end */
    char consent_message[1024];
    bool only_consent_capable_clients;
    bool audit[AUDIT_COUNT]; /* which event classes are logged */
    /* [log] */
    char log_target[16];    /* auto, stderr, journal, syslog */
    uint32_t event_history; /* events kept in memory (tsgwctl watch, console) */
    uint32_t watch_queue;   /* events queued per tsgwctl watch before a gap */
    /* [metrics] */
    char metrics_listen[128]; /* "" = no /metrics endpoint */
    /* [cap:*] [rap:*] [resource-group:*] */
    struct policy policy;
};

/* Fills the defaults. */
void config_defaults(struct gw_config *cfg);

/* Loads and validates path. Each problem is appended to errors as "path:line: message\n".
 * Returns the number of problems (0 = usable). cfg must be released with config_free(). */
int config_load(const char *path, struct gw_config *cfg, struct buf *errors);

/* Same, from a string (for tests and fuzzing); name is used in messages, dir for paths. */
int config_load_string(const char *text, const char *name, const char *dir, struct gw_config *cfg,
                       struct buf *errors);

void config_free(struct gw_config *cfg);

/* A heap configuration with one reference (for the daemon: live tunnels keep the one their
 * policy decisions came from across a reload). */
struct gw_config *config_new(void);
struct gw_config *config_get(struct gw_config *cfg);
/* Drops a reference; frees at zero. NULL is ignored. */
void config_put(struct gw_config *cfg);

/* Parses a duration: "30" (default unit), "30s", "500ms", "5m", "1h". unit_ms is the unit of a
 * bare number. 0 or -EINVAL. */
int config_parse_duration_ms(const char *s, uint32_t unit_ms, uint32_t *out_ms);

#endif
