/* NTSTATUS codes a domain logon can end with: a readable reason, the Win32 error code Windows'
 * gateway puts in its events, and whether the failure is the directory's (retry later) rather
 * than the account's. Pure table lookups. */
#ifndef TSGW_AUTH_NTSTATUS_H
#define TSGW_AUTH_NTSTATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_STATUS_WRONG_PASSWORD 0xC000006Au
#define NT_STATUS_NO_SUCH_USER 0xC0000064u
#define NT_STATUS_LOGON_FAILURE 0xC000006Du
#define NT_STATUS_ACCOUNT_DISABLED 0xC0000072u
#define NT_STATUS_ACCOUNT_LOCKED_OUT 0xC0000234u
#define NT_STATUS_NO_LOGON_SERVERS 0xC000005Eu

/* "wrong password", "account disabled", ...; "logon failed (NTSTATUS 0x...)" for codes not in
 * the table (written to buf, which must hold 48 bytes). */
const char *ntstatus_reason(uint32_t status, char *buf, size_t bufsz);

/* The reason with its code, for logs and events: "wrong password (NTSTATUS 0xC000006A)";
 * "logon failed (NTSTATUS 0x...)" for codes not in the table. Written to buf (128 bytes hold
 * every entry); returns buf. */
const char *ntstatus_describe(uint32_t status, char *buf, size_t bufsz);

/* Win32 error code for the event (1326 ERROR_LOGON_FAILURE when unknown). */
uint32_t ntstatus_win32(uint32_t status);

/* True when the status says the directory could not answer (no DC, timeout, trust broken), not
 * that the account was refused: the client gets 503 instead of 401. */
bool ntstatus_unavailable(uint32_t status);

#endif
