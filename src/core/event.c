/* The event hub (core/event.h): log target, ring of recent events, subscriber queues. */
#include "core/event.h"

#include <stdlib.h>
#include <string.h>

#include "core/logsink.h"

struct event_sub {
    struct event **q; /* circular: q[(head + i) % cap] */
    uint64_t *qgap;   /* events dropped just before q[i] */
    size_t cap, head, n;
    uint64_t gap;     /* dropped since the newest queued event */
    uint64_t dropped; /* dropped in total */
    void (*notify)(void *arg);
    void *arg;
    bool dead; /* unsubscribed while publishing: freed when publishing ends */
    struct event_sub *next;
};

static struct {
    struct event **ring; /* circular, ring_cap slots */
    size_t ring_cap, ring_head, ring_n;
    size_t want_cap;
    bool want_set;
    uint64_t seq;
    uint64_t counts[EVENT_ID_MAX - EVENT_ID_MIN + 1];
    uint64_t total;
    struct event_sub *subs;
    size_t nsubs;
    int publishing;
} H;

const char *event_get(const struct event *ev, const char *key)
{
    for (unsigned i = 0; i < ev->nfields; i++)
        if (!strcmp(ev->f[i].key, key))
            return ev->f[i].value;
    return NULL;
}

struct event *event_ref(struct event *ev)
{
    ev->refs++;
    return ev;
}

void event_unref(struct event *ev)
{
    if (ev && --ev->refs == 0)
        free(ev);
}

/* ---------- ring ---------- */

static void ring_resize(size_t n)
{
    /* keep the newest min(n, ring_n) events, oldest first */
    struct event **nr = n ? calloc(n, sizeof *nr) : NULL;
    if (n && !nr)
        return; /* keep the old ring */
    size_t keep = H.ring_n < n ? H.ring_n : n;
    size_t skip = H.ring_n - keep;
    for (size_t i = 0; i < H.ring_n; i++) {
        struct event *ev = H.ring[(H.ring_head + i) % H.ring_cap];
        if (i < skip)
            event_unref(ev);
        else
            nr[i - skip] = ev;
    }
    free(H.ring);
    H.ring = nr;
    H.ring_cap = n;
    H.ring_head = 0;
    H.ring_n = keep;
}

void event_history_set_size(size_t n)
{
    if (n > EVENT_HISTORY_MAX)
        n = EVENT_HISTORY_MAX;
    H.want_cap = n;
    H.want_set = true;
    if (H.ring || n == 0)
        ring_resize(n);
}

size_t event_history_count(void)
{
    return H.ring_n;
}

const struct event *event_history_at(size_t i)
{
    if (i >= H.ring_n)
        return NULL;
    return H.ring[(H.ring_head + i) % H.ring_cap];
}

static void ring_push(struct event *ev)
{
    if (!H.ring) {
        size_t n = H.want_set ? H.want_cap : EVENT_HISTORY_DEFAULT;
        if (n == 0)
            return;
        ring_resize(n);
        if (!H.ring)
            return;
    }
    event_ref(ev);
    if (H.ring_n == H.ring_cap) {
        event_unref(H.ring[H.ring_head]);
        H.ring[H.ring_head] = ev;
        H.ring_head = (H.ring_head + 1) % H.ring_cap;
    } else {
        H.ring[(H.ring_head + H.ring_n) % H.ring_cap] = ev;
        H.ring_n++;
    }
}

uint64_t event_count(int id)
{
    if (id < EVENT_ID_MIN || id > EVENT_ID_MAX)
        return 0;
    return H.counts[id - EVENT_ID_MIN];
}

uint64_t event_count_total(void)
{
    return H.total;
}

/* ---------- subscribers ---------- */

