/* The web console's HTTP side (docs/console.md): /console/ on the [web] listener (which may be
 * the CIM-XML one: other paths then go to cim.c). Sign-in with a form checked like CIM-XML
 * (credential store, [cim] admin-group), a session cookie, a CSRF token per session, static
 * assets embedded from web/, and a small JSON API over the same provider as tsgwctl and CIM.
 * Connections are kept alive between requests (the page polls); they hold a pre-authentication
 * slot (daemon/preauth.h) until a request shows a valid session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/event.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/logon.h"
#include "daemon/logon_limit.h"
#include "daemon/logon_password.h"
#include "daemon/preauth.h"
#include "daemon/provider.h"
#include "mgmt/console.h"

#define WEB_MAX_BODY 8192
#define WEB_KEEPALIVE_MS 60000
#define WEB_MAX_ROWS 20000 /* connection rows in one answer */
#define WEB_MAX_EVENTS 500 /* events in one answer */
#define COOKIE "__Host-tsgw-console"

struct web_state {
    struct console_sessions sessions;
};

/* One request being answered. */
struct wreq {
    struct conn *c;
    const struct http_request *req;
    char path[256];
    const char *query;
    const char *body;
    size_t blen;
    bool keep;                  /* keep the connection for the next request */
    bool pending;               /* the directory is checking a password: answer later */
    struct console_session *ss; /* the caller's session, when signed in */
};

int web_init(struct gateway *gw)
{
    gw->web = calloc(1, sizeof *gw->web);
    return gw->web ? 0 : -1;
}

void web_free(struct gateway *gw)
{
    if (!gw->web)
        return;
    OPENSSL_cleanse(gw->web, sizeof *gw->web);
    free(gw->web);
    gw->web = NULL;
}

/* ---------- responses ---------- */

/* Every answer carries these: no inline script or style, no framing, no sniffing. */
static const char SECURITY_HEADERS[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: same-origin\r\n" /* not no-referrer: that makes Origin null */
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n";

static void respond(struct wreq *w, int status, const char *type, const char *extra,
                    const void *body, size_t len)
{
    struct conn *c = w->c;
    buf_printf(&c->out, "HTTP/1.1 %d %s\r\n%s", status, http_status_text(status), SECURITY_HEADERS);
    if (type)
        buf_printf(&c->out, "Content-Type: %s\r\n", type);
    if (extra)
        buf_append_str(&c->out, extra);
    if (!extra || !strstr(extra, "Cache-Control:"))
        buf_append_str(&c->out, "Cache-Control: no-store\r\n");
    buf_printf(&c->out, "Content-Length: %zu\r\n%s\r\n", len,
               w->keep ? "" : "Connection: close\r\n");
    if (strcmp(w->req->method, "HEAD") != 0)
        buf_append(&c->out, body, len);
}

static void respond_json(struct wreq *w, int status, struct buf *b)
{
    respond(w, status, "application/json", NULL, buf_data(b), buf_len(b));
}

static void json_error(struct wreq *w, int status, const char *msg)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"error\":");
    console_json_str(&b, msg);
    buf_append_str(&b, "}");
    respond_json(w, status, &b);
    buf_free(&b);
}

static void redirect(struct wreq *w, int status, const char *location, const char *extra)
{
    char h[512];
    snprintf(h, sizeof h, "Location: %s\r\n%s", location, extra ? extra : "");
    respond(w, status, NULL, h, "", 0);
}

