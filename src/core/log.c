#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

static void stamp(char *out, size_t n)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03ldZ", (long)(tv.tv_usec / 1000));
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
    fprintf(stderr, "%s tsgwd[%d]: %s: %s\n", ts, (int)getpid(), names[level & 3], msg);
}

void ev_begin(struct event_line *e, int id)
{
    char ts[40];
    memset(e, 0, sizeof *e);
    stamp(ts, sizeof ts);
    buf_printf(&e->b, "%s tsgwd[%d]: EVENT %d", ts, (int)getpid(), id);
}

void ev_str(struct event_line *e, const char *key, const char *value)
{
    buf_printf(&e->b, " %s=\"", key);
    for (const char *p = value ? value : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            buf_put_u8(&e->b, '\\');
        /* control characters never reach the log as such */
        buf_put_u8(&e->b, c < 0x20 || c == 0x7f ? '?' : c);
    }
    buf_put_u8(&e->b, '"');
}

void ev_u64(struct event_line *e, const char *key, uint64_t value)
{
    buf_printf(&e->b, " %s=\"%llu\"", key, (unsigned long long)value);
}

void ev_end(struct event_line *e)
{
    if (!g_events) {
        buf_free(&e->b);
        return;
    }
    buf_put_u8(&e->b, '\n');
    fwrite(buf_data(&e->b), 1, buf_len(&e->b), stderr);
    fflush(stderr);
    buf_free(&e->b);
}
