#include "net/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int loop_init(struct loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_free(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

int io_set(struct loop *l, struct io *io, uint32_t events)
{
    if (io->registered && io->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
        return -errno;
    io->registered = true;
    io->events = events;
    return 0;
}

void io_del(struct loop *l, struct io *io)
{
    if (io->registered)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    io->events = 0;
}

void io_forget(struct io *io)
{
    io->registered = false;
    io->events = 0;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(l->epfd, evs, 256, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        struct io *io = evs[i].data.ptr;
        io->cb(io, evs[i].events);
    }
    return n;
}

int fd_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}
