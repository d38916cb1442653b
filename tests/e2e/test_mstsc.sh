#!/usr/bin/env bash
# Issue 10: what Windows clients (mstsc, the Microsoft Remote Desktop apps) send, accepted the
# first time. The channel life cycle (CLOSE_CHANNEL keeps the tunnel; a new CHANNEL_CREATE gets a
# new channel) and the registry / DisconnectUser around it; SPNEGO with a real initiator (MIT
# krb5 + gss-ntlmssp, tests/support/spnegoclient.py); the 401 offers, Basic over TLS, PAA, the
# answers that keep mstsc off RPC over HTTP, the legacy IN body on the authenticating request.
# Scripted with tests/support/rdgclient.py against tsgwd and an echo target; the mstsc-like
# client (tests/support/mstscclient.py) against a real RDP server (freerdp-shadow-cli).
. "$(dirname "$0")/lib.sh"

SUPPORT=$(cd "$(dirname "$0")/../support" && pwd)
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
GPORT=$(free_port)
ECHO=$(free_port)   # echo target
OTHER=$(free_port)  # a port no RAP allows
RDP=$(free_port)    # freerdp-shadow-cli: a real RDP server for the mstsc-like client
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
basic = yes
[limits]
no-channel-timeout = 2s
auth-failures = 3
auth-block = 3s
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1; localhost
ports = $ECHO; $RDP
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
start_target "$RDP" target || { echo "Bail out! freerdp-shadow-cli did not start"; exit 1; }
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

# ---------------------------------------------------------------- what clients probe for
ok "401 without Authorization lists Negotiate, NTLM, Basic (enabled, TLS)" py offers <<'EOF'
c = Conn(E.gw)
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id())))
r = read_response(c)
offers = [v for k, v in r.headers if k.lower() == 'www-authenticate']
check(r.status == 401, '401')
check(offers[:2] == ['Negotiate', 'NTLM'] and len(offers) == 3 and offers[2].startswith('Basic realm='),
      'Negotiate, then NTLM, then Basic (got %s)' % offers)
EOF

# basic_upgrade: a WebSocket upgrade with Basic, as the iOS app sends it
cat >"$WORK/basic.py" <<'EOF'
import base64, os
from rdgclient import *
def basic_upgrade(port, user, password, source=None, proto=True):
    c = Conn(port, source=source)
    key = base64.b64encode(os.urandom(16)).decode()
    h = std_headers(new_conn_id(), ws_key=key,
                    auth='Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode())
    if proto:
        h.append(('Sec-WebSocket-Protocol', 'binary'))
    c.send(build_request('RDG_OUT_DATA', h))
    return read_response(c), c
EOF
export PYTHONPATH="$SUPPORT:$WORK"
ok "Basic over TLS: right password -> 101, Sec-WebSocket-Protocol: binary echoed, a tunnel works" py basic_ok <<'EOF'
from basic import basic_upgrade
for user in (r'CONTOSO\alice', 'alice', 'alice@contoso.test'):
    r, c = basic_upgrade(E.gw, user, 'Secret1')
    check(r.status == 101, '%s: 101 (got %d)' % (user, r.status))
check(r.header('Sec-WebSocket-Protocol') == 'binary', 'subprotocol echoed')
t = WsTunnel(c)
setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t, 3000), 'echo through the Basic-authenticated tunnel')
t.send_pkt(close_channel(0)); t.expect(CLOSE_CHANNEL_RESPONSE); t.finish(3)
EOF
ok "Basic: logon logged with its method" grep -q 'authenticated as CONTOSO\\alice (Basic, over TLS)' "$WORK/gw.log"
ok "Basic: event 200 names its AuthType" grep -q 'EVENT 200 Username="CONTOSO\\\\alice".* AuthType="Basic"' "$WORK/gw.log"
ok "Basic: wrong password -> 401 and event 201; the third failure blocks the address (1909)" py basic_bad <<'EOF'
import time
from basic import basic_upgrade
src = '127.0.0.21'
for i in range(3):
    r, c = basic_upgrade(E.gw, r'CONTOSO\alice', 'wrong', source=src)
    check(r.status == 401, 'wrong password %d: 401' % (i + 1))
    check(c.wait_eof(3)[0], 'and the connection closes')
