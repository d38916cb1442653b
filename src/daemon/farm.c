/* Farm membership and registry over Redis: the hiredis links on our loop, the registry mirror,
 * heartbeat, re-registration, farm-wide max-connections, life cycle (see farm.h and
 * docs/farm.md). The farm-wide calls and listings are in farm_call.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/farm_int.h"
#include "mgmt/proto.h"

/* ---------- hiredis <-> our loop ---------- */

static void link_update(struct farm_link *l)
{
    if (l->ac)
        io_set(&l->f->gw->loop, &l->io, l->want);
}
static void ev_add_read(void *p)
{
    struct farm_link *l = p;
    l->want |= EPOLLIN;
    link_update(l);
}
static void ev_del_read(void *p)
{
    struct farm_link *l = p;
    l->want &= ~(uint32_t)EPOLLIN;
    link_update(l);
}
static void ev_add_write(void *p)
{
    struct farm_link *l = p;
    l->want |= EPOLLOUT;
    link_update(l);
}
static void ev_del_write(void *p)
{
    struct farm_link *l = p;
    l->want &= ~(uint32_t)EPOLLOUT;
    link_update(l);
}
static void ev_cleanup(void *p)
{
    struct farm_link *l = p;
    io_del(&l->f->gw->loop, &l->io);
    l->want = 0;
}

static void link_on_io(struct io *io, uint32_t events)
{
    struct farm_link *l = (struct farm_link *)((char *)io - offsetof(struct farm_link, io));
    bool err = events & (EPOLLERR | EPOLLHUP);
    if (l->ac && ((events & EPOLLOUT) || (err && (l->want & EPOLLOUT))))
        redisAsyncHandleWrite(l->ac);
    if (l->ac && ((events & EPOLLIN) || (err && (l->want & EPOLLIN))))
        redisAsyncHandleRead(l->ac);
}

