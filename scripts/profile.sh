#!/usr/bin/env bash
# Deterministic cost accounting of tsgwd (issue 16), for before/after comparisons on a busy
# machine where rates are noise. See docs/bench.md, "Profiles".
#
#   scripts/profile.sh cpu [N]        server CPU per complete tunnel setup (N setups, default
#                                     2000; tsgwd + key process utime+stime), and per bare TLS
#                                     handshake to the same daemon; HAProxy's per bare handshake
#                                     and per handshake + 6 HTTP rounds it answers itself, or
#                                     forwards the last over a new connection
#   scripts/profile.sh callgrind [N]  tsgwd (and key process) under valgrind --tool=callgrind:
#                                     instructions per setup (counters zeroed after start-up),
#                                     N setups (default 300), top functions (inclusive and self)
#   scripts/profile.sh perf [N]       perf record -e cpu-clock (sampling; hardware counters are not
#                                     needed) on tsgwd and the key process during N setups (default
#                                     3000): top symbols, user and kernel, and the split by DSO
#   scripts/profile.sh strace [N]     system calls per setup (strace -c on tsgwd, its threads and
#                                     the key process; N setups, default 300)
#   scripts/profile.sh mem [N]        N idle tunnels (default 2000): RSS per tunnel, and heap
#                                     bytes in use per tunnel from glibc's malloc_stats (gdb)
#   scripts/profile.sh massif [N]     N idle tunnels (default 300) under valgrind --tool=massif:
#                                     heap bytes per tunnel by allocation site
# Environment: BUILD (default build), TSGWD (daemon binary), KEEP_WORK=1, CONC (setups in
# flight, default 16). Only 127.0.0.1; every process started here is stopped by its PID.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-}
N=${2:-}
BUILD=${BUILD:-$ROOT/build}
TSGWD=${TSGWD:-$BUILD/tsgwd}
TSGWCTL=$BUILD/tsgwctl
LOAD=$BUILD/tools/tsgw-load
SINK=$BUILD/tools/tsgw-sink
CONC=${CONC:-16}
unset https_proxy http_proxy HTTPS_PROXY HTTP_PROXY
case $MODE in
cpu) N=${N:-2000} ;;
callgrind) N=${N:-300} ;;
strace) N=${N:-300} ;;
perf) N=${N:-3000} ;;
mem) N=${N:-2000} ;;
massif) N=${N:-300} ;;
*) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
say() { echo "profile: $*" >&2; }
die() { say "$*"; exit 1; }
for b in "$TSGWD" "$TSGWCTL" "$LOAD" "$SINK"; do [ -x "$b" ] || die "missing $b (ninja -C $BUILD)"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null

WORK=$(mktemp -d /tmp/tsgw-profile.XXXXXX)
PIDS=()
stop_pid() {
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 100); do
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
wait_for() { # SECONDS FILE PATTERN
    local i
    for i in $(seq 1 $(($1 * 10))); do
        grep -q -- "$3" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
cpu_ticks() {
    local p s=0 v
    for p in "$@"; do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + v))
    done
    echo "$s"
}
sys_ticks() { # the kernel's part (stime) of cpu_ticks
    local p s=0 v
    for p in "$@"; do
        v=$(awk '{print $15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + v))
    done
    echo "$s"
}
rss_kib() {
    local p s=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + v))
    done
    echo "$s"
}

openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
PASSWORD=Prof-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$PASSWORD" | "$TSGWCTL" user add --users-file "$WORK/users" --groups 'RDG Users' \
    'CONTOSO\alice' >/dev/null || die "tsgwctl user add failed"
NTHASH=$(awk -F: '/^CONTOSO\\alice:/{print $2}' "$WORK/users")
for i in $(seq 0 $((${USERS:-100} - 1))); do printf 'CONTOSO\\u%d:%s:RDG Users:\n' "$i" "$NTHASH"; done >>"$WORK/users"

"$SINK" --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
wait_for 5 "$WORK/sink.log" LISTENING || die "tsgw-sink did not start"
SPORT=$(awk '/^LISTENING/{print $2}' "$WORK/sink.log")
GPORT=$(free_port)
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

PREFIX=()
case $MODE in
callgrind)
    PREFIX=(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --vgdb=yes
        --separate-threads=no --dump-instr=no) ;;
massif)
    PREFIX=(valgrind --tool=massif --massif-out-file="$WORK/massif.%p" --vgdb=yes
        --depth=30 --threshold=0.5 --peak-inaccuracy=0 --detailed-freq=1000000) ;;
