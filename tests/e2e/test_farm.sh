#!/usr/bin/env bash
# Issue 15: a farm of three tsgwd nodes behind HAProxy sharing one registry on a real
# redis-server. Two fronts: (a) mode tcp, TLS pass-through, source affinity; (b) HAProxy
# terminating TLS with its own certificate (mode http routing on RDG-Connection-Id, and mode
# tcp with source affinity), PROXY v2 to the nodes' plain backend-listen (real client address,
# NTLM channel binding to the front's certificate).
# Farm-wide listing from any node,
# farm-wide DisconnectUser from tsgwctl and from wbemcli, Disconnect NODE/T:C, Redis stopped and
# restarted, a node SIGKILLed. Real xfreerdp for one WebSocket session through front (a) and
# one legacy session through front (b); the
# scripted client (tests/support/farmhold.py, /usr/bin/env python3) carries the others, from
# several loopback source addresses so that source affinity spreads them over the nodes.
. "$(dirname "$0")/lib.sh"

SUP="$(cd "$(dirname "$0")/../support" && pwd)"
TPORT=$(free_port)  # freerdp-shadow-cli (xfreerdp sessions)
EPORT=$(free_port)  # echo target (scripted sessions)
RPORT=$(free_port)  # redis
FPORT=$(free_port)  # HAProxy front
CPORT=$(free_port)  # CIM-XML on node 3
BPORT=$(free_port)  # HAProxy front (b), TLS terminated, mode http (RDG-Connection-Id)
B2PORT=$(free_port) # HAProxy front (b), TLS terminated, mode tcp (source affinity)
B3PORT=$(free_port) # HAProxy front (b), TLS terminated and re-encrypted to node 3 (backend-tls)
declare -A GP BP
for n in 1 2 3; do GP[$n]=$(free_port); BP[$n]=$(free_port); done
make_cert "$WORK"
# front (b)'s own certificate: clients bind NTLM to this one, not to the nodes'
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=front \
    -keyout "$WORK/front.key" -out "$WORK/front.crt" >/dev/null 2>&1
cat "$WORK/front.crt" "$WORK/front.key" >"$WORK/front.pem"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\bob' 'Secret2' 'RDG Users'
add_user "$WORK/users" 'CONTOSO\admin' 'AdminPw1' 'Administrators'
add_user "$WORK/users" 'CONTOSO\carol' 'Secret3' 'RDG Users'

for n in 1 2 3; do
    cat >"$WORK/n$n.conf" <<CONF
[gateway]
listen = 127.0.0.1:${GP[$n]}
certificate = cert.pem
private-key = key.pem
admin-socket = n$n.sock
backend-listen = 127.0.0.1:${BP[$n]}
trusted-proxies = 127.0.0.1
front-certificate = front.crt
[auth]
users-file = users
[farm]
redis = 127.0.0.1:$RPORT
password = farm-secret
node-name = n$n
ttl = 3s
refresh = 1s
timeout = 2s
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1
ports = $TPORT; $EPORT
CONF
done
# node 3's back-end hop is TLS too (HAProxy re-encrypts): the PROXY header, then TLS
sed -i 's/^trusted-proxies = 127.0.0.1$/trusted-proxies = 127.0.0.1\nbackend-tls = yes/' "$WORK/n3.conf"
cat >>"$WORK/n3.conf" <<CONF
[cim]
listen = 127.0.0.1:$CPORT
admin-group = BUILTIN\\Administrators
CONF
write_haproxy_cfg() {
cat >"$WORK/haproxy.cfg" <<CONF
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 3s
    timeout client 1h
    timeout server 1h
    timeout check 5s     # TLS health checks on a loaded machine
    retries 2
    option redispatch
frontend rdg
    bind 127.0.0.1:$FPORT
    default_backend nodes
backend nodes
    balance source
    hash-type consistent
    server n1 127.0.0.1:${GP[1]} check check-ssl verify none inter 1s fall 2 rise 1
    server n2 127.0.0.1:${GP[2]} check check-ssl verify none inter 1s fall 2 rise 1
    server n3 127.0.0.1:${GP[3]} check check-ssl verify none inter 1s fall 2 rise 1
frontend rdg_tls
    mode http
    bind 127.0.0.1:$BPORT ssl crt $WORK/front.pem
    default_backend nodes_plain
backend nodes_plain
    mode http
    http-reuse never
    timeout tunnel 1h
    balance hdr(RDG-Connection-Id)
    hash-type consistent
    server n1 127.0.0.1:${BP[1]} send-proxy-v2 check check-send-proxy inter 1s fall 3 rise 1
    server n2 127.0.0.1:${BP[2]} send-proxy-v2 check check-send-proxy inter 1s fall 3 rise 1
    server n3 127.0.0.1:${BP[3]} send-proxy-v2 ssl verify none check check-send-proxy inter 1s fall 3 rise 1
frontend rdg_tls_tcp
    mode tcp
    bind 127.0.0.1:$B2PORT ssl crt $WORK/front.pem
    default_backend nodes_plain_tcp
backend nodes_plain_tcp
    mode tcp
    balance source
    hash-type consistent
    server n1 127.0.0.1:${BP[1]} send-proxy-v2 check check-send-proxy inter 1s fall 3 rise 1
    server n2 127.0.0.1:${BP[2]} send-proxy-v2 check check-send-proxy inter 1s fall 3 rise 1
    server n3 127.0.0.1:${BP[3]} send-proxy-v2 ssl verify none check check-send-proxy inter 1s fall 3 rise 1
frontend rdg_tls_n3
    mode tcp
    bind 127.0.0.1:$B3PORT ssl crt $WORK/front.pem
    default_backend node3_tls
backend node3_tls
    mode tcp
    server n3 127.0.0.1:${BP[3]} send-proxy-v2 ssl verify none check check-send-proxy inter 1s fall 3 rise 1
CONF
}
write_haproxy_cfg

