/* Typed passwords checked by the domain (see logon_password.h). */
#include "daemon/logon_password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/ntstatus.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/dirpool.h"
#include "daemon/gateway.h"
#include "daemon/logon.h"
#include "daemon/logon_int.h"
#include "daemon/logon_limit.h"
#include "daemon/ops.h"

int logon_password_split(const struct gateway *gw, const char *account, char *dom, size_t dsz,
                         char *user, size_t usz)
{
    const char *bs = strchr(account, '\\');
    if (bs) {
        size_t dl = (size_t)(bs - account);
        if (dl == 0 || dl >= dsz || !bs[1] || strlen(bs + 1) >= usz)
            return -1;
        memcpy(dom, account, dl);
        dom[dl] = 0;
        str_copy(user, bs + 1, usz);
        return 0;
    }
    if (!*account || strlen(account) >= usz)
        return -1;
    str_copy(user, account, usz);
    if (strchr(account, '@'))
        dom[0] = 0; /* a UPN: its suffix names the domain */
    else if (strlen(gw->cfg->netbios_domain) < dsz)
        str_copy(dom, gw->cfg->netbios_domain, dsz);
    else
        return -1;
    return 0;
}

bool logon_password_for_directory(struct gateway *gw, const char *dom, const char *user)
{
    users_reload_if_changed(gw);
    return goes_to_directory(gw, dom, user);
}

static void job_done(struct dir_job *job, const struct dir_result *res)
{
    struct conn *c = job->owner;
    void (*done)(struct conn *, const struct dir_result *) =
        (void (*)(struct conn *, const struct dir_result *))job->then;
    c->logon->job = NULL; /* the pool frees the job */
    done(c, res);
}

int logon_password_start(struct conn *c, const char *dom, const char *user, const char *password,
                         void (*done)(struct conn *c, const struct dir_result *res))
{
    struct dir_job *job;
    if (c->logon->job || !dirpool_running() || !(job = dirpool_job_new(DIR_JOB_PLAIN)))
        return -1;
    if (strlen(password) >= sizeof job->plain.password) {
        free(job);
        return -1;
    }
    str_copy(job->plain.domain, dom, sizeof job->plain.domain);
    str_copy(job->plain.user, user, sizeof job->plain.user);
    str_copy(job->plain.password, password, sizeof job->plain.password);
    job->owner = c;
    job->then = (void (*)(void))done;
    job->done = job_done;
    c->logon->job = job;
    dirpool_submit(job, now_ms() + c->gw->cfg->directory_timeout_ms);
    log_debug("%s: password of %s%s%s sent to winbind", c->peer_str, dom, *dom ? "\\" : "", user);
    return 0;
}

bool logon_password_pending(const struct conn *c)
{
    return c->logon && c->logon->job;
}

bool logon_dir_refusal(const struct gateway *gw, const struct dir_result *res, int *code,
                       uint32_t *nt_status, char *why, size_t whysz)
{
    char buf[128];
    *nt_status = res->nt_status;
    if (res->rc == DIR_DENIED) {
        *code = (int)ntstatus_win32(res->nt_status);
        snprintf(why, whysz, "%s", ntstatus_describe(res->nt_status, buf, sizeof buf));
        return false;
    }
    *code = 1311;
    if (res->rc == DIR_TIMEOUT)
        snprintf(why, whysz, "domain controller did not answer within %u ms",
                 (unsigned)gw->cfg->directory_timeout_ms);
    else if (res->nt_status)
        snprintf(why, whysz, "directory unavailable: %s",
                 ntstatus_describe(res->nt_status, buf, sizeof buf));
    else
        snprintf(why, whysz, "directory unavailable: %s", res->detail);
    return true;
}

static bool group_eq(const char *want, size_t wl, const char *have, size_t hl)
{
    if (wl == hl && !strncasecmp(want, have, wl))
        return true;
    const char *w = memchr(want, '\\', wl), *h = memchr(have, '\\', hl);
    if ((w != NULL) == (h != NULL))
        return false;
    /* "BUILTIN\Administrators" also matches a bare "Administrators", and the reverse */
    const char *a = w ? w + 1 : want, *b = h ? h + 1 : have;
    size_t al = wl - (size_t)(a - want), bl = hl - (size_t)(b - have);
    return al == bl && !strncasecmp(a, b, al);
}

static void trim(const char **p, size_t *l)
{
    while (*l && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*l)--;
    }
    while (*l && ((*p)[*l - 1] == ' ' || (*p)[*l - 1] == '\t'))
        (*l)--;
}

bool logon_groups_match(const char *want, const char *groups)
{
    for (const char *w = want; *w;) {
        size_t wl = strcspn(w, ";");
        const char *wp = w;
        size_t wn = wl;
        trim(&wp, &wn);
        for (const char *g = groups; wn && *g;) {
            size_t gl = strcspn(g, ";");
            const char *gp = g;
            size_t gn = gl;
            trim(&gp, &gn);
            if (gn && group_eq(wp, wn, gp, gn))
                return true;
            g += gl + (g[gl] == ';');
        }
        w += wl + (w[wl] == ';');
    }
    return false;
}

/* ---------- HTTP Basic on the gateway ---------- */

static void basic_done(struct conn *c, const struct dir_result *res)
{
    struct logon_session *s = c->logon;
    int result = LOGON_SENT;
    if (res->rc == DIR_OK) {
        logon_identity_from_dir(c->who, res);
        str_copy(c->who->flags, "TLS", sizeof c->who->flags);
        str_copy(c->who->method, "Basic", sizeof c->who->method);
        add_system_groups(c->who);
        stats_logon("Basic", LOGON_OK);
        logon_limit_succeeded(c, s->sent);
        log_info("%s authenticated as %s (Basic through winbind, over TLS, sent as %s)",
                 c->peer_str, c->who->account, s->sent);
        result = LOGON_AUTHED;
    } else {
        logon_dir_failed(c, s->sent, res, "");
    }
    conn_logon_done(c, result);
}

int logon_basic_directory(struct conn *c, const char *dom, const char *user, const char *password,
                          const char *who)
{
    str_copy(c->logon->sent, who, sizeof c->logon->sent);
    if (logon_password_start(c, dom, user, password, basic_done) < 0) {
        logon_unavailable(c, who, 1311, 0, "directory workers not running");
        return LOGON_SENT;
    }
    return LOGON_PENDING;
}
