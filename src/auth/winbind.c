/* Domain logons through winbindd (see winbind.h). Blocking: worker threads only. */
#include "auth/winbind.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include <wbclient.h>

#include <openssl/crypto.h>

#include "auth/ntstatus.h"
#include "core/util.h"

struct winbind_ctx {
    struct wbcContext *wbc;
};

struct winbind_ctx *winbind_ctx_new(void)
{
    struct winbind_ctx *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->wbc = wbcCtxCreate();
    if (!w->wbc) {
        free(w);
        return NULL;
    }
    return w;
}

void winbind_ctx_free(struct winbind_ctx *w)
{
    if (!w)
        return;
    wbcCtxFree(w->wbc);
    free(w);
}

static void set_detail(char *d, size_t dsz, const char *what, wbcErr e)
{
    snprintf(d, dsz, "%s: %s", what, wbcErrorString(e));
}

int winbind_interface(struct winbind_ctx *w, char *nb_name, size_t nsz, char *nb_domain, size_t dsz,
                      char *dns_domain, size_t dnsz, char *detail, size_t detsz)
{
    struct wbcInterfaceDetails *d = NULL;
    wbcErr e = wbcCtxInterfaceDetails(w->wbc, &d);
    if (!WBC_ERROR_IS_OK(e) || !d) {
        set_detail(detail, detsz, "wbcInterfaceDetails", e);
        return -1;
    }
    str_copy(nb_name, d->netbios_name ? d->netbios_name : "", nsz);
    str_copy(nb_domain, d->netbios_domain ? d->netbios_domain : "", dsz);
    str_copy(dns_domain, d->dns_domain ? d->dns_domain : "", dnsz);
    wbcFreeMemory(d);
    return 0;
}

/* ---- SID -> "DOMAIN\name", cached ---- */

#define CACHE_SLOTS 512
static struct {
    char sid[WBC_SID_STRING_BUFLEN];
    char name[2 * DIR_NAME_MAX]; /* "" = the SID has no name */
    time_t until;
} cache[CACHE_SLOTS];
static unsigned cache_next;
static unsigned cache_ttl = 300;
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

