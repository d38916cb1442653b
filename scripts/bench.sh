#!/usr/bin/env bash
# Issue 7 benchmark: tsgwd against HAProxy 2.6 (Debian `haproxy`, mode tcp, TLS termination, the
# same certificate and the same target), side by side in one run on this machine. See docs/bench.md.
#
#   scripts/bench.sh [--quick] [--flood-only] [--farm-only] [--out FILE]
#
# B1 bulk throughput, 1 and 16 tunnels, up and down (plus `openssl speed -evp aes-128-gcm`);
# B2 RSS per idle tunnel at 1,000 and 10,000 tunnels (fewer if RLIMIT_NOFILE does not allow it;
#    5,000 with --quick);
# B3 complete tunnel setups per second against bare TLS handshakes per second;
# B4 DisconnectUser: server time, and time until all the user's sockets are closed, with
#    10,000 tunnels over 1,000 users (--quick: 5,000 over 500);
# B5 floods (issue 12), on a tsgwd with the default pre-auth limits: one tunnel's bulk throughput
#    alone and during a flood of full TLS handshakes from 100 addresses (tools/tsgw-flood at the
#    highest rate it reaches); tunnel setup time unloaded and during 3,000 slow pre-auth
#    connections from 300 addresses; tsgwd's RSS with the pre-auth table full.
# B7 Active Directory (issue 11, scripts/bench-ad.sh): setups per second with a domain account
#    (NTLM through winbind to a Samba AD DC) next to a local-store account, one tsgwd.
# B6 farm (issue 15, docs/farm.md): three nodes on one redis-server, 3,000 idle tunnels in all
#    (1,000 per node over 100 users, so each user has tunnels on every node): farm-wide
#    DisconnectUser from node 1, from the call to the last socket closed on any node; tunnel
#    setups per second with the farm registry on (node 1) against off (a node without [farm]);
#    bulk throughput of 16 tunnels through HAProxy mode tcp (TLS pass-through) to 2 nodes
#    against 1. --farm-only runs B6 alone.
# Prints a table, writes bench-results.json (or --out), and ends with one JSON line.
# Environment: BUILD (build dir, default build-bench), TSGWD (daemon binary to measure),
# KEEP_WORK=1 (keep the scratch directory), BENCH_REPS (repetitions of B1 and B5), BENCH_B3_REPS
# (repetitions of B3, default 5: its rates are noisy on a shared machine),
# BENCH_FLOOD_LIMITS (a line added to B5's [limits], e.g. "handshake-share = 10").
# Only loopback addresses are used; every process started here is stopped by its PID.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
FLOOD_ONLY=0 # --flood-only: B5 alone (no HAProxy, no B1-B4)
FARM_ONLY=0  # --farm-only: B6 alone
OUT=bench-results.json
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --flood-only) FLOOD_ONLY=1 ;;
    --farm-only) FARM_ONLY=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
unset https_proxy http_proxy HTTPS_PROXY HTTP_PROXY
BUILD=${BUILD:-$ROOT/build-bench}
T_START=$(date +%s)

say() { echo "bench [$(( $(date +%s) - T_START ))s]: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------- dependencies and build
"$ROOT/scripts/install-deps.sh" || die "missing packages (scripts/install-deps.sh)"
command -v haproxy >/dev/null || die "haproxy not installed"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" -Dtests=false >/dev/null || die "meson setup failed"
fi
ninja -C "$BUILD" tsgwd tsgwctl tools/tsgw-load tools/tsgw-sink tools/tsgw-flood >/dev/null ||
    die "build failed"
TSGWD=${TSGWD:-$BUILD/tsgwd}
TSGWCTL=$BUILD/tsgwctl
LOAD=$BUILD/tools/tsgw-load
SINK=$BUILD/tools/tsgw-sink
FLOOD=$BUILD/tools/tsgw-flood

# ---------------------------------------------------------------- sizes
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
ulimit -n "$NOFILE" 2>/dev/null || die "cannot raise ulimit -n to $NOFILE"
# a WebSocket tunnel costs tsgwd two descriptors (client + target); keep 100 spare
N_BIG=$(( (NOFILE - 100) / 2 ))
[ "$N_BIG" -gt 10000 ] && N_BIG=10000
N_SMALL=1000
if [ "$QUICK" = 1 ]; then
    # quick: the large idle set is halved (B2 and B4 run on it); 10 tunnels per user as in full
    [ "$N_BIG" -gt 5000 ] && N_BIG=5000
    REPS=${BENCH_REPS:-1}
    B1_BYTES_1=192M; B1_BYTES_16=16M
    B3_SETUPS=600
    B4_RUNS=3
    B5_BYTES=512M
    SPEED_S=1
else
    REPS=${BENCH_REPS:-3}
    B1_BYTES_1=1G; B1_BYTES_16=128M
    B3_SETUPS=3000
    B4_RUNS=5
    B5_BYTES=2G
    SPEED_S=3
fi
[ "$N_BIG" -le "$N_SMALL" ] && N_SMALL=$(( N_BIG / 2 )) # a low descriptor limit
[ "$N_SMALL" -ge 10 ] || die "ulimit -Hn $NOFILE is too low for this benchmark"
N_USERS=1000
[ "$QUICK" = 1 ] && N_USERS=$(( N_BIG / 10 ))
B3_CONC=16
# request/response pairs after the handshake in a tunnel setup: two HTTP (the NTLM legs), four
# MS-TSGU (HANDSHAKE, TUNNEL_CREATE, TUNNEL_AUTH, CHANNEL_CREATE); HAProxy's second baseline
# does as many HTTP/1.1 keep-alive rounds on each new TLS connection
B3_ROUNDS=6
B3_REPS=${BENCH_B3_REPS:-5}
[ "$B3_REPS" -ge 1 ] || B3_REPS=1
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d /tmp/tsgw-bench.XXXXXX)
PIDS=()
stop_pid() { # TERM, then KILL after 5 s
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    if [ -n "${KEEP_WORK:-}" ]; then say "scratch directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for SECONDS FILE PATTERN
    local i
    for i in $(seq 1 $(( $1 * 10 ))); do
        grep -q -- "$3" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
cpu_ticks() { # sum of utime+stime of the given PIDs
    local p s=0 v
    for p in "$@"; do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + v))
    done
    echo "$s"
}
rss_kib() { # sum of VmRSS of the given PIDs
    local p s=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + v))
    done
    echo "$s"
}
jget() { # jget 'JSON' KEY
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null
}
RUNS=$WORK/runs.jsonl
: >"$RUNS"
record() { echo "$1" >>"$RUNS"; }

# ---------------------------------------------------------------- fixtures
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/combined.pem"
PASSWORD=Bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PASSWORD" | "$TSGWCTL" user add --users-file "$WORK/users" --groups 'RDG Users' \
    'CONTOSO\alice' >/dev/null || die "tsgwctl user add failed"
