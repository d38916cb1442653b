/* tsgwctl commands that talk to a running tsgwd over its admin socket, plus `mof`. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/tsgwctl.h"
#include "conf/config.h"
#include "core/buf.h"
#include "core/util.h"
#include "mgmt/proto.h"
#include "mgmt/schema.h"

#define CONN_CLASS "Win32_TSGatewayConnection"

void ctl_admin_usage(FILE *f)
{
    fprintf(f,
            "\n"
            "Live gateway (admin socket; root or the admin group):\n"
            "  connections | ls            list live connections (Win32_TSGatewayConnection)\n"
            "  disconnect KEY              end one connection (KEY = TunnelId:ChannelId)\n"
            "  disconnect-user 'DOMAIN\\user'\n"
            "                              end every connection of that user\n"
            "  disconnect-protocol NAME    end every connection using NAME (RDP or TS)\n"
            "  show CLASS                  list the instances of any RD Gateway class\n"
            "  policy                      the effective CAPs, RAPs, resource groups, settings\n"
            "  watch [--json]              follow events 200-307 as they happen (one line each)\n"
            "  blocks                      logon blocks in force (address, account, both)\n"
            "  unblock WHO                 lift the blocks of an address, an account, or of\n"
            "                              'ADDRESS ACCOUNT' (event 201 \"unblocked\")\n"
            "\n"
            "Schema:\n"
            "  mof                         print the served schema as MOF text\n"
            "\n"
            "The socket is -s SOCKET, or [gateway] admin-socket of -c CONFIG.\n"
            "Method commands print the WMI ReturnValue; the exit status is 0 only for 0.\n"
            "In a farm ([farm] redis), connections and the disconnect commands act on every\n"
            "node (keys NODE/TunnelId:ChannelId); --local limits them to this node.\n");
}

static const char *pick_admin_socket(const struct gw_config *c)
{
    return c->admin_socket;
}

static int socket_path(char *out, size_t outsz)
{
    return ctl_from_config(g_opts.socket, pick_admin_socket, "-s SOCKET ([gateway] admin-socket)",
                           out, outsz);
}

/* Connects and sends one request. Returns the socket, or -WBEM code for "access denied"
 * (as a negative number below -1), or -1 with a message. */
