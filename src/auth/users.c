/* Local credential store (see users.h for the file format). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r, mkostemp */
#endif
#include "auth/users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* ---- case-insensitive comparison (ASCII and Latin-1 letters, as NTLM upper-cases) ---- */

/* Decodes one UTF-8 sequence at *s (already validated, or treated byte-wise if not). */
static unsigned long next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned long cp = *p;
    if (cp >= 0xC2 && cp <= 0xDF && (p[1] & 0xC0) == 0x80) {
        cp = ((cp & 0x1F) << 6) | (p[1] & 0x3F);
        *s = p + 2;
        return cp;
    }
    /* Longer sequences and stray bytes are compared byte by byte: none of them folds. Mark
     * raw bytes above the code point range so they never equal a decoded character. */
    *s = p + 1;
    return cp < 0x80 ? cp : 0x200000ul + cp;
}

static unsigned long fold_cp(unsigned long c)
{
    if (c >= 'a' && c <= 'z')
        return c - 0x20;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 0x20;
    if (c == 0xFF)
        return 0x178;
    return c;
}

/* Orders a (alen bytes) and b (blen bytes) after folding; 0 when they are equal. */
static int name_cmp_n(const char *a, size_t alen, const char *b, size_t blen)
{
    const unsigned char *p = (const unsigned char *)a, *pe = p + alen;
    const unsigned char *q = (const unsigned char *)b, *qe = q + blen;
    while (p < pe && q < qe) {
        /* next_cp looks one byte ahead only for a continuation byte; a segment always ends in
         * ';' or NUL, which is not one, so the lookahead stays inside the segment. */
        unsigned long x = fold_cp(next_cp(&p)), y = fold_cp(next_cp(&q));
        if (x != y)
            return x < y ? -1 : 1;
    }
    if (p < pe)
        return 1;
    if (q < qe)
        return -1;
    return 0;
}

static bool name_eq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    return name_cmp_n(a, alen, b, blen) == 0;
}

static bool name_eq(const char *a, const char *b)
{
    return name_eq_n(a, strlen(a), b, strlen(b));
}

static int account_cmp(const struct user_entry *x, const struct user_entry *y)
{
    int r = name_cmp_n(x->domain, strlen(x->domain), y->domain, strlen(y->domain));
    return r ? r : name_cmp_n(x->name, strlen(x->name), y->name, strlen(y->name));
}

/* ---- validation ---- */

/* True if s[0..n) is well-formed UTF-8 without control characters (C0, DEL, C1) or ':'. */
static bool valid_text(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F || c == ':')
                return false;
            p++;
            continue;
        }
        unsigned long cp;
        int extra;
        if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F;
            extra = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return false;
        }
        if (e - p <= extra)
            return false;
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
            return false;
        p += extra + 1;
    }
    return true;
}

/* Domain and user names: non-empty, bounded, valid text, no '\\', no surrounding spaces. */
static const char *check_name(const char *s, size_t n, size_t max, const char *what_empty,
                              const char *what_long, const char *what_bad)
{
    if (n == 0)
        return what_empty;
    if (n >= max)
        return what_long;
    if (!valid_text(s, n) || memchr(s, '\\', n) || s[0] == ' ' || s[n - 1] == ' ')
        return what_bad;
    return NULL;
}

static const char *check_domain(const char *s, size_t n)
{
    /* "." in a lookup means "whatever domain" (mstsc's .\user), so no account may own it. */
    if (n == 1 && s[0] == '.')
        return "domain \".\" is reserved";
    return check_name(s, n, USERS_DOMAIN_MAX, "empty domain", "domain too long",
                      "invalid character in domain");
}

static const char *check_user(const char *s, size_t n)
{
    return check_name(s, n, USERS_NAME_MAX, "empty user name", "user name too long",
                      "invalid character in user name");
}

/* Groups: ';'-separated, each non-empty; the whole field may be empty. */
static const char *check_groups(const char *s, size_t n)
{
    if (n >= USERS_GROUPS_MAX)
        return "groups too long";
    if (!valid_text(s, n))
        return "invalid character in groups";
    if (n == 0)
        return NULL;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ';') {
            if (i == start)
                return "empty group name";
            start = i + 1;
        }
    }
    return NULL;
}

