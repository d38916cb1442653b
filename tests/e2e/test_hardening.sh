#!/usr/bin/env bash
# Issue 6 items 4 and 5: faults and abuse. A scripted MS-TSGU client (tests/support/rdgclient.py)
# misbehaves at every layer -- packet order, packet lengths, legacy pairing, WebSocket framing,
# HTTP, NTLM -- and the targets misbehave too (refuse, reset, half-close, flood); then resource
# checks (slow reader, 2000 tunnel cycles, slowloris next to a real xfreerdp) and SIGTERM with
# live tunnels. Every case checks the protocol reaction and that tsgwd still serves a good client.
. "$(dirname "$0")/lib.sh"

SUPPORT=$(cd "$(dirname "$0")/../support" && pwd)
GPORT=$(free_port)
ECHO=$(free_port)     # echo target (a background rdgclient.py echo)
CLOSER=$(free_port)   # per-case targets, run inside the scenario that needs them
HALF=$(free_port)
FLOOD=$(free_port)
STALL=$(free_port)
DEAD=$(free_port)     # nothing listens here, but the RAP allows it
TPORT=$(free_port)    # freerdp-shadow-cli, for the xfreerdp slowloris case
SOCK="$WORK/admin.sock"
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users' 'Bob Builder'
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
pairing-timeout = 2s
; the default, spelled out: the slowloris case relies on it
max-unauthenticated-per-address = 64
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1
ports = $ECHO; $CLOSER; $HALF; $FLOOD; $STALL; $DEAD; $TPORT
CONF

export TSGW_GW=$GPORT TSGW_ECHO=$ECHO TSGW_CLOSER=$CLOSER TSGW_HALF=$HALF TSGW_FLOOD=$FLOOD \
    TSGW_STALL=$STALL TSGW_DEAD=$DEAD TSGW_USERS="$WORK/users" TSGW_CTL="$TSGWCTL" \
    TSGW_SOCK="$SOCK" TSGW_LOG="$WORK/gw.log" PYTHONPATH="$SUPPORT" PYTHONDONTWRITEBYTECODE=1

# py NAME: runs the Python scenario on stdin (rdgclient's names imported, E = the environment);
# its output goes to $WORK/NAME.log; status 0 when every check passed
py() {
    local name=$1
    { printf 'from rdgclient import *\nimport rdgclient as R\nE = Env()\n'; cat; } |
        timeout "${PY_TIMEOUT:-60}" python3 - >"$WORK/$name.log" 2>&1
    local rc=$?
    grep '^# ' "$WORK/$name.log"
    [ $rc -eq 0 ] || grep -v '^ok: ' "$WORK/$name.log" | tail -n 5 | sed 's/^/#   /'
    return $rc
}
alive() { kill -0 "$GW_PID" 2>/dev/null; }

python3 "$SUPPORT/rdgclient.py" echo --port "$ECHO" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$WORK/echo.log" "listening" || { echo "Bail out! echo target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
export TSGW_PID=$GW_PID
ASAN=0
grep -q libasan "/proc/$GW_PID/maps" 2>/dev/null && ASAN=1

# ---------------------------------------------------------------- the client itself
ok "rdgclient: WebSocket tunnel through tsgwd echoes 200 kB" py ws_echo <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
check(echo_roundtrip(t, 200000), 'echo through the WebSocket tunnel')
t.send_pkt(close_channel(0))
check(t.expect(CLOSE_CHANNEL_RESPONSE) is not None, 'CLOSE_CHANNEL_RESPONSE')
check(t.wait_eof(3)[0], 'EOF after the close')
EOF
ok "rdgclient: legacy OUT/IN tunnel through tsgwd echoes 200 kB" py legacy_echo <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
check(echo_roundtrip(t, 200000), 'echo through the legacy tunnel')
t.send_pkt(close_channel(0))
t.expect(CLOSE_CHANNEL_RESPONSE)
check(t.wait_eof(3)[0], 'EOF on OUT after the close')
EOF
ok "rdgclient: EVENT 302 for both transports" \
    bash -c "grep -q 'EVENT 302 .*Transport=\"websocket\"' '$WORK/gw.log' && grep -q 'EVENT 302 .*Transport=\"legacy\"' '$WORK/gw.log'"

# ---------------------------------------------------------------- out of order and repeated
ok "order: a second HANDSHAKE_REQUEST gets HANDSHAKE_RESPONSE E_PROXY_INTERNALERROR, then close" \
    py order_hs2 <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request())
check(status_of(HANDSHAKE_RESPONSE, t.expect(HANDSHAKE_RESPONSE)) == 0, 'first handshake succeeds')
t.send_pkt(handshake_request())
refused(t, HANDSHAKE_RESPONSE)
EOF
ok "order: TUNNEL_CREATE before HANDSHAKE -> TUNNEL_RESPONSE E_PROXY_INTERNALERROR, close" \
    py order_tc_first <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(tunnel_create())
refused(t, TUNNEL_RESPONSE)
EOF
ok "order: TUNNEL_AUTH before TUNNEL_CREATE -> TUNNEL_AUTH_RESPONSE E_PROXY_INTERNALERROR, close" \
    py order_ta_early <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_auth())