NTHASH=$(awk -F: '/^CONTOSO\\alice:/{print $2}' "$WORK/users")
[ ${#NTHASH} = 32 ] || die "no NT hash in the users file"
# B4's 1,000 users, written directly in the users-file format (same password)
for i in $(seq 0 $((N_USERS - 1))); do
    printf 'CONTOSO\\u%d:%s:RDG Users:\n' "$i" "$NTHASH"
done >>"$WORK/users"

"$SINK" --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_for 5 "$WORK/sink.log" LISTENING || die "tsgw-sink did not start"
SPORT=$(awk '/^LISTENING/{print $2}' "$WORK/sink.log")

GPORT=$(free_port)
HPORT=$(free_port)
HRPORT=$(free_port) # B3's HTTP rounds: HAProxy answers them all itself (mode http)
HXPORT=$(free_port) # ... answers all but the last, which it forwards over a new connection
HOPORT=$(free_port) # ... to this origin (a second HAProxy, not measured, as tsgw-sink is not)
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.1:$GPORT
certificate = cert.pem
private-key = key.pem
admin-socket = admin.sock
[auth]
users-file = users
netbios-domain = CONTOSO
gateway-names = 127.0.0.1
[limits]
max-unauthenticated = 100000
max-unauthenticated-per-address = 100000
[resource-group:Sink]
resources = 127.0.0.1
[cap:Bench]
user-groups = RDG Users
[rap:Sink]
user-groups = RDG Users
resource-group = Sink
ports = $SPORT
CONF

HAP_MAXCONN=$(( N_BIG + 10 )) # HAProxy needs about 2 descriptors per connection too
cat >"$WORK/haproxy.cfg" <<CONF
global
    maxconn $HAP_MAXCONN
    nbthread 1
    log stderr format short local0 warning
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend tls_in
    bind 127.0.0.1:$HPORT ssl crt $WORK/combined.pem
    default_backend sink
backend sink
    server t 127.0.0.1:$SPORT
# B3's baselines with a tunnel setup's exchange count: after the handshake, B3_ROUNDS
# keep-alive requests; HAProxy answers them all itself (rounds_in), or all but the last, which it
# forwards to the origin over a new backend connection, as CHANNEL_CREATE connects the target
frontend rounds_in
    mode http
    timeout http-keep-alive 1h
    bind 127.0.0.1:$HRPORT ssl crt $WORK/combined.pem
    http-request return status 200 content-type text/plain string ok
frontend exchange_in
    mode http
    timeout http-keep-alive 1h
    bind 127.0.0.1:$HXPORT ssl crt $WORK/combined.pem
    http-request return status 200 content-type text/plain string ok unless { path /round/last }
    default_backend origin
backend origin
    mode http
    http-reuse never
    server o 127.0.0.1:$HOPORT
CONF
cat >"$WORK/origin.cfg" <<CONF
global
    maxconn 2000
    nbthread 1
    log stderr format short local0 warning
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend origin_in
    bind 127.0.0.1:$HOPORT
    http-request return status 200 content-type text/plain string origin
CONF

GW_PID=
GW_N=0
start_tsgwd() {
    GW_N=$((GW_N + 1))
    "$TSGWD" -c "$WORK/tsgw.conf" >"$WORK/tsgwd.$GW_N.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_for 10 "$WORK/tsgwd.$GW_N.log" "tsgwd ready" || die "tsgwd did not start ($WORK/tsgwd.$GW_N.log)"
}
gw_pids() { echo "$GW_PID" $(pgrep -P "$GW_PID" 2>/dev/null); }
gw_alive() { kill -0 "$GW_PID" 2>/dev/null; }
gw_check() { # records a crash and restarts the daemon; returns 1 if it had died
    gw_alive && return 0
    wait "$GW_PID" 2>/dev/null
    local rc=$?
    say "tsgwd died (exit status $rc) during $1; restarting it"
    record "{\"b\":\"crash\",\"impl\":\"tsgw\",\"during\":\"$1\",\"status\":$rc}"
    start_tsgwd
    return 1
}
HAP_PID=
HAP_N=0
start_haproxy() {
    HAP_N=$((HAP_N + 1))
    haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.$HAP_N.log" 2>&1 &
    HAP_PID=$!
    PIDS+=("$HAP_PID")
    local i
    for i in $(seq 1 50); do
        ss -ltnH "( sport = :$HPORT )" 2>/dev/null | grep -q LISTEN && return 0
        sleep 0.1
    done
    die "haproxy did not start ($WORK/haproxy.$HAP_N.log)"
}

start_tsgwd
if [ "$FLOOD_ONLY" = 0 ] && [ "$FARM_ONLY" = 0 ]; then
    start_haproxy
    haproxy -f "$WORK/origin.cfg" -db >"$WORK/origin.log" 2>&1 &
    ORIGIN_PID=$!
    PIDS+=("$ORIGIN_PID")
fi
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
say "work dir $WORK; sink :$SPORT, tsgwd :$GPORT, haproxy :$HPORT; fd limit $NOFILE; load $LOADAVG"

TSGW_ARGS=(--gateway "127.0.0.1:$GPORT" --target "127.0.0.1:$SPORT" --domain CONTOSO --nthash "$NTHASH")
HAP_ARGS=(--mode tls-only --gateway "127.0.0.1:$HPORT")

if [ "$FLOOD_ONLY" = 0 ] && [ "$FARM_ONLY" = 0 ]; then
# ---------------------------------------------------------------- smoke + data check
# One tunnel each way, 8 MiB in both directions, every byte checked at both ends (--verify).
# A tunnel that cannot be opened stops the run; corrupted data is reported and the run goes on.
check() { # check IMPL MODE ARGS...
    local impl=$1 mode=$2 r
    shift 2
    r=$("$LOAD" "$@" --bytes 8M --direction both --verify --timeout 60 | tail -n1)
    [ "$impl" = tsgw ] && gw_check "data check ($mode)"
    [ "$(jget "$r" established)" = 1 ] || die "no $mode tunnel through $impl: $(jget "$r" error)"
    record "{\"b\":\"check\",\"impl\":\"$impl\",\"mode\":\"$mode\",\"load\":${r:-null}}"
    if [ "$(jget "$r" completed)" = 1 ]; then
        say "data check $impl $mode: ok"
    else
        say "data check $impl $mode: FAILED: $(jget "$r" error)"
    fi
}
check tsgw ws "${TSGW_ARGS[@]}" --user alice --mode ws
check tsgw legacy "${TSGW_ARGS[@]}" --user alice --mode legacy
check haproxy tls-only "${HAP_ARGS[@]}"

# ---------------------------------------------------------------- cipher ceiling
SPEED=$(openssl speed -seconds "$SPEED_S" -evp aes-128-gcm 2>/dev/null | awk '/^AES-128-GCM/{v=$NF; sub(/k$/,"",v); print v/1000}')
record "{\"b\":\"speed\",\"aes128gcm_16k_mbps\":${SPEED:-null}}"

# ---------------------------------------------------------------- B1 bulk throughput
b1_run() { # b1_run IMPL MODE N DIR BYTES REP
    local impl=$1 mode=$2 n=$3 dir=$4 bytes=$5 rep=$6 pids c0 c1 r
    if [ "$impl" = tsgw ]; then
        pids=$(gw_pids)
        c0=$(cpu_ticks $pids)
        r=$("$LOAD" "${TSGW_ARGS[@]}" --user alice --mode "$mode" --tunnels "$n" --bytes "$bytes" \
            --direction "$dir" --timeout 300 | tail -n1)
        c1=$(cpu_ticks $pids)
        gw_check "B1 $mode $n tunnel(s) $dir" || r=""
    else
        c0=$(cpu_ticks "$HAP_PID")
        r=$("$LOAD" "${HAP_ARGS[@]}" --tunnels "$n" --bytes "$bytes" --direction "$dir" --timeout 300 | tail -n1)
        c1=$(cpu_ticks "$HAP_PID")
    fi
    [ -n "$r" ] || r=null
    record "{\"b\":\"b1\",\"impl\":\"$impl\",\"mode\":\"$mode\",\"n\":$n,\"dir\":\"$dir\",\"rep\":$rep,\"cpu_s\":$(echo "$c0 $c1 $CLK_TCK" | awk '{print ($2-$1)/$3}'),\"load\":$r}"
    say "B1 $impl $mode n=$n $dir: $(jget "$r" mbps) MB/s $( [ -n "$(jget "$r" error)" ] && echo "error: $(jget "$r" error)")"
}
for rep in $(seq 1 "$REPS"); do
    for n in 1 16; do
        bytes=$B1_BYTES_1
        [ "$n" = 16 ] && bytes=$B1_BYTES_16
        for dir in up down; do
            # alternate the order so that neither side always runs first
            if [ $(( rep % 2 )) = 1 ]; then
                b1_run tsgw ws "$n" "$dir" "$bytes" "$rep"
                b1_run haproxy tls-only "$n" "$dir" "$bytes" "$rep"
            else
                b1_run haproxy tls-only "$n" "$dir" "$bytes" "$rep"
                b1_run tsgw ws "$n" "$dir" "$bytes" "$rep"
            fi
            [ "$QUICK" = 1 ] || b1_run tsgw legacy "$n" "$dir" "$bytes" "$rep"
        done
    done
done

# ---------------------------------------------------------------- B3 setup rate
b3_run() { # b3_run WHAT REP
    local what=$1 rep=$2 pids c0 c1 r
    case $what in
    tsgw_ws)
        pids=$(gw_pids)
        c0=$(cpu_ticks $pids)
        r=$("$LOAD" "${TSGW_ARGS[@]}" --user alice --mode ws --setups "$B3_SETUPS" --concurrency "$B3_CONC" --timeout 300 | tail -n1)
        c1=$(cpu_ticks $pids)
        gw_check "B3 setups" || r="" ;;
    tsgw_tls)
        pids=$(gw_pids)
        c0=$(cpu_ticks $pids)
        r=$("$LOAD" --mode tls-only --gateway "127.0.0.1:$GPORT" --setups "$B3_SETUPS" --concurrency "$B3_CONC" --timeout 300 | tail -n1)
        c1=$(cpu_ticks $pids)
        gw_check "B3 bare TLS" || r="" ;;
    haproxy_tls)
        c0=$(cpu_ticks "$HAP_PID")
        r=$("$LOAD" "${HAP_ARGS[@]}" --setups "$B3_SETUPS" --concurrency "$B3_CONC" --timeout 300 | tail -n1)
        c1=$(cpu_ticks "$HAP_PID") ;;
    haproxy_rounds | haproxy_exchange)
        local port=$HRPORT
        [ "$what" = haproxy_rounds ] || port=$HXPORT
        c0=$(cpu_ticks "$HAP_PID")
        r=$("$LOAD" --mode tls-only --gateway "127.0.0.1:$port" --rounds "$B3_ROUNDS" --setups "$B3_SETUPS" \
            --concurrency "$B3_CONC" --timeout 300 | tail -n1)
        c1=$(cpu_ticks "$HAP_PID") ;;
    esac
    [ -n "$r" ] || r=null
    record "{\"b\":\"b3\",\"what\":\"$what\",\"rep\":$rep,\"cpu_s\":$(echo "$c0 $c1 $CLK_TCK" | awk '{print ($2-$1)/$3}'),\"load\":$r}"
    say "B3 $what: $(jget "$r" per_s)/s"
}
for rep in $(seq 1 "$B3_REPS"); do
    # alternate the order so that neither side always runs first; the load average goes with
    # each repetition into the raw results
    record "{\"b\":\"b3_load\",\"rep\":$rep,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
    if [ $(( rep % 2 )) = 1 ]; then
        b3_run tsgw_ws "$rep"
        b3_run haproxy_tls "$rep"
    else
        b3_run haproxy_tls "$rep"
        b3_run tsgw_ws "$rep"
    fi
    b3_run tsgw_tls "$rep"
    b3_run haproxy_rounds "$rep"
    b3_run haproxy_exchange "$rep"
