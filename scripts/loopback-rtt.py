#!/usr/bin/env python3
"""Kernel CPU of one request/response round trip on loopback TCP, server side (issue 16).

A tunnel setup is a TLS handshake plus eight request/response round trips on the client's
socket (two HTTP requests, four MS-TSGU requests, the close) and a connect to the target. This
measures the floor of one round trip: a server that waits in epoll, reads a SIZE-byte request
and writes a SIZE-byte answer (what tsgwd does per step, minus its own work), against a client in
another process. Prints the server's kernel time (stime) per round trip; its user time is the
interpreter's and means nothing here. See docs/bench.md, "B3: where a setup's CPU goes".

    scripts/loopback-rtt.py [ROUND_TRIPS] [SIZE]      (defaults 20000 and 100)

Standard library only (any python3). Only 127.0.0.1; the client is a forked child, waited for.
"""
import os
import resource
import select
import socket
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 100

ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
port = ls.getsockname()[1]
pid = os.fork()
if pid == 0:
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * SIZE
    for _ in range(N):
        c.sendall(msg)
        got = 0
        while got < SIZE:
            d = c.recv(65536)
            if not d:
                os._exit(1)
            got += len(d)
    c.close()
    os._exit(0)
s, _ = ls.accept()
s.setblocking(False)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLIN)
answer = b"y" * SIZE
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.monotonic()
done = pending = 0
while done < N:
    ep.poll(5.0)
    try:
        d = s.recv(65536)
    except BlockingIOError:
        continue
    if not d:
        break
    pending += len(d)
    while pending >= SIZE:
        s.send(answer)
        pending -= SIZE
        done += 1
r1 = resource.getrusage(resource.RUSAGE_SELF)
t1 = time.monotonic()
os.waitpid(pid, 0)
if not done:
    sys.exit("loopback-rtt: no round trip completed")
print("%d round trips of %d bytes: server kernel CPU %.1f us each (epoll_wait + recv + send), "
      "%.1f us wall each; load average %s" % (done, SIZE, (r1.ru_stime - r0.ru_stime) / done * 1e6,
                                             (t1 - t0) / done * 1e6,
                                             " ".join(open("/proc/loadavg").read().split()[:3])))
