#include "policy/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

int policy_parse_resource(const char *text, struct policy_resource *out)
{
    char tmp[POLICY_PATTERN_MAX];
    memset(out, 0, sizeof *out);
    if (str_copy(tmp, text, sizeof tmp) >= sizeof tmp)
        return -EINVAL;
    char *s = str_trim(tmp);
    if (!*s)
        return -EINVAL;
    char *slash = strchr(s, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || *end || end == slash + 1 || prefix < 0)
            return -EINVAL;
    }
    if (inet_pton(AF_INET, s, out->addr) == 1) {
        if (prefix > 32)
            return -EINVAL;
        out->kind = RES_IPV4;
        out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out->addr) == 1) {
        if (prefix > 128)
            return -EINVAL;
        out->kind = RES_IPV6;
        out->prefix = prefix < 0 ? 128 : (unsigned)prefix;
        return 0;
    }
    if (slash)
        return -EINVAL;
    /* "10.1.*" would match a name like 10.1.evil.example that resolves anywhere: address ranges
     * must be written as CIDR */
    if (strspn(s, "0123456789.*?") == strlen(s) && strpbrk(s, "0123456789"))
        return -EINVAL;
    /* host name pattern: letters, digits, '-', '.', '_', and wildcards */
    for (char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*' || c == '?'))
            return -EINVAL;
        *p = (char)tolower(c);
    }
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '.')
        s[n - 1] = 0;
    out->kind = RES_HOST_PATTERN;
    str_copy(out->pattern, s, sizeof out->pattern);
    return 0;
}

