/* winbindd's privileged pipe: NTLM pass-through and PAC logons go through it, and winbindd only
 * lets root and the members of group winbindd_priv in (its directory is 0750 root:winbindd_priv).
 * A tsgwd without the group gets a misleading WBC_ERR_WINBIND_NOT_AVAILABLE from libwbclient:
 * this says what is wrong instead. */
#ifndef TSGW_AUTH_WINBIND_PRIV_H
#define TSGW_AUTH_WINBIND_PRIV_H

#include <stddef.h>

#define WINBIND_PRIV_GROUP "winbindd_priv"

/* 0 when this process may use the privileged pipe (root, or group winbindd_priv among its
 * groups), -1 with one sentence in why that names the user, the group and the fix. */
int winbind_priv_check(char *why, size_t whysz);

#endif