struct event_sub *event_subscribe(size_t max_queue, void (*notify)(void *arg), void *arg)
{
    if (max_queue < 1)
        max_queue = 1;
    if (max_queue > 65536)
        max_queue = 65536;
    struct event_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q = calloc(max_queue, sizeof *s->q);
    s->qgap = calloc(max_queue, sizeof *s->qgap);
    if (!s->q || !s->qgap) {
        free(s->q);
        free(s->qgap);
        free(s);
        return NULL;
    }
    s->cap = max_queue;
    s->notify = notify;
    s->arg = arg;
    s->next = H.subs;
    H.subs = s;
    H.nsubs++;
    return s;
}

static void sub_free(struct event_sub *s)
{
    for (size_t i = 0; i < s->n; i++)
        event_unref(s->q[(s->head + i) % s->cap]);
    free(s->q);
    free(s->qgap);
    free(s);
}

static void subs_collect(void)
{
    for (struct event_sub **pp = &H.subs; *pp;) {
        struct event_sub *s = *pp;
        if (s->dead) {
            *pp = s->next;
            sub_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void event_unsubscribe(struct event_sub *s)
{
    if (!s || s->dead)
        return;
    s->dead = true;
    s->notify = NULL;
    H.nsubs--;
    if (!H.publishing)
        subs_collect();
}

struct event *event_sub_next(struct event_sub *s, uint64_t *gap)
{
    if (!s->n) {
        if (gap)
            *gap = s->gap;
        s->gap = 0;
        return NULL;
    }
    if (gap)
        *gap = s->qgap[s->head];
    struct event *ev = s->q[s->head];
    s->head = (s->head + 1) % s->cap;
    s->n--;
    return ev;
}

size_t event_sub_queued(const struct event_sub *s)
{
    return s->n;
}

uint64_t event_sub_dropped_total(const struct event_sub *s)
{
    return s->dropped;
}

size_t event_subscriber_count(void)
{
    return H.nsubs;
}

/* ---------- publish ---------- */

void event_publish(struct event *ev)
{
    ev->seq = ++H.seq;
    H.total++;
    if (ev->id >= EVENT_ID_MIN && ev->id <= EVENT_ID_MAX)
        H.counts[ev->id - EVENT_ID_MIN]++;
    sink_event(ev);
    ring_push(ev);
    H.publishing++;
    for (struct event_sub *s = H.subs; s; s = s->next) {
        if (s->dead)
            continue;
        if (s->n == s->cap) {
            s->gap++;
            s->dropped++;
        } else {
            s->q[(s->head + s->n) % s->cap] = event_ref(ev);
            s->qgap[(s->head + s->n) % s->cap] = s->gap;
            s->gap = 0;
            s->n++;
        }
        if (s->notify)
            s->notify(s->arg);
    }
    H.publishing--;
    if (!H.publishing)
        subs_collect();
    event_unref(ev);
}

/* ---------- JSON ---------- */

static void json_str(struct buf *out, const char *s)
{
    buf_put_u8(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_put_u8(out, '\\');
            buf_put_u8(out, *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(out, "\\u%04x", *p);
        } else {
            buf_put_u8(out, *p);
        }
    }
    buf_put_u8(out, '"');
}

int event_format_json(const struct event *ev, struct buf *out)
{
    buf_printf(out, "{\"EventId\":%d,\"Time\":", ev->id);
    json_str(out, ev->time);
    buf_printf(out, ",\"Seq\":%llu", (unsigned long long)ev->seq);
    for (unsigned i = 0; i < ev->nfields; i++) {
        buf_put_u8(out, ',');
        json_str(out, ev->f[i].key);
        buf_put_u8(out, ':');
        if (ev->f[i].number)
            buf_append_str(out, ev->f[i].value);
        else
            json_str(out, ev->f[i].value);
    }
    return buf_put_u8(out, '}');
}

void event_hub_reset(void)
{
    ring_resize(0);
    H.want_set = false;
    for (struct event_sub *s = H.subs; s; s = s->next)
        s->dead = true;
    subs_collect();
    H.nsubs = 0;
    H.seq = 0;
    H.total = 0;
    memset(H.counts, 0, sizeof H.counts);
}
