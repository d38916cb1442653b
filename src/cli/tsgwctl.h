/* tsgwctl internals shared by its command files. */
#ifndef TSGW_CLI_TSGWCTL_H
#define TSGW_CLI_TSGWCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ctl_opts {
    const char *config;
    const char *socket;
    bool json;
    bool local; /* --local: this node only (default: the whole farm when tsgwd has one) */
};

extern struct ctl_opts g_opts;

/* The value for an option that may come from the command line (given) or, failing that, from
 * the configuration named by -c (a path field of struct gw_config picked by pick). Prints what
 * to do and returns -1 when neither has it. */
struct gw_config;
int ctl_from_config(const char *given, const char *(*pick)(const struct gw_config *),
                    const char *what, char *out, size_t outsz);

/* Writes s as a JSON string literal to stdout. */
void ctl_json_string(const char *s);

/* Admin-socket commands (connections, disconnect, ...). Returns the exit status, or -1 when
 * argv[0] is not one of them. */
int ctl_admin_command(int argc, char **argv);
void ctl_admin_usage(FILE *f);

#endif