done
stop_pid "$ORIGIN_PID"

# ---------------------------------------------------------------- B2 memory (+ B4 on the big set)
IDLE_PID=
start_idle() { # start_idle NAME N ARGS... : an idle generator; waits for READY
    local name=$1 n=$2
    shift 2
    "$LOAD" "$@" --idle --tunnels "$n" --concurrency 64 >"$WORK/$name.out" 2>"$WORK/$name.err" &
    IDLE_PID=$!
    PIDS+=("$IDLE_PID")
    if ! wait_for 600 "$WORK/$name.out" "^READY"; then
        say "$name: no READY within 600 s"
        return 1
    fi
    sleep 1 # let the daemon settle before reading its RSS
    return 0
}
b2_measure() { # b2_measure IMPL NAME N RSS0 PIDS-FUNCTION ARGS...: RSS0 = the fresh process
    local impl=$1 name=$2 n=$3 rss0=$4 pidsf=$5 rss1 ready
    shift 5
    if start_idle "$name" "$n" "$@"; then
        rss1=$(rss_kib $($pidsf))
        ready=$(awk '/^READY/{print $2; exit}' "$WORK/$name.out")
        record "{\"b\":\"b2\",\"impl\":\"$impl\",\"n\":$n,\"open\":${ready:-0},\"rss0_kib\":$rss0,\"rss_kib\":$rss1}"
        say "B2 $impl: $ready idle tunnels, RSS $rss0 -> $rss1 KiB"
    else
        record "{\"b\":\"b2\",\"impl\":\"$impl\",\"n\":$n,\"open\":0,\"rss0_kib\":$rss0,\"rss_kib\":null}"
    fi
}
hap_pids() { echo "$HAP_PID"; }

# fresh daemons: the baseline is an idle process that has served nothing
stop_pid "$GW_PID"
start_tsgwd
sleep 1
RSS0_TSGW=$(rss_kib $(gw_pids))
b2_measure tsgw b2_small "$N_SMALL" "$RSS0_TSGW" gw_pids "${TSGW_ARGS[@]}" --users-prefix u --users "$N_USERS"
stop_pid "$IDLE_PID"
for i in $(seq 1 100); do # the daemon notices the closed tunnels
    [ "$("$TSGWCTL" -s "$WORK/admin.sock" connections 2>/dev/null | wc -l)" -le 2 ] && break
    sleep 0.1
done
gw_check "B2 $N_SMALL idle tunnels"
RSS1_TSGW_AFTER=$(rss_kib $(gw_pids))
b2_measure tsgw b2_big "$N_BIG" "$RSS0_TSGW" gw_pids "${TSGW_ARGS[@]}" --users-prefix u --users "$N_USERS" \
    --admin-socket "$WORK/admin.sock"
record "{\"b\":\"b2_base\",\"impl\":\"tsgw\",\"rss_fresh_kib\":$RSS0_TSGW,\"rss_after_small_kib\":$RSS1_TSGW_AFTER}"

# B4 on the big set: the generator calls DisconnectUser itself on SIGUSR1 (admin socket)
B4_OUT=$WORK/b2_big.out
b4_wait_line() { # b4_wait_line COUNT: waits until the output holds COUNT "B4 " lines
    local i
    for i in $(seq 1 200); do
        [ "$(grep -c '^B4 ' "$B4_OUT")" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
if gw_alive && kill -0 "$IDLE_PID" 2>/dev/null; then
    for k in $(seq 1 "$B4_RUNS"); do
        kill -USR1 "$IDLE_PID"
        b4_wait_line "$k" || say "B4 run $k: no result"
        sleep 0.3
    done
    # and once through tsgwctl, timed from here (an upper bound: includes starting tsgwctl)
    n_armed=$(grep -c '^ARMED' "$B4_OUT")
    kill -USR2 "$IDLE_PID"
    for i in $(seq 1 50); do [ "$(grep -c '^ARMED' "$B4_OUT")" -gt "$n_armed" ] && break; sleep 0.1; done
    B4_USER=$(grep '^ARMED' "$B4_OUT" | tail -n1 | sed 's/^ARMED user=\([^ ]*\) .*/\1/')
    t0=$EPOCHREALTIME
    ctl=$("$TSGWCTL" -s "$WORK/admin.sock" --json disconnect-user "$B4_USER")
    t1=$EPOCHREALTIME
    b4_wait_line $((B4_RUNS + 1)) || say "B4 tsgwctl run: no result"
    last=$(grep '^B4 ' "$B4_OUT" | tail -n1 | sed 's/.*last_close_us=\([0-9]*\).*/\1/')
    record "$(python3 - "$t0" "$t1" "$last" "$ctl" <<'PY'
import json, sys
t0, t1, last = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3] or 0)
try:
    ctl = json.loads(sys.argv[4])
