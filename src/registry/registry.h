/* Live connection registry: what Win32_TSGatewayConnection reports, for every open channel.
 *
 * Entries are embedded in the tunnel that owns them (no copies; counters move as data flows).
 * The registry only indexes them: by ConnectionKey (tunnel id, channel id) and by user name
 * (case-insensitive), both hash tables, so Disconnect and DisconnectUser are lookups, not scans. */
#ifndef TSGW_REGISTRY_H
#define TSGW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest user / resource name an entry points to, NUL included (for callers' buffers). */
#define REG_USER_MAX 256
#define REG_RESOURCE_MAX 256

enum reg_transport { REG_TRANSPORT_RPC = 0, REG_TRANSPORT_HTTP = 1, REG_TRANSPORT_UDP = 2 };

struct reg_entry {
    uint64_t tunnel_id;
    uint32_t channel_id;
    /* The strings belong to the entry's owner (the tunnel's shared identity and its target
     * name) and live as long as the entry is indexed. */
    const char *user;      /* DOMAIN\user as stored */
    const char *full_name; /* display name, may be empty */
    char client_addr[64];
    uint64_t connected_us;     /* wall clock, microseconds since the epoch */
    uint64_t connected_ms;     /* monotonic */
    uint64_t last_activity_ms; /* monotonic; any payload either way */
    const char *resource;      /* the target name as asked for, "" when no channel is open */
    uint16_t port;
    uint64_t bytes_to_client;   /* payload bytes gateway -> client */
    uint64_t bytes_from_client; /* payload bytes client -> gateway */
    uint32_t transport;         /* enum reg_transport */
    bool websocket;             /* HTTP transport flavour, for tsgwctl */
    void *owner;                /* the tunnel */
    /* index links (registry-owned) */
    bool linked;
    struct reg_entry *next_key, *next_user;
    uint32_t user_hash;
};

struct registry {
    struct reg_entry **by_key;
    struct reg_entry **by_user;
    size_t nbuckets; /* power of two, same for both tables */
    size_t count;
    /* optional observer (the farm registry mirror): called after an entry is indexed
     * (added = true) and before it leaves the indexes (added = false) */
    void (*observe)(void *ctx, const struct reg_entry *e, bool added);
    void *observe_ctx;
};

int reg_init(struct registry *r);
void reg_free(struct registry *r);

/* Indexes e (its key and user must be set). 0 or -ENOMEM; -EEXIST for a duplicate key. */
int reg_add(struct registry *r, struct reg_entry *e);

/* Removes e from the indexes (no-op when not linked). */
void reg_remove(struct registry *r, struct reg_entry *e);

struct reg_entry *reg_find(const struct registry *r, uint64_t tunnel_id, uint32_t channel_id);

/* Collects up to max entries of user (case-insensitive "DOMAIN\user") into out; returns how
 * many exist (may exceed max). */
size_t reg_find_user(const struct registry *r, const char *user, struct reg_entry **out,
                     size_t max);

/* Calls fn for every entry (fn must not add or remove entries). */
void reg_foreach(const struct registry *r, void (*fn)(struct reg_entry *e, void *ctx), void *ctx);

#endif