r, c = basic_upgrade(E.gw, r'CONTOSO\alice', 'Secret1', source=src)
check(r.status == 401, 'then even the right password is refused while blocked')
log = open(E.log).read()
check('AuthType="Basic" ConnectionProtocol="HTTP" ErrorCode="1326" Reason="bad credentials (Basic)"' in log, 'event 201 for Basic')
check('IpAddress="%s" AuthType="Basic" ConnectionProtocol="HTTP" ErrorCode="1909"' % src in log, 'event 201 rate limited (1909)')
time.sleep(3.2)
r, c = basic_upgrade(E.gw, r'CONTOSO\alice', 'Secret1', source=src)
check(r.status == 101, 'after auth-block the right password works')
EOF
ok "Basic: never in clear text (plain HTTP to the gateway port gets no upgrade)" py basic_plain <<'EOF'
import base64
c = Conn(E.gw, tls=False)
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==',
       auth='Basic ' + base64.b64encode(b'CONTOSO\\alice:Secret1').decode())))
eof, n = c.wait_eof(5)
check(eof, 'closed without an answer in clear (%d bytes, a TLS alert at most)' % n)
EOF

# ---------------------------------------------------------------- SPNEGO
ok "SPNEGO: MIT krb5 + gss-ntlmssp log on (NTLM in SPNEGO, channel binding, both mechListMICs)" py spnego_ok <<'EOF'
import spnegoclient as S
r, c, d = S.spnego_logon(E.gw, r'CONTOSO\alice', 'Secret1', ws_key='dGhlIHNhbXBsZSBub25jZQ==')
check(d['t2'].get('state') == 1 and d['t2'].get('mech') == S.OID_NTLM and d['t2']['token'][:8] == b'NTLMSSP\0',
      'first answer: accept-incomplete, NTLM, the CHALLENGE')
check('mic' in d['t3'], 'the initiator sent a mechListMIC')
check(r.status == 101, 'then 101 (got %d)' % r.status)
check(d.get('t4', {}).get('state') == 0 and len(d['t4'].get('mic', b'')) == 16, '101 carries accept-completed with our mechListMIC')
check(d['complete'], 'the initiator accepted our mechListMIC (context complete)')
t = WsTunnel(c)
setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t, 3000), 'a tunnel over the SPNEGO logon')
t.send_pkt(close_channel(0)); t.expect(CLOSE_CHANNEL_RESPONSE); t.finish(3)
EOF
ok "SPNEGO: logon logged as Negotiate with the mechListMIC" grep -q 'authenticated as CONTOSO\\alice (Negotiate, MIC, channel binding, .*SPNEGO with mechListMIC)' "$WORK/gw.log"
ok "SPNEGO: event 200 names its AuthType" grep -q 'EVENT 200 Username="CONTOSO\\\\alice".* AuthType="Negotiate"' "$WORK/gw.log"
ok "SPNEGO: a tampered mechListMIC is refused (401, reject, event 201)" py spnego_tamper <<'EOF'
import spnegoclient as S
r, c, d = S.spnego_logon(E.gw, r'CONTOSO\alice', 'Secret1', ws_key='dGhlIHNhbXBsZSBub25jZQ==', tamper_mic=True, source='127.0.0.31')
check(r.status == 401, '401 (got %d)' % r.status)
check(d.get('t4', {}).get('state') == 2, 'NegTokenResp reject')
check(c.wait_eof(3)[0], 'connection closed')
check('Reason="SPNEGO mechListMIC does not verify"' in open(E.log).read(), 'event 201 says why')
EOF
ok "SPNEGO: Kerberos optimistic token -> request-mic + NTLM; NTLM with gss-ntlmssp's mechListMIC logs on" \
    py spnego_krb <<'EOF'
