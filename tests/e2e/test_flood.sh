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
GPORT6=$(free_port) # a dual-stack [::] listener
SOCK="$WORK/admin.sock"
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users' 'Alice Liddell'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\carol' 'Secret3' 'RDG Users'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT; [::1]:$GPORT; [::]:$GPORT6
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
ok "flood: the pre-authentication table is full and evicts" \
    has gw "pre-authentication table full (2048 connections"
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

# a [::] listener takes IPv4 clients as IPv4-mapped addresses: they count (and log) as IPv4
PYTHONPATH="$SUPPORT" PYTHONDONTWRITEBYTECODE=1 timeout 60 "$PYTHON" "$SUPPORT/logon_try.py" \
    "$GPORT6" 'CONTOSO\alice:Secret1' >"$WORK/dual.log" 2>&1
ok "dual stack: alice logs in over 127.0.0.1 through the [::] listener" \
    [ "$(cat "$WORK/dual.log")" = 'CONTOSO\alice 101' ]
ok "dual stack: the IPv4-mapped client is 127.0.0.1, not ::ffff:127.0.0.1" \
    bash -c "grep -q 'listening on \[::\]:$GPORT6' '$WORK/gw.log' && ! grep -q '::ffff:' '$WORK/gw.log'"

# ---------------------------------------------------------------- resource names with a port
# "host:3390" is refused (Windows takes it as a host name); the packet's port is the one used
PYTHONPATH="$SUPPORT" PYTHONDONTWRITEBYTECODE=1 timeout 60 "$PYTHON" "$SUPPORT/resname.py" \
    "$GPORT" "$TPORT" "$WORK/users" >"$WORK/resname.log" 2>&1
log "resource names: $(tr '\n' ' ' <"$WORK/resname.log")"
ok "resource 127.0.0.1, packet port allowed: channel opens" has resname '^plain 0x00000000$'
ok "resource 127.0.0.1:PORT: refused E_PROXY_RAP_ACCESSDENIED" \
    has resname '^suffix-same-port 0x800759da$'
ok "resource 127.0.0.1:PORT with another packet port: refused, no connect to PORT" \
    has resname '^suffix-other-port 0x800759da$'
ok "resource [::1]:PORT: refused" has resname '^v6-bracket-suffix 0x800759da$'
ok "resource ::1 (a bare IPv6 literal) is a name, not a suffix: RAP allows, connect fails" \
    has resname '^v6-literal 0x800759dd$'
ok "a suffixed name with a plain alternate: the alternate is used" \
    has resname '^suffix-then-alternate 0x00000000$'
ok "the refusal is an event 301 with the reason" \
    has gw 'EVENT 301 .*resource name with a port suffix is not a host name'

# ---------------------------------------------------------------- a guesser next to a user
# Everything from 127.0.0.1, like users behind one NAT. auth-failures = 3 per (address, account),
# auth-block = 2 s doubling per block, the address as a whole only after 12 failures.
tries() { # tries NAME STEP...: tests/support/logon_try.py, output in $WORK/NAME.log
    local name=$1
    shift
    PYTHONPATH="$SUPPORT" PYTHONDONTWRITEBYTECODE=1 timeout 60 "$PYTHON" "$SUPPORT/logon_try.py" \
        "$GPORT" "$@" >"$WORK/$name.log" 2>&1
}
T0=$(date +%s%N)
tries guess1 'CONTOSO\bob:guess1' 'CONTOSO\bob:guess2' 'CONTOSO\bob:guess3' \
    'CONTOSO\bob:Secret2' 'CONTOSO\carol:guess1' 'CONTOSO\carol:guess2' \
    'CONTOSO\nobody:guess1' 'CONTOSO\nobody:guess2' 'CONTOSO\alice:Secret1' \
    sleep:2.3 'CONTOSO\bob:guess4' 'CONTOSO\bob:guess5' 'CONTOSO\bob:guess6' 'CONTOSO\bob:Secret2'
T1=$(date +%s%N)
log "guesser: $(tr '\n' ' ' <"$WORK/guess1.log") ($(((T1 - T0) / 1000000)) ms)"
ok "guesser: 3 wrong passwords for bob, all refused" \
    [ "$(head -n3 "$WORK/guess1.log" | grep -c ' 401$')" = 3 ]
ok "guesser: bob blocked from this address: event 201 with the reason" \
    has gw 'EVENT 201 Username="contoso\\\\bob" IpAddress="127.0.0.1".*ErrorCode="1909" Reason="blocked address+account: 3 failed logons for this account from this address within 60 s: blocked for 2 s (block 1)"'
ok "guesser: while blocked, even bob's right password is refused (no oracle)" \
    [ "$(sed -n 4p "$WORK/guess1.log")" = 'CONTOSO\bob 401' ]
ok "guesser: the refusal is an event 201 'rate limited'" \
    has gw 'EVENT 201 Username="CONTOSO\\\\bob" IpAddress="127.0.0.1" AuthType="NTLM" ConnectionProtocol="HTTP" ErrorCode="1909" Reason="rate limited: too many failed logons for this account from this address'
