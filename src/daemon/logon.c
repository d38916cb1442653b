/* The HTTP logon of gateway requests (see logon.h), its account side: the account sources (the
 * credential store, the directory through winbind, NSS groups), the NTLM step (local or passed
 * through to the directory), the logon failure event (201). The HTTP exchange itself -- the
 * Authorization header, SPNEGO, Basic, the 401s -- is logon_http.c. */
#include "daemon/logon.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "auth/ntstatus.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/dirpool.h"
#include "daemon/gateway.h"
#include "daemon/logon_int.h"
#include "daemon/logon_password.h"
#include "daemon/logon_krb.h"
#include "daemon/logon_limit.h"
#include "daemon/ops.h"
#include "daemon/preauth.h"

/* ---------- account sources ---------- */

int users_reload_if_changed(struct gateway *gw)
{
    struct stat st;
    if (stat(gw->cfg->users_file, &st) < 0)
        return -errno;
    if (st.st_mtim.tv_sec == gw->users_mtime.tv_sec &&
        st.st_mtim.tv_nsec == gw->users_mtime.tv_nsec && gw->users.v)
        return 0;
    struct user_store ns = {0};
    char err[512] = "";
    int r = user_store_load(gw->cfg->users_file, 0, &ns, err, sizeof err);
    if (r < 0) {
        log_error("users file not reloaded, keeping the previous one: %s", err);
        user_store_free(&ns);
        return r;
    }
    user_store_free(&gw->users);
    gw->users = ns;
    gw->users_mtime = st.st_mtim;
    log_info("loaded %zu account(s) from %s", ns.n, gw->cfg->users_file);
    return 0;
}

/* The local credential store's account for (domain, user) as NTLM names it. */
const struct user_entry *store_find(struct gateway *gw, const char *domain, const char *user)
{
    const struct user_entry *u = user_store_find(&gw->users, domain, user);
    if (!u && !domain[0] && strchr(user, '@')) {
        /* "/gu:alice@contoso.test" arrives as user "alice@contoso.test" with no domain: look up
         * alice in the domain whose first label is "contoso" */
        char name[USERS_NAME_MAX], dom[USERS_DOMAIN_MAX];
        const char *at = strchr(user, '@');
        size_t nl = (size_t)(at - user), dl = strcspn(at + 1, ".");
        if (nl && nl < sizeof name && dl && dl < sizeof dom) {
            memcpy(name, user, nl);
            name[nl] = 0;
            memcpy(dom, at + 1, dl);
            dom[dl] = 0;
            u = user_store_find(&gw->users, dom, name);
        }
    }
    return u;
}

/* The NTLM acceptor's account lookup: the NT hash to check the response against, and the
 * identity (canonical name, display name, groups) it proves. */
static int ntlm_lookup(void *ctx, const char *domain, const char *user, uint8_t nthash[16],
                       char *identity, size_t identity_size)
{
    struct conn *c = ctx;
    const struct user_entry *u = store_find(c->gw, domain, user);
    if (!u)
        return -1;
    memcpy(nthash, u->nthash, 16);
    snprintf(identity, identity_size, "%s\\%s", u->domain, u->name);
    str_copy(c->who->full_name, u->full_name, sizeof c->who->full_name);
    str_copy(c->who->groups, u->groups, sizeof c->who->groups);
    return 0;
}

/* Adds the groups the system knows for this account (NSS: winbind spells domain accounts
 * "DOMAIN\user", sssd "user@domain"), so policies can name directory groups. Local files only
 * answer for accounts that exist there. */
static void lookup_system_groups(struct logon_identity *who)
{
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX], alt[USERS_DOMAIN_MAX + USERS_NAME_MAX + 2];
    if (user_split_account(who->account, dom, sizeof dom, user, sizeof user) < 0)
        return;
    snprintf(alt, sizeof alt, "%s@%s", user, dom);
    const char *names[] = {who->account, alt};
    for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
        struct passwd pwbuf, *pw = NULL;
        char tmp[4096];
        if (getpwnam_r(names[n], &pwbuf, tmp, sizeof tmp, &pw) != 0 || !pw)
            continue;
        gid_t gids[128];
        int ng = 128;
        if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &ng) < 0)
            ng = 128;
        for (int i = 0; i < ng; i++) {
            struct group grbuf, *gr = NULL;
            char gtmp[8192];
            if (getgrgid_r(gids[i], &grbuf, gtmp, sizeof gtmp, &gr) != 0 || !gr)
                continue;
            size_t len = strlen(who->groups);
            snprintf(who->groups + len, sizeof who->groups - len, "%s%s", len ? ";" : "",
                     gr->gr_name);
        }
        return;
    }
}

