/* Internals shared by farm.c (links, registry mirror, heartbeat, limits, life cycle) and
 * farm_call.c (farm-wide calls and listings). Not for other files: use farm.h. */
#ifndef TSGW_DAEMON_FARM_INT_H
#define TSGW_DAEMON_FARM_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/buf.h"
#include "core/util.h"
#include "daemon/farm.h"
#include "daemon/gateway.h"
#include "net/loop.h"

#define FARM_CONNECT_TIMEOUT_MS 2000
#define FARM_BACKOFF_MIN_MS 500
#define FARM_BACKOFF_MAX_MS 5000
#define FARM_MAX_PENDING 200000 /* replies outstanding on one link before it is reset */
#define FARM_MAX_MESSAGE 8192   /* a pub/sub message we act on */
#define FARM_MAX_NODES 64
#define FARM_REFRESH_CHUNK 256 /* records per HSET when counters are refreshed */

struct farm;

struct farm_link {
    struct farm *f;
    redisAsyncContext *ac;
    struct io io;
    uint32_t want;
    bool up;
    bool sub;
    uint64_t connect_deadline_ms;
    uint32_t pending;
    uint64_t progress_ms;
};

enum op_kind { OP_INVOKE, OP_ENUM };

struct farm_op {
    uint64_t id;
    int kind;
    int expected; /* replies (invoke) or HGETALLs (enum) still to come; -1 = not known yet */
    uint32_t nodes, ended;
    bool failed;
    uint64_t deadline_ms;
    farm_invoke_done idone;
    farm_enum_done edone;
    void *ctx;
    struct buf rows;
    struct farm_op *next;
};

struct farm {
    struct gateway *gw;
    struct farm_link cmd, sub;
    char node[64];
    char redis[PATH_MAX];
    char password[256], user[64];
    uint32_t ttl_ms, refresh_ms, timeout_ms;
    uint64_t next_connect_ms, backoff_ms;
    uint64_t next_heartbeat_ms, next_refresh_ms, next_servers_ms;
    char servers[FARM_MAX_NODES * 64];
    struct farm_op *ops;
    uint64_t next_id;
    bool was_up; /* for the "farm unreachable" / "farm back" log lines */
    bool quiet;  /* connect failures already reported for this outage */
    /* farm-wide max-connections: this node's count as last written, the other nodes' sum */
    uint32_t pushed_active;
    bool pushed_once;
    uint32_t others_active;
    bool counting; /* an MGET of the other nodes' counts is in flight */
    struct buf tmp;
};

static inline struct farm *F(const struct gateway *gw)
{
    return gw->farm;
}

static inline uint64_t wall_ms(void)
{
    return now_realtime_us() / 1000u;
}

/* farm.c */
/* Every reply callback starts here (reply NULL when the link is going away). */
struct farm_link *farm_got_reply(redisAsyncContext *ac, void *r);
/* Queues a command on the link (false when it is down); cb NULL = reply ignored. */
bool farm_link_send(struct farm_link *l, redisCallbackFn *cb, void *priv, int argc,
                    const char **argv, const size_t *lens);
/* The same from NUL-terminated strings (at most 16). */
bool farm_cmd(struct farm_link *l, redisCallbackFn *cb, void *priv, int argc, const char **argv);
/* "tsgw:conns:NODE" (this node's when node is NULL). */
void farm_key_conns(const struct farm *f, const char *node, char *out, size_t n);
/* Appends the stored record of a connection (farm.c documents its fields). */
void farm_put_record(struct buf *b, const struct reg_entry *e);

/* farm_call.c */
void farm_on_cmd_msg(struct farm *f, char *msg);   /* a farm-wide call from another node */
void farm_on_reply_msg(struct farm *f, char *msg); /* an answer to one of ours */
void farm_on_logon_msg(struct farm *f, char *msg); /* a logon result on another node */
/* Ends a call: its callback (unless cancelled) with the result so far; frees it. */
void farm_op_finish(struct farm *f, struct farm_op *op);

#endif