static void link_reset(struct farm_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    if (!ac)
        return;
    if (strcmp(why, "stopping") != 0)
        log_warn("farm: %s link to redis %s reset: %s", l->sub ? "subscriber" : "command",
                 l->f->redis, why);
    l->ac = NULL;
    l->up = false;
    l->pending = 0;
    redisAsyncFree(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct farm_link *l = ac->data;
    if (status != REDIS_OK) {
        if (!l->f->quiet)
            log_warn("farm: cannot connect to redis %s: %s (retrying)", l->f->redis, ac->errstr);
        l->f->quiet = true;
        l->ac = NULL; /* hiredis frees it */
        l->up = false;
        l->pending = 0;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct farm_link *l = ac->data;
    if (l->ac == ac) {
        log_warn("farm: redis %s closed the %s link%s%s", l->f->redis,
                 l->sub ? "subscriber" : "command", ac->errstr[0] ? ": " : "", ac->errstr);
        l->ac = NULL;
        l->up = false;
        l->pending = 0;
    }
}

/* Every reply callback starts here: NULL when the link is going away. */
struct farm_link *farm_got_reply(redisAsyncContext *ac, void *r)
{
    struct farm_link *l = ac->data;
    if (l->pending)
        l->pending--;
    l->progress_ms = now_ms();
    if (r && ((redisReply *)r)->type == REDIS_REPLY_ERROR)
        log_warn("farm: redis error: %.200s", ((redisReply *)r)->str);
    return l;
}

static void on_ignore(redisAsyncContext *ac, void *r, void *priv)
{
    farm_got_reply(ac, r);
}

bool farm_link_send(struct farm_link *l, redisCallbackFn *cb, void *priv, int argc,
                    const char **argv, const size_t *lens)
{
    if (!l->ac)
        return false;
    if (!l->pending)
        l->progress_ms = now_ms();
    if (redisAsyncCommandArgv(l->ac, cb ? cb : on_ignore, priv, argc, argv, lens) != REDIS_OK)
        return false;
    l->pending++;
    return true;
}

/* A command from NUL-terminated strings. */
bool farm_cmd(struct farm_link *l, redisCallbackFn *cb, void *priv, int argc, const char **argv)
{
    size_t lens[16];
    for (int i = 0; i < argc && i < 16; i++)
        lens[i] = strlen(argv[i]);
    return farm_link_send(l, cb, priv, argc, argv, lens);
}

/* ---------- keys and records ---------- */

void farm_key_conns(const struct farm *f, const char *node, char *out, size_t n)
{
    snprintf(out, n, "tsgw:conns:%s", node ? node : f->node);
}

static void key_user(const struct farm *f, const char *user, char *out, size_t n)
{
    int k = snprintf(out, n, "tsgw:user:%s:", f->node);
    for (size_t i = 0; user[i] && k >= 0 && (size_t)k + 1 < n; i++)
        out[k++] = (char)tolower((unsigned char)user[i]);
    if (k >= 0 && (size_t)k < n)
        out[k] = 0;
}

static void key_proto(const struct farm *f, char *out, size_t n)
{
    snprintf(out, n, "tsgw:proto:%s:RDP", f->node);
}

/* The stored record of a connection: fields separated by TAB (escaped as on the admin socket):
 * tunnel, channel, user, full name, client address, connected (Unix us), last activity (Unix
 * us), resource, port, bytes to client, bytes from client, transport, websocket (0/1). */
void farm_put_record(struct buf *b, const struct reg_entry *e)
{
    uint64_t now = now_ms(), wall = now_realtime_us();
    uint64_t last = wall - (now - e->last_activity_ms) * 1000u;
    buf_printf(b, "%llu\t%u\t", (unsigned long long)e->tunnel_id, e->channel_id);
    mgmt_put_field(b, e->user);
    buf_put_u8(b, '\t');
    mgmt_put_field(b, e->full_name);
    buf_put_u8(b, '\t');
    mgmt_put_field(b, e->client_addr);
    buf_printf(b, "\t%llu\t%llu\t", (unsigned long long)e->connected_us, (unsigned long long)last);
    mgmt_put_field(b, e->resource);
    buf_printf(b, "\t%u\t%llu\t%llu\t%u\t%d", e->port, (unsigned long long)e->bytes_to_client,
               (unsigned long long)e->bytes_from_client, e->transport, e->websocket ? 1 : 0);
}

/* ---------- registry mirror ---------- */

static void push_entry(struct farm *f, const struct reg_entry *e)
{
    char kc[128], ku[128 + REG_USER_MAX], kp[128], field[48], ttl[16];
    farm_key_conns(f, NULL, kc, sizeof kc);
    key_user(f, e->user, ku, sizeof ku);
    key_proto(f, kp, sizeof kp);
    snprintf(field, sizeof field, "%llu:%u", (unsigned long long)e->tunnel_id, e->channel_id);
    snprintf(ttl, sizeof ttl, "%u", f->ttl_ms);
    buf_clear(&f->tmp);
    farm_put_record(&f->tmp, e);
    const char *a[] = {"HSET", kc, field, (const char *)buf_data(&f->tmp)};
    size_t al[] = {4, strlen(kc), strlen(field), buf_len(&f->tmp)};
    farm_link_send(&f->cmd, NULL, NULL, 4, a, al);
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", kc, ttl});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"SADD", ku, field});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", ku, ttl});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"SADD", kp, field});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", kp, ttl});
}

static void drop_entry(struct farm *f, const struct reg_entry *e)
{
    char kc[128], ku[128 + REG_USER_MAX], kp[128], field[48];
    farm_key_conns(f, NULL, kc, sizeof kc);
    key_user(f, e->user, ku, sizeof ku);
    key_proto(f, kp, sizeof kp);
    snprintf(field, sizeof field, "%llu:%u", (unsigned long long)e->tunnel_id, e->channel_id);
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"HDEL", kc, field});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"SREM", ku, field});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"SREM", kp, field});
}

static void observe(void *ctx, const struct reg_entry *e, bool added)
{
    struct farm *f = ctx;
    if (!f->cmd.up)
        return; /* re-registered in full when the link is back */
    if (added)
        push_entry(f, e);
    else
        drop_entry(f, e);
}

/* ---------- heartbeat, refresh, resync ---------- */

static void on_servers(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    redisReply *rep = r;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return;
    struct farm *f = l->f;
    size_t pos = 0;
    f->servers[0] = 0;
    for (size_t i = 0; i < rep->elements && i < FARM_MAX_NODES; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        pos += (size_t)snprintf(f->servers + pos,
                                pos < sizeof f->servers ? sizeof f->servers - pos : 0, "%s%.*s",
                                pos ? ";" : "", (int)e->len, e->str);
    }
}

struct expire_ctx {
    struct farm *f;
    char ttl[16];
};

