#!/usr/bin/env bash
# Issue 2: the real FreeRDP client tunnels through tsgwd to a real RDP server, in WebSocket and
# legacy mode; refusals for wrong password, unknown user, resource/port outside every RAP.
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
GPORT=$(free_port)
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
add_user "$WORK/users" 'CONTOSO\mallory' 'Mal1' 'Outsiders'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
netbios-domain = CONTOSO
gateway-names = 127.0.0.1; localhost
[limits]
auth-failures = 4
auth-block = 3s
[resource-group:Lab]
resources = 127.0.0.1; rdp-*.corp.example; 10.1.0.0/16
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users      ; only staff
resource-group = Lab
ports = $TPORT
CONF

ok "tsgwd -t accepts the configuration" bash -c "\"$TSGWD\" -t -c \"$WORK/tsgw.conf\" >/dev/null"
printf '[gateway]\nlisten = nowhere\n[rap:x]\nports = 0\n' >"$WORK/bad.conf"
"$TSGWD" -t -c "$WORK/bad.conf" >"$WORK/badconf.log" 2>&1
rc=$?
ok "tsgwd -t rejects a bad configuration with exit 1" [ $rc -eq 1 ]
ok "tsgwd -t names file and line of each problem" has badconf "bad.conf:2: listen"
ok "tsgwd -t reports the bad port on its line" has badconf "bad.conf:4: ports"

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }

GW="/g:127.0.0.1:$GPORT /gu:CONTOSO\\alice /gp:Secret1"
# output coalescing (docs/internals.md): a request that comes with the client's TLS 1.3
# Finished is answered with the two session tickets and the 401 in one write (one segment)
python3 "$(dirname "$0")/tls_segments.py" 127.0.0.1 "$GPORT" >"$WORK/segs.log" 2>&1
ok "TLS 1.3 session tickets and the first answer leave in one segment" \
    has segs "segments=1 tickets=yes status=401"
ok "the private key is held by the key process" has gw "private key held by the key process"
KEYPID=$(grep -o 'key process (pid [0-9]*' "$WORK/gw.log" | grep -o '[0-9]*$')
ok "the key process is a child of tsgwd named tsgwd-key" \
    bash -c "[ \"\$(ps -o ppid= -p $KEYPID | tr -d ' ')\" = $GW_PID ] && [ \"\$(cat /proc/$KEYPID/comm)\" = tsgwd-key ]"

# WebSocket mode (the default /gt:http)
xfr ws /v:127.0.0.1:$TPORT $GW /gt:http /u:test /p:test +auth-only
rc=$?
ok "websocket: xfreerdp +auth-only exits 0 through tsgwd" [ $rc -eq 0 ]
ok "websocket: upgraded (101)" has ws "RDG_OUT_DATA authorization result: 101"
ok "websocket: channel response RPC_S_OK" has ws "channel response errorCode=RPC_S_OK"
ok "websocket: client reached CONNECTION_STATE_ACTIVE" has ws "CONNECTION_STATE_ACTIVE"
ok "websocket: event 302 logged" has gw 'EVENT 302 Username="CONTOSO\\\\alice".*Transport="websocket"'

# Legacy two-channel mode
xfr legacy /v:127.0.0.1:$TPORT $GW /gt:http,no-websockets /u:test /p:test +auth-only
rc=$?
ok "legacy: xfreerdp +auth-only exits 0 through tsgwd" [ $rc -eq 0 ]
ok "legacy: OUT channel 200" has legacy "RDG_OUT_DATA authorization result: 200"
ok "legacy: IN channel 200" has legacy "RDG_IN_DATA authorization result: 200"
ok "legacy: client reached CONNECTION_STATE_ACTIVE" has legacy "CONNECTION_STATE_ACTIVE"
ok "legacy: event 302 logged" has gw 'EVENT 302 .*Transport="legacy"'

# A live session: the target sees its client coming from tsgwd, not from xfreerdp
xfr_bg live /v:127.0.0.1:$TPORT $GW /u:test /p:test
LIVE=$XFR_PID
wait_for 30 "$WORK/live.log" "CONNECTION_STATE_ACTIVE"
sleep 1
ss -tnpH state established "( dport = :$TPORT )" >"$WORK/ss.log" 2>&1
ok "live: the target's peer is tsgwd" has ss "tsgwd"
ok "live: xfreerdp holds no connection to the target" hasnt ss "xfreerdp"
ok "live: shadow server activated the client" has target "is activated"
stop_pid "$LIVE"
wait_for 5 "$WORK/gw.log" "EVENT 303" 
ok "live: event 303 with byte counts and duration" \
    has gw 'EVENT 303 Username="CONTOSO\\\\alice".*BytesReceived="[1-9][0-9]*" BytesTransfered="[1-9][0-9]*" SessionDuration="[0-9]*"'

# Refusals
xfr badpw /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:wrong /gt:http \
    /u:test /p:test +auth-only
rc=$?
ok "wrong password: refused" [ $rc -ne 0 ]
ok "wrong password: client sees 401 (access denied)" has badpw "ACCESS_DENIED"
ok "wrong password: event 201 logged" has gw 'EVENT 201 Username="CONTOSO\\\\alice".*bad credentials'

