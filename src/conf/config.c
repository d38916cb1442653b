#include "conf/config.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "tsgu/tsgu.h"

#define CONF_MAX_FILE (1u << 20)

const char *const audit_names[AUDIT_COUNT] = {
    "LogChannelDisconnect",
    "LogFailureChannelConnect",
    "LogFailureConnectionAuthorizationCheck",
    "LogFailureResourceAuthorizationCheck",
    "LogSuccessfulChannelConnect",
    "LogSuccessfulConnectionAuthorizationCheck",
    "LogSuccessfulResourceAuthorizationCheck",
};

/* The spellings of the EnableLogEvent/IsLogEventEnabled pages, accepted too. */
static const char *const audit_alt_names[AUDIT_COUNT] = {
    "LogChannelDisconnect",
    "LogFailedChannelConnect",
    "LogFailureNetworkAccessCheck",
    "LogFailureResourceAccessCheck",
    "LogSuccessChannelConnect",
    "LogSuccessfulNetworkAccessCheck",
    "LogSuccessfulResourceAccessCheck",
};

int audit_switch_for_event(int id)
{
    switch (id) {
    case 200:
        return AUDIT_SUCCESS_CONNECTION_AUTHZ;
    case 201:
    case 203:
        return AUDIT_FAILURE_CONNECTION_AUTHZ;
    case 300:
        return AUDIT_SUCCESS_RESOURCE_AUTHZ;
    case 301:
        return AUDIT_FAILURE_RESOURCE_AUTHZ;
    case 302:
        return AUDIT_SUCCESS_CHANNEL_CONNECT;
    case 304:
        return AUDIT_FAILURE_CHANNEL_CONNECT;
    case 202:
    case 303:
    case 307:
        return AUDIT_CHANNEL_DISCONNECT;
    default:
        return -1;
    }
}

/* "2026-11-25 08:00", "2026-11-25T08:00:00" (local time) or "@UNIXSECONDS". */
static int parse_time(const char *v, int64_t *out)
{
    if (v[0] == '@') {
        uint64_t x;
        if (parse_u64(v + 1, 0, INT64_MAX, &x) < 0)
            return -1;
        *out = (int64_t)x;
        return 0;
    }
    static const char *fmts[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                                 "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(v, fmts[i], &tm);
        if (e && !*e) {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            if (t == (time_t)-1)
                return -1;
            *out = (int64_t)t;
            return 0;
        }
    }
    return -1;
}
#define CONF_MAX_LINE 4096

struct loader {
    struct gw_config *cfg;
    struct buf *errors;
    const char *name;
    int nerr;
    int line;
    /* current section */
    enum {
        SEC_NONE,
        SEC_GATEWAY,
        SEC_AUTH,
        SEC_LIMITS,
        SEC_SETTINGS,
        SEC_CIM,
        SEC_LOG,
        SEC_METRICS,
        SEC_KDC_PROXY,
        SEC_FARM,
        SEC_WEB,
        SEC_CAP,
        SEC_RAP,
        SEC_GROUP,
        SEC_UNKNOWN
    } sec;
    void *obj; /* current cap/rap/group */
    int cap_line, rap_line;
    bool rap_has_resources;
};

static void err(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err(struct loader *L, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->line > 0)
        buf_printf(L->errors, "%s:%d: %s\n", L->name, L->line, msg);
    else
        buf_printf(L->errors, "%s: %s\n", L->name, msg);
    L->nerr++;
}

void config_defaults(struct gw_config *c)
{
    int refs = c->refs;
    memset(c, 0, sizeof *c);
    c->refs = refs;
    str_copy(c->admin_group, "tsgw-admins", sizeof c->admin_group);
    str_copy(c->netbios_domain, "TSGW", sizeof c->netbios_domain);
    char host[256] = "gateway";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    str_copy(c->dns_name, host, sizeof c->dns_name);
    char nb[16];
    size_t i;
    for (i = 0; i < 15 && host[i] && host[i] != '.'; i++)
        nb[i] = (char)toupper((unsigned char)host[i]);
    nb[i] = 0;
    str_copy(c->netbios_name, nb[0] ? nb : "GATEWAY", sizeof c->netbios_name);
    c->require_channel_binding = true;
    c->require_mic = true;
    c->directory_timeout_ms = 10000;
    c->directory_workers = 4;
    c->group_cache_ttl_ms = 300000;
    c->kdc_proxy_timeout_ms = 5000;
    c->kdc_proxy_max_message = 65536;
    c->kdc_proxy_rate = 120;
    c->kdc_proxy_max_relays = 256;
    c->key_isolation = true;
    str_copy(c->cim_admin_group, "BUILTIN\\Administrators", sizeof c->cim_admin_group);
    c->cim_max_body = 1u << 20;
    c->web_idle_ms = 15 * 60000;
    c->web_lifetime_ms = 8 * 3600000;
    str_copy(c->farm_node, host, sizeof c->farm_node);
    c->farm_ttl_ms = 10000;
    c->farm_refresh_ms = 5000;
    c->farm_timeout_ms = 2000;
    for (int a = 0; a < AUDIT_COUNT; a++)
        c->audit[a] = true;
    str_copy(c->log_target, "auto", sizeof c->log_target);
    c->event_history = 1000;
    c->watch_queue = 1024;
    struct gw_limits *l = &c->lim;
    l->max_request_line = 4096;
    l->max_header_line = 8192;
    l->max_headers = 64;
    l->max_header_bytes = 16384;
    l->max_ws_message = 131072;
    l->max_setup_packet = 32768;
    l->max_packet = 10 + TSGU_MAX_DATA;
    l->max_chunk = 131072;
    l->tls_handshake_ms = 10000;
    l->auth_ms = 30000;
    l->setup_ms = 60000;
    l->pairing_ms = 30000;
    l->connect_ms = 10000;
    l->close_grace_ms = 1000;
    l->no_channel_ms = 30000;
    l->keepalive_ms = 30000;
    l->max_unauth_total = 2048;
    l->max_unauth_per_ip = 64;
    l->max_tunnels = 0;
    l->relay_buffer = 262144;
    l->auth_failures = 5;
    l->auth_failure_window_ms = 60000;
    l->auth_block_ms = 30000;
    l->ipv6_prefix = 64;
    l->unauth_high_water = 0;
    l->pressure_tls_ms = 3000;
    l->pressure_auth_ms = 5000;
    l->auth_failures_account = 20;
    l->auth_failures_address = 100;
    l->auth_block_max_ms = 900000;
    l->handshakes_per_turn = 16;
    l->handshake_share = 10;
    l->max_unauth_memory = 128u << 20;
}

