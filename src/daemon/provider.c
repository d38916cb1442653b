#include "daemon/provider.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/farm.h"
#include "daemon/gateway.h"
#include "daemon/ops.h"
#include "tsgu/tsgu.h"

/* ---------- Win32_TSGatewayConnection ---------- */

static void conn_instance(const struct reg_entry *e, struct cim_instance *in)
{
    char t[26];
    uint64_t now = now_ms();
    in->cls = cim_find_class("Win32_TSGatewayConnection");
    cim_setf(in, 0, "%llu:%u", (unsigned long long)e->tunnel_id, e->channel_id);
    cim_setf(in, 1, "%llu", (unsigned long long)e->tunnel_id);
    cim_setf(in, 2, "%u", e->channel_id);
    cim_set(in, 3, e->user);
    cim_set(in, 4, e->full_name);
    cim_set(in, 5, e->client_addr);
    cim_format_datetime(e->connected_us, t);
    cim_set(in, 6, t);
    cim_format_interval((now - e->last_activity_ms) * 1000u, t);
    cim_set(in, 7, t);
    cim_set(in, 8, e->resource);
    cim_set(in, 9, "RDP");
    cim_setf(in, 10, "%u", e->port);
    cim_setf(in, 11, "%llu", (unsigned long long)(e->bytes_to_client / 1024u));
    cim_setf(in, 12, "%llu", (unsigned long long)(e->bytes_from_client / 1024u));
    cim_format_interval((now - e->connected_ms) * 1000u, t);
    cim_set(in, 13, t);
    cim_setf(in, 14, "%u", e->transport);
}

struct enum_ctx {
    int (*fn)(const struct cim_instance *in, void *ctx);
    void *ctx;
    int stop;
};

static void enum_conn(struct reg_entry *e, void *vctx)
{
    struct enum_ctx *ec = vctx;
    if (ec->stop)
        return;
    struct cim_instance in = {0};
    conn_instance(e, &in);
    ec->stop = ec->fn(&in, ec->ctx);
    cim_instance_clear(&in);
}

static int parse_key(const char *key, uint64_t *tunnel, uint32_t *channel)
{
    char buf[64];
    if (!key || str_copy(buf, key, sizeof buf) >= sizeof buf)
        return -1;
    char *colon = strchr(buf, ':');
    if (!colon)
        return -1;
    *colon = 0;
    uint64_t t, c;
    if (parse_u64(buf, 1, UINT64_MAX, &t) < 0 || parse_u64(colon + 1, 0, UINT32_MAX, &c) < 0)
        return -1;
    *tunnel = t;
    *channel = (uint32_t)c;
    return 0;
}

/* Starts the administrator's disconnect of one connection: event 202 now, the registry forgets
 * it now, and the tunnel gets CLOSE_CHANNEL(E_PROXY_CONNECTIONABORTED) with a short grace. */
static void admin_disconnect(struct gateway *gw, struct reg_entry *e, const char *method)
{
    struct tunnel *t = e->owner;
    /* event 202 below is the record of it: no second log line per connection */
    t->admin_closed = true;
    stats_admin_disconnect(method);
    uint64_t dur = (now_ms() - e->connected_ms) / 1000;
    if (!gw_event_wanted(gw, 202))
        goto skip_event;
    struct event_line ev;
    ev_begin(&ev, 202);
    ev_str(&ev, "Username", e->user);
    ev_str(&ev, "IpAddress", e->client_addr);
    ev_u64(&ev, "TunnelId", e->tunnel_id);
    ev_str(&ev, "Resource", e->resource);
    ev_u64(&ev, "Port", e->port);
    ev_u64(&ev, "ChannelId", e->channel_id);
    ev_u64(&ev, "BytesReceived", e->bytes_from_client);
    ev_u64(&ev, "BytesTransfered", e->bytes_to_client);
    ev_u64(&ev, "SessionDuration", dur);
    ev_str(&ev, "ConnectionProtocol", "HTTP");
    ev_str(&ev, "Method", method);
    ev_end(&ev);
skip_event:
    reg_remove(&gw->reg, e);
    tunnel_begin_close(t, TSGU_CLOSE_CONNECTIONABORTED, "disconnected by an administrator");
}

struct collect_ctx {
    struct reg_entry **v;
    size_t n, cap;
};

