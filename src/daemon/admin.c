/* Admin socket: a Unix stream socket speaking the line protocol of mgmt/proto.h.
 *
 * Authorization comes from the peer's credentials (SO_PEERCRED): uid 0, or a member of the
 * configured admin group. Everyone else gets WBEM_E_ACCESS_DENIED for every call. The socket
 * file itself is mode 0660, group = admin group, so non-members are usually stopped by the
 * kernel already; tsgwctl reports that case with the same code. */
#include "daemon/admin.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/event.h"
#include "core/log.h"
#include "core/logsink.h"
#include "core/util.h"
#include "daemon/farm.h"
#include "daemon/gateway.h"
#include "daemon/logon_limit.h"
#include "daemon/provider.h"
#include "mgmt/proto.h"
#include "mgmt/schema.h"

#define ADMIN_DEADLINE_MS 10000
#define ADMIN_MAX_CLIENTS 64
#define ADMIN_WATCH_OUT_HIGH (16 << 10) /* stop taking events while this much is unsent */
#define ADMIN_WATCH_SNDBUF (32 << 10)   /* kernel buffer of a watcher's socket */

struct admin_client {
    struct io io;
    struct gateway *gw;
    struct buf in, out;
    bool admin;
    uid_t uid;
    uint64_t deadline_ms;
    bool responded;
    struct event_sub *watch; /* "watch": the event stream follows the status line */
    bool watch_json;
    bool watch_broken; /* a write failed outside its callback: freed by the callback */
    bool waiting;      /* a farm-wide call is in progress; the answer comes from its callback */
    uint64_t farm_op;  /* its id (daemon/farm.h) */
    uint64_t t0_us;    /* when the call started */
    struct admin_client *next;
};

/* The client whose request is being handled (NULL when a test calls admin_process_line). */
static struct admin_client *g_cur;

/* A verb's status meaning "answered later" (never a WMI code). */
#define ADMIN_PENDING 0xFFFFFFFFu

/* ---------- verbs (the command table) ---------- */

struct verb {
    const char *name;
    int min_args, max_args;
    uint32_t (*fn)(struct gateway *gw, char **args, int nargs, struct buf *body);
    const char *usage;
};

struct emit_ctx {
    struct buf *body;
};

static void put_line(struct buf *b, char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_put_u8(b, '\t');
        mgmt_put_field(b, v[i]);
    }
    buf_put_u8(b, '\n');
}

static void put_header(struct buf *b, const struct cim_class *c)
{
    for (size_t i = 0; i < c->nprops; i++) {
        if (i)
            buf_put_u8(b, '\t');
        mgmt_put_field(b, c->props[i].name);
    }
    buf_put_u8(b, '\n');
}

static int emit_instance(const struct cim_instance *in, void *ctx)
{
    struct emit_ctx *e = ctx;
    put_line(e->body, (char **)in->values, in->cls->nprops);
    return 0;
}

static uint32_t v_enumerate(struct gateway *gw, char **a, int n, struct buf *body)
{
    const struct cim_class *c = cim_find_class(a[0]);
    if (!c)
        return WBEM_E_INVALID_CLASS;
    put_header(body, c);
    struct emit_ctx e = {body};
    provider_enumerate(gw, c, emit_instance, &e);
    return 0;
}

static uint32_t v_get(struct gateway *gw, char **a, int n, struct buf *body)
{
    const struct cim_class *c = cim_find_class(a[0]);
    if (!c)
        return WBEM_E_INVALID_CLASS;
    struct cim_instance in = {0};
    uint32_t r = provider_get(gw, c, a[1], &in);
    if (r == 0) {
        put_header(body, c);
        put_line(body, in.values, c->nprops);
    }
    cim_instance_clear(&in);
    return r;
}