int config_parse_duration_ms(const char *s, uint32_t unit_ms, uint32_t *out)
{
    char num[32];
    size_t i = 0;
    while (s[i] >= '0' && s[i] <= '9' && i < sizeof num - 1) {
        num[i] = s[i];
        i++;
    }
    num[i] = 0;
    if (!i)
        return -EINVAL;
    uint64_t v;
    if (parse_u64(num, 0, UINT32_MAX, &v) < 0)
        return -EINVAL;
    const char *u = s + i;
    uint64_t mul;
    if (!*u)
        mul = unit_ms;
    else if (!strcmp(u, "ms"))
        mul = 1;
    else if (!strcmp(u, "s"))
        mul = 1000;
    else if (!strcmp(u, "m"))
        mul = 60000;
    else if (!strcmp(u, "h"))
        mul = 3600000;
    else
        return -EINVAL;
    if (v * mul > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)(v * mul);
    return 0;
}

static bool parse_bool(const char *v, bool *out)
{
    if (str_ieq(v, "yes") || str_ieq(v, "true") || str_ieq(v, "on") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (str_ieq(v, "no") || str_ieq(v, "false") || str_ieq(v, "off") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

/* A ';'-separated list of numeric ADDRESS:PORT values (listen, kdcs): at most CONF_MAX_LISTEN,
 * each checked, empty items skipped; every problem reported with the key's name. */
static void set_addr_list(struct loader *L, const char *v, const char *key, const char *what,
                          const char *example, char out[CONF_MAX_LISTEN][128], unsigned *n)
{
    char *dup = strdup(v), *save = NULL;
    *n = 0;
    if (!dup) {
        err(L, "out of memory");
        return;
    }
    for (char *t = strtok_r(dup, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        t = str_trim(t);
        struct sockaddr_storage ss;
        socklen_t sl;
        if (!*t)
            continue;
        if (*n >= CONF_MAX_LISTEN)
            err(L, "at most %d %s", CONF_MAX_LISTEN, what);
        else if (parse_hostport(t, &ss, &sl) < 0)
            err(L, "%s: '%s' is not ADDRESS:PORT (numeric, e.g. %s)", key, t, example);
        else
            str_copy(out[(*n)++], t, 128);
    }
    free(dup);
}

static void set_path(struct loader *L, char *dst, const char *v)
{
    if (!*v) {
        err(L, "empty path");
        return;
    }
    if (v[0] == '/' || !L->cfg->dir[0]) {
        if (str_copy(dst, v, PATH_MAX) >= PATH_MAX)
            err(L, "path too long");
        return;
    }
    if ((size_t)snprintf(dst, PATH_MAX, "%s/%s", L->cfg->dir, v) >= PATH_MAX)
        err(L, "path too long");
}

static void set_str(struct loader *L, char *dst, size_t dsz, const char *v)
{
    if (str_copy(dst, v, dsz) >= dsz)
        err(L, "value too long (at most %zu bytes)", dsz - 1);
}

/* One numeric ADDRESS:PORT (checked now, bound later); empty is accepted when allow_empty. */
static void set_hostport(struct loader *L, const char *key, char *dst, size_t dsz, const char *v,
                         bool allow_empty)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if ((*v || !allow_empty) && parse_hostport(v, &ss, &sl) < 0)
        err(L, "%s: '%s' is not ADDRESS:PORT (a numeric address and port)", key, v);
    else
        set_str(L, dst, dsz, v);
}

static void set_u32(struct loader *L, uint32_t *dst, const char *v, uint32_t min, uint32_t max)
{
    uint64_t x;
    if (parse_u64(v, min, max, &x) < 0)
        err(L, "'%s' is not a number in %u..%u", v, min, max);
    else
        *dst = (uint32_t)x;
}

static void set_dur(struct loader *L, uint32_t *dst, const char *v, uint32_t unit)
{
    if (config_parse_duration_ms(v, unit, dst) < 0)
        err(L, "'%s' is not a duration (e.g. 30, 30s, 500ms, 5m)", v);
}

static void kv_gateway(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "backend-listen")) {
        set_hostport(L, k, c->backend_listen, sizeof c->backend_listen, v, false);
        return;
    }
    if (!strcmp(k, "trusted-proxies")) {
        char *dup = strdup(v), *save = NULL;
        c->ntrusted_proxies = 0;
        for (char *t = dup ? strtok_r(dup, ";", &save) : NULL; t; t = strtok_r(NULL, ";", &save)) {
            t = str_trim(t);
            if (!*t)
                continue;
            if (c->ntrusted_proxies == ARRAY_SIZE(c->trusted_proxies)) {
                err(L, "trusted-proxies: at most %zu", ARRAY_SIZE(c->trusted_proxies));
                break;
            }
            if (proxy_net_parse(t, &c->trusted_proxies[c->ntrusted_proxies]) < 0)
                err(L, "trusted-proxies: '%s' is not an address or ADDRESS/PREFIX", t);
            else
                c->ntrusted_proxies++;
        }
        free(dup);
        return;
    }
    if (!strcmp(k, "backend-tls")) {
        if (!parse_bool(v, &c->backend_tls))
            err(L, "'%s' is not yes/no", v);
        return;
    }
    if (!strcmp(k, "front-certificate")) {
        set_path(L, c->front_certificate, v);
        return;
    }
    if (!strcmp(k, "listen")) {
        set_addr_list(L, v, "listen", "listen addresses", "127.0.0.1:8443", c->listen, &c->nlisten);
    } else if (!strcmp(k, "certificate")) {
        set_path(L, c->certificate, v);
    } else if (!strcmp(k, "private-key")) {
        set_path(L, c->private_key, v);
    } else if (!strcmp(k, "admin-socket")) {
        set_path(L, c->admin_socket, v);
    } else if (!strcmp(k, "admin-group")) {
        set_str(L, c->admin_group, sizeof c->admin_group, v);
    } else if (!strcmp(k, "user")) {
        set_str(L, c->run_user, sizeof c->run_user, v);
    } else if (!strcmp(k, "key-isolation")) {
        bool b;
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        c->key_isolation = b;
    } else {
        err(L, "unknown key '%s' in [gateway]", k);
    }
}

static void kv_auth(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    bool b;
    if (!strcmp(k, "users-file")) {
        set_path(L, c->users_file, v);
    } else if (!strcmp(k, "netbios-domain")) {
        set_str(L, c->netbios_domain, 16, v);
    } else if (!strcmp(k, "netbios-name")) {
        set_str(L, c->netbios_name, 16, v);
    } else if (!strcmp(k, "dns-domain")) {
        set_str(L, c->dns_domain, sizeof c->dns_domain, v);
    } else if (!strcmp(k, "dns-name")) {
        set_str(L, c->dns_name, sizeof c->dns_name, v);
    } else if (!strcmp(k, "gateway-names")) {
        char *dup = strdup(v), *save = NULL;
        c->ngateway_names = 0;
        for (char *t = strtok_r(dup, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
            t = str_trim(t);
            if (!*t)
                continue;
            if (c->ngateway_names >= CONF_MAX_NAMES)
                err(L, "at most %d gateway names", CONF_MAX_NAMES);
            else
                set_str(L, c->gateway_names[c->ngateway_names++], sizeof c->gateway_names[0], t);
        }
        free(dup);
    } else if (!strcmp(k, "require-channel-binding")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        c->require_channel_binding = b;
    } else if (!strcmp(k, "require-mic")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        c->require_mic = b;
    } else if (!strcmp(k, "directory")) {
        if (!strcasecmp(v, "winbind"))
            c->directory = CONF_DIRECTORY_WINBIND;
        else if (!strcasecmp(v, "none") || !*v)
            c->directory = CONF_DIRECTORY_NONE;
        else
            err(L, "directory '%s': only 'winbind' or 'none'", v);
    } else if (!strcmp(k, "directory-timeout")) {
        uint32_t ms = 0;
        if (config_parse_duration_ms(v, 1000, &ms) < 0 || ms < 100 || ms > 25000)
            err(L, "directory-timeout '%s': a duration from 100ms to 25s", v);
        else
            c->directory_timeout_ms = ms;
    } else if (!strcmp(k, "directory-workers")) {
        set_u32(L, &c->directory_workers, v, 1, 32);
    } else if (!strcmp(k, "group-cache-ttl")) {
        set_dur(L, &c->group_cache_ttl_ms, v, 1000);
    } else if (!strcmp(k, "keytab")) {
        set_path(L, c->keytab, v);
    } else if (!strcmp(k, "service-principal")) {
        if (!*v || strchr(v, ' ') || strchr(v, '\\'))
            err(L, "service-principal '%s': a Kerberos principal such as HTTP/gw.example.com", v);
        else
            set_str(L, c->service_principal, sizeof c->service_principal, v);
    } else if (!strcmp(k, "channel-binding")) {
        if (!strcasecmp(v, "if-present"))
            c->channel_binding = CONF_CB_IF_PRESENT;
        else if (!strcasecmp(v, "required"))
            c->channel_binding = CONF_CB_REQUIRED;
        else
            err(L, "channel-binding '%s': 'if-present' or 'required'", v);
    } else if (!strcmp(k, "basic")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        c->basic_auth = b;
    } else {
        err(L, "unknown key '%s' in [auth]", k);
    }
}

static void kv_kdc_proxy(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "realm")) {
        for (const char *p = v; *p; p++)
            if (*p <= ' ' || *p > '~') {
                err(L, "realm '%s': printable ASCII without spaces", v);
                return;
            }
        set_str(L, c->kdc_proxy_realm, sizeof c->kdc_proxy_realm, v);
    } else if (!strcmp(k, "kdcs")) {
        set_addr_list(L, v, "kdcs", "kdcs", "10.0.0.5:88", c->kdc_proxy_kdcs, &c->kdc_proxy_nkdcs);
    } else if (!strcmp(k, "timeout")) {
        uint32_t ms = 0;
        if (config_parse_duration_ms(v, 1000, &ms) < 0 || ms < 100 || ms > 60000)
            err(L, "timeout '%s': a duration from 100ms to 60s", v);
        else
            c->kdc_proxy_timeout_ms = ms;
    } else if (!strcmp(k, "max-message")) {
        set_u32(L, &c->kdc_proxy_max_message, v, 1024, 65536);
    } else if (!strcmp(k, "max-requests")) {
        set_u32(L, &c->kdc_proxy_rate, v, 1, 1000000);
    } else if (!strcmp(k, "max-relays")) {
        set_u32(L, &c->kdc_proxy_max_relays, v, 1, 65536);
    } else {
        err(L, "unknown key '%s' in [kdc-proxy]", k);
    }
}

