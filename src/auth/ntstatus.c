#include "auth/ntstatus.h"

#include <stddef.h>
#include <stdio.h>

static const struct {
    uint32_t status;
    uint32_t win32;
    bool unavailable;
    const char *reason;
} table[] = {
    {0xC000006Au, 1326, false, "wrong password"},
    {0xC0000064u, 1326, false, "no such user"},
    {0xC000006Du, 1326, false, "unknown user name or bad password"},
    {0xC0000072u, 1331, false, "account disabled"},
    {0xC0000234u, 1909, false, "account locked out"},
    {0xC0000193u, 1793, false, "account expired"},
    {0xC0000071u, 1330, false, "password expired"},
    {0xC0000224u, 1907, false, "password must be changed"},
    {0xC000006Fu, 1328, false, "outside the account's logon hours"},
    {0xC0000070u, 1329, false, "not allowed from this workstation"},
    {0xC000006Eu, 1327, false, "account restriction"},
    {0xC000015Bu, 1385, false, "logon type not granted"},
    {0xC0000413u, 1935, false, "refused by the authentication firewall"},
    {0xC0000022u, 5, false, "access denied"},
    {0xC0000133u, 1398, false, "clock skew between the domain controller and the member"},
    {0xC000005Eu, 1311, true, "no domain controller available"},
    {0xC00000B5u, 1460, true, "domain controller timed out"},
    {0xC0000192u, 1792, true, "NETLOGON not started"},
    {0xC000018Bu, 1787, true, "no trust account for this gateway in the domain"},
    {0xC0000198u, 1807, true, "trust relationship failed (NOLOGON_WORKSTATION_TRUST_ACCOUNT)"},
    {0xC00000DFu, 1355, true, "no such domain"},
    {0xC0000017u, 8, true, "domain controller out of memory"},
    {0xC00000E5u, 1359, true, "internal error in the domain controller"},
};

#define N_TABLE (sizeof table / sizeof table[0])

const char *ntstatus_reason(uint32_t status, char *buf, size_t bufsz)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].status == status)
            return table[i].reason;
    snprintf(buf, bufsz, "logon failed (NTSTATUS 0x%08X)", (unsigned)status);
    return buf;
}

const char *ntstatus_describe(uint32_t status, char *buf, size_t bufsz)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].status == status) {
            snprintf(buf, bufsz, "%s (NTSTATUS 0x%08X)", table[i].reason, (unsigned)status);
            return buf;
        }
    return ntstatus_reason(status, buf, bufsz);
}

uint32_t ntstatus_win32(uint32_t status)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].status == status)
            return table[i].win32;
    return 1326;
}

bool ntstatus_unavailable(uint32_t status)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].status == status)
            return table[i].unavailable;
    return false;
}
