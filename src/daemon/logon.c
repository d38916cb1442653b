/* The HTTP logon of gateway requests (see logon.h): the Authorization header, the NTLM rounds,
 * the account sources and the logon failure event (201). */
#include "daemon/logon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/ops.h"

#define MAX_AUTH_ROUNDS 4

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
static const struct user_entry *store_find(struct gateway *gw, const char *domain, const char *user)
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
    str_copy(c->who.full_name, u->full_name, sizeof c->who.full_name);
    str_copy(c->who.groups, u->groups, sizeof c->who.groups);
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

static void add_system_groups(struct logon_identity *who)
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
void logon_configure(struct gateway *gw)
{
    const struct gw_config *cfg = gw->cfg;
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->ngateway_names && n < ARRAY_SIZE(gw->spn_hosts) - 1; i++)
        gw->spn_hosts[n++] = cfg->gateway_names[i];
    gw->spn_hosts[n] = NULL;
    gw->ntlm_cfg = (struct ntlm_server_config){
        .nb_domain = cfg->netbios_domain,
        .nb_computer = cfg->netbios_name,
        .dns_domain = cfg->dns_domain,
        .dns_computer = cfg->dns_name,
        .require_mic = cfg->require_mic,
        .require_cbt = cfg->require_channel_binding,
        .spn_hosts = n ? gw->spn_hosts : NULL,
        .require_spn = n > 0,
        .challenge_lifetime_s = 300,
    };
}

void logon_session_clear(struct logon_session *s)
{
    if (s->ntlm) {
        ntlm_ctx_clear(s->ntlm);
        free(s->ntlm);
        s->ntlm = NULL;
    }
}

/* ---------- the HTTP exchange ---------- */

static void log_auth_failure(struct conn *c, const char *user, int code, const char *why)
{
    stats_logon(c->logon.scheme, code == 1909 ? LOGON_RATE_LIMITED : LOGON_FAILED);
    if (!gw_event_wanted(c->gw, 201))
        return;
    struct event_line e;
    ev_begin(&e, 201);
    ev_str(&e, "Username", user);
    ev_str(&e, "IpAddress", c->peer_str);
    ev_str(&e, "AuthType", "NTLM");
    ev_str(&e, "ConnectionProtocol", "HTTP");
    ev_u64(&e, "ErrorCode", (uint64_t)code);
    ev_str(&e, "Reason", why);
    ev_end(&e);
}

static void refuse(struct conn *c, int status, const char *reason, const char *why)
{
    log_info("HTTP %d to %s: %s", status, c->peer_str, why);
    conn_send_simple(c, status, reason, NULL, true);
}