/* NSS answers are cached for a minute per account: a failing lookup walks every NSS module
 * (files, systemd, winbind...) and costs dozens of system calls per logon. */
#define NSS_CACHE 64
#define NSS_TTL_MS 60000
static struct {
    char identity[NTLM_NAME_MAX];
    char groups[USERS_GROUPS_MAX];
    uint64_t until_ms;
} nss_cache[NSS_CACHE];
static unsigned nss_next;

void add_system_groups(struct logon_identity *who)
{
    uint64_t now = now_ms();
    size_t base = strlen(who->groups);
    for (unsigned i = 0; i < NSS_CACHE; i++)
        if (nss_cache[i].until_ms > now && !strcasecmp(nss_cache[i].identity, who->account)) {
            if (nss_cache[i].groups[0])
                snprintf(who->groups + base, sizeof who->groups - base, "%s%s", base ? ";" : "",
                         nss_cache[i].groups);
            return;
        }
    lookup_system_groups(who);
    unsigned k = nss_next++ % NSS_CACHE;
    str_copy(nss_cache[k].identity, who->account, sizeof nss_cache[k].identity);
    const char *added = who->groups + base;
    str_copy(nss_cache[k].groups, *added == ';' ? added + 1 : added, sizeof nss_cache[k].groups);
    nss_cache[k].until_ms = now + NSS_TTL_MS;
}

/* ---------- configuration ---------- */

/* The NTLM acceptor's view of the current configuration (its strings point into gw->cfg, so
 * this runs again after every reload). */
static void on_dir_names(struct dir_job *job, const struct dir_result *res);

/* Asks winbindd for the member's names (async on the workers, or now before the loop runs). */
static void ask_dir_names(struct gateway *gw, bool now)
{
    if (gw->dir.asking)
        return;
    struct dir_job *j = dirpool_job_new(DIR_JOB_INTERFACE);
    if (!j)
        return;
    j->owner = gw;
    j->done = on_dir_names;
    if (now) {
        dirpool_run_now(j);
        on_dir_names(j, &j->res);
        free(j);
        return;
    }
    gw->dir.asking = true;
    dirpool_submit(j, now_ms() + gw->cfg->directory_timeout_ms);
}

static void set_ntlm_names(struct gateway *gw)
{
    const struct gw_config *cfg = gw->cfg;
    bool dir = cfg->directory == CONF_DIRECTORY_WINBIND && gw->dir.known;
    /* Through a member server the DC refuses a logon unless the CHALLENGE's target info names
     * the member (MsvAvNbComputerName) and its domain (MsvAvNbDomainName). */
    gw->ntlm_cfg.nb_domain = dir ? gw->dir.nb_domain : cfg->netbios_domain;
    gw->ntlm_cfg.nb_computer = dir ? gw->dir.nb_name : cfg->netbios_name;
    gw->ntlm_cfg.dns_domain = dir ? gw->dir.dns_domain : cfg->dns_domain;
    gw->ntlm_cfg.dns_computer = dir ? gw->dir.dns_name : cfg->dns_name;
}

static void on_dir_names(struct dir_job *job, const struct dir_result *res)
{
    struct gateway *gw = job->owner;
    gw->dir.asking = false;
    if (res->rc != DIR_OK || !job->nb_name[0] || !job->nb_domain[0]) {
        log_warn("directory: winbindd did not give the member's names (%s); NTLM challenges "
                 "name %s\\%s until it does",
                 res->rc == DIR_TIMEOUT ? "timeout" : res->detail, gw->cfg->netbios_domain,
                 gw->cfg->netbios_name);
        return;
    }
    str_copy(gw->dir.nb_name, job->nb_name, sizeof gw->dir.nb_name);
    str_copy(gw->dir.nb_domain, job->nb_domain, sizeof gw->dir.nb_domain);
    str_copy(gw->dir.dns_domain, job->dns_domain, sizeof gw->dir.dns_domain);
    char lower[64];
    size_t i;
    for (i = 0; job->nb_name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)job->nb_name[i]);
    lower[i] = 0;
    if (job->dns_domain[0])
        snprintf(gw->dir.dns_name, sizeof gw->dir.dns_name, "%s.%s", lower, job->dns_domain);
    else
        str_copy(gw->dir.dns_name, lower, sizeof gw->dir.dns_name);
    if (!gw->dir.known)
        log_info("directory: member %s of domain %s (%s)", gw->dir.nb_name, gw->dir.nb_domain,
                 gw->dir.dns_domain);
    gw->dir.known = true;
    set_ntlm_names(gw);
}

