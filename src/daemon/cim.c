/* The CIM-XML endpoint's HTTP side: POST /cimom over TLS, HTTP Basic authentication against
 * the local credential store or the domain (logon_password.c), administrator check, then
 * mgmt/cimxml.c does the CIM work with the provider as its backend. One request per connection
 * (wbemcli opens one per operation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/farm.h"
#include "daemon/gateway.h"
#include "daemon/logon.h"
#include "daemon/logon_limit.h"
#include "daemon/logon_password.h"
#include "daemon/provider.h"
#include "mgmt/cimxml.h"

/* ---------- backend over the provider ---------- */

/* One request's backend context. A farm-wide method (docs/farm.md) cannot answer at once: the
 * request is parked (c->farm_op) and handled again with the farm's result when it arrives. */
struct cim_call {
    struct gateway *gw;
    struct conn *c;
};

static int be_enumerate(void *ctx, const struct cim_class *c,
                        int (*fn)(const struct cim_instance *in, void *fctx), void *fctx)
{
    return provider_enumerate(((struct cim_call *)ctx)->gw, c, fn, fctx);
}

static uint32_t be_get(void *ctx, const struct cim_class *c, const char *key,
                       struct cim_instance *out)
{
    return provider_get(((struct cim_call *)ctx)->gw, c, key, out);
}

static void farm_done(struct gateway *gw, void *ctx, uint64_t id, uint32_t ret, uint32_t nodes,
                      uint32_t ended)
{
    struct conn *c;
    for (c = gw->conns; c; c = c->next)
        if (c == ctx && !c->dead && c->farm_op == id)
            break;
    if (!c)
        return; /* the caller left */
    c->farm_op = 0;
    c->farm_done = true;
    c->farm_ret = ret;
    cim_on_body(c);
}

static uint32_t be_invoke(void *ctx, const struct cim_class *c, const char *method, const char *key,
                          const struct cim_arg *args, size_t nargs, uint32_t *ret)
{
    struct cim_call *k = ctx;
    struct gateway *gw = k->gw;
    const char *scope = NULL, *arg = NULL;
    for (size_t i = 0; i < nargs; i++) {
        if (str_ieq(args[i].name, "Scope"))
            scope = args[i].value;
        else if (str_ieq(args[i].name, "UserName") || str_ieq(args[i].name, "ProtocolName"))
            arg = args[i].value;
    }
    bool farm = farm_enabled(gw) && str_ieq(c->name, "Win32_TSGatewayConnection") &&
                (!scope || !str_ieq(scope, "Local"));
    if (farm && str_ieq(method, "Disconnect"))
        farm = key && strchr(key, '/');
    else if (farm)
        farm = !key && (str_ieq(method, "DisconnectUser") || str_ieq(method, "DisconnectProtocol"));
    if (!farm)
        return provider_invoke(gw, c, method, key, args, nargs, ret);
    if (k->c->farm_done) {
        *ret = k->c->farm_ret;
        return 0;
    }
    uint64_t id = farm_invoke(gw, method, key, arg, farm_done, k->c, ret);
    if (id)
        k->c->farm_op = id;
    return 0;
}

/* ---------- authentication ---------- */

static void log_cim_auth(struct conn *c, const char *user, int code, uint32_t nt, const char *why)
{
    event_logon_failed(c, user, "Basic", "CIM-XML", code, nt, why);
}

/* [cim] admin-group: one group or a ';'-list ("BUILTIN\Administrators; CONTOSO\RDG Admins") */
static int entry_is_admin(struct gateway *gw, const struct user_entry *u)
{
    return logon_groups_match(gw->cfg->cim_admin_group, u->groups) ? 1 : 0;
}

static void cim_dir_done(struct conn *c, const struct dir_result *res);

#define CIM_PENDING (-2)

/* Returns 1 for an administrator, 0 for a valid non-administrator, -1 for bad credentials,
 * CIM_PENDING when the domain checks the password (cim_dir_done() continues). */
