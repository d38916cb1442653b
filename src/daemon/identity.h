/* Identities shared by every connection and tunnel of the same user: a proven logon result
 * (struct logon_identity, logon.h) is held once per distinct identity, reference counted,
 * rather than copied into every connection and tunnel (an idle tunnel holds a pointer).
 *
 * Life of one: identity_new() gives a private, writable identity that the logon fills in; once
 * the logon succeeded, identity_share() swaps it for the shared copy of an equal identity (or
 * makes it the shared copy). A shared identity is read-only, and it ends right after the NUL
 * of its last field (sids): read its fields as strings, never copy the whole struct.
 * Single-threaded (the event loop). */
#ifndef TSGW_DAEMON_IDENTITY_H
#define TSGW_DAEMON_IDENTITY_H

#include "daemon/logon.h"

/* A zeroed private identity with one reference, or NULL (out of memory). */
struct logon_identity *identity_new(void);

/* Takes over the caller's reference to id and returns a reference to the shared identity equal
 * to it (id itself, or an older equal one, in which case id is released). NULL stays NULL. */
struct logon_identity *identity_share(struct logon_identity *id);

/* One more reference (NULL stays NULL). */
struct logon_identity *identity_ref(struct logon_identity *id);

/* Drops a reference; the identity is freed with its last one (NULL is a no-op). */
void identity_put(struct logon_identity *id);

/* Distinct shared identities held (tests and the memory accounting). */
size_t identity_count(void);

#endif
