/* Kerberos inside SPNEGO, the daemon's side (logon_krb.c): the AP-REQ of a NegTokenInit
 * accepted on the directory workers, the identity from the PAC (winbind) or the local store. */
#ifndef TSGW_DAEMON_LOGON_KRB_H
#define TSGW_DAEMON_LOGON_KRB_H

#include <stdbool.h>

#include "auth/spnego.h"

struct conn;
struct gateway;

/* [auth] keytab is set. */
bool logon_krb_enabled(const struct gateway *gw);
/* Starts the worker threads when a keytab is configured (start and every reload). */
void logon_krb_configure(struct gateway *gw);
/* Takes a NegTokenInit whose first mechanism is Kerberos with its AP-REQ (c->logon holds the
 * MechTypeList): LOGON_PENDING (conn_logon_done follows) or LOGON_SENT. */
int logon_krb_init(struct conn *c, const struct spnego_token *t);

#endif