/* A server-rendered page: an asset with "<!--MSG-->" replaced by an escaped message. */
static void page(struct wreq *w, int status, const char *asset, const char *msg, const char *extra)
{
    const struct console_asset *a = console_asset_find(asset);
    if (!a) {
        respond(w, 500, "text/plain", NULL, "missing asset\n", 14);
        return;
    }
    struct buf b = BUF_INIT;
    const char *mark = "<!--MSG-->";
    const char *at = memmem(a->data, a->len, mark, strlen(mark));
    if (!at || !msg) {
        buf_append(&b, a->data, a->len);
    } else {
        size_t pre = (size_t)(at - (const char *)a->data);
        buf_append(&b, a->data, pre);
        buf_append_str(&b, "<p class=\"msg err\" role=\"alert\">");
        console_html_str(&b, msg);
        buf_append_str(&b, "</p>");
        buf_append(&b, at + strlen(mark), a->len - pre - strlen(mark));
    }
    respond(w, status, a->type, extra, buf_data(&b), buf_len(&b));
    buf_free(&b);
}

/* ---------- request checks ---------- */

/* Cross-origin requests are refused: a browser always says where a POST comes from (Origin, or
 * at least Sec-Fetch-Site); both absent means a non-browser client, which the CSRF token and the
 * cookie still guard. */
static bool same_origin(const struct http_request *req)
{
    const char *origin = http_request_header(req, "Origin");
    const char *host = http_request_header(req, "Host");
    if (origin) {
        char want[300];
        if (!host || snprintf(want, sizeof want, "https://%s", host) >= (int)sizeof want)
            return false;
        return str_ieq(origin, want);
    }
    const char *site = http_request_header(req, "Sec-Fetch-Site");
    return !site || !strcmp(site, "same-origin") || !strcmp(site, "none");
}

static struct console_session *find_session(struct wreq *w)
{
    struct gateway *gw = w->c->gw;
    const char *ck = http_request_header(w->req, "Cookie");
    char token[CONSOLE_TOKEN_HEX + 8];
    if (!ck || console_cookie_get(ck, COOKIE, token, sizeof token) != CONSOLE_TOKEN_HEX)
        return NULL;
    struct console_sessions *s = &gw->web->sessions;
    s->idle_ms = gw->cfg->web_idle_ms;
    s->lifetime_ms = gw->cfg->web_lifetime_ms;
    struct console_session *ss = console_session_find(s, token, now_ms());
    /* a directory account's admin rights were the domain's answer at sign-in (its groups); the
     * session's lifetime bounds them */
    if (ss && !ss->directory && mgmt_account_is_admin(gw, ss->user) != 1) {
        /* removed from the store or from the admin group since signing in */
        log_info("web console: %s is no longer an administrator: session ended", ss->user);
        console_session_end(ss);
        ss = NULL;
    }
    return ss;
}

/* The CSRF token of a state-changing request: the X-CSRF-Token header or the csrf form field. */
static bool csrf_ok(struct wreq *w)
{
    const char *h = http_request_header(w->req, "X-CSRF-Token");
    char f[CONSOLE_TOKEN_HEX + 8];
    if (!h && console_form_get(w->body, w->blen, "csrf", f, sizeof f) >= 0)
        h = f;
    return console_csrf_ok(w->ss, h);
}

/* ---------- sign-in and sign-out ---------- */

static void log_signin_failure(struct conn *c, const char *user, int code, uint32_t nt,
                               const char *why)
{
    log_warn("web console: sign-in as '%s' from %s refused: %s", user, c->peer_str, why);
    event_logon_failed(c, user, "Form", "Console", code, nt, why);
}

static void finish(struct conn *c, bool keep);
static int init_wreq(struct wreq *w, struct conn *c);

/* The end of a sign-in once the password was checked: a is 1 (administrator), 0 (valid, not an
 * administrator), -1 (refused: code, nt, why), -2 (the directory could not answer: 503). */
