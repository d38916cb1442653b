#!/usr/bin/python3
"""resname.py GWPORT TARGETPORT USERSFILE: CHANNEL_CREATE with resource names that carry a port
suffix, each on a fresh WebSocket tunnel (NTLM as CONTOSO\\alice). Prints one line per case:
"CASE 0xSTATUS" (the CHANNEL_RESPONSE status; 0x00000000 = channel open)."""
import sys

from rdgclient import (CHANNEL_RESPONSE, Creds, ProtocolError, channel_create,
                       handshake_request, open_ws, status_of, tunnel_auth, tunnel_create)

gw, tport, users = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
creds = Creds.from_users_file(users, r'CONTOSO\alice')
cases = [
    ('plain', ['127.0.0.1'], (), tport),
    ('suffix-same-port', ['127.0.0.1:%d' % tport], (), tport),
    ('suffix-other-port', ['127.0.0.1:%d' % tport], (), 1),
    ('v6-bracket-suffix', ['[::1]:%d' % tport], (), tport),
    ('v6-literal', ['::1'], (), tport),
    ('suffix-then-alternate', ['127.0.0.1:%d' % tport], ['127.0.0.1'], tport),
]
for name, res, alt, port in cases:
    t = open_ws(gw, creds)
    for p in (handshake_request(), tunnel_create(0x0D), tunnel_auth('vm')):
        t.send_pkt(p)
        t.recv_pkt(15.0)
    t.send_pkt(channel_create(res, port, alt))
    try:
        rt, body = t.recv_pkt(15.0)
        st = status_of(rt, body) if rt == CHANNEL_RESPONSE else -1
    except ProtocolError:
        st = -2
    print(name, '0x%08x' % (st & 0xffffffff), flush=True)
    t.close()
