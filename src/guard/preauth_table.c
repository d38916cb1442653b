/* Pre-authentication slots by address key, with O(1) victim selection (preauth_table.h). */
#include "guard/preauth_table.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define PA_HASH_BUCKETS 4096

struct pa_group {
    char key[ADDRKEY_MAX];
    unsigned n;
    struct pa_entry *head[PA_LEVELS], *tail[PA_LEVELS];
    struct pa_group *hnext;         /* hash chain */
    struct pa_group *cprev, *cnext; /* the list of groups holding n slots */
};

static unsigned key_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h % PA_HASH_BUCKETS;
}

int pa_init(struct pa_table *t)
{
    memset(t, 0, sizeof *t);
    t->hash = calloc(PA_HASH_BUCKETS, sizeof *t->hash);
    return t->hash ? 0 : -1;
}

void pa_free(struct pa_table *t)
{
    if (t->hash)
        for (unsigned i = 0; i < PA_HASH_BUCKETS; i++)
            while (t->hash[i]) {
                struct pa_group *g = t->hash[i];
                t->hash[i] = g->hnext;
                free(g);
            }
    free(t->hash);
    free(t->count_head);
    free(t->count_tail);
    memset(t, 0, sizeof *t);
}

static struct pa_group **find(const struct pa_table *t, const char *key)
{
    struct pa_group **pp = &t->hash[key_hash(key)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static int count_reserve(struct pa_table *t, unsigned n)
{
    if (n < t->count_cap)
        return 0;
    unsigned cap = t->count_cap ? t->count_cap : 64;
    while (cap <= n)
        cap *= 2;
    struct pa_group **h = realloc(t->count_head, cap * sizeof *h);
    if (!h)
        return -1;
    t->count_head = h;
    struct pa_group **tl = realloc(t->count_tail, cap * sizeof *tl);
    if (!tl)
        return -1;
    t->count_tail = tl;
    memset(h + t->count_cap, 0, (cap - t->count_cap) * sizeof *h);
    memset(tl + t->count_cap, 0, (cap - t->count_cap) * sizeof *tl);
    t->count_cap = cap;
    return 0;
}

static void count_unlink(struct pa_table *t, struct pa_group *g)
{
    if (g->cprev)
        g->cprev->cnext = g->cnext;
    else
        t->count_head[g->n] = g->cnext;
    if (g->cnext)
        g->cnext->cprev = g->cprev;
    else
        t->count_tail[g->n] = g->cprev;
    g->cprev = g->cnext = NULL;
}

/* appends: the head of each list is the group that reached that count first */
static void count_link(struct pa_table *t, struct pa_group *g)
{
    g->cnext = NULL;
    g->cprev = t->count_tail[g->n];
    if (g->cprev)
        g->cprev->cnext = g;
    else
        t->count_head[g->n] = g;
    t->count_tail[g->n] = g;
    if (g->n > t->max_count)
        t->max_count = g->n;
}

static void level_unlink(struct pa_group *g, struct pa_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head[e->level] = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        g->tail[e->level] = e->prev;
    e->prev = e->next = NULL;
}

static void level_append(struct pa_group *g, struct pa_entry *e)
{
    e->next = NULL;
    e->prev = g->tail[e->level];
    if (e->prev)
        e->prev->next = e;
    else
        g->head[e->level] = e;
    g->tail[e->level] = e;
}

int pa_add(struct pa_table *t, struct pa_entry *e, const char *key, uint64_t now_ms)
{
    struct pa_group **pp = find(t, key);
    struct pa_group *g = *pp;
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g)
            return -1;
        str_copy(g->key, key, sizeof g->key);
        *pp = g;
        t->ngroups++;
    } else {
        count_unlink(t, g);
    }
    if (count_reserve(t, g->n + 1) < 0) {
        if (g->n)
            count_link(t, g);
        else {
            *find(t, key) = g->hnext;
            t->ngroups--;
            free(g);
        }
        return -1;
    }
    g->n++;
    count_link(t, g);
    e->g = g;
    e->level = PA_TLS;
    e->since_ms = now_ms;
    level_append(g, e);
    t->total++;
    return 0;
}

void pa_remove(struct pa_table *t, struct pa_entry *e)
{
    struct pa_group *g = e->g;
    if (!g)
        return;
    level_unlink(g, e);
    e->g = NULL;
    t->total--;
    count_unlink(t, g);
    if (--g->n == 0) {
        *find(t, g->key) = g->hnext;
        t->ngroups--;
        free(g);
    } else {
        count_link(t, g);
    }
    while (t->max_count && !t->count_head[t->max_count])
        t->max_count--;
}

void pa_set_level(struct pa_table *t, struct pa_entry *e, unsigned level, uint64_t now_ms)
{
    (void)t;
    if (!e->g || level >= PA_LEVELS || level == e->level)
        return;
    level_unlink(e->g, e);
    e->level = level;
    e->since_ms = now_ms;
    level_append(e->g, e);
}

unsigned pa_count(const struct pa_table *t, const char *key)
{
    struct pa_group *g = *find(t, key);
    return g ? g->n : 0;
}

struct pa_entry *pa_victim(const struct pa_table *t)
{
    if (!t->max_count)
        return NULL;
    struct pa_group *g = t->count_head[t->max_count];
    for (unsigned l = 0; l < PA_LEVELS; l++)
        if (g->head[l])
            return g->head[l];
    return NULL;
}

unsigned pa_entry_count(const struct pa_entry *e)
{
    return e->g ? e->g->n : 0;
}

const char *pa_key(const struct pa_entry *e)
{
    return e->g ? e->g->key : "";
}