refused(t, TUNNEL_AUTH_RESPONSE)
EOF
ok "order: CHANNEL_CREATE before TUNNEL_AUTH -> CHANNEL_RESPONSE E_PROXY_INTERNALERROR, close" \
    py order_cc_early <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_create()); t.expect(TUNNEL_RESPONSE)
t.send_pkt(channel_create(['127.0.0.1'], E.echo))
refused(t, CHANNEL_RESPONSE)
EOF
ok "order: DATA before a channel exists -> closed, no response" py order_data_early <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE),
             (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(data(b'\x03\x00\x00\x0b' + b'x' * 7))
closed_silently(t)
EOF
ok "order: a second TUNNEL_CREATE -> TUNNEL_RESPONSE E_PROXY_INTERNALERROR, close" \
    py order_tc2 <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_create()); check(status_of(TUNNEL_RESPONSE, t.expect(TUNNEL_RESPONSE)) == 0, 'first TUNNEL_CREATE succeeds')
t.send_pkt(tunnel_create())
refused(t, TUNNEL_RESPONSE)
EOF
ok "order: a second CHANNEL_CREATE on an open channel -> CHANNEL_RESPONSE error, close" \
    py order_cc2 <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(channel_create(['127.0.0.1'], E.echo))
refused(t, CHANNEL_RESPONSE)
EOF
ok "order: legacy: a second HANDSHAKE_REQUEST on IN -> error on OUT, both channels closed" \
    py order_legacy_hs2 <<'EOF'
