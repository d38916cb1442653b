#!/usr/bin/env bash
# B7 (issue 11): complete tunnel setups per second with domain accounts (NTLM verified by a
# Samba AD DC through the member's winbindd; Kerberos through Negotiate with the member's keytab
# and the PAC through winbindd) next to the local store, on one tsgwd joined to the
# lab's domain (tests/support/adlab.sh). Runs tools/tsgw-load --setups inside the lab's network
# namespace against tsgwd and tools/tsgw-sink.
#
#   scripts/bench-ad.sh [--setups N] [--concurrency C] [--reps R]
#
# Env: BUILD (build dir with tsgwd, tsgwctl, tools; default build-bench), TSGW_ADLAB (a lab that
# is up; otherwise one is started and stopped here). Prints one line per run and ends with one
# JSON line: {"b":"b7", "local_per_s":..., "ad_per_s":..., "krb_per_s":..., ...}.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SETUPS=${SETUPS:-300} CONC=${CONC:-8} REPS=${REPS:-2}
while [ $# -gt 0 ]; do
    case "$1" in
    --setups) SETUPS=$2; shift ;;
    --concurrency) CONC=$2; shift ;;
    --reps) REPS=$2; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-ad: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
BUILD=${BUILD:-$ROOT/build-bench}
ADLAB=$ROOT/tests/support/adlab.sh
say() { echo "bench-ad: $*" >&2; }

if [ -z "${TSGW_IN_ADLAB:-}" ]; then
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" "$ROOT" -Dtests=false >/dev/null || { say "meson setup failed"; exit 1; }
    fi
    ninja -C "$BUILD" tsgwd tsgwctl tools/tsgw-load tools/tsgw-sink >/dev/null || { say "build failed"; exit 1; }
    own=""
    dir=${TSGW_ADLAB:-}
    if [ -z "$dir" ]; then
        dir=$(mktemp -d /tmp/tsgw-adlab.XXXXXX)
        own=1
        "$ADLAB" up "$dir" >/dev/null 2>"$dir/up.log" || { cat "$dir/up.log" >&2; "$ADLAB" down "$dir"; exit 1; }
    fi
    TSGW_IN_ADLAB=1 TSGW_ADLAB=$dir BUILD=$BUILD SETUPS=$SETUPS CONC=$CONC REPS=$REPS \
        "$ADLAB" exec "$dir" -- bash "$0"
    rc=$?
    if [ -n "$own" ]; then "$ADLAB" down "$dir" >/dev/null 2>&1; rm -rf "$dir"; fi
    exit $rc
fi

