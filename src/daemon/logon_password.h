/* Typed passwords checked by the domain: HTTP Basic on the gateway, the web console's sign-in
 * and CIM-XML's Basic. With "[auth] directory = winbind", an account that is not the local
 * store's (CONTOSO\alice, alice@contoso.test, contoso.test\alice) is checked by winbindd
 * (wbcAuthenticateUserEx, plaintext level) on the directory workers with the directory's
 * deadline; the answer comes back on the loop with the canonical name, groups and SIDs, or the
 * account's NTSTATUS. The loop never waits. */
#ifndef TSGW_DAEMON_LOGON_PASSWORD_H
#define TSGW_DAEMON_LOGON_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/winbind.h"

struct conn;
struct gateway;

/* Splits a typed account: "DOMAIN\user" -> (DOMAIN, user); "user@dns.domain" -> ("", whole);
 * a bare name -> ([auth] netbios-domain, name). -1 when a part is too long or empty. */
int logon_password_split(const struct gateway *gw, const char *account, char *dom, size_t dsz,
                         char *user, size_t usz);
/* Whether (dom, user) as split goes to the directory. */
bool logon_password_for_directory(struct gateway *gw, const char *dom, const char *user);

/* Starts the check; done(c, res) runs on the loop with the answer (or DIR_TIMEOUT), never after
 * the connection closed (the job is c->logon->job: closing cancels it). 0, or -1 when the
 * directory cannot be asked (workers not running, out of memory). */
int logon_password_start(struct conn *c, const char *dom, const char *user, const char *password,
                         void (*done)(struct conn *c, const struct dir_result *res));
bool logon_password_pending(const struct conn *c);

/* A refused or failed directory answer as the logon events say it: the Win32 code (1326, 1331,
 * ... or 1311), the NTSTATUS (0 if none) and a reason. True when the directory could not answer
 * (the client gets 503, the address is not charged). */
bool logon_dir_refusal(const struct gateway *gw, const struct dir_result *res, int *code,
                       uint32_t *nt_status, char *why, size_t whysz);

/* Whether a ';'-list of groups holds one of the ';'-list want ("DOMAIN\Name" also matches a
 * bare "Name" and the reverse). */
bool logon_groups_match(const char *want, const char *groups);

/* HTTP Basic on the gateway: the directory half (logon_http.c decodes and calls this). Returns
 * LOGON_PENDING, or LOGON_SENT after a refusal or a 503. who: the account as typed. */
int logon_basic_directory(struct conn *c, const char *dom, const char *user, const char *password,
                          const char *who);

#endif
