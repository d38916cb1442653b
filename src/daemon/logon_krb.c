/* Kerberos inside SPNEGO ("Negotiate", RFC 4559/4178/4121): the daemon's side. When
 * [auth] keytab is set and a NegTokenInit names Kerberos first with an optimistic AP-REQ, the
 * token is accepted on a directory worker thread (src/auth/krb.c: keytab, replay cache,
 * channel bindings, mechListMIC, PAC), then the PAC goes to winbindd on the same worker
 * ([auth] directory = winbind) or the principal is mapped to the local credential store. The
 * answer (NegTokenResp accept-completed with the AP-REP) rides on the 101/200 that follows;
 * a refusal is a 401 with a SPNEGO reject and event 201. One round trip: no GSS context
 * survives the job. */
#include "daemon/logon_krb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth/krb.h"
#include "auth/ntstatus.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/dirpool.h"
#include "daemon/gateway.h"
#include "daemon/logon.h"
#include "daemon/logon_int.h"
#include "daemon/logon_limit.h"
#include "daemon/ops.h"

struct krb_job {
    struct krb_accept_req req;
    struct krb_accept_res res;
    uint8_t *token;
    bool use_winbind; /* the PAC goes to winbindd */
    bool pac_asked;   /* ... and it was (job->res holds winbind's answer) */
    int mech;         /* enum spnego_mech the initiator named first */
};

