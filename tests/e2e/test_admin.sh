#!/usr/bin/env bash
# Issue 3: Win32_TSGatewayConnection through tsgwctl: list, Disconnect, DisconnectUser,
# DisconnectProtocol, admin-only, WMI return codes; with real xfreerdp sessions.
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
GPORT=$(free_port)
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
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1
ports = $TPORT
CONF
ctl() { "$TSGWCTL" -s "$SOCK" "$@"; }

ok "tsgwctl without a daemon: clear error" bash -c "! '$TSGWCTL' -s '$SOCK' ls 2>'$WORK/nodaemon.log'"
ok "tsgwctl without a daemon: says so" has nodaemon "is tsgwd running"

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
animate "$TARGET_DISPLAY"
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }

ctl --json connections >"$WORK/empty.json"
ok "no connections: empty JSON array" [ "$(json_eval "$WORK/empty.json" 'len(j)')" = 0 ]

xfr_bg alice1 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
A1=$XFR_PID
xfr_bg alice2 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 \
    /gt:http,no-websockets /u:a /p:a
A2=$XFR_PID
xfr_bg bob /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\bob' /gp:Secret2 /u:b /p:b
B=$XFR_PID
for n in alice1 alice2 bob; do wait_for 40 "$WORK/$n.log" CONNECTION_STATE_ACTIVE; done
sleep 2
ctl --json connections >"$WORK/three.json"
ok "three live connections listed" [ "$(json_eval "$WORK/three.json" 'len(j)')" = 3 ]
ok "every object has exactly the 15 Win32_TSGatewayConnection properties" \
    [ "$(json_eval "$WORK/three.json" 'all(sorted(o)==sorted(["ConnectionKey","TunnelId","ChannelId","UserName","FullUserName","ClientAddress","ConnectedTime","IdleTime","ConnectedResource","ProtocolName","ConnectedPort","NumberOfKilobytesSent","NumberOfKilobytesReceived","ConnectionDuration","TransportProtocol"]) for o in j)')" = True ]
ok "two for CONTOSO\\alice, one for CONTOSO\\bob" \
    [ "$(json_eval "$WORK/three.json" 'sorted(o["UserName"] for o in j)')" = "['CONTOSO\\\\alice', 'CONTOSO\\\\alice', 'CONTOSO\\\\bob']" ]
ok "ClientAddress, ConnectedResource, ConnectedPort, TransportProtocol, ProtocolName" \
    [ "$(json_eval "$WORK/three.json" "all(o['ClientAddress']=='127.0.0.1' and o['ConnectedResource']=='127.0.0.1' and o['ConnectedPort']==$TPORT and o['TransportProtocol']==1 and o['ProtocolName']=='RDP' for o in j)")" = True ]
ok "ConnectionKey is TunnelId:ChannelId" \
    [ "$(json_eval "$WORK/three.json" 'all(o["ConnectionKey"]=="%d:%d"%(o["TunnelId"],o["ChannelId"]) for o in j)')" = True ]
ok "FullUserName from the credential store" \
    [ "$(json_eval "$WORK/three.json" '[o["FullUserName"] for o in j if o["UserName"].endswith("bob")][0]')" = "Bob Builder" ]
ok "ConnectedTime is WMI DATETIME text" \
    [ "$(json_eval "$WORK/three.json" 'all(__import__("re").fullmatch(r"\d{14}\.\d{6}[+-]\d{3}", o["ConnectedTime"]) for o in j)')" = True ]
ok "IdleTime and ConnectionDuration are WMI intervals" \
    [ "$(json_eval "$WORK/three.json" 'all(__import__("re").fullmatch(r"\d{14}\.\d{6}:000", o[k]) for o in j for k in ("IdleTime","ConnectionDuration"))')" = True ]
sleep 3
ctl --json connections >"$WORK/three-later.json"
python3 - "$WORK/three.json" "$WORK/three-later.json" >"$WORK/growth.log" <<'PY'
import json, sys
a = {o["ConnectionKey"]: o for o in json.load(open(sys.argv[1]))}
b = {o["ConnectionKey"]: o for o in json.load(open(sys.argv[2]))}
for k in a:
    print(k, a[k]["NumberOfKilobytesSent"], b[k]["NumberOfKilobytesSent"],
          a[k]["NumberOfKilobytesReceived"], b[k]["NumberOfKilobytesReceived"],
          a[k]["ConnectionDuration"], b[k]["ConnectionDuration"])
