/* Logon failure accounting without collateral damage (docs/limits.md "Logon failures").
 *
 * Pure (no sockets, no clock): failures are counted per (address key, account), per account
 * across addresses (password spraying, distributed guessing) and per address key across
 * accounts. Each counter has its own threshold within a window; reaching it starts a block
 * whose length doubles with each block of the same entry (up to a maximum). A right password
 * from the same address as a guesser trying other accounts is not affected: only the address
 * as a whole is blocked, at a much higher threshold. An account blocked across addresses stays
 * open from the address keys it recently logged in from ("known good").
 *
 * Memory is bounded: at most max_entries counters (least recently used ones are forgotten),
 * lookups are one hash probe. */
#ifndef TSGW_GUARD_LOGON_GUARD_H
#define TSGW_GUARD_LOGON_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/addrkey.h"

#define LG_ACCOUNT_MAX 200 /* longer account names are cut (the key only) */
#define LG_GOOD_MAX 4      /* known-good address keys kept per account */

enum lg_kind { LG_PAIR, LG_ACCOUNT, LG_ADDRESS };

struct lg_config {
    uint32_t per_pair;    /* failures for one account from one address key */
    uint32_t per_account; /* failures for one account from any address */
    uint32_t per_address; /* failures from one address key, any account */
    uint32_t window_ms;   /* failures older than this are forgotten */
    uint32_t block_ms;    /* first block; doubles with each further block of the same entry */
    uint32_t block_max_ms;
};

struct lg_entry;

/* What a block (or unblock) is about, for events and the admin view. */
struct lg_block {
    enum lg_kind kind;
    const char *addr;    /* "" for LG_ACCOUNT */
    const char *account; /* "" for LG_ADDRESS */
    uint32_t failures;   /* in the current window */
    uint32_t nblocks;    /* blocks of this entry so far (1 = first) */
    uint64_t until_ms;   /* end of the block */
    uint32_t block_ms;   /* its length */
};

/* started: a block began (true) or ended (false); why: "expired", "lifted", or for a start a
 * sentence naming the threshold. */
typedef void (*lg_event_fn)(void *arg, const struct lg_block *b, bool started, const char *why);

struct logon_guard {
    struct lg_entry **hash;
    struct lg_entry *lru_head, *lru_tail; /* most recently used first */
    struct lg_entry *blocked;             /* entries with a block in force */
    unsigned n, max_entries, nblocked;
};

int lg_init(struct logon_guard *g, unsigned max_entries);
void lg_free(struct logon_guard *g);

/* Is a logon from addr (and account, when known; NULL or "" before the account is known)
 * blocked at now? When it is, *out describes the block that applies. */
bool lg_blocked(struct logon_guard *g, const char *addr, const char *account, uint64_t now,
                struct lg_block *out);
/* A failed logon; calls ev for each block it starts. */
void lg_failure(struct logon_guard *g, const struct lg_config *cfg, const char *addr,
                const char *account, uint64_t now, lg_event_fn ev, void *arg);
/* A successful logon: the pair's failures and backoff are forgotten, and addr becomes a
 * known-good address of the account. */
void lg_success(struct logon_guard *g, const char *addr, const char *account, uint64_t now);
/* Ends the blocks that expired by now (ev with "expired"). */
void lg_expire(struct logon_guard *g, uint64_t now, lg_event_fn ev, void *arg);
/* Lifts the blocks whose address key or account equals who (case-insensitive for accounts);
 * "ADDR ACCOUNT" names one pair. Returns how many were lifted (ev with "lifted"). */
unsigned lg_lift(struct logon_guard *g, const char *who, uint64_t now, lg_event_fn ev, void *arg);
/* Calls fn for every block in force. */
void lg_foreach_blocked(struct logon_guard *g, uint64_t now,
                        void (*fn)(void *arg, const struct lg_block *b), void *arg);

const char *lg_kind_name(enum lg_kind k);

#endif
