/* Authorization policy: connection authorization policies (CAP: who may use the gateway) and
 * resource authorization policies (RAP: which user may reach which host and port), with named
 * resource groups. Pure functions over the loaded configuration; no I/O, no DNS.
 *
 * Default deny: a tunnel needs a matching enabled CAP, a channel a matching enabled RAP. */
#ifndef TSGW_POLICY_H
#define TSGW_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define POLICY_NAME_MAX 128
#define POLICY_PATTERN_MAX 256

enum policy_res_kind { RES_HOST_PATTERN, RES_IPV4, RES_IPV6 };

/* One resource entry: a host name (with * and ? wildcards), or an address with a prefix length
 * (a plain address is a /32 or /128). */
struct policy_resource {
    int kind;
    char pattern[POLICY_PATTERN_MAX]; /* lower case, for RES_HOST_PATTERN */
    uint8_t addr[16];
    unsigned prefix;
};

struct policy_list {
    char **v; /* owned strings */
    size_t n;
};

struct policy_group {
    char name[POLICY_NAME_MAX];
    char description[POLICY_NAME_MAX];
    struct policy_resource *res;
    size_t nres;
};

struct policy_cap {
    char name[POLICY_NAME_MAX];
    int order;
    bool enabled;
    struct policy_list user_groups; /* "*" = everyone */
    bool password_allowed;          /* password (NTLM) logons may use this policy */
    bool cookie_allowed;        /* PAA cookie logons may use this policy (none are accepted yet) */
    uint32_t idle_timeout_s;    /* 0 = none */
    uint32_t session_timeout_s; /* 0 = none */
    int session_timeout_action; /* 0 = disconnect, 1 = reauthorize */
    int redir_type;             /* 0 = all devices, 1 = none, 2 = all except the flags below */
    bool disable_drives, disable_printers, disable_serial_ports, disable_clipboard, disable_pnp;
    uint32_t redir_flags; /* HTTP_TUNNEL_REDIR_FLAGS sent in TUNNEL_AUTH_RESPONSE */
};

struct policy_rap {
    char name[POLICY_NAME_MAX];
    char description[POLICY_NAME_MAX];
    bool enabled;
    struct policy_list protocols; /* "RDP" (the only one) when empty */
    struct policy_list user_groups;
    char group_name[POLICY_NAME_MAX]; /* resource-group, or "" for inline resources */
    struct policy_resource *res;      /* inline resources */
    size_t nres;
    bool any_port;
    uint16_t *ports;
    size_t nports;
    int conf_line; /* where its section starts, for messages */
};

struct policy {
    struct policy_cap *caps; /* sorted by order, then name, after policy_finish() */
    size_t ncaps;
    struct policy_rap *raps;
    size_t nraps;
    struct policy_group *groups;
    size_t ngroups;
};

/* The identity a decision is about: "DOMAIN\user" and the groups the user belongs to. */
struct policy_subject {
    const char *account;
    const char *const *groups;
    size_t ngroups;
};

/* Parses one resource entry ("host.example", "rdp-*.corp", "10.1.0.0/16", "::1", "fd00::/8").
 * 0 or -EINVAL. */
int policy_parse_resource(const char *text, struct policy_resource *out);

/* Parses a ';'-separated resource list into a new array. 0 or -EINVAL with the bad entry in
 * bad (if not NULL). */
int policy_parse_resource_list(const char *text, struct policy_resource **out, size_t *n, char *bad,
                               size_t badsz);

/* Parses a ';'-separated list into owned trimmed strings (empty entries dropped). */
int policy_parse_list(const char *text, struct policy_list *out);

/* Parses "*" or a ';'-separated port list. 0 or -EINVAL. */
int policy_parse_ports(const char *text, struct policy_rap *rap);

/* Sorts CAPs by order (cross references are checked by conf/, with line numbers). */
void policy_finish(struct policy *p);

void policy_free(struct policy *p);

/* Case-insensitive glob match of a host name against a pattern with '*' and '?'. */
bool policy_glob_match(const char *pattern, const char *name);

/* Normalises a requested resource name: trims, lower-cases, drops a trailing dot, and splits a
 * ":port" suffix (mstsc may append one) when *port_out is not NULL. Returns 0 or -EINVAL. */
int policy_normalize_host(const char *in, char *out, size_t outsz, int *port_out);

/* True when subject matches the user-groups list: "*" matches anyone; otherwise an entry
 * matches the account name or one of the subject's groups, case-insensitively (an entry or group
 * of the form "DOMAIN\name" also matches a bare "name" on the other side). */
bool policy_subject_matches(const struct policy_list *user_groups, const struct policy_subject *s);

/* Computes cap->redir_flags from redir_type and the disable flags. */
void policy_cap_finish(struct policy_cap *cap);

/* First enabled CAP (in order) whose user groups match and that allows password logons (the
 * only kind tsgw accepts); NULL when none (deny). */
const struct policy_cap *policy_check_cap(const struct policy *p, const struct policy_subject *s);

/* First enabled RAP allowing subject to reach host:port. host is the normalised requested name;
 * addr is the address it resolved to (the one that will be connected to), or NULL if unknown.
 * A host-name entry matches the name; an address/CIDR entry matches the resolved address.
 * NULL when none (deny). */
const struct policy_rap *policy_check_rap(const struct policy *p, const struct policy_subject *s,
                                          const char *host, const struct sockaddr *addr,
                                          uint16_t port);

/* Whether any RAP could allow host:port for subject before the name is resolved: true when a
 * matching RAP lists a host-name pattern that matches, or lists any address/CIDR entry (which
 * needs the resolved address to decide). When false, tsgw refuses without a DNS lookup. */
bool policy_rap_may_allow(const struct policy *p, const struct policy_subject *s, const char *host,
                          uint16_t port);

#endif
