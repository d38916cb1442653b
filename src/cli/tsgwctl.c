/* tsgwctl: administration command line for tsgwd.
 *
 *   tsgwctl [-c CONFIG] user add [--users-file F] [--groups 'G1;G2'] [--full-name N] 'DOMAIN\user'
 *   tsgwctl [-c CONFIG] user del [--users-file F] 'DOMAIN\user'
 *   tsgwctl [-c CONFIG] [--json] user list [--users-file F]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "cli/tsgwctl.h"
#include "conf/config.h"
#include "core/util.h"

struct ctl_opts g_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: tsgwctl [-c CONFIG | -s SOCKET] [--json] [--local] COMMAND ...\n"
               "\n"
               "Accounts (local credential store, NT hashes only):\n"
               "  user add [--users-file F] [--groups 'G1;G2'] [--full-name NAME] 'DOMAIN\\user'\n"
               "           reads the password from stdin (one line; not echoed on a terminal)\n"
               "  user del [--users-file F] 'DOMAIN\\user'\n"
               "  user list [--users-file F]\n");
    ctl_admin_usage(f);
}

/* Reads one line from stdin without echo when it is a terminal. */
static int read_password(char *out, size_t outsz)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, noecho;
    if (tty) {
        fprintf(stderr, "Password: ");
        tcgetattr(STDIN_FILENO, &old);
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    }
    char *r = fgets(out, (int)outsz, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!r)
        return -1;
    size_t n = strcspn(out, "\r\n");
    if (out[n] == 0 && n == outsz - 1)
        return -2; /* too long */
    out[n] = 0;
    return 0;
}

int ctl_from_config(const char *given, const char *(*pick)(const struct gw_config *),
                    const char *what, char *out, size_t outsz)
{
    if (given) {
        str_copy(out, given, outsz);
        return 0;
    }
    if (!g_opts.config) {
        fprintf(stderr, "tsgwctl: give %s, or -c CONFIG\n", what);
        return -1;
    }
    struct gw_config *cfg = config_new();
    struct buf errors = BUF_INIT;
    if (!cfg)
        return -1;
    int nerr = config_load(g_opts.config, cfg, &errors);
    const char *v = pick(cfg);
    int rc = 0;
    if (!v[0]) {
        if (nerr)
            fprintf(stderr, "tsgwctl: %.*s", (int)buf_len(&errors), (char *)buf_data(&errors));
        fprintf(stderr, "tsgwctl: %s does not set %s\n", g_opts.config, what);
        rc = -1;
    } else {
        str_copy(out, v, outsz);
    }
    buf_free(&errors);
    config_put(cfg);
    return rc;
}

static const char *pick_users_file(const struct gw_config *c)
{
    return c->users_file;
}

static int resolve_users_file(const char *given, char *out, size_t outsz)
{
    return ctl_from_config(given, pick_users_file, "--users-file ([auth] users-file)", out, outsz);
}

void ctl_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int cmd_user(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[0];
    const char *file = NULL, *groups = "", *full = "", *account = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--users-file") && i + 1 < argc)
            file = argv[++i];
        else if (!strcmp(argv[i], "--groups") && i + 1 < argc)
            groups = argv[++i];
        else if (!strcmp(argv[i], "--full-name") && i + 1 < argc)
            full = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            g_opts.json = true;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "tsgwctl: unknown option %s\n", argv[i]);
            return 2;
        } else if (!account)
            account = argv[i];
        else {
            fprintf(stderr, "tsgwctl: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    char path[4096];
    if (resolve_users_file(file, path, sizeof path) < 0)
        return 2;
    struct user_store st = {0};
    char err[512] = "";
    bool adding = !strcmp(sub, "add");
    if (user_store_load(path, adding, &st, err, sizeof err) < 0) {
        fprintf(stderr, "tsgwctl: %s\n", err[0] ? err : path);
        return 1;
    }
    int rc = 0;
    char dom[USERS_DOMAIN_MAX], user[USERS_NAME_MAX];
    if (!strcmp(sub, "list")) {
        if (g_opts.json) {
            printf("[");
            for (size_t i = 0; i < st.n; i++) {
                char acct[USERS_DOMAIN_MAX + USERS_NAME_MAX + 2];
                snprintf(acct, sizeof acct, "%s\\%s", st.v[i].domain, st.v[i].name);
                printf("%s{\"UserName\":", i ? "," : "");
                ctl_json_string(acct);
                printf(",\"FullUserName\":");
                ctl_json_string(st.v[i].full_name);
                printf(",\"Groups\":");
                ctl_json_string(st.v[i].groups);
                printf("}");
            }
            printf("]\n");
        } else {
            printf("%-32s %-24s %s\n", "ACCOUNT", "FULL NAME", "GROUPS");
            for (size_t i = 0; i < st.n; i++) {
                char acct[USERS_DOMAIN_MAX + USERS_NAME_MAX + 2];
                snprintf(acct, sizeof acct, "%s\\%s", st.v[i].domain, st.v[i].name);
                printf("%-32s %-24s %s\n", acct, st.v[i].full_name, st.v[i].groups);
            }
        }
    } else if (adding || !strcmp(sub, "del")) {
        if (!account || user_split_account(account, dom, sizeof dom, user, sizeof user) < 0) {
            fprintf(stderr, "tsgwctl: the account must be written DOMAIN\\user (quote the "
                            "backslash in the shell: 'CONTOSO\\alice')\n");
            user_store_free(&st);
            return 2;
        }
        if (adding) {
            char pw[1024];
            int r = read_password(pw, sizeof pw);
            if (r < 0 || !pw[0]) {
                fprintf(stderr, "tsgwctl: %s\n",
                        r == -2 ? "password too long" : "no password on standard input");
                OPENSSL_cleanse(pw, sizeof pw);
                user_store_free(&st);
                return 1;
            }
            uint8_t h[16];
            r = ntlm_nt_hash(pw, h);
            OPENSSL_cleanse(pw, sizeof pw);
            if (r < 0 || user_store_put(&st, dom, user, h, groups, full) < 0) {
                fprintf(stderr, "tsgwctl: invalid account, groups or name (no ':' allowed)\n");
                rc = 1;
            }
            OPENSSL_cleanse(h, sizeof h);
        } else if (user_store_del(&st, dom, user) < 0) {
            fprintf(stderr, "tsgwctl: no account %s in %s\n", account, path);
            rc = 1;
        }
        if (rc == 0 && user_store_save(path, &st) < 0) {
            fprintf(stderr, "tsgwctl: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        if (rc == 0)
            printf("%s %s\n", adding ? "saved" : "deleted", account);
    } else {
        usage(stderr);
        rc = 2;
    }
    user_store_free(&st);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            g_opts.config = argv[++i];
        else if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) && i + 1 < argc)
            g_opts.socket = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            g_opts.json = true;
        else if (!strcmp(argv[i], "--local"))
            g_opts.local = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else
            break;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[i], "user"))
        return cmd_user(argc - i - 1, argv + i + 1);
    int r = ctl_admin_command(argc - i, argv + i);
    if (r == -1) {
        fprintf(stderr, "tsgwctl: unknown command '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    return r;
}