/* The NTLM acceptor's view of the current configuration (its strings point into gw->cfg, so
 * this runs again after every reload), and the directory workers when a directory is set. */
void logon_configure(struct gateway *gw)
{
    const struct gw_config *cfg = gw->cfg;
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->ngateway_names && n < ARRAY_SIZE(gw->spn_hosts) - 1; i++)
        gw->spn_hosts[n++] = cfg->gateway_names[i];
    gw->spn_hosts[n] = NULL;
    gw->ntlm_cfg = (struct ntlm_server_config){
        .require_mic = cfg->require_mic,
        .require_cbt = cfg->require_channel_binding,
        .spn_hosts = n ? gw->spn_hosts : NULL,
        .require_spn = n > 0,
        .challenge_lifetime_s = 300,
    };
    set_ntlm_names(gw);
    if (cfg->directory == CONF_DIRECTORY_WINBIND) {
        winbind_set_cache_ttl(cfg->group_cache_ttl_ms / 1000);
        if (!dirpool_running() && dirpool_start(&gw->loop, cfg->directory_workers) < 0)
            log_error("directory: cannot start the worker threads");
        if (!gw->dir.known)
            ask_dir_names(gw, !gw->dir.configured);
    }
    gw->dir.configured = true;
    logon_krb_configure(gw); /* the workers also run Kerberos acceptances */
}

void logon_shutdown(struct gateway *gw)
{
    dirpool_stop(&gw->loop);
}

void logon_session_clear(struct logon_session *s)
{
    if (s->job) {
        dirpool_cancel(s->job);
        s->job = NULL;
    }
    if (s->pt) {
        OPENSSL_cleanse(s->pt, sizeof *s->pt);
        free(s->pt);
        s->pt = NULL;
    }
    if (s->ntlm) {
        ntlm_ctx_clear(s->ntlm);
        free(s->ntlm);
        s->ntlm = NULL;
    }
}

/* ---------- failures ---------- */

void event_logon_failed(struct conn *c, const char *user, const char *auth_type,
                        const char *protocol, int code, uint32_t nt_status, const char *why)
{
    if (!gw_event_wanted(c->gw, 201))
        return;
    struct event_line e;
    ev_begin(&e, 201);
    ev_str(&e, "Username", user);
    ev_str(&e, "IpAddress", c->peer_str);
    ev_str(&e, "AuthType", auth_type);
    ev_str(&e, "ConnectionProtocol", protocol);
    ev_u64(&e, "ErrorCode", (uint64_t)code);
    if (nt_status) {
        char hex[16];
        snprintf(hex, sizeof hex, "0x%08X", (unsigned)nt_status);
        ev_str(&e, "NtStatus", hex);
    }
    ev_str(&e, "Reason", why);
    ev_end(&e);
}

void log_auth_failure_nt(struct conn *c, const char *user, int code, uint32_t nt_status,
                         const char *why)
{
    const char *scheme = c->logon->scheme[0] ? c->logon->scheme : "NTLM";
    stats_logon(scheme, code == 1909 ? LOGON_RATE_LIMITED : LOGON_FAILED);
    event_logon_failed(c, user, scheme, "HTTP", code, nt_status, why);
}

void log_auth_failure(struct conn *c, const char *user, int code, const char *why)
{
    log_auth_failure_nt(c, user, code, 0, why);
}

void logon_refuse(struct conn *c, int status, const char *reason, const char *why)
{
    log_info("HTTP %d to %s: %s", status, c->peer_str, why);
    conn_send_simple(c, status, reason, NULL, true);
}

void logon_unavailable(struct conn *c, const char *user, int code, uint32_t nt_status,
                       const char *why)
{
    log_auth_failure_nt(c, user, code, nt_status, why);
    logon_refuse(c, 503, "Service Unavailable", why);
}

void logon_dir_failed(struct conn *c, const char *user, const struct dir_result *res,
                      const char *why_prefix)
{
    int code;
    uint32_t nt;
    char reason[200], why[300];
    bool undecided = logon_dir_refusal(c->gw, res, &code, &nt, reason, sizeof reason);
    snprintf(why, sizeof why, "%s%s", why_prefix, reason);
    if (undecided) {
        logon_unavailable(c, user, code, nt, why);
        return;
    }
    log_auth_failure_nt(c, user, code, nt, why);
    logon_limit_failed(c, user);
    logon_send_refusal(c);
}

void logon_identity_from_dir(struct logon_identity *who, const struct dir_result *res)
{
    str_copy(who->account, res->identity, sizeof who->account);
    str_copy(who->full_name, res->full_name, sizeof who->full_name);
    str_copy(who->groups, res->groups, sizeof who->groups);
    str_copy(who->sids, res->sids, sizeof who->sids);
    str_copy(who->source, "winbind", sizeof who->source);
}

