#!/usr/bin/env bash
# Issue 13: systemd integration. The notify sequence read from a NOTIFY_SOCKET this test
# creates (READY, STATUS, WATCHDOG, RELOADING + MONOTONIC_USEC then READY on SIGHUP, also for a
# refused reload, STOPPING on SIGTERM); the unit checked by `systemd-analyze verify` and scored by
# `systemd-analyze security --offline=true`; the man pages lint-clean.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

GPORT=$(free_port)
make_cert "$WORK"
add_user "$WORK/users" 'CONTOSO\alice' 'Secret1' 'RDG Users'
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
[log]
target = stderr
[cap:Staff]
user-groups = RDG Users
CONF

# ---- notify: a datagram socket standing in for systemd's ----
python3 - "$WORK/notify.sock" >"$WORK/notify.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
s.settimeout(30)
t0 = time.monotonic()
while time.monotonic() - t0 < 30:
    try:
        d = s.recv(4096)
    except socket.timeout:
        break
    for line in d.decode().split("\n"):
        print("%.3f %s" % (time.monotonic(), line), flush=True)
PY
NPID=$!
PIDS+=($NPID)
wait_for 5 "$WORK/notify.log" LISTENING
# WATCHDOG_PID must name tsgwd itself: the shell's pid, kept by exec
NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=2000000 \
    sh -c 'export WATCHDOG_PID=$$; exec "$0" -c "$1"' "$TSGWD" "$WORK/tsgw.conf" \
    >"$WORK/gw.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
wait_for 10 "$WORK/notify.log" "READY=1"
ok "READY=1 once listening" has notify " READY=1"
ok "the daemon was listening before READY=1" \
    bash -c "grep -q 'listening on 127.0.0.1:$GPORT' '$WORK/gw.log'"
wait_for 5 "$WORK/notify.log" "STATUS="
ok "STATUS= with live tunnel and user counts" has notify "STATUS=0 tunnel(s), 0 user(s), 0 connection(s) before logon"
# Pings come from the 250 ms sweep once half of WATCHDOG_USEC (2 s) has passed: at least 3 within
# 6 s, and never two further apart than WATCHDOG_USEC (systemd would have killed the daemon).
for _ in $(seq 1 60); do
    [ "$(grep -c ' WATCHDOG=1' "$WORK/notify.log")" -ge 3 ] && break
    sleep 0.1
done
ok "WATCHDOG=1 at least 3 times within 6 s (WATCHDOG_USEC 2 s)" \
    [ "$(grep -c ' WATCHDOG=1' "$WORK/notify.log")" -ge 3 ]
ok "no two WATCHDOG=1 further apart than WATCHDOG_USEC" python3 - "$WORK/notify.log" <<'PY'
import sys
t = [float(l.split(" ", 1)[0]) for l in open(sys.argv[1]) if l.rstrip().endswith(" WATCHDOG=1")]
gaps = [b - a for a, b in zip(t, t[1:])]
print("# watchdog gaps (s):", " ".join("%.3f" % g for g in gaps))
sys.exit(0 if len(t) >= 3 and max(gaps) < 2.0 else 1)
PY

kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "configuration reloaded"
sleep 0.3
python3 - "$WORK/notify.log" >"$WORK/reload-check.log" <<'PY'
import re, sys, time
lines = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]) if " " in l]
msgs = [m for _, m in lines]
i = msgs.index("RELOADING=1")
mono = msgs[i + 1]
ok = re.fullmatch(r"MONOTONIC_USEC=\d+", mono) is not None
# MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds: python's monotonic clock is the same clock
usec = int(mono.split("=")[1])
recv = float(lines[i][0])
ok = ok and abs(usec / 1e6 - recv) < 1.0
ok = ok and "READY=1" in msgs[i + 2:]
print("RELOAD-OK" if ok else "RELOAD-BAD", msgs[i:i + 4], usec / 1e6, recv)
PY
ok "SIGHUP: RELOADING=1 with MONOTONIC_USEC (the monotonic clock, in us), then READY=1" \
    has reload-check RELOAD-OK
n_ready=$(grep -c ' READY=1' "$WORK/notify.log")
echo "[nonsense" >>"$WORK/tsgw.conf"
kill -HUP "$GW_PID"
wait_for 5 "$WORK/gw.log" "not reloaded"
sleep 0.3
ok "a refused reload still ends with READY=1 (the old configuration keeps running)" \
    [ "$(grep -c ' READY=1' "$WORK/notify.log")" -gt "$n_ready" ]
kill -TERM "$GW_PID"
for i in $(seq 1 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
ok "SIGTERM: STOPPING=1, then the daemon exits" \
    bash -c "grep -q ' STOPPING=1' '$WORK/notify.log' && ! kill -0 $GW_PID 2>/dev/null"
stop_pid "$NPID"
ok "without NOTIFY_SOCKET the daemon runs as before (the other tests), here: -t passes" \
    bash -c "head -n -1 '$WORK/tsgw.conf' >'$WORK/ok.conf' && '$TSGWD' -t -c '$WORK/ok.conf' >/dev/null"

# ---- the unit ----
sed -e "s|@SBINDIR@|$(dirname "$TSGWD")|g" -e "s|@SYSCONFDIR@|$WORK/etc|g" \
    "$SRC/dist/tsgwd.service.in" >"$WORK/tsgwd.service"
systemd-analyze verify --man=no "$WORK/tsgwd.service" >"$WORK/verify.log" 2>&1
rc=$?
ok "systemd-analyze verify tsgwd.service: clean" bash -c "[ $rc -eq 0 ] && [ ! -s '$WORK/verify.log' ]"
systemd-analyze security --offline=true "$WORK/tsgwd.service" >"$WORK/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for tsgwd.service: \([0-9.]*\).*/\1/p' "$WORK/security.log")
log "systemd-analyze security --offline=true: exposure $score"
ok "exposure score below 2.0 (got ${score:-none})" \
    python3 -c "import sys; sys.exit(0 if float('${score:-99}') < 2.0 else 1)"
ok "Type=notify, ExecReload sends SIGHUP, WatchdogSec set" \
    bash -c "grep -qx 'Type=notify' '$WORK/tsgwd.service' && grep -q 'ExecReload=/bin/kill -HUP \$MAINPID' '$WORK/tsgwd.service' && grep -q '^WatchdogSec=' '$WORK/tsgwd.service'"

# ---- man pages ----
for m in "$BUILD/tsgwd.8" "$BUILD/tsgwctl.8" "$BUILD/tsgw.conf.5"; do
    ok "$(basename "$m"): mandoc -Tlint -Wwarning clean" bash -c "mandoc -Tlint -Wwarning '$m' >'$WORK/lint.log' 2>&1"
done
ok "tsgw.conf(5) lists every key of docs/tsgw.conf.md and docs/limits.md" \
    python3 - "$SRC/docs/tsgw.conf.md" "$SRC/docs/limits.md" "$BUILD/tsgw.conf.5" <<'PY'
import re, sys
keys = set()
for f in sys.argv[1:3]:
    for l in open(f):
        m = re.match(r"\| `([a-zA-Z-]+)`", l)
        if m:
            keys.add(m.group(1))
page = open(sys.argv[3]).read().replace("\\-", "-")
missing = [k for k in sorted(keys) if k not in page]
print("missing", missing, file=sys.stderr)
sys.exit(1 if missing or len(keys) < 40 else 0)
PY
finish
