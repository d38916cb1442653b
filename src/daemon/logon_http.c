/* The HTTP exchange of a gateway logon (see logon.h): the Authorization header, the 401s that
 * list what tsgw accepts (Negotiate, NTLM, Basic when enabled), raw NTLM under "NTLM" or
 * "Negotiate", NTLM inside SPNEGO (RFC 4178: the mechListMIC checked and produced; a Kerberos
 * optimistic token answered so that the initiator continues with NTLM, or accepted by
 * logon_krb.c when a keytab is configured), Basic over TLS, and RDG-Auth-Scheme (PAA) let
 * through for an MS-TSGU refusal. The accounts and the NTLM step itself are logon.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth/spnego.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/logon.h"
#include "daemon/logon_int.h"
#include "daemon/logon_krb.h"
#include "daemon/logon_limit.h"
#include "daemon/logon_password.h"
#include "daemon/ops.h"

#define MAX_AUTH_ROUNDS 4
#define BASIC_MAX 1024 /* decoded "user:password" of a Basic header */

/* Basic only where the client's connection is TLS: tsgw's own, or a trusted TLS-terminating
 * proxy's (backend-listen, docs/farm.md). Never in clear text. */
static bool basic_allowed(const struct conn *c)
{
    return c->gw->cfg->basic_auth && (c->ssl || c->proxied);
}

/* The 401 that lists what tsgw accepts: Negotiate (SPNEGO or raw NTLM), NTLM, and Basic when
 * enabled on a TLS connection. close: the connection ends after it (a refused logon). */
static void send_offer(struct conn *c, bool close)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n%s",
             basic_allowed(c)
                 ? "WWW-Authenticate: Basic realm=\"RD Gateway\", charset=\"UTF-8\"\r\n"
                 : "");
    conn_send_simple(c, 401, "Unauthorized", hdr, close);
}

/* A 401 round carrying a token: "WWW-Authenticate: <scheme> <base64>". */
static void send_token(struct conn *c, const char *scheme, const uint8_t *tok, size_t len)
{
    char b64[4096]; /* a CHALLENGE (at most 512 bytes) in SPNEGO */
    if (len > (sizeof b64 / 4) * 3 - 3) {
        logon_refuse(c, 401, "Unauthorized", "authentication token too large");
        return;
    }
    base64_encode(tok, len, b64, sizeof b64);
    buf_printf(&c->out,
               "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: %s %s\r\nContent-Length: 0\r\n\r\n",
               scheme, b64);
    conn_flush(c);
}

static int new_round(struct conn *c)
{
    if (++c->logon->rounds > MAX_AUTH_ROUNDS) {
        logon_refuse(c, 401, "Unauthorized", "too many authentication rounds");
        return -1;
    }
    return 0;
}

/* The identity is proven: the groups NSS adds, the log line. */
static int logon_done(struct conn *c, const char *method, const char *detail)
{
    str_copy(c->who->method, method, sizeof c->who->method);
    add_system_groups(c->who);
    stats_logon(c->logon->scheme[0] ? c->logon->scheme : "NTLM", LOGON_OK);
    log_info("%s authenticated as %s (%s%s)", c->peer_str, c->who->account, method, detail);
    return LOGON_AUTHED;
}

/* ---------- NTLM ---------- */

static void ntlm_detail(const struct ntlm_result *res, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%s, workstation \"%s\"", res->had_mic ? ", MIC" : "",
             res->had_cbt ? ", channel binding" : "", res->workstation);
}

/* What a step that did not end in a local success returns to logon_http's caller. */
static int step_outcome(struct conn *c, int st)
{
    if (st == STEP_PENDING)
        return LOGON_PENDING;
    if (st == STEP_UNAVAILABLE)
        logon_refuse(c, 503, "Service Unavailable", "directory workers not running");
    else
        logon_send_refusal(c);
    return LOGON_SENT;
}

