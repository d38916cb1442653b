/* Prometheus metrics: [metrics] listen = ADDR:PORT serves GET /metrics (text exposition format
 * 0.0.4) on a plain-HTTP listener (net/httpd.h). Gauges come from live state at scrape time
 * (one walk over the tunnels), counters from struct gw_stats (daemon/ops.h) and the event hub.
 * The names and labels are listed in docs/metrics.md. */
#ifndef TSGW_DAEMON_METRICS_H
#define TSGW_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct gateway;

int metrics_init(struct gateway *gw, char *err, size_t errsz);
void metrics_sweep(struct gateway *gw, uint64_t now_ms);
void metrics_free(struct gateway *gw);
/* The whole /metrics page. */
void metrics_render(struct gateway *gw, struct buf *out);

#endif
