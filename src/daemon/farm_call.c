/* Farm-wide calls (DisconnectUser, DisconnectProtocol, Disconnect NODE/T:C) and listings over
 * Redis pub/sub and the shared registry (see farm.h and docs/farm.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "daemon/farm_int.h"
#include "daemon/logon_limit.h"
#include "daemon/provider.h"
#include "mgmt/proto.h"

#define REC_FIELDS 13

/* Builds the Win32_TSGatewayConnection instance of a record (fields split in place). */
static int record_instance(const char *node, char **v, struct cim_instance *in)
{
    uint64_t t, ch, cus, lus, port, to, from, tr;
    if (parse_u64(v[0], 0, UINT64_MAX, &t) < 0 || parse_u64(v[1], 0, UINT32_MAX, &ch) < 0 ||
        parse_u64(v[5], 0, UINT64_MAX, &cus) < 0 || parse_u64(v[6], 0, UINT64_MAX, &lus) < 0 ||
        parse_u64(v[8], 0, 65535, &port) < 0 || parse_u64(v[9], 0, UINT64_MAX, &to) < 0 ||
        parse_u64(v[10], 0, UINT64_MAX, &from) < 0 || parse_u64(v[11], 0, 2, &tr) < 0)
        return -1;
    uint64_t wall = now_realtime_us();
    char tm[26];
    in->cls = cim_find_class("Win32_TSGatewayConnection");
    cim_setf(in, 0, "%s/%llu:%llu", node, (unsigned long long)t, (unsigned long long)ch);
    cim_setf(in, 1, "%llu", (unsigned long long)t);
    cim_setf(in, 2, "%llu", (unsigned long long)ch);
    cim_set(in, 3, v[2] ? v[2] : "");
    cim_set(in, 4, v[3] ? v[3] : "");
    cim_set(in, 5, v[4] ? v[4] : "");
    cim_format_datetime(cus, tm);
    cim_set(in, 6, tm);
    cim_format_interval(wall > lus ? wall - lus : 0, tm);
    cim_set(in, 7, tm);
    cim_set(in, 8, v[7] ? v[7] : "");
    cim_set(in, 9, "RDP");
    cim_setf(in, 10, "%llu", (unsigned long long)port);
    cim_setf(in, 11, "%llu", (unsigned long long)(to / 1024u));
    cim_setf(in, 12, "%llu", (unsigned long long)(from / 1024u));
    cim_format_interval(wall > cus ? wall - cus : 0, tm);
    cim_set(in, 13, tm);
    cim_setf(in, 14, "%llu", (unsigned long long)tr);
    return 0;
}

void farm_rows_foreach(const struct buf *rows, farm_row_fn fn, void *ctx)
{
    const char *p = (const char *)buf_data(rows), *end = p + buf_len(rows);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        size_t len = (size_t)(nl - p);
        char *line = malloc(len + 1);
        if (!line)
            return;
        memcpy(line, p, len);
        line[len] = 0;
        p = nl + 1;
        char *v[REC_FIELDS + 2];
        int n = mgmt_split(line, v, REC_FIELDS + 2);
        struct cim_instance in = {0};
        int stop = 0;
        if (n == REC_FIELDS + 1 && v[0] && record_instance(v[0], v + 1, &in) == 0)
            stop = fn(&in, v[0], ctx);
        cim_instance_clear(&in);
        free(line);
        if (stop)
            return;
    }
}

/* ---------- farm-wide calls: the caller's side ---------- */

static struct farm_op *op_find(struct farm *f, uint64_t id)
{
    for (struct farm_op *o = f->ops; o; o = o->next)
        if (o->id == id)
            return o;
    return NULL;
}

static void op_unlink(struct farm *f, struct farm_op *op)
{
    for (struct farm_op **pp = &f->ops; *pp; pp = &(*pp)->next)
        if (*pp == op) {
            *pp = op->next;
            return;
        }
}

void farm_op_finish(struct farm *f, struct farm_op *op)
{
    op_unlink(f, op);
    if (op->kind == OP_INVOKE) {
        uint32_t ret = op->ended                         ? 0
                       : op->failed || op->expected != 0 ? FARM_E_UNREACHABLE
                                                         : WBEM_E_NOT_FOUND;
        if (op->idone)
            op->idone(f->gw, op->ctx, op->id, ret, op->nodes, op->ended);
    } else if (op->edone) {
        op->edone(f->gw, op->ctx, op->id, op->failed || op->expected != 0 ? FARM_E_UNREACHABLE : 0,
                  &op->rows);
    }
    buf_free(&op->rows);
    free(op);
}