static const char *check_full_name(const char *s, size_t n)
{
    if (n >= USERS_FULLNAME_MAX)
        return "full name too long";
    if (!valid_text(s, n))
        return "invalid character in full name";
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- store operations ---- */

static struct user_entry *find_exact(const struct user_store *st, const char *domain,
                                     const char *user)
{
    for (size_t i = 0; i < st->n; i++)
        if (name_eq(st->v[i].name, user) && name_eq(st->v[i].domain, domain))
            return &st->v[i];
    return NULL;
}

const struct user_entry *user_store_find(const struct user_store *st, const char *domain,
                                         const char *user)
{
    if (!st || !user || !*user)
        return NULL;
    if (!domain)
        domain = "";
    if (domain[0] == 0 || strcmp(domain, ".") == 0) {
        const struct user_entry *hit = NULL;
        for (size_t i = 0; i < st->n; i++) {
            if (name_eq(st->v[i].name, user)) {
                if (hit)
                    return NULL; /* ambiguous */
                hit = &st->v[i];
            }
        }
        return hit;
    }
    return find_exact(st, domain, user);
}

bool user_store_has_domain(const struct user_store *st, const char *domain)
{
    if (!st || !domain || !*domain)
        return false;
    for (size_t i = 0; i < st->n; i++)
        if (name_eq(st->v[i].domain, domain))
            return true;
    return false;
}

static int grow(struct user_store *st)
{
    if (st->n < st->cap)
        return 0;
    if (st->n >= USERS_MAX_ACCOUNTS)
        return -ENOSPC;
    size_t ncap = st->cap ? st->cap * 2 : 16;
    if (ncap > USERS_MAX_ACCOUNTS)
        ncap = USERS_MAX_ACCOUNTS;
    struct user_entry *nv = calloc(ncap, sizeof *nv);
    if (!nv)
        return -ENOMEM;
    if (st->n)
        memcpy(nv, st->v, st->n * sizeof *nv);
    if (st->v) {
        OPENSSL_cleanse(st->v, st->cap * sizeof *st->v);
        free(st->v);
    }
    st->v = nv;
    st->cap = ncap;
    return 0;
}

static void set_entry(struct user_entry *e, const char *domain, size_t dl, const char *user,
                      size_t ul, const uint8_t nthash[16], const char *groups, size_t gl,
                      const char *full, size_t fl)
{
    OPENSSL_cleanse(e, sizeof *e);
    memcpy(e->domain, domain, dl);
    memcpy(e->name, user, ul);
    memcpy(e->nthash, nthash, 16);
    memcpy(e->groups, groups, gl);
    memcpy(e->full_name, full, fl);
}

int user_store_put(struct user_store *st, const char *domain, const char *user,
                   const uint8_t nthash[16], const char *groups, const char *full_name)
{
    if (!st || !domain || !user || !nthash)
        return -EINVAL;
    if (!groups)
        groups = "";
    if (!full_name)
        full_name = "";
    size_t dl = strlen(domain), ul = strlen(user), gl = strlen(groups), fl = strlen(full_name);
    if (check_domain(domain, dl) || check_user(user, ul) || check_groups(groups, gl) ||
        check_full_name(full_name, fl))
        return -EINVAL;
    struct user_entry *e = find_exact(st, domain, user);
    if (!e) {
        int r = grow(st);
        if (r < 0)
            return r;
        e = &st->v[st->n++];
    }
    set_entry(e, domain, dl, user, ul, nthash, groups, gl, full_name, fl);
    return 0;
}

int user_store_del(struct user_store *st, const char *domain, const char *user)
{
    if (!st || !domain || !user)
        return -ENOENT;
    struct user_entry *e = find_exact(st, domain, user);
    if (!e)
        return -ENOENT;
    size_t i = (size_t)(e - st->v);
    memmove(&st->v[i], &st->v[i + 1], (st->n - i - 1) * sizeof *st->v);
    st->n--;
    OPENSSL_cleanse(&st->v[st->n], sizeof st->v[st->n]);
    return 0;
}

void user_store_free(struct user_store *st)
{
    if (!st)
        return;
    if (st->v) {
        OPENSSL_cleanse(st->v, st->cap * sizeof *st->v);
        free(st->v);
    }
    st->v = NULL;
    st->n = st->cap = 0;
}

int user_split_account(const char *account, char *domain, size_t dsz, char *user, size_t usz)
{
    if (!account || !domain || !user || dsz == 0 || usz == 0)
        return -EINVAL;
    const char *bs = strchr(account, '\\');
    if (!bs)
        return -EINVAL;
    size_t dl = (size_t)(bs - account), ul = strlen(bs + 1);
    if (dl == 0 || ul == 0 || strchr(bs + 1, '\\') || dl >= dsz || ul >= usz)
        return -EINVAL;
    memcpy(domain, account, dl);
    domain[dl] = 0;
    memcpy(user, bs + 1, ul + 1);
    return 0;
}

int user_in_group(const struct user_entry *u, const char *group)
{
    if (!u || !group || !*group)
        return 0;
    size_t gl = strlen(group);
    const char *s = u->groups;
    while (*s) {
        const char *e = strchr(s, ';');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (name_eq_n(s, n, group, gl))
            return 1;
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

/* ---- loading ---- */

/* Parses one line (NUL-free, no newline) into e. Returns NULL or a reason. */
static const char *parse_line(char *line, size_t n, struct user_entry *e)
{
    char *f[4];
    size_t fl[4];
    int nf = 0;
    char *start = line;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == ':') {
            if (nf == 4)
                return "too many ':'-separated fields (expected 4)";
            f[nf] = start;
            fl[nf] = (size_t)(line + i - start);
            nf++;
            start = line + i + 1;
        }
    }
    if (nf != 4)
        return "expected DOMAIN\\user:NTHASH:groups:full name";

    char *bs = memchr(f[0], '\\', fl[0]);
    if (!bs)
        return "account must be DOMAIN\\user";
    size_t dl = (size_t)(bs - f[0]), ul = fl[0] - dl - 1;
    const char *why = check_domain(f[0], dl);
    if (!why)
        why = check_user(bs + 1, ul);
    if (why)
        return why;
    if (fl[1] != 32)
        return "NT hash must be 32 hex digits";
    uint8_t h[16];
    for (int i = 0; i < 16; i++) {
        int hi = hexval((unsigned char)f[1][2 * i]), lo = hexval((unsigned char)f[1][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(h, sizeof h);
            return "NT hash must be 32 hex digits";
        }
        h[i] = (uint8_t)(hi << 4 | lo);
    }
    if ((why = check_groups(f[2], fl[2])) || (why = check_full_name(f[3], fl[3]))) {
        OPENSSL_cleanse(h, sizeof h);
        return why;
    }
    set_entry(e, f[0], dl, bs + 1, ul, h, f[2], fl[2], f[3], fl[3]);
    OPENSSL_cleanse(h, sizeof h);
    return NULL;
}

static int cmp_by_account(const void *a, const void *b, void *arg)
{
    const struct user_store *st = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int r = account_cmp(&st->v[i], &st->v[j]);
    return r ? r : (i < j ? -1 : i > j);
}

/* Finds the earliest line that repeats an account (case-insensitively), by sorting indices
 * rather than comparing every pair: the store may hold USERS_MAX_ACCOUNTS entries. Returns 1
 * with *line (the repeat) and *first (the original), 0 if none, or -ENOMEM. */
static int find_duplicate(const struct user_store *st, const unsigned long *lines,
                          unsigned long *line, unsigned long *first)
{
    size_t *idx = malloc(st->n * sizeof *idx);
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < st->n; i++)
        idx[i] = i;
    qsort_r(idx, st->n, sizeof *idx, cmp_by_account, (void *)st);
    int found = 0;
    for (size_t i = 1; i < st->n; i++) {
        /* Equal keys sort by index, so idx[i-1] is the earlier line of the pair. */
        if (account_cmp(&st->v[idx[i - 1]], &st->v[idx[i]]) == 0 &&
            (!found || lines[idx[i]] < *line)) {
            *line = lines[idx[i]];
            *first = lines[idx[i - 1]];
            found = 1;
        }
    }
    free(idx);
    return found;
}

int user_store_load(const char *path, int missing_ok, struct user_store *st, char *err,
                    size_t errsz)
{
    if (err && errsz)
        err[0] = 0;
    if (!path || !st)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    FILE *fp = fopen(path, "re");
    if (!fp) {
        int e = errno;
        if (e == ENOENT && missing_ok)
            return 0;
        if (err && errsz)
            snprintf(err, errsz, "%s: %s", path, strerror(e));
        return -e;
    }
    char *line = malloc(USERS_LINE_MAX + 1);
    int rc = 0, r_dup = 0;
    unsigned long lineno = 0, dup_first = 0;
    unsigned long *lines = NULL; /* line number of each account, for duplicate reports */
    size_t lines_cap = 0;
    const char *why = NULL;
    if (!line) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        /* Reads one line by hand: a NUL byte or an over-long line is an error, not a silent
         * split as fgets would make. */
        size_t n = 0;
        bool too_long = false, has_nul = false;
        int ch;
        while ((ch = getc(fp)) != EOF && ch != '\n') {
            if (ch == 0)
                has_nul = true;
            if (n < USERS_LINE_MAX)
                line[n++] = (char)ch;
            else
                too_long = true;
        }
        if (ch == EOF && n == 0 && !too_long) {
            if (ferror(fp))
                rc = -EIO;
            break;
        }
        lineno++;
        if (too_long) {
            why = "line too long";
            break;
        }
        if (has_nul) {
            why = "NUL byte in line";
            break;
        }
        if (n > 0 && line[n - 1] == '\r')
            n--;
        line[n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        if (st->n >= USERS_MAX_ACCOUNTS) {
            why = "too many accounts";
            break;
        }
        int r = grow(st);
        if (r == 0 && st->cap > lines_cap) {
            unsigned long *nl = realloc(lines, st->cap * sizeof *lines);
            if (nl) {
                lines = nl;
                lines_cap = st->cap;
            } else {
                r = -ENOMEM;
            }
        }
        if (r < 0) {
            rc = r;
            break;
        }
        /* Parsed in place: slots past n are wiped on free like the others. */
        if ((why = parse_line(line, n, &st->v[st->n])))
            break;
        lines[st->n] = lineno;
        st->n++;
        if (ch == EOF)
            break;
    }
    if (!why && rc == 0 && st->n > 1) {
        r_dup = find_duplicate(st, lines, &lineno, &dup_first);
        if (r_dup < 0)
            rc = r_dup;
        else if (r_dup > 0)
            why = "duplicate account";
    }
    if (why) {
        rc = -EINVAL;
        if (err && errsz && r_dup > 0)
            snprintf(err, errsz, "%s:%lu: %s (first at line %lu)", path, lineno, why, dup_first);
        else if (err && errsz)
            snprintf(err, errsz, "%s:%lu: %s", path, lineno, why);
    } else if (rc < 0 && err && errsz) {
        snprintf(err, errsz, "%s: %s", path, strerror(-rc));
    }
out:
    free(lines);
    fclose(fp);
    if (line) {
        OPENSSL_cleanse(line, USERS_LINE_MAX + 1);
        free(line);
    }
    if (rc < 0)
        user_store_free(st);
    return rc;
}

/* ---- saving ---- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool entry_ok(const struct user_entry *e)
{
    size_t dl = strnlen(e->domain, sizeof e->domain), ul = strnlen(e->name, sizeof e->name);
    size_t gl = strnlen(e->groups, sizeof e->groups);
    size_t fl = strnlen(e->full_name, sizeof e->full_name);
    return !check_domain(e->domain, dl) && !check_user(e->name, ul) &&
           !check_groups(e->groups, gl) && !check_full_name(e->full_name, fl);
}

int user_store_save(const char *path, const struct user_store *st)
{
    if (!path || !st)
        return -EINVAL;
    for (size_t i = 0; i < st->n; i++)
        if (!entry_ok(&st->v[i]))
            return -EINVAL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        free(tmp);
        return e;
    }
    /* 0600, except that a file deliberately given to another group (the packaged service reads
     * /etc/tsgw/users as root:tsgw 0640) keeps that group and its read access */
    mode_t mode = 0600;
    struct stat old;
    if (stat(path, &old) == 0 && old.st_gid != getegid() && (old.st_mode & 0040) &&
        fchown(fd, (uid_t)-1, old.st_gid) == 0)
        mode = 0640;
    int rc = fchmod(fd, mode) < 0 ? -errno : 0;
    static const char header[] = "# tsgw users: DOMAIN\\user:NTHASH:group;group:full name\n";
    if (rc == 0)
        rc = write_all(fd, header, sizeof header - 1);
    char line[USERS_LINE_MAX + 64];
    for (size_t i = 0; rc == 0 && i < st->n; i++) {
        const struct user_entry *e = &st->v[i];
        char hex[33];
        for (int j = 0; j < 16; j++)
            snprintf(hex + 2 * j, 3, "%02x", e->nthash[j]);
        int n = snprintf(line, sizeof line, "%s\\%s:%s:%s:%s\n", e->domain, e->name, hex, e->groups,
                         e->full_name);
        OPENSSL_cleanse(hex, sizeof hex);
        /* A line the loader would refuse must not be written either. */
        if (n < 0 || (size_t)n > USERS_LINE_MAX)
            rc = -EINVAL;
        else
            rc = write_all(fd, line, (size_t)n);
    }
    OPENSSL_cleanse(line, sizeof line);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
    } else {
        /* Make the rename durable: fsync the directory that holds the file. */
        char *slash = strrchr(tmp, '/');
        const char *dir = ".";
        if (slash) {
            slash[slash == tmp ? 1 : 0] = 0;
            dir = tmp;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(tmp);
    return rc;
}
