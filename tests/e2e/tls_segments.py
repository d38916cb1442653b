#!/usr/bin/env python3
"""Counts the TCP segments with data that tsgwd sends between the client's TLS 1.3 Finished and
the complete answer to the first request, when the request travels with the Finished (as
FreeRDP and tools/tsgw-load send it). tsgwd coalesces the setup's output (docs/internals.md,
"Output coalescing"): the two session tickets and the 401 leave in one write(), one segment on
loopback (TCP_NODELAY; a segment is never shared between two writes there). Prints one line:
    segments=N tickets=yes|no status=NNN
Usage: tls_segments.py HOST PORT. Any Python 3 with the ssl module (MemoryBIO)."""
import socket
import ssl
import struct
import sys
import time

TCP_INFO_DATA_SEGS_IN = 152  # offsetof(struct tcp_info, tcpi_data_segs_in), Linux >= 4.6


def data_segs_in(sock):
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return struct.unpack_from("I", info, TCP_INFO_DATA_SEGS_IN)[0]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_side=False)
    deadline = time.monotonic() + 10
    while True:  # handshake; its last flight (Finished) stays in `out` for now
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        if out.pending:
            sock.sendall(out.read())
        data = sock.recv(65536)
        if not data or time.monotonic() > deadline:
            raise SystemExit("handshake did not complete")
        inc.write(data)
    before = data_segs_in(sock)
    tls.write(b"RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: %s\r\n"
              b"RDG-Connection-Id: {5b7c6c2e-0000-4000-8000-000000000001}\r\n\r\n"
              % host.encode())
    sock.sendall(out.read())  # Finished and the request in one segment
    got = b""
    while b"\r\n\r\n" not in got and time.monotonic() < deadline:
        try:
            got += tls.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        data = sock.recv(65536)
        if not data:
            break
        inc.write(data)
    after = data_segs_in(sock)
    status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/1.1 ") else "none"
    sess = tls.session
    print("segments=%d tickets=%s status=%s" % (after - before,
                                               "yes" if sess is not None and sess.has_ticket else "no",
                                               status))
    sock.close()


if __name__ == "__main__":
    main()
