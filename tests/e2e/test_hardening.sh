#!/usr/bin/env bash
# Issue 6 items 4 and 5: faults and abuse. A scripted MS-TSGU client (tests/support/rdgclient.py)
# misbehaves at every layer -- packet order, packet lengths, legacy pairing, WebSocket framing,
# HTTP, NTLM -- and the targets misbehave too (refuse, reset, half-close, flood); then resource
# checks (slow reader, 2000 tunnel cycles, slowloris next to a real xfreerdp) and SIGTERM with
# live tunnels. Every case checks the protocol reaction and that tsgwd still serves a good client.
. "$(dirname "$0")/lib.sh"

SUPPORT=$(cd "$(dirname "$0")/../support" && pwd)
# the system interpreter when there is one: a version-manager shim costs ~0.5 s per start
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
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
; logon rate limiting: the default 5 failures per 60 s, but a 3 s block keeps the test short
auth-block = 3s
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
# its output goes to $WORK/NAME.out ("# " lines are echoed as TAP comments); status 0 when
# every check passed
py() {
    local name=$1
    { printf 'from rdgclient import *\nimport rdgclient as R\nE = Env()\n'; cat; } |
        timeout "${PY_TIMEOUT:-60}" "$PYTHON" - >"$WORK/$name.out" 2>&1
    local rc=$?
    grep '^# ' "$WORK/$name.out"
    [ $rc -eq 0 ] || grep -v '^ok: ' "$WORK/$name.out" | tail -n 5 | sed 's/^/#   /'
    return $rc
}
alive() { kill -0 "$GW_PID" 2>/dev/null; }
# revive: when tsgwd died (a bug the case before found), keep its log and start a fresh one,
# so that one crash does not hide the results of every later case
CRASHES=0
revive() {
    alive && return 0
    wait "$GW_PID" 2>/dev/null
    local rc=$?
    CRASHES=$((CRASHES + 1))
    mv "$WORK/gw.log" "$WORK/gw-died-$CRASHES.log"
    log "tsgwd died (exit status $rc); log kept as gw-died-$CRASHES.log; starting a new one"
    grep -m1 -A12 'ERROR: AddressSanitizer' "$WORK/gw-died-$CRASHES.log" | sed 's/^/#   /'
    start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not restart"; exit 1; }
    export TSGW_PID=$GW_PID
}

$PYTHON "$SUPPORT/rdgclient.py" echo --port "$ECHO" >"$WORK/echo.log" 2>&1 &
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
check(t.finish(3)[0], 'EOF after the WebSocket Close')
EOF
ok "rdgclient: legacy OUT/IN tunnel through tsgwd echoes 200 kB" py legacy_echo <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
check(echo_roundtrip(t, 200000), 'echo through the legacy tunnel')
t.send_pkt(close_channel(0))
t.expect(CLOSE_CHANNEL_RESPONSE)
check(t.finish(3)[0], 'EOF on OUT after the end of the IN body')
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
revive

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
send_quiet(t, pkt(TUNNEL_AUTH, b'\0\0' + b'\x00\x02' + b'A\0' * 19995))
closed_silently(t)
EOF
ok "length: DATA packetLength 1 MB in the data phase -> closed" py len_data_huge <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
send_quiet(t, hdr(DATA, 1 << 20) + b'\xff\xff' + b'x' * 1000)
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
revive

# ---------------------------------------------------------------- legacy pairing
ok "legacy: IN with an unknown RDG-Connection-Id -> 503 (not 404: mstsc would fall back to RPC) and EVENT 210" py leg_in_alone <<'EOF'
n = log_count(E, 'EVENT 210')
inc, r = open_legacy_in(E.gw, E.creds(), new_conn_id(), final=False)
check(r.status == 503, 'IN answered 503 (got %d)' % r.status)
check(inc.wait_eof(3)[0], 'IN connection closed')
time.sleep(0.2)
check(log_count(E, 'EVENT 210') == n + 1, 'EVENT 210 logged')
EOF
ok "legacy: IN from another user with alice's RDG-Connection-Id -> 503, EVENT 210; alice's OUT survives" \
    py leg_in_hijack <<'EOF'
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
check(r.status == 200, 'alice: OUT 200')
BOB210 = 'EVENT 210 Username="CONTOSO\\\\bob"'
n = log_count(E, BOB210)
bad, r2 = open_legacy_in(E.gw, E.creds(r'CONTOSO\bob'), cid, final=False)
check(r2.status == 503, 'bob: IN with alice\'s id answered 503 (got %d)' % r2.status)
time.sleep(0.2)
check(log_count(E, BOB210) == n + 1, 'EVENT 210 names bob')
inc, r3 = open_legacy_in(E.gw, E.creds(), cid)
check(r3.status == 200, 'alice: her own IN still pairs')
t = LegacyTunnel(out, inc)
setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t), 'alice\'s tunnel works')
EOF
ok "legacy: a second OUT with a pending RDG-Connection-Id -> 400; the first one still pairs" \
    py leg_out_dup <<'EOF'
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
out2, r2 = open_legacy_out(E.gw, E.creds(), cid)
check(r2.status == 400, 'duplicate OUT answered 400 (got %d)' % r2.status)
inc, r3 = open_legacy_in(E.gw, E.creds(), cid)
check(r3.status == 200, 'IN pairs with the first OUT')
t = LegacyTunnel(out, inc); setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t), 'tunnel works')
EOF
ok "legacy: a second IN for an already paired tunnel -> 503" py leg_in_twice <<'EOF'
cid = new_conn_id()
t = None
out, r = open_legacy_out(E.gw, E.creds(), cid)
inc, r2 = open_legacy_in(E.gw, E.creds(), cid)
inc2, r3 = open_legacy_in(E.gw, E.creds(), cid, final=False)
check(r3.status == 503, 'second IN answered 503 (got %d)' % r3.status)
t = LegacyTunnel(out, inc); setup(t, '127.0.0.1', E.echo)
check(echo_roundtrip(t), 'the paired tunnel is unaffected')
EOF
ok "legacy: OUT without IN is closed by the 2 s pairing timeout" py leg_pairing <<'EOF'
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
check(r.status == 200, 'OUT 200')
t0 = time.monotonic()
eof, _ = out.wait_eof(8)
dt = time.monotonic() - t0
note('OUT closed %.2f s after the 200 (pairing-timeout = 2s)' % dt)
check(eof and 1.5 <= dt <= 4.5, 'closed after about 2 s')
inc, r2 = open_legacy_in(E.gw, E.creds(), cid, final=False)
check(r2.status == 503, 'a late IN finds nothing (503)')
EOF
ok "legacy: pairing timeout logged" has gw "no IN channel within the pairing timeout"
ok "legacy: a third IN request with another method closes the tunnel" py leg_in_badthird <<'EOF'
cid = new_conn_id()
out, r = open_legacy_out(E.gw, E.creds(), cid)
inc, r2 = open_legacy_in(E.gw, E.creds(), cid, final=False)
inc.send(build_request('RDG_OUT_DATA', std_headers(cid)))
check(out.wait_eof(3)[0], 'OUT closed')
check(inc.wait_eof(3)[0], 'IN closed')
EOF
ok "legacy: bytes written on OUT are ignored" py leg_out_write <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
t.out.send(b'garbage on the OUT channel' * 100)
check(echo_roundtrip(t), 'tunnel unaffected')
EOF
ok "legacy: daemon alive and serving" py leg_after <<'EOF'
healthy(E); healthy(E, legacy=True)
EOF
revive