ctl() { local n=$1; shift; timeout 10 "$TSGWCTL" -s "$WORK/n$n.sock" "$@"; }
NS=root/cimv2/terminalservices
URL="https://CONTOSO\\admin:AdminPw1@127.0.0.1:$CPORT/$NS"
wbem() { timeout 20 wbemcli -noverify "$@"; }

start_redis() {
    mkdir -p "$WORK/redis"
    redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/redis" --save '' \
        --appendonly no --requirepass farm-secret --daemonize no >>"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=($REDIS_PID)
    wait_for 10 "$WORK/redis.log" "Ready to accept connections"
}
start_node() { # start_node N
    $TSGWD_WRAPPER "$TSGWD" -v -c "$WORK/n$1.conf" >>"$WORK/n$1.log" 2>&1 &
    NODE_PID[$1]=$!
    PIDS+=(${NODE_PID[$1]})
    wait_for 10 "$WORK/n$1.log" "tsgwd ready"
}
# farm_json N FILE: the farm-wide listing on node N
farm_json() { ctl "$1" --json connections >"$2" 2>"$2.err"; }
# wait_farm N SECONDS PYTHON-EXPR: polls node N's farm listing (j) until EXPR is true
wait_farm() {
    local n=$1 t=$2 expr=$3 i
    for i in $(seq 1 $((t * 4))); do
        if farm_json "$n" "$WORK/poll.json" &&
            [ "$(json_eval "$WORK/poll.json" "$expr" 2>/dev/null)" = True ]; then
            return 0
        fi
        sleep 0.25
    done
    return 1
}
servers() { ctl "$1" --json show Win32_TSGatewayLoadBalancer >"$WORK/lb$1.json" &&
    json_eval "$WORK/lb$1.json" "';'.join(sorted(j[0]['Servers'].split(';')))"; }

declare -A NODE_PID
start_redis || { echo "Bail out! redis-server did not start"; exit 1; }
start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
animate "$TARGET_DISPLAY"
python3 "$SUP/rdgclient.py" echo --port "$EPORT" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$WORK/echo.log" "listening" || { echo "Bail out! echo target"; exit 1; }
for n in 1 2 3; do start_node $n || { echo "Bail out! node $n did not start"; exit 1; }; done
# HAProxy's front ports were picked free earlier: if one was taken meanwhile, pick new ones
for try in 1 2 3; do
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HAP_PID=$!
    PIDS+=($HAP_PID)
    sleep 1.5
    kill -0 "$HAP_PID" 2>/dev/null && break
    log "haproxy did not start (try $try): $(grep -m1 ALERT "$WORK/haproxy.log")"
    FPORT=$(free_port); BPORT=$(free_port); B2PORT=$(free_port); B3PORT=$(free_port)
    write_haproxy_cfg
done
kill -0 "$HAP_PID" 2>/dev/null || { echo "Bail out! haproxy did not start"; exit 1; }

