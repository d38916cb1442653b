#!/usr/bin/env bash
# Issue 5: CAP/RAP/settings enforced on real tunnels: max-connections, admin message, SIGHUP
# reload (narrower RAP; a bad file is refused), idle and session timeouts.
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
T2PORT=$(free_port)
GPORT=$(free_port)
SOCK="$WORK/admin.sock"
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\ian' 'Idle1' 'Idlers'
add_user "$WORK/users" 'CONTOSO\sam' 'Short1' 'Shorties'
write_conf() { # write_conf MAXCONN RAP-RESOURCES
    cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
[settings]
max-connections = $1
admin-message = Maintenance tonight at 22:00
[cap:Staff]
user-groups = RDG Users
device-redirection = all-except
disable-drives = yes
disable-clipboard = yes
[cap:Idle]
user-groups = Idlers
idle-timeout = 3s
[cap:Short]
user-groups = Shorties
session-timeout = 4s
[rap:Lab]
user-groups = *
resources = $2
ports = $TPORT; $T2PORT
CONF
}
write_conf 1 "127.0.0.1"
ctl() { "$TSGWCTL" -s "$SOCK" "$@"; }

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
animate "$TARGET_DISPLAY"
start_target "$T2PORT" quiet || { echo "Bail out! second RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
ALICE="/g:127.0.0.1:$GPORT /gu:CONTOSO\\alice /gp:Secret1 /u:a /p:a"

xfr_bg live /v:127.0.0.1:$TPORT $ALICE
LIVE=$XFR_PID
wait_for 40 "$WORK/live.log" CONNECTION_STATE_ACTIVE
ok "first tunnel active" has live CONNECTION_STATE_ACTIVE
wait_for 5 "$WORK/live.log" "Maintenance tonight"
ok "admin message shown by the client (SERVICE_MESSAGE after the channel opened)" has live "Maintenance tonight at 22:00"
ctl --json policy >"$WORK/policy.json"
ok "tsgwctl policy: CAP Staff blocks drives and clipboard only" \
    [ "$(json_eval "$WORK/policy.json" "[(c['DeviceRedirectionType'], c['DiskDrivesDisabled'], c['ClipboardDisabled'], c['PrintersDisabled']) for c in j['Win32_TSGatewayConnectionAuthorizationPolicy'] if c['Name']=='Staff'][0]")" = "(2, True, True, False)" ]
ok "tsgwctl policy: max connections 1" \
    [ "$(json_eval "$WORK/policy.json" "j['Win32_TSGatewayServerSettings'][0]['MaxConnections']")" = 1 ]

xfr second /v:127.0.0.1:$TPORT $ALICE +auth-only
rc=$?
ok "max-connections 1: the second tunnel is refused" [ $rc -ne 0 ]
ok "max-connections 1: E_PROXY_MAXCONNECTIONSREACHED in the client log" has second "E_PROXY_MAXCONNECTIONSREACHED\|0x800759E6"
ok "max-connections 1: event 203" has gw "EVENT 203"

# SIGHUP with a narrower RAP: the live session keeps working, new channels are refused
write_conf unlimited "127.0.0.2"
kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "configuration reloaded"
ok "SIGHUP: configuration reloaded" has gw "SIGHUP: configuration reloaded"
K1=$(ctl --json ls | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["NumberOfKilobytesSent"])')
sleep 2
K2=$(ctl --json ls | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["NumberOfKilobytesSent"])')
ok "SIGHUP: the open session keeps carrying data ($K1 -> $K2 KB)" [ "$K2" -gt "$K1" ]
ok "SIGHUP: the open session's client still runs" kill -0 "$LIVE"
xfr narrow /v:127.0.0.1:$TPORT $ALICE +auth-only
rc=$?
ok "SIGHUP: a new channel to the old resource is refused by the narrower RAP" \
    bash -c "[ $rc -ne 0 ] && grep -q E_PROXY_RAP_ACCESSDENIED '$WORK/narrow.log'"

printf '[gateway]\nlisten = 127.0.0.1:%s\n[rap:broken]\nports = 0\n' "$GPORT" >"$WORK/tsgw.conf"
kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "not reloaded"
ok "SIGHUP with a bad file: refused with a message" has gw "not reloaded, keeping the running configuration"
ok "SIGHUP with a bad file: the message names file and line" has gw "tsgw.conf:4: ports"
ok "SIGHUP with a bad file: the daemon keeps running" kill -0 "$GW_PID"
xfr narrow2 /v:127.0.0.1:$TPORT $ALICE +auth-only
ok "SIGHUP with a bad file: the previous (narrow) policy still applies" has narrow2 E_PROXY_RAP_ACCESSDENIED

write_conf unlimited "127.0.0.1"
kill -HUP "$GW_PID"
sleep 1
stop_pid "$LIVE"

# idle timeout (quiet target: nothing flows once the session is up)
xfr_bg idle /v:127.0.0.1:$T2PORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\ian' /gp:Idle1 /u:i /p:i
IDLE=$XFR_PID
wait_for 40 "$WORK/idle.log" CONNECTION_STATE_ACTIVE
START=$(date +%s)
for i in $(seq 1 150); do kill -0 "$IDLE" 2>/dev/null || break; sleep 0.1; done
END=$(date +%s)
log "idle client ended $((END - START)) s after ACTIVE"
ok "idle timeout (3 s): the idle tunnel is ended by the gateway" bash -c "! kill -0 $IDLE 2>/dev/null"
ok "idle timeout: event 303 with the reason" has gw 'EVENT 303 Username="CONTOSO\\\\ian".*Reason="idle timeout"'

# session timeout (busy target: the session is not idle, but its time is up)
xfr_bg short /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\sam' /gp:Short1 /u:s /p:s
SHORT=$XFR_PID
wait_for 40 "$WORK/short.log" CONNECTION_STATE_ACTIVE
for i in $(seq 1 150); do kill -0 "$SHORT" 2>/dev/null || break; sleep 0.1; done
ok "session timeout (4 s): the tunnel is ended by the gateway" bash -c "! kill -0 $SHORT 2>/dev/null"
ok "session timeout: event 307" has gw 'EVENT 307 Username="CONTOSO\\\\sam"'
finish