/* A verified AUTHENTICATE, verified here (not by the directory): finish and log. */
static int local_ntlm_done(struct conn *c, struct ntlm_result *res, const char *who)
{
    int r = logon_ntlm_finish(c, res, who);
    OPENSSL_cleanse(res->session_key, sizeof res->session_key);
    if (r != LOGON_AUTHED)
        return r;
    logon_limit_succeeded(c, who);
    char detail[NTLM_NAME_MAX + 96];
    ntlm_detail(res, detail, sizeof detail);
    if (c->logon->spnego) {
        size_t dl = strlen(detail);
        snprintf(detail + dl, sizeof detail - dl, ", SPNEGO%s",
                 c->logon->peer_mic ? " with mechListMIC" : "");
    }
    return logon_done(c, c->who->method, detail);
}

/* Raw NTLM, under "NTLM" or "Negotiate" (what mstsc sends when Kerberos is impossible). */
static int raw_ntlm(struct conn *c, const uint8_t *msg, size_t len)
{
    struct buf out = BUF_INIT;
    struct ntlm_result res;
    char who[2 * NTLM_NAME_MAX + 2] = "";
    c->logon->spnego = false;
    int st = ntlm_step(c, msg, len, &out, &res, who, sizeof who);
    if (st == STEP_CONTINUE) {
        if (new_round(c) == 0)
            send_token(c, c->logon->scheme, buf_data(&out), buf_len(&out));
        buf_free(&out);
        return LOGON_SENT;
    }
    buf_free(&out);
    if (st != STEP_DONE)
        return step_outcome(c, st);
    return local_ntlm_done(c, &res, who);
}

/* ---------- SPNEGO (RFC 4178) around NTLM ---------- */

/* Answers a SPNEGO round with a NegTokenResp in a 401 (tok may be NULL). */
static int spnego_reply(struct conn *c, int state, int mech, const uint8_t *tok, size_t len)
{
    uint8_t out[NTLM_MAX_MESSAGE + 64];
    int n = spnego_build_resp(out, sizeof out, state, mech, tok, len, NULL, 0);
    if (n < 0) {
        logon_refuse(c, 401, "Unauthorized", "SPNEGO answer too large");
        return LOGON_SENT;
    }
    if (new_round(c) == 0)
        send_token(c, "Negotiate", out, (size_t)n);
    return LOGON_SENT;
}

/* Refuses the exchange (why: logged as event 201; NULL when the failure was logged already). */
static int spnego_refuse(struct conn *c, const char *why)
{
    if (why)
        log_auth_failure(c, "", 1326, why);
    /* negState reject, then the list of what is accepted */
    uint8_t rej[16];
    int n = spnego_build_resp(rej, sizeof rej, SPNEGO_REJECT, -1, NULL, 0, NULL, 0);
    char b64[32], hdr[256];
    base64_encode(rej, (size_t)n, b64, sizeof b64);
    snprintf(hdr, sizeof hdr, "WWW-Authenticate: Negotiate %s\r\n", b64);
    conn_send_simple(c, 401, "Unauthorized", hdr, true);
    return LOGON_SENT;
}

/* The initiator's NegTokenInit: NTLM must be on its list. When NTLM is its first choice, the
 * optimistic token (if any) is the NTLM NEGOTIATE and is answered with the CHALLENGE. When it
 * prefers another mechanism (Kerberos: a domain-joined mstsc that got a ticket for the
 * gateway's name) and no keytab is configured, that mechanism's token is not used: the answer
 * names NTLM with request-mic, and the initiator continues with NTLM (RFC 4178 3.2 and 5). With
 * [auth] keytab, the optimistic AP-REQ goes to the Kerberos acceptor (logon_krb.c). */
