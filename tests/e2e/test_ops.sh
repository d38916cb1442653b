#!/usr/bin/env bash
# Issue 13 (operations), with real xfreerdp sessions ended by DisconnectUser:
#  1. the live event stream (tsgwctl watch [--json]), admin-only, a stuck watcher harmless;
#  2. native journal entries: in a mount namespace this test creates, its own datagram socket is
#     /run/systemd/journal/socket; tsgwd (target auto, stderr named by JOURNAL_STREAM) sends
#     structured entries there;
#  3. /metrics: promtool check metrics, and a real Prometheus on loopback scraping it every
#     second, whose query API shows the tunnel gauge rise and fall with the session;
#  4. [log] target = syslog: in another mount namespace, this test's datagram socket is /dev/log.
# Needs root (setpriv, unshare -m, mount).
. "$(dirname "$0")/lib.sh"

TPORT=$(free_port)
GPORT=$(free_port)
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
[cap:Staff]
user-groups = RDG Users
[rap:Lab]
user-groups = RDG Users
resources = 127.0.0.1
ports = $TPORT
[limits]
auth-failures = 1000000
[log]
watch-queue = 16
CONF
ctl() { "$TSGWCTL" -s "$SOCK" "$@"; }

start_target "$TPORT" target || { echo "Bail out! RDP target did not start"; exit 1; }
start_tsgwd "$WORK/tsgw.conf" gw || { echo "Bail out! tsgwd did not start"; exit 1; }

# ---- tsgwctl watch ----
ctl watch --json >"$WORK/watch.json" 2>"$WORK/watch.err" &
WATCH_PID=$!
PIDS+=($WATCH_PID)
ctl watch >"$WORK/watch.txt" 2>&1 &
WATCHT_PID=$!
PIDS+=($WATCHT_PID)
wait_for 5 "$WORK/gw.log" "watches the event stream"
chmod 755 "$WORK"
chmod 666 "$SOCK"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$TSGWCTL" -s "$SOCK" watch \
    >"$WORK/watch-nobody.log" 2>&1
rc=$?
chmod 700 "$WORK"
ok "watch as an unprivileged user: refused (access denied), exit non-zero" \
    bash -c "[ $rc -ne 0 ] && grep -q 'access denied' '$WORK/watch-nobody.log'"

xfr_bg alice /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
A=$XFR_PID
wait_for 40 "$WORK/alice.log" CONNECTION_STATE_ACTIVE
ok "xfreerdp session active through tsgwd" has alice CONNECTION_STATE_ACTIVE
ctl disconnect-user 'CONTOSO\alice' >"$WORK/du.log"
ok "disconnect-user: ReturnValue 0" has du "ReturnValue = 0"
wait_for 10 "$WORK/watch.json" '"EventId":202'
python3 - "$WORK/watch.json" >"$WORK/watch-check.log" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ids = [e["EventId"] for e in evs]
print("ids", ids)
want = [200, 300, 302, 202]
ok = ids == want
ok = ok and all(e["Username"] == "CONTOSO\\alice" and e["IpAddress"] == "127.0.0.1" for e in evs)
ok = ok and evs[2]["Resource"] == "127.0.0.1" and isinstance(evs[2]["TunnelId"], int)
ok = ok and evs[3]["Method"] == "DisconnectUser" and evs[3]["BytesReceived"] > 0
ok = ok and [e["Seq"] for e in evs] == sorted(e["Seq"] for e in evs)
print("WATCH-OK" if ok else "WATCH-BAD", evs)
PY
ok "watch --json shows 200, 300, 302, 202 for alice's session, with the event log's fields" \
    has watch-check WATCH-OK
ok "watch (text) shows the same four event lines as the log" \
    bash -c "[ \"\$(grep -o 'EVENT [0-9]*' '$WORK/watch.txt' | tr '\n' ' ')\" = 'EVENT 200 EVENT 300 EVENT 302 EVENT 202 ' ] &&
             grep -qF \"\$(grep -o 'EVENT 302 .*' '$WORK/gw.log')\" '$WORK/watch.txt'"
stop_pid "$WATCHT_PID"
ok "the xfreerdp client ended" bash -c "for i in \$(seq 1 40); do kill -0 $A 2>/dev/null || exit 0; sleep 0.05; done; exit 1"

