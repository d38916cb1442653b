#!/usr/bin/python3
"""v6tunnel.py GWPORT TARGETPORT USERSFILE: one WebSocket tunnel through the gateway's [::1]
listener (NTLM as CONTOSO\\alice) to 127.0.0.1:TARGETPORT; exit 0 when the channel opens."""
import base64
import os
import sys

from rdgclient import Conn, Creds, WsTunnel, http_ntlm, new_conn_id, setup

gw, tport, users = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = Conn(gw, host='::1')
key = base64.b64encode(os.urandom(16)).decode()
r, _, _, _ = http_ntlm(c, 'RDG_OUT_DATA', Creds.from_users_file(users, r'CONTOSO\alice'),
                       new_conn_id(), ws_key=key)
if r.status != 101:
    sys.exit('upgrade: %d' % r.status)
t = WsTunnel(c)
setup(t, '127.0.0.1', tport)
print('channel open over [::1]')