static void kv_limits(struct loader *L, const char *k, const char *v)
{
    struct gw_limits *l = &L->cfg->lim;
    static const struct {
        const char *key;
        size_t off;
        uint32_t min, max;
    } sizes[] = {
        {"max-request-line", offsetof(struct gw_limits, max_request_line), 64, 65536},
        {"max-header-line", offsetof(struct gw_limits, max_header_line), 64, 65536},
        {"max-headers", offsetof(struct gw_limits, max_headers), 4, 128},
        {"max-header-bytes", offsetof(struct gw_limits, max_header_bytes), 256, 262144},
        {"max-websocket-message", offsetof(struct gw_limits, max_ws_message), 65545, 16777216},
        {"max-setup-packet", offsetof(struct gw_limits, max_setup_packet), 1024, 1048576},
        {"max-chunk", offsetof(struct gw_limits, max_chunk), 65545, 16777216},
        {"max-unauthenticated", offsetof(struct gw_limits, max_unauth_total), 1, 1000000},
        {"max-unauthenticated-per-address", offsetof(struct gw_limits, max_unauth_per_ip), 1,
         1000000},
        {"max-tunnels", offsetof(struct gw_limits, max_tunnels), 0, 10000000},
        {"relay-buffer", offsetof(struct gw_limits, relay_buffer), 65536, 67108864},
        {"auth-failures", offsetof(struct gw_limits, auth_failures), 1, 1000000},
        {"ipv6-prefix", offsetof(struct gw_limits, ipv6_prefix), 1, 128},
        {"unauthenticated-high-water", offsetof(struct gw_limits, unauth_high_water), 0, 1000000},
        {"auth-failures-per-account", offsetof(struct gw_limits, auth_failures_account), 1,
         1000000},
        {"auth-failures-per-address", offsetof(struct gw_limits, auth_failures_address), 1,
         1000000},
        {"handshakes-per-turn", offsetof(struct gw_limits, handshakes_per_turn), 1, 100000},
        {"handshake-share", offsetof(struct gw_limits, handshake_share), 1, 100},
        {"max-unauthenticated-memory", offsetof(struct gw_limits, max_unauth_memory), 1u << 20,
         UINT32_MAX},
    };
    static const struct {
        const char *key;
        size_t off;
    } times[] = {
        {"tls-handshake-timeout", offsetof(struct gw_limits, tls_handshake_ms)},
        {"auth-timeout", offsetof(struct gw_limits, auth_ms)},
        {"setup-timeout", offsetof(struct gw_limits, setup_ms)},
        {"pairing-timeout", offsetof(struct gw_limits, pairing_ms)},
        {"connect-timeout", offsetof(struct gw_limits, connect_ms)},
        {"close-grace", offsetof(struct gw_limits, close_grace_ms)},
        {"no-channel-timeout", offsetof(struct gw_limits, no_channel_ms)},
        {"keepalive-interval", offsetof(struct gw_limits, keepalive_ms)},
        {"auth-failure-window", offsetof(struct gw_limits, auth_failure_window_ms)},
        {"auth-block", offsetof(struct gw_limits, auth_block_ms)},
        {"pressure-tls-handshake-timeout", offsetof(struct gw_limits, pressure_tls_ms)},
        {"pressure-auth-timeout", offsetof(struct gw_limits, pressure_auth_ms)},
        {"auth-block-max", offsetof(struct gw_limits, auth_block_max_ms)},
    };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
        if (!strcmp(k, sizes[i].key)) {
            set_u32(L, (uint32_t *)((char *)l + sizes[i].off), v, sizes[i].min, sizes[i].max);
            return;
        }
    for (size_t i = 0; i < ARRAY_SIZE(times); i++)
        if (!strcmp(k, times[i].key)) {
            uint32_t *dst = (uint32_t *)((char *)l + times[i].off);
            set_dur(L, dst, v, 1000);
            if (*dst == 0 && strcmp(k, "keepalive-interval"))
                err(L, "%s must be greater than 0", k);
            return;
        }
    err(L, "unknown key '%s' in [limits]", k);
}