static int basic_auth(struct conn *c, const char *authz, char *who, size_t whosz)
{
    struct gateway *gw = c->gw;
    who[0] = 0;
    if (!authz || strncasecmp(authz, "Basic ", 6) != 0)
        return -1;
    const char *b64 = authz + 6;
    while (*b64 == ' ')
        b64++;
    uint8_t raw[1024];
    size_t bl = strlen(b64);
    int n = bl > 1300 ? -1 : base64_decode(b64, bl, raw, sizeof raw - 1);
    if (n <= 0)
        return -1;
    raw[n] = 0;
    char *colon = memchr(raw, ':', (size_t)n);
    if (!colon || memchr(raw, 0, (size_t)n))
        return -1;
    *colon = 0;
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX];
    int r;
    if (logon_password_split(gw, (const char *)raw, dom, sizeof dom, user, sizeof user) == 0 &&
        logon_password_for_directory(gw, dom, user)) {
        /* a domain account: winbindd checks the password */
        str_copy(who, (const char *)raw, whosz);
        str_copy(c->logon->sent, (const char *)raw, sizeof c->logon->sent);
        char why[160];
        if (logon_limit_blocked(c, who, why, sizeof why))
            r = -1;
        else
            r = logon_password_start(c, dom, user, colon + 1, cim_dir_done) == 0 ? CIM_PENDING : -3;
    } else {
        r = mgmt_check_account(gw, (const char *)raw, colon + 1, who, whosz);
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return r;
}

int mgmt_check_account(struct gateway *gw, const char *account, const char *password, char *who,
                       size_t whosz)
{
    str_copy(who, account, whosz);
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX];
    users_reload_if_changed(gw);
    const struct user_entry *u = NULL;
    if (user_split_account(account, dom, sizeof dom, user, sizeof user) == 0)
        u = user_store_find(&gw->users, dom, user);
    uint8_t h[16], zero[16] = {0};
    int bad = ntlm_nt_hash(password, h) < 0;
    /* compare against something even for an unknown account, so timing says nothing */
    bad |= CRYPTO_memcmp(h, u ? u->nthash : zero, 16) != 0;
    OPENSSL_cleanse(h, sizeof h);
    if (!u || bad)
        return -1;
    snprintf(who, whosz, "%s\\%s", u->domain, u->name);
    return entry_is_admin(gw, u);
}

int mgmt_account_is_admin(struct gateway *gw, const char *account)
{
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX];
    users_reload_if_changed(gw);
    if (user_split_account(account, dom, sizeof dom, user, sizeof user) < 0)
        return -1;
    const struct user_entry *u = user_store_find(&gw->users, dom, user);
    return u ? entry_is_admin(gw, u) : -1;
}

/* ---------- request handling ---------- */

static void respond_xml(struct conn *c, int status, int cim_hdr, struct buf *body)
{
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : "Not Implemented";
    buf_printf(&c->out,
               "HTTP/1.1 %d %s\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n",
               status, reason, buf_len(body));
    const char *h = cimxml_error_header_text(cim_hdr);
    if (h)
        buf_printf(&c->out, "CIMError: %s\r\n", h);
    else
        buf_append_str(&c->out, "CIMOperation: MethodResponse\r\n");
    buf_append_str(&c->out, "\r\n");
    buf_append(&c->out, buf_data(body), buf_len(body));
    conn_after_flush_close(c);
}

void cim_on_request(struct conn *c)
{
    const struct http_request *req = &c->hp->req;
    if (strcmp(req->method, "POST") != 0) {
        conn_send_simple(c, 405, "Method Not Allowed", "Allow: POST\r\n", true);
        return;
    }
    if (strcmp(req->target, "/cimom") != 0) {
        conn_send_simple(c, 404, "Not Found", NULL, true);
        return;
    }
    if (req->chunked || req->content_length < 0) {
        conn_send_simple(c, 411, "Length Required", NULL, true);
        return;
    }
    if ((uint64_t)req->content_length > c->gw->cfg->cim_max_body) {
        conn_send_simple(c, 413, "Payload Too Large", NULL, true);
        return;
    }
    c->body_need = (size_t)req->content_length;
    c->in.cap_limit = c->body_need + 65536;
    c->phase = CONN_CIM_BODY;
}

static void cim_serve(struct conn *c, int a, const char *who);

