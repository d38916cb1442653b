/* The HTTP logon of gateway requests: turns the Authorization header(s) of a connection into an
 * identity. One entry point (logon_http) for every mechanism (today NTLM, raw or under
 * "Negotiate") and every account source (today the local credential store, then the groups NSS
 * knows for the account); other mechanisms (SPNEGO, Kerberos, Basic) and account sources
 * (winbind) plug in here without touching the gateway. */
#ifndef TSGW_DAEMON_LOGON_H
#define TSGW_DAEMON_LOGON_H

#include <stdbool.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "http/http.h"

struct conn;
struct gateway;

/* What a successful logon produces. */
struct logon_identity {
    char account[NTLM_NAME_MAX];        /* canonical "DOMAIN\user" */
    char full_name[USERS_FULLNAME_MAX]; /* display name, may be empty */
    char groups[USERS_GROUPS_MAX];      /* ';'-separated: the account source's, then NSS's */
    char method[16];                    /* how it was proven: "NTLM" */
};

/* One connection's logon in progress (part of struct conn). */
struct logon_session {
    int rounds;            /* 401 rounds so far */
    char scheme[16];       /* "NTLM" or "Negotiate", as the client used it */
    struct ntlm_ctx *ntlm; /* only while an NTLM exchange is in progress */
};

/* Handles the authentication of one gateway request on an unauthenticated connection. Returns 1
 * when c->who now holds the proven identity (the caller marks the connection authenticated), 0
 * when a response was sent (a 401 round or a refusal, which may close the connection). */
int logon_http(struct conn *c, const struct http_request *req);

/* Frees what a logon in progress holds (connection teardown). */
void logon_session_clear(struct logon_session *s);

/* The mechanisms' view of the current configuration: runs at start and after every reload. */
void logon_configure(struct gateway *gw);

/* Reloads the credential store when its file changed. 0 or a negative errno. */
int users_reload_if_changed(struct gateway *gw);

#endif
