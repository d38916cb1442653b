/* libFuzzer target for the credential store: the input is written to a file and loaded; a
 * store that loads is saved and reloaded, and must come back identical. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir_path[64], in_path[80], out_path[80];

static void cleanup(void)
{
    unlink(in_path);
    unlink(out_path);
    rmdir(dir_path);
}

static void init_paths(void)
{
    if (dir_path[0])
        return;
    /* tmpfs when available: the saves fsync. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir_path, sizeof dir_path, "%s/fuzz-users-XXXXXX", base);
    if (!mkdtemp(dir_path))
        abort();
    snprintf(in_path, sizeof in_path, "%s/in", dir_path);
    snprintf(out_path, sizeof out_path, "%s/out", dir_path);
    atexit(cleanup);
}

static int same_entry(const struct user_entry *a, const struct user_entry *b)
{
    return strcmp(a->domain, b->domain) == 0 && strcmp(a->name, b->name) == 0 &&
           memcmp(a->nthash, b->nthash, 16) == 0 && strcmp(a->groups, b->groups) == 0 &&
           strcmp(a->full_name, b->full_name) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_paths();
    FILE *f = fopen(in_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    struct user_store st = {0}, st2 = {0};
    char err[512];
    int r = user_store_load(in_path, 0, &st, err, sizeof err);
    if (r < 0) {
        if (st.v || st.n || !memchr(err, 0, sizeof err) || !err[0])
            abort();
        return 0;
    }
    for (size_t i = 0; i < st.n; i++) {
        const struct user_entry *e = &st.v[i];
        if (user_store_find(&st, e->domain, e->name) != e)
            abort();
        if (e->groups[0] && !user_in_group(e, e->groups) && !strchr(e->groups, ';'))
            abort();
        char acct[USERS_DOMAIN_MAX + USERS_NAME_MAX + 1], d[USERS_DOMAIN_MAX], u[USERS_NAME_MAX];
        snprintf(acct, sizeof acct, "%s\\%s", e->domain, e->name);
        if (user_split_account(acct, d, sizeof d, u, sizeof u) != 0 || strcmp(d, e->domain) ||
            strcmp(u, e->name))
            abort();
    }
    if (user_store_save(out_path, &st) != 0)
        abort();
    if (user_store_load(out_path, 0, &st2, err, sizeof err) != 0 || st2.n != st.n)
        abort();
    for (size_t i = 0; i < st.n; i++)
        if (!same_entry(&st.v[i], &st2.v[i]))
            abort();
    /* Deleting every account in turn empties the store. */
    while (st2.n) {
        char d[USERS_DOMAIN_MAX], u[USERS_NAME_MAX];
        memcpy(d, st2.v[st2.n - 1].domain, sizeof d);
        memcpy(u, st2.v[st2.n - 1].name, sizeof u);
        size_t n = st2.n;
        if (user_store_del(&st2, d, u) != 0 || st2.n != n - 1)
            abort();
    }
    user_store_free(&st);
    user_store_free(&st2);
    return 0;
}
