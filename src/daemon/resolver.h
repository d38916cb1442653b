/* Name resolution off the event loop: getaddrinfo() runs on a worker thread, results come back
 * through an eventfd, so a slow DNS server stalls one tunnel's CHANNEL_CREATE, not the gateway. */
#ifndef TSGW_DAEMON_RESOLVER_H
#define TSGW_DAEMON_RESOLVER_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "tsgu/tsgu.h"

struct gateway;

#define RESOLVE_MAX (TSGU_MAX_RESOURCES + TSGU_MAX_ALT_RESOURCES)

/* resolve_job_new zeroes every field but host by name (host is 13.5 KB): a new field needs a
 * line there too. */
struct resolve_job {
    uint64_t tunnel_id;
    unsigned n;
    char host[RESOLVE_MAX][256]; /* normalised names */
    uint16_t port[RESOLVE_MAX];
    bool skip[RESOLVE_MAX]; /* refused before any lookup (no RAP could allow it) */
    struct addrinfo *res[RESOLVE_MAX];
    int err[RESOLVE_MAX];
    struct resolve_job *next;
};

/* A job with no names yet (NULL when out of memory); resolve_job_free ends it. */
struct resolve_job *resolve_job_new(void);

/* Starts the worker. 0 or -1. */
int resolver_init(struct gateway *gw);
void resolver_stop(struct gateway *gw);

/* Runs every lookup of job now, in this thread (address literals only: no DNS). */
void resolver_run_now(struct resolve_job *job);

/* Queues job; tunnel_on_resolved() gets it back on the loop thread. */
void resolver_submit(struct gateway *gw, struct resolve_job *job);

void resolve_job_free(struct resolve_job *job);

#endif
