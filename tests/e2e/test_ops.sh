#!/usr/bin/env bash
# Issue 13 (operations): the live event stream (tsgwctl watch), with a real xfreerdp session
# ended by DisconnectUser. Needs root for the unprivileged-caller check (setpriv).
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

# a watcher that never reads: the gateway keeps serving the admin socket
python3 - "$SOCK" >"$WORK/stuck.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1]); s.sendall(b"TSGW/1\twatch\tjson\n"); print("stuck", flush=True); time.sleep(60)
PY
STUCK=$!
PIDS+=($STUCK)
wait_for 5 "$WORK/stuck.log" stuck
ok "the admin socket answers while a watcher is stuck" bash -c "'$TSGWCTL' -s '$SOCK' ls >/dev/null"
stop_pid "$STUCK"
stop_pid "$WATCH_PID"
finish