static void kv_settings(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    bool b;
    for (int i = 0; i < AUDIT_COUNT; i++)
        if (str_ieq(k, audit_names[i]) || str_ieq(k, audit_alt_names[i])) {
            if (!parse_bool(v, &b)) {
                err(L, "'%s' is not yes/no", v);
                return;
            }
            c->audit[i] = b;
            return;
        }
    if (!strcmp(k, "max-connections")) {
        if (str_ieq(v, "unlimited"))
            c->max_connections = 0;
        else
            set_u32(L, &c->max_connections, v, 1, 10000000);
    } else if (!strcmp(k, "admin-message")) {
        set_str(L, c->admin_message, sizeof c->admin_message, v);
    } else if (!strcmp(k, "admin-message-start") || !strcmp(k, "admin-message-end")) {
        int64_t *dst = k[14] == 's' ? &c->admin_message_start : &c->admin_message_end;
        if (parse_time(v, dst) < 0)
            err(L, "%s: '%s' is not a time (YYYY-MM-DD HH:MM[:SS], local time)", k, v);
    } else if (!strcmp(k, "consent-message")) {
        set_str(L, c->consent_message, sizeof c->consent_message, v);
    } else if (!strcmp(k, "only-consent-capable-clients")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        c->only_consent_capable_clients = b;
    } else {
        err(L, "unknown key '%s' in [settings]", k);
    }
}