static struct farm_op *op_new(struct farm *f, int kind, void *ctx)
{
    struct farm_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->id = ++f->next_id;
    op->kind = kind;
    op->expected = -1;
    op->ctx = ctx;
    op->deadline_ms = now_ms() + f->timeout_ms;
    op->next = f->ops;
    f->ops = op;
    return op;
}

static void on_published(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    struct farm *f = l->f;
    struct farm_op *op = op_find(f, (uint64_t)(uintptr_t)priv);
    redisReply *rep = r;
    if (!op)
        return;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        op->failed = true;
        farm_op_finish(f, op);
        return;
    }
    /* every subscribed node got it, this one included; replies already in count too */
    int others = rep->integer > 0 ? (int)rep->integer - 1 : 0;
    op->expected = others - (int)op->nodes + 1; /* op->nodes counts this node + replies */
    if (op->expected <= 0) {
        op->expected = 0;
        farm_op_finish(f, op);
    }
}

void farm_on_reply_msg(struct farm *f, char *msg)
{
    char *v[4];
    uint64_t id, ended;
    if (mgmt_split(msg, v, 4) != 4 || !v[0] || !v[2] || parse_u64(v[0], 1, UINT64_MAX, &id) < 0 ||
        parse_u64(v[2], 0, UINT32_MAX, &ended) < 0)
        return;
    struct farm_op *op = op_find(f, id);
    if (!op || op->kind != OP_INVOKE)
        return;
    op->nodes++;
    op->ended += (uint32_t)ended;
    if (op->expected > 0 && --op->expected == 0)
        farm_op_finish(f, op);
}

/* What one node does with a farm-wide method: ends its own matching connections the normal
 * way. Returns the method's ReturnValue; *ended = connections ended. */
static uint32_t local_exec(struct gateway *gw, const char *method, const char *arg, uint32_t *ended)
{
    const struct cim_class *c = cim_find_class("Win32_TSGatewayConnection");
    struct cim_arg a = {NULL, arg};
    size_t na = 0, n = 0;
    const char *key = NULL;
    char kbuf[64];
    *ended = 0;
    if (str_ieq(method, "DisconnectUser")) {
        a.name = "UserName";
        na = 1;
        n = arg && *arg ? reg_find_user(&gw->reg, arg, NULL, 0) : 0;
    } else if (str_ieq(method, "DisconnectProtocol")) {
        a.name = "ProtocolName";
        na = 1;
        n = gw->reg.count;
    } else if (str_ieq(method, "Disconnect")) {
        const char *slash = arg ? strchr(arg, '/') : NULL;
        if (slash) {
            if ((size_t)(slash - arg) != strlen(F(gw) ? F(gw)->node : "") ||
                strncmp(arg, F(gw)->node, (size_t)(slash - arg)) != 0)
                return WBEM_E_NOT_FOUND;
            arg = slash + 1;
        }
        if (!arg || str_copy(kbuf, arg, sizeof kbuf) >= sizeof kbuf)
            return WBEM_E_NOT_FOUND;
        key = kbuf;
        n = 1;
    } else {
        return WBEM_E_INVALID_METHOD;
    }
    uint32_t ret = 0;
    bool was = gw->defer_flush;
    gw->defer_flush = true;
    uint32_t r = provider_invoke(gw, c, method, key, &a, na, &ret);
    gw->defer_flush = was;
    if (r)
        return r;
    /* a channel-less tunnel ended counts too (it has no registry entry) */
    *ended = ret == 0 ? (uint32_t)(n ? n : 1) : 0;
    return ret;
}