# ---------------------------------------------------------------- WebSocket framing
ok "websocket: unmasked client frame -> Close 1002, TCP closed" py ws_unmasked <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_BINARY, handshake_request(), mask=False))
check(ws_close_code(t) == 1002, 'Close code 1002 (got %s)' % t.close_code())
EOF
ok "websocket: text frame -> Close 1003" py ws_text <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_TEXT, handshake_request()))
check(ws_close_code(t) == 1003, 'Close code 1003 (got %s)' % t.close_code())
EOF
ok "websocket: reserved bits (RSV1) -> Close 1002" py ws_rsv <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_BINARY, handshake_request(), rsv=4))
check(ws_close_code(t) == 1002, 'Close code 1002 (got %s)' % t.close_code())
EOF
ok "websocket: unknown opcode 0x3 -> Close 1002" py ws_opcode <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(0x3, b'x'))
check(ws_close_code(t) == 1002, 'Close code 1002 (got %s)' % t.close_code())
EOF
ok "websocket: continuation without a message -> Close 1002" py ws_cont <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_CONT, handshake_request()))
check(ws_close_code(t) == 1002, 'Close code 1002 (got %s)' % t.close_code())
EOF
ok "websocket: Ping with 126 bytes (control frame > 125) -> Close 1002" py ws_bigping <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_PING, b'p' * 126))
check(ws_close_code(t) == 1002, 'Close code 1002 (got %s)' % t.close_code())
EOF
ok "websocket: 1 MiB frame (over max-websocket-message) -> Close 1009 from the header alone" py ws_big <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_raw(ws_frame(WS_BINARY, b'x' * 100, length_override=1 << 20)[:120])
check(ws_close_code(t) == 1009, 'Close code 1009 (got %s)' % t.close_code())
EOF
ok "websocket: oversize message (4 x 64 KiB fragments of KEEPALIVEs) -> Close 1009" py ws_big_frag <<'EOF'
t = open_ws(E.gw, E.creds())
t.send_pkt(handshake_request()); t.expect(HANDSHAKE_RESPONSE)
frag = keepalive() * 8192   # valid packets, so only the WebSocket layer can object
try:
    t.send_raw(ws_frame(WS_BINARY, frag, fin=False))
    for i in range(3):
        t.send_raw(ws_frame(WS_CONT, frag, fin=False))
except (Closed, OSError):
    pass
check(ws_close_code(t) == 1009, 'Close code 1009 (got %s)' % t.close_code())
EOF
ok "websocket: Ping is answered with a Pong carrying the payload; tunnel goes on" py ws_ping <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_raw(ws_frame(WS_PING, b'hello-ping'))
check(echo_roundtrip(t), 'tunnel works after the Ping')
check((WS_PONG, b'hello-ping') in t.ctrl, 'Pong with the same payload')
check(not t.masked_seen, 'no masked server frame')
EOF
ok "websocket: client Close -> server Close, TCP closed" py ws_close <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
t.send_raw(ws_frame(WS_CLOSE, struct.pack('>H', 1000)))
check(ws_close_code(t) == 1000, 'Close code 1000 (got %s)' % t.close_code())
EOF
ok "websocket: daemon alive and serving" py ws_after <<'EOF'
healthy(E)
EOF
revive

# ---------------------------------------------------------------- HTTP
# http_probe NAME STATUS: sends the raw request on stdin over TLS; expects that status and a close
http_probe() {
    local name=$1 want=$2
    RAW=$(base64 -w0) WANT=$want py "$name" <<'EOF'
import base64
c = Conn(E.gw)
c.send(base64.b64decode(os.environ['RAW']))
try:
    r = read_response(c)
    status = r.status
except Closed:
    status = None
check(status == int(os.environ['WANT']), 'status %s (got %s)' % (os.environ['WANT'], status))
eof, extra = c.wait_eof(3)
check(eof, 'connection closed')
check(extra == 0, 'nothing after the error response (got %d bytes)' % extra)
EOF
}
REQ="RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1"
ok "http: Content-Length and Transfer-Encoding together -> 400, close" http_probe http_cl_te 400 \
    < <(printf '%s\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' "$REQ")
ok "http: chunked body smuggling a second request -> one 400, the smuggled one is never answered" \
    http_probe http_smuggle_te 400 < <(printf '%s\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s\r\nHost: x\r\nAuthorization: NTLM TlRMTVNTUAABAAAAt4II4gAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==\r\n\r\n' "$REQ" "$REQ")
