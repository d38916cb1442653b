/* libFuzzer target for the configuration loader: the input, NUL-terminated, is loaded with
 * config_load_string. The problem count must match the reported lines, every line must have the
 * "NAME:LINE: message" form ("NAME: message" for the file as a whole), and a configuration
 * without problems must be self-consistent. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/config.h"
#include "core/buf.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.conf"

static void check_errors(const struct buf *errors, int n)
{
    const char *s = (const char *)buf_data(errors);
    size_t len = buf_len(errors);
    if (n < 0 || (n == 0) != (len == 0))
        abort();
    int lines = 0;
    size_t nl = strlen(NAME);
    for (size_t pos = 0; pos < len;) {
        const char *e = memchr(s + pos, '\n', len - pos);
        if (!e)
            abort(); /* every message ends with a newline */
        size_t ll = (size_t)(e - (s + pos));
        const char *l = s + pos;
        if (ll < nl + 3 || memcmp(l, NAME, nl) != 0 || l[nl] != ':')
            abort();
        /* "NAME:LINE: message", or "NAME: message" for the file as a whole */
        size_t i = nl + 1;
        if (l[i] >= '1' && l[i] <= '9') {
            while (i < ll && l[i] >= '0' && l[i] <= '9')
                i++;
            if (i >= ll || l[i] != ':')
                abort();
            i++;
        }
        if (i + 1 >= ll || l[i] != ' ')
            abort();
        lines++;
        pos += ll + 1;
    }
    if (lines != n)
        abort();
}

static void check_policy(const struct policy *p)
{
    for (size_t i = 0; i < p->ncaps; i++) {
        if (!p->caps[i].user_groups.n || !memchr(p->caps[i].name, 0, sizeof p->caps[i].name))
            abort();
        if (i && p->caps[i - 1].order > p->caps[i].order)
            abort(); /* sorted */
    }
    for (size_t i = 0; i < p->nraps; i++) {
        const struct policy_rap *r = &p->raps[i];
        if (!r->user_groups.n || (!r->any_port && !r->nports))
            abort();
        if (r->group_name[0] && r->nres)
            abort();
        bool found = !r->group_name[0];
        for (size_t g = 0; g < p->ngroups; g++)
            if (strcasecmp(p->groups[g].name, r->group_name) == 0)
                found = true;
        if (!found)
            abort();
        for (size_t k = 0; k < r->nports; k++)
            if (r->ports[k] == 0)
                abort();
    }
    /* evaluating the policy never crashes */
    const char *groups[] = {"RDP Users", "CORP\\Admins"};
    struct policy_subject s = {.account = "CORP\\alice", .groups = groups, .ngroups = 2};
    policy_check_cap(p, &s);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x0a010203);
    policy_check_rap(p, &s, "rdp-01.corp", (const struct sockaddr *)&sin, 3389);
    policy_check_rap(p, &s, "rdp-01.corp", NULL, 3389);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct gw_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        free(text);
        return 0;
    }
    struct buf errors = BUF_INIT;
    int n = config_load_string(text, NAME, "/etc/tsgw", cfg, &errors);
    check_errors(&errors, n);
    if (n == 0) {
        if (!cfg->nlisten || cfg->nlisten > CONF_MAX_LISTEN || !cfg->certificate[0] ||
            !cfg->private_key[0] || !cfg->users_file[0])
            abort();
        if (cfg->lim.max_request_line > cfg->lim.max_header_bytes)
            abort();
        check_policy(&cfg->policy);
    }
    config_free(cfg);
    free(cfg);
    buf_free(&errors);
    free(text);
    return 0;
}