uint64_t farm_invoke(struct gateway *gw, const char *method, const char *key, const char *arg,
                     farm_invoke_done done, void *ctx, uint32_t *ret)
{
    struct farm *f = F(gw);
    bool is_disc = str_ieq(method, "Disconnect");
    const char *what = is_disc ? key : arg;
    uint32_t ended = 0;
    if (is_disc && (!key || !strchr(key, '/'))) {
        *ret = local_exec(gw, method, key, &ended); /* the Windows form: this node */
        return 0;
    }
    if (!f) {
        *ret = local_exec(gw, method, what, &ended);
        return 0;
    }
    bool remote_only = false;
    uint32_t lret = WBEM_E_NOT_FOUND;
    if (is_disc) {
        const char *slash = strchr(key, '/');
        if ((size_t)(slash - key) == strlen(f->node) && !strncmp(key, f->node, strlen(f->node))) {
            *ret = local_exec(gw, method, key, &ended);
            return 0;
        }
        remote_only = true;
    } else {
        lret = local_exec(gw, method, what, &ended);
        if (lret != 0 && lret != WBEM_E_NOT_FOUND) {
            *ret = lret; /* a bad argument: nothing was sent anywhere */
            return 0;
        }
    }
    (void)remote_only;
    if (!f->cmd.up || !f->sub.up) {
        log_warn("farm: %s(%s): redis %s unreachable; %u local connection(s) ended", method,
                 what ? what : "", f->redis, ended);
        *ret = FARM_E_UNREACHABLE;
        return 0;
    }
    struct farm_op *op = op_new(f, OP_INVOKE, ctx);
    if (!op) {
        *ret = WBEM_E_FAILED;
        return 0;
    }
    op->idone = done;
    op->nodes = 1;
    op->ended = ended;
    struct buf m = BUF_INIT;
    buf_printf(&m, "%llu\t", (unsigned long long)op->id);
    mgmt_put_field(&m, f->node);
    buf_put_u8(&m, '\t');
    mgmt_put_field(&m, method);
    buf_put_u8(&m, '\t');
    mgmt_put_field(&m, what ? what : "");
    const char *a[] = {"PUBLISH", "tsgw:cmd", (const char *)buf_data(&m)};
    size_t al[] = {7, 8, buf_len(&m)};
    bool sent = farm_link_send(&f->cmd, on_published, (void *)(uintptr_t)op->id, 3, a, al);
    buf_free(&m);
    if (!sent) {
        op_unlink(f, op);
        free(op);
        *ret = FARM_E_UNREACHABLE;
        return 0;
    }
    return op->id;
}

void farm_cancel(struct gateway *gw, uint64_t id)
{
    struct farm *f = F(gw);
    struct farm_op *op = f && id ? op_find(f, id) : NULL;
    if (op) {
        op->idone = NULL;
        op->edone = NULL;
    }
}

/* ---------- farm-wide listing ---------- */

struct enum_ctx {
    struct farm *f;
    struct buf *rows;
};

static void local_row(struct reg_entry *e, void *vctx)
{
    struct enum_ctx *x = vctx;
    mgmt_put_field(x->rows, x->f->node);
    buf_put_u8(x->rows, '\t');
    farm_put_record(x->rows, e);
    buf_put_u8(x->rows, '\n');
}

struct hget_ctx {
    uint64_t id;
    char node[64];
};

static void on_hgetall(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    struct hget_ctx *h = priv;
    struct farm *f = l->f;
    struct farm_op *op = op_find(f, h->id);
    redisReply *rep = r;
    if (op) {
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            op->failed = true;
        } else {
            for (size_t i = 1; i < rep->elements; i += 2) {
                redisReply *v = rep->element[i];
                if (v->type != REDIS_REPLY_STRING || memchr(v->str, '\n', v->len))
                    continue;
                mgmt_put_field(&op->rows, h->node);
                buf_put_u8(&op->rows, '\t');
                buf_append(&op->rows, v->str, v->len);
                buf_put_u8(&op->rows, '\n');
            }
        }
        if (op->expected > 0 && --op->expected == 0)
            farm_op_finish(f, op);
    }
    free(h);
}

