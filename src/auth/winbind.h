/* Domain logons through Samba's winbindd (libwbclient) on a domain-joined gateway.
 *
 * Every call here blocks (a round trip to winbindd, which may talk to a domain controller): the
 * daemon runs them on its directory worker threads (daemon/dirpool.c), never on the loop. Each
 * worker owns one winbind_ctx. libwbclient 4.17 always uses the compiled-in socket
 * /run/samba/winbindd/pipe; NTLM and PAC logons need winbindd's privileged pipe (run as root or
 * in group winbindd_priv). */
#ifndef TSGW_AUTH_WINBIND_H
#define TSGW_AUTH_WINBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/ntlm.h"
#include "auth/users.h"

#define DIR_NAME_MAX 256
#define DIR_SIDS_MAX 2048

enum dir_rc {
    DIR_OK = 0,
    DIR_DENIED = 1,      /* the domain refused the logon: nt_status says why */
    DIR_UNAVAILABLE = 2, /* winbindd or the domain controller could not answer */
    DIR_TIMEOUT = 3,     /* no answer within [auth] directory-timeout (set by the pool) */
    DIR_ERROR = 4,       /* bad input or an unexpected answer */
};

/* One NTLM network logon: the strings and responses exactly as the client sent them. */
struct dir_ntlm_request {
    char domain[NTLM_NAME_MAX];
    char user[NTLM_NAME_MAX];
    char workstation[NTLM_NAME_MAX];
    uint8_t challenge[8];
    uint8_t nt[NTLM_MAX_MESSAGE];
    size_t nt_len;
    uint8_t lm[24];
    size_t lm_len;
};

/* What a logon gives back. */
struct dir_result {
    int rc;             /* enum dir_rc */
    uint32_t nt_status; /* DIR_DENIED (and some DIR_UNAVAILABLE): the domain's NTSTATUS */
    char detail[128];   /* libwbclient's words when the call itself failed */
    char identity[2 * DIR_NAME_MAX]; /* canonical "CONTOSO\alice", as the directory spells it */
    char full_name[USERS_FULLNAME_MAX];
    char upn[DIR_NAME_MAX];
    char groups[USERS_GROUPS_MAX]; /* ';'-list of "DOMAIN\Group" names the SIDs resolved to */
    char sids[DIR_SIDS_MAX];       /* ';'-list: user SID, then every group SID */
    uint32_t acct_flags;
    uint8_t session_key[16]; /* NTLM: the SessionBaseKey (for the MIC) */
};

struct winbind_ctx;

/* A connection context for one thread. NULL on allocation failure. */
struct winbind_ctx *winbind_ctx_new(void);
void winbind_ctx_free(struct winbind_ctx *w);

/* The member's own names, for the NTLM CHALLENGE (the DC refuses a pass-through logon unless
 * MsvAvNbComputerName is the member's NetBIOS name). 0, or -1 with detail filled. */
int winbind_interface(struct winbind_ctx *w, char *nb_name, size_t nsz, char *nb_domain, size_t dsz,
                      char *dns_domain, size_t dnsz, char *detail, size_t detsz);

/* NTLMv2 network logon (wbcAuthenticateUserEx, level RESPONSE). On DIR_OK fills identity,
 * groups, SIDs, full name and session_key. */
void winbind_ntlm_logon(struct winbind_ctx *w, const struct dir_ntlm_request *req,
                        struct dir_result *res);

/* Kerberos: the PAC of a ticket the gateway accepted (wbcAuthenticateUserEx, level PAC). */
void winbind_pac_logon(struct winbind_ctx *w, const uint8_t *pac, size_t len,
                       struct dir_result *res);

/* A typed password (HTTP Basic, the console's sign-in, CIM-XML's Basic): wbcAuthenticateUserEx
 * level PLAIN, which winbindd turns into a logon at the DC (account state as NTSTATUS, the
 * logon's SIDs). domain may be empty for a UPN ("alice@contoso.test"). Non-privileged pipe. */
void winbind_plain_logon(struct winbind_ctx *w, const char *domain, const char *user,
                         const char *password, struct dir_result *res);

/* Group names are cached by SID for ttl_s seconds (default 300); 0 turns the cache off. */
void winbind_set_cache_ttl(unsigned ttl_s);

#endif