static int64_t send_request(char **fields, int n)
{
    char path[4096];
    if (socket_path(path, sizeof path) < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "tsgwctl: socket path too long\n");
        return -1;
    }
    str_copy(sa.sun_path, path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (e == EACCES || e == EPERM) {
            fprintf(stderr, "tsgwctl: access denied to %s (root or the admin group only)\n", path);
            return -(int64_t)WBEM_E_ACCESS_DENIED;
        }
        if (e == ENOENT)
            fprintf(stderr, "tsgwctl: no admin socket at %s: is tsgwd running?\n", path);
        else if (e == ECONNREFUSED)
            fprintf(stderr, "tsgwctl: tsgwd is not running (nothing listens on %s)\n", path);
        else
            fprintf(stderr, "tsgwctl: cannot connect to %s: %s\n", path, strerror(e));
        return -1;
    }
    struct buf req = BUF_INIT;
    buf_append_str(&req, MGMT_MAGIC);
    for (int i = 0; i < n; i++) {
        buf_put_u8(&req, '\t');
        mgmt_put_field(&req, fields[i]);
    }
    buf_put_u8(&req, '\n');
    size_t off = 0;
    while (off < buf_len(&req)) {
        ssize_t w = send(fd, buf_data(&req) + off, buf_len(&req) - off, MSG_NOSIGNAL);
        if (w <= 0) {
            fprintf(stderr, "tsgwctl: write to %s failed: %s\n", path, strerror(errno));
            buf_free(&req);
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    buf_free(&req);
    return fd;
}

/* Sends one request; on success fills resp with the whole response (status line and body).
 * Returns 0, or a WMI code for failures that mean "access denied", or -1 with a message. */
static int64_t call(char **fields, int n, struct buf *resp)
{
    int64_t r0 = send_request(fields, n);
    if (r0 < -1)
        return -r0;
    if (r0 < 0)
        return -1;
    int fd = (int)r0;
    resp->cap_limit = MGMT_MAX_RESPONSE;
    for (;;) {
        if (buf_reserve(resp, 65536) < 0) {
            fprintf(stderr, "tsgwctl: response too large\n");
            close(fd);
            return -1;
        }
        ssize_t r = recv(fd, buf_tail(resp), 65536, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        buf_commit(resp, (size_t)r);
    }
    close(fd);
    buf_put_u8(resp, 0);
    return 0;
}

/* Splits the response into lines; checks the status line. Returns the status (0 or a WMI code)
 * or -1 when the response is malformed. */
static int64_t status_of(struct buf *resp, char **body, char *msg, size_t msgsz)
{
    char *s = (char *)buf_data(resp);
    char *nl = strchr(s, '\n');
    if (!nl) {
        fprintf(stderr, "tsgwctl: no answer from tsgwd\n");
        return -1;
    }
    *nl = 0;
    *body = nl + 1;
    char *f[4];
    int n = mgmt_split(s, f, 4);
    uint64_t code;
    if (n < 2 || !f[0] || strcmp(f[0], MGMT_MAGIC) || !f[1] ||
        parse_u64(f[1], 0, UINT32_MAX, &code) < 0) {
        fprintf(stderr, "tsgwctl: malformed answer from tsgwd\n");
        return -1;
    }
    str_copy(msg, n > 2 && f[2] ? f[2] : "", msgsz);
    return (int64_t)code;
}

static void json_value(int type, const char *v)
{
    if (!v) {
        printf("null");
        return;
    }
    switch (type) {
    case CIM_BOOLEAN:
        printf("%s", str_ieq(v, "TRUE") ? "true" : "false");
        break;
    case CIM_UINT8:
    case CIM_UINT16:
    case CIM_UINT32:
    case CIM_UINT64:
        printf("%s", v);
        break;
    default:
        ctl_json_string(v);
    }
}

/* Body of enumerate/get: header line with property names, then instances. Printed as a JSON
 * array of objects (keys = property names), or as "Name: value" blocks / a table. */
static int print_instances(const struct cim_class *c, char *body, bool table)
{
    char *lines = body, *save = NULL;
    char *hdr = strtok_r(lines, "\n", &save);
    if (!hdr) {
        fprintf(stderr, "tsgwctl: empty answer\n");
        return 1;
    }
    char *names[MGMT_MAX_FIELDS];
    int nn = mgmt_split(hdr, names, MGMT_MAX_FIELDS);
    int types[MGMT_MAX_FIELDS];
    for (int i = 0; i < nn; i++) {
        int k = names[i] ? cim_find_property(c, names[i]) : -1;
        types[i] = k >= 0 ? c->props[k].type : CIM_STRING;
    }
    int count = 0;
    bool farm = nn == 16 && names[15] && !strcmp(names[15], "Node");
    int kw = farm ? 22 : 10;
    if (g_opts.json)
        printf("[");
    else if (table)
        printf("%-*s %-24s %-15s %-26s %-8s %-8s %9s %9s %s\n", kw, "KEY", "USER", "CLIENT",
               "RESOURCE:PORT", "IDLE", "DURATION", "KB-SENT", "KB-RECV", "TRANSPORT");
    for (char *l = strtok_r(NULL, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *v[MGMT_MAX_FIELDS];
        int nv = mgmt_split(l, v, MGMT_MAX_FIELDS);
        if (nv != nn)
            continue;
        if (g_opts.json) {
            printf("%s{", count ? "," : "");
            for (int i = 0; i < nv; i++) {
                printf("%s", i ? "," : "");
                ctl_json_string(names[i] ? names[i] : "");
                putchar(':');
                json_value(types[i], v[i]);
            }
            printf("}");
        } else if (table && nv >= 15) {
            /* IdleTime/ConnectionDuration: ddddddddHHMMSS.mmmmmm:000 -> HH:MM:SS */
            char idle[16], dur[16], res[300];
            const char *it = v[7] ? v[7] : "", *ct = v[13] ? v[13] : "";
            snprintf(idle, sizeof idle, "%.2s:%.2s:%.2s", it + 8, it + 10, it + 12);
            snprintf(dur, sizeof dur, "%.2s:%.2s:%.2s", ct + 8, ct + 10, ct + 12);
            snprintf(res, sizeof res, "%s:%s", v[8] ? v[8] : "", v[10] ? v[10] : "");
            printf("%-*s %-24s %-15s %-26s %-8s %-8s %9s %9s %s\n", kw, v[0] ? v[0] : "",
                   v[3] ? v[3] : "", v[5] ? v[5] : "", res, idle, dur, v[11] ? v[11] : "",
                   v[12] ? v[12] : "",
                   v[14] && !strcmp(v[14], "1") ? "HTTP"
                   : v[14]                      ? v[14]
                                                : "");
        } else {
            printf("%s", count ? "\n" : "");
            for (int i = 0; i < nv; i++)
                printf("%s: %s\n", names[i] ? names[i] : "", v[i] ? v[i] : "(null)");
        }
        count++;
    }
    if (g_opts.json)
        printf("]\n");
    else if (table)
        printf("(%d connection%s)\n", count, count == 1 ? "" : "s");
    return 0;
}

static int cmd_enumerate(const char *cls, bool table)
{
    const struct cim_class *c = cim_find_class(cls);
    if (!c) {
        fprintf(stderr, "tsgwctl: unknown class %s\n", cls);
        return 2;
    }
    char *f[] = {g_opts.local ? "enumerate" : "farm-enumerate", (char *)c->name};
    struct buf resp = BUF_INIT;
    int64_t r = call(f, 2, &resp);
    if (r != 0) {
        buf_free(&resp);
        return 1;
    }
    char *body, msg[256];
    int64_t st = status_of(&resp, &body, msg, sizeof msg);
    int rc;
    if (st != 0) {
        const char *nm = st > 0 ? wbem_code_name((uint32_t)st) : NULL;
        if (st > 0)
            fprintf(stderr, "tsgwctl: %s (%lld)\n", nm ? nm : msg, (long long)st);
        rc = 1;
    } else {
        rc = print_instances(c, body, table);
    }
    buf_free(&resp);
    return rc;
}

static int cmd_method(const char *method, const char *key, const char *pname, const char *pval)
{
    char param[8192];
    char *f[5] = {g_opts.local ? "invoke" : "farm-invoke", CONN_CLASS, (char *)method,
                  (char *)(key ? key : "")};
    int n = 4;
    if (pname && pval) {
        snprintf(param, sizeof param, "%s=%s", pname, pval);
        f[n++] = param;
    }
    struct buf resp = BUF_INIT;
    int64_t r = call(f, n, &resp);
    uint32_t ret = 0;
    long long server_us = -1, nodes = -1, ended = -1;
    if (r < 0) {
        buf_free(&resp);
        return 1;
    }
    if (r > 0) {
        ret = (uint32_t)r; /* refused before reaching the daemon */
    } else {
        char *body, msg[256];
        int64_t st = status_of(&resp, &body, msg, sizeof msg);
        if (st < 0) {
            buf_free(&resp);
            return 1;
        }
        if (st > 0) {
            ret = (uint32_t)st; /* the call itself failed (e.g. access denied) */
        } else {
            unsigned long v = 0;
            if (sscanf(body, "ReturnValue\t%lu", &v) != 1) {
                fprintf(stderr, "tsgwctl: answer without ReturnValue\n");
                buf_free(&resp);
                return 1;
            }
            ret = (uint32_t)v;
            const char *tp = strstr(body, "\nServerTimeUs\t");
            if (tp)
                server_us = atoll(tp + 14);
            if ((tp = strstr(body, "\nNodes\t")) != NULL)
                nodes = atoll(tp + 7);
            if ((tp = strstr(body, "\nEnded\t")) != NULL)
                ended = atoll(tp + 7);
        }
    }
    buf_free(&resp);
    const char *name = wbem_code_name(ret);
    if (g_opts.json) {
        printf("{\"Method\":");
        ctl_json_string(method);
        printf(",\"ReturnValue\":%u,\"ReturnValueName\":", ret);
        ctl_json_string(name ? name : "");
        if (key) {
            printf(",\"ConnectionKey\":");
            ctl_json_string(key);
        }
        if (pname && pval) {
            printf(",");
            ctl_json_string(pname);
            printf(":");
            ctl_json_string(pval);
        }
        if (server_us >= 0)
            printf(",\"ServerTimeMs\":%.3f", (double)server_us / 1000.0);
        if (nodes >= 0)
            printf(",\"Nodes\":%lld,\"Ended\":%lld", nodes, ended);
        printf("}\n");
    } else {
        printf("%s: ReturnValue = %u (%s)", method, ret, name ? name : "unknown code");
        if (server_us >= 0)
            printf(", server time %.3f ms", (double)server_us / 1000.0);
        if (nodes >= 0)
            printf(", %lld node(s) answered, %lld connection(s) ended", nodes, ended);
        printf("\n");
    }
    return ret == 0 ? 0 : 1;
}

/* watch: the status line, then event lines until tsgwd or the user ends it. */
static int cmd_watch(void)
{
    char *f[] = {"watch", g_opts.json ? "json" : "text"};
    int64_t r0 = send_request(f, 2);
    if (r0 < -1) {
        fprintf(stderr, "tsgwctl: access denied\n");
        return 1;
    }
    if (r0 < 0)
        return 1;
    int fd = (int)r0;
    FILE *in = fdopen(fd, "r");
    if (!in) {
        close(fd);
        return 1;
    }
    char line[65536];
    if (!fgets(line, sizeof line, in)) {
        fprintf(stderr, "tsgwctl: no answer from tsgwd\n");
        fclose(in);
        return 1;
    }
    line[strcspn(line, "\n")] = 0;
    char *fs[4];
    int n = mgmt_split(line, fs, 4);
    if (n < 2 || !fs[0] || strcmp(fs[0], MGMT_MAGIC) || !fs[1] || strcmp(fs[1], "0")) {
        fprintf(stderr, "tsgwctl: watch refused: %s\n",
                n > 2 && fs[2] ? fs[2] : "malformed answer");
        fclose(in);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, in))
        fputs(line, stdout);
    fclose(in);
    return 0;
}

/* blocks / unblock: the daemon's table as it is (tab-separated with a header line), or JSON
 * objects keyed by the header's names. */
static int cmd_table(char **fields, int n)
{
    struct buf resp = BUF_INIT;
    int64_t r = call(fields, n, &resp);
    if (r != 0) {
        if (r > 0)
            fprintf(stderr, "tsgwctl: access denied\n");
        buf_free(&resp);
        return 1;
    }
    char *body, msg[256];
    int64_t st = status_of(&resp, &body, msg, sizeof msg);
    if (st != 0) {
        if (st > 0)
            fprintf(stderr, "tsgwctl: %s: %s\n", fields[0], msg);
        buf_free(&resp);
        return 1;
    }
    char *save = NULL, *names[MGMT_MAX_FIELDS], *vals[MGMT_MAX_FIELDS];
    char *line = strtok_r(body, "\n", &save);
    int nn = line ? mgmt_split(line, names, MGMT_MAX_FIELDS) : 0;
    if (g_opts.json)
        printf("[");
    else if (nn)
        for (int i = 0; i < nn; i++)
            printf("%s%s", names[i] ? names[i] : "", i + 1 < nn ? "\t" : "\n");
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        int nv = mgmt_split(line, vals, MGMT_MAX_FIELDS);
        if (g_opts.json) {
            printf("%s{", rows ? "," : "");
            for (int i = 0; i < nn && i < nv; i++) {
                printf("%s", i ? "," : "");
                ctl_json_string(names[i] ? names[i] : "");
                printf(":");
                ctl_json_string(vals[i] ? vals[i] : "");
            }
            printf("}");
        } else {
            for (int i = 0; i < nv; i++)
                printf("%s%s", vals[i] ? vals[i] : "", i + 1 < nv ? "\t" : "\n");
        }
        rows++;
    }
    if (g_opts.json)
        printf("]\n");
    buf_free(&resp);
    return 0;
}

int ctl_admin_command(int argc, char **argv)
{
    const char *cmd = argv[0];
    /* options may also follow the command */
    int nargs = 0;
    char *args[8];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            g_opts.json = true;
        else if (!strcmp(argv[i], "--local"))
            g_opts.local = true;
        else if (nargs < 8)
            args[nargs++] = argv[i];
    }
    if (!strcmp(cmd, "connections") || !strcmp(cmd, "ls"))
        return cmd_enumerate(CONN_CLASS, true);
    if (!strcmp(cmd, "show")) {
        if (nargs != 1) {
            fprintf(stderr, "usage: tsgwctl show CLASS\n");
            return 2;
        }
        return cmd_enumerate(args[0], false);
    }
    if (!strcmp(cmd, "policy")) {
        static const char *classes[] = {
            "Win32_TSGatewayServerSettings", "Win32_TSGatewayConnectionAuthorizationPolicy",
            "Win32_TSGatewayResourceAuthorizationPolicy", "Win32_TSGatewayResourceGroup"};
        int rc = 0;
        if (g_opts.json)
            printf("{");
        for (size_t i = 0; i < 4; i++) {
            if (g_opts.json)
                printf("%s\"%s\":", i ? "," : "", classes[i]);
            else
                printf("%s== %s ==\n", i ? "\n" : "", classes[i]);
            fflush(stdout);
            rc |= cmd_enumerate(classes[i], false);
        }
        if (g_opts.json)
            printf("}\n");
        return rc;
    }
    if (!strcmp(cmd, "disconnect")) {
        if (nargs != 1) {
            fprintf(stderr, "usage: tsgwctl disconnect TUNNELID:CHANNELID\n");
            return 2;
        }
        return cmd_method("Disconnect", args[0], NULL, NULL);
    }
    if (!strcmp(cmd, "disconnect-user")) {
        if (nargs > 1) {
            fprintf(stderr, "usage: tsgwctl disconnect-user 'DOMAIN\\user'\n");
            return 2;
        }
        return cmd_method("DisconnectUser", NULL, "UserName", nargs ? args[0] : NULL);
    }
    if (!strcmp(cmd, "disconnect-protocol")) {
        if (nargs > 1) {
            fprintf(stderr, "usage: tsgwctl disconnect-protocol RDP\n");
            return 2;
        }
        return cmd_method("DisconnectProtocol", NULL, "ProtocolName", nargs ? args[0] : NULL);
    }
    if (!strcmp(cmd, "watch")) {
        if (nargs) {
            fprintf(stderr, "usage: tsgwctl watch [--json]\n");
            return 2;
        }
        return cmd_watch();
    }
    if (!strcmp(cmd, "blocks")) {
        if (nargs) {
            fprintf(stderr, "usage: tsgwctl blocks [--json]\n");
            return 2;
        }
        char *f[] = {"blocks"};
        return cmd_table(f, 1);
    }
    if (!strcmp(cmd, "unblock")) {
        if (nargs != 1) {
            fprintf(stderr,
                    "usage: tsgwctl unblock ADDRESS|'DOMAIN\\user'|'ADDRESS DOMAIN\\user'\n");
            return 2;
        }
        char *f[] = {"unblock", args[0]};
        return cmd_table(f, 2);
    }
    if (!strcmp(cmd, "mof")) {
        struct buf b = BUF_INIT;
        cim_write_mof(&b);
        fwrite(buf_data(&b), 1, buf_len(&b), stdout);
        buf_free(&b);
        return 0;
    }
    return -1;
}