ok "every node joined the farm" bash -c "grep -q 'joined the farm' '$WORK/n1.log' && grep -q 'joined the farm' '$WORK/n2.log' && grep -q 'joined the farm' '$WORK/n3.log'"
ok "Win32_TSGatewayLoadBalancer.Servers lists the three live nodes (on node 2)" \
    [ "$(servers 2)" = "n1;n2;n3" ]

# --- front (b): HAProxy terminates TLS, PROXY v2 to backend-listen ---
python3 "$SUP/rdgclient.py" tunnel --gw "$B2PORT" --users "$WORK/users" --user 'CONTOSO\bob' \
    --target-port "$EPORT" --echo-check --source 127.0.0.7 >"$WORK/b-ws.log" 2>&1
ok "front b (mode tcp): WebSocket tunnel, TLS terminated by HAProxy (channel binding to its certificate)" \
    has b-ws "echo ok"
python3 "$SUP/rdgclient.py" tunnel --gw "$BPORT" --users "$WORK/users" --user 'CONTOSO\bob' \
    --target-port "$EPORT" --echo-check --legacy --source 127.0.0.7 >"$WORK/b-legacy.log" 2>&1
ok "front b (mode http): legacy tunnel, OUT and IN routed together on RDG-Connection-Id" has b-legacy "echo ok"
for try in 1 2 3 4 5; do # HAProxy may still be checking node 3's TLS back end
    python3 "$SUP/rdgclient.py" tunnel --gw "$B3PORT" --users "$WORK/users" --user 'CONTOSO\bob' \
        --target-port "$EPORT" --echo-check --source 127.0.0.8 >"$WORK/b-tls.log" 2>&1 && break
    sleep 1
done
ok "front b re-encrypting to node 3's TLS backend-listen (PROXY v2, then TLS)" has b-tls "echo ok"
ok "node 3 saw the client address through the TLS back end" \
    grep -q 'EVENT 302 .*IpAddress="127.0.0.8"' "$WORK/n3.log"
ok "front b: events carry the real client address from PROXY v2" \
    bash -c "cat '$WORK'/n[123].log | grep -q 'EVENT 302 .*IpAddress=\"127.0.0.7\"'"
