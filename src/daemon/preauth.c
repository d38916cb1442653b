/* Pre-authentication pressure: eviction at the cap, short deadlines above the high-water mark,
 * a TLS handshake budget per loop turn (preauth.h, docs/limits.md "Floods"). */
#include "daemon/preauth.h"

#include <stddef.h>

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
        log_warn("pre-authentication table full (%u): %u connection(s) closed to make room "
                 "since the last report, each from the address holding most slots",
                 l->max_unauth_total, gw->evicted_since_log);
        gw->evicted_since_log = 0;
        gw->evict_logged_ms = now;
    }
    if (gw->nunauth >= l->max_unauth_total) {
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

static void hs_unlink(struct gateway *gw, struct conn *c)
{
    if (c->hs_prev)
        c->hs_prev->hs_next = c->hs_next;
    else
        gw->hs_head = c->hs_next;
    if (c->hs_next)
        c->hs_next->hs_prev = c->hs_prev;
    else
        gw->hs_tail = c->hs_prev;
    c->hs_next = c->hs_prev = NULL;
    c->hs_queued = false;
}

bool preauth_handshake_turn(struct conn *c)
{
    struct gateway *gw = c->gw;
    if (c->hs_queued)
        return false;
    if (gw->hs_budget > 0 && !gw->hs_head) {
        gw->hs_budget--;
        return true;
    }
    /* wait for a later turn, without epoll interest meanwhile */
    io_set(&gw->loop, &c->io, 0);
    c->hs_queued = true;
    c->hs_prev = gw->hs_tail;
    if (gw->hs_tail)
        gw->hs_tail->hs_next = c;
    else
        gw->hs_head = c;
    gw->hs_tail = c;
    gw->flood.handshakes_deferred++;
    return false;
}

void preauth_run_handshakes(struct gateway *gw)
{
    gw->hs_budget = gw->cfg->lim.handshakes_per_turn;
    while (gw->hs_head && gw->hs_budget > 0) {
        struct conn *c = gw->hs_head;
        hs_unlink(gw, c);
        if (c->dead || c->phase != CONN_TLS)
            continue;
        gw->hs_budget--;
        conn_handshake(c);
    }
}

void preauth_forget(struct conn *c)
{
    if (c->hs_queued)
        hs_unlink(c->gw, c);
}
