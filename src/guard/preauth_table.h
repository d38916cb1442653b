/* Pre-authentication slots: who holds them, and which one to give up under pressure.
 *
 * Pure accounting (no sockets, no clock): the daemon embeds a struct pa_entry in each
 * connection that is not yet authenticated. Entries are grouped by address key (guard/addrkey.h);
 * groups sit in buckets by their slot count, so the group holding most slots is found in O(1);
 * within a group, entries sit in one list per progress level in arrival order, so its least
 * advanced, oldest entry is found in O(1). Adding and removing are O(1) (one hash lookup). */
#ifndef TSGW_GUARD_PREAUTH_TABLE_H
#define TSGW_GUARD_PREAUTH_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/addrkey.h"

/* Progress levels: a victim is taken from the lowest level first. */
enum pa_level {
    PA_TLS,  /* TLS handshake not finished */
    PA_HTTP, /* TLS done, no authentication message yet */
    PA_AUTH, /* an authentication exchange is under way (challenge sent) */
    PA_LEVELS
};

struct pa_group;

struct pa_entry {
    struct pa_group *g; /* NULL when not in a table */
    struct pa_entry *prev, *next;
    uint64_t since_ms; /* when it reached its current level */
    unsigned level;
};

struct pa_table {
    struct pa_group **hash;                     /* PA_HASH_BUCKETS chains */
    struct pa_group **count_head, **count_tail; /* [n]: groups holding n slots */
    unsigned count_cap;                         /* entries in count_head/count_tail */
    unsigned max_count;                         /* highest n with a group, 0 when empty */
    unsigned total, ngroups;
};

int pa_init(struct pa_table *t);
/* Frees the groups; the entries belong to their owners (they are left dangling). */
void pa_free(struct pa_table *t);

/* Adds e (not in a table) under key at level PA_TLS. 0, or -1 when out of memory. */
int pa_add(struct pa_table *t, struct pa_entry *e, const char *key, uint64_t now_ms);
/* Removes e; no-op when e is in no table. */
void pa_remove(struct pa_table *t, struct pa_entry *e);
/* Moves e to level (it becomes the newest entry of that level). */
void pa_set_level(struct pa_table *t, struct pa_entry *e, unsigned level, uint64_t now_ms);
/* Slots held by key. */
unsigned pa_count(const struct pa_table *t, const char *key);
/* The entry worth least: in the group holding most slots (the one that reached that count
 * first), the least advanced, then oldest. NULL when the table is empty. */
struct pa_entry *pa_victim(const struct pa_table *t);
/* Slots held by e's group (0 when e is in no table). */
unsigned pa_entry_count(const struct pa_entry *e);
/* The key of e's group. */
const char *pa_key(const struct pa_entry *e);

#endif
