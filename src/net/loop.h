/* Minimal epoll event loop: level-triggered fd watchers with a callback each. */
#ifndef TSGW_NET_LOOP_H
#define TSGW_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct io;
typedef void (*io_cb)(struct io *io, uint32_t events);

struct io {
    int fd;
    io_cb cb;
    uint32_t events; /* current interest (EPOLLIN/EPOLLOUT) */
    bool registered;
};

struct loop {
    int epfd;
};

int loop_init(struct loop *l);
void loop_free(struct loop *l);

/* Sets the interest of io to events (0 keeps it registered with no interest). Adds it to the
 * loop on first use. 0 or negative errno. Makes no syscall when nothing changes. */
int io_set(struct loop *l, struct io *io, uint32_t events);

/* Removes io from the loop (does not close the fd). */
void io_del(struct loop *l, struct io *io);

/* Forgets io's registration without a system call, right before its fd is closed: closing a
 * descriptor removes it from epoll (tsgwd never dup()s or passes on its sockets, and forks its
 * key process before it opens any). Saves the EPOLL_CTL_DEL of every closed connection. */
void io_forget(struct io *io);

/* Waits up to timeout_ms (-1 = forever) and dispatches ready callbacks. Returns the number of
 * events dispatched or a negative errno (EINTR is reported as 0). */
int loop_run_once(struct loop *l, int timeout_ms);

/* Sets O_NONBLOCK and FD_CLOEXEC. 0 or -errno. */
int fd_set_nonblock(int fd);

#endif
