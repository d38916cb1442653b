/* The admin socket (see admin.c and mgmt/proto.h). */
#ifndef TSGW_DAEMON_ADMIN_H
#define TSGW_DAEMON_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gateway;

/* Creates the socket named by [gateway] admin-socket (nothing when unset). 0 or -1 + err. */
int admin_init(struct gateway *gw, char *err, size_t errsz);
/* Answers one request line (NUL-terminated, without its LF) into out, as the socket does for
 * a caller that is (is_admin) or is not an administrator. */
struct buf;
void admin_process_line(struct gateway *gw, bool is_admin, unsigned uid, char *line,
                        struct buf *out);
/* Drops clients past their deadline. */
void admin_sweep(struct gateway *gw, uint64_t now);
/* Closes everything and removes the socket file. */
void admin_free(struct gateway *gw);

#endif
