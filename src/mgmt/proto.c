#include "mgmt/proto.h"

#include <stdbool.h>
#include <string.h>

int mgmt_put_field(struct buf *b, const char *s)
{
    if (!s)
        return buf_append(b, "\\N", 2);
    for (; *s; s++) {
        int r;
        switch (*s) {
        case '\t':
            r = buf_append(b, "\\t", 2);
            break;
        case '\n':
            r = buf_append(b, "\\n", 2);
            break;
        case '\r':
            r = buf_append(b, "\\r", 2);
            break;
        case '\\':
            r = buf_append(b, "\\\\", 2);
            break;
        default:
            r = buf_put_u8(b, (uint8_t)*s);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int mgmt_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n >= max)
            return -1;
        char *start = p, *w = p;
        bool null_field = false;
        while (*p && *p != '\t') {
            if (*p == '\\') {
                char c = p[1];
                if (c == 't')
                    *w++ = '\t';
                else if (c == 'n')
                    *w++ = '\n';
                else if (c == 'r')
                    *w++ = '\r';
                else if (c == '\\')
                    *w++ = '\\';
                else if (c == 'N' && p == start && (p[2] == '\t' || p[2] == 0))
                    null_field = true;
                else
                    return -1;
                p += 2;
            } else {
                *w++ = *p++;
            }
        }
        bool end = *p == 0;
        *w = 0;
        fields[n++] = null_field ? NULL : start;
        if (end)
            return n;
        p++;
    }
}
