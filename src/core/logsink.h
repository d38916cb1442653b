/* Where log lines and events go: stderr (text, the default), the systemd journal (structured
 * entries, sd_journal_sendv) or syslog. The event hub (core/event.h) and log_msg (core/log.h)
 * both write through here. See docs/events.md for the journal fields and MESSAGE_IDs. */
#ifndef TSGW_CORE_LOGSINK_H
#define TSGW_CORE_LOGSINK_H

#include <stdbool.h>

struct event;

enum sink_target { SINK_STDERR = 0, SINK_JOURNAL, SINK_SYSLOG };

/* Selects the target. SINK_JOURNAL without journal support (built without libsystemd) or
 * without a journal (no /run/systemd/journal/socket) falls back to stderr and returns -1. */
int sink_set_target(int target);
int sink_get_target(void);
/* "auto" at startup: the journal when stderr is connected to it (JOURNAL_STREAM names stderr's
 * device and inode), stderr otherwise. */
bool sink_stderr_is_journal(void);
/* Parses "auto", "stderr", "journal", "syslog" (-1 for anything else; auto gives the target
 * sink_stderr_is_journal() suggests). */
int sink_parse_target(const char *s);

/* A diagnostic: level 0 error, 1 warning, 2 info, 3 debug. line is the full text line (with time
 * and pid, no newline) for stderr; msg the bare message for the journal and syslog. */
void sink_msg(int level, const char *line, const char *msg);
/* Batching of stderr lines for the calling thread (the event loop): on, its lines collect in a
 * 16 KiB buffer written when full or by sink_flush, so that a burst of lines costs one write().
 * The loop calls sink_flush before it waits and before every write to a peer's socket (a
 * client, the admin socket): a line is out before anyone can see what followed it. Other
 * threads' lines go out at once, after the batch; exit() and fork() flush it first. Off (the
 * default) flushes and writes every line at once. The journal and syslog are not batched (one
 * datagram per entry). sink_flush is cheap when nothing is pending. */
void sink_batch(bool on);
void sink_flush(void);
void sink_event(const struct event *ev);

/* The journal MESSAGE_ID of an event id: 32 hex digits, TSGW_MESSAGE_ID_PREFIX then the id in
 * 6 decimal digits: event 302 is 4f1ad8e0b5a94c2fa7d36b91c8000302. Stable: never change it. */
#define TSGW_MESSAGE_ID_PREFIX "4f1ad8e0b5a94c2fa7d36b91c8"
void sink_message_id(int id, char out[33]);
/* Journal priority of an event id (syslog scale: 4 warning, 5 notice, 6 info). */
int sink_event_priority(int id);
/* Journal field name of an event field: "Username" -> "TSGW_USERNAME", "IpAddress" ->
 * "TSGW_CLIENT_ADDRESS", CamelCase -> TSGW_CAMEL_CASE. */
void sink_journal_field(const char *key, char *out, unsigned outsz);

#endif
