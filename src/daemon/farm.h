/* Farm: several tsgwd nodes share one registry on Redis (docs/farm.md).
 *
 * Two hiredis async connections driven by the daemon's own epoll loop (never a blocking call):
 * one for commands (heartbeat, registry writes, farm-wide requests), one subscribed to the
 * farm's command channel and to this node's reply channel. When Redis is slow or down, only farm
 * features degrade: tunnels, local limits and local admin calls go on; the links reconnect with
 * a backoff and the node re-registers its live connections.
 *
 * Redis keys (PREFIX = "tsgw:"):
 *   tsgw:nodes                    ZSET node -> expiry (Unix ms); live = score > now
 *   tsgw:conns:NODE               HASH "T:C" -> record (see farm_record_*), TTL
 *   tsgw:user:NODE:LOWERUSER      SET of "T:C", TTL
 *   tsgw:proto:NODE:RDP           SET of "T:C", TTL
 *   channel tsgw:cmd              "id TAB from TAB method TAB arg"
 *   channel tsgw:reply:NODE       "id TAB node TAB ended TAB returnvalue"
 * Farm-wide connection keys are "NODE/TunnelId:ChannelId". */
#ifndef TSGW_DAEMON_FARM_H
#define TSGW_DAEMON_FARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/schema.h"

struct gateway;
struct buf;

/* ReturnValue of a farm-scope call when Redis (or every other node) could not be reached:
 * WBEM_E_TRANSPORT_FAILURE. The calling node's own matching connections were still ended. */
#define FARM_E_UNREACHABLE WBEM_E_TRANSPORT_FAILURE

/* Starts the farm links when [farm] redis is set (else does nothing). 0 or -1 with err. */
int farm_init(struct gateway *gw, char *err, size_t errsz);
void farm_free(struct gateway *gw);
/* Heartbeat, counter refresh, reconnects, timeouts: called from the periodic sweep. */
void farm_tick(struct gateway *gw, uint64_t now);

bool farm_enabled(const struct gateway *gw);
/* Both Redis links are up (registered). */
bool farm_reachable(const struct gateway *gw);
const char *farm_node_name(const struct gateway *gw);
/* Live node names, ';'-separated, as of the last heartbeat (this node alone without a farm). */
void farm_servers(const struct gateway *gw, char *out, size_t outsz);

/* Farm-wide calls. done runs later from the loop with the result, unless the call was cancelled
 * (farm_cancel) first. Returns the call's id (> 0), or 0 when the call completed at once: then
 * *ret holds the ReturnValue and done is not called. */
typedef void (*farm_invoke_done)(struct gateway *gw, void *ctx, uint64_t id, uint32_t ret,
                                 uint32_t nodes, uint32_t ended);
uint64_t farm_invoke(struct gateway *gw, const char *method, const char *key, const char *arg,
                     farm_invoke_done done, void *ctx, uint32_t *ret);

/* Farm-wide listing of Win32_TSGatewayConnection: one instance per connection on every live
 * node, ConnectionKey "NODE/T:C"; node is given to fn. done runs once (status 0, or
 * FARM_E_UNREACHABLE) after every row was delivered to fn. */
typedef int (*farm_row_fn)(const struct cim_instance *in, const char *node, void *ctx);
typedef void (*farm_enum_done)(struct gateway *gw, void *ctx, uint64_t id, uint32_t status,
                               const struct buf *rows);
uint64_t farm_enumerate(struct gateway *gw, farm_enum_done done, void *ctx);
/* Calls fn for every row of a listing handed to farm_enum_done. */
void farm_rows_foreach(const struct buf *rows, farm_row_fn fn, void *ctx);

void farm_cancel(struct gateway *gw, uint64_t id);

/* Shared logon failure counts: publishes a failed (ok = false) or successful logon for an
 * address key and account (channel tsgw:logon); every other node feeds it to its own logon
 * rate limiting (logon_limit_*_at). Nothing without a farm or while Redis is unreachable. */
void farm_logon_result(struct gateway *gw, const char *addr_key, const char *account, bool ok);

/* Farm-wide max-connections: the other live nodes' tunnel counts as last read from Redis (every
 * 250 ms); 0 without a farm or while Redis is unreachable (then the limit is this node's). */
uint32_t farm_others_active(const struct gateway *gw);

#endif