static uint32_t v_invoke(struct gateway *gw, char **a, int n, struct buf *body)
{
    const struct cim_class *c = cim_find_class(a[0]);
    if (!c)
        return WBEM_E_INVALID_CLASS;
    const char *key = a[2] && a[2][0] ? a[2] : NULL;
    struct cim_arg args[MGMT_MAX_FIELDS];
    size_t nargs = 0;
    for (int i = 3; i < n; i++) {
        if (!a[i])
            continue;
        char *eq = strchr(a[i], '=');
        if (eq) {
            *eq = 0;
            args[nargs++] = (struct cim_arg){a[i], eq + 1};
        } else {
            args[nargs++] = (struct cim_arg){a[i], NULL};
        }
    }
    uint32_t ret = 0;
    uint64_t t0 = now_realtime_us();
    gw->defer_flush = true; /* CLOSE_CHANNELs are queued now and written after the answer */
    uint32_t r = provider_invoke(gw, c, a[1], key, args, nargs, &ret);
    gw->defer_flush = false;
    uint64_t us = now_realtime_us() - t0;
    if (r)
        return r;
    buf_printf(body, "ReturnValue\t%u\n", ret);
    /* server time: from the request's arrival at the provider until every matched tunnel is
     * closing (out of the registry, target closed, CLOSE_CHANNEL queued; the loop writes the
     * queued packets right after this answer) */
    buf_printf(body, "ServerTimeUs\t%llu\n", (unsigned long long)us);
    log_info("admin: %s.%s -> %u in %llu us", c->name, a[1], ret, (unsigned long long)us);
    return 0;
}

/* ---------- farm scope (docs/farm.md) ---------- */

static void respond(struct buf *out, uint32_t status, const char *msg, struct buf *body);
static void client_flush(struct admin_client *c);

static struct admin_client *client_waiting(struct gateway *gw, void *ctx, uint64_t id)
{
    for (struct admin_client *c = gw->admin_clients; c; c = c->next)
        if (c == ctx && c->waiting && c->farm_op == id)
            return c;
    return NULL;
}

struct farm_emit {
    struct buf *body;
};

static int emit_farm_row(const struct cim_instance *in, const char *node, void *ctx)
{
    struct farm_emit *e = ctx;
    for (size_t i = 0; i < in->cls->nprops; i++) {
        mgmt_put_field(e->body, in->values[i]);
        buf_put_u8(e->body, '\t');
    }
    mgmt_put_field(e->body, node);
    buf_put_u8(e->body, '\n');
    return 0;
}

static void farm_enum_done_cb(struct gateway *gw, void *ctx, uint64_t id, uint32_t status,
                              const struct buf *rows)
{
    struct admin_client *c = client_waiting(gw, ctx, id);
    if (!c)
        return;
    c->waiting = false;
    c->farm_op = 0;
    struct buf body = BUF_INIT;
    if (status == 0) {
        const struct cim_class *cls = cim_find_class("Win32_TSGatewayConnection");
        for (size_t i = 0; i < cls->nprops; i++) {
            mgmt_put_field(&body, cls->props[i].name);
            buf_put_u8(&body, '\t');
        }
        buf_append_str(&body, "Node\n");
        struct farm_emit e = {&body};
        farm_rows_foreach(rows, emit_farm_row, &e);
    }
    respond(&c->out, status, status ? "farm unreachable (use --local)" : "WBEM_S_NO_ERROR", &body);
    buf_free(&body);
    c->responded = true;
    client_flush(c);
}

static uint32_t v_farm_enumerate(struct gateway *gw, char **a, int n, struct buf *body)
{
    const struct cim_class *c = cim_find_class(a[0]);
    if (!c)
        return WBEM_E_INVALID_CLASS;
    if (!g_cur || !farm_enabled(gw) || !str_ieq(c->name, "Win32_TSGatewayConnection"))
        return v_enumerate(gw, a, n, body);
    uint64_t id = farm_enumerate(gw, farm_enum_done_cb, g_cur);
    if (!id)
        return FARM_E_UNREACHABLE;
    g_cur->waiting = true;
    g_cur->farm_op = id;
    return ADMIN_PENDING;
}