static void kv_log(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "target")) {
        if (strcmp(v, "auto") && strcmp(v, "stderr") && strcmp(v, "journal") && strcmp(v, "syslog"))
            err(L, "target: '%s' is not auto, stderr, journal or syslog", v);
        else
            set_str(L, c->log_target, sizeof c->log_target, v);
    } else if (!strcmp(k, "event-history")) {
        set_u32(L, &c->event_history, v, 0, 100000);
    } else if (!strcmp(k, "watch-queue")) {
        set_u32(L, &c->watch_queue, v, 16, 65536);
    } else {
        err(L, "unknown key '%s' in [log]", k);
    }
}

static void kv_metrics(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "listen")) {
        set_hostport(L, k, c->metrics_listen, sizeof c->metrics_listen, v, true);
    } else {
        err(L, "unknown key '%s' in [metrics]", k);
    }
}

static void kv_cim(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "listen")) {
        set_hostport(L, k, c->cim_listen, sizeof c->cim_listen, v, false);
    } else if (!strcmp(k, "certificate")) {
        set_path(L, c->cim_certificate, v);
    } else if (!strcmp(k, "private-key")) {
        set_path(L, c->cim_private_key, v);
    } else if (!strcmp(k, "admin-group")) {
        set_str(L, c->cim_admin_group, sizeof c->cim_admin_group, v);
    } else if (!strcmp(k, "max-body")) {
        set_u32(L, &c->cim_max_body, v, 4096, 16u << 20);
    } else {
        err(L, "unknown key '%s' in [cim]", k);
    }
}

static void kv_farm(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "redis")) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (v[0] == '/' || v[0] == '.') {
            if (strlen(v) >= 100)
                err(L, "redis: Unix socket path too long (at most 99 bytes)");
            else
                set_path(L, c->farm_redis, v);
        } else if (parse_hostport(v, &ss, &sl) < 0) {
            err(L, "redis: '%s' is not ADDRESS:PORT (numeric) nor a Unix socket path", v);
        } else {
            set_str(L, c->farm_redis, sizeof c->farm_redis, v);
        }
    } else if (!strcmp(k, "password")) {
        set_str(L, c->farm_password, sizeof c->farm_password, v);
    } else if (!strcmp(k, "user")) {
        set_str(L, c->farm_user, sizeof c->farm_user, v);
    } else if (!strcmp(k, "node-name")) {
        bool ok = *v && strlen(v) < sizeof c->farm_node;
        for (const char *p = v; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_' || *p == '.';
        if (!ok)
            err(L, "node-name: 1..%zu of A-Z a-z 0-9 . - _", sizeof c->farm_node - 1);
        else
            set_str(L, c->farm_node, sizeof c->farm_node, v);
    } else if (!strcmp(k, "ttl")) {
        set_dur(L, &c->farm_ttl_ms, v, 1000);
        if (c->farm_ttl_ms < 2000 || c->farm_ttl_ms > 3600000)
            err(L, "ttl: 2s..1h");
    } else if (!strcmp(k, "refresh")) {
        set_dur(L, &c->farm_refresh_ms, v, 1000);
        if (c->farm_refresh_ms < 500 || c->farm_refresh_ms > 3600000)
            err(L, "refresh: 500ms..1h");
    } else if (!strcmp(k, "timeout")) {
        set_dur(L, &c->farm_timeout_ms, v, 1000);
        if (c->farm_timeout_ms < 100 || c->farm_timeout_ms > 60000)
            err(L, "timeout: 100ms..60s");
    } else {
        err(L, "unknown key '%s' in [farm]", k);
    }
}

static void kv_web(struct loader *L, const char *k, const char *v)
{
    struct gw_config *c = L->cfg;
    if (!strcmp(k, "listen")) {
        set_hostport(L, k, c->web_listen, sizeof c->web_listen, v, false);
    } else if (!strcmp(k, "session-idle-timeout")) {
        set_dur(L, &c->web_idle_ms, v, 60000);
        if (c->web_idle_ms < 1000)
            err(L, "session-idle-timeout must be at least 1s");
    } else if (!strcmp(k, "session-lifetime")) {
        set_dur(L, &c->web_lifetime_ms, v, 60000);
        if (c->web_lifetime_ms < 1000)
            err(L, "session-lifetime must be at least 1s");
    } else {
        err(L, "unknown key '%s' in [web]", k);
    }
}