esac
"${PREFIX[@]}" "$TSGWD" -c "$WORK/tsgw.conf" >"$WORK/tsgwd.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_for 120 "$WORK/tsgwd.log" "tsgwd ready" || die "tsgwd did not start ($WORK/tsgwd.log)"
sleep 1
gw_pids() { echo "$GW_PID" $(pgrep -P "$GW_PID" 2>/dev/null); }
TSGW_ARGS=(--gateway "127.0.0.1:$GPORT" --target "127.0.0.1:$SPORT" --domain CONTOSO --nthash "$NTHASH")
# warm-up: first-time costs (NSS, OpenSSL's lazy initialisation) are not per-setup costs
"$LOAD" "${TSGW_ARGS[@]}" --user alice --mode ws --setups 20 --concurrency 4 --timeout 300 >/dev/null ||
    die "warm-up setups failed"
say "load average $(cut -d' ' -f1-3 /proc/loadavg)"

case $MODE in
cpu)
    run() { # run LABEL ARGS...
        local label=$1 c0 c1 s0 s1 r ok
        shift
        c0=$(cpu_ticks $(gw_pids))
        s0=$(sys_ticks $(gw_pids))
        r=$("$LOAD" "$@" --setups "$N" --concurrency "$CONC" --timeout 600 | tail -n1)
        c1=$(cpu_ticks $(gw_pids))
        s1=$(sys_ticks $(gw_pids))
        ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("ok",0))' "$r")
        python3 -c 'import sys
c0,c1,s0,s1,tck,ok=(int(x) for x in sys.argv[1:7])
ms=lambda t: t/tck*1000/max(ok,1)
print("%-22s %5d ok  %.3f ms server CPU each (user %.3f, kernel %.3f)  (%s)" % (sys.argv[7], ok, ms(c1-c0), ms(c1-c0-(s1-s0)), ms(s1-s0), sys.argv[8]))' \
            "$c0" "$c1" "$s0" "$s1" "$(getconf CLK_TCK)" "$ok" "$label" "$r"
    }
    run "tunnel setup (ws)" "${TSGW_ARGS[@]}" --user alice --mode ws
    run "bare TLS handshake" --mode tls-only --gateway "127.0.0.1:$GPORT"
    if command -v haproxy >/dev/null; then
        # the floor, as in scripts/bench.sh: HAProxy 2.6 terminating TLS with the same key
        HPORT=$(free_port)
        HRPORT=$(free_port)
        cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/combined.pem"
        printf 'global\n    maxconn 2000\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\nfrontend f\n    bind 127.0.0.1:%s ssl crt %s\n    default_backend b\nbackend b\n    server t 127.0.0.1:%s\n' \
            "$HPORT" "$WORK/combined.pem" "$SPORT" >"$WORK/haproxy.cfg"
        # with a setup's exchange count (scripts/bench.sh, B3): 6 HTTP keep-alive rounds that
        # HAProxy answers itself, or all but the last, forwarded over a new backend connection
        HXPORT=$(free_port)
        HOPORT=$(free_port)
        printf 'frontend r\n    mode http\n    timeout http-keep-alive 1h\n    bind 127.0.0.1:%s ssl crt %s\n    http-request return status 200 content-type text/plain string ok\n' \
            "$HRPORT" "$WORK/combined.pem" >>"$WORK/haproxy.cfg"
        printf 'frontend x\n    mode http\n    timeout http-keep-alive 1h\n    bind 127.0.0.1:%s ssl crt %s\n    http-request return status 200 content-type text/plain string ok unless { path /round/last }\n    default_backend o\nbackend o\n    mode http\n    http-reuse never\n    server o 127.0.0.1:%s\n' \
            "$HXPORT" "$WORK/combined.pem" "$HOPORT" >>"$WORK/haproxy.cfg"
        printf 'global\n    maxconn 2000\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\nfrontend o\n    bind 127.0.0.1:%s\n    http-request return status 200 content-type text/plain string origin\n' \
            "$HOPORT" >"$WORK/origin.cfg"
        haproxy -f "$WORK/origin.cfg" -db >"$WORK/origin.log" 2>&1 &
        PIDS+=($!)
        haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
        HAP_PID=$!
        PIDS+=("$HAP_PID")
        for i in $(seq 1 50); do
            ss -ltnH "( sport = :$HPORT )" 2>/dev/null | grep -q LISTEN && break
            sleep 0.1
        done
        gw_pids() { echo "$HAP_PID"; }
        "$LOAD" --mode tls-only --gateway "127.0.0.1:$HPORT" --setups 20 --concurrency 4 >/dev/null
        run "HAProxy TLS handshake" --mode tls-only --gateway "127.0.0.1:$HPORT"
        run "HAProxy TLS + 6 rounds" --mode tls-only --gateway "127.0.0.1:$HRPORT" --rounds 6
        run "HAProxy TLS + 6, 1 fwd" --mode tls-only --gateway "127.0.0.1:$HXPORT" --rounds 6
    fi
    ;;