static void put_invoke_result(struct buf *body, uint32_t ret, uint64_t us, uint32_t nodes,
                              uint32_t ended)
{
    buf_printf(body, "ReturnValue\t%u\n", ret);
    buf_printf(body, "ServerTimeUs\t%llu\n", (unsigned long long)us);
    buf_printf(body, "Nodes\t%u\nEnded\t%u\n", nodes, ended);
}

static void farm_invoke_done_cb(struct gateway *gw, void *ctx, uint64_t id, uint32_t ret,
                                uint32_t nodes, uint32_t ended)
{
    struct admin_client *c = client_waiting(gw, ctx, id);
    if (!c)
        return;
    c->waiting = false;
    c->farm_op = 0;
    uint64_t us = now_realtime_us() - c->t0_us;
    struct buf body = BUF_INIT;
    put_invoke_result(&body, ret, us, nodes, ended);
    log_info("admin: farm-wide call -> %u in %llu us (%u node(s) answered, %u ended)", ret,
             (unsigned long long)us, nodes, ended);
    respond(&c->out, 0, "WBEM_S_NO_ERROR", &body);
    buf_free(&body);
    c->responded = true;
    client_flush(c);
}

static uint32_t v_farm_invoke(struct gateway *gw, char **a, int n, struct buf *body)
{
    const struct cim_class *c = cim_find_class(a[0]);
    if (!c)
        return WBEM_E_INVALID_CLASS;
    const struct cim_method *m = cim_find_method(c, a[1]);
    if (!g_cur || !farm_enabled(gw) || !m || !str_ieq(c->name, "Win32_TSGatewayConnection"))
        return v_invoke(gw, a, n, body);
    const char *key = a[2] && a[2][0] ? a[2] : NULL;
    if (str_ieq(m->name, "Disconnect") && (!key || !strchr(key, '/')))
        return v_invoke(gw, a, n, body);
    if (!str_ieq(m->name, "Disconnect") && key)
        return v_invoke(gw, a, n, body); /* called on an instance: this node's */
    const char *arg = NULL;
    for (int i = 3; i < n; i++) {
        if (!a[i])
            continue;
        char *eq = strchr(a[i], '=');
        if (eq &&
            ((str_ieq(m->name, "DisconnectUser") && !strncasecmp(a[i], "UserName=", 9)) ||
             (str_ieq(m->name, "DisconnectProtocol") && !strncasecmp(a[i], "ProtocolName=", 13))))
            arg = eq + 1;
    }
    uint32_t ret = 0;
    g_cur->t0_us = now_realtime_us();
    uint64_t id = farm_invoke(gw, m->name, key, arg, farm_invoke_done_cb, g_cur, &ret);
    if (!id) {
        put_invoke_result(body, ret, now_realtime_us() - g_cur->t0_us, 1, 0);
        return 0;
    }
    g_cur->waiting = true;
    g_cur->farm_op = id;
    return ADMIN_PENDING;
}

static uint32_t v_version(struct gateway *gw, char **a, int n, struct buf *body)
{
    buf_printf(body, "tsgwd\t" TSGW_VERSION "\n");
    return 0;
}

static const struct verb verbs[] = {
    {"enumerate", 1, 1, v_enumerate, "enumerate CLASS"},
    {"get", 2, 2, v_get, "get CLASS KEY"},
    {"invoke", 3, MGMT_MAX_FIELDS - 1, v_invoke, "invoke CLASS METHOD KEY|'' [NAME=VALUE...]"},
    {"version", 0, 0, v_version, "version"},
    {"blocks", 0, 0, logon_limit_admin_blocks, "blocks"},
    {"unblock", 1, 1, logon_limit_admin_unblock, "unblock ADDRESS|ACCOUNT|'ADDRESS ACCOUNT'"},
    {"farm-enumerate", 1, 1, v_farm_enumerate, "farm-enumerate CLASS"},
    {"farm-invoke", 3, MGMT_MAX_FIELDS - 1, v_farm_invoke,
     "farm-invoke CLASS METHOD KEY|'' [NAME=VALUE...]"},
};

/* ---------- access ---------- */