grew = all(b[k]["NumberOfKilobytesSent"] > a[k]["NumberOfKilobytesSent"] for k in a)
dur = all(b[k]["ConnectionDuration"] > a[k]["ConnectionDuration"] for k in a)
print("GREW" if grew and dur else "STILL")
PY
ok "byte counts and durations grow while data flows" has growth GREW
ctl connections >"$WORK/table.log"
ok "readable table lists the three" [ "$(grep -c 'CONTOSO' "$WORK/table.log")" = 3 ]

# Unprivileged caller: refused by the socket's permissions, then by the daemon itself
setpriv --reuid=nobody --regid=nogroup --clear-groups "$TSGWCTL" -s "$SOCK" \
    disconnect-user 'CONTOSO\bob' >"$WORK/nobody1.log" 2>&1
rc=$?
ok "unprivileged (socket permissions): ReturnValue 2147749891, exit non-zero" \
    bash -c "[ $rc -ne 0 ] && grep -q 'ReturnValue = 2147749891 (WBEM_E_ACCESS_DENIED)' '$WORK/nobody1.log'"
chmod 755 "$WORK"
chmod 666 "$SOCK"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$TSGWCTL" -s "$SOCK" --json \
    disconnect-user 'CONTOSO\bob' >"$WORK/nobody2.log" 2>&1
rc=$?
ok "unprivileged (daemon's SO_PEERCRED check): ReturnValue 2147749891" \
    bash -c "[ $rc -ne 0 ] && grep -q '\"ReturnValue\":2147749891' '$WORK/nobody2.log'"