perf)
    prec() { # prec NAME ARGS...: perf record during N operations; per-DSO microseconds each
        local name=$1 r
        shift
        perf record -e cpu-clock -F 20000 -o "$WORK/$name.data" -p "$(gw_pids | tr ' ' ',')" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 1
        r=$("$LOAD" "$@" --setups "$N" --concurrency "$CONC" --timeout 900 | tail -n1)
        say "$name: $r"
        kill -INT "$PERF_PID"
        wait "$PERF_PID" 2>/dev/null
        echo "-- $name: CPU by DSO, microseconds per operation (50 us per sample)"
        perf report -i "$WORK/$name.data" --stdio --sort dso -F overhead,sample,dso 2>/dev/null |
            awk -v n="$N" '!/^#/ && NF >= 3 {printf "  %-22s %7.1f us  (%s)\n", $3, $2 * 50 / n, $1}' | head -8
    }
    prec setup "${TSGW_ARGS[@]}" --user alice --mode ws
    prec handshake --mode tls-only --gateway "127.0.0.1:$GPORT"
    echo "-- kernel: top symbols, microseconds per operation (setup / bare handshake)"
    for name in setup handshake; do
        perf report -i "$WORK/$name.data" --stdio --dsos '[kernel.kallsyms]' --sort sym -F sample,sym 2>/dev/null |
            awk -v n="$N" '!/^#/ && NF >= 3 {s=$1; $1=""; $2=""; printf "%.1f\t%s\n", s * 50 / n, $0}' >"$WORK/$name.ksym"
    done
    python3 - "$WORK/setup.ksym" "$WORK/handshake.ksym" <<'PY'
import sys
def load(p):
    d = {}
    for l in open(p):
        v, k = l.rstrip("\n").split("\t", 1)
        d[k.strip()] = float(v)
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
for k in sorted(a, key=lambda k: -(a[k] - b.get(k, 0)))[:25]:
    print("  %6.1f %6.1f  %s" % (a[k], b.get(k, 0), k))
PY
    echo "-- setup: top symbols"
    perf report -i "$WORK/setup.data" --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' |
        grep -v 'libcrypto.so.3 *\[\.\] 0x' | head -40
    ;;
strace)
    ST=()
    for p in $(gw_pids); do ST+=(-p "$p"); done
    strace -c -f -o "$WORK/strace.out" "${ST[@]}" 2>/dev/null &
    ST_PID=$!
    sleep 1
    r=$("$LOAD" "${TSGW_ARGS[@]}" --user alice --mode ws --setups "$N" --concurrency "$CONC" --timeout 900 | tail -n1)
    say "setups: $r"
    kill -INT "$ST_PID"
    wait "$ST_PID" 2>/dev/null
    awk -v n="$N" 'NR<=2 || /^-/ {print; next} {c=$4; if ($5 ~ /^[0-9]+$/) e=$5; else e=0; printf "%s   (%.2f per setup)\n", $0, c/n}' "$WORK/strace.out"
    ;;