static void sign_in_result(struct wreq *w, const char *user, int a, const char *who, bool blocked,
                           int code, uint32_t nt, const char *why, bool directory)
{
    struct conn *c = w->c;
    struct gateway *gw = c->gw;
    if (blocked) {
        log_signin_failure(c, user, 1909, 0, why);
        page(w, 429, "login.html", "Too many failed sign-ins. Wait a little and try again.",
             "Retry-After: 30\r\n");
        return;
    }
    if (a == -2) {
        log_signin_failure(c, user, code, nt, why);
        page(w, 503, "login.html", "The domain could not check the password. Try again later.",
             "Retry-After: 10\r\n");
        return;
    }
    if (a < 0) {
        log_signin_failure(c, user, code, nt, why);
        page(w, 401, "login.html", "The user name or password is incorrect.", NULL);
        return;
    }
    if (a == 0) {
        log_warn("web console: %s from %s is not in '%s': access denied", who, c->peer_str,
                 gw->cfg->cim_admin_group);
        char msg[600];
        snprintf(msg, sizeof msg, "%s is not an administrator of this gateway.", who);
        page(w, 403, "denied.html", msg, NULL);
        return;
    }
    uint8_t rnd[2 * CONSOLE_TOKEN_BYTES];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        page(w, 500, "login.html", "The gateway could not create a session.", NULL);
        return;
    }
    struct console_sessions *s = &gw->web->sessions;
    s->idle_ms = gw->cfg->web_idle_ms;
    s->lifetime_ms = gw->cfg->web_lifetime_ms;
    struct console_session *ss = console_session_new(s, who, c->peer_str, now_ms(), rnd);
    OPENSSL_cleanse(rnd, sizeof rnd);
    ss->directory = directory;
    log_info("web console: %s signed in from %s%s", who, c->peer_str,
             directory ? " (password checked by the domain)" : "");
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "Set-Cookie: " COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%u\r\n",
             ss->token, gw->cfg->web_lifetime_ms / 1000);
    redirect(w, 303, "/console/", cookie);
}

/* The domain answered a sign-in (logon_password.c): finish the request as web_on_body would. */
static void sign_in_directory_done(struct conn *c, const struct dir_result *res)
{
    if (c->dead)
        return;
    struct wreq w;
    init_wreq(&w, c);
    w.body = (const char *)buf_data(&c->in);
    w.blen = c->body_need;
    const char *typed = c->logon->sent;
    int a, code = 1326;
    uint32_t nt = 0;
    char why[200] = "";
    if (res->rc == DIR_OK) {
        logon_limit_succeeded(c, typed);
        a = logon_groups_match(c->gw->cfg->cim_admin_group, res->groups) ? 1 : 0;
    } else if (logon_dir_refusal(c->gw, res, &code, &nt, why, sizeof why)) {
        a = -2;
    } else {
        logon_limit_failed(c, typed);
        a = -1;
    }
    sign_in_result(&w, typed, a, res->identity, false, code, nt, why, true);
    if (!c->dead)
        buf_consume(&c->in, c->body_need);
    c->body_need = 0;
    finish(c, w.keep);
    if (!c->dead)
        conn_update_io(c);
}

static void sign_in(struct wreq *w)
{
    struct conn *c = w->c;
    struct gateway *gw = c->gw;
    if (!same_origin(w->req)) {
        log_warn("web console: cross-origin sign-in from %s refused", c->peer_str);
        page(w, 403, "login.html", "Cross-origin request refused.", NULL);
        return;
    }
    char user[400], pass[256];
    int ul = console_form_get(w->body, w->blen, "username", user, sizeof user);
    int pl = console_form_get(w->body, w->blen, "password", pass, sizeof pass);
    if (ul <= 0 || pl < 0) {
        OPENSSL_cleanse(pass, sizeof pass);
        page(w, 400, "login.html", "Enter a user name (DOMAIN\\user) and a password.", NULL);
        return;
    }
    char why[160] = "", who[512] = "";
    bool blocked = logon_limit_blocked(c, NULL, why, sizeof why);
    int a = -1;
    char dom[USERS_DOMAIN_MAX], name[USERS_NAME_MAX];
    if (!blocked && logon_password_split(gw, user, dom, sizeof dom, name, sizeof name) == 0 &&
        logon_password_for_directory(gw, dom, name)) {
        /* a domain account: winbindd checks the password, the answer comes later */
        str_copy(c->logon->sent, user, sizeof c->logon->sent);
        if (logon_limit_blocked(c, user, why, sizeof why)) {
            blocked = true;
        } else if (logon_password_start(c, dom, name, pass, sign_in_directory_done) == 0) {
            OPENSSL_cleanse(pass, sizeof pass);
            w->pending = true;
            return;
        } else {
            OPENSSL_cleanse(pass, sizeof pass);
            sign_in_result(w, user, -2, user, false, 1311, 0, "directory workers not running",
                           true);
            return;
        }
    }
    if (!blocked) {
        a = mgmt_check_account(gw, user, pass, who, sizeof who);
        blocked = logon_limit_blocked(c, who, why, sizeof why);
        if (!blocked && a < 0)
            logon_limit_failed(c, who);
        else if (!blocked)
            logon_limit_succeeded(c, who);
    }
    OPENSSL_cleanse(pass, sizeof pass);
    sign_in_result(w, user, a, who, blocked, 1326, 0, blocked ? why : "bad credentials", false);
}

