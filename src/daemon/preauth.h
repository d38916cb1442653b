/* Pre-authentication pressure (docs/limits.md "Floods"): who gets a slot when the table of
 * unauthenticated connections is full, shorter deadlines above the high-water mark, and a bound
 * on TLS handshake work per loop turn. Accounting itself is in guard/preauth_table.c. */
#ifndef TSGW_DAEMON_PREAUTH_H
#define TSGW_DAEMON_PREAUTH_H

#include <stdbool.h>
#include <stdint.h>

struct gateway;
struct conn;

/* Counters for monitoring (read them from gw->flood; they only grow, except the *_now ones). */
struct flood_stats {
    uint64_t preauth_accepted; /* connections given a pre-auth slot */
    uint64_t preauth_evicted;  /* pre-auth connections closed to make room for a new one */
    uint64_t preauth_refused;  /* refused at accept (per-address cap, out of memory, stopping) */
    uint64_t preauth_expired;  /* pre-auth connections closed by a deadline */
    uint32_t preauth_peak;     /* most pre-auth connections at once */
    uint64_t preauth_bytes;    /* estimated memory of the pre-auth connections now */
    uint64_t preauth_evicted_memory; /* of preauth_evicted: for max-unauthenticated-memory */
    uint64_t handshakes_deferred;    /* TLS handshake steps put off to a later loop turn */
    uint64_t logon_blocks;           /* blocks started (address+account, account, address) */
    uint64_t logon_unblocks;         /* blocks ended (expired or lifted) */
    uint64_t logon_refused;          /* logons refused because of a block */
};

int preauth_init(struct gateway *gw);
void preauth_free(struct gateway *gw);

/* At accept, before a connection from key exists: makes room (closing the pre-auth connection
 * worth least when the table is full). False when the new connection must be refused. */
bool preauth_admit(struct gateway *gw, const char *key);
/* Takes a slot for c (c->addr_key set). False when out of memory. */
bool preauth_take(struct conn *c);
/* Gives c's slot back (authenticated or closed); no-op when it holds none. */
void preauth_release(struct conn *c);
/* Recomputes c's share of the pre-auth memory (after its buffers changed); over
 * max-unauthenticated-memory, the connections worth least are closed (maybe c itself). */
void preauth_charge(struct conn *c);
/* c made progress (guard/preauth_table.h levels): it becomes a less likely victim. */
void preauth_progress(struct conn *c, unsigned level);
/* The deadline for a pre-auth phase starting now: normal_ms, or the pressure value when
 * shorter and the table is above its high-water mark. */
uint64_t preauth_deadline(struct gateway *gw, uint32_t normal_ms, uint32_t pressure_ms);
/* From the sweep, for each connection: under pressure, pulls a pre-auth deadline in. */
void preauth_sweep_conn(struct conn *c, uint64_t now);

/* TLS handshake work: c's handshake step runs now when the budget allows (at most
 * handshakes-per-turn steps per loop turn, and while tunnels relay data at most handshake-share
 * percent of the time); otherwise c waits in a FIFO without epoll interest. */
void preauth_handshake(struct conn *c);
/* After each loop turn: new turn budget, queued handshakes get their turn. */
void preauth_run_handshakes(struct gateway *gw);
/* The loop's epoll timeout: 0 while queued handshakes may run, else until the next window. */
int preauth_loop_timeout(struct gateway *gw, int dflt);
/* c is being freed: leaves the handshake queue. */
void preauth_forget(struct conn *c);

#endif