static void kv_cap(struct loader *L, const char *k, const char *v)
{
    struct policy_cap *cap = L->obj;
    bool b;
    if (!strcmp(k, "user-groups")) {
        if (policy_parse_list(v, &cap->user_groups) < 0)
            err(L, "bad user-groups list");
    } else if (!strcmp(k, "order")) {
        uint32_t o = 0;
        set_u32(L, &o, v, 0, 1000000);
        cap->order = (int)o;
    } else if (!strcmp(k, "enabled")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        cap->enabled = b;
    } else if (!strcmp(k, "idle-timeout")) {
        set_dur(L, &cap->idle_timeout_s, v, 60000);
        cap->idle_timeout_s /= 1000;
    } else if (!strcmp(k, "session-timeout")) {
        set_dur(L, &cap->session_timeout_s, v, 60000);
        cap->session_timeout_s /= 1000;
    } else if (!strcmp(k, "session-timeout-action")) {
        if (str_ieq(v, "disconnect"))
            cap->session_timeout_action = 0;
        else if (str_ieq(v, "reauthorize"))
            cap->session_timeout_action = 1;
        else
            err(L, "session-timeout-action: '%s' is not disconnect or reauthorize", v);
    } else if (!strcmp(k, "password-allowed") || !strcmp(k, "cookie-allowed") ||
               !strcmp(k, "disable-drives") || !strcmp(k, "disable-printers") ||
               !strcmp(k, "disable-serial-ports") || !strcmp(k, "disable-clipboard") ||
               !strcmp(k, "disable-pnp")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        bool *dst = !strcmp(k, "password-allowed")       ? &cap->password_allowed
                    : !strcmp(k, "cookie-allowed")       ? &cap->cookie_allowed
                    : !strcmp(k, "disable-drives")       ? &cap->disable_drives
                    : !strcmp(k, "disable-printers")     ? &cap->disable_printers
                    : !strcmp(k, "disable-serial-ports") ? &cap->disable_serial_ports
                    : !strcmp(k, "disable-clipboard")    ? &cap->disable_clipboard
                                                         : &cap->disable_pnp;
        *dst = b;
    } else if (!strcmp(k, "device-redirection")) {
        if (str_ieq(v, "all"))
            cap->redir_type = 0;
        else if (str_ieq(v, "none"))
            cap->redir_type = 1;
        else if (str_ieq(v, "all-except"))
            cap->redir_type = 2;
        else
            err(L, "device-redirection: '%s' is not all, none or all-except", v);
    } else {
        err(L, "unknown key '%s' in [cap:%s]", k, cap->name);
    }
}

static void kv_rap(struct loader *L, const char *k, const char *v)
{
    struct policy_rap *rap = L->obj;
    bool b;
    char bad[POLICY_PATTERN_MAX] = "";
    if (!strcmp(k, "user-groups")) {
        if (policy_parse_list(v, &rap->user_groups) < 0)
            err(L, "bad user-groups list");
    } else if (!strcmp(k, "enabled")) {
        if (!parse_bool(v, &b)) {
            err(L, "'%s' is not yes/no", v);
            return;
        }
        rap->enabled = b;
    } else if (!strcmp(k, "resource-group")) {
        set_str(L, rap->group_name, sizeof rap->group_name, v);
    } else if (!strcmp(k, "resources")) {
        free(rap->res);
        rap->res = NULL;
        rap->nres = 0;
        if (policy_parse_resource_list(v, &rap->res, &rap->nres, bad, sizeof bad) < 0)
            err(L,
                "resources: '%s' is not a host name, address or CIDR range (write address "
                "ranges as CIDR, e.g. 10.1.0.0/16)",
                bad);
        L->rap_has_resources = true;
    } else if (!strcmp(k, "ports")) {
        if (policy_parse_ports(v, rap) < 0)
            err(L, "ports: '%s' is not '*' or a list of ports 1..65535", v);
    } else if (!strcmp(k, "protocols")) {
        if (policy_parse_list(v, &rap->protocols) < 0)
            err(L, "bad protocols list");
        for (size_t i = 0; i < rap->protocols.n; i++)
            if (!str_ieq(rap->protocols.v[i], "RDP"))
                err(L, "protocols: '%s' is not supported (only RDP)", rap->protocols.v[i]);
    } else if (!strcmp(k, "description")) {
        set_str(L, rap->description, sizeof rap->description, v);
    } else {
        err(L, "unknown key '%s' in [rap:%s]", k, rap->name);
    }
}

static void kv_group(struct loader *L, const char *k, const char *v)
{
    struct policy_group *g = L->obj;
    char bad[POLICY_PATTERN_MAX] = "";
    if (!strcmp(k, "description")) {
        set_str(L, g->description, sizeof g->description, v);
    } else if (!strcmp(k, "resources")) {
        free(g->res);
        g->res = NULL;
        g->nres = 0;
        if (policy_parse_resource_list(v, &g->res, &g->nres, bad, sizeof bad) < 0)
            err(L, "resources: '%s' is not a host name, address or CIDR range", bad);
    } else {
        err(L, "unknown key '%s' in [resource-group:%s]", k, g->name);
    }
}

static void finish_section(struct loader *L)
{
    if (L->sec == SEC_RAP) {
        struct policy_rap *rap = L->obj;
        int save = L->line;
        L->line = L->rap_line;
        if (rap->group_name[0] && L->rap_has_resources)
            err(L, "[rap:%s] has both resource-group and resources", rap->name);
        else if (!rap->group_name[0] && !L->rap_has_resources)
            err(L, "[rap:%s] needs resource-group or resources", rap->name);
        if (!rap->any_port && !rap->nports)
            err(L, "[rap:%s] needs ports (a list, or *)", rap->name);
        if (!rap->user_groups.n)
            err(L, "[rap:%s] needs user-groups (a list, or *)", rap->name);
        L->line = save;
    } else if (L->sec == SEC_CAP) {
        struct policy_cap *cap = L->obj;
        int save = L->line;
        L->line = L->cap_line;
        if (!cap->user_groups.n)
            err(L, "[cap:%s] needs user-groups (a list, or *)", cap->name);
        if (cap->redir_type != 2 &&
            (cap->disable_drives || cap->disable_printers || cap->disable_serial_ports ||
             cap->disable_clipboard || cap->disable_pnp))
            err(L, "[cap:%s] disable-* needs device-redirection = all-except", cap->name);
        policy_cap_finish(cap);
        L->line = save;
    }
}

