#!/usr/bin/env bash
# Does scraping /metrics slow the relay? (issue 13). Runs tsgwd with [metrics] listen, the bulk
# load of docs/bench.md (tools/tsgw-load, 16 WebSocket tunnels, both directions, to
# tools/tsgw-sink), alternating three scrape regimes, REPS times each:
#   none    no scraper;
#   10/s    a scraper fetching /metrics every 100 ms (150 times Prometheus's default rate);
#   flood   a scraper fetching /metrics back to back (worst case; it competes for the CPU too);
# medians, since the machine may be shared;
# then the cost of one scrape with 1,000 idle tunnels open (the page walks every tunnel).
# Prints a table and, last, one JSON line. Loopback only; every process stopped by its PID.
# Usage: scripts/bench-metrics.sh [BUILD_DIR]   (REPS=n, BYTES=64M to change the sizes)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
REPS=${REPS:-3}
BYTES=${BYTES:-64M}
TUNNELS=16
IDLE=${IDLE:-1000}
WORK=$(mktemp -d /tmp/tsgw-bench-metrics.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "bench-metrics: $*" >&2; exit 1; }
wait_for() {
    local i
    for i in $(seq 1 $(($1 * 10))); do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
ninja -C "$BUILD" tsgwd tsgwctl tools/tsgw-load tools/tsgw-sink >/dev/null || die "build failed"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl failed"
printf 'Bench-pw-1\n' | "$BUILD/tsgwctl" user add --users-file "$WORK/users" --groups 'RDG Users' \
    'CONTOSO\alice' >/dev/null
NTHASH=$(awk -F: '/^CONTOSO\\alice:/{print $2}' "$WORK/users")
"$BUILD/tools/tsgw-sink" --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
wait_for 5 "$WORK/sink.log" LISTENING || die "sink did not start"
SPORT=$(awk '/^LISTENING/{print $2}' "$WORK/sink.log")
GPORT=$(free_port)
MPORT=$(free_port)
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
netbios-domain = CONTOSO
gateway-names = 127.0.0.1
[limits]
max-unauthenticated = 100000
max-unauthenticated-per-address = 100000
[metrics]
listen = 127.0.0.1:$MPORT
[cap:Bench]
user-groups = RDG Users
[rap:Sink]
user-groups = RDG Users
resources = 127.0.0.1
ports = $SPORT
CONF
"$BUILD/tsgwd" -c "$WORK/tsgw.conf" >"$WORK/tsgwd.log" 2>&1 &
GW=$!
PIDS+=($GW)
wait_for 10 "$WORK/tsgwd.log" "tsgwd ready" || die "tsgwd did not start"
LOAD=("$BUILD/tools/tsgw-load" --gateway "127.0.0.1:$GPORT" --target "127.0.0.1:$SPORT"
      --domain CONTOSO --nthash "$NTHASH" --user alice)
URL="http://127.0.0.1:$MPORT/metrics"
scrapes() { curl -sf "$URL" | awk '/^tsgw_metrics_scrapes_total/{print $2}'; }

scraper() { # scraper INTERVAL_S: fetches /metrics until killed (0 = back to back)
    exec python3 - "$URL" "$1" 2>/dev/null <<'PY'
import sys, time, urllib.request
url, iv = sys.argv[1], float(sys.argv[2])
while True:
    urllib.request.urlopen(url, timeout=5).read()
    if iv:
        time.sleep(iv)
PY
}

declare -A VALS
for rep in $(seq 1 "$REPS"); do
    for regime in none 10/s flood; do
        SP=
        case $regime in
        10/s) scraper 0.1 & SP=$! ;;
        flood) scraper 0 & SP=$! ;;
        esac
        [ -n "$SP" ] && PIDS+=($SP)
        sleep 0.5
        s0=$(scrapes)
        r=$("${LOAD[@]}" --tunnels $TUNNELS --bytes "$BYTES" --direction both --timeout 300 | tail -n1)
        s1=$(scrapes)
        [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
        mbps=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(j["mbps"] if j.get("failed",1)==0 else "")' "$r" 2>/dev/null)
        [ -n "$mbps" ] || die "load run failed: $r"
        secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("seconds",0))' "$r")
        echo "rep $rep  $regime  $mbps MB/s  scrapes during the run: $((s1 - s0 - 1))" >&2
        VALS[$regime]="${VALS[$regime]:-} $mbps"
    done
done
median() { python3 -c 'import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 1))' ${VALS[$1]}; }
M_NONE=$(median none); M_10=$(median 10/s); M_FLOOD=$(median flood)

# one scrape's cost with IDLE idle tunnels
"${LOAD[@]}" --tunnels "$IDLE" --idle >"$WORK/idle.log" 2>&1 &
IP=$!
PIDS+=($IP)
wait_for 120 "$WORK/idle.log" READY || die "idle tunnels did not open"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
N_SCRAPES=2000
C0=$(cpu_ticks "$GW")
read -r SCRAPE_MS PAGE_BYTES < <(python3 - "$URL" "$N_SCRAPES" <<'PY'
import sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
for _ in range(n):
    body = urllib.request.urlopen(url, timeout=5).read()
print(round((time.perf_counter() - t0) / n * 1000, 3), len(body))
PY
)
C1=$(cpu_ticks "$GW")
# tsgwd's own CPU per scrape (accept, parse, render, write, close), in microseconds
SCRAPE_CPU_US=$(python3 -c "import os; print(round(($C1 - $C0) / os.sysconf('SC_CLK_TCK') / $N_SCRAPES * 1e6, 1))")
TUN=$(curl -sf "$URL" | awk '/^tsgw_tunnels\{transport="websocket"\}/{print $2}')
kill "$IP"; wait "$IP" 2>/dev/null

echo "regime   MB/s: median of $REPS ($TUNNELS tunnels, $BYTES each way each)   all runs"
for r in none 10/s flood; do printf '%-8s %8s %s\n' "$r" "$(median "$r")" "${VALS[$r]}"; done
echo "one scrape with $TUN idle tunnels: $SCRAPE_MS ms (client round trip), tsgwd CPU $SCRAPE_CPU_US us, page $PAGE_BYTES bytes"
python3 -c 'import json,sys; a=sys.argv; print(json.dumps({"mbps_none": float(a[1]), "mbps_scrape_10ps": float(a[2]), "mbps_scrape_flood": float(a[3]), "ratio_10ps": round(float(a[2])/float(a[1]),3), "ratio_flood": round(float(a[3])/float(a[1]),3), "scrape_ms_idle_tunnels": float(a[4]), "idle_tunnels": int(a[5] or 0), "page_bytes": int(a[6]), "scrape_cpu_us": float(a[7])}))' \
    "$M_NONE" "$M_10" "$M_FLOOD" "$SCRAPE_MS" "$TUN" "$PAGE_BYTES" "$SCRAPE_CPU_US"
