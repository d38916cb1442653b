/* Pre-authentication pressure: eviction at the cap, short deadlines above the high-water mark,
 * a TLS handshake budget per loop turn (preauth.h, docs/limits.md "Floods"). */
#include "daemon/preauth.h"

#include <stddef.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"

#define EVICT_LOG_MS 10000 /* one summary line at most this often */

int preauth_init(struct gateway *gw)
{
    return pa_init(&gw->preauth);
}

void preauth_free(struct gateway *gw)
{
    pa_free(&gw->preauth);
}

static uint32_t high_water(const struct gateway *gw)
{
    const struct gw_limits *l = &gw->cfg->lim;
    if (l->unauth_high_water)
        return l->unauth_high_water;
    return l->max_unauth_total - l->max_unauth_total / 4;
}

static bool under_pressure(const struct gateway *gw)
{
    return gw->nunauth >= high_water(gw);
}

static struct conn *conn_of(struct pa_entry *e)
{
    return (struct conn *)((char *)e - offsetof(struct conn, pa));
}

/* What a pre-auth connection costs besides its buffers: the connection object, the HTTP
 * parser's header block (allocated at accept) and the TLS state (an estimate: OpenSSL's SSL
 * object and handshake state; SSL_MODE_RELEASE_BUFFERS frees the record buffers while idle). */
#define PA_TLS_ESTIMATE (16u * 1024)

static uint64_t fixed_cost(const struct gateway *gw)
{
    return sizeof(struct conn) + gw->cfg->lim.max_header_bytes + PA_TLS_ESTIMATE;
}

static uint64_t conn_cost(const struct conn *c)
{
    return fixed_cost(c->gw) + c->in.cap + c->out.cap;
}

/* Closes the pre-auth connections worth least until `need` more bytes fit the memory budget.
 * Returns false when the table is empty and it still does not fit. */
static bool make_memory_room(struct gateway *gw, uint64_t need)
{
    uint64_t limit = gw->cfg->lim.max_unauth_memory;
    for (unsigned guard = 0; gw->flood.preauth_bytes + need > limit && guard < 4096; guard++) {
        struct pa_entry *v = pa_victim(&gw->preauth);
        if (!v)
            return false;
        gw->flood.preauth_evicted++;
        gw->flood.preauth_evicted_memory++;
        gw->evicted_since_log++;
        conn_close(conn_of(v), "evicted: pre-authentication memory full");
    }
    return gw->flood.preauth_bytes + need <= limit;
}

void preauth_charge(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (!c->counted_unauth)
        return;
    uint64_t now = conn_cost(c);
    gw->flood.preauth_bytes += now - c->pa_bytes;
    c->pa_bytes = now;
    if (gw->flood.preauth_bytes > gw->cfg->lim.max_unauth_memory) {
        log_debug("pre-auth memory %llu > %u bytes: closing the connections worth least",
                  (unsigned long long)gw->flood.preauth_bytes, gw->cfg->lim.max_unauth_memory);
        make_memory_room(gw, 0);
    }
}

bool preauth_admit(struct gateway *gw, const char *key)
{
    const struct gw_limits *l = &gw->cfg->lim;
    if (gw->stopping || pa_count(&gw->preauth, key) >= l->max_unauth_per_ip) {
        gw->flood.preauth_refused++;
        if (!gw->stopping)
            log_warn("refusing connection from %s: too many unauthenticated connections", key);
        return false;
    }
    /* the cap may have been lowered by a reload: make room for one */
    uint32_t guard = 0;
    while (gw->nunauth >= l->max_unauth_total && guard++ < 64) {
        struct pa_entry *v = pa_victim(&gw->preauth);
        if (!v)
            break;
        struct conn *c = conn_of(v);
        log_debug("pre-auth table full: closing a connection from %s (%u slot(s))", c->addr_key,
                  pa_count(&gw->preauth, c->addr_key));
        gw->flood.preauth_evicted++;
        gw->evicted_since_log++;
        conn_close(c, "evicted: pre-authentication table full");
    }
    uint64_t now = now_ms();
    if (gw->evicted_since_log && now - gw->evict_logged_ms >= EVICT_LOG_MS) {
        log_warn("pre-authentication table full (%u connections, %u of %u KiB): %u "
                 "connection(s) closed to make room since the last report, each from the "
                 "address holding most slots",
                 l->max_unauth_total, (unsigned)(gw->flood.preauth_bytes / 1024),
                 l->max_unauth_memory / 1024, gw->evicted_since_log);
        gw->evicted_since_log = 0;
        gw->evict_logged_ms = now;
    }
    if (gw->nunauth >= l->max_unauth_total || !make_memory_room(gw, fixed_cost(gw))) {
        gw->flood.preauth_refused++;
        return false;
    }
    return true;
}

bool preauth_take(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (pa_add(&gw->preauth, &c->pa, c->addr_key, now_ms()) < 0)
        return false;
    c->counted_unauth = true;
    gw->nunauth++;
    c->pa_bytes = 0;
    preauth_charge(c);
    gw->flood.preauth_accepted++;
    if (gw->nunauth > gw->flood.preauth_peak)
        gw->flood.preauth_peak = gw->nunauth;
    return true;
}

void preauth_release(struct conn *c)
{
    if (!c->counted_unauth)
        return;
    c->counted_unauth = false;
    c->gw->nunauth--;
    c->gw->flood.preauth_bytes -= c->pa_bytes;
    c->pa_bytes = 0;
    pa_remove(&c->gw->preauth, &c->pa);
}