static const char CLEAR_COOKIE[] =
    "Set-Cookie: " COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0\r\n";

static void sign_out(struct wreq *w)
{
    if (!same_origin(w->req) || (w->ss && !csrf_ok(w))) {
        page(w, 403, "login.html", "Sign-out refused: the request did not come from the console.",
             NULL);
        return;
    }
    if (w->ss) {
        log_info("web console: %s signed out", w->ss->user);
        console_session_end(w->ss);
        w->ss = NULL;
    }
    redirect(w, 303, "/console/login", CLEAR_COOKIE);
}

/* ---------- the API ---------- */

static const char *type_kind(int t)
{
    return t == CIM_STRING ? "s" : t == CIM_BOOLEAN ? "b" : "n";
}

/* Writes one instance as a JSON object keyed by the WMI property names. */
static void json_instance(struct buf *b, const struct cim_instance *in)
{
    buf_put_u8(b, '{');
    for (size_t i = 0; i < in->cls->nprops; i++) {
        const struct cim_property *p = &in->cls->props[i];
        const char *v = in->values[i];
        if (i)
            buf_put_u8(b, ',');
        console_json_str(b, p->name);
        buf_put_u8(b, ':');
        const char *k = type_kind(p->type);
        if (!v)
            buf_append_str(b, "null");
        else if (*k == 'b')
            buf_append_str(b, str_ieq(v, "TRUE") ? "true" : "false");
        else if (*k == 'n' && *v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 20)
            buf_append_str(b, v);
        else
            console_json_str(b, v);
    }
    buf_put_u8(b, '}');
}

struct rows_ctx {
    struct buf *b;
    size_t n;
    bool truncated;
};

static int row_cb(const struct cim_instance *in, void *vctx)
{
    struct rows_ctx *r = vctx;
    if (r->n >= WEB_MAX_ROWS) {
        r->truncated = true;
        return 1;
    }
    if (r->n++)
        buf_put_u8(r->b, ',');
    json_instance(r->b, in);
    return 0;
}

static void api_connections(struct wreq *w)
{
    struct gateway *gw = w->c->gw;
    struct buf b = BUF_INIT;
    struct rows_ctx r = {&b, 0, false};
    buf_append_str(&b, "{\"connections\":[");
    provider_enumerate(gw, cim_find_class("Win32_TSGatewayConnection"), row_cb, &r);
    buf_printf(&b, "],\"total\":%zu,\"truncated\":%s}", gw->reg.count,
               r.truncated ? "true" : "false");
    respond_json(w, 200, &b);
    buf_free(&b);
}

