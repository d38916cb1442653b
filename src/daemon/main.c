/* tsgwd: the RD Gateway daemon. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "auth/ntlm.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"
#include "daemon/gateway.h"
#include "daemon/ops.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tsgwd -c CONFIG [-t] [-v]\n"
               "       tsgwd --demo DIR [--port PORT] [-v]\n"
               "\n"
               "  -c, --config FILE  run with this configuration (in the foreground)\n"
               "  -t, --test         check the configuration and exit (0 = usable)\n"
               "  -v, --verbose      debug logging\n"
               "      --demo DIR     create (if missing) a self-signed certificate, a demo\n"
               "                     account and a configuration under DIR, then run it\n"
               "      --port PORT    listen port for --demo (default 8443)\n");
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int read_line(const char *path, char *out, size_t outsz)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(out, (int)outsz, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

/* The embedded default: everything a first run needs, under dir, made once. */
static int demo_setup(const char *dir, int port, char *conf_path, size_t conf_sz)
{
    char p[4096], err[512];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "tsgwd: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(p, sizeof p, "%s/cert.pem", dir);
    if (access(p, R_OK) != 0) {
        char key[4096];
        snprintf(key, sizeof key, "%s/key.pem", dir);
        if (tls_make_self_signed(p, key, "localhost", 365, err, sizeof err) < 0) {
            fprintf(stderr, "tsgwd: %s\n", err);
            return -1;
        }
        fprintf(stderr, "tsgwd: created a self-signed certificate in %s\n", p);
    }
    char pw[64];
    snprintf(p, sizeof p, "%s/demo-password", dir);
    if (read_line(p, pw, sizeof pw) < 0 || !pw[0]) {
        uint8_t r[9];
        RAND_bytes(r, sizeof r);
        base64_encode(r, sizeof r, pw, sizeof pw);
        for (char *c = pw; *c; c++)
            if (*c == '/' || *c == '+')
                *c = 'x';
        char line[80];
        snprintf(line, sizeof line, "%s\n", pw);
        if (write_file(p, line, 0600) < 0) {
            fprintf(stderr, "tsgwd: cannot write %s: %s\n", p, strerror(errno));
            return -1;
        }
    }
    snprintf(p, sizeof p, "%s/users", dir);
    struct user_store st = {0};
    if (user_store_load(p, 1, &st, err, sizeof err) < 0) {
        fprintf(stderr, "tsgwd: %s\n", err);
        return -1;
    }
    uint8_t h[16];
    ntlm_nt_hash(pw, h);
    if (user_store_put(&st, "TSGW", "demo", h, "RDG Users", "Demo User") < 0 ||
        user_store_save(p, &st) < 0) {
        fprintf(stderr, "tsgwd: cannot write %s\n", p);
        user_store_free(&st);
        return -1;
    }
    user_store_free(&st);
    snprintf(conf_path, conf_sz, "%s/tsgw.conf", dir);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "; tsgwd demo configuration, written by tsgwd --demo (edit freely)\n"
             "[gateway]\n"
             "listen = 127.0.0.1:%d\n"
             "certificate = cert.pem\n"
             "private-key = key.pem\n"
             "admin-socket = admin.sock\n"
             "\n[auth]\n"
             "users-file = users\n"
             "netbios-domain = TSGW\n"
             "\n[resource-group:Local]\n"
             "resources = 127.0.0.1; localhost; ::1\n"
             "\n[cap:Demo]\n"
             "user-groups = RDG Users\n"
             "\n[rap:Local]\n"
             "user-groups = RDG Users\n"
             "resource-group = Local\n"
             "ports = 3389\n",
             port);
    if (access(conf_path, R_OK) != 0 && write_file(conf_path, conf, 0644) < 0) {
        fprintf(stderr, "tsgwd: cannot write %s: %s\n", conf_path, strerror(errno));
        return -1;
    }
    fprintf(
        stderr,
        "\ntsgwd demo: gateway on 127.0.0.1:%d, account TSGW\\demo, password in %s/demo-password\n"
        "Try it (an RDP server on 127.0.0.1:3389 is needed behind the gateway):\n\n"
        "  xfreerdp /v:127.0.0.1:3389 /g:127.0.0.1:%d /gu:'TSGW\\demo' /gp:'%s' "
        "/gateway-usage-method:direct /cert:ignore /u:USER /p:PASSWORD\n\n",
        port, dir, port, pw);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"demo", required_argument, NULL, 'D'},
        {"port", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *demo = NULL;
    bool test = false;
    int port = 8443;
    int o;
    while ((o = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            log_set_level(LOG_DEBUG);
            break;
        case 'D':
            demo = optarg;
            break;
        case 'P':
            port = atoi(optarg);
            if (port <= 0 || port > 65535) {
                fprintf(stderr, "tsgwd: bad port '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char demo_conf[4096];
    if (demo) {
        if (demo_setup(demo, port, demo_conf, sizeof demo_conf) < 0)
            return 1;
        config = demo_conf;
    }
    if (!config || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (test) {
        struct gw_config cfg = {0};
        struct buf errors = BUF_INIT;
        int n = config_load(config, &cfg, &errors);
        if (n == 0) {
            /* the files it names must be usable too */
            struct tls_ctx t;
            char err[512];
            if (tls_ctx_init(&t, cfg.certificate, cfg.private_key, false, err, sizeof err) < 0) {
                buf_printf(&errors, "%s: %s\n", config, err);
                n++;
            } else {
                tls_ctx_free(&t);
            }
            struct user_store st = {0};
            if (user_store_load(cfg.users_file, 0, &st, err, sizeof err) < 0) {
                buf_printf(&errors, "%s\n", err);
                n++;
            }
            user_store_free(&st);
        }
        if (n) {
            fwrite(buf_data(&errors), 1, buf_len(&errors), stderr);
            fprintf(stderr, "%s: %d problem(s)\n", config, n);
        } else {
            printf("%s: configuration OK\n", config);
        }
        buf_free(&errors);
        config_free(&cfg);
        return n ? 1 : 0;
    }
    struct gateway *gw = calloc(1, sizeof *gw);
    if (!gw)
        return 1;
    char err[4096];
    if (gw_init(gw, config, err, sizeof err) < 0) {
        fprintf(stderr, "tsgwd: %s\n", err);
        gw_free(gw);
        free(gw);
        return 1;
    }
    log_info("tsgwd ready");
    ops_ready(gw);
    int rc = gw_run(gw);
    gw_free(gw);
    free(gw);
    ops_exit();
    return rc;
}