static bool peer_is_admin(struct gateway *gw, uid_t uid, gid_t gid)
{
    if (uid == 0)
        return true;
    struct group *g = getgrnam(gw->cfg->admin_group);
    if (!g)
        return false;
    if (gid == g->gr_gid)
        return true;
    struct passwd *pw = getpwuid(uid);
    if (!pw)
        return false;
    gid_t groups[256];
    int ng = 256;
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0)
        return false;
    for (int i = 0; i < ng; i++)
        if (groups[i] == g->gr_gid)
            return true;
    return false;
}

/* ---------- connection handling ---------- */

static void client_free(struct admin_client *c)
{
    struct gateway *gw = c->gw;
    for (struct admin_client **pp = (struct admin_client **)&gw->admin_clients; *pp;
         pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    gw->nadmin--;
    event_unsubscribe(c->watch);
    if (c->waiting)
        farm_cancel(gw, c->farm_op);
    io_del(&gw->loop, &c->io);
    close(c->io.fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static void respond(struct buf *out, uint32_t status, const char *msg, struct buf *body)
{
    buf_printf(out, "%s\t%u\t", MGMT_MAGIC, status);
    mgmt_put_field(out, msg);
    buf_put_u8(out, '\n');
    if (body && buf_len(body))
        buf_append(out, buf_data(body), buf_len(body));
}

void admin_process_line(struct gateway *gw, bool is_admin, unsigned uid, char *line,
                        struct buf *out)
{
    char *f[MGMT_MAX_FIELDS];
    int n = mgmt_split(line, f, MGMT_MAX_FIELDS);
    if (n < 2 || !f[0] || strcmp(f[0], MGMT_MAGIC) != 0 || !f[1]) {
        respond(out, WBEM_E_INVALID_PARAMETER, "malformed request (protocol " MGMT_MAGIC ")", NULL);
        return;
    }
    if (!is_admin) {
        log_warn("admin socket: uid %u is not root nor in group '%s': access denied", uid,
                 gw->cfg->admin_group);
        respond(out, WBEM_E_ACCESS_DENIED, "access denied", NULL);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        const struct verb *v = &verbs[i];
        if (strcmp(v->name, f[1]) != 0)
            continue;
        int nargs = n - 2;
        if (nargs < v->min_args || nargs > v->max_args) {
            respond(out, WBEM_E_INVALID_PARAMETER, v->usage, NULL);
            return;
        }
        for (int k = 0; k < v->min_args; k++)
            if (!f[2 + k] && !((v->fn == v_invoke || v->fn == v_farm_invoke) && k == 2)) {
                respond(out, WBEM_E_INVALID_PARAMETER, v->usage, NULL);
                return;
            }
        struct buf body = BUF_INIT;
        uint32_t r = v->fn(gw, f + 2, nargs, &body);
        if (r == ADMIN_PENDING) {
            buf_free(&body);
            return; /* answered by the farm call's callback */
        }
        const char *name = wbem_code_name(r);
        respond(out, r, name ? name : "error", &body);
        buf_free(&body);
        return;
    }
    respond(out, WBEM_E_INVALID_METHOD, "unknown verb", NULL);
}

/* ---------- watch: the live event stream ---------- */

static void client_free(struct admin_client *c);

/* Moves queued events into the output while it is below the high mark; a gap (events dropped
 * because this watcher fell behind) becomes a notice line of its own. */
static void watch_pump(struct admin_client *c)
{
    uint64_t gap;
    struct event *ev;
    while (buf_len(&c->out) < ADMIN_WATCH_OUT_HIGH) {
        ev = event_sub_next(c->watch, &gap);
        if (gap) {
            if (c->watch_json)
                buf_printf(&c->out, "{\"Gap\":%llu}\n", (unsigned long long)gap);
            else
                buf_printf(&c->out, "# gap: %llu event(s) dropped (watcher too slow)\n",
                           (unsigned long long)gap);
        }
        if (!ev)
            break;
        if (c->watch_json)
            event_format_json(ev, &c->out);
        else
            buf_append_str(&c->out, ev->line);
        buf_put_u8(&c->out, '\n');
        event_unref(ev);
    }
}

/* Writes what it can; false when the client is gone (freed). Outside the client's own callback
 * (may_free false) a dead peer is not freed here: its socket reports the error to that callback,
 * so nothing is freed while the loop may still hold an event for it. */
static bool watch_flush(struct admin_client *c, bool may_free)
{
    for (;;) {
        watch_pump(c);
        if (!buf_len(&c->out))
            break;
        sink_flush(); /* the log lines of what the answer reports go out first */
        ssize_t n = send(c->io.fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_set(&c->gw->loop, &c->io, EPOLLIN | EPOLLOUT);
            return true;
        }
        if (!may_free) {
            c->watch_broken = true;
            io_set(&c->gw->loop, &c->io, EPOLLIN | EPOLLOUT);
            return true;
        }
        client_free(c);
        return false;
    }
    buf_shrink_if_empty(&c->out);
    io_set(&c->gw->loop, &c->io, EPOLLIN);
    return true;
}

static void watch_wake(void *arg)
{
    struct admin_client *c = arg;
    /* only write when the socket is idle; otherwise EPOLLOUT is armed and drains the queue */
    if (!buf_len(&c->out) && !c->watch_broken)
        watch_flush(c, false);
}

static void watch_on_io(struct admin_client *c, uint32_t events)
{
    if (c->watch_broken) {
        client_free(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char tmp[256];
        ssize_t n = recv(c->io.fd, tmp, sizeof tmp, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            client_free(c);
            return;
        }
    }
    watch_flush(c, true);
}

/* "watch [json]": status line, then one line per event until the client goes away. */
static bool start_watch(struct admin_client *c, char *line)
{
    char copy[64];
    if (strlen(line) >= sizeof copy)
        return false;
    str_copy(copy, line, sizeof copy);
    char *f[4];
    int n = mgmt_split(copy, f, 4);
    if (n < 2 || !f[0] || !f[1] || strcmp(f[0], MGMT_MAGIC) || strcmp(f[1], "watch"))
        return false;
    if (!c->admin)
        return false; /* admin_process_line answers access denied */
    if (n > 3 || (n == 3 && (!f[2] || (strcmp(f[2], "json") && strcmp(f[2], "text"))))) {
        respond(&c->out, WBEM_E_INVALID_PARAMETER, "watch [json|text]", NULL);
        c->responded = true;
        return true;
    }
    /* what a stalled watcher can hold: its queue ([log] watch-queue events), the output buffer
     * (ADMIN_WATCH_OUT_HIGH) and a small kernel buffer */
    int sndbuf = ADMIN_WATCH_SNDBUF;
    setsockopt(c->io.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    c->watch = event_subscribe(c->gw->cfg->watch_queue, watch_wake, c);
    if (!c->watch) {
        respond(&c->out, WBEM_E_FAILED, "out of memory", NULL);
        c->responded = true;
        return true;
    }
    c->watch_json = n == 3 && !strcmp(f[2], "json");
    c->deadline_ms = UINT64_MAX;
    respond(&c->out, 0, "watching", NULL);
    log_info("admin: uid %u watches the event stream", (unsigned)c->uid);
    return true;
}

static void handle_line(struct admin_client *c, char *line)
{
    if (start_watch(c, line))
        return;
    g_cur = c;
    admin_process_line(c->gw, c->admin, (unsigned)c->uid, line, &c->out);
    g_cur = NULL;
    c->responded = !c->waiting;
}

static void client_flush(struct admin_client *c)
{
    while (buf_len(&c->out)) {
        sink_flush(); /* the log lines of what the answer reports go out first */
        ssize_t n = send(c->io.fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            io_set(&c->gw->loop, &c->io, EPOLLOUT);
            return;
        }
        break;
    }
    client_free(c);
}

static void client_on_io(struct io *io, uint32_t events)
{
    struct admin_client *c = (struct admin_client *)io;
    if (c->watch) {
        watch_on_io(c, events);
        return;
    }
    if (c->responded) {
        client_flush(c);
        return;
    }
    if (c->waiting) {
        if (events & (EPOLLHUP | EPOLLERR))
            client_free(c); /* the caller left: the farm call is cancelled */
        else
            io_set(&c->gw->loop, &c->io, 0); /* the farm call answers */
        return;
    }
    for (;;) {
        if (buf_reserve(&c->in, 1024) < 0) {
            respond(&c->out, WBEM_E_INVALID_PARAMETER, "request too long", NULL);
            c->responded = true;
            client_flush(c);
            return;
        }
        ssize_t n = recv(io->fd, buf_tail(&c->in), 1024, 0);
        if (n > 0) {
            buf_commit(&c->in, (size_t)n);
            uint8_t *nl = memchr(buf_data(&c->in), '\n', buf_len(&c->in));
            if (nl) {
                *nl = 0;
                handle_line(c, (char *)buf_data(&c->in));
                if (c->watch) {
                    buf_free(&c->in);
                    watch_flush(c, true);
                } else if (c->waiting) {
                    io_set(&c->gw->loop, &c->io, 0);
                } else {
                    client_flush(c);
                }
                return;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        client_free(c);
        return;
    }
}

static void on_admin_accept(struct io *io, uint32_t events)
{
    struct gateway *gw = (struct gateway *)((char *)io - offsetof(struct gateway, admin_io));
    for (int i = 0; i < 16; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (gw->nadmin >= ADMIN_MAX_CLIENTS) {
            close(fd);
            continue;
        }
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
            close(fd);
            continue;
        }
        struct admin_client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->gw = gw;
        c->io.fd = fd;
        c->io.cb = client_on_io;
        c->uid = cred.uid;
        c->admin = peer_is_admin(gw, cred.uid, cred.gid);
        c->in.cap_limit = MGMT_MAX_REQUEST;
        c->deadline_ms = now_ms() + ADMIN_DEADLINE_MS;
        c->next = gw->admin_clients;
        gw->admin_clients = c;
        gw->nadmin++;
        io_set(&gw->loop, &c->io, EPOLLIN);
    }
}

void admin_sweep(struct gateway *gw, uint64_t now)
{
    struct admin_client *c = gw->admin_clients;
    while (c) {
        struct admin_client *next = c->next;
        if (now >= c->deadline_ms)
            client_free(c);
        c = next;
    }
}

int admin_init(struct gateway *gw, char *err, size_t errsz)
{
    const char *path = gw->cfg->admin_socket;
    gw->admin_io.fd = -1;
    if (!path[0])
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errsz, "admin-socket path too long: %s", path);
        return -1;
    }
    str_copy(sa.sun_path, path, sizeof sa.sun_path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errsz, "admin-socket %s exists and is not a socket", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117);
    int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        snprintf(err, errsz, "admin-socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct group *g = getgrnam(gw->cfg->admin_group);
    /* under systemd the service's group is the admin group already: no chown needed (the unit's
     * system call filter forbids it) */
    if (g && !(stat(path, &st) == 0 && st.st_gid == g->gr_gid) &&
        chown(path, (uid_t)-1, g->gr_gid) < 0)
        log_warn("admin-socket %s: cannot give it to group %s: %s", path, gw->cfg->admin_group,
                 strerror(errno));
    chmod(path, 0660);
    gw->admin_io.fd = fd;
    gw->admin_io.cb = on_admin_accept;
    io_set(&gw->loop, &gw->admin_io, EPOLLIN);
    log_info("admin socket %s (root%s%s)", path, g ? " and group " : "",
             g ? gw->cfg->admin_group : "");
    return 0;
}

void admin_free(struct gateway *gw)
{
    while (gw->admin_clients)
        client_free(gw->admin_clients);
    if (gw->admin_io.fd >= 0) {
        io_del(&gw->loop, &gw->admin_io);
        close(gw->admin_io.fd);
        unlink(gw->cfg->admin_socket);
        gw->admin_io.fd = -1;
    }
}
