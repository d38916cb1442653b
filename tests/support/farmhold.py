#!/usr/bin/env python3
"""Holds several scripted RD Gateway tunnels open at once (for tests/e2e/test_farm.sh).

    farmhold.py --gw PORT --users FILE --target-port P SPEC...
    SPEC = LABEL,DOMAIN\\user,SOURCE-ADDRESS,ws|legacy

Prints "open LABEL TUNNEL:CHANNEL" when a tunnel's channel is open (after an echo round trip),
"failed LABEL why" when it could not be opened, and "closed LABEL why" when the gateway ends it
(CLOSE_CHANNEL or end of stream). Runs until killed; standard library only (plus rdgclient)."""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdgclient as R  # noqa: E402

LOCK = threading.Lock()


def say(*a):
    with LOCK:
        print(*a, flush=True)


def hold(a, label, user, source, mode):
    try:
        cred = R.Creds.from_users_file(a.users, user)
        t = R.tunnel_to(a.gw, cred, a.target_port, mode == 'legacy', source=source)
        msg = os.urandom(200)
        t.send_pkt(R.data(msg))
        if t.recv_data(len(msg)) != msg:
            say('failed', label, 'echo mismatch')
            return
        say('open', label, '%s:%s' % (getattr(t, 'tunnel_id', '?'), getattr(t, 'channel_id', '?')))
    except (R.Closed, R.ProtocolError, OSError) as e:
        say('failed', label, repr(e))
        return
    t.settimeout(None)  # held until the gateway ends it
    while True:
        try:
            ptype, _ = t.recv_pkt(None)
        except (R.Closed, R.ProtocolError, OSError) as e:
            say('closed', label, 'eof', repr(e)[:60])
            return
        if ptype == R.CLOSE_CHANNEL:
            say('closed', label, 'CLOSE_CHANNEL')
            try:
                t.send_pkt(R.close_channel_response(0))
            except OSError:
                pass
            return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--gw', type=int, required=True)
    ap.add_argument('--users', required=True)
    ap.add_argument('--target-port', type=int, required=True)
    ap.add_argument('spec', nargs='+')
    a = ap.parse_args()
    for s in a.spec:
        label, user, source, mode = s.split(',')
        threading.Thread(target=hold, args=(a, label, user, source, mode), daemon=True).start()
        time.sleep(0.05)
    while True:
        time.sleep(3600)


if __name__ == '__main__':
    main()