static void expire_user(struct reg_entry *e, void *vctx)
{
    struct expire_ctx *x = vctx;
    char ku[128 + REG_USER_MAX];
    key_user(x->f, e->user, ku, sizeof ku);
    farm_cmd(&x->f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", ku, x->ttl});
}

static void heartbeat(struct farm *f)
{
    char kc[128], kp[128], score[32], now[32];
    struct expire_ctx x = {f, ""};
    uint64_t w = wall_ms();
    farm_key_conns(f, NULL, kc, sizeof kc);
    key_proto(f, kp, sizeof kp);
    snprintf(score, sizeof score, "%llu", (unsigned long long)(w + f->ttl_ms));
    snprintf(now, sizeof now, "%llu", (unsigned long long)w);
    snprintf(x.ttl, sizeof x.ttl, "%u", f->ttl_ms);
    farm_cmd(&f->cmd, NULL, NULL, 4, (const char *[]){"ZADD", "tsgw:nodes", score, f->node});
    farm_cmd(&f->cmd, NULL, NULL, 4,
             (const char *[]){"ZREMRANGEBYSCORE", "tsgw:nodes", "-inf", now});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", kc, x.ttl});
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"PEXPIRE", kp, x.ttl});
    reg_foreach(&f->gw->reg, expire_user, &x);
    f->pushed_once = false; /* the active count is rewritten (and its TTL renewed) */
}

/* The live node list (Win32_TSGatewayLoadBalancer.Servers, the max-connections sum): every
 * second, so a node that joins or leaves shows within about a second. */
static void read_servers(struct farm *f)
{
    char minscore[40];
    snprintf(minscore, sizeof minscore, "(%llu", (unsigned long long)wall_ms());
    farm_cmd(&f->cmd, on_servers, NULL, 4,
             (const char *[]){"ZRANGEBYSCORE", "tsgw:nodes", minscore, "+inf"});
}

struct refresh_ctx {
    struct farm *f;
    const char *argv[2 + 2 * FARM_REFRESH_CHUNK];
    size_t lens[2 + 2 * FARM_REFRESH_CHUNK];
    size_t off[2 * FARM_REFRESH_CHUNK];
    int n;
    struct buf b;
    char key[128];
};

static void refresh_flush(struct refresh_ctx *r)
{
    if (!r->n)
        return;
    r->argv[0] = "HSET";
    r->lens[0] = 4;
    r->argv[1] = r->key;
    r->lens[1] = strlen(r->key);
    /* fields and records were appended to r->b separated by NULs: point into it now */
    for (int i = 0; i < 2 * r->n; i++) {
        r->argv[2 + i] = (const char *)buf_data(&r->b) + r->off[i];
        r->lens[2 + i] = strlen(r->argv[2 + i]);
    }
    farm_link_send(&r->f->cmd, NULL, NULL, 2 + 2 * r->n, r->argv, r->lens);
    r->n = 0;
    buf_clear(&r->b);
}

static void refresh_one(struct reg_entry *e, void *vctx)
{
    struct refresh_ctx *r = vctx;
    r->off[2 * r->n] = buf_len(&r->b);
    buf_printf(&r->b, "%llu:%u", (unsigned long long)e->tunnel_id, e->channel_id);
    buf_put_u8(&r->b, 0);
    r->off[2 * r->n + 1] = buf_len(&r->b);
    farm_put_record(&r->b, e);
    buf_put_u8(&r->b, 0);
    if (++r->n == FARM_REFRESH_CHUNK)
        refresh_flush(r);
}

/* Rewrites every local record (counters, idle time): at most once per refresh interval. */
static void refresh(struct farm *f)
{
    struct refresh_ctx *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->f = f;
    farm_key_conns(f, NULL, r->key, sizeof r->key);
    reg_foreach(&f->gw->reg, refresh_one, r);
    refresh_flush(r);
    buf_free(&r->b);
    free(r);
}

struct resync_ctx {
    struct farm *f;
};

static void resync_one(struct reg_entry *e, void *vctx)
{
    push_entry(((struct resync_ctx *)vctx)->f, e);
}

/* The command link is (back) up: replace whatever Redis holds for this node by the live
 * registry, then a heartbeat. */