static void start_section(struct loader *L, char *name)
{
    finish_section(L);
    struct policy *p = &L->cfg->policy;
    char *colon = strchr(name, ':');
    char *sub = colon ? str_trim(colon + 1) : NULL;
    if (colon)
        *colon = 0;
    name = str_trim(name);
    L->obj = NULL;
    if (!sub) {
        if (!strcmp(name, "gateway"))
            L->sec = SEC_GATEWAY;
        else if (!strcmp(name, "auth"))
            L->sec = SEC_AUTH;
        else if (!strcmp(name, "limits"))
            L->sec = SEC_LIMITS;
        else if (!strcmp(name, "settings"))
            L->sec = SEC_SETTINGS;
        else if (!strcmp(name, "cim"))
            L->sec = SEC_CIM;
        else if (!strcmp(name, "log"))
            L->sec = SEC_LOG;
        else if (!strcmp(name, "metrics"))
            L->sec = SEC_METRICS;
        else if (!strcmp(name, "kdc-proxy"))
            L->sec = SEC_KDC_PROXY;
        else if (!strcmp(name, "farm"))
            L->sec = SEC_FARM;
        else if (!strcmp(name, "web"))
            L->sec = SEC_WEB;
        else {
            err(L, "unknown section [%s]", name);
            L->sec = SEC_UNKNOWN;
        }
        return;
    }
    if (!*sub || strlen(sub) >= POLICY_NAME_MAX) {
        err(L, "section [%s:...] needs a name of 1..%d bytes", name, POLICY_NAME_MAX - 1);
        L->sec = SEC_UNKNOWN;
        return;
    }
    if (!strcmp(name, "cap")) {
        for (size_t i = 0; i < p->ncaps; i++)
            if (str_ieq(p->caps[i].name, sub))
                err(L, "duplicate [cap:%s]", sub);
        struct policy_cap *nv = realloc(p->caps, (p->ncaps + 1) * sizeof *nv);
        if (!nv)
            abort();
        p->caps = nv;
        struct policy_cap *c = &p->caps[p->ncaps];
        memset(c, 0, sizeof *c);
        str_copy(c->name, sub, sizeof c->name);
        c->enabled = true;
        c->password_allowed = true;
        c->order = (int)p->ncaps + 1;
        c->redir_flags = TSGU_REDIR_ENABLE_ALL;
        L->obj = c;
        L->sec = SEC_CAP;
        L->cap_line = L->line;
        /* realloc moved earlier objects: only the newest one is referenced by L->obj */
        p->ncaps++;
    } else if (!strcmp(name, "rap")) {
        for (size_t i = 0; i < p->nraps; i++)
            if (str_ieq(p->raps[i].name, sub))
                err(L, "duplicate [rap:%s]", sub);
        struct policy_rap *nv = realloc(p->raps, (p->nraps + 1) * sizeof *nv);
        if (!nv)
            abort();
        p->raps = nv;
        struct policy_rap *r = &p->raps[p->nraps++];
        memset(r, 0, sizeof *r);
        str_copy(r->name, sub, sizeof r->name);
        r->enabled = true;
        r->conf_line = L->line;
        L->obj = r;
        L->sec = SEC_RAP;
        L->rap_line = L->line;
        L->rap_has_resources = false;
    } else if (!strcmp(name, "resource-group")) {
        for (size_t i = 0; i < p->ngroups; i++)
            if (str_ieq(p->groups[i].name, sub))
                err(L, "duplicate [resource-group:%s]", sub);
        struct policy_group *nv = realloc(p->groups, (p->ngroups + 1) * sizeof *nv);
        if (!nv)
            abort();
        p->groups = nv;
        struct policy_group *g = &p->groups[p->ngroups++];
        memset(g, 0, sizeof *g);
        str_copy(g->name, sub, sizeof g->name);
        L->obj = g;
        L->sec = SEC_GROUP;
    } else {
        err(L, "unknown section [%s:%s]", name, sub);
        L->sec = SEC_UNKNOWN;
    }
}

/* An inline comment starts at ';' or '#' preceded by white space; a ';' right after text is a
 * list separator ("a; b"). */
static void strip_inline_comment(char *v)
{
    for (char *p = v + 1; *p; p++)
        if ((*p == ';' || *p == '#') && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = 0;
            return;
        }
}

static void parse_text(struct loader *L, const char *text, size_t len)
{
    size_t pos = 0;
    L->line = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n')
            e++;
        L->line++;
        size_t ll = e - pos;
        if (ll >= CONF_MAX_LINE) {
            err(L, "line longer than %d bytes", CONF_MAX_LINE - 1);
            pos = e + 1;
            continue;
        }
        char line[CONF_MAX_LINE];
        memcpy(line, text + pos, ll);
        line[ll] = 0;
        pos = e + 1;
        if (memchr(line, 0, ll)) {
            err(L, "NUL byte in line");
            continue;
        }
        char *s = str_trim(line);
        if (!*s || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                err(L, "section header without ']'");
                finish_section(L);
                L->sec = SEC_UNKNOWN;
                continue;
            }
            *close = 0;
            char *rest = str_trim(close + 1);
            if (*rest && *rest != ';' && *rest != '#')
                err(L, "text after section header");
            start_section(L, s + 1);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            err(L, "expected 'key = value'");
            continue;
        }
        *eq = 0;
        char *k = str_trim(s);
        char *v = eq + 1;
        strip_inline_comment(v);
        v = str_trim(v);
        if (!*k) {
            err(L, "missing key before '='");
            continue;
        }
        switch (L->sec) {
        case SEC_NONE:
            err(L, "'%s' outside of any section", k);
            break;
        case SEC_GATEWAY:
            kv_gateway(L, k, v);
            break;
        case SEC_AUTH:
            kv_auth(L, k, v);
            break;
        case SEC_KDC_PROXY:
            kv_kdc_proxy(L, k, v);
            break;
        case SEC_LIMITS:
            kv_limits(L, k, v);
            break;
        case SEC_SETTINGS:
            kv_settings(L, k, v);
            break;
        case SEC_CIM:
            kv_cim(L, k, v);
            break;
        case SEC_LOG:
            kv_log(L, k, v);
            break;
        case SEC_METRICS:
            kv_metrics(L, k, v);
            break;
        case SEC_FARM:
            kv_farm(L, k, v);
            break;
        case SEC_WEB:
            kv_web(L, k, v);
            break;
        case SEC_CAP:
            kv_cap(L, k, v);
            break;
        case SEC_RAP:
            kv_rap(L, k, v);
            break;
        case SEC_GROUP:
            kv_group(L, k, v);
            break;
        case SEC_UNKNOWN:
            break;
        }
    }
    finish_section(L);
    L->sec = SEC_NONE;
}

