#!/usr/bin/env bash
# Issue 4: the RD Gateway WMI classes over CIM-XML, driven by the real wbemcli (sblim-wbemcli),
# with live xfreerdp tunnels.
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
GPORT=$(free_port)
CPORT=$(free_port)
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\admin' 'AdminPw1' 'Administrators'
add_user "$WORK/users" 'CONTOSO\viewer' 'ViewPw1' 'RDG Users'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
[cim]
listen = 127.0.0.1:$CPORT
admin-group = BUILTIN\\Administrators
[resource-group:Lab]
resources = 127.0.0.1; 10.1.0.0/16
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resource-group = Lab
ports = $TPORT
CONF
NS=root/cimv2/terminalservices
URL="https://CONTOSO\\admin:AdminPw1@127.0.0.1:$CPORT/$NS"
wbem() { timeout 20 wbemcli -noverify "$@"; }

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
animate "$TARGET_DISPLAY"
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }

wbem ei "$URL:Win32_TSGatewayConnection" >"$WORK/ei0.log" 2>&1
rc=$?
ok "ei with no connection: exit 0, nothing listed" bash -c "[ $rc -eq 0 ] && [ ! -s '$WORK/ei0.log' ]"

xfr_bg alice1 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
A1=$XFR_PID
xfr_bg alice2 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 \
    /gt:http,no-websockets /u:a /p:a
A2=$XFR_PID
xfr_bg bob /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\bob' /gp:Secret2 /u:b /p:b
B=$XFR_PID
for n in alice1 alice2 bob; do wait_for 40 "$WORK/$n.log" CONNECTION_STATE_ACTIVE; done
sleep 1

wbem ei -nl "$URL:Win32_TSGatewayConnection" >"$WORK/ei.log" 2>&1
rc=$?
ok "ei: exit 0" [ $rc -eq 0 ]
ok "ei: three instances" [ "$(grep -c '^127.0.0.1:[0-9]*/root/cimv2/terminalservices:Win32_TSGatewayConnection.ConnectionKey=' "$WORK/ei.log")" = 3 ]
for p in ConnectionKey TunnelId ChannelId UserName FullUserName ClientAddress ConnectedTime \
    IdleTime ConnectedResource ProtocolName ConnectedPort NumberOfKilobytesSent \
    NumberOfKilobytesReceived ConnectionDuration TransportProtocol; do
    ok "ei: property $p on every instance" [ "$(grep -c "^-$p=" "$WORK/ei.log")" = 3 ]
done
ok "ei: alice twice, bob once" bash -c "[ \$(grep -c '^-UserName=\"CONTOSO.*alice\"' '$WORK/ei.log') = 2 ] && [ \$(grep -c '^-UserName=\"CONTOSO.*bob\"' '$WORK/ei.log') = 1 ]"
ok "ei: TransportProtocol=1 (HTTP)" [ "$(grep -c '^-TransportProtocol=1$' "$WORK/ei.log")" = 3 ]

wbem ein "$URL:Win32_TSGatewayConnection" >"$WORK/ein.log" 2>&1
ok "ein: three instance paths" [ "$(grep -c 'Win32_TSGatewayConnection.ConnectionKey="[0-9]*:[0-9]*"' "$WORK/ein.log")" = 3 ]

BOBKEY=$(grep -B100 '^-UserName="CONTOSO.*bob"' "$WORK/ei.log" | grep -o 'ConnectionKey="[0-9]*:[0-9]*"' | tail -1 | cut -d'"' -f2)
log "bob's ConnectionKey: $BOBKEY"
wbem gi -nl "$URL:Win32_TSGatewayConnection.ConnectionKey=\"$BOBKEY\"" >"$WORK/gi.log" 2>&1
rc=$?
ok "gi on bob's path: exit 0 and bob's instance" bash -c "[ $rc -eq 0 ] && grep -q '^-UserName=\"CONTOSO.*bob\"' '$WORK/gi.log'"
wbem gi "$URL:Win32_TSGatewayConnection.ConnectionKey=\"999:9\"" >"$WORK/gi404.log" 2>&1
ok "gi on an unknown key: CIM_ERR_NOT_FOUND" grep -q "CIM_ERR_NOT_FOUND" "$WORK/gi404.log"

wbem gc "$URL:Win32_TSGatewayConnection" >"$WORK/gc.log" 2>&1
ok "gc: the class with its key property" grep -q "Win32_TSGatewayConnection ConnectionKey=," "$WORK/gc.log"

