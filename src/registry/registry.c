#include "registry/registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static uint32_t hash_key(uint64_t t, uint32_t c)
{
    uint64_t x = t * 0x9E3779B97F4A7C15ull ^ ((uint64_t)c << 32 | c);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint32_t)x;
}

static uint32_t hash_user(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a over the lower-cased name */
    for (; *s; s++) {
        h ^= (uint8_t)tolower((unsigned char)*s);
        h *= 16777619u;
    }
    return h;
}

int reg_init(struct registry *r)
{
    r->nbuckets = 1024;
    r->count = 0;
    r->observe = NULL;
    r->observe_ctx = NULL;
    r->by_key = calloc(r->nbuckets, sizeof *r->by_key);
    r->by_user = calloc(r->nbuckets, sizeof *r->by_user);
    if (!r->by_key || !r->by_user) {
        reg_free(r);
        return -ENOMEM;
    }
    return 0;
}

void reg_free(struct registry *r)
{
    free(r->by_key);
    free(r->by_user);
    r->by_key = r->by_user = NULL;
    r->nbuckets = r->count = 0;
}

static void link_entry(struct registry *r, struct reg_entry *e)
{
    size_t m = r->nbuckets - 1;
    size_t k = hash_key(e->tunnel_id, e->channel_id) & m;
    e->next_key = r->by_key[k];
    r->by_key[k] = e;
    size_t u = e->user_hash & m;
    e->next_user = r->by_user[u];
    r->by_user[u] = e;
}

static int grow(struct registry *r)
{
    size_t n = r->nbuckets ? r->nbuckets * 2 : 1024; /* a zeroed registry: as reg_init */
    struct reg_entry **nk = calloc(n, sizeof *nk), **nu = calloc(n, sizeof *nu);
    if (!nk || !nu) {
        free(nk);
        free(nu);
        return -ENOMEM;
    }
    struct reg_entry **ok = r->by_key;
    size_t on = r->nbuckets;
    free(r->by_user);
    r->by_key = nk;
    r->by_user = nu;
    r->nbuckets = n;
    for (size_t i = 0; i < on; i++) {
        struct reg_entry *e = ok[i];
        while (e) {
            struct reg_entry *next = e->next_key;
            link_entry(r, e);
            e = next;
        }
    }
    free(ok);
    return 0;
}

int reg_add(struct registry *r, struct reg_entry *e)
{
    if (e->linked)
        return 0;
    if (reg_find(r, e->tunnel_id, e->channel_id))
        return -EEXIST;
    if (r->count + 1 > r->nbuckets && grow(r) < 0)
        return -ENOMEM;
    e->user_hash = hash_user(e->user);
    link_entry(r, e);
    e->linked = true;
    r->count++;
    if (r->observe)
        r->observe(r->observe_ctx, e, true);
    return 0;
}

void reg_remove(struct registry *r, struct reg_entry *e)
{
    if (!e->linked)
        return;
    if (r->observe)
        r->observe(r->observe_ctx, e, false);
    size_t m = r->nbuckets - 1;
    struct reg_entry **pp = &r->by_key[hash_key(e->tunnel_id, e->channel_id) & m];
    while (*pp && *pp != e)
        pp = &(*pp)->next_key;
    if (*pp)
        *pp = e->next_key;
    pp = &r->by_user[e->user_hash & m];
    while (*pp && *pp != e)
        pp = &(*pp)->next_user;
    if (*pp)
        *pp = e->next_user;
    e->linked = false;
    e->next_key = e->next_user = NULL;
    r->count--;
}

struct reg_entry *reg_find(const struct registry *r, uint64_t tunnel_id, uint32_t channel_id)
{
    if (!r->nbuckets)
        return NULL;
    struct reg_entry *e = r->by_key[hash_key(tunnel_id, channel_id) & (r->nbuckets - 1)];
    for (; e; e = e->next_key)
        if (e->tunnel_id == tunnel_id && e->channel_id == channel_id)
            return e;
    return NULL;
}

size_t reg_find_user(const struct registry *r, const char *user, struct reg_entry **out, size_t max)
{
    if (!r->nbuckets)
        return 0;
    uint32_t h = hash_user(user);
    size_t n = 0;
    for (struct reg_entry *e = r->by_user[h & (r->nbuckets - 1)]; e; e = e->next_user) {
        if (e->user_hash != h || strcasecmp(e->user, user) != 0)
            continue;
        if (n < max)
            out[n] = e;
        n++;
    }
    return n;
}

void reg_foreach(const struct registry *r, void (*fn)(struct reg_entry *e, void *ctx), void *ctx)
{
    for (size_t i = 0; i < r->nbuckets; i++)
        for (struct reg_entry *e = r->by_key[i]; e; e = e->next_key)
            fn(e, ctx);
}