ok "unprivileged listing refused too" bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups '$TSGWCTL' -s '$SOCK' ls >/dev/null 2>&1"
chmod 700 "$WORK"
ok "nothing was disconnected by the unprivileged calls" \
    [ "$(ctl --json ls | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ]

# DisconnectUser, case-insensitive
START=$(date +%s%N)
ctl disconnect-user 'contoso\ALICE' >"$WORK/du.log"
rc=$?
ok "disconnect-user 'contoso\\ALICE': exit 0" [ $rc -eq 0 ]
ok "disconnect-user prints ReturnValue 0" has du "DisconnectUser: ReturnValue = 0 (WBEM_S_NO_ERROR)"
gone=0
for i in $(seq 1 40); do
    if ! kill -0 "$A1" 2>/dev/null && ! kill -0 "$A2" 2>/dev/null; then gone=1; break; fi
    sleep 0.05
done
END=$(date +%s%N)
log "alice clients ended after $(((END - START) / 1000000)) ms"
ok "both alice clients ended within 2 s" [ $gone -eq 1 ]
ok "alice's client logged the gateway's E_PROXY_CONNECTIONABORTED (0x4D4)" has alice1 "0x000004D4"
ok "bob's client is still running" kill -0 "$B"
ctl --json ls >"$WORK/one.json"
ok "the list shows one connection, bob's" \
    [ "$(json_eval "$WORK/one.json" '[o["UserName"] for o in j]')" = "['CONTOSO\\\\bob']" ]
K1=$(json_eval "$WORK/one.json" 'j[0]["NumberOfKilobytesSent"]')
sleep 2
ctl --json ls >"$WORK/one-later.json"
ok "bob's session still carries data" \
    [ "$(json_eval "$WORK/one-later.json" "j[0]['NumberOfKilobytesSent'] > $K1")" = True ]
ok "event 202 logged twice (once per alice connection)" [ "$(count gw 'EVENT 202 Username="CONTOSO\\\\alice"')" = 2 ]

ctl --json disconnect-user 'CONTOSO\alice' >"$WORK/again.json"
rc=$?
ok "again for alice: 2147749890 WBEM_E_NOT_FOUND, exit non-zero" \
    bash -c "[ $rc -ne 0 ] && [ \"\$(python3 -c 'import json;print(json.load(open(\"$WORK/again.json\"))[\"ReturnValue\"])')\" = 2147749890 ]"
ctl disconnect-user 'alice' >"$WORK/bare.log"
ok "'alice' (no domain): 2147749896 WBEM_E_INVALID_PARAMETER" has bare "ReturnValue = 2147749896 (WBEM_E_INVALID_PARAMETER)"
ctl disconnect-user >"$WORK/missing.log"
ok "missing UserName: 2147749935 WBEM_E_INVALID_METHOD_PARAMETERS" has missing "ReturnValue = 2147749935"
ctl disconnect-user '' >"$WORK/emptyname.log"
ok "empty UserName: 2147749935" has emptyname "ReturnValue = 2147749935"
ctl disconnect-protocol XYZ >"$WORK/badproto.log"
ok "disconnect-protocol XYZ: 2147749896" has badproto "ReturnValue = 2147749896"
ctl disconnect 99999:1 >"$WORK/nokey.log"
ok "disconnect of an unknown key: 2147749890" has nokey "ReturnValue = 2147749890"

# Disconnect one key
KEY=$(json_eval "$WORK/one-later.json" 'j[0]["ConnectionKey"]')
ctl --json disconnect "$KEY" >"$WORK/dkey.json"
ok "disconnect KEY: ReturnValue 0" [ "$(json_eval "$WORK/dkey.json" 'j["ReturnValue"]')" = 0 ]
ok "disconnect KEY: the server time of the method is reported" \
    [ "$(json_eval "$WORK/dkey.json" 'j["ServerTimeMs"] >= 0')" = True ]
log "Disconnect server time: $(json_eval "$WORK/dkey.json" 'j["ServerTimeMs"]') ms"
for i in $(seq 1 40); do kill -0 "$B" 2>/dev/null || break; sleep 0.05; done
ok "disconnect KEY ended exactly bob's client" bash -c "! kill -0 $B 2>/dev/null"
ok "the list is empty" [ "$(ctl --json ls | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ]
ok "event 202 logged for bob with Method Disconnect" has gw 'EVENT 202 Username="CONTOSO\\\\bob".*Method="Disconnect"'

# DisconnectProtocol ends everything
xfr_bg alice3 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
A3=$XFR_PID
wait_for 40 "$WORK/alice3.log" CONNECTION_STATE_ACTIVE
ctl disconnect-protocol ts >"$WORK/dp.log"
ok "disconnect-protocol TS: ReturnValue 0" has dp "DisconnectProtocol: ReturnValue = 0"
for i in $(seq 1 40); do kill -0 "$A3" 2>/dev/null || break; sleep 0.05; done
ok "disconnect-protocol ended the client" bash -c "! kill -0 $A3 2>/dev/null"
ctl disconnect-protocol RDP >"$WORK/dp2.log"
ok "disconnect-protocol with nothing left: 2147749890" has dp2 "ReturnValue = 2147749890"

# the admin socket's request cap (8192 bytes): at the cap it is parsed, over it refused
python3 - "$SOCK" >"$WORK/cap.log" <<'PY'
import socket, sys
def ask(line):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    try:
        s.sendall(line)
    except OSError:
        pass  # the daemon stops reading at the cap; its answer is still there to read
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except OSError:
            break
        if not d: break
        out += d
    return out.split(b"\n", 1)[0].decode()
pad = b"TSGW/1\tversion\t"
print("AT", ask(pad + b"x" * (8191 - len(pad)) + b"\n"))
print("OVER", ask(pad + b"x" * 9000 + b"\n"))
PY
ok "admin request of 8192 bytes: parsed (usage error for the extra argument)" grep -q "^AT TSGW/1.2147749896.version" "$WORK/cap.log"
ok "admin request over 8192 bytes: refused as too long" grep -q "^OVER TSGW/1.2147749896.request too long" "$WORK/cap.log"

ctl mof >"$WORK/mof.log"
ok "tsgwctl mof declares DisconnectUser with its UserName parameter" has mof "uint32 DisconnectUser(\[in\] string UserName)"
ctl policy --json >"$WORK/policy.json"
ok "tsgwctl policy --json shows the RAP with its port" \
    [ "$(json_eval "$WORK/policy.json" "j['Win32_TSGatewayResourceAuthorizationPolicy'][0]['PortNumbers']")" = "$TPORT" ]
finish
