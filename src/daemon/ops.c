/* Operations hooks (daemon/ops.h): log target and ring from [log], systemd notify, counters. */
#include "daemon/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/event.h"
#include "core/log.h"
#include "core/logsink.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/metrics.h"

struct gw_stats g_stats;

const char *const close_reason_names[CLOSE_REASON_COUNT] = {
    "client", "target", "idle_timeout", "session_timeout", "admin", "shutdown", "error",
};
const double stats_latency_bounds[STATS_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
const char *const stats_method_names[STATS_METHODS] = {"NTLM", "Negotiate", "Kerberos", "other"};
const char *const admin_method_names[ADM_COUNT] = {"Disconnect", "DisconnectUser",
                                                   "DisconnectProtocol"};

static struct {
    uint64_t watchdog_us; /* 0: no watchdog */
    uint64_t next_watchdog_ms;
    uint64_t next_status_ms;
    char last_status[160];
    int applied_target;
} O;

/* ---------- counters ---------- */

static int method_index(const char *m)
{
    for (int i = 0; i < STATS_METHODS - 1; i++)
        if (m && str_ieq(m, stats_method_names[i]))
            return i;
    return STATS_METHODS - 1;
}

void stats_logon(const char *method, enum logon_result r)
{
    g_stats.logons[r][method_index(method && *method ? method : "other")]++;
    if (r == LOGON_RATE_LIMITED)
        g_stats.rate_limit_blocks++;
}

void stats_channel_open(uint64_t setup_ms)
{
    g_stats.channels_opened++;
    double s = (double)setup_ms / 1000.0;
    g_stats.setup_count++;
    g_stats.setup_sum_s += s;
    for (int i = 0; i < STATS_LATENCY_BUCKETS; i++)
        if (s <= stats_latency_bounds[i]) {
            g_stats.setup_buckets[i]++;
            break;
        }
}

void stats_channel_closed(int event_id, const char *reason, uint64_t from_client,
                          uint64_t to_client)
{
    enum close_reason r = CLOSE_ERROR;
    if (event_id == 202)
        r = CLOSE_ADMIN;
    else if (event_id == 307)
        r = CLOSE_SESSION_TIMEOUT;
    else if (reason && strstr(reason, "idle"))
        r = CLOSE_IDLE;
    else if (reason && strstr(reason, "target"))
        r = CLOSE_TARGET;
    else if (reason && (strstr(reason, "stopping") || strstr(reason, "shutdown")))
        r = CLOSE_SHUTDOWN;
    else if (reason && (strstr(reason, "peer closed") || strstr(reason, "client") ||
                        strstr(reason, "CLOSE_CHANNEL")))
        r = CLOSE_CLIENT;
    g_stats.channels_closed[r]++;
    g_stats.bytes_from_clients += from_client;
    g_stats.bytes_to_clients += to_client;
}

void stats_admin_disconnect(const char *method)
{
    for (int i = 0; i < ADM_COUNT; i++)
        if (!strcmp(method, admin_method_names[i]))
            g_stats.admin_disconnects[i]++;
}

/* ---------- systemd notify ---------- */

static void notify(const char *text)
{
#ifdef HAVE_SYSTEMD
    sd_notify(0, text);
#else
    (void)text;
#endif
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

unsigned ops_count_users(struct gateway *gw)
{
    size_t n = 0, k = 0;
    for (struct tunnel *t = gw->tunnels; t; t = t->next)
        if (!t->dead && t->reg.user[0])
            n++;
    if (!n)
        return 0;
    const char **v = malloc(n * sizeof *v);
    if (!v)
        return 0;
    for (struct tunnel *t = gw->tunnels; t && k < n; t = t->next)
        if (!t->dead && t->reg.user[0])
            v[k++] = t->reg.user;
    qsort(v, k, sizeof *v, cmp_str);
    unsigned users = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]))
            users++;
    free(v);
    return users;
}

static void send_status(struct gateway *gw, bool force)
{
    char st[160];
    snprintf(st, sizeof st, "STATUS=%u tunnel(s), %u user(s), %u connection(s) before logon%s",
             gw->ntunnels, ops_count_users(gw), gw->nunauth, gw->stopping ? ", stopping" : "");
    if (!force && !strcmp(st, O.last_status))
        return;
    str_copy(O.last_status, st, sizeof O.last_status);
    notify(st);
}

static void apply_log_config(struct gateway *gw)
{
    int t = sink_parse_target(gw->cfg->log_target);
    if (t < 0)
        t = SINK_STDERR;
    if (t != sink_get_target() && sink_set_target(t) < 0)
        log_warn("[log] target = journal: no journal here (or built without libsystemd), "
                 "using stderr");
    event_history_set_size(gw->cfg->event_history);
}

int ops_init(struct gateway *gw, char *err, size_t errsz)
{
    g_stats.start_time_s = now_realtime_us() / 1000000u;
    apply_log_config(gw);
#ifdef HAVE_SYSTEMD
    uint64_t us = 0;
    if (sd_watchdog_enabled(0, &us) > 0 && us)
        O.watchdog_us = us;
#endif
    return metrics_init(gw, err, errsz);
}

void ops_ready(struct gateway *gw)
{
    notify("READY=1");
    send_status(gw, true);
    if (O.watchdog_us)
        log_info("systemd watchdog: every %llu ms", (unsigned long long)(O.watchdog_us / 2000));
}

void ops_reloading(struct gateway *gw)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    notify(msg);
}

void ops_reloaded(struct gateway *gw, int ok)
{
    if (ok) {
        g_stats.reloads_ok++;
        apply_log_config(gw);
    } else {
        g_stats.reloads_failed++;
    }
    notify("READY=1");
    send_status(gw, true);
}

void ops_stopping(struct gateway *gw)
{
    notify("STOPPING=1");
}

void ops_tick(struct gateway *gw, uint64_t now)
{
    if (O.watchdog_us && now >= O.next_watchdog_ms) {
        notify("WATCHDOG=1");
        O.next_watchdog_ms = now + O.watchdog_us / 2000;
    }
    metrics_sweep(gw, now);
    if (now >= O.next_status_ms) {
        send_status(gw, false);
        O.next_status_ms = now + 1000;
    }
}

void ops_free(struct gateway *gw)
{
    metrics_free(gw);
}

void ops_exit(void)
{
    event_hub_reset();
}