static void resync(struct farm *f)
{
    char kc[128], kp[128], pattern[128];
    farm_key_conns(f, NULL, kc, sizeof kc);
    key_proto(f, kp, sizeof kp);
    snprintf(pattern, sizeof pattern, "tsgw:user:%s:*", f->node);
    farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"DEL", kc, kp});
    farm_cmd(&f->cmd, NULL, NULL, 4,
             (const char *[]){"EVAL",
                              "local ks = redis.call('KEYS', ARGV[1]) "
                              "for i = 1, #ks do redis.call('DEL', ks[i]) end return #ks",
                              "0", pattern});
    struct resync_ctx rc = {f};
    reg_foreach(&f->gw->reg, resync_one, &rc);
    heartbeat(f);
    uint64_t now = now_ms();
    f->next_heartbeat_ms = now + f->ttl_ms / 3;
    f->next_refresh_ms = now + f->refresh_ms;
    log_info("farm: node %s registered in redis %s with %zu connection(s)", f->node, f->redis,
             f->gw->reg.count);
}

static void on_cmd_ready(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    redisReply *rep = r;
    if (!rep || l->ac != ac)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        link_reset(l, "redis refused the node (AUTH?)");
        return;
    }
    l->up = true;
    resync(l->f);
}

static void on_sub(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = ac->data;
    struct farm *f = l->f;
    redisReply *rep = r;
    l->progress_ms = now_ms();
    if (!rep || l->ac != ac)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        link_reset(l, "SUBSCRIBE refused (AUTH?)");
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    if (!strcmp(kind, "subscribe")) {
        if (rep->element[2]->type == REDIS_REPLY_INTEGER && rep->element[2]->integer == 3) {
            l->up = true;
            l->pending = 0;
        }
        return;
    }
    if (strcmp(kind, "message") != 0 || rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_STRING || rep->element[2]->len >= FARM_MAX_MESSAGE)
        return;
    char msg[FARM_MAX_MESSAGE];
    memcpy(msg, rep->element[2]->str, rep->element[2]->len);
    msg[rep->element[2]->len] = 0;
    if (!strcmp(rep->element[1]->str, "tsgw:cmd"))
        farm_on_cmd_msg(f, msg);
    else if (!strcmp(rep->element[1]->str, "tsgw:logon"))
        farm_on_logon_msg(f, msg);
    else
        farm_on_reply_msg(f, msg);
}

/* ---------- links ---------- */

static void link_connect(struct farm *f, struct farm_link *l)
{
    redisAsyncContext *ac;
    if (f->redis[0] == '/') {
        ac = redisAsyncConnectUnix(f->redis);
    } else {
        char host[128];
        str_copy(host, f->redis, sizeof host);
        char *colon = strrchr(host, ':');
        int port = colon ? atoi(colon + 1) : 6379;
        if (colon)
            *colon = 0;
        char *h = host;
        if (h[0] == '[') { /* [v6]:port */
            h++;
            char *rb = strchr(h, ']');
            if (rb)
                *rb = 0;
        }
        ac = redisAsyncConnect(h, port);
    }
    if (!ac)
        return;
    if (ac->err) {
        if (!f->quiet)
            log_warn("farm: cannot connect to redis %s: %s (retrying)", f->redis, ac->errstr);
        f->quiet = true;
        redisAsyncFree(ac);
        return;
    }
    l->ac = ac;
    l->up = false;
    l->pending = 0;
    l->want = 0;
    l->io.fd = ac->c.fd;
    l->io.cb = link_on_io;
    l->io.registered = false;
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->connect_deadline_ms = now_ms() + FARM_CONNECT_TIMEOUT_MS;
    l->progress_ms = now_ms();
    ev_add_write(l); /* the connect's completion */
    if (f->password[0]) {
        if (f->user[0])
            farm_cmd(l, NULL, NULL, 3, (const char *[]){"AUTH", f->user, f->password});
        else
            farm_cmd(l, NULL, NULL, 2, (const char *[]){"AUTH", f->password});
    }
    if (l->sub) {
        char chan[128];
        snprintf(chan, sizeof chan, "tsgw:reply:%s", f->node);
        /* subscription replies arrive on on_sub for as long as the link lives */
        redisAsyncCommandArgv(ac, on_sub, NULL, 4,
                              (const char *[]){"SUBSCRIBE", "tsgw:cmd", "tsgw:logon", chan},
                              (size_t[]){9, 8, 10, strlen(chan)});
    } else {
        farm_cmd(l, on_cmd_ready, NULL, 1, (const char *[]){"PING"});
    }
}

