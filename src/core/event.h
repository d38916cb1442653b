/* The event hub: the one path every RD Gateway event (ids 200-307, docs/events.md) takes.
 *
 * Producers build an event with ev_begin / ev_str / ev_u64 / ev_end (core/log.h). ev_end hands
 * the finished event to event_publish(), which, in this order:
 *   (a) writes it to the configured log target (core/logsink.h: a text line on stderr, a
 *       structured journald entry, or syslog);
 *   (b) keeps it in a bounded ring of the most recent events (event_history_*);
 *   (c) queues it for every subscriber (event_subscribe): each subscriber has a bounded queue;
 *       when it is full the new event is not queued for that subscriber and its gap counter
 *       grows, so a slow reader never blocks the gateway or grows its memory.
 *
 * An event keeps its structured fields (name, value, numeric or not) next to the text line, so
 * journald, `tsgwctl watch [--json]`, metrics and the web console read the same data.
 *
 * Events are reference counted: the ring holds one reference and each subscriber queue one.
 * Whoever takes an event out of a queue (event_sub_next) or wants to keep one from the ring
 * longer than the current callback calls event_ref / event_unref.
 *
 * Threading: the hub belongs to the main loop thread; publish, subscribe and read only there.
 *
 * Usage (a subscriber):
 *     static void wake(void *arg) { ...make the reader run: arm EPOLLOUT, or drain now... }
 *     struct event_sub *s = event_subscribe(256, wake, me);
 *     uint64_t gap;
 *     struct event *ev;
 *     while ((ev = event_sub_next(s, &gap))) {
 *         if (gap) ...say "gap: <gap> events dropped"...;
 *         event_format_json(ev, &out);        // or ev->line for the text form
 *         event_unref(ev);
 *     }
 *     event_unsubscribe(s);
 * wake() is called from event_publish after the event is queued; it must not publish events. */
#ifndef TSGW_CORE_EVENT_H
#define TSGW_CORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define EVENT_MAX_FIELDS 24
#define EVENT_HISTORY_DEFAULT 1000
#define EVENT_HISTORY_MAX 100000

struct event_field {
    const char *key;   /* as in the text line: "Username", "IpAddress", ... */
    const char *value; /* control characters already replaced by '?' */
    bool number;       /* written with ev_u64 */
};

struct event {
    unsigned refs;
    uint64_t seq;     /* 1, 2, ... since the daemon started (gaps: dropped for a subscriber) */
    uint64_t time_us; /* CLOCK_REALTIME, microseconds */
    int id;           /* 200 ... 307 */
    char time[32];    /* ISO-8601 UTC with milliseconds, as in the text line */
    unsigned nfields;
    struct event_field f[EVENT_MAX_FIELDS];
    const char *line;    /* the whole text line, without its newline */
    const char *message; /* the line from "EVENT <id>" on (no time, no pid) */
    char data[];         /* storage for the strings above */
};

/* Value of field key, or NULL. */
const char *event_get(const struct event *ev, const char *key);

struct event *event_ref(struct event *ev);
void event_unref(struct event *ev);

/* The hub. event_publish takes the caller's reference (the event starts with refs = 1). */
void event_publish(struct event *ev);

/* Ring size (default EVENT_HISTORY_DEFAULT, 0 turns the ring off); shrinking drops the oldest. */
void event_history_set_size(size_t n);
size_t event_history_count(void);
/* i = 0 is the oldest kept event; NULL past the end. No reference taken. */
const struct event *event_history_at(size_t i);

/* Events published since start, per id (index id - 200, ids 200..307), and in total. */
#define EVENT_ID_MIN 200
#define EVENT_ID_MAX 307
uint64_t event_count(int id);
uint64_t event_count_total(void);

struct event_sub;
/* max_queue: events kept for this subscriber (1..65536). notify may be NULL. NULL on ENOMEM. */
struct event_sub *event_subscribe(size_t max_queue, void (*notify)(void *arg), void *arg);
void event_unsubscribe(struct event_sub *s);
/* Oldest queued event (the caller owns one reference) or NULL. *gap: events dropped for this
 * subscriber just before the returned one (or, when NULL is returned, dropped since). */
struct event *event_sub_next(struct event_sub *s, uint64_t *gap);
size_t event_sub_queued(const struct event_sub *s);
uint64_t event_sub_dropped_total(const struct event_sub *s);
size_t event_subscriber_count(void);

/* One JSON object (no newline): {"EventId":200,"Time":"...","Seq":1,"Username":"...",...};
 * ev_u64 fields are JSON numbers, the others strings. */
int event_format_json(const struct event *ev, struct buf *out);

/* Frees the ring and every subscription (at exit, and between unit tests). */
void event_hub_reset(void);

#endif
