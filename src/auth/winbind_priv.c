/* Can this process use winbindd's privileged pipe? (see winbind_priv.h) */
#include "auth/winbind_priv.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

int winbind_priv_check(char *why, size_t whysz)
{
    uid_t uid = geteuid();
    if (uid == 0)
        return 0;
    char user[64];
    struct passwd pwbuf, *pw = NULL;
    char tmp[4096];
    if (getpwuid_r(uid, &pwbuf, tmp, sizeof tmp, &pw) == 0 && pw)
        snprintf(user, sizeof user, "%s", pw->pw_name);
    else
        snprintf(user, sizeof user, "uid %u", (unsigned)uid);
    struct group grbuf, *gr = NULL;
    char gtmp[8192];
    if (getgrnam_r(WINBIND_PRIV_GROUP, &grbuf, gtmp, sizeof gtmp, &gr) != 0 || !gr) {
        snprintf(why, whysz,
                 "tsgwd user %s cannot use winbindd's privileged pipe: group " WINBIND_PRIV_GROUP
                 " does not exist (is winbind installed?): domain NTLM logons will fail",
                 user);
        return -1;
    }
    gid_t want = gr->gr_gid;
    if (getegid() == want)
        return 0;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == want)
            return 0;
    snprintf(why, whysz,
             "tsgwd user %s is not in group " WINBIND_PRIV_GROUP
             ": domain NTLM logons will fail (winbindd's privileged pipe is closed to it); add it "
             "with 'usermod -aG " WINBIND_PRIV_GROUP " %s' and restart tsgwd",
             user, pw ? user : "USER");
    return -1;
}
