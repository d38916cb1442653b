# Shared helpers for the end-to-end tests: real xfreerdp, real freerdp-shadow-cli target,
# tsgwd, all on loopback. Every process started here is recorded and stopped by its PID.
# Output is TAP: "ok N - name" / "not ok N - name", then a plan line.
set -u

BUILD=${BUILD:-$(cd "$(dirname "$0")/../../build" 2>/dev/null && pwd)}
TSGWD=${TSGWD:-$BUILD/tsgwd}
TSGWCTL=${TSGWCTL:-$BUILD/tsgwctl}
WORK=$(mktemp -d /tmp/tsgw-e2e.XXXXXX)
PIDS=()
T_N=0
T_FAIL=0
unset https_proxy http_proxy HTTPS_PROXY HTTP_PROXY

log() { echo "# $*"; }

ok() { # ok NAME COMMAND...
    local name=$1; shift
    T_N=$((T_N + 1))
    if "$@"; then
        echo "ok $T_N - $name"
    else
        echo "not ok $T_N - $name"
        T_FAIL=$((T_FAIL + 1))
    fi
}

finish() {
    echo "1..$T_N"
    [ "$T_FAIL" -eq 0 ]
}

stop_pid() { # stop_pid PID: TERM, then KILL after 3 s
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 30); do
        kill -0 "$p" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    if [ -f "$WORK/xvfb.pids" ]; then
        while read -r p; do stop_pid "$p"; done <"$WORK/xvfb.pids"
    fi
    wait 2>/dev/null
    if [ "$T_FAIL" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
        log "logs kept in $WORK"
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "# ---- $f (last 40 lines)"
            tail -n 40 "$f" | sed 's/^/#   /'
        done
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

wait_for() { # wait_for SECONDS FILE PATTERN
    local t=$1 f=$2 pat=$3 i
    for i in $(seq 1 $((t * 10))); do
        grep -q -- "$pat" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_xvfb: prints the display (":N") of a new private Xvfb
start_xvfb() {
    local f i
    f=$(mktemp "$WORK/display.XXXX")
    Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$f" >/dev/null 2>&1 &
    # callers take the display from $(start_xvfb), a subshell: PIDS+= would be lost there, so
    # the PID goes to a file that cleanup reads
    echo $! >>"$WORK/xvfb.pids"
    for i in $(seq 1 50); do
        [ -s "$f" ] && break
        sleep 0.1
    done
    [ -s "$f" ] || return 1
    echo ":$(head -n1 "$f")"
}

# start_target PORT NAME: freerdp-shadow-cli on 127.0.0.1:PORT with its own Xvfb (3 tries);
# sets TARGET_DISPLAY
start_target() {
    local port=$1 name=$2 try d
    for try in 1 2 3; do
        d=$(start_xvfb) || continue
        TARGET_DISPLAY=$d
        DISPLAY=$d WLOG_LEVEL=INFO stdbuf -oL -eL freerdp-shadow-cli /bind-address:127.0.0.1 \
            /port:"$port" -auth /sec:tls >"$WORK/$name.log" 2>&1 &
        PIDS+=($!)
        if wait_for 10 "$WORK/$name.log" "Listening on"; then
            return 0
        fi
        stop_pid "${PIDS[-1]}"
    done
    return 1
}

# start_tsgwd CONF NAME: runs tsgwd in the foreground of a background job; sets GW_PID
start_tsgwd() {
    local conf=$1 name=$2
    $TSGWD_WRAPPER "$TSGWD" -v -c "$conf" >"$WORK/$name.log" 2>&1 &
    GW_PID=$!
    PIDS+=($GW_PID)
    wait_for 10 "$WORK/$name.log" "tsgwd ready"
}
TSGWD_WRAPPER=${TSGWD_WRAPPER:-}

# add_user FILE 'DOMAIN\user' PASSWORD [GROUPS] [FULLNAME]
add_user() {
    printf '%s\n' "$3" | "$TSGWCTL" user add --users-file "$1" --groups "${4:-}" \
        --full-name "${5:-}" "$2" >/dev/null
}

# make_cert DIR: self-signed RSA/SHA-256 certificate for CN=localhost
make_cert() {
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=localhost \
        -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# xfr NAME ARGS...: xfreerdp with a private display, a timeout, and a log in $WORK/NAME.log
XFR_DISPLAY=""
xfr() {
    local name=$1; shift
    [ -n "$XFR_DISPLAY" ] || XFR_DISPLAY=$(start_xvfb)
    DISPLAY=$XFR_DISPLAY timeout "${XFR_TIMEOUT:-40}" stdbuf -oL -eL xfreerdp "$@" \
        /cert:ignore /gateway-usage-method:direct /log-level:INFO \
        /log-filters:com.freerdp.core.gateway.rdg:DEBUG,com.freerdp.core.connection:DEBUG \
        >"$WORK/$name.log" 2>&1 </dev/null
}

# xfr_bg NAME ARGS...: same, in the background; sets XFR_PID
xfr_bg() {
    local name=$1; shift
    [ -n "$XFR_DISPLAY" ] || XFR_DISPLAY=$(start_xvfb)
    DISPLAY=$XFR_DISPLAY timeout "${XFR_TIMEOUT:-120}" stdbuf -oL -eL xfreerdp "$@" \
        /cert:ignore /gateway-usage-method:direct /log-level:INFO \
        /log-filters:com.freerdp.core.gateway.rdg:DEBUG,com.freerdp.core.connection:DEBUG \
        >"$WORK/$name.log" 2>&1 </dev/null &
    XFR_PID=$!
    PIDS+=($XFR_PID)
}

# animate DISPLAY: keeps the target's screen changing, so RDP traffic flows both ways
animate() {
    ( for i in $(seq 1 600); do
        DISPLAY=$1 xsetroot -solid "#$(printf '%02x%02x%02x' $((i * 37 % 256)) $((i * 91 % 256)) $((i * 13 % 256)))" 2>/dev/null
        sleep 0.2
      done ) &
    PIDS+=($!)
}

# json_eval FILE PYTHON-EXPR: evaluates EXPR with j = the parsed JSON of FILE; prints the result
json_eval() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

has() { grep -q -- "$2" "$WORK/$1.log"; }
hasnt() { ! grep -q -- "$2" "$WORK/$1.log"; }
count() { grep -c -- "$2" "$WORK/$1.log"; }