static void link_check(struct farm *f, struct farm_link *l, uint64_t now)
{
    if (!l->ac)
        return;
    uint64_t limit = f->timeout_ms * 2 < 3000 ? 3000 : f->timeout_ms * 2;
    if (!l->up && now >= l->connect_deadline_ms)
        link_reset(l, "no answer from redis in time");
    else if (l->pending && now - l->progress_ms > limit)
        link_reset(l, "redis too slow (no reply in time)");
    else if (l->pending > FARM_MAX_PENDING)
        link_reset(l, "too many replies outstanding");
}

static void counts_tick(struct farm *f);

void farm_tick(struct gateway *gw, uint64_t now)
{
    struct farm *f = F(gw);
    if (!f)
        return;
    link_check(f, &f->cmd, now);
    link_check(f, &f->sub, now);
    if ((!f->cmd.ac || !f->sub.ac) && now >= f->next_connect_ms) {
        if (!f->cmd.ac)
            link_connect(f, &f->cmd);
        if (!f->sub.ac)
            link_connect(f, &f->sub);
        f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : FARM_BACKOFF_MIN_MS;
        if (f->backoff_ms > FARM_BACKOFF_MAX_MS)
            f->backoff_ms = FARM_BACKOFF_MAX_MS;
        f->next_connect_ms = now + f->backoff_ms;
    }
    bool up = f->cmd.up && f->sub.up;
    if (up && !f->was_up) {
        f->backoff_ms = 0;
        f->quiet = false;
        log_info("farm: node %s joined the farm on redis %s", f->node, f->redis);
    } else if (!up && f->was_up) {
        log_warn("farm: redis %s unreachable: farm calls answer %u until it is back; tunnels "
                 "and local calls go on",
                 f->redis, FARM_E_UNREACHABLE);
        str_copy(f->servers, f->node, sizeof f->servers);
    }
    f->was_up = up;
    if (f->cmd.up) {
        if (now >= f->next_heartbeat_ms) {
            heartbeat(f);
            f->next_heartbeat_ms = now + f->ttl_ms / 3;
        }
        if (now >= f->next_servers_ms) {
            read_servers(f);
            f->next_servers_ms = now + 1000;
        }
        if (now >= f->next_refresh_ms) {
            refresh(f);
            f->next_refresh_ms = now + f->refresh_ms;
        }
        counts_tick(f);
    } else {
        f->others_active = 0;
        f->counting = false;
        f->pushed_once = false;
    }
    for (struct farm_op *op = f->ops, *next; op; op = next) {
        next = op->next;
        if (now >= op->deadline_ms)
            farm_op_finish(f, op);
    }
}

/* ---------- farm-wide max-connections ---------- */