# a watcher that stops reading: bounded ([log] watch-queue = 16 here), the gateway keeps going,
# the watcher is told exactly how many events it lost; a watcher that reads loses none
python3 - "$SOCK" "$WORK/go" >"$WORK/stuck.log" 2>&1 <<'PY' &
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"TSGW/1\twatch\tjson\n")
print("stuck", flush=True)
for _ in range(600):  # at most 60 s
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
s.settimeout(2)
data = b""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    data += d
lines = data.decode().splitlines()
assert lines[0].startswith("TSGW/1\t0\t"), lines[0]
expect, got, lost, gaps = None, 0, 0, 0
for l in lines[1:]:
    j = json.loads(l)
    if "Gap" in j:
        gaps += 1
        lost += j["Gap"]
        expect = None if expect is None else expect + j["Gap"]
        continue
    if expect is not None and j["Seq"] != expect:
        print("SEQ-MISMATCH", expect, j["Seq"])
        sys.exit(1)
    expect = j["Seq"] + 1
    got += 1
print("received", got, "lost", lost, "gap notices", gaps, "last seq", expect - 1)
print("GAP-OK" if gaps >= 1 and lost > 0 and got > 0 else "GAP-BAD")
PY
STUCK=$!
PIDS+=($STUCK)
wait_for 5 "$WORK/stuck.log" stuck
ctl watch --json >"$WORK/fast.json" 2>&1 &
FAST=$!
PIDS+=($FAST)
sleep 0.5
python3 - "$GPORT" 600 >"$WORK/flood.log" 2>&1 <<'PY'
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sess = None
for i in range(n):  # each: one failed logon, one event 201
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname="localhost", session=sess)
    t.sendall(b"RDG_OUT_DATA /remoteDesktopGateway/ HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: NTLM bm90bnRsbQ==\r\n\r\n")
    try:
        t.recv(4096)
    except OSError:
        pass
    sess = t.session or sess
    t.close()
print("sent", n)
PY
ok "600 failed logons while a watcher is stuck: the admin socket still answers" \
    bash -c "'$TSGWCTL' -s '$SOCK' ls >/dev/null"
touch "$WORK/go"
for i in $(seq 1 100); do kill -0 "$STUCK" 2>/dev/null || break; sleep 0.1; done
log "stuck watcher: $(grep received "$WORK/stuck.log")"
ok "the stuck watcher was told what it lost: gap notices, and Seq + gaps account for every event" \
    has stuck GAP-OK
# the events reach the reading watcher after the flood's last answer: give it up to 10 s
for i in $(seq 1 100); do
    [ "$(grep -c '"EventId":201' "$WORK/fast.json")" -ge 600 ] && break
    sleep 0.1
done
ok "a watcher that reads got all 600 events 201, without a gap" \
    bash -c "[ \"\$(grep -c '\"EventId\":201' '$WORK/fast.json')\" = 600 ] && ! grep -q Gap '$WORK/fast.json'"
stop_pid "$FAST"
stop_pid "$STUCK"
stop_pid "$WATCH_PID"
stop_pid "$GW_PID"

# ---- 2. journald (native protocol) and 3. metrics, one tsgwd ----
mkdir -m 700 "$WORK/journal"
python3 - "$WORK/journal/socket" >"$WORK/journal.jsonl" 2>"$WORK/journal.err" <<'PY' &
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
print(json.dumps({"LISTENING": "1"}), flush=True)
while True:
    try:
        d = s.recv(1 << 20)
    except socket.timeout:
        break
    f, i = {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:  # binary-safe form: NAME, LF, 64-bit little-endian size, value, LF
            k = line
            n = struct.unpack("<Q", d[nl + 1:nl + 9])[0]
            v = d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        f[k.decode()] = v.decode("utf-8", "replace")
    print(json.dumps(f), flush=True)
PY
JPID=$!
PIDS+=($JPID)
wait_for 5 "$WORK/journal.jsonl" LISTENING
MPORT=$(free_port)
PPORT=$(free_port)
sed -e '/^\[auth\]/i [log]\ntarget = auto\n[metrics]\nlisten = 127.0.0.1:'"$MPORT" \
    "$WORK/tsgw.conf" >"$WORK/tsgw2.conf"
: >"$WORK/gw2.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$WORK/gw2.log") unshare -m sh -c \
    'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal &&
     mount --bind "$0" /run/systemd/journal && exec "$@"' \
    "$WORK/journal" "$TSGWD" -c "$WORK/tsgw2.conf" >>"$WORK/gw2.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
wait_for 10 "$WORK/journal.jsonl" "tsgwd ready" || { echo "Bail out! tsgwd (journal) did not start"; exit 1; }
ok "stderr is the journal (JOURNAL_STREAM): diagnostics arrive as native entries, not on stderr" \
    bash -c "grep -q '\"MESSAGE\": \"tsgwd ready\"' '$WORK/journal.jsonl' && ! grep -q 'tsgwd ready' '$WORK/gw2.log'"

curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics0.txt"
ok "/metrics answers (text format 0.0.4)" grep -q '^tsgw_tunnels{transport="websocket"} 0$' "$WORK/metrics0.txt"
ok "promtool check metrics: clean" bash -c "promtool check metrics <'$WORK/metrics0.txt' >'$WORK/promtool0.log' 2>&1"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
listener_codes_ok() {
    local big
    big=$(head -c 9000 /dev/zero | tr '\0' a)
    [ "$(code "http://127.0.0.1:$MPORT/nope")" = 404 ] &&
        [ "$(code -X POST "http://127.0.0.1:$MPORT/metrics")" = 405 ] &&
        [ "$(code -X GET --data x "http://127.0.0.1:$MPORT/metrics")" = 413 ] &&
        [ "$(code -H "X-Big: $big" "http://127.0.0.1:$MPORT/metrics")" = 431 ]
}
ok "the metrics listener: 404 elsewhere, 405 for POST, 413 for a body, 431 for a huge header" \
    listener_codes_ok
ok "HEAD /metrics: headers only" \
    bash -c "curl -sI http://127.0.0.1:$MPORT/metrics | grep -qi '^content-type: text/plain; version=0.0.4'"
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: tsgw
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM=$!
PIDS+=($PROM)
pq() { # pq PROMQL: the instant value, or nothing
    curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
}
for i in $(seq 1 150); do [ "$(pq 'up{job="tsgw"}')" = 1 ] && break; sleep 0.2; done
ok "a real Prometheus scrapes tsgwd (up == 1)" [ "$(pq 'up{job="tsgw"}')" = 1 ]
T0=$(date +%s)
sleep 2

xfr_bg alice2 /v:127.0.0.1:$TPORT /g:127.0.0.1:$GPORT /gu:'CONTOSO\alice' /gp:Secret1 /u:a /p:a
A=$XFR_PID
wait_for 40 "$WORK/alice2.log" CONNECTION_STATE_ACTIVE
ok "second xfreerdp session active" has alice2 CONNECTION_STATE_ACTIVE
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics1.txt"
ok "during the session: one websocket tunnel, one user, one channel open" \
    bash -c "grep -q '^tsgw_tunnels{transport=\"websocket\"} 1$' '$WORK/metrics1.txt' &&
             grep -q '^tsgw_users 1$' '$WORK/metrics1.txt' && grep -q '^tsgw_channels_open 1$' '$WORK/metrics1.txt'"
ok "during the session: promtool check metrics still clean" bash -c "promtool check metrics <'$WORK/metrics1.txt' >/dev/null 2>&1"
sleep 3
"$TSGWCTL" -s "$SOCK" disconnect-user 'CONTOSO\alice' >"$WORK/du2.log"
for i in $(seq 1 40); do kill -0 "$A" 2>/dev/null || break; sleep 0.05; done
sleep 3
T1=$(date +%s)
curl -sf --get "http://127.0.0.1:$PPORT/api/v1/query_range" --data-urlencode 'query=sum(tsgw_tunnels)' \
    --data-urlencode "start=$T0" --data-urlencode "end=$T1" --data-urlencode step=1 >"$WORK/range.json"
python3 - "$WORK/range.json" >"$WORK/range.log" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
v = [int(float(x[1])) for x in r[0]["values"]] if r else []
print("values", v)
# 0 before, 1 during, 0 after, in that order
ok = len(v) >= 6 and v[0] == 0 and v[-1] == 0 and 1 in v and max(v) == 1
ok = ok and v.index(1) > 0 and all(x == 0 for x in v[len(v) - 1 - v[::-1].index(1) + 1:])
print("RANGE-OK" if ok else "RANGE-BAD")
PY
ok "Prometheus query API: sum(tsgw_tunnels) went 0 -> 1 -> 0 with the session" has range RANGE-OK
log "sum(tsgw_tunnels) per second: $(grep values "$WORK/range.log")"
prom_counters_ok() {
    local du adm logon bytes
    du=$(pq 'tsgw_admin_disconnects_total{method="DisconnectUser"}')
    adm=$(pq 'tsgw_channels_closed_total{reason="admin"}')
    logon=$(pq 'tsgw_logons_total{result="success",method="NTLM"}')
    bytes=$(pq 'tsgw_relay_bytes_total{direction="resource_to_client"}')
    pre=$(pq 'tsgw_preauth_connections_total{outcome="accepted"}')
    log "Prometheus: DisconnectUser=$du closed(admin)=$adm logons(success,NTLM)=$logon bytes(to client)=$bytes preauth(accepted)=$pre"
    [ "$du" = 1 ] && [ "$adm" = 1 ] && [ "${logon:-0}" -ge 1 ] && [ "${pre:-0}" -ge 1 ] &&
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 1000 else 1)' "${bytes:-0}"
}
ok "Prometheus: one DisconnectUser, one channel closed by an admin, a logon, relay bytes, pre-auth" \
    prom_counters_ok

python3 - "$WORK/journal.jsonl" >"$WORK/journal-check.log" <<'PY'
import json, sys
ents = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
evs = [e for e in ents if "TSGW_EVENT_ID" in e]
ids = [int(e["TSGW_EVENT_ID"]) for e in evs]
print("ids", ids)
want = {200: "6", 300: "6", 302: "6", 202: "5"}
ok = ids == [200, 300, 302, 202]
for e in evs:
    i = int(e["TSGW_EVENT_ID"])
    ok = ok and e["MESSAGE_ID"] == "4f1ad8e0b5a94c2fa7d36b91c8%06d" % i
    ok = ok and e["PRIORITY"] == want.get(i) and e["SYSLOG_IDENTIFIER"] == "tsgwd"
    ok = ok and e["TSGW_USERNAME"] == "CONTOSO\\alice" and e["TSGW_CLIENT_ADDRESS"] == "127.0.0.1"
    ok = ok and e["MESSAGE"].startswith("EVENT %d " % i)
    if i != 200:
        ok = ok and e["TSGW_RESOURCE"] == "127.0.0.1"
e202 = evs[-1] if evs else {}
ok = ok and e202.get("TSGW_METHOD") == "DisconnectUser" and int(e202.get("TSGW_BYTES_TRANSFERED", 0)) > 0
ok = ok and evs[2].get("TSGW_TRANSPORT") == "websocket" and evs[0].get("TSGW_AUTH_TYPE") == "NTLM"
print("JOURNAL-OK" if ok else "JOURNAL-BAD", evs)
PY
ok "journal: 200, 300, 302, 202 as native entries with MESSAGE_ID, PRIORITY, TSGW_* fields" \
    has journal-check JOURNAL-OK
ok "journal: no event went to stderr" hasnt gw2 "EVENT "
stop_pid "$PROM"
stop_pid "$GW_PID"
stop_pid "$JPID"

# ---- 4. syslog: /dev/log is this test's socket (the namespace's /dev is a tmpfs holding the
# few device nodes tsgwd needs, bound from the real /dev, and the socket) ----
python3 - "$WORK/syslog.sock" >"$WORK/syslog.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
print("LISTENING", flush=True)
while True:
    try:
        print(s.recv(65536).decode("utf-8", "replace"), flush=True)
    except socket.timeout:
        break
PY
SPID=$!
PIDS+=($SPID)
wait_for 5 "$WORK/syslog.log" LISTENING
sed -e '/^\[auth\]/i [log]\ntarget = syslog' "$WORK/tsgw.conf" >"$WORK/tsgw3.conf"
mkdir -p "$WORK/realdev"
unshare -m sh -c '
    mount --rbind /dev "$0/realdev" && mount -t tmpfs -o mode=755 tmpfs /dev &&
    for n in null zero random urandom; do
        : >"/dev/$n" && mount --bind "$0/realdev/$n" "/dev/$n" || exit 1
    done &&
    : >/dev/log && mount --bind "$0/syslog.sock" /dev/log && umount -l "$0/realdev" &&
    exec "$@"' "$WORK" "$TSGWD" -c "$WORK/tsgw3.conf" >"$WORK/gw3.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
wait_for 10 "$WORK/syslog.log" "tsgwd ready"
curl -sk -o /dev/null -X RDG_OUT_DATA -H 'Authorization: NTLM bm90bnRsbQ==' \
    "https://127.0.0.1:$GPORT/remoteDesktopGateway/"
wait_for 5 "$WORK/syslog.log" "EVENT 201"
ok "syslog: diagnostics as daemon.info (<30>), ident tsgwd with its pid" \
    grep -Eq '^<30>.* tsgwd\[[0-9]+\]: tsgwd ready$' "$WORK/syslog.log"
ok "syslog: event 201 as daemon.warning (<28>), the line from EVENT on" \
    grep -Eq '^<28>.* tsgwd\[[0-9]+\]: EVENT 201 Username="" IpAddress="127.0.0.1".* ErrorCode="1326"' "$WORK/syslog.log"
ok "syslog: nothing on stderr" hasnt gw3 "EVENT "
stop_pid "$GW_PID"
stop_pid "$SPID"

# [log] target = journal with no journal to talk to: lines go to stderr rather than nowhere
sed -e '/^\[auth\]/i [log]\ntarget = journal' "$WORK/tsgw.conf" >"$WORK/tsgw4.conf"
unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' sh "$TSGWD" -c "$WORK/tsgw4.conf" \
    >"$WORK/gw4.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
ok "target = journal without a journal: diagnostics fall back to stderr" \
    wait_for 10 "$WORK/gw4.log" "tsgwd ready"
stop_pid "$GW_PID"
finish