static void on_enum_nodes(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    struct farm *f = l->f;
    struct farm_op *op = op_find(f, (uint64_t)(uintptr_t)priv);
    redisReply *rep = r;
    if (!op)
        return;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        op->failed = true;
        farm_op_finish(f, op);
        return;
    }
    op->expected = 0;
    for (size_t i = 0; i < rep->elements && i < FARM_MAX_NODES; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= 64 ||
            (e->len == strlen(f->node) && !memcmp(e->str, f->node, e->len)))
            continue;
        struct hget_ctx *h = calloc(1, sizeof *h);
        if (!h)
            continue;
        h->id = op->id;
        memcpy(h->node, e->str, e->len);
        char kc[128];
        farm_key_conns(f, h->node, kc, sizeof kc);
        if (farm_cmd(&f->cmd, on_hgetall, h, 2, (const char *[]){"HGETALL", kc}))
            op->expected++;
        else
            free(h);
    }
    if (op->expected == 0)
        farm_op_finish(f, op);
}

uint64_t farm_enumerate(struct gateway *gw, farm_enum_done done, void *ctx)
{
    struct farm *f = F(gw);
    if (!f || !f->cmd.up)
        return 0;
    struct farm_op *op = op_new(f, OP_ENUM, ctx);
    if (!op)
        return 0;
    op->edone = done;
    struct enum_ctx x = {f, &op->rows};
    reg_foreach(&gw->reg, local_row, &x);
    char minscore[40];
    snprintf(minscore, sizeof minscore, "(%llu", (unsigned long long)wall_ms());
    if (!farm_cmd(&f->cmd, on_enum_nodes, (void *)(uintptr_t)op->id, 4,
                  (const char *[]){"ZRANGEBYSCORE", "tsgw:nodes", minscore, "+inf"})) {
        op_unlink(f, op);
        buf_free(&op->rows);
        free(op);
        return 0;
    }
    return op->id;
}

/* ---------- farm-wide calls: every node's side ---------- */

void farm_on_cmd_msg(struct farm *f, char *msg)
{
    char *v[4];
    if (mgmt_split(msg, v, 4) != 4 || !v[0] || !v[1] || !v[2] || !v[3])
        return;
    if (!strcmp(v[1], f->node))
        return; /* our own call: done locally already */
    uint32_t ended = 0;
    uint64_t t0 = now_realtime_us();
    uint32_t ret = local_exec(f->gw, v[2], v[3], &ended);
    log_info("farm: %s(%s) from node %s: %u connection(s) ended in %llu us (ReturnValue %u)", v[2],
             v[3], v[1], ended, (unsigned long long)(now_realtime_us() - t0), ret);
    char chan[128];
    snprintf(chan, sizeof chan, "tsgw:reply:%s", v[1]);
    struct buf m = BUF_INIT;
    mgmt_put_field(&m, v[0]);
    buf_put_u8(&m, '\t');
    mgmt_put_field(&m, f->node);
    buf_printf(&m, "\t%u\t%u", ended, ret);
    const char *a[] = {"PUBLISH", chan, (const char *)buf_data(&m)};
    size_t al[] = {7, strlen(chan), buf_len(&m)};
    farm_link_send(&f->cmd, NULL, NULL, 3, a, al);
    buf_free(&m);
}

/* ---------- shared logon failure counts ---------- */

void farm_logon_result(struct gateway *gw, const char *addr_key, const char *account, bool ok)
{
    struct farm *f = F(gw);
    if (!f || !f->cmd.up || !f->sub.up)
        return;
    struct buf m = BUF_INIT;
    buf_append_str(&m, ok ? "S\t" : "F\t");
    mgmt_put_field(&m, f->node);
    buf_put_u8(&m, '\t');
    mgmt_put_field(&m, addr_key);
    buf_put_u8(&m, '\t');
    mgmt_put_field(&m, account ? account : "");
    if (buf_len(&m) < FARM_MAX_MESSAGE) {
        const char *a[] = {"PUBLISH", "tsgw:logon", (const char *)buf_data(&m)};
        size_t al[] = {7, 10, buf_len(&m)};
        farm_link_send(&f->cmd, NULL, NULL, 3, a, al);
    }
    buf_free(&m);
}

void farm_on_logon_msg(struct farm *f, char *msg)
{
    char *v[4];
    if (mgmt_split(msg, v, 4) != 4 || !v[0] || !v[1] || !v[2] || !v[3] || !strcmp(v[1], f->node))
        return; /* malformed, or our own (counted already) */
    if (!strcmp(v[0], "F"))
        logon_limit_failed_at(f->gw, v[2], v[3]);
    else if (!strcmp(v[0], "S"))
        logon_limit_succeeded_at(f->gw, v[2], v[3]);
}
