/* Directory calls off the event loop: a small pool of worker threads, each with its own winbind
 * connection, runs the blocking libwbclient calls; results come back to the loop through an
 * eventfd (the resolver's pattern). Every job has a deadline: when it passes, the job's owner
 * gets DIR_TIMEOUT at the next sweep and the worker's late answer is dropped, so a slow or dead
 * domain controller costs its own logons a quick refusal and nothing else. */
#ifndef TSGW_DAEMON_DIRPOOL_H
#define TSGW_DAEMON_DIRPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/winbind.h"

struct loop;

enum dir_job_kind { DIR_JOB_NTLM, DIR_JOB_PAC, DIR_JOB_INTERFACE, DIR_JOB_CALL, DIR_JOB_PLAIN };

/* DIR_JOB_PLAIN: a typed password (wiped with the job). */
struct dir_plain_request {
    char domain[NTLM_NAME_MAX];
    char user[NTLM_NAME_MAX];
    char password[512];
};

struct dir_job {
    int kind;
    struct dir_ntlm_request ntlm;   /* DIR_JOB_NTLM */
    struct dir_plain_request plain; /* DIR_JOB_PLAIN */
    uint8_t *pac;                   /* DIR_JOB_PAC (freed with the job) */
    size_t pac_len;
    /* DIR_JOB_INTERFACE */
    char nb_name[64], nb_domain[64], dns_domain[128];
    /* DIR_JOB_CALL: run(w, job) on a worker (w may be NULL when winbind is unusable); data is
     * the caller's, freed with the job by data_free (worker thread or loop) */
    void (*run)(struct winbind_ctx *w, struct dir_job *job);
    void *data;
    void (*data_free)(void *data);
    bool priv_pipe; /* DIR_JOB_CALL: run() used winbindd's privileged pipe (a Kerberos PAC) */
    struct dir_result res;
    uint64_t deadline_ms;
    /* loop thread: called once with the result (or DIR_TIMEOUT, while the worker may still
     * be running: read res, never job->res); the job is freed after it returns. Not called
     * after dirpool_cancel(). */
    void (*done)(struct dir_job *job, const struct dir_result *res);
    void *owner;
    void (*then)(void); /* the owner's continuation (cast back by the owner) */
    /* pool internals */
    bool abandoned; /* under the pool's mutex */
    bool delivered;
    bool priv_denied; /* failed because winbindd's privileged pipe is closed to tsgwd */
    char priv_why[256];
    struct dir_job *next, *pnext, *pprev;
};

/* Starts nworkers threads. 0 or -1. */
int dirpool_start(struct loop *loop, unsigned nworkers);
bool dirpool_running(void);
/* Stops the workers (a call in progress finishes first, bounded by winbind's own timeouts) and
 * frees every job without calling its owner. */
void dirpool_stop(struct loop *loop);

struct dir_job *dirpool_job_new(int kind);
/* Queues job (the pool owns it from now on). */
void dirpool_submit(struct dir_job *job, uint64_t deadline_ms);
/* The owner no longer wants the answer (its connection closed). */
void dirpool_cancel(struct dir_job *job);
/* Deadlines: called from the periodic sweep. */
void dirpool_tick(uint64_t now_ms);
/* Jobs queued or running (for tests and the status page). */
unsigned dirpool_pending(void);

/* Runs one job in the calling thread (start-up: the member's names before the loop runs). */
void dirpool_run_now(struct dir_job *job);

#endif
