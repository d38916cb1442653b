/* Local credential store: NT hashes (never passwords), groups and display names per account.
 *
 * File format, one account per line (blank lines and lines starting with '#' are ignored):
 *     DOMAIN\user:NTHASH_HEX32:Group One;Group Two:Full Name
 * Fields are separated by ':'; names may not contain ':' or control characters; the groups field
 * is a ';'-separated list (may be empty); the full name may be empty. The file is written
 * atomically (temp file + rename) with mode 0600. */
#ifndef TSGW_AUTH_USERS_H
#define TSGW_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USERS_DOMAIN_MAX 64
#define USERS_NAME_MAX 128
#define USERS_GROUPS_MAX 1024
#define USERS_FULLNAME_MAX 256
#define USERS_MAX_ACCOUNTS 100000
#define USERS_LINE_MAX 2048

struct user_entry {
    char domain[USERS_DOMAIN_MAX];
    char name[USERS_NAME_MAX];
    uint8_t nthash[16];
    char groups[USERS_GROUPS_MAX];
    char full_name[USERS_FULLNAME_MAX];
};

struct user_store {
    struct user_entry *v;
    size_t n, cap;
};

/* Loads path into st (st must be zeroed or freed). A missing file is an error (-ENOENT) unless
 * missing_ok, which yields an empty store. On a bad line returns -EINVAL with "path:line: reason"
 * in err. Returns 0 or a negative errno. */
int user_store_load(const char *path, int missing_ok, struct user_store *st, char *err,
                    size_t errsz);

/* Writes st to path atomically, mode 0600. 0 or negative errno. */
int user_store_save(const char *path, const struct user_store *st);

/* Finds an account: user compared ASCII case-insensitively (and Latin-1 letters), domain too.
 * An empty domain or "." matches the only account with that user name, if exactly one exists.
 * Returns NULL when not found or ambiguous. */
const struct user_entry *user_store_find(const struct user_store *st, const char *domain,
                                         const char *user);

/* True when some account of the store is in domain (compared as user_store_find does). */
bool user_store_has_domain(const struct user_store *st, const char *domain);

/* Adds or replaces an account. 0, -EINVAL (bad name/too long/contains ':'), -ENOSPC (full). */
int user_store_put(struct user_store *st, const char *domain, const char *user,
                   const uint8_t nthash[16], const char *groups, const char *full_name);

/* Removes an account (exact case-insensitive match of both parts). 0 or -ENOENT. */
int user_store_del(struct user_store *st, const char *domain, const char *user);

void user_store_free(struct user_store *st);

/* Splits "DOMAIN\user" into its parts. A name without a backslash is -EINVAL. Empty domain or
 * empty user is -EINVAL. 0 on success. */
int user_split_account(const char *account, char *domain, size_t dsz, char *user, size_t usz);

/* True if the account's ';'-separated groups contain group (case-insensitive). */
int user_in_group(const struct user_entry *u, const char *group);

#endif