void cim_on_body(struct conn *c)
{
    if (buf_len(&c->in) < c->body_need || c->farm_op || logon_password_pending(c))
        return; /* need more, a farm-wide call is answering, or the domain checks a password */
    const struct http_request *req = &c->hp->req;
    char who[512] = "";
    int a = -1;
    char why[160];
    bool blocked = logon_limit_blocked(c, NULL, why, sizeof why);
    if (!blocked) {
        a = basic_auth(c, http_request_header(req, "Authorization"), who, sizeof who);
        if (a == CIM_PENDING)
            return;
        if (a == -3) {
            log_cim_auth(c, who, 1311, 0, "directory workers not running");
            conn_send_simple(c, 503, "Service Unavailable", NULL, true);
            return;
        }
        blocked = logon_limit_blocked(c, who, why, sizeof why);
        if (blocked)
            a = -1; /* refused whatever the password */
        else if (a < 0)
            logon_limit_failed(c, who);
        else
            logon_limit_succeeded(c, who);
    }
    if (a < 0) {
        log_cim_auth(c, who, blocked ? 1909 : 1326, 0, blocked ? why : "bad credentials");
        conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: Basic realm=\"tsgw\"\r\n",
                         true);
        return;
    }
    cim_serve(c, a, who);
}

/* The domain answered a CIM-XML Basic logon (logon_password.c). */
static void cim_dir_done(struct conn *c, const struct dir_result *res)
{
    if (c->dead)
        return;
    const char *typed = c->logon->sent;
    if (res->rc == DIR_OK) {
        logon_limit_succeeded(c, typed);
        int a = logon_groups_match(c->gw->cfg->cim_admin_group, res->groups) ? 1 : 0;
        log_info("CIM-XML: %s from %s authenticated by the domain as %s", typed, c->peer_str,
                 res->identity);
        cim_serve(c, a, res->identity);
    } else {
        int code;
        uint32_t nt;
        char why[200];
        if (logon_dir_refusal(c->gw, res, &code, &nt, why, sizeof why)) {
            log_cim_auth(c, typed, code, nt, why);
            conn_send_simple(c, 503, "Service Unavailable", NULL, true);
        } else {
            logon_limit_failed(c, typed);
            log_cim_auth(c, typed, code, nt, why);
            conn_send_simple(c, 401, "Unauthorized", "WWW-Authenticate: Basic realm=\"tsgw\"\r\n",
                             true);
        }
    }
    if (!c->dead)
        conn_update_io(c);
}

/* An authenticated request: a is 1 for an administrator, 0 for anyone else (access denied). */
static void cim_serve(struct conn *c, int a, const char *who)
{
    struct gateway *gw = c->gw;
    const struct http_request *req = &c->hp->req;
    if (a == 0)
        log_info("CIM-XML: %s from %s is not in '%s': access denied", who, c->peer_str,
                 gw->cfg->cim_admin_group);
    struct cimxml_request cr = {
        .cim_operation = http_request_header(req, "CIMOperation"),
        .cim_method = http_request_header(req, "CIMMethod"),
        .cim_object = http_request_header(req, "CIMObject"),
        .body = buf_data(&c->in),
        .body_len = c->body_need,
        .access_denied = a == 0,
    };
    struct cim_call call = {gw, c};
    struct cimxml_backend be = {&call, be_enumerate, be_get, be_invoke};
    struct buf out = BUF_INIT;
    int status = 200, hdr = 0;
    int hr = cimxml_handle(&cr, &be, &out, &status, &hdr);
    c->farm_done = false;
    if (hr < 0) {
        buf_free(&out);
        conn_send_simple(c, 500, "Internal Server Error", NULL, true);
        return;
    }
    if (c->farm_op) {
        buf_free(&out); /* answered again when the farm's result arrives */
        return;
    }
    log_debug("CIM-XML %s by %s from %s: HTTP %d", cr.cim_method ? cr.cim_method : "?", who,
              c->peer_str, status);
    buf_consume(&c->in, c->body_need);
    c->phase = CONN_HTTP;
    respond_xml(c, status, hdr, &out);
    buf_free(&out);
}
