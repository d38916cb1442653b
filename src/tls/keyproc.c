/* Private-key isolation: the RSA private key lives only in a small child process that signs on
 * request over a socketpair; the daemon that parses network input holds a public-only key whose
 * RSA_METHOD forwards the private operations (the way relayd's ca process and h2o's
 * neverbleed keep keys away from the network code).
 *
 * Asynchronous signing: a handshake runs inside an OpenSSL ASYNC job (SSL_MODE_ASYNC, set by
 * tls.c until the handshake ends). The forwarded operation sends its request and pauses the
 * job; SSL_do_handshake returns "want async" and the event loop serves other connections. The
 * answers come back in request order (the key process is sequential), so the requests in flight
 * form a FIFO; keyproc_on_readable() hands each answer to its request and wakes the handshake
 * through the callback, which resumes the job. Outside a job (or with too many requests in
 * flight) an operation waits for its answer as before.
 *
 * Wire format, both directions, on a SOCK_SEQPACKET pair (one message = one request):
 *   request:  u32 op (1 = private encrypt, 2 = private decrypt), i32 padding, then the input
 *   response: i32 result length (-1 = failure), then the output */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* RSA_METHOD is the legacy API that makes this possible */

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/async.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tls/keyproc.h"

#define KP_MAX 1024 /* RSA up to 8192 bits */

#define KP_MAX_PENDING 64 /* paused handshakes at most; beyond, operations block */

static int kp_fd = -1;
static pid_t kp_pid = -1;
static RSA_METHOD *kp_method;

/* One request in flight. Owned by the FIFO until answered; then by the job that asked (or freed
 * right away when that job gave up). */
struct kp_req {
    struct kp_req *next;
    SSL *ssl;       /* the handshake that asked (NULL: a blocking caller) */
    bool answered;  /* result and out are set */
    bool cancelled; /* keyproc_cancel: the job must give up */
    bool abandoned; /* the job gave up: free on answer */
    int32_t result;
    uint8_t out[KP_MAX];
};

static struct kp_req *fifo_head, *fifo_tail;
static unsigned fifo_n;
static SSL *kp_current;           /* the handshake step running (tls.c) */
static void (*kp_wake)(SSL *ssl); /* an answer for ssl arrived */
static bool kp_dead;              /* the key process is gone */
static unsigned kp_paused; /* jobs paused in remote_op (waiting, or answered and not resumed) */

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

/* The oldest request in flight gets this answer (n < 0: the key process is gone). Returns it. */
static struct kp_req *answer_head(const uint8_t *resp, ssize_t n)
{
    struct kp_req *q = fifo_head;
    if (!q)
        return NULL;
    fifo_head = q->next;
    if (!fifo_head)
        fifo_tail = NULL;
    fifo_n--;
    q->next = NULL;
    q->answered = true;
    q->result = -1;
    if (n >= 4) {
        int32_t r;
        memcpy(&r, resp, 4);
        if (r >= 0 && (size_t)r == (size_t)n - 4 && r <= KP_MAX) {
            memcpy(q->out, resp + 4, (size_t)r);
            q->result = r;
        }
    }
    OPENSSL_cleanse((void *)resp, n > 0 ? (size_t)n : 0);
    if (q->abandoned) {
        OPENSSL_cleanse(q->out, sizeof q->out);
        free(q);
        return NULL;
    }
    if (q->ssl && kp_wake)
        kp_wake(q->ssl);
    return q;
}

/* Reads one answer (blocking or not). 1: one dispatched, 0: none waiting, -1: process gone. */
static int read_answer(bool block)
{
    uint8_t resp[4 + KP_MAX];
    ssize_t n;
    do
        n = recv(kp_fd, resp, sizeof resp, block ? 0 : MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        /* the key process is gone: every request in flight fails */
        kp_dead = true;
        while (fifo_head)
            answer_head(NULL, -1);
        return -1;
    }
    answer_head(resp, n);
    return 1;
}

static struct kp_req *send_request(uint32_t op, int flen, const unsigned char *from, int padding,
                                   SSL *ssl)
{
    uint8_t req[8 + KP_MAX];
    if (flen < 0 || flen > KP_MAX || kp_fd < 0 || kp_dead)
        return NULL;
    struct kp_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ssl = ssl;
    memcpy(req, &op, 4);
    memcpy(req + 4, &padding, 4);
    memcpy(req + 8, from, (size_t)flen);
    ssize_t n;
    do
        n = send(kp_fd, req, 8 + (size_t)flen, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    OPENSSL_cleanse(req, sizeof req);
    if (n < 0) {
        free(q);
        return NULL;
    }
    if (fifo_tail)
        fifo_tail->next = q;
    else
        fifo_head = q;
    fifo_tail = q;
    fifo_n++;
    return q;
}

static int take_result(struct kp_req *q, unsigned char *to)
{
    int r = q->result;
    if (r > 0)
        memcpy(to, q->out, (size_t)r);
    OPENSSL_cleanse(q->out, sizeof q->out);
    free(q);
    return r;
}

static int remote_op(uint32_t op, int flen, const unsigned char *from, unsigned char *to,
                     int padding)
{
    ASYNC_JOB *job = ASYNC_get_current_job();
    SSL *ssl = job && kp_current && fifo_n < KP_MAX_PENDING ? kp_current : NULL;
    struct kp_req *q = send_request(op, flen, from, padding, ssl);
    if (!q)
        return -1;
    if (ssl) {
        /* pause the handshake until keyproc_on_readable() has the answer */
        kp_paused++;
        while (!q->answered && !q->cancelled)
            if (ASYNC_pause_job() != 1)
                break;
        kp_paused--;
        if (!q->answered) {
            q->abandoned = true; /* freed when its answer arrives */
            return -1;
        }
        return take_result(q, to);
    }
    /* blocking: answers for earlier requests go to their handshakes on the way */
    while (!q->answered)
        if (read_answer(true) < 0 && !q->answered)
            break;
    if (!q->answered)
        return -1; /* cannot happen: the process's end answers every request */
    return take_result(q, to);
}

int keyproc_fd(void)
{
    return kp_dead ? -1 : kp_fd;
}

void keyproc_set_wake(void (*wake)(SSL *ssl))
{
    kp_wake = wake;
}

void keyproc_set_current(SSL *ssl)
{
    kp_current = ssl;
}

int keyproc_on_readable(void)
{
    for (int i = 0; i < 256; i++) {
        int r = read_answer(false);
        if (r <= 0)
            return r;
    }
    return 1;
}

void keyproc_cancel(SSL *ssl)
{
    for (struct kp_req *q = fifo_head; q; q = q->next)
        if (q->ssl == ssl && !q->answered)
            q->cancelled = true;
}

void keyproc_trim(void)
{
    /* OpenSSL keeps every job's stack (32 KiB) in its pool for reuse: after a burst of
     * handshakes, give them back once none is paused (never from inside a job) */
    if (!kp_paused && !fifo_n && !ASYNC_get_current_job())
        ASYNC_cleanup_thread();
}

unsigned keyproc_pending(void)
{
    return fifo_n;
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
    /* requests still in flight belong to nobody now (their handshakes were freed) */
    while (fifo_head) {
        struct kp_req *q = fifo_head;
        fifo_head = q->next;
        free(q);
    }
    fifo_tail = NULL;
    fifo_n = 0;
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
