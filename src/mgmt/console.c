#include "mgmt/console.h"

#include <stdio.h>
#include <string.h>

/* ---------- escaping ---------- */

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

void console_json_str(struct buf *b, const char *s)
{
    buf_put_u8(b, '"');
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        uint32_t cp;
        size_t n = utf8_len(p, &cp);
        if (n == 0) {
            buf_append_str(b, "\\ufffd");
            p++;
            continue;
        }
        if (cp == '"' || cp == '\\') {
            buf_put_u8(b, '\\');
            buf_put_u8(b, (uint8_t)cp);
        } else if (cp == '\n') {
            buf_append_str(b, "\\n");
        } else if (cp < 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == '&' || cp == '\'' ||
                   cp == 0x2028 || cp == 0x2029) {
            buf_printf(b, "\\u%04x", (unsigned)cp);
        } else {
            buf_append(b, p, n);
        }
        p += n;
    }
    buf_put_u8(b, '"');
}

void console_html_str(struct buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '&':
            buf_append_str(b, "&amp;");
            break;
        case '<':
            buf_append_str(b, "&lt;");
            break;
        case '>':
            buf_append_str(b, "&gt;");
            break;
        case '"':
            buf_append_str(b, "&quot;");
            break;
        case '\'':
            buf_append_str(b, "&#39;");
            break;
        default:
            buf_put_u8(b, (uint8_t)*p);
        }
    }
}

/* ---------- request parsing ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) (form encoding) into out. Returns the length or CONSOLE_FIELD_BAD. */
static int form_decode(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return CONSOLE_FIELD_BAD;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return CONSOLE_FIELD_BAD;
            c = h << 4 | l;
            i += 2;
        }
        if (c == 0 || o + 1 >= outsz)
            return CONSOLE_FIELD_BAD;
        out[o++] = (char)c;
    }
    if (outsz == 0)
        return CONSOLE_FIELD_BAD;
    out[o] = 0;
    return (int)o;
}

int console_form_get(const char *body, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        size_t kl = eq ? (size_t)(eq - (body + i)) : end - i;
        if (kl == nl && !memcmp(body + i, name, nl)) {
            if (!eq) {
                if (outsz == 0)
                    return CONSOLE_FIELD_BAD;
                out[0] = 0;
                return 0;
            }
            return form_decode(eq + 1, end - (size_t)(eq + 1 - body), out, outsz);
        }
        i = end + 1;
    }
    return CONSOLE_FIELD_ABSENT;
}

int console_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && p[nl] == '=' && !memcmp(p, name, nl)) {
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
                v++, vl -= 2;
            if (vl + 1 > outsz)
                return CONSOLE_FIELD_BAD;
            memcpy(out, v, vl);
            out[vl] = 0;
            return (int)vl;
        }
        p = end;
    }
    return CONSOLE_FIELD_ABSENT;
}

int console_split_target(const char *target, char *path, size_t pathsz, const char **query)
{
    const char *q = strchr(target, '?');
    size_t pl = q ? (size_t)(q - target) : strlen(target);
    if (pl + 1 > pathsz)
        return -1;
    memcpy(path, target, pl);
    path[pl] = 0;
    *query = q ? q + 1 : "";
    return 0;
}

/* ---------- sessions ---------- */

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* Constant-time comparison of a NUL-terminated candidate against a CONSOLE_TOKEN_HEX token. */
static bool token_eq(const char *want, const char *got)
{
    if (!got || strnlen(got, CONSOLE_TOKEN_HEX + 1) != CONSOLE_TOKEN_HEX)
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < CONSOLE_TOKEN_HEX; i++)
        d |= (unsigned char)(want[i] ^ got[i]);
    return d == 0;
}

static bool expired(const struct console_sessions *s, const struct console_session *ss,
                    uint64_t now)
{
    return now - ss->last_ms >= s->idle_ms || now - ss->created_ms >= s->lifetime_ms;
}

struct console_session *console_session_new(struct console_sessions *s, const char *user,
                                            const char *addr, uint64_t now_ms,
                                            const uint8_t rnd[2 * CONSOLE_TOKEN_BYTES])
{
    struct console_session *slot = NULL, *lru = NULL;
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *ss = &s->v[i];
        if (ss->used && expired(s, ss, now_ms))
            console_session_end(ss);
        if (!ss->used && !slot)
            slot = ss;
        if (ss->used && (!lru || ss->last_ms < lru->last_ms))
            lru = ss;
    }
    if (!slot) {
        slot = lru;
        console_session_end(slot);
    }
    slot->used = true;
    to_hex(rnd, CONSOLE_TOKEN_BYTES, slot->token);
    to_hex(rnd + CONSOLE_TOKEN_BYTES, CONSOLE_TOKEN_BYTES, slot->csrf);
    snprintf(slot->user, sizeof slot->user, "%s", user);
    snprintf(slot->addr, sizeof slot->addr, "%s", addr ? addr : "");
    slot->created_ms = slot->last_ms = now_ms;
    return slot;
}

struct console_session *console_session_find(struct console_sessions *s, const char *token,
                                             uint64_t now_ms)
{
    struct console_session *found = NULL;
    /* look at every slot whatever matches, so the time taken says nothing */
    for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
        struct console_session *ss = &s->v[i];
        bool eq = token_eq(ss->token, token);
        if (ss->used && eq && !found)
            found = ss;
    }
    if (!found)
        return NULL;
    if (expired(s, found, now_ms)) {
        console_session_end(found);
        return NULL;
    }
    found->last_ms = now_ms;
    return found;
}

void console_session_end(struct console_session *ss)
{
    /* wipe the tokens: an ended session's cookie must never match again */
    memset(ss, 0, sizeof *ss);
}

bool console_csrf_ok(const struct console_session *ss, const char *token)
{
    return ss && ss->used && token_eq(ss->csrf, token);
}

uint32_t console_session_left_s(const struct console_sessions *s, const struct console_session *ss,
                                uint64_t now_ms)
{
    uint64_t end = ss->created_ms + s->lifetime_ms;
    return now_ms >= end ? 0 : (uint32_t)((end - now_ms) / 1000);
}

const struct console_asset *console_asset_find(const char *name)
{
    for (size_t i = 0; i < console_nassets; i++)
        if (!strcmp(console_assets[i].name, name))
            return &console_assets[i];
    return NULL;
}