static void krb_job_free(void *p)
{
    struct krb_job *k = p;
    krb_accept_res_clear(&k->res);
    if (k->token) {
        OPENSSL_cleanse(k->token, k->req.token_len);
        free(k->token);
    }
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

/* Worker thread: the GSS acceptance, then the PAC to winbindd. */
static void krb_run(struct winbind_ctx *w, struct dir_job *j)
{
    struct krb_job *k = j->data;
    memset(&j->res, 0, sizeof j->res);
    krb_accept(&k->req, &k->res);
    j->res.rc = DIR_OK;
    if (k->res.rc == KRB_OK && k->use_winbind && k->res.pac) {
        k->pac_asked = true;
        j->priv_pipe = true; /* a closed privileged pipe is explained like NTLM's (dirpool.c) */
        if (w) {
            winbind_pac_logon(w, k->res.pac, k->res.pac_len, &j->res);
        } else {
            j->res.rc = DIR_UNAVAILABLE;
            str_copy(j->res.detail, "no winbind context", sizeof j->res.detail);
        }
    }
}

/* ---------- channel bindings (RFC 5929 tls-server-end-point) ---------- */

static struct {
    const void *cert; /* the X509 they were computed for */
    uint8_t cb[KRB_CB_MAX];
    int len;
} own_cb, front_cb;
static char front_path[PATH_MAX];

static int cert_cb(X509 *x, uint8_t *out)
{
    unsigned char *der = NULL;
    int dl = x ? i2d_X509(x, &der) : -1;
    int r = dl > 0 ? krb_cb_from_cert_der(der, (size_t)dl, out, KRB_CB_MAX) : -1;
    OPENSSL_free(der);
    return r;
}

/* The bindings a client of c computes: tsgw's certificate, or the front proxy's when a
 * TLS-terminating proxy sits in front ([gateway] front-certificate). -1: none known. */
static int conn_cb(struct conn *c, const uint8_t **cb)
{
    struct gateway *gw = c->gw;
    if (c->proxied) {
        const char *path = gw->cfg->front_certificate;
        if (!path[0])
            return -1;
        if (strcmp(front_path, path) != 0) {
            FILE *f = fopen(path, "r");
            X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
            if (f)
                fclose(f);
            front_cb.len = cert_cb(x, front_cb.cb);
            X509_free(x);
            str_copy(front_path, path, sizeof front_path);
        }
        *cb = front_cb.cb;
        return front_cb.len;
    }
    X509 *x = gw->tls.ctx ? SSL_CTX_get0_certificate(gw->tls.ctx) : NULL;
    if (x != own_cb.cert) {
        own_cb.len = cert_cb(x, own_cb.cb);
        own_cb.cert = x;
    }
    *cb = own_cb.cb;
    return own_cb.len;
}

/* ---------- the logon ---------- */

bool logon_krb_enabled(const struct gateway *gw)
{
    return gw->cfg->keytab[0] != 0;
}

void logon_krb_configure(struct gateway *gw)
{
    if (logon_krb_enabled(gw) && !dirpool_running() &&
        dirpool_start(&gw->loop, gw->cfg->directory_workers) < 0)
        log_error("Kerberos: cannot start the worker threads");
}

static void krb_done(struct dir_job *job, const struct dir_result *res);

int logon_krb_init(struct conn *c, const struct spnego_token *t)
{
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    const struct gw_config *cfg = gw->cfg;
    struct dir_job *job = NULL;
    struct krb_job *k = calloc(1, sizeof *k);
    if (!k || !dirpool_running() || !(job = dirpool_job_new(DIR_JOB_CALL)) ||
        !(k->token = malloc(t->mech_token_len ? t->mech_token_len : 1))) {
        if (k)
            krb_job_free(k);
        free(job);
        logon_unavailable(c, "", 1311, 0, "Kerberos workers not running");
        return LOGON_SENT;
    }
    struct krb_accept_req *q = &k->req;
    str_copy(q->keytab, cfg->keytab, sizeof q->keytab);
    str_copy(q->principal, cfg->service_principal, sizeof q->principal);
    memcpy(k->token, t->mech_token, t->mech_token_len);
    q->token = k->token;
    q->token_len = t->mech_token_len;
    const uint8_t *cb = NULL;
    int cbl = conn_cb(c, &cb);
    if (cbl > 0) {
        memcpy(q->cb, cb, (size_t)cbl);
        q->cb_len = (size_t)cbl;
    }
    q->cb_required = cfg->channel_binding == CONF_CB_REQUIRED;
    if (t->mech_list_len <= sizeof q->mech_list) {
        memcpy(q->mech_list, t->mech_list, t->mech_list_len);
        q->mech_list_len = t->mech_list_len;
    }
    if (t->mic && t->mic_len <= sizeof q->peer_mic) {
        memcpy(q->peer_mic, t->mic, t->mic_len);
        q->peer_mic_len = t->mic_len;
    }
    q->want_mic = false; /* Kerberos is the initiator's first choice: RFC 4178 5 (optional) */
    k->use_winbind = cfg->directory == CONF_DIRECTORY_WINBIND;
    q->want_pac = k->use_winbind;
    k->mech = t->mechs[0];
    job->run = krb_run;
    job->data = k;
    job->data_free = krb_job_free;
    job->owner = c;
    job->done = krb_done;
    s->job = job;
    dirpool_submit(job, now_ms() + cfg->directory_timeout_ms);
    log_debug("%s: Kerberos AP-REQ (%zu bytes) sent to the workers", c->peer_str,
              t->mech_token_len);
    return LOGON_PENDING;
}

/* A refused Kerberos logon: event 201, counted, SPNEGO reject. */
static void krb_refuse(struct conn *c, const char *who, int code, uint32_t nt, const char *why)
{
    log_auth_failure_nt(c, who, code, nt, why);
    logon_limit_failed(c, who);
    logon_send_refusal(c);
    conn_logon_done(c, LOGON_SENT);
}

/* The local credential store's account for a principal: the user name, in the domain named by
 * the realm's first label (alice@CONTOSO.TEST -> CONTOSO\alice), as for a UPN under NTLM. */
static bool local_identity(struct conn *c, const char *principal)
{
    const struct user_entry *u = store_find(c->gw, "", principal);
    if (!u)
        return false;
    snprintf(c->who->account, sizeof c->who->account, "%s\\%s", u->domain, u->name);
    str_copy(c->who->full_name, u->full_name, sizeof c->who->full_name);
    str_copy(c->who->groups, u->groups, sizeof c->who->groups);
    str_copy(c->who->source, "local", sizeof c->who->source);
    return true;
}

static void krb_done(struct dir_job *job, const struct dir_result *res)
{
    struct conn *c = job->owner;
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    s->job = NULL; /* the pool frees the job */
    char why[400];
    if (res->rc == DIR_TIMEOUT) {
        snprintf(why, sizeof why, "Kerberos: no answer within %u ms (directory-timeout)",
                 (unsigned)gw->cfg->directory_timeout_ms);
        logon_unavailable(c, "", 1311, 0, why);
        conn_logon_done(c, LOGON_SENT);
        return;
    }
    struct krb_job *k = job->data;
    const struct krb_accept_res *kr = &k->res;
    const char *principal = kr->client;
    if (kr->rc == KRB_ERROR) {
        /* the gateway's side (keytab unreadable or without the key): not the client's fault,
         * not counted against it; 503 like a directory that cannot answer */
        snprintf(why, sizeof why, "Kerberos unavailable: %s", kr->reason);
        log_error("%s", why);
        logon_unavailable(c, principal, 1311, 0, why);
        conn_logon_done(c, LOGON_SENT);
        return;
    }
    if (kr->rc != KRB_OK) {
        snprintf(why, sizeof why, "Kerberos: %s", kr->reason);
        krb_refuse(c, principal, 1326, 0, why);
        return;
    }
    /* a blocked (address, account) is refused whatever the ticket */
    if (logon_limit_blocked(c, principal, why, sizeof why)) {
        log_auth_failure(c, principal, 1909, why);
        logon_send_refusal(c);
        conn_logon_done(c, LOGON_SENT);
        return;
    }
    users_reload_if_changed(gw);
    if (k->pac_asked) {
        if (res->rc != DIR_OK) { /* refused by the domain, or no answer about the PAC */
            logon_dir_failed(c, principal, res, "Kerberos PAC: ");
            conn_logon_done(c, LOGON_SENT);
            return;
        }
        logon_identity_from_dir(c->who, res);
    } else if (!local_identity(c, principal)) {
        snprintf(why, sizeof why, "Kerberos: no account for %s (%s)", principal,
                 k->use_winbind ? "the ticket carries no PAC and the local store has none"
                                : "not in the local store; the realm's first label names the "
                                  "domain");
        krb_refuse(c, principal, 1326, 0, why);
        return;
    }
    /* the answer: accept-completed, the mechanism the initiator named, the AP-REP, our MIC */
    uint8_t out[sizeof kr->reply + KRB_MIC_MAX + 64];
    int n = spnego_build_resp(out, sizeof out, SPNEGO_ACCEPT_COMPLETED, k->mech,
                              kr->reply_len ? kr->reply : NULL, kr->reply_len,
                              kr->mic_len ? kr->mic : NULL, kr->mic_len);
    char b64[sizeof s->final_header - 40];
    if (n < 0 || ((size_t)n + 2) / 3 * 4 + 1 > sizeof b64) {
        c->who->account[0] = 0;
        krb_refuse(c, principal, 1326, 0, "Kerberos: answer too large");
        return;
    }
    base64_encode(out, (size_t)n, b64, sizeof b64);
    snprintf(s->final_header, sizeof s->final_header, "WWW-Authenticate: Negotiate %s\r\n", b64);
    snprintf(c->who->flags, sizeof c->who->flags, "%s%s%s", kr->mutual ? "mutual" : "",
             kr->mutual && kr->channel_bound ? ", " : "",
             kr->channel_bound ? "channel binding" : "");
    str_copy(c->who->method, "Kerberos", sizeof c->who->method);
    add_system_groups(c->who);
    stats_logon("Negotiate", LOGON_OK);
    logon_limit_succeeded(c, principal);
    log_info("%s authenticated as %s (Kerberos, principal %s%s%s%s, %s)", c->peer_str,
             c->who->account, principal, c->who->flags[0] ? ", " : "", c->who->flags,
             s->mech_list_len && k->req.peer_mic_len ? ", mechListMIC" : "",
             k->pac_asked ? "PAC through winbind" : "local store");
    conn_logon_done(c, LOGON_AUTHED);
}
