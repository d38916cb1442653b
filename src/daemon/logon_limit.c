/* Logon rate limiting: the daemon's side of guard/logon_guard.c (logon_limit.h). */
#include "daemon/farm.h"
#include "daemon/logon_limit.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "mgmt/proto.h"
#include "mgmt/schema.h"

#define LOGON_GUARD_ENTRIES 16384 /* counters kept (about 0.5 KiB each) */

int logon_limit_init(struct gateway *gw)
{
    return lg_init(&gw->logon_guard, LOGON_GUARD_ENTRIES);
}

void logon_limit_free(struct gateway *gw)
{
    lg_free(&gw->logon_guard);
}

static struct lg_config guard_config(const struct gateway *gw)
{
    const struct gw_limits *l = &gw->cfg->lim;
    return (struct lg_config){
        .per_pair = l->auth_failures,
        .per_account = l->auth_failures_account,
        .per_address = l->auth_failures_address,
        .window_ms = l->auth_failure_window_ms,
        .block_ms = l->auth_block_ms,
        .block_max_ms = l->auth_block_max_ms,
    };
}

/* Event 201 for a block that starts or ends, with the reason. */
static void on_block(void *arg, const struct lg_block *b, bool started, const char *why)
{
    struct gateway *gw = arg;
    if (started)
        gw->flood.logon_blocks++;
    else
        gw->flood.logon_unblocks++;
    char reason[256];
    snprintf(reason, sizeof reason, "%s %s: %s", started ? "blocked" : "unblocked",
             lg_kind_name(b->kind), why);
    log_warn("logon rate limit: %s (%s%s%s%s)", reason, b->addr[0] ? "address " : "", b->addr,
             b->addr[0] && b->account[0] ? ", " : "", b->account[0] ? b->account : "");
    if (!gw_event_wanted(gw, 201))
        return;
    struct event_line e;
    ev_begin(&e, 201);
    ev_str(&e, "Username", b->account);
    ev_str(&e, "IpAddress", b->addr);
    ev_str(&e, "AuthType", "");
    ev_str(&e, "ConnectionProtocol", "HTTP");
    ev_u64(&e, "ErrorCode", started ? 1909 : 0);
    ev_str(&e, "Reason", reason);
    ev_end(&e);
}

bool logon_limit_blocked(struct conn *c, const char *account, char *why, size_t whysz)
{
    struct gateway *gw = c->gw;
    struct lg_block b;
    uint64_t now = now_ms();
    if (!lg_blocked(&gw->logon_guard, c->addr_key, account, now, &b))
        return false;
    gw->flood.logon_refused++;
    snprintf(why, whysz, "rate limited: too many failed logons %s (%u s left)",
             b.kind == LG_PAIR      ? "for this account from this address"
             : b.kind == LG_ACCOUNT ? "for this account"
                                    : "from this address",
             (unsigned)((b.until_ms - now + 999) / 1000));
    return true;
}

void logon_limit_failed_at(struct gateway *gw, const char *addr_key, const char *account)
{
    struct lg_config cfg = guard_config(gw);
    lg_failure(&gw->logon_guard, &cfg, addr_key, account, now_ms(), on_block, gw);
}

void logon_limit_succeeded_at(struct gateway *gw, const char *addr_key, const char *account)
{
    lg_success(&gw->logon_guard, addr_key, account, now_ms());
}

void logon_limit_failed(struct conn *c, const char *account)
{
    logon_limit_failed_at(c->gw, c->addr_key, account);
    farm_logon_result(c->gw, c->addr_key, account, false); /* the other nodes count it too */
}

void logon_limit_succeeded(struct conn *c, const char *account)
{
    logon_limit_succeeded_at(c->gw, c->addr_key, account);
    farm_logon_result(c->gw, c->addr_key, account, true);
}

void logon_limit_sweep(struct gateway *gw, uint64_t now)
{
    if (gw->logon_guard.blocked)
        lg_expire(&gw->logon_guard, now, on_block, gw);
}

unsigned logon_limit_count(const struct gateway *gw)
{
    return gw->logon_guard.nblocked;
}

struct list_ctx {
    struct buf *body;
    uint64_t now;
};

static void list_one(void *arg, const struct lg_block *b)
{
    struct list_ctx *l = arg;
    char n1[16], n2[16], n3[16];
    snprintf(n1, sizeof n1, "%u", (unsigned)((b->until_ms - l->now + 999) / 1000));
    snprintf(n2, sizeof n2, "%u", b->nblocks);
    snprintf(n3, sizeof n3, "%u", b->block_ms / 1000);
    const char *v[] = {lg_kind_name(b->kind), b->addr, b->account, n1, n3, n2};
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        if (i)
            buf_put_u8(l->body, '\t');
        mgmt_put_field(l->body, v[i]);
    }
    buf_put_u8(l->body, '\n');
}

uint32_t logon_limit_admin_blocks(struct gateway *gw, char **args, int nargs, struct buf *body)
{
    (void)args;
    (void)nargs;
    buf_printf(body, "Kind\tAddress\tAccount\tSecondsLeft\tBlockSeconds\tBlockNumber\n");
    struct list_ctx l = {body, now_ms()};
    lg_foreach_blocked(&gw->logon_guard, l.now, list_one, &l);
    return 0;
}

uint32_t logon_limit_admin_unblock(struct gateway *gw, char **args, int nargs, struct buf *body)
{
    (void)nargs;
    unsigned n = lg_lift(&gw->logon_guard, args[0], now_ms(), on_block, gw);
    buf_printf(body, "Lifted\n%u\n", n);
    log_info("admin: unblock '%s': %u block(s) lifted", args[0], n);
    return n ? 0 : WBEM_E_NOT_FOUND;
}