# ---- inside the lab ----
WORK=$(mktemp -d /tmp/tsgw-bench-ad.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
wait_for() { local i; for i in $(seq 1 $(($1 * 10))); do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
jget() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null; }

openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj /CN=rdgw.contoso.test \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
printf '%s\n' 'Lena-Local1' | "$BUILD/tsgwctl" user add --users-file "$WORK/users" --groups 'RDG Users' 'LOCAL\lena' >/dev/null
# alice's NT hash (the load generator computes the NTLMv2 response from it), via a scratch store
printf '%s\n' 'Alice-Passw0rd!' | "$BUILD/tsgwctl" user add --users-file "$WORK/scratch" 'CONTOSO\alice' >/dev/null
# alice's Kerberos tickets (lab KDC), for tsgw-load --negotiate
export KRB5_CONFIG=$TSGW_ADLAB/krb5.conf
echo 'Alice-Passw0rd!' | KRB5CCNAME=FILE:$WORK/alice.cc kinit alice >/dev/null ||
    { say "kinit alice failed"; exit 1; }
LENA_HASH=$(awk -F: '/^LOCAL\\lena:/{print $2}' "$WORK/users")
ALICE_HASH=$(awk -F: '/^CONTOSO\\alice:/{print $2}' "$WORK/scratch")
"$BUILD/tools/tsgw-sink" --listen 127.0.0.1:0 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
wait_for 5 "$WORK/sink.log" LISTENING || { say "tsgw-sink did not start"; exit 1; }
SPORT=$(grep -o 'LISTENING [^ ]*' "$WORK/sink.log" | grep -o '[0-9]*$')
GPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.20",0)); print(s.getsockname()[1]); s.close()')
cat >"$WORK/tsgw.conf" <<CONF
[gateway]
listen = 127.0.0.20:$GPORT
certificate = cert.pem
private-key = key.pem
[auth]
users-file = users
directory = winbind
keytab = $TSGW_ADLAB/member/krb5.keytab
service-principal = HTTP/rdgw.contoso.test
[limits]
auth-failures = 100000
[cap:Staff]
user-groups = CONTOSO\\RDG Users; RDG Users
[rap:Sink]
user-groups = *
resources = 127.0.0.1
ports = $SPORT
CONF
"$BUILD/tsgwd" -c "$WORK/tsgw.conf" >"$WORK/gw.log" 2>&1 &
GW=$!
PIDS+=($GW)
wait_for 10 "$WORK/gw.log" "tsgwd ready" || { say "tsgwd did not start"; tail "$WORK/gw.log" >&2; exit 1; }

run() { # run WHAT DOMAIN USER HASH (WHAT krb: Kerberos with alice's tickets)
    local r auth=(--domain "${2:-}" --user "${3:-}" --nthash "${4:-}")
    [ "$1" = krb ] && auth=(--negotiate --spn-host rdgw.contoso.test)
    r=$(KRB5CCNAME=FILE:$WORK/alice.cc "$BUILD/tools/tsgw-load" --gateway "127.0.0.20:$GPORT" \
        --target "127.0.0.1:$SPORT" "${auth[@]}" --mode ws --setups "$SETUPS" \
        --concurrency "$CONC" --timeout 300 | tail -n1)
    echo "{\"what\":\"$1\",\"load\":${r:-null}}" >>"$WORK/runs.jsonl"
    say "$1: $(jget "$r" per_s) setups/s, p50 $(jget "$r" latency_ms_p50) ms, p99 $(jget "$r" latency_ms_p99) ms, failed $(jget "$r" failed)"
}
for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then
        run local LOCAL lena "$LENA_HASH"; run ad CONTOSO alice "$ALICE_HASH"; run krb
    else
        run krb; run ad CONTOSO alice "$ALICE_HASH"; run local LOCAL lena "$LENA_HASH"
    fi
done
grep -c "authenticated as CONTOSO.alice (NTLM through winbind" "$WORK/gw.log" >"$WORK/ad_count"
grep -c "authenticated as CONTOSO.alice (Kerberos, .*PAC through winbind" "$WORK/gw.log" >"$WORK/krb_count"
python3 - "$WORK/runs.jsonl" "$SETUPS" "$CONC" "$(cat "$WORK/ad_count")" "$(cat "$WORK/krb_count")" <<'PY'
import json, sys, statistics
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(what, k):
    v = [r["load"][k] for r in runs if r["what"] == what and r["load"] and r["load"].get(k) is not None]
    return round(statistics.median(v), 2) if v else None
print(json.dumps({"b": "b7", "setups": int(sys.argv[2]), "concurrency": int(sys.argv[3]),
                  "local_per_s": med("local", "per_s"), "ad_per_s": med("ad", "per_s"),
                  "local_ms_p50": med("local", "latency_ms_p50"), "ad_ms_p50": med("ad", "latency_ms_p50"),
                  "local_ms_p99": med("local", "latency_ms_p99"), "ad_ms_p99": med("ad", "latency_ms_p99"),
                  "krb_per_s": med("krb", "per_s"), "krb_ms_p50": med("krb", "latency_ms_p50"),
                  "krb_ms_p99": med("krb", "latency_ms_p99"),
                  "ad_logons_through_winbind": int(sys.argv[4]),
                  "krb_logons_with_pac": int(sys.argv[5])}))
PY