import spnegoclient as S
r, c, d = S.kerberos_first_logon(E.gw, r'CONTOSO\alice', 'Secret1', ws_key='dGhlIHNhbXBsZSBub25jZQ==')
check(d['t0'] == {'state': 3, 'mech': S.OID_NTLM}, 'answer to the Kerberos NegTokenInit: request-mic, NTLM, no token (%s)' % d['t0'])
check(d['t1'].get('state') == 1 and d['t1']['token'][:8] == b'NTLMSSP\0', 'then the CHALLENGE')
check(r.status == 101, '101 (got %d)' % r.status)
check(d.get('server_mic_ok'), 'gss-ntlmssp verified our mechListMIC')
EOF
ok "SPNEGO: after request-mic, no mechListMIC -> refused" py spnego_krb_nomic <<'EOF'
import spnegoclient as S
r, c, d = S.kerberos_first_logon(E.gw, r'CONTOSO\alice', 'Secret1', ws_key='dGhlIHNhbXBsZSBub25jZQ==', send_mic=False, source='127.0.0.32')
check(r.status == 401, '401 (got %d)' % r.status)
check('Reason="SPNEGO mechListMIC missing after request-mic"' in open(E.log).read(), 'event 201 says why')
EOF
ok "SPNEGO: no NTLM on the initiator's list -> reject" py spnego_nontlm <<'EOF'
import base64, spnegoclient as S
c = Conn(E.gw)
tok = S.neg_token_init(S.mech_type_list(S.OID_KRB5), S.tlv(0x60, b'\x06\x01\x00'))
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), auth='Negotiate ' + base64.b64encode(tok).decode())))
r = read_response(c)
t = S._token_of(r)
check(r.status == 401 and t is not None and S.parse_resp(t).get('state') == 2, '401 with negState reject')
EOF

# ---------------------------------------------------------------- PAA, other paths
ok "PAA: RDG-Auth-Scheme PAA -> E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD in HANDSHAKE_RESPONSE" py paa <<'EOF'
import base64, os
c = Conn(E.gw)
h = std_headers(new_conn_id(), ws_key=base64.b64encode(os.urandom(16)).decode())
h.append(('RDG-Auth-Scheme', 'PAA'))
c.send(build_request('RDG_OUT_DATA', h))
r = read_response(c)
check(r.status == 101, 'the upgrade goes through without a logon (got %d)' % r.status)
t = WsTunnel(c)
t.send_pkt(handshake_request(ext_auth=2))
refused(t, HANDSHAKE_RESPONSE, E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD)
check('Reason="RDG-Auth-Scheme PAA is not supported"' in open(E.log).read(), 'event 201')
EOF
ok "PAA: a PAA tunnel that skips the handshake is refused the same way" py paa2 <<'EOF'
import base64, os
c = Conn(E.gw)
h = std_headers(new_conn_id(), ws_key=base64.b64encode(os.urandom(16)).decode())
h.append(('RDG-Auth-Scheme', 'PAA'))
c.send(build_request('RDG_OUT_DATA', h))
check(read_response(c).status == 101, '101')
t = WsTunnel(c)
t.send_pkt(tunnel_create(caps=0x3F, paa_cookie='token\0'.encode('utf-16-le')))
refused(t, TUNNEL_RESPONSE, E_PROXY_UNSUPPORTED_AUTHENTICATION_METHOD)
EOF
ok "POST /KdcProxy -> 503 at once; RPC_IN_DATA /rpc/rpcproxy.dll -> 404 at once" py paths <<'EOF'
import time
t0 = time.monotonic()
c = Conn(E.gw)
c.send(b'POST /KdcProxy HTTP/1.1\r\nHost: gw\r\nUser-Agent: kerberos/1.0\r\nContent-Type: application/kerberos\r\nContent-Length: 200\r\n\r\n' + b'\x30' * 200)
r = read_response(c)
check(r.status == 503, 'KdcProxy: 503 (got %d)' % r.status)
check(c.wait_eof(3)[0], 'closed')
c = Conn(E.gw)
c.send(b'RPC_IN_DATA /rpc/rpcproxy.dll?gw:3388 HTTP/1.1\r\nHost: gw\r\nContent-Length: 1073741824\r\n\r\n')
r = read_response(c)
check(r.status == 404, 'RPC over HTTP: 404 (got %d)' % r.status)
note('both answered in %.0f ms' % ((time.monotonic() - t0) * 1000))
check(time.monotonic() - t0 < 2, 'at once')
EOF
ok "absolute-form target (https://host/remoteDesktopGateway/) is the gateway path" py absform <<'EOF'
c = Conn(E.gw)
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id()), path='https://127.0.0.1/remoteDesktopGateway/'))
r = read_response(c)
check(r.status == 401, '401 (a logon), not 404 (got %d)' % r.status)
EOF