int logon_http(struct conn *c, const struct http_request *req)
{
    struct gateway *gw = c->gw;
    struct logon_session *s = &c->logon;
    if (http_request_header(req, "RDG-Auth-Scheme")) {
        log_auth_failure(c, "", 1326, "RDG-Auth-Scheme (PAA/SSPI_NTLM) is not supported");
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
        return 0;
    }
    const char *authz = http_request_header(req, "Authorization");
    char scheme[16] = "";
    const char *tok = NULL;
    if (authz) {
        const char *sp = strchr(authz, ' ');
        size_t sl = sp ? (size_t)(sp - authz) : strlen(authz);
        if (sl < sizeof scheme) {
            memcpy(scheme, authz, sl);
            scheme[sl] = 0;
        }
        tok = sp ? sp + 1 : "";
        while (*tok == ' ')
            tok++;
    }
    if (!authz || (!str_ieq(scheme, "NTLM") && !str_ieq(scheme, "Negotiate")) || !*tok) {
        if (++s->rounds > MAX_AUTH_ROUNDS) {
            refuse(c, 401, "Unauthorized", "too many authentication rounds");
            return 0;
        }
        /* Only NTLM is offered: a raw NTLM token is also accepted under "Negotiate" (what
         * Windows clients send when Kerberos is impossible), but SPNEGO is not implemented. */
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", false);
        return 0;
    }
    size_t tlen = strlen(tok);
    uint8_t msg[NTLM_MAX_MESSAGE];
    int mlen =
        tlen > (NTLM_MAX_MESSAGE / 3) * 4 + 4 ? -1 : base64_decode(tok, tlen, msg, sizeof msg);
    if (mlen < 12 || memcmp(msg, "NTLMSSP\0", 8) != 0) {
        log_auth_failure(c, "", 1326, "authorization token is not a raw NTLM message");
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
        return 0;
    }
    uint32_t type = (uint32_t)msg[8] | (uint32_t)msg[9] << 8 | (uint32_t)msg[10] << 16 |
                    (uint32_t)msg[11] << 24;
    if (gw_auth_blocked(gw, c->peer_str)) {
        log_auth_failure(c, "", 1909, "too many failed logons from this address: rate limited");
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
        return 0;
    }
    str_copy(s->scheme, str_ieq(scheme, "Negotiate") ? "Negotiate" : "NTLM", sizeof s->scheme);
    uint64_t now = now_ms();
    if (type == 1) {
        if (++s->rounds > MAX_AUTH_ROUNDS) {
            refuse(c, 401, "Unauthorized", "too many authentication rounds");
            return 0;
        }
        if (!s->ntlm) {
            s->ntlm = malloc(sizeof *s->ntlm);
            if (!s->ntlm) {
                refuse(c, 503, "Service Unavailable", "out of memory");
                return 0;
            }
        }
        ntlm_ctx_init(s->ntlm);
        struct buf ch = BUF_INIT;
        uint64_t ft = ntlm_filetime_from_unix(now_realtime_us() / 1000000u);
        int r = ntlm_accept_negotiate(s->ntlm, &gw->ntlm_cfg, msg, (size_t)mlen, ft, now, &ch);
        if (r != NTLM_OK) {
            buf_free(&ch);
            log_auth_failure(c, "", 1326, ntlm_strerror(r));
            conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
            return 0;
        }
        char b64[2048];
        base64_encode(buf_data(&ch), buf_len(&ch), b64, sizeof b64);
        buf_free(&ch);
        buf_printf(&c->out,
                   "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: %s %s\r\nContent-Length: "
                   "0\r\n\r\n",
                   s->scheme, b64);
        preauth_progress(c, PA_AUTH);
        conn_flush(c);
        return 0;
    }
    if (type != 3 || !s->ntlm) {
        log_auth_failure(c, "", 1326, "NTLM message out of order");
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
        return 0;
    }
    users_reload_if_changed(gw);
    struct ntlm_result res;
    memset(&res, 0, sizeof res);
    int r = ntlm_accept_authenticate(s->ntlm, &gw->ntlm_cfg, msg, (size_t)mlen, now,
                                     (const uint8_t(*)[16])gw->tls.cbt, gw->tls.ncbt, ntlm_lookup,
                                     c, &res);
    logon_session_clear(s);
    OPENSSL_cleanse(msg, sizeof msg);
    if (r != NTLM_OK) {
        char who[2 * NTLM_NAME_MAX + 2];
        snprintf(who, sizeof who, "%s\\%s", res.domain, res.user);
        log_auth_failure(c, who, 1326, ntlm_strerror(r));
        gw_auth_failed(gw, c->peer_str);
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: NTLM\r\n", true);
        return 0;
    }
    str_copy(c->who.account, res.identity, sizeof c->who.account);
    str_copy(c->who.method, "NTLM", sizeof c->who.method);
    stats_logon(c->logon.scheme[0] ? c->logon.scheme : "NTLM", LOGON_OK);
    add_system_groups(&c->who);
    log_info("%s authenticated as %s (NTLM%s%s, workstation \"%s\")", c->peer_str, c->who.account,
             res.had_mic ? ", MIC" : "", res.had_cbt ? ", channel binding" : "", res.workstation);
    return 1;
}
