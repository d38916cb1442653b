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

/* Decimal digits of v at out (no NUL); returns their count (at most 20). */
static size_t put_dec(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (n >= 25). The part up to the seconds is formatted once per second
 * and thread (log lines come from the loop and from worker threads). */
static void stamp_us(char *out, size_t n, uint64_t us)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[24];
    static _Thread_local size_t cached_len;
    time_t sec = (time_t)(us / 1000000);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    unsigned ms = (unsigned)(us % 1000000 / 1000);
    if (n < cached_len + 6) { /* never with the callers' buffers; kept correct anyway */
        snprintf(out, n, "%s.%03uZ", cached, ms);
        return;
    }
    memcpy(out, cached, cached_len);
    char *o = out + cached_len;
    o[0] = '.';
    o[1] = (char)('0' + ms / 100);
    o[2] = (char)('0' + ms / 10 % 10);
    o[3] = (char)('0' + ms % 10);
    o[4] = 'Z';
    o[5] = '\0';
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
    /* "<ts> tsgwd[<pid>]: <level>: <msg>", cut at the end of line[] like snprintf would */
    char line[2200];
    size_t o = 0;
    char pre[96];
    size_t tl = strlen(ts), nl = strlen(names[level & 3]);
    memcpy(pre, ts, tl);
    o = tl;
    memcpy(pre + o, " tsgwd[", 7);
    o += 7;
    o += put_dec(pre + o, (uint64_t)log_pid());
    memcpy(pre + o, "]: ", 3);
    o += 3;
    memcpy(pre + o, names[level & 3], nl);
    o += nl;
    memcpy(pre + o, ": ", 2);
    o += 2;
    memcpy(line, pre, o);
    size_t ml = strlen(msg);
    if (ml > sizeof line - 1 - o)
        ml = sizeof line - 1 - o;
    memcpy(line + o, msg, ml);
    line[o + ml] = '\0';
    sink_msg(level, line, msg);
}

void ev_begin(struct event_line *e, int id)
{
    memset(e, 0, sizeof *e);
    e->id = id;
    e->time_us = realtime_us();
    stamp_us(e->time, sizeof e->time, e->time_us);
    /* "<time> tsgwd[<pid>]: EVENT <id>"; room for a typical event line up front */
    char head[96];
    size_t tl = strlen(e->time), o = tl;
    memcpy(head, e->time, tl);
    memcpy(head + o, " tsgwd[", 7);
    o += 7;
    o += put_dec(head + o, (uint64_t)log_pid());
    memcpy(head + o, "]: ", 3);
    o += 3;
    e->msg_off = o;
    memcpy(head + o, "EVENT ", 6);
    o += 6;
    if (id < 0)
        head[o++] = '-';
    o += put_dec(head + o, id < 0 ? 0 - (uint64_t)(int64_t)id : (uint64_t)id);
    buf_reserve(&e->b, 512);
    buf_append(&e->b, head, o);
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

/* Appends ` key="` and, when v is given, `v"` (a number: nothing to escape), in one append. */
static void put_key(struct buf *b, const char *key, const char *v, size_t vl)
{
    char t[128];
    size_t kl = strlen(key);
    if (kl + vl + 4 > sizeof t) {
        buf_put_u8(b, ' ');
        buf_append(b, key, kl);
        buf_append(b, "=\"", 2);
        if (v) {
            buf_append(b, v, vl);
            buf_put_u8(b, '"');
        }
        return;
    }
    size_t o = 0;
    t[o++] = ' ';
    memcpy(t + o, key, kl);
    o += kl;
    t[o++] = '=';
    t[o++] = '"';
    if (v) {
        memcpy(t + o, v, vl);
        o += vl;
        t[o++] = '"';
    }
    buf_append(b, t, o);
}

void ev_str(struct event_line *e, const char *key, const char *value)
{
    if (!value)
        value = "";
    put_key(&e->b, key, NULL, 0);
    put_clean(&e->b, value, true);
    buf_put_u8(&e->b, '"');
    kv_put(e, key, value, false);
}

void ev_u64(struct event_line *e, const char *key, uint64_t value)
{
    char v[24];
    v[put_dec(v, value)] = '\0';
    put_key(&e->b, key, v, strlen(v));
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
