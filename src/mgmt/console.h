/* The web console's pure pieces (no sockets, no clock, no randomness of their own): JSON and
 * HTML escaping, application/x-www-form-urlencoded and Cookie header parsing, the session table
 * with its CSRF tokens, and the static assets (web/, embedded at build time). The daemon's HTTP
 * side is src/daemon/web.c; docs/console.md describes the whole. */
#ifndef TSGW_MGMT_CONSOLE_H
#define TSGW_MGMT_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---------- escaping ---------- */

/* Appends s as a JSON string literal (with the quotes). Besides what JSON requires, '<', '>',
 * '&', '\'' and U+2028/U+2029 are written as \uXXXX, so the text is inert even if someone put
 * it inside HTML; bytes that are not well-formed UTF-8 become U+FFFD. NULL is written as "". */
void console_json_str(struct buf *b, const char *s);

/* Appends s HTML-escaped (& < > " ' become entities); NULL appends nothing. */
void console_html_str(struct buf *b, const char *s);

/* ---------- request parsing ---------- */

#define CONSOLE_FIELD_ABSENT (-1)
#define CONSOLE_FIELD_BAD (-2) /* malformed %-escape, NUL byte, or longer than out */

/* Looks up field name in an application/x-www-form-urlencoded body (or a query string) of len
 * bytes: '+' is a space, %XX a byte. The first occurrence wins. Returns the decoded length
 * (out is NUL-terminated), CONSOLE_FIELD_ABSENT or CONSOLE_FIELD_BAD. */
int console_form_get(const char *body, size_t len, const char *name, char *out, size_t outsz);

/* Finds cookie name in a Cookie header value ("a=1; b=2"). Returns the value's length (out is
 * NUL-terminated), CONSOLE_FIELD_ABSENT, or CONSOLE_FIELD_BAD when it does not fit. */
int console_cookie_get(const char *header, const char *name, char *out, size_t outsz);

/* Splits a request target into its path (without the query) and the query (after '?', may be
 * empty). Returns -1 when the path does not fit. */
int console_split_target(const char *target, char *path, size_t pathsz, const char **query);

/* ---------- sessions ---------- */

#define CONSOLE_TOKEN_BYTES 32
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES)
#define CONSOLE_MAX_SESSIONS 64
#define CONSOLE_USER_MAX 256

struct console_session {
    bool used;
    char token[CONSOLE_TOKEN_HEX + 1]; /* the cookie value */
    char csrf[CONSOLE_TOKEN_HEX + 1];  /* sent back by the page on every state-changing request */
    char user[CONSOLE_USER_MAX];       /* DOMAIN\user */
    bool directory;                    /* the domain checked the password (not the users file) */
    char addr[64];                     /* where it signed in from (for the log) */
    uint64_t created_ms, last_ms;      /* monotonic */
};

struct console_sessions {
    struct console_session v[CONSOLE_MAX_SESSIONS];
    uint32_t idle_ms;     /* a session unused this long ends */
    uint32_t lifetime_ms; /* and every session ends this long after sign-in */
};

/* Creates a session for user from 2 * CONSOLE_TOKEN_BYTES random bytes (the first half makes
 * the cookie token, the second the CSRF token). Expired sessions are dropped first; when the
 * table is still full the least recently used session is ended. Never fails. */
struct console_session *console_session_new(struct console_sessions *s, const char *user,
                                            const char *addr, uint64_t now_ms,
                                            const uint8_t rnd[2 * CONSOLE_TOKEN_BYTES]);

/* The live session whose token is token (compared in constant time), or NULL. An expired one is
 * ended here. A found session's last use becomes now. */
struct console_session *console_session_find(struct console_sessions *s, const char *token,
                                             uint64_t now_ms);

/* Ends a session (sign-out). */
void console_session_end(struct console_session *ss);

/* True when token equals the session's CSRF token (constant time; NULL or wrong length: false). */
bool console_csrf_ok(const struct console_session *ss, const char *token);

/* Seconds the session has left before its lifetime ends. */
uint32_t console_session_left_s(const struct console_sessions *s, const struct console_session *ss,
                                uint64_t now_ms);

/* ---------- static assets (generated from web/ by scripts/embed_assets.py) ---------- */

struct console_asset {
    const char *name; /* "app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted */
};

extern const struct console_asset console_assets[];
extern const size_t console_nassets;

const struct console_asset *console_asset_find(const char *name);

#endif
