/* tsgwctl commands that talk to a running tsgwd over its admin socket. */
#include "cli/tsgwctl.h"

int ctl_admin_command(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return -1;
}

void ctl_admin_usage(FILE *f)
{
    (void)f;
}
