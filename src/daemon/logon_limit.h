/* Logon rate limiting for every logon path (NTLM over HTTP, Basic on CIM-XML, ...): the
 * daemon's side of guard/logon_guard.c. Events 201 for every block and unblock, the admin
 * socket's "blocks" and "unblock" verbs (tsgwctl blocks / tsgwctl unblock). */
#ifndef TSGW_DAEMON_LOGON_LIMIT_H
#define TSGW_DAEMON_LOGON_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct gateway;
struct conn;

int logon_limit_init(struct gateway *gw);
void logon_limit_free(struct gateway *gw);

/* Is a logon on c blocked? account: "DOMAIN\user" as the client gave it, or NULL before it is
 * known (then only a block of the whole address applies). When blocked, why gets the reason. */
bool logon_limit_blocked(struct conn *c, const char *account, char *why, size_t whysz);
/* Records a failed / successful logon on c for account ("" when unknown). */
void logon_limit_failed(struct conn *c, const char *account);
void logon_limit_succeeded(struct conn *c, const char *account);
/* The same for an address key and account seen by another farm node (daemon/farm.h): counted
 * here, not published again. */
void logon_limit_failed_at(struct gateway *gw, const char *addr_key, const char *account);
void logon_limit_succeeded_at(struct gateway *gw, const char *addr_key, const char *account);
/* From the periodic sweep: ends expired blocks (event 201 "unblocked"). */
void logon_limit_sweep(struct gateway *gw, uint64_t now);
/* Blocks in force. */
unsigned logon_limit_count(const struct gateway *gw);

/* Admin verbs: "blocks" lists the blocks in force (a header line, then one line each);
 * "unblock WHO" lifts the blocks of an address key, an account, or "ADDRESS ACCOUNT". */
uint32_t logon_limit_admin_blocks(struct gateway *gw, char **args, int nargs, struct buf *body);
uint32_t logon_limit_admin_unblock(struct gateway *gw, char **args, int nargs, struct buf *body);

#endif