static void on_counts(redisAsyncContext *ac, void *r, void *priv)
{
    struct farm_link *l = farm_got_reply(ac, r);
    redisReply *rep = r;
    l->f->counting = false;
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return;
    uint64_t sum = 0, v;
    for (size_t i = 0; i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        char num[24];
        if (e->type != REDIS_REPLY_STRING || e->len >= sizeof num)
            continue;
        memcpy(num, e->str, e->len);
        num[e->len] = 0;
        if (parse_u64(num, 0, UINT32_MAX, &v) == 0)
            sum += v;
    }
    l->f->others_active = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

/* Every tick: this node's count (tsgw:active:NODE, TTL) when it changed, and the sum of the
 * other live nodes' counts. Only with [settings] max-connections. */
static void counts_tick(struct farm *f)
{
    struct gateway *gw = f->gw;
    char key[96], val[16], ttl[16];
    if (!gw->cfg->max_connections)
        return;
    if (!f->pushed_once || f->pushed_active != gw->nactive) {
        snprintf(key, sizeof key, "tsgw:active:%s", f->node);
        snprintf(val, sizeof val, "%u", gw->nactive);
        snprintf(ttl, sizeof ttl, "%u", f->ttl_ms);
        if (farm_cmd(&f->cmd, NULL, NULL, 5, (const char *[]){"SET", key, val, "PX", ttl})) {
            f->pushed_active = gw->nactive;
            f->pushed_once = true;
        }
    }
    if (f->counting)
        return;
    const char *argv[FARM_MAX_NODES + 1];
    size_t lens[FARM_MAX_NODES + 1];
    char keys[FARM_MAX_NODES][96];
    int n = 0;
    char list[sizeof f->servers], *save = NULL;
    str_copy(list, f->servers, sizeof list);
    argv[n] = "MGET";
    lens[n++] = 4;
    for (char *t = strtok_r(list, ";", &save); t && n <= FARM_MAX_NODES;
         t = strtok_r(NULL, ";", &save)) {
        if (!strcmp(t, f->node))
            continue;
        snprintf(keys[n - 1], sizeof keys[0], "tsgw:active:%s", t);
        argv[n] = keys[n - 1];
        lens[n] = strlen(keys[n - 1]);
        n++;
    }
    if (n == 1) {
        f->others_active = 0;
        return;
    }
    f->counting = farm_link_send(&f->cmd, on_counts, NULL, n, argv, lens);
}

uint32_t farm_others_active(const struct gateway *gw)
{
    const struct farm *f = F(gw);
    return f && f->cmd.up ? f->others_active : 0;
}

/* ---------- life cycle ---------- */

bool farm_enabled(const struct gateway *gw)
{
    return F(gw) != NULL;
}

bool farm_reachable(const struct gateway *gw)
{
    return F(gw) && F(gw)->cmd.up && F(gw)->sub.up;
}

const char *farm_node_name(const struct gateway *gw)
{
    return F(gw) ? F(gw)->node : gw->cfg->farm_node;
}

void farm_servers(const struct gateway *gw, char *out, size_t outsz)
{
    str_copy(out, F(gw) && F(gw)->servers[0] ? F(gw)->servers : farm_node_name(gw), outsz);
}

int farm_init(struct gateway *gw, char *err, size_t errsz)
{
    const struct gw_config *cfg = gw->cfg;
    if (!cfg->farm_redis[0])
        return 0;
    struct farm *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errsz, "farm: out of memory");
        return -1;
    }
    f->gw = gw;
    str_copy(f->node, cfg->farm_node, sizeof f->node);
    str_copy(f->redis, cfg->farm_redis, sizeof f->redis);
    str_copy(f->password, cfg->farm_password, sizeof f->password);
    str_copy(f->user, cfg->farm_user, sizeof f->user);
    str_copy(f->servers, f->node, sizeof f->servers);
    f->ttl_ms = cfg->farm_ttl_ms;
    f->refresh_ms = cfg->farm_refresh_ms;
    f->timeout_ms = cfg->farm_timeout_ms;
    f->cmd.f = f->sub.f = f;
    f->sub.sub = true;
    f->cmd.io.fd = f->sub.io.fd = -1;
    gw->farm = f;
    gw->reg.observe = observe;
    gw->reg.observe_ctx = f;
    log_info("farm: node %s, redis %s (ttl %u ms)", f->node, f->redis, f->ttl_ms);
    farm_tick(gw, now_ms());
    return 0;
}

void farm_free(struct gateway *gw)
{
    struct farm *f = F(gw);
    if (!f)
        return;
    gw->reg.observe = NULL;
    /* goodbye: the node leaves the farm at once (best effort, not waited for) */
    if (f->cmd.up && f->cmd.ac) {
        char kc[128], kp[128];
        farm_key_conns(f, NULL, kc, sizeof kc);
        key_proto(f, kp, sizeof kp);
        farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"ZREM", "tsgw:nodes", f->node});
        farm_cmd(&f->cmd, NULL, NULL, 3, (const char *[]){"DEL", kc, kp});
        int fd = f->cmd.ac->c.fd;
        /* one bounded attempt to hand the goodbye to the kernel */
        for (int i = 0; i < 4 && f->cmd.ac && (f->cmd.ac->c.flags & REDIS_CONNECTED); i++) {
            int done = 0;
            if (redisBufferWrite(&f->cmd.ac->c, &done) != REDIS_OK || done)
                break;
        }
        (void)fd;
    }
    for (struct farm_op *op = f->ops; op; op = op->next)
        op->idone = NULL, op->edone = NULL;
    link_reset(&f->cmd, "stopping");
    link_reset(&f->sub, "stopping");
    while (f->ops) {
        struct farm_op *op = f->ops;
        f->ops = op->next;
        buf_free(&op->rows);
        free(op);
    }
    buf_free(&f->tmp);
    free(f);
    gw->farm = NULL;
}
