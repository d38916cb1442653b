#include "core/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/logsink.h"

static int g_level = LOG_INFO;
static int g_events = 1;

void log_set_events(int on)
{
    g_events = on;
}

void log_set_level(int level)
{
    g_level = level;
}

int log_get_level(void)
{
    return g_level;
}

static void stamp_us(char *out, size_t n, uint64_t us)
{
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03dZ", (int)(us % 1000000 / 1000));
}

static uint64_t realtime_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void stamp(char *out, size_t n)
{
    stamp_us(out, n, realtime_us());
}

/* getpid() once, not a system call per line; a forked child asks again. */
static pid_t cached_pid;

static void forget_pid(void)
{
    cached_pid = 0;
}

static pid_t log_pid(void)
{
    if (!cached_pid) {
        static bool hooked;
        if (!hooked) {
            pthread_atfork(NULL, NULL, forget_pid);
            hooked = true;
        }
        cached_pid = getpid();
    }
    return cached_pid;
}

void log_msg(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level > g_level)
        return;
    char ts[40], msg[2048];
    stamp(ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[2200];
    snprintf(line, sizeof line, "%s tsgwd[%d]: %s: %s", ts, (int)log_pid(), names[level & 3], msg);
    sink_msg(level, line, msg);
}

void ev_begin(struct event_line *e, int id)
{
    memset(e, 0, sizeof *e);
    e->id = id;
    e->time_us = realtime_us();
    stamp_us(e->time, sizeof e->time, e->time_us);
    buf_printf(&e->b, "%s tsgwd[%d]: ", e->time, (int)log_pid());
    e->msg_off = buf_len(&e->b);
    buf_printf(&e->b, "EVENT %d", id);
}

/* Appends value with control characters as '?' (and '"' and '\\' escaped when quoted), in one
 * reservation rather than a call per character (events are written on every tunnel setup). */
static void put_clean(struct buf *b, const char *value, bool quoted)
{
    size_t n = strlen(value);
    if (buf_reserve(b, quoted ? 2 * n : n) < 0)
        return;
    uint8_t *o = buf_tail(b), *start = o;
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (quoted && (c == '"' || c == '\\'))
            *o++ = '\\';
        /* control characters never reach the log as such */
        *o++ = c < 0x20 || c == 0x7f ? '?' : c;
    }
    buf_commit(b, (size_t)(o - start));
}

static void kv_put(struct event_line *e, const char *key, const char *value, bool number)
{
    if (e->nfields >= EVENT_MAX_FIELDS)
        return;
    if (number)
        e->number_mask |= 1u << e->nfields;
    e->nfields++;
    buf_append(&e->kv, key, strlen(key) + 1);
    put_clean(&e->kv, value, false);
    buf_put_u8(&e->kv, 0);
}

void ev_str(struct event_line *e, const char *key, const char *value)
{
    if (!value)
        value = "";
    buf_printf(&e->b, " %s=\"", key);
    put_clean(&e->b, value, true);
    buf_put_u8(&e->b, '"');
    kv_put(e, key, value, false);
}

void ev_u64(struct event_line *e, const char *key, uint64_t value)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)value);
    buf_printf(&e->b, " %s=\"%s\"", key, v);
    kv_put(e, key, v, true);
}

/* One allocation: the struct, then the text line, then the key/value strings. */
static struct event *ev_make(struct event_line *e)
{
    size_t ll = buf_len(&e->b), kl = buf_len(&e->kv);
    struct event *ev = malloc(sizeof *ev + ll + 1 + kl);
    if (!ev)
        return NULL;
    memset(ev, 0, sizeof *ev);
    ev->refs = 1;
    ev->id = e->id;
    ev->time_us = e->time_us;
    memcpy(ev->time, e->time, sizeof ev->time);
    char *d = ev->data;
    if (ll)
        memcpy(d, buf_data(&e->b), ll);
    d[ll] = 0;
    ev->line = d;
    ev->message = d + e->msg_off;
    char *kv = d + ll + 1;
    if (kl)
        memcpy(kv, buf_data(&e->kv), kl);
    for (unsigned i = 0; i < e->nfields; i++) {
        ev->f[i].key = kv;
        kv += strlen(kv) + 1;
        ev->f[i].value = kv;
        kv += strlen(kv) + 1;
        ev->f[i].number = (e->number_mask >> i) & 1;
    }
    ev->nfields = e->nfields;
    return ev;
}

void ev_end(struct event_line *e)
{
    if (g_events) {
        struct event *ev = ev_make(e);
        if (ev)
            event_publish(ev);
    }
    buf_free(&e->b);
    buf_free(&e->kv);
}