xfr nouser /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\nobody' /gp:x /gt:http \
    /u:test /p:test +auth-only
rc=$?
ok "unknown user: refused" [ $rc -ne 0 ]
ok "unknown user: client sees access denied" has nouser "ACCESS_DENIED"

xfr nocap /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\mallory' /gp:Mal1 /gt:http \
    /u:test /p:test +auth-only
rc=$?
ok "user outside every CAP: refused" [ $rc -ne 0 ]
ok "user outside every CAP: E_PROXY_NAP_ACCESSDENIED in the client log" has nocap "E_PROXY_NAP_ACCESSDENIED"

OTHER=$(free_port)
xfr badport /v:127.0.0.1:$OTHER $GW /gt:http /u:test /p:test +auth-only
rc=$?
ok "port outside every RAP: refused" [ $rc -ne 0 ]
ok "port outside every RAP: E_PROXY_RAP_ACCESSDENIED in the client log" has badport "E_PROXY_RAP_ACCESSDENIED"

xfr badhost /v:127.0.0.2:$TPORT $GW /gt:http,no-websockets /u:test /p:test +auth-only
rc=$?
ok "resource outside every RAP: refused" [ $rc -ne 0 ]
ok "resource outside every RAP: E_PROXY_RAP_ACCESSDENIED in the client log" has badhost "E_PROXY_RAP_ACCESSDENIED"
ok "RAP refusal: event 301 logged" has gw "EVENT 301"

# a host name: resolved on the resolver thread, then allowed by the resolved address
xfr byname /v:localhost:$TPORT $GW /u:test /p:test +auth-only
rc=$?
ok "a target given by name (localhost) is resolved and allowed by its address" [ $rc -eq 0 ]
ok "the 302 event names the requested resource and the address connected to" \
    has gw 'EVENT 302 .*Resource="localhost".*TargetAddress="127.0.0.1"'

# still serving after all of that
xfr again /v:127.0.0.1:$TPORT $GW /u:test /p:test +auth-only
rc=$?
ok "daemon still serves after refusals" [ $rc -eq 0 ]
ok "daemon is still running" kill -0 "$GW_PID"

# repeated wrong passwords: alice is blocked from this address for a while, then let in again
for n in 1 2 3 4; do
    xfr "bad$n" /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:nope$n \
        /gt:http /u:test /p:test +auth-only
done
ok "4 failed logons: alice is blocked from this address" \
    has gw "4 failed logons for this account from this address"
xfr blocked /v:127.0.0.1:$TPORT $GW /u:test /p:test +auth-only
rc=$?
ok "while blocked, even the right password is refused" [ $rc -ne 0 ]
ok "the refusal is logged as rate limited" has gw 'EVENT 201 .*rate limited'
sleep 3.5
xfr unblocked /v:127.0.0.1:$TPORT $GW /u:test /p:test +auth-only
rc=$?
ok "after the block, the right password works again" [ $rc -eq 0 ]

# SIGTERM: bounded, clean exit
kill -TERM "$GW_PID"
for i in $(seq 1 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
ok "SIGTERM: tsgwd exits within 5 s" bash -c "! kill -0 $GW_PID 2>/dev/null"
wait "$GW_PID"
rc=$?
ok "SIGTERM: exit status 0 (under ASan: no leak reported)" [ $rc -eq 0 ]
ok "SIGTERM: logs a clean stop" has gw "info: stopped"
ok "no sanitizer report in the daemon's log" hasnt gw "Sanitizer"
ok "the key process ended with the daemon" bash -c "! kill -0 $KEYPID 2>/dev/null"

# the embedded default (README's run command): generates everything, and the result checks out
DPORT=$(free_port)
"$TSGWD" --demo "$WORK/demo" --port "$DPORT" >"$WORK/demo.log" 2>&1 &
DEMO=$!
PIDS+=($DEMO)
wait_for 15 "$WORK/demo.log" "tsgwd ready"
ok "--demo: starts and prints the xfreerdp command line" has demo "xfreerdp /v:127.0.0.1:3389 /g:127.0.0.1:$DPORT"
ok "--demo: its generated configuration passes tsgwd -t" bash -c "'$TSGWD' -t -c '$WORK/demo/tsgw.conf' >/dev/null"
ok "--demo: the demo account is in the users file" grep -q '^TSGW\\demo:' "$WORK/demo/users"
stop_pid "$DEMO"

# least privilege: bind and load the key as root, then run as [gateway] user
chmod 755 "$WORK"
chmod 644 "$WORK/users"
sed 's/^\[gateway\]$/[gateway]\nuser = nobody/' "$WORK/tsgw.conf" >"$WORK/nobody.conf"
start_tsgwd "$WORK/nobody.conf" gwnobody || { echo "Bail out! tsgwd (user = nobody) did not start"; exit 1; }
ok "user = nobody: the daemon runs as nobody" [ "$(ps -o user= -p "$GW_PID" | tr -d ' ')" = nobody ]
xfr asnobody /v:127.0.0.1:$TPORT $GW /u:test /p:test +auth-only
rc=$?
ok "user = nobody: a tunnel still works" [ $rc -eq 0 ]
stop_pid "$GW_PID"
chmod 700 "$WORK"
finish
