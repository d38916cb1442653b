/* Between the two halves of the logon: logon.c (account sources, the NTLM step, the directory)
 * and logon_http.c (the HTTP exchange: Authorization header, SPNEGO, Basic, 401s). Not for the
 * rest of the daemon, which sees logon.h only. */
#ifndef TSGW_DAEMON_LOGON_INT_H
#define TSGW_DAEMON_LOGON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "core/buf.h"

struct conn;
struct gateway;
struct logon_identity;

/* logon.c */
const struct user_entry *store_find(struct gateway *gw, const char *domain, const char *user);
/* "[auth] directory = winbind" and (domain, user) is not the local store's: winbindd decides. */
bool goes_to_directory(struct gateway *gw, const char *domain, const char *user);
/* Adds the groups NSS knows for who->account (cached a minute). */
void add_system_groups(struct logon_identity *who);
/* Event 201 (and the logon counters). */
void log_auth_failure_nt(struct conn *c, const char *user, int code, uint32_t nt_status,
                         const char *why);
void log_auth_failure(struct conn *c, const char *user, int code, const char *why);
/* Logs and sends an HTTP error that closes the connection. */
void logon_refuse(struct conn *c, int status, const char *reason, const char *why);
/* The logon could not be decided (directory or Kerberos workers unreachable, slow or gone):
 * event 201 with code (1311) and 503, which tells the client to come back; not counted against
 * the address. */
void logon_unavailable(struct conn *c, const char *user, int code, uint32_t nt_status,
                       const char *why);
struct dir_result;
/* The directory's answer was not DIR_OK: refused (event 201 with the domain's code, counted
 * against the address, the scheme's 401) or undecided (logon_unavailable). why_prefix goes in
 * front of the reason in the event ("" for none). */
void logon_dir_failed(struct conn *c, const char *user, const struct dir_result *res,
                      const char *why_prefix);
/* The directory's identity of a successful logon (account, full name, groups, SIDs) in who. */
void logon_identity_from_dir(struct logon_identity *who, const struct dir_result *res);

/* ntlm_step's results */
enum {
    STEP_FAILED = -1,     /* logged (event 201); the caller refuses */
    STEP_CONTINUE = 0,    /* NEGOTIATE taken: the CHALLENGE is in out */
    STEP_DONE = 1,        /* AUTHENTICATE verified locally: c->who.account, res (keys) */
    STEP_PENDING = 2,     /* AUTHENTICATE passed to the directory: directory_done() finishes,
                           * through logon_ntlm_finish(), then conn_logon_done() */
    STEP_UNAVAILABLE = 3, /* logged; the directory cannot be asked: the caller answers 503 */
};
/* One NTLM message (raw or from inside SPNEGO). who gets the account as the AUTHENTICATE
 * names it ("DOMAIN\user", for the logon limits). */
int ntlm_step(struct conn *c, const uint8_t *msg, size_t len, struct buf *out,
              struct ntlm_result *res, char *who, size_t whosz);

/* logon_http.c */
/* A verified NTLM AUTHENTICATE (local, or the directory's answer with res's session key and
 * flags): inside SPNEGO, checks the initiator's mechListMIC and prepares tsgw's; sets
 * c->who.method. Returns LOGON_AUTHED, or LOGON_SENT after a refusal (logged). */
int logon_ntlm_finish(struct conn *c, const struct ntlm_result *res, const char *who);
/* The 401 that ends a refused logon: a SPNEGO reject inside SPNEGO, else the offer list. */
void logon_send_refusal(struct conn *c);

#endif
