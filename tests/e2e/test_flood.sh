#!/usr/bin/env bash
# Issue 12: floods from many addresses. 3,000 slow pre-authentication connections from 300
# addresses (127.1.x.y) fill max-unauthenticated (2,048) while a real xfreerdp reaches the desktop
# through tsgwd, every time; then 1,000 from IPv6 addresses of one /64 against the [::1] listener;
# then a password guesser next to a right-password user on the same address.
# Runs in a network namespace of its own (it adds a local IPv6 /64 route to lo).
if [ -z "${TSGW_FLOOD_NETNS:-}" ]; then
    export TSGW_FLOOD_NETNS=1
    exec unshare -n bash "$0" "$@" 2>/dev/null || exec unshare -rn bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

ip link set lo up
ip -6 route add local fd00:12::/64 dev lo
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=65536
ulimit -n "$NOFILE"
FLOOD=$BUILD/tools/tsgw-flood
SUPPORT=$(cd "$(dirname "$0")/../support" && pwd)
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)}
TPORT=$(free_port)
GPORT=$(free_port)
SOCK="$WORK/admin.sock"
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\carol' 'Secret3' 'RDG Users'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT; [::1]:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
netbios-domain = CONTOSO
gateway-names = 127.0.0.1; localhost; ::1
[limits]
; the defaults, spelled out: the flood relies on them
max-unauthenticated = 2048
max-unauthenticated-per-address = 64
ipv6-prefix = 64
; above the high-water mark (3/4 of the cap) deadlines shorten; 10 s instead of the default 5 s
; lets a flood of 300 new connections a second fill the table, so eviction is what is tested
pressure-auth-timeout = 10s
auth-failures = 3
auth-block = 2s
auth-failures-per-address = 12
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1; ::1
ports = $TPORT
CONF

ok "ulimit -n raised to $NOFILE (>= 8192)" [ "$NOFILE" -ge 8192 ]
start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }
ok "listening on [::1]" has gw "listening on \[::1\]:$GPORT"

# desktop NAME GATEWAY: xfreerdp through tsgwd to the shadow desktop; prints the connect time in
# ms (start to CONNECTION_STATE_ACTIVE) or "fail"
desktop() {
    local name=$1 gw=$2 t0 t1
    t0=$(date +%s%N)
    xfr_bg "$name" /v:127.0.0.1:$TPORT /g:"$gw" /gu:'CONTOSO\alice' /gp:Secret1 /u:test /p:test
    if wait_for 60 "$WORK/$name.log" "CONNECTION_STATE_ACTIVE"; then
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
    else
        echo fail
    fi
    stop_pid "$XFR_PID"
}
gw_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GW_PID/status"; }

# ---------------------------------------------------------------- unloaded
BASE_MS=$(desktop base 127.0.0.1:$GPORT)
ok "unloaded: xfreerdp reaches the desktop through tsgwd ($BASE_MS ms)" [ "$BASE_MS" != fail ]
RSS_IDLE=$(gw_rss_kb)

# ---------------------------------------------------------------- 3,000 slow connections
"$FLOOD" --host 127.0.0.1 --port "$GPORT" --mode slow --conns 3000 --addrs 300 \
    --src 127.1.0.1 --rate 300 >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
PIDS+=($FLOOD_PID)
wait_for 60 "$WORK/flood.log" "^ready"
ok "flood: 3,000 slow connections from 300 addresses were established" has flood "^ready"
wait_for 20 "$WORK/gw.log" "pre-authentication table full"
ok "flood: the pre-authentication table is full and evicts" has gw "pre-authentication table full (2048)"
ok "flood: no connection refused at accept (none over its per-address quota)" \
    hasnt gw "refusing connection from 127.1"
sleep 1
RSS_FULL=$(gw_rss_kb)
LOADED=()
for i in 1 2 3; do
    LOADED+=("$(desktop "loaded$i" 127.0.0.1:$GPORT)")
done
ok "flood: xfreerdp reaches the desktop 3 times of 3 (${LOADED[*]} ms)" \
    bash -c "! echo '${LOADED[*]}' | grep -q fail"
ok "flood: the real client's connections were never chosen for eviction" \
    hasnt gw "closing a connection from 127.0.0.1 "
ok "flood: the flood kept going meanwhile (connections still being evicted)" \
    bash -c "[ \"\$(grep -o 'closed-by-server [0-9]*' '$WORK/flood.log' | tail -n1 | awk '{print \$2}')\" -ge 1000 ]"
ok "flood: tsgwd alive" kill -0 "$GW_PID"
stop_pid "$FLOOD_PID"
log "xfreerdp connect time to the desktop: ${BASE_MS} ms unloaded, ${LOADED[*]} ms during the" \
    "flood of 3,000 slow connections from 300 addresses"
log "tsgwd RSS: $((RSS_IDLE / 1024)) MiB idle, $((RSS_FULL / 1024)) MiB with the pre-auth table full (2048)"

# ---------------------------------------------------------------- IPv6: one /64
"$FLOOD" --host ::1 --port "$GPORT" --mode slow --conns 1000 --addrs 1000 \
    --src fd00:12::1 --rate 500 >"$WORK/flood6.log" 2>&1 &
FLOOD6_PID=$!
PIDS+=($FLOOD6_PID)
wait_for 30 "$WORK/flood6.log" "connects [1-9][0-9][0-9][0-9]"
sleep 1
ok "ipv6: 1,000 addresses of fd00:12::/64 count as one (64 held, the rest refused)" \
    has gw "refusing connection from fd00:12::/64: too many unauthenticated"
HELD6=$(grep -o 'open [0-9]* tls [0-9]*' "$WORK/flood6.log" | tail -n1 | awk '{print $4}')
ok "ipv6: the /64 holds at most 64 pre-auth slots (holds ${HELD6:-?})" [ "${HELD6:-999}" -le 64 ]
# FreeRDP 2 takes no IPv6 literal in /g:, so the scripted client goes through [::1]
v6tunnel() {
    PYTHONPATH="$SUPPORT" PYTHONDONTWRITEBYTECODE=1 timeout 60 "$PYTHON" "$SUPPORT/v6tunnel.py" \
        "$GPORT" "$TPORT" "$WORK/users" >"$WORK/v6tunnel.log" 2>&1
}
ok "ipv6: a tunnel through the [::1] listener to the desktop's port opens during it" v6tunnel
ok "ipv6: its logon is logged from ::1" has gw 'EVENT 200 Username="CONTOSO\\\\alice" IpAddress="::1"'
V6_MS=$(desktop v6 127.0.0.1:$GPORT)
ok "ipv6: xfreerdp reaches the desktop during the IPv6 flood ($V6_MS ms)" [ "$V6_MS" != fail ]
stop_pid "$FLOOD6_PID"

ok "no sanitizer report in the daemon's log" hasnt gw "Sanitizer"
finish