ok "user: alice's right password from the same address gets in meanwhile (101)" \
    [ "$(sed -n 9p "$WORK/guess1.log")" = 'CONTOSO\alice 101' ]
ok "guesser: bob's block ends after 2 s: event 201 'unblocked ... expired'" \
    has gw 'EVENT 201 Username="contoso\\\\bob" IpAddress="127.0.0.1".*ErrorCode="0" Reason="unblocked address+account: expired"'
ok "guesser: the second block of bob is twice as long (slowed down)" \
    has gw 'Reason="blocked address+account: 3 failed logons for this account from this address within 60 s: blocked for 4 s (block 2)"'
ok "guesser: bob's right password is refused during the second block" \
    [ "$(tail -n1 "$WORK/guess1.log")" = 'CONTOSO\bob 401' ]
USER_MS=$(desktop guessuser 127.0.0.1:$GPORT)
ok "user: xfreerdp as alice reaches the desktop while bob is blocked ($USER_MS ms)" [ "$USER_MS" != fail ]
ok "tsgwctl blocks: bob from 127.0.0.1 listed" \
    bash -c "'$TSGWCTL' -s '$SOCK' blocks | grep -q \$'^address+account\t127.0.0.1\tcontoso\\\\\\\\bob\t'"
# two more failures make 12 from this address: now the address as a whole is blocked
tries guess2 'CONTOSO\x1:guess' 'CONTOSO\x2:guess' 'CONTOSO\alice:Secret1'
ok "guesser: 12 failures from one address block the address: event 201" \
    has gw 'IpAddress="127.0.0.1".*ErrorCode="1909" Reason="blocked address: 12 failed logons from this address for any account'
ok "address block: alice's right password is refused too" \
    [ "$(tail -n1 "$WORK/guess2.log")" = 'CONTOSO\alice 401' ]
"$TSGWCTL" -s "$SOCK" --json blocks >"$WORK/blocks.json" 2>&1
ok "tsgwctl --json blocks: the address block with its seconds left" \
    [ "$(json_eval "$WORK/blocks.json" 'any(b["Kind"]=="address" and b["Address"]=="127.0.0.1" and int(b["SecondsLeft"])>0 for b in j)')" = True ]
"$TSGWCTL" -s "$SOCK" unblock 127.0.0.1 >"$WORK/unblock.log" 2>&1
ok "tsgwctl unblock 127.0.0.1 lifts its blocks" has unblock '^[1-9]'
ok "unblock: event 201 'lifted by an administrator'" \
    has gw 'IpAddress="127.0.0.1".*ErrorCode="0" Reason="unblocked address: lifted by an administrator"'
tries after 'CONTOSO\alice:Secret1'
ok "after the lift alice gets in again" [ "$(cat "$WORK/after.log")" = 'CONTOSO\alice 101' ]
"$TSGWCTL" -s "$SOCK" unblock 192.0.2.1 >"$WORK/unblock2.log" 2>&1
rc=$?
ok "tsgwctl unblock of an address with no block: exit status 1" [ $rc -eq 1 ]

# ---------------------------------------------------------------- pre-auth memory in total
# SIGHUP: max-unauthenticated-memory = 4 MiB (about 120 connections at ~34 KiB each)
sed -i 's/^pressure-auth-timeout = 10s$/pressure-auth-timeout = 10s\nmax-unauthenticated-memory = 4194304/' "$WORK/tsgw.conf"
kill -HUP "$GW_PID"
wait_for 10 "$WORK/gw.log" "SIGHUP: configuration reloaded"
"$FLOOD" --host 127.0.0.1 --port "$GPORT" --mode slow --conns 400 --addrs 40 \
    --src 127.1.0.1 --rate 400 --duration 6 >"$WORK/floodmem.log" 2>&1 &
FLOODM_PID=$!
PIDS+=($FLOODM_PID)
sleep 3
tries memuser 'CONTOSO\alice:Secret1'
wait "$FLOODM_PID"
HELDM=$(grep -o 'open [0-9]* tls [0-9]*' "$WORK/floodmem.log" | tail -n1 | awk '{print $4}')
ok "memory: 400 slow connections against a 4 MiB budget: at most 125 held (held ${HELDM:-?})" \
    [ "${HELDM:-999}" -le 125 ]
ok "memory: the budget evicts the connections worth least" \
    has gw "closed: evicted: pre-authentication memory full"
ok "memory: a user still logs in meanwhile" [ "$(cat "$WORK/memuser.log")" = 'CONTOSO\alice 101' ]

kill -TERM "$GW_PID"
for i in $(seq 1 100); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GW_PID"
rc=$?
ok "SIGTERM: exit status 0 (under ASan: no leak reported)" [ $rc -eq 0 ]
ok "no sanitizer report in the daemon's log" hasnt gw "Sanitizer"
finish