int policy_parse_resource_list(const char *text, struct policy_resource **out, size_t *n, char *bad,
                               size_t badsz)
{
    char *dup = strdup(text);
    if (!dup)
        return -ENOMEM;
    struct policy_resource *v = NULL;
    size_t cnt = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(dup, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *t = str_trim(tok);
        if (!*t)
            continue;
        struct policy_resource r;
        if (policy_parse_resource(t, &r) < 0) {
            if (bad)
                str_copy(bad, t, badsz);
            rc = -EINVAL;
            break;
        }
        struct policy_resource *nv = realloc(v, (cnt + 1) * sizeof *v);
        if (!nv) {
            rc = -ENOMEM;
            break;
        }
        v = nv;
        v[cnt++] = r;
    }
    free(dup);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int policy_parse_list(const char *text, struct policy_list *out)
{
    char *dup = strdup(text);
    if (!dup)
        return -ENOMEM;
    char *save = NULL;
    for (char *tok = strtok_r(dup, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *t = str_trim(tok);
        if (!*t)
            continue;
        char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
        if (!nv) {
            free(dup);
            return -ENOMEM;
        }
        out->v = nv;
        out->v[out->n] = strdup(t);
        if (!out->v[out->n]) {
            free(dup);
            return -ENOMEM;
        }
        out->n++;
    }
    free(dup);
    return 0;
}

int policy_parse_ports(const char *text, struct policy_rap *rap)
{
    char *dup = strdup(text);
    if (!dup)
        return -ENOMEM;
    int rc = 0;
    char *save = NULL;
    free(rap->ports);
    rap->ports = NULL;
    rap->nports = 0;
    rap->any_port = false;
    for (char *tok = strtok_r(dup, ";,", &save); tok; tok = strtok_r(NULL, ";,", &save)) {
        char *t = str_trim(tok);
        if (!*t)
            continue;
        if (strcmp(t, "*") == 0) {
            rap->any_port = true;
            continue;
        }
        uint64_t p;
        if (parse_u64(t, 1, 65535, &p) < 0) {
            rc = -EINVAL;
            break;
        }
        uint16_t *nv = realloc(rap->ports, (rap->nports + 1) * sizeof *nv);
        if (!nv) {
            rc = -ENOMEM;
            break;
        }
        rap->ports = nv;
        rap->ports[rap->nports++] = (uint16_t)p;
    }
    free(dup);
    if (rc == 0 && !rap->any_port && rap->nports == 0)
        rc = -EINVAL;
    return rc;
}

static int cap_cmp(const void *a, const void *b)
{
    const struct policy_cap *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcasecmp(x->name, y->name);
}

void policy_finish(struct policy *p)
{
    if (p->ncaps)
        qsort(p->caps, p->ncaps, sizeof *p->caps, cap_cmp);
}

static void list_free(struct policy_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void policy_free(struct policy *p)
{
    for (size_t i = 0; i < p->ncaps; i++)
        list_free(&p->caps[i].user_groups);
    for (size_t i = 0; i < p->nraps; i++) {
        list_free(&p->raps[i].user_groups);
        list_free(&p->raps[i].protocols);
        free(p->raps[i].res);
        free(p->raps[i].ports);
    }
    for (size_t i = 0; i < p->ngroups; i++)
        free(p->groups[i].res);
    free(p->caps);
    free(p->raps);
    free(p->groups);
    memset(p, 0, sizeof *p);
}

bool policy_glob_match(const char *pat, const char *name)
{
    /* Iterative glob with single backtrack point: linear in practice, no recursion. */
    const char *star = NULL, *resume = NULL;
    while (*name) {
        if (*pat == '*') {
            star = pat++;
            resume = name;
        } else if (*pat == '?' || tolower((unsigned char)*pat) == tolower((unsigned char)*name)) {
            pat++;
            name++;
        } else if (star) {
            pat = star + 1;
            name = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == 0;
}

int policy_normalize_host(const char *in, char *out, size_t outsz, int *port_out)
{
    char tmp[POLICY_PATTERN_MAX];
    if (str_copy(tmp, in, sizeof tmp) >= sizeof tmp)
        return -EINVAL;
    char *s = str_trim(tmp);
    if (port_out)
        *port_out = -1;
    size_t n = strlen(s);
    if (!n)
        return -EINVAL;
    /* "[v6]:port" or "[v6]" */
    if (s[0] == '[') {
        char *e = strchr(s, ']');
        if (!e)
            return -EINVAL;
        *e = 0;
        if (e[1] == ':' && port_out) {
            uint64_t p;
            if (parse_u64(e + 2, 1, 65535, &p) < 0)
                return -EINVAL;
            *port_out = (int)p;
        } else if (e[1]) {
            return -EINVAL;
        }
        s++;
    } else {
        char *c = strchr(s, ':');
        /* exactly one colon: name:port (more than one: an IPv6 literal) */
        if (c && !strchr(c + 1, ':')) {
            uint64_t p;
            if (parse_u64(c + 1, 1, 65535, &p) < 0)
                return -EINVAL;
            if (port_out)
                *port_out = (int)p;
            *c = 0;
        }
    }
    n = strlen(s);
    if (n > 1 && s[n - 1] == '.')
        s[--n] = 0;
    if (!n)
        return -EINVAL;
    for (char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '@')
            return -EINVAL;
        *p = (char)tolower(c);
    }
    if (str_copy(out, s, outsz) >= outsz)
        return -EINVAL;
    return 0;
}

/* "DOMAIN\name" -> "name" */
static const char *bare(const char *s)
{
    const char *b = strrchr(s, '\\');
    return b ? b + 1 : s;
}

static bool name_matches(const char *entry, const char *have)
{
    if (str_ieq(entry, have))
        return true;
    bool e_dom = strchr(entry, '\\') != NULL, h_dom = strchr(have, '\\') != NULL;
    if (e_dom != h_dom)
        return str_ieq(bare(entry), bare(have));
    return false;
}

bool policy_subject_matches(const struct policy_list *ug, const struct policy_subject *s)
{
    for (size_t i = 0; i < ug->n; i++) {
        const char *e = ug->v[i];
        if (strcmp(e, "*") == 0)
            return true;
        if (s->account && str_ieq(e, s->account))
            return true;
        for (size_t g = 0; g < s->ngroups; g++)
            if (name_matches(e, s->groups[g]))
                return true;
    }
    return false;
}

void policy_cap_finish(struct policy_cap *cap)
{
    if (cap->redir_type == 0) {
        cap->redir_flags = 0x80000000u; /* HTTP_TUNNEL_REDIR_ENABLE_ALL */
    } else if (cap->redir_type == 1) {
        cap->redir_flags = 0x40000000u; /* HTTP_TUNNEL_REDIR_DISABLE_ALL */
    } else {
        cap->redir_flags = (cap->disable_drives ? 0x01u : 0) | (cap->disable_printers ? 0x02u : 0) |
                           (cap->disable_serial_ports ? 0x04u : 0) |
                           (cap->disable_clipboard ? 0x08u : 0) | (cap->disable_pnp ? 0x10u : 0);
    }
}

const struct policy_cap *policy_check_cap(const struct policy *p, const struct policy_subject *s)
{
    for (size_t i = 0; i < p->ncaps; i++) {
        const struct policy_cap *c = &p->caps[i];
        if (c->enabled && c->password_allowed && policy_subject_matches(&c->user_groups, s))
            return c;
    }
    return NULL;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static bool resource_matches(const struct policy_resource *r, const char *host,
                             const struct sockaddr *addr)
{
    if (r->kind == RES_HOST_PATTERN)
        return policy_glob_match(r->pattern, host);
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
        return r->kind == RES_IPV4 && prefix_match(a, r->addr, r->prefix);
    }
    if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            return r->kind == RES_IPV4 && prefix_match(&a6->s6_addr[12], r->addr, r->prefix);
        return r->kind == RES_IPV6 && prefix_match(a6->s6_addr, r->addr, r->prefix);
    }
    return false;
}

static const struct policy_resource *rap_resources(const struct policy *p,
                                                   const struct policy_rap *r, size_t *n);
static bool rap_applies(const struct policy_rap *r, const struct policy_subject *s, uint16_t port);

const struct policy_rap *policy_check_rap(const struct policy *p, const struct policy_subject *s,
                                          const char *host, const struct sockaddr *addr,
                                          uint16_t port)
{
    for (size_t i = 0; i < p->nraps; i++) {
        const struct policy_rap *r = &p->raps[i];
        if (!rap_applies(r, s, port))
            continue;
        size_t nres;
        const struct policy_resource *res = rap_resources(p, r, &nres);
        for (size_t k = 0; k < nres; k++)
            if (resource_matches(&res[k], host, addr))
                return r;
    }
    return NULL;
}

/* The resources of a RAP (inline, or its group's). */
static const struct policy_resource *rap_resources(const struct policy *p,
                                                   const struct policy_rap *r, size_t *n)
{
    if (!r->group_name[0]) {
        *n = r->nres;
        return r->res;
    }
    for (size_t g = 0; g < p->ngroups; g++)
        if (str_ieq(p->groups[g].name, r->group_name)) {
            *n = p->groups[g].nres;
            return p->groups[g].res;
        }
    *n = 0;
    return NULL;
}

static bool rap_applies(const struct policy_rap *r, const struct policy_subject *s, uint16_t port)
{
    if (!r->enabled || !policy_subject_matches(&r->user_groups, s))
        return false;
    if (r->any_port)
        return true;
    for (size_t k = 0; k < r->nports; k++)
        if (r->ports[k] == port)
            return true;
    return false;
}

bool policy_rap_may_allow(const struct policy *p, const struct policy_subject *s, const char *host,
                          uint16_t port)
{
    for (size_t i = 0; i < p->nraps; i++) {
        const struct policy_rap *r = &p->raps[i];
        if (!rap_applies(r, s, port))
            continue;
        size_t n;
        const struct policy_resource *res = rap_resources(p, r, &n);
        for (size_t k = 0; k < n; k++)
            if (res[k].kind != RES_HOST_PATTERN || policy_glob_match(res[k].pattern, host))
                return true;
    }
    return false;
}
