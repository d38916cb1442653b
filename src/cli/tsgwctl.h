/* tsgwctl internals shared by its command files. */
#ifndef TSGW_CLI_TSGWCTL_H
#define TSGW_CLI_TSGWCTL_H

#include <stdbool.h>
#include <stdio.h>

struct ctl_opts {
    const char *config;
    const char *socket;
    bool json;
};

extern struct ctl_opts g_opts;

/* Admin-socket commands (connections, disconnect, ...). Returns the exit status, or -1 when
 * argv[0] is not one of them. */
int ctl_admin_command(int argc, char **argv);
void ctl_admin_usage(FILE *f);

#endif