static void collect_all(struct reg_entry *e, void *vctx)
{
    struct collect_ctx *c = vctx;
    if (c->n < c->cap)
        c->v[c->n++] = e;
}

/* Tunnels with no open channel -- still in setup, or between a closed channel and a new
 * CHANNEL_CREATE -- are not in the registry (Win32_TSGatewayConnection lists channels). A
 * disconnect by user or protocol ends them too (event 202 with ChannelId 0), so that nobody
 * opens a new channel on a tunnel left behind. They are indexed by user in gw->chanless: a
 * lookup, not a walk over every tunnel. user NULL: every such tunnel. */
static size_t disconnect_channelless(struct gateway *gw, const char *user, const char *method)
{
    struct collect_ctx cc = {.cap = user ? reg_find_user(&gw->chanless, user, NULL, 0)
                                         : gw->chanless.count};
    if (!cc.cap)
        return 0;
    cc.v = calloc(cc.cap, sizeof *cc.v);
    if (!cc.v)
        return 0;
    if (user)
        cc.n = reg_find_user(&gw->chanless, user, cc.v, cc.cap);
    else
        reg_foreach(&gw->chanless, collect_all, &cc);
    if (cc.n > cc.cap)
        cc.n = cc.cap;
    size_t n = 0;
    for (size_t i = 0; i < cc.n; i++) {
        struct tunnel *t = cc.v[i]->owner;
        if (t->dead || t->state == TUN_CLOSING)
            continue;
        t->admin_closed = true;
        stats_admin_disconnect(method);
        if (gw_event_wanted(gw, 202)) {
            struct event_line ev;
            ev_begin(&ev, 202);
            ev_str(&ev, "Username", t->reg.user);
            ev_str(&ev, "IpAddress", t->reg.client_addr);
            ev_u64(&ev, "TunnelId", t->id);
            ev_u64(&ev, "ChannelId", 0);
            ev_str(&ev, "ConnectionProtocol", "HTTP");
            ev_str(&ev, "Method", method);
            ev_end(&ev);
        }
        tunnel_close(t, "disconnected by an administrator");
        n++;
    }
    free(cc.v);
    return n;
}

static uint32_t m_disconnect_user(struct gateway *gw, const char *name)
{
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX];
    if (!name || !*name)
        return WBEM_E_INVALID_METHOD_PARAMETERS;
    if (user_split_account(name, dom, sizeof dom, user, sizeof user) < 0)
        return WBEM_E_INVALID_PARAMETER;
    size_t n = reg_find_user(&gw->reg, name, NULL, 0);
    struct reg_entry **v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v)
        return WBEM_E_FAILED;
    if (n)
        n = reg_find_user(&gw->reg, name, v, n);
    for (size_t i = 0; i < n; i++)
        admin_disconnect(gw, v[i], "DisconnectUser");
    free(v);
    n += disconnect_channelless(gw, name, "DisconnectUser");
    return n ? 0 : WBEM_E_NOT_FOUND;
}

static uint32_t m_disconnect_protocol(struct gateway *gw, const char *proto)
{
    if (!proto || !*proto)
        return WBEM_E_INVALID_METHOD_PARAMETERS;
    if (!str_ieq(proto, "RDP") && !str_ieq(proto, "TS"))
        return WBEM_E_INVALID_PARAMETER;
    struct collect_ctx cc = {.cap = gw->reg.count};
    cc.v = cc.cap ? calloc(cc.cap, sizeof *cc.v) : NULL;
    if (cc.cap && !cc.v)
        return WBEM_E_FAILED;
    if (cc.cap)
        reg_foreach(&gw->reg, collect_all, &cc);
    for (size_t i = 0; i < cc.n; i++)
        admin_disconnect(gw, cc.v[i], "DisconnectProtocol");
    free(cc.v);
    size_t n = cc.n + disconnect_channelless(gw, NULL, "DisconnectProtocol");
    return n ? 0 : WBEM_E_NOT_FOUND;
}

/* ---------- configuration classes ---------- */

static void join_list(const struct policy_list *l, char *out, size_t outsz)
{
    out[0] = 0;
    size_t pos = 0;
    for (size_t i = 0; i < l->n; i++)
        pos += (size_t)snprintf(out + pos, pos < outsz ? outsz - pos : 0, "%s%s", i ? ";" : "",
                                l->v[i]);
}