static void api_policy(struct wreq *w)
{
    static const char *const classes[] = {
        "Win32_TSGatewayConnectionAuthorizationPolicy",
        "Win32_TSGatewayResourceAuthorizationPolicy",
        "Win32_TSGatewayResourceGroup",
        "Win32_TSGatewayServerSettings",
    };
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"classes\":[");
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        const struct cim_class *cls = cim_find_class(classes[i]);
        struct rows_ctx r = {&b, 0, false};
        buf_printf(&b, "%s{\"name\":", i ? "," : "");
        console_json_str(&b, cls->name);
        buf_append_str(&b, ",\"doc\":");
        console_json_str(&b, cls->doc);
        buf_append_str(&b, ",\"instances\":[");
        provider_enumerate(w->c->gw, cls, row_cb, &r);
        buf_append_str(&b, "]}");
    }
    buf_append_str(&b, "]}");
    respond_json(w, 200, &b);
    buf_free(&b);
}

/* Recent events from the hub's ring, newest first: ?id=N (one event id), ?q=TEXT (in any field's
 * value, case-insensitive), ?limit=N (default and at most WEB_MAX_EVENTS). */
static void api_events(struct wreq *w)
{
    char v[128], q[128] = "";
    uint64_t id = 0, limit = WEB_MAX_EVENTS;
    if (console_form_get(w->query, strlen(w->query), "id", v, sizeof v) > 0 &&
        parse_u64(v, EVENT_ID_MIN, EVENT_ID_MAX, &id) < 0) {
        json_error(w, 400, "id must be an event id (200..307)");
        return;
    }
    if (console_form_get(w->query, strlen(w->query), "limit", v, sizeof v) > 0 &&
        parse_u64(v, 1, WEB_MAX_EVENTS, &limit) < 0) {
        json_error(w, 400, "limit must be 1..500");
        return;
    }
    if (console_form_get(w->query, strlen(w->query), "q", q, sizeof q) == CONSOLE_FIELD_BAD) {
        json_error(w, 400, "q is malformed or too long");
        return;
    }
    struct buf b = BUF_INIT;
    size_t n = event_history_count(), out = 0;
    buf_append_str(&b, "{\"events\":[");
    for (size_t i = n; i-- > 0 && out < limit;) {
        const struct event *ev = event_history_at(i);
        if (!ev || (id && (uint64_t)ev->id != id))
            continue;
        bool hit = !q[0];
        for (unsigned f = 0; f < ev->nfields && !hit; f++)
            hit = strcasestr(ev->f[f].value, q) != NULL;
        if (!hit)
            continue;
        buf_printf(&b, "%s{\"seq\":%llu,\"id\":%d,\"time\":", out++ ? "," : "",
                   (unsigned long long)ev->seq, ev->id);
        console_json_str(&b, ev->time);
        buf_append_str(&b, ",\"fields\":{");
        for (unsigned f = 0; f < ev->nfields; f++) {
            buf_append_str(&b, f ? "," : "");
            console_json_str(&b, ev->f[f].key);
            buf_put_u8(&b, ':');
            console_json_str(&b, ev->f[f].value);
        }
        buf_append_str(&b, "}}");
    }
    buf_printf(&b, "],\"kept\":%zu,\"total\":%llu}", n, (unsigned long long)event_count_total());
    respond_json(w, 200, &b);
    buf_free(&b);
}

static void api_session(struct wreq *w)
{
    struct gateway *gw = w->c->gw;
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"user\":");
    console_json_str(&b, w->ss->user);
    buf_append_str(&b, ",\"csrf\":");
    console_json_str(&b, w->ss->csrf);
    buf_printf(&b, ",\"expiresIn\":%u,\"idleTimeout\":%u,\"adminGroup\":",
               console_session_left_s(&gw->web->sessions, w->ss, now_ms()),
               gw->cfg->web_idle_ms / 1000);
    console_json_str(&b, gw->cfg->cim_admin_group);
    buf_append_str(&b, "}");
    respond_json(w, 200, &b);
    buf_free(&b);
}