static void validate(struct loader *L)
{
    struct gw_config *c = L->cfg;
    L->line = 0;
    if (!c->nlisten)
        err(L, "[gateway] listen is required");
    if (!c->certificate[0])
        err(L, "[gateway] certificate is required");
    if (!c->private_key[0])
        err(L, "[gateway] private-key is required");
    if (!c->users_file[0])
        err(L, "[auth] users-file is required");
    if (c->keytab[0] && !c->service_principal[0]) {
        if (c->ngateway_names)
            snprintf(c->service_principal, sizeof c->service_principal, "HTTP/%s",
                     c->gateway_names[0]);
        else
            err(L, "[auth] keytab needs service-principal (or gateway-names)");
    }
    if (c->keytab[0] && access(c->keytab, R_OK) < 0)
        err(L, "[auth] keytab %s: %s", c->keytab, strerror(errno));
    if (c->backend_listen[0] && !c->ntrusted_proxies)
        err(L, "[gateway] backend-listen needs trusted-proxies (the proxies' addresses)");
    if (c->backend_listen[0] && c->require_channel_binding && !c->front_certificate[0])
        err(L, "[gateway] backend-listen needs front-certificate (the certificate the proxy "
               "shows clients, for NTLM channel binding) or [auth] require-channel-binding = no");
    if (c->cim_listen[0] && !c->cim_certificate[0])
        str_copy(c->cim_certificate, c->certificate, sizeof c->cim_certificate);
    if (c->cim_listen[0] && !c->cim_private_key[0])
        str_copy(c->cim_private_key, c->private_key, sizeof c->cim_private_key);
    for (unsigned i = 0; i < c->nlisten && c->web_listen[0]; i++)
        if (!strcmp(c->listen[i], c->web_listen))
            err(L, "[web] listen must differ from the [gateway] listen addresses");
    struct policy *p = &c->policy;
    for (size_t i = 0; i < p->nraps; i++) {
        const struct policy_rap *r = &p->raps[i];
        if (!r->group_name[0])
            continue;
        bool found = false;
        for (size_t g = 0; g < p->ngroups && !found; g++)
            found = str_ieq(p->groups[g].name, r->group_name);
        if (!found) {
            L->line = r->conf_line;
            err(L, "[rap:%s] resource-group '%s' is not defined", r->name, r->group_name);
            L->line = 0;
        }
    }
    policy_finish(p);
    if (c->lim.max_request_line > c->lim.max_header_bytes ||
        c->lim.max_header_line > c->lim.max_header_bytes)
        err(L, "[limits] max-request-line and max-header-line must not exceed max-header-bytes");
}

static int load_text(const char *text, size_t len, const char *name, const char *dir,
                     struct gw_config *cfg, struct buf *errors)
{
    config_defaults(cfg);
    str_copy(cfg->path, name, sizeof cfg->path);
    str_copy(cfg->dir, dir ? dir : "", sizeof cfg->dir);
    struct loader L = {.cfg = cfg, .errors = errors, .name = name};
    parse_text(&L, text, len);
    validate(&L);
    return L.nerr;
}

int config_load_string(const char *text, const char *name, const char *dir, struct gw_config *cfg,
                       struct buf *errors)
{
    return load_text(text, strlen(text), name, dir, cfg, errors);
}

int config_load(const char *path, struct gw_config *cfg, struct buf *errors)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        config_defaults(cfg);
        buf_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        return 1;
    }
    char *text = malloc(CONF_MAX_FILE + 1);
    size_t n = text ? fread(text, 1, CONF_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!text || n > CONF_MAX_FILE) {
        free(text);
        config_defaults(cfg);
        buf_printf(errors, "%s: larger than %u bytes\n", path, CONF_MAX_FILE);
        return 1;
    }
    text[n] = 0;
    char dir[PATH_MAX];
    char *abs = realpath(path, NULL);
    str_copy(dir, abs ? abs : path, sizeof dir);
    free(abs);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        str_copy(dir, ".", sizeof dir);
    int nerr = load_text(text, n, path, dir, cfg, errors);
    free(text);
    return nerr;
}

void config_free(struct gw_config *cfg)
{
    policy_free(&cfg->policy);
}

struct gw_config *config_new(void)
{
    struct gw_config *c = calloc(1, sizeof *c);
    if (c)
        c->refs = 1;
    return c;
}

struct gw_config *config_get(struct gw_config *cfg)
{
    cfg->refs++;
    return cfg;
}

void config_put(struct gw_config *cfg)
{
    if (!cfg || --cfg->refs > 0)
        return;
    config_free(cfg);
    free(cfg);
}
