#!/usr/bin/env bash
# Issue 10: what Windows clients (mstsc, the Microsoft Remote Desktop apps) send, accepted the
# first time. The channel life cycle (CLOSE_CHANNEL keeps the tunnel; a new CHANNEL_CREATE gets a
# new channel), and the registry / DisconnectUser around it; scripted with
# tests/support/rdgclient.py against tsgwd and an echo target.
. "$(dirname "$0")/lib.sh"

SUPPORT=$(cd "$(dirname "$0")/../support" && pwd)
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
GPORT=$(free_port)
ECHO=$(free_port)   # echo target
OTHER=$(free_port)  # a port no RAP allows
SOCK="$WORK/admin.sock"
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
netbios-domain = CONTOSO
gateway-names = 127.0.0.1; localhost
[limits]
no-channel-timeout = 2s
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1
ports = $ECHO
CONF

export TSGW_GW=$GPORT TSGW_ECHO=$ECHO TSGW_OTHER=$OTHER TSGW_USERS="$WORK/users" \
    TSGW_CTL="$TSGWCTL" TSGW_SOCK="$SOCK" TSGW_LOG="$WORK/gw.log" PYTHONPATH="$SUPPORT" \
    PYTHONDONTWRITEBYTECODE=1

# py NAME: runs the Python scenario on stdin (see test_hardening.sh)
py() {
    local name=$1
    { printf 'from rdgclient import *\nimport rdgclient as R\nE = Env()\n'; cat; } |
        timeout "${PY_TIMEOUT:-60}" "$PYTHON" - >"$WORK/$name.out" 2>&1
    local rc=$?
    grep '^# ' "$WORK/$name.out"
    [ $rc -eq 0 ] || grep -v '^ok: ' "$WORK/$name.out" | tail -n 5 | sed 's/^/#   /'
    return $rc
}

$PYTHON "$SUPPORT/rdgclient.py" echo --port "$ECHO" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$WORK/echo.log" "listening" || { echo "Bail out! echo target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
export TSGW_PID=$GW_PID

# ---------------------------------------------------------------- channel life cycle
for mode in websocket legacy; do
    leg=False
    [ $mode = legacy ] && leg=True
    ok "$mode: CLOSE_CHANNEL -> 12-byte response, 303, tunnel stays; a new channel 2 relays" \
        py cycle_$mode <<EOF
import re, time
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=$leg)
tid = t.tunnel_id
check(t.channel_id == 1, 'first channel id 1 (got %s)' % t.channel_id)
check(echo_roundtrip(t, 5000), 'DATA round trip on channel 1')
check([c['ConnectionKey'] for c in connections(E)] == ['%d:1' % tid], 'registry lists %d:1' % tid)
t.send_pkt(close_channel(0))
rt, body = t.recv_pkt(5)
check(rt == CLOSE_CHANNEL_RESPONSE and len(body) == 4 and status_of(rt, body) == 0,
      'CLOSE_CHANNEL_RESPONSE, 12 bytes, status 0')
ok_, _ = wait_connections(E, 0, 5)
check(ok_, 'the channel left the registry')
log = open(E.log).read()
check(re.search(r'EVENT 303 .*TunnelId="%d" .*ChannelId="1" ' % tid, log) is not None,
      'event 303 for channel 1 written while the tunnel is open')
t.send_pkt(keepalive())
t.send_pkt(channel_create(['127.0.0.1'], E.echo))
body = t.expect(CHANNEL_RESPONSE)
check(status_of(CHANNEL_RESPONSE, body) == 0, 'second CHANNEL_CREATE accepted')
check(struct.unpack_from('<I', body, 8)[0] == 2, 'new ChannelId 2')
check([c['ConnectionKey'] for c in connections(E)] == ['%d:2' % tid], 'registry lists %d:2' % tid)
check(echo_roundtrip(t, 70000), 'second DATA round trip on channel 2')
t.send_pkt(close_channel(0))
t.expect(CLOSE_CHANNEL_RESPONSE)
check(t.finish(3)[0], 'the client ends the tunnel: EOF')
time.sleep(0.3)
log = open(E.log).read()
check(len(re.findall(r'EVENT 302 .*TunnelId="%d" ' % tid, log)) == 2, 'two 302 events')
check(len(re.findall(r'EVENT 303 .*TunnelId="%d" ' % tid, log)) == 2, 'two 303 events')
EOF
done

ok "no channel: the tunnel ends after no-channel-timeout (2 s)" py no_channel <<'EOF'
import time
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(close_channel(0))
t.expect(CLOSE_CHANNEL_RESPONSE)
t0 = time.monotonic()
eof, _ = t.wait_eof(6)
dt = time.monotonic() - t0
check(eof, 'the gateway closed the idle tunnel')
check(1.5 <= dt <= 4.5, 'after about 2 s (%.2f s)' % dt)
EOF
ok "no channel: the tunnel end logged" grep -q "no new channel within the no-channel timeout" "$WORK/gw.log"

ok "second channel: the RAP is checked again (E_PROXY_RAP_ACCESSDENIED, event 301)" py rap_again <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(close_channel(0))
t.expect(CLOSE_CHANNEL_RESPONSE)
t.send_pkt(channel_create(['127.0.0.1'], E.other))
refused(t, CHANNEL_RESPONSE, E_PROXY_RAP_ACCESSDENIED)
EOF
ok "second channel: event 301 for the refused port" grep -q "EVENT 301 .*Resource=\"127.0.0.1\"" "$WORK/gw.log"

ok "DisconnectUser ends a tunnel with no channel (202, ChannelId 0) and one with a second channel" \
    py disc_user <<'EOF'
import subprocess
a = tunnel_to(E.gw, E.creds(), E.echo)           # between channels
a.send_pkt(close_channel(0)); a.expect(CLOSE_CHANNEL_RESPONSE)
b = tunnel_to(E.gw, E.creds(), E.echo)           # on its second channel
b.send_pkt(close_channel(0)); b.expect(CLOSE_CHANNEL_RESPONSE)
b.send_pkt(channel_create(['127.0.0.1'], E.echo)); b.expect(CHANNEL_RESPONSE)
r = subprocess.run([E.ctl, '-s', E.sock, 'disconnect-user', r'CONTOSO\alice'], capture_output=True, text=True)
check(r.returncode == 0, 'disconnect-user returns 0 (%s)' % r.stdout.strip())
check(a.wait_eof(3)[0], 'the channel-less tunnel is closed')
rt, body = b.recv_pkt(3)
check(rt == CLOSE_CHANNEL and status_of(rt, body) == 0x4D4, 'the second channel gets CLOSE_CHANNEL 0x4D4')
b.send_pkt(close_channel_response(0))
check(b.wait_eof(3)[0], 'then EOF')
log = open(E.log).read()
check('ChannelId="0" ConnectionProtocol="HTTP" Method="DisconnectUser"' in log, 'event 202 with ChannelId 0')
r = subprocess.run([E.ctl, '-s', E.sock, 'disconnect-user', r'CONTOSO\alice'], capture_output=True, text=True)
check(r.returncode != 0, 'nothing left: disconnect-user reports not found')
EOF

ok "tsgwd still running" kill -0 "$GW_PID"
finish
