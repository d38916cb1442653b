/* Log targets: stderr, journald (native protocol through libsystemd), syslog. */
#include "core/logsink.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "core/event.h"

static int g_target = SINK_STDERR;
static bool g_syslog_open;

bool sink_stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    if (!e || !*e)
        return false;
    unsigned long long dev, ino;
    if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(2, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int sink_parse_target(const char *s)
{
    if (!strcmp(s, "auto"))
        return sink_stderr_is_journal() ? SINK_JOURNAL : SINK_STDERR;
    if (!strcmp(s, "stderr"))
        return SINK_STDERR;
    if (!strcmp(s, "journal"))
        return SINK_JOURNAL;
    if (!strcmp(s, "syslog"))
        return SINK_SYSLOG;
    return -1;
}

int sink_set_target(int target)
{
    /* libsystemd drops entries silently when there is no journal socket: check it up front */
#ifdef HAVE_SYSTEMD
    if (target == SINK_JOURNAL && access("/run/systemd/journal/socket", W_OK) != 0) {
#else
    if (target == SINK_JOURNAL) {
#endif
        g_target = SINK_STDERR;
        return -1;
    }
    if (target == SINK_SYSLOG && !g_syslog_open) {
        openlog("tsgwd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        g_syslog_open = true;
    }
    g_target = target;
    return 0;
}

int sink_get_target(void)
{
    return g_target;
}

static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* ---------- stderr, batched for the event loop (sink_batch) ---------- */

static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_out[16384];
static _Atomic size_t g_out_len; /* changed under g_out_lock; read without it in sink_flush */
static _Thread_local bool t_batch;

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(2, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* as stdio's unbuffered stderr: a line that cannot be written is dropped */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void out_flush_locked(void)
{
    write_all(g_out, g_out_len);
    g_out_len = 0;
}

void sink_flush(void)
{
    if (!atomic_load_explicit(&g_out_len, memory_order_relaxed))
        return; /* nothing collected: no lock (the loop calls this before every socket write) */
    pthread_mutex_lock(&g_out_lock);
    if (g_out_len)
        out_flush_locked();
    pthread_mutex_unlock(&g_out_lock);
}

void sink_batch(bool on)
{
    static bool hooked;
    if (on && !hooked) {
        hooked = true;
        atexit(sink_flush);                     /* exit() from anywhere loses no line */
        pthread_atfork(sink_flush, NULL, NULL); /* nor does a child get the parent's lines */
    }
    if (!on)
        sink_flush();
    t_batch = on;
}

/* One line and its newline to stderr: appended to the batch on a batching thread (written when
 * the buffer is full or at sink_flush), else written at once, after what is batched. */
static void out_line(const char *line)
{
    size_t n = strlen(line);
    pthread_mutex_lock(&g_out_lock);
    if (n + 1 > sizeof g_out) {
        out_flush_locked();
        write_all(line, n);
        write_all("\n", 1);
    } else {
        if (g_out_len + n + 1 > sizeof g_out)
            out_flush_locked();
        memcpy(g_out + g_out_len, line, n);
        g_out[g_out_len + n] = '\n';
        g_out_len += n + 1;
        if (!t_batch)
            out_flush_locked();
    }
    pthread_mutex_unlock(&g_out_lock);
}

void sink_msg(int level, const char *line, const char *msg)
{
    int prio = level_prio[level & 3];
    switch (g_target) {
#ifdef HAVE_SYSTEMD
    case SINK_JOURNAL:
        if (sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=tsgwd",
                            NULL) >= 0)
            return;
        break; /* no journal to talk to: the line goes to stderr rather than nowhere */
#endif
    case SINK_SYSLOG:
        syslog(prio, "%s", msg);
        return;
    default:
        break;
    }
    out_line(line);
}

void sink_message_id(int id, char out[33])
{
    snprintf(out, 33, "%s%06d", TSGW_MESSAGE_ID_PREFIX, id < 0 || id > 999999 ? 0 : id);
}

int sink_event_priority(int id)
{
    switch (id) {
    case 201: /* failed CAP / authentication / rate limited */
    case 203: /* max-connections */
    case 210: /* unpaired legacy IN */
    case 301: /* no RAP */
    case 304: /* resource unreachable */
        return LOG_WARNING;
    case 202: /* administrator disconnect */
    case 307: /* session timeout */
        return LOG_NOTICE;
    default:
        return LOG_INFO;
    }
}

void sink_journal_field(const char *key, char *out, unsigned outsz)
{
    if (!strcmp(key, "IpAddress")) {
        snprintf(out, outsz, "TSGW_CLIENT_ADDRESS");
        return;
    }
    unsigned n = (unsigned)snprintf(out, outsz, "TSGW_");
    for (const char *p = key; *p && n + 2 < outsz; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z' && p != key && n + 3 < outsz && !(p[-1] >= 'A' && p[-1] <= 'Z'))
            out[n++] = '_';
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        out[n++] = c;
    }
    out[n] = 0;
}

#ifdef HAVE_SYSTEMD
static int journal_event(const struct event *ev)
{
    char fixed[5][128];
    char mid[33];
    sink_message_id(ev->id, mid);
    snprintf(fixed[0], sizeof fixed[0], "MESSAGE_ID=%s", mid);
    snprintf(fixed[1], sizeof fixed[1], "PRIORITY=%d", sink_event_priority(ev->id));
    snprintf(fixed[2], sizeof fixed[2], "TSGW_EVENT_ID=%d", ev->id);
    snprintf(fixed[3], sizeof fixed[3], "SYSLOG_IDENTIFIER=tsgwd");
    snprintf(fixed[4], sizeof fixed[4], "TSGW_EVENT_SEQ=%llu", (unsigned long long)ev->seq);
    struct iovec iov[6 + EVENT_MAX_FIELDS];
    char *heap[EVENT_MAX_FIELDS + 1];
    unsigned n = 0, nheap = 0;
    size_t ml = strlen(ev->message) + 9;
    heap[nheap] = malloc(ml);
    if (!heap[nheap])
        return -1;
    snprintf(heap[nheap], ml, "MESSAGE=%s", ev->message);
    iov[n++] = (struct iovec){heap[nheap], strlen(heap[nheap])};
    nheap++;
    for (unsigned i = 0; i < 5; i++)
        iov[n++] = (struct iovec){fixed[i], strlen(fixed[i])};
    for (unsigned i = 0; i < ev->nfields; i++) {
        char name[64];
        sink_journal_field(ev->f[i].key, name, sizeof name);
        size_t l = strlen(name) + 1 + strlen(ev->f[i].value) + 1;
        char *s = malloc(l);
        if (!s)
            continue;
        snprintf(s, l, "%s=%s", name, ev->f[i].value);
        heap[nheap++] = s;
        iov[n++] = (struct iovec){s, l - 1};
    }
    int r = sd_journal_sendv(iov, (int)n);
    for (unsigned i = 0; i < nheap; i++)
        free(heap[i]);
    return r;
}
#endif

void sink_event(const struct event *ev)
{
    switch (g_target) {
#ifdef HAVE_SYSTEMD
    case SINK_JOURNAL:
        if (journal_event(ev) >= 0)
            return;
        break; /* no journal to talk to: the line goes to stderr rather than nowhere */
#endif
    case SINK_SYSLOG:
        syslog(sink_event_priority(ev->id), "%s", ev->message);
        return;
    default:
        break;
    }
    out_line(ev->line);
}
