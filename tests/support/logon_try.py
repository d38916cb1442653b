#!/usr/bin/python3
"""logon_try.py GWPORT STEP...: NTLM logons to the gateway from 127.0.0.1, one connection each.
A STEP is ACCOUNT:PASSWORD (prints "ACCOUNT STATUS", STATUS the HTTP status of the last answer:
101 = logged in, 401 = refused) or sleep:SECONDS."""
import base64
import os
import sys
import time

from rdgclient import Conn, Creds, ProtocolError, http_ntlm, new_conn_id

port = int(sys.argv[1])
for step in sys.argv[2:]:
    what, arg = step.rsplit(':', 1)
    if what == 'sleep':
        time.sleep(float(arg))
        continue
    c = Conn(port)
    key = base64.b64encode(os.urandom(16)).decode()
    try:
        r, _, _, _ = http_ntlm(c, 'RDG_OUT_DATA', Creds.from_password(what, arg), new_conn_id(),
                               ws_key=key)
        status = r.status
    except (ProtocolError, OSError) as e:
        # refused at the first leg (a blocked address gets no challenge)
        status = 401 if ' 401 ' in ' %s ' % e else 'error(%s)' % e
    c.close()
    print(what, status, flush=True)