static void format_resource(const struct policy_resource *r, char *out, size_t outsz)
{
    char a[64];
    if (r->kind == RES_HOST_PATTERN) {
        str_copy(out, r->pattern, outsz);
        return;
    }
    inet_ntop(r->kind == RES_IPV4 ? AF_INET : AF_INET6, r->addr, a, sizeof a);
    if ((r->kind == RES_IPV4 && r->prefix == 32) || (r->kind == RES_IPV6 && r->prefix == 128))
        str_copy(out, a, outsz);
    else
        snprintf(out, outsz, "%s/%u", a, r->prefix);
}

static void join_resources(const struct policy_resource *r, size_t n, char *out, size_t outsz)
{
    size_t pos = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        char one[300];
        format_resource(&r[i], one, sizeof one);
        pos +=
            (size_t)snprintf(out + pos, pos < outsz ? outsz - pos : 0, "%s%s", i ? ";" : "", one);
    }
}

static const char *tf(bool b)
{
    return b ? "TRUE" : "FALSE";
}

static void cap_instance(const struct policy_cap *cap, size_t order, struct cim_instance *in)
{
    char groups[4096];
    in->cls = cim_find_class("Win32_TSGatewayConnectionAuthorizationPolicy");
    int type = cap->redir_type;
    join_list(&cap->user_groups, groups, sizeof groups);
    cim_set(in, 0, cap->name);
    cim_setf(in, 1, "%zu", order);
    cim_set(in, 2, tf(false));
    cim_set(in, 3, tf(cap->password_allowed));
    cim_set(in, 4, tf(false));
    cim_set(in, 5, tf(cap->cookie_allowed));
    cim_set(in, 6, tf(cap->enabled));
    cim_setf(in, 7, "%u", (cap->idle_timeout_s + 59) / 60);
    cim_setf(in, 8, "%u", (cap->session_timeout_s + 59) / 60);
    cim_setf(in, 9, "%d", cap->session_timeout_action);
    cim_setf(in, 10, "%d", type);
    cim_set(in, 11, tf(type == 2 && cap->disable_drives));
    cim_set(in, 12, tf(type == 2 && cap->disable_printers));
    cim_set(in, 13, tf(type == 2 && cap->disable_serial_ports));
    cim_set(in, 14, tf(type == 2 && cap->disable_clipboard));
    cim_set(in, 15, tf(type == 2 && cap->disable_pnp));
    cim_set(in, 16, groups);
    cim_set(in, 17, "");
    cim_set(in, 18, tf(false));
    cim_set(in, 19, tf(false));
}

static void rap_instance(const struct policy_rap *rap, struct cim_instance *in)
{
    char groups[4096], ports[2048];
    in->cls = cim_find_class("Win32_TSGatewayResourceAuthorizationPolicy");
    join_list(&rap->user_groups, groups, sizeof groups);
    size_t pos = 0;
    ports[0] = 0;
    if (rap->any_port)
        str_copy(ports, "*", sizeof ports);
    else
        for (size_t i = 0; i < rap->nports; i++)
            pos += (size_t)snprintf(ports + pos, pos < sizeof ports ? sizeof ports - pos : 0,
                                    "%s%u", i ? ";" : "", rap->ports[i]);
    cim_set(in, 0, rap->name);
    cim_set(in, 1, rap->description);
    cim_set(in, 2, tf(rap->enabled));
    cim_set(in, 3, "RG");
    if (rap->group_name[0]) {
        cim_set(in, 4, rap->group_name);
    } else {
        /* inline resources behave as an anonymous group named after the RAP */
        char name[POLICY_NAME_MAX + 8];
        snprintf(name, sizeof name, "rap:%s", rap->name);
        cim_set(in, 4, name);
    }
    cim_set(in, 5, groups);
    cim_set(in, 6, "RDP");
    cim_set(in, 7, ports);
}

