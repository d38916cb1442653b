/* The admin socket's request handling: the line splitter and the verb table, against a gateway
 * built from a configuration string (the registry is empty: enumerate/get/invoke reach the
 * provider's lookups and argument checks). Also checks that field escaping round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "daemon/admin.h"
#include "daemon/gateway.h"
#include "mgmt/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gateway *gw;

static void setup(void)
{
    log_set_level(-1);
    log_set_events(0);
    gw = calloc(1, sizeof *gw);
    gw->cfg = config_new();
    struct buf errors = BUF_INIT;
    const char *conf = "[gateway]\nlisten = 127.0.0.1:1\ncertificate = c\nprivate-key = k\n"
                       "[auth]\nusers-file = u\n[resource-group:g]\nresources = 10.0.0.0/8\n"
                       "[cap:c]\nuser-groups = *\n[rap:r]\nuser-groups = *\nresource-group = g\n"
                       "ports = *\n";
    if (config_load_string(conf, "fuzz.conf", "/", gw->cfg, &errors) != 0)
        abort();
    buf_free(&errors);
    loop_init(&gw->loop);
    reg_init(&gw->reg);
    reg_init(&gw->chanless);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gw)
        setup();
    if (size > MGMT_MAX_REQUEST)
        return 0;
    /* 1. the request line as the socket sees it (up to the first LF, NUL-terminated) */
    char *line = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = 0;
    char *nl = memchr(line, '\n', size);
    if (nl)
        *nl = 0;
    struct buf out = BUF_INIT;
    admin_process_line(gw, size & 1, 1000, line, &out);
    if (buf_len(&out) < 8 || memcmp(buf_data(&out), MGMT_MAGIC "\t", 7) != 0)
        abort(); /* every request gets a status line */
    buf_free(&out);
    /* 2. escaping: any NUL-free field survives put_field + split unchanged */
    char *field = malloc(size + 1);
    memcpy(field, data, size);
    field[size] = 0;
    struct buf enc = BUF_INIT;
    mgmt_put_field(&enc, field);
    buf_put_u8(&enc, 0);
    char *parts[2];
    int n = mgmt_split((char *)buf_data(&enc), parts, 2);
    if (n != 1 || !parts[0] || strcmp(parts[0], field) != 0)
        abort();
    buf_free(&enc);
    free(field);
    free(line);
    return 0;
}
