#include "daemon/resolver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/gateway.h"

static pthread_t worker;
static bool running;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct resolve_job *todo, *done;
static bool stopping;
static int efd = -1;
static struct io eio;
static struct gateway *g_gw;

void resolver_run_now(struct resolve_job *job)
{
    for (unsigned i = 0; i < job->n; i++) {
        job->res[i] = NULL;
        job->err[i] = 0;
        if (job->skip[i])
            continue;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        char portstr[8];
        snprintf(portstr, sizeof portstr, "%u", job->port[i]);
        job->err[i] = getaddrinfo(job->host[i], portstr, &hints, &job->res[i]);
    }
}

static void *work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!todo && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (stopping)
            break;
        struct resolve_job *j = todo;
        todo = j->next;
        pthread_mutex_unlock(&mu);
        resolver_run_now(j);
        pthread_mutex_lock(&mu);
        j->next = done;
        done = j;
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) < 0)
            log_warn("resolver: cannot signal the loop");
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void on_done(struct io *io, uint32_t events)
{
    uint64_t v;
    if (read(io->fd, &v, sizeof v) < 0)
        return;
    pthread_mutex_lock(&mu);
    struct resolve_job *list = done;
    done = NULL;
    pthread_mutex_unlock(&mu);
    while (list) {
        struct resolve_job *j = list;
        list = j->next;
        j->next = NULL;
        tunnel_on_resolved(g_gw, j); /* takes ownership */
    }
}

int resolver_init(struct gateway *gw)
{
    g_gw = gw;
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -1;
    eio.fd = efd;
    eio.cb = on_done;
    io_set(&gw->loop, &eio, EPOLLIN);
    stopping = false;
    if (pthread_create(&worker, NULL, work, NULL) != 0)
        return -1;
    running = true;
    return 0;
}

struct resolve_job *resolve_job_new(void)
{
    /* Not calloc: the host names are 13.5 KB, each written before it is used (an empty
     * string until then); every other field starts zeroed. */
    struct resolve_job *job = malloc(sizeof *job);
    if (!job)
        return NULL;
    job->tunnel_id = 0;
    job->n = 0;
    for (unsigned i = 0; i < RESOLVE_MAX; i++)
        job->host[i][0] = '\0';
    memset(job->port, 0, sizeof job->port);
    memset(job->skip, 0, sizeof job->skip);
    memset(job->res, 0, sizeof job->res);
    memset(job->err, 0, sizeof job->err);
    job->next = NULL;
    return job;
}

void resolve_job_free(struct resolve_job *job)
{
    if (!job)
        return;
    for (unsigned i = 0; i < job->n; i++)
        if (job->res[i])
            freeaddrinfo(job->res[i]);
    free(job);
}

void resolver_submit(struct gateway *gw, struct resolve_job *job)
{
    (void)gw;
    pthread_mutex_lock(&mu);
    /* FIFO: append */
    struct resolve_job **pp = &todo;
    while (*pp)
        pp = &(*pp)->next;
    job->next = NULL;
    *pp = job;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void resolver_stop(struct gateway *gw)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    /* a getaddrinfo in progress finishes first (bounded by the resolver's own timeouts) */
    pthread_join(worker, NULL);
    running = false;
    io_del(&gw->loop, &eio);
    close(efd);
    efd = -1;
    while (todo) {
        struct resolve_job *j = todo;
        todo = j->next;
        resolve_job_free(j);
    }
    while (done) {
        struct resolve_job *j = done;
        done = j->next;
        resolve_job_free(j);
    }
}
