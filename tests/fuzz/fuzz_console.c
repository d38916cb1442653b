/* libFuzzer target for the web console's request parsing (src/mgmt/console.c): the input is a
 * form body, a query string and a Cookie header at once; every lookup must stay inside the
 * input, and a decoded value is never longer than its encoding. The JSON and HTML escapers run
 * over the same bytes and must produce output without raw '<', '>' or control characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    static const char *const names[] = {"username", "password", "csrf", "user",
                                        "key",      "q",        "id",   "__Host-tsgw-console"};
    char out[512];
    /* the form parser takes a length: no terminator of its own */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int n = console_form_get(body, size, names[i], out, sizeof out);
        if (n >= 0 && ((size_t)n > size || strlen(out) != (size_t)n))
            abort();
        n = console_form_get(body, size, names[i], out, 8);
        if (n >= 8)
            abort();
    }
    free(body);
    /* the rest take C strings */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int n = console_cookie_get(s, names[i], out, sizeof out);
        if (n >= 0 && strlen(out) != (size_t)n)
            abort();
    }
    char path[64];
    const char *q;
    if (console_split_target(s, path, sizeof path, &q) == 0 && strlen(path) >= sizeof path)
        abort();
    struct buf b = BUF_INIT;
    console_json_str(&b, s);
    for (size_t i = 0; i < buf_len(&b); i++) {
        uint8_t c = buf_data(&b)[i];
        if (c == '<' || c == '>' || c == '&' || c < 0x20)
            abort();
    }
    buf_clear(&b);
    console_html_str(&b, s);
    for (size_t i = 0; i < buf_len(&b); i++) {
        uint8_t c = buf_data(&b)[i];
        if (c == '<' || c == '>' || c == '"')
            abort();
    }
    buf_free(&b);
    free(s);
    return 0;
}
