/* Logon failure accounting: per (address, account), per account, per address (logon_guard.h). */
#include "guard/logon_guard.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define LG_HASH 4096

struct lg_entry {
    enum lg_kind kind;
    char addr[ADDRKEY_MAX];
    char account[LG_ACCOUNT_MAX]; /* lower case */
    uint32_t count;
    uint64_t window_start_ms;
    uint32_t nblocks;
    uint64_t last_block_end_ms;
    uint64_t blocked_until_ms; /* 0 = not blocked */
    uint32_t block_ms;
    char good[LG_GOOD_MAX][ADDRKEY_MAX]; /* LG_ACCOUNT: known-good address keys */
    uint64_t good_ms[LG_GOOD_MAX];
    struct lg_entry *hnext;
    struct lg_entry *lprev, *lnext; /* LRU */
    struct lg_entry *bprev, *bnext; /* blocked list */
};

static void lower_copy(char *dst, const char *src, size_t dsz)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < dsz; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

static unsigned hash_of(enum lg_kind k, const char *addr, const char *account)
{
    uint32_t h = 2166136261u ^ (uint32_t)k;
    for (const char *p = addr; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '|') * 16777619u;
    for (const char *p = account; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % LG_HASH;
}

int lg_init(struct logon_guard *g, unsigned max_entries)
{
    memset(g, 0, sizeof *g);
    g->max_entries = max_entries ? max_entries : 1;
    g->hash = calloc(LG_HASH, sizeof *g->hash);
    return g->hash ? 0 : -1;
}

void lg_free(struct logon_guard *g)
{
    while (g->lru_head) {
        struct lg_entry *e = g->lru_head;
        g->lru_head = e->lnext;
        free(e);
    }
    free(g->hash);
    memset(g, 0, sizeof *g);
}

static void lru_unlink(struct logon_guard *g, struct lg_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        g->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        g->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_front(struct logon_guard *g, struct lg_entry *e)
{
    e->lprev = NULL;
    e->lnext = g->lru_head;
    if (g->lru_head)
        g->lru_head->lprev = e;
    else
        g->lru_tail = e;
    g->lru_head = e;
}

static void blocked_unlink(struct logon_guard *g, struct lg_entry *e)
{
    if (!e->blocked_until_ms)
        return;
    if (e->bprev)
        e->bprev->bnext = e->bnext;
    else
        g->blocked = e->bnext;
    if (e->bnext)
        e->bnext->bprev = e->bprev;
    e->bprev = e->bnext = NULL;
    e->blocked_until_ms = 0;
    g->nblocked--;
}

static void blocked_link(struct logon_guard *g, struct lg_entry *e, uint64_t until)
{
    blocked_unlink(g, e);
    e->blocked_until_ms = until;
    e->bprev = NULL;
    e->bnext = g->blocked;
    if (g->blocked)
        g->blocked->bprev = e;
    g->blocked = e;
    g->nblocked++;
}

static struct lg_entry **find(struct logon_guard *g, enum lg_kind k, const char *addr,
                              const char *account)
{
    struct lg_entry **pp = &g->hash[hash_of(k, addr, account)];
    while (*pp &&
           ((*pp)->kind != k || strcmp((*pp)->addr, addr) || strcmp((*pp)->account, account)))
        pp = &(*pp)->hnext;
    return pp;
}

static void forget(struct logon_guard *g, struct lg_entry *e)
{
    struct lg_entry **pp = find(g, e->kind, e->addr, e->account);
    if (*pp == e)
        *pp = e->hnext;
    blocked_unlink(g, e);
    lru_unlink(g, e);
    g->n--;
    free(e);
}

/* Looks up (or creates) an entry; NULL only when out of memory. */
static struct lg_entry *get(struct logon_guard *g, enum lg_kind k, const char *addr,
                            const char *account, bool create)
{
    struct lg_entry **pp = find(g, k, addr, account);
    struct lg_entry *e = *pp;
    if (e) {
        lru_unlink(g, e);
        lru_front(g, e);
        return e;
    }
    if (!create)
        return NULL;
    if (g->n >= g->max_entries) {
        /* forget the least recently used entry, sparing blocked ones when a few tries allow */
        struct lg_entry *v = g->lru_tail;
        for (int i = 0; i < 8 && v && v->blocked_until_ms; i++)
            v = v->lprev;
        forget(g, v ? v : g->lru_tail);
        pp = find(g, k, addr, account);
    }
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = k;
    str_copy(e->addr, addr, sizeof e->addr);
    str_copy(e->account, account, sizeof e->account);
    e->hnext = *pp;
    *pp = e;
    lru_front(g, e);
    g->n++;
    return e;
}

static void describe(const struct lg_entry *e, struct lg_block *b)
{
    b->kind = e->kind;
    b->addr = e->addr;
    b->account = e->account;
    b->failures = e->count;
    b->nblocks = e->nblocks;
    b->until_ms = e->blocked_until_ms;
    b->block_ms = e->block_ms;
}

static bool good_addr(const struct lg_entry *acct, const char *addr)
{
    for (int i = 0; i < LG_GOOD_MAX; i++)
        if (acct->good_ms[i] && !strcmp(acct->good[i], addr))
            return true;
    return false;
}

static bool in_force(const struct lg_entry *e, uint64_t now)
{
    return e && e->blocked_until_ms > now;
}

bool lg_blocked(struct logon_guard *g, const char *addr, const char *account, uint64_t now,
                struct lg_block *out)
{
    char acct[LG_ACCOUNT_MAX];
    lower_copy(acct, account, sizeof acct);
    struct lg_entry *e = *find(g, LG_ADDRESS, addr, "");
    if (in_force(e, now)) {
        describe(e, out);
        return true;
    }
    if (!acct[0])
        return false;
    e = *find(g, LG_PAIR, addr, acct);
    if (in_force(e, now)) {
        describe(e, out);
        return true;
    }
    e = *find(g, LG_ACCOUNT, "", acct);
    if (in_force(e, now) && !good_addr(e, addr)) {
        describe(e, out);
        return true;
    }
    return false;
}

static const char *what(enum lg_kind k)
{
    switch (k) {
    case LG_PAIR:
        return "for this account from this address";
    case LG_ACCOUNT:
        return "for this account from any address";
    default:
        return "from this address for any account";
    }
}

static void count_one(struct logon_guard *g, const struct lg_config *cfg, enum lg_kind k,
                      const char *addr, const char *acct, uint32_t threshold, uint64_t now,
                      lg_event_fn ev, void *arg)
{
    struct lg_entry *e = get(g, k, addr, acct, true);
    if (!e)
        return;
    if (e->blocked_until_ms > now)
        return; /* already blocked: the block is the answer */
    if (e->blocked_until_ms) {
        /* expired but not yet swept */
        blocked_unlink(g, e);
    }
    if (!e->count || now - e->window_start_ms > cfg->window_ms) {
        e->window_start_ms = now;
        e->count = 0;
    }
    /* the backoff is forgotten after a quiet spell as long as the longest block */
    if (e->nblocks && now - e->last_block_end_ms > cfg->block_max_ms)
        e->nblocks = 0;
    if (++e->count < threshold)
        return;
    uint64_t len = cfg->block_ms;
    for (uint32_t i = 0; i < e->nblocks && len < cfg->block_max_ms; i++)
        len *= 2;
    if (len > cfg->block_max_ms)
        len = cfg->block_max_ms;
    e->nblocks++;
    e->block_ms = (uint32_t)len;
    e->last_block_end_ms = now + len;
    blocked_link(g, e, now + len);
    if (ev) {
        char why[160];
        snprintf(why, sizeof why, "%u failed logons %s within %u s: blocked for %u s (block %u)",
                 e->count, what(k), cfg->window_ms / 1000, (unsigned)(len / 1000), e->nblocks);
        struct lg_block b;
        describe(e, &b);
        ev(arg, &b, true, why);
    }
    e->count = 0;
}

void lg_failure(struct logon_guard *g, const struct lg_config *cfg, const char *addr,
                const char *account, uint64_t now, lg_event_fn ev, void *arg)
{
    char acct[LG_ACCOUNT_MAX];
    lower_copy(acct, account, sizeof acct);
    struct lg_block b;
    if (lg_blocked(g, addr, acct, now, &b))
        return; /* refused before any password was checked: not a guess */
    if (acct[0]) {
        count_one(g, cfg, LG_PAIR, addr, acct, cfg->per_pair, now, ev, arg);
        count_one(g, cfg, LG_ACCOUNT, "", acct, cfg->per_account, now, ev, arg);
    }
    count_one(g, cfg, LG_ADDRESS, addr, "", cfg->per_address, now, ev, arg);
}

void lg_success(struct logon_guard *g, const char *addr, const char *account, uint64_t now)
{
    char acct[LG_ACCOUNT_MAX];
    lower_copy(acct, account, sizeof acct);
    if (!acct[0])
        return;
    struct lg_entry *e = get(g, LG_PAIR, addr, acct, false);
    if (e && !in_force(e, now))
        forget(g, e);
    e = get(g, LG_ACCOUNT, "", acct, true);
    if (!e)
        return;
    int slot = 0;
    for (int i = 0; i < LG_GOOD_MAX; i++) {
        if (e->good_ms[i] && !strcmp(e->good[i], addr)) {
            slot = i;
            break;
        }
        if (e->good_ms[i] < e->good_ms[slot])
            slot = i;
    }
    str_copy(e->good[slot], addr, sizeof e->good[slot]);
    e->good_ms[slot] = now ? now : 1;
}

static void unblock(struct logon_guard *g, struct lg_entry *e, const char *why, lg_event_fn ev,
                    void *arg)
{
    struct lg_block b;
    describe(e, &b);
    blocked_unlink(g, e);
    if (ev)
        ev(arg, &b, false, why);
}

void lg_expire(struct logon_guard *g, uint64_t now, lg_event_fn ev, void *arg)
{
    struct lg_entry *e = g->blocked;
    while (e) {
        struct lg_entry *next = e->bnext;
        if (e->blocked_until_ms <= now)
            unblock(g, e, "expired", ev, arg);
        e = next;
    }
}

unsigned lg_lift(struct logon_guard *g, const char *who, uint64_t now, lg_event_fn ev, void *arg)
{
    (void)now;
    char a[ADDRKEY_MAX] = "", acct[LG_ACCOUNT_MAX] = "";
    const char *sp = strchr(who, ' ');
    if (sp) {
        size_t n = (size_t)(sp - who);
        if (n >= sizeof a)
            return 0;
        memcpy(a, who, n);
        a[n] = 0;
        lower_copy(acct, sp + 1, sizeof acct);
    }
    char low[LG_ACCOUNT_MAX];
    lower_copy(low, who, sizeof low);
    unsigned lifted = 0;
    struct lg_entry *e = g->blocked;
    while (e) {
        struct lg_entry *next = e->bnext;
        bool hit = sp ? (e->kind == LG_PAIR && !strcmp(e->addr, a) && !strcmp(e->account, acct))
                      : (!strcmp(e->addr, who) || (e->account[0] && !strcmp(e->account, low)));
        if (hit) {
            e->count = 0;
            e->nblocks = 0;
            unblock(g, e, "lifted by an administrator", ev, arg);
            lifted++;
        }
        e = next;
    }
    return lifted;
}

void lg_foreach_blocked(struct logon_guard *g, uint64_t now,
                        void (*fn)(void *arg, const struct lg_block *b), void *arg)
{
    for (struct lg_entry *e = g->blocked; e; e = e->bnext)
        if (e->blocked_until_ms > now) {
            struct lg_block b;
            describe(e, &b);
            fn(arg, &b);
        }
}

const char *lg_kind_name(enum lg_kind k)
{
    switch (k) {
    case LG_PAIR:
        return "address+account";
    case LG_ACCOUNT:
        return "account";
    default:
        return "address";
    }
}