ok "http: Content-Length body smuggling a second request -> one 400" \
    http_probe http_smuggle_cl 400 < <(printf '%s\r\nHost: x\r\nContent-Length: 54\r\n\r\nRDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nX: y\r\n\r\n' "$REQ")
ok "http: two different Content-Length headers -> 400" http_probe http_cl_cl 400 \
    < <(printf '%s\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n' "$REQ")
ok "http: Transfer-Encoding: chunked, identity -> 501" http_probe http_te_list 501 \
    < <(printf '%s\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n' "$REQ")
ok "http: space before the colon (Transfer-Encoding : chunked) -> 400" http_probe http_te_space 400 \
    < <(printf '%s\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n' "$REQ")
ok "http: obs-fold header continuation -> 400" http_probe http_fold 400 \
    < <(printf '%s\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n' "$REQ")
ok "http: a 20000-byte header line -> 431" http_probe http_huge_hdr 431 \
    < <(printf '%s\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$REQ" "$(head -c 20000 /dev/zero | tr '\0' a)")
ok "http: 3 x 7000-byte headers (over max-header-bytes) -> 431" http_probe http_hdr_total 431 \
    < <(printf '%s\r\nX-1: %s\r\nX-2: %s\r\nX-3: %s\r\n\r\n' "$REQ" "$(head -c 7000 /dev/zero | tr '\0' a)" "$(head -c 7000 /dev/zero | tr '\0' b)" "$(head -c 7000 /dev/zero | tr '\0' c)")
ok "http: 100 headers (over max-headers) -> 431" http_probe http_many_hdr 431 \
    < <(printf '%s\r\n' "$REQ"; for i in $(seq 1 100); do printf 'X-%d: v\r\n' "$i"; done; printf '\r\n')
ok "http: a 5000-byte request line -> 414" http_probe http_long_line 414 \
    < <(printf 'RDG_OUT_DATA /remoteDesktopGateway/?%s HTTP/1.1\r\n\r\n' "$(head -c 5000 /dev/zero | tr '\0' a)")
ok "http: unknown method on the gateway path -> 405" http_probe http_method 405 \
    < <(printf 'FROB /remoteDesktopGateway/ HTTP/1.1\r\nHost: x\r\n\r\n')
ok "http: wrong path -> 404" http_probe http_path 404 \
    < <(printf 'RDG_OUT_DATA /rpc/rpcproxy.dll?localhost:3388 HTTP/1.1\r\nHost: x\r\n\r\n')
ok "http: HTTP/2.0 -> 505" http_probe http_version 505 \
    < <(printf 'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/2.0\r\nHost: x\r\n\r\n')
ok "http: 10 requests of garbage -> each refused (400) or closed" py http_garbage <<'EOF'
import random
rnd = random.Random(6)
bad = [b'\x00' * 64 + b'\r\n\r\n', b'\x16\x03\x01\x00\x05hello\r\n\r\n', b'GET\r\n\r\n', b'RDG_OUT_DATA\r\n\r\n',
       b'RDG_OUT_DATA / HTTP/1.1 extra\r\n\r\n', b'\xff\xfe\xfd\r\n\r\n',
       b'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\rX: y\r\n\r\n',
       b'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nNoColon\r\n\r\n',
       bytes(rnd.randrange(256) for _ in range(3000)) + b'\r\n\r\n',
       b'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n']
for i, b in enumerate(bad):
    c = Conn(E.gw, timeout=5)
    try:
        c.send(b)
        r = read_response(c)
        st = r.status
    except (Closed, ProtocolError, OSError):
        st = None
    eof, _ = c.wait_eof(3)
    check(st in (400, None) and eof, 'garbage #%d: %s, then closed' % (i, st))
EOF
ok "http: plain-text HTTP on the TLS port -> closed" py http_plain <<'EOF'
c = Conn(E.gw, tls=False)
c.send(b'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: x\r\n\r\n')
eof, n = c.wait_eof(5)
check(eof, 'closed (%d bytes of TLS alert)' % n)
EOF
ok "http: no Authorization -> 401 WWW-Authenticate: Negotiate, NTLM, connection kept" py http_noauth <<'EOF'
c = Conn(E.gw)
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id())))
r = read_response(c)
offers = [v for k, v in r.headers if k.lower() == 'www-authenticate']
check(r.status == 401 and offers == ['Negotiate', 'NTLM'], '401 with Negotiate, NTLM (got %d %s)' % (r.status, offers))
c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), auth='Basic YWxpY2U6U2VjcmV0MQ==')))
r = read_response(c)
offers = [v for k, v in r.headers if k.lower() == 'www-authenticate']
check(r.status == 401 and offers == ['Negotiate', 'NTLM'], 'Basic (not enabled) is answered with another 401 without Basic')
EOF
ok "http: daemon alive and serving" py http_after <<'EOF'
healthy(E)
EOF
revive

