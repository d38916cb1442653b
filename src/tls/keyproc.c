/* Private-key isolation: the RSA private key lives only in a small child process that signs on
 * request over a socketpair; the daemon that parses network input holds a public-only key whose
 * RSA_METHOD forwards the private operations (the way relayd's ca process and h2o's
 * neverbleed keep keys away from the network code).
 *
 * Wire format, both directions, on a SOCK_SEQPACKET pair (one message = one request):
 *   request:  u32 op (1 = private encrypt, 2 = private decrypt), i32 padding, then the input
 *   response: i32 result length (-1 = failure), then the output */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* RSA_METHOD is the legacy API that makes this possible */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tls/keyproc.h"

#define KP_MAX 1024 /* RSA up to 8192 bits */

static int kp_fd = -1;
static pid_t kp_pid = -1;
static RSA_METHOD *kp_method;

static void child_loop(int fd, RSA *rsa)
{
    uint8_t in[8 + KP_MAX], out[4 + KP_MAX];
    for (;;) {
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return; /* the daemon is gone */
        }
        int32_t r = -1;
        if (n >= 8) {
            uint32_t op;
            int32_t padding;
            memcpy(&op, in, 4);
            memcpy(&padding, in + 4, 4);
            int flen = (int)(n - 8);
            if (RSA_size(rsa) <= KP_MAX) {
                if (op == 1)
                    r = RSA_private_encrypt(flen, in + 8, out + 4, rsa, padding);
                else if (op == 2)
                    r = RSA_private_decrypt(flen, in + 8, out + 4, rsa, padding);
            }
        }
        memcpy(out, &r, 4);
        size_t len = 4 + (r > 0 ? (size_t)r : 0);
        if (send(fd, out, len, MSG_NOSIGNAL) < 0)
            return;
        OPENSSL_cleanse(out, sizeof out);
    }
}

static int remote_op(uint32_t op, int flen, const unsigned char *from, unsigned char *to,
                     int padding)
{
    uint8_t req[8 + KP_MAX], resp[4 + KP_MAX];
    if (flen < 0 || flen > KP_MAX || kp_fd < 0)
        return -1;
    memcpy(req, &op, 4);
    memcpy(req + 4, &padding, 4);
    memcpy(req + 8, from, (size_t)flen);
    if (send(kp_fd, req, 8 + (size_t)flen, MSG_NOSIGNAL) < 0)
        return -1;
    ssize_t n;
    do
        n = recv(kp_fd, resp, sizeof resp, 0);
    while (n < 0 && errno == EINTR);
    if (n < 4)
        return -1;
    int32_t r;
    memcpy(&r, resp, 4);
    if (r < 0 || (size_t)r != (size_t)n - 4)
        return -1;
    memcpy(to, resp + 4, (size_t)r);
    return r;
}

static int proxy_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                          int padding)
{
    return remote_op(1, flen, from, to, padding);
}

static int proxy_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                          int padding)
{
    return remote_op(2, flen, from, to, padding);
}

EVP_PKEY *keyproc_isolate(EVP_PKEY *key, const char *why_not_out[1])
{
    *why_not_out = NULL;
    if (kp_fd >= 0) {
        *why_not_out = "a key process already runs";
        return NULL;
    }
    const RSA *real = EVP_PKEY_get0_RSA(key);
    if (!real) {
        *why_not_out = "only RSA keys are isolated";
        return NULL;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        *why_not_out = "socketpair failed";
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        *why_not_out = "fork failed";
        return NULL;
    }
    if (pid == 0) {
        /* the key process: nothing but the socket, gone when the daemon goes */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        prctl(PR_SET_NAME, "tsgwd-key");
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(sv[0]);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != sv[1])
                close(fd);
        child_loop(sv[1], (RSA *)real);
        _exit(0);
    }
    close(sv[1]);
    RSA *pub = RSAPublicKey_dup(real);
    if (!kp_method) {
        kp_method = RSA_meth_dup(RSA_get_default_method());
        RSA_meth_set1_name(kp_method, "tsgw key process");
        RSA_meth_set_priv_enc(kp_method, proxy_priv_enc);
        RSA_meth_set_priv_dec(kp_method, proxy_priv_dec);
    }
    EVP_PKEY *proxy = EVP_PKEY_new();
    if (!pub || !kp_method || !proxy || RSA_set_method(pub, kp_method) != 1 ||
        EVP_PKEY_assign_RSA(proxy, pub) != 1) {
        RSA_free(pub);
        EVP_PKEY_free(proxy);
        close(sv[0]);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        *why_not_out = "cannot build the proxy key";
        return NULL;
    }
    kp_fd = sv[0];
    kp_pid = pid;
    return proxy;
}

void keyproc_stop(void)
{
    if (kp_fd >= 0) {
        close(kp_fd); /* the child sees EOF and exits */
        kp_fd = -1;
    }
    if (kp_pid > 0) {
        waitpid(kp_pid, NULL, 0);
        kp_pid = -1;
    }
    if (kp_method) {
        RSA_meth_free(kp_method);
        kp_method = NULL;
    }
}

pid_t keyproc_pid(void)
{
    return kp_pid;
}