except Exception:
    ctl = {}
print(json.dumps({"b": "b4_tsgwctl", "tsgwctl_ms": (t1 - t0) * 1000,
                  "server_ms": ctl.get("ServerTimeMs"), "return": ctl.get("ReturnValue"),
                  "closed_ms": (last / 1e6 - t0) * 1000 if last else None}))
PY
)"
    grep '^B4 ' "$B4_OUT" >"$WORK/b4.lines"
fi
stop_pid "$IDLE_PID"
gw_check "B4"

# HAProxy: the same two sizes, on a fresh process
stop_pid "$HAP_PID"
start_haproxy
sleep 1
RSS0_HAP=$(rss_kib "$HAP_PID")
b2_measure haproxy h2_small "$N_SMALL" "$RSS0_HAP" hap_pids "${HAP_ARGS[@]}"
stop_pid "$IDLE_PID"
sleep 2
b2_measure haproxy h2_big "$N_BIG" "$RSS0_HAP" hap_pids "${HAP_ARGS[@]}"
stop_pid "$IDLE_PID"

fi # FLOOD_ONLY

# ---------------------------------------------------------------- B5 floods (issue 12)
if [ "$FARM_ONLY" = 0 ]; then
# A second tsgwd with the default pre-authentication limits (2,048 in total, 64 per address).
stop_pid "$GW_PID"
stop_pid "$HAP_PID"
FPORT=$(free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:$FPORT/" -e '/^max-unauthenticated/d' \
    -e 's/^admin-socket = .*/admin-socket = flood-admin.sock/' "$WORK/tsgw.conf" >"$WORK/flood.conf"
[ -n "${BENCH_FLOOD_LIMITS:-}" ] &&
    sed -i "s/^\[limits\]$/[limits]\n$BENCH_FLOOD_LIMITS/" "$WORK/flood.conf"
"$TSGWD" -c "$WORK/flood.conf" >"$WORK/tsgwd-flood.log" 2>&1 &
FGW_PID=$!
PIDS+=("$FGW_PID")
wait_for 10 "$WORK/tsgwd-flood.log" "tsgwd ready" || die "tsgwd (B5) did not start"
FLOAD_ARGS=(--gateway "127.0.0.1:$FPORT" --target "127.0.0.1:$SPORT" --domain CONTOSO --nthash "$NTHASH" --user alice --mode ws)
b5_bulk() { # b5_bulk TAG: one tunnel, down then up
    local tag=$1 d r
    for d in down up; do
        r=$("$LOAD" "${FLOAD_ARGS[@]}" --tunnels 1 --bytes "$B5_BYTES" --direction "$d" --timeout 300 | tail -n1)
        [ -n "$r" ] || r=null
        record "{\"b\":\"b5_bulk\",\"tag\":\"$tag\",\"dir\":\"$d\",\"load\":$r}"
        say "B5 bulk $tag $d: $(jget "$r" mbps) MB/s"
    done
}
b5_setups() { # b5_setups TAG: 30 complete tunnel setups one after another
    local r
    r=$("$LOAD" "${FLOAD_ARGS[@]}" --setups 30 --concurrency 1 --timeout 120 | tail -n1)
    [ -n "$r" ] || r=null
    record "{\"b\":\"b5_setup\",\"tag\":\"$1\",\"load\":$r}"
    say "B5 setup $1: p50 $(jget "$r" latency_ms_p50) ms, p99 $(jget "$r" latency_ms_p99) ms"
}
for rep in $(seq 1 "$REPS"); do
    b5_bulk alone
    "$FLOOD" --host 127.0.0.1 --port "$FPORT" --mode handshake --conns 64 --addrs 100 \
        --src 127.2.0.1 --rate 1000000 >"$WORK/b5-hs.$rep.out" 2>&1 &
    HS_PID=$!
    PIDS+=("$HS_PID")
    sleep 2
    c0=$(cpu_ticks "$FGW_PID")
    b5_bulk flood
    c1=$(cpu_ticks "$FGW_PID")
    stop_pid "$HS_PID"
    r=$(tail -n1 "$WORK/b5-hs.$rep.out")
    record "{\"b\":\"b5_hs\",\"rep\":$rep,\"cpu_s\":$(echo "$c0 $c1 $CLK_TCK" | awk '{print ($2-$1)/$3}'),\"flood\":${r:-null}}"
    say "B5 handshake flood: $(jget "$r" per_second) handshakes/s"
done
b5_setups unloaded
RSS_PA0=$(rss_kib "$FGW_PID")
# 500 new connections a second outrun the 5 s pressure deadline: the table stays full
"$FLOOD" --host 127.0.0.1 --port "$FPORT" --mode slow --conns 3000 --addrs 300 --src 127.1.0.1 \
    --rate 500 >"$WORK/b5-slow.out" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
wait_for 60 "$WORK/b5-slow.out" "^ready" || say "B5: the slow flood did not get ready"
sleep 2
RSS_PA=$(rss_kib "$FGW_PID")
PA_OPEN=$(grep -o 'tls [0-9]*' "$WORK/b5-slow.out" | tail -n1 | awk '{print $2}')
b5_setups slow_flood
stop_pid "$SLOW_PID"
record "{\"b\":\"b5_rss\",\"rss0_kib\":$RSS_PA0,\"rss_kib\":$RSS_PA,\"preauth_open\":${PA_OPEN:-0}}"
say "B5 RSS with the pre-auth table full ($PA_OPEN slow connections held): $RSS_PA0 -> $RSS_PA KiB"
kill -0 "$FGW_PID" 2>/dev/null || record "{\"b\":\"crash\",\"impl\":\"tsgw\",\"during\":\"B5\",\"status\":1}"
stop_pid "$FGW_PID"
fi # B5

# ---------------------------------------------------------------- B6 farm (issue 15)
if [ "$FLOOD_ONLY" = 0 ]; then
B6_USERS=100
B6_PER_NODE=1000
B6_RUNS=$B4_RUNS
RPORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/redis" --save '' --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_for 10 "$WORK/redis.log" "Ready to accept" || die "redis-server did not start"
for i in $(seq 0 $((B6_USERS - 1))); do
    printf 'CONTOSO\\f%d:%s:RDG Users:\n' "$i" "$NTHASH"
done >>"$WORK/users"
declare -A NPORT NPID
for k in 1 2 3; do
    NPORT[$k]=$(free_port)
    sed -e "s/^listen = .*/listen = 127.0.0.1:${NPORT[$k]}/" -e "s/^admin-socket = .*/admin-socket = n$k.sock/" \
        "$WORK/tsgw.conf" >"$WORK/n$k.conf"
    printf '[farm]\nredis = 127.0.0.1:%s\nnode-name = n%s\nttl = 10s\n' "$RPORT" "$k" >>"$WORK/n$k.conf"
    "$TSGWD" -c "$WORK/n$k.conf" >"$WORK/n$k.log" 2>&1 &
    NPID[$k]=$!
    PIDS+=("${NPID[$k]}")
    wait_for 10 "$WORK/n$k.log" "tsgwd ready" || die "farm node $k did not start"
done
wait_for 10 "$WORK/n3.log" "joined the farm" || die "farm node 3 did not join"
# setup rate, farm registry on (node 1) and off (the plain daemon), alternating
b6_setups() { # b6_setups WHAT PORT REP
    local r
    r=$("$LOAD" --gateway "127.0.0.1:$2" --target "127.0.0.1:$SPORT" --domain CONTOSO --nthash "$NTHASH" \
        --user alice --mode ws --setups "$B3_SETUPS" --concurrency "$B3_CONC" --timeout 300 | tail -n1)
    [ -n "$r" ] || r=null
    record "{\"b\":\"b6_setups\",\"what\":\"$1\",\"rep\":$3,\"load\":$r}"
    say "B6 setups $1: $(jget "$r" per_s)/s"
}
gw_alive || start_tsgwd
for rep in $(seq 1 "$REPS"); do
    if [ $(( rep % 2 )) = 1 ]; then
        b6_setups farm_on "${NPORT[1]}" "$rep"; b6_setups farm_off "$GPORT" "$rep"
    else
        b6_setups farm_off "$GPORT" "$rep"; b6_setups farm_on "${NPORT[1]}" "$rep"
    fi
done
# farm-wide DisconnectUser: generator 1 calls it on node 1 (SIGUSR1, farm-invoke); generators
# 2 and 3 only watch the same user's tunnels on their node (SIGUSR2)
B6_OK=1
for k in 1 2 3; do
    extra=()
    [ "$k" = 1 ] && extra=(--admin-socket "$WORK/n1.sock" --farm)
    "$LOAD" --gateway "127.0.0.1:${NPORT[$k]}" --target "127.0.0.1:$SPORT" --domain CONTOSO \
        --nthash "$NTHASH" --users-prefix f --users "$B6_USERS" --idle --tunnels "$B6_PER_NODE" \
        --concurrency 64 "${extra[@]}" >"$WORK/b6_$k.out" 2>"$WORK/b6_$k.err" &
    eval "B6_GEN$k=\$!"
    PIDS+=("$!")
done
for k in 1 2 3; do
    wait_for 600 "$WORK/b6_$k.out" "^READY" || { say "B6: generator $k not READY"; B6_OK=0; }
done
sleep 2 # the registry reaches Redis
FARM_LISTED=$("$TSGWCTL" -s "$WORK/n2.sock" --json connections 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null)
say "B6: farm listing on node 2 shows ${FARM_LISTED:-?} connections"
record "{\"b\":\"b6_listed\",\"n\":${FARM_LISTED:-null}}"
if [ "$B6_OK" = 1 ]; then
    for run in $(seq 1 "$B6_RUNS"); do
        kill -USR2 "$B6_GEN2" "$B6_GEN3"
        sleep 0.2
        kill -USR1 "$B6_GEN1"
        for i in $(seq 1 100); do
            [ "$(cat "$WORK"/b6_[123].out | grep -c '^B4 ')" -ge $((run * 3)) ] && break
            sleep 0.1
        done
        sleep 0.3
    done
fi
for k in 1 2 3; do stop_pid "$(eval echo \$B6_GEN$k)"; done
# bulk: 16 tunnels through HAProxy mode tcp (pass-through, round robin) to 1 node, then 2
FRONTPORT=$(free_port)
b6_front() { # b6_front NODES...
    {
        printf 'global\n    maxconn 1000\n    nbthread 1\ndefaults\n    mode tcp\n'
        printf '    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n'
        printf 'frontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    balance roundrobin\n' "$FRONTPORT"
        for k in "$@"; do printf '    server n%s 127.0.0.1:%s\n' "$k" "${NPORT[$k]}"; done
    } >"$WORK/front.cfg"
    haproxy -f "$WORK/front.cfg" -db >"$WORK/front.log" 2>&1 &
    FRONT_PID=$!
    PIDS+=("$FRONT_PID")
    local i
    for i in $(seq 1 50); do
        ss -ltnH "( sport = :$FRONTPORT )" 2>/dev/null | grep -q LISTEN && return 0
        sleep 0.1
    done
    die "haproxy front did not start"
}
for nodes in 1 2; do
    if [ "$nodes" = 1 ]; then b6_front 1; else b6_front 1 2; fi
    for rep in $(seq 1 "$REPS"); do
        r=$("$LOAD" --gateway "127.0.0.1:$FRONTPORT" --target "127.0.0.1:$SPORT" --domain CONTOSO \
            --nthash "$NTHASH" --spn-host 127.0.0.1 --user alice --mode ws --tunnels 16 \
            --bytes "$B1_BYTES_16" --direction down --timeout 300 | tail -n1)
        [ -n "$r" ] || r=null
        record "{\"b\":\"b6_bulk\",\"nodes\":$nodes,\"rep\":$rep,\"load\":$r}"
        say "B6 bulk through HAProxy to $nodes node(s): $(jget "$r" mbps) MB/s"
    done
    stop_pid "$FRONT_PID"
done
grep -h '^B4 ' "$WORK"/b6_[123].out >"$WORK/b6.lines" 2>/dev/null
fi # B6

# ---------------------------------------------------------------- B7 Active Directory (issue 11)
# Setups per second with domain accounts (NTLM through winbind to a Samba AD DC) next to the local
# store, on one tsgwd joined to a lab domain (scripts/bench-ad.sh; the lab of TSGW_ADLAB or its own).
if [ "$FLOOD_ONLY" = 0 ] && [ "$FARM_ONLY" = 0 ]; then
    r=$(BUILD="$BUILD" "$ROOT/scripts/bench-ad.sh" --setups "$B3_SETUPS" --concurrency "$B3_CONC" \
        2>"$WORK/bench-ad.log" | tail -n1)
    [ -n "$r" ] || r=null
    record "{\"b\":\"b7\",\"ad\":$r}"
    say "B7 setups/s: local store $(jget "$r" local_per_s), AD through winbind $(jget "$r" ad_per_s), Kerberos $(jget "$r" krb_per_s)"
fi

# ---------------------------------------------------------------- report
T_END=$(date +%s)
python3 - "$RUNS" "$WORK/b4.lines" "$OUT" "$WORK/b6.lines" <<PY
import json, statistics, sys, os, platform

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
b4lines = open(sys.argv[2]).read().split("\n") if os.path.exists(sys.argv[2]) else []
out_path = sys.argv[3]
quick = $QUICK == 1
meta = {"quick": quick, "reps": $REPS, "seconds": $T_END - $T_START, "n_small": $N_SMALL,
        "n_big": $N_BIG, "n_users": $N_USERS, "fd_limit": $NOFILE, "cpus": os.cpu_count(),
        "loadavg_at_start": "$LOADAVG", "kernel": platform.release(),
        "b1_bytes": {"1": "$B1_BYTES_1", "16": "$B1_BYTES_16"}, "b3_setups": $B3_SETUPS,
        "b3_concurrency": $B3_CONC, "b3_reps": $B3_REPS, "tsgwd": "$TSGWD"}

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def rnd(x, n=1):
    return None if x is None else round(x, n)

def ratio(a, b):
    return None if a is None or not b else a / b

speed = next((r["aes128gcm_16k_mbps"] for r in runs if r["b"] == "speed"), None)
cipher = next((r["load"]["cipher"] for r in runs if r.get("load") and r["load"].get("cipher")), "")
crashes = [r for r in runs if r["b"] == "crash"]
checks = [r for r in runs if r["b"] == "check"]
bad = ["%s %s: %s" % (r["impl"], r["mode"], (r["load"] or {}).get("error") or "failed")
       for r in checks if not (r["load"] and r["load"].get("completed") == 1)]

def b1(impl, mode, n, d, key="mbps"):
    vals, cpu = [], []
    for r in runs:
        if r["b"] == "b1" and r["impl"] == impl and r["mode"] == mode and r["n"] == n and r["dir"] == d:
            L = r["load"]
            if L and not L.get("failed") and L.get("mbps"):
                vals.append(L["mbps"])
                if r["cpu_s"] > 0:
                    cpu.append(L["payload_bytes"] / 1e6 / r["cpu_s"])
    return med(vals), med(cpu), len(vals)

res = {}
rows = []
for n in (1, 16):
    for d in ("up", "down"):
        t, tc, tn = b1("tsgw", "ws", n, d)
        h, hc, hn = b1("haproxy", "tls-only", n, d)
        lg, lgc, _ = b1("tsgw", "legacy", n, d)
        res[f"b1_tsgw_mbps_{n}_{d}"] = rnd(t)
        res[f"b1_haproxy_mbps_{n}_{d}"] = rnd(h)
        res[f"b1_ratio_{n}_{d}"] = rnd(ratio(t, h), 3)
        res[f"b1_tsgw_mb_per_cpu_s_{n}_{d}"] = rnd(tc)
        res[f"b1_haproxy_mb_per_cpu_s_{n}_{d}"] = rnd(hc)
        if not quick:
            res[f"b1_tsgw_legacy_mbps_{n}_{d}"] = rnd(lg)
        res[f"b1_runs_ok_{n}_{d}"] = "%d/%d" % (tn, meta["reps"])
        rows.append((n, d, t, h, ratio(t, h), tc, hc, lg, tn))
for n in (1, 16):
    t = [res[f"b1_tsgw_mbps_{n}_{d}"] for d in ("up", "down")]
    h = [res[f"b1_haproxy_mbps_{n}_{d}"] for d in ("up", "down")]
    tm = statistics.mean(t) if None not in t else None
    hm = statistics.mean(h) if None not in h else None
    res[f"b1_tsgw_mbps_{n}"] = rnd(tm)
    res[f"b1_haproxy_mbps_{n}"] = rnd(hm)
    res[f"b1_ratio_{n}"] = rnd(ratio(tm, hm), 3)
    # the same comparison in server CPU per byte (steadier on a shared machine)
    tc = [res[f"b1_tsgw_mb_per_cpu_s_{n}_{d}"] for d in ("up", "down")]
    hc = [res[f"b1_haproxy_mb_per_cpu_s_{n}_{d}"] for d in ("up", "down")]
    if None not in tc and None not in hc:
        res[f"b1_cpu_ratio_{n}"] = rnd(statistics.mean(tc) / statistics.mean(hc), 3)
    else:
        res[f"b1_cpu_ratio_{n}"] = None

def b2(impl, n):
    for r in runs:
        if r["b"] == "b2" and r["impl"] == impl and r["n"] == n and r["rss_kib"] is not None and r["open"]:
            return (r["rss_kib"] - r["rss0_kib"]) / r["open"], r
    return None, None
b2t_s, b2t_sr = b2("tsgw", $N_SMALL)
b2t_b, b2t_br = b2("tsgw", $N_BIG)
b2h_s, _ = b2("haproxy", $N_SMALL)
b2h_b, b2h_br = b2("haproxy", $N_BIG)
res["b2_kib_per_tunnel_1000"] = rnd(b2t_s, 2)
res["b2_kib_per_tunnel_10000"] = rnd(b2t_b, 2)
res["b2_haproxy_kib_per_conn_1000"] = rnd(b2h_s, 2)
res["b2_haproxy_kib_per_conn_10000"] = rnd(b2h_b, 2)
res["b2_tunnels_large"] = b2t_br["open"] if b2t_br else None

def b3_reps(what):
    """{rep: (per_s, server CPU ms per operation)} of the successful runs"""
    out = {}
    for r in runs:
        if r["b"] == "b3" and r["what"] == what and r["load"] and r["load"].get("ok"):
            out[r["rep"]] = (r["load"]["per_s"], r["cpu_s"] * 1000 / r["load"]["ok"])
    return out
def b3(what):
    v = b3_reps(what).values()
    return med([x[0] for x in v]), med([x[1] for x in v])
def spread(v):
    v = [x for x in v if x is not None]
    return (min(v), max(v)) if v else (None, None)
s_ws, c_ws = b3("tsgw_ws")
s_hap, c_hap = b3("haproxy_tls")
s_gtls, c_gtls = b3("tsgw_tls")
s_hr, c_hr = b3("haproxy_rounds")
s_hx, c_hx = b3("haproxy_exchange")
# the spread: each repetition's own ratio (tsgwd and HAProxy run back to back in it)
r_ws, r_hap = b3_reps("tsgw_ws"), b3_reps("haproxy_tls")
paired = [r_ws[k][0] / r_hap[k][0] for k in r_ws if k in r_hap and r_hap[k][0]]
paired_cpu = [r_hap[k][1] / r_ws[k][1] for k in r_ws if k in r_hap and r_ws[k][1]]
res["b3_reps"] = len(paired)
res["b3_ratio_min"], res["b3_ratio_max"] = [rnd(x, 3) for x in spread(paired)]
res["b3_cpu_ratio_min"], res["b3_cpu_ratio_max"] = [rnd(x, 3) for x in spread(paired_cpu)]
for key, reps in (("tsgw_setups_per_s", r_ws), ("haproxy_tls_per_s", r_hap)):
    lo, hi = spread([x[0] for x in reps.values()])
    res["b3_%s_min" % key], res["b3_%s_max" % key] = rnd(lo), rnd(hi)
for key, reps in (("tsgw_cpu_ms_per_setup", r_ws), ("haproxy_cpu_ms_per_handshake", r_hap)):
    lo, hi = spread([x[1] for x in reps.values()])
    res["b3_%s_min" % key], res["b3_%s_max" % key] = rnd(lo, 3), rnd(hi, 3)
b3_loads = [r["loadavg"] for r in runs if r["b"] == "b3_load"]
res["b3_tsgw_setups_per_s"] = rnd(s_ws)
res["b3_haproxy_tls_per_s"] = rnd(s_hap)
res["b3_tsgwd_tls_per_s"] = rnd(s_gtls)
res["b3_ratio"] = rnd(ratio(s_ws, s_hap), 3)
res["b3_ratio_vs_tsgwd_tls"] = rnd(ratio(s_ws, s_gtls), 3)
res["b3_tsgw_cpu_ms_per_setup"] = rnd(c_ws, 3)
res["b3_haproxy_cpu_ms_per_handshake"] = rnd(c_hap, 3)
res["b3_tsgwd_cpu_ms_per_handshake"] = rnd(c_gtls, 3)
# server CPU per HAProxy bare handshake / per tsgwd tunnel setup: the rate ratio a dedicated
# server core would give (steadier than the measured rates on a shared machine)
res["b3_cpu_ratio"] = rnd(ratio(c_hap, c_ws), 3)
# the baselines with a setup's exchange count: HAProxy's TLS handshake, then B3_ROUNDS HTTP
# keep-alive request/response pairs it answers itself (rounds), or all but the last, which it
# forwards over a new backend connection (exchange: the work of a setup but the logon's and
# MS-TSGU's own)
res["b3_rounds"] = $B3_ROUNDS
for key, s_x, c_x in (("rounds", s_hr, c_hr), ("exchange", s_hx, c_hx)):
    res["b3_haproxy_%s_per_s" % key] = rnd(s_x)
    res["b3_haproxy_%s_cpu_ms" % key] = rnd(c_x, 3)
    res["b3_ratio_vs_haproxy_%s" % key] = rnd(ratio(s_ws, s_x), 3)
    res["b3_cpu_ratio_vs_haproxy_%s" % key] = rnd(ratio(c_x, c_ws), 3)

b4 = []
for l in b4lines:
    if l.startswith("B4 ") and "rpc_ms=" in l:
        kv = dict(p.split("=", 1) for p in l.split()[1:] if "=" in p)
        b4.append(kv)
def fl(k):
    return [float(x[k]) for x in b4 if k in x and float(x[k]) >= 0]
res["b4_server_ms"] = rnd(med(fl("server_ms")), 3)
res["b4_rpc_ms"] = rnd(med(fl("rpc_ms")), 3)
res["b4_closed_ms"] = rnd(med(fl("closed_ms")), 3)
res["b4_tunnels_per_user"] = int(med([int(x["tunnels"]) for x in b4])) if b4 else None
ctl = next((r for r in runs if r["b"] == "b4_tsgwctl"), None)
res["b4_tsgwctl_ms"] = rnd(ctl["tsgwctl_ms"], 3) if ctl else None
res["b4_tsgwctl_closed_ms"] = rnd(ctl["closed_ms"], 3) if ctl and ctl["closed_ms"] else None
def b5_bulk(tag):
    v = [r["load"]["mbps"] for r in runs if r["b"] == "b5_bulk" and r["tag"] == tag and r["load"]
         and r["load"].get("mbps")]
    return statistics.mean(v) if v else None
b5a, b5f = b5_bulk("alone"), b5_bulk("flood")
hs = [r["flood"]["per_second"] for r in runs if r["b"] == "b5_hs" and r["flood"]]
def b5_setup(tag, k):
    v = [r["load"][k] for r in runs if r["b"] == "b5_setup" and r["tag"] == tag and r["load"]
         and r["load"].get("ok")]
    return med(v)
b5rss = next((r for r in runs if r["b"] == "b5_rss"), None)
res["b5_tunnel_mbps_alone"] = rnd(b5a)
res["b5_tunnel_mbps_handshake_flood"] = rnd(b5f)
res["b5_ratio"] = rnd(ratio(b5f, b5a), 3)
res["b5_flood_handshakes_per_s"] = rnd(med(hs))
res["b5_setup_ms_p50_unloaded"] = rnd(b5_setup("unloaded", "latency_ms_p50"), 2)
res["b5_setup_ms_p50_slow_flood"] = rnd(b5_setup("slow_flood", "latency_ms_p50"), 2)
res["b5_setup_ms_p99_slow_flood"] = rnd(b5_setup("slow_flood", "latency_ms_p99"), 2)
res["b5_rss_kib_idle"] = b5rss["rss0_kib"] if b5rss else None
res["b5_rss_kib_preauth_full"] = b5rss["rss_kib"] if b5rss else None
res["b5_preauth_held"] = b5rss["preauth_open"] if b5rss else None
res["openssl_aes128gcm_mbps"] = rnd(speed)
res["cipher"] = cipher
res["tsgwd_crashes"] = len(crashes)

# B6 farm: each run has one "B4" line with rpc_ms from generator 1 (the caller) and one per
# watcher; the farm-wide time is from the caller's t0 to the last close on any node
b5l = open(sys.argv[4]).read().split("\n") if len(sys.argv) > 4 and os.path.exists(sys.argv[4]) else []
b5kv = [dict(p.split("=", 1) for p in l.split()[1:] if "=" in p) for l in b5l if l.startswith("B4 ")]
callers = [x for x in b5kv if "rpc_ms" in x]
b6_runs = []
for c in callers:
    user = c.get("user")
    same = [x for x in b5kv if x.get("user") == user]
    t0 = int(c.get("t0_us", 0))
    last = max(int(x.get("last_close_us", 0)) for x in same)
    b6_runs.append({"user": user, "tunnels": sum(int(x.get("tunnels", 0)) for x in same),
                    "closed": sum(int(x.get("closed", 0)) for x in same),
                    "rpc_ms": float(c["rpc_ms"]), "server_ms": float(c.get("server_ms", -1)),
                    "closed_ms": (last - t0) / 1000.0 if last and t0 else None})
res["b6_disconnect_runs"] = len(b6_runs)
res["b6_tunnels_per_user"] = int(med([r["tunnels"] for r in b6_runs])) if b6_runs else None
res["b6_all_closed"] = all(r["closed"] == r["tunnels"] for r in b6_runs) if b6_runs else None
res["b6_disconnect_rpc_ms"] = rnd(med([r["rpc_ms"] for r in b6_runs]), 3)
res["b6_disconnect_closed_ms"] = rnd(med([r["closed_ms"] for r in b6_runs]), 3)
res["b6_disconnect_closed_ms_max"] = rnd(max([r["closed_ms"] for r in b6_runs if r["closed_ms"] is not None], default=None), 3)
res["b6_listed"] = next((r["n"] for r in runs if r["b"] == "b6_listed"), None)
def b6s(what):
    return med([r["load"]["per_s"] for r in runs if r["b"] == "b6_setups" and r["what"] == what and r["load"] and r["load"].get("ok")])
res["b6_setups_farm_on_per_s"] = rnd(b6s("farm_on"))
res["b6_setups_farm_off_per_s"] = rnd(b6s("farm_off"))
res["b6_setups_ratio"] = rnd(ratio(b6s("farm_on"), b6s("farm_off")), 3)
def b6b(n):
    return med([r["load"]["mbps"] for r in runs if r["b"] == "b6_bulk" and r["nodes"] == n and r["load"] and r["load"].get("mbps") and not r["load"].get("failed")])
res["b6_bulk_1node_mbps"] = rnd(b6b(1))
res["b6_bulk_2nodes_mbps"] = rnd(b6b(2))
res["b6_bulk_ratio"] = rnd(ratio(b6b(2), b6b(1)), 3)
res["data_check"] = "ok" if checks and not bad else "; ".join(bad) or "not run"
b7 = next((r["ad"] for r in runs if r["b"] == "b7" and r["ad"]), {})
res["b7_local_setups_per_s"] = b7.get("local_per_s")
res["b7_ad_setups_per_s"] = b7.get("ad_per_s")
res["b7_krb_setups_per_s"] = b7.get("krb_per_s")
res["b7_ad_setup_ms_p50"] = b7.get("ad_ms_p50")

def f(x, n=1, w=9):
    return ("%*.*f" % (w, n, x)) if x is not None else "%*s" % (w, "n/a")

p = print
p("")
p("tsgw benchmark (%s) on %d CPUs, load average at start %s, %s" % (
    "quick" if quick else "full", meta["cpus"], meta["loadavg_at_start"], cipher))
p("openssl speed -evp aes-128-gcm, 16 KiB blocks: %s MB/s (the cipher's ceiling, one core)" % f(speed, 1, 0))
p("")
p("B1 bulk throughput, MB/s (median of %d)     tsgwd  HAProxy  tsgwd/HAProxy  MB per server CPU-s: tsgwd  HAProxy%s" % (
    meta["reps"], "" if quick else "   legacy"))
for n, d, t, h, rt, tc, hc, lg, tn in rows:
    p("  %2d tunnel%s %-4s                      %s %s      %s                    %s %s%s%s" % (
        n, "s" if n > 1 else " ", d, f(t), f(h, 1, 8), f(rt, 3, 9), f(tc, 0, 6), f(hc, 0, 8),
        "" if quick else f(lg), "" if tn == meta["reps"] else "   (tsgwd: %d of %d runs ok)" % (tn, meta["reps"])))
p("  B1 summary (mean of up and down): ratio 1 tunnel %s, 16 tunnels %s; in MB per server CPU-s: %s, %s" % (
    f(res["b1_ratio_1"], 3, 0), f(res["b1_ratio_16"], 3, 0), f(res["b1_cpu_ratio_1"], 3, 0),
    f(res["b1_cpu_ratio_16"], 3, 0)))
p("")
p("B2 RSS per idle tunnel, KiB                 tsgwd  HAProxy (per TLS connection)")
p("  %5d                                   %s %s" % ($N_SMALL, f(b2t_s, 2), f(b2h_s, 2, 8)))
p("  %5s                                   %s %s" % (res["b2_tunnels_large"] or $N_BIG, f(b2t_b, 2), f(b2h_b, 2, 8)))
p("")
p("B3 setups per second (concurrency %d, median of %d)  tsgwd tunnel  HAProxy bare TLS  tsgwd bare TLS" % (
    meta["b3_concurrency"], meta["b3_reps"]))
p("                                            %s %s %s" % (f(s_ws, 1, 12), f(s_hap, 1, 17), f(s_gtls, 1, 15)))
p("    spread (min - max)                       %s %s" % (
    ("%.0f - %.0f" % (res["b3_tsgw_setups_per_s_min"], res["b3_tsgw_setups_per_s_max"])).rjust(12)
    if res["b3_tsgw_setups_per_s_min"] is not None else "n/a".rjust(12),
    ("%.0f - %.0f" % (res["b3_haproxy_tls_per_s_min"], res["b3_haproxy_tls_per_s_max"])).rjust(17)
    if res["b3_haproxy_tls_per_s_min"] is not None else "n/a".rjust(17)))
p("  ratio tunnel setups / HAProxy bare TLS: %s (each repetition's: %s to %s)   (/ tsgwd bare TLS: %s)" % (
    f(res["b3_ratio"], 3, 0), f(res["b3_ratio_min"], 3, 0), f(res["b3_ratio_max"], 3, 0),
    f(res["b3_ratio_vs_tsgwd_tls"], 3, 0)))
p("  server CPU: tsgwd %s ms per tunnel setup (%s - %s); per bare handshake HAProxy %s ms (%s - %s), tsgwd %s ms" % (
    f(c_ws, 3, 0), f(res["b3_tsgw_cpu_ms_per_setup_min"], 3, 0), f(res["b3_tsgw_cpu_ms_per_setup_max"], 3, 0),
    f(c_hap, 3, 0), f(res["b3_haproxy_cpu_ms_per_handshake_min"], 3, 0),
    f(res["b3_haproxy_cpu_ms_per_handshake_max"], 3, 0), f(c_gtls, 3, 0)))
p("  in server CPU: HAProxy per handshake / tsgwd per setup %s (each repetition's: %s to %s)" % (
    f(res["b3_cpu_ratio"], 3, 0), f(res["b3_cpu_ratio_min"], 3, 0), f(res["b3_cpu_ratio_max"], 3, 0)))
p("  HAProxy doing a setup's exchange count: TLS, then %d HTTP keep-alive rounds" % $B3_ROUNDS)
p("    %-56s %8s %7s %9s %9s" % ("", "per s", "CPU ms", "rate x", "CPU x"))
for key, label, s_x, c_x in (("rounds", "it answers all of them itself", s_hr, c_hr),
                             ("exchange", "the last forwarded over a new backend connection", s_hx, c_hx)):
    p("    %-56s %s %s %s %s" % (label, f(s_x, 1, 8), f(c_x, 3, 7),
        f(res["b3_ratio_vs_haproxy_%s" % key], 3, 9), f(res["b3_cpu_ratio_vs_haproxy_%s" % key], 3, 9)))
p("    x: the tsgwd tunnel setup against it, in rate (tsgwd's / HAProxy's) and in server CPU (HAProxy's / tsgwd's)")
p("  load average before each repetition: %s" % "; ".join(b3_loads))
p("")
p("B4 DisconnectUser, %s tunnels of one user among %s over %d users (median of %d)" % (
    res["b4_tunnels_per_user"], res["b2_tunnels_large"], $N_USERS, len(b4)))
p("  server time (daemon's ServerTimeUs)      %s ms" % f(res["b4_server_ms"], 3))
p("  admin socket round trip                  %s ms" % f(res["b4_rpc_ms"], 3))
p("  until all the user's sockets closed      %s ms" % f(res["b4_closed_ms"], 3))
p("  tsgwctl round trip (exec included)       %s ms; sockets closed %s ms after tsgwctl started" % (
    f(res["b4_tsgwctl_ms"], 3), f(res["b4_tsgwctl_closed_ms"], 3, 0)))
p("")
p("B5 floods (tsgwd with the default pre-auth limits)")
p("  one tunnel, MB/s (mean of up and down): alone %s, during %s full TLS handshakes/s from 100 addresses %s: ratio %s" % (
    f(b5a, 1, 0), f(res["b5_flood_handshakes_per_s"], 0, 0), f(b5f, 1, 0), f(res["b5_ratio"], 3, 0)))
p("  tunnel setup, ms (p50): unloaded %s, during 3,000 slow connections from 300 addresses %s (p99 %s)" % (
    f(res["b5_setup_ms_p50_unloaded"], 2, 0), f(res["b5_setup_ms_p50_slow_flood"], 2, 0),
    f(res["b5_setup_ms_p99_slow_flood"], 2, 0)))
p("  tsgwd RSS: %s KiB idle, %s KiB with the pre-auth table full (%s slow connections held)" % (
    res["b5_rss_kib_idle"], res["b5_rss_kib_preauth_full"], res["b5_preauth_held"]))
p("")
p("B6 farm: 3 nodes on one redis-server, %s tunnels listed farm-wide (node 2)" % res["b6_listed"])
p("  farm-wide DisconnectUser, %s tunnels of one user over 3 nodes (median of %d)" % (
    res["b6_tunnels_per_user"], res["b6_disconnect_runs"]))
p("    call on node 1 until every node answered   %s ms" % f(res["b6_disconnect_rpc_ms"], 3))
p("    until the last socket closed on any node   %s ms (max %s; all closed: %s)" % (
    f(res["b6_disconnect_closed_ms"], 3), f(res["b6_disconnect_closed_ms_max"], 3, 0), res["b6_all_closed"]))
p("  setups per second, farm registry on / off   %s / %s  ratio %s" % (
    f(res["b6_setups_farm_on_per_s"], 1, 0), f(res["b6_setups_farm_off_per_s"], 1, 0), f(res["b6_setups_ratio"], 3, 0)))
p("  16 tunnels down through HAProxy mode tcp: 1 node %s MB/s, 2 nodes %s MB/s, ratio %s (2 cores shared with the clients)" % (
    f(res["b6_bulk_1node_mbps"], 1, 0), f(res["b6_bulk_2nodes_mbps"], 1, 0), f(res["b6_bulk_ratio"], 3, 0)))
p("")
p("B7 Active Directory: setups per second, local store %s, domain account (NTLM through winbind) %s; AD setup p50 %s ms" % (
    f(res["b7_local_setups_per_s"], 1, 0), f(res["b7_ad_setups_per_s"], 1, 0), f(res["b7_ad_setup_ms_p50"], 2, 0)))
p("")
p("data check (8 MiB both ways, every byte compared): %s" % res["data_check"])
if crashes:
    p("")
    for c in crashes:
        p("  tsgwd CRASHED (exit status %s) during %s; it was restarted" % (c["status"], c["during"]))
p("")
p("targets: B1 ratio >= 1.0 at 16 tunnels; B2 <= 16 KiB at 10,000 (and below HAProxy); B3 >= 0.95 (median) and")
p("         CPU per setup <= 1.1 x HAProxy's per handshake; B4 < 1 ms server, < 10 ms closed; B5 ratio >= 0.5;")
p("         B6 farm-wide DisconnectUser < 100 ms closed, setups farm on/off >= 0.9")
doc = {"summary": res, "meta": meta, "runs": runs, "b4_lines": [l for l in b4lines if l]}
with open(out_path, "w") as fo:
    json.dump(doc, fo, indent=1)
p("results written to %s" % out_path)
print(json.dumps(res, separators=(",", ":")))
PY
