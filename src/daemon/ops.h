/* Operations: what an administrator's tools see of a running tsgwd.
 *
 *   - the log target and event ring from [log] (core/logsink.h, core/event.h);
 *   - systemd's notify protocol (sd_notify): READY=1 once listening, RELOADING=1 +
 *     MONOTONIC_USEC then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM, STATUS= with
 *     live counts, WATCHDOG=1 at half of WatchdogSec. Without NOTIFY_SOCKET every call is a
 *     no-op, so the daemon runs the same without systemd;
 *   - the counters behind /metrics (struct gw_stats, one place: g_stats) and the metrics
 *     listener (daemon/metrics.c).
 *
 * Hooks called by the gateway: ops_init (end of gw_init), ops_ready (main, before the loop),
 * ops_reloading / ops_reloaded (around gw_reload), ops_stopping (SIGTERM/SIGINT), ops_tick
 * (every sweep), ops_free (gw_free). */
#ifndef TSGW_DAEMON_OPS_H
#define TSGW_DAEMON_OPS_H

#include <stddef.h>
#include <stdint.h>

struct gateway;

/* Channel end reasons as metric labels (a fixed, small set). */
enum close_reason {
    CLOSE_CLIENT,          /* the client closed the channel or the connection */
    CLOSE_TARGET,          /* the resource closed the connection */
    CLOSE_IDLE,            /* idle timeout */
    CLOSE_SESSION_TIMEOUT, /* the CAP's session timeout (event 307) */
    CLOSE_ADMIN,           /* Disconnect / DisconnectUser / DisconnectProtocol (event 202) */
    CLOSE_SHUTDOWN,        /* the gateway stopped */
    CLOSE_ERROR,           /* anything else (protocol error, relay error) */
    CLOSE_REASON_COUNT
};
extern const char *const close_reason_names[CLOSE_REASON_COUNT];

#define STATS_LATENCY_BUCKETS 12
extern const double stats_latency_bounds[STATS_LATENCY_BUCKETS]; /* seconds */

enum logon_result { LOGON_OK, LOGON_FAILED, LOGON_RATE_LIMITED, LOGON_RESULT_COUNT };
#define STATS_METHODS 4 /* NTLM, Negotiate, Kerberos, other */
extern const char *const stats_method_names[STATS_METHODS];
enum admin_method { ADM_DISCONNECT, ADM_DISCONNECT_USER, ADM_DISCONNECT_PROTOCOL, ADM_COUNT };
extern const char *const admin_method_names[ADM_COUNT];

/* Every counter /metrics shows that is not computed from live state at scrape time. */
struct gw_stats {
    uint64_t start_time_s; /* Unix seconds */
    uint64_t channels_opened;
    uint64_t channels_closed[CLOSE_REASON_COUNT];
    uint64_t logons[LOGON_RESULT_COUNT][STATS_METHODS];
    uint64_t bytes_from_clients; /* of closed channels; live ones are added at scrape time */
    uint64_t bytes_to_clients;
    uint64_t setup_buckets[STATS_LATENCY_BUCKETS]; /* cumulative at scrape time, not here */
    uint64_t setup_count;
    double setup_sum_s;
    uint64_t admin_disconnects[ADM_COUNT];
    uint64_t preauth_accepted; /* connections accepted (before authentication) */
    uint64_t rate_limit_blocks;
    uint64_t reloads_ok, reloads_failed;
    uint64_t scrapes;
};
extern struct gw_stats g_stats;

/* Counting helpers (cheap; called from the gateway's code paths). */
void stats_logon(const char *method, enum logon_result r);
void stats_channel_open(uint64_t setup_ms);
void stats_channel_closed(int event_id, const char *reason, uint64_t bytes_from_client,
                          uint64_t bytes_to_client);
void stats_admin_disconnect(const char *method);

/* Distinct user names among the live tunnels. */
unsigned ops_count_users(struct gateway *gw);

int ops_init(struct gateway *gw, char *err, size_t errsz);
void ops_ready(struct gateway *gw);
void ops_reloading(struct gateway *gw);
void ops_reloaded(struct gateway *gw, int ok);
void ops_stopping(struct gateway *gw);
void ops_tick(struct gateway *gw, uint64_t now_ms);
void ops_free(struct gateway *gw);
/* At process exit (after gw_free): frees the event ring. */
void ops_exit(void);

#endif