callgrind)
    for p in $(gw_pids); do callgrind_control -z "$p" >/dev/null 2>&1; done
    r=$("$LOAD" "${TSGW_ARGS[@]}" --user alice --mode ws --setups "$N" --concurrency "$CONC" --timeout 900 | tail -n1)
    say "setups: $r"
    for p in $(gw_pids); do callgrind_control -d "$p" >/dev/null 2>&1; done
    sleep 1
    r2=$("$LOAD" --mode tls-only --gateway "127.0.0.1:$GPORT" --setups "$N" --concurrency "$CONC" --timeout 900 | tail -n1)
    say "bare handshakes: $r2"
    for p in $(gw_pids); do callgrind_control -d "$p" >/dev/null 2>&1; done
    sleep 1
    for f in "$WORK"/cg.*.1 "$WORK"/cg.*.2; do
        [ -f "$f" ] || continue
        tot=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
        case $f in *.1) what="tunnel setup" ;; *.2) what="bare TLS handshake" ;; esac
        pid=${f#"$WORK"/cg.}
        pid=${pid%.*}
        echo "== pid $pid ($([ "$pid" = "$GW_PID" ] && echo tsgwd || echo key process)), $what: $tot Ir, $((tot / N)) per $what"
        if [ "$pid" = "$GW_PID" ]; then
            echo "-- self"
            callgrind_annotate "$f" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '3,27p'
            echo "-- inclusive"
            callgrind_annotate --inclusive=yes "$f" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '3,40p'
        fi
    done
    if [ -n "${CG_KEEP:-}" ]; then cp "$WORK"/cg.* "$CG_KEEP"/ 2>/dev/null; fi
    ;;
mem | massif)
    RSS0=$(rss_kib $(gw_pids))
    [ "$MODE" = massif ] && vgdb --pid="$GW_PID" detailed_snapshot "$WORK/snap0" >/dev/null 2>&1
    if [ "$MODE" = mem ]; then
        gdb -p "$GW_PID" -batch -ex 'call (void)malloc_trim(0)' -ex 'call (void)malloc_stats()' >/dev/null 2>&1
        sleep 0.5
        H0=$(grep 'in use bytes' "$WORK/tsgwd.log" | tail -n1 | awk '{print $NF}')
    fi
    "$LOAD" "${TSGW_ARGS[@]}" --users-prefix u --users "${USERS:-100}" --idle --tunnels "$N" --concurrency 32 \
        >"$WORK/idle.out" 2>"$WORK/idle.err" &
    IDLE=$!
    PIDS+=("$IDLE")
    wait_for 900 "$WORK/idle.out" "^READY" || die "no READY ($(tail -n3 "$WORK/idle.err"))"
    OPEN=$(awk '/^READY/{print $2}' "$WORK/idle.out")
    sleep 2
    RSS1=$(rss_kib $(gw_pids))
    echo "idle tunnels $OPEN: RSS $RSS0 -> $RSS1 KiB: $(python3 -c "print(round(($RSS1-$RSS0)/$OPEN,2))") KiB per tunnel (tsgwd + key process)"
    if [ "$MODE" = mem ]; then
        gdb -p "$GW_PID" -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
        sleep 0.5
        H1=$(grep 'in use bytes' "$WORK/tsgwd.log" | tail -n1 | awk '{print $NF}')
        echo "heap in use (malloc_stats): $H0 -> $H1 bytes: $(( (H1 - H0) / OPEN )) bytes per tunnel"
    else
        vgdb --pid="$GW_PID" detailed_snapshot "$WORK/snap" >/dev/null 2>&1
        sleep 1
        ms_print "$WORK/snap" >"$WORK/snap.txt" 2>/dev/null
        echo "massif snapshot with $OPEN idle tunnels ($WORK/snap.txt; KEEP_WORK=1 keeps it):"
        python3 - "$WORK/snap0" "$WORK/snap" "$OPEN" <<'PY'
import re, sys
def tree(path):
    """allocation sites: the heap tree flattened to 'caller chain' -> bytes, and the total"""
    total, sites, stack = 0, {}, []
    for l in open(path).read().split("\n"):
        m = re.match(r"mem_heap_B=(\d+)", l)
        if m:
            total = int(m.group(1))
        m = re.match(r"( *)n(\d+): (\d+) (.*)", l)
        if not m:
            continue
        depth = len(m.group(1))
        fn = re.sub(r"^0x[0-9A-F]+: ", "", m.group(4))
        fn = re.sub(r" \(in /.*\)$", "", fn)
        fn = re.sub(r" \(.*/src/", " (", fn)
        del stack[depth:]
        stack.append(fn)
        sites[" <- ".join(stack[1:])] = int(m.group(3))
    return total, sites
open_ = int(sys.argv[3])
t0, s0 = tree(sys.argv[1])
t1, s1 = tree(sys.argv[2])
print("  heap %d -> %d bytes: %.0f bytes per idle tunnel; by allocation site (bytes per tunnel):" % (t0, t1, (t1 - t0) / open_))
rows = []
for k, v in s1.items():
    d = (v - s0.get(k, 0)) / open_
    if k and d >= 64 and k.count(" <- ") <= 5:
        rows.append((k.count(" <- "), k, d))
for depth, k, d in sorted(rows, key=lambda r: r[1]):
    print("  %6.0f  %s%s" % (d, "  " * depth, k.split(" <- ")[-1][:120]))
PY
    fi
    stop_pid "$IDLE"
    ;;
esac
