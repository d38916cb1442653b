#include "daemon/dirpool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/winbind_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "net/loop.h"

#define MAX_WORKERS 32

static pthread_t workers[MAX_WORKERS];
static unsigned nworkers;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct dir_job *todo_head, *todo_tail, *done_list;
static bool stopping;
static int efd = -1;
static struct io eio;
/* loop thread only: every job submitted and not yet back from the workers */
static struct dir_job *pending;
static unsigned npending;

static void run_job(struct winbind_ctx *w, struct dir_job *j)
{
    switch (j->kind) {
    case DIR_JOB_NTLM:
        winbind_ntlm_logon(w, &j->ntlm, &j->res);
        break;
    case DIR_JOB_PLAIN:
        winbind_plain_logon(w, j->plain.domain, j->plain.user, j->plain.password, &j->res);
        OPENSSL_cleanse(j->plain.password, sizeof j->plain.password);
        break;
    case DIR_JOB_PAC:
        winbind_pac_logon(w, j->pac, j->pac_len, &j->res);
        break;
    case DIR_JOB_INTERFACE:
        memset(&j->res, 0, sizeof j->res);
        j->res.rc = winbind_interface(w, j->nb_name, sizeof j->nb_name, j->nb_domain,
                                      sizeof j->nb_domain, j->dns_domain, sizeof j->dns_domain,
                                      j->res.detail, sizeof j->res.detail) == 0
                        ? DIR_OK
                        : DIR_UNAVAILABLE;
        break;
    case DIR_JOB_CALL:
        j->run(w, j);
        break;
    default:
        j->res.rc = DIR_ERROR;
    }
    /* libwbclient says WBC_ERR_WINBIND_NOT_AVAILABLE when the privileged pipe (NTLM, PAC) is
     * closed to us: say what is wrong instead */
    if ((j->kind == DIR_JOB_NTLM || j->kind == DIR_JOB_PAC || j->priv_pipe) &&
        j->res.rc == DIR_UNAVAILABLE && !j->res.nt_status &&
        winbind_priv_check(j->priv_why, sizeof j->priv_why) < 0) {
        /* the event's reason is short; the log line says it all (the fix too) */
        str_copy(j->res.detail, "tsgwd's user is not in group " WINBIND_PRIV_GROUP,
                 sizeof j->res.detail);
        j->priv_denied = true;
    }
}

void dirpool_run_now(struct dir_job *job)
{
    struct winbind_ctx *w = winbind_ctx_new();
    if (!w) {
        job->res.rc = DIR_ERROR;
        return;
    }
    run_job(w, job);
    winbind_ctx_free(w);
}

static void *work(void *arg)
{
    (void)arg;
    struct winbind_ctx *w = winbind_ctx_new();
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!todo_head && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (stopping)
            break;
        struct dir_job *j = todo_head;
        todo_head = j->next;
        if (!todo_head)
            todo_tail = NULL;
        bool skip = j->abandoned || now_ms() >= j->deadline_ms;
        pthread_mutex_unlock(&mu);
        if (skip)
            j->res.rc = DIR_TIMEOUT; /* its owner gave up (or will at the next sweep) */
        else if (!w && j->kind != DIR_JOB_CALL)
            j->res.rc = DIR_ERROR;
        else
            run_job(w, j);
        pthread_mutex_lock(&mu);
        j->next = done_list;
        done_list = j;
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) < 0)
            log_warn("directory: cannot signal the loop");
    }
    pthread_mutex_unlock(&mu);
    winbind_ctx_free(w);
    return NULL;
}

static void job_free(struct dir_job *j)
{
    free(j->pac);
    if (j->data && j->data_free)
        j->data_free(j->data);
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
}

static void unlink_pending(struct dir_job *j)
{
    if (j->pprev)
        j->pprev->pnext = j->pnext;
    else
        pending = j->pnext;
    if (j->pnext)
        j->pnext->pprev = j->pprev;
    j->pnext = j->pprev = NULL;
    npending--;
}

static void on_done(struct io *io, uint32_t events)
{
    (void)events;
    uint64_t v;
    if (read(io->fd, &v, sizeof v) < 0)
        return;
    pthread_mutex_lock(&mu);
    struct dir_job *list = done_list;
    done_list = NULL;
    pthread_mutex_unlock(&mu);
    while (list) {
        struct dir_job *j = list;
        list = j->next;
        unlink_pending(j);
        if (j->priv_denied)
            log_warn("directory: %s", j->priv_why);
        if (!j->delivered && j->done) {
            j->delivered = true;
            j->done(j, &j->res);
        }
        job_free(j);
    }
}

int dirpool_start(struct loop *loop, unsigned n)
{
    if (nworkers)
        return 0;
    if (n == 0)
        n = 1;
    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -1;
    eio.fd = efd;
    eio.cb = on_done;
    io_set(loop, &eio, EPOLLIN);
    stopping = false;
    /* the workers take no signals (SIGTERM, SIGHUP belong to the loop's signalfd, whatever the
     * order in which the daemon set things up) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&workers[i], NULL, work, NULL) != 0)
            break;
        nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!nworkers) {
        io_del(loop, &eio);
        close(efd);
        efd = -1;
        return -1;
    }
    log_info("directory: %u worker thread(s)", nworkers);
    return 0;
}

bool dirpool_running(void)
{
    return nworkers > 0;
}

void dirpool_stop(struct loop *loop)
{
    if (!nworkers)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (unsigned i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    nworkers = 0;
    io_del(loop, &eio);
    close(efd);
    efd = -1;
    /* every job is on the pending list (queued, done, or never picked up) */
    while (pending) {
        struct dir_job *j = pending;
        unlink_pending(j);
        job_free(j);
    }
    todo_head = todo_tail = done_list = NULL;
}

struct dir_job *dirpool_job_new(int kind)
{
    struct dir_job *j = calloc(1, sizeof *j);
    if (j)
        j->kind = kind;
    return j;
}

void dirpool_submit(struct dir_job *job, uint64_t deadline_ms)
{
    job->deadline_ms = deadline_ms;
    job->pnext = pending;
    job->pprev = NULL;
    if (pending)
        pending->pprev = job;
    pending = job;
    npending++;
    pthread_mutex_lock(&mu);
    job->next = NULL;
    if (todo_tail)
        todo_tail->next = job;
    else
        todo_head = job;
    todo_tail = job;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void dirpool_cancel(struct dir_job *job)
{
    job->delivered = true; /* never call the owner */
    job->owner = NULL;
    pthread_mutex_lock(&mu);
    job->abandoned = true;
    pthread_mutex_unlock(&mu);
}

void dirpool_tick(uint64_t now)
{
    /* collect first: an owner's callback may cancel or submit other jobs */
    struct dir_job *expired[64];
    unsigned n = 0;
    for (struct dir_job *j = pending; j && n < ARRAY_SIZE(expired); j = j->pnext)
        if (!j->delivered && now >= j->deadline_ms)
            expired[n++] = j;
    for (unsigned i = 0; i < n; i++) {
        struct dir_job *j = expired[i];
        if (j->delivered)
            continue;
        pthread_mutex_lock(&mu);
        j->abandoned = true;
        pthread_mutex_unlock(&mu);
        static struct dir_result timeout;
        memset(&timeout, 0, sizeof timeout);
        timeout.rc = DIR_TIMEOUT;
        j->delivered = true;
        if (j->done)
            j->done(j, &timeout);
        /* freed when the worker hands it back */
    }
}

unsigned dirpool_pending(void)
{
    return npending;
}
