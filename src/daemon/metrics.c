/* Prometheus text exposition of the gateway's state and counters (daemon/metrics.h). */
#include "daemon/metrics.h"

#include <string.h>

#include "core/event.h"
#include "core/log.h"
#include "daemon/gateway.h"
#include "daemon/ops.h"
#include "net/httpd.h"

static struct httpd g_httpd;
static bool g_started;

static void head(struct buf *o, const char *name, const char *type, const char *help)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64(struct buf *o, const char *name, uint64_t v)
{
    buf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

void metrics_render(struct gateway *gw, struct buf *o)
{
    g_stats.scrapes++;
    /* live state: one walk over the tunnels */
    uint64_t ws = 0, legacy = 0, open = 0, live_from = 0, live_to = 0;
    for (struct tunnel *t = gw->tunnels; t; t = t->next) {
        if (t->dead)
            continue;
        if (t->websocket)
            ws++;
        else
            legacy++;
        if (t->state == TUN_OPEN)
            open++;
        live_from += t->reg.bytes_from_client;
        live_to += t->reg.bytes_to_client;
    }
    head(o, "tsgw_build_info", "gauge", "tsgwd version and build options (always 1).");
    buf_printf(o, "tsgw_build_info{version=\"%s\",systemd=\"%s\"} 1\n", TSGW_VERSION,
#ifdef HAVE_SYSTEMD
               "yes"
#else
               "no"
#endif
    );
    head(o, "tsgw_start_time_seconds", "gauge", "When tsgwd started, Unix seconds.");
    u64(o, "tsgw_start_time_seconds", g_stats.start_time_s);
    head(o, "tsgw_tunnels", "gauge", "Live tunnels by HTTP transport.");
    buf_printf(o, "tsgw_tunnels{transport=\"websocket\"} %llu\n", (unsigned long long)ws);
    buf_printf(o, "tsgw_tunnels{transport=\"legacy\"} %llu\n", (unsigned long long)legacy);
    head(o, "tsgw_channels_open", "gauge", "Channels relaying to a resource now.");
    u64(o, "tsgw_channels_open", open);
    head(o, "tsgw_users", "gauge", "Distinct users with a live tunnel.");
    u64(o, "tsgw_users", ops_count_users(gw));
    head(o, "tsgw_connections", "gauge", "Client connections (TLS), authenticated or not.");
    u64(o, "tsgw_connections", gw->nconns);
    head(o, "tsgw_preauth_connections", "gauge", "Client connections not yet authenticated.");
    u64(o, "tsgw_preauth_connections", gw->nunauth);
    /* the pre-authentication and logon-limit counters of daemon/preauth.h */
    const struct flood_stats *f = &gw->flood;
    head(o, "tsgw_preauth_peak_connections", "gauge",
         "Most connections not yet authenticated at once since start.");
    u64(o, "tsgw_preauth_peak_connections", f->preauth_peak);
    head(o, "tsgw_preauth_connections_total", "counter",
         "Connections before authentication, by outcome at accept or later.");
    buf_printf(o, "tsgw_preauth_connections_total{outcome=\"accepted\"} %llu\n",
               (unsigned long long)f->preauth_accepted);
    buf_printf(o, "tsgw_preauth_connections_total{outcome=\"refused\"} %llu\n",
               (unsigned long long)f->preauth_refused);
    buf_printf(o, "tsgw_preauth_connections_total{outcome=\"evicted\"} %llu\n",
               (unsigned long long)f->preauth_evicted);
    buf_printf(o, "tsgw_preauth_connections_total{outcome=\"expired\"} %llu\n",
               (unsigned long long)f->preauth_expired);
    head(o, "tsgw_tls_handshakes_deferred_total", "counter",
         "TLS handshake steps put off to a later loop turn (handshake budget).");
    u64(o, "tsgw_tls_handshakes_deferred_total", f->handshakes_deferred);
    head(o, "tsgw_logon_blocks_total", "counter",
         "Logon blocks started (address and account, account, address).");
    u64(o, "tsgw_logon_blocks_total", f->logon_blocks);
    head(o, "tsgw_logons_refused_by_block_total", "counter",
         "Logons refused because of a logon block.");
    u64(o, "tsgw_logons_refused_by_block_total", f->logon_refused);
    head(o, "tsgw_channels_opened_total", "counter", "Channels opened to a resource.");
    u64(o, "tsgw_channels_opened_total", g_stats.channels_opened);
    head(o, "tsgw_channels_closed_total", "counter", "Channels ended, by reason.");
    for (int i = 0; i < CLOSE_REASON_COUNT; i++)
        buf_printf(o, "tsgw_channels_closed_total{reason=\"%s\"} %llu\n", close_reason_names[i],
                   (unsigned long long)g_stats.channels_closed[i]);
    head(o, "tsgw_logons_total", "counter", "Gateway logons by result and method.");
    static const char *const results[LOGON_RESULT_COUNT] = {"success", "failure", "rate_limited"};
    for (int r = 0; r < LOGON_RESULT_COUNT; r++)
        for (int m = 0; m < STATS_METHODS; m++)
            buf_printf(o, "tsgw_logons_total{result=\"%s\",method=\"%s\"} %llu\n", results[r],
                       stats_method_names[m], (unsigned long long)g_stats.logons[r][m]);
    head(o, "tsgw_rate_limit_blocks_total", "counter",
         "Logons refused because the client address was rate limited.");
    u64(o, "tsgw_rate_limit_blocks_total", g_stats.rate_limit_blocks);
    head(o, "tsgw_relay_bytes_total", "counter", "Payload bytes relayed, by direction.");
    buf_printf(o, "tsgw_relay_bytes_total{direction=\"client_to_resource\"} %llu\n",
               (unsigned long long)(g_stats.bytes_from_clients + live_from));
    buf_printf(o, "tsgw_relay_bytes_total{direction=\"resource_to_client\"} %llu\n",
               (unsigned long long)(g_stats.bytes_to_clients + live_to));
    head(o, "tsgw_channel_setup_seconds", "histogram",
         "Time from the tunnel's creation to its channel being open.");
    uint64_t cum = 0;
    for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        cum += g_stats.setup_buckets[i];
        buf_printf(o, "tsgw_channel_setup_seconds_bucket{le=\"%g\"} %llu\n",
                   stats_latency_bounds[i], (unsigned long long)cum);
    }
    buf_printf(o, "tsgw_channel_setup_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)g_stats.setup_count);
    buf_printf(o, "tsgw_channel_setup_seconds_sum %.6f\n", g_stats.setup_sum_s);
    u64(o, "tsgw_channel_setup_seconds_count", g_stats.setup_count);
    head(o, "tsgw_admin_disconnects_total", "counter",
         "Connections ended by an administrator, by WMI method.");
    for (int i = 0; i < ADM_COUNT; i++)
        buf_printf(o, "tsgw_admin_disconnects_total{method=\"%s\"} %llu\n", admin_method_names[i],
                   (unsigned long long)g_stats.admin_disconnects[i]);
    head(o, "tsgw_policy_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    buf_printf(o, "tsgw_policy_reloads_total{result=\"success\"} %llu\n",
               (unsigned long long)g_stats.reloads_ok);
    buf_printf(o, "tsgw_policy_reloads_total{result=\"failure\"} %llu\n",
               (unsigned long long)g_stats.reloads_failed);
    head(o, "tsgw_events_total", "counter", "Events written (ids of docs/events.md).");
    static const int ids[] = {200, 201, 202, 203, 210, 300, 301, 302, 303, 304, 307};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        buf_printf(o, "tsgw_events_total{id=\"%d\"} %llu\n", ids[i],
                   (unsigned long long)event_count(ids[i]));
    head(o, "tsgw_event_watchers", "gauge", "Live event stream subscribers.");
    u64(o, "tsgw_event_watchers", event_subscriber_count());
    head(o, "tsgw_metrics_scrapes_total", "counter", "Scrapes of this page.");
    u64(o, "tsgw_metrics_scrapes_total", g_stats.scrapes);
}

static void handler(void *arg, const struct httpd_request *rq, struct httpd_response *rs)
{
    struct gateway *gw = arg;
    if (!strcmp(rq->path, "/metrics")) {
        rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_render(gw, &rs->body);
    } else if (!strcmp(rq->path, "/")) {
        buf_append_str(&rs->body, "tsgwd: metrics at /metrics\n");
    } else {
        rs->status = 404;
        buf_append_str(&rs->body, "not found\n");
    }
}

int metrics_init(struct gateway *gw, char *err, size_t errsz)
{
    const char *addr = gw->cfg->metrics_listen;
    if (!addr[0])
        return 0;
    if (httpd_start(&g_httpd, &gw->loop, addr, handler, gw, err, errsz) < 0)
        return -1;
    g_started = true;
    log_info("metrics on http://%s/metrics", addr);
    return 0;
}

void metrics_sweep(struct gateway *gw, uint64_t now)
{
    if (g_started)
        httpd_sweep(&g_httpd, now);
}

void metrics_free(struct gateway *gw)
{
    if (g_started)
        httpd_stop(&g_httpd);
    g_started = false;
}