# ---------------------------------------------------------------- NTLM
# ntlm_bad NAME KNOBS: one NTLM login with a defect (keyword arguments of ntlm_authenticate),
# each from its own 127.0.0.x so that the per-address logon rate limit stays out of the way
SRC_N=10
ntlm_bad() {
    SRC_N=$((SRC_N + 1))
    KNOBS=$2 SRC=127.0.0.$SRC_N py "$1" <<'EOF'
kw = eval('dict(%s)' % os.environ['KNOBS'])
n = log_count(E, 'EVENT 201')
c = Conn(E.gw, source=os.environ['SRC'])
r, neg, chal, auth = http_ntlm(c, 'RDG_OUT_DATA', E.creds(), new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==', **kw)
check(r.status == 401, '401 (got %d)' % r.status)
check(c.wait_eof(3)[0], 'connection closed')
time.sleep(0.2)
check(log_count(E, 'EVENT 201') == n + 1, 'EVENT 201 logged')
EOF
}
ok "ntlm: AUTHENTICATE without a MIC (and no MsvAvFlags) -> 401, EVENT 201" ntlm_bad ntlm_nomic "mic=False"
ok "ntlm: MIC flagged but wrong -> 401" ntlm_bad ntlm_wrongmic "wrong_mic=True"
ok "ntlm: MsvAvFlags says no MIC, MIC field zero -> 401" ntlm_bad ntlm_flag0 "mic=False, mic_flag=0"
ok "ntlm: wrong channel binding -> 401" ntlm_bad ntlm_cbt "cbt=bytes(range(16))"
ok "ntlm: no channel binding -> 401" ntlm_bad ntlm_nocbt "no_cbt=True"
ok "ntlm: SPN HTTP/evil.example -> 401" ntlm_bad ntlm_spn "spn='HTTP/evil.example'"
ok "ntlm: timestamp not the one sent in the CHALLENGE -> 401" ntlm_bad ntlm_ts "timestamp=b'\\x00\\x80\\x3e\\xd5\\xde\\xb1\\x9d\\x01'"
ok "ntlm: domain changed after hashing (CONTOSO hashed, contoso sent) -> 401" ntlm_bad ntlm_domcase "domain='contoso', hash_domain='CONTOSO'"
ok "ntlm: an AUTHENTICATE replayed on another connection -> 401" py ntlm_replay <<'EOF'
os.environ['SRC'] = '127.0.0.30'
c = Conn(E.gw)
r, neg, chal, auth = http_ntlm(c, 'RDG_OUT_DATA', E.creds(), new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==')
check(r.status == 101, 'the original login works (101)')
# replay after a fresh NEGOTIATE/CHALLENGE on a new connection
c2 = Conn(E.gw, source=os.environ['SRC'])
c2.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), auth='NTLM ' + base64.b64encode(ntlm_negotiate()).decode())))
r2 = read_response(c2)
check(r2.status == 401, 'new challenge')
c2.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), auth='NTLM ' + base64.b64encode(auth).decode())))
check(read_response(c2).status == 401, 'replayed AUTHENTICATE after a new CHALLENGE -> 401')
# replay with no NEGOTIATE at all
c3 = Conn(E.gw, source=os.environ['SRC'])
c3.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), auth='NTLM ' + base64.b64encode(auth).decode())))
check(read_response(c3).status == 401, 'replayed AUTHENTICATE as the first message -> 401')
# a second AUTHENTICATE on the same connection after a failed one: the context is gone
c4 = Conn(E.gw, source=os.environ['SRC'])
r4, _, _, a4 = http_ntlm(c4, 'RDG_OUT_DATA', E.creds(), new_conn_id(), cbt=b'\0' * 15 + b'\1')
check(r4.status == 401, 'bad login')
check(c4.wait_eof(3)[0], 'and that connection is closed')
EOF
ok "ntlm: raw NTLM under the Negotiate scheme works" py ntlm_negotiate_scheme <<'EOF'
c = Conn(E.gw)
r, _, _, _ = http_ntlm(c, 'RDG_OUT_DATA', E.creds(), new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==', scheme='Negotiate')
check(r.status == 101, '101 (got %d)' % r.status)
EOF
ok "ntlm: 20 wrong passwords -> 20 x 401, 20 x EVENT 201 (5 bad credentials, then rate limited)" \
    py ntlm_brute <<'EOF'
src = '127.0.0.40'
pat_bad = 'EVENT 201 Username="CONTOSO\\\\alice" IpAddress="%s" AuthType="NTLM" ConnectionProtocol="HTTP" ErrorCode="1326"' % src
pat_rl = 'IpAddress="%s" AuthType="NTLM" ConnectionProtocol="HTTP" ErrorCode="1909"' % src
nb, nr = log_count(E, pat_bad), log_count(E, pat_rl)
bad = Creds.from_password(r'CONTOSO\alice', 'wrong')
t0 = time.monotonic()
codes = []
for i in range(20):
    c = Conn(E.gw, source=src)
    c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==', auth='NTLM ' + base64.b64encode(ntlm_negotiate()).decode())))
    r = read_response(c)
    if r.status == 401 and ' ' in (r.header('WWW-Authenticate') or ''):
        neg = ntlm_negotiate()
        # the NEGOTIATE above is the one the MIC must cover
        chal = base64.b64decode(r.header('WWW-Authenticate').split(' ', 1)[1])
        a = ntlm_authenticate(bad, neg, chal, c.cert)
        c.send(build_request('RDG_OUT_DATA', std_headers(new_conn_id(), ws_key='dGhlIHNhbXBsZSBub25jZQ==', auth='NTLM ' + base64.b64encode(a).decode())))
        r = read_response(c)
    codes.append(r.status)
    c.close()
dt = time.monotonic() - t0
check(codes == [401] * 20, 'all 20 refused with 401')
time.sleep(0.3)
got_bad, got_rl = log_count(E, pat_bad) - nb, log_count(E, pat_rl) - nr
note('20 wrong passwords from %s in %.2f s: %d EVENT 201 "bad credentials", then %d EVENT 201 "rate limited" (1909)' % (src, dt, got_bad, got_rl))
check(got_bad + got_rl == 20, 'each refusal logged as an EVENT 201')
check(got_bad == 5 and got_rl == 15, 'the address is rate limited after 5 failures (auth-failures default)')
try:
    t = open_ws(E.gw, E.creds(), source=src)
    blocked = False
except ProtocolError:
    blocked = True
check(blocked, 'while blocked, the right password from that address is refused too')
t = tunnel_to(E.gw, E.creds(), E.echo, source='127.0.0.41')
check(echo_roundtrip(t), 'another address logs in meanwhile')
time.sleep(3.2)
t = tunnel_to(E.gw, E.creds(), E.echo, source=src)
check(echo_roundtrip(t), 'after auth-block (3 s) the right password works from that address again')
EOF
ok "ntlm: daemon alive and serving" py ntlm_after <<'EOF'
healthy(E); healthy(E, legacy=True)
EOF
revive

# ---------------------------------------------------------------- target and client faults
ok "fault: target port closed -> CHANNEL_RESPONSE E_PROXY_TS_CONNECTFAILED (0x800759DD), close" \
    py fault_refused <<'EOF'
n = log_count(E, 'EVENT 304')
t = open_ws(E.gw, E.creds())
for p, r in ((handshake_request(), HANDSHAKE_RESPONSE), (tunnel_create(), TUNNEL_RESPONSE), (tunnel_auth(), TUNNEL_AUTH_RESPONSE)):
    t.send_pkt(p); t.expect(r)
t.send_pkt(channel_create(['127.0.0.1'], E.dead))
refused(t, CHANNEL_RESPONSE, E_PROXY_TS_CONNECTFAILED)
time.sleep(0.2)
check(log_count(E, 'EVENT 304') == n + 1, 'EVENT 304 logged')
EOF
ok "fault: EVENT 304 names the resource and the error" \
    bash -c "grep -q 'EVENT 304 .*Resource=\"127.0.0.1\".*ErrorCode=\"2147965405\"' '$WORK/gw.log'"
ok "fault: target closes after 1000 bytes -> the 1000 bytes, CLOSE_CHANNEL 0xA0, EOF" py fault_target_fin <<'EOF'
srv = TargetServer(E.closer, close_after=1000)
t = tunnel_to(E.gw, E.creds(), E.closer)
msg = os.urandom(3000)
t.send_pkt(data(msg))
got = b''
while True:
    rt, body = t.recv_pkt(5)
    if rt != DATA:
        break
    got += body[2:]
check(got == msg[:1000], 'exactly the 1000 echoed bytes arrived first (got %d)' % len(got))
check(rt == CLOSE_CHANNEL and status_of(rt, body) == CLOSE_BAD_ARGUMENTS, 'CLOSE_CHANNEL with 0x000000A0 (got %s 0x%x)' % (PKT_NAMES.get(rt), status_of(rt, body) or 0))
t.send_pkt(close_channel_response(0))
t0 = time.monotonic()
check(t.wait_eof(3)[0], 'EOF after our CLOSE_CHANNEL_RESPONSE')
note('tunnel closed %.0f ms after CLOSE_CHANNEL_RESPONSE' % ((time.monotonic() - t0) * 1000))
EOF
ok "fault: target resets (RST) mid-stream -> CLOSE_CHANNEL, then EOF without our reply (close-grace)" \
    py fault_target_rst <<'EOF'
srv = TargetServer(E.closer, close_after=1000, rst=True)
t = tunnel_to(E.gw, E.creds(), E.closer)
msg = os.urandom(20000)
t.send_pkt(data(msg))
got = b''
while True:
    rt, body = t.recv_pkt(5)
    if rt != DATA:
        break
    got += body[2:]
check(msg.startswith(got) and len(got) <= 1000, 'no more than the 1000 echoed bytes, in order (got %d)' % len(got))
check(rt == CLOSE_CHANNEL, 'CLOSE_CHANNEL (got %s, status 0x%x)' % (PKT_NAMES.get(rt), status_of(rt, body) or 0))
t0 = time.monotonic()
check(t.wait_eof(5)[0], 'EOF although we never answered')
dt = time.monotonic() - t0
note('EOF %.2f s after CLOSE_CHANNEL without a CLOSE_CHANNEL_RESPONSE (close-grace 1 s)' % dt)
check(dt < 3, 'within close-grace plus slack')
EOF
ok "fault: legacy: target closes -> CLOSE_CHANNEL on OUT, both channels closed" py fault_target_legacy <<'EOF'
srv = TargetServer(E.closer, close_after=10)
t = tunnel_to(E.gw, E.creds(), E.closer, legacy=True)
t.send_pkt(data(b'0123456789abcdef'))
check(t.recv_data(10) == b'0123456789', 'the 10 bytes')
rt, body = t.recv_pkt(5)
check(rt == CLOSE_CHANNEL, 'CLOSE_CHANNEL')
t.send_pkt(close_channel_response(0))
check(t.wait_eof(3)[0], 'OUT closed')
check(t.inc.wait_eof(3)[0], 'IN closed')
EOF
ok "fault: target half-closes (write side) -> its data, CLOSE_CHANNEL, EOF; target sees EOF" py fault_target_half <<'EOF'
srv = TargetServer(E.half, half_close_after=500)
t = tunnel_to(E.gw, E.creds(), E.half)
msg = os.urandom(2000)
t.send_pkt(data(msg))
got = b''
while True:
    rt, body = t.recv_pkt(5)
    if rt != DATA:
        break
    got += body[2:]
check(got == msg[:500], 'the 500 bytes sent before the half-close (got %d)' % len(got))
check(rt == CLOSE_CHANNEL and status_of(rt, body) == CLOSE_BAD_ARGUMENTS, 'CLOSE_CHANNEL 0xA0')
t.send_pkt(close_channel_response(0))
check(t.wait_eof(3)[0], 'EOF')
time.sleep(0.3)
check(srv.eof_seen == 1, 'the target saw the gateway close its side')
EOF
ok "fault: client half-closes TCP (no TLS close_notify) -> tunnel ends, target sees EOF" py fault_client_half <<'EOF'
srv = TargetServer(E.half, half_close_after=1 << 30)
t = tunnel_to(E.gw, E.creds(), E.half)
check(echo_roundtrip(t, 100), 'echo')
t.conn.half_close()
check(t.wait_eof(3)[0], 'the gateway closes the connection')
time.sleep(0.3)
check(srv.eof_seen == 1, 'the target connection was closed')
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty')
EOF
ok "fault: client sends TLS close_notify -> tunnel ends" py fault_client_tls_close <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
check(echo_roundtrip(t, 100), 'echo')
try:
    t.conn.sock.unwrap()
except (OSError, ValueError):
    pass
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty after %.1f s' % dt)
EOF
ok "fault: legacy: IN body ends (last chunk) -> tunnel ends, OUT closed" py fault_legacy_in_end <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
check(echo_roundtrip(t, 100), 'echo')
t.end_in_body()
check(t.wait_eof(3)[0], 'OUT closed')
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty')
EOF
ok "fault: legacy: IN TCP half-closed -> OUT closed" py fault_legacy_in_half <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
check(echo_roundtrip(t, 100), 'echo')
t.inc.half_close()
check(t.wait_eof(3)[0], 'OUT closed')
EOF
ok "fault: legacy: OUT closed by the client -> IN closed" py fault_legacy_out_close <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo, legacy=True)
check(echo_roundtrip(t, 100), 'echo')
t.out.abort()
check(t.inc.wait_eof(3)[0], 'IN closed')
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty')
EOF
# client vanishes: a separate process holds a tunnel and is killed with SIGKILL
vanish() { # vanish NAME [--legacy]
    local name=$1; shift
    $PYTHON "$SUPPORT/rdgclient.py" tunnel --gw "$GPORT" --users "$WORK/users" \
        --user 'CONTOSO\alice' --target-port "$ECHO" --echo-check --hold 60 "$@" \
        >"$WORK/$name.out" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    disown "$pid" # no "Killed" notice from the shell
    wait_for 10 "$WORK/$name.out" "echo ok" || return 1
    [ "$("$TSGWCTL" -s "$SOCK" --json connections | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] || return 1
    kill -KILL "$pid"
    local t0=$(date +%s%N) i
    for i in $(seq 1 50); do
        if [ "$("$TSGWCTL" -s "$SOCK" --json connections | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ]; then
            log "$name: registry empty $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGKILL"
            return 0
        fi
        sleep 0.1
    done
    return 1
}
ok "fault: WebSocket client killed (SIGKILL) -> the registry drops it within 5 s" vanish vanish_ws
ok "fault: legacy client killed (SIGKILL) -> the registry drops it within 5 s" vanish vanish_legacy --legacy
ok "fault: client RST with data in flight -> the registry drops it" py fault_client_rst <<'EOF'
t = tunnel_to(E.gw, E.creds(), E.echo)
for i in range(20):
    t.send_pkt(data(b'z' * 60000))
t.abort()
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty after %.1f s' % dt)
EOF
ok "fault: daemon alive and serving" py fault_after <<'EOF'
healthy(E); healthy(E, legacy=True)
EOF
revive

# ---------------------------------------------------------------- resources under pressure
# Under ASan, freed memory sits in the allocator's quarantine (256 MB by default), so RSS says
# little there: the bound is loose, and LeakSanitizer at the final SIGTERM is the leak check.
RSS_SLACK_KB=$((ASAN ? 320 * 1024 : 16 * 1024))
export TSGW_RSS_SLACK_KB=$RSS_SLACK_KB
ok "burst: the target writes 1 MB at once -> intact, in DATA packets of at most 16384 bytes" \
    py burst <<'EOF'
# A recv() from the target can return up to 65535 bytes; with the DATA header that is a
# WebSocket payload over 65535, which needs the 10-byte frame header (64-bit length).
blob = os.urandom(1 << 20)
srv = TargetServer(E.closer, greeting=blob)
t = tunnel_to(E.gw, E.creds(), E.closer)
got = bytearray()
sizes = []
try:
    while len(got) < len(blob):
        rt, body = t.recv_pkt(10)
        if rt == DATA:
            got += body[2:]
            sizes.append(len(body) - 2)
except Closed as e:
    note('tunnel closed after %d of %d bytes: %s' % (len(got), len(blob), e))
note('%d DATA packets, largest %d bytes' % (len(sizes), max(sizes or [0])))
if bytes(got) != blob[:len(got)]:
    i = next(k for k in range(len(got)) if got[k] != blob[k])
    shift = next((s for s in range(1, 32) if got[i:i + 64] == blob[i + s:i + s + 64]), None)
    note('payload differs from byte %d on%s' % (i, '' if shift is None else ', shifted by %d bytes' % shift))
check(bytes(got) == blob, 'the 1 MB arrived intact')
check(max(sizes or [0]) <= 16384, 'no DATA packet over 16384 bytes (what Windows sends, docs/windows-clients.md D14)')
check(not t.masked_seen, 'server frames unmasked')
EOF
revive
# slow_reader NAME [legacy]: the target floods 200 MB; the client reads nothing for 3 s, then all
slow_reader() {
    MODE=${2:-websocket} py "$1" <<'EOF'
TOTAL = 200 << 20
legacy = os.environ['MODE'] == 'legacy'
srv = TargetServer(E.flood, mode='flood', flood=TOTAL)
rss0 = vm_rss_kb(E.pid)
t = tunnel_to(E.gw, E.creds(), E.flood, legacy=legacy)
time.sleep(3)
stalled_sent = srv.sent
rss1 = vm_rss_kb(E.pid)
t0 = time.monotonic()
got = 0
rt = None
try:
    while got < TOTAL:
        rt, body = t.recv_pkt(10)
        if rt == DATA:
            got += len(body) - 2
        elif rt != KEEPALIVE:
            break
except Closed as e:
    note('%s tunnel closed after %d bytes: %s' % (os.environ['MODE'], got, e))
    try:
        os.kill(E.pid, 0)
    except OSError:
        check(False, 'tsgwd survived the flood (it died)')
dt = time.monotonic() - t0
rss2 = vm_rss_kb(E.pid)
note('%s: VmRSS %d kB before, %d kB after 3 s of a stalled reader (target had sent %.1f MB), %d kB after draining 200 MB (%.0f MB/s)'
     % (os.environ['MODE'], rss0, rss1, stalled_sent / 1e6, rss2, got / dt / 1e6))
check(got == TOTAL, 'all 200 MB arrived (got %d)' % got)
check(stalled_sent < 48 << 20, 'the target was throttled while the client did not read (%.1f MB in socket buffers and relay)' % (stalled_sent / 1e6))
check(rss1 - rss0 < E.rss_slack_kb, 'RSS growth while stalled %d kB < %d kB' % (rss1 - rss0, E.rss_slack_kb))
check(rss2 - rss0 < E.rss_slack_kb, 'RSS growth after 200 MB %d kB < %d kB' % (rss2 - rss0, E.rss_slack_kb))
rt, body = t.recv_pkt(5)
check(rt == CLOSE_CHANNEL, 'then the target\'s close arrives as CLOSE_CHANNEL')
EOF
}
ok "slow reader: WebSocket: target floods 200 MB, client stalls 3 s -> RSS bounded, all data arrives" \
    slow_reader slow_reader_ws
revive
ok "slow reader: legacy: target floods 200 MB, client stalls 3 s -> RSS bounded, all data arrives" \
    slow_reader slow_reader_legacy legacy
revive
ok "slow target: the client floods while the target never reads -> bounded, then refused writes" \
    py slow_target <<'EOF'
srv = TargetServer(E.stall, mode='stall')
rss0 = vm_rss_kb(E.pid)
t = tunnel_to(E.gw, E.creds(), E.stall)
t.settimeout(3)
chunk = data(b'q' * 65535)
frame = ws_frame(WS_BINARY, chunk)
sent = 0
t0 = time.monotonic()
try:
    while sent < (300 << 20) and time.monotonic() - t0 < 20:
        t.conn.sock.sendall(frame)
        sent += len(chunk)
except (socket.timeout, TimeoutError):
    pass
rss1 = vm_rss_kb(E.pid)
note('client pushed %.1f MB before the gateway stopped reading; VmRSS %d -> %d kB' % (sent / 1e6, rss0, rss1))
check(sent < 64 << 20, 'the gateway stopped reading after a bounded amount')
check(rss1 - rss0 < E.rss_slack_kb, 'RSS growth %d kB < %d kB' % (rss1 - rss0, E.rss_slack_kb))
t.abort()
srv.stop()
ok_, dt = wait_connections(E, 0, 5)
check(ok_, 'registry empty after the client went away')
EOF
ok "pressure: daemon alive and serving" py pressure_after <<'EOF'
healthy(E)
EOF
revive

# ---------------------------------------------------------------- 2000 tunnel cycles
export TSGW_CYCLE_RSS_SLACK_KB=$((ASAN ? 320 * 1024 : 4 * 1024))
PY_TIMEOUT=170
ok "cycles: 2000 connect/auth/tunnel/disconnect cycles, 4 in flight -> no fd or memory growth" \
    py cycles <<'EOF'
import multiprocessing
def worker(args):
    start, n = args
    cred = E.creds()
    done = 0
    for i in range(start, start + n):
        kind = i % 10
        t = tunnel_to(E.gw, cred, E.echo, legacy=(kind in (3, 8)))
        if kind == 5:          # vanish: RST with the channel open
            t.send_pkt(data(b'r' * 100))
            t.abort()
        elif kind == 7:        # misbehave: a second CHANNEL_CREATE, refused
            t.send_pkt(channel_create(['127.0.0.1'], E.echo))
            t.recv_pkt(5)
            t.wait_eof(5)
            t.close()
        else:                  # well behaved: echo, CLOSE_CHANNEL, EOF
            if not echo_roundtrip(t, 100):
                return -1
            t.send_pkt(close_channel(0))
            t.recv_pkt(5)
            t.finish(5)
            t.close()
        done += 1
    return done
def run(total, procs=4):
    with multiprocessing.get_context('fork').Pool(procs) as pool:
        return sum(pool.map(worker, [(k * (total // procs), total // procs) for k in range(procs)]))
def settle():
    ok_, _ = wait_connections(E, 0, 10)
    time.sleep(1.0)   # let the sweep and reap run
    return ok_
check(run(200) == 200, '200 warm-up cycles')
check(settle(), 'registry empty after the warm-up')
fd0, rss0 = fd_count(E.pid), vm_rss_kb(E.pid)
t0 = time.monotonic()
n = run(2000)
dt = time.monotonic() - t0
check(n == 2000, '2000 cycles completed (%d)' % n)
check(settle(), 'registry empty afterwards')
fd1, rss1 = fd_count(E.pid), vm_rss_kb(E.pid)
note('2000 cycles in %.1f s (%.0f/s); fds %d -> %d; VmRSS %d -> %d kB (%+d kB)' % (dt, n / dt, fd0, fd1, rss0, rss1, rss1 - rss0))
check(fd1 <= fd0 + 1, 'no fd growth (%d -> %d)' % (fd0, fd1))
check(rss1 - rss0 < E.cycle_rss_slack_kb, 'RSS growth %d kB < %d kB' % (rss1 - rss0, E.cycle_rss_slack_kb))
EOF
PY_TIMEOUT=60
revive

# ---------------------------------------------------------------- slowloris next to a real client
# 300 connections (60 from each of 127.0.0.2..6) dribble a request header one byte per second;
# 127.0.0.7 fills its per-address quota of unauthenticated connections (64) and has the 65th
# refused; meanwhile xfreerdp (from 127.0.0.1) must still get through.
start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
GWARGS="/g:127.0.0.1:$GPORT /gu:CONTOSO\\alice /gp:Secret1"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(now_ms)
xfr sl_base /v:127.0.0.1:$TPORT $GWARGS /u:test /p:test +auth-only
rc=$?
BASE_MS=$(( $(now_ms) - t0 ))
ok "slowloris: xfreerdp +auth-only without the flood" [ $rc -eq 0 ]
$PYTHON - >"$WORK/slowloris.log" 2>&1 <<EOF &
import sys, time, socket, ssl
sys.path.insert(0, "$SUPPORT")
import rdgclient as R
conns = []
for a in range(2, 7):
    for i in range(60):
        c = R.Conn($GPORT, source='127.0.0.%d' % a, timeout=10)
        c.send(b'R')
        conns.append(c)
print('flood %d' % len(conns), flush=True)
quota = []
for i in range(64):
    c = R.Conn($GPORT, source='127.0.0.7', timeout=10)
    c.send(b'R')
    quota.append(c)
print('quota %d' % len(quota), flush=True)
try:
    c = R.Conn($GPORT, source='127.0.0.7', timeout=5)
    c.send(b'RDG_OUT_DATA / HTTP/1.1\r\n\r\n')
    c.recv_some()
    print('65th: accepted', flush=True)
except (OSError, R.Closed, ssl.SSLError) as e:
    print('65th: refused (%s)' % type(e).__name__, flush=True)
t = R.tunnel_to($GPORT, R.Creds.from_users_file("$WORK/users", r'CONTOSO\alice'), $ECHO, source='127.0.0.8')
print('other address: %s' % ('tunnel ok' if R.echo_roundtrip(t) else 'echo failed'), flush=True)
t.close()
print('ready', flush=True)
line = b'RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '
alive = conns + quota
for k in range(1, 25):
    time.sleep(1)
    still = []
    for c in alive:
        try:
            c.send(line[k % len(line):k % len(line) + 1])
            still.append(c)
        except (OSError, R.Closed):
            pass
    alive = still
    print('tick %d: %d open' % (k, len(alive)), flush=True)
EOF
SLOW_PID=$!
PIDS+=($SLOW_PID)
wait_for 60 "$WORK/slowloris.log" "^ready" || log "slowloris setup did not finish: $(tail -n 3 "$WORK/slowloris.log")"
sleep 2
t0=$(now_ms)
xfr sl_flood /v:127.0.0.1:$TPORT $GWARGS /u:test /p:test +auth-only
rc=$?
FLOOD_MS=$(( $(now_ms) - t0 ))
ok "slowloris: 300 dribbling connections were all accepted" has slowloris "^flood 300"
ok "slowloris: 64 unauthenticated connections from 127.0.0.7 accepted" has slowloris "^quota 64"
ok "slowloris: the 65th from 127.0.0.7 is refused (max-unauthenticated-per-address)" has slowloris "^65th: refused"
ok "slowloris: the refusal is logged" has gw "refusing connection from 127.0.0.7: too many unauthenticated"
ok "slowloris: another address (127.0.0.8) still gets a working tunnel" has slowloris "other address: tunnel ok"
ok "slowloris: xfreerdp +auth-only still succeeds during the flood" [ $rc -eq 0 ]
ok "slowloris: the flood is still connected while xfreerdp got through" \
    bash -c "[ \"\$(grep -o '^tick [0-9]*: [0-9]* open' '$WORK/slowloris.log' | tail -n1 | awk '{print \$3}')\" -ge 300 ]"
stop_pid "$SLOW_PID"
t0=$(now_ms)
xfr sl_after /v:127.0.0.1:$TPORT $GWARGS /u:test /p:test +auth-only
rc2=$?
AFTER_MS=$(( $(now_ms) - t0 ))
log "xfreerdp +auth-only connect time: ${BASE_MS} ms before (cold), ${FLOOD_MS} ms during the flood of 364 slowloris connections, ${AFTER_MS} ms after it"
ok "slowloris: xfreerdp +auth-only after the flood" [ $rc2 -eq 0 ]
ok "slowloris: daemon alive and serving" py sl_after <<'EOF'
ok_, dt = wait_connections(E, 0, 5)
healthy(E)
EOF
revive

# ---------------------------------------------------------------- SIGTERM with live tunnels
$PYTHON - >"$WORK/sigterm.log" 2>&1 <<'EOF' &
import os, sys, time
from rdgclient import *
E = Env()
ts = [tunnel_to(E.gw, E.creds(), E.echo), tunnel_to(E.gw, E.creds(), E.echo),
      tunnel_to(E.gw, E.creds(), E.echo, legacy=True)]
for t in ts:
    check(echo_roundtrip(t, 500), '%s tunnel open' % t.mode)
print('ready', flush=True)
for i, t in enumerate(ts):
    rt, body = t.recv_pkt(10)
    while rt in (DATA, KEEPALIVE):
        rt, body = t.recv_pkt(10)
    check(rt == CLOSE_CHANNEL and status_of(rt, body) == CLOSE_CONNECTIONABORTED,
          'tunnel %d (%s): CLOSE_CHANNEL 0x4D4 (got %s 0x%x)' % (i, t.mode, PKT_NAMES.get(rt), status_of(rt, body) or 0))
    if i == 0:
        t.send_pkt(close_channel_response(0))   # the others never answer
for i, t in enumerate(ts):
    check(t.wait_eof(6)[0], 'tunnel %d (%s): EOF' % (i, t.mode))
EOF
TERM_PY=$!
PIDS+=($TERM_PY)
wait_for 20 "$WORK/sigterm.log" "^ready"
ok "sigterm: three live tunnels (2 WebSocket, 1 legacy) registered" \
    bash -c "[ \"\$('$TSGWCTL' -s '$SOCK' --json connections | $PYTHON -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 3 ]"
t0=$(now_ms)
kill -TERM "$GW_PID"
for i in $(seq 1 60); do alive || break; sleep 0.1; done
STOP_MS=$(( $(now_ms) - t0 ))
log "tsgwd exited ${STOP_MS} ms after SIGTERM"
ok "sigterm: tsgwd exits within 5 s" bash -c "! kill -0 $GW_PID 2>/dev/null"
wait "$GW_PID"
rc=$?
ok "sigterm: exit status 0 (under ASan: no leak reported)" [ $rc -eq 0 ]
wait "$TERM_PY"
rc=$?
ok "sigterm: each client got CLOSE_CHANNEL 0x4D4, then EOF" [ $rc -eq 0 ]
ok "sigterm: clean stop logged" has gw "info: stopped"
ok "no sanitizer report in any daemon log" \
    bash -c "! grep -l 'Sanitizer\|runtime error' '$WORK'/gw*.log"
ok "tsgwd never died during the run" [ "$CRASHES" -eq 0 ]

finish