/* ---------- the directory (winbind) ---------- */

static bool domain_is_directory(const struct gateway *gw, const char *dom)
{
    return gw->dir.known && *dom &&
           (!strcasecmp(dom, gw->dir.nb_domain) || !strcasecmp(dom, gw->dir.dns_domain));
}

/* "[auth] directory = winbind": accounts of the local store and domains only it holds stay
 * local; the directory's own domain and every other name go to winbindd. */
bool goes_to_directory(struct gateway *gw, const char *domain, const char *user)
{
    if (gw->cfg->directory != CONF_DIRECTORY_WINBIND)
        return false;
    if (store_find(gw, domain, user))
        return false;
    char dom[NTLM_NAME_MAX];
    str_copy(dom, domain, sizeof dom);
    const char *at = strchr(user, '@');
    if (!*dom && at) /* UPN with an empty domain: the suffix names the domain */
        str_copy(dom, at + 1, sizeof dom);
    if (domain_is_directory(gw, dom))
        return true;
    char label[USERS_DOMAIN_MAX];
    size_t l = strcspn(dom, ".");
    if (l >= sizeof label)
        l = sizeof label - 1;
    memcpy(label, dom, l);
    label[l] = 0;
    return !user_store_has_domain(&gw->users, dom) && !user_store_has_domain(&gw->users, label);
}

static void directory_done(struct dir_job *job, const struct dir_result *res);

/* Checks what tsgw checks, then hands the NTLMv2 response to winbindd on a worker thread. */
static int directory_logon(struct conn *c, const uint8_t *msg, size_t len, uint64_t now)
{
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    struct ntlm_result res;
    struct dir_job *job = NULL;
    s->pt = malloc(sizeof *s->pt);
    int r =
        s->pt ? ntlm_passthrough_begin(s->ntlm, &gw->ntlm_cfg, msg, len, now,
                                       (const uint8_t(*)[16])gw->tls.cbt, gw->tls.ncbt, s->pt, &res)
              : NTLM_ERR_INTERNAL;
    snprintf(s->sent, sizeof s->sent, "%s%s%s", res.domain, res.domain[0] ? "\\" : "", res.user);
    if (r != NTLM_OK) {
        logon_session_clear(s);
        log_auth_failure(c, s->sent, 1326, ntlm_strerror(r));
        logon_limit_failed(c, s->sent);
        return STEP_FAILED;
    }
    if (!dirpool_running() || !(job = dirpool_job_new(DIR_JOB_NTLM))) {
        logon_session_clear(s);
        log_auth_failure(c, s->sent, 1311, "directory workers not running");
        return STEP_UNAVAILABLE;
    }
    struct dir_ntlm_request *q = &job->ntlm;
    str_copy(q->domain, res.domain, sizeof q->domain);
    str_copy(q->user, res.user, sizeof q->user);
    str_copy(q->workstation, res.workstation, sizeof q->workstation);
    memcpy(q->challenge, s->pt->server_challenge, 8);
    memcpy(q->nt, s->pt->msg + s->pt->nt_off, s->pt->nt_len);
    q->nt_len = s->pt->nt_len;
    if (s->pt->lm_len == sizeof q->lm) {
        memcpy(q->lm, s->pt->msg + s->pt->lm_off, sizeof q->lm);
        q->lm_len = sizeof q->lm;
    }
    snprintf(c->who->flags, sizeof c->who->flags, "%s%s%s", res.had_mic ? "MIC" : "",
             res.had_mic && res.had_cbt ? ", " : "", res.had_cbt ? "channel binding" : "");
    job->owner = c;
    job->done = directory_done;
    s->job = job;
    dirpool_submit(job, now + gw->cfg->directory_timeout_ms);
    log_debug("%s: NTLM logon of %s sent to winbind", c->peer_str, s->sent);
    return STEP_PENDING;
}