static int spnego_init(struct conn *c, const struct spnego_token *t)
{
    struct logon_session *s = c->logon;
    if (t->mech_list_len > sizeof s->mech_list)
        return spnego_refuse(c, "SPNEGO mechanism list too long");
    logon_session_clear(s);
    memcpy(s->mech_list, t->mech_list, t->mech_list_len);
    s->mech_list_len = t->mech_list_len;
    s->spnego = true;
    if ((t->mechs[0] == SPNEGO_MECH_KRB5 || t->mechs[0] == SPNEGO_MECH_MS_KRB5) && t->mech_token &&
        logon_krb_enabled(c->gw))
        return logon_krb_init(c, t); /* daemon/logon_krb.c */
    int idx = spnego_mech_index(t, SPNEGO_MECH_NTLM);
    if (idx < 0) {
        char why[128];
        snprintf(why, sizeof why, "SPNEGO offers no mechanism tsgw accepts (first: %s)",
                 spnego_mech_name(t->mechs[0]));
        return spnego_refuse(c, why);
    }
    s->mic_required = idx != 0;
    if (idx != 0 || !t->mech_token) {
        if (idx != 0)
            log_info("%s: SPNEGO initiator prefers %s; asked it to continue with NTLM", c->peer_str,
                     spnego_mech_name(t->mechs[0]));
        return spnego_reply(c, idx != 0 ? SPNEGO_REQUEST_MIC : SPNEGO_ACCEPT_INCOMPLETE,
                            SPNEGO_MECH_NTLM, NULL, 0);
    }
    struct buf out = BUF_INIT;
    struct ntlm_result res;
    char who[2 * NTLM_NAME_MAX + 2] = "";
    int st = ntlm_step(c, t->mech_token, t->mech_token_len, &out, &res, who, sizeof who);
    if (st != STEP_CONTINUE) { /* the optimistic token must be the NEGOTIATE */
        buf_free(&out);
        if (st == STEP_FAILED)
            return spnego_refuse(c, NULL);
        logon_session_clear(c->logon);
        return spnego_refuse(c, "NTLM AUTHENTICATE in a NegTokenInit");
    }
    int r =
        spnego_reply(c, SPNEGO_ACCEPT_INCOMPLETE, SPNEGO_MECH_NTLM, buf_data(&out), buf_len(&out));
    buf_free(&out);
    return r;
}

/* A NegTokenResp: the NTLM NEGOTIATE (after request-mic) or the AUTHENTICATE with the
 * mechListMIC. The initiator's MIC (client-to-server keys, over the MechTypeList it sent) must
 * verify when present, and must be present when request-mic was sent; the answer then carries
 * tsgw's own (server-to-client keys). */
static int spnego_resp(struct conn *c, const struct spnego_token *t)
{
    struct logon_session *s = c->logon;
    if (!s->spnego)
        return spnego_refuse(c, "SPNEGO NegTokenResp without a NegTokenInit");
    if (t->neg_state == SPNEGO_REJECT || !t->mech_token)
        return spnego_refuse(c, "SPNEGO: the initiator gave up or sent no token");
    if (t->mic && t->mic_len != sizeof s->peer_mic_value)
        return spnego_refuse(c, "SPNEGO mechListMIC of the wrong size");
    s->peer_mic = t->mic != NULL;
    if (t->mic)
        memcpy(s->peer_mic_value, t->mic, sizeof s->peer_mic_value);
    struct buf out = BUF_INIT;
    struct ntlm_result res;
    char who[2 * NTLM_NAME_MAX + 2] = "";
    int st = ntlm_step(c, t->mech_token, t->mech_token_len, &out, &res, who, sizeof who);
    if (st == STEP_CONTINUE) {
        int r = spnego_reply(c, SPNEGO_ACCEPT_INCOMPLETE, -1, buf_data(&out), buf_len(&out));
        buf_free(&out);
        return r;
    }
    buf_free(&out);
    if (st != STEP_DONE)
        return step_outcome(c, st);
    return local_ntlm_done(c, &res, who);
}

