/* Fuzz target for the flood guards: address keys (src/guard/addrkey.c), the pre-auth table
 * (src/guard/preauth_table.c) and logon failure accounting (src/guard/logon_guard.c), driven by
 * a byte stream of operations. Invariants are checked against a simple model after each step;
 * a violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/addrkey.h"
#include "guard/logon_guard.h"
#include "guard/preauth_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NE 64
#define NK 8

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a leading text line is an address for addr_key_str */
    const uint8_t *nl = memchr(data, '\n', size < 80 ? size : 80);
    if (nl) {
        char a[80], k[ADDRKEY_MAX];
        size_t n = (size_t)(nl - data);
        memcpy(a, data, n);
        a[n] = 0;
        addr_key_str(a, n ? (unsigned)(data[0] % 129) : 64, k, sizeof k);
        check(strlen(k) < sizeof k);
        size -= n + 1;
        data = nl + 1;
    }
    struct pa_table t;
    struct logon_guard g;
    if (pa_init(&t) < 0 || lg_init(&g, 16) < 0)
        return 0;
    static struct pa_entry e[NE];
    static int key_of[NE];
    memset(e, 0, sizeof e);
    struct lg_config cfg = {2, 5, 9, 1000, 100, 800};
    uint64_t now = 1;
    for (size_t i = 0; i + 1 < size; i += 2) {
        unsigned op = data[i] % 9, x = data[i + 1];
        unsigned j = x % NE;
        char key[8], acct[8];
        snprintf(key, sizeof key, "k%u", x % NK);
        snprintf(acct, sizeof acct, "u%u", (x >> 3) % 4);
        now += data[i] >> 4;
        switch (op) {
        case 0:
            if (!e[j].g) {
                check(pa_add(&t, &e[j], key, now) == 0);
                key_of[j] = (int)(x % NK);
            }
            break;
        case 1:
            pa_remove(&t, &e[j]);
            break;
        case 2:
            pa_set_level(&t, &e[j], x % (PA_LEVELS + 1), now);
            break;
        case 3: {
            struct pa_entry *v = pa_victim(&t);
            if (v)
                pa_remove(&t, v);
            break;
        }
        case 4:
            lg_failure(&g, &cfg, key, (x & 1) ? acct : "", now, NULL, NULL);
            break;
        case 5:
            lg_success(&g, key, acct, now);
            break;
        case 6:
            lg_expire(&g, now, NULL, NULL);
            break;
        case 7:
            lg_lift(&g, (x & 1) ? key : acct, now, NULL, NULL);
            break;
        default: {
            struct lg_block b;
            if (lg_blocked(&g, key, acct, now, &b))
                check(b.until_ms > now && b.block_ms <= cfg.block_max_ms);
        }
        }
        /* model: counts per key and the maximum */
        unsigned cnt[NK] = {0}, total = 0, max = 0;
        for (int k = 0; k < NE; k++)
            if (e[k].g) {
                cnt[key_of[k]]++;
                total++;
            }
        for (int k = 0; k < NK; k++)
            if (cnt[k] > max)
                max = cnt[k];
        check(t.total == total && t.max_count == max);
        struct pa_entry *v = pa_victim(&t);
        check(total ? v && cnt[key_of[v - e]] == max : !v);
        check(g.n <= 16);
    }
    pa_free(&t);
    lg_free(&g);
    return 0;
}