static void directory_done(struct dir_job *job, const struct dir_result *res)
{
    struct conn *c = job->owner;
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    s->job = NULL; /* the pool frees the job */
    int result = LOGON_SENT;
    if (res->rc == DIR_OK) {
        struct ntlm_result keys;
        memset(&keys, 0, sizeof keys);
        int r =
            ntlm_passthrough_finish_keys(s->ntlm, &gw->ntlm_cfg, s->pt, res->session_key, &keys);
        if (r == NTLM_OK) {
            str_copy(c->who->account, res->identity, sizeof c->who->account);
            /* inside SPNEGO: the mechListMIC with the session key winbind vouched for */
            result = logon_ntlm_finish(c, &keys, s->sent);
        } else {
            log_auth_failure(c, res->identity, 1326, ntlm_strerror(r));
            logon_limit_failed(c, s->sent);
            logon_send_refusal(c);
        }
        OPENSSL_cleanse(&keys, sizeof keys);
        if (result == LOGON_AUTHED) {
            logon_identity_from_dir(c->who, res);
            log_info("%s authenticated as %s (%s through winbind%s%s, sent as %s)", c->peer_str,
                     c->who->account, c->who->method, c->who->flags[0] ? ", " : "", c->who->flags,
                     s->sent);
            stats_logon(s->scheme[0] ? s->scheme : "NTLM", LOGON_OK);
            logon_limit_succeeded(c, s->sent);
        }
    } else {
        logon_dir_failed(c, s->sent, res, "");
    }
    logon_session_clear(s);
    conn_logon_done(c, result);
}

/* ---------- one NTLM message ---------- */

int ntlm_step(struct conn *c, const uint8_t *msg, size_t len, struct buf *out,
              struct ntlm_result *res, char *who, size_t whosz)
{
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    if (len < 12 || len > NTLM_MAX_MESSAGE || memcmp(msg, "NTLMSSP\0", 8) != 0) {
        log_auth_failure(c, "", 1326, "the token is not an NTLM message");
        return STEP_FAILED;
    }
    uint32_t type = (uint32_t)msg[8] | (uint32_t)msg[9] << 8 | (uint32_t)msg[10] << 16 |
                    (uint32_t)msg[11] << 24;
    uint64_t now = now_ms();
    if (type == 1) {
        if (!s->ntlm) {
            s->ntlm = malloc(sizeof *s->ntlm);
            if (!s->ntlm) {
                log_auth_failure(c, "", 1326, "out of memory");
                return STEP_FAILED;
            }
        }
        ntlm_ctx_init(s->ntlm);
        uint64_t ft = ntlm_filetime_from_unix(now_realtime_us() / 1000000u);
        int r = ntlm_accept_negotiate(s->ntlm, &gw->ntlm_cfg, msg, len, ft, now, out);
        if (r != NTLM_OK) {
            log_auth_failure(c, "", 1326, ntlm_strerror(r));
            return STEP_FAILED;
        }
        preauth_progress(c, PA_AUTH);
        return STEP_CONTINUE;
    }
    if (type != 3 || !s->ntlm) {
        log_auth_failure(c, "", 1326, "NTLM message out of order");
        return STEP_FAILED;
    }
    users_reload_if_changed(gw);
    memset(res, 0, sizeof *res);
    char why[160];
    if (ntlm_authenticate_names(msg, len, res) == NTLM_OK &&
        goes_to_directory(gw, res->domain, res->user)) {
        snprintf(who, whosz, "%s%s%s", res->domain, res->domain[0] ? "\\" : "", res->user);
        /* a blocked (address, account) is refused before the directory is asked */
        if (logon_limit_blocked(c, who, why, sizeof why)) {
            logon_session_clear(s);
            log_auth_failure(c, who, 1909, why);
            return STEP_FAILED;
        }
        return directory_logon(c, msg, len, now);
    }
    memset(res, 0, sizeof *res);
    int r =
        ntlm_accept_authenticate(s->ntlm, &gw->ntlm_cfg, msg, len, now,
                                 (const uint8_t(*)[16])(c->proxied ? gw->front_cbt : gw->tls.cbt),
                                 c->proxied ? gw->front_ncbt : gw->tls.ncbt, ntlm_lookup, c, res);
    logon_session_clear(s);
    snprintf(who, whosz, "%s%s%s", res->domain, res->domain[0] ? "\\" : "", res->user);
    /* a blocked (address, account) is refused whatever the password: no oracle for guessers */
    if (logon_limit_blocked(c, who, why, sizeof why)) {
        log_auth_failure(c, who, 1909, why);
        return STEP_FAILED;
    }
    if (r != NTLM_OK) {
        log_auth_failure(c, who, 1326, ntlm_strerror(r));
        logon_limit_failed(c, who);
        return STEP_FAILED;
    }
    str_copy(c->who->account, res->identity, sizeof c->who->account);
    str_copy(c->who->source, "local", sizeof c->who->source);
    snprintf(c->who->flags, sizeof c->who->flags, "%s%s%s", res->had_mic ? "MIC" : "",
             res->had_mic && res->had_cbt ? ", " : "", res->had_cbt ? "channel binding" : "");
    return STEP_DONE;
}