/* Disconnect (key=T:C) and DisconnectUser (user=DOMAIN\user), through the provider. */
static void api_method(struct wreq *w, bool user_method)
{
    struct gateway *gw = w->c->gw;
    const char *method = user_method ? "DisconnectUser" : "Disconnect";
    const char *field = user_method ? "user" : "key";
    char v[CONSOLE_USER_MAX];
    if (console_form_get(w->body, w->blen, field, v, sizeof v) < 0) {
        json_error(w, 400,
                   user_method ? "user (DOMAIN\\user) is required"
                               : "key (ConnectionKey) is required");
        return;
    }
    const struct cim_class *cls = cim_find_class("Win32_TSGatewayConnection");
    size_t n = 0;
    if (user_method)
        n = reg_find_user(&gw->reg, v, NULL, 0);
    struct cim_arg arg = {"UserName", v};
    uint32_t ret = 0;
    gw->defer_flush = true; /* CLOSE_CHANNELs are queued now and written after the answer */
    uint32_t r = provider_invoke(gw, cls, method, user_method ? NULL : v, user_method ? &arg : NULL,
                                 user_method ? 1 : 0, &ret);
    gw->defer_flush = false;
    if (r)
        ret = r;
    if (!user_method)
        n = ret == 0;
    else if (ret != 0)
        n = 0;
    log_info("web console: %s called %s(%s) from %s: ReturnValue %u, %zu connection(s)",
             w->ss->user, method, v, w->c->peer_str, ret, n);
    const char *name = wbem_code_name(ret);
    struct buf b = BUF_INIT;
    buf_append_str(&b, "{\"Method\":");
    console_json_str(&b, method);
    buf_append_str(&b, user_method ? ",\"UserName\":" : ",\"ConnectionKey\":");
    console_json_str(&b, v);
    buf_printf(&b, ",\"ReturnValue\":%u,\"Name\":", ret);
    console_json_str(&b, name ? name : "");
    buf_printf(&b, ",\"Disconnected\":%zu}", n);
    respond_json(w, 200, &b);
    buf_free(&b);
}

/* ---------- routing ---------- */

static void serve_asset(struct wreq *w, const char *name)
{
    const struct console_asset *a = console_asset_find(name);
    /* the pages are served by their own routes, with a session check */
    if (!a || strstr(name, ".html")) {
        respond(w, 404, "text/plain; charset=utf-8", NULL, "not found\n", 10);
        return;
    }
    char extra[160];
    snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: no-cache\r\n", a->etag);
    const char *inm = http_request_header(w->req, "If-None-Match");
    if (inm && !strcmp(inm, a->etag)) {
        respond(w, 304, NULL, extra, "", 0);
        return;
    }
    respond(w, 200, a->type, extra, a->data, a->len);
}

static void route(struct wreq *w)
{
    const char *m = w->req->method, *p = w->path;
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    w->ss = find_session(w);
    if (w->ss)
        preauth_release(w->c); /* a signed-in administrator's connection is no flood suspect */
    if (!strcmp(p, "/console")) {
        redirect(w, 301, "/console/", NULL);
    } else if (!strncmp(p, "/console/assets/", 16) && get) {
        serve_asset(w, p + 16);
    } else if (!strcmp(p, "/console/login")) {
        if (post)
            sign_in(w);
        else if (get && w->ss)
            redirect(w, 303, "/console/", NULL);
        else if (get)
            page(w, 200, "login.html", NULL, NULL);
        else
            respond(w, 405, NULL, "Allow: GET, POST\r\n", "", 0);
    } else if (!strcmp(p, "/console/logout")) {
        if (post)
            sign_out(w);
        else
            respond(w, 405, NULL, "Allow: POST\r\n", "", 0);
    } else if (!strcmp(p, "/console/")) {
        if (!get)
            respond(w, 405, NULL, "Allow: GET\r\n", "", 0);
        else if (!w->ss)
            redirect(w, 303, "/console/login", NULL);
        else
            page(w, 200, "index.html", NULL, NULL);
    } else if (!strncmp(p, "/console/api/", 13)) {
        const char *api = p + 13;
        if (!w->ss) {
            json_error(w, 401, "not signed in");
        } else if (post && (!same_origin(w->req) || !csrf_ok(w))) {
            log_warn("web console: %s from %s: %s without a valid CSRF token or cross-origin: "
                     "refused",
                     w->ss->user, w->c->peer_str, p);
            json_error(w, 403, "request refused: missing or wrong CSRF token, or cross-origin");
        } else if (get && !strcmp(api, "session")) {
            api_session(w);
        } else if (get && !strcmp(api, "connections")) {
            api_connections(w);
        } else if (get && !strcmp(api, "policy")) {
            api_policy(w);
        } else if (get && !strcmp(api, "events")) {
            api_events(w);
        } else if (post && !strcmp(api, "disconnect")) {
            api_method(w, false);
        } else if (post && !strcmp(api, "disconnect-user")) {
            api_method(w, true);
        } else {
            json_error(w, 404, "no such API");
        }
    } else {
        respond(w, 404, "text/plain; charset=utf-8", NULL, "not found\n", 10);
    }
}

