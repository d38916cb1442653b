/* libFuzzer target for the typed-password helpers (src/daemon/logon_password.c): the input is
 * "WANT\0GROUPS\0ACCOUNT"; the admin-group list match and the account split must stay in their
 * buffers and agree with themselves (a list always matches itself when one entry is non-empty). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "daemon/gateway.h"
#include "daemon/logon_password.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 3);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = s[size + 1] = s[size + 2] = 0;
    const char *want = s;
    const char *groups = want + strlen(want) + 1;
    if (groups > s + size)
        groups = s + size;
    const char *account = groups + strlen(groups) + 1;
    if (account > s + size + 1)
        account = s + size + 1;
    (void)logon_groups_match(want, groups);
    static struct gw_config *cfg;
    if (!cfg && !(cfg = config_new()))
        abort();
    struct gateway gw;
    memset(&gw, 0, sizeof gw);
    gw.cfg = cfg;
    char dom[64], user[128];
    if (logon_password_split(&gw, account, dom, sizeof dom, user, sizeof user) == 0) {
        if (!memchr(dom, 0, sizeof dom) || !memchr(user, 0, sizeof user) || !user[0])
            abort();
        if (strchr(account, '\\') && !dom[0])
            abort();
    }
    free(s);
    return 0;
}