static void rg_instance(const struct policy *p, const char *name, const char *desc,
                        const struct policy_resource *res, size_t nres, struct cim_instance *in)
{
    char raps[4096] = "", list[8192];
    size_t pos = 0;
    in->cls = cim_find_class("Win32_TSGatewayResourceGroup");
    for (size_t i = 0; i < p->nraps; i++) {
        const struct policy_rap *r = &p->raps[i];
        char rg[POLICY_NAME_MAX + 8];
        if (r->group_name[0])
            str_copy(rg, r->group_name, sizeof rg);
        else
            snprintf(rg, sizeof rg, "rap:%s", r->name);
        if (str_ieq(rg, name))
            pos += (size_t)snprintf(raps + pos, pos < sizeof raps ? sizeof raps - pos : 0, "%s%s",
                                    pos ? ";" : "", r->name);
    }
    join_resources(res, nres, list, sizeof list);
    cim_set(in, 0, name);
    cim_set(in, 1, desc);
    cim_set(in, 2, raps);
    cim_set(in, 3, list);
}

static void ss_instance(const struct gateway *gw, struct cim_instance *in)
{
    in->cls = cim_find_class("Win32_TSGatewayServerSettings");
    uint32_t max = gw->cfg->max_connections;
    cim_setf(in, 0, "%u", max ? max : 4294967295u);
    cim_set(in, 1, tf(max == 0));
    cim_set(in, 2, "4294967295");
    cim_set(in, 3, "tsgw");
    cim_set(in, 4, "1");
    cim_set(in, 5, "7");
    char t[26];
    const struct gw_config *cfg = gw->cfg;
    cim_set(in, 6, cfg->admin_message);
    if (cfg->admin_message_start) {
        cim_format_datetime((uint64_t)cfg->admin_message_start * 1000000u, t);
        cim_set(in, 7, t);
    } else {
        cim_set(in, 7, "");
    }
    if (cfg->admin_message_end) {
        cim_format_datetime((uint64_t)cfg->admin_message_end * 1000000u, t);
        cim_set(in, 8, t);
    } else {
        cim_set(in, 8, "");
    }
    cim_set(in, 9, cfg->consent_message);
    cim_set(in, 10, tf(cfg->only_consent_capable_clients));
    cim_set(in, 11, tf(false));
    cim_set(in, 12, tf(false));
    cim_set(in, 13, "0");
    cim_set(in, 14, tf(true));
    /* Windows' one switch covers both mechanisms: NTLM's, and Kerberos' when a keytab is set */
    cim_set(in, 15,
            tf(cfg->require_channel_binding &&
               (!cfg->keytab[0] || cfg->channel_binding == CONF_CB_REQUIRED)));
}

/* Builds every instance of a configuration class into a caller-provided callback. */
static int enum_config(struct gateway *gw, const struct cim_class *c,
                       int (*fn)(const struct cim_instance *in, void *ctx), void *ctx)
{
    const struct policy *p = &gw->cfg->policy;
    const char *name = c->name;
    int stop = 0;
    if (str_ieq(name, "Win32_TSGatewayConnectionAuthorizationPolicy")) {
        for (size_t i = 0; i < p->ncaps && !stop; i++) {
            struct cim_instance in = {0};
            cap_instance(&p->caps[i], i + 1, &in);
            stop = fn(&in, ctx);
            cim_instance_clear(&in);
        }
    } else if (str_ieq(name, "Win32_TSGatewayResourceAuthorizationPolicy")) {
        for (size_t i = 0; i < p->nraps && !stop; i++) {
            struct cim_instance in = {0};
            rap_instance(&p->raps[i], &in);
            stop = fn(&in, ctx);
            cim_instance_clear(&in);
        }
    } else if (str_ieq(name, "Win32_TSGatewayResourceGroup")) {
        for (size_t i = 0; i < p->ngroups && !stop; i++) {
            struct cim_instance in = {0};
            rg_instance(p, p->groups[i].name, p->groups[i].description, p->groups[i].res,
                        p->groups[i].nres, &in);
            stop = fn(&in, ctx);
            cim_instance_clear(&in);
        }
        for (size_t i = 0; i < p->nraps && !stop; i++) {
            if (p->raps[i].group_name[0])
                continue;
            char nm[POLICY_NAME_MAX + 8];
            snprintf(nm, sizeof nm, "rap:%s", p->raps[i].name);
            struct cim_instance in = {0};
            rg_instance(p, nm, "inline resources of a RAP", p->raps[i].res, p->raps[i].nres, &in);
            stop = fn(&in, ctx);
            cim_instance_clear(&in);
        }
    } else if (str_ieq(name, "Win32_TSGatewayServerSettings")) {
        struct cim_instance in = {0};
        ss_instance(gw, &in);
        fn(&in, ctx);
        cim_instance_clear(&in);
    } else if (str_ieq(name, "Win32_TSGatewayLoadBalancer")) {
        char servers[4096];
        struct cim_instance in = {.cls = c};
        farm_servers(gw, servers, sizeof servers);
        cim_set(&in, 0, servers);
        fn(&in, ctx);
        cim_instance_clear(&in);
    }
    return 0;
}