void winbind_set_cache_ttl(unsigned ttl_s)
{
    pthread_mutex_lock(&cache_mu);
    cache_ttl = ttl_s;
    memset(cache, 0, sizeof cache);
    pthread_mutex_unlock(&cache_mu);
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static bool cache_get(const char *sid, char *name, size_t nsz)
{
    bool hit = false;
    time_t now = mono_s();
    pthread_mutex_lock(&cache_mu);
    for (unsigned i = 0; i < CACHE_SLOTS && !hit; i++)
        if (cache[i].until > now && !strcmp(cache[i].sid, sid)) {
            str_copy(name, cache[i].name, nsz);
            hit = true;
        }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

static void cache_put(const char *sid, const char *name)
{
    pthread_mutex_lock(&cache_mu);
    if (cache_ttl) {
        unsigned k = cache_next++ % CACHE_SLOTS;
        str_copy(cache[k].sid, sid, sizeof cache[k].sid);
        str_copy(cache[k].name, name, sizeof cache[k].name);
        cache[k].until = mono_s() + (time_t)cache_ttl;
    }
    pthread_mutex_unlock(&cache_mu);
}

/* The name of a group SID. winbind's reverse lookups may echo the DNS spelling of the domain
 * used by an earlier lookup ("CONTOSO.TEST\RDG Users"): the logon's NetBIOS domain replaces it. */
static void sid_name(struct winbind_ctx *w, const struct wbcDomainSid *sid, const char *sidstr,
                     const char *nb_domain, const char *dns_domain, char *out, size_t osz)
{
    out[0] = 0;
    if (cache_get(sidstr, out, osz))
        return;
    char *dom = NULL, *name = NULL;
    enum wbcSidType type;
    wbcErr e = wbcCtxLookupSid(w->wbc, sid, &dom, &name, &type);
    if (WBC_ERROR_IS_OK(e) && name && *name) {
        const char *d = dom ? dom : "";
        if (dns_domain && *dns_domain && !strcasecmp(d, dns_domain))
            d = nb_domain;
        if (*d)
            snprintf(out, osz, "%s\\%s", d, name);
        else
            str_copy(out, name, osz);
        cache_put(sidstr, out);
    } else if (e == WBC_ERR_DOMAIN_NOT_FOUND || e == WBC_ERR_INVALID_SID) {
        cache_put(sidstr, ""); /* a SID without a name (S-1-18-1, ...) */
    }
    wbcFreeMemory(dom);
    wbcFreeMemory(name);
}

static void list_add(char *list, size_t sz, const char *item)
{
    size_t len = strlen(list);
    if (len + (len ? 1 : 0) + strlen(item) + 1 > sz)
        return; /* full: later groups are dropped (never cut in the middle) */
    snprintf(list + len, sz - len, "%s%s", len ? ";" : "", item);
}

static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncasecmp(p, item, n))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static void fill_identity(struct winbind_ctx *w, const struct wbcAuthUserInfo *info,
                          struct dir_result *res)
{
    const char *dom = info->domain_name ? info->domain_name : "";
    const char *acct = info->account_name ? info->account_name : "";
    snprintf(res->identity, sizeof res->identity, "%s%s%s", dom, *dom ? "\\" : "", acct);
    str_copy(res->full_name, info->full_name ? info->full_name : "", sizeof res->full_name);
    str_copy(res->upn, info->user_principal ? info->user_principal : "", sizeof res->upn);
    res->acct_flags = info->acct_flags;
    for (uint32_t i = 0; i < info->num_sids && i < 1024; i++) {
        char s[WBC_SID_STRING_BUFLEN];
        if (wbcSidToStringBuf(&info->sids[i].sid, s, sizeof s) <= 0)
            continue;
        if (list_has(res->sids, s))
            continue; /* the primary group comes twice */
        list_add(res->sids, sizeof res->sids, s);
        if (i == 0)
            continue; /* the account itself */
        char name[2 * DIR_NAME_MAX];
        sid_name(w, &info->sids[i].sid, s, dom, info->dns_domain_name, name, sizeof name);
        if (*name && !list_has(res->groups, name))
            list_add(res->groups, sizeof res->groups, name);
    }
}

static void bad_request(struct dir_result *res, const char *why)
{
    res->rc = DIR_ERROR;
    str_copy(res->detail, why, sizeof res->detail);
}

/* One wbcAuthenticateUserEx call (what names it in res->detail) and its answer in res. */
static void authenticate(struct winbind_ctx *w, const struct wbcAuthUserParams *p, const char *what,
                         struct dir_result *res)
{
    struct wbcAuthUserInfo *info = NULL;
    struct wbcAuthErrorInfo *err = NULL;
    wbcErr e = wbcCtxAuthenticateUserEx(w->wbc, p, &info, &err);
    if (WBC_ERROR_IS_OK(e) && info) {
        res->rc = DIR_OK;
        memcpy(res->session_key, info->user_session_key, 16);
        fill_identity(w, info, res);
    } else if (e == WBC_ERR_AUTH_ERROR && err) {
        res->nt_status = err->nt_status;
        res->rc = ntstatus_unavailable(err->nt_status) ? DIR_UNAVAILABLE : DIR_DENIED;
        snprintf(res->detail, sizeof res->detail, "%s", err->nt_string ? err->nt_string : "");
    } else {
        /* WBC_ERR_WINBIND_NOT_AVAILABLE also when the privileged pipe is closed to us */
        res->rc = (e == WBC_ERR_WINBIND_NOT_AVAILABLE || e == WBC_ERR_DOMAIN_NOT_FOUND ||
                   e == WBC_ERR_UNKNOWN_FAILURE)
                      ? DIR_UNAVAILABLE
                      : DIR_ERROR;
        set_detail(res->detail, sizeof res->detail, what, e);
    }
    if (info) {
        OPENSSL_cleanse(info->user_session_key, sizeof info->user_session_key);
        OPENSSL_cleanse(info->lm_session_key, sizeof info->lm_session_key);
    }
    wbcFreeMemory(info);
    wbcFreeMemory(err);
}

void winbind_ntlm_logon(struct winbind_ctx *w, const struct dir_ntlm_request *req,
                        struct dir_result *res)
{
    memset(res, 0, sizeof *res);
    if (!w || req->nt_len == 0 || req->nt_len > sizeof req->nt || req->lm_len > sizeof req->lm) {
        bad_request(res, "bad request");
        return;
    }
    static const uint8_t zero24[24];
    struct wbcAuthUserParams p;
    memset(&p, 0, sizeof p);
    p.account_name = req->user;
    p.domain_name = req->domain;
    p.workstation_name = req->workstation;
    p.level = WBC_AUTH_USER_LEVEL_RESPONSE;
    memcpy(p.password.response.challenge, req->challenge, 8);
    p.password.response.nt_length = (uint32_t)req->nt_len;
    p.password.response.nt_data = (uint8_t *)req->nt;
    /* an NTLMv2 client sends 24 zero bytes or an LMv2 response: neither is verified */
    p.password.response.lm_length = 24;
    p.password.response.lm_data = (uint8_t *)(req->lm_len == 24 ? req->lm : zero24);
    authenticate(w, &p, "wbcAuthenticateUserEx", res);
}

void winbind_pac_logon(struct winbind_ctx *w, const uint8_t *pac, size_t len,
                       struct dir_result *res)
{
    memset(res, 0, sizeof *res);
    if (!w || !pac || len == 0 || len > 65536) {
        bad_request(res, "bad PAC");
        return;
    }
    struct wbcAuthUserParams p;
    memset(&p, 0, sizeof p);
    p.level = WBC_AUTH_USER_LEVEL_PAC;
    p.password.pac.data = (uint8_t *)pac;
    p.password.pac.length = len;
    authenticate(w, &p, "wbcAuthenticateUserEx(PAC)", res);
}

void winbind_plain_logon(struct winbind_ctx *w, const char *domain, const char *user,
                         const char *password, struct dir_result *res)
{
    memset(res, 0, sizeof *res);
    if (!w || !user || !*user || !password) {
        bad_request(res, "bad request");
        return;
    }
    struct wbcAuthUserParams p;
    memset(&p, 0, sizeof p);
    p.account_name = user;
    p.domain_name = domain && *domain ? domain : NULL; /* "alice@contoso.test" alone: a UPN */
    p.level = WBC_AUTH_USER_LEVEL_PLAIN;
    p.password.plaintext = password;
    authenticate(w, &p, "wbcAuthenticateUserEx(plaintext)", res);
    memset(res->session_key, 0, sizeof res->session_key); /* not used: no NTLM exchange */
}