python3 - "${BP[1]}" >"$WORK/untrusted.log" 2>&1 <<'PY'
import socket, sys
for src, data in (("127.0.0.9", b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12)),
                  ("127.0.0.1", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(data)
    try:
        print(src, "closed" if s.recv(100) == b"" else "answered")
    except OSError as e:
        print(src, "closed", e)
PY
ok "backend-listen: an untrusted address is closed at once" grep -q '127.0.0.9 closed' "$WORK/untrusted.log"
ok "backend-listen: a trusted address without a PROXY header is closed" grep -q '127.0.0.1 closed' "$WORK/untrusted.log"
ok "backend-listen refusals logged" bash -c "grep -q 'not in trusted-proxies' '$WORK/n1.log' && grep -q 'no valid PROXY v2 header' '$WORK/n1.log'"

# --- shared logon failure counts: 2 + 2 + 1 failures for carol on the three nodes (directly)
# reach the default auth-failures = 5 of every node; then even her right password is refused ---
python3 - "$SUP" "${GP[1]}" "${GP[2]}" "${GP[3]}" "$EPORT" >"$WORK/carol.log" 2>&1 <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import rdgclient as R
p1, p2, p3, echo = (int(x) for x in sys.argv[2:6])
bad = R.Creds.from_password('CONTOSO\\carol', 'wrong')
good = R.Creds.from_password('CONTOSO\\carol', 'Secret3')
for port in (p1, p1, p2, p2, p3):
    try:
        R.open_ws(port, bad).close()
        print('bad password accepted?!')
    except (R.ProtocolError, R.Closed, OSError) as e:
        print('failed as expected on', port)
    time.sleep(0.2)
time.sleep(1)
try:
    t = R.tunnel_to(p3, good, echo)
    print('right password: accepted')
    t.close()
except (R.ProtocolError, R.Closed, OSError) as e:
    print('right password: refused', repr(e)[:80])
PY
ok "five wrong passwords for carol, spread over the three nodes, all refused" \
    [ "$(grep -c 'failed as expected' "$WORK/carol.log")" = 5 ]
ok "node 3 (one failure of its own) blocks carol: the counts are shared" \
    grep -q 'right password: refused' "$WORK/carol.log"
ok "node 3 logged the block (event 201)" bash -c "grep -q 'logon rate limit: blocked' '$WORK/n3.log'"

# --- sessions: real xfreerdp (alice WebSocket through front a, bob legacy through front b in
# mode http: HAProxy 2.6 answers 400 to FreeRDP 2.11's WebSocket upgrade, whose
# Sec-WebSocket-Key is not base64 of 16 bytes) and scripted ones from 8 sources through front a ---
xfr_bg alice /v:127.0.0.1:$TPORT /g:127.0.0.1:$FPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
XA=$XFR_PID
xfr_bg bob /v:127.0.0.1:$TPORT /g:127.0.0.1:$BPORT /gu:'CONTOSO\bob' /gp:Secret2 \
    /gt:http,no-websockets /u:b /p:b
XB=$XFR_PID
SPECS=()
for i in 2 3 4 5 6 7; do SPECS+=("a$i,CONTOSO\\alice,127.0.0.$i,ws"); done
SPECS+=("b8,CONTOSO\\bob,127.0.0.8,legacy" "b9,CONTOSO\\bob,127.0.0.9,ws")
python3 "$SUP/farmhold.py" --gw "$FPORT" --users "$WORK/users" --target-port "$EPORT" \
    "${SPECS[@]}" >"$WORK/hold.log" 2>&1 &
HOLD=$!
PIDS+=($HOLD)
wait_for 40 "$WORK/alice.log" CONNECTION_STATE_ACTIVE
wait_for 40 "$WORK/bob.log" CONNECTION_STATE_ACTIVE
wait_for 20 "$WORK/hold.log" "open b9"
ok "scripted sessions through HAProxy (WebSocket and legacy) all open" \
    [ "$(grep -c '^open' "$WORK/hold.log")" = 8 ]
ok "farm listing on node 2 shows all 10 connections" \
    wait_farm 2 10 'len(j)==10'
cp "$WORK/poll.json" "$WORK/all.json"
ok "every farm row names its node and keys NODE/TunnelId:ChannelId" \
    [ "$(json_eval "$WORK/all.json" 'all(o["Node"] in ("n1","n2","n3") and o["ConnectionKey"]=="%s/%d:%d"%(o["Node"],o["TunnelId"],o["ChannelId"]) for o in j)')" = True ]
ok "source affinity spread the sessions over at least two nodes" \
    [ "$(json_eval "$WORK/all.json" 'len(set(o["Node"] for o in j))>=2')" = True ]
ok "alice has sessions on a node other than node 1" \
    [ "$(json_eval "$WORK/all.json" 'any(o["Node"]!="n1" for o in j if o["UserName"]=="CONTOSO\\alice")')" = True ]
farm_json 3 "$WORK/all3.json"
ok "node 3 lists the same 10 connections" \
    [ "$(json_eval "$WORK/all3.json" 'sorted(o["ConnectionKey"] for o in j)')" = "$(json_eval "$WORK/all.json" 'sorted(o["ConnectionKey"] for o in j)')" ]
ok "--local lists only the node's own connections" \
    bash -c "ctl() { timeout 10 '$TSGWCTL' -s '$WORK/n1.sock' \"\$@\"; }; ctl --local --json connections >'$WORK/local1.json'; [ \"\$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); a=json.load(open(sys.argv[2])); print(len(j)==sum(1 for o in a if o[\"Node\"]==\"n1\") and all(\":\" in o[\"ConnectionKey\"] and \"/\" not in o[\"ConnectionKey\"] for o in j))' '$WORK/local1.json' '$WORK/all.json')\" = True ]"
ALICE_NODES=$(json_eval "$WORK/all.json" '" ".join(sorted(set(o["Node"] for o in j if o["UserName"]=="CONTOSO\\alice")))')
log "alice on: $ALICE_NODES; xfreerdp from 127.0.0.1"

# --- farm-wide DisconnectUser from node 1 ---
ctl 1 --json disconnect-user 'CONTOSO\alice' >"$WORK/du1.json"
ok "disconnect-user on node 1: ReturnValue 0, three nodes answered" \
    [ "$(json_eval "$WORK/du1.json" 'j["ReturnValue"]==0 and j["Nodes"]==3 and j["Ended"]==7')" = True ]
log "farm-wide DisconnectUser: $(cat "$WORK/du1.json")"
ok "every alice session is gone from the farm listing (bob's 3 stay)" \
    wait_farm 2 5 'len(j)==3 and all(o["UserName"]=="CONTOSO\\bob" for o in j)'
ok "the scripted alice sessions got CLOSE_CHANNEL" \
    wait_for 5 "$WORK/hold.log" "closed a7"
ok "all six scripted alice sessions closed, no bob session" \
    bash -c "[ \$(grep -c '^closed a' '$WORK/hold.log') = 6 ] && ! grep -q '^closed b' '$WORK/hold.log'"
ok "alice's xfreerdp ended" bash -c "for i in \$(seq 1 50); do kill -0 $XA 2>/dev/null || exit 0; sleep 0.2; done; exit 1"
ok "bob's xfreerdp is still connected" kill -0 "$XB"
ok "event 202 (Method DisconnectUser) on every node that held alice's sessions" bash -c "for n in $ALICE_NODES; do grep -q 'EVENT 202 Username=\"CONTOSO\\\\\\\\alice\".*Method=\"DisconnectUser\"' '$WORK/'\$n.log || exit 1; done"
ctl 1 --json disconnect-user 'CONTOSO\alice' >"$WORK/du2.json"
ok "again: 2147749890 (no node had one)" \
    [ "$(json_eval "$WORK/du2.json" 'j["ReturnValue"]')" = 2147749890 ]

# --- wbemcli DisconnectUser against node 3 ---
SPECS=()
for i in 2 3 4 5; do SPECS+=("c$i,CONTOSO\\alice,127.0.0.$i,ws"); done
python3 "$SUP/farmhold.py" --gw "$FPORT" --users "$WORK/users" --target-port "$EPORT" \
    "${SPECS[@]}" >"$WORK/hold2.log" 2>&1 &
PIDS+=($!)
wait_for 20 "$WORK/hold2.log" "open c5"
ok "four new alice sessions in the farm" wait_farm 3 10 'sum(1 for o in j if o["UserName"]=="CONTOSO\\alice")==4'
wbem cm "$URL:Win32_TSGatewayConnection" 'DisconnectUser.UserName="CONTOSO\alice"' >"$WORK/cm.log" 2>&1
ok "wbemcli DisconnectUser on node 3: ReturnValue 0" grep -q "DisconnectUser: 0" "$WORK/cm.log"
ok "alice's sessions are gone on every node, bob's stay" \
    wait_farm 1 5 'len(j)==3 and all(o["UserName"]=="CONTOSO\\bob" for o in j)'
ok "the four scripted sessions got closed" \
    bash -c "for i in \$(seq 1 25); do [ \$(grep -c '^closed' '$WORK/hold2.log') = 4 ] && exit 0; sleep 0.2; done; exit 1"

# --- Disconnect NODE/T:C of another node ---
# a scripted bob session (not the xfreerdp one: behind HAProxy mode tcp every ClientAddress is
# HAProxy's; the scripted ones sent 200 bytes), preferably on another node
KEY=$(json_eval "$WORK/poll.json" 'sorted([o for o in j if o["NumberOfKilobytesSent"]==0], key=lambda o: o["Node"]=="n1")[0]["ConnectionKey"]')
ctl 1 --json disconnect "$KEY" >"$WORK/d1.json"
ok "Disconnect $KEY from node 1: ReturnValue 0" [ "$(json_eval "$WORK/d1.json" 'j["ReturnValue"]')" = 0 ]
ok "that one connection is gone" wait_farm 1 5 "len(j)==2 and '$KEY' not in [o['ConnectionKey'] for o in j]"

# --- Redis stopped ---
stop_pid "$REDIS_PID"
sleep 1
ctl 1 --json disconnect-user 'CONTOSO\nobody' >"$WORK/du-down.json"
ok "Redis down: a farm call answers 2147749909 (farm unreachable)" \
    [ "$(json_eval "$WORK/du-down.json" 'j["ReturnValue"]')" = 2147749909 ]
ok "Redis down: the farm listing says unreachable" bash -c "! '$TSGWCTL' -s '$WORK/n1.sock' connections >/dev/null 2>'$WORK/ls-down.log' && grep -q 2147749909 '$WORK/ls-down.log'"
ok "Redis down: local listing works" bash -c "'$TSGWCTL' -s '$WORK/n1.sock' --local connections >'$WORK/ls-local-down.log'"
python3 "$SUP/rdgclient.py" tunnel --gw "$FPORT" --users "$WORK/users" --user 'CONTOSO\bob' \
    --target-port "$EPORT" --echo-check --source 127.0.0.6 >"$WORK/new-down.log" 2>&1
ok "Redis down: a new tunnel through HAProxy works" has new-down "echo ok"
python3 "$SUP/farmhold.py" --gw "$FPORT" --users "$WORK/users" --target-port "$EPORT" \
    "d6,CONTOSO\\alice,127.0.0.6,ws" >"$WORK/hold3.log" 2>&1 &
PIDS+=($!)
wait_for 15 "$WORK/hold3.log" "open d6"
ok "Redis down: bob's xfreerdp is still connected" kill -0 "$XB"
start_redis || { echo "Bail out! redis-server did not restart"; exit 1; }
ok "Redis back: the nodes re-register, the farm view shows bob's 2 and the new alice session" \
    wait_farm 2 15 'len(j)==3 and sum(1 for o in j if o["UserName"]=="CONTOSO\\alice")==1'
ok "Redis back: Servers lists the three nodes again" bash -c "for i in \$(seq 1 20); do [ \"\$(ctl() { timeout 10 '$TSGWCTL' -s '$WORK/n1.sock' \"\$@\"; }; ctl --json show Win32_TSGatewayLoadBalancer | python3 -c 'import json,sys; print(\";\".join(sorted(json.load(sys.stdin)[0][\"Servers\"].split(\";\"))))')\" = n1\\;n2\\;n3 ] && exit 0; sleep 0.5; done; exit 1"

# --- SIGKILL a node that holds a session ---
farm_json 1 "$WORK/before-kill.json"
log "before the kill: $(json_eval "$WORK/before-kill.json" '[(o["ConnectionKey"], o["UserName"], o["ClientAddress"]) for o in j]')"
VICTIM=$(json_eval "$WORK/before-kill.json" '([o["Node"] for o in j if o["Node"]!="n1"] + ["n3"])[0]')
VN=${VICTIM#n}
log "SIGKILL node $VICTIM (pid ${NODE_PID[$VN]})"
kill -KILL "${NODE_PID[$VN]}"
T0=$(date +%s.%N)
ok "the killed node's entries vanish within the TTL (3 s, +1 s polling)" \
    wait_farm 1 4 "all(o['Node']!='$VICTIM' for o in j) and len(j)==len([o for o in json.load(open('$WORK/before-kill.json')) if o['Node']!='$VICTIM'])"
log "entries gone after $(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo '?') s"
ok "Servers no longer lists it" bash -c "for i in \$(seq 1 20); do ctl() { timeout 10 '$TSGWCTL' -s '$WORK/n1.sock' \"\$@\"; }; ctl --json show Win32_TSGatewayLoadBalancer | grep -q '$VICTIM' || exit 0; sleep 0.5; done; exit 1"

# --- farm-wide DisconnectProtocol from a surviving node ends the rest ---
ctl 1 --json disconnect-protocol RDP >"$WORK/dp.json"
ok "DisconnectProtocol from node 1: ReturnValue 0" [ "$(json_eval "$WORK/dp.json" 'j["ReturnValue"]')" = 0 ]
ok "the farm is empty" wait_farm 1 5 'len(j)==0'
# --- farm-wide max-connections: 2 for the whole farm (reloaded with SIGHUP) ---
for n in 1 2 3; do
    [ "n$n" = "$VICTIM" ] && continue
    printf '[settings]\nmax-connections = 2\n' >>"$WORK/n$n.conf"
    kill -HUP "${NODE_PID[$n]}"
    wait_for 5 "$WORK/n$n.log" "SIGHUP: configuration reloaded" || log "node $n did not reload"
done
python3 "$SUP/farmhold.py" --gw "$FPORT" --users "$WORK/users" --target-port "$EPORT" \
    "m2,CONTOSO\\bob,127.0.0.2,ws" "m3,CONTOSO\\bob,127.0.0.3,ws" >"$WORK/hold4.log" 2>&1 &
PIDS+=($!)
wait_for 15 "$WORK/hold4.log" "open m3"
ok "two tunnels open under max-connections = 2" wait_farm 1 10 'len(j)==2'
sleep 1 # the nodes' counts reach Redis and each other (every 250 ms)
REFUSED=0
for i in 4 5 6 7 8 9; do
    python3 "$SUP/rdgclient.py" tunnel --gw "$FPORT" --users "$WORK/users" --user 'CONTOSO\bob' \
        --target-port "$EPORT" --source 127.0.0.$i >"$WORK/max$i.log" 2>&1 || REFUSED=$((REFUSED + 1))
done
ok "a third tunnel is refused on every node (6 of 6 sources), the limit counts the farm" [ "$REFUSED" = 6 ]
ok "event 203 (maximum connections) logged" bash -c "cat '$WORK'/n[123].log | grep -q 'EVENT 203'"
for n in 1 2 3; do
    [ "n$n" = "$VICTIM" ] && continue
    ok "node $n still running" kill -0 "${NODE_PID[$n]}"
done
finish