/* After the answer: the next request on this connection, or close once it is written. */
static void finish(struct conn *c, bool keep)
{
    if (c->dead)
        return;
    if (!keep) {
        c->phase = CONN_HTTP;
        conn_after_flush_close(c);
        return;
    }
    http_parser_reset(c->hp);
    c->phase = CONN_HTTP;
    c->deadline_ms = now_ms() + WEB_KEEPALIVE_MS;
    conn_flush(c);
}

static bool wants_keepalive(const struct http_request *req)
{
    const char *conn = http_request_header(req, "Connection");
    if (req->version_minor == 0)
        return conn && http_header_has_token(conn, "keep-alive");
    return !conn || !http_header_has_token(conn, "close");
}

static int init_wreq(struct wreq *w, struct conn *c)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->req = &c->hp->req;
    w->keep = wants_keepalive(w->req) && !c->gw->stopping;
    return console_split_target(w->req->target, w->path, sizeof w->path, &w->query);
}

void web_on_request(struct conn *c)
{
    const struct http_request *req = &c->hp->req;
    if (strncmp(req->target, "/console", 8) != 0 ||
        (req->target[8] && req->target[8] != '/' && req->target[8] != '?')) {
        if (c->cim) {
            cim_on_request(c);
            return;
        }
        conn_send_simple(c, 404, "Not Found", NULL, true);
        return;
    }
    struct wreq w;
    if (init_wreq(&w, c) < 0) {
        conn_send_simple(c, 414, "URI Too Long", NULL, true);
        return;
    }
    if (!strcmp(req->method, "POST")) {
        if (req->chunked || req->content_length < 0) {
            conn_send_simple(c, 411, "Length Required", NULL, true);
            return;
        }
        if (req->content_length > WEB_MAX_BODY) {
            conn_send_simple(c, 413, "Payload Too Large", NULL, true);
            return;
        }
        c->body_need = (size_t)req->content_length;
        c->phase = CONN_WEB_BODY;
        web_on_body(c);
        return;
    }
    if (req->chunked || req->content_length > 0) {
        conn_send_simple(c, 400, "Bad Request", NULL, true);
        return;
    }
    route(&w);
    finish(c, w.keep);
}

void web_on_body(struct conn *c)
{
    if (buf_len(&c->in) < c->body_need || logon_password_pending(c))
        return; /* need more, or the domain is checking a password */
    struct wreq w;
    init_wreq(&w, c); /* the target fitted when the request arrived */
    w.body = (const char *)buf_data(&c->in);
    w.blen = c->body_need;
    route(&w);
    if (w.pending)
        return; /* sign_in_directory_done() answers */
    if (!c->dead)
        buf_consume(&c->in, c->body_need);
    c->body_need = 0;
    finish(c, w.keep);
}
