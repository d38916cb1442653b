/* Shared identities (identity.h): a hash table keyed by the account name, entries compared on
 * every field, so two logons share an identity only when they proved exactly the same thing. */
#include "daemon/identity.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct identity_node {
    uint32_t refs;
    uint32_t hash;
    bool shared; /* in the table (read-only from then on) */
    size_t len;  /* bytes of id that count: up to the NUL of sids, the last field */
    struct identity_node *next;
    struct logon_identity id; /* last: a shared node ends after the NUL of id.sids */
};

/* A shared node keeps the identity only up to the end of its last field's string (the SIDs of
 * a directory account, empty for the others: 2 KB of the 3.6 KB), so the trim must stay after
 * every other field. */
_Static_assert(
    offsetof(struct logon_identity, sids) + sizeof(((struct logon_identity *)0)->sids) ==
        sizeof(struct logon_identity),
    "sids must stay the last field of struct logon_identity (identity.c trims after it)");

static size_t used_len(const struct logon_identity *id)
{
    size_t n = strnlen(id->sids, sizeof id->sids);
    return n < sizeof id->sids ? offsetof(struct logon_identity, sids) + n + 1 : sizeof *id;
}

static struct {
    struct identity_node **b;
    size_t nbuckets; /* power of two */
    size_t n;
} T;

static struct identity_node *node_of(struct logon_identity *id)
{
    return (struct identity_node *)(void *)((char *)id - offsetof(struct identity_node, id));
}

static uint32_t hash_account(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint32_t)tolower((unsigned char)*s);
        h *= 16777619u;
    }
    return h;
}

struct logon_identity *identity_new(void)
{
    struct identity_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->refs = 1;
    return &n->id;
}

struct logon_identity *identity_ref(struct logon_identity *id)
{
    if (id)
        node_of(id)->refs++;
    return id;
}

static void grow(void)
{
    size_t nb = T.nbuckets ? T.nbuckets * 2 : 64;
    struct identity_node **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < T.nbuckets; i++)
        for (struct identity_node *n = T.b[i], *next; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    free(T.b);
    T.b = b;
    T.nbuckets = nb;
}

struct logon_identity *identity_share(struct logon_identity *id)
{
    if (!id)
        return NULL;
    struct identity_node *n = node_of(id);
    if (n->shared)
        return id;
    n->hash = hash_account(id->account);
    n->len = used_len(id);
    if (T.nbuckets) {
        for (struct identity_node *o = T.b[n->hash & (T.nbuckets - 1)]; o; o = o->next)
            if (o->hash == n->hash && o->len == n->len && !memcmp(&o->id, id, n->len)) {
                o->refs++;
                identity_put(id);
                return &o->id;
            }
    }
    if (T.n >= T.nbuckets)
        grow();
    if (!T.nbuckets)
        return id; /* no table (out of memory): stays private, still correct */
    if (n->refs == 1 && n->len < sizeof n->id) {
        /* only the owner knows this address yet: the shared copy can move */
        struct identity_node *small = realloc(n, offsetof(struct identity_node, id) + n->len);
        if (small) {
            n = small;
            id = &n->id;
        }
    }
    n->shared = true;
    n->next = T.b[n->hash & (T.nbuckets - 1)];
    T.b[n->hash & (T.nbuckets - 1)] = n;
    T.n++;
    return id;
}

void identity_put(struct logon_identity *id)
{
    if (!id)
        return;
    struct identity_node *n = node_of(id);
    if (--n->refs)
        return;
    if (n->shared) {
        struct identity_node **pp = &T.b[n->hash & (T.nbuckets - 1)];
        while (*pp != n)
            pp = &(*pp)->next;
        *pp = n->next;
        if (--T.n == 0) {
            free(T.b);
            T.b = NULL;
            T.nbuckets = 0;
        }
    }
    free(n);
}

size_t identity_count(void)
{
    return T.n;
}
