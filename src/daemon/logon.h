/* The HTTP logon of gateway requests: turns the Authorization header(s) of a connection into an
 * identity. One entry point (logon_http) for every mechanism -- NTLM (raw, under "NTLM" or
 * "Negotiate"), NTLM inside SPNEGO ("Negotiate", RFC 4178 with the mechListMIC), Basic over TLS
 * when enabled -- and every account source (the local credential store, the Active Directory
 * domain through winbind, then the groups NSS knows). logon_http.c holds the HTTP exchange,
 * logon.c the accounts and the NTLM step; Kerberos (inside SPNEGO) plugs in there. */
#ifndef TSGW_DAEMON_LOGON_H
#define TSGW_DAEMON_LOGON_H

#include <stdbool.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "auth/winbind.h"
#include "http/http.h"

struct conn;
struct gateway;

/* What a successful logon produces. */
struct logon_identity {
    char account[NTLM_NAME_MAX];        /* canonical "DOMAIN\user" */
    char full_name[USERS_FULLNAME_MAX]; /* display name, may be empty */
    char groups[USERS_GROUPS_MAX];      /* ';'-separated: the account source's, then NSS's */
    char method[16];         /* how it was proven: "NTLM" (raw, under "NTLM" or "Negotiate"),
                              * "Negotiate" (NTLM inside SPNEGO), "Kerberos" (inside SPNEGO),
                              * "Basic" */
    char source[16];         /* who vouched for it: "local" or "winbind" */
    char flags[48];          /* what was verified: "MIC, channel binding" */
    char sids[DIR_SIDS_MAX]; /* directory accounts: user SID, then group SIDs */
};

#define LOGON_MECH_LIST_MAX 256 /* bytes of a SPNEGO MechTypeList kept for the mechListMIC */

/* One connection's logon in progress (part of struct conn). */
struct logon_session {
    int rounds;            /* 401 rounds so far */
    char scheme[16];       /* "NTLM", "Negotiate" or "Basic", as the client used it */
    struct ntlm_ctx *ntlm; /* only while an NTLM exchange is in progress */
    /* a directory logon in flight: the connection reads nothing more until it answers */
    struct dir_job *job;
    struct ntlm_passthrough *pt;
    char sent[2 * NTLM_NAME_MAX + 2]; /* "DOMAIN\user" as sent, for the events */
    /* SPNEGO: a Negotiate token that is not raw NTLM (RFC 4178) */
    bool spnego;       /* a NegTokenInit was taken on this connection */
    bool mic_required; /* NTLM was not the initiator's first choice: request-mic was sent */
    bool peer_mic;     /* the NegTokenResp with the AUTHENTICATE carried a mechListMIC */
    uint8_t peer_mic_value[16];
    uint8_t mech_list[LOGON_MECH_LIST_MAX]; /* the initiator's DER MechTypeList */
    size_t mech_list_len;
    char final_header[768]; /* "WWW-Authenticate: Negotiate <accept-completed>\r\n" for the
                             * 101/200 that follows a SPNEGO logon (Kerberos: with the AP-REP),
                             * or empty */
};

/* The directory's view of this gateway (winbind's interface details). */
struct logon_directory {
    bool known, asking, configured;
    char nb_name[64], nb_domain[64], dns_domain[128], dns_name[192];
};

/* logon_http's results. */
enum {
    LOGON_SENT = 0,        /* a 401 round or a refusal was sent (it may close the connection) */
    LOGON_AUTHED = 1,      /* c->who holds the proven identity: the caller marks it authed */
    LOGON_PENDING = 2,     /* the directory was asked: see below */
    LOGON_UNSUPPORTED = 3, /* RDG-Auth-Scheme (PAA, ...) without Authorization: let the
                            * request through unauthenticated only so that the tunnel answers
                            * its first packet with E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD */
};

/* Handles the authentication of one gateway request on an unauthenticated connection. Returns
 * LOGON_AUTHED when c->who now holds the proven identity (the caller marks the connection
 * authenticated), LOGON_SENT when a response was sent (a 401 round or a refusal, which may close
 * the connection), LOGON_PENDING when the directory was asked: the connection must process
 * nothing more until conn_logon_done(c, LOGON_AUTHED or LOGON_SENT) comes back (request.c),
 * LOGON_UNSUPPORTED (above). */
int logon_http(struct conn *c, const struct http_request *req);

/* The header line a successful logon adds to the 101/200 that follows it (the final SPNEGO
 * token), or "". */
const char *logon_success_header(const struct conn *c);

/* Frees what a logon in progress holds (connection teardown). */
void logon_session_clear(struct logon_session *s);

/* The mechanisms' view of the current configuration: runs at start and after every reload. */
void logon_configure(struct gateway *gw);

/* Stops the directory workers (gateway shutdown). */
void logon_shutdown(struct gateway *gw);

/* Reloads the credential store when its file changed. 0 or a negative errno. */
int users_reload_if_changed(struct gateway *gw);

/* Event 201 (a failed logon) for any way in: AuthType and ConnectionProtocol as the caller
 * names them ("NTLM"/"HTTP", "Basic"/"CIM-XML", "Form"/"Console"), the Win32 code, the
 * domain's NTSTATUS when there is one (0: none) and a readable reason. */
void event_logon_failed(struct conn *c, const char *user, const char *auth_type,
                        const char *protocol, int code, uint32_t nt_status, const char *why);

#endif