t = open_legacy(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(handshake_request())
refused(t, HANDSHAKE_RESPONSE)
check(t.inc.wait_eof(3)[0], 'the IN channel is closed too')
EOF
ok "order: KEEPALIVE before HANDSHAKE -> closed" py order_ka_first <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(keepalive())
closed_silently(t)
EOF
ok "order: unknown type 0x0E and a client-sent HANDSHAKE_RESPONSE are ignored; setup goes on" \
    py order_unknown <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(pkt(0x0E, b'abcd'))
t.send_pkt(pkt(HANDSHAKE_RESPONSE, b'\0' * 10))
t.send_pkt(keepalive())
t.send_pkt(tunnel_create()); t.expect(TUNNEL_RESPONSE)
t.send_pkt(tunnel_auth()); t.expect(TUNNEL_AUTH_RESPONSE)
t.send_pkt(channel_create(['127.0.0.1'], E.echo))
check(status_of(CHANNEL_RESPONSE, t.expect(CHANNEL_RESPONSE)) == 0, 'channel opened')
check(echo_roundtrip(t), 'tunnel works')
EOF
ok "order: every wrong-state packet is logged" has gw "out of order"
ok "order: daemon alive and serving" py order_after <<'EOF'
healthy(E); healthy(E, legacy=True)
EOF

# ---------------------------------------------------------------- lengths
ok "length: packetLength 4 (< 8) -> closed, no response" py len_short <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(hdr(HANDSHAKE_REQUEST, 4) + b'\x01\x00\x00\x00\x00\x00')
closed_silently(t)
EOF
ok "length: packetLength 0 in the data phase -> closed" py len_zero_open <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(hdr(DATA, 0) + b'\x00\x00')
closed_silently(t)
EOF
ok "length: packetLength 0x7fffffff during setup -> closed without waiting for the bytes" \
    py len_huge <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(hdr(TUNNEL_CREATE, 0x7fffffff) + b'\0' * 8)
closed_silently(t, 3)
EOF
ok "length: TUNNEL_AUTH of 40000 bytes (over max-setup-packet 32768) -> closed" py len_setup_max <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_create()); t.expect(TUNNEL_RESPONSE)
t.send_pkt(pkt(TUNNEL_AUTH, b'\0\0' + b'\x00\x02' + b'A\0' * 19995))
closed_silently(t)
EOF
ok "length: DATA packetLength 1 MB in the data phase -> closed" py len_data_huge <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(hdr(DATA, 1 << 20) + b'\xff\xff' + b'x' * 1000)
closed_silently(t)
EOF
ok "length: DATA with cbDataLen > packetLength-10 -> closed, nothing forwarded" py len_data_cb_big <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(data(b'A' * 50, cb=100))
closed_silently(t)
EOF
ok "length: DATA with cbDataLen < packetLength-10 (padding) -> closed" py len_data_cb_small <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_pkt(data(b'A' * 50, cb=20))
closed_silently(t)
EOF
ok "length: legacy DATA with a wrong cbDataLen -> both channels closed" py len_data_legacy <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
t.send_pkt(data(b'A' * 50, cb=49))
closed_silently(t)
check(t.inc.wait_eof(3)[0], 'IN closed too')
EOF
ok "length: truncated HANDSHAKE_REQUEST (10 bytes) -> HANDSHAKE_RESPONSE error, close" py len_hs_trunc <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(pkt(HANDSHAKE_REQUEST, b'\x01\x00'))
refused(t, HANDSHAKE_RESPONSE)
EOF
ok "length: CHANNEL_CREATE numResources 0 -> CHANNEL_RESPONSE E_PROXY_INTERNALERROR, close" py len_nres0 <<'EOF'
t = open_ws(E.gw, E.creds())
setup_steps = ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE))
for p, r in setup_steps:
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create([], E.echo))
refused(t, CHANNEL_RESPONSE)
EOF
ok "length: CHANNEL_CREATE numResources 51 -> CHANNEL_RESPONSE E_PROXY_INTERNALERROR, close" py len_nres51 <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create(['127.0.0.1'] * 51, E.echo))
refused(t, CHANNEL_RESPONSE)
EOF
ok "length: CHANNEL_CREATE numAltResources 4 -> CHANNEL_RESPONSE error, close" py len_nalt4 <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create(['127.0.0.1'], E.echo, alt=['127.0.0.1'] * 4))
refused(t, CHANNEL_RESPONSE)
EOF
ok "length: CHANNEL_CREATE claims 3 resources but carries 1 -> CHANNEL_RESPONSE error, close" py len_nres_lie <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create(['127.0.0.1'], E.echo, num_resources=3))
refused(t, CHANNEL_RESPONSE)
EOF
ok "length: odd UTF-16 length in TUNNEL_AUTH clientName -> TUNNEL_AUTH_RESPONSE error, close" py len_odd_name <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_create()); t.expect(TUNNEL_RESPONSE)
t.send_pkt(tunnel_auth(raw_name=b'\x05\x00v\x00m\x00\x00'))
refused(t, TUNNEL_AUTH_RESPONSE)
EOF
ok "length: odd UTF-16 length in a CHANNEL_CREATE resource -> CHANNEL_RESPONSE error, close" py len_odd_res <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create(['127.0.0.1'], E.echo, raw_names=b'\x13\x00' + '127.0.0.1'.encode('utf-16-le') + b'\x00'))
refused(t, CHANNEL_RESPONSE)
EOF
ok "length: clientName cbLen past the end of the packet -> TUNNEL_AUTH_RESPONSE error, close" py len_name_overrun <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_pkt(tunnel_create()); t.expect(TUNNEL_RESPONSE)
t.send_pkt(tunnel_auth(raw_name=b'\xfe\xff' + 'vm'.encode('utf-16-le')))
refused(t, TUNNEL_AUTH_RESPONSE)
EOF
ok "length: unpaired UTF-16 surrogate in the resource name -> refused, close" py len_surrogate <<'EOF'
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create([], E.echo, num_resources=1, raw_names=b'\x04\x00\x00\xd8\x00\x00'))
rt, body = t.recv_pkt(5)
check(rt == CHANNEL_RESPONSE and status_of(rt, body) & 0x80000000, 'CHANNEL_RESPONSE with a failure code (0x%08x)' % status_of(rt, body))
check(t.wait_eof(3)[0], 'closed')
EOF
ok "length: packets split into 1-byte WebSocket frames, and 4 packets in one frame, work" py len_frag <<'EOF'
t = open_ws(E.gw, E.creds())
hs = handshake_request()
# one packet spread over a fragmented message: first frame FIN=0, then continuations
frames = [ws_frame(WS_BINARY, hs[:1], fin=False)] + [ws_frame(WS_CONT, hs[i:i+1], fin=(i == len(hs) - 1)) for i in range(1, len(hs))]
t.send_raw(b''.join(frames))
t.expect(HANDSHAKE_RESPONSE)
# and one unfragmented message per byte (FreeRDP-style framing does not matter to the server)
tc = tunnel_create()
t.send_raw(b''.join(ws_frame(WS_BINARY, tc[i:i+1]) for i in range(len(tc))))
t.expect(TUNNEL_RESPONSE)
t.send_raw(ws_frame(WS_BINARY, tunnel_auth() + channel_create(['127.0.0.1'], E.echo) + data(b'x' * 10) + data(b'y' * 10)))
t.expect(TUNNEL_AUTH_RESPONSE)
check(status_of(CHANNEL_RESPONSE, t.expect(CHANNEL_RESPONSE)) == 0, 'channel opened')
check(t.recv_data(20) == b'x' * 10 + b'y' * 10, 'DATA packed behind CHANNEL_CREATE was forwarded')
EOF
ok "length: legacy IN with a bad chunk-size line -> tunnel closed" py len_bad_chunk <<'EOF'
t = open_legacy(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
t.send_raw(b'zz\r\n' + tunnel_create() + b'\r\n')
closed_silently(t)
EOF
ok "length: legacy IN without chunked encoding (raw packet stream) works" py len_legacy_raw <<'EOF'
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
inc, r2 = open_legacy_in(E.gw, E.creds(), cid, final=False)
check(r.status == 200 and r2.status == 200, 'OUT and IN authenticated')
h = std_headers(cid); h = [x for x in h if x[0] != 'Content-Length']
inc.send(build_request('RDG_IN_DATA', h))
t = LegacyTunnel(out, inc)
t.send_pkt = lambda p: inc.send(p)
setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t, 5000), 'echo over an un-chunked IN body')
EOF
ok "length: daemon alive and serving" py len_after <<'EOF'
healthy(E); healthy(E, legacy=True)
EOF

finish
