/* Logging to stderr: diagnostics (one line each, with level) and RD Gateway events.
 *
 * Event lines are meant for machines as much as people:
 *   <ISO-8601 UTC time> tsgwd[pid]: EVENT <id> <Key>="<value>" ...
 * Values are always double-quoted; '"' and '\' inside are escaped with '\'. Field names follow
 * the Windows RD Gateway event payload (Username, IpAddress, AuthType, Resource,
 * ConnectionProtocol, ErrorCode, BytesReceived, BytesTransfered, SessionDuration), plus TunnelId,
 * ChannelId, Port and Reason. See docs/events.md. */
#ifndef TSGW_CORE_LOG_H
#define TSGW_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event.h"

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
/* Event lines on or off (on by default; the in-process fuzz harness turns them off). */
void log_set_events(int on);
int log_get_level(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/* Event builder: ev_begin, any number of ev_str/ev_u64, ev_end. ev_end hands the event to the
 * event hub (core/event.h), which writes it to the log target, keeps it in the ring of recent
 * events and passes it to subscribers. At most EVENT_MAX_FIELDS fields (more are dropped). */
struct event_line {
    struct buf b;  /* the text line */
    struct buf kv; /* key NUL value NUL, per field */
    int id;
    uint64_t time_us;
    char time[32];
    size_t msg_off; /* where "EVENT <id>" starts in b */
    unsigned nfields;
    uint32_t number_mask; /* bit i: field i is a number */
};
void ev_begin(struct event_line *e, int id);
void ev_str(struct event_line *e, const char *key, const char *value);
void ev_u64(struct event_line *e, const char *key, uint64_t value);
void ev_end(struct event_line *e);

#endif