# ---------------------------------------------------------------- legacy IN with a body
ok "legacy: the authenticating IN request already chunked -> no answer, its body is the packet stream" \
    py leg_in_body <<'EOF'
import base64
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
check(r.status == 200, 'OUT 200')
inc = Conn(E.gw)
neg = ntlm_negotiate()
inc.send(build_request('RDG_IN_DATA', std_headers(cid, auth='NTLM ' + base64.b64encode(neg).decode())))
r = read_response(inc)
chal = base64.b64decode(r.header('WWW-Authenticate').split(' ', 1)[1])
a = ntlm_authenticate(E.creds(), neg, chal, inc.cert)
h = [x for x in std_headers(cid, auth='NTLM ' + base64.b64encode(a).decode()) if x[0] != 'Content-Length']
h.append(('Transfer-Encoding', 'chunked'))
p = handshake_request()
inc.send(build_request('RDG_IN_DATA', h) + b'%X\r\n' % len(p) + p + b'\r\n')
t = LegacyTunnel(out, inc)
rt, body = t.recv_pkt(5)
check(rt == HANDSHAKE_RESPONSE and status_of(rt, body) == 0, 'the HANDSHAKE in that body was answered on OUT')
for p, want in ((tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth('vm'), TUNNEL_AUTH_RESPONSE),
                (channel_create(['127.0.0.1'], E.echo), CHANNEL_RESPONSE)):
    t.send_pkt(p)
    t.expect(want)
check(echo_roundtrip(t, 5000), 'echo')
inc.settimeout(0.5)
try:
    extra = inc.sock.recv(100)
except Exception:
    extra = b''
check(extra == b'', 'nothing was written back on IN')
EOF

# ---------------------------------------------------------------- mstsc, as captured
# tests/support/mstscclient.py: the capture's HTTP requests and MS-TSGU packets byte for byte,
# against a real RDP server (freerdp-shadow-cli answers the captured X.224 Connection Request)
for mode in websocket legacy; do
    flag=
    [ $mode = legacy ] && flag=--legacy
    ok "mstsc-like client ($mode): Negotiate/NTLM as mstsc, the captured packets, close and re-create, two X.224 round trips" \
        bash -c "timeout 60 '$PYTHON' '$SUPPORT/mstscclient.py' --gw $GPORT --users '$WORK/users' \
            --user 'CONTOSO\\alice' --upn alice@contoso.test --host localhost --target localhost \
            --target-port $RDP --recreate $flag >'$WORK/mstsc_$mode.out' 2>&1; rc=\$?; \
            grep -c '^ok:' '$WORK/mstsc_$mode.out' | sed 's/^/# checks passed: /'; \
            [ \$rc -eq 0 ] || tail -n 3 '$WORK/mstsc_$mode.out' | sed 's/^/#   /'; exit \$rc"
done
ok "mstsc-like client: logged on as the UPN with an empty domain, workstation IT-HELP-CLIENT" \
    grep -q 'authenticated as CONTOSO\\alice (NTLM, MIC, channel binding, workstation "IT-HELP-CLIENT")' "$WORK/gw.log"
ok "mstsc-like client: channels 1 and 2 of one tunnel, both with 302 and 303" bash -c "
    t=\$(grep -o 'EVENT 302 .*Resource=\"localhost\" Port=\"$RDP\".*ChannelId=\"2\" .*Transport=\"legacy\"' '$WORK/gw.log' | grep -o 'TunnelId=\"[0-9]*\"' | head -1)
    [ -n \"\$t\" ] && grep -q \"EVENT 303 .*\$t .*ChannelId=\\\"1\\\"\" '$WORK/gw.log' && grep -q \"EVENT 303 .*\$t .*ChannelId=\\\"2\\\"\" '$WORK/gw.log'"

ok "tsgwd still running" kill -0 "$GW_PID"
finish