int logon_ntlm_finish(struct conn *c, const struct ntlm_result *res, const char *who)
{
    struct logon_session *s = c->logon;
    if (!s->spnego) {
        str_copy(c->who->method, "NTLM", sizeof c->who->method);
        return LOGON_AUTHED;
    }
    /* The initiator's MIC (client-to-server keys, over the MechTypeList it sent) must verify
     * when present, and must be present when request-mic was sent; the answer then carries
     * tsgw's own (server-to-client keys). */
    uint8_t mic[16];
    bool answer_mic = s->peer_mic || s->mic_required;
    const char *bad = NULL;
    if (s->peer_mic) {
        if (ntlm_verify_sig(res->session_key, res->flags, false, 0, s->mech_list, s->mech_list_len,
                            s->peer_mic_value, sizeof s->peer_mic_value) < 0)
            bad = "SPNEGO mechListMIC does not verify";
    } else if (s->mic_required) {
        bad = "SPNEGO mechListMIC missing after request-mic";
    }
    if (!bad && answer_mic &&
        ntlm_sign(res->session_key, res->flags, true, 0, s->mech_list, s->mech_list_len, mic) < 0)
        bad = "SPNEGO mechListMIC needs NTLM signing, which was not negotiated";
    if (bad) {
        log_auth_failure(c, c->who->account, 1326, bad);
        logon_limit_failed(c, who);
        c->who->account[0] = 0;
        spnego_refuse(c, NULL);
        return LOGON_SENT;
    }
    uint8_t fin[64];
    int n = spnego_build_resp(fin, sizeof fin, SPNEGO_ACCEPT_COMPLETED, -1, NULL, 0,
                              answer_mic ? mic : NULL, answer_mic ? sizeof mic : 0);
    char b64[96];
    base64_encode(fin, (size_t)n, b64, sizeof b64);
    snprintf(s->final_header, sizeof s->final_header, "WWW-Authenticate: Negotiate %s\r\n", b64);
    str_copy(c->who->method, "Negotiate", sizeof c->who->method);
    return LOGON_AUTHED;
}

void logon_send_refusal(struct conn *c)
{
    if (c->logon->spnego)
        spnego_refuse(c, NULL);
    else
        send_offer(c, true);
}

/* ---------- Basic (TLS only, when enabled) ---------- */

/* "user:password" checked against the NT hash in the credential store, or by the directory.
 * The user may be "DOMAIN\user", "user@dns.domain" or a bare name in netbios-domain. */
static int basic_logon(struct conn *c, const char *tok)
{
    struct gateway *gw = c->gw;
    uint8_t dec[BASIC_MAX + 1];
    size_t tl = strlen(tok);
    int n = tl > (BASIC_MAX / 3 + 1) * 4 ? -1 : base64_decode(tok, tl, dec, BASIC_MAX);
    const char *why = NULL;
    char *colon = NULL;
    if (n < 0) {
        why = "Basic credentials malformed or too long";
    } else {
        dec[n] = 0;
        colon = memchr(dec, ':', (size_t)n);
        if (!colon || memchr(dec, 0, (size_t)n) || colon == (char *)dec)
            why = "Basic credentials malformed";
    }
    if (why) {
        OPENSSL_cleanse(dec, sizeof dec);
        log_auth_failure(c, "", 1326, why);
        send_offer(c, true);
        return LOGON_SENT;
    }
    *colon = 0;
    const char *name = (const char *)dec, *password = colon + 1;
    char dom[USERS_DOMAIN_MAX] = "", user[USERS_NAME_MAX];
    const char *bs = strchr(name, '\\');
    if (bs) {
        size_t dl = (size_t)(bs - name);
        if (dl < sizeof dom) {
            memcpy(dom, name, dl);
            dom[dl] = 0;
        }
        str_copy(user, bs + 1, sizeof user);
    } else {
        str_copy(user, name, sizeof user);
        if (!strchr(name, '@'))
            str_copy(dom, gw->cfg->netbios_domain, sizeof dom);
    }
    users_reload_if_changed(gw);
    if (logon_password_for_directory(gw, dom, user)) {
        /* a domain account: winbindd checks the password (logon_password.c) */
        char dwho[USERS_DOMAIN_MAX + USERS_NAME_MAX + 2], dblocked[160];
        snprintf(dwho, sizeof dwho, "%s%s%s", dom, dom[0] ? "\\" : "", user);
        int r;
        if (logon_limit_blocked(c, dwho, dblocked, sizeof dblocked)) {
            log_auth_failure(c, dwho, 1909, dblocked);
            send_offer(c, true);
            r = LOGON_SENT;
        } else {
            r = logon_basic_directory(c, dom, user, password, dwho);
        }
        OPENSSL_cleanse(dec, sizeof dec);
        return r;
    }
    const struct user_entry *u = store_find(gw, dom, user);
    uint8_t h[16];
    bool good = ntlm_nt_hash(password, h) == 0 && u && CRYPTO_memcmp(h, u->nthash, 16) == 0;
    OPENSSL_cleanse(h, sizeof h);
    char who[USERS_DOMAIN_MAX + USERS_NAME_MAX + 2], blocked[160];
    snprintf(who, sizeof who, "%s%s%s", dom, dom[0] ? "\\" : "", user);
    OPENSSL_cleanse(dec, sizeof dec);
    /* a blocked (address, account) is refused whatever the password */
    if (logon_limit_blocked(c, who, blocked, sizeof blocked)) {
        log_auth_failure(c, who, 1909, blocked);
        send_offer(c, true);
        return LOGON_SENT;
    }
    if (!good) {
        log_auth_failure(c, who, 1326, "bad credentials (Basic)");
        logon_limit_failed(c, who);
        send_offer(c, true);
        return LOGON_SENT;
    }
    logon_limit_succeeded(c, who);
    snprintf(c->who->account, sizeof c->who->account, "%s\\%s", u->domain, u->name);
    str_copy(c->who->source, "local", sizeof c->who->source);
    str_copy(c->who->flags, "TLS", sizeof c->who->flags);
    str_copy(c->who->full_name, u->full_name, sizeof c->who->full_name);
    str_copy(c->who->groups, u->groups, sizeof c->who->groups);
    return logon_done(c, "Basic", ", over TLS");
}

