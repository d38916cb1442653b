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
    struct logon_identity id; /* first: a node and its identity have the same address */
    uint32_t refs;
    uint32_t hash;
    bool shared; /* in the table (read-only from then on) */
    struct identity_node *next;
};

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
    if (T.nbuckets) {
        for (struct identity_node *o = T.b[n->hash & (T.nbuckets - 1)]; o; o = o->next)
            if (o->hash == n->hash && !memcmp(&o->id, id, sizeof *id)) {
                o->refs++;
                identity_put(id);
                return &o->id;
            }
    }
    if (T.n >= T.nbuckets)
        grow();
    if (!T.nbuckets)
        return id; /* no table (out of memory): stays private, still correct */
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