# a non-administrator gets CIM error 2 and changes nothing
VURL="https://CONTOSO\\viewer:ViewPw1@127.0.0.1:$CPORT/$NS"
wbem ei "$VURL:Win32_TSGatewayConnection" >"$WORK/viewer.log" 2>&1
rc=$?
ok "non-administrator ei: CIM_ERR_ACCESS_DENIED (2)" bash -c "[ $rc -ne 0 ] && grep -q 'CIM_ERR_ACCESS_DENIED' '$WORK/viewer.log'"
wbem cm "$VURL:Win32_TSGatewayConnection" 'DisconnectUser.UserName="CONTOSO\alice"' >"$WORK/viewer-cm.log" 2>&1
ok "non-administrator cm: CIM_ERR_ACCESS_DENIED, alice still connected" \
    bash -c "grep -q 'CIM_ERR_ACCESS_DENIED' '$WORK/viewer-cm.log' && kill -0 $A1 && kill -0 $A2"
wbem ei "https://CONTOSO\\admin:wrong@127.0.0.1:$CPORT/$NS:Win32_TSGatewayConnection" >"$WORK/badpw.log" 2>&1
rc=$?
ok "wrong password: refused (HTTP 401)" bash -c "[ $rc -ne 0 ] && grep -q 'Invalid username/password' '$WORK/badpw.log'"

# DisconnectUser through wbemcli
wbem cm "$URL:Win32_TSGatewayConnection" 'DisconnectUser.UserName="CONTOSO\alice"' >"$WORK/cm.log" 2>&1
ok "cm DisconnectUser: ReturnValue 0" grep -q "DisconnectUser: 0" "$WORK/cm.log"
for i in $(seq 1 40); do
    kill -0 "$A1" 2>/dev/null || kill -0 "$A2" 2>/dev/null || break
    sleep 0.05
done
ok "alice's clients ended" bash -c "! kill -0 $A1 2>/dev/null && ! kill -0 $A2 2>/dev/null"
ok "bob's client still runs" kill -0 "$B"
wbem cm "$URL:Win32_TSGatewayConnection" 'DisconnectUser.UserName="CONTOSO\alice"' >"$WORK/cm2.log" 2>&1
ok "cm DisconnectUser again: 2147749890" grep -q "DisconnectUser: 2147749890" "$WORK/cm2.log"
wbem cm "$URL:Win32_TSGatewayConnection" 'DisconnectUser.UserName="alice"' >"$WORK/cm3.log" 2>&1
ok "cm DisconnectUser without a domain: 2147749896" grep -q "DisconnectUser: 2147749896" "$WORK/cm3.log"

# the Disconnect instance method
wbem cm "$URL:Win32_TSGatewayConnection.ConnectionKey=\"$BOBKEY\"" Disconnect >"$WORK/dis.log" 2>&1
ok "cm Disconnect on bob's instance: ReturnValue 0" grep -q "Disconnect: 0" "$WORK/dis.log"
for i in $(seq 1 40); do kill -0 "$B" 2>/dev/null || break; sleep 0.05; done
ok "bob's client ended" bash -c "! kill -0 $B 2>/dev/null"
ok "event 202 for alice twice and bob once" bash -c "[ \$(grep -c 'EVENT 202' '$WORK/gw.log') = 3 ]"

# configuration classes
wbem ei -nl "$URL:Win32_TSGatewayResourceAuthorizationPolicy" >"$WORK/rap.log" 2>&1
ok "RAP instance from [rap:Lab]" bash -c "grep -q '^-Name=\"Lab\"' '$WORK/rap.log' && grep -q '^-PortNumbers=\"$TPORT\"' '$WORK/rap.log'"
wbem ei -nl "$URL:Win32_TSGatewayConnectionAuthorizationPolicy" >"$WORK/cap.log" 2>&1
ok "CAP instance from [cap:Staff]" grep -q '^-Name="Staff"' "$WORK/cap.log"
wbem ei -nl "$URL:Win32_TSGatewayResourceGroup" >"$WORK/rg.log" 2>&1
ok "resource group with its resources" grep -q '^-Resources="127.0.0.1;10.1.0.0/16"' "$WORK/rg.log"
wbem ei -nl "$URL:Win32_TSGatewayServerSettings" >"$WORK/ss.log" 2>&1
ok "server settings instance" grep -q '^-UnlimitedConnections=true\|^-UnlimitedConnections=TRUE' "$WORK/ss.log"
wbem ei "$URL:Win32_NoSuchClass" >"$WORK/nocls.log" 2>&1
ok "unknown class: CIM_ERR_INVALID_CLASS" grep -q "CIM_ERR_INVALID_CLASS" "$WORK/nocls.log"
ok "daemon still running" kill -0 "$GW_PID"
finish