/* ---------- entry point ---------- */

const char *logon_success_header(const struct conn *c)
{
    return c->logon ? c->logon->final_header : "";
}

int logon_http(struct conn *c, const struct http_request *req)
{
    struct gateway *gw = c->gw;
    struct logon_session *s = c->logon;
    const char *authz = http_request_header(req, "Authorization");
    const char *rdg = http_request_header(req, "RDG-Auth-Scheme");
    if (rdg && !authz) {
        /* PAA (a .rdp with a gateway access token), SMARTCARD, ...: no HTTP logon at all. The
         * request goes through without an identity, and the tunnel refuses its first packet
         * with E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD (MS-TSGU 2.2.6.1), which mstsc reports
         * as such, instead of a generic 401. */
        str_copy(s->scheme, str_ieq(rdg, "PAA") ? "PAA" : "other", sizeof s->scheme);
        char why[96];
        snprintf(why, sizeof why, "RDG-Auth-Scheme %.32s is not supported", rdg);
        log_auth_failure(c, "", 1326, why);
        return LOGON_UNSUPPORTED;
    }
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
    bool ntlm = str_ieq(scheme, "NTLM"), nego = str_ieq(scheme, "Negotiate");
    bool basic = str_ieq(scheme, "Basic") && basic_allowed(c);
    if (!authz || (!ntlm && !nego && !basic) || !*tok) {
        if (str_ieq(scheme, "Basic") && gw->cfg->basic_auth && !basic_allowed(c))
            log_auth_failure(c, "", 1326, "Basic refused: not over TLS");
        if (new_round(c) == 0)
            send_offer(c, false);
        return LOGON_SENT;
    }
    str_copy(s->scheme, ntlm ? "NTLM" : nego ? "Negotiate" : "Basic", sizeof s->scheme);
    char why[160];
    if (logon_limit_blocked(c, NULL, why, sizeof why)) {
        log_auth_failure(c, "", 1909, why);
        send_offer(c, true);
        return LOGON_SENT;
    }
    if (basic)
        return basic_logon(c, tok);
    size_t tlen = strlen(tok);
    static uint8_t msg[SPNEGO_MAX_TOKEN]; /* one loop thread; wiped after use */
    int mlen = tlen > (sizeof msg / 3) * 4 + 4 ? -1 : base64_decode(tok, tlen, msg, sizeof msg);
    int r;
    if (mlen < 0) {
        log_auth_failure(c, "", 1326, "authorization token malformed or too long");
        send_offer(c, true);
        r = LOGON_SENT;
    } else if (nego && spnego_looks_like(msg, (size_t)mlen)) {
        struct spnego_token t;
        if (spnego_parse(msg, (size_t)mlen, &t) < 0)
            r = spnego_refuse(c, "malformed SPNEGO token");
        else if (t.kind == SPNEGO_INIT)
            r = spnego_init(c, &t);
        else
            r = spnego_resp(c, &t);
    } else {
        r = raw_ntlm(c, msg, (size_t)mlen);
    }
    OPENSSL_cleanse(msg, mlen > 0 ? (size_t)mlen : 0);
    return r;
}