void preauth_progress(struct conn *c, unsigned level)
{
    if (c->counted_unauth)
        pa_set_level(&c->gw->preauth, &c->pa, level, now_ms());
}

uint64_t preauth_deadline(struct gateway *gw, uint32_t normal_ms, uint32_t pressure_ms)
{
    uint32_t ms = normal_ms;
    if (under_pressure(gw) && pressure_ms < ms)
        ms = pressure_ms;
    return now_ms() + ms;
}

void preauth_sweep_conn(struct conn *c, uint64_t now)
{
    (void)now;
    struct gateway *gw = c->gw;
    if (!c->counted_unauth || !c->deadline_ms || c->close_after_flush || !under_pressure(gw))
        return;
    const struct gw_limits *l = &gw->cfg->lim;
    uint64_t d =
        c->phase_start_ms + (c->phase == CONN_TLS ? l->pressure_tls_ms : l->pressure_auth_ms);
    if (d < c->deadline_ms)
        c->deadline_ms = d;
}

/* ---------- handshake budget ---------- */

#define HS_WINDOW_MS 100

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Two FIFOs, each with its own share of the time: connections from address keys holding at most
 * HS_LIGHT_SLOTS pre-auth slots (a user; also a flood spread very thin) and those from addresses
 * holding more (a flood), so neither kind can use up the other's turns. */
#define HS_LIGHT_SLOTS 2

static void hs_unlink(struct gateway *gw, struct conn *c)
{
    unsigned q = c->hs_queue;
    if (c->hs_prev)
        c->hs_prev->hs_next = c->hs_next;
    else
        gw->hs_head[q] = c->hs_next;
    if (c->hs_next)
        c->hs_next->hs_prev = c->hs_prev;
    else
        gw->hs_tail[q] = c->hs_prev;
    c->hs_next = c->hs_prev = NULL;
    c->hs_queued = false;
}

/* Starts a new accounting window when the current one is over. */
static void hs_window(struct gateway *gw, uint64_t now_us)
{
    if (now_us - gw->hs_window_start_us < HS_WINDOW_MS * 1000u)
        return;
    gw->hs_relay_prev = gw->relay_seen;
    gw->relay_seen = false;
    gw->hs_used_us[0] = gw->hs_used_us[1] = 0;
    gw->hs_window_start_us = now_us;
}

/* While tunnels relay data, each queue's handshakes may take handshake-share percent of each
 * window. */
static bool hs_share_left(const struct gateway *gw, unsigned q)
{
    if (!gw->relay_seen && !gw->hs_relay_prev)
        return true;
    uint64_t allowed = (uint64_t)HS_WINDOW_MS * 10u * gw->cfg->lim.handshake_share;
    return gw->hs_used_us[q] < allowed;
}

static bool hs_allowed(struct gateway *gw, unsigned q)
{
    hs_window(gw, mono_us());
    return gw->hs_budget > 0 && hs_share_left(gw, q);
}

static void hs_step(struct conn *c, unsigned q)
{
    struct gateway *gw = c->gw;
    uint64_t t0 = mono_us();
    gw->hs_budget--;
    conn_handshake(c);
    gw->hs_used_us[q] += mono_us() - t0;
}

static void hs_enqueue(struct conn *c, unsigned q)
{
    struct gateway *gw = c->gw;
    /* The interest stays: the turn usually comes later in this same loop iteration
     * (preauth_run_handshakes), before epoll is asked again. If the loop does report the
     * connection while it waits, conn_on_io takes the interest away (no busy wake-ups). */
    c->hs_queued = true;
    c->hs_queue = q;
    c->hs_prev = gw->hs_tail[q];
    if (gw->hs_tail[q])
        gw->hs_tail[q]->hs_next = c;
    else
        gw->hs_head[q] = c;
    gw->hs_tail[q] = c;
    gw->flood.handshakes_deferred++;
}

void preauth_handshake(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (c->hs_queued)
        return;
    unsigned q = pa_entry_count(&c->pa) > HS_LIGHT_SLOTS;
    if (!gw->hs_head[q] && hs_allowed(gw, q))
        hs_step(c, q);
    else
        hs_enqueue(c, q); /* first come, first served within its queue */
}

void preauth_run_handshakes(struct gateway *gw)
{
    gw->hs_budget = gw->cfg->lim.handshakes_per_turn;
    for (unsigned q = 0; q < 2; q++)
        while (gw->hs_head[q] && hs_allowed(gw, q)) {
            struct conn *c = gw->hs_head[q];
            hs_unlink(gw, c);
            if (!c->dead && c->phase == CONN_TLS)
                hs_step(c, q);
        }
}

int preauth_loop_timeout(struct gateway *gw, int dflt)
{
    if (!gw->hs_head[0] && !gw->hs_head[1])
        return dflt;
    for (unsigned q = 0; q < 2; q++)
        if (gw->hs_head[q] && hs_share_left(gw, q))
            return 0;
    /* the shares are used up: wake at the next window (relay events wake the loop anyway) */
    uint64_t now = mono_us(), end = gw->hs_window_start_us + HS_WINDOW_MS * 1000u;
    int ms = end > now ? (int)((end - now + 999) / 1000) : 0;
    return ms < dflt ? ms : dflt;
}

void preauth_forget(struct conn *c)
{
    if (c->hs_queued)
        hs_unlink(c->gw, c);
}