/* ---------- entry points ---------- */

int provider_enumerate(struct gateway *gw, const struct cim_class *c,
                       int (*fn)(const struct cim_instance *in, void *ctx), void *ctx)
{
    if (str_ieq(c->name, "Win32_TSGatewayConnection")) {
        struct enum_ctx ec = {fn, ctx, 0};
        reg_foreach(&gw->reg, enum_conn, &ec);
        return 0;
    }
    return enum_config(gw, c, fn, ctx);
}

struct get_ctx {
    const char *key;
    int keyi;
    struct cim_instance *out;
    bool found;
};

static int get_cb(const struct cim_instance *in, void *vctx)
{
    struct get_ctx *g = vctx;
    const char *v = in->values[g->keyi];
    if (!v || !str_ieq(v, g->key))
        return 0;
    g->out->cls = in->cls;
    for (size_t i = 0; i < CIM_MAX_PROPS; i++)
        cim_set(g->out, (int)i, in->values[i]);
    g->found = true;
    return 1;
}

uint32_t provider_get(struct gateway *gw, const struct cim_class *c, const char *key,
                      struct cim_instance *out)
{
    if (!key)
        return WBEM_E_INVALID_OBJECT_PATH;
    if (str_ieq(c->name, "Win32_TSGatewayConnection")) {
        uint64_t t;
        uint32_t ch;
        if (parse_key(key, &t, &ch) < 0)
            return WBEM_E_NOT_FOUND;
        struct reg_entry *e = reg_find(&gw->reg, t, ch);
        if (!e)
            return WBEM_E_NOT_FOUND;
        conn_instance(e, out);
        return 0;
    }
    struct get_ctx g = {key, cim_key_index(c), out, false};
    enum_config(gw, c, get_cb, &g);
    return g.found ? 0 : WBEM_E_NOT_FOUND;
}

static const char *arg(const struct cim_arg *args, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (args[i].name && str_ieq(args[i].name, name))
            return args[i].value;
    return NULL;
}

uint32_t provider_invoke(struct gateway *gw, const struct cim_class *c, const char *method,
                         const char *key, const struct cim_arg *args, size_t nargs, uint32_t *ret)
{
    const struct cim_method *m = cim_find_method(c, method);
    if (!m)
        return WBEM_E_INVALID_METHOD;
    if (!key && !m->on_class)
        return WBEM_E_INVALID_OBJECT_PATH;
    if (str_ieq(m->name, "Disconnect")) {
        uint64_t t;
        uint32_t ch;
        struct reg_entry *e = NULL;
        if (parse_key(key, &t, &ch) == 0)
            e = reg_find(&gw->reg, t, ch);
        if (!e) {
            *ret = WBEM_E_NOT_FOUND;
            return 0;
        }
        admin_disconnect(gw, e, "Disconnect");
        *ret = 0;
        return 0;
    }
    if (key && str_ieq(c->name, "Win32_TSGatewayConnection")) {
        /* called on an instance: the instance must exist, the method acts on the class */
        uint64_t t;
        uint32_t ch;
        if (parse_key(key, &t, &ch) < 0 || !reg_find(&gw->reg, t, ch)) {
            *ret = WBEM_E_NOT_FOUND;
            return 0;
        }
    }
    if (str_ieq(m->name, "DisconnectUser")) {
        *ret = m_disconnect_user(gw, arg(args, nargs, "UserName"));
        return 0;
    }
    if (str_ieq(m->name, "DisconnectProtocol")) {
        *ret = m_disconnect_protocol(gw, arg(args, nargs, "ProtocolName"));
        return 0;
    }
    return WBEM_E_INVALID_METHOD;
}
